/*
 * test_timefmt.c — durations and instants as they appear in flow files
 * ("wait 3d", "send at 2026-03-01 09:30+08:00") and in CRM exports (epoch
 * milliseconds). Exact values were cross-checked with Python's datetime.
 * The calendar is also checked day by day against a naive day counter, so
 * the days-from-civil arithmetic is not only tested against itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

#define ERRSZ 512
#define DAY   INT64_C(86400000)

/* ------------------------------------------------------------------ tools */

static void dur_ok(const char *in, int64_t want)
{
	char err[ERRSZ] = "";
	int64_t ms = -12345;
	int rc = nu_duration_parse(in, &ms, err, sizeof err);

	if (rc != 0)
		print_error("nu_duration_parse(\"%s\") failed: %s\n", in, err);
	assert_int_equal(rc, 0);
	if (ms != want)
		print_error("nu_duration_parse(\"%s\") = %lld, want %lld\n", in,
		            (long long)ms, (long long)want);
	assert_true(ms == want);
}

static void dur_bad(const char *in, const char *want_err)
{
	char err[ERRSZ] = "";
	int64_t ms = -12345;
	int rc = nu_duration_parse(in, &ms, err, sizeof err);

	if (rc != -1)
		print_error("nu_duration_parse(\"%s\") gave %lld\n", in,
		            (long long)ms);
	assert_int_equal(rc, -1);
	assert_string_equal(err, want_err);
	assert_true(ms == -12345);          /* untouched on failure */
}

static void dur_fmt(int64_t ms, const char *want)
{
	char out[NU_DURATION_BUFSZ];

	assert_ptr_equal(nu_duration_format(ms, out, sizeof out), out);
	assert_string_equal(out, want);
}

static void time_ok(const char *in, int64_t want)
{
	char err[ERRSZ] = "";
	int64_t ms = -12345;
	int rc = nu_time_parse(in, &ms, err, sizeof err);

	if (rc != 0)
		print_error("nu_time_parse(\"%s\") failed: %s\n", in, err);
	assert_int_equal(rc, 0);
	if (ms != want)
		print_error("nu_time_parse(\"%s\") = %lld, want %lld\n", in,
		            (long long)ms, (long long)want);
	assert_true(ms == want);
}

static void time_bad(const char *in, const char *want_err)
{
	char err[ERRSZ] = "";
	int64_t ms = -12345;
	int rc = nu_time_parse(in, &ms, err, sizeof err);

	if (rc != -1)
		print_error("nu_time_parse(\"%s\") gave %lld\n", in, (long long)ms);
	assert_int_equal(rc, -1);
	assert_string_equal(err, want_err);
	assert_true(ms == -12345);
}

static void time_fmt(int64_t ms, const char *want)
{
	char out[NU_TIME_BUFSZ];

	assert_ptr_equal(nu_time_format(ms, out, sizeof out), out);
	assert_string_equal(out, want);
}

/* --------------------------------------------------------------- duration */

static void test_duration_parse(void **state)
{
	(void)state;
	dur_ok("3d", 259200000);
	dur_ok("2h30m", 9000000);
	dur_ok("90s", 90000);
	dur_ok("1w", 604800000);
	dur_ok("500ms", 500);
	dur_ok("13w", INT64_C(7862400000));
	dur_ok("1d12h", 129600000);
	dur_ok("0s", 0);
	dur_ok("90m", 5400000);              /* a unit may exceed the next one */
	dur_ok("36h", 129600000);
	dur_ok("1h500ms", 3600500);          /* units may be skipped */
	dur_ok("1w2d3h4m5s6ms", INT64_C(788645006));
	dur_ok("007m", 420000);
	dur_ok("15250284452w", INT64_C(9223372036569600000));  /* the most weeks */
}

