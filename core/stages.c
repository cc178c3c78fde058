/*
 * stages.c — the stage model and stage transitions of leads.
 */
#include <stdio.h>
#include <string.h>
#include "stages.h"

static const char *const default_funnel[] = { "Lead", "MQL", "SQL", "Opportunity", "Deal" };
static const char *const default_side[] = { "Recycled", "Disqualified" };

static nu_stage_model builtin_model;
static int builtin_ready;

void nu_stage_model_default(nu_stage_model *m)
{
	nu_stage_model_build(m, default_funnel, 5, default_side, 2, NULL);
}

int nu_stage_index(const nu_stage_model *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->names[i], name) == 0)
			return (int)i;
	return -1;
}

static int add_stage(nu_stage_model *m, const char *name, nu_error *err)
{
	if (!name[0] || strlen(name) >= NU_STAGE_NAME_MAX)
		return nu_error_set(err, NU_EINVAL,
			"stage name '%s' must be 1 to %d characters", name,
			NU_STAGE_NAME_MAX - 1);
	if (nu_stage_index(m, name) >= 0)
		return nu_error_set(err, NU_EINVAL, "stage '%s' is listed twice", name);
	if (m->n == NU_STAGE_MAX)
		return nu_error_set(err, NU_EINVAL, "at most %d stages", NU_STAGE_MAX);
	strcpy(m->names[m->n++], name);
	return NU_OK;
}

/* Derived rules: forward along the funnel (skips allowed); every stage but
 * the last funnel stage may go to any side stage; the first side stage
 * ("Recycled") re-enters the funnel at its first two stages; the others
 * ("Disqualified") may only be recycled. */
static void derive_rules(nu_stage_model *m)
{
	size_t f = m->funnel_len;

	memset(m->allowed, 0, sizeof m->allowed);
	for (size_t i = 0; i < f; i++)
		for (size_t j = i + 1; j < f; j++)
			m->allowed[i][j] = 1;
	for (size_t i = 0; i + 1 < f; i++)
		for (size_t j = f; j < m->n; j++)
			m->allowed[i][j] = 1;
	for (size_t j = f; j < m->n; j++) {
		if (j == f) {
			for (size_t k = 0; k < f && k < 2; k++)
				m->allowed[j][k] = 1;
			for (size_t k = f + 1; k < m->n; k++)
				m->allowed[j][k] = 1;
		} else {
			m->allowed[j][f] = 1;
		}
	}
}

int nu_stage_model_build(nu_stage_model *m, const char *const *funnel, size_t nf,
			 const char *const *side, size_t ns, nu_error *err)
{
	memset(m, 0, sizeof *m);
	if (nf == 0)
		return nu_error_set(err, NU_EINVAL, "the funnel needs at least one stage");
	for (size_t i = 0; i < nf; i++)
		if (add_stage(m, funnel[i], err) < 0)
			return NU_EINVAL;
	m->funnel_len = nf;
	for (size_t i = 0; i < ns; i++)
		if (add_stage(m, side[i], err) < 0)
			return NU_EINVAL;
	derive_rules(m);
	return NU_OK;
}

int nu_stage_model_set_transitions(nu_stage_model *m, const char *from,
				   const char *const *to, size_t n, nu_error *err)
{
	int f = nu_stage_index(m, from);

	if (f < 0)
		return nu_error_set(err, NU_EINVAL, "transitions: unknown stage '%s'", from);
	memset(m->allowed[f], 0, sizeof m->allowed[f]);
	for (size_t i = 0; i < n; i++) {
		int t = nu_stage_index(m, to[i]);
		if (t < 0)
			return nu_error_set(err, NU_EINVAL,
				"transitions.%s: unknown stage '%s'", from, to[i]);
		m->allowed[f][t] = 1;
	}
	return NU_OK;
}

const nu_stage_model *nu_stage_model_of(nu_store *s)
{
	const nu_stage_model *m = nu_store_settings_of(s)->stages;

	if (m)
		return m;
	if (!builtin_ready) {
		nu_stage_model_default(&builtin_model);
		builtin_ready = 1;
	}
	return &builtin_model;
}

static void allowed_list(const nu_stage_model *m, int from, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t t = 0; t < m->n; t++) {
		if (!m->allowed[from][t])
			continue;
		int w = snprintf(out + used, len - used, "%s%s", used ? ", " : "",
				 m->names[t]);
		if (w < 0 || (size_t)w >= len - used)
			break;
		used += (size_t)w;
	}
	if (!used)
		snprintf(out, len, "none: it is final");
}

static int current_stage(nu_store *s, int64_t lead_id, char *out, size_t len,
			 nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT stage FROM lead WHERE id = ? AND merged_into IS NULL", err);
	int rc;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out, len, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
		return NU_OK;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return nu_error_set(err, NU_ENOTFOUND, "lead %lld not found",
				    (long long)lead_id);
	return nu_store_fail(s, err, "reading stage");
}

int nu_stage_record(nu_store *s, int64_t lead_id, const char *from,
		    const char *to, const char *reason, const char *actor,
		    nu_error *err)
{
	int64_t now = nu_store_now(s);
	sqlite3_stmt *st = nu_store_stmt(s,
		"INSERT INTO stage_change (lead_id, from_stage, to_stage, at, reason, actor)"
		" VALUES (?, ?, ?, ?, ?, ?)", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, lead_id);
	sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_text(st, 5, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, actor, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "logging stage change");
	st = nu_store_stmt(s,
		"UPDATE lead SET stage = ?, stage_at = ?, updated_at = ? WHERE id = ?", err);
	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, lead_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(s, err, "updating stage");
	return NU_OK;
}

int nu_stage_set(nu_store *s, int64_t lead_id, const char *to,
		 const char *reason, const char *actor, int *changed,
		 nu_error *err)
{
	const nu_stage_model *m = nu_stage_model_of(s);
	char from[NU_STAGE_NAME_MAX * 2], allowed[512];
	int f, t;

	if (changed)
		*changed = 0;
	if ((t = nu_stage_index(m, to)) < 0)
		return nu_error_set(err, NU_EINVAL, "unknown stage '%s'", to);
	if (current_stage(s, lead_id, from, sizeof from, err) < 0)
		return err ? err->code : NU_ERR;
	if ((f = nu_stage_index(m, from)) == t)
		return NU_OK;
	if (f >= 0 && !m->allowed[f][t]) {
		allowed_list(m, f, allowed, sizeof allowed);
		return nu_error_set(err, NU_ESTATE,
			"lead %lld cannot move from %s to %s (allowed from %s: %s)",
			(long long)lead_id, from, to, from, allowed);
	}
	/* f < 0: the lead sits in a stage the config no longer lists; let it
	 * move anywhere rather than strand it. */
	if (nu_stage_record(s, lead_id, from, to, reason, actor, err) < 0)
		return NU_EDB;
	if (changed)
		*changed = 1;
	return NU_OK;
}

int nu_stage_counts(nu_store *s, int64_t counts[NU_STAGE_MAX], nu_error *err)
{
	const nu_stage_model *m = nu_stage_model_of(s);
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT stage, count(*) FROM lead WHERE merged_into IS NULL GROUP BY stage",
		err);
	int rc;

	if (!st)
		return NU_EDB;
	memset(counts, 0, sizeof(int64_t) * NU_STAGE_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int i = nu_stage_index(m, (const char *)sqlite3_column_text(st, 0));
		if (i >= 0)
			counts[i] = sqlite3_column_int64(st, 1);
	}
	if (rc != SQLITE_DONE)
		return nu_store_fail(s, err, "counting stages");
	return NU_OK;
}
