/* SPDX-License-Identifier: MIT */
/*
 * urt/pool.h - fixed-size object pools and size-class pools.
 *
 * A pool hands out objects of one size (rounded up to 16 bytes, 16-byte
 * aligned) in O(1): a freelist pop, or a bump through the newest page.
 *  - Unbounded pools grow by pages of page_objs objects, one backing
 *    allocation per page, or carved from a block urt_pool_reserve made. The
 *    only way alloc fails is the backing allocator.
 *  - Bounded pools allocate their max_objs objects at init and never
 *    allocate again. The only way alloc fails is that all are in use.
 * Pages are kept until deinit, or until urt_pool_trim finds none of their
 * objects live.
 *
 * A size class is 24 classes, 16..65600 bytes, two a power of two (16 32
 * 48 64 96 128 192 256 384 512 768 1024 1536 2048 3072 4096, then 6, 8,
 * 12, 16, 24, 32, 48 and 64 KiB: at most a third wasted). The top class is
 * 64 KiB and URT_SIZECLASS_HEADROOM bytes, so that a 64 KiB buffer behind
 * a small header (a task block's, scope.h) is still a class: 64 KiB is the
 * common large I/O size (urt-http's read-and-send chunk).
 * Up to 4096 bytes a class is a pool and its class a table look-up,
 * inline; a freed block stays in its pool until deinit (urt_sizeclass_trim
 * gives back the pages of a pool with no block live). Above, an
 * out-of-line call computes the class (a count of leading zeros): a big
 * class's blocks are the backing allocator's, one each, and a freed one is
 * kept on its class's list for the next request of that class while all
 * the big classes together keep at most cache_max bytes; past that it goes
 * back to the allocator. So a buffer a task grows and frees at every
 * request (an answer's output doubled to 8 or 16 KiB) costs no heap call
 * once warm, and what a peak took is given back beyond cache_max (a pool
 * per big class kept every class's peak: clients that moved from class to
 * class held a memory budget's worth in each). Requests above
 * URT_SIZECLASS_MAX go to the backing allocator, one call each, counted in
 * large_allocs / large_live. Frees are sized, as in C23's free_sized: the
 * caller passes the size it asked for.
 *
 * Debug builds poison free objects (ASan catches a use after free and a
 * double free, whose freelist write lands in poison).
 * Context: one thread at a time; no locks (one runtime per thread).
 */
#ifndef URT_POOL_H
#define URT_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "urt/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

struct urt_pool_opts {
	size_t obj_size; /* bytes per object; rounded up to 16 */
	/* unbounded: objects per page; 0: about 16 KiB worth, at least 8, but
	 * a page of objects above 8 KiB holds at most 64 KiB worth (one object
	 * above 32 KiB): a 64 KiB class grows by a block at a time, not 512 KiB */
	size_t page_objs;
	size_t max_objs; /* 0: unbounded; else bounded, all allocated at init */
	const struct urt_allocator *allocator; /* NULL: urt_allocator_default */
};

struct urt_pool {
	void *free;	   /* freelist of returned objects (link in first word) */
	char *bump;	   /* next never-used object of the newest page */
	char *bump_end;	   /* end of the newest page's objects */
	void *pages;	   /* newest page; each page links the previous one */
	size_t obj_size;   /* multiple of 16 */
	size_t page_objs;  /* objects per page */
	size_t max_objs;   /* 0: unbounded */
	size_t live;	   /* objects handed out */
	size_t high_water; /* max of live */
	size_t capacity;   /* objects in all pages */
	size_t npages;
	size_t bytes; /* bytes held from the backing allocator */
	/* urt_pool_reserve's block: pages carved from it in order, before any
	 * page is asked of the allocator (reserve <= reserve_next <= reserve_end) */
	char *reserve, *reserve_next, *reserve_end;
	bool checked; /* debug build: every call takes the slow path */
	struct urt_allocator al;
};

struct urt_pool_stats {
	size_t obj_size, live, high_water, capacity, pages, bytes;
};

/*
 * urt_pool_init - set up a pool; a bounded one allocates all its objects now.
 * Return: 0; -EINVAL for obj_size 0 or sizes that overflow; -ENOMEM if the
 * backing allocator failed (nothing is held then).
 */
URT_NODISCARD int urt_pool_init(struct urt_pool *p, const struct urt_pool_opts *opts);

