/*
 * tracking.c — open/click/unsubscribe tokens (HMAC-SHA256, canonical
 * base64url), the HTML rewriting that places them (click links and the
 * open pixel), the unsubscribe URL, and VERP envelope senders (tracking.h).
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* strndup, strncasecmp, gmtime_r, mkdtemp */
#endif
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "buf.h"
#include "template.h"
#include "tracking.h"

#define MAC_LEN     32
#define PAYLOAD_MAX 40   /* "c|" int64 "|" int: 2 + 19 + 1 + 10 */

/* ---- base64url ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded; out has room for 4 * ceil(n / 3) + 1. Returns the length. */
static size_t b64url_encode(const unsigned char *s, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);
		out[k++] = b64url[v >> 18];
		out[k++] = b64url[v >> 12 & 63];
		if (i + 1 < n)
			out[k++] = b64url[v >> 6 & 63];
		if (i + 2 < n)
			out[k++] = b64url[v & 63];
	}
	out[k] = '\0';
	return k;
}

static int b64url_value(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;

	return p ? (int)(p - b64url) : -1;
}

/* Decodes canonical unpadded base64url s[0..n) (unused low bits zero, so
 * one text per byte string) into out[cap]. Returns the length, or -1. */
static long b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t k = 0;

	if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64url_value(s[i]);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[k++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return acc ? -1 : (long)k;
}

/* ---- tokens ---- */

static int mac(const unsigned char *key, size_t keylen, const char *p, size_t n,
	       unsigned char out[MAC_LEN])
{
	unsigned int len = 0;

	return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)p, n, out, &len) &&
	       len == MAC_LEN ? 0 : -1;
}

static int payload_of(const email_track *t, char out[PAYLOAD_MAX])
{
	int n;

	if (t->op_id <= 0)
		return -1;
	if (t->kind == EMAIL_TRACK_CLICK && t->link >= 0)
		n = snprintf(out, PAYLOAD_MAX, "c|%lld|%d", (long long)t->op_id, t->link);
	else if (t->kind == EMAIL_TRACK_OPEN || t->kind == EMAIL_TRACK_UNSUB)
		n = snprintf(out, PAYLOAD_MAX, "%c|%lld", (char)t->kind, (long long)t->op_id);
	else
		return -1;
	return n > 0 && n < PAYLOAD_MAX ? n : -1;
}

int email_token_make(char out[EMAIL_TOKEN_MAX], const unsigned char *key, size_t keylen,
		     const email_track *t)
{
	char payload[PAYLOAD_MAX];
	unsigned char m[MAC_LEN];
	int n = payload_of(t, payload);
	size_t k;

	out[0] = '\0';
	if (n < 0 || !key || keylen < EMAIL_KEY_MIN || keylen > INT_MAX ||
	    mac(key, keylen, payload, (size_t)n, m) < 0)
		return -1;
	k = b64url_encode((const unsigned char *)payload, (size_t)n, out);
	out[k++] = '.';
	b64url_encode(m, MAC_LEN, out + k);
	return 0;
}

/* A canonical decimal s[0..n) in [min, max]. */
static int parse_num(const char *s, size_t n, int64_t min, int64_t max, int64_t *v)
{
	int64_t x = 0;

	if (!n || n > 19 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]) || x > (max - (s[i] - '0')) / 10)
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	if (x < min)
		return -1;
	*v = x;
	return 0;
}

/* Exactly "o|<op>", "u|<op>" or "c|<op>|<n>". */
static int parse_payload(const char *p, size_t n, email_track *t)
{
	const char *bar;
	int64_t link = 0;

	if (n < 3 || p[1] != '|' || (p[0] != 'o' && p[0] != 'c' && p[0] != 'u'))
		return -1;
	t->kind = (email_track_kind)p[0];
	p += 2;
	n -= 2;
	bar = memchr(p, '|', n);
	if (t->kind != EMAIL_TRACK_CLICK)
		return parse_num(p, n, 1, INT64_MAX, &t->op_id);
	if (!bar || parse_num(p, (size_t)(bar - p), 1, INT64_MAX, &t->op_id) < 0 ||
	    parse_num(bar + 1, n - (size_t)(bar + 1 - p), 0, INT_MAX, &link) < 0)
		return -1;
	t->link = (int)link;
	return 0;
}

