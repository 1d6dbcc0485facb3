/* SPDX-License-Identifier: MIT */
/* test_pool.c - fixed pools and size classes: model, exhaustion, growth, OOM sweep. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/pool.h"
#include "urt/runtime.h"
#include "urt/scope.h"

static struct urt_pool_stats stats(const struct urt_pool *p)
{
	struct urt_pool_stats st;

	urt_pool_stats(p, &st);
	return st;
}

static void test_init_rejects_bad_options(void **state)
{
	struct urt_pool p;

	(void)state;
	assert_int_equal(urt_pool_init(&p, &(struct urt_pool_opts){ .obj_size = 0 }), -EINVAL);
	assert_int_equal(urt_pool_init(&p, &(struct urt_pool_opts){ .obj_size = SIZE_MAX - 3 }),
			 -EINVAL);
	assert_int_equal(urt_pool_init(&p, &(struct urt_pool_opts){ .obj_size = 1 << 20,
								    .max_objs = SIZE_MAX / 4 }),
			 -EINVAL);
}

static void test_bounded_exhaustion(void **state)
{
	struct test_alloc ta;
	struct urt_pool p;
	void *objs[10];

	(void)state;
	test_alloc_init(&ta);
	assert_int_equal(urt_pool_init(&p, &(struct urt_pool_opts){ .obj_size = 40,
								    .max_objs = 10,
								    .allocator = &ta.al }),
			 0);
	size_t calls = ta.calls;
	for (int i = 0; i < 10; i++) {
		objs[i] = urt_pool_alloc(&p);
		assert_non_null(objs[i]);
		assert_int_equal((uintptr_t)objs[i] % 16, 0);
		memset(objs[i], i, 48);
	}
	assert_null(urt_pool_alloc(&p));
	assert_int_equal(stats(&p).live, 10);
	assert_int_equal(ta.calls, calls); /* bounded: no allocation after init */
	urt_pool_free(&p, objs[4]);
	assert_ptr_equal(urt_pool_alloc(&p), objs[4]);
	for (int i = 0; i < 10; i++)
		urt_pool_free(&p, objs[i]);
	assert_int_equal(stats(&p).live, 0);
	assert_int_equal(stats(&p).high_water, 10);
	urt_pool_deinit(&p);
	assert_int_equal(ta.live_blocks, 0);
}

static void test_unbounded_grows_by_pages(void **state)
{
	struct urt_pool p;
	void *objs[100];

	(void)state;
	assert_int_equal(
		urt_pool_init(&p, &(struct urt_pool_opts){ .obj_size = 24, .page_objs = 8 }), 0);
	assert_int_equal(stats(&p).pages, 0); /* pages come on first use */
	for (int i = 0; i < 100; i++) {
		objs[i] = urt_pool_alloc(&p);
		assert_non_null(objs[i]);
		test_fill(objs[i], 32, (uint64_t)i);
	}
	assert_int_equal(stats(&p).pages, 13);
	assert_int_equal(stats(&p).capacity, 13 * 8);
	assert_int_equal(stats(&p).obj_size, 32);
	for (int i = 0; i < 100; i++)
		assert_true(test_check(objs[i], 32, (uint64_t)i));
	for (int i = 0; i < 100; i++)
		urt_pool_free(&p, objs[i]);
	for (int i = 0; i < 100; i++) /* all reused: no new page */
		objs[i] = urt_pool_alloc(&p);
	assert_int_equal(stats(&p).pages, 13);
	urt_pool_deinit(&p);
}

