/*
 * flow_scan.c — the static scan of a flow's sends (flow_scan.h): a small
 * Lua lexer and just enough of a parser for send("<channel>", { … }).
 *
 * The lexer follows Lua 5.4's: whitespace and comments (-- to the end of
 * the line, --[==[ … ]==] long comments), names, numbers, short strings
 * with backslash escapes (\z, \<newline>), long strings [==[ … ]==], and
 * operators. Lines are counted everywhere, inside long strings and
 * comments too, so every send is reported on its own line.
 *
 * The parser looks ahead on a copy of the lexer: the main loop still sees
 * every token, so a send written inside another send's arguments is found
 * as well. Values are skipped by counting brackets and blocks (function,
 * if, do, repeat … end, until), because a function written in a table
 * has commas of its own.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "flow_scan.h"
#include "nurture/plugin.h"

#define MAX_DEPTH 8

enum tok_kind { T_EOF, T_NAME, T_STRING, T_NUMBER, T_OP };

typedef struct token {
	enum tok_kind kind;
	const char *s;       /* the text; for a string, its contents */
	size_t len;
	int line;            /* where it starts */
	int plain;           /* a string without escapes: s[0..len) is its value */
	char op[4];
} token;

typedef struct lexer {
	const char *p;
	int line;
} lexer;

/* ---- the lexer --------------------------------------------------------- */

/* The level of a long bracket opening at p ([[ is 0, [==[ is 2), or -1. */
static int long_open(const char *p)
{
	int level = 0;

	if (*p != '[')
		return -1;
	for (p++; *p == '='; p++)
		level++;
	return *p == '[' ? level : -1;
}

/* Skips a long bracket of `level` opening at lx->p; its contents go into
 * t (without the newline that directly follows the opening, as in Lua). */
static void long_skip(lexer *lx, int level, token *t)
{
	const char *start = lx->p + level + 2, *q;

	if (*start == '\r')
		start += start[1] == '\n' ? 2 : 1;
	else if (*start == '\n')
		start += start[1] == '\r' ? 2 : 1;
	for (q = lx->p + level + 2; *q; q++) {
		if (*q == '\n') {
			lx->line++;
		} else if (*q == ']') {
			const char *r = q + 1;
			int n = 0;
			while (*r == '=') {
				r++;
				n++;
			}
			if (n == level && *r == ']') {
				t->s = start;
				t->len = q > start ? (size_t)(q - start) : 0;
				lx->p = r + 1;
				return;
			}
		}
	}
	t->s = start;                   /* unfinished: Lua would not have compiled it */
	t->len = q > start ? (size_t)(q - start) : 0;
	lx->p = q;
}

static void skip_space(lexer *lx)
{
	for (;;) {
		char c = *lx->p;
		if (c == '\n') {
			lx->line++;
			lx->p++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			lx->p++;
		} else if (c == '-' && lx->p[1] == '-') {
			token ignored;
			int level;
			lx->p += 2;
			if ((level = long_open(lx->p)) >= 0)
				long_skip(lx, level, &ignored);
			else
				while (*lx->p && *lx->p != '\n')
					lx->p++;
		} else {
			return;
		}
	}
}

/* A short string opening at lx->p with ' or ". */
static void short_string(lexer *lx, token *t)
{
	char quote = *lx->p++;

	t->kind = T_STRING;
	t->s = lx->p;
	t->plain = 1;
	while (*lx->p && *lx->p != quote && *lx->p != '\n') {
		if (*lx->p != '\\') {
			lx->p++;
			continue;
		}
		t->plain = 0;
		lx->p++;
		if (*lx->p == 'z') {                       /* \z skips the whitespace after it */
			for (lx->p++; isspace((unsigned char)*lx->p); lx->p++)
				lx->line += *lx->p == '\n';
			continue;
		}
		if (*lx->p == '\r' && lx->p[1] == '\n')    /* \ before a CRLF line end */
			lx->p++;
		if (*lx->p == '\n')
			lx->line++;
		if (*lx->p)
			lx->p++;
	}
	t->len = (size_t)(lx->p - t->s);
	if (*lx->p == quote)
		lx->p++;
}

