/*
 * outbox.c — send intents and their dispatch.
 *
 * A flow's send() writes an outbox row in the same transaction as its
 * journal row; nothing leaves until that transaction has committed. The
 * dispatcher marks a row 'sending' (committed) before handing it to the
 * channel, so after a crash a row still 'sending' is known to be in
 * doubt: a channel that deduplicates by op id gets it again, any other
 * records it as 'unknown' and never sends it blindly a second time.
 *
 * op_id = run_id * 65536 + seq: unique, and stable across retries, so it
 * doubles as the provider idempotency key.
 */
#include <string.h>
#include "engine_private.h"
#include "json_text.h"
#include "log.h"
#include "timefmt.h"
#include "tz.h"

void nu_outbox_address(nu_store *s, int64_t lead_id, const char *channel, char *out, size_t len)
{
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT email, phone FROM lead WHERE id = ?", NULL);
	const unsigned char *v = NULL;

	snprintf(out, len, "lead:%lld", (long long)lead_id);
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, lead_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_text(st, !strcmp(channel, "sms") ? 1 : 0);
	if (v && (!strcmp(channel, "email") || !strcmp(channel, "sms")))
		snprintf(out, len, "%s", v);
	sqlite3_reset(st);
}

/* Why the address may not be contacted, or 0. */
static int suppressed(nu_run_ctx *ctx, const char *channel, const char *address, char *why,
		      size_t len, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(ctx->s,
		/* Four key lookups, any channel first. Written with OR, SQLite
		 * builds a temporary table of candidate rows on every send. */
		"SELECT channel, reason FROM suppression WHERE channel = '*' AND address = ?2"
		" UNION ALL SELECT channel, reason FROM suppression WHERE channel = '*' AND address = ?3"
		" UNION ALL SELECT channel, reason FROM suppression WHERE channel = ?1 AND address = ?2"
		" UNION ALL SELECT channel, reason FROM suppression WHERE channel = ?1 AND address = ?3"
		" LIMIT 1", err);
	char lead[32];
	int found;

	if (!st)
		return NU_EDB;
	snprintf(lead, sizeof lead, "lead:%lld", (long long)ctx->lead_id);
	sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, lead, -1, SQLITE_STATIC);
	if ((found = sqlite3_step(st) == SQLITE_ROW))
		snprintf(why, len, "suppressed: %s (%s %s)", sqlite3_column_text(st, 1),
			 sqlite3_column_text(st, 0), address);
	sqlite3_reset(st);
	return found;
}

/* Frequency cap: sends already made (or on their way) to this lead on this
 * channel within the window. */
static int capped(nu_run_ctx *ctx, const char *channel, char *why, size_t len, nu_error *err)
{
	const nu_send_policy *p = &ctx->eng->policy;
	sqlite3_stmt *st;
	int n, over;
	char w[32];

	if (!p->cap_window_ms || p->cap_max <= 0)
		return 0;
	/* ORs, not IN: an IN list on a column the index does not cover makes
	 * SQLite build a temporary table for it on every send. */
	if (!(st = nu_store_stmt(ctx->s, "SELECT count(*) FROM outbox WHERE lead_id = ? AND channel = ?"
				 " AND created_at > ? AND (state = 'pending' OR state = 'sending'"
				 " OR state = 'sent' OR state = 'unknown')", err)))
		return NU_EDB;
	sqlite3_bind_int64(st, 1, ctx->lead_id);
	sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ctx->now - p->cap_window_ms);
	n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	if ((over = n >= p->cap_max))
		snprintf(why, len, "frequency cap: %d %s sends per %s already", p->cap_max, channel,
			 nu_duration_format(p->cap_window_ms, w, sizeof w));
	return over;
}

/* Quiet hours in the lead's time zone: the next moment sending is allowed,
 * or 0 when it is allowed now. Held, never dropped. */