static void test_model(void **state)
{
	enum { MAXN = 3000 };
	struct test_rng r = { test_seed("test_pool model", 0x9001) };
	void **live = calloc(MAXN, sizeof(void *));
	uint64_t *tags = calloc(MAXN, sizeof(uint64_t));
	size_t n = 0, hw = 0;
	uint64_t tag = 0;
	struct urt_pool p;

	(void)state;
	assert_int_equal(
		urt_pool_init(&p, &(struct urt_pool_opts){ .obj_size = 56, .page_objs = 13 }), 0);
	for (int step = 0; step < 60000; step++) {
		if (test_rng_below(&r, 100) < 55 && n < MAXN) {
			void *o = urt_pool_alloc(&p);

			assert_non_null(o);
			assert_int_equal((uintptr_t)o % 16, 0);
			test_fill(o, 64, ++tag);
			live[n] = o;
			tags[n++] = tag;
			hw = n > hw ? n : hw;
		} else if (n) {
			size_t i = test_rng_below(&r, n);

			assert_true(test_check(live[i], 64, tags[i]));
			urt_pool_free(&p, live[i]);
			live[i] = live[--n];
			tags[i] = tags[n];
		}
		assert_int_equal(stats(&p).live, n);
	}
	for (size_t i = 0; i < n; i++)
		assert_true(test_check(live[i], 64, tags[i]));
	assert_int_equal(stats(&p).high_water, hw);
	assert_true(stats(&p).capacity >= hw);
	assert_true(stats(&p).capacity < hw + 13);
	urt_pool_deinit(&p);
	free(live);
	free(tags);
}

static void test_pool_alloc_failure_sweep(void **state)
{
	(void)state;
	for (size_t fail_at = 1;; fail_at++) {
		struct test_alloc ta;
		struct urt_pool p;
		void *objs[50];
		int n = 0;

		test_alloc_init(&ta);
		ta.fail_at = fail_at;
		assert_int_equal(urt_pool_init(&p, &(struct urt_pool_opts){ .obj_size = 32,
									    .page_objs = 4,
									    .allocator = &ta.al }),
				 0);
		while (n < 50) {
			struct urt_pool_stats before = stats(&p);

			objs[n] = urt_pool_alloc(&p);
			if (!objs[n]) {
				assert_int_equal(stats(&p).live, before.live);
				assert_int_equal(stats(&p).capacity, before.capacity);
				continue;
			}
			n++;
		}
		while (n)
			urt_pool_free(&p, objs[--n]);
		urt_pool_deinit(&p);
		assert_int_equal(ta.live_blocks, 0);
		if (!ta.failed)
			break;
	}
	/* a bounded pool's only allocation is at init */
	struct test_alloc ta;
	struct urt_pool p;

	test_alloc_init(&ta);
	ta.fail_at = 1;
	assert_int_equal(urt_pool_init(&p, &(struct urt_pool_opts){ .obj_size = 32,
								    .max_objs = 4,
								    .allocator = &ta.al }),
			 -ENOMEM);
	assert_int_equal(ta.live_blocks, 0);
}

/* An unbounded pool of 40-byte objects (48 each) in pages of 8, on ta. */
static void init_pages_of_8(struct urt_pool *p, struct test_alloc *ta)
{
	test_alloc_init(ta);
	assert_int_equal(urt_pool_init(p, &(struct urt_pool_opts){ .obj_size = 40,
								   .page_objs = 8,
								   .allocator = &ta->al }),
			 0);
}

/* A reserve: its pages are carved in order before any is asked of the
 * allocator (after those the pool already had), one call for the block,
 * freed whole at deinit. */
