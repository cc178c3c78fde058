/* Registers a channel, then fails its load: the channel must not stay. */
#include <stdio.h>
#include <nurture/plugin.h>

static int never_send(void *state, const nu_message *m)
{
	(void)state; (void)m;
	return -1;
}

static const nu_channel_ops ch = { .struct_size = sizeof(nu_channel_ops), .name = "failchan",
				   .send = never_send };

static int load(nu_plugin *p, const nu_host_api *h, char *err, size_t n)
{
	h->register_channel(p, &ch);
	snprintf(err, n, "refused on purpose after registering failchan");
	return -1;
}

static const nu_plugin_desc desc = { sizeof(nu_plugin_desc), NU_PLUGIN_ABI_MAJOR,
				     NU_PLUGIN_ABI_MINOR, "failing", "1.0", load, NULL };

NU_EXPORT const nu_plugin_desc *nurture_plugin_entry(void) { return &desc; }
