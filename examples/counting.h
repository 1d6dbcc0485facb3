/* SPDX-License-Identifier: MIT */
/*
 * counting.h - a backing allocator for urt_runtime_opts.allocator that
 * counts the runtime's calls and the bytes it holds, for the example
 * programs' "heap calls" figures. Any thread may read the counters.
 * Header-only; each program includes it once.
 *
 * Tracing: with URT_HEAP_TRACE=N in the environment, every call after a
 * counter's Nth writes one line (the call's number, alloc or free, the
 * size, the CLOCK_MONOTONIC time) and its backtrace to stderr, so a heap
 * call in a benchmark's steady-state window can be named: the window's
 * calls are those numbered above the stats line's heap_calls at its start
 * (URT_HEAP_TRACE=0 traces them all). Frames are printed as
 * binary(+offset); `addr2line -f -i -e BINARY OFFSET` names them. Off (one
 * predicted branch) when the variable is unset.
 */
#ifndef URT_EXAMPLES_COUNTING_H
#define URT_EXAMPLES_COUNTING_H

#include <execinfo.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <urt/allocator.h>

struct counting {
	struct urt_allocator al; /* give &c->al to the runtime */
	atomic_size_t calls;	 /* alloc and free calls */
	atomic_size_t bytes;	 /* asked for and not given back */
	size_t trace_after; /* URT_HEAP_TRACE: trace the calls after this many; SIZE_MAX: off */
};

/* Call n (1-based) of c, if tracing is on and n is past the mark: its line
 * and backtrace to stderr (write(2), no stdio buffer: the program may be
 * stopped by a signal at any time). */
static inline void counting_trace(const struct counting *c, size_t n, const char *what, size_t size)
{
	void *frames[32];
	char line[128];
	struct timespec ts;
	int len, depth;

	if (__builtin_expect(n <= c->trace_after, 1))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	len = snprintf(line, sizeof(line), "heap call %zu: %s %zu at %lld.%03ld s\n", n, what, size,
		       (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	if (write(STDERR_FILENO, line, (size_t)len) < 0)
		return;
	depth = backtrace(frames, 32);
	backtrace_symbols_fd(frames, depth, STDERR_FILENO);
}

static inline void *counting_alloc(void *ctx, size_t size, size_t align)
{
	struct counting *c = (struct counting *)ctx;
	size_t n = atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed) + 1;

	counting_trace(c, n, "alloc", size);
	atomic_fetch_add_explicit(&c->bytes, size, memory_order_relaxed);
	return aligned_alloc(align < sizeof(void *) ? sizeof(void *) : align,
			     (size + align - 1) / align * align);
}

static inline void counting_free(void *ctx, void *p, size_t size, size_t align)
{
	struct counting *c = (struct counting *)ctx;
	size_t n = atomic_fetch_add_explicit(&c->calls, 1, memory_order_relaxed) + 1;

	(void)align;
	counting_trace(c, n, "free", size);
	atomic_fetch_sub_explicit(&c->bytes, size, memory_order_relaxed);
	free(p);
}

static inline void counting_init(struct counting *c)
{
	const char *trace = getenv("URT_HEAP_TRACE");

	c->al = (struct urt_allocator){ .ctx = c, .alloc = counting_alloc, .free = counting_free };
	atomic_store(&c->calls, 0);
	atomic_store(&c->bytes, 0);
	c->trace_after = trace ? strtoull(trace, NULL, 10) : SIZE_MAX;
}

#endif
