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
/* Moves the clock forward by ms, firing timers on the way. */
int nu_simclock_advance(nu_engine *e, int64_t ms, int *steps, nu_error *err);

#endif
