/*
 * test_config.c — nurture.conf.lua: the shipped sample, key checking with
 * messages that name the key, custom stage models, and the Lua sandbox the
 * file runs in (instruction budget, memory cap, no io/os/require, no
 * bytecode, env()).
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <lua.h>
#include <lauxlib.h>
#include "config.h"
#include "log.h"

#define DAY_MS 86400000LL

/* A temporary folder holding the config file under test. */
struct cfg {
	char dir[64];
	char path[128];
	nu_config c;
	nu_error err;
};

static int cfg_setup(void **state)
{
	struct cfg *t = calloc(1, sizeof *t);

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/nurture-cfg-XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof t->path, "%s/nurture.conf.lua", t->dir);
	*state = t;
	return 0;
}

static int cfg_teardown(void **state)
{
	struct cfg *t = *state;
	char cmd[160];

	alarm(0);
	nu_config_free(&t->c);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", t->dir);
	free(t);
	return 0;
}

static void write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Writes `src` as the config file and loads it. */
static int load(struct cfg *t, const char *src)
{
	write_text(t->path, src, strlen(src));
	nu_config_free(&t->c);
	memset(&t->err, 0, sizeof t->err);
	return nu_config_load(&t->c, t->path, &t->err);
}

static void load_ok(struct cfg *t, const char *src)
{
	if (load(t, src) != NU_OK)
		fail_msg("config refused: %s", t->err.msg);
}

/* Loading `src` fails with `code` and a message holding every word in the
 * NULL-terminated list. */
static void load_fails(struct cfg *t, const char *src, int code, ...)
{
	va_list ap;
	const char *w;
	int rc = load(t, src);

	if (rc == NU_OK)
		fail_msg("config accepted, expected an error:\n%s", src);
	assert_int_equal(rc, code);
	assert_int_equal(t->err.code, code);
	va_start(ap, code);
	while ((w = va_arg(ap, const char *)))
		if (!strstr(t->err.msg, w)) {
			va_end(ap);
			fail_msg("message \"%s\" lacks \"%s\"", t->err.msg, w);
		}
	va_end(ap);
}

static const nu_tag_def *tag_def(const nu_config *c, const char *name)
{
	for (size_t i = 0; i < c->ntags; i++)
		if (strcmp(c->tags[i].name, name) == 0)
			return &c->tags[i];
	fail_msg("tag definition '%s' missing", name);
	return NULL;
}

static int allowed(const nu_stage_model *m, const char *from, const char *to)
{
	int f = nu_stage_index(m, from), t = nu_stage_index(m, to);

	assert_true(f >= 0);
	assert_true(t >= 0);
	return m->allowed[f][t];
}

/* ------------------------------------------------------------ contents */

