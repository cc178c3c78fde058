/*
 * engine.c — the flow engine's coordinator: deployed flows, enrolment
 * (reentry, exclusion groups, goals), waking runs (timers, events, send
 * completions all go through the wait table), and the pump that reads the
 * event, tag and stage logs exactly once through stored cursors.
 *
 * The wait table doubles as the ready queue: anything that makes a run
 * runnable — a timer, a delivered event, a finished send, a new
 * enrolment — inserts a wait row due now, in the same transaction as the
 * cause. So a crash can never lose a wake-up, and there is one code path
 * that steps runs.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine_private.h"
#include "events.h"
#include "leads.h"
#include "log.h"
#include "stages.h"
#include "tags.h"
#include "timefmt.h"

#define BATCH 500

/* ---- the built-in test channel ----------------------------------------- */

/* Records nothing itself (the outbox row is the record) and succeeds at
 * once: used by flow tests and the demo until real channel plugins load. */
static int test_send(void *state, int64_t op_id, int64_t lead_id, const json_t *message,
		     nu_engine *eng)
{
	char provider_id[32];
	nu_error err;

	(void)state;
	(void)lead_id;
	(void)message;
	snprintf(provider_id, sizeof provider_id, "test-%lld", (long long)op_id);
	return nu_engine_send_complete(eng, op_id, "sent", provider_id, NULL, &err);
}

static const nu_channel test_channels[] = {
	{ "test", test_send, NULL, 0, NULL }, { "email", test_send, NULL, 0, NULL },
	{ "wechat", test_send, NULL, 0, NULL }, { "wecom", test_send, NULL, 0, NULL },
	{ "sms", test_send, NULL, 0, NULL },
};

/* ---- setup -------------------------------------------------------------- */

static void on_tx_end(void *ud, int committed)
{
	nu_run_tx_end(ud, committed);
}

int nu_engine_open(nu_store *s, nu_engine **out, nu_error *err)
{
	nu_engine *e = calloc(1, sizeof *e);
	int rc;

	*out = NULL;
	if (!e)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	e->s = s;
	nu_store_on_tx_end(s, on_tx_end, e);
	nu_engine_set_policy(e, NULL);
	for (size_t i = 0; i < sizeof test_channels / sizeof *test_channels; i++)
		nu_engine_add_channel(e, &test_channels[i], NULL);
	if ((rc = nu_engine_reload(e, err)) == NU_OK) {
		*out = e;
		return NU_OK;
	}
	nu_engine_close(e);
	return rc;
}

int nu_engine_recover(nu_engine *e, nu_error *err)
{
	return nu_outbox_recover(e, err);
}

void nu_engine_close(nu_engine *e)
{
	if (!e)
		return;
	nu_store_on_tx_end(e->s, NULL, NULL);
	nu_run_close_lua(e);
	nu_run_free_kept(e);
	free(e->woken);
	for (size_t i = 0; i < e->nflows; i++)
		nu_flow_clear(&e->flows[i].flow);
	free(e->flows);
	for (size_t i = 0; i < e->ncache; i++)
		nu_flow_clear(&e->cache[i]);
	free(e);
}

nu_store *nu_engine_store(nu_engine *e) { return e->s; }

void nu_engine_set_wakeup(nu_engine *e, void (*fn)(void *ud), void *ud)
{
	e->wakeup = fn;
	e->wakeup_ud = ud;
}

void nu_engine_set_dispatch(nu_engine *e, int on)
{
	e->no_dispatch = !on;
}

void nu_engine_set_policy(nu_engine *e, const nu_send_policy *p)
{
	static const nu_send_policy defaults = {
		.retry_max_attempts = 6, .retry_base_ms = 30000, .retry_max_ms = 6 * 3600000LL,
	};
	e->policy = p ? *p : defaults;
	if (e->policy.retry_max_attempts <= 0)
		e->policy.retry_max_attempts = defaults.retry_max_attempts;
	if (e->policy.retry_base_ms <= 0)
		e->policy.retry_base_ms = defaults.retry_base_ms;
	if (e->policy.retry_max_ms <= 0)
		e->policy.retry_max_ms = defaults.retry_max_ms;
}

int nu_engine_add_channel(nu_engine *e, const nu_channel *ch, nu_error *err)
{
	for (size_t i = 0; i < e->nchannels; i++)
		if (!strcmp(e->channels[i]->name, ch->name)) {
			e->channels[i] = ch;   /* a plugin replaces the built-in stand-in */
			return NU_OK;
		}
	if (e->nchannels == NU_MAX_CHANNELS)
		return nu_error_set(err, NU_ERR, "too many channels");
	e->channels[e->nchannels++] = ch;
	return NU_OK;
}

int nu_engine_channel_room(nu_engine *e, const char *name)
{
	int room = NU_MAX_CHANNELS - (int)e->nchannels;
	return nu_engine_channel(e, name) ? room + 1 : room;
}

const nu_channel *nu_engine_channel(nu_engine *e, const char *name)
{
	for (size_t i = 0; name && i < e->nchannels; i++)
		if (!strcmp(e->channels[i]->name, name))
			return e->channels[i];
	return NULL;
}

/* Reads the flow table first, then loads each version: loading uses
 * other statements, which must not run while this scan is open. */
