/*
 * httpd.c — the daemon's HTTP API over http_server.c: bearer-token auth,
 * routing, replies and JSON errors (httpd.h, api.h). The protocol,
 * limits and timeouts are http_server.c's; the requests it refuses (431,
 * 413, 408, 503 over the connection cap …) come back here to be answered
 * in the same JSON shape as every other error. The endpoints themselves
 * live in api_*.c.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include "api.h"
#include "json_text.h"
#include "leads.h"
#include "log.h"
#include "normalize.h"
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

void nu_api_reply(nu_httpd *h, nu_http_req *req, int status, const char *content_type,
		  const void *data, size_t len)
{
	count_status(h, status);
	nu_http_reply(req, status, content_type, data, len);
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
	char raw[NU_ERROR_MAX], msg[NU_ERROR_MAX * 4 + 4], where[sizeof r->path * 4 + 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(raw, sizeof raw, fmt, ap);
	va_end(ap);
	/* Messages quote what the client sent (a path, a header), which need
	 * not be UTF-8 nor free of line breaks: JSON and the log take it
	 * escaped. */
	nu_norm_escape(raw, strlen(raw), sizeof raw, msg);
	/* The path is not split yet when the request is refused early. A 503
	 * is load or a busy store, to watch; 501 and 505 are about what the
	 * client sent; other 5xx are faults. */
	if (status >= 500 && status != 501 && status != 505) {
		const char *path = r->path[0] ? r->path : nu_http_req_path(r->req);
		nu_norm_escape(path, strlen(path), sizeof r->path, where);
		if (status == 503)
			nu_warn("http: %s %s: %s", r->method_name, where, msg);
		else
			nu_err("http: %s %s: %s", r->method_name, where, msg);
	}
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
	return nu_http_req_header(r->req, name);
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

static int digest(nu_httpd *h, const char *text, unsigned char out[SHA256_DIGEST_LENGTH])
{
	return EVP_DigestInit_ex2(h->digest_ctx, h->sha256, NULL) == 1 &&
	       EVP_DigestUpdate(h->digest_ctx, text, strlen(text)) == 1 &&
	       EVP_DigestFinal_ex(h->digest_ctx, out, NULL) == 1;
}

/* The configured tokens' digests, once: each request then hashes only
 * the token it was given. */
static int digest_tokens(nu_httpd *h)
{
	const nu_http_config *cfg = h->opt.cfg;

	/* One slot more: calloc(0) may return NULL, which would read as no memory. */
	if (!(h->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) || !(h->digest_ctx = EVP_MD_CTX_new()) ||
	    !(h->token_digest = calloc(cfg->ntokens + 1, sizeof *h->token_digest)))
		return 0;
	for (size_t i = 0; i < cfg->ntokens; i++)
		if (!digest(h, cfg->tokens[i].secret, h->token_digest[i]))
			return 0;
	return 1;
}

/* Compares digests so neither the length nor the content of a configured
 * token leaks through timing; every token is checked. */
