/* SPDX-License-Identifier: MIT */
/* test_task.c - runtime and tasks: spawn paths and errors, join, abort, loop, teardown. */
#include <errno.h>
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

/* --- task types used below ---------------------------------------------- */

static const unsigned char big_state_for_wrapped[65];

static int drops;

struct add_state {
	uint64_t a, b;
};

static bool add_poll(struct urt_task *t, void *arg)
{
	struct add_state *st = arg;

	URT_BEGIN(t);
	URT_RETURN(t, st->a + st->b);
	URT_END(t);
}

static void count_drop(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	drops++;
}

static const struct urt_task_type add_type = { .poll = add_poll,
					       .drop = count_drop,
					       .name = "add" };

/* Parks on a oneshot that nobody sends on. */
struct park_state {
	struct urt_oneshot never;
	uint64_t v;
	int ret;
};

static bool park_poll(struct urt_task *t, void *arg)
{
	struct park_state *st = arg;

	URT_BEGIN(t);
	urt_oneshot_init(&st->never);
	URT_AWAIT(t, st->ret = urt_oneshot_recv(t, &st->never, &st->v));
	URT_RETURN(t, 99);
	URT_END(t);
}

static const struct urt_task_type park_type = { .poll = park_poll,
						.drop = count_drop,
						.name = "park" };

/* Yields forever. */
static bool spin_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	URT_BEGIN(t);
	for (;;)
		URT_YIELD(t);
	URT_END(t);
}

static const struct urt_task_type spin_type = { .poll = spin_poll,
						.drop = count_drop,
						.name = "spin" };

/* Yields n times, then returns how many polls it took. */
struct yield_state {
	int n, polls;
};

static bool yield_poll(struct urt_task *t, void *arg)
{
	struct yield_state *st = arg;

	st->polls++;
	URT_BEGIN(t);
	while (st->n-- > 0)
		URT_YIELD(t);
	URT_RETURN(t, st->polls);
	URT_END(t);
}

static const struct urt_task_type yield_type = { .poll = yield_poll, .name = "yield" };

/* Spawns a child and awaits its output. */
struct parent_state {
	struct urt_join child;
	uint64_t out;
	int ret;
};

static bool parent_poll(struct urt_task *t, void *arg)
{
	struct parent_state *st = arg;

	URT_BEGIN(t);
	st->ret = urt_spawn_slab(&add_type, &(struct add_state){ 20, 22 }, sizeof(struct add_state),
				 &st->child);
	if (st->ret)
		URT_RETURN(t, 0);
	URT_AWAIT(t, st->ret = urt_join_await(t, &st->child, &st->out));
	URT_RETURN(t, st->out + 1);
	URT_END(t);
}

static const struct urt_task_type parent_type = { .poll = parent_poll, .name = "parent" };

static struct urt_runtime_stats rstats(struct urt_runtime *rt)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(rt, &st);
	return st;
}

static void run_all(struct urt_runtime *rt)
{
	assert_int_equal(urt_run(rt), 0);
}

/* --- runtime ------------------------------------------------------------ */

