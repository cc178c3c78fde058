/*
 * config.c — loading and checking nurture.conf.lua.
 *
 * The checker walks the returned table against a table of known keys. Each
 * key has a reader that converts and validates its value; errors carry the
 * key's full path ("tags['interest:crm'].ttl") so users can find it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "config.h"
#include "log.h"
#include "lua_sandbox.h"
#include "timefmt.h"

#define CONFIG_MEM_LIMIT   (8u << 20)
#define CONFIG_INSTR_LIMIT 10000000u

const char nu_config_sample[] =
"-- nurture.conf.lua — configuration of the nurture daemon and CLI.\n"
"-- This file is Lua and must return a table. It runs sandboxed: no io, os or\n"
"-- require; env(\"NAME\") reads an environment variable (use it for secrets).\n"
"-- An unknown key or a wrong type is an error that names the key.\n"
"return {\n"
"  -- The SQLite database file, relative to this file's folder.\n"
"  database = \"nurture.db\",\n"
"\n"
"  -- SQLite durability: \"NORMAL\" (default; a power cut may lose the last\n"
"  -- commits but never corrupts), \"FULL\" (fsync every commit), \"OFF\".\n"
"  synchronous = \"NORMAL\",\n"
"  busy_timeout_ms = 5000,\n"
"\n"
"  -- Country calling code for phone numbers written without one.\n"
"  phone_default_country = \"+86\",\n"
"\n"
"  log_level = \"info\",   -- debug, info, warn, error\n"
"\n"
"  -- The funnel, in order, and the side stages. Forward moves may skip\n"
"  -- stages; going back goes through the first side stage (Recycled).\n"
"  stages = {\n"
"    funnel = { \"Lead\", \"MQL\", \"SQL\", \"Opportunity\", \"Deal\" },\n"
"    side   = { \"Recycled\", \"Disqualified\" },\n"
"    -- transitions = { Deal = { \"Recycled\" } },  -- replace one stage's rules\n"
"  },\n"
"\n"
"  -- Tag definitions. category: attribute, source, behaviour, interest,\n"
"  -- industry; class: fact (given), analytic (derived by a rule),\n"
"  -- predictive (derived by a model); ttl: the tag expires on its own.\n"
"  tags = {\n"
"    [\"interest:crm\"]                   = { category = \"interest\", weight = 5 },\n"
"    [\"interest:marketing_automation\"]  = { category = \"interest\", weight = 5 },\n"
"    [\"interest:cdp\"]                   = { category = \"interest\", weight = 5 },\n"
"    [\"behaviour:downloaded_whitepaper\"] = { category = \"behaviour\", weight = 10, ttl = \"90d\" },\n"
"    [\"behaviour:attended_webinar\"]     = { category = \"behaviour\", weight = 15, ttl = \"90d\" },\n"
"    [\"behaviour:requested_demo\"]       = { category = \"behaviour\", weight = 30, ttl = \"60d\" },\n"
"    [\"behaviour:hot\"]                  = { category = \"behaviour\", class = \"analytic\", weight = 20, ttl = \"14d\" },\n"
"  },\n"
"\n"
"  -- Sending policies, checked with every send. Uncomment to use: nothing\n"
"  -- is sent in the lead's night (held until morning, never dropped), at\n"
"  -- most 3 sends per lead and channel a week (more are refused and the\n"
"  -- flow is told); temporary provider failures are always retried with\n"
"  -- growing delays (these are the defaults).\n"
"  -- policies = {\n"
"  --   quiet_hours = { from = 21, to = 8 },\n"
"  --   frequency   = { max = 3, per = \"7d\" },\n"
"  --   retry       = { max_attempts = 6, base = \"30s\", max_delay = \"6h\" },\n"
"  -- },\n"
"\n"
"  -- Channel plugins: every *.so in dir is loaded by nurture serve. Files\n"
"  -- others could write are refused. Each plugin reads its own section.\n"
"  -- plugins = {\n"
"  --   dir  = \"/usr/lib/nurture/plugins\",\n"
"  --   mock = { default_outcome = \"ok\" },\n"
"  -- },\n"
"\n"
"  -- The HTTP API of nurture serve (docs/api.md). Loopback by default;\n"
"  -- every /v1 call needs one of the tokens (scopes: ingest, read, admin).\n"
"  -- tracking_key signs open, click and unsubscribe links (16+ bytes).\n"
"  -- http = {\n"
"  --   listen       = \"127.0.0.1:7780\",\n"
"  --   public_url   = \"https://t.example.com\",  -- what links in messages point at\n"
"  --   tracking_key = env(\"NURTURE_TRACKING_KEY\"),\n"
"  --   tokens = {\n"
"  --     { name = \"website\", token = env(\"NURTURE_INGEST_TOKEN\"), scopes = { \"ingest\" } },\n"
"  --     { name = \"ops\",     token = env(\"NURTURE_ADMIN_TOKEN\"),  scopes = { \"admin\" } },\n"
"  --   },\n"
"  --   max_body = 10485760, max_header = 16384, max_connections = 1024, timeout = 30,\n"
"  --   commit_window_us = 1000,  -- ingest requests arriving this close share a commit\n"
"  -- },\n"
"}\n";

void nu_config_defaults(nu_config *c)
{
	memset(c, 0, sizeof *c);
	strcpy(c->synchronous, "NORMAL");
	c->busy_timeout_ms = 5000;
	strcpy(c->phone_default_cc, "86");
	c->log_level = 1;  /* info */
	nu_stage_model_default(&c->stages);
	c->plugin_config = json_object();
	c->http.max_body = 10 << 20;
	c->http.max_header = 16 << 10;
	c->http.max_connections = 1024;
	c->http.timeout_s = 30;
	c->http.commit_window_us = 1000;
}

