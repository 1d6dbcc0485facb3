/* SPDX-License-Identifier: MIT */
/*
 * fuzz_resp.c - libFuzzer target for urt-kv's RESP parser: any input, parsed
 * request after request as the server does, must never read outside it,
 * and every argument must lie inside the bytes a request took; so must
 * the key and the length resp_peek_key finds ahead of each request.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *argv[256];
	static size_t len[256];
	const struct resp_limits lim = { .max_args = 256, .max_bulk = 1 << 20, .max_inline = 1024 };
	char *buf = malloc(size ? size
				: 1); /* writable: quoted inline arguments are unescaped in place */
	size_t pos = 0;

	if (!buf)
		return 0;
	memcpy(buf, data, size);

	while (pos < size) {
		struct resp_cmd cmd = { .argv = argv, .len = len };
		const char *err, *key;
		size_t klen, req;
		long k;

		/* the look-ahead (run before the parse, as the server does):
		 * whatever it returns lies inside the bytes it was given */
		if (resp_peek_key(buf + pos, size - pos, &key, &klen, &req) &&
		    (key < buf + pos || klen > size - pos || key + klen > buf + size ||
		     req > size - pos))
			abort();
		k = resp_parse(buf + pos, size - pos, &lim, &cmd, &err);

		if (k <= 0)
			break;
		if ((size_t)k > size - pos)
			abort();
		for (uint32_t i = 0; i < cmd.argc; i++)
			if (argv[i] < buf + pos || argv[i] + len[i] > buf + pos + k)
				abort();
		pos += (size_t)k;
	}
	free(buf);
	return 0;
}
