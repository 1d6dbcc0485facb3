/* SPDX-License-Identifier: MIT */
/*
 * resp.h - an incremental HTTP/1.x response reader, the client side of
 * parse.h (urt-load --mode http). It takes a connection's byte stream in
 * whatever pieces it arrives in and returns one response at a time:
 * status, Content-Length, whether the server closes after it, and whether
 * the body equals an expected one. Only responses framed by Content-Length
 * (or with no body by their status: 1xx, 204, 304) are understood; a
 * chunked one, or one that ends at the close, is refused, since a load
 * generator that cannot frame a response cannot go on with the stream.
 *
 * State: head (a head is arriving: what arrived so far, unless it is all in
 * one piece, is copied into the caller's head buffer) or body (left bytes
 * still to come, compared as they pass with expect[off..], or skipped
 * unseen). A body is never copied.
 */
#ifndef URT_HTTP_RESP_H
#define URT_HTTP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One response, filled when it has ended. */
struct http_resp {
	int status;	 /* 100 to 999 */
	uint64_t length; /* body bytes (Content-Length; 0 for 1xx, 204, 304) */
	bool close;	 /* the server ends the connection after it */
	bool body_ok;	 /* the body equals the reader's expect (true without one) */
};

struct http_resp_reader {
	const char *expect; /* the body every response must have; NULL: any */
	size_t expect_n;
	char *head;	 /* caller's buffer for a head split across pieces */
	size_t head_cap; /* its size: the longest head accepted */
	size_t head_n;	 /* bytes of a head held in it */
	bool in_body;	 /* past the head of cur */
	uint64_t left;	 /* body bytes of cur still to come */
	uint64_t off;	 /* body bytes of cur seen: off + left == cur.length */
	struct http_resp cur;
};

/*
 * http_resp_reader_init - a reader at the start of a stream; head (cap
 * bytes) and expect (expect_n bytes, or NULL) must outlive it. Also the
 * way to start again on a new connection, or after an error.
 */
void http_resp_reader_init(struct http_resp_reader *rd, char *head, size_t cap, const char *expect,
			   size_t expect_n);

/*
 * http_resp_feed - take the next n bytes of the stream, up to the end of
 * the response in progress (interim 1xx responses other than 101 are
 * skipped, as a client must).
 * Return: 1 when a response ended: *out holds it and *used says how many of
 * the n bytes it took (the rest begin the next one); 0 when all n were
 * taken (*used == n) and the response goes on; after a negative result the
 * stream cannot be framed (init the reader again for a new one):
 * -EBADMSG a malformed status line or header field, -EMSGSIZE a head longer
 * than head_cap, -ENOTSUP a response not framed by Content-Length
 * (chunked, none, 101 Switching Protocols).
 */
int http_resp_feed(struct http_resp_reader *rd, const char *buf, size_t n, size_t *used,
		   struct http_resp *out);

/*
 * http_resp_body_left - the body bytes of the response in progress still
 * to come; 0 while a head is arriving or between responses.
 */
uint64_t http_resp_body_left(const struct http_resp_reader *rd);

/*
 * http_resp_skip - n bytes of the body in progress went by unseen (a
 * receive with MSG_TRUNC: the kernel dropped them), 0 < n <=
 * http_resp_body_left(rd). They are not compared: with an expected body
 * the response's body_ok becomes false.
 * Return: 1 when the response ended (*out holds it); 0 while its body goes on.
 */
int http_resp_skip(struct http_resp_reader *rd, size_t n, struct http_resp *out);

#endif
