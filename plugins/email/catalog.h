/*
 * catalog.h — the email plugin's templates by name, and the check of a
 * message against its template.
 *
 * A template is read and parsed once and kept until one of its files
 * (<dir>/<name>.tmpl, <dir>/<name>.txt) changes: each use costs two
 * stat() calls, no read. A template that fails to load is remembered
 * the same way, so a broken one is not re-read for every send either.
 *
 * The check is what the plugin's channel check op runs, at deploy time on
 * the message a flow's source writes out (values it cannot know are
 * NU_CHECK_PLACEHOLDER) and again on each real message as it is queued:
 * the message names a template, the template loads, and every variable is
 * filled (a message key, or a lead.<field> the plugin fills) or has a
 * default. Whether a particular lead has a company is not its business:
 * that is known only when the message is rendered.
 */
#ifndef EMAIL_CATALOG_H
#define EMAIL_CATALOG_H

#include <stddef.h>
#include "template.h"

typedef struct email_catalog email_catalog;

/* The lead fields the plugin fills as lead.<field>, NULL-terminated. */
extern const char *const email_lead_fields[];

/* A catalog of the templates in dir (copied). NULL when out of memory. */
email_catalog *email_catalog_new(const char *dir);
void email_catalog_free(email_catalog *c);

/* The template `name`, borrowed until the next call on c. 0, or -1 with
 * err: "bad template name 'x'", "tpl/x.tmpl: no such template file",
 * "tpl/x.tmpl:3: unclosed '{{'". */
int email_catalog_get(email_catalog *c, const char *name, const email_template **out,
		      char *err, size_t errlen);

/* How many times a template was read from its files (tests: the cache). */
unsigned email_catalog_reads(const email_catalog *c);

/* 0 when message_json (the flow's message) could be rendered, else -1 with
 * err, e.g. "template 'case_study' (tpl/case_study.tmpl:7): missing
 * variable 'topic'"; several problems are joined with "; ". */
int email_catalog_check(email_catalog *c, const char *message_json, char *err, size_t errlen);

#endif
