/*
 * lua_flow.c — Lua bindings of the flow API.
 *
 * Each binding: check arguments (luaL_check* raise a plain error naming
 * the argument), build the JSON request, call effect(), convert the result.
 * A fatal engine error (journal mismatch, database failure) is remembered
 * in the run context, so a flow that catches the Lua error with pcall
 * fails again at its next effect and the engine fails the run anyway.
 */
#include <math.h>
#include <string.h>
#include <lauxlib.h>
#include "lua_flow.h"
#include "lua_json.h"
#include "timefmt.h"

static nu_run_ctx *ctx_of(lua_State *L)
{
	nu_run_ctx *ctx = nu_lua_sandbox_of(L)->owner;
	if (!ctx)
		luaL_error(L, "flow effects can only be called inside run()");
	return ctx;
}

/* Performs an effect. Returns 1 with the result on top of nothing (the
 * JSON in *res), 0 when the run must yield. Steals req. */
static int effect(lua_State *L, const char *kind, json_t *req, json_t **res)
{
	nu_run_ctx *ctx = nu_lua_sandbox_of(L)->owner;
	int rc;

	/* Every error path releases req first: luaL_error does not return. */
	if (!ctx) {
		json_decref(req);
		ctx_of(L);
	}
	if (ctx->failed) {
		json_decref(req);
		luaL_error(L, "%s", ctx->err.msg);
	}
	rc = nu_effect(ctx, kind, req, res);
	json_decref(req);
	if (rc < 0) {
		ctx->failed = 1;
		luaL_error(L, "%s", ctx->err.msg);
	}
	return rc == NU_EFFECT_DONE;
}

/* The result a continued step resumes a blocked binding with (runs.c
 * sets it before lua_resume); the binding owns it. */
static json_t *take_resumed(lua_State *L)
{
	nu_run_ctx *ctx = ctx_of(L);
	json_t *res = ctx->resumed;

	if (!res)
		luaL_error(L, "internal error: a flow resumed without its effect's result");
	ctx->resumed = NULL;
	return res;
}

/* Runs an effect whose result is {"v": value}: pushes value. */
static int value_effect(lua_State *L, const char *kind, json_t *req)
{
	json_t *res;

	if (!effect(L, kind, req, &res))
		return lua_yield(L, 0);
	nu_lua_push_json(L, json_object_get(res, "v"));
	json_decref(res);
	return 1;
}

/* Effects answering {"ok": bool, "error": text}: push true, or false + msg. */
static int ok_effect(lua_State *L, const char *kind, json_t *req)
{
	json_t *res;

	if (!effect(L, kind, req, &res))
		return lua_yield(L, 0);
	int ok = json_is_true(json_object_get(res, "ok"));
	lua_pushboolean(L, ok);
	if (!ok)
		lua_pushstring(L, json_string_value(json_object_get(res, "error")));
	json_decref(res);
	return ok ? 1 : 2;
}

static json_t *arg_json(lua_State *L, int idx, const char *what)
{
	nu_error err;
	json_t *v = nu_lua_to_json(L, idx, &err);
	if (!v)
		luaL_error(L, "%s: %s", what, err.msg);
	return v;
}

static void check_duration(lua_State *L, int idx, const char *what)
{
	char msg[200];
	int64_t ms;

	if (nu_duration_parse(luaL_checkstring(L, idx), &ms, msg, sizeof msg) < 0)
		luaL_error(L, "%s: %s", what, msg);
}

/* send's answer: ok, info. Takes res. */
static int send_result(lua_State *L, json_t *res)
{
	lua_pushboolean(L, strcmp(json_string_value(json_object_get(res, "status")), "sent") == 0);
	nu_lua_push_json(L, res);
	json_decref(res);
	return 2;
}

static int send_resumed(lua_State *L, int status, lua_KContext k)
{
	(void)status;
	(void)k;
	return send_result(L, take_resumed(L));
}

