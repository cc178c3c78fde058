/*
 * test_stages.c — the funnel model, legal and illegal transitions, and the
 * stage-change log.
 */
#include "identity.h"
#include "stages.h"
#include "testutil.h"

static int allowed(const nu_stage_model *m, const char *from, const char *to)
{
	return m->allowed[nu_stage_index(m, from)][nu_stage_index(m, to)];
}

static void default_model_rules(void **state)
{
	nu_stage_model m;

	(void)state;
	nu_stage_model_default(&m);
	assert_int_equal(m.n, 7);
	assert_int_equal(m.funnel_len, 5);
	assert_true(allowed(&m, "Lead", "MQL"));
	assert_true(allowed(&m, "Lead", "SQL"));          /* forward skip */
	assert_false(allowed(&m, "SQL", "MQL"));          /* no going back */
	assert_true(allowed(&m, "SQL", "Recycled"));      /* sales return */
	assert_true(allowed(&m, "Recycled", "Lead"));
	assert_true(allowed(&m, "Recycled", "MQL"));
	assert_false(allowed(&m, "Recycled", "SQL"));
	assert_true(allowed(&m, "Opportunity", "Disqualified"));
	assert_true(allowed(&m, "Disqualified", "Recycled"));
	assert_false(allowed(&m, "Disqualified", "Lead"));
	for (size_t t = 0; t < m.n; t++)
		assert_false(m.allowed[nu_stage_index(&m, "Deal")][t]);   /* final */
}

static void transitions_are_logged_and_checked(void **state)
{
	struct test_db t;
	nu_error err;
	int changed;
	int64_t lead;

	(void)state;
	test_db_open(&t);
	lead = test_lead(&t, NU_ID_EMAIL, "s@x.cn");
	t.now += 5000;
	assert_int_equal(nu_stage_set(t.s, lead, "MQL", "heat >= 60", "rule:scoring", &changed, &err), NU_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(nu_stage_set(t.s, lead, "MQL", "again", "rule:scoring", &changed, &err), NU_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(nu_stage_set(t.s, lead, "Lead", "oops", "cli", &changed, &err), NU_ESTATE);
	assert_non_null(strstr(err.msg, "cannot move from MQL to Lead"));
	assert_non_null(strstr(err.msg, "SQL, Opportunity, Deal, Recycled, Disqualified"));
	assert_int_equal(nu_stage_set(t.s, lead, "SQLL", "typo", "cli", &changed, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "unknown stage 'SQLL'"));
	assert_int_equal(nu_stage_set(t.s, 999, "MQL", "x", "cli", NULL, &err), NU_ENOTFOUND);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM stage_change WHERE lead_id = ?", lead), 1);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM stage_change WHERE lead_id = ? AND"
					" from_stage = 'Lead' AND to_stage = 'MQL' AND reason = 'heat >= 60'"
					" AND actor = 'rule:scoring'", lead), 1);
	assert_int_equal(test_query_int(&t, "SELECT stage_at FROM lead WHERE id = ?", lead), T0 + 5000);
	test_db_close(&t);
}

static void custom_model_from_config(void **state)
{
	static const char *const funnel[] = { "Prospect", "Engaged", "Qualified", "Won" };
	static const char *const side[] = { "Nurture", "Lost" };
	static const char *const won_to[] = { "Nurture" };
	struct test_db t;
	nu_stage_model m;
	nu_error err;
	int64_t counts[NU_STAGE_MAX];
	int64_t lead;

	(void)state;
	assert_int_equal(nu_stage_model_build(&m, funnel, 4, side, 2, &err), NU_OK);
	assert_int_equal(nu_stage_model_set_transitions(&m, "Won", won_to, 1, &err), NU_OK);
	assert_true(allowed(&m, "Won", "Nurture"));
	assert_false(allowed(&m, "Won", "Lost"));
	assert_int_equal(nu_stage_model_set_transitions(&m, "Gone", won_to, 1, &err), NU_EINVAL);
	static const char *const dup[] = { "A", "A" };
	assert_int_equal(nu_stage_model_build(&m, dup, 2, NULL, 0, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "listed twice"));

	assert_int_equal(nu_stage_model_build(&m, funnel, 4, side, 2, &err), NU_OK);
	test_db_open(&t);
	nu_store_settings_of(t.s)->stages = &m;
	lead = test_lead(&t, NU_ID_EMAIL, "c@x.cn");
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead WHERE stage = 'Prospect'", -1), 1);
	assert_int_equal(nu_stage_set(t.s, lead, "Qualified", "demo", "cli", NULL, &err), NU_OK);
	test_lead(&t, NU_ID_EMAIL, "d@x.cn");
	assert_int_equal(nu_stage_counts(t.s, counts, &err), NU_OK);
	assert_int_equal(counts[0], 1);
	assert_int_equal(counts[2], 1);
	test_db_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_model_rules),
		cmocka_unit_test(transitions_are_logged_and_checked),
		cmocka_unit_test(custom_model_from_config),
	};
	return cmocka_run_group_tests_name("stages", tests, NULL, NULL);
}
