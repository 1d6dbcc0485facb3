/* SPDX-License-Identifier: MIT */
/*
 * test_bufmodes.c - the kernel features urt uses when they are present,
 * each beside the fallback it uses when they are not:
 *   - receive buffers filled in part (URT_FEAT_BUF_INC),
 *   - receive bundles (URT_FEAT_RECV_BUNDLE),
 *   - one buffer a completion (neither),
 *   - zero-copy sends (URT_FEAT_SEND_ZC), and plain sends.
 * opts.features_off picks the mode. Each mode carries the same seeded
 * traffic over loopback TCP through a small shared ring (receivers hold
 * buffers and give them back out of order, so the ring runs dry and
 * buffers come back in every order), checks every byte, and ends with
 * every buffer back in the ring.
 */
#include <errno.h>
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

#define CONNS 8
#define BYTES (768u * 1024) /* per connection */
#define HOLD  3		    /* buffers a receiver keeps before giving them back */

static uint8_t pattern(unsigned conn, uint64_t i)
{
	return (uint8_t)((i * 2654435761u >> 11) ^ (conn * 37u) ^ (i >> 9));
}

struct rx_state {
	struct urt_op op;
	int fd;
	unsigned conn;
	struct urt_buf held[HOLD];
	unsigned nheld;
	uint64_t got;
	uint64_t rng;
	bool bad;
};

static void give_back(struct rx_state *s)
{
	/* in a seeded order, not the order they came in */
	while (s->nheld) {
		unsigned k = (unsigned)((s->rng = s->rng * 6364136223846793005u + 1442695040888963407u) >>
					33) % s->nheld;

		assert_int_equal(urt_buf_free(&s->held[k]), 0);
		s->held[k] = s->held[--s->nheld];
	}
}

static bool rx_poll(struct urt_task *t, void *arg)
{
	struct rx_state *s = arg;

	for (;;) {
		struct urt_buf b;
		int n = urt_recv_stream(t, &s->op, s->fd, &b);

		if (n == URT_PENDING)
			return false;
		if (n <= 0) { /* the end: every byte came, in order, then EOF */
			give_back(s);
			assert_int_equal(n, 0);
			assert_false(s->bad);
			assert_int_equal(s->got, BYTES);
			return true;
		}
		for (int i = 0; i < n; i++)
			if ((uint8_t)b.data[i] != pattern(s->conn, s->got + (uint64_t)i))
				s->bad = true;
		s->got += (uint64_t)n;
		s->held[s->nheld++] = b;
		if (s->nheld == HOLD)
			give_back(s);
	}
}

static void rx_drop(struct urt_task *t, void *arg)
{
	struct rx_state *s = arg;

	(void)t;
	assert_false(urt_op_busy(&s->op));
	close(s->fd);
}

static const struct urt_task_type rx_type = { .poll = rx_poll, .drop = rx_drop, .name = "rx" };

struct tx_state {
	struct urt_io_all h;
	struct urt_op op;
	int fd;
	unsigned conn;
	uint8_t *data; /* BYTES of the pattern */
	uint64_t sent;
	uint64_t rng;
	size_t piece;
	int ret;
};

static bool tx_poll(struct urt_task *t, void *arg)
{
	struct tx_state *s = arg;

	URT_BEGIN(t);
	while (s->sent < BYTES) {
		/* pieces from 1 byte to 64 KiB: some go zero-copy */
		s->rng = s->rng * 6364136223846793005u + 1442695040888963407u;
		s->piece = 1 + (size_t)((s->rng >> 33) % 65536);
		if (s->piece > BYTES - s->sent)
			s->piece = (size_t)(BYTES - s->sent);
		URT_AWAIT(t, s->ret = urt_send_all(t, &s->h, s->fd, s->data + s->sent, s->piece));
		assert_int_equal(s->ret, (int)s->piece);
		s->sent += s->piece;
	}
	URT_AWAIT(t, s->ret = urt_shutdown(t, &s->op, s->fd, SHUT_WR));
	assert_int_equal(s->ret, 0);
	URT_END(t);
}

static void tx_drop(struct urt_task *t, void *arg)
{
	struct tx_state *s = arg;

	(void)t;
	assert_false(urt_op_busy(&s->h.op) || urt_op_busy(&s->op));
	free(s->data);
	close(s->fd);
}

static const struct urt_task_type tx_type = { .poll = tx_poll, .drop = tx_drop, .name = "tx" };

struct mode_result {
	struct urt_runtime_stats st;
};

