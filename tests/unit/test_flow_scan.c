/*
 * test_flow_scan.c — the static scan of a flow's sends: what counts as a
 * send (not one in a comment or a string, not obj:send), the lines it
 * reports across long strings and comments, the message it reads from a
 * constructor, and every way a send stays unresolved.
 */
#include "flow_scan.h"
#include "nurture/plugin.h"
#include "testutil.h"

static nu_scan scan(const char *src)
{
	nu_scan s;
	nu_error err;

	if (nu_flow_scan(src, &s, &err) < 0)
		fail_msg("%s", err.msg);
	return s;
}

/* The message as compact JSON with sorted keys. */
static void expect_message(const nu_scan_send *s, const char *json)
{
	char *text;

	if (!s->message)
		fail_msg("line %d: unresolved (%s), wanted %s", s->line, s->unresolved, json);
	text = json_dumps(s->message, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(text, json);
	free(text);
}

static void expect_unresolved(const nu_scan_send *s, int line, const char *why)
{
	assert_int_equal(s->line, line);
	assert_null(s->message);
	assert_non_null(s->unresolved);
	if (!strstr(s->unresolved, why))
		fail_msg("line %d: '%s' does not say '%s'", line, s->unresolved, why);
}

static void literal_sends_are_read(void **state)
{
	nu_scan s = scan("return { name = 'x', run = function(lead, event)\n"
			 "  send(\"email\", { template = \"whitepaper\", topic = event.props.topic })\n"
			 "  send('wechat',\n"
			 "       { template = 'reminder'; first = lead:get(\"name\"), n = 3 })\n"
			 "end }\n");

	(void)state;
	assert_int_equal(s.n, 2);
	assert_int_equal(s.sends[0].line, 2);
	assert_string_equal(s.sends[0].channel, "email");
	assert_string_equal(s.sends[0].tmpl, "whitepaper");
	assert_null(s.sends[0].unresolved);
	expect_message(&s.sends[0], "{\"template\":\"whitepaper\",\"topic\":\"" NU_CHECK_PLACEHOLDER "\"}");
	assert_int_equal(s.sends[1].line, 3);
	assert_string_equal(s.sends[1].channel, "wechat");
	expect_message(&s.sends[1], "{\"first\":\"" NU_CHECK_PLACEHOLDER "\",\"n\":\"" NU_CHECK_PLACEHOLDER
		       "\",\"template\":\"reminder\"}");
	nu_flow_scan_free(&s);
}

static void comments_and_strings_hide_sends(void **state)
{
	nu_scan s = scan("-- send(\"email\", { template = \"a\" })\n"
			 "--[[ send(\"email\", { template = \"b\" })\n"
			 "     still a comment ]]\n"
			 "--[==[ ]] send(\"email\", { template = \"c\" }) ]=] ]==]\n"
			 "log(\"send(\\\"email\\\", { template = 'd' })\")\n"
			 "log('it\\'s send(\"email\", {})')\n"
			 "local s = [[ send(\"email\", {}) ]]\n"
			 "local t = [=[ ]] send(\"email\", {}) ]=]\n"
			 "send(\"email\", { template = \"real\" }) -- line 9\n");

	(void)state;
	assert_int_equal(s.n, 1);
	assert_int_equal(s.sends[0].line, 9);
	assert_string_equal(s.sends[0].tmpl, "real");
	nu_flow_scan_free(&s);
}

static void lines_are_counted_everywhere(void **state)
{
	nu_scan s = scan("--[==[\n\n]==]\n"                     /* lines 1-3 */
			 "local a = [[\nx\ny]]\n"                   /* 4-6 */
			 "local b = \"one\\\ntwo\"\n"               /* 7-8: \<newline> */
			 "local c = 'p\\z\n\n    q'\n"               /* 9-11: \z */
			 "send(\"email\", {\r\n"                     /* 12 */
			 "  template = \"crlf\" })\r\n"
			 "send(\"sms\", { template = \"last\" })\n"); /* 14 */

	(void)state;
	assert_int_equal(s.n, 2);
	assert_int_equal(s.sends[0].line, 12);
	assert_string_equal(s.sends[0].tmpl, "crlf");
	assert_int_equal(s.sends[1].line, 14);
	nu_flow_scan_free(&s);
}

static void values_the_check_sees(void **state)
{
	nu_scan s = scan("send(\"email\", {\n"
			 "  template = \"offer\",\n"
			 "  empty = \"\",\n"
			 "  gone = nil,\n"
			 "  escaped = \"a\\tb\",\n"
			 "  long = [[as written]],\n"
			 "  [\"quoted key\"] = 1,\n"
			 "  offer = { title = \"Q3\", price = 10, items = { \"a\", \"b\" } },\n"
			 "  cb = function(a, b) local x, y = 1, 2; if x then return y end end,\n"
			 "  pick = x and \"a\" or \"b\",\n"
			 "  call = f({ 1, 2 }, \"z\"),\n"
			 "  \"positional\", 42;\n"
			 "  last = \"yes\"\n"
			 "})\n");

	(void)state;
	assert_int_equal(s.n, 1);
#define P "\"" NU_CHECK_PLACEHOLDER "\""
	expect_message(&s.sends[0], "{\"call\":" P ",\"cb\":" P ",\"empty\":\"\",\"escaped\":" P
		       ",\"last\":\"yes\",\"long\":\"as written\",\"offer\":{\"items\":[" P "," P
		       "],\"price\":" P ",\"title\":\"Q3\"},\"pick\":" P ",\"quoted key\":" P
		       ",\"template\":\"offer\"}");
#undef P
	nu_flow_scan_free(&s);
}

static void sends_left_unresolved(void **state)
{
	nu_scan s = scan("send(ch, { template = \"a\" })\n"
			 "send(\"email\", msg)\n"
			 "send(\"email\", { template = name })\n"
			 "send(\"email\", { template = \"tip_\" .. n })\n"
			 "send(\"email\", { [k] = 1, template = \"a\" })\n"
			 "send(\"email\", { template = \"a\", o = { [k] = 1 } })\n"
			 "send \"email\"\n"
			 "send(\"email\")\n"
			 "send(\"email\", { template = \"a\" } .. x)\n"
			 "send(\"e\\tmail\", { template = \"a\" })\n");

	(void)state;
	assert_int_equal(s.n, 10);
	expect_unresolved(&s.sends[0], 1, "channel is not a literal");
	expect_unresolved(&s.sends[1], 2, "not a table written in the call");
	expect_unresolved(&s.sends[2], 3, "template is computed");
	expect_unresolved(&s.sends[3], 4, "template is computed");
	expect_unresolved(&s.sends[4], 5, "computed key");
	expect_unresolved(&s.sends[5], 6, "computed key");
	expect_unresolved(&s.sends[6], 7, "without parentheses");
	expect_unresolved(&s.sends[7], 8, "no message");
	expect_unresolved(&s.sends[8], 9, "an expression");
	expect_unresolved(&s.sends[9], 10, "channel is not a literal");
	nu_flow_scan_free(&s);
}

static void other_sends_are_not_the_flow_api(void **state)
{
	nu_scan s = scan("local M = {}\n"
			 "function M.send(x) return x end\n"
			 "local function send(a) return a end\n"
			 "obj.send(\"email\", { template = \"a\" })\n"
			 "obj:send(\"email\", { template = \"a\" })\n"
			 "local f = send\n"
			 "resend(\"email\", { template = \"a\" })\n"
			 "send_all(\"email\", { template = \"a\" })\n"
			 "send (\n  'email' --[[ channel ]] , -- the message:\n  { template = 'spaced' } )\n");

	(void)state;
	assert_int_equal(s.n, 1);
	assert_int_equal(s.sends[0].line, 9);
	assert_string_equal(s.sends[0].tmpl, "spaced");
	nu_flow_scan_free(&s);
}

static void sends_inside_sends_and_no_template(void **state)
{
	nu_scan s = scan("send(\"email\", { template = \"a\", x = send(\"sms\", { text = \"hi\" }) })\n");

	(void)state;
	assert_int_equal(s.n, 2);
	assert_string_equal(s.sends[0].channel, "email");
	expect_message(&s.sends[0], "{\"template\":\"a\",\"x\":\"" NU_CHECK_PLACEHOLDER "\"}");
	assert_string_equal(s.sends[1].channel, "sms");
	assert_string_equal(s.sends[1].tmpl, "");   /* no template: resolved all the same */
	expect_message(&s.sends[1], "{\"text\":\"hi\"}");
	nu_flow_scan_free(&s);
}

static void broken_input_ends_cleanly(void **state)
{
	static const char *const bad[] = {
		"send(\"email\", { template = \"a\"", "send(\"email\", { a = (", "send(\"email\", {",
		"send(", "--[==[ never closed", "x = [[ never closed", "x = \"never closed",
		"send(\"email\", { a = function() end end end })", "\xff\xfe send", "",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		nu_scan s = scan(bad[i]);
		for (size_t k = 0; k < s.n; k++)
			assert_non_null(s.sends[k].message ? "resolved" : s.sends[k].unresolved);
		nu_flow_scan_free(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(literal_sends_are_read),
		cmocka_unit_test(comments_and_strings_hide_sends),
		cmocka_unit_test(lines_are_counted_everywhere),
		cmocka_unit_test(values_the_check_sees),
		cmocka_unit_test(sends_left_unresolved),
		cmocka_unit_test(other_sends_are_not_the_flow_api),
		cmocka_unit_test(sends_inside_sends_and_no_template),
		cmocka_unit_test(broken_input_ends_cleanly),
	};
	return cmocka_run_group_tests_name("flow_scan", tests, NULL, NULL);
}
