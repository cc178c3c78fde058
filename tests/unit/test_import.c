/*
 * test_import.c — bulk import of leads (CSV) and events (NDJSON): bad rows
 * rejected with their physical line number and reason while the rest are
 * stored, progressive profiling and merges through import, tags, custom
 * fields, initial stages, header problems, dedupe keys and batching.
 */
#include <jansson.h>
#include "import.h"
#include "leads.h"
#include "testutil.h"

#define MAX_REJECTS 32

struct rejects {
	int  n;
	long line[MAX_REJECTS];
	char reason[MAX_REJECTS][NU_ERROR_MAX];
};

static void on_reject(long line, const char *reason, void *ud)
{
	struct rejects *r = ud;

	assert_true(r->n < MAX_REJECTS);
	r->line[r->n] = line;
	snprintf(r->reason[r->n], sizeof r->reason[r->n], "%s", reason);
	r->n++;
}

/* Writes `text` to `name` in the test's folder; the path goes to `out`. */
static void write_file(struct test_db *t, const char *name, const char *text,
		       char *out, size_t outlen)
{
	FILE *f;

	snprintf(out, outlen, "%s/%s", t->dir, name);
	assert_non_null(f = fopen(out, "wb"));
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* Imports `text` as file `name`; rejected rows are collected in *r. */
static int import_text(struct test_db *t, const char *name, const char *text,
		       enum nu_import_kind kind, unsigned flags, struct rejects *r,
		       nu_import_stats *st, nu_error *err)
{
	nu_import_opts o = { .kind = kind, .lead_flags = flags,
			     .reject = on_reject, .ud = r };
	char path[192];

	memset(r, 0, sizeof *r);
	memset(err, 0, sizeof *err);
	write_file(t, name, text, path, sizeof path);
	return nu_import_file(t->s, path, &o, st, err);
}

/* An import that must succeed as a whole. */
static void import_ok(struct test_db *t, const char *name, const char *text,
		      enum nu_import_kind kind, unsigned flags, struct rejects *r,
		      nu_import_stats *st)
{
	nu_error err;

	if (import_text(t, name, text, kind, flags, r, st, &err) != NU_OK)
		fail_msg("import of %s failed: %s", name, err.msg);
}

/* Rejection i was at `line` and its reason holds `word1` and `word2`. */
static void assert_reject(const struct rejects *r, int i, long line,
			  const char *word1, const char *word2)
{
	if (i >= r->n)
		fail_msg("expected a rejection #%d at line %ld, got only %d", i + 1,
			 line, r->n);
	if (r->line[i] != line)
		fail_msg("rejection #%d at line %ld, expected line %ld (%s)", i + 1,
			 r->line[i], line, r->reason[i]);
	if (word1 && !strstr(r->reason[i], word1))
		fail_msg("line %ld: reason \"%s\" lacks \"%s\"", line, r->reason[i], word1);
	if (word2 && !strstr(r->reason[i], word2))
		fail_msg("line %ld: reason \"%s\" lacks \"%s\"", line, r->reason[i], word2);
}

static void assert_stats(const nu_import_stats *st, uint64_t rows, uint64_t created,
			 uint64_t updated, uint64_t merged, uint64_t events,
			 uint64_t duplicates, uint64_t rejected)
{
	assert_int_equal(st->rows, rows);
	assert_int_equal(st->created, created);
	assert_int_equal(st->updated, updated);
	assert_int_equal(st->merged, merged);
	assert_int_equal(st->events, events);
	assert_int_equal(st->duplicates, duplicates);
	assert_int_equal(st->rejected, rejected);
}

/* The lead owning an identity, or -1. */
static int64_t owner(struct test_db *t, const char *kind, const char *value)
{
	sqlite3_stmt *st;
	int64_t id = -1;

	assert_int_equal(sqlite3_prepare_v2(nu_store_db(t->s),
		"SELECT lead_id FROM identity WHERE kind = ? AND value = ?", -1, &st,
		NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

/* One text column of lead `id` (the caller frees), NULL if NULL. */
static char *lead_text(struct test_db *t, const char *sql, int64_t id)
{
	sqlite3_stmt *st;
	char *v = NULL;

	assert_int_equal(sqlite3_prepare_v2(nu_store_db(t->s), sql, -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return v;
}

static void assert_lead_text(struct test_db *t, const char *sql, int64_t id,
			     const char *want)
{
	char *v = lead_text(t, sql, id);

	if (!want) {
		if (v)
			fail_msg("%s for lead %lld: expected NULL, got '%s'", sql,
				 (long long)id, v);
		return;
	}
	if (!v)
		fail_msg("%s for lead %lld: expected '%s', got NULL", sql,
			 (long long)id, want);
	if (strcmp(v, want) != 0) {
		fprintf(stderr, "%s for lead %lld: expected '%s', got '%s'\n", sql,
			(long long)id, want, v);
		free(v);
		fail();
	}
	free(v);
}

/* Each test gets a fresh database, removed even when the test fails. */
static int db_setup(void **state)
{
	struct test_db *t = calloc(1, sizeof *t);

	if (!t)
		return -1;
	test_db_open(t);
	*state = t;
	return 0;
}

static int db_teardown(void **state)
{
	struct test_db *t = *state;

	test_db_close(t);
	free(t);
	return 0;
}

/* ---------------------------------------------------------------- CSV */

static void csv_bad_rows_are_rejected_by_line(void **state)
{
	static const char csv[] =
		"email,phone,name,company\n"                 /* 1 */
		"alice@acme.cn,13800138000,Alice,Acme\n"     /* 2 good */
		"bob@,,Bob,Beta\n"                            /* 3 bad email */
		",138abc0013,Carol,Gamma\n"                   /* 4 phone with letters */
		"dave@delta.cn,,Dave\n"                       /* 5 three fields */
		",,Eve,Epsilon\n"                             /* 6 no identity */
		"frank@foxtrot.cn,+86 139 0013 9000,Frank,Foxtrot\n" /* 7 good */
		"henry@hotel.cn,,\"Henry,Hotel\n";            /* 8 unterminated quote */
	struct test_db *t = *state;
	struct rejects r;
	nu_import_stats st;
	int64_t alice, frank;

	import_ok(t, "leads.csv", csv, NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 7, 2, 0, 0, 0, 0, 5);
	assert_int_equal(st.total_bytes, strlen(csv));
	assert_int_equal(st.bytes, strlen(csv));
	assert_int_equal(r.n, 5);
	assert_reject(&r, 0, 3, "email", "'bob@' has no domain");
	assert_reject(&r, 1, 4, "phone", "letters");
	assert_reject(&r, 2, 5, "3 fields", "header has 4");
	assert_reject(&r, 3, 6, "no identity", NULL);
	assert_reject(&r, 4, 8, "unterminated", NULL);

	/* The rows before and after the bad ones are stored; the bad ones
	 * left nothing behind. */
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM lead", -1), 2);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM identity", -1), 4);
	alice = owner(t, "email", "alice@acme.cn");
	frank = owner(t, "email", "frank@foxtrot.cn");
	assert_true(alice > 0);
	assert_true(frank > 0 && frank != alice);
	assert_int_equal(owner(t, "phone", "+8613800138000"), alice);
	assert_int_equal(owner(t, "phone", "+8613900139000"), frank);
	assert_lead_text(t, "SELECT name FROM lead WHERE id = ?", alice, "Alice");
	assert_lead_text(t, "SELECT company FROM lead WHERE id = ?", frank, "Foxtrot");
	assert_lead_text(t, "SELECT phone FROM lead WHERE id = ?", frank, "+8613900139000");
	assert_lead_text(t, "SELECT stage FROM lead WHERE id = ?", frank, "Lead");
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM lead WHERE name IN ('Bob', 'Carol', 'Dave', 'Eve', 'Henry')",
		-1), 0);
	/* The default source names the file. */
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM identity WHERE source = 'import:leads.csv'", -1), 4);
}

static void csv_quoted_newlines_keep_line_numbers(void **state)
{
	static const char csv[] =
		"email,name,note\n"                  /* 1 */
		"ann@x.cn,\"Ann\n"                   /* 2 */
		"Lee\",\"multi\n"                    /* 3 */
		"line\n"                             /* 4 */
		"note\"\n"                           /* 5 */
		"bob@x.cn,Bob,plain\n"               /* 6 */
		"cat@@x.cn,Cat,bad\n"                /* 7 bad email */
		"\n"                                 /* 8 blank */
		"eve@,\"Eve\n"                       /* 9 bad email, record spans */
		"Two\",x\n"                          /* 10 */
		"dee@x.cn,\"Dee \"\"D\"\" Doe\",\"a,b\"\r\n" /* 11 CRLF */
		"ray@x.cn,Ray,2\"x\n"                /* 12 stray quote */
		"zed@x.cn,Zed,last\n";               /* 13 */
	struct test_db *t = *state;
	struct rejects r;
	nu_import_stats st;
	int64_t ann, dee;

	import_ok(t, "notes.csv", csv, NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 7, 4, 0, 0, 0, 0, 3);
	assert_int_equal(r.n, 3);
	assert_reject(&r, 0, 7, "email", "'cat@@x.cn'");
	assert_reject(&r, 1, 9, "email", "'eve@'");
	assert_reject(&r, 2, 12, "stray quote", NULL);

	ann = owner(t, "email", "ann@x.cn");
	dee = owner(t, "email", "dee@x.cn");
	assert_true(ann > 0 && dee > 0);
	assert_true(owner(t, "email", "zed@x.cn") > 0);
	assert_lead_text(t, "SELECT name FROM lead WHERE id = ?", ann, "Ann\nLee");
	assert_lead_text(t, "SELECT json_extract(custom, '$.note') FROM lead WHERE id = ?",
			 ann, "multi\nline\nnote");
	assert_lead_text(t, "SELECT name FROM lead WHERE id = ?", dee, "Dee \"D\" Doe");
	assert_lead_text(t, "SELECT json_extract(custom, '$.note') FROM lead WHERE id = ?",
			 dee, "a,b");
}

static void repeat_row_fills_blanks_and_overwrite_replaces(void **state)
{
	struct test_db *t = *state;
	struct rejects r;
	nu_import_stats st;
	int64_t id;

	import_ok(t, "crm.csv",
		  "email,name,company\n"
		  "zhang.wei@hengtai.com,Zhang Wei,Hengtai\n",
		  NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 1, 1, 0, 0, 0, 0, 0);
	id = owner(t, "email", "zhang.wei@hengtai.com");
	assert_true(id > 0);

	/* A later list knows the title and a different company: the blank is
	 * filled, the known company is kept. */
	t->now += 60000;
	import_ok(t, "expo.csv",
		  "Email,Company,Title\n"
		  "Zhang.Wei@Hengtai.com,Hengtai Group,CTO\n",
		  NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 1, 0, 1, 0, 0, 0, 0);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM lead", -1), 1);
	assert_lead_text(t, "SELECT title FROM lead WHERE id = ?", id, "CTO");
	assert_lead_text(t, "SELECT company FROM lead WHERE id = ?", id, "Hengtai");
	assert_lead_text(t, "SELECT name FROM lead WHERE id = ?", id, "Zhang Wei");

	/* The same file again changes nothing and counts no update. */
	import_ok(t, "expo.csv",
		  "Email,Company,Title\n"
		  "Zhang.Wei@Hengtai.com,Hengtai Group,CTO\n",
		  NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 1, 0, 0, 0, 0, 0, 0);

	/* With OVERWRITE the file's value replaces the known one. */
	import_ok(t, "expo.csv",
		  "Email,Company,Title\n"
		  "Zhang.Wei@Hengtai.com,Hengtai Group,CTO\n",
		  NU_IMPORT_LEADS, NU_LEAD_OVERWRITE, &r, &st);
	assert_stats(&st, 1, 0, 1, 0, 0, 0, 0);
	assert_lead_text(t, "SELECT company FROM lead WHERE id = ?", id, "Hengtai Group");
	assert_lead_text(t, "SELECT title FROM lead WHERE id = ?", id, "CTO");
	assert_lead_text(t, "SELECT name FROM lead WHERE id = ?", id, "Zhang Wei");
	/* History: the creation is in the lead row (lead.source says where
	 * from); then the title filled and the company replaced. */
	assert_lead_text(t, "SELECT source FROM lead WHERE id = ?", id, "import:crm.csv");
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM lead_history WHERE lead_id = ?", id), 2);
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM lead_history WHERE lead_id = ?"
		" AND json_extract(changes, '$.title[1]') = 'CTO'"
		" AND json_extract(changes, '$.company') IS NULL", id), 1);
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM lead_history WHERE lead_id = ? AND source = 'import:expo.csv'"
		" AND json_extract(changes, '$.company[1]') = 'Hengtai Group'", id), 1);
}

