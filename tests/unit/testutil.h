/*
 * testutil.h — helpers shared by the unit tests: a fresh database file in
 * a temporary folder and a virtual clock the test moves by hand.
 */
#ifndef NU_TESTUTIL_H
#define NU_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "identity.h"
#include "store.h"

#define T0 1790000000000LL   /* 2026-09-21T…Z: a fixed "now" for tests */

struct test_db {
	char dir[64];
	char path[128];
	int64_t now;
	nu_store *s;
};

static int64_t test_clock(void *ud)
{
	return *(int64_t *)ud;
}

static inline void test_db_open(struct test_db *t)
{
	nu_error err;

	strcpy(t->dir, "/tmp/nurture-test-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof t->path, "%s/test.db", t->dir);
	t->now = T0;
	if (nu_store_open(t->path, NULL, &t->s, &err) != NU_OK)
		fail_msg("open: %s", err.msg);
	nu_store_set_clock(t->s, test_clock, &t->now);
}

static inline void test_db_close(struct test_db *t)
{
	char cmd[160];

	nu_store_close(t->s);
	t->s = NULL;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", t->dir);
}

/* One integer from a query with one '?' bound to `arg` (or none if arg < 0). */
static inline int64_t test_query_int(struct test_db *t, const char *sql, int64_t arg)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(nu_store_db(t->s), sql, -1, &st, NULL), SQLITE_OK);
	if (arg >= 0)
		sqlite3_bind_int64(st, 1, arg);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* A lead named by one identity, created if nobody has it. */
static inline int64_t test_lead(struct test_db *t, int kind, const char *value)
{
	nu_identity id;
	nu_resolve_result r;
	nu_error err;

	if (nu_identity_normalize(t->s, kind, value, &id, &err) != NU_OK ||
	    nu_identity_resolve(t->s, &id, 1, "test", &r, &err) != NU_OK)
		fail_msg("test_lead %s: %s", value, err.msg);
	return r.lead_id;
}

#endif
