/* SPDX-License-Identifier: MIT */
/*
 * test_http_resp.c - urt-load's HTTP response reader (examples/http/resp.c)
 * on its own: a two-response stream cut at every byte and every pair of
 * bytes gives the same two responses; bodies are compared with an expected
 * one; no-body statuses, interim 1xx and keep-alive rules; each refusal has
 * its error (-EBADMSG, -EMSGSIZE, -ENOTSUP) wherever the stream is cut; and
 * seeded garbage in seeded pieces reads nothing past a piece and gives what
 * it gives in one piece; a body skipped unseen (http_resp_skip) ends where
 * its length says. Every piece is its own malloc block of exactly its
 * size, so ASan reports any read past it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/resp.h"
#include "support/test_support.h"

#define MAX_RESP 16

struct run {
	struct http_resp r[MAX_RESP];
	int n;	      /* responses that ended */
	int err;      /* 0, or the reader's -errno */
	size_t taken; /* bytes taken before the end or the error */
};

struct want {
	const char *expect; /* expected body, NULL: any */
	size_t cap;	    /* head buffer (default 256) */
};

/* Feed s[0..len) cut before each of cuts[0..ncuts) (ascending). */
static struct run feed(const char *s, size_t len, const size_t *cuts, size_t ncuts,
		       const struct want *w)
{
	size_t cap = w && w->cap ? w->cap : 256, from = 0;
	const char *expect = w ? w->expect : NULL;
	char *head = malloc(cap);
	struct http_resp_reader rd;
	struct run run = { 0 };

	assert_non_null(head);
	http_resp_reader_init(&rd, head, cap, expect, expect ? strlen(expect) : 0);
	for (size_t c = 0; c <= ncuts && !run.err; c++) {
		size_t to = c < ncuts ? cuts[c] : len, n = to - from, pos = 0;
		char *piece = malloc(n ? n : 1);

		assert_non_null(piece);
		memcpy(piece, s + from, n);
		while (pos < n) {
			struct http_resp out;
			size_t used = 0;
			int ret = http_resp_feed(&rd, piece + pos, n - pos, &used, &out);

			if (ret < 0) {
				run.err = ret;
				break;
			}
			assert_true(used <= n - pos);
			pos += used;
			run.taken += used;
			if (ret == 0) {
				assert_int_equal(pos, n); /* 0 takes every byte */
				continue;
			}
			assert_int_equal(ret, 1);
			assert_true(used > 0);
			assert_true(run.n < MAX_RESP);
			run.r[run.n++] = out;
		}
		free(piece);
		from = to;
	}
	free(head);
	return run;
}

static struct run feed_whole(const char *s, const struct want *w)
{
	return feed(s, strlen(s), NULL, 0, w);
}

static void assert_same(const struct run *a, const struct run *b, const char *what, size_t i,
			size_t j)
{
	if (a->n != b->n || a->err != b->err || (!a->err && a->taken != b->taken))
		fail_msg("%s cut at %zu and %zu: %d responses, err %d, %zu bytes; whole: %d, %d, "
			 "%zu",
			 what, i, j, a->n, a->err, a->taken, b->n, b->err, b->taken);
	for (int k = 0; k < a->n; k++)
		if (a->r[k].status != b->r[k].status || a->r[k].length != b->r[k].length ||
		    a->r[k].close != b->r[k].close || a->r[k].body_ok != b->r[k].body_ok)
			fail_msg("%s cut at %zu and %zu: response %d differs", what, i, j, k);
}

/* s cut at every byte, and at every pair of bytes, reads as it does whole */
static void every_split(const char *s, const struct want *w, const char *what)
{
	size_t len = strlen(s);
	struct run whole = feed_whole(s, w), got;

	for (size_t i = 0; i <= len; i++) {
		got = feed(s, len, &i, 1, w);
		assert_same(&got, &whole, what, i, i);
		for (size_t j = i; j <= len; j++) {
			size_t cuts[2] = { i, j };

			got = feed(s, len, cuts, 2, w);
			assert_same(&got, &whole, what, i, j);
		}
	}
}

