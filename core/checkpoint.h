/*
 * checkpoint.h — WAL checkpoints on a thread of their own, for the daemon.
 *
 * SQLite folds the WAL back into the database file every 1000 pages by
 * default, inside whichever COMMIT crosses the mark: an fdatasync of
 * 3-9 ms on the event loop, which every request waiting behind it pays
 * (the spikes of bench_http's latency part). The daemon turns that off
 * on its connection and runs passive checkpoints here instead, on a
 * separate connection: a passive checkpoint never blocks the writer, and
 * the writer never waits for the disk to sync pages it already logged.
 */
#ifndef NU_CHECKPOINT_H
#define NU_CHECKPOINT_H

#include "store.h"

typedef struct nu_checkpointer nu_checkpointer;

/* Starts the thread on s's file (a passive checkpoint every interval_ms),
 * then turns off s's automatic checkpoints. */
int  nu_checkpointer_start(nu_store *s, int interval_ms, nu_checkpointer **out, nu_error *err);
/* Stops the thread (after one last checkpoint) and gives s its automatic
 * checkpoints back. NULL is fine. */
void nu_checkpointer_stop(nu_checkpointer *c);

#endif