static void sample_loads(void **state)
{
	struct cfg *t = *state;
	const nu_tag_def *d;
	char want[160];

	load_ok(t, nu_config_sample);
	assert_string_equal(t->c.path, t->path);
	snprintf(want, sizeof want, "%s/nurture.db", t->dir);
	assert_string_equal(t->c.database, want);
	assert_string_equal(t->c.synchronous, "NORMAL");
	assert_int_equal(t->c.busy_timeout_ms, 5000);
	assert_string_equal(t->c.phone_default_cc, "86");
	assert_int_equal(t->c.log_level, NU_LOG_INFO);

	assert_int_equal(t->c.ntags, 7);
	d = tag_def(&t->c, "interest:crm");
	assert_string_equal(d->category, "interest");
	assert_string_equal(d->tag_class, "fact");
	assert_true(d->weight == 5.0);
	assert_int_equal(d->ttl_ms, 0);
	d = tag_def(&t->c, "behaviour:downloaded_whitepaper");
	assert_string_equal(d->category, "behaviour");
	assert_string_equal(d->tag_class, "fact");
	assert_true(d->weight == 10.0);
	assert_int_equal(d->ttl_ms, 90 * DAY_MS);
	d = tag_def(&t->c, "behaviour:requested_demo");
	assert_true(d->weight == 30.0);
	assert_int_equal(d->ttl_ms, 60 * DAY_MS);
	d = tag_def(&t->c, "behaviour:hot");
	assert_string_equal(d->tag_class, "analytic");
	assert_true(d->weight == 20.0);
	assert_int_equal(d->ttl_ms, 14 * DAY_MS);

	/* The sample spells out the built-in funnel. */
	assert_int_equal(t->c.stages_configured, 1);
	assert_int_equal(t->c.stages.n, 7);
	assert_int_equal(t->c.stages.funnel_len, 5);
	assert_string_equal(t->c.stages.names[0], "Lead");
	assert_string_equal(t->c.stages.names[4], "Deal");
	assert_string_equal(t->c.stages.names[5], "Recycled");
	assert_string_equal(t->c.stages.names[6], "Disqualified");
	assert_true(allowed(&t->c.stages, "Lead", "SQL"));
	assert_false(allowed(&t->c.stages, "SQL", "MQL"));
	assert_true(allowed(&t->c.stages, "Recycled", "MQL"));
}

static void empty_table_gives_defaults(void **state)
{
	struct cfg *t = *state;
	char want[160];

	load_ok(t, "return {}");
	snprintf(want, sizeof want, "%s/nurture.db", t->dir);
	assert_string_equal(t->c.database, want);
	assert_string_equal(t->c.synchronous, "NORMAL");
	assert_int_equal(t->c.busy_timeout_ms, 5000);
	assert_string_equal(t->c.phone_default_cc, "86");
	assert_int_equal(t->c.stages_configured, 0);
	assert_int_equal(t->c.stages.n, 7);
	assert_int_equal(t->c.ntags, 0);
}

static void scalar_keys_are_read(void **state)
{
	struct cfg *t = *state;

	load_ok(t, "return { synchronous = 'FULL', busy_timeout_ms = 250,\n"
		   "  phone_default_country = '+852', log_level = 'warn' }");
	assert_string_equal(t->c.synchronous, "FULL");
	assert_int_equal(t->c.busy_timeout_ms, 250);
	assert_string_equal(t->c.phone_default_cc, "852");
	assert_int_equal(t->c.log_level, NU_LOG_WARN);
}

static void database_is_relative_to_config_folder(void **state)
{
	struct cfg *t = *state;
	char want[160];

	load_ok(t, "return { database = 'data/leads.db' }");
	snprintf(want, sizeof want, "%s/data/leads.db", t->dir);
	assert_string_equal(t->c.database, want);

	load_ok(t, "return { database = '/var/lib/nurture/n.db' }");
	assert_string_equal(t->c.database, "/var/lib/nurture/n.db");
}

/* ------------------------------------------------------- key checking */

static void unknown_top_level_key(void **state)
{
	struct cfg *t = *state;

	load_fails(t, "return { databse = 'x.db' }", NU_EINVAL,
		   t->path, "unknown key 'databse'",
		   "database, synchronous, busy_timeout_ms, phone_default_country,"
		   " log_level, stages, tags", NULL);
}

static void unknown_key_in_tag_definition(void **state)
{
	struct cfg *t = *state;

	load_fails(t, "return { tags = {\n"
		      "  ['interest:crm'] = { category = 'interest', wieght = 5 },\n"
		      "} }", NU_EINVAL,
		   "unknown key 'tags['interest:crm'].wieght'",
		   "category, class, weight, ttl, description", NULL);
}

static void busy_timeout_as_string(void **state)
{
	struct cfg *t = *state;

	load_fails(t, "return { busy_timeout_ms = '5' }", NU_EINVAL,
		   t->path, "'busy_timeout_ms'", "integer", "got a string", NULL);
}

