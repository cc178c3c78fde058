/*
 * mock.c — the "mock" channel: records nothing itself (the outbox is the
 * record) and completes each send at once with a scripted outcome, so
 * tests and demos exercise the whole plugin path: the loader, the host
 * table, the engine's dispatch and send_complete.
 *
 * The outcome comes from the message's "mock_outcome" field ("ok", "temp",
 * "perm", "unknown"), else from the config key default_outcome (plugins.mock
 * in nurture.conf.lua), else "ok". Built with -fvisibility=hidden: only the
 * entry symbol is exported.
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
	char provider_id[40];
	nu_send_result r = { sizeof r, outcome_of(m->json, host->config_get(p, "default_outcome")),
			     provider_id, NULL };

	snprintf(provider_id, sizeof provider_id, "mock-%lld", (long long)m->op_id);
	if (r.status == NU_SEND_EPERM)
		r.error = "the mock was told to fail this one";
	host->send_complete(p, m->op_id, &r);
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