/*
 * urt_pool_reserve - make room for objs objects now, as one backing block
 * (whole pages, about objs x obj_size): the pool takes its next pages from it
 * before it asks the allocator for any, so it makes no allocator call until
 * more than that many objects (with those of the pages it already has) are
 * live at once. A page is written when it is first needed, not now: the
 * block costs address space, and resident memory only as the pool's peak
 * reaches it (with an allocator that maps large blocks fresh, as malloc
 * does). Freed at deinit.
 * Return: 0 (objs 0 reserves nothing); -EINVAL for a bounded pool or a
 * size that overflows; -EALREADY if the pool has a reserve; -ENOMEM if
 * the backing allocator failed (the pool is as it was).
 * Context: the pool's thread, typically right after init.
 */
URT_NODISCARD int urt_pool_reserve(struct urt_pool *p, size_t objs);

/* urt_pool_deinit - free every page, objects still in use included. */
void urt_pool_deinit(struct urt_pool *p);

/*
 * urt_pool_trim - give an unbounded pool's pages back to the allocator when
 * none of its objects is live: a pool that served a peak and then emptied
 * holds nothing. A reserve block is kept (its pages are carved again from
 * its start); its bytes are not counted as given back.
 * Return: the bytes given back; 0 while an object is live, for a bounded
 * pool, or when the pool holds no page of the allocator's.
 * Context: the pool's thread. No object is live, so a pointer into the
 * pool is stale after it: ASan reports its use, in a reserve page too.
 */
size_t urt_pool_trim(struct urt_pool *p);

void urt_pool_stats(const struct urt_pool *p, struct urt_pool_stats *st);

void *urt__pool_alloc_slow(struct urt_pool *p);
void urt__pool_free_slow(struct urt_pool *p, void *obj);

/*
 * urt_pool_alloc - one object, contents undefined.
 * Return: the object; NULL when a bounded pool is exhausted, or when an
 * unbounded pool's backing allocator failed (each kind has that one cause).
 */
static inline void *urt_pool_alloc(struct urt_pool *p)
{
	void *o = p->free;

	if (__builtin_expect(!o || p->checked, 0))
		return urt__pool_alloc_slow(p);
	p->free = *(void **)o;
	if (++p->live > p->high_water)
		p->high_water = p->live;
	return o;
}

/* urt_pool_free - give an object back; O(1). */
static inline void urt_pool_free(struct urt_pool *p, void *obj)
{
	if (__builtin_expect(p->checked, 0)) {
		urt__pool_free_slow(p, obj);
		return;
	}
	*(void **)obj = p->free;
	p->free = obj;
	p->live--;
}

#define URT_SIZECLASS_COUNT	24   /* classes: URT_SIZECLASS_POOLS, then the big ones */
#define URT_SIZECLASS_POOLS	16   /* classes up to 4 KiB, each a pool */
#define URT_SIZECLASS_SMALL_MAX 4096 /* the largest class looked up inline */
#define URT_SIZECLASS_HEADROOM	64   /* the top class's bytes past 64 KiB */
/* the top class; above it, the allocator's */
#define URT_SIZECLASS_MAX	(65536 + URT_SIZECLASS_HEADROOM)

/* freed blocks kept by the big classes, all of them together, unless set */
#define URT_SIZECLASS_CACHE_DEFAULT ((size_t)4 << 20)

/* A class above 4 KiB: its blocks are the allocator's, one each, and the
 * freed ones are kept for reuse up to the size class's cache_max. */
struct urt_sizeclass_big {
	void *free;    /* freed blocks, linked through their first word */
	size_t nfree;  /* on that list */
	size_t live;   /* handed out, not yet freed */
	size_t allocs; /* taken from the allocator, ever */
};

struct urt_sizeclass {
	struct urt_pool pools[URT_SIZECLASS_POOLS];
	struct urt_sizeclass_big big[URT_SIZECLASS_COUNT - URT_SIZECLASS_POOLS];
	size_t cached;	     /* bytes on the big classes' free lists */
	size_t cache_max;    /* at most that (URT_SIZECLASS_CACHE_DEFAULT) */
	size_t large_allocs; /* requests above URT_SIZECLASS_MAX, ever */
	size_t large_live;   /* of those, not yet freed */
	struct urt_allocator al;
};

/* Class index of each size up to URT_SIZECLASS_SMALL_MAX in 16-byte steps:
 * [(size + 15) / 16]. */
