/*
 * test_json_text.c — the direct JSON writer reads back equal through
 * jansson, for every value type and the awkward characters.
 */
#include <jansson.h>
#include "json_text.h"
#include "testutil.h"

static void round_trip(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY, NULL), *back;
	char *out;

	assert_non_null(v);
	out = nu_json_text(v);
	assert_non_null(out);
	back = json_loads(out, JSON_DECODE_ANY, NULL);
	if (!back || !json_equal(v, back))
		fail_msg("'%s' came back as '%s'", text, out);
	free(out);
	json_decref(v);
	json_decref(back);
}

static void values_round_trip(void **state)
{
	(void)state;
	round_trip("{}");
	round_trip("[]");
	round_trip("{\"a\":[null,\"王磊\"],\"b\":[\"x\",null]}");
	round_trip("{\"n\":-9007199254740993,\"r\":0.1,\"big\":1e300,\"t\":true,\"f\":false}");
	round_trip("\"quote \\\" backslash \\\\ tab \\t nl \\n cr \\r bell \\u0007 nul-free\"");
	round_trip("{\"emoji\":\"😀\",\"full\":\"，\",\"nested\":{\"deep\":[1,[2,[3,{\"x\":\"y\"}]]]}}");
}

static void exact_text(void **state)
{
	json_t *v = json_pack("{s:f,s:i,s:s}", "weight", 5.0, "n", 3, "s", "a\"b");
	char *out = nu_json_text(v);

	(void)state;
	/* Insertion order kept; a whole real keeps its ".0". */
	assert_string_equal(out, "{\"weight\":5.0,\"n\":3,\"s\":\"a\\\"b\"}");
	free(out);
	json_decref(v);
}

static void too_deep_refused(void **state)
{
	json_t *root = json_array(), *cur = root;

	(void)state;
	for (int i = 0; i < 70; i++) {
		json_t *next = json_array();
		json_array_append_new(cur, next);
		cur = next;
	}
	assert_null(nu_json_text(root));
	json_decref(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(values_round_trip),
		cmocka_unit_test(exact_text),
		cmocka_unit_test(too_deep_refused),
	};
	return cmocka_run_group_tests_name("json_text", tests, NULL, NULL);
}
