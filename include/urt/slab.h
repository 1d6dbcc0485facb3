/* SPDX-License-Identifier: MIT */
/*
 * urt/slab.h - byte slabs: fixed-size slots that never move.
 *
 * A slab hands out slots of one size (rounded up to 16 bytes, aligned to 16
 * or 64). There is no per-slot header: a vacant slot holds its freelist link
 * (and its chunk index), an occupied one holds only the caller's bytes.
 *
 * Bounded slabs allocate their whole capacity at init and never allocate
 * again; when full, alloc fails with -ENOSPC and nothing else happens.
 * Unbounded slabs grow by chunks of a fixed number of slots, one backing
 * allocation per chunk; addresses never move; allocation takes from chunks
 * that have vacant slots before growing.
 *
 * Every allocation hands back the slot's chunk index (struct urt_slot), and
 * freeing with that index is O(1) however many chunks exist. Claims reserve a
 * slot first (urt_slab_claim), then commit it or release it.
 *
 * Ownership rules:
 *  1. The caller owns struct urt_slab's storage; urt_slab_deinit releases
 *     every chunk, live slots included.
 *  2. A slot is the caller's from alloc/claim until free/release; its address
 *     is stable for that whole time.
 *  3. Every call takes the slot's chunk index as returned; passing another is
 *     a contract violation (caught in debug builds).
 * Context: any thread, but one slab is never used by two threads at once.
 */
#ifndef URT_SLAB_H
#define URT_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "urt/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

#define URT_SLAB_ALIGN_MIN 16
#define URT_SLAB_NIL	   UINT32_MAX /* "no chunk" in the avail list */

struct urt_slab_opts {
	size_t slot_size;		       /* bytes per slot; rounded up to align */
	size_t align;			       /* 16 or 64; 0 means 16 */
	size_t slots;			       /* bounded: capacity; unbounded: slots per chunk */
	bool bounded;			       /* never allocate after init */
	const struct urt_allocator *allocator; /* NULL: urt_allocator_default */
};

/* A slot as the slab hands it out: where it is and which chunk owns it. */
struct urt_slot {
	void *ptr;
	uint32_t chunk;
};

/*
 * The slab's used count carries this offset while the free that empties the
 * slab need not call the slow path (which re-sorts a scattered freelist into
 * address order): the count then never reaches 0. While it does, the slab's
 * bump_end is held at its bump, so the next bump takes the slow path, which
 * clears it (arms the slab) and the inline bump never has to.
 */
#define URT__SLAB_UNARMED (1u << 31)

/*
 * Chunk header, stored right after the chunk's slots (so slots start at the
 * allocation's aligned base and no padding is wasted). Release builds keep
 * no list per chunk: every vacant slot that was handed out before is on the
 * slab's one freelist, and only the chunk the slab bumps (urt_slab.cur) has
 * slots that never were. Debug builds keep a list per chunk (free) and an
 * avail list of the chunks that have a vacant slot.
 */
struct urt_slab_chunk {
	void *free;	     /* debug builds: this chunk's freelist */
	uint32_t bump;	     /* slots [bump, chunk_slots) were never handed out */
			     /* (release builds: urt_slab.bump may be past it) */
	uint32_t index;	     /* position in urt_slab.dir */
	uint32_t next_avail; /* debug builds: avail list, URT_SLAB_NIL ends */
	uint32_t prev_avail;
};

/*
 * The first five fields are all alloc and free touch: alloc pops free (or,
 * when it is empty, bumps) and counts used up, free pushes and counts it
 * down. A vacant slot on the list holds the next one's address in its first
 * word and its own chunk index in the 4 bytes after (slots are at least 16
 * bytes), so alloc hands the index back without a lookup. Invariants
 * (release builds):
 *   used mod URT__SLAB_UNARMED = occupied + claimed slots
 *   chunks before cur: every slot occupied, claimed or on free
 *   chunk cur: slots below bump likewise, slots from bump on vacant
 *   chunks after cur: every slot vacant, on no list
 *   disarmed (used carries URT__SLAB_UNARMED): bump_end == bump
 * Debug and ASan builds keep free and bump NULL and cur URT_SLAB_NIL, so
 * every call takes the checked slow path.
 */