static int deployed_shas(nu_engine *e, char (**shas)[NU_SHA_HEX], int **paused, size_t *n,
			 nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s, "SELECT sha, status FROM flow ORDER BY name", err);
	size_t cap = 0;
	int rc;

	*shas = NULL;
	*paused = NULL;
	*n = 0;
	if (!st)
		return NU_EDB;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			void *a = realloc(*shas, cap * sizeof **shas), *b = realloc(*paused, cap * sizeof **paused);
			if (a)
				*shas = a;
			if (b)
				*paused = b;
			if (!a || !b) {
				sqlite3_reset(st);
				return nu_error_set(err, NU_ENOMEM, "out of memory");
			}
		}
		snprintf((*shas)[*n], NU_SHA_HEX, "%s", sqlite3_column_text(st, 0));
		(*paused)[(*n)++] = !strcmp((const char *)sqlite3_column_text(st, 1), "paused");
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? NU_OK : nu_store_fail(e->s, err, "reading flows");
}

int nu_engine_reload(nu_engine *e, nu_error *err)
{
	char (*shas)[NU_SHA_HEX];
	int *paused, rc;
	size_t n, loaded = 0;
	struct nu_deployed *flows = NULL;

	if ((rc = deployed_shas(e, &shas, &paused, &n, err)) == NU_OK && n &&
	    !(flows = calloc(n, sizeof *flows)))
		rc = nu_error_set(err, NU_ENOMEM, "out of memory");
	for (; rc == NU_OK && loaded < n; loaded++) {
		flows[loaded].paused = paused[loaded];
		rc = nu_flow_load_version(e->s, shas[loaded], &flows[loaded].flow, err);
	}
	free(shas);
	free(paused);
	if (rc < 0) {
		for (size_t i = 0; i < loaded; i++)
			nu_flow_clear(&flows[i].flow);
		free(flows);
		return rc;
	}
	for (size_t i = 0; i < e->nflows; i++)
		nu_flow_clear(&e->flows[i].flow);
	free(e->flows);
	e->flows = flows;
	nu_run_close_lua(e);     /* drops the compiled chunks of versions gone */
	e->nflows = n;
	return NU_OK;
}

const nu_flow *nu_engine_version(nu_engine *e, const char *sha, nu_error *err)
{
	for (size_t i = 0; i < e->nflows; i++)
		if (!strcmp(e->flows[i].flow.sha, sha))
			return &e->flows[i].flow;
	for (size_t i = 0; i < e->ncache; i++)
		if (!strcmp(e->cache[i].sha, sha))
			return &e->cache[i];
	size_t slot = e->ncache < NU_VERSION_CACHE ? e->ncache++ : e->cache_next++ % NU_VERSION_CACHE;
	if (e->cache[slot].spec)
		nu_flow_clear(&e->cache[slot]);
	if (nu_flow_load_version(e->s, sha, &e->cache[slot], err) < 0) {
		memset(&e->cache[slot], 0, sizeof e->cache[slot]);
		return NULL;
	}
	return &e->cache[slot];
}

int nu_wait_add(nu_store *s, int64_t due, int64_t run_id, int64_t seq, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"INSERT INTO wait (due, run_id, seq) VALUES (?, ?, ?)"
		" ON CONFLICT (due, run_id) DO NOTHING", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, due);
	sqlite3_bind_int64(st, 2, run_id);
	sqlite3_bind_int64(st, 3, seq);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "scheduling run");
}

/* where = { form = "whitepaper", minutes = 30 }: each key equal in props. */
int nu_json_where_matches(const json_t *where, const json_t *props)
{
	const char *k;
	json_t *want;

	if (!where)
		return 1;
	json_object_foreach((json_t *)where, k, want) {
		json_t *got = json_object_get(props, k);
		if (!got || !json_equal(got, want)) {
			/* 30 and 30.0 are the same number to a marketer */
			if (!(json_is_number(got) && json_is_number(want) &&
			      json_number_value(got) == json_number_value(want)))
				return 0;
		}
	}
	return 1;
}

/* An event read from the log. Its props are parsed only when something
 * asks: most events of a busy site match no trigger, wait or goal, and
 * parsing every one was a sixth of the engine's time under batch ingest. */
typedef struct log_event {
	int64_t id, at;
	const char *type;
	const char *props_text;    /* NULL: none */
	json_t *props;
	int parsed;
} log_event;

static json_t *event_props(log_event *ev)
{
	if (!ev)
		return NULL;
	if (!ev->parsed) {
		ev->parsed = 1;
		ev->props = ev->props_text ? json_loads(ev->props_text, 0, NULL) : NULL;
	}
	return ev->props;
}

/* ---- goals ---------------------------------------------------------------- */

/* Is a flow's goal met by `key` reaching `value`? A stage goal is met by
 * that stage or any further funnel stage. */
static int goal_met(nu_engine *e, const nu_flow *f, const char *key, const char *value,
		    log_event *ev)
{
	const nu_stage_model *m = nu_stage_model_of(e->s);
	json_t *goal = json_object_get(f->spec, "goal");
	const char *want = json_string_value(json_object_get(goal, key));

	if (!want)
		return 0;
	int met = !strcmp(want, value);
	if (!met && !strcmp(key, "stage")) {
		int w = nu_stage_index(m, want), v = nu_stage_index(m, value);
		met = w >= 0 && v > w && (size_t)v < m->funnel_len;
	}
	if (!met)
		return 0;
	json_t *props = event_props(ev);
	return !props || nu_json_where_matches(json_object_get(goal, "where"), props);
}

/* The lead's waiting runs (at most 64, which no sane set of flows
 * reaches: a lead is in each flow at most once at a time). */
typedef struct waiting_runs {
	struct { int64_t id; char sha[NU_SHA_HEX]; } run[64];
	size_t n;
} waiting_runs;

static int find_waiting_runs(nu_engine *e, int64_t lead_id, waiting_runs *w, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s, "SELECT id, sha FROM run WHERE lead_id = ?"
					 " AND status = 'waiting'", err);

	w->n = 0;
	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	while (w->n < 64 && sqlite3_step(st) == SQLITE_ROW) {
		w->run[w->n].id = sqlite3_column_int64(st, 0);
		snprintf(w->run[w->n++].sha, NU_SHA_HEX, "%s", sqlite3_column_text(st, 1));
	}
	sqlite3_reset(st);
	return NU_OK;
}

