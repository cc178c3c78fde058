/*
 * api_group.c — group commit for the HTTP API (api.h): requests whose
 * only promise is "stored durably before the 202" (event ingest) share
 * one transaction instead of one each.
 *
 * Why: SQLite's cost is per commit (the WAL append and its bookkeeping),
 * not per row, and a site's forms post one event at a time. The first
 * such request opens the transaction, the ones arriving within
 * http.commit_window_us join it, each answer is held back, and a timer
 * commits the lot; only then do the 202s go out. It commits at once when
 * every open connection waits on it (nothing more can come) or at 256
 * members. Before the commit the engine joins the transaction
 * (nu_engine_pump_joined): the runs the events start and their first
 * sends commit with them. If the commit fails, every held request gets a
 * 503 and nothing of any of them is kept: acknowledged means durable.
 *
 * Any other writer (another route, the engine, a plugin callback) ends an
 * open group first through the store's flush hook, so it never mixes with
 * their transactions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include "api.h"
#include "log.h"

/* Past this many held answers the group commits at once: a bound on how
 * long the first request of a big burst waits for its answer. */
#define GROUP_MAX_MEMBERS 256

/* The engine's share of a group's commit (engine_joins): what does not
 * fit is left to the daemon's pump, right after the answers. */
#define GROUP_ENGINE_BUDGET_US 2000

typedef struct held_answer {
	nu_http_req *req;
	int status;
	char *body;                    /* JSON text */
	nu_api_ingest_counts counts;
} held_answer;

struct nu_api_group {
	nu_httpd *h;
	struct event *flush_ev;
	struct timeval window;         /* http.commit_window_us */
	held_answer *held;
	size_t n, cap;
};

static void flush_now(nu_api_group *g);

static void on_flush_event(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	flush_now(arg);
}

static void on_store_flush(void *arg)
{
	flush_now(arg);
}

nu_api_group *nu_api_group_new(nu_httpd *h)
{
	nu_api_group *g = calloc(1, sizeof *g);

	if (!g)
		return NULL;
	g->h = h;
	g->window.tv_sec = h->opt.cfg->commit_window_us / 1000000;
	g->window.tv_usec = h->opt.cfg->commit_window_us % 1000000;
	if (!(g->flush_ev = event_new(h->base, -1, 0, on_flush_event, g))) {
		free(g);
		return NULL;
	}
	nu_store_on_group_flush(nu_engine_store(h->opt.engine), on_store_flush, g);
	return g;
}

void nu_api_group_free(nu_api_group *g)
{
	if (!g)
		return;
	flush_now(g);
	nu_store_on_group_flush(nu_engine_store(g->h->opt.engine), NULL, NULL);
	event_free(g->flush_ev);
	free(g->held);
	free(g);
}

int nu_api_group_join(nu_api_req *r, nu_error *err)
{
	/* Whatever the request turns out to hold, the group ends this turn:
	 * the write lock is never held past it. */
	nu_api_group *g = r->h->group;
	if (!event_pending(g->flush_ev, EV_TIMEOUT, NULL))
		event_add(g->flush_ev, &g->window);
	return nu_store_group_join(r->s, err);
}

/* Adds what the committed requests stored to the server's counters. */
static void count_ingest(nu_httpd *h, const nu_api_ingest_counts *c)
{
	h->n.events_accepted += c->accepted;
	h->n.events_duplicate += c->duplicates;
	h->n.events_rejected += c->rejected;
}

/* {"error": {"code": "unavailable", "message": "nothing was stored: …"}} */
static char *unavailable_body(const nu_error *err)
{
	char msg[sizeof err->msg + 32];
	json_t *o;
	char *text;

	snprintf(msg, sizeof msg, "nothing was stored: %s", err->msg);
	o = nu_api_error_body("unavailable", NULL, msg);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(o);
	return text;
}

/* A JSON answer; text NULL (out of memory) sends "{}". */
static void reply_json(nu_httpd *h, nu_http_req *req, int status, const char *text)
{
	nu_api_reply(h, req, status, "application/json", text ? text : "{}", text ? strlen(text) : 2);
}

