/*
 * bench_server.c — the bare evhttp server and CPU pinning of the
 * benchmarks (bench_server.h).
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "bench_server.h"

static void fail(const char *name, const char *what)
{
	fprintf(stderr, "bench: %s: %s\n", name, what);
	exit(1);
}

void bench_pick_cpus(int *server, int *client)
{
	cpu_set_t set;

	*server = *client = -1;
	if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) < 2)
		return;
	for (int c = 0; c < CPU_SETSIZE && *client < 0; c++)
		if (CPU_ISSET(c, &set)) {
			if (*server < 0)
				*server = c;
			else
				*client = c;
		}
}

void bench_pin(pthread_t t, int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(t, sizeof set, &set);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(((bench_server *)arg)->base);
}

static void *server_main(void *arg)
{
	bench_server *s = arg;

	bench_pin(pthread_self(), s->cpu);
	event_base_dispatch(s->base);
	return NULL;
}

void bench_server_start(bench_server *s, const char *name, int cpu, size_t max_body,
			void (*serve)(struct evhttp_request *req, void *s))
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in a;
	socklen_t alen = sizeof a;

	memset(s, 0, sizeof *s);
	s->cpu = cpu;
	if (!(s->base = event_base_new()) || !(s->http = evhttp_new(s->base)) ||
	    !(s->out = evbuffer_new()))
		fail(name, "out of memory");
	if (!(bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0)))
		fail(name, "cannot bind 127.0.0.1");
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&a, &alen) != 0)
		fail(name, "getsockname");
	s->port = ntohs(a.sin_port);
	if (max_body)
		evhttp_set_max_body_size(s->http, (ev_ssize_t)max_body);
	evhttp_set_gencb(s->http, serve, s);
	if (pipe(s->stop_pipe) != 0 ||
	    !(s->stop = event_new(s->base, s->stop_pipe[0], EV_READ, on_stop, s)) ||
	    event_add(s->stop, NULL) != 0)
		fail(name, "stop pipe");
	if (pthread_create(&s->thread, NULL, server_main, s) != 0)
		fail(name, "cannot start its thread");
}

double bench_server_cpu(const bench_server *s)
{
	clockid_t cid;
	struct timespec ts;

	if (pthread_getcpuclockid(s->thread, &cid) != 0 || clock_gettime(cid, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void bench_server_stop(bench_server *s)
{
	if (write(s->stop_pipe[1], "x", 1) != 1)
		fail("server", "cannot stop it");
	pthread_join(s->thread, NULL);
	event_free(s->stop);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	evhttp_free(s->http);
	evbuffer_free(s->out);
	event_base_free(s->base);
}