static const char two[] = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\n\r\nhello"
			  "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
			  "Connection: close\r\nContent-Length: 10\r\n\r\nnot found\n";

static void test_two_responses_every_split(void **state)
{
	struct run whole = feed_whole(two, NULL);
	struct want w = { .expect = "hello" };

	(void)state;
	assert_int_equal(whole.err, 0);
	assert_int_equal(whole.n, 2);
	assert_int_equal(whole.taken, strlen(two));
	assert_int_equal(whole.r[0].status, 200);
	assert_int_equal(whole.r[0].length, 5);
	assert_false(whole.r[0].close);
	assert_true(whole.r[0].body_ok);
	assert_int_equal(whole.r[1].status, 404);
	assert_int_equal(whole.r[1].length, 10);
	assert_true(whole.r[1].close);
	every_split(two, NULL, "two responses");
	/* with an expected body: the first matches, the second does not */
	whole = feed_whole(two, &w);
	assert_true(whole.r[0].body_ok);
	assert_false(whole.r[1].body_ok);
	every_split(two, &w, "two responses, expected body");
	/* a byte at a time */
	{
		size_t len = strlen(two), cuts[sizeof(two)];

		for (size_t i = 0; i < len; i++)
			cuts[i] = i + 1;
		whole = feed(two, len, cuts, len - 1, &w);
		assert_int_equal(whole.n, 2);
		assert_true(whole.r[0].body_ok);
	}
}

