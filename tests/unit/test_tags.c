/*
 * test_tags.c — tag names, definitions, add/remove/has/list, history and
 * expiry on a virtual clock.
 */
#include "identity.h"
#include "tags.h"
#include "testutil.h"

static void names_are_checked(void **state)
{
	static const char *const good[] = { "interest:crm", "source:webinar", "行业:制造业",
					    "behaviour:downloaded_whitepaper", "vip", "a.b-c_d:e" };
	static const char *const bad[] = { "", "Interest:crm", "interest crm", ":crm",
					   "crm:", "a::b", "x!" };
	nu_error err;

	(void)state;
	for (size_t i = 0; i < sizeof good / sizeof *good; i++)
		if (nu_tag_name_check(good[i], &err) != NU_OK)
			fail_msg("'%s' refused: %s", good[i], err.msg);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (nu_tag_name_check(bad[i], &err) != NU_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	char longname[200];
	memset(longname, 'a', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	assert_int_equal(nu_tag_name_check(longname, &err), NU_EINVAL);
}

static void add_has_list_remove_with_history(void **state)
{
	struct test_db t;
	nu_error err;
	nu_tag *tags;
	size_t n;
	int64_t lead;

	(void)state;
	test_db_open(&t);
	lead = test_lead(&t, NU_ID_EMAIL, "t@x.cn");
	assert_int_equal(nu_tag_has(t.s, lead, "interest:crm", &err), 0);
	assert_int_equal(nu_tag_add(t.s, lead, "interest:crm", -1, "form", &err), NU_OK);
	assert_int_equal(nu_tag_add(t.s, lead, "behavior:opened", 2.5, "email", &err), NU_OK);
	assert_int_equal(nu_tag_has(t.s, lead, "interest:crm", &err), 1);
	assert_int_equal(nu_tag_list(t.s, lead, &tags, &n, &err), NU_OK);
	assert_int_equal(n, 2);
	assert_string_equal(tags[0].name, "behavior:opened");
	assert_string_equal(tags[0].category, "behaviour");  /* US spelling accepted */
	assert_true(tags[0].weight == 2.5);
	assert_string_equal(tags[1].category, "interest");
	assert_string_equal(tags[1].tag_class, "fact");
	assert_true(tags[1].weight == 1);
	assert_string_equal(tags[1].source, "form");
	free(tags);
	/* Same weight again: refresh, no history row; new weight: "update". */
	assert_int_equal(nu_tag_add(t.s, lead, "interest:crm", 1, "form", &err), NU_OK);
	assert_int_equal(nu_tag_add(t.s, lead, "interest:crm", 4, "form", &err), NU_OK);
	assert_int_equal(nu_tag_remove(t.s, lead, "interest:crm", "cli", &err), NU_OK);
	assert_int_equal(nu_tag_remove(t.s, lead, "interest:crm", "cli", &err), NU_ENOTFOUND);
	assert_non_null(strstr(err.msg, "has no tag 'interest:crm'"));
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM tag_change WHERE lead_id = ?"
					" AND name = 'interest:crm'", lead), 3);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM tag_change WHERE op = 'update'"
					" AND weight = 4 AND lead_id = ?", lead), 1);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM tag_change WHERE op = 'remove'"
					" AND source = 'cli' AND lead_id = ?", lead), 1);
	assert_int_equal(nu_tag_add(t.s, 999, "interest:crm", 1, "x", &err), NU_ENOTFOUND);
	test_db_close(&t);
}

static void definitions_give_weight_class_and_ttl(void **state)
{
	nu_tag_def def = { .name = "behaviour:attended_webinar", .category = "behaviour",
			   .tag_class = "analytic", .weight = 15, .ttl_ms = 3 * 86400000LL };
	struct test_db t;
	nu_error err;
	nu_tag *tags;
	size_t n;
	int64_t lead;

	(void)state;
	test_db_open(&t);
	lead = test_lead(&t, NU_ID_EMAIL, "t@x.cn");
	assert_int_equal(nu_tag_def_put(t.s, &def, &err), NU_OK);
	assert_int_equal(nu_tag_add(t.s, lead, def.name, -1, "zoom", &err), NU_OK);
	assert_int_equal(nu_tag_list(t.s, lead, &tags, &n, &err), NU_OK);
	assert_int_equal(n, 1);
	assert_true(tags[0].weight == 15);
	assert_string_equal(tags[0].tag_class, "analytic");
	assert_int_equal(tags[0].expires_at, T0 + 3 * 86400000LL);
	free(tags);
	strcpy(def.category, "mood");
	assert_int_equal(nu_tag_def_put(t.s, &def, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "category 'mood'"));
	strcpy(def.category, "behaviour");
	strcpy(def.tag_class, "guess");
	assert_int_equal(nu_tag_def_put(t.s, &def, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "class 'guess'"));
	test_db_close(&t);
}

static void tags_expire_on_their_own(void **state)
{
	nu_tag_def def = { .name = "behaviour:hot", .category = "behaviour",
			   .tag_class = "analytic", .weight = 20, .ttl_ms = 14 * 86400000LL };
	struct test_db t;
	nu_error err;
	nu_tag *tags;
	size_t n, expired;
	int64_t lead;

	(void)state;
	test_db_open(&t);
	lead = test_lead(&t, NU_ID_EMAIL, "t@x.cn");
	assert_int_equal(nu_tag_def_put(t.s, &def, &err), NU_OK);
	assert_int_equal(nu_tag_add(t.s, lead, "behaviour:hot", -1, "rule", &err), NU_OK);
	assert_int_equal(nu_tag_add(t.s, lead, "interest:crm", -1, "form", &err), NU_OK);
	t.now += 14 * 86400000LL - 1;
	assert_int_equal(nu_tag_has(t.s, lead, "behaviour:hot", &err), 1);
	assert_int_equal(nu_tag_expire(t.s, &expired, &err), NU_OK);
	assert_int_equal(expired, 0);
	t.now += 1;
	/* Reads stop seeing it at once, before any sweep. */
	assert_int_equal(nu_tag_has(t.s, lead, "behaviour:hot", &err), 0);
	assert_int_equal(nu_tag_list(t.s, lead, &tags, &n, &err), NU_OK);
	assert_int_equal(n, 1);
	assert_string_equal(tags[0].name, "interest:crm");
	free(tags);
	assert_int_equal(nu_tag_expire(t.s, &expired, &err), NU_OK);
	assert_int_equal(expired, 1);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM tag_change WHERE op = 'expire'"
					" AND name = 'behaviour:hot' AND lead_id = ?", lead), 1);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM tag WHERE lead_id = ?", lead), 1);
	/* Re-adding an expired tag is an "add" again, with a fresh expiry. */
	assert_int_equal(nu_tag_add(t.s, lead, "behaviour:hot", -1, "rule", &err), NU_OK);
	assert_int_equal(test_query_int(&t, "SELECT expires_at FROM tag WHERE name = 'behaviour:hot'"
					" AND lead_id = ?", lead), t.now + def.ttl_ms);
	test_db_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names_are_checked),
		cmocka_unit_test(add_has_list_remove_with_history),
		cmocka_unit_test(definitions_give_weight_class_and_ttl),
		cmocka_unit_test(tags_expire_on_their_own),
	};
	return cmocka_run_group_tests_name("tags", tests, NULL, NULL);
}
