/*
 * flows.c — loading, checking, bundling, hashing and deploying flows.
 *
 * The spec is read from the table the flow file returns, with raw reads
 * (no metamethod runs outside a protected call), and checked key by key;
 * messages point at the line where the key is written when it can be
 * found in the source.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <openssl/evp.h>
#include "events.h"
#include "flow_scan.h"
#include "flows.h"
#include "json_text.h"
#include "lua_flow.h"
#include "lua_json.h"
#include "lua_sandbox.h"
#include "tags.h"
#include "timefmt.h"

#define LOAD_MEM_LIMIT   (16u << 20)
#define LOAD_INSTR_LIMIT 5000000u
#define MAX_LIBS 32

static char *read_file(const char *path, nu_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, got;

	if (!f) {
		nu_error_set(err, NU_ENOTFOUND, "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	do {
		if (cap - len < 4096) {
			char *g = realloc(buf, cap = cap ? cap * 2 : 16384);
			if (!g) {
				free(buf);
				fclose(f);
				nu_error_set(err, NU_ENOMEM, "out of memory");
				return NULL;
			}
			buf = g;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		len += got;
	} while (got > 0);
	fclose(f);
	buf[len] = '\0';
	if (strlen(buf) != len) {
		free(buf);
		nu_error_set(err, NU_EINVAL, "%s: not a text file", path);
		return NULL;
	}
	return buf;
}

/* The line where `key =` is first written, or 0. */
static int line_of(const char *src, const char *key)
{
	size_t n = strlen(key);
	int line = 1;

	for (const char *p = src; *p; p++) {
		if (*p == '\n')
			line++;
		if (strncmp(p, key, n) == 0 && (p == src || !isalnum((unsigned char)p[-1]) ||
						 p[-1] == '_')) {
			const char *q = p + n;
			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == '=' && q[1] != '=')
				return line;
		}
	}
	return 0;
}

/* The line of the table the file returns: where a missing key belongs. */
static int line_of_return(const char *src)
{
	int line = 1, found = 1;

	for (const char *p = src; *p; p++) {
		if (*p == '\n')
			line++;
		if (!strncmp(p, "return", 6) && (p == src || !isalnum((unsigned char)p[-1]))) {
			const char *q = p + 6;
			while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
				q++;
			if (*q == '{')
				found = line;
		}
	}
	return found;
}

