/*
 * test_track.c — the signed open, click and unsubscribe tokens of
 * core/track.c: round trips, fixed vectors, tampering, keys, canonical
 * base64url, exact payloads, the URL limit, tokens inside longer buffers.
 *
 * The fixed tokens were computed outside the code under test
 * (printf '<payload>' | openssl dgst -sha256 -hmac <KEY> -binary, and
 * basenc --base64url), and the payloads that must be refused are signed
 * here with OpenSSL's HMAC and the test's own base64url encoder, so a
 * verifier bug cannot hide behind the same bug in the signer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "track.h"

#define KEY ((const unsigned char *)"0123456789abcdef0123456789abcdef")
#define KEYLEN 32

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- helpers written independently of the code under test ---- */

/* Unpadded base64url of s[0..n) into a new string. */
static char *enc(const unsigned char *s, size_t n)
{
	char *out = malloc(n / 3 * 4 + 5), *o = out;

	assert_non_null(out);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);
		*o++ = B64URL[v >> 18];
		*o++ = B64URL[v >> 12 & 63];
		if (i + 1 < n)
			*o++ = B64URL[v >> 6 & 63];
		if (i + 2 < n)
			*o++ = B64URL[v & 63];
	}
	*o = '\0';
	return out;
}

/* A token over payload p[0..n), signed the documented way by the test. */
static char *sign_n(const char *p, size_t n, const unsigned char *key, size_t keylen)
{
	unsigned char mac[32];
	unsigned int len = 0;
	char *a, *b, *tok;

	assert_non_null(HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)p, n, mac, &len));
	assert_int_equal(len, 32);
	a = enc((const unsigned char *)p, n);
	b = enc(mac, 32);
	tok = malloc(strlen(a) + strlen(b) + 2);
	assert_non_null(tok);
	sprintf(tok, "%s.%s", a, b);
	free(a);
	free(b);
	return tok;
}

static char *sign(const char *payload)
{
	return sign_n(payload, strlen(payload), KEY, KEYLEN);
}

/* nu_track values are 2 KiB: on the heap. */
static nu_track *track(nu_track_kind kind, int64_t op, int link, const char *url)
{
	nu_track *t = calloc(1, sizeof *t);

	assert_non_null(t);
	t->kind = kind;
	t->op_id = op;
	t->link = link;
	if (url) {
		assert_true(strlen(url) <= NU_TRACK_URL_MAX);
		strcpy(t->url, url);
	}
	return t;
}

/* The core's token for these values (static buffer). */
static const char *made(nu_track_kind kind, int64_t op, int link, const char *url)
{
	static char tok[NU_TRACK_TOKEN_MAX];
	nu_track *t = track(kind, op, link, url);

	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), 0);
	assert_true(strlen(tok) < NU_TRACK_TOKEN_MAX);
	free(t);
	return tok;
}

/* s[0..n) verifies with the test key and says exactly this. */
static void expect(const char *s, size_t n, nu_track_kind kind, int64_t op, int link, const char *url)
{
	nu_track *t = malloc(sizeof *t);

	assert_non_null(t);
	memset(t, 0xAA, sizeof *t);
	if (nu_track_verify(s, n, KEY, KEYLEN, t) != 0)
		fail_msg("token '%.*s' was refused", (int)n, s);
	assert_int_equal(t->kind, kind);
	assert_int_equal(t->op_id, op);
	assert_int_equal(t->link, link);
	assert_string_equal(t->url, url ? url : "");
	free(t);
}

static void round_trip(nu_track_kind kind, int64_t op, int link, const char *url)
{
	const char *tok = made(kind, op, link, url);

	expect(tok, strlen(tok), kind, op, link, url);
}

/* s[0..n) is refused with the test key, and *t comes back zeroed. */
static void refused(const char *s, size_t n)
{
	nu_track *t = malloc(sizeof *t), *zero = calloc(1, sizeof *zero);

	assert_non_null(t);
	assert_non_null(zero);
	memset(t, 0xAA, sizeof *t);
	if (nu_track_verify(s, n, KEY, KEYLEN, t) != -1)
		fail_msg("token '%.*s' was accepted", (int)n, s);
	assert_memory_equal(t, zero, sizeof *t);
	free(t);
	free(zero);
}

/* A string of n bytes: prefix, then c up to n. */
static char *filled(const char *prefix, char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	memcpy(s, prefix, strlen(prefix));
	s[n] = '\0';
	return s;
}

