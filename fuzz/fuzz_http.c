/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http.c - libFuzzer target for urt-http's request-head parser: any
 * input, head after head (skipping each declared body) as the server does,
 * must never read outside it, and every field must lie inside the head.
 */
#include <stdint.h>
#include <stdlib.h>

#include "http/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(struct slice s, const char *lo, const char *hi)
{
	if (s.p && (s.p < lo || s.p + s.n > hi))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct http_limits lim = { .max_head = 2048, .max_target = 512, .max_body = 4096 };
	const char *buf = (const char *)data;
	size_t pos = 0;

	while (pos < size) {
		struct http_req r;
		long k = http_parse(buf + pos, size - pos, &lim, &r);

		if (k <= 0)
			break;
		if ((size_t)k > size - pos)
			abort();
		inside(r.method, buf + pos, buf + pos + k);
		inside(r.target, buf + pos, buf + pos + k);
		inside(r.range, buf + pos, buf + pos + k);
		inside(r.ims, buf + pos, buf + pos + k);
		inside(r.host, buf + pos, buf + pos + k);
		pos += (size_t)k;
		pos += r.body < size - pos ? (size_t)r.body : size - pos;
	}
	return 0;
}