static struct mode_result run_mode(uint32_t features_off, uint64_t seed)
{
	struct urt_runtime rt;
	/* 32 buffers: each receiver waits for a buffer with at most HOLD - 1
	 * held (8 x 2 = 16), so some are always free; with 16 they could all
	 * be held by receivers each waiting for its third */
	struct urt_runtime_opts o = { .buf_count = 32, .buf_size = 4096,
				      .features_off = features_off, .send_zc_min = 16384 };
	struct urt_join jrx[CONNS], jtx[CONNS];
	int a[CONNS], b[CONNS];
	struct mode_result res;

	test_runtime_init(&rt, &o);
	test_tcp_pairs(a, b, CONNS);
	for (unsigned i = 0; i < CONNS; i++) {
		struct tx_state tx = { .fd = a[i], .conn = i, .rng = seed + i };
		struct rx_state r = { .fd = b[i], .conn = i, .rng = seed ^ (i * 977u) };

		tx.data = malloc(BYTES);
		assert_non_null(tx.data);
		for (uint64_t k = 0; k < BYTES; k++)
			tx.data[k] = pattern(i, k);
		assert_int_equal(urt_spawn(&rt, &rx_type, &r, sizeof(r), &jrx[i]), 0);
		assert_int_equal(urt_spawn(&rt, &tx_type, &tx, sizeof(tx), &jtx[i]), 0);
	}
	for (unsigned spins = 0;; spins++) {
		unsigned done = 0;

		for (unsigned i = 0; i < CONNS; i++)
			done += urt_join_is_finished(&jrx[i]) && urt_join_is_finished(&jtx[i]);
		if (done == CONNS)
			break;
		assert_true(spins < 2000000);
		assert_true(urt_tick(&rt, 1000000000u) >= 0);
	}
	for (unsigned i = 0; i < CONNS; i++) {
		uint64_t out;

		assert_int_equal(urt_join_take(&jtx[i], &out), 0);
		assert_int_equal(urt_join_take(&jrx[i], &out), 0);
	}
	res.st = test_stats(&rt);
	test_runtime_end(&rt);
	return res;
}

static void expect_clean(const struct mode_result *m)
{
	assert_int_equal(m->st.bufs_free, m->st.buf_count);
	assert_int_equal(m->st.ops_live, 0);
}

static void test_modes_carry_every_byte(void **state)
{
	uint64_t seed = test_seed("bufmodes", 0xb0f5);
	static const struct {
		const char *name;
		uint32_t off;
	} modes[] = {
		{ "bundles", 0 },
		{ "in part", URT_FEAT_RECV_BUNDLE },
		{ "one buffer a completion", URT_FEAT_BUF_INC | URT_FEAT_RECV_BUNDLE },
		{ "every fallback",
		  URT_FEAT_BUF_INC | URT_FEAT_RECV_BUNDLE | URT_FEAT_SEND_ZC | URT_FEAT_RECV_LIMIT },
	};

	(void)state;
	for (unsigned m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		struct mode_result r = run_mode(modes[m].off, seed);
		uint32_t f = r.st.features;

		printf("bufmodes: %-24s features 0x%02x, %llu completions, %llu buffers bundled, "
		       "%llu shared, %llu enobufs, %llu zero-copy sends (%llu copied)\n",
		       modes[m].name, f, (unsigned long long)r.st.cqes,
		       (unsigned long long)r.st.recv_bundled, (unsigned long long)r.st.buf_shared,
		       (unsigned long long)r.st.enobufs, (unsigned long long)r.st.send_zc,
		       (unsigned long long)r.st.send_zc_copied);
		expect_clean(&r);
		/* what was turned off is not used ... */
		assert_int_equal(f & modes[m].off, 0);
		if (!(f & URT_FEAT_BUF_INC))
			assert_int_equal(r.st.buf_shared, 0);
		if (!(f & URT_FEAT_RECV_BUNDLE))
			assert_int_equal(r.st.recv_bundled, 0);
		if (!(f & URT_FEAT_SEND_ZC))
			assert_int_equal(r.st.send_zc, 0);
		/* ... and what is on is used: a receiver that lags behind makes
		 * the kernel fill buffers in part, or bundle them */
		if (f & URT_FEAT_BUF_INC)
			assert_true(r.st.buf_shared > 0);
		if (f & URT_FEAT_RECV_BUNDLE)
			assert_true(r.st.recv_bundled > 0);
		if (f & URT_FEAT_SEND_ZC)
			assert_true(r.st.send_zc > 0);
		/* only one way of handing out buffers at a time */
		assert_false((f & URT_FEAT_BUF_INC) && (f & URT_FEAT_RECV_BUNDLE));
	}
}

/* --- zero-copy sends on a socket that cannot ----------------------------------- */

struct unix_state {
	struct urt_io_all h;
	struct urt_op op;
	int fd;
	char *data;
	int *direct, *all; /* the test's */
};

