/* SPDX-License-Identifier: MIT */
/*
 * test_blocking.c - the blocking pool (urt/blocking.h): results, the
 * cancellation rules (a job queued, running, or back but unread when its
 * task ends: cleanup exactly once, and the slot and the drop wait for it),
 * deinit with jobs running and queued, the queue bound, and a randomized
 * stress of many tasks x jobs with aborts (seed printed). Run under
 * ThreadSanitizer by the tsan preset.
 *
 * A "gated" job blocks its worker until the test opens the gate, which is
 * how a job is held RUNNING (or others QUEUED behind it) for as long as the
 * test needs; every wait is bounded (tick_until), so a lost wake fails.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static atomic_int gate;	   /* gated jobs return once it is 1 */
static atomic_int started; /* gated jobs that began */
static atomic_int ran;	   /* fn calls, all kinds */
static int cleanups, drops, seq, cleanup_seq, drop_seq;
static int64_t cleanup_res;
static int any_returned; /* the any task's poll got past its await */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool tick_until(struct urt_runtime *rt, bool (*done)(void), uint64_t ms)
{
	uint64_t end = now_ms() + ms;

	while (!done()) {
		if (now_ms() > end)
			return false;
		assert_true(urt_tick(rt, 1000000) >= 0);
	}
	return true;
}

struct job_st {
	struct urt_job job;
	int kind; /* 0: return 7 * id; 1: gated */
	int id;
	int64_t res;
	int done;
};

/* arg: the state's {kind, id} pair */
static int64_t job_fn(void *arg)
{
	const int *spec = arg;

	atomic_fetch_add(&ran, 1);
	if (spec[0] == 1) {
		atomic_fetch_add(&started, 1);
		while (!atomic_load(&gate))
			usleep(200);
	}
	return 7 * (int64_t)spec[1];
}

static void job_cleanup(void *arg, int64_t res)
{
	(void)arg;
	cleanups++;
	cleanup_res = res;
	cleanup_seq = ++seq;
}

static bool job_poll(struct urt_task *t, void *arg)
{
	struct job_st *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->res = urt_blocking_run(t, &st->job, job_fn, &st->kind, job_cleanup));
	URT_RETURN(t, (uint64_t)st->res);
	URT_END(t);
}

static void job_drop(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	drops++;
	drop_seq = ++seq;
}

static const struct urt_task_type job_type = { .poll = job_poll, .drop = job_drop, .name = "job" };

static void reset(void)
{
	atomic_store(&gate, 0);
	atomic_store(&started, 0);
	atomic_store(&ran, 0);
	cleanups = drops = seq = cleanup_seq = drop_seq = 0;
	cleanup_res = 0;
}

static struct urt_join spawn_job(struct urt_runtime *rt, int kind, int id)
{
	struct job_st st = { .kind = kind, .id = id };
	struct urt_join h = { 0 };

	assert_int_equal(urt_spawn(rt, &job_type, &st, sizeof(st), &h), 0);
	return h;
}

static struct urt_join *g_h;
static bool joined(void)
{
	return urt_join_is_finished(g_h);
}
static bool one_started(void)
{
	return atomic_load(&started) >= 1;
}
static bool one_cleanup(void)
{
	return cleanups >= 1;
}

static void test_results(void **state)
{
	struct urt_runtime rt;
	struct urt_join h[8];
	uint64_t out;

	(void)state;
	reset();
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 2 });
	for (int i = 0; i < 8; i++)
		h[i] = spawn_job(&rt, 0, i + 1);
	assert_int_equal(urt_run(&rt), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(urt_join_take(&h[i], &out), 0);
		assert_int_equal(out, 7 * (i + 1));
	}
	assert_int_equal(cleanups, 0); /* every result was taken */
	assert_int_equal(drops, 8);
	test_runtime_end(&rt);
}

