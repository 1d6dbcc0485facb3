/* SPDX-License-Identifier: MIT */
/*
 * test_fixed.c - direct descriptors (opts.fixed_fds): accepted sockets in
 * the ring's file table, named URT_FD_FIXED | slot. Echo and close through
 * slots and the reuse of freed slots; a full table (-ENFILE) while the
 * server keeps serving; plain calls refused, urt_setsockopt through the
 * ring; cancel and abort of operations on a slot (its close frees the slot
 * for the next connection and nothing touches the old one); the fallbacks
 * (features_off, the simulator) give plain descriptors.
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

enum { MAXC = 16, ZC_BIG = 8 << 20 };

struct fx {
	int lfd;
	uint16_t port;
	bool stream;   /* multishot accept (else single-shot) */
	bool nodelay;  /* conns set TCP_NODELAY first (urt_setsockopt) */
	int fds[MAXC]; /* accepted, in order */
	unsigned nfds;
	int errs[MAXC]; /* accept errors, in order */
	unsigned nerr;
	unsigned closed; /* conns that closed their socket (urt_close, 0) */
	int sockopt;	 /* the conns' urt_setsockopt result */
	char *zc;	 /* conns send zc_len bytes of it zero-copy (100 ms deadline) first */
	size_t zc_len;	 /* (0: conns echo) */
	int zc_ret;	 /* what that send returned; 1 while it has not */
	bool zc_noclose; /* the slot was closed under the send: the conn leaves it */
	struct urt_join joins[MAXC];
	struct urt_op acc;
	int fd;
};

struct conn {
	struct fx *fx;
	int fd, n, ret;
	struct urt_op op;
	struct urt_io_all io;
	char *zc; /* fx's, when it was spawned */
	size_t zc_len;
	char buf[64];
};

static const int one = 1; /* urt_setsockopt reads it when the SQE is submitted */

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	URT_BEGIN(t);
	if (c->fx->nodelay) {
		URT_AWAIT(t, c->fx->sockopt = urt_setsockopt(t, &c->op, c->fd, IPPROTO_TCP,
							     TCP_NODELAY, &one, sizeof(one)));
	}
	if (c->zc_len) {
		urt_op_set_timeout(&c->op, 100000000u);
		URT_AWAIT(t, c->n = urt_send_zc(t, &c->op, c->fd, c->zc, c->zc_len, 0));
		c->fx->zc_ret = c->n;
		urt_op_set_timeout(&c->op, 0);
		c->n = 0; /* straight to the close */
		if (c->fx->zc_noclose) {
			c->fd = -1;
			URT_RETURN(t, 0);
		}
	} else {
		URT_AWAIT(t, c->n = urt_recv(t, &c->op, c->fd, c->buf, sizeof(c->buf), 0));
	}
	if (c->n > 0)
		URT_AWAIT(t, c->ret = urt_send_all(t, &c->io, c->fd, c->buf, (size_t)c->n));
	URT_AWAIT(t, c->ret = urt_close(t, &c->op, c->fd));
	c->fd = -1;
	if (!c->ret)
		c->fx->closed++;
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
	if (c->fd >= 0) /* aborted: the slot goes back through the ring */
		URT_DISCARD(urt_close_detached(c->fd));
}

static const struct urt_task_type conn_type = { .poll = conn_poll,
						.drop = conn_drop,
						.name = "fixed-conn" };

struct acceptor {
	struct fx *fx;
};

static bool acceptor_poll(struct urt_task *t, void *arg)
{
	struct fx *fx = ((struct acceptor *)arg)->fx;

	URT_BEGIN(t);
	while (fx->nfds < MAXC && fx->nerr < MAXC) {
		if (fx->stream)
			URT_AWAIT(t, fx->fd = urt_accept_stream(t, &fx->acc, fx->lfd));
		else
			URT_AWAIT(t, fx->fd = urt_accept(t, &fx->acc, fx->lfd, NULL, NULL));
		if (fx->fd < 0) {
			fx->errs[fx->nerr++] = fx->fd;
			if (fx->fd == -ECANCELED)
				break;
			continue;
		}
		fx->fds[fx->nfds] = fx->fd;
		struct conn c = { .fx = fx, .fd = fx->fd, .zc = fx->zc, .zc_len = fx->zc_len };

		assert_int_equal(urt_spawn(urt_runtime_current(), &conn_type, &c, sizeof(c),
					   &fx->joins[fx->nfds]),
				 0);
		fx->nfds++;
	}
	URT_END(t);
}

static const struct urt_task_type acceptor_type = { .poll = acceptor_poll,
						    .name = "fixed-acceptor" };

