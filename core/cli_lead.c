/*
 * cli_lead.c — `nurture lead …`: import, show, tag, untag, stage.
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "import.h"
#include "leads.h"
#include "profile.h"
#include "stages.h"
#include "tags.h"
#include "timefmt.h"

/* ---- lead import ------------------------------------------------------ */

struct import_ui {
	int tty, quiet, json;
	double started;
	uint64_t last_rows;
	json_t *rejects;
};

static double mono_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void show_progress(const nu_import_stats *st, void *ud)
{
	struct import_ui *ui = ud;
	double secs = mono_seconds() - ui->started;
	double rate = secs > 0 ? (double)st->rows / secs : 0;

	if (ui->quiet)
		return;
	/* On a terminal, one line redrawn; in a log, a line per 100 000 rows. */
	if (!ui->tty && st->rows - ui->last_rows < 100000)
		return;
	ui->last_rows = st->rows;
	if (st->total_bytes)
		fprintf(stderr, "%s  %5.1f%%  %llu rows  %.0f rows/s%s",
			ui->tty ? "\r" : "", 100.0 * (double)st->bytes / (double)st->total_bytes,
			(unsigned long long)st->rows, rate, ui->tty ? "" : "\n");
	else
		fprintf(stderr, "%s  %llu rows  %.0f rows/s%s", ui->tty ? "\r" : "",
			(unsigned long long)st->rows, rate, ui->tty ? "" : "\n");
	fflush(stderr);
}

static void show_reject(long line, const char *reason, void *ud)
{
	struct import_ui *ui = ud;

	if (ui->json) {
		json_array_append_new(ui->rejects, json_pack("{s:I,s:s}", "line",
					(json_int_t)line, "reason", reason));
		return;
	}
	if (ui->tty && !ui->quiet)
		fputc('\r', stderr);
	fprintf(stderr, "line %ld: %s\n", line, reason);
}

static int parse_format(const char *v, enum nu_import_format *f)
{
	if (!strcmp(v, "csv"))
		*f = NU_FORMAT_CSV;
	else if (!strcmp(v, "ndjson") || !strcmp(v, "jsonl"))
		*f = NU_FORMAT_NDJSON;
	else
		return -1;
	return 0;
}

static void print_import_summary(nu_cli *cli, const char *path, const nu_import_stats *st,
				 double secs, struct import_ui *ui, int events)
{
	if (cli->json) {
		json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:f,s:o}", "file", path,
			"rows", (json_int_t)st->rows, "created", (json_int_t)st->created,
			"updated", (json_int_t)st->updated, "merged", (json_int_t)st->merged,
			"rejected", (json_int_t)st->rejected, "seconds", secs,
			"rejects", json_incref(ui->rejects));
		if (events) {
			json_object_set_new(o, "events", json_integer((json_int_t)st->events));
			json_object_set_new(o, "duplicates", json_integer((json_int_t)st->duplicates));
		}
		nu_cli_print_json(o);
		return;
	}
	if (ui->tty && !ui->quiet)
		fputc('\n', stderr);
	if (events)
		printf("%s: %llu rows, %llu events stored, %llu duplicates skipped, "
		       "%llu leads created, %llu merged, %llu rejected (%.2fs)\n", path,
		       (unsigned long long)st->rows, (unsigned long long)st->events,
		       (unsigned long long)st->duplicates, (unsigned long long)st->created,
		       (unsigned long long)st->merged, (unsigned long long)st->rejected, secs);
	else
		printf("%s: %llu rows, %llu leads created, %llu updated, %llu merged, "
		       "%llu rejected (%.2fs)\n", path, (unsigned long long)st->rows,
		       (unsigned long long)st->created, (unsigned long long)st->updated,
		       (unsigned long long)st->merged, (unsigned long long)st->rejected, secs);
}

