/*
 * cli_flow.c — `nurture flow …`: check, deploy, list, test, enroll.
 */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include <event2/event.h>
#include "daemon.h"
#include "engine.h"
#include "flow_check.h"
#include "flows.h"
#include "flowtest.h"
#include "leads.h"
#include "log.h"
#include "plugins.h"
#include "simclock.h"
#include "timefmt.h"

/* The daemon sets this before loading plugins, so their load() may use
 * the HTTP client; other commands have no loop and leave it NULL. */
static nu_http *http_for_plugins;
static struct event_base *loop_for_plugins;

/* Loads the plugins of --plugins DIR or the config's plugins.dir. e may be
 * NULL: the plugins are then loaded only to check flows. */
static int load_plugins(nu_cli *cli, nu_engine *e, const char *dir, nu_plugins **out, int *n,
			nu_error *err)
{
	*n = 0;
	if (nu_plugins_open(e, cli->cfg.plugin_config, out, err) < 0)
		return NU_ERR;
	nu_plugins_set_loop(*out, loop_for_plugins, http_for_plugins);
	nu_plugins_set_tracking(*out, cli->cfg.http.public_url, cli->cfg.http.tracking_key);
	if (!dir)
		dir = cli->cfg.plugin_dir;
	return dir ? nu_plugins_load_dir(*out, dir, n, err) : NU_OK;
}

/* The engine for a command that steps runs without the daemon (flow
 * enroll, clock advance). With plugins.dir configured its channels are
 * loaded too, so a send is checked as the daemon checks it when queued
 * (a template missing a variable fails then, with the reason); the sends
 * still wait for the daemon (nu_cli_engine turns dispatch off). */
static int offline_engine(nu_cli *cli, nu_engine **e, nu_plugins **plugins, nu_error *err)
{
	int n;

	*e = NULL;
	*plugins = NULL;
	if (nu_cli_engine(cli, e, err) < 0)
		return NU_ERR;
	if (cli->cfg.plugin_dir && load_plugins(cli, *e, NULL, plugins, &n, err) < 0)
		return NU_ERR;
	return NU_OK;
}

static void offline_engine_close(nu_engine *e, nu_plugins *plugins)
{
	nu_plugins_close(plugins);   /* before the engine, which unloading plugins may call */
	nu_engine_close(e);
}

/* With plugins.dir configured, flow check and deploy load the plugins, as
 * the daemon would, to check each flow's sends against their channels
 * (flow_check.h). *r stays NULL without plugins: nothing is checked. */
static int plugins_for_checks(nu_cli *cli, nu_plugins **r)
{
	nu_error err;
	int n;

	*r = NULL;
	if (nu_cli_load_config(cli) < 0)
		return NU_ERR;
	if (!cli->cfg.plugin_dir)
		return NU_OK;
	if (load_plugins(cli, NULL, NULL, r, &n, &err) < 0) {
		nu_plugins_close(*r);
		*r = NULL;
		return nu_cli_fail("%s", err.msg), NU_ERR;
	}
	return NU_OK;
}

static void print_problem(void *ud, const char *problem)
{
	(void)ud;
	fprintf(stderr, "%s\n", problem);
}

