/*
 * test_store.c — the SQLite layer: pragmas, migrations (fresh, older,
 * newer, failing), the statement cache, savepoints and online backup.
 */
#include "testutil.h"

static void open_sets_wal_and_schema(void **state)
{
	struct test_db t;
	sqlite3_stmt *st;

	(void)state;
	test_db_open(&t);
	assert_int_equal(test_query_int(&t, "PRAGMA user_version", -1), nu_store_schema_version());
	assert_int_equal(test_query_int(&t, "PRAGMA foreign_keys", -1), 1);
	assert_int_equal(sqlite3_prepare_v2(nu_store_db(t.s), "PRAGMA journal_mode", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM sqlite_master WHERE name = 'lead'", -1), 1);
	test_db_close(&t);
}

static void newer_database_refused(void **state)
{
	struct test_db t;
	nu_store *again;
	nu_error err;

	(void)state;
	test_db_open(&t);
	assert_int_equal(nu_store_exec(t.s, "PRAGMA user_version = 99", &err), NU_OK);
	nu_store_close(t.s);
	assert_int_equal(nu_store_open(t.path, NULL, &again, &err), NU_EVERSION);
	assert_null(again);
	assert_non_null(strstr(err.msg, "schema version 99 is newer"));
	assert_non_null(strstr(err.msg, t.path));
	t.s = NULL;   /* already closed */
	test_db_close(&t);
}

static const nu_migration two_steps[] = {
	{ 1, "CREATE TABLE a (x INTEGER);" },
	{ 2, "ALTER TABLE a ADD COLUMN y TEXT; CREATE TABLE b (z INTEGER);" },
};

static const nu_migration broken_step[] = {
	{ 1, "CREATE TABLE a (x INTEGER);" },
	{ 2, "ALTER TABLE a ADD COLUMN y TEXT; CREATE TABLE a (again INTEGER);" },
};

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void older_database_migrated_in_one_step(void **state)
{
	sqlite3 *db;
	nu_error err;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(nu_store_migrate(db, two_steps, 1, &err), NU_OK);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 1);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO a (x) VALUES (7)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(nu_store_migrate(db, two_steps, 2, &err), NU_OK);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 2);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM a WHERE x = 7 AND y IS NULL"), 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 1);
	/* Running again is a no-op. */
	assert_int_equal(nu_store_migrate(db, two_steps, 2, &err), NU_OK);
	sqlite3_close(db);
}

static void failing_migration_leaves_old_version(void **state)
{
	sqlite3 *db;
	nu_error err;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(nu_store_migrate(db, broken_step, 1, &err), NU_OK);
	assert_int_equal(nu_store_migrate(db, broken_step, 2, &err), NU_EDB);
	assert_non_null(strstr(err.msg, "migration to schema version 2 failed"));
	assert_non_null(strstr(err.msg, "already exists"));
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 1);
	/* The first statement of step 2 was rolled back with the rest. */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('a') WHERE name = 'y'"), 0);
	sqlite3_close(db);
}

static void statement_cache_reuses(void **state)
{
	static const char sql[] = "SELECT count(*) FROM lead WHERE id > ?";
	struct test_db t;
	sqlite3_stmt *a, *b;

	(void)state;
	test_db_open(&t);
	a = nu_store_stmt(t.s, sql, NULL);
	assert_non_null(a);
	sqlite3_bind_int(a, 1, 5);
	assert_int_equal(sqlite3_step(a), SQLITE_ROW);
	b = nu_store_stmt(t.s, sql, NULL);
	assert_ptr_equal(a, b);
	/* Returned reset with bindings cleared: NULL > ? is never true. */
	assert_int_equal(sqlite3_bind_parameter_count(b), 1);
	assert_int_equal(sqlite3_step(b), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(b, 0), 0);
	sqlite3_reset(b);
	nu_error err;
	assert_null(nu_store_stmt(t.s, "SELECT nope FROM nowhere", &err));
	assert_non_null(strstr(err.msg, "no such"));
	test_db_close(&t);
}

static void savepoint_rolls_back_inner_work_only(void **state)
{
	struct test_db t;
	nu_error err;

	(void)state;
	test_db_open(&t);
	assert_int_equal(nu_store_begin(t.s, &err), NU_OK);
	assert_int_equal(nu_store_exec(t.s, "INSERT INTO tag_def VALUES ('a:x','attribute','fact',1,NULL,NULL)", &err), NU_OK);
	assert_int_equal(nu_store_savepoint(t.s, &err), NU_OK);
	assert_int_equal(nu_store_exec(t.s, "INSERT INTO tag_def VALUES ('a:y','attribute','fact',1,NULL,NULL)", &err), NU_OK);
	nu_store_rollback_to(t.s);
	assert_int_equal(nu_store_commit(t.s, &err), NU_OK);
	assert_int_equal(test_query_int(&t, "SELECT count(*) FROM tag_def", -1), 1);
	assert_int_equal(nu_store_begin(t.s, &err), NU_OK);
	assert_int_equal(nu_store_begin(t.s, &err), NU_ESTATE);
	nu_store_rollback(t.s);
	assert_int_equal(nu_store_in_tx(t.s), 0);
	test_db_close(&t);
}

static void backup_is_complete_and_atomic(void **state)
{
	struct test_db t;
	char out[200], partial[220];
	sqlite3 *copy;
	nu_error err;

	(void)state;
	test_db_open(&t);
	assert_int_equal(nu_store_begin(t.s, &err), NU_OK);
	for (int i = 0; i < 500; i++)
		assert_int_equal(nu_store_exec(t.s, "INSERT INTO lead (stage, stage_at, created_at, updated_at)"
					       " VALUES ('Lead', 1, 1, 1)", &err), NU_OK);
	assert_int_equal(nu_store_commit(t.s, &err), NU_OK);
	snprintf(out, sizeof out, "%s/copy.db", t.dir);
	snprintf(partial, sizeof partial, "%s.partial", out);
	assert_int_equal(nu_store_backup(t.s, out, NULL, NULL, &err), NU_OK);
	assert_int_equal(access(partial, F_OK), -1);
	assert_int_equal(sqlite3_open(out, &copy), SQLITE_OK);
	assert_int_equal(raw_int(copy, "SELECT count(*) FROM lead"), 500);
	assert_int_equal(raw_int(copy, "PRAGMA user_version"), nu_store_schema_version());
	sqlite3_close(copy);
	/* A backup into a folder that does not exist fails cleanly. */
	assert_int_equal(nu_store_backup(t.s, "/nonexistent/dir/x.db", NULL, NULL, &err), NU_EDB);
	assert_non_null(strstr(err.msg, "cannot create"));
	test_db_close(&t);
}

static void bad_synchronous_refused(void **state)
{
	nu_store_options opt = { .synchronous = "SOMETIMES" };
	nu_store *s;
	nu_error err;
	char dir[] = "/tmp/nurture-test-XXXXXX", path[80];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/x.db", dir);
	assert_int_equal(nu_store_open(path, &opt, &s, &err), NU_EINVAL);
	assert_non_null(strstr(err.msg, "SOMETIMES"));
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(open_sets_wal_and_schema),
		cmocka_unit_test(newer_database_refused),
		cmocka_unit_test(older_database_migrated_in_one_step),
		cmocka_unit_test(failing_migration_leaves_old_version),
		cmocka_unit_test(statement_cache_reuses),
		cmocka_unit_test(savepoint_rolls_back_inner_work_only),
		cmocka_unit_test(backup_is_complete_and_atomic),
		cmocka_unit_test(bad_synchronous_refused),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
