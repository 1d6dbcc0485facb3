/* SPDX-License-Identifier: MIT */
/* test_slab.c - slab: model-based test, exhaustion, growth, claims, OOM sweep. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/slab.h"

static struct urt_slab_stats stats(const struct urt_slab *s)
{
	struct urt_slab_stats st;

	urt_slab_stats(s, &st);
	return st;
}

static void test_init_rejects_bad_options(void **state)
{
	struct urt_slab s;

	(void)state;
	assert_int_equal(urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 0, .slots = 4 }),
			 -EINVAL);
	assert_int_equal(urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 8, .slots = 0 }),
			 -EINVAL);
	assert_int_equal(
		urt_slab_init(&s,
			      &(struct urt_slab_opts){ .slot_size = 8, .slots = 4, .align = 32 }),
		-EINVAL);
	assert_int_equal(
		urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = SIZE_MAX - 4, .slots = 4 }),
		-EINVAL);
}

static void test_slot_size_rounding_and_alignment(void **state)
{
	static const size_t sizes[] = { 1, 15, 16, 17, 100, 4096 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t align = 16; align <= 64; align *= 4) {
			struct urt_slab s;
			struct urt_slot slot[5];

			assert_int_equal(urt_slab_init(&s,
						       &(struct urt_slab_opts){
							       .slot_size = sizes[i],
							       .align = align,
							       .slots = 5,
						       }),
					 0);
			assert_int_equal(stats(&s).slot_size,
					 (sizes[i] + align - 1) / align * align);
			for (int k = 0; k < 5; k++) {
				assert_int_equal(urt_slab_alloc(&s, &slot[k]), 0);
				assert_int_equal((uintptr_t)slot[k].ptr % align, 0);
				memset(slot[k].ptr, 0xab, sizes[i]);
			}
			for (int k = 0; k < 5; k++)
				urt_slab_free(&s, slot[k].ptr, slot[k].chunk);
			urt_slab_deinit(&s);
		}
	}
}

static void test_bounded_full_rejects_and_changes_nothing(void **state)
{
	struct test_alloc ta;
	struct urt_slab s;
	struct urt_slot slots[8], extra = { .ptr = (void *)0x1, .chunk = 77 };
	struct urt_slab_stats before, after;
	size_t calls;

	(void)state;
	test_alloc_init(&ta);
	assert_int_equal(urt_slab_init(&s,
				       &(struct urt_slab_opts){
					       .slot_size = 32,
					       .slots = 8,
					       .bounded = true,
					       .allocator = &ta.al,
				       }),
			 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(urt_slab_alloc(&s, &slots[i]), 0);
	calls = ta.calls;
	before = stats(&s);
	assert_int_equal(urt_slab_alloc(&s, &extra), -ENOSPC);
	assert_int_equal(urt_slab_claim(&s, &extra), -ENOSPC);
	assert_int_equal(urt_slab_try_alloc(&s, &extra), -ENOSPC);
	assert_int_equal(urt_slab_try_claim(&s, &extra), -ENOSPC);
	after = stats(&s);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_ptr_equal(extra.ptr, (void *)0x1); /* *out untouched on failure */
	assert_int_equal(extra.chunk, 77);
	assert_int_equal(ta.calls, calls); /* a bounded slab never allocates after init */
	urt_slab_free(&s, slots[3].ptr, slots[3].chunk);
	assert_int_equal(urt_slab_try_alloc(&s, &extra), 0);
	assert_ptr_equal(extra.ptr, slots[3].ptr);
	assert_int_equal(ta.calls, calls);
	urt_slab_deinit(&s);
	assert_int_equal(ta.live_blocks, 0);
}