static void test_one_runtime_per_thread(void **state)
{
	struct urt_runtime a, b;

	(void)state;
	assert_null(urt_runtime_current());
	assert_int_equal(urt_runtime_init(&a, &(struct urt_runtime_opts){ 0 }), 0);
	assert_ptr_equal(urt_runtime_current(), &a);
	assert_int_equal(urt_runtime_init(&b, &(struct urt_runtime_opts){ 0 }), -EEXIST);
	assert_int_equal(urt_runtime_deinit(&a), 0);
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
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ 0 }), 0);
	assert_int_equal(urt_spawn(&rt, &add_type, &(struct add_state){ 1, 2 },
				   sizeof(struct add_state), &j),
			 0);
	assert_false(urt_join_is_finished(&j));
	assert_int_equal(urt_join_take(&j, &out), -EAGAIN);
	run_all(&rt);
	assert_true(urt_join_is_finished(&j));
	assert_int_equal(rstats(&rt).live, 1); /* the handle keeps it */
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 3);
	assert_null(j.task);
	assert_int_equal(urt_join_take(&j, &out), -EINVAL);
	assert_int_equal(rstats(&rt).live, 0);
	assert_int_equal(rstats(&rt).spawned_boxed, 1);
	assert_int_equal(rstats(&rt).completed, 1);
	assert_int_equal(drops, 1); /* drop runs on completion too */
	assert_int_equal(urt_runtime_deinit(&rt), 0);
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
	assert_int_equal(rstats(&rt).spawned_slab, 2);
	assert_int_equal(rstats(&rt).slab_live, 0);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
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
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ 0 }), 0);
	assert_int_equal(urt_spawn_slab(&add_type, &st, sizeof(st), &j), -ENODEV);
	assert_int_equal(urt_claim_slab(&c), -ENODEV);
	assert_int_equal(urt_spawn(&other, &add_type, &st, sizeof(st), NULL), -EXDEV);
	assert_int_equal(urt_spawn(&rt, NULL, &st, sizeof(st), NULL), -EINVAL);
	assert_int_equal(urt_spawn(&rt, &add_type, NULL, 8, NULL), -EINVAL);
	assert_null(j.task);
	assert_int_equal(rstats(&rt).live, 0);
	assert_int_equal(urt_runtime_deinit(&rt), 0);

	/* full bounded slab, and a state larger than a slot */
	assert_int_equal(urt_runtime_init(&rt,
					  &(struct urt_runtime_opts){
						  .slab = URT_SLAB_BOUNDED,
						  .slot_size = 128,
						  .slab_slots = 2,
					  }),
			 0);
	assert_int_equal(urt_spawn_slab(&add_type, big, 128 - 64 + 1, NULL), -EMSGSIZE);
	assert_int_equal(urt_spawn_slab(&add_type, big, 128 - 64, NULL), 0);
	assert_int_equal(urt_spawn_slab(&add_type, &st, sizeof(st), NULL), 0);
	assert_int_equal(urt_spawn_slab(&add_type, &st, sizeof(st), &j), -ENOSPC);
	assert_null(j.task);
	assert_int_equal(rstats(&rt).live, 2);
	assert_memory_equal(&st, &copy, sizeof(st));
	for (size_t i = 0; i < sizeof(big); i++)
		assert_int_equal(big[i], 0x5a);
	run_all(&rt);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
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
		assert_int_equal(urt_runtime_init(&rt,
						  &(struct urt_runtime_opts){
							  .slab = URT_SLAB_UNBOUNDED,
							  .slab_slots = 2,
							  .allocator = &ta.al,
						  }),
				 0);
		ta.fail_at = ta.calls + extra;
		for (int i = 0; i < 300; i++) {
			struct urt_runtime_stats before = rstats(&rt);
			int ret = (i & 1) ? urt_spawn_slab(&add_type, &st, sizeof(st), NULL)
					  : urt_spawn(&rt, &add_type, &st, sizeof(st), NULL);

			if (ret == 0) {
				ok++;
				continue;
			}
			assert_int_equal(ret, -ENOMEM);
			assert_int_equal(rstats(&rt).live, before.live);
			assert_int_equal(rstats(&rt).slab_live, before.slab_live);
			nomem++;
		}
		assert_int_equal(ok + nomem, 300);
		assert_true(nomem <= 1);
		run_all(&rt);
		assert_int_equal(rstats(&rt).completed, (uint64_t)ok);
		urt_runtime_deinit(&rt);
		assert_int_equal(ta.live_blocks, 0);
	}
}

/* --- slab tables ------------------------------------------------------------ */

