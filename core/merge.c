/*
 * merge.c — merging leads.
 *
 * The order matters: attributes are read from both leads before anything
 * moves, the event chains are re-linked while each lead still names its
 * own newest event, and the merged lead is marked last.
 */
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "leads.h"
#include "json_text.h"
#include "merge.h"
#include "stages.h"

/* Runs a statement of the form "… ?1 = survivor … ?2 = merged …" and
 * returns the number of rows it changed (or < 0). */
static int move_rows(nu_store *s, const char *sql, int64_t survivor,
		     int64_t merged, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, sql, err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, survivor);
	sqlite3_bind_int64(st, 2, merged);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "merging leads");
	return sqlite3_changes(nu_store_db(s));
}

static int move_tags(nu_store *s, int64_t survivor, int64_t merged, nu_error *err)
{
	int moved = move_rows(s,
		"INSERT INTO tag (lead_id, name, weight, class, source, at, expires_at)"
		" SELECT ?1, name, weight, class, source, at, expires_at FROM tag"
		" WHERE lead_id = ?2 AND true"
		" ON CONFLICT (lead_id, name) DO UPDATE SET"
		" weight = max(weight, excluded.weight),"
		" expires_at = CASE WHEN expires_at IS NULL OR excluded.expires_at IS NULL"
		"  THEN NULL ELSE max(expires_at, excluded.expires_at) END",
		survivor, merged, err);
	if (moved < 0)
		return moved;
	if (move_rows(s, "DELETE FROM tag WHERE lead_id = ?2",
		      survivor, merged, err) < 0)
		return NU_EDB;
	return moved;
}

/* Event ids of a lead's chain, newest first. */
static int chain_ids(nu_store *s, int64_t lead_id, int64_t **ids, size_t *n,
		     nu_error *err)
{
	sqlite3_stmt *head = nu_store_stmt(s, "SELECT last_event_id FROM lead WHERE id = ?", err);
	sqlite3_stmt *st;
	size_t cap = 0;
	int64_t next;

	*ids = NULL;
	*n = 0;
	if (!head)
		return NU_EDB;
	sqlite3_bind_int64(head, 1, lead_id);
	next = sqlite3_step(head) == SQLITE_ROW ? sqlite3_column_int64(head, 0) : 0;
	sqlite3_reset(head);
	if (!(st = nu_store_stmt(s, "SELECT prev_id FROM event WHERE id = ?", err)))
		return NU_EDB;
	while (next) {
		if (*n == cap) {
			int64_t *g = realloc(*ids, (cap = cap ? cap * 2 : 64) * sizeof *g);
			if (!g)
				return nu_error_set(err, NU_ENOMEM, "out of memory");
			*ids = g;
		}
		(*ids)[(*n)++] = next;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, next);
		next = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	}
	sqlite3_reset(st);
	return NU_OK;
}

