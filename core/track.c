/*
 * track.c — signed open, click and unsubscribe tokens (track.h).
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "track.h"

#define MAC_LEN     32
#define PAYLOAD_MAX (2 + 19 + 1 + 10 + 1 + NU_TRACK_URL_MAX + 1)

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded; out has room for 4 * ceil(n / 3) + 1. Returns the length. */
size_t nu_b64url_encode(const unsigned char *s, size_t n, char *out)
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
long nu_b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap)
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

static int mac(const unsigned char *key, size_t keylen, const char *p, size_t n,
	       unsigned char out[MAC_LEN])
{
	unsigned int len = 0;

	return HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)p, n, out, &len) &&
	       len == MAC_LEN ? 0 : -1;
}

/* An absolute http(s) URL with a host, printable ASCII only (anything
 * else in an href must be percent-encoded), within the length limit. */
static int web_url(const char *url, size_t n)
{
	size_t scheme = n > 7 && !strncasecmp(url, "http://", 7) ? 7 :
			n > 8 && !strncasecmp(url, "https://", 8) ? 8 : 0;

	if (!scheme || n > NU_TRACK_URL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] < 0x21 || (unsigned char)url[i] > 0x7e)
			return 0;
	return 1;
}

static int payload_of(const nu_track *t, char out[PAYLOAD_MAX])
{
	int n;

	if (t->op_id <= 0)
		return -1;
	if (t->kind == NU_TRACK_CLICK && t->link >= 0 && web_url(t->url, strlen(t->url)))
		n = snprintf(out, PAYLOAD_MAX, "c|%lld|%d|%s", (long long)t->op_id, t->link, t->url);
	else if (t->kind == NU_TRACK_OPEN || t->kind == NU_TRACK_UNSUB)
		n = snprintf(out, PAYLOAD_MAX, "%c|%lld", (char)t->kind, (long long)t->op_id);
	else
		return -1;
	return n > 0 && n < PAYLOAD_MAX ? n : -1;
}

int nu_track_make(char *out, const unsigned char *key, size_t keylen, const nu_track *t)
{
	char payload[PAYLOAD_MAX];
	unsigned char m[MAC_LEN];
	int n = payload_of(t, payload);
	size_t k;

	out[0] = '\0';
	if (n < 0 || !key || keylen < NU_TRACK_KEY_MIN || keylen > INT_MAX ||
	    mac(key, keylen, payload, (size_t)n, m) < 0)
		return -1;
	k = nu_b64url_encode((const unsigned char *)payload, (size_t)n, out);
	out[k++] = '.';
	nu_b64url_encode(m, MAC_LEN, out + k);
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

/* "c|<op>|<n>|<url>" after the "c|". */
static int parse_click(const char *p, size_t n, nu_track *t)
{
	const char *bar1 = memchr(p, '|', n), *bar2;
	int64_t link = 0;

	if (!bar1 || !(bar2 = memchr(bar1 + 1, '|', n - (size_t)(bar1 + 1 - p))) ||
	    parse_num(p, (size_t)(bar1 - p), 1, INT64_MAX, &t->op_id) < 0 ||
	    parse_num(bar1 + 1, (size_t)(bar2 - bar1 - 1), 0, INT_MAX, &link) < 0)
		return -1;
	size_t ulen = n - (size_t)(bar2 + 1 - p);
	if (!web_url(bar2 + 1, ulen))
		return -1;
	memcpy(t->url, bar2 + 1, ulen);
	t->url[ulen] = '\0';
	t->link = (int)link;
	return 0;
}

static int parse_payload(const char *p, size_t n, nu_track *t)
{
	if (n < 3 || p[1] != '|' || (p[0] != 'o' && p[0] != 'c' && p[0] != 'u'))
		return -1;
	t->kind = (nu_track_kind)p[0];
	if (t->kind == NU_TRACK_CLICK)
		return parse_click(p + 2, n - 2, t);
	return parse_num(p + 2, n - 2, 1, INT64_MAX, &t->op_id);
}

int nu_track_verify(const char *token, size_t len, const unsigned char *key, size_t keylen,
		    nu_track *t)
{
	const char *dot = token ? memchr(token, '.', len) : NULL;
	unsigned char payload[PAYLOAD_MAX], sig[MAC_LEN + 1], m[MAC_LEN];
	long plen;

	memset(t, 0, sizeof *t);
	if (!dot || !key || keylen < NU_TRACK_KEY_MIN || keylen > INT_MAX ||
	    (plen = nu_b64url_decode(token, (size_t)(dot - token), payload, sizeof payload)) <= 0 ||
	    nu_b64url_decode(dot + 1, len - (size_t)(dot + 1 - token), sig, sizeof sig) != MAC_LEN ||
	    mac(key, keylen, (const char *)payload, (size_t)plen, m) < 0 ||
	    CRYPTO_memcmp(m, sig, MAC_LEN) != 0 ||
	    parse_payload((const char *)payload, (size_t)plen, t) < 0) {
		memset(t, 0, sizeof *t);
		return -1;
	}
	return 0;
}