/* engine_did: the engine did work inside the group, perhaps claimed sends
 * that its pump must now hand over. */
static void answer_held(nu_api_group *g, int committed, int engine_did, const nu_error *err)
{
	char *failed = committed ? NULL : unavailable_body(err);
	size_t accepted = 0;

	for (size_t i = 0; i < g->n; i++) {
		held_answer *a = &g->held[i];
		if (committed) {
			count_ingest(g->h, &a->counts);
			accepted += a->counts.accepted;
			reply_json(g->h, a->req, a->status, a->body);
		} else {
			reply_json(g->h, a->req, 503, failed);
		}
		free(a->body);
	}
	free(failed);
	g->n = 0;
	if ((accepted || engine_did) && g->h->opt.wake)
		g->h->opt.wake(g->h->opt.wake_ud);
}

/* The engine's first look at the group's events happens inside the group:
 * the runs they start, and their first sends, commit with them. A failure
 * there is the engine's alone: the events are kept, and the daemon's pump
 * tries again. */
static int engine_joins(nu_api_group *g)
{
	nu_error err;
	int did;

	if (nu_engine_pump_joined(g->h->opt.engine, GROUP_ENGINE_BUDGET_US, &did, &err) < 0)
		nu_err("engine: %s", err.msg);
	return did;
}

/* Commits an open group and answers its members; 1 when what they hold
 * is durable (or nothing was open), 0 with err when the commit failed. */
static int commit_and_answer(nu_api_group *g, nu_error *err)
{
	nu_store *s = nu_engine_store(g->h->opt.engine);
	int committed = 1, engine_did = 0;

	if (nu_store_group_open(s)) {
		if (g->n)
			engine_did = engine_joins(g);
		if (!(committed = nu_store_group_commit(s, err) == NU_OK)) {
			nu_engine_joined_rolled_back(g->h->opt.engine);
			nu_err("http: a commit group of %zu requests failed: %s", g->n, err->msg);
		}
	}
	if (committed && g->n) {
		g->h->n.commit_groups++;
		g->h->n.group_requests += g->n;
	}
	answer_held(g, committed, committed && engine_did, err);
	return committed;
}

static void flush_now(nu_api_group *g)
{
	nu_error err = { 0 };

	event_del(g->flush_ev);   /* a flush before the window ends */
	commit_and_answer(g, &err);
}

void nu_api_group_flush(nu_httpd *h)
{
	if (h->group && (h->group->n || nu_store_group_open(nu_engine_store(h->opt.engine))))
		flush_now(h->group);
}

void nu_api_group_abort(nu_api_req *r, const nu_error *err)
{
	nu_api_group *g = r->h->group;

	nu_store_group_rollback(r->s);
	if (g->n)
		nu_err("http: a commit group of %zu requests was rolled back: %s", g->n, err->msg);
	answer_held(g, 0, 0, err);
}

static int hold(nu_api_group *g, const held_answer *a)
{
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 32;
		held_answer *more = realloc(g->held, cap * sizeof *more);
		if (!more)
			return -1;
		g->held = more;
		g->cap = cap;
	}
	g->held[g->n++] = *a;
	return 0;
}

void nu_api_group_answer(nu_api_req *r, int status, char *text, const nu_api_ingest_counts *counts)
{
	nu_api_group *g = r->h->group;
	held_answer a = { r->req, status, text, *counts };

	r->answered = 1;
	if (!a.body || hold(g, &a) < 0) {
		/* No memory to wait: commit what there is, then answer this one
		 * as its commit went. */
		nu_error err = { 0 };
		if (!commit_and_answer(g, &err)) {
			char *failed = unavailable_body(&err);
			reply_json(g->h, r->req, 503, failed);
			free(failed);
		} else {
			count_ingest(g->h, counts);
			reply_json(g->h, r->req, a.body ? status : 500, a.body);
		}
		free(a.body);
		return;
	}
	/* Every open connection waits on this group: nothing more can come
	 * to join it, so waiting out the window would only idle the loop. */
	if (g->n >= GROUP_MAX_MEMBERS || g->n >= (size_t)nu_http_server_connections(g->h->server))
		flush_now(g);
}