int email_token_verify(const char *token, size_t len, const unsigned char *key, size_t keylen,
		       email_track *t)
{
	const char *dot = token ? memchr(token, '.', len) : NULL;
	unsigned char payload[PAYLOAD_MAX], sig[MAC_LEN + 1], m[MAC_LEN];
	long plen;

	memset(t, 0, sizeof *t);
	if (!dot || !key || keylen < EMAIL_KEY_MIN || keylen > INT_MAX ||
	    (plen = b64url_decode(token, (size_t)(dot - token), payload, sizeof payload)) <= 0 ||
	    b64url_decode(dot + 1, len - (size_t)(dot + 1 - token), sig, sizeof sig) != MAC_LEN ||
	    mac(key, keylen, (const char *)payload, (size_t)plen, m) < 0 ||
	    CRYPTO_memcmp(m, sig, MAC_LEN) != 0 ||
	    parse_payload((const char *)payload, (size_t)plen, t) < 0) {
		memset(t, 0, sizeof *t);
		return -1;
	}
	return 0;
}

/* ---- URLs in HTML ---- */

/* The usable length of tr->base (a trailing '/' dropped), or 0 when the
 * tracker is unusable: base must be http(s):// and safe in an attribute. */
static size_t base_len(const email_tracker *tr)
{
	size_t n;

	if (!tr->base || !tr->key || tr->keylen < EMAIL_KEY_MIN ||
	    (strncasecmp(tr->base, "https://", 8) && strncasecmp(tr->base, "http://", 7)))
		return 0;
	n = strlen(tr->base);
	for (size_t i = 0; i < n; i++)
		if (tr->base[i] < 0x21 || tr->base[i] > 0x7e || strchr("\"'<>\\", tr->base[i]))
			return 0;
	if (tr->base[n - 1] == '/')
		n--;
	return n;
}

static int make(char out[EMAIL_TOKEN_MAX], const email_tracker *tr, email_track_kind kind,
		int64_t op_id, int link)
{
	email_track t = { kind, op_id, link };

	return email_token_make(out, tr->key, tr->keylen, &t);
}

/* An href attribute starting at html[i] (after whitespace): sets the quoted
 * value's start and length. */
static int href_at(const char *html, size_t i, size_t *vstart, size_t *vlen)
{
	size_t j = i + 4;
	const char *close;

	if (!i || !isspace((unsigned char)html[i - 1]) || strncasecmp(html + i, "href", 4))
		return 0;
	while (isspace((unsigned char)html[j]))
		j++;
	if (html[j++] != '=')
		return 0;
	while (isspace((unsigned char)html[j]))
		j++;
	if ((html[j] != '"' && html[j] != '\'') || !(close = strchr(html + j + 1, html[j])))
		return 0;
	*vstart = j + 1;
	*vlen = (size_t)(close - (html + j + 1));
	return 1;
}

/* Whether the attribute at html[i] sits in a tag that takes clicks: not
 * in text, and not in <link> (stylesheets) or <base>. */
static int in_link_tag(const char *html, size_t i)
{
	size_t lt = i, n = 0;

	while (lt > 0 && html[lt - 1] != '<' && html[lt - 1] != '>')
		lt--;
	if (lt == 0 || html[lt - 1] != '<')
		return 0;
	while (isalnum((unsigned char)html[lt + n]) || html[lt + n] == ':' || html[lt + n] == '-')
		n++;
	return !((n == 4 && !strncasecmp(html + lt, "link", 4)) ||
		 (n == 4 && !strncasecmp(html + lt, "base", 4)));
}

/* A URL of ours: never wrapped again. */
static int own_url(const email_tracker *tr, size_t blen, const char *url)
{
	return !strncmp(url, tr->base, blen) &&
	       (!strncmp(url + blen, "/t/", 3) || !strncmp(url + blen, "/u/", 3));
}

static int add_link(email_links *l, char *url)
{
	char **u = realloc(l->url, (l->n + 1) * sizeof *u);

	if (!u)
		return -1;
	l->url = u;
	l->url[l->n++] = url;
	return 0;
}