static void test_expected_body(void **state)
{
	char s[256];
	struct want w = { .expect = "0123456789" };
	struct run run;

	(void)state;
	/* each byte of the body changed in turn: a mismatch, the framing intact */
	for (size_t k = 0; k < 10; k++) {
		snprintf(s, sizeof(s),
			 "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"
			 "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
		s[strlen(s) - 10 + k] = 'x';
		run = feed_whole(s, &w);
		assert_int_equal(run.n, 2);
		assert_true(run.r[0].body_ok);
		assert_false(run.r[1].body_ok);
	}
	/* a body shorter or longer than the expected one: a mismatch, the next still read */
	run = feed_whole("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n012345678"
			 "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n0123456789x"
			 "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
			 &w);
	assert_int_equal(run.err, 0);
	assert_int_equal(run.n, 3);
	assert_false(run.r[0].body_ok);
	assert_false(run.r[1].body_ok);
	assert_true(run.r[2].body_ok);
	/* an empty expected body */
	w.expect = "";
	run = feed_whole("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &w);
	assert_int_equal(run.n, 1);
	assert_true(run.r[0].body_ok);
}

static void test_statuses_without_body(void **state)
{
	struct run run;

	(void)state;
	/* 204 and 304 have no body whatever Content-Length says; 1xx are skipped */
	run = feed_whole("HTTP/1.1 204 No Content\r\n\r\n"
			 "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
			 "HTTP/1.1 100 Continue\r\n\r\n"
			 "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
			 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			 NULL);
	assert_int_equal(run.err, 0);
	assert_int_equal(run.n, 3);
	assert_int_equal(run.r[0].status, 204);
	assert_int_equal(run.r[1].status, 304);
	assert_int_equal(run.r[1].length, 0);
	assert_int_equal(run.r[2].status, 200);
	assert_int_equal(run.r[2].length, 2);
	every_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
		    "HTTP/1.1 204 No Content\r\n\r\n",
		    NULL, "1xx, 200, 204");
}

static void test_close_rules(void **state)
{
	static const struct {
		const char *s;
		bool close;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false },
		{ "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", true },
		{ "HTTP/1.1 200 OK\r\nconnection: Keep-Alive, CLOSE\r\nContent-Length: 0\r\n\r\n",
		  true },
		{ "HTTP/1.1 200 OK\r\nConnection: closed\r\nContent-Length: 0\r\n\r\n", false },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", true },
		{ "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run run = feed_whole(cases[i].s, NULL);

		assert_int_equal(run.n, 1);
		if (run.r[0].close != cases[i].close)
			fail_msg("case %zu: close %d, want %d", i, run.r[0].close, cases[i].close);
	}
}

static void test_accepted_forms(void **state)
{
	struct run run;

	(void)state;
	/* what nginx sends */
	run = feed_whole(
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
		"Date: Tue, 01 Dec 2026 00:00:00 GMT\r\nContent-Type: text/html\r\n"
		"Content-Length: 3\r\nLast-Modified: Tue, 01 Dec 2026 00:00:00 GMT\r\n"
		"Connection: keep-alive\r\nETag: \"1-3\"\r\nAccept-Ranges: bytes\r\n\r\nabc",
		&(struct want){ .expect = "abc" });
	assert_int_equal(run.n, 1);
	assert_true(run.r[0].body_ok);
	assert_false(run.r[0].close);
	/* bare LF line ends, no reason phrase, spaces around values, an equal duplicate */
	every_split("HTTP/1.1 200\nContent-Length:  3 \nContent-Length: 3\n\nabc"
		    "HTTP/1.1 201 \r\nContent-Length:1\r\n\r\nx",
		    NULL, "bare LF");
	run = feed_whole("HTTP/1.1 200\nContent-Length:  3 \nContent-Length: 3\n\nabc"
			 "HTTP/1.1 201 \r\nContent-Length:1\r\n\r\nx",
			 NULL);
	assert_int_equal(run.err, 0);
	assert_int_equal(run.n, 2);
	assert_int_equal(run.r[0].length, 3);
	assert_int_equal(run.r[1].status, 201);
}

static void test_refusals(void **state)
{
	static const struct {
		const char *s;
		int err;
	} cases[] = {
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		  -ENOTSUP },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
		  -ENOTSUP },
		{ "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuntil the close", -ENOTSUP },
		{ "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", -ENOTSUP },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
		  -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 0\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nX : a\r\nContent-Length: 0\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 OK\r\n\rContent-Length: 0\r\n\r\n", -EBADMSG },
		{ "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n", -EBADMSG },
		{ "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n", -EBADMSG },
		{ "\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", -EBADMSG },
		{ "hello", 0 }, /* not yet a head: more is wanted */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].s);

		for (size_t k = 0; k <= len; k++) { /* wherever the stream is cut */
			struct run run = feed(cases[i].s, len, &k, 1, NULL);

			if (run.err != cases[i].err || run.n)
				fail_msg("case %zu cut at %zu: err %d, %d responses; want %d", i, k,
					 run.err, run.n, cases[i].err);
		}
	}
}

