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
 * (32 bytes) plus one directory pointer (8, up to 16 with doubling slack).
 *
 * Slot states (debug builds keep them in state[], one byte per slot):
 *   VACANT  --take-->  LIVE     (alloc, try_alloc)
 *   VACANT  --take-->  CLAIMED  (claim, try_claim)
 *   CLAIMED --commit-> LIVE
 *   CLAIMED --release-> VACANT,  LIVE --free--> VACANT
 * A vacant slot is either past c->bump (never handed out, never written) or
 * on a freelist (c->free, or s->free for the current chunk, or c->checked_free
 * in debug builds), holding the
 * next link in its first word. In debug builds a
 * vacant slot is poisoned: all of it under ASan (the slab unpoisons the link
 * only while it reads it), bytes 8.. filled with URT_POISON_SLOT otherwise.
 *
 * Invariants (checked by tests/test_slab.c against a model):
 *   used of a chunk = bump - length of its freelist (occupied + claimed)
 *   sum over chunks of used = occupied + claimed slots (urt_slab_used)
 *   the current chunk (s->cur) is on no list; its freelist is s->free
 *   release builds, any other chunk: bump = n, and it is on the avail list
 *     <=> its free is not NULL (it has a vacant slot)
 *   debug and ASan builds: s->cur = URT_SLAB_NIL, s->free = NULL and every
 *     chunk's free = NULL always; a chunk's list is checked_free, and it is
 *     on the avail list <=> checked_free != NULL or bump < n
 *
 * Fast paths. Alloc pops s->free; free pushes onto it when the slot's chunk
 * is s->cur. Neither touches a chunk header, a counter or a debug flag: the
 * current chunk's occupancy is bump minus the length of s->free, counted
 * only when urt_slab_stats asks. When s->free runs dry the slow path bumps
 * into the chunk's never-touched slots; once those are gone too the chunk
 * is full, leaves, and the avail list's head is adopted (its list moved
 * into s->free). A free into any other chunk pushes on that chunk's list
 * (inline, writing nothing else), unless the list was empty: the chunk was
 * full, and the slow path relinks it onto the avail list. The current
 * chunk changes only when it fills, so an alloc/free loop inside one chunk
 * never leaves the fast paths. Occupancy is counted when asked
 * (urt_slab_used walks the freelists). Debug builds never adopt and keep
 * their lists where the fast paths do not look (checked_free), so every
 * call reaches the slow path, which keeps each slot's state and poison.
 *
 * Rejected: a per-chunk used counter kept by the inline free (the previous
 * version): its read-modify-write slowed the unbounded slab, whose frees
 * mostly go to other chunks than the current one. Rejected: choosing the
 * list to push on without a branch (s->free or dir[chunk]->free by a
 * conditional move): no mispredictions in random order across chunks, but
 * the directory loads on every free cost more in LIFO order
 * (docs/design.md has the figures).
 * Rejected: one freelist for the whole slab. It is simpler and as fast, but
 * per-chunk lists keep each chunk's occupancy exact, which is what lets a
 * later shrink return an empty chunk and lets debug builds validate a free
 * against the chunk it names.
 * Rejected: a side stack of vacant slot indices (4 bytes a slot, over the
 * bounded slab's memory budget) and a per-chunk bitmap (docs/design.md).
 */
#include "urt/slab.h"

#include <errno.h>
#include <string.h>

#include "urt_debug.h"

enum { VACANT = 0, CLAIMED = 1, LIVE = 2 };

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
	avail_push(s, c);
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
	if (slot < o->slot_size || slot > UINT32_MAX || o->slots >= URT_SLAB_NIL ||
	    o->slots > (SIZE_MAX / 2) / slot)
		return -EINVAL;
	*s = (struct urt_slab){
		.slot_size = (uint32_t)slot,
		.chunk_slots = (uint32_t)o->slots,
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

/*
 * Occupied + claimed slots of c: bump minus its list's length (the slab's
 * own list for the current chunk). Debug builds count the state bytes
 * instead: their vacant slots are poisoned, links included.
 */
static size_t chunk_used(const struct urt_slab *s, struct urt_slab_chunk *c)
{
	const void *p = c->index == s->cur ? s->free : c->free;
	size_t n = c->bump;

	if (s->checked) {
		const uint8_t *state = chunk_state(c);

		n = 0;
		for (uint32_t i = 0; i < c->bump; i++)
			n += state[i] != VACANT;
		return n;
	}
	for (; p; p = *(void *const *)p)
		n--;
	return n;
}

size_t urt_slab_used(const struct urt_slab *s)
{
	size_t used = 0;

	for (uint32_t i = 0; i < s->nchunks; i++)
		used += chunk_used(s, s->dir[i]);
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

int urt__slab_take_slow(struct urt_slab *s, struct urt_slot *out, unsigned how)
{
	struct urt_slab_chunk *c;
	void *p;

	if (s->cur != URT_SLAB_NIL) { /* the current chunk's list ran dry */
		c = s->dir[s->cur];
		if (c->bump < s->chunk_slots) {
			p = vacant_slot(s, c, &s->free);
			goto out;
		}
		/* full: it leaves, off every list */
		s->cur = URT_SLAB_NIL;
	}
	if (s->avail == URT_SLAB_NIL) {
		int ret;

		if (s->bounded || (how & URT__SLAB_TRY))
			return -ENOSPC;
		ret = grow(s);
		if (ret)
			return ret;
	}
	c = s->dir[s->avail];
	if (!s->checked) { /* adopt c: from now on the fast paths serve it */
		avail_remove(s, c);
		s->cur = c->index;
		s->free = c->free;
		c->free = NULL;
		p = vacant_slot(s, c, &s->free);
		goto out;
	}
	p = vacant_slot(s, c, &c->checked_free);
	if (!c->checked_free && c->bump == s->chunk_slots)
		avail_remove(s, c);
	state_move(s, c, p, VACANT, (how & URT__SLAB_CLAIM) ? CLAIMED : LIVE,
		   "slab freelist corrupted: took a slot that is not vacant");
out:
	out->ptr = p;
	out->chunk = c->index;
	return 0;
}

/*
 * A slot of a chunk that is not current and whose list was empty: it was
 * full and rejoins the avail list. Every slot in debug builds.
 */
void urt__slab_put_slow(struct urt_slab *s, void *ptr, uint32_t chunk, unsigned how)
{
	struct urt_slab_chunk *c;
	bool was_full;

	if (!s->checked) {
		c = s->dir[chunk]; /* not current: it was full */
		*(void **)ptr = NULL;
		c->free = ptr;
		avail_push(s, c);
		return;
	}
	URT_ASSERT(chunk < s->nchunks, "slab chunk index out of range");
	c = s->dir[chunk];
	if (how & URT__SLAB_CLAIM)
		state_move(s, c, ptr, CLAIMED, VACANT,
			   "release of a slab slot that is not claimed");
	else
		state_move(s, c, ptr, LIVE, VACANT,
			   "double free (or free of a claimed slot) in a slab");
	was_full = !c->checked_free && c->bump == s->chunk_slots;
	*(void **)ptr = c->checked_free;
	c->checked_free = ptr;
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
