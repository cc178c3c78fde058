/*
 * store.c — owns the SQLite connection: pragmas, migrations, the
 * prepared-statement cache, transactions, the clock and backup.
 *
 * Why a statement cache keyed by address: every query in the core is a
 * string literal, so its address identifies it; hashing the pointer is
 * cheaper than hashing the text and cannot collide between two queries.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "store.h"
#include "timefmt.h"

#define STMT_CACHE_SLOTS 256   /* power of two; the core has < 100 queries */

struct stmt_slot {
	const char   *sql;
	sqlite3_stmt *stmt;
};

struct nu_store {
	sqlite3 *db;
	char *path;
	int tx_depth;          /* 1 inside nu_store_begin … commit */
	nu_store_stats stats;
	int sp_depth;          /* nesting of nu_store_savepoint */
	int sp_doomed;         /* an inner level rolled back */
	int group;             /* the open transaction is a commit group's */
	void (*group_flush)(void *ud);
	void *group_flush_ud;
	void (*tx_end)(void *ud, int committed);
	void *tx_end_ud;
	nu_clock_fn clock;
	void *clock_ud;
	nu_store_settings settings;
	struct stmt_slot cache[STMT_CACHE_SLOTS];
};

static int64_t wall_clock(void *ud)
{
	(void)ud;
	return nu_time_now_ms();
}

int nu_store_fail(nu_store *s, nu_error *err, const char *what)
{
	return nu_error_set(err, NU_EDB, "%s: %s", what,
			    s && s->db ? sqlite3_errmsg(s->db) : "no database");
}

char *nu_store_text_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? strdup((const char *)t) : NULL;
}

int nu_store_exec(nu_store *s, const char *sql, nu_error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		nu_error_set(err, NU_EDB, "%s", msg ? msg : "sqlite error");
		sqlite3_free(msg);
		return NU_EDB;
	}
	return NU_OK;
}

static int db_exec(sqlite3 *db, const char *sql, nu_error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		nu_error_set(err, NU_EDB, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return NU_EDB;
	}
	return NU_OK;
}

static int user_version(sqlite3 *db, int *version, nu_error *err)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return nu_error_set(err, NU_EDB, "reading schema version: %s",
				    sqlite3_errmsg(db));
	rc = sqlite3_step(st);
	*version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW)
		return nu_error_set(err, NU_EDB, "reading schema version: %s",
				    sqlite3_errmsg(db));
	return NU_OK;
}

int nu_store_migrate(sqlite3 *db, const nu_migration *list, size_t n,
		     nu_error *err)
{
	int current, latest = n ? list[n - 1].version : 0;
	char pragma[64];

	if (user_version(db, &current, err) < 0)
		return NU_EDB;
	if (current > latest)
		return nu_error_set(err, NU_EVERSION,
			"database schema version %d is newer than this nurture "
			"understands (up to %d); upgrade nurture or use a backup "
			"made by this version", current, latest);
	if (current == latest)
		return NU_OK;
	/* All pending steps in one transaction: a failure leaves the file
	 * exactly at its old version, never half-migrated. */
	if (db_exec(db, "BEGIN IMMEDIATE", err) < 0)
		return NU_EDB;
	for (size_t i = 0; i < n; i++) {
		if (list[i].version <= current)
			continue;
		if (db_exec(db, list[i].sql, err) < 0) {
			nu_error_prefix(err, "migration to schema version %d failed",
					list[i].version);
			db_exec(db, "ROLLBACK", NULL);
			return NU_EDB;
		}
	}
	snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", latest);
	if (db_exec(db, pragma, err) < 0 || db_exec(db, "COMMIT", err) < 0) {
		db_exec(db, "ROLLBACK", NULL);
		return NU_EDB;
	}
	return NU_OK;
}

int nu_store_schema_version(void)
{
	return nu_schema_migrations[nu_schema_migration_count - 1].version;
}