static int64_t quiet_until(nu_run_ctx *ctx, char *why, size_t len)
{
	const nu_send_policy *p = &ctx->eng->policy;
	sqlite3_stmt *st;
	char tz[64] = "";
	const char *used;

	if (p->quiet_from == p->quiet_to)
		return 0;
	if ((st = nu_store_stmt(ctx->s, "SELECT timezone FROM lead WHERE id = ?", NULL))) {
		sqlite3_bind_int64(st, 1, ctx->lead_id);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			snprintf(tz, sizeof tz, "%s", sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	/* The next "to" o'clock; if the next "from" comes before it, we are
	 * outside the quiet period now. */
	int64_t open = nu_tz_next_local(tz, ctx->now, p->quiet_to, 0, 0, &used);
	int64_t close = nu_tz_next_local(tz, ctx->now, p->quiet_from, 0, 0, NULL);
	if (close < open)
		return 0;
	snprintf(why, len, "held: quiet hours (%02d:00-%02d:00 %s)", p->quiet_from, p->quiet_to, used);
	return open;
}

/* The send's row: op id run_id * 65536 + seq, created now, next due at
 * next_try, with why (NULL: nothing to say) as its error. */
static int insert_row(nu_run_ctx *ctx, int64_t seq, const char *channel, const char *text,
		      const char *state, int64_t next_try, const char *why, const char *what,
		      nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(ctx->s,
		"INSERT INTO outbox (op_id, run_id, seq, channel, lead_id, message, state, next_try,"
		" error, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, ctx->run_id * 65536 + seq);
	sqlite3_bind_int64(st, 2, ctx->run_id);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_text(st, 4, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, ctx->lead_id);
	sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, next_try);
	sqlite3_bind_text(st, 9, why, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 10, ctx->now);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(ctx->s, err, what);
}

/* The send's result goes to the run now, and the run is woken to go on. */
static int tell_run(nu_run_ctx *ctx, int64_t seq, const char *status, const char *error,
		    nu_error *err)
{
	json_t *res = json_pack("{s:s,s:s}", "status", status, "error", error);
	int rc = nu_journal_complete(ctx->s, ctx->run_id, seq, res, err);

	json_decref(res);
	return rc < 0 ? rc : nu_wait_add(ctx->s, ctx->now, ctx->run_id, seq, err);
}

/* A send stopped before it was queued (a policy, or the channel's check):
 * recorded with its reason, the run told. */
static int refused_send(nu_run_ctx *ctx, int64_t seq, const char *channel, const char *state,
			const char *why, const char *text, nu_error *err)
{
	int rc = insert_row(ctx, seq, channel, text, state, ctx->now, why, "recording a refused send", err);

	return rc < 0 ? rc : tell_run(ctx, seq, state, why, err);
}

/* The channel's own check of the message (a plugin's: the template exists
 * and has every variable). 1 when it fails, with the reason in why. */
static int fails_check(const nu_channel *ch, const json_t *message, char *why, size_t len)
{
	char reason[300] = "";

	if (!ch->check || ch->check(ch->state, message, reason, sizeof reason) == 0)
		return 0;
	snprintf(why, len, "refused by the %s channel's check: %s", ch->name,
		 reason[0] ? reason : "no reason given");
	return 1;
}

int nu_outbox_add(nu_run_ctx *ctx, int64_t seq, const char *channel, const json_t *message,
		  nu_error *err)
{
	const nu_channel *ch = nu_engine_channel(ctx->eng, channel);
	char *text, address[300], why[400] = "";
	int64_t next_try;
	int rc;

	/* Unknown channel: the send fails now, visibly, and the run goes on
	 * with that result. */
	if (!ch)
		return tell_run(ctx, seq, "failed", "no such channel", err);
	if (!(text = nu_json_text(message)))
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	/* A message that can never be sent fails now, with the channel's
	 * reason on its row, rather than at the provider after the policies
	 * held it (the check does not contact the provider). */
	if (fails_check(ch, message, why, sizeof why)) {
		rc = refused_send(ctx, seq, channel, "failed", why, text, err);
		free(text);
		return rc;
	}
	/* Policies, in the same transaction as the intent: what they decide
	 * and why is in the outbox row, so `run why` can tell. */
	nu_outbox_address(ctx->s, ctx->lead_id, channel, address, sizeof address);
	if ((rc = suppressed(ctx, channel, address, why, sizeof why, err)) != 0 ||
	    (rc = capped(ctx, channel, why, sizeof why, err)) != 0) {
		if (rc > 0)
			rc = refused_send(ctx, seq, channel, strncmp(why, "suppressed", 10) ? "capped" :
					  "suppressed", why, text, err);
		free(text);
		return rc;
	}
	next_try = quiet_until(ctx, why, sizeof why);
	rc = insert_row(ctx, seq, channel, text, "pending", next_try ? next_try : ctx->now,
			next_try ? why : NULL, "queueing send", err);
	free(text);
	return rc;
}

static int set_state(nu_store *s, int64_t op_id, const char *state, const char *provider_id,
		     const char *error, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"UPDATE outbox SET state = ?, provider_id = coalesce(?, provider_id),"
		" error = ?, attempts = attempts + (? = 'sending'), updated_at = ? WHERE op_id = ?", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, provider_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, nu_store_now(s));
	sqlite3_bind_int64(st, 6, op_id);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "updating outbox");
}