static void test_unbounded_grows_by_chunks_and_addresses_stay(void **state)
{
	enum { N = 1000, PER = 16 };
	struct urt_slab s;
	struct urt_slot *slots = calloc(N, sizeof(*slots));

	(void)state;
	assert_int_equal(
		urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 40, .slots = PER }), 0);
	assert_int_equal(stats(&s).chunks, 1);
	for (int i = 0; i < N; i++) {
		assert_int_equal(urt_slab_alloc(&s, &slots[i]), 0);
		test_fill(slots[i].ptr, 40, (uint64_t)i);
		assert_int_equal(urt_slab_find_chunk(&s, slots[i].ptr), (int)slots[i].chunk);
		assert_true(urt_slab_owns(&s, slots[i].ptr, slots[i].chunk));
	}
	assert_int_equal(stats(&s).chunks, (N + PER - 1) / PER);
	assert_int_equal(stats(&s).capacity, stats(&s).chunks * PER);
	for (int i = 0; i < N; i++)
		assert_true(test_check(slots[i].ptr, 40, (uint64_t)i));
	/* Free every other slot: the slab must reuse them before growing. */
	for (int i = 0; i < N; i += 2)
		urt_slab_free(&s, slots[i].ptr, slots[i].chunk);
	for (int i = 0; i < N; i += 2)
		assert_int_equal(urt_slab_try_alloc(&s, &slots[i]), 0);
	assert_int_equal(stats(&s).chunks, (N + PER - 1) / PER);
	assert_int_equal(urt_slab_find_chunk(&s, (char *)slots[1].ptr + 1), -ENOENT);
	assert_int_equal(urt_slab_find_chunk(&s, &s), -ENOENT);
	/* urt_slab_owns: the chunk named, not another; no index past the slab's */
	assert_false(urt_slab_owns(&s, slots[0].ptr, slots[0].chunk + 1));
	assert_false(urt_slab_owns(&s, slots[0].ptr, stats(&s).chunks));
	assert_false(urt_slab_owns(&s, (char *)slots[1].ptr + 1, slots[1].chunk));
	for (int i = 0; i < N; i++)
		urt_slab_free(&s, slots[i].ptr, slots[i].chunk);
	assert_int_equal(stats(&s).used, 0);
	/* slots written at least once: all N, plus at most the rest of one chunk */
	assert_true(stats(&s).touched >= N && stats(&s).touched <= stats(&s).capacity);
	urt_slab_deinit(&s);
	free(slots);
}

/*
 * The current chunk changes only when it fills; frees into other chunks
 * (full ones relinked, others pushed inline) keep used exact, and vacant
 * slots are reused before the slab grows.
 */
static void test_chunk_switches_keep_counts(void **state)
{
	enum { PER = 4, N = 3 * PER };
	struct urt_slab s;
	struct urt_slot v[N], x;

	(void)state;
	assert_int_equal(
		urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 32, .slots = PER }), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(urt_slab_alloc(&s, &v[i]), 0);
	assert_int_equal(stats(&s).chunks, 3);
	assert_int_equal(stats(&s).used, N);
	urt_slab_free(&s, v[0].ptr, v[0].chunk); /* chunk 0 was full: relinked */
	urt_slab_free(&s, v[1].ptr, v[1].chunk); /* ... now a push on its list */
	urt_slab_free(&s, v[PER].ptr, v[PER].chunk);
	assert_int_equal(stats(&s).used, N - 3);
	for (int i = 0; i < 3; i++) { /* the three vacant slots, no growth */
		assert_int_equal(urt_slab_try_alloc(&s, &x), 0);
		assert_true(x.ptr == v[0].ptr || x.ptr == v[1].ptr || x.ptr == v[PER].ptr);
		assert_int_equal(x.chunk, x.ptr == v[PER].ptr ? v[PER].chunk : v[0].chunk);
		assert_int_equal(stats(&s).used, N - 2 + i);
	}
	assert_int_equal(urt_slab_try_alloc(&s, &x), -ENOSPC);
	assert_int_equal(urt_slab_try_claim(&s, &x), -ENOSPC);
	assert_int_equal(stats(&s).chunks, 3);
	assert_int_equal(stats(&s).touched, N);
	urt_slab_deinit(&s);
}

static void test_try_never_grows(void **state)
{
	struct test_alloc ta;
	struct urt_slab s;
	struct urt_slot a, b, c;

	(void)state;
	test_alloc_init(&ta);
	assert_int_equal(urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 64,
								    .slots = 2,
								    .allocator = &ta.al }),
			 0);
	assert_int_equal(urt_slab_try_claim(&s, &a), 0);
	assert_int_equal(urt_slab_try_alloc(&s, &b), 0);
	size_t calls = ta.calls;
	assert_int_equal(urt_slab_try_claim(&s, &c), -ENOSPC);
	assert_int_equal(urt_slab_try_alloc(&s, &c), -ENOSPC);
	assert_int_equal(ta.calls, calls);
	assert_int_equal(stats(&s).chunks, 1);
	assert_int_equal(urt_slab_claim(&s, &c), 0); /* the non-try form grows */
	assert_int_equal(stats(&s).chunks, 2);
	urt_slab_release(&s, &c);
	urt_slab_release(&s, &a);
	urt_slab_free(&s, b.ptr, b.chunk);
	urt_slab_deinit(&s);
	assert_int_equal(ta.live_blocks, 0);
}