static int relink(nu_store *s, int64_t survivor, const int64_t *ids, size_t n,
		  nu_error *err)
{
	sqlite3_stmt *st;

	for (size_t i = 0; i < n; i++) {
		if (!(st = nu_store_stmt(s,
			"UPDATE event SET lead_id = ?, prev_id = ? WHERE id = ?", err)))
			return NU_EDB;
		sqlite3_bind_int64(st, 1, survivor);
		if (i + 1 < n)
			sqlite3_bind_int64(st, 2, ids[i + 1]);
		sqlite3_bind_int64(st, 3, ids[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			return nu_store_fail(s, err, "re-linking events");
	}
	if (!(st = nu_store_stmt(s, "UPDATE lead SET last_event_id = ? WHERE id = ?", err)))
		return NU_EDB;
	if (n)
		sqlite3_bind_int64(st, 1, ids[0]);
	sqlite3_bind_int64(st, 2, survivor);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK :
	       nu_store_fail(s, err, "re-linking events");
}

/* Merges the two newest-first id lists into one and re-links the chain. */
static int move_events(nu_store *s, int64_t survivor, int64_t merged,
		       size_t *moved, nu_error *err)
{
	int64_t *a = NULL, *b = NULL, *all = NULL;
	size_t na = 0, nb = 0, i = 0, j = 0, k = 0;
	int rc;

	if ((rc = chain_ids(s, survivor, &a, &na, err)) < 0 ||
	    (rc = chain_ids(s, merged, &b, &nb, err)) < 0)
		goto out;
	*moved = nb;
	if (nb == 0)
		goto out;
	if (!(all = malloc((na + nb) * sizeof *all))) {
		rc = nu_error_set(err, NU_ENOMEM, "out of memory");
		goto out;
	}
	while (i < na || j < nb)
		all[k++] = (j >= nb || (i < na && a[i] > b[j])) ? a[i++] : b[j++];
	rc = relink(s, survivor, all, k, err);
out:
	free(a);
	free(b);
	free(all);
	return rc;
}

/* The merged lead's attributes as an update object (fills blanks only). */
static json_t *attrs_of(const nu_lead *l)
{
	json_t *o = json_deep_copy(l->custom);

	for (int f = 0; f < NU_LEAD_NFIELDS; f++)
		if (l->field[f])
			json_object_set_new(o, nu_lead_field_name(f), json_string(l->field[f]));
	return o;
}

static int merge_stage(nu_store *s, const nu_lead *a, const nu_lead *b,
		       json_t *detail, nu_error *err)
{
	const nu_stage_model *m = nu_stage_model_of(s);
	int ia = nu_stage_index(m, a->stage), ib = nu_stage_index(m, b->stage);
	char reason[96];

	/* Only a further funnel stage is taken over; side stages (Recycled,
	 * Disqualified) are decisions about this lead and stay. */
	if (ia < 0 || ib < 0 || (size_t)ia >= m->funnel_len ||
	    (size_t)ib >= m->funnel_len || ib <= ia)
		return NU_OK;
	snprintf(reason, sizeof reason, "merged with lead %lld", (long long)b->id);
	json_object_set_new(detail, "stage", json_pack("[ss]", a->stage, b->stage));
	return nu_stage_record(s, a->id, a->stage, b->stage, reason, "merge", err);
}

static int write_merge(nu_store *s, int64_t survivor, int64_t merged,
		       const char *reason, json_t *detail, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"INSERT INTO lead_merge (survivor_id, merged_id, at, reason, detail)"
		" VALUES (?, ?, ?, ?, ?)", err);
	char *text = nu_json_text(detail);

	if (!st || !text) {
		free(text);
		return st ? nu_error_set(err, NU_ENOMEM, "out of memory") : NU_EDB;
	}
	sqlite3_bind_int64(st, 1, survivor);
	sqlite3_bind_int64(st, 2, merged);
	sqlite3_bind_int64(st, 3, nu_store_now(s));
	sqlite3_bind_text(st, 4, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, text, -1, free);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK :
	       nu_store_fail(s, err, "recording merge");
}

static int set_merged_fields(nu_store *s, const nu_lead *a, const nu_lead *b,
			     nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"UPDATE lead SET fit_score = max(fit_score, ?1), heat_score = heat_score + ?2,"
		" owner = coalesce(owner, ?3), updated_at = ?4 WHERE id = ?5", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_double(st, 1, b->fit_score);
	sqlite3_bind_double(st, 2, b->heat_score);
	sqlite3_bind_text(st, 3, b->owner, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, nu_store_now(s));
	sqlite3_bind_int64(st, 5, a->id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "merging scores");
	return move_rows(s, "UPDATE lead SET merged_into = ?1 WHERE id = ?2", a->id, b->id, err) < 0 ? NU_EDB : NU_OK;
}

static int merge_locked(nu_store *s, const nu_lead *a, const nu_lead *b,
			const char *reason, nu_error *err)
{
	json_t *detail = json_object(), *attrs = attrs_of(b);
	nu_lead_update_result filled;
	char source[48];
	size_t events = 0;
	int n, rc = NU_EDB;

	snprintf(source, sizeof source, "merge:%lld", (long long)b->id);
	if ((n = move_rows(s, "UPDATE identity SET lead_id = ?1 WHERE lead_id = ?2",
			   a->id, b->id, err)) < 0)
		goto out;
	json_object_set_new(detail, "identities", json_integer(n));
	if ((n = move_tags(s, a->id, b->id, err)) < 0)
		goto out;
	json_object_set_new(detail, "tags", json_integer(n));
	if (move_events(s, a->id, b->id, &events, err) < 0)
		goto out;
	json_object_set_new(detail, "events", json_integer((json_int_t)events));
	if ((n = move_rows(s, "UPDATE stage_change SET lead_id = ?1 WHERE lead_id = ?2",
			   a->id, b->id, err)) < 0 ||
	    move_rows(s, "UPDATE tag_change SET lead_id = ?1 WHERE lead_id = ?2",
		      a->id, b->id, err) < 0 ||
	    move_rows(s, "UPDATE lead_history SET lead_id = ?1 WHERE lead_id = ?2",
		      a->id, b->id, err) < 0 ||
	    move_rows(s, "UPDATE lead_merge SET survivor_id = ?1 WHERE survivor_id = ?2",
		      a->id, b->id, err) < 0 ||
	    move_rows(s, "UPDATE lead SET merged_into = ?1 WHERE merged_into = ?2",
		      a->id, b->id, err) < 0 ||
	    /* The merged lead's flow runs go on as the survivor's. */
	    move_rows(s, "UPDATE run SET lead_id = ?1 WHERE lead_id = ?2", a->id, b->id, err) < 0 ||
	    move_rows(s, "UPDATE subscription SET lead_id = ?1 WHERE lead_id = ?2",
		      a->id, b->id, err) < 0 ||
	    move_rows(s, "UPDATE outbox SET lead_id = ?1 WHERE lead_id = ?2", a->id, b->id, err) < 0)
		goto out;
	json_object_set_new(detail, "stage_changes", json_integer(n));
	if (nu_lead_update(s, a->id, attrs, 0, source, &filled, err) < 0)
		goto out;
	json_object_set_new(detail, "fields_filled", json_integer(filled.changed));
	json_object_set_new(detail, "fields_conflicting", json_integer(filled.kept));
	if (merge_stage(s, a, b, detail, err) < 0 || set_merged_fields(s, a, b, err) < 0)
		goto out;
	rc = write_merge(s, a->id, b->id, reason, detail, err);
out:
	json_decref(detail);
	json_decref(attrs);
	return rc;
}

int nu_lead_merge(nu_store *s, int64_t survivor, int64_t merged,
		  const char *reason, nu_error *err)
{
	nu_lead a, b;
	int rc;

	if (survivor == merged)
		return nu_error_set(err, NU_EINVAL, "cannot merge lead %lld into itself",
				    (long long)survivor);
	if ((rc = nu_lead_load(s, survivor, &a, err)) < 0)
		return rc;
	if ((rc = nu_lead_load(s, merged, &b, err)) < 0) {
		nu_lead_clear(&a);
		return rc;
	}
	if (a.merged_into || b.merged_into) {
		rc = nu_error_set(err, NU_ESTATE, "lead %lld was already merged",
				  (long long)(a.merged_into ? a.id : b.id));
	} else if ((rc = nu_store_savepoint(s, err)) == NU_OK) {
		rc = merge_locked(s, &a, &b, reason, err);
		if (rc < 0)
			nu_store_rollback_to(s);
		else
			rc = nu_store_release(s, err);
	}
	nu_lead_clear(&a);
	nu_lead_clear(&b);
	return rc;
}
