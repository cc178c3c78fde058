/*
 * flow_scan.h — finds, without running it, the sends a flow's Lua source
 * writes out literally: send("email", { template = "welcome", topic = t }).
 *
 * Deploying a flow uses it to check those messages against the channel
 * plugins before any lead meets them (nu_plugins_check_flow). It reads the
 * source the way Lua's lexer does (comments, short strings with escapes,
 * long brackets [==[ … ]==]), so a send( inside a string or a comment is
 * not a send. It never guesses: a send whose channel is not a literal
 * string, whose message is not a table constructor written in the call, or
 * whose constructor has a computed key ([k] = v) or a computed template is
 * reported as unresolved, with the reason.
 */
#ifndef NU_FLOW_SCAN_H
#define NU_FLOW_SCAN_H

#include <jansson.h>
#include "error.h"

typedef struct nu_scan_send {
	int     line;            /* of the word send */
	char    channel[32];     /* the literal channel; "" when not literal */
	char    tmpl[128];       /* the literal template = "…"; "" when there is none */
	/* When resolved: the constructor's keys as a JSON object. A literal
	 * string without escapes is kept as written, a nested constructor is
	 * an object of its own keys, `key = nil` is left out, and every other
	 * value is NU_CHECK_PLACEHOLDER. NULL when unresolved. */
	json_t *message;
	const char *unresolved;  /* why not, or NULL (a static string) */
} nu_scan_send;

typedef struct nu_scan {
	nu_scan_send *sends;
	size_t n;
} nu_scan;

/* Skips the comment, short string or long bracket ([==[ … ]==]) that
 * opens at p, as Lua's lexer reads it; returns where it ends (p when none
 * opens there) and counts the newlines it crossed into *line. For the
 * other readers of flow source (flows.c's unknown-name check). */
const char *nu_lua_skip_literal(const char *p, int *line);

/* Finds every call send(…) of the global send in src (not obj.send or
 * obj:send). Fails only when out of memory. Free with nu_flow_scan_free. */
int  nu_flow_scan(const char *src, nu_scan *out, nu_error *err);
void nu_flow_scan_free(nu_scan *s);

#endif
