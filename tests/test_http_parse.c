/* SPDX-License-Identifier: MIT */
/*
 * test_http_parse.c - urt-http's request-head parser (examples/http/) on its
 * own: every truncation asks for more, pipelined heads come apart at the
 * right byte, keep-alive follows the version and Connection, each refusal
 * has its status (400, 413, 414, 431, 501, 505), and seeded garbage never
 * reads past the input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http/parse.h"
#include "support/test_support.h"

static const struct http_limits lim = { .max_head = 512,
					.max_line = 100,
					.max_body = 1000,
					.max_chunk_line = 16,
					.max_chunk_ext = 20,
					.max_trailer = 40 };

static long parse(const char *s, struct http_req *r)
{
	return http_parse(s, strlen(s), &lim, r);
}

static void test_every_truncation(void **state)
{
	static const char req[] = "GET /a/b?c=d HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\n"
				  "If-Modified-Since: Tue, 01 Dec 2026 00:00:00 GMT\r\n\r\n";
	struct http_req r;

	(void)state;
	for (size_t k = 0; k < sizeof(req) - 1; k++)
		assert_int_equal(http_parse(req, k, &lim, &r), 0);
	assert_int_equal(parse(req, &r), (long)sizeof(req) - 1);
	assert_true(slice_is(r.method, "GET"));
	assert_true(slice_is(r.target, "/a/b?c=d"));
	assert_true(slice_is(r.range, "bytes=1-2"));
	assert_true(slice_is(r.host, "x"));
	assert_int_equal(r.ims.n, 29);
	assert_int_equal(r.minor, 1);
	assert_true(r.keep_alive);
	assert_ptr_equal(r.target.p, req + 4); /* zero copy */
}

static void test_pipelined_and_body(void **state)
{
	static const char req[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
				  "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_req r;
	long a;

	(void)state;
	a = parse(req, &r);
	assert_int_equal(r.body, 5);
	assert_true(slice_is(r.method, "POST"));
	/* the caller skips the body, then the next head */
	assert_int_equal(http_parse(req + a + 5, strlen(req) - (size_t)a - 5, &lim, &r),
			 (long)strlen(req) - a - 5);
	assert_true(slice_is(r.method, "GET"));
}

static void test_keep_alive_rules(void **state)
{
	struct http_req r;

	(void)state;
	assert_true(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &r) > 0 && r.keep_alive);
	assert_true(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r) > 0 &&
		    !r.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0 && !r.keep_alive);
	assert_true(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0 &&
		    r.keep_alive);
	assert_true(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\n\r\n", &r) >
			    0 &&
		    !r.keep_alive);
	/* bare LF line ends are accepted, and blank lines before a request */
	assert_true(parse("\r\n\nGET / HTTP/1.0\n\n", &r) > 0);
}

static void expect_status(const char *req, long status)
{
	struct http_req r;
	long got = parse(req, &r);

	if (got != -status)
		fail_msg("'%s': %ld, want %ld", req, got, -status);
}

