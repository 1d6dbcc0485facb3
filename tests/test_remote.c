/* SPDX-License-Identifier: MIT */
/*
 * test_remote.c - other threads: remote wakes (none lost), remote spawns,
 * wakers keeping slots alive. Run under ThreadSanitizer by `make tsan`.
 *
 * A lost wake shows as a task that never sees the final count: every wait
 * here is bounded by a deadline, so it fails instead of hanging.
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
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

#define THREADS 4
#define WAKES	100000 /* fire-and-forget: most coalesce, the last must not be lost */
#define PINGS	5000   /* each waits for the task to see it: park/wake every time */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Tick until done() or the deadline; true if done. */
static bool tick_until(struct urt_runtime *rt, bool (*done)(void), uint64_t ms)
{
	uint64_t end = now_ms() + ms;

	while (!done() && now_ms() < end)
		assert_true(urt_tick(rt, 50 * 1000000ull) >= 0);
	return done();
}

/* --- wakes ---------------------------------------------------------------- */

struct shared {
	struct urt_waker *w[THREADS];
	atomic_uint_fast64_t sent[THREADS];
	atomic_uint_fast64_t seen[THREADS]; /* what the task saw, for the pings */
	atomic_int threads_done;
	atomic_bool timed_out;
	atomic_bool go;
	uint64_t polls;
	bool finished;
	int ret;
};

static struct shared sh;

static bool watch_poll(struct urt_task *t, void *arg)
{
	uint64_t total = 0;

	(void)arg;
	sh.polls++;
	if (sh.polls == 1) {
		for (int i = 0; i < THREADS; i++) {
			sh.ret = urt_waker_new(t, &sh.w[i]);
			if (sh.ret)
				return true;
		}
		atomic_store(&sh.go, true);
		return false; /* parked: only a remote wake brings it back */
	}
	for (int i = 0; i < THREADS; i++) {
		uint64_t n = atomic_load(&sh.sent[i]);

		atomic_store(&sh.seen[i], n);
		total += n;
	}
	if (atomic_load(&sh.threads_done) < THREADS || total < (uint64_t)THREADS * (WAKES + PINGS))
		return false;
	sh.finished = true;
	return true;
}

static const struct urt_task_type watch_type = { .poll = watch_poll, .name = "watch" };

static void *waker_thread(void *arg)
{
	int i = (int)(intptr_t)arg;

	while (!atomic_load(&sh.go))
		;
	for (int k = 0; k < WAKES; k++) {
		atomic_fetch_add(&sh.sent[i], 1);
		urt_waker_wake(sh.w[i]);
	}
	uint64_t end = now_ms() + 60000;
	for (int k = 0; k < PINGS && !atomic_load(&sh.timed_out); k++) {
		uint64_t s = atomic_fetch_add(&sh.sent[i], 1) + 1;

		urt_waker_wake(sh.w[i]);
		while (atomic_load(&sh.seen[i]) < s) { /* the owner is parked: wake it */
			if (now_ms() > end) {
				atomic_store(&sh.timed_out, true); /* a lost wake */
				break;
			}
			sched_yield();
		}
	}
	atomic_fetch_add(&sh.threads_done, 1);
	urt_waker_wake(sh.w[i]); /* the last word: must not be lost either */
	urt_waker_free(sh.w[i]);
	return NULL;
}

static bool watch_done(void)
{
	return sh.finished;
}

static bool all_reclaimed_rt(void);
static struct urt_runtime *cur;

static bool all_reclaimed_rt(void)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(cur, &st);
	return st.live == 0;
}