void nu_config_free(nu_config *c)
{
	free(c->plugin_dir);
	json_decref(c->plugin_config);
	free(c->path);
	free(c->database);
	free(c->tags);
	memset(c, 0, sizeof *c);
}

/* Pushes t[key] without metamethods: the checker runs outside any
 * protected call, so an __index function must never run here. */
static int rawfield(lua_State *L, int idx, const char *key)
{
	idx = lua_absindex(L, idx);
	lua_pushstring(L, key);
	return lua_rawget(L, idx);
}

/* Reading context: the path of the key being read, for messages. */
struct reader {
	lua_State *L;
	nu_config *c;
	const char *file;
	nu_error *err;
};

static const char *lua_type_word(lua_State *L, int idx)
{
	switch (lua_type(L, idx)) {
	case LUA_TNUMBER: return lua_isinteger(L, idx) ? "an integer" : "a number";
	case LUA_TSTRING: return "a string";
	case LUA_TTABLE: return "a table";
	case LUA_TBOOLEAN: return "a boolean";
	case LUA_TFUNCTION: return "a function";
	case LUA_TNIL: return "nil";
	default: return "a value of another type";
	}
}

static int bad_type(struct reader *r, const char *key, const char *want, int idx)
{
	return nu_error_set(r->err, NU_EINVAL, "%s: key '%s' must be %s, got %s",
			    r->file, key, want, lua_type_word(r->L, idx));
}

static int read_string(struct reader *r, const char *key, int idx, char *out,
		       size_t len)
{
	size_t n;
	const char *s;

	if (lua_type(r->L, idx) != LUA_TSTRING)
		return bad_type(r, key, "a string", idx);
	s = lua_tolstring(r->L, idx, &n);
	if (n >= len)
		return nu_error_set(r->err, NU_EINVAL, "%s: key '%s' is too long",
				    r->file, key);
	memcpy(out, s, n + 1);
	return NU_OK;
}

static int read_one_of(struct reader *r, const char *key, int idx, char *out,
		       size_t len, const char *const *allowed)
{
	char list[160] = "";

	if (lua_type(r->L, idx) == LUA_TSTRING) {
		for (const char *const *a = allowed; *a; a++) {
			if (strcmp(lua_tostring(r->L, idx), *a) == 0)
				return read_string(r, key, idx, out, len);
			snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
				 a == allowed ? "" : ", ", *a);
		}
		return nu_error_set(r->err, NU_EINVAL,
			"%s: key '%s' has an unknown value '%.40s' (one of: %s)",
			r->file, key, lua_tostring(r->L, idx), list);
	}
	return bad_type(r, key, "a string", idx);
}

/* Reads an array of strings at idx into a fixed array of names. */
static int read_names(struct reader *r, const char *key, int idx,
		      char names[][NU_STAGE_NAME_MAX], size_t max, size_t *n)
{
	if (!lua_istable(r->L, idx))
		return bad_type(r, key, "a list of strings", idx);
	*n = lua_rawlen(r->L, idx);
	if (*n > max)
		return nu_error_set(r->err, NU_EINVAL, "%s: key '%s' lists more than %zu names",
				    r->file, key, max);
	for (size_t i = 0; i < *n; i++) {
		char path[96];
		snprintf(path, sizeof path, "%s[%zu]", key, i + 1);
		lua_rawgeti(r->L, idx, (lua_Integer)i + 1);
		int rc = read_string(r, path, -1, names[i], NU_STAGE_NAME_MAX);
		lua_pop(r->L, 1);
		if (rc < 0)
			return rc;
	}
	return NU_OK;
}

