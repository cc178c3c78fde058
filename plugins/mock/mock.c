/*
 * mock.c — the "mock" channel: records nothing itself (the outbox is the
 * record) and completes each send at once with a scripted outcome, so
 * tests and demos exercise the whole plugin path: the loader, the host
 * table, the engine's dispatch and send_complete.
 *
 * The outcome comes from the message's "mock_outcome" field ("ok", "temp",
 * "temp_once" — temporary on the first try only —, "perm", "unknown"), else
 * from the config key default_outcome (plugins.mock in nurture.conf.lua),
 * else "ok". A delivered message is reported back as a "mock.delivered"
 * event {op_id, channel, attempt} (deduplicated by op id), the way a real
 * channel reports provider receipts. Built with -fvisibility=hidden: only
 * the entry symbol is exported.
 *
 * The config key channels ("wechat,sms,wecom") makes the mock stand in for
 * those channels too, each behaving as "mock" does: the demo sends the
 * example flows' WeChat, SMS and WeCom messages through the whole plugin
 * path while only email has a real plugin.
 *
 * It also receives callbacks the way a real provider integration does:
 * POST /hooks/mock/events signed per Standard Webhooks v1 (webhook-id,
 * webhook-timestamp, webhook-signature "v1,<base64 HMAC-SHA256 of
 * id.timestamp.body>" with the key from plugins.mock.webhook_secret,
 * "whsec_<base64>"). The body {"type": "mock.<x>", "email": "…",
 * "data": {…}} becomes a mock.<x> event of that lead, deduplicated by
 * webhook-id; a bad signature or a stale timestamp is refused with 401.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <nurture/plugin.h>

#define TOLERANCE_MS (5 * 60 * 1000)

static const nu_host_api *host;

static nu_send_status outcome_of(const nu_message *m, const char *dflt)
{
	const char *v = strstr(m->json, "\"mock_outcome\":\"");
	const char *o = v ? v + 16 : dflt;

	if (!o)
		return NU_SEND_OK;
	if (!strncmp(o, "temp_once", 9))   /* a provider hiccup: the retry goes through */
		return m->attempt > 1 ? NU_SEND_OK : NU_SEND_ETEMP;
	if (!strncmp(o, "temp", 4))
		return NU_SEND_ETEMP;
	if (!strncmp(o, "perm", 4))
		return NU_SEND_EPERM;
	if (!strncmp(o, "unknown", 7))
		return NU_SEND_EUNKNOWN;
	return NU_SEND_OK;
}

static int mock_init(nu_plugin *p, void **state, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	*state = p;
	return 0;
}

static int mock_send(void *state, const nu_message *m)
{
	nu_plugin *p = state;
	char provider_id[340], email[256] = "", props[112], key[48];
	nu_send_result r = { sizeof r, outcome_of(m, host->config_get(p, "default_outcome")),
			     provider_id, NULL };

	/* The address comes from the lead, as a real channel's would. */
	if (host->lead_field(p, m->lead_id, "email", email, sizeof email) < 0)
		snprintf(email, sizeof email, "no-email");
	snprintf(provider_id, sizeof provider_id, "mock-%lld-%s", (long long)m->op_id, email);
	if (r.status == NU_SEND_EPERM)
		r.error = "the mock was told to fail this one";
	host->send_complete(p, m->op_id, &r);
	if (r.status == NU_SEND_OK) {
		snprintf(props, sizeof props, "{\"op_id\":%lld,\"channel\":\"%s\",\"attempt\":%u}",
			 (long long)m->op_id, m->channel, (unsigned)m->attempt);
		snprintf(key, sizeof key, "mock-delivered-%lld", (long long)m->op_id);
		host->emit_event(p, m->lead_id, "mock.delivered", props, key);
	}
	return 0;
}

static int mock_health(void *state, char *buf, size_t len)
{
	(void)state;
	(void)buf;
	(void)len;
	return 0;
}

