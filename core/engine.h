/*
 * engine.h — the durable flow engine.
 *
 * A run is executed by replay: each step starts a fresh sandboxed Lua
 * state, runs the flow's pinned code from the top, and answers every
 * effect it has already performed from the journal. The first effect with
 * no journal row is performed live: an immediate effect (now, random,
 * split, lead reads and writes, log, version) is done and journaled on the
 * spot; a blocking one (sleep, wait_until, wait_event, send) is journaled
 * as pending with its wait, subscription or outbox row, and the step ends.
 * When the timer fires, the event arrives or the send completes, the
 * journal row gets its result and the run takes another step.
 *
 * Everything a step writes goes into the caller's transaction, so a crash
 * leaves either the whole step or none of it; a send intent and its
 * journal row can never be separated.
 *
 * The engine is driven by nu_engine_pump: it reads new events, tag and
 * stage changes (by cursor, exactly once), wakes subscribers, enrols leads
 * in triggered flows, ends runs that reached their goal, fires due timers
 * and dispatches sends. The daemon calls it from its event loop; the flow
 * test runner calls it after moving a virtual clock.
 */
#ifndef NU_ENGINE_H
#define NU_ENGINE_H

#include <stdint.h>
#include <jansson.h>
#include "flows.h"
#include "store.h"

typedef struct nu_engine nu_engine;

/* Sending policies, checked in the same transaction as each send intent.
 * Zero values mean "off" except where a default is named. */
typedef struct nu_send_policy {
	int     retry_max_attempts;   /* ETEMP: give up after this many tries (default 6) */
	int64_t retry_base_ms;        /* first retry delay, doubled each time (default 30 s) */
	int64_t retry_max_ms;         /* cap on one delay (default 6 h) */
	int     quiet_from, quiet_to; /* local hours [from, to) when nothing is sent; from == to: off */
	int     cap_max;              /* at most cap_max sends per lead and channel … */
	int64_t cap_window_ms;        /* … within this window; 0: off */
	struct {                      /* provider quotas: at most per_second sends a second */
		char channel[32];
		int  per_second;
	} rates[8];
	int     nrates;
} nu_send_policy;
typedef struct nu_channel nu_channel;

/* Result of an effect request (see nu_effect). */
enum { NU_EFFECT_DONE = 0, NU_EFFECT_BLOCKED = 1 };

/* A journal row as replay reads it: texts as stored (requests are compared
 * as canonical text, results parsed only when used). */
typedef struct nu_journal_row {
	char  kind[32];
	char *request;
	char *result;          /* NULL while the effect is pending */
} nu_journal_row;

/* The state of one step of one run, reachable from its Lua state. */
typedef struct nu_run_ctx {
	nu_engine     *eng;
	nu_store      *s;
	const nu_flow *flow;
	int64_t run_id, lead_id, seed, trigger_event_id;
	int64_t seq;           /* the next effect's number */
	int64_t now;           /* the store clock when the step began */
	int     replaying;     /* the current effect was answered from the journal */
	int     is_rule;       /* rules may not wait or send */
	int     failed;        /* a database error ended the step; see err */
	nu_error err;
	nu_journal_row *journal;   /* the run's journal at the step's start */
	size_t  njournal;
	/* The new blocking effect the step stopped at (-1: none), so that the
	 * run can be continued in memory once it completes (runs.c). */
	int64_t blocked_seq;
	char    blocked_kind[16];
	/* A continued step: the result of the effect it stopped at, taken by
	 * that effect's binding when the coroutine resumes (lua_flow.c). */
	json_t *resumed;
} nu_run_ctx;

/* A channel the engine can send through. send() must eventually call
 * nu_engine_send_complete(op_id, …) exactly once; the built-in "test"
 * channel completes at once. */
struct nu_channel {
	const char *name;
	int  (*send)(void *state, int64_t op_id, int64_t lead_id, const json_t *message,
		     nu_engine *eng);
	void *state;
	/* The provider deduplicates by op id: a send in flight at a crash is
	 * sent again rather than recorded unknown. */
	int  idempotent;
	/* Whether the message could be sent at all (a plugin's template
	 * check): 0, or -1 with a reason in why. Called as the send intent is
	 * recorded; a failure fails the send at once. NULL: no check. */
	int  (*check)(void *state, const json_t *message, char *why, size_t len);
};

int  nu_engine_open(nu_store *s, nu_engine **out, nu_error *err);
/* The daemon, once at start: sends left 'sending' by a crash are in doubt
 * and recorded as unknown. Only the process that dispatches may do this;
 * a CLI command running beside the daemon must not. */
int  nu_engine_recover(nu_engine *e, nu_error *err);
void nu_engine_close(nu_engine *e);
nu_store *nu_engine_store(nu_engine *e);

