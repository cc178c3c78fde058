/*
 * test_normalize.c — identity normalisation as a Chinese B2B marketer meets
 * it: CRM exports, business cards, forms typed with a pinyin input method.
 * Every case asserts the exact output or the exact error message, because
 * both end up in front of users (as dedupe keys and as import reports).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "normalize.h"

#define ERRSZ 512

/* ------------------------------------------------------------------ tools */

static void email_ok(const char *in, const char *want)
{
	char out[NU_EMAIL_BUFSZ], err[ERRSZ] = "";
	int rc = nu_norm_email(in, out, sizeof out, err, sizeof err);

	if (rc != 0)
		print_error("nu_norm_email(\"%s\") failed: %s\n", in, err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, want);
}

static void email_bad(const char *in, const char *want_err)
{
	char out[NU_EMAIL_BUFSZ] = "junk", err[ERRSZ] = "";
	int rc = nu_norm_email(in, out, sizeof out, err, sizeof err);

	if (rc != -1)
		print_error("nu_norm_email(\"%s\") gave \"%s\"\n", in, out);
	assert_int_equal(rc, -1);
	assert_string_equal(err, want_err);
	assert_string_equal(out, "");
}

static void phone_ok(const char *in, const char *cc, const char *want)
{
	char out[NU_PHONE_BUFSZ], err[ERRSZ] = "";
	int rc = nu_norm_phone(in, cc, out, sizeof out, err, sizeof err);

	if (rc != 0)
		print_error("nu_norm_phone(\"%s\", %s) failed: %s\n", in,
		            cc ? cc : "NULL", err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, want);
}

static void phone_bad(const char *in, const char *cc, const char *want_err)
{
	char out[NU_PHONE_BUFSZ] = "junk", err[ERRSZ] = "";
	int rc = nu_norm_phone(in, cc, out, sizeof out, err, sizeof err);

	if (rc != -1)
		print_error("nu_norm_phone(\"%s\") gave \"%s\"\n", in, out);
	assert_int_equal(rc, -1);
	assert_string_equal(err, want_err);
	assert_string_equal(out, "");
}

static void token_ok(const char *in, const char *want)
{
	char out[NU_TOKEN_BUFSZ], err[ERRSZ] = "";
	int rc = nu_norm_token(in, out, sizeof out, err, sizeof err);

	if (rc != 0)
		print_error("nu_norm_token(\"%s\") failed: %s\n", in, err);
	assert_int_equal(rc, 0);
	assert_string_equal(out, want);
}

static void token_bad(const char *in, const char *want_err)
{
	char out[NU_TOKEN_BUFSZ] = "junk", err[ERRSZ] = "";
	int rc = nu_norm_token(in, out, sizeof out, err, sizeof err);

	if (rc != -1)
		print_error("nu_norm_token(\"%s\") gave \"%s\"\n", in, out);
	assert_int_equal(rc, -1);
	assert_string_equal(err, want_err);
	assert_string_equal(out, "");
}

/* ------------------------------------------------------------------ email */

static void test_email_trim_and_case(void **state)
{
	(void)state;
	email_ok(" Alice.Wang@Example.COM ", "alice.wang@example.com");
	email_ok("alice.wang@example.com", "alice.wang@example.com");
	/* ideographic space, tab, CRLF from a spreadsheet cell */
	email_ok("\t\xE3\x80\x80" "Bob@Acme.CN\xE3\x80\x80\r\n", "bob@acme.cn");
	/* the BOM Excel leaves on the first cell, and a no-break space */
	email_ok("\xEF\xBB\xBF" "carol@acme.cn\xC2\xA0", "carol@acme.cn");
	/* plus addressing and subdomains are kept as they are */
	email_ok("Zhang.San+Leads@Mail.Acme.COM.CN",
	         "zhang.san+leads@mail.acme.com.cn");
}

static void test_email_fullwidth(void **state)
{
	(void)state;
	/* typed with the input method still in full-width mode */
	email_ok("alice\xEF\xBC\xA0" "example\xEF\xBC\x8E" "com",
	         "alice@example.com");                   /* alice＠example．com */
	email_ok("\xEF\xBC\xA2\xEF\xBC\xAF\xEF\xBC\xA2@acme.cn",
	         "bob@acme.cn");                         /* ＢＯＢ@acme.cn */
	email_ok("li@example\xE3\x80\x82" "com",
	         "li@example.com");                      /* li@example。com */
	/* internationalised domains stay UTF-8 */
	email_ok("Li@\xE5\x85\xAC\xE5\x8F\xB8.\xE4\xB8\xAD\xE5\x9B\xBD",
	         "li@\xE5\x85\xAC\xE5\x8F\xB8.\xE4\xB8\xAD\xE5\x9B\xBD");
}