static void test_reserve_carves_pages_first(void **state)
{
	struct test_alloc ta;
	struct urt_pool p;
	void *objs[40];
	size_t calls, page = 8 * 48 + 16;

	(void)state;
	init_pages_of_8(&p, &ta);
	for (int i = 0; i < 3; i++) { /* a page of its own first */
		assert_non_null(objs[i] = urt_pool_alloc(&p));
		memset(objs[i], i, 48);
	}
	assert_int_equal(ta.calls, 1);
	assert_int_equal(urt_pool_reserve(&p, 20), 0); /* 3 pages: 24 objects */
	assert_int_equal(ta.calls, 2);
	assert_int_equal(stats(&p).bytes, 4 * page);
	assert_int_equal(stats(&p).capacity, 8); /* carved as needed, not now */
	assert_int_equal(urt_pool_reserve(&p, 8), -EALREADY);
	calls = ta.calls;
	for (int i = 3; i < 32; i++) {
		objs[i] = urt_pool_alloc(&p);
		assert_non_null(objs[i]);
		assert_int_equal((uintptr_t)objs[i] % 16, 0);
		memset(objs[i], i, 48);
	}
	assert_int_equal(ta.calls, calls); /* the first page's 8, the reserve's 24 */
	assert_int_equal(stats(&p).pages, 4);
	assert_int_equal(stats(&p).capacity, 32);
	for (int i = 0; i < 32; i++) /* none overlaps another */
		for (int j = 0; j < 48; j++)
			assert_int_equal(((unsigned char *)objs[i])[j], i);
	assert_non_null(objs[32] = urt_pool_alloc(&p)); /* past it: a page asked for */
	assert_int_equal(ta.calls, calls + 1);
	for (int i = 0; i < 33; i++)
		urt_pool_free(&p, objs[i]);
	urt_pool_deinit(&p);
	assert_int_equal(ta.live_blocks, 0);
	assert_int_equal(ta.live_bytes, 0);
}

/* A trim gives every page back once no object is live, and none while one
 * is; the pool then grows again from nothing; a reserve is kept and carved
 * again from its start; a bounded pool is never trimmed. */
static void test_pool_trim(void **state)
{
	struct test_alloc ta;
	struct urt_pool p, b;
	void *objs[40];
	size_t calls, page = 8 * 48 + 16;

	(void)state;
	init_pages_of_8(&p, &ta);
	assert_int_equal(urt_pool_trim(&p), 0); /* no page yet */
	for (int i = 0; i < 20; i++)
		assert_non_null(objs[i] = urt_pool_alloc(&p));
	assert_int_equal(stats(&p).pages, 3);
	for (int i = 1; i < 20; i++)
		urt_pool_free(&p, objs[i]);
	assert_int_equal(urt_pool_trim(&p), 0); /* one object live pins all */
	assert_int_equal(stats(&p).bytes, 3 * page);
	test_fill(objs[0], 40, 7); /* and it is still the caller's */
	assert_true(test_check(objs[0], 40, 7));
	urt_pool_free(&p, objs[0]);
	assert_int_equal(urt_pool_trim(&p), 3 * page);
	assert_int_equal(ta.live_blocks, 0);
	assert_int_equal(stats(&p).bytes, 0);
	assert_int_equal(stats(&p).pages, 0);
	assert_int_equal(stats(&p).capacity, 0);
	assert_int_equal(stats(&p).live, 0);
	assert_int_equal(urt_pool_trim(&p), 0);
	for (int i = 0; i < 10; i++) { /* grows again: two fresh pages */
		assert_non_null(objs[i] = urt_pool_alloc(&p));
		test_fill(objs[i], 40, (uint64_t)i);
	}
	assert_int_equal(stats(&p).pages, 2);
	for (int i = 0; i < 10; i++) {
		assert_true(test_check(objs[i], 40, (uint64_t)i));
		urt_pool_free(&p, objs[i]);
	}
	assert_int_equal(urt_pool_reserve(&p, 16), 0); /* 2 pages */
	for (int i = 0; i < 20; i++)		       /* the 2 pages it had, then the reserve's */
		assert_non_null(objs[i] = urt_pool_alloc(&p));
	calls = ta.calls;
	for (int i = 0; i < 20; i++)
		urt_pool_free(&p, objs[i]);
	assert_int_equal(urt_pool_trim(&p), 2 * page); /* the reserve is not given back */
	assert_int_equal(stats(&p).bytes, 2 * page);
	for (int i = 0; i < 16; i++) { /* carved from the reserve again: no call */
		assert_non_null(objs[i] = urt_pool_alloc(&p));
		test_fill(objs[i], 40, (uint64_t)i);
	}
	assert_int_equal(ta.calls, calls);
	for (int i = 0; i < 16; i++)
		assert_true(test_check(objs[i], 40, (uint64_t)i));
	assert_non_null(objs[16] = urt_pool_alloc(&p)); /* past it: a page asked for */
	assert_int_equal(ta.calls, calls + 1);
	for (int i = 0; i < 17; i++)
		urt_pool_free(&p, objs[i]);
	urt_pool_deinit(&p);
	assert_int_equal(ta.live_blocks, 0);

	assert_int_equal(urt_pool_init(&b, &(struct urt_pool_opts){ .obj_size = 32,
								    .max_objs = 4,
								    .allocator = &ta.al }),
			 0);
	assert_int_equal(urt_pool_trim(&b), 0); /* bounded: its one page stays */
	assert_non_null(objs[0] = urt_pool_alloc(&b));
	urt_pool_free(&b, objs[0]);
	assert_int_equal(urt_pool_trim(&b), 0);
	assert_int_equal(ta.live_blocks, 1);
	urt_pool_deinit(&b);
	assert_int_equal(ta.live_blocks, 0);
}

