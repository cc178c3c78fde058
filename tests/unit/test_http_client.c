/*
 * test_http_client.c — the curl multi client against a real evhttp server
 * on 127.0.0.1 in the same event loop: echoes, keep-alive reuse, many
 * requests at once, timeouts, refused connections, cancel, the body cap,
 * submits and closes from inside callbacks. Nothing leaves 127.0.0.1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include "http_client.h"

/* What one callback saw, copied out of the borrowed response. */
struct call {
	int calls;
	int status, timed_out, reused;
	size_t body_len;
	char body[512];
	char error[256];
};

struct fixture {
	struct event_base *base;
	struct evhttp *http;
	int port;              /* the evhttp server */
	int refuse_fd;         /* bound, never listening: connecting is refused */
	int refuse_port;
	int hung;              /* /hang requests the server received */
	nu_http *h;
	int pending;           /* callbacks still expected; the loop stops at 0 */
	int in_submit;         /* set around nu_http_submit */
	int in_callback;       /* set while a callback runs */
	int draining;          /* run_for: callbacks do not stop the loop */
};

static struct fixture *F;

/* ---- the server --------------------------------------------------------- */

static const char *method_name(enum evhttp_cmd_type c)
{
	switch (c) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_HEAD: return "HEAD";
	default: return "OTHER";
	}
}

static const char *header(struct evhttp_request *req, const char *name)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
	return v ? v : "";
}

