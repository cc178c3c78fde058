/*
 * bench_dispatch.c — outbound dispatch through the host's HTTP client
 * (goal G6) as a ratio to bare libcurl measured in the same run.
 *
 * A local "provider" (evhttp on 127.0.0.1, port 0) answers every POST with
 * a small JSON body, {"msgid":"m-…"}. It runs in a thread of this process
 * with its own event_base, so it neither shares the client's loop nor
 * competes for its turns. A thread rather than a forked child: it needs no
 * process cleanup if the bench dies, its request count can be read directly
 * to check that both sides did the same work, and it can be pinned to one
 * core while the client is pinned to the other, as the raw limits in
 * performance.md were measured (each base is used by one thread only, so
 * libevent needs no locking; the server stops through a pipe on its own
 * loop).
 *
 * Both sides send the same N POSTs of the same ~300-byte JSON body with the
 * same headers, K = NU_HTTP_MAX_HOST_CONNECTIONS in flight, keep-alive:
 * 1. raw: one curl multi, K easy handles re-added as they finish, driven by
 *    curl_multi_perform + curl_multi_poll; no nurture code.
 * 2. nurture: nu_http_submit on a libevent loop, K requests started, each
 *    completion submitting the next, the way the outbox and the plugins use
 *    it. Connection reuse comes from nu_http_stats.
 * The N sends go in ROUNDS alternating rounds per side (each client and its
 * kept-alive connections live across its rounds), so a burst of noise on
 * this shared machine lands on both sides alike. Latency is from submit
 * (add_handle on the raw side) to the completion callback (info_read). The
 * figures that matter are the ratios: wall time, and the client thread's
 * CPU time per send, which other processes disturb less.
 *
 * The provider is pinned to the first allowed CPU and the client to the
 * second, as a remote provider would leave the client its core;
 * BENCH_NO_PIN=1 leaves both to the scheduler.
 *
 * usage: bench_dispatch [SENDS]   (default 50 000)
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include "bench_clock.h"
#include "bench_server.h"
#include "http_client.h"

#define K NU_HTTP_MAX_HOST_CONNECTIONS   /* requests in flight on each side */
#define ROUNDS 5                         /* alternating rounds per side */

/* A message send as a provider API would get it: ~300 bytes of JSON. */
static const char body[] =
	"{\"to\":\"lead-000123@company-9973.example.cn\",\"from\":\"marketing@nurture.example\","
	"\"template\":\"webinar_invite_2\",\"locale\":\"zh-CN\",\"vars\":{\"name\":\"Li Wei\","
	"\"company\":\"Shanghai Yunqi Information Technology\",\"webinar_at\":\"2026-03-12T14:00:00+08:00\"},"
	"\"tags\":[\"flow:webinar\",\"step:2\"],\"idempotency_key\":\"run-4711-seq-7\"}";
static const char *const headers[] = {
	"Content-Type: application/json",
	"Authorization: Bearer bench-0123456789abcdef",
	NULL,
};

static void die(const char *what)
{
	fprintf(stderr, "bench: %s\n", what);
	exit(1);
}

/* ---- the provider --------------------------------------------------------- */

static void serve(struct evhttp_request *req, void *arg)
{
	bench_server *p = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	unsigned long n;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || len != sizeof body - 1) {
		atomic_fetch_add_explicit(&p->bad, 1, memory_order_relaxed);
		evhttp_send_error(req, 400, "bad request");
		return;
	}
	evbuffer_drain(in, len);
	n = atomic_fetch_add_explicit(&p->requests, 1, memory_order_relaxed);
	evbuffer_add_printf(p->out, "{\"msgid\":\"m-%08lx\"}", n);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, 200, "OK", p->out);
}

/* ---- results ------------------------------------------------------------- */

struct result {
	double secs, cpu;   /* wall time; the client thread's CPU time */
	unsigned long done, reused, failed;
	double *lat;        /* seconds per request, sorted by report() */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double pct(const struct result *r, double q)
{
	size_t i = (size_t)(q * (double)(r->done - 1) + 0.5);
	return r->lat[i] * 1e6;
}

static void report(const char *name, struct result *r, long n)
{
	qsort(r->lat, r->done, sizeof *r->lat, cmp_double);
	printf("  %-24s %6.2f s %7.0f sends/s  %5.1f us CPU/send  latency p50 %4.0f us p99 %5.0f us"
	       "  reuse %.2f %% (%lu connects)\n", name, r->secs, (double)n / r->secs,
	       r->cpu / (double)n * 1e6, pct(r, 0.50), pct(r, 0.99),
	       100.0 * (double)r->reused / (double)r->done, r->done - r->reused);
}

static int is_msgid(const char *b, size_t len)
{
	return len > 12 && !strncmp(b, "{\"msgid\":\"m-", 12) && b[len - 1] == '}';
}

/* ---- 1. raw libcurl ------------------------------------------------------ */

struct raw_slot {
	CURL *easy;
	double t0;
	char buf[128];
	size_t len;
};

struct raw {
	CURLM *multi;
	struct curl_slist *headers;
	struct raw_slot slot[K];
};

static size_t raw_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct raw_slot *s = arg;
	size_t n = size * nmemb;

