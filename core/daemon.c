/*
 * daemon.c — the long-running process: one libevent loop, one thread.
 *
 * There is never one libevent event per wait: a single timer is armed for
 * the earliest due wait (the first row of the wait table), re-armed after
 * every pump. Writes made by other processes (the CLI importing events)
 * are noticed through SQLite's data_version, which changes only when
 * another connection commits, so the idle poll costs one cheap query.
 */
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include "checkpoint.h"
#include "daemon.h"
#include "flow_check.h"
#include "flows.h"
#include "httpd.h"
#include "log.h"

struct daemon {
	nu_engine *e;
	const nu_daemon_options *opt;
	struct event_base *base;
	struct event *timer, *poll, *sigterm, *sigint, *sighup;
	nu_httpd *httpd;
	nu_checkpointer *checkpoints;
	int64_t data_version;
	int64_t timer_due;         /* what the timer was armed for (0: a pump on demand) */
	int failed;
	nu_error err;
};

static int64_t data_version(nu_store *s)
{
	sqlite3_stmt *st = nu_store_stmt(s, "PRAGMA data_version", NULL);
	int64_t v = 0;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	return v;
}

static int idle(struct daemon *d)
{
	int64_t due;
	sqlite3_stmt *st;
	int pending = 0;

	if (nu_engine_next_due(d->e, &due, NULL) < 0 || due)
		return 0;
	/* Sends on their way, and events not yet read (a receipt a plugin just
	 * reported), are work too. */
	st = nu_store_stmt(nu_engine_store(d->e),
			   "SELECT (SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending'))"
			   " + ((SELECT coalesce(max(id), 0) FROM event) >"
			   "    (SELECT value FROM engine_cursor WHERE name = 'event'))", NULL);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		pending = sqlite3_column_int(st, 0);
	if (st)
		sqlite3_reset(st);
	return !pending;
}

/* Pumps, then arms the timer for the next due wait. */
/* The engine's share of one loop turn: past it the engine stops at the
 * next transaction boundary and lets waiting requests in, so a burst of
 * events (a big batch, a campaign's timers all due at 10:00) adds at
 * most this to anyone's answer time. */
#define TURN_BUDGET_US 5000

static void wake_soon(void *arg);

