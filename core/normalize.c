/*
 * normalize.c — canonical forms of contact identities.
 *
 * Owns the rules that decide when two spellings of an email address, a
 * phone number or an opaque id name the same contact. The result is the
 * dedupe and consent key, so the rules lean strict: a value we refuse comes
 * back to the marketer with a message quoting the cell, while a near-miss we
 * accepted would silently split one person into two leads.
 *
 * Input arrives from CSV exports, CRM syncs and web forms filled in with
 * Chinese input methods, so beyond ASCII we cope with what those produce:
 * full-width characters (U+FF01..FF5E), the ideographic space U+3000, the
 * no-break space from web copy-paste and the BOM that Excel puts in front of
 * UTF-8 CSV. Everything is byte-oriented UTF-8; no locale is consulted, so
 * results do not depend on the process environment.
 */
#include "error.h"
#include "normalize.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define QUOTE_MAX   64                  /* input bytes echoed in a message */
#define QUOTE_BUFSZ (QUOTE_MAX * 4 + 4) /* every byte may become \xNN, "..." */
#define DIAL_MAX    32                  /* digits kept while scanning a phone */

/* ---------------------------------------------------------------- helpers */

/* Decodes one UTF-8 sequence. Returns its length, or 0 when it is malformed
 * (overlong, surrogate, truncated...): such bytes cannot be compared
 * reliably, so no identity may contain them. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t v, min;
	size_t len, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		len = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		len = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
	v = s[0] & (0x7Fu >> len);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/* C0, DEL and C1. */
static int is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7F && c < 0xA0);
}

/* Characters that render as nothing. A zero-width space pasted from a web
 * page or a WeChat message would make two identical-looking keys differ. */
static int is_invisible(uint32_t c)
{
	return (c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
	       c == 0x2060 || c == 0xFEFF;
}

/* Control bytes and broken UTF-8 become \xNN so that hostile input cannot
 * put line breaks or terminal escapes into a log, nor break the JSON an
 * error goes out in. Cuts on a character boundary and marks the cut with
 * "...". */
const char *nu_norm_escape(const char *s, size_t n, size_t max_in, char *q)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, k, j;
	uint32_t c = 0;

	while (i < n) {
		k = utf8_next(u + i, n - i, &c);
		if (i + (k ? k : 1) > max_in) {
			memcpy(q + o, "...", 3);
			o += 3;
			break;
		}
		if (k == 0 || is_control(c)) {
			for (j = 0; j < (k ? k : 1); j++)
				o += (size_t)snprintf(q + o, 5, "\\x%02X", u[i + j]);
		} else {
			memcpy(q + o, u + i, k);
			o += k;
		}
		i += k ? k : 1;
	}
	q[o] = '\0';
	return q;
}

/* At most QUOTE_MAX bytes of s, for a message. */
static const char *quote(const char *s, size_t n, char *q)
{
	return nu_norm_escape(s, n, QUOTE_MAX, q);
}

/* Length of the whitespace character at the start of s, or 0. Besides
 * ASCII: U+00A0 (web copy-paste), U+3000 (CJK input methods) and U+FEFF
 * (the BOM Excel writes at the start of a UTF-8 CSV, which then sticks to
 * the first cell). */
static size_t space_at(const unsigned char *s, size_t n)
{
	if (n >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')))
		return 1;
	if (n >= 2 && s[0] == 0xC2 && s[1] == 0xA0)
		return 2;
	if (n >= 3 && s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80)
		return 3;
	if (n >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF)
		return 3;
	return 0;
}

/* Same, for the whitespace character that ends s. In valid UTF-8 a lead
 * byte is never a continuation byte, so matching the tail is unambiguous. */
static size_t space_before(const unsigned char *s, size_t n)
{
	size_t k;

	for (k = 1; k <= 3 && k <= n; k++)
		if (space_at(s + n - k, k) == k)
			return k;
	return 0;
}

/* Narrows in to the part without surrounding whitespace. NULL is "". */
static void trim(const char *in, const char **p, size_t *n)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	size_t len = strlen((const char *)s), k;

	while ((k = space_at(s, len)) > 0) {
		s += k;
		len -= k;
	}
	while ((k = space_before(s, len)) > 0)
		len -= k;
	*p = (const char *)s;
	*n = len;
}