/* Checks every key of the table at idx against `known` (NULL-terminated). */
static int check_keys(struct reader *r, const char *where, int idx,
		      const char *const *known)
{
	int rc = NU_OK;

	lua_pushnil(r->L);
	while (lua_next(r->L, idx) != 0) {
		const char *k = lua_type(r->L, -2) == LUA_TSTRING ? lua_tostring(r->L, -2) : NULL;
		int found = 0;
		for (const char *const *p = known; k && *p; p++)
			found |= strcmp(k, *p) == 0;
		lua_pop(r->L, 1);
		if (!found) {
			char list[256] = "";
			for (const char *const *p = known; *p; p++)
				snprintf(list + strlen(list), sizeof list - strlen(list),
					 "%s%s", p == known ? "" : ", ", *p);
			rc = nu_error_set(r->err, NU_EINVAL,
				"%s: unknown key '%s%s%s' (known%s%s: %s)", r->file,
				where, where[0] ? "." : "", k ? k : "(not a name)",
				where[0] ? " in " : "", where, list);
			lua_pop(r->L, 1);
			break;
		}
	}
	return rc;
}

static int read_stages(struct reader *r, int idx)
{
	static const char *const known[] = { "funnel", "side", "transitions", NULL };
	char funnel[NU_STAGE_MAX][NU_STAGE_NAME_MAX], side[NU_STAGE_MAX][NU_STAGE_NAME_MAX];
	const char *fp[NU_STAGE_MAX], *sp[NU_STAGE_MAX];
	size_t nf = 0, ns = 0;
	int rc;

	if (!lua_istable(r->L, idx))
		return bad_type(r, "stages", "a table", idx);
	if (check_keys(r, "stages", idx, known) < 0)
		return NU_EINVAL;
	rawfield(r->L, idx, "funnel");
	rc = lua_isnil(r->L, -1) ? nu_error_set(r->err, NU_EINVAL,
		"%s: key 'stages.funnel' is required when 'stages' is given", r->file) :
		read_names(r, "stages.funnel", lua_gettop(r->L), funnel, NU_STAGE_MAX, &nf);
	lua_pop(r->L, 1);
	if (rc < 0)
		return rc;
	rawfield(r->L, idx, "side");
	if (!lua_isnil(r->L, -1))
		rc = read_names(r, "stages.side", lua_gettop(r->L), side, NU_STAGE_MAX, &ns);
	lua_pop(r->L, 1);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < nf; i++)
		fp[i] = funnel[i];
	for (size_t i = 0; i < ns; i++)
		sp[i] = side[i];
	if (nu_stage_model_build(&r->c->stages, fp, nf, sp, ns, r->err) < 0)
		return nu_error_prefix(r->err, "%s: stages", r->file);
	r->c->stages_configured = 1;

	rawfield(r->L, idx, "transitions");
	if (!lua_isnil(r->L, -1) && !lua_istable(r->L, -1))
		rc = bad_type(r, "stages.transitions", "a table", -1);
	else if (!lua_isnil(r->L, -1)) {
		int t = lua_gettop(r->L);
		lua_pushnil(r->L);
		while (rc == NU_OK && lua_next(r->L, t) != 0) {
			char to[NU_STAGE_MAX][NU_STAGE_NAME_MAX], path[96];
			const char *tp[NU_STAGE_MAX];
			const char *from = lua_type(r->L, -2) == LUA_TSTRING ?
					   lua_tostring(r->L, -2) : "?";
			size_t nt = 0;
			snprintf(path, sizeof path, "stages.transitions.%s", from);
			rc = read_names(r, path, lua_gettop(r->L), to, NU_STAGE_MAX, &nt);
			for (size_t i = 0; i < nt; i++)
				tp[i] = to[i];
			if (rc == NU_OK &&
			    nu_stage_model_set_transitions(&r->c->stages, from, tp, nt, r->err) < 0)
				rc = nu_error_prefix(r->err, "%s", r->file);
			lua_pop(r->L, 1);
		}
		if (rc != NU_OK)
			lua_pop(r->L, 1);   /* the key lua_next left */
	}
	lua_pop(r->L, 1);
	return rc;
}

