/*
 * test_events.c — appending events, dedupe keys, the per-lead timeline and
 * its paging.
 */
#include <jansson.h>
#include "events.h"
#include "identity.h"
#include "ingest.h"
#include "testutil.h"

static void dedupe_key_stores_one_event(void **state)
{
	struct test_db t;
	json_t *props = json_pack("{s:s}", "form", "whitepaper");
	nu_event_in in;
	nu_error err;
	int64_t lead, id1, id2;

	(void)state;
	test_db_open(&t);
	lead = test_lead(&t, NU_ID_EMAIL, "e@x.cn");
	in = (nu_event_in){ .lead_id = lead, .type = "form.submitted", .props = props,
			    .source = "api", .dedupe_key = "form-123" };
	assert_int_equal(nu_event_append(t.s, &in, &id1, &err), NU_OK);
	assert_int_equal(nu_event_append(t.s, &in, &id2, &err), NU_EDUP);
	assert_int_equal(id1, id2);
	in.dedupe_key = NULL;
	assert_int_equal(nu_event_append(t.s, &in, &id2, &err), NU_OK);
	assert_int_not_equal(id1, id2);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM event WHERE lead_id = ?", lead), 2);
	assert_int_equal(test_query_int(&t, "SELECT at FROM event WHERE id = ?", id1), T0);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM event WHERE id = ? AND"
					" json_extract(props, '$.form') = 'whitepaper'", id1), 1);
	json_decref(props);
	test_db_close(&t);
}

static int64_t ingest(struct test_db *t, const char *json)
{
	json_t *rec = json_loads(json, 0, NULL);
	nu_ingest_result res;
	nu_error err;

	assert_non_null(rec);
	if (nu_ingest_event(t->s, rec, "api", &res, &err) != NU_OK)
		fail_msg("ingest %s: %s", json, err.msg);
	json_decref(rec);
	return res.resolve.lead_id;
}

/* An event's email and phone fill the lead's contact fields when they are
 * new to it; the events of a known lead leave the lead row alone. */
static void event_contacts_fill_only_when_new(void **state)
{
	struct test_db t;
	int64_t lead;

	(void)state;
	test_db_open(&t);
	lead = ingest(&t, "{\"type\": \"page.viewed\", \"email\": \"Wang.Li@X.cn\"}");
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead WHERE id = ? AND email = 'wang.li@x.cn'"
					" AND phone IS NULL", lead), 1);
	int64_t history = test_query_int(&t, "SELECT count(*) FROM lead_history WHERE lead_id = ?", lead);
	assert_int_equal(ingest(&t, "{\"type\": \"page.viewed\", \"email\": \"wang.li@x.cn\"}"), lead);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead_history WHERE lead_id = ?", lead), history);
	assert_int_equal(ingest(&t, "{\"type\": \"form.submitted\", \"email\": \"wang.li@x.cn\","
				    " \"phone\": \"+86 138 0013 8000\"}"), lead);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM lead WHERE id = ? AND phone = '+8613800138000'",
					lead), 1);
	test_db_close(&t);
}

static void bad_events_refused(void **state)
{
	struct test_db t;
	json_t *arr = json_array();
	nu_event_in in;
	nu_error err;
	int64_t lead, id;

	(void)state;
	test_db_open(&t);
	lead = test_lead(&t, NU_ID_EMAIL, "e@x.cn");
	in = (nu_event_in){ .lead_id = lead, .type = "Email Opened" };
	assert_int_equal(nu_event_append(t.s, &in, &id, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "Email Opened"));
	in.type = "";
	assert_int_equal(nu_event_append(t.s, &in, &id, &err), NU_EINVAL);
	in.type = "email.opened";
	in.props = arr;
	assert_int_equal(nu_event_append(t.s, &in, &id, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "props"));
	in.props = NULL;
	in.lead_id = 4242;
	assert_int_equal(nu_event_append(t.s, &in, &id, &err), NU_ENOTFOUND);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM event", -1), 0);
	json_decref(arr);
	test_db_close(&t);
}

static void timeline_newest_first_and_paged(void **state)
{
	struct test_db t;
	nu_event *ev;
	nu_error err;
	size_t n;
	int64_t a, b, id, count;
	char type[32];

	(void)state;
	test_db_open(&t);
	a = test_lead(&t, NU_ID_EMAIL, "a@x.cn");
	b = test_lead(&t, NU_ID_EMAIL, "b@x.cn");
	/* Interleave two leads' events: each timeline must hold only its own. */
	for (int i = 0; i < 25; i++) {
		snprintf(type, sizeof type, "page.viewed%d", i);
		nu_event_in in = { .lead_id = i % 2 ? b : a, .type = type, .at = T0 + i };
		assert_int_equal(nu_event_append(t.s, &in, &id, &err), NU_OK);
	}
	assert_int_equal(nu_event_timeline(t.s, a, 0, 5, &ev, &n, &err), NU_OK);
	assert_int_equal(n, 5);
	assert_string_equal(ev[0].type, "page.viewed24");
	assert_string_equal(ev[4].type, "page.viewed16");
	int64_t cursor = ev[4].id;
	nu_events_free(ev, n);
	assert_int_equal(nu_event_timeline(t.s, a, cursor, 100, &ev, &n, &err), NU_OK);
	assert_int_equal(n, 8);
	assert_string_equal(ev[0].type, "page.viewed14");
	assert_string_equal(ev[7].type, "page.viewed0");
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ev[i].lead_id, a);
	nu_events_free(ev, n);
	assert_int_equal(nu_event_count(t.s, b, &count, &err), NU_OK);
	assert_int_equal(count, 12);
	int64_t fresh = test_lead(&t, NU_ID_EMAIL, "c@x.cn");
	assert_int_equal(nu_event_timeline(t.s, fresh, 0, 10, &ev, &n, &err), NU_OK);
	assert_int_equal(n, 0);
	assert_null(ev);
	test_db_close(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dedupe_key_stores_one_event),
		cmocka_unit_test(bad_events_refused),
		cmocka_unit_test(event_contacts_fill_only_when_new),
		cmocka_unit_test(timeline_newest_first_and_paged),
	};
	return cmocka_run_group_tests_name("events", tests, NULL, NULL);
}
