/* SPDX-License-Identifier: MIT */
/*
 * test_resp.c - urt-kv's RESP parser and keyspace (examples/kv/), on their
 * own: every truncation of a request asks for more, pipelined requests
 * come apart at the right byte, each protocol error is reported with
 * redis's words, seeded garbage never reads past the input; the table keeps
 * every key through deletions that shift probe chains, expires lazily and
 * by sweep, enforces maxmemory, and matches globs as redis does.
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

#include "kv/resp.h"
#include "kv/store.h"
#include "support/test_support.h"

static const char *argv_[64];
static size_t len_[64];
static const struct resp_limits lim = { .max_args = 64, .max_bulk = 1024, .max_inline = 256 };

static long parse(const char *s, size_t n, struct resp_cmd *cmd, const char **err)
{
	*cmd = (struct resp_cmd){ .argv = argv_, .len = len_ };
	*err = NULL;
	return resp_parse(s, n, &lim, cmd, err);
}

static void assert_arg(const struct resp_cmd *cmd, uint32_t i, const char *want)
{
	assert_true(i < cmd->argc);
	assert_int_equal(cmd->len[i], strlen(want));
	assert_memory_equal(cmd->argv[i], want, strlen(want));
}

static void test_multibulk_and_every_truncation(void **state)
{
	static const char req[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n";
	size_t n = sizeof(req) - 1;
	struct resp_cmd cmd;
	const char *err;

	(void)state;
	for (size_t k = 0; k < n; k++) /* the value holds a CRLF of its own */
		assert_int_equal(parse(req, k, &cmd, &err), 0);
	assert_int_equal(parse(req, n, &cmd, &err), (long)n);
	assert_int_equal(cmd.argc, 3);
	assert_arg(&cmd, 0, "SET");
	assert_arg(&cmd, 1, "key");
	assert_arg(&cmd, 2, "va\r\nl");
	/* the arguments are slices of the input: zero copy */
	assert_ptr_equal(cmd.argv[1], req + 17);
}

static void test_pipelined(void **state)
{
	static const char req[] = "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\nPING\r\n";
	struct resp_cmd cmd;
	const char *err;
	long a, b, c;

	(void)state;
	a = parse(req, sizeof(req) - 1, &cmd, &err);
	assert_int_equal(a, 14);
	b = parse(req + a, sizeof(req) - 1 - (size_t)a, &cmd, &err);
	assert_int_equal(cmd.argc, 2);
	assert_arg(&cmd, 1, "");
	c = parse(req + a + b, sizeof(req) - 1 - (size_t)(a + b), &cmd, &err);
	assert_int_equal(a + b + c, (long)sizeof(req) - 1);
	assert_arg(&cmd, 0, "PING");
}

static void test_inline(void **state)
{
	struct resp_cmd cmd;
	const char *err;

	(void)state;
	assert_int_equal(parse("  SET  a\tb \r\n", 13, &cmd, &err), 13);
	assert_int_equal(cmd.argc, 3);
	assert_arg(&cmd, 2, "b");
	assert_int_equal(parse("\r\n", 2, &cmd, &err), 2);
	assert_int_equal(cmd.argc, 0); /* an empty line: skipped by the server */
	assert_int_equal(parse("PING", 4, &cmd, &err), 0);
}

static void expect_error(const char *req, const char *words)
{
	struct resp_cmd cmd;
	const char *err;

	assert_int_equal(parse(req, strlen(req), &cmd, &err), -1);
	assert_non_null(err);
	if (!strstr(err, words))
		fail_msg("'%s': error '%s' lacks '%s'", req, err, words);
}

static void test_protocol_errors(void **state)
{
	char big[400];

	(void)state;
	expect_error("*abc\r\n", "invalid multibulk length");
	expect_error("*65\r\n", "invalid multibulk length"); /* past max_args */
	expect_error("*2\r\n$3\r\nfoo\r\n:1\r\n", "expected '$'");
	expect_error("*1\r\n$-1\r\n", "invalid bulk length");
	expect_error("*1\r\n$1025\r\n", "invalid bulk length"); /* past max_bulk */
	expect_error("*1\r\n$x\r\n", "invalid bulk length");
	expect_error("*1\r\n$3\r\nfooXY", "bulk not followed by CRLF");
	expect_error("*1\r\n$3\r\nfoo\rX", "bulk not followed by CRLF");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	expect_error(big, "too big inline request");
	expect_error("*99999999999999999999999\r\n", "invalid multibulk length");
	/* 20 digits past int64 (overflowed before a fuzz run found it) */
	expect_error("*77777777777777777777\r\n", "invalid multibulk length");
	expect_error("*1\r\n$77777777777777777777\r\n", "invalid bulk length");
}

