/* SPDX-License-Identifier: MIT */
/*
 * allocator.c - the default backing allocator: the C library's heap.
 *
 * glibc's malloc already returns 16-byte aligned blocks on every supported
 * target, so only larger alignments go through aligned_alloc, whose size must
 * be a multiple of the alignment.
 */
#include "urt/allocator.h"

#include <stdlib.h>

#include "urt_debug.h"

static void *default_alloc(void *ctx, size_t size, size_t align)
{
	(void)ctx;
	if (align <= 16)
		return malloc(size);
	return aligned_alloc(align, urt__align_up(size, align));
}

static void default_free(void *ctx, void *ptr, size_t size, size_t align)
{
	(void)ctx, (void)size, (void)align;
	free(ptr);
}

const struct urt_allocator urt_allocator_default = {
	.ctx = NULL,
	.alloc = default_alloc,
	.free = default_free,
};
