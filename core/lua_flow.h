/*
 * lua_flow.h — the Lua API flows are written against (docs/flows.md):
 * send, sleep, wait_until, wait_event, now, random, split, version, log,
 * require (from the flow's pinned bundle) and the lead object.
 *
 * Every call goes through the journaled effect protocol (nu_effect): the
 * bindings only turn Lua arguments into a request and a result back into
 * Lua values. A blocking effect yields the run's coroutine; the engine
 * never resumes it — the next step replays from the top.
 */
#ifndef NU_LUA_FLOW_H
#define NU_LUA_FLOW_H

#include <jansson.h>
#include "engine.h"
#include "lua_sandbox.h"

/* Opens a sandbox with the flow API. ctx may be NULL (loading a flow to
 * read its spec): effects then raise "only inside run()". */
int nu_lua_flow_open(nu_lua_sandbox *sb, const json_t *bundle, nu_run_ctx *ctx,
		     size_t mem_limit, uint64_t instr_limit, nu_error *err);

/* The engine's one state for all steps (lua_sandbox.h, "one state for
 * many runs"): the flow API, frozen. */
int  nu_lua_flow_open_shared(nu_lua_sandbox *sb, uint64_t instr_limit, nu_error *err);
/* Starts a step of a run of the flow whose bundle is given: its own
 * environment (pushed), module cache and budgets; effects act for ctx. */
void nu_lua_flow_begin_step(nu_lua_sandbox *sb, const json_t *bundle, nu_run_ctx *ctx,
			    size_t mem_allowance);

/* A step that stopped at a blocking effect can be continued later in the
 * same state instead of replayed (runs.c). save: pops the step's
 * coroutine and pushes a table holding it with the step's environment and
 * module cache. continue: with that table on top and the state's budgets
 * renewed (nu_lua_sandbox_begin), makes them current again for ctx and
 * replaces the table with the coroutine. */
void nu_lua_flow_save_step(nu_lua_sandbox *sb);
void nu_lua_flow_continue_step(nu_lua_sandbox *sb, const json_t *bundle, nu_run_ctx *ctx);

/* Pushes the lead object for ctx->lead_id. [-0, +1, m] */
void nu_lua_flow_push_lead(lua_State *L, int64_t lead_id);
/* Pushes an event as flows see it: its props, plus type, at, id and props.
 * [-0, +1, m] */
void nu_lua_flow_push_event(lua_State *L, int64_t id, const char *type, int64_t at,
			    const json_t *props);

#endif
