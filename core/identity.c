/*
 * identity.c — identity kinds, normalisation, lookup and resolution.
 */
#include <stdio.h>
#include <string.h>
#include "identity.h"
#include "leads.h"
#include "merge.h"
#include "normalize.h"

static const char *const kind_names[NU_ID_NKINDS] = {
	"email", "phone", "wechat_openid", "wechat_unionid",
	"wecom_external_id", "crm_id", "anonymous_id",
};

const char *nu_identity_kind_name(int kind)
{
	return kind >= 0 && kind < NU_ID_NKINDS ? kind_names[kind] : "?";
}

int nu_identity_kind_lookup(const char *name)
{
	for (int i = 0; i < NU_ID_NKINDS; i++)
		if (strcmp(kind_names[i], name) == 0)
			return i;
	return -1;
}

int nu_identity_split_ref(const char *ref, const char **value)
{
	const char *colon = strchr(ref, ':');
	char kind[32];
	size_t n;

	*value = ref;
	if (!colon || (n = (size_t)(colon - ref)) >= sizeof kind)
		return -1;
	memcpy(kind, ref, n);
	kind[n] = '\0';
	int k = nu_identity_kind_lookup(kind);
	if (k >= 0)
		*value = colon + 1;
	return k;
}

int nu_identity_normalize(nu_store *s, int kind, const char *raw,
			  nu_identity *out, nu_error *err)
{
	char msg[256];
	int rc;

	out->kind = kind;
	switch (kind) {
	case NU_ID_EMAIL:
		rc = nu_norm_email(raw, out->value, sizeof out->value, msg, sizeof msg);
		break;
	case NU_ID_PHONE:
		rc = nu_norm_phone(raw, nu_store_settings_of(s)->phone_default_cc,
				   out->value, sizeof out->value, msg, sizeof msg);
		break;
	case NU_ID_WECHAT_OPENID: case NU_ID_WECHAT_UNIONID:
	case NU_ID_WECOM_EXTERNAL_ID: case NU_ID_CRM_ID: case NU_ID_ANONYMOUS_ID:
		rc = nu_norm_token(raw, out->value, sizeof out->value, msg, sizeof msg);
		break;
	default:
		return nu_error_set(err, NU_EINVAL, "unknown identity kind %d", kind);
	}
	/* Email and phone messages name themselves ("email 'x@' has no
	 * domain"); the generic id messages need the kind. */
	if (rc < 0 && (kind == NU_ID_EMAIL || kind == NU_ID_PHONE))
		return nu_error_set(err, NU_EINVAL, "%s", msg);
	if (rc < 0)
		return nu_error_set(err, NU_EINVAL, "%s: %s", kind_names[kind], msg);
	return NU_OK;
}

int nu_identity_find(nu_store *s, const nu_identity *id, int64_t *lead_id,
		     nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"SELECT lead_id FROM identity WHERE kind = ? AND value = ?", err);
	int rc;

	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, kind_names[id->kind], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id->value, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*lead_id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return NU_OK;
	if (rc == SQLITE_DONE)
		return NU_ENOTFOUND;   /* an answer, not an error: no text */
	return nu_store_fail(s, err, "looking up identity");
}

