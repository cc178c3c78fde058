/*
 * api_track.c — the public, unauthenticated endpoints that messages and
 * providers reach: the open pixel /t/o/<token>, click redirects
 * /t/c/<token>, unsubscribe /u/<token>, and provider callbacks
 * /hooks/<plugin>/….
 *
 * None of them takes a bearer token; each is trusted by a signature
 * instead: tracking tokens by the host's HMAC (track.h), callbacks by the
 * plugin that knows its provider's scheme. A token that does not verify
 * gets a plain 404 that says nothing about why. What a genuine request
 * tells is recorded as an event of the lead (<channel>.opened, .clicked,
 * .unsubscribed), committed before the answer, so flows can wait on it
 * and the engine suppresses unsubscribed addresses.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include "api.h"
#include "ingest.h"
#include "plugins.h"
#include "track.h"
#include "nurture/plugin.h"

/* Opens or clicks this soon after the send are a scanner or a prefetch,
 * not a person reading. */
#define MACHINE_WINDOW_MS 10000
#define HOOK_RESPONSE_MAX (64 << 10)

static const unsigned char gif[] = {
	'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
	0x21, 0xf9, 4, 1, 0, 0, 0, 0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b,
};

typedef struct sent_op {
	int64_t op_id, lead_id, sent_at;
	char channel[32];
} sent_op;

static void not_found(nu_api_req *r)
{
	r->h->n.bad_tokens++;
	nu_api_send(r, 404, "text/plain; charset=utf-8", "Not Found\n", 10);
}

/* Verifies the token in the last path segment and finds its send. */
static int token_op(nu_api_req *r, nu_track_kind kind, nu_track *t, sent_op *op)
{
	const nu_http_config *c = r->h->opt.cfg;
	const char *tok = r->seg[r->nseg - 1];
	sqlite3_stmt *st;
	int found = 0;

	if (!c->tracking_key[0] ||
	    nu_track_verify(tok, strlen(tok), (const unsigned char *)c->tracking_key,
			    strlen(c->tracking_key), t) < 0 || t->kind != kind)
		return 0;
	if (!(st = nu_store_stmt(r->s, "SELECT lead_id, channel, updated_at FROM outbox WHERE op_id = ?",
				 NULL)))
		return 0;
	sqlite3_bind_int64(st, 1, t->op_id);
	if (sqlite3_step(st) == SQLITE_ROW) {
		op->op_id = t->op_id;
		op->lead_id = sqlite3_column_int64(st, 0);
		snprintf(op->channel, sizeof op->channel, "%s", sqlite3_column_text(st, 1));
		op->sent_at = sqlite3_column_int64(st, 2);
		found = 1;
	}
	sqlite3_reset(st);
	return found;
}

/* The token's content and its send, or NULL after a plain 404. The
 * caller frees the result (a click's 2 KiB target is kept off the stack). */
static nu_track *verified(nu_api_req *r, nu_track_kind kind, sent_op *op)
{
	nu_track *t = malloc(sizeof *t);

	if (t && token_op(r, kind, t, op))
		return t;
	free(t);
	not_found(r);
	return NULL;
}

/* Mail privacy proxies and link scanners fetch what no person saw. */
static const char *machine_reason(nu_api_req *r, const sent_op *op)
{
	static const char *const agents[][2] = {
		{ "GoogleImageProxy", "gmail image proxy" }, { "YahooMailProxy", "yahoo mail proxy" },
		{ "Barracuda", "link scanner" }, { "Mimecast", "link scanner" },
		{ "Proofpoint", "link scanner" }, { "bot", "bot" }, { "Bot", "bot" },
		{ "spider", "bot" }, { "curl/", "script" }, { "python-requests", "script" },
	};
	const char *ua = nu_api_header(r, "User-Agent");

	if (!ua || !*ua)
		return "no user agent";
	/* Apple Mail Privacy Protection prefetches with a bare agent. */
	if (!strcmp(ua, "Mozilla/5.0"))
		return "apple mail privacy proxy";
	for (size_t i = 0; i < sizeof agents / sizeof *agents; i++)
		if (strstr(ua, agents[i][0]))
			return agents[i][1];
	if (op->sent_at && nu_store_now(r->s) - op->sent_at < MACHINE_WINDOW_MS)
		return "within seconds of sending";
	return NULL;
}

