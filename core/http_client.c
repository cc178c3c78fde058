/*
 * http_client.c — the curl multi handle on the daemon's libevent loop: the
 * sockets and the one timer curl asks us to watch, the transfers in
 * flight, and the queue of completions waiting for their turn of the loop.
 *
 * curl is only ever called from a libevent callback (a socket is ready,
 * curl's timer fired) or from the public functions, never from inside one
 * of curl's own callbacks. Finished transfers are collected after
 * curl_multi_socket_action has returned, and their callbacks run from a
 * separate event made active for the purpose. So a callback may submit,
 * cancel or resume a flow without re-entering curl (which would answer
 * CURLM_RECURSIVE_API_CALL) or whoever called submit.
 *
 * Connections are kept alive in the multi handle's cache, shared by every
 * request: an easy handle lives for one request only, but the connection it
 * used stays for the next request to the same host.
 *
 * Mail goes through the same ids, cancels and delivery queue, but is sent
 * by mail_pool.c on worker threads: curl's SMTP blocks inside the multi
 * handle while it waits for the verdict on a message (mail_pool.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include <event2/event.h>
#include "http_client.h"
#include "log.h"
#include "mail_pool.h"

/* Mail threads: each holds one SMTP connection open at a time. */
#define MAIL_WORKERS 4

/* One request from submit until its callback has run. */
struct xfer {
	nu_http *h;
	CURL *easy;                  /* NULL once finished or cancelled */
	uint64_t id;
	nu_http_done done;
	void *ud;
	struct curl_slist *headers;
	uint64_t mail_ticket;        /* mail: in the pool, not yet come back */
	char *buf;                   /* the response body, NUL-terminated */
	size_t len, cap;
	int too_big, no_memory;      /* why the write callback stopped curl */
	nu_http_response res;        /* filled when finished; body set at delivery */
	char errbuf[CURL_ERROR_SIZE];
	struct xfer *prev, *next;    /* h->live */
	struct xfer *qnext;          /* h->qhead: finished, callback not yet run */
};

/* One socket curl asked us to watch. */
struct sock {
	struct event *ev;
	int what;                    /* CURL_POLL_IN / OUT / INOUT */
	struct sock *prev, *next;    /* h->socks */
};

struct nu_http {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;         /* the one timer curl asks for */
	struct event *deliver;       /* made active while the queue is not empty */
	struct xfer *live;           /* every request whose callback has not run */
	struct xfer *qhead, *qtail;  /* finished, in the order they finished */
	struct sock *socks;          /* so close frees any curl never removed */
	nu_mail_pool *mail;
	uint64_t next_id, finished, reused;
	int delivering, closing;
};

static const char allowed_protocols[] = "http,https";

/* CURLINFO_NUM_CONNECTS counts the connections this transfer had to open:
 * 0 after a successful transfer means it ran on a kept-alive one. */
static int nu_http_connection_reused(CURL *easy)
{
	long n = -1;

	return curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &n) == CURLE_OK && n == 0;
}

/* ---- the curl ⇄ libevent glue ------------------------------------------ */

static void collect(nu_http *h);

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
	nu_http *h = arg;
	int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
		    ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	int running;
	CURLMcode rc = curl_multi_socket_action(h->multi, fd, flags, &running);

	if (rc != CURLM_OK)
		nu_warn("http: %s", curl_multi_strerror(rc));
	collect(h);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	nu_http *h = arg;
	int running;
	CURLMcode rc = curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);

	(void)fd;
	(void)what;
	if (rc != CURLM_OK)
		nu_warn("http: %s", curl_multi_strerror(rc));
	collect(h);
}

static void free_sock(nu_http *h, struct sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		h->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	/* event_free deletes the event first, so this is safe even from the
	 * socket's own callback (libevent does not touch it afterwards). */
	event_free(s->ev);
	free(s);
}

/* CURLMOPT_SOCKETFUNCTION: curl says which sockets to watch for what. It
 * only (un)registers events; nothing here calls back into curl but
 * curl_multi_assign, which is made for this. */
