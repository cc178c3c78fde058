/* A plugin built for an ABI major this nurture does not speak. */
#include <nurture/plugin.h>

static int load(nu_plugin *p, const nu_host_api *h, char *err, size_t n)
{
	(void)p; (void)h; (void)err; (void)n;
	return 0;
}

static const nu_plugin_desc desc = { sizeof(nu_plugin_desc), 99, 0, "future", "9.0", load, NULL };

NU_EXPORT const nu_plugin_desc *nurture_plugin_entry(void) { return &desc; }