const char *nu_lua_skip_literal(const char *p, int *line)
{
	lexer lx = { p, *line };
	token t;
	int level;

	if (p[0] == '-' && p[1] == '-') {
		skip_space(&lx);        /* the comment, and any space after it */
	} else if (*p == '"' || *p == '\'') {
		short_string(&lx, &t);
	} else if ((level = long_open(p)) >= 0) {
		long_skip(&lx, level, &t);
	}
	*line = lx.line;
	return lx.p;
}

static void operator(lexer *lx, token *t)
{
	static const char *const two[] = { "..", "==", "~=", "<=", ">=", "//", "::", "<<", ">>", NULL };
	size_t n = 1;

	if (!strncmp(lx->p, "...", 3))
		n = 3;
	else
		for (const char *const *o = two; *o; o++)
			if (!strncmp(lx->p, *o, 2))
				n = 2;
	t->kind = T_OP;
	memcpy(t->op, lx->p, n);
	t->op[n] = '\0';
	t->len = n;
	lx->p += n;
}

static void next(lexer *lx, token *t)
{
	const char *p;
	int level;

	skip_space(lx);
	memset(t, 0, sizeof *t);
	t->line = lx->line;
	t->s = p = lx->p;
	if (!*p) {
		t->kind = T_EOF;
	} else if (isalpha((unsigned char)*p) || *p == '_') {
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		t->kind = T_NAME;
		t->len = (size_t)(p - t->s);
		lx->p = p;
	} else if (isdigit((unsigned char)*p) || (*p == '.' && isdigit((unsigned char)p[1]))) {
		/* 3, 0x1F, 1e-3, 0x1p+4: exponent signs belong to the number */
		for (p++; isalnum((unsigned char)*p) || *p == '.' ||
			  ((*p == '+' || *p == '-') && strchr("eEpP", p[-1])); p++)
			;
		t->kind = T_NUMBER;
		t->len = (size_t)(p - t->s);
		lx->p = p;
	} else if (*p == '"' || *p == '\'') {
		short_string(lx, t);
	} else if ((level = long_open(p)) >= 0) {
		t->kind = T_STRING;
		t->plain = 1;
		long_skip(lx, level, t);
	} else {
		operator(lx, t);
	}
}

static int is_op(const token *t, const char *op)
{
	return t->kind == T_OP && !strcmp(t->op, op);
}

static int is_name(const token *t, const char *w)
{
	return t->kind == T_NAME && t->len == strlen(w) && !memcmp(t->s, w, t->len);
}

static int is_sep(const token *t)
{
	return is_op(t, ",") || is_op(t, ";") || is_op(t, "}");
}

/* ---- values ------------------------------------------------------------ */

/* Skips the rest of an expression whose first token is *first, up to the
 * ',', ';' or '}' that ends it at its own depth (left in *sep), or EOF. */
static void skip_expr(lexer *lx, const token *first, token *sep)
{
	token t = *first;
	int depth = 0;

	for (;;) {
		if (t.kind == T_EOF || (depth == 0 && is_sep(&t))) {
			*sep = t;
			return;
		}
		if (is_op(&t, "(") || is_op(&t, "{") || is_op(&t, "[") || is_name(&t, "function") ||
		    is_name(&t, "if") || is_name(&t, "do") || is_name(&t, "repeat"))
			depth++;
		else if (is_op(&t, ")") || is_op(&t, "}") || is_op(&t, "]") || is_name(&t, "end") ||
			 is_name(&t, "until"))
			depth--;
		if (depth < 0) {             /* not Lua: give up on this table */
			t.kind = T_EOF;
			continue;
		}
		next(lx, &t);
	}
}

enum { V_LITERAL, V_NIL, V_TABLE, V_OTHER };
enum { TABLE_OK = 0, TABLE_COMPUTED = 1, TABLE_BROKEN = 2 };