static int flow_check(nu_cli *cli, int argc, char **argv)
{
	nu_plugins *plugins;
	int bad = 0;

	if (argc < 2)
		return nu_cli_usage(&nu_cli_flow_commands[0], "name at least one flow file");
	if (plugins_for_checks(cli, &plugins) < 0)
		return NU_EXIT_FAIL;
	for (int i = 1; i < argc; i++) {
		nu_flow f;
		nu_error err;
		nu_send_counts counts;
		char sends[120] = "";
		size_t n = strlen(argv[i]);
		if (n > 9 && !strcmp(argv[i] + n - 9, "_test.lua")) {
			if (!cli->quiet)
				printf("%s: a test file, skipped (run it with nurture flow test)\n", argv[i]);
			continue;
		}
		if (nu_flow_load_file(argv[i], NULL, &f, &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			bad++;
		} else if (nu_flow_check_sends(plugins, &f, &counts, print_problem, NULL, &err) < 0) {
			if (err.code != NU_EINVAL)  /* a failing send was printed as it was found */
				fprintf(stderr, "%s\n", err.msg);
			bad++;
		} else if (!cli->quiet) {
			if (plugins) {
				sends[0] = ';';
				sends[1] = ' ';
				nu_send_counts_text(&counts, sends + 2, sizeof sends - 2);
			}
			printf("%s: ok (%s %s, version %.12s, %zu lib module%s%s)\n", argv[i], f.kind, f.name,
			       f.sha, json_object_size(f.bundle) - 1,
			       json_object_size(f.bundle) == 2 ? "" : "s", sends);
		}
		nu_flow_clear(&f);
	}
	nu_plugins_close(plugins);
	return bad ? NU_EXIT_FAIL : NU_EXIT_OK;
}

/* Sends each file to the daemon, which checks it (lib modules from its
 * own flows/lib folder) and deploys it. */
static int deploy_remote(nu_cli *cli, int argc, char **argv)
{
	int bad = 0;

	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		char *src = NULL;
		size_t len = 0;
		json_t *a = NULL;
		int status = -1;
		if (!f) {
			fprintf(stderr, "%s: cannot read\n", argv[i]);
			bad++;
			continue;
		}
		FILE *mem = open_memstream(&src, &len);
		char buf[8192];
		size_t n;
		while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, n, mem);
		fclose(f);
		if (mem && !fclose(mem))
			status = nu_cli_api(cli, "POST", "/v1/flows", "text/x-lua", src, len, &a);
		free(src);
		if (status == 200 || status == 201) {
			if (!cli->quiet)
				printf("%s: %s version %.12s\n", nu_cli_str(a, "name"),
				       status == 201 ? "deployed" : "unchanged,", nu_cli_str(a, "version"));
			json_decref(a);
			continue;
		}
		const char *msg = json_string_value(json_object_get(json_object_get(a, "error"), "message"));
		if (status >= 0)
			fprintf(stderr, "%s: %s\n", argv[i], msg ? msg : "refused by the daemon");
		json_decref(a);
		bad++;
	}
	return bad ? NU_EXIT_FAIL : NU_EXIT_OK;
}

static int flow_deploy(nu_cli *cli, int argc, char **argv)
{
	nu_plugins *plugins = NULL;
	nu_error err;
	int bad = 0;

	if (argc < 2)
		return nu_cli_usage(&nu_cli_flow_commands[1], "name at least one flow file");
	if (nu_cli_remote(cli) == 1)
		return deploy_remote(cli, argc, argv);
	if (nu_cli_open(cli) < 0 || plugins_for_checks(cli, &plugins) < 0)
		return NU_EXIT_FAIL;
	for (int i = 1; i < argc; i++) {
		nu_flow f;
		int created = 0;
		if (nu_flow_load_file(argv[i], NULL, &f, &err) == NU_OK &&
		    nu_flow_check_sends(plugins, &f, NULL, NULL, NULL, &err) == NU_OK &&
		    nu_store_begin(cli->store, &err) == NU_OK) {
			if (nu_flow_deploy(cli->store, &f, &created, &err) == NU_OK &&
			    nu_store_commit(cli->store, &err) == NU_OK) {
				if (!cli->quiet)
					printf("%s: %s version %.12s\n", f.name,
					       created ? "deployed" : "unchanged,", f.sha);
				nu_flow_clear(&f);
				continue;
			}
			nu_store_rollback(cli->store);
		}
		fprintf(stderr, "%s\n", err.msg);
		nu_flow_clear(&f);
		bad++;
	}
	nu_plugins_close(plugins);
	return bad ? NU_EXIT_FAIL : NU_EXIT_OK;
}

static int flow_list(nu_cli *cli, int argc, char **argv)
{
	json_t *list = NULL;

	(void)argv;
	if (argc > 1)
		return nu_cli_usage(&nu_cli_flow_commands[2], "unexpected argument");
	if (nu_cli_remote(cli) == 1) {
		json_t *a;
		int status = nu_cli_api(cli, "GET", "/v1/flows", NULL, NULL, 0, &a);
		if (status != 200)
			return nu_cli_api_fail(status, a);
		list = json_incref(json_object_get(a, "flows"));
		json_decref(a);
	} else {
		nu_error err;
		if (nu_cli_open(cli) < 0)
			return NU_EXIT_FAIL;
		if (nu_flow_list(cli->store, &list, &err) < 0)
			return nu_cli_fail("%s", err.msg);
	}
	if (cli->json) {
		nu_cli_print_json(list);
		return NU_EXIT_OK;
	}
	printf("%-28s %-5s %-13s %-7s %8s %8s\n", "flow", "kind", "version", "status", "active", "runs");
	size_t i;
	json_t *f;
	json_array_foreach(list, i, f)
		printf("%-28s %-5s %-13.12s %-7s %8lld %8lld\n", nu_cli_str(f, "name"),
		       nu_cli_str(f, "kind"), nu_cli_str(f, "version"), nu_cli_str(f, "status"),
		       (long long)json_integer_value(json_object_get(f, "active_runs")),
		       (long long)json_integer_value(json_object_get(f, "runs")));
	json_decref(list);
	return NU_EXIT_OK;
}

