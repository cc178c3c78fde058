/*
 * stages.h — the funnel: which stages exist, which transitions are legal,
 * and the logged stage changes of a lead.
 *
 * The built-in model is the B2B funnel Lead → MQL → SQL → Opportunity →
 * Deal plus the side stages Recycled and Disqualified. Forward moves along
 * the funnel may skip stages (a demo request can make a Lead an SQL at
 * once); going back goes through Recycled, the way sales return a lead to
 * nurture. The config file can replace the list and the transitions.
 */
#ifndef NU_STAGES_H
#define NU_STAGES_H

#include <stddef.h>
#include <stdint.h>
#include "store.h"

#define NU_STAGE_MAX 16
#define NU_STAGE_NAME_MAX 32

struct nu_stage_model {
	size_t n;                       /* stages in total */
	size_t funnel_len;              /* the first funnel_len are the funnel, in order */
	char   names[NU_STAGE_MAX][NU_STAGE_NAME_MAX];
	unsigned char allowed[NU_STAGE_MAX][NU_STAGE_MAX]; /* [from][to] */
};

/* The built-in model described above. */
void nu_stage_model_default(nu_stage_model *m);
/* Starts a custom model: funnel stages in order, then side stages. The
 * default rules are derived (forward skips allowed, any non-final stage to
 * a side stage, Recycled back to the first two funnel stages); call
 * nu_stage_model_set_transitions to replace the rules of one stage. */
int nu_stage_model_build(nu_stage_model *m, const char *const *funnel, size_t nf,
			 const char *const *side, size_t ns, nu_error *err);
int nu_stage_model_set_transitions(nu_stage_model *m, const char *from,
				   const char *const *to, size_t n, nu_error *err);

int nu_stage_index(const nu_stage_model *m, const char *name);
const nu_stage_model *nu_stage_model_of(nu_store *s);

/* Moves a lead to stage `to`, logging from, to, time, reason and actor.
 * Moving to the stage the lead is already in changes nothing and returns
 * NU_OK with *changed = 0. An illegal move returns NU_ESTATE and names the
 * stages that are allowed. `changed` may be NULL. */
int nu_stage_set(nu_store *s, int64_t lead_id, const char *to,
		 const char *reason, const char *actor, int *changed,
		 nu_error *err);

/* Writes the stage_change row and updates lead.stage without checking the
 * rules; used by the import of a lead's initial stage and by merges. */
int nu_stage_record(nu_store *s, int64_t lead_id, const char *from,
		    const char *to, const char *reason, const char *actor,
		    nu_error *err);

/* Counts of live (not merged-away) leads per stage, in model order. */
int nu_stage_counts(nu_store *s, int64_t counts[NU_STAGE_MAX], nu_error *err);

#endif
