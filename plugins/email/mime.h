/*
 * mime.h — builds a complete RFC 5322 message, ready for SMTP DATA.
 *
 * The message: Date, From, To, Subject, Message-ID, List-Unsubscribe and
 * List-Unsubscribe-Post (RFC 8058), the caller's extra headers, MIME-Version
 * and a multipart/alternative body with the text part first and the HTML
 * part last (RFC 2046 §5.1.4), both charset=utf-8. Each part is
 * quoted-printable, or base64 when that is shorter (CJK-heavy text). With
 * only one of text and html the body is that single part.
 *
 * Non-ASCII subjects, display names and extra header values become RFC 2047
 * encoded words (UTF-8, Q when that is shorter, else B), each holding whole
 * characters. Headers are folded at spaces to at most 78 columns; only an
 * unbreakable token (a long URL) may make a line longer, up to 998.
 * Every line ends in CRLF, bare CR or LF never appear, input line ends of
 * any kind become CRLF. The boundary is "=_nu_" and 32 hex digits of
 * SHA-256(Message-ID): stable for a message and impossible in
 * quoted-printable or base64 text. Dot-stuffing is left to the SMTP layer.
 *
 * All text must be valid UTF-8; header values must not hold CR or LF
 * (refused, never stripped). Addresses are ASCII addr-specs (no SMTPUTF8).
 */
#ifndef EMAIL_MIME_H
#define EMAIL_MIME_H

#include <stddef.h>
#include <stdint.h>

#define EMAIL_DATE_MAX 40    /* "Sun, 22 Nov 2026 10:00:00 +0000" and the NUL */

typedef struct email_addr {
	const char *name;   /* display name, or NULL / "" for none */
	const char *addr;   /* local@domain */
} email_addr;

typedef struct email_header {
	const char *name;   /* not one the builder sets itself */
	const char *value;
} email_header;

typedef struct email_message {
	email_addr from, to;
	const char *subject;
	const char *text;           /* the text part, or NULL */
	const char *html;           /* the HTML part, or NULL (not both) */
	int64_t op_id;              /* > 0: Message-ID <op-<op_id>@<domain>> */
	const char *domain;
	int64_t date_ms;            /* the Date header, ms since the epoch (UTC) */
	const char *unsub_url;      /* List-Unsubscribe URL (adds the One-Click header), or NULL */
	const char *unsub_mailto;   /* "addr" or "mailto:addr…", or NULL */
	const email_header *headers;
	size_t nheaders;
} email_message;

/* "<op-123456@acme.example>" into out. Returns 0, or -1 if op_id <= 0, the
 * domain is not a plain ASCII host name, or out is too small. */
int email_message_id(char *out, size_t outlen, int64_t op_id, const char *domain);

/* RFC 5322 date of ms (>= 0), in UTC: "Sun, 22 Nov 2026 10:00:00 +0000".
 * Returns 0, or -1 for a negative time or a short buffer. */
int email_date(char *out, size_t outlen, int64_t ms);

/* The whole message (caller frees; *len gets its length if len is not
 * NULL), or NULL with err naming the field at fault. err may be NULL. */
char *email_build(const email_message *m, size_t *len, char *err, size_t errlen);

#endif
