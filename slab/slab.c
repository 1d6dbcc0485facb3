/* SPDX-License-Identifier: MIT */
/*
 * slab.c - byte slabs.
 *
 * Layout of one chunk (one backing allocation, aligned to s->align):
 *
 *   base                                   base + n*slot_size
 *   | slot 0 | slot 1 | ... | slot n-1 | struct urt_slab_chunk | state[n] |
 *                                                               debug only
 *
 * Putting the header after the slots means slot 0 sits at the aligned base
 * and no alignment padding is lost; per chunk the bookkeeping is the header
 * (24 bytes) plus one directory pointer (8, up to 16 with doubling slack).
 *
 * Slot states (debug builds keep them in state[], one byte per slot):
 *   VACANT  --take-->  LIVE     (alloc, try_alloc)
 *   VACANT  --take-->  CLAIMED  (claim, try_claim)
 *   CLAIMED --commit-> LIVE
 *   CLAIMED --release-> VACANT,  LIVE --free--> VACANT
 * A vacant slot is either not yet bumped (never handed out since the slab
 * was made or last reset) or on a freelist (s->free in release builds, its chunk's free in
 * debug builds), holding the next link in its first word and, in release
 * builds, its chunk index in the 4 bytes after. In debug builds a vacant
 * slot is poisoned: all of it under ASan (the slab unpoisons the link only
 * while it reads it), bytes 8.. filled with URT_POISON_SLOT otherwise.
 *
 * Invariants (checked by tests/test_slab.c against a model):
 *   release builds: one freelist (s->free) holds every vacant slot handed
 *     out since the last reset; s->used mod URT__SLAB_UNARMED is occupied +
 *     claimed; chunks after s->cur are wholly vacant, slots of s->cur from
 *     s->bump on too (struct urt_slab); c->bump is a high-water mark
 *   debug and ASan builds: s->cur = URT_SLAB_NIL and s->free = NULL always;
 *     each chunk has its own list (c->free), and it is on the avail list
 *     <=> c->free != NULL or bump < n
 *
 * Fast paths. Alloc pops s->free and reads the slot's chunk index from the
 * slot; free pushes onto s->free and writes the index there. Neither looks
 * at a chunk header or branches on the slot's chunk (in random order
 * across chunks that branch mispredicted one free in four, and a list per
 * chunk means a counter or a head kept behind a pointer, whose
 * read-modify-writes chain through store-to-load forwarding in LIFO
 * order). When s->free is empty alloc bumps, inline, through chunk cur;
 * the slow path moves to the next chunk and grows after the last. Debug
 * builds keep s->free and s->bump NULL and s->cur NIL, so every call
 * reaches the slow path, which keeps each chunk's list, each slot's state
 * and poison.
 *
 * The emptied slab. s->used exists for one event: the free that brings an
 * armed slab's count to 0 (urt__slab_emptied). Popping a freelist is a
 * chain of dependent loads (each pop reads the next address from the slot
 * it hands out), through lines that left L1 when frees scattered it and
 * still one load after another when they left it in order (LIFO); with
 * every slot vacant the slab is reset instead (list dropped, bumping from
 * chunk 0's first slot again, O(1)), so the next fill walks memory forward
 * without a load, as mimalloc's fresh pages do. A slab that bumped fewer
 * than SORT_MIN slots since its last reset keeps its list and is disarmed
 * (its count carries URT__SLAB_UNARMED and never reaches 0), so one slot
 * taken and freed over and over does not call out; the next bump arms it
 * again. That bump is the slow path's (take_next): disarming holds
 * bump_end at bump, so the inline bump counts with a plain increment and
 * never clears the offset itself (a warm-up's case, not the hot path's).
 *
 * Rejected (docs/design.md has the figures): per-chunk lists with the
 * current chunk's in the slab (the previous design: a branch on the slot's
 * chunk in every free, mispredicted in random order across chunks, and no
 * count to spot an emptied chunk without a read-modify-write through a
 * header); choosing the list without a branch; a side stack of vacant slot
 * indices (4 bytes a slot, over the bounded slab's memory budget); a
 * per-chunk bitmap (slower in LIFO order).
 */
#include "urt/slab.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "urt_debug.h"

enum { VACANT = 0, CLAIMED = 1, LIVE = 2 };

/* Slabs that handed out fewer slots are never reset (their lines fit L1). */
#define SORT_MIN 64

#define DIRENT sizeof(struct urt_slab_chunk *) /* one directory entry */

