/* SPDX-License-Identifier: MIT */
/*
 * test_fairness.c - no set of connections can take the shared ring.
 *
 * Default options (512 buffers), 2 x 512 receive streams whose tasks arm
 * their stream and then never read it (a server task blocked on a send to
 * a client that does not read), and one stream whose task reads. Bytes are
 * written to every socket, round after round, while the loop runs. Then:
 *   - the reader got every byte, in order;
 *   - the ring kept an eighth of its buffers free but for one completion's
 *     (at every sample after a tick), and after a tick with nothing new,
 *     the idle streams held at most opts.recv_pin_max (256) ring buffers;
 *   - each non-reader held at most one arm's limit plus one buffer
 *     (urt_recv_stream_held), and spill memory stayed within that bound
 *     times the streams;
 *   - when the non-readers finally read, every byte arrives, in order.
 * Once per buffer mode: bundles, in part, one buffer a completion (each
 * where the kernel has it; opts.features_off for the others), and, in
 * builds with the fault seam, a kernel without the per-arm limit.
 */
#include <errno.h>
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

#define NSTREAMS 1024		/* non-readers: 2 x the default buf_count */
#define PER_STREAM (96 * 1024)	/* bytes sent to each: more than one arm takes */
#define READER_BYTES (4u << 20) /* through the one stream that reads */
#define WRITE_PIECE 8192

static uint8_t pattern(unsigned stream, size_t off)
{
	return (uint8_t)(off * 7 + stream * 13 + (off >> 8));
}

struct shared {
	struct urt_op *ops[NSTREAMS]; /* each non-reader's stream handle */
	size_t sent[NSTREAMS + 1];    /* bytes written to each socket; [NSTREAMS]: the reader's */
	size_t got[NSTREAMS + 1];
	unsigned bad;		      /* bytes out of order, or a stream that ended early */
	unsigned drained;	      /* non-readers that read all they were sent */
	bool drain;		      /* the non-readers may read now */
};

struct idler {
	struct urt_op op, nap;
	struct urt_buf b;
	struct shared *sh;
	unsigned i;
	int fd, n;
};

static bool idler_poll(struct urt_task *t, void *arg)
{
	struct idler *s = arg;

	URT_BEGIN(t);
	s->sh->ops[s->i] = &s->op;
	/* arm the stream, then do not read it */
	s->n = urt_recv_stream(t, &s->op, s->fd, &s->b);
	if (s->n != URT_PENDING)
		s->sh->bad++;
	while (!s->sh->drain)
		URT_AWAIT(t, s->n = urt_sleep(t, &s->nap, 20000000u));
	while (s->sh->got[s->i] < s->sh->sent[s->i]) {
		URT_AWAIT(t, s->n = urt_recv_stream(t, &s->op, s->fd, &s->b));
		if (s->n <= 0) {
			s->sh->bad++;
			break;
		}
		for (int k = 0; k < s->n; k++)
			if ((uint8_t)s->b.data[k] != pattern(s->i, s->sh->got[s->i] + (size_t)k)) {
				s->sh->bad++;
				break;
			}
		s->sh->got[s->i] += (size_t)s->n;
		urt_buf_free(&s->b);
	}
	s->sh->drained++;
	URT_AWAIT(t, s->n = urt_recv_stream_end(t, &s->op, s->fd));
	URT_END(t);
}

static void idler_drop(struct urt_task *t, void *arg)
{
	struct idler *s = arg;

	(void)t;
	if (s->b.live)
		urt_buf_free(&s->b);
}

static const struct urt_task_type idler_type = { .poll = idler_poll,
						 .drop = idler_drop,
						 .name = "idler" };

struct reader {
	struct urt_op op;
	struct urt_buf b;
	struct shared *sh;
	int fd, n;
};

