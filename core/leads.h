/*
 * leads.h — leads and their attributes.
 *
 * A lead has typed attributes (the columns a marketer filters and routes
 * by) and custom fields kept as a JSON object. Updates follow progressive
 * profiling: a new value fills a blank; a value already known is replaced
 * only with NU_LEAD_OVERWRITE; every change set after creation is kept in
 * lead_history with its source, and lead.source names who created the lead,
 * so "where did this title come from" always has an answer.
 */
#ifndef NU_LEADS_H
#define NU_LEADS_H

#include <stdint.h>
#include <jansson.h>
#include "store.h"

enum nu_lead_field {
	NU_LEAD_NAME, NU_LEAD_COMPANY, NU_LEAD_TITLE, NU_LEAD_INDUSTRY,
	NU_LEAD_REGION, NU_LEAD_PRODUCT_INTEREST, NU_LEAD_PHONE, NU_LEAD_EMAIL,
	NU_LEAD_TIMEZONE, NU_LEAD_NFIELDS
};

/* Replace values that are already set (default: only fill blanks). */
#define NU_LEAD_OVERWRITE 0x1u
/* For identity resolution: give a lead that was found (not created) the
 * attributes only when this record attached or merged identities — an
 * event's contact fields are news only then, and the update is the
 * dearest part of ingesting an event of a known lead. */
#define NU_LEAD_ONLY_ON_NEW_IDENTITY 0x2u

typedef struct nu_lead {
	int64_t id;
	char    stage[32];
	char   *field[NU_LEAD_NFIELDS];  /* NULL when blank */
	json_t *custom;                  /* object, never NULL once loaded */
	char   *owner;
	char   *source;                  /* who created it; NULL if unknown */
	double  fit_score, heat_score;
	int64_t stage_at, created_at, updated_at, last_event_id, merged_into;
} nu_lead;

/* What an update did, for import reports and API answers. */
typedef struct nu_lead_update_result {
	int changed;   /* fields set or replaced */
	int kept;      /* differing values not applied (no OVERWRITE) */
} nu_lead_update_result;

const char *nu_lead_field_name(int field);
int nu_lead_field_lookup(const char *name);   /* -1 for a custom field */

/* Creates a lead in the first funnel stage with attributes `attrs` (may be
 * NULL), checked as nu_lead_update checks them, in one INSERT. */
int nu_lead_create(nu_store *s, json_t *attrs, unsigned flags, const char *source,
		   int64_t *id, nu_lead_update_result *res, nu_error *err);

/* Loads a lead; free with nu_lead_clear. A merged-away lead loads too
 * (merged_into says where it went). */
int  nu_lead_load(nu_store *s, int64_t id, nu_lead *out, nu_error *err);
void nu_lead_clear(nu_lead *l);

/* Applies attributes from a JSON object: typed fields by name (strings;
 * email and phone are normalised; null clears only with OVERWRITE), any
 * other key goes to the custom fields. Wrong types and bad values are
 * refused before anything is written, with the field named. */
int nu_lead_update(nu_store *s, int64_t id, json_t *attrs, unsigned flags,
		   const char *source, nu_lead_update_result *res, nu_error *err);

/* Follows merges: the live lead that `id` now belongs to. */
int nu_lead_live_id(nu_store *s, int64_t id, int64_t *live, nu_error *err);

/* Resolves what a user types to name a lead: an id ("42"), an email, a
 * phone number, or "kind:value" for any identity kind. Merged leads resolve
 * to their survivor. */
int nu_lead_resolve_ref(nu_store *s, const char *ref, int64_t *id, nu_error *err);

/* Sets lead.fit_score / heat_score (scoring lives elsewhere; this stores). */
int nu_lead_set_scores(nu_store *s, int64_t id, double fit, double heat,
		       nu_error *err);

#endif