static int read_tag_def(struct reader *r, const char *name, int idx, nu_tag_def *d)
{
	static const char *const known[] = { "category", "class", "weight", "ttl",
					      "description", NULL };
	char where[160], path[200], ttl[32];
	nu_error inner;
	int rc = NU_OK;

	snprintf(where, sizeof where, "tags['%s']", name);
	if (!lua_istable(r->L, idx))
		return bad_type(r, where, "a table", idx);
	if (nu_tag_name_check(name, &inner) < 0)
		return nu_error_set(r->err, NU_EINVAL, "%s: %s: %s", r->file, where, inner.msg);
	if (check_keys(r, where, idx, known) < 0)
		return NU_EINVAL;
	memset(d, 0, sizeof *d);
	snprintf(d->name, sizeof d->name, "%s", name);
	strcpy(d->tag_class, "fact");
	snprintf(d->category, sizeof d->category, "%s", nu_tag_default_category(name));
	d->weight = 1;
	static const char *const cats[] = { "attribute", "source", "behaviour", "interest", "industry", NULL };
	static const char *const classes[] = { "fact", "analytic", "predictive", NULL };
	rawfield(r->L, idx, "category");
	snprintf(path, sizeof path, "%s.category", where);
	if (!lua_isnil(r->L, -1))
		rc = read_one_of(r, path, -1, d->category, sizeof d->category, cats);
	lua_pop(r->L, 1);
	rawfield(r->L, idx, "class");
	snprintf(path, sizeof path, "%s.class", where);
	if (rc == NU_OK && !lua_isnil(r->L, -1))
		rc = read_one_of(r, path, -1, d->tag_class, sizeof d->tag_class, classes);
	lua_pop(r->L, 1);
	rawfield(r->L, idx, "weight");
	snprintf(path, sizeof path, "%s.weight", where);
	if (rc == NU_OK && !lua_isnil(r->L, -1)) {
		if (lua_type(r->L, -1) != LUA_TNUMBER || !isfinite(lua_tonumber(r->L, -1)) ||
		    lua_tonumber(r->L, -1) < 0)
			rc = lua_type(r->L, -1) != LUA_TNUMBER ? bad_type(r, path, "a number", -1) :
			     nu_error_set(r->err, NU_EINVAL, "%s: key '%s' must be a number >= 0",
					  r->file, path);
		else
			d->weight = lua_tonumber(r->L, -1);
	}
	lua_pop(r->L, 1);
	rawfield(r->L, idx, "ttl");
	snprintf(path, sizeof path, "%s.ttl", where);
	if (rc == NU_OK && !lua_isnil(r->L, -1) &&
	    (rc = read_string(r, path, -1, ttl, sizeof ttl)) == NU_OK) {
		char msg[160];
		if (nu_duration_parse(ttl, &d->ttl_ms, msg, sizeof msg) < 0)
			rc = nu_error_set(r->err, NU_EINVAL, "%s: %s: %s", r->file, path, msg);
	}
	lua_pop(r->L, 1);
	rawfield(r->L, idx, "description");
	snprintf(path, sizeof path, "%s.description", where);
	if (rc == NU_OK && !lua_isnil(r->L, -1))
		rc = read_string(r, path, -1, d->description, sizeof d->description);
	lua_pop(r->L, 1);
	return rc;
}

static int read_tags(struct reader *r, int idx)
{
	size_t cap = 0;
	int rc = NU_OK;

	if (!lua_istable(r->L, idx))
		return bad_type(r, "tags", "a table of tag definitions", idx);
	lua_pushnil(r->L);
	while (lua_next(r->L, idx) != 0) {
		if (lua_type(r->L, -2) != LUA_TSTRING) {
			rc = nu_error_set(r->err, NU_EINVAL,
				"%s: 'tags' must be keyed by tag name, e.g. [\"interest:crm\"] = { … }",
				r->file);
		} else if (r->c->ntags == cap) {
			nu_tag_def *g = realloc(r->c->tags, (cap = cap ? cap * 2 : 16) * sizeof *g);
			if (!g)
				rc = nu_error_set(r->err, NU_ENOMEM, "out of memory");
			else
				r->c->tags = g;
		}
		if (rc == NU_OK)
			rc = read_tag_def(r, lua_tostring(r->L, -2), lua_gettop(r->L),
					  &r->c->tags[r->c->ntags]);
		lua_pop(r->L, 1);
		if (rc != NU_OK) {
			lua_pop(r->L, 1);
			return rc;
		}
		r->c->ntags++;
	}
	return NU_OK;
}

static char *resolve_beside(const char *file, const char *rel)
{
	const char *slash = strrchr(file, '/');
	size_t dir = slash ? (size_t)(slash - file) + 1 : 0;
	char *out;

	if (rel[0] == '/' || !dir)
		return strdup(rel);
	if (!(out = malloc(dir + strlen(rel) + 1)))
		return NULL;
	memcpy(out, file, dir);
	strcpy(out + dir, rel);
	return out;
}

/* One number field of a policy table; absent leaves *out as it is. */
static int policy_number(struct reader *r, int idx, const char *table, const char *key,
			 double min, double max, double *out)
{
	char path[80];
	int rc = NU_OK;

	snprintf(path, sizeof path, "policies.%s.%s", table, key);
	if (rawfield(r->L, idx, key) != LUA_TNIL) {
		if (lua_type(r->L, -1) != LUA_TNUMBER)
			rc = bad_type(r, path, "a number", -1);
		else if (lua_tonumber(r->L, -1) < min || lua_tonumber(r->L, -1) > max)
			rc = nu_error_set(r->err, NU_EINVAL, "%s: key '%s' must be %g to %g", r->file, path,
					  min, max);
		else
			*out = lua_tonumber(r->L, -1);
	}
	lua_pop(r->L, 1);
	return rc;
}