char *email_track_links(const email_tracker *tr, int64_t op_id, const char *html,
			email_links *links, char *err, size_t errlen)
{
	size_t blen = base_len(tr), run = 0, vstart, vlen;
	char token[EMAIL_TOKEN_MAX], *url = NULL, *out;
	ebuf b = { 0 };

	links->url = NULL;
	links->n = 0;
	if (!blen || op_id <= 0) {
		eb_fail(err, errlen, "tracking needs an http(s) base URL, a key of %d bytes or more "
		     "and an op id > 0", EMAIL_KEY_MIN);
		return NULL;
	}
	for (size_t i = 0; html[i]; i++) {
		if (!href_at(html, i, &vstart, &vlen) || !in_link_tag(html, i) ||
		    (strncasecmp(html + vstart, "http://", 7) && strncasecmp(html + vstart, "https://", 8)))
			continue;
		if (!(url = email_html_unescape(html + vstart, vlen)))
			goto oom;
		if (own_url(tr, blen, url)) {
			free(url);
			continue;
		}
		if (links->n >= INT_MAX || make(token, tr, EMAIL_TRACK_CLICK, op_id, (int)links->n) < 0 ||
		    add_link(links, url) < 0)
			goto oom;
		url = NULL;
		eb_put(&b, html + run, vstart - run);
		eb_printf(&b, "%.*s/t/c/%s", (int)blen, tr->base, token);
		run = vstart + vlen;
		i = run - 1;
	}
	eb_puts(&b, html + run);
	if ((out = eb_take(&b)))
		return out;
oom:
	free(url);
	eb_free(&b);
	email_links_free(links);
	eb_fail(err, errlen, "out of memory");
	return NULL;
}

void email_links_free(email_links *links)
{
	for (size_t i = 0; i < links->n; i++)
		free(links->url[i]);
	free(links->url);
	links->url = NULL;
	links->n = 0;
}

char *email_track_pixel(const email_tracker *tr, int64_t op_id, const char *html,
			char *err, size_t errlen)
{
	size_t blen = base_len(tr), n = strlen(html), at = n;
	char token[EMAIL_TOKEN_MAX], *out;
	ebuf b = { 0 };

	if (!blen || make(token, tr, EMAIL_TRACK_OPEN, op_id, 0) < 0) {
		eb_fail(err, errlen, "tracking needs an http(s) base URL, a key of %d bytes or more "
		     "and an op id > 0", EMAIL_KEY_MIN);
		return NULL;
	}
	for (size_t i = n; i-- > 0;)
		if (n - i >= 6 && !strncasecmp(html + i, "</body", 6)) {
			at = i;
			break;
		}
	eb_put(&b, html, at);
	eb_printf(&b, "<img src=\"%.*s/t/o/%s\" width=\"1\" height=\"1\" alt=\"\" style=\"border:0\">",
		  (int)blen, tr->base, token);
	eb_puts(&b, html + at);
	if (!(out = eb_take(&b)))
		eb_fail(err, errlen, "out of memory");
	return out;
}

int email_unsub_url(char *out, size_t outlen, const email_tracker *tr, int64_t op_id)
{
	size_t blen = base_len(tr);
	char token[EMAIL_TOKEN_MAX];
	int n;

	if (!blen || make(token, tr, EMAIL_TRACK_UNSUB, op_id, 0) < 0)
		return -1;
	n = snprintf(out, outlen, "%.*s/u/%s", (int)blen, tr->base, token);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* ---- VERP ---- */

static int host_chars(const char *s, size_t n)
{
	if (!n || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

int email_verp(char *out, size_t outlen, int64_t op_id, const char *domain)
{
	int n;

	if (op_id <= 0 || !domain || !host_chars(domain, strlen(domain)))
		return -1;
	n = snprintf(out, outlen, "bounce+%lld@%s", (long long)op_id, domain);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int email_verp_parse(const char *rcpt, const char *domain, int64_t *op_id)
{
	const char *s = rcpt, *at, *end;
	int64_t v;

	if (!s)
		return -1;
	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	if (end > s && *s == '<') {
		if (end[-1] != '>')
			return -1;
		s++;
		end--;
	}
	if (end - s < 7 || strncasecmp(s, "bounce+", 7) || !(at = memchr(s, '@', (size_t)(end - s))) ||
	    parse_num(s + 7, (size_t)(at - s - 7), 1, INT64_MAX, &v) < 0 ||
	    !host_chars(at + 1, (size_t)(end - at - 1)) ||
	    (domain && (strlen(domain) != (size_t)(end - at - 1) ||
			strncasecmp(at + 1, domain, (size_t)(end - at - 1)))))
		return -1;
	*op_id = v;
	return 0;
}
