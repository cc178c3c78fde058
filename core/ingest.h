/*
 * ingest.h — turning one JSON record into lead-store changes.
 *
 * Everything that brings leads or events in (file import, `event add`, and
 * later the HTTP API and plugins) goes through these two functions, so
 * identity resolution, validation and error wording are the same
 * everywhere. Each call is atomic: a record is stored whole or not at all.
 *
 * A lead record: identity keys (email, phone, wechat_openid,
 * wechat_unionid, wecom_external_id, crm_id, anonymous_id), typed
 * attributes (name, company, title, industry, region, product_interest,
 * timezone), "tags" (a list, or a string separated by ';'), "stage",
 * "source" (kept as a custom field and as the tag source:<value>),
 * "custom" (an object), and any other key as a custom field.
 *
 * An event record: identity keys or "lead_id", "type", "at" (RFC 3339
 * text or epoch milliseconds; default now), "props" (object),
 * "dedupe_key", and "attrs" (an object of lead attributes, applied as
 * progressive profiling — form submissions carry names and companies).
 */
#ifndef NU_INGEST_H
#define NU_INGEST_H

#include <jansson.h>
#include "identity.h"
#include "leads.h"

typedef struct nu_ingest_result {
	nu_resolve_result     resolve;
	nu_lead_update_result update;
	int     tags_added;
	int     stage_changed;
	int64_t event_id;
	int     duplicate;      /* the event's dedupe key was already stored */
} nu_ingest_result;

/* Identities named by a record, normalised. Bad values are NU_EINVAL. */
int nu_ingest_identities(nu_store *s, json_t *rec, nu_identity *ids,
			 size_t max, size_t *n, nu_error *err);

int nu_ingest_lead(nu_store *s, json_t *rec, unsigned flags,
		   const char *source, nu_ingest_result *res, nu_error *err);

int nu_ingest_event(nu_store *s, json_t *rec, const char *source,
		    nu_ingest_result *res, nu_error *err);

#endif