/* Reports a problem with spec key `key` as "file:line: message". */
static int spec_error(const nu_flow *f, const char *src, const char *key, nu_error *err,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int spec_error(const nu_flow *f, const char *src, const char *key, nu_error *err,
		      const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	int line = key ? line_of(src, key) : 0;

	if (!line)
		line = line_of_return(src);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return nu_error_set(err, NU_EINVAL, "%s:%d: %s", f->path, line, msg);
}

/* require("lib.x") / require "x" → "lib/x.lua"; adds each found module
 * (recursively) to the bundle. */
static int scan_requires(nu_flow *f, const char *src, const char *file, const char *lib_dir,
			 int depth, nu_error *err)
{
	for (const char *p = strstr(src, "require"); p; p = strstr(p + 7, "require")) {
		const char *q = p + 7;
		char mod[64], key[80], path[1024];
		size_t n = 0;

		if (p > src && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.'))
			continue;
		while (*q == ' ' || *q == '(')
			q++;
		if (*q != '"' && *q != '\'')
			continue;
		for (q++; (isalnum((unsigned char)*q) || *q == '_' || *q == '.') && n < sizeof mod - 1; q++)
			mod[n++] = *q;
		mod[n] = '\0';
		const char *base = strncmp(mod, "lib.", 4) == 0 ? mod + 4 : mod;
		snprintf(key, sizeof key, "lib/%s.lua", base);
		if (json_object_get(f->bundle, key))
			continue;
		if (depth > 8 || json_object_size(f->bundle) > MAX_LIBS)
			return nu_error_set(err, NU_EINVAL, "%s: too many or too deeply nested lib modules",
					    f->path);
		snprintf(path, sizeof path, "%s/%s.lua", lib_dir, base);
		char *lib = read_file(path, err);
		if (!lib) {
			int line = 1;
			for (const char *c = src; c < p; c++)
				line += *c == '\n';
			return nu_error_prefix(err, "%s:%d: require(\"%s\")", file, line, mod);
		}
		json_object_set_new(f->bundle, key, json_string(lib));
		int rc = scan_requires(f, lib, key, lib_dir, depth + 1, err);
		free(lib);
		if (rc < 0)
			return rc;
	}
	return NU_OK;
}

static int sha256_hex(const char *text, char out[NU_SHA_HEX], nu_error *err)
{
	unsigned char md[32];
	unsigned int len = 0;

	if (!EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL) || len != 32)
		return nu_error_set(err, NU_ERR, "SHA-256 failed");
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return NU_OK;
}

/* ---- unknown API calls ------------------------------------------------- */

/* Names a flow may call without defining them. */
static const char *const known_globals[] = {
	"send", "sleep", "wait_until", "wait_event", "now", "random", "split", "version", "log",
	"require", "assert", "error", "ipairs", "pairs", "next", "pcall", "xpcall", "select",
	"tonumber", "tostring", "type", "setmetatable", "getmetatable", "rawequal", "rawget",
	"rawset", "rawlen", "load", "string", "table", "math", "utf8", NULL,
};

static const char *const lua_keywords[] = {
	"and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
	"in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while", NULL,
};

static int in_words(const char *w, size_t n, const char *const *list)
{
	for (; *list; list++)
		if (strlen(*list) == n && !strncmp(*list, w, n))
			return 1;
	return 0;
}

/* Levenshtein distance, for "did you mean". Names are short. */
static size_t distance(const char *a, size_t n, const char *b)
{
	size_t m = strlen(b), row[64], prev, tmp;

	if (n >= 63 || m >= 63)
		return 99;
	for (size_t j = 0; j <= m; j++)
		row[j] = j;
	for (size_t i = 1; i <= n; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= m; j++) {
			tmp = row[j];
			size_t best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[m];
}

/* Is `name` declared by the file: local name, local function name,
 * function name, a parameter, or assigned as a global (name = …)? */
static int declared(const char *src, const char *name, size_t n)
{
	for (const char *p = src; (p = strstr(p, name)); p += n) {
		if ((p > src && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) ||
		    isalnum((unsigned char)p[n]) || p[n] == '_')
			continue;
		const char *q = p + n;
		while (*q == ' ' || *q == '\t')
			q++;
		if ((*q == '=' && q[1] != '=') || *q == ',')
			return 1;
		const char *b = p;
		while (b > src && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == ',' ||
				   isalnum((unsigned char)b[-1]) || b[-1] == '_'))
			b--;
		if (b > src && b[-1] == '(')
			return 1;   /* a parameter: function f(a, name) */
		for (const char *k = p - 1; k >= src && k > p - 16; k--)
			if (!strncmp(k, "local ", 6) || !strncmp(k, "function ", 9) || !strncmp(k, "for ", 4))
				return 1;
	}
	return 0;
}

/* Finds calls of names the flow API does not have: `sned("email", …)`. */
static int check_calls(const nu_flow *f, const char *src, const char *file, nu_error *err)
{
	int line = 1;

	for (const char *p = src; *p; ) {
		const char *after = nu_lua_skip_literal(p, &line);
		if (after != p) {
			p = after;
			continue;
		}
		if (*p == '\n')
			line++;
		if (!(isalpha((unsigned char)*p) || *p == '_') ||
		    (p > src && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
			p++;
			continue;
		}
		const char *w = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		size_t n = (size_t)(p - w);
		const char *q = p;
		while (*q == ' ' || *q == '\t')
			q++;
		const char *b = w;
		while (b > src && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		int member = b > src && (b[-1] == '.' || b[-1] == ':');
		if (member || !(*q == '(' || *q == '"' || *q == '{') || in_words(w, n, lua_keywords) ||
		    in_words(w, n, known_globals))
			continue;
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), w);
		if (declared(src, name, strlen(name)))
			continue;
		const char *best = NULL;
		size_t bestd = 3;
		for (const char *const *k = known_globals; *k; k++) {
			size_t d = distance(w, n, *k);
			if (d < bestd) {
				bestd = d;
				best = *k;
			}
		}
		(void)f;
		if (best)
			return nu_error_set(err, NU_EINVAL, "%s:%d: unknown function '%s' (did you mean '%s'?)",
					    file, line, name, best);
		return nu_error_set(err, NU_EINVAL, "%s:%d: unknown function '%s'", file, line, name);
	}
	return NU_OK;
}

static int check_all_calls(const nu_flow *f, nu_error *err)
{
	const char *k;
	json_t *src;

	json_object_foreach(f->bundle, k, src) {
		char file[1100];
		snprintf(file, sizeof file, "%s", strcmp(k, "main") ? k : f->path);
		if (check_calls(f, json_string_value(src), file, err) < 0)
			return NU_EINVAL;
	}
	return NU_OK;
}

/* ---- spec checking ---------------------------------------------------- */

struct spec_reader {
	lua_State *L;
	int t;               /* index of the returned table */
	nu_flow *f;
	const char *src;
	nu_error *err;
};

static int rawget_field(lua_State *L, int t, const char *key)
{
	lua_pushstring(L, key);
	return lua_rawget(L, t);
}

static int check_string_key(struct spec_reader *r, const char *key, int required,
			    const char *const *allowed)
{
	int type = rawget_field(r->L, r->t, key);
	int rc = NU_OK;

	if (type == LUA_TNIL) {
		if (required)
			rc = spec_error(r->f, r->src, NULL, r->err, "'%s' is required", key);
	} else if (type != LUA_TSTRING) {
		rc = spec_error(r->f, r->src, key, r->err, "'%s' must be a string", key);
	} else if (allowed) {
		const char *v = lua_tostring(r->L, -1);
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(v, *a) == 0;
		if (!ok)
			rc = spec_error(r->f, r->src, key, r->err, "'%s' cannot be '%s'", key, v);
	}
	if (rc == NU_OK && type == LUA_TSTRING)
		json_object_set_new(r->f->spec, key, json_string(lua_tostring(r->L, -1)));
	lua_pop(r->L, 1);
	return rc;
}

static int check_duration_key(struct spec_reader *r, const char *key, const char *const *words)
{
	char msg[200];
	int64_t ms;
	int rc = NU_OK;

	if (rawget_field(r->L, r->t, key) == LUA_TNIL) {
		lua_pop(r->L, 1);
		return NU_OK;
	}
	if (lua_type(r->L, -1) != LUA_TSTRING) {
		rc = spec_error(r->f, r->src, key, r->err, "'%s' must be a string like \"30d\"", key);
	} else {
		const char *v = lua_tostring(r->L, -1);
		int word = 0;
		for (const char *const *w = words; w && *w; w++)
			word |= strcmp(v, *w) == 0;
		if (!word && nu_duration_parse(v, &ms, msg, sizeof msg) < 0)
			rc = spec_error(r->f, r->src, key, r->err, "%s: %s", key, msg);
		else
			json_object_set_new(r->f->spec, key, json_string(v));
	}
	lua_pop(r->L, 1);
	return rc;
}

/* trigger / goal: a table with exactly one of the allowed condition keys. */
static int check_condition(struct spec_reader *r, const char *key, int required)
{
	static const char *const trigger_keys[] = { "event", "tag", "stage", "score", "manual",
						    "where", "max_age", "above", NULL };
	static const char *const goal_keys[] = { "event", "tag", "stage", "where", NULL };
	const char *const *allowed = strcmp(key, "trigger") == 0 ? trigger_keys : goal_keys;
	int rc = NU_OK, conditions = 0;
	json_t *cond;
	nu_error inner;

	if (rawget_field(r->L, r->t, key) == LUA_TNIL) {
		lua_pop(r->L, 1);
		return required ? spec_error(r->f, r->src, NULL, r->err,
			"'%s' is required (e.g. %s = { event = \"form.submitted\" })", key, key) : NU_OK;
	}
	if (!lua_istable(r->L, -1)) {
		lua_pop(r->L, 1);
		return spec_error(r->f, r->src, key, r->err, "'%s' must be a table", key);
	}
	if (!(cond = nu_lua_to_json(r->L, -1, &inner))) {
		lua_pop(r->L, 1);
		return spec_error(r->f, r->src, key, r->err, "%s: %s", key, inner.msg);
	}
	lua_pop(r->L, 1);
	const char *k;
	json_t *v;
	json_object_foreach(cond, k, v) {
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(k, *a) == 0;
		if (!ok) {
			rc = spec_error(r->f, r->src, key, r->err, "%s: unknown condition '%s'", key, k);
			break;
		}
		if (strcmp(k, "where") == 0) {
			if (!json_is_object(v))
				rc = spec_error(r->f, r->src, key, r->err, "%s.where must be a table", key);
			continue;
		}
		if (strcmp(k, "above") == 0) {
			if (!json_is_number(v))
				rc = spec_error(r->f, r->src, key, r->err, "%s.above must be a number", key);
			continue;
		}
		if (strcmp(k, "max_age") == 0) {
			int64_t ms;
			char msg[200];
			if (!json_is_string(v) || nu_duration_parse(json_string_value(v), &ms, msg, sizeof msg) < 0)
				rc = spec_error(r->f, r->src, key, r->err, "%s.max_age must be a duration like \"7d\"",
						key);
			continue;
		}
		conditions++;
		if (strcmp(k, "manual") == 0)
			continue;
		if (!json_is_string(v))
			rc = spec_error(r->f, r->src, key, r->err, "%s.%s must be a string", key, k);
		else if (strcmp(k, "event") == 0 && nu_event_type_check(json_string_value(v), &inner) < 0)
			rc = spec_error(r->f, r->src, key, r->err, "%s.event: %s", key, inner.msg);
		else if (strcmp(k, "tag") == 0 && nu_tag_name_check(json_string_value(v), &inner) < 0)
			rc = spec_error(r->f, r->src, key, r->err, "%s.tag: %s", key, inner.msg);
		else if (strcmp(k, "score") == 0 && strcmp(json_string_value(v), "heat") &&
			 strcmp(json_string_value(v), "fit"))
			rc = spec_error(r->f, r->src, key, r->err, "%s.score must be \"heat\" or \"fit\"", key);
	}
	if (rc == NU_OK && conditions != 1)
		rc = spec_error(r->f, r->src, key, r->err,
			"%s needs exactly one of event, tag, stage%s", key,
			allowed == trigger_keys ? ", score or manual" : "");
	if (rc == NU_OK && (json_object_get(cond, "score") != NULL) != (json_object_get(cond, "above") != NULL))
		rc = spec_error(r->f, r->src, key, r->err,
			"%s: score and above go together: { score = \"heat\", above = 60 }", key);
	if (rc == NU_OK && json_object_get(cond, "where") && !json_object_get(cond, "event"))
		rc = spec_error(r->f, r->src, key, r->err, "%s.where only goes with %s.event", key, key);
	if (rc == NU_OK)
		json_object_set_new(r->f->spec, key, cond);
	else
		json_decref(cond);
	return rc;
}

static int check_unknown_keys(struct spec_reader *r)
{
	static const char *const known[] = { "name", "kind", "trigger", "reentry", "goal",
		"exclusion", "on_late", "late_after", "run", "description", NULL };

	lua_pushnil(r->L);
	while (lua_next(r->L, r->t)) {
		const char *k = lua_type(r->L, -2) == LUA_TSTRING ? lua_tostring(r->L, -2) : NULL;
		int ok = 0;
		for (const char *const *p = known; k && *p; p++)
			ok |= strcmp(k, *p) == 0;
		lua_pop(r->L, 1);
		if (!ok) {
			lua_pop(r->L, 1);
			return spec_error(r->f, r->src, k, r->err,
				"unknown key '%s' (known: name, kind, trigger, reentry, goal, "
				"exclusion, on_late, late_after, run, description)", k ? k : "?");
		}
	}
	return NU_OK;
}

static int check_name(struct spec_reader *r)
{
	const char *name;

	if (check_string_key(r, "name", 1, NULL) < 0)
		return NU_EINVAL;
	name = json_string_value(json_object_get(r->f->spec, "name"));
	if (strlen(name) >= NU_FLOW_NAME_MAX || !name[0] ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name))
		return spec_error(r->f, r->src, "name", r->err,
			"name '%s' must be 1 to %d lower-case letters, digits or '_'", name,
			NU_FLOW_NAME_MAX - 1);
	snprintf(r->f->name, sizeof r->f->name, "%s", name);
	return NU_OK;
}