static bool unix_poll(struct urt_task *t, void *arg)
{
	struct unix_state *s = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, *s->direct = urt_send_zc(t, &s->op, s->fd, s->data, 65536, 0));
	URT_AWAIT(t, *s->all = urt_send_all(t, &s->h, s->fd, s->data, 65536));
	URT_END(t);
}

static const struct urt_task_type unix_type = { .poll = unix_poll, .name = "unix" };

static void test_send_zc_on_af_unix_falls_back(void **state)
{
	struct urt_runtime rt;
	struct urt_runtime_opts o = { .send_zc_min = 1 };
	struct unix_state s = { 0 };
	struct urt_join j;
	static char data[65536], got[65536];
	size_t n = 0;
	uint64_t out;
	ssize_t k;
	bool zc;
	int direct = 0, all = 0;
	int sv[2], sz = 1 << 20;

	(void)state;
	test_fill(data, sizeof(data), 7);
	test_runtime_init(&rt, &o);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	s.fd = sv[0];
	s.data = data;
	s.direct = &direct;
	s.all = &all;
	assert_int_equal(urt_spawn(&rt, &unix_type, &s, sizeof(s), &j), 0);
	while (!urt_join_is_finished(&j)) {
		assert_true(urt_tick(&rt, 1000000000u) >= 0);
		while ((k = recv(sv[1], got, sizeof(got), MSG_DONTWAIT)) > 0)
			n += (size_t)k; /* keep the socket drained */
	}
	assert_int_equal(urt_join_take(&j, &out), 0);
	zc = test_stats(&rt).features & URT_FEAT_SEND_ZC;
	test_runtime_end(&rt);
	close(sv[0]);
	while ((k = recv(sv[1], got, sizeof(got), MSG_DONTWAIT)) > 0)
		n += (size_t)k;
	close(sv[1]);
	/* the direct call reports what the kernel said; send_all went on plainly */
	assert_int_equal(direct, zc ? -EOPNOTSUPP : 65536);
	assert_int_equal(all, 65536);
	assert_int_equal(n, zc ? 65536 : 131072);
}

/* --- a zero-copy send aborted while the kernel holds its bytes ------------------ */

struct stuck_state {
	struct urt_io_all h;
	int fd;
	char *data; /* freed in drop: the kernel must be done with it */
	int ret;
};

static bool stuck_poll(struct urt_task *t, void *arg)
{
	struct stuck_state *s = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, s->ret = urt_send_all(t, &s->h, s->fd, s->data, 8u << 20));
	URT_END(t);
}

static void stuck_drop(struct urt_task *t, void *arg)
{
	struct stuck_state *s = arg;

	(void)t;
	assert_false(urt_op_busy(&s->h.op)); /* the notification was reaped */
	memset(s->data, 0xee, 8u << 20);     /* ASan: still ours */
	free(s->data);
}

static const struct urt_task_type stuck_type = { .poll = stuck_poll, .drop = stuck_drop,
						 .name = "stuck" };

static void test_zero_copy_send_aborted(void **state)
{
	struct urt_runtime rt;
	struct urt_join j[4];
	int a[4], b[4];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .send_zc_min = 1 });
	test_tcp_pairs(a, b, 4);
	for (unsigned i = 0; i < 4; i++) {
		struct stuck_state s = { .fd = a[i], .data = malloc(8u << 20) };

		assert_non_null(s.data);
		memset(s.data, (int)i, 8u << 20);
		assert_int_equal(urt_spawn(&rt, &stuck_type, &s, sizeof(s), &j[i]), 0);
	}
	/* the peers never read: the sends stall (waiting up to 1 ms a tick:
	 * on the simulated kernel a send runs after its latency, not at once) */
	for (int k = 0; k < 20; k++)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	/* two aborted while stuck, two left to deinit */
	assert_int_equal(urt_join_abort(&j[0]), 0);
	assert_int_equal(urt_join_abort(&j[1]), 0);
	for (int k = 0; k < 200 && !(urt_join_is_finished(&j[0]) && urt_join_is_finished(&j[1])); k++)
		assert_true(urt_tick(&rt, 10000000) >= 0);
	assert_true(urt_join_is_finished(&j[0]) && urt_join_is_finished(&j[1]));
	if (test_stats(&rt).features & URT_FEAT_SEND_ZC) /* what ended the wait */
		assert_true(test_stats(&rt).send_zc_resets >= 2);
	urt_join_detach(&j[2]);
	urt_join_detach(&j[3]);
	{
		uint64_t out;

		urt_join_take(&j[0], &out);
		urt_join_take(&j[1], &out);
	}
	assert_int_equal(urt_runtime_deinit(&rt), 2);
	for (unsigned i = 0; i < 4; i++) {
		close(a[i]);
		close(b[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_modes_carry_every_byte),
		cmocka_unit_test(test_send_zc_on_af_unix_falls_back),
		cmocka_unit_test(test_zero_copy_send_aborted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
