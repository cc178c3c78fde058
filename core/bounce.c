/*
 * bounce.c — reading bounce messages.
 *
 * What is read: the VERP recipient "bounce+<op_id>@…" wherever it appears
 * (Delivered-To, X-Original-To, To, or the body of a forwarded bounce);
 * the "Status:" field of the DSN's per-recipient part (5.x.x is hard, 4.x.x
 * soft), falling back to the first SMTP reply code in the text; and the
 * "Diagnostic-Code:" line for the record. The op id is only trusted if the
 * outbox has that send.
 */
#include <ctype.h>
#include <string.h>
#include <jansson.h>
#include "bounce.h"
#include "ingest.h"

static int64_t find_op(const char *text, size_t len)
{
	for (const char *p = text; p + 8 < text + len; p++) {
		if (strncasecmp(p, "bounce+", 7))
			continue;
		const char *d = p + 7;
		int64_t op = 0;
		while (d < text + len && isdigit((unsigned char)*d) && op < (INT64_MAX / 10 - 9))
			op = op * 10 + (*d++ - '0');
		if (d > p + 7 && d < text + len && *d == '@')
			return op;
	}
	return 0;
}

/* The value of the first "Name: value" line (case-insensitive name). */
static void field(const char *text, size_t len, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	out[0] = '\0';
	for (const char *p = text; p < text + len; ) {
		const char *eol = memchr(p, '\n', (size_t)(text + len - p));
		if (!eol)
			eol = text + len;
		if ((size_t)(eol - p) > n && !strncasecmp(p, name, n) && p[n] == ':') {
			const char *v = p + n + 1;
			while (v < eol && isspace((unsigned char)*v))
				v++;
			size_t vl = (size_t)(eol - v);
			while (vl && isspace((unsigned char)v[vl - 1]))
				vl--;
			snprintf(out, outlen, "%.*s", (int)vl, v);
			return;
		}
		p = eol + 1;
	}
}

/* "5.1.1" from Status:, else from the first 4xx/5xx reply code seen. */
static void status_of(const char *text, size_t len, char *out, size_t outlen)
{
	field(text, len, "Status", out, outlen);
	if (out[0])
		return;
	for (const char *p = text; p + 4 < text + len; p++)
		if ((*p == '4' || *p == '5') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
		    (p[3] == ' ' || p[3] == '-') && (p == text || !isalnum((unsigned char)p[-1]))) {
			snprintf(out, outlen, "%c.0.0", *p);
			return;
		}
}

static int send_of(nu_store *s, int64_t op_id, nu_bounce *b, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT channel, lead_id FROM outbox WHERE op_id = ?", err);
	int found;

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, op_id);
	if ((found = sqlite3_step(st) == SQLITE_ROW)) {
		snprintf(b->channel, sizeof b->channel, "%s", sqlite3_column_text(st, 0));
		b->lead_id = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return found ? NU_OK : nu_error_set(err, NU_ENOTFOUND,
		"the bounce names send %lld, which this database never made", (long long)op_id);
}

int nu_bounce_ingest(nu_store *s, const char *text, size_t len, nu_bounce *b, nu_error *err)
{
	nu_ingest_result res;
	char type[48], key[64];
	json_t *rec;
	int rc;

	memset(b, 0, sizeof *b);
	if (!(b->op_id = find_op(text, len)))
		return nu_error_set(err, NU_EINVAL,
			"no VERP address (bounce+<op>@…) in the message: not a bounce of ours");
	status_of(text, len, b->status, sizeof b->status);
	if (!b->status[0])
		return nu_error_set(err, NU_EINVAL, "send %lld: no Status: field and no SMTP reply code",
				    (long long)b->op_id);
	snprintf(b->kind, sizeof b->kind, "%s", b->status[0] == '5' ? "hard" : "soft");
	field(text, len, "Diagnostic-Code", b->diagnostic, sizeof b->diagnostic);
	if ((rc = send_of(s, b->op_id, b, err)) < 0)
		return rc;
	snprintf(type, sizeof type, "%s.bounced", b->channel);
	snprintf(key, sizeof key, "nu:dsn-%lld-%s", (long long)b->op_id, b->status);
	rec = json_pack("{s:I,s:s,s:{s:s,s:s,s:s,s:I},s:s}", "lead_id", (json_int_t)b->lead_id, "type", type,
			"props", "kind", b->kind, "status", b->status, "diagnostic", b->diagnostic,
			"op_id", (json_int_t)b->op_id, "dedupe_key", key);
	rc = nu_ingest_event(s, rec, "bounce", &res, err);
	json_decref(rec);
	b->event_id = res.event_id;
	b->duplicate = res.duplicate;
	return rc;
}