/* ---- tests ---- */

static void test_round_trips(void **state)
{
	static const char *const urls[] = {
		"https://x.example/",
		"http://acme.example/a?x=1&y=2#top",
		"HTTPS://ACME.EXAMPLE/Path",
		"https://acme.example/a|b||c|",           /* bars after the link field are the URL's */
		"https://acme.example/%E4%BD%A0?q=\"'<>",  /* signed, so any printable byte travels */
	};

	(void)state;
	round_trip(NU_TRACK_OPEN, 42, 0, NULL);
	round_trip(NU_TRACK_UNSUB, 42, 0, NULL);
	round_trip(NU_TRACK_OPEN, 1, 0, NULL);
	round_trip(NU_TRACK_UNSUB, INT64_MAX, 0, NULL);
	for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++)
		round_trip(NU_TRACK_CLICK, 42, (int)i, urls[i]);
	round_trip(NU_TRACK_CLICK, 1, 0, "https://x.example/");
	round_trip(NU_TRACK_CLICK, INT64_MAX, INT_MAX, "https://x.example/");

	/* Opens and unsubscribes sign neither a link nor a URL: what the
	 * struct holds there is not in the token. */
	nu_track *t = track(NU_TRACK_OPEN, 42, 5, "https://x.example/");
	char buf[NU_TRACK_TOKEN_MAX];
	assert_int_equal(nu_track_make(buf, KEY, KEYLEN, t), 0);
	assert_string_equal(buf, made(NU_TRACK_OPEN, 42, 0, NULL));
	expect(buf, strlen(buf), NU_TRACK_OPEN, 42, 0, NULL);
	free(t);

	/* Each kind, op, link and URL signs differently. */
	char a[NU_TRACK_TOKEN_MAX];
	snprintf(a, sizeof a, "%s", made(NU_TRACK_CLICK, 42, 0, "https://x.example/"));
	assert_string_not_equal(a, made(NU_TRACK_CLICK, 43, 0, "https://x.example/"));
	assert_string_not_equal(a, made(NU_TRACK_CLICK, 42, 1, "https://x.example/"));
	assert_string_not_equal(a, made(NU_TRACK_CLICK, 42, 0, "https://x.example/."));
	snprintf(a, sizeof a, "%s", made(NU_TRACK_OPEN, 42, 0, NULL));
	assert_string_not_equal(a, made(NU_TRACK_UNSUB, 42, 0, NULL));
}

static void test_fixed_vectors(void **state)
{
	(void)state;
	/* printf 'o|42' | openssl dgst -sha256 -hmac <KEY> -binary | basenc --base64url */
	assert_string_equal(made(NU_TRACK_OPEN, 42, 0, NULL),
			    "b3w0Mg.rKG5-x8T2Dj9xRH6RG1XKVWi6_ue1umDSskVR4PMoNc");
	assert_string_equal(made(NU_TRACK_UNSUB, 42, 0, NULL),
			    "dXw0Mg.MqfajwOPBYDLEX_g4wMcGbo1IE4PMjTHESnBwd6-lXc");

	/* "c|42|0|https://x.example/" in base64url, three bytes at a time:
	 *   "c|4" 63 7c 34 -> 011000 110111 110000 110100 -> Y 3 w 0
	 *   "2|0" 32 7c 30 -> 001100 100111 110000 110000 -> M n w w
	 *   "|ht" 7c 68 74 -> 011111 000110 100001 110100 -> f G h 0
	 *   "tps" -> dHBz   "://" -> Oi8v   "x.e" -> eC5l   "xam" -> eGFt
	 *   "ple" -> cGxl   "/" 2f -> 001011 11(0000) -> L w   (no padding) */
	const char *tok = made(NU_TRACK_CLICK, 42, 0, "https://x.example/");
	assert_memory_equal(tok, "Y3w0MnwwfGh0dHBzOi8veC5leGFtcGxlLw.", 35);
	assert_string_equal(tok, "Y3w0MnwwfGh0dHBzOi8veC5leGFtcGxlLw."
				 "PGzjAcS28HFGBFMXIL4IIEOgaTv0t4q-8B1eVBkyyNg");

	/* The test's signer and the core's agree byte for byte. */
	char *mine = sign("c|7|3|https://acme.example/a?x=1&y=2");
	assert_string_equal(mine, made(NU_TRACK_CLICK, 7, 3, "https://acme.example/a?x=1&y=2"));
	assert_string_equal(mine, "Y3w3fDN8aHR0cHM6Ly9hY21lLmV4YW1wbGUvYT94PTEmeT0y."
				  "vDTcubWwYrmqgUS16wb4BP_io_wWQX5ckO9VcMZfPKs");
	free(mine);
	mine = sign("u|42");
	assert_string_equal(mine, made(NU_TRACK_UNSUB, 42, 0, NULL));
	free(mine);
}

