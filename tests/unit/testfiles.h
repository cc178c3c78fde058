/*
 * testfiles.h — writing fixture files for the unit tests (include after
 * <cmocka.h>); shared by the tests that do not open a database.
 */
#ifndef NU_TESTFILES_H
#define NU_TESTFILES_H

#include <stdio.h>
#include <string.h>

/* Writes text to dir/name exactly (no newline conversion). */
static inline void test_write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

#endif