static int policy_duration(struct reader *r, int idx, const char *table, const char *key,
			   int64_t *out)
{
	char path[80], msg[200];
	int rc = NU_OK;

	snprintf(path, sizeof path, "policies.%s.%s", table, key);
	if (rawfield(r->L, idx, key) != LUA_TNIL) {
		if (lua_type(r->L, -1) != LUA_TSTRING)
			rc = bad_type(r, path, "a duration like \"7d\"", -1);
		else if (nu_duration_parse(lua_tostring(r->L, -1), out, msg, sizeof msg) < 0)
			rc = nu_error_set(r->err, NU_EINVAL, "%s: %s: %s", r->file, path, msg);
	}
	lua_pop(r->L, 1);
	return rc;
}

/* policies = { quiet_hours = { from = 21, to = 8 },
 *              frequency = { max = 3, per = "7d" },
 *              retry = { max_attempts = 6, base = "30s", max_delay = "6h" } } */
static int read_policies(struct reader *r, int idx)
{
	static const char *const known[] = { "quiet_hours", "frequency", "retry", "rate", NULL };
	static const char *const quiet[] = { "from", "to", NULL };
	static const char *const freq[] = { "max", "per", NULL };
	static const char *const retry[] = { "max_attempts", "base", "max_delay", NULL };
	nu_send_policy *p = &r->c->policy;
	double v;
	int rc = NU_OK;

	if (!lua_istable(r->L, idx))
		return bad_type(r, "policies", "a table", idx);
	if (check_keys(r, "policies", idx, known) < 0)
		return NU_EINVAL;
	if (rawfield(r->L, idx, "quiet_hours") == LUA_TTABLE) {
		int t = lua_gettop(r->L);
		v = -1;
		if ((rc = check_keys(r, "policies.quiet_hours", t, quiet)) == NU_OK &&
		    (rc = policy_number(r, t, "quiet_hours", "from", 0, 23, &v)) == NU_OK) {
			p->quiet_from = (int)v;
			if ((rc = policy_number(r, t, "quiet_hours", "to", 0, 23, &v)) == NU_OK)
				p->quiet_to = (int)v;
		}
	}
	lua_pop(r->L, 1);
	if (rawfield(r->L, idx, "frequency") == LUA_TTABLE && rc == NU_OK) {  /* always pushed: the pop below balances it */
		int t = lua_gettop(r->L);
		v = 0;
		if ((rc = check_keys(r, "policies.frequency", t, freq)) == NU_OK &&
		    (rc = policy_number(r, t, "frequency", "max", 1, 1000, &v)) == NU_OK) {
			p->cap_max = (int)v;
			rc = policy_duration(r, t, "frequency", "per", &p->cap_window_ms);
		}
	}
	lua_pop(r->L, 1);
	if (rawfield(r->L, idx, "rate") == LUA_TTABLE && rc == NU_OK) {  /* always pushed: the pop below balances it */
		int t = lua_gettop(r->L);
		lua_pushnil(r->L);
		while (rc == NU_OK && lua_next(r->L, t)) {
			const char *ch = lua_type(r->L, -2) == LUA_TSTRING ? lua_tostring(r->L, -2) : NULL;
			if (!ch || strlen(ch) >= sizeof p->rates[0].channel || !lua_isinteger(r->L, -1) ||
			    lua_tointeger(r->L, -1) < 1 || lua_tointeger(r->L, -1) > 100000 || p->nrates == 8)
				rc = nu_error_set(r->err, NU_EINVAL,
					"%s: policies.rate is { channel = sends per second (1..100000) }, at most 8",
					r->file);
			else {
				snprintf(p->rates[p->nrates].channel, sizeof p->rates[0].channel, "%s", ch);
				p->rates[p->nrates++].per_second = (int)lua_tointeger(r->L, -1);
			}
			lua_pop(r->L, 1);
		}
		if (rc != NU_OK)
			lua_pop(r->L, 1);
	}
	lua_pop(r->L, 1);
	if (rawfield(r->L, idx, "retry") == LUA_TTABLE && rc == NU_OK) {  /* always pushed: the pop below balances it */
		int t = lua_gettop(r->L);
		v = 0;
		if ((rc = check_keys(r, "policies.retry", t, retry)) == NU_OK &&
		    (rc = policy_number(r, t, "retry", "max_attempts", 1, 100, &v)) == NU_OK) {
			p->retry_max_attempts = (int)v;
			if ((rc = policy_duration(r, t, "retry", "base", &p->retry_base_ms)) == NU_OK)
				rc = policy_duration(r, t, "retry", "max_delay", &p->retry_max_ms);
		}
	}
	lua_pop(r->L, 1);
	return rc;
}

/* plugins = { dir = "plugins", mock = { default_outcome = "ok" }, … }:
 * each plugin's section holds scalars, handed to it as text. */
