/*
 * flow_check.c — a flow's literal sends against its channels' checks
 * (flow_check.h): scans each file of the bundle, hands every resolved
 * message to nu_plugins_check_message, and words the first failure with
 * the file and line of the send.
 */
#include <stdlib.h>
#include <string.h>
#include "flow_check.h"
#include "flow_scan.h"
#include "json_text.h"

struct checking {
	nu_plugins *r;
	nu_send_counts c;
	int failed;
	nu_send_problem_fn report;
	void *ud;
	nu_error *err;
};

/* send("email", template "x") or send("email"), for messages. */
static void describe(const nu_scan_send *s, char *out, size_t len)
{
	if (s->tmpl[0])
		snprintf(out, len, "send(\"%s\", template \"%s\")", s->channel, s->tmpl);
	else
		snprintf(out, len, "send(\"%s\")", s->channel);
}

static int check_one(struct checking *k, const char *file, const nu_scan_send *s)
{
	char why[400], what[200], *json;
	int rc;

	if (!s->message) {
		/* Unread: it matters only if its channel checks (or is unknown). */
		if (!s->channel[0] || nu_plugins_check_message(k->r, s->channel, NULL, why, sizeof why) == 0)
			k->c.unresolved++;
		else
			k->c.unchecked++;
		return NU_OK;
	}
	if (!(json = nu_json_text(s->message)))
		return nu_error_set(k->err, NU_ENOMEM, "out of memory");
	rc = nu_plugins_check_message(k->r, s->channel, json, why, sizeof why);
	free(json);
	if (rc > 0) {
		k->c.unchecked++;
	} else if (rc == 0) {
		k->c.checked++;
	} else {
		nu_error one;
		describe(s, what, sizeof what);
		nu_error_set(&one, NU_EINVAL, "%s:%d: %s: %s", file, s->line, what, why);
		if (!k->failed++ && k->err)
			*k->err = one;
		if (k->report)
			k->report(k->ud, one.msg);
	}
	return NU_OK;
}

int nu_flow_check_sends(nu_plugins *r, const nu_flow *f, nu_send_counts *counts,
			nu_send_problem_fn report, void *ud, nu_error *err)
{
	struct checking k = { .r = r, .report = report, .ud = ud, .err = err };
	const char *key;
	json_t *src;
	int rc = NU_OK;

	if (counts)
		memset(counts, 0, sizeof *counts);
	if (!r)
		return NU_OK;
	json_object_foreach(f->bundle, key, src) {
		const char *file = strcmp(key, "main") ? key : f->path;
		nu_scan s;
		if ((rc = nu_flow_scan(json_string_value(src), &s, err)) < 0)
			return rc;
		for (size_t i = 0; rc == NU_OK && i < s.n; i++)
			rc = check_one(&k, file, &s.sends[i]);
		nu_flow_scan_free(&s);
		if (rc < 0)
			return rc;
	}
	if (counts)
		*counts = k.c;
	if (k.failed > 1 && err) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof err->msg - n, " (and %d more send%s fail%s the check)",
			 k.failed - 1, k.failed == 2 ? "" : "s", k.failed == 2 ? "s" : "");
	}
	return k.failed ? NU_EINVAL : NU_OK;
}

void nu_send_counts_text(const nu_send_counts *c, char *out, size_t len)
{
	int n = snprintf(out, len, "%d send%s checked", c->checked, c->checked == 1 ? "" : "s");

	if (c->unresolved && n > 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, ", %d not checkable before run time", c->unresolved);
}
