/*
 * journal.c — the effect protocol: every effect a flow asks for is
 * answered from the run's journal when it was performed before, and
 * performed and journaled when it was not.
 *
 * Requests are stored as canonical JSON (sorted keys), so replay can
 * compare them byte for byte: a flow that asks for something else at the
 * same step than what the journal holds has changed its behaviour, and
 * the run is failed with both requests named rather than continued on a
 * guess.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine_private.h"
#include "json_text.h"
#include "leads.h"
#include "log.h"
#include "lua_json.h"
#include "stages.h"
#include "tags.h"
#include "timefmt.h"
#include "tz.h"

int nu_journal_get(nu_store *s, int64_t run_id, int64_t seq, char *kind, size_t kindlen,
		   json_t **request, json_t **result, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT kind, request, result FROM journal WHERE run_id = ? AND seq = ?", err);
	int rc;

	if (request)
		*request = NULL;
	*result = NULL;
	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, seq);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(kind, kindlen, "%s", sqlite3_column_text(st, 0));
		if (request)
			*request = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
		if (sqlite3_column_type(st, 2) != SQLITE_NULL)
			*result = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return NU_ENOTFOUND;
	return rc == SQLITE_ROW ? NU_OK : nu_store_fail(s, err, "reading journal");
}

int nu_journal_load(nu_run_ctx *ctx, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(ctx->s,
		"SELECT seq, kind, request, result FROM journal WHERE run_id = ? ORDER BY seq", err);
	size_t cap = 0;
	int rc;

	ctx->journal = NULL;
	ctx->njournal = 0;
	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, ctx->run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* seq runs 0, 1, 2 … with no gaps: a row's index is its seq */
		if (sqlite3_column_int64(st, 0) != (int64_t)ctx->njournal)
			break;
		if (ctx->njournal == cap) {
			nu_journal_row *g = realloc(ctx->journal, (cap = cap ? cap * 2 : 16) * sizeof *g);
			if (!g)
				break;
			ctx->journal = g;
		}
		nu_journal_row *r = &ctx->journal[ctx->njournal++];
		snprintf(r->kind, sizeof r->kind, "%s", sqlite3_column_text(st, 1));
		r->request = strdup((const char *)sqlite3_column_text(st, 2));
		r->result = sqlite3_column_type(st, 3) == SQLITE_NULL ? NULL :
			    strdup((const char *)sqlite3_column_text(st, 3));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		nu_journal_release(ctx);
		return nu_store_fail(ctx->s, err, "reading journal");
	}
	return NU_OK;
}

void nu_journal_release(nu_run_ctx *ctx)
{
	for (size_t i = 0; i < ctx->njournal; i++) {
		free(ctx->journal[i].request);
		free(ctx->journal[i].result);
	}
	free(ctx->journal);
	ctx->journal = NULL;
	ctx->njournal = 0;
}

static int journal_append(nu_run_ctx *ctx, int64_t seq, const char *kind, const char *request,
			  const json_t *result)
{
	sqlite3_stmt *st = nu_store_stmt(ctx->s,
		"INSERT INTO journal (run_id, seq, kind, request, result, at, done_at)"
		" VALUES (?, ?, ?, ?, ?, ?, ?)", &ctx->err);
	char *text = result ? nu_json_text(result) : NULL;

	if (!st) {
		free(text);
		return NU_EDB;
	}
	sqlite3_bind_int64(st, 1, ctx->run_id);
	sqlite3_bind_int64(st, 2, seq);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, request, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, text, -1, free);
	sqlite3_bind_int64(st, 6, ctx->now);
	if (result)
		sqlite3_bind_int64(st, 7, ctx->now);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK :
	       nu_store_fail(ctx->s, &ctx->err, "writing journal");
}

int nu_journal_complete(nu_store *s, int64_t run_id, int64_t seq, const json_t *result,
			nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"UPDATE journal SET result = ?, done_at = ? WHERE run_id = ? AND seq = ?"
		" AND result IS NULL", err);
	char *text = nu_json_text(result);

	if (!st || !text) {
		free(text);
		return st ? nu_error_set(err, NU_ENOMEM, "out of memory") : NU_EDB;
	}
	sqlite3_bind_text(st, 1, text, -1, free);
	sqlite3_bind_int64(st, 2, nu_store_now(s));
	sqlite3_bind_int64(st, 3, run_id);
	sqlite3_bind_int64(st, 4, seq);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "completing journal");
}

