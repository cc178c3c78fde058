/*
 * main.c — the `nurture` command: global options and the table of
 * subcommands. Each subcommand lives in the cli_*.c file of its area.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const nu_cli_command *const tables[] = {
	nu_cli_admin_commands, nu_cli_lead_commands, nu_cli_event_commands,
	nu_cli_flow_commands, nu_cli_run_commands, NULL,
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: nurture [--config FILE] [--db FILE] [--url URL] [--json] [-q] COMMAND [ARGS]\n\n"
		"nurture keeps a B2B lead store (leads, identities, tags, stages, events)\n"
		"and runs nurture flows on it.\n\n"
		"Commands:\n");
	for (const nu_cli_command *const *t = tables; *t; t++)
		for (const nu_cli_command *c = *t; c->name; c++)
			fprintf(out, "  %-14s %s\n", c->name, c->summary);
	fprintf(out,
		"\nGlobal options:\n"
		"  --config FILE  config file (default $NURTURE_CONFIG, else ./nurture.conf.lua)\n"
		"  --db FILE      database file, overriding the config\n"
		"  --url URL      talk to a running daemon's HTTP API (default $NURTURE_URL,\n"
		"                 else http.listen of the config when a daemon answers there);\n"
		"                 the token comes from $NURTURE_TOKEN or the config's tokens\n"
		"  --json         machine-readable output\n"
		"  -q, --quiet    no progress or confirmations\n\n"
		"Exit status: 0 done, 1 failed, 2 bad command line, 3 done but some input\n"
		"rows were rejected. 'nurture COMMAND --help' describes a command.\n");
}

/* Finds "lead show" from argv ("lead", "show", …); *used = words taken. */
static const nu_cli_command *find_command(int argc, char **argv, int *used)
{
	char two[64];

	for (const nu_cli_command *const *t = tables; *t; t++)
		for (const nu_cli_command *c = *t; c->name; c++) {
			if (argc >= 2) {
				snprintf(two, sizeof two, "%s %s", argv[0], argv[1]);
				if (strcmp(c->name, two) == 0) {
					*used = 2;
					return c;
				}
			}
			if (strcmp(c->name, argv[0]) == 0) {
				*used = 1;
				return c;
			}
		}
	return NULL;
}

/* "nurture lead" alone lists the lead commands. */
static int list_group(const char *group)
{
	size_t n = strlen(group);
	int found = 0;

	for (const nu_cli_command *const *t = tables; *t; t++)
		for (const nu_cli_command *c = *t; c->name; c++)
			if (!strncmp(c->name, group, n) && c->name[n] == ' ') {
				if (!found)
					fprintf(stderr, "nurture %s: a subcommand is needed:\n", group);
				fprintf(stderr, "  %-14s %s\n", c->name, c->summary);
				found = 1;
			}
	return found;
}

/* Takes the global options out of argv wherever they stand (so both
 * `nurture --json stats` and `nurture stats --json` work), compacting the
 * rest in place. Returns 1 for --version, -1 on a bad option. */
static int take_globals(nu_cli *cli, int *argc, char **argv)
{
	int out = 1, rc = 0;

	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {            /* the rest is not ours */
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (!strcmp(a, "--config") || !strcmp(a, "--db") || !strcmp(a, "--url")) {
			if (i + 1 >= *argc) {
				fprintf(stderr, "nurture: %s needs a %s\n", a, a[2] == 'u' ? "URL" : "file name");
				return -1;
			}
			if (a[2] == 'c')
				cli->config_path = argv[++i];
			else if (a[2] == 'u')
				cli->url = argv[++i];
			else
				cli->db_override = argv[++i];
		} else if (!strcmp(a, "--json")) {
			cli->json = 1;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			cli->quiet = 1;
		} else if (!strcmp(a, "--version")) {
			rc = 1;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	*argc = out;
	return rc;
}

int main(int argc, char **argv)
{
	nu_cli cli = { .remote = -1 };
	const nu_cli_command *cmd;
	int i, used, rc;

	if ((rc = take_globals(&cli, &argc, argv)) < 0)
		return NU_EXIT_USAGE;
	if (rc > 0) {
		char *v[] = { "version", NULL };
		return find_command(1, v, &used)->run(&cli, 1, v);
	}
	i = 1;
	if (i == argc || !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
	    !strcmp(argv[i], "help")) {
		usage(i == argc ? stderr : stdout);
		return i == argc ? NU_EXIT_USAGE : NU_EXIT_OK;
	}
	if (argv[i][0] == '-') {
		fprintf(stderr, "nurture: unknown option '%s' (see 'nurture --help')\n", argv[i]);
		return NU_EXIT_USAGE;
	}
	if (!(cmd = find_command(argc - i, argv + i, &used))) {
		if (list_group(argv[i]))
			return NU_EXIT_USAGE;
		fprintf(stderr, "nurture: unknown command '%s' (see 'nurture --help')\n", argv[i]);
		return NU_EXIT_USAGE;
	}
	/* The command sees itself as argv[0], like a program of its own. */
	int cargc = argc - i - used + 1;
	char **cargv = argv + i + used - 1;
	if (nu_cli_wants_help(cargc, cargv)) {
		nu_cli_help(cmd, stdout);
		return NU_EXIT_OK;
	}
	rc = cmd->run(&cli, cargc, cargv);
	nu_cli_close(&cli);
	return rc;
}