static bool reader_poll(struct urt_task *t, void *arg)
{
	struct reader *s = arg;
	size_t *got = &s->sh->got[NSTREAMS];

	URT_BEGIN(t);
	while (*got < READER_BYTES) {
		URT_AWAIT(t, s->n = urt_recv_stream(t, &s->op, s->fd, &s->b));
		if (s->n <= 0) {
			s->sh->bad++;
			break;
		}
		for (int k = 0; k < s->n; k++)
			if ((uint8_t)s->b.data[k] != pattern(NSTREAMS, *got + (size_t)k)) {
				s->sh->bad++;
				break;
			}
		*got += (size_t)s->n;
		urt_buf_free(&s->b);
	}
	URT_AWAIT(t, s->n = urt_recv_stream_end(t, &s->op, s->fd));
	URT_END(t);
}

static void reader_drop(struct urt_task *t, void *arg)
{
	struct reader *s = arg;

	(void)t;
	if (s->b.live)
		urt_buf_free(&s->b);
}

static const struct urt_task_type reader_type = { .poll = reader_poll,
						  .drop = reader_drop,
						  .name = "reader" };

/* Write what is due to socket i (pattern i), at most one piece, without waiting. */
static void feed(struct shared *sh, int fd, unsigned i, size_t total)
{
	uint8_t piece[WRITE_PIECE];
	size_t n = total - sh->sent[i];
	ssize_t w;

	if (n > sizeof(piece))
		n = sizeof(piece);
	if (!n)
		return;
	for (size_t k = 0; k < n; k++)
		piece[k] = pattern(i, sh->sent[i] + k);
	w = send(fd, piece, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w > 0)
		sh->sent[i] += (size_t)w;
}

struct seen {
	size_t queued_max, unread_max;
};

static void sample(struct urt_runtime *rt, struct shared *sh, struct seen *sn)
{
	struct urt_runtime_stats st = test_stats(rt);

	if (st.bufs_queued > sn->queued_max)
		sn->queued_max = st.bufs_queued;
	for (unsigned i = 0; i < NSTREAMS; i++) {
		size_t u = sh->ops[i] ? urt_recv_stream_held(sh->ops[i]) : 0;

		if (u > sn->unread_max)
			sn->unread_max = u;
	}
}

