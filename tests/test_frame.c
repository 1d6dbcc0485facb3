/* SPDX-License-Identifier: MIT */
/*
 * test_frame.c - frame memory held across an await is reported with the
 * task type and offset; io_uring refused by seccomp gives a clear error at
 * init.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"
#include "support/task_types.h"

/* --- frame checks ---------------------------------------------------------------------- */

static char hook_msg[256];
static int hook_calls;

static void hook(void *ctx, const char *msg)
{
	(void)ctx;
	hook_calls++;
	snprintf(hook_msg, sizeof(hook_msg), "%s", msg);
}

struct frame_state {
	uint64_t pad;
	char *scratch; /* offset 8 */
	int phase;
};

static bool frame_bad_poll(struct urt_task *t, void *arg)
{
	struct frame_state *st = arg;

	URT_BEGIN(t);
	st->scratch = urt_frame_alloc(64, 16); /* fine within the tick ... */
	URT_YIELD(t);			       /* ... but held across the await */
	st->scratch = NULL;
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type frame_bad_type = { .poll = frame_bad_poll, .name = "frame-bad" };

static bool frame_good_poll(struct urt_task *t, void *arg)
{
	struct frame_state *st = arg;
	char *tmp;

	URT_BEGIN(t);
	tmp = urt_frame_alloc(64, 16); /* a local: dies with the poll */
	memset(tmp, 0, 64);
	URT_YIELD(t);
	(void)st;
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type frame_good_type = { .poll = frame_good_poll,
						      .name = "frame-good" };

static void test_frame_check_reports_pointer_held_across_await(void **state)
{
	struct urt_runtime rt;

	(void)state;
#ifndef URT_DEBUG
	skip(); /* the check is a debug-build feature */
#endif
	hook_calls = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .debug_hook = hook });
	assert_int_equal(urt_spawn(&rt, &frame_good_type, &(struct frame_state){ 0 },
				   sizeof(struct frame_state), NULL),
			 0);
	run_all(&rt);
	assert_int_equal(hook_calls, 0);
	assert_int_equal(urt_spawn(&rt, &frame_bad_type, &(struct frame_state){ 0 },
				   sizeof(struct frame_state), NULL),
			 0);
	run_all(&rt);
	assert_int_equal(hook_calls, 1);
	assert_string_equal(hook_msg, "urt: frame pointer held across await: task 'frame-bad' "
				      "state offset 8");
	/* and at spawn: a state that captures frame memory */
	struct frame_state fs = { .scratch = urt_frame_alloc(8, 8) };
	assert_non_null(fs.scratch);
	assert_int_equal(urt_spawn(&rt, &frame_good_type, &fs, sizeof(fs), NULL), 0);
	assert_int_equal(hook_calls, 2);
	assert_string_equal(hook_msg, "urt: frame data captured by a spawned task: task "
				      "'frame-good' state offset 8");
	assert_int_equal(test_stats(&rt).frame_reports, 2);
	run_all(&rt);
	test_runtime_end(&rt);
}

/* --- io_uring unavailable ---------------------------------------------------------------- */

static void test_io_uring_blocked_gives_clear_error(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* seccomp: io_uring_setup fails with EPERM, as under a container
		 * profile or kernel.io_uring_disabled=2 */
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
		struct urt_runtime rt;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(10);
		int ret =
			urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									  .slab_slots = 4 });
		/* clean failure: no runtime, no slab left installed */
		_exit(ret == -EPERM && !urt_runtime_current() &&
				      urt_slab_current().table == &urt_slab_table_none
			      ? 0
			      : 11);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_check_reports_pointer_held_across_await),
		cmocka_unit_test(test_io_uring_blocked_gives_clear_error),
	};

	return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