static int read_plugins(struct reader *r, int idx)
{
	char buf[1024];
	int rc = NU_OK;

	if (!lua_istable(r->L, idx))
		return bad_type(r, "plugins", "a table", idx);
	lua_pushnil(r->L);
	while (rc == NU_OK && lua_next(r->L, idx)) {
		const char *name = lua_type(r->L, -2) == LUA_TSTRING ? lua_tostring(r->L, -2) : NULL;
		if (!name) {
			rc = nu_error_set(r->err, NU_EINVAL, "%s: 'plugins' is keyed by plugin name", r->file);
		} else if (!strcmp(name, "dir")) {
			if ((rc = read_string(r, "plugins.dir", -1, buf, sizeof buf)) == NU_OK) {
				free(r->c->plugin_dir);
				r->c->plugin_dir = resolve_beside(r->file, buf);
			}
		} else if (!lua_istable(r->L, -1)) {
			char path[100];
			snprintf(path, sizeof path, "plugins.%s", name);
			rc = bad_type(r, path, "a table of settings", -1);
		} else {
			json_t *section = json_object();
			lua_pushnil(r->L);
			while (rc == NU_OK && lua_next(r->L, -2)) {
				int t = lua_type(r->L, -1);
				if (lua_type(r->L, -2) != LUA_TSTRING || (t != LUA_TSTRING && t != LUA_TNUMBER &&
									  t != LUA_TBOOLEAN))
					rc = nu_error_set(r->err, NU_EINVAL,
						"%s: plugins.%s holds text, numbers or booleans by name", r->file, name);
				else
					json_object_set_new(section, lua_tostring(r->L, -2),
						json_string(t == LUA_TBOOLEAN ? (lua_toboolean(r->L, -1) ? "true" : "false")
									      : lua_tostring(r->L, -1)));
				lua_pop(r->L, 1);
			}
			if (rc != NU_OK)
				lua_pop(r->L, 1);
			json_object_set_new(r->c->plugin_config, name, section);
		}
		lua_pop(r->L, 1);
	}
	if (rc != NU_OK)
		lua_pop(r->L, 1);
	return rc;
}

/* An integer key of the http table within [min, max]; absent: unchanged. */
static int http_integer(struct reader *r, int idx, const char *key, int64_t min, int64_t max,
			int64_t *out)
{
	char path[64];
	int rc = NU_OK;

	snprintf(path, sizeof path, "http.%s", key);
	if (rawfield(r->L, idx, key) != LUA_TNIL) {
		if (!lua_isinteger(r->L, -1))
			rc = bad_type(r, path, "an integer", -1);
		else if (lua_tointeger(r->L, -1) < min || lua_tointeger(r->L, -1) > max)
			rc = nu_error_set(r->err, NU_EINVAL, "%s: key '%s' must be %lld to %lld", r->file,
					  path, (long long)min, (long long)max);
		else
			*out = lua_tointeger(r->L, -1);
	}
	lua_pop(r->L, 1);
	return rc;
}

static int http_string(struct reader *r, int idx, const char *key, char *out, size_t len)
{
	char path[64];
	int rc = NU_OK;

	snprintf(path, sizeof path, "http.%s", key);
	if (rawfield(r->L, idx, key) != LUA_TNIL)
		rc = read_string(r, path, -1, out, len);
	lua_pop(r->L, 1);
	return rc;
}

static int token_scopes(struct reader *r, const char *path, int idx, unsigned *scopes)
{
	static const char *const names[] = { "ingest", "read", "admin", NULL };
	char one[16];

	if (!lua_istable(r->L, idx) || !lua_rawlen(r->L, idx))
		return nu_error_set(r->err, NU_EINVAL, "%s: %s must list scopes: ingest, read, admin",
				    r->file, path);
	for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(r->L, idx); i++) {
		lua_rawgeti(r->L, idx, i);
		int rc = read_one_of(r, path, -1, one, sizeof one, names);
		lua_pop(r->L, 1);
		if (rc < 0)
			return rc;
		*scopes |= one[0] == 'i' ? NU_SCOPE_INGEST : one[0] == 'r' ? NU_SCOPE_READ :
			   NU_SCOPE_ADMIN | NU_SCOPE_READ | NU_SCOPE_INGEST;
	}
	return NU_OK;
}