static void test_nested_installs_restore(void **state)
{
	struct urt_slab a, b;
	struct urt_slab_binding p0, p1, p2;
	struct urt_runtime rt;

	(void)state;
	assert_ptr_equal(urt_slab_current().table, &urt_slab_table_none);
	assert_int_equal(urt_slab_init(&a, &(struct urt_slab_opts){ .slot_size = 128, .slots = 4 }),
			 0);
	assert_int_equal(urt_slab_init(&b, &(struct urt_slab_opts){ .slot_size = 256, .slots = 4 }),
			 0);
	p0 = urt_slab_install(&urt_slab_table_urt, &a);
	assert_ptr_equal(p0.table, &urt_slab_table_none);
	p1 = urt_slab_install(&urt_slab_table_urt, &b);
	assert_ptr_equal(p1.slab, &a);
	/* a runtime installs its own slab and restores b at deinit */
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									   .slab_slots = 8 }),
			 0);
	assert_ptr_equal(urt_slab_current().slab, &rt.slab);
	urt_runtime_deinit(&rt);
	assert_ptr_equal(urt_slab_current().slab, &b);
	p2 = urt_slab_install(NULL, NULL); /* NULL table: the "none" table */
	assert_ptr_equal(urt_slab_current().table, &urt_slab_table_none);
	urt_slab_restore(p2);
	urt_slab_restore(p1);
	assert_ptr_equal(urt_slab_current().slab, &a);
	urt_slab_restore(p0);
	assert_ptr_equal(urt_slab_current().table, &urt_slab_table_none);
	urt_slab_deinit(&a);
	urt_slab_deinit(&b);
}

/* A task spawned while another slab was installed is freed into that slab,
 * even after the install is undone (nexus BUG-1). */
static void test_slot_freed_through_its_own_binding(void **state)
{
	struct urt_runtime rt;
	struct urt_slab user;
	struct urt_slab_binding prev;
	struct urt_join j;
	uint64_t out;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									   .slab_slots = 8 }),
			 0);
	assert_int_equal(urt_slab_init(&user, &(struct urt_slab_opts){ .slot_size = 96,
								       .slots = 2,
								       .bounded = true }),
			 0);
	prev = urt_slab_install(&urt_slab_table_urt, &user);
	assert_int_equal(urt_spawn_slab(&add_type, &(struct add_state){ 2, 3 },
					sizeof(struct add_state), &j),
			 0);
	urt_slab_restore(prev);
	assert_int_equal(user.live, 1);
	assert_int_equal(rt.slab.live, 0);
	run_all(&rt);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 5);
	assert_int_equal(user.live, 0); /* back in the slab it came from */
	assert_int_equal(rt.slab.live, 0);
	urt_runtime_deinit(&rt);
	urt_slab_deinit(&user);
}

/* A slab table that is not urt's own: the runtime must go through its
 * function pointers (claim, commit, release, free), not the inline path. */
static struct {
	int claim, try_claim, commit, release, free;
} tcalls;

static int w_claim(void *slab, struct urt_slot *out)
{
	tcalls.claim++;
	return urt_slab_claim(slab, out);
}

static int w_try_claim(void *slab, struct urt_slot *out)
{
	tcalls.try_claim++;
	return urt_slab_try_claim(slab, out);
}

static void w_commit(void *slab, const struct urt_slot *claim)
{
	tcalls.commit++;
	urt_slab_commit(slab, claim);
}

static void w_release(void *slab, const struct urt_slot *claim)
{
	tcalls.release++;
	urt_slab_release(slab, claim);
}

static void w_free(void *slab, void *ptr, uint32_t chunk)
{
	tcalls.free++;
	urt_slab_free(slab, ptr, chunk);
}

static size_t w_slot_size(const void *slab)
{
	return ((const struct urt_slab *)slab)->slot_size;
}

static const struct urt_slab_table wrapped = {
	.claim = w_claim,
	.try_claim = w_try_claim,
	.commit = w_commit,
	.release = w_release,
	.free = w_free,
	.slot_size = w_slot_size,
};

