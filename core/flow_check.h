/*
 * flow_check.h — the deploy-time check of a flow's sends: every send its
 * source writes out literally (flow_scan.h) goes to the check of the
 * channel plugin that will deliver it, so a message its template cannot
 * be filled from refuses the deploy instead of failing sends weeks later.
 * Sends the scan cannot read are counted; the engine checks each of them
 * with the real message as it is queued (outbox.c).
 */
#ifndef NU_FLOW_CHECK_H
#define NU_FLOW_CHECK_H

#include "flows.h"
#include "plugins.h"

typedef struct nu_send_counts {
	int checked;      /* literal sends a channel's check accepted */
	int unresolved;   /* sends the scan could not read, on a channel that checks (or an unknown one) */
	int unchecked;    /* literal sends on channels without a check (built-in stand-ins …) */
} nu_send_counts;

/* Each failing send, worded as below (for `flow check`, which lists them all). */
typedef void (*nu_send_problem_fn)(void *ud, const char *problem);

/* Checks the sends of f (its file and every lib module of its bundle)
 * against the loaded plugins of r; r NULL checks nothing. NU_EINVAL when a
 * check fails: "file:line: send("email", template "x"): <the channel's
 * reason>", and how many more failed; report (may be NULL) hears of each.
 * counts may be NULL. */
int nu_flow_check_sends(nu_plugins *r, const nu_flow *f, nu_send_counts *counts,
			nu_send_problem_fn report, void *ud, nu_error *err);

/* "3 sends checked, 1 not checkable before run time" (the second part
 * only when there are such sends). */
void nu_send_counts_text(const nu_send_counts *c, char *out, size_t len);

#endif
