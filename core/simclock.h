/*
 * simclock.h — the simulated clock kept in the database.
 *
 * A database may carry a clock offset (setting 'clock_offset_ms'): every
 * command and the daemon then read time as wall clock + offset. It only
 * ever moves forward, through `nurture clock advance`, which fires each
 * timer at its own time on the way. Used for demos and for previewing
 * what flows will do over the next weeks on a copy of the database.
 */
#ifndef NU_SIMCLOCK_H
#define NU_SIMCLOCK_H

#include <stdint.h>
#include "engine.h"

/* Reads the offset and installs the clock on the store. */
int nu_simclock_install(nu_store *s, int64_t *offset, nu_error *err);
/* This process's offset: as read by nu_simclock_install, or last set. */
int64_t nu_simclock_offset(void);
/* The sends queued with created_at in (from, to], by channel:
 * {"email": 3, "wechat": 1}. Scans the outbox (no index on created_at):
 * for clock advances, which are previews, not a hot path. */
json_t *nu_simclock_sends(nu_store *s, int64_t from, int64_t to);
/* Moves the clock to t (never backwards: an earlier t leaves it where it
 * is) and saves the offset. For stepping the clock one stop at a time
 * (advance.c); the engine is not pumped. */
int nu_simclock_set(nu_store *s, int64_t t, nu_error *err);
/* Moves the clock forward by ms, firing timers on the way. Runs the
 * engine in this process, with no event loop: a send that completes
 * later (a plugin's) completes after the clock has moved on. The daemon
 * advances with advance.h instead. */
int nu_simclock_advance(nu_engine *e, int64_t ms, int *steps, nu_error *err);

#endif