/* tokens = { { name = "web", token = "…", scopes = { "ingest" } }, … } */
static int read_one_token(struct reader *r, int idx, size_t i, nu_api_token *t)
{
	static const char *const known[] = { "name", "token", "scopes", NULL };
	char path[64];
	int rc;

	snprintf(path, sizeof path, "http.tokens[%zu]", i + 1);
	if (!lua_istable(r->L, idx))
		return bad_type(r, path, "a table { name, token, scopes }", idx);
	if ((rc = check_keys(r, path, idx, known)) < 0)
		return rc;
	snprintf(path, sizeof path, "http.tokens[%zu].name", i + 1);
	rc = rawfield(r->L, idx, "name") == LUA_TNIL ? NU_OK : read_string(r, path, -1, t->name, sizeof t->name);
	lua_pop(r->L, 1);
	snprintf(path, sizeof path, "http.tokens[%zu].token", i + 1);
	if (rc == NU_OK && rawfield(r->L, idx, "token") == LUA_TNIL)
		rc = nu_error_set(r->err, NU_EINVAL, "%s: %s is missing (use env(\"NAME\") to keep it out "
				  "of the file); a token set from an unset variable is nil", r->file, path);
	else if (rc == NU_OK && (rc = read_string(r, path, -1, t->secret, sizeof t->secret)) == NU_OK &&
		 strlen(t->secret) < NU_API_TOKEN_MIN)
		rc = nu_error_set(r->err, NU_EINVAL, "%s: %s must be at least %d characters", r->file,
				  path, NU_API_TOKEN_MIN);
	lua_pop(r->L, 1);
	snprintf(path, sizeof path, "http.tokens[%zu].scopes", i + 1);
	if (rc == NU_OK) {
		rawfield(r->L, idx, "scopes");
		rc = token_scopes(r, path, lua_gettop(r->L), &t->scopes);
		lua_pop(r->L, 1);
	}
	if (rc == NU_OK && !t->name[0])
		snprintf(t->name, sizeof t->name, "token%zu", i + 1);
	return rc;
}

static int read_tokens(struct reader *r, int idx)
{
	nu_http_config *h = &r->c->http;
	int rc = NU_OK;

	if (rawfield(r->L, idx, "tokens") == LUA_TNIL) {
		lua_pop(r->L, 1);
		return NU_OK;
	}
	int t = lua_gettop(r->L);
	if (!lua_istable(r->L, t))
		rc = bad_type(r, "http.tokens", "a list of tokens", t);
	else if (lua_rawlen(r->L, t) > NU_API_TOKENS_MAX)
		rc = nu_error_set(r->err, NU_EINVAL, "%s: http.tokens lists more than %d tokens", r->file,
				  NU_API_TOKENS_MAX);
	for (size_t i = 0; rc == NU_OK && i < lua_rawlen(r->L, t); i++) {
		lua_rawgeti(r->L, t, (lua_Integer)i + 1);
		rc = read_one_token(r, lua_gettop(r->L), i, &h->tokens[i]);
		lua_pop(r->L, 1);
		h->ntokens = i + 1;
	}
	lua_pop(r->L, 1);
	return rc;
}

/* http = { listen, public_url, tracking_key, tokens, max_body, max_header,
 *          max_connections, timeout, commit_window_us } */
static int read_http(struct reader *r, int idx)
{
	static const char *const known[] = { "listen", "public_url", "tracking_key", "tokens",
		"max_body", "max_header", "max_connections", "timeout", "commit_window_us", NULL };
	nu_http_config *h = &r->c->http;
	int64_t conns = h->max_connections, timeout = h->timeout_s, window = h->commit_window_us;
	int rc;

	if (!lua_istable(r->L, idx))
		return bad_type(r, "http", "a table", idx);
	if ((rc = check_keys(r, "http", idx, known)) < 0 ||
	    (rc = http_string(r, idx, "listen", h->listen, sizeof h->listen)) < 0 ||
	    (rc = http_string(r, idx, "public_url", h->public_url, sizeof h->public_url)) < 0 ||
	    (rc = http_string(r, idx, "tracking_key", h->tracking_key, sizeof h->tracking_key)) < 0 ||
	    (rc = http_integer(r, idx, "max_body", 1024, (int64_t)1 << 30, &h->max_body)) < 0 ||
	    (rc = http_integer(r, idx, "max_header", 1024, 1 << 20, &h->max_header)) < 0 ||
	    (rc = http_integer(r, idx, "max_connections", 1, 100000, &conns)) < 0 ||
	    (rc = http_integer(r, idx, "timeout", 1, 3600, &timeout)) < 0 ||
	    (rc = http_integer(r, idx, "commit_window_us", 0, 100000, &window)) < 0 ||
	    (rc = read_tokens(r, idx)) < 0)
		return rc;
	h->max_connections = (int)conns;
	h->timeout_s = (int)timeout;
	h->commit_window_us = (int)window;
	if (h->tracking_key[0] && strlen(h->tracking_key) < 16)
		return nu_error_set(r->err, NU_EINVAL, "%s: http.tracking_key must be at least 16 bytes",
				    r->file);
	if (h->public_url[0] && strncmp(h->public_url, "http://", 7) && strncmp(h->public_url, "https://", 8))
		return nu_error_set(r->err, NU_EINVAL, "%s: http.public_url must start with http:// or "
				    "https://, got '%s'", r->file, h->public_url);
	if (!h->public_url[0] && h->listen[0])
		snprintf(h->public_url, sizeof h->public_url, "http://%s", h->listen);
	size_t n = strlen(h->public_url);
	if (n && h->public_url[n - 1] == '/')
		h->public_url[n - 1] = '\0';
	return NU_OK;
}

