/* SPDX-License-Identifier: MIT */
/*
 * hist.h - a log-linear latency histogram for the example programs: exact
 * below 64 ns, then 32 linear sub-buckets per power of two, so a percentile
 * is within about 3% with no per-sample storage (HDR-style). Header-only;
 * each program includes it once.
 */
#ifndef URT_EXAMPLES_HIST_H
#define URT_EXAMPLES_HIST_H

#include <stdint.h>
#include <string.h>

#define HIST_SUB_BITS 5 /* 32 sub-buckets per power of two */
#define HIST_BUCKETS  (64 + (40 - 6) * (1 << HIST_SUB_BITS))

struct hist {
	uint64_t n[HIST_BUCKETS];
	uint64_t total, max;
};

static inline unsigned hist_bucket(uint64_t ns)
{
	unsigned e;

	if (ns < 64)
		return (unsigned)ns;
	e = 63u - (unsigned)__builtin_clzll(ns); /* >= 6 */
	if (e >= 40)
		return HIST_BUCKETS - 1;
	return 64 + (e - 6) * (1u << HIST_SUB_BITS) +
	       (unsigned)((ns >> (e - HIST_SUB_BITS)) & ((1u << HIST_SUB_BITS) - 1));
}

/* The lower bound of bucket b, in ns. */
static inline uint64_t hist_floor(unsigned b)
{
	unsigned e, sub;

	if (b < 64)
		return b;
	e = (b - 64) / (1u << HIST_SUB_BITS) + 6;
	sub = (b - 64) % (1u << HIST_SUB_BITS);
	return (1ull << e) + ((uint64_t)sub << (e - HIST_SUB_BITS));
}

static inline void hist_add(struct hist *h, uint64_t ns)
{
	h->n[hist_bucket(ns)]++;
	h->total++;
	if (ns > h->max)
		h->max = ns;
}

static inline void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

/* The p-th quantile (0..1) in microseconds; 0 when empty. */
static inline double hist_us(const struct hist *h, double p)
{
	uint64_t want = (uint64_t)(p * (double)h->total + 0.5), seen = 0;

	if (!h->total)
		return 0;
	if (!want)
		want = 1;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += h->n[b];
		if (seen >= want)
			return (double)hist_floor(b) / 1000.0;
	}
	return (double)h->max / 1000.0;
}

#endif
