/*
 * cli_admin.c — `nurture init`, `stats`, `backup`, `version`.
 */
#include <errno.h>
#include <stdlib.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lua.h>
#include "cli.h"
#include "bounce.h"
#include "identity.h"
#include "leads.h"
#include "profile.h"
#include "tags.h"

static int write_sample_config(const char *path, int force)
{
	struct stat st;
	FILE *f;

	if (!force && stat(path, &st) == 0)
		return 0;   /* never overwrite a user's config */
	if (!(f = fopen(path, "w")))
		return nu_cli_fail("cannot write '%s': %s", path, strerror(errno)), -1;
	fputs(nu_config_sample, f);
	if (fclose(f) != 0)
		return nu_cli_fail("cannot write '%s': %s", path, strerror(errno)), -1;
	return 1;
}

static int cmd_init(nu_cli *cli, int argc, char **argv)
{
	const char *path = cli->config_path ? cli->config_path :
			   getenv("NURTURE_CONFIG") ? getenv("NURTURE_CONFIG") : "nurture.conf.lua";
	int force = argc > 1 && !strcmp(argv[1], "--force"), wrote;

	if (argc > 1 + force)
		return nu_cli_usage(&nu_cli_admin_commands[0], "unexpected argument");
	if ((wrote = write_sample_config(path, force)) < 0)
		return NU_EXIT_FAIL;
	cli->config_path = path;
	cli->may_create = 1;
	if (nu_cli_open(cli) < 0)
		return NU_EXIT_FAIL;
	if (!cli->quiet) {
		printf("%s %s\n", wrote ? "wrote" : "kept existing", path);
		printf("database %s ready (schema version %d)\n", cli->cfg.database,
		       nu_store_schema_version());
	}
	return NU_EXIT_OK;
}

static void render_funnel(json_t *f)
{
	json_t *row;
	size_t i;

	printf("%-14s %8s %9s %11s\n", "stage", "now", "reached", "conversion");
	json_array_foreach(json_object_get(f, "stages"), i, row) {
		json_t *reached = json_object_get(row, "reached");
		json_t *conv = json_object_get(row, "conversion_pct");
		printf("%-14s %8lld", nu_cli_str(row, "stage"),
		       (long long)json_integer_value(json_object_get(row, "now")));
		if (reached)
			printf(" %9lld", (long long)json_integer_value(reached));
		else
			printf(" %9s", "");
		if (json_is_number(conv))
			printf(" %10.1f%%", json_number_value(conv));
		putchar('\n');
	}
	printf("%-14s %8lld\n", "total", (long long)json_integer_value(json_object_get(f, "leads")));
}

static int count_rows(nu_cli *cli, const char *sql, int64_t *n)
{
	sqlite3_stmt *st = nu_store_stmt(cli->store, sql, NULL);
	*n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	if (st)
		sqlite3_reset(st);
	return *n < 0 ? -1 : 0;
}

/* {"a": {"x": n, …}, …} from a query of (a, x, n) rows. */
static json_t *group_counts(nu_cli *cli, const char *sql)
{
	sqlite3_stmt *st = nu_store_stmt(cli->store, sql, NULL);
	json_t *out = json_object();

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(st, 0);
		json_t *inner = json_object_get(out, a);
		if (!inner)
			json_object_set_new(out, a, inner = json_object());
		json_object_set_new(inner, (const char *)sqlite3_column_text(st, 1),
				    json_integer(sqlite3_column_int64(st, 2)));
	}
	if (st)
		sqlite3_reset(st);
	return out;
}

static void render_groups(const char *title, json_t *groups)
{
	const char *a, *x;
	json_t *inner, *n;

	if (!json_object_size(groups))
		return;
	printf("\n%s\n", title);
	json_object_foreach(groups, a, inner) {
		printf("  %-28s", a);
		json_object_foreach(inner, x, n)
			printf(" %s %lld", x, (long long)json_integer_value(n));
		putchar('\n');
	}
}

