/*
 * checkpoint.c — WAL checkpoints for the daemon, mostly off the event loop
 * (checkpoint.h).
 *
 * SQLite's own scheme checkpoints inside whichever COMMIT takes the WAL
 * past 1 000 pages: an fsync of the WAL, the copy, an fsync of the
 * database, 3-10 ms on the loop for every request waiting behind it.
 *
 * Here the daemon's connection reports each commit through the WAL hook.
 * Past BACKGROUND_FRAMES a thread with a connection of its own runs a
 * passive checkpoint, which takes no lock a writer needs: the loop goes on
 * committing while the thread syncs and copies.
 *
 * A passive checkpoint alone is not enough. SQLite starts the WAL over
 * only when a write transaction begins with every frame already copied,
 * and under steady writes the thread never quite catches up: each pass
 * ends a few hundred frames behind, the WAL grows without bound and every
 * read slows down with it. So once the WAL passes RESTART_FRAMES the loop
 * copies that remainder itself, between two transactions: a short
 * checkpoint (the thread already synced and copied the bulk), after which
 * the next write starts the WAL from the beginning.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sqlite3.h>
#include "checkpoint.h"
#include "log.h"
#include "timefmt.h"

/* SQLite's own mark for the passes, and a WAL of one wal-index segment
 * (4 096 frames) at most. Passes every 4 000 pages with a 64 MB WAL were
 * tried: fewer syncs, but every page read looks through four wal-index
 * segments, and batch ingest fell from 103-109 k to 63-97 k events/s
 * between 2 and 6 M stored events (bench_http part 2). */
#define BACKGROUND_FRAMES 1000
#define RESTART_FRAMES    4000   /* 16 MB of 4 KiB pages */

struct nu_checkpointer {
	nu_store *s;
	sqlite3 *db;               /* the thread's own connection */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;              /* under lock */
	atomic_int busy;           /* a pass is asked for (set under lock) or running */
	atomic_uint_fast64_t passes;
	uint64_t on_loop, on_loop_us;   /* loop thread only */
	int frames;                     /* loop thread only: WAL size after the last commit */
	int loop_at;                    /* loop thread only: WAL size for the next loop checkpoint */
};

static void passive(sqlite3 *db, const char *schema)
{
	int rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
		nu_log(NU_LOG_WARN, NULL, "WAL checkpoint: %s", sqlite3_errmsg(db));
}

static void *run(void *arg)
{
	nu_checkpointer *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->stopping && !atomic_load(&c->busy))
			pthread_cond_wait(&c->wake, &c->lock);
		if (c->stopping)
			break;
		pthread_mutex_unlock(&c->lock);
		passive(c->db, NULL);
		atomic_fetch_add(&c->passes, 1);
		atomic_store(&c->busy, 0);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void ask_for_pass(nu_checkpointer *c)
{
	pthread_mutex_lock(&c->lock);
	atomic_store(&c->busy, 1);
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
}

/* The WAL hook: runs on the loop after each commit of the daemon's
 * connection, with the WAL's size in frames. */
static int on_commit(void *ud, sqlite3 *db, const char *schema, int frames)
{
	nu_checkpointer *c = ud;

	c->frames = frames;
	if (frames < RESTART_FRAMES)
		c->loop_at = RESTART_FRAMES;
	if (atomic_load(&c->busy) || frames < BACKGROUND_FRAMES)
		return SQLITE_OK;
	if (frames < c->loop_at) {
		ask_for_pass(c);
		return SQLITE_OK;
	}
	/* The thread is idle and has copied all but what came since its last
	 * pass: copy the rest here so the next write restarts the WAL. */
	int64_t t0 = nu_time_monotonic_us();
	passive(db, schema);
	c->on_loop++;
	c->on_loop_us += (uint64_t)(nu_time_monotonic_us() - t0);
	/* A reader still on old frames keeps the WAL from restarting: leave
	 * it to the thread until the WAL has grown as much again. */
	c->loop_at = frames + RESTART_FRAMES;
	return SQLITE_OK;
}

static int open_connection(nu_checkpointer *c, nu_error *err)
{
	if (sqlite3_open_v2(nu_store_path(c->s), &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK)
		return nu_error_set(err, NU_EDB, "checkpoint connection: %s", sqlite3_errmsg(c->db));
	/* A connection learns the file is in WAL mode when it first reads it;
	 * until then a checkpoint is a silent no-op. */
	if (sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK)
		return nu_error_set(err, NU_EDB, "checkpoint connection: %s", sqlite3_errmsg(c->db));
	return NU_OK;
}

int nu_checkpointer_start(nu_store *s, nu_checkpointer **out, nu_error *err)
{
	nu_checkpointer *c = calloc(1, sizeof *c);

	*out = NULL;
	if (!c)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	c->s = s;
	c->loop_at = RESTART_FRAMES;
	if (open_connection(c, err) < 0) {
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
	/* Replaces SQLite's automatic checkpoints (they are this same hook). */
	sqlite3_wal_hook(nu_store_db(s), on_commit, c);
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
	/* Back to SQLite's own scheme for whatever the connection does next. */
	sqlite3_wal_autocheckpoint(nu_store_db(c->s), 1000);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	sqlite3_close(c->db);
	free(c);
}

void nu_checkpointer_stats(const nu_checkpointer *c, nu_checkpoint_stats *out)
{
	out->background = c ? atomic_load(&((nu_checkpointer *)c)->passes) : 0;
	out->on_loop = c ? c->on_loop : 0;
	out->on_loop_us = c ? c->on_loop_us : 0;
	out->wal_frames = c ? c->frames : 0;
}
