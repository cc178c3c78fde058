/*
 * lua_json.c — Lua ⇄ JSON for journaled effect requests and results.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "json_text.h"
#include "lua_json.h"

#define MAX_DEPTH 32

static json_t *convert(lua_State *L, int idx, int depth, char *path, size_t plen,
		       nu_error *err);

/* 1..n with no holes and nothing else: an array. */
static int is_sequence(lua_State *L, int idx, lua_Integer *n)
{
	lua_Integer count = 0, max = 0;

	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
			lua_pop(L, 1);
			return 0;
		}
		count++;
		if (lua_tointeger(L, -1) > max)
			max = lua_tointeger(L, -1);
	}
	*n = count;
	return count == max;
}

static json_t *convert_table(lua_State *L, int idx, int depth, char *path, size_t plen,
			     nu_error *err)
{
	size_t mark = strlen(path);
	lua_Integer n;
	json_t *out;

	if (lua_getmetatable(L, idx)) {
		lua_pop(L, 1);
		nu_error_set(err, NU_EINVAL, "%s: tables with metatables cannot be stored",
			     path[0] ? path : "value");
		return NULL;
	}
	/* An empty table is an empty object: props, where and messages are
	 * objects far more often than an empty list is meant. */
	if (is_sequence(L, idx, &n) && n > 0) {
		out = json_array();
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, i);
			snprintf(path + mark, plen - mark, "[%lld]", (long long)i);
			json_t *v = convert(L, lua_gettop(L), depth + 1, path, plen, err);
			lua_pop(L, 1);
			path[mark] = '\0';
			if (!v) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, v);
		}
		return out;
	}
	out = json_object();
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		if (lua_type(L, -2) != LUA_TSTRING) {
			lua_pop(L, 2);
			json_decref(out);
			nu_error_set(err, NU_EINVAL, "%s: a table must use either 1..n or string keys",
				     path[0] ? path : "value");
			return NULL;
		}
		const char *k = lua_tostring(L, -2);
		snprintf(path + mark, plen - mark, "%s%s", mark ? "." : "", k);
		json_t *v = convert(L, lua_gettop(L), depth + 1, path, plen, err);
		path[mark] = '\0';
		lua_pop(L, 1);
		if (!v) {
			lua_pop(L, 1);
			json_decref(out);
			return NULL;
		}
		json_object_set_new(out, k, v);
	}
	return out;
}

static json_t *convert(lua_State *L, int idx, int depth, char *path, size_t plen,
		       nu_error *err)
{
	if (depth > MAX_DEPTH) {
		nu_error_set(err, NU_EINVAL, "%s: nested too deeply (or a cycle)",
			     path[0] ? path : "value");
		return NULL;
	}
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return json_null();
	case LUA_TBOOLEAN:
		return json_boolean(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return json_integer(lua_tointeger(L, idx));
		if (!isfinite(lua_tonumber(L, idx))) {
			nu_error_set(err, NU_EINVAL, "%s: not a finite number", path[0] ? path : "value");
			return NULL;
		}
		return json_real(lua_tonumber(L, idx));
	case LUA_TSTRING: {
		size_t n;
		const char *s = lua_tolstring(L, idx, &n);
		json_t *v = json_stringn(s, n);
		if (!v)
			nu_error_set(err, NU_EINVAL, "%s: text is not valid UTF-8", path[0] ? path : "value");
		return v;
	}
	case LUA_TTABLE:
		return convert_table(L, lua_absindex(L, idx), depth, path, plen, err);
	default:
		nu_error_set(err, NU_EINVAL, "%s: a %s cannot be stored", path[0] ? path : "value",
			     lua_typename(L, lua_type(L, idx)));
		return NULL;
	}
}

json_t *nu_lua_to_json(lua_State *L, int idx, nu_error *err)
{
	char path[256] = "";

	if (!lua_checkstack(L, 2 * MAX_DEPTH + 8)) {
		nu_error_set(err, NU_ENOMEM, "Lua stack exhausted");
		return NULL;
	}
	return convert(L, lua_absindex(L, idx), 0, path, sizeof path, err);
}

void nu_lua_push_json(lua_State *L, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *item;
		lua_createtable(L, 0, (int)json_object_size(v));
		json_object_foreach((json_t *)v, k, item) {
			nu_lua_push_json(L, item);
			lua_setfield(L, -2, k);
		}
		break;
	}
	case JSON_ARRAY:
		lua_createtable(L, (int)json_array_size(v), 0);
		for (size_t i = 0; i < json_array_size(v); i++) {
			nu_lua_push_json(L, json_array_get(v, i));
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case JSON_STRING:
		lua_pushlstring(L, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		lua_pushinteger(L, (lua_Integer)json_integer_value(v));
		break;
	case JSON_REAL:
		lua_pushnumber(L, json_real_value(v));
		break;
	case JSON_TRUE:
		lua_pushboolean(L, 1);
		break;
	case JSON_FALSE:
		lua_pushboolean(L, 0);
		break;
	default:
		lua_pushnil(L);
	}
}

/* Sorts keys recursively into a copy, then writes it compactly. */
static json_t *sorted_copy(const json_t *v)
{
	if (json_is_object(v)) {
		size_t n = json_object_size(v), i = 0;
		const char **keys = malloc((n ? n : 1) * sizeof *keys);
		const char *k;
		json_t *item, *out = json_object();
		json_object_foreach((json_t *)v, k, item)
			keys[i++] = k;
		for (size_t a = 1; a < n; a++)
			for (size_t b = a; b > 0 && strcmp(keys[b - 1], keys[b]) > 0; b--) {
				const char *t = keys[b];
				keys[b] = keys[b - 1];
				keys[b - 1] = t;
			}
		for (i = 0; i < n; i++)
			json_object_set_new(out, keys[i], sorted_copy(json_object_get(v, keys[i])));
		free(keys);
		return out;
	}
	if (json_is_array(v)) {
		json_t *out = json_array();
		for (size_t i = 0; i < json_array_size(v); i++)
			json_array_append_new(out, sorted_copy(json_array_get(v, i)));
		return out;
	}
	return json_incref((json_t *)v);
}

char *nu_json_canonical(const json_t *v)
{
	json_t *s = sorted_copy(v);
	char *text = nu_json_text(s);
	json_decref(s);
	return text;
}
