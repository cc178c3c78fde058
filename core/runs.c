/*
 * runs.c — executing one step of a run, and ending runs.
 *
 * A step takes the engine's Lua state with an environment of its own
 * (lua_flow.h: nothing a step leaves in its globals reaches another),
 * runs the run's pinned flow chunk in it (compiled once per version and
 * kept) and resumes run(lead, event) on a new coroutine. Effects answered
 * from the journal return at once; the first blocking effect not yet
 * completed yields, and the step is over: the run holds no memory until
 * it wakes. A step that ends in a Lua error closes the state (it may have
 * been stopped anywhere); the next step opens another.
 *
 * Runs kept in memory: a run that stops at send() usually hears back
 * within milliseconds, and replaying it from the top then costs as much
 * as the step did. So the coroutine of a step stopped at a send is kept,
 * with its environment, and when the send's result is in the run is
 * resumed with it: the answers a replay would give, without the replay.
 * Only what is cheap to lose is kept: a direct-mapped table of HOT_SLOTS
 * runs. A run evicted, or whose row changed meanwhile (a merged lead),
 * or any run after the state was closed, replays as before; a run kept
 * by a transaction that then rolls back is dropped (its id may be given
 * again). The journal stays the only truth.
 *
 * A coroutine that returns completes the run; a Lua error, an exhausted
 * budget or a journal mismatch fails it with the message. A database failure is not the flow's fault: it aborts the
 * step and the caller's transaction, and the step is retried later.
 */
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "engine_private.h"
#include "events.h"
#include "leads.h"
#include "log.h"
#include "lua_flow.h"

struct run_row {
	char sha[NU_SHA_HEX];
	char status[16];
	int64_t lead_id, seed, trigger_event_id;
};

static int load_run(nu_store *s, int64_t run_id, struct run_row *r, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT sha, status, lead_id, seed, coalesce(trigger_event_id, 0) FROM run WHERE id = ?",
		err);
	int rc;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, run_id);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(r->sha, sizeof r->sha, "%s", sqlite3_column_text(st, 0));
		snprintf(r->status, sizeof r->status, "%s", sqlite3_column_text(st, 1));
		r->lead_id = sqlite3_column_int64(st, 2);
		r->seed = sqlite3_column_int64(st, 3);
		r->trigger_event_id = sqlite3_column_int64(st, 4);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return nu_error_set(err, NU_ENOTFOUND, "run %lld not found", (long long)run_id);
	return rc == SQLITE_ROW ? NU_OK : nu_store_fail(s, err, "loading run");
}

/* Pushes the trigger event as the flow sees it, or nil. */
static int push_trigger(lua_State *L, nu_store *s, int64_t event_id, const nu_trigger *t,
			nu_error *err)
{
	sqlite3_stmt *st;

	if (!event_id) {
		lua_pushnil(L);
		return NU_OK;
	}
	if (t && t->id == event_id) {
		nu_lua_flow_push_event(L, t->id, t->type, t->at, t->props);
		return NU_OK;
	}
	if (!(st = nu_store_stmt(s, "SELECT type, at, props FROM event WHERE id = ?", err)))
		return NU_EDB;
	sqlite3_bind_int64(st, 1, event_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		json_t *props = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
		nu_lua_flow_push_event(L, event_id, (const char *)sqlite3_column_text(st, 0),
				       sqlite3_column_int64(st, 1), props);
		json_decref(props);
	} else {
		lua_pushnil(L);
	}
	sqlite3_reset(st);
	return NU_OK;
}

#define CHUNKS_KEY "nurture.chunks"   /* registry: compiled flow chunks by version */

/* Pushes the compiled chunk of the flow's version, compiling it the first
 * time. [-0, +(0|1), m] */
