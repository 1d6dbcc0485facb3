/* SPDX-License-Identifier: MIT */
/*
 * test_ring.c - the ring under pressure: a full SQ while a task's ops are
 * cancelled, while a stream pauses inside the reap and at park time; tiny
 * rings with deadlines; thousands of completions through a 16-entry CQ; the
 * op-record limit; ring sizes at the kernel's bounds; submissions refused
 * with -EBUSY while the CQ overflows (the simulated kernel as before 5.19).
 * No operation may be dropped, no completion applied twice, no wake lost.
 *
 * A hang here would be a lost wake-up: each test arms alarm() so it fails
 * with a message instead of waiting for the CTest timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <setjmp.h>
#include <signal.h>
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
#include "urt/fault.h"
#include "urt/urt.h"

static void on_alarm(int sig)
{
	static const char msg[] = "test_ring: hung (a lost wake-up?)\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static int setup(void **state)
{
	(void)state;
	signal(SIGALRM, on_alarm);
	alarm(60);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	alarm(0);
	return 0;
}

/* --- a full SQ while a task's op list is cancelled ----------------------------- */

/*
 * The task fills the SQ (255 NOPs and a receive: 256 SQEs, none submitted)
 * and returns. Ending it cancels its ops, and the receive's cancel needs an
 * SQE: making room must not dispatch the NOPs' completions under the walk
 * of the op list (they would free records the walk still holds).
 */
#define FILL 255

struct fill_state {
	int fd;
	struct urt_op nop[FILL], rx;
	char buf[64];
};

static unsigned fill_drops, fill_busy;

static bool fill_poll(struct urt_task *t, void *arg)
{
	struct fill_state *st = arg;

	URT_BEGIN(t);
	for (int i = 0; i < FILL; i++)
		(void)urt_nop(t, &st->nop[i]);
	(void)urt_recv(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0);
	URT_RETURN(t, 7); /* with all of it in flight */
	URT_END(t);
}

static void fill_drop(struct urt_task *t, void *arg)
{
	struct fill_state *st = arg;

	(void)t;
	fill_drops++;
	fill_busy += urt_op_busy(&st->rx);
	for (int i = 0; i < FILL; i++)
		fill_busy += urt_op_busy(&st->nop[i]);
}

static const struct urt_task_type fill_type = { .poll = fill_poll,
						.drop = fill_drop,
						.name = "fill" };

/* Run a fill task on fd to its end: its drop must find nothing busy. */
static void fill_run(struct urt_runtime *rt, int fd)
{
	static struct fill_state st;
	struct urt_join j;
	uint64_t out;

	fill_drops = fill_busy = 0;
	st.fd = fd;
	assert_int_equal(urt_spawn(rt, &fill_type, &st, sizeof(st), &j), 0);
	for (int i = 0; i < 100 && !urt_join_is_finished(&j); i++)
		assert_true(urt_tick(rt, 10000000) >= 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 7);
	assert_int_equal(fill_drops, 1);
	assert_int_equal(fill_busy, 0); /* drop ran after the kernel let go */
	test_assert_clean(rt);
}

static void test_cancel_with_sq_full(void **state)
{
	struct urt_runtime rt;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 256 });
	fill_run(&rt, sv[0]);
	assert_true(test_stats(&rt).sq_full > 0);
	/* a late write has no receive to land in */
	assert_int_equal(write(sv[1], "late", 4), 4);
	assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(test_stats(&rt).stale_cqes, 0);
	test_runtime_end(&rt);
	close(sv[0]);
	close(sv[1]);
}

/* --- streams pausing inside the reap with a 2-entry SQ ------------------------------- */

/*
 * One-byte buffers make a CQE per byte; a queue bound of one chunk record
 * pauses a stream (a cancel SQE) at its fifth unread byte; three streams
 * pause in one reap and the third finds the SQ full. Every byte must arrive
 * once, in order.
 */
#define NS     3
#define NB     5
#define NB_MAX 12 /* bytes a stream, for the -EBUSY cases below */
#define NS_MAX 5  /* streams, for the -EBUSY case in a reap batch */

struct pause_state {
	/* nb: bytes a stream (0: NB); ns: streams (0: NS) */
	int fd[NS_MAX], i, n, got[NS_MAX], nb, ns;
	struct urt_op rx[NS_MAX], nap;
	struct urt_buf b;
	char seen[NS_MAX][NB_MAX];
};

