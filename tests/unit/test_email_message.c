/*
 * test_email_message.c — unit tests for the email plugin's message library
 * (plugins/email: template.c, mime.c, tracking.c).
 *
 * Templates, MIME messages and tracked HTML are checked byte for byte.
 * Encoded words, quoted-printable and base64 are decoded back by the small
 * decoders here (not by the code under test), and the fixed tokens and the
 * boundary were cross-checked with `openssl dgst -sha256 -hmac` and
 * `sha256sum`. The plugin makes no tokens: its URLs come from a maker
 * (the daemon's track_url); the tests' maker signs with the core's
 * nu_track_make (core/track.c, tested in test_track.c) and the test key.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* strndup, strncasecmp, gmtime_r, mkdtemp */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "testfiles.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "mime.h"
#include "template.h"
#include "tracking.h"
#include "track.h"   /* core/: the signer behind the tests' maker */

#define T0 1790000000000LL   /* Mon, 21 Sep 2026 14:13:20 +0000 */
#define KEY ((const unsigned char *)"0123456789abcdef0123456789abcdef")
#define KEYLEN 32
#define BOUNDARY42 "=_nu_ca46a448f852fcbba7b2ead6fd894f41"   /* sha256("<op-42@acme.example>") */

/* The tests' own URL maker, made like the daemon's track_url: the core's
 * signer (core/track.c) with the test key, under a base URL. */
struct maker {
	const char *base;
	const unsigned char *key;
	size_t keylen;
	int calls;
};

static int make_url(void *ud, int kind, int64_t op_id, int link, const char *url, char *out,
		    size_t outlen)
{
	struct maker *m = ud;
	static nu_track t;   /* 2 KiB of URL */
	char token[NU_TRACK_TOKEN_MAX];
	const char *prefix = kind == EMAIL_TRACK_UNSUB ? "u" : kind == EMAIL_TRACK_OPEN ? "t/o" : "t/c";
	int n;

	m->calls++;
	memset(&t, 0, sizeof t);
	t.kind = (nu_track_kind)kind;
	t.op_id = op_id;
	t.link = link;
	if (kind == EMAIL_TRACK_CLICK) {
		if (!url || strlen(url) > NU_TRACK_URL_MAX)
			return -1;
		strcpy(t.url, url);
	}
	if (nu_track_make(token, m->key, m->keylen, &t) < 0)
		return -1;
	n = snprintf(out, outlen, "%s/%s/%s", m->base, prefix, token);
	return n > 0 && (size_t)n < outlen ? n : -1;
}

static struct maker MK = { "https://t.acme.example", KEY, KEYLEN, 0 };
static const email_tracker TR = { make_url, &MK };

/* ---- helpers: decoders written independently of the code under test ---- */

static int b64_value(char c, int url)
{
	const char *a = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			    : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;

	return p ? (int)(p - a) : -1;
}

/* Base64 (or base64url) s[0..n) appended to b; CR, LF and '=' skipped. */
static void b64_decode(ebuf *b, const char *s, size_t n, int url)
{
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		int v;

		if (s[i] == '\r' || s[i] == '\n' || s[i] == '=')
			continue;
		v = b64_value(s[i], url);
		assert_true(v >= 0);
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			eb_putc(b, (char)(acc >> bits & 0xFF));
		}
	}
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Quoted-printable s[0..n) appended to b; q: RFC 2047 Q ('_' is a space). */
static void qp_decode(ebuf *b, const char *s, size_t n, int q)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '=' && i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
		} else if (s[i] == '=') {
			assert_true(i + 2 < n);
			assert_true(hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0);
			eb_putc(b, (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2])));
			i += 2;
		} else {
			eb_putc(b, q && s[i] == '_' ? ' ' : s[i]);
		}
	}
}

static int utf8_ok(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = u[i] < 0x80 ? 1 : u[i] >= 0xF0 ? 4 : u[i] >= 0xE0 ? 3 : u[i] >= 0xC2 ? 2 : 0;

		if (!k || i + k > n)
			return 0;
		for (size_t j = 1; j < k; j++)
			if ((u[i + j] & 0xC0) != 0x80)
				return 0;
		i += k;
	}
	return 1;
}

/* One encoded word "=?UTF-8?B|Q?…?=" (n bytes) decoded onto b; each must
 * hold whole characters and be at most 75 long. */
static void decode_word(ebuf *b, const char *w, size_t n)
{
	ebuf one = { 0 };

	assert_true(n <= 75);
	assert_true(n > 12 && !strncasecmp(w, "=?UTF-8?", 8) && w[9] == '?');
	if (w[8] == 'B' || w[8] == 'b')
		b64_decode(&one, w + 10, n - 12, 0);
	else
		qp_decode(&one, w + 10, n - 12, 1);
	assert_true(utf8_ok(one.p ? one.p : "", one.len));
	eb_put(b, one.p ? one.p : "", one.len);
	eb_free(&one);
}

static int is_word(const char *t, size_t n)
{
	return n > 12 && !strncmp(t, "=?", 2) && t[n - 2] == '?' && t[n - 1] == '=';
}

/* An unfolded header value with its encoded words decoded (RFC 2047 §6.2:
 * whitespace between adjacent encoded words is dropped). Caller frees. */
static char *decode_words(const char *v)
{
	ebuf b = { 0 };
	int prev = 0;

	for (const char *p = v; *p;) {
		const char *ws = p, *tok;
		int word;

		while (*p == ' ' || *p == '\t')
			p++;
		tok = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		word = is_word(tok, (size_t)(p - tok));
		if (!(word && prev))
			eb_put(&b, ws, (size_t)(tok - ws));
		if (word)
			decode_word(&b, tok, (size_t)(p - tok));
		else
			eb_put(&b, tok, (size_t)(p - tok));
		prev = word;
	}
	return eb_take(&b);
}

/* The raw (folded) field body of header `name`, from after "name: " to its
 * final CRLF; NULL when absent. Caller frees. */
static char *raw_header(const char *msg, const char *name)
{
	const char *end = strstr(msg, "\r\n\r\n"), *p = msg;
	size_t n = strlen(name);

	assert_non_null(end);
	while (p <= end) {
		const char *e = p;

		for (;;) {   /* the end of this (folded) field */
			e = strstr(e, "\r\n");
			if (e[2] != ' ' && e[2] != '\t')
				break;
			e += 2;
		}
		if (!strncmp(p, name, n) && p[n] == ':' && p[n + 1] == ' ')
			return strndup(p + n + 2, (size_t)(e - p - n - 2));
		p = e + 2;
	}
	return NULL;
}

/* The header unfolded (CRLF before WSP removed) and decoded. Caller frees. */
static char *header(const char *msg, const char *name)
{
	char *raw = raw_header(msg, name), *out;
	size_t j = 0;

	if (!raw)
		return NULL;
	for (size_t i = 0; raw[i]; i++)
		if (!(raw[i] == '\r' && raw[i + 1] == '\n'))
			raw[j++] = raw[i];
		else
			i++;
	raw[j] = '\0';
	out = decode_words(raw);
	free(raw);
	return out;
}

static int crlf_only(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
		if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
			return 0;
	}
	return 1;
}

/* The longest line of s[0..n) (CRLF excluded), from offset `from`. */
static size_t longest_line(const char *s, size_t from, size_t n)
{
	size_t best = 0, start = from;

	for (size_t i = from; i + 1 < n; i++)
		if (s[i] == '\r' && s[i + 1] == '\n') {
			if (i - start > best)
				best = i - start;
			start = i + 2;
		}
	return n - start > best ? n - start : best;
}

static size_t count(const char *s, const char *needle)
{
	size_t k = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		k++;
	return k;
}

/* Part `idx` (0-based) of a multipart body with this boundary: its headers
 * into *hdrs and its decoded body, both malloc'd. */
static char *part_body(const char *msg, const char *boundary, int idx, char **hdrs)
{
	char delim[80];
	const char *p = msg, *h, *body, *end;
	ebuf b = { 0 };

	snprintf(delim, sizeof delim, "\r\n--%s", boundary);
	for (int i = 0; i <= idx; i++) {
		p = strstr(p, delim);
		assert_non_null(p);
		p += strlen(delim);
	}
	assert_memory_equal(p, "\r\n", 2);
	h = p + 2;
	body = strstr(h, "\r\n\r\n");
	assert_non_null(body);
	*hdrs = strndup(h, (size_t)(body + 2 - h));
	body += 4;
	end = strstr(body, delim);
	assert_non_null(end);
	if (strstr(*hdrs, "Content-Transfer-Encoding: base64\r\n"))
		b64_decode(&b, body, (size_t)(end - body), 0);
	else
		qp_decode(&b, body, (size_t)(end - body), 0);
	return eb_take(&b);
}