/* Replies with what it was sent, the raw body last. */
static void serve_echo(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();

	(void)arg;
	evbuffer_add_printf(out, "method=%s\nx-test=%s\ncontent-type=%s\nexpect=%s\nbody=",
			    method_name(evhttp_request_get_command(req)), header(req, "X-Test"),
			    header(req, "Content-Type"), header(req, "Expect"));
	evbuffer_add_buffer(out, evhttp_request_get_input_buffer(req));
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* Never answers; evhttp frees the request with its connection. */
static void serve_hang(struct evhttp_request *req, void *arg)
{
	(void)req;
	(void)arg;
	F->hung++;
}

static void add_bytes(struct evbuffer *b, size_t n)
{
	static char chunk[65536];

	memset(chunk, 'x', sizeof chunk);
	while (n) {
		size_t k = n < sizeof chunk ? n : sizeof chunk;
		evbuffer_add(b, chunk, k);
		n -= k;
	}
}

/* A body of exactly `arg` bytes with a Content-Length. */
static void serve_sized(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();

	add_bytes(out, (size_t)(uintptr_t)arg);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

/* Over the cap with no Content-Length (chunked), so only the client's
 * write callback can stop it. */
static void serve_chunked_big(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();

	(void)arg;
	evhttp_send_reply_start(req, 200, "OK");
	add_bytes(out, NU_HTTP_MAX_BODY + 1);
	evhttp_send_reply_chunk(req, out);
	evhttp_send_reply_end(req);
	evbuffer_free(out);
}

static int bound_port(int fd)
{
	struct sockaddr_in a;
	socklen_t n = sizeof a;

	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
	return ntohs(a.sin_port);
}

static int setup(void **state)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	nu_error err;

	F = calloc(1, sizeof *F);
	assert_non_null(F);
	assert_non_null(F->base = event_base_new());
	assert_non_null(F->http = evhttp_new(F->base));
	assert_non_null(bs = evhttp_bind_socket_with_handle(F->http, "127.0.0.1", 0));
	F->port = bound_port(evhttp_bound_socket_get_fd(bs));
	evhttp_set_cb(F->http, "/echo", serve_echo, NULL);
	evhttp_set_cb(F->http, "/hang", serve_hang, NULL);
	evhttp_set_cb(F->http, "/big", serve_sized, (void *)(uintptr_t)(NU_HTTP_MAX_BODY + 1));
	evhttp_set_cb(F->http, "/exact", serve_sized, (void *)(uintptr_t)NU_HTTP_MAX_BODY);
	evhttp_set_cb(F->http, "/chunked", serve_chunked_big, NULL);

	/* A port nobody listens on, held so nobody else can take it. */
	F->refuse_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(F->refuse_fd >= 0);
	assert_int_equal(bind(F->refuse_fd, (struct sockaddr *)&a, sizeof a), 0);
	F->refuse_port = bound_port(F->refuse_fd);

	if (nu_http_open(F->base, &F->h, &err) != NU_OK)
		fail_msg("open: %s", err.msg);
	*state = F;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	nu_http_close(F->h);
	evhttp_free(F->http);
	close(F->refuse_fd);
	event_base_free(F->base);
	free(F);
	F = NULL;
	return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static void url(char *buf, size_t n, const char *path)
{
	snprintf(buf, n, "http://127.0.0.1:%d%s", F->port, path);
}

static void record(void *ud, const nu_http_response *res)
{
	struct call *c = ud;

	assert_false(F->in_submit);
	c->calls++;
	c->status = res->status;
	c->timed_out = res->timed_out;
	c->reused = res->connection_reused;
	c->body_len = res->body_len;
	assert_non_null(res->body);
	memcpy(c->body, res->body, res->body_len < sizeof c->body ? res->body_len : sizeof c->body - 1);
	snprintf(c->error, sizeof c->error, "%s", res->error ? res->error : "");
	if (res->status)
		assert_null(res->error);
	else
		assert_non_null(res->error);
	if (--F->pending == 0 && !F->draining)
		event_base_loopbreak(F->base);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(F->base);
}

/* Runs the loop until every expected callback ran or `ms` passed. */
static void run(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *dog = evtimer_new(F->base, on_watchdog, NULL);

	evtimer_add(dog, &tv);
	if (F->pending > 0)
		event_base_dispatch(F->base);
	else
		event_base_loop(F->base, EVLOOP_NONBLOCK);
	event_free(dog);
}

/* Runs the loop for `ms` whatever happens (to see that nothing more comes). */
static void run_for(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *dog = evtimer_new(F->base, on_watchdog, NULL);
	F->draining = 1;
	evtimer_add(dog, &tv);
	event_base_dispatch(F->base);
	event_free(dog);
	F->draining = 0;
}

static uint64_t submit(const nu_http_request *req, nu_http_done done, void *ud)
{
	uint64_t id;
	nu_error err;
	int rc;

	F->in_submit = 1;
	rc = nu_http_submit(F->h, req, done, ud, &id, &err);
	F->in_submit = 0;
	if (rc != NU_OK)
		fail_msg("submit %s: %s", req->url, err.msg);
	assert_true(id > 0);
	F->pending++;
	return id;
}

static uint64_t get(const char *path, struct call *c)
{
	char u[128];
	nu_http_request req = { .method = "GET", .url = u };

	url(u, sizeof u, path);
	return submit(&req, record, c);
}

/* ---- tests -------------------------------------------------------------- */

static void get_echoes_headers(void **state)
{
	char u[128];
	const char *headers[] = { "X-Test: hello there", NULL };
	nu_http_request req = { .method = "GET", .url = u, .headers = headers };
	struct call c = { 0 };

	(void)state;
	url(u, sizeof u, "/echo");
	submit(&req, record, &c);
	assert_int_equal(c.calls, 0);   /* never inside submit */
	run(2000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, 200);
	assert_string_equal(c.body, "method=GET\nx-test=hello there\ncontent-type=\nexpect=\nbody=");
	assert_int_equal(c.body_len, strlen(c.body));
}

static void post_echoes_body(void **state)
{
	char u[128];
	static const char body[] = "{\"a\":1}\0tail";   /* binary-safe: a NUL inside */
	const char *headers[] = { "Content-Type: application/json", "X-Test: post", NULL };
	char *copy = malloc(sizeof body);
	nu_http_request req = { .method = "POST", .url = u, .headers = headers,
				.body = copy, .body_len = sizeof body - 1 };
	const char *want = "method=POST\nx-test=post\ncontent-type=application/json\nexpect=\nbody=";
	struct call c = { 0 };

	(void)state;
	memcpy(copy, body, sizeof body);
	url(u, sizeof u, "/echo");
	submit(&req, record, &c);
	memset(copy, '?', sizeof body);   /* submit copied the body */
	free(copy);
	run(2000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, 200);
	assert_int_equal(c.body_len, strlen(want) + sizeof body - 1);
	assert_memory_equal(c.body, want, strlen(want));
	assert_memory_equal(c.body + strlen(want), body, sizeof body - 1);
}

/* Over 1 MiB curl would add "Expect: 100-continue" and could stall a
 * second waiting for the 100; the client turns that off. */
static void large_post_sends_no_expect(void **state)
{
	enum { N = 1100000 };
	char u[128], *body = malloc(N);
	nu_http_request req = { .method = "POST", .url = u, .body = body, .body_len = N };
	struct call c = { 0 };
	int64_t t0 = now_ms();

	(void)state;
	memset(body, 'b', N);
	url(u, sizeof u, "/echo");
	submit(&req, record, &c);
	free(body);
	run(3000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, 200);
	assert_non_null(strstr(c.body, "\nexpect=\nbody=bbb"));
	assert_true(c.body_len > N);
	assert_true(now_ms() - t0 < 900);
}

static void other_methods(void **state)
{
	char u[128];
	nu_http_request del = { .method = "DELETE", .url = u };
	nu_http_request put = { .method = "PUT", .url = u, .body = "p", .body_len = 1 };
	nu_http_request head = { .method = "HEAD", .url = u };
	struct call c1 = { 0 }, c2 = { 0 }, c3 = { 0 };

	(void)state;
	url(u, sizeof u, "/echo");
	submit(&del, record, &c1);
	submit(&put, record, &c2);
	submit(&head, record, &c3);
	run(2000);
	assert_int_equal(c3.status, 200);
	assert_int_equal(c3.body_len, 0);
	assert_int_equal(c1.status, 200);
	assert_non_null(strstr(c1.body, "method=DELETE\n"));
	assert_int_equal(c2.status, 200);
	assert_non_null(strstr(c2.body, "method=PUT\n"));
	assert_non_null(strstr(c2.body, "body=p"));
}

struct chain {
	struct call calls[20];
	int next;
};

static void chain_step(void *ud, const nu_http_response *res);

static void chain_submit(struct chain *ch)
{
	char u[128];
	nu_http_request req = { .url = u };   /* NULL method = GET */

	url(u, sizeof u, "/echo");
	submit(&req, chain_step, ch);
}

/* Each callback starts the next request: a submit from a callback. */
static void chain_step(void *ud, const nu_http_response *res)
{
	struct chain *ch = ud;
	struct call *c = &ch->calls[ch->next++];

	if (ch->next < 20)
		chain_submit(ch);   /* first, so the loop does not stop at 0 pending */
	record(c, res);
}

static void keep_alive_reuses_connections(void **state)
{
	struct chain *ch = calloc(1, sizeof *ch);
	uint64_t finished, reused;
	int flagged = 0;

	(void)state;
	chain_submit(ch);
	run(4000);
	assert_int_equal(ch->next, 20);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(ch->calls[i].calls, 1);
		assert_int_equal(ch->calls[i].status, 200);
		flagged += ch->calls[i].reused;
	}
	assert_false(ch->calls[0].reused);   /* the first had to connect */
	nu_http_stats(F->h, &finished, &reused);
	assert_int_equal(finished, 20);
	assert_true(reused >= 19);
	assert_int_equal(reused, (uint64_t)flagged);
	free(ch);
}

static void fifty_at_once_complete_once(void **state)
{
	enum { N = 50 };
	struct call *c = calloc(N, sizeof *c);
	uint64_t finished, reused;

	(void)state;
	for (int i = 0; i < N; i++) {
		char u[128], hdr[32];
		const char *headers[] = { hdr, NULL };
		nu_http_request req = { .url = u, .headers = headers };
		url(u, sizeof u, "/echo");
		snprintf(hdr, sizeof hdr, "X-Test: %d", i);
		submit(&req, record, &c[i]);
	}
	run(4000);
	run_for(50);   /* nothing arrives twice */
	for (int i = 0; i < N; i++) {
		char want[32];
		snprintf(want, sizeof want, "x-test=%d\n", i);
		assert_int_equal(c[i].calls, 1);
		assert_int_equal(c[i].status, 200);
		assert_non_null(strstr(c[i].body, want));
	}
	nu_http_stats(F->h, &finished, &reused);
	assert_int_equal(finished, N);
	/* At most NU_HTTP_MAX_HOST_CONNECTIONS were opened; the rest waited
	 * for one of them. */
	assert_true(reused >= N - NU_HTTP_MAX_HOST_CONNECTIONS);
	free(c);
}

static void silent_server_times_out(void **state)
{
	char u[128];
	nu_http_request req = { .url = u, .timeout_ms = 300 };
	struct call c = { 0 };
	int64_t t0;

	(void)state;
	url(u, sizeof u, "/hang");
	t0 = now_ms();
	submit(&req, record, &c);
	run(3000);
	assert_int_equal(c.calls, 1);
	assert_true(now_ms() - t0 >= 290);
	assert_true(now_ms() - t0 < 2000);
	assert_int_equal(F->hung, 1);
	assert_int_equal(c.status, 0);
	assert_true(c.timed_out);
	assert_true(c.error[0]);
}

static void refused_connection_fails(void **state)
{
	char u[128];
	nu_http_request req = { .url = u };
	struct call c = { 0 };

	(void)state;
	snprintf(u, sizeof u, "http://127.0.0.1:%d/", F->refuse_port);
	submit(&req, record, &c);
	assert_int_equal(c.calls, 0);
	run(3000);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.status, 0);
	assert_false(c.timed_out);
	assert_true(c.error[0]);
	assert_string_not_equal(c.error, "cancelled");
}

