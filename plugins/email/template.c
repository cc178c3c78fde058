/*
 * template.c — email templates (template.h): parses a .tmpl file (and an
 * optional .txt) once into literal and variable segments, lists the
 * variables, renders them against a JSON object, and derives the text body
 * from the HTML when there is no .txt.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* strndup, strncasecmp, gmtime_r, mkdtemp */
#endif
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "buf.h"
#include "template.h"

#define MAX_FILE (4 * 1024 * 1024)

/* A literal run (lit != NULL, into the template's source) or a variable. */
typedef struct seg {
	const char *lit;
	size_t len;
	char *name, *dflt;
	int raw, line;
} seg;

typedef struct part {
	seg *segs;
	size_t n;
} part;

struct email_template {
	char *tmpl_src, *text_src;   /* normalised copies; text_src NULL: derive text */
	char *tmpl_file, *text_file; /* labels for messages */
	part subject, html, text;
	email_var *vars;
	size_t nvars;
};

/* ---- parsing ---- */

/* A copy of s with a leading BOM dropped and CRLF / lone CR as LF. */
static char *normalize(const char *s)
{
	size_t n = strlen(s), j = 0;
	char *o;

	if (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
		s += 3;
		n -= 3;
	}
	if (!(o = malloc(n + 1)))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r') {
			o[j++] = '\n';
			if (s[i + 1] == '\n')
				i++;
		} else {
			o[j++] = s[i];
		}
	}
	o[j] = '\0';
	return o;
}

static void trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* Segments of [A-Za-z0-9_-] joined by single dots. */
static int valid_name(const char *s, size_t n)
{
	size_t seglen = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (!seglen)
				return 0;
			seglen = 0;
		} else if (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-') {
			seglen++;
		} else {
			return 0;
		}
	}
	return seglen > 0;
}

static int add_seg(part *p, const seg *s)
{
	seg *g = realloc(p->segs, (p->n + 1) * sizeof *g);

	if (!g)
		return -1;
	p->segs = g;
	p->segs[p->n++] = *s;
	return 0;
}

static int add_lit(part *p, const char *s, size_t n)
{
	seg g = { .lit = s, .len = n };

	return n ? add_seg(p, &g) : 0;
}

/* The inside of one tag, s[0..n): "name" or "name|default". */
static int add_var(part *p, const char *s, size_t n, int raw, int line, const char *file,
		   char *err, size_t errlen)
{
	const char *bar = memchr(s, '|', n), *d = bar ? bar + 1 : NULL;
	size_t nlen = bar ? (size_t)(bar - s) : n, dlen = bar ? n - nlen - 1 : 0;
	seg g = { .raw = raw, .line = line };

	trim(&s, &nlen);
	if (!valid_name(s, nlen))
		return eb_fail(err, errlen, "%s:%d: bad variable name '%.*s'", file, line,
			    (int)(nlen > 64 ? 64 : nlen), s);
	if (d)
		trim(&d, &dlen);
	if (!(g.name = strndup(s, nlen)) || (d && !(g.dflt = strndup(d, dlen))) ||
	    add_seg(p, &g) < 0) {
		free(g.name);
		free(g.dflt);
		return eb_fail(err, errlen, "out of memory");
	}
	return 0;
}

/* Splits s[0..n), whose first line is `line` of file, into segments. A tag
 * must close on its own line. */
static int parse_part(part *p, const char *s, size_t n, int line, const char *file,
		      char *err, size_t errlen)
{
	size_t i = 0, lit = 0;

	while (i < n) {
		if (s[i] == '\n') {
			line++;
			i++;
			continue;
		}
		if (s[i] != '{' || i + 1 >= n || s[i + 1] != '{') {
			i++;
			continue;
		}
		int raw = i + 2 < n && s[i + 2] == '{';
		size_t open = raw ? 3 : 2, j = i + open;
		const char *close = raw ? "}}}" : "}}";

		while (j < n && s[j] != '\n' && !(n - j >= open && !memcmp(s + j, close, open)))
			j++;
		if (j >= n || s[j] == '\n')
			return eb_fail(err, errlen, "%s:%d: unclosed '%s'", file, line, raw ? "{{{" : "{{");
		if (add_lit(p, s + lit, i - lit) < 0)
			return eb_fail(err, errlen, "out of memory");
		if (add_var(p, s + i + open, j - i - open, raw, line, file, err, errlen) < 0)
			return -1;
		i = lit = j + open;
	}
	if (add_lit(p, s + lit, n - lit) < 0)
		return eb_fail(err, errlen, "out of memory");
	return 0;
}

