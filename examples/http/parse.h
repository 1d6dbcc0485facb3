/* SPDX-License-Identifier: MIT */
/*
 * parse.h - the HTTP/1.x request-head parser of urt-http. Zero-copy: the
 * fields are slices of the caller's buffer. http_parse keeps no state
 * between calls; a server receiving a head in pieces asks http_head_ready
 * first, which remembers where its last look stopped, so the bytes of a
 * head are looked at a bounded number of times however they are split
 * (parsing the whole buffer on every receive would be quadratic), and
 * calls http_parse once, when the head has ended or is too large.
 */
#ifndef URT_HTTP_PARSE_H
#define URT_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

struct http_limits {
	size_t max_head;	/* request line + headers (431 past it) */
	size_t max_line;	/* request line, without its CRLF (414 past it) */
	uint64_t max_body;	/* Content-Length, or a chunked body's data (413) */
	size_t max_chunk_line;	/* one chunk-size line: size and extensions (400) */
	uint64_t max_chunk_ext; /* a chunked body's extensions together (413) */
	size_t max_trailer;	/* a chunked body's trailer section (431) */
};

/* urt-http's defaults (its flags'), where a server starts from them: the
 * simulation's scenario and the tests that run the server's source */
#define HTTP_LIMITS_DEFAULT                                                                        \
	{ .max_head = 16384,                                                                       \
	  .max_line = 8000,                                                                        \
	  .max_body = 1 << 20,                                                                     \
	  .max_chunk_line = 4096,                                                                  \
	  .max_chunk_ext = 16384,                                                                  \
	  .max_trailer = 8192 }

struct slice {
	const char *p;
	size_t n;
};

struct http_req {
	struct slice method, target, ims, range, host;
	struct slice inm, im, ius, if_range; /* If-None-Match, -Match, -Unmodified-Since, -Range;
					      * inm, im: all their lines (http_field_next) */
	int minor;			     /* HTTP/1.<minor>: 0 or 1 */
	bool keep_alive;		     /* after this request, by version and Connection */
	bool expect_100;		     /* Expect: 100-continue in 1.1 (1.0 MUST ignore it) */
	bool chunked;			     /* the body is chunked (http_chunked_eat finds its end) */
	uint64_t body;			     /* Content-Length (0 if none or chunked) */
};

/*
 * http_parse - the request head at the start of buf[0..n).
 * Return: > 0, the head's bytes (through the blank line), with r filled;
 * 0 if the head is not complete yet; -status for a request to refuse (400
 * malformed or a bare CR, one not followed by LF, anywhere in the head:
 * a field after it could be read two ways, the way of request smuggling;
 * 414 request line too long, 431 head too large, 413 body too large, 501
 * a method longer than any known or a transfer coding other than chunked,
 * 505 a version other than 1.x). Transfer-Encoding is refused with 400
 * beside a Content-Length, in HTTP/1.0 (RFC 9112 6.1: the framing is
 * faulty), or when chunked is not the final coding or comes twice (6.3).
 * The blank lines
 * tolerated before a request line (RFC 9112 2.2) count toward max_head
 * like any other byte held: a head of nothing but CRLFs is 431 too.
 */
long http_parse(const char *buf, size_t n, const struct http_limits *lim, struct http_req *r);

/* Character classes, a table each (a lookup per byte, not a strchr):
 * HTTP_TCHAR a token's (RFC 9110 5.6.2: field names, methods),
 * HTTP_REGNAME a reg-name's in a Host (RFC 3986 3.2.2: unreserved,
 * pct-encoded's '%', sub-delims), HTTP_IPLIT an IP-literal's within its
 * brackets (hex digits, ':', '.', and 'v' / 'V' of IPvFuture). */
enum { HTTP_TCHAR = 1, HTTP_REGNAME = 2, HTTP_IPLIT = 4 };
extern const uint8_t http_cclass[256];

static inline bool http_is(unsigned char c, unsigned cls)
{
	return http_cclass[c] & cls;
}

/* Case-insensitive comparison of a slice with a C string. */
static inline bool slice_is(struct slice s, const char *lit)
{
	return s.n == strlen(lit) && !strncasecmp(s.p, lit, s.n);
}

/* Exact (case-sensitive) comparison, as methods are compared (RFC 9110 9.1). */
static inline bool slice_eq(struct slice s, const char *lit)
{
	return s.n == strlen(lit) && !memcmp(s.p, lit, s.n);
}

/*
 * http_field_next - the values of a list field that came on several lines
 * (If-Match, If-None-Match: RFC 9110 5.3 makes them one list, in order).
 * http_parse gives such a field as its first value stretched to the end of
 * its last one; start *it as that slice: each call sets *v to the next
 * line's value (trimmed), skipping the other fields between. Return: false
 * when there is none left.
 */
bool http_field_next(struct slice *it, const char *name, struct slice *v);

/* Whether a comma-separated header value lists token, case-insensitively
 * (Connection: keep-alive, close). */
bool slice_lists(struct slice v, const char *token);

/* The end of a head in buf[0, n): the index just past its blank line
 * ("\r\n\r\n" or "\n\n"), searched from `from`; 0 if it has not arrived.
 * Requests and responses (resp.c) both end so. */
size_t http_head_end(const char *buf, size_t n, size_t from);

/* Where http_head_ready stopped looking at a head still arriving. */
struct http_scan {
	size_t lead; /* blank-line bytes (CR, LF) before the request line */
	size_t seen; /* bytes looked at: the next look starts near here */
};

/*
 * http_head_ready - whether the head at the start of buf[0, n) is ready
 * for http_parse: it has ended, or n is past max_head (http_parse then
 * refuses it). buf[0, s->seen) must be the bytes of the previous call;
 * zero *s for each new head. Each byte is looked at a bounded number of
 * times, however the head is split between calls.
 */
bool http_head_ready(const char *buf, size_t n, size_t max_head, struct http_scan *s);

/*
 * A chunked body (RFC 9112 7.1) read as it arrives, to be dropped: the
 * decoder keeps its place between calls, so nothing of the body need be
 * held. Zero it for each body. Lines end in CRLF only: a bare CR or LF
 * anywhere in the framing is 400 (a lone LF in a chunk extension is how
 * bodies are smuggled past a proxy that reads it otherwise).
 */
struct http_chunked {
	uint8_t state;
	bool semi;	  /* a ';' began the extensions of this line */
	size_t line;	  /* bytes of this chunk-size line (or trailer section) */
	uint64_t left;	  /* data bytes of this chunk still to come */
	uint64_t data;	  /* data bytes so far (max_body) */
	uint64_t ext;	  /* extension bytes so far (max_chunk_ext) */
};

/*
 * http_chunked_eat - take what of buf[0, n) belongs to the body.
 * Return: the bytes taken (all of n until the body ends: then
 * http_chunked_done is true and what follows is the next request), or
 * -status: 400 malformed or a chunk-size line past max_chunk_line, 413
 * data past max_body or extensions past max_chunk_ext, 431 a trailer
 * section past max_trailer.
 */
long http_chunked_eat(struct http_chunked *ck, const char *buf, size_t n,
		      const struct http_limits *lim);

bool http_chunked_done(const struct http_chunked *ck);

#endif
