/*
 * ingest.c — lead and event records into the store.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "events.h"
#include "ingest.h"
#include "stages.h"
#include "tags.h"
#include "timefmt.h"

/* Keys of an event record; anything else is refused as unknown, because a
 * misspelt "dedupe_kye" silently ignored would double-count. */
static const char *const event_keys[] = {
	"lead_id", "type", "at", "props", "dedupe_key", "attrs", NULL,
};

static int is_identity_key(const char *k)
{
	return nu_identity_kind_lookup(k) >= 0;
}

int nu_ingest_identities(nu_store *s, json_t *rec, nu_identity *ids,
			 size_t max, size_t *n, nu_error *err)
{
	*n = 0;
	for (int kind = 0; kind < NU_ID_NKINDS; kind++) {
		const char *name = nu_identity_kind_name(kind);
		json_t *v = json_object_get(rec, name);
		if (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)))
			continue;
		if (!json_is_string(v))
			return nu_error_set(err, NU_EINVAL, "%s: must be a string", name);
		if (*n == max)
			return nu_error_set(err, NU_EINVAL, "too many identities");
		if (nu_identity_normalize(s, kind, json_string_value(v), &ids[*n], err) < 0)
			return NU_EINVAL;
		(*n)++;
	}
	return NU_OK;
}