static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	nu_http *h = arg;
	struct sock *s = sockp;
	short kind;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s)
			free_sock(h, s);
		return 0;
	}
	if (s && s->what == what)
		return 0;
	kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (!s) {
		if (!(s = calloc(1, sizeof *s)) ||
		    !(s->ev = event_new(h->base, fd, kind, on_socket_ready, h))) {
			free(s);
			return -1;   /* curl fails the transfers rather than hang */
		}
		s->next = h->socks;
		if (h->socks)
			h->socks->prev = s;
		h->socks = s;
		curl_multi_assign(h->multi, fd, s);
	} else {
		event_del(s->ev);
		event_assign(s->ev, h->base, fd, kind, on_socket_ready, h);
	}
	s->what = what;
	return event_add(s->ev, NULL) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: one evtimer, re-armed or deleted. A 0 timeout is
 * armed too, never acted on here: calling curl from this callback would
 * recurse (CURLMOPT_TIMERFUNCTION's own warning). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *arg)
{
	nu_http *h = arg;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0)
		return evtimer_del(h->timer) == 0 ? 0 : -1;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(h->timer, &tv) == 0 ? 0 : -1;
}

/* CURLOPT_WRITEFUNCTION: appends to the body. Returning less than was given
 * makes curl stop the transfer with CURLE_WRITE_ERROR. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (n > NU_HTTP_MAX_BODY - x->len) {
		x->too_big = 1;
		return 0;
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		char *p;
		while (cap < x->len + n + 1)
			cap *= 2;
		if (cap > NU_HTTP_MAX_BODY + 1)
			cap = NU_HTTP_MAX_BODY + 1;
		if (!(p = realloc(x->buf, cap))) {
			x->no_memory = 1;
			return 0;
		}
		x->buf = p;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, data, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return n;
}

/* ---- requests ----------------------------------------------------------- */

static void unlink_live(struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		x->h->live = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
}

static void free_xfer(struct xfer *x)
{
	if (x->easy)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->buf);
	free(x);
}

/* Takes the transfer out of curl. Its connection, if still good, goes back
 * to the multi handle's cache for the next request. */
static void detach(struct xfer *x)
{
	curl_multi_remove_handle(x->h->multi, x->easy);
	curl_easy_cleanup(x->easy);
	x->easy = NULL;
	curl_slist_free_all(x->headers);
	x->headers = NULL;
}

/* Queues the callback for the loop. event_active rather than a call here:
 * we may be inside collect() (fine) or inside nu_http_cancel (not fine). */
static void enqueue(struct xfer *x)
{
	nu_http *h = x->h;

	x->qnext = NULL;
	if (h->qtail)
		h->qtail->qnext = x;
	else
		h->qhead = x;
	h->qtail = x;
	event_active(h->deliver, EV_TIMEOUT, 0);
}

static const char *failure_text(struct xfer *x, CURLcode rc)
{
	if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		snprintf(x->errbuf, sizeof x->errbuf, "response body larger than %u bytes",
			 (unsigned)NU_HTTP_MAX_BODY);
	else if (x->no_memory)
		snprintf(x->errbuf, sizeof x->errbuf, "out of memory reading the response");
	else if (!x->errbuf[0])
		snprintf(x->errbuf, sizeof x->errbuf, "%s", curl_easy_strerror(rc));
	return x->errbuf;
}

/* A transfer curl reported done: record the outcome while the easy handle
 * still exists, hand it back, queue the callback. */
static void finish(struct xfer *x, CURLcode rc)
{
	long code = 0;

	if (rc == CURLE_OK)
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK && code > 0) {
		x->res.status = (int)code;
		x->res.connection_reused = nu_http_connection_reused(x->easy);
	} else {
		x->res.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
		x->res.error = rc == CURLE_OK ? "no HTTP response" : failure_text(x, rc);
	}
	detach(x);
	enqueue(x);
}

/* Drains curl's finished transfers. Runs only after socket_action has
 * returned, so removing handles here is allowed. The message is read before
 * the removal, which invalidates it. */
static void collect(nu_http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		char *priv = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		if (priv)
			finish((struct xfer *)(void *)priv, m->data.result);
	}
}

/* Runs one callback and frees the request. It leaves the live list first,
 * so a cancel of its own id from inside the callback finds nothing. */
static void deliver_one(struct xfer *x)
{
	nu_http *h = x->h;
	nu_http_response res = x->res;

	unlink_live(x);
	if (res.status) {
		res.body = x->buf ? x->buf : "";
		res.body_len = x->len;
	} else {
		res.body = "";   /* a partial body is not a body */
		res.body_len = 0;
	}
	h->finished++;
	if (res.connection_reused)
		h->reused++;
	x->done(x->ud, &res);
	free_xfer(x);
}