static void test_claim_commit_release(void **state)
{
	struct urt_slab s;
	struct urt_slot a, b;

	(void)state;
	assert_int_equal(urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 64,
								    .slots = 2,
								    .bounded = true }),
			 0);
	assert_int_equal(urt_slab_claim(&s, &a), 0);
	assert_int_equal(urt_slab_claim(&s, &b), 0);
	assert_int_equal(stats(&s).used, 2);
	urt_slab_release(&s, &a); /* back on the freelist, nothing lost */
	assert_int_equal(stats(&s).used, 1);
	urt_slab_commit(&s, &b);
	assert_int_equal(stats(&s).used, 1);
	assert_int_equal(urt_slab_claim(&s, &a), 0); /* the released slot is vacant again */
	assert_int_equal(stats(&s).touched, 2);	     /* ... and reused, not a third one */
	urt_slab_commit(&s, &a);
	assert_int_equal(stats(&s).used, 2);
	urt_slab_free(&s, a.ptr, a.chunk);
	urt_slab_free(&s, b.ptr, b.chunk);
	assert_int_equal(stats(&s).used, 0);
	assert_int_equal(stats(&s).touched, 2);
	urt_slab_deinit(&s);
}

/*
 * A slab that empties is refilled in address order, chunk by chunk, after
 * frees in a scattered order and in LIFO order alike (release builds reset
 * it and bump again, with no list left to follow; debug builds keep their
 * lists, checked). Every slot comes back once, and touched does not move.
 */
static int cmp_slot(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct urt_slot *)a)->ptr;
	uintptr_t y = (uintptr_t)((const struct urt_slot *)b)->ptr;

	return x < y ? -1 : x > y;
}

static void empty_and_refill(struct test_rng *r, const struct urt_slab_opts *o)
{
	enum { N = 256 };
	struct urt_slot v[N], w[N];
	uint32_t order[N];
	struct urt_slab s;

	assert_int_equal(urt_slab_init(&s, o), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(urt_slab_alloc(&s, &v[i]), 0);
	for (int i = 0; i < N; i++)
		order[i] = (uint32_t)i;
	for (int i = N - 1; i > 0; i--) {
		uint32_t j = (uint32_t)test_rng_below(r, (uint64_t)i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int round = 0; round < 3; round++) {
		bool lifo = round == 2;

		for (int i = 0; i < N; i++) {
			struct urt_slot *x = &v[lifo ? N - 1 - i : (int)order[i]];

			urt_slab_free(&s, x->ptr, x->chunk);
		}
		assert_int_equal(stats(&s).used, 0);
		if (!s.checked) /* reset, LIFO too: the refill bumps, no pop chain */
			assert_null(s.free);
		for (int i = 0; i < N; i++)
			assert_int_equal(urt_slab_alloc(&s, &w[i]), 0);
		assert_int_equal(stats(&s).used, N);
		assert_int_equal(stats(&s).touched, N);
		for (int i = 1; i < N && !s.checked; i++) /* each chunk's slots in order */
			if (i % (int)o->slots)
				assert_ptr_equal(w[i].ptr, (char *)w[i - 1].ptr + o->slot_size);
		qsort(w, N, sizeof(w[0]), cmp_slot);
		for (int i = 1; i < N; i++) /* each slot once */
			assert_true(w[i].ptr != w[i - 1].ptr);
		memcpy(v, w, sizeof(v));
	}
	for (int i = 0; i < N; i++)
		urt_slab_free(&s, v[i].ptr, v[i].chunk);
	urt_slab_deinit(&s);
}

static void test_emptied_chunk_refills_in_address_order(void **state)
{
	struct test_rng r = { test_seed("test_slab refill", 0x50f7ed) };

	(void)state;
	empty_and_refill(&r,
			 &(struct urt_slab_opts){ .slot_size = 64, .slots = 256, .bounded = true });
	empty_and_refill(&r, &(struct urt_slab_opts){ .slot_size = 32, .slots = 64 });
}

/*
 * urt__slab_pop, the spawn's inline fast path, bumps as well as pops (a
 * slab reset after emptying has no list), and gives NULL only where
 * urt_slab_alloc must decide: the end of the chunk, or always in debug
 * builds. It never grows.
 */
static void test_pop_bumps_and_stops_at_chunk_end(void **state)
{
	struct urt_slab s;
	struct urt_slot slot;
	uint32_t chunk = UINT32_MAX;
	void *p[4];

	(void)state;
	assert_int_equal(urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 32, .slots = 4 }),
			 0);
	if (s.checked) {
		assert_null(urt__slab_pop(&s, &chunk));
		assert_int_equal(chunk, UINT32_MAX);
		urt_slab_deinit(&s);
		return;
	}
	for (int i = 0; i < 4; i++) {
		p[i] = urt__slab_pop(&s, &chunk);
		assert_non_null(p[i]);
		assert_int_equal(chunk, 0);
		if (i)
			assert_ptr_equal(p[i], (char *)p[i - 1] + 32);
	}
	assert_int_equal(stats(&s).used, 4);
	assert_null(urt__slab_pop(&s, &chunk));
	assert_int_equal(stats(&s).chunks, 1);
	assert_int_equal(urt_slab_alloc(&s, &slot), 0); /* the slow path grows */
	assert_int_equal(slot.chunk, 1);
	urt_slab_free(&s, p[2], 0);
	assert_ptr_equal(urt__slab_pop(&s, &chunk), p[2]); /* a list first */
	assert_int_equal(chunk, 0);
	urt_slab_deinit(&s);
}

