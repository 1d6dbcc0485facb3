/* SPDX-License-Identifier: MIT */
/*
 * test_slab_bind.c - spawning into slabs through per-thread bindings: nested
 * installs, a slot freed through the binding it came from (the wrong-slab
 * free), foreign tables called through pointers, the binding limit; claims
 * released, spawned, and refused when full with nothing changed; every
 * vacant slot claimable without allocating (the registry covers the slab).
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <signal.h>
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
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									   .slab_slots = 8 });
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
 * even after the install is undone (the wrong-slab free). */
static void test_slot_freed_through_its_own_binding(void **state)
{
	struct urt_runtime rt;
	struct urt_slab user;
	struct urt_slab_binding prev;
	struct urt_join j;
	uint64_t out;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
									   .slab_slots = 8 });
	assert_int_equal(urt_slab_init(&user, &(struct urt_slab_opts){ .slot_size = 96,
								       .slots = 2,
								       .bounded = true }),
			 0);
	prev = urt_slab_install(&urt_slab_table_urt, &user);
	assert_int_equal(urt_spawn_slab(&add_type, &(struct add_state){ 2, 3 },
					sizeof(struct add_state), &j),
			 0);
	urt_slab_restore(prev);
	assert_int_equal(urt_slab_used(&user), 1);
	assert_int_equal(urt_slab_used(&rt.slab), 0);
	run_all(&rt);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 5);
	assert_int_equal(urt_slab_used(&user), 0); /* back in the slab it came from */
	assert_int_equal(urt_slab_used(&rt.slab), 0);
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
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
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
	assert_int_equal(urt_slab_used(&user), 0);
	test_runtime_end(&rt);
	urt_slab_deinit(&user);
}

static void test_too_many_bindings(void **state)
{
	struct urt_runtime rt;
	struct urt_slab slabs[9];
	struct urt_slab_binding prev;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
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
		assert_int_equal(urt_slab_used(&slabs[i]), 0); /* each slot went home */
		urt_slab_deinit(&slabs[i]);
	}
	test_runtime_end(&rt);
}

/*
 * A slab the runtime spawned from, deinit and initialised again at the same
 * address (64-byte slots, too small for any task) and installed again: the
 * runtime's binding is keyed by the address, and the slab's init generation
 * tells the new slab from the old one. Release builds refuse every way in
 * (the inline spawn, a spawn with a handle, both claims) with -ESTALE and
 * change nothing; debug and ASan builds stop with a message (test_death
 * checks it under ASan, this case in every build).
 */
