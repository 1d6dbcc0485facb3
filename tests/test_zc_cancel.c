/* SPDX-License-Identifier: MIT */
/*
 * test_zc_cancel.c - zero-copy deadlines and cancels that catch a send in
 * flight after part of it went out (the await returns -ECANCELED, bounded,
 * the connection reset), urt_op_cancel's return values on a zero-copy
 * wait, deinit with a splice blocked in io-wq and with many zero-copy sends
 * stuck, and urt_splice's offsets. Each test records, ends the runtime,
 * then asserts.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
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

#define BIG (8u << 20)

static void fill_pipe(int a)
{
	static char fill[1 << 16];
	int fl = fcntl(a, F_GETFL);

	fcntl(a, F_SETFL, fl | O_NONBLOCK);
	while (send(a, fill, sizeof(fill), MSG_NOSIGNAL) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	fcntl(a, F_SETFL, fl);
}

struct zs {
	struct urt_op op;
	int fd;
	int flags;
	size_t len;
	uint64_t deadline_ns;
	char *data;
	int *ret;
	bool *timed_out;
};

static bool zs_poll(struct urt_task *t, void *arg)
{
	struct zs *s = arg;

	URT_BEGIN(t);
	urt_op_set_timeout(&s->op, s->deadline_ns);
	URT_AWAIT(t, *s->ret = urt_send_zc(t, &s->op, s->fd, s->data, s->len, s->flags));
	*s->timed_out = urt_op_timed_out(&s->op);
	URT_END(t);
}

static void zs_drop(struct urt_task *t, void *arg)
{
	struct zs *s = arg;

	(void)t;
	memset(s->data, 0xee, s->len);
	free(s->data);
}

static const struct urt_task_type zs_type = { .poll = zs_poll, .drop = zs_drop, .name = "zs" };

static void spawn_zs(struct urt_runtime *rt, int fd, size_t len, int flags, uint64_t deadline,
		     int *ret, bool *to, struct urt_join *j)
{
	struct zs s = { .fd = fd,
			.flags = flags,
			.len = len,
			.deadline_ns = deadline,
			.data = malloc(len),
			.ret = ret,
			.timed_out = to };

	assert_non_null(s.data);
	memset(s.data, 'z', len);
	assert_int_equal(urt_spawn(rt, &zs_type, &s, sizeof(s), j), 0);
}

static void tick_for(struct urt_runtime *rt, struct urt_join *j, uint64_t ns)
{
	uint64_t t0 = urt_now_ns();

	while ((!j || !urt_join_is_finished(j)) && urt_now_ns() - t0 < ns)
		assert_true(urt_tick(rt, 10000000u) >= 0);
}

/*
 * 1. A deadline that fires while the send is still in flight, after part of
 * it went out (MSG_WAITALL: the kernel retries the rest), sends an
 * IORING_OP_ASYNC_CANCEL. The kernel then posts the part sent, with
 * IORING_CQE_F_MORE: the wait for the notification begins, but the timer
 * is spent and the cancel path does not reset. The peer never reads: the
 * await is held for ever, against "a deadline bounds the send and the wait
 * that follows it".
 */
static void run_inflight_partial(bool by_deadline)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port;
	int lfd, a, b, ret = 1, cret = 99, cret2 = 99;
	bool to = false, finished;
	uint64_t out;
	size_t opened;

	if (!test_has_feature(URT_FEAT_SEND_ZC))
		skip();
	test_runtime_init(&rt, NULL);
	lfd = test_listen(&port);
	test_tcp_pair(lfd, port, &a, &b);
	fill_pipe(a);
	opened = test_drain(b, 1u << 20); /* room for part of the send */
	spawn_zs(&rt, a, BIG, MSG_WAITALL, by_deadline ? 100000000u : 0, &ret, &to, &j);
	tick_for(&rt, &j, 200000000u); /* part goes out, then the send waits for room */
	if (!by_deadline) {
		struct zs *s = urt_task_state(j.task);

		cret = urt_op_cancel(&s->op);
	}
	tick_for(&rt, &j, TEST_HANG_NS);
	finished = urt_join_is_finished(&j);
	if (!by_deadline && !finished) {
		struct zs *s = urt_task_state(j.task);

		cret2 = urt_op_cancel(&s->op); /* can the user end it? */
		tick_for(&rt, &j, 1000000000u);
	}
	printf("zc_cancel: in-flight zero-copy send (%s), %zu bytes of room: finished: %d"
	       " (ret %d, timed out %d); cancel -> %d, second cancel -> %d; resets %llu\n",
	       by_deadline ? "100 ms deadline" : "urt_op_cancel", opened, finished, ret, to, cret,
	       cret2, (unsigned long long)test_stats(&rt).send_zc_resets);
	/* clean up: b closes with unread data; the reset frees the bytes */
	close(b);
	tick_for(&rt, &j, 5000000000u);
	printf("zc_cancel: after the peer closed: finished %d, ret %d, timed out %d\n",
	       urt_join_is_finished(&j), ret, to);
	if (urt_join_is_finished(&j))
		urt_join_take(&j, &out);
	urt_runtime_deinit(&rt);
	close(a);
	close(lfd);
	assert_true(finished);
	assert_int_equal(ret, -ECANCELED); /* the reset broke the stream */
	assert_true(to == by_deadline);
}