/* The runtime as the test asks (features_off: the fallback), the acceptor
 * started on a new listener. */
static void setup(struct urt_runtime *rt, struct fx *fx, struct urt_join *aj, uint32_t table,
		  uint32_t off)
{
	test_runtime_init(rt, &(struct urt_runtime_opts){ .fixed_fds = true,
							  .fixed_table = table,
							  .features_off = off });
	assert_int_equal(!!(test_stats(rt).features & URT_FEAT_FIXED_FDS),
			 !(off & URT_FEAT_FIXED_FDS));
	fx->lfd = test_listen(&fx->port);
	assert_int_equal(urt_spawn(rt, &acceptor_type, &(struct acceptor){ fx },
				   sizeof(struct acceptor), aj),
			 0);
}

/* Stop the acceptor, let every conn end, check the runtime is clean. */
static void teardown(struct urt_runtime *rt, struct fx *fx, struct urt_join *aj)
{
	assert_int_equal(urt_join_abort(aj), 0);
	for (unsigned i = 0; i < fx->nfds; i++)
		URT_DISCARD(urt_join_abort(&fx->joins[i]));
	for (int i = 0; i < 1000 && test_stats(rt).live; i++)
		assert_true(urt_tick(rt, 1000000) >= 0);
	URT_DISCARD(urt_join_take(aj, NULL)); /* aborted or done: either ends it */
	for (unsigned i = 0; i < fx->nfds; i++)
		URT_DISCARD(urt_join_take(&fx->joins[i], NULL));
	close(fx->lfd);
	test_runtime_end(rt);
}

