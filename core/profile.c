/*
 * profile.c — assembling a lead's 360° view and the funnel summary.
 */
#include <string.h>
#include "events.h"
#include "json_text.h"
#include "leads.h"
#include "profile.h"
#include "stages.h"
#include "tags.h"
#include "timefmt.h"

static json_t *time_json(int64_t ms)
{
	char buf[40];
	return ms ? json_string(nu_time_format(ms, buf, sizeof buf)) : json_null();
}

static json_t *col_json(sqlite3_stmt *st, int col)
{
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_NULL: return json_null();
	case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, col));
	case SQLITE_FLOAT: return json_real(sqlite3_column_double(st, col));
	default: return json_string((const char *)sqlite3_column_text(st, col));
	}
}

/* Runs a query bound to the lead id and collects rows as objects. Column
 * names become keys; columns named *_at become times, *_json parsed JSON. */
static int rows_json(nu_store *s, const char *sql, int64_t id, json_t *into,
		     nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, sql, err);
	int rc;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *row = json_object();
		for (int c = 0; c < sqlite3_column_count(st); c++) {
			const char *name = sqlite3_column_name(st, c);
			size_t n = strlen(name);
			json_t *v;
			char key[64];
			snprintf(key, sizeof key, "%s", name);
			if (!strcmp(name, "at") || (n > 3 && strcmp(name + n - 3, "_at") == 0))
				v = time_json(sqlite3_column_int64(st, c));
			else if (n > 5 && strcmp(name + n - 5, "_json") == 0) {
				v = nu_json_parse_or_null((const char *)sqlite3_column_text(st, c));
				key[n - 5] = '\0';
			} else
				v = col_json(st, c);
			json_object_set_new(row, key, v);
		}
		json_array_append_new(into, row);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "reading profile");
}

static json_t *lead_core(const nu_lead *l)
{
	json_t *o = json_object(), *attrs = json_object();

	json_object_set_new(o, "id", json_integer(l->id));
	json_object_set_new(o, "stage", json_string(l->stage));
	json_object_set_new(o, "stage_since", time_json(l->stage_at));
	for (int f = 0; f < NU_LEAD_NFIELDS; f++)
		json_object_set_new(attrs, nu_lead_field_name(f),
				    l->field[f] ? json_string(l->field[f]) : json_null());
	json_object_set_new(o, "attributes", attrs);
	json_object_set(o, "custom", l->custom);
	json_object_set_new(o, "scores", json_pack("{s:f,s:f}", "fit", l->fit_score,
						   "heat", l->heat_score));
	json_object_set_new(o, "owner", l->owner ? json_string(l->owner) : json_null());
	json_object_set_new(o, "created_at", time_json(l->created_at));
	json_object_set_new(o, "created_by", l->source ? json_string(l->source) : json_null());
	json_object_set_new(o, "updated_at", time_json(l->updated_at));
	return o;
}

static json_t *tags_json(const nu_tag *t, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:f,s:s,s:o,s:o}",
			"name", t[i].name, "category", t[i].category, "class", t[i].tag_class,
			"weight", t[i].weight, "source", t[i].source, "at", time_json(t[i].at),
			"expires_at", time_json(t[i].expires_at)));
	return a;
}

static json_t *events_json(const nu_event *ev, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I,s:s,s:o,s:o,s:o,s:o}",
			"id", (json_int_t)ev[i].id, "type", ev[i].type, "at", time_json(ev[i].at),
			"props", nu_json_parse_or_null(ev[i].props),
			"source", ev[i].source ? json_string(ev[i].source) : json_null(),
			"dedupe_key", ev[i].dedupe_key ? json_string(ev[i].dedupe_key) : json_null()));
	return a;
}

/* The flows the lead is or was in, and what was sent to it: a sales rep
 * asks "what has this lead received, and did it arrive?" */
static int add_runs_and_messages(nu_store *s, int64_t id, json_t *o, nu_error *err)
{
	json_t *runs = json_array(), *msgs = json_array();
	int rc;

	json_object_set_new(o, "runs", runs);
	json_object_set_new(o, "messages", msgs);
	if ((rc = rows_json(s, "SELECT id, flow, status, created_at AS started_at, ended_at AS ended_at,"
			    " error FROM run WHERE lead_id = ? ORDER BY id DESC LIMIT 50", id, runs, err)) < 0)
		return rc;
	return rows_json(s, "SELECT op_id, channel, json_extract(message, '$.template') AS template,"
			 " state, attempts, provider_id, error, created_at AS created_at,"
			 " updated_at AS updated_at FROM outbox WHERE lead_id = ? ORDER BY op_id DESC LIMIT 50",
			 id, msgs, err);
}

