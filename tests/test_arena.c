/* SPDX-License-Identifier: MIT */
/* test_arena.c - frame arena: alignment, cap, reset policy, marks, model, OOM sweep. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/arena.h"

static struct urt_arena_stats stats(const struct urt_arena *a)
{
	struct urt_arena_stats st;

	urt_arena_stats(a, &st);
	return st;
}

static void test_init_rejects_cap_below_chunk(void **state)
{
	struct urt_arena a;

	(void)state;
	assert_int_equal(
		urt_arena_init(&a, &(struct urt_arena_opts){ .chunk_size = 4096, .cap = 100 }),
		-EINVAL);
}

static void test_alignment_1_to_4096(void **state)
{
	struct urt_arena a;

	(void)state;
	assert_int_equal(
		urt_arena_init(&a, &(struct urt_arena_opts){ .chunk_size = 8192, .cap = 1 << 22 }),
		0);
	for (int round = 0; round < 3; round++) {
		for (size_t align = 1; align <= 4096; align *= 2) {
			/* an odd-sized block first, so the next one starts misaligned */
			char *odd = urt_arena_alloc(&a, 3, 1);
			char *p = urt_arena_alloc(&a, 100, align);

			assert_non_null(odd);
			assert_non_null(p);
			assert_int_equal((uintptr_t)p % align, 0);
			assert_true(urt_arena_contains(&a, p));
			assert_true(urt_arena_contains(&a, p + 99));
			memset(p, 0x5a, 100);
		}
		urt_arena_reset(&a);
	}
	/* not a power of two, or above 4096: refused, never misaligned */
	assert_null(urt_arena_alloc(&a, 8, 3));
	assert_null(urt_arena_alloc(&a, 8, 0));
	assert_null(urt_arena_alloc(&a, 8, 8192));
	assert_int_equal(stats(&a).used, 0);
	urt_arena_deinit(&a);
}

static void test_cap_reached_returns_null_and_stays_usable(void **state)
{
	struct test_alloc ta;
	struct urt_arena a;
	size_t got = 0;

	(void)state;
	test_alloc_init(&ta);
	assert_int_equal(urt_arena_init(&a, &(struct urt_arena_opts){ .chunk_size = 1024,
								      .cap = 8192,
								      .allocator = &ta.al }),
			 0);
	while (urt_arena_alloc(&a, 256, 16))
		got += 256;
	assert_true(got >= 4096);
	assert_true(stats(&a).held <= 8192);
	assert_null(urt_arena_alloc(&a, 100000, 16)); /* larger than the cap */
	/* a small request still fits in a chunk's tail if there is one */
	urt_arena_reset(&a);
	assert_non_null(urt_arena_alloc(&a, 256, 16));
	assert_true(stats(&a).held <= 8192);
	urt_arena_deinit(&a);
	assert_int_equal(ta.live_blocks, 0);
}

static void test_reset_is_o1_and_reuses_first_chunk(void **state)
{
	struct test_alloc ta;
	struct urt_arena a;
	void *first;

	(void)state;
	test_alloc_init(&ta);
	assert_int_equal(urt_arena_init(&a, &(struct urt_arena_opts){ .chunk_size = 4096,
								      .allocator = &ta.al }),
			 0);
	first = urt_arena_alloc(&a, 64, 16);
	size_t calls = ta.calls;
	for (uint64_t i = 1; i <= 1000; i++) {
		urt_arena_reset(&a);
		assert_int_equal(urt_arena_epoch(&a), i);
		assert_ptr_equal(urt_arena_alloc(&a, 64, 16), first);
	}
	assert_int_equal(ta.calls, calls); /* no backing call in steady state */
	assert_int_equal(stats(&a).resets, 1000);
	assert_int_equal(stats(&a).chunks, 1);
	urt_arena_deinit(&a);
	assert_int_equal(ta.live_blocks, 0);
}