static void test_refusals(void **state)
{
	char big[700];

	(void)state;
	expect_status("GET /\r\n\r\n", 400);				/* no version */
	expect_status("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400);	/* two spaces */
	expect_status("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400);	/* not a token */
	expect_status("GET / HTTP/1.1\r\n\r\n", 400);			/* no Host */
	expect_status("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);	/* space before colon */
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nbad\r\n\r\n", 400); /* no colon */
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		      400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413);
	/* Transfer-Encoding: chunked, final and once; nothing else (RFC 9112 6.1, 6.3) */
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		      501);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		      400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		      "Transfer-Encoding: chunked\r\n\r\n",
		      400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
		      "Content-Length: 3\r\n\r\n",
		      400);
	expect_status("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
	{
		struct http_req r;

		assert_true(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , CHUNKED\r\n\r\n",
				  &r) > 0 &&
			    r.chunked && r.body == 0);
	}
	expect_status("GET / HTTP/2.0\r\n\r\n", 505);
	{
		struct http_req r;

		assert_true(parse("GET / HTTP/1.9\r\nHost: [::1]:80\r\n\r\n", &r) > 0 &&
			    r.minor == 1 && r.keep_alive);
		assert_true(parse("GET / HTTP/1.1\r\nHost: a.b-c:\r\n\r\n", &r) > 0);
	}
	expect_status("GET / HTTP/1.2\r\n\r\n", 400); /* a later 1.x is 1.1: Host needed */
	expect_status("GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400); /* one digit each side */
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nHost: x\r\n\r\n", 400); /* two Hosts */
	expect_status("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400);		    /* an empty Host */
	expect_status("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: a:x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\rHost: x\r\r", 400); /* bare CRs: the head never ends */
	expect_status("GET / HTTX/1.1\r\n\r\n", 400);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	memcpy(big + 100, " HTTP/1.1\r\n\r\n", 14);
	big[114] = 0;
	expect_status(big, 414); /* a 108-byte request line, past 100 */
	memset(big, 'A', sizeof(big));
	big[sizeof(big) - 1] = 0;
	expect_status(big, 501); /* no space in 64 bytes, all token: a method too long */
	big[10] = '@';
	expect_status(big, 400); /* not a method at all */
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'v', sizeof(big) - 20);
	big[sizeof(big) - 1] = 0;
	expect_status(big, 431); /* a head past 512 bytes, still without its end */
}

/*
 * max_head below max_line: a request line longer than max_head is 414
 * however the bytes were split between receives (a receive may stop
 * anywhere), and a long header past max_head is 431 at every split.
 */
static void test_status_ignores_split(void **state)
{
	static const struct http_limits small = { .max_head = 100, .max_line = 200 };
	char req[400];
	struct http_req r;
	size_t n;

	(void)state;
	memset(req, 'a', sizeof(req));
	memcpy(req, "GET /", 5);
	n = 5 + 150;
	memcpy(req + n, " HTTP/1.1\r\nHost: x\r\n\r\n", 22);
	n += 22;
	for (size_t k = 101; k <= n; k++)
		if (http_parse(req, k, &small, &r) != -414)
			fail_msg("a 150-byte target cut at %zu: %ld, want -414", k,
				 http_parse(req, k, &small, &r));
	memcpy(req, "GET / HTTP/1.1\r\nX: ", 19);
	memset(req + 19, 'v', 150);
	memcpy(req + 169, "\r\n\r\n", 4);
	for (size_t k = 101; k <= 173; k++)
		if (http_parse(req, k, &small, &r) != -431)
			fail_msg("a long header cut at %zu: %ld, want -431", k,
				 http_parse(req, k, &small, &r));
}

/*
 * Blank lines before a request line count toward max_head: a head of
 * nothing but CRLFs is refused once it holds more, not held forever.
 */
static void test_blank_line_flood(void **state)
{
	char buf[1200];
	struct http_req r;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i += 2)
		memcpy(buf + i, "\r\n", 2);
	assert_int_equal(http_parse(buf, 512, &lim, &r), 0);
	assert_int_equal(http_parse(buf, 514, &lim, &r), -431);
	assert_int_equal(http_parse(buf, sizeof(buf), &lim, &r), -431);
	/* and with a request behind them that would fit on its own */
	memcpy(buf + 500, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
	assert_int_equal(http_parse(buf, 527, &lim, &r), -431);
	assert_int_equal(http_parse(buf + 480, 47, &lim, &r), 47);
}

/*
 * A bare CR (not followed by LF) anywhere in a head is 400: a server that
 * took "\rContent-Length: 37" for the blank line would read the body
 * behind it as a second request (smuggling).
 */
static void test_bare_cr(void **state)
{
	(void)state;
	expect_status("GET / HTTP/1.1\r\nHost: x\r\n\rContent-Length: 37\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\rHost: x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\r\n\r\n", 400);
	expect_status("\r\rGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\n\r\r\n\r\n", 400);
}

/*
 * http_head_ready says "ready" at the byte that ends the head, however the
 * head is split (here: every split into two pieces, and byte by byte),
 * skips blank lines before it, and says "ready" past max_head for a head
 * that never ends, blank lines included.
 */
static void test_head_ready(void **state)
{
	static const char req[] = "\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\nX: \n\r\n";
	size_t n = sizeof(req) - 1;
	struct http_scan s;
	struct http_req r;
	char flood[1200];

	(void)state;
	for (size_t k = 0; k < n; k++) {
		s = (struct http_scan){ 0 };
		assert_false(http_head_ready(req, k, lim.max_head, &s));
		assert_true(http_head_ready(req, n, lim.max_head, &s));
	}
	s = (struct http_scan){ 0 };
	for (size_t k = 1; k <= n; k++)
		assert_int_equal(http_head_ready(req, k, lim.max_head, &s), k == n);
	assert_int_equal(s.lead, 4);
	assert_int_equal(http_parse(req, n, &lim, &r), (long)n);
	for (size_t i = 0; i < sizeof(flood); i += 2)
		memcpy(flood + i, "\r\n", 2);
	s = (struct http_scan){ 0 };
	for (size_t k = 1; k <= sizeof(flood); k++)
		if (http_head_ready(flood, k, lim.max_head, &s) != (k > lim.max_head))
			fail_msg("a flood of blank lines at %zu", k);
	assert_int_equal(http_parse(flood, sizeof(flood), &lim, &r), -431);
}

/* Feed body to a fresh decoder in pieces of `step` bytes (0: cut once at
 * every point). Return: the decoder's last result: bytes taken in all, or -status. */
static long chunked(const char *body, size_t step)
{
	size_t n = strlen(body), taken = 0;
	struct http_chunked ck = { 0 };

	while (taken < n && !http_chunked_done(&ck)) {
		size_t piece = step && step < n - taken ? step : n - taken;
		long k = http_chunked_eat(&ck, body + taken, piece, &lim);

		if (k < 0)
			return k;
		assert_true((size_t)k <= piece);
		if ((size_t)k < piece)
			assert_true(http_chunked_done(&ck)); /* it stops early only at the end */
		taken += (size_t)k;
	}
	return http_chunked_done(&ck) ? (long)taken : 0;
}

/*
 * A chunked body is found whole, however it is split: its end is the byte
 * after the trailer's blank line, and what follows is left for the next
 * request.
 */
static void test_chunked_splits(void **state)
{
	static const char body[] = "3;a=1;b=\"x\"\r\nabc\r\n1F\r\n0123456789abcdef0123456789abcde\r\n"
				   "0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\n";
	const long want = (long)strlen(body) - (long)strlen("GET / HTTP/1.1\r\n");
	size_t n = strlen(body);

	(void)state;
	for (size_t step = 1; step <= n; step++)
		if (chunked(body, step) != want)
			fail_msg("pieces of %zu: %ld, want %ld", step, chunked(body, step), want);
	for (size_t cut = 1; cut < n; cut++) { /* two pieces, cut anywhere */
		struct http_chunked ck = { 0 };
		long a = http_chunked_eat(&ck, body, cut, &lim), b = 0;

		if (a >= 0 && !http_chunked_done(&ck))
			b = http_chunked_eat(&ck, body + a, n - (size_t)a, &lim);
		if (a < 0 || b < 0 || a + b != want || !http_chunked_done(&ck))
			fail_msg("cut at %zu: %ld + %ld, want %ld", cut, a, b, want);
	}
	assert_int_equal(chunked("0\r\n\r\n", 1), 5);
	assert_int_equal(chunked("000\r\n\r\n", 0), 7);
	assert_int_equal(chunked("1 ;x\r\na\r\n0\r\n\r\n", 0), 14); /* BWS before ';' */
}

/* Every malformed chunk and every limit has its status, byte by byte too. */
static void test_chunked_refusals(void **state)
{
	static const struct {
		const char *body;
		long status;
	} cases[] = {
		{ "\r\n", -400 },			  /* no size */
		{ "g\r\n", -400 },			  /* not hex */
		{ "-1\r\n", -400 },
		{ "3\nabc\r\n0\r\n\r\n", -400 },	  /* LF alone ends no line */
		{ "3\rabc\r\n0\r\n\r\n", -400 },	  /* nor CR alone */
		{ "3 x\r\nabc\r\n0\r\n\r\n", -400 },	  /* after the size: BWS, then ';' */
		{ "3;a\nb\r\nabc\r\n0\r\n\r\n", -400 },	  /* LF in an extension: smuggling */
		{ "3;a\x01\r\nabc\r\n0\r\n\r\n", -400 }, /* a control in an extension */
		{ "3\r\nabcd\r\n0\r\n\r\n", -400 },	  /* data longer than its size */
		{ "3\r\nabc\n0\r\n\r\n", -400 },
		{ "0\r\nX-T 1\r\n\r\n", -400 },	  /* a trailer field without a colon */
		{ "0\r\n X: 1\r\n\r\n", -400 },	  /* obs-fold */
		{ "0\r\nX: 1\n\r\n", -400 },		  /* a bare LF in the trailer */
		{ "0\r\nX: 1\r\n\n", -400 },
		{ "0\r\nX: \x7f\r\n\r\n", -400 },
		{ "3E9\r\n", -413 },			  /* 1001 bytes, past max_body */
		{ "FFFFFFFFFFFFFFFFFFFF\r\n", -413 },	  /* no overflow: past max_body first */
		{ "258\r\n", 0 },			  /* 600: fine so far */
		{ "00000000000000001\r\na\r\n0\r\n\r\n", -400 }, /* a line past 16 bytes */
		{ "1;aaaaaaaaaa\r\na\r\n1;bbbbbbbbbb\r\nb\r\n0\r\n\r\n", -413 }, /* 22 ext bytes */
		{ "0\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n", -431 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (size_t step = 0; step <= 2; step++)
			if (chunked(cases[i].body, step) != cases[i].status)
				fail_msg("case %zu (pieces of %zu): %ld, want %ld", i, step,
					 chunked(cases[i].body, step), cases[i].status);
	/* data across chunks counts together: 600 + 401 is past 1000, 600 + 400 is not */
	{
		static char body[1200];
		int n = snprintf(body, sizeof(body), "258\r\n%0600d\r\n191\r\n", 0);

		assert_int_equal(chunked(body, 0), -413);
		n = snprintf(body, sizeof(body), "258\r\n%0600d\r\n190\r\n%0400d\r\n0\r\n\r\n", 0, 0);
		assert_int_equal(chunked(body, 7), n);
	}
}

static void test_garbage(void **state)
{
	struct test_rng rng = { test_seed("http garbage", 0x4771) };
	static char buf[700];

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)test_rng_below(&rng, sizeof(buf));
		static const char alphabet[] = "GET / HTTP/1.0\r\n:Host Content-Length 09";
		static const char chunks[] = "0123456789aF;= \t\r\n\r\nX:";
		const char *abc = round % 2 ? chunks : alphabet;
		size_t abc_n = round % 2 ? sizeof(chunks) - 1 : sizeof(alphabet) - 1;
		struct http_chunked ck = { 0 };
		struct http_req r;
		char *exact;
		long got;

		for (size_t i = 0; i < n; i++)
			buf[i] = test_rng_below(&rng, 8) ? abc[test_rng_below(&rng, abc_n)]
							 : (char)test_rng_next(&rng);
		/* an allocation of exactly n: ASan reports a read past its end */
		exact = test_malloc(n ? n : 1);
		memcpy(exact, buf, n);
		got = http_parse(exact, n, &lim, &r);
		assert_true(got <= (long)n);
		if (got > 0) {
			assert_true(r.method.p >= exact && r.method.p + r.method.n <= exact + got);
			assert_true(r.target.p >= exact && r.target.p + r.target.n <= exact + got);
		}
		got = http_chunked_eat(&ck, exact, n, &lim);
		assert_true(got <= (long)n);
		assert_true(got == (long)n || got < 0 || http_chunked_done(&ck));
		test_free(exact);
	}
}

/* An absolute-form target's authority takes Host's place (RFC 9112 3.2.2):
 * held to Host's rules, userinfo refused (RFC 9110 4.2.4). */
static void test_absolute_authority(void **state)
{
	struct http_req r;

	(void)state;
	assert_true(parse("GET http://x:80/a HTTP/1.1\r\nHost: y\r\n\r\n", &r) > 0);
	assert_true(parse("GET HTTP://[::1]?q HTTP/1.1\r\nHost: y\r\n\r\n", &r) > 0);
	assert_true(parse("GET /http://u@x HTTP/1.1\r\nHost: y\r\n\r\n", &r) > 0);
	expect_status("GET http://u@x/a HTTP/1.1\r\nHost: y\r\n\r\n", 400);
	expect_status("GET http://x:zz/a HTTP/1.1\r\nHost: y\r\n\r\n", 400);
	expect_status("GET http:///a HTTP/1.1\r\nHost: y\r\n\r\n", 400);
	expect_status("GET http://x#f HTTP/1.1\r\nHost: y\r\n\r\n", 400);
}

/* If-Match / If-None-Match on several lines: one list (RFC 9110 5.3),
 * walked line by line past the other fields between. */
static void test_list_lines(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nIf-None-Match:  \"a\" \r\nHost: x\r\n"
				  "X-If-None-Match: \"no\"\r\nif-none-match:\r\n"
				  "If-None-Match: \"b\", \"c\"\r\nIf-Match: \"m\"\r\n\r\n";
	struct http_req r;
	struct slice it, v;

	(void)state;
	assert_true(parse(req, &r) > 0);
	it = r.inm;
	assert_true(http_field_next(&it, "If-None-Match", &v) && slice_eq(v, "\"a\""));
	assert_true(http_field_next(&it, "If-None-Match", &v) && v.n == 0);
	assert_true(http_field_next(&it, "If-None-Match", &v) && slice_eq(v, "\"b\", \"c\""));
	assert_false(http_field_next(&it, "If-None-Match", &v));
	it = r.im;
	assert_true(http_field_next(&it, "If-Match", &v) && slice_eq(v, "\"m\""));
	assert_false(http_field_next(&it, "If-Match", &v));
}

/* The character tables against the RFCs' sets written out (RFC 9110
 * 5.6.2's tchar, RFC 3986 3.2.2's reg-name and IP-literal characters),
 * every byte: a table entry wrong by one bit shows here. */
static void test_char_classes(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			     (c >= 'A' && c <= 'Z');
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			   (c >= 'A' && c <= 'F');
		bool tchar = alnum || (c && strchr("!#$%&'*+-.^_`|~", c));
		bool regname = alnum || (c && strchr("-._~%!$&'()*+,;=", c));
		bool iplit = hex || (c && strchr(":.vV", c));

		if (http_is((unsigned char)c, HTTP_TCHAR) != tchar ||
		    http_is((unsigned char)c, HTTP_REGNAME) != regname ||
		    http_is((unsigned char)c, HTTP_IPLIT) != iplit)
			fail_msg("byte 0x%02x: tchar %d regname %d ip-literal %d, want %d %d %d", c,
				 http_is((unsigned char)c, HTTP_TCHAR),
				 http_is((unsigned char)c, HTTP_REGNAME),
				 http_is((unsigned char)c, HTTP_IPLIT), tchar, regname, iplit);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_pipelined_and_body),
		cmocka_unit_test(test_keep_alive_rules),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_status_ignores_split),
		cmocka_unit_test(test_blank_line_flood),
		cmocka_unit_test(test_bare_cr),
		cmocka_unit_test(test_head_ready),
		cmocka_unit_test(test_chunked_splits),
		cmocka_unit_test(test_chunked_refusals),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_absolute_authority),
		cmocka_unit_test(test_list_lines),
		cmocka_unit_test(test_char_classes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