/* Records <channel>.<what> for the send's lead and commits. */
static int record(nu_api_req *r, const sent_op *op, const char *what, json_t *props,
		  const char *dedupe_key)
{
	char type[64];
	json_t *rec;
	nu_ingest_result res;
	nu_error err;

	/* A HEAD is a link checker looking, not a person: answer, record nothing. */
	if (r->method == NU_HTTP_HEAD) {
		json_decref(props);
		return NU_OK;
	}
	snprintf(type, sizeof type, "%s.%s", op->channel, what);
	json_object_set_new(props, "op_id", json_integer(op->op_id));
	rec = json_pack("{s:I,s:s,s:o}", "lead_id", (json_int_t)op->lead_id, "type", type, "props", props);
	if (dedupe_key)
		json_object_set_new(rec, "dedupe_key", json_string(dedupe_key));
	int rc = nu_store_begin(r->s, &err);
	if (rc == NU_OK && (rc = nu_ingest_event(r->s, rec, "tracking", &res, &err)) == NU_OK)
		rc = nu_store_commit(r->s, &err);
	if (rc < 0) {
		nu_store_rollback(r->s);
		nu_api_fail(r, &err);
	} else {
		nu_api_wake(r);
	}
	json_decref(rec);
	return rc;
}

static json_t *machine_props(const char *why)
{
	json_t *p = json_pack("{s:b}", "machine", why != NULL);

	if (why)
		json_object_set_new(p, "machine_reason", json_string(why));
	return p;
}

static void open_pixel(nu_api_req *r)
{
	sent_op op;
	nu_track *t = verified(r, NU_TRACK_OPEN, &op);

	if (!t)
		return;
	free(t);
	const char *why = machine_reason(r, &op);
	if (record(r, &op, "opened", machine_props(why), NULL) == NU_OK) {
		int counted = r->method != NU_HTTP_HEAD;
		r->h->n.opens += counted;
		r->h->n.opens_machine += counted && why != NULL;
		nu_api_send(r, 200, "image/gif", gif, sizeof gif);
	}
}

static void click(nu_api_req *r)
{
	sent_op op;
	nu_track *t = verified(r, NU_TRACK_CLICK, &op);

	if (!t)
		return;
	json_t *props = machine_props(machine_reason(r, &op));
	json_object_set_new(props, "link", json_integer(t->link));
	json_object_set_new(props, "url", json_string(t->url));
	if (record(r, &op, "clicked", props, NULL) == NU_OK) {
		r->h->n.clicks += r->method != NU_HTTP_HEAD;
		if (nu_http_req_add_header(r->req, "Location", t->url) < 0)
			nu_api_error(r, 500, "internal", NULL, "the link's URL cannot be sent as a Location");
		else
			nu_api_send(r, 302, "text/plain; charset=utf-8", "", 0);
	}
	free(t);
}

static void page(nu_api_req *r, const char *title, const char *body_html)
{
	char html[2048];
	int n = snprintf(html, sizeof html,
		"<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
		"content=\"width=device-width\"><title>%s</title></head><body style=\"font-family:sans-serif;"
		"max-width:32em;margin:3em auto\"><h1 style=\"font-size:1.3em\">%s</h1>%s</body></html>\n",
		title, title, body_html);

	nu_api_send(r, 200, "text/html; charset=utf-8", html, (size_t)n);
}

/* GET never unsubscribes: mail scanners follow links. It asks. */
static void unsubscribe_page(nu_api_req *r)
{
	sent_op op;
	nu_track *t = verified(r, NU_TRACK_UNSUB, &op);

	if (!t)
		return;
	free(t);
	page(r, "Unsubscribe",
	     "<p>Stop receiving these messages?</p><form method=\"post\"><button type=\"submit\" "
	     "style=\"font-size:1em;padding:.5em 1em\">Unsubscribe</button></form>");
}

/* POST: the page's button, or a mail client's RFC 8058 one-click
 * (body "List-Unsubscribe=One-Click"). Repeats are stored once. */