/* Queued when its task is aborted: never runs, cleanup once at once, slot back. */
static void test_abort_queued(void **state)
{
	struct urt_runtime rt;
	struct urt_join a, b;
	uint64_t out;

	(void)state;
	reset();
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 1 });
	a = spawn_job(&rt, 1, 1); /* holds the one worker */
	b = spawn_job(&rt, 0, 2); /* queued behind it */
	assert_true(tick_until(&rt, one_started, 5000));
	assert_int_equal(urt_join_abort(&b), 0);
	g_h = &b;
	assert_true(tick_until(&rt, joined, 5000));
	assert_int_equal(cleanups, 1);
	assert_int_equal(cleanup_res, -ECANCELED);
	assert_true(cleanup_seq < drop_seq); /* cleanup, then drop */
	assert_int_equal(urt_join_take(&b, &out), -ECANCELED);
	assert_int_equal(test_stats(&rt).live, 1); /* b reclaimed, a lives */
	atomic_store(&gate, 1);
	g_h = &a;
	assert_true(tick_until(&rt, joined, 5000));
	assert_int_equal(urt_join_take(&a, &out), 0);
	assert_int_equal(out, 7);
	assert_int_equal(atomic_load(&ran), 1); /* b's fn never ran */
	assert_int_equal(cleanups, 1);
	test_runtime_end(&rt);
}

/* Running when its task is aborted: the task drains; cleanup once when fn
 * returns, then drop, then the slot. */
static void test_abort_running(void **state)
{
	struct urt_runtime rt;
	struct urt_join a;
	uint64_t out;

	(void)state;
	reset();
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 1 });
	a = spawn_job(&rt, 1, 3);
	assert_true(tick_until(&rt, one_started, 5000));
	assert_int_equal(urt_join_abort(&a), 0);
	for (int i = 0; i < 5; i++)
		assert_true(urt_tick(&rt, 0) >= 0);
	assert_false(urt_join_is_finished(&a)); /* draining: fn still runs */
	assert_int_equal(cleanups, 0);
	assert_int_equal(drops, 0);
	assert_int_equal(test_stats(&rt).live, 1);
	atomic_store(&gate, 1);
	assert_true(tick_until(&rt, one_cleanup, 5000));
	g_h = &a;
	assert_true(tick_until(&rt, joined, 5000));
	assert_int_equal(cleanups, 1);
	assert_int_equal(cleanup_res, 21); /* fn's result, for cleanup to release */
	assert_int_equal(drops, 1);
	assert_true(cleanup_seq < drop_seq);
	assert_int_equal(urt_join_take(&a, &out), -ECANCELED);
	assert_int_equal(test_stats(&rt).live, 0);
	test_runtime_end(&rt);
}

/* Back but unread when the task returns (it took another branch). */
struct any_st {
	struct urt_job job;
	struct urt_op nap;
	int64_t res;
	int slept;
	int kind, id;
};

static bool any_poll(struct urt_task *t, void *arg)
{
	struct any_st *st = arg;

	URT_BEGIN(t);
	URT_AWAIT_ANY(t, st->res = urt_blocking_run(t, &st->job, job_fn, &st->kind, job_cleanup),
		      st->slept = atomic_load(&started) ? urt_sleep(t, &st->nap, 1000000)
						   : (urt_task_wake(t), URT_PENDING));
	any_returned = 1;
	URT_END(t);
}

static const struct urt_task_type any_type = { .poll = any_poll, .drop = job_drop, .name = "any" };

static bool any_ended(void)
{
	return any_returned;
}

static void gate_open_later(void)
{
	atomic_store(&gate, 1);
}

static void test_task_returns_first(void **state)
{
	struct urt_runtime rt;
	struct any_st st = { .kind = 1, .id = 4 };
	struct urt_join h = { 0 };
	uint64_t out;

	(void)state;
	reset();
	_Static_assert(offsetof(struct any_st, id) == offsetof(struct any_st, kind) + sizeof(int),
		       "job_fn reads kind, id as a job_st's");
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 1 });
	assert_int_equal(urt_spawn(&rt, &any_type, &st, sizeof(st), &h), 0);
	assert_true(tick_until(&rt, one_started, 5000));
	assert_true(tick_until(&rt, any_ended, 5000)); /* the sleep fired, the poll ended */
	assert_int_equal(drops, 0); /* the job holds the drop */
	gate_open_later();
	g_h = &h;
	assert_true(tick_until(&rt, joined, 5000));
	assert_int_equal(cleanups, 1);
	assert_true(cleanup_seq < drop_seq);
	assert_int_equal(urt_join_take(&h, &out), 0);
	test_runtime_end(&rt);
}

/*
 * Deinit with one job running and three queued: each cleanup once. The
 * gate opens once deinit waits for the worker, so after it took the queue:
 * opened earlier (it was a fixed 20 ms), the worker ran the queued jobs
 * before deinit began (1 of 5 tsan runs pinned to a CPU beside a busy loop).
 */
static atomic_int deiniting; /* the main thread is about to deinit */
static int main_tid;