static bool pause_poll(struct urt_task *t, void *arg)
{
	struct pause_state *st = *(struct pause_state **)arg;

	URT_BEGIN(t);
	if (!st->ns)
		st->ns = NS;
	for (st->i = 0; st->i < st->ns; st->i++)
		if (urt_recv_stream(t, &st->rx[st->i], st->fd[st->i], &st->b) != URT_PENDING)
			URT_RETURN(t, 1);
	URT_AWAIT(t, urt_sleep(t, &st->nap, 100000000)); /* let the queues fill */
	if (!st->nb)
		st->nb = NB;
	for (st->i = 0; st->i < st->ns; st->i++) {
		while (st->got[st->i] < st->nb) {
			URT_AWAIT(t, st->n = urt_recv_stream(t, &st->rx[st->i], st->fd[st->i],
							     &st->b));
			if (st->n <= 0 || st->got[st->i] + st->n > st->nb)
				URT_RETURN(t, 2);
			memcpy(st->seen[st->i] + st->got[st->i], st->b.data, (size_t)st->n);
			st->got[st->i] += st->n;
			urt_buf_free(&st->b);
		}
	}
	for (st->i = 0; st->i < st->ns; st->i++) {
		urt_op_cancel(&st->rx[st->i]);
		while (urt_op_busy(&st->rx[st->i])) {
			URT_AWAIT(t, st->n = urt_recv_stream(t, &st->rx[st->i], st->fd[st->i],
							     &st->b));
			if (st->n > 0)
				URT_RETURN(t, 3); /* nothing more was sent */
		}
	}
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type pause_type = { .poll = pause_poll, .name = "pause" };

/*
 * Newer kernels end each receive arm after stream_queue buffers' worth of
 * bytes, and the pause is then never needed. Test builds make the runtime
 * believe the kernel refused that limit (the first receive fails with
 * -EINVAL at submit, through the fault seam), so the pause path runs;
 * release builds check the kernel's bound instead.
 */
static void test_pause_inside_reap_with_sq_full(void **state)
{
	struct urt_runtime rt;
	struct pause_state st = { 0 };
	struct urt_join j;
	int sv[NS][2];
	uint64_t out;
	bool pauses;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 2,
							   .buf_count = 64,
							   .buf_size = 1,
							   .stream_queue = 1 });
	pauses = test_without_recv_limit(&rt);
	for (int i = 0; i < NS; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[i]), 0);
		st.fd[i] = sv[i][0];
	}
	assert_int_equal(urt_spawn(&rt, &pause_type, &(struct pause_state *){ &st },
				   sizeof(struct pause_state *), &j),
			 0);
	assert_true(urt_tick(&rt, 0) >= 0);
	assert_true(urt_tick(&rt, 0) >= 0);
	for (int i = 0; i < NS; i++) {
		char msg[NB];

		for (int k = 0; k < NB; k++)
			msg[k] = (char)('a' + 8 * i + k);
		assert_int_equal(write(sv[i][1], msg, NB), NB);
	}
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0);
	for (int i = 0; i < NS; i++)
		for (int k = 0; k < NB; k++)
			assert_int_equal(st.seen[i][k], 'a' + 8 * i + k);
	if (pauses)
		assert_true(test_stats(&rt).stream_pauses >= NS);
	else /* the kernel ended each arm at 4 one-byte buffers */
		assert_int_equal(test_stats(&rt).stream_pauses, 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	for (int i = 0; i < NS; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

/* --- the SQ exactly full when the loop parks ------------------------------------------ */

#define PARK_N 256

struct many_state {
	struct urt_op op[PARK_N];
	int i, n, bad;
	unsigned count, rounds, r; /* rounds: of count NOPs each (0: one) */
	uint64_t deadline;
};

static bool many_poll(struct urt_task *t, void *arg)
{
	struct many_state *st = arg;

	URT_BEGIN(t);
	for (st->r = 0; st->r < (st->rounds ? st->rounds : 1); st->r++) {
		for (st->i = 0; st->i < (int)st->count; st->i++) {
			if (st->deadline)
				urt_op_set_timeout(&st->op[st->i], st->deadline);
			(void)urt_nop(t, &st->op[st->i]);
		}
		for (st->i = 0; st->i < (int)st->count; st->i++) {
			URT_AWAIT(t, st->n = urt_nop(t, &st->op[st->i]));
			st->bad += st->n != 0;
		}
	}
	URT_RETURN(t, (uint64_t)st->bad);
	URT_END(t);
}

static const struct urt_task_type many_type = { .poll = many_poll, .name = "many" };

static uint64_t run_many(struct urt_runtime *rt, unsigned count, uint64_t deadline)
{
	static struct many_state st;
	struct urt_join j;
	uint64_t out = ~0ull;

	memset(&st, 0, sizeof(st));
	st.count = count;
	st.deadline = deadline;
	assert_int_equal(urt_spawn(rt, &many_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(rt), 0); /* parks with the SQ full: must wake */
	assert_int_equal(urt_join_take(&j, &out), 0);
	return out;
}

static void test_park_with_sq_full(void **state)
{
	struct urt_runtime rt;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 256 });
	assert_int_equal(run_many(&rt, PARK_N, 0), 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

/* --- ring sizes ------------------------------------------------------------------------- */

static void test_ring_sizes(void **state)
{
	struct urt_runtime rt;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 1 }),
			 -EINVAL);
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 32769 }),
			 -EINVAL);
	assert_null(urt_runtime_current());
	/* the largest SQ: the CQ is capped at the kernel's 65536 */
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 32768 }),
			 0);
	assert_int_equal(run_many(&rt, 100, 0), 0);
	test_runtime_end(&rt);
	/* the smallest: an op with a deadline takes both entries at once */
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 2 });
	assert_int_equal(run_many(&rt, PARK_N, 1000000000), 0);
	assert_true(test_stats(&rt).sq_full > 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

/* --- many tasks on a 4-entry SQ, 5,000 completions through a 16-entry CQ ------------------- */

static void test_sq_full_many_tasks(void **state)
{
	struct urt_runtime rt;
	static struct many_state st[50];
	struct urt_join j[50];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 4 });
	for (int i = 0; i < 50; i++) {
		st[i] = (struct many_state){ .count = 200 };
		assert_int_equal(urt_spawn(&rt, &many_type, &st[i], sizeof(st[i]), &j[i]), 0);
	}
	assert_int_equal(urt_run(&rt), 0);
	for (int i = 0; i < 50; i++) {
		uint64_t out;

		assert_int_equal(urt_join_take(&j[i], &out), 0);
		assert_int_equal(out, 0);
	}
	assert_int_equal(test_stats(&rt).ops_completed, 50 * 200);
	assert_true(test_stats(&rt).sq_full > 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

static void test_cq_overflow(void **state)
{
	struct urt_runtime rt;
	struct urt_runtime_stats s;
	static struct many_state st;
	struct urt_join j;
	uint64_t out;

	(void)state;
	/* SQ 2048, CQ 16384 would hold them all; SQ 2, CQ 16 cannot */
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 2 });
	st = (struct many_state){ .count = 256 };
	for (int round = 0; round < 20; round++) {
		memset(st.op, 0, sizeof(st.op));
		st.i = st.bad = 0;
		assert_int_equal(urt_spawn(&rt, &many_type, &st, sizeof(st), &j), 0);
		assert_int_equal(urt_run(&rt), 0);
		assert_int_equal(urt_join_take(&j, &out), 0);
		assert_int_equal(out, 0);
	}
	s = test_stats(&rt);
	assert_int_equal(s.ops_completed, 20 * 256);
	assert_true(s.cq_overflow > 0); /* the kernel held completions back */
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

