/*
 * test_leads.c — lead attributes with progressive profiling and history,
 * identity normalisation and resolution, and lead references.
 */
#include <jansson.h>
#include "identity.h"
#include "leads.h"
#include "testutil.h"

static int64_t new_lead(struct test_db *t, const char *email)
{
	nu_identity id;
	nu_resolve_result r;
	nu_error err;

	assert_int_equal(nu_identity_normalize(t->s, NU_ID_EMAIL, email, &id, &err), NU_OK);
	assert_int_equal(nu_identity_resolve(t->s, &id, 1, "test", &r, &err), NU_OK);
	assert_int_equal(r.created, 1);
	return r.lead_id;
}

static void update(struct test_db *t, int64_t id, const char *json, unsigned flags,
		   nu_lead_update_result *res)
{
	json_t *attrs = json_loads(json, 0, NULL);
	nu_error err;

	assert_non_null(attrs);
	if (nu_lead_update(t->s, id, attrs, flags, "test", res, &err) != NU_OK)
		fail_msg("update: %s", err.msg);
	json_decref(attrs);
}

static void progressive_profiling_fills_blanks_only(void **state)
{
	struct test_db t;
	nu_lead_update_result r;
	nu_lead l;
	int64_t id;

	(void)state;
	test_db_open(&t);
	id = new_lead(&t, "wang.lei@yunqi.cn");
	update(&t, id, "{\"name\":\"王磊\",\"company\":\"云启\"}", 0, &r);
	assert_int_equal(r.changed, 2);
	t.now += 1000;
	update(&t, id, "{\"company\":\"Other Co\",\"title\":\"市场总监\"}", 0, &r);
	assert_int_equal(r.changed, 1);
	assert_int_equal(r.kept, 1);
	assert_int_equal(nu_lead_load(t.s, id, &l, NULL), NU_OK);
	assert_string_equal(l.field[NU_LEAD_COMPANY], "云启");
	assert_string_equal(l.field[NU_LEAD_TITLE], "市场总监");
	assert_int_equal(l.updated_at, T0 + 1000);
	nu_lead_clear(&l);
	update(&t, id, "{\"company\":\"Other Co\"}", NU_LEAD_OVERWRITE, &r);
	assert_int_equal(r.changed, 1);
	assert_int_equal(nu_lead_load(t.s, id, &l, NULL), NU_OK);
	assert_string_equal(l.field[NU_LEAD_COMPANY], "Other Co");
	nu_lead_clear(&l);
	/* Three change sets, each one history row; the last names old and new. */
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead_history WHERE lead_id = ?", id), 3);
	assert_int_equal(test_query_int(&t,
		"SELECT count(*) FROM lead_history WHERE lead_id = ? AND"
		" json_extract(changes, '$.company[0]') = '云启' AND"
		" json_extract(changes, '$.company[1]') = 'Other Co'", id), 1);
	/* An identical value is no change and writes no history. */
	update(&t, id, "{\"company\":\"Other Co\"}", NU_LEAD_OVERWRITE, &r);
	assert_int_equal(r.changed, 0);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead_history WHERE lead_id = ?", id), 3);
	test_db_close(&t);
}

static void custom_fields_and_null(void **state)
{
	struct test_db t;
	nu_lead_update_result r;
	nu_lead l;
	int64_t id;

	(void)state;
	test_db_open(&t);
	id = new_lead(&t, "a@b.cn");
	update(&t, id, "{\"employees\":500,\"budget_approved\":true,\"region\":\"华东\"}", 0, &r);
	assert_int_equal(r.changed, 3);
	assert_int_equal(nu_lead_load(t.s, id, &l, NULL), NU_OK);
	assert_int_equal(json_integer_value(json_object_get(l.custom, "employees")), 500);
	assert_true(json_is_true(json_object_get(l.custom, "budget_approved")));
	nu_lead_clear(&l);
	/* null clears only with OVERWRITE */
	update(&t, id, "{\"region\":null,\"employees\":null}", 0, &r);
	assert_int_equal(r.changed, 0);
	update(&t, id, "{\"region\":null,\"employees\":null}", NU_LEAD_OVERWRITE, &r);
	assert_int_equal(r.changed, 2);
	assert_int_equal(nu_lead_load(t.s, id, &l, NULL), NU_OK);
	assert_null(l.field[NU_LEAD_REGION]);
	assert_null(json_object_get(l.custom, "employees"));
	nu_lead_clear(&l);
	test_db_close(&t);
}