/*
 * A disarmed slab's next bump. Three slots taken and given back empty a
 * slab that bumped fewer than SORT_MIN (64) slots: it keeps its list and
 * is disarmed, its bump_end held at its bump. The pops take the list;
 * the next bump is the slow path's (urt__slab_pop says NULL), which arms
 * the slab and hands out the next slot in address order; the bumps after
 * it are inline again, and the armed slab, emptied with 64 bumped, is
 * reset to its first slot.
 */
static void test_disarmed_slab_bumps_through_the_slow_path(void **state)
{
	struct urt_slab s;
	struct urt_slot slot[70];
	uint32_t chunk = UINT32_MAX;
	char *p;

	(void)state;
	assert_int_equal(
		urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 32, .slots = 128 }), 0);
	if (s.checked) { /* debug builds: no inline path, no reset */
		urt_slab_deinit(&s);
		return;
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(urt_slab_alloc(&s, &slot[i]), 0);
	for (int i = 2; i >= 0; i--)
		urt_slab_free(&s, slot[i].ptr, slot[i].chunk);
	assert_int_equal(urt_slab_used(&s), 0);
	for (int i = 0; i < 3; i++) /* the list, newest first */
		assert_ptr_equal(urt__slab_pop(&s, &chunk), slot[i].ptr);
	assert_null(urt__slab_pop(&s, &chunk)); /* disarmed: not inline */
	assert_int_equal(urt_slab_alloc(&s, &slot[3]), 0);
	assert_ptr_equal(slot[3].ptr, (char *)slot[0].ptr + 3 * 32);
	p = urt__slab_pop(&s, &chunk); /* armed: inline */
	assert_ptr_equal(p, (char *)slot[0].ptr + 4 * 32);
	assert_int_equal(chunk, 0);
	slot[4] = (struct urt_slot){ p, chunk };
	for (int i = 5; i < 70; i++)
		assert_int_equal(urt_slab_alloc(&s, &slot[i]), 0);
	assert_int_equal(urt_slab_used(&s), 70);
	assert_int_equal(stats(&s).touched, 70);
	for (int i = 0; i < 70; i++)
		urt_slab_free(&s, slot[i].ptr, slot[i].chunk);
	assert_int_equal(urt_slab_used(&s), 0);
	assert_int_equal(urt_slab_alloc(&s, &slot[0]), 0); /* reset: the first slot */
	assert_ptr_equal(slot[0].ptr, (char *)slot[1].ptr - 32);
	urt_slab_free(&s, slot[0].ptr, slot[0].chunk);
	urt_slab_deinit(&s);
}

/* --- model-based test -------------------------------------------------- */

struct model_slot {
	struct urt_slot slot;
	uint64_t tag;
	bool claimed;
};

