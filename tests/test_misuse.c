/* SPDX-License-Identifier: MIT */
/*
 * test_misuse.c - the I/O API used wrongly or at its edges gets its
 * documented error, in every build, and nothing is lost: a handle holding
 * one kind of stream given to the other kind's call, a stream given a
 * deadline, an accept whose addrlen lies in the frame arena, a sleep past
 * the end of time, a huge stream_queue, what urt_task_cancel_ops counts,
 * and (release builds, where the debug checks do not abort first) a second
 * deinit.
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
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static int connect_to(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(0x7f000001);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* --- streams ------------------------------------------------------------------- */

struct mix_state {
	int sock, lfd;
	int wrong_accept, wrong_recv, timed, n, fd;
	struct urt_op rx, acc, dl;
	struct urt_buf b;
	bool got_data, got_conn;
};

static bool mix_poll(struct urt_task *t, void *arg)
{
	struct mix_state *st = *(struct mix_state **)arg;

	URT_BEGIN(t);
	(void)urt_recv_stream(t, &st->rx, st->sock, &st->b);
	(void)urt_accept_stream(t, &st->acc, st->lfd);
	/* a stream takes no deadline */
	urt_op_set_timeout(&st->dl, 1000000);
	st->timed = urt_recv_stream(t, &st->dl, st->sock, &st->b);
	/* each handle given to the other kind's call, also once a completion
	 * is queued on it */
	URT_AWAIT(t, urt_sleep(t, &st->dl, 50000000));
	st->wrong_accept = urt_accept_stream(t, &st->rx, st->lfd);
	st->wrong_recv = urt_recv_stream(t, &st->acc, st->sock, &st->b);
	/* the handles still work */
	URT_AWAIT(t, st->n = urt_recv_stream(t, &st->rx, st->sock, &st->b));
	st->got_data = st->n == 5 && !memcmp(st->b.data, "hello", 5);
	urt_buf_free(&st->b);
	URT_AWAIT(t, st->fd = urt_accept_stream(t, &st->acc, st->lfd));
	st->got_conn = st->fd >= 0;
	if (st->fd >= 0)
		close(st->fd);
	urt_op_cancel(&st->rx);
	urt_op_cancel(&st->acc);
	while (urt_op_busy(&st->rx)) {
		URT_AWAIT(t, st->n = urt_recv_stream(t, &st->rx, st->sock, &st->b));
		if (st->n > 0)
			urt_buf_free(&st->b);
	}
	while (urt_op_busy(&st->acc)) {
		URT_AWAIT(t, st->n = urt_accept_stream(t, &st->acc, st->lfd));
		if (st->n >= 0)
			close(st->n);
	}
	URT_END(t);
}

static const struct urt_task_type mix_type = { .poll = mix_poll, .name = "mix" };

static void test_stream_handles(void **state)
{
	struct urt_runtime rt;
	struct mix_state st = { 0 };
	struct urt_join j;
	uint16_t port;
	int sv[2], c;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	st.sock = sv[0];
	st.lfd = urt_listen_tcp("127.0.0.1", 0, 16, 0, &port);
	assert_true(st.lfd >= 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_count = 8 });
	assert_int_equal(urt_spawn(&rt, &mix_type, &(struct mix_state *){ &st },
				   sizeof(struct mix_state *), &j),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(write(sv[1], "hello", 5), 5);
	c = connect_to(port);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	assert_int_equal(st.timed, -EINVAL);
	assert_int_equal(st.wrong_accept, -EBUSY);
	assert_int_equal(st.wrong_recv, -EBUSY);
	assert_true(st.got_data);
	assert_true(st.got_conn);
	test_assert_clean(&rt); /* every buffer back, none twice */
	test_runtime_end(&rt);
	close(c);
	close(sv[0]);
	close(sv[1]);
	close(st.lfd);
}

/* --- accept's addrlen in the frame arena ------------------------------------------- */

struct acc_state {
	int lfd, r, statx_r;
	struct urt_op op;
	struct sockaddr_in sa;
	struct statx stx;
};

static bool acc_poll(struct urt_task *t, void *arg)
{
	struct acc_state *st = *(struct acc_state **)arg;
	socklen_t *len = urt_frame_alloc(sizeof(*len), _Alignof(socklen_t));

	URT_BEGIN(t);
	*len = sizeof(st->sa);
	st->r = urt_accept(t, &st->op, st->lfd, (struct sockaddr *)&st->sa, len);
	{ /* a path in frame memory, for statx too */
		char *path = urt_frame_alloc(8, 1);

		memcpy(path, "/tmp", 5);
		st->statx_r = urt_statx(t, &st->op, AT_FDCWD, path, 0, STATX_SIZE, &st->stx);
	}
	URT_END(t);
}

