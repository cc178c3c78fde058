/*
 * http_server.c — HTTP/1.1 on the daemon's loop (http_server.h): the
 * listener, each connection's read buffer and state, the request parser
 * (request line, headers, Content-Length and chunked bodies, Expect), the
 * answer writer, and a once-a-second sweep for timeouts.
 *
 * A connection reads into one buffer. A request's head is copied into
 * the request (so it outlives the buffer) and split in place; its body
 * stays in the buffer (a chunked body is decoded there, in place) and is
 * handed over without a copy. The parser is strict where leniency lets
 * two parsers disagree on where a request ends (request smuggling): bare
 * CR, folded lines, both Content-Length and Transfer-Encoding, codings
 * other than chunked, and conflicting lengths are refused with 400/501.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/event.h>
#include <event2/listener.h>
#include "http_server.h"
#include "log.h"

#define READ_CHUNK      16384         /* free space wanted before a read */
#define BUF_KEEP        65536         /* an idle connection keeps no bigger buffer */
#define CHUNK_LINE_MAX  1024          /* a chunk-size line with its extensions */
#define EXTRA_MAX       2048          /* headers a handler adds to its answer */
#define LINGER_TICKS    2             /* seconds to drain a refused request's rest */
#define ANSWER_HEAD_MAX 512           /* the answer's own header lines */

enum conn_state {
	C_IDLE,        /* between requests */
	C_HEAD,        /* reading a request line and headers */
	C_BODY,        /* reading a Content-Length body */
	C_CHUNKED,     /* reading a chunked body */
	C_HANDLING,    /* the request is with its handler */
	C_LINGER,      /* answered and closing: draining what the client still sends */
};

enum chunk_state { CH_SIZE, CH_DATA, CH_DATA_END, CH_TRAILER };

/* What read_head and read_chunks tell process(). */
enum { WAIT, DONE, REFUSED };

typedef struct conn conn;

struct nu_http_req {
	conn *conn;                 /* NULL once the connection is gone */
	int method;
	const char *method_name;
	const char *path, *query;
	int keep_alive;
	int expect_continue;        /* HTTP/1.1 "Expect: 100-continue" */
	int chunked;
	int64_t content_length;     /* -1: none given */
	const char *body;
	size_t body_len;
	char *extra;                /* header lines the handler added */
	size_t extra_len;
	size_t nhdr;
	const char **hdr;           /* name, value, name, value … in the head's copy */
};

struct conn {
	nu_http_server *srv;
	conn *prev, *next;          /* the server's list, for the sweep */
	int fd;
	struct event *rev, *wev;
	enum conn_state state;
	unsigned since;             /* the server's tick when the state began */
	unsigned write_since;       /* … when the socket filled up */
	char *in;                   /* read buffer: [0, in_len) of in_cap (+1 for a NUL) */
	size_t in_len, in_cap;
	size_t req_start;           /* where the request being read begins */
	size_t scan;                /* head bytes already searched for the blank line */
	size_t body_start;          /* where the body begins */
	size_t body_len;            /* chunked: decoded so far */
	size_t cpos;                /* chunked: the next raw byte to parse */
	size_t chunk_left;
	size_t trailer_bytes;
	enum chunk_state chunk_state;
	size_t req_end;             /* where the next request begins (set at hand-over) */
	nu_http_req *req;           /* read (head parsed) or with its handler */
	char *out;                  /* what is still to write */
	size_t out_len, out_pos, out_cap;
	unsigned counted : 1;       /* within the cap (else: refused, answered 503) */
	unsigned closing : 1;       /* close after the answer */
	unsigned dispatching : 1;   /* inside a handler call: do not free */
	unsigned dead : 1;          /* to free when the handler call returns */
	unsigned writing : 1;       /* the write event is armed */
	unsigned read_paused : 1;   /* the read event is off */
	unsigned peer_eof : 1;      /* the client sent all it will */
	unsigned continued : 1;     /* "100 Continue" went out */
};

struct nu_http_server {
	nu_http_server_options o;
	char *listen;
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *sweep_ev;
	conn *conns;
	int port;
	int connections;            /* counted ones */
	int refusing;               /* over the cap, waiting for their 503 */
	uint64_t refused;
	unsigned tick;              /* seconds since start, by the sweep */
	int accept_paused;
	time_t date_at;
	char date[40];              /* "Date: …\r\n" for date_at */
};

static void process(conn *c);
static void after_answer(conn *c);

/* ---- requests ----------------------------------------------------------- */

static void req_free(nu_http_req *r)
{
	if (!r)
		return;
	free(r->extra);
	free(r);
}

/* What a request is before its head is read: enough for an answer. */
static void req_init(nu_http_req *r, conn *c)
{
	memset(r, 0, sizeof *r);
	r->conn = c;
	r->method_name = "?";
	r->path = "";
	r->content_length = -1;
}

