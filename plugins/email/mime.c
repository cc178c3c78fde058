/*
 * mime.c — the RFC 5322 / MIME message builder (mime.h): header encoding
 * (RFC 2047 encoded words) and folding, address checks, the Date and
 * Message-ID headers, RFC 8058 unsubscribe headers, and the
 * multipart/alternative body in quoted-printable or base64 with CRLF line
 * ends everywhere.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* strndup, strncasecmp, gmtime_r, mkdtemp */
#endif
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <openssl/sha.h>
#include "buf.h"
#include "mime.h"

#define FOLD_AT   78    /* columns a header line should not pass */
#define LINE_MAX_ 998   /* octets a line must not pass (RFC 5322 §2.1.1) */
#define WORD_MAX  75    /* an encoded word, "=?UTF-8?B?…?=" included (RFC 2047 §2) */
#define WORD_WRAP 12    /* strlen("=?UTF-8?B?") + strlen("?=") */

/* ---- checks ---- */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2, cp = s[0] & 0x1Fu;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3, cp = s[0] & 0x0Fu;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

static int utf8_valid(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), k;

	for (size_t i = 0; i < n; i += k)
		if (!(k = utf8_len(u + i, n - i)))
			return 0;
	return 1;
}

/* Letters, digits and '-' in dot-separated labels. */
static int valid_domain(const char *s, size_t n)
{
	size_t label = 0;

	if (!n || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (!label)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)s[i]) || s[i] == '-') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

/* A dot-atom local part (RFC 5322 §3.4.1) at a valid domain. */
static int valid_addr(const char *a)
{
	const char *at = a ? strrchr(a, '@') : NULL;
	size_t local;

	if (!at || (local = (size_t)(at - a)) == 0 || local > 64 || a[0] == '.' || at[-1] == '.')
		return 0;
	for (size_t i = 0; i < local; i++)
		if (!(isalnum((unsigned char)a[i]) || strchr("!#$%&'*+-/=?^_`{|}~.", a[i])) ||
		    (a[i] == '.' && a[i + 1] == '.'))
			return 0;
	return valid_domain(at + 1, strlen(at + 1));
}

static int has_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* Printable ASCII with no spaces or angle brackets: fits in <…>. */
static int valid_uri(const char *s)
{
	for (; *s; s++)
		if (*s < 0x21 || *s > 0x7e || *s == '<' || *s == '>')
			return 0;
	return 1;
}

/* ---- headers ---- */

/* Whether an unstructured value or phrase needs encoded words. */
static int needs_words(const char *s)
{
	for (const unsigned char *u = (const unsigned char *)s; *u; u++)
		if (*u >= 0x7f || (*u < 0x20 && *u != '\t'))
			return 1;
	return strstr(s, "=?") != NULL;
}

/* Bytes a Q encoded word spends on c (RFC 2047 §5 (3): safe in phrases). */
static size_t q_cost(unsigned char c)
{
	return isalnum(c) || c == ' ' || strchr("!*+-/", c) ? 1 : 3;
}

static void put_q(ebuf *b, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ') {
			eb_putc(b, '_');
		} else if (q_cost(s[i]) == 1) {
			eb_putc(b, (char)s[i]);
		} else {
			char e[3] = { '=', hex[s[i] >> 4], hex[s[i] & 15] };
			eb_put(b, e, 3);
		}
	}
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_b64(ebuf *b, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);
		char o[4] = { b64[v >> 18], b64[v >> 12 & 63], i + 1 < n ? b64[v >> 6 & 63] : '=',
			      i + 2 < n ? b64[v & 63] : '=' };
		eb_put(b, o, 4);
	}
}

/* s as encoded words separated by spaces: Q if no longer than B. Each
 * word holds whole characters; the first is at most `first` long, the
 * rest at most WORD_MAX, so each fits its line once folded. */
