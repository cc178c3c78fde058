/*
 * httpd.c — the HTTP server's plumbing: binding, limits, connection
 * accounting, bearer-token auth, routing and replies (httpd.h, api.h).
 * The endpoints themselves live in api_*.c.
 *
 * Limits: libevent 2.1 answers a request over its own size limits with
 * an HTML page of its own, before any handler runs. So evhttp is given
 * twice the configured limits, as a backstop, and the configured limits
 * are checked here, where the answer can be a JSON 413 or 431 naming the
 * limit; only a request over twice the limit meets libevent's page. A
 * client that stalls longer than http.timeout is disconnected by
 * libevent without an answer (2.1 has no hook to send a 408); nothing it
 * sent is written. libevent 2.1 has no cap on connections either:
 * connections are counted from their first request, and a request on a
 * connection over the cap gets 503 and a close.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "api.h"
#include "json_text.h"
#include "leads.h"
#include "log.h"
#include "timefmt.h"

static const nu_api_route *const route_tables[] = {
	nu_api_event_routes, nu_api_lead_routes, nu_api_flow_routes, nu_api_track_routes,
	nu_api_ops_routes, nu_api_clock_routes,
};

/* ---- replies ---------------------------------------------------------- */

static void count_status(nu_httpd *h, int status)
{
	if (status >= 200 && status < 600)
		h->n.requests[status / 100]++;
}

void nu_api_send(nu_api_req *r, int status, const char *content_type, const void *data, size_t len)
{
	if (r->answered) {
		nu_err("http: %s %s answered twice (bug)", r->method_name, r->path);
		return;
	}
	r->answered = 1;
	nu_api_reply(r->h, r->req, status, content_type, data, len);
}

void nu_api_reply(nu_httpd *h, struct evhttp_request *req, int status, const char *content_type,
		  const void *data, size_t len)
{
	struct evbuffer *out = evbuffer_new();
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);

	count_status(h, status);
	evhttp_add_header(hdr, "Content-Type", content_type);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	evhttp_add_header(hdr, "X-Content-Type-Options", "nosniff");
	if (out)
		evbuffer_add(out, data, len);
	evhttp_send_reply(req, status, NULL, out);
	if (out)
		evbuffer_free(out);
}

void nu_api_json(nu_api_req *r, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(body);
	if (!text) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
		nu_api_send(r, 500, "application/json", oom, sizeof oom - 1);
		return;
	}
	nu_api_send(r, status, "application/json", text, strlen(text));
	free(text);
}

json_t *nu_api_error_body(const char *code, const char *field, const char *msg)
{
	json_t *e = json_pack("{s:s,s:s}", "code", code, "message", msg);

	if (field)
		json_object_set_new(e, "field", json_string(field));
	return json_pack("{s:o}", "error", e);
}

