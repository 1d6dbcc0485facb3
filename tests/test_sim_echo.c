/* SPDX-License-Identifier: MIT */
/*
 * test_sim_echo.c - the echo scenario of urt-sim (examples/sim/scn_echo.c:
 * urt-echo's own server, examples/echo/server.c, with checking,
 * non-reading, closing and idle clients on the simulated kernel), for a
 * fixed set of seeds, the first eight run twice to the same trace hash,
 * without and with the model's faults. A failing seed prints what failed;
 * SIM_SEEDS=N runs seeds 1..N instead, SIM_SEED=S that one alone (with
 * SIM_TRACE=1 the model's trace goes to stderr).
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

static void run_seed(uint64_t seed, uint32_t faults_pct, bool twice)
{
	struct scn_opts o = { .seed = seed,
			      .faults_pct = faults_pct,
			      .trace = getenv("SIM_TRACE") ? stderr : NULL };
	struct scn_result r, again;

	scn_echo.run(&o, &r);
	print_message("echo seed %llu faults %u%%: hash %016llx events %llu%s%s\n",
		      (unsigned long long)seed, faults_pct, (unsigned long long)r.hash,
		      (unsigned long long)r.events,
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
		run_seed(strtoull(one, NULL, 10), 0, false);
		return;
	}
	for (uint64_t seed = 1; seed <= last; seed++)
		run_seed(seed, 0, seed <= 8);
}

/*
 * The same with the model's faults at 2 % (resets, refused and late
 * connects and accepts, -EMFILE, interrupted enters): a client a fault
 * ended is not held to its byte count, but what it read must be right,
 * and the server must survive, close its non-readers and end clean.
 * SIM_FAULT_SEEDS=N runs seeds 1..N.
 */
static void test_seeds_faults(void **state)
{
	const char *n = getenv("SIM_FAULT_SEEDS");
	uint64_t last = n ? strtoull(n, NULL, 10) : SEEDS;
	struct scn_result plain, faulty;

	(void)state;
	if (getenv("SIM_SEED"))
		skip();
	for (uint64_t seed = 1; seed <= last; seed++)
		run_seed(seed, 2, seed <= 8);
	/* the faults change the run */
	scn_echo.run(&(struct scn_opts){ .seed = 3 }, &plain);
	scn_echo.run(&(struct scn_opts){ .seed = 3, .faults_pct = 2 }, &faulty);
	assert_int_not_equal(plain.hash, faulty.hash);
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
		cmocka_unit_test(test_seeds_faults),
		cmocka_unit_test(test_seeds_differ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