static void work(struct daemon *d)
{
	nu_store *s = nu_engine_store(d->e);
	int64_t due, now;
	int did;

	int more;
	/* An open commit group is left to its window: the pump hands its
	 * claimed sends over inside it and goes no further (the engine's turn
	 * comes when the group commits). */
	if (nu_engine_pump_for(d->e, d->opt->once ? 0 : TURN_BUDGET_US, &did, &more, &d->err) < 0) {
		/* A database error: log it and try again shortly rather than
		 * die; nothing was committed for the failed batch. */
		nu_err("engine: %s", d->err.msg);
		struct timeval retry = { 1, 0 };
		evtimer_add(d->timer, &retry);
		return;
	}
	d->data_version = data_version(s);
	if (did)
		nu_debug("engine: %d steps", did);
	if (more && !d->opt->once) {
		/* Let the requests that came meanwhile in, then go on. */
		wake_soon(d);
		return;
	}
	if (d->opt->once) {
		event_base_loopexit(d->base, NULL);
		return;
	}
	if (d->opt->exit_when_idle && idle(d)) {
		nu_info("nothing left to do; stopping");
		event_base_loopexit(d->base, NULL);
		return;
	}
	if (nu_engine_next_due(d->e, &due, &d->err) < 0 || !due) {
		evtimer_del(d->timer);
		return;
	}
	now = nu_store_now(s);
	d->timer_due = due;
	int64_t wait = due > now ? due - now : 0;
	/* Due now, but the pump left its turn to an open commit group: look
	 * again in a millisecond rather than spin until the group commits. */
	if (!wait && nu_store_group_open(s))
		wait = 1;
	/* Cap the sleep: the clock may jump (NTP, suspend); a minute's
	 * re-check is cheap. */
	if (wait > 60000)
		wait = 60000;
	struct timeval tv = { (time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000 };
	evtimer_add(d->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	if (d->timer_due) {
		int64_t lag = nu_store_now(nu_engine_store(d->e)) - d->timer_due;
		nu_httpd_note_timer_lag(d->httpd, lag > 0 ? lag : 0);
		d->timer_due = 0;
	}
	work(d);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	if (data_version(nu_engine_store(d->e)) != d->data_version)
		work(d);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	nu_info("%s: finishing the current step and stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	event_base_loopexit(d->base, NULL);
}

static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	nu_error err;
	int n = 0;

	(void)sig;
	(void)what;
	if (d->opt->flows_dir && nu_daemon_deploy_dir(nu_engine_store(d->e), d->opt->flows_dir,
						      d->opt->plugins, &n, &err) < 0)
		nu_err("SIGHUP: flows not deployed: %s", err.msg);
	if (nu_engine_reload(d->e, &err) < 0)
		nu_err("SIGHUP: reload failed: %s", err.msg);
	else
		nu_info("SIGHUP: flows reloaded");
	work(d);
}

static int is_flow_file(const char *name)
{
	size_t n = strlen(name);
	return n > 4 && !strcmp(name + n - 4, ".lua") &&
	       !(n > 9 && !strcmp(name + n - 9, "_test.lua"));
}

int nu_daemon_deploy_dir(nu_store *s, const char *dir, nu_plugins *plugins, int *n, nu_error *err)
{
	struct dirent **list;
	int count = scandir(dir, &list, NULL, alphasort), rc = NU_OK;

	*n = 0;
	if (count < 0)
		return nu_error_set(err, NU_ENOTFOUND, "cannot read flows folder '%s'", dir);
	for (int i = 0; i < count; i++) {
		char path[1024];
		nu_flow f;
		int created;
		if (rc == NU_OK && is_flow_file(list[i]->d_name)) {
			snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
			if ((rc = nu_flow_load_file(path, NULL, &f, err)) == NU_OK &&
			    (rc = nu_flow_check_sends(plugins, &f, NULL, NULL, NULL, err)) == NU_OK &&
			    (rc = nu_store_begin(s, err)) == NU_OK) {
				rc = nu_flow_deploy(s, &f, &created, err);
				if (rc == NU_OK && (rc = nu_store_commit(s, err)) == NU_OK) {
					(*n)++;
					if (created)
						nu_info("deployed %s version %.12s", f.name, f.sha);
				} else {
					nu_store_rollback(s);
				}
			}
			nu_flow_clear(&f);
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

static void release(struct daemon *d)
{
	struct event *evs[] = { d->timer, d->poll, d->sigterm, d->sigint, d->sighup };
	for (size_t i = 0; i < sizeof evs / sizeof *evs; i++)
		if (evs[i])
			event_free(evs[i]);
	if (d->base && !d->opt->base)
		event_base_free(d->base);
}

/* The engine asks for a pump (an asynchronous send completed). */
static void wake_soon(void *arg)
{
	struct daemon *d = arg;
	struct timeval now = { 0, 0 };

	d->timer_due = 0;
	evtimer_add(d->timer, &now);
}

static int start_http(struct daemon *d, nu_error *err)
{
	nu_httpd_options ho = {
		.cfg = d->opt->http, .engine = d->e, .plugins = d->opt->plugins,
		.lib_dir = d->opt->lib_dir, .wake = wake_soon, .wake_ud = d,
		.checkpoints = d->checkpoints,
	};

	const nu_http_config *c = d->opt->http;
	char derived[sizeof c->public_url], actual[sizeof c->public_url];

	if (!c)
		return NU_OK;
	if (nu_httpd_start(d->base, &ho, &d->httpd, err) < 0)
		return NU_ERR;
	/* listen on port 0 picks a port: links must name the one bound. */
	snprintf(derived, sizeof derived, "http://%s", c->listen);
	const char *colon = strrchr(c->listen, ':');
	if (d->opt->plugins && colon && !strcmp(colon, ":0") && !strcmp(c->public_url, derived)) {
		snprintf(actual, sizeof actual, "http://%.*s:%d", (int)(colon - c->listen), c->listen,
			 nu_httpd_port(d->httpd));
		nu_plugins_set_tracking(d->opt->plugins, actual, c->tracking_key);
	}
	return NU_OK;
}

/* WAL checkpoints off the loop (checkpoint.h). Without the thread SQLite
 * goes on checkpointing inside commits: slower tails, nothing lost. */
static void start_checkpoints(struct daemon *d)
{
	nu_store *s = nu_engine_store(d->e);
	const char *path = nu_store_path(s);
	nu_error err;

	if (!path || !*path || !strcmp(path, ":memory:"))
		return;
	if (nu_checkpointer_start(s, &d->checkpoints, &err) < 0)
		nu_log(NU_LOG_WARN, NULL, "checkpoints stay inside commits: %s", err.msg);
}

/* The loop, with epoll's change list: an event switched off and on again
 * within one loop turn (curl's sockets between transfers, an HTTP
 * connection paused for a pipelined request) costs no epoll_ctl call.
 * Measured when evhttp still served the API, which switched reading off
 * and on for every request: 84 -> 78 us of daemon CPU per sign-up
 * (bench_http part 3, saturated). Safe here: no descriptor is dup()ed. */
struct event_base *nu_daemon_new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (!cfg)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base ? base : event_base_new();
}

int nu_daemon_run(nu_engine *e, const nu_daemon_options *opt, nu_error *err)
{
	struct daemon d = { .e = e, .opt = opt };
	int poll_ms = opt->poll_ms > 0 ? opt->poll_ms : 100;
	struct timeval poll = { poll_ms / 1000, (poll_ms % 1000) * 1000 };

	if (!(d.base = opt->base ? opt->base : nu_daemon_new_base()))
		return nu_error_set(err, NU_ERR, "cannot create the event loop");
	d.timer = evtimer_new(d.base, on_timer, &d);
	d.poll = event_new(d.base, -1, EV_PERSIST, on_poll, &d);
	d.sigterm = evsignal_new(d.base, SIGTERM, on_stop, &d);
	d.sigint = evsignal_new(d.base, SIGINT, on_stop, &d);
	d.sighup = evsignal_new(d.base, SIGHUP, on_reload, &d);
	if (!d.timer || !d.poll || !d.sigterm || !d.sigint || !d.sighup) {
		release(&d);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	start_checkpoints(&d);
	if (start_http(&d, err) < 0) {
		nu_checkpointer_stop(d.checkpoints);
		release(&d);
		return NU_ERR;
	}
	nu_engine_set_wakeup(e, wake_soon, &d);
	event_add(d.poll, &poll);
	event_add(d.sigterm, NULL);
	event_add(d.sigint, NULL);
	event_add(d.sighup, NULL);
	work(&d);
	event_base_dispatch(d.base);
	nu_engine_set_wakeup(e, NULL, NULL);
	nu_httpd_stop(d.httpd);    /* before the plugins its webhooks call go away */
	nu_checkpointer_stop(d.checkpoints);
	release(&d);
	return NU_OK;
}