static void put_words(ebuf *b, const char *str, size_t first)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), qlen = 0, max = first < WORD_MAX ? first : WORD_MAX;
	int q;

	for (size_t i = 0; i < n; i++)
		qlen += q_cost(s[i]);
	q = qlen <= 4 * ((n + 2) / 3);
	for (size_t i = 0, j; i < n; i = j, max = WORD_MAX) {
		size_t cost = 0;

		for (j = i; j < n;) {
			size_t k = utf8_len(s + j, n - j), c = cost;

			for (size_t x = 0; q && x < k; x++)
				c += q_cost(s[j + x]);
			if (!q)
				c = 4 * ((j + k - i + 2) / 3);
			if (j > i && c + WORD_WRAP > max)
				break;
			cost = c;
			j += k;
		}
		if (i)
			eb_putc(b, ' ');
		eb_puts(b, q ? "=?UTF-8?Q?" : "=?UTF-8?B?");
		(q ? put_q : put_b64)(b, s + i, j - i);
		eb_puts(b, "?=");
	}
}

/* "name: value" CRLF, folded before a space when a line would pass
 * FOLD_AT columns. A token longer than that stays whole. */
static void put_header(ebuf *b, const char *name, const char *value)
{
	size_t col = strlen(name) + 2;

	eb_puts(b, name);
	eb_puts(b, ": ");
	for (const char *p = value, *q; *p; p = q) {
		for (q = p; *q == ' '; q++)
			;
		int word = *q != '\0';
		for (; *q && *q != ' '; q++)
			;
		if (*p == ' ' && word && col + (size_t)(q - p) > FOLD_AT) {
			eb_put(b, "\r\n", 2);
			col = 0;
		}
		eb_put(b, p, (size_t)(q - p));
		col += (size_t)(q - p);
	}
	eb_put(b, "\r\n", 2);
}

/* Subject and other free text. */
static void put_unstructured(ebuf *b, const char *name, const char *value)
{
	ebuf v = { 0 };

	if (!needs_words(value)) {
		put_header(b, name, value);
		return;
	}
	put_words(&v, value, FOLD_AT - strlen(name) - 2);
	put_header(b, name, v.p ? v.p : "");
	b->failed |= v.failed;
	eb_free(&v);
}

/* "Display Name" <addr>, the name as a quoted string or encoded words. */
static int put_mailbox(ebuf *b, const char *hname, const email_addr *a, char *err, size_t errlen)
{
	ebuf v = { 0 };

	if (!valid_addr(a->addr))
		return eb_fail(err, errlen, "%s: bad address '%.80s'", hname, a->addr ? a->addr : "(null)");
	if (a->name && *a->name) {
		if (has_break(a->name) || !utf8_valid(a->name))
			return eb_fail(err, errlen, "%s: the display name has a line break or bad UTF-8",
				    hname);
		if (needs_words(a->name)) {
			put_words(&v, a->name, FOLD_AT - strlen(hname) - 2);
		} else {
			eb_putc(&v, '"');
			for (const char *p = a->name; *p; p++) {
				if (*p == '"' || *p == '\\')
					eb_putc(&v, '\\');
				eb_putc(&v, *p);
			}
			eb_putc(&v, '"');
		}
		eb_putc(&v, ' ');
	}
	eb_printf(&v, "<%s>", a->addr);
	put_header(b, hname, v.p ? v.p : "");
	b->failed |= v.failed;
	eb_free(&v);
	return 0;
}

