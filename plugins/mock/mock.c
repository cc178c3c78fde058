/*
 * mock.c — the "mock" channel: records nothing itself (the outbox is the
 * record) and completes each send at once with a scripted outcome, so
 * tests and demos exercise the whole plugin path: the loader, the host
 * table, the engine's dispatch and send_complete.
 *
 * The outcome comes from the message's "mock_outcome" field ("ok", "temp",
 * "perm", "unknown"), else from the config key default_outcome (plugins.mock
 * in nurture.conf.lua), else "ok". A delivered message is reported back as a
 * "mock.delivered" event (deduplicated by op id), the way a real channel
 * reports provider receipts. Built with -fvisibility=hidden: only the entry
 * symbol is exported.
 */
#include <stdio.h>
#include <string.h>
#include <nurture/plugin.h>

static const nu_host_api *host;

static nu_send_status outcome_of(const char *json, const char *dflt)
{
	const char *v = strstr(json, "\"mock_outcome\":\"");
	const char *o = v ? v + 16 : dflt;

	if (!o)
		return NU_SEND_OK;
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
	char provider_id[340], email[256] = "", props[64], key[48];
	nu_send_result r = { sizeof r, outcome_of(m->json, host->config_get(p, "default_outcome")),
			     provider_id, NULL };

	/* The address comes from the lead, as a real channel's would. */
	if (host->lead_field(p, m->lead_id, "email", email, sizeof email) < 0)
		snprintf(email, sizeof email, "no-email");
	snprintf(provider_id, sizeof provider_id, "mock-%lld-%s", (long long)m->op_id, email);
	if (r.status == NU_SEND_EPERM)
		r.error = "the mock was told to fail this one";
	host->send_complete(p, m->op_id, &r);
	if (r.status == NU_SEND_OK) {
		snprintf(props, sizeof props, "{\"op_id\":%lld}", (long long)m->op_id);
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

static const nu_channel_ops mock_channel = {
	.struct_size = sizeof(nu_channel_ops), .name = "mock", .flags = NU_CHANNEL_IDEMPOTENT,
	.init = mock_init, .send = mock_send, .health = mock_health,
};

static int mock_load(nu_plugin *p, const nu_host_api *h, char *err, size_t errlen)
{
	host = h;
	if (h->register_channel(p, &mock_channel) < 0) {
		snprintf(err, errlen, "could not register the mock channel");
		return -1;
	}
	return 0;
}

static const nu_plugin_desc desc = {
	NU_PLUGIN_ABI_MAJOR, NU_PLUGIN_ABI_MINOR, "mock", "1.0", mock_load, NULL,
};

NU_EXPORT const nu_plugin_desc *nurture_plugin_entry(void)
{
	return &desc;
}
