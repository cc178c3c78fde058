/*
 * http_client.h — outbound HTTP on the daemon's event loop: one curl multi
 * handle driven by libevent, kept-alive connections shared by every
 * request, and completions that always run later from the loop.
 *
 * The rule that shapes the API: a completion never runs inside
 * nu_http_submit, nu_http_cancel or any curl callback. It runs from its own
 * turn of the event loop, so it may submit, cancel or resume a Lua flow
 * without re-entering curl (CURLM_RECURSIVE_API_CALL) or its caller.
 */
#ifndef NU_HTTP_CLIENT_H
#define NU_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

struct event_base;

/* Kept-alive connections to one host at most; more requests to the same
 * host queue inside curl until one is free. */
#define NU_HTTP_MAX_HOST_CONNECTIONS 8
/* A response body over this many bytes ends the request with an error. */
#define NU_HTTP_MAX_BODY (4u << 20)
/* Whole-request timeout when a request gives none. */
#define NU_HTTP_DEFAULT_TIMEOUT_MS 10000

typedef struct nu_http nu_http;                       /* one per event loop */

typedef struct nu_http_request {
	const char *method;          /* "GET", "POST", …; NULL = GET */
	const char *url;             /* http:// or https:// only */
	const char *const *headers;  /* "Name: value", NULL-terminated; may be NULL */
	const char *body;            /* copied by submit; may be NULL */
	size_t body_len;
	long timeout_ms;             /* whole request; <= 0 means NU_HTTP_DEFAULT_TIMEOUT_MS */
} nu_http_request;

typedef struct nu_http_response {
	int status;                  /* HTTP status, 0 when the request failed */
	const char *body;            /* borrowed during the callback; NUL-terminated */
	size_t body_len;
	const char *error;           /* what went wrong when status == 0, else NULL;
	                              * borrowed during the callback */
	int timed_out;               /* timeout_ms passed first */
	int connection_reused;       /* curl reused a kept-alive connection */
	int reply_code;              /* mail: the server's last reply (250, 451, 550, 354 …),
	                              * also when the submission failed; 0 if none */
} nu_http_response;



typedef void (*nu_http_done)(void *ud, const nu_http_response *res);

/* Mail submission through the same client: the same ids, cancel and
 * callbacks on the loop, but sent on worker threads (mail_pool.h), since
 * curl's SMTP blocks while it waits for a verdict. One message, sent as
 * given: the caller builds it. */
typedef struct nu_mail_request {
	const char *url;              /* smtp://host:port or smtps://host:port */
	const char *from;             /* envelope sender (MAIL FROM) */
	const char *const *rcpt;      /* envelope recipients, NULL-terminated */
	const char *message;          /* the RFC 5322 message, CRLF line ends */
	size_t      message_len;
	const char *user, *password;  /* AUTH; NULL user = none */
	const char *cainfo;           /* CA file to verify the server, NULL = system */
	int         require_tls;      /* refuse to send without STARTTLS/TLS */
	long        timeout_ms;       /* whole submission; default 30 000 */
} nu_mail_request;

/* Starts a submission; done runs as for nu_http_submit. On success status
 * is 250; otherwise status is 0, error says why and reply_code holds the
 * server's last reply: 4xx = try later, 5xx = refused, 354 = the message was
 * sent but no verdict came (in doubt). */
int  nu_http_submit_mail(nu_http *h, const nu_mail_request *req, nu_http_done done, void *ud,
			 uint64_t *id, nu_error *err);

int  nu_http_open(struct event_base *base, nu_http **out, nu_error *err);
/* Cancels what is in flight: those callbacks run before close returns, with
 * status 0 and error "cancelled"; submits from them are refused. May be
 * called from a completion callback. */
void nu_http_close(nu_http *h);

/* Starts a request; done(ud, res) runs exactly once, later, from the event
 * loop (never inside nu_http_submit and never inside a curl callback).
 * *id (may be NULL) identifies it for cancel; ids are never 0. When submit
 * fails (bad method or URL, out of memory, closing) done never runs. */
int  nu_http_submit(nu_http *h, const nu_http_request *req, nu_http_done done, void *ud,
		    uint64_t *id, nu_error *err);
/* done runs (later, from the loop) with status 0 and error "cancelled",
 * even if the response had already arrived but was not yet delivered.
 * NU_ENOTFOUND when the id is unknown or its callback already ran. */
int  nu_http_cancel(nu_http *h, uint64_t id);

/* Counters for benchmarks: callbacks run (any outcome) and responses that
 * came over a reused connection. Either pointer may be NULL. */
void nu_http_stats(const nu_http *h, uint64_t *finished, uint64_t *reused);

#endif
