/* SPDX-License-Identifier: MIT */
/*
 * test_await_args.c - the trap "await arguments are re-evaluated on every
 * wake" (issue 17). A task that stores an await's result where one of its
 * arguments is read from passes URT_PENDING as that argument on the next
 * evaluation. Debug builds report it through the debug hook, naming the
 * task's type and the call; release builds report nothing (the outcome is
 * checked in both: it is the trap docs/tasks.md shows). An await whose
 * arguments do not change is never reported, however often it is
 * re-evaluated. urt_recvfrom, which builds its msghdr in its handle, is
 * checked the same way on its fd, buffer and length.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static char report[512];
static int reports;

static void hook(void *ctx, const char *msg)
{
	(void)ctx;
	reports++;
	snprintf(report, sizeof(report), "%s", msg);
}

static bool debug_build(struct urt_runtime *rt)
{
	return test_stats(rt).features & URT_FEAT_DEBUG_CHECKS;
}

static void init(struct urt_runtime *rt)
{
	reports = 0;
	report[0] = 0;
	test_runtime_init(rt, &(struct urt_runtime_opts){ .debug_hook = hook });
}

/* --- the case: the length comes from where the result goes ------- */

static char payload[1000];

struct writer {
	struct urt_io_all w;
	int fd;
	int r; /* the length to write, then (the trap) the result */
};

static bool writer_poll(struct urt_task *t, void *arg)
{
	struct writer *st = arg;

	URT_BEGIN(t);
	/* wrong: w->r is URT_PENDING on the second evaluation */
	URT_AWAIT(t, st->r = urt_write_all(t, &st->w, st->fd, payload, (size_t)st->r, -1));
	URT_RETURN(t, (uint64_t)(int64_t)st->r);
	URT_END(t);
}

static const struct urt_task_type writer_type = { .poll = writer_poll, .name = "writer" };

static void test_write_all_length_overwritten(void **state)
{
	struct urt_runtime rt;
	struct writer w = { .r = sizeof(payload) };
	struct urt_join j;
	uint64_t out;
	int p[2];
	char got[sizeof(payload) + 1];

	(void)state;
	init(&rt);
	memset(payload, 'x', sizeof(payload));
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	w.fd = p[1];
	assert_int_equal(urt_spawn(&rt, &writer_type, &w, sizeof(w), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	/* every byte was written, and the call still answered -EINVAL */
	assert_int_equal((int)(int64_t)out, -EINVAL);
	assert_int_equal(read(p[0], got, sizeof(got)), (ssize_t)sizeof(payload));
	if (debug_build(&rt)) {
		assert_int_equal(reports, 1);
		assert_non_null(strstr(report, "task 'writer'"));
		assert_non_null(strstr(report, "urt_write_all"));
		assert_non_null(strstr(report, "re-evaluated"));
	} else {
		assert_int_equal(reports, 0);
	}
	close(p[0]);
	close(p[1]);
	urt_runtime_deinit(&rt);
}

/* --- a single operation: its buffer moves under it ----------------------- */

struct reader {
	struct urt_op op;
	int fd;
	int n;
	char *p; /* wrong: advanced while the read is pending */
	char buf[64];
};

static bool reader_poll(struct urt_task *t, void *arg)
{
	struct reader *st = arg;

	URT_BEGIN(t);
	st->p = st->buf;
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->p++, 8, -1));
	URT_END(t);
}

static const struct urt_task_type reader_type = { .poll = reader_poll, .name = "reader" };

