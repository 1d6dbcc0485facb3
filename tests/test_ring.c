/* SPDX-License-Identifier: MIT */
/*
 * test_ring.c - the ring under pressure: a full SQ while a task's ops are
 * cancelled, while a stream pauses inside the reap and at park time; tiny
 * rings with deadlines; thousands of completions through a 16-entry CQ; the
 * op-record limit; ring sizes at the kernel's bounds. No operation may be
 * dropped, no completion applied twice, no wake lost.
 *
 * A hang here would be a lost wake-up: each test arms alarm() so it fails
 * with a message instead of waiting for the CTest timeout.
 */
#include <errno.h>
#include <liburing.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static void on_alarm(int sig)
{
	static const char msg[] = "test_ring: hung (a lost wake-up?)\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static int setup(void **state)
{
	(void)state;
	signal(SIGALRM, on_alarm);
	alarm(60);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	return 0;
}

/* --- a full SQ while a task's op list is cancelled ----------------------------- */

/*
 * The task fills the SQ (255 NOPs and a receive: 256 SQEs, none submitted)
 * and returns. Ending it cancels its ops, and the receive's cancel needs an
 * SQE: making room must not dispatch the NOPs' completions under the walk
 * of the op list (they would free records the walk still holds).
 */
#define FILL 255

struct fill_state {
	int fd;
	struct urt_op nop[FILL], rx;
	char buf[64];
};

static unsigned fill_drops, fill_busy;

static bool fill_poll(struct urt_task *t, void *arg)
{
	struct fill_state *st = arg;

	URT_BEGIN(t);
	for (int i = 0; i < FILL; i++)
		(void)urt_nop(t, &st->nop[i]);
	(void)urt_recv(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0);
	URT_RETURN(t, 7); /* with all of it in flight */
	URT_END(t);
}

static void fill_drop(struct urt_task *t, void *arg)
{
	struct fill_state *st = arg;

	(void)t;
	fill_drops++;
	fill_busy += urt_op_busy(&st->rx);
	for (int i = 0; i < FILL; i++)
		fill_busy += urt_op_busy(&st->nop[i]);
}

static const struct urt_task_type fill_type = { .poll = fill_poll,
						.drop = fill_drop,
						.name = "fill" };

static void test_cancel_with_sq_full(void **state)
{
	struct urt_runtime rt;
	static struct fill_state st;
	struct urt_join j;
	uint64_t out;
	int sv[2];

	(void)state;
	fill_drops = fill_busy = 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	st.fd = sv[0];
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 256 });
	assert_int_equal(urt_spawn(&rt, &fill_type, &st, sizeof(st), &j), 0);
	for (int i = 0; i < 100 && !urt_join_is_finished(&j); i++)
		assert_true(urt_tick(&rt, 10000000) >= 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 7);
	assert_int_equal(fill_drops, 1);
	assert_int_equal(fill_busy, 0); /* drop ran after the kernel let go */
	test_assert_clean(&rt);
	assert_true(test_stats(&rt).sq_full > 0);
	/* a late write has no receive to land in */
	assert_int_equal(write(sv[1], "late", 4), 4);
	assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(test_stats(&rt).stale_cqes, 0);
	test_runtime_end(&rt);
	close(sv[0]);
	close(sv[1]);
}

/* --- streams pausing inside the reap with a 2-entry SQ ------------------------------- */

/*
 * One-byte buffers make a CQE per byte; a queue bound of one chunk record
 * pauses a stream (a cancel SQE) at its fifth unread byte; three streams
 * pause in one reap and the third finds the SQ full. Every byte must arrive
 * once, in order.
 */
#define NS 3
#define NB 5

struct pause_state {
	int fd[NS], i, n, got[NS];
	struct urt_op rx[NS], nap;
	struct urt_buf b;
	char seen[NS][NB];
};