static void test_foreign_table_goes_through_pointers(void **state)
{
	struct urt_runtime rt;
	struct urt_slab user;
	struct urt_slab_binding prev;
	struct urt_claim c;
	struct urt_join j1, j2;
	uint64_t out;

	(void)state;
	memset(&tcalls, 0, sizeof(tcalls));
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ 0 }), 0);
	assert_int_equal(urt_slab_init(&user, &(struct urt_slab_opts){ .slot_size = 128,
								       .slots = 2,
								       .bounded = true }),
			 0);
	prev = urt_slab_install(&wrapped, &user);
	assert_int_equal(urt_spawn_slab(&add_type, big_state_for_wrapped, 65, NULL), -EMSGSIZE);
	assert_int_equal(urt_spawn_slab(&add_type, &(struct add_state){ 1, 2 },
					sizeof(struct add_state), &j1),
			 0);
	assert_int_equal(urt_claim_slab(&c), 0);
	urt_claim_release(&c);
	assert_int_equal(urt_try_claim_slab(&c), 0);
	assert_int_equal(urt_claim_capacity(&c), 64);
	*(struct add_state *)urt_claim_state(&c) = (struct add_state){ 3, 4 };
	assert_int_equal(urt_claim_spawn(&c, &add_type, &j2), 0);
	assert_int_equal(urt_try_claim_slab(&c), -ENOSPC); /* both slots in use */
	urt_slab_restore(prev);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j1, &out), 0);
	assert_int_equal(out, 3);
	assert_int_equal(urt_join_take(&j2, &out), 0);
	assert_int_equal(out, 7);
	assert_int_equal(tcalls.claim, 2);
	assert_int_equal(tcalls.try_claim, 2);
	assert_int_equal(tcalls.commit, 2);
	assert_int_equal(tcalls.release, 1);
	assert_int_equal(tcalls.free, 2);
	assert_int_equal(user.live + user.claimed, 0);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
	urt_slab_deinit(&user);
}

static void test_too_many_bindings(void **state)
{
	struct urt_runtime rt;
	struct urt_slab slabs[9];
	struct urt_slab_binding prev;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ 0 }), 0);
	for (int i = 0; i < 9; i++) {
		assert_int_equal(urt_slab_init(&slabs[i], &(struct urt_slab_opts){ .slot_size = 96,
										   .slots = 2 }),
				 0);
		prev = urt_slab_install(&urt_slab_table_urt, &slabs[i]);
		assert_int_equal(urt_spawn_slab(&add_type, &(struct add_state){ 0 },
						sizeof(struct add_state), NULL),
				 i < 8 ? 0 : -ETOOMANYREFS);
		urt_slab_restore(prev);
	}
	assert_int_equal(urt_run(&rt), 0);
	for (int i = 0; i < 9; i++) {
		assert_int_equal(slabs[i].live, 0); /* each slot went home */
		urt_slab_deinit(&slabs[i]);
	}
	assert_int_equal(urt_runtime_deinit(&rt), 0);
}

/* --- claims ------------------------------------------------------------------ */

static void test_claim_release_and_spawn(void **state)
{
	struct urt_runtime rt;
	struct urt_claim c;
	struct urt_join j;
	uint64_t out;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt,
					  &(struct urt_runtime_opts){
						  .slab = URT_SLAB_BOUNDED,
						  .slot_size = 128,
						  .slab_slots = 1,
					  }),
			 0);
	assert_int_equal(urt_claim_slab(&c), 0);
	assert_int_equal(urt_claim_capacity(&c), 64);
	assert_int_equal(rt.slab.claimed, 1);
	urt_claim_release(&c); /* nothing lost */
	assert_int_equal(rt.slab.claimed, 0);
	assert_int_equal(rt.slab.live, 0);
	assert_int_equal(rstats(&rt).live, 0);

	assert_int_equal(urt_try_claim_slab(&c), 0);
	*(struct add_state *)urt_claim_state(&c) = (struct add_state){ 40, 2 };
	assert_int_equal(urt_claim_spawn(&c, NULL, &j), -EINVAL); /* claim still held */
	assert_int_equal(urt_claim_spawn(&c, &add_type, &j), 0);
	assert_int_equal(rt.slab.live, 1);
	run_all(&rt);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 42);
	assert_int_equal(rstats(&rt).spawned_claim, 1);
	assert_int_equal(rt.slab.live, 0);
	urt_runtime_deinit(&rt);
}