/* ---- Standard Webhooks receiver ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(const unsigned char *s, size_t n, char *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0) |
			     (i + 2 < n ? s[i + 2] : 0);
		out[k++] = b64[v >> 18];
		out[k++] = b64[v >> 12 & 63];
		out[k++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[k++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[k] = '\0';
}

/* Padded base64 into out[cap]; the length, or -1. */
static long b64_decode(const char *s, unsigned char *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t k = 0;

	for (; *s && *s != '='; s++) {
		const char *p = strchr(b64, *s);
		if (!p || k >= cap)
			return -1;
		acc = acc << 6 | (uint32_t)(p - b64);
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[k++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)k;
}

static int reply(nu_webhook_resp *resp, int status, const char *msg)
{
	resp->status = status;
	resp->body_len = (size_t)snprintf(resp->body, resp->body_cap, status < 300 ? "{\"ok\":\"%s\"}" :
					  "{\"error\":\"%s\"}", msg);
	return 0;
}

/* Whether any v1 signature in the header matches. */
static int signature_ok(nu_plugin *p, const nu_webhook_req *req, const char *id, const char *ts,
			const char *sigs)
{
	const char *secret = host->config_get(p, "webhook_secret");
	unsigned char key[128], mac[32];
	char want[48], *signed_text;
	long keylen;
	int ok = 0;

	if (!secret || strncmp(secret, "whsec_", 6) || (keylen = b64_decode(secret + 6, key, sizeof key)) < 16)
		return 0;
	size_t n = strlen(id) + strlen(ts) + 2 + req->body_len;
	if (!(signed_text = malloc(n + 1)))
		return 0;
	int head = snprintf(signed_text, n + 1, "%s.%s.", id, ts);
	memcpy(signed_text + head, req->body, req->body_len);
	if (host->hmac_sha256(key, (size_t)keylen, signed_text, n, mac) == 0) {
		b64_encode(mac, sizeof mac, want);
		for (const char *v = strstr(sigs, "v1,"); v; v = strstr(v + 3, "v1,")) {
			size_t len = strcspn(v + 3, " ");
			ok |= len == strlen(want) && !CRYPTO_memcmp(v + 3, want, len);
		}
	}
	free(signed_text);
	return ok;
}

static int mock_webhook(void *ud, const nu_webhook_req *req, nu_webhook_resp *resp)
{
	nu_plugin *p = ud;
	const char *id = host->webhook_header(req, "webhook-id"),
		   *ts = host->webhook_header(req, "webhook-timestamp"),
		   *sig = host->webhook_header(req, "webhook-signature");
	nu_lead_id lead;

	if (strcmp(req->method, "POST") || strcmp(req->path, "/events"))
		return reply(resp, 404, "POST /hooks/mock/events");
	if (!id || !ts || !sig || !signature_ok(p, req, id, ts, sig))
		return reply(resp, 401, "bad signature");
	/* The wall clock, not host->now: the store's clock may be simulated,
	 * the provider's timestamp never is. */
	long long at = strtoll(ts, NULL, 10) * 1000, now = (long long)time(NULL) * 1000;
	if (at < now - TOLERANCE_MS || at > now + TOLERANCE_MS)
		return reply(resp, 401, "timestamp outside the 5 minute tolerance");
	json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
	const char *type = json_string_value(json_object_get(body, "type")),
		   *email = json_string_value(json_object_get(body, "email"));
	json_t *data = json_object_get(body, "data");
	int rc = 0;
	if (!type || strncmp(type, "mock.", 5) || !email || (data && !json_is_object(data)))
		rc = reply(resp, 400, "want {type: mock.*, email, data?}");
	else if (host->lead_by_identity(p, "email", email, &lead) < 0)
		rc = reply(resp, 200, "ignored: no such lead");   /* a 4xx would only make it retry */
	else {
		char *props = data ? json_dumps(data, JSON_COMPACT) : NULL;
		rc = host->emit_event(p, lead, type, props, id) < 0 ? -1 : reply(resp, 200, "recorded");
		free(props);
	}
	json_decref(body);
	return rc;
}

static const nu_channel_ops mock_channel = {
	.struct_size = sizeof(nu_channel_ops), .name = "mock", .flags = NU_CHANNEL_IDEMPOTENT,
	.init = mock_init, .send = mock_send, .health = mock_health,
};

/* A channel name the mock may take: 1 to 31 of [a-z0-9_-] (it goes into
 * event props as it is). */
static int good_name(const char *s, size_t n)
{
	if (!n || n > 31)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return 0;
	return 1;
}

/* plugins.mock.channels: "wechat,sms,wecom" (spaces allowed). The host
 * copies the ops and the name, so one stack copy serves each. */
static int register_more(nu_plugin *p, const nu_host_api *h, char *err, size_t errlen)
{
	const char *list = h->config_get(p, "channels");
	char name[32];

	for (const char *s = list; s && *s;) {
		s += strspn(s, " ,");
		size_t n = strcspn(s, " ,");
		if (!n)
			break;
		if (!good_name(s, n)) {
			snprintf(err, errlen, "plugins.mock.channels: '%.*s' is not a channel name "
				 "(1 to 31 of a-z, 0-9, _ and -)", (int)(n > 64 ? 64 : n), s);
			return -1;
		}
		memcpy(name, s, n);
		name[n] = '\0';
		nu_channel_ops ops = mock_channel;
		ops.name = name;
		if (strcmp(name, "mock") && h->register_channel(p, &ops) < 0) {
			snprintf(err, errlen, "plugins.mock.channels: could not register '%s' (at most 7)", name);
			return -1;
		}
		s += n;
	}
	return 0;
}

static int mock_load(nu_plugin *p, const nu_host_api *h, char *err, size_t errlen)
{
	host = h;
	if (h->register_channel(p, &mock_channel) < 0) {
		snprintf(err, errlen, "could not register the mock channel");
		return -1;
	}
	if (register_more(p, h, err, errlen) < 0)
		return -1;
	if (h->register_webhook(p, mock_webhook, p) < 0) {
		snprintf(err, errlen, "could not register the webhook");
		return -1;
	}
	return 0;
}

static const nu_plugin_desc desc = {
	.struct_size = sizeof(nu_plugin_desc), .abi_major = NU_PLUGIN_ABI_MAJOR,
	.abi_minor = NU_PLUGIN_ABI_MINOR, .name = "mock", .version = "1.0", .load = mock_load,
};

NU_EXPORT const nu_plugin_desc *nurture_plugin_entry(void)
{
	return &desc;
}