/* ---- templates ---- */

static email_template *parse_ok(const char *tmpl, const char *text)
{
	email_template *t = NULL;
	char err[256] = "";

	if (email_template_parse("t", tmpl, text, &t, err, sizeof err) < 0)
		fail_msg("parse: %s", err);
	return t;
}

static void parse_fails(const char *tmpl, const char *text, const char *want)
{
	email_template *t = (email_template *)1;
	char err[256] = "";

	assert_int_equal(email_template_parse("t", tmpl, text, &t, err, sizeof err), -1);
	assert_null(t);
	assert_string_equal(err, want);
}

static void render_ok(const email_template *t, const char *json, const char *subject,
		      const char *html, const char *text)
{
	json_t *v = json_loads(json, 0, NULL);
	email_rendered r;
	char err[256] = "";

	assert_non_null(v);
	if (email_template_render(t, v, &r, err, sizeof err) < 0)
		fail_msg("render: %s", err);
	assert_string_equal(r.subject, subject);
	assert_string_equal(r.html, html);
	if (text)
		assert_string_equal(r.text, text);
	email_rendered_free(&r);
	json_decref(v);
}

static void render_fails(const email_template *t, const char *json, const char *want)
{
	json_t *v = json_loads(json, JSON_ALLOW_NUL, NULL);
	email_rendered r;
	char err[256] = "";

	assert_non_null(v);
	assert_int_equal(email_template_render(t, v, &r, err, sizeof err), -1);
	assert_null(r.subject);
	assert_null(r.html);
	assert_null(r.text);
	assert_string_equal(err, want);
	json_decref(v);
}

static void test_tmpl_escaping_and_raw(void **state)
{
	email_template *t = parse_ok("Subject: For {{name}}\n\n<p>{{name}} | {{{name}}}</p>\n",
				     "Hi {{name}} {{{name}}}\n");

	(void)state;
	render_ok(t, "{\"name\": \"<Tom & \\\"Jerry\\\"'s>\"}",
		  "For <Tom & \"Jerry\"'s>",
		  "<p>&lt;Tom &amp; &quot;Jerry&quot;&#39;s&gt; | <Tom & \"Jerry\"'s></p>\n",
		  "Hi <Tom & \"Jerry\"'s> <Tom & \"Jerry\"'s>\n");
	email_template_free(t);
}

static void test_tmpl_defaults(void **state)
{
	email_template *t = parse_ok("Subject: Hi {{ name | there }}\n\n"
				     "<p>Hi {{name|there}}, {{title|<friend>}}{{note|}}.</p>", NULL);

	(void)state;
	render_ok(t, "{}", "Hi there", "<p>Hi there, &lt;friend&gt;.</p>", "Hi there, <friend>.\n");
	render_ok(t, "{\"name\": null, \"title\": \"\"}", "Hi there", "<p>Hi there, &lt;friend&gt;.</p>",
		  NULL);
	render_ok(t, "{\"name\": \"Li\", \"title\": \"Dr\", \"note\": \"!\"}", "Hi Li",
		  "<p>Hi Li, Dr!.</p>", "Hi Li, Dr!.\n");
	email_template_free(t);
}

static void test_tmpl_value_kinds(void **state)
{
	email_template *t = parse_ok("Subject: {{lead.company}} in {{lead.city}}\n\n"
				     "{{n}} {{x}} {{b}} {{f}} {{a.b}} {{deep.er.est}}", NULL);

	(void)state;
	render_ok(t, "{\"lead\": {\"company\": \"Acme\", \"city\": \"北京\"}, \"n\": -42, \"x\": 2.5,"
		  " \"b\": true, \"f\": false, \"a.b\": \"flat\", \"a\": {\"b\": \"nested\"},"
		  " \"deep\": {\"er\": {\"est\": 7}}}",
		  "Acme in 北京", "-42 2.5 true false flat 7", NULL);
	email_template_free(t);
}

static void test_tmpl_missing_variable(void **state)
{
	email_template *t = parse_ok("Subject: Hello {{who|you}}\n\n<p>a</p>\n<p>{{lead.company}}</p>",
				     NULL);
	email_template *t2 = parse_ok("Subject: {{x}}\n\nbody", "line\n{{y}}");

	(void)state;
	render_fails(t, "{}", "t.tmpl:4: missing variable 'lead.company'");
	render_fails(t, "{\"lead\": {}}", "t.tmpl:4: missing variable 'lead.company'");
	render_fails(t, "{\"lead\": \"Acme\"}", "t.tmpl:4: missing variable 'lead.company'");
	render_fails(t, "{\"lead\": {\"company\": \"\"}}", "t.tmpl:4: missing variable 'lead.company'");
	render_fails(t, "{\"lead\": {\"company\": null}}", "t.tmpl:4: missing variable 'lead.company'");
	render_fails(t, "{\"lead\": {\"company\": {\"x\": 1}}}",
		     "t.tmpl:4: variable 'lead.company' is an object or array, not text");
	render_fails(t, "{\"lead\": {\"company\": [1]}}",
		     "t.tmpl:4: variable 'lead.company' is an object or array, not text");
	render_fails(t, "{\"lead\": {\"company\": \"a\\u0000b\"}}",
		     "t.tmpl:4: variable 'lead.company' contains a NUL byte");
	render_fails(t2, "{\"y\": 1}", "t.tmpl:1: missing variable 'x'");
	render_fails(t2, "{\"x\": 1}", "t.txt:2: missing variable 'y'");
	email_template_free(t);
	email_template_free(t2);
}

static void test_tmpl_syntax_errors(void **state)
{
	(void)state;
	parse_fails("Subject: ok\n\n<p>\n{{name</p>\n", NULL, "t.tmpl:4: unclosed '{{'");
	parse_fails("Subject: ok\n\n<p>{{{raw}}</p>", NULL, "t.tmpl:3: unclosed '{{{'");
	parse_fails("Subject: ok\n\n<p>{{na\nme}}</p>", NULL, "t.tmpl:3: unclosed '{{'");
	parse_fails("Subject: ok\r\n\r\n\r\n<p>{{x</p>", NULL, "t.tmpl:4: unclosed '{{'");
	parse_fails("Subject: {{x\n\nbody", NULL, "t.tmpl:1: unclosed '{{'");
	parse_fails("Subject: ok\n\nbody", "line one\nline {{two", "t.txt:2: unclosed '{{'");
	parse_fails("Subject: ok\n\n{{first name}}", NULL, "t.tmpl:3: bad variable name 'first name'");
	parse_fails("Subject: ok\n\n{{ }}", NULL, "t.tmpl:3: bad variable name ''");
	parse_fails("Subject: ok\n\n{{a..b}}", NULL, "t.tmpl:3: bad variable name 'a..b'");
	parse_fails("Subject: ok\n\n{{.a}}", NULL, "t.tmpl:3: bad variable name '.a'");
	parse_fails("Subject: ok\n\n{{|x}}", NULL, "t.tmpl:3: bad variable name ''");
	parse_fails("Hello\n\nbody", NULL, "t.tmpl:1: the first line must be 'Subject: …'");
	parse_fails("", NULL, "t.tmpl:1: the first line must be 'Subject: …'");
	parse_fails("Subject: x\nbody", NULL, "t.tmpl:2: expected a blank line after the subject");
	parse_fails("Subject: x", NULL, "t.tmpl:2: expected a blank line after the subject");
}

static void test_tmpl_literal_braces(void **state)
{
	/* A lone brace, a stray "}}" and "{{name}}}" are text. */
	email_template *t = parse_ok("subject:   {a} }}  \n\n{{n}}} { } }}", NULL);

	(void)state;
	render_ok(t, "{\"n\": \"x\"}", "{a} }}", "x} { } }}", NULL);
	email_template_free(t);
}