static void bad_attributes_refused_whole(void **state)
{
	static const struct { const char *json, *word; } cases[] = {
		{ "{\"title\":\"CTO\",\"company\":42}", "company: must be a string" },
		{ "{\"title\":\"CTO\",\"email\":\"x@\"}", "email" },
		{ "{\"title\":\"CTO\",\"phone\":\"12ab\"}", "phone" },
		{ "{\"title\":\"CTO\",\"timezone\":\"shanghai\"}", "timezone" },
		{ "{\"title\":\"CTO\",\"bad key!\":1}", "custom field name 'bad key!'" },
		{ "{\"title\":\"CTO\",\"nested\":{\"a\":1}}", "nested" },
	};
	struct test_db t;
	nu_error err;
	int64_t id;

	(void)state;
	test_db_open(&t);
	id = new_lead(&t, "a@b.cn");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *attrs = json_loads(cases[i].json, 0, NULL);
		assert_int_equal(nu_lead_update(t.s, id, attrs, 0, "t", NULL, &err), NU_EINVAL);
		if (!strstr(err.msg, cases[i].word))
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, cases[i].word);
		json_decref(attrs);
	}
	/* Nothing was written: the valid title in each case came first. */
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead WHERE id = ? AND title IS NULL", id), 1);
	json_t *empty = json_object();
	assert_int_equal(nu_lead_update(t.s, 999, empty, 0, "t", NULL, &err), NU_ENOTFOUND);
	json_decref(empty);
	test_db_close(&t);
}

static void resolve_attaches_and_finds(void **state)
{
	struct test_db t;
	nu_identity ids[3];
	nu_resolve_result r;
	nu_error err;
	int64_t found;

	(void)state;
	test_db_open(&t);
	assert_int_equal(nu_identity_normalize(t.s, NU_ID_EMAIL, " Li.Na@Example.COM ", &ids[0], &err), NU_OK);
	assert_string_equal(ids[0].value, "li.na@example.com");
	assert_int_equal(nu_identity_resolve(t.s, ids, 1, "t", &r, &err), NU_OK);
	assert_int_equal(r.created, 1);
	int64_t lead = r.lead_id;
	assert_int_equal(nu_identity_normalize(t.s, NU_ID_PHONE, "138 0013 8000", &ids[1], &err), NU_OK);
	assert_string_equal(ids[1].value, "+8613800138000");
	assert_int_equal(nu_identity_normalize(t.s, NU_ID_WECHAT_OPENID, " oX7a123 ", &ids[2], &err), NU_OK);
	assert_int_equal(nu_identity_resolve(t.s, ids, 3, "t", &r, &err), NU_OK);
	assert_int_equal(r.created, 0);
	assert_int_equal(r.merged, 0);
	assert_int_equal(r.attached, 2);
	assert_int_equal(r.lead_id, lead);
	/* References: id, email (any case), phone (any format), kind:value. */
	assert_int_equal(nu_lead_resolve_ref(t.s, "1", &found, &err), NU_OK);
	assert_int_equal(found, lead);
	assert_int_equal(nu_lead_resolve_ref(t.s, "LI.NA@example.com", &found, &err), NU_OK);
	assert_int_equal(found, lead);
	assert_int_equal(nu_lead_resolve_ref(t.s, "+86 138-0013-8000", &found, &err), NU_OK);
	assert_int_equal(found, lead);
	assert_int_equal(nu_lead_resolve_ref(t.s, "wechat_openid:oX7a123", &found, &err), NU_OK);
	assert_int_equal(found, lead);
	assert_int_equal(nu_lead_resolve_ref(t.s, "nobody@example.com", &found, &err), NU_ENOTFOUND);
	assert_non_null(strstr(err.msg, "nobody@example.com"));
	assert_int_equal(nu_lead_resolve_ref(t.s, "12ab", &found, &err), NU_EINVAL);
	assert_int_equal(nu_identity_resolve(t.s, ids, 0, "t", &r, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "no identity"));
	test_db_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(progressive_profiling_fills_blanks_only),
		cmocka_unit_test(custom_fields_and_null),
		cmocka_unit_test(bad_attributes_refused_whole),
		cmocka_unit_test(resolve_attaches_and_finds),
	};
	return cmocka_run_group_tests_name("leads", tests, NULL, NULL);
}
