/* SPDX-License-Identifier: MIT */
/* resp.c - the RESP2 request parser (see resp.h). */
#include "resp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

/* number_line's every case: found by memchr, a sign, 20 digits. */
static long number_line_any(const char *p, size_t n, int64_t *out)
{
	const char *cr = memchr(p, '\r', n);
	int64_t v = 0;
	bool neg = false;
	size_t i = 0;

	if (!cr)
		return n > 32 ? -1 : 0; /* no number is that long */
	if ((size_t)(cr - p) + 1 >= n)
		return 0; /* the \n has not come yet */
	if (cr[1] != '\n')
		return -1;
	if (p[0] == '-') {
		neg = true;
		i = 1;
	}
	if (p + i == cr || cr - p > 20)
		return -1;
	if (p[i] == '0' && (neg || p + i + 1 != cr))
		return -1; /* "01", "-0": redis's string2ll refuses them */
	for (; p + i < cr; i++) {
		if (p[i] < '0' || p[i] > '9' || v > (INT64_MAX - (p[i] - '0')) / 10)
			return -1; /* not a digit, or past int64 (a fuzzer found it) */
		v = v * 10 + (p[i] - '0');
	}
	*out = neg ? -v : v;
	return cr - p + 2;
}

/*
 * A decimal after a type byte, up to CRLF. Return: bytes up to and with the
 * CRLF; 0 if the line is not complete; -1 if it is not a number. A request
 * has one a header and one an argument: the usual one (a few digits, no
 * sign, no leading zero, its CRLF there) is read in one pass without the
 * memchr, which was most of the parse's time (docs/design.md, urt-kv);
 * anything else goes the whole way, so the results are the same.
 */
static inline long number_line(const char *p, size_t n, int64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < n && i < 18 && (unsigned char)(p[i] - '0') < 10) {
		v = v * 10 + (unsigned)(p[i] - '0');
		i++;
	}
	if (i && i + 1 < n && p[i] == '\r' && p[i + 1] == '\n' && (p[0] != '0' || i == 1)) {
		*out = (int64_t)v;
		return (long)i + 2;
	}
	return number_line_any(p, n, out);
}

static bool is_space(char c)
{
	return isspace((unsigned char)c);
}

/* The line's byte i, or the NUL that ends it (sdssplitargs reads a C string). */
static char at(const char *buf, size_t end, size_t i)
{
	return i < end ? buf[i] : '\0';
}

static int hex_val(char c)
{
	return c >= '0' && c <= '9'			? c - '0'
	       : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
							: -1;
}

/*
 * One token of an inline line, as redis's sdssplitargs reads it, unquoted
 * in place: its bytes are written from its own start, never past the byte
 * being read. Return: the
 * index past the token; 0 for unbalanced quotes.
 */
static size_t inline_token(char *buf, size_t end, size_t p, size_t *w_out)
{
	size_t w = p;
	bool inq = false, insq = false, done = false;

	while (!done) {
		char ch = at(buf, end, p);

		if (inq) {
			if (ch == '\\' && at(buf, end, p + 1) == 'x' &&
			    hex_val(at(buf, end, p + 2)) >= 0 &&
			    hex_val(at(buf, end, p + 3)) >= 0) {
				buf[w++] = (char)(hex_val(at(buf, end, p + 2)) * 16 +
						  hex_val(at(buf, end, p + 3)));
				p += 3;
			} else if (ch == '\\' && at(buf, end, p + 1)) {
				static const char from[] = "nrtba", to[] = "\n\r\t\b\a";
				const char *e = memchr(from, buf[++p], 5);

				buf[w++] = e ? to[e - from] : buf[p];
			} else if (ch == '"') {
				if (at(buf, end, p + 1) && !is_space(at(buf, end, p + 1)))
					return 0; /* a closing quote needs a space or the end after
						     it */
				done = true;
			} else if (!ch) {
				return 0;
			} else {
				buf[w++] = ch;
			}
		} else if (insq) {
			if (ch == '\\' && at(buf, end, p + 1) == '\'') {
				buf[w++] = buf[++p];
			} else if (ch == '\'') {
				if (at(buf, end, p + 1) && !is_space(at(buf, end, p + 1)))
					return 0;
				done = true;
			} else if (!ch) {
				return 0;
			} else {
				buf[w++] = ch;
			}
		} else if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' || !ch) {
			done = true; /* not \v or \f: they end no token, though skipped before one
				      */
		} else if (ch == '"' || ch == '\'') {
			inq = ch == '"'; /* a quote opens even inside a token: a"b" is ab */
			insq = ch == '\'';
		} else {
			buf[w++] = ch;
		}
		if (at(buf, end, p))
			p++;
	}
	*w_out = w;
	return p;
}

/*
 * An inline request: one line, found as redis finds it (strchr: a NUL
 * before the newline hides it, and the request waits for a newline that
 * never comes, until the line is too big), split by redis's rules:
 * white space between arguments, "double quotes" with \xHH \n \r \t \b \a
 * and \<any> escapes, 'single quotes' with \' only.
 */
