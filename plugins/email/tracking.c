/*
 * tracking.c — the HTML rewriting that places tracking URLs (click links
 * and the open pixel), the unsubscribe URL, and VERP envelope senders
 * (tracking.h). The URLs themselves, and the signed tokens in them, come
 * from the host (track_url): only the daemon holds the key.
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
#include "buf.h"
#include "template.h"
#include "tracking.h"


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

/* ---- URLs in HTML ---- */

/* The tracker's own prefix: what comes before the last "/u/" in an unsubscribe URL
 * it makes (so links already pointing there are never wrapped again).
 * Returns its length, or 0 when the tracker makes no URLs. */
static size_t base_of(const email_tracker *tr, char *base, size_t cap)
{
	char *u;

	if (!tr->url || tr->url(tr->ud, EMAIL_TRACK_UNSUB, 1, 0, NULL, base, cap) < 0 ||
	    !(u = strstr(base, "/u/")))
		return 0;
	/* The last one: the base itself may hold a "/u/". */
	for (char *next; (next = strstr(u + 1, "/u/"));)
		u = next;
	*u = '\0';
	return (size_t)(u - base);
}

/* A tracking URL that is safe in a double-quoted attribute. */
static int make(char *out, size_t cap, const email_tracker *tr, email_track_kind kind,
		int64_t op_id, int link, const char *url)
{
	if (tr->url(tr->ud, kind, op_id, link, url, out, cap) < 0)
		return -1;
	for (const char *c = out; *c; c++)
		if (*c < 0x21 || *c > 0x7e || strchr("\"'<>\\", *c))
			return -1;
	return 0;
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
static int own_url(const char *base, size_t blen, const char *url)
{
	return !strncmp(url, base, blen) &&
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
	char base[EMAIL_URL_MAX], tracked[EMAIL_URL_MAX], *url = NULL, *out;
	size_t blen = base_of(tr, base, sizeof base), run = 0, vstart, vlen;
	ebuf b = { 0 };

	links->url = NULL;
	links->n = 0;
	if (!blen || op_id <= 0) {
		eb_fail(err, errlen, "tracking is not configured (http.tracking_key) or the op id is not > 0");
		return NULL;
	}
	for (size_t i = 0; html[i]; i++) {
		if (!href_at(html, i, &vstart, &vlen) || !in_link_tag(html, i) ||
		    (strncasecmp(html + vstart, "http://", 7) && strncasecmp(html + vstart, "https://", 8)))
			continue;
		if (!(url = email_html_unescape(html + vstart, vlen)))
			goto oom;
		/* Ours already, or a target the host will not sign (too long):
		 * left as it is. */
		if (own_url(base, blen, url) || links->n >= INT_MAX ||
		    make(tracked, sizeof tracked, tr, EMAIL_TRACK_CLICK, op_id, (int)links->n, url) < 0) {
			free(url);
			url = NULL;
			continue;
		}
		if (add_link(links, url) < 0)
			goto oom;
		url = NULL;
		eb_put(&b, html + run, vstart - run);
		eb_puts(&b, tracked);
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
	size_t n = strlen(html), at = n;
	char pixel[EMAIL_URL_MAX], *out;
	ebuf b = { 0 };

	if (!tr->url || make(pixel, sizeof pixel, tr, EMAIL_TRACK_OPEN, op_id, 0, NULL) < 0) {
		eb_fail(err, errlen, "tracking is not configured (http.tracking_key) or the op id is not > 0");
		return NULL;
	}
	for (size_t i = n; i-- > 0;)
		if (n - i >= 6 && !strncasecmp(html + i, "</body", 6)) {
			at = i;
			break;
		}
	eb_put(&b, html, at);
	eb_printf(&b, "<img src=\"%s\" width=\"1\" height=\"1\" alt=\"\" style=\"border:0\">", pixel);
	eb_puts(&b, html + at);
	if (!(out = eb_take(&b)))
		eb_fail(err, errlen, "out of memory");
	return out;
}

int email_unsub_url(char *out, size_t outlen, const email_tracker *tr, int64_t op_id)
{
	return tr->url && make(out, outlen, tr, EMAIL_TRACK_UNSUB, op_id, 0, NULL) == 0 ? 0 : -1;
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
