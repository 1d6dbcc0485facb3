/* SPDX-License-Identifier: MIT */
/* test_task.c - runtime and tasks: spawn paths and errors, join, abort, loop, teardown,
 * a task's runtime (urt_task_runtime). */
#include <errno.h>
#include <pthread.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"
#include "support/task_types.h"

/* --- runtime ------------------------------------------------------------ */

static void test_one_runtime_per_thread(void **state)
{
	struct urt_runtime a, b;

	(void)state;
	assert_null(urt_runtime_current());
	test_runtime_init(&a, &(struct urt_runtime_opts){ 0 });
	assert_ptr_equal(urt_runtime_current(), &a);
	assert_int_equal(urt_runtime_init(&b, &(struct urt_runtime_opts){ 0 }), -EEXIST);
	test_runtime_end(&a);
	assert_null(urt_runtime_current());
	assert_int_equal(urt_runtime_init(&a, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									  .slot_size = 70 }),
			 -EINVAL);
	assert_null(urt_runtime_current());
}

static void test_spawn_boxed_and_join(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint64_t out = 0;

	(void)state;
	drops = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &add_type, &(struct add_state){ 1, 2 },
				   sizeof(struct add_state), &j),
			 0);
	assert_false(urt_join_is_finished(&j));
	assert_int_equal(urt_join_take(&j, &out), -EAGAIN);
	run_all(&rt);
	assert_true(urt_join_is_finished(&j));
	assert_int_equal(test_stats(&rt).live, 1); /* the handle keeps it */
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 3);
	assert_null(j.task);
	assert_int_equal(urt_join_take(&j, &out), -EINVAL);
	assert_int_equal(test_stats(&rt).live, 0);
	assert_int_equal(test_stats(&rt).spawned_boxed, 1);
	assert_int_equal(test_stats(&rt).completed, 1);
	assert_int_equal(drops, 1); /* drop runs on completion too */
	test_runtime_end(&rt);
}

static void test_join_await_in_task(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint64_t out;

	(void)state;
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
								  .slab_slots = 4 }),
		0);
	assert_int_equal(urt_spawn_slab(&parent_type, &(struct parent_state){ 0 },
					sizeof(struct parent_state), &j),
			 0);
	run_all(&rt);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 43);
	assert_int_equal(test_stats(&rt).spawned_slab, 2);
	assert_int_equal(test_stats(&rt).slab_live, 0);
	test_runtime_end(&rt);
}

/* --- spawn errors: distinct codes, caller's state untouched --------------- */

static void test_spawn_errors(void **state)
{
	struct add_state st = { 5, 6 }, copy = st;
	unsigned char big[512];
	struct urt_runtime rt, other;
	struct urt_claim c;
	struct urt_join j = { 0 };

	(void)state;
	memset(big, 0x5a, sizeof(big));
	/* no runtime on this thread */
	assert_int_equal(urt_spawn_slab(&add_type, &st, sizeof(st), NULL), -ESRCH);
	assert_int_equal(urt_spawn(&rt, &add_type, &st, sizeof(st), NULL), -ESRCH);
	assert_int_equal(urt_claim_slab(&c), -ESRCH);
	assert_int_equal(urt_try_claim_slab(&c), -ESRCH);

	/* no slab installed */
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn_slab(&add_type, &st, sizeof(st), &j), -ENODEV);
	assert_int_equal(urt_claim_slab(&c), -ENODEV);
	assert_int_equal(urt_spawn(&other, &add_type, &st, sizeof(st), NULL), -EXDEV);
	assert_int_equal(urt_spawn(&rt, NULL, &st, sizeof(st), NULL), -EINVAL);
	assert_int_equal(urt_spawn(&rt, &add_type, NULL, 8, NULL), -EINVAL);
	assert_null(j.task);
	assert_int_equal(test_stats(&rt).live, 0);
	test_runtime_end(&rt);

	/* full bounded slab, and a state larger than a slot */
	test_runtime_init(&rt,
					  &(struct urt_runtime_opts){
						  .slab = URT_SLAB_BOUNDED,
						  .slot_size = 128,
						  .slab_slots = 2,
					  });
	assert_int_equal(urt_spawn_slab(&add_type, big, 128 - 64 + 1, NULL), -EMSGSIZE);
	assert_int_equal(urt_spawn_slab(&add_type, big, 128 - 64, NULL), 0);
	assert_int_equal(urt_spawn_slab(&add_type, &st, sizeof(st), NULL), 0);
	assert_int_equal(urt_spawn_slab(&add_type, &st, sizeof(st), &j), -ENOSPC);
	assert_null(j.task);
	assert_int_equal(test_stats(&rt).live, 2);
	assert_memory_equal(&st, &copy, sizeof(st));
	for (size_t i = 0; i < sizeof(big); i++)
		assert_int_equal(big[i], 0x5a);
	run_all(&rt);
	test_runtime_end(&rt);
}

