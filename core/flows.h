/*
 * flows.h — flow definitions: loading a flow file, checking its spec,
 * bundling the flows/lib modules it requires, hashing and deploying it.
 *
 * A flow file returns a table:
 *   name      = "whitepaper_followup",
 *   kind      = "flow" | "rule"            (default "flow")
 *   trigger   = { event = "form.submitted", where = { form = "whitepaper" },
 *                 max_age = "1d" (default: older events are history, not triggers) }
 *             | { tag = "interest:crm" } | { stage = "MQL" } | { manual = true }
 *             | { score = "heat", above = 60 }  (when a score rises past it)
 *   reentry   = "never" | "always" | "30d"  (default "never")
 *   goal      = { stage = "SQL" } | { tag = "…" } | { event = "…" }   (optional)
 *   exclusion = "nurture"                   (optional: one active run per group)
 *   on_late   = "fire" | "skip"             (default "fire"), late_after = "1h"
 *   run       = function(lead, event) … end
 *
 * A deployed version is immutable and named by the SHA-256 of its bundle
 * (the flow's source and every lib module it requires), so runs pinned to
 * it replay against exactly the code they started on.
 */
#ifndef NU_FLOWS_H
#define NU_FLOWS_H

#include <stdint.h>
#include <jansson.h>
#include "store.h"

#define NU_FLOW_NAME_MAX 64
#define NU_SHA_HEX 65

typedef struct nu_flow {
	char    name[NU_FLOW_NAME_MAX];
	char    kind[8];               /* "flow" or "rule" */
	char    sha[NU_SHA_HEX];
	json_t *spec;                  /* trigger, reentry, goal, exclusion, on_late … */
	json_t *bundle;                /* {"main": src, "lib/x.lua": src} */
	char   *path;                  /* the file it came from, for messages */
} nu_flow;

/* Loads and checks a flow file; lib modules come from `lib_dir` (NULL: a
 * "lib" folder beside the file). Problems are reported as "file:line:
 * message" where a line is known. Free with nu_flow_clear. */
int  nu_flow_load_file(const char *path, const char *lib_dir, nu_flow *out, nu_error *err);
/* The same for a source held in memory (a deploy over the API); `name`
 * stands for the file in messages. lib_dir NULL: no lib modules. */
int  nu_flow_load_text(const char *name, const char *src, const char *lib_dir, nu_flow *out,
		       nu_error *err);
/* Builds a flow from a stored version. */
int  nu_flow_load_version(nu_store *s, const char *sha, nu_flow *out, nu_error *err);
void nu_flow_clear(nu_flow *f);

/* Stores the version (if new) and points the flow's name at it. *created
 * says whether this version was new. */
int nu_flow_deploy(nu_store *s, const nu_flow *f, int *created, nu_error *err);

/* The deployed flows: [{name, kind, version, status, updated_at,
 * active_runs, runs}] by name. */
int nu_flow_list(nu_store *s, json_t **out, nu_error *err);
/* Pauses ("paused": no new runs, waiting runs stay where they are) or
 * resumes ("active") a deployed flow. NU_ENOTFOUND if none has the name. */
int nu_flow_set_status(nu_store *s, const char *name, const char *status, nu_error *err);

/* Helpers on a spec. */
const char *nu_flow_spec_str(const nu_flow *f, const char *key);  /* NULL if absent */
int64_t     nu_flow_spec_duration(const nu_flow *f, const char *key, int64_t dflt);

#endif