static void test_duration_errors(void **state)
{
	(void)state;
	dur_bad("3x", "bad duration '3x': unknown unit 'x'");
	dur_bad("90", "bad duration '90': number 90 has no unit (ms, s, m, h, "
	        "d or w)");
	dur_bad("0", "bad duration '0': number 0 has no unit (ms, s, m, h, d "
	        "or w)");
	dur_bad("1h30", "bad duration '1h30': number 30 has no unit (ms, s, m, "
	        "h, d or w)");
	dur_bad("3D", "bad duration '3D': unknown unit 'D'");
	dur_bad("1min", "bad duration '1min': unknown unit 'min'");
	dur_bad("3\xE5\xA4\xA9", "bad duration '3\xE5\xA4\xA9': unknown unit "
	        "'\xE5\xA4\xA9'");                           /* 3天 */
	dur_bad("30m2h", "bad duration '30m2h': 'h' comes after 'm', write "
	        "larger units first");
	dur_bad("1h1h", "bad duration '1h1h': unit 'h' appears twice");
	dur_bad("1.5h", "bad duration '1.5h': fractions are not supported, "
	        "write e.g. 1h30m instead of 1.5h");
	dur_bad("-1h", "bad duration '-1h': a duration cannot be negative");
	dur_bad("h", "bad duration 'h': expected a number at 'h'");
	dur_bad("2h 30m", "bad duration '2h 30m': expected a number at ' 30m'");
	dur_bad("3 d", "bad duration '3 d': unexpected character ' '");
	dur_bad("3\td", "bad duration '3\\x09d': unexpected character '\\x09'");
	dur_bad("", "bad duration '': empty");
	dur_bad(NULL, "bad duration '': empty");
	dur_bad("99999999999999999999s", "bad duration '99999999999999999999s': "
	        "too large");
	dur_bad("15250284453w", "bad duration '15250284453w': too large");
	dur_bad("15250284452w7d", "bad duration '15250284452w7d': too large");
}

static void test_duration_format(void **state)
{
	(void)state;
	dur_fmt(259200000, "3d");
	dur_fmt(9000000, "2h30m");
	dur_fmt(0, "0s");
	dur_fmt(90000, "1m30s");
	dur_fmt(500, "500ms");
	dur_fmt(604800000, "1w");
	dur_fmt(INT64_C(7862400000), "13w");
	dur_fmt(10 * DAY, "10d");                 /* not "1w3d" */
	dur_fmt(129600000, "1d12h");
	dur_fmt(93784005, "1d2h3m4s5ms");
	dur_fmt(-9000000, "-2h30m");
	dur_fmt(INT64_MAX, "106751991167d7h12m55s807ms");
	dur_fmt(INT64_MIN, "-106751991167d7h12m55s808ms");
}

static void test_duration_format_truncates(void **state)
{
	char out[3] = "zz";

	(void)state;
	assert_ptr_equal(nu_duration_format(9000000, out, sizeof out), out);
	assert_string_equal(out, "2h");
	assert_null(nu_duration_format(1, NULL, 0));
}

static void test_duration_round_trip(void **state)
{
	static const char *const canonical[] = {
		"3d", "2h30m", "1w", "500ms", "13w", "1d12h", "0s", "10d",
		"1d2h3m4s5ms", "52w", "6d23h59m59s999ms",
	};
	static const struct { const char *in, *out; } folded[] = {
		{ "90s", "1m30s" }, { "36h", "1d12h" }, { "1w1d", "8d" },
		{ "14d", "2w" },    { "1000ms", "1s" }, { "120m", "2h" },
	};
	char out[NU_DURATION_BUFSZ], err[ERRSZ];
	uint64_t x = 88172645463325252u;
	int64_t ms = 0, back = 0;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof canonical / sizeof canonical[0]; i++) {
		assert_int_equal(nu_duration_parse(canonical[i], &ms, err,
		                                   sizeof err), 0);
		assert_string_equal(nu_duration_format(ms, out, sizeof out),
		                    canonical[i]);
	}
	for (i = 0; i < sizeof folded / sizeof folded[0]; i++) {
		assert_int_equal(nu_duration_parse(folded[i].in, &ms, err,
		                                   sizeof err), 0);
		assert_string_equal(nu_duration_format(ms, out, sizeof out),
		                    folded[i].out);
	}
	/* every non-negative value survives format -> parse exactly */
	for (i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ms = (int64_t)(x >> (1 + i % 63));
		nu_duration_format(ms, out, sizeof out);
		assert_int_equal(nu_duration_parse(out, &back, err, sizeof err), 0);
		assert_true(back == ms);
	}
}

/* ------------------------------------------------------------------- time */

