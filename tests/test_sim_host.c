/* SPDX-License-Identifier: MIT */
/*
 * test_sim_host.c - the host calls on the simulated kernel (urt/sim.h:
 * urt_sim_socketpair, urt_sim_pipe, urt_sim_listen, urt_sim_connect,
 * urt_sim_read, urt_sim_write, ...): what each answers, the errors it
 * documents, back-pressure, and that a runtime's operations on the same
 * model see what they do (and the other way round). The suites run on the
 * model through them (tests/support/sim_shim.c); this checks them alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/sim.h"
#include "urt/urt.h"

static struct urt_sim *mk(uint32_t rcvbuf)
{
	struct urt_sim *s;

	assert_int_equal(urt_sim_create(&s, &(struct urt_sim_opts){ .seed = 7, .rcvbuf = rcvbuf }),
			 0);
	return s;
}

static void test_socketpair_reads_and_errors(void **state)
{
	struct urt_sim *s = mk(16);
	char buf[64];
	int sv[2];

	(void)state;
	assert_int_equal(urt_sim_socketpair(s, SOCK_DGRAM, sv), -EAFNOSUPPORT);
	uint64_t ev, hash;

	assert_int_equal(urt_sim_socketpair(s, SOCK_STREAM | SOCK_CLOEXEC, sv), 0);
	assert_true(sv[0] >= URT_SIM_FD_BASE && sv[1] >= URT_SIM_FD_BASE);
	ev = urt_sim_events(s);
	hash = urt_sim_hash(s);
	assert_int_equal(urt_sim_write(s, sv[1], "abc", 3, 0), 3);
	assert_int_equal(urt_sim_events(s), ev + 1); /* each call is an event of the run */
	assert_int_not_equal(urt_sim_hash(s), hash);
	assert_int_equal(urt_sim_read(s, sv[0], buf, sizeof(buf), 0), 3);
	assert_memory_equal(buf, "abc", 3);
	/* nothing queued: it would block for ever, or it would block */
	assert_int_equal(urt_sim_read(s, sv[0], buf, sizeof(buf), 0), -EDEADLK);
	assert_int_equal(urt_sim_read(s, sv[0], buf, sizeof(buf), MSG_DONTWAIT), -EAGAIN);
	assert_int_equal(urt_sim_nonblock(s, sv[0], 1), 1);
	assert_int_equal(urt_sim_read(s, sv[0], buf, sizeof(buf), 0), -EAGAIN);
	/* back-pressure: the peer's queue is 16 bytes */
	assert_int_equal(urt_sim_write(s, sv[0], buf, sizeof(buf), 0), 16);
	assert_int_equal(urt_sim_write(s, sv[0], buf, 1, 0), -EAGAIN);
	assert_int_equal(urt_sim_write(s, sv[1], buf, 17, 0), 16);
	assert_int_equal(urt_sim_write(s, sv[1], buf, 1, 0), -EDEADLK);
	assert_int_equal(urt_sim_read(s, sv[0], buf, 10, 0), 10); /* room again */
	assert_int_equal(urt_sim_write(s, sv[1], buf, 64, 0), 10);
	/* shut down: the end of file after what was queued, and -EPIPE */
	assert_int_equal(urt_sim_shutdown(s, sv[1], 7), -EINVAL);
	assert_int_equal(urt_sim_shutdown(s, sv[1], SHUT_WR), 0);
	assert_int_equal(urt_sim_write(s, sv[1], "x", 1, 0), -EPIPE);
	assert_int_equal(urt_sim_read(s, sv[0], buf, sizeof(buf), 0), 16);
	assert_int_equal(urt_sim_read(s, sv[0], buf, sizeof(buf), 0), 0);
	/* sv[1] closes with 16 bytes unread: sv[0] is reset, after sv[1]'s end
	 * of file (CLOSE_WAIT), so its error is EPIPE, as on TCP, and once */
	assert_int_equal(urt_sim_close(s, sv[1]), 0);
	assert_int_equal(urt_sim_close(s, sv[1]), -EBADF);
	assert_int_equal(urt_sim_read(s, sv[1], buf, 1, 0), -EBADF);
	assert_int_equal(urt_sim_write(s, sv[0], "x", 1, 0), -EPIPE);
	assert_int_equal(urt_sim_read(s, sv[0], buf, 1, 0), 0);
	assert_int_equal(urt_sim_close(s, sv[0]), 0);
	assert_int_equal(urt_sim_fds_open(s), 0);
	assert_int_equal(urt_sim_read(NULL, sv[0], buf, 1, 0), -EINVAL);
	urt_sim_destroy(s);
}

