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
} nu_config;

void nu_config_defaults(nu_config *c);
/* Loads and checks `path`; on error nothing in *c is usable but
 * nu_config_free is still safe. */
int  nu_config_load(nu_config *c, const char *path, nu_error *err);
void nu_config_free(nu_config *c);

/* The commented sample that `nurture init` writes. */
extern const char nu_config_sample[];

#endif
