/*
 * api_leads.c — /v1/leads: search, create or update by identity, the 360°
 * profile, attribute changes, tags and stage.
 *
 * A lead in a path is named as the CLI names it: its id ("42"), an email,
 * a phone number or kind:value ("wechat_openid:o6_bm…"); merged-away ids
 * answer for their survivor. Every write is one transaction, answered
 * after the commit.
 */
#include <stdlib.h>
#include <string.h>
#include "api.h"
#include "ingest.h"
#include "leads.h"
#include "profile.h"
#include "stages.h"
#include "tags.h"

/* Runs fn(r, id, body, err) in a transaction and answers with the profile
 * of the lead (status 200), or the error. */
typedef int (*lead_change_fn)(nu_api_req *r, int64_t id, json_t *body, nu_error *err);

/* ?events=N: how many recent events the answer carries. Checked before
 * anything is written, so a bad value refuses the whole request. */
static int events_param(nu_api_req *r, int64_t *events)
{
	return nu_api_query_int(r, "events", 0, 1000, 20, events);
}

static void answer_profile(nu_api_req *r, int status, int64_t id)
{
	json_t *profile;
	nu_error err;
	int64_t events = 20;

	events_param(r, &events);   /* checked already by the caller */
	if (nu_profile_build(r->s, id, (size_t)events, &profile, &err) < 0)
		nu_api_fail(r, &err);
	else
		nu_api_json(r, status, profile);
}

static void change_lead(nu_api_req *r, const char *const *known, lead_change_fn fn)
{
	int64_t id, events;
	json_t *body = NULL;
	nu_error err;

	if (!events_param(r, &events) || (known && !(body = nu_api_body_object(r, known))) ||
	    !nu_api_lead_ref(r, r->seg[2], &id))
		goto out;
	if (nu_store_begin(r->s, &err) < 0 || fn(r, id, body, &err) < 0 ||
	    nu_store_commit(r->s, &err) < 0) {
		nu_store_rollback(r->s);
		nu_api_fail(r, &err);
		goto out;
	}
	nu_api_wake(r);
	answer_profile(r, 200, id);
out:
	json_decref(body);
}

/* ---- search ---- */

static json_t *lead_summary(sqlite3_stmt *st)
{
	json_t *o = json_pack("{s:I,s:s}", "id", (json_int_t)sqlite3_column_int64(st, 0), "stage",
			      (const char *)sqlite3_column_text(st, 1));
	static const char *const cols[] = { NULL, NULL, "name", "company", "email", "phone" };

	for (int c = 2; c < 6; c++)
		if (sqlite3_column_type(st, c) != SQLITE_NULL)
			json_object_set_new(o, cols[c], json_string((const char *)sqlite3_column_text(st, c)));
	json_object_set_new(o, "fit_score", json_real(sqlite3_column_double(st, 6)));
	json_object_set_new(o, "heat_score", json_real(sqlite3_column_double(st, 7)));
	return o;
}

/* GET /v1/leads?identity=…|tag=…|stage=…&limit=&after= : keyset pages by
 * id, so a page costs the same however deep it is. */
static void list_leads(nu_api_req *r)
{
	const char *identity = nu_api_query(r, "identity"), *tag = nu_api_query(r, "tag"),
		   *stage = nu_api_query(r, "stage");
	int64_t limit, after, id = 0;
	nu_error err;

	if (!nu_api_query_int(r, "limit", 1, 1000, 50, &limit) ||
	    !nu_api_query_int(r, "after", 0, INT64_MAX, 0, &after))
		return;
	if (stage && nu_stage_index(nu_stage_model_of(r->s), stage) < 0) {
		nu_api_error(r, 400, "invalid", "stage", "unknown stage '%s'", stage);
		return;
	}
	if (identity && nu_lead_resolve_ref(r->s, identity, &id, &err) < 0) {
		if (err.code != NU_ENOTFOUND) {
			nu_api_fail(r, &err);
			return;
		}
		id = -1;   /* names nobody: an empty page */
	}
	sqlite3_stmt *st = nu_store_stmt(r->s,
		"SELECT id, stage, name, company, email, phone, fit_score, heat_score FROM lead"
		" WHERE merged_into IS NULL AND id > ?1"
		" AND (?2 IS NULL OR stage = ?2)"
		" AND (?3 IS NULL OR id IN (SELECT lead_id FROM tag WHERE name = ?3"
		"      AND (expires_at IS NULL OR expires_at > ?6)))"
		" AND (?4 = 0 OR id = ?4)"
		" ORDER BY id LIMIT ?5", &err);
	if (!st) {
		nu_api_fail(r, &err);
		return;
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_text(st, 2, stage, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, tag, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, id);
	sqlite3_bind_int64(st, 5, limit);
	sqlite3_bind_int64(st, 6, nu_store_now(r->s));
	json_t *list = json_array();
	int64_t last = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		json_array_append_new(list, lead_summary(st));
	}
	sqlite3_reset(st);
	json_t *o = json_pack("{s:o}", "leads", list);
	if ((int64_t)json_array_size(list) == limit)
		json_object_set_new(o, "next_after", json_integer(last));
	nu_api_json(r, 200, o);
}