/* Ends the waiting runs whose goal `key` is met by `value`. Each run is
 * judged by the version it is pinned to, not by what is deployed now. */
static int end_goal_runs_of(nu_engine *e, const waiting_runs *w, const char *key,
			    const char *value, log_event *ev, nu_error *err)
{
	for (size_t i = 0; i < w->n; i++) {
		const nu_flow *f = nu_engine_version(e, w->run[i].sha, err);
		if (!f)
			return NU_EDB;
		if (goal_met(e, f, key, value, ev) && nu_run_end(e, w->run[i].id, "goal", NULL, err) < 0)
			return NU_EDB;
	}
	return NU_OK;
}

static int end_goal_runs(nu_engine *e, int64_t lead_id, const char *key, const char *value,
			 nu_error *err)
{
	waiting_runs w;

	if (find_waiting_runs(e, lead_id, &w, err) < 0)
		return NU_EDB;
	return end_goal_runs_of(e, &w, key, value, NULL, err);
}

/* A lead that already reached a flow's stage or tag goal is not enrolled. */
static int goal_already_met(nu_engine *e, const nu_flow *f, int64_t lead_id, nu_error *err)
{
	json_t *goal = json_object_get(f->spec, "goal");
	const char *tag = json_string_value(json_object_get(goal, "tag"));
	nu_lead l;
	int met = 0;

	if (json_object_get(goal, "stage")) {
		if (nu_lead_load(e->s, lead_id, &l, err) < 0)
			return NU_EDB;
		met = goal_met(e, f, "stage", l.stage, NULL);
		nu_lead_clear(&l);
	}
	if (!met && tag)
		met = nu_tag_has(e->s, lead_id, tag, err);
	return met;
}

/* ---- enrolment ----------------------------------------------------------- */

static struct nu_deployed *find_flow(nu_engine *e, const char *name)
{
	for (size_t i = 0; i < e->nflows; i++)
		if (!strcmp(e->flows[i].flow.name, name))
			return &e->flows[i];
	return NULL;
}

/* Why a lead may not (re)enter a flow now, or NULL. */
static int enrol_refusal(nu_engine *e, const nu_flow *f, int64_t lead_id, char *why,
			 size_t len, nu_error *err)
{
	const char *reentry = nu_flow_spec_str(f, "reentry");
	const char *group = nu_flow_spec_str(f, "exclusion");
	int64_t window = nu_flow_spec_duration(f, "reentry", 0);
	sqlite3_stmt *st = nu_store_stmt(e->s,
		"SELECT coalesce(sum(status = 'waiting'), 0), count(*), coalesce(max(created_at), 0)"
		" FROM run WHERE lead_id = ? AND flow = ?", err);
	int64_t active, total, last;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	sqlite3_bind_text(st, 2, f->name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return nu_store_fail(e->s, err, "checking reentry");
	}
	active = sqlite3_column_int64(st, 0);
	total = sqlite3_column_int64(st, 1);
	last = sqlite3_column_int64(st, 2);
	sqlite3_reset(st);
	if (active)
		return snprintf(why, len, "already in flow %s", f->name), 1;
	int met = goal_already_met(e, f, lead_id, err);
	if (met < 0)
		return met;
	if (met)
		return snprintf(why, len, "the lead already reached the goal of %s", f->name), 1;
	if (total && (!reentry || !strcmp(reentry, "never")))
		return snprintf(why, len, "reentry never: lead was in %s before", f->name), 1;
	if (total && window && nu_store_now(e->s) - last < window)
		return snprintf(why, len, "reentry %s: last run started too recently", reentry), 1;
	if (!group)
		return 0;
	if (!(st = nu_store_stmt(e->s, "SELECT flow FROM run WHERE lead_id = ? AND exclusion = ?"
				 " AND status = 'waiting' LIMIT 1", err)))
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
	int busy = sqlite3_step(st) == SQLITE_ROW;
	if (busy)
		snprintf(why, len, "exclusion group %s: already in %s", group, sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return busy;
}

static int create_run(nu_engine *e, const nu_flow *f, int64_t lead_id, int64_t event_id,
		      int64_t *run_id, nu_error *err)
{
	int64_t now = nu_store_now(e->s);
	sqlite3_stmt *st = nu_store_stmt(e->s,
		"INSERT INTO run (flow, sha, lead_id, status, trigger_event_id, seed, exclusion,"
		" created_at, updated_at) VALUES (?, ?, ?, 'waiting', ?, ?, ?, ?, ?)", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, f->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, lead_id);
	if (event_id)
		sqlite3_bind_int64(st, 4, event_id);
	/* The seed only has to differ between runs and stay put: it is stored. */
	sqlite3_bind_int64(st, 5, (int64_t)((uint64_t)now * 0x9E3779B97F4A7C15ull ^ (uint64_t)lead_id));
	sqlite3_bind_text(st, 6, nu_flow_spec_str(f, "exclusion"), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, now);
	sqlite3_bind_int64(st, 8, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(e->s, err, "creating run");
	*run_id = sqlite3_last_insert_rowid(nu_store_db(e->s));
	return NU_OK;
}

/* A new run takes its first step at once when the pump reads the logs
 * (and no step is running: a step's score change can enrol too); anywhere
 * else a timer due now wakes it at the next pump. ev: the event that
 * triggered it, or NULL. */
static int start_run(nu_engine *e, int64_t run_id, log_event *ev, nu_error *err)
{
	nu_trigger t;

	if (!e->reading_log || e->lua.owner)
		return nu_wait_add(e->s, nu_store_now(e->s), run_id, -1, err);
	if (ev)
		t = (nu_trigger){ ev->id, ev->at, ev->type, event_props(ev) };
	return nu_run_step(e, run_id, ev ? &t : NULL, err);
}

/* ev: the triggering event as the pump read it, or NULL. */
static int enroll_flow(nu_engine *e, const nu_flow *f, int64_t lead_id, int64_t event_id,
		       log_event *ev, int64_t *run_id, char *why, size_t len, nu_error *err)
{
	int refused = enrol_refusal(e, f, lead_id, why, len, err);

	*run_id = 0;
	if (refused)
		return refused < 0 ? refused : NU_OK;
	if (create_run(e, f, lead_id, event_id, run_id, err) < 0)
		return NU_EDB;
	return start_run(e, *run_id, ev, err);
}

int nu_engine_enroll(nu_engine *e, const char *flow, int64_t lead_id, int64_t event_id,
		     int64_t *run_id, char *why, size_t whylen, nu_error *err)
{
	struct nu_deployed *d = find_flow(e, flow);

	*run_id = 0;
	if (!d)
		return nu_error_set(err, NU_ENOTFOUND, "no deployed flow '%s'", flow);
	if (strcmp(d->flow.kind, "flow"))
		return nu_error_set(err, NU_EINVAL, "'%s' is a rule: rules run on events, not enrolment",
				    flow);
	if (d->paused) {
		snprintf(why, whylen, "flow %s is paused: resume it first", flow);
		return NU_OK;
	}
	if (nu_lead_live_id(e->s, lead_id, &lead_id, err) < 0)
		return err->code;
	return enroll_flow(e, &d->flow, lead_id, event_id, NULL, run_id, why, whylen, err);
}

/* ---- reading the logs ------------------------------------------------------ */

static int cursor_get(nu_store *s, const char *name, int64_t *v, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT value FROM engine_cursor WHERE name = ?", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	*v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return NU_OK;
}

static int cursor_set(nu_store *s, const char *name, int64_t v, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "UPDATE engine_cursor SET value = ? WHERE name = ?", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, v);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "engine cursor");
}