static void test_zc_deadline_inflight_partial_unbounded(void **state)
{
	(void)state;
	run_inflight_partial(true);
}

static void test_zc_cancel_inflight_partial_unbounded(void **state)
{
	(void)state;
	run_inflight_partial(false);
}

/*
 * 2. urt_op_cancel on a zero-copy send waiting for its notification resets
 * the connection and returns 0; a second urt_op_cancel has nothing left to
 * do, and io.h says -EALREADY ("or a cancel already is"). It returns 0.
 */
static void test_zc_cancel_twice_not_ealready(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port;
	int lfd, a, b, ret = 1, c1 = 99, c2 = 99;
	bool to = false, finished;
	uint64_t out;

	(void)state;
	if (!test_has_feature(URT_FEAT_SEND_ZC))
		skip();
	test_runtime_init(&rt, NULL);
	lfd = test_listen(&port);
	test_tcp_pair(lfd, port, &a, &b);
	spawn_zs(&rt, a, BIG, 0, 0, &ret, &to, &j);
	for (int i = 0; i < 50; i++) /* the result comes, the notification waits */
		assert_true(urt_tick(&rt, 2000000u) >= 0);
	assert_false(urt_join_is_finished(&j));
	{
		struct zs *s = urt_task_state(j.task);

		c1 = urt_op_cancel(&s->op);
		c2 = urt_op_cancel(&s->op); /* before any tick: still in flight */
	}
	tick_for(&rt, &j, 3000000000u);
	finished = urt_join_is_finished(&j);
	printf("zc_cancel: zero-copy wait: cancel -> %d, cancel again -> %d; finished %d ret %d\n",
	       c1, c2, finished, ret);
	close(b);
	tick_for(&rt, &j, 5000000000u);
	if (urt_join_is_finished(&j))
		urt_join_take(&j, &out);
	urt_runtime_deinit(&rt);
	close(a);
	close(lfd);
	assert_int_equal(c1, 0);
	assert_int_equal(c2, -EALREADY);
}

/*
 * 3. deinit with a splice blocked in io-wq on an empty blocking pipe: deinit
 * cancels it and does not wait for data. Nothing feeds the pipe but a
 * watchdog, a minute on: a deinit that returned before it fired did not
 * depend on the splice completing (no clock in the assertion).
 */
#define WATCHDOG_MS 60000

struct sp {
	struct urt_op op;
	int in, out;
	int *ret;
};

static bool sp_poll(struct urt_task *t, void *arg)
{
	struct sp *s = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, *s->ret = urt_splice(t, &s->op, s->in, -1, s->out, -1, 4096, 0));
	URT_END(t);
}

static const struct urt_task_type sp_type = { .poll = sp_poll, .name = "sp" };

/* The watchdog's way to unblock the splice: a byte into the empty pipe. */
static void feed_pipe(void *arg)
{
	(void)!write(*(int *)arg, "w", 1);
}

static void test_splice_deinit_blocked(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	struct test_watchdog w;
	int p[2], q[2], ret = 1;
	uint64_t t0, took;
	bool fired;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	test_runtime_init(&rt, NULL);
	{
		struct sp s = { .in = p[0], .out = q[1], .ret = &ret };

		assert_int_equal(urt_spawn(&rt, &sp_type, &s, sizeof(s), &j), 0);
	}
	tick_for(&rt, NULL, 100000000u);
	assert_false(urt_join_is_finished(&j));
	test_watchdog_start(&w, WATCHDOG_MS, feed_pipe, &p[1]);
	t0 = urt_now_ns();
	urt_runtime_deinit(&rt);
	took = urt_now_ns() - t0;
	fired = test_watchdog_stop(&w);
	printf("zc_cancel: deinit with a splice blocked on an empty pipe: %.1f ms\n", took / 1e6);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	assert_false(fired); /* deinit returned with the pipe still empty */
}

/*
 * 4. deinit with many zero-copy sends stuck on a few connections whose
 * peers never read: deinit does not wait for them to read. Only a
 * watchdog, a minute on, would reset the peers' ends (and free what the
 * sends hold); a deinit that returned before it fired did not need it.
 */