extern const uint8_t urt__sizeclass_of[URT_SIZECLASS_SMALL_MAX / 16 + 1];

/* urt_sizeclass_init - set up the 16 class pools (they allocate on first
 * use) and the 8 big classes, their cache at URT_SIZECLASS_CACHE_DEFAULT. */
void urt_sizeclass_init(struct urt_sizeclass *sc, const struct urt_allocator *al);

/*
 * urt_sizeclass_reserve - urt_pool_reserve of count blocks in the class
 * that holds a request of size bytes.
 * Return: as urt_pool_reserve; -EINVAL for size above URT_SIZECLASS_SMALL_MAX
 * (the big classes hold no reserve: they keep freed blocks, up to cache_max).
 */
URT_NODISCARD int urt_sizeclass_reserve(struct urt_sizeclass *sc, size_t size, size_t count);

/* urt_sizeclass_deinit - free every class pool's pages (live blocks of the
 * pool classes with them) and every kept big block. A big block still
 * live (above 4 KiB) is the allocator's own and must be freed first, as
 * one above URT_SIZECLASS_MAX: the runtime frees every task's scope before
 * this. */
void urt_sizeclass_deinit(struct urt_sizeclass *sc);

/* Sizes above URT_SIZECLASS_SMALL_MAX: a big class's kept block, else the
 * backing allocator's. Out of line so the small path stays short. */
void *urt__sizeclass_alloc_slow(struct urt_sizeclass *sc, size_t size);
void urt__sizeclass_free_slow(struct urt_sizeclass *sc, void *ptr, size_t size);

/*
 * urt_sizeclass_alloc - size bytes, 16-byte aligned (size 0 counts as 1).
 * Return: the block; NULL if the backing allocator failed.
 */
static inline void *urt_sizeclass_alloc(struct urt_sizeclass *sc, size_t size)
{
	if (__builtin_expect(size > URT_SIZECLASS_SMALL_MAX, 0))
		return urt__sizeclass_alloc_slow(sc, size);
	return urt_pool_alloc(&sc->pools[urt__sizeclass_of[(size + 15) >> 4]]);
}

/* urt_sizeclass_free - free a block; size must be what alloc was asked for. */
static inline void urt_sizeclass_free(struct urt_sizeclass *sc, void *ptr, size_t size)
{
	if (__builtin_expect(size > URT_SIZECLASS_SMALL_MAX, 0)) {
		urt__sizeclass_free_slow(sc, ptr, size);
		return;
	}
	urt_pool_free(&sc->pools[urt__sizeclass_of[(size + 15) >> 4]], ptr);
}

/* urt_sizeclass_class_size - the bytes a request of size really takes
 * (size itself above URT_SIZECLASS_MAX). */
size_t urt_sizeclass_class_size(size_t size);

struct urt_sizeclass_stats {
	/* bytes held from the allocator: the pools' pages (of a reserve, the
	 * pages carved so far: the rest is address space, written only as
	 * used) and the big classes' blocks, live and kept (not blocks above
	 * the top class) */
	size_t held;
	/* of those, bytes no live block uses: the pools' freed and never used
	 * blocks and page links, and the kept big blocks */
	size_t kept;
};

/* urt_sizeclass_stats - what the classes hold; O(classes). */
void urt_sizeclass_stats(const struct urt_sizeclass *sc, struct urt_sizeclass_stats *st);

/*
 * urt_sizeclass_trim - give back what the classes keep and no block uses:
 * the pages of every class pool with no block live (urt_pool_trim) and
 * every kept big block. A pool with one block live keeps all its pages.
 * Return: the bytes given back to the allocator.
 * Context: the classes' thread.
 */
size_t urt_sizeclass_trim(struct urt_sizeclass *sc);

/* urt_sizeclass_pool - the pool of the class that holds a request of size
 * bytes (its stats, or urt_pool_trim of it alone); NULL above
 * URT_SIZECLASS_SMALL_MAX, whose classes are not pools. */
static inline struct urt_pool *urt_sizeclass_pool(struct urt_sizeclass *sc, size_t size)
{
	return size > URT_SIZECLASS_SMALL_MAX ? NULL
					      : &sc->pools[urt__sizeclass_of[(size + 15) >> 4]];
}

#ifdef __cplusplus
}
#endif

#endif /* URT_POOL_H */