static bool pause_poll(struct urt_task *t, void *arg)
{
	struct pause_state *st = *(struct pause_state **)arg;

	URT_BEGIN(t);
	for (st->i = 0; st->i < NS; st->i++)
		if (urt_recv_stream(t, &st->rx[st->i], st->fd[st->i], &st->b) != URT_PENDING)
			URT_RETURN(t, 1);
	URT_AWAIT(t, urt_sleep(t, &st->nap, 100000000)); /* let the queues fill */
	for (st->i = 0; st->i < NS; st->i++) {
		while (st->got[st->i] < NB) {
			URT_AWAIT(t, st->n = urt_recv_stream(t, &st->rx[st->i], st->fd[st->i], &st->b));
			if (st->n <= 0 || st->got[st->i] + st->n > NB)
				URT_RETURN(t, 2);
			memcpy(st->seen[st->i] + st->got[st->i], st->b.data, (size_t)st->n);
			st->got[st->i] += st->n;
			urt_buf_free(&st->b);
		}
	}
	for (st->i = 0; st->i < NS; st->i++) {
		urt_op_cancel(&st->rx[st->i]);
		while (urt_op_busy(&st->rx[st->i])) {
			URT_AWAIT(t, st->n = urt_recv_stream(t, &st->rx[st->i], st->fd[st->i], &st->b));
			if (st->n > 0)
				URT_RETURN(t, 3); /* nothing more was sent */
		}
	}
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type pause_type = { .poll = pause_poll, .name = "pause" };

/*
 * Newer kernels end each receive arm after stream_queue buffers' worth of
 * bytes, and the pause is then never needed. Test builds make the runtime
 * believe the kernel refused that limit (the first receive fails with
 * -EINVAL at submit, through the fault seam), so the pause path runs;
 * release builds check the kernel's bound instead.
 */
static void test_pause_inside_reap_with_sq_full(void **state)
{
	struct urt_runtime rt;
	struct pause_state st = { 0 };
	struct urt_join j;
	int sv[NS][2];
	uint64_t out;
	bool pauses;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 2,
									   .buf_count = 64,
									   .buf_size = 1,
									   .stream_queue = 1 });
	pauses = test_without_recv_limit(&rt);
	for (int i = 0; i < NS; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]), 0);
		st.fd[i] = sv[i][0];
	}
	assert_int_equal(urt_spawn(&rt, &pause_type, &(struct pause_state *){ &st },
				   sizeof(struct pause_state *), &j),
			 0);
	assert_true(urt_tick(&rt, 0) >= 0);
	assert_true(urt_tick(&rt, 0) >= 0);
	for (int i = 0; i < NS; i++) {
		char msg[NB];

		for (int k = 0; k < NB; k++)
			msg[k] = (char)('a' + 8 * i + k);
		assert_int_equal(write(sv[i][1], msg, NB), NB);
	}
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0);
	for (int i = 0; i < NS; i++)
		for (int k = 0; k < NB; k++)
			assert_int_equal(st.seen[i][k], 'a' + 8 * i + k);
	if (pauses)
		assert_true(test_stats(&rt).stream_pauses >= NS);
	else /* the kernel ended each arm at 4 one-byte buffers */
		assert_int_equal(test_stats(&rt).stream_pauses, 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	for (int i = 0; i < NS; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

/* --- the SQ exactly full when the loop parks ------------------------------------------ */

#define PARK_N 256

struct many_state {
	struct urt_op op[PARK_N];
	int i, n, bad;
	unsigned count;
	uint64_t deadline;
};

static bool many_poll(struct urt_task *t, void *arg)
{
	struct many_state *st = arg;

	URT_BEGIN(t);
	for (st->i = 0; st->i < (int)st->count; st->i++) {
		if (st->deadline)
			urt_op_set_timeout(&st->op[st->i], st->deadline);
		(void)urt_nop(t, &st->op[st->i]);
	}
	for (st->i = 0; st->i < (int)st->count; st->i++) {
		URT_AWAIT(t, st->n = urt_nop(t, &st->op[st->i]));
		st->bad += st->n != 0;
	}
	URT_RETURN(t, (uint64_t)st->bad);
	URT_END(t);
}

static const struct urt_task_type many_type = { .poll = many_poll, .name = "many" };

static uint64_t run_many(struct urt_runtime *rt, unsigned count, uint64_t deadline)
{
	static struct many_state st;
	struct urt_join j;
	uint64_t out = ~0ull;

	memset(&st, 0, sizeof(st));
	st.count = count;
	st.deadline = deadline;
	assert_int_equal(urt_spawn(rt, &many_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(rt), 0); /* parks with the SQ full: must wake */
	assert_int_equal(urt_join_take(&j, &out), 0);
	return out;
}

static void test_park_with_sq_full(void **state)
{
	struct urt_runtime rt;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 256 });
	assert_int_equal(run_many(&rt, PARK_N, 0), 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

/* --- ring sizes ------------------------------------------------------------------------- */

static void test_ring_sizes(void **state)
{
	struct urt_runtime rt;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 1 }),
			 -EINVAL);
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 32769 }), -EINVAL);
	assert_null(urt_runtime_current());
	/* the largest SQ: the CQ is capped at the kernel's 65536 */
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 32768 }), 0);
	assert_int_equal(run_many(&rt, 100, 0), 0);
	test_runtime_end(&rt);
	/* the smallest: an op with a deadline takes both entries at once */
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 2 });
	assert_int_equal(run_many(&rt, PARK_N, 1000000000), 0);
	assert_true(test_stats(&rt).sq_full > 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

/* --- many tasks on a 4-entry SQ, 5,000 completions through a 16-entry CQ ------------------- */

static void test_sq_full_many_tasks(void **state)
{
	struct urt_runtime rt;
	static struct many_state st[50];
	struct urt_join j[50];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 4 });
	for (int i = 0; i < 50; i++) {
		st[i] = (struct many_state){ .count = 200 };
		assert_int_equal(urt_spawn(&rt, &many_type, &st[i], sizeof(st[i]), &j[i]), 0);
	}
	assert_int_equal(urt_run(&rt), 0);
	for (int i = 0; i < 50; i++) {
		uint64_t out;

		assert_int_equal(urt_join_take(&j[i], &out), 0);
		assert_int_equal(out, 0);
	}
	assert_int_equal(test_stats(&rt).ops_completed, 50 * 200);
	assert_true(test_stats(&rt).sq_full > 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

static void test_cq_overflow(void **state)
{
	struct urt_runtime rt;
	struct urt_runtime_stats s;
	static struct many_state st;
	struct urt_join j;
	uint64_t out;

	(void)state;
	/* SQ 2048, CQ 16384 would hold them all; SQ 2, CQ 16 cannot */
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 2 });
	st = (struct many_state){ .count = 256 };
	for (int round = 0; round < 20; round++) {
		memset(st.op, 0, sizeof(st.op));
		st.i = st.bad = 0;
		assert_int_equal(urt_spawn(&rt, &many_type, &st, sizeof(st), &j), 0);
		assert_int_equal(urt_run(&rt), 0);
		assert_int_equal(urt_join_take(&j, &out), 0);
		assert_int_equal(out, 0);
	}
	s = test_stats(&rt);
	assert_int_equal(s.ops_completed, 20 * 256);
	assert_true(s.cq_overflow > 0); /* the kernel held completions back */
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

