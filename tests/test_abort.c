/* SPDX-License-Identifier: MIT */
/*
 * test_abort.c - the abort storm: thousands of tasks, each with a receive,
 * a send, a sleep and a file read in flight, aborted at seeded random
 * points; deinit with all of them in flight; and streams with queued
 * completions (buffers, descriptors) aborted.
 *
 * What proves no freed memory is touched: every drop checks that no handle
 * of its task is still busy (the kernel is done with the buffers it is
 * about to free), the buffers are heap blocks freed in drop (ASan reports a
 * late kernel write as heap-use-after-free only through a late dispatch;
 * the slab poisons vacant slots, so a completion applied to a reclaimed
 * slot is a use-after-poison), and at the end every op record, buffer and
 * descriptor is back.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

/*
 * The figure: 10,000 tasks, each with four operations in flight.
 * ABORTS of them are aborted one by one at seeded random points (each
 * abort cancels its operations by user_data, which the kernel finds in a
 * hash of its pending polls: about 10 us each among 40,000 here), the rest
 * end at deinit. DEINIT_STORM more are torn down by deinit alone with all
 * 40,000 in flight. Overridable (-D) to explore.
 */
#ifndef STORM
#define STORM 10000
#endif
#ifndef ABORTS
#define ABORTS 3000
#endif
#ifndef DEINIT_STORM
#define DEINIT_STORM 10000
#endif
#define PAIRS 64 /* socketpairs shared by the storm */

static unsigned drops, busy_in_drop, polls_after_abort;

struct storm_state {
	int rfd, wfd, file;
	struct urt_op rx, tx, nap, rd;
	char *rbuf, *wbuf, *fbuf; /* owned: freed in drop */
	bool aborted_seen;
};

static bool storm_poll(struct urt_task *t, void *arg)
{
	struct storm_state *st = arg;

	URT_BEGIN(t);
	st->rbuf = malloc(512);
	st->wbuf = malloc(65536);
	st->fbuf = malloc(4096);
	if (!st->rbuf || !st->wbuf || !st->fbuf)
		URT_RETURN(t, 1);
	memset(st->wbuf, 'w', 65536);
	/* all four in flight at once: a receive nobody sends to, a send nobody
	 * reads (it blocks once the socket buffer is full), a long sleep, and a
	 * read of a pipe nobody writes */
	(void)urt_recv(t, &st->rx, st->rfd, st->rbuf, 512, 0);
	(void)urt_send(t, &st->tx, st->wfd, st->wbuf, 65536, 0);
	(void)urt_sleep(t, &st->nap, 60ull * 1000000000u);
	(void)urt_read(t, &st->rd, st->file, st->fbuf, 4096, -1);
	URT_YIELD(t); /* one more turn, so some aborts land mid-way */
	URT_AWAIT(t, URT_PENDING); /* until aborted */
	URT_END(t);
}

static void storm_drop(struct urt_task *t, void *arg)
{
	struct storm_state *st = arg;

	(void)t;
	drops++;
	if (urt_op_busy(&st->rx) || urt_op_busy(&st->tx) || urt_op_busy(&st->nap) ||
	    urt_op_busy(&st->rd))
		busy_in_drop++;
	free(st->rbuf);
	free(st->wbuf);
	free(st->fbuf);
}

static const struct urt_task_type storm_type = { .poll = storm_poll,
						 .drop = storm_drop,
						 .name = "storm" };

struct storm {
	struct urt_runtime rt;
	int pairs[PAIRS][2], sinks[PAIRS][2], pipe[2], file;
	struct urt_join j[STORM];
	uint8_t aborts[STORM];
};

static void storm_setup(struct storm *s)
{
	int small = 4096;

	drops = busy_in_drop = polls_after_abort = 0;
	for (int i = 0; i < PAIRS; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->pairs[i]), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->sinks[i]), 0);
		setsockopt(s->sinks[i][0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	}
	assert_int_equal(pipe2(s->pipe, O_CLOEXEC), 0);
	s->file = s->pipe[0];
	test_runtime_init(&s->rt, &(struct urt_runtime_opts){
							  .slab = URT_SLAB_UNBOUNDED,
							  .slot_size = 256,
							  .ring_entries = 1024,
							  .poll_budget = 4096,
						  });
}

static void storm_spawn(struct storm *s, int i, struct urt_join *j)
{
	struct storm_state st = { .rfd = s->pairs[i % PAIRS][0],
				  .wfd = s->sinks[i % PAIRS][0],
				  .file = s->file };

	if (i % 3)
		assert_int_equal(urt_spawn_slab(&storm_type, &st, sizeof(st), j), 0);
	else
		assert_int_equal(urt_spawn(&s->rt, &storm_type, &st, sizeof(st), j), 0);
}

static void storm_close(struct storm *s)
{
	for (int i = 0; i < PAIRS; i++) {
		close(s->pairs[i][0]);
		close(s->pairs[i][1]);
		close(s->sinks[i][0]);
		close(s->sinks[i][1]);
	}
	close(s->pipe[0]);
	close(s->pipe[1]);
}

