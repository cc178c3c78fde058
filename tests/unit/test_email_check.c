/*
 * test_email_check.c — the email plugin's template catalog and message
 * check (plugins/email/catalog.c): what a deploy or a send intent is
 * refused for (a missing variable, an unknown lead field, a missing or
 * broken template, a table where text goes), what passes (defaults, lead
 * fields, deploy-time placeholders), and that templates are read once
 * and again only when their files change.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* mkdtemp */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "testfiles.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <nurture/plugin.h>

#include "catalog.h"

struct fixture {
	char dir[64];
	email_catalog *c;
};

static int setup(void **state)
{
	struct fixture *x = calloc(1, sizeof *x);

	strcpy(x->dir, "/tmp/nurture-email-check-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	test_write_file(x->dir, "case_study.tmpl",
		   "Subject: How {{lead.company|teams}} use {{topic}}\n"
		   "\n"
		   "<p>Dear {{lead.name|there}},</p>\n"
		   "<p>{{topic}} at {{lead.company}}: {{offer.title|our offer}}</p>\n");
	test_write_file(x->dir, "typo.tmpl",
		   "Subject: Hi\n\n<p>{{lead.compnay}}</p>\n<p>{{lead.shoe_size|}}</p>\n<p>{{first}}</p>\n");
	test_write_file(x->dir, "broken.tmpl", "Subject: Hi\n\n<p>{{name</p>\n");
	test_write_file(x->dir, "whole_lead.tmpl", "Subject: Hi\n\n<p>{{lead}}</p>\n");
	x->c = email_catalog_new(x->dir);
	assert_non_null(x->c);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;
	char cmd[128];

	email_catalog_free(x->c);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
	assert_int_equal(system(cmd), 0);
	free(x);
	return 0;
}

static void passes(struct fixture *x, const char *json)
{
	char err[600] = "";

	if (email_catalog_check(x->c, json, err, sizeof err) != 0)
		fail_msg("%s: %s", json, err);
}

/* The reason, with "<dir>/" written as "D/". */
static void fails(struct fixture *x, const char *json, const char *want)
{
	char err[600] = "", got[600] = "", *at, *from = err;
	size_t n = strlen(x->dir);

	assert_int_equal(email_catalog_check(x->c, json, err, sizeof err), -1);
	while ((at = strstr(from, x->dir))) {
		strncat(got, from, (size_t)(at - from));
		strcat(got, "D");
		from = at + n;
	}
	strcat(got, from);
	assert_string_equal(got, want);
}

static void missing_variable_names_file_and_line(void **state)
{
	struct fixture *x = *state;

	fails(x, "{\"template\":\"case_study\"}",
	      "template 'case_study' (D/case_study.tmpl:1): missing variable 'topic'");
	fails(x, "{\"template\":\"case_study\",\"topic\":\"\"}",
	      "template 'case_study' (D/case_study.tmpl:1): missing variable 'topic'");
	fails(x, "{\"template\":\"case_study\",\"topic\":null}",
	      "template 'case_study' (D/case_study.tmpl:1): missing variable 'topic'");
}

static void defaults_lead_fields_and_placeholders_pass(void **state)
{
	struct fixture *x = *state;

	/* lead.company is used once without a default: the plugin fills it,
	 * so the message need not (a lead without one fails at send time). */
	passes(x, "{\"template\":\"case_study\",\"topic\":\"CDP\"}");
	passes(x, "{\"template\":\"case_study\",\"topic\":\"" NU_CHECK_PLACEHOLDER "\"}");
	passes(x, "{\"template\":\"case_study\",\"topic\":3}");
	passes(x, "{\"template\":\"case_study\",\"topic\":\"x\",\"offer\":{\"title\":\"Q3\"}}");
	/* the message's own "lead" is replaced by the plugin's, as at send time */
	passes(x, "{\"template\":\"case_study\",\"topic\":\"x\",\"lead\":\"ignored\"}");
}

static void unknown_lead_fields_are_errors(void **state)
{
	struct fixture *x = *state;

	/* Sorted by line; the default of lead.shoe_size does not excuse it. */
	fails(x, "{\"template\":\"typo\",\"first\":\"Li\"}",
	      "template 'typo' (D/typo.tmpl:3): unknown lead field 'lead.compnay' (the email plugin fills"
	      " name, company, title, email, industry, region, phone); (D/typo.tmpl:4): unknown lead field"
	      " 'lead.shoe_size' (the email plugin fills name, company, title, email, industry, region,"
	      " phone)");
	/* A top-level key spelled like the variable is what rendering uses. */
	passes(x, "{\"template\":\"typo\",\"first\":\"Li\",\"lead.compnay\":\"A\",\"lead.shoe_size\":\"\"}");
	fails(x, "{\"template\":\"whole_lead\"}",
	      "template 'whole_lead' (D/whole_lead.tmpl:3): 'lead' is the lead's record, not text:"
	      " use lead.<field>");
}

