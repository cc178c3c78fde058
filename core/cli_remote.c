/*
 * cli_remote.c — the CLI as a client of the daemon's HTTP API.
 *
 * When a daemon runs, commands that act on live data (event add, lead
 * show, lead tag/untag/stage, flow deploy/list/enroll, run why, clock)
 * go through its API instead of opening the database: the daemon then
 * sees the change at once (no 100 ms poll), enforces the same tokens and
 * limits, and the CLI works from a machine that has no copy of the
 * database; `clock advance` needs the daemon's loop besides. Offline
 * commands (init, backup, flow check, flow test, import) always work on
 * files.
 *
 * Which daemon: --url or $NURTURE_URL; else http.listen of the config, if
 * a daemon answers /healthz there within half a second. The token:
 * $NURTURE_TOKEN, else the config's first admin token, else its first.
 */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "cli.h"

typedef struct answer {
	char *data;
	size_t len;
} answer;

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	answer *a = ud;
	char *grown = realloc(a->data, a->len + size * n + 1);

	if (!grown)
		return 0;
	memcpy(grown + a->len, p, size * n);
	a->data = grown;
	a->len += size * n;
	a->data[a->len] = '\0';
	return size * n;
}

static const char *token_of(nu_cli *cli)
{
	const char *env = getenv("NURTURE_TOKEN");

	if (env && *env)
		return env;
	for (size_t i = 0; i < cli->cfg.http.ntokens; i++)
		if (cli->cfg.http.tokens[i].scopes & NU_SCOPE_ADMIN)
			return cli->cfg.http.tokens[i].secret;
	return cli->cfg.http.ntokens ? cli->cfg.http.tokens[0].secret : NULL;
}

/* method path → status; timeout_ms bounds the whole call. */
static int call(nu_cli *cli, const char *method, const char *path, const char *content_type,
		const char *body, size_t len, long timeout_ms, answer *a, char *why, size_t whylen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	char url[2048], auth[400], ct[128], errbuf[CURL_ERROR_SIZE] = "";
	const char *token = token_of(cli);
	long status = 0;

	if (!c)
		return -1;
	snprintf(url, sizeof url, "%s%s", cli->url, path);
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		hdr = curl_slist_append(hdr, auth);
	}
	if (content_type) {
		snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
		hdr = curl_slist_append(hdr, ct);
	}
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	else
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc == CURLE_OK ? (int)status : -1;
}

int nu_cli_remote(nu_cli *cli)
{
	static char derived[160];
	answer a = { 0 };
	char why[CURL_ERROR_SIZE];

	if (cli->remote >= 0 && cli->config_loaded)
		return cli->remote;
	cli->remote = 0;
	if (nu_cli_load_config(cli) < 0)
		return -1;
	if (!cli->url && getenv("NURTURE_URL") && *getenv("NURTURE_URL"))
		cli->url = getenv("NURTURE_URL");
	if (cli->url) {
		cli->remote = 1;
	} else if (cli->cfg.http.listen[0] && !cli->db_override) {
		/* A configured daemon is used only when it answers. */
		snprintf(derived, sizeof derived, "http://%s", cli->cfg.http.listen);
		cli->url = derived;
		cli->remote = call(cli, "GET", "/healthz", NULL, NULL, 0, 500, &a, why, sizeof why) == 200;
		if (!cli->remote)
			cli->url = NULL;
		free(a.data);
	}
	return cli->remote;
}

int nu_cli_api(nu_cli *cli, const char *method, const char *path, const char *content_type,
	       const char *body, size_t len, json_t **out)
{
	return nu_cli_api_wait(cli, method, path, content_type, body, len, 60000, out);
}

int nu_cli_api_wait(nu_cli *cli, const char *method, const char *path, const char *content_type,
		    const char *body, size_t len, long timeout_ms, json_t **out)
{
	answer a = { 0 };
	char why[CURL_ERROR_SIZE] = "";
	int status = call(cli, method, path, content_type, body, len, timeout_ms, &a, why, sizeof why);

	*out = NULL;
	if (status < 0) {
		nu_cli_fail("cannot reach the daemon at %s: %s", cli->url, why);
	} else if (a.data) {
		*out = json_loadb(a.data, a.len, 0, NULL);
	}
	free(a.data);
	return status;
}

int nu_cli_api_fail(int status, json_t *answer)
{
	json_t *e = json_object_get(answer, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));

	if (status < 0)
		return NU_EXIT_FAIL;   /* already said */
	nu_cli_fail("%s (HTTP %d)", msg ? msg : "the daemon refused the request", status);
	json_decref(answer);
	return NU_EXIT_FAIL;
}

char *nu_cli_escape(const char *segment)
{
	char *e = curl_easy_escape(NULL, segment, 0), *copy = e ? strdup(e) : NULL;

	curl_free(e);
	return copy;
}