static int cmd_stats(nu_cli *cli, int argc, char **argv)
{
	int64_t events, identities, tags, merged;
	size_t expired;
	json_t *f;
	nu_error err;

	(void)argv;
	if (argc > 1)
		return nu_cli_usage(&nu_cli_admin_commands[1], "unexpected argument");
	if (nu_cli_open(cli) < 0)
		return NU_EXIT_FAIL;
	if (nu_tag_expire(cli->store, &expired, &err) < 0 ||
	    nu_profile_funnel(cli->store, &f, &err) < 0)
		return nu_cli_fail("%s", err.msg);
	if (count_rows(cli, "SELECT max(id) FROM event", &events) < 0 ||
	    count_rows(cli, "SELECT count(*) FROM identity", &identities) < 0 ||
	    count_rows(cli, "SELECT count(*) FROM tag", &tags) < 0 ||
	    count_rows(cli, "SELECT count(*) FROM lead WHERE merged_into IS NOT NULL", &merged) < 0) {
		json_decref(f);
		return nu_cli_fail("counting: %s", sqlite3_errmsg(nu_store_db(cli->store)));
	}
	json_object_set_new(f, "events", json_integer(events));
	json_object_set_new(f, "identities", json_integer(identities));
	json_object_set_new(f, "tags", json_integer(tags));
	json_object_set_new(f, "merged", json_integer(merged));
	json_object_set_new(f, "runs", group_counts(cli, "SELECT flow, status, count(*) FROM run"
						    " GROUP BY flow, status ORDER BY flow, status"));
	json_object_set_new(f, "sends", group_counts(cli, "SELECT channel, state, count(*) FROM outbox"
						     " GROUP BY channel, state ORDER BY channel, state"));
	if (cli->json) {
		nu_cli_print_json(f);
		return NU_EXIT_OK;
	}
	render_funnel(f);
	printf("\n%lld identities, %lld tags, %lld events, %lld leads merged away\n",
	       (long long)identities, (long long)tags, (long long)events, (long long)merged);
	render_groups("Flow runs", json_object_get(f, "runs"));
	render_groups("Sends", json_object_get(f, "sends"));
	json_decref(f);
	return NU_EXIT_OK;
}

static void backup_progress(int remaining, int total, void *ud)
{
	(void)ud;
	(void)remaining;
	fprintf(stderr, "copied %d pages\n", total);
}

static int cmd_backup(nu_cli *cli, int argc, char **argv)
{
	nu_error err;

	if (argc != 2)
		return nu_cli_usage(&nu_cli_admin_commands[2], "one output file is needed");
	if (nu_cli_open(cli) < 0)
		return NU_EXIT_FAIL;
	if (nu_store_backup(cli->store, argv[1], cli->quiet ? NULL : backup_progress, NULL,
			    &err) < 0)
		return nu_cli_fail("backup failed: %s", err.msg);
	if (!cli->quiet)
		printf("backup written to %s\n", argv[1]);
	return NU_EXIT_OK;
}

/* Addresses are stored as identities are: lower-case email, E.164 phone,
 * or "lead:<id>" for a lead reference. */
static int suppression_address(nu_cli *cli, const char *in, char *out, size_t len, nu_error *err)
{
	nu_identity id;
	int64_t lead;

	if (strchr(in, '@'))
		return nu_identity_normalize(cli->store, NU_ID_EMAIL, in, &id, err) < 0 ? NU_EINVAL :
		       (snprintf(out, len, "%s", id.value), NU_OK);
	if (!strncmp(in, "lead:", 5) || in[0] == '#') {
		if (nu_lead_resolve_ref(cli->store, in + (in[0] == '#' ? 0 : 5), &lead, err) < 0)
			return NU_EINVAL;
		snprintf(out, len, "lead:%lld", (long long)lead);
		return NU_OK;
	}
	if (nu_identity_normalize(cli->store, NU_ID_PHONE, in, &id, err) < 0)
		return NU_EINVAL;
	snprintf(out, len, "%s", id.value);
	return NU_OK;
}

static int suppression_cmd(nu_cli *cli, const nu_cli_command *cmd, int add, int argc, char **argv)
{
	const char *channel = "*", *reason = "do not contact", *addr = NULL;
	char address[300];
	sqlite3_stmt *st;
	nu_error err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--channel") && i + 1 < argc)
			channel = argv[++i];
		else if (!strcmp(argv[i], "--reason") && i + 1 < argc && add)
			reason = argv[++i];
		else if (argv[i][0] != '-' && !addr)
			addr = argv[i];
		else
			return nu_cli_usage(cmd, "unexpected argument");
	}
	if (!addr)
		return nu_cli_usage(cmd, "an address is needed");
	if (nu_cli_open(cli) < 0)
		return NU_EXIT_FAIL;
	if (suppression_address(cli, addr, address, sizeof address, &err) < 0)
		return nu_cli_fail("%s", err.msg);
	st = nu_store_stmt(cli->store, add ?
		"INSERT INTO suppression (channel, address, reason, source, at) VALUES (?, ?, ?, 'cli', ?)"
		" ON CONFLICT (channel, address) DO UPDATE SET reason = excluded.reason, at = excluded.at" :
		"DELETE FROM suppression WHERE channel = ? AND address = ?", &err);
	if (!st)
		return nu_cli_fail("%s", err.msg);
	sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
	if (add) {
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, nu_store_now(cli->store));
	}
	if (sqlite3_step(st) != SQLITE_DONE)
		return nu_cli_fail("%s", sqlite3_errmsg(nu_store_db(cli->store)));
	int changed = sqlite3_changes(nu_store_db(cli->store));
	if (!add && !changed)
		return nu_cli_fail("%s was not suppressed on channel %s", address, channel);
	if (!cli->quiet)
		printf("%s %s on %s\n", address, add ? "suppressed" : "no longer suppressed",
		       strcmp(channel, "*") ? channel : "every channel");
	return NU_EXIT_OK;
}