/* Shared by `lead import` and `event import`. */
int nu_cli_import(nu_cli *cli, const nu_cli_command *cmd, enum nu_import_kind kind,
		  int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "source", required_argument, NULL, 's' },
		{ "overwrite", no_argument, NULL, 'o' },
		{ "batch", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	nu_import_opts opts = { .kind = kind };
	struct import_ui ui = { .tty = isatty(2), .quiet = cli->quiet, .json = cli->json };
	nu_import_stats st;
	nu_error err;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "f:s:ob:", longopts, NULL)) != -1) {
		if (c == 'f' && parse_format(optarg, &opts.format) < 0)
			return nu_cli_usage(cmd, "--format must be csv or ndjson");
		else if (c == 's')
			opts.source = optarg;
		else if (c == 'o')
			opts.lead_flags |= NU_LEAD_OVERWRITE;
		else if (c == 'b')
			opts.batch_rows = (uint32_t)strtoul(optarg, NULL, 10);
		else if (c == '?')
			return nu_cli_usage(cmd, NULL);
	}
	if (optind != argc - 1)
		return nu_cli_usage(cmd, "one FILE is needed ('-' for standard input)");
	if (nu_cli_open(cli) < 0)
		return NU_EXIT_FAIL;
	ui.rejects = json_array();
	ui.started = mono_seconds();
	opts.progress = show_progress;
	opts.reject = show_reject;
	opts.ud = &ui;
	rc = nu_import_file(cli->store, argv[optind], &opts, &st, &err);
	if (rc < 0) {
		json_decref(ui.rejects);
		return nu_cli_fail("%s: %s", argv[optind], err.msg);
	}
	print_import_summary(cli, argv[optind], &st, mono_seconds() - ui.started, &ui,
			     kind == NU_IMPORT_EVENTS);
	json_decref(ui.rejects);
	return st.rejected ? NU_EXIT_PARTIAL : NU_EXIT_OK;
}

static int lead_import(nu_cli *cli, int argc, char **argv)
{
	return nu_cli_import(cli, &nu_cli_lead_commands[0], NU_IMPORT_LEADS, argc, argv);
}

/* ---- lead show --------------------------------------------------------- */

static void short_time(json_t *v, char *out, size_t len)
{
	const char *t = json_is_string(v) ? json_string_value(v) : "";
	/* "2026-11-20T09:30:00Z" → "2026-11-20 09:30" */
	snprintf(out, len, "%.10s %.5s", t, strlen(t) > 11 ? t + 11 : "");
}

static void render_attributes(json_t *p)
{
	json_t *a = json_object_get(p, "attributes"), *custom = json_object_get(p, "custom");
	json_t *scores = json_object_get(p, "scores");
	const char *k;
	json_t *v;
	char t[32];

	printf("Lead %lld  %s", (long long)json_integer_value(json_object_get(p, "id")),
	       nu_cli_str(a, "name"));
	if (*nu_cli_str(a, "company"))
		printf(" · %s", nu_cli_str(a, "company"));
	if (*nu_cli_str(a, "title"))
		printf(" · %s", nu_cli_str(a, "title"));
	short_time(json_object_get(p, "stage_since"), t, sizeof t);
	printf("\n  stage      %s (since %s)\n", nu_cli_str(p, "stage"), t);
	printf("  scores     fit %g  heat %g\n",
	       json_number_value(json_object_get(scores, "fit")),
	       json_number_value(json_object_get(scores, "heat")));
	json_object_foreach(a, k, v)
		if (json_is_string(v) && strcmp(k, "name") && strcmp(k, "company") &&
		    strcmp(k, "title"))
			printf("  %-10s %s\n", strcmp(k, "product_interest") ? k : "interest",
			       json_string_value(v));
	json_object_foreach(custom, k, v) {
		char *text = json_dumps(v, JSON_ENCODE_ANY);
		printf("  %-10s %s\n", k, json_is_string(v) ? json_string_value(v) : text);
		free(text);
	}
}

/* What a sales rep asks first: which flows is the lead in, what did it get. */
static void render_runs_and_messages(json_t *p)
{
	json_t *v;
	size_t i;
	char t[32];

	if (json_array_size(json_object_get(p, "runs"))) {
		printf("Flow runs\n");
		json_array_foreach(json_object_get(p, "runs"), i, v) {
			short_time(json_object_get(v, "started_at"), t, sizeof t);
			printf("  run %-6lld %-24s %-10s since %s\n",
			       (long long)json_integer_value(json_object_get(v, "id")), nu_cli_str(v, "flow"),
			       nu_cli_str(v, "status"), t);
		}
	}
	if (json_array_size(json_object_get(p, "messages"))) {
		printf("Messages\n");
		json_array_foreach(json_object_get(p, "messages"), i, v) {
			short_time(json_object_get(v, "created_at"), t, sizeof t);
			printf("  %s  %-7s %-30s %s%s%s\n", t, nu_cli_str(v, "channel"), nu_cli_str(v, "template"),
			       nu_cli_str(v, "state"), json_is_string(json_object_get(v, "error")) ? ": " : "",
			       nu_cli_str(v, "error"));
		}
	}
}

