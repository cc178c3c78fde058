/*
 * cli.c — shared plumbing of the `nurture` subcommands.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cli.h"
#include "log.h"
#include "simclock.h"
#include "tags.h"

int nu_cli_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("nurture: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return NU_EXIT_FAIL;
}

void nu_cli_help(const nu_cli_command *cmd, FILE *out)
{
	fprintf(out, "usage: nurture %s %s\n\n%s\n", cmd->name, cmd->args, cmd->summary);
	if (cmd->help && cmd->help[0])
		fprintf(out, "\n%s", cmd->help);
}

int nu_cli_usage(const nu_cli_command *cmd, const char *problem)
{
	if (problem)
		fprintf(stderr, "nurture %s: %s\n", cmd->name, problem);
	fprintf(stderr, "usage: nurture %s %s\n(see 'nurture %s --help')\n",
		cmd->name, cmd->args, cmd->name);
	return NU_EXIT_USAGE;
}

int nu_cli_wants_help(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return 1;
	return 0;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

int nu_cli_load_config(nu_cli *cli)
{
	const char *path = cli->config_path;
	nu_error err;

	if (cli->config_loaded)
		return NU_OK;
	if (!path)
		path = getenv("NURTURE_CONFIG");
	if (!path && file_exists("nurture.conf.lua"))
		path = "nurture.conf.lua";
	if (path) {
		if (nu_config_load(&cli->cfg, path, &err) < 0) {
			nu_config_free(&cli->cfg);
			return nu_cli_fail("%s", err.msg), NU_ERR;
		}
	} else {
		nu_config_defaults(&cli->cfg);
		cli->cfg.database = strdup("nurture.db");
	}
	if (cli->db_override) {
		free(cli->cfg.database);
		cli->cfg.database = strdup(cli->db_override);
	}
	nu_log_set_level((enum nu_log_level)cli->cfg.log_level);
	cli->config_loaded = 1;
	return NU_OK;
}

/* Tag definitions from the config are written to tag_def so that reads
 * (lead show, the API) see the same categories and weights. Only changed
 * definitions are written: most commands then take no write lock at all,
 * and a read-only command never waits for a busy import. */
static int sync_tag_defs(nu_cli *cli, nu_error *err)
{
	int began = 0, same;

	for (size_t i = 0; i < cli->cfg.ntags; i++) {
		if ((same = nu_tag_def_same(cli->store, &cli->cfg.tags[i], err)) < 0)
			goto fail;
		if (same)
			continue;
		if (!began && nu_store_begin(cli->store, err) < 0)
			return NU_EDB;
		began = 1;
		if (nu_tag_def_put(cli->store, &cli->cfg.tags[i], err) < 0)
			goto fail;
	}
	return began ? nu_store_commit(cli->store, err) : NU_OK;
fail:
	if (began)
		nu_store_rollback(cli->store);
	return err ? err->code : NU_ERR;
}

int nu_cli_open(nu_cli *cli)
{
	nu_store_options opt = { 0 };
	nu_store_settings *set;
	nu_error err;

	if (nu_cli_load_config(cli) < 0)
		return NU_ERR;
	if (!cli->may_create && !file_exists(cli->cfg.database))
		return nu_cli_fail("database '%s' does not exist (run 'nurture init' to create it,"
				   " or give --db / --config)", cli->cfg.database), NU_ERR;
	opt.synchronous = cli->cfg.synchronous;
	opt.busy_timeout_ms = cli->cfg.busy_timeout_ms;
	if (nu_store_open(cli->cfg.database, &opt, &cli->store, &err) < 0)
		return nu_cli_fail("%s", err.msg), NU_ERR;
	set = nu_store_settings_of(cli->store);
	snprintf(set->phone_default_cc, sizeof set->phone_default_cc, "%s",
		 cli->cfg.phone_default_cc);
	set->stages = &cli->cfg.stages;
	if (sync_tag_defs(cli, &err) < 0 || nu_simclock_install(cli->store, NULL, &err) < 0)
		return nu_cli_fail("%s", err.msg), NU_ERR;
	return NU_OK;
}

int nu_cli_engine(nu_cli *cli, struct nu_engine **out, nu_error *err)
{
	if (nu_engine_open(cli->store, out, err) < 0)
		return NU_ERR;
	nu_engine_set_policy(*out, &cli->cfg.policy);
	/* With channel plugins configured, sends wait for the daemon that
	 * loads them; the built-in stand-ins must not "send" them here. */
	nu_engine_set_dispatch(*out, cli->cfg.plugin_dir == NULL);
	return NU_OK;
}

void nu_cli_close(nu_cli *cli)
{
	nu_store_close(cli->store);
	cli->store = NULL;
	if (cli->config_loaded)
		nu_config_free(&cli->cfg);
	cli->config_loaded = 0;
}

void nu_cli_print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text) {
		puts(text);
		free(text);
	}
	json_decref(v);
}

const char *nu_cli_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : "";
}