/* ---- performers of immediate effects ----------------------------------- */

/* Per-run, per-step random numbers: the same run and step always draw the
 * same value, and it is journaled anyway. splitmix64. */
static double draw(int64_t seed, int64_t seq)
{
	uint64_t z = (uint64_t)seed + 0x9E3779B97F4A7C15ull * (uint64_t)(seq + 1);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (double)(z >> 11) / 9007199254740992.0;
}

static json_t *v(json_t *value)
{
	return json_pack("{s:o}", "v", value ? value : json_null());
}

static json_t *ok_or(int rc, const nu_error *err)
{
	return rc == NU_OK ? json_pack("{s:b}", "ok", 1)
			   : json_pack("{s:b,s:s}", "ok", 0, "error", err->msg);
}

/* Lead writes fail the step (not the run) only on database errors. */
static int soft(int rc)
{
	return rc == NU_EDB || rc == NU_ENOMEM;
}

static void source_of(const nu_run_ctx *ctx, char *out, size_t len)
{
	if (ctx->run_id)
		snprintf(out, len, "flow:%s#%lld", ctx->flow->name, (long long)ctx->run_id);
	else
		snprintf(out, len, "rule:%s", ctx->flow->name);
}

static int last_event_at(nu_run_ctx *ctx, int64_t event_id, json_t **res)
{
	sqlite3_stmt *st = nu_store_stmt(ctx->s, "SELECT at FROM event WHERE id = ?", &ctx->err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, event_id);
	*res = v(sqlite3_step(st) == SQLITE_ROW ? json_integer(sqlite3_column_int64(st, 0)) : NULL);
	sqlite3_reset(st);
	return NU_OK;
}

static int lead_get(nu_run_ctx *ctx, const json_t *req, json_t **res)
{
	const char *field = json_string_value(json_object_get(req, "field"));
	nu_lead l;
	int f, rc;

	if ((rc = nu_lead_load(ctx->s, ctx->lead_id, &l, &ctx->err)) < 0)
		return rc;
	rc = NU_OK;
	if ((f = nu_lead_field_lookup(field)) >= 0)
		*res = v(l.field[f] ? json_string(l.field[f]) : NULL);
	else if (!strcmp(field, "stage"))
		*res = v(json_string(l.stage));
	else if (!strcmp(field, "id"))
		*res = v(json_integer(l.id));
	else if (!strcmp(field, "owner"))
		*res = v(l.owner ? json_string(l.owner) : NULL);
	else if (!strcmp(field, "created_at"))
		*res = v(json_integer(l.created_at));
	else if (!strcmp(field, "last_event_at"))
		rc = last_event_at(ctx, l.last_event_id, res);
	else
		*res = v(json_incref(json_object_get(l.custom, field)));
	nu_lead_clear(&l);
	return rc;
}

/* When the heat score was last set (heat_at), 0 if never. */
static int64_t heat_at_of(nu_run_ctx *ctx, const nu_lead *l)
{
	sqlite3_stmt *st = nu_store_stmt(ctx->s, "SELECT coalesce(heat_at, 0) FROM lead WHERE id = ?", NULL);
	int64_t at = 0;

	if (!st)
		return 0;
	sqlite3_bind_int64(st, 1, l->id);
	if (sqlite3_step(st) == SQLITE_ROW)
		at = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return at;
}

/* Heat that halves every `half_life` since it was last set. */
static double decayed(double value, int64_t since, int64_t now, const json_t *half_life)
{
	int64_t hl;

	if (!half_life || !since || now <= since ||
	    nu_duration_parse(json_string_value(half_life), &hl, NULL, 0) < 0 || hl <= 0)
		return value;
	return value * pow(0.5, (double)(now - since) / (double)hl);
}