static char *chunk_base(const struct urt_slab *s, const struct urt_slab_chunk *c)
{
	return (char *)c - (size_t)s->chunk_slots * s->slot_size;
}

static size_t chunk_bytes(const struct urt_slab *s)
{
	size_t n = (size_t)s->chunk_slots * s->slot_size + sizeof(struct urt_slab_chunk);

	return s->checked ? n + s->chunk_slots : n;
}

/* Debug builds: one state byte per slot, right after the header. */
static uint8_t *chunk_state(struct urt_slab_chunk *c)
{
	return (uint8_t *)(c + 1);
}

static void poison_vacant(struct urt_slab *s, void *p)
{
#ifdef URT_ASAN
	urt__poison(p, s->slot_size, URT_POISON_SLOT);
#else
	urt__poison((char *)p + sizeof(void *), s->slot_size - sizeof(void *), URT_POISON_SLOT);
#endif
}

static void avail_push(struct urt_slab *s, struct urt_slab_chunk *c)
{
	c->prev_avail = URT_SLAB_NIL;
	c->next_avail = s->avail;
	if (s->avail != URT_SLAB_NIL)
		s->dir[s->avail]->prev_avail = c->index;
	s->avail = c->index;
}

static void avail_remove(struct urt_slab *s, struct urt_slab_chunk *c)
{
	if (c->prev_avail != URT_SLAB_NIL)
		s->dir[c->prev_avail]->next_avail = c->next_avail;
	else
		s->avail = c->next_avail;
	if (c->next_avail != URT_SLAB_NIL)
		s->dir[c->next_avail]->prev_avail = c->prev_avail;
}

/* Make room in the directory for one more chunk; nothing changes on -ENOMEM. */
static int dir_reserve(struct urt_slab *s)
{
	struct urt_slab_chunk **dir;
	uint32_t cap;

	if (s->nchunks < s->dir_cap)
		return 0;
	if (s->dir_cap >= UINT32_MAX / 2)
		return -ENOMEM;
	cap = s->dir_cap ? s->dir_cap * 2 : 4;
	dir = s->al.alloc(s->al.ctx, cap * DIRENT, _Alignof(void *));
	if (!dir)
		return -ENOMEM;
	if (s->nchunks)
		memcpy(dir, s->dir, s->nchunks * DIRENT);
	if (s->dir)
		s->al.free(s->al.ctx, s->dir, s->dir_cap * DIRENT, _Alignof(void *));
	s->bytes += (cap - s->dir_cap) * DIRENT;
	s->dir = dir;
	s->dir_cap = cap;
	return 0;
}

/* Release builds: chunk i (all vacant, on no list) becomes the one that bumps. */
static void bump_into(struct urt_slab *s, uint32_t i)
{
	s->cur = i;
	s->bump = chunk_base(s, s->dir[i]);
	s->bump_end = (char *)s->dir[i];
}

/* Slots chunk cur handed out by bump since its last reset. */
static uint32_t cur_bumped(const struct urt_slab *s)
{
	return (uint32_t)((size_t)(s->bump - chunk_base(s, s->dir[s->cur])) / s->slot_size);
}

static int grow(struct urt_slab *s)
{
	struct urt_slab_chunk *c;
	size_t bytes = chunk_bytes(s);
	char *base;
	int ret;

	ret = dir_reserve(s);
	if (ret)
		return ret;
	base = s->al.alloc(s->al.ctx, bytes, s->align);
	if (!base)
		return -ENOMEM;
	s->bytes += bytes;
	c = (struct urt_slab_chunk *)(base + (size_t)s->chunk_slots * s->slot_size);
	*c = (struct urt_slab_chunk){ .index = s->nchunks };
	if (s->checked) {
		memset(chunk_state(c), VACANT, s->chunk_slots);
		urt__poison(base, (size_t)s->chunk_slots * s->slot_size, URT_POISON_SLOT);
	}
	s->dir[s->nchunks++] = c;
	if (s->checked)
		avail_push(s, c);
	else
		bump_into(s, c->index);
	return 0;
}

/*
 * A generation no slab initialised before has had (until 2^32 inits wrap
 * it), never 0, which a deinit slab holds: whoever recorded a slab's
 * generation tells it from a slab initialised later at the same address.
 */
static uint32_t next_gen(void)
{
	static _Atomic uint32_t gens;
	uint32_t g;

	do
		g = atomic_fetch_add_explicit(&gens, 1, memory_order_relaxed) + 1;
	while (!g);
	return g;
}