static void test_tampering_refused(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ |\t\x7f\x80\xff";
	char tok[NU_TRACK_TOKEN_MAX], bad[NU_TRACK_TOKEN_MAX + 8];
	size_t n, tried = 0;

	(void)state;
	snprintf(tok, sizeof tok, "%s", made(NU_TRACK_CLICK, 42, 3, "https://acme.example/p?q=1"));
	n = strlen(tok);
	/* Every byte changed to every other character: payload, dot and MAC,
	 * including the last characters whose low bits base64 does not use,
	 * and a NUL inside the length. */
	for (size_t i = 0; i < n; i++) {
		for (const char *c = alphabet; *c; c++) {
			if (*c == tok[i])
				continue;
			memcpy(bad, tok, n + 1);
			bad[i] = *c;
			refused(bad, n);
			tried++;
		}
		memcpy(bad, tok, n + 1);
		bad[i] = '\0';
		refused(bad, n);
	}
	assert_true(tried > 60 * n);
	/* Every shorter prefix; longer; empty; parts swapped. */
	for (size_t k = 0; k < n; k++)
		refused(tok, k);
	snprintf(bad, sizeof bad, "%sA", tok);
	refused(bad, n + 1);
	snprintf(bad, sizeof bad, "%sAAAA", tok);
	refused(bad, n + 4);
	snprintf(bad, sizeof bad, "%s.", tok);
	refused(bad, n + 1);
	snprintf(bad, sizeof bad, "A%s", tok);
	refused(bad, n + 1);
	refused(NULL, 0);
	refused("", 0);
	refused(".", 1);
	snprintf(bad, sizeof bad, "%s.%.*s", strchr(tok, '.') + 1, (int)(strchr(tok, '.') - tok), tok);
	refused(bad, strlen(bad));
	/* Another op's MAC on this payload; this MAC on another payload. */
	snprintf(bad, sizeof bad, "%.*s%s", (int)(strchr(tok, '.') - tok), tok,
		 strchr(made(NU_TRACK_CLICK, 43, 3, "https://acme.example/p?q=1"), '.'));
	refused(bad, strlen(bad));
	snprintf(bad, sizeof bad, "%.*s%s", (int)(strchr(tok, '.') - tok), tok,
		 strchr(made(NU_TRACK_OPEN, 42, 0, NULL), '.'));
	refused(bad, strlen(bad));
	/* An open's MAC does not make "u|42" ("dXw0Mg") an unsubscribe. */
	snprintf(bad, sizeof bad, "dXw0Mg%s", strchr(made(NU_TRACK_OPEN, 42, 0, NULL), '.'));
	refused(bad, strlen(bad));
}

