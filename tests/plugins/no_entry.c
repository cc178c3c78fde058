/* A shared object that is not a nurture plugin: no entry symbol. */
#include <nurture/plugin.h>

NU_EXPORT int something_else(void) { return 42; }
