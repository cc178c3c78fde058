/*
 * leads.c — lead rows, typed attributes with progressive profiling, and
 * resolution of a user's lead reference to a lead id.
 *
 * The update writes every column through one static UPDATE statement
 * rather than composing SQL per changed field: no SQL is built from
 * strings, and the statement is prepared once.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "identity.h"
#include "json_text.h"
#include "leads.h"
#include "normalize.h"
#include "stages.h"

static const char *const field_names[NU_LEAD_NFIELDS] = {
	"name", "company", "title", "industry", "region",
	"product_interest", "phone", "email", "timezone",
};

#define FIELD_MAX 1024     /* bytes in one typed attribute */
#define CUSTOM_KEY_MAX 64

const char *nu_lead_field_name(int field)
{
	return field >= 0 && field < NU_LEAD_NFIELDS ? field_names[field] : NULL;
}

int nu_lead_field_lookup(const char *name)
{
	for (int i = 0; i < NU_LEAD_NFIELDS; i++)
		if (strcmp(field_names[i], name) == 0)
			return i;
	return -1;
}

static int64_t column_int_or0(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 :
	       sqlite3_column_int64(st, col);
}

int nu_lead_load(nu_store *s, int64_t id, nu_lead *out, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT stage, name, company, title, industry, region,"
		" product_interest, phone, email, timezone, custom, owner,"
		" fit_score, heat_score, stage_at, created_at, updated_at,"
		" last_event_id, merged_into, source FROM lead WHERE id = ?", err);
	int rc;

	memset(out, 0, sizeof *out);
	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, id);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return nu_error_set(err, NU_ENOTFOUND, "lead %lld not found",
					    (long long)id);
		return nu_store_fail(s, err, "loading lead");
	}
	out->id = id;
	snprintf(out->stage, sizeof out->stage, "%s", sqlite3_column_text(st, 0));
	for (int i = 0; i < NU_LEAD_NFIELDS; i++)
		out->field[i] = nu_store_text_dup(st, 1 + i);
	out->custom = json_loads((const char *)sqlite3_column_text(st, 10), 0, NULL);
	if (!json_is_object(out->custom)) {
		json_decref(out->custom);
		out->custom = json_object();
	}
	out->owner = nu_store_text_dup(st, 11);
	out->fit_score = sqlite3_column_double(st, 12);
	out->heat_score = sqlite3_column_double(st, 13);
	out->stage_at = sqlite3_column_int64(st, 14);
	out->created_at = sqlite3_column_int64(st, 15);
	out->updated_at = sqlite3_column_int64(st, 16);
	out->last_event_id = column_int_or0(st, 17);
	out->merged_into = column_int_or0(st, 18);
	out->source = nu_store_text_dup(st, 19);
	sqlite3_reset(st);
	return NU_OK;
}

void nu_lead_clear(nu_lead *l)
{
	for (int i = 0; i < NU_LEAD_NFIELDS; i++)
		free(l->field[i]);
	free(l->owner);
	free(l->source);
	json_decref(l->custom);
	memset(l, 0, sizeof *l);
}

/* Time zones are checked by shape ("Area/City", "UTC", "Etc/GMT+8"); the
 * tz database itself may not be installed on the server. */
static int timezone_shape_ok(const char *tz)
{
	if (strcmp(tz, "UTC") == 0)
		return 1;
	if (!isupper((unsigned char)tz[0]) || !strchr(tz, '/'))
		return 0;
	for (const char *p = tz; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
			return 0;
	return 1;
}

/* Normalises one typed value into `out`. Returns NU_OK or NU_EINVAL. */
static int normalize_field(nu_store *s, int field, const char *in, char *out,
			   size_t len, nu_error *err)
{
	char msg[256];
	const char *p = in, *e;

	if (field == NU_LEAD_EMAIL) {
		if (nu_norm_email(in, out, len, msg, sizeof msg) < 0)
			return nu_error_set(err, NU_EINVAL, "%s", msg);
		return NU_OK;
	}
	if (field == NU_LEAD_PHONE) {
		if (nu_norm_phone(in, nu_store_settings_of(s)->phone_default_cc,
				  out, len, msg, sizeof msg) < 0)
			return nu_error_set(err, NU_EINVAL, "%s", msg);
		return NU_OK;
	}
	while (isspace((unsigned char)*p))
		p++;
	e = p + strlen(p);
	while (e > p && isspace((unsigned char)e[-1]))
		e--;
	if ((size_t)(e - p) >= len)
		return nu_error_set(err, NU_EINVAL, "%s: longer than %zu bytes",
				    field_names[field], len - 1);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	if (field == NU_LEAD_TIMEZONE && out[0] && !timezone_shape_ok(out))
		return nu_error_set(err, NU_EINVAL,
			"timezone: '%s' is not a time zone name like 'Asia/Shanghai'", out);
	return NU_OK;
}

static int custom_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > CUSTOM_KEY_MAX)
		return 0;
	for (; *k; k++)
		if (!isalnum((unsigned char)*k) && *k != '_' && *k != '-')
			return 0;
	return 1;
}