	if (n > sizeof s->buf - s->len)
		return 0;
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	return n;
}

static void raw_open(struct raw *w, const char *url)
{
	if (!(w->multi = curl_multi_init()))
		die("raw: curl_multi_init");
	w->headers = NULL;
	for (const char *const *h = headers; *h; h++)
		if (!(w->headers = curl_slist_append(w->headers, *h)))
			die("raw: out of memory");
	curl_multi_setopt(w->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)K);
	for (int i = 0; i < K; i++) {
		CURL *e = w->slot[i].easy = curl_easy_init();
		if (!e)
			die("raw: curl_easy_init");
		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->headers);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(sizeof body - 1));
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, raw_body);
		curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)&w->slot[i]);
		curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)&w->slot[i]);
	}
}

static void raw_close(struct raw *w)
{
	for (int i = 0; i < K; i++)
		curl_easy_cleanup(w->slot[i].easy);
	curl_multi_cleanup(w->multi);
	curl_slist_free_all(w->headers);
}

static void raw_add(CURLM *multi, struct raw_slot *s)
{
	s->len = 0;
	s->t0 = now_s();
	if (curl_multi_add_handle(multi, s->easy) != CURLM_OK)
		die("raw: curl_multi_add_handle");
}

/* One round of n sends: K easy handles, each re-added as it finishes. */
static void raw_round(struct raw *w, long n, struct result *r)
{
	unsigned long end = r->done + (unsigned long)n;
	long sent = 0;
	int running;
	double t0 = now_s(), c0 = cpu_s();

	for (int i = 0; i < K && sent < n; i++, sent++)
		raw_add(w->multi, &w->slot[i]);
	while (r->done < end) {
		CURLMsg *m;
		int left;

		if (curl_multi_perform(w->multi, &running) != CURLM_OK)
			die("raw: curl_multi_perform");
		while ((m = curl_multi_info_read(w->multi, &left))) {
			struct raw_slot *s;
			char *priv = NULL;
			long code = 0, conns = -1;
			double t = now_s();

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
			s = (struct raw_slot *)(void *)priv;
			curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
			curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &conns);
			if (m->data.result != CURLE_OK || code != 200 || !is_msgid(s->buf, s->len))
				r->failed++;
			r->reused += conns == 0;
			r->lat[r->done++] = t - s->t0;
			curl_multi_remove_handle(w->multi, s->easy);
			if (sent < n) {
				raw_add(w->multi, s);
				sent++;
			}
		}
		if (r->done < end && curl_multi_poll(w->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			die("raw: curl_multi_poll");
	}
	r->secs += now_s() - t0;
	r->cpu += cpu_s() - c0;
}

/* ---- 2. nurture's client ------------------------------------------------- */

struct ours;

struct our_slot {
	struct ours *o;
	double t0;
};

struct ours {
	struct event_base *base;
	nu_http *h;
	nu_http_request req;
	long n, sent;             /* this round */
	unsigned long end;        /* r->done when the round is over */
	struct result *r;
	struct our_slot slot[K];
};

static void our_done(void *ud, const nu_http_response *res);

static void our_submit(struct our_slot *s)
{
	nu_error err;

	s->t0 = now_s();
	if (nu_http_submit(s->o->h, &s->o->req, our_done, s, NULL, &err) != NU_OK) {
		fprintf(stderr, "bench: nu_http_submit: %s\n", err.msg);
		exit(1);
	}
	s->o->sent++;
}

/* A completion: record it and submit the next, as the outbox does. */
static void our_done(void *ud, const nu_http_response *res)
{
	struct our_slot *s = ud;
	struct ours *o = s->o;
	struct result *r = o->r;

	r->lat[r->done++] = now_s() - s->t0;
	if (res->status != 200 || !is_msgid(res->body, res->body_len))
		r->failed++;
	if (o->sent < o->n)
		our_submit(s);
	else if (r->done == o->end)
		event_base_loopbreak(o->base);
}

static void our_open(struct ours *o, const char *url, struct result *r)
{
	nu_error err;

	memset(o, 0, sizeof *o);
	o->req = (nu_http_request){ .method = "POST", .url = url, .headers = headers, .body = body,
				    .body_len = sizeof body - 1 };
	o->r = r;
	for (int i = 0; i < K; i++)
		o->slot[i].o = o;
	if (!(o->base = event_base_new()))
		die("event_base_new");
	if (nu_http_open(o->base, &o->h, &err) != NU_OK) {
		fprintf(stderr, "bench: nu_http_open: %s\n", err.msg);
		exit(1);
	}
}

static void our_close(struct ours *o)
{
	uint64_t finished, reused;

	nu_http_stats(o->h, &finished, &reused);
	if (finished != o->r->done) {
		fprintf(stderr, "bench: nu_http_stats says %llu finished, callbacks saw %lu\n",
			(unsigned long long)finished, o->r->done);
		exit(1);
	}
	o->r->reused = (unsigned long)reused;
	nu_http_close(o->h);
	event_base_free(o->base);
}

/* One round of n sends: K submitted, then the loop runs until all are done. */
static void our_round(struct ours *o, long n)
{
	double t0 = now_s(), c0 = cpu_s();

	o->n = n;
	o->sent = 0;
	o->end = o->r->done + (unsigned long)n;
	for (int i = 0; i < K && o->sent < n; i++)
		our_submit(&o->slot[i]);
	event_base_dispatch(o->base);
	o->r->secs += now_s() - t0;
	o->r->cpu += cpu_s() - c0;
}

/* ---- main ---------------------------------------------------------------- */

static void check_side(const char *name, const struct result *r, unsigned long served, long n)
{
	if (r->done != (unsigned long)n || r->failed || served != (unsigned long)n) {
		fprintf(stderr, "bench: %s: %lu of %ld done, %lu failed; the provider answered %lu\n",
			name, r->done, n, r->failed, served);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 && atol(argv[1]) > 0 ? atol(argv[1]) : 50000;
	bench_server p;
	struct result raw = { 0 }, our = { 0 };
	struct raw w;
	struct ours o;
	unsigned long served[2] = { 0, 0 };
	int server_cpu, client_cpu;
	char url[64], where[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("curl_global_init");
	if (!(raw.lat = malloc((size_t)n * sizeof *raw.lat)) ||
	    !(our.lat = malloc((size_t)n * sizeof *our.lat)))
		die("out of memory");
	bench_pick_cpus(&server_cpu, &client_cpu);
	if (client_cpu >= 0 && !getenv("BENCH_NO_PIN")) {
		bench_pin(pthread_self(), client_cpu);
		snprintf(where, sizeof where, "provider on CPU %d, client on CPU %d", server_cpu,
			 client_cpu);
	} else {
		snprintf(where, sizeof where, "unpinned (%s)",
			 client_cpu >= 0 ? "BENCH_NO_PIN" : "fewer than 2 CPUs");
		server_cpu = -1;
	}
	bench_server_start(&p, "provider", server_cpu, 0, serve);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/send", p.port);
	printf("bench_dispatch: %ld POSTs of %zu bytes of JSON to an evhttp provider thread on"
	       " 127.0.0.1:%d,\n  %d in flight, keep-alive, in %d alternating rounds; %s\n", n,
	       sizeof body - 1, p.port, K, ROUNDS, where);

	/* Alternating rounds, each side going first in turn. */
	raw_open(&w, url);
	our_open(&o, url, &our);
	for (int i = 0; i < ROUNDS; i++) {
		long m = n / ROUNDS + (i < n % ROUNDS);
		for (int side = 0; side < 2; side++) {
			unsigned long before = atomic_load(&p.requests);
			if ((side ^ i) & 1)
				our_round(&o, m);
			else
				raw_round(&w, m, &raw);
			served[(side ^ i) & 1] += atomic_load(&p.requests) - before;
		}
	}
	raw_close(&w);
	our_close(&o);
	if (atomic_load(&p.bad))
		die("the provider got requests it did not expect");
	check_side("raw", &raw, served[0], n);
	check_side("nurture", &our, served[1], n);

	report("raw libcurl multi", &raw, n);
	report("nurture nu_http_submit", &our, n);
	printf("  %-24s %6.2f          (aim >= 0.25)\n", "ratio nurture/raw", raw.secs / our.secs);
	printf("  %-24s %6.2f          (client CPU per send, raw/nurture: the same ratio,"
	       " less exposed to noise)\n", "ratio of client CPU", raw.cpu / our.cpu);
	printf("  %-24s %8.0f sends/s  (aim >= 5 000)\n", "nurture send rate", (double)n / our.secs);
	printf("  %-24s %6.2f %%  (%lu of %ld over a kept-alive connection; aim >= 99 %%)\n",
	       "nurture connection reuse", 100.0 * (double)our.reused / (double)n, our.reused, n);
	printf("  %-24s %6.1f us of client CPU per send beyond raw libcurl\n", "nurture client cost",
	       (our.cpu - raw.cpu) / (double)n * 1e6);

	bench_server_stop(&p);
	free(raw.lat);
	free(our.lat);
	curl_global_cleanup();
	return 0;
}