static void run_mode(const char *name, uint32_t off, uint32_t mode, bool no_limit)
{
	static struct shared sh;
	static int a[NSTREAMS + 1], b[NSTREAMS + 1];
	static struct urt_join j[NSTREAMS + 1];
	struct urt_runtime rt;
	struct urt_runtime_opts o = { .features_off = off };
	struct urt_runtime_stats st;
	struct seen sn = { 0 };
	size_t arm_bytes, pin_max, count, bundle, swept;
	uint64_t t0, out;
	bool fed;

	memset(&sh, 0, sizeof(sh));
	test_runtime_init(&rt, &o);
	if ((test_stats(&rt).features & mode) != mode) {
		printf("fairness: %s: not offered by this kernel: skipped\n", name);
		urt_runtime_deinit(&rt);
		return;
	}
	if (no_limit && !test_without_recv_limit(&rt)) {
		printf("fairness: %s: no fault seam in this build: skipped\n", name);
		urt_runtime_deinit(&rt);
		return;
	}
	count = test_stats(&rt).buf_count;
	pin_max = count / 2;	      /* the default recv_pin_max */
	arm_bytes = 16 * 4096;	      /* the default stream_queue's buffers */
	bundle = arm_bytes / 4096 + 1; /* buffers one completion may take */
	for (unsigned i = 0; i <= NSTREAMS; i++) {
		int sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		a[i] = sv[1];
		b[i] = sv[0];
		if (i < NSTREAMS)
			assert_int_equal(urt_spawn(&rt, &idler_type,
						   &(struct idler){ .sh = &sh, .i = i, .fd = b[i] },
						   sizeof(struct idler), &j[i]),
					 0);
		else
			assert_int_equal(urt_spawn(&rt, &reader_type,
						   &(struct reader){ .sh = &sh, .fd = b[i] },
						   sizeof(struct reader), &j[i]),
					 0);
	}
	for (int k = 0; k < 3; k++)
		assert_true(urt_tick(&rt, 0) >= 0);

	/* everyone sends; only the reader's task reads */
	t0 = urt_now_ns();
	do {
		fed = false;
		for (unsigned i = 0; i < NSTREAMS; i++) {
			size_t before = sh.sent[i];

			feed(&sh, a[i], i, PER_STREAM);
			fed |= sh.sent[i] != before;
			if (i % 64 == 63) {
				feed(&sh, a[NSTREAMS], NSTREAMS, READER_BYTES);
				assert_true(urt_tick(&rt, 0) >= 0);
				sample(&rt, &sh, &sn);
			}
		}
	} while ((fed || sh.got[NSTREAMS] < READER_BYTES) && urt_now_ns() - t0 < 60000000000ull);
	while (sh.got[NSTREAMS] < READER_BYTES && urt_now_ns() - t0 < 60000000000ull) {
		feed(&sh, a[NSTREAMS], NSTREAMS, READER_BYTES);
		assert_true(urt_tick(&rt, 1000000u) >= 0);
		sample(&rt, &sh, &sn);
	}
	/* a tick with nothing new: the sweep has moved what idle streams held */
	assert_true(urt_tick(&rt, 0) >= 0);
	swept = test_stats(&rt).bufs_queued;
	st = test_stats(&rt);
	printf("fairness: %s: reader got %zu of %u bytes; queued at most %zu of %zu buffers "
	       "(%zu after a quiet tick, cap %zu); fewest free %zu; enobufs %llu; spilled %llu bytes, "
	       "spill high water %zu KiB; a non-reader holds at most %zu bytes; pauses %llu\n",
	       name, sh.got[NSTREAMS], READER_BYTES, sn.queued_max, count, swept, pin_max,
	       st.bufs_free_low, (unsigned long long)st.enobufs,
	       (unsigned long long)st.recv_spilled, st.spill_high_water / 1024, sn.unread_max,
	       (unsigned long long)st.stream_pauses);

	/* the non-readers read at last: every byte, in order */
	sh.drain = true;
	while ((sh.drained < NSTREAMS || test_stats(&rt).active) &&
	       urt_now_ns() - t0 < 120000000000ull)
		assert_true(urt_tick(&rt, 1000000u) >= 0);
	for (unsigned i = 0; i <= NSTREAMS; i++) {
		assert_true(urt_join_is_finished(&j[i]));
		urt_join_take(&j[i], &out);
		close(a[i]);
		close(b[i]);
	}
	test_runtime_end(&rt);

	assert_int_equal(sh.bad, 0);
	assert_int_equal(sh.got[NSTREAMS], READER_BYTES);
	for (unsigned i = 0; i < NSTREAMS; i++)
		assert_int_equal(sh.got[i], sh.sent[i]);
	/* the ring keeps an eighth free, but for one completion's buffers */
	assert_true(sn.queued_max <= count - count / 8);
	assert_true(st.bufs_free_low + bundle >= count / 8);
	/* once its tasks have run, idle streams hold at most pin_max */
	assert_true(swept <= pin_max);
	if (!no_limit) {
		/* with the kernel's per-arm limit the bound is exact (the reader
		 * may meet an empty ring for a moment: what the kernel hands out
		 * in one batch can pass the eighth kept free; it got every byte) */
		assert_true(sn.unread_max <= arm_bytes + 4096);
		assert_true(st.spill_high_water <= (size_t)NSTREAMS * (arm_bytes + 4096));
	} else {
		/* the pause bounds a stream, late by one batch of completions */
		assert_true(sn.unread_max <= 2 * arm_bytes + 4096);
	}
}

/* --- urt_buf_hold: a task that keeps a buffer across a long wait ------------- */

struct keeper {
	struct urt_op op;
	struct urt_buf held[16];
	unsigned n;
	int fd, r;
};

static bool keeper_poll(struct urt_task *t, void *arg)
{
	struct keeper *s = *(struct keeper **)arg;

	URT_BEGIN(t);
	while (s->n < 16 && !urt_bufs_short()) {
		URT_AWAIT(t, s->r = urt_recv_stream(t, &s->op, s->fd, &s->held[s->n]));
		if (s->r <= 0)
			break;
		s->n++;
	}
	URT_AWAIT(t, s->r = urt_recv_stream_end(t, &s->op, s->fd));
	URT_END(t);
}

static const struct urt_task_type keeper_type = { .poll = keeper_poll, .name = "keeper" };