/* Full-width forms U+FF01..U+FF5E are ASCII '!'..'~' typed while a CJK
 * input method is in full-width mode; they mean the ASCII character. */
static uint32_t narrow(uint32_t c)
{
	if (c >= 0xFF01 && c <= 0xFF5E)
		return c - 0xFEE0;
	if (c == 0x3002)        /* ideographic full stop; IDNA maps it to '.' */
		return '.';
	return c;
}

static int emit(const char *s, size_t n, char *out, size_t outlen,
                const char *what, const char *q, char *err, size_t errlen)
{
	if (!out || n + 1 > outlen)
		return nu_fail_msg(err, errlen, "%s '%s' needs %zu bytes of output, "
		            "got %zu", what, q, n + 1, out ? outlen : 0);
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ email */

/* Narrows, lower-cases and checks every character, building buf. */
static int email_fold(const char *p, size_t n, char *buf, size_t *len,
                      const char *q, char *err, size_t errlen)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t i = 0, o = 0, k;
	uint32_t c = 0;

	while (i < n) {
		k = utf8_next(u + i, n - i, &c);
		if (k == 0)
			return nu_fail_msg(err, errlen, "email '%s' is not valid UTF-8", q);
		if (c == ' ' || c == 0xA0 || c == 0x3000)
			return nu_fail_msg(err, errlen, "email '%s' contains a space", q);
		if (is_control(c))
			return nu_fail_msg(err, errlen,
			            "email '%s' contains a control character", q);
		if (is_invisible(c))
			return nu_fail_msg(err, errlen, "email '%s' contains an invisible "
			            "character (U+%04X)", q, (unsigned)c);
		c = narrow(c);
		if (o + (c < 0x80 ? 1 : k) > NU_EMAIL_MAX)
			return nu_fail_msg(err, errlen, "email '%s' is longer than %d bytes",
			            q, NU_EMAIL_MAX);
		if (c < 0x80) {
			buf[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		} else {
			memcpy(buf + o, u + i, k);
			o += k;
		}
		i += k;
	}
	buf[o] = '\0';
	*len = o;
	return 0;
}

static int is_domain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c >= 0x80;
}

/* Checks the shape of a folded address. */
static int email_shape(const char *s, size_t n, const char *q,
                       char *err, size_t errlen)
{
	/* RFC 5322 specials: legal only inside a quoted local part, which no
	 * real B2B address uses; here they mean a pasted "Name <a@b>" or a
	 * list "a@b;c@d". */
	static const char specials[] = "()<>[]:;,\\\"";
	const char *at = memchr(s, '@', n), *dom;
	size_t nloc, ndom, i;

	if (!at)
		return nu_fail_msg(err, errlen, "email '%s' has no '@'", q);
	nloc = (size_t)(at - s);
	dom = at + 1;
	ndom = n - nloc - 1;
	if (memchr(dom, '@', ndom))
		return nu_fail_msg(err, errlen, "email '%s' has more than one '@'", q);
	if (nloc == 0)
		return nu_fail_msg(err, errlen, "email '%s' has nothing before the '@'", q);
	if (ndom == 0)
		return nu_fail_msg(err, errlen, "email '%s' has no domain", q);
	for (i = 0; i + 1 < n; i++)
		if (s[i] == '.' && s[i + 1] == '.')
			return nu_fail_msg(err, errlen, "email '%s' has consecutive dots", q);
	for (i = 0; i < nloc; i++)
		if (memchr(specials, s[i], sizeof specials - 1))
			return nu_fail_msg(err, errlen, "email '%s' has '%c' before the '@'",
			            q, s[i]);
	for (i = 0; i < ndom; i++)
		if (!is_domain_char((unsigned char)dom[i]))
			return nu_fail_msg(err, errlen, "email '%s' has '%c' in the domain",
			            q, dom[i]);
	if (dom[0] == '.' || dom[ndom - 1] == '.')
		return nu_fail_msg(err, errlen, "email '%s' has a domain that %s with a "
		            "dot", q, dom[0] == '.' ? "starts" : "ends");
	if (!memchr(dom, '.', ndom))
		return nu_fail_msg(err, errlen, "email '%s' has no dot in the domain", q);
	return 0;
}

