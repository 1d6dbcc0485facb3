/* SPDX-License-Identifier: MIT */
/*
 * test_review20.c - a hostile review of issue 20's executor, timer and slab
 * cuts (the lazy registry, the quiet end, urt_spawn_slab's inline case and
 * its rt->fast_* cache, the op records' pool of indices), kept as guards.
 *
 * The inline spawn only runs where the slab's fast paths do (release and
 * TSan builds): debug and ASan slabs keep every call on the slow path, so
 * each case here is worth running in both kinds of build.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static int drops, shutdown_spawns;
static struct urt_runtime *seen_rt;
static int seen_bad;

struct word_state {
	uint64_t w[2];
};

/* Checks its runtime from its first poll; ends at once, quietly. */
static bool probe_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	if (urt_task_runtime(t) != seen_rt)
		seen_bad++;
	return true;
}

static const struct urt_task_type probe_type = { .poll = probe_poll, .name = "probe" };

static void note_drop(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	drops++;
}

/* Parks forever; its drop tries to spawn one of its own kind (deinit
 * must refuse it, inline case or not). */
static bool park_poll(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	return false;
}

static void spawning_drop(struct urt_task *t, void *arg);

static const struct urt_task_type park_type = { .poll = park_poll,
						.drop = spawning_drop,
						.name = "park" };

static void spawning_drop(struct urt_task *t, void *arg)
{
	(void)arg;
	drops++;
	if (urt_task_runtime(t) != seen_rt)
		seen_bad++;
	if (urt_spawn_slab(&park_type, &(struct word_state){ { 1, 2 } }, 16, NULL) == -ESHUTDOWN)
		shutdown_spawns++;
}

/*
 * Spawns children of its own type's sibling (the inline case once the
 * first went the slow way), one of them with a handle it aborts at once,
 * and returns: none of them is polled in this tick.
 */
struct spawner_state {
	struct urt_join j;
	int n, ret;
};

static bool spawner_poll(struct urt_task *t, void *arg)
{
	struct spawner_state *st = arg;

	(void)t;
	for (int i = 0; i < st->n; i++)
		if (urt_spawn_slab(&park_type, &(struct word_state){ { (uint64_t)i, 0 } }, 16,
				   NULL))
			st->ret = -1;
	if (urt_spawn_slab(&park_type, &(struct word_state){ { 7, 7 } }, 16, &st->j) ||
	    urt_join_abort(&st->j))
		st->ret = -1;
	urt_join_detach(&st->j);
	return true;
}

static const struct urt_task_type spawner_type = { .poll = spawner_poll,
						   .drop = note_drop,
						   .name = "spawner" };

static void counts(struct urt_runtime *rt, const struct urt_task_type *type, uint64_t spawned,
		   uint64_t completed, uint64_t aborted, uint64_t polls)
{
	struct urt_type_stats ts;

	assert_int_equal(urt_type_stats(rt, type, &ts), 0);
	assert_int_equal(ts.spawned, spawned);
	assert_int_equal(ts.completed, completed);
	assert_int_equal(ts.aborted, aborted);
	assert_int_equal(ts.polls, polls);
}

/* A runtime whose one spawner has had its turn: 41 children queued. */
static void spawner_run(struct urt_runtime *rt, struct test_alloc *ta)
{
	drops = shutdown_spawns = seen_bad = 0;
	seen_rt = rt;
	test_alloc_init(ta);
	test_runtime_init(rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
							  .slab_slots = 16,
							  .allocator = &ta->al });
	assert_int_equal(urt_spawn_slab(&spawner_type, &(struct spawner_state){ .n = 40 },
					sizeof(struct spawner_state), NULL),
			 0);
	assert_int_equal(urt_tick(rt, 0), 1);
}

/*
 * Spawned from a poll (inline case), never polled, then deinit: each is
 * found on the run queue, aborted, dropped once; a drop that spawns is
 * refused with -ESHUTDOWN even though its type is the cached one; the
 * aborted-through-its-handle child counts aborted; every block goes back.
 */
static void test_deinit_with_unpolled_children(void **state)
{
	struct urt_runtime_stats st;
	struct test_alloc ta;
	struct urt_runtime rt;
	size_t n;

	(void)state;
	spawner_run(&rt, &ta);
	assert_int_equal(drops, 1); /* the spawner's */
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.live, 41);
	assert_int_equal(st.active, 41);
	assert_int_equal(st.slab_live, 41);
	counts(&rt, &park_type, 41, 0, 0, 0);
	counts(&rt, &spawner_type, 1, 1, 0, 1);
	n = urt_runtime_deinit(&rt);
	assert_int_equal(n, 41);
	assert_int_equal(drops, 42);
	assert_int_equal(shutdown_spawns, 41);
	assert_int_equal(seen_bad, 0);
	assert_int_equal(ta.live_blocks, 0);
}

/*
 * One more turn before deinit: the aborted child ends at its turn
 * (aborted, never polled; its drop, outside deinit, spawns one more), the
 * 40 park and enter the registry; the stats say so.
 */
