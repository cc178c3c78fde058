/*
 * engine_private.h — what the engine's files (engine.c, runs.c,
 * journal.c, outbox.c) share and nothing else may use.
 */
#ifndef NU_ENGINE_PRIVATE_H
#define NU_ENGINE_PRIVATE_H

#include "engine.h"
#include "lua_sandbox.h"

#define NU_MAX_CHANNELS NU_MAX_CHANNELS_PUBLIC
#define NU_VERSION_CACHE 32
#define NU_STEP_MEM_LIMIT (16u << 20)
#define NU_STEP_INSTR_LIMIT 10000000u

#define NU_DISPATCH_BATCH 200

/* A send claimed for its channel ('sending', committed before it goes). */
struct nu_claimed_send {
	int64_t op_id, lead_id;
	int attempt;                  /* the try this claim starts (1 for the first) */
	char channel[32];
	json_t *message;
};

/* A deployed flow: the version new runs start on. */
struct nu_deployed {
	nu_flow flow;
	int paused;
};

struct nu_engine {
	nu_store *s;
	const nu_channel *channels[NU_MAX_CHANNELS];
	size_t nchannels;
	struct nu_deployed *flows;      /* current version of each flow */
	size_t nflows;
	nu_flow cache[NU_VERSION_CACHE];   /* pinned versions, by sha */
	size_t ncache, cache_next;
	nu_lua_sandbox lua;             /* every step's state (runs.c); L NULL until the first */
	struct nu_hot_runs *hot;        /* runs kept in memory for a continuation (runs.c) */
	uint64_t steps_replayed, steps_continued;
	int pumping;                    /* inside nu_engine_pump_for */
	int reading_log;                /* inside read_log: new runs take their first step at once */
	int collect_woken;              /* nu_outbox_hand_over: completions list runs in woken */
	int64_t *woken;                 /* runs whose sends completed, to step in the same transaction */
	size_t nwoken, woken_cap;
	int64_t data_version;           /* SQLite's, when the flow table was last looked at */
	char flows_seen[64];            /* count and last change of the flow table */
	int flows_changed;              /* nu_engine_flows_changed was called */
	int dispatching;                /* inside nu_outbox_hand_over */
	struct nu_claimed_send claimed[NU_DISPATCH_BATCH];
	size_t nclaimed;
	int64_t sending_op;             /* the op being handed to its channel, and its try */
	int sending_attempt;
	nu_send_policy policy;
	int no_dispatch;
	void (*wakeup)(void *ud);
	void *wakeup_ud;
	struct { int64_t second; int count; } rate_windows[8];   /* by policy.rates index */
	int64_t turn_deadline_us;       /* monotonic; 0: pump until done */
	int turn_cut;                   /* the deadline stopped a pump with work left */
	int turn_units;                 /* events and timers handled this turn */
};

/* engine.c */
/* A score moved from `before` to `after`: enrols in flows triggered by it
 * rising past their threshold (in the caller's transaction). */
int nu_engine_on_score(nu_engine *e, int64_t lead_id, const char *which, double before,
		       double after, nu_error *err);
const nu_flow *nu_engine_version(nu_engine *e, const char *sha, nu_error *err);
const nu_channel *nu_engine_channel(nu_engine *e, const char *name);
int nu_wait_add(nu_store *s, int64_t due, int64_t run_id, int64_t seq, nu_error *err);
/* Lists a run whose send just completed, to step before the hand-over's
 * transaction commits; NU_ENOMEM if the list cannot grow. */
int nu_engine_note_woken(nu_engine *e, int64_t run_id);
int nu_json_where_matches(const json_t *where, const json_t *props);

/* runs.c */
/* The event that started a run, as the pump has it in hand: spares the
 * run's first step reading it back. */
typedef struct nu_trigger {
	int64_t id, at;
	const char *type;
	const json_t *props;     /* may be NULL */
} nu_trigger;
/* One step of the run; t may be NULL (the trigger is read if there is one). */
int nu_run_step(nu_engine *e, int64_t run_id, const nu_trigger *t, nu_error *err);
/* Closes the engine's Lua state (at close, and when the flows change),
 * and with it the runs kept in memory. */
void nu_run_close_lua(nu_engine *e);
void nu_run_free_kept(nu_engine *e);
int  nu_run_is_kept(nu_engine *e, int64_t run_id);
/* A kept run that must not be continued (it ended, or its step was undone). */
void nu_run_forget(nu_engine *e, int64_t run_id);
/* The store's transaction ended: runs kept inside it are good once it
 * committed, and dropped when it rolled back (a mark undone counts). */
void nu_run_tx_end(nu_engine *e, int committed);
int nu_run_end(nu_engine *e, int64_t run_id, const char *status, const char *error,
	       nu_error *err);
/* Runs a rule (no journal, no waits) on one event. */
int nu_rule_apply(nu_engine *e, const nu_flow *rule, int64_t lead_id, int64_t event_id,
		  nu_error *err);

/* journal.c: reads the run's whole journal into ctx (one range scan), so
 * replay costs no query per effect; nu_journal_release frees it. */
int  nu_journal_load(nu_run_ctx *ctx, nu_error *err);
void nu_journal_release(nu_run_ctx *ctx);
/* journal.c: completes a pending journal row; result is borrowed. */
int nu_journal_complete(nu_store *s, int64_t run_id, int64_t seq, const json_t *result,
			nu_error *err);
/* request may be NULL: not read. */
int nu_journal_get(nu_store *s, int64_t run_id, int64_t seq, char *kind, size_t kindlen,
		   json_t **request, json_t **result, nu_error *err);

/* outbox.c */
int nu_outbox_add(nu_run_ctx *ctx, int64_t seq, const char *channel, const json_t *message,
		  nu_error *err);
/* Inside the caller's transaction: marks up to NU_DISPATCH_BATCH due
 * sends 'sending' and lists them in e->claimed. */
int nu_outbox_claim(nu_engine *e, nu_error *err);
/* Once the claim is committed: hands e->claimed to their channels and
 * empties the list. Channels that answer at once complete in the caller's
 * transaction, if there is one. */
int nu_outbox_hand_over(nu_engine *e, nu_error *err);
/* Forgets e->claimed (after a rollback the rows are still 'pending'). */
void nu_outbox_unclaim(nu_engine *e);
int nu_outbox_recover(nu_engine *e, nu_error *err);
int nu_outbox_cancel_run(nu_store *s, int64_t run_id, nu_error *err);
/* The address a channel reaches a lead at: email → the email field, sms →
 * the phone, any other channel → "lead:<id>" until its plugin says more. */
void nu_outbox_address(nu_store *s, int64_t lead_id, const char *channel, char *out, size_t len);

#endif
