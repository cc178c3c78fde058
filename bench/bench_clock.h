/*
 * bench_clock.h — the clocks every benchmark reads: elapsed time and the
 * calling thread's CPU time, in seconds.
 */
#ifndef NU_BENCH_CLOCK_H
#define NU_BENCH_CLOCK_H

#include <time.h>

static inline double bench_seconds(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Monotonic time: what a rate or a latency is measured against. */
static inline double now_s(void)
{
	return bench_seconds(CLOCK_MONOTONIC);
}

/* CPU time of the calling thread: the client's own cost, whatever the
 * server thread and the rest of the machine are doing. */
static inline double cpu_s(void)
{
	return bench_seconds(CLOCK_THREAD_CPUTIME_ID);
}

#endif
