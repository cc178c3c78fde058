/*
 * email.c — the "email" channel plugin: renders a template for the lead,
 * builds the MIME message (tracking links, open pixel, one-click
 * unsubscribe, VERP envelope sender) and submits it over SMTP through the
 * host's mail client on the daemon's loop.
 *
 * Outcomes, from the server's last reply: 250 → sent; 5xx → refused, never
 * retried (a synchronous hard bounce); 4xx or no connection → retried
 * later by the host; a message sent (354) whose verdict never came → in
 * doubt, recorded unknown and never re-sent blindly. Each outcome is also
 * reported as an event of the lead (email.sent, email.bounced {kind},
 * email.send_unknown) so flows and rules can react.
 *
 * Templates come from a catalog (catalog.h) that parses each once and
 * keeps it until its file changes. The channel's check op runs the
 * catalog's check: when a flow is deployed, for every send its source
 * writes out, and before each send is queued, so a message its template
 * cannot be filled from fails at once and never reaches the server.
 *
 * Settings (plugins.email in nurture.conf.lua): smtp_url, smtp_user,
 * smtp_password, smtp_cainfo, smtp_require_tls (default true), from,
 * from_name, templates (folder of <name>.tmpl), domain (Message-ID and
 * VERP), tracking ("false" turns it off; it is on whenever the daemon has
 * http.tracking_key), timeout_ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <nurture/plugin.h>
#include "catalog.h"
#include "mime.h"
#include "template.h"
#include "tracking.h"

static const nu_host_api *host;

struct settings {
	const char *smtp_url, *user, *password, *cainfo, *from, *from_name, *templates, *domain;
	int track;              /* tracking = "false" turns it off */
	int require_tls;
	long timeout_ms;
};

struct channel {
	nu_plugin *p;
	struct settings s;
	email_catalog *catalog;  /* the templates, parsed once each */
	int tracking;           /* -1 not known yet, else whether the daemon signs URLs */
};

/* One submission waiting for its answer. */
struct pending {
	struct channel *ch;
	int64_t op_id, lead_id;
	char message_id[300];
};

static struct channel the_channel;

static int required(nu_plugin *p, const char *key, const char **out, char *err, size_t n)
{
	if (!(*out = host->config_get(p, key)) || !**out) {
		snprintf(err, n, "plugins.email.%s is required", key);
		return -1;
	}
	return 0;
}

static int read_settings(nu_plugin *p, struct settings *s, char *err, size_t n)
{
	const char *tls, *timeout;

	if (required(p, "smtp_url", &s->smtp_url, err, n) < 0 || required(p, "from", &s->from, err, n) < 0 ||
	    required(p, "templates", &s->templates, err, n) < 0 ||
	    required(p, "domain", &s->domain, err, n) < 0)
		return -1;
	s->user = host->config_get(p, "smtp_user");
	s->password = host->config_get(p, "smtp_password");
	s->cainfo = host->config_get(p, "smtp_cainfo");
	s->from_name = host->config_get(p, "from_name");
	const char *track = host->config_get(p, "tracking");
	s->track = !track || strcmp(track, "false");
	tls = host->config_get(p, "smtp_require_tls");
	s->require_tls = !tls || strcmp(tls, "false");
	timeout = host->config_get(p, "timeout_ms");
	s->timeout_ms = timeout ? strtol(timeout, NULL, 10) : 0;
	return 0;
}

static void complete(struct channel *ch, int64_t op_id, nu_send_status status,
		     const char *provider_id, const char *error)
{
	nu_send_result r = { sizeof r, status, provider_id, error };
	host->send_complete(ch->p, op_id, &r);
}

static void report(struct channel *ch, int64_t lead, const char *type, int64_t op_id,
		   const char *kind, int code)
{
	char props[160], key[64];

	snprintf(props, sizeof props, "{\"op_id\":%lld%s%s%s,\"code\":%d}", (long long)op_id,
		 kind ? ",\"kind\":\"" : "", kind ? kind : "", kind ? "\"" : "", code);
	snprintf(key, sizeof key, "%s-%lld", type, (long long)op_id);
	host->emit_event(ch->p, lead, type, props, key);
}