/* "Subject: …", a blank line, the HTML body. */
static int parse_tmpl(email_template *t, char *err, size_t errlen)
{
	const char *s = t->tmpl_src, *nl = strchr(s, '\n'), *subj;
	size_t len = nl ? (size_t)(nl - s) : strlen(s);

	if (len < 8 || strncasecmp(s, "Subject:", 8))
		return eb_fail(err, errlen, "%s:1: the first line must be 'Subject: …'", t->tmpl_file);
	subj = s + 8;
	len -= 8;
	trim(&subj, &len);
	if (parse_part(&t->subject, subj, len, 1, t->tmpl_file, err, errlen) < 0)
		return -1;
	if (!nl || nl[1] != '\n')
		return eb_fail(err, errlen, "%s:2: expected a blank line after the subject",
			    t->tmpl_file);
	return parse_part(&t->html, nl + 2, strlen(nl + 2), 3, t->tmpl_file, err, errlen);
}

/* A use of a variable, in document order (subject, HTML, text). */
typedef struct use {
	email_var v;
	size_t order;
} use;

/* By name; then a use without a default first, so it wins the merge;
 * then the first use, so the default listed is the first one written. */
static int use_cmp(const void *a, const void *b)
{
	const use *x = a, *y = b;
	int c = strcmp(x->v.name, y->v.name);

	if (c)
		return c;
	if ((x->v.dflt != NULL) != (y->v.dflt != NULL))
		return x->v.dflt ? 1 : -1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The sorted, merged variable list: required if any use lacks a default. */
static int collect_vars(email_template *t)
{
	const part *parts[3] = { &t->subject, &t->html, &t->text };
	const char *files[3] = { t->tmpl_file, t->tmpl_file, t->text_file };
	size_t n = 0, k = 0;
	use *u;

	for (int i = 0; i < 3; i++)
		n += parts[i]->n;
	if (!(u = calloc(n ? n : 1, sizeof *u)) || !(t->vars = calloc(n ? n : 1, sizeof *t->vars))) {
		free(u);
		return -1;
	}
	for (int i = 0; i < 3; i++)
		for (size_t j = 0; j < parts[i]->n; j++)
			if (!parts[i]->segs[j].lit) {
				const seg *g = &parts[i]->segs[j];
				u[k] = (use){ { g->name, g->dflt, files[i], g->line }, k };
				k++;
			}
	qsort(u, k, sizeof *u, use_cmp);
	for (size_t i = 0; i < k; i++)
		if (!t->nvars || strcmp(t->vars[t->nvars - 1].name, u[i].v.name))
			t->vars[t->nvars++] = u[i].v;
	free(u);
	return 0;
}

static char *concat(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	char *s = malloc(na + nb + 1);

	if (s) {
		memcpy(s, a, na);
		memcpy(s + na, b, nb + 1);
	}
	return s;
}

int email_template_parse(const char *label, const char *tmpl, const char *text,
			 email_template **out, char *err, size_t errlen)
{
	email_template *t = calloc(1, sizeof *t);

	*out = NULL;
	if (!t || !(t->tmpl_file = concat(label, ".tmpl")) ||
	    !(t->text_file = concat(label, ".txt")) || !(t->tmpl_src = normalize(tmpl)) ||
	    (text && !(t->text_src = normalize(text)))) {
		email_template_free(t);
		return eb_fail(err, errlen, "out of memory");
	}
	if (parse_tmpl(t, err, errlen) < 0 ||
	    (t->text_src && parse_part(&t->text, t->text_src, strlen(t->text_src), 1,
				       t->text_file, err, errlen) < 0)) {
		email_template_free(t);
		return -1;
	}
	if (collect_vars(t) < 0) {
		email_template_free(t);
		return eb_fail(err, errlen, "out of memory");
	}
	*out = t;
	return 0;
}

/* The whole file, or NULL: *absent set when it does not exist. */
static char *read_file(const char *path, int *absent, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	ebuf b = { 0 };
	char chunk[8192], *s;
	size_t n;

	if (!f) {
		if (absent && errno == ENOENT)
			*absent = 1;
		else
			eb_fail(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= MAX_FILE)
		eb_put(&b, chunk, n);
	if (ferror(f) || b.len > MAX_FILE || memchr(b.p ? b.p : "", '\0', b.len)) {
		eb_fail(err, errlen, "%s: %s", path, ferror(f) ? "read error" :
		     b.len > MAX_FILE ? "larger than 4 MiB" : "contains a NUL byte");
		fclose(f);
		eb_free(&b);
		return NULL;
	}
	fclose(f);
	if (!(s = eb_take(&b)))
		eb_fail(err, errlen, "out of memory");
	return s;
}

int email_template_load(const char *dir, const char *name, email_template **out,
			char *err, size_t errlen)
{
	ebuf label = { 0 };
	char *path = NULL, *tmpl = NULL, *text = NULL;
	int absent = 0, rc = -1;

	*out = NULL;
	if (!*name || name[0] == '.' || strchr(name, '/'))
		return eb_fail(err, errlen, "bad template name '%s'", name);
	eb_printf(&label, "%s/%s", dir, name);
	if (label.failed || !(path = concat(label.p, ".tmpl"))) {
		eb_fail(err, errlen, "out of memory");
		goto done;
	}
	if (!(tmpl = read_file(path, &absent, err, errlen))) {
		if (absent)
			eb_fail(err, errlen, "%s: no such template file", path);
		goto done;
	}
	free(path);
	if (!(path = concat(label.p, ".txt"))) {
		eb_fail(err, errlen, "out of memory");
		goto done;
	}
	absent = 0;
	if (!(text = read_file(path, &absent, err, errlen)) && !absent)
		goto done;
	rc = email_template_parse(label.p, tmpl, text, out, err, errlen);
done:
	eb_free(&label);
	free(path);
	free(tmpl);
	free(text);
	return rc;
}

static void free_part(part *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->segs[i].name);
		free(p->segs[i].dflt);
	}
	free(p->segs);
}