/* --- a submission refused with -EBUSY (a kernel before 5.19) -------------------------- */

/*
 * On the simulated kernel as a kernel before 5.19 models it (urt/sim.h,
 * busy_on_overflow): NOPs complete at submission, and a submission is
 * refused with -EBUSY while the CQ (16 entries here) overflows. The
 * runtime must make room by taking completions out of the CQ, never by
 * applying them under its caller, never by dropping an SQE (it aborted
 * before). Three callers: a poll submitting 256 NOPs through a 2-entry
 * SQ; the walk that cancels a finished task's 255 in-flight NOPs (each
 * cancel and its target complete at once); and streams pausing inside
 * the reap (a cancel SQE each, the SQ full for the third), as above.
 */
static struct urt_sim *busy_sim(struct urt_runtime *rt, uint64_t latency_ns,
				const struct urt_runtime_opts *o)
{
	struct urt_runtime_opts opts = *o;
	struct urt_sim *sim;

	assert_int_equal(urt_sim_create(&sim, &(struct urt_sim_opts){ .seed = 20,
								      .max_latency_ns = latency_ns,
								      .busy_on_overflow = true }),
			 0);
	opts.sim = sim;
	test_runtime_init(rt, &opts);
	return sim;
}

/* A busy test's end: no stale completion, the runtime clean, the
 * model's ns socket pairs closed, both torn down. */
static void busy_end(struct urt_runtime *rt, struct urt_sim *sim, int sv[][2], int ns)
{
	assert_int_equal(test_stats(rt).stale_cqes, 0);
	test_assert_clean(rt);
	for (int i = 0; i < ns; i++) {
		assert_int_equal(urt_sim_close(sim, sv[i][0]), 0);
		assert_int_equal(urt_sim_close(sim, sv[i][1]), 0);
	}
	test_runtime_end(rt);
	urt_sim_destroy(sim);
}