static int lead_score(nu_run_ctx *ctx, const json_t *req, json_t **res)
{
	const char *which = json_string_value(json_object_get(req, "score"));
	json_t *add = json_object_get(req, "add");
	nu_lead l;
	int rc;

	if ((rc = nu_lead_load(ctx->s, ctx->lead_id, &l, &ctx->err)) < 0)
		return rc;
	double fit = l.fit_score;
	double heat = decayed(l.heat_score, heat_at_of(ctx, &l), ctx->now,
			      json_object_get(req, "half_life"));
	double l_heat_before = heat;
	nu_lead_clear(&l);
	if (add && !strcmp(which, "fit")) {
		/* Only the fit score changes: heat and its decay clock stay. */
		fit += json_number_value(add);
		sqlite3_stmt *st = nu_store_stmt(ctx->s, "UPDATE lead SET fit_score = ? WHERE id = ?", &ctx->err);
		if (!st)
			return NU_EDB;
		sqlite3_bind_double(st, 1, fit);
		sqlite3_bind_int64(st, 2, ctx->lead_id);
		if (sqlite3_step(st) != SQLITE_DONE)
			return nu_store_fail(ctx->s, &ctx->err, "setting fit score");
	} else if (add || json_object_get(req, "half_life")) {
		if (add)
			heat += json_number_value(add);
		if ((rc = nu_lead_set_scores(ctx->s, ctx->lead_id, fit, heat, &ctx->err)) < 0)
			return rc;
	}
	*res = v(json_real(!strcmp(which, "fit") ? fit : heat));
	/* Score triggers: rising past a flow's threshold enrols the lead. */
	if (add && ctx->eng)
		return nu_engine_on_score(ctx->eng, ctx->lead_id, which,
					  !strcmp(which, "fit") ? fit - json_number_value(add) : l_heat_before,
					  !strcmp(which, "fit") ? fit : heat, &ctx->err);
	return NU_OK;
}

static int perform_lead(nu_run_ctx *ctx, const char *kind, const json_t *req, json_t **res)
{
	const char *tag = json_string_value(json_object_get(req, "tag"));
	char source[96];
	nu_error e;
	int rc;

	source_of(ctx, source, sizeof source);
	if (!strcmp(kind, "lead.get"))
		return lead_get(ctx, req, res);
	if (!strcmp(kind, "lead.score"))
		return lead_score(ctx, req, res);
	if (!strcmp(kind, "lead.has_tag")) {
		rc = nu_tag_has(ctx->s, ctx->lead_id, tag, &ctx->err);
		*res = v(json_boolean(rc > 0));
		return rc < 0 ? rc : NU_OK;
	}
	if (!strcmp(kind, "lead.stage") && !json_object_get(req, "to")) {
		nu_lead l;
		if ((rc = nu_lead_load(ctx->s, ctx->lead_id, &l, &ctx->err)) < 0)
			return rc;
		*res = v(json_string(l.stage));
		nu_lead_clear(&l);
		return NU_OK;
	}
	if (!strcmp(kind, "lead.tag")) {
		json_t *w = json_object_get(req, "weight");
		rc = nu_tag_add(ctx->s, ctx->lead_id, tag, w ? json_number_value(w) : -1, source, &e);
	} else if (!strcmp(kind, "lead.untag")) {
		rc = nu_tag_remove(ctx->s, ctx->lead_id, tag, source, &e);
	} else if (!strcmp(kind, "lead.stage")) {
		const char *reason = json_string_value(json_object_get(req, "reason"));
		rc = nu_stage_set(ctx->s, ctx->lead_id, json_string_value(json_object_get(req, "to")),
				  reason ? reason : ctx->flow->name, source, NULL, &e);
	} else {
		json_t *attrs = json_object();
		json_object_set(attrs, json_string_value(json_object_get(req, "field")),
				json_object_get(req, "value"));
		rc = nu_lead_update(ctx->s, ctx->lead_id, attrs, NU_LEAD_OVERWRITE, source, NULL, &e);
		json_decref(attrs);
	}
	if (soft(rc)) {
		ctx->err = e;
		return rc;
	}
	*res = ok_or(rc, &e);
	return NU_OK;
}