struct model {
	struct model_slot *v;
	size_t n, cap_slots;
	size_t claimed, high_water;
};

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct model_slot *)a)->slot.ptr;
	uintptr_t y = (uintptr_t)((const struct model_slot *)b)->slot.ptr;

	return x < y ? -1 : x > y;
}

static void model_check(struct urt_slab *s, struct model *m, size_t align)
{
	struct urt_slab_stats st = stats(s);
	size_t size = st.slot_size;

	assert_int_equal(st.used, m->n);
	/* one chunk bumps only when its list is empty: touched is the peak */
	if (st.chunks == 1)
		assert_int_equal(st.touched, m->high_water);
	assert_true(st.touched >= m->high_water && st.touched <= st.capacity);
	assert_int_equal(st.capacity % st.chunks, 0);
	for (size_t i = 0; i < m->n; i++) {
		assert_int_equal((uintptr_t)m->v[i].slot.ptr % align, 0);
		assert_true(test_check(m->v[i].slot.ptr, size, m->v[i].tag));
		if (i % 32 == 0) /* find_chunk scans every chunk: sample it */
			assert_int_equal(urt_slab_find_chunk(s, m->v[i].slot.ptr),
					 m->v[i].slot.chunk);
	}
	qsort(m->v, m->n, sizeof(*m->v), cmp_ptr);
	for (size_t i = 1; i < m->n; i++)
		assert_true((char *)m->v[i].slot.ptr >= (char *)m->v[i - 1].slot.ptr + size);
}

static void model_run(struct test_rng *r, const struct urt_slab_opts *o, int steps)
{
	struct urt_slab s;
	struct model m = { 0 };
	size_t align = o->align ? o->align : 16;
	uint64_t tag = 0;

	assert_int_equal(urt_slab_init(&s, o), 0);
	m.v = calloc(4096, sizeof(*m.v));
	for (int step = 0; step < steps; step++) {
		size_t size = stats(&s).slot_size;
		unsigned op = (unsigned)test_rng_below(r, 8);
		struct urt_slot got = { 0 };
		struct urt_slab_stats before = stats(&s);
		int ret = 0;

		if (op <= 3 && m.n < 1500) { /* alloc, try_alloc, claim, try_claim */
			bool claim = op >= 2, try = op & 1;
			bool vacant = before.used < before.capacity;

			if (claim)
				ret = try ? urt_slab_try_claim(&s, &got) : urt_slab_claim(&s, &got);
			else
				ret = try ? urt_slab_try_alloc(&s, &got) : urt_slab_alloc(&s, &got);
			if (!vacant && (try || o->bounded)) {
				struct urt_slab_stats after = stats(&s);

				assert_int_equal(ret, -ENOSPC);
				assert_memory_equal(&before, &after, sizeof(before));
				continue;
			}
			assert_int_equal(ret, 0);
			/* grows only when nothing was vacant */
			assert_int_equal(stats(&s).chunks, before.chunks + !vacant);
			test_fill(got.ptr, size, ++tag);
			m.v[m.n++] =
				(struct model_slot){ .slot = got, .tag = tag, .claimed = claim };
			m.claimed += claim;
			if (m.n > m.high_water)
				m.high_water = m.n;
		} else if (op <= 6 && m.n) { /* free / release / commit a random one */
			size_t i = test_rng_below(r, m.n);
			struct model_slot *ms = &m.v[i];

			if (ms->claimed && op == 6) {
				urt_slab_commit(&s, &ms->slot);
				ms->claimed = false;
				m.claimed--;
				continue;
			}
			if (ms->claimed) {
				urt_slab_release(&s, &ms->slot);
				m.claimed--;
			} else if (op == 5) { /* the path for callers without the index */
				int c = urt_slab_find_chunk(&s, ms->slot.ptr);

				assert_true(c >= 0);
				urt_slab_free(&s, ms->slot.ptr, (uint32_t)c);
			} else {
				urt_slab_free(&s, ms->slot.ptr, ms->slot.chunk);
			}
			m.v[i] = m.v[--m.n];
		} else if (op == 7) {
			model_check(&s, &m, align);
		}
	}
	model_check(&s, &m, align);
	while (m.n) {
		struct model_slot *ms = &m.v[--m.n];

		if (ms->claimed)
			urt_slab_release(&s, &ms->slot);
		else
			urt_slab_free(&s, ms->slot.ptr, ms->slot.chunk);
	}
	assert_int_equal(stats(&s).used, 0);
	urt_slab_deinit(&s);
	free(m.v);
}