static void test_remote_wakes_none_lost(void **state)
{
	struct urt_runtime rt;
	struct urt_runtime_stats st;
	pthread_t th[THREADS];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									   .slab_slots = 4 });
	cur = &rt;
	assert_int_equal(urt_spawn_slab(&watch_type, NULL, 0, NULL), 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(sh.ret, 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, waker_thread, (void *)(intptr_t)i),
				 0);
	assert_true(tick_until(&rt, watch_done, 90000));
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	assert_false(atomic_load(&sh.timed_out));
	/* the finished task is reclaimed once every waker is freed */
	assert_true(tick_until(&rt, all_reclaimed_rt, 10000));
	urt_runtime_stats(&rt, &st);
	print_message("remote wakes: %llu sent, %llu taken in, %llu polls, %llu parks\n",
		      (unsigned long long)THREADS * (WAKES + PINGS + 1),
		      (unsigned long long)st.wakes_remote, (unsigned long long)sh.polls,
		      (unsigned long long)st.parks);
	assert_true(st.wakes_remote >= PINGS); /* every ping was a separate wake */
	assert_true(st.wakes_remote <= (uint64_t)THREADS * (WAKES + PINGS + 1));
	assert_true(sh.polls <= st.wakes_remote + 1); /* a queued task is not queued twice */
	assert_int_equal(rt.wakers.live, 0);
	assert_int_equal(urt_slab_used(&rt.slab), 0);
	test_runtime_end(&rt);
}

/* --- remote spawns ---------------------------------------------------------- */

#define SPAWNS 2000

static uint64_t ran;	   /* owner thread only */
static atomic_int dropped; /* drops of spawns that never ran */

struct inc_state {
	uint64_t add;
};

static bool inc_poll(struct urt_task *t, void *arg)
{
	(void)t;
	ran += ((struct inc_state *)arg)->add;
	return true;
}

static void inc_drop(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	atomic_fetch_add(&dropped, 1);
}

static const struct urt_task_type inc_type = { .poll = inc_poll, .drop = inc_drop, .name = "inc" };

static void *spawner_thread(void *arg)
{
	struct urt_runtime *rt = arg;

	for (int k = 0; k < SPAWNS; k++)
		if (urt_spawn_remote(rt, &inc_type, &(struct inc_state){ 1 },
				     sizeof(struct inc_state)))
			abort();
	return NULL;
}

static bool spawns_done(void)
{
	return ran == (uint64_t)THREADS * SPAWNS;
}

static void test_remote_spawns(void **state)
{
	struct urt_runtime rt;
	struct urt_runtime_stats st;
	pthread_t th[THREADS];

	(void)state;
	ran = 0;
	atomic_store(&dropped, 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	cur = &rt;
	assert_int_equal(urt_spawn_remote(&rt, NULL, NULL, 0), -EINVAL);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, spawner_thread, &rt), 0);
	assert_true(tick_until(&rt, spawns_done, 60000));
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.spawned_remote, (uint64_t)THREADS * SPAWNS);
	assert_int_equal(st.completed, (uint64_t)THREADS * SPAWNS);
	assert_int_equal(st.live, 0);
	assert_int_equal(atomic_load(&dropped), THREADS * SPAWNS); /* drop ran for each */
	/* spawns that arrive but never run are dropped and freed at deinit */
	for (int k = 0; k < 10; k++)
		assert_int_equal(urt_spawn_remote(&rt, &inc_type, &(struct inc_state){ 1 },
						  sizeof(struct inc_state)),
				 0);
	assert_int_equal(urt_runtime_deinit(&rt), 10);
	assert_int_equal(atomic_load(&dropped), THREADS * SPAWNS + 10);
	assert_int_equal(ran, (uint64_t)THREADS * SPAWNS);
}

/* --- a waker keeps a finished task's slot ------------------------------------ */

static struct urt_waker *kept;

static bool keep_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	return urt_waker_new(t, &kept) == 0;
}

static const struct urt_task_type keep_type = { .poll = keep_poll, .name = "keep" };

static void *free_thread(void *arg)
{
	(void)arg;
	urt_waker_wake(kept); /* waking a finished task is harmless */
	urt_waker_free(kept);
	return NULL;
}

static void test_waker_keeps_slot_until_freed(void **state)
{
	struct urt_runtime rt;
	pthread_t th;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									   .slab_slots = 2 });
	cur = &rt;
	assert_int_equal(urt_spawn_slab(&keep_type, NULL, 0, NULL), 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(rt.active, 0);	   /* finished ... */
	assert_int_equal(urt_slab_used(&rt.slab), 1); /* ... but the waker holds the slot */
	assert_int_equal(pthread_create(&th, NULL, free_thread, NULL), 0);
	pthread_join(th, NULL);
	assert_true(tick_until(&rt, all_reclaimed_rt, 10000));
	assert_int_equal(urt_slab_used(&rt.slab), 0);
	test_runtime_end(&rt);
}