static void on_submitted(void *ud, const nu_http_resp *r)
{
	struct pending *w = ud;
	struct channel *ch = w->ch;
	char why[400];
	int code = r->reply_code;

	if (r->status == 250) {
		complete(ch, w->op_id, NU_SEND_OK, w->message_id, NULL);
		report(ch, w->lead_id, "email.sent", w->op_id, NULL, 250);
	} else if (code >= 500 && code < 600) {
		snprintf(why, sizeof why, "refused by the server (%d): %s", code, r->error ? r->error : "");
		complete(ch, w->op_id, NU_SEND_EPERM, NULL, why);
		report(ch, w->lead_id, "email.bounced", w->op_id, "hard", code);
	} else if (code == 354) {
		/* DATA was sent; the verdict never came: the server may have it. */
		snprintf(why, sizeof why, "no answer after the message was sent: %s", r->error ? r->error : "");
		complete(ch, w->op_id, NU_SEND_EUNKNOWN, w->message_id, why);
		report(ch, w->lead_id, "email.send_unknown", w->op_id, NULL, code);
	} else {
		snprintf(why, sizeof why, "try later (%d): %s", code, r->error ? r->error : "");
		complete(ch, w->op_id, NU_SEND_ETEMP, NULL, why);
		if (code >= 400)
			report(ch, w->lead_id, "email.bounced", w->op_id, "soft", code);
	}
	free(w);
}

/* The template's values: the message's own fields, and the lead as lead.* */
static json_t *values_for(struct channel *ch, const nu_message *m, json_t *msg)
{
	json_t *values = json_deep_copy(msg), *lead = json_object();
	char buf[1024];

	for (const char *const *f = email_lead_fields; *f; f++)
		if (host->lead_field(ch->p, m->lead_id, *f, buf, sizeof buf) >= 0)
			json_object_set_new(lead, *f, json_string(buf));
	json_object_set_new(values, "lead", lead);
	return values;
}

static int host_url(void *ud, int kind, int64_t op_id, int link, const char *url, char *out,
		    size_t outlen)
{
	return host->track_url(ud, kind, op_id, link, url, out, outlen);
}

/* Whether the daemon signs tracking URLs (http.tracking_key is set): asked
 * once, at the first send, since the daemon's setting does not change. */
static int tracking_on(struct channel *ch)
{
	char probe[EMAIL_URL_MAX];

	if (ch->tracking < 0)
		ch->tracking = ch->s.track &&
			       host->track_url(ch->p, EMAIL_TRACK_OPEN, 1, 0, NULL, probe, sizeof probe) > 0;
	return ch->tracking;
}

/* Adds tracking to the HTML: rewritten links and the open pixel. */
static char *tracked_html(struct channel *ch, int64_t op_id, const char *html, char *unsub,
			  size_t unsub_len, char *err, size_t n)
{
	email_tracker tr = { host_url, ch->p };
	email_links links = { 0 };
	char *linked, *pixel;

	unsub[0] = '\0';
	if (!tracking_on(ch)) {
		char *copy = malloc(strlen(html) + 1);   /* plain C: plugins build without _GNU_SOURCE */
		return copy ? strcpy(copy, html) : NULL;
	}
	if (!(linked = email_track_links(&tr, op_id, html, &links, err, n)))
		return NULL;
	email_links_free(&links);
	pixel = email_track_pixel(&tr, op_id, linked, err, n);
	free(linked);
	if (pixel && email_unsub_url(unsub, unsub_len, &tr, op_id) < 0)
		unsub[0] = '\0';
	return pixel;
}

/* Everything up to the submission; a failure here is permanent. */
static int build(struct channel *ch, const nu_message *m, const char *to, char **out, size_t *len,
		 char *message_id, size_t idlen, char *err, size_t n)
{
	json_t *msg = json_loads(m->json, 0, NULL), *values = NULL;
	const char *name = json_string_value(json_object_get(msg, "template"));
	const email_template *t = NULL;
	email_rendered r = { 0 };
	char unsub[EMAIL_URL_MAX], lead_name[256] = "", *html = NULL;
	int rc = -1;

	if (!name) {
		snprintf(err, n, "the message names no template (send(\"email\", { template = … }))");
		goto out;
	}
	if (email_catalog_get(ch->catalog, name, &t, err, n) < 0)
		goto out;
	values = values_for(ch, m, msg);
	if (email_template_render(t, values, &r, err, n) < 0)
		goto out;
	if (r.html && !(html = tracked_html(ch, m->op_id, r.html, unsub, sizeof unsub, err, n)))
		goto out;
	host->lead_field(ch->p, m->lead_id, "name", lead_name, sizeof lead_name);
	email_message em = {
		.from = { ch->s.from_name, ch->s.from }, .to = { lead_name, to },
		.subject = r.subject, .text = r.text, .html = html, .op_id = m->op_id,
		.domain = ch->s.domain, .date_ms = host->now(ch->p),
		.unsub_url = html && unsub[0] ? unsub : NULL,
	};
	email_message_id(message_id, idlen, m->op_id, ch->s.domain);
	if ((*out = email_build(&em, len, err, n)))
		rc = 0;
out:
	free(html);
	email_rendered_free(&r);
	json_decref(values);
	json_decref(msg);
	return rc;
}

