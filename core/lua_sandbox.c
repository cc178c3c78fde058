/*
 * lua_sandbox.c — sandboxed Lua states: allocator with a cap, instruction
 * budget hook, library whitelist, text-only loading.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include "lua_sandbox.h"

#define HOOK_EVERY 1000   /* instructions between budget checks */

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	nu_lua_sandbox *sb = ud;
	size_t old = ptr ? osize : 0;

	if (nsize == 0) {
		sb->mem_used -= old;
		free(ptr);
		return NULL;
	}
	if (nsize > old && sb->mem_limit &&
	    sb->mem_used - old + nsize > sb->mem_limit)
		return NULL;   /* Lua raises LUA_ERRMEM: "not enough memory" */
	void *p = realloc(ptr, nsize);
	if (p)
		sb->mem_used = sb->mem_used - old + nsize;
	return p;
}

size_t nu_lua_sandbox_mem_allowed(const nu_lua_sandbox *sb)
{
	return sb->mem_allowance ? sb->mem_allowance : sb->mem_limit;
}

nu_lua_sandbox *nu_lua_sandbox_of(lua_State *L)
{
	return *(nu_lua_sandbox **)lua_getextraspace(L);
}

/* [-0, +0, v] */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
	nu_lua_sandbox *sb = nu_lua_sandbox_of(L);

	(void)ar;
	if (!sb->exhausted) {
		sb->instr_used += HOOK_EVERY;
		if (sb->instr_used < sb->instr_limit)
			return;
		sb->exhausted = 1;
		/* From now on fire on every instruction: a pcall that catches
		 * the error below gets no further than its next instruction. */
		lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
	}
	luaL_error(L, "instruction budget of %I exhausted", (lua_Integer)sb->instr_limit);
}

#define ENV_KEY    "nurture.env"      /* registry: the current environment */
#define ENV_MT_KEY "nurture.env_mt"   /* registry: the metatable of environments */

/* load(chunk [, chunkname [, mode [, env]]]) that refuses bytecode.
 * [-(1|2|3|4), +(1|2), -] */
static int safe_load(lua_State *L)
{
	size_t len;
	const char *src = luaL_checklstring(L, 1, &len);
	const char *name = luaL_optstring(L, 2, "=(load)");
	int has_env = !lua_isnone(L, 4);

	if (luaL_loadbufferx(L, src, len, name, "t") != LUA_OK) {
		luaL_pushfail(L);
		lua_insert(L, -2);
		return 2;
	}
	if (has_env) {
		lua_pushvalue(L, 4);
		if (!lua_setupvalue(L, -2, 1))
			lua_pop(L, 1);
	} else {
		nu_lua_sandbox_use_env(L);   /* never the shared base of a frozen state */
	}
	return 1;
}

/* 1 if the table at idx is one of the read-only library proxies
 * (freeze_library). */
static int is_frozen(lua_State *L, int idx)
{
	if (luaL_getmetafield(L, idx, "__frozen") == LUA_TNIL)
		return 0;
	lua_pop(L, 1);
	return 1;
}

/* rawset that leaves the shared library tables alone. [-3, +1, e] */
static int safe_rawset(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	if (is_frozen(L, 1))
		return luaL_error(L, "library tables are read-only");
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* setmetatable that refuses __gc: Lua runs finalizers with hooks turned
 * off, so a finalizer would escape the instruction budget (and its timing
 * is not deterministic, which replayed flows need). Lua only registers an
 * object for finalization if __gc is present at setmetatable time, so
 * checking here is enough. [-2, +1, e] */
static int safe_setmetatable(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "__gc metamethods are not allowed here");
		lua_pop(L, 1);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

static void remove_field(lua_State *L, const char *table, const char *field)
{
	if (table) {
		lua_getglobal(L, table);
		lua_pushnil(L);
		lua_setfield(L, -2, field);
		lua_pop(L, 1);
	} else {
		lua_pushnil(L);
		lua_setglobal(L, field);
	}
}

static void open_safe_libs(lua_State *L)
{
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base }, { LUA_STRLIBNAME, luaopen_string },
		{ LUA_TABLIBNAME, luaopen_table }, { LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 }, { NULL, NULL },
	};
	for (const luaL_Reg *lib = libs; lib->func; lib++) {
		luaL_requiref(L, lib->name, lib->func, 1);
		lua_pop(L, 1);
	}
	remove_field(L, NULL, "dofile");
	remove_field(L, NULL, "loadfile");
	remove_field(L, NULL, "collectgarbage");
	remove_field(L, NULL, "print");
	remove_field(L, "string", "dump");
	remove_field(L, "math", "random");
	remove_field(L, "math", "randomseed");
	lua_pushcfunction(L, safe_load);
	lua_setglobal(L, "load");
	lua_getglobal(L, "setmetatable");
	lua_pushcclosure(L, safe_setmetatable, 1);
	lua_setglobal(L, "setmetatable");
}