static void destroy(nu_http *h)
{
	/* curl may still call the socket and timer callbacks while it closes
	 * its cached connections, so h stays whole until it returns. */
	nu_mail_pool_close(h->mail);
	curl_multi_cleanup(h->multi);
	while (h->socks)
		free_sock(h, h->socks);
	event_free(h->timer);
	event_free(h->deliver);
	free(h);
	curl_global_cleanup();
}

/* The deferred event: runs the callbacks queued when it was triggered.
 * Ones queued by those callbacks (a cancel) wait for the next turn, so a
 * callback that keeps cancelling cannot keep the loop here. */
static void on_deliver(evutil_socket_t fd, short what, void *arg)
{
	nu_http *h = arg;
	struct xfer *last = h->qtail;

	(void)fd;
	(void)what;
	h->delivering = 1;
	while (h->qhead && !h->closing) {
		struct xfer *x = h->qhead;
		int was_last = x == last;
		h->qhead = x->qnext;
		if (!h->qhead)
			h->qtail = NULL;
		deliver_one(x);
		if (was_last)
			break;
	}
	h->delivering = 0;
	if (h->closing)
		destroy(h);   /* a callback closed the client: close left this to us */
	else if (h->qhead)
		event_active(h->deliver, EV_TIMEOUT, 0);
}

static int valid_method(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n > 16)
		return 0;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return 0;
	return 1;
}

/* Checked here for a clear message at submit; CURLOPT_PROTOCOLS_STR
 * enforces it again inside curl. */
static int allowed_url(const char *url)
{
	return !strncasecmp(url, "http://", 7) || !strncasecmp(url, "https://", 8);
}

static int has_header(const char *const *headers, const char *name)
{
	size_t n = strlen(name);

	for (; headers && *headers; headers++)
		if (!strncasecmp(*headers, name, n) && (*headers)[n] == ':')
			return 1;
	return 0;
}

static int set_headers(struct xfer *x, const nu_http_request *req, int has_body, nu_error *err)
{
	struct curl_slist *l;

	for (const char *const *p = req->headers; p && *p; p++) {
		/* A CR or LF would let a value smuggle in headers of its own. */
		if (!strchr(*p, ':') || strpbrk(*p, "\r\n"))
			return nu_error_set(err, NU_EINVAL, "bad HTTP header '%.100s'", *p);
		if (!(l = curl_slist_append(x->headers, *p)))
			return nu_error_set(err, NU_ENOMEM, "out of memory");
		x->headers = l;
	}
	/* With a body over 1 MiB curl 7.88 sends "Expect: 100-continue" and
	 * waits up to a second for a server that may never answer it. An
	 * empty "Expect:" turns that off. */
	if (has_body && !has_header(req->headers, "Expect")) {
		if (!(l = curl_slist_append(x->headers, "Expect:")))
			return nu_error_set(err, NU_ENOMEM, "out of memory");
		x->headers = l;
	}
	return NU_OK;
}