static int pick_arm(const json_t *arms, double r, json_t **res)
{
	const char *names[64];
	double total = 0, acc = 0;
	size_t n = 0;
	const char *k;
	json_t *w;

	json_object_foreach((json_t *)arms, k, w) {
		if (n < 64)
			names[n++] = k;
		total += json_number_value(w);
	}
	/* pairs/insertion order must not decide: walk the arms by name. */
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
			const char *t = names[b];
			names[b] = names[b - 1];
			names[b - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		acc += json_number_value(json_object_get(arms, names[i]));
		if (r * total < acc || i + 1 == n) {
			*res = v(json_string(names[i]));
			return NU_OK;
		}
	}
	return NU_ERR;
}

static int perform_now(nu_run_ctx *ctx, int64_t seq, const char *kind, const json_t *req,
		       json_t **res)
{
	if (!strcmp(kind, "now"))
		*res = v(json_integer(ctx->now));
	else if (!strcmp(kind, "random"))
		*res = v(json_real(draw(ctx->seed, seq)));
	else if (!strcmp(kind, "split"))
		return pick_arm(req, draw(ctx->seed, seq), res);
	else if (!strcmp(kind, "version"))
		*res = v(json_incref(json_object_get(req, "max")));
	else if (!strcmp(kind, "log")) {
		char who[96];
		source_of(ctx, who, sizeof who);
		nu_log(NU_LOG_INFO, who, "%s", json_string_value(json_object_get(req, "msg")));
		*res = json_object();
	} else
		return perform_lead(ctx, kind, req, res);
	return NU_OK;
}

/* ---- performers of blocking effects ------------------------------------ */

static unsigned weekday_mask(const json_t *days)
{
	unsigned mask = 0;
	size_t i;
	json_t *d;

	json_array_foreach(days, i, d)
		if (json_is_integer(d) && json_integer_value(d) >= 1 && json_integer_value(d) <= 7)
			mask |= 1u << json_integer_value(d);
	return mask;
}

static int due_of_wait_until(nu_run_ctx *ctx, const json_t *req, int64_t *due)
{
	json_t *t = json_object_get(req, "t");
	nu_lead l;
	int rc;

	if (t) {
		*due = json_integer_value(t) > ctx->now ? json_integer_value(t) : ctx->now;
		return NU_OK;
	}
	if ((rc = nu_lead_load(ctx->s, ctx->lead_id, &l, &ctx->err)) < 0)
		return rc;
	json_t *local = json_object_get(req, "local_time");
	const char *tz = (local && !json_is_true(local)) ? "UTC" : l.field[NU_LEAD_TIMEZONE];
	*due = nu_tz_next_local(tz, ctx->now, (int)json_integer_value(json_object_get(req, "hour")),
				(int)json_integer_value(json_object_get(req, "minute")),
				weekday_mask(json_object_get(req, "weekdays")), NULL);
	nu_lead_clear(&l);
	return NU_OK;
}

static int subscribe(nu_run_ctx *ctx, int64_t seq, const json_t *req)
{
	json_t *within = json_object_get(req, "within");
	int64_t ms = 0, due = 0;
	sqlite3_stmt *st;

	if (within && nu_duration_parse(json_string_value(within), &ms, NULL, 0) == NU_OK)
		due = ctx->now + ms;
	if (!(st = nu_store_stmt(ctx->s,
		"INSERT INTO subscription (lead_id, type, run_id, seq, due) VALUES (?, ?, ?, ?, ?)",
		&ctx->err)))
		return NU_EDB;
	sqlite3_bind_int64(st, 1, ctx->lead_id);
	sqlite3_bind_text(st, 2, json_string_value(json_object_get(req, "type")), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ctx->run_id);
	sqlite3_bind_int64(st, 4, seq);
	if (due)
		sqlite3_bind_int64(st, 5, due);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(ctx->s, &ctx->err, "subscribing");
	return due ? nu_wait_add(ctx->s, due, ctx->run_id, seq, &ctx->err) : NU_OK;
}

