/*
 * api.h — what the HTTP route handlers share (private to the daemon's
 * HTTP server): the parsed request, replies with JSON errors, the route
 * tables of each api_*.c file, and the server's counters for /metrics.
 *
 * A handler runs on the loop thread, owns the reply (it must answer
 * exactly once) and writes through the daemon's store connection in its
 * own transaction. Errors are JSON: {"error": {"code", "message",
 * "field"?}} with a 4xx that says whose fault it is.
 */
#ifndef NU_API_H
#define NU_API_H

#include <stdint.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include "http_server.h"
#include "httpd.h"

#define NU_API_MAX_SEGS 12

/* Counters for /metrics (monotonic since start). */
typedef struct nu_api_counters {
	uint64_t requests[6];              /* by status class: [2] 2xx … [5] 5xx */
	uint64_t events_accepted, events_rejected, events_duplicate;
	uint64_t webhooks_ok, webhooks_refused, webhooks_failed;
	uint64_t opens, opens_machine, clicks, unsubscribes, bad_tokens;
	uint64_t commit_groups, group_requests;   /* committed groups and their held answers */
	int64_t  timer_lag_ms, timer_lag_max_ms;
} nu_api_counters;

typedef struct nu_api_group nu_api_group;

struct nu_httpd {
	nu_httpd_options opt;
	struct event_base *base;
	nu_http_server *server;            /* http_server.c: connections and the protocol */
	int64_t started_ms;                /* wall clock, for uptime */
	nu_api_counters n;
	nu_api_group *group;               /* api_group.c */
	struct nu_api_clock *clock;        /* the clock advance under way (api_clock.c) */
	unsigned char (*token_digest)[32]; /* SHA-256 of each configured token, in config order */
	struct evp_md_st *sha256;          /* fetched once: OpenSSL's one-shot SHA256() fetches per call */
	struct evp_md_ctx_st *digest_ctx;
};

typedef struct nu_api_req {
	nu_httpd *h;
	nu_store *s;
	nu_http_req *req;
	int method;                        /* NU_HTTP_* */
	const char *method_name;
	char path[2048];                   /* decoded */
	const char *query_raw;             /* the query string as sent, or NULL */
	const char *seg[NU_API_MAX_SEGS];  /* path segments, decoded */
	int nseg;
	struct evkeyvalq query;
	unsigned scopes;                   /* of the bearer token (0 for public routes) */
	const char *body;                  /* the body, NUL-terminated; valid in the handler call only */
	size_t body_len;
	int answered;
} nu_api_req;

typedef struct nu_api_route {
	unsigned methods;                  /* NU_HTTP_* mask */
	const char *pattern;               /* segments; "*" matches one, a final "**" the rest */
	unsigned scope;                    /* NU_SCOPE_*, 0: public (signed or harmless) */
	void (*fn)(nu_api_req *r);
	unsigned flags;                    /* NU_ROUTE_* */
} nu_api_route;

/* The handler answers through the commit group (nu_api_group_answer);
 * every other route first ends an open group. */
#define NU_ROUTE_GROUPED 0x1u

/* Route tables, each ended by a zero entry. */
extern const nu_api_route nu_api_event_routes[];
extern const nu_api_route nu_api_lead_routes[];
extern const nu_api_route nu_api_flow_routes[];
extern const nu_api_route nu_api_track_routes[];
extern const nu_api_route nu_api_ops_routes[];
extern const nu_api_route nu_api_clock_routes[];

/* The server is stopping: an advance under way stops and its request is
 * answered (api_clock.c). */
void nu_api_clock_stop(nu_httpd *h);

/* ---- replies ---- */

/* Sends body (stolen) as JSON with status. */
void nu_api_json(nu_api_req *r, int status, json_t *body);
/* {"error": {"code": code, "message": …, "field": field?}} */
void nu_api_error(nu_api_req *r, int status, const char *code, const char *field,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The error body alone (for an answer sent later): field may be NULL. */
json_t *nu_api_error_body(const char *code, const char *field, const char *msg);
/* Answers with a store or engine error: 400 for bad input (NU_EINVAL),
 * 404 (NU_ENOTFOUND), 409 (NU_ESTATE/NU_EEXIST), else 500. */
void nu_api_fail(nu_api_req *r, const nu_error *err);
/* Raw bytes with a content type (static string). */
void nu_api_send(nu_api_req *r, int status, const char *content_type, const void *data,
		 size_t len);

/* Sends a reply to req (data copied) and counts it; for answers given
 * after the handler returned. */
void nu_api_reply(nu_httpd *h, nu_http_req *req, int status, const char *content_type,
		  const void *data, size_t len);

/* ---- group commit (api_group.c) ---- */

/* What an ingest request stored, counted for /metrics once committed. */
typedef struct nu_api_ingest_counts {
	uint64_t accepted, duplicates, rejected;
} nu_api_ingest_counts;

nu_api_group *nu_api_group_new(nu_httpd *h);
/* Commits what is open and answers everyone held. */
void nu_api_group_free(nu_api_group *g);
/* Makes the loop turn's shared transaction the current one (opening it). */
int  nu_api_group_join(nu_api_req *r, nu_error *err);
/* Holds r's answer (text: malloc'd JSON, stolen; NULL when out of memory)
 * until the group commits: then status and text go out, or a 503 if the
 * commit failed. */
void nu_api_group_answer(nu_api_req *r, int status, char *text, const nu_api_ingest_counts *counts);
/* The shared transaction failed under r: rolls it back and answers every
 * held request 503 with err. r itself is left to answer. */
void nu_api_group_abort(nu_api_req *r, const nu_error *err);
/* Commits an open group and answers its requests (before another route
 * reads or writes, so it sees what was acknowledged). */
void nu_api_group_flush(nu_httpd *h);

/* An answer that comes later, from a loop callback (an asynchronous
 * handler): returns a copy of the request that stays valid after the
 * handler returns (without the body, query or path segments), or NULL
 * after answering 500. Answer the copy exactly once with the functions
 * above, then free it with nu_api_deferred_free. A client that hung up
 * meanwhile costs nothing: the server then drops the answer. */
nu_api_req *nu_api_defer(nu_api_req *r);
void nu_api_deferred_free(nu_api_req *d);

/* ---- request helpers ---- */

/* The body as a JSON object whose keys are all in `known` (NULL-terminated,
 * or NULL for any); otherwise answers 400/415 and returns NULL. */
json_t *nu_api_body_object(nu_api_req *r, const char *const *known);
/* A query parameter, or NULL. */
const char *nu_api_query(nu_api_req *r, const char *key);
/* A query parameter as an integer in [min, max] (dflt when absent); on a
 * bad value answers 400 and returns 0. */
int nu_api_query_int(nu_api_req *r, const char *key, int64_t min, int64_t max, int64_t dflt,
		     int64_t *out);
/* A request header, or NULL. */
const char *nu_api_header(nu_api_req *r, const char *name);
/* Resolves a lead path segment: a numeric id, or kind:value (email:…),
 * answering 404/400 when it names no live lead. */
int nu_api_lead_ref(nu_api_req *r, const char *ref, int64_t *id);

/* The field an ingest error is about ("email: has no domain" → "email"),
 * or NULL. */
const char *nu_api_error_field(const char *msg, char *buf, size_t len);

/* Asks the daemon to pump soon (new events or runs). */
void nu_api_wake(nu_api_req *r);

#endif