static void test_tmpl_variable_list_and_check(void **state)
{
	email_template *t = parse_ok("Subject: {{name|there}} at {{lead.company}}\n\n"
				     "{{name}} {{{raw}}} {{lead.company}} {{zeta|z}} {{alpha|a}}",
				     "{{alpha|b}} {{text_only}}");
	const email_var *v;
	json_t *vals;
	char err[256] = "";
	static const char *const names[] = { "alpha", "lead.company", "name", "raw", "text_only", "zeta" };
	static const char *const dflts[] = { "a", NULL, NULL, NULL, NULL, "z" };

	(void)state;
	assert_int_equal(email_template_vars(t, &v), 6);
	for (int i = 0; i < 6; i++) {
		assert_string_equal(v[i].name, names[i]);
		if (dflts[i])
			assert_string_equal(v[i].dflt, dflts[i]);
		else
			assert_null(v[i].dflt);
	}

	vals = json_loads("{\"lead\": {\"company\": \"\"}}", 0, NULL);
	assert_int_equal(email_template_check(t, vals, err, sizeof err), -1);
	assert_string_equal(err, "missing variables: lead.company, name, raw, text_only");
	json_decref(vals);

	vals = json_loads("{\"lead\": {\"company\": \"A\"}, \"name\": \"n\", \"raw\": 1}", 0, NULL);
	assert_int_equal(email_template_check(t, vals, err, sizeof err), -1);
	assert_string_equal(err, "missing variable 'text_only'");
	assert_int_equal(json_object_set_new(vals, "text_only", json_string("t")), 0);
	assert_int_equal(email_template_check(t, vals, err, sizeof err), 0);
	assert_int_equal(email_template_check(t, vals, NULL, 0), 0);
	json_decref(vals);
	assert_int_equal(email_template_check(t, NULL, NULL, 0), -1);
	email_template_free(t);

	t = parse_ok("Subject: plain\n\n<p>no variables</p>", NULL);
	assert_int_equal(email_template_vars(t, &v), 0);
	assert_int_equal(email_template_check(t, NULL, err, sizeof err), 0);
	email_template_free(t);
}

static void test_tmpl_text_from_html(void **state)
{
	static const char html[] =
		"<!DOCTYPE html><html><head><title>T</title><style>p { color: red }</style></head>\n"
		"<body>\n<!-- a comment <p>hidden</p> -->\n<h1>Hello   {{name}}</h1>\n"
		"<p>Your company &amp; {{co}} &mdash; see <a href=\"https://acme.example/a?x=1&amp;y=2\">our"
		"\n offer</a>.<br>Line two.<br><br>After a blank line.</p>\n"
		"<ul><li>one</li><li>two &#20320;&#x597D;</li></ul>"
		"<script>var x = '<p>no</p>';</script>"
		"<p><a href=\"mailto:sales@acme.example\">sales@acme.example</a> "
		"<a href=\"https://acme.example/\">https://acme.example/</a> "
		"<a href=\"#top\">top</a> <a href=\"https://acme.example/logo\"><img alt=\"logo\"></a></p>"
		"<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>"
		"<div>x &lt; y &unknown; &</div></body></html>\n";
	email_template *t;
	char *tmpl = malloc(sizeof html + 16), *direct;

	(void)state;
	assert_non_null(tmpl);
	snprintf(tmpl, sizeof html + 16, "Subject: s\n\n%s", html);
	t = parse_ok(tmpl, NULL);
	free(tmpl);
	json_t *v = json_pack("{s:s,s:s}", "name", "Li <Lei>", "co", "R&D");
	email_rendered r;
	char err[256];

	assert_int_equal(email_template_render(t, v, &r, err, sizeof err), 0);
	assert_string_equal(r.text,
			    "Hello Li <Lei>\n"
			    "\n"
			    "Your company & R&D \xE2\x80\x94 see our offer (https://acme.example/a?x=1&y=2).\n"
			    "Line two.\n"
			    "\n"
			    "After a blank line.\n"
			    "\n"
			    "- one\n"
			    "- two \xE4\xBD\xA0\xE5\xA5\xBD\n"
			    "\n"
			    "sales@acme.example https://acme.example/ top (https://acme.example/logo)\n"
			    "\n"
			    "a b\n"
			    "c\n"
			    "\n"
			    "x < y &unknown; &\n");
	email_rendered_free(&r);
	json_decref(v);
	email_template_free(t);

	direct = email_html_to_text("");
	assert_string_equal(direct, "");
	free(direct);
	direct = email_html_to_text("  <p> </p>\n ");
	assert_string_equal(direct, "");
	free(direct);
	direct = email_html_to_text("a < b and <3");
	assert_string_equal(direct, "a < b and <3\n");
	free(direct);
}

static void test_tmpl_unescape(void **state)
{
	static const char in[] = "&amp;&lt;&gt;&quot;&apos;&nbsp;&#65;&#x42;&#x1F600;&#0;&#xD800;"
				 "&copy;&amp &bogus; &#;&#x;";
	char *s = email_html_unescape(in, strlen(in));

	(void)state;
	assert_string_equal(s, "&<>\"' AB\xF0\x9F\x98\x80\xEF\xBF\xBD\xEF\xBF\xBD\xC2\xA9"
			       "&amp &bogus; &#;&#x;");
	free(s);
}

static void test_tmpl_subject_is_one_line(void **state)
{
	email_template *t = parse_ok("Subject: Re: {{x}}\n\n{{x}}", NULL);

	(void)state;
	render_ok(t, "{\"x\": \"a\\r\\nBcc: evil@example.com\\tz \"}", "Re: a  Bcc: evil@example.com z",
		  "a\r\nBcc: evil@example.com\tz ", NULL);
	email_template_free(t);
}

