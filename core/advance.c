/*
 * advance.c — the simulated clock moved forward inside the daemon, one
 * due time at a time, by a state machine on the event loop (advance.h).
 *
 * Each tick of the timer does one of two things:
 *   settle  pump the engine at the clock's time and count the sends in
 *           flight; come back in POLL_MS while some are (their
 *           completions run on the loop meanwhile), at once while the pump
 *           found work, and move on when the engine has nothing left at
 *           this time;
 *   move    set the clock at the next stop: the earliest due wait or send
 *           up to the target, else the target itself.
 * It starts by settling where the clock is, and the stop at the target
 * ends it. Between ticks the loop runs everything else: SMTP and HTTP
 * I/O, the plugins' completions, API requests.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/event.h>
#include "advance.h"
#include "log.h"
#include "simclock.h"
#include "timefmt.h"

/* How often a stop with sends in flight looks again. Completions come
 * from I/O callbacks on the same loop; a poll this short costs one
 * indexed count per look. */
#define POLL_MS 2

struct nu_advance {
	struct event *tick;
	nu_engine *e;
	int64_t settle_ms;
	int settling;           /* at a stop; 0: the next tick moves */
	int final;              /* this stop is the target */
	int moved;              /* this stop moved the clock */
	int first;              /* the stop where the clock was: sends already in flight end there */
	int stop_steps;         /* engine steps at this stop */
	int in_flight;          /* at the last look; -1 before the first */
	int64_t last_progress;  /* monotonic ms: the stop began, or a send completed */
	nu_advance_result res;
	nu_advance_done_fn done;
	void *ud;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void again(nu_advance *a, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(a->tick, &tv);
}

static void finish(nu_advance *a, int rc)
{
	char at[48];

	a->res.rc = rc;
	a->res.to = nu_store_now(nu_engine_store(a->e));
	/* An error is the caller's to report (the API logs its 5xx answer). */
	if (rc == NU_OK)
		nu_info("clock advanced to %s: %d stop%s, %d engine steps",
			nu_time_format(a->res.to / 1000 * 1000, at, sizeof at), a->res.stops,
			a->res.stops == 1 ? "" : "s", a->res.steps);
	a->done(a->ud, &a->res);
	event_free(a->tick);
	free(a);
}

static int sends_in_flight(nu_store *s, int *n, nu_error *err)
{
	/* "state IN (…) AND" lets SQLite use the partial index outbox_active. */
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT count(*) FROM outbox"
					 " WHERE state IN ('pending', 'sending') AND state = 'sending'", err);

	if (!st)
		return NU_EDB;
	*n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return NU_OK;
}

/* "email 3, wechat 1": which channels the stuck sends are on. */
static void stuck_channels(nu_store *s, char *out, size_t len)
{
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT channel, count(*) FROM outbox"
					 " WHERE state IN ('pending', 'sending') AND state = 'sending'"
					 " GROUP BY channel ORDER BY channel", NULL);
	size_t at = 0;

	out[0] = '\0';
	while (st && sqlite3_step(st) == SQLITE_ROW && at < len)
		at += (size_t)snprintf(out + at, len - at, "%s%s %d", at ? ", " : "",
				       sqlite3_column_text(st, 0), sqlite3_column_int(st, 1));
	if (st)
		sqlite3_reset(st);
}

/* Sets the clock at the next stop. */
static int move(nu_advance *a)
{
	nu_store *s = nu_engine_store(a->e);
	int64_t due, at;

	if (nu_engine_next_due(a->e, &due, &a->res.err) < 0)
		return NU_EDB;
	a->final = !due || due > a->res.target;
	at = a->final ? a->res.target : due;
	/* A due time already behind the clock (real time went on while the
	 * last stop settled) is handled where the clock is. */
	a->moved = at > nu_store_now(s);
	if (a->moved) {
		if (nu_simclock_set(s, at, &a->res.err) < 0)
			return NU_EDB;
		a->res.stops++;
	}
	a->settling = 1;
	a->first = 0;
	a->stop_steps = 0;
	a->in_flight = -1;
	a->last_progress = mono_ms();
	return NU_OK;
}

