/*
 * error.h — the error message carrier used across the core.
 *
 * Functions return a nu_status and, when they fail, fill a nu_error whose
 * text names the problem in words a user can act on ("email 'x@' has no
 * domain", "unknown stage 'SQLL'"). A NULL nu_error pointer is allowed
 * everywhere: the caller did not want the text.
 */
#ifndef NU_ERROR_H
#define NU_ERROR_H

#include <stdarg.h>
#include <stddef.h>
#include "nurture/types.h"

#define NU_ERROR_MAX 512

typedef struct nu_error {
	int  code;               /* the nu_status that was returned */
	char msg[NU_ERROR_MAX];
} nu_error;

/* Formats the message and returns `code`, so callers can write
 * `return nu_error_set(err, NU_EINVAL, "…", …);`. */
int nu_error_set(nu_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int nu_error_vset(nu_error *err, int code, const char *fmt, va_list ap);
/* Prepends "prefix: " to an existing message (adds context on the way up). */
int nu_error_prefix(nu_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void nu_error_clear(nu_error *err);
/* For functions that report into a plain (char *err, size_t errlen)
 * buffer: writes the message when err is given and returns -1. */
int nu_fail_msg(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *nu_status_name(int code);

#endif
