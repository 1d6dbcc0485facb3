/* SPDX-License-Identifier: MIT */
/*
 * test_kv_kill.c - urt-kv: a connection the sweeper closes at its send
 * deadline while the short result of its reply's send waits to be polled
 * (review 8). conn_expire dooms it and, its stream's cancel having gone
 * in, lets go of it: it is in no list from then. The task, polled next,
 * read the short result and urt_send_all started the rest, which a peer
 * that does not read never takes: the connection stayed, in no list, for
 * ever, its memory counted as a doomed one's. White box, as
 * test_http_kill: the server's source in the test, its runtime driven
 * tick by tick on the real kernel; the doom is the sweeper's own call,
 * made between two ticks when the short result is reaped.
 */
#include "kv/server.c"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>

#include <cmocka.h>

#define MS    1000000ull
#define VALUE 60000

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_doom_on_short_send(void **state)
{
	static char req[VALUE + 4096];
	struct kv_shared sh;
	struct kv_worker w = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct conn *c = NULL;
	size_t len = 0;
	uint64_t until, live;
	int lfd, cfd, ret;
	uint16_t port;

	(void)state;
	assert_int_equal(kv_shared_init(&sh,
					&(struct resp_limits){ .max_args = 1024,
							       .max_bulk = 1 << 20,
							       .max_inline = 64 * 1024,
							       .max_request = 2 << 20 },
					0, 8, 128, 1),
			 0);
	ret = kv_worker_init(&w, &sh,
			     &(struct kv_opts){ .max_conns = 8,
						.idle_ms = 10000,
						.send_ms = 10000,
						.mem_budget = 256u << 20 },
			     0, NULL);
	if (ret == -ENOSYS || ret == -EPERM)
		exit(77);
	assert_int_equal(ret, 0);
	lfd = urt_listen_tcp("127.0.0.1", 0, 16, 0, &port);
	assert_true(lfd >= 0);
	assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_SNDBUF, &(int){ 4096 }, sizeof(int)), 0);
	assert_int_equal(kv_worker_start(&w, lfd), 0);

	len += (size_t)sprintf(req + len, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n", VALUE);
	memset(req + len, 'x', VALUE);
	len += VALUE;
	len += (size_t)sprintf(req + len, "\r\n");
	for (int i = 0; i < 3; i++)
		len += (size_t)sprintf(req + len, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
	cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(cfd >= 0);
	assert_int_equal(setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &(int){ 4096 }, sizeof(int)), 0);
	sa.sin_port = htons(port);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(cfd, req, len, 0), (ssize_t)len);

	/* the peer reads nothing; at the reply's short send, the deadline */
	until = mono_ms() + 10000;
	while (!c && mono_ms() < until) {
		const char *p;
		size_t n;

		assert_true(urt_tick(&w.rt, 1 * MS) >= 0);
		if (w.tx.root.next == &w.tx.root)
			continue;
		c = (struct conn *)((char *)w.tx.root.next - offsetof(struct conn, link));
		if (c->sending && c->tx.op.state == URT_OP_DONE && c->tx.op.res > 0 &&
		    piece(c, &p, &n) && (size_t)c->tx.op.res < n - c->seg_off) {
			/* as the sweeper does at the deadline (idle_expire) */
			if (conn_expire(&c->link, &w.tx))
				idle_unlink(&w.tx, &c->link);
		} else {
			c = NULL;
		}
	}
	assert_non_null(c);
	until = mono_ms() + 3000;
	while (w.live && mono_ms() < until)
		assert_true(urt_tick(&w.rt, 1 * MS) >= 0);
	live = w.live;
	print_message("doomed at a short send: the connection %s\n",
		      live ? "still live after 3 s, in no list" : "ended");
	close(cfd);
	kv_worker_stop(&w);
	kv_worker_finish(&w);
	kv_shared_deinit(&sh);
	assert_int_equal(live, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doom_on_short_send),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