static int push_chunk(nu_lua_sandbox *sb, const nu_flow *f, nu_error *err)
{
	lua_State *L = sb->L;
	const char *src = json_string_value(json_object_get(f->bundle, "main"));
	char chunk[NU_FLOW_NAME_MAX + 16];
	int rc;

	if (lua_getfield(L, LUA_REGISTRYINDEX, CHUNKS_KEY) != LUA_TTABLE) {
		lua_pop(L, 1);
		lua_newtable(L);
		lua_pushvalue(L, -1);
		lua_setfield(L, LUA_REGISTRYINDEX, CHUNKS_KEY);
	}
	if (lua_getfield(L, -1, f->sha) != LUA_TFUNCTION) {
		lua_pop(L, 1);
		snprintf(chunk, sizeof chunk, "@%s.lua", f->name);
		if ((rc = nu_lua_sandbox_load(sb, src, strlen(src), chunk, err)) < 0) {
			lua_pop(L, 1);
			return rc;
		}
		lua_pushvalue(L, -1);
		lua_setfield(L, -3, f->sha);
	}
	lua_remove(L, -2);
	return NU_OK;
}

/* Runs the flow chunk in the step's environment and leaves run() on the
 * stack. */
static int load_run_function(nu_lua_sandbox *sb, const nu_flow *f, nu_error *err)
{
	int rc;

	if ((rc = push_chunk(sb, f, err)) < 0)
		return rc;
	nu_lua_sandbox_use_env(sb->L);
	if ((rc = nu_lua_sandbox_pcall(sb, 0, 1, err)) < 0)
		return rc;
	if (!lua_istable(sb->L, -1) || lua_getfield(sb->L, -1, "run") != LUA_TFUNCTION)
		return nu_error_set(err, NU_EINVAL, "%s: run is not a function", f->name);
	lua_remove(sb->L, -2);
	return NU_OK;
}

/* The error of a failed coroutine, with the line where it happened. */
static void coroutine_error(lua_State *co, int status, const nu_lua_sandbox *sb,
			    char *out, size_t len)
{
	const char *msg = lua_type(co, -1) == LUA_TSTRING ? lua_tostring(co, -1) : NULL;

	if (status == LUA_ERRMEM)
		snprintf(out, len, "memory limit of %zu bytes exceeded", nu_lua_sandbox_mem_allowed(sb));
	else
		snprintf(out, len, "%s", msg ? msg : "error raised with a non-string value");
}

/* Resumes run(lead, event); returns the Lua status and fills why on error. */
static int execute(nu_lua_sandbox *sb, nu_run_ctx *ctx, const nu_trigger *t, char *why, size_t len)
{
	lua_State *co = lua_newthread(sb->L);
	int nres = 0, status;

	lua_pushvalue(sb->L, -2);          /* run */
	lua_xmove(sb->L, co, 1);
	nu_lua_flow_push_lead(co, ctx->lead_id);
	if (push_trigger(co, ctx->s, ctx->trigger_event_id, t, &ctx->err) < 0) {
		ctx->failed = 1;
		return LUA_ERRRUN;
	}
	status = lua_resume(co, sb->L, 2, &nres);
	if (status != LUA_OK && status != LUA_YIELD)
		coroutine_error(co, status, sb, why, len);
	return status;
}

/* ---- runs kept in memory ---------------------------------------------- */

#define HOT_SLOTS 1024
#define HOT_PENDING_MAX 256     /* kept by the open transaction; past it all are */

struct nu_hot_run {
	nu_run_ctx ctx;             /* the step's: run, lead, the send it stopped at (blocked_seq) */
	char sha[NU_SHA_HEX];       /* its version (ctx.flow may not outlive the version cache) */
	int ref;                    /* registry: the saved step (nu_lua_flow_save_step) */
};

struct nu_hot_runs {
	struct nu_hot_run *slot[HOT_SLOTS];
	size_t nkept;
	int64_t pending[HOT_PENDING_MAX];   /* kept since the last commit */
	size_t npending;
	int pending_overflow;
};

static void hot_free(nu_engine *e, struct nu_hot_run *h)
{
	if (e->lua.L)
		luaL_unref(e->lua.L, LUA_REGISTRYINDEX, h->ref);
	free(h);
}

/* A kept run taken out of its slot: the caller frees it. */
static void hot_unslot(nu_engine *e, struct nu_hot_run **slot)
{
	*slot = NULL;
	e->hot->nkept--;
}

/* The slot holding run_id, or NULL when it is not kept. */
static struct nu_hot_run **hot_find(nu_engine *e, int64_t run_id)
{
	struct nu_hot_run **slot;

