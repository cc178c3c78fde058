/*
 * test_policies.c — sending policies checked with each send intent
 * (suppression, frequency caps, quiet hours) and retries with backoff
 * ending in a dead letter.
 */
#include <jansson.h>
#include "engine.h"
#include "flows.h"
#include "leads.h"
#include "timefmt.h"
#include "testutil.h"

/* A channel whose answers the test scripts: "sent" or "retry". */
struct script {
	const char *answer;
	int calls;
};

static int scripted_send(void *state, int64_t op_id, int64_t lead_id, const json_t *message,
			 nu_engine *eng)
{
	struct script *s = state;
	nu_error err;

	(void)lead_id;
	(void)message;
	s->calls++;
	return nu_engine_send_complete(eng, op_id, s->answer, NULL,
				       strcmp(s->answer, "sent") ? "provider busy" : NULL, &err);
}

struct env {
	struct test_db t;
	nu_engine *e;
	struct script script;
	nu_channel ch;
};

static void env_open(struct env *v, const nu_send_policy *p, const char *flow_src)
{
	char path[200];
	nu_flow f;
	nu_error err;
	int created;
	FILE *fp;

	test_db_open(&v->t);
	v->script = (struct script){ "sent", 0 };
	v->ch = (nu_channel){ "email", scripted_send, &v->script, 0, NULL };
	snprintf(path, sizeof path, "%s/flow.lua", v->t.dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs(flow_src, fp);
	fclose(fp);
	if (nu_flow_load_file(path, NULL, &f, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(nu_store_begin(v->t.s, &err), NU_OK);
	assert_int_equal(nu_flow_deploy(v->t.s, &f, &created, &err), NU_OK);
	assert_int_equal(nu_store_commit(v->t.s, &err), NU_OK);
	nu_flow_clear(&f);
	assert_int_equal(nu_engine_open(v->t.s, &v->e, &err), NU_OK);
	nu_engine_set_policy(v->e, p);
	assert_int_equal(nu_engine_add_channel(v->e, &v->ch, &err), NU_OK);
}

static int64_t enroll(struct env *v, const char *email, const char *tz)
{
	int64_t lead = test_lead(&v->t, NU_ID_EMAIL, email), run;
	json_t *attrs = json_pack("{s:s,s:s}", "email", email, "timezone", tz);
	char why[200];
	nu_error err;
	int did;

	assert_int_equal(nu_store_begin(v->t.s, &err), NU_OK);
	assert_int_equal(nu_lead_update(v->t.s, lead, attrs, 0, "t", NULL, &err), NU_OK);
	assert_int_equal(nu_engine_enroll(v->e, "sender", lead, 0, &run, why, sizeof why, &err), NU_OK);
	assert_int_equal(nu_store_commit(v->t.s, &err), NU_OK);
	json_decref(attrs);
	assert_int_equal(nu_engine_pump(v->e, &did, &err), NU_OK);
	return run;
}

static void env_close(struct env *v)
{
	nu_engine_close(v->e);
	test_db_close(&v->t);
}

static const char three_sends[] =
	"return { name = 'sender', trigger = { manual = true }, run = function(lead)\n"
	"  for i = 1, 3 do\n"
	"    local ok, info = send('email', { n = i })\n"
	"    lead:tag('r' .. i .. ':' .. info.status)\n"
	"  end\n"
	"end }\n";

static void suppression_and_caps(void **state)
{
	nu_send_policy p = { .cap_max = 2, .cap_window_ms = 7 * 86400000LL };
	struct env v;
	nu_error err;
	int64_t run;

	(void)state;
	env_open(&v, &p, three_sends);
	/* capped: the third send within the week is refused and the flow told */
	run = enroll(&v, "a@x.cn", "UTC");
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'sent'", run), 2);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'capped'"
					" AND error LIKE 'frequency cap: 2 email sends per 1w%'", run), 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM tag WHERE name = 'r3:capped'", -1), 1);
	assert_int_equal(v.script.calls, 2);
	/* suppressed: nothing leaves, every send says so */
	assert_int_equal(nu_store_exec(v.t.s, "INSERT INTO suppression VALUES ('email', 'b@x.cn',"
				       " 'unsubscribed', 'test', 0)", &err), NU_OK);
	run = enroll(&v, "b@x.cn", "UTC");
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'suppressed'"
					" AND error = 'suppressed: unsubscribed (email b@x.cn)'", run), 3);
	assert_int_equal(v.script.calls, 2);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM run WHERE id = ? AND status = 'completed'", run), 1);
	env_close(&v);
}

static const char one_send[] =
	"return { name = 'sender', trigger = { manual = true }, run = function(lead)\n"
	"  local ok, info = send('email', { n = 1 })\n"
	"  lead:tag('done:' .. info.status)\n"
	"end }\n";