int urt_slab_init(struct urt_slab *s, const struct urt_slab_opts *o)
{
	size_t align = o->align ? o->align : URT_SLAB_ALIGN_MIN;
	size_t slot;
	int ret;

	if (!o->slot_size || !o->slots || (align != 16 && align != 64))
		return -EINVAL;
	slot = urt__align_up(o->slot_size, align);
	if (slot < o->slot_size || slot > UINT32_MAX || o->slots >= URT__SLAB_UNARMED ||
	    o->slots > (SIZE_MAX / 2) / slot)
		return -EINVAL;
	*s = (struct urt_slab){
		.slot_size = (uint32_t)slot,
		.chunk_slots = (uint32_t)o->slots,
		.gen = next_gen(),
		.cur = URT_SLAB_NIL,
		.avail = URT_SLAB_NIL,
		.align = (uint32_t)align,
		.bounded = o->bounded,
		.al = o->allocator ? *o->allocator : urt_allocator_default,
	};
#if defined(URT_DEBUG) || defined(URT_ASAN)
	s->checked = true;
#endif
	ret = grow(s);
	if (ret) {
		urt_slab_deinit(s);
		return ret;
	}
	return 0;
}

void urt_slab_deinit(struct urt_slab *s)
{
	size_t span = (size_t)s->chunk_slots * s->slot_size;

	for (uint32_t i = 0; i < s->nchunks; i++) {
		char *base = chunk_base(s, s->dir[i]);

		urt__unpoison(base, span);
		s->al.free(s->al.ctx, base, chunk_bytes(s), s->align);
	}
	if (s->dir)
		s->al.free(s->al.ctx, s->dir, s->dir_cap * DIRENT, _Alignof(void *));
	*s = (struct urt_slab){ .cur = URT_SLAB_NIL, .avail = URT_SLAB_NIL };
}

size_t urt_slab_used(const struct urt_slab *s)
{
	size_t used = 0;

	if (!s->checked)
		return s->used & ~URT__SLAB_UNARMED;
	/* debug builds keep no count: their vacant slots are poisoned, links too */
	for (uint32_t i = 0; i < s->nchunks; i++) {
		const uint8_t *state = chunk_state(s->dir[i]);

		for (uint32_t j = 0; j < s->dir[i]->bump; j++)
			used += state[j] != VACANT;
	}
	return used;
}

void urt_slab_stats(const struct urt_slab *s, struct urt_slab_stats *st)
{
	*st = (struct urt_slab_stats){
		.slot_size = s->slot_size,
		.used = urt_slab_used(s),
		.capacity = (size_t)s->nchunks * s->chunk_slots,
		.chunks = s->nchunks,
		.bytes = s->bytes,
	};
	for (uint32_t i = 0; i < s->nchunks; i++) {
		uint32_t t = s->dir[i]->bump;

		if (i == s->cur && cur_bumped(s) > t) /* release builds: kept lazily */
			t = cur_bumped(s);
		st->touched += t;
	}
}

/* Slot number of ptr in c, or -1 if ptr is not a slot start of c. */
static long slot_index(const struct urt_slab *s, const struct urt_slab_chunk *c, const void *ptr)
{
	const char *base = chunk_base(s, c);
	uintptr_t off = (uintptr_t)ptr - (uintptr_t)base;

	if ((const char *)ptr < base || off >= (uintptr_t)s->chunk_slots * s->slot_size ||
	    off % s->slot_size)
		return -1;
	return (long)(off / s->slot_size);
}

int urt_slab_find_chunk(const struct urt_slab *s, const void *ptr)
{
	for (uint32_t i = 0; i < s->nchunks; i++)
		if (slot_index(s, s->dir[i], ptr) >= 0)
			return (int)i;
	return -ENOENT;
}

bool urt_slab_owns(const struct urt_slab *s, const void *ptr, uint32_t chunk)
{
	return chunk < s->nchunks && slot_index(s, s->dir[chunk], ptr) >= 0;
}

/* Debug builds: move a slot between states, asserting where it was. */
static void state_move(struct urt_slab *s, struct urt_slab_chunk *c, const void *ptr, int from,
		       int to, const char *what)
{
	uint8_t *state = chunk_state(c);
	long i;

	if (!s->checked)
		return;
	i = slot_index(s, c, ptr);
	URT_ASSERT(i >= 0, "pointer is not a slot of the slab chunk it names");
	if (i < 0)
		return;
	URT_ASSERT(state[i] == from, what);
	state[i] = (uint8_t)to;
}

