/* SPDX-License-Identifier: MIT */
/*
 * fuzz_http.c - libFuzzer target for urt-http's request-head parser and
 * chunked-body decoder: any input, head after head (skipping each body,
 * by its length or decoded as chunked) as the server does, must never read
 * outside it; every field must lie inside the head; and a chunked body
 * decoded in two pieces, cut anywhere, must end where it ends whole.
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

/* The chunked body at buf[0, n): its length once whole, 0 if it is not,
 * -status; the same when it arrives in two pieces cut at every point. */
static long chunked(const char *buf, size_t n, const struct http_limits *lim)
{
	struct http_chunked ck = { 0 };
	long whole = http_chunked_eat(&ck, buf, n, lim);

	if (whole >= 0 && !http_chunked_done(&ck))
		whole = 0;
	for (size_t cut = 1; cut < n && cut < 64; cut++) {
		struct http_chunked c2 = { 0 };
		long a = http_chunked_eat(&c2, buf, cut, lim), got = a;

		if (a >= 0 && !http_chunked_done(&c2)) {
			long b = http_chunked_eat(&c2, buf + a, n - (size_t)a, lim);

			got = b < 0 ? b : http_chunked_done(&c2) ? a + b : 0;
		}
		if (got != whole)
			abort();
	}
	return whole;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct http_limits lim = { .max_head = 2048,
					 .max_line = 512,
					 .max_body = 4096,
					 .max_chunk_line = 64,
					 .max_chunk_ext = 256,
					 .max_trailer = 256 };
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
		if (r.chunked) {
			long whole = chunked(buf + pos, size - pos, &lim);

			if (whole <= 0)
				break;
			pos += (size_t)whole;
			continue;
		}
		pos += r.body < size - pos ? (size_t)r.body : size - pos;
	}
	return 0;
}