static int add_lists(nu_store *s, int64_t id, json_t *o, nu_error *err)
{
	json_t *ids = json_array(), *stages = json_array(), *merges = json_array(),
	       *hist = json_array();
	int rc;

	json_object_set_new(o, "identities", ids);
	json_object_set_new(o, "stage_history", stages);
	json_object_set_new(o, "merges", merges);
	json_object_set_new(o, "history", hist);
	if ((rc = rows_json(s, "SELECT kind, value, at, source FROM identity"
			    " WHERE lead_id = ? ORDER BY kind, at", id, ids, err)) < 0 ||
	    (rc = rows_json(s, "SELECT from_stage AS \"from\", to_stage AS \"to\", at AS at,"
			    " reason, actor FROM stage_change WHERE lead_id = ? ORDER BY id",
			    id, stages, err)) < 0 ||
	    (rc = rows_json(s, "SELECT merged_id, at AS at, reason, detail AS detail_json"
			    " FROM lead_merge WHERE survivor_id = ? ORDER BY id",
			    id, merges, err)) < 0)
		return rc;
	if ((rc = rows_json(s, "SELECT at AS at, source, changes AS changes_json FROM lead_history"
			    " WHERE lead_id = ? ORDER BY id DESC LIMIT 20", id, hist, err)) < 0)
		return rc;
	return add_runs_and_messages(s, id, o, err);
}

int nu_profile_build(nu_store *s, int64_t id, size_t events, json_t **out,
		     nu_error *err)
{
	nu_event *ev = NULL;
	nu_tag *tags = NULL;
	size_t ntags, nev;
	int64_t total;
	nu_lead l;
	int rc;

	*out = NULL;
	if ((rc = nu_lead_live_id(s, id, &id, err)) < 0 ||
	    (rc = nu_lead_load(s, id, &l, err)) < 0)
		return rc;
	json_t *o = lead_core(&l);
	nu_lead_clear(&l);
	if ((rc = nu_tag_list(s, id, &tags, &ntags, err)) == NU_OK)
		json_object_set_new(o, "tags", tags_json(tags, ntags));
	free(tags);
	if (rc == NU_OK && (rc = nu_event_timeline(s, id, 0, events, &ev, &nev, err)) == NU_OK) {
		json_object_set_new(o, "events", events_json(ev, nev));
		nu_events_free(ev, nev);
	}
	if (rc == NU_OK && (rc = nu_event_count(s, id, &total, err)) == NU_OK)
		json_object_set_new(o, "events_total", json_integer(total));
	if (rc == NU_OK)
		rc = add_lists(s, id, o, err);
	if (rc < 0) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return NU_OK;
}

/* reached[i]: live leads whose furthest funnel stage, ever, is at or past
 * stage i. Counted per lead in C because a forward skip (Lead → SQL)
 * reaches the skipped stages without logging them. */
static int reached_counts(nu_store *s, int64_t reached[NU_STAGE_MAX], nu_error *err)
{
	const nu_stage_model *m = nu_stage_model_of(s);
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT l.id, l.stage, c.to_stage FROM lead l"
		" LEFT JOIN stage_change c ON c.lead_id = l.id"
		" WHERE l.merged_into IS NULL ORDER BY l.id", err);
	int64_t cur = -1;
	int best = -1, rc;

	memset(reached, 0, sizeof(int64_t) * NU_STAGE_MAX);
	if (!st)
		return NU_EDB;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (id != cur) {
			for (int i = 0; i <= best; i++)
				reached[i]++;
			cur = id;
			best = nu_stage_index(m, (const char *)sqlite3_column_text(st, 1));
			if (best < 0 || best >= (int)m->funnel_len)
				best = 0;
		}
		if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
			int i = nu_stage_index(m, (const char *)sqlite3_column_text(st, 2));
			if (i >= 0 && i < (int)m->funnel_len && i > best)
				best = i;
		}
	}
	for (int i = 0; i <= best; i++)
		reached[i]++;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "counting funnel");
}

int nu_profile_funnel(nu_store *s, json_t **out, nu_error *err)
{
	const nu_stage_model *m = nu_stage_model_of(s);
	int64_t now[NU_STAGE_MAX], reached[NU_STAGE_MAX], total = 0;
	json_t *stages = json_array();

	*out = NULL;
	if (nu_stage_counts(s, now, err) < 0 || reached_counts(s, reached, err) < 0) {
		json_decref(stages);
		return NU_EDB;
	}
	for (size_t i = 0; i < m->n; i++)
		total += now[i];
	for (size_t i = 0; i < m->n; i++) {
		json_t *row = json_pack("{s:s,s:I,s:b}", "stage", m->names[i],
					"now", (json_int_t)now[i], "funnel", i < m->funnel_len);
		if (i < m->funnel_len) {
			json_object_set_new(row, "reached", json_integer(reached[i]));
			if (i > 0)
				json_object_set_new(row, "conversion_pct",
					reached[i - 1] ? json_real(100.0 * (double)reached[i] /
								   (double)reached[i - 1])
						       : json_null());
		}
		json_array_append_new(stages, row);
	}
	*out = json_pack("{s:I,s:o}", "leads", (json_int_t)total, "stages", stages);
	return NU_OK;
}
