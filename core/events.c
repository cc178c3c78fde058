/*
 * events.c — appending events and reading a lead's timeline.
 *
 * Each event row carries prev_id, the lead's previous event, and the lead
 * row carries last_event_id. Appending is an insert at the end of the table
 * plus one update of the lead; reading a timeline follows the chain. See
 * schema.c for why there is no (lead_id, at) index.
 */
#include <stdlib.h>
#include <string.h>
#include "events.h"
#include "json_text.h"

int nu_event_type_check(const char *type, nu_error *err)
{
	size_t n = type ? strlen(type) : 0;

	if (n == 0 || n >= NU_EVENT_TYPE_MAX)
		return nu_error_set(err, NU_EINVAL, "type: must be 1 to %d characters",
				    NU_EVENT_TYPE_MAX - 1);
	for (const char *p = type; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '.'))
			return nu_error_set(err, NU_EINVAL,
				"type '%s': only lower-case letters, digits, '_' and '.'",
				type);
	return NU_OK;
}

int nu_event_find_dedupe(nu_store *s, const char *key, int64_t *id, int64_t *lead_id,
			 nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT id, lead_id FROM event WHERE dedupe_key = ?",
					 err);
	int rc;

	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		if (lead_id)
			*lead_id = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	return nu_store_fail(s, err, "checking dedupe key");
}

static int head_of(nu_store *s, int64_t lead_id, int64_t *head, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT last_event_id, merged_into FROM lead WHERE id = ?", err);
	int rc, merged = 0;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*head = sqlite3_column_int64(st, 0);   /* NULL reads as 0 */
		merged = sqlite3_column_type(st, 1) != SQLITE_NULL;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return nu_error_set(err, NU_ENOTFOUND, "lead %lld not found", (long long)lead_id);
	if (rc != SQLITE_ROW)
		return nu_store_fail(s, err, "reading lead");
	if (merged)
		return nu_error_set(err, NU_ESTATE, "lead %lld was merged; use its survivor",
				    (long long)lead_id);
	return NU_OK;
}

int nu_event_append(nu_store *s, const nu_event_in *in, int64_t *id, nu_error *err)
{
	int64_t head = 0, new_id;
	sqlite3_stmt *st;
	char *props;
	int rc;

	if (nu_event_type_check(in->type, err) < 0)
		return NU_EINVAL;
	if (in->props && !json_is_object(in->props))
		return nu_error_set(err, NU_EINVAL, "props: must be a JSON object");
	if (in->dedupe_key && (rc = nu_event_find_dedupe(s, in->dedupe_key, id, NULL, err)) != 0)
		return rc < 0 ? rc : NU_EDUP;
	if ((rc = head_of(s, in->lead_id, &head, err)) < 0)
		return rc;
	props = in->props ? nu_json_text(in->props) : strdup("{}");
	if (!props)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	if (!(st = nu_store_stmt(s,
		"INSERT INTO event (lead_id, prev_id, type, at, props, source, dedupe_key)"
		" VALUES (?, ?, ?, ?, ?, ?, ?)", err))) {
		free(props);
		return NU_EDB;
	}
	sqlite3_bind_int64(st, 1, in->lead_id);
	if (head)
		sqlite3_bind_int64(st, 2, head);
	sqlite3_bind_text(st, 3, in->type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, in->at ? in->at : nu_store_now(s));
	sqlite3_bind_text(st, 5, props, -1, free);
	sqlite3_bind_text(st, 6, in->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, in->dedupe_key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "appending event");
	new_id = sqlite3_last_insert_rowid(nu_store_db(s));
	if (!(st = nu_store_stmt(s, "UPDATE lead SET last_event_id = ? WHERE id = ?", err)))
		return NU_EDB;
	sqlite3_bind_int64(st, 1, new_id);
	sqlite3_bind_int64(st, 2, in->lead_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "linking event");
	*id = new_id;
	return NU_OK;
}

/* Reads one event row; returns its prev_id (0 at the chain's end). */
static int read_event(nu_store *s, int64_t id, nu_event *ev, int64_t *prev,
		      nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT lead_id, prev_id, type, at, props, source, dedupe_key"
		" FROM event WHERE id = ?", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return nu_error_set(err, NU_ERR, "event %lld missing from the chain",
				    (long long)id);
	}
	if (ev) {
		ev->id = id;
		ev->lead_id = sqlite3_column_int64(st, 0);
		ev->type = nu_store_text_dup(st, 2);
		ev->at = sqlite3_column_int64(st, 3);
		ev->props = nu_store_text_dup(st, 4);
		ev->source = nu_store_text_dup(st, 5);
		ev->dedupe_key = nu_store_text_dup(st, 6);
	}
	*prev = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return NU_OK;
}

int nu_event_timeline(nu_store *s, int64_t lead_id, int64_t before_id,
		      size_t limit, nu_event **out, size_t *n, nu_error *err)
{
	int64_t next;
	int rc;

	*out = NULL;
	*n = 0;
	if (before_id) {
		if ((rc = read_event(s, before_id, NULL, &next, err)) < 0)
			return rc;
	} else if ((rc = head_of(s, lead_id, &next, err)) < 0) {
		return rc;
	}
	if (limit == 0 || !next)
		return NU_OK;
	if (!(*out = calloc(limit, sizeof **out)))
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	while (next && *n < limit) {
		if ((rc = read_event(s, next, &(*out)[*n], &next, err)) < 0) {
			nu_events_free(*out, *n);
			*out = NULL;
			*n = 0;
			return rc;
		}
		(*n)++;
	}
	return NU_OK;
}

void nu_events_free(nu_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ev[i].type);
		free(ev[i].props);
		free(ev[i].source);
		free(ev[i].dedupe_key);
	}
	free(ev);
}

int nu_event_count(nu_store *s, int64_t lead_id, int64_t *count, nu_error *err)
{
	int64_t next;
	int rc;

	*count = 0;
	if ((rc = head_of(s, lead_id, &next, err)) < 0)
		return rc;
	while (next) {
		if ((rc = read_event(s, next, NULL, &next, err)) < 0)
			return rc;
		(*count)++;
	}
	return NU_OK;
}
