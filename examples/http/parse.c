/* SPDX-License-Identifier: MIT */
/* parse.c - the HTTP/1.x request-head parser (see parse.h). */
#include "parse.h"

#include <string.h>
#include <strings.h>

#define T HTTP_TCHAR
#define R HTTP_REGNAME
#define I HTTP_IPLIT
const uint8_t http_cclass[256] = {
	['0' ... '9'] = T | R | I,
	['a' ... 'f'] = T | R | I,
	['g' ... 'u'] = T | R,
	['w' ... 'z'] = T | R,
	['A' ... 'F'] = T | R | I,
	['G' ... 'U'] = T | R,
	['W' ... 'Z'] = T | R,
	['v'] = T | R | I,
	['V'] = T | R | I,
	['!'] = T | R, ['#'] = T, ['$'] = T | R, ['%'] = T | R, ['&'] = T | R,
	['\''] = T | R, ['*'] = T | R, ['+'] = T | R, ['-'] = T | R, ['.'] = T | R | I,
	['^'] = T, ['_'] = T | R, ['`'] = T, ['|'] = T, ['~'] = T | R,
	['('] = R, [')'] = R, [','] = R, [';'] = R, ['='] = R,
	[':'] = I,
};
#undef T
#undef R
#undef I

static bool is_tchar(unsigned char c)
{
	return http_is(c, HTTP_TCHAR);
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
			if (!http_is((unsigned char)h.p[i], HTTP_IPLIT))
				return false;
		if (i == h.n || i == 1)
			return false;
		i++;
	} else {
		for (; i < h.n && h.p[i] != ':'; i++)
			if (!http_is((unsigned char)h.p[i], HTTP_REGNAME))
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

/*
 * The authority of an absolute-form target ("http://authority/path"),
 * which takes the place of Host (RFC 9112 3.2.2), is held to Host's
 * rules: host [":" port], never empty, and no userinfo (RFC 9110 4.2.4:
 * a sender MUST NOT send it, a recipient SHOULD treat it as an error).
 * Other targets pass.
 */
static bool absolute_authority_valid(struct slice tg)
{
	size_t a = 7;

	if (tg.n < 7 || strncasecmp(tg.p, "http://", 7))
		return true;
	while (a < tg.n && tg.p[a] != '/' && tg.p[a] != '?')
		a++;
	return host_valid((struct slice){ tg.p + 7, a - 7 });
}

/* A list field's line (RFC 9110 5.3: its lines are one list, in order):
 * the first value, stretched to the end of each later one (see
 * http_field_next). */
static void list_add(struct slice *s, struct slice v)
{
	if (!s->p)
		*s = v;
	else
		s->n = (size_t)(v.p + v.n - s->p);
}

bool http_field_next(struct slice *it, const char *name, struct slice *v)
{
	while (it->n) {
		const char *p = it->p, *eol = memchr(p, '\n', it->n), *colon;
		size_t len = eol ? (size_t)(eol - p) + 1 : it->n,
		       vlen = eol ? (size_t)(eol - p) : len;
		/* the first value begins after its name's colon, each later
		 * line just after a LF (the head before it is in the buffer) */
		bool line = p[-1] == '\n';

		it->p += len;
		it->n -= len;
		if (vlen && p[vlen - 1] == '\r')
			vlen--;
		colon = line ? memchr(p, ':', vlen) : NULL;
		if (!line) {
			*v = trim(p, vlen);
			return true;
		}
		if (colon && slice_is((struct slice){ p, (size_t)(colon - p) }, name)) {
			*v = trim(colon + 1, vlen - (size_t)(colon + 1 - p));
			return true;
		}
	}
	return false;
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

enum { TE_CHUNKED = 1, TE_OTHER = 2 };

/*
 * The codings of one Transfer-Encoding field, added to *te (fields of one
 * request form one list). Return: 0, or -400 if chunked is not the final
 * coding, comes twice (RFC 9112 6.3, 7: it MUST be applied once, last) or
 * the field is empty. A coding other than chunked is left for 501.
 */
static int te_codings(struct slice v, int *te)
{
	size_t i = 0;
	bool any = false;

	while (i <= v.n) {
		size_t s = i, e;

		while (i < v.n && v.p[i] != ',')
			i++;
		for (e = s; e < i && v.p[e] != ';';)
			e++;
		struct slice c = trim(v.p + s, e - s);

		i++;
		if (!c.n)
			continue; /* empty list elements are allowed (RFC 9110 5.6.1) */
		any = true;
		if (*te & TE_CHUNKED)
			return -400; /* a coding after chunked, or chunked again */
		*te |= slice_is(c, "chunked") ? TE_CHUNKED : TE_OTHER;
	}
	return any ? 0 : -400;
}

/*
 * Whether the request line at buf[0, n) is past max_line (without its
 * CRLF), seen before the head ends. Return: 0; -414 if a target made it
 * so; -501 a method longer than any known (RFC 9112 3: no space in the
 * first 64 bytes, all token); -400 a line that is neither.
 */
static int line_too_long(const char *buf, size_t n, const char *sp, const struct http_limits *lim)
{
	size_t look = n < lim->max_line + 2 ? n : lim->max_line + 2, len;
	const char *nl = memchr(buf, '\n', look);

	len = nl ? (size_t)(nl - buf) - (nl > buf && nl[-1] == '\r') : look;
	if (len <= lim->max_line)
		return 0;
	if (sp)
		return -414;
	for (size_t k = 0; k < 64 && k < n; k++)
		if (!is_tchar((unsigned char)buf[k]))
			return -400;
	return -501;
}

long http_parse(const char *buf, size_t n, const struct http_limits *lim, struct http_req *r)
{
	size_t end, i = 0, line, skipped;
	const char *sp;
	bool conn_close = false, conn_keep = false, have_len = false;
	int te = 0, st; /* te: a TE_* mask of what Transfer-Encoding named */

	if (!n)
		return 0;
	/* tolerate blank lines before a request (RFC 9112 2.2) */
	while (i < n && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	skipped = i;
	buf += i, n -= i;
	sp = memchr(buf, ' ', n < 64 ? n : 64);
	if ((st = line_too_long(buf, n, sp, lim)))
		return st;
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
	r->target = (struct slice){ buf + line, i - line };
	for (size_t k = 0; k < r->target.n; k++)
		if ((unsigned char)r->target.p[k] <= ' ' || r->target.p[k] == 0x7f)
			return -400;
	if (!absolute_authority_valid(r->target))
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
			if ((st = te_codings(value, &te)))
				return st;
		} else if (slice_is(name, "If-Modified-Since")) {
			r->ims = value;
		} else if (slice_is(name, "Expect")) {
			r->expect_100 |= slice_lists(value, "100-continue");
		} else if (slice_is(name, "If-None-Match")) {
			list_add(&r->inm, value);
		} else if (slice_is(name, "If-Match")) {
			list_add(&r->im, value);
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
	if (te) {
		/* RFC 9112 6.1: in 1.0 the framing is faulty; 6.3: with a
		 * Content-Length, two lengths that could disagree (smuggling) */
		if (r->minor == 0 || have_len)
			return -400;
		if (te & TE_OTHER)
			return -501;
		r->chunked = true;
	}
	if (r->body > lim->max_body)
		return -413;
	r->expect_100 &= r->minor == 1;
	r->keep_alive = r->minor == 1 ? !conn_close : conn_keep && !conn_close;
	return (long)(skipped + end);
}

/* --- chunked bodies (RFC 9112 7.1) -------------------------------------------- */

enum {
	CK_SIZE0,   /* the first hex digit of a chunk-size */
	CK_SIZE,    /* more digits, or BWS, ';' or CR */
	CK_EXT,	    /* BWS, then extensions (after a ';') up to CR */
	CK_LF,	    /* the LF of a chunk-size line */
	CK_DATA,    /* chunk data */
	CK_DATA_CR, /* the CRLF after chunk data */
	CK_DATA_LF,
	CK_TR_LINE, /* a trailer field's first byte, or the final CR */
	CK_TR_NAME, /* field-name up to ':' */
	CK_TR_VAL,  /* field-value up to CR */
	CK_TR_LF,   /* the LF of a trailer field */
	CK_END_LF,  /* the LF of the final CRLF */
	CK_DONE,
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A field-value or extension byte: anything but a control, HTAB aside. */
static bool is_vchar(unsigned char c)
{
	return (c >= ' ' && c != 0x7f) || c == '\t';
}

/* The framing byte c in the chunk-size line or the trailer. Return: 0, or -status. */
static int chunked_byte(struct http_chunked *ck, unsigned char c, const struct http_limits *lim)
{
	int h;

	switch (ck->state) {
	case CK_SIZE0:
	case CK_SIZE:
		if ((h = hexval((char)c)) >= 0) {
			if (++ck->line > lim->max_chunk_line)
				return -400;
			/* past max_body at once: no size can overflow */
			ck->left = ck->left * 16 + (uint64_t)h;
			if (ck->left > lim->max_body - ck->data)
				return -413;
			ck->state = CK_SIZE;
			return 0;
		}
		if (ck->state == CK_SIZE0)
			return -400; /* a size has at least one digit */
		ck->state = CK_EXT;
		/* fall through */
	case CK_EXT:
		if (c == '\r') {
			ck->state = CK_LF;
			return 0;
		}
		if (!is_vchar(c))
			return -400;
		if (c == ';')
			ck->semi = true;
		else if (!ck->semi && c != ' ' && c != '\t')
			return -400; /* after the size: BWS, then ';' */
		if (++ck->line > lim->max_chunk_line)
			return -400;
		if (ck->semi && ++ck->ext > lim->max_chunk_ext)
			return -413;
		return 0;
	case CK_LF:
		if (c != '\n')
			return -400;
		ck->data += ck->left;
		ck->state = ck->left ? CK_DATA : CK_TR_LINE;
		ck->line = 0;
		ck->semi = false;
		return 0;
	case CK_DATA_CR:
		ck->state = CK_DATA_LF;
		return c == '\r' ? 0 : -400;
	case CK_DATA_LF:
		ck->state = CK_SIZE0;
		return c == '\n' ? 0 : -400;
	}
	/* the trailer section: counted whole against max_trailer */
	if (++ck->line > lim->max_trailer)
		return -431;
	switch (ck->state) {
	case CK_TR_LINE:
		if (c == '\r') {
			ck->state = CK_END_LF;
			return 0;
		}
		if (!is_tchar(c))
			return -400; /* no name, or obs-fold */
		ck->state = CK_TR_NAME;
		return 0;
	case CK_TR_NAME:
		if (c == ':')
			ck->state = CK_TR_VAL;
		else if (!is_tchar(c))
			return -400;
		return 0;
	case CK_TR_VAL:
		if (c == '\r')
			ck->state = CK_TR_LF;
		else if (!is_vchar(c))
			return -400;
		return 0;
	case CK_TR_LF:
		ck->state = CK_TR_LINE;
		return c == '\n' ? 0 : -400;
	case CK_END_LF:
		ck->state = CK_DONE;
		return c == '\n' ? 0 : -400;
	}
	return -400;
}

long http_chunked_eat(struct http_chunked *ck, const char *buf, size_t n,
		      const struct http_limits *lim)
{
	size_t i = 0;
	int st;

	while (i < n && ck->state != CK_DONE) {
		if (ck->state == CK_DATA) {
			size_t take = ck->left < n - i ? (size_t)ck->left : n - i;

			i += take;
			ck->left -= take;
			if (!ck->left)
				ck->state = CK_DATA_CR;
			continue;
		}
		if ((st = chunked_byte(ck, (unsigned char)buf[i++], lim)))
			return st;
	}
	return (long)i;
}

bool http_chunked_done(const struct http_chunked *ck)
{
	return ck->state == CK_DONE;
}