static void row_ties_anonymous_lead_to_email_lead(void **state)
{
	struct test_db *t = *state;
	struct rejects r;
	nu_import_stats st;
	int64_t li, anon;

	import_ok(t, "first.csv",
		  "email,anonymous_id,name\n"
		  "li.na@x.cn,,Li Na\n"
		  ",anon-77f1,\n",
		  NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 2, 2, 0, 0, 0, 0, 0);
	li = owner(t, "email", "li.na@x.cn");
	anon = owner(t, "anonymous_id", "anon-77f1");
	assert_true(li > 0 && anon > 0 && li != anon);

	/* A form row carries both: one person, the older lead survives. */
	t->now += 60000;
	import_ok(t, "form.csv",
		  "anonymous_id,email,title\n"
		  "anon-77f1,LI.NA@x.cn,Buyer\n",
		  NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 1, 0, 1, 1, 0, 0, 0);
	assert_int_equal(owner(t, "anonymous_id", "anon-77f1"), li);
	assert_int_equal(owner(t, "email", "li.na@x.cn"), li);
	assert_int_equal(test_query_int(t, "SELECT merged_into FROM lead WHERE id = ?", anon), li);
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM lead WHERE merged_into IS NULL", -1), 1);
	assert_lead_text(t, "SELECT title FROM lead WHERE id = ?", li, "Buyer");
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM lead_merge WHERE survivor_id = ?", li), 1);
}