static void test_model(void **state)
{
	struct test_rng r = { test_seed("test_slab model", 0x5eed51ab) };

	(void)state;
	model_run(&r, &(struct urt_slab_opts){ .slot_size = 24, .slots = 64, .bounded = true },
		  20000);
	model_run(&r, &(struct urt_slab_opts){ .slot_size = 48, .slots = 7 }, 20000);
	model_run(&r, &(struct urt_slab_opts){ .slot_size = 100, .slots = 5, .align = 64 }, 20000);
	model_run(&r, &(struct urt_slab_opts){ .slot_size = 16, .slots = 1 }, 5000);
}

/* --- allocation-failure sweep ------------------------------------------ */

static void test_alloc_failure_sweep(void **state)
{
	enum { N = 64 };

	(void)state;
	for (size_t fail_at = 1;; fail_at++) {
		struct test_alloc ta;
		struct urt_slab s;
		struct urt_slot slots[N];
		int ret, n = 0;

		test_alloc_init(&ta);
		ta.fail_at = fail_at;
		ret = urt_slab_init(&s, &(struct urt_slab_opts){
						.slot_size = 32, .slots = 3, .allocator = &ta.al });
		if (ret) {
			assert_int_equal(ret, -ENOMEM);
			assert_int_equal(ta.live_blocks, 0); /* a failed init holds nothing */
			continue;
		}
		while (n < N) {
			struct urt_slab_stats before = stats(&s), after;

			ret = urt_slab_alloc(&s, &slots[n]);
			if (ret == 0) {
				test_fill(slots[n].ptr, 32, (uint64_t)n);
				n++;
				continue;
			}
			assert_int_equal(ret, -ENOMEM);
			after = stats(&s);
			assert_int_equal(after.used, before.used);
			assert_int_equal(after.chunks, before.chunks);
			assert_int_equal(after.capacity, before.capacity);
		}
		for (int i = 0; i < N; i++) {
			assert_true(test_check(slots[i].ptr, 32, (uint64_t)i));
			urt_slab_free(&s, slots[i].ptr, slots[i].chunk);
		}
		urt_slab_deinit(&s);
		assert_int_equal(ta.live_blocks, 0);
		if (!ta.failed)
			break; /* fail_at is past the last allocation: every one was tried */
	}
}

/* --- memory bounds (the benchmark reports the same figures) ------------ */

static void test_memory_bounds(void **state)
{
	struct test_alloc ta;
	struct urt_slab s;
	struct urt_slot slot;

	(void)state;
	test_alloc_init(&ta);
	assert_int_equal(urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 256,
								    .slots = 1000,
								    .bounded = true,
								    .allocator = &ta.al }),
			 0);
	assert_int_equal(stats(&s).bytes, ta.live_bytes);
	if (!s.checked) /* debug builds add one state byte per slot */
		assert_true(ta.live_bytes <= 1000 * 256 + 4096);
	urt_slab_deinit(&s);

	assert_int_equal(urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 256,
								    .slots = 64,
								    .allocator = &ta.al }),
			 0);
	for (int i = 0; i < 64 * 100; i++)
		assert_int_equal(urt_slab_alloc(&s, &slot), 0);
	assert_int_equal(stats(&s).chunks, 100);
	assert_int_equal(stats(&s).bytes, ta.live_bytes);
	if (!s.checked)
		assert_true((ta.live_bytes - 100 * 64 * 256) / 100 <= 64);
	urt_slab_deinit(&s);
	assert_int_equal(ta.live_blocks, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_bad_options),
		cmocka_unit_test(test_slot_size_rounding_and_alignment),
		cmocka_unit_test(test_bounded_full_rejects_and_changes_nothing),
		cmocka_unit_test(test_unbounded_grows_by_chunks_and_addresses_stay),
		cmocka_unit_test(test_chunk_switches_keep_counts),
		cmocka_unit_test(test_try_never_grows),
		cmocka_unit_test(test_claim_commit_release),
		cmocka_unit_test(test_emptied_chunk_refills_in_address_order),
		cmocka_unit_test(test_pop_bumps_and_stops_at_chunk_end),
		cmocka_unit_test(test_disarmed_slab_bumps_through_the_slow_path),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_alloc_failure_sweep),
		cmocka_unit_test(test_memory_bounds),
	};

	return cmocka_run_group_tests_name("slab", tests, NULL, NULL);
}
