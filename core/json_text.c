/*
 * json_text.c — a direct, compact JSON writer for jansson values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json_text.h"

#define MAX_DEPTH 64

struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void grow(struct buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	while (cap < b->len + need + 1)
		cap *= 2;
	if (cap == b->cap)
		return;
	if (!(p = realloc(b->p, cap))) {
		b->failed = 1;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap)
		grow(b, n);
	if (b->failed)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_string(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;   /* UTF-8 bytes pass through unchanged */
		put(b, s + run, i - run);
		run = i + 1;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(b, e, 2);
		} else if (c == '\n') {
			put(b, "\\n", 2);
		} else if (c == '\t') {
			put(b, "\\t", 2);
		} else if (c == '\r') {
			put(b, "\\r", 2);
		} else {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			put(b, e, 6);
		}
	}
	put(b, s + run, n - run);
	put(b, "\"", 1);
}

static void put_real(struct buf *b, double d)
{
	char num[40];
	int n = snprintf(num, sizeof num, "%.17g", d);

	/* Keep it a real on the way back in: 5.0 must not read as 5. */
	if (n > 0 && !strpbrk(num, ".eEn"))
		n += snprintf(num + n, sizeof num - (size_t)n, ".0");
	put(b, num, (size_t)n);
}

static void put_value(struct buf *b, const json_t *v, int depth)
{
	char num[32];

	if (depth > MAX_DEPTH) {
		b->failed = 1;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *item;
		int first = 1;
		put(b, "{", 1);
		json_object_foreach((json_t *)v, k, item) {
			if (!first)
				put(b, ",", 1);
			first = 0;
			put_string(b, k, strlen(k));
			put(b, ":", 1);
			put_value(b, item, depth + 1);
		}
		put(b, "}", 1);
		break;
	}
	case JSON_ARRAY:
		put(b, "[", 1);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				put(b, ",", 1);
			put_value(b, json_array_get(v, i), depth + 1);
		}
		put(b, "]", 1);
		break;
	case JSON_STRING:
		put_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		put(b, num, (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
					     json_integer_value(v)));
		break;
	case JSON_REAL:
		put_real(b, json_real_value(v));
		break;
	case JSON_TRUE:
		put(b, "true", 4);
		break;
	case JSON_FALSE:
		put(b, "false", 5);
		break;
	default:
		put(b, "null", 4);
	}
}

json_t *nu_json_parse_or_null(const char *text)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;
	return v ? v : json_null();
}

char *nu_json_text(const json_t *v)
{
	struct buf b = { 0 };

	put_value(&b, v, 0);
	if (b.failed || !b.p) {
		free(b.p);
		return NULL;
	}
	b.p[b.len] = '\0';
	return b.p;
}