static void rebound_scenario(struct urt_runtime *rt, struct urt_slab *s)
{
	struct urt_slab_binding prev;
	struct urt_runtime_stats before;
	struct urt_claim c;
	struct urt_join j;
	uint64_t out;

	assert_int_equal(urt_slab_init(s, &(struct urt_slab_opts){ .slot_size = 256, .slots = 16 }),
			 0);
	prev = urt_slab_install(&urt_slab_table_urt, s);
	/* the first spawn binds the slab, the second takes the inline case */
	for (int i = 0; i < 2; i++)
		assert_int_equal(urt_spawn_slab(&add_type, &(struct add_state){ 1, 2 },
						sizeof(struct add_state), NULL),
				 0);
	assert_int_equal(urt_run(rt), 0);
	urt_slab_restore(prev);
	urt_slab_deinit(s);
	assert_int_equal(urt_slab_init(s, &(struct urt_slab_opts){ .slot_size = 64, .slots = 16 }),
			 0);
	prev = urt_slab_install(&urt_slab_table_urt, s);
	before = test_stats(rt);
	assert_int_equal(urt_spawn_slab(&add_type, &(struct add_state){ 1, 2 },
					sizeof(struct add_state), NULL),
			 -ESTALE);
	assert_int_equal(urt_spawn_slab(&add_type, &(struct add_state){ 1, 2 },
					sizeof(struct add_state), &j),
			 -ESTALE);
	assert_int_equal(urt_claim_slab(&c), -ESTALE);
	assert_int_equal(urt_try_claim_slab(&c), -ESTALE);
	assert_int_equal(urt_slab_used(s), 0);
	assert_int_equal(test_stats(rt).spawned_slab, before.spawned_slab);
	assert_int_equal(test_stats(rt).active, 0);
	assert_int_equal(test_stats(rt).live, before.live);
	urt_slab_restore(prev);
	/* the same slab at another address is a new binding, and it works */
	urt_slab_deinit(s);
	assert_int_equal(
		urt_slab_init(&s[1], &(struct urt_slab_opts){ .slot_size = 256, .slots = 16 }), 0);
	prev = urt_slab_install(&urt_slab_table_urt, &s[1]);
	assert_int_equal(urt_spawn_slab(&add_type, &(struct add_state){ 20, 22 },
					sizeof(struct add_state), &j),
			 0);
	assert_int_equal(urt_run(rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 42);
	urt_slab_restore(prev);
}

static void rebound_child(void)
{
	static struct urt_slab s[2];
	struct urt_runtime rt;

	test_runtime_init(&rt, NULL);
	rebound_scenario(&rt, s); /* the stop comes first */
}

static void test_rebound_slab_refused(void **state)
{
	static struct urt_slab s[2];
	struct urt_runtime rt;
	const char *err;
	int status;

	(void)state;
	if (!test_has_feature(URT_FEAT_DEBUG_CHECKS)) {
		test_runtime_init(&rt, NULL);
		rebound_scenario(&rt, s);
		test_runtime_end(&rt);
		urt_slab_deinit(&s[1]);
		return;
	}
	/* debug builds: the first -ESTALE is a stop instead, in a child */
	err = test_run_child(rebound_child, &status);
	if (!strstr(err, "a slab re-initialised while bound"))
		fail_msg("child report lacks the stop:\n%s", err);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

/* --- claims ------------------------------------------------------------------ */

static void test_claim_release_and_spawn(void **state)
{
	struct urt_runtime rt;
	struct urt_claim c;
	struct urt_join j;
	uint64_t out;

	(void)state;
	test_runtime_init(&rt,
					  &(struct urt_runtime_opts){
						  .slab = URT_SLAB_BOUNDED,
						  .slot_size = 128,
						  .slab_slots = 1,
					  });
	assert_int_equal(urt_claim_slab(&c), 0);
	assert_int_equal(urt_claim_capacity(&c), 64);
	assert_int_equal(urt_slab_used(&rt.slab), 1);
	urt_claim_release(&c); /* nothing lost */
	assert_int_equal(urt_slab_used(&rt.slab), 0);
	assert_int_equal(urt_slab_used(&rt.slab), 0);
	assert_int_equal(test_stats(&rt).live, 0);

	assert_int_equal(urt_try_claim_slab(&c), 0);
	*(struct add_state *)urt_claim_state(&c) = (struct add_state){ 40, 2 };
	assert_int_equal(urt_claim_spawn(&c, NULL, &j), -EINVAL); /* claim still held */
	assert_int_equal(urt_claim_spawn(&c, &add_type, &j), 0);
	assert_int_equal(urt_slab_used(&rt.slab), 1);
	run_all(&rt);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 42);
	assert_int_equal(test_stats(&rt).spawned_claim, 1);
	assert_int_equal(urt_slab_used(&rt.slab), 0);
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
	test_runtime_init(&rt,
					  &(struct urt_runtime_opts){
						  .slab = URT_SLAB_BOUNDED,
						  .slab_slots = 2,
						  .allocator = &ta.al,
					  });
	assert_int_equal(urt_try_claim_slab(&c1), 0);
	assert_int_equal(urt_claim_slab(&c2), 0);
	size_t calls = ta.calls;
	before = test_stats(&rt);
	urt_slab_stats(&rt.slab, &sb);
	assert_int_equal(urt_try_claim_slab(&c3), -ENOSPC);
	assert_int_equal(urt_claim_slab(&c3), -ENOSPC);
	assert_int_equal(
		urt_spawn_slab(&add_type, &(struct add_state){ 0 }, sizeof(struct add_state), NULL),
		-ENOSPC);
	urt_slab_stats(&rt.slab, &sa);
	assert_memory_equal(&sa, &sb, sizeof(sa));
	struct urt_runtime_stats after = test_stats(&rt);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_ptr_equal(c3.task, (void *)0x1);
	assert_int_equal(ta.calls, calls); /* nothing allocated */
	urt_claim_release(&c1);
	urt_claim_release(&c2);
	urt_runtime_deinit(&rt);
	assert_int_equal(ta.live_blocks, 0);
}

/*
 * Try-claim until refused; the count claimed. Each try must change nothing
 * in the backing allocator (it never allocates).
 */
static struct urt_claim many[4096];

static unsigned try_claim_all(struct test_alloc *ta, unsigned from)
{
	unsigned n = from;

	for (;;) {
		size_t calls = ta->calls;
		int ret = urt_try_claim_slab(&many[n]);

		assert_int_equal(ta->calls, calls);
		if (ret) {
			assert_int_equal(ret, -ENOSPC);
			return n;
		}
		n++;
		assert_true(n < sizeof(many) / sizeof(many[0]));
	}
}

static void release_all(unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		urt_claim_release(&many[i]);
}

/*
 * issue 17, defect 1: the registry used to start at 256 entries and a try
 * claim refused to grow it, so an unbounded slab stopped at 256 live tasks
 * with 768 of 1024 slots free. Every vacant slot now has its entry.
 */
static void test_try_claim_takes_every_vacant_slot_unbounded(void **state)
{
	struct test_alloc ta;
	struct urt_runtime rt;
	struct urt_slab_stats ss;
	unsigned n;

	(void)state;
	test_alloc_init(&ta);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
							   .slab_slots = 1024,
							   .allocator = &ta.al });
	assert_int_equal(urt_claim_slab(&many[0]), 0); /* the first chunk, if not yet there */
	n = try_claim_all(&ta, 1);
	urt_slab_stats(&rt.slab, &ss);
	assert_int_equal(ss.capacity, 1024);
	assert_int_equal(n, 1024);
	/* a claim that may allocate grows the slab, and the registry with it */
	assert_int_equal(urt_claim_slab(&many[n++]), 0);
	n = try_claim_all(&ta, n);
	urt_slab_stats(&rt.slab, &ss);
	assert_int_equal(ss.capacity, 2048);
	assert_int_equal(n, 2048);
	/* spawned, they are tasks with the same entries */
	for (unsigned i = 0; i < n; i++) {
		*(struct add_state *)urt_claim_state(&many[i]) = (struct add_state){ i, 1 };
		assert_int_equal(urt_claim_spawn(&many[i], &add_type, NULL), 0);
	}
	assert_int_equal(test_stats(&rt).live, 2048);
	run_all(&rt);
	assert_int_equal(test_stats(&rt).live, 0);
	assert_int_equal(rt.nloose, 0);
	urt_runtime_deinit(&rt);
	assert_int_equal(ta.live_blocks, 0);
}