static void test_keys(void **state)
{
	static const unsigned char other[] = "0123456789abcdef0123456789abcdeF";
	static const unsigned char longer[] = "0123456789abcdef0123456789abcdefx";
	static const unsigned char long_key[] =
		"a key longer than the 64-byte SHA-256 block, which HMAC hashes first......";
	char tok[NU_TRACK_TOKEN_MAX];
	nu_track *t = track(NU_TRACK_OPEN, 42, 0, NULL), *v = malloc(sizeof *v);

	(void)state;
	assert_non_null(v);
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), 0);
	assert_int_equal(nu_track_verify(tok, strlen(tok), other, KEYLEN, v), -1);
	assert_int_equal(v->op_id, 0);
	assert_int_equal(nu_track_verify(tok, strlen(tok), KEY, KEYLEN - 1, v), -1);
	assert_int_equal(nu_track_verify(tok, strlen(tok), longer, KEYLEN + 1, v), -1);
	/* (HMAC pads short keys with zero bytes: KEY and KEY "\0" are one key.) */
	assert_int_equal(nu_track_verify(tok, strlen(tok), KEY, KEYLEN + 1, v), 0);
	assert_int_equal(nu_track_verify(tok, strlen(tok), KEY, 16, v), -1);
	assert_int_equal(nu_track_verify(tok, strlen(tok), NULL, 0, v), -1);
	assert_int_equal(nu_track_verify(tok, strlen(tok), NULL, KEYLEN, v), -1);

	/* Keys under NU_TRACK_KEY_MIN bytes are refused both ways, even for
	 * a token genuinely signed with them. */
	assert_int_equal(NU_TRACK_KEY_MIN, 16);
	strcpy(tok, "unchanged");
	assert_int_equal(nu_track_make(tok, KEY, 15, t), -1);
	assert_string_equal(tok, "");
	assert_int_equal(nu_track_make(tok, KEY, 0, t), -1);
	assert_int_equal(nu_track_make(tok, NULL, KEYLEN, t), -1);
	char *short_signed = sign_n("o|42", 4, KEY, 15);
	assert_int_equal(nu_track_verify(short_signed, strlen(short_signed), KEY, 15, v), -1);
	free(short_signed);
	assert_int_equal(nu_track_make(tok, KEY, 16, t), 0);
	assert_int_equal(nu_track_verify(tok, strlen(tok), KEY, 16, v), 0);
	assert_int_equal(v->op_id, 42);
	assert_int_equal(nu_track_verify(tok, strlen(tok), KEY, KEYLEN, v), -1);

	/* A long key works (and is not the same as its prefix). */
	assert_int_equal(nu_track_make(tok, long_key, sizeof long_key - 1, t), 0);
	assert_int_equal(nu_track_verify(tok, strlen(tok), long_key, sizeof long_key - 1, v), 0);
	assert_int_equal(nu_track_verify(tok, strlen(tok), long_key, 64, v), -1);
	free(t);
	free(v);
}

/* The character for base64url value (value of c) with its low `bits` bits set. */
static char low_bits_set(char c, int bits)
{
	const char *p = strchr(B64URL, c);

	assert_non_null(p);
	return B64URL[(p - B64URL) | ((1 << bits) - 1)];
}

static void test_non_canonical_base64url_refused(void **state)
{
	const char *good = made(NU_TRACK_OPEN, 42, 0, NULL);   /* b3w0Mg.rKG5…PMoNc */
	char tok[NU_TRACK_TOKEN_MAX + 8], *dot;
	size_t n = strlen(good);

	(void)state;
	/* "o|42" is 4 bytes: 6 characters, the last one with 4 unused bits. */
	snprintf(tok, sizeof tok, "%s", good);
	dot = strchr(tok, '.');
	assert_int_equal(dot - tok, 6);
	for (int bits = 1; bits <= 4; bits++) {
		snprintf(tok, sizeof tok, "%s", good);
		tok[5] = low_bits_set(tok[5], bits);
		assert_true(tok[5] != good[5]);
		refused(tok, n);
	}
	/* The MAC is 32 bytes: 43 characters, the last with 2 unused bits. */
	assert_int_equal(n - 7, 43);
	for (int bits = 1; bits <= 2; bits++) {
		snprintf(tok, sizeof tok, "%s", good);
		tok[n - 1] = low_bits_set(tok[n - 1], bits);
		assert_true(tok[n - 1] != good[n - 1]);
		refused(tok, n);
	}
	/* Padding, either part. */
	snprintf(tok, sizeof tok, "b3w0Mg==%s", strchr(good, '.'));
	refused(tok, strlen(tok));
	snprintf(tok, sizeof tok, "%s=", good);
	refused(tok, strlen(tok));
	/* The standard alphabet's + and / for - and _. */
	snprintf(tok, sizeof tok, "%s", good);
	for (char *c = tok; *c; c++)
		*c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
	assert_string_not_equal(tok, good);
	refused(tok, n);
	/* A length no base64 text has (4k + 1), white space, a MAC one byte short. */
	snprintf(tok, sizeof tok, "b3w0MgA%s", strchr(good, '.'));
	refused(tok, strlen(tok));
	snprintf(tok, sizeof tok, "b3w0 Mg%s", strchr(good, '.'));
	refused(tok, strlen(tok));
	snprintf(tok, sizeof tok, "%.*s", (int)n - 3, good);   /* 40 chars: 30 bytes */
	refused(tok, strlen(tok));
}

