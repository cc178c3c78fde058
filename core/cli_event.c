/*
 * cli_event.c — `nurture event …`: add one event, import a file of them.
 */
#include <getopt.h>
#include <string.h>
#include "cli.h"
#include "identity.h"
#include "import.h"
#include "ingest.h"
#include "leads.h"

int nu_cli_import(nu_cli *cli, const nu_cli_command *cmd, enum nu_import_kind kind,
		  int argc, char **argv);

/* "--prop key=value": numbers stay numbers, the rest is text. */
static int add_prop(json_t *props, const char *kv)
{
	const char *eq = strchr(kv, '=');
	json_t *v;
	char key[128];

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key)
		return -1;
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
	if (!v || !(json_is_number(v) || json_is_boolean(v))) {
		json_decref(v);
		v = json_string(eq + 1);
	}
	json_object_set_new(props, key, v);
	return 0;
}

/* The record's lead: an id becomes lead_id, anything else an identity. */
static int add_lead_ref(nu_cli *cli, json_t *rec, const char *ref)
{
	nu_error err;
	int64_t id;

	if (nu_lead_resolve_ref(cli->store, ref, &id, &err) == NU_OK) {
		json_object_set_new(rec, "lead_id", json_integer(id));
		return 0;
	}
	if (err.code != NU_ENOTFOUND || strspn(ref + (ref[0] == '#'), "0123456789") ==
	    strlen(ref + (ref[0] == '#')))
		return nu_cli_fail("%s", err.msg), -1;   /* an id that does not exist */
	/* An identity nobody has yet: the event creates the lead. */
	const char *value;
	int kind = nu_identity_split_ref(ref, &value);
	json_object_set_new(rec, kind >= 0 ? nu_identity_kind_name(kind) :
			    strchr(ref, '@') ? "email" : "phone", json_string(value));
	return 0;
}

/* The lead reference as record keys, for the API (which resolves it). */
static void ref_keys(json_t *rec, const char *ref)
{
	const char *digits = ref + (ref[0] == '#'), *value;
	int kind;

	if (*digits && strspn(digits, "0123456789") == strlen(digits)) {
		json_object_set_new(rec, "lead_id", json_integer(strtoll(digits, NULL, 10)));
		return;
	}
	kind = nu_identity_split_ref(ref, &value);
	json_object_set_new(rec, kind >= 0 ? nu_identity_kind_name(kind) :
			    strchr(ref, '@') ? "email" : "phone", json_string(value));
}

static int event_add_remote(nu_cli *cli, json_t *rec)
{
	char *body = json_dumps(rec, JSON_COMPACT);
	json_t *a = NULL;
	int status = body ? nu_cli_api(cli, "POST", "/v1/events", "application/json", body, strlen(body), &a)
			  : -1;

	free(body);
	json_t *errors = json_object_get(a, "errors");
	if (status != 202 || json_array_size(errors)) {
		json_t *first = json_array_get(errors, 0);
		if (first)
			nu_cli_fail("%s", json_string_value(json_object_get(first, "message")));
		return first ? (json_decref(a), NU_EXIT_FAIL) : nu_cli_api_fail(status, a);
	}
	int dup = json_integer_value(json_object_get(a, "duplicates")) > 0;
	json_int_t event = json_integer_value(json_object_get(a, "event_id")),
		   lead = json_integer_value(json_object_get(a, "lead_id"));
	/* The same output as the local command, for scripts. */
	if (cli->json)
		nu_cli_print_json(json_pack("{s:I,s:I,s:b,s:b}", "event_id", event, "lead_id", lead,
					    "duplicate", dup, "lead_created",
					    json_is_true(json_object_get(a, "lead_created"))));
	else if (!cli->quiet)
		printf(dup ? "duplicate of event %lld (dedupe key); nothing stored\n"
			   : "event %lld stored for lead %lld\n", (long long)event, (long long)lead);
	json_decref(a);
	return NU_EXIT_OK;
}