static int flow_test(nu_cli *cli, int argc, char **argv)
{
	nu_flowtest_result res = { 0, 0 };
	int broken = 0;

	if (argc < 2)
		return nu_cli_usage(&nu_cli_flow_commands[3], "name at least one test file");
	if (nu_cli_load_config(cli) < 0)
		return NU_EXIT_FAIL;
	for (int i = 1; i < argc; i++) {
		nu_error err;
		if (nu_flowtest_run(argv[i], stdout, &res, &err) < 0) {
			printf("not ok %d - %s\n#   %s\n", res.passed + res.failed + 1, argv[i], err.msg);
			res.failed++;
			broken++;
		}
	}
	printf("1..%d\n", res.passed + res.failed);
	if (!cli->quiet)
		fprintf(stderr, "%d passed, %d failed\n", res.passed, res.failed);
	(void)broken;
	return res.failed ? NU_EXIT_FAIL : NU_EXIT_OK;
}

static int flow_enroll(nu_cli *cli, int argc, char **argv)
{
	nu_engine *e = NULL;
	nu_plugins *plugins = NULL;
	nu_error err;
	int64_t lead, run;
	char why[200] = "";
	int did;

	if (argc != 3)
		return nu_cli_usage(&nu_cli_flow_commands[4], "a flow and a lead are needed");
	if (nu_cli_remote(cli) == 1) {
		char path[300], *flow = nu_cli_escape(argv[1]);
		json_t *a, *body = json_pack("{s:s}", "lead", argv[2]);
		char *text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		snprintf(path, sizeof path, "/v1/flows/%s/enroll", flow ? flow : "");
		free(flow);
		int status = nu_cli_api(cli, "POST", path, "application/json", text, strlen(text), &a);
		free(text);
		if (status != 201)
			return nu_cli_api_fail(status, a);
		if (!cli->quiet)
			printf("lead %lld enrolled in %s: run %lld\n",
			       (long long)json_integer_value(json_object_get(a, "lead_id")), argv[1],
			       (long long)json_integer_value(json_object_get(a, "run_id")));
		json_decref(a);
		return NU_EXIT_OK;
	}
	if (nu_cli_open(cli) < 0)
		return NU_EXIT_FAIL;
	if (nu_lead_resolve_ref(cli->store, argv[2], &lead, &err) < 0 ||
	    offline_engine(cli, &e, &plugins, &err) < 0 || nu_store_begin(cli->store, &err) < 0)
		goto fail;
	if (nu_engine_enroll(e, argv[1], lead, 0, &run, why, sizeof why, &err) < 0) {
		nu_store_rollback(cli->store);
		goto fail;
	}
	if (nu_store_commit(cli->store, &err) < 0 || nu_engine_pump(e, &did, &err) < 0)
		goto fail;
	offline_engine_close(e, plugins);
	if (!run)
		return nu_cli_fail("lead %lld not enrolled: %s", (long long)lead, why);
	sqlite3_stmt *st = nu_store_stmt(cli->store, "SELECT status, error FROM run WHERE id = ?", NULL);
	if (st) {
		sqlite3_bind_int64(st, 1, run);
		int failed = sqlite3_step(st) == SQLITE_ROW &&
			     !strcmp((const char *)sqlite3_column_text(st, 0), "failed");
		if (failed) {
			nu_cli_fail("lead %lld enrolled in %s, but run %lld failed at once: %s",
				    (long long)lead, argv[1], (long long)run, sqlite3_column_text(st, 1));
			sqlite3_reset(st);
			return NU_EXIT_FAIL;
		}
		sqlite3_reset(st);
	}
	if (!cli->quiet)
		printf("lead %lld enrolled in %s: run %lld\n", (long long)lead, argv[1], (long long)run);
	return NU_EXIT_OK;
fail:
	offline_engine_close(e, plugins);
	return nu_cli_fail("%s", err.msg);
}