static void test_pipe(void **state)
{
	struct urt_sim *s = mk(0);
	char buf[8];
	int p[2];

	(void)state;
	assert_int_equal(urt_sim_pipe(s, O_DIRECT, p), -EINVAL);
	assert_int_equal(urt_sim_pipe(s, O_CLOEXEC, p), 0);
	assert_int_equal(urt_sim_write(s, p[0], "x", 1, 0), -EBADF);
	assert_int_equal(urt_sim_read(s, p[1], buf, 1, 0), -EBADF);
	assert_int_equal(urt_sim_shutdown(s, p[0], SHUT_RD), -ENOTSOCK);
	assert_int_equal(
		urt_sim_setsockopt(s, p[1], SOL_SOCKET, SO_RCVBUF, &(int){ 1 }, sizeof(int)),
		-ENOTSOCK);
	assert_int_equal(urt_sim_write(s, p[1], "hello", 5, 0), 5);
	assert_int_equal(urt_sim_close(s, p[1]), 0);
	assert_int_equal(urt_sim_read(s, p[0], buf, sizeof(buf), 0), 5);
	assert_int_equal(urt_sim_read(s, p[0], buf, sizeof(buf), 0), 0); /* no writer: the end */
	assert_int_equal(urt_sim_close(s, p[0]), 0);
	/* a pipe whose reader closed with bytes unread: -EPIPE, not a reset */
	assert_int_equal(urt_sim_pipe(s, 0, p), 0);
	assert_int_equal(urt_sim_write(s, p[1], "a", 1, 0), 1);
	assert_int_equal(urt_sim_close(s, p[0]), 0);
	assert_int_equal(urt_sim_write(s, p[1], "b", 1, 0), -EPIPE);
	assert_int_equal(urt_sim_close(s, p[1]), 0);
	assert_int_equal(urt_sim_fds_open(s), 0);
	urt_sim_destroy(s);
}