	if (!e->hot)
		return NULL;
	slot = &e->hot->slot[run_id % HOT_SLOTS];
	return *slot && (*slot)->ctx.run_id == run_id ? slot : NULL;
}

static struct nu_hot_run *hot_take(nu_engine *e, int64_t run_id)
{
	struct nu_hot_run **slot = hot_find(e, run_id), *h;

	if (!slot)
		return NULL;
	h = *slot;
	hot_unslot(e, slot);
	return h;
}

void nu_run_forget(nu_engine *e, int64_t run_id)
{
	struct nu_hot_run *h = hot_take(e, run_id);

	if (h)
		hot_free(e, h);
}

static void hot_forget_all(nu_engine *e)
{
	if (!e->hot)
		return;
	for (size_t i = 0; i < HOT_SLOTS; i++)
		if (e->hot->slot[i]) {
			hot_free(e, e->hot->slot[i]);
			hot_unslot(e, &e->hot->slot[i]);
		}
	e->hot->npending = 0;
	e->hot->pending_overflow = 0;
}

void nu_run_tx_end(nu_engine *e, int committed)
{
	struct nu_hot_runs *hr = e->hot;

	if (!hr || (!hr->npending && !hr->pending_overflow))
		return;
	if (!committed && hr->pending_overflow)
		hot_forget_all(e);
	else if (!committed)
		for (size_t i = 0; i < hr->npending; i++)
			nu_run_forget(e, hr->pending[i]);
	hr->npending = 0;
	hr->pending_overflow = 0;
}

/* Keeps the step's coroutine (on top of the stack) for a continuation. */
static void hot_keep(nu_engine *e, const nu_run_ctx *ctx, const char *sha)
{
	lua_State *L = e->lua.L;
	struct nu_hot_run *h, **slot;

	if (!e->hot && !(e->hot = calloc(1, sizeof *e->hot)))
		return;
	if (!(h = malloc(sizeof *h)))
		return;
	nu_lua_flow_save_step(&e->lua);
	h->ref = luaL_ref(L, LUA_REGISTRYINDEX);
	snprintf(h->sha, sizeof h->sha, "%s", sha);
	h->ctx = *ctx;
	h->ctx.journal = NULL;      /* released by the step that made it */
	h->ctx.njournal = 0;
	slot = &e->hot->slot[ctx->run_id % HOT_SLOTS];
	if (*slot) {
		hot_free(e, *slot);
		hot_unslot(e, slot);
	}
	*slot = h;
	e->hot->nkept++;
	if (e->hot->npending < HOT_PENDING_MAX)
		e->hot->pending[e->hot->npending++] = ctx->run_id;
	else
		e->hot->pending_overflow = 1;
}

/* The engine's Lua state for a step of flow f on behalf of ctx, opened
 * at first use. */
static nu_lua_sandbox *begin_step(nu_engine *e, const nu_flow *f, nu_run_ctx *ctx, nu_error *err)
{
	if (e->lua.owner) {   /* one step at a time: the state's stack is the step's */
		nu_error_set(err, NU_ESTATE, "a flow step started inside another");
		return NULL;
	}
	if (!e->lua.L && nu_lua_flow_open_shared(&e->lua, NU_STEP_INSTR_LIMIT, err) < 0)
		return NULL;
	nu_lua_flow_begin_step(&e->lua, f->bundle, ctx, NU_STEP_MEM_LIMIT);
	return &e->lua;
}

/* After a Lua error the state may have been stopped anywhere (out of
 * memory in a library call, a spent budget): it goes, and the next step
 * opens a new one. */
static void end_step(nu_engine *e, int lua_ok)
{
	e->lua.owner = NULL;
	if (lua_ok)
		lua_settop(e->lua.L, 0);
	else
		nu_run_close_lua(e);
}

void nu_run_close_lua(nu_engine *e)
{
	nu_lua_sandbox_close(&e->lua);    /* first: the kept runs' refs go with it */
	hot_forget_all(e);
}

int nu_run_is_kept(nu_engine *e, int64_t run_id)
{
	return hot_find(e, run_id) != NULL;
}

void nu_engine_step_stats_get(nu_engine *e, nu_engine_step_stats *out)
{
	out->replayed = e->steps_replayed;
	out->continued = e->steps_continued;
	out->kept = e->hot ? e->hot->nkept : 0;
}

