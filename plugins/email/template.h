/*
 * template.h — email templates: a subject line, an HTML body and a text
 * body with {{variables}} filled from a JSON object.
 *
 * Files: <dir>/<name>.tmpl holds "Subject: …" on its first line, then a
 * blank line, then the HTML body. <dir>/<name>.txt, when it exists, is the
 * text body; otherwise the text is derived from the rendered HTML
 * (email_html_to_text). CRLF in the files reads as LF; a UTF-8 BOM is
 * skipped.
 *
 * Tags:
 *   {{name}}         the value: HTML-escaped in the HTML body, as it is in
 *                    the subject and the text body
 *   {{{name}}}       the value unescaped everywhere (trusted HTML)
 *   {{name|there}}   "there" when the value is missing, null or "";
 *                    {{name|}} makes a blank explicit. Spaces around the
 *                    name and the default are trimmed.
 * A name is segments of [A-Za-z0-9_-] joined by dots: "lead.company" is
 * the member "company" of the member "lead" (a top-level key spelled
 * "lead.company" is tried first). A tag closes on the line it opens.
 * Strings are used as they are, integers in decimal, reals as %.15g,
 * booleans as true/false; objects and arrays are errors. A value that is
 * missing, null or "" without a default is an error naming the variable:
 * never a silent blank.
 *
 * err may be NULL. Messages read "file:line: what", e.g.
 * "tpl/welcome.tmpl:7: unclosed '{{'" or
 * "tpl/welcome.tmpl:9: missing variable 'lead.company'".
 */
#ifndef EMAIL_TEMPLATE_H
#define EMAIL_TEMPLATE_H

#include <stddef.h>
#include <jansson.h>

typedef struct email_template email_template;

/* One variable a template uses. */
typedef struct email_var {
	const char *name;
	const char *dflt;   /* NULL when some use of it has no default: required */
	const char *file;   /* where it is first used (without a default, if required): */
	int line;           /* "tpl/welcome.tmpl", 7 */
} email_var;

/* A rendered message; each member is malloc'd and NUL-terminated. */
typedef struct email_rendered {
	char *subject;   /* one line: CR, LF and TAB from values become spaces; trimmed */
	char *html;
	char *text;
} email_rendered;

/* Reads <dir>/<name>.tmpl and <dir>/<name>.txt if it exists. name may not
 * contain '/' or start with '.'. Returns 0 and *out, or -1 with err. */
int email_template_load(const char *dir, const char *name, email_template **out,
			char *err, size_t errlen);

/* Same from memory: tmpl is the .tmpl text, text the .txt text or NULL.
 * Messages name "<label>.tmpl" and "<label>.txt". */
int email_template_parse(const char *label, const char *tmpl, const char *text,
			 email_template **out, char *err, size_t errlen);

void email_template_free(email_template *t);

/* The variables t uses, each once, sorted by name (strcmp). Returns the
 * count; *vars is borrowed from t. */
size_t email_template_vars(const email_template *t, const email_var **vars);

/* 0 when values has every required variable, else -1 with err naming all
 * of the missing ones: "missing variables: first_name, lead.company" (or
 * "missing variable 'x'" for one). The channel's check goes further:
 * email_catalog_check (catalog.h). */
int email_template_check(const email_template *t, const json_t *values, char *err, size_t errlen);

/* How values (as email_template_render reads them) holds variable `name`:
 * text (strings, numbers, booleans), missing (absent, null or ""), or
 * not text (an object, an array, a string with a NUL byte). */
enum { EMAIL_VALUE_TEXT, EMAIL_VALUE_MISSING, EMAIL_VALUE_NOT_TEXT };
int email_template_value(const json_t *values, const char *name);

/* Fills t from values (an object, or NULL for none). Returns 0 and *out,
 * or -1 with err (out is then all NULL). */
int email_template_render(const email_template *t, const json_t *values, email_rendered *out,
			  char *err, size_t errlen);

void email_rendered_free(email_rendered *r);

/* Plain text from HTML: tags dropped (with the contents of head, title,
 * script and style), whitespace runs collapsed, paragraphs and headings
 * as blank lines, br/div/tr/li as line breaks ("- " before a list item),
 * links followed by " (url)" unless the text already is the URL, and the
 * basic entities decoded. Ends with one "\n" unless empty. NULL on OOM. */
char *email_html_to_text(const char *html);

/* s[0..n) with character references decoded: &amp; &lt; &gt; &quot;
 * &apos; &nbsp; (as a space), a few typographic names (&copy; &mdash; …)
 * and &#NNN; / &#xHH;. Unknown ones stay as they are. NULL on OOM. */
char *email_html_unescape(const char *s, size_t n);

#endif