/* Hands the event to the waiting runs of the lead subscribed to its type. */
static int deliver(nu_engine *e, int64_t lead_id, log_event *ev, nu_error *err)
{
	const char *type = ev->type;
	sqlite3_stmt *st = nu_store_stmt(e->s, "SELECT run_id, seq, coalesce(due, 0) FROM subscription"
					 " WHERE lead_id = ? AND type = ?", err);
	struct { int64_t run, seq, due; } subs[64];
	size_t n = 0;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW && n < 64) {
		subs[n].run = sqlite3_column_int64(st, 0);
		subs[n].seq = sqlite3_column_int64(st, 1);
		subs[n++].due = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++) {
		json_t *req, *res;
		char kind[32];
		if (nu_journal_get(e->s, subs[i].run, subs[i].seq, kind, sizeof kind, &req, &res, err) < 0)
			return NU_EDB;
		json_t *props = event_props(ev);
		int match = nu_json_where_matches(json_object_get(req, "where"), props);
		json_decref(req);
		json_decref(res);
		if (!match)
			continue;
		json_t *result = json_pack("{s:{s:I,s:s,s:I,s:O*}}", "event", "id", (json_int_t)ev->id,
					   "type", type, "at", (json_int_t)ev->at, "props", props);
		int rc = nu_journal_complete(e->s, subs[i].run, subs[i].seq, result, err);
		json_decref(result);
		if (rc < 0 || !(st = nu_store_stmt(e->s, "DELETE FROM subscription WHERE run_id = ?"
						   " AND seq = ?", err)))
			return NU_EDB;
		sqlite3_bind_int64(st, 1, subs[i].run);
		sqlite3_bind_int64(st, 2, subs[i].seq);
		if (sqlite3_step(st) != SQLITE_DONE)
			return nu_store_fail(e->s, err, "delivering event");
		if (subs[i].due && (st = nu_store_stmt(e->s, "DELETE FROM wait WHERE due = ? AND run_id = ?",
						       err))) {
			sqlite3_bind_int64(st, 1, subs[i].due);
			sqlite3_bind_int64(st, 2, subs[i].run);
			sqlite3_step(st);
		}
		if (nu_wait_add(e->s, nu_store_now(e->s), subs[i].run, subs[i].seq, err) < 0)
			return NU_EDB;
	}
	return NU_OK;
}

static int trigger_matches(const json_t *trigger, const char *key, const char *value,
			   log_event *ev)
{
	const char *want = json_string_value(json_object_get(trigger, key));
	return want && !strcmp(want, value) &&
	       nu_json_where_matches(json_object_get(trigger, "where"), event_props(ev));
}

/* An event triggers a flow only while it is fresh: importing last year's
 * form submissions must not start last year's follow-ups. */
static int fresh_enough(nu_engine *e, const nu_flow *f, int64_t at)
{
	json_t *trigger = json_object_get(f->spec, "trigger");
	const char *max_age = json_string_value(json_object_get(trigger, "max_age"));
	int64_t limit = 86400000;

	if (max_age)
		nu_duration_parse(max_age, &limit, NULL, 0);
	return nu_store_now(e->s) - at <= limit;
}

/* "<channel>.bounced" with kind "hard", "<channel>.complained" and
 * "<channel>.unsubscribed" stop all further sends to that address on that
 * channel: whoever reports them (a plugin, nurture bounce, the unsubscribe
 * endpoint), the suppression follows here, once. */
