/* SPDX-License-Identifier: MIT */
/*
 * test_late.c - the trap "a result that arrives after an abort lives only
 * in op.res" (issue 17). A task aborted while an openat or an accept is in
 * flight: the kernel finishes it (or the cancel wins), drop runs after the
 * last completion, and urt_op_take_late hands drop the descriptor the
 * await never saw, so drop closes it. Each case checks that no descriptor
 * leaked (the lowest free descriptor number is the same after as before)
 * and what urt_op_take_late answers on an idle handle and a second call.
 * Also: urt_tick returns after a tick whose only progress was an aborted
 * task's drop (docs/io.md's abort loop used to park for ever there).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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

/* The lowest descriptor number free now: what the next open would get. */
static int lowest_free(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	close(fd);
	return fd;
}

struct opener {
	struct urt_op op;
	int lfd;   /* accept: the listener; openat: unused */
	int fd;	   /* URT_PENDING while the call is in flight */
	int late;  /* what drop took: the late result */
	int again; /* urt_op_take_late a second time */
};

static int drops;

/* The drop docs/io.md shows: the pending field says which call was in
 * flight, the handle holds its result. */
static void opener_drop(struct urt_task *t, void *arg)
{
	struct opener *st = arg;

	(void)t;
	drops++;
	if (st->fd == URT_PENDING) {
		st->late = urt_op_take_late(&st->op);
		if (st->late >= 0)
			close(st->late);
	} else if (st->fd >= 0) {
		close(st->fd);
	}
	st->again = urt_op_take_late(&st->op);
}

static bool openat_poll(struct urt_task *t, void *arg)
{
	struct opener *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t,
		  st->fd = urt_openat(t, &st->op, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC, 0));
	URT_END(t);
}

static bool accept_poll(struct urt_task *t, void *arg)
{
	struct opener *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->fd = urt_accept(t, &st->op, st->lfd, NULL, NULL));
	URT_END(t);
}

/* Drop sees the state through this pointer (a slab or box, read before
 * the task is reclaimed): the test copies what it needs out of drop. */
static struct opener seen;

static void record_drop(struct urt_task *t, void *arg)
{
	opener_drop(t, arg);
	seen = *(struct opener *)arg;
}

static const struct urt_task_type openat_rec_type = { .poll = openat_poll,
						      .drop = record_drop,
						      .name = "opener" };
static const struct urt_task_type accept_rec_type = { .poll = accept_poll,
						      .drop = record_drop,
						      .name = "acceptor" };

static void test_openat_late_result_closed_by_drop(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint64_t out;
	int before;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	before = lowest_free();
	drops = 0;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(urt_spawn(&rt, &openat_rec_type, &(struct opener){ .fd = -1 },
				   sizeof(struct opener), &j),
			 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* the openat is submitted */
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), -ECANCELED);
	assert_int_equal(drops, 1);
	/* the open of /dev/null cannot be cancelled once issued: it finished,
	 * and the await never saw the descriptor */
	assert_int_equal(seen.fd, URT_PENDING);
	assert_true(seen.late >= 0);
	assert_int_equal(seen.again, -ENODATA);
	assert_int_equal(lowest_free(), before); /* drop closed it */
	urt_runtime_deinit(&rt);
}

/*
 * race: abort right after the client connects (the accept and the cancel
 * race in the kernel). !race: tick until the accept has completed first;
 * the loop polls tasks before it reaps, so the task is woken but has not
 * seen the descriptor when the abort comes: a late result, always.
 */
static void accept_case(bool race)
{
	struct urt_runtime rt;
	struct urt_join j;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	uint16_t port;
	uint64_t out;
	int lfd, cfd, before, left;

	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	lfd = test_listen(&port);
	before = lowest_free();
	drops = 0;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(urt_spawn(&rt, &accept_rec_type, &(struct opener){ .lfd = lfd, .fd = -1 },
				   sizeof(struct opener), &j),
			 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* the accept is in flight, nobody connecting */
	uint64_t done0 = test_stats(&rt).ops_completed;

	/* a client arrives, then the abort: the accept and its cancel race
	 * in the kernel; either way nothing may leak */
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cfd >= 0);
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sl), 0);
	before = cfd + 1 > before ? cfd + 1 : before; /* cfd took the lowest */
	for (int i = 0; !race && test_stats(&rt).ops_completed == done0 && i < 500; i++)
		assert_true(urt_tick(&rt, 10000000) >= 0);
	assert_true(race || test_stats(&rt).ops_completed == done0 + 1);
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), -ECANCELED);
	assert_int_equal(drops, 1);
	assert_int_equal(seen.fd, URT_PENDING);
	assert_int_equal(seen.again, -ENODATA);
	assert_true(race || seen.late >= 0);
	if (seen.late >= 0) {
		/* the accept won: drop closed the connection */
		left = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		assert_int_equal(left, -1);
		print_message("accept won the race: drop closed fd %d\n", seen.late);
	} else {
		/* the cancel won: the connection is still in the backlog */
		assert_int_equal(seen.late, -ECANCELED);
		left = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		assert_true(left >= 0);
		close(left);
		print_message("the cancel won the race: the connection waited in the backlog\n");
	}
	assert_int_equal(lowest_free(), before);
	close(cfd);
	close(lfd);
	urt_runtime_deinit(&rt);
}