/* Gives up on a stop whose sends do not complete. */
static int stuck(nu_advance *a, int n)
{
	char at[48], d[32], channels[200];

	stuck_channels(nu_engine_store(a->e), channels, sizeof channels);
	a->res.in_flight = n;
	return nu_error_set(&a->res.err, NU_ERR,
			    "%d send%s still in flight at %s after %s without one completing (%s): the "
			    "clock stopped there; see the daemon's log for the channel's errors, then "
			    "advance again", n, n == 1 ? "" : "s",
			    nu_time_format(nu_store_now(nu_engine_store(a->e)) / 1000 * 1000, at, sizeof at),
			    nu_duration_format(a->settle_ms, d, sizeof d), channels);
}

/* One look at the current stop: 1 when it is done, 0 when the timer was
 * armed to look again, < 0 on an error (in a->res.err). */
static int settle(nu_advance *a)
{
	nu_store *s = nu_engine_store(a->e);
	int did = 0, n;
	int64_t t;

	if (nu_engine_pump(a->e, &did, &a->res.err) < 0 || sends_in_flight(s, &n, &a->res.err) < 0)
		return NU_EDB;
	a->res.steps += did;
	a->stop_steps += did;
	if (!n && !did)
		return 1;
	t = mono_ms();
	if (did || (a->in_flight >= 0 && n < a->in_flight))
		a->last_progress = t;
	a->in_flight = n;
	if (n && t - a->last_progress > a->settle_ms)
		return stuck(a, n);
	again(a, did ? 0 : POLL_MS);
	return 0;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	nu_advance *a = arg;
	char at[48];
	int rc;

	(void)fd;
	(void)what;
	if (!a->settling && (rc = move(a)) < 0) {
		finish(a, rc);
		return;
	}
	if ((rc = settle(a)) <= 0) {
		if (rc < 0)
			finish(a, rc);
		return;
	}
	if (a->final) {
		finish(a, NU_OK);
		return;
	}
	/* Work due where the clock already is, and the pump took none of it:
	 * moving on would only find the same stop again. */
	if (!a->first && !a->moved && !a->stop_steps) {
		nu_error_set(&a->res.err, NU_ERR, "work due at %s is not taken by the engine",
			     nu_time_format(nu_store_now(nu_engine_store(a->e)) / 1000 * 1000, at, sizeof at));
		finish(a, NU_ERR);
		return;
	}
	a->settling = 0;
	again(a, 0);    /* the next stop on the next tick: the loop runs in between */
}

int nu_advance_start(struct event_base *base, nu_engine *e, int64_t ms, int64_t settle_ms,
		     nu_advance_done_fn done, void *ud, nu_advance **out, nu_error *err)
{
	int64_t from = nu_store_now(nu_engine_store(e));
	nu_advance *a;
	char d[32];

	*out = NULL;
	if (ms < 0)
		return nu_error_set(err, NU_EINVAL, "the clock only moves forward");
	if (ms > INT64_MAX / 2 - from)
		return nu_error_set(err, NU_EINVAL, "%s is too far", nu_duration_format(ms, d, sizeof d));
	if (!(a = calloc(1, sizeof *a)) || !(a->tick = evtimer_new(base, on_tick, a))) {
		free(a);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	a->e = e;
	a->settle_ms = settle_ms;
	a->done = done;
	a->ud = ud;
	a->res.from = from;
	a->res.target = from + ms;
	/* Settle where the clock is first: what is due now, and sends handed
	 * out before the advance, complete at this time, not at the first stop. */
	a->settling = a->first = 1;
	a->in_flight = -1;
	a->last_progress = mono_ms();
	nu_info("clock advance by %s started", nu_duration_format(ms, d, sizeof d));
	again(a, 0);
	*out = a;
	return NU_OK;
}

void nu_advance_cancel(nu_advance *a)
{
	char at[48];

	if (!a)
		return;
	evtimer_del(a->tick);
	nu_error_set(&a->res.err, NU_ESTATE, "the daemon is stopping: the clock stopped at %s",
		     nu_time_format(nu_store_now(nu_engine_store(a->e)) / 1000 * 1000, at, sizeof at));
	finish(a, NU_ESTATE);
}

int64_t nu_advance_target(const nu_advance *a)
{
	return a->res.target;
}
