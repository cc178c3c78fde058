/*
 * test_csv.c — unit tests for the streaming CSV reader (core/csv.c).
 *
 * Every test feeds exact bytes through a tmpfile() and checks exact field
 * values, field counts, line numbers and error messages, so a parser that
 * drops, merges or mangles anything fails here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"

#define MIB (1024 * 1024)

/* A reader over a temporary file holding exactly n bytes of s. */
typedef struct {
	FILE *f;
	nu_csv *c;
} reader;

static reader open_bytes(const char *s, size_t n)
{
	reader r;

	r.f = tmpfile();
	assert_non_null(r.f);
	if (n > 0) assert_int_equal(fwrite(s, 1, n, r.f), n);
	rewind(r.f);
	r.c = nu_csv_open(r.f);
	assert_non_null(r.c);
	return r;
}

static reader open_str(const char *s)
{
	return open_bytes(s, strlen(s));
}

static void close_reader(reader *r)
{
	nu_csv_close(r->c);
	fclose(r->f);
}

/* Reads one record and checks that it is exactly want[0..n) at line. */
static void expect_rec(reader *r, long line, const char *const *want, size_t n)
{
	char **fields = NULL;
	size_t nfields = 99, i;
	long got_line = -7;
	char err[128] = "";

	assert_int_equal(nu_csv_next(r->c, &fields, &nfields, &got_line, err, sizeof err), 1);
	assert_string_equal(err, "");
	assert_int_equal(got_line, line);
	assert_int_equal(nfields, n);
	assert_non_null(fields);
	for (i = 0; i < n; i++) assert_string_equal(fields[i], want[i]);
}

#define EXPECT(r, line, ...)                                              \
	expect_rec((r), (line), (const char *const[]){__VA_ARGS__},           \
			   sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))

/* Reads one record and checks that it is refused with msg at line. */
static void expect_err(reader *r, long line, const char *msg)
{
	char **fields = (char **)1;
	size_t nfields = 99;
	long got_line = -7;
	char err[128] = "";

	assert_int_equal(nu_csv_next(r->c, &fields, &nfields, &got_line, err, sizeof err), -1);
	assert_string_equal(err, msg);
	assert_int_equal(got_line, line);
	assert_null(fields);
	assert_int_equal(nfields, 0);
}

static void expect_eof(reader *r, long line)
{
	char **fields = (char **)1;
	size_t nfields = 99;
	long got_line = -7;
	char err[128] = "";

	assert_int_equal(nu_csv_next(r->c, &fields, &nfields, &got_line, err, sizeof err), 0);
	assert_int_equal(got_line, line);
	assert_null(fields);
	assert_int_equal(nfields, 0);
}

/* ---------------------------------------------------------------- tests */

static void test_simple_rows(void **state)
{
	(void)state;
	reader r = open_str("id,name,email\n1,Ann,ann@example.com\n2,,\n");

	EXPECT(&r, 1, "id", "name", "email");
	EXPECT(&r, 2, "1", "Ann", "ann@example.com");
	EXPECT(&r, 3, "2", "", "");
	expect_eof(&r, 4);
	expect_eof(&r, 4); /* end of input stays the end */
	close_reader(&r);
}

static void test_single_field_and_spaces(void **state)
{
	(void)state;
	/* Spaces are data; a lone field is a record of one. */
	reader r = open_str("only\n a , b \n,\n");

	EXPECT(&r, 1, "only");
	EXPECT(&r, 2, " a ", " b ");
	EXPECT(&r, 3, "", "");
	expect_eof(&r, 4);
	close_reader(&r);
}

static void test_quoted_commas(void **state)
{
	(void)state;
	reader r = open_str("\"Smith, John\",\"a,b,c\",x\n\"\",\",\"\n");

	EXPECT(&r, 1, "Smith, John", "a,b,c", "x");
	EXPECT(&r, 2, "", ",");
	expect_eof(&r, 3);
	close_reader(&r);
}

static void test_doubled_quotes(void **state)
{
	(void)state;
	reader r = open_str("\"say \"\"hi\"\"\",\"\"\"\",\"\"\"\"\"\"\n\"end\"\"\"\n");

	EXPECT(&r, 1, "say \"hi\"", "\"", "\"\"");
	EXPECT(&r, 2, "end\"");
	expect_eof(&r, 3);
	close_reader(&r);
}

