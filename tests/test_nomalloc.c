/* SPDX-License-Identifier: MIT */
/*
 * test_nomalloc.c - 1M slab spawns in steady state call malloc zero times.
 *
 * Links support/heap_count.c, which interposes the C heap and counts calls
 * while heap_counting is set. Not built with sanitizers, which own malloc.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "support/heap_count.h"
#include "urt/urt.h"

struct work {
	uint64_t x[4];
};

static uint64_t sum;

static bool work_poll(struct urt_task *t, void *arg)
{
	struct work *w = arg;

	(void)t;
	sum += w->x[0] + w->x[3];
	return true;
}

static const struct urt_task_type work_type = { .poll = work_poll, .name = "work" };

enum { BATCH = 1000, ROUNDS = 1000 }; /* 1M spawns */

static void spawn_round(struct urt_runtime *rt, bool boxed)
{
	for (int i = 0; i < BATCH; i++) {
		struct work w = { { (uint64_t)i, 0, 0, 1 } };

		if (boxed)
			assert_int_equal(urt_spawn(rt, &work_type, &w, sizeof(w), NULL), 0);
		else
			assert_int_equal(urt_spawn_slab(&work_type, &w, sizeof(w), NULL), 0);
	}
	assert_int_equal(urt_tick(rt, 0), BATCH);
}

static void test_slab_spawns_never_malloc(void **state)
{
	struct urt_runtime rt;
	size_t slab_calls, boxed_calls;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt,
					  &(struct urt_runtime_opts){
						  .slab = URT_SLAB_UNBOUNDED,
						  .slot_size = 128,
						  .slab_slots = 256,
						  .poll_budget = BATCH,
					  }),
			 0);
	spawn_round(&rt, false); /* warm: the slab and registry grow here */
	spawn_round(&rt, true);
	heap_calls = 0;
	heap_counting = true;
	for (int r = 0; r < ROUNDS; r++)
		spawn_round(&rt, false);
	heap_counting = false;
	slab_calls = heap_calls;

	heap_calls = 0; /* control: boxed spawns do reach the heap, so the
			 * interposer sees the runtime's allocations */
	heap_counting = true;
	spawn_round(&rt, true);
	heap_counting = false;
	boxed_calls = heap_calls;

	print_message("heap calls: %zu for %d slab spawns, %zu for %d boxed spawns\n", slab_calls,
		      BATCH * ROUNDS, boxed_calls, BATCH);
	assert_int_equal(slab_calls, 0);
	assert_true(boxed_calls >= BATCH);
	assert_int_equal(sum,
			 (uint64_t)(ROUNDS + 3) * BATCH * (BATCH - 1) / 2 + (ROUNDS + 3) * BATCH);
	assert_int_equal(urt_runtime_deinit(&rt), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slab_spawns_never_malloc),
	};

	return cmocka_run_group_tests_name("nomalloc", tests, NULL, NULL);
}