static void test_children_after_one_turn(void **state)
{
	struct urt_runtime_stats st;
	struct test_alloc ta;
	struct urt_runtime rt;

	(void)state;
	spawner_run(&rt, &ta);
	assert_int_equal(urt_tick(&rt, 0), 40); /* the aborted one is not polled */
	assert_int_equal(drops, 2);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.live, 41); /* the aborted one's drop spawned one */
	assert_int_equal(st.reclaimed, 2);
	assert_int_equal(st.aborted, 1);
	assert_int_equal(st.completed, 1);
	assert_int_equal(st.polls, 41);
	counts(&rt, &park_type, 42, 0, 1, 40);
	assert_int_equal(urt_runtime_deinit(&rt), 41);
	assert_int_equal(drops, 43);
	assert_int_equal(shutdown_spawns, 41);
	assert_int_equal(ta.live_blocks, 0);
}

/*
 * The thread's binding flips between the runtime's slab and a slab of the
 * program's own, the type staying the same: every task must land in, and
 * go back to, the slab of the binding current at its spawn (the inline
 * case's cache follows the binding), and urt_task_runtime must find the
 * runtime from each task's first poll, registered or not.
 */
static void test_binding_flip_keeps_slabs_apart(void **state)
{
	struct urt_runtime_stats st;
	struct urt_slab_binding prev;
	struct test_alloc ta;
	struct urt_runtime rt;
	struct urt_slab mine;
	size_t mine_used = 0;

	(void)state;
	seen_bad = 0;
	seen_rt = &rt;
	test_alloc_init(&ta);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
							   .slab_slots = 8,
							   .allocator = &ta.al });
	assert_int_equal(urt_slab_init(&mine, &(struct urt_slab_opts){ .slot_size = 128,
								       .slots = 8,
								       .allocator = &ta.al }),
			 0);
	for (int round = 0; round < 6; round++) {
		bool own = round % 2;

		prev = own ? urt_slab_install(&urt_slab_table_urt, &mine) : urt_slab_current();
		for (int i = 0; i < 5 + round; i++)
			assert_int_equal(urt_spawn_slab(&probe_type,
							&(struct word_state){ { 1, 2 } }, 16, NULL),
					 0);
		if (own) {
			mine_used += 5 + (size_t)round;
			urt_slab_restore(prev);
		}
		assert_int_equal(urt_slab_used(&mine), mine_used);
	}
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.slab_live, 5 + 7 + 9);
	assert_int_equal(urt_tick(&rt, 0), 45);
	assert_int_equal(seen_bad, 0);
	assert_int_equal(urt_slab_used(&mine), 0);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.slab_live, 0);
	assert_int_equal(st.live, 0);
	assert_int_equal(st.reclaimed, 45);
	counts(&rt, &probe_type, 45, 45, 0, 45);
	test_runtime_end(&rt);
	urt_slab_deinit(&mine);
	assert_int_equal(ta.live_blocks, 0);
}

/*
 * The slab grows outside the inline case (a claim past the current
 * chunk): the cached chunk count no longer matches, the next spawns take
 * the slow path and cover the new slots, and the registry never runs out
 * for tasks that outlive their first turn.
 */
static bool yield_poll(struct urt_task *t, void *arg)
{
	uint64_t *n = arg;

	(void)t;
	if ((*n)++)
		return true;
	urt_task_wake(t);
	return false;
}

static const struct urt_task_type yield_type = { .poll = yield_poll, .name = "yield" };

static void test_growth_between_inline_spawns(void **state)
{
	struct urt_claim c[20];
	struct test_alloc ta;
	struct urt_runtime rt;

	(void)state;
	test_alloc_init(&ta);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
							   .slab_slots = 4,
							   .allocator = &ta.al });
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 3; i++)
			assert_int_equal(urt_spawn_slab(&yield_type, &(uint64_t){ 0 }, 8, NULL), 0);
		for (int i = 0; i < 20; i++)
			assert_int_equal(urt_claim_slab(&c[i]), 0);
		for (int i = 0; i < 20; i++)
			urt_claim_release(&c[i]);
		for (int i = 0; i < 30; i++)
			assert_int_equal(urt_spawn_slab(&yield_type, &(uint64_t){ 0 }, 8, NULL), 0);
		/* the new ones, and the last round's second turns */
		assert_int_equal(urt_tick(&rt, 0), round ? 66 : 33);
	}
	counts(&rt, &yield_type, 99, 66, 0, 165);
	assert_int_equal(urt_run(&rt), 0);
	counts(&rt, &yield_type, 99, 99, 0, 198);
	test_runtime_end(&rt);
	assert_int_equal(ta.live_blocks, 0);
}

/* --- op records: the limit, the pool, deinit with records out ------------------ */

struct nap_state {
	struct urt_op op;
	uint64_t ns;
	int ret;
};

static bool nap_poll(struct urt_task *t, void *arg)
{
	struct nap_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_sleep(t, &st->op, st->ns));
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type nap_type = { .poll = nap_poll, .drop = note_drop, .name = "nap" };

/*
 * op_records = 200, a budget over 300: 300 short sleeps (some refused
 * -EAGAIN while 200 are out) all end; then 300 long ones: the first 200
 * polled are armed, the last 100 refused. Half the armed ones are aborted
 * through their handles while they sleep, the rest are left for deinit,
 * which takes back records in the free stack, the pool and in use.
 */