static int suppress_on(nu_engine *e, int64_t lead_id, log_event *ev, nu_error *err)
{
	const char *type = ev->type, *dot = strrchr(type, '.'), *why;
	char channel[32], address[300], reason[200];
	sqlite3_stmt *st;
	json_t *props;

	if (!dot || (size_t)(dot - type) >= sizeof channel ||
	    (strcmp(dot, ".bounced") && strcmp(dot, ".complained") && strcmp(dot, ".unsubscribed")))
		return NU_OK;
	props = event_props(ev);
	if (!strcmp(dot, ".bounced") &&
	    !strcmp(json_string_value(json_object_get(props, "kind")) ? json_string_value(json_object_get(props, "kind")) : "", "hard"))
		why = "hard bounce";
	else if (!strcmp(dot, ".complained"))
		why = "complaint";
	else if (!strcmp(dot, ".unsubscribed"))
		why = "unsubscribed";
	else
		return NU_OK;
	snprintf(channel, sizeof channel, "%.*s", (int)(dot - type), type);
	nu_outbox_address(e->s, lead_id, channel, address, sizeof address);
	json_t *code = json_object_get(props, "code");
	if (json_is_integer(code))
		snprintf(reason, sizeof reason, "%s (%lld)", why, (long long)json_integer_value(code));
	else
		snprintf(reason, sizeof reason, "%s", why);
	if (!(st = nu_store_stmt(e->s, "INSERT INTO suppression (channel, address, reason, source, at)"
				 " VALUES (?, ?, ?, 'event', ?) ON CONFLICT (channel, address) DO NOTHING", err)))
		return NU_EDB;
	sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, nu_store_now(e->s));
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(e->s, err, "suppressing");
}

/* Rules first (their tags and scores are visible to what follows), then
 * waiting runs, goals and triggers. */
static int on_event(nu_engine *e, int64_t lead_id, log_event *ev, nu_error *err)
{
	const char *type = ev->type;
	char why[200];
	int64_t run;

	if (suppress_on(e, lead_id, ev, err) < 0)
		return NU_EDB;
	for (size_t i = 0; i < e->nflows; i++) {
		const nu_flow *f = &e->flows[i].flow;
		if (!strcmp(f->kind, "rule") && !e->flows[i].paused &&
		    trigger_matches(json_object_get(f->spec, "trigger"), "event", type, ev) &&
		    nu_rule_apply(e, f, lead_id, ev->id, err) < 0)
			return NU_EDB;
	}
	/* A lead with no waiting run has no subscription either: one query
	 * then answers both questions for most events. */
	waiting_runs w;
	if (find_waiting_runs(e, lead_id, &w, err) < 0 ||
	    (w.n && (deliver(e, lead_id, ev, err) < 0 ||
		     end_goal_runs_of(e, &w, "event", type, ev, err) < 0)))
		return NU_EDB;
	for (size_t i = 0; i < e->nflows; i++) {
		const nu_flow *f = &e->flows[i].flow;
		if (!strcmp(f->kind, "flow") && !e->flows[i].paused &&
		    trigger_matches(json_object_get(f->spec, "trigger"), "event", type, ev) &&
		    fresh_enough(e, f, ev->at) &&
		    enroll_flow(e, f, lead_id, ev->id, ev, &run, why, sizeof why, err) < 0)
			return NU_EDB;
	}
	return NU_OK;
}

/* tag added / stage reached: goals, then triggers. */
static int on_change(nu_engine *e, int64_t lead_id, const char *key, const char *value,
		     nu_error *err)
{
	char why[200];
	int64_t run;

	if (end_goal_runs(e, lead_id, key, value, err) < 0)
		return NU_EDB;
	for (size_t i = 0; i < e->nflows; i++) {
		const nu_flow *f = &e->flows[i].flow;
		if (!strcmp(f->kind, "flow") && !e->flows[i].paused &&
		    trigger_matches(json_object_get(f->spec, "trigger"), key, value, NULL) &&
		    enroll_flow(e, f, lead_id, 0, NULL, &run, why, sizeof why, err) < 0)
			return NU_EDB;
	}
	return NU_OK;
}

int nu_engine_on_score(nu_engine *e, int64_t lead_id, const char *which, double before,
		       double after, nu_error *err)
{
	char why[200];
	int64_t run;

	for (size_t i = 0; i < e->nflows; i++) {
		const nu_flow *f = &e->flows[i].flow;
		json_t *trigger = json_object_get(f->spec, "trigger");
		const char *score = json_string_value(json_object_get(trigger, "score"));
		double above = json_number_value(json_object_get(trigger, "above"));
		if (!score || strcmp(score, which) || e->flows[i].paused || strcmp(f->kind, "flow") ||
		    !(before < above && after >= above))
			continue;
		if (enroll_flow(e, f, lead_id, 0, NULL, &run, why, sizeof why, err) < 0)
			return NU_EDB;
	}
	return NU_OK;
}

/* Whether the pump's turn is over (nu_engine_pump_for); remembers it.
 * A turn always gets one unit of work done, so it cannot stall. */
static int turn_over(nu_engine *e)
{
	if (e->turn_deadline_us && !e->turn_cut && e->turn_units &&
	    nu_time_monotonic_us() >= e->turn_deadline_us)
		e->turn_cut = 1;
	return e->turn_cut;
}

/* A log is read a chunk at a time, chunks growing from 8 rows to 64: a
 * turn cut short by its time budget then reads little more than it
 * handles, even with a long backlog. */
#define LOG_CHUNK_FIRST 8
#define LOG_CHUNK 64

typedef struct log_row {
	int64_t id, lead, at;
	char *a, *props;
	int merged;
} log_row;

/* Up to want rows past from, copied out of the statement (handling a row
 * runs statements of its own); the count, or -1 on a failure. */