static void cancel_runs_callback_once(void **state)
{
	struct call before = { 0 }, answered = { 0 }, connected = { 0 };
	uint64_t id1, id2, id3;

	(void)state;
	/* Cancelled before the loop ever ran: no callback inside cancel. */
	id1 = get("/hang", &before);
	id2 = get("/echo", &answered);   /* would have been answered */
	assert_int_equal(nu_http_cancel(F->h, id1), NU_OK);
	assert_int_equal(nu_http_cancel(F->h, id2), NU_OK);
	assert_int_equal(before.calls, 0);
	assert_int_equal(answered.calls, 0);
	run(2000);
	assert_int_equal(before.calls, 1);
	assert_string_equal(before.error, "cancelled");
	assert_int_equal(answered.calls, 1);
	assert_int_equal(answered.status, 0);
	assert_string_equal(answered.error, "cancelled");

	/* Cancelled once the server has it. */
	id3 = get("/hang", &connected);
	while (F->hung < 1)
		run_for(10);
	assert_int_equal(nu_http_cancel(F->h, id3), NU_OK);
	run(2000);
	run_for(50);
	assert_int_equal(connected.calls, 1);
	assert_string_equal(connected.error, "cancelled");
	assert_false(connected.timed_out);

	/* Already delivered, or never existed. */
	assert_int_equal(nu_http_cancel(F->h, id1), NU_ENOTFOUND);
	assert_int_equal(nu_http_cancel(F->h, id3), NU_ENOTFOUND);
	assert_int_equal(nu_http_cancel(F->h, 0), NU_ENOTFOUND);
	assert_int_equal(nu_http_cancel(F->h, 999999), NU_ENOTFOUND);
	assert_int_equal(before.calls + answered.calls + connected.calls, 3);
}