static int email_norm(const char *p, size_t n, const char *q, char *out, size_t outlen,
		      char *err, size_t errlen)
{
	char buf[NU_EMAIL_MAX + 1];
	size_t len = 0;

	if (email_fold(p, n, buf, &len, q, err, errlen) < 0 ||
	    email_shape(buf, len, q, err, errlen) < 0)
		return -1;
	return emit(buf, len, out, outlen, "email", q, err, errlen);
}

int nu_norm_email(const char *in, char *out, size_t outlen,
                  char *err, size_t errlen)
{
	char q[QUOTE_BUFSZ];
	const char *p;
	size_t n;

	if (out && outlen)
		out[0] = '\0';
	trim(in, &p, &n);
	if (n == 0)
		return nu_fail_msg(err, errlen, "email is empty");
	/* Every ingested event normalises an email, and quoting it for a
	 * message costs about as much as checking it: quote only when there
	 * is a message to write, by checking again. */
	if (email_norm(p, n, "", out, outlen, NULL, 0) == 0)
		return 0;
	quote(p, n, q);
	return email_norm(p, n, q, out, outlen, err, errlen);
}

/* ------------------------------------------------------------------ phone */

/* The digits of a phone number as written, before any country logic. */
struct dial {
	char d[DIAL_MAX + 1];
	size_t n;
	int plus;      /* written with a leading '+' */
};

/* Decodes one character and narrows it, so that full-width digits,
 * parentheses, '+' and letters compare as ASCII. Returns 0 on bad UTF-8. */
static size_t phone_char(const unsigned char *s, size_t n, uint32_t *c)
{
	size_t k = utf8_next(s, n, c);

	if (k && *c == 0x3000)
		*c = ' ';
	else if (k)
		*c = narrow(*c);
	return k;
}

/* If s starts with the ASCII text t (compared case-insensitively after
 * narrowing), returns the bytes it spans, else 0. */
static size_t phone_match(const unsigned char *s, size_t n, const char *t)
{
	size_t i = 0, k;
	uint32_t c = 0;

	for (; *t; t++) {
		if (i >= n || (k = phone_char(s + i, n - i, &c)) == 0)
			return 0;
		if (c >= 'A' && c <= 'Z')
			c += 32;
		if (c != (unsigned char)*t)
			return 0;
		i += k;
	}
	return i;
}

static int is_phone_sep(uint32_t c)
{
	return c == ' ' || c == '\t' || c == '-' || c == '.' || c == '(' ||
	       c == ')' || c == 0xA0 || (c >= 0x2010 && c <= 0x2015);
}

/* Does an extension start at s? "ext", "x", "#", and 转 / 分机 (with their
 * traditional forms 轉 / 分機) as written on Chinese business cards. */
static int is_extension(const unsigned char *s, size_t n)
{
	static const char *const cjk[] = {
		"\xE8\xBD\xAC", "\xE8\xBD\x89",                 /* 转 轉 */
		"\xE5\x88\x86\xE6\x9C\xBA", "\xE5\x88\x86\xE6\xA9\x9F", /* 分机 分機 */
	};
	size_t i;

	if (phone_match(s, n, "ext") || phone_match(s, n, "x") ||
	    phone_match(s, n, "#"))
		return 1;
	for (i = 0; i < sizeof cjk / sizeof cjk[0]; i++)
		if (n >= strlen(cjk[i]) && memcmp(s, cjk[i], strlen(cjk[i])) == 0)
			return 1;
	return 0;
}