static int read_rows(nu_engine *e, const char *sql, int64_t from, log_row *rows, int want,
		     nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s, sql, err);
	int n = 0;

	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, want);
	while (n < want && sqlite3_step(st) == SQLITE_ROW) {
		rows[n].id = sqlite3_column_int64(st, 0);
		rows[n].lead = sqlite3_column_int64(st, 1);
		rows[n].a = strdup((const char *)sqlite3_column_text(st, 2));
		rows[n].at = sqlite3_column_int64(st, 3);
		rows[n].props = sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL :
			strdup((const char *)sqlite3_column_text(st, 4));
		rows[n].merged = sqlite3_column_type(st, 5) != SQLITE_NULL;
		n++;
	}
	sqlite3_reset(st);
	return n;
}

/* Hands one row to the engine: an event, or a tag or stage change. */
static int handle_row(nu_engine *e, const char *cursor, const log_row *row, nu_error *err)
{
	int64_t lead;
	/* The query read merged_into: only a merged-away lead needs its
	 * survivor looked up. */
	int live = row->merged ? nu_lead_live_id(e->s, row->lead, &lead, err)
			       : (lead = row->lead, NU_OK);

	if (live == NU_OK && !strcmp(cursor, "event")) {
		log_event ev = { row->id, row->at, row->a, row->props, NULL, 0 };
		int rc = on_event(e, lead, &ev, err);
		json_decref(ev.props);
		return rc;
	}
	if (live == NU_OK)
		return on_change(e, lead, !strcmp(cursor, "tag_change") ? "tag" : "stage", row->a, err);
	/* A row of a lead that no longer exists is passed over. */
	return live == NU_EDB ? live : NU_OK;
}

/* Handles up to BATCH rows past the cursor of one log, while the turn
 * lasts, and moves the cursor past those handled. */
static int read_log(nu_engine *e, const char *cursor, const char *sql, int *did, nu_error *err)
{
	log_row rows[LOG_CHUNK];
	int64_t from, last;
	int rc = NU_OK, want = LOG_CHUNK_FIRST, total = 0;

	if (cursor_get(e->s, cursor, &from, err) < 0)
		return NU_EDB;
	last = from;
	e->reading_log = 1;
	while (rc == NU_OK && total < BATCH && !turn_over(e)) {
		int n = read_rows(e, sql, last, rows, want, err);
		if (n < 0) {
			rc = NU_EDB;
			break;
		}
		for (int i = 0; i < n; i++) {
			/* Out of time: the rest stay past the cursor for the next turn. */
			if (rc == NU_OK && !turn_over(e) &&
			    (rc = handle_row(e, cursor, &rows[i], err)) == NU_OK) {
				last = rows[i].id;
				(*did)++;
				e->turn_units++;
			}
			free(rows[i].a);
			free(rows[i].props);
		}
		if (n < want)
			break;           /* the log is read to its end */
		total += n;
		want = want * 2 > LOG_CHUNK ? LOG_CHUNK : want * 2;
	}
	e->reading_log = 0;
	return rc == NU_OK && last != from ? cursor_set(e->s, cursor, last, err) : rc;
}

/* A wait came due: give a timer its result, then step the run. */
static int fire(nu_engine *e, int64_t due, int64_t run_id, int64_t seq, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s, "DELETE FROM wait WHERE due = ? AND run_id = ?", err);
	json_t *req = NULL, *res = NULL;
	char kind[32];
	int rc = NU_OK;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, due);
	sqlite3_bind_int64(st, 2, run_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(e->s, err, "firing wait");
	if (seq >= 0 && (rc = nu_journal_get(e->s, run_id, seq, kind, sizeof kind, &req, &res, err)) < 0 &&
	    rc != NU_ENOTFOUND)
		return rc;
	if (seq >= 0 && rc == NU_OK && !res) {
		int64_t now = nu_store_now(e->s);
		json_t *result;
		if (!strcmp(kind, "wait_event")) {
			result = json_pack("{s:b}", "timeout", 1);
			if ((st = nu_store_stmt(e->s, "DELETE FROM subscription WHERE run_id = ? AND seq = ?", err))) {
				sqlite3_bind_int64(st, 1, run_id);
				sqlite3_bind_int64(st, 2, seq);
				sqlite3_step(st);
			}
		} else {
			sqlite3_stmt *r = nu_store_stmt(e->s, "SELECT sha FROM run WHERE id = ?", err);
			const nu_flow *f = NULL;
			if (r) {
				sqlite3_bind_int64(r, 1, run_id);
				if (sqlite3_step(r) == SQLITE_ROW) {
					char sha[NU_SHA_HEX];
					snprintf(sha, sizeof sha, "%s", sqlite3_column_text(r, 0));
					sqlite3_reset(r);
					f = nu_engine_version(e, sha, err);
				}
				sqlite3_reset(r);
			}
			/* sleep keeps options in opts; wait_until's table carries them */
			json_t *opts = json_object_get(req, "opts");
			const char *on_late = json_string_value(json_object_get(opts ? opts : req, "on_late"));
			if (!on_late && f)
				on_late = nu_flow_spec_str(f, "on_late");
			int64_t grace = f ? nu_flow_spec_duration(f, "late_after", 3600000) : 3600000;
			int late = now - due > grace;
			result = json_pack("{s:I,s:b,s:b}", "at", (json_int_t)now, "late", late,
					   "skip", late && on_late && !strcmp(on_late, "skip"));
		}
		rc = nu_journal_complete(e->s, run_id, seq, result, err);
		json_decref(result);
	} else {
		rc = NU_OK;
	}
	json_decref(req);
	json_decref(res);
	return rc < 0 ? rc : nu_run_step(e, run_id, NULL, err);
}