static void test_newline_in_quotes(void **state)
{
	(void)state;
	reader r = open_str("\"line one\nline two\n\nline four\",z\n"
						"next,1\n"
						"\"p\r\nq\"\r\n"
						"after,2\n");

	EXPECT(&r, 1, "line one\nline two\n\nline four", "z");
	EXPECT(&r, 5, "next", "1");
	EXPECT(&r, 6, "p\r\nq"); /* CRLF inside quotes is data, kept as is */
	EXPECT(&r, 8, "after", "2");
	expect_eof(&r, 9);
	close_reader(&r);
}

static void test_crlf(void **state)
{
	(void)state;
	reader r = open_str("a,b\r\n\"c\",\"d\"\r\ne,\r\nf\rg,h\r\n");

	EXPECT(&r, 1, "a", "b");
	EXPECT(&r, 2, "c", "d");
	EXPECT(&r, 3, "e", "");
	EXPECT(&r, 4, "f\rg", "h"); /* a bare CR is not a record end */
	expect_eof(&r, 5);
	close_reader(&r);
}

static void test_bom(void **state)
{
	(void)state;
	reader r = open_str("\xEF\xBB\xBFid,name\n\xEF\xBB\xBFx,y\n");

	EXPECT(&r, 1, "id", "name");
	EXPECT(&r, 2, "\xEF\xBB\xBFx", "y"); /* only the one at offset 0 goes */
	expect_eof(&r, 3);
	close_reader(&r);

	r = open_str("\xEF\xBB\xBF\"q\"\n");
	EXPECT(&r, 1, "q");
	expect_eof(&r, 2);
	close_reader(&r);

	r = open_str("\xEF\xBB\xBF");
	expect_eof(&r, 1);
	close_reader(&r);
}

static void test_blank_lines_skipped(void **state)
{
	(void)state;
	reader r = open_str("\n\na,1\n\r\n\nb,2\n\n\r\n");

	EXPECT(&r, 3, "a", "1");
	EXPECT(&r, 6, "b", "2");
	expect_eof(&r, 9);
	close_reader(&r);
}

static void test_empty_input(void **state)
{
	(void)state;
	reader r = open_bytes("", 0);

	expect_eof(&r, 1);
	assert_int_equal(nu_csv_offset(r.c), 0);
	close_reader(&r);
}

static void test_missing_trailing_newline(void **state)
{
	(void)state;
	reader r = open_str("a,b\nc,d");

	EXPECT(&r, 1, "a", "b");
	EXPECT(&r, 2, "c", "d");
	expect_eof(&r, 2);
	close_reader(&r);

	r = open_str("x,");
	EXPECT(&r, 1, "x", "");
	expect_eof(&r, 1);
	close_reader(&r);

	r = open_str("x,\"q\"\"\"");
	EXPECT(&r, 1, "x", "q\"");
	expect_eof(&r, 1);
	close_reader(&r);
}

static void test_unterminated_quote_at_eof(void **state)
{
	(void)state;
	reader r = open_str("a,b\nc,\"oops\nmore\nstill more\n");

	EXPECT(&r, 1, "a", "b");
	expect_err(&r, 2, "unterminated quoted field");
	expect_eof(&r, 5);
	close_reader(&r);
}

static void test_stray_quote_then_recover(void **state)
{
	(void)state;
	reader r = open_str("a,b\"c,d\n"
						"next,ok\n"
						"\"closed\"x,y\n"
						"last,\"one\"\n");

	expect_err(&r, 1, "stray quote in unquoted field");
	EXPECT(&r, 2, "next", "ok");
	expect_err(&r, 3, "unexpected character after closing quote");
	EXPECT(&r, 4, "last", "one");
	expect_eof(&r, 5);
	close_reader(&r);
}

static void test_error_without_err_buffer(void **state)
{
	(void)state;
	reader r = open_str("a\"b\nc\n");
	char **fields;
	size_t nfields;

	/* err and line are optional. */
	assert_int_equal(nu_csv_next(r.c, &fields, &nfields, NULL, NULL, 0), -1);
	assert_int_equal(nu_csv_next(r.c, &fields, &nfields, NULL, NULL, 0), 1);
	assert_int_equal(nfields, 1);
	assert_string_equal(fields[0], "c");
	close_reader(&r);
}

