/*
 * test_plugins.c — the plugin loader through real shared objects: the mock
 * channel end to end through a flow, each way a plugin is refused, and the
 * email channel's check at deploy time and as a send intent is recorded.
 */
#include <sys/stat.h>
#include <jansson.h>
#include "engine.h"
#include "flow_check.h"
#include "flows.h"
#include "plugins.h"
#include "testutil.h"

struct env {
	struct test_db t;
	nu_engine *e;
	nu_plugins *r;
	json_t *config;
};

static void env_open(struct env *v)
{
	nu_error err;

	test_db_open(&v->t);
	v->config = json_pack("{s:{s:s}}", "mock", "default_outcome", "ok");
	if (nu_engine_open(v->t.s, &v->e, &err) < 0 || nu_plugins_open(v->e, v->config, &v->r, &err) < 0)
		fail_msg("%s", err.msg);
}

static void env_close(struct env *v)
{
	nu_plugins_close(v->r);
	nu_engine_close(v->e);
	json_decref(v->config);
	test_db_close(&v->t);
}

static void refused(struct env *v, const char *file, const char *why)
{
	char path[512];
	nu_error err;

	snprintf(path, sizeof path, "%s/%s", TEST_PLUGIN_DIR, file);
	assert_int_equal(nu_plugins_load_file(v->r, path, &err), NU_EINVAL);
	if (!strstr(err.msg, file) || !strstr(err.msg, why))
		fail_msg("'%s' lacks '%s' or the file name", err.msg, why);
}

static void bad_plugins_are_refused_with_reasons(void **state)
{
	struct env v;
	json_t *list;

	(void)state;
	env_open(&v);
	refused(&v, "bad-abi_major.so", "built for plugin ABI 99.0, this nurture speaks 2.0");
	refused(&v, "bad-abi_v1.so", "built for plugin ABI 1.1 (a descriptor without struct_size)");
	refused(&v, "bad-small_desc.so", "its descriptor is too small: struct_size");
	refused(&v, "bad-no_entry.so", "no nurture_plugin_entry symbol");
	refused(&v, "bad-null_desc.so", "returned no usable descriptor");
	refused(&v, "bad-load_fails.so", "load failed: refused on purpose");
	/* The failing plugin's channel did not stay registered. */
	list = nu_plugins_describe(v.r);
	assert_int_equal(json_array_size(list), 6);
	for (size_t i = 0; i < 6; i++) {
		assert_string_equal(json_string_value(json_object_get(json_array_get(list, i), "status")),
				    "refused");
		assert_int_equal(json_array_size(json_object_get(json_array_get(list, i), "channels")), 0);
	}
	json_decref(list);
	env_close(&v);
}

static void writable_plugin_is_refused(void **state)
{
	struct env v;
	char src[512], dst[256], cmd[1024];
	nu_error err;

	(void)state;
	env_open(&v);
	snprintf(src, sizeof src, "%s/nurture-mock.so", PLUGIN_DIR);
	snprintf(dst, sizeof dst, "%s/copy.so", v.t.dir);
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(chmod(dst, 0666), 0);
	assert_int_equal(nu_plugins_load_file(v.r, dst, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "group- or world-writable"));
	assert_int_equal(chmod(dst, 0755), 0);
	assert_int_equal(nu_plugins_load_file(v.r, dst, &err), NU_OK);
	/* The same plugin twice is refused by name. */
	assert_int_equal(nu_plugins_load_file(v.r, src, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "already loaded"));
	env_close(&v);
}

static void load_flow(struct env *v, const char *name, const char *src, nu_flow *f)
{
	char path[256];
	nu_error err;
	FILE *out;

	snprintf(path, sizeof path, "%s/%s.lua", v->t.dir, name);
	assert_non_null(out = fopen(path, "w"));
	fputs(src, out);
	fclose(out);
	if (nu_flow_load_file(path, NULL, f, &err) < 0)
		fail_msg("%s", err.msg);
}

/* Writes, loads and deploys a flow, and has the engine pick it up. */
static void deploy_flow(struct env *v, const char *name, const char *src)
{
	nu_flow f;
	nu_error err;
	int created;

	load_flow(v, name, src, &f);
	assert_int_equal(nu_store_begin(v->t.s, &err), NU_OK);
	assert_int_equal(nu_flow_deploy(v->t.s, &f, &created, &err), NU_OK);
	assert_int_equal(nu_store_commit(v->t.s, &err), NU_OK);
	nu_flow_clear(&f);
	assert_int_equal(nu_engine_reload(v->e, &err), NU_OK);
}