/* Records one change into the history object: {field: [old, new]}.
 * old and new are borrowed (NULL = null). */
static void note_change(json_t *changes, const char *field, json_t *old, json_t *new)
{
	if (!changes)
		return;   /* creating: the new row itself is the record */
	json_t *pair = json_pack("[OO]", old ? old : json_null(), new ? new : json_null());
	json_object_set_new(changes, field, pair);
}

/* The same for text values, building the JSON only when it is kept. */
static void note_text_change(json_t *changes, const char *field, const char *old,
			     const char *new)
{
	json_t *o, *n;

	if (!changes)
		return;
	o = old ? json_string(old) : NULL;
	n = new ? json_string(new) : NULL;
	note_change(changes, field, o, n);
	json_decref(o);
	json_decref(n);
}

static int apply_typed(nu_store *s, nu_lead *l, int f, json_t *v, unsigned flags,
		       json_t *changes, nu_lead_update_result *res, nu_error *err)
{
	char value[FIELD_MAX];
	const char *cur = l->field[f];

	if (json_is_null(v)) {
		if (!cur || !(flags & NU_LEAD_OVERWRITE))
			return NU_OK;
		note_text_change(changes, field_names[f], cur, NULL);
		free(l->field[f]);
		l->field[f] = NULL;
		res->changed++;
		return NU_OK;
	}
	if (!json_is_string(v))
		return nu_error_set(err, NU_EINVAL, "%s: must be a string, got %s",
				    field_names[f], json_is_number(v) ? "a number" :
				    json_is_object(v) ? "an object" :
				    json_is_array(v) ? "an array" : "a boolean");
	if (normalize_field(s, f, json_string_value(v), value, sizeof value, err) < 0)
		return NU_EINVAL;
	if (!value[0] || (cur && strcmp(cur, value) == 0))
		return NU_OK;
	if (cur && !(flags & NU_LEAD_OVERWRITE)) {
		res->kept++;
		return NU_OK;
	}
	note_text_change(changes, field_names[f], cur, value);
	free(l->field[f]);
	l->field[f] = strdup(value);
	res->changed++;
	return l->field[f] ? NU_OK : nu_error_set(err, NU_ENOMEM, "out of memory");
}

static int apply_custom(nu_lead *l, const char *key, json_t *v, unsigned flags,
			json_t *changes, nu_lead_update_result *res, nu_error *err)
{
	json_t *cur = json_object_get(l->custom, key);

	if (!custom_key_ok(key))
		return nu_error_set(err, NU_EINVAL,
			"custom field name '%s' must be 1 to %d letters, digits, '_' or '-'",
			key, CUSTOM_KEY_MAX);
	if (json_is_object(v) || json_is_array(v))
		return nu_error_set(err, NU_EINVAL,
			"%s: custom fields hold strings, numbers or booleans", key);
	if (json_is_string(v) && json_string_length(v) == 0)
		return NU_OK;
	if (json_is_null(v)) {
		if (!cur || !(flags & NU_LEAD_OVERWRITE))
			return NU_OK;
		note_change(changes, key, cur, NULL);
		json_object_del(l->custom, key);
		res->changed++;
		return NU_OK;
	}
	if (cur && json_equal(cur, v))
		return NU_OK;
	if (cur && !(flags & NU_LEAD_OVERWRITE)) {
		res->kept++;
		return NU_OK;
	}
	note_change(changes, key, cur, v);
	json_object_set(l->custom, key, v);
	res->changed++;
	return NU_OK;
}