static void test_try_claim_full_changes_nothing(void **state)
{
	struct test_alloc ta;
	struct urt_runtime rt;
	struct urt_claim c1, c2, c3 = { .task = (void *)0x1 };
	struct urt_runtime_stats before;
	struct urt_slab_stats sb, sa;

	(void)state;
	test_alloc_init(&ta);
	assert_int_equal(urt_runtime_init(&rt,
					  &(struct urt_runtime_opts){
						  .slab = URT_SLAB_BOUNDED,
						  .slab_slots = 2,
						  .allocator = &ta.al,
					  }),
			 0);
	assert_int_equal(urt_try_claim_slab(&c1), 0);
	assert_int_equal(urt_claim_slab(&c2), 0);
	size_t calls = ta.calls;
	before = rstats(&rt);
	urt_slab_stats(&rt.slab, &sb);
	assert_int_equal(urt_try_claim_slab(&c3), -ENOSPC);
	assert_int_equal(urt_claim_slab(&c3), -ENOSPC);
	assert_int_equal(
		urt_spawn_slab(&add_type, &(struct add_state){ 0 }, sizeof(struct add_state), NULL),
		-ENOSPC);
	urt_slab_stats(&rt.slab, &sa);
	assert_memory_equal(&sa, &sb, sizeof(sa));
	struct urt_runtime_stats after = rstats(&rt);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_ptr_equal(c3.task, (void *)0x1);
	assert_int_equal(ta.calls, calls); /* nothing allocated */
	urt_claim_release(&c1);
	urt_claim_release(&c2);
	urt_runtime_deinit(&rt);
	assert_int_equal(ta.live_blocks, 0);
}

/* --- abort, starvation, detach --------------------------------------------------- */

static void test_abort_parked_task_reclaims_slot(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	uint64_t out = 7;

	(void)state;
	drops = 0;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									   .slab_slots = 4 }),
			 0);
	assert_int_equal(urt_spawn_slab(&park_type, &(struct park_state){ 0 },
					sizeof(struct park_state), &j),
			 0);
	assert_true(urt_tick(&rt, 0) == 1); /* polled once: now parked */
	assert_int_equal(urt_tick(&rt, 0), 0);
	assert_int_equal(rt.slab.live, 1);
	assert_int_equal(rstats(&rt).active, 1);
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_tick(&rt, 0), 0); /* drop ran, not poll */
	assert_int_equal(drops, 1);
	assert_true(urt_join_is_finished(&j));
	assert_int_equal(urt_join_abort(&j), -EALREADY);
	assert_int_equal(rt.slab.live, 1); /* the handle still refers to it */
	assert_int_equal(urt_join_take(&j, &out), -ECANCELED);
	assert_int_equal(out, 7);
	assert_int_equal(rt.slab.live, 0);
	assert_int_equal(rstats(&rt).aborted, 1);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
}

static void test_yield_forever_does_not_starve(void **state)
{
	struct urt_runtime rt;
	struct urt_join spin, y;
	uint64_t out;
	int ticks = 0;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .poll_budget = 4 }), 0);
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
	assert_int_equal(urt_runtime_deinit(&rt), 0);
}

