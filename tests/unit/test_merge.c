/*
 * test_merge.c — two leads that turn out to be one person: identities,
 * tags, events, stages, attributes and history move to the survivor.
 */
#include <jansson.h>
#include "events.h"
#include "identity.h"
#include "leads.h"
#include "merge.h"
#include "stages.h"
#include "tags.h"
#include "testutil.h"

static void event(struct test_db *t, int64_t lead, const char *type)
{
	nu_event_in in = { .lead_id = lead, .type = type, .source = "test" };
	int64_t id;
	nu_error err;

	t->now += 1000;
	assert_int_equal(nu_event_append(t->s, &in, &id, &err), NU_OK);
}

static void attrs(struct test_db *t, int64_t lead, const char *json)
{
	json_t *a = json_loads(json, 0, NULL);
	nu_error err;
	assert_int_equal(nu_lead_update(t->s, lead, a, 0, "test", NULL, &err), NU_OK);
	json_decref(a);
}

/* An anonymous visitor (lead B) browses, then fills a form with the email
 * of a known lead (A): one record carries both identities. */
static void form_ties_anonymous_visitor_to_known_lead(void **state)
{
	struct test_db t;
	nu_identity ids[2];
	nu_resolve_result r;
	nu_error err;
	int64_t a, b, live;
	nu_event *ev;
	size_t n;

	(void)state;
	test_db_open(&t);
	a = test_lead(&t, NU_ID_EMAIL, "zhang.wei@hengtai.com");
	b = test_lead(&t, NU_ID_ANONYMOUS_ID, "anon-1f2e");
	attrs(&t, a, "{\"name\":\"张伟\"}");
	attrs(&t, b, "{\"name\":\"Visitor\",\"company\":\"恒泰\",\"pages\":3}");
	event(&t, a, "email.opened");
	event(&t, b, "page.viewed");
	event(&t, a, "email.clicked");
	event(&t, b, "content.downloaded");
	assert_int_equal(nu_tag_add(t.s, a, "interest:crm", 5, "t", &err), NU_OK);
	assert_int_equal(nu_tag_add(t.s, b, "interest:crm", 8, "t", &err), NU_OK);
	assert_int_equal(nu_tag_add(t.s, b, "behaviour:visited_pricing", 3, "t", &err), NU_OK);
	assert_int_equal(nu_stage_set(t.s, b, "MQL", "heat", "rule", NULL, &err), NU_OK);

	assert_int_equal(nu_identity_normalize(t.s, NU_ID_ANONYMOUS_ID, "anon-1f2e", &ids[0], &err), NU_OK);
	assert_int_equal(nu_identity_normalize(t.s, NU_ID_EMAIL, "Zhang.Wei@hengtai.com", &ids[1], &err), NU_OK);
	assert_int_equal(nu_identity_resolve(t.s, ids, 2, "form:whitepaper", &r, &err), NU_OK);
	assert_int_equal(r.lead_id, a);        /* the older lead survives */
	assert_int_equal(r.merged, 1);
	assert_int_equal(r.created, 0);

	/* Identities: both on A; B resolves to A. */
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM identity WHERE lead_id = ?", a), 2);
	assert_int_equal(nu_lead_live_id(t.s, b, &live, &err), NU_OK);
	assert_int_equal(live, a);
	assert_int_equal(test_query_int(&t, "SELECT merged_into FROM lead WHERE id = ?", b), a);
	/* Tags: the higher weight wins; B's other tag moved. */
	assert_int_equal(test_query_int(&t, "SELECT weight FROM tag WHERE lead_id = ? AND name = 'interest:crm'", a), 8);
	assert_int_equal(nu_tag_has(t.s, a, "behaviour:visited_pricing", &err), 1);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM tag WHERE lead_id = ?", b), 0);
	/* Events: one timeline, newest first, across both leads. */
	assert_int_equal(nu_event_timeline(t.s, a, 0, 10, &ev, &n, &err), NU_OK);
	assert_int_equal(n, 4);
	assert_string_equal(ev[0].type, "content.downloaded");
	assert_string_equal(ev[1].type, "email.clicked");
	assert_string_equal(ev[2].type, "page.viewed");
	assert_string_equal(ev[3].type, "email.opened");
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ev[i].lead_id, a);
	nu_events_free(ev, n);
	/* Attributes: A's name stays, B fills A's blanks. */
	nu_lead l;
	assert_int_equal(nu_lead_load(t.s, a, &l, &err), NU_OK);
	assert_string_equal(l.field[NU_LEAD_NAME], "张伟");
	assert_string_equal(l.field[NU_LEAD_COMPANY], "恒泰");
	assert_int_equal(json_integer_value(json_object_get(l.custom, "pages")), 3);
	/* Stage: B was further down the funnel. */
	assert_string_equal(l.stage, "MQL");
	nu_lead_clear(&l);
	/* The merge is recorded and explains itself. */
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead_merge WHERE survivor_id = ?", a), 1);
	assert_int_equal(test_query_int(&t,
		"SELECT count(*) FROM lead_merge WHERE reason LIKE '%anonymous_id:anon-1f2e%'"
		" AND reason LIKE '%zhang.wei@hengtai.com%' AND reason LIKE '%form:whitepaper%'"
		" AND json_extract(detail, '$.events') = 2 AND json_extract(detail, '$.identities') = 1"
		" AND merged_id = ?", b), 1);
	/* B's stage history and attribute history moved to A. */
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM stage_change WHERE lead_id = ?", b), 0);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead_history WHERE lead_id = ?", b), 0);
	test_db_close(&t);
}

