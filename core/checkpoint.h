/*
 * checkpoint.h — WAL checkpoints for the daemon, mostly on a thread of
 * their own so that syncing the disk stays off the event loop.
 *
 * The daemon's connection stops checkpointing inside commits. A thread
 * with its own connection runs passive checkpoints once the WAL passes
 * 1 000 pages; when the WAL passes 4 000 the loop copies the little the
 * thread has not, so that SQLite can start the WAL over (checkpoint.c
 * says why the thread alone cannot). CLI commands keep SQLite's own
 * automatic checkpoints.
 */
#ifndef NU_CHECKPOINT_H
#define NU_CHECKPOINT_H

#include <stdint.h>
#include "store.h"

typedef struct nu_checkpointer nu_checkpointer;

typedef struct nu_checkpoint_stats {
	uint64_t background;    /* passes of the thread */
	uint64_t on_loop;       /* remainders copied on the loop */
	uint64_t on_loop_us;    /* time those took */
	int      wal_frames;    /* the WAL's size after the last commit */
} nu_checkpoint_stats;

/* Starts the thread on s's file and takes over s's checkpoints. */
int  nu_checkpointer_start(nu_store *s, nu_checkpointer **out, nu_error *err);
/* Stops the thread and gives s SQLite's automatic checkpoints back.
 * NULL is fine. */
void nu_checkpointer_stop(nu_checkpointer *c);
/* c may be NULL (no thread): all zero. */
void nu_checkpointer_stats(const nu_checkpointer *c, nu_checkpoint_stats *out);

#endif