static void render_lists(json_t *p)
{
	json_t *v;
	size_t i;
	char t[32];

	printf("Identities\n");
	json_array_foreach(json_object_get(p, "identities"), i, v)
		printf("  %-18s %s\n", nu_cli_str(v, "kind"), nu_cli_str(v, "value"));
	printf("Tags\n");
	if (!json_array_size(json_object_get(p, "tags")))
		printf("  (none)\n");
	json_array_foreach(json_object_get(p, "tags"), i, v) {
		printf("  %-34s %-9s %-10s weight %-5g source %s", nu_cli_str(v, "name"),
		       nu_cli_str(v, "category"), nu_cli_str(v, "class"),
		       json_number_value(json_object_get(v, "weight")), nu_cli_str(v, "source"));
		if (json_is_string(json_object_get(v, "expires_at"))) {
			short_time(json_object_get(v, "expires_at"), t, sizeof t);
			printf("  expires %s", t);
		}
		putchar('\n');
	}
	printf("Stage history\n");
	if (!json_array_size(json_object_get(p, "stage_history")))
		printf("  (none)\n");
	json_array_foreach(json_object_get(p, "stage_history"), i, v) {
		short_time(json_object_get(v, "at"), t, sizeof t);
		printf("  %s  %s → %s  %s  (%s)\n", t, nu_cli_str(v, "from"), nu_cli_str(v, "to"),
		       nu_cli_str(v, "reason"), nu_cli_str(v, "actor"));
	}
	if (json_array_size(json_object_get(p, "merges"))) {
		printf("Merges\n");
		json_array_foreach(json_object_get(p, "merges"), i, v) {
			short_time(json_object_get(v, "at"), t, sizeof t);
			printf("  %s  lead %lld merged in: %s\n", t,
			       (long long)json_integer_value(json_object_get(v, "merged_id")),
			       nu_cli_str(v, "reason"));
		}
	}
	render_runs_and_messages(p);
}

static void render_events(json_t *p)
{
	json_t *ev = json_object_get(p, "events"), *v;
	size_t i;
	char t[32];

	printf("Events (%zu newest of %lld)\n", json_array_size(ev),
	       (long long)json_integer_value(json_object_get(p, "events_total")));
	json_array_foreach(ev, i, v) {
		char *props = json_dumps(json_object_get(v, "props"), JSON_COMPACT | JSON_ENCODE_ANY);
		short_time(json_object_get(v, "at"), t, sizeof t);
		printf("  %s  %-20s %s\n", t, nu_cli_str(v, "type"), props ? props : "");
		free(props);
	}
}

static int lead_show(nu_cli *cli, int argc, char **argv)
{
	const nu_cli_command *cmd = &nu_cli_lead_commands[1];
	static const struct option longopts[] = {
		{ "events", required_argument, NULL, 'e' }, { NULL, 0, NULL, 0 },
	};
	size_t events = 10;
	int64_t id;
	json_t *p;
	nu_error err;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "e:", longopts, NULL)) != -1) {
		if (c == 'e')
			events = strtoul(optarg, NULL, 10);
		else
			return nu_cli_usage(cmd, NULL);
	}
	if (optind != argc - 1)
		return nu_cli_usage(cmd, "one lead reference is needed");
	if (nu_cli_remote(cli) == 1) {
		char path[600], *ref = nu_cli_escape(argv[optind]);
		snprintf(path, sizeof path, "/v1/leads/%s?events=%zu", ref ? ref : "", events);
		free(ref);
		int status = nu_cli_api(cli, "GET", path, NULL, NULL, 0, &p);
		if (status != 200)
			return nu_cli_api_fail(status, p);
	} else if (nu_cli_open(cli) < 0) {
		return NU_EXIT_FAIL;
	} else if (nu_lead_resolve_ref(cli->store, argv[optind], &id, &err) < 0 ||
		   nu_profile_build(cli->store, id, events, &p, &err) < 0) {
		return nu_cli_fail("%s", err.msg);
	}
	if (cli->json) {
		nu_cli_print_json(p);
		return NU_EXIT_OK;
	}
	render_attributes(p);
	render_lists(p);
	render_events(p);
	json_decref(p);
	return NU_EXIT_OK;
}

/* ---- lead tag / untag / stage ----------------------------------------- */

/* Runs one change to one lead inside a transaction. */
static int change_lead(nu_cli *cli, const char *ref,
		       int (*fn)(nu_cli *, int64_t, void *, nu_error *), void *ud)
{
	nu_error err;
	int64_t id;

	if (nu_cli_open(cli) < 0)
		return NU_EXIT_FAIL;
	if (nu_lead_resolve_ref(cli->store, ref, &id, &err) < 0)
		return nu_cli_fail("%s", err.msg);
	if (nu_store_begin(cli->store, &err) < 0)
		return nu_cli_fail("%s", err.msg);
	if (fn(cli, id, ud, &err) < 0) {
		nu_store_rollback(cli->store);
		return nu_cli_fail("%s", err.msg);
	}
	if (nu_store_commit(cli->store, &err) < 0)
		return nu_cli_fail("%s", err.msg);
	return NU_EXIT_OK;
}