static void test_listen_connect_accept(void **state)
{
	struct urt_sim *s = mk(0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct linger lg = { 1, 0 };
	uint16_t port;
	int lfd, c, a, c2;
	char buf[4];

	(void)state;
	lfd = urt_sim_listen(s, AF_INET, 0, &port);
	assert_true(lfd >= URT_SIM_FD_BASE && port);
	assert_int_equal(urt_sim_listen(s, AF_INET, port, NULL), -EADDRINUSE);
	assert_int_equal(urt_sim_listen(s, AF_UNIX, 0, NULL), -EAFNOSUPPORT);
	assert_int_equal(urt_sim_accept(s, lfd, 0), -EAGAIN); /* the listener is non-blocking */
	assert_int_equal(urt_sim_accept(s, lfd, O_APPEND), -EINVAL);
	c = urt_sim_socket(s, AF_INET, SOCK_STREAM);
	assert_int_equal(urt_sim_accept(s, c, 0), -EINVAL);
	assert_int_equal(urt_sim_connect(s, c, NULL, 0), -EFAULT);
	sa.sin_port = htons((uint16_t)(port + 1));
	assert_int_equal(urt_sim_connect(s, c, (struct sockaddr *)&sa, sizeof(sa)), -ECONNREFUSED);
	sa.sin_port = htons(port);
	assert_int_equal(urt_sim_connect(s, c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(urt_sim_connect(s, c, (struct sockaddr *)&sa, sizeof(sa)), -EISCONN);
	a = urt_sim_accept(s, lfd, SOCK_CLOEXEC);
	assert_true(a >= URT_SIM_FD_BASE);
	assert_int_equal(urt_sim_read(s, a, buf, sizeof(buf), 0), -EDEADLK); /* a is blocking */
	assert_int_equal(urt_sim_write(s, c, "hi", 2, 0), 2);
	assert_int_equal(urt_sim_read(s, a, buf, sizeof(buf), 0), 2);
	/* an abortive close resets the peer though nothing is unread */
	assert_int_equal(urt_sim_setsockopt(s, c, SOL_SOCKET, SO_LINGER, &lg, 1), -EINVAL);
	assert_int_equal(urt_sim_setsockopt(s, c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	assert_int_equal(urt_sim_close(s, c), 0);
	assert_int_equal(urt_sim_read(s, a, buf, sizeof(buf), 0), -ECONNRESET);
	/* a plain close is the end of file */
	c2 = urt_sim_socket(s, AF_INET, SOCK_STREAM);
	assert_int_equal(urt_sim_connect(s, c2, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(urt_sim_close(s, a), 0);
	a = urt_sim_accept(s, lfd, 0);
	assert_int_equal(urt_sim_close(s, c2), 0);
	assert_int_equal(urt_sim_read(s, a, buf, sizeof(buf), 0), 0);
	assert_int_equal(urt_sim_close(s, a), 0);
	assert_int_equal(urt_sim_close(s, lfd), 0);
	assert_int_equal(urt_sim_fds_open(s), 0);
	urt_sim_destroy(s);
}

static void test_files(void **state)
{
	struct urt_sim *s = mk(0);
	char buf[16];
	int w, r;

	(void)state;
	assert_int_equal(urt_sim_open(s, "/d/f", O_RDWR | O_CREAT, 0600), -ENOENT);
	assert_int_equal(urt_sim_open(s, NULL, O_RDONLY, 0), -EFAULT);
	assert_int_equal(urt_sim_mkdir(s, "/d", 0700), 0);
	assert_int_equal(urt_sim_mkdir(s, "/d", 0700), -EEXIST);
	w = urt_sim_open(s, "/d/f", O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(w >= URT_SIM_FD_BASE);
	assert_int_equal(urt_sim_write(s, w, "hello", 5, 0), 5);
	assert_int_equal(urt_sim_write(s, w, " you", 4, 0), 4);	 /* at the position */
	assert_int_equal(urt_sim_read(s, w, buf, 1, 0), -EBADF); /* write-only */
	assert_int_equal(urt_sim_shutdown(s, w, SHUT_WR), -ENOTSOCK);
	r = urt_sim_open(s, "d/f", O_RDONLY, 0); /* relative: from the root */
	assert_int_equal(urt_sim_read(s, r, buf, sizeof(buf), 0), 9);
	assert_memory_equal(buf, "hello you", 9);
	assert_int_equal(urt_sim_read(s, r, buf, sizeof(buf), 0), 0);
	assert_int_equal(urt_sim_unlink(s, "/d", 0), -EISDIR);
	assert_int_equal(urt_sim_unlink(s, "/d/f", 0), 0);
	assert_int_equal(urt_sim_unlink(s, "/d", AT_REMOVEDIR), 0);
	assert_int_equal(urt_sim_close(s, w), 0);
	assert_int_equal(urt_sim_close(s, r), 0);
	assert_int_equal(urt_sim_fds_open(s), 0);
	urt_sim_destroy(s);
}

/* --- with a runtime: its operations see the host's calls and the other way ---------- */

struct echo_state {
	int fd, n;
	struct urt_op op;
	char buf[32];
};

/* receive once, send it back, receive the end of file */
static bool echo_poll(struct urt_task *t, void *arg)
{
	struct echo_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->n = urt_recv(t, &st->op, st->fd, st->buf, sizeof(st->buf), 0));
	if (st->n <= 0)
		URT_RETURN(t, 1);
	URT_AWAIT(t, st->n = urt_send(t, &st->op, st->fd, st->buf, (size_t)st->n, 0));
	URT_AWAIT(t, st->n = urt_recv(t, &st->op, st->fd, st->buf, sizeof(st->buf), 0));
	URT_RETURN(t, (uint64_t)(int64_t)st->n);
	URT_END(t);
}

static const struct urt_task_type echo_type = { .poll = echo_poll, .name = "echo" };

/* One run: the host writes, the task echoes, the host reads. Return: the hash. */
static uint64_t host_and_task(const char *msg)
{
	struct urt_sim *s = mk(0);
	struct urt_runtime rt;
	struct urt_join j;
	uint64_t out, hash;
	char buf[32];
	int sv[2];

	assert_int_equal(urt_sim_socketpair(s, SOCK_STREAM, sv), 0);
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = s }), 0);
	assert_int_equal(urt_spawn(&rt, &echo_type, &(struct echo_state){ .fd = sv[0] },
				   sizeof(struct echo_state), &j),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1); /* the receive is in flight, parked */
	assert_int_equal(urt_sim_read(s, sv[1], buf, sizeof(buf), 0), -EDEADLK);
	assert_int_equal(urt_sim_write(s, sv[1], msg, strlen(msg), 0), (ssize_t)strlen(msg));
	while (urt_sim_read(s, sv[1], buf, sizeof(buf), MSG_DONTWAIT) == -EAGAIN)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_memory_equal(buf, msg, strlen(msg));
	assert_int_equal(urt_sim_shutdown(s, sv[1], SHUT_WR), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0); /* the end of file */
	assert_int_equal(urt_sim_close(s, sv[0]), 0); /* the runtime's end, closed by the host */
	assert_int_equal(urt_sim_close(s, sv[1]), 0);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
	assert_int_equal(urt_sim_stalls(s), 0);
	assert_int_equal(urt_sim_fds_open(s), 0);
	hash = urt_sim_hash(s);
	urt_sim_destroy(s);
	return hash;
}

static void test_runtime_sees_host(void **state)
{
	uint64_t h = host_and_task("ping");

	(void)state;
	assert_int_equal(host_and_task("ping"), h); /* the host's calls replay too */
	assert_int_not_equal(host_and_task("ping!"), h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_socketpair_reads_and_errors),
		cmocka_unit_test(test_pipe),
		cmocka_unit_test(test_listen_connect_accept),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_runtime_sees_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
