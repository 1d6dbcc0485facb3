/* SPDX-License-Identifier: MIT */
/*
 * arena.c - the frame arena.
 *
 * Chunks form a chain from head (newest, being bumped) back to first:
 *
 *   head -> prev -> ... -> first            spare (not in the chain)
 *
 * Each chunk is one backing allocation: a 16-byte header, then `size` data
 * bytes. Only head has free space that alloc uses; bytes left at the end of
 * an older chunk are padding until the next reset.
 *
 * Invariants:
 *   used = used_prev + (cur - data(head)),   data(head) <= cur <= end
 *   held = sum over chain and spare of (header + size) <= cap
 *   every byte of a held chunk outside [data(c), cur-of-c) is poisoned in
 *   debug builds (freshly allocated chunks are poisoned whole).
 *
 * Rejected: growing first in place at reset (realloc to the frame's size).
 * It moves nothing live but hides a malloc in reset on every new high; the
 * spare gives the same steady state with the allocation done once, on the
 * frame that needed it.
 */
#include "urt/arena.h"

#include <errno.h>

#include "urt_debug.h"

#define HDR	    sizeof(struct urt_arena_chunk)
#define CHUNK_ALIGN 64

_Static_assert(sizeof(struct urt_arena_chunk) == 16, "chunk data must stay 16-byte aligned");

static char *data(const struct urt_arena_chunk *c)
{
	return (char *)(c + 1);
}

static size_t max3(size_t a, size_t b, size_t c)
{
	size_t m = a > b ? a : b;

	return m > c ? m : c;
}

static struct urt_arena_chunk *chunk_new(struct urt_arena *a, size_t size)
{
	struct urt_arena_chunk *c;

	if (size > a->cap || a->held + HDR + size > a->cap)
		return NULL;
	c = a->al.alloc(a->al.ctx, HDR + size, CHUNK_ALIGN);
	if (!c)
		return NULL;
	c->prev = NULL;
	c->size = size;
	a->held += HDR + size;
	a->chunks++;
	urt__poison(data(c), size, URT_POISON_ARENA);
	return c;
}

static void chunk_free(struct urt_arena *a, struct urt_arena_chunk *c)
{
	a->held -= HDR + c->size;
	a->chunks--;
	urt__unpoison(data(c), c->size);
	a->al.free(a->al.ctx, c, HDR + c->size, CHUNK_ALIGN);
}

/* A chunk leaves the chain: it becomes the spare if it is the largest. */
static void chunk_retire(struct urt_arena *a, struct urt_arena_chunk *c)
{
	if (a->spare && a->spare->size >= c->size) {
		chunk_free(a, c);
		return;
	}
	if (a->spare)
		chunk_free(a, a->spare);
	a->spare = c;
}

static size_t used_now(const struct urt_arena *a)
{
	return a->used_prev + (size_t)(a->cur - data(a->head));
}

int urt_arena_init(struct urt_arena *a, const struct urt_arena_opts *o)
{
	size_t chunk = o->chunk_size ? urt__align_up(o->chunk_size, 16) : URT_ARENA_CHUNK_DEFAULT;
	size_t cap = o->cap ? o->cap : 16 * (chunk + HDR);

	if (chunk < o->chunk_size || chunk > SIZE_MAX / 32 || cap < chunk + HDR)
		return -EINVAL;
	*a = (struct urt_arena){
		.chunk_size = chunk,
		.cap = cap,
		.al = o->allocator ? *o->allocator : urt_allocator_default,
	};
#if defined(URT_DEBUG) || defined(URT_ASAN)
	a->checked = true;
#endif
	a->first = chunk_new(a, chunk);
	if (!a->first)
		return -ENOMEM;
	a->head = a->first;
	a->cur = data(a->first);
	a->end = a->cur + chunk;
	return 0;
}

void urt_arena_deinit(struct urt_arena *a)
{
	while (a->head) {
		struct urt_arena_chunk *c = a->head;

		a->head = c->prev;
		chunk_free(a, c);
	}
	if (a->spare)
		chunk_free(a, a->spare);
	*a = (struct urt_arena){ 0 };
}