int nu_outbox_cancel_run(nu_store *s, int64_t run_id, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"UPDATE outbox SET state = 'cancelled', updated_at = ? WHERE op_id BETWEEN ? AND ?"
		" AND state = 'pending'", err);

	if (!st)
		return NU_EDB;
	/* By op_id range (the primary key): a run's sends are run_id * 65536 + seq. */
	sqlite3_bind_int64(st, 1, nu_store_now(s));
	sqlite3_bind_int64(st, 2, run_id * 65536);
	sqlite3_bind_int64(st, 3, run_id * 65536 + 65535);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "cancelling sends");
}

/* A provider quota: 1 when one more send on this channel fits in the
 * current second (and counts it), 0 when it must wait for the next. */
static int rate_allows(nu_engine *e, const char *channel, int64_t now)
{
	for (int i = 0; i < e->policy.nrates; i++) {
		if (strcmp(e->policy.rates[i].channel, channel))
			continue;
		int64_t second = now / 1000;
		if (e->rate_windows[i].second != second) {
			e->rate_windows[i].second = second;
			e->rate_windows[i].count = 0;
		}
		if (e->rate_windows[i].count >= e->policy.rates[i].per_second)
			return 0;
		e->rate_windows[i].count++;
		return 1;
	}
	return 1;
}

static int defer_to_next_second(nu_store *s, int64_t op_id, int64_t now, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "UPDATE outbox SET next_try = ? WHERE op_id = ?", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, (now / 1000 + 1) * 1000);
	sqlite3_bind_int64(st, 2, op_id);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "deferring a send");
}

/* Inside the caller's transaction: marks up to NU_DISPATCH_BATCH due rows
 * 'sending' and lists them in e->claimed (nu_outbox_hand_over). */
int nu_outbox_claim(nu_engine *e, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s,
		"SELECT op_id, channel, lead_id, message, attempts FROM outbox"
		" WHERE state IN ('pending', 'sending') AND state = 'pending'"
		" AND next_try <= ? ORDER BY next_try LIMIT 200", err);
	int64_t now = nu_store_now(e->s), later[NU_DISPATCH_BATCH];
	size_t nlater = 0;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, now);
	while (e->nclaimed < NU_DISPATCH_BATCH && sqlite3_step(st) == SQLITE_ROW) {
		const char *channel = (const char *)sqlite3_column_text(st, 1);
		if (!rate_allows(e, channel, now)) {
			later[nlater++] = sqlite3_column_int64(st, 0);   /* over the quota: next second */
			continue;
		}
		struct nu_claimed_send *p = &e->claimed[e->nclaimed++];
		p->op_id = sqlite3_column_int64(st, 0);
		snprintf(p->channel, sizeof p->channel, "%s", channel);
		p->lead_id = sqlite3_column_int64(st, 2);
		p->message = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
		p->attempt = sqlite3_column_int(st, 4) + 1;   /* claiming counts it */
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < nlater; i++)
		if (defer_to_next_second(e->s, later[i], now, err) < 0)
			return NU_EDB;
	for (size_t i = 0; i < e->nclaimed; i++)
		if (set_state(e->s, e->claimed[i].op_id, "sending", NULL, NULL, err) < 0)
			return NU_EDB;
	return NU_OK;
}

void nu_outbox_unclaim(nu_engine *e)
{
	for (size_t i = 0; i < e->nclaimed; i++)
		json_decref(e->claimed[i].message);
	e->nclaimed = 0;
}

