/* SPDX-License-Identifier: MIT */
/*
 * test_bufring.c - the provided-buffer ring's wakes and bounds, found
 * missing by a review: a starved stream is woken while the ring has room
 * (buffers filled in part keep room after a wake), a wake spent on a
 * stream that was aborted passes on, and a bundle cannot take the whole
 * ring when the kernel has no per-arm limit. Each test records what it
 * saw, ends the runtime, and only then asserts.
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

/* --- 1. a starved stream is never woken while the ring has room (in part) ---- */

struct shared {
	uint64_t got_at[3];	 /* when each receiver had its bytes */
	uint64_t got[3];	 /* bytes each receiver had */
	uint64_t final_release; /* when the holder gave its last buffer back */
};

struct rx {
	struct urt_op op, sl;
	int fd, who;
	uint64_t want;
	struct urt_buf held[16];
	unsigned nheld;
	uint16_t first_id;
	struct shared *sh;
	int n;
};

static bool rx_poll(struct urt_task *t, void *arg)
{
	struct rx *s = arg;

	URT_BEGIN(t);
	while (s->sh->got[s->who] < s->want) {
		URT_AWAIT(t, s->n = urt_recv_stream(t, &s->op, s->fd, &s->held[s->nheld]));
		if (s->n <= 0)
			URT_RETURN(t, 1);
		s->sh->got[s->who] += (uint64_t)s->n;
		if (s->who == 0) {
			s->nheld++; /* the holder keeps them */
		} else {
			urt_buf_free(&s->held[s->nheld]);
		}
	}
	s->sh->got_at[s->who] = urt_now_ns();
	if (s->who == 0) {
		/* the others run the ring dry meanwhile */
		URT_AWAIT(t, s->n = urt_sleep(t, &s->sl, 300000000u));
		/* give back one whole ring buffer: every chunk with the first id */
		s->first_id = s->held[0].id;
		for (unsigned i = 0; i < s->nheld; i++)
			if (s->held[i].id == s->first_id)
				urt_buf_free(&s->held[i]);
		URT_AWAIT(t, s->n = urt_sleep(t, &s->sl, 3000000000u));
		s->sh->final_release = urt_now_ns();
		for (unsigned i = 0; i < s->nheld; i++)
			if (s->held[i].live)
				urt_buf_free(&s->held[i]);
	}
	URT_AWAIT(t, s->n = urt_recv_stream_end(t, &s->op, s->fd));
	URT_END(t);
}

static const struct urt_task_type rx_type = { .poll = rx_poll, .name = "rx" };

static void test_inc_starved_stream_not_woken(void **state)
{
	struct urt_runtime rt;
	/* in part (bundles off): a buffer given back has room for more than one */
	struct urt_runtime_opts o = { .buf_count = 2, .buf_size = 4096,
				      .recv_pin_max = 2, /* no copying out: the ring alone */
				      .features_off = URT_FEAT_RECV_BUNDLE };
	struct shared sh = { 0 };
	struct urt_join j[3];
	int a[3], b[3];
	static char data[8192];
	uint64_t t0;
	bool inc;

	(void)state;
	test_runtime_init(&rt, &o);
	inc = test_stats(&rt).features & URT_FEAT_BUF_INC;
	test_tcp_pairs(a, b, 3);
	for (int i = 0; i < 3; i++) {
		struct rx r = { .fd = b[i], .who = i, .want = i ? 100 : 8192, .sh = &sh };

		assert_int_equal(urt_spawn(&rt, &rx_type, &r, sizeof(r), &j[i]), 0);
	}
	for (int k = 0; k < 5; k++)
		assert_true(urt_tick(&rt, 0) >= 0);
	memset(data, 'x', sizeof(data));
	assert_int_equal(send(a[0], data, 8192, 0), 8192);
	t0 = urt_now_ns();
	while (sh.got[0] < 8192 && urt_now_ns() - t0 < TEST_HANG_NS)
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	assert_int_equal(sh.got[0], 8192);
	/* both ring buffers are the holder's now: these two run dry */
	assert_int_equal(send(a[1], data, 100, 0), 100);
	assert_int_equal(send(a[2], data, 100, 0), 100);
	t0 = urt_now_ns();
	while (!(urt_join_is_finished(&j[0]) && urt_join_is_finished(&j[1]) &&
		 urt_join_is_finished(&j[2])) &&
	       urt_now_ns() - t0 < TEST_HANG_NS)
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	printf("bufring: mode %s; receiver 1 at +%.0f ms, receiver 2 at +%.0f ms, holder's last "
	       "release at +%.0f ms\n",
	       inc ? "in part" : "not in part", (double)(sh.got_at[1] - t0) / 1e6,
	       (double)(sh.got_at[2] - t0) / 1e6, (double)(sh.final_release - t0) / 1e6);
	for (int i = 0; i < 3; i++) {
		uint64_t out;

		urt_join_take(&j[i], &out);
		close(a[i]);
		close(b[i]);
	}
	urt_runtime_deinit(&rt);
	/* one buffer came back at +300 ms with room for both 100-byte
	 * messages: neither receiver should wait for the holder's last release */
	assert_true(sh.got[1] == 100 && sh.got[2] == 100);
	assert_true(sh.got_at[1] < sh.final_release);
	assert_true(sh.got_at[2] < sh.final_release);
}