/* send(channel, message) → ok, info  [-2, +2, e] */
static int l_send(lua_State *L)
{
	const char *channel = luaL_checkstring(L, 1);
	json_t *res;

	luaL_checktype(L, 2, LUA_TTABLE);
	json_t *req = json_pack("{s:s,s:o}", "channel", channel, "message",
				arg_json(L, 2, "send: message"));
	if (!effect(L, "send", req, &res))
		return lua_yieldk(L, 0, 0, send_resumed);
	return send_result(L, res);
}

/* A wait's result: true, or false when it fired late and on_late says skip. */
static int wait_result(lua_State *L, json_t *res)
{
	lua_pushboolean(L, !json_is_true(json_object_get(res, "skip")));
	json_decref(res);
	return 1;
}

static int wait_resumed(lua_State *L, int status, lua_KContext k)
{
	(void)status;
	(void)k;
	return wait_result(L, take_resumed(L));
}

/* sleep(duration [, {on_late=…}]) → on_time  [-(1|2), +1, e] */
static int l_sleep(lua_State *L)
{
	json_t *req, *res;

	json_t *opts = NULL;

	check_duration(L, 1, "sleep");
	if (lua_istable(L, 2))
		opts = arg_json(L, 2, "sleep: options");   /* may raise: before req exists */
	req = json_pack("{s:s}", "d", lua_tostring(L, 1));
	if (opts)
		json_object_set_new(req, "opts", opts);
	if (!effect(L, "sleep", req, &res))
		return lua_yieldk(L, 0, 0, wait_resumed);
	return wait_result(L, res);
}

/* wait_until(time | {hour=, minute=, weekdays=, local_time=}) → on_time */
static int l_wait_until(lua_State *L)
{
	json_t *req, *res;

	if (lua_type(L, 1) == LUA_TNUMBER) {
		req = json_pack("{s:I}", "t", (json_int_t)luaL_checkinteger(L, 1));
	} else if (lua_type(L, 1) == LUA_TSTRING) {
		char msg[200];
		int64_t ms;
		if (nu_time_parse(lua_tostring(L, 1), &ms, msg, sizeof msg) < 0)
			return luaL_error(L, "wait_until: %s", msg);
		req = json_pack("{s:I}", "t", (json_int_t)ms);
	} else {
		luaL_checktype(L, 1, LUA_TTABLE);
		req = arg_json(L, 1, "wait_until");
		json_t *h = json_object_get(req, "hour");
		if (!json_is_integer(h) || json_integer_value(h) < 0 || json_integer_value(h) > 23) {
			json_decref(req);
			return luaL_error(L, "wait_until: hour must be an integer 0..23");
		}
	}
	if (!effect(L, "wait_until", req, &res))
		return lua_yieldk(L, 0, 0, wait_resumed);
	return wait_result(L, res);
}

/* wait_event's answer: the event, or nil. Takes res. */
static int wait_event_result(lua_State *L, json_t *res)
{
	json_t *ev = json_object_get(res, "event");

	if (json_is_object(ev))
		nu_lua_flow_push_event(L, json_integer_value(json_object_get(ev, "id")),
				       json_string_value(json_object_get(ev, "type")),
				       json_integer_value(json_object_get(ev, "at")),
				       json_object_get(ev, "props"));
	else
		lua_pushnil(L);
	json_decref(res);
	return 1;
}

static int wait_event_resumed(lua_State *L, int status, lua_KContext k)
{
	(void)status;
	(void)k;
	return wait_event_result(L, take_resumed(L));
}

/* wait_event(type [, {within=, where=}]) → event or nil  [-(1|2), +1, e] */
static int l_wait_event(lua_State *L)
{
	const char *type = luaL_checkstring(L, 1);
	json_t *opts = NULL, *req, *res;

	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TTABLE);
		opts = arg_json(L, 2, "wait_event: options");
	}
	req = json_pack("{s:s}", "type", type);
	if (opts) {
		json_t *within = json_object_get(opts, "within");
		int64_t ms;
		if (within && (!json_is_string(within) ||
			       nu_duration_parse(json_string_value(within), &ms, NULL, 0) < 0)) {
			json_decref(opts);
			json_decref(req);
			return luaL_error(L, "wait_event: within must be a duration like \"3d\"");
		}
		json_object_update(req, opts);
		json_decref(opts);
	}
	if (!effect(L, "wait_event", req, &res))
		return lua_yieldk(L, 0, 0, wait_event_resumed);
	return wait_event_result(L, res);
}

