/*
 * api_flows.c — /v1/flows and /v1/runs: deployed flows, deploying a new
 * version, pausing and resuming, manual enrolment, and a run's story.
 *
 * A deploy sends the flow's Lua source as the body; it is checked exactly
 * as `nurture flow check` checks a file (lib modules come from the
 * daemon's flows/lib folder; its literal sends go to the loaded channel
 * plugins' checks), stored by its SHA-256 and picked up by the engine
 * before the next event is read.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "api.h"
#include "flow_check.h"
#include "flows.h"
#include "why.h"

static void list_flows(nu_api_req *r)
{
	json_t *list;
	nu_error err;

	if (nu_flow_list(r->s, &list, &err) < 0)
		nu_api_fail(r, &err);
	else
		nu_api_json(r, 200, json_pack("{s:o}", "flows", list));
}

static int is_lua_type(const char *ct)
{
	return ct && (!strncasecmp(ct, "text/x-lua", 10) || !strncasecmp(ct, "application/x-lua", 17) ||
		      !strncasecmp(ct, "text/plain", 10));
}

/* POST /v1/flows: the body is the flow file. */
static void deploy_flow(nu_api_req *r)
{
	const char *ct = nu_api_header(r, "Content-Type");
	nu_flow f;
	nu_error err;
	int created;

	if (!is_lua_type(ct)) {
		nu_api_error(r, 415, "unsupported_media_type", NULL,
			     "send the flow's Lua source as text/x-lua (got %s)", ct ? ct : "no Content-Type");
		return;
	}
	if (strlen(r->body) != r->body_len) {
		nu_api_error(r, 400, "invalid", NULL, "the flow source holds a NUL byte");
		return;
	}
	if (nu_flow_load_text("(request body)", r->body, r->h->opt.lib_dir, &f, &err) < 0 ||
	    nu_flow_check_sends(r->h->opt.plugins, &f, NULL, NULL, NULL, &err) < 0) {
		nu_flow_clear(&f);
		nu_api_error(r, 400, "invalid_flow", NULL, "%s", err.msg);
		return;
	}
	if (nu_store_begin(r->s, &err) < 0 || nu_flow_deploy(r->s, &f, &created, &err) < 0 ||
	    nu_store_commit(r->s, &err) < 0) {
		nu_store_rollback(r->s);
		nu_api_fail(r, &err);
	} else {
		nu_engine_flows_changed(r->h->opt.engine);
		nu_api_wake(r);
		nu_api_json(r, created ? 201 : 200, json_pack("{s:s,s:s,s:s,s:b}", "name", f.name, "kind",
							     f.kind, "version", f.sha, "created", created));
	}
	nu_flow_clear(&f);
}

static void set_status(nu_api_req *r, const char *status)
{
	nu_error err;

	if (nu_store_begin(r->s, &err) < 0 || nu_flow_set_status(r->s, r->seg[2], status, &err) < 0 ||
	    nu_store_commit(r->s, &err) < 0) {
		nu_store_rollback(r->s);
		nu_api_fail(r, &err);
		return;
	}
	nu_engine_flows_changed(r->h->opt.engine);
	nu_api_wake(r);
	nu_api_json(r, 200, json_pack("{s:s,s:s}", "name", r->seg[2], "status", status));
}

static void pause_flow(nu_api_req *r)
{
	set_status(r, "paused");
}

static void resume_flow(nu_api_req *r)
{
	set_status(r, "active");
}

/* POST /v1/flows/{name}/enroll {"lead": "ref"} */
static void enroll(nu_api_req *r)
{
	static const char *const known[] = { "lead", NULL };
	json_t *body = nu_api_body_object(r, known);
	const char *ref = json_string_value(json_object_get(body, "lead"));
	char why[200] = "";
	int64_t lead, run;
	nu_error err;

	if (!body)
		return;
	if (!ref)
		nu_api_error(r, 400, "invalid", "lead", "lead: must be a string naming the lead (id, email, kind:value)");
	else if (nu_api_lead_ref(r, ref, &lead)) {
		if (nu_store_begin(r->s, &err) < 0 ||
		    nu_engine_enroll(r->h->opt.engine, r->seg[2], lead, 0, &run, why, sizeof why, &err) < 0 ||
		    nu_store_commit(r->s, &err) < 0) {
			nu_store_rollback(r->s);
			nu_api_fail(r, &err);
		} else if (!run) {
			nu_api_error(r, 409, "not_enrolled", NULL, "lead %lld not enrolled: %s", (long long)lead, why);
		} else {
			nu_api_wake(r);
			nu_api_json(r, 201, json_pack("{s:I,s:I,s:s}", "run_id", (json_int_t)run, "lead_id",
						      (json_int_t)lead, "flow", r->seg[2]));
		}
	}
	json_decref(body);
}