static void tags_and_source_columns(void **state)
{
	struct test_db *t = *state;
	struct rejects r;
	nu_import_stats st;
	int64_t a, b;

	import_ok(t, "webinar.csv",
		  "email,tags,source\n"                                          /* 1 */
		  "a@x.cn, interest:crm ; behaviour:attended_webinar ;,Webinar\n" /* 2 */
		  "b@x.cn,,Trade Show 2026\n"                                    /* 3 */
		  "c@x.cn,interest:crm;Not A Tag,Webinar\n",                     /* 4 */
		  NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 3, 2, 0, 0, 0, 0, 1);
	assert_reject(&r, 0, 4, "tags", "'Not A Tag'");
	a = owner(t, "email", "a@x.cn");
	b = owner(t, "email", "b@x.cn");
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM tag WHERE lead_id = ?", a), 3);
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM tag WHERE lead_id = ? AND name IN"
		" ('interest:crm', 'behaviour:attended_webinar', 'source:webinar')", a), 3);
	assert_lead_text(t, "SELECT source FROM tag WHERE lead_id = ? AND name = 'source:webinar'",
			 a, "import:webinar.csv");
	assert_lead_text(t, "SELECT json_extract(custom, '$.source') FROM lead WHERE id = ?",
			 a, "Webinar");
	/* A free-text source is kept as a custom field but makes no tag. */
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM tag WHERE lead_id = ?", b), 0);
	assert_lead_text(t, "SELECT json_extract(custom, '$.source') FROM lead WHERE id = ?",
			 b, "Trade Show 2026");
	/* The rejected row is rolled back whole: no lead, no identity, no tag. */
	assert_int_equal(owner(t, "email", "c@x.cn"), -1);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM lead", -1), 2);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM tag", -1), 3);
}

