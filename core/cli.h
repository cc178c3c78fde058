/*
 * cli.h — what every `nurture` subcommand shares: global options, the
 * loaded config, the opened store, help text and output helpers.
 */
#ifndef NU_CLI_H
#define NU_CLI_H

#include <stdio.h>
#include <jansson.h>
#include "config.h"
#include "store.h"

/* Exit statuses, documented in `nurture --help`. */
enum {
	NU_EXIT_OK = 0,
	NU_EXIT_FAIL = 1,      /* the command failed */
	NU_EXIT_USAGE = 2,     /* bad command line */
	NU_EXIT_PARTIAL = 3,   /* done, but some input rows were rejected */
};

typedef struct nu_cli {
	const char *config_path;   /* --config, $NURTURE_CONFIG, ./nurture.conf.lua */
	const char *db_override;   /* --db */
	const char *url;           /* --url, $NURTURE_URL: the daemon's API */
	int remote;                /* -1 unknown, 0 local, 1 through the API (cli_remote.c) */
	int json;                  /* --json */
	int quiet;                 /* -q */
	int config_loaded;
	int may_create;            /* init: create the database if missing */
	nu_config cfg;
	nu_store *store;
} nu_cli;

typedef struct nu_cli_command {
	const char *name;          /* "lead import" */
	const char *args;          /* "FILE" */
	const char *summary;       /* one line for the command list */
	const char *help;          /* the rest of `--help` */
	int (*run)(nu_cli *cli, int argc, char **argv);
} nu_cli_command;

/* Opens the flow engine on cli->store with the config's sending policy. */
struct nu_engine;
int nu_cli_engine(nu_cli *cli, struct nu_engine **out, nu_error *err);

/* Loads the config (if any) and opens the database, migrating it. */
int nu_cli_open(nu_cli *cli);
void nu_cli_close(nu_cli *cli);
/* Loads the config only (for commands that do not need the database). */
int nu_cli_load_config(nu_cli *cli);

/* Prints "nurture: <message>" to stderr and returns NU_EXIT_FAIL. */
int nu_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the usage line of `cmd` and returns NU_EXIT_USAGE. */
int nu_cli_usage(const nu_cli_command *cmd, const char *problem);
void nu_cli_help(const nu_cli_command *cmd, FILE *out);
/* 1 if argv holds -h or --help. */
int nu_cli_wants_help(int argc, char **argv);

/* Prints JSON (pretty) on stdout. Steals the reference. */
void nu_cli_print_json(json_t *v);
/* Text of a JSON string or "" for null. */
const char *nu_cli_str(json_t *obj, const char *key);

/* Commands that act on live data go through the daemon's HTTP API when
 * one answers (cli_remote.c). nu_cli_remote says whether this run does:
 * --url / $NURTURE_URL, or http.listen of the config when a daemon
 * answers there. */
int nu_cli_remote(nu_cli *cli);
/* One API call: returns the HTTP status (or < 0 after printing why it
 * failed to connect); *out gets the parsed JSON answer (NULL if none).
 * path is already escaped; body may be NULL. */
int nu_cli_api(nu_cli *cli, const char *method, const char *path, const char *content_type,
	       const char *body, size_t len, json_t **out);
/* The same for a call that takes as long as the work it asks for (clock
 * advance): at most timeout_ms instead of a minute. */
int nu_cli_api_wait(nu_cli *cli, const char *method, const char *path, const char *content_type,
		    const char *body, size_t len, long timeout_ms, json_t **out);
/* Prints the API's error answer ("nurture: <message>") and returns
 * NU_EXIT_FAIL. */
int nu_cli_api_fail(int status, json_t *answer);
/* A path segment escaped for a URL (caller frees). */
char *nu_cli_escape(const char *segment);

/* The command tables of each file. */
extern const nu_cli_command nu_cli_lead_commands[];
extern const nu_cli_command nu_cli_event_commands[];
extern const nu_cli_command nu_cli_admin_commands[];
extern const nu_cli_command nu_cli_flow_commands[];
extern const nu_cli_command nu_cli_run_commands[];

#endif