/* Adds each tag of "tags": a JSON list or a ';'-separated string. */
static int apply_tags(nu_store *s, int64_t lead, json_t *tags, const char *source,
		      int *added, nu_error *err)
{
	char buf[2048], *save = NULL;

	if (json_is_array(tags)) {
		size_t i;
		json_t *t;
		json_array_foreach(tags, i, t) {
			if (!json_is_string(t))
				return nu_error_set(err, NU_EINVAL, "tags[%zu]: must be a string", i);
			if (nu_tag_add(s, lead, json_string_value(t), -1, source, err) < 0)
				return nu_error_prefix(err, "tags");
			(*added)++;
		}
		return NU_OK;
	}
	if (!json_is_string(tags))
		return nu_error_set(err, NU_EINVAL, "tags: must be a list or a ';'-separated string");
	snprintf(buf, sizeof buf, "%s", json_string_value(tags));
	for (char *t = strtok_r(buf, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
		while (isspace((unsigned char)*t))
			t++;
		for (char *e = t + strlen(t); e > t && isspace((unsigned char)e[-1]); )
			*--e = '\0';
		if (!*t)
			continue;
		if (nu_tag_add(s, lead, t, -1, source, err) < 0)
			return nu_error_prefix(err, "tags");
		(*added)++;
	}
	return NU_OK;
}

/* The record's attributes: everything but identities (except the email and
 * phone contact fields), tags, stage and custom, with custom flattened. */
static json_t *lead_attrs(json_t *rec, nu_error *err)
{
	json_t *attrs = json_object(), *v, *custom = json_object_get(rec, "custom");
	const char *k;

	json_object_foreach(rec, k, v) {
		if ((is_identity_key(k) && strcmp(k, "email") && strcmp(k, "phone")) ||
		    !strcmp(k, "tags") || !strcmp(k, "stage") || !strcmp(k, "custom") ||
		    !strcmp(k, "lead_id"))
			continue;
		json_object_set(attrs, k, v);
	}
	if (custom && !json_is_object(custom)) {
		json_decref(attrs);
		nu_error_set(err, NU_EINVAL, "custom: must be an object");
		return NULL;
	}
	if (custom)
		json_object_update_missing(attrs, custom);
	return attrs;
}

static int source_tag(nu_store *s, int64_t lead, json_t *rec, const char *source,
		      int *added, nu_error *err)
{
	json_t *v = json_object_get(rec, "source");
	char tag[NU_TAG_NAME_MAX];

	if (!json_is_string(v) || !json_string_length(v))
		return NU_OK;
	snprintf(tag, sizeof tag, "source:%s", json_string_value(v));
	for (char *p = tag; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (nu_tag_name_check(tag, NULL) < 0)
		return NU_OK;   /* a free-text source stays a custom field only */
	if (nu_tag_add(s, lead, tag, -1, source, err) < 0)
		return NU_EDB;
	(*added)++;
	return NU_OK;
}

static int apply_stage(nu_store *s, int64_t lead, json_t *stage, int created,
		       const char *source, int *changed, nu_error *err)
{
	const nu_stage_model *m = nu_stage_model_of(s);
	const char *to;

	if (!json_is_string(stage))
		return nu_error_set(err, NU_EINVAL, "stage: must be a string");
	to = json_string_value(stage);
	if (nu_stage_index(m, to) < 0)
		return nu_error_set(err, NU_EINVAL, "stage: unknown stage '%s'", to);
	/* A lead created by this record starts where the source says it is
	 * (a CRM export of SQLs); an existing lead must follow the rules. */
	if (created) {
		if (strcmp(to, m->names[0]) == 0)
			return NU_OK;
		*changed = 1;
		return nu_stage_record(s, lead, m->names[0], to, "initial stage", source, err);
	}
	return nu_stage_set(s, lead, to, "imported", source, changed, err);
}

static int lead_locked(nu_store *s, json_t *rec, unsigned flags, const char *source,
		       nu_ingest_result *res, nu_error *err)
{
	nu_identity ids[NU_ID_NKINDS];
	json_t *attrs, *v;
	size_t n;
	int rc;

	if (nu_ingest_identities(s, rec, ids, NU_ID_NKINDS, &n, err) < 0)
		return NU_EINVAL;
	if (!(attrs = lead_attrs(rec, err)))
		return NU_EINVAL;
	rc = nu_identity_resolve_with(s, ids, n, source, attrs, flags, &res->resolve,
				      &res->update, err);
	json_decref(attrs);
	if (rc == NU_OK && (v = json_object_get(rec, "tags")))
		rc = apply_tags(s, res->resolve.lead_id, v, source, &res->tags_added, err);
	if (rc == NU_OK)
		rc = source_tag(s, res->resolve.lead_id, rec, source, &res->tags_added, err);
	if (rc == NU_OK && (v = json_object_get(rec, "stage")) && !json_is_null(v))
		rc = apply_stage(s, res->resolve.lead_id, v, res->resolve.created, source,
				 &res->stage_changed, err);
	return rc;
}

/* Runs fn inside a savepoint: the record is stored whole or not at all. */
static int atomically(nu_store *s, int (*fn)(nu_store *, json_t *, unsigned,
					       const char *, nu_ingest_result *, nu_error *),
		      json_t *rec, unsigned flags, const char *source,
		      nu_ingest_result *res, nu_error *err)
{
	int rc;

	memset(res, 0, sizeof *res);
	if (!json_is_object(rec))
		return nu_error_set(err, NU_EINVAL, "a record must be a JSON object");
	if (nu_store_savepoint(s, err) < 0)
		return NU_EDB;
	if ((rc = fn(s, rec, flags, source, res, err)) < 0) {
		nu_store_rollback_to(s);
		return rc;
	}
	return nu_store_release(s, err);
}

int nu_ingest_lead(nu_store *s, json_t *rec, unsigned flags,
		   const char *source, nu_ingest_result *res, nu_error *err)
{
	return atomically(s, lead_locked, rec, flags, source, res, err);
}

static int check_event_keys(json_t *rec, nu_error *err)
{
	const char *k;
	json_t *v;

	json_object_foreach(rec, k, v) {
		int ok = is_identity_key(k);
		for (const char *const *e = event_keys; !ok && *e; e++)
			ok = strcmp(k, *e) == 0;
		if (!ok)
			return nu_error_set(err, NU_EINVAL,
				"unknown field '%s' (event fields: type, at, props, "
				"dedupe_key, attrs, lead_id and identities)", k);
	}
	return NU_OK;
}

static int event_time(json_t *at, int64_t *ms, nu_error *err)
{
	char msg[200];

	*ms = 0;
	if (!at || json_is_null(at))
		return NU_OK;
	if (json_is_integer(at)) {
		*ms = json_integer_value(at);
		if (*ms <= 0)
			return nu_error_set(err, NU_EINVAL, "at: must be positive");
		/* Before 1973 in ms is almost surely epoch seconds: refuse, as the
		 * text form does, rather than store an event in 1970. */
		if (*ms < 100000000000LL)
			return nu_error_set(err, NU_EINVAL,
				"at: %lld looks like epoch seconds; give milliseconds or RFC 3339 text",
				(long long)*ms);
		return NU_OK;
	}
	if (!json_is_string(at))
		return nu_error_set(err, NU_EINVAL,
			"at: must be RFC 3339 text or epoch milliseconds");
	if (nu_time_parse(json_string_value(at), ms, msg, sizeof msg) < 0)
		return nu_error_set(err, NU_EINVAL, "at: %s", msg);
	return NU_OK;
}

static int event_lead(nu_store *s, json_t *rec, const char *source,
		      nu_ingest_result *res, nu_error *err)
{
	json_t *lid = json_object_get(rec, "lead_id");
	nu_identity ids[NU_ID_NKINDS];
	size_t n;

	if (nu_ingest_identities(s, rec, ids, NU_ID_NKINDS, &n, err) < 0)
		return NU_EINVAL;
	if (lid && !json_is_integer(lid))
		return nu_error_set(err, NU_EINVAL, "lead_id: must be an integer");
	if (lid && n)
		return nu_error_set(err, NU_EINVAL,
			"give either lead_id or identities, not both");
	if (lid)
		return nu_lead_live_id(s, json_integer_value(lid), &res->resolve.lead_id, err);
	/* A lead made by an event also gets its contact fields, as an
	 * imported one does. */
	json_t *contact = json_object();
	for (size_t i = 0; i < n; i++)
		if (ids[i].kind == NU_ID_EMAIL || ids[i].kind == NU_ID_PHONE)
			json_object_set_new(contact, nu_identity_kind_name(ids[i].kind),
					    json_string(ids[i].value));
	int rc = nu_identity_resolve_with(s, ids, n, source, contact, NU_LEAD_ONLY_ON_NEW_IDENTITY,
					  &res->resolve, &res->update, err);
	json_decref(contact);
	return rc;
}

/* Writers inside the daemon: plugins, tracking, bounces. */
static int internal_source(const char *source)
{
	return source && (!strncmp(source, "plugin:", 7) || !strcmp(source, "tracking") ||
			  !strcmp(source, "bounce"));
}

static int event_locked(nu_store *s, json_t *rec, unsigned flags, const char *source,
			nu_ingest_result *res, nu_error *err)
{
	json_t *type = json_object_get(rec, "type"), *props = json_object_get(rec, "props");
	json_t *key = json_object_get(rec, "dedupe_key"), *attrs = json_object_get(rec, "attrs");
	nu_event_in in = { 0 };
	int rc;

	(void)flags;
	if (check_event_keys(rec, err) < 0)
		return NU_EINVAL;
	if (!json_is_string(type))
		return nu_error_set(err, NU_EINVAL, type ? "type: must be a string" :
				    "type: required (e.g. \"form.submitted\")");
	if (props && !json_is_null(props) && !json_is_object(props))
		return nu_error_set(err, NU_EINVAL, "props: must be an object");
	if (key && !json_is_null(key) && !json_is_string(key))
		return nu_error_set(err, NU_EINVAL, "dedupe_key: must be a string");
	/* Keys the daemon makes for receipts, callbacks, unsubscribes and
	 * bounces live under "nu:": an outside writer claiming one first
	 * would make the real one a silent duplicate. */
	if (json_is_string(key) && !strncmp(json_string_value(key), "nu:", 3) && !internal_source(source))
		return nu_error_set(err, NU_EINVAL, "dedupe_key: the 'nu:' prefix is reserved for the "
				    "daemon's own events");
	if (attrs && !json_is_object(attrs))
		return nu_error_set(err, NU_EINVAL, "attrs: must be an object");
	if (nu_event_type_check(json_string_value(type), err) < 0 ||
	    event_time(json_object_get(rec, "at"), &in.at, err) < 0)
		return NU_EINVAL;
	/* A known dedupe key is answered before identities are resolved, so a
	 * repeated delivery writes nothing at all. */
	if (json_is_string(key) &&
	    (rc = nu_event_find_dedupe(s, json_string_value(key), &res->event_id,
				       &res->resolve.lead_id, err)) != 0) {
		res->duplicate = rc > 0;
		return rc < 0 ? rc : NU_OK;
	}
	if ((rc = event_lead(s, rec, source, res, err)) < 0)
		return rc;
	in.lead_id = res->resolve.lead_id;
	in.type = json_string_value(type);
	in.props = json_is_object(props) ? props : NULL;
	in.source = source;
	in.dedupe_key = json_is_string(key) ? json_string_value(key) : NULL;
	rc = nu_event_append(s, &in, &res->event_id, err);
	if (rc == NU_EDUP) {
		res->duplicate = 1;
		return NU_OK;
	}
	if (rc == NU_OK && attrs)
		rc = nu_lead_update(s, in.lead_id, attrs, 0, source, &res->update, err);
	return rc;
}

int nu_ingest_event(nu_store *s, json_t *rec, const char *source,
		    nu_ingest_result *res, nu_error *err)
{
	return atomically(s, event_locked, rec, 0, source, res, err);
}