static void test_reserve_rejects_and_fails_cleanly(void **state)
{
	struct test_alloc ta;
	struct urt_pool p;
	void *o;

	(void)state;
	test_alloc_init(&ta);
	assert_int_equal(urt_pool_init(&p, &(struct urt_pool_opts){ .obj_size = 32,
								    .max_objs = 4,
								    .allocator = &ta.al }),
			 0);
	assert_int_equal(urt_pool_reserve(&p, 8), -EINVAL); /* bounded: all made at init */
	urt_pool_deinit(&p);
	assert_int_equal(urt_pool_init(&p, &(struct urt_pool_opts){ .obj_size = 1 << 20,
								    .page_objs = 1,
								    .allocator = &ta.al }),
			 0);
	assert_int_equal(urt_pool_reserve(&p, SIZE_MAX), -EINVAL);
	assert_int_equal(urt_pool_reserve(&p, 0), 0); /* nothing, and no reserve */
	assert_int_equal(ta.calls, 1);
	ta.fail_at = ta.calls + 1;
	assert_int_equal(urt_pool_reserve(&p, 4), -ENOMEM);
	assert_int_equal(stats(&p).bytes, 0); /* as it was */
	assert_int_equal(ta.live_blocks, 0);
	assert_int_equal(urt_pool_reserve(&p, 2), 0); /* and may reserve again */
	assert_non_null(o = urt_pool_alloc(&p));
	urt_pool_free(&p, o);
	urt_pool_deinit(&p);
	assert_int_equal(ta.live_blocks, 0);
}

/* --- size classes ------------------------------------------------------- */

static void test_sizeclass_mapping(void **state)
{
	size_t prev = 0;

	(void)state;
	for (size_t size = 0; size <= URT_SIZECLASS_MAX; size++) {
		size_t c = urt_sizeclass_class_size(size);

		assert_true(c >= size);
		assert_true(c >= 16);
		assert_true(size == 0 || c - size < 16 || (c - size) * 3 <= c); /* waste bound */
		assert_true(c >= prev);
		if (c != prev && size) /* a new class starts exactly past the old one */
			assert_int_equal(size, prev + 1);
		prev = c;
	}
	assert_int_equal(urt_sizeclass_class_size(URT_SIZECLASS_MAX + 1), URT_SIZECLASS_MAX + 1);
	assert_int_equal(urt_sizeclass_class_size(SIZE_MAX), SIZE_MAX);
}

static void test_sizeclass_alloc_free_and_large_fallback(void **state)
{
	struct test_alloc ta;
	struct urt_sizeclass sc;
	void *p[64];

	(void)state;
	test_alloc_init(&ta);
	urt_sizeclass_init(&sc, &ta.al);
	for (int i = 0; i < 64; i++) {
		size_t size = (size_t)i * 1100; /* up to 64 KiB in classes, past it not */

		p[i] = urt_sizeclass_alloc(&sc, size);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 16, 0);
		test_fill(p[i], size, (uint64_t)i);
	}
	for (int i = 0; i < 64; i++)
		assert_true(test_check(p[i], (size_t)i * 1100, (uint64_t)i));
	assert_int_equal(sc.large_allocs, 4); /* 60 x 1100 = 66000 .. 63 x 1100 */
	assert_int_equal(sc.large_live, 4);
	for (int i = 0; i < 64; i++)
		urt_sizeclass_free(&sc, p[i], (size_t)i * 1100);
	assert_int_equal(sc.large_live, 0);
	for (int i = 0; i < URT_SIZECLASS_POOLS; i++)
		assert_int_equal(sc.pools[i].live, 0);
	for (int i = 0; i < URT_SIZECLASS_COUNT - URT_SIZECLASS_POOLS; i++)
		assert_int_equal(sc.big[i].live, 0);
	urt_sizeclass_deinit(&sc);
	assert_int_equal(ta.live_blocks, 0);
}

