/*
 * tracking.h — the HTML rewriting that puts tracking URLs in a message
 * (click links, the open pixel, the unsubscribe URL), and VERP envelope
 * senders.
 *
 * The URLs come from a maker function — in the plugin, the host's
 * track_url, which signs a token with the daemon's key (core/track.h):
 * <base>/t/o/<token> (open), <base>/t/c/<token> (click; the target URL
 * travels signed inside the token), <base>/u/<token> (unsubscribe). The
 * plugin never sees the key; the daemon serves and verifies the URLs.
 */
#ifndef EMAIL_TRACKING_H
#define EMAIL_TRACKING_H

#include <stddef.h>
#include <stdint.h>

#define EMAIL_URL_MAX   4096  /* a tracking URL: base, token with a signed target */
#define EMAIL_VERP_MAX  320   /* "bounce+<int64>@<253-octet domain>" and the NUL */

typedef enum email_track_kind {
	EMAIL_TRACK_OPEN  = 'o',
	EMAIL_TRACK_CLICK = 'c',
	EMAIL_TRACK_UNSUB = 'u',
} email_track_kind;

/* Makes the tracking URL of `kind` for op_id (clicks: link number `link`
 * going to `url`) into out. Returns its length, or < 0 when it cannot
 * (no tracking configured, a target it will not sign, no room). */
typedef int (*email_url_fn)(void *ud, int kind, int64_t op_id, int link, const char *url,
			    char *out, size_t outlen);

typedef struct email_tracker {
	email_url_fn url;
	void *ud;
} email_tracker;

/* The original http(s) URLs of the rewritten links, in document order:
 * url[n] is link n. Entities in the href are decoded (&amp; -> &). */
typedef struct email_links {
	char **url;
	size_t n;
} email_links;

/* html with every href="http…" / href='http…' (any case, in any tag: VML
 * buttons in Outlook conditional comments count) pointing at its click
 * URL for link n; *links gets the originals. A target the maker refuses
 * (too long to sign) stays as it is. Other hrefs
 * (mailto:, tel:, #, relative), hrefs of <link> and <base>, text that only
 * looks like an href, and URLs already under <base>/t/ or <base>/u/ are
 * left alone. Caller frees the result and the list; NULL with err on
 * failure (links then empty). */
char *email_track_links(const email_tracker *tr, int64_t op_id, const char *html,
			email_links *links, char *err, size_t errlen);

void email_links_free(email_links *links);

/* html with <img src="<open URL>" width="1" height="1" alt=""
 * style="border:0"> before the last </body> (any case), or at the end.
 * Caller frees; NULL with err on failure. */
char *email_track_pixel(const email_tracker *tr, int64_t op_id, const char *html,
			char *err, size_t errlen);

/* The unsubscribe URL into out. Returns 0, or -1 (bad input, short buffer). */
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
