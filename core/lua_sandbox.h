/*
 * lua_sandbox.h — Lua states that run untrusted scripts (the config file
 * now, nurture flows later) with a memory cap, an instruction budget and
 * only the safe parts of the standard library.
 *
 * Budgets are enforced the Redis way: once the instruction budget is spent,
 * the count hook is re-armed to fire on every instruction and raise again,
 * so a script that catches the first error with pcall cannot go on.
 */
#ifndef NU_LUA_SANDBOX_H
#define NU_LUA_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>
#include "error.h"

typedef struct nu_lua_sandbox {
	lua_State *L;
	size_t     mem_used, mem_limit;
	uint64_t   instr_used, instr_limit;
	size_t     mem_allowance; /* nu_lua_sandbox_begin: heap allowed on top of what is in use */
	int        exhausted;     /* the instruction budget ran out */
	int        traceback;     /* append a Lua traceback to error messages */
	void      *owner;         /* for bindings: the run or config being built */
} nu_lua_sandbox;

/* Opens a state with base (without dofile, loadfile, collectgarbage,
 * print; load accepts text only), string (without dump), table, math
 * (without random, randomseed) and utf8. mem_limit bytes of Lua heap,
 * instr_limit VM instructions (0 = unlimited). The sandbox struct must
 * stay at a fixed address while the state lives. */
int nu_lua_sandbox_open(nu_lua_sandbox *sb, size_t mem_limit,
			uint64_t instr_limit, nu_error *err);
void nu_lua_sandbox_close(nu_lua_sandbox *sb);

/* Makes reading an undefined global an error that names it. */
void nu_lua_sandbox_strict_globals(nu_lua_sandbox *sb);

/* Compiles text (bytecode refused) as chunk `name` ("@path" style). On
 * success the function is on the stack. */
int nu_lua_sandbox_load(nu_lua_sandbox *sb, const char *src, size_t len,
			const char *name, nu_error *err);
/* Reads and compiles a file. */
int nu_lua_sandbox_loadfile(nu_lua_sandbox *sb, const char *path, nu_error *err);

/* Calls the function below nargs arguments with a traceback handler;
 * errors (including budget and memory) become a message in err. */
int nu_lua_sandbox_pcall(nu_lua_sandbox *sb, int nargs, int nresults,
			 nu_error *err);

nu_lua_sandbox *nu_lua_sandbox_of(lua_State *L);

/* ---- one state for many runs ---------------------------------------------
 * Opening a state costs more than most flow steps (the libraries alone
 * are ~150 allocations), so the engine keeps one and gives each step an
 * environment of its own instead of a state of its own.
 *
 * nu_lua_sandbox_freeze turns the globals into a read-only base: the
 * string, table, math and utf8 tables become proxies that cannot be
 * written (not even with rawset), the strings' metatable is locked, and
 * _G is left to each environment. nu_lua_sandbox_push_env then makes a
 * fresh environment (globals written by a step stay in it, reads fall
 * through to the base) and the current one: load() and modules loaded
 * while it is current see it. Nothing one step does is visible to the
 * next. Call after the libraries and functions are in place, before
 * nu_lua_sandbox_strict_globals. */
void nu_lua_sandbox_freeze(nu_lua_sandbox *sb);
/* [-0, +1, m] */
void nu_lua_sandbox_push_env(nu_lua_sandbox *sb);
/* Pushes the current environment; makes the table on top current (and
 * pops it). A step continued later gets its own environment back. */
void nu_lua_sandbox_get_env(nu_lua_sandbox *sb);
void nu_lua_sandbox_set_env(nu_lua_sandbox *sb);
/* Sets the first upvalue (_ENV) of the function on top of L to the
 * current environment; no-op in a state that was never frozen. */
void nu_lua_sandbox_use_env(lua_State *L);
/* Starts a step: empties the stack, allows mem_allowance bytes on top of
 * what the state holds now (0 = no cap), gives a fresh instruction
 * budget. */
void nu_lua_sandbox_begin(nu_lua_sandbox *sb, size_t mem_allowance);
/* The heap cap as a step sees it, for messages. */
size_t nu_lua_sandbox_mem_allowed(const nu_lua_sandbox *sb);

/* Gives the state a fresh instruction budget (the hook back to its normal
 * rate), for harnesses that run several scripts in one state. */
void nu_lua_sandbox_reset_budget(nu_lua_sandbox *sb);

#endif
