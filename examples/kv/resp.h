/* SPDX-License-Identifier: MIT */
/*
 * resp.h - a RESP2 request parser for urt-kv: multibulk arrays
 * (*N\r\n$len\r\n<bytes>\r\n...) and inline commands (words on one line).
 * Zero-copy: arguments are slices of the caller's buffer (an inline
 * argument in quotes is unescaped in place, so the buffer is writable).
 * No allocation. A multibulk request that has not fully arrived is not
 * parsed again from its start when more bytes come: the caller keeps the
 * resume point it is given and passes it back, so a request of a million
 * small arguments arriving in a thousand pieces costs its length, not a
 * thousand times it. An inline line (at most max_inline bytes while it
 * has no newline) is searched on from where the last search stopped
 * (redis searches it again from its start). A bulk that would take the
 * request past max_request is refused at its header.
 */
#ifndef URT_KV_RESP_H
#define URT_KV_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct resp_limits {
	uint32_t max_args;    /* arguments in one request (the cmd arrays' size) */
	uint64_t max_bulk;    /* bytes in one argument */
	uint32_t max_inline;  /* bytes in an inline request line */
	uint64_t max_request; /* bytes in one multibulk request, headers too; 0: no cap */
};

/* Where the parse of an incomplete request stopped. The caller keeps it
 * with the request's bytes, passes it back when more have come (the same
 * bytes from the request's start, wherever they now lie, more after them)
 * and zeroes it for a new request; resp_parse zeroes it when a request
 * is complete. */
struct resp_resume {
	size_t need;   /* after a 0: the request needs at least this many bytes */
	size_t done;   /* bytes of it checked already (0: none) */
	uint32_t args; /* whole arguments among them */
};

struct resp_cmd {
	uint32_t argc;
	const char **argv; /* max_args entries, the caller's */
	size_t *len;
	struct resp_resume resume; /* in: where to go on; out after a 0: where it stopped */
	char err_buf[48];	   /* a protocol error's text when it quotes the request */
};

/*
 * resp_parse - the first request in buf[0..n).
 * Return: > 0, the bytes it took, with cmd filled (argc may be 0 for an
 * empty inline line: skip it); 0 if the request is not complete yet, with
 * cmd->resume set: its need is the bytes the request needs before parsing
 * again can progress (a large bulk is not looked at again for every piece
 * of it that arrives);
 * -1 on a protocol error, with *err set to the reply's text (no "-", no
 * CRLF), after which the connection should be closed, as redis does.
 */
long resp_parse(char *buf, size_t n, const struct resp_limits *lim, struct resp_cmd *cmd,
		const char **err);

/*
 * resp_peek_key - where the second argument (a command's key) of the
 * multibulk request at buf[0..n) lies, if it has fully arrived, and the
 * request's length (*req: 0 unless it has at most 8 arguments, all
 * there): a look ahead, to prefetch the keys' slots and entries while the
 * requests before them run. It checks nothing that resp_parse must refuse
 * later: the bytes it points at may turn out not to be a key at all.
 * Return: true with *key, *klen, *req set; false (not multibulk, fewer than
 * two arguments, not all there yet, or malformed).
 */
bool resp_peek_key(const char *buf, size_t n, const char **key, size_t *klen, size_t *req);

#endif
