/*
 * checkpoint.c — the daemon's WAL checkpoint thread (checkpoint.h).
 *
 * One thread, one SQLite connection of its own (SQLite connections may be
 * used from any one thread at a time; this one never leaves its thread).
 * It wakes every interval, runs a passive checkpoint and goes back to
 * sleep; a stop request wakes it at once through the condition variable,
 * and it checkpoints one last time before it ends.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <sqlite3.h>
#include "checkpoint.h"
#include "log.h"

struct nu_checkpointer {
	nu_store *s;
	sqlite3 *db;
	int interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;
};

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Copies what no reader still needs from the WAL into the database and
 * syncs it; with nothing new in the WAL it costs a few reads. */
static void checkpoint_once(nu_checkpointer *c)
{
	int rc = sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
		nu_log(NU_LOG_WARN, NULL, "WAL checkpoint: %s", sqlite3_errmsg(c->db));
}

static void *run(void *arg)
{
	nu_checkpointer *c = arg;
	struct timespec until;

	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		deadline_after(&until, c->interval_ms);
		while (!c->stopping && pthread_cond_timedwait(&c->wake, &c->lock, &until) != ETIMEDOUT)
			;
		if (c->stopping)
			break;
		pthread_mutex_unlock(&c->lock);
		checkpoint_once(c);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	checkpoint_once(c);
	return NULL;
}

int nu_checkpointer_start(nu_store *s, int interval_ms, nu_checkpointer **out, nu_error *err)
{
	nu_checkpointer *c = calloc(1, sizeof *c);

	*out = NULL;
	if (!c)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	c->s = s;
	c->interval_ms = interval_ms;
	if (sqlite3_open_v2(nu_store_path(s), &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		nu_error_set(err, NU_EDB, "checkpoint connection: %s", sqlite3_errmsg(c->db));
		sqlite3_close(c->db);
		free(c);
		return NU_EDB;
	}
	sqlite3_busy_timeout(c->db, 1000);
	/* A connection learns the file is in WAL mode when it first reads
	 * it; until then a checkpoint is a silent no-op. */
	if (sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK) {
		nu_error_set(err, NU_EDB, "checkpoint connection: %s", sqlite3_errmsg(c->db));
		sqlite3_close(c->db);
		free(c);
		return NU_EDB;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	if (pthread_create(&c->thread, NULL, run, c) != 0) {
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->lock);
		sqlite3_close(c->db);
		free(c);
		return nu_error_set(err, NU_ERR, "cannot start the checkpoint thread");
	}
	/* Only now: if the thread could not start, SQLite keeps doing it. */
	nu_store_exec(s, "PRAGMA wal_autocheckpoint = 0", NULL);
	*out = c;
	return NU_OK;
}

void nu_checkpointer_stop(nu_checkpointer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	nu_store_exec(c->s, "PRAGMA wal_autocheckpoint = 1000", NULL);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	sqlite3_close(c->db);
	free(c);
}