static void custom_numeric_column_is_a_json_number(void **state)
{
	struct test_db *t = *state;
	struct rejects r;
	nu_import_stats st;
	int64_t id;

	import_ok(t, "firmo.csv",
		  "email,employees,budget,delta,crm_id,region,plan,postcode,hex,acct,sci\n"
		  "n@x.cn,250,1500.5,-7,00123,200,pro,010020,0x1A,-nan,1.5e3\n",
		  NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 1, 1, 0, 0, 0, 0, 0);
	id = owner(t, "email", "n@x.cn");
	assert_true(id > 0);
	assert_lead_text(t, "SELECT json_type(custom, '$.employees') FROM lead WHERE id = ?",
			 id, "integer");
	assert_int_equal(test_query_int(t,
		"SELECT json_extract(custom, '$.employees') FROM lead WHERE id = ?", id), 250);
	assert_int_equal(test_query_int(t,
		"SELECT json_extract(custom, '$.employees') > 100 FROM lead WHERE id = ?", id), 1);
	assert_lead_text(t, "SELECT json_type(custom, '$.budget') FROM lead WHERE id = ?",
			 id, "real");
	assert_int_equal(test_query_int(t,
		"SELECT json_extract(custom, '$.budget') = 1500.5 FROM lead WHERE id = ?", id), 1);
	/* Only canonical decimals become numbers: nothing is silently altered. */
	assert_lead_text(t, "SELECT json_extract(custom, '$.postcode') FROM lead WHERE id = ?",
			 id, "010020");
	assert_lead_text(t, "SELECT json_extract(custom, '$.hex') FROM lead WHERE id = ?",
			 id, "0x1A");
	assert_lead_text(t, "SELECT json_extract(custom, '$.acct') FROM lead WHERE id = ?",
			 id, "-nan");
	assert_lead_text(t, "SELECT json_extract(custom, '$.sci') FROM lead WHERE id = ?",
			 id, "1.5e3");
	assert_int_equal(test_query_int(t,
		"SELECT json_extract(custom, '$.delta') FROM lead WHERE id = ?", id) + 7, 0);
	assert_lead_text(t, "SELECT json_type(custom, '$.plan') FROM lead WHERE id = ?",
			 id, "text");
	/* Identity and typed columns stay text. */
	assert_int_equal(owner(t, "crm_id", "00123"), id);
	assert_lead_text(t, "SELECT region FROM lead WHERE id = ?", id, "200");
	assert_lead_text(t, "SELECT json_type(custom, '$.crm_id') FROM lead WHERE id = ?",
			 id, NULL);
}

