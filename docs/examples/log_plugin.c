/*
 * log_plugin.c — a minimal nurture channel plugin: the "log" channel
 * writes each message to the daemon log and reports it sent.
 *
 * It shows the whole contract: the one exported entry symbol, a const
 * descriptor, load() registering a channel through the host table, the
 * channel's state made in init() and freed in fini(), send() completing
 * every op exactly once, and a setting read from the plugin's section of
 * nurture.conf.lua:
 *
 *   plugins = { dir = "plugins", log = { prefix = "outbound" } }
 *
 * Build it out of tree and load it (see docs/plugins.md):
 *
 *   cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags nurture-plugin) -o log.so log_plugin.c
 *   chmod 0755 log.so
 *   nurture plugins --dir .
 */
#include <stdio.h>
#include <stdlib.h>
#include <nurture/plugin.h>

/* The host table: valid from load() until the plugin is unloaded. */
static const nu_host_api *host;

/* One channel's state: made by init, freed by fini (whoever allocates frees). */
struct log_channel {
	nu_plugin  *plugin;
	const char *prefix;   /* plugins.log.prefix: borrowed until unload */
};

static int log_init(nu_plugin *p, void **state, char *err, size_t errlen)
{
	struct log_channel *c = calloc(1, sizeof *c);

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->plugin = p;
	c->prefix = host->config_get(p, "prefix");
	if (!c->prefix)
		c->prefix = "send";
	*state = c;
	return 0;
}

static void log_fini(void *state)
{
	free(state);
}

/* Must not block. Completes at once here; a real channel starts its
 * request and calls send_complete from the loop when the answer comes. */
static int log_send(void *state, const nu_message *m)
{
	struct log_channel *c = state;
	char provider_id[32];
	nu_send_result r = { sizeof r, NU_SEND_OK, provider_id, NULL };

	host->log(c->plugin, NU_PLOG_INFO, "%s op %lld lead %lld on %s: %s", c->prefix,
		  (long long)m->op_id, (long long)m->lead_id, m->channel, m->json);
	snprintf(provider_id, sizeof provider_id, "log-%lld", (long long)m->op_id);
	host->send_complete(c->plugin, m->op_id, &r);   /* the host copies what it keeps */
	return 0;
}

static int log_health(void *state, char *buf, size_t len)
{
	(void)state;
	(void)buf;
	(void)len;
	return 0;   /* a log cannot be down */
}

static const nu_channel_ops log_channel = {
	.struct_size = sizeof(nu_channel_ops),
	.name = "log",
	.flags = 0,
	.init = log_init,
	.fini = log_fini,
	.send = log_send,
	.health = log_health,
};

static int log_load(nu_plugin *p, const nu_host_api *h, char *err, size_t errlen)
{
	host = h;
	if (h->register_channel(p, &log_channel) < 0) {
		snprintf(err, errlen, "could not register the log channel");
		return -1;
	}
	return 0;
}

static void log_unload(nu_plugin *p)
{
	(void)p;
	host = NULL;
}

static const nu_plugin_desc desc = {
	.struct_size = sizeof(nu_plugin_desc),
	.abi_major = NU_PLUGIN_ABI_MAJOR,
	.abi_minor = NU_PLUGIN_ABI_MINOR,
	.name = "log",
	.version = "1.0",
	.load = log_load,
	.unload = log_unload,
};

/* The one exported symbol. */
NU_EXPORT const nu_plugin_desc *nurture_plugin_entry(void)
{
	return &desc;
}