static int put_unsubscribe(ebuf *b, const email_message *m, char *err, size_t errlen)
{
	const char *url = m->unsub_url, *mail = m->unsub_mailto;
	ebuf v = { 0 };

	if (!url && !mail)
		return 0;
	if (url && (!valid_uri(url) || (strncasecmp(url, "https://", 8) &&
					 strncasecmp(url, "http://", 7))))
		return eb_fail(err, errlen, "List-Unsubscribe: bad URL '%.80s'", url);
	if (mail && !valid_uri(mail))
		return eb_fail(err, errlen, "List-Unsubscribe: bad mailto '%.80s'", mail);
	if (url)
		eb_printf(&v, "<%s>", url);
	if (mail)
		eb_printf(&v, "%s<%s%s>", url ? ", " : "", strncasecmp(mail, "mailto:", 7) ? "mailto:" : "",
			  mail);
	put_header(b, "List-Unsubscribe", v.p ? v.p : "");
	b->failed |= v.failed;
	eb_free(&v);
	if (url)
		put_header(b, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
	return 0;
}

static int put_extra(ebuf *b, const email_header *h, char *err, size_t errlen)
{
	static const char *const own[] = { "Date", "From", "To", "Subject", "Message-ID",
					   "MIME-Version", "Content-Type",
					   "Content-Transfer-Encoding", "List-Unsubscribe",
					   "List-Unsubscribe-Post", NULL };
	size_t n = h->name ? strlen(h->name) : 0;

	if (!n || n > 64)
		return eb_fail(err, errlen, "bad header name '%.80s'", h->name ? h->name : "(null)");
	for (size_t i = 0; i < n; i++)
		if (h->name[i] < 0x21 || h->name[i] > 0x7e || h->name[i] == ':')
			return eb_fail(err, errlen, "bad header name '%.80s'", h->name);
	for (size_t i = 0; own[i]; i++)
		if (!strcasecmp(h->name, own[i]))
			return eb_fail(err, errlen, "header '%s' is set by the message builder", h->name);
	if (!h->value || has_break(h->value) || !utf8_valid(h->value))
		return eb_fail(err, errlen, "header '%s': the value is missing, has a line break or bad UTF-8",
			    h->name);
	put_unstructured(b, h->name, h->value);
	return 0;
}

/* ---- body ---- */

/* s with every line end as CRLF. */
static void put_crlf(ebuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\r' || *s == '\n') {
			eb_put(b, "\r\n", 2);
			if (s[0] == '\r' && s[1] == '\n')
				s++;
		} else {
			eb_putc(b, *s);
		}
	}
}

/* Quoted-printable (RFC 2045 §6.7): lines of at most 76, '=' and 8-bit
 * and control bytes and whitespace before a line end encoded, and a '.'
 * that starts a line too, so no relay can take it for the end of DATA. */
static void put_qp(ebuf *b, const char *str)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)str;
	size_t col = 0;

	for (size_t i = 0; s[i]; i++) {
		unsigned char c = s[i];
		int eol = !s[i + 1] || s[i + 1] == '\r' || s[i + 1] == '\n', enc;

		if (c == '\r' || c == '\n') {
			if (c == '\r' && s[i + 1] == '\n')
				i++;
			eb_put(b, "\r\n", 2);
			col = 0;
			continue;
		}
		enc = c == '=' || c >= 0x7f || (c < 0x20 && c != '\t') ||
		      ((c == ' ' || c == '\t') && eol);
		if (col + ((enc || (c == '.' && !col)) ? 3 : 1) > (eol ? 76u : 75u)) {
			eb_put(b, "=\r\n", 3);
			col = 0;
		}
		if (enc || (c == '.' && !col)) {
			char e[3] = { '=', hex[c >> 4], hex[c & 15] };
			eb_put(b, e, 3);
			col += 3;
		} else {
			eb_putc(b, (char)c);
			col++;
		}
	}
}

/* Base64 in lines of 76. */
static void put_b64_lines(ebuf *b, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i += 57) {
		if (i)
			eb_put(b, "\r\n", 2);
		put_b64(b, s + i, n - i < 57 ? n - i : 57);
	}
}

/* A part's headers, the blank line and its body, in whichever of
 * quoted-printable and base64 is shorter. No CRLF after the body. */
static void put_part(ebuf *b, const char *type, const char *body)
{
	ebuf qp = { 0 }, canon = { 0 };
	size_t b64len;

	put_qp(&qp, body);
	put_crlf(&canon, body);
	b64len = 4 * ((canon.len + 2) / 3);
	b64len += b64len ? 2 * ((b64len - 1) / 76) : 0;
	eb_printf(b, "Content-Type: %s; charset=utf-8\r\n", type);
	if (qp.len <= b64len) {
		eb_puts(b, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		eb_put(b, qp.p ? qp.p : "", qp.len);
	} else {
		eb_puts(b, "Content-Transfer-Encoding: base64\r\n\r\n");
		put_b64_lines(b, (const unsigned char *)canon.p, canon.len);
	}
	b->failed |= qp.failed | canon.failed;
	eb_free(&qp);
	eb_free(&canon);
}

static void put_body(ebuf *b, const email_message *m, const char *msgid)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];
	char boundary[5 + 32 + 1] = "=_nu_";

	if (!m->text || !m->html) {
		put_part(b, m->text ? "text/plain" : "text/html", m->text ? m->text : m->html);
		if (b->len < 2 || memcmp(b->p + b->len - 2, "\r\n", 2))
			eb_put(b, "\r\n", 2);   /* the message ends with a line end */
		return;
	}
	SHA256((const unsigned char *)msgid, strlen(msgid), md);
	for (int i = 0; i < 16; i++) {
		boundary[5 + 2 * i] = hex[md[i] >> 4];
		boundary[6 + 2 * i] = hex[md[i] & 15];
	}
	boundary[37] = '\0';
	eb_printf(b, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n", boundary);
	eb_printf(b, "--%s\r\n", boundary);
	put_part(b, "text/plain", m->text);
	eb_printf(b, "\r\n--%s\r\n", boundary);
	put_part(b, "text/html", m->html);
	eb_printf(b, "\r\n--%s--\r\n", boundary);
}