/* ", 35 sends (email 30, wechat 5)" or ", no sends". */
static void print_sends(json_t *sends)
{
	const char *channel;
	json_t *n;
	json_int_t total = 0;
	int first = 1;

	json_object_foreach(sends, channel, n)
		total += json_integer_value(n);
	if (!total) {
		printf(", no sends\n");
		return;
	}
	printf(", %lld send%s (", (long long)total, total == 1 ? "" : "s");
	json_object_foreach(sends, channel, n) {
		printf("%s%s %lld", first ? "" : ", ", channel, (long long)json_integer_value(n));
		first = 0;
	}
	printf(")\n");
}

/* What `clock` prints, offline or from the daemon's answer: now,
 * offset_ms, and after an advance steps and sends. */
static int print_clock(nu_cli *cli, const char *by, json_t *o)
{
	int64_t offset = json_integer_value(json_object_get(o, "offset_ms"));
	char d[32];

	if (cli->json) {
		nu_cli_print_json(o);
		return NU_EXIT_OK;
	}
	if (by) {
		printf("clock advanced %s to %s: %lld engine steps on the way", by, nu_cli_str(o, "now"),
		       (long long)json_integer_value(json_object_get(o, "steps")));
		print_sends(json_object_get(o, "sends"));
	} else {
		printf("%s (%s%s)\n", nu_cli_str(o, "now"), offset ? "wall clock + " : "wall clock",
		       offset ? nu_duration_format((offset + 500) / 1000 * 1000, d, sizeof d) : "");
	}
	json_decref(o);
	return NU_EXIT_OK;
}

/* Through the daemon: it moves the clock with its event loop running, so
 * the plugins' sends complete at each stop (docs/api.md). */
static int clock_remote(nu_cli *cli, const char *by)
{
	/* As long as the advance takes: a year of a big database is minutes. */
	static const long wait_ms = 3600L * 1000;
	json_t *a = NULL, *req;
	char *body;
	int status;

	if (!by) {
		status = nu_cli_api(cli, "GET", "/v1/clock", NULL, NULL, 0, &a);
	} else {
		req = json_pack("{s:s}", "by", by);
		body = req ? json_dumps(req, JSON_COMPACT) : NULL;
		json_decref(req);
		if (!body)
			return nu_cli_fail("out of memory");
		status = nu_cli_api_wait(cli, "POST", "/v1/clock/advance", "application/json", body,
					 strlen(body), wait_ms, &a);
		free(body);
	}
	if (status != 200)
		return nu_cli_api_fail(status, a);
	return print_clock(cli, by, a);
}

static int clock_cmd(nu_cli *cli, int argc, char **argv)
{
	nu_engine *e = NULL;
	nu_error err;
	int64_t offset, ms, from;
	char when[48], msg[200];
	int steps = 0;

	if (argc > 3 || (argc >= 2 && strcmp(argv[1], "advance")) || argc == 2)
		return nu_cli_usage(&nu_cli_flow_commands[6], NULL);
	if (argc == 3 && nu_duration_parse(argv[2], &ms, msg, sizeof msg) < 0)
		return nu_cli_usage(&nu_cli_flow_commands[6], msg);
	if (nu_cli_remote(cli) == 1)
		return clock_remote(cli, argc == 3 ? argv[2] : NULL);
	if (nu_cli_open(cli) < 0)
		return NU_EXIT_FAIL;
	from = nu_store_now(cli->store);
	if (argc == 3) {
		nu_plugins *plugins;
		if (offline_engine(cli, &e, &plugins, &err) < 0 ||
		    nu_simclock_advance(e, ms, &steps, &err) < 0) {
			offline_engine_close(e, plugins);
			return nu_cli_fail("%s", err.msg);
		}
		offline_engine_close(e, plugins);
	}
	if (nu_simclock_install(cli->store, &offset, &err) < 0)
		return nu_cli_fail("%s", err.msg);
	nu_time_format(nu_store_now(cli->store) / 1000 * 1000, when, sizeof when);
	json_t *o = json_pack("{s:s,s:I,s:i}", "now", when, "offset_ms", (json_int_t)offset,
			      "steps", steps);
	if (argc == 3)
		json_object_set_new(o, "sends", nu_simclock_sends(cli->store, from, nu_store_now(cli->store)));
	return print_clock(cli, argc == 3 ? argv[2] : NULL, o);
}

