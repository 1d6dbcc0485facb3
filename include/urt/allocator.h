/* SPDX-License-Identifier: MIT */
/*
 * urt/allocator.h - where every urt allocator gets its backing memory.
 *
 * Each allocator (arena, pool, size-class pool, slab) takes a struct
 * urt_allocator at init and asks it, and only it, for memory. There are no
 * global hooks: two objects can use two allocators in one process. Passing
 * NULL means urt_allocator_default (malloc / aligned_alloc).
 */
#ifndef URT_ALLOCATOR_H
#define URT_ALLOCATOR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * URT_NODISCARD marks a call whose result must be looked at (an error, a
 * count). To discard one on purpose, write URT_DISCARD(call): GCC's
 * warn_unused_result ignores a plain (void) cast, Clang's honours it;
 * "(void)!" satisfies both, with no branch and no temporary.
 */
#define URT_NODISCARD	   __attribute__((warn_unused_result))
#define URT_DISCARD(expr) ((void)!(expr))

struct urt_allocator {
	void *ctx; /* passed back to both calls */
	/* size > 0, align a power of two; NULL when out of memory */
	void *(*alloc)(void *ctx, size_t size, size_t align);
	/* ptr from alloc with the same size and align; never NULL */
	void (*free)(void *ctx, void *ptr, size_t size, size_t align);
};

/* malloc for align <= 16, aligned_alloc above; stateless. */
extern const struct urt_allocator urt_allocator_default;

#ifdef __cplusplus
}
#endif

#endif /* URT_ALLOCATOR_H */