/* No bare CR or LF and no line past LINE_MAX_: the builder's own promise. */
static int well_formed(const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && (i + 1 >= n || s[i + 1] != '\n'))
			return 0;
		if (s[i] == '\n') {
			if (!i || s[i - 1] != '\r' || i - 1 - start > LINE_MAX_)
				return 0;
			start = i + 1;
		}
	}
	return n - start <= LINE_MAX_;
}

/* ---- the message ---- */

int email_message_id(char *out, size_t outlen, int64_t op_id, const char *domain)
{
	int n;

	if (op_id <= 0 || !domain || !valid_domain(domain, strlen(domain)))
		return -1;
	n = snprintf(out, outlen, "<op-%lld@%s>", (long long)op_id, domain);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

int email_date(char *out, size_t outlen, int64_t ms)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	int n;

	if (ms < 0 || !gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999)
		return -1;
	n = snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
		     tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		     tm.tm_sec);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Everything the headers and body need, checked before anything is built. */
static int check(const email_message *m, char *err, size_t errlen)
{
	if (!m->text && !m->html)
		return eb_fail(err, errlen, "the message has neither a text nor an HTML part");
	if (!m->subject || has_break(m->subject) || !utf8_valid(m->subject))
		return eb_fail(err, errlen, "Subject: missing, has a line break or bad UTF-8");
	if ((m->text && !utf8_valid(m->text)) || (m->html && !utf8_valid(m->html)))
		return eb_fail(err, errlen, "the %s part is not valid UTF-8",
			    m->text && !utf8_valid(m->text) ? "text" : "HTML");
	if (m->nheaders && !m->headers)
		return eb_fail(err, errlen, "%zu extra headers but no array", m->nheaders);
	return 0;
}

char *email_build(const email_message *m, size_t *len, char *err, size_t errlen)
{
	ebuf b = { 0 };
	char id[300], date[EMAIL_DATE_MAX];
	char *out;

	if (check(m, err, errlen) < 0)
		return NULL;
	if (email_message_id(id, sizeof id, m->op_id, m->domain) < 0) {
		eb_fail(err, errlen, "Message-ID: needs an op id > 0 and a host name, got %lld and '%.80s'",
		     (long long)m->op_id, m->domain ? m->domain : "(null)");
		return NULL;
	}
	if (email_date(date, sizeof date, m->date_ms) < 0) {
		eb_fail(err, errlen, "Date: bad time %lld", (long long)m->date_ms);
		return NULL;
	}
	eb_printf(&b, "Date: %s\r\n", date);
	if (put_mailbox(&b, "From", &m->from, err, errlen) < 0 ||
	    put_mailbox(&b, "To", &m->to, err, errlen) < 0)
		goto fail;
	put_unstructured(&b, "Subject", m->subject);
	eb_printf(&b, "Message-ID: %s\r\n", id);
	if (put_unsubscribe(&b, m, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < m->nheaders; i++)
		if (put_extra(&b, &m->headers[i], err, errlen) < 0)
			goto fail;
	eb_puts(&b, "MIME-Version: 1.0\r\n");
	put_body(&b, m, id);
	if (b.failed) {
		eb_fail(err, errlen, "out of memory");
		goto fail;
	}
	if (!well_formed(b.p, b.len)) {
		eb_fail(err, errlen, "a line is longer than %d octets", LINE_MAX_);
		goto fail;
	}
	if (len)
		*len = b.len;
	if (!(out = eb_take(&b)))
		eb_fail(err, errlen, "out of memory");
	return out;
fail:
	eb_free(&b);
	return NULL;
}