static void test_time_parse_forms(void **state)
{
	(void)state;
	time_ok("2026-03-01T09:30:00Z", INT64_C(1772357400000));
	time_ok("2026-03-01t09:30:00z", INT64_C(1772357400000));
	time_ok("2026-03-01T09:30:00+00:00", INT64_C(1772357400000));
	time_ok("2026-03-01T09:30:00-00:00", INT64_C(1772357400000));
	time_ok("2026-03-01 09:30", INT64_C(1772357400000));
	time_ok("2026-03-01 09:30:00", INT64_C(1772357400000));
	time_ok("2026-03-01T09:30", INT64_C(1772357400000));
	time_ok("2026-03-01", INT64_C(1772323200000));
	time_ok("1970-01-01T00:00:00Z", 0);
	time_ok("1970-01-01", 0);
}

static void test_time_parse_offsets(void **state)
{
	(void)state;
	/* Beijing time, the usual way a Chinese campaign is scheduled */
	time_ok("2026-03-01T09:30:00.250+08:00", INT64_C(1772328600250));
	time_ok("2026-03-01T09:30:00+08:00", INT64_C(1772328600000));
	time_ok("2026-03-01 09:30+08:00", INT64_C(1772328600000));
	time_ok("2026-03-01 09:30 +08:00", INT64_C(1772328600000));
	time_ok("2026-03-01 09:30 Z", INT64_C(1772357400000));
	/* offsets that move the date */
	time_ok("2026-03-01T00:30:00+08:00", INT64_C(1772296200000));
	time_ok("2026-02-28T20:00:00-05:00", INT64_C(1772326800000));
	time_ok("2026-03-01T09:30:00+05:45", INT64_C(1772357400000) -
	        (5 * 60 + 45) * INT64_C(60000));                    /* Nepal */
	time_ok("2026-03-01T09:30:00-23:59", INT64_C(1772357400000) +
	        (23 * 60 + 59) * INT64_C(60000));
}

static void test_time_parse_fractions(void **state)
{
	(void)state;
	time_ok("2026-03-01T09:30:00.123Z", INT64_C(1772357400123));
	time_ok("2026-03-01T09:30:00.5Z", INT64_C(1772357400500));
	time_ok("2026-03-01T09:30:00.05Z", INT64_C(1772357400050));
	time_ok("2026-03-01T09:30:00.123999999Z", INT64_C(1772357400123));
	time_ok("2026-03-01 09:30:00.250", INT64_C(1772357400250));
	time_ok("1969-12-31T23:59:59.999Z", -1);
	time_ok("9999-12-31T23:59:59.999999Z", INT64_C(253402300799999));
}

static void test_time_parse_calendar(void **state)
{
	(void)state;
	time_ok("2028-02-29", INT64_C(1835395200000));        /* leap year */
	time_ok("2000-02-29", INT64_C(951782400000));         /* % 400 */
	time_ok("2026-02-28T23:59:59.999Z", INT64_C(1772323200000) - 1);
	time_ok("2026-12-31T23:59:59Z", INT64_C(1798761599000));
	time_ok("0000-01-01T00:00:00Z", INT64_C(-62167219200000));
	time_ok("0000-02-29", INT64_C(-62167219200000) + 59 * DAY); /* leap */
	time_bad("2026-02-29", "bad time '2026-02-29': day 29 is out of range, "
	         "February 2026 has 28 days");
	time_bad("1900-02-29", "bad time '1900-02-29': day 29 is out of range, "
	         "February 1900 has 28 days");
	time_bad("2028-02-30", "bad time '2028-02-30': day 30 is out of range, "
	         "February 2028 has 29 days");
	time_bad("2026-04-31", "bad time '2026-04-31': day 31 is out of range, "
	         "April 2026 has 30 days");
	time_bad("2026-03-00", "bad time '2026-03-00': day 00 is out of range, "
	         "March 2026 has 31 days");
	time_bad("2026-13-01", "bad time '2026-13-01': month 13 is out of range "
	         "(01-12)");
	time_bad("2026-00-10", "bad time '2026-00-10': month 00 is out of range "
	         "(01-12)");
}

/* Walks every day from 1600 to 2400 with a naive calendar and checks that
 * the parser lands on consecutive days and the formatter agrees. */
