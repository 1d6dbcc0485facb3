/* SPDX-License-Identifier: MIT */
/*
 * heap_count.h - a program that links heap_count.c has its C heap
 * interposed: malloc, calloc, realloc and the aligned forms forward to
 * glibc's __libc_* entry points and add one to heap_calls while
 * heap_counting is set. Not for sanitizer builds, which own malloc.
 */
#ifndef URT_HEAP_COUNT_H
#define URT_HEAP_COUNT_H

#include <stdbool.h>
#include <stddef.h>

extern size_t heap_calls;
extern bool heap_counting;

#endif