void nu_api_error(nu_api_req *r, int status, const char *code, const char *field,
		  const char *fmt, ...)
{
	char msg[NU_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* The path is not split yet when the request is refused early. A 503
	 * is load or a busy store, to watch; other 5xx are faults. */
	const char *where = r->path[0] ? r->path : evhttp_request_get_uri(r->req);
	if (status == 503)
		nu_warn("http: %s %s: %s", r->method_name, where ? where : "?", msg);
	else if (status >= 500)
		nu_err("http: %s %s: %s", r->method_name, where ? where : "?", msg);
	nu_api_json(r, status, nu_api_error_body(code, field, msg));
}

void nu_api_fail(nu_api_req *r, const nu_error *err)
{
	char field[64];
	const char *f = nu_api_error_field(err->msg, field, sizeof field);

	switch (err->code) {
	case NU_EINVAL:
		nu_api_error(r, 400, "invalid", f, "%s", err->msg);
		break;
	case NU_ENOTFOUND:
		nu_api_error(r, 404, "not_found", NULL, "%s", err->msg);
		break;
	case NU_ESTATE:
	case NU_EDUP:
		nu_api_error(r, 409, "conflict", NULL, "%s", err->msg);
		break;
	default:
		nu_api_error(r, 500, "internal", NULL, "%s", err->msg);
	}
}

nu_api_req *nu_api_defer(nu_api_req *r)
{
	nu_api_req *d = malloc(sizeof *d);

	if (!d) {
		nu_api_error(r, 500, "internal", NULL, "out of memory");
		return NULL;
	}
	*d = *r;
	/* What on_request frees or reuses once the handler returns. */
	TAILQ_INIT(&d->query);
	d->body = NULL;
	d->body_len = 0;
	d->nseg = 0;
	d->answered = 0;
	r->answered = 1;    /* on_request must not answer it for us */
	return d;
}

void nu_api_deferred_free(nu_api_req *d)
{
	if (d && !d->answered)
		nu_api_error(d, 500, "internal", NULL, "the deferred request got no answer (bug)");
	free(d);
}

/* "email: has no domain" → "email"; "tags[2]: …" → "tags[2]";
 * "email 'x@' has no domain" → "email" (identity checks name the kind
 * first); "unknown field 'x' …" → "x". */
const char *nu_api_error_field(const char *msg, char *buf, size_t len)
{
	static const char *const kinds[] = { "email", "phone", "wechat_openid", "wechat_unionid",
		"wecom_external_id", "crm_id", "anonymous_id", "type", NULL };
	size_t n = strspn(msg, "abcdefghijklmnopqrstuvwxyz0123456789_.[]");

	for (const char *const *k = kinds; n && *k; k++)
		if (n == strlen(*k) && !strncmp(msg, *k, n) && msg[n] == ' ' && n < len) {
			memcpy(buf, msg, n);
			buf[n] = '\0';
			return buf;
		}
	if (n && n < len && msg[n] == ':' && msg[n + 1] == ' ') {
		memcpy(buf, msg, n);
		buf[n] = '\0';
		return buf;
	}
	if (!strncmp(msg, "unknown field '", 15)) {
		const char *end = strchr(msg + 15, '\'');
		if (end && (size_t)(end - msg - 15) < len) {
			memcpy(buf, msg + 15, (size_t)(end - msg - 15));
			buf[end - msg - 15] = '\0';
			return buf;
		}
	}
	return NULL;
}

/* ---- request helpers ---------------------------------------------------- */

const char *nu_api_query(nu_api_req *r, const char *key)
{
	return evhttp_find_header(&r->query, key);
}

int nu_api_query_int(nu_api_req *r, const char *key, int64_t min, int64_t max, int64_t dflt,
		     int64_t *out)
{
	const char *v = nu_api_query(r, key);
	char *end;
	long long x;

	*out = dflt;
	if (!v)
		return 1;
	x = strtoll(v, &end, 10);
	if (!*v || *end || x < min || x > max) {
		nu_api_error(r, 400, "invalid", key, "%s must be an integer from %lld to %lld", key,
			     (long long)min, (long long)max);
		return 0;
	}
	*out = x;
	return 1;
}

const char *nu_api_header(nu_api_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

static int is_json_type(const char *ct)
{
	return !ct || !strncasecmp(ct, "application/json", 16) || !strncasecmp(ct, "text/json", 9);
}

json_t *nu_api_body_object(nu_api_req *r, const char *const *known)
{
	json_error_t je;
	json_t *o;
	const char *key;
	json_t *v;

	if (!is_json_type(nu_api_header(r, "Content-Type"))) {
		nu_api_error(r, 415, "unsupported_media_type", NULL,
			     "send the body as application/json (got %s)", nu_api_header(r, "Content-Type"));
		return NULL;
	}
	if (!(o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je))) {
		nu_api_error(r, 400, "invalid_json", NULL, "malformed JSON at line %d column %d: %s",
			     je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		nu_api_error(r, 400, "invalid", NULL, "the body must be a JSON object");
		return NULL;
	}
	json_object_foreach(o, key, v) {
		int found = !known;
		for (const char *const *k = known; k && *k; k++)
			found |= !strcmp(*k, key);
		if (!found) {
			char list[256] = "";
			for (const char *const *k = known; *k; k++)
				snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
					 k == known ? "" : ", ", *k);
			nu_api_error(r, 400, "unknown_field", key, "unknown field '%s' (known: %s)", key, list);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int nu_api_lead_ref(nu_api_req *r, const char *ref, int64_t *id)
{
	nu_error err;
	int rc = nu_lead_resolve_ref(r->s, ref, id, &err);

	if (rc == NU_OK)
		return 1;
	if (rc == NU_ENOTFOUND)
		nu_api_error(r, 404, "not_found", NULL, "%s", err.msg);
	else
		nu_api_fail(r, &err);
	return 0;
}

void nu_api_wake(nu_api_req *r)
{
	if (r->h->opt.wake)
		r->h->opt.wake(r->h->opt.wake_ud);
}

/* ---- auth --------------------------------------------------------------- */

/* Compares digests so neither the length nor the content of a configured
 * token leaks through timing; every token is checked. */
static unsigned token_scopes(const nu_httpd *h, const char *given)
{
	unsigned char want[SHA256_DIGEST_LENGTH], got[SHA256_DIGEST_LENGTH];
	unsigned scopes = 0;

	SHA256((const unsigned char *)given, strlen(given), got);
	for (size_t i = 0; i < h->opt.cfg->ntokens; i++) {
		const nu_api_token *t = &h->opt.cfg->tokens[i];
		SHA256((const unsigned char *)t->secret, strlen(t->secret), want);
		if (!CRYPTO_memcmp(want, got, sizeof got))
			scopes |= t->scopes;
	}
	return scopes;
}

static const char *scope_name(unsigned scope)
{
	return scope & NU_SCOPE_ADMIN ? "admin" : scope & NU_SCOPE_READ ? "read" : "ingest";
}

static int authorize(nu_api_req *r, unsigned need)
{
	const char *auth = nu_api_header(r, "Authorization");

	if (!need)
		return 1;
	if (!r->h->opt.cfg->ntokens) {
		nu_api_error(r, 401, "unauthorized", NULL,
			     "this daemon has no API tokens: add http.tokens to the config");
		return 0;
	}
	if (!auth || strncasecmp(auth, "Bearer ", 7) || !auth[7]) {
		nu_api_error(r, 401, "unauthorized", NULL, "send 'Authorization: Bearer <token>'");
		return 0;
	}
	if (!(r->scopes = token_scopes(r->h, auth + 7))) {
		nu_api_error(r, 401, "unauthorized", NULL, "the token is not valid");
		return 0;
	}
	if (!(r->scopes & need)) {
		nu_api_error(r, 403, "forbidden", NULL, "this needs a token with the %s scope",
			     scope_name(need));
		return 0;
	}
	return 1;
}

/* ---- routing ------------------------------------------------------------ */

/* Splits the raw path at its slashes, then decodes each segment, so an
 * encoded slash stays inside its segment (crm_id:SF%2F2093). A segment
 * that decodes to a NUL byte is refused. */
static int split_path(nu_api_req *r, const char *raw)
{
	static char cut[sizeof r->path];   /* the loop thread's only request */
	char *decoded = evhttp_uridecode(raw, 0, NULL);
	size_t at = 0, len;

	if (!decoded || strlen(decoded) >= sizeof r->path || strlen(raw) >= sizeof cut) {
		free(decoded);
		return -1;
	}
	strcpy(r->path, decoded);
	free(decoded);
	r->nseg = 0;
	for (const char *p = raw; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		len = strcspn(p, "/");
		char one[sizeof cut];
		memcpy(one, p, len);
		one[len] = '\0';
		size_t n;
		char *d = evhttp_uridecode(one, 0, &n);
		if (!d || n != strlen(d) || r->nseg == NU_API_MAX_SEGS || at + n + 1 > sizeof cut) {
			free(d);
			return -1;
		}
		memcpy(cut + at, d, n + 1);
		free(d);
		r->seg[r->nseg++] = cut + at;
		at += n + 1;
		p += len;
	}
	return 0;
}

/* 1 if the path matches the pattern ("*" one segment, final "**" any rest). */
static int path_matches(const nu_api_req *r, const char *pattern)
{
	char pat[128], *save = NULL;
	int i = 0;

	snprintf(pat, sizeof pat, "%s", pattern);
	for (char *p = strtok_r(pat, "/", &save); p; p = strtok_r(NULL, "/", &save), i++) {
		if (!strcmp(p, "**"))
			return 1;
		if (i >= r->nseg || (strcmp(p, "*") && strcmp(p, r->seg[i])))
			return 0;
	}
	return i == r->nseg;
}

static void route(nu_api_req *r)
{
	int path_known = 0;

	for (size_t t = 0; t < sizeof route_tables / sizeof *route_tables; t++)
		for (const nu_api_route *rt = route_tables[t]; rt->pattern; rt++) {
			if (!path_matches(r, rt->pattern))
				continue;
			path_known = 1;
			if (!(rt->methods & (unsigned)r->method))
				continue;
			if (!(rt->flags & NU_ROUTE_GROUPED))
				nu_api_group_flush(r->h);
			if (authorize(r, rt->scope))
				rt->fn(r);
			return;
		}
	if (path_known)
		nu_api_error(r, 405, "method_not_allowed", NULL, "%s is not allowed on %s",
			     r->method_name, r->path);
	else
		nu_api_error(r, 404, "not_found", NULL, "no endpoint %s (see docs/api.md)", r->path);
}

static const char *method_name(int m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_PATCH: return "PATCH";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	default: return "?";
	}
}

/* ---- connections -------------------------------------------------------- */

/* The connections seen so far, as an open-addressing set of pointers
 * (linear probing, backward-shift deletion): evhttp 2.1 keeps no count. */
static size_t conn_slot(const nu_httpd *h, const void *c)
{
	uintptr_t x = (uintptr_t)c;

	x ^= x >> 17;
	x *= 0xed5ad4bbu;
	x ^= x >> 11;
	return x & (h->conn_cap - 1);
}

static int conn_find(const nu_httpd *h, const void *c, size_t *at)
{
	size_t i = conn_slot(h, c);

	while (h->conns[i]) {
		if (h->conns[i] == c) {
			*at = i;
			return 1;
		}
		i = (i + 1) & (h->conn_cap - 1);
	}
	*at = i;
	return 0;
}

static void conn_remove(nu_httpd *h, size_t i)
{
	size_t j = i;

	h->conns[i] = NULL;
	for (;;) {
		j = (j + 1) & (h->conn_cap - 1);
		if (!h->conns[j])
			return;
		size_t k = conn_slot(h, h->conns[j]);
		/* Move j back to i unless its home k lies cyclically in (i, j]. */
		if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		h->conns[i] = h->conns[j];
		h->conns[j] = NULL;
		i = j;
	}
}

static void on_connection_closed(struct evhttp_connection *evcon, void *arg)
{
	nu_httpd *h = arg;
	size_t at;

	if (conn_find(h, evcon, &at)) {
		conn_remove(h, at);
		h->connections--;
	}
}

/* Counts the connection on its first request. 0 when it is over the cap. */
static int admit_connection(nu_httpd *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	size_t at;

	if (!evcon || conn_find(h, evcon, &at))
		return 1;
	if (h->connections >= h->opt.cfg->max_connections)
		return 0;
	h->conns[at] = evcon;
	h->connections++;
	evhttp_connection_set_closecb(evcon, on_connection_closed, h);
	return 1;
}

/* The request line and headers as they came, give or take whitespace. */
static size_t header_bytes(struct evhttp_request *req)
{
	struct evkeyval *kv;
	size_t n = strlen(evhttp_request_get_uri(req)) + 16;

	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
		n += strlen(kv->key) + strlen(kv->value) + 4;
	return n;
}

/* Answers a request over the configured limits. 1 if it did. */
static int over_limits(nu_api_req *r, size_t body_len)
{
	const nu_http_config *c = r->h->opt.cfg;

	if (header_bytes(r->req) > (size_t)c->max_header) {
		nu_api_error(r, 431, "headers_too_large", NULL,
			     "the request line and headers are over %lld bytes (http.max_header)",
			     (long long)c->max_header);
		return 1;
	}
	if (body_len > (size_t)c->max_body) {
		nu_api_error(r, 413, "body_too_large", NULL,
			     "the body is %zu bytes; this server takes at most %lld (http.max_body): "
			     "split the batch", body_len, (long long)c->max_body);
		return 1;
	}
	return 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	nu_httpd *h = arg;
	const char *uri = evhttp_request_get_uri(req);
	const struct evhttp_uri *parsed = evhttp_request_get_evhttp_uri(req);
	nu_api_req r = { .h = h, .s = nu_engine_store(h->opt.engine), .req = req };
	struct evbuffer *in = evhttp_request_get_input_buffer(req);

	r.method = (int)evhttp_request_get_command(req);
	r.method_name = method_name(r.method);
	TAILQ_INIT(&r.query);
	if (!uri) {
		nu_api_error(&r, 400, "bad_request", NULL, "the request could not be read");
		return;
	}
	if (over_limits(&r, evbuffer_get_length(in)))
		return;
	if (!admit_connection(h, req)) {
		h->n.connections_refused++;
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		nu_api_error(&r, 503, "too_many_connections", NULL,
			     "over %d open connections (http.max_connections); retry later",
			     h->opt.cfg->max_connections);
		return;
	}
	if (!parsed || split_path(&r, evhttp_uri_get_path(parsed) ? evhttp_uri_get_path(parsed) : "/") < 0) {
		nu_api_error(&r, 400, "bad_request", NULL, "the request URI is malformed or too long");
		return;
	}
	if (evhttp_uri_get_query(parsed) && evhttp_parse_query_str(evhttp_uri_get_query(parsed), &r.query) < 0) {
		nu_api_error(&r, 400, "bad_request", NULL, "the query string is malformed");
		return;
	}
	r.body_len = evbuffer_get_length(in);
	if (!(r.body = malloc(r.body_len + 1))) {
		nu_api_error(&r, 500, "internal", NULL, "out of memory");
	} else {
		evbuffer_copyout(in, r.body, r.body_len);
		r.body[r.body_len] = '\0';
		route(&r);
		if (!r.answered)
			nu_api_error(&r, 500, "internal", NULL, "the handler gave no answer (bug)");
	}
	free(r.body);
	evhttp_clear_headers(&r.query);
	if (nu_store_in_tx(r.s)) {
		nu_err("http: %s %s left a transaction open (bug): rolled back", r.method_name, r.path);
		nu_store_rollback(r.s);
	}
}

/* ---- lifecycle ---------------------------------------------------------- */

/* "127.0.0.1:7780" or "[::1]:7780" into host and port. */
static int parse_listen(const char *listen, char *host, size_t hostlen, int *port)
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
	if (*end || p < 0 || p > 65535 || he <= h || (size_t)(he - h) >= hostlen)
		return -1;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	*port = (int)p;
	return 0;
}

int nu_httpd_start(struct event_base *base, const nu_httpd_options *o, nu_httpd **out,
		   nu_error *err)
{
	nu_httpd *h = calloc(1, sizeof *h);
	char host[128];
	int port;

	*out = NULL;
	if (!h)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	h->opt = *o;
	h->base = base;
	h->started_ms = nu_time_now_ms();   /* wall time: the store's clock may be advanced */
	if (parse_listen(o->cfg->listen, host, sizeof host, &port) < 0) {
		free(h);
		return nu_error_set(err, NU_EINVAL, "http.listen must be host:port (\"127.0.0.1:7780\", "
				    "\"[::1]:7780\"), got '%s'", o->cfg->listen);
	}
	if (!(h->http = evhttp_new(base))) {
		free(h);
		return nu_error_set(err, NU_ENOMEM, "cannot create the HTTP server");
	}
	if (!(h->group = nu_api_group_new(h))) {
		evhttp_free(h->http);
		free(h);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	evhttp_set_max_body_size(h->http, o->cfg->max_body * 2);
	evhttp_set_max_headers_size(h->http, o->cfg->max_header * 2);
	evhttp_set_timeout(h->http, o->cfg->timeout_s);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
	h->conn_cap = 16;
	while (h->conn_cap < (size_t)o->cfg->max_connections * 2)
		h->conn_cap <<= 1;
	if (!(h->conns = calloc(h->conn_cap, sizeof *h->conns))) {
		nu_api_group_free(h->group);
		evhttp_free(h->http);
		free(h);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	evhttp_set_gencb(h->http, on_request, h);
	if (!(h->sock = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)port))) {
		nu_api_group_free(h->group);
		evhttp_free(h->http);
		free(h->conns);
		free(h);
		return nu_error_set(err, NU_ERR, "cannot listen on %s: address in use or not available",
				    o->cfg->listen);
	}
	h->port = port;
	if (!port) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		if (getsockname(evhttp_bound_socket_get_fd(h->sock), (struct sockaddr *)&ss, &len) == 0)
			h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
								 : ((struct sockaddr_in *)&ss)->sin_port);
	}
	nu_info("HTTP API on http://%s%s%s:%d/ (%zu token%s)", strchr(host, ':') ? "[" : "", host,
		strchr(host, ':') ? "]" : "", h->port, o->cfg->ntokens, o->cfg->ntokens == 1 ? "" : "s");
	*out = h;
	return NU_OK;
}

void nu_httpd_stop(nu_httpd *h)
{
	if (!h)
		return;
	nu_api_clock_stop(h);   /* answers its request while the connection is still there */
	nu_api_group_free(h->group);   /* commits and answers what is held */
	evhttp_free(h->http);   /* closes the connections: the close callbacks run now */
	free(h->conns);
	free(h);
}

void nu_httpd_flush(nu_httpd *h)
{
	if (h)
		nu_api_group_flush(h);
}

int nu_httpd_port(const nu_httpd *h)
{
	return h->port;
}

void nu_httpd_note_timer_lag(nu_httpd *h, int64_t lag_ms)
{
	if (!h)
		return;
	h->n.timer_lag_ms = lag_ms;
	if (lag_ms > h->n.timer_lag_max_ms)
		h->n.timer_lag_max_ms = lag_ms;
}