static void test_busy_poll_submits(void **state)
{
	struct urt_runtime rt;
	struct urt_sim *sim;

	(void)state;
	sim = busy_sim(&rt, 1, &(struct urt_runtime_opts){ .ring_entries = 2 });
	assert_int_equal(run_many(&rt, PARK_N, 0), 0);
	assert_int_equal(test_stats(&rt).ops_completed, PARK_N);
	assert_true(test_stats(&rt).cq_busy > 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	urt_sim_destroy(sim);
}

static void test_busy_cancel_walk(void **state)
{
	struct urt_runtime rt;
	struct urt_sim *sim;
	int sv[2];

	(void)state;
	/* the NOPs stay in flight until the task ends: an hour each */
	sim = busy_sim(&rt, 3600ull * 1000000000u, &(struct urt_runtime_opts){ .ring_entries = 2 });
	assert_int_equal(urt_sim_socketpair(sim, SOCK_STREAM, sv), 0);
	fill_run(&rt, sv[0]);
	assert_true(test_stats(&rt).cq_busy > 0);
	assert_int_equal(test_stats(&rt).stale_cqes, 0);
	assert_int_equal(urt_sim_close(sim, sv[0]), 0);
	assert_int_equal(urt_sim_close(sim, sv[1]), 0);
	test_runtime_end(&rt);
	urt_sim_destroy(sim);
}

/*
 * Streams pausing inside the reap, as test_pause_inside_reap_with_sq_full,
 * with 12 one-byte completions a stream, beside a task that keeps 17 NOPs
 * at a time in flight (50 rounds), so the CQ overflows at every reap: with
 * seed 20 the three pauses come while the reap applies a stash, the third
 * finds the SQ full, is refused, and stashes the CQ behind it (checked
 * once with a print). Every byte must arrive once, in order.
 */
static void test_busy_pause_inside_reap(void **state)
{
	struct urt_runtime rt;
	struct urt_sim *sim;
	struct pause_state st = { .nb = NB_MAX };
	static struct many_state noise; /* NOPs: the CQ overflows at every reap */
	struct urt_join j;
	int sv[NS][2];
	uint64_t out;

	(void)state;
	sim = busy_sim(
		&rt, 1,
		&(struct urt_runtime_opts){
			.ring_entries = 2, .buf_count = 64, .buf_size = 1, .stream_queue = 1 });
	if (!test_without_recv_limit(&rt)) { /* the sim's arms end at the bound: no pause */
		test_runtime_end(&rt);
		urt_sim_destroy(sim);
		skip();
	}
	for (int i = 0; i < NS; i++) {
		assert_int_equal(urt_sim_socketpair(sim, SOCK_STREAM, sv[i]), 0);
		st.fd[i] = sv[i][0];
	}
	assert_int_equal(urt_spawn(&rt, &pause_type, &(struct pause_state *){ &st },
				   sizeof(struct pause_state *), &j),
			 0);
	assert_true(urt_tick(&rt, 0) >= 0);
	for (int i = 0; i < NS; i++) {
		char msg[NB_MAX];

		for (int k = 0; k < NB_MAX; k++)
			msg[k] = (char)('A' + 16 * i + k);
		assert_int_equal(urt_sim_write(sim, sv[i][1], msg, NB_MAX, 0), NB_MAX);
	}
	noise = (struct many_state){ .count = 17, .rounds = 50 };
	assert_int_equal(urt_spawn(&rt, &many_type, &noise, sizeof(noise), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0);
	for (int i = 0; i < NS; i++)
		for (int k = 0; k < NB_MAX; k++)
			assert_int_equal(st.seen[i][k], 'A' + 16 * i + k);
	assert_true(test_stats(&rt).stream_pauses >= NS);
	assert_true(test_stats(&rt).cq_busy > 0);
	busy_end(&rt, sim, sv, NS);
}

/*
 * -EBUSY while a batch of the reap is part done. Five streams hold 4
 * unread one-byte entries each (a chunk record: their queue's bound),
 * and a fifth byte each is on its way. A task then prepares 14 NOPs on
 * the 2-entry SQ: at every third the SQ is full and a submit makes room,
 * an enter that also runs what is due (the NOPs, which complete at
 * submission, and the streams' bytes). The first posts the five fifth
 * bytes; before the sixth the task sends 3 more bytes a stream, and the
 * sixth fills the 16-entry CQ, the kernel holding the rest back. The
 * last 2 NOPs stay in the SQ: the tick's own enter is refused (the CQ
 * overflows) and takes nothing. Its reap's batch opens with a fifth
 * byte, which pauses its stream; the cancel finds the SQ full, the
 * submission that makes room is refused, and the 15 CQEs left of the
 * batch, then what the kernel held, go to the stash (seen once with a
 * print in urt__cq_reap, and for each of sim seeds 1-150). The stash
 * must be applied before anything newer (the cancels' completions, the
 * streams' ends): every byte arrives once, in order. No stash comes
 * before that reap (cq_busy is 0 before the sixth submit, and the fifth
 * left the CQ with room), and the wake read is not armed
 * (urt_tick(.., 0) does not park): the one the tick counts was made
 * inside urt__cq_reap. The ring's buffers only (recv_pin_max =
 * buf_count: no spill, which would join a stream's bytes and pause it
 * later).
 */
#define FLOOD_NOPS 14 /* 6 submits that make room, 2 NOPs left in the SQ */
#define FLOOD_MORE 3  /* bytes a stream sends before the last of them */

struct flood_state {
	struct urt_sim *sim;
	int peer[NS_MAX], i, n, bad;
	uint64_t busy_before; /* cq_busy before the sixth submit */
	struct urt_op op[FLOOD_NOPS];
};

/* Bytes from..to-1 of each stream's pattern, to its peer. */
static void busy_send(struct urt_sim *sim, const int *peer, int from, int to)
{
	for (int i = 0; i < NS_MAX; i++)
		for (int k = from; k < to; k++)
			assert_int_equal(urt_sim_write(sim, peer[i],
						       &(char){ (char)('A' + 8 * i + k) }, 1, 0),
					 1);
}

static bool flood_poll(struct urt_task *t, void *arg)
{
	struct flood_state *st = *(struct flood_state **)arg;

	URT_BEGIN(t);
	for (st->i = 0; st->i < FLOOD_NOPS; st->i++) {
		if (st->i == FLOOD_NOPS - 2) { /* this NOP's room is the sixth submit */
			st->busy_before = test_stats(urt_task_runtime(t)).cq_busy;
			busy_send(st->sim, st->peer, 5, 5 + FLOOD_MORE);
		}
		(void)urt_nop(t, &st->op[st->i]);
	}
	for (st->i = 0; st->i < FLOOD_NOPS; st->i++) {
		URT_AWAIT(t, st->n = urt_nop(t, &st->op[st->i]));
		st->bad += st->n != 0;
	}
	URT_RETURN(t, (uint64_t)st->bad);
	URT_END(t);
}

static const struct urt_task_type flood_type = { .poll = flood_poll, .name = "flood" };

static void test_busy_inside_reap_batch(void **state)
{
	struct urt_runtime rt;
	struct urt_sim *sim;
	struct pause_state st = { .ns = NS_MAX, .nb = 5 + FLOOD_MORE };
	struct flood_state fl = { 0 };
	struct urt_join j, fj;
	int sv[NS_MAX][2];
	uint64_t out;

	(void)state;
	sim = busy_sim(&rt, 1,
		       &(struct urt_runtime_opts){ .ring_entries = 2,
						   .buf_count = 64,
						   .buf_size = 1,
						   .stream_queue = 1,
						   .recv_pin_max = 64 });
	if (!test_without_recv_limit(&rt)) { /* the sim's arms end at the bound: no pause */
		test_runtime_end(&rt);
		urt_sim_destroy(sim);
		skip();
	}
	fl.sim = sim;
	for (int i = 0; i < NS_MAX; i++) {
		assert_int_equal(urt_sim_socketpair(sim, SOCK_STREAM, sv[i]), 0);
		st.fd[i] = sv[i][0];
		fl.peer[i] = sv[i][1];
	}
	assert_int_equal(urt_spawn(&rt, &pause_type, &(struct pause_state *){ &st },
				   sizeof(struct pause_state *), &j),
			 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* the streams armed, the task asleep */
	busy_send(sim, fl.peer, 0, 4);
	for (int i = 0; i < 100 && test_stats(&rt).bufs_queued < 4 * NS_MAX; i++)
		assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(test_stats(&rt).bufs_queued, 4 * NS_MAX);
	assert_int_equal(test_stats(&rt).stream_pauses, 0);
	assert_int_equal(test_stats(&rt).cq_busy, 0);
	busy_send(sim, fl.peer, 4, 5);
	assert_int_equal(urt_spawn(&rt, &flood_type, &(struct flood_state *){ &fl },
				   sizeof(struct flood_state *), &fj),
			 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* the flood, then the reap */
	assert_int_equal(fl.busy_before, 0);
	assert_true(test_stats(&rt).cq_busy > 0);
	assert_true(test_stats(&rt).stream_pauses > 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&fj, &out), 0);
	assert_int_equal(out, 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0);
	for (int i = 0; i < NS_MAX; i++)
		for (int k = 0; k < 5 + FLOOD_MORE; k++)
			assert_int_equal(st.seen[i][k], 'A' + 8 * i + k);
	assert_true(test_stats(&rt).stream_pauses >= NS_MAX);
	busy_end(&rt, sim, sv, NS_MAX);
}

/* --- the op-record limit -------------------------------------------------------------- */

struct limit_state {
	struct urt_op op[9];
	int r[9], again, i;
};

static bool limit_poll(struct urt_task *t, void *arg)
{
	struct limit_state *st = *(struct limit_state **)arg;

	URT_BEGIN(t);
	for (int i = 0; i < 9; i++)
		st->r[i] = urt_nop(t, &st->op[i]);
	for (st->i = 0; st->i < 8; st->i++)
		URT_AWAIT(t, urt_nop(t, &st->op[st->i]));
	URT_AWAIT(t, st->again = urt_nop(t, &st->op[8])); /* a record is free again */
	URT_END(t);
}

static const struct urt_task_type limit_type = { .poll = limit_poll, .name = "limit" };

static void test_op_record_limit(void **state)
{
	struct urt_runtime rt;
	struct limit_state st = { 0 };
	struct urt_join j;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .op_records = 8 });
	assert_int_equal(urt_spawn(&rt, &limit_type, &(struct limit_state *){ &st },
				   sizeof(struct limit_state *), &j),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(st.r[i], URT_PENDING);
	assert_int_equal(st.r[8], -EAGAIN);
	assert_int_equal(st.again, 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

/* --- urt_nop's paths: the inline submission and the rest ---------------------------- */

/*
 * NOPs submitted inline (a record from the stack, room in the SQ) and by
 * the full path (a deadline), around a receive that stays in flight, so
 * that completions leave the task's list from its tail, its head and its
 * middle; then the refusals, which must leave nothing behind.
 */
struct paths_state {
	int fd, peer;
	struct urt_op a, b, timed, rx, idle;
	char buf[8];
	int ra, rb, rtimed, rrx, busy_null;
	ssize_t sent;
};

static bool paths_poll(struct urt_task *t, void *arg)
{
	struct paths_state *st = *(struct paths_state **)arg;

	URT_BEGIN(t);
	(void)urt_nop(t, &st->a);
	(void)urt_recv(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0);
	urt_op_set_timeout(&st->timed, 1000000000ull);
	(void)urt_nop(t, &st->timed);
	(void)urt_nop(t, &st->b); /* the list: b, timed, rx, a */
	URT_AWAIT(t, st->rb = urt_nop(t, &st->b));
	URT_AWAIT(t, st->ra = urt_nop(t, &st->a));
	URT_AWAIT(t, st->rtimed = urt_nop(t, &st->timed));
	st->busy_null = urt_nop(NULL, &st->idle);
	st->sent = send(st->peer, "x", 1, 0);
	URT_AWAIT(t, st->rrx = urt_recv(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0));
	URT_END(t);
}

static const struct urt_task_type paths_type = { .poll = paths_poll, .name = "paths" };

static void test_nop_paths(void **state)
{
	struct urt_runtime rt;
	struct paths_state st;
	struct urt_op op = { 0 };
	struct urt_join j;
	int sv[2];

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_int_equal(urt_nop(NULL, &op), -ESRCH); /* no runtime on this thread */
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	st.fd = sv[0];
	st.peer = sv[1];
	assert_int_equal(urt_nop(NULL, &op), -EBUSY); /* outside a poll */
	assert_int_equal(urt_spawn(&rt, &paths_type, &(struct paths_state *){ &st },
				   sizeof(struct paths_state *), &j),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	assert_int_equal(st.ra, 0);
	assert_int_equal(st.rb, 0);
	assert_int_equal(st.rtimed, 0);
	assert_int_equal(st.sent, 1);
	assert_int_equal(st.rrx, 1);
	assert_int_equal(st.busy_null, -EBUSY);
	assert_int_equal(st.idle.state, URT_OP_IDLE);
	assert_int_equal(test_stats(&rt).ops_submitted, 4); /* a linked timeout is not counted */
	assert_int_equal(test_stats(&rt).ops_live, 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(sv[0]);
	close(sv[1]);
}

/* --- the socket and file ops' inline submission (urt_send, urt_recv, ...) ---------- */

/*
 * urt_send, urt_recv, urt_read, urt_write, urt_splice and urt_close take
 * urt_nop's inline path when they can (urt__op_fast_begin). Each batch
 * here is three times the SQ (4 entries) in one poll, so the inline path
 * meets a full SQ again and again and must hand over to the full path,
 * which submits early: nothing dropped, every result right. Then the
 * refusals the inline path decides too: a buffer in the frame arena
 * (once the arena has a chunk, and once it has two), a deadline.
 */
#define FP_N 12

struct fp_state {
	int sv[2], pipe[2], dups[FP_N];
	struct urt_op op[FP_N], timed;
	struct urt_io_all all;
	char in[FP_N], pin[FP_N];
	int r_send[FP_N], r_recv[FP_N], r_write[FP_N], r_read[FP_N], r_close[FP_N];
	int r_splice, r_frame1, r_frame2, r_timed, r_all;
	bool frame_ok;
	int i;
};

static int cmp_char(const void *a, const void *b)
{
	return *(const char *)a - *(const char *)b;
}

static bool fp_poll(struct urt_task *t, void *arg)
{
	struct fp_state *st = *(struct fp_state **)arg;
	static const char out[FP_N + 1] = "abcdefghijkl";
	char *fb;

	URT_BEGIN(t);
	for (st->i = 0; st->i < FP_N; st->i++)
		st->r_send[st->i] = urt_send(t, &st->op[st->i], st->sv[0], out + st->i, 1, 0);
	for (st->i = 0; st->i < FP_N; st->i++)
		URT_AWAIT(t, st->r_send[st->i] =
				     urt_send(t, &st->op[st->i], st->sv[0], out + st->i, 1, 0));
	for (st->i = 0; st->i < FP_N; st->i++)
		(void)urt_recv(t, &st->op[st->i], st->sv[1], st->in + st->i, 1, 0);
	for (st->i = 0; st->i < FP_N; st->i++)
		URT_AWAIT(t, st->r_recv[st->i] =
				     urt_recv(t, &st->op[st->i], st->sv[1], st->in + st->i, 1, 0));
	for (st->i = 0; st->i < FP_N; st->i++)
		(void)urt_write(t, &st->op[st->i], st->pipe[1], out + st->i, 1, -1);
	for (st->i = 0; st->i < FP_N; st->i++)
		URT_AWAIT(t, st->r_write[st->i] =
				     urt_write(t, &st->op[st->i], st->pipe[1], out + st->i, 1, -1));
	for (st->i = 0; st->i < FP_N; st->i++)
		(void)urt_read(t, &st->op[st->i], st->pipe[0], st->pin + st->i, 1, -1);
	for (st->i = 0; st->i < FP_N; st->i++)
		URT_AWAIT(t, st->r_read[st->i] = urt_read(t, &st->op[st->i], st->pipe[0],
							  st->pin + st->i, 1, -1));
	for (st->i = 0; st->i < FP_N; st->i++)
		(void)urt_close(t, &st->op[st->i], st->dups[st->i]);
	for (st->i = 0; st->i < FP_N; st->i++)
		URT_AWAIT(t, st->r_close[st->i] = urt_close(t, &st->op[st->i], st->dups[st->i]));
	/* a splice of what a send put in the socket, to the pipe */
	URT_AWAIT(t, st->r_all = urt_send_all(t, &st->all, st->sv[0], out, 3));
	URT_AWAIT(t,
		  st->r_splice = urt_splice(t, &st->op[0], st->sv[1], -1, st->pipe[1], -1, 3, 0));
	/* refused before anything is taken, whichever path decides */
	fb = urt_frame_alloc(16, 16);
	st->r_frame1 = urt_send(t, &st->op[0], st->sv[0], fb, 16, 0);
	st->frame_ok = fb && urt_frame_alloc(128 * 1024, 16); /* a second chunk */
	st->r_frame2 = urt_recv(t, &st->op[0], st->sv[1], fb, 16, 0);
	urt_op_set_timeout(&st->timed, 1000000000ull); /* a deadline: the full path */
	URT_AWAIT(t, st->r_timed = urt_send(t, &st->timed, st->sv[0], out, 1, 0));
	URT_END(t);
}

static const struct urt_task_type fp_type = { .poll = fp_poll, .name = "fast paths" };

/* The descriptors the fast-path tests use: a socket pair, a pipe, and
 * FP_N duplicates of the pipe's read end for the closes. */
static void fp_open(struct fp_state *st)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st->sv), 0);
	assert_int_equal(pipe(st->pipe), 0);
	for (int i = 0; i < FP_N; i++)
		assert_true((st->dups[i] = dup(st->pipe[0])) >= 0);
}

static void fp_end(struct urt_runtime *rt, struct fp_state *st)
{
	test_assert_clean(rt);
	test_runtime_end(rt);
	close(st->sv[0]);
	close(st->sv[1]);
	close(st->pipe[0]);
	close(st->pipe[1]);
}

static void test_io_fast_paths_sq_full(void **state)
{
	struct urt_runtime rt;
	struct fp_state st;
	struct urt_join j;
	char got[FP_N + 8];

	(void)state;
	memset(&st, 0, sizeof(st));
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 4 });
	fp_open(&st);
	assert_int_equal(urt_spawn(&rt, &fp_type, &(struct fp_state *){ &st },
				   sizeof(struct fp_state *), &j),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	for (int i = 0; i < FP_N; i++) {
		assert_int_equal(st.r_send[i], 1);
		assert_int_equal(st.r_recv[i], 1);
		assert_int_equal(st.r_write[i], 1);
		assert_int_equal(st.r_read[i], 1);
		assert_int_equal(st.r_close[i], 0);
		assert_int_equal(fcntl(st.dups[i], F_GETFD), -1); /* closed by the ring */
	}
	/* every byte once: a dropped or overwritten SQE loses or repeats one */
	qsort(st.in, FP_N, 1, cmp_char);
	qsort(st.pin, FP_N, 1, cmp_char);
	assert_memory_equal(st.in, "abcdefghijkl", FP_N);
	assert_memory_equal(st.pin, "abcdefghijkl", FP_N);
	assert_int_equal(st.r_all, 3);
	assert_int_equal(st.r_splice, 3);
	assert_int_equal(read(st.pipe[0], got, sizeof(got)), 3);
	assert_memory_equal(got, "abc", 3);
	assert_true(st.frame_ok);
	assert_int_equal(st.r_frame1, -EFAULT);
	assert_int_equal(st.r_frame2, -EFAULT);
	assert_int_equal(st.r_timed, 1);
	assert_int_equal(read(st.sv[1], got, sizeof(got)), 1);
	assert_int_equal(test_stats(&rt).ops_submitted, 5 * FP_N + 3);
	fp_end(&rt, &st);
}

/*
 * An abort that comes after the inline submission but before the kernel
 * has seen the SQE (in the same poll): the operation must be on the
 * task's list, so the abort cancels it and the task's drop waits for its
 * end. The victim sends (completes) and receives on an empty socket
 * (stays in flight), then aborts itself through its join handle. Were a
 * record not on the list, the drop would run at once, under the receive.
 */
struct fpa_state {
	int fd;
	struct urt_op tx, rx;
	char buf[8];
	struct urt_join victim;
	bool dropped, inflight_at_abort, busy_at_drop;
	int abort_ret;
};

static bool fpa_poll(struct urt_task *t, void *arg)
{
	struct fpa_state *st = *(struct fpa_state **)arg;

	URT_BEGIN(t);
	/* two records freed onto the stack: the inline path takes one from there */
	(void)urt_nop(t, &st->tx);
	URT_AWAIT(t, urt_nop(t, &st->rx));
	URT_AWAIT(t, urt_nop(t, &st->tx));
	(void)urt_send(t, &st->tx, st->fd, "x", 1, 0);
	(void)urt_recv(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0);
	st->inflight_at_abort = urt_op_busy(&st->tx) && urt_op_busy(&st->rx);
	st->abort_ret = urt_join_abort(&st->victim);
	URT_AWAIT(t, urt_recv(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0));
	URT_END(t);
}

static void fpa_drop(struct urt_task *t, void *arg)
{
	struct fpa_state *st = *(struct fpa_state **)arg;

	(void)t;
	st->dropped = true;
	/* the reclaim rule: the kernel is done with the buffers first */
	st->busy_at_drop = urt_op_busy(&st->tx) || urt_op_busy(&st->rx);
}

static const struct urt_task_type fpa_type = { .poll = fpa_poll,
					       .drop = fpa_drop,
					       .name = "victim" };

static void test_io_fast_paths_abort(void **state)
{
	struct urt_runtime rt;
	struct fpa_state st = { 0 };
	int sv[2];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	st.fd = sv[0];
	assert_int_equal(urt_spawn(&rt, &fpa_type, &(struct fpa_state *){ &st },
				   sizeof(struct fpa_state *), &st.victim),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&st.victim, NULL), -ECANCELED);
	assert_true(st.inflight_at_abort);
	assert_int_equal(st.abort_ret, 0);
	assert_true(st.dropped);
	assert_false(st.busy_at_drop);
	assert_int_equal(st.rx.res, -ECANCELED);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(sv[0]);
	close(sv[1]);
}

/*
 * With a fault hook installed every submission must reach it (the inline
 * path steps aside): each send, receive, write, read and close is
 * counted by the hook, and a failure it injects is the op's result.
 * Builds without the seam (release) skip.
 */
static unsigned fpf_seen[64];

static int fpf_submit(void *ctx, unsigned opcode, uint32_t *len)
{
	(void)ctx, (void)len;
	fpf_seen[opcode & 63]++;
	return opcode == IORING_OP_SEND ? -ECONNRESET : 0;
}

static void test_io_fast_paths_faults(void **state)
{
	static const struct urt_fault f = { .submit = fpf_submit };
	struct urt_runtime rt;
	struct fp_state st;
	struct urt_join j;

	(void)state;
	memset(&st, 0, sizeof(st));
	memset(fpf_seen, 0, sizeof(fpf_seen));
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 4 });
	if (urt_fault_set(&rt, &f) == -ENOTSUP) {
		test_runtime_end(&rt);
		skip();
	}
	fp_open(&st);
	/* the sends fail, so the receives would wait: the bytes come from here */
	assert_int_equal(write(st.sv[0], "abcdefghijkl", FP_N), FP_N);
	assert_int_equal(urt_spawn(&rt, &fp_type, &(struct fp_state *){ &st },
				   sizeof(struct fp_state *), &j),
			 0);
	/* the task stops at the splice, which waits for bytes no send brings */
	for (int i = 0; i < 200 && fpf_seen[IORING_OP_SPLICE] == 0; i++)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_int_equal(fpf_seen[IORING_OP_SEND], FP_N + 1); /* the batch, urt_send_all */
	assert_int_equal(fpf_seen[IORING_OP_RECV], FP_N);
	assert_int_equal(fpf_seen[IORING_OP_WRITE], FP_N);
	assert_int_equal(fpf_seen[IORING_OP_READ], FP_N);
	assert_int_equal(fpf_seen[IORING_OP_CLOSE], FP_N);
	assert_int_equal(fpf_seen[IORING_OP_SPLICE], 1);
	for (int i = 0; i < FP_N; i++) {
		assert_int_equal(st.r_send[i], -ECONNRESET);
		assert_int_equal(st.r_recv[i], 1);
		assert_int_equal(st.r_close[i], 0);
	}
	assert_int_equal(st.r_all, -ECONNRESET);
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), -ECANCELED);
	assert_int_equal(urt_fault_set(&rt, NULL), 0);
	fp_end(&rt, &st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cancel_with_sq_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pause_inside_reap_with_sq_full, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_park_with_sq_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sq_full_many_tasks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cq_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_op_record_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nop_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_fast_paths_sq_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_fast_paths_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_fast_paths_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_poll_submits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_cancel_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_pause_inside_reap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_inside_reap_batch, setup, teardown),
	};
	if (getenv("URT_TEST_FILTER")) /* run only the tests matching it */
		cmocka_set_test_filter(getenv("URT_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