static int check_spec(struct spec_reader *r)
{
	static const char *const kinds[] = { "flow", "rule", NULL };
	static const char *const lates[] = { "fire", "skip", NULL };
	static const char *const reentry_words[] = { "never", "always", NULL };
	const char *kind;

	if (!lua_istable(r->L, r->t))
		return spec_error(r->f, r->src, NULL, r->err,
			"the file must return a table (return { name = …, run = function(lead, event) … end })");
	if (check_unknown_keys(r) < 0 || check_name(r) < 0 ||
	    check_string_key(r, "kind", 0, kinds) < 0 ||
	    check_condition(r, "trigger", 1) < 0 || check_condition(r, "goal", 0) < 0 ||
	    check_duration_key(r, "reentry", reentry_words) < 0 ||
	    check_string_key(r, "exclusion", 0, NULL) < 0 ||
	    check_string_key(r, "on_late", 0, lates) < 0 ||
	    check_duration_key(r, "late_after", NULL) < 0 ||
	    check_string_key(r, "description", 0, NULL) < 0)
		return NU_EINVAL;
	kind = nu_flow_spec_str(r->f, "kind");
	snprintf(r->f->kind, sizeof r->f->kind, "%s", kind ? kind : "flow");
	if (rawget_field(r->L, r->t, "run") != LUA_TFUNCTION) {
		lua_pop(r->L, 1);
		return spec_error(r->f, r->src, "run", r->err,
			"'run' must be a function: run = function(lead, event) … end");
	}
	lua_pop(r->L, 1);
	if (!strcmp(r->f->kind, "rule") && !json_object_get(json_object_get(r->f->spec, "trigger"), "event"))
		return spec_error(r->f, r->src, "trigger", r->err,
			"a rule runs on events: its trigger must be { event = … }");
	if (!strcmp(r->f->kind, "rule") && json_object_get(r->f->spec, "goal"))
		return spec_error(r->f, r->src, "goal", r->err, "a rule cannot have a goal");
	return NU_OK;
}

