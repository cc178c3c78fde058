/*
 * mail_pool.c — SMTP submissions on worker threads (mail_pool.h).
 *
 * Two queues under one mutex: submissions waiting for a worker, and
 * outcomes waiting for the loop. A worker takes a submission, sends it
 * with curl_easy_perform on its own easy handle (reset between messages,
 * so its connection cache survives), files the outcome and writes a byte
 * to a pipe; the loop's read event on the pipe takes the outcomes and
 * runs their callbacks. The workers never touch libevent, and the loop
 * never waits for curl.
 *
 * Forgetting a submission (a cancel, or close) must guarantee its callback
 * never runs: a queued one is freed, a finished one is taken off the
 * outcome queue, and one being sent is marked so its worker frees it
 * instead of filing it. The abort flag also stops curl at its next
 * progress callback, which covers everything but curl's blocking waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <curl/curl.h>
#include <event2/event.h>
#include "mail_pool.h"

struct task {
	uint64_t ticket;
	nu_mail_pool_done done;
	void *ud;
	char *url, *from, *user, *password, *cainfo;
	int require_tls;
	long timeout_ms;
	struct curl_slist *rcpt;
	char *message;
	size_t len, pos;
	atomic_int abort;            /* forgotten while being sent */
	int forgotten;               /* under the pool's lock */
	int sent, reply_code, timed_out;
	char error[CURL_ERROR_SIZE];
	struct task *next;
};

struct worker {
	nu_mail_pool *p;
	pthread_t thread;
	CURL *easy;
	struct task *current;        /* under the pool's lock */
};

struct nu_mail_pool {
	struct event_base *base;
	struct event *wake;          /* the pipe's read end on the loop */
	int pipe_r, pipe_w;
	pthread_mutex_t lock;
	pthread_cond_t work;
	struct task *queue, *queue_tail;   /* waiting for a worker */
	struct task *done, *done_tail;     /* outcomes waiting for the loop */
	struct worker *workers;
	int nworkers, started, closing;
	uint64_t next_ticket;
};

/* ---- tasks ------------------------------------------------------------ */

static void free_task(struct task *t)
{
	if (!t)
		return;
	free(t->url);
	free(t->from);
	free(t->user);
	free(t->password);
	free(t->cainfo);
	curl_slist_free_all(t->rcpt);
	free(t->message);
	free(t);
}

static int dup_opt(char **out, const char *s)
{
	return !s || (*out = strdup(s)) ? 0 : -1;
}

/* A task owning copies of everything in req; NULL on OOM. */
static struct task *new_task(const nu_mail_request *req)
{
	struct task *t = calloc(1, sizeof *t);

	if (!t || dup_opt(&t->url, req->url) < 0 || dup_opt(&t->from, req->from) < 0 ||
	    dup_opt(&t->user, req->user) < 0 || dup_opt(&t->password, req->password) < 0 ||
	    dup_opt(&t->cainfo, req->cainfo) < 0 || !(t->message = malloc(req->message_len + 1)))
		goto oom;
	memcpy(t->message, req->message ? req->message : "", req->message_len);
	t->len = req->message_len;
	for (const char *const *r = req->rcpt; *r; r++) {
		struct curl_slist *l = curl_slist_append(t->rcpt, *r);
		if (!l)
			goto oom;
		t->rcpt = l;
	}
	t->require_tls = req->require_tls;
	t->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : 30000L;
	atomic_init(&t->abort, 0);
	return t;
oom:
	free_task(t);
	return NULL;
}

static void push(struct task **head, struct task **tail, struct task *t)
{
	t->next = NULL;
	if (*tail)
		(*tail)->next = t;
	else
		*head = t;
	*tail = t;
}

/* Takes ticket's task off a queue; 1 if it was there (and is freed). */
static int drop(struct task **head, struct task **tail, uint64_t ticket)
{
	struct task *prev = NULL;

	for (struct task *t = *head; t; prev = t, t = t->next) {
		if (t->ticket != ticket)
			continue;
		if (prev)
			prev->next = t->next;
		else
			*head = t->next;
		if (*tail == t)
			*tail = prev;
		free_task(t);
		return 1;
	}
	return 0;
}