/* Each class above 4 KiB: its first and last size land in it (a block of
 * the class's size, counted live in it), the size past it in the next;
 * freed with the same size, the block is kept by the class it came from. */
static void test_sizeclass_big_boundaries(void **state)
{
	static const size_t big[] = { 4096,  6144,  8192,
				      12288, 16384, 24576,
				      32768, 49152, URT_SIZECLASS_MAX };
	struct test_alloc ta;
	struct urt_sizeclass sc;

	(void)state;
	test_alloc_init(&ta);
	urt_sizeclass_init(&sc, &ta.al);
	for (size_t k = 1; k < sizeof(big) / sizeof(big[0]); k++) {
		size_t sizes[] = { big[k - 1] + 1, big[k] };
		struct urt_sizeclass_big *cls = &sc.big[k - 1];

		for (int j = 0; j < 2; j++) {
			void *b;

			assert_int_equal(urt_sizeclass_class_size(sizes[j]), big[k]);
			assert_non_null(b = urt_sizeclass_alloc(&sc, sizes[j]));
			assert_int_equal((uintptr_t)b % 16, 0);
			assert_int_equal(cls->live, 1);
			test_fill(b, sizes[j], k);
			urt_sizeclass_free(&sc, b, sizes[j]);
			assert_int_equal(cls->live, 0);
			assert_int_equal(cls->nfree, 1); /* kept */
		}
		assert_int_equal(cls->allocs, 1); /* the second size took the kept block */
		if (k + 1 < sizeof(big) / sizeof(big[0]))
			assert_int_equal(urt_sizeclass_class_size(big[k] + 1), big[k + 1]);
	}
	/* the top class is 64 KiB and its headroom: a 64 KiB buffer behind a
	 * task block's header is still a class, a byte past it is not */
	assert_int_equal(URT_SIZECLASS_MAX, 65536 + URT_SIZECLASS_HEADROOM);
	assert_int_equal(urt_sizeclass_class_size(65536), URT_SIZECLASS_MAX);
	assert_int_equal(urt_sizeclass_class_size(65536 + sizeof(struct urt_scope_block)),
			 URT_SIZECLASS_MAX);
	assert_int_equal(urt_sizeclass_class_size(URT_SIZECLASS_MAX + 1), URT_SIZECLASS_MAX + 1);
	assert_int_equal(sc.large_allocs, 0);
	urt_sizeclass_deinit(&sc);
	assert_int_equal(ta.live_blocks, 0);
}

/* A freed big block is kept: after the first, a grow-and-free round of
 * 4 KiB .. 64 KiB asks the allocator for nothing; above the top class, one
 * call a block. */
static void test_sizeclass_big_kept(void **state)
{
	static const size_t grow[] = { 4000, 8000, 16000, 32000, 64000, 65536, URT_SIZECLASS_MAX };
	struct test_alloc ta;
	struct urt_sizeclass sc;
	size_t calls = 0;

	(void)state;
	test_alloc_init(&ta);
	urt_sizeclass_init(&sc, &ta.al);
	assert_int_equal(sc.cache_max, URT_SIZECLASS_CACHE_DEFAULT);
	for (int round = 0; round < 10; round++) {
		for (size_t i = 0; i < sizeof(grow) / sizeof(grow[0]); i++) {
			void *b = urt_sizeclass_alloc(&sc, grow[i]);

			assert_non_null(b);
			test_fill(b, grow[i], (uint64_t)round);
			urt_sizeclass_free(&sc, b, grow[i]);
		}
		if (!round)
			calls = ta.calls;
	}
	assert_int_equal(ta.calls, calls);
	for (int i = 0; i < 10; i++)
		urt_sizeclass_free(&sc, urt_sizeclass_alloc(&sc, URT_SIZECLASS_MAX + 1),
				   URT_SIZECLASS_MAX + 1);
	assert_int_equal(ta.calls, calls + 10);
	assert_int_equal(sc.large_allocs, 10);
	assert_int_equal(sc.large_live, 0);
	urt_sizeclass_deinit(&sc);
	assert_int_equal(ta.live_blocks, 0);
}