static void test_spawn_out_of_memory_changes_nothing(void **state)
{
	(void)state;
	/* Fail each backing allocation in turn after init: spawn reports
	 * -ENOMEM (slab growth, registry growth or box) and leaves nothing. */
	for (size_t extra = 1; extra < 40; extra++) {
		struct test_alloc ta;
		struct urt_runtime rt;
		struct add_state st = { 1, 1 };
		int ok = 0, nomem = 0;

		test_alloc_init(&ta);
		test_runtime_init(&rt,
						  &(struct urt_runtime_opts){
							  .slab = URT_SLAB_UNBOUNDED,
							  .slab_slots = 2,
							  .allocator = &ta.al,
						  });
		ta.fail_at = ta.calls + extra;
		for (int i = 0; i < 300; i++) {
			struct urt_runtime_stats before = test_stats(&rt);
			int ret = (i & 1) ? urt_spawn_slab(&add_type, &st, sizeof(st), NULL)
					  : urt_spawn(&rt, &add_type, &st, sizeof(st), NULL);

			if (ret == 0) {
				ok++;
				continue;
			}
			assert_int_equal(ret, -ENOMEM);
			assert_int_equal(test_stats(&rt).live, before.live);
			assert_int_equal(test_stats(&rt).slab_live, before.slab_live);
			nomem++;
		}
		assert_int_equal(ok + nomem, 300);
		assert_true(nomem <= 1);
		run_all(&rt);
		assert_int_equal(test_stats(&rt).completed, (uint64_t)ok);
		urt_runtime_deinit(&rt);
		assert_int_equal(ta.live_blocks, 0);
	}
}

/* --- abort, starvation, detach --------------------------------------------------- */

static void test_abort_parked_task_reclaims_slot(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint64_t out = 7;

	(void)state;
	drops = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									   .slab_slots = 4 });
	assert_int_equal(urt_spawn_slab(&park_type, &(struct park_state){ 0 },
					sizeof(struct park_state), &j),
			 0);
	assert_true(urt_tick(&rt, 0) == 1); /* polled once: now parked */
	assert_int_equal(urt_tick(&rt, 0), 0);
	assert_int_equal(urt_slab_used(&rt.slab), 1);
	assert_int_equal(test_stats(&rt).active, 1);
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_tick(&rt, 0), 0); /* drop ran, not poll */
	assert_int_equal(drops, 1);
	assert_true(urt_join_is_finished(&j));
	assert_int_equal(urt_join_abort(&j), -EALREADY);
	assert_int_equal(urt_slab_used(&rt.slab), 1); /* the handle still refers to it */
	assert_int_equal(urt_join_take(&j, &out), -ECANCELED);
	assert_int_equal(out, 7);
	assert_int_equal(urt_slab_used(&rt.slab), 0);
	assert_int_equal(test_stats(&rt).aborted, 1);
	test_runtime_end(&rt);
}

static void test_yield_forever_does_not_starve(void **state)
{
	struct urt_runtime rt;
	struct urt_join spin, y;
	uint64_t out;
	int ticks = 0;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .poll_budget = 4 });
	assert_int_equal(urt_spawn(&rt, &spin_type, NULL, 0, &spin), 0);
	assert_int_equal(urt_spawn(&rt, &yield_type, &(struct yield_state){ .n = 10 },
				   sizeof(struct yield_state), &y),
			 0);
	while (!urt_join_is_finished(&y) && ticks < 100) {
		assert_true(urt_tick(&rt, 0) <= 4); /* the budget holds */
		ticks++;
	}
	assert_true(urt_join_is_finished(&y));
	assert_true(ticks <= 11); /* 11 polls, alternating with the spinner */
	assert_int_equal(urt_join_take(&y, &out), 0);
	assert_int_equal(out, 11);
	assert_int_equal(urt_join_abort(&spin), 0);
	assert_int_equal(urt_tick(&rt, 0), 0);
	assert_int_equal(urt_join_take(&spin, &out), -ECANCELED);
	test_runtime_end(&rt);
}

static void test_wake_dedups_and_detach(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &park_type, &(struct park_state){ 0 },
				   sizeof(struct park_state), &j),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	urt_task_wake(j.task);
	urt_task_wake(j.task); /* already queued: not queued twice */
	assert_int_equal(test_stats(&rt).wakes_local, 1);
	assert_int_equal(urt_tick(&rt, 0), 1); /* one poll; parks again */
	assert_int_equal(urt_tick(&rt, 0), 0);
	/* send the value it waits for, through its state: it finishes */
	assert_int_equal(urt_oneshot_send(&((struct park_state *)urt_task_state(j.task))->never, 1),
			 0);
	urt_join_detach(&j);
	assert_null(j.task);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(test_stats(&rt).live, 0); /* detached and finished: reclaimed */
	test_runtime_end(&rt);
}