static int write_lead(nu_store *s, const nu_lead *l, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"UPDATE lead SET name = ?1, company = ?2, title = ?3, industry = ?4,"
		" region = ?5, product_interest = ?6, phone = ?7, email = ?8,"
		" timezone = ?9, custom = ?10, updated_at = ?11 WHERE id = ?12", err);
	char *custom;
	int rc;

	if (!st)
		return NU_EDB;
	for (int i = 0; i < NU_LEAD_NFIELDS; i++)
		sqlite3_bind_text(st, 1 + i, l->field[i], -1, SQLITE_STATIC);
	custom = nu_json_text(l->custom);
	if (!custom)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	sqlite3_bind_text(st, 10, custom, -1, free);
	sqlite3_bind_int64(st, 11, nu_store_now(s));
	sqlite3_bind_int64(st, 12, l->id);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "updating lead");
}

static int write_history(nu_store *s, int64_t id, json_t *changes,
			 const char *source, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"INSERT INTO lead_history (lead_id, at, source, changes) VALUES (?, ?, ?, ?)",
		err);
	char *text;

	if (!st)
		return NU_EDB;
	if (!(text = nu_json_text(changes)))
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, nu_store_now(s));
	sqlite3_bind_text(st, 3, source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, text, -1, free);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK :
	       nu_store_fail(s, err, "writing lead history");
}

/* Applies attrs to the in-memory lead, noting each change. Nothing is
 * written, so a bad value anywhere leaves the store untouched. */
static int apply_attrs(nu_store *s, nu_lead *l, json_t *attrs, unsigned flags,
		       json_t *changes, nu_lead_update_result *res, nu_error *err)
{
	const char *key;
	json_t *v;

	if (!json_is_object(attrs))
		return nu_error_set(err, NU_EINVAL, "attributes must be a JSON object");
	json_object_foreach(attrs, key, v) {
		int f = nu_lead_field_lookup(key);
		int rc = f >= 0 ? apply_typed(s, l, f, v, flags, changes, res, err)
				: apply_custom(l, key, v, flags, changes, res, err);
		if (rc < 0)
			return rc;
	}
	return NU_OK;
}

int nu_lead_update(nu_store *s, int64_t id, json_t *attrs, unsigned flags,
		   const char *source, nu_lead_update_result *res, nu_error *err)
{
	nu_lead_update_result local;
	json_t *changes;
	nu_lead l;
	int rc;

	if (!res)
		res = &local;
	memset(res, 0, sizeof *res);
	if (!json_is_object(attrs))
		return nu_error_set(err, NU_EINVAL, "attributes must be a JSON object");
	if ((rc = nu_lead_load(s, id, &l, err)) < 0)
		return rc;
	if (l.merged_into) {
		nu_lead_clear(&l);
		return nu_error_set(err, NU_ESTATE, "lead %lld was merged into lead %lld",
				    (long long)id, (long long)l.merged_into);
	}
	changes = json_object();
	rc = apply_attrs(s, &l, attrs, flags, changes, res, err);
	if (rc >= 0 && res->changed) {
		rc = write_lead(s, &l, err);
		if (rc == NU_OK)
			rc = write_history(s, id, changes, source, err);
	}
	json_decref(changes);
	nu_lead_clear(&l);
	return rc < 0 ? rc : NU_OK;
}

static int insert_lead(nu_store *s, const nu_lead *l, const char *source, int64_t *id,
		       nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"INSERT INTO lead (name, company, title, industry, region, product_interest,"
		" phone, email, timezone, custom, stage, stage_at, created_at, updated_at,"
		" source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?12, ?13)",
		err);
	char *custom;

	if (!st)
		return NU_EDB;
	for (int i = 0; i < NU_LEAD_NFIELDS; i++)
		sqlite3_bind_text(st, 1 + i, l->field[i], -1, SQLITE_STATIC);
	if (!(custom = nu_json_text(l->custom)))
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	sqlite3_bind_text(st, 10, custom, -1, free);
	sqlite3_bind_text(st, 11, nu_stage_model_of(s)->names[0], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, nu_store_now(s));
	sqlite3_bind_text(st, 13, source, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "creating lead");
	*id = sqlite3_last_insert_rowid(nu_store_db(s));
	return NU_OK;
}