/* Runs the bundle's main chunk and checks the table it returns. */
static int evaluate(nu_flow *f, nu_error *err)
{
	const char *src = json_string_value(json_object_get(f->bundle, "main"));
	nu_lua_sandbox sb;
	char chunk[1100];
	int rc;

	if ((rc = nu_lua_flow_open(&sb, f->bundle, NULL, LOAD_MEM_LIMIT, LOAD_INSTR_LIMIT, err)) < 0)
		return rc;
	snprintf(chunk, sizeof chunk, "@%s", f->path);
	if ((rc = nu_lua_sandbox_load(&sb, src, strlen(src), chunk, err)) == NU_OK &&
	    (rc = nu_lua_sandbox_pcall(&sb, 0, 1, err)) == NU_OK) {
		struct spec_reader r = { sb.L, lua_gettop(sb.L), f, src, err };
		rc = check_spec(&r);
	}
	nu_lua_sandbox_close(&sb);
	return rc;
}

static int finish(nu_flow *f, nu_error *err)
{
	char *text = nu_json_canonical(f->bundle);
	int rc;

	if (!text)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	rc = sha256_hex(text, f->sha, err);
	free(text);
	return rc;
}

/* Checks and bundles src, which came from `path` (a file, or a name for
 * messages when it came over the API). */