static void test_email_shape_errors(void **state)
{
	(void)state;
	email_bad("foo@", "email 'foo@' has no domain");
	email_bad("a@b@acme.cn", "email 'a@b@acme.cn' has more than one '@'");
	email_bad("alice wang@acme.cn", "email 'alice wang@acme.cn' contains "
	          "a space");
	email_bad("alice@acme .cn", "email 'alice@acme .cn' contains a space");
	email_bad("alice\xE3\x80\x80@acme.cn",
	          "email 'alice\xE3\x80\x80@acme.cn' contains a space");
	email_bad("Alice Wang <alice@acme.cn>", "email 'Alice Wang "
	          "<alice@acme.cn>' contains a space");
	email_bad("alice.acme.cn", "email 'alice.acme.cn' has no '@'");
	email_bad("@acme.cn", "email '@acme.cn' has nothing before the '@'");
	email_bad("alice..wang@acme.cn", "email 'alice..wang@acme.cn' has "
	          "consecutive dots");
	email_bad("alice@acme..cn", "email 'alice@acme..cn' has consecutive "
	          "dots");
	email_bad("alice@localhost", "email 'alice@localhost' has no dot in "
	          "the domain");
	email_bad("alice@.acme.cn", "email 'alice@.acme.cn' has a domain that "
	          "starts with a dot");
	email_bad("alice@acme.cn.", "email 'alice@acme.cn.' has a domain that "
	          "ends with a dot");
	email_bad("alice@acme,cn", "email 'alice@acme,cn' has ',' in the "
	          "domain");
	email_bad("alice@acme_corp.cn", "email 'alice@acme_corp.cn' has '_' in "
	          "the domain");
	email_bad("alice;bob@acme.cn", "email 'alice;bob@acme.cn' has ';' "
	          "before the '@'");
}

static void test_email_bad_bytes(void **state)
{
	(void)state;
	email_bad("", "email is empty");
	email_bad(" \xE3\x80\x80\t", "email is empty");
	email_bad(NULL, "email is empty");
	email_bad("alice\x01@acme.cn", "email 'alice\\x01@acme.cn' contains a "
	          "control character");
	email_bad("alice\xFF@acme.cn", "email 'alice\\xFF@acme.cn' is not "
	          "valid UTF-8");
	/* a zero-width space pasted from a WeChat message */
	email_bad("alice\xE2\x80\x8B@acme.cn", "email 'alice\xE2\x80\x8B"
	          "@acme.cn' contains an invisible character (U+200B)");
}

static void test_email_length(void **state)
{
	char in[300], want[300];

	(void)state;
	/* 64 + 1 + 185 + 4 = 254 bytes: the limit itself is fine */
	memset(in, 'a', 64);
	in[64] = '@';
	memset(in + 65, 'b', 185);
	memcpy(in + 250, ".com", 5);
	assert_int_equal(strlen(in), 254);
	email_ok(in, in);

	/* one more byte is refused; the message quotes 64 bytes and "..." */
	memset(in, 'a', 65);
	in[65] = '@';
	memset(in + 66, 'b', 185);
	memcpy(in + 251, ".com", 5);
	assert_int_equal(strlen(in), 255);
	memcpy(want, "email '", 7);
	memset(want + 7, 'a', 64);
	strcpy(want + 71, "...' is longer than 254 bytes");
	email_bad(in, want);
}

static void test_email_buffers(void **state)
{
	char out[8] = "junk";

	(void)state;
	assert_int_equal(nu_norm_email("alice@acme.cn", out, sizeof out, NULL,
	                               0), -1);
	assert_string_equal(out, "");
	{
		char err[ERRSZ];
		assert_int_equal(nu_norm_email("alice@acme.cn", out, sizeof out,
		                               err, sizeof err), -1);
		assert_string_equal(err, "email 'alice@acme.cn' needs 14 bytes of "
		                    "output, got 8");
	}
	/* a short error buffer still gets a terminated, truncated message */
	{
		char big[NU_EMAIL_BUFSZ], err[12];
		assert_int_equal(nu_norm_email("foo@", big, sizeof big, err,
		                               sizeof err), -1);
		assert_string_equal(err, "email 'foo@");
	}
}