static int read_table(lexer *lx, json_t **out, int depth);

/* One value after `key =`: what it is, and into *v what the check sees
 * (NULL for nil). *sep gets the token that ends it. */
static int read_value(lexer *lx, json_t **v, int depth, token *sep, int *table_rc)
{
	token t, after;
	lexer look;

	*v = NULL;
	*table_rc = TABLE_OK;
	next(lx, &t);
	if (is_op(&t, "{") && depth < MAX_DEPTH) {
		json_t *sub = NULL;
		*table_rc = read_table(lx, &sub, depth + 1);
		next(lx, &after);
		if (*table_rc != TABLE_BROKEN && is_sep(&after)) {
			*v = sub;
			*sep = after;
			return V_TABLE;
		}
		json_decref(sub);           /* { … } followed by more: an expression */
		*table_rc = TABLE_OK;
		*v = json_string(NU_CHECK_PLACEHOLDER);
		skip_expr(lx, &after, sep);
		return V_OTHER;
	}
	look = *lx;
	next(&look, &after);
	if (is_sep(&after) && (t.kind == T_STRING || is_name(&t, "nil"))) {
		*lx = look;
		*sep = after;
		if (is_name(&t, "nil"))
			return V_NIL;
		/* Invalid UTF-8 cannot be a JSON string: the check sees a placeholder. */
		if (t.plain && (*v = json_stringn(t.s, t.len)))
			return V_LITERAL;
		*v = json_string(NU_CHECK_PLACEHOLDER);
		return V_OTHER;
	}
	*v = json_string(NU_CHECK_PLACEHOLDER);
	skip_expr(lx, &t, sep);
	return V_OTHER;
}

/* The key of a field starting with t: `name =` or `["name"] =` (then 1,
 * with the lexer past the '='), else 0 and the lexer untouched. */
static int field_key(lexer *lx, const token *t, char *key, size_t keylen)
{
	lexer look = *lx;
	token k, close, eq;

	if (t->kind == T_NAME) {
		next(&look, &eq);
		if (!is_op(&eq, "=") || t->len >= keylen)
			return 0;
		memcpy(key, t->s, t->len);
		key[t->len] = '\0';
	} else if (is_op(t, "[")) {
		next(&look, &k);
		next(&look, &close);
		next(&look, &eq);
		if (k.kind != T_STRING || !k.plain || !is_op(&close, "]") || !is_op(&eq, "=") ||
		    k.len >= keylen || memchr(k.s, '\0', k.len))
			return 0;
		memcpy(key, k.s, k.len);
		key[k.len] = '\0';
	} else {
		return 0;
	}
	*lx = look;
	return 1;
}

/* A table constructor, after its '{': *out gets an object of its keys (an
 * array when it only has positional fields). TABLE_COMPUTED when a key is
 * computed here or in a nested constructor. */
static int read_table(lexer *lx, json_t **out, int depth)
{
	json_t *obj = json_object();
	int rc = TABLE_OK, positional = 0;
	token t, sep;
	char key[128];

	for (;;) {
		next(lx, &t);
		if (is_op(&t, "}"))
			break;
		if (t.kind == T_EOF) {
			rc = TABLE_BROKEN;
			break;
		}
		if (field_key(lx, &t, key, sizeof key)) {
			json_t *v;
			int sub_rc;
			read_value(lx, &v, depth, &sep, &sub_rc);
			if (sub_rc == TABLE_COMPUTED)
				rc = TABLE_COMPUTED;
			if (v)
				json_object_set_new(obj, key, v);
			else
				json_object_del(obj, key);   /* key = nil: as if absent */
		} else {
			/* [expr] = value, or a positional value */
			if (is_op(&t, "["))
				rc = TABLE_COMPUTED;
			else
				positional++;
			skip_expr(lx, &t, &sep);
		}
		if (is_op(&sep, "}"))
			break;
		if (sep.kind == T_EOF) {
			rc = TABLE_BROKEN;
			break;
		}
	}
	if (positional && !json_object_size(obj) && rc == TABLE_OK) {
		json_decref(obj);
		obj = json_array();
		for (int i = 0; i < positional; i++)
			json_array_append_new(obj, json_string(NU_CHECK_PLACEHOLDER));
	}
	*out = obj;
	return rc;
}