static void stage_column_sets_initial_stage(void **state)
{
	struct test_db *t = *state;
	struct rejects r;
	nu_import_stats st;
	int64_t s1, s2;

	import_ok(t, "crm-export.csv",
		  "email,stage\n"
		  "s1@x.cn,SQL\n"
		  "s2@x.cn,\n"
		  "s3@x.cn,Nope\n",
		  NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 3, 2, 0, 0, 0, 0, 1);
	assert_reject(&r, 0, 4, "stage", "unknown stage 'Nope'");
	s1 = owner(t, "email", "s1@x.cn");
	s2 = owner(t, "email", "s2@x.cn");
	assert_lead_text(t, "SELECT stage FROM lead WHERE id = ?", s1, "SQL");
	assert_lead_text(t, "SELECT stage FROM lead WHERE id = ?", s2, "Lead");
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM stage_change WHERE lead_id = ? AND from_stage = 'Lead'"
		" AND to_stage = 'SQL' AND reason = 'initial stage'", s1), 1);
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM stage_change WHERE lead_id = ?", s2), 0);
	assert_int_equal(owner(t, "email", "s3@x.cn"), -1);

	/* On an existing lead the stage follows the rules: SQL → MQL is
	 * backwards and refused, SQL → Opportunity is fine. */
	import_ok(t, "again.csv",
		  "email,stage\n"
		  "s1@x.cn,MQL\n"
		  "s2@x.cn,Opportunity\n",
		  NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 2, 0, 1, 0, 0, 0, 1);
	assert_reject(&r, 0, 2, "MQL", NULL);
	assert_lead_text(t, "SELECT stage FROM lead WHERE id = ?", s1, "SQL");
	assert_lead_text(t, "SELECT stage FROM lead WHERE id = ?", s2, "Opportunity");
}

static void duplicate_header_column_fails_whole_import(void **state)
{
	struct test_db *t = *state;
	struct rejects r;
	nu_import_stats st;
	nu_error err;

	assert_int_equal(import_text(t, "dup.csv",
		"email,Name,company, name \n"
		"a@x.cn,A,Acme,B\n"
		"b@x.cn,B,Beta,C\n",
		NU_IMPORT_LEADS, 0, &r, &st, &err), NU_EINVAL);
	assert_int_equal(err.code, NU_EINVAL);
	if (!strstr(err.msg, "column 'name' appears twice"))
		fail_msg("message: %s", err.msg);
	assert_int_equal(r.n, 0);
	assert_int_equal(st.rows, 0);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM lead", -1), 0);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM identity", -1), 0);

	/* A column without a name is refused the same way. */
	assert_int_equal(import_text(t, "blank.csv", "email,,name\na@x.cn,1,A\n",
		NU_IMPORT_LEADS, 0, &r, &st, &err), NU_EINVAL);
	if (!strstr(err.msg, "column 2 has no name"))
		fail_msg("message: %s", err.msg);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM lead", -1), 0);
}