static void synchronous_unknown_value(void **state)
{
	struct cfg *t = *state;

	load_fails(t, "return { synchronous = 'SOMETIMES' }", NU_EINVAL,
		   "'synchronous'", NULL);
	load_fails(t, "return { synchronous = 'NEVER' }", NU_EINVAL,
		   "'synchronous'", "unknown value 'NEVER'", NULL);
}

static void tag_weight_as_string(void **state)
{
	struct cfg *t = *state;

	load_fails(t, "return { tags = {\n"
		      "  ['interest:crm'] = { weight = 'heavy' } } }", NU_EINVAL,
		   "'tags['interest:crm'].weight'", "a number", "got a string", NULL);
}

static void stages_funnel_as_string(void **state)
{
	struct cfg *t = *state;

	load_fails(t, "return { stages = { funnel = 'Lead' } }", NU_EINVAL,
		   "'stages.funnel'", "list of strings", NULL);
}

static void bad_ttl_names_the_tag(void **state)
{
	struct cfg *t = *state;

	load_fails(t, "return { tags = {\n"
		      "  ['behaviour:hot'] = { category = 'behaviour', ttl = '90 days' } } }",
		   NU_EINVAL, "tags['behaviour:hot'].ttl", "bad duration '90 days'", NULL);
}

static void custom_stage_model(void **state)
{
	struct cfg *t = *state;
	const nu_stage_model *m = &t->c.stages;

	load_ok(t, "return { stages = {\n"
		   "  funnel = { 'Prospect', 'Qualified', 'Won' },\n"
		   "  side = { 'Parked', 'Lost' },\n"
		   "  transitions = { Won = { 'Parked' }, Lost = { 'Prospect' } },\n"
		   "} }");
	assert_int_equal(t->c.stages_configured, 1);
	assert_int_equal(m->n, 5);
	assert_int_equal(m->funnel_len, 3);
	assert_int_equal(nu_stage_index(m, "Prospect"), 0);
	assert_int_equal(nu_stage_index(m, "Won"), 2);
	assert_int_equal(nu_stage_index(m, "Lost"), 4);
	assert_int_equal(nu_stage_index(m, "Lead"), -1);
	/* Derived rules. */
	assert_true(allowed(m, "Prospect", "Won"));
	assert_false(allowed(m, "Qualified", "Prospect"));
	assert_true(allowed(m, "Parked", "Qualified"));
	assert_false(allowed(m, "Parked", "Won"));
	/* Replaced rules: the final stage gains a way out, Lost loses its
	 * derived way to Parked and goes straight back into the funnel. */
	assert_true(allowed(m, "Won", "Parked"));
	assert_false(allowed(m, "Won", "Lost"));
	assert_true(allowed(m, "Lost", "Prospect"));
	assert_false(allowed(m, "Lost", "Parked"));
}

static void transition_to_unknown_stage(void **state)
{
	struct cfg *t = *state;

	load_fails(t, "return { stages = { funnel = { 'A', 'B' },\n"
		      "  transitions = { B = { 'Z' } } } }", NU_EINVAL,
		   t->path, "unknown stage 'Z'", NULL);
}

/* ------------------------------------------------------ chunk problems */

static void chunk_must_return_table(void **state)
{
	struct cfg *t = *state;

	load_fails(t, "return 42", NU_EINVAL, t->path, "must return a table",
		   "an integer", NULL);
	load_fails(t, "local x = 1", NU_EINVAL, "must return a table", "nil", NULL);
}

static void syntax_error_names_file_and_line(void **state)
{
	struct cfg *t = *state;
	char where[160];

	snprintf(where, sizeof where, "%s:3:", t->path);
	load_fails(t, "return {\n"
		      "  database = 'x.db'\n"
		      "  synchronous = 'FULL',\n"
		      "}\n", NU_EINVAL, where, "near 'synchronous'", NULL);
}