/* The same change through the daemon's API (cli_remote.c). */
/* The same change through the daemon's API; *profile (if asked for)
 * gets the lead's profile as the answer carries it. */
static int remote_change(nu_cli *cli, const char *method, const char *path, const char *body,
			 json_t **profile)
{
	json_t *a;
	int status = nu_cli_api(cli, method, path, body ? "application/json" : NULL, body,
				body ? strlen(body) : 0, &a);

	if (status != 200)
		return nu_cli_api_fail(status, a);
	if (profile)
		*profile = a;
	else
		json_decref(a);
	return NU_EXIT_OK;
}

/* The lead's current stage through the API ("" when unknown). */
static void remote_stage(nu_cli *cli, const char *ref_escaped, char *out, size_t len)
{
	char path[600];
	json_t *a = NULL;

	snprintf(path, sizeof path, "/v1/leads/%s?events=0", ref_escaped);
	out[0] = '\0';
	if (nu_cli_api(cli, "GET", path, NULL, NULL, 0, &a) == 200)
		snprintf(out, len, "%s", nu_cli_str(a, "stage"));
	json_decref(a);
}

struct tag_args { const char *name, *source; double weight; int remove; };

static int do_tag(nu_cli *cli, int64_t id, void *ud, nu_error *err)
{
	struct tag_args *a = ud;
	int rc = a->remove ? nu_tag_remove(cli->store, id, a->name, a->source, err)
			   : nu_tag_add(cli->store, id, a->name, a->weight, a->source, err);
	if (rc == NU_OK && !cli->quiet)
		printf("lead %lld: %s %s\n", (long long)id, a->remove ? "untagged" : "tagged",
		       a->name);
	return rc;
}

static int tag_command(nu_cli *cli, const nu_cli_command *cmd, int remove,
		       int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "weight", required_argument, NULL, 'w' },
		{ "source", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 },
	};
	struct tag_args a = { .source = "cli", .weight = -1, .remove = remove };
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "w:s:", longopts, NULL)) != -1) {
		if (c == 'w' && !remove) {
			a.weight = strtod(optarg, &end);
			if (*end || a.weight < 0 || !isfinite(a.weight))
				return nu_cli_usage(cmd, "--weight must be a number >= 0");
		} else if (c == 's') {
			a.source = optarg;
		} else {
			return nu_cli_usage(cmd, NULL);
		}
	}
	if (optind != argc - 2)
		return nu_cli_usage(cmd, "a lead reference and a tag are needed");
	a.name = argv[optind + 1];
	if (nu_cli_remote(cli) == 1) {
		char path[800], *ref = nu_cli_escape(argv[optind]), *tag = nu_cli_escape(a.name), body[400];
		json_t *o = json_pack("{s:s}", "tag", a.name);
		if (a.weight >= 0)
			json_object_set_new(o, "weight", json_real(a.weight));
		char *text = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		snprintf(body, sizeof body, "%s", text ? text : "{}");
		free(text);
		if (remove)
			snprintf(path, sizeof path, "/v1/leads/%s/tags/%s", ref ? ref : "", tag ? tag : "");
		else
			snprintf(path, sizeof path, "/v1/leads/%s/tags", ref ? ref : "");
		free(ref);
		free(tag);
		json_t *p = NULL;
		int rc = remote_change(cli, remove ? "DELETE" : "POST", path, remove ? NULL : body, &p);
		if (rc == NU_EXIT_OK && !cli->quiet)
			printf("lead %lld: %s %s\n", (long long)json_integer_value(json_object_get(p, "id")),
			       remove ? "untagged" : "tagged", a.name);
		json_decref(p);
		return rc;
	}
	return change_lead(cli, argv[optind], do_tag, &a);
}

static int lead_tag(nu_cli *cli, int argc, char **argv)
{
	return tag_command(cli, &nu_cli_lead_commands[2], 0, argc, argv);
}

static int lead_untag(nu_cli *cli, int argc, char **argv)
{
	return tag_command(cli, &nu_cli_lead_commands[3], 1, argc, argv);
}

struct stage_args { const char *to, *reason, *actor; };

