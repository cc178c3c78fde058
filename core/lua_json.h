/*
 * lua_json.h — converting between Lua values and JSON, for the journal.
 *
 * Effect requests are compared on replay, so their JSON must not depend
 * on pairs() order (which changes between processes): objects are written
 * with sorted keys. A Lua table is an array when its keys are exactly
 * 1..n, an object when all keys are strings; anything else (functions,
 * mixed keys, cycles, NaN) is an error naming the path.
 */
#ifndef NU_LUA_JSON_H
#define NU_LUA_JSON_H

#include <jansson.h>
#include <lua.h>
#include "error.h"

/* Converts the value at idx (never raises). Sorted object keys. */
json_t *nu_lua_to_json(lua_State *L, int idx, nu_error *err);
/* Pushes the Lua form of v (objects → tables, arrays → sequences, null →
 * nil inside arrays is kept as a JSON-null sentinel-free hole). */
void nu_lua_push_json(lua_State *L, const json_t *v);
/* Canonical text (sorted keys, compact) of a JSON value; caller frees. */
char *nu_json_canonical(const json_t *v);

#endif