static void test_payloads_refused(void **state)
{
	static const char *const bad[] = {
		/* opens and unsubscribes */
		"o|0", "o|042", "o|00", "o|-1", "o|+1", "o| 1", "o|1 ", " o|1", "o|1x", "o|1|", "o|1|2",
		"o|", "o", "o1", "", "|1", "x|1", "O|1", "C|1|0|https://x.example/", "u|1|0",
		"o|9223372036854775808", "o|99999999999999999999", "o|0x10", "o|1e3",
		/* clicks: fields */
		"c|1", "c|1|", "c|1|0", "c|1|0|", "c||0|https://x.example/", "c|1||https://x.example/",
		"c|0|1|https://x.example/", "c|01|1|https://x.example/", "c|-1|1|https://x.example/",
		"c|1|01|https://x.example/", "c|1|00|https://x.example/", "c|1|-1|https://x.example/",
		"c|1|+1|https://x.example/", "c|1|2147483648|https://x.example/",
		"c|9223372036854775808|0|https://x.example/", "c|1 |0|https://x.example/",
		"c|1|0 |https://x.example/", "c|1|0https://x.example/",
		/* clicks: targets that are not http(s) URLs */
		"c|1|0|javascript:alert(1)", "c|1|0|JavaScript://x.example/%0aalert(1)",
		"c|1|0|data:text/html,x", "c|1|0|ftp://x.example/", "c|1|0|//evil.example/",
		"c|1|0|/relative", "c|1|0|http:/x.example/", "c|1|0|https:x.example",
		"c|1|0|httpx://x.example/", "c|1|0| https://x.example/",
		/* clicks: spaces, controls and junk after the URL */
		"c|1|0|https://x.example/a b", "c|1|0|https://x.example/ ", "c|1|0|https://x.example/\t",
		"c|1|0|https://x.example/\r\nSet-Cookie: a=b", "c|1|0|https://x.example/\n",
		"c|1|0|https://x.example/\x7f", "c|1|0|https://x.example/\x01",
		"c|1|0|https://x.example/\x1b[0m",
		/* no host, and bytes outside printable ASCII (percent-encode them) */
		"c|1|0|http://", "c|1|0|https://", "c|1|0|https://x.example/\xc3\xa9",
		"c|1|0|https://x.example/\xff",
	};

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *tok = sign(bad[i]);

		refused(tok, strlen(tok));
		free(tok);
	}
	/* A short target after a long one on the same stack: the scheme check
	 * must not read past the URL into what the last verify left there. */
	char *longer = sign("c|1|0|https://x.example/"), *shorter = sign("c|1|0|http");
	nu_track *t = malloc(sizeof *t);
	assert_non_null(t);
	assert_int_equal(nu_track_verify(longer, strlen(longer), KEY, KEYLEN, t), 0);
	refused(shorter, strlen(shorter));
	free(t);
	free(longer);
	free(shorter);
	/* NUL bytes: as junk at the end, inside the URL, inside a number. */
	static const struct { const char *p; size_t n; } nul[] = {
		{ "o|1\0", 4 }, { "o|1\0" "2", 5 }, { "u|\0" "1", 4 },
		{ "c|1|0|https://x.example/\0", 25 }, { "c|1|0|https://x.example/\0junk", 29 },
		{ "c|1\0|0|https://x.example/", 25 },
	};
	for (size_t i = 0; i < sizeof nul / sizeof nul[0]; i++) {
		char *tok = sign_n(nul[i].p, nul[i].n, KEY, KEYLEN);

		refused(tok, strlen(tok));
		free(tok);
	}

	/* The edges that are fine. */
	char *tok = sign("o|9223372036854775807");
	expect(tok, strlen(tok), NU_TRACK_OPEN, INT64_MAX, 0, NULL);
	free(tok);
	tok = sign("c|5|2147483647|https://x.example/");
	expect(tok, strlen(tok), NU_TRACK_CLICK, 5, INT_MAX, "https://x.example/");
	free(tok);
	tok = sign("c|5|0|hTtP://x.example/|1|2");
	expect(tok, strlen(tok), NU_TRACK_CLICK, 5, 0, "hTtP://x.example/|1|2");
	free(tok);
}