static void test_head_size(void **state)
{
	char s[200];
	struct want w = { .cap = 64 };
	size_t len;

	(void)state;
	/* a head of exactly cap bytes is read, one byte more is -EMSGSIZE, at every cut */
	for (size_t pad = 20; pad <= 22; pad++) {
		len = (size_t)snprintf(s, sizeof(s),
				       "HTTP/1.1 200 OK\r\nX: %.*s\r\nContent-Length: 0\r\n\r\n",
				       (int)pad, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
		for (size_t k = 0; k <= len; k++) {
			struct run run = feed(s, len, &k, 1, &w);

			if (len <= 64 ? run.n != 1 || run.err : run.err != -EMSGSIZE)
				fail_msg(
					"a %zu-byte head, cap 64, cut at %zu: err %d, %d responses",
					len, k, run.err, run.n);
		}
	}
	/* a head that never ends is refused once it passes cap, not read forever */
	memset(s, 'a', sizeof(s));
	{
		struct run run = feed(s, sizeof(s), NULL, 0, &w);

		assert_int_equal(run.err, -EMSGSIZE);
	}
}

static void test_garbage(void **state)
{
	struct test_rng rng = { test_seed("http resp garbage", 0x7e59) };
	static char buf[600];

	(void)state;
	for (int round = 0; round < 20000; round++) {
		static const char alphabet[] = "HTTP/1.0 200\r\n:Content-Length 0123456789";
		size_t n = (size_t)test_rng_below(&rng, sizeof(buf)), cuts[3];
		struct want w = { .expect = "01234", .cap = 128 };
		struct run whole, got;

		for (size_t i = 0; i < n; i++)
			buf[i] = test_rng_below(&rng, 8)
					 ? alphabet[test_rng_below(&rng, sizeof(alphabet) - 1)]
					 : (char)test_rng_next(&rng);
		if (round % 2 && n > 20) /* half begin with a valid status line */
			memcpy(buf, "HTTP/1.1 200 OK\r\nContent-Length: 5", 20);
		for (size_t c = 0; c < 3; c++)
			cuts[c] = (size_t)test_rng_below(&rng, n + 1);
		if (cuts[0] > cuts[1]) {
			size_t x = cuts[0];

			cuts[0] = cuts[1], cuts[1] = x;
		}
		if (cuts[1] > cuts[2]) {
			size_t x = cuts[1];

			cuts[1] = cuts[2], cuts[2] = x;
		}
		if (cuts[0] > cuts[1]) {
			size_t x = cuts[0];

			cuts[0] = cuts[1], cuts[1] = x;
		}
		whole = feed(buf, n, NULL, 0, &w);
		got = feed(buf, n, cuts, 3, &w);
		assert_same(&got, &whole, "garbage", cuts[0], cuts[2]);
	}
}

/*
 * A body skipped unseen (urt-load --discard: received with MSG_TRUNC) in
 * pieces, some bytes of it fed first: the response ends where its
 * Content-Length says, the next one is read, and with an expected body
 * the skipped one is not vouched for.
 */
static void test_skipped_body(void **state)
{
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01";
	static const char next[] = "HTTP/1.1 204 No Content\r\n\r\n";
	const char *expects[2] = { NULL, "0123456789" };
	char hbuf[256];

	(void)state;
	for (int e = 0; e < 2; e++) {
		struct http_resp_reader rd;
		struct http_resp out = { 0 };
		size_t used = 0;

		http_resp_reader_init(&rd, hbuf, sizeof(hbuf), expects[e], expects[e] ? 10 : 0);
		assert_int_equal(http_resp_body_left(&rd), 0); /* a head comes first */
		assert_int_equal(http_resp_feed(&rd, head, 20, &used, &out), 0);
		assert_int_equal(used, 20);
		assert_int_equal(http_resp_body_left(&rd), 0); /* still in the head */
		assert_int_equal(http_resp_feed(&rd, head + 20, strlen(head) - 20, &used, &out), 0);
		assert_int_equal(used, strlen(head) - 20);
		assert_int_equal(http_resp_body_left(&rd), 8);
		assert_int_equal(http_resp_skip(&rd, 5, &out), 0);
		assert_int_equal(http_resp_body_left(&rd), 3);
		assert_int_equal(http_resp_skip(&rd, 3, &out), 1);
		assert_int_equal(out.status, 200);
		assert_int_equal(out.length, 10);
		assert_int_equal(out.body_ok, !expects[e]);
		assert_int_equal(http_resp_body_left(&rd), 0);
		assert_int_equal(http_resp_feed(&rd, next, strlen(next), &used, &out), 1);
		assert_int_equal(used, strlen(next));
		assert_int_equal(out.status, 204);
		assert_int_equal(out.length, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_responses_every_split),
		cmocka_unit_test(test_expected_body),
		cmocka_unit_test(test_statuses_without_body),
		cmocka_unit_test(test_close_rules),
		cmocka_unit_test(test_accepted_forms),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_head_size),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_skipped_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
