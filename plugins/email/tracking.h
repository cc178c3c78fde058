/*
 * tracking.h — signed tokens for open, click and unsubscribe URLs, the HTML
 * rewriting that puts them in a message, and VERP envelope senders.
 *
 * A token is base64url(payload) "." base64url(HMAC-SHA256(key, payload)),
 * both without padding, with the payload "o|<op_id>" (open),
 * "c|<op_id>|<n>" (click on link n, counted from 0) or "u|<op_id>"
 * (unsubscribe). Tokens are stateless: the tracker needs only the key to
 * trust one, but the URL behind click n is not in the token — the sender
 * keeps the list email_track_links returns, by op id.
 *
 * Verification refuses any change to any byte: the MAC is compared with
 * CRYPTO_memcmp, base64url must be canonical (no padding, unused bits
 * zero), and the payload must be exactly one of the three forms with
 * canonical decimal numbers. Keys are at least EMAIL_KEY_MIN bytes.
 *
 * URLs: open <base>/t/o/<token>, click <base>/t/c/<token>, unsubscribe
 * <base>/u/<token>; base is "http(s)://host[/path]" without a trailing '/'
 * (one is dropped if given).
 */
#ifndef EMAIL_TRACKING_H
#define EMAIL_TRACKING_H

#include <stddef.h>
#include <stdint.h>

#define EMAIL_KEY_MIN   16
#define EMAIL_TOKEN_MAX 96    /* the longest token, "c|<int64>|<int>", and the NUL */
#define EMAIL_VERP_MAX  320   /* "bounce+<int64>@<253-octet domain>" and the NUL */

typedef enum email_track_kind {
	EMAIL_TRACK_OPEN  = 'o',
	EMAIL_TRACK_CLICK = 'c',
	EMAIL_TRACK_UNSUB = 'u',
} email_track_kind;

/* What a token says. */
typedef struct email_track {
	email_track_kind kind;
	int64_t op_id;   /* > 0 */
	int link;        /* clicks: the link's index, >= 0; else 0 */
} email_track;

/* Where tracking URLs point and the key that signs them. */
typedef struct email_tracker {
	const char *base;          /* "https://t.acme.example" */
	const unsigned char *key;
	size_t keylen;
} email_tracker;

/* The original http(s) URLs of the rewritten links, in document order:
 * url[n] is link n. Entities in the href are decoded (&amp; -> &). */
typedef struct email_links {
	char **url;
	size_t n;
} email_links;

/* Signs t into out (EMAIL_TOKEN_MAX bytes). Returns 0, or -1 for a short
 * key, an op id <= 0, a negative link or an unknown kind. */
int email_token_make(char out[EMAIL_TOKEN_MAX], const unsigned char *key, size_t keylen,
		     const email_track *t);

/* Checks token[0..len) (not NUL-terminated, e.g. a URL path segment).
 * Returns 0 and *t when it is genuine, else -1 and *t zeroed. */
int email_token_verify(const char *token, size_t len, const unsigned char *key, size_t keylen,
		       email_track *t);

/* html with every href="http…" / href='http…' (any case, in any tag: VML
 * buttons in Outlook conditional comments count) pointing at
 * <base>/t/c/<token> for link n; *links gets the originals. Other hrefs
 * (mailto:, tel:, #, relative), hrefs of <link> and <base>, text that only
 * looks like an href, and URLs already under <base>/t/ or <base>/u/ are
 * left alone. Caller frees the result and the list; NULL with err on
 * failure (links then empty). */
char *email_track_links(const email_tracker *tr, int64_t op_id, const char *html,
			email_links *links, char *err, size_t errlen);

void email_links_free(email_links *links);

/* html with <img src="<base>/t/o/<token>" width="1" height="1" alt=""
 * style="border:0"> before the last </body> (any case), or at the end.
 * Caller frees; NULL with err on failure. */
char *email_track_pixel(const email_tracker *tr, int64_t op_id, const char *html,
			char *err, size_t errlen);

/* <base>/u/<token> into out. Returns 0, or -1 (bad input, short buffer). */
int email_unsub_url(char *out, size_t outlen, const email_tracker *tr, int64_t op_id);

/* The VERP envelope sender "bounce+<op_id>@<domain>". Returns 0, or -1 for
 * op_id <= 0, a domain with characters outside [A-Za-z0-9.-] or a short
 * buffer. */
int email_verp(char *out, size_t outlen, int64_t op_id, const char *domain);

/* The op id from a bounce recipient such as "bounce+42@bounce.acme.example"
 * or "<BOUNCE+42@Bounce.Acme.Example>" (prefix and domain compare
 * without case). domain NULL accepts any. Returns 0 and *op_id, or -1.
 * Not authenticated: anyone can write to such an address. */
int email_verp_parse(const char *rcpt, const char *domain, int64_t *op_id);

#endif
