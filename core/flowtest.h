/*
 * flowtest.h — `nurture flow test`: runs flows on a virtual clock against a
 * temporary database, driven by a Lua test script, and reports TAP.
 *
 * A test file returns { flows = { "x.lua", … }, start = "2026-03-02T09:00:00+08:00",
 * tests = { ["name"] = function(t) … end, … } }. Each test gets a fresh
 * database with the flows deployed; t moves time and checks outcomes
 * (docs/flows.md lists every call). A 13-week flow runs in milliseconds
 * because nothing waits: the clock jumps from one due timer to the next.
 */
#ifndef NU_FLOWTEST_H
#define NU_FLOWTEST_H

#include <stdio.h>
#include "error.h"

typedef struct nu_flowtest_result {
	int passed, failed;
} nu_flowtest_result;

/* Runs every test of `path`, printing TAP lines to `out` (numbering
 * continues from res->passed + res->failed). NU_OK unless the file itself
 * could not be run. */
int nu_flowtest_run(const char *path, FILE *out, nu_flowtest_result *res, nu_error *err);

#endif
