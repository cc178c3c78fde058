/*
 * events.h — the append-only log of what leads did.
 *
 * Events are never updated or deleted (merges only move them to the
 * surviving lead). The same dedupe key stored twice keeps one event, so a
 * retried webhook or a re-imported file does not double-count behaviour.
 */
#ifndef NU_EVENTS_H
#define NU_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "store.h"

#define NU_EVENT_TYPE_MAX 64

typedef struct nu_event_in {
	int64_t     lead_id;      /* a live lead */
	const char *type;         /* "email.opened": lower-case, digits, '_', '.' */
	int64_t     at;           /* 0 = now */
	json_t     *props;        /* object or NULL; borrowed */
	const char *source;       /* "import", "api", "plugin:wechat" …; may be NULL */
	const char *dedupe_key;   /* may be NULL */
} nu_event_in;

typedef struct nu_event {
	int64_t id, lead_id, at;
	char   *type, *props, *source, *dedupe_key;
} nu_event;

int nu_event_type_check(const char *type, nu_error *err);

/* 1 and the event's id (and lead, if lead_id is not NULL) when `key` is
 * already stored, 0 when not, < 0 on error. */
int nu_event_find_dedupe(nu_store *s, const char *key, int64_t *id, int64_t *lead_id,
			 nu_error *err);

/* Appends an event. A known dedupe key returns NU_EDUP and the id of the
 * event already stored; nothing is written. */
int nu_event_append(nu_store *s, const nu_event_in *in, int64_t *id, nu_error *err);

/* A lead's events, newest first, `limit` at most, starting below
 * `before_id` (0 = from the newest). Pass the last returned id as the next
 * before_id to page. Free with nu_events_free. */
int nu_event_timeline(nu_store *s, int64_t lead_id, int64_t before_id,
		      size_t limit, nu_event **out, size_t *n, nu_error *err);
void nu_events_free(nu_event *ev, size_t n);

/* Number of events of a lead (walks its chain). */
int nu_event_count(nu_store *s, int64_t lead_id, int64_t *count, nu_error *err);

#endif