void email_template_free(email_template *t)
{
	if (!t)
		return;
	free_part(&t->subject);
	free_part(&t->html);
	free_part(&t->text);
	free(t->vars);
	free(t->tmpl_src);
	free(t->text_src);
	free(t->tmpl_file);
	free(t->text_file);
	free(t);
}

size_t email_template_vars(const email_template *t, const email_var **vars)
{
	*vars = t->vars;
	return t->nvars;
}

/* ---- rendering ---- */

/* A top-level key spelled like the name, else the dotted path. */
static json_t *lookup(const json_t *values, const char *name)
{
	const json_t *cur = values;
	json_t *v;

	if (!values)
		return NULL;
	if ((v = json_object_get(values, name)))
		return v;
	for (;;) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		if (!json_is_object(cur) || !(v = json_object_getn(cur, name, len)))
			return NULL;
		if (!dot)
			return v;
		cur = v;
		name = dot + 1;
	}
}

enum { VAL_OK, VAL_MISSING, VAL_BADTYPE, VAL_NUL };

static int value_text(const json_t *values, const char *name, char num[64],
		      const char **out, size_t *len);

int email_template_value(const json_t *values, const char *name)
{
	char num[64];
	const char *v;
	size_t len;

	switch (value_text(values, name, num, &v, &len)) {
	case VAL_OK:      return EMAIL_VALUE_TEXT;
	case VAL_MISSING: return EMAIL_VALUE_MISSING;
	default:          return EMAIL_VALUE_NOT_TEXT;
	}
}

/* The text of a value; num is scratch space for numbers. */
static int value_text(const json_t *values, const char *name, char num[64],
		      const char **out, size_t *len)
{
	json_t *v = lookup(values, name);

	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_NULL:
		return VAL_MISSING;
	case JSON_STRING:
		*out = json_string_value(v);
		*len = json_string_length(v);
		if (memchr(*out, '\0', *len))
			return VAL_NUL;
		return *len ? VAL_OK : VAL_MISSING;
	case JSON_INTEGER:
		snprintf(num, 64, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(num, 64, "%.15g", json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		snprintf(num, 64, "%s", json_is_true(v) ? "true" : "false");
		break;
	default:
		return VAL_BADTYPE;
	}
	*out = num;
	*len = strlen(num);
	return VAL_OK;
}

static void put_escaped(ebuf *b, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		const char *e = s[i] == '&' ? "&amp;" : s[i] == '<' ? "&lt;" : s[i] == '>' ? "&gt;" :
				s[i] == '"' ? "&quot;" : s[i] == '\'' ? "&#39;" : NULL;
		if (!e)
			continue;
		eb_put(b, s + run, i - run);
		eb_puts(b, e);
		run = i + 1;
	}
	eb_put(b, s + run, n - run);
}

