/*
 * token_cache.h — access tokens for provider APIs (WeChat, WeCom, Zoom,
 * Salesforce …), shared by everything a plugin sends.
 *
 * Single flight: however many sends ask at once, one fetch runs and all of
 * them get its answer. A token is refreshed before it expires (a margin of
 * a tenth of its life, at most 5 minutes), and invalidated only if the
 * token a provider just rejected is still the cached one — so a burst of
 * "token expired" answers causes one refetch, not one each. Answers are
 * delivered from the event loop, never inside nu_token_get.
 */
#ifndef NU_TOKEN_CACHE_H
#define NU_TOKEN_CACHE_H

#include <stdint.h>
#include "error.h"

struct event_base;
typedef struct nu_tokens nu_tokens;

/* Called with the token, or NULL and an error. Strings are borrowed. */
typedef void (*nu_token_ready)(void *ud, const char *token, const char *error);
/* Starts fetching `name`; the answer comes through nu_token_set, once. */
typedef void (*nu_token_fetch)(void *fetch_ud, const char *name);

int  nu_tokens_open(struct event_base *base, int64_t (*now)(void *), void *now_ud,
		    nu_tokens **out, nu_error *err);
void nu_tokens_close(nu_tokens *t);   /* waiting callers get "closing" */

/* Asks for a token. Returns 0; ready runs later, exactly once. */
int  nu_token_get(nu_tokens *t, const char *name, nu_token_fetch fetch, void *fetch_ud,
		  nu_token_ready ready, void *ud);
/* The fetch's answer: a token valid for lifetime_ms, or an error. */
void nu_token_set(nu_tokens *t, const char *name, const char *token, int64_t lifetime_ms,
		  const char *error);
/* The provider rejected `stale`: forget it if it is still the cached one. */
void nu_token_invalidate(nu_tokens *t, const char *name, const char *stale);

#endif