/* --- teardown --------------------------------------------------------------------- */

static void test_deinit_with_live_tasks_leaks_nothing(void **state)
{
	struct test_alloc ta;
	struct urt_runtime rt;
	struct urt_join keep;

	(void)state;
	drops = 0;
	test_alloc_init(&ta);
	test_runtime_init(&rt,
					  &(struct urt_runtime_opts){
						  .slab = URT_SLAB_UNBOUNDED,
						  .slab_slots = 8,
						  .allocator = &ta.al,
					  });
	for (int i = 0; i < 20; i++) {
		assert_int_equal(urt_spawn_slab(&park_type, &(struct park_state){ 0 },
						sizeof(struct park_state), NULL),
				 0);
		assert_int_equal(urt_spawn(&rt, &park_type, &(struct park_state){ 0 },
					   sizeof(struct park_state), NULL),
				 0);
	}
	assert_int_equal(urt_spawn(&rt, &spin_type, NULL, 0, &keep), 0);
	assert_int_equal(urt_tick(&rt, 0), 41); /* all parked (spin queued again) */
	for (int i = 0; i < 5; i++)		/* never polled: still queued at deinit */
		assert_int_equal(urt_spawn(&rt, &add_type, &(struct add_state){ 0 },
					   sizeof(struct add_state), NULL),
				 0);
	assert_int_equal(urt_runtime_deinit(&rt), 46);
	assert_int_equal(drops, 40 + 1 + 5);
	assert_int_equal(ta.live_blocks, 0);
}

/* --- task-scoped memory ------------------------------------------------------------ */

struct scoped_state {
	int phase;
	void *keep;
};

static bool scoped_poll(struct urt_task *t, void *arg)
{
	struct scoped_state *st = arg;
	struct urt_scope *s;
	struct urt_scope_mark m;

	URT_BEGIN(t);
	st->keep = urt_task_alloc(t, 100);
	if (!st->keep)
		URT_RETURN(t, 1);
	memset(st->keep, 1, 100);
	s = urt_task_scope(t);
	m = urt_scope_mark(s);
	for (int i = 0; i < 10; i++) /* a batch, released by the rewind */
		if (!urt_task_alloc(t, 500))
			URT_RETURN(t, 2);
	urt_scope_rewind(s, m);
	if (s->blocks != 1)
		URT_RETURN(t, 3);
	urt_task_free(t, urt_task_alloc(t, 64)); /* early free */
	URT_YIELD(t);
	(void)urt_task_alloc(t, 5000); /* large, from the fallback */
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type scoped_type = { .poll = scoped_poll, .name = "scoped" };

static void test_task_scoped_allocations_freed_at_reclaim(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint64_t out;
	size_t live = 0;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &scoped_type, &(struct scoped_state){ 0 },
				   sizeof(struct scoped_state), &j),
			 0);
	run_all(&rt);
	for (int i = 0; i < URT_SIZECLASS_POOLS; i++)
		live += rt.sc.pools[i].live;
	for (int i = 0; i < URT_SIZECLASS_COUNT - URT_SIZECLASS_POOLS; i++)
		live += rt.sc.big[i].live;
	assert_int_equal(live + rt.sc.large_live, 2); /* still held: the handle keeps it */
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0);
	live = 0;
	for (int i = 0; i < URT_SIZECLASS_POOLS; i++)
		live += rt.sc.pools[i].live;
	for (int i = 0; i < URT_SIZECLASS_COUNT - URT_SIZECLASS_POOLS; i++)
		live += rt.sc.big[i].live;
	assert_int_equal(live + rt.sc.large_live, 0);
	assert_int_equal(rt.scopes.live, 0);
	test_runtime_end(&rt);
}

/* --- loop --------------------------------------------------------------------------- */

static bool nested_tick_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	URT_BEGIN(t);
	URT_RETURN(t, (uint64_t)(int64_t)urt_tick(urt_runtime_current(), 0));
	URT_END(t);
}

static const struct urt_task_type nested_tick_type = { .poll = nested_tick_poll, .name = "nested" };

static bool stopper_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	urt_stop(urt_runtime_current());
	return true;
}

static const struct urt_task_type stopper_type = { .poll = stopper_poll, .name = "stopper" };