int nu_lead_create(nu_store *s, json_t *attrs, unsigned flags, const char *source,
		   int64_t *id, nu_lead_update_result *res, nu_error *err)
{
	nu_lead_update_result local;
	nu_lead l = { 0 };
	int rc = NU_OK;

	if (!res)
		res = &local;
	memset(res, 0, sizeof *res);
	l.custom = json_object();
	if (attrs)
		rc = apply_attrs(s, &l, attrs, flags, NULL, res, err);
	if (rc == NU_OK)
		rc = insert_lead(s, &l, source, id, err);
	nu_lead_clear(&l);
	return rc;
}

int nu_lead_live_id(nu_store *s, int64_t id, int64_t *live, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT merged_into FROM lead WHERE id = ?", err);

	if (!st)
		return NU_EDB;
	/* Merge chains are short (a merged lead's own merges were moved to
	 * the survivor); the bound only guards against a corrupt cycle. */
	for (int hops = 0; hops < 64; hops++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			sqlite3_reset(st);
			return nu_error_set(err, NU_ENOTFOUND, "lead %lld not found",
					    (long long)id);
		}
		if (rc != SQLITE_ROW)
			return nu_store_fail(s, err, "resolving lead");
		if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
			sqlite3_reset(st);
			*live = id;
			return NU_OK;
		}
		id = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	return nu_error_set(err, NU_ERR, "lead %lld: merge chain too long", (long long)id);
}

static int all_digits(const char *p, size_t *n)
{
	*n = 0;
	for (; *p; p++, (*n)++)
		if (!isdigit((unsigned char)*p))
			return 0;
	return *n > 0;
}

int nu_lead_resolve_ref(nu_store *s, const char *ref, int64_t *id, nu_error *err)
{
	const char *colon = strchr(ref, ':');
	nu_identity ident;
	size_t ndigits;
	int kind = -1;

	if (ref[0] == '#')
		ref++;
	/* Plain numbers shorter than a mobile number are lead ids. */
	if (all_digits(ref, &ndigits) && ndigits < 11)
		return nu_lead_live_id(s, strtoll(ref, NULL, 10), id, err);
	if ((kind = nu_identity_split_ref(ref, &ref)) >= 0) {
		/* kind:value */
	} else if (colon && colon > ref && !strchr(ref, '@') &&
		   strspn(ref, "abcdefghijklmnopqrstuvwxyz_") == (size_t)(colon - ref)) {
		return nu_error_set(err, NU_EINVAL,
			"unknown identity kind '%.*s' (kinds: email, phone, wechat_openid, "
			"wechat_unionid, wecom_external_id, crm_id, anonymous_id)",
			(int)(colon - ref), ref);
	} else {
		kind = strchr(ref, '@') ? NU_ID_EMAIL : NU_ID_PHONE;
	}
	if (nu_identity_normalize(s, kind, ref, &ident, err) < 0)
		return NU_EINVAL;
	if (nu_identity_find(s, &ident, id, err) == NU_OK)
		return nu_lead_live_id(s, *id, id, err);
	return nu_error_set(err, NU_ENOTFOUND, "no lead with %s '%s'",
			    nu_identity_kind_name(kind), ident.value);
}

int nu_lead_set_scores(nu_store *s, int64_t id, double fit, double heat,
		       nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"UPDATE lead SET fit_score = ?, heat_score = ?, heat_at = ?,"
		" updated_at = ? WHERE id = ?", err);
	int64_t now = nu_store_now(s);

	if (!st)
		return NU_EDB;
	sqlite3_bind_double(st, 1, fit);
	sqlite3_bind_double(st, 2, heat);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "setting scores");
	return sqlite3_changes(nu_store_db(s)) ? NU_OK :
	       nu_error_set(err, NU_ENOTFOUND, "lead %lld not found", (long long)id);
}