static void test_garbage(void **state)
{
	struct test_rng rng = { test_seed("resp garbage", 0x9e55) };
	static char buf[512];

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)test_rng_below(&rng, sizeof(buf));
		struct resp_cmd cmd;
		const char *err;
		long r;

		for (size_t i = 0; i < n; i++) { /* RESP-ish bytes, to reach deep states */
			static const char alphabet[] = "*$\r\n0123456789-abc ";

			buf[i] = test_rng_below(&rng, 4) ? alphabet[test_rng_below(&rng,
									    sizeof(alphabet) - 1)]
							 : (char)test_rng_next(&rng);
		}
		r = parse(buf, n, &cmd, &err); /* ASan reports any read past n */
		assert_true(r >= -1 && r <= (long)n);
		if (r > 0)
			for (uint32_t i = 0; i < cmd.argc; i++)
				assert_true(cmd.argv[i] >= buf && cmd.argv[i] + cmd.len[i] <= buf + r);
	}
}

/* --- the keyspace ---------------------------------------------------------------------- */

static void test_store_deletions_keep_chains(void **state)
{
	struct test_rng rng = { test_seed("store", 0x5703e) };
	static bool present[20000];
	struct store s;
	char k[16];

	(void)state;
	assert_int_equal(store_init(&s, 0), 0);
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(k, sizeof(k), "key:%d", i);

		assert_int_equal(store_set(&s, k, (size_t)n, k, (size_t)n, 0), 0);
		present[i] = true;
	}
	for (int i = 0; i < 10000; i++) {
		int x = (int)test_rng_below(&rng, 20000), n = snprintf(k, sizeof(k), "key:%d", x);

		assert_int_equal(store_del(&s, k, (size_t)n, 0), present[x]);
		present[x] = false;
	}
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(k, sizeof(k), "key:%d", i);
		struct kv_entry *e = store_get(&s, k, (size_t)n, 0);

		assert_int_equal(e != NULL, present[i]);
		if (e)
			assert_memory_equal(kv_val(e), k, (size_t)n);
	}
	store_deinit(&s);
}

static void test_store_expiry_and_maxmemory(void **state)
{
	struct store s;
	char k[16];
	size_t mem0;

	(void)state;
	assert_int_equal(store_init(&s, 64 * 1024), 0);
	mem0 = s.mem;
	assert_int_equal(store_set(&s, "a", 1, "1", 1, 100), 0);
	assert_non_null(store_get(&s, "a", 1, 99));
	assert_null(store_get(&s, "a", 1, 100)); /* lazily, on access */
	assert_int_equal(s.n, 0);
	assert_int_equal(s.mem, mem0);
	for (int i = 0; i < 100; i++) {
		int n = snprintf(k, sizeof(k), "t%d", i);

		assert_int_equal(store_set(&s, k, (size_t)n, "v", 1, i % 2 ? 50 : 0), 0);
	}
	assert_int_equal(store_sweep(&s, s.cap, 60), 50); /* by the sweep */
	assert_int_equal(s.n, 50);
	/* at maxmemory writes are refused, and expired entries do not count */
	{
		static char v[4000];
		int i;

		for (i = 0; i < 100 && !store_full(&s, 60); i++) {
			int n = snprintf(k, sizeof(k), "big%d", i);

			assert_int_equal(store_set(&s, k, (size_t)n, v, sizeof(v), i < 5 ? 0 : 1000), 0);
		}
		assert_true(i < 100);
		assert_true(s.mem < 64 * 1024 + 4096 + 64); /* one write past it at most */
		assert_false(store_full(&s, 1000)); /* the ones that expired are swept */
	}
	store_deinit(&s);
}

static void test_glob(void **state)
{
	static const struct {
		const char *pat, *str;
		bool match;
	} cases[] = {
		{ "*", "", false },	   { "*", "abc", true },     { "a*", "abc", true },
		{ "a*", "bac", false },	   { "*c", "abc", true },    { "a?c", "abc", true },
		{ "a?c", "ac", false },	   { "[abc]x", "bx", true }, { "[^abc]x", "bx", false },
		{ "[a-c]", "b", true },	   { "[a-c]", "d", false },  { "h\\*", "h*", true },
		{ "h\\*", "hx", false },   { "**b", "ab", true },    { "a*b*c", "axxbyyc", true },
		{ "a*b*c", "axxbyy", false }, { "key:??", "key:12", true },
		{ "[a-]", "]", true },	   { "[a-]", "-", false },   { "**", "", false },
		{ "[abc", "a", true },	   { "\\", "\\", true },
	};

	(void)state;
	/* redis's CVE-2022-36021 pattern: must answer at once, not backtrack
	 * exponentially (a hang here is the test failing by timeout) */
	{
		static char key[61];

		memset(key, 'a', 60);
		assert_false(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", 26, key, 60));
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (glob_match(cases[i].pat, strlen(cases[i].pat), cases[i].str,
			       strlen(cases[i].str)) != cases[i].match)
			fail_msg("glob '%s' on '%s' should be %d", cases[i].pat, cases[i].str,
				 cases[i].match);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multibulk_and_every_truncation),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_inline),
		cmocka_unit_test(test_protocol_errors),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_store_deletions_keep_chains),
		cmocka_unit_test(test_store_expiry_and_maxmemory),
		cmocka_unit_test(test_glob),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
