/*
 * json_text.h — compact JSON text for values the core builds itself.
 *
 * jansson's json_dumps guards against reference cycles by formatting the
 * address of every container into a hash table, which made it a seventh of
 * the cost of importing a lead. The trees written here (attribute history,
 * custom fields, event properties) are built by the core and cannot hold a
 * cycle, so a direct writer is safe and several times cheaper. Output is
 * compact JSON that jansson and SQLite's json functions read back.
 */
#ifndef NU_JSON_TEXT_H
#define NU_JSON_TEXT_H

#include <jansson.h>

/* Returns malloc'd compact JSON for `v` (any type), or NULL on OOM or for
 * a tree nested deeper than 64 levels. The caller frees it with free(). */
char *nu_json_text(const json_t *v);

/* Parses stored JSON text; JSON null for NULL or unreadable text (used
 * when showing stored rows, where one damaged row must not hide the rest). */
json_t *nu_json_parse_or_null(const char *text);

#endif