static void tables_are_not_text(void **state)
{
	struct fixture *x = *state;

	fails(x, "{\"template\":\"case_study\",\"topic\":{\"a\":1}}",
	      "template 'case_study' (D/case_study.tmpl:1): variable 'topic' is a table or a list, not text");
	fails(x, "{\"template\":\"case_study\",\"topic\":\"x\",\"offer\":{\"title\":[1]}}",
	      "template 'case_study' (D/case_study.tmpl:4): variable 'offer.title' is a table or a list,"
	      " not text");
}

static void missing_and_broken_templates(void **state)
{
	struct fixture *x = *state;

	fails(x, "{\"template\":\"nope\"}", "template 'nope': D/nope.tmpl: no such template file");
	fails(x, "{\"template\":\"broken\"}", "template 'broken': D/broken.tmpl:3: unclosed '{{'");
	fails(x, "{\"template\":\"../etc/passwd\"}", "template '../etc/passwd': bad template name '../etc/passwd'");
	fails(x, "{\"topic\":\"x\"}",
	      "the message names no template (send(\"email\", { template = … }))");
	fails(x, "{\"template\":7}", "the message names no template (send(\"email\", { template = … }))");
	fails(x, "[1]", "the message is not a JSON object");
	fails(x, "not json", "the message is not a JSON object");
}

/* Moves a file's modification time, as an edit a second later would. */
static void touch_later(const char *dir, const char *name, int seconds)
{
	char path[256];
	struct stat st;
	struct timespec times[2];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	assert_int_equal(stat(path, &st), 0);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	times[1].tv_sec += seconds;
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static void templates_are_read_once_until_they_change(void **state)
{
	struct fixture *x = *state;
	const email_template *t;
	char err[400];
	unsigned reads = email_catalog_reads(x->c);

	for (int i = 0; i < 5; i++) {
		passes(x, "{\"template\":\"case_study\",\"topic\":\"CDP\"}");
		assert_int_equal(email_catalog_get(x->c, "case_study", &t, err, sizeof err), 0);
	}
	assert_int_equal(email_catalog_reads(x->c), reads + 1);

	/* New content and a later time: read again, and the check follows. */
	test_write_file(x->dir, "case_study.tmpl", "Subject: {{topic}} for {{lead.name|you}}\n\n<p>{{hook}}</p>\n");
	touch_later(x->dir, "case_study.tmpl", 5);
	fails(x, "{\"template\":\"case_study\",\"topic\":\"CDP\"}",
	      "template 'case_study' (D/case_study.tmpl:3): missing variable 'hook'");
	assert_int_equal(email_catalog_reads(x->c), reads + 2);

	/* A .txt appearing beside it counts as a change too. */
	test_write_file(x->dir, "case_study.txt", "{{topic}} {{plain}}\n");
	fails(x, "{\"template\":\"case_study\",\"topic\":\"CDP\",\"hook\":\"h\"}",
	      "template 'case_study' (D/case_study.txt:1): missing variable 'plain'");
	assert_int_equal(email_catalog_reads(x->c), reads + 3);

	/* A missing or broken template is remembered as well: no read per send. */
	for (int i = 0; i < 3; i++) {
		fails(x, "{\"template\":\"later\"}", "template 'later': D/later.tmpl: no such template file");
		fails(x, "{\"template\":\"broken\"}", "template 'broken': D/broken.tmpl:3: unclosed '{{'");
	}
	assert_int_equal(email_catalog_reads(x->c), reads + 5);
	test_write_file(x->dir, "later.tmpl", "Subject: Hi\n\n<p>now here</p>\n");
	passes(x, "{\"template\":\"later\"}");
	assert_int_equal(email_catalog_reads(x->c), reads + 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(missing_variable_names_file_and_line, setup, teardown),
		cmocka_unit_test_setup_teardown(defaults_lead_fields_and_placeholders_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_lead_fields_are_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(tables_are_not_text, setup, teardown),
		cmocka_unit_test_setup_teardown(missing_and_broken_templates, setup, teardown),
		cmocka_unit_test_setup_teardown(templates_are_read_once_until_they_change, setup, teardown),
	};
	return cmocka_run_group_tests_name("email_check", tests, NULL, NULL);
}
