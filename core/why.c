/*
 * why.c — assembling the explanation of a lead's runs.
 */
#include <string.h>
#include "json_text.h"
#include "why.h"

static int add_steps(nu_store *s, int64_t run_id, json_t *run, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT seq, kind, request, result, at, done_at FROM journal WHERE run_id = ?"
		" ORDER BY seq", err);
	json_t *steps = json_array();

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, run_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *step = json_pack("{s:I,s:s,s:o,s:o,s:I}",
			"seq", (json_int_t)sqlite3_column_int64(st, 0),
			"kind", sqlite3_column_text(st, 1),
			"request", nu_json_parse_or_null((const char *)sqlite3_column_text(st, 2)),
			"result", nu_json_parse_or_null((const char *)sqlite3_column_text(st, 3)),
			"at", (json_int_t)sqlite3_column_int64(st, 4));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL)
			json_object_set_new(step, "done_at", json_integer(sqlite3_column_int64(st, 5)));
		json_array_append_new(steps, step);
	}
	sqlite3_reset(st);
	json_object_set_new(run, "steps", steps);
	return NU_OK;
}

/* What a waiting run waits for: its pending step, and the timer if any. */
static int add_waiting(nu_store *s, int64_t run_id, json_t *run, nu_error *err)
{
	json_t *steps = json_object_get(run, "steps"), *last;
	sqlite3_stmt *st;

	if (!json_array_size(steps))
		return NU_OK;
	last = json_array_get(steps, json_array_size(steps) - 1);
	if (!json_is_null(json_object_get(last, "result")))
		return NU_OK;
	json_t *w = json_pack("{s:O,s:O}", "kind", json_object_get(last, "kind"),
			      "request", json_object_get(last, "request"));
	if (!(st = nu_store_stmt(s, "SELECT min(due) FROM wait WHERE run_id = ?", err))) {
		json_decref(w);
		return NU_EDB;
	}
	sqlite3_bind_int64(st, 1, run_id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		json_object_set_new(w, "until", json_integer(sqlite3_column_int64(st, 0)));
	sqlite3_reset(st);
	json_object_set_new(run, "waiting_for", w);
	return NU_OK;
}

static int add_sends(nu_store *s, int64_t run_id, json_t *run, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT op_id, seq, channel, state, attempts, provider_id, error, created_at, updated_at"
		" FROM outbox WHERE run_id = ? ORDER BY op_id", err);
	json_t *sends = json_array();

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, run_id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *o = json_pack("{s:I,s:I,s:s,s:s,s:I,s:I,s:I}",
			"op_id", (json_int_t)sqlite3_column_int64(st, 0),
			"seq", (json_int_t)sqlite3_column_int64(st, 1),
			"channel", sqlite3_column_text(st, 2), "state", sqlite3_column_text(st, 3),
			"attempts", (json_int_t)sqlite3_column_int64(st, 4),
			"queued_at", (json_int_t)sqlite3_column_int64(st, 7),
			"updated_at", (json_int_t)sqlite3_column_int64(st, 8));
		if (sqlite3_column_text(st, 5))
			json_object_set_new(o, "provider_id", json_string((const char *)sqlite3_column_text(st, 5)));
		if (sqlite3_column_text(st, 6))
			json_object_set_new(o, "error", json_string((const char *)sqlite3_column_text(st, 6)));
		json_array_append_new(sends, o);
	}
	sqlite3_reset(st);
	json_object_set_new(run, "sends", sends);
	return NU_OK;
}

static int add_trigger(nu_store *s, int64_t event_id, json_t *run, nu_error *err)
{
	sqlite3_stmt *st;

	if (!event_id)
		return NU_OK;
	if (!(st = nu_store_stmt(s, "SELECT type, at, props FROM event WHERE id = ?", err)))
		return NU_EDB;
	sqlite3_bind_int64(st, 1, event_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(run, "trigger", json_pack("{s:I,s:s,s:I,s:o}", "event_id",
			(json_int_t)event_id, "type", sqlite3_column_text(st, 0),
			"at", (json_int_t)sqlite3_column_int64(st, 1), "props",
			nu_json_parse_or_null((const char *)sqlite3_column_text(st, 2))));
	sqlite3_reset(st);
	return NU_OK;
}

int nu_why_build(nu_store *s, int64_t lead_id, const char *flow, json_t **out, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT id, flow, sha, status, coalesce(trigger_event_id, 0), created_at,"
		" coalesce(ended_at, 0), error FROM run WHERE lead_id = ?1"
		" AND (?2 IS NULL OR flow = ?2) ORDER BY id", err);
	json_t *runs = json_array();
	int rc = NU_OK;

	*out = NULL;
	if (!st) {
		json_decref(runs);
		return NU_EDB;
	}
	sqlite3_bind_int64(st, 1, lead_id);
	sqlite3_bind_text(st, 2, flow, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *run = json_pack("{s:I,s:s,s:s,s:s,s:I,s:I}",
			"id", (json_int_t)sqlite3_column_int64(st, 0), "flow", sqlite3_column_text(st, 1),
			"version", sqlite3_column_text(st, 2), "status", sqlite3_column_text(st, 3),
			"trigger_event_id", (json_int_t)sqlite3_column_int64(st, 4),
			"started_at", (json_int_t)sqlite3_column_int64(st, 5));
		if (sqlite3_column_int64(st, 6))
			json_object_set_new(run, "ended_at", json_integer(sqlite3_column_int64(st, 6)));
		if (sqlite3_column_text(st, 7))
			json_object_set_new(run, "error", json_string((const char *)sqlite3_column_text(st, 7)));
		json_array_append_new(runs, run);
	}
	sqlite3_reset(st);
	size_t i;
	json_t *run;
	/* Second pass: the run scan is closed, other statements may run. */
	json_array_foreach(runs, i, run) {
		int64_t id = json_integer_value(json_object_get(run, "id"));
		if (rc == NU_OK)
			rc = add_trigger(s, json_integer_value(json_object_get(run, "trigger_event_id")), run, err);
		if (rc == NU_OK)
			rc = add_steps(s, id, run, err);
		if (rc == NU_OK)
			rc = add_waiting(s, id, run, err);
		if (rc == NU_OK)
			rc = add_sends(s, id, run, err);
	}
	if (rc < 0) {
		json_decref(runs);
		return rc;
	}
	*out = json_pack("{s:I,s:o}", "lead_id", (json_int_t)lead_id, "runs", runs);
	return NU_OK;
}