static void test_wake_dedups_and_detach(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ 0 }), 0);
	assert_int_equal(urt_spawn(&rt, &park_type, &(struct park_state){ 0 },
				   sizeof(struct park_state), &j),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	urt_task_wake(j.task);
	urt_task_wake(j.task); /* already queued: not queued twice */
	assert_int_equal(rstats(&rt).wakes_local, 1);
	assert_int_equal(urt_tick(&rt, 0), 1); /* one poll; parks again */
	assert_int_equal(urt_tick(&rt, 0), 0);
	/* send the value it waits for, through its state: it finishes */
	assert_int_equal(urt_oneshot_send(&((struct park_state *)urt_task_state(j.task))->never, 1),
			 0);
	urt_join_detach(&j);
	assert_null(j.task);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(rstats(&rt).live, 0); /* detached and finished: reclaimed */
	assert_int_equal(urt_runtime_deinit(&rt), 0);
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
	assert_int_equal(urt_runtime_init(&rt,
					  &(struct urt_runtime_opts){
						  .slab = URT_SLAB_UNBOUNDED,
						  .slab_slots = 8,
						  .allocator = &ta.al,
					  }),
			 0);
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
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ 0 }), 0);
	assert_int_equal(urt_spawn(&rt, &scoped_type, &(struct scoped_state){ 0 },
				   sizeof(struct scoped_state), &j),
			 0);
	run_all(&rt);
	for (int i = 0; i < URT_SIZECLASS_COUNT; i++)
		live += rt.sc.pools[i].live;
	assert_int_equal(live + rt.sc.large_live, 2); /* still held: the handle keeps it */
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0);
	live = 0;
	for (int i = 0; i < URT_SIZECLASS_COUNT; i++)
		live += rt.sc.pools[i].live;
	assert_int_equal(live + rt.sc.large_live, 0);
	assert_int_equal(rt.scopes.live, 0);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
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
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ 0 }), 0);
	assert_int_equal(urt_spawn(&rt, &nested_tick_type, NULL, 0, &j), 0);
	run_all(&rt);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal((int)(int64_t)out, -EBUSY);

	/* urt_stop ends urt_run with a task still alive */
	assert_int_equal(urt_spawn(&rt, &spin_type, NULL, 0, NULL), 0);
	assert_int_equal(urt_spawn(&rt, &stopper_type, NULL, 0, NULL), 0);
	run_all(&rt);
	assert_int_equal(rstats(&rt).active, 1);

	/* per-type stats */
	bool seen = false;
	for (int i = 0; i < URT_TYPE_STATS; i++) {
		if (rt.types[i].type != &nested_tick_type)
			continue;
		assert_int_equal(rt.types[i].spawned, 1);
		assert_int_equal(rt.types[i].completed, 1);
		assert_int_equal(rt.types[i].polls, 1);
		seen = true;
	}
	assert_true(seen);
	assert_int_equal(urt_runtime_deinit(&rt), 1);

	/* a tick with nothing to do and a finite timeout waits that long;
	 * with URT_TICK_FOREVER and nothing that could complete it returns
	 * at once (it used to hang) */
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ 0 }), 0);
	assert_int_equal(urt_tick(&rt, 1000000), 0);
	assert_int_equal(rstats(&rt).parks, 1);
	assert_int_equal(urt_tick(&rt, URT_TICK_FOREVER), 0);
	assert_int_equal(rstats(&rt).parks, 1);
	assert_int_equal(urt_tick(&rt, 0), 0); /* timeout 0: never parks */
	assert_int_equal(rstats(&rt).parks, 1);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
}

/* --- frame checks ---------------------------------------------------------------------- */

static char hook_msg[256];
static int hook_calls;

static void hook(void *ctx, const char *msg)
{
	(void)ctx;
	hook_calls++;
	snprintf(hook_msg, sizeof(hook_msg), "%s", msg);
}

struct frame_state {
	uint64_t pad;
	char *scratch; /* offset 8 */
	int phase;
};