/* A request whose head could not be read. */
static nu_http_req *req_blank(conn *c)
{
	nu_http_req *r = malloc(sizeof *r);

	if (r)
		req_init(r, c);
	return r;
}

int nu_http_req_method(const nu_http_req *r) { return r->method; }
const char *nu_http_req_method_name(const nu_http_req *r) { return r->method_name; }
const char *nu_http_req_path(const nu_http_req *r) { return r->path; }
const char *nu_http_req_query(const nu_http_req *r) { return r->query; }
size_t nu_http_req_nheaders(const nu_http_req *r) { return r->nhdr; }

void nu_http_req_header_at(const nu_http_req *r, size_t i, const char **name, const char **value)
{
	*name = r->hdr[2 * i];
	*value = r->hdr[2 * i + 1];
}

const char *nu_http_req_header(const nu_http_req *r, const char *name)
{
	for (size_t i = 0; i < r->nhdr; i++)
		if (!strcasecmp(r->hdr[2 * i], name))
			return r->hdr[2 * i + 1];
	return NULL;
}

const char *nu_http_req_body(const nu_http_req *r, size_t *len)
{
	*len = r->body_len;
	return r->body ? r->body : "";
}

int nu_http_req_add_header(nu_http_req *r, const char *name, const char *value)
{
	size_t need = strlen(name) + strlen(value) + 4;

	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n") || r->extra_len + need > EXTRA_MAX)
		return -1;
	if (!r->extra && !(r->extra = malloc(EXTRA_MAX + 1)))
		return -1;
	r->extra_len += (size_t)snprintf(r->extra + r->extra_len, EXTRA_MAX + 1 - r->extra_len,
					 "%s: %s\r\n", name, value);
	return 0;
}

/* ---- connections -------------------------------------------------------- */

static void conn_free(conn *c)
{
	nu_http_server *s = c->srv;

	if (c->req) {
		if (c->state == C_HANDLING)
			c->req->conn = NULL;   /* its handler still holds it */
		else
			req_free(c->req);
	}
	event_free(c->rev);
	event_free(c->wev);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->counted)
		s->connections--;
	else
		s->refusing--;
	free(c->in);
	free(c->out);
	free(c);
}

/* Frees c, or marks it for its dispatcher when inside a handler call. */
static void conn_release(conn *c)
{
	if (c->dispatching)
		c->dead = 1;
	else
		conn_free(c);
}

static void pause_reading(conn *c)
{
	if (!c->read_paused) {
		event_del(c->rev);
		c->read_paused = 1;
	}
}

static void resume_reading(conn *c)
{
	if (c->read_paused && !c->peer_eof) {
		event_add(c->rev, NULL);
		c->read_paused = 0;
	}
}

/* Room for at least `want` more bytes (plus the NUL a body gets), within
 * the most a request can take. -1 when that is not possible. */
static int reserve_in(conn *c, size_t want)
{
	const nu_http_server_options *o = &c->srv->o;
	size_t ceiling = o->max_header + o->max_body + 2 * READ_CHUNK;
	size_t cap = c->in_cap ? c->in_cap : READ_CHUNK;
	char *more;

	if (c->in_cap - c->in_len >= want)
		return 0;
	if (c->in_len + want > ceiling)
		want = ceiling > c->in_len ? ceiling - c->in_len : 0;
	if (!want)
		return -1;
	while (cap < c->in_len + want)
		cap *= 2;
	if (cap > ceiling)
		cap = ceiling;
	if (!(more = realloc(c->in, cap + 1)))
		return -1;
	c->in = more;
	c->in_cap = cap;
	return 0;
}

/* Drops the requests already answered from the buffer. */
static void compact_in(conn *c)
{
	size_t rest = c->in_len - c->req_start;

	if (rest && c->req_start)
		memmove(c->in, c->in + c->req_start, rest);
	c->in_len = rest;
	c->req_start = 0;
	c->scan = 0;
	if (!rest && c->in_cap > BUF_KEEP) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/* ---- writing ------------------------------------------------------------ */

static int reserve_out(conn *c, size_t want)
{
	size_t cap = c->out_cap ? c->out_cap : 1024;
	char *more;

	if (c->out_cap - c->out_len >= want)
		return 0;
	while (cap < c->out_len + want)
		cap *= 2;
	if (!(more = realloc(c->out, cap)))
		return -1;
	c->out = more;
	c->out_cap = cap;
	return 0;
}

/* Writes what is pending. 1: all of it, 0: the socket is full (the write
 * event will finish it), -1: the connection is broken. */
static int flush_out(conn *c)
{
	while (c->out_pos < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_pos += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->writing) {
				event_add(c->wev, NULL);
				c->writing = 1;
				c->write_since = c->srv->tick;
			}
			return 0;
		} else {
			return -1;
		}
	}
	c->out_len = c->out_pos = 0;
	if (c->out_cap > BUF_KEEP) {
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	if (c->writing) {
		event_del(c->wev);
		c->writing = 0;
	}
	return 1;
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;

	(void)fd;
	(void)what;
	switch (flush_out(c)) {
	case -1:
		conn_free(c);
		break;
	case 1:
		after_answer(c);
		break;
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return "Status";
	}
}

