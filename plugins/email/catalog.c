/*
 * catalog.c — templates cached by name, and the message check
 * (catalog.h).
 *
 * A file is known by its device, inode, size and modification time (to
 * the nanosecond): an editor that writes in place changes the time, one
 * that replaces the file changes the inode. The files are identified
 * before they are read, so a change during the read shows at the next
 * use and is read again.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* struct stat's st_mtim, strdup */
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include <nurture/plugin.h>
#include "buf.h"
#include "catalog.h"

/* A catalog this full starts again empty: far more templates than a
 * marketing team keeps, and names come from flows, not from strangers. */
#define MAX_ENTRIES 256
#define MAX_PROBLEMS 16

const char *const email_lead_fields[] = { "name", "company", "title", "email", "industry",
					  "region", "phone", NULL };

typedef struct file_id {
	int state;                  /* 1 there, 0 absent, -1 cannot tell (always "changed") */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
} file_id;

typedef struct entry {
	char *name;
	file_id tmpl, text;
	email_template *t;          /* or NULL, and error says why */
	char *error;
} entry;

struct email_catalog {
	char *dir;
	entry *e;
	size_t n;
	unsigned reads;
};

static void identify(const char *path, file_id *id)
{
	struct stat st;

	memset(id, 0, sizeof *id);
	if (stat(path, &st) == 0) {
		id->state = 1;
		id->dev = st.st_dev;
		id->ino = st.st_ino;
		id->size = st.st_size;
		id->mtime = st.st_mtim;
	} else {
		id->state = errno == ENOENT ? 0 : -1;
	}
}

static int same_file(const file_id *a, const file_id *b)
{
	return a->state >= 0 && a->state == b->state && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

email_catalog *email_catalog_new(const char *dir)
{
	email_catalog *c = calloc(1, sizeof *c);

	if (c && !(c->dir = strdup(dir))) {
		free(c);
		return NULL;
	}
	return c;
}

static void clear_entry(entry *e)
{
	email_template_free(e->t);
	free(e->error);
	e->t = NULL;
	e->error = NULL;
}

static void drop_all(email_catalog *c)
{
	for (size_t i = 0; i < c->n; i++) {
		clear_entry(&c->e[i]);
		free(c->e[i].name);
	}
	free(c->e);
	c->e = NULL;
	c->n = 0;
}

void email_catalog_free(email_catalog *c)
{
	if (!c)
		return;
	drop_all(c);
	free(c->dir);
	free(c);
}

unsigned email_catalog_reads(const email_catalog *c)
{
	return c->reads;
}

/* The entry for name, made empty (never read) when there is none. */
static entry *entry_for(email_catalog *c, const char *name)
{
	entry *g;

	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->e[i].name, name))
			return &c->e[i];
	if (c->n == MAX_ENTRIES)
		drop_all(c);
	if (!(g = realloc(c->e, (c->n + 1) * sizeof *g)))
		return NULL;
	c->e = g;
	g = &c->e[c->n];
	memset(g, 0, sizeof *g);
	g->tmpl.state = g->text.state = -1;   /* never seen: read it */
	if (!(g->name = strdup(name)))
		return NULL;
	c->n++;
	return g;
}

/* Reads and parses the entry's files; their identities were taken first. */
static void load(email_catalog *c, entry *g, const file_id *tmpl, const file_id *text)
{
	char err[400] = "";

	clear_entry(g);
	g->tmpl = *tmpl;
	g->text = *text;
	c->reads++;
	if (email_template_load(c->dir, g->name, &g->t, err, sizeof err) < 0)
		g->error = strdup(err[0] ? err : "cannot load the template");
}

int email_catalog_get(email_catalog *c, const char *name, const email_template **out,
		      char *err, size_t errlen)
{
	ebuf path = { 0 };
	file_id tmpl, text;
	entry *g;

	*out = NULL;
	if (!*name || name[0] == '.' || strchr(name, '/'))
		return eb_fail(err, errlen, "bad template name '%s'", name);
	eb_printf(&path, "%s/%s.tmpl", c->dir, name);
	if (!path.failed)
		identify(path.p, &tmpl);
	path.len = 0;
	eb_printf(&path, "%s/%s.txt", c->dir, name);
	if (!path.failed)
		identify(path.p, &text);
	if (path.failed || !(g = entry_for(c, name))) {
		eb_free(&path);
		return eb_fail(err, errlen, "out of memory");
	}
	eb_free(&path);
	if (!same_file(&g->tmpl, &tmpl) || !same_file(&g->text, &text))
		load(c, g, &tmpl, &text);
	if (!g->t)
		return eb_fail(err, errlen, "%s", g->error ? g->error : "out of memory");
	*out = g->t;
	return 0;
}