static unsigned token_scopes(nu_httpd *h, const char *given)
{
	unsigned char got[SHA256_DIGEST_LENGTH];
	unsigned scopes = 0;

	if (!digest(h, given, got))
		return 0;
	for (size_t i = 0; i < h->opt.cfg->ntokens; i++)
		if (!CRYPTO_memcmp(h->token_digest[i], got, sizeof got))
			scopes |= h->opt.cfg->tokens[i].scopes;
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

/* Field by field: a compound literal would clear path and seg, 2 KB a
 * request, which split_path writes anyway. */
static void request_init(nu_api_req *r, nu_httpd *h, nu_http_req *req)
{
	r->path[0] = '\0';
	r->h = h;
	r->s = nu_engine_store(h->opt.engine);
	r->req = req;
	r->method = nu_http_req_method(req);
	r->method_name = nu_http_req_method_name(req);
	r->query_raw = nu_http_req_query(req);
	r->nseg = 0;
	TAILQ_INIT(&r->query);
	r->scopes = 0;
	r->body = nu_http_req_body(req, &r->body_len);
	r->answered = 0;
}

static void on_request(nu_http_req *req, void *arg)
{
	nu_httpd *h = arg;
	nu_api_req r;

	request_init(&r, h, req);
	if (split_path(&r, nu_http_req_path(req)) < 0)
		nu_api_error(&r, 400, "bad_request", NULL, "the request URI is malformed or too long");
	else if (r.query_raw && evhttp_parse_query_str(r.query_raw, &r.query) < 0)
		nu_api_error(&r, 400, "bad_request", NULL, "the query string is malformed");
	else
		route(&r);
	if (!r.answered)
		nu_api_error(&r, 500, "internal", NULL, "the handler gave no answer (bug)");
	evhttp_clear_headers(&r.query);
	if (nu_store_in_tx(r.s)) {
		nu_err("http: %s %s left a transaction open (bug): rolled back", r.method_name, r.path);
		nu_store_rollback(r.s);
	}
}

/* A request the server refused before routing (limits, timeouts, the
 * connection cap, a malformed head): the same JSON errors as the rest. */
static void on_refused(nu_http_req *req, int status, const char *code, const char *message,
		       void *arg)
{
	nu_api_req r;

	request_init(&r, arg, req);
	nu_api_error(&r, status, code, NULL, "%s", message);
}

/* ---- lifecycle ---------------------------------------------------------- */

/* What nu_httpd_start made; each part may be missing. */
static void httpd_free(nu_httpd *h)
{
	nu_api_group_free(h->group);   /* commits and answers what is held */
	nu_http_server_free(h->server);
	EVP_MD_CTX_free(h->digest_ctx);
	EVP_MD_free(h->sha256);
	free(h->token_digest);
	free(h);
}

int nu_httpd_start(struct event_base *base, const nu_httpd_options *o, nu_httpd **out,
		   nu_error *err)
{
	nu_httpd *h = calloc(1, sizeof *h);
	nu_http_server_options so = {
		.listen = o->cfg->listen,
		.max_header = (size_t)o->cfg->max_header,
		.max_body = (size_t)o->cfg->max_body,
		.timeout_s = o->cfg->timeout_s,
		.max_connections = o->cfg->max_connections,
		.on_request = on_request,
		.on_refused = on_refused,
		.ud = h,
	};

	*out = NULL;
	if (!h)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	h->opt = *o;
	h->base = base;
	h->started_ms = nu_time_now_ms();   /* wall time: the store's clock may be advanced */
	if (!(h->group = nu_api_group_new(h)) || !digest_tokens(h)) {
		httpd_free(h);
		return nu_error_set(err, NU_ENOMEM, "out of memory, or no SHA-256 in OpenSSL");
	}
	if (nu_http_server_start(base, &so, &h->server, err) != NU_OK) {
		httpd_free(h);
		return err->code;
	}
	/* listen is host:port, "[::1]:0" included: the port actually bound replaces its own. */
	nu_info("HTTP API on http://%.*s:%d/ (%zu token%s)",
		(int)(strrchr(o->cfg->listen, ':') - o->cfg->listen), o->cfg->listen,
		nu_http_server_port(h->server), o->cfg->ntokens, o->cfg->ntokens == 1 ? "" : "s");
	*out = h;
	return NU_OK;
}

void nu_httpd_stop(nu_httpd *h)
{
	if (!h)
		return;
	nu_api_clock_stop(h);   /* answers its request while the connection is still there */
	httpd_free(h);
}

int nu_httpd_port(const nu_httpd *h)
{
	return nu_http_server_port(h->server);
}

void nu_httpd_note_timer_lag(nu_httpd *h, int64_t lag_ms)
{
	if (!h)
		return;
	h->n.timer_lag_ms = lag_ms;
	if (lag_ms > h->n.timer_lag_max_ms)
		h->n.timer_lag_max_ms = lag_ms;
}