static int load_source(const char *path, const char *src, const char *lib_dir, nu_flow *f,
		       nu_error *err)
{
	int rc;

	json_object_set_new(f->bundle, "main", json_string(src));
	rc = scan_requires(f, src, path, lib_dir, 0, err);
	if (rc == NU_OK && (rc = evaluate(f, err)) == NU_OK &&
	    (rc = check_all_calls(f, err)) == NU_OK)
		rc = finish(f, err);
	return rc;
}

static void start_flow(nu_flow *f, const char *path)
{
	memset(f, 0, sizeof *f);
	f->path = strdup(path);
	f->spec = json_object();
	f->bundle = json_object();
}

int nu_flow_load_file(const char *path, const char *lib_dir, nu_flow *f, nu_error *err)
{
	char dir[1024];
	char *src;
	int rc;

	start_flow(f, path);
	if (!lib_dir) {
		const char *slash = strrchr(path, '/');
		snprintf(dir, sizeof dir, "%.*slib", slash ? (int)(slash - path + 1) : 0, path);
		lib_dir = dir;
	}
	if (!(src = read_file(path, err)))
		return err ? err->code : NU_ERR;
	rc = load_source(path, src, lib_dir, f, err);
	free(src);
	return rc;
}

int nu_flow_load_text(const char *name, const char *src, const char *lib_dir, nu_flow *f,
		      nu_error *err)
{
	start_flow(f, name);
	return load_source(name, src, lib_dir ? lib_dir : "/nonexistent", f, err);
}