static void warn_ignore(void *ud, const char *msg, int tocont)
{
	(void)ud; (void)msg; (void)tocont;
}

int nu_lua_sandbox_open(nu_lua_sandbox *sb, size_t mem_limit,
			uint64_t instr_limit, nu_error *err)
{
	memset(sb, 0, sizeof *sb);
	sb->mem_limit = mem_limit;
	sb->instr_limit = instr_limit;
	if (!(sb->L = lua_newstate(capped_alloc, sb)))
		return nu_error_set(err, NU_ENOMEM, "cannot create Lua state");
	*(nu_lua_sandbox **)lua_getextraspace(sb->L) = sb;
	lua_setwarnf(sb->L, warn_ignore, NULL);
	open_safe_libs(sb->L);
	if (instr_limit)
		lua_sethook(sb->L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
	return NU_OK;
}

/* __newindex of a read-only library. [-3, +0, v] */
static int frozen_write(lua_State *L)
{
	return luaL_error(L, "library tables are read-only (cannot set '%s')",
			  luaL_optstring(L, 2, "?"));
}

/* The iterator of a read-only library: next() over the library held as
 * its upvalue, so that the loop's state is the proxy, never the library
 * itself (a `local _, lib = pairs(string)` could otherwise change it for
 * every run). [-2, +(1|2), -] */
static int frozen_next(lua_State *L)
{
	lua_settop(L, 2);
	if (lua_next(L, lua_upvalueindex(1)))
		return 2;
	lua_pushnil(L);
	return 1;
}

/* __pairs of a read-only library. [-1, +3, -] */
static int frozen_pairs(lua_State *L)
{
	luaL_getmetafield(L, 1, "__index");
	lua_pushcclosure(L, frozen_next, 1);
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

/* Replaces the library table in global `name` with an empty table whose
 * reads fall through to it and whose writes fail. [-0, +0, m] */
static void freeze_library(lua_State *L, const char *name)
{
	if (lua_getglobal(L, name) != LUA_TTABLE) {
		lua_pop(L, 1);
		return;
	}
	lua_newtable(L);                        /* the proxy */
	lua_newtable(L);                        /* its metatable */
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, frozen_write);
	lua_setfield(L, -2, "__newindex");
	lua_pushcfunction(L, frozen_pairs);
	lua_setfield(L, -2, "__pairs");
	lua_pushboolean(L, 1);
	lua_setfield(L, -2, "__frozen");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");     /* no getmetatable, no setmetatable */
	lua_setmetatable(L, -2);
	lua_setglobal(L, name);
	lua_pop(L, 1);
}

void nu_lua_sandbox_freeze(nu_lua_sandbox *sb)
{
	static const char *const libs[] = { LUA_STRLIBNAME, LUA_TABLIBNAME, LUA_MATHLIBNAME,
					    LUA_UTF8LIBNAME, NULL };
	lua_State *L = sb->L;

	for (const char *const *lib = libs; *lib; lib++)
		freeze_library(L, *lib);
	/* All strings share one metatable whose __index is the real string
	 * library: locked, getmetatable("") cannot reach it. */
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "__metatable");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	lua_getglobal(L, "rawset");
	lua_pushcclosure(L, safe_rawset, 1);
	lua_setglobal(L, "rawset");
	lua_pushnil(L);
	lua_setglobal(L, "_G");              /* each environment has its own */
	lua_newtable(L);                     /* environments read through to the base */
	lua_pushglobaltable(L);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setfield(L, LUA_REGISTRYINDEX, ENV_MT_KEY);
}

void nu_lua_sandbox_push_env(nu_lua_sandbox *sb)
{
	lua_State *L = sb->L;

	lua_createtable(L, 0, 4);
	lua_pushvalue(L, -1);
	lua_setfield(L, -2, "_G");
	lua_getfield(L, LUA_REGISTRYINDEX, ENV_MT_KEY);
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, ENV_KEY);
}