static void test_make_refuses(void **state)
{
	static const char *const bad_urls[] = {
		"", "javascript:alert(1)", "ftp://x.example/", "//x.example/", "/relative",
		"http:/x.example/", "https://x.example/a b", "https://x.example/\r\nX: y",
		"https://x.example/\t", "https://x.example/\x7f", " https://x.example/",
	};
	char tok[NU_TRACK_TOKEN_MAX];
	nu_track *t;

	(void)state;
	for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
		t = track(NU_TRACK_CLICK, 1, 0, bad_urls[i]);
		strcpy(tok, "unchanged");
		if (nu_track_make(tok, KEY, KEYLEN, t) != -1)
			fail_msg("click to '%s' was signed", bad_urls[i]);
		assert_string_equal(tok, "");
		free(t);
	}
	t = track(NU_TRACK_OPEN, 0, 0, NULL);
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), -1);
	t->op_id = -1;
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), -1);
	t->op_id = INT64_MIN;
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), -1);
	t->kind = NU_TRACK_UNSUB;
	t->op_id = 0;
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), -1);
	t->kind = (nu_track_kind)'x';
	t->op_id = 1;
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), -1);
	t->kind = (nu_track_kind)0;
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), -1);
	free(t);
	t = track(NU_TRACK_CLICK, 1, -1, "https://x.example/");
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), -1);
	t->link = INT_MIN;
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), -1);
	t->link = 0;
	t->op_id = 0;
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), -1);
	t->op_id = 1;
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), 0);
	free(t);
}

static void test_url_limit(void **state)
{
	char *max = filled("https://acme.example/?q=", 'a', NU_TRACK_URL_MAX);
	char *tok = malloc(NU_TRACK_TOKEN_MAX + 8);
	nu_track *t = track(NU_TRACK_CLICK, INT64_MAX, INT_MAX, max);

	(void)state;
	assert_non_null(tok);
	/* The longest URL with the longest numbers: the longest token, and it fits. */
	memset(tok, 'Z', NU_TRACK_TOKEN_MAX + 8);
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), 0);
	assert_true(strlen(tok) + 1 <= NU_TRACK_TOKEN_MAX);
	expect(tok, strlen(tok), NU_TRACK_CLICK, INT64_MAX, INT_MAX, max);
	free(t);

	/* One byte more is refused by make. nu_track.url cannot hold it, so
	 * the URL runs on past the array inside a larger allocation (where a
	 * caller that did not check the length would have put it). */
	size_t off = offsetof(nu_track, url);
	void *block = calloc(1, sizeof(nu_track) + 64);
	char *mem = block;
	assert_non_null(block);
	t = block;
	t->kind = NU_TRACK_CLICK;
	t->op_id = 1;
	t->link = 0;
	memset(mem + off, 'b', NU_TRACK_URL_MAX + 1);
	memcpy(mem + off, "https://acme.example/?q=", 24);
	mem[off + NU_TRACK_URL_MAX + 1] = '\0';
	assert_int_equal(strlen(mem + off), NU_TRACK_URL_MAX + 1);
	strcpy(tok, "unchanged");
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), -1);
	assert_string_equal(tok, "");
	/* …and at the limit it signs. */
	mem[off + NU_TRACK_URL_MAX] = '\0';
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, t), 0);
	expect(tok, strlen(tok), NU_TRACK_CLICK, 1, 0, mem + off);
	free(block);

	/* The same limit when verifying a payload signed by someone else. */
	char *p = malloc(NU_TRACK_URL_MAX + 64), *signed_tok;
	assert_non_null(p);
	snprintf(p, NU_TRACK_URL_MAX + 64, "c|9223372036854775807|2147483647|%s", max);
	signed_tok = sign(p);
	expect(signed_tok, strlen(signed_tok), NU_TRACK_CLICK, INT64_MAX, INT_MAX, max);
	assert_string_equal(signed_tok, made(NU_TRACK_CLICK, INT64_MAX, INT_MAX, max));
	free(signed_tok);
	snprintf(p, NU_TRACK_URL_MAX + 64, "c|1|0|%sb", max);
	signed_tok = sign(p);
	refused(signed_tok, strlen(signed_tok));
	free(signed_tok);
	snprintf(p, NU_TRACK_URL_MAX + 64, "c|9223372036854775807|2147483647|%sb", max);
	signed_tok = sign(p);
	refused(signed_tok, strlen(signed_tok));
	free(signed_tok);

	free(p);
	free(tok);
	free(max);
}

