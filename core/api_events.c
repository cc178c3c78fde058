/*
 * api_events.c — POST /v1/events: event ingest from websites, forms and
 * scripts, and POST /v1/bounces for MTAs that deliver bounces over HTTP.
 *
 * A request is one JSON event, a JSON array of events, or NDJSON (one
 * event a line, Content-Type application/x-ndjson). The whole request is
 * one transaction and each event its own savepoint inside it (through
 * nu_ingest_event), so a bad event is reported by index and field and
 * the good ones are stored; the 202 goes out only after the commit.
 * Requests share a commit group (api_group.c): those of one loop turn
 * commit together, because SQLite's cost is per commit, not per row.
 */
#include <string.h>
#include <strings.h>
#include "api.h"
#include "bounce.h"
#include "ingest.h"

#define MAX_EVENTS_PER_REQUEST 100000

static json_t *bad_event(size_t index, const char *msg);

/* The events of the body, in order. A line that is not JSON keeps its
 * index (as null) and is reported in errors with the parser's complaint. */
static json_t *ndjson_events(const char *body, size_t len, json_t *errors)
{
	json_t *list = json_array();
	size_t line = 0;

	for (size_t at = 0; at < len; line++) {
		const char *nl = memchr(body + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - body) : len, n = end - at;
		json_error_t je;

		while (n && (body[at + n - 1] == '\r' || body[at + n - 1] == ' '))
			n--;
		if (n) {
			json_t *v = json_loadb(body + at, n, JSON_REJECT_DUPLICATES, &je);
			if (!v) {
				char msg[300];
				snprintf(msg, sizeof msg, "line %zu: malformed JSON at column %d: %s", line + 1,
					 je.column, je.text);
				json_array_append_new(errors, bad_event(json_array_size(list), msg));
				v = json_null();
			}
			json_array_append_new(list, v);
		}
		at = end + 1;
	}
	return list;
}

static int is_ndjson(const char *ct)
{
	return ct && (!strncasecmp(ct, "application/x-ndjson", 20) || !strncasecmp(ct, "application/ndjson", 18) ||
		      !strncasecmp(ct, "application/jsonl", 17) || !strncasecmp(ct, "application/x-jsonlines", 23));
}

/* Parses the body into a list of records; NULL after answering 4xx. *single
 * says the body was one object (the answer then carries its ids). */
static json_t *body_events(nu_api_req *r, json_t *errors, int *single)
{
	const char *ct = nu_api_header(r, "Content-Type");
	json_error_t je;
	json_t *v;

	*single = 0;
	if (is_ndjson(ct))
		return ndjson_events(r->body, r->body_len, errors);
	if (ct && strncasecmp(ct, "application/json", 16)) {
		nu_api_error(r, 415, "unsupported_media_type", NULL,
			     "send events as application/json (an object or an array) or "
			     "application/x-ndjson, not %s", ct);
		return NULL;
	}
	if (!(v = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je))) {
		nu_api_error(r, 400, "invalid_json", NULL, "malformed JSON at line %d column %d: %s",
			     je.line, je.column, je.text);
		return NULL;
	}
	if (json_is_object(v)) {
		*single = 1;
		json_t *list = json_array();
		json_array_append_new(list, v);
		return list;
	}
	if (!json_is_array(v)) {
		json_decref(v);
		nu_api_error(r, 400, "invalid", NULL, "the body must be an event object, an array of "
			     "them, or NDJSON");
		return NULL;
	}
	return v;
}

static json_t *bad_event(size_t index, const char *msg)
{
	char field[64];
	const char *f = nu_api_error_field(msg, field, sizeof field);
	json_t *e = json_pack("{s:I,s:s}", "index", (json_int_t)index, "message", msg);

	if (f)
		json_object_set_new(e, "field", json_string(f));
	return e;
}

typedef struct batch_result {
	size_t accepted, duplicates;
	json_t *errors;
	nu_ingest_result last;
} batch_result;

static int ingest_all(nu_api_req *r, json_t *events, batch_result *b, nu_error *err)
{
	size_t i;
	json_t *ev;

	size_t next_bad = 0;

	json_array_foreach(events, i, ev) {
		nu_error one;

		/* Lines already refused by the NDJSON parser (errors are in index order). */
		json_t *bad = json_array_get(b->errors, next_bad);
		if (bad && (size_t)json_integer_value(json_object_get(bad, "index")) == i) {
			next_bad++;
			continue;
		}
		int rc = nu_ingest_event(r->s, ev, "api", &b->last, &one);
		if (rc == NU_EINVAL || rc == NU_ENOTFOUND) {
			json_array_insert_new(b->errors, next_bad++, bad_event(i, one.msg));
		} else if (rc < 0) {
			*err = one;
			return rc;
		} else if (b->last.duplicate) {
			b->duplicates++;
		} else {
			b->accepted++;
		}
	}
	return NU_OK;
}

