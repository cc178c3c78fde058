/*
 * cli_run.c — `nurture run why`: each run of a lead told step by step.
 */
#include <string.h>
#include "cli.h"
#include "json_text.h"
#include "leads.h"
#include "timefmt.h"
#include "why.h"

static const char *since(int64_t start, int64_t at, char *buf, size_t len)
{
	char d[32];
	int64_t ms = at > start ? at - start : 0;
	/* Steps of one instant differ by a few ms of processing: show seconds. */
	snprintf(buf, len, "+%s", nu_duration_format(ms / 1000 * 1000, d, sizeof d));
	return buf;
}

static const char *text(json_t *v, char *buf, size_t len)
{
	if (json_is_real(v)) {
		snprintf(buf, len, "%.6g", json_real_value(v));
		return buf;
	}
	char *t = json_is_string(v) ? NULL : nu_json_text(v);
	snprintf(buf, len, "%s", t ? t : json_is_string(v) ? json_string_value(v) : "");
	free(t);
	return buf;
}

/* What a step asked for, in words. */
static void describe(const char *kind, json_t *req, char *out, size_t len)
{
	char a[400], b[400];

	if (!strcmp(kind, "send"))
		snprintf(out, len, "%s %s", text(json_object_get(req, "channel"), a, sizeof a),
			 text(json_object_get(req, "message"), b, sizeof b));
	else if (!strcmp(kind, "sleep"))
		snprintf(out, len, "%s", text(json_object_get(req, "d"), a, sizeof a));
	else if (!strcmp(kind, "wait_event"))
		snprintf(out, len, "%s%s%s%s%s", text(json_object_get(req, "type"), a, sizeof a),
			 json_object_get(req, "within") ? " within " : "",
			 json_object_get(req, "within") ? json_string_value(json_object_get(req, "within")) : "",
			 json_object_get(req, "where") ? " where " : "",
			 json_object_get(req, "where") ? text(json_object_get(req, "where"), b, sizeof b) : "");
	else if (!strcmp(kind, "lead.tag") || !strcmp(kind, "lead.untag") || !strcmp(kind, "lead.has_tag"))
		snprintf(out, len, "%s", text(json_object_get(req, "tag"), a, sizeof a));
	else if (!strcmp(kind, "lead.get"))
		snprintf(out, len, "%s", text(json_object_get(req, "field"), a, sizeof a));
	else if (!strcmp(kind, "log"))
		snprintf(out, len, "%s", text(json_object_get(req, "msg"), a, sizeof a));
	else
		snprintf(out, len, "%s", json_object_size(req) ? text(req, a, sizeof a) : "");
}

/* What it came to, in words. */
static void outcome(const char *kind, json_t *res, int64_t start, char *out, size_t len)
{
	char a[400], t[48];
	json_t *ev;

	if (json_is_null(res)) {
		snprintf(out, len, "(waiting)");
	} else if (!strcmp(kind, "send")) {
		snprintf(out, len, "%s%s%s", json_string_value(json_object_get(res, "status")),
			 json_object_get(res, "error") ? ": " : "",
			 json_object_get(res, "error") ? json_string_value(json_object_get(res, "error")) : "");
	} else if (!strcmp(kind, "wait_event")) {
		if ((ev = json_object_get(res, "event")))
			snprintf(out, len, "event %lld at %s %s",
				 (long long)json_integer_value(json_object_get(ev, "id")),
				 since(start, json_integer_value(json_object_get(ev, "at")), t, sizeof t),
				 text(json_object_get(ev, "props"), a, sizeof a));
		else
			snprintf(out, len, "timed out");
	} else if (!strcmp(kind, "sleep") || !strcmp(kind, "wait_until")) {
		snprintf(out, len, "fired at %s%s%s", since(start, json_integer_value(json_object_get(res, "at")),
							    t, sizeof t),
			 json_is_true(json_object_get(res, "late")) ? " (late)" : "",
			 json_is_true(json_object_get(res, "skip")) ? ", skipped by on_late" : "");
	} else if (json_object_get(res, "ok")) {
		snprintf(out, len, "%s", json_is_true(json_object_get(res, "ok")) ? "ok" :
			 json_string_value(json_object_get(res, "error")));
	} else if (json_object_get(res, "v")) {
		snprintf(out, len, "%s", text(json_object_get(res, "v"), a, sizeof a));
	} else {
		snprintf(out, len, "done");
	}
}

