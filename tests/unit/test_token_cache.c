/*
 * test_token_cache.c — single-flight access tokens: one fetch for many
 * askers, refresh before expiry, invalidation only of the stale token,
 * errors, answers only from the loop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <event2/event.h>
#include "token_cache.h"

struct world {
	struct event_base *base;
	nu_tokens *t;
	int64_t now;
	int fetches;
	int answers;
	char last[64];
	char last_error[64];
};

static int64_t clock_of(void *ud)
{
	return ((struct world *)ud)->now;
}

static void fetch(void *ud, const char *name)
{
	struct world *w = ud;
	(void)name;
	w->fetches++;
}

static void ready(void *ud, const char *token, const char *error)
{
	struct world *w = ud;
	w->answers++;
	snprintf(w->last, sizeof w->last, "%s", token ? token : "");
	snprintf(w->last_error, sizeof w->last_error, "%s", error ? error : "");
}

static void run_loop(struct world *w)
{
	event_base_loop(w->base, EVLOOP_NONBLOCK);
}

static void open_world(struct world *w)
{
	nu_error err;

	memset(w, 0, sizeof *w);
	w->base = event_base_new();
	w->now = 1000000;
	assert_int_equal(nu_tokens_open(w->base, clock_of, w, &w->t, &err), NU_OK);
}

static void close_world(struct world *w)
{
	nu_tokens_close(w->t);
	event_base_free(w->base);
}

static void single_flight(void **state)
{
	struct world w;

	(void)state;
	open_world(&w);
	for (int i = 0; i < 5; i++)
		assert_int_equal(nu_token_get(w.t, "wechat", fetch, &w, ready, &w), 0);
	assert_int_equal(w.fetches, 1);       /* one fetch for five askers */
	assert_int_equal(w.answers, 0);
	nu_token_set(w.t, "wechat", "T1", 7200000, NULL);
	assert_int_equal(w.answers, 0);       /* never inside set: from the loop */
	run_loop(&w);
	assert_int_equal(w.answers, 5);
	assert_string_equal(w.last, "T1");
	/* cached: no fetch, answer from the loop */
	assert_int_equal(nu_token_get(w.t, "wechat", fetch, &w, ready, &w), 0);
	assert_int_equal(w.answers, 5);
	run_loop(&w);
	assert_int_equal(w.answers, 6);
	assert_int_equal(w.fetches, 1);
	/* another name is another token */
	nu_token_get(w.t, "wecom", fetch, &w, ready, &w);
	assert_int_equal(w.fetches, 2);
	close_world(&w);
}

static void refresh_before_expiry(void **state)
{
	struct world w;

	(void)state;
	open_world(&w);
	nu_token_get(w.t, "t", fetch, &w, ready, &w);
	nu_token_set(w.t, "t", "A", 7200000, NULL);     /* 2 h: margin 5 min */
	run_loop(&w);
	w.now += 7200000 - 300000 - 1;                   /* just before the margin */
	nu_token_get(w.t, "t", fetch, &w, ready, &w);
	assert_int_equal(w.fetches, 1);
	run_loop(&w);
	w.now += 1;                                      /* inside the margin: refresh */
	nu_token_get(w.t, "t", fetch, &w, ready, &w);
	assert_int_equal(w.fetches, 2);
	nu_token_set(w.t, "t", "B", 7200000, NULL);
	run_loop(&w);
	assert_string_equal(w.last, "B");
	close_world(&w);
}

static void invalidate_only_the_stale_token(void **state)
{
	struct world w;

	(void)state;
	open_world(&w);
	nu_token_get(w.t, "t", fetch, &w, ready, &w);
	nu_token_set(w.t, "t", "A", 7200000, NULL);
	run_loop(&w);
	/* three sends are told "A expired": one refetch */
	nu_token_invalidate(w.t, "t", "A");
	nu_token_get(w.t, "t", fetch, &w, ready, &w);
	nu_token_get(w.t, "t", fetch, &w, ready, &w);
	assert_int_equal(w.fetches, 2);
	nu_token_set(w.t, "t", "B", 7200000, NULL);
	run_loop(&w);
	nu_token_invalidate(w.t, "t", "A");              /* late news about A: B stays */
	nu_token_get(w.t, "t", fetch, &w, ready, &w);
	run_loop(&w);
	assert_int_equal(w.fetches, 2);
	assert_string_equal(w.last, "B");
	/* an answer nobody asked for is ignored */
	nu_token_set(w.t, "t", "X", 1000, NULL);
	nu_token_get(w.t, "t", fetch, &w, ready, &w);
	run_loop(&w);
	assert_string_equal(w.last, "B");
	close_world(&w);
}

static void errors_reach_every_asker_and_are_not_cached(void **state)
{
	struct world w;

	(void)state;
	open_world(&w);
	nu_token_get(w.t, "t", fetch, &w, ready, &w);
	nu_token_get(w.t, "t", fetch, &w, ready, &w);
	nu_token_set(w.t, "t", NULL, 0, "40001 invalid credential");
	run_loop(&w);
	assert_int_equal(w.answers, 2);
	assert_string_equal(w.last, "");
	assert_string_equal(w.last_error, "40001 invalid credential");
	nu_token_get(w.t, "t", fetch, &w, ready, &w);     /* next ask tries again */
	assert_int_equal(w.fetches, 2);
	/* closing answers whoever still waits */
	nu_tokens_close(w.t);
	w.t = NULL;
	assert_int_equal(w.answers, 3);
	assert_string_equal(w.last_error, "closing");
	event_base_free(w.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(single_flight),
		cmocka_unit_test(refresh_before_expiry),
		cmocka_unit_test(invalidate_only_the_stale_token),
		cmocka_unit_test(errors_reach_every_asker_and_are_not_cached),
	};
	return cmocka_run_group_tests_name("token_cache", tests, NULL, NULL);
}