struct urt_slab {
	void *free;		     /* vacant slots off the bump; NULL: bump or slow path */
	uint32_t cur;		     /* the chunk that bumps; URT_SLAB_NIL: debug build */
	uint32_t used;		     /* occupied + claimed (+ URT__SLAB_UNARMED) */
	char *bump;		     /* next slot of chunk cur never handed out since a reset */
	char *bump_end;		     /* end of chunk cur's slots; bump == bump_end: slow path */
	struct urt_slab_chunk **dir; /* chunk index -> chunk */
	uint32_t slot_size;	     /* multiple of align */
	uint32_t chunk_slots;	     /* slots per chunk */
	uint32_t nchunks;	     /* chunks in dir */
	uint32_t gen;		     /* init generation: new at every init, never 0 */
	uint32_t dir_cap;	     /* entries allocated in dir */
	uint32_t avail;		     /* debug builds: head of the avail list */
	uint32_t align;		     /* 16 or 64 */
	bool bounded;		     /* one chunk, no growth */
	bool checked;		     /* debug build: per-chunk lists, states, poison */
	size_t bytes;		     /* bytes held from the backing allocator */
	struct urt_allocator al;
};

struct urt_slab_stats {
	size_t slot_size; /* bytes per slot after rounding */
	size_t used;	  /* occupied + claimed slots */
	size_t capacity;  /* slots in all chunks */
	size_t chunks;	  /* chunks allocated */
	size_t touched;	  /* slots ever handed out: >= the peak of used (= for one chunk) */
	size_t bytes;	  /* memory held from the backing allocator */
};

/*
 * urt_slab_init - set up a slab and allocate its first chunk (for a bounded
 * slab: all of it).
 * Return: 0; -EINVAL for slot_size or slots of 0, align not 16/64, 2^31
 * slots or more, or a slot larger than 4 GiB; -ENOMEM if the backing allocator failed
 * (the slab is then not initialised and holds nothing).
 */
URT_NODISCARD int urt_slab_init(struct urt_slab *s, const struct urt_slab_opts *opts);

/* urt_slab_deinit - free every chunk, live slots included. */
void urt_slab_deinit(struct urt_slab *s);

/*
 * urt_slab_stats - fill *st. O(chunks) (debug builds count state bytes:
 * O(slots)).
 */
void urt_slab_stats(const struct urt_slab *s, struct urt_slab_stats *st);

/*
 * urt_slab_used - occupied + claimed slots, counted as urt_slab_stats does.
 * Return: that count. Context: as every call on this slab.
 */
size_t urt_slab_used(const struct urt_slab *s);

/*
 * urt_slab_find_chunk - which chunk holds ptr (scans the chunks: the slow
 * path for callers that did not keep the index).
 * Return: the chunk index; -ENOENT if ptr is not a slot start of this slab.
 */
URT_NODISCARD int urt_slab_find_chunk(const struct urt_slab *s, const void *ptr);

/*
 * urt_slab_owns - whether ptr is a slot start of chunk `chunk` of s: O(1),
 * for callers that kept the index (urt_slab_find_chunk scans them all).
 * Return: true if it is; false for a chunk index past the slab's.
 */
bool urt_slab_owns(const struct urt_slab *s, const void *ptr, uint32_t chunk);

/* Internal entry points behind the inline fast paths below. */
#define URT__SLAB_CLAIM 1u /* debug builds: the slot becomes claimed, not occupied */
#define URT__SLAB_TRY	2u /* never grow */
URT_NODISCARD int urt__slab_take_slow(struct urt_slab *s, struct urt_slot *out, unsigned how);
void urt__slab_put_slow(struct urt_slab *s, void *ptr, uint32_t chunk, unsigned how);
void urt__slab_commit_slow(struct urt_slab *s, const struct urt_slot *claim);
void urt__slab_emptied(struct urt_slab *s);

/*
 * The chunk count and the init generation in one word (adjacent fields: one
 * load). A runtime that bound the slab compares both at once, so a slab
 * deinit and initialised again at the same address is never taken for the
 * one it bound (urt/slab_table.h).
 */
static inline uint64_t urt__slab_shape(const struct urt_slab *s)
{
	return (uint64_t)s->gen << 32 | s->nchunks;
}

/* Where a vacant slot on the freelist keeps its chunk index. */
static inline uint32_t *urt__slab_slot_chunk(void *p)
{
	return (uint32_t *)((char *)p + sizeof(void *));
}

/*
 * For callers that inline their own fast path (urt_spawn_slab) and for
 * urt__slab_take: pop the freelist, or bump when it is empty; NULL when
 * only urt_slab_alloc can tell (the end of a chunk, a debug build, or the
 * first bump of a disarmed slab, whose bump_end is held at its bump: the
 * slow path arms it, so the inline bump counts with a plain increment;
 * see urt__slab_emptied). Never calls out, so the caller's
 * fast path stays a leaf.
 */