/* "Date: Mon, 23 Nov 2026 12:00:00 GMT\r\n", made once a second and in
 * the C locale whatever the process's is. */
static const char *date_line(nu_http_server *s)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	time_t now = time(NULL);
	struct tm tm;

	if (now != s->date_at && gmtime_r(&now, &tm)) {
		snprintf(s->date, sizeof s->date, "Date: %.3s, %02d %.3s %04d %02d:%02d:%02d GMT\r\n",
			 days + 3 * tm.tm_wday, tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900,
			 tm.tm_hour, tm.tm_min, tm.tm_sec);
		s->date_at = now;
	}
	return s->date;
}

/* Appends the answer to c->out. */
static int format_answer(conn *c, const nu_http_req *r, int status, const char *content_type,
			 const void *body, size_t len)
{
	int head_only = r->method == NU_HTTP_HEAD;
	const char *connection = c->closing ? "Connection: close\r\n"
				 : r->keep_alive == 2 ? "Connection: keep-alive\r\n" : "";
	size_t ct_len = strlen(content_type);
	int n;

	if (reserve_out(c, ANSWER_HEAD_MAX + ct_len + r->extra_len + (head_only ? 0 : len)) < 0)
		return -1;
	n = snprintf(c->out + c->out_len, c->out_cap - c->out_len,
		     "HTTP/1.1 %d %s\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s",
		     status, reason(status), date_line(c->srv), content_type, len, connection);
	if (n < 0 || (size_t)n >= c->out_cap - c->out_len)
		return -1;
	c->out_len += (size_t)n;
	if (r->extra_len)
		memcpy(c->out + c->out_len, r->extra, r->extra_len);
	c->out_len += r->extra_len;
	memcpy(c->out + c->out_len, "\r\n", 2);
	c->out_len += 2;
	if (!head_only && len) {
		memcpy(c->out + c->out_len, body, len);
		c->out_len += len;
	}
	return 0;
}

void nu_http_reply(nu_http_req *r, int status, const char *content_type, const void *body,
		   size_t len)
{
	conn *c = r->conn;

	if (!c) {                /* the client went away meanwhile */
		req_free(r);
		return;
	}
	if (!r->keep_alive || !c->counted || c->peer_eof)
		c->closing = 1;
	if (format_answer(c, r, status, content_type, body, len) < 0) {
		nu_err("http: no memory for the answer to %s %s", r->method_name, r->path);
		c->req = NULL;
		req_free(r);
		conn_release(c);
		return;
	}
	c->req = NULL;
	req_free(r);
	c->req_start = c->req_end;
	c->state = C_IDLE;
	c->since = c->srv->tick;
	switch (flush_out(c)) {
	case -1:
		conn_release(c);
		break;
	case 1:
		after_answer(c);
		break;
	}
}

/* Half-closes and drains what the client still sends, so that the
 * answer is read before the close (a close with unread bytes resets the
 * connection, and the client may lose the answer). */
