/* SPDX-License-Identifier: MIT */
/*
 * pool.c - fixed-size object pools and the size-class pool built on them.
 *
 * Page layout (one backing allocation, 16-byte aligned):
 *
 *   | obj 0 | obj 1 | ... | obj n-1 | prev page (8 bytes) + 8 padding |
 *
 * An object is in exactly one of: never handed out (in [bump, bump_end) of
 * the newest page), live, or on the freelist (link in its first word).
 * Invariants:
 *   live + length(free) + (bump_end - bump) / obj_size = capacity
 *   bounded  <=>  max_objs != 0  <=>  exactly one page, made at init
 *   reserve <= reserve_next <= reserve_end; the pages in [reserve,
 *   reserve_next) are on the page list, carved in order, and not freed one
 *   by one: the block is freed whole at deinit
 * Debug builds poison free objects: all of them under ASan, bytes 8.. with
 * URT_POISON_POOL otherwise.
 *
 * Size classes: 16 unbounded pools up to URT_SIZECLASS_SMALL_MAX, the class
 * a byte table's (inline, pool.h), a freed block kept until deinit or a
 * trim that finds its pool empty; then 8
 * big classes, (4 KiB, 64 KiB + URT_SIZECLASS_HEADROOM], big_class computes
 * the class, two a power of two: their blocks are the allocator's, one
 * each, and a freed one is kept on its class's list while the big classes
 * keep at most cache_max bytes together, else given back (a buffer grown
 * at every request costs no call once warm; a peak's memory is not held).
 * Invariant: cached == the sum over the big classes of nfree x class size
 * <= cache_max. Requests above the top
 * class are the allocator's, counted in large_allocs / large_live.
 */
#include "urt/pool.h"

#include <errno.h>

#include "urt_debug.h"

/*
 * Objects a page: PAGE_TARGET worth, at least PAGE_MIN_OBJS, but for objects
 * above 8 KiB at most PAGE_BIG worth (at least one). Rejected: 8 of every
 * size, as below 8 KiB: a 64 KiB class would grow by 512 KiB pages, each
 * above glibc's mmap threshold (a fresh mapping, address space for 8
 * blocks when a connection needs one). At 64 KiB a page holds one block:
 * each block of the peak costs one heap call, then stays (16 B of link).
 */
#define PAGE_TARGET   ((size_t)16 * 1024)
#define PAGE_MIN_OBJS 8
#define PAGE_BIG      ((size_t)64 * 1024)
#define LINK	      16 /* footer holding the previous page; keeps sizes 16-aligned */

static size_t page_bytes(const struct urt_pool *p)
{
	return p->page_objs * p->obj_size + LINK;
}

static void **page_link(const struct urt_pool *p, void *page)
{
	return (void **)((char *)page + p->page_objs * p->obj_size);
}

static bool in_reserve(const struct urt_pool *p, const void *page)
{
	return (const char *)page >= p->reserve && (const char *)page < p->reserve_end;
}

/* A page: the reserve's next, else one from the backing allocator. */
static int add_page(struct urt_pool *p)
{
	size_t bytes = page_bytes(p);
	char *page;

	if (p->reserve_next != p->reserve_end) {
		page = p->reserve_next;
		p->reserve_next += bytes;
	} else {
		page = p->al.alloc(p->al.ctx, bytes, 16);
		if (!page)
			return -ENOMEM;
		p->bytes += bytes;
	}
	*page_link(p, page) = p->pages;
	p->pages = page;
	p->npages++;
	p->capacity += p->page_objs;
	p->bump = page;
	p->bump_end = page + p->page_objs * p->obj_size;
	urt__poison(page, p->page_objs * p->obj_size, URT_POISON_POOL);
	return 0;
}

static size_t page_objs_for(size_t size)
{
	size_t min = PAGE_BIG / size < PAGE_MIN_OBJS ? PAGE_BIG / size : PAGE_MIN_OBJS;

	if (!min)
		min = 1;
	return PAGE_TARGET / size > min ? PAGE_TARGET / size : min;
}

