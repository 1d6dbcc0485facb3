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
 * A vacant slot is either past its chunk's bump (never handed out, never
 * written) or on a freelist (s->free in release builds, its chunk's free in
 * debug builds), holding the next link in its first word and, in release
 * builds, its chunk index in the 4 bytes after. In debug builds a vacant
 * slot is poisoned: all of it under ASan (the slab unpoisons the link only
 * while it reads it), bytes 8.. filled with URT_POISON_SLOT otherwise.
 *
 * Invariants (checked by tests/test_slab.c against a model):
 *   release builds: one freelist (s->free) holds every vacant slot below a
 *     bump; s->used mod URT__SLAB_UNARMED is occupied + claimed; s->cur is
 *     the last chunk, and every chunk before it has bump = n
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
 * order). When s->free is empty the slow path bumps into the last chunk's
 * never-touched slots, and grows once those are gone. Debug builds keep
 * s->free NULL and s->cur NIL, so every call reaches the slow path, which
 * keeps each chunk's list, each slot's state and poison.
 *
 * The emptied slab. s->used exists for one event: the free that brings an
 * armed slab's count to 0 (urt__slab_emptied). Frees in a scattered order
 * leave a scattered freelist, and popping it is a chain of dependent loads
 * through lines that left L1; with every slot vacant the list is rebuilt in
 * address order instead (each chunk's slots [0, bump), chunk by chunk), so
 * the next fill walks memory forward, as mimalloc's fresh pages do. A list
 * already in order (LIFO frees) is kept and the slab disarmed (its count
 * carries URT__SLAB_UNARMED and never reaches 0), so one slot taken and
 * freed over and over does not call out; the bump path arms it again once
 * SORT_MIN slots were ever handed out.
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
#include <string.h>

#include "urt_debug.h"

enum { VACANT = 0, CLAIMED = 1, LIVE = 2 };

/* Slabs that handed out fewer slots are never re-sorted (their lines fit L1). */
#define SORT_MIN 64
/* Links followed to tell a freelist in address order from a scattered one. */
#define SORT_PROBE 16

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
		s->cur = c->index; /* the new chunk bumps */
	return 0;
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
		.cur = URT_SLAB_NIL,
		.used = URT__SLAB_UNARMED,
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
	for (uint32_t i = 0; i < s->nchunks; i++)
		st->touched += s->dir[i]->bump;
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

/* Release builds: s->free is empty; bump into the last chunk, growing if needed. */
static int take_bump(struct urt_slab *s, struct urt_slot *out, unsigned how)
{
	struct urt_slab_chunk *c = s->dir[s->cur];
	int ret;

	if (c->bump == s->chunk_slots) {
		if (s->bounded || (how & URT__SLAB_TRY))
			return -ENOSPC;
		ret = grow(s);
		if (ret)
			return ret;
		c = s->dir[s->cur];
	}
	out->ptr = chunk_base(s, c) + (size_t)c->bump++ * s->slot_size;
	out->chunk = c->index;
	s->used++;
	if ((size_t)s->cur * s->chunk_slots + c->bump >= SORT_MIN)
		s->used &= ~URT__SLAB_UNARMED; /* armed: worth re-sorting when emptied */
	return 0;
}

int urt__slab_take_slow(struct urt_slab *s, struct urt_slot *out, unsigned how)
{
	struct urt_slab_chunk *c;
	void *p;

	if (!s->checked)
		return take_bump(s, out, how);
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

/* Whether the list at p runs through adjacent slots, as a sorted or LIFO one does. */
static bool list_in_order(const struct urt_slab *s, void *p)
{
	for (int i = 0; i < SORT_PROBE && p; i++) {
		char *next = *(void **)p;
		uintptr_t d = (uintptr_t)next - (uintptr_t)p;

		if (next && d != s->slot_size && d != -(uintptr_t)s->slot_size)
			return false;
		p = next;
	}
	return true;
}

/*
 * The free that emptied an armed slab (release builds): every slot below a
 * bump is vacant and on s->free. A list the frees scattered makes every pop
 * a dependent load through a line that left L1, so it is rebuilt in address
 * order, chunk by chunk (each slot keeps the chunk index it was pushed
 * with). A list already in order is left alone and the slab disarmed.
 */
void urt__slab_emptied(struct urt_slab *s)
{
	void **tail = &s->free;

	if (list_in_order(s, s->free)) {
		s->used = URT__SLAB_UNARMED;
		return;
	}
	for (uint32_t i = 0; i < s->nchunks; i++) {
		struct urt_slab_chunk *c = s->dir[i];
		char *p = chunk_base(s, c);

		for (uint32_t j = 0; j < c->bump; j++, p += s->slot_size) {
			*tail = p;
			tail = (void **)p;
		}
	}
	*tail = NULL;
}