static int plugins_cmd(nu_cli *cli, int argc, char **argv)
{
	const char *dir = NULL;
	nu_plugins *r = NULL;
	nu_engine *e = NULL;
	nu_error err;
	json_t *list, *p, *ch;
	size_t i, j;
	int n;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--dir") && a + 1 < argc)
			dir = argv[++a];
		else
			return nu_cli_usage(&nu_cli_flow_commands[7], "unknown argument");
	}
	if (nu_cli_open(cli) < 0)
		return NU_EXIT_FAIL;
	if (!dir && !cli->cfg.plugin_dir)
		return nu_cli_fail("no plugin folder: set plugins.dir in the config or give --dir");
	if (nu_cli_engine(cli, &e, &err) < 0 || load_plugins(cli, e, dir, &r, &n, &err) < 0) {
		nu_plugins_close(r);
		nu_engine_close(e);
		return nu_cli_fail("%s", err.msg);
	}
	list = nu_plugins_describe(r);
	if (cli->json) {
		nu_cli_print_json(json_incref(list));
	} else {
		json_array_foreach(list, i, p) {
			printf("%-10s %-8s %-8s %s\n", nu_cli_str(p, "name")[0] ? nu_cli_str(p, "name") : "?",
			       nu_cli_str(p, "version"), nu_cli_str(p, "status"), nu_cli_str(p, "file"));
			if (json_object_get(p, "error"))
				printf("           refused: %s\n", nu_cli_str(p, "error"));
			json_array_foreach(json_object_get(p, "channels"), j, ch)
				printf("           channel %-10s %s\n", nu_cli_str(ch, "name"), nu_cli_str(ch, "health"));
		}
	}
	int refused = 0;
	json_array_foreach(list, i, p)
		refused += strcmp(nu_cli_str(p, "status"), "loaded") != 0;
	json_decref(list);
	nu_plugins_close(r);   /* before the engine, which unloading plugins may call */
	nu_engine_close(e);
	return refused ? NU_EXIT_FAIL : NU_EXIT_OK;
}

static int serve(nu_cli *cli, int argc, char **argv)
{
	nu_daemon_options opt = { .poll_ms = 100 };
	const char *plugin_dir = NULL, *listen = NULL;
	char lib_dir[1024];
	nu_plugins *plugins = NULL;
	nu_http *http = NULL;
	int nplugins = 0;
	nu_engine *e = NULL;
	nu_error err;
	int64_t waiting = 0;
	int n = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--flows") && i + 1 < argc)
			opt.flows_dir = argv[++i];
		else if (!strcmp(argv[i], "--exit-when-idle"))
			opt.exit_when_idle = 1;
		else if (!strcmp(argv[i], "--once"))
			opt.once = 1;
		else if (!strcmp(argv[i], "--plugins") && i + 1 < argc)
			plugin_dir = argv[++i];
		else if (!strcmp(argv[i], "--listen") && i + 1 < argc)
			listen = argv[++i];
		else
			return nu_cli_usage(&nu_cli_flow_commands[5], "unknown argument");
	}
	if (nu_cli_open(cli) < 0)
		return NU_EXIT_FAIL;
	if (listen) {
		nu_http_config *h = &cli->cfg.http;
		char derived[sizeof h->public_url];
		snprintf(derived, sizeof derived, "http://%s", h->listen);
		/* A public URL derived from the configured address follows the override. */
		if (!h->public_url[0] || !strcmp(h->public_url, derived))
			snprintf(h->public_url, sizeof h->public_url, "http://%s", listen);
		snprintf(h->listen, sizeof h->listen, "%s", listen);
	}
	if (cli->cfg.http.listen[0])
		opt.http = &cli->cfg.http;
	if (opt.flows_dir) {
		snprintf(lib_dir, sizeof lib_dir, "%s/lib", opt.flows_dir);
		opt.lib_dir = lib_dir;
	}
	/* Plugins load before the flows are deployed: each flow's sends are
	 * checked against their channels (flow_check.h), and a flow that fails
	 * stops the start. The engine then reads what was deployed. */
	if (nu_cli_engine(cli, &e, &err) < 0 ||
	    !(opt.base = nu_daemon_new_base()) || nu_http_open(opt.base, &http, &err) < 0 ||
	    !(http_for_plugins = http) || !(loop_for_plugins = opt.base) ||
	    load_plugins(cli, e, plugin_dir, &plugins, &nplugins, &err) < 0 ||
	    (opt.flows_dir && (nu_daemon_deploy_dir(cli->store, opt.flows_dir, plugins, &n, &err) < 0 ||
			       nu_engine_reload(e, &err) < 0)) ||
	    nu_engine_recover(e, &err) < 0) {
		nu_http_close(http);
		nu_plugins_close(plugins);
		nu_engine_close(e);
		if (opt.base)
			event_base_free(opt.base);
		return nu_cli_fail("%s", err.msg);
	}
	sqlite3_stmt *st = nu_store_stmt(cli->store, "SELECT count(*) FROM run WHERE status = 'waiting'", NULL);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		waiting = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	nu_info("serving %s: %d flow file%s from %s, %lld runs waiting", cli->cfg.database, n,
		n == 1 ? "" : "s", opt.flows_dir ? opt.flows_dir : "(database only)", (long long)waiting);
	nu_engine_set_dispatch(e, 1);   /* the daemon has the real channels */
	opt.plugins = plugins;
	int rc = nu_daemon_run(e, &opt, &err);
	/* In this order: in-flight requests end ("cancelled") while their
	 * plugins are still loaded; plugins unload while the engine they may
	 * report to still exists; the engine goes last. */
	nu_http_close(http);
	nu_plugins_close(plugins);
	nu_engine_close(e);
	event_base_free(opt.base);
	if (rc < 0)
		return nu_cli_fail("%s", err.msg);
	nu_info("stopped cleanly");
	return NU_EXIT_OK;
}