static const struct urt_task_type acc_type = { .poll = acc_poll, .name = "acc" };

static void test_accept_addrlen_in_frame(void **state)
{
	struct urt_runtime rt;
	struct acc_state st = { 0 };
	uint16_t port;

	(void)state;
	st.lfd = urt_listen_tcp("127.0.0.1", 0, 16, 0, &port);
	assert_true(st.lfd >= 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &acc_type, &(struct acc_state *){ &st },
				   sizeof(struct acc_state *), NULL),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(st.r, -EFAULT);
	assert_int_equal(st.statx_r, -EFAULT);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(st.lfd);
}

/* --- a sleep past the end of time, and what cancel_ops counts ------------------------- */

struct forever_state {
	int fd, r, cancelled;
	struct urt_op nap, rx;
	char buf[8];
};

static bool forever_poll(struct urt_task *t, void *arg)
{
	struct forever_state *st = *(struct forever_state **)arg;

	URT_BEGIN(t);
	(void)urt_recv(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0);
	URT_AWAIT(t, st->r = urt_sleep(t, &st->nap, UINT64_MAX - 1000));
	URT_AWAIT(t, urt_recv(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0));
	URT_END(t);
}

static const struct urt_task_type forever_type = { .poll = forever_poll, .name = "forever" };

static void test_sleep_past_the_end_of_time(void **state)
{
	struct urt_runtime rt;
	struct forever_state st = { 0 };
	struct urt_join j;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	st.fd = sv[0];
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &forever_type, &(struct forever_state *){ &st },
				   sizeof(struct forever_state *), &j),
			 0);
	for (int i = 0; i < 3; i++)
		assert_true(urt_tick(&rt, 10000000) >= 0);
	assert_int_equal(st.r, URT_PENDING); /* not fired: "now + huge" did not wrap */
	assert_int_equal(st.nap.state, URT_OP_INFLIGHT);
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), -ECANCELED);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(sv[0]);
	close(sv[1]);
}

struct count_state {
	int fd, n1, n2;
	struct urt_op nap, rx;
	char buf[8];
};

static bool count_poll(struct urt_task *t, void *arg)
{
	struct count_state *st = *(struct count_state **)arg;

	URT_BEGIN(t);
	(void)urt_recv(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0);
	(void)urt_sleep(t, &st->nap, 60000000000ull);
	st->n1 = urt_task_cancel_ops(t); /* a sleep and a receive */
	st->n2 = urt_task_cancel_ops(t); /* the receive's cancel is under way */
	URT_AWAIT(t, urt_recv(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0));
	URT_AWAIT(t, urt_sleep(t, &st->nap, 0));
	URT_END(t);
}

static const struct urt_task_type count_type = { .poll = count_poll, .name = "count" };

static void test_cancel_ops_count(void **state)
{
	struct urt_runtime rt;
	struct count_state st = { 0 };
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	st.fd = sv[0];
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &count_type, &(struct count_state *){ &st },
				   sizeof(struct count_state *), NULL),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(st.n1, 2);
	assert_int_equal(st.n2, 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(sv[0]);
	close(sv[1]);
}

/* --- stream_queue near UINT32_MAX: "no bound to speak of", not zero ------------------- */

struct q_state {
	int fd, n;
	struct urt_op rx, nap;
	struct urt_buf b;
	unsigned got;
};

static bool q_poll(struct urt_task *t, void *arg)
{
	struct q_state *st = *(struct q_state **)arg;

	URT_BEGIN(t);
	(void)urt_recv_stream(t, &st->rx, st->fd, &st->b);
	URT_AWAIT(t, urt_sleep(t, &st->nap, 100000000)); /* twelve chunks queue up */
	while (st->got < 12) {
		URT_AWAIT(t, st->n = urt_recv_stream(t, &st->rx, st->fd, &st->b));
		if (st->n <= 0)
			break;
		st->got += (unsigned)st->n;
		urt_buf_free(&st->b);
	}
	URT_AWAIT(t, urt_recv_stream_end(t, &st->rx, st->fd));
	URT_END(t);
}

static const struct urt_task_type q_type = { .poll = q_poll, .name = "queue" };