void nu_lua_sandbox_get_env(nu_lua_sandbox *sb)
{
	lua_getfield(sb->L, LUA_REGISTRYINDEX, ENV_KEY);
}

void nu_lua_sandbox_set_env(nu_lua_sandbox *sb)
{
	lua_setfield(sb->L, LUA_REGISTRYINDEX, ENV_KEY);
}

/* [-0, +0, -] */
void nu_lua_sandbox_use_env(lua_State *L)
{
	if (lua_getfield(L, LUA_REGISTRYINDEX, ENV_KEY) == LUA_TNIL || !lua_setupvalue(L, -2, 1))
		lua_pop(L, 1);
}

void nu_lua_sandbox_begin(nu_lua_sandbox *sb, size_t mem_allowance)
{
	lua_settop(sb->L, 0);
	sb->mem_allowance = mem_allowance;
	sb->mem_limit = mem_allowance ? sb->mem_used + mem_allowance : 0;
	nu_lua_sandbox_reset_budget(sb);
}

void nu_lua_sandbox_reset_budget(nu_lua_sandbox *sb)
{
	sb->instr_used = 0;
	sb->exhausted = 0;
	if (sb->instr_limit)
		lua_sethook(sb->L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
}

void nu_lua_sandbox_close(nu_lua_sandbox *sb)
{
	if (sb->L)
		lua_close(sb->L);
	sb->L = NULL;
}

/* __index of _G under strict globals. [-2, +0, v] */
static int undefined_global(lua_State *L)
{
	return luaL_error(L, "unknown name '%s'", luaL_optstring(L, 2, "?"));
}

void nu_lua_sandbox_strict_globals(nu_lua_sandbox *sb)
{
	lua_State *L = sb->L;

	lua_pushglobaltable(L);
	lua_newtable(L);
	lua_pushcfunction(L, undefined_global);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_pop(L, 1);
}

int nu_lua_sandbox_load(nu_lua_sandbox *sb, const char *src, size_t len,
			const char *name, nu_error *err)
{
	int rc = luaL_loadbufferx(sb->L, src, len, name, "t");

	if (rc != LUA_OK) {
		nu_error_set(err, NU_EINVAL, "%s", lua_tostring(sb->L, -1));
		lua_pop(sb->L, 1);
		return NU_EINVAL;
	}
	return NU_OK;
}

int nu_lua_sandbox_loadfile(nu_lua_sandbox *sb, const char *path, nu_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL, name[1024];
	size_t len = 0, cap = 0, got;
	int rc;

	if (!f)
		return nu_error_set(err, NU_ENOTFOUND, "cannot open '%s': %s", path,
				    strerror(errno));
	do {
		if (len == cap) {
			char *g = realloc(buf, cap = cap ? cap * 2 : 8192);
			if (!g) {
				free(buf);
				fclose(f);
				return nu_error_set(err, NU_ENOMEM, "out of memory");
			}
			buf = g;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
	} while (got > 0);
	fclose(f);
	snprintf(name, sizeof name, "@%s", path);
	rc = nu_lua_sandbox_load(sb, buf ? buf : "", len, name, err);
	free(buf);
	return rc;
}

/* Message handler: adds a traceback unless the error is not a string.
 * [-1, +1, m] */
static int traceback(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);
	luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
	return 1;
}

int nu_lua_sandbox_pcall(nu_lua_sandbox *sb, int nargs, int nresults,
			 nu_error *err)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L) - nargs, rc;

	if (!sb->traceback) {
		rc = lua_pcall(L, nargs, nresults, 0);
	} else {
		lua_pushcfunction(L, traceback);
		lua_insert(L, base);
		rc = lua_pcall(L, nargs, nresults, base);
		lua_remove(L, base);
	}
	if (rc == LUA_OK)
		return NU_OK;
	if (rc == LUA_ERRMEM)
		nu_error_set(err, NU_ENOMEM, "memory limit of %zu bytes exceeded",
			     nu_lua_sandbox_mem_allowed(sb));
	else if (lua_type(L, -1) == LUA_TSTRING)
		nu_error_set(err, NU_EINVAL, "%s", lua_tostring(L, -1));
	else
		nu_error_set(err, NU_EINVAL, "error raised with a %s value instead of a message",
			     luaL_typename(L, -1));
	lua_pop(L, 1);
	return rc == LUA_ERRMEM ? NU_ENOMEM : NU_EINVAL;
}

