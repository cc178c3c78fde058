/*
 * api_ops.c — what operators poll: /healthz and /metrics (Prometheus text
 * exposition format 0.0.4).
 *
 * Gauges that describe the store (runs by state, sends by channel and
 * outcome, queue depths) are counted by query at scrape time, so they are
 * right after a restart and across processes; counters of what this
 * daemon did (requests, ingested events, callbacks, commit latency) live
 * in memory since it started.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"
#include "checkpoint.h"
#include "timefmt.h"

typedef struct text {
	char *s;
	size_t n, cap;
	int oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		va_start(ap, fmt);
		int n = t->oom ? 0 : vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
		va_end(ap);
		if (t->oom || (size_t)n < t->cap - t->n) {
			t->n += (size_t)n;
			return;
		}
		char *p = realloc(t->s, t->cap * 2 + (size_t)n);
		if (!p) {
			t->oom = 1;
			return;
		}
		t->s = p;
		t->cap = t->cap * 2 + (size_t)n;
	}
}

static void metric(text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int64_t count_of(nu_store *s, const char *sql)
{
	sqlite3_stmt *st = nu_store_stmt(s, sql, NULL);
	int64_t v = -1;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	return v;
}

/* name{label="…"[,label2="…"]} value, one line per row of sql. */
static void grouped(text *t, nu_store *s, const char *name, const char *sql, const char *l1,
		    const char *l2)
{
	sqlite3_stmt *st = nu_store_stmt(s, sql, NULL);

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		if (l2)
			put(t, "%s{%s=\"%s\",%s=\"%s\"} %lld\n", name, l1, sqlite3_column_text(st, 0), l2,
			    sqlite3_column_text(st, 1), (long long)sqlite3_column_int64(st, 2));
		else
			put(t, "%s{%s=\"%s\"} %lld\n", name, l1, sqlite3_column_text(st, 0),
			    (long long)sqlite3_column_int64(st, 1));
	}
	if (st)
		sqlite3_reset(st);
}

static void store_gauges(text *t, nu_store *s)
{
	metric(t, "nurture_events_stored", "gauge", "Events in the store.");
	put(t, "nurture_events_stored %lld\n", (long long)count_of(s, "SELECT coalesce(max(id), 0) FROM event"));
	metric(t, "nurture_leads", "gauge", "Live (not merged-away) leads.");
	put(t, "nurture_leads %lld\n", (long long)count_of(s, "SELECT count(*) FROM lead WHERE merged_into IS NULL"));
	metric(t, "nurture_runs", "gauge", "Flow runs by state.");
	grouped(t, s, "nurture_runs", "SELECT status, count(*) FROM run GROUP BY status", "state", NULL);
	metric(t, "nurture_sends", "gauge", "Sends by channel and outcome.");
	grouped(t, s, "nurture_sends", "SELECT channel, state, count(*) FROM outbox GROUP BY channel, state",
		"channel", "outcome");
	metric(t, "nurture_outbox_queued", "gauge", "Sends waiting to go out or on their way.");
	put(t, "nurture_outbox_queued %lld\n",
	    (long long)count_of(s, "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')"));
	metric(t, "nurture_waits", "gauge", "Runs waiting on a timer.");
	put(t, "nurture_waits %lld\n", (long long)count_of(s, "SELECT count(*) FROM wait"));
	metric(t, "nurture_engine_backlog_events", "gauge", "Stored events the engine has not read yet.");
	put(t, "nurture_engine_backlog_events %lld\n", (long long)count_of(s,
	    "SELECT coalesce(max(id), 0) - coalesce((SELECT value FROM engine_cursor WHERE name = 'event'), 0)"
	    " FROM event"));
}

static void steps(text *t, nu_engine *e)
{
	nu_engine_step_stats st;

	nu_engine_step_stats_get(e, &st);
	metric(t, "nurture_engine_steps_total", "counter",
	       "Flow steps: replayed from the journal, or continued in memory where the last stopped.");
	put(t, "nurture_engine_steps_total{how=\"replayed\"} %llu\n", (unsigned long long)st.replayed);
	put(t, "nurture_engine_steps_total{how=\"continued\"} %llu\n", (unsigned long long)st.continued);
	metric(t, "nurture_engine_runs_in_memory", "gauge", "Runs kept in memory, waiting on a send.");
	put(t, "nurture_engine_runs_in_memory %llu\n", (unsigned long long)st.kept);
}

static void checkpoints(text *t, const nu_checkpointer *c)
{
	nu_checkpoint_stats st;

	nu_checkpointer_stats(c, &st);
	metric(t, "nurture_sqlite_checkpoints_total", "counter",
	       "WAL checkpoints: passes of the checkpoint thread, and remainders copied on the event loop.");
	put(t, "nurture_sqlite_checkpoints_total{on=\"thread\"} %llu\n", (unsigned long long)st.background);
	put(t, "nurture_sqlite_checkpoints_total{on=\"loop\"} %llu\n", (unsigned long long)st.on_loop);
	metric(t, "nurture_sqlite_loop_checkpoint_seconds_total", "counter",
	       "Time the event loop spent copying WAL remainders.");
	put(t, "nurture_sqlite_loop_checkpoint_seconds_total %.6f\n", (double)st.on_loop_us / 1e6);
	metric(t, "nurture_sqlite_wal_pages", "gauge", "Pages in the WAL after the daemon's last commit.");
	put(t, "nurture_sqlite_wal_pages %d\n", st.wal_frames);
}