static void test_tick_rules_stop_and_type_stats(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint64_t out;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &nested_tick_type, NULL, 0, &j), 0);
	run_all(&rt);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal((int)(int64_t)out, -EBUSY);

	/* urt_stop ends urt_run with a task still alive */
	assert_int_equal(urt_spawn(&rt, &spin_type, NULL, 0, NULL), 0);
	assert_int_equal(urt_spawn(&rt, &stopper_type, NULL, 0, NULL), 0);
	run_all(&rt);
	assert_int_equal(test_stats(&rt).active, 1);

	/* per-type stats */
	struct urt_type_stats ts = { 0 };
	assert_int_equal(urt_type_stats(&rt, &nested_tick_type, &ts), 0);
	assert_ptr_equal(ts.type, &nested_tick_type);
	assert_int_equal(ts.spawned, 1);
	assert_int_equal(ts.completed, 1);
	assert_int_equal(ts.polls, 1);
	assert_int_equal(urt_runtime_deinit(&rt), 1);

	/* a tick with nothing to do and a finite timeout waits that long;
	 * with URT_TICK_FOREVER and nothing that could complete it returns
	 * at once (it used to hang) */
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_tick(&rt, 1000000), 0);
	assert_int_equal(test_stats(&rt).parks, 1);
	assert_int_equal(urt_tick(&rt, URT_TICK_FOREVER), 0);
	assert_int_equal(test_stats(&rt).parks, 1);
	assert_int_equal(urt_tick(&rt, 0), 0); /* timeout 0: never parks */
	assert_int_equal(test_stats(&rt).parks, 1);
	test_runtime_end(&rt);
}

/* --- a parent that forgets its child's join handle ------------------------------ */

static char handle_msg[256];
static unsigned handle_reports;

static void handle_hook(void *ctx, const char *msg)
{
	(void)ctx;
	handle_reports++;
	snprintf(handle_msg, sizeof(handle_msg), "%s", msg);
}

struct forgetful_state {
	uint64_t pad; /* the output lands here */
	struct urt_join child;
	bool detach;
};

static bool forgetful_poll(struct urt_task *t, void *arg)
{
	struct forgetful_state *st = arg;

	URT_BEGIN(t);
	if (urt_spawn(urt_runtime_current(), &park_type, &(struct park_state){ 0 },
		      sizeof(struct park_state), &st->child))
		URT_RETURN(t, 1);
	if (st->detach)
		urt_join_detach(&st->child);
	URT_END(t); /* ends holding the handle unless it detached */
}

static const struct urt_task_type forgetful_type = { .poll = forgetful_poll,
						     .name = "forgetful" };

static void test_dropped_handle_reported(void **state)
{
	struct urt_runtime rt;
	struct urt_runtime_stats st;
	bool debug;

	(void)state;
	handle_reports = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .debug_hook = handle_hook });
	urt_runtime_stats(&rt, &st);
	debug = st.features & URT_FEAT_DEBUG_CHECKS;
	/* a parent that detaches its child: nothing to report */
	assert_int_equal(urt_spawn(&rt, &forgetful_type, &(struct forgetful_state){ .detach = true },
				   sizeof(struct forgetful_state), NULL),
			 0);
	for (int i = 0; i < 3; i++)
		assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(handle_reports, 0);
	/* one that forgets it */
	assert_int_equal(urt_spawn(&rt, &forgetful_type, &(struct forgetful_state){ 0 },
				   sizeof(struct forgetful_state), NULL),
			 0);
	for (int i = 0; i < 3; i++)
		assert_true(urt_tick(&rt, 0) >= 0);
	urt_runtime_stats(&rt, &st);
	if (debug) {
		assert_int_equal(handle_reports, 1);
		assert_int_equal(st.dropped_handles, 1);
		assert_non_null(strstr(handle_msg, "join handle dropped with its task alive: task "
						   "'forgetful' ended holding one to task 'park'"));
	} else {
		assert_int_equal(handle_reports, 0);
	}
	/* both children are still parked; the forgotten one has a handle nobody holds */
	assert_int_equal(urt_runtime_deinit(&rt), 2);
	assert_int_equal(handle_reports, debug ? 1 : 0); /* deinit reports nothing */
}

/*
 * urt_type_stats: every way of spawning counts, aborts count apart, a type
 * never spawned is -ENOENT, and past URT_TYPE_STATS - 1 types the rest go
 * to the overflow entry (type NULL).
 */
static struct urt_task_type many_types[URT_TYPE_STATS + 6];