static void test_time_calendar_walk(void **state)
{
	static const int dim[] = { 31, 28, 31, 30, 31, 30,
	                           31, 31, 30, 31, 30, 31 };
	char in[48], out[NU_TIME_BUFSZ], want[64], err[ERRSZ];
	int64_t ms = 0, prev = 0;
	int y, m, d, n, first = 1;

	(void)state;
	for (y = 1600; y <= 2400; y++) {
		for (m = 1; m <= 12; m++) {
			n = dim[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) ||
			                             y % 400 == 0));
			for (d = 1; d <= n; d++) {
				snprintf(in, sizeof in, "%04d-%02d-%02d", y, m, d);
				assert_int_equal(nu_time_parse(in, &ms, err, sizeof err), 0);
				if (first)
					first = 0;
				else
					assert_true(ms - prev == DAY);
				prev = ms;
				snprintf(want, sizeof want, "%sT00:00:00Z", in);
				assert_string_equal(nu_time_format(ms, out, sizeof out),
				                    want);
			}
			snprintf(in, sizeof in, "%04d-%02d-%02d", y, m, n + 1);
			assert_int_equal(nu_time_parse(in, &ms, err, sizeof err), -1);
		}
	}
	/* and the walk is anchored where Python puts 1600-01-01 */
	assert_int_equal(nu_time_parse("1600-01-01", &ms, err, sizeof err), 0);
	assert_true(ms == INT64_C(-11676096000000));
}

static void test_time_parse_epoch(void **state)
{
	(void)state;
	time_ok("1772357400000", INT64_C(1772357400000));
	time_ok("100000000000", INT64_C(100000000000));        /* 12 digits */
	time_ok("000000000000", 0);
	time_ok("253402300799999", INT64_C(253402300799999));
	time_bad("1772357400", "bad time '1772357400': 10 digits look like "
	         "epoch seconds, give epoch milliseconds (13 digits)");
	time_bad("20260301", "bad time '20260301': a plain number is read as "
	         "epoch milliseconds and needs at least 12 digits");
	time_bad("99999999999", "bad time '99999999999': a plain number is read "
	         "as epoch milliseconds and needs at least 12 digits");
	time_bad("253402300800000", "bad time '253402300800000': epoch "
	         "milliseconds past the year 9999");
	time_bad("99999999999999999999999", "bad time '99999999999999999999999'"
	         ": epoch milliseconds past the year 9999");
}

static void test_time_parse_errors(void **state)
{
	(void)state;
	time_bad("", "bad time '': empty");
	time_bad(NULL, "bad time '': empty");
	time_bad("2026/03/01", "bad time '2026/03/01': expected a date as "
	         "YYYY-MM-DD");
	time_bad("2026-3-1", "bad time '2026-3-1': expected a date as "
	         "YYYY-MM-DD");
	time_bad("01-03-2026", "bad time '01-03-2026': expected a date as "
	         "YYYY-MM-DD");
	time_bad("2026-03", "bad time '2026-03': expected a date as YYYY-MM-DD");
	time_bad("2026-03-01T", "bad time '2026-03-01T': expected the time of "
	         "day as HH:MM or HH:MM:SS after the date");
	time_bad("2026-03-01 9:30", "bad time '2026-03-01 9:30': expected the "
	         "time of day as HH:MM or HH:MM:SS after the date");
	time_bad("2026-03-01T09:30:5Z", "bad time '2026-03-01T09:30:5Z': "
	         "expected two digits of seconds after HH:MM:");
	time_bad("2026-03-01T09:30:00.Z", "bad time '2026-03-01T09:30:00.Z': "
	         "expected digits after the decimal point");
	time_bad("2026-03-01T24:00:00Z", "bad time '2026-03-01T24:00:00Z': hour "
	         "24 is out of range (00-23)");
	time_bad("2026-03-01T09:60:00Z", "bad time '2026-03-01T09:60:00Z': "
	         "minute 60 is out of range (00-59)");
	time_bad("2026-03-01T23:59:60Z", "bad time '2026-03-01T23:59:60Z': "
	         "second 60 is out of range (00-59, leap seconds are not "
	         "supported)");
	time_bad("2026-03-01T09:30:00+0800", "bad time '2026-03-01T09:30:00+0800"
	         "': a UTC offset is Z or +HH:MM / -HH:MM, e.g. +08:00");
	time_bad("2026-03-01T09:30:00+8", "bad time '2026-03-01T09:30:00+8': a "
	         "UTC offset is Z or +HH:MM / -HH:MM, e.g. +08:00");
	time_bad("2026-03-01T09:30:00+24:00", "bad time '2026-03-01T09:30:00+24"
	         ":00': offset hour 24 is out of range (00-23)");
	time_bad("2026-03-01T09:30:00+08:60", "bad time '2026-03-01T09:30:00+08"
	         ":60': offset minute 60 is out of range (00-59)");
	time_bad("2026-03-01T09:30:00Z junk", "bad time '2026-03-01T09:30:00Z "
	         "junk': unexpected ' junk' at the end");
	time_bad("2026-03-01 09:30 CST", "bad time '2026-03-01 09:30 CST': "
	         "unexpected ' CST' at the end");
	time_bad("2026-03-01Z", "bad time '2026-03-01Z': unexpected 'Z' at the "
	         "end");
	time_bad(" 2026-03-01", "bad time ' 2026-03-01': expected a date as "
	         "YYYY-MM-DD");
	time_bad("2026-03-01\n09:30", "bad time '2026-03-01\\x0A09:30': "
	         "unexpected '\\x0A09:30' at the end");
	time_bad("0000-01-01T00:00:00+01:00", "bad time '0000-01-01T00:00:00+01"
	         ":00': outside the years 0000-9999 once the offset is applied");
	time_bad("9999-12-31T23:00:00-01:00", "bad time '9999-12-31T23:00:00-01"
	         ":00': outside the years 0000-9999 once the offset is applied");
}

