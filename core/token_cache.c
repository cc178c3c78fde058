/*
 * token_cache.c — single-flight access tokens with refresh before expiry.
 */
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include "token_cache.h"

#define MAX_TOKENS 32
#define REFRESH_MARGIN_MAX 300000   /* 5 minutes */

struct waiter {
	nu_token_ready ready;
	void *ud;
	struct waiter *next;
};

struct entry {
	char *name;
	char *token;                 /* NULL: none cached */
	char *error;                 /* the last fetch's error, for its waiters */
	int64_t refresh_at;          /* after this, get fetches again */
	int fetching;
	struct waiter *waiting;      /* callers of this fetch */
	struct waiter *answered;     /* answered, callbacks not yet run */
};

struct nu_tokens {
	struct event_base *base;
	struct event *deliver;
	int64_t (*now)(void *);
	void *now_ud;
	struct entry entries[MAX_TOKENS];
	int n;
	int closing;
};

static struct entry *find(nu_tokens *t, const char *name, int create)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->entries[i].name, name))
			return &t->entries[i];
	if (!create || t->n == MAX_TOKENS)
		return NULL;
	struct entry *e = &t->entries[t->n];
	memset(e, 0, sizeof *e);
	if (!(e->name = strdup(name)))
		return NULL;
	t->n++;
	return e;
}

/* Runs every answered callback, from the loop. A callback may ask again. */
static void on_deliver(evutil_socket_t fd, short what, void *arg)
{
	nu_tokens *t = arg;

	(void)fd;
	(void)what;
	for (int i = 0; i < t->n; i++) {
		struct entry *e = &t->entries[i];
		struct waiter *w = e->answered;
		e->answered = NULL;
		while (w) {
			struct waiter *next = w->next;
			/* the answer as it stands: a token, or the fetch's error */
			w->ready(w->ud, e->token, e->token ? NULL : (e->error ? e->error : "no token"));
			free(w);
			w = next;
		}
	}
}

static void answer(nu_tokens *t, struct entry *e, struct waiter *list)
{
	struct waiter **tail = &e->answered;

	while (*tail)
		tail = &(*tail)->next;
	*tail = list;
	if (list)
		event_active(t->deliver, EV_TIMEOUT, 0);
}

int nu_token_get(nu_tokens *t, const char *name, nu_token_fetch fetch, void *fetch_ud,
		 nu_token_ready ready, void *ud)
{
	struct entry *e = find(t, name, 1);
	struct waiter *w = calloc(1, sizeof *w);

	if (!e || !w || t->closing) {
		free(w);
		return -1;
	}
	*w = (struct waiter){ ready, ud, NULL };
	if (e->token && t->now(t->now_ud) < e->refresh_at) {
		answer(t, e, w);
		return 0;
	}
	w->next = e->waiting;
	e->waiting = w;
	if (!e->fetching) {
		e->fetching = 1;
		fetch(fetch_ud, name);   /* its answer comes through nu_token_set */
	}
	return 0;
}

void nu_token_set(nu_tokens *t, const char *name, const char *token, int64_t lifetime_ms,
		  const char *error)
{
	struct entry *e = find(t, name, 0);
	int64_t margin;

	if (!e || !e->fetching)
		return;   /* an answer nobody asked for */
	e->fetching = 0;
	free(e->token);
	free(e->error);
	e->token = token ? strdup(token) : NULL;
	e->error = error ? strdup(error) : NULL;
	margin = lifetime_ms / 10 < REFRESH_MARGIN_MAX ? lifetime_ms / 10 : REFRESH_MARGIN_MAX;
	e->refresh_at = t->now(t->now_ud) + lifetime_ms - margin;
	answer(t, e, e->waiting);
	e->waiting = NULL;
}

void nu_token_invalidate(nu_tokens *t, const char *name, const char *stale)
{
	struct entry *e = find(t, name, 0);

	if (e && e->token && stale && !strcmp(e->token, stale)) {
		free(e->token);
		e->token = NULL;
	}
}

int nu_tokens_open(struct event_base *base, int64_t (*now)(void *), void *now_ud,
		   nu_tokens **out, nu_error *err)
{
	nu_tokens *t = calloc(1, sizeof *t);

	*out = NULL;
	if (!t || !(t->deliver = event_new(base, -1, 0, on_deliver, t))) {
		free(t);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	t->base = base;
	t->now = now;
	t->now_ud = now_ud;
	*out = t;
	return NU_OK;
}

void nu_tokens_close(nu_tokens *t)
{
	if (!t)
		return;
	t->closing = 1;
	for (int i = 0; i < t->n; i++) {
		struct entry *e = &t->entries[i];
		struct waiter *lists[2] = { e->waiting, e->answered };
		for (int l = 0; l < 2; l++)
			for (struct waiter *w = lists[l], *next; w; w = next) {
				next = w->next;
				w->ready(w->ud, NULL, "closing");
				free(w);
			}
		free(e->name);
		free(e->token);
		free(e->error);
	}
	event_free(t->deliver);
	free(t);
}