static int fire_due(nu_engine *e, int *did, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s, "SELECT due, run_id, seq FROM wait WHERE due <= ?"
					 " ORDER BY due LIMIT 500", err);
	struct { int64_t due, run, seq; } w[BATCH];
	size_t n = 0;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, nu_store_now(e->s));
	while (n < BATCH && sqlite3_step(st) == SQLITE_ROW) {
		w[n].due = sqlite3_column_int64(st, 0);
		w[n].run = sqlite3_column_int64(st, 1);
		w[n++].seq = sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n && !turn_over(e); i++) {
		if (fire(e, w[i].due, w[i].run, w[i].seq, err) < 0)
			return NU_EDB;
		(*did)++;
		e->turn_units++;
	}
	return NU_OK;
}

/* Log reading, timer firing and claiming due sends, in the caller's
 * transaction. */
static int pump_work(nu_engine *e, int *did, nu_error *err)
{
	int rc = read_log(e, "event", "SELECT e.id, e.lead_id, e.type, e.at, e.props, l.merged_into"
		      " FROM event e JOIN lead l ON l.id = e.lead_id WHERE e.id > ? ORDER BY e.id LIMIT ?",
		      did, err);
	if (rc == NU_OK)
		rc = read_log(e, "tag_change", "SELECT c.id, c.lead_id, c.name, c.at, NULL, l.merged_into"
			      " FROM tag_change c JOIN lead l ON l.id = c.lead_id"
			      " WHERE c.id > ? AND c.op = 'add' ORDER BY c.id LIMIT ?", did, err);
	if (rc == NU_OK)
		rc = read_log(e, "stage_change", "SELECT c.id, c.lead_id, c.to_stage, c.at, NULL, l.merged_into"
			      " FROM stage_change c JOIN lead l ON l.id = c.lead_id"
			      " WHERE c.id > ? ORDER BY c.id LIMIT ?", did, err);
	if (rc == NU_OK)
		rc = fire_due(e, did, err);
	if (rc == NU_OK && !e->no_dispatch && !e->dispatching)
		rc = nu_outbox_claim(e, err);
	return rc;
}

/* One transaction of pump_work. */
static int pump_once(nu_engine *e, int *did, nu_error *err)
{
	int rc;

	if (nu_store_begin(e->s, err) < 0)
		return NU_EDB;
	if ((rc = pump_work(e, did, err)) == NU_OK)
		rc = nu_store_commit(e->s, err);
	else
		nu_store_rollback(e->s);
	if (rc < 0) {
		nu_outbox_unclaim(e);    /* rolled back: the rows are still 'pending' */
		return rc;
	}
	*did += (int)e->nclaimed;
	return NU_OK;
}

int nu_engine_note_woken(nu_engine *e, int64_t run_id)
{
	if (e->nwoken == e->woken_cap) {
		size_t cap = e->woken_cap ? e->woken_cap * 2 : 64;
		int64_t *more = realloc(e->woken, cap * sizeof *more);
		if (!more)
			return NU_ENOMEM;
		e->woken = more;
		e->woken_cap = cap;
	}
	e->woken[e->nwoken++] = run_id;
	return NU_OK;
}

/* Steps the runs whose sends completed during a hand-over. The answers
 * are in: a step that fails must not take them along, so on a failure
 * the steps are undone and each run gets a timer due now instead. */
static int step_woken(nu_engine *e, int *did, nu_error *err)
{
	int rc = nu_store_mark(e->s, err);

	for (size_t i = 0; rc == NU_OK && i < e->nwoken; i++) {
		rc = nu_run_step(e, e->woken[i], NULL, err);
		(*did)++;
	}
	if (rc == NU_OK)
		rc = nu_store_unmark(e->s, err);
	else {
		nu_error later;
		nu_store_back_to_mark(e->s);
		nu_run_tx_end(e, 0);
		for (size_t i = 0; i < e->nwoken; i++)
			if (nu_wait_add(e->s, nu_store_now(e->s), e->woken[i], -1, &later) < 0)
				break;
	}
	e->nwoken = 0;
	return rc;
}

/* The claimed sends go to their channels, now that the claim is committed.
 * Channels that answer at once (the mock, the built-in test channel, a
 * refusal) complete inside one transaction, and the runs their answers
 * wake take their next step in it too, instead of a commit each. When
 * requests hold a commit group open, that transaction is the group's,
 * under a mark: one commit with those requests, and the pages both touch
 * (the newest rows of the outbox, journal and run tables) written once; a
 * failure undoes the hand-over's writes only. A crash before the commit
 * leaves the sends 'sending', which recovery treats like any send in
 * doubt. */
static int hand_over(nu_engine *e, int *did, nu_error *err)
{
	int in_group = nu_store_group_open(e->s), rc, shared, kept;

	if (!e->nclaimed)
		return NU_OK;
	/* Without a transaction to share each completion commits alone, or
	 * writes into the group by itself (its run woken by a timer). */
	shared = (in_group ? nu_store_mark(e->s, err) : nu_store_begin(e->s, err)) == NU_OK;
	e->collect_woken = shared;
	rc = nu_outbox_hand_over(e, err);
	e->collect_woken = 0;
	if (!shared)
		return rc;
	if (rc < 0) {
		e->nwoken = 0;
		if (in_group) {
			nu_store_back_to_mark(e->s);
			nu_run_tx_end(e, 0);
		} else {
			nu_store_rollback(e->s);
		}
		return rc;
	}
	/* The answers are kept even when the steps fail (step_woken gives
	 * those runs timers instead). */
	rc = step_woken(e, did, err);
	kept = in_group ? nu_store_unmark(e->s, err) : nu_store_commit(e->s, err);
	return rc < 0 ? rc : kept;
}