/* --- 2. the wake handed to a starved stream is lost if its task stops ---------- */

struct rx2 {
	struct urt_op op;
	int fd, n;
	bool *got;
	struct urt_buf b;
};

static bool rx2_poll(struct urt_task *t, void *arg)
{
	struct rx2 *s = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, s->n = urt_recv_stream(t, &s->op, s->fd, &s->b));
	if (s->n > 0) {
		*s->got = true;
		urt_buf_free(&s->b);
	}
	URT_AWAIT(t, s->n = urt_recv_stream_end(t, &s->op, s->fd));
	URT_END(t);
}

static void rx2_drop(struct urt_task *t, void *arg)
{
	struct rx2 *s = arg;

	(void)t;
	if (s->b.live)
		urt_buf_free(&s->b);
}

static const struct urt_task_type rx2_type = { .poll = rx2_poll, .drop = rx2_drop, .name = "rx2" };

struct hold {
	struct urt_op op, sl;
	int fd, n;
	struct urt_buf b;
};

static bool hold_poll(struct urt_task *t, void *arg)
{
	struct hold *s = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, s->n = urt_recv_stream(t, &s->op, s->fd, &s->b));
	assert_true(s->n > 0);
	URT_AWAIT(t, s->n = urt_sleep(t, &s->sl, 200000000u));
	urt_buf_free(&s->b); /* one buffer back: wakes the oldest starved stream */
	URT_AWAIT(t, s->n = urt_recv_stream_end(t, &s->op, s->fd));
	URT_END(t);
}

static const struct urt_task_type hold_type = { .poll = hold_poll, .name = "hold" };

static void test_starve_wake_lost_on_abort(void **state)
{
	/* one buffer a completion, one buffer in all */
	struct urt_runtime rt;
	struct urt_runtime_opts o = { .buf_count = 1,
				      .buf_size = 4096,
				      .recv_pin_max = 1, /* no copying out: the ring alone */
				      .features_off = URT_FEAT_BUF_INC | URT_FEAT_RECV_BUNDLE };
	bool got1 = false, got2 = false;
	struct urt_join jh, j1, j2;
	int a[3], b[3];
	uint64_t t0, out;
	bool woken_aborted = false;

	(void)state;
	test_runtime_init(&rt, &o);
	test_tcp_pairs(a, b, 3);
	assert_int_equal(urt_spawn(&rt, &hold_type, &(struct hold){ .fd = b[0] }, sizeof(struct hold),
				   &jh),
			 0);
	assert_int_equal(urt_spawn(&rt, &rx2_type, &(struct rx2){ .fd = b[1], .got = &got1 },
				   sizeof(struct rx2), &j1),
			 0);
	assert_int_equal(urt_spawn(&rt, &rx2_type, &(struct rx2){ .fd = b[2], .got = &got2 },
				   sizeof(struct rx2), &j2),
			 0);
	for (int k = 0; k < 5; k++)
		assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(send(a[0], "x", 1, 0), 1);
	for (int k = 0; k < 20; k++)
		assert_true(urt_tick(&rt, 1000000u) >= 0);
	assert_int_equal(test_stats(&rt).bufs_free, 0);
	/* rx2 #1 starves first, then rx2 #2 */
	assert_int_equal(send(a[1], "y", 1, 0), 1);
	for (int k = 0; k < 20; k++)
		assert_true(urt_tick(&rt, 1000000u) >= 0);
	assert_int_equal(send(a[2], "z", 1, 0), 1);
	for (int k = 0; k < 20; k++)
		assert_true(urt_tick(&rt, 1000000u) >= 0);
	/* the holder gives its buffer back: rx2 #1 is woken (queued to run) */
	t0 = urt_now_ns();
	while (test_stats(&rt).bufs_free == 0 && urt_now_ns() - t0 < TEST_HANG_NS)
		assert_true(urt_tick(&rt, 1000000u) >= 0);
	/* ... and before it runs, it is aborted: it never takes the buffer */
	if (!got1 && !urt_join_is_finished(&j1)) {
		assert_int_equal(urt_join_abort(&j1), 0);
		woken_aborted = true;
	}
	t0 = urt_now_ns();
	while (!got2 && urt_now_ns() - t0 < TEST_HANG_NS)
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	printf("bufring: woken stream aborted: %d; bufs_free %zu; other starved stream got its "
	       "byte: %d\n",
	       woken_aborted, test_stats(&rt).bufs_free, got2);
	urt_join_take(&jh, &out);
	urt_join_take(&j1, &out);
	urt_join_detach(&j2);
	for (int i = 0; i < 3; i++)
		close(a[i]);
	urt_runtime_deinit(&rt);
	for (int i = 0; i < 3; i++)
		close(b[i]);
	assert_true(woken_aborted);
	assert_true(got2); /* a free buffer and a starved stream with data: it must run */
}