static int setup(struct xfer *x, const nu_http_request *req, const char *method, nu_error *err)
{
	CURL *e = x->easy;
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : NU_HTTP_DEFAULT_TIMEOUT_MS;
	int has_body = req->body || !strcmp(method, "POST") || !strcmp(method, "PUT") ||
		       !strcmp(method, "PATCH");
	CURLcode rc = CURLE_OK;
	int st;

	if ((st = set_headers(x, req, has_body, err)) < 0)
		return st;
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_URL, req->url);
	SET(CURLOPT_PROTOCOLS_STR, allowed_protocols);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, allowed_protocols);
	SET(CURLOPT_NOSIGNAL, 1L);   /* signals belong to the daemon's loop */
	SET(CURLOPT_TIMEOUT_MS, timeout);
	SET(CURLOPT_PRIVATE, (void *)x);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, (void *)x);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	/* Refuses a too-long Content-Length before reading it; on_body catches
	 * the bodies that give none (chunked). */
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)NU_HTTP_MAX_BODY);
	SET(CURLOPT_USERAGENT, "nurture/" NU_VERSION);
	if (x->headers)
		SET(CURLOPT_HTTPHEADER, x->headers);
	if (!strcmp(method, "HEAD")) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (has_body) {
		/* Size first, so COPYPOSTFIELDS copies exactly body_len bytes
		 * (binary-safe) and the caller's buffer can go after submit. */
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SET(CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
		if (strcmp(method, "POST"))
			SET(CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET")) {
		SET(CURLOPT_CUSTOMREQUEST, method);
	}
#undef SET
	if (rc != CURLE_OK)
		return nu_error_set(err, rc == CURLE_OUT_OF_MEMORY ? NU_ENOMEM : NU_ERR,
				    "HTTP request setup: %s", curl_easy_strerror(rc));
	return NU_OK;
}

/* A transfer (with an easy handle unless it is mail), not yet set up;
 * NULL on OOM. */
static struct xfer *new_xfer(nu_http *h, nu_http_done done, void *ud, int mail)
{
	struct xfer *x = calloc(1, sizeof *x);

	if (x && !mail && !(x->easy = curl_easy_init())) {
		free(x);
		return NULL;
	}
	if (x) {
		x->h = h;
		x->done = done;
		x->ud = ud;
	}
	return x;
}

/* Gives x its id and puts it on the live list. */
static void link_live(nu_http *h, struct xfer *x, uint64_t *id)
{
	x->id = h->next_id++;
	x->next = h->live;
	if (h->live)
		h->live->prev = x;
	h->live = x;
	if (id)
		*id = x->id;
}

/* Adds a set-up transfer to the multi handle and the live list. */
static int start_xfer(nu_http *h, struct xfer *x, uint64_t *id, nu_error *err)
{
	CURLMcode mrc;

	if ((mrc = curl_multi_add_handle(h->multi, x->easy)) != CURLM_OK) {
		free_xfer(x);
		return nu_error_set(err, mrc == CURLM_OUT_OF_MEMORY ? NU_ENOMEM : NU_ERR,
				    "submit: %s", curl_multi_strerror(mrc));
	}
	link_live(h, x, id);
	return NU_OK;
}

/* ---- the API ------------------------------------------------------------ */

int nu_http_open(struct event_base *base, nu_http **out, nu_error *err)
{
	nu_http *h;

	*out = NULL;
	/* Reference-counted inside curl, so every open pairs with the
	 * cleanup in destroy(). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return nu_error_set(err, NU_ERR, "cannot initialise libcurl");
	if (!(h = calloc(1, sizeof *h))) {
		curl_global_cleanup();
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	h->base = base;
	h->next_id = 1;
	h->multi = curl_multi_init();
	h->timer = evtimer_new(base, on_timer, h);
	h->deliver = event_new(base, -1, 0, on_deliver, h);
	if (!h->multi || !h->timer || !h->deliver) {
		if (h->multi)
			curl_multi_cleanup(h->multi);
		if (h->timer)
			event_free(h->timer);
		if (h->deliver)
			event_free(h->deliver);
		free(h);
		curl_global_cleanup();
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, (void *)h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, (void *)h);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)NU_HTTP_MAX_HOST_CONNECTIONS);
	/* libcurl's default pool is 4 x the transfers in flight: when a burst
	 * finishes together it shrinks and closes kept-alive connections. Keep
	 * room for every host's connections (measured: 91 % reuse under load
	 * without this, 99.98 % with it). */
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)NU_HTTP_MAX_HOST_CONNECTIONS * 8);
	*out = h;
	return NU_OK;
}

int nu_http_submit(nu_http *h, const nu_http_request *req, nu_http_done done, void *ud,
		   uint64_t *id, nu_error *err)
{
	const char *method = req && req->method ? req->method : "GET";
	struct xfer *x;
	int rc;

	if (id)
		*id = 0;
	if (!h || !req || !done)
		return nu_error_set(err, NU_EINVAL, "HTTP submit needs a client, a request and a callback");
	if (h->closing)
		return nu_error_set(err, NU_ESTATE, "the HTTP client is closing");
	if (!valid_method(method))
		return nu_error_set(err, NU_EINVAL, "bad HTTP method '%.20s'", method);
	if (!req->url || !allowed_url(req->url))
		return nu_error_set(err, NU_EINVAL, "URL '%.200s' is not http:// or https://",
				    req->url ? req->url : "");
	if (req->body_len && !req->body)
		return nu_error_set(err, NU_EINVAL, "HTTP body_len without a body");
	if (!(x = new_xfer(h, done, ud, 0)))
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	if ((rc = setup(x, req, method, err)) < 0) {
		free_xfer(x);
		return rc;
	}
	/* Only arms curl's timer (through on_curl_timer); the transfer starts
	 * when that fires on the loop, so done cannot run in here. */
	return start_xfer(h, x, id, err);
}