/* ---- create / update ---- */

/* POST /v1/leads: a lead record (identities, attributes, tags, stage) —
 * found by its identities or created, as an import row would be. */
static void post_lead(nu_api_req *r)
{
	const char *overwrite = nu_api_query(r, "overwrite");
	nu_ingest_result res;
	nu_error err;
	int64_t events;
	json_t *rec = events_param(r, &events) ? nu_api_body_object(r, NULL) : NULL;

	if (!rec)
		return;
	if (nu_store_begin(r->s, &err) < 0 ||
	    nu_ingest_lead(r->s, rec, overwrite && !strcmp(overwrite, "true") ? NU_LEAD_OVERWRITE : 0,
			   "api", &res, &err) < 0 ||
	    nu_store_commit(r->s, &err) < 0) {
		nu_store_rollback(r->s);
		nu_api_fail(r, &err);
	} else {
		nu_api_wake(r);
		answer_profile(r, res.resolve.created ? 201 : 200, res.resolve.lead_id);
	}
	json_decref(rec);
}

static int patch_attrs(nu_api_req *r, int64_t id, json_t *body, nu_error *err)
{
	nu_lead_update_result res;

	(void)r;
	return nu_lead_update(r->s, id, body, NU_LEAD_OVERWRITE, "api", &res, err);
}

/* PATCH /v1/leads/{lead}: attributes to set (null clears). */
static void patch_lead(nu_api_req *r)
{
	int64_t id, events;
	json_t *body = events_param(r, &events) ? nu_api_body_object(r, NULL) : NULL;
	nu_error err;

	if (!body)
		return;
	if (nu_api_lead_ref(r, r->seg[2], &id)) {
		if (nu_store_begin(r->s, &err) < 0 || patch_attrs(r, id, body, &err) < 0 ||
		    nu_store_commit(r->s, &err) < 0) {
			nu_store_rollback(r->s);
			nu_api_fail(r, &err);
		} else {
			nu_api_wake(r);
			answer_profile(r, 200, id);
		}
	}
	json_decref(body);
}

static void get_lead(nu_api_req *r)
{
	int64_t id, events;

	if (events_param(r, &events) && nu_api_lead_ref(r, r->seg[2], &id))
		answer_profile(r, 200, id);
}

/* ---- tags and stage ---- */

static int add_tag(nu_api_req *r, int64_t id, json_t *body, nu_error *err)
{
	json_t *tag = json_object_get(body, "tag"), *weight = json_object_get(body, "weight");

	(void)r;
	if (!json_is_string(tag))
		return nu_error_set(err, NU_EINVAL, "tag: must be a string (the tag's name)");
	if (weight && (!json_is_number(weight) || json_number_value(weight) < 0))
		return nu_error_set(err, NU_EINVAL, "weight: must be a number >= 0");
	return nu_tag_add(r->s, id, json_string_value(tag), weight ? json_number_value(weight) : -1,
			  "api", err);
}

static int remove_tag(nu_api_req *r, int64_t id, json_t *body, nu_error *err)
{
	(void)body;
	return nu_tag_remove(r->s, id, r->seg[4], "api", err);
}

static int set_stage(nu_api_req *r, int64_t id, json_t *body, nu_error *err)
{
	json_t *stage = json_object_get(body, "stage"), *reason = json_object_get(body, "reason");

	if (!json_is_string(stage))
		return nu_error_set(err, NU_EINVAL, "stage: must be a string (the stage's name)");
	if (reason && !json_is_string(reason))
		return nu_error_set(err, NU_EINVAL, "reason: must be a string");
	return nu_stage_set(r->s, id, json_string_value(stage),
			    reason ? json_string_value(reason) : "set over the API", "api", NULL, err);
}

static void post_tag(nu_api_req *r)
{
	static const char *const known[] = { "tag", "weight", NULL };
	change_lead(r, known, add_tag);
}

static void delete_tag(nu_api_req *r)
{
	change_lead(r, NULL, remove_tag);
}

static void put_stage(nu_api_req *r)
{
	static const char *const known[] = { "stage", "reason", NULL };
	change_lead(r, known, set_stage);
}

const nu_api_route nu_api_lead_routes[] = {
	{ NU_HTTP_GET, "/v1/leads", NU_SCOPE_READ, list_leads, 0 },
	{ NU_HTTP_POST, "/v1/leads", NU_SCOPE_INGEST, post_lead, 0 },
	{ NU_HTTP_GET, "/v1/leads/*", NU_SCOPE_READ, get_lead, 0 },
	{ NU_HTTP_PATCH, "/v1/leads/*", NU_SCOPE_ADMIN, patch_lead, 0 },
	{ NU_HTTP_POST, "/v1/leads/*/tags", NU_SCOPE_ADMIN, post_tag, 0 },
	{ NU_HTTP_DELETE, "/v1/leads/*/tags/*", NU_SCOPE_ADMIN, delete_tag, 0 },
	{ NU_HTTP_PUT | NU_HTTP_POST, "/v1/leads/*/stage", NU_SCOPE_ADMIN, put_stage, 0 },
	{ 0, NULL, 0, NULL, 0 },
};