/* The why-story of one run, or NULL after answering 404. */
static json_t *run_story(nu_api_req *r, int64_t *lead)
{
	sqlite3_stmt *st = nu_store_stmt(r->s, "SELECT lead_id, flow FROM run WHERE id = ?", NULL);
	char *end, flow[NU_FLOW_NAME_MAX] = "";
	long long id = strtoll(r->seg[2], &end, 10);
	json_t *why = NULL, *run;
	nu_error err;
	size_t i;

	*lead = 0;
	if (st && !*end && id > 0) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*lead = sqlite3_column_int64(st, 0);
			snprintf(flow, sizeof flow, "%s", sqlite3_column_text(st, 1));
		}
		sqlite3_reset(st);
	}
	if (!*lead) {
		nu_api_error(r, 404, "not_found", NULL, "no run %s", r->seg[2]);
		return NULL;
	}
	if (nu_why_build(r->s, *lead, flow, &why, &err) < 0) {
		nu_api_fail(r, &err);
		return NULL;
	}
	json_array_foreach(json_object_get(why, "runs"), i, run)
		if (json_integer_value(json_object_get(run, "id")) == id) {
			json_incref(run);
			json_decref(why);
			return run;
		}
	json_decref(why);
	nu_api_error(r, 404, "not_found", NULL, "no run %s", r->seg[2]);
	return NULL;
}

static void get_run(nu_api_req *r)
{
	int64_t lead;
	json_t *run = run_story(r, &lead);

	if (!run)
		return;
	json_object_set_new(run, "lead_id", json_integer(lead));
	/* The summary: the steps are what /why is for. */
	json_object_del(run, "steps");
	nu_api_json(r, 200, run);
}

static void get_run_why(nu_api_req *r)
{
	int64_t lead;
	json_t *run = run_story(r, &lead);

	if (run) {
		json_object_set_new(run, "lead_id", json_integer(lead));
		nu_api_json(r, 200, run);
	}
}

/* GET /v1/leads/{lead}/why[?flow=name]: every run of the lead, as
 * `nurture run why` tells it. */
static void lead_why(nu_api_req *r)
{
	int64_t lead;
	json_t *why;
	nu_error err;

	if (!nu_api_lead_ref(r, r->seg[2], &lead))
		return;
	if (nu_why_build(r->s, lead, nu_api_query(r, "flow"), &why, &err) < 0)
		nu_api_fail(r, &err);
	else
		nu_api_json(r, 200, why);
}

const nu_api_route nu_api_flow_routes[] = {
	{ NU_HTTP_GET, "/v1/leads/*/why", NU_SCOPE_READ, lead_why, 0 },
	{ NU_HTTP_GET, "/v1/flows", NU_SCOPE_READ, list_flows, 0 },
	{ NU_HTTP_POST, "/v1/flows", NU_SCOPE_ADMIN, deploy_flow, 0 },
	{ NU_HTTP_POST, "/v1/flows/*/pause", NU_SCOPE_ADMIN, pause_flow, 0 },
	{ NU_HTTP_POST, "/v1/flows/*/resume", NU_SCOPE_ADMIN, resume_flow, 0 },
	{ NU_HTTP_POST, "/v1/flows/*/enroll", NU_SCOPE_ADMIN, enroll, 0 },
	{ NU_HTTP_GET, "/v1/runs/*", NU_SCOPE_READ, get_run, 0 },
	{ NU_HTTP_GET, "/v1/runs/*/why", NU_SCOPE_READ, get_run_why, 0 },
	{ 0, NULL, 0, NULL, 0 },
};