/* ... and a bounded slab of 1024 with three boxed tasks spawned first gave
 * only 1021: boxed tasks take entries of their own. */
static void test_try_claim_takes_every_vacant_slot_bounded(void **state)
{
	struct test_alloc ta;
	struct urt_runtime rt;
	struct urt_join j[3];
	struct urt_slab bs;
	struct urt_slab_binding prev;
	uint64_t out;
	unsigned n;

	(void)state;
	test_alloc_init(&ta);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
							   .slab_slots = 1024,
							   .allocator = &ta.al });
	for (int i = 0; i < 3; i++)
		assert_int_equal(urt_spawn(&rt, &add_type, &(struct add_state){ 1, 2 },
					   sizeof(struct add_state), &j[i]),
				 0);
	n = try_claim_all(&ta, 0);
	assert_int_equal(n, 1024);
	release_all(n);
	/* interleaved: boxed spawns between try claims take nothing from them */
	n = try_claim_all(&ta, 0);
	assert_int_equal(n, 1024);
	for (int i = 0; i < 300; i++)
		assert_int_equal(urt_spawn(&rt, &add_type, &(struct add_state){ 0 },
					   sizeof(struct add_state), NULL),
				 0);
	urt_claim_release(&many[--n]);
	assert_int_equal(try_claim_all(&ta, n), 1024);
	release_all(1024);
	run_all(&rt);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(urt_join_take(&j[i], &out), 0);
		assert_int_equal(out, 3);
	}

	/* a slab the program installs after init is bound, and covered, by
	 * the first call through it that may allocate */
	assert_int_equal(urt_slab_init(&bs, &(struct urt_slab_opts){ .slot_size = 128,
								    .slots = 600,
								    .bounded = true }),
			 0);
	prev = urt_slab_install(&urt_slab_table_urt, &bs);
	assert_int_equal(urt_claim_slab(&many[0]), 0);
	assert_int_equal(try_claim_all(&ta, 1), 600);
	release_all(600);
	urt_slab_restore(prev);
	urt_runtime_deinit(&rt);
	urt_slab_deinit(&bs);
	assert_int_equal(ta.live_blocks, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_installs_restore),
		cmocka_unit_test(test_slot_freed_through_its_own_binding),
		cmocka_unit_test(test_foreign_table_goes_through_pointers),
		cmocka_unit_test(test_too_many_bindings),
		cmocka_unit_test(test_rebound_slab_refused),
		cmocka_unit_test(test_claim_release_and_spawn),
		cmocka_unit_test(test_try_claim_full_changes_nothing),
		cmocka_unit_test(test_try_claim_takes_every_vacant_slot_unbounded),
		cmocka_unit_test(test_try_claim_takes_every_vacant_slot_bounded),
	};

	return cmocka_run_group_tests_name("slab_bind", tests, NULL, NULL);
}