/* --- a parked runtime is woken by a remote spawn ------------------------------- */

/*
 * The spawn comes once the owner sleeps in its tick: after a fixed 20 ms
 * instead, an owner slower than that to reach the tick found the spawn
 * queued and never parked (parks 0 != 1: 6 of 30 tsan runs pinned to one
 * CPU beside a busy loop).
 */
static atomic_int owner_ticking; /* the owner is about to tick */
static int owner_tid;

static void *late_spawner(void *arg)
{
	while (!atomic_load(&owner_ticking))
		test_sleep_ms(1);
	if (!test_wait_blocked(owner_tid, 10000))
		fprintf(stderr, "the owner not seen parked: spawning anyway\n");
	if (urt_spawn_remote(arg, &inc_type, &(struct inc_state){ 5 }, sizeof(struct inc_state)))
		abort();
	return NULL;
}

static void test_parked_runtime_woken_by_remote_spawn(void **state)
{
	struct urt_runtime rt;
	struct urt_runtime_stats st;
	pthread_t th;
	uint64_t t0;

	(void)state;
	ran = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	owner_tid = test_tid();
	atomic_store(&owner_ticking, 0);
	assert_int_equal(pthread_create(&th, NULL, late_spawner, &rt), 0);
	atomic_store(&owner_ticking, 1); /* nothing blocks from here to the tick's wait */
	t0 = now_ms();
	/* one tick that may wait 30 s: it must come back as soon as the
	 * spawn arrives, through the eventfd read armed in the ring */
	assert_true(urt_tick(&rt, 30000 * 1000000ull) >= 0);
	assert_true(now_ms() - t0 < 10000);
	pthread_join(th, NULL);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.parks, 1);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(ran, 5);
	test_runtime_end(&rt);
}

/* --- a queued remote spawn at deinit gets a real header (defect 1) ---------- */

static char drop_name[32];
static void *drop_alloc;
static uint64_t drop_spawned_remote, drop_aborted;

static void look_drop(struct urt_task *t, void *arg)
{
	struct urt_runtime_stats st;

	(void)arg;
	snprintf(drop_name, sizeof(drop_name), "%s", urt_task_name(t));
	drop_alloc = urt_task_alloc(t, 48); /* freed with the task */
	urt_runtime_stats(urt_runtime_current(), &st);
	drop_spawned_remote = st.spawned_remote;
	drop_aborted = st.aborted;
}

static const struct urt_task_type look_type = { .poll = inc_poll,
						.drop = look_drop,
						.name = "queued-remote" };

static void test_queued_remote_spawn_dropped_with_valid_header(void **state)
{
	struct urt_runtime rt;

	(void)state;
	drop_name[0] = 0;
	drop_alloc = NULL;
	ran = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn_remote(&rt, &look_type, &(struct inc_state){ 1 },
					  sizeof(struct inc_state)),
			 0);
	assert_int_equal(urt_runtime_deinit(&rt), 1); /* never ticked: aborted at deinit */
	assert_int_equal(ran, 0);
	assert_string_equal(drop_name, "queued-remote");
	assert_non_null(drop_alloc);
	assert_int_equal(drop_spawned_remote, 1);
	/* the drop runs as the abort is carried out: counted right after it */
	assert_int_equal(drop_aborted, 0);
}

/* --- no memory for a remote spawn: retried next tick, never a spin (defect 2) -- */

static bool park_poll(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	return false; /* parked for good: holds a registry entry */
}

static const struct urt_task_type park_type = { .poll = park_poll, .name = "park" };

static struct test_alloc *oom_inner;
static bool oom;

/* the test allocator, failing every call while `oom` is set */
static void *oom_alloc(void *ctx, size_t size, size_t align)
{
	(void)ctx;
	return oom ? NULL : oom_inner->al.alloc(oom_inner->al.ctx, size, align);
}

static void oom_free(void *ctx, void *p, size_t size, size_t align)
{
	(void)ctx;
	oom_inner->al.free(oom_inner->al.ctx, p, size, align);
}