static void body_over_cap_fails(void **state)
{
	struct call big = { 0 }, chunked = { 0 }, exact = { 0 };

	(void)state;
	get("/big", &big);           /* Content-Length over the cap */
	get("/chunked", &chunked);   /* no length: stopped while reading */
	get("/exact", &exact);       /* at the cap: fine */
	run(4000);
	assert_int_equal(big.calls, 1);
	assert_int_equal(big.status, 0);
	assert_non_null(strstr(big.error, "larger than"));
	assert_int_equal(chunked.calls, 1);
	assert_int_equal(chunked.status, 0);
	assert_non_null(strstr(chunked.error, "larger than"));
	assert_int_equal(exact.calls, 1);
	assert_int_equal(exact.status, 200);
	assert_int_equal(exact.body_len, NU_HTTP_MAX_BODY);
}

struct nested {
	struct call first, second, victim;
	uint64_t victim_id;
};

/* Submits one request and cancels another from inside a callback. */
static void nested_step(void *ud, const nu_http_response *res)
{
	struct nested *n = ud;

	F->in_callback = 1;
	record(&n->first, res);
	get("/echo", &n->second);
	assert_int_equal(nu_http_cancel(F->h, n->victim_id), NU_OK);
	assert_int_equal(n->second.calls, 0);
	assert_int_equal(n->victim.calls, 0);
	F->in_callback = 0;
}

static void record_outside_callback(void *ud, const nu_http_response *res)
{
	assert_false(F->in_callback);
	record(ud, res);
}

static void callback_may_submit_and_cancel(void **state)
{
	struct nested n = { 0 };
	char u[128];
	nu_http_request req = { .url = u };

	(void)state;
	url(u, sizeof u, "/hang");
	n.victim_id = submit(&req, record_outside_callback, &n.victim);
	url(u, sizeof u, "/echo");
	submit(&req, nested_step, &n);
	run(3000);
	assert_int_equal(n.first.calls, 1);
	assert_int_equal(n.first.status, 200);
	assert_int_equal(n.second.calls, 1);
	assert_int_equal(n.second.status, 200);
	assert_int_equal(n.victim.calls, 1);
	assert_string_equal(n.victim.error, "cancelled");
}

