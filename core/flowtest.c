/*
 * flowtest.c — the simulated-time test runner for flows.
 *
 * The test script runs in its own sandbox; the flows under test run in the
 * real engine on a real (temporary) SQLite database whose clock is a
 * variable this file moves. Sends go to the built-in test channels, so
 * what a test inspects is exactly what the outbox would hand a plugin.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <lauxlib.h>
#include "engine.h"
#include "flowtest.h"
#include "identity.h"
#include "ingest.h"
#include "leads.h"
#include "lua_json.h"
#include "lua_sandbox.h"
#include "stages.h"
#include "tags.h"
#include "timefmt.h"

#define TEST_MEM (64u << 20)
#define TEST_INSTR 200000000u

struct harness {
	char dir[64];
	nu_store *s;
	nu_engine *e;
	int64_t start, now;
	const char *file;
	json_t *flows;          /* flow file paths, resolved */
};

static int64_t virtual_clock(void *ud)
{
	return ((struct harness *)ud)->now;
}

static struct harness *H(lua_State *L)
{
	return nu_lua_sandbox_of(L)->owner;
}

/* "+2d3h" relative to the test's start, for messages. */
static const char *rel(struct harness *h, int64_t at, char *buf, size_t len)
{
	char d[32];
	snprintf(buf, len, "+%s", nu_duration_format(at - h->start, d, sizeof d));
	return buf;
}

static void pump(lua_State *L, struct harness *h)
{
	nu_error err;
	if (nu_engine_pump(h->e, NULL, &err) < 0)
		luaL_error(L, "engine: %s", err.msg);
}

/* t:lead{ email = …, name = …, … } → lead id  [-2, +1, e] */
static int t_lead(lua_State *L)
{
	struct harness *h = H(L);
	nu_ingest_result res;
	nu_error err;
	json_t *rec;

	luaL_checktype(L, 2, LUA_TTABLE);
	if (!(rec = nu_lua_to_json(L, 2, &err)))
		return luaL_error(L, "t:lead: %s", err.msg);
	nu_store_begin(h->s, NULL);
	int rc = nu_ingest_lead(h->s, rec, 0, "test", &res, &err);
	json_decref(rec);
	if (rc < 0) {
		nu_store_rollback(h->s);
		return luaL_error(L, "t:lead: %s", err.msg);
	}
	nu_store_commit(h->s, NULL);
	pump(L, h);
	lua_pushinteger(L, res.resolve.lead_id);
	return 1;
}

/* t:event(lead, type [, props]) */
static int t_event(lua_State *L)
{
	struct harness *h = H(L);
	nu_ingest_result res;
	nu_error err;
	json_t *rec = json_pack("{s:I,s:s}", "lead_id", (json_int_t)luaL_checkinteger(L, 2),
				"type", luaL_checkstring(L, 3));

	if (!lua_isnoneornil(L, 4)) {
		json_t *props = nu_lua_to_json(L, 4, &err);
		if (!props) {
			json_decref(rec);
			return luaL_error(L, "t:event: %s", err.msg);
		}
		json_object_set_new(rec, "props", props);
	}
	nu_store_begin(h->s, NULL);
	int rc = nu_ingest_event(h->s, rec, "test", &res, &err);
	json_decref(rec);
	if (rc < 0) {
		nu_store_rollback(h->s);
		return luaL_error(L, "t:event: %s", err.msg);
	}
	nu_store_commit(h->s, NULL);
	pump(L, h);
	return 0;
}

static void set_virtual(void *ud, int64_t t)
{
	((struct harness *)ud)->now = t;
}

/* t:advance("3d"): jumps from due timer to due timer up to now + d. */
static int t_advance(lua_State *L)
{
	struct harness *h = H(L);
	char msg[200];
	int64_t ms;
	nu_error err;

	if (nu_duration_parse(luaL_checkstring(L, 2), &ms, msg, sizeof msg) < 0)
		return luaL_error(L, "t:advance: %s", msg);
	if (nu_engine_advance(h->e, h->now + ms, set_virtual, h, NULL, &err) < 0)
		return luaL_error(L, "engine: %s", err.msg);
	return 0;
}

