/* SPDX-License-Identifier: MIT */
/* resp.c - the incremental HTTP/1.x response reader (see resp.h). */
#include "resp.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "parse.h"

#define MAX_LENGTH (UINT64_C(1) << 62) /* a Content-Length past it is malformed */

void http_resp_reader_init(struct http_resp_reader *rd, char *head, size_t cap, const char *expect,
			   size_t expect_n)
{
	*rd = (struct http_resp_reader){
		.expect = expect, .expect_n = expect_n, .head = head, .head_cap = cap
	};
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}


static struct slice trim(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return (struct slice){ p, n };
}

/* "HTTP/1.x SSS reason": the status and the minor version; the index past its LF. */
static long status_line(const char *p, size_t n, int *status, int *minor)
{
	const char *nl = memchr(p, '\n', n);
	size_t i = 12;

	if (!nl || nl - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || !is_digit(p[7]) || p[8] != ' ' ||
	    !is_digit(p[9]) || !is_digit(p[10]) || !is_digit(p[11]) || p[9] == '0')
		return -EBADMSG;
	if (p + i != nl && p[i] != ' ' && p[i] != '\r')
		return -EBADMSG; /* a fourth digit */
	for (; p + i < nl; i++)
		if ((unsigned char)p[i] < ' ' && p[i] != '\t' && !(p[i] == '\r' && p + i + 1 == nl))
			return -EBADMSG;
	*minor = p[7] - '0';
	*status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	return nl - p + 1;
}

static int content_length(struct slice v, uint64_t *len)
{
	uint64_t x = 0;

	if (!v.n)
		return -EBADMSG;
	for (size_t k = 0; k < v.n; k++) {
		if (!is_digit(v.p[k]) || x > MAX_LENGTH / 10)
			return -EBADMSG;
		x = x * 10 + (uint64_t)(v.p[k] - '0');
	}
	if (x > MAX_LENGTH)
		return -EBADMSG;
	*len = x;
	return 0;
}

/* A whole head p[0..n) (through its blank line) into r; 0 or -errno as http_resp_feed. */
static int parse_head(const char *p, size_t n, struct http_resp *r)
{
	bool have_len = false, chunked = false, conn_close = false, conn_keep = false;
	long i = 0;
	int minor, ret;

	*r = (struct http_resp){ .body_ok = true };
	i = status_line(p, n, &r->status, &minor);
	if (i < 0)
		return (int)i;
	while ((size_t)i < n && p[i] != '\r' && p[i] != '\n') {
		const char *nl = memchr(p + i, '\n', n - (size_t)i);
		size_t s = (size_t)i, e = (size_t)(nl - p), colon = s;
		struct slice name, value;
		uint64_t len;

		while (colon < e && http_is((unsigned char)p[colon], HTTP_TCHAR))
			colon++;
		if (colon == s || p[colon] != ':')
			return -EBADMSG; /* no name, a space before the colon, a folded line */
		name = (struct slice){ p + s, colon - s };
		value = trim(p + colon + 1, e - colon - 1 - (p[e - 1] == '\r'));
		for (size_t k = 0; k < value.n; k++)
			if (((unsigned char)value.p[k] < ' ' && value.p[k] != '\t') ||
			    value.p[k] == 0x7f)
				return -EBADMSG;
		if (slice_is(name, "Content-Length")) {
			ret = content_length(value, &len);
			if (ret || (have_len && len != r->length))
				return -EBADMSG; /* two that disagree: no framing to trust */
			have_len = true;
			r->length = len;
		} else if (slice_is(name, "Transfer-Encoding")) {
			chunked = true; /* it overrides any Content-Length */
		} else if (slice_is(name, "Connection")) {
			conn_close |= slice_lists(value, "close");
			conn_keep |= slice_lists(value, "keep-alive");
		}
		i = (long)e + 1;
	}
	if ((size_t)i >= n || !((p[i] == '\n' && (size_t)i + 1 == n) ||
				(p[i] == '\r' && (size_t)i + 2 == n && p[i + 1] == '\n')))
		return -EBADMSG; /* a stray CR where a field should start */
	r->close = minor ? conn_close : !conn_keep || conn_close;
	if (r->status == 101)
		return -ENOTSUP;
	if (r->status < 200 || r->status == 204 || r->status == 304) {
		r->length = 0; /* no body, whatever the fields say (RFC 9112 6.3) */
		return 0;
	}
	return chunked || !have_len ? -ENOTSUP : 0;
}