static void refusals_never_call_back(void **state)
{
	const char *bad_urls[] = { "file:///etc/hostname", "ftp://127.0.0.1/", "127.0.0.1/x",
				   "gopher://127.0.0.1/", "" };
	const char *crlf[] = { "X-Test: a\r\nX-Evil: b", NULL };
	const char *no_colon[] = { "X-Test", NULL };
	char u[128];
	struct call c = { 0 };
	nu_error err;
	uint64_t id = 7;

	(void)state;
	for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
		nu_http_request req = { .url = bad_urls[i] };
		assert_int_equal(nu_http_submit(F->h, &req, record, &c, &id, &err), NU_EINVAL);
		assert_int_equal(id, 0);
	}
	url(u, sizeof u, "/echo");
	nu_http_request lower = { .method = "get", .url = u };
	nu_http_request injected = { .url = u, .headers = crlf };
	nu_http_request headless = { .url = u, .headers = no_colon };
	nu_http_request nobody = { .method = "POST", .url = u, .body_len = 3 };
	nu_http_request nourl = { .url = NULL };
	assert_int_equal(nu_http_submit(F->h, &lower, record, &c, NULL, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "method"));
	assert_int_equal(nu_http_submit(F->h, &injected, record, &c, NULL, &err), NU_EINVAL);
	assert_int_equal(nu_http_submit(F->h, &headless, record, &c, NULL, &err), NU_EINVAL);
	assert_int_equal(nu_http_submit(F->h, &nobody, record, &c, NULL, &err), NU_EINVAL);
	assert_int_equal(nu_http_submit(F->h, &nourl, record, &c, NULL, &err), NU_EINVAL);
	assert_int_equal(nu_http_submit(F->h, &lower, NULL, &c, NULL, NULL), NU_EINVAL);
	run_for(20);
	assert_int_equal(c.calls, 0);
}

static void close_cancels_in_flight(void **state)
{
	struct call a = { 0 }, b = { 0 };
	nu_error err;
	char u[128];
	nu_http_request req = { .url = u };

	(void)state;
	get("/hang", &a);
	get("/hang", &b);
	while (F->hung < 2)
		run_for(10);
	nu_http_close(F->h);   /* callbacks run before close returns */
	F->h = NULL;
	assert_int_equal(a.calls, 1);
	assert_string_equal(a.error, "cancelled");
	assert_int_equal(b.calls, 1);
	assert_string_equal(b.error, "cancelled");
	/* A fresh client on the same loop works. */
	assert_int_equal(nu_http_open(F->base, &F->h, &err), NU_OK);
	struct call c = { 0 };
	url(u, sizeof u, "/echo");
	submit(&req, record, &c);
	run(2000);
	assert_int_equal(c.status, 200);
}

struct closer {
	struct call first, other;
};

static void close_from_callback(void *ud, const nu_http_response *res)
{
	struct closer *cl = ud;
	char u[128];
	nu_http_request req = { .url = u };
	nu_error err;

	record(&cl->first, res);
	nu_http_close(F->h);
	assert_int_equal(cl->other.calls, 1);   /* cancelled inside close */
	url(u, sizeof u, "/echo");
	assert_int_equal(nu_http_submit(F->h, &req, record, &cl->other, NULL, &err), NU_ESTATE);
	F->h = NULL;
}

static void close_inside_a_callback(void **state)
{
	struct closer cl = { 0 };
	char u[128];
	nu_http_request req = { .url = u };

	(void)state;
	get("/hang", &cl.other);
	url(u, sizeof u, "/echo");
	submit(&req, close_from_callback, &cl);
	run(3000);
	assert_null(F->h);
	assert_int_equal(cl.first.calls, 1);
	assert_int_equal(cl.first.status, 200);
	assert_int_equal(cl.other.calls, 1);
	assert_string_equal(cl.other.error, "cancelled");
	run_for(20);   /* the freed client's events are gone from the loop */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(get_echoes_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(post_echoes_body, setup, teardown),
		cmocka_unit_test_setup_teardown(large_post_sends_no_expect, setup, teardown),
		cmocka_unit_test_setup_teardown(other_methods, setup, teardown),
		cmocka_unit_test_setup_teardown(keep_alive_reuses_connections, setup, teardown),
		cmocka_unit_test_setup_teardown(fifty_at_once_complete_once, setup, teardown),
		cmocka_unit_test_setup_teardown(silent_server_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(refused_connection_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_runs_callback_once, setup, teardown),
		cmocka_unit_test_setup_teardown(body_over_cap_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(callback_may_submit_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(refusals_never_call_back, setup, teardown),
		cmocka_unit_test_setup_teardown(close_cancels_in_flight, setup, teardown),
		cmocka_unit_test_setup_teardown(close_inside_a_callback, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