static char *render_part(const part *p, const char *file, const json_t *values, int html,
			 char *err, size_t errlen)
{
	ebuf b = { 0 };

	for (size_t i = 0; i < p->n; i++) {
		const seg *g = &p->segs[i];
		char num[64];
		const char *v = NULL;
		size_t len = 0;
		int rc;

		if (g->lit) {
			eb_put(&b, g->lit, g->len);
			continue;
		}
		rc = value_text(values, g->name, num, &v, &len);
		if (rc == VAL_MISSING && g->dflt) {
			v = g->dflt;
			len = strlen(v);
		} else if (rc != VAL_OK) {
			eb_fail(err, errlen, "%s:%d: %s '%s'%s", file, g->line,
			     rc == VAL_MISSING ? "missing variable" : "variable", g->name,
			     rc == VAL_BADTYPE ? " is an object or array, not text" :
			     rc == VAL_NUL ? " contains a NUL byte" : "");
			eb_free(&b);
			return NULL;
		}
		if (html && !g->raw)
			put_escaped(&b, v, len);
		else
			eb_put(&b, v, len);
	}
	if (b.failed)
		eb_fail(err, errlen, "out of memory");
	return eb_take(&b);
}

/* One line, trimmed: a value cannot break the header. */
static void one_line(char *s)
{
	size_t n = strlen(s), start = 0;

	for (size_t i = 0; i < n; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\t')
			s[i] = ' ';
	while (start < n && s[start] == ' ')
		start++;
	while (n > start && s[n - 1] == ' ')
		n--;
	memmove(s, s + start, n - start);
	s[n - start] = '\0';
}

int email_template_render(const email_template *t, const json_t *values, email_rendered *out,
			  char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (!(out->subject = render_part(&t->subject, t->tmpl_file, values, 0, err, errlen)) ||
	    !(out->html = render_part(&t->html, t->tmpl_file, values, 1, err, errlen)))
		goto fail;
	one_line(out->subject);
	if (t->text_src)
		out->text = render_part(&t->text, t->text_file, values, 0, err, errlen);
	else if (!(out->text = email_html_to_text(out->html)))
		eb_fail(err, errlen, "out of memory");
	if (out->text)
		return 0;
fail:
	email_rendered_free(out);
	return -1;
}

void email_rendered_free(email_rendered *r)
{
	free(r->subject);
	free(r->html);
	free(r->text);
	memset(r, 0, sizeof *r);
}

int email_template_check(const email_template *t, const json_t *values, char *err, size_t errlen)
{
	ebuf b = { 0 };
	size_t missing = 0;
	const char *first = NULL;

	for (size_t i = 0; i < t->nvars; i++) {
		char num[64];
		const char *v;
		size_t len;

		if (t->vars[i].dflt || value_text(values, t->vars[i].name, num, &v, &len) != VAL_MISSING)
			continue;
		eb_printf(&b, "%s%s", missing ? ", " : "", t->vars[i].name);
		if (!missing++)
			first = t->vars[i].name;
	}
	if (missing == 1)
		eb_fail(err, errlen, "missing variable '%s'", first);
	else if (missing)
		eb_fail(err, errlen, "missing variables: %s", b.failed ? "(out of memory)" : b.p);
	eb_free(&b);
	return missing ? -1 : 0;
}

/* ---- HTML to text ---- */

static size_t utf8_put(uint32_t cp, char *o)
{
	if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		cp = 0xFFFD;
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static const struct { const char *name; uint32_t cp; } entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' }, { "apos", '\'' },
	{ "nbsp", ' ' }, { "copy", 0xA9 }, { "reg", 0xAE }, { "trade", 0x2122 },
	{ "mdash", 0x2014 }, { "ndash", 0x2013 }, { "hellip", 0x2026 }, { "lsquo", 0x2018 },
	{ "rsquo", 0x2019 }, { "ldquo", 0x201C }, { "rdquo", 0x201D }, { "euro", 0x20AC },
	{ "yen", 0xA5 }, { "middot", 0xB7 },
};

/* The character reference at s[0] == '&' within n bytes: its length (with
 * the ';'), and its UTF-8 in o[*olen]; 0 when it is not one we know. */
