/*
 * tags.c — tag definitions, tagging, and expiry.
 *
 * Expiry is enforced twice on purpose: reads (has, list) ignore tags whose
 * time has passed, so a late sweep never shows a stale tag; the sweep
 * (nu_tag_expire) then deletes them and writes the history row.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tags.h"

static const char *const categories[] = { "attribute", "source", "behaviour", "interest", "industry" };
static const char *const classes[] = { "fact", "analytic", "predictive" };

static int in_list(const char *v, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v, list[i]) == 0)
			return 1;
	return 0;
}

int nu_tag_category_valid(const char *c) { return in_list(c, categories, 5); }
int nu_tag_class_valid(const char *c) { return in_list(c, classes, 3); }

int nu_tag_name_check(const char *name, nu_error *err)
{
	size_t n = strlen(name);

	if (n == 0 || n >= NU_TAG_NAME_MAX)
		return nu_error_set(err, NU_EINVAL, "tag name must be 1 to %d bytes",
				    NU_TAG_NAME_MAX - 1);
	if (name[0] == ':' || name[n - 1] == ':' || strstr(name, "::"))
		return nu_error_set(err, NU_EINVAL,
			"tag '%s': empty namespace part (use 'interest:crm')", name);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		/* Bytes >= 0x80 are UTF-8: Chinese tag names are fine. */
		if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p >= 0x80 || strchr("_-.:", *p))
			continue;
		return nu_error_set(err, NU_EINVAL,
			"tag '%s': '%c' not allowed (lower-case letters, digits, "
			"'_', '-', '.', ':' as namespace separator)", name, *p);
	}
	return NU_OK;
}

/* "behavior:" is accepted for "behaviour:" — both spellings are common. */
const char *nu_tag_default_category(const char *name)
{
	const char *colon = strchr(name, ':');
	char ns[32];
	size_t len;

	if (!colon || (len = (size_t)(colon - name)) >= sizeof ns)
		return "attribute";
	memcpy(ns, name, len);
	ns[len] = '\0';
	if (strcmp(ns, "behavior") == 0)
		return "behaviour";
	for (size_t i = 0; i < 5; i++)
		if (strcmp(ns, categories[i]) == 0)
			return categories[i];
	return "attribute";
}

/* Binds a definition to ?1..?6 (name, category, class, weight, ttl, description). */
static void bind_def(sqlite3_stmt *st, const nu_tag_def *d)
{
	sqlite3_bind_text(st, 1, d->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->category, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->tag_class, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 4, d->weight);
	if (d->ttl_ms)
		sqlite3_bind_int64(st, 5, d->ttl_ms);
	sqlite3_bind_text(st, 6, d->description[0] ? d->description : NULL, -1, SQLITE_STATIC);
}

int nu_tag_def_put(nu_store *s, const nu_tag_def *d, nu_error *err)
{
	sqlite3_stmt *st;

	if (nu_tag_name_check(d->name, err) < 0)
		return NU_EINVAL;
	if (!nu_tag_category_valid(d->category))
		return nu_error_set(err, NU_EINVAL,
			"tag '%s': category '%s' is not one of attribute, source, "
			"behaviour, interest, industry", d->name, d->category);
	if (!nu_tag_class_valid(d->tag_class))
		return nu_error_set(err, NU_EINVAL,
			"tag '%s': class '%s' is not one of fact, analytic, predictive",
			d->name, d->tag_class);
	if (d->ttl_ms < 0)
		return nu_error_set(err, NU_EINVAL, "tag '%s': negative ttl", d->name);
	st = nu_store_stmt(s,
		"INSERT INTO tag_def (name, category, class, weight, ttl_ms, description)"
		" VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
		" category = excluded.category, class = excluded.class,"
		" weight = excluded.weight, ttl_ms = excluded.ttl_ms,"
		" description = excluded.description", err);
	if (!st)
		return NU_EDB;
	bind_def(st, d);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK :
	       nu_store_fail(s, err, "saving tag definition");
}

int nu_tag_def_same(nu_store *s, const nu_tag_def *d, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT count(*) FROM tag_def WHERE name = ? AND category = ? AND class = ?"
		" AND weight = ? AND ttl_ms IS ? AND description IS ?", err);
	int rc, same = 0;

	if (!st)
		return NU_EDB;
	bind_def(st, d);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		same = sqlite3_column_int(st, 0) > 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? same : nu_store_fail(s, err, "reading tag definition");
}

int nu_tag_def_get(nu_store *s, const char *name, nu_tag_def *d, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT category, class, weight, ttl_ms, description FROM tag_def"
		" WHERE name = ?", err);
	int rc;

	memset(d, 0, sizeof *d);
	snprintf(d->name, sizeof d->name, "%s", name);
	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(d->category, sizeof d->category, "%s", sqlite3_column_text(st, 0));
		snprintf(d->tag_class, sizeof d->tag_class, "%s", sqlite3_column_text(st, 1));
		d->weight = sqlite3_column_double(st, 2);
		d->ttl_ms = sqlite3_column_int64(st, 3);
		if (sqlite3_column_text(st, 4))
			snprintf(d->description, sizeof d->description, "%s",
				 sqlite3_column_text(st, 4));
	} else if (rc == SQLITE_DONE) {
		snprintf(d->category, sizeof d->category, "%s", nu_tag_default_category(name));
		strcpy(d->tag_class, "fact");
		d->weight = 1;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? NU_OK :
	       nu_store_fail(s, err, "reading tag definition");
}

static int log_change(nu_store *s, int64_t lead_id, const char *name,
		      const char *op, double weight, const char *source, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"INSERT INTO tag_change (lead_id, name, op, weight, source, at)"
		" VALUES (?, ?, ?, ?, ?, ?)", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, op, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 4, weight);
	sqlite3_bind_text(st, 5, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, nu_store_now(s));
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK :
	       nu_store_fail(s, err, "logging tag change");
}