static int apply_pragmas(nu_store *s, const nu_store_options *opt, nu_error *err)
{
	const char *sync = opt && opt->synchronous ? opt->synchronous : "NORMAL";
	char sql[160];

	if (strcmp(sync, "NORMAL") && strcmp(sync, "FULL") && strcmp(sync, "OFF"))
		return nu_error_set(err, NU_EINVAL,
			"synchronous must be NORMAL, FULL or OFF, not '%s'", sync);
	/* 0 is honoured (fail at once on a lock); only a missing option
	 * means the default. */
	sqlite3_busy_timeout(s->db, opt ? opt->busy_timeout_ms : 5000);
	snprintf(sql, sizeof sql,
		 "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; "
		 "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;", sync);
	return nu_store_exec(s, sql, err);
}

/* SQLite counts every allocation under a global mutex for
 * sqlite3_memory_used(), which nurture never asks: a lock and an unlock
 * per malloc and free on the daemon's hot path. Only possible before
 * SQLite initialises; later (a host that opened SQLite first) it is
 * refused, harmlessly. */
static void configure_sqlite_once(void)
{
	static int done;

	if (!done) {
		done = 1;
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	}
}

int nu_store_open(const char *path, const nu_store_options *opt,
		  nu_store **out, nu_error *err)
{
	int read_only = opt && opt->read_only;
	int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	nu_store *s = calloc(1, sizeof *s);
	int rc;

	*out = NULL;
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	s->clock = wall_clock;
	strcpy(s->settings.phone_default_cc, "86");
	configure_sqlite_once();
	if (sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		rc = nu_error_set(err, NU_EDB, "cannot open database: %s",
				  s->db ? sqlite3_errmsg(s->db) : "out of memory");
	else if (read_only)
		rc = NU_OK;
	else if ((rc = apply_pragmas(s, opt, err)) == NU_OK)
		rc = nu_store_migrate(s->db, nu_schema_migrations,
				      nu_schema_migration_count, err);
	if (rc != NU_OK) {
		nu_error_prefix(err, "%s", path);
		nu_store_close(s);
		return rc;
	}
	sqlite3_extended_result_codes(s->db, 1);
	*out = s;
	return NU_OK;
}

void nu_store_close(nu_store *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < STMT_CACHE_SLOTS; i++)
		sqlite3_finalize(s->cache[i].stmt);
	if (s->db)
		sqlite3_close(s->db);
	free(s->path);
	free(s);
}

sqlite3 *nu_store_db(nu_store *s) { return s->db; }
const char *nu_store_path(const nu_store *s) { return s->path; }
nu_store_settings *nu_store_settings_of(nu_store *s) { return &s->settings; }

static size_t slot_of(const char *sql)
{
	uintptr_t h = (uintptr_t)sql;
	h ^= h >> 17;
	h *= 0x9E3779B97F4A7C15ull;
	return (size_t)(h >> 32) & (STMT_CACHE_SLOTS - 1);
}

sqlite3_stmt *nu_store_stmt(nu_store *s, const char *sql, nu_error *err)
{
	size_t i = slot_of(sql);

	for (size_t probes = 0; probes < STMT_CACHE_SLOTS; probes++) {
		struct stmt_slot *slot = &s->cache[i];
		if (slot->sql == sql) {
			sqlite3_reset(slot->stmt);
			sqlite3_clear_bindings(slot->stmt);
			return slot->stmt;
		}
		if (!slot->sql) {
			if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
					       &slot->stmt, NULL) != SQLITE_OK) {
				nu_error_set(err, NU_EDB, "preparing query: %s",
					     sqlite3_errmsg(s->db));
				slot->stmt = NULL;
				return NULL;
			}
			slot->sql = sql;
			return slot->stmt;
		}
		i = (i + 1) & (STMT_CACHE_SLOTS - 1);
	}
	nu_error_set(err, NU_ERR, "statement cache full");
	return NULL;
}