static size_t entity(const char *s, size_t n, char o[4], size_t *olen)
{
	size_t end = 1;
	uint32_t cp = 0;

	while (end < n && end < 12 && (isalnum((unsigned char)s[end]) || s[end] == '#'))
		end++;
	if (end >= n || s[end] != ';' || end < 2)
		return 0;
	if (s[1] == '#') {
		int hex = s[2] == 'x' || s[2] == 'X';
		size_t i = hex ? 3 : 2;

		if (i == end)
			return 0;
		for (; i < end; i++) {
			int c = (unsigned char)s[i];
			if (!(hex ? isxdigit(c) : isdigit(c)) || cp > 0x10FFFF)
				return 0;
			cp = cp * (hex ? 16 : 10) + (uint32_t)(isdigit(c) ? c - '0' : (c | 32) - 'a' + 10);
		}
	} else {
		size_t k = 0, count = sizeof entities / sizeof entities[0];

		while (k < count && !(strlen(entities[k].name) == end - 1 &&
				      !memcmp(entities[k].name, s + 1, end - 1)))
			k++;
		if (k == count)
			return 0;
		cp = entities[k].cp;
	}
	*olen = utf8_put(cp, o);
	return end + 1;
}

char *email_html_unescape(const char *s, size_t n)
{
	ebuf b = { 0 };
	size_t i = 0, run = 0;

	while (i < n) {
		char o[4];
		size_t olen, k;

		if (s[i] != '&' || !(k = entity(s + i, n - i, o, &olen))) {
			i++;
			continue;
		}
		eb_put(&b, s + run, i - run);
		eb_put(&b, o, olen);
		i += k;
		run = i;
	}
	eb_put(&b, s + run, n - run);
	return eb_take(&b);
}

/* The text being built: breaks and spaces are owed, and only written
 * before the next visible text, so the result never ends in whitespace. */
typedef struct textout {
	ebuf b;
	int nl, space, bullet;
} textout;

static void tx_text(textout *t, const char *s, size_t n)
{
	if (t->b.len) {
		if (t->nl)
			eb_put(&t->b, "\n\n", (size_t)t->nl);
		else if (t->space)
			eb_putc(&t->b, ' ');
	}
	if (t->bullet)
		eb_puts(&t->b, "- ");
	t->nl = t->space = t->bullet = 0;
	eb_put(&t->b, s, n);
}

static void tx_break(textout *t, int n)
{
	if (t->b.len && t->nl < n)
		t->nl = n;
}

/* Index of the '>' that ends the tag starting at s[i] == '<' (quotes
 * respected), or n. */
static size_t tag_end(const char *s, size_t i, size_t n)
{
	char q = 0;

	for (i++; i < n; i++) {
		if (q) {
			if (s[i] == q)
				q = 0;
		} else if (s[i] == '"' || s[i] == '\'') {
			q = s[i];
		} else if (s[i] == '>') {
			return i;
		}
	}
	return n;
}

/* Position just past the tag starting at s[i], or n. */
static size_t next(const char *s, size_t i, size_t n)
{
	size_t e = tag_end(s, i, n);

	return e < n ? e + 1 : n;
}

/* Position just past the end tag </name…> from i on, or n. */
static size_t skip_element(const char *s, size_t i, size_t n, const char *name)
{
	size_t len = strlen(name);

	for (; i + 2 + len <= n; i++)
		if (s[i] == '<' && s[i + 1] == '/' && !strncasecmp(s + i + 2, name, len) &&
		    !isalnum((unsigned char)s[i + 2 + len]))
			return next(s, i, n);
	return n;
}

/* The value of attribute `name` in the tag text s[0..n), or NULL. */
static const char *attr(const char *s, size_t n, const char *name, size_t *vlen)
{
	size_t i = 1, nlen = strlen(name);

	while (i < n && !isspace((unsigned char)s[i]))   /* the tag name */
		i++;
	while (i < n) {
		size_t a, alen, v;

		while (i < n && (isspace((unsigned char)s[i]) || s[i] == '/'))
			i++;
		for (a = i; i < n && !isspace((unsigned char)s[i]) && s[i] != '=' && s[i] != '>'; i++)
			;
		alen = i - a;
		while (i < n && isspace((unsigned char)s[i]))
			i++;
		if (i >= n || s[i] != '=') {
			if (i == a)
				i++;
			continue;
		}
		for (i++; i < n && isspace((unsigned char)s[i]); i++)
			;
		if (i < n && (s[i] == '"' || s[i] == '\'')) {
			char q = s[i++];
			for (v = i; i < n && s[i] != q; i++)
				;
			*vlen = i - v;
			i++;
		} else {
			for (v = i; i < n && !isspace((unsigned char)s[i]) && s[i] != '>'; i++)
				;
			*vlen = i - v;
		}
		if (alen == nlen && !strncasecmp(s + a, name, nlen))
			return s + v;
	}
	return NULL;
}