/* ---- the workers ------------------------------------------------------ */

static size_t on_upload(char *out, size_t size, size_t nmemb, void *arg)
{
	struct task *t = arg;
	size_t n = size * nmemb, left = t->len - t->pos;

	if (n > left)
		n = left;
	memcpy(out, t->message + t->pos, n);
	t->pos += n;
	return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	struct task *t = arg;

	(void)a, (void)b, (void)c, (void)d;
	return atomic_load(&t->abort) ? 1 : 0;
}

static CURLcode configure(CURL *e, struct task *t)
{
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_URL, t->url);
	SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, t->timeout_ms);
	SET(CURLOPT_ERRORBUFFER, t->error);
	SET(CURLOPT_MAIL_FROM, t->from);
	SET(CURLOPT_MAIL_RCPT, t->rcpt);
	SET(CURLOPT_UPLOAD, 1L);
	SET(CURLOPT_READFUNCTION, on_upload);
	SET(CURLOPT_READDATA, (void *)t);
	SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)t->len);
	SET(CURLOPT_USE_SSL, t->require_tls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, (void *)t);
	if (t->user) {
		SET(CURLOPT_USERNAME, t->user);
		SET(CURLOPT_PASSWORD, t->password ? t->password : "");
	}
	if (t->cainfo)
		SET(CURLOPT_CAINFO, t->cainfo);
#undef SET
	return rc;
}

/* Closes the worker's connections after a failure: a server that timed
 * out may still send its late reply, which a reused connection would
 * read as the answer to the next message. */
static void start_afresh(struct worker *w)
{
	CURL *fresh = curl_easy_init();

	if (!fresh)
		return;   /* keep the old one: better than none */
	curl_easy_setopt(w->easy, CURLOPT_TIMEOUT_MS, 1000L);   /* bounds the QUIT */
	curl_easy_cleanup(w->easy);
	w->easy = fresh;
}

/* Sends one message and records what became of it. */
static void send_one(struct worker *w, struct task *t)
{
	long code = 0;
	CURLcode rc;

	curl_easy_reset(w->easy);   /* options go, kept-alive connections stay */
	if ((rc = configure(w->easy, t)) == CURLE_OK)
		rc = curl_easy_perform(w->easy);
	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
	t->reply_code = (int)code;
	t->sent = rc == CURLE_OK;
	t->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
	if (!t->sent && !t->error[0])
		snprintf(t->error, sizeof t->error, "%s", curl_easy_strerror(rc));
	if (!t->sent)
		start_afresh(w);
}

static void notify_loop(nu_mail_pool *p)
{
	ssize_t n;

	do
		n = write(p->pipe_w, "m", 1);
	while (n < 0 && errno == EINTR);
	/* EAGAIN: the pipe is full of wake-ups already; one is enough. */
}

static void *work(void *arg)
{
	struct worker *w = arg;
	nu_mail_pool *p = w->p;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->closing && !p->queue)
			pthread_cond_wait(&p->work, &p->lock);
		if (p->closing)
			break;
		struct task *t = p->queue;
		if (!(p->queue = t->next))
			p->queue_tail = NULL;
		w->current = t;
		pthread_mutex_unlock(&p->lock);
		send_one(w, t);
		pthread_mutex_lock(&p->lock);
		w->current = NULL;
		if (t->forgotten) {
			free_task(t);
			continue;
		}
		push(&p->done, &p->done_tail, t);
		pthread_mutex_unlock(&p->lock);
		notify_loop(p);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	/* Closing the kept connections says QUIT and, inside curl, waits for
	 * the answer: bound that wait. */
	curl_easy_setopt(w->easy, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_cleanup(w->easy);
	w->easy = NULL;
	return NULL;
}

