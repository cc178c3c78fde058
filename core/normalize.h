/*
 * normalize.h — canonical forms of contact identities (email, phone, opaque
 * ids such as a WeChat openid or a CRM record id).
 *
 * Two spellings that name the same person must normalise to the same bytes,
 * because the result is the dedupe and consent key. When a value cannot be
 * made canonical the functions refuse it with a message that quotes the
 * offending input, so an import report can tell the marketer which cell to
 * fix. All functions are pure: no locale, no allocation, no global state.
 *
 * "Whitespace" trimmed from both ends is ASCII whitespace, U+3000 (the
 * ideographic space), U+00A0 (web copy-paste) and U+FEFF (the BOM Excel
 * leaves on the first cell of a UTF-8 CSV). in may be NULL, meaning "".
 * err may be NULL or errlen 0 when the caller does not want the message.
 * On failure out is set to "" (when outlen > 0). Messages quote at most 64
 * bytes of the trimmed input, with control bytes shown as \xNN.
 */
#ifndef NU_NORMALIZE_H
#define NU_NORMALIZE_H

#include <stddef.h>

#define NU_EMAIL_MAX 254   /* bytes, RFC 5321 path limit */
#define NU_PHONE_MAX 16    /* '+' and up to 15 digits (E.164) */
#define NU_TOKEN_MAX 200   /* bytes */

/* Buffer sizes that always fit a result, NUL included. */
#define NU_EMAIL_BUFSZ (NU_EMAIL_MAX + 1)
#define NU_PHONE_BUFSZ (NU_PHONE_MAX + 1)
#define NU_TOKEN_BUFSZ (NU_TOKEN_MAX + 1)

/* Trims ASCII/Unicode-ideographic whitespace, lower-cases ASCII, checks
 * shape: exactly one '@', non-empty local part, domain with at least one
 * dot, no spaces, no consecutive dots, length <= 254. Writes to out
 * (NUL-terminated). Returns 0, or -1 with err set to a plain message naming
 * the problem, e.g. "email 'foo@' has no domain".
 *
 * Also: full-width forms typed in a CJK input method ("ａｌｉｃｅ＠ｘ．ｃｎ",
 * U+FF01..U+FF5E) and the ideographic full stop U+3002 map to ASCII; the
 * domain may hold only letters, digits, '-', '.' and non-ASCII (IDN, kept
 * as UTF-8, not converted to punycode); the local part may not hold RFC 5322
 * specials ( ) < > [ ] : ; , \ " ; invalid UTF-8, control and zero-width
 * characters are refused. */
int nu_norm_email(const char *in, char *out, size_t outlen,
                  char *err, size_t errlen);

/* Normalises a phone number to E.164 ("+8613800138000"). default_cc is the
 * default country calling code as digits with or without '+', e.g. "86" or
 * "+86"; NULL or "" means only numbers written with '+' or "00" are taken.
 *
 * Separators ' ' '-' '.' '(' ')' (ASCII, full-width, U+3000) are dropped
 * and full-width digits map to ASCII. A leading '+' or "00" means
 * international; "(0)" after the country code ("+86 (0)10 …") is the
 * trunk-prefix notation and its 0 is dropped; a leading single '0' is the
 * national trunk prefix: it is dropped and default_cc prefixed; a number
 * starting with default_cc and >= 11 digits is taken as international
 * without '+'; otherwise default_cc is prefixed. An extension ("ext", "x",
 * "#", "转", "分机") and everything after it is dropped.
 *
 * The result has 8..15 digits after '+'. Numbers under +86 must also fit
 * the Chinese plan: mobiles 1[3-9] + 9 digits; Beijing 10 + 8 digits;
 * other 2-digit area codes 2x + 8 digits; 3-digit area codes (3..9) + 7 or
 * 8 digits, so 10 or 11 digits after 86 (400/800 hotlines fit this too).
 * One stray trunk 0 after +86 ("+86 010 …") is dropped. */
int nu_norm_phone(const char *in, const char *default_cc,
                  char *out, size_t outlen, char *err, size_t errlen);

/* Trims surrounding whitespace (ASCII and U+3000); for generic identities
 * (openid, crm id...): non-empty, <= 200 bytes, no control characters, valid
 * UTF-8. Case and inner spaces are kept: openids are case-sensitive.
 * Returns 0 or -1 with err naming the problem. */
int nu_norm_token(const char *in, char *out, size_t outlen,
                  char *err, size_t errlen);

/* s[0..n) as text fit for a message or a log line: control bytes and
 * broken UTF-8 as \xNN, at most max_in bytes of s, a cut marked "...".
 * q must hold max_in * 4 + 4 bytes. Returns q. */
const char *nu_norm_escape(const char *s, size_t n, size_t max_in, char *q);

#endif /* NU_NORMALIZE_H */