/* The pool's outcome, on the loop: into the delivery queue like any
 * transfer. SMTP's last reply tells a refusal (5xx) from a try-later (4xx)
 * from a message sent without a verdict (354, then silence). */
static void mail_finished(void *ud, const nu_mail_outcome *o)
{
	struct xfer *x = ud;

	x->mail_ticket = 0;
	x->res.reply_code = o->reply_code;
	x->res.status = o->sent ? 250 : 0;
	x->res.timed_out = o->timed_out;
	if (!o->sent) {
		snprintf(x->errbuf, sizeof x->errbuf, "%s", o->error ? o->error : "not sent");
		x->res.error = x->errbuf;
	}
	enqueue(x);
}

int nu_http_submit_mail(nu_http *h, const nu_mail_request *req, nu_http_done done, void *ud,
			uint64_t *id, nu_error *err)
{
	struct xfer *x;
	uint64_t ticket;

	if (id)
		*id = 0;
	if (!h || !req || !done || !req->url || !req->from || !req->rcpt || !req->rcpt[0] ||
	    (!req->message && req->message_len))
		return nu_error_set(err, NU_EINVAL, "mail submit needs a URL, a sender, recipients and a callback");
	if (h->closing)
		return nu_error_set(err, NU_ESTATE, "the HTTP client is closing");
	if (strncasecmp(req->url, "smtp://", 7) && strncasecmp(req->url, "smtps://", 8))
		return nu_error_set(err, NU_EINVAL, "URL '%.200s' is not smtp:// or smtps://", req->url);
	if (!(x = new_xfer(h, done, ud, 1)))
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	if (!h->mail && nu_mail_pool_open(h->base, MAIL_WORKERS, &h->mail, err) < 0) {
		free_xfer(x);
		return NU_ERR;
	}
	if (nu_mail_pool_submit(h->mail, req, mail_finished, x, &ticket, err) < 0) {
		free_xfer(x);
		return NU_ERR;
	}
	x->mail_ticket = ticket;
	link_live(h, x, id);
	return NU_OK;
}

/* A linear search: cancels are rare and in-flight requests few (curl
 * itself walks its handles more often than this). */
static struct xfer *find(nu_http *h, uint64_t id)
{
	for (struct xfer *x = h->live; x; x = x->next)
		if (x->id == id)
			return x;
	return NULL;
}

static void cancelled(struct xfer *x)
{
	x->res = (nu_http_response){ .error = "cancelled" };
}

int nu_http_cancel(nu_http *h, uint64_t id)
{
	struct xfer *x;

	if (!h || !id || !(x = find(h, id)))
		return NU_ENOTFOUND;
	/* Finished but not yet delivered: already queued, only the outcome
	 * changes, so the caller never sees a result after cancelling. */
	cancelled(x);
	if (x->easy && !h->closing) {
		detach(x);
		enqueue(x);
	} else if (x->mail_ticket && !h->closing) {
		nu_mail_pool_forget(h->mail, x->mail_ticket);   /* mail_finished will not run */
		x->mail_ticket = 0;
		enqueue(x);
	}
	return NU_OK;
}

void nu_http_close(nu_http *h)
{
	if (!h || h->closing)
		return;
	h->closing = 1;
	/* The queue is a subset of the live list; close delivers everything
	 * itself, because after it returns there is no loop turn to wait for. */
	h->qhead = h->qtail = NULL;
	while (h->live) {
		struct xfer *x = h->live;
		if (x->easy)
			detach(x);
		if (x->mail_ticket)
			nu_mail_pool_forget(h->mail, x->mail_ticket);
		x->mail_ticket = 0;
		cancelled(x);
		deliver_one(x);
	}
	if (!h->delivering)
		destroy(h);
}

void nu_http_stats(const nu_http *h, uint64_t *finished, uint64_t *reused)
{
	if (finished)
		*finished = h ? h->finished : 0;
	if (reused)
		*reused = h ? h->reused : 0;
}