static void missing_file(void **state)
{
	struct cfg *t = *state;
	char path[192];

	snprintf(path, sizeof path, "%s/absent.lua", t->dir);
	assert_int_equal(nu_config_load(&t->c, path, &t->err), NU_ENOTFOUND);
	assert_non_null(strstr(t->err.msg, path));
}

/* ------------------------------------------------------------- sandbox */

/* A runaway script must make nu_config_load return; if it does not, the
 * alarm kills the test binary and the test fails. */
static void guard(void)
{
	alarm(60);
}

/* Config files a careless or hostile author might write: none may hang,
 * abort or lose the error. */
static void hostile_configs_fail_cleanly(void **state)
{
	struct cfg *t = *state;

	guard();
	/* Finalizers run with hooks off, so they would escape the budget. */
	load_fails(t, "setmetatable({}, {__gc = function() while true do end end}) return {}",
		   NU_EINVAL, "__gc metamethods are not allowed", NULL);
	/* The checker reads raw: an __index function never runs unprotected. */
	load_ok(t, "return setmetatable({}, {__index = function() error('boom') end})");
	load_ok(t, "return { tags = { ['interest:crm'] = setmetatable({}, "
		   "{__index = function() while true do end end}) } }");
	load_fails(t, "error({})", NU_EINVAL, "error raised with a table value", NULL);
	load_fails(t, "return { busy_timeout_ms = 3000000000 }", NU_EINVAL,
		   "'busy_timeout_ms' must be 0 to 600000", NULL);
	load_fails(t, "return { database = '' }", NU_EINVAL, "'database' is empty", NULL);
	load_fails(t, "return { tags = { ['a:b'] = { weight = 0/0 } } }", NU_EINVAL,
		   "weight' must be a number >= 0", NULL);
	load_fails(t, "return { synchronous = 'SOMETIMES' }", NU_EINVAL,
		   "one of: NORMAL, FULL, OFF", NULL);
	alarm(0);
}

static void endless_loop_hits_budget(void **state)
{
	struct cfg *t = *state;

	guard();
	load_fails(t, "while true do end\nreturn {}", NU_EINVAL,
		   "instruction budget", "exhausted", NULL);
	alarm(0);
}

static void pcall_cannot_swallow_budget(void **state)
{
	struct cfg *t = *state;

	guard();
	load_fails(t, "while true do pcall(function() while true do end end) end\n"
		      "return {}", NU_EINVAL, "instruction budget", "exhausted", NULL);
	/* Nor an error handler that returns a value of its own. */
	load_fails(t, "local n = 0\n"
		      "while true do\n"
		      "  xpcall(function() while true do end end, function() return 'ok' end)\n"
		      "  n = n + 1\n"
		      "end\n"
		      "return {}", NU_EINVAL, "instruction budget", NULL);
	alarm(0);
}

static void memory_bomb_hits_limit(void **state)
{
	struct cfg *t = *state;

	guard();
	load_fails(t, "local t = {} for i = 1, 1e8 do t[i] = string.rep('x', 100) .. i end\n"
		      "return {}", NU_ENOMEM, "memory limit", NULL);
	/* One big allocation is refused the same way. */
	load_fails(t, "local s = string.rep('x', 64 * 1024 * 1024)\nreturn {}",
		   NU_ENOMEM, "memory limit", NULL);
	alarm(0);
}

static void unsafe_names_are_unknown(void **state)
{
	struct cfg *t = *state;
	static const char *const names[][2] = {
		{ "return { database = os.getenv('HOME') }", "unknown name 'os'" },
		{ "io.open('/etc/passwd')\nreturn {}", "unknown name 'io'" },
		{ "require('socket')\nreturn {}", "unknown name 'require'" },
		{ "dofile('/etc/passwd')\nreturn {}", "unknown name 'dofile'" },
		{ "loadfile('/etc/passwd')\nreturn {}", "unknown name 'loadfile'" },
		{ "package.loadlib('x', 'y')\nreturn {}", "unknown name 'package'" },
		{ "return { database = string.dump(function() end) }", "dump" },
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		load_fails(t, names[i][0], NU_EINVAL, names[i][1], NULL);
}

struct dump_buf {
	unsigned char *p;
	size_t len;
};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
	struct dump_buf *b = ud;
	unsigned char *g = realloc(b->p, b->len + sz);

	(void)L;
	if (!g)
		return 1;
	memcpy(g + b->len, p, sz);
	b->p = g;
	b->len += sz;
	return 0;
}

