/*
 * merge.h — merging two leads that turned out to be one person.
 */
#ifndef NU_MERGE_H
#define NU_MERGE_H

#include <stdint.h>
#include "store.h"

/* Moves everything of lead `merged` to lead `survivor`: identities, tags
 * (the higher weight and later expiry win), events (re-linked into one
 * timeline in arrival order), stage history, attribute history, earlier
 * merges, and flow runs with their subscriptions and sends. Blank attributes of the survivor are filled from the merged lead;
 * the survivor takes the further funnel stage; heat scores add, fit takes
 * the higher. The merged lead stays as a row pointing at the survivor, so
 * old ids still resolve. A lead_merge row records the reason and what
 * moved. Atomic. */
int nu_lead_merge(nu_store *s, int64_t survivor, int64_t merged,
		  const char *reason, nu_error *err);

#endif