int nu_outbox_hand_over(nu_engine *e, nu_error *err)
{
	int rc = NU_OK;

	e->dispatching = 1;
	for (size_t i = 0; i < e->nclaimed; i++) {
		const struct nu_claimed_send *p = &e->claimed[i];
		const nu_channel *ch = nu_engine_channel(e, p->channel);
		e->sending_op = p->op_id;
		e->sending_attempt = p->attempt;
		if (rc == NU_OK && ch && ch->send(ch->state, p->op_id, p->lead_id, p->message, e) < 0)
			rc = nu_engine_send_complete(e, p->op_id, "failed", NULL,
						     "the channel refused the message", err);
	}
	e->dispatching = 0;
	e->sending_op = 0;
	nu_outbox_unclaim(e);
	return rc;
}

/* Delay before try number attempts + 1: base · 2^(attempts-1), capped,
 * with ±20 % jitter so a provider outage does not end in a thundering
 * herd. The jitter is derived from the op id, not random(): the same send
 * always waits the same, which keeps tests exact. */
static int64_t retry_delay(const nu_send_policy *p, int64_t op_id, int attempts)
{
	int64_t d = p->retry_base_ms;
	uint64_t h = (uint64_t)op_id * 0x9E3779B97F4A7C15ull + (uint64_t)attempts;

	for (int i = 1; i < attempts && d < p->retry_max_ms; i++)
		d *= 2;
	if (d > p->retry_max_ms)
		d = p->retry_max_ms;
	h ^= h >> 29;
	return d + (int64_t)((double)d * 0.4 * ((double)(h % 1000) / 1000.0 - 0.5));
}

static int attempts_of(nu_store *s, int64_t op_id, int *attempts, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT attempts FROM outbox WHERE op_id = ?", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, op_id);
	*attempts = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return NU_OK;
}

/* A temporary failure: try again later, or give up (dead letter). Returns
 * 1 when the send is given up and the run must hear of it. */
static int schedule_retry(nu_engine *e, int64_t op_id, const char *error, nu_error *err)
{
	int attempts;
	sqlite3_stmt *st;

	if (attempts_of(e->s, op_id, &attempts, err) < 0)
		return NU_EDB;
	if (attempts >= e->policy.retry_max_attempts)
		return 1;
	if (!(st = nu_store_stmt(e->s, "UPDATE outbox SET state = 'pending', next_try = ?, error = ?,"
				 " updated_at = ? WHERE op_id = ?", err)))
		return NU_EDB;
	sqlite3_bind_int64(st, 1, nu_store_now(e->s) + retry_delay(&e->policy, op_id, attempts));
	sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, nu_store_now(e->s));
	sqlite3_bind_int64(st, 4, op_id);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(e->s, err, "scheduling retry");
}

static int complete_locked(nu_engine *e, int64_t op_id, const char *status,
			   const char *provider_id, const char *error, nu_error *err)
{
	int64_t run_id = op_id / 65536, seq = op_id % 65536;
	const char *state = !strcmp(status, "sent") ? "sent" :
			    !strcmp(status, "unknown") ? "unknown" :
			    !strcmp(status, "retry") ? "pending" : "failed";
	char gave_up[400];
	json_t *res;
	int rc;

	if (!strcmp(state, "pending")) {
		if ((rc = schedule_retry(e, op_id, error, err)) <= 0)
			return rc;
		/* Dead letter: the flow learns the send failed for good. */
		snprintf(gave_up, sizeof gave_up, "gave up after %d attempts: %s",
			 e->policy.retry_max_attempts, error ? error : "temporary failures");
		state = "dead";
		error = gave_up;
	}
	if (set_state(e->s, op_id, state, provider_id, error, err) < 0)
		return NU_EDB;
	res = json_pack("{s:s,s:I}", "status", strcmp(state, "dead") ? state : "failed",
			"op_id", (json_int_t)op_id);
	if (provider_id)
		json_object_set_new(res, "provider_id", json_string(provider_id));
	if (error)
		json_object_set_new(res, "error", json_string(error));
	rc = nu_journal_complete(e->s, run_id, seq, res, err);
	json_decref(res);
	if (rc < 0)
		return rc;
	/* Inside a hand-over the run steps in the same transaction; else a
	 * timer due now wakes it. */
	if (e->collect_woken && nu_engine_note_woken(e, run_id) == NU_OK)
		return NU_OK;
	return nu_wait_add(e->s, nu_store_now(e->s), run_id, seq, err);
}

/* Only a send that was handed to a channel ('sending') can complete: a
 * second report for the same op, or an op id that names no send, is
 * ignored — acting on it could re-send a message or wake a run that does
 * not exist. */