/* Real bytecode for `return { database = 'pwned.db' }`, as a Lua string
 * literal with every byte escaped. Caller frees. */
static char *bytecode_literal(void)
{
	lua_State *L = luaL_newstate();
	struct dump_buf b = { NULL, 0 };
	char *out, *o;

	assert_non_null(L);
	assert_int_equal(luaL_loadstring(L, "return { database = 'pwned.db' }"), LUA_OK);
	assert_int_equal(lua_dump(L, dump_writer, &b, 1), 0);
	lua_close(L);
	assert_true(b.len > 4 && memcmp(b.p, "\033Lua", 4) == 0);
	out = o = malloc(b.len * 4 + 3);
	assert_non_null(out);
	*o++ = '"';
	for (size_t i = 0; i < b.len; i++)
		o += sprintf(o, "\\%03u", b.p[i]);
	*o++ = '"';
	*o = '\0';
	free(b.p);
	return out;
}

static void load_refuses_bytecode(void **state)
{
	struct cfg *t = *state;
	char *lit = bytecode_literal();
	size_t cap = strlen(lit) + 512;
	char *src = malloc(cap);

	assert_non_null(src);
	/* If the bytecode loaded, the config would name pwned.db. */
	snprintf(src, cap,
		 "local f, e = load(%s)\n"
		 "if f then return f() end\n"
		 "error('load refused: ' .. tostring(e))\n", lit);
	load_fails(t, src, NU_EINVAL, "load refused", "binary chunk", NULL);
	/* Asking for binary mode does not help. */
	snprintf(src, cap,
		 "local f, e = load(%s, 'x', 'b')\n"
		 "if f then return f() end\n"
		 "error('load refused: ' .. tostring(e))\n", lit);
	load_fails(t, src, NU_EINVAL, "load refused", "binary chunk", NULL);
	/* A plain "\27Lua" string too. */
	load_fails(t, "local f, e = load('\\27Lua')\n"
		      "if f then return {} end\n"
		      "error('load refused: ' .. tostring(e))\n",
		   NU_EINVAL, "load refused", "binary chunk", NULL);
	free(src);
	free(lit);
	/* Text still loads. */
	load_ok(t, "return load('return { busy_timeout_ms = 7 }')()");
	assert_int_equal(t->c.busy_timeout_ms, 7);
}

static void env_reads_environment(void **state)
{
	struct cfg *t = *state;
	char want[192];

	assert_int_equal(setenv("NU_TEST_VAR", "from-env.db", 1), 0);
	unsetenv("NU_TEST_VAR_UNSET");
	load_ok(t, "return { database = env('NU_TEST_VAR'),\n"
		   "  log_level = env('NU_TEST_VAR_UNSET') == nil and 'debug' or 'error' }");
	snprintf(want, sizeof want, "%s/from-env.db", t->dir);
	assert_string_equal(t->c.database, want);
	assert_int_equal(t->c.log_level, NU_LOG_DEBUG);
	unsetenv("NU_TEST_VAR");
}