static int step_cached(nu_store *s, const char *sql, nu_error *err);

int nu_store_begin(nu_store *s, nu_error *err)
{
	/* A writer of its own ends the commit group: its owner commits it and
	 * answers the requests waiting on it, then this one starts afresh. */
	if (s->group && s->group_flush)
		s->group_flush(s->group_flush_ud);
	if (s->tx_depth)
		return nu_error_set(err, NU_ESTATE, "transaction already open");
	if (step_cached(s, "BEGIN IMMEDIATE", err) < 0)
		return NU_EDB;
	s->tx_depth = 1;
	return NU_OK;
}

/* ---- commit groups ---- */

int nu_store_group_join(nu_store *s, nu_error *err)
{
	if (s->group)
		return NU_OK;
	if (nu_store_begin(s, err) < 0)
		return NU_EDB;
	s->group = 1;
	return NU_OK;
}

int nu_store_group_open(const nu_store *s)
{
	return s->group;
}

int nu_store_group_commit(nu_store *s, nu_error *err)
{
	s->group = 0;
	return nu_store_commit(s, err);
}

void nu_store_group_rollback(nu_store *s)
{
	s->group = 0;
	nu_store_rollback(s);
}

void nu_store_on_group_flush(nu_store *s, void (*flush)(void *ud), void *ud)
{
	s->group_flush = flush;
	s->group_flush_ud = ud;
}

/* Upper bounds of the commit latency buckets, in microseconds. */
const int64_t nu_store_commit_bounds[NU_STORE_COMMIT_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, INT64_MAX,
};

static void count_commit(nu_store *s, int64_t us)
{
	int b = 0;

	while (us > nu_store_commit_bounds[b])
		b++;
	s->stats.commits++;
	s->stats.commit_us += us;
	s->stats.bucket[b]++;
}

int nu_store_commit(nu_store *s, nu_error *err)
{
	int64_t t0 = nu_time_monotonic_us();

	if (!s->tx_depth)
		return nu_error_set(err, NU_ESTATE, "no transaction to commit");
	if (step_cached(s, "COMMIT", err) < 0) {
		nu_store_rollback(s);
		return NU_EDB;
	}
	s->tx_depth = 0;
	count_commit(s, nu_time_monotonic_us() - t0);
	if (s->tx_end)
		s->tx_end(s->tx_end_ud, 1);
	return NU_OK;
}

void nu_store_rollback(nu_store *s)
{
	int open = s->tx_depth || !sqlite3_get_autocommit(s->db);

	if (open)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->tx_depth = 0;
	s->sp_depth = 0;
	s->sp_doomed = 0;
	s->group = 0;
	if (open && s->tx_end)
		s->tx_end(s->tx_end_ud, 0);
}

void nu_store_on_tx_end(nu_store *s, void (*fn)(void *ud, int committed), void *ud)
{
	s->tx_end = fn;
	s->tx_end_ud = ud;
}

int nu_store_in_tx(nu_store *s)
{
	return !sqlite3_get_autocommit(s->db) && !s->group;
}

/* ROLLBACK TO keeps the savepoint open; RELEASE then closes it. */

static void nu_store_rollback_to_outer(nu_store *s)
{
	step_cached(s, "ROLLBACK TO nu", NULL);
	step_cached(s, "RELEASE nu", NULL);
	s->sp_doomed = 0;
}

/* Savepoints run once or twice per imported row: prepared once, never
 * re-parsed (sqlite3_exec would compile the text every time). */
static int step_cached(nu_store *s, const char *sql, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, sql, err);

	if (!st)
		return NU_EDB;
	if (sqlite3_step(st) != SQLITE_DONE) {
		nu_store_fail(s, err, sql);
		sqlite3_reset(st);
		return NU_EDB;
	}
	sqlite3_reset(st);
	return NU_OK;
}