/* --- the op-record limit -------------------------------------------------------------- */

struct limit_state {
	struct urt_op op[9];
	int r[9], again, i;
};

static bool limit_poll(struct urt_task *t, void *arg)
{
	struct limit_state *st = *(struct limit_state **)arg;

	URT_BEGIN(t);
	for (int i = 0; i < 9; i++)
		st->r[i] = urt_nop(t, &st->op[i]);
	for (st->i = 0; st->i < 8; st->i++)
		URT_AWAIT(t, urt_nop(t, &st->op[st->i]));
	URT_AWAIT(t, st->again = urt_nop(t, &st->op[8])); /* a record is free again */
	URT_END(t);
}

static const struct urt_task_type limit_type = { .poll = limit_poll, .name = "limit" };

static void test_op_record_limit(void **state)
{
	struct urt_runtime rt;
	struct limit_state st = { 0 };
	struct urt_join j;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .op_records = 8 });
	assert_int_equal(urt_spawn(&rt, &limit_type, &(struct limit_state *){ &st },
				   sizeof(struct limit_state *), &j),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(st.r[i], URT_PENDING);
	assert_int_equal(st.r[8], -EAGAIN);
	assert_int_equal(st.again, 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cancel_with_sq_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_inside_reap_with_sq_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_park_with_sq_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sq_full_many_tasks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cq_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_record_limit, setup, teardown),
	};
	if (getenv("URT_TEST_FILTER")) /* run only the tests matching it */
		cmocka_set_test_filter(getenv("URT_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