/* ------------------------------------------------------------------ phone */

static void test_phone_cn_mobile(void **state)
{
	static const char *const forms[] = {
		"138 0013 8000",
		"13800138000",
		"+86 138-0013-8000",
		"+86 (138) 0013.8000",
		"+8613800138000",
		"008613800138000",
		"0086 138 0013 8000",
		"8613800138000",            /* country code without '+' */
		"86-138-0013-8000",
		" 138 0013 8000\xE3\x80\x80",
		/* １３８００１３８０００, full-width digits */
		"\xEF\xBC\x91\xEF\xBC\x93\xEF\xBC\x98\xEF\xBC\x90\xEF\xBC\x90"
		"\xEF\xBC\x91\xEF\xBC\x93\xEF\xBC\x98\xEF\xBC\x90\xEF\xBC\x90"
		"\xEF\xBC\x90",
		/* ＋８６　１３８－００１３－８０００: full-width '+', '-' and U+3000 */
		"\xEF\xBC\x8B\xEF\xBC\x98\xEF\xBC\x96\xE3\x80\x80"
		"\xEF\xBC\x91\xEF\xBC\x93\xEF\xBC\x98\xEF\xBC\x8D"
		"\xEF\xBC\x90\xEF\xBC\x90\xEF\xBC\x91\xEF\xBC\x93\xEF\xBC\x8D"
		"\xEF\xBC\x98\xEF\xBC\x90\xEF\xBC\x90\xEF\xBC\x90",
		"138\xE2\x80\x93" "0013\xE2\x80\x93" "8000",  /* en dashes (Word) */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		phone_ok(forms[i], "86", "+8613800138000");
		phone_ok(forms[i], "+86", "+8613800138000");
	}
	phone_ok("199 1234 5678", "86", "+8619912345678");
}

static void test_phone_cn_landline(void **state)
{
	(void)state;
	phone_ok("(010) 6552 9988", "86", "+861065529988");
	phone_ok("010-65529988", "86", "+861065529988");
	phone_ok("10 6552 9988", "86", "+861065529988");
	phone_ok("+86 10 6552 9988", "86", "+861065529988");
	phone_ok("+86 (0)10 6552 9988", "86", "+861065529988");
	phone_ok("+86 010 6552 9988", "86", "+861065529988"); /* stray trunk 0 */
	phone_ok("861065529988", "86", "+861065529988");
	/* （０１０）６５５２９９８８, full-width parentheses and digits */
	phone_ok("\xEF\xBC\x88\xEF\xBC\x90\xEF\xBC\x91\xEF\xBC\x90\xEF\xBC\x89"
	         "\xEF\xBC\x96\xEF\xBC\x95\xEF\xBC\x95\xEF\xBC\x92"
	         "\xEF\xBC\x99\xEF\xBC\x99\xEF\xBC\x98\xEF\xBC\x98",
	         "86", "+861065529988");
	phone_ok("021-6888-1234", "86", "+862168881234");       /* Shanghai */
	phone_ok("0755 8888 1234", "86", "+8675588881234");     /* Shenzhen */
	phone_ok("0571-8765432", "86", "+865718765432");        /* 7 digits */
	phone_ok("400-810-8888", "86", "+864008108888");        /* hotline */
}

static void test_phone_extensions(void **state)
{
	(void)state;
	phone_ok("13800138000\xE8\xBD\xAC" "123", "86", "+8613800138000"); /* 转 */
	phone_ok("13800138000 \xE8\xBD\x89 8", "86", "+8613800138000");    /* 轉 */
	phone_ok("010-65529988 \xE5\x88\x86\xE6\x9C\xBA 21", "86",
	         "+861065529988");                                        /* 分机 */
	phone_ok("010-65529988 ext. 21", "86", "+861065529988");
	phone_ok("010-65529988 x21", "86", "+861065529988");
	phone_ok("010-65529988#21", "86", "+861065529988");
	phone_ok("+1 415 555 0100 EXT 7", "86", "+14155550100");
	/* whatever follows the marker is dropped, letters included */
	phone_ok("13800138000 ext Sales Dept", "86", "+8613800138000");
}

