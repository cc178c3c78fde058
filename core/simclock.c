/*
 * simclock.c — wall clock plus a stored offset.
 */
#include "simclock.h"
#include "timefmt.h"

struct offset_clock {
	int64_t offset;
};

/* One per process: the CLI and the daemon open one store each. */
static struct offset_clock the_clock;

static int64_t offset_now(void *ud)
{
	return nu_time_now_ms() + ((struct offset_clock *)ud)->offset;
}

static int read_offset(nu_store *s, int64_t *offset, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT value FROM setting WHERE key = 'clock_offset_ms'", err);

	if (!st)
		return NU_EDB;
	*offset = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return NU_OK;
}

static int write_offset(nu_store *s, int64_t offset, nu_error *err)
{
	sqlite3_stmt *st = nu_store_stmt(s, "INSERT INTO setting (key, value) VALUES ('clock_offset_ms', ?)"
					 " ON CONFLICT (key) DO UPDATE SET value = excluded.value", err);

	if (!st)
		return NU_EDB;
	sqlite3_bind_int64(st, 1, offset);
	return sqlite3_step(st) == SQLITE_DONE ? NU_OK : nu_store_fail(s, err, "saving clock");
}

int nu_simclock_install(nu_store *s, int64_t *offset, nu_error *err)
{
	if (read_offset(s, &the_clock.offset, err) < 0)
		return NU_EDB;
	if (offset)
		*offset = the_clock.offset;
	if (the_clock.offset)
		nu_store_set_clock(s, offset_now, &the_clock);
	return NU_OK;
}

int64_t nu_simclock_offset(void)
{
	return the_clock.offset;
}

json_t *nu_simclock_sends(nu_store *s, int64_t from, int64_t to)
{
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT channel, count(*) FROM outbox"
					 " WHERE created_at > ? AND created_at <= ?"
					 " GROUP BY channel ORDER BY channel", NULL);
	json_t *o = json_object();

	if (!st || !o)
		return o;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, to);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_object_set_new(o, (const char *)sqlite3_column_text(st, 0),
				    json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_reset(st);
	return o;
}

int nu_simclock_set(nu_store *s, int64_t t, nu_error *err)
{
	int64_t offset = t - nu_time_now_ms(), stored;

	/* Never backwards, not even behind another process's advance. */
	if (read_offset(s, &stored, err) < 0)
		return NU_EDB;
	if (offset < stored)
		offset = stored;
	if (offset < the_clock.offset)
		offset = the_clock.offset;
	the_clock.offset = offset;
	nu_store_set_clock(s, offset_now, &the_clock);
	return write_offset(s, offset, err);
}

struct advancing {
	nu_store *s;
	nu_error *err;
	int failed;
};

static void set_clock(void *ud, int64_t t)
{
	struct advancing *a = ud;

	if (nu_simclock_set(a->s, t, a->err) < 0)
		a->failed = 1;
}

int nu_simclock_advance(nu_engine *e, int64_t ms, int *steps, nu_error *err)
{
	nu_store *s = nu_engine_store(e);
	struct advancing a = { s, err, 0 };

	if (ms < 0)
		return nu_error_set(err, NU_EINVAL, "the clock only moves forward");
	if (nu_simclock_install(s, NULL, err) < 0)
		return NU_EDB;
	int rc = nu_engine_advance(e, nu_store_now(s) + ms, set_clock, &a, steps, err);
	return a.failed ? NU_EDB : rc;
}
