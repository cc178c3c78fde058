/* A descriptor whose struct_size stops short of load and unload (built
 * against other headers, or struct_size set by hand): refused before the
 * loader reads past it. */
#include <stddef.h>
#include <nurture/plugin.h>

static int load(nu_plugin *p, const nu_host_api *h, char *err, size_t n)
{
	(void)p; (void)h; (void)err; (void)n;
	return 0;
}

static const nu_plugin_desc desc = { offsetof(nu_plugin_desc, load), NU_PLUGIN_ABI_MAJOR,
				     NU_PLUGIN_ABI_MINOR, "small", "1.0", load, NULL };

NU_EXPORT const nu_plugin_desc *nurture_plugin_entry(void) { return &desc; }