/* Called when work became due outside a pump (an asynchronous send
 * completed): the daemon schedules a pump. NULL: nothing. */
void nu_engine_set_wakeup(nu_engine *e, void (*fn)(void *ud), void *ud);

/* Whether nu_engine_pump hands due sends to channels (default 1). A CLI
 * command beside a daemon that loads channel plugins turns it off: only
 * the daemon has the real channels. */
void nu_engine_set_dispatch(nu_engine *e, int on);

/* Replaces the sending policy (copied). */
void nu_engine_set_policy(nu_engine *e, const nu_send_policy *p);

#define NU_MAX_CHANNELS_PUBLIC 16
/* How many more channels could be added (a channel named `name` that
 * replaces a built-in stand-in takes no new slot... counted as room). */
int nu_engine_channel_room(nu_engine *e, const char *name);

/* Channels: the engine keeps a pointer; `ch` must outlive it. */
int nu_engine_add_channel(nu_engine *e, const nu_channel *ch, nu_error *err);

/* (Re)reads the deployed flows; call after nu_flow_deploy. */
int nu_engine_reload(nu_engine *e, nu_error *err);

/* Enrols a lead in a flow by name (manual or API enrolment). *run_id is 0
 * when the reentry or exclusion rules said no; *why then says which. */
int nu_engine_enroll(nu_engine *e, const char *flow, int64_t lead_id,
		     int64_t trigger_event_id, int64_t *run_id, char *why, size_t whylen,
		     nu_error *err);

/* Does all work that is due: new events and changes, timers up to the
 * store's clock, sends. Runs its own transactions. *did counts steps. */
int nu_engine_pump(nu_engine *e, int *did, nu_error *err);

/* The same, stopping at a transaction boundary once budget_us of work is
 * done, so a burst of events cannot hold an event loop for long: *more
 * says work was left for the next call. */
int nu_engine_pump_for(nu_engine *e, int64_t budget_us, int *did, int *more, nu_error *err);

/* The flow table changed through this engine's own connection (a deploy,
 * pause or resume over the API): the next pump reloads the flows before
 * it reads events. Changes by other processes are noticed by themselves. */
void nu_engine_flows_changed(nu_engine *e);

/* One round of the pump inside the caller's open transaction (the HTTP
 * ingest group), so that events and the runs they start share a commit:
 * reads the logs, fires due timers, claims due sends. All or nothing: on
 * an error the engine's part is undone and the caller's kept. The claimed
 * sends go to their channels at the next nu_engine_pump_for, which the
 * caller asks for once its commit is done; if instead it rolls back, it
 * says so with nu_engine_joined_rolled_back. A no-op inside a pump.
 * *did counts what was done (sends claimed among it). */
int  nu_engine_pump_joined(nu_engine *e, int64_t budget_us, int *did, nu_error *err);
void nu_engine_joined_rolled_back(nu_engine *e);

/* Moves a clock to `target`, stopping at each due wait on the way so every
 * timer fires at its own time, pumping at each stop. set_clock(ud, t) must
 * make the store's clock read t. Used by flow tests and `nurture clock`. */
int nu_engine_advance(nu_engine *e, int64_t target, void (*set_clock)(void *ud, int64_t t),
		      void *ud, int *steps, nu_error *err);

/* Which try of op_id this is (1 for the first), for the channel. */
int nu_engine_send_attempt(nu_engine *e, int64_t op_id);

/* Steps taken since the engine opened: replayed from the top of the flow
 * with the journal, or continued in memory where the last one stopped
 * (runs.c). Kept: runs in memory now. For /metrics and tests. */
typedef struct nu_engine_step_stats {
	uint64_t replayed, continued, kept;
} nu_engine_step_stats;
void nu_engine_step_stats_get(nu_engine *e, nu_engine_step_stats *out);

/* The earliest due time of a waiting run (0 if none). */
int nu_engine_next_due(nu_engine *e, int64_t *due, nu_error *err);

/* Called by a channel when a send finished. status: "sent", "failed"
 * (never retried), "retry" (temporary), "unknown". */
int nu_engine_send_complete(nu_engine *e, int64_t op_id, const char *status,
			    const char *provider_id, const char *error, nu_error *err);

/* Effect protocol used by the Lua bindings: answers `kind`+`request` from
 * the journal, or performs it. DONE: *result is set (caller decrefs).
 * BLOCKED: the run must stop here. < 0: ctx->err says why (a journal
 * mismatch, a rule that tried to wait, a database failure). request is
 * borrowed. */
int nu_effect(nu_run_ctx *ctx, const char *kind, json_t *request, json_t **result);

#endif