static json_t *batch_answer(const batch_result *b, int single)
{
	json_t *o = json_pack("{s:I,s:I,s:I}", "accepted", (json_int_t)b->accepted, "duplicates",
			      (json_int_t)b->duplicates, "rejected", (json_int_t)json_array_size(b->errors));

	if (json_array_size(b->errors))
		json_object_set(o, "errors", b->errors);
	if (single && !json_array_size(b->errors)) {
		json_object_set_new(o, "event_id", json_integer(b->last.event_id));
		json_object_set_new(o, "lead_id", json_integer(b->last.resolve.lead_id));
		json_object_set_new(o, "lead_created", json_boolean(b->last.resolve.created));
	}
	return o;
}

/* The answer as text. The common answer, no bad events, is formatted
 * directly: building and dumping a jansson object cost more than storing
 * a page-view event. */
static char *batch_answer_text(const batch_result *b, int single)
{
	char buf[192];
	json_t *o;
	char *text;
	int n;

	if (!json_array_size(b->errors)) {
		n = snprintf(buf, sizeof buf, "{\"accepted\":%zu,\"duplicates\":%zu,\"rejected\":0",
			     b->accepted, b->duplicates);
		if (single)
			n += snprintf(buf + n, sizeof buf - (size_t)n,
				      ",\"event_id\":%lld,\"lead_id\":%lld,\"lead_created\":%s",
				      (long long)b->last.event_id, (long long)b->last.resolve.lead_id,
				      b->last.resolve.created ? "true" : "false");
		snprintf(buf + n, sizeof buf - (size_t)n, "}");
		return strdup(buf);
	}
	o = batch_answer(b, single);
	text = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(o);
	return text;
}

static void post_events(nu_api_req *r)
{
	batch_result b = { .errors = json_array() };
	nu_error err;
	int single;
	json_t *events = body_events(r, b.errors, &single);

	if (!events)
		goto out;
	if (json_array_size(events) > MAX_EVENTS_PER_REQUEST) {
		nu_api_error(r, 413, "too_many_events", NULL, "%zu events in one request; send at most %d",
			     json_array_size(events), MAX_EVENTS_PER_REQUEST);
		goto out;
	}
	if (!json_array_size(events) && !json_array_size(b.errors)) {
		nu_api_error(r, 400, "invalid", NULL, "no events in the body");
		goto out;
	}
	if (nu_api_group_join(r, &err) < 0 || ingest_all(r, events, &b, &err) < 0) {
		nu_api_group_abort(r, &err);
		nu_api_error(r, 503, "unavailable", NULL, "nothing was stored: %s", err.msg);
		goto out;
	}
	if (b.accepted || b.duplicates) {
		nu_api_ingest_counts c = { b.accepted, b.duplicates, json_array_size(b.errors) };
		nu_api_group_answer(r, 202, batch_answer_text(&b, single), &c);
	} else {
		/* All bad: nothing was stored, the request as a whole is refused. */
		r->h->n.events_rejected += json_array_size(b.errors);
		nu_api_json(r, 400, batch_answer(&b, single));
	}
out:
	json_decref(events);
	json_decref(b.errors);
}

/* POST /v1/bounces: the raw bounce message (RFC 3464 DSN) as the body. */
static void post_bounce(nu_api_req *r)
{
	nu_bounce b;
	nu_error err;

	if (nu_store_begin(r->s, &err) < 0) {
		nu_api_fail(r, &err);
		return;
	}
	if (nu_bounce_ingest(r->s, r->body, r->body_len, &b, &err) < 0) {
		nu_store_rollback(r->s);
		if (err.code == NU_EINVAL || err.code == NU_ENOTFOUND)
			nu_api_error(r, 422, "unrecognised_bounce", NULL, "%s", err.msg);
		else
			nu_api_fail(r, &err);
		return;
	}
	if (nu_store_commit(r->s, &err) < 0) {
		nu_api_fail(r, &err);
		return;
	}
	nu_api_wake(r);
	nu_api_json(r, 202, json_pack("{s:I,s:I,s:s,s:s,s:s,s:b}", "op_id", (json_int_t)b.op_id,
				      "lead_id", (json_int_t)b.lead_id, "kind", b.kind, "status", b.status,
				      "channel", b.channel, "duplicate", b.duplicate));
}

const nu_api_route nu_api_event_routes[] = {
	{ NU_HTTP_POST, "/v1/events", NU_SCOPE_INGEST, post_events, NU_ROUTE_GROUPED },
	{ NU_HTTP_POST, "/v1/bounces", NU_SCOPE_INGEST, post_bounce, 0 },
	{ 0, NULL, 0, NULL, 0 },
};