static int do_stage(nu_cli *cli, int64_t id, void *ud, nu_error *err)
{
	struct stage_args *a = ud;
	int changed, rc = nu_stage_set(cli->store, id, a->to, a->reason, a->actor, &changed, err);

	if (rc == NU_OK && !cli->quiet)
		printf(changed ? "lead %lld: now %s\n" : "lead %lld: already %s\n",
		       (long long)id, a->to);
	return rc;
}

static int lead_stage(nu_cli *cli, int argc, char **argv)
{
	const nu_cli_command *cmd = &nu_cli_lead_commands[4];
	static const struct option longopts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "actor", required_argument, NULL, 'a' }, { NULL, 0, NULL, 0 },
	};
	struct stage_args a = { .reason = NULL, .actor = "cli" };
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:a:", longopts, NULL)) != -1) {
		if (c == 'r')
			a.reason = optarg;
		else if (c == 'a')
			a.actor = optarg;
		else
			return nu_cli_usage(cmd, NULL);
	}
	if (optind != argc - 2)
		return nu_cli_usage(cmd, "a lead reference and a stage are needed");
	a.to = argv[optind + 1];
	if (nu_cli_remote(cli) == 1) {
		char path[600], *ref = nu_cli_escape(argv[optind]);
		json_t *o = json_pack("{s:s}", "stage", a.to);
		if (a.reason)
			json_object_set_new(o, "reason", json_string(a.reason));
		char *body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		snprintf(path, sizeof path, "/v1/leads/%s/stage", ref ? ref : "");
		char before[64];
		remote_stage(cli, ref ? ref : "", before, sizeof before);
		free(ref);
		json_t *p = NULL;
		int rc = remote_change(cli, "PUT", path, body, &p);
		if (rc == NU_EXIT_OK && !cli->quiet)
			printf(strcmp(before, a.to) ? "lead %lld: now %s\n" : "lead %lld: already %s\n",
			       (long long)json_integer_value(json_object_get(p, "id")), a.to);
		json_decref(p);
		free(body);
		return rc;
	}
	return change_lead(cli, argv[optind], do_stage, &a);
}

const nu_cli_command nu_cli_lead_commands[] = {
	{ "lead import", "[--format csv|ndjson] [--source NAME] [--overwrite] FILE",
	  "Import leads from a CSV file with a header row, or from NDJSON.",
	  "Columns (CSV) or keys (NDJSON): identities email, phone, wechat_openid,\n"
	  "wechat_unionid, wecom_external_id, crm_id, anonymous_id (at least one);\n"
	  "attributes name, company, title, industry, region, product_interest,\n"
	  "timezone; tags ('interest:crm;source:webinar'); stage; source; any other\n"
	  "column becomes a custom field. Rows naming a known lead update it: blanks\n"
	  "are filled, known values are kept unless --overwrite. Rows tying two known\n"
	  "leads together merge them.\n\n"
	  "A bad row is reported with its line number and reason; the others are\n"
	  "imported. Exit status 0: all rows imported; 3: some rows rejected;\n"
	  "1: the import failed.\n\n"
	  "  -f, --format FMT   csv or ndjson (default: from the file name)\n"
	  "  -s, --source NAME  source recorded on changes (default import:FILE)\n"
	  "  -o, --overwrite    replace attribute values that are already set\n"
	  "  -b, --batch N      rows per transaction (default 10000)\n",
	  lead_import },
	{ "lead show", "[--events N] ID|EMAIL|PHONE|KIND:VALUE",
	  "Show a lead: attributes, identities, tags, stage history, merges and events.",
	  "  -e, --events N  how many recent events to show (default 10)\n"
	  "With --json the whole profile is printed as JSON.\n", lead_show },
	{ "lead tag", "[--weight W] [--source NAME] LEAD TAG",
	  "Add a tag to a lead (or refresh it). Tags are namespaced: interest:crm.",
	  "  -w, --weight W     weight (default: the tag definition's)\n"
	  "  -s, --source NAME  recorded with the change (default cli)\n", lead_tag },
	{ "lead untag", "[--source NAME] LEAD TAG", "Remove a tag from a lead.", "",
	  lead_untag },
	{ "lead stage", "[--reason TEXT] [--actor NAME] LEAD STAGE",
	  "Move a lead to a funnel stage; illegal moves are refused.",
	  "Stages (default): Lead, MQL, SQL, Opportunity, Deal, Recycled, Disqualified.\n"
	  "Forward moves may skip stages; going back goes through Recycled.\n", lead_stage },
	{ NULL, NULL, NULL, NULL, NULL },
};