/* A vacant slot of c: the head of *list, else the next never-touched one. */
static void *vacant_slot(struct urt_slab *s, struct urt_slab_chunk *c, void **list)
{
	void *p = *list;

	if (p) {
		urt__unpoison(p, s->slot_size);
		*list = *(void **)p;
		return p;
	}
	p = chunk_base(s, c) + (size_t)c->bump++ * s->slot_size;
	urt__unpoison(p, s->slot_size);
	return p;
}

/*
 * Release builds: s->free is empty and chunk cur bumped its last slot; move
 * to the next chunk (vacant since a reset), else grow.
 */
static int take_next(struct urt_slab *s, struct urt_slot *out, unsigned how)
{
	int ret;

	if (s->bump != (char *)s->dir[s->cur]) {
		/* disarmed (bump_end held at bump): the chunk has room; arm */
		s->bump_end = (char *)s->dir[s->cur];
	} else if (s->cur + 1 < s->nchunks) {
		s->dir[s->cur]->bump = s->chunk_slots;
		bump_into(s, s->cur + 1);
	} else {
		if (s->bounded || (how & URT__SLAB_TRY))
			return -ENOSPC;
		ret = grow(s);
		if (ret)
			return ret;
		s->dir[s->cur - 1]->bump = s->chunk_slots;
	}
	out->ptr = s->bump;
	out->chunk = s->cur;
	s->bump += s->slot_size;
	s->used = (s->used & ~URT__SLAB_UNARMED) + 1;
	return 0;
}

int urt__slab_take_slow(struct urt_slab *s, struct urt_slot *out, unsigned how)
{
	struct urt_slab_chunk *c;
	void *p;

	if (!s->checked)
		return take_next(s, out, how);
	if (s->avail == URT_SLAB_NIL) {
		int ret;

		if (s->bounded || (how & URT__SLAB_TRY))
			return -ENOSPC;
		ret = grow(s);
		if (ret)
			return ret;
	}
	c = s->dir[s->avail];
	p = vacant_slot(s, c, &c->free);
	if (!c->free && c->bump == s->chunk_slots)
		avail_remove(s, c);
	state_move(s, c, p, VACANT, (how & URT__SLAB_CLAIM) ? CLAIMED : LIVE,
		   "slab freelist corrupted: took a slot that is not vacant");
	out->ptr = p;
	out->chunk = c->index;
	return 0;
}

/* Debug builds: every free and release, checked against the slot's state. */
void urt__slab_put_slow(struct urt_slab *s, void *ptr, uint32_t chunk, unsigned how)
{
	struct urt_slab_chunk *c;
	bool was_full;

	URT_ASSERT(chunk < s->nchunks, "slab chunk index out of range");
	if (chunk >= s->nchunks)
		return;
	c = s->dir[chunk];
	if (how & URT__SLAB_CLAIM)
		state_move(s, c, ptr, CLAIMED, VACANT,
			   "release of a slab slot that is not claimed");
	else
		state_move(s, c, ptr, LIVE, VACANT,
			   "double free (or free of a claimed slot) in a slab");
	was_full = !c->free && c->bump == s->chunk_slots;
	*(void **)ptr = c->free;
	c->free = ptr;
	poison_vacant(s, ptr);
	if (was_full)
		avail_push(s, c);
}

void urt__slab_commit_slow(struct urt_slab *s, const struct urt_slot *claim)
{
	if (!s->checked)
		return; /* claimed and occupied differ only in debug builds */
	URT_ASSERT(claim->chunk < s->nchunks, "slab chunk index out of range");
	state_move(s, s->dir[claim->chunk], claim->ptr, CLAIMED, LIVE,
		   "commit of a slab slot that is not claimed");
}

/*
 * The free that emptied an armed slab (release builds): every slot is
 * vacant, the ones handed out since the last reset on s->free. Popping that
 * list is a dependent load a slot, through lines that left L1 if the frees
 * scattered it, so the slab is reset instead: the list dropped, bumping
 * starts again at chunk 0's first slot, and the next fill walks memory
 * forward with no load at all. A slab that bumped fewer than SORT_MIN slots
 * since its last reset is left alone and disarmed until its next bump.
 */
void urt__slab_emptied(struct urt_slab *s)
{
	struct urt_slab_chunk *c = s->dir[s->cur];

	if ((size_t)s->cur * s->chunk_slots + cur_bumped(s) < SORT_MIN) {
		s->used = URT__SLAB_UNARMED;
		s->bump_end = s->bump; /* the next bump arms it (take_next) */
		return;
	}
	if (cur_bumped(s) > c->bump)
		c->bump = cur_bumped(s);
	s->free = NULL;
	bump_into(s, 0);
}