static void unsubscribe(nu_api_req *r)
{
	sent_op op;
	char key[64];
	nu_track *t = verified(r, NU_TRACK_UNSUB, &op);

	if (!t)
		return;
	free(t);
	int one_click = strstr(r->body, "List-Unsubscribe=One-Click") != NULL;
	snprintf(key, sizeof key, "nu:unsubscribe-%lld", (long long)op.op_id);
	if (record(r, &op, "unsubscribed", json_pack("{s:s}", "via", one_click ? "one-click" : "page"),
		   key) == NU_OK) {
		r->h->n.unsubscribes++;
		page(r, "Unsubscribed", "<p>You will not receive these messages any more.</p>");
	}
}

/* ---- provider callbacks ---- */

static const char **header_list(nu_api_req *r)
{
	size_t n = nu_http_req_nheaders(r->req);
	const char **list = calloc(2 * n + 2, sizeof *list);

	for (size_t i = 0; list && i < n; i++)
		nu_http_req_header_at(r->req, i, &list[2 * i], &list[2 * i + 1]);
	return list;
}

static void answer_hook(nu_api_req *r, int rc, nu_webhook_resp *resp)
{
	nu_error err;

	if (rc == -2) {
		nu_api_error(r, 404, "not_found", NULL, "no plugin '%s' takes webhooks", r->seg[1]);
	} else if (rc < 0 || resp->status < 200 || resp->status > 299) {
		nu_store_rollback(r->s);
		if (rc < 0) {
			r->h->n.webhooks_failed++;
			nu_api_error(r, 500, "webhook_failed", NULL, "the %s plugin could not take it; "
				     "nothing was stored (the provider retries)", r->seg[1]);
			return;
		}
		r->h->n.webhooks_refused++;
		nu_api_send(r, resp->status, resp->content_type ? resp->content_type : "application/json",
			    resp->body, resp->body_len);
	} else if (nu_store_commit(r->s, &err) < 0) {
		r->h->n.webhooks_failed++;
		nu_api_fail(r, &err);
	} else {
		r->h->n.webhooks_ok++;
		nu_api_wake(r);
		nu_api_send(r, resp->status, resp->content_type ? resp->content_type : "application/json",
			    resp->body, resp->body_len);
	}
}

/* /hooks/<plugin>/…: the plugin verifies and records inside one
 * transaction; the 2xx goes out after the commit. */
static void hook(nu_api_req *r)
{
	const char **headers = header_list(r);
	char *out = malloc(HOOK_RESPONSE_MAX), prefix[128];
	nu_error err;

	snprintf(prefix, sizeof prefix, "/hooks/%s", r->seg[1]);
	const char *rest = !strncmp(r->path, prefix, strlen(prefix)) ? r->path + strlen(prefix) : "";
	nu_webhook_req req = { sizeof req, r->method_name, rest, r->query_raw, headers,
			       r->body, r->body_len };
	nu_webhook_resp resp = { sizeof resp, 200, "application/json", out, HOOK_RESPONSE_MAX, 0 };

	if (!headers || !out)
		nu_api_error(r, 500, "internal", NULL, "out of memory");
	else if (nu_store_begin(r->s, &err) < 0)
		nu_api_fail(r, &err);
	else
		answer_hook(r, nu_plugins_webhook(r->h->opt.plugins, r->seg[1], &req, &resp), &resp);
	if (nu_store_in_tx(r->s))
		nu_store_rollback(r->s);
	free(headers);
	free(out);
}

const nu_api_route nu_api_track_routes[] = {
	{ NU_HTTP_GET | NU_HTTP_HEAD, "/t/o/*", 0, open_pixel, 0 },
	{ NU_HTTP_GET | NU_HTTP_HEAD, "/t/c/*", 0, click, 0 },
	{ NU_HTTP_GET | NU_HTTP_HEAD, "/u/*", 0, unsubscribe_page, 0 },
	{ NU_HTTP_POST, "/u/*", 0, unsubscribe, 0 },
	{ NU_HTTP_GET | NU_HTTP_POST | NU_HTTP_PUT, "/hooks/*/**", 0, hook, 0 },
	{ 0, NULL, 0, NULL, 0 },
};
