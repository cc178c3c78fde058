/*
 * daemon.h — `nurture serve`: the engine on a libevent loop.
 */
#ifndef NU_DAEMON_H
#define NU_DAEMON_H

#include "config.h"
#include "engine.h"
#include "plugins.h"

typedef struct nu_daemon_options {
	const char *flows_dir;     /* deploy *.lua from here at start and on SIGHUP; may be NULL */
	int poll_ms;               /* how often to look for writes by other processes (100) */
	int exit_when_idle;        /* stop when no run waits and nothing is queued (tests, demo) */
	int once;                  /* do what is due now, then stop */
	struct event_base *base;   /* the loop to run on (shared with the HTTP client); NULL: own */
	const nu_http_config *http;/* serve the HTTP API (httpd.h); NULL: no server */
	nu_plugins *plugins;       /* their webhooks, for the HTTP API; may be NULL */
	const char *lib_dir;       /* flows/lib, for deploys over the API; may be NULL */
} nu_daemon_options;

/* A libevent loop set up for the daemon (epoll's change list: see
 * daemon.c); falls back to a default loop. */
struct event_base *nu_daemon_new_base(void);

/* Runs until SIGTERM or SIGINT (or idle, with exit_when_idle). */
int nu_daemon_run(nu_engine *e, const nu_daemon_options *opt, nu_error *err);

/* Deploys every flow file (not *_test.lua) in dir, each checked against
 * the channel plugins (flow_check.h; plugins may be NULL). Returns the
 * number deployed or unchanged in *n; the first bad file stops it. */
int nu_daemon_deploy_dir(nu_store *s, const char *dir, nu_plugins *plugins, int *n, nu_error *err);

#endif
