/*
 * buf.h — the growable string the email library builds its output in.
 *
 * Appends never fail visibly: a failed allocation sets `failed`, later
 * appends do nothing, and the caller checks once at the end (eb_take
 * returns NULL then). The bytes are always NUL-terminated once anything
 * has been appended.
 */
#ifndef EMAIL_BUF_H
#define EMAIL_BUF_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes a message into err (when given) and returns -1, so a check reads
 * `return eb_fail(err, errlen, "…", …);`. */
__attribute__((format(printf, 3, 4)))
static inline int eb_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

typedef struct ebuf {
	char *p;
	size_t len, cap;
	int failed;
} ebuf;

static inline void eb_put(ebuf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static inline void eb_puts(ebuf *b, const char *s)
{
	eb_put(b, s, strlen(s));
}

static inline void eb_putc(ebuf *b, char c)
{
	eb_put(b, &c, 1);
}

__attribute__((format(printf, 2, 3)))
static inline void eb_printf(ebuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = 1;
	} else if ((size_t)n < sizeof small) {
		eb_put(b, small, (size_t)n);
	} else {
		char *big = malloc((size_t)n + 1);

		if (!big) {
			b->failed = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		eb_put(b, big, (size_t)n);
		free(big);
	}
}

static inline void eb_free(ebuf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/* The built string (caller frees), or NULL if an allocation failed. */
static inline char *eb_take(ebuf *b)
{
	char *p;

	eb_put(b, "", 0);   /* makes sure even an empty result is allocated */
	if (b->failed) {
		eb_free(b);
		return NULL;
	}
	p = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

#endif