/* A type's counters on rt are these. */
static void assert_type_counts(struct urt_runtime *rt, const struct urt_task_type *type,
			       uint64_t spawned, uint64_t completed, uint64_t aborted,
			       uint64_t polls)
{
	struct urt_type_stats ts;

	assert_int_equal(urt_type_stats(rt, type, &ts), 0);
	assert_ptr_equal(ts.type, type);
	assert_int_equal(ts.spawned, spawned);
	assert_int_equal(ts.completed, completed);
	assert_int_equal(ts.aborted, aborted);
	assert_int_equal(ts.polls, polls);
}

static void test_type_stats_call(void **state)
{
	struct urt_runtime rt;
	struct urt_type_stats ts, over;
	struct urt_claim c;
	struct urt_join j;
	unsigned tracked = 0;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
							   .slab_slots = 16 });
	memset(&ts, 0xab, sizeof(ts));
	assert_int_equal(urt_type_stats(&rt, &add_type, &ts), -ENOENT);
	assert_int_equal(ts.spawned, 0xabababababababab); /* untouched */
	assert_int_equal(urt_spawn(&rt, &add_type, &(struct add_state){ 1, 2 },
				   sizeof(struct add_state), NULL),
			 0);
	assert_int_equal(
		urt_spawn_slab(&add_type, &(struct add_state){ 1, 2 }, sizeof(struct add_state), NULL),
		0);
	assert_int_equal(urt_claim_slab(&c), 0);
	*(struct add_state *)urt_claim_state(&c) = (struct add_state){ 3, 4 };
	assert_int_equal(urt_claim_spawn(&c, &add_type, NULL), 0);
	assert_int_equal(urt_spawn(&rt, &park_type, &(struct park_state){ 0 },
				   sizeof(struct park_state), &j),
			 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* the adders finish; park parks */
	assert_int_equal(urt_join_abort(&j), 0);
	urt_join_detach(&j);
	run_all(&rt);
	assert_type_counts(&rt, &add_type, 3, 3, 0, 3);
	assert_int_equal(urt_type_stats(&rt, &park_type, &ts), 0);
	assert_int_equal(ts.spawned, 1);
	assert_int_equal(ts.completed, 0);
	assert_int_equal(ts.aborted, 1);

	/* more types than the table holds */
	for (unsigned i = 0; i < sizeof(many_types) / sizeof(many_types[0]); i++) {
		many_types[i] = (struct urt_task_type){ .poll = add_poll, .name = "many" };
		assert_int_equal(urt_spawn(&rt, &many_types[i], &(struct add_state){ 0 },
					   sizeof(struct add_state), NULL),
				 0);
	}
	run_all(&rt);
	for (unsigned i = 0; i < sizeof(many_types) / sizeof(many_types[0]); i++) {
		int ret = urt_type_stats(&rt, &many_types[i], &ts);

		if (ret == -ENOENT)
			continue;
		assert_int_equal(ret, 0);
		assert_int_equal(ts.spawned, 1);
		tracked++;
	}
	/* add and park hold two of the 63 entries */
	assert_int_equal(tracked, URT_TYPE_STATS - 1 - 2);
	assert_int_equal(urt_type_stats(&rt, NULL, &over), 0);
	assert_null(over.type);
	assert_int_equal(over.spawned, sizeof(many_types) / sizeof(many_types[0]) - tracked);
	assert_int_equal(over.completed, over.spawned);
	urt_runtime_deinit(&rt);
}

/*
 * The slab lifecycle's short ways (issue 20): a task of a type without a
 * drop that finishes with nothing else to do ends in one count and a
 * reclaim (type stats count it as a poll and a completion), and a slab
 * task enters the registry only when it outlives its first turn (or has a
 * handle). Both must leave every count as before, and deinit must still
 * find a slab task that never ran.
 */
static bool noop_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	URT_BEGIN(t);
	URT_RETURN(t, 5);
	URT_END(t);
}

static const struct urt_task_type noop_type = { .poll = noop_poll, .name = "noop" };

static bool yield_once_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	URT_BEGIN(t);
	URT_YIELD(t); /* outlives its first turn: registered, then ends quietly */
	URT_END(t);
}

static const struct urt_task_type yield_once_type = { .poll = yield_once_poll,
						      .name = "yield-once" };