static void test_spare_policy_stops_allocating(void **state)
{
	struct test_alloc ta;
	struct urt_arena a;
	size_t calls = 0;

	(void)state;
	test_alloc_init(&ta);
	assert_int_equal(urt_arena_init(&a, &(struct urt_arena_opts){ .chunk_size = 1024,
								      .cap = 1 << 20,
								      .allocator = &ta.al }),
			 0);
	/* every frame needs 20 KiB: far more than the first chunk */
	for (int frame = 0; frame < 10; frame++) {
		size_t before = ta.calls;

		for (int i = 0; i < 20; i++)
			assert_non_null(urt_arena_alloc(&a, 1024, 16));
		assert_true(stats(&a).used >= 20 * 1024);
		urt_arena_reset(&a);
		assert_true(stats(&a).chunks <= 2); /* first + spare */
		if (frame >= 5)
			calls += ta.calls - before;
	}
	assert_int_equal(calls, 0);
	assert_true(stats(&a).high_water >= 20 * 1024);
	urt_arena_deinit(&a);
	assert_int_equal(ta.live_blocks, 0);
}

static void test_mark_rewind_nested_and_stale(void **state)
{
	struct urt_arena a;
	struct urt_arena_mark m0, m1, m2;
	char *p0, *p1, *p2;

	(void)state;
	assert_int_equal(
		urt_arena_init(&a, &(struct urt_arena_opts){ .chunk_size = 1024, .cap = 1 << 20 }),
		0);
	p0 = urt_arena_alloc(&a, 100, 16);
	m0 = urt_arena_mark(&a);
	p1 = urt_arena_alloc(&a, 100, 16);
	m1 = urt_arena_mark(&a);
	for (int i = 0; i < 10; i++) /* crosses into new chunks */
		p2 = urt_arena_alloc(&a, 1000, 16);
	assert_non_null(p2);
	m2 = urt_arena_mark(&a);
	assert_int_equal(urt_arena_rewind(&a, &m1), 0);
	assert_false(urt_arena_contains(&a, p2));
	assert_int_equal(stats(&a).used, (size_t)(p1 + 100 - p0));
	assert_int_equal(urt_arena_rewind(&a, &m2), -ESTALE);	       /* its chunk is gone */
	assert_ptr_equal(urt_arena_alloc(&a, 100, 16), p1 + 100 + 12); /* 16-aligned */
	assert_int_equal(urt_arena_rewind(&a, &m0), 0);
	assert_ptr_equal(urt_arena_alloc(&a, 100, 16), p1);
	urt_arena_reset(&a);
	assert_int_equal(urt_arena_rewind(&a, &m0), -ESTALE); /* from before the reset */
	assert_int_equal(stats(&a).used, 0);
	urt_arena_deinit(&a);
}

static void test_frame_begin_end(void **state)
{
	struct urt_arena a;

	(void)state;
	assert_int_equal(urt_arena_init(&a, &(struct urt_arena_opts){ 0 }), 0);
	assert_int_equal(urt_arena_frame_end(&a), -EINVAL);
	assert_int_equal(urt_arena_frame_begin(&a), 0);
	assert_int_equal(urt_arena_frame_begin(&a), -EBUSY);
	assert_non_null(urt_arena_alloc(&a, 10, 8));
	assert_int_equal(urt_arena_frame_end(&a), 0);
	assert_int_equal(stats(&a).used, 0);
	assert_int_equal(urt_arena_frame_begin(&a), 1);
	assert_int_equal(urt_arena_frame_end(&a), 0);
	urt_arena_deinit(&a);
}

/* --- model-based test -------------------------------------------------- */

struct blk {
	char *p;
	size_t size;
	uint64_t tag;
};