static void test_tmpl_load_files(void **state)
{
	char dir[] = "/tmp/nurture-email-XXXXXX", err[512] = "", want[512], cmd[600];
	email_template *t = NULL;
	json_t *v = json_pack("{s:s}", "name", "Li");
	email_rendered r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	test_write_file(dir, "welcome.tmpl", "\xEF\xBB\xBFSubject: Welcome {{name}}\r\n\r\n<p>Hi {{name}}</p>\r\n");
	test_write_file(dir, "welcome.txt", "Hi {{name}},\r\nwelcome.\r\n");
	test_write_file(dir, "html_only.tmpl", "Subject: Hi\n\n<p>Hi <b>{{name}}</b></p>\n");
	test_write_file(dir, "broken.tmpl", "Subject: Hi\n\n<p>\n<p>{{name</p>\n");

	assert_int_equal(email_template_load(dir, "welcome", &t, err, sizeof err), 0);
	assert_int_equal(email_template_render(t, v, &r, err, sizeof err), 0);
	assert_string_equal(r.subject, "Welcome Li");
	assert_string_equal(r.html, "<p>Hi Li</p>\n");
	assert_string_equal(r.text, "Hi Li,\nwelcome.\n");
	email_rendered_free(&r);
	email_template_free(t);

	assert_int_equal(email_template_load(dir, "html_only", &t, err, sizeof err), 0);
	assert_int_equal(email_template_render(t, v, &r, err, sizeof err), 0);
	assert_string_equal(r.text, "Hi Li\n");
	email_rendered_free(&r);
	email_template_free(t);

	assert_int_equal(email_template_load(dir, "broken", &t, err, sizeof err), -1);
	assert_null(t);
	snprintf(want, sizeof want, "%s/broken.tmpl:4: unclosed '{{'", dir);
	assert_string_equal(err, want);

	assert_int_equal(email_template_load(dir, "nope", &t, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s/nope.tmpl: no such template file", dir);
	assert_string_equal(err, want);

	assert_int_equal(email_template_load(dir, "../etc/passwd", &t, err, sizeof err), -1);
	assert_string_equal(err, "bad template name '../etc/passwd'");
	assert_int_equal(email_template_load(dir, ".hidden", &t, err, sizeof err), -1);
	assert_int_equal(email_template_load(dir, "", &t, err, sizeof err), -1);

	json_decref(v);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- MIME ---- */

static email_message ascii_msg(void)
{
	email_message m = {
		.from = { "Acme Marketing", "news@acme.example" },
		.to = { NULL, "lead@example.com" },
		.subject = "Your webinar seat",
		.text = "Hello Li,\nSee you there.\n",
		.html = "<p>Hello Li,</p>\n<p>See you there.</p>\n",
		.op_id = 42,
		.domain = "acme.example",
		.date_ms = T0,
	};
	return m;
}

static char *build_ok(const email_message *m, size_t *len)
{
	char err[256] = "";
	size_t n = 0;
	char *s = email_build(m, &n, err, sizeof err);

	if (!s)
		fail_msg("build: %s", err);
	assert_int_equal(strlen(s), n);
	assert_true(crlf_only(s, n));
	if (len)
		*len = n;
	return s;
}

static void build_fails(const email_message *m, const char *want)
{
	char err[256] = "";

	assert_null(email_build(m, NULL, err, sizeof err));
	assert_string_equal(err, want);
}

static void test_mime_exact_message(void **state)
{
	email_message m = ascii_msg();
	email_header extra[] = { { "Feedback-ID", "welcome:flow:nurture" } };
	char *s;

	(void)state;
	m.unsub_url = "https://t.acme.example/u/abc";
	m.unsub_mailto = "unsub+abc@acme.example";
	m.headers = extra;
	m.nheaders = 1;
	s = build_ok(&m, NULL);
	assert_string_equal(s,
		"Date: Mon, 21 Sep 2026 14:13:20 +0000\r\n"
		"From: \"Acme Marketing\" <news@acme.example>\r\n"
		"To: <lead@example.com>\r\n"
		"Subject: Your webinar seat\r\n"
		"Message-ID: <op-42@acme.example>\r\n"
		"List-Unsubscribe: <https://t.acme.example/u/abc>,\r\n"
		" <mailto:unsub+abc@acme.example>\r\n"
		"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
		"Feedback-ID: welcome:flow:nurture\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/alternative;\r\n"
		" boundary=\"" BOUNDARY42 "\"\r\n"
		"\r\n"
		"--" BOUNDARY42 "\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"Hello Li,\r\n"
		"See you there.\r\n"
		"\r\n"
		"--" BOUNDARY42 "\r\n"
		"Content-Type: text/html; charset=utf-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"<p>Hello Li,</p>\r\n"
		"<p>See you there.</p>\r\n"
		"\r\n"
		"--" BOUNDARY42 "--\r\n");
	free(s);
}

static void test_mime_chinese_subject(void **state)
{
	static const char *const subjects[] = {
		"你好 webinar",
		"诚邀您参加2026年企业数字化转型峰会：从线索到成交的全链路增长实践（北京站·限额200席）",
		"😀 emoji 𠀀 and ASCII mixed in a subject that is long enough to need folding, 对吧？",
		"Café au lait",
		"=?UTF-8?B?not-really?= plain ASCII that only looks encoded",
	};
	email_message m = ascii_msg();
	char *s, *raw, *got;
	size_t len, hdr_end;

	(void)state;
	for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++) {
		m.subject = subjects[i];
		s = build_ok(&m, &len);
		hdr_end = (size_t)(strstr(s, "\r\n\r\n") - s);
		assert_true(longest_line(s, 0, hdr_end) <= 78);
		got = header(s, "Subject");
		assert_string_equal(got, subjects[i]);
		free(got);
		raw = raw_header(s, "Subject");
		assert_non_null(strstr(raw, "=?UTF-8?"));
		if (i == 1 || i == 2)   /* long: more than one encoded word, folded */
			assert_true(count(raw, "\r\n ") >= 1);
		free(raw);
		free(s);
	}

	m.subject = subjects[0];
	s = build_ok(&m, NULL);
	assert_non_null(strstr(s, "\r\nSubject: =?UTF-8?B?5L2g5aW9IHdlYmluYXI=?=\r\n"));
	free(s);
	m.subject = subjects[3];
	s = build_ok(&m, NULL);
	assert_non_null(strstr(s, "\r\nSubject: =?UTF-8?Q?Caf=C3=A9_au_lait?=\r\n"));
	free(s);

	/* A long ASCII subject folds at spaces, unencoded. */
	m.subject = "Join us for the 2026 Digital Transformation Summit: lead-to-revenue growth "
		    "in practice, Beijing";
	s = build_ok(&m, &len);
	raw = raw_header(s, "Subject");
	assert_string_equal(raw, "Join us for the 2026 Digital Transformation Summit: lead-to-revenue\r\n"
				 " growth in practice, Beijing");
	free(raw);
	free(s);
}

static void test_mime_display_names(void **state)
{
	email_message m = ascii_msg();
	char *s, *got;

	(void)state;
	m.from.name = "Acme 市场部";
	m.to.name = "Wang \"Lei\" \\ Li";
	s = build_ok(&m, NULL);
	got = header(s, "From");
	assert_string_equal(got, "Acme 市场部 <news@acme.example>");
	free(got);
	assert_non_null(strstr(s, "\r\nTo: \"Wang \\\"Lei\\\" \\\\ Li\" <lead@example.com>\r\n"));
	assert_non_null(strstr(s, "\r\nFrom: =?UTF-8?B?QWNtZSDluILlnLrpg6g=?= <news@acme.example>\r\n"));
	free(s);

	m.from.name = "市场部市场部市场部市场部市场部市场部市场部市场部市场部市场部市场部市场部";
	m.to.name = "";
	s = build_ok(&m, NULL);
	assert_true(longest_line(s, 0, (size_t)(strstr(s, "\r\n\r\n") - s)) <= 78);
	got = header(s, "From");
	assert_string_equal(got, "市场部市场部市场部市场部市场部市场部市场部市场部市场部市场部市场部市场部"
				 " <news@acme.example>");
	free(got);
	assert_non_null(strstr(s, "\r\nTo: <lead@example.com>\r\n"));
	free(s);
}

static void test_mime_crlf_only(void **state)
{
	email_message m = ascii_msg();
	char *s, *hdrs, *body;
	size_t len;

	(void)state;
	m.text = "a\nb\r\nc\rd\n\n";
	m.html = "<p>x</p>\r<p>y</p>\n";
	s = build_ok(&m, &len);
	assert_true(crlf_only(s, len));
	assert_int_equal(s[len - 2], '\r');
	assert_int_equal(s[len - 1], '\n');
	body = part_body(s, BOUNDARY42, 0, &hdrs);
	assert_string_equal(body, "a\r\nb\r\nc\r\nd\r\n\r\n");
	free(body);
	free(hdrs);
	body = part_body(s, BOUNDARY42, 1, &hdrs);
	assert_string_equal(body, "<p>x</p>\r\n<p>y</p>\r\n");
	free(body);
	free(hdrs);
	free(s);
}

static void test_mime_quoted_printable(void **state)
{
	email_message m = ascii_msg();
	ebuf text = { 0 };
	char *s, *hdrs, *body, *at;
	size_t len;

	(void)state;
	for (int i = 0; i < 40; i++)
		eb_puts(&text, "word=value ");
	eb_puts(&text, "\n.leading dot\ntrailing space \ntrailing tab\t\nctl\x01 caf\xC3\xA9\n");
	eb_puts(&text, "x\n");
	m.text = text.p;
	s = build_ok(&m, &len);
	at = strstr(s, "--" BOUNDARY42 "\r\n");
	assert_true(longest_line(s, (size_t)(at - s), len) <= 76);
	body = part_body(s, BOUNDARY42, 0, &hdrs);
	assert_non_null(strstr(hdrs, "Content-Transfer-Encoding: quoted-printable\r\n"));
	assert_int_equal(strlen(body), text.len + 6);   /* six LF became CRLF */
	assert_non_null(strstr(body, "\r\n.leading dot\r\ntrailing space \r\ntrailing tab\t\r\n"));
	assert_non_null(strstr(s, "\r\n=2Eleading dot\r\ntrailing space=20\r\ntrailing tab=09\r\n"
				  "ctl=01 caf=C3=A9\r\n"));
	assert_non_null(strstr(s, "word=3Dvalue"));
	free(body);
	free(hdrs);
	free(s);
	eb_free(&text);
}

static void test_mime_base64_for_cjk(void **state)
{
	email_message m = ascii_msg();
	ebuf text = { 0 };
	char *s, *hdrs, *body, *at;
	size_t len;

	(void)state;
	for (int i = 0; i < 60; i++)
		eb_puts(&text, "线索培育是企业营销的关键环节，");
	eb_puts(&text, "\n第二行。\n");
	m.text = text.p;
	m.html = "<p>Mostly ASCII HTML with one word: 你好</p>\n";
	s = build_ok(&m, &len);
	at = strstr(s, "--" BOUNDARY42 "\r\n");
	assert_true(longest_line(s, (size_t)(at - s), len) <= 76);
	body = part_body(s, BOUNDARY42, 0, &hdrs);
	assert_string_equal(hdrs, "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: base64\r\n");
	assert_int_equal(strlen(body), text.len + 2);
	assert_memory_equal(body, text.p, text.len - 14);
	assert_string_equal(body + text.len - 14, "\r\n第二行。\r\n");
	free(body);
	free(hdrs);
	body = part_body(s, BOUNDARY42, 1, &hdrs);
	assert_non_null(strstr(hdrs, "Content-Transfer-Encoding: quoted-printable\r\n"));
	assert_string_equal(body, "<p>Mostly ASCII HTML with one word: 你好</p>\r\n");
	free(body);
	free(hdrs);
	free(s);
	eb_free(&text);
}

static void test_mime_boundary(void **state)
{
	email_message m = ascii_msg();
	char *a, *b, *c, *hdrs, *body;

	(void)state;
	a = build_ok(&m, NULL);
	b = build_ok(&m, NULL);
	assert_string_equal(a, b);   /* deterministic: a retry sends the same bytes */
	assert_int_equal(count(a, BOUNDARY42), 4);   /* the header and three delimiters */
	assert_int_equal(count(a, "\r\n--" BOUNDARY42 "\r\n"), 2);
	assert_int_equal(count(a, "\r\n--" BOUNDARY42 "--\r\n"), 1);
	m.op_id = 43;
	c = build_ok(&m, NULL);
	assert_null(strstr(c, BOUNDARY42));
	assert_non_null(strstr(c, "boundary=\"=_nu_"));

	/* Parts in order: text, then HTML. */
	body = part_body(a, BOUNDARY42, 0, &hdrs);
	assert_string_equal(hdrs, "Content-Type: text/plain; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: quoted-printable\r\n");
	assert_string_equal(body, "Hello Li,\r\nSee you there.\r\n");
	free(hdrs);
	free(body);
	body = part_body(a, BOUNDARY42, 1, &hdrs);
	assert_string_equal(hdrs, "Content-Type: text/html; charset=utf-8\r\n"
				  "Content-Transfer-Encoding: quoted-printable\r\n");
	assert_string_equal(body, "<p>Hello Li,</p>\r\n<p>See you there.</p>\r\n");
	free(hdrs);
	free(body);
	free(a);
	free(b);
	free(c);
}

static void test_mime_single_part(void **state)
{
	email_message m = ascii_msg();
	char *s, *at;

	(void)state;
	m.html = NULL;
	s = build_ok(&m, NULL);
	assert_null(strstr(s, "multipart"));
	at = strstr(s, "\r\nMIME-Version: 1.0\r\n");
	assert_non_null(at);
	assert_string_equal(at, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
				"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
				"Hello Li,\r\nSee you there.\r\n");
	free(s);
	m = ascii_msg();
	m.text = NULL;
	m.html = "<p>no line end</p>";
	s = build_ok(&m, NULL);
	at = strstr(s, "\r\nContent-Type: text/html; charset=utf-8\r\n");
	assert_non_null(at);
	assert_string_equal(at, "\r\nContent-Type: text/html; charset=utf-8\r\n"
				"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
				"<p>no line end</p>\r\n");
	free(s);
}

static void test_mime_message_id_and_date(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(email_message_id(buf, sizeof buf, 123456, "acme.example"), 0);
	assert_string_equal(buf, "<op-123456@acme.example>");
	assert_int_equal(email_message_id(buf, sizeof buf, INT64_MAX, "a.b"), 0);
	assert_string_equal(buf, "<op-9223372036854775807@a.b>");
	assert_int_equal(email_message_id(buf, sizeof buf, 0, "acme.example"), -1);
	assert_int_equal(email_message_id(buf, sizeof buf, -5, "acme.example"), -1);
	assert_int_equal(email_message_id(buf, sizeof buf, 1, "acme example"), -1);
	assert_int_equal(email_message_id(buf, sizeof buf, 1, "acme..example"), -1);
	assert_int_equal(email_message_id(buf, sizeof buf, 1, "acme.example."), -1);
	assert_int_equal(email_message_id(buf, sizeof buf, 1, "acme>.example"), -1);
	assert_int_equal(email_message_id(buf, sizeof buf, 1, ""), -1);
	assert_int_equal(email_message_id(buf, sizeof buf, 1, NULL), -1);
	assert_int_equal(email_message_id(buf, 10, 123456, "acme.example"), -1);

	assert_int_equal(email_date(buf, sizeof buf, 0), 0);
	assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 +0000");
	assert_int_equal(email_date(buf, sizeof buf, T0 + 999), 0);
	assert_string_equal(buf, "Mon, 21 Sep 2026 14:13:20 +0000");
	assert_int_equal(email_date(buf, sizeof buf, 1709208000000LL), 0);
	assert_string_equal(buf, "Thu, 29 Feb 2024 12:00:00 +0000");
	assert_int_equal(email_date(buf, sizeof buf, -1), -1);
	assert_int_equal(email_date(buf, 10, T0), -1);
}

static void test_mime_unsubscribe_headers(void **state)
{
	email_message m = ascii_msg();
	char unsub[256], *s;

	(void)state;
	assert_int_equal(email_unsub_url(unsub, sizeof unsub, &TR, 42), 0);
	m.unsub_url = unsub;
	s = build_ok(&m, NULL);
	assert_non_null(strstr(s, "\r\nList-Unsubscribe: "
				  "<https://t.acme.example/u/dXw0Mg.MqfajwOPBYDLEX_g4wMcGbo1IE4PMjTHESnBwd6-lXc>\r\n"
				  "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
	assert_int_equal(count(s, "List-Unsubscribe"), 3);
	free(s);

	m.unsub_url = NULL;
	m.unsub_mailto = "mailto:unsub@acme.example?subject=unsubscribe";
	s = build_ok(&m, NULL);
	assert_non_null(strstr(s, "\r\nList-Unsubscribe: <mailto:unsub@acme.example?subject=unsubscribe>\r\n"));
	assert_null(strstr(s, "List-Unsubscribe-Post"));   /* one-click needs the https URI */
	free(s);

	m.unsub_mailto = NULL;
	s = build_ok(&m, NULL);
	assert_null(strstr(s, "List-Unsubscribe"));
	free(s);

	m.unsub_url = "javascript:alert(1)";
	build_fails(&m, "List-Unsubscribe: bad URL 'javascript:alert(1)'");
	m.unsub_url = "https://t.acme.example/u/a b";
	build_fails(&m, "List-Unsubscribe: bad URL 'https://t.acme.example/u/a b'");
	m.unsub_url = NULL;
	m.unsub_mailto = "unsub@acme.example>, <https://evil.example/";
	build_fails(&m, "List-Unsubscribe: bad mailto 'unsub@acme.example>, <https://evil.example/'");
}

static void test_mime_extra_headers(void **state)
{
	email_message m = ascii_msg();
	email_header h[] = {
		{ "X-Campaign", "Spring launch for enterprise leads in the north region, wave two, "
				"segment B, variant with the long subject" },
		{ "X-Note", "北京站 registration" },
		{ "Reply-To", "r+abc@inbound.acme.example" },
	};
	char *s, *raw, *got;

	(void)state;
	m.headers = h;
	m.nheaders = 3;
	s = build_ok(&m, NULL);
	raw = raw_header(s, "X-Campaign");
	assert_string_equal(raw, "Spring launch for enterprise leads in the north region, wave two,\r\n"
				 " segment B, variant with the long subject");
	free(raw);
	got = header(s, "X-Note");
	assert_string_equal(got, "北京站 registration");
	free(got);
	assert_non_null(strstr(s, "\r\nReply-To: r+abc@inbound.acme.example\r\n"));
	/* Extra headers come after the builder's and before MIME-Version. */
	assert_true(strstr(s, "X-Campaign") < strstr(s, "MIME-Version") &&
		    strstr(s, "Message-ID") < strstr(s, "X-Campaign"));
	free(s);
}

static void test_mime_refuses_bad_input(void **state)
{
	email_message m = ascii_msg();
	email_header h[1];

	(void)state;
	m.subject = "Hi\r\nBcc: everyone@example.com";
	build_fails(&m, "Subject: missing, has a line break or bad UTF-8");
	m.subject = "bad \xC3\x28 utf8";
	build_fails(&m, "Subject: missing, has a line break or bad UTF-8");
	m = ascii_msg();
	m.from.addr = "not an address";
	build_fails(&m, "From: bad address 'not an address'");
	m.from.addr = "news@acme.example>, <x@evil.example";
	build_fails(&m, "From: bad address 'news@acme.example>, <x@evil.example'");
	m = ascii_msg();
	m.to.addr = "李@example.com";
	build_fails(&m, "To: bad address '李@example.com'");
	m.to.addr = "lead@example.com";
	m.to.name = "Li\nLei";
	build_fails(&m, "To: the display name has a line break or bad UTF-8");
	m = ascii_msg();
	m.html = "<p>\xFF</p>";
	build_fails(&m, "the HTML part is not valid UTF-8");
	m.html = NULL;
	m.text = NULL;
	build_fails(&m, "the message has neither a text nor an HTML part");
	m = ascii_msg();
	m.op_id = 0;
	build_fails(&m, "Message-ID: needs an op id > 0 and a host name, got 0 and 'acme.example'");
	m = ascii_msg();
	m.date_ms = -1;
	build_fails(&m, "Date: bad time -1");

	m = ascii_msg();
	m.headers = h;
	m.nheaders = 1;
	h[0] = (email_header){ "subject", "again" };
	build_fails(&m, "header 'subject' is set by the message builder");
	h[0] = (email_header){ "List-Unsubscribe-Post", "x" };
	build_fails(&m, "header 'List-Unsubscribe-Post' is set by the message builder");
	h[0] = (email_header){ "X-Bad:Name", "x" };
	build_fails(&m, "bad header name 'X-Bad:Name'");
	h[0] = (email_header){ "X-Bad Name", "x" };
	build_fails(&m, "bad header name 'X-Bad Name'");
	h[0] = (email_header){ "X-Ok", "a\nb" };
	build_fails(&m, "header 'X-Ok': the value is missing, has a line break or bad UTF-8");

	/* No err buffer: still refuses, quietly. */
	m.nheaders = 0;
	m.subject = "a\rb";
	assert_null(email_build(&m, NULL, NULL, 0));
}

/* ---- tracking ---- */

/* The token the maker puts in a URL (the core's, with the test key). */
static const char *token_of(email_track_kind kind, int64_t op, int link, const char *url)
{
	static char tok[NU_TRACK_TOKEN_MAX];
	static nu_track t;

	memset(&t, 0, sizeof t);
	t.kind = (nu_track_kind)kind;
	t.op_id = op;
	t.link = link;
	if (url)
		snprintf(t.url, sizeof t.url, "%s", url);
	assert_int_equal(nu_track_make(tok, KEY, KEYLEN, &t), 0);
	return tok;
}

/* The token s[0..n) verifies with the test key and says this. */
static void expect_token(const char *s, size_t n, email_track_kind kind, int64_t op, int link,
			 const char *url)
{
	static nu_track t;

	assert_int_equal(nu_track_verify(s, n, KEY, KEYLEN, &t), 0);
	assert_int_equal(t.kind, kind);
	assert_int_equal(t.op_id, op);
	assert_int_equal(t.link, link);
	assert_string_equal(t.url, url ? url : "");
}

static void test_links_rewritten(void **state)
{
	static const char html[] =
		"<head><link rel=\"stylesheet\" href=\"https://fonts.example/css\">"
		"<BASE href=\"https://acme.example/\"></head>\n"
		"<p>Write href=\"https://text.example/\" in text</p>\n"
		"<p><a href=\"https://acme.example/a?x=1&amp;y=2\">A</a>\n"
		"<a class=\"btn\" HREF='http://acme.example/b'>B</a>\n"
		"<a href=\"mailto:sales@acme.example\">mail</a>\n"
		"<a href=\"tel:+861012345678\">tel</a> <a href=\"#top\">top</a>\n"
		"<a href=\"/relative\">rel</a> <a href=\"ftp://acme.example/f\">ftp</a>\n"
		"<a href=\"https://t.acme.example/u/abc\">unsubscribe</a>\n"
		"<a href=\"https://t.acme.example/t/c/abc\">ours</a>\n"
		"<a data-href=\"https://x.example/\">not an href</a>\n"
		"<a href = \"https://acme.example/a?x=1&amp;y=2\">again</a></p>\n"
		"<!--[if mso]><v:roundrect href=\"https://acme.example/vml\"><![endif]-->\n"
		"<a href=\"https://unterminated.example/";
	static const char *const want_urls[] = { "https://acme.example/a?x=1&y=2", "http://acme.example/b",
						 "https://acme.example/a?x=1&y=2",
						 "https://acme.example/vml" };
	email_links links, links2;
	ebuf want = { 0 };
	char err[256] = "", *out, *out2;
	size_t seen = 0;

	(void)state;
	out = email_track_links(&TR, 42, html, &links, err, sizeof err);
	assert_non_null(out);
	assert_int_equal(links.n, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(links.url[i], want_urls[i]);
	eb_puts(&want, "<head><link rel=\"stylesheet\" href=\"https://fonts.example/css\">"
		       "<BASE href=\"https://acme.example/\"></head>\n"
		       "<p>Write href=\"https://text.example/\" in text</p>\n");
	eb_printf(&want, "<p><a href=\"https://t.acme.example/t/c/%s\">A</a>\n",
		  token_of(EMAIL_TRACK_CLICK, 42, 0, want_urls[0]));
	eb_printf(&want, "<a class=\"btn\" HREF='https://t.acme.example/t/c/%s'>B</a>\n",
		  token_of(EMAIL_TRACK_CLICK, 42, 1, want_urls[1]));
	eb_puts(&want, "<a href=\"mailto:sales@acme.example\">mail</a>\n"
		       "<a href=\"tel:+861012345678\">tel</a> <a href=\"#top\">top</a>\n"
		       "<a href=\"/relative\">rel</a> <a href=\"ftp://acme.example/f\">ftp</a>\n"
		       "<a href=\"https://t.acme.example/u/abc\">unsubscribe</a>\n"
		       "<a href=\"https://t.acme.example/t/c/abc\">ours</a>\n"
		       "<a data-href=\"https://x.example/\">not an href</a>\n");
	eb_printf(&want, "<a href = \"https://t.acme.example/t/c/%s\">again</a></p>\n",
		  token_of(EMAIL_TRACK_CLICK, 42, 2, want_urls[2]));
	eb_printf(&want, "<!--[if mso]><v:roundrect href=\"https://t.acme.example/t/c/%s\"><![endif]-->\n",
		  token_of(EMAIL_TRACK_CLICK, 42, 3, want_urls[3]));
	eb_puts(&want, "<a href=\"https://unterminated.example/");
	assert_string_equal(out, want.p);

	/* Each rewritten click URL carries, signed, its link number and the
	 * original (entity-decoded) target. */
	for (const char *p = out; (p = strstr(p, "https://t.acme.example/t/c/")); p++) {
		const char *tok = p + strlen("https://t.acme.example/t/c/");
		size_t n = strcspn(tok, "\"'");
		nu_track *t = malloc(sizeof *t);

		assert_non_null(t);
		if (!strncmp(tok, "abc", n)) {   /* the one that was ours already */
			free(t);
			continue;
		}
		assert_int_equal(nu_track_verify(tok, n, KEY, KEYLEN, t), 0);
		assert_int_equal(t->kind, NU_TRACK_CLICK);
		assert_int_equal(t->op_id, 42);
		assert_int_equal(t->link, (int)seen);
		assert_string_equal(t->url, want_urls[seen]);
		assert_string_equal(t->url, links.url[t->link]);
		free(t);
		seen++;
	}
	assert_int_equal(seen, 4);

	/* Running it again wraps nothing twice. */
	out2 = email_track_links(&TR, 42, out, &links2, err, sizeof err);
	assert_string_equal(out2, out);
	assert_int_equal(links2.n, 0);
	email_links_free(&links2);
	free(out2);

	email_links_free(&links);
	assert_int_equal(links.n, 0);
	free(out);
	eb_free(&want);

	/* No links at all. */
	out = email_track_links(&TR, 42, "<p>plain</p>", &links, err, sizeof err);
	assert_string_equal(out, "<p>plain</p>");
	assert_int_equal(links.n, 0);
	assert_null(links.url);
	free(out);
}

/* The tracker's own URLs are told by its base, path and all: the same
 * paths under another host or another base are someone else's links. */
static void test_links_own_base(void **state)
{
	struct maker mk = { "https://acme.example/mail", KEY, KEYLEN, 0 };
	email_tracker tr = { make_url, &mk };
	static const char html[] =
		"<a href=\"https://acme.example/mail/u/x\">1</a>"
		"<a href=\"https://acme.example/mail/t/o/x\">2</a>"
		"<a href=\"https://acme.example/u/x\">3</a>"
		"<a href=\"https://t.acme.example/t/c/x\">4</a>";
	email_links links;
	ebuf want = { 0 };
	char err[256] = "", *out;

	(void)state;
	out = email_track_links(&tr, 7, html, &links, err, sizeof err);
	assert_non_null(out);
	assert_int_equal(links.n, 2);
	assert_string_equal(links.url[0], "https://acme.example/u/x");
	assert_string_equal(links.url[1], "https://t.acme.example/t/c/x");
	eb_puts(&want, "<a href=\"https://acme.example/mail/u/x\">1</a>"
		       "<a href=\"https://acme.example/mail/t/o/x\">2</a>");
	eb_printf(&want, "<a href=\"https://acme.example/mail/t/c/%s\">3</a>",
		  token_of(EMAIL_TRACK_CLICK, 7, 0, "https://acme.example/u/x"));
	eb_printf(&want, "<a href=\"https://acme.example/mail/t/c/%s\">4</a>",
		  token_of(EMAIL_TRACK_CLICK, 7, 1, "https://t.acme.example/t/c/x"));
	assert_string_equal(out, want.p);
	email_links_free(&links);
	free(out);
	eb_free(&want);
}

/* A target the maker will not sign (longer than NU_TRACK_URL_MAX, or not
 * a URL the core signs) stays as it is and takes no link number. */
static void test_links_too_long_left_alone(void **state)
{
	char *max = malloc(NU_TRACK_URL_MAX + 1), *over = malloc(NU_TRACK_URL_MAX + 2);
	char *amp = malloc(NU_TRACK_URL_MAX + 5), *amp_plain = malloc(NU_TRACK_URL_MAX + 1);
	email_links links;
	ebuf html = { 0 }, want = { 0 };
	char err[256] = "", *out;

	(void)state;
	assert_non_null(max);
	assert_non_null(over);
	assert_non_null(amp);
	assert_non_null(amp_plain);
	/* https://acme.example/?q=aaaa…: exactly the limit, and one byte more. */
	memset(max, 'a', NU_TRACK_URL_MAX);
	memcpy(max, "https://acme.example/?q=", 24);
	max[NU_TRACK_URL_MAX] = '\0';
	memset(over, 'b', NU_TRACK_URL_MAX + 1);
	memcpy(over, "https://acme.example/?q=", 24);
	over[NU_TRACK_URL_MAX + 1] = '\0';
	/* Longer than the limit as written, at the limit once &amp; is decoded. */
	memset(amp, 'c', NU_TRACK_URL_MAX + 4);
	memcpy(amp, "https://acme.example/?x=1&amp;q=", 32);
	amp[NU_TRACK_URL_MAX + 4] = '\0';
	memset(amp_plain, 'c', NU_TRACK_URL_MAX);
	memcpy(amp_plain, "https://acme.example/?x=1&q=", 28);
	amp_plain[NU_TRACK_URL_MAX] = '\0';
	assert_int_equal(strlen(max), NU_TRACK_URL_MAX);
	assert_int_equal(strlen(over), NU_TRACK_URL_MAX + 1);
	assert_int_equal(strlen(amp_plain), NU_TRACK_URL_MAX);

	eb_printf(&html, "<a href=\"https://acme.example/first\">1</a>\n"
			 "<a href=\"%s\">over</a>\n<a href=\"%s\">max</a>\n<a href=\"%s\">amp</a>\n"
			 "<a href=\"https://acme.example/a b\">space</a>\n"
			 "<a href=\"https://acme.example/last\">2</a>\n", over, max, amp);
	out = email_track_links(&TR, 42, html.p, &links, err, sizeof err);
	assert_non_null(out);
	assert_int_equal(links.n, 4);
	assert_string_equal(links.url[0], "https://acme.example/first");
	assert_string_equal(links.url[1], max);
	assert_string_equal(links.url[2], amp_plain);
	assert_string_equal(links.url[3], "https://acme.example/last");

	eb_printf(&want, "<a href=\"https://t.acme.example/t/c/%s\">1</a>\n",
		  token_of(EMAIL_TRACK_CLICK, 42, 0, "https://acme.example/first"));
	eb_printf(&want, "<a href=\"%s\">over</a>\n", over);
	eb_printf(&want, "<a href=\"https://t.acme.example/t/c/%s\">max</a>\n",
		  token_of(EMAIL_TRACK_CLICK, 42, 1, max));
	eb_printf(&want, "<a href=\"https://t.acme.example/t/c/%s\">amp</a>\n",
		  token_of(EMAIL_TRACK_CLICK, 42, 2, amp_plain));
	eb_puts(&want, "<a href=\"https://acme.example/a b\">space</a>\n");
	eb_printf(&want, "<a href=\"https://t.acme.example/t/c/%s\">2</a>\n",
		  token_of(EMAIL_TRACK_CLICK, 42, 3, "https://acme.example/last"));
	assert_string_equal(out, want.p);

	/* The longest target's click URL verifies and carries it whole. */
	const char *p = strstr(out, "\">max<");
	const char *tok = p;
	while (tok > out && tok[-1] != '/')
		tok--;
	expect_token(tok, (size_t)(p - tok), EMAIL_TRACK_CLICK, 42, 1, max);

	email_links_free(&links);
	free(out);
	eb_free(&html);
	eb_free(&want);
	free(max);
	free(over);
	free(amp);
	free(amp_plain);
}

/* A maker that answers with this fixed URL, or refuses. */
static int fixed_url(void *ud, int kind, int64_t op_id, int link, const char *url, char *out,
		     size_t outlen)
{
	(void)kind, (void)op_id, (void)link, (void)url;
	if (!ud)
		return -1;
	return snprintf(out, outlen, "%s", (const char *)ud) < (int)outlen ? (int)strlen(out) : -1;
}

static void test_tracking_needs_a_usable_tracker(void **state)
{
	static struct maker short_key = { "https://t.acme.example", KEY, 15, 0 };
	static struct maker no_key = { "https://t.acme.example", NULL, 0, 0 };
	const email_tracker refusing[] = {
		{ NULL, NULL },                 /* no maker at all */
		{ fixed_url, NULL },            /* tracking off: the maker refuses everything */
		{ make_url, &short_key },       /* the core refuses a short key */
		{ make_url, &no_key },
	};
	email_links links;
	char err[256] = "", buf[256];
	char *out;

	(void)state;
	for (size_t i = 0; i < sizeof refusing / sizeof refusing[0]; i++) {
		strcpy(err, "");
		assert_null(email_track_links(&refusing[i], 42, "<a href=\"https://x.example/\">", &links,
					      err, sizeof err));
		assert_string_equal(err, "tracking is not configured (http.tracking_key) or the op id is not > 0");
		assert_int_equal(links.n, 0);
		assert_null(links.url);
		assert_null(email_track_pixel(&refusing[i], 42, "<p>", NULL, 0));
		assert_int_equal(email_unsub_url(buf, sizeof buf, &refusing[i], 42), -1);
	}

	/* A maker whose unsubscribe URL has no "/u/" has no base to tell its
	 * own links by: no rewriting. */
	email_tracker odd = { fixed_url, "https://t.acme.example/unsubscribe?t=1" };
	assert_null(email_track_links(&odd, 42, "<a href=\"https://x.example/\">", &links, NULL, 0));

	/* URLs that are not safe in an attribute are never written. */
	email_tracker quote = { fixed_url, "https://t.acme.example/u/\"><script>" };
	assert_null(email_track_pixel(&quote, 42, "<p>", NULL, 0));
	assert_int_equal(email_unsub_url(buf, sizeof buf, &quote, 42), -1);
	out = email_track_links(&quote, 42, "<a href=\"https://x.example/\">x</a>", &links, NULL, 0);
	if (out) {   /* refused outright, or every link left as it is */
		assert_string_equal(out, "<a href=\"https://x.example/\">x</a>");
		assert_int_equal(links.n, 0);
		free(out);
	}

	/* No op, no tracking; a short buffer fails rather than truncating. */
	MK.calls = 0;
	assert_null(email_track_links(&TR, 0, "<p>", &links, NULL, 0));
	assert_null(email_track_pixel(&TR, -1, "<p>", NULL, 0));
	assert_int_equal(email_unsub_url(buf, sizeof buf, &TR, 0), -1);
	assert_int_equal(email_unsub_url(buf, 40, &TR, 42), -1);
	assert_true(MK.calls > 0);
}

static void test_pixel_placement(void **state)
{
	ebuf px = { 0 }, want = { 0 };
	char *out;

	(void)state;
	eb_printf(&px, "<img src=\"https://t.acme.example/t/o/%s\" width=\"1\" height=\"1\" alt=\"\" "
		  "style=\"border:0\">", token_of(EMAIL_TRACK_OPEN, 42, 0, NULL));
	/* printf 'o|42' | openssl dgst -sha256 -hmac <KEY> -binary, base64url. */
	assert_non_null(strstr(px.p, "/t/o/b3w0Mg.rKG5-x8T2Dj9xRH6RG1XKVWi6_ue1umDSskVR4PMoNc\""));

	out = email_track_pixel(&TR, 42, "<html><body><p>x</p></BODY></html>\n", NULL, 0);
	eb_printf(&want, "<html><body><p>x</p>%s</BODY></html>\n", px.p);
	assert_string_equal(out, want.p);
	free(out);

	/* The last </body> wins (one in a comment comes earlier). */
	want.len = 0;
	out = email_track_pixel(&TR, 42, "<!-- </body> --><body>x</body >", NULL, 0);
	eb_printf(&want, "<!-- </body> --><body>x%s</body >", px.p);
	assert_string_equal(out, want.p);
	free(out);

	/* No </body>: at the end. */
	want.len = 0;
	out = email_track_pixel(&TR, 42, "<p>fragment</p>", NULL, 0);
	eb_printf(&want, "<p>fragment</p>%s", px.p);
	assert_string_equal(out, want.p);
	free(out);

	out = email_track_pixel(&TR, 42, "", NULL, 0);
	assert_string_equal(out, px.p);
	free(out);

	/* The pixel's token is an open of this op. */
	const char *tok = strstr(px.p, "/t/o/") + 5;
	expect_token(tok, strcspn(tok, "\""), EMAIL_TRACK_OPEN, 42, 0, NULL);
	eb_free(&px);
	eb_free(&want);
}

static void test_unsubscribe_url(void **state)
{
	char url[256];

	(void)state;
	assert_int_equal(email_unsub_url(url, sizeof url, &TR, 42), 0);
	/* printf 'u|42' | openssl dgst -sha256 -hmac <KEY> -binary, base64url. */
	assert_string_equal(url, "https://t.acme.example/u/dXw0Mg.MqfajwOPBYDLEX_g4wMcGbo1IE4PMjTHESnBwd6-lXc");
	expect_token(url + 25, strlen(url + 25), EMAIL_TRACK_UNSUB, 42, 0, NULL);
	/* Exactly long enough, and one byte short. */
	assert_int_equal(email_unsub_url(url, strlen(url) + 1, &TR, 42), 0);
	assert_int_equal(email_unsub_url(url, strlen(url), &TR, 42), -1);
}

static void test_verp_round_trip(void **state)
{
	static const char *const bad[] = {
		"bounce+@bounce.acme.example", "bounce+0@bounce.acme.example",
		"bounce+042@bounce.acme.example", "bounce+42x@bounce.acme.example",
		"bounce-42@bounce.acme.example", "bounce+-42@bounce.acme.example",
		"bounce+99999999999999999999@bounce.acme.example",
		"bounce+9223372036854775808@bounce.acme.example", "bounce+42@", "bounce+42",
		"<bounce+42@bounce.acme.example", "bounce+42@bounce.acme.example>",
		"bounce+42@bounce acme.example", "bounce+42@bounce.acme.example@x", "", "b+42@x",
		"xbounce+42@bounce.acme.example",
	};
	char buf[EMAIL_VERP_MAX];
	int64_t op = -1;

	(void)state;
	assert_int_equal(email_verp(buf, sizeof buf, 42, "bounce.acme.example"), 0);
	assert_string_equal(buf, "bounce+42@bounce.acme.example");
	assert_int_equal(email_verp_parse(buf, "bounce.acme.example", &op), 0);
	assert_int_equal(op, 42);
	assert_int_equal(email_verp_parse(" <BOUNCE+7@Bounce.Acme.Example> ", "bounce.acme.example", &op), 0);
	assert_int_equal(op, 7);
	assert_int_equal(email_verp_parse("bounce+8@anything.example", NULL, &op), 0);
	assert_int_equal(op, 8);
	assert_int_equal(email_verp_parse("bounce+8@other.example", "bounce.acme.example", &op), -1);
	assert_int_equal(email_verp_parse("bounce+8@bounce.acme.example.evil", "bounce.acme.example", &op), -1);
	assert_int_equal(op, 8);   /* untouched on failure */

	assert_int_equal(email_verp(buf, sizeof buf, INT64_MAX, "b.example"), 0);
	assert_int_equal(email_verp_parse(buf, "b.example", &op), 0);
	assert_int_equal(op, INT64_MAX);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (email_verp_parse(bad[i], NULL, &op) != -1)
			fail_msg("'%s' was accepted", bad[i]);
	assert_int_equal(email_verp_parse(NULL, NULL, &op), -1);

	assert_int_equal(email_verp(buf, sizeof buf, 0, "b.example"), -1);
	assert_int_equal(email_verp(buf, sizeof buf, 1, "b example"), -1);
	assert_int_equal(email_verp(buf, sizeof buf, 1, ""), -1);
	assert_int_equal(email_verp(buf, 12, 42, "b.example"), -1);
}

/* ---- all together ---- */

static void test_render_track_build(void **state)
{
	email_template *t = parse_ok(
		"Subject: {{name|您好}}，欢迎参加 {{event}}\n\n"
		"<html><body><p>Dear {{name|there}},</p>\n"
		"<p><a href=\"https://acme.example/register?e={{event}}&amp;s=mail\">Register</a> "
		"or <a href=\"{{unsubscribe_url}}\">unsubscribe</a>.</p></body></html>\n", NULL);
	json_t *v = json_pack("{s:s}", "event", "Summit");
	email_rendered r;
	email_links links;
	char err[256] = "", unsub[256], want[512], *tracked, *html, *msg, *hdrs, *body, *subj;
	size_t len;
	email_message m = ascii_msg();

	(void)state;
	assert_int_equal(email_unsub_url(unsub, sizeof unsub, &TR, 42), 0);
	assert_int_equal(json_object_set_new(v, "unsubscribe_url", json_string(unsub)), 0);
	assert_int_equal(email_template_render(t, v, &r, err, sizeof err), 0);
	assert_non_null(tracked = email_track_links(&TR, 42, r.html, &links, err, sizeof err));
	assert_non_null(html = email_track_pixel(&TR, 42, tracked, err, sizeof err));
	assert_int_equal(links.n, 1);
	assert_string_equal(links.url[0], "https://acme.example/register?e=Summit&s=mail");

	m.subject = r.subject;
	m.text = r.text;
	m.html = html;
	m.unsub_url = unsub;
	msg = build_ok(&m, &len);
	subj = header(msg, "Subject");
	assert_string_equal(subj, "您好，欢迎参加 Summit");
	body = part_body(msg, BOUNDARY42, 0, &hdrs);
	snprintf(want, sizeof want, "Dear there,\r\n\r\nRegister "
		 "(https://acme.example/register?e=Summit&s=mail) or unsubscribe (%s).\r\n", unsub);
	assert_string_equal(body, want);
	free(body);
	free(hdrs);
	body = part_body(msg, BOUNDARY42, 1, &hdrs);
	assert_non_null(strstr(body, "/t/c/"));
	assert_non_null(strstr(body, "/t/o/"));
	assert_non_null(strstr(body, unsub));   /* the unsubscribe link is never wrapped */
	assert_null(strstr(body, "acme.example/register"));
	free(body);
	free(hdrs);

	free(subj);
	free(msg);
	free(html);
	free(tracked);
	email_links_free(&links);
	email_rendered_free(&r);
	json_decref(v);
	email_template_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tmpl_escaping_and_raw),
		cmocka_unit_test(test_tmpl_defaults),
		cmocka_unit_test(test_tmpl_value_kinds),
		cmocka_unit_test(test_tmpl_missing_variable),
		cmocka_unit_test(test_tmpl_syntax_errors),
		cmocka_unit_test(test_tmpl_literal_braces),
		cmocka_unit_test(test_tmpl_variable_list_and_check),
		cmocka_unit_test(test_tmpl_text_from_html),
		cmocka_unit_test(test_tmpl_unescape),
		cmocka_unit_test(test_tmpl_subject_is_one_line),
		cmocka_unit_test(test_tmpl_load_files),
		cmocka_unit_test(test_mime_exact_message),
		cmocka_unit_test(test_mime_chinese_subject),
		cmocka_unit_test(test_mime_display_names),
		cmocka_unit_test(test_mime_crlf_only),
		cmocka_unit_test(test_mime_quoted_printable),
		cmocka_unit_test(test_mime_base64_for_cjk),
		cmocka_unit_test(test_mime_boundary),
		cmocka_unit_test(test_mime_single_part),
		cmocka_unit_test(test_mime_message_id_and_date),
		cmocka_unit_test(test_mime_unsubscribe_headers),
		cmocka_unit_test(test_mime_extra_headers),
		cmocka_unit_test(test_mime_refuses_bad_input),
		cmocka_unit_test(test_links_rewritten),
		cmocka_unit_test(test_links_own_base),
		cmocka_unit_test(test_links_too_long_left_alone),
		cmocka_unit_test(test_tracking_needs_a_usable_tracker),
		cmocka_unit_test(test_pixel_placement),
		cmocka_unit_test(test_unsubscribe_url),
		cmocka_unit_test(test_verp_round_trip),
		cmocka_unit_test(test_render_track_build),
	};

	return cmocka_run_group_tests_name("email_message", tests, NULL, NULL);
}