/* Collects the digits and the '+' of p, dropping layout and extensions. */
static int phone_scan(const char *p, size_t n, struct dial *dl,
                      const char *q, char *err, size_t errlen)
{
	const unsigned char *u = (const unsigned char *)p;
	char qc[QUOTE_BUFSZ];
	size_t i = 0, k;
	uint32_t c = 0;

	memset(dl, 0, sizeof *dl);
	while (i < n) {
		if ((k = phone_char(u + i, n - i, &c)) == 0)
			return nu_fail_msg(err, errlen, "phone '%s' is not valid UTF-8", q);
		if (c >= '0' && c <= '9') {
			if (dl->n == DIAL_MAX)
				return nu_fail_msg(err, errlen, "phone '%s' is too long", q);
			dl->d[dl->n++] = (char)c;
		} else if (c == '+') {
			if (dl->plus || dl->n > 0)
				return nu_fail_msg(err, errlen, "phone '%s' has a '+' that is "
				            "not at the start", q);
			dl->plus = 1;
		} else if (c == '(' && dl->n > 0 && phone_match(u + i, n - i, "(0)")) {
			/* "+44 (0)20 ...": the 0 is dialled only at home. */
			k = phone_match(u + i, n - i, "(0)");
		} else if (is_phone_sep(c)) {
			/* layout only */
		} else if (dl->n > 0 && is_extension(u + i, n - i)) {
			break;
		} else if ((c | 32) >= 'a' && (c | 32) <= 'z') {
			return nu_fail_msg(err, errlen, "phone '%s' has letters", q);
		} else {
			return nu_fail_msg(err, errlen, "phone '%s' has unexpected character "
			            "'%s'", q, quote(p + i, k, qc));
		}
		i += k;
	}
	dl->d[dl->n] = '\0';
	return 0;
}

/* Accepts "86", "+86": 1 to 3 digits, not starting with 0. NULL and "" give
 * an empty code. */
static int country_code(const char *cc, const char **digits, char *err,
                        size_t errlen)
{
	const char *s = cc ? cc : "";
	size_t i;

	if (*s == '+')
		s++;
	for (i = 0; s[i]; i++)
		if (s[i] < '0' || s[i] > '9')
			break;
	if ((cc && *cc && i == 0) || s[i] || i > 3 || s[0] == '0') {
		char q[QUOTE_BUFSZ];
		return nu_fail_msg(err, errlen, "default country code '%s' must be 1 to 3 "
		            "digits", quote(cc, strlen(cc), q));
	}
	*digits = s;
	return 0;
}

/* Decides where the country code is and writes cc + national number to e.
 * The order of the tests is the order of how sure we can be. */
static int phone_intl(const struct dial *dl, const char *cc, char *e,
                      size_t *elen, const char *q, char *err, size_t errlen)
{
	const char *d = dl->d;
	size_t ncc = strlen(cc);
	int national = 0;

	if (dl->n == 0)
		return nu_fail_msg(err, errlen, "phone '%s' has no digits", q);
	if (dl->plus) {
		/* as written */
	} else if (d[0] == '0' && d[1] == '0') {
		d += 2;
	} else if (d[0] == '0') {
		d += 1;              /* trunk prefix: a national number */
		national = 1;
	} else if (ncc && dl->n >= 11 && strncmp(d, cc, ncc) == 0) {
		/* "8613800138000": the country code, just without '+' */
	} else {
		national = 1;
	}
	if (national && ncc == 0)
		return nu_fail_msg(err, errlen, "phone '%s' has no country code: write it "
		            "with '+' or '00', or set a default country code", q);
	*elen = (size_t)snprintf(e, DIAL_MAX + 4, "%s%s", national ? cc : "", d);
	if (*elen == 0)
		return nu_fail_msg(err, errlen, "phone '%s' has no digits after the "
		            "international prefix", q);
	if (e[0] == '0')
		return nu_fail_msg(err, errlen, "phone '%s' has a country code that starts "
		            "with 0", q);
	return 0;
}

/* The Chinese numbering plan, for the part after 86. Mobiles are 1[3-9]
 * and 11 digits. Landlines are area code + subscriber: Beijing 10 and the
 * other 2-digit codes 2x have 8-digit subscribers (10 digits in all), the
 * 3-digit codes 3xx..9xx have 7 or 8 (10 or 11). 400/800 hotlines are 10
 * digits starting 4/8 and pass as landlines. */
