/*
 * why.h — `nurture run why`: the story of a lead's runs, from the journal.
 *
 * For each run: the pinned version, the trigger, every step with the time
 * it happened and what it returned (so the tag, score or event that
 * decided a branch is visible), what the run waits for now and when that
 * fires, and what happened to each send (sent, failed, unknown, held).
 */
#ifndef NU_WHY_H
#define NU_WHY_H

#include <jansson.h>
#include "store.h"

/* Builds the explanation for `lead_id` (runs of `flow` only, if given).
 * The caller owns *out. */
int nu_why_build(nu_store *s, int64_t lead_id, const char *flow, json_t **out, nu_error *err);

#endif