static void test_chinese_utf8(void **state)
{
	(void)state;
	reader r = open_str("姓名,城市,备注\n"
						"张伟,\"北京，朝阳区\",\"他说：\"\"你好\"\"\"\n"
						"李娜,上海,😀\n");

	EXPECT(&r, 1, "姓名", "城市", "备注");
	EXPECT(&r, 2, "张伟", "北京，朝阳区", "他说：\"你好\"");
	EXPECT(&r, 3, "李娜", "上海", "😀");
	expect_eof(&r, 4);
	close_reader(&r);
}

/* Fills p[0..n) with a pattern that never repeats at block-size strides. */
static void pattern(char *p, size_t n, int with_commas)
{
	size_t i;

	for (i = 0; i < n; i++) p[i] = (char)('a' + (i * 7 + i / 13) % 26);
	if (with_commas)
		for (i = 100; i < n; i += 1000) p[i] = ',';
}

static void test_large_field(void **state)
{
	(void)state;
	const size_t n = 200 * 1000;
	char *big = malloc(n + 1), *in = malloc(2 * n + 64), *q;
	char **fields;
	size_t nfields, len = 0;
	long line;
	char err[64];
	reader r;

	assert_non_null(big);
	assert_non_null(in);
	pattern(big, n, 0);
	big[n] = '\0';

	/* Line 1: id,<200 KB plain>,tail.  Line 2: "<200 KB with commas>". */
	len += (size_t)sprintf(in + len, "id,");
	memcpy(in + len, big, n), len += n;
	len += (size_t)sprintf(in + len, ",tail\n\"");
	q = in + len;
	memcpy(q, big, n), len += n;
	pattern(q, n, 1);
	len += (size_t)sprintf(in + len, "\"\nz\n");

	r = open_bytes(in, len);
	assert_int_equal(nu_csv_next(r.c, &fields, &nfields, &line, err, sizeof err), 1);
	assert_int_equal(line, 1);
	assert_int_equal(nfields, 3);
	assert_string_equal(fields[0], "id");
	assert_int_equal(strlen(fields[1]), n);
	assert_memory_equal(fields[1], big, n);
	assert_string_equal(fields[2], "tail");

	pattern(big, n, 1);
	assert_int_equal(nu_csv_next(r.c, &fields, &nfields, &line, err, sizeof err), 1);
	assert_int_equal(line, 2);
	assert_int_equal(nfields, 1);
	assert_int_equal(strlen(fields[0]), n);
	assert_memory_equal(fields[0], big, n);

	EXPECT(&r, 3, "z");
	expect_eof(&r, 4);
	assert_int_equal(nu_csv_offset(r.c), len);
	close_reader(&r);
	free(big);
	free(in);
}

static void test_record_over_1mib_refused(void **state)
{
	(void)state;
	const size_t n = MIB + MIB / 2;
	char *in = malloc(2 * n + 128);
	size_t len = 0, i;
	reader r;

	if (!in)
		abort();   /* not assert_non_null: GCC must see that NULL stops here */
	len += (size_t)sprintf(in + len, "ok,1\n");
	/* Line 2: one unquoted 1.5 MiB field. */
	memset(in + len, 'x', n), len += n;
	len += (size_t)sprintf(in + len, "\nafter,2\n");
	/* Line 4: a quoted 1.5 MiB field holding 3 newlines and commas; the
     * reader has to skip it whole, not resync inside it. */
	in[len++] = '"';
	for (i = 0; i < n; i++) in[len++] = (i % 500000 == 499999) ? '\n' : (i % 7 ? 'y' : ',');
	len += (size_t)sprintf(in + len, "\",tail\r\nlast,3\n");

	r = open_bytes(in, len);
	EXPECT(&r, 1, "ok", "1");
	expect_err(&r, 2, "record longer than 1 MiB");
	EXPECT(&r, 3, "after", "2");
	expect_err(&r, 4, "record longer than 1 MiB");
	EXPECT(&r, 8, "last", "3");
	expect_eof(&r, 9);
	close_reader(&r);
	free(in);
}