static inline void *urt__slab_pop(struct urt_slab *s, uint32_t *chunk)
{
	void *p = s->free;

	if (__builtin_expect(!p, 0)) {
		p = s->bump;
		if (__builtin_expect(p == s->bump_end, 0))
			return NULL;
		if (!p) /* below bump_end: never NULL (the caller's test folds away) */
			__builtin_unreachable();
		s->bump = (char *)p + s->slot_size;
		s->used++; /* armed: a disarmed slab's bump_end is its bump */
		*chunk = s->cur;
		return p;
	}
	s->free = *(void **)p;
	s->used++;
	*chunk = *urt__slab_slot_chunk(p);
	return p;
}

/* Fast path: urt__slab_pop; the slow path moves to the next chunk or grows. */
static inline int urt__slab_take(struct urt_slab *s, struct urt_slot *out, unsigned how)
{
	uint32_t chunk;
	void *p = urt__slab_pop(s, &chunk);

	if (__builtin_expect(!p, 0))
		return urt__slab_take_slow(s, out, how);
	out->ptr = p;
	out->chunk = chunk;
	return 0;
}

/*
 * Fast path: push onto the freelist, whatever the slot's chunk (no branch
 * on it, no chunk header touched). The free that empties an armed slab
 * calls urt__slab_emptied, which puts a scattered freelist back into
 * address order. Debug builds go to the checked slow path.
 */
static inline void urt__slab_put(struct urt_slab *s, void *ptr, uint32_t chunk, unsigned how)
{
	if (__builtin_expect(s->cur == URT_SLAB_NIL, 0)) {
		urt__slab_put_slow(s, ptr, chunk, how);
		return;
	}
	*(void **)ptr = s->free;
	*urt__slab_slot_chunk(ptr) = chunk;
	s->free = ptr;
	if (__builtin_expect(--s->used == 0, 0))
		urt__slab_emptied(s);
}

/*
 * urt_slab_alloc - take a vacant slot, growing an unbounded slab if needed.
 * Return: 0 and *out filled; -ENOSPC if a bounded slab is full; -ENOMEM if
 * growing failed. On failure *out and the slab are unchanged.
 */
URT_NODISCARD static inline int urt_slab_alloc(struct urt_slab *s, struct urt_slot *out)
{
	return urt__slab_take(s, out, 0);
}

/*
 * urt_slab_try_alloc - take a vacant slot only if one exists; never grows,
 * never allocates.
 * Return: 0 and *out filled; -ENOSPC if no slot is vacant.
 */
URT_NODISCARD static inline int urt_slab_try_alloc(struct urt_slab *s, struct urt_slot *out)
{
	return urt__slab_take(s, out, URT__SLAB_TRY);
}

/* urt_slab_free - give back an occupied slot; O(1). */
static inline void urt_slab_free(struct urt_slab *s, void *ptr, uint32_t chunk)
{
	urt__slab_put(s, ptr, chunk, 0);
}

/*
 * urt_slab_claim - reserve a vacant slot without constructing anything
 * (may grow an unbounded slab). Commit or release it later.
 * Return: as urt_slab_alloc.
 */
URT_NODISCARD static inline int urt_slab_claim(struct urt_slab *s, struct urt_slot *out)
{
	return urt__slab_take(s, out, URT__SLAB_CLAIM);
}

/*
 * urt_slab_try_claim - reserve a slot only if one is vacant; never grows.
 * Return: 0; -ENOSPC if no slot is vacant (the slab is unchanged).
 */
URT_NODISCARD static inline int urt_slab_try_claim(struct urt_slab *s, struct urt_slot *out)
{
	return urt__slab_take(s, out, URT__SLAB_CLAIM | URT__SLAB_TRY);
}

/* urt_slab_release - give back a claimed slot unused; O(1), nothing lost. */
static inline void urt_slab_release(struct urt_slab *s, const struct urt_slot *claim)
{
	urt__slab_put(s, claim->ptr, claim->chunk, URT__SLAB_CLAIM);
}

/*
 * urt_slab_commit - a claimed slot becomes occupied (then urt_slab_free it).
 * Only debug builds tell the two apart; there it is a state check.
 */
static inline void urt_slab_commit(struct urt_slab *s, const struct urt_slot *claim)
{
	if (__builtin_expect(s->cur == URT_SLAB_NIL, 0))
		urt__slab_commit_slow(s, claim);
}

#ifdef __cplusplus
}
#endif

#endif /* URT_SLAB_H */