/* t:enroll(flow, lead) → run id or nil, why */
static int t_enroll(lua_State *L)
{
	struct harness *h = H(L);
	char why[200] = "";
	int64_t run;
	nu_error err;

	nu_store_begin(h->s, NULL);
	if (nu_engine_enroll(h->e, luaL_checkstring(L, 2), luaL_checkinteger(L, 3), 0, &run,
			     why, sizeof why, &err) < 0) {
		nu_store_rollback(h->s);
		return luaL_error(L, "t:enroll: %s", err.msg);
	}
	nu_store_commit(h->s, NULL);
	pump(L, h);
	if (!run) {
		lua_pushnil(L);
		lua_pushstring(L, why);
		return 2;
	}
	lua_pushinteger(L, run);
	return 1;
}

/* t:tag(lead, tag) and t:stage(lead, stage): what a salesperson would do. */
static int t_tag(lua_State *L)
{
	struct harness *h = H(L);
	nu_error err;

	nu_store_begin(h->s, NULL);
	if (nu_tag_add(h->s, luaL_checkinteger(L, 2), luaL_checkstring(L, 3), -1, "test", &err) < 0) {
		nu_store_rollback(h->s);
		return luaL_error(L, "t:tag: %s", err.msg);
	}
	nu_store_commit(h->s, NULL);
	pump(L, h);
	return 0;
}

static int t_stage(lua_State *L)
{
	struct harness *h = H(L);
	nu_error err;

	nu_store_begin(h->s, NULL);
	if (nu_stage_set(h->s, luaL_checkinteger(L, 2), luaL_checkstring(L, 3), "test", "test",
			 NULL, &err) < 0) {
		nu_store_rollback(h->s);
		return luaL_error(L, "t:stage: %s", err.msg);
	}
	nu_store_commit(h->s, NULL);
	pump(L, h);
	return 0;
}

/* t:sent(lead) → { {channel=, at=ms since start, message fields…}, … } oldest first */
static int t_sent(lua_State *L)
{
	struct harness *h = H(L);
	sqlite3_stmt *st;
	int i = 0;

	if (sqlite3_prepare_v2(nu_store_db(h->s),
		"SELECT channel, message, created_at, state FROM outbox WHERE lead_id = ?"
		" AND state <> 'cancelled' ORDER BY op_id", -1, &st, NULL) != SQLITE_OK)
		return luaL_error(L, "t:sent: %s", sqlite3_errmsg(nu_store_db(h->s)));
	sqlite3_bind_int64(st, 1, luaL_checkinteger(L, 2));
	lua_newtable(L);
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *m = json_loads((const char *)sqlite3_column_text(st, 1), 0, NULL);
		nu_lua_push_json(L, m);
		json_decref(m);
		lua_pushstring(L, (const char *)sqlite3_column_text(st, 0));
		lua_setfield(L, -2, "channel");
		lua_pushinteger(L, sqlite3_column_int64(st, 2) - h->start);
		lua_setfield(L, -2, "at");
		lua_pushstring(L, (const char *)sqlite3_column_text(st, 3));
		lua_setfield(L, -2, "state");
		lua_rawseti(L, -2, ++i);
	}
	sqlite3_finalize(st);
	return 1;
}

/* t:has_tag(lead, tag), t:stage_of(lead), t:score(lead, which), t:runs(lead) */
static int t_has_tag(lua_State *L)
{
	struct harness *h = H(L);
	lua_pushboolean(L, nu_tag_has(h->s, luaL_checkinteger(L, 2), luaL_checkstring(L, 3), NULL) > 0);
	return 1;
}

static int t_lead_field(lua_State *L)
{
	struct harness *h = H(L);
	const char *which = luaL_checkstring(L, 3);
	nu_lead l;
	int f;

	if (nu_lead_load(h->s, luaL_checkinteger(L, 2), &l, NULL) < 0)
		return luaL_error(L, "no lead %d", (int)lua_tointeger(L, 2));
	if (!strcmp(which, "stage"))
		lua_pushstring(L, l.stage);
	else if (!strcmp(which, "heat") || !strcmp(which, "fit"))
		lua_pushnumber(L, !strcmp(which, "heat") ? l.heat_score : l.fit_score);
	else if ((f = nu_lead_field_lookup(which)) >= 0 && l.field[f])
		lua_pushstring(L, l.field[f]);
	else
		nu_lua_push_json(L, json_object_get(l.custom, which));
	nu_lead_clear(&l);
	return 1;
}

