/*
 * bounce.h — asynchronous bounces (delivery status notifications) fed to
 * `nurture bounce` by an MTA pipe: mapped back to the send through the
 * VERP envelope address and recorded as a <channel>.bounced event of the
 * lead, which suppresses the address when the bounce is hard.
 */
#ifndef NU_BOUNCE_H
#define NU_BOUNCE_H

#include <stddef.h>
#include <stdint.h>
#include "store.h"

typedef struct nu_bounce {
	int64_t op_id, lead_id, event_id;
	char channel[32];
	char status[16];        /* "5.1.1" */
	char kind[8];           /* "hard" or "soft" */
	char diagnostic[256];
	int duplicate;          /* this bounce was recorded before */
} nu_bounce;

/* Parses text (a DSN, RFC 3464, or a plain bounce) and records it. */
int nu_bounce_ingest(nu_store *s, const char *text, size_t len, nu_bounce *out, nu_error *err);

#endif
