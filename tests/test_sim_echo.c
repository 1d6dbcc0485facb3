/* SPDX-License-Identifier: MIT */
/*
 * test_sim_echo.c - the echo scenario of urt-sim (examples/sim/scn_echo.c:
 * urt-echo's own server, examples/echo/server.c, with checking,
 * non-reading, closing and idle clients on the simulated kernel), for a
 * fixed set of seeds, each run twice to the same trace hash. A failing
 * seed prints what failed; SIM_SEEDS=N runs seeds 1..N instead, SIM_SEED=S
 * that one alone (with SIM_TRACE=1 the model's trace goes to stderr).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../examples/sim/scenario.h"

extern const struct scenario scn_echo;

#define SEEDS 64

static void run_seed(uint64_t seed, bool twice)
{
	struct scn_opts o = { .seed = seed, .trace = getenv("SIM_TRACE") ? stderr : NULL };
	struct scn_result r, again;

	scn_echo.run(&o, &r);
	print_message("echo seed %llu: hash %016llx events %llu%s%s\n", (unsigned long long)seed,
		      (unsigned long long)r.hash, (unsigned long long)r.events,
		      r.why[0] ? ": " : "", r.why);
	assert_string_equal(r.why, "");
	assert_true(r.events > 0);
	if (!twice)
		return;
	scn_echo.run(&o, &again); /* the same seed, the same run */
	assert_string_equal(again.why, "");
	assert_int_equal(again.hash, r.hash);
	assert_int_equal(again.events, r.events);
}

static void test_seeds(void **state)
{
	const char *one = getenv("SIM_SEED"), *n = getenv("SIM_SEEDS");
	uint64_t last = n ? strtoull(n, NULL, 10) : SEEDS;

	(void)state;
	if (one) {
		run_seed(strtoull(one, NULL, 10), false);
		return;
	}
	for (uint64_t seed = 1; seed <= last; seed++)
		run_seed(seed, seed <= 8);
}

static void test_seeds_differ(void **state)
{
	struct scn_result a, b;

	(void)state;
	scn_echo.run(&(struct scn_opts){ .seed = 1 }, &a);
	scn_echo.run(&(struct scn_opts){ .seed = 2 }, &b);
	assert_string_equal(a.why, "");
	assert_string_equal(b.why, "");
	assert_int_not_equal(a.hash, b.hash);
	assert_string_equal(scn_echo.name, "echo");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeds),
		cmocka_unit_test(test_seeds_differ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