static void quiet_hours_hold_until_morning(void **state)
{
	nu_send_policy p = { .quiet_from = 21, .quiet_to = 8 };
	struct env v;
	int64_t run, held, due;
	nu_error err;
	int did;

	(void)state;
	env_open(&v, &p, one_send);
	/* 2026-03-02 22:30 in Shanghai (14:30 UTC): quiet */
	nu_time_parse("2026-03-02T22:30:00+08:00", &v.t.now, NULL, 0);
	run = enroll(&v, "q@x.cn", "Asia/Shanghai");
	held = test_query_int(&v.t, "SELECT next_try FROM outbox WHERE run_id = ? AND state = 'pending'"
			      " AND error LIKE 'held: quiet hours (21:00-08:00 Asia/Shanghai)'", run);
	int64_t morning;
	nu_time_parse("2026-03-03T08:00:00+08:00", &morning, NULL, 0);
	assert_int_equal(held, morning);
	assert_int_equal(v.script.calls, 0);
	/* the engine's next wake-up is the held send */
	assert_int_equal(nu_engine_next_due(v.e, &due, &err), NU_OK);
	assert_int_equal(due, morning);
	v.t.now = morning;
	assert_int_equal(nu_engine_pump(v.e, &did, &err), NU_OK);
	assert_int_equal(v.script.calls, 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'sent'"
					" AND error IS NULL", run), 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM tag WHERE name = 'done:sent'", -1), 1);
	/* daytime: no hold */
	v.t.now = morning + 3600000;
	run = enroll(&v, "d@x.cn", "Asia/Shanghai");
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'sent'", run), 1);
	env_close(&v);
}

static void retries_back_off_then_dead_letter(void **state)
{
	nu_send_policy p = { .retry_max_attempts = 3, .retry_base_ms = 60000, .retry_max_ms = 3600000 };
	struct env v;
	int64_t run, first, second, start;
	nu_error err;
	int did;

	(void)state;
	env_open(&v, &p, one_send);
	v.script.answer = "retry";
	start = v.t.now;
	run = enroll(&v, "r@x.cn", "UTC");
	assert_int_equal(v.script.calls, 1);
	first = test_query_int(&v.t, "SELECT next_try FROM outbox WHERE run_id = ? AND state = 'pending'", run);
	/* 60 s ± 20 % */
	assert_true(first - start >= 48000 && first - start <= 72000);
	v.t.now = first;
	assert_int_equal(nu_engine_pump(v.e, &did, &err), NU_OK);
	assert_int_equal(v.script.calls, 2);
	second = test_query_int(&v.t, "SELECT next_try FROM outbox WHERE run_id = ? AND state = 'pending'", run);
	/* doubled: 120 s ± 20 % */
	assert_true(second - first >= 96000 && second - first <= 144000);
	v.t.now = second;
	assert_int_equal(nu_engine_pump(v.e, &did, &err), NU_OK);
	assert_int_equal(v.script.calls, 3);
	/* third try failed too: dead letter, the run is told it failed */
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'dead'"
					" AND attempts = 3 AND error LIKE 'gave up after 3 attempts: provider busy'", run), 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM tag WHERE name = 'done:failed'", -1), 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM run WHERE id = ? AND status = 'completed'", run), 1);
	env_close(&v);
}

static void provider_quota_paces_dispatch(void **state)
{
	nu_send_policy p = { .nrates = 1 };
	struct env v;
	nu_error err;
	int did;

	(void)state;
	snprintf(p.rates[0].channel, sizeof p.rates[0].channel, "email");
	p.rates[0].per_second = 2;
	env_open(&v, &p, one_send);
	v.t.now = v.t.now / 1000 * 1000;   /* start at a second boundary */
	for (int i = 0; i < 5; i++) {
		char email[32];
		snprintf(email, sizeof email, "l%d@x.cn", i);
		enroll(&v, email, "UTC");
	}
	/* 2 a second: the rest wait for the next second, not dropped */
	assert_int_equal(v.script.calls, 2);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE state = 'pending'"
					" AND next_try = ?", v.t.now + 1000), 3);
	v.t.now += 1000;
	assert_int_equal(nu_engine_pump(v.e, &did, &err), NU_OK);
	assert_int_equal(v.script.calls, 4);
	v.t.now += 1000;
	assert_int_equal(nu_engine_pump(v.e, &did, &err), NU_OK);
	assert_int_equal(v.script.calls, 5);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE state = 'sent'", -1), 5);
	env_close(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(suppression_and_caps),
		cmocka_unit_test(quiet_hours_hold_until_morning),
		cmocka_unit_test(retries_back_off_then_dead_letter),
		cmocka_unit_test(provider_quota_paces_dispatch),
	};
	return cmocka_run_group_tests_name("policies", tests, NULL, NULL);
}
