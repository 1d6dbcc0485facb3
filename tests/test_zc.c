/* SPDX-License-Identifier: MIT */
/*
 * test_zc.c - zero-copy sends against a peer that stops reading: a
 * deadline bounds the send and the wait for the kernel's notification, and
 * urt_op_cancel ends that wait; a deadline that fires before any byte went
 * out leaves the connection usable (nothing to reset); the reset that ends
 * a wait never reaches another socket that got the descriptor number.
 * Each test records what it saw, ends the runtime, then asserts.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

/* One zero-copy send, optionally with a deadline; records when it returned. */
struct zs {
	struct urt_op op;
	int fd;
	size_t len;
	uint64_t deadline_ns;
	char *data;
	int *ret;
	uint64_t *returned_at;
	bool *timed_out;
};

static bool zs_poll(struct urt_task *t, void *arg)
{
	struct zs *s = arg;

	URT_BEGIN(t);
	urt_op_set_timeout(&s->op, s->deadline_ns);
	URT_AWAIT(t, *s->ret = urt_send_zc(t, &s->op, s->fd, s->data, s->len, 0));
	*s->returned_at = urt_now_ns();
	*s->timed_out = urt_op_timed_out(&s->op);
	URT_END(t);
}

static void zs_drop(struct urt_task *t, void *arg)
{
	struct zs *s = arg;

	(void)t;
	memset(s->data, 0xee, s->len); /* ASan: the kernel must be done with it */
	free(s->data);
}

static const struct urt_task_type zs_type = { .poll = zs_poll, .drop = zs_drop, .name = "zs" };

/* --- 1. a deadline does not bound a zero-copy send; cancel does nothing ----- */

static void test_zc_deadline_not_honored(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port;
	int lfd, a, b, ret = 1, cret;
	uint64_t returned_at = 0, t0, out;
	bool to = false, pending_after_deadline, pending_after_cancel;

	(void)state;
	if (!test_has_feature(URT_FEAT_SEND_ZC))
		skip();
	test_runtime_init(&rt, NULL);
	lfd = test_listen(&port);
	test_tcp_pair(lfd, port, &a, &b);
	{
		struct zs s = { .fd = a, .len = BIG, .deadline_ns = 100000000u, /* 100 ms */
				.data = malloc(BIG), .ret = &ret, .returned_at = &returned_at,
				.timed_out = &to };

		assert_non_null(s.data);
		memset(s.data, 'z', BIG);
		assert_int_equal(urt_spawn(&rt, &zs_type, &s, sizeof(s), &j), 0);
	}
	t0 = urt_now_ns();
	while (urt_now_ns() - t0 < 1500000000u) /* 15 times the deadline; b never reads */
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	pending_after_deadline = returned_at == 0;
	/* urt_op_cancel says it asked the kernel to stop: does the await return? */
	{
		struct zs *s = urt_task_state(j.task);

		cret = urt_op_cancel(&s->op);
	}
	t0 = urt_now_ns();
	while (urt_now_ns() - t0 < 1000000000u)
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	pending_after_cancel = returned_at == 0;
	printf("zc: 100 ms deadline: still pending after 1.5 s: %d; urt_op_cancel -> %d, "
	       "still pending 1 s later: %d\n",
	       pending_after_deadline, cret, pending_after_cancel);
	/* clean up: the peer reads, the notification comes */
	t0 = urt_now_ns();
	while (!urt_join_is_finished(&j) && urt_now_ns() - t0 < TEST_HANG_NS) {
		test_drain(b, SIZE_MAX);
		assert_true(urt_tick(&rt, 1000000u) >= 0);
	}
	assert_true(urt_join_is_finished(&j));
	urt_join_take(&j, &out);
	urt_runtime_deinit(&rt);
	close(a);
	close(b);
	close(lfd);
	assert_false(pending_after_deadline); /* urt_op_set_timeout: "if it fires first, -ECANCELED" */
	assert_false(pending_after_cancel);
}

/* --- 2. a deadline that fires before any byte went out resets the connection -- */

