/* SPDX-License-Identifier: MIT */
/*
 * counting.h - a backing allocator for urt_runtime_opts.allocator that
 * counts the runtime's calls and the bytes it holds, for the example
 * programs' "heap calls" figures. Any thread may read the counters.
 * Header-only; each program includes it once.
 */
#ifndef URT_EXAMPLES_COUNTING_H
#define URT_EXAMPLES_COUNTING_H

#include <stdatomic.h>
#include <stdlib.h>

#include <urt/allocator.h>

struct counting {
	struct urt_allocator al; /* give &c->al to the runtime */
	atomic_size_t calls;	 /* alloc and free calls */
	atomic_size_t bytes;	 /* asked for and not given back */
};

static inline void *counting_alloc(void *ctx, size_t size, size_t align)
{
	struct counting *c = (struct counting *)ctx;

	atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->bytes, size, memory_order_relaxed);
	return aligned_alloc(align < sizeof(void *) ? sizeof(void *) : align,
			     (size + align - 1) / align * align);
}

static inline void counting_free(void *ctx, void *p, size_t size, size_t align)
{
	struct counting *c = (struct counting *)ctx;

	(void)align;
	atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&c->bytes, size, memory_order_relaxed);
	free(p);
}

static inline void counting_init(struct counting *c)
{
	c->al = (struct urt_allocator){ .ctx = c, .alloc = counting_alloc, .free = counting_free };
	atomic_store(&c->calls, 0);
	atomic_store(&c->bytes, 0);
}

#endif