/* 1 and the stored weight when the lead has the unexpired tag. */
static int current_weight(nu_store *s, int64_t lead_id, const char *name,
			  double *weight, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT weight FROM tag WHERE lead_id = ? AND name = ?"
		" AND (expires_at IS NULL OR expires_at > ?)", err);
	int rc;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, nu_store_now(s));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*weight = sqlite3_column_double(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		return rc == SQLITE_ROW;
	return nu_store_fail(s, err, "reading tag");
}

int nu_tag_add(nu_store *s, int64_t lead_id, const char *name, double weight,
	       const char *source, nu_error *err)
{
	int64_t now = nu_store_now(s);
	double old_weight = 0;
	nu_tag_def def;
	sqlite3_stmt *st;
	int had;

	if (nu_tag_name_check(name, err) < 0)
		return NU_EINVAL;
	if (nu_tag_def_get(s, name, &def, err) < 0)
		return NU_EDB;
	if (weight < 0)
		weight = def.weight;
	if ((had = current_weight(s, lead_id, name, &old_weight, err)) < 0)
		return NU_EDB;
	st = nu_store_stmt(s,
		"INSERT INTO tag (lead_id, name, weight, class, source, at, expires_at)"
		" VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (lead_id, name) DO UPDATE SET"
		" weight = excluded.weight, class = excluded.class,"
		" source = excluded.source, at = excluded.at,"
		" expires_at = excluded.expires_at", err);
	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 3, weight);
	sqlite3_bind_text(st, 4, def.tag_class, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, now);
	if (def.ttl_ms)
		sqlite3_bind_int64(st, 7, now + def.ttl_ms);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(nu_store_db(s)) == SQLITE_CONSTRAINT_FOREIGNKEY)
			return nu_error_set(err, NU_ENOTFOUND, "lead %lld not found",
					    (long long)lead_id);
		return nu_store_fail(s, err, "adding tag");
	}
	/* Re-adding with the same weight only refreshes the expiry: no
	 * history row, or repeated behaviour would flood the log. */
	if (had && old_weight == weight)
		return NU_OK;
	return log_change(s, lead_id, name, had ? "update" : "add", weight, source, err);
}

int nu_tag_remove(nu_store *s, int64_t lead_id, const char *name,
		  const char *source, nu_error *err)
{
	double weight;
	int had = current_weight(s, lead_id, name, &weight, err);
	sqlite3_stmt *st;

	if (had < 0)
		return NU_EDB;
	if (!had)
		return nu_error_set(err, NU_ENOTFOUND, "lead %lld has no tag '%s'",
				    (long long)lead_id, name);
	if (!(st = nu_store_stmt(s, "DELETE FROM tag WHERE lead_id = ? AND name = ?", err)))
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "removing tag");
	return log_change(s, lead_id, name, "remove", weight, source, err);
}

int nu_tag_has(nu_store *s, int64_t lead_id, const char *name, nu_error *err)
{
	double weight;
	return current_weight(s, lead_id, name, &weight, err);
}

int nu_tag_list(nu_store *s, int64_t lead_id, nu_tag **out, size_t *n,
		nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT t.name, coalesce(d.category, ''), t.class, t.weight,"
		" coalesce(t.source, ''), t.at, coalesce(t.expires_at, 0)"
		" FROM tag t LEFT JOIN tag_def d ON d.name = t.name"
		" WHERE t.lead_id = ? AND (t.expires_at IS NULL OR t.expires_at > ?)"
		" ORDER BY t.name", err);
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	sqlite3_bind_int64(st, 2, nu_store_now(s));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			nu_tag *grown = realloc(*out, (cap = cap ? cap * 2 : 8) * sizeof **out);
			if (!grown) {
				sqlite3_reset(st);
				return nu_error_set(err, NU_ENOMEM, "out of memory");
			}
			*out = grown;
		}
		nu_tag *t = &(*out)[(*n)++];
		memset(t, 0, sizeof *t);
		snprintf(t->name, sizeof t->name, "%s", sqlite3_column_text(st, 0));
		snprintf(t->category, sizeof t->category, "%s",
			 *sqlite3_column_text(st, 1) ? (const char *)sqlite3_column_text(st, 1)
						     : nu_tag_default_category(t->name));
		snprintf(t->tag_class, sizeof t->tag_class, "%s", sqlite3_column_text(st, 2));
		t->weight = sqlite3_column_double(st, 3);
		snprintf(t->source, sizeof t->source, "%s", sqlite3_column_text(st, 4));
		t->at = sqlite3_column_int64(st, 5);
		t->expires_at = sqlite3_column_int64(st, 6);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "listing tags");
}

static int expire_locked(nu_store *s, int64_t now, size_t *expired, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"INSERT INTO tag_change (lead_id, name, op, weight, source, at)"
		" SELECT lead_id, name, 'expire', weight, 'ttl', expires_at FROM tag"
		" WHERE expires_at <= ?", err);
	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "logging expired tags");
	if (!(st = nu_store_stmt(s, "DELETE FROM tag WHERE expires_at <= ?", err)))
		return NU_EDB;
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "deleting expired tags");
	*expired = (size_t)sqlite3_changes(nu_store_db(s));
	return NU_OK;
}

int nu_tag_expire(nu_store *s, size_t *expired, nu_error *err)
{
	int rc;

	*expired = 0;
	if (nu_store_savepoint(s, err) < 0)
		return NU_EDB;
	if ((rc = expire_locked(s, nu_store_now(s), expired, err)) < 0) {
		nu_store_rollback_to(s);
		*expired = 0;
		return rc;
	}
	return nu_store_release(s, err);
}