static int l_now(lua_State *L)
{
	return value_effect(L, "now", json_object());
}

/* random() → [0,1); random(m, n) → integer in [m, n] */
static int l_random(lua_State *L)
{
	json_t *res;
	lua_Integer lo = 0, hi = 0;
	int ints = !lua_isnoneornil(L, 1);

	if (ints) {
		lo = luaL_checkinteger(L, 1);
		hi = luaL_checkinteger(L, 2);
		luaL_argcheck(L, lo <= hi, 2, "interval is empty");
	}
	if (!effect(L, "random", json_object(), &res))
		return lua_yield(L, 0);
	double v = json_real_value(json_object_get(res, "v"));
	json_decref(res);
	if (ints)
		lua_pushinteger(L, lo + (lua_Integer)floor(v * ((double)hi - (double)lo + 1.0)));
	else
		lua_pushnumber(L, v);
	return 1;
}

/* split{A = 50, B = 50} → "A" or "B" */
static int l_split(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	json_t *arms = arg_json(L, 1, "split");
	const char *k;
	json_t *w;

	if (!json_is_object(arms) || json_object_size(arms) < 2) {
		json_decref(arms);
		return luaL_error(L, "split: give at least two arms with weights, e.g. split{A = 50, B = 50}");
	}
	json_object_foreach(arms, k, w)
		if (!json_is_number(w) || json_number_value(w) <= 0) {
			json_decref(arms);
			return luaL_error(L, "split: weight of '%s' must be a positive number", k);
		}
	return value_effect(L, "split", arms);
}

/* version(change_id, min, max) → the version this run follows */
static int l_version(lua_State *L)
{
	const char *id = luaL_checkstring(L, 1);
	lua_Integer min = luaL_checkinteger(L, 2), max = luaL_checkinteger(L, 3);

	luaL_argcheck(L, min <= max, 3, "max must be >= min");
	return value_effect(L, "version", json_pack("{s:s,s:I,s:I}", "id", id,
						    "min", (json_int_t)min, "max", (json_int_t)max));
}

/* log(...) */
static int l_log(lua_State *L)
{
	luaL_Buffer b;
	json_t *res;
	int n = lua_gettop(L);

	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, ' ');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_pushresult(&b);
	if (!effect(L, "log", json_pack("{s:s}", "msg", lua_tostring(L, -1)), &res))
		return lua_yield(L, 0);
	json_decref(res);
	return 0;
}

/* ---- the lead object ---------------------------------------------------- */

static int l_lead_get(lua_State *L)
{
	return value_effect(L, "lead.get", json_pack("{s:s}", "field", luaL_checkstring(L, 2)));
}

static int l_lead_set(lua_State *L)
{
	static const char *const reserved[] = { "stage", "owner", "id", "created_at",
						"last_event_at", "heat", "fit", NULL };
	const char *field = luaL_checkstring(L, 2);

	for (const char *const *r = reserved; *r; r++)
		if (!strcmp(field, *r))
			return luaL_error(L, "lead:set: '%s' cannot be set (use lead:stage or lead:score)",
					  field);
	luaL_checkany(L, 3);
	json_t *v = arg_json(L, 3, "lead:set");
	return ok_effect(L, "lead.set", json_pack("{s:s,s:o}", "field", field, "value", v));
}

static int l_lead_tag(lua_State *L)
{
	const char *tag = luaL_checkstring(L, 2);
	int weighted = !lua_isnoneornil(L, 3);
	double weight = weighted ? luaL_checknumber(L, 3) : 0;
	json_t *req = json_pack("{s:s}", "tag", tag);

	if (weighted)
		json_object_set_new(req, "weight", json_real(weight));
	return ok_effect(L, "lead.tag", req);
}