static void test_read_buffer_moved(void **state)
{
	struct urt_runtime rt;
	struct reader r = { 0 };
	int p[2];

	(void)state;
	init(&rt);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	r.fd = p[0];
	urt_op_init(&r.op);
	assert_int_equal(urt_spawn(&rt, &reader_type, &r, sizeof(r), NULL), 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* submitted: pending on an empty pipe */
	assert_int_equal(write(p[1], "12345678", 8), 8);
	assert_int_equal(urt_run(&rt), 0);
	if (debug_build(&rt)) {
		assert_int_equal(reports, 1);
		assert_non_null(strstr(report, "task 'reader'"));
		assert_non_null(strstr(report, "urt_read"));
	} else {
		assert_int_equal(reports, 0);
	}
	close(p[0]);
	close(p[1]);
	urt_runtime_deinit(&rt);
}

/* --- a datagram receive: its length comes from where the result goes ------- */

struct dgram_reader {
	struct urt_msg_op h;
	int fd;
	int r; /* the length to receive, then (the trap) the result */
	char buf[64];
};

static bool dgram_reader_poll(struct urt_task *t, void *arg)
{
	struct dgram_reader *st = arg;

	URT_BEGIN(t);
	/* wrong: st->r is URT_PENDING when the completion wakes the task */
	URT_AWAIT(t,
		  st->r = urt_recvfrom(t, &st->h, st->fd, st->buf, (size_t)st->r, 0, NULL, NULL));
	URT_RETURN(t, (uint64_t)(int64_t)st->r);
	URT_END(t);
}

static const struct urt_task_type dgram_reader_type = { .poll = dgram_reader_poll,
							.name = "dgram-reader" };

static void test_recvfrom_length_overwritten(void **state)
{
	struct urt_runtime rt;
	struct dgram_reader r = { .r = 32 };
	struct urt_join j;
	uint64_t out;
	int sp[2];

	(void)state;
	init(&rt);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), 0);
	r.fd = sp[0];
	assert_int_equal(urt_spawn(&rt, &dgram_reader_type, &r, sizeof(r), &j), 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* submitted: pending, nothing sent yet */
	assert_int_equal(send(sp[1], "12345678", 8, 0), 8);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal((int)(int64_t)out, 8); /* the datagram arrived all the same */
	if (debug_build(&rt)) {
		assert_int_equal(reports, 1);
		assert_non_null(strstr(report, "task 'dgram-reader'"));
		assert_non_null(strstr(report, "urt_recvfrom"));
	} else {
		assert_int_equal(reports, 0);
	}
	close(sp[0]);
	close(sp[1]);
	urt_runtime_deinit(&rt);
}

/* --- the right way: arguments that hold still are never reported ---------- */

struct steady {
	struct urt_op op, nap;
	struct urt_io_all w;
	int rfd, wfd;
	int n, slept, wrote, rounds;
	char buf[16];
};

static bool steady_poll(struct urt_task *t, void *arg)
{
	struct steady *st = arg;

	URT_BEGIN(t);
	/* the read stays pending while the sleep wakes the task: each wake
	 * evaluates the read again, with the same arguments */
	for (st->rounds = 0; st->rounds < 3; st->rounds++) {
		URT_AWAIT_ANY(t, st->n = urt_read(t, &st->op, st->rfd, st->buf, 4, -1),
			      st->slept = urt_sleep(t, &st->nap, 1000000));
		if (st->n != URT_PENDING)
			break;
	}
	URT_AWAIT(t, st->wrote = urt_write_all(t, &st->w, st->wfd, "ping", 4, -1));
	if (st->n == URT_PENDING)
		URT_AWAIT(t, st->n = urt_read(t, &st->op, st->rfd, st->buf, 4, -1));
	URT_RETURN(t, (uint64_t)st->n);
	URT_END(t);
}

static const struct urt_task_type steady_type = { .poll = steady_poll, .name = "steady" };

static void test_steady_arguments_not_reported(void **state)
{
	struct urt_runtime rt;
	struct steady s = { 0 };
	struct urt_join j;
	uint64_t out;
	int p[2];

	(void)state;
	init(&rt);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	s.rfd = p[0];
	s.wfd = p[1];
	assert_int_equal(urt_spawn(&rt, &steady_type, &s, sizeof(s), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 4);
	assert_int_equal(reports, 0);
	close(p[0]);
	close(p[1]);
	urt_runtime_deinit(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_all_length_overwritten),
		cmocka_unit_test(test_read_buffer_moved),
		cmocka_unit_test(test_recvfrom_length_overwritten),
		cmocka_unit_test(test_steady_arguments_not_reported),
	};

	return cmocka_run_group_tests_name("await_args", tests, NULL, NULL);
}