/* t:runs(lead) → { {flow=, status=, error=}, … } */
static int t_runs(lua_State *L)
{
	struct harness *h = H(L);
	sqlite3_stmt *st;
	int i = 0;

	if (sqlite3_prepare_v2(nu_store_db(h->s), "SELECT flow, status, error FROM run"
			       " WHERE lead_id = ? ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return luaL_error(L, "t:runs: %s", sqlite3_errmsg(nu_store_db(h->s)));
	sqlite3_bind_int64(st, 1, luaL_checkinteger(L, 2));
	lua_newtable(L);
	while (sqlite3_step(st) == SQLITE_ROW) {
		lua_createtable(L, 0, 3);
		lua_pushstring(L, (const char *)sqlite3_column_text(st, 0));
		lua_setfield(L, -2, "flow");
		lua_pushstring(L, (const char *)sqlite3_column_text(st, 1));
		lua_setfield(L, -2, "status");
		if (sqlite3_column_text(st, 2)) {
			lua_pushstring(L, (const char *)sqlite3_column_text(st, 2));
			lua_setfield(L, -2, "error");
		}
		lua_rawseti(L, -2, ++i);
	}
	sqlite3_finalize(st);
	return 1;
}

/* t:elapsed() → ms since the test's start; t:fmt(ms) → "+3d" */
static int t_elapsed(lua_State *L)
{
	struct harness *h = H(L);
	lua_pushinteger(L, h->now - h->start);
	return 1;
}

static int t_fmt(lua_State *L)
{
	struct harness *h = H(L);
	char buf[48];
	lua_pushstring(L, rel(h, h->start + luaL_checkinteger(L, 2), buf, sizeof buf));
	return 1;
}

static int t_duration(lua_State *L)
{
	char msg[200];
	int64_t ms;
	if (nu_duration_parse(luaL_checkstring(L, 1), &ms, msg, sizeof msg) < 0)
		return luaL_error(L, "%s", msg);
	lua_pushinteger(L, ms);
	return 1;
}

/* The expect_* helpers are written in Lua on top of the calls above: they
 * only compare and format, and read better that way. */
static const char expectations[] =
"local t = ...\n"
"local function fmt_send(s)\n"
"  local keys = {}\n"
"  for k in pairs(s) do if k ~= 'at' and k ~= 'channel' and k ~= 'state' then keys[#keys+1] = k end end\n"
"  table.sort(keys)\n"
"  local parts = {}\n"
"  for _, k in ipairs(keys) do if type(s[k]) ~= 'table' then parts[#parts+1] = k .. '=' .. tostring(s[k]) end end\n"
"  return t:fmt(s.at) .. ' ' .. s.channel .. ' ' .. table.concat(parts, ' ')\n"
"end\n"
"local function matches(s, want)\n"
"  for k, v in pairs(want) do\n"
"    if k == 'at' then if s.at ~= duration(v) then return false end\n"
"    elseif k == 'before' then if s.at >= duration(v) then return false end\n"
"    elseif s[k] ~= v then return false end\n"
"  end\n"
"  return true\n"
"end\n"
"local function listing(sends)\n"
"  if #sends == 0 then return 'nothing was sent' end\n"
"  local lines = {}\n"
"  for _, s in ipairs(sends) do lines[#lines+1] = '    ' .. fmt_send(s) end\n"
"  return 'sent:\\n' .. table.concat(lines, '\\n')\n"
"end\n"
"local function want_text(want)\n"
"  local keys = {}\n"
"  for k in pairs(want) do keys[#keys+1] = k end\n"
"  table.sort(keys)\n"
"  local parts = {}\n"
"  for _, k in ipairs(keys) do parts[#parts+1] = k .. '=' .. tostring(want[k]) end\n"
"  return table.concat(parts, ' ')\n"
"end\n"
"function t:expect_sent(lead, want)\n"
"  local sends = self:sent(lead)\n"
"  for _, s in ipairs(sends) do if matches(s, want) then return s end end\n"
"  error('expected a send ' .. want_text(want) .. ' at ' .. self:fmt(self:elapsed()) .. '; ' .. listing(sends), 2)\n"
"end\n"
"function t:expect_no_send(lead, want)\n"
"  local sends = self:sent(lead)\n"
"  for _, s in ipairs(sends) do if matches(s, want) then\n"
"    error('expected no send ' .. want_text(want) .. '; ' .. listing(sends), 2) end end\n"
"end\n"
"function t:expect_sends(lead, n)\n"
"  local sends = self:sent(lead)\n"
"  if #sends ~= n then error('expected ' .. n .. ' sends, got ' .. #sends .. '; ' .. listing(sends), 2) end\n"
"end\n"
"function t:expect_tag(lead, tag)\n"
"  if not self:has_tag(lead, tag) then error('expected tag ' .. tag .. ' at ' .. self:fmt(self:elapsed()), 2) end\n"
"end\n"
"function t:expect_no_tag(lead, tag)\n"
"  if self:has_tag(lead, tag) then error('expected no tag ' .. tag .. ' at ' .. self:fmt(self:elapsed()), 2) end\n"
"end\n"
"function t:expect_stage(lead, stage)\n"
"  local got = self:field(lead, 'stage')\n"
"  if got ~= stage then error('expected stage ' .. stage .. ', got ' .. got .. ' at ' .. self:fmt(self:elapsed()), 2) end\n"
"end\n"
"function t:expect_run(lead, flow, status)\n"
"  local seen = {}\n"
"  for _, r in ipairs(self:runs(lead)) do\n"
"    if r.flow == flow and r.status == status then return end\n"
"    seen[#seen+1] = r.flow .. ':' .. r.status .. (r.error and (' (' .. r.error .. ')') or '')\n"
"  end\n"
"  error('expected a ' .. status .. ' run of ' .. flow .. '; runs: ' .. (#seen > 0 and table.concat(seen, ', ') or 'none'), 2)\n"
"end\n"
"function t:expect_score(lead, which, min, max)\n"
"  local v = self:field(lead, which)\n"
"  if v < min or v > (max or min) then\n"
"    error('expected ' .. which .. ' score ' .. (max and (min .. '..' .. max) or min) .. ', got ' .. v, 2) end\n"
"end\n";

static void push_harness_api(lua_State *L)
{
	static const luaL_Reg api[] = {
		{ "lead", t_lead }, { "event", t_event }, { "advance", t_advance },
		{ "enroll", t_enroll }, { "tag", t_tag }, { "stage", t_stage }, { "sent", t_sent },
		{ "has_tag", t_has_tag }, { "field", t_lead_field }, { "runs", t_runs },
		{ "elapsed", t_elapsed }, { "fmt", t_fmt }, { NULL, NULL },
	};
	luaL_newlib(L, api);
	if (luaL_loadbufferx(L, expectations, sizeof expectations - 1, "=expectations", "t") == LUA_OK) {
		lua_pushvalue(L, -2);
		lua_call(L, 1, 0);
	}
}

static int deploy_all(struct harness *h, nu_error *err)
{
	size_t i;
	json_t *p;

	json_array_foreach(h->flows, i, p) {
		nu_flow f;
		int created, rc = nu_flow_load_file(json_string_value(p), NULL, &f, err);
		if (rc == NU_OK && (rc = nu_store_begin(h->s, err)) == NU_OK) {
			rc = nu_flow_deploy(h->s, &f, &created, err);
			rc = rc == NU_OK ? nu_store_commit(h->s, err) : (nu_store_rollback(h->s), rc);
		}
		nu_flow_clear(&f);
		if (rc < 0)
			return rc;
	}
	return nu_engine_reload(h->e, err);
}

static int setup(struct harness *h, nu_error *err)
{
	char path[128];

	strcpy(h->dir, "/tmp/nurture-flowtest-XXXXXX");
	if (!mkdtemp(h->dir))
		return nu_error_set(err, NU_ERR, "cannot make a temporary folder");
	snprintf(path, sizeof path, "%s/test.db", h->dir);
	h->now = h->start;
	if (nu_store_open(path, &(nu_store_options){ .synchronous = "OFF", .busy_timeout_ms = 5000 }, &h->s, err) < 0)
		return NU_EDB;
	nu_store_set_clock(h->s, virtual_clock, h);
	if (nu_engine_open(h->s, &h->e, err) < 0)
		return NU_EDB;
	return deploy_all(h, err);
}

static void teardown(struct harness *h)
{
	char cmd[128];

	nu_engine_close(h->e);
	nu_store_close(h->s);
	h->e = NULL;
	h->s = NULL;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", h->dir);
}

/* Runs tests[name] with a fresh harness. */
static int run_one(nu_lua_sandbox *sb, struct harness *h, int tests, const char *name,
		   char *why, size_t len)
{
	lua_State *L = sb->L;
	nu_error err;
	int ok;

	if (setup(h, &err) < 0) {
		snprintf(why, len, "setting up: %s", err.msg);
		teardown(h);
		return 0;
	}
	nu_lua_sandbox_reset_budget(sb);
	lua_getfield(L, tests, name);
	push_harness_api(L);
	ok = nu_lua_sandbox_pcall(sb, 1, 0, &err) == NU_OK;
	if (!ok)
		snprintf(why, len, "%s", err.msg);
	teardown(h);
	return ok;
}

static int read_header(lua_State *L, struct harness *h, const char *path, nu_error *err)
{
	const char *slash = strrchr(path, '/');
	int dir = slash ? (int)(slash - path + 1) : 0;
	char msg[200];

	lua_getfield(L, -1, "start");
	if (lua_isstring(L, -1) && nu_time_parse(lua_tostring(L, -1), &h->start, msg, sizeof msg) < 0)
		return nu_error_set(err, NU_EINVAL, "%s: start: %s", path, msg);
	if (lua_isnil(L, -1))
		nu_time_parse("2026-03-02T09:00:00+08:00", &h->start, NULL, 0);
	lua_pop(L, 1);
	h->flows = json_array();
	lua_getfield(L, -1, "flows");
	if (!lua_istable(L, -1))
		return nu_error_set(err, NU_EINVAL, "%s: 'flows' must list the flow files to test", path);
	for (lua_Integer i = 1; lua_rawgeti(L, -1, i) == LUA_TSTRING; i++) {
		char p[1024];
		snprintf(p, sizeof p, "%.*s%s", dir, path, lua_tostring(L, -1));
		json_array_append_new(h->flows, json_string(p));
		lua_pop(L, 1);
	}
	lua_pop(L, 2);
	lua_getfield(L, -1, "tests");
	if (!lua_istable(L, -1))
		return nu_error_set(err, NU_EINVAL, "%s: 'tests' must be a table of functions", path);
	return NU_OK;
}

/* Test names in sorted order: stable output whatever the hash seed. */
static json_t *test_names(lua_State *L, int tests)
{
	json_t *names = json_array();

	lua_pushnil(L);
	while (lua_next(L, tests)) {
		if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1))
			json_array_append_new(names, json_string(lua_tostring(L, -2)));
		lua_pop(L, 1);
	}
	size_t n = json_array_size(names);
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && strcmp(json_string_value(json_array_get(names, b - 1)),
						   json_string_value(json_array_get(names, b))) > 0; b--) {
			json_t *x = json_incref(json_array_get(names, b));
			json_array_set(names, b, json_array_get(names, b - 1));
			json_array_set_new(names, b - 1, x);
		}
	return names;
}

