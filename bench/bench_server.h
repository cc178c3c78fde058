/*
 * bench_server.h — what the benchmarks share: a bare evhttp server on
 * 127.0.0.1 in a thread of its own (the raw limit a benchmark compares
 * against, or a provider it sends to), and pinning a thread to a CPU.
 */
#ifndef NU_BENCH_SERVER_H
#define NU_BENCH_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <event2/http.h>

typedef struct bench_server {
	struct event_base *base;
	struct evhttp *http;
	struct evbuffer *out;          /* for serve's answer: send_reply empties it */
	struct event *stop;
	int stop_pipe[2];
	int port, cpu;
	pthread_t thread;
	atomic_ulong requests;         /* counted by serve */
	atomic_ulong bad;              /* requests serve refused */
} bench_server;

/* The first two CPUs this process may use: the server's and the
 * client's. -1 each when there are fewer than two. */
void bench_pick_cpus(int *server, int *client);
/* Pins thread t to cpu (nothing when cpu < 0). */
void bench_pin(pthread_t t, int cpu);

/* Binds a free port on 127.0.0.1 and serves every request with
 * serve(req, s) on a thread pinned to cpu. max_body 0: libevent's
 * default. Exits with `name` in the message on any failure. */
void bench_server_start(bench_server *s, const char *name, int cpu, size_t max_body,
			void (*serve)(struct evhttp_request *req, void *s));
/* CPU time of the server's thread, in seconds. */
double bench_server_cpu(const bench_server *s);
void bench_server_stop(bench_server *s);

#endif