/* The big classes keep at most cache_max bytes of freed blocks, all of them
 * together: a peak of blocks in one class, then in the next, and so on
 * (clients moving from class to class) is given back past it, so what the
 * classes hold is the live blocks and cache_max, not every class's peak. */
static void test_sizeclass_big_cache_bounded(void **state)
{
	static const size_t sizes[] = { 6000, 8000, 12000, 16000, 24000, 32000, 48000, 64000 };
	enum { PEAK = 64 };
	struct test_alloc ta;
	struct urt_sizeclass sc;
	void *b[PEAK];

	(void)state;
	test_alloc_init(&ta);
	urt_sizeclass_init(&sc, &ta.al);
	sc.cache_max = 256 * 1024;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t cs = urt_sizeclass_class_size(sizes[k]);

		for (int i = 0; i < PEAK; i++) {
			assert_non_null(b[i] = urt_sizeclass_alloc(&sc, sizes[k]));
			test_fill(b[i], sizes[k], (uint64_t)i);
		}
		for (int i = 0; i < PEAK; i++) {
			assert_true(test_check(b[i], sizes[k], (uint64_t)i));
			urt_sizeclass_free(&sc, b[i], sizes[k]);
		}
		assert_true(sc.cached <= sc.cache_max);
		/* the class kept what fits beside the others', no more */
		assert_true(sc.big[k].nfree * cs <= sc.cache_max);
		/* all that is held from the allocator: the kept blocks */
		assert_int_equal(ta.live_bytes, sc.cached);
	}
	print_message("8 classes of %d blocks each in turn: %zu bytes kept (cache_max %zu)\n", PEAK,
		      sc.cached, sc.cache_max);
	urt_sizeclass_deinit(&sc);
	assert_int_equal(ta.live_blocks, 0);
}

/* The big classes' accounting after any sequence of allocs and frees (sizes
 * at and beside every class boundary, 4097 .. 65600): cached is exactly the
 * kept blocks' bytes and never above cache_max, for cache_max 1 (keep
 * nothing), a few blocks' worth and SIZE_MAX (keep all); what the allocator
 * holds is the live blocks and the kept ones, and every free it sees has
 * the size it handed out (t_free checks). */