static int l_lead_untag(lua_State *L)
{
	return ok_effect(L, "lead.untag", json_pack("{s:s}", "tag", luaL_checkstring(L, 2)));
}

static int l_lead_has_tag(lua_State *L)
{
	return value_effect(L, "lead.has_tag", json_pack("{s:s}", "tag", luaL_checkstring(L, 2)));
}

/* lead:score("heat") → value; lead:score("heat", 10) adds 10 → new value;
 * lead:score("heat", 10, { half_life = "30d" }) first decays the stored
 * value by the time since it was last set, then adds. */
static int l_lead_score(lua_State *L)
{
	const char *which = luaL_checkstring(L, 2);
	json_t *req;

	const char *half_life = NULL;
	int adding = !lua_isnoneornil(L, 3);
	double add;

	luaL_argcheck(L, !strcmp(which, "heat") || !strcmp(which, "fit"), 2,
		      "score is \"heat\" or \"fit\"");
	add = adding ? luaL_checknumber(L, 3) : 0;
	if (lua_istable(L, 4)) {
		lua_getfield(L, 4, "half_life");
		if (!lua_isnil(L, -1)) {
			check_duration(L, -1, "lead:score: half_life");
			half_life = lua_tostring(L, -1);   /* stays on the stack while used */
		}
	}
	req = json_pack("{s:s}", "score", which);
	if (adding)
		json_object_set_new(req, "add", json_real(add));
	if (half_life)
		json_object_set_new(req, "half_life", json_string(half_life));
	return value_effect(L, "lead.score", req);
}

/* lead:stage() → current; lead:stage("MQL", "reason") → ok[, err] */
static int l_lead_stage(lua_State *L)
{
	if (lua_isnoneornil(L, 2))
		return value_effect(L, "lead.stage", json_object());
	json_t *req = json_pack("{s:s}", "to", luaL_checkstring(L, 2));
	if (!lua_isnoneornil(L, 3))
		json_object_set_new(req, "reason", json_string(luaL_checkstring(L, 3)));
	return ok_effect(L, "lead.stage", req);
}

void nu_lua_flow_push_lead(lua_State *L, int64_t lead_id)
{
	static const luaL_Reg methods[] = {
		{ "get", l_lead_get }, { "set", l_lead_set }, { "tag", l_lead_tag },
		{ "untag", l_lead_untag }, { "has_tag", l_lead_has_tag },
		{ "score", l_lead_score }, { "stage", l_lead_stage }, { NULL, NULL },
	};
	luaL_newlib(L, methods);
	lua_pushinteger(L, lead_id);
	lua_setfield(L, -2, "id");
}

void nu_lua_flow_push_event(lua_State *L, int64_t id, const char *type, int64_t at,
			    const json_t *props)
{
	if (json_is_object(props))
		nu_lua_push_json(L, props);
	else
		lua_newtable(L);
	nu_lua_push_json(L, json_is_object(props) ? props : NULL);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_newtable(L);
	}
	lua_setfield(L, -2, "props");
	lua_pushstring(L, type ? type : "");
	lua_setfield(L, -2, "type");
	lua_pushinteger(L, at);
	lua_setfield(L, -2, "at");
	lua_pushinteger(L, id);
	lua_setfield(L, -2, "id");
}

/* ---- require from the bundle ------------------------------------------- */

#define BUNDLE_KEY "nurture.bundle"   /* registry: the running flow's bundle */
#define LOADED_KEY "nurture.loaded"   /* registry: modules required this step */

/* The bundle require() reads, and an empty module cache. */
static void set_bundle(lua_State *L, const json_t *bundle)
{
	lua_pushlightuserdata(L, (void *)bundle);
	lua_setfield(L, LUA_REGISTRYINDEX, BUNDLE_KEY);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
}