/* Starts a blocking effect; its journal row is already written. */
static int perform_blocking(nu_run_ctx *ctx, int64_t seq, const char *kind, const json_t *req)
{
	int64_t due = ctx->now, ms;
	int rc;

	if (!strcmp(kind, "sleep")) {
		if (nu_duration_parse(json_string_value(json_object_get(req, "d")), &ms, NULL, 0) == NU_OK)
			due += ms;
		return nu_wait_add(ctx->s, due, ctx->run_id, seq, &ctx->err);
	}
	if (!strcmp(kind, "wait_until")) {
		if ((rc = due_of_wait_until(ctx, req, &due)) < 0)
			return rc;
		return nu_wait_add(ctx->s, due, ctx->run_id, seq, &ctx->err);
	}
	if (!strcmp(kind, "wait_event"))
		return subscribe(ctx, seq, req);
	return nu_outbox_add(ctx, seq, json_string_value(json_object_get(req, "channel")),
			     json_object_get(req, "message"), &ctx->err);
}

static int is_blocking(const char *kind)
{
	return !strcmp(kind, "sleep") || !strcmp(kind, "wait_until") ||
	       !strcmp(kind, "wait_event") || !strcmp(kind, "send");
}

/* ---- the protocol ------------------------------------------------------ */

/* Requests were stored canonical, so equal requests are equal text. */
static int replayed(nu_run_ctx *ctx, int64_t seq, const char *kind, const char *request,
		    const nu_journal_row *row, json_t **result)
{
	/* log text may carry table addresses or pairs() order; only its place
	 * in the sequence must match. */
	if (strcmp(kind, row->kind) || (strcmp(kind, "log") && strcmp(request, row->request))) {
		nu_error_set(&ctx->err, NU_ESTATE,
			"journal mismatch at step %lld: the flow now asks for %s %.160s but the run "
			"recorded %s %.160s; the run is stopped rather than guessed forward",
			(long long)seq, kind, request, row->kind, row->request);
		return -1;
	}
	ctx->replaying = 1;
	if (!row->result)
		return NU_EFFECT_BLOCKED;
	if (!(*result = json_loads(row->result, 0, NULL))) {
		nu_error_set(&ctx->err, NU_ERR, "journal row %lld of run %lld is damaged",
			     (long long)seq, (long long)ctx->run_id);
		return -1;
	}
	return NU_EFFECT_DONE;
}

int nu_effect(nu_run_ctx *ctx, const char *kind, json_t *request, json_t **result)
{
	int64_t seq = ctx->seq++;
	char *text = nu_json_canonical(request);
	int rc;

	*result = NULL;
	if (!text)
		return nu_error_set(&ctx->err, NU_ENOMEM, "out of memory"), -1;
	/* op_id = run_id * 65536 + seq: a run has 65 535 effects at most. */
	if (seq >= 65535) {
		free(text);
		return nu_error_set(&ctx->err, NU_ESTATE,
			"run %lld reached 65 535 effects; a flow that loops forever should end and "
			"re-enrol instead", (long long)ctx->run_id), -1;
	}
	if (ctx->run_id && (size_t)seq < ctx->njournal) {
		rc = replayed(ctx, seq, kind, text, &ctx->journal[seq], result);
		free(text);
		return rc;
	}
	ctx->replaying = 0;
	if (is_blocking(kind)) {
		if (ctx->is_rule) {
			free(text);
			return nu_error_set(&ctx->err, NU_ESTATE,
				"rule '%s' called %s(): rules run on each event and may not wait or send",
				ctx->flow->name, kind), -1;
		}
		rc = journal_append(ctx, seq, kind, text, NULL);
		if (rc == NU_OK)
			rc = perform_blocking(ctx, seq, kind, request);
		ctx->blocked_seq = seq;
		snprintf(ctx->blocked_kind, sizeof ctx->blocked_kind, "%s", kind);
		free(text);
		return rc < 0 ? -1 : NU_EFFECT_BLOCKED;
	}
	rc = perform_now(ctx, seq, kind, request, result);
	if (rc == NU_OK && ctx->run_id)
		rc = journal_append(ctx, seq, kind, text, *result);
	free(text);
	if (rc < 0) {
		json_decref(*result);
		*result = NULL;
		return -1;
	}
	return NU_EFFECT_DONE;
}