static void test_accept_late_result_closed_by_drop(void **state)
{
	(void)state;
	accept_case(false);
}

static void test_accept_racing_abort_leaks_nothing(void **state)
{
	(void)state;
	accept_case(true);
}

/* The handle's answers outside a drop: idle, then pending. */
static int probe_idle, probe_busy;

struct probe {
	struct urt_op op;
	int n;
	char b[4];
	int p[2];
};

static bool probe_poll(struct urt_task *t, void *arg)
{
	struct probe *st = arg;

	URT_BEGIN(t);
	probe_idle = urt_op_take_late(&st->op);
	st->n = urt_read(t, &st->op, st->p[0], st->b, sizeof(st->b), -1);
	probe_busy = urt_op_take_late(&st->op);
	if (write(st->p[1], "x", 1) != 1)
		URT_RETURN(t, 0);
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->p[0], st->b, sizeof(st->b), -1));
	URT_RETURN(t, (uint64_t)st->n);
	URT_END(t);
}

static const struct urt_task_type probe_type = { .poll = probe_poll, .name = "probe" };

static void test_take_late_idle_and_busy(void **state)
{
	struct urt_runtime rt;
	struct probe *st = test_malloc(sizeof(*st));
	struct urt_join j;
	uint64_t out;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	memset(st, 0, sizeof(*st));
	assert_int_equal(pipe2(st->p, O_CLOEXEC), 0);
	assert_int_equal(urt_spawn(&rt, &probe_type, st, sizeof(*st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 1);
	assert_int_equal(probe_idle, -ENODATA);
	assert_int_equal(probe_busy, -EBUSY);
	close(st->p[0]);
	close(st->p[1]);
	test_free(st);
	urt_runtime_deinit(&rt);
}

/*
 * urt_tick returns after a tick that only ended a task: an aborted task
 * whose drop ran without a poll is progress for a caller waiting on its
 * join, even while another operation stays in flight (the tick used to
 * park then, and the caller's loop of docs/io.md waited for ever).
 */
struct reading {
	struct urt_op op;
	int fd, n;
	char b[4];
};

static bool reading_poll(struct urt_task *t, void *arg)
{
	struct reading *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->b, sizeof(st->b), -1));
	URT_END(t);
}

static const struct urt_task_type reading_type = { .poll = reading_poll, .name = "reading" };

static bool idle_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	URT_BEGIN(t);
	URT_AWAIT(t, URT_PENDING); /* parked: nothing will wake it but an abort */
	URT_END(t);
}

static const struct urt_task_type idle_type = { .poll = idle_poll, .name = "idle" };

static void test_tick_returns_after_an_abort_ends_a_task(void **state)
{
	struct urt_runtime rt;
	struct urt_join reader, idle;
	uint64_t parks;
	int p[2];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(urt_spawn(&rt, &reading_type, &(struct reading){ .fd = p[0] },
				   sizeof(struct reading), &reader),
			 0);
	assert_int_equal(urt_spawn(&rt, &idle_type, NULL, 0, &idle), 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* the read is in flight, idle parked */
	assert_int_equal(urt_join_abort(&idle), 0);
	parks = test_stats(&rt).parks;
	assert_int_equal(urt_tick(&rt, 1000000000), 0); /* no poll, but idle ended */
	assert_int_equal(test_stats(&rt).parks, parks); /* and it did not wait */
	assert_true(urt_join_is_finished(&idle));
	assert_int_equal(urt_join_take(&idle, NULL), -ECANCELED);
	assert_int_equal(urt_join_abort(&reader), 0);
	while (!urt_join_is_finished(&reader))
		assert_true(urt_tick(&rt, URT_TICK_FOREVER) >= 0);
	urt_join_detach(&reader);
	close(p[0]);
	close(p[1]);
	urt_runtime_deinit(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openat_late_result_closed_by_drop),
		cmocka_unit_test(test_accept_late_result_closed_by_drop),
		cmocka_unit_test(test_accept_racing_abort_leaks_nothing),
		cmocka_unit_test(test_take_late_idle_and_busy),
		cmocka_unit_test(test_tick_returns_after_an_abort_ends_a_task),
	};

	return cmocka_run_group_tests_name("late", tests, NULL, NULL);
}