/* --- 3. bundles without the per-arm limit: one connection takes the ring ------ */

struct lazy {
	struct urt_op op, sl;
	int fd, n;
	struct urt_buf b;
	size_t *held_max;
};

static bool lazy_poll(struct urt_task *t, void *arg)
{
	struct lazy *s = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, s->n = urt_recv_stream(t, &s->op, s->fd, &s->b));
	if (s->n > 0)
		urt_buf_free(&s->b);
	/* a task busy elsewhere (or a peer that sends without reading) */
	URT_AWAIT(t, s->n = urt_sleep(t, &s->sl, 200000000u));
	*s->held_max = urt_runtime_current()->bufs.count - urt_runtime_current()->bufs.avail;
	URT_AWAIT(t, s->n = urt_recv_stream_end(t, &s->op, s->fd));
	URT_END(t);
}

static const struct urt_task_type lazy_type = { .poll = lazy_poll, .name = "lazy" };

static void test_bundle_without_limit_takes_ring(void **state)
{
	struct urt_runtime rt;
	/* a 6.10 - 6.15 kernel: bundles, no per-arm limit */
	struct urt_runtime_opts o = { .buf_count = 1024, .buf_size = 64, .stream_queue = 4,
				      .recv_pin_max = 1024, /* no copying out: the ring alone */
				      .features_off = URT_FEAT_BUF_INC | URT_FEAT_RECV_LIMIT };
	static char data[64 * 1024];
	struct urt_join j;
	size_t held = 0;
	uint64_t out;
	bool bundles;
	int sv[2];

	(void)state;
	test_runtime_init(&rt, &o);
	bundles = test_stats(&rt).features & URT_FEAT_RECV_BUNDLE;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(data, 'x', sizeof(data));
	assert_int_equal(urt_spawn(&rt, &lazy_type, &(struct lazy){ .fd = sv[0], .held_max = &held },
				   sizeof(struct lazy), &j),
			 0);
	for (int k = 0; k < 5; k++)
		assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(write(sv[1], data, sizeof(data)), (ssize_t)sizeof(data));
	while (!urt_join_is_finished(&j))
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	urt_join_take(&j, &out);
	printf("bufring: bundles %d; one unread stream (stream_queue 4) held %zu of 1024 buffers; "
	       "pauses %llu\n",
	       bundles, held, (unsigned long long)test_stats(&rt).stream_pauses);
	urt_runtime_deinit(&rt);
	close(sv[0]);
	close(sv[1]);
	/* without the limit, no bundles: the pause bounds the stream, late by
	 * one batch of single buffers, never the whole ring */
	assert_false(bundles);
	assert_true(held <= 128);
}

/* --- a urt_buf given back twice through a copy is refused, in every build --- */

struct twice {
	struct urt_op op;
	int fd, n;
	struct urt_buf b, copy;
	int *first, *second;
};

static bool twice_poll(struct urt_task *t, void *arg)
{
	struct twice *s = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, s->n = urt_recv_stream(t, &s->op, s->fd, &s->b));
	assert_true(s->n > 0);
	s->copy = s->b;
	*s->first = urt_buf_free(&s->b);
	*s->second = urt_buf_free(&s->copy); /* the same buffer, already back */
	URT_AWAIT(t, s->n = urt_recv_stream_end(t, &s->op, s->fd));
	URT_END(t);
}

static const struct urt_task_type twice_type = { .poll = twice_poll, .name = "twice" };

static void test_copy_given_back_twice_refused(void **state)
{
	/* whole buffers (a piece of a shared one cannot be told from a copy) */
	struct urt_runtime_opts o = { .buf_count = 8, .features_off = URT_FEAT_BUF_INC };
	struct urt_runtime rt;
	struct urt_join j;
	int sv[2], first = 1, second = 1;
	uint64_t out;

	(void)state;
	test_runtime_init(&rt, &o);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write(sv[1], "hello", 5), 5);
	assert_int_equal(urt_spawn(&rt, &twice_type,
				   &(struct twice){ .fd = sv[0], .first = &first, .second = &second },
				   sizeof(struct twice), &j),
			 0);
	while (!urt_join_is_finished(&j))
		assert_true(urt_tick(&rt, 10000000u) >= 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* the stream's last wake is reaped: reclaimed */
	assert_int_equal(test_stats(&rt).bufs_free, 8); /* back once, not twice */
	test_runtime_end(&rt);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(first, 0);
	assert_int_equal(second, -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inc_starved_stream_not_woken),
		cmocka_unit_test(test_starve_wake_lost_on_abort),
		cmocka_unit_test(test_bundle_without_limit_takes_ring),
		cmocka_unit_test(test_copy_given_back_twice_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