void nu_run_free_kept(nu_engine *e)
{
	free(e->hot);
	e->hot = NULL;
}

/* 1 if the failure was the database's (the step must be retried). */
static int database_failed(const nu_run_ctx *ctx)
{
	return ctx->failed && (ctx->err.code == NU_EDB || ctx->err.code == NU_ENOMEM);
}

/* Ends a step whose coroutine is on top of the stack: keeps the run for
 * a continuation if it stopped at a send, closes the state after a Lua
 * error, then records the outcome. */
static int finish_step(nu_engine *e, nu_run_ctx *ctx, const char *sha, int status,
		       const char *why, nu_error *err)
{
	int lua_ok = (status == LUA_OK || status == LUA_YIELD) && !ctx->failed;

	if (lua_ok && status == LUA_YIELD && ctx->blocked_seq >= 0 &&
	    !strcmp(ctx->blocked_kind, "send"))
		hot_keep(e, ctx, sha);
	end_step(e, lua_ok);
	nu_journal_release(ctx);
	json_decref(ctx->resumed);     /* a continuation that failed before taking it */
	ctx->resumed = NULL;
	if (database_failed(ctx)) {
		*err = ctx->err;
		return NU_EDB;
	}
	if (ctx->failed)
		return nu_run_end(e, ctx->run_id, "failed", ctx->err.msg, err);
	if (status == LUA_YIELD)
		return NU_OK;
	if (status == LUA_OK)
		return nu_run_end(e, ctx->run_id, "completed", NULL, err);
	return nu_run_end(e, ctx->run_id, "failed", why, err);
}

/* Continues a kept run with the result of the send it stopped at. 1 when
 * it ran (*rc its outcome), 0 when the run must replay instead. Takes h. */
static int continue_kept(nu_engine *e, struct nu_hot_run *h, const struct run_row *r,
			 const nu_flow *f, int *rc, nu_error *err)
{
	nu_run_ctx *ctx = &h->ctx;
	json_t *res = NULL;
	char kind[32], why[600] = "";
	int status, nres = 0;

	/* A kept run lives in the open state (closing it forgets them all). */
	if (ctx->lead_id != r->lead_id || strcmp(h->sha, r->sha) || e->lua.owner ||
	    nu_journal_get(e->s, ctx->run_id, ctx->blocked_seq, kind, sizeof kind, NULL, &res,
			   err) != NU_OK ||
	    !res || strcmp(kind, "send")) {
		json_decref(res);
		hot_free(e, h);
		return 0;
	}
	ctx->flow = f;
	ctx->now = nu_store_now(e->s);
	ctx->failed = 0;
	ctx->replaying = 0;
	ctx->blocked_seq = -1;
	ctx->resumed = res;
	nu_lua_sandbox_begin(&e->lua, NU_STEP_MEM_LIMIT);
	lua_rawgeti(e->lua.L, LUA_REGISTRYINDEX, h->ref);
	luaL_unref(e->lua.L, LUA_REGISTRYINDEX, h->ref);
	nu_lua_flow_continue_step(&e->lua, f->bundle, ctx);
	lua_State *co = lua_tothread(e->lua.L, -1);
	e->steps_continued++;
	status = lua_resume(co, e->lua.L, 0, &nres);
	if (status != LUA_OK && status != LUA_YIELD)
		coroutine_error(co, status, &e->lua, why, sizeof why);
	*rc = finish_step(e, ctx, h->sha, status, why, err);
	free(h);
	return 1;
}