int nu_flow_load_version(nu_store *s, const char *sha, nu_flow *f, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT name, kind, spec, bundle FROM flow_version WHERE sha = ?", err);
	int rc;

	memset(f, 0, sizeof *f);
	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ?
			nu_error_set(err, NU_ENOTFOUND, "flow version %.12s not found", sha) :
			nu_store_fail(s, err, "loading flow version");
	}
	snprintf(f->name, sizeof f->name, "%s", sqlite3_column_text(st, 0));
	snprintf(f->kind, sizeof f->kind, "%s", sqlite3_column_text(st, 1));
	snprintf(f->sha, sizeof f->sha, "%s", sha);
	f->spec = json_loads((const char *)sqlite3_column_text(st, 2), 0, NULL);
	f->bundle = json_loads((const char *)sqlite3_column_text(st, 3), 0, NULL);
	f->path = strdup(f->name);
	sqlite3_reset(st);
	if (!f->spec || !f->bundle) {
		nu_flow_clear(f);
		return nu_error_set(err, NU_ERR, "flow version %.12s is damaged", sha);
	}
	return NU_OK;
}

void nu_flow_clear(nu_flow *f)
{
	json_decref(f->spec);
	json_decref(f->bundle);
	free(f->path);
	memset(f, 0, sizeof *f);
}

int nu_flow_deploy(nu_store *s, const nu_flow *f, int *created, nu_error *err)
{
	char *spec = nu_json_canonical(f->spec), *bundle = nu_json_canonical(f->bundle);
	sqlite3_stmt *st;
	int rc = NU_EDB;

	*created = 0;
	if (!spec || !bundle) {
		rc = nu_error_set(err, NU_ENOMEM, "out of memory");
		goto out;
	}
	if (!(st = nu_store_stmt(s,
		"INSERT INTO flow_version (sha, name, kind, spec, bundle, deployed_at)"
		" VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sha) DO NOTHING", err)))
		goto out;
	sqlite3_bind_text(st, 1, f->sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, f->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, spec, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, bundle, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, nu_store_now(s));
	if (sqlite3_step(st) != SQLITE_DONE) {
		rc = nu_store_fail(s, err, "storing flow version");
		goto out;
	}
	*created = sqlite3_changes(nu_store_db(s)) > 0;
	if (!(st = nu_store_stmt(s,
		"INSERT INTO flow (name, sha, updated_at) VALUES (?, ?, ?)"
		" ON CONFLICT (name) DO UPDATE SET sha = excluded.sha, updated_at = excluded.updated_at"
		" WHERE sha <> excluded.sha", err)))
		goto out;
	sqlite3_bind_text(st, 1, f->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, f->sha, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, nu_store_now(s));
	rc = sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "deploying flow");
out:
	free(spec);
	free(bundle);
	return rc;
}

int nu_flow_list(nu_store *s, json_t **out, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT f.name, v.kind, f.sha, f.status, f.updated_at,"
		" (SELECT count(*) FROM run r WHERE r.flow = f.name AND r.status = 'waiting'),"
		" (SELECT count(*) FROM run r WHERE r.flow = f.name)"
		" FROM flow f JOIN flow_version v ON v.sha = f.sha ORDER BY f.name", err);
	int rc;

	*out = NULL;
	if (!st)
		return NU_EDB;
	json_t *list = json_array();
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}",
			"name", sqlite3_column_text(st, 0), "kind", sqlite3_column_text(st, 1),
			"version", sqlite3_column_text(st, 2), "status", sqlite3_column_text(st, 3),
			"updated_at", (json_int_t)sqlite3_column_int64(st, 4),
			"active_runs", (json_int_t)sqlite3_column_int64(st, 5),
			"runs", (json_int_t)sqlite3_column_int64(st, 6)));
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		json_decref(list);
		return nu_store_fail(s, err, "listing flows");
	}
	*out = list;
	return NU_OK;
}

int nu_flow_set_status(nu_store *s, const char *name, const char *status, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "UPDATE flow SET status = ?2, updated_at = ?3 WHERE name = ?1",
					 err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, nu_store_now(s));
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return nu_store_fail(s, err, "changing a flow's status");
	if (!sqlite3_changes(nu_store_db(s)))
		return nu_error_set(err, NU_ENOTFOUND, "no flow named '%s' is deployed", name);
	return NU_OK;
}

const char *nu_flow_spec_str(const nu_flow *f, const char *key)
{
	json_t *v = json_object_get(f->spec, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int64_t nu_flow_spec_duration(const nu_flow *f, const char *key, int64_t dflt)
{
	const char *v = nu_flow_spec_str(f, key);
	int64_t ms;

	if (!v || nu_duration_parse(v, &ms, NULL, 0) < 0)
		return dflt;
	return ms;
}