/* ---- sends ------------------------------------------------------------- */

/* The message constructor of a send, after its '{': fills s->message and
 * s->tmpl, or says why it cannot. */
static void read_message(lexer *lx, nu_scan_send *s)
{
	json_t *msg = NULL;
	token after;
	int rc = read_table(lx, &msg, 0);

	next(lx, &after);
	if (rc == TABLE_COMPUTED)
		s->unresolved = "the message has a computed key ([k] = v)";
	else if (rc == TABLE_BROKEN || !json_is_object(msg))
		s->unresolved = "the message is not a table of named fields";
	else if (!is_op(&after, ")") && !is_op(&after, ","))
		s->unresolved = "the message is an expression, not a table written in the call";
	if (s->unresolved) {
		json_decref(msg);
		return;
	}
	json_t *tmpl = json_object_get(msg, "template");
	const char *name = json_string_value(tmpl);
	if (tmpl && (!name || !strcmp(name, NU_CHECK_PLACEHOLDER)))
		s->unresolved = "the template is computed when the flow runs";
	else if (name && strlen(name) >= sizeof s->tmpl)
		s->unresolved = "the template name is too long";
	else if (name)
		snprintf(s->tmpl, sizeof s->tmpl, "%s", name);
	if (s->unresolved)
		json_decref(msg);
	else
		s->message = msg;
}

/* The arguments of send( … ), lexer after the '('. */
static void read_call(lexer *lx, nu_scan_send *s)
{
	token a, b;

	next(lx, &a);
	next(lx, &b);
	if (a.kind != T_STRING || !a.plain || !is_op(&b, ",") || !a.len ||
	    a.len >= sizeof s->channel || memchr(a.s, '\0', a.len)) {
		s->unresolved = a.kind == T_STRING && is_op(&b, ")") ? "the send has no message" :
				"the channel is not a literal string";
		return;
	}
	memcpy(s->channel, a.s, a.len);
	s->channel[a.len] = '\0';
	next(lx, &a);
	if (!is_op(&a, "{"))
		s->unresolved = "the message is not a table written in the call";
	else
		read_message(lx, s);
}

static int add(nu_scan *out, const nu_scan_send *s, nu_error *err)
{
	nu_scan_send *g = realloc(out->sends, (out->n + 1) * sizeof *g);

	if (!g)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	out->sends = g;
	out->sends[out->n++] = *s;
	return NU_OK;
}

int nu_flow_scan(const char *src, nu_scan *out, nu_error *err)
{
	lexer lx = { src, 1 };
	token prev = { 0 }, t;

	memset(out, 0, sizeof *out);
	for (next(&lx, &t); t.kind != T_EOF; prev = t, next(&lx, &t)) {
		nu_scan_send s = { .line = t.line };
		lexer look = lx;
		token a;

		/* The global send only: not obj.send, obj:send, nor a definition. */
		if (!is_name(&t, "send") || is_op(&prev, ".") || is_op(&prev, ":") ||
		    is_name(&prev, "function"))
			continue;
		next(&look, &a);
		if (is_op(&a, "("))
			read_call(&look, &s);
		else if (a.kind == T_STRING || is_op(&a, "{"))
			s.unresolved = "send is called without parentheses";
		else
			continue;            /* send used as a value: local f = send */
		if (add(out, &s, err) < 0) {
			json_decref(s.message);
			nu_flow_scan_free(out);
			return NU_ENOMEM;
		}
	}
	return NU_OK;
}

void nu_flow_scan_free(nu_scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		json_decref(s->sends[i].message);
	free(s->sends);
	memset(s, 0, sizeof *s);
}