static void test_verify_slice(void **state)
{
	char buf[NU_TRACK_TOKEN_MAX + 64], tok[NU_TRACK_TOKEN_MAX];
	size_t n;

	(void)state;
	snprintf(tok, sizeof tok, "%s", made(NU_TRACK_CLICK, 7, 2, "https://acme.example/x"));
	n = strlen(tok);
	/* In the middle of a path, with more base64url characters after it. */
	snprintf(buf, sizeof buf, "/t/c/%sAAAA-_/x?utm=1", tok);
	expect(buf + 5, n, NU_TRACK_CLICK, 7, 2, "https://acme.example/x");
	refused(buf + 5, n + 4);
	refused(buf + 5, n - 1);
	refused(buf + 4, n + 1);
	refused(buf + 5, strlen(buf + 5));

	/* The same without a NUL anywhere near: a heap block of exactly n bytes. */
	char *exact = malloc(n);
	assert_non_null(exact);
	memcpy(exact, tok, n);
	expect(exact, n, NU_TRACK_CLICK, 7, 2, "https://acme.example/x");
	for (size_t k = 0; k < n; k++)
		refused(exact, k);
	free(exact);

	/* A token followed by another dot and more: only the slice verifies. */
	snprintf(buf, sizeof buf, "%s.%s", made(NU_TRACK_OPEN, 9, 0, NULL), "junk");
	expect(buf, strlen(made(NU_TRACK_OPEN, 9, 0, NULL)), NU_TRACK_OPEN, 9, 0, NULL);
	refused(buf, strlen(buf));
}

static void test_b64url_helpers(void **state)
{
	static const struct { const char *raw, *enc; } rfc4648[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg" },
		{ "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
	};
	unsigned char all[256], back[300];
	char out[400];

	(void)state;
	for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
		size_t n = strlen(rfc4648[i].raw);

		assert_int_equal(nu_b64url_encode((const unsigned char *)rfc4648[i].raw, n, out),
				 strlen(rfc4648[i].enc));
		assert_string_equal(out, rfc4648[i].enc);
		assert_int_equal(nu_b64url_decode(out, strlen(out), back, sizeof back), (long)n);
		assert_memory_equal(back, rfc4648[i].raw, n);
		/* Exactly enough room, and one byte less. */
		assert_int_equal(nu_b64url_decode(out, strlen(out), back, n), (long)n);
		if (n)
			assert_int_equal(nu_b64url_decode(out, strlen(out), back, n - 1), -1);
	}
	/* The URL alphabet: 0xfb 0xff -> "-_8" (base64 "+/8="). */
	assert_int_equal(nu_b64url_encode((const unsigned char *)"\xfb\xff", 2, out), 3);
	assert_string_equal(out, "-_8");
	/* Every byte value, at every length's remainder. */
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	for (size_t len = 253; len <= 256; len++) {
		char *mine = enc(all, len);
		size_t k = nu_b64url_encode(all, len, out);

		assert_string_equal(out, mine);
		assert_int_equal(nu_b64url_decode(out, k, back, sizeof back), (long)len);
		assert_memory_equal(back, all, len);
		free(mine);
	}
	/* Refused: impossible lengths, padding, other alphabets, stray bits. */
	assert_int_equal(nu_b64url_decode("Z", 1, back, sizeof back), -1);
	assert_int_equal(nu_b64url_decode("Zm9vY", 5, back, sizeof back), -1);
	assert_int_equal(nu_b64url_decode("Zg==", 4, back, sizeof back), -1);
	assert_int_equal(nu_b64url_decode("+/8", 3, back, sizeof back), -1);
	assert_int_equal(nu_b64url_decode("Zh", 2, back, sizeof back), -1);
	assert_int_equal(nu_b64url_decode("Zm9", 3, back, sizeof back), -1);
	assert_int_equal(nu_b64url_decode("Zm8", 3, back, sizeof back), 2);
	assert_int_equal(nu_b64url_decode("Zm\0v", 4, back, sizeof back), -1);
	assert_int_equal(nu_b64url_decode("Zm 9", 4, back, sizeof back), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_fixed_vectors),
		cmocka_unit_test(test_tampering_refused),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_non_canonical_base64url_refused),
		cmocka_unit_test(test_payloads_refused),
		cmocka_unit_test(test_make_refuses),
		cmocka_unit_test(test_url_limit),
		cmocka_unit_test(test_verify_slice),
		cmocka_unit_test(test_b64url_helpers),
	};

	return cmocka_run_group_tests_name("track", tests, NULL, NULL);
}