static int is_any(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(name, *list))
			return 1;
	return 0;
}

/* A link's " (url)" unless its text already is the URL. */
static void tx_link(textout *t, char *href, size_t text_start)
{
	const char *text = t->b.p ? t->b.p + text_start : "";
	size_t len = t->b.len - text_start;
	int mailto = !strncasecmp(href, "mailto:", 7);

	if (!mailto && strncasecmp(href, "http://", 7) && strncasecmp(href, "https://", 8))
		return;
	trim(&text, &len);
	if ((len == strlen(href) && !memcmp(text, href, len)) ||
	    (mailto && len == strlen(href + 7) && !memcmp(text, href + 7, len)))
		return;
	t->space = 1;
	tx_text(t, "(", 1);
	eb_puts(&t->b, href);
	eb_putc(&t->b, ')');
}

/* One tag s[i..end]: its effect on breaks, links and skipped content.
 * Returns where to continue. */
static size_t tx_tag(textout *t, const char *s, size_t i, size_t end, size_t n,
		     char **href, size_t *link_start)
{
	static const char *const para[] = { "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol",
					    "table", "blockquote", "pre", "hr", NULL };
	static const char *const line[] = { "div", "tr", "li", "dl", "dt", "dd", NULL };
	static const char *const skip[] = { "head", "title", "script", "style", NULL };
	int closing = s[i + 1] == '/';
	size_t k = i + 1 + (size_t)closing, len = 0;
	char name[16];

	while (k < end && isalnum((unsigned char)s[k]) && len < sizeof name - 1)
		name[len++] = (char)tolower((unsigned char)s[k++]);
	name[len] = '\0';
	if (!closing && is_any(name, skip))
		return skip_element(s, end, n, name);
	if (!strcmp(name, "br"))
		t->nl = t->b.len ? (t->nl < 2 ? t->nl + 1 : 2) : 0;
	else if (is_any(name, para))
		tx_break(t, 2);
	else if (is_any(name, line))
		tx_break(t, 1);
	else if (!strcmp(name, "td") || !strcmp(name, "th"))
		t->space = 1;
	if (!strcmp(name, "li") && !closing)
		t->bullet = 1;
	if (!strcmp(name, "a")) {
		size_t vlen;
		const char *v = closing ? NULL : attr(s + i, end - i, "href", &vlen);

		if (closing && *href)
			tx_link(t, *href, *link_start);
		free(*href);
		*href = v ? email_html_unescape(v, vlen) : NULL;
		*link_start = t->b.len;
	}
	return end < n ? end + 1 : n;
}

char *email_html_to_text(const char *html)
{
	textout t = { 0 };
	size_t n = strlen(html), i = 0, link_start = 0;
	char *href = NULL;

	while (i < n) {
		char c = html[i], o[4];
		size_t k, olen;

		if (c == '<' && !strncmp(html + i, "<!--", 4)) {
			const char *e = strstr(html + i + 4, "-->");
			i = e ? (size_t)(e - html) + 3 : n;
		} else if (c == '<' && (html[i + 1] == '!' || html[i + 1] == '?')) {
			i = next(html, i, n);
		} else if (c == '<' && (isalpha((unsigned char)html[i + 1]) ||
					(html[i + 1] == '/' && isalpha((unsigned char)html[i + 2])))) {
			i = tx_tag(&t, html, i, tag_end(html, i, n), n, &href, &link_start);
		} else if (c == '&' && (k = entity(html + i, n - i, o, &olen))) {
			tx_text(&t, o, olen);
			i += k;
		} else if (isspace((unsigned char)c)) {
			t.space = 1;
			i++;
		} else {
			tx_text(&t, html + i, 1);
			i++;
		}
	}
	free(href);
	if (t.b.len)
		eb_putc(&t.b, '\n');
	return eb_take(&t.b);
}
