/* SPDX-License-Identifier: MIT */
/*
 * resp.h - a RESP2 request parser for urt-kv: multibulk arrays
 * (*N\r\n$len\r\n<bytes>\r\n...) and inline commands (words on one line).
 * Zero-copy: arguments are slices of the caller's buffer. No allocation,
 * no state between calls: a request that has not fully arrived is parsed
 * again from its start when more bytes come (requests are small; the
 * caller bounds how much it buffers).
 */
#ifndef URT_KV_RESP_H
#define URT_KV_RESP_H

#include <stddef.h>
#include <stdint.h>

struct resp_limits {
	uint32_t max_args;  /* arguments in one request (the cmd arrays' size) */
	uint64_t max_bulk;  /* bytes in one argument */
	uint32_t max_inline; /* bytes in an inline request line */
};

struct resp_cmd {
	uint32_t argc;
	const char **argv; /* max_args entries, the caller's */
	size_t *len;
	size_t need; /* after a 0: the request needs at least this many bytes */
};

/*
 * resp_parse - the first request in buf[0..n).
 * Return: > 0, the bytes it took, with cmd filled (argc may be 0 for an
 * empty inline line: skip it); 0 if the request is not complete yet, with
 * cmd->need set to the bytes it needs before parsing again can progress
 * (a large bulk is not parsed again for every piece of it that arrives);
 * -1 on a protocol error, with *err set to the reply's text (no "-", no
 * CRLF), after which the connection should be closed, as redis does.
 */
long resp_parse(const char *buf, size_t n, const struct resp_limits *lim, struct resp_cmd *cmd,
		const char **err);

#endif