/* Nested savepoints are flattened: only the outermost level talks to
 * SQLite. Every nested caller in the core fails its whole unit when an
 * inner step fails, so inner levels need no rollback of their own; an
 * inner rollback marks the unit doomed, and the outermost release then
 * rolls back instead of committing a half-done unit. */
int nu_store_savepoint(nu_store *s, nu_error *err)
{
	if (s->sp_depth == 0 && step_cached(s, "SAVEPOINT nu", err) < 0)
		return NU_EDB;
	s->sp_depth++;
	return NU_OK;
}

int nu_store_release(nu_store *s, nu_error *err)
{
	if (--s->sp_depth > 0)
		return NU_OK;
	if (s->sp_doomed) {
		nu_store_rollback_to_outer(s);
		return nu_error_set(err, NU_ERR,
			"an inner step failed and its error was ignored; nothing was written");
	}
	return step_cached(s, "RELEASE nu", err);
}

void nu_store_rollback_to(nu_store *s)
{
	if (--s->sp_depth > 0) {
		s->sp_doomed = 1;
		return;
	}
	nu_store_rollback_to_outer(s);
}

int nu_store_mark(nu_store *s, nu_error *err)
{
	return step_cached(s, "SAVEPOINT nu_mark", err);
}

int nu_store_unmark(nu_store *s, nu_error *err)
{
	return step_cached(s, "RELEASE nu_mark", err);
}

void nu_store_back_to_mark(nu_store *s)
{
	step_cached(s, "ROLLBACK TO nu_mark", NULL);
	step_cached(s, "RELEASE nu_mark", NULL);
}

const nu_store_stats *nu_store_get_stats(nu_store *s)
{
	return &s->stats;
}

int64_t nu_store_now(nu_store *s)
{
	return s->clock(s->clock_ud);
}

void nu_store_set_clock(nu_store *s, nu_clock_fn fn, void *ud)
{
	s->clock = fn ? fn : wall_clock;
	s->clock_ud = fn ? ud : NULL;
}

static int backup_copy(sqlite3 *src, sqlite3 *dst,
		       void (*progress)(int, int, void *), void *ud, nu_error *err)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc;

	if (!b)
		return nu_error_set(err, NU_EDB, "backup: %s", sqlite3_errmsg(dst));
	/* One step of all pages reads the source inside a single read
	 * transaction: the copy is one consistent snapshot, and with WAL the
	 * writers are not blocked while it is taken. */
	rc = sqlite3_backup_step(b, -1);
	if (progress)
		progress(sqlite3_backup_remaining(b), sqlite3_backup_pagecount(b), ud);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		return nu_error_set(err, NU_EDB, "backup: %s", sqlite3_errstr(rc));
	return NU_OK;
}

int nu_store_backup(nu_store *s, const char *out_path,
		    void (*progress)(int, int, void *), void *ud, nu_error *err)
{
	size_t len = strlen(out_path) + 16;
	char *tmp = malloc(len);
	sqlite3 *dst = NULL;
	int rc;

	if (!tmp)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	snprintf(tmp, len, "%s.partial", out_path);
	unlink(tmp);
	if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK) {
		rc = nu_error_set(err, NU_EDB, "cannot create '%s': %s", tmp,
				  dst ? sqlite3_errmsg(dst) : "out of memory");
		goto out;
	}
	rc = backup_copy(s->db, dst, progress, ud, err);
	/* The copy keeps the source's journal mode in its header; switch it to
	 * DELETE so the backup is one self-contained file. */
	if (rc == NU_OK)
		rc = db_exec(dst, "PRAGMA journal_mode=DELETE", err);
	sqlite3_close(dst);
	dst = NULL;
	if (rc == NU_OK && rename(tmp, out_path) != 0)
		rc = nu_error_set(err, NU_ERR, "cannot rename '%s' to '%s': %s",
				  tmp, out_path, strerror(errno));
out:
	if (dst)
		sqlite3_close(dst);
	if (rc != NU_OK)
		unlink(tmp);
	free(tmp);
	return rc;
}