static void commit_histogram(text *t, const nu_store_stats *st)
{
	uint64_t cum = 0;

	metric(t, "nurture_sqlite_commit_seconds", "histogram", "SQLite commit latency of the daemon.");
	for (int b = 0; b < NU_STORE_COMMIT_BUCKETS; b++) {
		cum += st->bucket[b];
		if (b == NU_STORE_COMMIT_BUCKETS - 1)
			put(t, "nurture_sqlite_commit_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		else
			put(t, "nurture_sqlite_commit_seconds_bucket{le=\"%g\"} %llu\n",
			    (double)nu_store_commit_bounds[b] / 1e6, (unsigned long long)cum);
	}
	put(t, "nurture_sqlite_commit_seconds_sum %.6f\n", (double)st->commit_us / 1e6);
	put(t, "nurture_sqlite_commit_seconds_count %llu\n", (unsigned long long)st->commits);
}

static void counters(text *t, const nu_httpd *h)
{
	const nu_api_counters *n = &h->n;

	metric(t, "nurture_http_requests_total", "counter", "HTTP requests answered, by status class.");
	for (int c = 2; c <= 5; c++)
		put(t, "nurture_http_requests_total{class=\"%dxx\"} %llu\n", c, (unsigned long long)n->requests[c]);
	metric(t, "nurture_http_connections", "gauge", "Open HTTP connections.");
	put(t, "nurture_http_connections %d\n", nu_http_server_connections(h->server));
	metric(t, "nurture_http_connections_refused_total", "counter", "Connections refused over http.max_connections.");
	put(t, "nurture_http_connections_refused_total %llu\n", (unsigned long long)nu_http_server_refused(h->server));
	metric(t, "nurture_events_ingested_total", "counter", "Events received over the API, by result.");
	put(t, "nurture_events_ingested_total{result=\"accepted\"} %llu\n", (unsigned long long)n->events_accepted);
	put(t, "nurture_events_ingested_total{result=\"duplicate\"} %llu\n", (unsigned long long)n->events_duplicate);
	put(t, "nurture_events_ingested_total{result=\"rejected\"} %llu\n", (unsigned long long)n->events_rejected);
	metric(t, "nurture_http_commit_groups_total", "counter",
	       "Shared ingest transactions committed (requests of one loop turn commit together).");
	put(t, "nurture_http_commit_groups_total %llu\n", (unsigned long long)n->commit_groups);
	metric(t, "nurture_http_commit_group_requests_total", "counter",
	       "Ingest requests answered after a shared commit.");
	put(t, "nurture_http_commit_group_requests_total %llu\n", (unsigned long long)n->group_requests);
	metric(t, "nurture_webhooks_total", "counter", "Provider callbacks, by result.");
	put(t, "nurture_webhooks_total{result=\"ok\"} %llu\n", (unsigned long long)n->webhooks_ok);
	put(t, "nurture_webhooks_total{result=\"refused\"} %llu\n", (unsigned long long)n->webhooks_refused);
	put(t, "nurture_webhooks_total{result=\"failed\"} %llu\n", (unsigned long long)n->webhooks_failed);
	metric(t, "nurture_tracking_total", "counter", "Tracking hits, by kind.");
	put(t, "nurture_tracking_total{kind=\"open\"} %llu\n", (unsigned long long)n->opens);
	put(t, "nurture_tracking_total{kind=\"open_machine\"} %llu\n", (unsigned long long)n->opens_machine);
	put(t, "nurture_tracking_total{kind=\"click\"} %llu\n", (unsigned long long)n->clicks);
	put(t, "nurture_tracking_total{kind=\"unsubscribe\"} %llu\n", (unsigned long long)n->unsubscribes);
	put(t, "nurture_tracking_total{kind=\"bad_token\"} %llu\n", (unsigned long long)n->bad_tokens);
	metric(t, "nurture_timer_lag_seconds", "gauge", "How late the last wait timer fired.");
	put(t, "nurture_timer_lag_seconds %.3f\n", (double)n->timer_lag_ms / 1e3);
	metric(t, "nurture_timer_lag_max_seconds", "gauge", "The latest any wait timer fired since start.");
	put(t, "nurture_timer_lag_max_seconds %.3f\n", (double)n->timer_lag_max_ms / 1e3);
}

static void metrics(nu_api_req *r)
{
	text t = { malloc(8192), 0, 8192, 0 };

	t.oom = !t.s;
	counters(&t, r->h);
	store_gauges(&t, r->s);
	commit_histogram(&t, nu_store_get_stats(r->s));
	checkpoints(&t, r->h->opt.checkpoints);
	steps(&t, r->h->opt.engine);
	if (t.oom)
		nu_api_error(r, 500, "internal", NULL, "out of memory");
	else
		nu_api_send(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.s, t.n);
	free(t.s);
}

static void healthz(nu_api_req *r)
{
	int64_t one = count_of(r->s, "SELECT 1");

	nu_api_json(r, one == 1 ? 200 : 503,
		    json_pack("{s:s,s:s,s:s,s:I}", "status", one == 1 ? "ok" : "database unavailable",
			      "version", NU_VERSION, "database", one == 1 ? "ok" : "error", "uptime_s",
			      (json_int_t)((nu_time_now_ms() - r->h->started_ms) / 1000)));
}

const nu_api_route nu_api_ops_routes[] = {
	{ NU_HTTP_GET | NU_HTTP_HEAD, "/healthz", 0, healthz, 0 },
	{ NU_HTTP_GET, "/metrics", 0, metrics, 0 },
	{ 0, NULL, 0, NULL, 0 },
};