static int attach(nu_store *s, const nu_identity *id, int64_t lead_id,
		  const char *source, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s,
		"INSERT INTO identity (kind, value, lead_id, at, source) VALUES (?, ?, ?, ?, ?)",
		err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_text(st, 1, kind_names[id->kind], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id->value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, lead_id);
	sqlite3_bind_int64(st, 4, nu_store_now(s));
	sqlite3_bind_text(st, 5, source, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK :
	       nu_store_fail(s, err, "attaching identity");
}

/* Owners of each identity (live ids; 0 for unowned). */
static int find_owners(nu_store *s, const nu_identity *ids, size_t n,
		       int64_t *owner, nu_error *err)
{
	for (size_t i = 0; i < n; i++) {
		int rc = nu_identity_find(s, &ids[i], &owner[i], err);
		if (rc == NU_ENOTFOUND) {
			owner[i] = 0;
			continue;
		}
		if (rc < 0 || nu_lead_live_id(s, owner[i], &owner[i], err) < 0)
			return NU_EDB;
	}
	return NU_OK;
}

static void describe_tie(const nu_identity *ids, size_t n, const int64_t *owner,
			 const char *source, char *out, size_t len)
{
	size_t used = (size_t)snprintf(out, len, "identities arrived together");
	for (size_t i = 0; i < n && used < len; i++) {
		int w = snprintf(out + used, len - used, "%s %s:%s%s", i ? "," : ":",
				 kind_names[ids[i].kind], ids[i].value,
				 owner[i] ? "" : " (new)");
		if (w > 0)
			used += (size_t)w;
		if (owner[i] && used < len) {
			w = snprintf(out + used, len - used, " (lead %lld)",
				     (long long)owner[i]);
			used += w > 0 ? (size_t)w : 0;
		}
	}
	if (source && used < len)
		snprintf(out + used, len - used, " from %s", source);
}

struct resolve_args {
	const char *source;
	json_t *attrs;
	unsigned flags;
	nu_lead_update_result *upd;
};

static int resolve_locked(nu_store *s, const nu_identity *ids, size_t n,
			  const struct resolve_args *a, int64_t *owner,
			  nu_resolve_result *res, nu_error *err)
{
	int64_t survivor = 0;
	char reason[1024];

	if (find_owners(s, ids, n, owner, err) < 0)
		return NU_EDB;
	for (size_t i = 0; i < n; i++)
		if (owner[i] && (!survivor || owner[i] < survivor))
			survivor = owner[i];
	if (!survivor) {
		if (nu_lead_create(s, a->attrs, a->flags, a->source, &survivor, a->upd, err) < 0)
			return err ? err->code : NU_ERR;
		res->created = 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (!owner[i] || owner[i] == survivor)
			continue;
		int64_t loser = owner[i];
		describe_tie(ids, n, owner, a->source, reason, sizeof reason);
		if (nu_lead_merge(s, survivor, loser, reason, err) < 0)
			return err ? err->code : NU_ERR;
		res->merged++;
		/* Later identities of the same loser are now the survivor's. */
		for (size_t j = i; j < n; j++)
			if (owner[j] == loser)
				owner[j] = survivor;
	}
	for (size_t i = 0; i < n; i++) {
		int dup = 0;
		for (size_t j = 0; j < i; j++)
			dup |= ids[j].kind == ids[i].kind && !strcmp(ids[j].value, ids[i].value);
		if (owner[i] || dup)
			continue;
		if (attach(s, &ids[i], survivor, a->source, err) < 0)
			return NU_EDB;
		res->attached++;
	}
	res->lead_id = survivor;
	if (a->attrs && !res->created &&
	    (!(a->flags & NU_LEAD_ONLY_ON_NEW_IDENTITY) || res->attached || res->merged))
		return nu_lead_update(s, survivor, a->attrs, a->flags, a->source, a->upd, err);
	return NU_OK;
}

int nu_identity_resolve_with(nu_store *s, const nu_identity *ids, size_t n,
			     const char *source, json_t *attrs, unsigned flags,
			     nu_resolve_result *res, nu_lead_update_result *upd,
			     nu_error *err)
{
	nu_lead_update_result local_upd;
	struct resolve_args a = { source, attrs, flags, upd ? upd : &local_upd };
	int64_t owner[16];
	int rc;

	memset(res, 0, sizeof *res);
	memset(a.upd, 0, sizeof *a.upd);
	if (n == 0)
		return nu_error_set(err, NU_EINVAL,
			"no identity: a lead needs an email, phone, openid, unionid, "
			"WeCom id, CRM id or anonymous id");
	if (n > 16)
		return nu_error_set(err, NU_EINVAL, "at most 16 identities per record");
	if (nu_store_savepoint(s, err) < 0)
		return NU_EDB;
	rc = resolve_locked(s, ids, n, &a, owner, res, err);
	if (rc < 0) {
		nu_store_rollback_to(s);
		return rc;
	}
	return nu_store_release(s, err);
}

int nu_identity_resolve(nu_store *s, const nu_identity *ids, size_t n,
			const char *source, nu_resolve_result *res, nu_error *err)
{
	return nu_identity_resolve_with(s, ids, n, source, NULL, 0, res, NULL, err);
}
