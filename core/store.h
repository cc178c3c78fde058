/*
 * store.h — the SQLite database underneath everything: opening with the
 * right pragmas, numbered migrations, a prepared-statement cache,
 * transactions and savepoints, the clock, and online backup.
 *
 * One nu_store is one connection, used from one thread. The lead store
 * modules (leads, identity, tags, events, stages, merge) take a nu_store and
 * never open connections of their own.
 */
#ifndef NU_STORE_H
#define NU_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include "error.h"

typedef struct nu_store nu_store;
typedef struct nu_stage_model nu_stage_model;

/* A clock the store reads for every timestamp it writes. Tests and the
 * simulated-time flow runner swap it for a virtual one. */
typedef int64_t (*nu_clock_fn)(void *ud);

typedef struct nu_store_options {
	const char *synchronous;     /* "NORMAL" (default), "FULL", "OFF" */
	int         busy_timeout_ms; /* 0 = fail at once; 5000 when no options are given */
	int         read_only;       /* open without creating or migrating */
} nu_store_options;

/* Settings the lead-store modules read; filled from the config file. */
typedef struct nu_store_settings {
	char phone_default_cc[8];           /* "86" */
	const nu_stage_model *stages;       /* borrowed; NULL = built-in funnel */
} nu_store_settings;

/* One numbered migration: `sql` takes the schema from version-1 to version. */
typedef struct nu_migration {
	int         version;
	const char *sql;
} nu_migration;

/* Opens (creating if needed) and migrates the database at `path`.
 * A database whose user_version is newer than this build knows is refused
 * with NU_EVERSION. *out is freed with nu_store_close. */
int  nu_store_open(const char *path, const nu_store_options *opt,
		   nu_store **out, nu_error *err);
void nu_store_close(nu_store *s);

sqlite3 *nu_store_db(nu_store *s);
const char *nu_store_path(const nu_store *s);
nu_store_settings *nu_store_settings_of(nu_store *s);

/* Returns the cached statement for `sql`, reset and with bindings cleared.
 * `sql` must be a string literal (or otherwise static): its address is the
 * cache key. The statement stays owned by the store. NULL on error. */
sqlite3_stmt *nu_store_stmt(nu_store *s, const char *sql, nu_error *err);

/* Fills err with SQLite's message for the last failure, prefixed by `what`,
 * and returns NU_EDB. */
int nu_store_fail(nu_store *s, nu_error *err, const char *what);

/* A copy of a text column (free with free()), or NULL for SQL NULL. */
char *nu_store_text_dup(sqlite3_stmt *st, int col);

/* Runs one or more statements with no results (schema, pragmas). */
int nu_store_exec(nu_store *s, const char *sql, nu_error *err);

/* Top-level write transaction (BEGIN IMMEDIATE, so a writer never has to
 * upgrade a read lock and deadlock). Inner units of work use savepoints. */
int  nu_store_begin(nu_store *s, nu_error *err);
int  nu_store_commit(nu_store *s, nu_error *err);
void nu_store_rollback(nu_store *s);
/* Whether a transaction of a caller's own is open (a commit group's,
 * below, does not count: beginning one ends the group). */
int  nu_store_in_tx(nu_store *s);

/* Commit groups: writers whose only promise is "durable before the
 * answer" (event ingest over HTTP) share one transaction per event-loop
 * turn, because SQLite's cost is per commit, not per row. The first
 * member opens it (BEGIN IMMEDIATE), later ones join; the owner commits
 * it and then answers every member. Anyone else calling nu_store_begin
 * meanwhile makes the store call the flush hook first, so the group
 * never holds up, or mixes with, another writer's transaction. */
int  nu_store_group_join(nu_store *s, nu_error *err);
int  nu_store_group_open(const nu_store *s);
int  nu_store_group_commit(nu_store *s, nu_error *err);
void nu_store_group_rollback(nu_store *s);
/* flush(ud) must end the group (commit or roll back) before returning. */
void nu_store_on_group_flush(nu_store *s, void (*flush)(void *ud), void *ud);

/* Savepoints make a multi-statement change (a merge, an import row) atomic
 * whether or not the caller holds a transaction. */
int  nu_store_savepoint(nu_store *s, nu_error *err);
int  nu_store_release(nu_store *s, nu_error *err);
void nu_store_rollback_to(nu_store *s);

/* Called after each nu_store_commit that succeeded (committed 1) and each
 * rollback of an open transaction (0), for state kept in memory that is
 * only good once its transaction commits. One listener; NULL removes it. */
void nu_store_on_tx_end(nu_store *s, void (*fn)(void *ud, int committed), void *ud);

/* A mark inside a transaction, apart from the savepoints above (units
 * nested after it keep their own outcome): nu_store_back_to_mark undoes
 * what came after it and keeps what came before, nu_store_unmark keeps
 * everything. One mark at a time. */
int  nu_store_mark(nu_store *s, nu_error *err);
int  nu_store_unmark(nu_store *s, nu_error *err);
void nu_store_back_to_mark(nu_store *s);

/* Commit latency of this connection, for /metrics: a histogram with
 * cumulative-free buckets (bucket[i] counts commits <= bounds[i] µs and
 * above bounds[i-1]). */
#define NU_STORE_COMMIT_BUCKETS 10
extern const int64_t nu_store_commit_bounds[NU_STORE_COMMIT_BUCKETS];
typedef struct nu_store_stats {
	uint64_t commits;
	uint64_t commit_us;
	uint64_t bucket[NU_STORE_COMMIT_BUCKETS];
} nu_store_stats;
const nu_store_stats *nu_store_get_stats(nu_store *s);

int64_t nu_store_now(nu_store *s);
void    nu_store_set_clock(nu_store *s, nu_clock_fn fn, void *ud);

/* Applies the migrations newer than the database's user_version in one
 * transaction. Exposed with an explicit list so tests can migrate through
 * versions of their own. */
int nu_store_migrate(sqlite3 *db, const nu_migration *list, size_t n,
		     nu_error *err);
/* The schema this build knows. */
extern const nu_migration nu_schema_migrations[];
extern const size_t nu_schema_migration_count;
int nu_store_schema_version(void);

/* Copies the live database to `out_path` through SQLite's online backup
 * API into a temporary file that is renamed into place when complete, so a
 * half-written backup never carries the final name. Readers and writers on
 * other connections go on meanwhile (WAL). */
int nu_store_backup(nu_store *s, const char *out_path,
		    void (*progress)(int remaining, int total, void *ud),
		    void *ud, nu_error *err);

#endif
