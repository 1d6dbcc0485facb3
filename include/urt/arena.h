/* SPDX-License-Identifier: MIT */
/*
 * urt/arena.h - the frame arena: bump allocation that resets every tick.
 *
 * Memory from an arena lives until the next reset (or rewind past it). The
 * runtime's loop brackets every tick with urt_arena_frame_begin/end, so
 * "frame memory" is scratch that dies at the end of the tick.
 *
 * Growth: when the current chunk cannot hold a request, a new chunk is
 * chained, sized max(chunk_size, request + align, bytes used so far) so a
 * big frame needs O(log) chunks. The arena never holds more than `cap` bytes
 * of chunks; a request past that returns NULL.
 *
 * Reset policy: reset keeps the first chunk, keeps one spare (the largest
 * other chunk it held) and frees the rest. The next frame that outgrows the
 * first chunk takes the spare before allocating, so a steady workload stops
 * calling the backing allocator after a few frames. With no chunk beyond the
 * first, reset is O(1) (plus poisoning in debug builds).
 *
 * Debug builds poison released bytes (ASan manual poisoning, else a fill of
 * URT_POISON_ARENA = 0xdd), so a read of frame memory after reset is caught.
 * Context: one thread at a time.
 */
#ifndef URT_ARENA_H
#define URT_ARENA_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "urt/allocator.h"

#ifdef __cplusplus
extern "C" {
#endif

#define URT_ARENA_ALIGN_MAX	4096
#define URT_ARENA_CHUNK_DEFAULT ((size_t)64 * 1024)

struct urt_arena_opts {
	size_t chunk_size; /* first chunk and minimum growth; 0: 64 KiB */
	size_t cap;	   /* max bytes of chunks held at once; 0: 16 x chunk_size */
	const struct urt_allocator *allocator; /* NULL: urt_allocator_default */
};

struct urt_arena_chunk {
	struct urt_arena_chunk *prev; /* older chunk of this frame, NULL for first */
	size_t size;		      /* usable bytes, starting at data */
				      /* 16-byte aligned data follows the 16-byte header */
};

struct urt_arena {
	char *cur;		       /* next free byte of head */
	char *end;		       /* end of head's data */
	struct urt_arena_chunk *head;  /* chunk being bumped (newest) */
	struct urt_arena_chunk *first; /* kept across resets */
	struct urt_arena_chunk *spare; /* kept across resets, not in use, or NULL */
	size_t chunk_size;	       /* minimum size of a new chunk */
	size_t cap;		       /* max held */
	size_t held;		       /* chunk bytes held (first + chain + spare) */
	size_t used_prev;	       /* bytes used in chunks older than head */
	size_t high_water;	       /* max used, updated at reset and stats */
	size_t chunks;		       /* chunks held, spare included */
	uint64_t epoch;		       /* bumped at every reset */
	bool in_frame;		       /* between frame_begin and frame_end */
	bool checked;		       /* debug build: every alloc takes the slow path */
	struct urt_allocator al;
};

/* A saved position; rewinding to it releases everything allocated since. */
struct urt_arena_mark {
	struct urt_arena_chunk *chunk;
	char *cur;
	size_t used_prev;
	uint64_t epoch;
};

struct urt_arena_stats {
	size_t used;	   /* bytes handed out since the last reset (with padding) */
	size_t high_water; /* max used over the arena's life */
	size_t held;	   /* bytes of chunks held from the backing allocator */
	size_t chunks;	   /* chunks held, spare included */
	uint64_t resets;   /* = epoch: resets so far */
};

/*
 * urt_arena_init - allocate the first chunk.
 * Return: 0; -EINVAL if cap < chunk_size; -ENOMEM if the backing allocator
 * failed (nothing is held then).
 */
URT_NODISCARD int urt_arena_init(struct urt_arena *a, const struct urt_arena_opts *opts);

/* urt_arena_deinit - free every chunk. */
void urt_arena_deinit(struct urt_arena *a);

void *urt__arena_alloc_slow(struct urt_arena *a, size_t size, size_t align);

/*
 * urt_arena_alloc - size bytes aligned to align (a power of two <= 4096),
 * by address, valid until the next reset or a rewind past it.
 * Return: the block; NULL if align is invalid or the request would take the
 * arena past its cap (or the backing allocator failed). Never misaligned.
 */
static inline void *urt_arena_alloc(struct urt_arena *a, size_t size, size_t align)
{
	uintptr_t p = ((uintptr_t)a->cur + align - 1) & ~(uintptr_t)(align - 1);
	uintptr_t end = (uintptr_t)a->end;

	if (__builtin_expect(!a->checked && align - 1 < URT_ARENA_ALIGN_MAX &&
				     !(align & (align - 1)) && p <= end && size <= end - p,
			     1)) {
		a->cur = (char *)(p + size);
		return (void *)p;
	}
	return urt__arena_alloc_slow(a, size, align);
}

/*
 * urt_arena_reset - release everything; O(1) unless the frame chained
 * chunks (see the reset policy above). Bumps the epoch.
 */
void urt_arena_reset(struct urt_arena *a);

/* urt_arena_mark - the current position, for a later rewind. */
struct urt_arena_mark urt_arena_mark(const struct urt_arena *a);

/*
 * urt_arena_rewind - release everything allocated since the mark was taken.
 * Return: 0; -ESTALE if the arena was reset since (nothing is changed).
 */
URT_NODISCARD int urt_arena_rewind(struct urt_arena *a, const struct urt_arena_mark *m);

/* urt_arena_contains - whether ptr lies in a chunk in use this frame. */
bool urt_arena_contains(const struct urt_arena *a, const void *ptr);

/* urt_arena_epoch - how many resets so far; frame memory is tied to one. */
static inline uint64_t urt_arena_epoch(const struct urt_arena *a)
{
	return a->epoch;
}

void urt_arena_stats(const struct urt_arena *a, struct urt_arena_stats *st);

/*
 * urt_arena_frame_begin - open a frame (the runtime calls it at the start of
 * every tick).
 * Return: the frame's epoch; -EBUSY if a frame is already open.
 */
URT_NODISCARD static inline int64_t urt_arena_frame_begin(struct urt_arena *a)
{
	if (a->in_frame)
		return -EBUSY;
	a->in_frame = true;
	return (int64_t)(a->epoch & INT64_MAX);
}

/*
 * urt_arena_frame_end - close the frame and reset the arena; O(1) when the
 * frame allocated nothing (release builds).
 * Return: 0; -EINVAL if no frame is open (nothing is reset).
 */
static inline int urt_arena_frame_end(struct urt_arena *a)
{
	if (!a->in_frame)
		return -EINVAL;
	a->in_frame = false;
	if (!a->checked && a->head == a->first && a->cur == (char *)(a->first + 1)) {
		a->epoch++; /* nothing to release or poison */
		return 0;
	}
	urt_arena_reset(a);
	return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* URT_ARENA_H */