/* A head has ended at p[0..n): start its body (perhaps of 0 bytes). 0, or 1 for an
 * interim 1xx to skip; -errno. */
static int head_done(struct http_resp_reader *rd, const char *p, size_t n)
{
	int ret = parse_head(p, n, &rd->cur);

	rd->head_n = 0;
	if (ret)
		return ret;
	if (rd->cur.status < 200)
		return 1;
	if (rd->expect && rd->cur.length != rd->expect_n)
		rd->cur.body_ok = false;
	rd->in_body = true;
	rd->left = rd->cur.length;
	rd->off = 0;
	return 0;
}

/*
 * Take head bytes from buf[0..n): parsed in place when a whole head is there and none was
 * held, else gathered in rd->head. *used: the bytes taken. As head_done once the head has
 * ended (rd->in_body); 0 while it goes on.
 */
static int feed_head(struct http_resp_reader *rd, const char *buf, size_t n, size_t *used)
{
	size_t end, k, from;

	if (!rd->head_n) {
		end = http_head_end(buf, n, 0);
		if (end) {
			if (end > rd->head_cap)
				return -EMSGSIZE;
			*used = end;
			return head_done(rd, buf, end);
		}
	}
	from = rd->head_n < 3 ? 0 : rd->head_n - 3;
	k = rd->head_cap - rd->head_n < n ? rd->head_cap - rd->head_n : n;
	memcpy(rd->head + rd->head_n, buf, k);
	end = http_head_end(rd->head, rd->head_n + k, from);
	if (end) {
		*used = end - rd->head_n;
		return head_done(rd, rd->head, end);
	}
	rd->head_n += k;
	*used = k;
	return rd->head_n == rd->head_cap ? -EMSGSIZE : 0;
}

/* k more body bytes of cur went by: 1 and *out if they ended it, else 0. */
static int body_took(struct http_resp_reader *rd, size_t k, struct http_resp *out)
{
	rd->off += k;
	rd->left -= k;
	if (rd->left)
		return 0;
	rd->in_body = false;
	*out = rd->cur;
	return 1;
}

int http_resp_feed(struct http_resp_reader *rd, const char *buf, size_t n, size_t *used,
		   struct http_resp *out)
{
	size_t at = 0, k;
	int ret;

	while (!rd->in_body) { /* more than once only past interim 1xx heads */
		if (at == n) {
			*used = n;
			return 0;
		}
		ret = feed_head(rd, buf + at, n - at, &k);
		if (ret < 0)
			return ret;
		at += k;
		if (!ret && !rd->in_body) { /* the head goes on: feed_head took every byte */
			*used = at;
			return 0;
		}
	}
	k = rd->left < n - at ? (size_t)rd->left : n - at;
	if (rd->cur.body_ok && rd->expect && memcmp(buf + at, rd->expect + rd->off, k) != 0)
		rd->cur.body_ok = false;
	*used = at + k;
	return body_took(rd, k, out);
}

uint64_t http_resp_body_left(const struct http_resp_reader *rd)
{
	return rd->in_body ? rd->left : 0;
}

int http_resp_skip(struct http_resp_reader *rd, size_t n, struct http_resp *out)
{
	assert(rd->in_body && n && n <= rd->left);
	if (rd->expect)
		rd->cur.body_ok = false; /* not seen: not vouched for */
	return body_took(rd, n, out);
}
