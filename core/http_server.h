/*
 * http_server.h — HTTP/1.1 on the daemon's event loop: accepting
 * connections, reading each request whole within the size and time
 * limits, and writing the answers. What a request means is httpd.c's.
 *
 * Why our own and not libevent's evhttp: evhttp 2.1 answers a request
 * over its limits with an HTML page of its own and drops a stalled client
 * without a 408, before the daemon has a say; it keeps no connection
 * count; and it sends every answer through a write-event round trip (two
 * epoll_ctl calls per request). Here every refusal goes through the
 * daemon's JSON error path, connections are capped at accept, and an
 * answer is written at once, a write event armed only when the socket is
 * full.
 *
 * One request per connection is handled at a time (pipelined requests
 * wait in the buffer). A request handed to on_request belongs to the
 * handler until it calls nu_http_reply, now or on a later loop turn; a
 * client that hangs up meanwhile costs nothing: the answer is dropped.
 */
#ifndef NU_HTTP_SERVER_H
#define NU_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

struct event_base;
typedef struct nu_http_server nu_http_server;
typedef struct nu_http_req nu_http_req;

/* Methods, as bits so that a route can name several. */
enum {
	NU_HTTP_GET = 1 << 0,
	NU_HTTP_HEAD = 1 << 1,
	NU_HTTP_POST = 1 << 2,
	NU_HTTP_PUT = 1 << 3,
	NU_HTTP_DELETE = 1 << 4,
	NU_HTTP_PATCH = 1 << 5,
	NU_HTTP_OPTIONS = 1 << 6,
};

typedef struct nu_http_server_options {
	const char *listen;        /* "127.0.0.1:7780", "[::1]:0" (0: any free port) */
	size_t max_header;         /* the request line and headers, bytes */
	size_t max_body;           /* the body (decoded, when chunked), bytes */
	int timeout_s;             /* for a request to arrive whole, an answer to be taken, an idle keep-alive */
	int max_connections;       /* past it a connection gets one answer, 503, and is closed */
	/* A whole request: answer it with nu_http_reply, now or later, once. */
	void (*on_request)(nu_http_req *req, void *ud);
	/* A request the server will not hand over: answer it (once, as
	 * on_request would) with status and a body naming the problem; the
	 * connection closes after the answer. code is a stable word
	 * ("headers_too_large"), message a sentence for people. */
	void (*on_refused)(nu_http_req *req, int status, const char *code, const char *message,
			   void *ud);
	void *ud;
} nu_http_server_options;

/* Binds o->listen and serves on base. o's strings are copied. */
int  nu_http_server_start(struct event_base *base, const nu_http_server_options *o,
			  nu_http_server **out, nu_error *err);
/* Closes every connection; requests still held by handlers stay valid
 * until answered (their answers are dropped). */
void nu_http_server_free(nu_http_server *s);
int  nu_http_server_port(const nu_http_server *s);
/* Open connections within the cap, and connections refused over it. */
int      nu_http_server_connections(const nu_http_server *s);
uint64_t nu_http_server_refused(const nu_http_server *s);

/* NU_HTTP_*, or 0 for a method the server does not know (refused 501). */
int         nu_http_req_method(const nu_http_req *r);
const char *nu_http_req_method_name(const nu_http_req *r);   /* "GET", "?" */
/* The request target's path, still URL-encoded ("/v1/leads/email:a%40b"),
 * and its query string without the '?' (NULL when none). "" on a refused
 * request that could not be read. */
const char *nu_http_req_path(const nu_http_req *r);
const char *nu_http_req_query(const nu_http_req *r);
/* A request header by name (case-insensitive), first of its name, or NULL. */
const char *nu_http_req_header(const nu_http_req *r, const char *name);
/* The headers in the order they came. */
size_t      nu_http_req_nheaders(const nu_http_req *r);
void        nu_http_req_header_at(const nu_http_req *r, size_t i, const char **name,
				  const char **value);
/* The body, NUL-terminated (the NUL not counted). Valid until on_request
 * returns: a handler that answers later copies what it needs. */
const char *nu_http_req_body(const nu_http_req *r, size_t *len);

/* Adds a header to the answer (Location). -1 when the value holds a line
 * break or the answer's headers are full. */
int  nu_http_req_add_header(nu_http_req *r, const char *name, const char *value);
/* Sends the answer (body copied; content_type a header value) and frees
 * r. For HEAD the body is left out and its length still given. */
void nu_http_reply(nu_http_req *r, int status, const char *content_type, const void *body,
		   size_t len);

#endif