static void test_slab_quiet_end_and_lazy_registry(void **state)
{
	struct urt_runtime_stats st;
	struct test_alloc ta;
	struct urt_runtime rt;
	struct urt_claim c;
	struct urt_join j;
	struct urt_task *claimed;
	uint64_t out = 0;

	(void)state;
	drops = 0;
	test_alloc_init(&ta);
	test_runtime_init(&rt, &(struct urt_runtime_opts){
				       .slab = URT_SLAB_UNBOUNDED,
				       .slab_slots = 8,
				       .allocator = &ta.al,
			       });
	for (int i = 0; i < 20; i++) /* across chunks: the inline case and the slow one */
		assert_int_equal(urt_spawn_slab(&noop_type, NULL, 0, NULL), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(urt_claim_slab(&c), 0);
		assert_int_equal(urt_claim_spawn(&c, &noop_type, NULL), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(urt_spawn_slab(&yield_once_type, NULL, 0, NULL), 0);
	assert_int_equal(urt_spawn_slab(&noop_type, NULL, 0, &j), 0);
	assert_ptr_equal(urt_task_runtime(j.task), &rt); /* a handle: registered at once */
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.live, 28);
	assert_int_equal(st.reclaimed, 0);
	assert_int_equal(urt_tick(&rt, 0), 28);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.live, 5); /* the yielders and the joined one */
	assert_int_equal(st.completed, 24);
	assert_int_equal(st.reclaimed, 23);
	assert_int_equal(urt_tick(&rt, 0), 4);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 5);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.live, 0);
	assert_int_equal(st.completed, 28);
	assert_int_equal(st.reclaimed, 28);
	assert_int_equal(st.polls, 32);
	assert_type_counts(&rt, &noop_type, 24, 24, 0, 24); /* quiet ends: polls and completions */
	assert_type_counts(&rt, &yield_once_type, 4, 4, 0, 8);
	assert_int_equal(rt.nreg, 0);

	/* never polled, so never registered: deinit still aborts and frees them */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(urt_spawn_slab(&add_type, &(struct add_state){ 1, 2 },
						sizeof(struct add_state), NULL),
				 0);
		assert_int_equal(urt_spawn_slab(&noop_type, NULL, 0, NULL), 0);
	}
	assert_int_equal(urt_claim_slab(&c), 0);
	claimed = c.task;
	assert_int_equal(urt_claim_spawn(&c, &noop_type, NULL), 0);
	assert_ptr_equal(urt_task_runtime(claimed), &rt); /* found through its slab */
	assert_int_equal(rt.nreg, 0);
	assert_int_equal(urt_runtime_deinit(&rt), 21);
	assert_int_equal(drops, 10);
	assert_int_equal(ta.live_blocks, 0);
}

/*
 * urt_task_runtime: the runtime, from a poll (and a spawn through it),
 * from a drop at the end of a task and in deinit; NULL for NULL, for a
 * header that is no task of this runtime, on a thread without a runtime
 * and on a thread with another one.
 */
static struct urt_runtime *rt_in_poll, *rt_in_child_drop, *rt_in_deinit_drop;
static struct urt_task *owner_task;
static int spawn_from_task = 1;

static bool rt_child_poll(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	return true;
}

static void rt_child_drop(struct urt_task *t, void *arg)
{
	(void)arg;
	rt_in_child_drop = urt_task_runtime(t);
}

static const struct urt_task_type rt_child_type = { .poll = rt_child_poll,
						    .drop = rt_child_drop,
						    .name = "rt-child" };

static bool rt_owner_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	owner_task = t;
	rt_in_poll = urt_task_runtime(t);
	/* what it is for: a poll that has only its task spawns another */
	spawn_from_task = urt_spawn(urt_task_runtime(t), &rt_child_type, &(uint64_t){ 0 },
				    sizeof(uint64_t), NULL);
	return false; /* nothing wakes it: it stays until deinit aborts it */
}

static void rt_owner_drop(struct urt_task *t, void *arg)
{
	(void)arg;
	rt_in_deinit_drop = urt_task_runtime(t);
}

static const struct urt_task_type rt_owner_type = { .poll = rt_owner_poll,
						    .drop = rt_owner_drop,
						    .name = "rt-owner" };

struct rt_cross {
	struct urt_task *t;
	struct urt_runtime *without, *other;
	int init;
};

static void *rt_cross_thread(void *arg)
{
	struct rt_cross *c = arg;
	struct urt_runtime rt2;

	c->without = urt_task_runtime(c->t); /* no runtime here */
	c->init = urt_runtime_init(&rt2, &(struct urt_runtime_opts){ 0 });
	if (!c->init) {
		c->other = urt_task_runtime(c->t); /* a runtime, not t's */
		urt_runtime_deinit(&rt2);
	}
	return NULL;
}