static int start_workers(nu_mail_pool *p, nu_error *err)
{
	for (int i = 0; i < p->nworkers; i++) {
		struct worker *w = &p->workers[i];
		w->p = p;
		if (!(w->easy = curl_easy_init()))
			return nu_error_set(err, NU_ENOMEM, "out of memory");
		if (pthread_create(&w->thread, NULL, work, w) != 0) {
			curl_easy_cleanup(w->easy);
			w->easy = NULL;
			return nu_error_set(err, NU_ERR, "cannot start a mail thread");
		}
		p->started = i + 1;
	}
	return NU_OK;
}

/* ---- the loop's side -------------------------------------------------- */

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	nu_mail_pool *p = arg;
	char drain[64];
	struct task *list;

	(void)what;
	while (read(fd, drain, sizeof drain) > 0)
		;
	pthread_mutex_lock(&p->lock);
	list = p->done;
	p->done = p->done_tail = NULL;
	pthread_mutex_unlock(&p->lock);
	/* Taken off the queue first: a callback may forget or submit. */
	while (list) {
		struct task *t = list;
		nu_mail_outcome o = { t->sent, t->reply_code, t->timed_out, t->sent ? NULL : t->error };
		list = t->next;
		t->done(t->ud, &o);
		free_task(t);
	}
}

int nu_mail_pool_open(struct event_base *base, int workers, nu_mail_pool **out, nu_error *err)
{
	nu_mail_pool *p = calloc(1, sizeof *p);
	int fds[2];

	*out = NULL;
	if (!p || !(p->workers = calloc((size_t)(workers > 0 ? workers : 1), sizeof *p->workers))) {
		free(p);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		free(p->workers);
		free(p);
		return nu_error_set(err, NU_ERR, "cannot make the mail pool's pipe: %s", strerror(errno));
	}
	p->base = base;
	p->pipe_r = fds[0];
	p->pipe_w = fds[1];
	p->nworkers = workers > 0 ? workers : 1;
	p->next_ticket = 1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	if (!(p->wake = event_new(base, p->pipe_r, EV_READ | EV_PERSIST, on_wake, p)) ||
	    event_add(p->wake, NULL) < 0) {
		nu_mail_pool_close(p);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	*out = p;
	return NU_OK;
}

int nu_mail_pool_submit(nu_mail_pool *p, const nu_mail_request *req, nu_mail_pool_done done,
			void *ud, uint64_t *ticket, nu_error *err)
{
	struct task *t;

	if (!p->started && start_workers(p, err) < 0)
		return NU_ERR;
	if (!(t = new_task(req)))
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	t->done = done;
	t->ud = ud;
	pthread_mutex_lock(&p->lock);
	t->ticket = *ticket = p->next_ticket++;
	push(&p->queue, &p->queue_tail, t);
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	return NU_OK;
}

/* Under the lock: the workers' submissions named ticket (0: all of them)
 * are freed by their worker, not filed, and curl is asked to stop. */
static void orphan_running(nu_mail_pool *p, uint64_t ticket)
{
	for (int i = 0; i < p->started; i++) {
		struct task *t = p->workers[i].current;
		if (t && (!ticket || t->ticket == ticket)) {
			t->forgotten = 1;
			atomic_store(&t->abort, 1);
		}
	}
}

void nu_mail_pool_forget(nu_mail_pool *p, uint64_t ticket)
{
	pthread_mutex_lock(&p->lock);
	if (!drop(&p->queue, &p->queue_tail, ticket) && !drop(&p->done, &p->done_tail, ticket))
		orphan_running(p, ticket);
	pthread_mutex_unlock(&p->lock);
}

void nu_mail_pool_close(nu_mail_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->closing = 1;
	while (p->queue)
		drop(&p->queue, &p->queue_tail, p->queue->ticket);
	while (p->done)
		drop(&p->done, &p->done_tail, p->done->ticket);
	orphan_running(p, 0);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->started; i++)
		pthread_join(p->workers[i].thread, NULL);
	if (p->wake)
		event_free(p->wake);
	close(p->pipe_r);
	close(p->pipe_w);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->lock);
	free(p->workers);
	free(p);
}