static void chained_merges_resolve_to_last_survivor(void **state)
{
	struct test_db t;
	nu_error err;
	int64_t a, b, c, live;

	(void)state;
	test_db_open(&t);
	a = test_lead(&t, NU_ID_EMAIL, "a@x.cn");
	b = test_lead(&t, NU_ID_EMAIL, "b@x.cn");
	c = test_lead(&t, NU_ID_EMAIL, "c@x.cn");
	assert_int_equal(nu_lead_merge(t.s, b, c, "test", &err), NU_OK);
	assert_int_equal(nu_lead_merge(t.s, a, b, "test", &err), NU_OK);
	assert_int_equal(nu_lead_live_id(t.s, c, &live, &err), NU_OK);
	assert_int_equal(live, a);
	assert_int_equal(test_query_int(&t, "SELECT merged_into FROM lead WHERE id = ?", c), a);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM identity WHERE lead_id = ?", a), 3);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead_merge WHERE survivor_id = ?", a), 2);
	/* Merging a merged lead, or a lead into itself, is refused. */
	assert_int_equal(nu_lead_merge(t.s, a, b, "again", &err), NU_ESTATE);
	assert_non_null(strstr(err.msg, "already merged"));
	assert_int_equal(nu_lead_merge(t.s, a, a, "self", &err), NU_EINVAL);
	test_db_close(&t);
}

static void three_leads_in_one_record(void **state)
{
	struct test_db t;
	nu_identity ids[3];
	nu_resolve_result r;
	nu_error err;
	int64_t a, b, c;

	(void)state;
	test_db_open(&t);
	a = test_lead(&t, NU_ID_EMAIL, "a@x.cn");
	b = test_lead(&t, NU_ID_PHONE, "13800138000");
	c = test_lead(&t, NU_ID_WECHAT_OPENID, "oOPENID");
	assert_int_equal(nu_identity_normalize(t.s, NU_ID_WECHAT_OPENID, "oOPENID", &ids[0], &err), NU_OK);
	assert_int_equal(nu_identity_normalize(t.s, NU_ID_PHONE, "+86 138 0013 8000", &ids[1], &err), NU_OK);
	assert_int_equal(nu_identity_normalize(t.s, NU_ID_EMAIL, "A@x.cn", &ids[2], &err), NU_OK);
	assert_int_equal(nu_identity_resolve(t.s, ids, 3, "t", &r, &err), NU_OK);
	assert_int_equal(r.lead_id, a);
	assert_int_equal(r.merged, 2);
	assert_int_equal(r.attached, 0);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead WHERE merged_into = ?", a), 2);
	(void)b; (void)c;
	test_db_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(form_ties_anonymous_visitor_to_known_lead),
		cmocka_unit_test(chained_merges_resolve_to_last_survivor),
		cmocka_unit_test(three_leads_in_one_record),
	};
	return cmocka_run_group_tests_name("merge", tests, NULL, NULL);
}