static void test_op_limit_reuse_and_deinit(void **state)
{
	struct urt_runtime_stats st;
	static struct urt_join j[300];
	struct test_alloc ta;
	struct urt_runtime rt;

	(void)state;
	drops = 0;
	test_alloc_init(&ta);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
							   .op_records = 200,
							   .poll_budget = 1024,
							   .allocator = &ta.al });
	for (int i = 0; i < 300; i++)
		assert_int_equal(urt_spawn(&rt, &nap_type, &(struct nap_state){ .ns = 1000000 },
					   sizeof(struct nap_state), NULL),
				 0);
	assert_int_equal(urt_run(&rt), 0);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.ops_live, 0);
	assert_true(st.ops_high_water <= 200);
	for (int i = 0; i < 300; i++)
		assert_int_equal(urt_spawn(&rt, &nap_type,
					   &(struct nap_state){ .ns = 10000000000ull },
					   sizeof(struct nap_state), &j[i]),
				 0);
	assert_int_equal(urt_tick(&rt, 0), 300);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.ops_live, 200);
	assert_int_equal(st.timers_live, 200);
	for (int i = 0; i < 300; i += 2)
		assert_int_equal(urt_join_abort(&j[i]), i < 200 ? 0 : -EALREADY);
	assert_int_equal(urt_tick(&rt, 0), 0); /* aborted: not polled */
	for (int i = 0; i < 300; i++)
		urt_join_detach(&j[i]);
	/* an aborted sleeper's last record woke it as it ended: queued, it
	 * is reclaimed at its next turn */
	assert_int_equal(urt_tick(&rt, 0), 0);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.ops_live, 100);
	assert_int_equal(st.live, 100);
	assert_true(st.ops_high_water <= 200);
	assert_int_equal(urt_runtime_deinit(&rt), 100);
	assert_int_equal(drops, 600);
	assert_int_equal(ta.live_blocks, 0);
}

/* Sums the words of its state (up to seven) into `summed`; ends quietly. */
static uint64_t summed;

static bool sum_poll(struct urt_task *t, void *arg)
{
	const uint64_t *w = arg;

	for (uint32_t i = 0; i < t->state_size / 8; i++)
		summed += w[i];
	return true;
}

static const struct urt_task_type sum_type = { .poll = sum_poll, .name = "sum" };

/*
 * The inline spawn's lazy counts (rt->fast_spawned) and the quiet end's
 * reclaim count (its `quiet` count) read as if counted one by one: before
 * a tick, after it, and after a spawn of another type moved the inline
 * spawns to their own type; and states of every word count from 0 to 7
 * arrive whole (the inline copy goes word by word).
 */
static void test_inline_counts_and_states(void **state)
{
	struct urt_runtime_stats st;
	struct test_alloc ta;
	struct urt_runtime rt;
	uint64_t w[7], want = 0;

	(void)state;
	test_alloc_init(&ta);
	test_runtime_init(
		&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED, .allocator = &ta.al });
	summed = 0;
	for (int round = 0; round < 3; round++)
		for (size_t words = 0; words <= 7; words++) {
			for (size_t i = 0; i < words; i++) {
				w[i] = (uint64_t)(round * 100 + words * 10 + i + 1);
				want += w[i];
			}
			assert_int_equal(
				urt_spawn_slab(&sum_type, words ? w : NULL, words * 8, NULL), 0);
		}
	counts(&rt, &sum_type, 24, 0, 0, 0);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.spawned_slab, 24);
	assert_int_equal(st.live, 24);
	assert_int_equal(urt_tick(&rt, 0), 24);
	assert_int_equal(summed, want);
	counts(&rt, &sum_type, 24, 24, 0, 24);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.reclaimed, 24);
	assert_int_equal(st.completed, 24);
	assert_int_equal(st.live, 0);
	/* another type: the slow path moves sum's inline count to sum */
	assert_int_equal(urt_spawn_slab(&probe_type, NULL, 0, NULL), 0);
	assert_int_equal(urt_spawn_slab(&probe_type, NULL, 0, NULL), 0);
	seen_rt = &rt;
	seen_bad = 0;
	counts(&rt, &sum_type, 24, 24, 0, 24);
	counts(&rt, &probe_type, 2, 0, 0, 0);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.spawned_slab, 26);
	assert_int_equal(urt_tick(&rt, 0), 2);
	assert_int_equal(seen_bad, 0);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.reclaimed, 26);
	assert_int_equal(st.live, 0);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
	assert_int_equal(ta.live_blocks, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deinit_with_unpolled_children),
		cmocka_unit_test(test_children_after_one_turn),
		cmocka_unit_test(test_binding_flip_keeps_slabs_apart),
		cmocka_unit_test(test_growth_between_inline_spawns),
		cmocka_unit_test(test_op_limit_reuse_and_deinit),
		cmocka_unit_test(test_inline_counts_and_states),
	};

	return cmocka_run_group_tests_name("review20", tests, NULL, NULL);
}