int urt_pool_init(struct urt_pool *p, const struct urt_pool_opts *o)
{
	size_t size = urt__align_up(o->obj_size, 16);
	size_t n;

	if (!o->obj_size || size < o->obj_size)
		return -EINVAL;
	n = o->max_objs ? o->max_objs : o->page_objs;
	if (!n)
		n = page_objs_for(size);
	if (n > (SIZE_MAX / 2 - LINK) / size)
		return -EINVAL;
	*p = (struct urt_pool){
		.obj_size = size,
		.page_objs = n,
		.max_objs = o->max_objs,
		.al = o->allocator ? *o->allocator : urt_allocator_default,
	};
#if defined(URT_DEBUG) || defined(URT_ASAN)
	p->checked = true;
#endif
	if (p->max_objs && add_page(p))
		return -ENOMEM;
	return 0;
}

/* Free every page but the reserve's. Return: the bytes given back. */
static size_t free_pages(struct urt_pool *p)
{
	size_t given = 0;

	while (p->pages) {
		void *page = p->pages;

		p->pages = *page_link(p, page);
		urt__unpoison(page, p->page_objs * p->obj_size);
		if (!in_reserve(p, page)) {
			p->al.free(p->al.ctx, page, page_bytes(p), 16);
			given += page_bytes(p);
		}
	}
	return given;
}

void urt_pool_deinit(struct urt_pool *p)
{
	free_pages(p);
	if (p->reserve) {
		/* a trim leaves the reserve's carved pages poisoned */
		urt__unpoison(p->reserve, (size_t)(p->reserve_end - p->reserve));
		p->al.free(p->al.ctx, p->reserve, (size_t)(p->reserve_end - p->reserve), 16);
	}
	*p = (struct urt_pool){ 0 };
}

size_t urt_pool_trim(struct urt_pool *p)
{
	size_t given;

	if (p->live || p->max_objs || !p->npages)
		return 0;
	/* nothing is live: every object is free or never handed out, so the
	 * freelist links only objects of the pages freed here */
	given = free_pages(p);
	p->bytes -= given;
	/* the reserve's pages were unpoisoned for freeing and are kept: poison
	 * their objects again, or a stale pointer into one would go unreported
	 * here while one into a page given back is caught */
	for (char *page = p->reserve; page < p->reserve_next; page += page_bytes(p))
		urt__poison(page, p->page_objs * p->obj_size, URT_POISON_POOL);
	p->free = NULL;
	p->bump = p->bump_end = NULL;
	p->capacity = 0;
	p->npages = 0;
	p->reserve_next = p->reserve;
	return given;
}

int urt_pool_reserve(struct urt_pool *p, size_t objs)
{
	size_t pages, bytes;
	char *block;

	if (p->max_objs)
		return -EINVAL;
	if (p->reserve)
		return -EALREADY;
	if (!objs)
		return 0;
	pages = objs / p->page_objs + (objs % p->page_objs != 0);
	if (pages > SIZE_MAX / page_bytes(p))
		return -EINVAL;
	bytes = pages * page_bytes(p);
	block = p->al.alloc(p->al.ctx, bytes, 16);
	if (!block)
		return -ENOMEM;
	p->reserve = p->reserve_next = block;
	p->reserve_end = block + bytes;
	p->bytes += bytes;
	return 0;
}

void urt_pool_stats(const struct urt_pool *p, struct urt_pool_stats *st)
{
	*st = (struct urt_pool_stats){
		.obj_size = p->obj_size,
		.live = p->live,
		.high_water = p->high_water,
		.capacity = p->capacity,
		.pages = p->npages,
		.bytes = p->bytes,
	};
}

void *urt__pool_alloc_slow(struct urt_pool *p)
{
	void *o;

	if (p->free) {
		o = p->free;
		urt__unpoison(o, p->obj_size);
		p->free = *(void **)o;
	} else {
		if (p->bump == p->bump_end && (p->max_objs || add_page(p)))
			return NULL;
		o = p->bump;
		p->bump += p->obj_size;
		urt__unpoison(o, p->obj_size);
	}
	if (++p->live > p->high_water)
		p->high_water = p->live;
	return o;
}

