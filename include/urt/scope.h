/* SPDX-License-Identifier: MIT */
/*
 * urt/scope.h - allocation scopes: every block allocated through a scope is
 * freed when the scope is reset or deinitialised: task-scoped memory, the
 * C counterpart of the task allocators of Rust's framealloc crate. The
 * executor gives each task one.
 *
 * Blocks come from a size-class pool (struct urt_sizeclass) and carry a
 * 32-byte header linking them into the scope. A freed block of up to 4 KiB
 * stays in its class's pool; one of up to 64 KiB (the top class has room
 * for the header) is kept for the next alloc of its class while the big
 * classes keep at most their cache_max (pool.h), so a buffer grown and
 * freed at every request costs no heap call once warm; past that, and
 * above 64 KiB, it goes back to the backing allocator. The header is there so that:
 *  - urt_scope_free frees one block early, O(1);
 *  - urt_scope_mark / urt_scope_rewind free, in one call, every block
 *    allocated since the mark that is still live (a batch inside a task);
 *  - urt_scope_reset frees all of them, O(live blocks).
 * Context: one thread at a time, the one using the size-class pool.
 */
#ifndef URT_SCOPE_H
#define URT_SCOPE_H

#include <stddef.h>
#include <stdint.h>

#include "urt/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

struct urt_scope_block {
	struct urt_scope_block *next; /* older block */
	struct urt_scope_block *prev; /* newer block */
	size_t size;		      /* bytes the caller asked for */
	uint64_t seq;		      /* allocation number within the scope */
				      /* caller bytes follow, 16-byte aligned */
};

struct urt_scope {
	struct urt_sizeclass *sc;     /* where blocks come from */
	struct urt_scope_block *head; /* newest live block */
	uint64_t seq;		      /* blocks ever allocated */
	size_t blocks;		      /* live blocks */
	size_t bytes;		      /* live bytes the caller asked for */
};

struct urt_scope_mark {
	uint64_t seq;
};

/* urt_scope_init - an empty scope drawing from sc. */
void urt_scope_init(struct urt_scope *s, struct urt_sizeclass *sc);

/*
 * urt_scope_alloc - size bytes, 16-byte aligned, owned by the scope.
 * Return: the block; NULL if the backing allocator failed (or size is so
 * large that the header would overflow it). The scope is unchanged then.
 */
void *urt_scope_alloc(struct urt_scope *s, size_t size);

/* urt_scope_free - free one block of this scope now. */
void urt_scope_free(struct urt_scope *s, void *ptr);

/* urt_scope_mark - the current position, for urt_scope_rewind. */
static inline struct urt_scope_mark urt_scope_mark(const struct urt_scope *s)
{
	struct urt_scope_mark m; /* no compound literal: the header is C++ too */

	m.seq = s->seq;
	return m;
}

/* urt_scope_rewind - free every live block allocated since the mark. */
void urt_scope_rewind(struct urt_scope *s, struct urt_scope_mark m);

/* urt_scope_reset - free every live block; the scope stays usable. */
void urt_scope_reset(struct urt_scope *s);

#ifdef __cplusplus
}
#endif

#endif /* URT_SCOPE_H */