static void start_close(conn *c)
{
	if (c->peer_eof) {
		conn_release(c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	c->state = C_LINGER;
	c->since = c->srv->tick;
	c->in_len = c->req_start = 0;
	resume_reading(c);
}

/* The answer is written: close, or go on with the next request. Inside a
 * handler call the dispatcher goes on by itself; after a later answer the
 * read event does, on the next loop turn. */
static void after_answer(conn *c)
{
	if (c->closing) {
		start_close(c);
		return;
	}
	if (c->dispatching)
		return;
	compact_in(c);
	resume_reading(c);
	if (c->in_len || c->peer_eof)
		event_active(c->rev, EV_READ, 0);
}

/* ---- handing over ------------------------------------------------------- */

/* Gives the request to its handler (or to on_refused), its body in place
 * and NUL-terminated for the length of the call. */
static void dispatch(conn *c, const char *code, int status, const char *message)
{
	nu_http_server *s = c->srv;
	nu_http_req *r = c->req;
	int has_body = r->body != NULL;
	size_t end = has_body ? (size_t)(r->body - c->in) + r->body_len : 0;
	char saved = 0;

	c->state = C_HANDLING;
	if (has_body) {            /* the byte after the body may be the next request's */
		saved = c->in[end];
		c->in[end] = '\0';
	}
	c->dispatching = 1;
	if (code)
		s->o.on_refused(r, status, code, message, s->o.ud);
	else if (!c->counted)
		s->o.on_refused(r, 503, "too_many_connections", "this server is over "
				"http.max_connections open connections; retry later", s->o.ud);
	else
		s->o.on_request(r, s->o.ud);
	c->dispatching = 0;
	if (has_body)              /* r may be gone; the buffer is not (not compacted inside a call) */
		c->in[end] = saved;
}

/* Refuses the request being read: the handler's on_refused answers, the
 * connection closes after. The caller frees c when it comes back dead. */
static int refuse(conn *c, int status, const char *code, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	if (!c->req && !(c->req = req_blank(c))) {
		c->dead = 1;
		return REFUSED;
	}
	c->req->keep_alive = 0;
	c->req_end = c->in_len;
	c->closing = 1;
	dispatch(c, code, status, message);
	return REFUSED;
}

/* ---- the head ----------------------------------------------------------- */

static int is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* The end of the line starting at p (its '\n'), the line cut before its
 * "\r\n" or "\n". NULL for a CR anywhere else. */
static char *cut_line(char *p, char **next)
{
	char *nl = strchr(p, '\n');
	char *cr;

	if (!nl)
		return NULL;
	*next = nl + 1;
	if (nl > p && nl[-1] == '\r')
		nl--;
	*nl = '\0';
	if ((cr = memchr(p, '\r', (size_t)(nl - p))))
		return NULL;
	return nl;
}

static int method_of(const char *m)
{
	static const struct { const char *name; int bit; } known[] = {
		{ "GET", NU_HTTP_GET }, { "HEAD", NU_HTTP_HEAD }, { "POST", NU_HTTP_POST },
		{ "PUT", NU_HTTP_PUT }, { "DELETE", NU_HTTP_DELETE }, { "PATCH", NU_HTTP_PATCH },
		{ "OPTIONS", NU_HTTP_OPTIONS },
	};

	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		if (!strcmp(m, known[i].name))
			return known[i].bit;
	return 0;
}

/* Splits the target into path and query; an absolute URI gives its path. */
static int split_target(nu_http_req *r, char *target)
{
	char *q;

	if (!strncasecmp(target, "http://", 7) || !strncasecmp(target, "https://", 8)) {
		char *slash = strchr(strstr(target, "//") + 2, '/');
		if (!slash)
			return -1;
		target = slash;
	}
	if (target[0] != '/')
		return -1;
	if ((q = strchr(target, '?'))) {
		*q = '\0';
		r->query = q + 1;
	}
	r->path = target;
	return 0;
}

/* "GET /path HTTP/1.1": 0, or an HTTP status to refuse with. */
static int parse_request_line(nu_http_req *r, char *line, int *minor)
{
	char *sp1 = strchr(line, ' '), *sp2;

	if (!sp1 || !(sp2 = strchr(sp1 + 1, ' ')) || strchr(sp2 + 1, ' '))
		return 400;
	*sp1 = *sp2 = '\0';
	for (char *p = line; *p; p++)
		if (!is_tchar((unsigned char)*p))
			return 400;
	for (unsigned char *p = (unsigned char *)sp1 + 1; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return 400;
	if (!line[0] || !sp1[1])
		return 400;
	if (!strcmp(sp2 + 1, "HTTP/1.1"))
		*minor = 1;
	else if (!strcmp(sp2 + 1, "HTTP/1.0"))
		*minor = 0;
	else
		return strncmp(sp2 + 1, "HTTP/", 5) ? 400 : 505;
	r->method = method_of(line);
	r->method_name = r->method ? line : "?";
	if (split_target(r, sp1 + 1) < 0)
		return 400;
	return 0;
}

/* "Name: value" into the header list. 0, or -1 for a malformed line. */
static int parse_header_line(nu_http_req *r, char *line, char *end)
{
	char *colon = line, *v, *ve;

	while (is_tchar((unsigned char)*colon))
		colon++;
	if (colon == line || *colon != ':')
		return -1;
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (ve = end; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
		;
	*ve = '\0';
	for (unsigned char *p = (unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return -1;
	r->hdr[2 * r->nhdr] = line;
	r->hdr[2 * r->nhdr + 1] = v;
	r->nhdr++;
	return 0;
}

/* 1 if the comma-separated header value lists token (case-insensitive). */
static int lists_token(const char *value, const char *token)
{
	size_t n = strlen(token);

	for (const char *p = value; p && *p;) {
		p += strspn(p, " \t,");
		size_t len = strcspn(p, ",");
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == n && !strncasecmp(p, token, n))
			return 1;
		p = strchr(p, ',');
	}
	return 0;
}

/* What the headers say of the body and the connection. */
static int read_framing(conn *c, nu_http_req *r, int minor)
{
	const char *te = NULL, *expect = NULL, *connection;
	int64_t cl = -1;

	for (size_t i = 0; i < r->nhdr; i++) {
		const char *name = r->hdr[2 * i], *v = r->hdr[2 * i + 1];
		if (!strcasecmp(name, "Content-Length")) {
			size_t digits = strspn(v, "0123456789");
			if (!digits || v[digits] || digits > 18)
				return refuse(c, 400, "bad_request", "Content-Length '%.40s' is not a length", v);
			int64_t x = strtoll(v, NULL, 10);
			if (cl >= 0 && x != cl)
				return refuse(c, 400, "bad_request", "the request gives two different Content-Lengths");
			cl = x;
		} else if (!strcasecmp(name, "Transfer-Encoding")) {
			if (te)
				return refuse(c, 400, "bad_request", "the request gives Transfer-Encoding twice");
			te = v;
		} else if (!strcasecmp(name, "Expect")) {
			expect = v;
		}
	}
	if (te && (cl >= 0 || minor == 0))
		return refuse(c, 400, "bad_request", cl >= 0 ? "the request gives both Content-Length and "
			      "Transfer-Encoding" : "HTTP/1.0 has no Transfer-Encoding");
	if (te && strcasecmp(te, "chunked"))
		return refuse(c, 501, "not_implemented", "Transfer-Encoding '%.40s' is not supported "
			      "(send chunked, or a Content-Length)", te);
	if (expect && strcasecmp(expect, "100-continue"))
		return refuse(c, 417, "expectation_failed", "Expect '%.40s' is not supported", expect);
	connection = nu_http_req_header(r, "Connection");
	if (minor == 1)
		r->keep_alive = !(connection && lists_token(connection, "close"));
	else
		r->keep_alive = connection && lists_token(connection, "keep-alive") ? 2 : 0;
	r->chunked = te != NULL;
	r->content_length = cl;
	r->expect_continue = expect && minor == 1;
	if (cl > (int64_t)c->srv->o.max_body)
		return refuse(c, 413, "body_too_large", "the body is %lld bytes; this server takes at "
			      "most %zu (http.max_body): split the batch", (long long)cl, c->srv->o.max_body);
	return DONE;
}

/* Copies and parses the head [req_start, req_start + len). */
static int parse_head(conn *c, size_t len)
{
	const char *src = c->in + c->req_start;
	size_t lines = 0, nptr;
	nu_http_req *r;
	char *head, *p, *next, *end;
	int minor = 1, status;

	for (const char *q = src; (q = memchr(q, '\n', len - (size_t)(q - src))); q++)
		lines++;
	nptr = 2 * lines;
	if (memchr(src, '\0', len))
		return refuse(c, 400, "bad_request", "the request head holds a NUL byte");
	if (!(r = malloc(sizeof *r + nptr * sizeof(char *) + len + 1))) {
		c->dead = 1;
		return REFUSED;
	}
	req_init(r, c);
	r->hdr = (const char **)(r + 1);
	head = (char *)(r->hdr + nptr);
	memcpy(head, src, len);
	head[len] = '\0';
	c->req = r;
	if (!(end = cut_line(head, &next)))
		return refuse(c, 400, "bad_request", "the request line has a stray CR");
	if ((status = parse_request_line(r, head, &minor)))
		return refuse(c, status, status == 505 ? "http_version_not_supported" : "bad_request",
			      status == 505 ? "this server speaks HTTP/1.0 and HTTP/1.1"
			      : "the request line is malformed (METHOD /path HTTP/1.1)");
	for (p = next; *p && *p != '\r' && *p != '\n'; p = next) {
		if (*p == ' ' || *p == '\t')
			return refuse(c, 400, "bad_request", "folded header lines are not accepted");
		if (!(end = cut_line(p, &next)) || parse_header_line(r, p, end) < 0)
			return refuse(c, 400, "bad_request", "header line %zu is malformed", r->nhdr + 1);
	}
	if (strcmp(p, "\r\n") && strcmp(p, "\n"))
		return refuse(c, 400, "bad_request", "the headers have a stray CR");
	if (!r->method)
		return refuse(c, 501, "not_implemented", "the method is not one this server knows");
	return read_framing(c, r, minor);
}

/* Finds the blank line that ends the head, then parses it. */
static int read_head(conn *c)
{
	const nu_http_server_options *o = &c->srv->o;
	char *start;
	size_t avail;

	/* Empty lines before a request are allowed (RFC 9112 §2.2). */
	while (c->scan == 0 && c->req_start < c->in_len &&
	       (c->in[c->req_start] == '\r' || c->in[c->req_start] == '\n'))
		c->req_start++;
	start = c->in + c->req_start;
	avail = c->in_len - c->req_start;
	for (char *nl = start + c->scan; (nl = memchr(nl, '\n', avail - (size_t)(nl - start))); nl++) {
		size_t at = (size_t)(nl - start);
		if ((at >= 1 && nl[-1] == '\n') || (at >= 2 && nl[-1] == '\r' && nl[-2] == '\n')) {
			if (at + 1 > o->max_header)
				break;
			c->body_start = c->req_start + at + 1;
			return parse_head(c, at + 1);
		}
	}
	c->scan = avail;
	if (avail > o->max_header)
		return refuse(c, 431, "headers_too_large", "the request line and headers are over %zu "
			      "bytes (http.max_header)", o->max_header);
	return WAIT;
}

/* ---- bodies ------------------------------------------------------------- */

static void send_continue(conn *c)
{
	static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";

	if (c->continued || !c->req->expect_continue)
		return;
	c->continued = 1;
	if (reserve_out(c, sizeof line) == 0) {
		memcpy(c->out + c->out_len, line, sizeof line - 1);
		c->out_len += sizeof line - 1;
		if (flush_out(c) < 0)
			c->dead = 1;   /* process() frees it */
	}
}

/* A chunk-size line at cpos: the size, or -1 (malformed), -2 (incomplete). */
static int64_t chunk_size_line(conn *c, size_t *line_end)
{
	char *p = c->in + c->cpos, *nl = memchr(p, '\n', c->in_len - c->cpos);
	int64_t n = 0;
	size_t digits = 0;

	if (!nl)
		return c->in_len - c->cpos > CHUNK_LINE_MAX ? -1 : -2;
	for (; digits < 16; digits++, p++) {
		int v = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
			: *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : -1;
		if (v < 0)
			break;
		n = n * 16 + v;
	}
	if (!digits || digits == 16 || (p != nl && *p != ';' && *p != '\r' && *p != ' ' && *p != '\t'))
		return -1;
	*line_end = (size_t)(nl - c->in) + 1;
	return n;
}

/* Decodes the chunks that have arrived into the body, in place. */
static int read_chunks(conn *c)
{
	nu_http_server_options *o = &c->srv->o;

	for (;;) {
		size_t line_end, take;
		int64_t n;
		char *nl;

		switch (c->chunk_state) {
		case CH_SIZE:
			if ((n = chunk_size_line(c, &line_end)) == -2)
				goto wait;
			if (n < 0)
				return refuse(c, 400, "bad_request", "a chunk-size line is malformed");
			if ((uint64_t)n > o->max_body - c->body_len)
				return refuse(c, 413, "body_too_large", "the chunked body is over %zu bytes "
					      "(http.max_body): split the batch", o->max_body);
			c->cpos = line_end;
			c->chunk_left = (size_t)n;
			c->chunk_state = n ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA:
			take = c->in_len - c->cpos < c->chunk_left ? c->in_len - c->cpos : c->chunk_left;
			memmove(c->in + c->body_start + c->body_len, c->in + c->cpos, take);
			c->body_len += take;
			c->cpos += take;
			c->chunk_left -= take;
			if (c->chunk_left)
				goto wait;
			c->chunk_state = CH_DATA_END;
			break;
		case CH_DATA_END:
			if (c->cpos < c->in_len && c->in[c->cpos] == '\n') {
				c->cpos++;
			} else if (c->cpos + 1 < c->in_len && !memcmp(c->in + c->cpos, "\r\n", 2)) {
				c->cpos += 2;
			} else if (c->cpos + 1 < c->in_len || (c->cpos < c->in_len && c->in[c->cpos] != '\r')) {
				return refuse(c, 400, "bad_request", "a chunk does not end with CRLF");
			} else {
				goto wait;
			}
			c->chunk_state = CH_SIZE;
			break;
		case CH_TRAILER:
			if (!(nl = memchr(c->in + c->cpos, '\n', c->in_len - c->cpos))) {
				if (c->trailer_bytes + (c->in_len - c->cpos) > o->max_header)
					return refuse(c, 431, "headers_too_large", "the trailers are over %zu "
						      "bytes (http.max_header)", o->max_header);
				goto wait;
			}
			line_end = (size_t)(nl - c->in) + 1;
			take = line_end - c->cpos;
			c->cpos = line_end;
			if (take == 1 || (take == 2 && nl[-1] == '\r')) {
				c->req_end = c->cpos;
				return DONE;
			}
			c->trailer_bytes += take;   /* trailers are read and ignored */
			break;
		}
	}
wait:
	/* Close the gap between the decoded body and the raw bytes left. */
	if (c->cpos > c->body_start + c->body_len) {
		size_t raw = c->in_len - c->cpos;
		memmove(c->in + c->body_start + c->body_len, c->in + c->cpos, raw);
		c->cpos = c->body_start + c->body_len;
		c->in_len = c->cpos + raw;
	}
	return WAIT;
}

/* After the head: where the body is and when it is whole. */
static void begin_body(conn *c)
{
	nu_http_req *r = c->req;

	if (r->chunked) {
		c->state = C_CHUNKED;
		c->chunk_state = CH_SIZE;
		c->cpos = c->body_start;
		c->body_len = 0;
		c->trailer_bytes = 0;
	} else {
		c->state = C_BODY;
		c->body_len = r->content_length > 0 ? (size_t)r->content_length : 0;
	}
	c->continued = 0;
}

static int body_complete(conn *c)
{
	if (c->state == C_CHUNKED)
		return read_chunks(c);
	if (c->in_len - c->body_start < c->body_len)
		return WAIT;
	c->req_end = c->body_start + c->body_len;
	return DONE;
}

/* ---- reading ------------------------------------------------------------ */

/* Runs the buffered requests, one at a time, until one waits on its
 * handler or more bytes are needed. */
static void process(conn *c)
{
	int rc;

	while (!c->out_len) {
		switch (c->state) {
		case C_IDLE:
			if (c->in_len == c->req_start) {
				if (c->peer_eof)
					conn_release(c);
				return;
			}
			c->state = C_HEAD;
			c->since = c->srv->tick;
			c->scan = 0;
			continue;
		case C_HEAD:
			if ((rc = read_head(c)) == DONE) {
				begin_body(c);
				continue;
			}
			break;
		case C_BODY:
		case C_CHUNKED:
			if ((rc = body_complete(c)) == DONE) {
				c->req->body = c->in + c->body_start;
				c->req->body_len = c->body_len;
				dispatch(c, NULL, 0, NULL);
				break;
			}
			if (rc == WAIT)
				send_continue(c);
			break;
		default:
			return;
		}
		if (c->dead) {
			conn_free(c);
			return;
		}
		if (rc == WAIT) {
			if (c->peer_eof)   /* the request will never be whole */
				conn_release(c);
			return;
		}
		if (c->state == C_HANDLING || c->state == C_LINGER)
			return;
		compact_in(c);       /* answered at once: on to the next */
	}
}

/* Reads what has come: once, or for a Content-Length body until the
 * socket is empty. -1 when c was freed. */
static int fill(conn *c)
{
	for (;;) {
		size_t need = c->state == C_BODY ? c->body_start + c->body_len : 0;
		size_t want = need > c->in_len ? need - c->in_len : 0;
		if (want < READ_CHUNK)
			want = READ_CHUNK;
		if (reserve_in(c, want) < 0 && c->in_cap == c->in_len) {
			conn_free(c);
			return -1;
		}
		size_t room = c->in_cap - c->in_len;
		ssize_t n = recv(c->fd, c->in + c->in_len, room, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			/* Only a body of known length is read on at once: a head is
			 * measured against max_header after each read. */
			if ((size_t)n < room || c->state != C_BODY)
				return 0;
			continue;
		}
		if (n == 0) {
			c->peer_eof = 1;
			pause_reading(c);
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_free(c);
		return -1;
	}
}

/* Drains a closing connection until the client closes too. */
static void linger_read(conn *c)
{
	char sink[4096];
	ssize_t n;

	while ((n = recv(c->fd, sink, sizeof sink, 0)) > 0)
		;
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		conn_free(c);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == C_LINGER) {
		linger_read(c);
		return;
	}
	if (c->state == C_HANDLING) {   /* pipelined bytes wait: one request at a time */
		pause_reading(c);
		return;
	}
	if (!c->peer_eof && fill(c) < 0)
		return;
	process(c);
}

/* ---- accepting ---------------------------------------------------------- */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	nu_http_server *s = arg;
	int counted = s->connections < s->o.max_connections, one = 1;
	conn *c;

	(void)l;
	(void)sa;
	(void)salen;
	if (!counted) {
		s->refused++;
		if (s->refusing >= s->o.max_connections) {   /* no more answers owed */
			close(fd);
			return;
		}
	}
	if (!(c = calloc(1, sizeof *c))) {
		close(fd);
		return;
	}
	c->srv = s;
	c->fd = fd;
	c->counted = (unsigned)counted;
	c->since = s->tick;
	c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, on_readable, c);
	c->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_writable, c);
	if (!c->rev || !c->wev || event_add(c->rev, NULL) < 0) {
		if (c->rev)
			event_free(c->rev);
		if (c->wev)
			event_free(c->wev);
		free(c);
		close(fd);
		return;
	}
	/* The answer is one write; without this a 100 Continue and its answer
	 * could wait on the client's delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (counted)
		s->connections++;
	else
		s->refusing++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
}

/* Out of descriptors: a level-triggered listener would spin, so it
 * rests until the next sweep. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	nu_http_server *s = arg;

	nu_warn("http: cannot accept a connection: %s", strerror(errno));
	evconnlistener_disable(l);
	s->accept_paused = 1;
}

/* ---- timeouts ----------------------------------------------------------- */

static void sweep_one(conn *c, unsigned tick, unsigned timeout)
{
	if (c->writing && tick - c->write_since > timeout) {   /* the client takes no answer */
		conn_release(c);
		return;
	}
	switch (c->state) {
	case C_IDLE:
		if (!c->out_len && c->in_len == c->req_start && tick - c->since > timeout)
			conn_release(c);   /* an idle keep-alive: no answer owed */
		break;
	case C_HEAD:
	case C_BODY:
	case C_CHUNKED:
		if (tick - c->since > timeout) {
			refuse(c, 408, "request_timeout", "the request did not arrive whole within %u s "
			       "(http.timeout)", timeout);
			if (c->dead)
				conn_free(c);
		}
		break;
	case C_LINGER:
		if (tick - c->since > LINGER_TICKS)
			conn_release(c);
		break;
	case C_HANDLING:
		break;
	}
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	nu_http_server *s = arg;
	conn *next;

	(void)fd;
	(void)what;
	s->tick++;
	for (conn *c = s->conns; c; c = next) {
		next = c->next;
		sweep_one(c, s->tick, (unsigned)s->o.timeout_s);
	}
	if (s->accept_paused) {
		s->accept_paused = 0;
		evconnlistener_enable(s->listener);
	}
}

/* ---- lifecycle ---------------------------------------------------------- */

/* "127.0.0.1:7780" or "[::1]:7780" into host and port. */
static int parse_listen(const char *listen, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(listen, ':');
	const char *h = listen, *he = colon;
	char *end;
	long p;

	if (!colon)
		return -1;
	if (*h == '[') {
		h++;
		if (he == listen || he[-1] != ']')
			return -1;
		he--;
	}
	p = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || p < 0 || p > 65535 || he <= h || (size_t)(he - h) >= hostlen)
		return -1;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	snprintf(port, portlen, "%ld", p);
	return 0;
}

static int bind_listener(nu_http_server *s, nu_error *err)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai = NULL;
	char host[128], port[8];
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (parse_listen(s->listen, host, sizeof host, port, sizeof port) < 0)
		return nu_error_set(err, NU_EINVAL, "http.listen must be host:port (\"127.0.0.1:7780\", "
				    "\"[::1]:7780\"), got '%s'", s->listen);
	if (getaddrinfo(host, port, &hints, &ai) || !ai)
		return nu_error_set(err, NU_EINVAL, "http.listen: cannot resolve '%s'", host);
	s->listener = evconnlistener_new_bind(s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE |
					      LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE, 1024,
					      ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (!s->listener)
		return nu_error_set(err, NU_ERR, "cannot listen on %s: %s", s->listen, strerror(errno));
	evconnlistener_set_error_cb(s->listener, on_accept_error);
	if (getsockname(evconnlistener_get_fd(s->listener), (struct sockaddr *)&ss, &len) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						     : ((struct sockaddr_in *)&ss)->sin_port);
	return NU_OK;
}

int nu_http_server_start(struct event_base *base, const nu_http_server_options *o,
			 nu_http_server **out, nu_error *err)
{
	nu_http_server *s = calloc(1, sizeof *s);
	struct timeval second = { 1, 0 };

	*out = NULL;
	if (!s || !(s->listen = strdup(o->listen))) {
		free(s);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	s->o = *o;
	s->o.listen = s->listen;
	s->base = base;
	if (bind_listener(s, err) < 0) {
		nu_http_server_free(s);
		return err->code;
	}
	if (!(s->sweep_ev = event_new(base, -1, EV_PERSIST, on_sweep, s)) ||
	    event_add(s->sweep_ev, &second) < 0) {
		nu_http_server_free(s);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	*out = s;
	return NU_OK;
}

void nu_http_server_free(nu_http_server *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_free(s->conns);
	if (s->listener)
		evconnlistener_free(s->listener);
	if (s->sweep_ev)
		event_free(s->sweep_ev);
	free(s->listen);
	free(s);
}

int nu_http_server_port(const nu_http_server *s) { return s->port; }
int nu_http_server_connections(const nu_http_server *s) { return s->connections; }
uint64_t nu_http_server_refused(const nu_http_server *s) { return s->refused; }