static int event_add(nu_cli *cli, int argc, char **argv)
{
	const nu_cli_command *cmd = &nu_cli_event_commands[0];
	static const struct option longopts[] = {
		{ "at", required_argument, NULL, 't' },
		{ "prop", required_argument, NULL, 'p' },
		{ "props", required_argument, NULL, 'P' },
		{ "dedupe", required_argument, NULL, 'd' },
		{ "source", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 },
	};
	json_t *rec = json_object(), *props = json_object();
	const char *source = "cli";
	nu_ingest_result res;
	nu_error err;
	int c, rc = NU_EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "t:p:P:d:s:", longopts, NULL)) != -1) {
		if (c == 't')
			json_object_set_new(rec, "at", json_string(optarg));
		else if (c == 'p' && add_prop(props, optarg) < 0) {
			nu_cli_usage(cmd, "--prop takes key=value");
			goto out;
		} else if (c == 'P') {
			json_t *more = json_loads(optarg, 0, NULL);
			if (!json_is_object(more)) {
				json_decref(more);
				nu_cli_usage(cmd, "--props takes a JSON object");
				goto out;
			}
			json_object_update(props, more);
			json_decref(more);
		} else if (c == 'd')
			json_object_set_new(rec, "dedupe_key", json_string(optarg));
		else if (c == 's')
			source = optarg;
		else if (c == '?') {
			nu_cli_usage(cmd, NULL);
			goto out;
		}
	}
	if (optind != argc - 2) {
		nu_cli_usage(cmd, "a lead reference and an event type are needed");
		goto out;
	}
	rc = NU_EXIT_FAIL;
	if (nu_cli_remote(cli) == 1) {
		ref_keys(rec, argv[optind]);
		json_object_set_new(rec, "type", json_string(argv[optind + 1]));
		json_object_set(rec, "props", props);
		rc = event_add_remote(cli, rec);
		goto out;
	}
	if (nu_cli_open(cli) < 0 || add_lead_ref(cli, rec, argv[optind]) < 0)
		goto out;
	json_object_set_new(rec, "type", json_string(argv[optind + 1]));
	json_object_set(rec, "props", props);
	if (nu_store_begin(cli->store, &err) < 0 ||
	    nu_ingest_event(cli->store, rec, source, &res, &err) < 0 ||
	    nu_store_commit(cli->store, &err) < 0) {
		nu_store_rollback(cli->store);
		rc = nu_cli_fail("%s", err.msg);
		goto out;
	}
	if (cli->json)
		nu_cli_print_json(json_pack("{s:I,s:I,s:b,s:b}", "event_id", (json_int_t)res.event_id,
			"lead_id", (json_int_t)res.resolve.lead_id, "duplicate", res.duplicate,
			"lead_created", res.resolve.created));
	else if (!cli->quiet)
		printf(res.duplicate ? "duplicate of event %lld (dedupe key); nothing stored\n"
				     : "event %lld stored for lead %lld\n",
		       (long long)res.event_id, (long long)res.resolve.lead_id);
	rc = NU_EXIT_OK;
out:
	json_decref(rec);
	json_decref(props);
	return rc;
}

static int event_import(nu_cli *cli, int argc, char **argv)
{
	return nu_cli_import(cli, &nu_cli_event_commands[1], NU_IMPORT_EVENTS, argc, argv);
}

const nu_cli_command nu_cli_event_commands[] = {
	{ "event add", "[--at TIME] [--prop K=V]... [--props JSON] [--dedupe KEY] LEAD TYPE",
	  "Record one event for a lead (a lead unknown by that identity is created).",
	  "  -t, --at TIME      when it happened: RFC 3339 or epoch ms (default now)\n"
	  "  -p, --prop K=V     a property; repeat for more\n"
	  "  -P, --props JSON   properties as a JSON object\n"
	  "  -d, --dedupe KEY   the same key twice stores one event\n"
	  "  -s, --source NAME  recorded with the event (default cli)\n", event_add },
	{ "event import", "[--format csv|ndjson] [--source NAME] FILE",
	  "Import events from NDJSON (or CSV): one event per line.",
	  "Each event names its lead by lead_id or by identities (email, phone,\n"
	  "wechat_openid, …) and has type, at, props, dedupe_key and optionally attrs\n"
	  "(lead attributes to fill in). Exit status as for 'lead import'.\n", event_import },
	{ NULL, NULL, NULL, NULL, NULL },
};