const nu_cli_command nu_cli_flow_commands[] = {
	{ "flow check", "FILE...", "Check flow files: syntax, spec, durations, triggers, lib modules.",
	  "Each problem is reported as file:line: message. Nothing is written.\n"
	  "With plugins.dir in the config, the plugins are loaded and each send the flow\n"
	  "writes out, send(\"email\", { template = \"x\", ... }), is checked by its\n"
	  "channel (the email plugin: the template exists and the message fills it).\n", flow_check },
	{ "flow deploy", "FILE...", "Store new versions of flows; new runs start on them.",
	  "A version is named by the SHA-256 of the flow and the flows/lib modules it\n"
	  "requires. Runs already in flight stay on the version they started on. Flows\n"
	  "are checked as by flow check first; one that fails is not stored.\n", flow_deploy },
	{ "flow list", "", "Deployed flows and rules with their versions and runs.", "", flow_list },
	{ "flow test", "FILE_test.lua...",
	  "Run flow tests on a virtual clock against a temporary database (TAP output).",
	  "See docs/flows.md for the test API. Exit status 1 if any test failed.\n", flow_test },
	{ "flow enroll", "FLOW LEAD", "Enrol a lead in a flow by hand (reentry rules apply).", "",
	  flow_enroll },
	{ "serve", "[--flows DIR] [--plugins DIR] [--listen HOST:PORT] [--exit-when-idle | --once]",
	  "Run the daemon: ingest, triggers, timers and sends, until SIGTERM.",
	  "  --flows DIR        deploy the flows in DIR at start and on SIGHUP\n"
	  "  --exit-when-idle   stop once no run waits and no send is queued\n"
	  "  --once             do what is due now, then stop\n"
	  "  --plugins DIR      load channel plugins from DIR (default: plugins.dir)\n"
	  "  --listen ADDR      serve the HTTP API on ADDR (default: http.listen; none\n"
	  "                     without it). See docs/api.md.\n\n"
	  "Events written by other processes (nurture event add/import) are picked up\n"
	  "within 100 ms. SIGTERM/SIGINT finish the current step and stop; SIGHUP\n"
	  "redeploys --flows and reloads the deployed flows. Runs survive restarts.\n", serve },
	{ "clock", "[advance DURATION]", "Show, or move forward, the database's simulated clock.",
	  "'nurture clock advance 2w' moves this database's clock two weeks forward and\n"
	  "fires every timer on the way at its own time, as the daemon would have: use it\n"
	  "on a copy (nurture backup) to preview what flows will send. Every command and\n"
	  "the daemon read the clock as wall time plus the stored offset; it never moves\n"
	  "back.\n\n"
	  "While a daemon answers (see 'Through a running daemon' in docs/cli.md), the\n"
	  "daemon moves its clock: at each due time it sends through its channel plugins\n"
	  "and waits for the sends to complete before going on, so receipts are recorded\n"
	  "at the time they belong to. Without a daemon, sends that need a plugin stay\n"
	  "queued.\n", clock_cmd },
	{ "plugins", "[--dir DIR]", "Load the channel plugins and show them, their channels and health.",
	  "Loads every *.so of DIR (default: plugins.dir in the config) the way nurture\n"
	  "serve does and reports each: loaded with its channels, or refused with the\n"
	  "reason (writable file, not a plugin, wrong ABI, failing load). Exit status 1\n"
	  "if any was refused.\n", plugins_cmd },
	{ NULL, NULL, NULL, NULL, NULL },
};