static int cmd_suppress(nu_cli *cli, int argc, char **argv)
{
	return suppression_cmd(cli, &nu_cli_admin_commands[4], 1, argc, argv);
}

static int cmd_unsuppress(nu_cli *cli, int argc, char **argv)
{
	return suppression_cmd(cli, &nu_cli_admin_commands[5], 0, argc, argv);
}

static int cmd_bounce(nu_cli *cli, int argc, char **argv)
{
	FILE *f = argc > 1 && strcmp(argv[1], "-") ? fopen(argv[1], "rb") : stdin;
	char *text = NULL;
	size_t len = 0, cap = 0, got;
	nu_bounce b;
	nu_error err;
	int rc;

	if (argc > 2)
		return nu_cli_usage(&nu_cli_admin_commands[6], "one message at most");
	if (!f)
		return nu_cli_fail("cannot open '%s': %s", argv[1], strerror(errno));
	do {
		if (cap - len < 4096) {
			char *g = realloc(text, cap = cap ? cap * 2 : 65536);
			if (!g || cap > (64u << 20))
				break;
			text = g;
		}
		got = fread(text + len, 1, cap - len, f);
		len += got;
	} while (got > 0);
	if (f != stdin)
		fclose(f);
	if (nu_cli_open(cli) < 0 || nu_store_begin(cli->store, &err) < 0) {
		free(text);
		return NU_EXIT_FAIL;
	}
	rc = nu_bounce_ingest(cli->store, text ? text : "", len, &b, &err);
	free(text);
	if (rc < 0 || nu_store_commit(cli->store, &err) < 0) {
		nu_store_rollback(cli->store);
		return nu_cli_fail("%s", err.msg);
	}
	if (cli->json)
		nu_cli_print_json(json_pack("{s:I,s:I,s:s,s:s,s:s,s:s,s:b}", "op_id", (json_int_t)b.op_id,
			"lead_id", (json_int_t)b.lead_id, "channel", b.channel, "kind", b.kind,
			"status", b.status, "diagnostic", b.diagnostic, "duplicate", b.duplicate));
	else if (!cli->quiet)
		printf("send %lld (%s, lead %lld): %s bounce %s%s%s%s\n", (long long)b.op_id, b.channel,
		       (long long)b.lead_id, b.kind, b.status, b.diagnostic[0] ? " — " : "", b.diagnostic,
		       b.duplicate ? " (already recorded)" : "");
	return NU_EXIT_OK;
}

static int cmd_version(nu_cli *cli, int argc, char **argv)
{
	(void)cli; (void)argc; (void)argv;
	printf("nurture %s (schema %d, SQLite %s, %s)\n", NU_VERSION, nu_store_schema_version(),
	       sqlite3_libversion(), LUA_RELEASE);
	return NU_EXIT_OK;
}

const nu_cli_command nu_cli_admin_commands[] = {
	{ "init", "[--force]",
	  "Create the database and a commented sample config (nurture.conf.lua).",
	  "An existing config is kept unless --force. The database is created or\n"
	  "migrated to the current schema.\n", cmd_init },
	{ "stats", "", "Funnel summary: leads per stage now, reached, and conversion.", "",
	  cmd_stats },
	{ "backup", "OUT.db",
	  "Copy the database consistently while the daemon and other commands run.",
	  "Uses SQLite's online backup API; the copy is written to OUT.db.partial and\n"
	  "renamed when complete.\n", cmd_backup },
	{ "version", "", "Print version information.", "", cmd_version },
	{ "suppress", "[--channel CH] [--reason TEXT] ADDRESS",
	  "Never send to an address again (unsubscribed, bounced, do not contact).",
	  "ADDRESS is an email, a phone number, or lead:ID for a whole lead. Without\n"
	  "--channel it applies to every channel. Sends it stops are recorded with the\n"
	  "reason and the flow is told (send returns false, status \"suppressed\").\n",
	  cmd_suppress },
	{ "unsuppress", "[--channel CH] ADDRESS", "Lift a suppression.", "", cmd_unsuppress },
	{ "bounce", "[FILE]", "Record a bounce message (DSN) read from FILE or standard input.",
	  "For an MTA pipe (e.g. a Postfix transport for bounce+*@your-domain): the VERP\n"
	  "address bounce+<op>@… names the send; Status: 5.x.x is a hard bounce, 4.x.x soft.\n"
	  "It is recorded as a <channel>.bounced event of the lead (flows and rules see it);\n"
	  "a hard bounce suppresses the address when the daemon reads the event.\n", cmd_bounce },
	{ NULL, NULL, NULL, NULL, NULL },
};