static void http_section_is_read(void **state)
{
	struct cfg *t = *state;

	load_ok(t, "return { http = { listen = '127.0.0.1:7780', tracking_key = '0123456789abcdef',\n"
		   "  max_body = 2048, max_connections = 3, timeout = 5,\n"
		   "  tokens = { { name = 'web', token = 'ingest-secret-0001', scopes = { 'ingest' } },\n"
		   "             { token = 'admin-secret-00001', scopes = { 'admin' } } } } }");
	assert_string_equal(t->c.http.listen, "127.0.0.1:7780");
	assert_string_equal(t->c.http.public_url, "http://127.0.0.1:7780");   /* derived */
	assert_int_equal(t->c.http.max_body, 2048);
	assert_int_equal(t->c.http.max_header, 16384);                         /* default */
	assert_int_equal(t->c.http.max_connections, 3);
	assert_int_equal(t->c.http.timeout_s, 5);
	assert_int_equal(t->c.http.ntokens, 2);
	assert_string_equal(t->c.http.tokens[0].name, "web");
	assert_int_equal(t->c.http.tokens[0].scopes, NU_SCOPE_INGEST);
	assert_string_equal(t->c.http.tokens[1].name, "token2");
	assert_int_equal(t->c.http.tokens[1].scopes, NU_SCOPE_ADMIN | NU_SCOPE_READ | NU_SCOPE_INGEST);
	load_ok(t, "return { http = { listen = '[::1]:1', public_url = 'https://t.example.com/' } }");
	assert_string_equal(t->c.http.public_url, "https://t.example.com");   /* no trailing slash */
}

static void http_section_mistakes_are_named(void **state)
{
	struct cfg *t = *state;

	load_fails(t, "return { http = { lisen = 'x' } }", NU_EINVAL, "http.lisen", "listen", NULL);
	load_fails(t, "return { http = { tokens = { { token = 'short', scopes = { 'admin' } } } } }",
		   NU_EINVAL, "http.tokens[1].token", "at least 16", NULL);
	load_fails(t, "return { http = { tokens = { { token = env('NU_NOT_SET_ANYWHERE'), scopes = { 'admin' } } } } }",
		   NU_EINVAL, "http.tokens[1].token is missing", NULL);
	load_fails(t, "return { http = { tokens = { { token = 'long-enough-secret', scopes = { 'root' } } } } }",
		   NU_EINVAL, "http.tokens[1].scopes", "root", NULL);
	load_fails(t, "return { http = { tokens = { { token = 'long-enough-secret' } } } }",
		   NU_EINVAL, "http.tokens[1].scopes", NULL);
	load_fails(t, "return { http = { tracking_key = 'too-short' } }", NU_EINVAL, "tracking_key", "16", NULL);
	load_fails(t, "return { http = { public_url = 'ftp://x' } }", NU_EINVAL, "public_url", NULL);
	load_fails(t, "return { http = { max_body = '10MB' } }", NU_EINVAL, "http.max_body", "integer", NULL);
	load_fails(t, "return { http = { max_connections = 0 } }", NU_EINVAL, "http.max_connections", NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, cfg_setup, cfg_teardown)
	const struct CMUnitTest tests[] = {
		T(sample_loads),
		T(empty_table_gives_defaults),
		T(scalar_keys_are_read),
		T(database_is_relative_to_config_folder),
		T(unknown_top_level_key),
		T(unknown_key_in_tag_definition),
		T(busy_timeout_as_string),
		T(synchronous_unknown_value),
		T(hostile_configs_fail_cleanly),
		T(tag_weight_as_string),
		T(stages_funnel_as_string),
		T(bad_ttl_names_the_tag),
		T(custom_stage_model),
		T(transition_to_unknown_stage),
		T(chunk_must_return_table),
		T(syntax_error_names_file_and_line),
		T(missing_file),
		T(endless_loop_hits_budget),
		T(pcall_cannot_swallow_budget),
		T(memory_bomb_hits_limit),
		T(unsafe_names_are_unknown),
		T(load_refuses_bytecode),
		T(env_reads_environment),
		T(http_section_is_read),
		T(http_section_mistakes_are_named),
	};
#undef T
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