static void test_huge_stream_queue(void **state)
{
	struct urt_runtime rt;
	struct q_state st = { 0 };
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	st.fd = sv[0];
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_count = 64,
									   .buf_size = 1,
									   .stream_queue = UINT32_MAX });
	assert_int_equal(urt_spawn(&rt, &q_type, &(struct q_state *){ &st },
				   sizeof(struct q_state *), NULL),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(write(sv[1], "abcdefghijkl", 12), 12);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(st.got, 12);
	assert_int_equal(test_stats(&rt).stream_pauses, 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(sv[0]);
	close(sv[1]);
}

/* --- a second deinit (release builds: debug checks abort, see test_death) ------------ */

static void test_deinit_twice(void **state)
{
	struct urt_runtime rt;
	int a, b;

	(void)state;
#if URT_TEST_CHECKS
	skip();
#endif
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	test_runtime_end(&rt);
	/* descriptors that take the numbers the ring and eventfd had */
	a = open("/dev/null", O_RDONLY | O_CLOEXEC);
	b = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(urt_runtime_deinit(&rt), 0); /* refused: not this thread's runtime */
	assert_true(fcntl(a, F_GETFD) >= 0);
	assert_true(fcntl(b, F_GETFD) >= 0);
	close(a);
	close(b);
}

/* --- the loop's calls from inside a drop ------------------------------------------- */

static int drop_tick, drop_frame_end, drop_frame_begin;

static bool quick_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	URT_BEGIN(t);
	URT_END(t);
}

static void ticking_drop(struct urt_task *t, void *arg)
{
	struct urt_runtime *rt = urt_runtime_current();

	(void)t, (void)arg;
	drop_tick = urt_tick(rt, 0);
	drop_frame_end = urt_frame_end(rt);
	drop_frame_begin = urt_frame_begin(rt);
}

static const struct urt_task_type ticking_type = { .poll = quick_poll,
						   .drop = ticking_drop,
						   .name = "ticks-in-drop" };

static void test_loop_calls_from_drop(void **state)
{
	struct urt_runtime rt;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_frame_begin(&rt), 0); /* the program's own frame */
	assert_int_equal(urt_spawn(&rt, &ticking_type, NULL, 0, NULL), 0);
	assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(drop_tick, -EBUSY);
	assert_int_equal(drop_frame_end, -EBUSY); /* the program's frame stays open */
	assert_int_equal(drop_frame_begin, -EBUSY);
	assert_int_equal(urt_run(&rt), -EBUSY); /* inside the program's frame */
	assert_int_equal(urt_frame_end(&rt), 0);
	assert_int_equal(urt_frame_end(&rt), -EINVAL);
	test_runtime_end(&rt);
}

/* --- ending a stream that holds completions ------------------------------------------ */

struct end_state {
	int fd, r, ended;
	struct urt_op rx, nap;
	struct urt_buf b;
	size_t free_before_end;
};

static bool end_poll(struct urt_task *t, void *arg)
{
	struct end_state *st = *(struct end_state **)arg;

	URT_BEGIN(t);
	(void)urt_recv_stream(t, &st->rx, st->fd, &st->b);
	URT_AWAIT(t, urt_sleep(t, &st->nap, 50000000)); /* chunks queue up unread */
	st->free_before_end = test_stats(urt_runtime_current()).bufs_free;
	URT_AWAIT(t, st->ended = urt_recv_stream_end(t, &st->rx, st->fd));
	st->r = urt_recv_stream_end(t, &st->rx, st->fd); /* idle: 0 at once */
	URT_END(t);
}

static const struct urt_task_type end_type = { .poll = end_poll, .name = "stream-end" };

static void test_recv_stream_end(void **state)
{
	struct urt_runtime rt;
	struct end_state st = { .r = 1, .ended = 1 };
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	st.fd = sv[0];
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_count = 16, .buf_size = 16 });
	assert_int_equal(urt_spawn(&rt, &end_type, &(struct end_state *){ &st },
				   sizeof(struct end_state *), NULL),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(write(sv[1], "0123456789abcdef0123456789abcdef0123456789", 42), 42);
	assert_int_equal(urt_run(&rt), 0);
	assert_true(st.free_before_end < 16); /* buffers were held by queued chunks */
	assert_int_equal(st.ended, 0);
	assert_int_equal(st.r, 0);
	assert_int_equal(st.rx.state, URT_OP_IDLE);
	test_runtime_end(&rt); /* every buffer back */
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_handles),
		cmocka_unit_test(test_accept_addrlen_in_frame),
		cmocka_unit_test(test_sleep_past_the_end_of_time),
		cmocka_unit_test(test_cancel_ops_count),
		cmocka_unit_test(test_huge_stream_queue),
		cmocka_unit_test(test_deinit_twice),
		cmocka_unit_test(test_loop_calls_from_drop),
		cmocka_unit_test(test_recv_stream_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