/* require("lib.x") or require("x") → the module from the pinned bundle. */
static int l_require(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *base = strncmp(name, "lib.", 4) == 0 ? name + 4 : name;
	char key[96], chunk[100];
	const json_t *bundle;
	json_t *src;

	lua_getfield(L, LUA_REGISTRYINDEX, BUNDLE_KEY);
	bundle = lua_touserdata(L, -1);
	lua_pop(L, 1);
	snprintf(key, sizeof key, "lib/%s.lua", base);
	lua_getfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
	if (lua_getfield(L, -1, key) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	if (!(src = json_object_get(bundle, key)))
		return luaL_error(L, "require: no module '%s' (looked for flows/%s)", name, key);
	snprintf(chunk, sizeof chunk, "@%s", key);
	if (luaL_loadbufferx(L, json_string_value(src), json_string_length(src), chunk, "t") != LUA_OK)
		return lua_error(L);
	nu_lua_sandbox_use_env(L);
	lua_call(L, 0, 1);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, key);
	return 1;
}

int nu_lua_flow_open(nu_lua_sandbox *sb, const json_t *bundle, nu_run_ctx *ctx,
		     size_t mem_limit, uint64_t instr_limit, nu_error *err)
{
	static const luaL_Reg api[] = {
		{ "send", l_send }, { "sleep", l_sleep }, { "wait_until", l_wait_until },
		{ "wait_event", l_wait_event }, { "now", l_now }, { "random", l_random },
		{ "split", l_split }, { "version", l_version }, { "log", l_log },
		{ NULL, NULL },
	};
	int rc = nu_lua_sandbox_open(sb, mem_limit, instr_limit, err);

	if (rc < 0)
		return rc;
	sb->owner = ctx;
	sb->traceback = 0;
	lua_pushglobaltable(sb->L);
	luaL_setfuncs(sb->L, api, 0);
	lua_pushcfunction(sb->L, l_require);
	lua_setfield(sb->L, -2, "require");
	lua_pop(sb->L, 1);
	set_bundle(sb->L, bundle);
	nu_lua_sandbox_strict_globals(sb);
	return NU_OK;
}

int nu_lua_flow_open_shared(nu_lua_sandbox *sb, uint64_t instr_limit, nu_error *err)
{
	int rc = nu_lua_flow_open(sb, NULL, NULL, 0, instr_limit, err);

	if (rc < 0)
		return rc;
	/* strict globals are on: freeze reads only what is there */
	nu_lua_sandbox_freeze(sb);
	return NU_OK;
}

void nu_lua_flow_begin_step(nu_lua_sandbox *sb, const json_t *bundle, nu_run_ctx *ctx,
			    size_t mem_allowance)
{
	nu_lua_sandbox_begin(sb, mem_allowance);
	sb->owner = ctx;
	set_bundle(sb->L, bundle);
	nu_lua_sandbox_push_env(sb);
}

void nu_lua_flow_save_step(nu_lua_sandbox *sb)
{
	lua_State *L = sb->L;

	lua_createtable(L, 3, 0);
	lua_insert(L, -2);
	lua_rawseti(L, -2, 3);                     /* the coroutine */
	nu_lua_sandbox_get_env(sb);
	lua_rawseti(L, -2, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
	lua_rawseti(L, -2, 2);
}

void nu_lua_flow_continue_step(nu_lua_sandbox *sb, const json_t *bundle, nu_run_ctx *ctx)
{
	lua_State *L = sb->L;

	sb->owner = ctx;
	lua_pushlightuserdata(L, (void *)bundle);
	lua_setfield(L, LUA_REGISTRYINDEX, BUNDLE_KEY);
	lua_rawgeti(L, -1, 2);
	lua_setfield(L, LUA_REGISTRYINDEX, LOADED_KEY);
	lua_rawgeti(L, -1, 1);
	nu_lua_sandbox_set_env(sb);
	lua_rawgeti(L, -1, 3);
	lua_remove(L, -2);
}