static void test_buf_hold(void **state)
{
	/* one buffer a completion, 16 of them: short below 4 free */
	struct urt_runtime rt;
	struct urt_runtime_opts o = { .buf_count = 16,
				      .recv_pin_max = 15, /* only a short ring copies */
				      .features_off = URT_FEAT_RECV_BUNDLE | URT_FEAT_BUF_INC };
	static struct keeper k;
	struct urt_buf copy;
	char piece[4096];
	size_t free_before;
	struct urt_join j;
	uint64_t out, t0;
	int sv[2];

	(void)state;
	memset(&k, 0, sizeof(k));
	test_runtime_init(&rt, &o);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	k.fd = sv[0];
	assert_int_equal(urt_spawn(&rt, &keeper_type, &(struct keeper *){ &k }, sizeof(void *), &j),
			 0);
	assert_int_equal(urt_tick(&rt, 0) >= 0, 1);
	assert_false(urt_bufs_short());
	/* one piece a tick: the keeper takes each before the next comes */
	for (unsigned i = 0; i < 16 && !urt_join_is_finished(&j); i++) {
		memset(piece, 'a' + (int)i, sizeof(piece));
		assert_int_equal(write(sv[1], piece, sizeof(piece)), (ssize_t)sizeof(piece));
		for (int w = 0; w < 100 && k.n == i && !urt_join_is_finished(&j); w++)
			assert_true(urt_tick(&rt, 1000000u) >= 0);
	}
	t0 = urt_now_ns();
	while (!urt_join_is_finished(&j) && urt_now_ns() - t0 < TEST_HANG_NS)
		assert_true(urt_tick(&rt, 1000000u) >= 0);
	urt_join_take(&j, &out);
	assert_true(urt_bufs_short());
	assert_true(k.n >= 12); /* short below 4 free: 13 held */
	/* short: the held buffer's bytes move out, its ring buffer goes back */
	free_before = test_stats(&rt).bufs_free;
	assert_int_equal(k.held[0].data[0], 'a');
	assert_int_equal(urt_buf_hold(&k.held[0]), 1);
	assert_int_equal(test_stats(&rt).bufs_free, free_before + 1);
	assert_int_equal(k.held[0].len, 4096);
	for (unsigned i = 0; i < 4096; i++)
		assert_int_equal(k.held[0].data[i], 'a');
	assert_int_equal(urt_buf_hold(&k.held[0]), 0); /* in spill memory already */
	/* a copy given back twice is refused for spill memory too */
	copy = k.held[0];
	assert_int_equal(urt_buf_free(&k.held[0]), 0);
	assert_int_equal(urt_buf_free(&copy), -EINVAL);
	assert_int_equal(urt_buf_hold(&k.held[0]), -EINVAL); /* emptied */
	for (unsigned i = 1; i < k.n; i++)
		assert_int_equal(urt_buf_free(&k.held[i]), 0);
	/* not short: urt_buf_hold leaves a buffer where it is */
	assert_false(urt_bufs_short());
	close(sv[0]);
	close(sv[1]);
	test_runtime_end(&rt);
	assert_int_equal(urt_buf_hold(&copy), -ESRCH);
	assert_false(urt_bufs_short());
}

static void test_bundles(void **state)
{
	(void)state;
	run_mode("bundles", 0, URT_FEAT_RECV_BUNDLE, false);
}

static void test_in_part(void **state)
{
	(void)state;
	run_mode("in part", URT_FEAT_RECV_BUNDLE, URT_FEAT_BUF_INC, false);
}

static void test_one_each(void **state)
{
	(void)state;
	run_mode("one buffer each", URT_FEAT_RECV_BUNDLE | URT_FEAT_BUF_INC, 0, false);
}

static void test_no_limit(void **state)
{
	(void)state;
	run_mode("no per-arm limit", URT_FEAT_BUF_INC, 0, true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bundles),
		cmocka_unit_test(test_in_part),
		cmocka_unit_test(test_one_each),
		cmocka_unit_test(test_no_limit),
		cmocka_unit_test(test_buf_hold),
	};

	test_raise_nofile("fairness", 2 * NSTREAMS + 64);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
