/* SPDX-License-Identifier: MIT */
/*
 * test_cascade.c - a suite that fails on purpose, for the harness: its
 * tests that fail with their runtime still bound to the thread (an
 * assertion in the test, one inside a task's poll with a receive in
 * flight, and a test that passes without ending its runtime) must each be
 * named by test_run_group's check and fail, and the tests after each must
 * pass, with no -EEXIST from an init. scripts/check-cascade.sh runs it and
 * reads its output; it is no suite of its own.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static void fails_with_runtime(void **state)
{
	struct urt_runtime rt;

	(void)state;
	test_runtime_init(&rt, NULL);
	fail_msg("on purpose, with the runtime bound");
}

static void passes_after_fail(void **state)
{
	struct urt_runtime rt;

	(void)state;
	test_runtime_init(&rt, NULL);
	test_runtime_end(&rt);
}

static int sv[2];

static bool fail_poll(struct urt_task *t, void *arg)
{
	static struct urt_op rx;
	static char buf[64];

	(void)arg;
	URT_BEGIN(t);
	(void)urt_recv(t, &rx, sv[0], buf, sizeof(buf), 0); /* in flight: no data comes */
	fail_msg("on purpose, inside a poll");
	URT_END(t);
}

static const struct urt_task_type fail_type = { .poll = fail_poll, .name = "fail" };

static void fails_inside_poll(void **state)
{
	struct urt_runtime rt;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	test_runtime_init(&rt, NULL);
	assert_int_equal(urt_spawn(&rt, &fail_type, NULL, 0, NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
}

/* urt_runtime_init itself, not the fixture: the check is not the fixture's */
static void passes_direct_init(void **state)
{
	struct urt_runtime rt;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ 0 }), 0);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
}

static void forgets_deinit(void **state)
{
	static struct urt_runtime rt;

	(void)state;
	test_runtime_init(&rt, NULL); /* passes, but leaves its runtime bound */
}

static void passes_after_forgotten(void **state)
{
	passes_after_fail(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fails_with_runtime), cmocka_unit_test(passes_after_fail),
		cmocka_unit_test(fails_inside_poll),  cmocka_unit_test(passes_direct_init),
		cmocka_unit_test(forgets_deinit),     cmocka_unit_test(passes_after_forgotten),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
