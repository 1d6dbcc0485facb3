/* SPDX-License-Identifier: MIT */
/* parse.c - the HTTP/1.x request-head parser (see parse.h). */
#include "parse.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

bool slice_is(struct slice s, const char *lit)
{
	return s.n == strlen(lit) && !strncasecmp(s.p, lit, s.n);
}

bool slice_eq(struct slice s, const char *lit)
{
	return s.n == strlen(lit) && !memcmp(s.p, lit, s.n);
}

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the head: the index just past "\r\n\r\n" (or "\n\n"); 0 if absent. */
size_t http_head_end(const char *buf, size_t n, size_t from)
{
	for (size_t i = from; i + 1 < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < n && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

bool http_head_ready(const char *buf, size_t n, size_t max_head, struct http_scan *s)
{
	size_t from;

	if (s->seen == s->lead) { /* only blank lines so far: skip more of them */
		while (s->lead < n && (buf[s->lead] == '\r' || buf[s->lead] == '\n'))
			s->lead++;
		s->seen = s->lead;
	}
	/* a blank line ends in the 2 bytes before seen at the most ("\n\r" of
	 * "\n\r\n"): look again from there, never from the start */
	from = s->seen >= s->lead + 2 ? s->seen - 2 : s->lead;
	if (n > s->lead && http_head_end(buf + s->lead, n - s->lead, from - s->lead))
		return true;
	/* a CR not before an LF: http_parse refuses it at once (a head whose
	 * lines end in bare CRs would otherwise never end, and be dropped
	 * silently at --head-ms instead of answered 400) */
	for (size_t k = s->seen > s->lead ? s->seen - 1 : s->lead; k + 1 < n; k++)
		if (buf[k] == '\r' && buf[k + 1] != '\n')
			return true;
	s->seen = n;
	return n > max_head;
}

static struct slice trim(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return (struct slice){ p, n };
}

/* Host = uri-host [ ":" port ] (RFC 9110 7.2; RFC 3986 3.2.2): an
 * IP-literal in brackets or a reg-name, never empty (RFC 9110 4.2.1). */
static bool host_valid(struct slice h)
{
	size_t i = 0;

	if (h.n && h.p[0] == '[') {
		while (++i < h.n && h.p[i] != ']')
			if (!isxdigit((unsigned char)h.p[i]) && !strchr(":.vV", h.p[i]))
				return false;
		if (i == h.n || i == 1)
			return false;
		i++;
	} else {
		for (; i < h.n && h.p[i] != ':'; i++)
			if (!isalnum((unsigned char)h.p[i]) && !strchr("-._~%!$&'()*+,;=", h.p[i]))
				return false;
		if (!i)
			return false;
	}
	if (i < h.n && h.p[i++] != ':')
		return false;
	for (; i < h.n; i++)
		if (h.p[i] < '0' || h.p[i] > '9')
			return false;
	return true;
}

bool slice_lists(struct slice v, const char *token)
{
	size_t i = 0;

	while (i < v.n) {
		size_t s = i;

		while (i < v.n && v.p[i] != ',')
			i++;
		if (slice_is(trim(v.p + s, i - s), token))
			return true;
		i++;
	}
	return false;
}

long http_parse(const char *buf, size_t n, const struct http_limits *lim, struct http_req *r)
{
	size_t end, i = 0, line, skipped;
	const char *sp;
	bool conn_close = false, conn_keep = false, have_len = false;

	if (!n)
		return 0;
	/* tolerate blank lines before a request (RFC 9112 2.2) */
	while (i < n && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	skipped = i;
	buf += i, n -= i;
	/* a target too long is 414, whether or not the head has ended */
	sp = memchr(buf, ' ', n < 64 ? n : 64);
	{
		if (sp) {
			size_t from = (size_t)(sp - buf) + 1, k = from;

			while (k < n && buf[k] != ' ' && buf[k] != '\n')
				k++;
			if (k - from > lim->max_target)
				return -414;
		}
	}
	/*
	 * Past max_head: 414 if the request line alone is too long (its target
	 * is what made it so), else 431. Decided on the line's end, not on
	 * where the bytes happened to be split between receives.
	 */
	end = http_head_end(buf, n, 0);
	if (!end) /* a bare CR before the end: 400 now (see http_head_ready) */
		for (const char *cr = memchr(buf, '\r', n); cr && cr + 1 < buf + n;
		     cr = memchr(cr + 1, '\r', (size_t)(buf + n - cr - 1)))
			if (cr[1] != '\n')
				return -400;
	if (!end && skipped + n <= lim->max_head)
		return 0;
	if (!end || skipped + end > lim->max_head) {
		const char *nl = memchr(buf, '\n', n < lim->max_head ? n : lim->max_head);

		return sp && !nl ? -414 : -431;
	}
	/* a CR not followed by LF: a field after it could be taken for a line or
	 * not (a server that stops at it would read what follows as a body) */
	for (const char *cr = memchr(buf - skipped, '\r', skipped + end); cr;
	     cr = memchr(cr + 1, '\r', (size_t)(buf + end - cr - 1)))
		if (cr[1] != '\n')
			return -400;
	memset(r, 0, sizeof(*r));
	/* request line: method SP target SP HTTP/1.x CRLF */
	for (i = 0; i < end && is_tchar((unsigned char)buf[i]); i++)
		;
	if (!i || buf[i] != ' ')
		return -400;
	r->method = (struct slice){ buf, i };
	line = ++i;
	while (i < end && buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n')
		i++;
	if (i == line || buf[i] != ' ')
		return -400;
	if (i - line > lim->max_target)
		return -414;
	r->target = (struct slice){ buf + line, i - line };
	for (size_t k = 0; k < r->target.n; k++)
		if ((unsigned char)r->target.p[k] <= ' ' || r->target.p[k] == 0x7f)
			return -400;
	i++;
	if (end - i < 8 || memcmp(buf + i, "HTTP/", 5))
		return -400;
	if (buf[i + 5] < '0' || buf[i + 5] > '9' || buf[i + 6] != '.' || buf[i + 7] < '0' ||
	    buf[i + 7] > '9')
		return -400;
	if (buf[i + 5] != '1')
		return -505;
	/* a higher minor version of HTTP/1 is answered as 1.1 (RFC 9110 2.5) */
	r->minor = buf[i + 7] > '1' ? 1 : buf[i + 7] - '0';
	i += 8;
	if (buf[i] == '\r')
		i++;
	if (buf[i] != '\n')
		return -400;
	i++;
	/* header fields: name ":" OWS value OWS CRLF */
	while (i < end) {
		size_t s = i, colon, e;
		struct slice name, value;

		if (buf[i] == '\r' || buf[i] == '\n')
			break; /* the blank line */
		while (i < end && is_tchar((unsigned char)buf[i]))
			i++;
		if (i == s || buf[i] != ':')
			return -400; /* no name, or a space before the colon */
		colon = i;
		e = colon;
		while (e < end && buf[e] != '\n')
			e++;
		name = (struct slice){ buf + s, colon - s };
		value = trim(buf + colon + 1, e - colon - 1 - (buf[e - 1] == '\r'));
		for (size_t k = 0; k < value.n; k++)
			if (((unsigned char)value.p[k] < ' ' && value.p[k] != '\t') ||
			    value.p[k] == 0x7f)
				return -400;
		if (slice_is(name, "Connection")) {
			conn_close |= slice_lists(value, "close");
			conn_keep |= slice_lists(value, "keep-alive");
		} else if (slice_is(name, "Content-Length")) {
			uint64_t v = 0;

			if (!value.n || have_len)
				return -400; /* a second one could disagree: refuse */
			for (size_t k = 0; k < value.n; k++) {
				if (value.p[k] < '0' || value.p[k] > '9' || v > UINT64_MAX / 10 - 1)
					return -400;
				v = v * 10 + (uint64_t)(value.p[k] - '0');
			}
			have_len = true;
			r->body = v;
		} else if (slice_is(name, "Transfer-Encoding")) {
			return -501; /* chunked request bodies are not supported */
		} else if (slice_is(name, "If-Modified-Since")) {
			r->ims = value;
		} else if (slice_is(name, "Expect")) {
			r->expect_100 |= slice_lists(value, "100-continue");
		} else if (slice_is(name, "If-None-Match")) {
			r->inm = value;
		} else if (slice_is(name, "If-Match")) {
			r->im = value;
		} else if (slice_is(name, "If-Unmodified-Since")) {
			r->ius = value;
		} else if (slice_is(name, "If-Range")) {
			r->if_range = value;
		} else if (slice_is(name, "Range")) {
			r->range = value;
		} else if (slice_is(name, "Host")) {
			if (r->host.p || !host_valid(value))
				return -400; /* RFC 9112 3.2: two Hosts, or a bad one */
			r->host = value;
		}
		i = e + 1;
	}
	if (r->minor == 1 && !r->host.p)
		return -400; /* HTTP/1.1 requires Host */
	if (r->body > lim->max_body)
		return -413;
	r->expect_100 &= r->minor == 1;
	r->keep_alive = r->minor == 1 ? !conn_close : conn_keep && !conn_close;
	return (long)(skipped + end);
}