static void test_phone_international(void **state)
{
	(void)state;
	phone_ok("+1 (415) 555-0100", "86", "+14155550100");
	phone_ok("001 415 555 0100", "86", "+14155550100");
	phone_ok("+44 (0)20 7946 0958", "86", "+442079460958");
	phone_ok("0044 20 7946 0958", "86", "+442079460958");
	phone_ok("+852 9123 4567", "86", "+85291234567");       /* Hong Kong */
	phone_ok("+886 912 345 678", "86", "+886912345678");    /* Taiwan */
	phone_ok("(415) 555-0100", "1", "+14155550100");
	phone_ok("1 415 555 0100", "1", "+14155550100");
	phone_ok("020 7946 0958", "44", "+442079460958");
	phone_ok("9123 4567", "852", "+85291234567");
	/* Kazakhstan (+7) mobiles are 10 digits starting with 7: a national
	 * number that begins with the country code must still get it, which
	 * is why "starts with the code" alone needs at least 11 digits. */
	phone_ok("701 234 5678", "7", "+77012345678");
	phone_ok("7 701 234 5678", "7", "+77012345678");
}

static void test_phone_country_code(void **state)
{
	(void)state;
	/* without a default only explicit international numbers pass */
	phone_ok("+86 138 0013 8000", NULL, "+8613800138000");
	phone_ok("0086 138 0013 8000", "", "+8613800138000");
	phone_bad("13800138000", NULL, "phone '13800138000' has no country "
	          "code: write it with '+' or '00', or set a default country "
	          "code");
	phone_bad("010 6552 9988", "", "phone '010 6552 9988' has no country "
	          "code: write it with '+' or '00', or set a default country "
	          "code");
	phone_bad("13800138000", "8a6", "default country code '8a6' must be 1 "
	          "to 3 digits");
	phone_bad("13800138000", "0086", "default country code '0086' must be "
	          "1 to 3 digits");
	phone_bad("13800138000", "+", "default country code '+' must be 1 to 3 "
	          "digits");
	phone_bad("+0 123 4567 8901", "86", "phone '+0 123 4567 8901' has a "
	          "country code that starts with 0");
}

static void test_phone_cn_plan_errors(void **state)
{
	(void)state;
	/* 11 digits not starting with 1 could only be a landline, and area
	 * codes 20-29 take exactly 8 more digits: this is a typo for a mobile
	 * (238 for 138), not a Chinese number. */
	phone_bad("+86 238 0013 8000", "86", "phone '+86 238 0013 8000' is not "
	          "a valid Chinese landline: 11 digits after +86, numbers in "
	          "area codes 20-29 have 10 (area code and 8 digits)");
	phone_bad("138 0013 800", "86", "phone '138 0013 800' is not a valid "
	          "Chinese mobile number: 10 digits after +86, mobiles have 11");
	phone_bad("+86 138 0013 80000", "86", "phone '+86 138 0013 80000' is "
	          "not a valid Chinese mobile number: 12 digits after +86, "
	          "mobiles have 11");
	phone_bad("010-6552-998", "86", "phone '010-6552-998' is not a valid "
	          "Beijing number: 9 digits after +86, Beijing numbers have 10 "
	          "(area code 10 and 8 digits)");
	phone_bad("+86 12 3456 7890", "86", "phone '+86 12 3456 7890' is not a "
	          "valid Chinese number: after +86, '12' starts neither a mobile "
	          "(13-19) nor Beijing's area code (10)");
	phone_bad("0755-123-45", "86", "phone '0755-123-45' is not a valid "
	          "Chinese landline: 8 digits after +86, numbers with a 3-digit "
	          "area code have 10 or 11");
	phone_bad("+86 00 10 6552 9988", "86", "phone '+86 00 10 6552 9988' "
	          "has an extra 0 after +86");
}

