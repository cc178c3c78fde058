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

#define DISPATCH_BATCH 200

int nu_outbox_add(nu_run_ctx *ctx, int64_t seq, const char *channel, const json_t *message,
		  nu_error *err)
{
	sqlite3_stmt *st;
	char *text;

	if (!nu_engine_channel(ctx->eng, channel)) {
		/* Unknown channel: the send fails now, visibly, and the run
		 * goes on with that result. */
		json_t *res = json_pack("{s:s,s:s}", "status", "failed", "error", "no such channel");
		int rc = nu_journal_complete(ctx->s, ctx->run_id, seq, res, err);
		json_decref(res);
		return rc < 0 ? rc : nu_wait_add(ctx->s, ctx->now, ctx->run_id, seq, err);
	}
	if (!(text = nu_json_text(message)))
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	if (!(st = nu_store_stmt(ctx->s,
		"INSERT INTO outbox (op_id, run_id, seq, channel, lead_id, message, state, next_try,"
		" created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7, ?7)", err))) {
		free(text);
		return NU_EDB;
	}
	sqlite3_bind_int64(st, 1, ctx->run_id * 65536 + seq);
	sqlite3_bind_int64(st, 2, ctx->run_id);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_text(st, 4, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, ctx->lead_id);
	sqlite3_bind_text(st, 6, text, -1, free);
	sqlite3_bind_int64(st, 7, ctx->now);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(ctx->s, err, "queueing send");
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

struct pending_send {
	int64_t op_id, lead_id;
	char channel[32];
	json_t *message;
};

/* Claims up to DISPATCH_BATCH due rows: 'pending' → 'sending', committed. */
static int claim(nu_engine *e, struct pending_send *out, size_t *n, nu_error *err)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if (nu_store_begin(e->s, err) < 0)
		return NU_EDB;
	if (!(st = nu_store_stmt(e->s,
		"SELECT op_id, channel, lead_id, message FROM outbox"
		" WHERE state IN ('pending', 'sending') AND state = 'pending'"
		" AND next_try <= ? ORDER BY next_try LIMIT 200", err)))
		goto fail;
	sqlite3_bind_int64(st, 1, nu_store_now(e->s));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < DISPATCH_BATCH) {
		struct pending_send *p = &out[(*n)++];
		p->op_id = sqlite3_column_int64(st, 0);
		snprintf(p->channel, sizeof p->channel, "%s", sqlite3_column_text(st, 1));
		p->lead_id = sqlite3_column_int64(st, 2);
		p->message = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
	}
	sqlite3_reset(st);
	for (size_t i = 0; i < *n; i++)
		if (set_state(e->s, out[i].op_id, "sending", NULL, NULL, err) < 0)
			goto fail;
	return nu_store_commit(e->s, err);
fail:
	nu_store_rollback(e->s);
	for (size_t i = 0; i < *n; i++)
		json_decref(out[i].message);
	*n = 0;
	return NU_EDB;
}

int nu_outbox_dispatch(nu_engine *e, int *did, nu_error *err)
{
	struct pending_send batch[DISPATCH_BATCH];
	size_t n;
	int rc = NU_OK;

	if (e->dispatching)
		return NU_OK;
	if (claim(e, batch, &n, err) < 0)
		return NU_EDB;
	e->dispatching = 1;
	for (size_t i = 0; i < n; i++) {
		const nu_channel *ch = nu_engine_channel(e, batch[i].channel);
		if (rc == NU_OK && ch &&
		    ch->send(ch->state, batch[i].op_id, batch[i].lead_id, batch[i].message, e) < 0)
			rc = nu_engine_send_complete(e, batch[i].op_id, "failed", NULL,
						     "the channel refused the message", err);
		json_decref(batch[i].message);
	}
	e->dispatching = 0;
	*did += (int)n;
	return rc;
}

static int complete_locked(nu_engine *e, int64_t op_id, const char *status,
			   const char *provider_id, const char *error, nu_error *err)
{
	int64_t run_id = op_id / 65536, seq = op_id % 65536;
	const char *state = !strcmp(status, "sent") ? "sent" :
			    !strcmp(status, "unknown") ? "unknown" :
			    !strcmp(status, "retry") ? "pending" : "failed";
	json_t *res;
	int rc;

	if (set_state(e->s, op_id, state, provider_id, error, err) < 0)
		return NU_EDB;
	if (!strcmp(state, "pending"))
		return NU_OK;   /* retried later; retry policy comes with the plugin layer */
	res = json_pack("{s:s,s:I}", "status", state, "op_id", (json_int_t)op_id);
	if (provider_id)
		json_object_set_new(res, "provider_id", json_string(provider_id));
	if (error)
		json_object_set_new(res, "error", json_string(error));
	rc = nu_journal_complete(e->s, run_id, seq, res, err);
	json_decref(res);
	return rc < 0 ? rc : nu_wait_add(e->s, nu_store_now(e->s), run_id, seq, err);
}

int nu_engine_send_complete(nu_engine *e, int64_t op_id, const char *status,
			    const char *provider_id, const char *error, nu_error *err)
{
	int rc, own = !nu_store_in_tx(e->s);

	if (own && nu_store_begin(e->s, err) < 0)
		return NU_EDB;
	rc = complete_locked(e, op_id, status, provider_id, error, err);
	if (!own)
		return rc;
	if (rc < 0) {
		nu_store_rollback(e->s);
		return rc;
	}
	return nu_store_commit(e->s, err);
}

/* After a crash: rows left 'sending' are in doubt. */
int nu_outbox_recover(nu_engine *e, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s,
		"SELECT op_id FROM outbox WHERE state IN ('pending', 'sending') AND state = 'sending'", err);
	int64_t ops[256];
	size_t n = 0;
	int rc;

	if (!st)
		return NU_EDB;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < 256)
		ops[n++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++) {
		nu_log(NU_LOG_WARN, NULL, "send %lld was in flight at a crash: recorded as unknown",
		       (long long)ops[i]);
		if ((rc = nu_engine_send_complete(e, ops[i], "unknown", NULL,
				"in flight when the daemon stopped; not re-sent", err)) < 0)
			return rc;
	}
	return n == 256 ? nu_outbox_recover(e, err) : NU_OK;
}