static void test_record_just_under_cap(void **state)
{
	(void)state;
	/* 1 MiB of field bytes including the NUL of each field is the limit:
     * two fields of 512 KiB - 1 bytes fit exactly. */
	const size_t n = MIB / 2 - 1;
	char *in = malloc(2 * n + 16);
	size_t len = 0;
	char **fields;
	size_t nfields;
	long line;
	char err[64];
	reader r;

	assert_non_null(in);
	memset(in, 'k', n), len += n;
	in[len++] = ',';
	memset(in + len, 'm', n), len += n;
	in[len++] = '\n';

	r = open_bytes(in, len);
	assert_int_equal(nu_csv_next(r.c, &fields, &nfields, &line, err, sizeof err), 1);
	assert_int_equal(nfields, 2);
	assert_int_equal(strlen(fields[0]), n);
	assert_int_equal(strlen(fields[1]), n);
	assert_int_equal(fields[1][0], 'm');
	expect_eof(&r, 2);
	close_reader(&r);

	/* One byte more is refused. */
	in[0] = 'k';
	memmove(in + 1, in, len), len++;
	r = open_bytes(in, len);
	expect_err(&r, 1, "record longer than 1 MiB");
	expect_eof(&r, 2);
	close_reader(&r);
	free(in);
}

/* Many small records so CR/LF pairs, "" pairs and closing quotes land on
 * every position relative to the 64 KiB read blocks. */
static void test_block_boundaries(void **state)
{
	(void)state;
	const int rows = 30000;
	FILE *f = tmpfile();
	nu_csv *c;
	char **fields;
	size_t nfields;
	long line;
	char err[64], want[32];
	int i;

	assert_non_null(f);
	for (i = 0; i < rows; i++) {
		if (i % 3 == 0) fprintf(f, "%d,\"q\"\"%d\"\r\n", i, i % 10);
		else if (i % 3 == 1) fprintf(f, "%d,\"a\nb\"\n", i);
		else fprintf(f, "%d,plain\r\n\n", i);
	}
	rewind(f);
	c = nu_csv_open(f);
	assert_non_null(c);

	long expect_line = 1;
	for (i = 0; i < rows; i++) {
		assert_int_equal(nu_csv_next(c, &fields, &nfields, &line, err, sizeof err), 1);
		assert_int_equal(line, expect_line);
		assert_int_equal(nfields, 2);
		snprintf(want, sizeof want, "%d", i);
		assert_string_equal(fields[0], want);
		if (i % 3 == 0) {
			snprintf(want, sizeof want, "q\"%d", i % 10);
			assert_string_equal(fields[1], want);
			expect_line += 1;
		} else if (i % 3 == 1) {
			assert_string_equal(fields[1], "a\nb");
			expect_line += 2;
		} else {
			assert_string_equal(fields[1], "plain");
			expect_line += 2;
		}
	}
	assert_int_equal(nu_csv_next(c, &fields, &nfields, &line, err, sizeof err), 0);
	assert_int_equal(line, expect_line);
	assert_int_equal(nu_csv_offset(c), (uint64_t)ftell(f));
	nu_csv_close(c);
	fclose(f);
}

static void test_offset_progress(void **state)
{
	(void)state;
	reader r = open_str("ab,c\nd\n");

	assert_int_equal(nu_csv_offset(r.c), 0);
	EXPECT(&r, 1, "ab", "c");
	assert_int_equal(nu_csv_offset(r.c), 5);
	EXPECT(&r, 2, "d");
	assert_int_equal(nu_csv_offset(r.c), 7);
	expect_eof(&r, 3);
	assert_int_equal(nu_csv_offset(r.c), 7);
	close_reader(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_rows),
		cmocka_unit_test(test_single_field_and_spaces),
		cmocka_unit_test(test_quoted_commas),
		cmocka_unit_test(test_doubled_quotes),
		cmocka_unit_test(test_newline_in_quotes),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_blank_lines_skipped),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_missing_trailing_newline),
		cmocka_unit_test(test_unterminated_quote_at_eof),
		cmocka_unit_test(test_stray_quote_then_recover),
		cmocka_unit_test(test_error_without_err_buffer),
		cmocka_unit_test(test_chinese_utf8),
		cmocka_unit_test(test_large_field),
		cmocka_unit_test(test_record_over_1mib_refused),
		cmocka_unit_test(test_record_just_under_cap),
		cmocka_unit_test(test_block_boundaries),
		cmocka_unit_test(test_offset_progress),
	};

	return cmocka_run_group_tests_name("csv", tests, NULL, NULL);
}