static int email_send(void *state, const nu_message *m)
{
	struct channel *ch = state;
	char to[256], err[600], envelope[EMAIL_VERP_MAX], *text = NULL;
	struct pending *w;
	size_t len;

	if (host->lead_field(ch->p, m->lead_id, "email", to, sizeof to) < 0) {
		complete(ch, m->op_id, NU_SEND_EPERM, NULL, "the lead has no email address");
		return 0;
	}
	if (!(w = calloc(1, sizeof *w)))
		return -1;
	*w = (struct pending){ ch, m->op_id, m->lead_id, "" };
	if (build(ch, m, to, &text, &len, w->message_id, sizeof w->message_id, err, sizeof err) < 0) {
		free(w);
		complete(ch, m->op_id, NU_SEND_EPERM, NULL, err);
		return 0;
	}
	email_verp(envelope, sizeof envelope, m->op_id, ch->s.domain);
	const char *rcpt[] = { to, NULL };
	nu_mail_req req = { sizeof req, ch->s.smtp_url, envelope, rcpt, text, len, ch->s.user,
			    ch->s.password, ch->s.cainfo, ch->s.require_tls, ch->s.timeout_ms };
	int rc = host->mail_submit(ch->p, &req, on_submitted, w, NULL);
	free(text);
	if (rc < 0) {
		free(w);
		complete(ch, m->op_id, NU_SEND_ETEMP, NULL, "could not start the SMTP submission");
	}
	return 0;
}

static int email_init(nu_plugin *p, void **state, char *err, size_t n)
{
	the_channel.p = p;
	the_channel.tracking = -1;
	if (read_settings(p, &the_channel.s, err, n) < 0)
		return -1;
	if (!(the_channel.catalog = email_catalog_new(the_channel.s.templates))) {
		snprintf(err, n, "out of memory");
		return -1;
	}
	*state = &the_channel;
	return 0;
}

static void email_fini(void *state)
{
	struct channel *ch = state;

	email_catalog_free(ch->catalog);
	ch->catalog = NULL;
}

/* The template exists, parses, and the message fills every variable. */
static int email_check(void *state, const char *message_json, char *err, size_t n)
{
	struct channel *ch = state;

	return email_catalog_check(ch->catalog, message_json, err, n);
}

static int email_health(void *state, char *buf, size_t len)
{
	struct channel *ch = state;
	snprintf(buf, len, "smtp %s", ch->s.smtp_url);
	return 0;
}

static const nu_channel_ops email_channel = {
	.struct_size = sizeof(nu_channel_ops), .name = "email", .flags = 0,
	.init = email_init, .fini = email_fini, .send = email_send, .health = email_health,
	.check = email_check,
};

static int email_load(nu_plugin *p, const nu_host_api *h, char *err, size_t n)
{
	host = h;
	if (h->struct_size < offsetof(nu_host_api, mail_submit) + sizeof h->mail_submit) {
		snprintf(err, n, "this nurture's host has no mail client");
		return -1;
	}
	return h->register_channel(p, &email_channel);
}

static const nu_plugin_desc desc = {
	.struct_size = sizeof(nu_plugin_desc), .abi_major = NU_PLUGIN_ABI_MAJOR,
	.abi_minor = NU_PLUGIN_ABI_MINOR, .name = "email", .version = "0.1", .load = email_load,
};

NU_EXPORT const nu_plugin_desc *nurture_plugin_entry(void)
{
	return &desc;
}