static void test_task_runtime(void **state)
{
	struct rt_cross c = { .without = (void *)1, .other = (void *)1 };
	struct urt_task fake = { 0 };
	struct urt_runtime rt;
	pthread_t th;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &rt_owner_type, &(uint64_t){ 0 }, sizeof(uint64_t), NULL),
			 0);
	for (int i = 0; i < 3; i++)
		assert_true(urt_tick(&rt, 0) >= 0); /* the owner, then its child */
	assert_ptr_equal(rt_in_poll, &rt);
	assert_int_equal(spawn_from_task, 0);
	assert_ptr_equal(rt_in_child_drop, &rt);
	assert_null(rt_in_deinit_drop);
	assert_non_null(owner_task);
	assert_ptr_equal(urt_task_runtime(owner_task), &rt); /* live, between ticks */
	assert_null(urt_task_runtime(NULL));
	assert_null(urt_task_runtime(&fake)); /* its registry index names the owner */

	c.t = owner_task; /* read by the thread while this one waits for it */
	assert_int_equal(pthread_create(&th, NULL, rt_cross_thread, &c), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_null(c.without);
	if (!c.init)
		assert_null(c.other);

	assert_int_equal(urt_runtime_deinit(&rt), 1);
	assert_ptr_equal(rt_in_deinit_drop, &rt); /* its drop, in deinit */
	assert_null(urt_task_runtime(&fake));	  /* no runtime on this thread now */
}

/* --- a drain that ends at once -------------------------------------------------- */

/*
 * Sleeps for a minute, or (returns) starts the sleep and returns at once:
 * either way its only operation is a sleep, which ends the moment the task
 * drains (nothing of it is in the kernel).
 */
struct napper_state {
	struct urt_op nap;
	bool returns;
};

static bool napper_poll(struct urt_task *t, void *arg)
{
	struct napper_state *st = arg;

	URT_BEGIN(t);
	if (st->returns) {
		(void)urt_sleep(t, &st->nap, 60ull * 1000000000u);
		URT_RETURN(t, 5);
	}
	URT_AWAIT(t, urt_sleep(t, &st->nap, 60ull * 1000000000u));
	URT_END(t);
}

static const struct urt_task_type napper_type = { .poll = napper_poll,
						  .drop = count_drop,
						  .name = "napper" };

/*
 * Rule 3: a task whose drain ends in the same turn (its sleep ends at
 * once) is reclaimed in that turn, not queued for one more: aborted while
 * parked in a sleep, or returning with a sleep started. Before the fix
 * the last op's end queued the task, and its slot stayed taken a tick.
 */
static void test_drain_that_ends_at_once_reclaims_now(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;

	(void)state;
	drops = 0;
	test_runtime_init(&rt,
			  &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED, .slab_slots = 4 });
	assert_int_equal(urt_spawn_slab(&napper_type, &(struct napper_state){ 0 },
					sizeof(struct napper_state), &j),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1); /* parked in its sleep */
	assert_int_equal(urt_join_abort(&j), 0);
	urt_join_detach(&j);
	assert_int_equal(urt_tick(&rt, 0), 0); /* the abort's turn: drain, drop */
	assert_int_equal(drops, 1);
	assert_int_equal(urt_slab_used(&rt.slab), 0);
	assert_int_equal(test_stats(&rt).live, 0);
	assert_int_equal(test_stats(&rt).reclaimed, 1);
	assert_int_equal(test_stats(&rt).aborted, 1);

	assert_int_equal(urt_spawn_slab(&napper_type, &(struct napper_state){ .returns = true },
					sizeof(struct napper_state), NULL),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1); /* returned: drain, drop */
	assert_int_equal(drops, 2);
	assert_int_equal(urt_slab_used(&rt.slab), 0);
	assert_int_equal(test_stats(&rt).live, 0);
	assert_int_equal(test_stats(&rt).reclaimed, 2);
	assert_int_equal(test_stats(&rt).completed, 1);
	assert_int_equal(test_stats(&rt).active, 0);
	test_runtime_end(&rt);
}


/* --- a claim spawned from a drop during deinit ------------------------------------ */

static unsigned claimed_polls;
static int holder_spawned;

static bool claimed_poll(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	claimed_polls++;
	return true;
}

static const struct urt_task_type claimed_type = { .poll = claimed_poll,
						   .drop = count_drop,
						   .name = "claimed" };

/* Holds a claim it never spawns; its drop spawns it (in deinit, here). */
struct holder_state {
	struct urt_claim c;
	int claimed, spawned;
};

static bool holder_poll(struct urt_task *t, void *arg)
{
	struct holder_state *st = arg;

	URT_BEGIN(t);
	st->claimed = urt_claim_slab(&st->c);
	URT_AWAIT(t, URT_PENDING); /* parked for good: deinit ends it */
	URT_END(t);
}

static void holder_drop(struct urt_task *t, void *arg)
{
	struct holder_state *st = arg;

	(void)t;
	if (!st->claimed)
		st->spawned = urt_claim_spawn(&st->c, &claimed_type, NULL);
	holder_spawned = st->spawned;
}

