/* SPDX-License-Identifier: MIT */
/*
 * flags.h - command-line helpers the example servers share: a bad flag is
 * one line on stderr and exit status 2; numbers are whole decimals in a
 * range, sizes may end in k, m or g (powers of 1024). Header-only.
 */
#ifndef URT_EXAMPLES_FLAGS_H
#define URT_EXAMPLES_FLAGS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Print "PROG: MSG: ARG (see --help)". Return: 2, the exit status. */
static inline int flag_bad(const char *prog, const char *msg, const char *arg)
{
	fprintf(stderr, "%s: %s%s%s (see --help)\n", prog, msg, arg ? ": " : "", arg ? arg : "");
	return 2;
}

/* A size: digits, then k, m or g optionally. Return: whether it is one in [lo, hi]. */
static inline bool flag_size(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	if (*end == 'k' || *end == 'K')
		mul = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1024 * 1024, end++;
	else if (*end == 'g' || *end == 'G')
		mul = 1024ull * 1024 * 1024, end++;
	if (*end || v > hi / mul || v * mul < lo)
		return false;
	*out = v * mul;
	return true;
}

/* A whole decimal, no suffix. Return: whether it is one in [lo, hi]. */
static inline bool flag_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return flag_size(s, lo, hi, out);
}

#endif