static void test_remote_spawn_without_memory_retries(void **state)
{
	struct urt_runtime rt;
	struct test_alloc ta;
	struct urt_allocator al = { .alloc = oom_alloc, .free = oom_free };
	struct urt_runtime_stats st;
	int n;

	(void)state;
	ran = 0;
	test_alloc_init(&ta);
	oom_inner = &ta;
	oom = false;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .allocator = &al });
	/* fill the registry to its first capacity (256), so one more must grow it */
	for (n = 0; rt.nreg < rt.reg_cap; n++)
		assert_int_equal(urt_spawn(&rt, &park_type, NULL, 0, NULL), 0);
	assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(urt_spawn_remote(&rt, &inc_type, &(struct inc_state){ 7 },
					  sizeof(struct inc_state)),
			 0);
	oom = true; /* the registry cannot grow ... */
	alarm(20);  /* ... and a spinning tick would never return */
	for (int i = 0; i < 5; i++)
		assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(ran, 0);
	oom = false; /* memory again: the held spawn goes in, in order */
	assert_true(urt_tick(&rt, 0) >= 0);
	assert_true(urt_tick(&rt, 0) >= 0);
	alarm(0);
	assert_int_equal(ran, 7);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.spawned_remote, 1);
	assert_int_equal(urt_runtime_deinit(&rt), (size_t)n);
	assert_int_equal(ta.live_blocks, 0);
}

/* --- deinit while producers are still inside their calls (defect 6) ---------- */

#define CLOSE_ROUNDS 200

static struct urt_waker *race_w;
static atomic_int race_go;

static bool race_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	if (!race_w) {
		if (urt_waker_new(t, &race_w))
			abort();
		atomic_store(&race_go, 1);
	}
	return false;
}

static const struct urt_task_type race_type = { .poll = race_poll, .name = "race" };

static void *race_thread(void *arg)
{
	struct urt_runtime *rt = arg;

	while (!atomic_load(&race_go))
		sched_yield();
	urt_waker_wake(race_w);
	if (urt_spawn_remote(rt, &inc_type, &(struct inc_state){ 1 }, sizeof(struct inc_state)))
		abort();
	urt_waker_free(race_w); /* the owner may deinit as soon as it sees this */
	/* a late spawn: refused once deinit has begun, accepted before it */
	int ret =
		urt_spawn_remote(rt, &inc_type, &(struct inc_state){ 1 }, sizeof(struct inc_state));
	if (ret && ret != -ESHUTDOWN)
		abort();
	return NULL;
}

static void test_deinit_waits_for_callers(void **state)
{
	(void)state;
	for (int round = 0; round < CLOSE_ROUNDS; round++) {
		struct urt_runtime rt;
		struct urt_runtime_stats st;
		pthread_t th;
		uint64_t end = now_ms() + 10000;

		race_w = NULL;
		atomic_store(&race_go, 0);
		ran = 0;
		test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
		assert_int_equal(urt_spawn(&rt, &race_type, NULL, 0, NULL), 0);
		assert_int_equal(pthread_create(&th, NULL, race_thread, &rt), 0);
		/* tick until the waker was freed and the first spawn ran, then tear
		 * down at once, while the thread may still be inside a call */
		do {
			assert_true(urt_tick(&rt, 1000000) >= 0);
			urt_runtime_stats(&rt, &st);
		} while ((ran < 1 || rt.wakers.live) && now_ms() < end);
		assert_true(ran >= 1);
		urt_runtime_deinit(&rt);
		pthread_join(th, NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_wakes_none_lost),
		cmocka_unit_test(test_remote_spawns),
		cmocka_unit_test(test_waker_keeps_slot_until_freed),
		cmocka_unit_test(test_parked_runtime_woken_by_remote_spawn),
		cmocka_unit_test(test_queued_remote_spawn_dropped_with_valid_header),
		cmocka_unit_test(test_remote_spawn_without_memory_retries),
		cmocka_unit_test(test_deinit_waits_for_callers),
	};

	return cmocka_run_group_tests_name("remote", tests, NULL, NULL);
}
