/* SPDX-License-Identifier: MIT */
/*
 * urt_debug.h - the one place that knows about sanitizers and debug builds.
 * Internal to urt (not installed); every layer includes it.
 *
 * URT_DEBUG (set by CMake unless Release) turns on contract assertions and
 * memory poisoning. Poisoning means:
 *   - under AddressSanitizer: ASAN_POISON_MEMORY_REGION, so any access to a
 *     released byte is reported as use-after-poison;
 *   - without it, in debug builds: the bytes are filled with a named pattern,
 *     so a stale read returns a recognisable value.
 *   - in release builds: nothing.
 * Unpoisoning is the inverse and never fills.
 */
#ifndef URT_DEBUG_H
#define URT_DEBUG_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define URT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define URT_ASAN 1
#endif
#endif

#ifdef URT_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Fill patterns for released memory in debug builds without ASan. */
#define URT_POISON_ARENA 0xdd /* frame arena bytes after reset/rewind */
#define URT_POISON_SLOT	 0xde /* vacant slab slot, past its freelist link */
#define URT_POISON_POOL	 0xdf /* free pool object, past its freelist link */

#define URT_HIDDEN	__attribute__((visibility("hidden")))
#define URT_LIKELY(x)	__builtin_expect(!!(x), 1)
#define URT_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * Contract assertion: a broken invariant or a caller breaking a documented
 * contract (double free, foreign pointer). Active in debug builds only; the
 * message names the check so a test can match it.
 */
#ifdef URT_DEBUG
#define URT_ASSERT(cond, what)                                                                     \
	do {                                                                                       \
		if (URT_UNLIKELY(!(cond))) {                                                       \
			fprintf(stderr, "urt: contract violated: %s (%s:%d)\n", what, __FILE__,    \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
#else
#define URT_ASSERT(cond, what) ((void)0)
#endif

static inline void urt__poison(void *p, size_t n, int pattern)
{
#if defined(URT_ASAN)
	(void)pattern;
	ASAN_POISON_MEMORY_REGION(p, n);
#elif defined(URT_DEBUG)
	memset(p, pattern, n);
#else
	(void)p, (void)n, (void)pattern;
#endif
}

static inline void urt__unpoison(void *p, size_t n)
{
#if defined(URT_ASAN)
	ASAN_UNPOISON_MEMORY_REGION(p, n);
#else
	(void)p, (void)n;
#endif
}

static inline int urt__is_pow2(size_t x)
{
	return x && !(x & (x - 1));
}

static inline size_t urt__align_up(size_t x, size_t align)
{
	return (x + align - 1) & ~(align - 1);
}

#endif /* URT_DEBUG_H */