static void test_phone_errors(void **state)
{
	(void)state;
	phone_bad("12345", "86", "phone '12345' is too short: +8612345 has 7 "
	          "digits, E.164 allows 8 to 15");
	phone_bad("+1 415 555 0100 0000 0000", "86", "phone '+1 415 555 0100 "
	          "0000 0000' is too long: +1415555010000000000 has 19 digits, "
	          "E.164 allows 8 to 15");
	phone_bad("abc", "86", "phone 'abc' has letters");
	phone_bad("x123", "86", "phone 'x123' has letters");
	phone_bad("Tel: 13800138000", "86", "phone 'Tel: 13800138000' has "
	          "letters");
	phone_bad("1380013800O", "86", "phone '1380013800O' has letters");
	phone_bad("\xE6\x89\x8B\xE6\x9C\xBA" "13800138000", "86",
	          "phone '\xE6\x89\x8B\xE6\x9C\xBA" "13800138000' has unexpected "
	          "character '\xE6\x89\x8B'");                    /* 手机 */
	phone_bad("138/139 0013 8000", "86", "phone '138/139 0013 8000' has "
	          "unexpected character '/'");
	phone_bad("138\n0013 8000", "86", "phone '138\\x0A0013 8000' has "
	          "unexpected character '\\x0A'");
	phone_bad("138-0013-8000+1", "86", "phone '138-0013-8000+1' has a '+' "
	          "that is not at the start");
	phone_bad("", "86", "phone is empty");
	phone_bad(NULL, "86", "phone is empty");
	phone_bad("+", "86", "phone '+' has no digits");
	phone_bad("( ) -", "86", "phone '( ) -' has no digits");
	phone_bad("00", "86", "phone '00' has no digits after the international "
	          "prefix");
	phone_bad("138\xC0\x80", "86", "phone '138\\xC0\\x80' is not valid "
	          "UTF-8");
}

static void test_phone_buffers(void **state)
{
	char out[10] = "junk", err[ERRSZ];

	(void)state;
	assert_int_equal(nu_norm_phone("13800138000", "86", out, sizeof out,
	                               err, sizeof err), -1);
	assert_string_equal(err, "phone '13800138000' needs 15 bytes of output, "
	                    "got 10");
	assert_string_equal(out, "");
	assert_int_equal(nu_norm_phone("abc", "86", out, sizeof out, NULL, 0),
	                 -1);
}

/* ------------------------------------------------------------------ token */

static void test_token_ok(void **state)
{
	char in[NU_TOKEN_MAX + 1];

	(void)state;
	/* WeChat openids are case-sensitive: never folded */
	token_ok("  oAbC_123-XyZ9\xE3\x80\x80", "oAbC_123-XyZ9");
	token_ok("\xEF\xBB\xBF" "CRM-00042\r\n", "CRM-00042");
	token_ok("Acme Corp 0042", "Acme Corp 0042");
	token_ok("\xE5\xAE\xA2\xE6\x88\xB7-001", "\xE5\xAE\xA2\xE6\x88\xB7-001");
	memset(in, 'z', NU_TOKEN_MAX);
	in[NU_TOKEN_MAX] = '\0';
	token_ok(in, in);
}

static void test_token_errors(void **state)
{
	char in[NU_TOKEN_MAX + 2], want[ERRSZ];

	(void)state;
	token_bad("", "id is empty");
	token_bad(" \xE3\x80\x80 ", "id is empty");
	token_bad(NULL, "id is empty");
	token_bad("ab\tc", "id 'ab\\x09c' contains a control character");
	token_bad("ab\xC2\x85" "c", "id 'ab\\xC2\\x85c' contains a control "
	          "character");                              /* C1 NEL */
	token_bad("ab\xC3(", "id 'ab\\xC3(' is not valid UTF-8");
	memset(in, 'z', NU_TOKEN_MAX + 1);
	in[NU_TOKEN_MAX + 1] = '\0';
	memcpy(want, "id '", 4);
	memset(want + 4, 'z', 64);
	strcpy(want + 68, "...' is longer than 200 bytes (201)");
	token_bad(in, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_email_trim_and_case),
		cmocka_unit_test(test_email_fullwidth),
		cmocka_unit_test(test_email_shape_errors),
		cmocka_unit_test(test_email_bad_bytes),
		cmocka_unit_test(test_email_length),
		cmocka_unit_test(test_email_buffers),
		cmocka_unit_test(test_phone_cn_mobile),
		cmocka_unit_test(test_phone_cn_landline),
		cmocka_unit_test(test_phone_extensions),
		cmocka_unit_test(test_phone_international),
		cmocka_unit_test(test_phone_country_code),
		cmocka_unit_test(test_phone_cn_plan_errors),
		cmocka_unit_test(test_phone_errors),
		cmocka_unit_test(test_phone_buffers),
		cmocka_unit_test(test_token_ok),
		cmocka_unit_test(test_token_errors),
	};

	return cmocka_run_group_tests_name("normalize", tests, NULL, NULL);
}