static void test_zc_deadline_resets_connection(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port;
	int lfd, a, b, ret = 1, fl;
	uint64_t returned_at = 0, t0, out, resets;
	bool to = false, alive;
	static char fill[1 << 16];
	char got[8];
	ssize_t k;

	(void)state;
	if (!test_has_feature(URT_FEAT_SEND_ZC))
		skip();
	test_runtime_init(&rt, NULL);
	lfd = test_listen(&port);
	test_tcp_pair(lfd, port, &a, &b);
	/* fill the pipe: b's receive queue and a's send queue */
	fl = fcntl(a, F_GETFL);
	fcntl(a, F_SETFL, fl | O_NONBLOCK);
	while (send(a, fill, sizeof(fill), MSG_NOSIGNAL) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	fcntl(a, F_SETFL, fl);
	{
		struct zs s = { .fd = a, .len = 65536, .deadline_ns = 50000000u, /* 50 ms */
				.data = malloc(65536), .ret = &ret, .returned_at = &returned_at,
				.timed_out = &to };

		assert_non_null(s.data);
		memset(s.data, 'z', 65536);
		assert_int_equal(urt_spawn(&rt, &zs_type, &s, sizeof(s), &j), 0);
	}
	t0 = urt_now_ns();
	while (!urt_join_is_finished(&j) && urt_now_ns() - t0 < TEST_HANG_NS)
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	assert_true(urt_join_is_finished(&j));
	urt_join_take(&j, &out);
	resets = test_stats(&rt).send_zc_resets;
	urt_runtime_deinit(&rt);
	/* the send timed out with nothing sent: the connection should be as good
	 * as after a plain send that timed out. Read what was queued, then try. */
	test_drain(b, SIZE_MAX);
	alive = send(a, "ok", 2, MSG_NOSIGNAL) == 2;
	k = 0;
	for (int i = 0; alive && i < 100 && k <= 0; i++) {
		k = recv(b, got, sizeof(got), MSG_DONTWAIT);
		if (k < 0 && errno != EAGAIN)
			break;
		usleep(10000);
	}
	printf("zc: zero-copy send with a 50 ms deadline -> %d (timed out %d); resets %llu; "
	       "connection usable afterwards: %d (recv %zd, errno %d)\n",
	       ret, to, (unsigned long long)resets, alive, k, errno);
	close(a);
	close(b);
	close(lfd);
	assert_int_equal(ret, -ECANCELED);
	assert_true(to);
	assert_int_equal(resets, 0); /* nothing to release: nothing was sent */
	assert_true(alive && k == 2);
}

/* --- 3. the reset is done on a descriptor number that may be reused ----------- */

static void test_zc_reset_hits_reused_fd(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port;
	int lfd, a, b, c, d, ret = 1;
	uint64_t returned_at = 0, t0, out;
	bool to = false, c_alive, finished_after_abort;
	char got[4];
	ssize_t k = -1;

	(void)state;
	if (!test_has_feature(URT_FEAT_SEND_ZC))
		skip();
	test_runtime_init(&rt, NULL);
	lfd = test_listen(&port);
	test_tcp_pair(lfd, port, &a, &b);
	{
		struct zs s = { .fd = a, .len = BIG, .data = malloc(BIG), .ret = &ret,
				.returned_at = &returned_at, .timed_out = &to };

		assert_non_null(s.data);
		memset(s.data, 'z', BIG);
		assert_int_equal(urt_spawn(&rt, &zs_type, &s, sizeof(s), &j), 0);
	}
	for (int i = 0; i < 50; i++) /* the result comes, the notification waits (b never reads) */
		assert_true(urt_tick(&rt, 2000000u) >= 0);
	assert_false(urt_join_is_finished(&j));
	/* the application closes the connection (say, a watchdog), and the
	 * descriptor number goes to a new, unrelated connection */
	close(a);
	test_tcp_pair(lfd, port, &c, &d);
	printf("zc: old descriptor %d, new connection's descriptor %d\n", a, c);
	/* the stuck task is aborted: the runtime resets "its" connection */
	assert_int_equal(urt_join_abort(&j), 0);
	t0 = urt_now_ns();
	while (!urt_join_is_finished(&j) && urt_now_ns() - t0 < 3000000000u)
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	finished_after_abort = urt_join_is_finished(&j);
	c_alive = send(c, "ok", 2, MSG_NOSIGNAL) == 2;
	for (int i = 0; c_alive && i < 100; i++) {
		k = recv(d, got, sizeof(got), MSG_DONTWAIT);
		if (k >= 0 || errno != EAGAIN)
			break;
		usleep(10000);
	}
	printf("zc: unrelated connection usable after the abort: %d (recv %zd); aborted task "
	       "finished within 3 s: %d\n",
	       c_alive, k, finished_after_abort);
	/* clean up: b closes with unread data, which resets the orphan */
	close(b);
	t0 = urt_now_ns();
	while (!urt_join_is_finished(&j) && urt_now_ns() - t0 < 10000000000u)
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	urt_join_take(&j, &out);
	urt_runtime_deinit(&rt);
	close(c);
	close(d);
	close(lfd);
	assert_true(c == a);
	assert_true(c_alive && k == 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zc_deadline_not_honored),
		cmocka_unit_test(test_zc_deadline_resets_connection),
		cmocka_unit_test(test_zc_reset_hits_reused_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
