/*
 * httpd.h — the daemon's HTTP API, served by http_server.c on the daemon's
 * event loop.
 *
 * Everything outside the daemon talks to it here: the website and forms
 * post events, providers call back on /hooks, links in messages land on
 * /t/ and /u/, admins and the CLI manage it over /v1 (docs/api.md).
 * Requests run on the loop thread against the daemon's own store
 * connection, so a handler's transaction never waits for another writer
 * in this process; each answer that acknowledges data goes out only
 * after its transaction committed.
 */
#ifndef NU_HTTPD_H
#define NU_HTTPD_H

#include "config.h"
#include "engine.h"
#include "plugins.h"

struct event_base;
typedef struct nu_httpd nu_httpd;

typedef struct nu_httpd_options {
	const nu_http_config *cfg;     /* borrowed for the server's life */
	nu_engine  *engine;
	nu_plugins *plugins;           /* webhooks; may be NULL */
	const char *lib_dir;           /* flows/lib for deploys over the API; may be NULL */
	/* Asks the daemon for a pump (new events or enrolments to act on). */
	void (*wake)(void *ud);
	void *wake_ud;
	/* The daemon's WAL checkpoints, for /metrics; may be NULL. */
	const struct nu_checkpointer *checkpoints;
} nu_httpd_options;

/* Binds cfg->listen and starts serving on base. */
int  nu_httpd_start(struct event_base *base, const nu_httpd_options *o, nu_httpd **out,
		    nu_error *err);
void nu_httpd_stop(nu_httpd *h);
/* The port actually bound (listen "127.0.0.1:0" picks a free one). */
int  nu_httpd_port(const nu_httpd *h);

/* Daemon figures for /metrics: how late the last wait timer fired. */
void nu_httpd_note_timer_lag(nu_httpd *h, int64_t lag_ms);

#endif