/* A new lead enrolled in `flow` by hand, then one pump. Returns the run. */
static int64_t enroll_and_pump(struct env *v, const char *flow, const char *email, int64_t *lead)
{
	char why[200];
	int64_t run;
	int did;
	nu_error err;

	*lead = test_lead(&v->t, NU_ID_EMAIL, email);
	assert_int_equal(nu_store_begin(v->t.s, &err), NU_OK);
	assert_int_equal(nu_engine_enroll(v->e, flow, *lead, 0, &run, why, sizeof why, &err), NU_OK);
	assert_int_equal(nu_store_commit(v->t.s, &err), NU_OK);
	assert_int_equal(nu_engine_pump(v->e, &did, &err), NU_OK);
	return run;
}

static void mock_channel_carries_a_flow(void **state)
{
	struct env v;
	char path[256];
	int64_t lead, run;
	nu_error err;
	json_t *list;

	(void)state;
	env_open(&v);
	snprintf(path, sizeof path, "%s/nurture-mock.so", PLUGIN_DIR);
	assert_int_equal(nu_plugins_load_file(v.r, path, &err), NU_OK);
	deploy_flow(&v, "via_mock", "return { name = 'via_mock', trigger = { manual = true },\n"
		    "  run = function(lead)\n"
		    "    local ok, info = send('mock', { template = 'a' })\n"
		    "    if ok then lead:tag('mock:sent') end\n"
		    "    local ok2, info2 = send('mock', { template = 'b', mock_outcome = 'perm' })\n"
		    "    if not ok2 then lead:tag('mock:failed') end\n"
		    "  end }\n");
	run = enroll_and_pump(&v, "via_mock", "m@x.cn", &lead);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM run WHERE id = ? AND status = 'completed'",
					run), 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'sent'"
					" AND provider_id LIKE 'mock-%-m@x.cn'", run), 1);
	/* the receipt came back as an event of the lead, once */
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM event WHERE lead_id = ? AND type = 'mock.delivered'"
					" AND source = 'plugin:mock' AND dedupe_key LIKE 'nu:mock:mock-delivered-%'", lead), 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'failed'"
					" AND error LIKE '%told to fail%'", run), 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM tag WHERE lead_id = ?"
					" AND name IN ('mock:sent', 'mock:failed')", lead), 2);
	list = nu_plugins_describe(v.r);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")), "mock");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(list, 0), "channels") ?
		json_array_get(json_object_get(json_array_get(list, 0), "channels"), 0) : NULL, "health")), "ok");
	json_decref(list);
	env_close(&v);
}

/* The channel learns which try a send is: a temporary failure, then the
 * retry (after the backoff) is the second try, and the provider got that. */
static void retry_is_the_second_attempt(void **state)
{
	struct env v;
	char path[256];
	int did;
	int64_t lead, run;
	nu_error err;

	(void)state;
	env_open(&v);
	snprintf(path, sizeof path, "%s/nurture-mock.so", PLUGIN_DIR);
	assert_int_equal(nu_plugins_load_file(v.r, path, &err), NU_OK);
	deploy_flow(&v, "hiccup", "return { name = 'hiccup', trigger = { manual = true },\n"
		    "  run = function(lead) send('mock', { template = 'a', mock_outcome = 'temp_once' }) end }\n");
	run = enroll_and_pump(&v, "hiccup", "r@x.cn", &lead);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'pending'"
					" AND attempts = 1", run), 1);
	v.t.now += 3600000;   /* past the backoff */
	assert_int_equal(nu_engine_pump(v.e, &did, &err), NU_OK);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'sent'"
					" AND attempts = 2", run), 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM event WHERE lead_id = ? AND type = 'mock.delivered'"
					" AND json_extract(props, '$.attempt') = 2", lead), 1);
	env_close(&v);
}

/* A templates folder and a config for the email plugin (it never sends here). */
static json_t *email_config(const char *dir)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/offer.tmpl", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("Subject: {{topic}} for {{lead.company|your team}}\n\n<p>{{topic}}</p>\n", f);
	fclose(f);
	return json_pack("{s:{s:s,s:s,s:s,s:s}}", "email", "smtp_url", "smtp://127.0.0.1:9", "from",
			 "a@n.test", "templates", dir, "domain", "n.test");
}