static void *open_gate_soon(void *arg)
{
	(void)arg;
	while (!atomic_load(&deiniting))
		test_sleep_ms(1);
	if (!test_wait_blocked(main_tid, 10000))
		fprintf(stderr, "deinit not seen waiting for the worker: the gate opens anyway\n");
	atomic_store(&gate, 1);
	return NULL;
}

static void test_deinit_with_jobs(void **state)
{
	struct urt_runtime rt;
	pthread_t th;

	(void)state;
	reset();
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 1 });
	for (int i = 0; i < 4; i++)
		(void)spawn_job(&rt, 1, 10 + i); /* handles forgotten: deinit reclaims */
	assert_true(tick_until(&rt, one_started, 5000));
	main_tid = test_tid();
	atomic_store(&deiniting, 0);
	assert_int_equal(pthread_create(&th, NULL, open_gate_soon, NULL), 0);
	atomic_store(&deiniting, 1); /* nothing blocks from here to the worker's join */
	assert_int_equal(urt_runtime_deinit(&rt), 4);
	pthread_join(th, NULL);
	assert_int_equal(atomic_load(&ran), 1); /* the queued ones never ran */
	assert_int_equal(cleanups, 4);		 /* none was taken: each cleaned up once */
	assert_int_equal(drops, 4);
}

/* opts.blocking_queue: the one past it is refused with -EBUSY, nothing held. */
static void test_queue_full(void **state)
{
	struct urt_runtime rt;
	struct urt_join h[3];
	uint64_t out;

	(void)state;
	reset();
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 1,
							   .blocking_queue = 2 });
	for (int i = 0; i < 3; i++)
		h[i] = spawn_job(&rt, 1, i + 1);
	g_h = &h[2];
	assert_true(tick_until(&rt, joined, 5000));
	assert_int_equal(urt_join_take(&h[2], &out), 0);
	assert_int_equal((int64_t)out, -EBUSY);
	atomic_store(&gate, 1);
	assert_int_equal(urt_run(&rt), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(urt_join_take(&h[i], &out), 0);
		assert_int_equal(out, 7 * (i + 1));
	}
	assert_int_equal(cleanups, 0);
	test_runtime_end(&rt);
}

/* urt_job_cancel while queued and while running, the task going on. */
struct cancel_st {
	struct urt_job a, b;
	int kind, id; /* read by job_fn as a job_st's (gated) */
	int64_t ra, rb, rc;
	int step;
};

static bool cancel_poll(struct urt_task *t, void *arg)
{
	struct cancel_st *st = arg;

	URT_BEGIN(t);
	st->ra = urt_blocking_run(t, &st->a, job_fn, &st->kind, job_cleanup); /* runs */
	st->rb = urt_blocking_run(t, &st->b, job_fn, &st->kind, job_cleanup); /* queued */
	assert_int_equal(st->ra, URT_PENDING);
	assert_int_equal(st->rb, URT_PENDING);
	assert_int_equal(urt_job_cancel(&st->b), 0);
	assert_int_equal(cleanups, 1); /* queued: at once */
	assert_false(urt_job_busy(&st->b));
	assert_int_equal(urt_job_cancel(&st->b), -EALREADY);
	st->step = 1;
	URT_AWAIT(t, atomic_load(&started) ? 0 : (urt_task_wake(t), URT_PENDING));
	assert_int_equal(urt_job_cancel(&st->a), 0); /* running: when it returns */
	assert_int_equal(urt_blocking_run(t, &st->a, job_fn, &st->kind, job_cleanup), -EBUSY);
	st->step = 2;
	URT_AWAIT(t, urt_job_busy(&st->a) ? (urt_task_wake(t), URT_PENDING) : 0);
	URT_END(t);
}

static const struct urt_task_type cancel_type = { .poll = cancel_poll, .name = "cancel" };

static bool step2(void);
static struct cancel_st *g_cancel;
static bool step2(void)
{
	return g_cancel->step == 2;
}

static void test_job_cancel(void **state)
{
	struct urt_runtime rt;
	struct cancel_st st = { .kind = 1, .id = 5 };
	struct urt_join h = { 0 };
	uint64_t out;

	(void)state;
	reset();
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 1 });
	assert_int_equal(urt_spawn(&rt, &cancel_type, &st, sizeof(st), &h), 0);
	g_cancel = (struct cancel_st *)urt_task_state(h.task);
	assert_true(tick_until(&rt, step2, 5000));
	assert_int_equal(cleanups, 1);
	atomic_store(&gate, 1);
	g_h = &h;
	assert_true(tick_until(&rt, joined, 5000));
	assert_int_equal(cleanups, 2);
	assert_int_equal(cleanup_res, 35);
	assert_int_equal(urt_join_take(&h, &out), 0);
	assert_int_equal(atomic_load(&ran), 1);
	test_runtime_end(&rt);
}