/* Chain a chunk that can hold size bytes at align; false if none can be had. */
static bool chain_chunk(struct urt_arena *a, size_t size, size_t align)
{
	size_t need = size + align;
	struct urt_arena_chunk *c = NULL;

	if (a->spare && a->spare->size >= need) {
		c = a->spare;
		a->spare = NULL; /* still held, now in the chain */
	} else {
		if (a->spare) { /* too small for this frame's growth: drop it */
			chunk_free(a, a->spare);
			a->spare = NULL;
		}
		c = chunk_new(a, urt__align_up(max3(a->chunk_size, need, used_now(a)), 16));
		if (!c)
			c = chunk_new(a, urt__align_up(need, 16));
		if (!c)
			return false;
	}
	a->used_prev = used_now(a);
	c->prev = a->head;
	a->head = c;
	a->cur = data(c);
	a->end = a->cur + c->size;
	return true;
}

void *urt__arena_alloc_slow(struct urt_arena *a, size_t size, size_t align)
{
	uintptr_t p;

	if (!urt__is_pow2(align) || align > URT_ARENA_ALIGN_MAX || size > SIZE_MAX / 4)
		return NULL;
	p = urt__align_up((uintptr_t)a->cur, align);
	if (p > (uintptr_t)a->end || size > (uintptr_t)a->end - p) {
		if (!chain_chunk(a, size, align))
			return NULL;
		p = urt__align_up((uintptr_t)a->cur, align);
	}
	a->cur = (char *)(p + size);
	urt__unpoison((void *)p, size);
	return (void *)p;
}

/*
 * Release everything above (keep, keep_cur): chunks newer than keep are
 * retired, keep's bytes from keep_cur on are poisoned and bumping resumes
 * at keep_cur.
 */
static void release_to(struct urt_arena *a, struct urt_arena_chunk *keep, char *keep_cur,
		       size_t used_prev)
{
	char *top = a->cur;

	while (a->head != keep) {
		struct urt_arena_chunk *c = a->head;

		a->head = c->prev;
		urt__poison(data(c), c->size, URT_POISON_ARENA);
		chunk_retire(a, c);
		top = data(keep) + keep->size;
	}
	if (top > keep_cur)
		urt__poison(keep_cur, (size_t)(top - keep_cur), URT_POISON_ARENA);
	a->cur = keep_cur;
	a->end = data(keep) + keep->size;
	a->used_prev = used_prev;
}

void urt_arena_reset(struct urt_arena *a)
{
	size_t used = used_now(a);

	if (used > a->high_water)
		a->high_water = used;
	release_to(a, a->first, data(a->first), 0);
	a->epoch++;
}

struct urt_arena_mark urt_arena_mark(const struct urt_arena *a)
{
	return (struct urt_arena_mark){
		.chunk = a->head,
		.cur = a->cur,
		.used_prev = a->used_prev,
		.epoch = a->epoch,
	};
}

int urt_arena_rewind(struct urt_arena *a, const struct urt_arena_mark *m)
{
	const struct urt_arena_chunk *c = a->head;

	if (m->epoch != a->epoch)
		return -ESTALE;
	/* The mark's chunk must still be in the chain, at or below cur. */
	while (c && c != m->chunk)
		c = c->prev;
	if (!c || (c == a->head && m->cur > a->cur))
		return -ESTALE;
	if (used_now(a) > a->high_water)
		a->high_water = used_now(a);
	release_to(a, m->chunk, m->cur, m->used_prev);
	return 0;
}

bool urt_arena_contains(const struct urt_arena *a, const void *ptr)
{
	for (const struct urt_arena_chunk *c = a->head; c; c = c->prev)
		if ((const char *)ptr >= data(c) && (const char *)ptr < data(c) + c->size)
			return true;
	return false;
}

void urt_arena_stats(const struct urt_arena *a, struct urt_arena_stats *st)
{
	size_t used = used_now(a);

	*st = (struct urt_arena_stats){
		.used = used,
		.high_water = used > a->high_water ? used : a->high_water,
		.held = a->held,
		.chunks = a->chunks,
		.resets = a->epoch,
	};
}