static int phone_cn(const char *nat, size_t n, const char *q,
                    char *err, size_t errlen)
{
	if (nat[0] == '0')
		return nu_fail_msg(err, errlen, "phone '%s' has an extra 0 after +86", q);
	if (nat[0] == '1' && nat[1] >= '3') {
		if (n != 11)
			return nu_fail_msg(err, errlen, "phone '%s' is not a valid Chinese "
			            "mobile number: %zu digits after +86, mobiles have "
			            "11", q, n);
	} else if (nat[0] == '1' && nat[1] == '0') {
		if (n != 10)
			return nu_fail_msg(err, errlen, "phone '%s' is not a valid Beijing "
			            "number: %zu digits after +86, Beijing numbers have "
			            "10 (area code 10 and 8 digits)", q, n);
	} else if (nat[0] == '1') {
		return nu_fail_msg(err, errlen, "phone '%s' is not a valid Chinese number: "
		            "after +86, '1%c' starts neither a mobile (13-19) nor "
		            "Beijing's area code (10)", q, nat[1]);
	} else if (nat[0] == '2') {
		if (n != 10)
			return nu_fail_msg(err, errlen, "phone '%s' is not a valid Chinese "
			            "landline: %zu digits after +86, numbers in area "
			            "codes 20-29 have 10 (area code and 8 digits)", q, n);
	} else if (n < 10 || n > 11) {
		return nu_fail_msg(err, errlen, "phone '%s' is not a valid Chinese "
		            "landline: %zu digits after +86, numbers with a 3-digit "
		            "area code have 10 or 11", q, n);
	}
	return 0;
}

int nu_norm_phone(const char *in, const char *default_cc,
                  char *out, size_t outlen, char *err, size_t errlen)
{
	char e[DIAL_MAX + 4], q[QUOTE_BUFSZ];
	const char *p, *cc = "";
	struct dial dl;
	size_t n, elen = 0;

	if (out && outlen)
		out[0] = '\0';
	if (country_code(default_cc, &cc, err, errlen) < 0)
		return -1;
	trim(in, &p, &n);
	if (n == 0)
		return nu_fail_msg(err, errlen, "phone is empty");
	quote(p, n, q);
	if (phone_scan(p, n, &dl, q, err, errlen) < 0 ||
	    phone_intl(&dl, cc, e, &elen, q, err, errlen) < 0)
		return -1;
	/* "+86 010 6552 9988": a trunk 0 written after +86. No Chinese number
	 * starts with 0 after the country code, so dropping it is safe. */
	if (elen > 2 && e[0] == '8' && e[1] == '6' && e[2] == '0') {
		memmove(e + 2, e + 3, elen - 2);    /* NUL included */
		elen--;
	}
	if (elen < 8 || elen > 15)
		return nu_fail_msg(err, errlen, "phone '%s' is too %s: +%s has %zu digits, "
		            "E.164 allows 8 to 15", q, elen < 8 ? "short" : "long",
		            e, elen);
	if (e[0] == '8' && e[1] == '6' &&
	    phone_cn(e + 2, elen - 2, q, err, errlen) < 0)
		return -1;
	if (!out || outlen < elen + 2)
		return nu_fail_msg(err, errlen, "phone '%s' needs %zu bytes of output, "
		            "got %zu", q, elen + 2, out ? outlen : 0);
	out[0] = '+';
	memcpy(out + 1, e, elen + 1);
	return 0;
}

/* ------------------------------------------------------------------ token */

int nu_norm_token(const char *in, char *out, size_t outlen,
                  char *err, size_t errlen)
{
	const unsigned char *u;
	char q[QUOTE_BUFSZ];
	const char *p;
	size_t n, i, k;
	uint32_t c = 0;

	if (out && outlen)
		out[0] = '\0';
	trim(in, &p, &n);
	if (n == 0)
		return nu_fail_msg(err, errlen, "id is empty");
	quote(p, n, q);
	if (n > NU_TOKEN_MAX)
		return nu_fail_msg(err, errlen, "id '%s' is longer than %d bytes (%zu)",
		            q, NU_TOKEN_MAX, n);
	u = (const unsigned char *)p;
	for (i = 0; i < n; i += k) {
		if ((k = utf8_next(u + i, n - i, &c)) == 0)
			return nu_fail_msg(err, errlen, "id '%s' is not valid UTF-8", q);
		if (is_control(c))
			return nu_fail_msg(err, errlen, "id '%s' contains a control character",
			            q);
	}
	return emit(p, n, out, outlen, "id", q, err, errlen);
}
