/*
 * api_clock.c — the database's simulated clock over the API:
 *   GET  /v1/clock            where it is, and whether an advance runs (read)
 *   POST /v1/clock/advance    {"by": "1w"}: move it forward through the
 *                             running daemon (advance.h), answered when done
 *                             (admin)
 *
 * The advance runs on the loop for as long as its stops and their sends
 * take, so the handler defers its answer: the request is answered from
 * the advance's completion callback. One advance at a time; another
 * request meanwhile gets 409.
 */
#include <stdlib.h>
#include <string.h>
#include "advance.h"
#include "api.h"
#include "simclock.h"
#include "timefmt.h"

#define SETTLE_DEFAULT_MS 10000
#define SETTLE_MAX_MS 600000

struct nu_api_clock {
	nu_advance *running;
	nu_api_req *req;           /* its deferred answer */
};

static struct nu_api_clock *clock_of(nu_httpd *h)
{
	if (!h->clock)
		h->clock = calloc(1, sizeof *h->clock);
	return h->clock;
}

/* now, now_ms and offset_ms of the store's clock. */
static json_t *clock_json(nu_store *s)
{
	int64_t now = nu_store_now(s);
	char when[48];

	nu_time_format(now / 1000 * 1000, when, sizeof when);
	return json_pack("{s:s,s:I,s:I}", "now", when, "now_ms", (json_int_t)now, "offset_ms",
			 (json_int_t)nu_simclock_offset());
}

static void get_clock(nu_api_req *r)
{
	struct nu_api_clock *c = r->h->clock;
	json_t *o = clock_json(r->s);
	char to[48];

	json_object_set_new(o, "advancing", json_boolean(c && c->running));
	if (c && c->running)
		json_object_set_new(o, "advancing_to",
				    json_string(nu_time_format(nu_advance_target(c->running) / 1000 * 1000,
							       to, sizeof to)));
	nu_api_json(r, 200, o);
}

static void advanced(void *ud, const nu_advance_result *res)
{
	nu_httpd *h = ud;
	nu_api_req *r = h->clock->req;
	json_t *o;

	h->clock->running = NULL;
	h->clock->req = NULL;
	if (res->rc == NU_OK) {
		o = clock_json(r->s);
		json_object_set_new(o, "steps", json_integer(res->steps));
		json_object_set_new(o, "stops", json_integer(res->stops));
		json_object_set_new(o, "sends", nu_simclock_sends(r->s, res->from, res->to));
		nu_api_json(r, 200, o);
	} else if (res->in_flight) {
		nu_api_error(r, 504, "sends_in_flight", NULL, "%s", res->err.msg);
	} else if (res->rc == NU_ESTATE) {
		nu_api_error(r, 503, "unavailable", NULL, "%s", res->err.msg);
	} else {
		nu_api_fail(r, &res->err);
	}
	/* The daemon's timer was armed for the old time: have it look again. */
	nu_api_wake(r);
	nu_api_deferred_free(r);
}

/* A duration member of the body: 1 with *ms set (dflt when absent), 0
 * after answering 400. */
static int duration_of(nu_api_req *r, json_t *body, const char *key, int64_t dflt, int64_t *ms)
{
	json_t *v = json_object_get(body, key);
	char msg[200];

	*ms = dflt;
	if (!v)
		return 1;
	if (!json_is_string(v)) {
		nu_api_error(r, 400, "invalid", key, "%s: must be a duration text such as \"1w\", \"3d\" or "
			     "\"2h30m\"", key);
		return 0;
	}
	if (nu_duration_parse(json_string_value(v), ms, msg, sizeof msg) < 0) {
		nu_api_error(r, 400, "invalid", key, "%s: %s", key, msg);
		return 0;
	}
	return 1;
}

/* POST /v1/clock/advance {"by": "1w", "settle": "10s"} */
static void advance(nu_api_req *r)
{
	static const char *const known[] = { "by", "settle", NULL };
	struct nu_api_clock *c = clock_of(r->h);
	json_t *body;
	int64_t by, settle;
	nu_error err;
	char to[48];

	if (!c) {
		nu_api_error(r, 500, "internal", NULL, "out of memory");
		return;
	}
	if (!r->body_len) {
		nu_api_error(r, 400, "invalid", "by", "send {\"by\": \"1w\"}: how far to move the clock "
			     "(a duration: ms, s, m, h, d, w)");
		return;
	}
	if (!(body = nu_api_body_object(r, known)))
		return;
	if (!json_object_get(body, "by"))
		nu_api_error(r, 400, "invalid", "by", "by: missing; how far to move the clock, e.g. \"1w\"");
	else if (duration_of(r, body, "by", 0, &by) &&
		 duration_of(r, body, "settle", SETTLE_DEFAULT_MS, &settle)) {
		if (settle < 1 || settle > SETTLE_MAX_MS)
			nu_api_error(r, 400, "invalid", "settle", "settle: must be from 1ms to 10m");
		else if (c->running)
			nu_api_error(r, 409, "conflict", NULL, "a clock advance is already running (to %s): "
				     "wait for it to finish",
				     nu_time_format(nu_advance_target(c->running) / 1000 * 1000, to, sizeof to));
		else if ((c->req = nu_api_defer(r)) &&
			 nu_advance_start(r->h->base, r->h->opt.engine, by, settle, advanced, r->h,
					  &c->running, &err) < 0) {
			nu_api_fail(c->req, &err);
			nu_api_deferred_free(c->req);
			c->req = NULL;
		}
	}
	json_decref(body);
}

void nu_api_clock_stop(nu_httpd *h)
{
	if (!h->clock)
		return;
	nu_advance_cancel(h->clock->running);   /* answers through advanced() */
	free(h->clock);
	h->clock = NULL;
}

const nu_api_route nu_api_clock_routes[] = {
	{ NU_HTTP_GET, "/v1/clock", NU_SCOPE_READ, get_clock, 0 },
	{ NU_HTTP_POST, "/v1/clock/advance", NU_SCOPE_ADMIN, advance, 0 },
	{ 0, NULL, 0, NULL, 0 },
};
