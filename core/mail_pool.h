/*
 * mail_pool.h — SMTP submissions on worker threads, answered on the loop.
 *
 * libcurl's SMTP is not fully non-blocking under the multi interface: the
 * wait for the reply to the message's final "." (the DONE phase) and the
 * QUIT of a closing connection run a blocking loop inside curl (curl
 * issues #4015, #8555; its TODO "More non-blocking"). On the daemon's
 * event loop, one slow mail server would freeze every HTTP request, timer
 * and send for up to the submission timeout. So submissions run here, on
 * a few threads, each with its own easy handle kept across messages (its
 * connections stay open for the next message to the same server), and
 * the outcome comes back to the loop through a pipe: the done callback
 * always runs on the loop thread, later, never inside submit.
 */
#ifndef NU_MAIL_POOL_H
#define NU_MAIL_POOL_H

#include <stdint.h>
#include "error.h"
#include "http_client.h"

struct event_base;
typedef struct nu_mail_pool nu_mail_pool;

/* What a submission came to. error is borrowed during the callback. */
typedef struct nu_mail_outcome {
	int sent;            /* the server accepted the message (250) */
	int reply_code;      /* its last reply, also on failure; 0 if none */
	int timed_out;
	const char *error;   /* NULL when sent */
} nu_mail_outcome;

typedef void (*nu_mail_pool_done)(void *ud, const nu_mail_outcome *o);

/* workers threads, started at the first submission. */
int  nu_mail_pool_open(struct event_base *base, int workers, nu_mail_pool **out, nu_error *err);
/* Copies req and queues it. *ticket names it for nu_mail_pool_forget. */
int  nu_mail_pool_submit(nu_mail_pool *p, const nu_mail_request *req, nu_mail_pool_done done,
			 void *ud, uint64_t *ticket, nu_error *err);
/* done will not run for ticket: a queued submission is dropped, one being
 * sent is aborted (or, inside curl's blocking wait, left to finish). */
void nu_mail_pool_forget(nu_mail_pool *p, uint64_t ticket);
/* Forgets everything, aborts what is being sent and waits for the threads
 * (at most the longest submission timeout, if a server stays silent). */
void nu_mail_pool_close(nu_mail_pool *p);

#endif
