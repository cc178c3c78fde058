/*
 * track.h — signed tokens for the tracking and unsubscribe URLs the daemon
 * serves: /t/o/<token> (open pixel), /t/c/<token> (click redirect) and
 * /u/<token> (unsubscribe).
 *
 * Tracking is a host service, not a channel's: email, SMS short links and
 * WeChat article links all land on the same endpoints, and only the host
 * holds the key (http.tracking_key). Plugins ask for URLs through the host
 * table (track_url) and never see the key.
 *
 * A token is base64url(payload) "." base64url(HMAC-SHA256(key, payload)),
 * both unpadded, with the payload exactly one of
 *   "o|<op_id>"              open
 *   "u|<op_id>"              unsubscribe
 *   "c|<op_id>|<n>|<url>"    click on link n (from 0) of the message
 * The click target travels inside the signed token, so the redirect goes
 * only to a URL that the host itself signed for that message (no open
 * redirect), and no row is written per link at send time.
 *
 * Verification refuses any change to any byte: the MAC is compared in
 * constant time, base64url must be canonical (no padding, unused bits
 * zero) and numbers canonical decimals.
 */
#ifndef NU_TRACK_H
#define NU_TRACK_H

#include <stddef.h>
#include <stdint.h>

#define NU_TRACK_KEY_MIN  16
#define NU_TRACK_URL_MAX  2048    /* longer click targets are left untracked */
/* The longest token: payload ("c|" int64 "|" int "|" url) and MAC in base64url. */
#define NU_TRACK_TOKEN_MAX ((2 + 19 + 1 + 10 + 1 + NU_TRACK_URL_MAX + 2) / 3 * 4 + 1 + 43 + 1)

typedef enum nu_track_kind {
	NU_TRACK_OPEN  = 'o',
	NU_TRACK_CLICK = 'c',
	NU_TRACK_UNSUB = 'u',
} nu_track_kind;

typedef struct nu_track {
	nu_track_kind kind;
	int64_t op_id;                       /* > 0 */
	int     link;                        /* clicks: >= 0 */
	char    url[NU_TRACK_URL_MAX + 1];   /* clicks: the http(s) target */
} nu_track;

/* Signs t into out (NU_TRACK_TOKEN_MAX bytes). Returns 0, or -1 for a key
 * under NU_TRACK_KEY_MIN bytes, op_id <= 0, a negative link, a click
 * target that is not http(s) or too long, or an unknown kind. */
int nu_track_make(char *out, const unsigned char *key, size_t keylen, const nu_track *t);

/* Checks token[0..len) (a URL path segment, not NUL-terminated). Returns
 * 0 and *t when it is genuine, else -1 with *t zeroed. */
int nu_track_verify(const char *token, size_t len, const unsigned char *key, size_t keylen,
		    nu_track *t);

/* base64url helpers, shared with the webhook signatures. */
size_t nu_b64url_encode(const unsigned char *s, size_t n, char *out);
long   nu_b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap);

#endif