#define NCONN 8
#define NSEND 2000

/* The watchdog's way out for stuck sends: reset every peer (RST, data dropped). */
static void reset_peers(void *arg)
{
	int *b = arg;

	for (int i = 0; i < NCONN; i++) {
		setsockopt(b[i], SOL_SOCKET, SO_LINGER,
			   &(struct linger){ .l_onoff = 1, .l_linger = 0 }, sizeof(struct linger));
		close(b[i]);
		b[i] = -1;
	}
}

static void test_zc_deinit_many_stuck(void **state)
{
	struct urt_runtime rt;
	static struct urt_join j[NSEND];
	static int ret[NSEND];
	static bool to[NSEND];
	struct test_watchdog w;
	uint16_t port;
	int lfd, a[NCONN], b[NCONN];
	uint64_t t0, took;
	struct urt_runtime_stats st;
	bool fired;

	(void)state;
	if (!test_has_feature(URT_FEAT_SEND_ZC))
		skip();
	test_runtime_init(&rt, NULL);
	lfd = test_listen(&port);
	for (int i = 0; i < NCONN; i++)
		test_tcp_pair(lfd, port, &a[i], &b[i]);
	for (int i = 0; i < NSEND; i++)
		spawn_zs(&rt, a[i % NCONN], 65536, 0, 0, &ret[i], &to[i], &j[i]);
	tick_for(&rt, NULL, 300000000u);
	st = test_stats(&rt);
	assert_true(st.ops_live > 0); /* stuck: the peers read nothing */
	test_watchdog_start(&w, WATCHDOG_MS, reset_peers, b);
	t0 = urt_now_ns();
	urt_runtime_deinit(&rt);
	took = urt_now_ns() - t0;
	fired = test_watchdog_stop(&w);
	printf("zc_cancel: deinit with %d zero-copy sends stuck (ops live %llu): %.1f ms\n", NSEND,
	       (unsigned long long)st.ops_live, took / 1e6);
	for (int i = 0; i < NCONN; i++) {
		close(a[i]);
		if (b[i] >= 0)
			close(b[i]);
	}
	close(lfd);
	assert_false(fired); /* deinit returned with the peers still not reading */
}

/* 5. urt_splice with offsets: bytes from the offset, the file position untouched. */
struct sp2 {
	struct urt_op op;
	int file, pin, pout;
	int *r1, *r2;
};

static bool sp2_poll(struct urt_task *t, void *arg)
{
	struct sp2 *s = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, *s->r1 = urt_splice(t, &s->op, s->file, 3, s->pout, -1, 4, 0));
	URT_AWAIT(t, *s->r2 = urt_splice(t, &s->op, s->pin, -1, s->file, 100, 4, 0));
	URT_END(t);
}

static const struct urt_task_type sp2_type = { .poll = sp2_poll, .name = "sp2" };

static void test_splice_offsets(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	char path[] = "/tmp/urt-review2-XXXXXX", got[8] = { 0 }, at100[8] = { 0 };
	int fd = mkstemp(path), p[2], q[2], r1 = 1, r2 = 1;
	off_t pos;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "0123456789", 10), 10);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	assert_int_equal(write(q[1], "WXYZ", 4), 4);
	test_runtime_init(&rt, NULL);
	{
		struct sp2 s = { .file = fd, .pin = q[0], .pout = p[1], .r1 = &r1, .r2 = &r2 };

		assert_int_equal(urt_spawn(&rt, &sp2_type, &s, sizeof(s), &j), 0);
	}
	tick_for(&rt, &j, TEST_HANG_NS);
	urt_runtime_deinit(&rt);
	pos = lseek(fd, 0, SEEK_CUR);
	assert_int_equal(read(p[0], got, 4), 4);
	assert_int_equal(pread(fd, at100, 4, 100), 4);
	printf("zc_cancel: splice: %d %d, got %s, at 100 %s, position %lld\n", r1, r2, got, at100,
	       (long long)pos);
	assert_int_equal(r1, 4);
	assert_int_equal(r2, 4);
	assert_string_equal(got, "3456");
	assert_string_equal(at100, "WXYZ");
	assert_int_equal(pos, 0);
	close(fd);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zc_deadline_inflight_partial_unbounded),
		cmocka_unit_test(test_zc_cancel_inflight_partial_unbounded),
		cmocka_unit_test(test_zc_cancel_twice_not_ealready),
		cmocka_unit_test(test_splice_deinit_blocked),
		cmocka_unit_test(test_zc_deinit_many_stuck),
		cmocka_unit_test(test_splice_offsets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
