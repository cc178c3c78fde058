/* An entry symbol that returns no descriptor. */
#include <stddef.h>
#include <nurture/plugin.h>

NU_EXPORT const nu_plugin_desc *nurture_plugin_entry(void) { return NULL; }