static void test_sizeclass_big_cache_exact(void **state)
{
	static const size_t caps[] = { 1, 100000, SIZE_MAX };
	static const size_t big_sizes[] = { 6144,  8192,  12288, 16384,
					    24576, 32768, 49152, URT_SIZECLASS_MAX };
	enum { MAXN = 48 };
	struct test_rng r = { test_seed("test_pool big cache", 0xb16c) };
	void *p[MAXN];
	size_t sz[MAXN];

	(void)state;
	for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
		struct test_alloc ta;
		struct urt_sizeclass sc;
		size_t n = 0;

		test_alloc_init(&ta);
		urt_sizeclass_init(&sc, &ta.al);
		sc.cache_max = caps[k];
		for (int step = 0; step < 4000; step++) {
			size_t kept = 0, live = 0;

			if (n < MAXN && (n == 0 || test_rng_below(&r, 100) < 55)) {
				/* a class's size, or one beside it, within the big classes */
				size_t s =
					urt_sizeclass_class_size(4097 + test_rng_below(&r, 61504));

				s = s + test_rng_below(&r, 3) - 1;
				s = s < 4097 ? 4097 : s > URT_SIZECLASS_MAX ? URT_SIZECLASS_MAX : s;
				assert_non_null(p[n] = urt_sizeclass_alloc(&sc, s));
				sz[n++] = s;
			} else {
				size_t i = test_rng_below(&r, n);

				urt_sizeclass_free(&sc, p[i], sz[i]);
				p[i] = p[--n];
				sz[i] = sz[n];
			}
			for (int c = 0; c < URT_SIZECLASS_COUNT - URT_SIZECLASS_POOLS; c++) {
				size_t cs = big_sizes[c];

				kept += sc.big[c].nfree * cs;
				live += sc.big[c].live * cs;
			}
			assert_int_equal(sc.cached, kept);
			assert_true(sc.cached <= sc.cache_max);
			assert_int_equal(ta.live_bytes, live + kept);
		}
		print_message("cache_max %zu: %zu bytes kept, %zu blocks live at the end\n",
			      caps[k], sc.cached, n);
		while (n)
			n--, urt_sizeclass_free(&sc, p[n], sz[n]);
		urt_sizeclass_deinit(&sc);
		assert_int_equal(ta.live_blocks, 0);
	}
}

/* urt_sizeclass_trim gives back the kept big blocks and the pages of every
 * empty class pool, and leaves a pool with a live block as it is. */
static void test_sizeclass_trim(void **state)
{
	static const size_t sizes[] = { 24, 300, 1000, 4000, 6000, 40000 };
	enum { N = 50 };
	struct test_alloc ta;
	struct urt_sizeclass sc;
	void *b[6][N], *pin;
	struct urt_sizeclass_stats st;
	size_t given, pinned;

	(void)state;
	test_alloc_init(&ta);
	urt_sizeclass_init(&sc, &ta.al);
	sc.cache_max = SIZE_MAX;
	for (int k = 0; k < 6; k++)
		for (int i = 0; i < N; i++)
			assert_non_null(b[k][i] = urt_sizeclass_alloc(&sc, sizes[k]));
	assert_non_null(pin = urt_sizeclass_alloc(&sc, 1000));
	for (int k = 0; k < 6; k++)
		for (int i = 0; i < N; i++)
			urt_sizeclass_free(&sc, b[k][i], sizes[k]);
	assert_non_null(urt_sizeclass_pool(&sc, 1000));
	assert_null(urt_sizeclass_pool(&sc, 4097));
	assert_ptr_equal(urt_sizeclass_pool(&sc, 1000), urt_sizeclass_pool(&sc, 1024));
	pinned = urt_sizeclass_pool(&sc, 1000)->bytes;
	assert_true(pinned > 0);
	urt_sizeclass_stats(&sc, &st);
	assert_int_equal(st.held, ta.live_bytes);
	assert_int_equal(st.kept, st.held - 1024); /* all but the pinning block */
	given = urt_sizeclass_trim(&sc);
	/* all the allocator still holds: the pinned pool's pages */
	assert_int_equal(ta.live_bytes, pinned);
	assert_int_equal(sc.cached, 0);
	urt_sizeclass_stats(&sc, &st);
	assert_int_equal(st.held, pinned);
	assert_int_equal(st.kept, pinned - 1024);
	assert_true(given > N * (6000 + 40000));
	assert_int_equal(urt_sizeclass_trim(&sc), 0);
	test_fill(pin, 1000, 3);
	assert_true(test_check(pin, 1000, 3));
	urt_sizeclass_free(&sc, pin, 1000);
	assert_int_equal(urt_sizeclass_trim(&sc), pinned);
	assert_int_equal(ta.live_blocks, 0);
	for (int k = 0; k < 6; k++) /* usable again */
		assert_non_null(b[k][0] = urt_sizeclass_alloc(&sc, sizes[k]));
	for (int k = 0; k < 6; k++)
		urt_sizeclass_free(&sc, b[k][0], sizes[k]);
	urt_sizeclass_deinit(&sc);
	assert_int_equal(ta.live_blocks, 0);

	/* a reserve counts as held only as its pages are carved */
	urt_sizeclass_init(&sc, &ta.al);
	assert_int_equal(urt_sizeclass_reserve(&sc, 24, 10000), 0);
	urt_sizeclass_stats(&sc, &st);
	assert_int_equal(st.held, 0);
	assert_non_null(pin = urt_sizeclass_alloc(&sc, 24));
	urt_sizeclass_stats(&sc, &st);
	assert_true(st.held > 0 && st.held < ta.live_bytes / 10);
	assert_int_equal(st.kept, st.held - 32);
	urt_sizeclass_free(&sc, pin, 24);
	urt_sizeclass_deinit(&sc);
	assert_int_equal(ta.live_blocks, 0);
}