static void test_time_format(void **state)
{
	(void)state;
	time_fmt(INT64_C(1772357400000), "2026-03-01T09:30:00Z");
	time_fmt(INT64_C(1772357400250), "2026-03-01T09:30:00.250Z");
	time_fmt(INT64_C(1772357400001), "2026-03-01T09:30:00.001Z");
	time_fmt(0, "1970-01-01T00:00:00Z");
	time_fmt(-1, "1969-12-31T23:59:59.999Z");
	time_fmt(-DAY, "1969-12-31T00:00:00Z");
	time_fmt(INT64_C(1835395200000), "2028-02-29T00:00:00Z");
	time_fmt(INT64_C(253402300799999), "9999-12-31T23:59:59.999Z");
	time_fmt(INT64_C(-62167219200000), "0000-01-01T00:00:00Z");
	/* out of the four-digit range: still a readable, exact year */
	time_fmt(INT64_MAX, "292278994-08-17T07:12:55.807Z");
	time_fmt(INT64_MIN, "-292275055-05-16T16:47:04.192Z");
}

static void test_time_format_truncates(void **state)
{
	char out[11] = "zz";

	(void)state;
	assert_ptr_equal(nu_time_format(INT64_C(1772357400000), out, sizeof out),
	                 out);
	assert_string_equal(out, "2026-03-01");
	assert_null(nu_time_format(0, NULL, 0));
}

static void test_time_round_trip(void **state)
{
	char out[NU_TIME_BUFSZ], err[ERRSZ];
	uint64_t x = 0x9E3779B97F4A7C15u;
	const uint64_t span = (uint64_t)(INT64_C(253402300799999) -
	                                 INT64_C(-62167219200000)) + 1;
	int64_t ms, back = 0;
	int i;

	(void)state;
	for (i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		ms = INT64_C(-62167219200000) + (int64_t)(x % span);
		if (i % 2)
			ms -= ms % 1000;       /* half without milliseconds */
		nu_time_format(ms, out, sizeof out);
		if (nu_time_parse(out, &back, err, sizeof err) != 0)
			print_error("%s: %s\n", out, err);
		assert_true(back == ms);
	}
}

static void test_time_now(void **state)
{
	int64_t before, now, after;

	(void)state;
	before = (int64_t)time(NULL) * 1000;
	now = nu_time_now_ms();
	after = (int64_t)time(NULL) * 1000 + 999;
	assert_true(before <= now && now <= after);
	assert_true(now > INT64_C(1767225600000));   /* after 2026-01-01 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_errors),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_duration_format_truncates),
		cmocka_unit_test(test_duration_round_trip),
		cmocka_unit_test(test_time_parse_forms),
		cmocka_unit_test(test_time_parse_offsets),
		cmocka_unit_test(test_time_parse_fractions),
		cmocka_unit_test(test_time_parse_calendar),
		cmocka_unit_test(test_time_calendar_walk),
		cmocka_unit_test(test_time_parse_epoch),
		cmocka_unit_test(test_time_parse_errors),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_time_format_truncates),
		cmocka_unit_test(test_time_round_trip),
		cmocka_unit_test(test_time_now),
	};

	return cmocka_run_group_tests_name("timefmt", tests, NULL, NULL);
}