int nu_flowtest_run(const char *path, FILE *out, nu_flowtest_result *res, nu_error *err)
{
	struct harness h = { .file = path };
	nu_lua_sandbox sb;
	json_t *names = NULL;
	int rc;

	if ((rc = nu_lua_sandbox_open(&sb, TEST_MEM, TEST_INSTR, err)) < 0)
		return rc;
	sb.owner = &h;
	lua_pushcfunction(sb.L, t_duration);
	lua_setglobal(sb.L, "duration");
	if ((rc = nu_lua_sandbox_loadfile(&sb, path, err)) == NU_OK &&
	    (rc = nu_lua_sandbox_pcall(&sb, 0, 1, err)) == NU_OK) {
		if (!lua_istable(sb.L, -1))
			rc = nu_error_set(err, NU_EINVAL, "%s: must return a table", path);
		else
			rc = read_header(sb.L, &h, path, err);
	}
	if (rc == NU_OK) {
		int tests = lua_gettop(sb.L);
		size_t i;
		json_t *name;
		names = test_names(sb.L, tests);
		json_array_foreach(names, i, name) {
			char why[2048] = "";
			int ok = run_one(&sb, &h, tests, json_string_value(name), why, sizeof why);
			int n = res->passed + res->failed + 1;
			fprintf(out, "%s %d - %s: %s\n", ok ? "ok" : "not ok", n, path,
				json_string_value(name));
			if (!ok) {
				for (char *line = strtok(why, "\n"); line; line = strtok(NULL, "\n"))
					fprintf(out, "#   %s\n", line);
			}
			ok ? res->passed++ : res->failed++;
		}
	}
	json_decref(names);
	json_decref(h.flows);
	nu_lua_sandbox_close(&sb);
	return rc;
}