static void test_abort_storm(void **state)
{
	static struct storm s;
	static int pick[ABORTS];
	struct test_rng rng = { test_seed("abort storm", 0x5eed) };
	uint64_t end;
	unsigned left = ABORTS, next = 0;

	(void)state;
	storm_setup(&s);
	for (int i = 0; i < STORM; i++) {
		storm_spawn(&s, i, &s.j[i]);
		s.aborts[i] = 0;
	}
	for (int k = 0; k < ABORTS; k++) /* distinct tasks, in a random order */
		pick[k] = (int)((uint64_t)k * STORM / ABORTS +
				test_rng_below(&rng, STORM / ABORTS));
	for (int k = ABORTS - 1; k > 0; k--) {
		int o = (int)test_rng_below(&rng, (uint64_t)k + 1), x = pick[k];

		pick[k] = pick[o];
		pick[o] = x;
	}
	/* abort at random points: before a first poll (the first ones, before
	 * any tick), parked with everything in flight, again while draining */
	end = urt_now_ns() + 120000000000ull;
	while (left && urt_now_ns() < end) {
		unsigned burst = (unsigned)test_rng_below(&rng, 64);

		for (unsigned b = 0; b < burst && next < ABORTS; b++) {
			int i = pick[next++];

			assert_int_equal(urt_join_abort(&s.j[i]), 0);
			s.aborts[i] = 1;
		}
		for (unsigned k = 0; k < next; k++) {
			int i = pick[k];

			if (!s.j[i].task)
				continue;
			if (s.aborts[i] == 1 && test_rng_below(&rng, 8) == 0) {
				int r = urt_join_abort(&s.j[i]); /* twice: still draining, or done */

				assert_true(r == 0 || r == -EALREADY);
				s.aborts[i] = 2;
			}
			if (urt_join_is_finished(&s.j[i])) {
				assert_int_equal(urt_join_take(&s.j[i], NULL), -ECANCELED);
				left--;
			}
		}
		assert_true(urt_tick(&s.rt, test_rng_below(&rng, 3) ? 0 : 1000000) >= 0);
	}
	assert_int_equal(left, 0);
	assert_int_equal(drops, ABORTS);
	assert_int_equal(busy_in_drop, 0);
	assert_int_equal(test_stats(&s.rt).live, STORM - ABORTS); /* the aborted ones are gone */
	for (int i = 0; i < STORM; i++)
		urt_join_detach(&s.j[i]);
	/* the others still have everything in flight: deinit ends them */
	assert_int_equal(urt_runtime_deinit(&s.rt), STORM - ABORTS);
	assert_int_equal(drops, STORM);
	assert_int_equal(busy_in_drop, 0);
	storm_close(&s);
}

static void test_deinit_with_storm_in_flight(void **state)
{
	static struct storm s;

	(void)state;
	storm_setup(&s);
	for (int i = 0; i < DEINIT_STORM; i++)
		storm_spawn(&s, i, NULL);
	while (test_stats(&s.rt).polls < DEINIT_STORM)
		assert_true(urt_tick(&s.rt, 0) >= 0);
	assert_true(test_stats(&s.rt).ops_inflight >= 3 * DEINIT_STORM / 2);
	assert_int_equal(urt_runtime_deinit(&s.rt), DEINIT_STORM);
	assert_int_equal(drops, DEINIT_STORM);
	assert_int_equal(busy_in_drop, 0);
	storm_close(&s);
}

/* --- streams with queued completions ------------------------------------------ */

struct stream_state {
	int fd, lfd;
	struct urt_op rx, acc;
	int n, a;
};

static unsigned stream_drops, stream_busy;

static bool stream_poll(struct urt_task *t, void *arg)
{
	struct stream_state *st = arg;

	URT_BEGIN(t);
	/* arm both, then never consume: completions queue up */
	(void)urt_recv_stream(t, &st->rx, st->fd, NULL);
	(void)urt_accept_stream(t, &st->acc, st->lfd);
	URT_AWAIT(t, URT_PENDING);
	URT_END(t);
}

static void stream_drop(struct urt_task *t, void *arg)
{
	struct stream_state *st = arg;

	(void)t;
	stream_drops++;
	if (urt_op_busy(&st->rx) || urt_op_busy(&st->acc))
		stream_busy++;
}

static const struct urt_task_type stream_type = { .poll = stream_poll,
						  .drop = stream_drop,
						  .name = "queued-streams" };

static void test_abort_streams_with_queued_completions(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	struct stream_state st = { 0 };
	int pair[2], clients[8], fds_before, lfd;
	uint16_t port;
	char data[3000];

	(void)state;
	stream_drops = stream_busy = 0;
	fds_before = test_fd_count();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
	lfd = urt_listen_tcp("127.0.0.1", 0, 64, 0, &port);
	assert_true(lfd >= 0);
	st.fd = pair[0];
	st.lfd = lfd;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_count = 64,
									   .buf_size = 512 });
	assert_int_equal(urt_spawn(&rt, &stream_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	/* data in (several buffers' worth) and connections waiting */
	memset(data, 'q', sizeof(data));
	assert_int_equal(write(pair[1], data, sizeof(data)), (ssize_t)sizeof(data));
	for (int i = 0; i < 8; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

		sa.sin_addr.s_addr = htonl(0x7f000001);
		clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_int_equal(connect(clients[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	for (int i = 0; i < 20; i++)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_true(test_stats(&rt).bufs_free < test_stats(&rt).buf_count); /* buffers are queued */
	assert_int_equal(urt_join_abort(&j), 0);
	while (!urt_join_is_finished(&j))
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_int_equal(urt_join_take(&j, NULL), -ECANCELED);
	assert_int_equal(stream_drops, 1);
	assert_int_equal(stream_busy, 0);
	assert_int_equal(test_stats(&rt).bufs_free, test_stats(&rt).buf_count);
	assert_int_equal(test_stats(&rt).ops_live, 0);
	test_runtime_end(&rt);
	for (int i = 0; i < 8; i++)
		close(clients[i]);
	close(pair[0]);
	close(pair[1]);
	close(lfd);
	/* the accepted descriptors that were queued were closed by the runtime */
	assert_int_equal(test_fd_count(), fds_before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_abort_storm),
		cmocka_unit_test(test_deinit_with_storm_in_flight),
		cmocka_unit_test(test_abort_streams_with_queued_completions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
