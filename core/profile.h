/*
 * profile.h — the 360° view of one lead as a JSON document: attributes,
 * identities, tags with weights, scores, stage history, merges, attribute
 * history and recent events. The CLI renders it for people and prints it
 * as is for scripts; the HTTP API serves it.
 */
#ifndef NU_PROFILE_H
#define NU_PROFILE_H

#include <jansson.h>
#include "store.h"

/* Builds the profile of live lead `id` with at most `events` recent
 * events. The caller owns the result (json_decref). */
int nu_profile_build(nu_store *s, int64_t id, size_t events, json_t **out,
		     nu_error *err);

/* Funnel summary: per stage, leads there now and leads that ever reached
 * it, with conversion from the previous funnel stage. */
int nu_profile_funnel(nu_store *s, json_t **out, nu_error *err);

#endif
