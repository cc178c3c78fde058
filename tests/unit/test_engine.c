/*
 * test_engine.c — the durable flow engine: replay from the journal,
 * budgets, the sandbox, rules, lateness, goals, reentry and exclusion,
 * merges, unknown channels and split{} on replay.
 *
 * Each test writes small flow files into its temporary folder, loads and
 * deploys them as `nurture flow deploy` does, and drives the engine with
 * enrolments, events and pumps while moving the virtual clock by hand.
 * Outcomes are read back from the tables with SQL.
 */
#include <fcntl.h>
#include <jansson.h>
#include "engine.h"
#include "engine_private.h"
#include "flows.h"
#include "ingest.h"
#include "log.h"
#include "merge.h"
#include "stages.h"
#include "testutil.h"

#define MIN  60000LL
#define HOUR 3600000LL
#define DAY  86400000LL

struct env {
	struct test_db t;
	nu_engine *e;
	int nfiles;
};

static void env_open(struct env *v)
{
	nu_error err;

	memset(v, 0, sizeof *v);
	test_db_open(&v->t);
	if (nu_engine_open(v->t.s, &v->e, &err) != NU_OK)
		fail_msg("engine open: %s", err.msg);
}

static void env_close(struct env *v)
{
	nu_engine_close(v->e);
	v->e = NULL;
	test_db_close(&v->t);
}