void urt__pool_free_slow(struct urt_pool *p, void *obj)
{
	URT_ASSERT(p->live > 0, "pool free with no object live (double free?)");
	*(void **)obj = p->free; /* under ASan, a double free faults here */
	p->free = obj;
	p->live--;
#ifdef URT_ASAN
	urt__poison(obj, p->obj_size, URT_POISON_POOL);
#else
	urt__poison((char *)obj + sizeof(void *), p->obj_size - sizeof(void *), URT_POISON_POOL);
#endif
}

/* --- size classes ------------------------------------------------------ */

static const uint32_t class_size[URT_SIZECLASS_COUNT] = {
	16,   32,   48,	  64,	96,   128,  192,   256,	  384,	 512,	768,   1024,
	1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768, 49152, URT_SIZECLASS_MAX,
};

/* Index i covers request sizes (16(i-1), 16i]. */
const uint8_t urt__sizeclass_of[URT_SIZECLASS_SMALL_MAX / 16 + 1] = {
	[0 ... 1] = 0,
	[2] = 1,
	[3] = 2,
	[4] = 3,
	[5 ... 6] = 4,
	[7 ... 8] = 5,
	[9 ... 12] = 6,
	[13 ... 16] = 7,
	[17 ... 24] = 8,
	[25 ... 32] = 9,
	[33 ... 48] = 10,
	[49 ... 64] = 11,
	[65 ... 96] = 12,
	[97 ... 128] = 13,
	[129 ... 192] = 14,
	[193 ... 256] = 15,
};

_Static_assert(URT_SIZECLASS_MAX - URT_SIZECLASS_HEADROOM == 16 * URT_SIZECLASS_SMALL_MAX,
	       "4 doublings above the table");
_Static_assert(URT_SIZECLASS_MAX % 16 == 0, "the top class keeps blocks 16-aligned");

/*
 * The class of a size in (URT_SIZECLASS_SMALL_MAX, URT_SIZECLASS_MAX]: with
 * s = size - 1 and 2^b <= s < 2^(b+1) (b = 12..15), the class is 1.5 x 2^b if
 * s < 1.5 x 2^b (bit b-1 clear), else 2^(b+1). Index 16 is 6 KiB. The top
 * class also takes 64 KiB's headroom (s = 2^16 ..).
 */
static unsigned big_class(size_t size)
{
	size_t s = size - 1;
	unsigned b = 63 - (unsigned)__builtin_clzll(s);

	if (b > 15)
		return URT_SIZECLASS_COUNT - 1;
	return 16 + 2 * (b - 12) + ((s >> (b - 1)) & 1);
}

/* The class of any size up to URT_SIZECLASS_MAX. */
static inline unsigned class_of(size_t size)
{
	return size <= URT_SIZECLASS_SMALL_MAX ? urt__sizeclass_of[(size + 15) >> 4]
					       : big_class(size);
}

void urt_sizeclass_init(struct urt_sizeclass *sc, const struct urt_allocator *al)
{
	*sc = (struct urt_sizeclass){
		.cache_max = URT_SIZECLASS_CACHE_DEFAULT,
		.al = al ? *al : urt_allocator_default,
	};
	for (int i = 0; i < URT_SIZECLASS_POOLS; i++) {
		struct urt_pool_opts o = { .obj_size = class_size[i], .allocator = &sc->al };
		int ret = urt_pool_init(&sc->pools[i], &o);

		/* unbounded pools of these sizes allocate lazily: init cannot fail */
		URT_ASSERT(ret == 0, "size-class pool init failed");
		(void)ret;
	}
}

/* Give every kept big block back. Return: the bytes given back. */
static size_t free_kept(struct urt_sizeclass *sc)
{
	size_t given = sc->cached;

	for (int i = URT_SIZECLASS_POOLS; i < URT_SIZECLASS_COUNT; i++) {
		struct urt_sizeclass_big *b = &sc->big[i - URT_SIZECLASS_POOLS];

		while (b->free) {
			void *p = b->free;

			urt__unpoison(p, class_size[i]);
			b->free = *(void **)p;
			sc->al.free(sc->al.ctx, p, class_size[i], 16);
		}
		b->nfree = 0;
	}
	sc->cached = 0;
	return given;
}