static void test_model(void **state)
{
	enum { MAXB = 2048, MAXM = 16 };
	struct test_rng r = { test_seed("test_arena model", 0xa7e4a) };
	struct blk *b = calloc(MAXB, sizeof(*b));
	struct urt_arena_mark marks[MAXM];
	size_t mark_n[MAXM];
	size_t n = 0, nm = 0;
	uint64_t tag = 0;
	struct urt_arena a;

	(void)state;
	assert_int_equal(
		urt_arena_init(&a, &(struct urt_arena_opts){ .chunk_size = 2048, .cap = 1 << 20 }),
		0);
	for (int step = 0; step < 50000; step++) {
		unsigned op = (unsigned)test_rng_below(&r, 100);

		if (op < 80 && n < MAXB) {
			size_t size = test_rng_below(&r, 4) ? test_rng_below(&r, 64)
							    : test_rng_below(&r, 3000);
			size_t align = (size_t)1 << test_rng_below(&r, 13);
			char *p = urt_arena_alloc(&a, size, align);

			if (!p) /* only the cap may refuse */
				continue;
			assert_int_equal((uintptr_t)p % align, 0);
			for (size_t i = 0; i < n; i++) /* no overlap with a live block */
				assert_true(p + size <= b[i].p || b[i].p + b[i].size <= p ||
					    !size || !b[i].size);
			test_fill(p, size, ++tag);
			b[n++] = (struct blk){ p, size, tag };
		} else if (op < 88 && nm < MAXM) {
			marks[nm] = urt_arena_mark(&a);
			mark_n[nm++] = n;
		} else if (op < 95 && nm) {
			size_t k = test_rng_below(&r, nm); /* rewinding drops later marks */

			assert_int_equal(urt_arena_rewind(&a, &marks[k]), 0);
			n = mark_n[k];
			nm = k;
		} else if (op < 97) {
			urt_arena_reset(&a);
			n = nm = 0;
		} else {
			for (size_t i = 0; i < n; i++)
				assert_true(test_check(b[i].p, b[i].size, b[i].tag));
		}
	}
	for (size_t i = 0; i < n; i++)
		assert_true(test_check(b[i].p, b[i].size, b[i].tag));
	urt_arena_deinit(&a);
	free(b);
}

/* --- allocation-failure sweep ------------------------------------------ */

static void test_alloc_failure_sweep(void **state)
{
	(void)state;
	for (size_t fail_at = 1;; fail_at++) {
		struct test_alloc ta;
		struct urt_arena a;
		int ret;

		test_alloc_init(&ta);
		ta.fail_at = fail_at;
		ret = urt_arena_init(&a, &(struct urt_arena_opts){ .chunk_size = 512,
								   .cap = 1 << 20,
								   .allocator = &ta.al });
		if (ret) {
			assert_int_equal(ret, -ENOMEM);
			assert_int_equal(ta.live_blocks, 0);
			continue;
		}
		for (int frame = 0; frame < 4; frame++) {
			int got = 0;

			for (int i = 0; i < 40; i++) {
				struct urt_arena_stats before = stats(&a);
				char *p = urt_arena_alloc(&a, 100 + (size_t)frame * 50, 16);

				if (!p) { /* the failed call changed nothing */
					assert_int_equal(stats(&a).used, before.used);
					assert_int_equal(stats(&a).held, before.held);
					continue;
				}
				test_fill(p, 100, (uint64_t)i);
				got++;
			}
			assert_true(got >= 39); /* only the failing call was refused */
			urt_arena_reset(&a);
		}
		urt_arena_deinit(&a);
		assert_int_equal(ta.live_blocks, 0);
		if (!ta.failed)
			break;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_cap_below_chunk),
		cmocka_unit_test(test_alignment_1_to_4096),
		cmocka_unit_test(test_cap_reached_returns_null_and_stays_usable),
		cmocka_unit_test(test_reset_is_o1_and_reuses_first_chunk),
		cmocka_unit_test(test_spare_policy_stops_allocating),
		cmocka_unit_test(test_mark_rewind_nested_and_stale),
		cmocka_unit_test(test_frame_begin_end),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_alloc_failure_sweep),
	};

	return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