static long parse_inline(char *buf, size_t n, const struct resp_limits *lim, struct resp_cmd *cmd,
			 const char **err)
{
	size_t end = cmd->resume.done, i = 0, line; /* bytes searched already: none has a newline */

	while (end < n && buf[end] != '\n' && buf[end])
		end++;
	if (end == n || !buf[end]) {
		if (n > lim->max_inline) {
			*err = "ERR Protocol error: too big inline request";
			return -1;
		}
		cmd->resume.done = end; /* the next call searches on from here */
		return 0;
	}
	line = end + 1;
	if (end && buf[end - 1] == '\r')
		end--;
	cmd->argc = 0;
	for (;;) {
		size_t s, w;

		while (i < end && is_space(buf[i]))
			i++;
		if (i == end)
			return (long)line;
		s = i;
		i = inline_token(buf, end, i, &w);
		if (!i) {
			*err = "ERR Protocol error: unbalanced quotes in request";
			return -1;
		}
		if (cmd->argc == lim->max_args) {
			*err = "ERR Protocol error: too many arguments";
			return -1;
		}
		cmd->argv[cmd->argc] = buf + s;
		cmd->len[cmd->argc++] = w - s;
	}
}

/* The bulk header at buf[used]: its length into *len. Return: the header's
 * bytes; 0 if incomplete; -1 after setting *err. */
static long bulk_header(const char *buf, size_t n, size_t used, const struct resp_limits *lim,
			int64_t *len, struct resp_cmd *cmd, const char **err)
{
	long k;

	if (buf[used] != '$') { /* redis names the byte it found */
		snprintf(cmd->err_buf, sizeof(cmd->err_buf),
			 "ERR Protocol error: expected '$', got '%c'", buf[used]);
		*err = cmd->err_buf;
		return -1;
	}
	k = number_line(buf + used + 1, n - used - 1, len);
	if (k < 0 || (k > 0 && (*len < 0 || (uint64_t)*len > lim->max_bulk))) {
		*err = "ERR Protocol error: invalid bulk length";
		return -1;
	}
	return k ? 1 + k : 0;
}

bool resp_peek_key(const char *buf, size_t n, const char **key, size_t *klen, size_t *req)
{
	int64_t count, len;
	size_t at;
	long k;

	*req = 0;
	if (n < 4 || buf[0] != '*' || (k = number_line(buf + 1, n - 1, &count)) <= 0 || count < 2)
		return false;
	at = 1 + (size_t)k;
	/* the command's name, the key, then (a short request) the rest */
	for (int64_t i = 0; i < (count <= 8 ? count : 2); i++) {
		if (at >= n || buf[at] != '$' ||
		    (k = number_line(buf + at + 1, n - at - 1, &len)) <= 0 || len < 0)
			return i > 1;
		at += 1 + (size_t)k;
		if ((uint64_t)len + 2 > n - at)
			return i > 1;
		if (i == 1) {
			*key = buf + at;
			*klen = (size_t)len;
		}
		at += (size_t)len + 2;
	}
	*req = count <= 8 ? at : 0;
	return true;
}

long resp_parse(char *buf, size_t n, const struct resp_limits *lim, struct resp_cmd *cmd,
		const char **err)
{
	struct resp_resume *r = &cmd->resume;
	int64_t count, len;
	size_t used, first;
	bool fresh;
	long k;

	r->need = n + 1;
	if (!n)
		return 0;
	if (buf[0] != '*') {
		k = parse_inline(buf, n, lim, cmd, err);
		if (k > 0)
			*r = (struct resp_resume){ 0 };
		return k;
	}
	k = number_line(buf + 1, n - 1, &count);
	if (k <= 0) {
		if (k < 0)
			*err = "ERR Protocol error: invalid multibulk length";
		return k;
	}
	if (count > (int64_t)lim->max_args) {
		*err = "ERR Protocol error: invalid multibulk length";
		return -1;
	}
	first = 1 + (size_t)k;
	fresh = !r->done;
	used = fresh ? first : r->done; /* where the last call stopped */
	for (int64_t a = r->args; a < count; a++) {
		if (used >= n || !(k = bulk_header(buf, n, used, lim, &len, cmd, err))) {
			r->done = used;
			r->args = (uint32_t)a;
			return 0;
		}
		if (k < 0)
			return -1;
		if (lim->max_request &&
		    (uint64_t)used + (uint64_t)k + (uint64_t)len + 2 > lim->max_request) {
			*err = "ERR Protocol error: request too big"; /* refused before its bytes
									 come */
			return -1;
		}
		if ((uint64_t)n - used - (uint64_t)k < (uint64_t)len + 2) {
			r->need =
				used + (size_t)k + (size_t)len + 2; /* a large bulk: wait for it */
			r->done = used;
			r->args = (uint32_t)a;
			return 0;
		}
		used += (size_t)k;
		if (buf[used + len] != '\r' || buf[used + len + 1] != '\n') {
			*err = "ERR Protocol error: bulk not followed by CRLF";
			return -1;
		}
		cmd->argv[a] = buf + used; /* read again below unless fresh */
		cmd->len[a] = (size_t)len;
		used += (size_t)len + 2;
	}
	/* complete and checked. A request parsed in one call has its arguments
	 * filled; one resumed has those of the earlier calls to find again
	 * (the bytes may have moved since): one pass over the headers */
	cmd->argc = fresh && count > 0 ? (uint32_t)count : 0;
	for (size_t at = first; !fresh && cmd->argc < (uint64_t)(count > 0 ? count : 0);) {
		k = bulk_header(buf, n, at, lim, &len, cmd, err);
		cmd->argv[cmd->argc] = buf + at + k;
		cmd->len[cmd->argc++] = (size_t)len;
		at += (size_t)k + (size_t)len + 2;
	}
	*r = (struct resp_resume){ 0 };
	return (long)used;
}