static int in_flight(nu_store *s, int64_t op_id, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT state FROM outbox WHERE op_id = ?", err);
	int sending;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, op_id);
	sending = sqlite3_step(st) == SQLITE_ROW &&
		  !strcmp((const char *)sqlite3_column_text(st, 0), "sending");
	sqlite3_reset(st);
	return sending;
}

int nu_engine_send_complete(nu_engine *e, int64_t op_id, const char *status,
			    const char *provider_id, const char *error, nu_error *err)
{
	/* During a hand-over the answer joins the pump's transaction, or the
	 * commit group the hand-over joined; otherwise (an I/O callback) it
	 * commits alone. */
	int rc, own = !nu_store_in_tx(e->s) && !(e->dispatching && nu_store_group_open(e->s));

	if (own && nu_store_begin(e->s, err) < 0)
		return NU_EDB;
	if ((rc = in_flight(e->s, op_id, err)) <= 0) {
		if (rc == 0)
			nu_log(NU_LOG_WARN, NULL, "send %lld completed as '%s' but is not in flight: ignored",
			       (long long)op_id, status);
		if (own)
			nu_store_rollback(e->s);
		return rc < 0 ? rc : NU_OK;
	}
	rc = complete_locked(e, op_id, status, provider_id, error, err);
	if (!own)
		return rc;
	if (rc < 0) {
		nu_store_rollback(e->s);
		return rc;
	}
	rc = nu_store_commit(e->s, err);
	/* Completed from an I/O callback, not inside a pump: the run it woke
	 * needs one soon. */
	if (rc == NU_OK && !e->dispatching && e->wakeup)
		e->wakeup(e->wakeup_ud);
	return rc;
}

int nu_engine_send_attempt(nu_engine *e, int64_t op_id)
{
	int attempts = 0;

	/* Asked by the channel being handed this op: the claim knew. */
	if (op_id && op_id == e->sending_op)
		return e->sending_attempt;
	/* Claiming a send for a try counts it (set_state to 'sending'). */
	return attempts_of(e->s, op_id, &attempts, NULL) < 0 || attempts < 1 ? 1 : attempts;
}

/* An idempotent channel's send in doubt goes again: the provider drops
 * the copy it may already have (same op id). The try in doubt stays
 * counted; claiming it again counts the next. */
static int resend_after_crash(nu_engine *e, int64_t op_id, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s, "UPDATE outbox SET state = 'pending',"
					 " error = 'in flight at a crash: sent again (idempotent channel)',"
					 " next_try = ?, updated_at = ? WHERE op_id = ? AND state = 'sending'", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, nu_store_now(e->s));
	sqlite3_bind_int64(st, 2, nu_store_now(e->s));
	sqlite3_bind_int64(st, 3, op_id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? NU_OK : nu_store_fail(e->s, err, "re-queueing a send");
}

/* After a crash: rows left 'sending' are in doubt. Recorded unknown and
 * never re-sent blindly, unless their channel is idempotent. */
int nu_outbox_recover(nu_engine *e, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s,
		"SELECT op_id, channel FROM outbox WHERE state IN ('pending', 'sending') AND state = 'sending'", err);
	int64_t ops[256];
	int again[256];
	size_t n = 0;
	int rc;

	if (!st)
		return NU_EDB;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 256) {
		const nu_channel *ch = nu_engine_channel(e, (const char *)sqlite3_column_text(st, 1));
		again[n] = ch && ch->idempotent;
		ops[n++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++) {
		nu_log(NU_LOG_WARN, NULL, again[i] ? "send %lld was in flight at a crash: sending again"
			" (the channel is idempotent)" : "send %lld was in flight at a crash: recorded as unknown",
		       (long long)ops[i]);
		if (again[i]) {
			if ((rc = nu_store_begin(e->s, err)) < 0)
				return rc;
			if ((rc = resend_after_crash(e, ops[i], err)) < 0 || (rc = nu_store_commit(e->s, err)) < 0) {
				nu_store_rollback(e->s);
				return rc;
			}
		} else if ((rc = nu_engine_send_complete(e, ops[i], "unknown", NULL,
				"in flight when the daemon stopped; not re-sent", err)) < 0)
			return rc;
	}
	return n == 256 ? nu_outbox_recover(e, err) : NU_OK;
}