void urt_sizeclass_deinit(struct urt_sizeclass *sc)
{
	for (int i = 0; i < URT_SIZECLASS_POOLS; i++)
		urt_pool_deinit(&sc->pools[i]);
	free_kept(sc);
}

void urt_sizeclass_stats(const struct urt_sizeclass *sc, struct urt_sizeclass_stats *st)
{
	*st = (struct urt_sizeclass_stats){ .kept = sc->cached };
	for (int i = 0; i < URT_SIZECLASS_POOLS; i++) {
		const struct urt_pool *p = &sc->pools[i];
		/* a reserve's pages not carved yet are address space, not memory */
		size_t bytes = p->bytes - (size_t)(p->reserve_end - p->reserve_next);

		st->held += bytes;
		st->kept += bytes - p->live * p->obj_size;
	}
	for (int i = URT_SIZECLASS_POOLS; i < URT_SIZECLASS_COUNT; i++) {
		const struct urt_sizeclass_big *b = &sc->big[i - URT_SIZECLASS_POOLS];

		st->held += (b->live + b->nfree) * class_size[i];
	}
}

size_t urt_sizeclass_trim(struct urt_sizeclass *sc)
{
	size_t given = free_kept(sc);

	for (int i = 0; i < URT_SIZECLASS_POOLS; i++)
		given += urt_pool_trim(&sc->pools[i]);
	return given;
}

int urt_sizeclass_reserve(struct urt_sizeclass *sc, size_t size, size_t count)
{
	if (size > URT_SIZECLASS_SMALL_MAX)
		return -EINVAL;
	return urt_pool_reserve(&sc->pools[urt__sizeclass_of[(size + 15) >> 4]], count);
}

size_t urt_sizeclass_class_size(size_t size)
{
	return size > URT_SIZECLASS_MAX ? size : class_size[class_of(size)];
}

void *urt__sizeclass_alloc_slow(struct urt_sizeclass *sc, size_t size)
{
	void *ptr;

	if (size <= URT_SIZECLASS_MAX) {
		unsigned c = big_class(size);
		struct urt_sizeclass_big *b = &sc->big[c - URT_SIZECLASS_POOLS];

		ptr = b->free;
		if (ptr) {
			urt__unpoison(ptr, class_size[c]);
			b->free = *(void **)ptr;
			b->nfree--;
			sc->cached -= class_size[c];
		} else {
			ptr = sc->al.alloc(sc->al.ctx, class_size[c], 16);
			if (!ptr)
				return NULL;
			b->allocs++;
		}
		b->live++;
		return ptr;
	}
	ptr = sc->al.alloc(sc->al.ctx, size, 16);
	if (ptr) {
		sc->large_allocs++;
		sc->large_live++;
	}
	return ptr;
}

void urt__sizeclass_free_slow(struct urt_sizeclass *sc, void *ptr, size_t size)
{
	if (size <= URT_SIZECLASS_MAX) {
		unsigned c = big_class(size);
		struct urt_sizeclass_big *b = &sc->big[c - URT_SIZECLASS_POOLS];

		URT_ASSERT(b->live > 0, "size-class free of a big block never allocated");
		b->live--;
		if (sc->cached + class_size[c] > sc->cache_max) {
			/* a scope poisoned its slack (scope.c): the allocator may hand
			 * the block to its next caller, who owns all of it */
			urt__unpoison(ptr, class_size[c]);
			sc->al.free(sc->al.ctx, ptr, class_size[c], 16);
			return;
		}
		*(void **)ptr = b->free;
		b->free = ptr;
		b->nfree++;
		sc->cached += class_size[c];
#ifdef URT_ASAN
		urt__poison(ptr, class_size[c], URT_POISON_POOL);
#else
		urt__poison((char *)ptr + sizeof(void *), class_size[c] - sizeof(void *),
			    URT_POISON_POOL);
#endif
		return;
	}
	URT_ASSERT(sc->large_live > 0, "size-class free of a large block never allocated");
	sc->large_live--;
	sc->al.free(sc->al.ctx, ptr, size, 16);
}
