/* SPDX-License-Identifier: MIT */
/*
 * bench_util.h - timing helpers shared by the benchmarks: TSC cycles,
 * monotonic nanoseconds, percentiles.
 */
#ifndef URT_BENCH_UTIL_H
#define URT_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
/* TSC (constant-rate reference) cycles, fenced so earlier work is done. */
static inline uint64_t cycles(void)
{
	_mm_lfence();
	return __rdtsc();
}
#else
static inline uint64_t cycles(void)
{
	return 0;
}
#endif

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* 16 * at bytes of no-ops (at 0-3, a constant) here, to move the loop
 * after it within its 64-byte line of code: bench_mem's and bench_io's
 * four copies of a loop, one at each offset a 16-byte-aligned loop can
 * take in a line. */
static inline __attribute__((always_inline)) void bench_pad(int at)
{
	if (at == 1)
		__asm__ volatile(".nops 16");
	else if (at == 2)
		__asm__ volatile(".nops 32");
	else if (at == 3)
		__asm__ volatile(".nops 48");
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile of v[0..n) (sorts v). */
static inline double pct(double *v, int n, int p)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return v[(n - 1) * p / 100];
}

#endif
