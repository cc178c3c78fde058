/* A plugin built against the 1.1 headers: its descriptor begins with
 * abi_major, abi_minor and has no struct_size. Refused with the version it
 * was built for, not misread as a 2.0 descriptor. */
#include <stddef.h>
#include <stdint.h>
#include <nurture/plugin.h>

struct desc_1_1 {
	uint32_t abi_major, abi_minor;
	const char *name, *version;
	int  (*load)(nu_plugin *p, const nu_host_api *host, char *err, size_t errlen);
	void (*unload)(nu_plugin *p);
};

static int load(nu_plugin *p, const nu_host_api *h, char *err, size_t n)
{
	(void)p; (void)h; (void)err; (void)n;
	return 0;
}

static const struct desc_1_1 desc = { 1, 1, "old", "1.1", load, NULL };

NU_EXPORT const nu_plugin_desc *nurture_plugin_entry(void)
{
	return (const nu_plugin_desc *)(const void *)&desc;
}