/* Writes `src` to <tmp>/<file> and returns the path in `path`. */
static void write_file(struct env *v, const char *file, const char *src, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", v->t.dir, file);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fputs(src, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Loads, deploys and reloads one flow, as `nurture flow deploy` does. */
static void deploy(struct env *v, const char *src)
{
	char file[32], path[256];
	nu_flow f;
	nu_error err;
	int created, rc;

	snprintf(file, sizeof file, "flow%d.lua", ++v->nfiles);
	write_file(v, file, src, path, sizeof path);
	if ((rc = nu_flow_load_file(path, NULL, &f, &err)) != NU_OK) {
		nu_flow_clear(&f);
		fail_msg("load %s: %s", path, err.msg);
	}
	assert_int_equal(nu_store_begin(v->t.s, &err), NU_OK);
	rc = nu_flow_deploy(v->t.s, &f, &created, &err);
	nu_flow_clear(&f);
	if (rc != NU_OK)
		fail_msg("deploy: %s", err.msg);
	assert_int_equal(created, 1);
	assert_int_equal(nu_store_commit(v->t.s, &err), NU_OK);
	if (nu_engine_reload(v->e, &err) != NU_OK)
		fail_msg("reload: %s", err.msg);
}

static int64_t lead(struct env *v, const char *email)
{
	nu_ingest_result res;
	nu_error err;
	json_t *rec = json_pack("{s:s}", "email", email);
	int rc;

	assert_int_equal(nu_store_begin(v->t.s, &err), NU_OK);
	rc = nu_ingest_lead(v->t.s, rec, 0, "test", &res, &err);
	json_decref(rec);
	if (rc != NU_OK)
		fail_msg("lead: %s", err.msg);
	assert_int_equal(nu_store_commit(v->t.s, &err), NU_OK);
	return res.resolve.lead_id;
}

/* An event for a lead; props is JSON text or NULL. Returns its id. */
static int64_t event(struct env *v, int64_t lead_id, const char *type, const char *props)
{
	nu_ingest_result res;
	nu_error err;
	json_t *rec = json_pack("{s:I,s:s}", "lead_id", (json_int_t)lead_id, "type", type);
	int rc;

	if (props)
		json_object_set_new(rec, "props", json_loads(props, 0, NULL));
	assert_int_equal(nu_store_begin(v->t.s, &err), NU_OK);
	rc = nu_ingest_event(v->t.s, rec, "test", &res, &err);
	json_decref(rec);
	if (rc != NU_OK)
		fail_msg("event: %s", err.msg);
	assert_int_equal(nu_store_commit(v->t.s, &err), NU_OK);
	return res.event_id;
}

/* Enrols; returns the run id (0 if refused, with the reason in why). */
static int64_t enroll(struct env *v, const char *flow, int64_t lead_id, char *why, size_t len)
{
	char scratch[200];
	int64_t run;
	nu_error err;

	if (!why) {
		why = scratch;
		len = sizeof scratch;
	}
	why[0] = '\0';
	assert_int_equal(nu_store_begin(v->t.s, &err), NU_OK);
	if (nu_engine_enroll(v->e, flow, lead_id, 0, &run, why, len, &err) != NU_OK)
		fail_msg("enroll %s: %s", flow, err.msg);
	assert_int_equal(nu_store_commit(v->t.s, &err), NU_OK);
	return run;
}

static int pump(struct env *v)
{
	nu_error err;
	int did = 0;

	if (nu_engine_pump(v->e, &did, &err) != NU_OK)
		fail_msg("pump: %s", err.msg);
	return did;
}

static void sql(struct env *v, const char *q)
{
	nu_error err;

	if (nu_store_exec(v->t.s, q, &err) != NU_OK)
		fail_msg("%s: %s", q, err.msg);
}

/* One text value from a query with one '?' bound to arg (none if arg < 0);
 * NULL for no row or SQL NULL. Caller frees. */
static char *query_text(struct env *v, const char *q, int64_t arg)
{
	sqlite3_stmt *st;
	char *out = NULL;

	assert_int_equal(sqlite3_prepare_v2(nu_store_db(v->t.s), q, -1, &st, NULL), SQLITE_OK);
	if (arg >= 0)
		sqlite3_bind_int64(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static double query_double(struct env *v, const char *q, int64_t arg)
{
	sqlite3_stmt *st;
	double out = -1;

	assert_int_equal(sqlite3_prepare_v2(nu_store_db(v->t.s), q, -1, &st, NULL), SQLITE_OK);
	if (arg >= 0)
		sqlite3_bind_int64(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_ROW)
		out = sqlite3_column_double(st, 0);
	sqlite3_finalize(st);
	return out;
}

static int64_t qint(struct env *v, const char *q, int64_t arg)
{
	return test_query_int(&v->t, q, arg);
}

static void expect_text(struct env *v, const char *q, int64_t arg, const char *want)
{
	char *got = query_text(v, q, arg);

	if (!want) {
		if (got)
			fail_msg("%s [%lld]: expected NULL, got '%s'", q, (long long)arg, got);
		return;
	}
	if (!got)
		fail_msg("%s [%lld]: expected '%s', got NULL", q, (long long)arg, want);
	/* Compare, free once, then fail: GCC cannot see that fail() does not
	 * return, and at -O3 it would flag a second free. */
	int same = !strcmp(got, want);
	if (!same)
		print_error("%s [%lld]:\n  expected '%s'\n  got      '%s'\n", q, (long long)arg, want, got);
	free(got);
	if (!same)
		fail();
}

/* A JSON value from a query, compared as JSON (key order does not matter). */
static void expect_json(struct env *v, const char *q, int64_t arg, const char *want)
{
	char *got = query_text(v, q, arg);
	json_t *a = got ? json_loads(got, 0, NULL) : NULL, *b = json_loads(want, 0, NULL);
	int same = a && b && json_equal(a, b);

	json_decref(a);
	json_decref(b);
	if (!same) {
		print_error("%s [%lld]:\n  expected %s\n  got      %s\n", q, (long long)arg, want,
			    got ? got : "NULL");
		free(got);
		fail();
	}
	free(got);
}

static void expect_status(struct env *v, int64_t run, const char *status)
{
	expect_text(v, "SELECT status FROM run WHERE id = ?", run, status);
}

/* The run's error, which must contain `part`. */
static void expect_error_has(struct env *v, int64_t run, const char *part)
{
	char *got = query_text(v, "SELECT error FROM run WHERE id = ?", run);

	if (!got)
		fail_msg("run %lld: expected an error containing '%s', got none", (long long)run, part);
	if (!strstr(got, part)) {
		print_error("run %lld: expected an error containing '%s', got '%s'\n", (long long)run,
			    part, got);
		free(got);
		fail();
	}
	free(got);
}

/* ---- capturing the log (stderr) --------------------------------------- */

struct capture {
	int saved;
	char path[160];
};

static void capture_start(struct env *v, struct capture *c)
{
	int fd;

	fflush(stderr);
	snprintf(c->path, sizeof c->path, "%s/stderr.txt", v->t.dir);
	assert_true((fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_true((c->saved = dup(2)) >= 0);
	assert_true(dup2(fd, 2) >= 0);
	close(fd);
}

static char *capture_end(struct capture *c)
{
	FILE *f;
	char *buf;
	long n;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	assert_non_null(f = fopen(c->path, "rb"));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	assert_non_null(buf = calloc(1, (size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- 1. journal mismatch ------------------------------------------------ */

static const char mismatch_flow[] =
	"return {\n"
	"  name = \"mismatch\",\n"
	"  trigger = { manual = true },\n"
	"  run = function(lead)\n"
	"    log(\"hello\")\n"
	"    send(\"email\", { subject = \"one\" })\n"
	"    sleep(\"1h\")\n"
	"    send(\"email\", { subject = \"two\" })\n"
	"  end,\n"
	"}\n";

/* The code (as the journal sees it) changed under a waiting run: replay
 * stops at the first differing effect, naming both requests. */
static void journal_mismatch_fails_the_run(void **state)
{
	struct env v;
	int64_t a, run;

	(void)state;
	env_open(&v);
	deploy(&v, mismatch_flow);
	a = lead(&v, "a@example.com");
	assert_true((run = enroll(&v, "mismatch", a, NULL, 0)) > 0);
	pump(&v);
	expect_status(&v, run, "waiting");
	assert_int_equal(qint(&v, "SELECT count(*) FROM journal WHERE run_id = ?", run), 3);
	expect_text(&v, "SELECT kind || ' ' || request FROM journal WHERE run_id = ? AND seq = 1", run,
		    "send {\"channel\":\"email\",\"message\":{\"subject\":\"one\"}}");
	expect_text(&v, "SELECT kind FROM journal WHERE run_id = ? AND seq = 2 AND result IS NULL",
		    run, "sleep");
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'sent'", run), 1);
	assert_int_equal(qint(&v, "SELECT due FROM wait WHERE run_id = ?", run), T0 + HOUR);

	/* As if the flow had sent another subject when it ran. */
	sql(&v, "UPDATE journal SET request = '{\"channel\":\"email\",\"message\":{\"subject\":\"uno\"}}'"
		" WHERE seq = 1");
	v.t.now = T0 + HOUR;
	pump(&v);

	expect_status(&v, run, "failed");
	expect_text(&v, "SELECT error FROM run WHERE id = ?", run,
		    "journal mismatch at step 1: the flow now asks for send "
		    "{\"channel\":\"email\",\"message\":{\"subject\":\"one\"}} but the run recorded send "
		    "{\"channel\":\"email\",\"message\":{\"subject\":\"uno\"}}; the run is stopped rather "
		    "than guessed forward");
	assert_int_equal(qint(&v, "SELECT ended_at FROM run WHERE id = ?", run), T0 + HOUR);
	/* Nothing was sent or journaled after the mismatch, and nothing wakes the run. */
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox", -1), 1);
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox WHERE created_at >= ?", T0 + HOUR), 0);
	assert_int_equal(qint(&v, "SELECT count(*) FROM journal WHERE run_id = ?", run), 3);
	assert_int_equal(qint(&v, "SELECT count(*) FROM wait", -1), 0);
	env_close(&v);
}

/* ---- 2. replay answers from the journal ----------------------------------- */

static const char replay_flow[] =
	"return {\n"
	"  name = \"replay\",\n"
	"  trigger = { manual = true },\n"
	"  run = function(lead)\n"
	"    local t = now()\n"
	"    local r = random()\n"
	"    sleep(\"1d\")\n"
	"    send(\"test\", { t = t, r = r })\n"
	"  end,\n"
	"}\n";

static void replay_answers_from_the_journal(void **state)
{
	struct env v;
	int64_t a, b, ra, rb;
	double r;
	char q[200];

	(void)state;
	env_open(&v);
	deploy(&v, replay_flow);
	a = lead(&v, "a@example.com");
	b = lead(&v, "b@example.com");
	ra = enroll(&v, "replay", a, NULL, 0);
	rb = enroll(&v, "replay", b, NULL, 0);
	pump(&v);
	expect_text(&v, "SELECT kind || ' ' || result FROM journal WHERE run_id = ? AND seq = 0", ra,
		    "now {\"v\":1790000000000}");
	r = query_double(&v, "SELECT json_extract(result, '$.v') FROM journal WHERE run_id = ?"
			 " AND seq = 1", ra);
	assert_true(r >= 0 && r < 1);
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox", -1), 0);

	/* Run b's journal is edited: the values it answers with must follow. */
	snprintf(q, sizeof q, "UPDATE journal SET result = '{\"v\":1234567}' WHERE run_id = %lld"
		 " AND seq = 0", (long long)rb);
	sql(&v, q);
	snprintf(q, sizeof q, "UPDATE journal SET result = '{\"v\":0.125}' WHERE run_id = %lld"
		 " AND seq = 1", (long long)rb);
	sql(&v, q);

	v.t.now = T0 + DAY + 7 * MIN;
	pump(&v);
	expect_status(&v, ra, "completed");
	expect_status(&v, rb, "completed");
	assert_int_equal(qint(&v, "SELECT json_extract(message, '$.t') FROM outbox WHERE run_id = ?", ra),
			 T0);
	assert_true(query_double(&v, "SELECT json_extract(message, '$.r') FROM outbox WHERE run_id = ?",
				 ra) == r);
	assert_int_equal(qint(&v, "SELECT created_at FROM outbox WHERE run_id = ?", ra),
			 T0 + DAY + 7 * MIN);
	expect_json(&v, "SELECT message FROM outbox WHERE run_id = ?", rb,
		    "{\"r\":0.125,\"t\":1234567}");
	/* The replayed steps wrote nothing new for now/random. */
	assert_int_equal(qint(&v, "SELECT count(*) FROM journal WHERE run_id = ? AND kind IN ('now', 'random')",
			      ra), 2);
	assert_int_equal(qint(&v, "SELECT at FROM journal WHERE run_id = ? AND seq = 0", ra), T0);
	env_close(&v);
}

/* ---- 3. budgets ------------------------------------------------------------ */

static void budgets_fail_only_their_own_run(void **state)
{
	struct env v;
	int64_t runaway, swallow, hog, normal, l1, l2, l3, l4;
	int did;

	(void)state;
	env_open(&v);
	deploy(&v, "return { name = \"runaway\", trigger = { manual = true },\n"
		   "  run = function(lead) while true do end end }\n");
	deploy(&v, "return { name = \"swallow\", trigger = { manual = true },\n"
		   "  run = function(lead)\n"
		   "    while true do pcall(function() while true do end end) end\n"
		   "  end }\n");
	deploy(&v, "return { name = \"hog\", trigger = { manual = true },\n"
		   "  run = function(lead)\n"
		   "    local t, i = {}, 0\n"
		   "    while true do i = i + 1; t[i] = string.rep(\"x\", 4096) .. i end\n"
		   "  end }\n");
	deploy(&v, "return { name = \"normal\", trigger = { manual = true },\n"
		   "  run = function(lead) lead:tag(\"ok\"); send(\"test\", { hi = 1 }) end }\n");
	l1 = lead(&v, "l1@example.com");
	l2 = lead(&v, "l2@example.com");
	l3 = lead(&v, "l3@example.com");
	l4 = lead(&v, "l4@example.com");
	runaway = enroll(&v, "runaway", l1, NULL, 0);
	swallow = enroll(&v, "swallow", l2, NULL, 0);
	hog = enroll(&v, "hog", l3, NULL, 0);
	normal = enroll(&v, "normal", l4, NULL, 0);

	did = pump(&v);   /* one pump does all of it */
	assert_true(did > 0);
	expect_status(&v, runaway, "failed");
	expect_error_has(&v, runaway, "instruction budget of 10000000 exhausted");
	expect_status(&v, swallow, "failed");
	expect_error_has(&v, swallow, "instruction budget of 10000000 exhausted");
	expect_status(&v, hog, "failed");
	expect_text(&v, "SELECT error FROM run WHERE id = ?", hog,
		    "memory limit of 16777216 bytes exceeded");
	expect_status(&v, normal, "completed");
	expect_text(&v, "SELECT state || ' ' || message FROM outbox WHERE run_id = ?", normal,
		    "sent {\"hi\":1}");
	assert_int_equal(qint(&v, "SELECT count(*) FROM tag WHERE lead_id = ? AND name = 'ok'", l4), 1);
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox", -1), 1);
	assert_int_equal(qint(&v, "SELECT count(*) FROM wait", -1), 0);
	assert_int_equal(pump(&v), 0);
	env_close(&v);
}

/* ---- 4. the sandbox -------------------------------------------------------- */

static void sandbox_refuses_unsafe_things(void **state)
{
	static const struct { const char *code, *error; } cases[] = {
		{ "local x = os.time", "unknown name 'os'" },
		{ "local x = io.open", "unknown name 'io'" },
		{ "local x = debug.traceback", "unknown name 'debug'" },
		{ "local x = coroutine.create", "unknown name 'coroutine'" },
		{ "local x = dofile", "unknown name 'dofile'" },
		{ "local x = loadfile", "unknown name 'loadfile'" },
		{ "local x = collectgarbage", "unknown name 'collectgarbage'" },
		{ "local x = print", "unknown name 'print'" },
		{ "local x = _G.os", "unknown name 'os'" },
		{ "string.dump(function() end)", "attempt to call a nil value (field 'dump')" },
		{ "math.random(1, 6)", "attempt to call a nil value (field 'random')" },
		{ "math.randomseed(42)", "attempt to call a nil value (field 'randomseed')" },
		{ "setmetatable({}, { __gc = function() end })", "__gc metamethods are not allowed here" },
	};
	enum { N = sizeof cases / sizeof cases[0] };
	static const char *const top_level[] = {
		"send(\"email\", { subject = \"x\" })", "sleep(\"1d\")", "local t = now()",
		"log(\"loading\")", "local r = random()",
	};
	struct env v;
	int64_t runs[N], l, ok_run, bin_run;
	char src[600], want[200];

	(void)state;
	env_open(&v);
	for (int i = 0; i < N; i++) {
		snprintf(src, sizeof src,
			 "return {\n"
			 "  name = \"sandbox_%d\",\n"
			 "  trigger = { manual = true },\n"
			 "  run = function(lead)\n"
			 "    %s\n"
			 "    send(\"test\", { escaped = %d })\n"
			 "  end,\n"
			 "}\n", i, cases[i].code, i);
		deploy(&v, src);
	}
	deploy(&v, "return { name = \"allowed\", trigger = { manual = true },\n"
		   "  run = function(lead)\n"
		   "    local t = setmetatable({}, { __index = function(_, k) return k .. \"!\" end })\n"
		   "    local f = load(\"return 1 + 1\")\n"
		   "    send(\"test\", { idx = t.x, two = f(), name = string.format(\"%s\", \"ok\") })\n"
		   "  end }\n");
	deploy(&v, "return { name = \"binary\", trigger = { manual = true },\n"
		   "  run = function(lead)\n"
		   "    local f, e = load(\"\\27LuaT\\0\\25\\147\\13\\10\\26\\10\", \"bin\", \"b\")\n"
		   "    send(\"test\", { loaded = f ~= nil, err = e })\n"
		   "  end }\n");
	l = lead(&v, "s@example.com");
	for (int i = 0; i < N; i++) {
		char flow[32];
		snprintf(flow, sizeof flow, "sandbox_%d", i);
		assert_true((runs[i] = enroll(&v, flow, l, NULL, 0)) > 0);
	}
	ok_run = enroll(&v, "allowed", l, NULL, 0);
	bin_run = enroll(&v, "binary", l, NULL, 0);
	pump(&v);
	for (int i = 0; i < N; i++) {
		snprintf(want, sizeof want, "sandbox_%d.lua:5: %s", i, cases[i].error);
		expect_status(&v, runs[i], "failed");
		expect_text(&v, "SELECT error FROM run WHERE id = ?", runs[i], want);
		assert_int_equal(qint(&v, "SELECT count(*) FROM outbox WHERE run_id = ?", runs[i]), 0);
	}
	expect_status(&v, ok_run, "completed");
	expect_json(&v, "SELECT message FROM outbox WHERE run_id = ?", ok_run,
		    "{\"idx\":\"x!\",\"name\":\"ok\",\"two\":2}");
	expect_status(&v, bin_run, "completed");
	expect_json(&v, "SELECT message FROM outbox WHERE run_id = ?", bin_run,
		    "{\"err\":\"attempt to load a binary chunk (mode is 't')\",\"loaded\":false}");

	/* Effects while the file is loaded (outside run) are refused at load. */
	for (size_t i = 0; i < sizeof top_level / sizeof *top_level; i++) {
		char path[256];
		nu_flow f;
		nu_error err;
		snprintf(src, sizeof src,
			 "%s\n"
			 "return { name = \"top\", trigger = { manual = true },\n"
			 "  run = function(lead) end }\n", top_level[i]);
		write_file(&v, "top.lua", src, path, sizeof path);
		assert_int_equal(nu_flow_load_file(path, NULL, &f, &err), NU_EINVAL);
		nu_flow_clear(&f);
		snprintf(want, sizeof want, "%s:1: flow effects can only be called inside run()", path);
		assert_string_equal(err.msg, want);
	}
	env_close(&v);
}

/* ---- 5. rules -------------------------------------------------------------- */

/* Steps share one Lua state (runs.c): nothing a step leaves behind, in
 * its globals or by trying to change the libraries, reaches the next step
 * of its own run (whose replay would then diverge) or another run. */
static void steps_share_nothing(void **state)
{
	struct env v;
	int64_t l, polluter, observer;

	(void)state;
	env_open(&v);
	deploy(&v, "leaked_at_load = true\n"
		   "return { name = \"polluter\", trigger = { manual = true },\n"
		   "  run = function(lead)\n"
		   "    local before = rawget(_G, \"count\") or 0\n"
		   "    count = before + 1\n"
		   "    load(\"leak = 1\")()\n"
		   "    local w1 = pcall(function() string.upper = nil end)\n"
		   "    local w2 = pcall(rawset, string, \"upper\", nil)\n"
		   "    local w3 = pcall(function() getmetatable(\"\").__index.upper = nil end)\n"
		   "    local w4 = pcall(setmetatable, math, nil)\n"
		   "    local w5 = pcall(table.insert, table, 1)\n"
		   "    local _, lib = pairs(string)\n"
		   "    local w6 = pcall(function() lib.upper = nil end)\n"
		   "    send(\"test\", { before = before, w = { w1, w2, w3, w4, w5, w6 } })\n"
		   "    send(\"test\", { before = rawget(_G, \"count\") })\n"
		   "  end }\n");
	deploy(&v, "return { name = \"observer\", trigger = { manual = true },\n"
		   "  run = function(lead)\n"
		   "    local names = 0\n"
		   "    for _ in pairs(string) do names = names + 1 end\n"
		   "    send(\"test\", { count = rawget(_G, \"count\"), leak = rawget(_G, \"leak\"),\n"
		   "                     at_load = rawget(_G, \"leaked_at_load\"), upper = (\"a\"):upper(),\n"
		   "                     libs = names > 10 and type(math.floor) == \"function\" })\n"
		   "  end }\n");
	l = lead(&v, "iso@example.com");
	polluter = enroll(&v, "polluter", l, NULL, 0);
	pump(&v);
	observer = enroll(&v, "observer", l, NULL, 0);
	pump(&v);
	/* Three steps of the polluter, each replaying from the top: every one
	 * saw count unset, or the replay would have stopped the run. */
	expect_status(&v, polluter, "completed");
	expect_json(&v, "SELECT message FROM outbox WHERE run_id = ? ORDER BY op_id LIMIT 1", polluter,
		    "{\"before\":0,\"w\":[false,false,false,false,false,false]}");
	expect_json(&v, "SELECT message FROM outbox WHERE run_id = ? ORDER BY op_id LIMIT 1 OFFSET 1",
		    polluter, "{\"before\":1}");
	expect_status(&v, observer, "completed");
	expect_json(&v, "SELECT message FROM outbox WHERE run_id = ?", observer,
		    "{\"libs\":true,\"upper\":\"A\"}");
	env_close(&v);
}

/* A run stopped at a send is kept in memory and continued with the send's
 * result (runs.c): everything it does after that is what a replay from
 * the journal would have done. */
static void kept_runs_continue_where_they_stopped(void **state)
{
	static const char *const flow =
		"return { name = \"hot\", trigger = { manual = true },\n"
		"  run = function(lead, event)\n"
		"    local seen = {}\n"
		"    local ok1, info1 = send(\"test\", { n = 1 })\n"
		"    seen[#seen + 1] = info1.status\n"
		"    lead:tag(\"hot:one\")\n"
		"    local ok2, info2 = send(\"test\", { n = 2, prev = info1.provider_id, ok = ok1 })\n"
		"    seen[#seen + 1] = info2.status\n"
		"    local later = sleep(\"1h\")\n"
		"    send(\"test\", { n = 3, seen = seen, tagged = lead:has_tag(\"hot:one\") })\n"
		"  end }\n";
	struct env v;
	nu_engine_step_stats st;
	int64_t l, run;
	char want[200];

	(void)state;
	env_open(&v);
	deploy(&v, flow);
	l = lead(&v, "hot@example.com");
	run = enroll(&v, "hot", l, NULL, 0);
	pump(&v);
	/* Enrolled outside the pump, the first step starts on an empty
	 * journal; the step after each send continues in memory. */
	nu_engine_step_stats_get(v.e, &st);
	assert_int_equal(st.replayed, 1);
	assert_int_equal(st.continued, 2);
	assert_int_equal(st.kept, 0);
	expect_status(&v, run, "waiting");
	snprintf(want, sizeof want, "{\"n\":2,\"ok\":true,\"prev\":\"test-%lld\"}",
		 (long long)(run * 65536));
	expect_json(&v, "SELECT message FROM outbox WHERE run_id = ? ORDER BY op_id LIMIT 1 OFFSET 1",
		    run, want);
	/* After the sleep nothing is in memory: the step replays all of it,
	 * and the journal answers exactly what the continued steps were told. */
	v.t.now += HOUR;
	pump(&v);
	nu_engine_step_stats_get(v.e, &st);
	assert_int_equal(st.replayed, 2);
	expect_status(&v, run, "completed");
	expect_json(&v, "SELECT message FROM outbox WHERE run_id = ? ORDER BY op_id LIMIT 1 OFFSET 2", run,
		    "{\"n\":3,\"seen\":[\"sent\",\"sent\"],\"tagged\":true}");
	env_close(&v);
}

/* A run kept by a step whose transaction rolls back is dropped: the step
 * never happened, and the run's id may be handed out again. */
static void kept_runs_go_with_a_rolled_back_transaction(void **state)
{
	struct env v;
	nu_error err;
	int64_t l, run, kept;

	(void)state;
	env_open(&v);
	deploy(&v, "return { name = \"once\", trigger = { manual = true },\n"
		   "  run = function(lead) send(\"test\", { n = 1 }) end }\n");
	l = lead(&v, "rb@example.com");
	run = enroll(&v, "once", l, NULL, 0);
	assert_int_equal(nu_store_begin(v.t.s, &err), NU_OK);
	assert_int_equal(nu_run_step(v.e, run, NULL, &err), NU_OK);
	assert_true(nu_run_is_kept(v.e, run));
	nu_store_rollback(v.t.s);
	assert_false(nu_run_is_kept(v.e, run));
	/* ... and one that commits stays until its send answers. */
	assert_int_equal(nu_store_begin(v.t.s, &err), NU_OK);
	assert_int_equal(nu_run_step(v.e, run, NULL, &err), NU_OK);
	assert_int_equal(nu_store_commit(v.t.s, &err), NU_OK);
	kept = nu_run_is_kept(v.e, run);
	assert_true(kept);
	pump(&v);
	expect_status(&v, run, "completed");
	assert_false(nu_run_is_kept(v.e, run));
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox WHERE run_id = ?", run), 1);
	env_close(&v);
}

static void rules_tag_score_and_bad_rules_are_skipped(void **state)
{
	struct env v;
	struct capture cap;
	int64_t l, e1, e2, e3;
	char *log, line[300];

	(void)state;
	env_open(&v);
	deploy(&v, "return { name = \"scorer\", kind = \"rule\",\n"
		   "  trigger = { event = \"page.viewed\", where = { page = \"pricing\" } },\n"
		   "  run = function(lead, event)\n"
		   "    lead:tag(\"behaviour:visited_pricing\")\n"
		   "    lead:score(\"heat\", 5)\n"
		   "  end }\n");
	deploy(&v, "return { name = \"a_sleepy\", kind = \"rule\",\n"
		   "  trigger = { event = \"page.viewed\" },\n"
		   "  run = function(lead, event) sleep(\"1h\") end }\n");
	deploy(&v, "return { name = \"b_sender\", kind = \"rule\",\n"
		   "  trigger = { event = \"page.viewed\" },\n"
		   "  run = function(lead, event) send(\"email\", { subject = \"no\" }) end }\n");
	deploy(&v, "return { name = \"c_broken\", kind = \"rule\",\n"
		   "  trigger = { event = \"page.viewed\" },\n"
		   "  run = function(lead, event) error(\"boom\") end }\n");
	deploy(&v, "return { name = \"z_follow\",\n"
		   "  trigger = { event = \"page.viewed\" },\n"
		   "  run = function(lead, event) send(\"test\", { page = event.props.page }) end }\n");
	l = lead(&v, "r@example.com");

	capture_start(&v, &cap);
	e1 = event(&v, l, "page.viewed", "{\"page\":\"pricing\"}");
	pump(&v);
	v.t.now += MIN;
	e2 = event(&v, l, "page.viewed", "{\"page\":\"home\"}");
	v.t.now += MIN;
	e3 = event(&v, l, "page.viewed", "{\"page\":\"pricing\"}");
	pump(&v);
	log = capture_end(&cap);

	/* The scoring rule ran on the two matching events only. */
	assert_true(query_double(&v, "SELECT heat_score FROM lead WHERE id = ?", l) == 10.0);
	expect_text(&v, "SELECT source FROM tag WHERE lead_id = ? AND name = 'behaviour:visited_pricing'",
		    l, "rule:scorer");
	/* Rules never get runs, journals or sends; the bad ones are logged. */
	assert_int_equal(qint(&v, "SELECT count(*) FROM run WHERE flow <> 'z_follow'", -1), 0);
	assert_int_equal(qint(&v, "SELECT count(*) FROM journal WHERE run_id NOT IN"
			      " (SELECT id FROM run)", -1), 0);
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox WHERE channel = 'email'", -1), 0);
	assert_int_equal(qint(&v, "SELECT count(*) FROM wait", -1), 0);
	assert_int_equal(qint(&v, "SELECT count(*) FROM subscription", -1), 0);
	for (int i = 0; i < 3; i++) {
		int64_t ev = i == 0 ? e1 : i == 1 ? e2 : e3;
		snprintf(line, sizeof line, "rule a_sleepy: event %lld: rule 'a_sleepy' called sleep(): "
			 "rules run on each event and may not wait or send", (long long)ev);
		if (!strstr(log, line))
			fail_msg("log lacks '%s':\n%s", line, log);
		snprintf(line, sizeof line, "rule b_sender: event %lld: rule 'b_sender' called send(): "
			 "rules run on each event and may not wait or send", (long long)ev);
		if (!strstr(log, line))
			fail_msg("log lacks '%s':\n%s", line, log);
		snprintf(line, sizeof line, "rule c_broken: event %lld: ", (long long)ev);
		if (!strstr(log, line))
			fail_msg("log lacks '%s':\n%s", line, log);
	}
	assert_int_equal(count_of(log, "boom"), 3);
	free(log);
	/* The failing rules did not stop the event from triggering the flow
	 * (once: reentry is "never"). */
	assert_int_equal(qint(&v, "SELECT count(*) FROM run WHERE flow = 'z_follow'", -1), 1);
	expect_text(&v, "SELECT status FROM run WHERE flow = 'z_follow'", -1, "completed");
	assert_int_equal(qint(&v, "SELECT trigger_event_id FROM run WHERE flow = 'z_follow'", -1), e1);
	expect_text(&v, "SELECT state || ' ' || message FROM outbox", -1, "sent {\"page\":\"pricing\"}");
	env_close(&v);
}

/* ---- 6. on_late -------------------------------------------------------------- */

static const char late_body[] =
	"  trigger = { manual = true },\n"
	"  run = function(lead)\n"
	"    if sleep(\"1d\") then send(\"test\", { woke = true }) end\n"
	"  end }\n";

static void late_timers_skip_or_fire(void **state)
{
	struct env v;
	char src[600];
	int64_t a, b, c, skip, fire, ontime;

	(void)state;
	env_open(&v);
	snprintf(src, sizeof src, "return { name = \"late_skip\", on_late = \"skip\", late_after = \"1h\",\n%s",
		 late_body);
	deploy(&v, src);
	snprintf(src, sizeof src, "return { name = \"late_fire\",\n%s", late_body);
	deploy(&v, src);
	a = lead(&v, "a@example.com");
	b = lead(&v, "b@example.com");
	c = lead(&v, "c@example.com");
	skip = enroll(&v, "late_skip", a, NULL, 0);
	fire = enroll(&v, "late_fire", b, NULL, 0);
	pump(&v);
	assert_int_equal(qint(&v, "SELECT count(*) FROM wait WHERE due = ?", T0 + DAY), 2);

	v.t.now = T0 + 3 * DAY;     /* the daemon was down for two days */
	pump(&v);
	expect_status(&v, skip, "completed");
	expect_json(&v, "SELECT result FROM journal WHERE run_id = ? AND seq = 0", skip,
		    "{\"at\":1790259200000,\"late\":true,\"skip\":true}");
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox WHERE run_id = ?", skip), 0);
	assert_int_equal(qint(&v, "SELECT count(*) FROM journal WHERE run_id = ?", skip), 1);

	expect_status(&v, fire, "completed");
	expect_json(&v, "SELECT result FROM journal WHERE run_id = ? AND seq = 0", fire,
		    "{\"at\":1790259200000,\"late\":true,\"skip\":false}");
	expect_text(&v, "SELECT state || ' ' || message FROM outbox WHERE run_id = ?", fire,
		    "sent {\"woke\":true}");
	assert_int_equal(qint(&v, "SELECT created_at FROM outbox WHERE run_id = ?", fire), T0 + 3 * DAY);

	/* Within late_after the timer is on time even for a skipping flow. */
	ontime = enroll(&v, "late_skip", c, NULL, 0);
	pump(&v);
	v.t.now = T0 + 4 * DAY + 30 * MIN;
	pump(&v);
	expect_status(&v, ontime, "completed");
	expect_text(&v, "SELECT json_extract(result, '$.late') || json_extract(result, '$.skip')"
		    " FROM journal WHERE run_id = ? AND seq = 0", ontime, "00");
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox WHERE run_id = ?", ontime), 1);
	env_close(&v);
}

/* ---- 7. goal while waiting ------------------------------------------------------ */

/* A channel that defers every send by an hour: the provider said "retry
 * later", so the outbox row is pending again, not yet delivered. */
struct later_channel {
	int calls;
	int64_t op_id;
};

static int later_send(void *state, int64_t op_id, int64_t lead_id, const json_t *message,
		      nu_engine *eng)
{
	struct later_channel *ch = state;
	nu_store *s = nu_engine_store(eng);
	sqlite3_stmt *st;
	nu_error err;
	int rc;

	(void)lead_id;
	(void)message;
	ch->calls++;
	ch->op_id = op_id;
	if ((rc = nu_engine_send_complete(eng, op_id, "retry", NULL, NULL, &err)) < 0)
		return rc;
	if (sqlite3_prepare_v2(nu_store_db(s), "UPDATE outbox SET next_try = ? WHERE op_id = ?", -1,
			       &st, NULL) != SQLITE_OK)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, nu_store_now(s) + HOUR);
	sqlite3_bind_int64(st, 2, op_id);
	rc = sqlite3_step(st) == SQLITE_DONE ? NU_OK : NU_EDB;
	sqlite3_finalize(st);
	return rc;
}

static void goal_ends_waiting_runs(void **state)
{
	struct env v;
	struct later_channel later = { 0 };
	nu_channel ch = { "later", later_send, &later, 0, NULL };
	nu_error err;
	char why[200];
	int64_t l, rw, rs, other;

	(void)state;
	env_open(&v);
	assert_int_equal(nu_engine_add_channel(v.e, &ch, &err), NU_OK);
	deploy(&v, "return { name = \"goal_wait\", trigger = { manual = true }, goal = { stage = \"SQL\" },\n"
		   "  run = function(lead)\n"
		   "    wait_event(\"demo.requested\", { within = \"7d\" })\n"
		   "    send(\"test\", { after = \"wait\" })\n"
		   "  end }\n");
	deploy(&v, "return { name = \"goal_send\", trigger = { manual = true }, goal = { stage = \"SQL\" },\n"
		   "  run = function(lead)\n"
		   "    send(\"later\", { subject = \"hi\" })\n"
		   "    send(\"test\", { after = \"send\" })\n"
		   "  end }\n");
	deploy(&v, "return { name = \"no_goal\", trigger = { manual = true },\n"
		   "  run = function(lead) sleep(\"2d\") end }\n");
	l = lead(&v, "g@example.com");
	rw = enroll(&v, "goal_wait", l, NULL, 0);
	rs = enroll(&v, "goal_send", l, NULL, 0);
	other = enroll(&v, "no_goal", l, NULL, 0);
	pump(&v);
	expect_status(&v, rw, "waiting");
	expect_status(&v, rs, "waiting");
	assert_int_equal(qint(&v, "SELECT count(*) FROM subscription WHERE run_id = ?", rw), 1);
	assert_int_equal(qint(&v, "SELECT due FROM wait WHERE run_id = ?", rw), T0 + 7 * DAY);
	assert_int_equal(later.calls, 1);
	expect_text(&v, "SELECT state FROM outbox WHERE run_id = ?", rs, "pending");
	assert_int_equal(qint(&v, "SELECT next_try FROM outbox WHERE run_id = ?", rs), T0 + HOUR);

	v.t.now = T0 + 10 * MIN;
	assert_int_equal(nu_store_begin(v.t.s, &err), NU_OK);
	assert_int_equal(nu_stage_set(v.t.s, l, "SQL", "sales call", "test", NULL, &err), NU_OK);
	assert_int_equal(nu_store_commit(v.t.s, &err), NU_OK);
	pump(&v);

	expect_status(&v, rw, "goal");
	expect_status(&v, rs, "goal");
	assert_int_equal(qint(&v, "SELECT ended_at FROM run WHERE id = ?", rw), T0 + 10 * MIN);
	assert_int_equal(qint(&v, "SELECT count(*) FROM subscription WHERE run_id = ?", rw), 0);
	assert_int_equal(qint(&v, "SELECT count(*) FROM wait WHERE run_id = ?", rw), 0);
	assert_int_equal(qint(&v, "SELECT count(*) FROM wait WHERE run_id = ?", rs), 0);
	expect_text(&v, "SELECT state FROM outbox WHERE run_id = ?", rs, "cancelled");
	/* A lead at the goal is not enrolled again. */
	assert_int_equal(enroll(&v, "goal_wait", l, why, sizeof why), 0);
	assert_string_equal(why, "the lead already reached the goal of goal_wait");
	/* A flow without that goal goes on. */
	expect_status(&v, other, "waiting");
	assert_int_equal(qint(&v, "SELECT due FROM wait WHERE run_id = ?", other), T0 + 2 * DAY);

	/* Nothing brings the ended runs back or sends for them. */
	event(&v, l, "demo.requested", NULL);
	v.t.now = T0 + 8 * DAY;
	pump(&v);
	assert_int_equal(later.calls, 1);
	expect_status(&v, rw, "goal");
	expect_status(&v, rs, "goal");
	expect_status(&v, other, "completed");
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox", -1), 1);
	expect_text(&v, "SELECT state FROM outbox WHERE run_id = ?", rs, "cancelled");
	env_close(&v);
}

/* A channel that starts sends and never finishes them (the crash comes
 * first); it records which try each call was. */
struct hanging_channel {
	int calls, last_attempt;
};

static int hanging_send(void *state, int64_t op_id, int64_t lead_id, const json_t *message,
			nu_engine *eng)
{
	struct hanging_channel *ch = state;

	(void)lead_id;
	(void)message;
	ch->calls++;
	ch->last_attempt = nu_engine_send_attempt(eng, op_id);
	return NU_OK;
}

/* After a crash, a send in flight on an idempotent channel goes again as
 * try 2; on any other channel it is recorded unknown and never repeated. */
static void crash_recovery_resends_only_idempotent(void **state)
{
	struct env v;
	struct hanging_channel plain = { 0 }, idem = { 0 };
	nu_channel chp = { "plain", hanging_send, &plain, 0, NULL },
		   chi = { "idem", hanging_send, &idem, 1, NULL };
	nu_error err;
	int64_t l, rp, ri;

	(void)state;
	env_open(&v);
	assert_int_equal(nu_engine_add_channel(v.e, &chp, &err), NU_OK);
	assert_int_equal(nu_engine_add_channel(v.e, &chi, &err), NU_OK);
	deploy(&v, "return { name = \"p\", trigger = { manual = true },\n"
		   "  run = function(lead) send(\"plain\", { n = 1 }) end }\n");
	deploy(&v, "return { name = \"i\", trigger = { manual = true },\n"
		   "  run = function(lead) send(\"idem\", { n = 1 }) end }\n");
	l = lead(&v, "crash@example.com");
	rp = enroll(&v, "p", l, NULL, 0);
	ri = enroll(&v, "i", l, NULL, 0);
	pump(&v);
	assert_int_equal(plain.calls, 1);
	assert_int_equal(idem.calls, 1);
	assert_int_equal(idem.last_attempt, 1);
	expect_text(&v, "SELECT state FROM outbox WHERE run_id = ?", ri, "sending");

	/* The daemon dies; a new one opens the same store and recovers. */
	nu_engine_close(v.e);
	assert_int_equal(nu_engine_open(v.t.s, &v.e, &err), NU_OK);
	assert_int_equal(nu_engine_add_channel(v.e, &chp, &err), NU_OK);
	assert_int_equal(nu_engine_add_channel(v.e, &chi, &err), NU_OK);
	assert_int_equal(nu_engine_recover(v.e, &err), NU_OK);
	expect_text(&v, "SELECT state FROM outbox WHERE run_id = ?", rp, "unknown");
	expect_text(&v, "SELECT state FROM outbox WHERE run_id = ?", ri, "pending");
	pump(&v);
	assert_int_equal(plain.calls, 1);   /* never repeated */
	assert_int_equal(idem.calls, 2);
	assert_int_equal(idem.last_attempt, 2);
	expect_status(&v, rp, "completed");
	expect_status(&v, ri, "waiting");
	env_close(&v);
}

/* ---- 8. reentry and exclusion -------------------------------------------------- */

static void reentry_and_exclusion(void **state)
{
	struct env v;
	char why[200];
	int64_t l, r1, r2;

	(void)state;
	env_open(&v);
	deploy(&v, "return { name = \"once\", trigger = { manual = true }, reentry = \"never\",\n"
		   "  run = function(lead) log(\"once\") end }\n");
	deploy(&v, "return { name = \"default_once\", trigger = { manual = true },\n"
		   "  run = function(lead) log(\"default\") end }\n");
	deploy(&v, "return { name = \"every2d\", trigger = { manual = true }, reentry = \"2d\",\n"
		   "  run = function(lead) log(\"again\") end }\n");
	deploy(&v, "return { name = \"ex_a\", trigger = { manual = true }, exclusion = \"nurture\",\n"
		   "  run = function(lead) sleep(\"1d\") end }\n");
	deploy(&v, "return { name = \"ex_b\", trigger = { manual = true }, exclusion = \"nurture\",\n"
		   "  run = function(lead) log(\"b\") end }\n");
	l = lead(&v, "x@example.com");

	/* never */
	assert_true((r1 = enroll(&v, "once", l, why, sizeof why)) > 0);
	pump(&v);
	expect_status(&v, r1, "completed");
	assert_int_equal(enroll(&v, "once", l, why, sizeof why), 0);
	assert_string_equal(why, "reentry never: lead was in once before");
	assert_true(enroll(&v, "default_once", l, why, sizeof why) > 0);
	pump(&v);
	assert_int_equal(enroll(&v, "default_once", l, why, sizeof why), 0);
	assert_string_equal(why, "reentry never: lead was in default_once before");

	/* a duration */
	assert_true((r1 = enroll(&v, "every2d", l, why, sizeof why)) > 0);
	pump(&v);
	expect_status(&v, r1, "completed");
	v.t.now = T0 + 2 * DAY - 1;
	assert_int_equal(enroll(&v, "every2d", l, why, sizeof why), 0);
	assert_string_equal(why, "reentry 2d: last run started too recently");
	v.t.now = T0 + 2 * DAY;
	assert_true((r2 = enroll(&v, "every2d", l, why, sizeof why)) > r1);
	pump(&v);
	expect_status(&v, r2, "completed");

	/* exclusion: one waiting run per group */
	assert_true((r1 = enroll(&v, "ex_a", l, why, sizeof why)) > 0);
	pump(&v);
	expect_status(&v, r1, "waiting");
	assert_int_equal(enroll(&v, "ex_a", l, why, sizeof why), 0);
	assert_string_equal(why, "already in flow ex_a");
	assert_int_equal(enroll(&v, "ex_b", l, why, sizeof why), 0);
	assert_string_equal(why, "exclusion group nurture: already in ex_a");
	assert_int_equal(qint(&v, "SELECT count(*) FROM run WHERE flow = 'ex_b'", -1), 0);
	v.t.now += DAY;
	pump(&v);
	expect_status(&v, r1, "completed");
	assert_true((r2 = enroll(&v, "ex_b", l, why, sizeof why)) > 0);
	pump(&v);
	expect_status(&v, r2, "completed");
	env_close(&v);
}

/* ---- 9. merges move runs --------------------------------------------------------- */

static void merge_moves_waiting_runs(void **state)
{
	struct env v;
	nu_error err;
	int64_t survivor, merged, run;
	char msg[100];

	(void)state;
	env_open(&v);
	deploy(&v, "return { name = \"await_demo\", trigger = { manual = true },\n"
		   "  run = function(lead)\n"
		   "    local ev = wait_event(\"demo.requested\", { where = { product = \"crm\" } })\n"
		   "    send(\"test\", { got = ev.type, by = lead.id })\n"
		   "  end }\n");
	survivor = lead(&v, "s@example.com");
	merged = lead(&v, "m@example.com");
	run = enroll(&v, "await_demo", merged, NULL, 0);
	pump(&v);
	assert_int_equal(qint(&v, "SELECT lead_id FROM subscription WHERE run_id = ?", run), merged);

	assert_int_equal(nu_store_begin(v.t.s, &err), NU_OK);
	if (nu_lead_merge(v.t.s, survivor, merged, "same person", &err) != NU_OK)
		fail_msg("merge: %s", err.msg);
	assert_int_equal(nu_store_commit(v.t.s, &err), NU_OK);
	pump(&v);
	assert_int_equal(qint(&v, "SELECT lead_id FROM run WHERE id = ?", run), survivor);
	assert_int_equal(qint(&v, "SELECT lead_id FROM subscription WHERE run_id = ?", run), survivor);
	expect_status(&v, run, "waiting");

	/* An event that does not match the where leaves it waiting. */
	event(&v, survivor, "demo.requested", "{\"product\":\"erp\"}");
	pump(&v);
	expect_status(&v, run, "waiting");

	v.t.now += MIN;
	event(&v, survivor, "demo.requested", "{\"product\":\"crm\"}");
	pump(&v);
	expect_status(&v, run, "completed");
	assert_int_equal(qint(&v, "SELECT lead_id FROM outbox WHERE run_id = ?", run), survivor);
	snprintf(msg, sizeof msg, "{\"by\":%lld,\"got\":\"demo.requested\"}", (long long)survivor);
	expect_json(&v, "SELECT message FROM outbox WHERE run_id = ?", run, msg);
	assert_int_equal(qint(&v, "SELECT count(*) FROM subscription", -1), 0);
	env_close(&v);
}

/* ---- 10. unknown channel -------------------------------------------------------- */

static void unknown_channel_fails_the_send_not_the_run(void **state)
{
	struct env v;
	int64_t l, run;

	(void)state;
	env_open(&v);
	deploy(&v, "return { name = \"faxer\", trigger = { manual = true },\n"
		   "  run = function(lead)\n"
		   "    local ok, info = send(\"fax\", { page = 1 })\n"
		   "    send(\"test\", { ok = ok, status = info.status, error = info.error })\n"
		   "  end }\n");
	l = lead(&v, "f@example.com");
	run = enroll(&v, "faxer", l, NULL, 0);
	pump(&v);
	expect_status(&v, run, "completed");
	expect_json(&v, "SELECT result FROM journal WHERE run_id = ? AND seq = 0", run,
		    "{\"error\":\"no such channel\",\"status\":\"failed\"}");
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox WHERE channel = 'fax'", -1), 0);
	expect_json(&v, "SELECT message FROM outbox WHERE run_id = ?", run,
		    "{\"error\":\"no such channel\",\"ok\":false,\"status\":\"failed\"}");
	env_close(&v);
}

/* ---- 10b. a pump with a time budget ------------------------------------------------ */

/* nu_engine_pump_for stops at a transaction boundary once its budget is
 * spent and says work is left; every call makes progress; nothing is
 * skipped or done twice across the cut. */
static void pump_budget_cuts_and_resumes(void **state)
{
	struct env v;
	nu_error err;
	int did, more, calls = 0, total = 0;
	int64_t l, leads[350];

	(void)state;
	env_open(&v);
	deploy(&v, "return { name = \"greeter\", trigger = { event = \"signed.up\" },\n"
		   "  run = function(lead, event) send(\"test\", { n = event.n }) end }\n");
	for (int i = 0; i < 350; i++) {
		char props[32], email[48];
		snprintf(props, sizeof props, "{\"n\": %d}", i);
		snprintf(email, sizeof email, "budget%d@example.com", i);
		l = lead(&v, email);
		if (i < 300)
			event(&v, l, "signed.up", props);
		leads[i] = l;
	}
	/* A budget of 1 us: each call does one unit of work, then yields. */
	do {
		if (nu_engine_pump_for(v.e, 1, &did, &more, &err) != NU_OK)
			fail_msg("pump_for: %s", err.msg);
		assert_true(did > 0 || !more);
		total += did;
		calls++;
	} while (more && calls < 5000);
	assert_false(more);
	assert_true(calls > 10);
	assert_true(total >= 300);
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox", -1), 300);
	assert_int_equal(qint(&v, "SELECT count(DISTINCT json_extract(message, '$.n')) FROM outbox", -1), 300);
	assert_int_equal(qint(&v, "SELECT count(*) FROM run WHERE status = 'completed'", -1), 300);
	/* Unlimited, it all happens in one call. */
	for (int i = 300; i < 350; i++)
		event(&v, leads[i], "signed.up", "{\"n\": 1000}");
	assert_int_equal(nu_engine_pump_for(v.e, 0, &did, &more, &err), NU_OK);
	assert_false(more);
	assert_int_equal(qint(&v, "SELECT count(*) FROM outbox", -1), 350);
	env_close(&v);
}

/* ---- 11. split{} on replay -------------------------------------------------------- */

static void split_arm_is_replayed(void **state)
{
	struct env v;
	int64_t runs[6];
	char email[40], *drawn;

	(void)state;
	env_open(&v);
	deploy(&v, "return { name = \"ab\", trigger = { manual = true },\n"
		   "  run = function(lead)\n"
		   "    local arm = split{ A = 50, B = 50 }\n"
		   "    sleep(\"1h\")\n"
		   "    send(\"test\", { arm = arm })\n"
		   "  end }\n");
	for (int i = 0; i < 6; i++) {
		snprintf(email, sizeof email, "ab%d@example.com", i);
		runs[i] = enroll(&v, "ab", lead(&v, email), NULL, 0);
	}
	pump(&v);
	for (int i = 0; i < 6; i++)
		expect_text(&v, "SELECT request FROM journal WHERE run_id = ? AND seq = 0", runs[i],
			    "{\"A\":50,\"B\":50}");
	/* The last run's arm is flipped in its journal: replay must follow the
	 * journal, not draw again. */
	drawn = query_text(&v, "SELECT json_extract(result, '$.v') FROM journal WHERE run_id = ?"
			   " AND seq = 0", runs[5]);
	assert_non_null(drawn);
	sql(&v, "UPDATE journal SET result = CASE json_extract(result, '$.v')"
		" WHEN 'A' THEN '{\"v\":\"B\"}' ELSE '{\"v\":\"A\"}' END"
		" WHERE seq = 0 AND run_id = (SELECT max(id) FROM run)");
	v.t.now = T0 + HOUR;
	pump(&v);
	for (int i = 0; i < 6; i++) {
		expect_status(&v, runs[i], "completed");
		assert_int_equal(qint(&v, "SELECT count(*) FROM outbox o JOIN journal j"
				      " ON j.run_id = o.run_id AND j.seq = 0"
				      " WHERE o.run_id = ? AND json_extract(o.message, '$.arm') ="
				      " json_extract(j.result, '$.v')", runs[i]), 1);
	}
	expect_text(&v, "SELECT json_extract(message, '$.arm') FROM outbox WHERE run_id = ?", runs[5],
		    strcmp(drawn, "A") ? "A" : "B");
	free(drawn);
	env_close(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(journal_mismatch_fails_the_run),
		cmocka_unit_test(replay_answers_from_the_journal),
		cmocka_unit_test(budgets_fail_only_their_own_run),
		cmocka_unit_test(sandbox_refuses_unsafe_things),
		cmocka_unit_test(steps_share_nothing),
		cmocka_unit_test(kept_runs_continue_where_they_stopped),
		cmocka_unit_test(kept_runs_go_with_a_rolled_back_transaction),
		cmocka_unit_test(rules_tag_score_and_bad_rules_are_skipped),
		cmocka_unit_test(late_timers_skip_or_fire),
		cmocka_unit_test(goal_ends_waiting_runs),
		cmocka_unit_test(crash_recovery_resends_only_idempotent),
		cmocka_unit_test(reentry_and_exclusion),
		cmocka_unit_test(merge_moves_waiting_runs),
		cmocka_unit_test(unknown_channel_fails_the_send_not_the_run),
		cmocka_unit_test(split_arm_is_replayed),
		cmocka_unit_test(pump_budget_cuts_and_resumes),
	};

	nu_log_set_level(NU_LOG_WARN);
	return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