static bool frame_bad_poll(struct urt_task *t, void *arg)
{
	struct frame_state *st = arg;

	URT_BEGIN(t);
	st->scratch = urt_frame_alloc(64, 16); /* fine within the tick ... */
	URT_YIELD(t);			       /* ... but held across the await */
	st->scratch = NULL;
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type frame_bad_type = { .poll = frame_bad_poll, .name = "frame-bad" };

static bool frame_good_poll(struct urt_task *t, void *arg)
{
	struct frame_state *st = arg;
	char *tmp;

	URT_BEGIN(t);
	tmp = urt_frame_alloc(64, 16); /* a local: dies with the poll */
	memset(tmp, 0, 64);
	URT_YIELD(t);
	(void)st;
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type frame_good_type = { .poll = frame_good_poll,
						      .name = "frame-good" };

static void test_frame_check_reports_pointer_held_across_await(void **state)
{
	struct urt_runtime rt;

	(void)state;
#ifndef URT_DEBUG
	skip(); /* the check is a debug-build feature */
#endif
	hook_calls = 0;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .debug_hook = hook }),
			 0);
	assert_int_equal(urt_spawn(&rt, &frame_good_type, &(struct frame_state){ 0 },
				   sizeof(struct frame_state), NULL),
			 0);
	run_all(&rt);
	assert_int_equal(hook_calls, 0);
	assert_int_equal(urt_spawn(&rt, &frame_bad_type, &(struct frame_state){ 0 },
				   sizeof(struct frame_state), NULL),
			 0);
	run_all(&rt);
	assert_int_equal(hook_calls, 1);
	assert_string_equal(hook_msg, "urt: frame pointer held across await: task 'frame-bad' "
				      "state offset 8");
	/* and at spawn: a state that captures frame memory */
	struct frame_state fs = { .scratch = urt_frame_alloc(8, 8) };
	assert_non_null(fs.scratch);
	assert_int_equal(urt_spawn(&rt, &frame_good_type, &fs, sizeof(fs), NULL), 0);
	assert_int_equal(hook_calls, 2);
	assert_string_equal(hook_msg, "urt: frame data captured by a spawned task: task "
				      "'frame-good' state offset 8");
	assert_int_equal(rstats(&rt).frame_reports, 2);
	run_all(&rt);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
}

/* --- io_uring unavailable ---------------------------------------------------------------- */

static void test_io_uring_blocked_gives_clear_error(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* seccomp: io_uring_setup fails with EPERM, as under a container
		 * profile or kernel.io_uring_disabled=2 */
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
		struct urt_runtime rt;

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(10);
		int ret =
			urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									  .slab_slots = 4 });
		/* clean failure: no runtime, no slab left installed */
		_exit(ret == -EPERM && !urt_runtime_current() &&
				      urt_slab_current().table == &urt_slab_table_none
			      ? 0
			      : 11);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_runtime_per_thread),
		cmocka_unit_test(test_spawn_boxed_and_join),
		cmocka_unit_test(test_join_await_in_task),
		cmocka_unit_test(test_spawn_errors),
		cmocka_unit_test(test_spawn_out_of_memory_changes_nothing),
		cmocka_unit_test(test_nested_installs_restore),
		cmocka_unit_test(test_slot_freed_through_its_own_binding),
		cmocka_unit_test(test_foreign_table_goes_through_pointers),
		cmocka_unit_test(test_too_many_bindings),
		cmocka_unit_test(test_claim_release_and_spawn),
		cmocka_unit_test(test_try_claim_full_changes_nothing),
		cmocka_unit_test(test_abort_parked_task_reclaims_slot),
		cmocka_unit_test(test_yield_forever_does_not_starve),
		cmocka_unit_test(test_wake_dedups_and_detach),
		cmocka_unit_test(test_deinit_with_live_tasks_leaks_nothing),
		cmocka_unit_test(test_task_scoped_allocations_freed_at_reclaim),
		cmocka_unit_test(test_tick_rules_stop_and_type_stats),
		cmocka_unit_test(test_frame_check_reports_pointer_held_across_await),
		cmocka_unit_test(test_io_uring_blocked_gives_clear_error),
	};

	return cmocka_run_group_tests_name("task", tests, NULL, NULL);
}