int nu_run_step(nu_engine *e, int64_t run_id, const nu_trigger *t, nu_error *err)
{
	nu_run_ctx ctx = { .eng = e, .s = e->s, .run_id = run_id, .blocked_seq = -1 };
	struct nu_hot_run *kept = hot_take(e, run_id);
	struct run_row r;
	nu_lua_sandbox *sb;
	char why[600] = "";
	int rc, status;

	if ((rc = load_run(e->s, run_id, &r, err)) < 0 || strcmp(r.status, "waiting")) {
		if (kept)
			hot_free(e, kept);
		return rc < 0 ? rc : NU_OK;   /* ended meanwhile (goal, cancel): nothing to do */
	}
	if (!(ctx.flow = nu_engine_version(e, r.sha, err))) {
		if (kept)
			hot_free(e, kept);
		return nu_run_end(e, run_id, "failed", err->msg, err);
	}
	if (kept && continue_kept(e, kept, &r, ctx.flow, &rc, err))
		return rc;
	ctx.lead_id = r.lead_id;
	ctx.seed = r.seed;
	ctx.trigger_event_id = r.trigger_event_id;
	ctx.now = nu_store_now(e->s);
	if ((rc = nu_journal_load(&ctx, err)) < 0)
		return rc;
	if (!(sb = begin_step(e, ctx.flow, &ctx, err))) {
		nu_journal_release(&ctx);
		return err->code;
	}
	if ((rc = load_run_function(sb, ctx.flow, err)) < 0) {
		end_step(e, 0);
		nu_journal_release(&ctx);
		return nu_run_end(e, run_id, "failed", err->msg, err);
	}
	e->steps_replayed++;
	status = execute(sb, &ctx, t, why, sizeof why);
	return finish_step(e, &ctx, r.sha, status, why, err);
}

static int delete_for_run(nu_store *s, const char *sql, int64_t run_id, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, sql, err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, run_id);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "ending run");
}

int nu_run_end(nu_engine *e, int64_t run_id, const char *status, const char *error,
	       nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(e->s,
		"UPDATE run SET status = ?, error = ?, ended_at = ?, updated_at = ?"
		" WHERE id = ? AND status = 'waiting'", err);
	int64_t now = nu_store_now(e->s);
	char ctx[32];

	nu_run_forget(e, run_id);
	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int64(st, 5, run_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_store_fail(e->s, err, "ending run");
	if (error) {
		snprintf(ctx, sizeof ctx, "run %lld", (long long)run_id);
		nu_log(NU_LOG_WARN, ctx, "%s: %s", status, error);
	}
	/* A run that ends early (goal, failure) leaves nothing behind that
	 * could wake it or send on its behalf. */
	if (delete_for_run(e->s, "DELETE FROM subscription WHERE run_id = ?", run_id, err) < 0 ||
	    delete_for_run(e->s, "DELETE FROM wait WHERE run_id = ?", run_id, err) < 0)
		return NU_EDB;
	return nu_outbox_cancel_run(e->s, run_id, err);
}

int nu_rule_apply(nu_engine *e, const nu_flow *rule, int64_t lead_id, int64_t event_id,
		  nu_error *err)
{
	nu_run_ctx ctx = { .eng = e, .s = e->s, .flow = rule, .lead_id = lead_id,
			   .trigger_event_id = event_id, .is_rule = 1, .seed = event_id };
	nu_lua_sandbox *sb;
	char why[600] = "", who[96];
	int rc, status = LUA_OK;

	ctx.now = nu_store_now(e->s);
	if (!(sb = begin_step(e, rule, &ctx, err)))
		return err->code;
	/* A rule applies whole or not at all: one that fails half-way must not
	 * leave its first tag or points behind on every event. */
	if ((rc = nu_store_savepoint(e->s, err)) < 0) {
		end_step(e, 1);
		return rc;
	}
	if ((rc = load_run_function(sb, rule, err)) == NU_OK)
		status = execute(sb, &ctx, NULL, why, sizeof why);
	end_step(e, rc == NU_OK && (status == LUA_OK || status == LUA_YIELD) && !ctx.failed);
	if (rc < 0 || database_failed(&ctx) || ctx.failed || status != LUA_OK)
		nu_store_rollback_to(e->s);
	else if ((rc = nu_store_release(e->s, err)) < 0)
		return rc;
	if (rc < 0 || database_failed(&ctx)) {
		if (rc == NU_OK)
			*err = ctx.err;
		return rc < 0 ? rc : NU_EDB;
	}
	/* A failing rule is logged and skipped: one bad rule must not stop
	 * events from being processed. */
	if (ctx.failed || status != LUA_OK) {
		snprintf(who, sizeof who, "rule %s", rule->name);
		nu_log(NU_LOG_WARN, who, "event %lld: %s", (long long)event_id,
		       ctx.failed ? ctx.err.msg : status == LUA_YIELD ? "yielded" : why);
	}
	return NU_OK;
}