/* The class that holds size bytes takes the reserve; a large size has none. */
static void test_sizeclass_reserve(void **state)
{
	struct test_alloc ta;
	struct urt_sizeclass sc;
	void *b[16];
	size_t calls;

	(void)state;
	test_alloc_init(&ta);
	urt_sizeclass_init(&sc, &ta.al);
	assert_int_equal(urt_sizeclass_reserve(&sc, URT_SIZECLASS_MAX + 1, 4), -EINVAL);
	assert_int_equal(urt_sizeclass_reserve(&sc, 4032, 16), 0);
	calls = ta.calls;
	for (int i = 0; i < 16; i++)
		assert_non_null(b[i] = urt_sizeclass_alloc(&sc, 4000 + (size_t)i));
	assert_int_equal(ta.calls, calls);
	for (int i = 0; i < 16; i++)
		urt_sizeclass_free(&sc, b[i], 4000 + (size_t)i);
	/* the big classes hold no reserve (they keep freed blocks instead) */
	assert_int_equal(urt_sizeclass_reserve(&sc, URT_SIZECLASS_SMALL_MAX + 1, 8), -EINVAL);
	assert_int_equal(urt_sizeclass_reserve(&sc, 65536, 3), -EINVAL);
	assert_int_equal(sc.large_allocs, 0);
	urt_sizeclass_deinit(&sc);
	assert_int_equal(ta.live_blocks, 0);
}

static void test_sizeclass_alloc_failure_sweep(void **state)
{
	(void)state;
	for (size_t fail_at = 1;; fail_at++) {
		struct test_alloc ta;
		struct urt_sizeclass sc;
		void *p[40];
		size_t sz[40];
		int n = 0, tries = 0;

		test_alloc_init(&ta);
		ta.fail_at = fail_at;
		urt_sizeclass_init(&sc, &ta.al);
		while (n < 40) {
			sz[n] = (size_t)(n % 10) * 800;
			p[n] = urt_sizeclass_alloc(&sc, sz[n]);
			tries++;
			if (p[n])
				n++;
		}
		assert_true(tries <= 41);
		while (n--)
			urt_sizeclass_free(&sc, p[n], sz[n]);
		urt_sizeclass_deinit(&sc);
		assert_int_equal(ta.live_blocks, 0);
		if (!ta.failed)
			break;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_bad_options),
		cmocka_unit_test(test_bounded_exhaustion),
		cmocka_unit_test(test_unbounded_grows_by_pages),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_pool_alloc_failure_sweep),
		cmocka_unit_test(test_reserve_carves_pages_first),
		cmocka_unit_test(test_reserve_rejects_and_fails_cleanly),
		cmocka_unit_test(test_pool_trim),
		cmocka_unit_test(test_sizeclass_trim),
		cmocka_unit_test(test_sizeclass_reserve),
		cmocka_unit_test(test_sizeclass_mapping),
		cmocka_unit_test(test_sizeclass_big_boundaries),
		cmocka_unit_test(test_sizeclass_big_kept),
		cmocka_unit_test(test_sizeclass_big_cache_bounded),
		cmocka_unit_test(test_sizeclass_big_cache_exact),
		cmocka_unit_test(test_sizeclass_alloc_free_and_large_fallback),
		cmocka_unit_test(test_sizeclass_alloc_failure_sweep),
	};

	return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