static void empty_or_missing_file_fails(void **state)
{
	struct test_db *t = *state;
	struct rejects r;
	nu_import_stats st;
	nu_error err;
	nu_import_opts o = { .kind = NU_IMPORT_LEADS };
	char path[192];

	assert_int_equal(import_text(t, "empty.csv", "", NU_IMPORT_LEADS, 0, &r, &st,
				     &err), NU_EINVAL);
	if (!strstr(err.msg, "empty"))
		fail_msg("message: %s", err.msg);
	assert_int_equal(import_text(t, "blank.csv", "\n\r\n\n", NU_IMPORT_LEADS, 0, &r,
				     &st, &err), NU_EINVAL);
	if (!strstr(err.msg, "empty"))
		fail_msg("message: %s", err.msg);
	assert_int_equal(st.rows, 0);

	snprintf(path, sizeof path, "%s/absent.csv", t->dir);
	assert_int_equal(nu_import_file(t->s, path, &o, &st, &err), NU_ENOTFOUND);
	if (!strstr(err.msg, "absent.csv"))
		fail_msg("message: %s", err.msg);

	/* A header with no rows is a valid, empty import. */
	import_ok(t, "header.csv", "email,name\n", NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 0, 0, 0, 0, 0, 0, 0);
	/* The store is usable afterwards: no transaction was left open. */
	assert_int_equal(nu_store_in_tx(t->s), 0);
}

/* ------------------------------------------------------------- NDJSON */

static void ndjson_events(void **state)
{
	static const char events[] =
		"{\"email\":\"W@X.cn\",\"type\":\"email.opened\",\"at\":\"2026-09-20T10:00:00Z\"}\n" /* 1 */
		"{\"phone\":\"+86 138-0013-8000\",\"type\":\"page.viewed\",\"at\":1790000000000,"
		"\"props\":{\"url\":\"/pricing\"}}\n"                                                /* 2 */
		"{\"email\":\"w@x.cn\",\"type\":\"form.submitted\",\n"                               /* 3 malformed */
		"\n"                                                                                 /* 4 blank */
		"{\"email\":\"w@x.cn\",\"type\":\"email.opened\",\"dedupe_kye\":\"k1\"}\n"           /* 5 unknown field */
		"{\"email\":\"w@x.cn\",\"type\":\"email.clicked\",\"at\":true}\n"                    /* 6 bad at */
		"{\"email\":\"w@x.cn\",\"type\":\"webinar.attended\",\"dedupe_key\":\"wb-1\"}\n"     /* 7 */
		"{\"phone\":\"0086 13800138000\",\"type\":\"webinar.attended\",\"dedupe_key\":\"wb-1\"}\n" /* 8 dup */
		"[1, 2]\n"                                                                           /* 9 not an object */
		"{\"email\":\"w@x.cn\",\"type\":\"email.opened\",\"type\":\"email.clicked\"}\n"       /* 10 key twice */
		"{\"phone\":\"138 0013 8000\",\"type\":\"content.downloaded\",\"attrs\":{\"title\":\"CIO\"}}\n" /* 11 */
		"{\"anonymous_id\":\"anon-9\",\"type\":\"page.viewed\"}";                            /* 12, no final LF */
	struct test_db *t = *state;
	struct rejects r;
	nu_import_stats st;
	int64_t w, anon;

	import_ok(t, "leads.csv", "email,phone,name\nw@x.cn,13800138000,Wang\n",
		  NU_IMPORT_LEADS, 0, &r, &st);
	assert_stats(&st, 1, 1, 0, 0, 0, 0, 0);
	w = owner(t, "email", "w@x.cn");

	t->now += 3600000;
	import_ok(t, "events.ndjson", events, NU_IMPORT_EVENTS, 0, &r, &st);
	assert_stats(&st, 11, 1, 1, 0, 5, 1, 5);
	assert_int_equal(st.bytes, strlen(events));
	assert_int_equal(r.n, 5);
	assert_reject(&r, 0, 3, "malformed JSON", NULL);
	assert_reject(&r, 1, 5, "unknown field 'dedupe_kye'", NULL);
	assert_reject(&r, 2, 6, "at:", "RFC 3339");
	assert_reject(&r, 3, 9, "JSON object", NULL);
	assert_reject(&r, 4, 10, "malformed JSON", "duplicate object key");

	/* Every spelling of the phone found the imported lead. */
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM event WHERE lead_id = ?", w), 4);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM event", -1), 5);
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM event WHERE dedupe_key = 'wb-1'", -1), 1);
	assert_int_equal(test_query_int(t,
		"SELECT at FROM event WHERE type = 'page.viewed' AND lead_id = ?", w),
		1790000000000LL);
	assert_int_equal(test_query_int(t,
		"SELECT at FROM event WHERE type = 'email.opened'", -1), 1789898400000LL);
	assert_int_equal(test_query_int(t,
		"SELECT at FROM event WHERE type = 'webinar.attended'", -1), t->now);
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM event WHERE type = 'page.viewed' AND lead_id = ?"
		" AND json_extract(props, '$.url') = '/pricing'", w), 1);
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM event WHERE source = 'import:events.ndjson'", -1), 5);
	assert_lead_text(t, "SELECT title FROM lead WHERE id = ?", w, "CIO");
	/* The unknown visitor became a lead of its own. */
	anon = owner(t, "anonymous_id", "anon-9");
	assert_true(anon > 0 && anon != w);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM lead", -1), 2);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM identity", -1), 3);

	/* The same file again: every dedupe-keyed event is a duplicate, the
	 * others are stored again. */
	import_ok(t, "events.ndjson", events, NU_IMPORT_EVENTS, 0, &r, &st);
	assert_int_equal(st.duplicates, 2);
	assert_int_equal(st.events, 4);
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM event WHERE dedupe_key = 'wb-1'", -1), 1);
}