/* --- stress -------------------------------------------------------------- */

#define S_TASKS 300
#define S_JOBS	6

static int s_cleaned[S_TASKS][S_JOBS], s_taken[S_TASKS][S_JOBS];
static atomic_int s_ran[S_TASKS][S_JOBS];

struct s_st {
	struct urt_job job;
	struct urt_op nap;
	int id, n, spin;
	int64_t res;
};

static int64_t s_fn(void *arg)
{
	struct s_st *st = arg;

	atomic_fetch_add(&s_ran[st->id][st->n], 1);
	for (volatile int i = 0; i < st->spin; i++)
		;
	return st->id * 100 + st->n;
}

static void s_cleanup(void *arg, int64_t res)
{
	struct s_st *st = arg;

	assert_true(res == -ECANCELED || res == st->id * 100 + st->n);
	if (res == -ECANCELED)
		assert_int_equal(atomic_load(&s_ran[st->id][st->n]), 0);
	s_cleaned[st->id][st->n]++;
}

static bool s_poll(struct urt_task *t, void *arg)
{
	struct s_st *st = arg;

	URT_BEGIN(t);
	for (st->n = 0; st->n < S_JOBS; st->n++) {
		URT_AWAIT(t, st->res = urt_blocking_run(t, &st->job, s_fn, st, s_cleanup));
		if (st->res == -EBUSY) { /* the queue was full: try again */
			URT_AWAIT(t, urt_sleep(t, &st->nap, 100000));
			st->n--;
			continue;
		}
		assert_int_equal(st->res, st->id * 100 + st->n);
		s_taken[st->id][st->n]++;
	}
	URT_END(t);
}

static const struct urt_task_type s_type = { .poll = s_poll, .name = "stress" };

static void test_stress(void **state)
{
	uint64_t seed = test_seed("test_blocking stress", 17);
	struct test_rng rng = { seed };
	struct urt_runtime rt;
	struct urt_join h[S_TASKS];
	int spawned = 0, ticks = 0;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 3,
							   .blocking_queue = 64 });
	memset(s_cleaned, 0, sizeof(s_cleaned));
	memset(s_taken, 0, sizeof(s_taken));
	for (int i = 0; i < S_TASKS; i++)
		for (int j = 0; j < S_JOBS; j++)
			atomic_store(&s_ran[i][j], 0);
	while ((spawned < S_TASKS || test_stats(&rt).active) && ticks++ < 200000) {
		for (int k = 0; k < 4 && spawned < S_TASKS; k++, spawned++) {
			struct s_st st = { .id = spawned, .spin = (int)test_rng_below(&rng, 20000) };

			assert_int_equal(urt_spawn(&rt, &s_type, &st, sizeof(st), &h[spawned]), 0);
		}
		if (spawned && test_rng_below(&rng, 4) == 0) {
			struct urt_join *x = &h[test_rng_below(&rng, (uint64_t)spawned)];

			if (!urt_join_is_empty(x) && !urt_join_is_finished(x))
				assert_int_equal(urt_join_abort(x), 0);
		}
		assert_true(urt_tick(&rt, 1000000) >= 0);
	}
	assert_int_equal(test_stats(&rt).active, 0);
	for (int i = 0; i < S_TASKS; i++) {
		uint64_t out;

		(void)urt_join_take(&h[i], &out);
		for (int j = 0; j < S_JOBS; j++) {
			int r = atomic_load(&s_ran[i][j]);

			assert_true(r <= 1);
			assert_true(s_cleaned[i][j] + s_taken[i][j] <= 1);
			if (r) /* a job that ran was taken or cleaned up, once */
				assert_int_equal(s_cleaned[i][j] + s_taken[i][j], 1);
		}
	}
	test_runtime_end(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_abort_queued),
		cmocka_unit_test(test_abort_running),
		cmocka_unit_test(test_task_returns_first),
		cmocka_unit_test(test_deinit_with_jobs),
		cmocka_unit_test(test_queue_full),
		cmocka_unit_test(test_job_cancel),
		cmocka_unit_test(test_stress),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
