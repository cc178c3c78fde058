/*
 * identity.h — the identities that name a lead (email, phone, WeChat
 * openid/unionid, WeCom external id, CRM id, anonymous id) and resolution
 * of a set of identities to one lead.
 *
 * An identity belongs to exactly one live lead. When one record carries
 * identities owned by different leads (an anonymous visitor fills a form
 * with a known email), those leads are the same person and are merged.
 */
#ifndef NU_IDENTITY_H
#define NU_IDENTITY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "leads.h"
#include "store.h"

enum nu_identity_kind {
	NU_ID_EMAIL, NU_ID_PHONE, NU_ID_WECHAT_OPENID, NU_ID_WECHAT_UNIONID,
	NU_ID_WECOM_EXTERNAL_ID, NU_ID_CRM_ID, NU_ID_ANONYMOUS_ID, NU_ID_NKINDS
};

#define NU_IDENTITY_VALUE_MAX 256

typedef struct nu_identity {
	int  kind;
	char value[NU_IDENTITY_VALUE_MAX];
} nu_identity;

typedef struct nu_resolve_result {
	int64_t lead_id;   /* the live lead the identities now name */
	int     created;   /* 1 if a new lead was made */
	int     merged;    /* leads merged into lead_id */
	int     attached;  /* identities newly attached */
} nu_resolve_result;

const char *nu_identity_kind_name(int kind);
int nu_identity_kind_lookup(const char *name);   /* -1 if unknown */
/* "crm_id:SF-1" → NU_ID_CRM_ID and *value = "SF-1"; -1 when ref does not
 * start with a known kind and a colon (*value is then ref). */
int nu_identity_split_ref(const char *ref, const char **value);

/* Normalises `raw` for `kind` (email lower-cased, phone to E.164 with the
 * store's default country, tokens trimmed). NU_EINVAL names the problem. */
int nu_identity_normalize(nu_store *s, int kind, const char *raw,
			  nu_identity *out, nu_error *err);

/* The lead that owns an identity (possibly merged away: callers wanting
 * the live lead follow nu_lead_live_id). NU_ENOTFOUND if nobody owns it. */
int nu_identity_find(nu_store *s, const nu_identity *id, int64_t *lead_id,
		     nu_error *err);

/* Resolves identities (already normalised) to one live lead: creates it
 * when none is known, attaches the new identities, merges leads that turn
 * out to be one person (the oldest survives). Atomic. */
int nu_identity_resolve(nu_store *s, const nu_identity *ids, size_t n,
			const char *source, nu_resolve_result *res, nu_error *err);

/* The same, then applies lead attributes `attrs` (a JSON object, borrowed;
 * see nu_lead_update) to the lead. A lead created here is written once,
 * with its attributes, which is what keeps bulk import fast. */
int nu_identity_resolve_with(nu_store *s, const nu_identity *ids, size_t n,
			     const char *source, json_t *attrs, unsigned flags,
			     nu_resolve_result *res, nu_lead_update_result *upd,
			     nu_error *err);

#endif
