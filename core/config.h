/*
 * config.h — the configuration file, nurture.conf.lua.
 *
 * The file is a Lua chunk that returns a table. It runs in a sandbox with a
 * small memory and instruction budget and may call env("NAME") to read an
 * environment variable (for secrets). Every key is checked: an unknown key
 * or a value of the wrong type is an error naming the key, so a typo never
 * silently falls back to a default.
 */
#ifndef NU_CONFIG_H
#define NU_CONFIG_H

#include <stddef.h>
#include <jansson.h>
#include "engine.h"
#include "stages.h"
#include "tags.h"

/* API bearer tokens and what each may do. admin implies read and ingest. */
enum { NU_SCOPE_INGEST = 1, NU_SCOPE_READ = 2, NU_SCOPE_ADMIN = 4 };
#define NU_API_TOKENS_MAX 16
#define NU_API_TOKEN_MIN  16      /* shorter secrets are refused */

typedef struct nu_api_token {
	char     name[64];
	char     secret[256];
	unsigned scopes;
} nu_api_token;

/* http = { … }: the daemon's HTTP API. listen "" means no HTTP server. */
typedef struct nu_http_config {
	char     listen[128];          /* "127.0.0.1:7780" */
	char     public_url[256];      /* base of tracking links; default http://<listen> */
	char     tracking_key[256];    /* signs /t/ and /u/ tokens; "" = no tracking */
	nu_api_token tokens[NU_API_TOKENS_MAX];
	size_t   ntokens;
	int64_t  max_body;             /* bytes (default 10 MiB) */
	int64_t  max_header;           /* bytes (default 16 KiB) */
	int      max_connections;      /* default 1024 */
	int      timeout_s;            /* request read/write timeout (default 30) */
	int      commit_window_us;     /* ingest commits wait this long for company (default 1000) */
} nu_http_config;

typedef struct nu_config {
	char   *path;                  /* the file read, or NULL for defaults */
	char   *database;              /* resolved against the file's folder */
	char    synchronous[16];       /* NORMAL, FULL, OFF */
	int     busy_timeout_ms;
	char    phone_default_cc[8];   /* digits, no '+' */
	int     log_level;             /* enum nu_log_level */
	int     stages_configured;     /* 0: the built-in funnel */
	nu_stage_model stages;
	nu_tag_def *tags;
	size_t  ntags;
	nu_send_policy policy;         /* policies = { … }; zeros = defaults/off */
	char   *plugin_dir;            /* plugins.dir, resolved; NULL = none */
	json_t *plugin_config;         /* {plugin: {key: "value"}}, never NULL once loaded */
	nu_http_config http;
} nu_config;

void nu_config_defaults(nu_config *c);
/* Loads and checks `path`; on error nothing in *c is usable but
 * nu_config_free is still safe. */
int  nu_config_load(nu_config *c, const char *path, nu_error *err);
void nu_config_free(nu_config *c);

/* The commented sample that `nurture init` writes. */
extern const char nu_config_sample[];

#endif