/* ---- the check ---------------------------------------------------------- */

enum { P_MISSING = 1, P_UNKNOWN_FIELD, P_LEAD_RECORD, P_NOT_TEXT };

typedef struct problem {
	const email_var *v;
	int kind;               /* P_… */
} problem;

static int is_lead_field(const char *name)
{
	for (const char *const *f = email_lead_fields; *f; f++)
		if (!strcmp(name, *f))
			return 1;
	return 0;
}

/* What rendering would see, with every lead field present: the message's
 * own values, then lead.<field> for each field the plugin fills. */
static json_t *values_of(const json_t *msg)
{
	json_t *values = json_deep_copy(msg), *lead = json_object();

	for (const char *const *f = email_lead_fields; *f; f++)
		json_object_set_new(lead, *f, json_string(NU_CHECK_PLACEHOLDER));
	json_object_set_new(values, "lead", lead);
	return values;
}

/* The problem with variable v (P_…), or 0 when it renders. */
static int problem_of(const json_t *values, const email_var *v)
{
	int state = email_template_value(values, v->name);

	/* A field the plugin never fills always renders its default: a typo. */
	if (!strncmp(v->name, "lead.", 5) && !is_lead_field(v->name + 5) &&
	    !json_object_get(values, v->name))
		return P_UNKNOWN_FIELD;
	if (!strcmp(v->name, "lead"))
		return P_LEAD_RECORD;
	if (state == EMAIL_VALUE_NOT_TEXT)
		return P_NOT_TEXT;
	if (state == EMAIL_VALUE_MISSING && !v->dflt)
		return P_MISSING;
	return 0;
}

static void describe(ebuf *b, const problem *p)
{
	const char *name = p->v->name;

	eb_printf(b, "(%s:%d): ", p->v->file, p->v->line);
	switch (p->kind) {
	case P_MISSING:
		eb_printf(b, "missing variable '%s'", name);
		break;
	case P_UNKNOWN_FIELD:
		eb_printf(b, "unknown lead field '%s' (the email plugin fills name, company, title,"
			  " email, industry, region, phone)", name);
		break;
	case P_LEAD_RECORD:
		eb_printf(b, "'%s' is the lead's record, not text: use lead.<field>", name);
		break;
	default:
		eb_printf(b, "variable '%s' is a table or a list, not text", name);
	}
}

static int by_place(const void *a, const void *b)
{
	const problem *x = a, *y = b;
	int c = strcmp(x->v->file, y->v->file);

	return c ? c : (x->v->line > y->v->line) - (x->v->line < y->v->line);
}

/* "template 'x' (file:line): what 'var'; (file:line): …" */
static int report(const char *name, problem *p, size_t n, size_t more, char *err, size_t errlen)
{
	ebuf b = { 0 };

	qsort(p, n, sizeof *p, by_place);
	for (size_t i = 0; i < n; i++) {
		if (i)
			eb_puts(&b, "; ");
		describe(&b, &p[i]);
	}
	if (more)
		eb_printf(&b, "; and %zu more", more);
	eb_fail(err, errlen, "template '%s' %s", name, b.failed ? "(out of memory)" : b.p);
	eb_free(&b);
	return -1;
}

static int check_template(const char *name, const email_template *t, const json_t *msg,
			  char *err, size_t errlen)
{
	json_t *values = values_of(msg);
	problem p[MAX_PROBLEMS];
	const email_var *vars;
	size_t nvars = email_template_vars(t, &vars), n = 0, more = 0;
	int rc = 0;

	for (size_t i = 0; i < nvars; i++) {
		int kind = problem_of(values, &vars[i]);
		if (kind && n < MAX_PROBLEMS)
			p[n++] = (problem){ &vars[i], kind };
		else if (kind)
			more++;
	}
	if (n)
		rc = report(name, p, n, more, err, errlen);
	json_decref(values);
	return rc;
}

int email_catalog_check(email_catalog *c, const char *message_json, char *err, size_t errlen)
{
	json_t *msg = json_loads(message_json ? message_json : "", 0, NULL);
	const char *name = json_string_value(json_object_get(msg, "template"));
	const email_template *t;
	char why[400];
	int rc = -1;

	if (!json_is_object(msg))
		eb_fail(err, errlen, "the message is not a JSON object");
	else if (!name)
		eb_fail(err, errlen, "the message names no template (send(\"email\", { template = … }))");
	else if (email_catalog_get(c, name, &t, why, sizeof why) < 0)
		eb_fail(err, errlen, "template '%s': %s", name, why);
	else
		rc = check_template(name, t, msg, err, errlen);
	json_decref(msg);
	return rc;
}