static void render_run(json_t *run)
{
	int64_t start = json_integer_value(json_object_get(run, "started_at"));
	json_t *trigger = json_object_get(run, "trigger"), *step, *w;
	char when[48], d[600], o[600], t[48], a[400];
	size_t i;

	printf("\nrun %lld · %s · version %.12s · %s\n", (long long)json_integer_value(json_object_get(run, "id")),
	       nu_cli_str(run, "flow"), nu_cli_str(run, "version"), nu_cli_str(run, "status"));
	nu_time_format(start, when, sizeof when);
	if (trigger)
		printf("  started %s by %s (event %lld) %s\n", when, nu_cli_str(trigger, "type"),
		       (long long)json_integer_value(json_object_get(trigger, "event_id")),
		       text(json_object_get(trigger, "props"), a, sizeof a));
	else
		printf("  started %s (enrolled by hand or by a tag/stage trigger)\n", when);
	json_array_foreach(json_object_get(run, "steps"), i, step) {
		const char *kind = nu_cli_str(step, "kind");
		int64_t at = json_integer_value(json_object_get(step, "at"));
		describe(kind, json_object_get(step, "request"), d, sizeof d);
		outcome(kind, json_object_get(step, "result"), start, o, sizeof o);
		printf("  %3lld  %-8s %-13s %s → %s\n", (long long)json_integer_value(json_object_get(step, "seq")),
		       since(start, at, t, sizeof t), kind, d, o);
	}
	if ((w = json_object_get(run, "waiting_for"))) {
		describe(nu_cli_str(w, "kind"), json_object_get(w, "request"), d, sizeof d);
		printf("  waiting for: %s %s", nu_cli_str(w, "kind"), d);
		if (json_object_get(w, "until")) {
			nu_time_format(json_integer_value(json_object_get(w, "until")), when, sizeof when);
			printf(", %s %s", !strcmp(nu_cli_str(w, "kind"), "wait_event") ? "timeout at" : "fires at",
			       when);
		}
		putchar('\n');
	}
	if (json_object_get(run, "error"))
		printf("  failed: %s\n", nu_cli_str(run, "error"));
	json_array_foreach(json_object_get(run, "sends"), i, step)
		printf("  send op %lld: %s %s%s%s\n", (long long)json_integer_value(json_object_get(step, "op_id")),
		       nu_cli_str(step, "channel"), nu_cli_str(step, "state"),
		       json_object_get(step, "error") ? " — " : "", nu_cli_str(step, "error"));
}

static int run_why(nu_cli *cli, int argc, char **argv)
{
	json_t *out, *run;
	int64_t lead;
	nu_error err;
	size_t i;

	if (argc < 2 || argc > 3)
		return nu_cli_usage(&nu_cli_run_commands[0], "a lead (and optionally a flow) is needed");
	if (nu_cli_remote(cli) == 1) {
		char path[700], *ref = nu_cli_escape(argv[1]), *flow = argc == 3 ? nu_cli_escape(argv[2]) : NULL;
		snprintf(path, sizeof path, "/v1/leads/%s/why%s%s", ref ? ref : "", flow ? "?flow=" : "",
			 flow ? flow : "");
		free(ref);
		free(flow);
		int status = nu_cli_api(cli, "GET", path, NULL, NULL, 0, &out);
		if (status != 200)
			return nu_cli_api_fail(status, out);
		lead = json_integer_value(json_object_get(out, "lead_id"));
	} else if (nu_cli_open(cli) < 0) {
		return NU_EXIT_FAIL;
	} else if (nu_lead_resolve_ref(cli->store, argv[1], &lead, &err) < 0 ||
		   nu_why_build(cli->store, lead, argc == 3 ? argv[2] : NULL, &out, &err) < 0) {
		return nu_cli_fail("%s", err.msg);
	}
	if (cli->json) {
		nu_cli_print_json(out);
		return NU_EXIT_OK;
	}
	printf("lead %lld: %zu run%s%s%s\n", (long long)lead, json_array_size(json_object_get(out, "runs")),
	       json_array_size(json_object_get(out, "runs")) == 1 ? "" : "s",
	       argc == 3 ? " of " : "", argc == 3 ? argv[2] : "");
	json_array_foreach(json_object_get(out, "runs"), i, run)
		render_run(run);
	json_decref(out);
	return NU_EXIT_OK;
}

const nu_cli_command nu_cli_run_commands[] = {
	{ "run why", "LEAD [FLOW]", "Explain a lead's flow runs step by step, from the journal.",
	  "For each run: its pinned version and trigger, every step with its time\n"
	  "(relative to the run's start) and what it returned — the tag, score or\n"
	  "event that decided each branch — what it waits for now and when that fires,\n"
	  "and what happened to each send. --json gives the raw journal.\n", run_why },
	{ NULL, NULL, NULL, NULL, NULL },
};
