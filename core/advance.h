/*
 * advance.h — `clock advance` inside the running daemon.
 *
 * The offline command (simclock.h) pumps the engine with no event loop,
 * so a plugin's send, which completes later on the loop, would complete
 * after the clock had moved on, or never. Here the simulated clock moves
 * from due time to due time as a state machine driven by the daemon's
 * loop: at each stop it sets the clock, pumps the engine (which hands
 * due sends to the channels), then lets the loop run until no send is in
 * flight and the engine has nothing left to do at that time, and only
 * then goes on. So receipts (email.sent, mock.delivered) are recorded at
 * the stop's time, and a run waiting on one sees it before the next
 * timer fires.
 *
 * Nothing here nests the loop: every stop is a timer callback, so HTTP
 * requests and I/O completions run between them as usual.
 */
#ifndef NU_ADVANCE_H
#define NU_ADVANCE_H

#include <stdint.h>
#include "engine.h"

struct event_base;
typedef struct nu_advance nu_advance;

typedef struct nu_advance_result {
	int64_t  from, to;        /* the store's clock before, and where it stopped */
	int64_t  target;          /* where it was meant to go */
	int      steps;           /* engine steps on the way (as the offline command counts) */
	int      stops;           /* due times the clock stopped at */
	int      in_flight;       /* sends still in flight when it gave up (see err) */
	int      rc;              /* NU_OK, or the error in err */
	nu_error err;
} nu_advance_result;

/* Called once with the outcome; the advance is freed right after. Only
 * success is logged here: report an error where it is answered. */
typedef void (*nu_advance_done_fn)(void *ud, const nu_advance_result *res);

/* Starts moving the engine's store clock forward by ms. settle_ms bounds
 * the wait for the sends of one stop: when sends are in flight and none
 * has completed for that long, the advance gives up (NU_ERR with
 * res->in_flight > 0) and the clock stays at that stop. done runs later,
 * on the loop, never inside this call. */
int  nu_advance_start(struct event_base *base, nu_engine *e, int64_t ms, int64_t settle_ms,
		      nu_advance_done_fn done, void *ud, nu_advance **out, nu_error *err);

/* Stops an advance where it is (the daemon is stopping): done runs now
 * with NU_ESTATE, then the advance is freed. */
void nu_advance_cancel(nu_advance *a);

/* The time the advance is heading for. */
int64_t nu_advance_target(const nu_advance *a);

#endif