static int client(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Tick until *n reaches want (at most ~5 s). */
static bool tick_until(struct urt_runtime *rt, const unsigned *n, unsigned want)
{
	for (int i = 0; i < 5000 && *n < want; i++)
		assert_true(urt_tick(rt, 1000000) >= 0);
	return *n >= want;
}

/* Send msg, tick until it comes back whole. */
static void roundtrip(struct urt_runtime *rt, int fd, const char *msg)
{
	size_t len = strlen(msg), got = 0;
	char in[64];

	assert_int_equal(write(fd, msg, len), (ssize_t)len);
	for (int i = 0; i < 5000 && got < len; i++) {
		ssize_t n = recv(fd, in + got, sizeof(in) - got, MSG_DONTWAIT);

		if (n > 0)
			got += (size_t)n;
		else
			assert_true(urt_tick(rt, 1000000) >= 0);
	}
	assert_int_equal(got, len);
	assert_memory_equal(in, msg, len);
}

/* The peer closed: EOF or a reset, once the runtime has run (what was
 * queued before it is read and dropped). */
static void expect_closed(struct urt_runtime *rt, int fd)
{
	static char b[1 << 16];
	ssize_t n = -1;

	for (int i = 0; i < 5000; i++) {
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		if (n < 0)
			assert_true(urt_tick(rt, 1000000) >= 0);
	}
	assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
}

static unsigned slot(int fd)
{
	assert_true(urt_fd_is_fixed(fd));
	return (unsigned)fd - URT_FD_FIXED;
}

/* --- the tests ------------------------------------------------------------------ */

/* Eight connections one after another through a table of four: each is
 * echoed and closed through its slot, and freed slots are taken again. */
static void test_echo_close_reuse(void **state)
{
	struct urt_runtime rt;
	struct urt_join aj;
	struct fx fx = { 0 };
	char msg[32];

	(void)state;
	setup(&rt, &fx, &aj, 4, 0);
	for (unsigned i = 0; i < 8; i++) {
		int c = client(fx.port);

		assert_true(tick_until(&rt, &fx.nfds, i + 1));
		assert_true(slot(fx.fds[i]) < 4);
		snprintf(msg, sizeof(msg), "ping %u", i);
		roundtrip(&rt, c, msg);
		assert_true(tick_until(&rt, &fx.closed, i + 1));
		expect_closed(&rt, c); /* the slot's close closed the socket */
		close(c);
	}
	assert_int_equal(fx.nerr, 0);
	teardown(&rt, &fx, &aj);
}

/*
 * A full table: the accept fails with -ENFILE (the kernel has taken the
 * connection off the backlog and, with nowhere to put it, closes it), the
 * connections held are served on, and once a slot is free the stream
 * (backing off meanwhile) accepts again.
 */
static void test_full_table_enfile(void **state)
{
	struct urt_runtime rt;
	struct urt_join aj;
	struct fx fx = { .stream = true };
	int c[4];

	(void)state;
	setup(&rt, &fx, &aj, 2, 0);
	c[0] = client(fx.port);
	c[1] = client(fx.port);
	assert_true(tick_until(&rt, &fx.nfds, 2));
	c[2] = client(fx.port);
	assert_true(tick_until(&rt, &fx.nerr, 1));
	assert_int_equal(fx.errs[0], -ENFILE);
	expect_closed(&rt, c[2]);
	roundtrip(&rt, c[0], "still served");
	assert_true(tick_until(&rt, &fx.closed, 1));
	c[3] = client(fx.port);
	assert_true(tick_until(&rt, &fx.nfds, 3));
	assert_true(slot(fx.fds[2]) < 2);
	roundtrip(&rt, c[3], "a freed slot");
	roundtrip(&rt, c[1], "the other one");
	assert_true(tick_until(&rt, &fx.closed, 3));
	assert_true(test_stats(&rt).accept_backoffs >= 1);
	for (int i = 0; i < 4; i++)
		close(c[i]);
	teardown(&rt, &fx, &aj);
}

/* Plain system calls cannot name a slot (urt's own answer -EBADFD);
 * urt_setsockopt goes through the ring for one, and is the plain call for
 * a plain descriptor. */
static void test_plain_calls_and_setsockopt(void **state)
{
	struct urt_runtime rt;
	struct urt_join aj;
	struct fx fx = { .nodelay = true, .sockopt = 1 };
	int c, v = 0;
	socklen_t len = sizeof(v);

	(void)state;
	setup(&rt, &fx, &aj, 8, URT_FEAT_FTRUNCATE); /* its fallback is a plain call */
	c = client(fx.port);
	assert_true(tick_until(&rt, &fx.nfds, 1));
	assert_int_equal(urt_ftruncate(NULL, &(struct urt_op){ 0 }, fx.fds[0], 0), -EBADFD);
	errno = 0;
	assert_int_equal(fcntl(fx.fds[0], F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(setsockopt(fx.fds[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), -1);
	for (int i = 0; i < 100 && (fx.sockopt == 1 || fx.sockopt == URT_PENDING); i++)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	if (fx.sockopt == -EOPNOTSUPP || fx.sockopt == -EINVAL)
		fprintf(stderr, "the kernel has no socket setsockopt command (6.7): %d\n",
			fx.sockopt);
	else
		assert_int_equal(fx.sockopt, 0);
	roundtrip(&rt, c, "after setsockopt");
	/* a plain descriptor: the system call, at once */
	assert_int_equal(urt_setsockopt(NULL, &(struct urt_op){ 0 }, c, IPPROTO_TCP, TCP_NODELAY,
					&one, sizeof(one)),
			 0);
	assert_int_equal(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
	assert_int_equal(v, 1);
	close(c);
	teardown(&rt, &fx, &aj);
}

/*
 * A receive pending on a slot, its task aborted: the operation is
 * cancelled, the drop closes the slot, and the next connection takes it;
 * the old client sees its connection closed, the new one is served.
 */
static void test_abort_frees_slot(void **state)
{
	struct urt_runtime rt;
	struct urt_join aj;
	struct fx fx = { 0 };
	int c0, c1;

	(void)state;
	setup(&rt, &fx, &aj, 1, 0);
	c0 = client(fx.port);
	assert_true(tick_until(&rt, &fx.nfds, 1));
	for (int i = 0; i < 10; i++) /* the receive is in flight */
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_int_equal(urt_join_abort(&fx.joins[0]), 0);
	expect_closed(&rt, c0);
	c1 = client(fx.port);
	assert_true(tick_until(&rt, &fx.nfds, 2));
	assert_int_equal(slot(fx.fds[1]), slot(fx.fds[0])); /* a table of one */
	roundtrip(&rt, c1, "the slot again");
	assert_true(tick_until(&rt, &fx.closed, 1));
	close(c0);
	close(c1);
	teardown(&rt, &fx, &aj);
}

/* A runtime whose first conn sends 8 MiB zero-copy to a client that never
 * reads (the zero-copy tests). Return: that client; fx->zc to free. */
static int zc_start(struct urt_runtime *rt, struct fx *fx, struct urt_join *aj, uint32_t table)
{
	int c;

	fx->zc_len = ZC_BIG;
	fx->zc_ret = 1;
	fx->zc = malloc(ZC_BIG);
	assert_non_null(fx->zc);
	memset(fx->zc, 'z', ZC_BIG);
	setup(rt, fx, aj, table, 0);
	c = client(fx->port);
	assert_true(tick_until(rt, &fx->nfds, 1));
	return c;
}

/*
 * A zero-copy send on a slot to a peer that never reads: its deadline ends
 * the wait for the notification by resetting the connection, which for a
 * slot is a connect(AF_UNSPEC) through the ring, checked against the
 * slot's close count instead of SO_COOKIE.
 */
static void test_zc_reset_on_slot(void **state)
{
	struct urt_runtime rt;
	struct urt_join aj;
	struct fx fx = { 0 };
	int c;

	(void)state;
	if (!test_has_feature(URT_FEAT_SEND_ZC))
		skip();
	c = zc_start(&rt, &fx, &aj, 4);
	for (int i = 0; i < 300 && (fx.zc_ret == 1 || fx.zc_ret == URT_PENDING); i++)
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	printf("fixed: 8 MiB zero-copy send on a slot, 100 ms deadline -> %d, resets %llu\n",
	       fx.zc_ret, (unsigned long long)test_stats(&rt).send_zc_resets);
	assert_int_equal(fx.zc_ret, -ECANCELED);
	assert_int_equal(test_stats(&rt).send_zc_resets, 1);
	assert_true(tick_until(&rt, &fx.closed, 1));
	expect_closed(&rt, c);
	close(c);
	teardown(&rt, &fx, &aj);
	free(fx.zc);
}

/*
 * The same send, but its slot closed (urt_close_detached) while the send
 * waits and taken by the next connection: the deadline's reset must leave
 * the new connection alone (the slot's close count changed), and the send
 * ends once its peer reads.
 */
static void test_zc_reset_spares_reused_slot(void **state)
{
	struct urt_runtime rt;
	struct urt_join aj;
	struct fx fx = { .zc_noclose = true };
	int ca, cb;

	(void)state;
	if (!test_has_feature(URT_FEAT_SEND_ZC))
		skip();
	ca = zc_start(&rt, &fx, &aj, 1);
	for (int i = 0; i < 10; i++) /* the send is out, its peer not reading */
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_int_equal(urt_close_detached(fx.fds[0]), 0);
	fx.zc_len = 0; /* the next conn echoes */
	cb = client(fx.port);
	assert_true(tick_until(&rt, &fx.nfds, 2));
	assert_int_equal(fx.fds[1], fx.fds[0]); /* the same slot */
	for (int i = 0; i < 30; i++)		/* past the first conn's deadline */
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	assert_int_equal(test_stats(&rt).send_zc_resets, 0);
	roundtrip(&rt, cb, "not reset");
	for (int i = 0; i < 1000 && (fx.zc_ret == 1 || fx.zc_ret == URT_PENDING); i++) {
		test_drain(ca, SIZE_MAX);
		assert_true(urt_tick(&rt, 1000000) >= 0);
	}
	printf("fixed: a send on a slot closed and reused under it -> %d, resets %llu\n", fx.zc_ret,
	       (unsigned long long)test_stats(&rt).send_zc_resets);
	assert_int_equal(fx.zc_ret, -ECANCELED);
	assert_true(tick_until(&rt, &fx.closed, 1)); /* the echo conn's close */
	expect_closed(&rt, ca);
	close(ca);
	close(cb);
	teardown(&rt, &fx, &aj);
	free(fx.zc);
}

/* URT_FEAT_FIXED_FDS in features_off, or the simulator: plain descriptors. */
static void test_fallbacks(void **state)
{
	struct urt_runtime rt;
	struct urt_join aj;
	struct fx fx = { 0 };
	struct urt_sim *sim;
	int c;

	(void)state;
	setup(&rt, &fx, &aj, 4, URT_FEAT_FIXED_FDS);
	c = client(fx.port);
	assert_true(tick_until(&rt, &fx.nfds, 1));
	assert_false(urt_fd_is_fixed(fx.fds[0]));
	assert_true(fcntl(fx.fds[0], F_GETFD) >= 0);
	roundtrip(&rt, c, "plain");
	assert_true(tick_until(&rt, &fx.closed, 1));
	close(c);
	teardown(&rt, &fx, &aj);

	assert_int_equal(urt_sim_create(&sim, &(struct urt_sim_opts){ .seed = 1 }), 0);
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = sim, .fixed_fds = true }),
		0);
	assert_false(test_stats(&rt).features & URT_FEAT_FIXED_FDS);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
	urt_sim_destroy(sim);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_close_reuse),
		cmocka_unit_test(test_full_table_enfile),
		cmocka_unit_test(test_plain_calls_and_setsockopt),
		cmocka_unit_test(test_abort_frees_slot),
		cmocka_unit_test(test_zc_reset_on_slot),
		cmocka_unit_test(test_zc_reset_spares_reused_slot),
		cmocka_unit_test(test_fallbacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