static const struct urt_task_type holder_type = { .poll = holder_poll,
						  .drop = holder_drop,
						  .name = "holder" };

/*
 * A claim spawned from a drop while deinit tears down: its poll never
 * runs, so it must not count as completed. It is taken (a claim cannot be
 * refused for room) and ends as aborted at once: its drop runs (what the
 * claimer built in the state is released), it counts spawned and aborted,
 * never polled nor completed, and its slot goes back. Before the fix it
 * counted as completed, with no poll.
 */
static void test_claim_spawned_in_deinit_counts_aborted(void **state)
{
	struct urt_type_stats ts;
	struct test_alloc ta;
	struct urt_runtime rt;

	(void)state;
	claimed_polls = drops = 0;
	holder_spawned = 1;
	test_alloc_init(&ta);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
							   .slab_slots = 4,
							   .allocator = &ta.al });
	assert_int_equal(urt_spawn_slab(&holder_type, &(struct holder_state){ .claimed = 1 },
					sizeof(struct holder_state), NULL),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1); /* claimed, parked */
	assert_int_equal(urt_slab_used(&rt.slab), 2);
	assert_int_equal(urt_runtime_deinit(&rt), 2);
	assert_int_equal(holder_spawned, 0);
	assert_int_equal(claimed_polls, 0);
	assert_int_equal(drops, 1); /* the claimed task's */
	assert_int_equal(urt_type_stats(&rt, &claimed_type, &ts), 0);
	assert_int_equal(ts.spawned, 1);
	assert_int_equal(ts.polls, 0);
	assert_int_equal(ts.completed, 0);
	assert_int_equal(ts.aborted, 1);
	assert_int_equal(ta.live_blocks, 0);
}

/* --- a poll that returns true without URT_RETURN ---------------------------------- */

static bool answer_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	URT_BEGIN(t);
	URT_RETURN(t, 42);
	URT_END(t);
}

/* Hand-written: finishes without URT_RETURN or URT_END. */
static bool bare_poll(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	return true;
}

static const struct urt_task_type answer_type = { .poll = answer_poll, .name = "answer" };
static const struct urt_task_type bare_type = { .poll = bare_poll, .name = "bare" };

/*
 * A poll that returns true without setting an output finishes with 0
 * (task.h), whatever the task polled before it returned: polled right
 * after one that returned 42, in the same tick, boxed and in a slab
 * slot. Before the fix it inherited the 42.
 */
static void test_bare_true_finishes_with_zero(void **state)
{
	struct urt_runtime rt;
	struct urt_join a, b, c;
	uint64_t out;

	(void)state;
	test_runtime_init(&rt,
			  &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED, .slab_slots = 4 });
	assert_int_equal(urt_spawn(&rt, &answer_type, NULL, 0, &a), 0);
	assert_int_equal(urt_spawn(&rt, &bare_type, NULL, 0, &b), 0);
	assert_int_equal(urt_spawn_slab(&bare_type, NULL, 0, &c), 0);
	assert_int_equal(urt_tick(&rt, 0), 3);
	assert_int_equal(urt_join_take(&a, &out), 0);
	assert_int_equal(out, 42);
	out = 7;
	assert_int_equal(urt_join_take(&b, &out), 0);
	assert_int_equal(out, 0);
	out = 7;
	assert_int_equal(urt_join_take(&c, &out), 0);
	assert_int_equal(out, 0);
	test_runtime_end(&rt);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_runtime_per_thread),
		cmocka_unit_test(test_spawn_boxed_and_join),
		cmocka_unit_test(test_join_await_in_task),
		cmocka_unit_test(test_spawn_errors),
		cmocka_unit_test(test_spawn_out_of_memory_changes_nothing),
		cmocka_unit_test(test_abort_parked_task_reclaims_slot),
		cmocka_unit_test(test_yield_forever_does_not_starve),
		cmocka_unit_test(test_wake_dedups_and_detach),
		cmocka_unit_test(test_deinit_with_live_tasks_leaks_nothing),
		cmocka_unit_test(test_task_scoped_allocations_freed_at_reclaim),
		cmocka_unit_test(test_tick_rules_stop_and_type_stats),
		cmocka_unit_test(test_type_stats_call),
		cmocka_unit_test(test_slab_quiet_end_and_lazy_registry),
		cmocka_unit_test(test_dropped_handle_reported),
		cmocka_unit_test(test_task_runtime),
		cmocka_unit_test(test_drain_that_ends_at_once_reclaims_now),
		cmocka_unit_test(test_claim_spawned_in_deinit_counts_aborted),
		cmocka_unit_test(test_bare_true_finishes_with_zero),
	};

	return cmocka_run_group_tests_name("task", tests, NULL, NULL);
}