/* ----------------------------------------------------------- batching */

struct progress {
	int calls;
	uint64_t rows[8];
	int64_t stored[8];
	struct test_db *t;
};

static void on_progress(const nu_import_stats *st, void *ud)
{
	struct progress *p = ud;

	assert_true(p->calls < 8);
	p->rows[p->calls] = st->rows;
	/* Each call follows a commit: the rows are in the database. */
	p->stored[p->calls] = test_query_int(p->t, "SELECT count(*) FROM lead", -1);
	p->calls++;
}

static void batches_report_progress(void **state)
{
	static const char csv[] =
		"email,name\n"
		"b1@x.cn,One\n"
		"b2@x.cn,Two\n"
		"b3@x.cn,Three\n"
		"b4@x.cn,Four\n"
		"b5@x.cn,Five\n";
	struct test_db *t = *state;
	struct progress p = { 0 };
	nu_import_opts o = { .kind = NU_IMPORT_LEADS, .batch_rows = 2,
			     .progress = on_progress, .ud = &p, .source = "crm-sync" };
	nu_import_stats st;
	nu_error err;
	char path[192];

	p.t = t;
	write_file(t, "batch.csv", csv, path, sizeof path);
	if (nu_import_file(t->s, path, &o, &st, &err) != NU_OK)
		fail_msg("import: %s", err.msg);
	assert_stats(&st, 5, 5, 0, 0, 0, 0, 0);
	assert_int_equal(p.calls, 3);
	assert_int_equal(p.rows[0], 2);
	assert_int_equal(p.rows[1], 4);
	assert_int_equal(p.rows[2], 5);
	assert_int_equal(p.stored[0], 2);
	assert_int_equal(p.stored[1], 4);
	assert_int_equal(p.stored[2], 5);
	assert_int_equal(test_query_int(t, "SELECT count(*) FROM lead", -1), 5);
	assert_int_equal(test_query_int(t,
		"SELECT count(*) FROM identity WHERE source = 'crm-sync'", -1), 5);
	assert_int_equal(nu_store_in_tx(t->s), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, db_setup, db_teardown)
	const struct CMUnitTest tests[] = {
		T(csv_bad_rows_are_rejected_by_line),
		T(csv_quoted_newlines_keep_line_numbers),
		T(repeat_row_fills_blanks_and_overwrite_replaces),
		T(row_ties_anonymous_lead_to_email_lead),
		T(tags_and_source_columns),
		T(custom_numeric_column_is_a_json_number),
		T(stage_column_sets_initial_stage),
		T(duplicate_header_column_fails_whole_import),
		T(empty_or_missing_file_fails),
		T(ndjson_events),
		T(batches_report_progress),
	};
#undef T
	return cmocka_run_group_tests_name("import", tests, NULL, NULL);
}