static int read_phone_cc(struct reader *r, int idx)
{
	char v[8];
	const char *p = v;

	if (read_string(r, "phone_default_country", idx, v, sizeof v) < 0)
		return NU_EINVAL;
	if (*p == '+')
		p++;
	if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 3)
		return nu_error_set(r->err, NU_EINVAL,
			"%s: key 'phone_default_country' must be a calling code like \"+86\", got '%s'",
			r->file, v);
	strcpy(r->c->phone_default_cc, p);
	return NU_OK;
}


static int read_top(struct reader *r, const char *key, int idx)
{
	static const char *const syncs[] = { "NORMAL", "FULL", "OFF", NULL };
	static const char *const levels[] = { "debug", "info", "warn", "error", NULL };
	char buf[1024];

	if (strcmp(key, "database") == 0) {
		if (read_string(r, key, idx, buf, sizeof buf) < 0)
			return NU_EINVAL;
		if (!buf[0])
			return nu_error_set(r->err, NU_EINVAL, "%s: key 'database' is empty", r->file);
		free(r->c->database);
		r->c->database = resolve_beside(r->file, buf);
		return NU_OK;
	}
	if (strcmp(key, "synchronous") == 0)
		return read_one_of(r, key, idx, r->c->synchronous, sizeof r->c->synchronous, syncs);
	if (strcmp(key, "busy_timeout_ms") == 0) {
		if (!lua_isinteger(r->L, idx) || lua_tointeger(r->L, idx) < 0 ||
		    lua_tointeger(r->L, idx) > 600000)
			return lua_isinteger(r->L, idx) ?
				nu_error_set(r->err, NU_EINVAL,
					"%s: key 'busy_timeout_ms' must be 0 to 600000", r->file) :
				bad_type(r, key, "a non-negative integer", idx);
		r->c->busy_timeout_ms = (int)lua_tointeger(r->L, idx);
		return NU_OK;
	}
	if (strcmp(key, "phone_default_country") == 0)
		return read_phone_cc(r, idx);
	if (strcmp(key, "log_level") == 0) {
		if (read_one_of(r, key, idx, buf, sizeof buf, levels) < 0)
			return NU_EINVAL;
		r->c->log_level = nu_log_level_parse(buf);
		return NU_OK;
	}
	if (strcmp(key, "stages") == 0)
		return read_stages(r, idx);
	if (strcmp(key, "plugins") == 0)
		return read_plugins(r, idx);
	if (strcmp(key, "policies") == 0)
		return read_policies(r, idx);
	if (strcmp(key, "http") == 0)
		return read_http(r, idx);
	return read_tags(r, idx);
}

/* env("NAME") → the variable's value or nil. [-1, +1, v] */
static int config_env(lua_State *L)
{
	const char *v = getenv(luaL_checkstring(L, 1));
	if (v)
		lua_pushstring(L, v);
	else
		lua_pushnil(L);
	return 1;
}

int nu_config_load(nu_config *c, const char *path, nu_error *err)
{
	static const char *const known[] = { "database", "synchronous", "busy_timeout_ms",
		"phone_default_country", "log_level", "stages", "tags", "plugins", "policies", "http", NULL };
	struct reader r = { NULL, c, path, err };
	nu_lua_sandbox sb;
	int rc;

	nu_config_defaults(c);
	c->path = strdup(path);
	c->database = resolve_beside(path, "nurture.db");
	if ((rc = nu_lua_sandbox_open(&sb, CONFIG_MEM_LIMIT, CONFIG_INSTR_LIMIT, err)) < 0)
		return rc;
	r.L = sb.L;
	lua_pushcfunction(sb.L, config_env);
	lua_setglobal(sb.L, "env");
	nu_lua_sandbox_strict_globals(&sb);
	if ((rc = nu_lua_sandbox_loadfile(&sb, path, err)) < 0 ||
	    (rc = nu_lua_sandbox_pcall(&sb, 0, 1, err)) < 0) {
		nu_lua_sandbox_close(&sb);
		return rc;
	}
	if (!lua_istable(sb.L, -1)) {
		rc = nu_error_set(err, NU_EINVAL, "%s: must return a table (got %s)",
				  path, lua_type_word(sb.L, -1));
	} else if ((rc = check_keys(&r, "", 1, known)) == NU_OK) {
		for (const char *const *k = known; rc == NU_OK && *k; k++) {
			rawfield(sb.L, 1, *k);
			if (!lua_isnil(sb.L, -1))
				rc = read_top(&r, *k, lua_gettop(sb.L));
			lua_pop(sb.L, 1);
		}
	}
	nu_lua_sandbox_close(&sb);
	if (rc == NU_OK && !c->database)
		rc = nu_error_set(err, NU_ENOMEM, "out of memory");
	return rc;
}
