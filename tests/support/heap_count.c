/* SPDX-License-Identifier: MIT */
#include "heap_count.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

size_t heap_calls;
bool heap_counting;

void *malloc(size_t size)
{
	heap_calls += heap_counting;
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	heap_calls += heap_counting;
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	heap_calls += heap_counting;
	return __libc_realloc(p, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	heap_calls += heap_counting;
	return __libc_memalign(align, size);
}

void *memalign(size_t align, size_t size)
{
	heap_calls += heap_counting;
	return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	heap_calls += heap_counting;
	*out = __libc_memalign(align, size);
	return *out ? 0 : ENOMEM;
}

void free(void *p)
{
	__libc_free(p);
}