int nu_engine_pump(nu_engine *e, int *did, nu_error *err)
{
	int more;

	return nu_engine_pump_for(e, 0, did, &more, err);
}

/* A `nurture flow deploy` from another process is picked up before the
 * next events are read, so no event meets a stale set of flows. Only a
 * commit by another connection can deploy one, and SQLite's data_version
 * changes only then: the flow table is looked at only after one. */
static void reload_if_deployed(nu_engine *e)
{
	sqlite3_stmt *st = nu_store_stmt(e->s, "PRAGMA data_version", NULL);
	int64_t version = 0;
	char seen[64] = "";
	nu_error err;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	if (e->flows_seen[0] && version == e->data_version && !e->flows_changed)
		return;
	e->flows_changed = 0;
	e->data_version = version;
	st = nu_store_stmt(e->s, "SELECT count(*) || ':' || coalesce(max(updated_at), 0) || ':' ||"
			   " coalesce(sum(status = 'paused'), 0) FROM flow", NULL);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		snprintf(seen, sizeof seen, "%s", sqlite3_column_text(st, 0));
	if (st)
		sqlite3_reset(st);
	if (!strcmp(seen, e->flows_seen))
		return;
	if (e->flows_seen[0] && nu_engine_reload(e, &err) == NU_OK)
		nu_info("deployed flows changed: reloaded");
	snprintf(e->flows_seen, sizeof e->flows_seen, "%s", seen);
}

void nu_engine_flows_changed(nu_engine *e)
{
	e->flows_changed = 1;
}

static void start_turn(nu_engine *e, int64_t budget_us)
{
	reload_if_deployed(e);
	e->turn_deadline_us = budget_us > 0 ? nu_time_monotonic_us() + budget_us : 0;
	e->turn_cut = 0;
	e->turn_units = 0;
}

int nu_engine_pump_joined(nu_engine *e, int64_t budget_us, int *did, nu_error *err)
{
	int rc;

	*did = 0;
	/* Inside a pump (its BEGIN flushed the caller's group) the pump goes
	 * on by itself; claims not yet handed over must not mix with new ones
	 * that the caller's commit could still take back. */
	if (e->pumping || e->dispatching || e->nclaimed)
		return NU_OK;
	start_turn(e, budget_us);
	if ((rc = nu_store_mark(e->s, err)) < 0)
		return rc;
	if ((rc = pump_work(e, did, err)) == NU_OK)
		rc = nu_store_unmark(e->s, err);
	if (rc < 0) {
		*did = 0;
		nu_store_back_to_mark(e->s);
		nu_run_tx_end(e, 0);
		nu_outbox_unclaim(e);
	}
	e->turn_deadline_us = 0;
	return rc;
}

void nu_engine_joined_rolled_back(nu_engine *e)
{
	nu_outbox_unclaim(e);
}

/* Rounds of pump_once and hand_over until one finds nothing to do. */
static int pump_rounds(nu_engine *e, int *total, int *more, nu_error *err)
{
	int round = 0;

	/* Sends claimed in a transaction the engine joined (ingest) go first. */
	if (hand_over(e, total, err) < 0)
		return NU_EDB;
	/* Requests hold a commit group open: the engine's turn comes inside
	 * it, when it commits (nu_engine_pump_joined); a transaction of the
	 * pump's own now would cut the group short. */
	if (nu_store_group_open(e->s))
		return NU_OK;
	/* Each round may cause more work (a step tags a lead, a send
	 * completes); go until a round finds nothing, with a bound so a flow
	 * that loops through tags cannot spin the loop forever. */
	for (int rounds = 0; rounds < 1000; rounds++) {
		round = 0;
		if (pump_once(e, &round, err) < 0 || hand_over(e, &round, err) < 0)
			return NU_EDB;
		*total += round;
		*more = e->turn_cut;
		if (!round || *more)
			break;
	}
	return NU_OK;
}

int nu_engine_pump_for(nu_engine *e, int64_t budget_us, int *did, int *more, nu_error *err)
{
	int total = 0, rc;

	start_turn(e, budget_us);
	*more = 0;
	e->pumping = 1;
	rc = pump_rounds(e, &total, more, err);
	e->pumping = 0;
	e->turn_deadline_us = 0;
	if (did)
		*did = total;
	return rc;
}

int nu_engine_advance(nu_engine *e, int64_t target, void (*set_clock)(void *ud, int64_t t),
		      void *ud, int *steps, nu_error *err)
{
	int64_t due;
	int did, total = 0;

	for (;;) {
		if (nu_engine_next_due(e, &due, err) < 0)
			return NU_EDB;
		if (!due || due > target)
			break;
		if (due > nu_store_now(e->s))
			set_clock(ud, due);
		if (nu_engine_pump(e, &did, err) < 0)
			return NU_EDB;
		total += did;
	}
	set_clock(ud, target);
	if (nu_engine_pump(e, &did, err) < 0)
		return NU_EDB;
	if (steps)
		*steps = total + did;
	return NU_OK;
}

/* The earliest of the first wait and the first send due (a retry, or one
 * held by quiet hours): the daemon's one timer covers both. */
int nu_engine_next_due(nu_engine *e, int64_t *due, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s, "SELECT due FROM wait ORDER BY due LIMIT 1", err);
	int64_t send = 0;

	if (!st)
		return NU_EDB;
	*due = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (!(st = nu_store_stmt(e->s, "SELECT next_try FROM outbox WHERE state IN ('pending', 'sending')"
				 " AND state = 'pending' ORDER BY next_try LIMIT 1", err)))
		return NU_EDB;
	if (sqlite3_step(st) == SQLITE_ROW)
		send = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (send && (!*due || send < *due))
		*due = send;
	return NU_OK;
}