static void email_check_at_deploy(void **state)
{
	struct env v;
	nu_plugins *checks;
	nu_send_counts n;
	nu_flow f;
	nu_error err;
	char path[512], want[700];
	json_t *config;

	(void)state;
	env_open(&v);
	config = email_config(v.t.dir);
	/* No engine: the plugins are loaded only to check flows. */
	assert_int_equal(nu_plugins_open(NULL, config, &checks, &err), NU_OK);
	snprintf(path, sizeof path, "%s/nurture-email.so", PLUGIN_DIR);
	assert_int_equal(nu_plugins_load_file(checks, path, &err), NU_OK);

	load_flow(&v, "bad", "return { name = 'bad', trigger = { manual = true },\n"
		  "  run = function(lead)\n"
		  "    send('email', { template = 'offer', topic = lead:get('industry') })\n"
		  "    send('email', { template = 'offer' })\n"
		  "    send('mock', { template = 'anything' })\n"
		  "    send('email', { template = 'missing' })\n"
		  "  end }\n", &f);
	assert_int_equal(nu_flow_check_sends(checks, &f, &n, NULL, NULL, &err), NU_EINVAL);
	snprintf(want, sizeof want, "%s/bad.lua:4: send(\"email\", template \"offer\"): template 'offer'"
		 " (%s/offer.tmpl:1): missing variable 'topic' (and 1 more send fails the check)",
		 v.t.dir, v.t.dir);
	assert_string_equal(err.msg, want);
	assert_int_equal(n.checked, 1);
	assert_int_equal(n.unchecked, 1);   /* the mock has no check */
	nu_flow_clear(&f);

	load_flow(&v, "dyn", "return { name = 'dyn', trigger = { manual = true },\n"
		  "  run = function(lead)\n"
		  "    local t = 'off' .. 'er'\n"
		  "    send('email', { template = t })\n"
		  "    send(lead:get('region') == 'cn' and 'email' or 'sms', { template = 'offer' })\n"
		  "    send('email', { template = 'offer', topic = 'CDP' })\n"
		  "  end }\n", &f);
	assert_int_equal(nu_flow_check_sends(checks, &f, &n, NULL, NULL, &err), NU_OK);
	assert_int_equal(n.checked, 1);
	assert_int_equal(n.unresolved, 2);
	/* Without plugins nothing is checked. */
	assert_int_equal(nu_flow_check_sends(NULL, &f, &n, NULL, NULL, &err), NU_OK);
	assert_int_equal(n.checked + n.unresolved + n.unchecked, 0);
	nu_flow_clear(&f);
	nu_plugins_close(checks);
	json_decref(config);
	env_close(&v);
}

/* A send whose template the static scan cannot see fails its check as the
 * intent is recorded: failed, with the reason, never handed to the channel. */
static void email_check_at_send_intent(void **state)
{
	struct env v;
	char path[512];
	int64_t lead, run;
	nu_error err;

	(void)state;
	env_open(&v);
	nu_plugins_close(v.r);
	json_decref(v.config);
	v.config = email_config(v.t.dir);
	assert_int_equal(nu_plugins_open(v.e, v.config, &v.r, &err), NU_OK);
	snprintf(path, sizeof path, "%s/nurture-email.so", PLUGIN_DIR);
	assert_int_equal(nu_plugins_load_file(v.r, path, &err), NU_OK);
	deploy_flow(&v, "dyn", "return { name = 'dyn', trigger = { manual = true },\n"
		    "  run = function(lead)\n"
		    "    local ok, info = send('email', { template = 'off' .. 'er' })\n"
		    "    if not ok then lead:tag('check:' .. info.status) end\n"
		    "  end }\n");
	run = enroll_and_pump(&v, "dyn", "c@x.cn", &lead);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM outbox WHERE run_id = ? AND state = 'failed'"
					" AND attempts = 0 AND error LIKE 'refused by the email channel''s check:"
					" template ''offer'' (%/offer.tmpl:1): missing variable ''topic'''", run), 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM tag WHERE lead_id = ? AND name = 'check:failed'",
					lead), 1);
	assert_int_equal(test_query_int(&v.t, "SELECT count(*) FROM run WHERE id = ? AND status = 'completed'",
					run), 1);
	env_close(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_plugins_are_refused_with_reasons),
		cmocka_unit_test(writable_plugin_is_refused),
		cmocka_unit_test(mock_channel_carries_a_flow),
		cmocka_unit_test(retry_is_the_second_attempt),
		cmocka_unit_test(email_check_at_deploy),
		cmocka_unit_test(email_check_at_send_intent),
	};
	return cmocka_run_group_tests_name("plugins", tests, NULL, NULL);
}
