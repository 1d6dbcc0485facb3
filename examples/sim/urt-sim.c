/* SPDX-License-Identifier: MIT */
/*
 * urt-sim - run scenarios on the simulated kernel (urt/sim.h), one seed
 * after another, in this process.
 *
 *   urt-sim --scenario NAME[,NAME...]|all --seeds N [--seed S] [--faults PCT]
 *           [--bufmode single|bundle|inc] [--trace] [--list]
 *
 * Runs seeds S..S+N-1 (S defaults to 1) of each scenario named and prints
 * a line per scenario, then the total:
 *
 *   seeds=N failures=F events=E events/s=R
 *
 * Each failure is printed with its seed, what failed, and the command
 * that replays it. --seed S alone runs that one seed; with --trace the
 * model's trace of it goes to stdout, followed by hash=<16 hex>. With
 * --seeds every 100th seed is run twice and must give the same hash, the
 * same event count and the same verdict (a determinism self-check; a
 * mismatch is a failure). --bufmode forces the runtime's provided-buffer
 * mode (else each seed draws one of the three). After every event of a
 * run the invariants of scn_watch_arm are checked (simlib.h); a broken
 * one fails the seed. Exits 1 if any seed failed, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scenario.h"
#include "simlib.h"

extern const struct scenario scn_abort_storm, scn_deinit_midflight, scn_channels, scn_echo,
	scn_http;
extern const struct scenario scn_kv;

static const struct scenario *const scenarios[] = {
	&scn_abort_storm,
	&scn_deinit_midflight,
	&scn_channels,
	&scn_echo,
	&scn_http,
	&scn_kv,
};

#define NSCN	      (sizeof(scenarios) / sizeof(scenarios[0]))
#define RECHECK_EVERY 100

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: urt-sim --scenario NAME[,NAME...]|all --seeds N [--seed S] [--faults PCT] "
		"[--bufmode single|bundle|inc] [--trace] [--list]\n"
		"       urt-sim --scenario NAME --seed S --trace   (replay one seed)\n");
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	/* digits only, in base 10, no leading zero: strtoull would skip white
	 * space (and take " -1" as 2^64 - 1), and "010" is octal to some
	 * readers and decimal to others: refused rather than guessed */
	if (!s || *s < '0' || *s > '9' || (s[0] == '0' && s[1]))
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return !errno && !*end;
}

struct tally {
	uint64_t seeds, failures, events, ns;
};

static void print_tally(const char *name, const struct tally *t)
{
	double s = (double)t->ns / 1e9;

	if (name)
		printf("%-18s ", name);
	printf("seeds=%" PRIu64 " failures=%" PRIu64 " events=%" PRIu64 " events/s=%.0f", t->seeds,
	       t->failures, t->events, s > 0 ? (double)t->events / s : 0.0);
	if (name)
		printf(" seeds/s=%.0f", s > 0 ? (double)t->seeds / s : 0.0);
	printf("\n");
}

static void report_failure(const struct scenario *sc, uint64_t seed, uint32_t faults,
			   uint32_t bufmode, const char *why)
{
	char fl[32] = "", bm[32] = "";

	if (faults)
		snprintf(fl, sizeof(fl), " --faults %u", faults);
	if (bufmode)
		snprintf(bm, sizeof(bm), " --bufmode %s", scn_bufmode_name(bufmode));
	printf("FAIL %s seed=%" PRIu64 ": %s\n", sc->name, seed, why);
	printf("  replay: urt-sim --scenario %s --seed %" PRIu64 "%s%s --trace\n", sc->name, seed,
	       fl, bm);
}

/* Seeds first..first+n-1 of one scenario. Return: failures. */
static void run_scenario(const struct scenario *sc, uint64_t first, uint64_t n, uint32_t faults,
			 uint32_t bufmode, bool trace, bool recheck, struct tally *t)
{
	for (uint64_t i = 0; i < n; i++) {
		struct scn_opts o = { .seed = first + i,
				      .bufmode = bufmode,
				      .faults_pct = faults,
				      .trace = trace ? stdout : NULL };
		struct scn_result r = { 0 };
		uint64_t t0 = now_ns();
		bool failed;

		sc->run(&o, &r);
		scn_watch_take(r.why); /* the invariants after every event */
		t->ns += now_ns() - t0;
		t->seeds++;
		t->events += r.events;
		failed = r.why[0] != 0;
		if (trace) {
			printf("hash=%016" PRIx64 "\n", r.hash);
			fflush(stdout);
		}
		if (!failed && recheck && i % RECHECK_EVERY == 0) {
			struct scn_result again = { 0 };

			o.trace = NULL;
			sc->run(&o, &again);
			scn_watch_take(again.why);
			if (again.hash != r.hash || again.events != r.events ||
			    strcmp(again.why, r.why)) {
				snprintf(r.why, sizeof(r.why),
					 "not deterministic: hash %016" PRIx64 " events %" PRIu64
					 " then hash %016" PRIx64 " events %" PRIu64 " %.100s",
					 r.hash, r.events, again.hash, again.events, again.why);
				failed = true;
			}
		}
		if (failed) {
			t->failures++;
			if (trace) /* stdout holds the trace and its hash: the verdict goes aside */
				fprintf(stderr, "FAIL %s seed=%" PRIu64 ": %s\n", sc->name, o.seed,
					r.why);
			else
				report_failure(sc, o.seed, faults, bufmode, r.why);
		}
	}
}

/* Whether scenario `scn` is one of the comma-separated names in `list`. */
static bool listed(const char *list, const char *scn)
{
	size_t n = strlen(scn);

	for (const char *p = list; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (!strncmp(p, scn, n) && (p[n] == ',' || p[n] == 0))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	const char *name = NULL;
	uint64_t seeds = 0, first = 1, faults = 0;
	uint32_t bufmode = SCN_BUF_SEED;
	bool have_seeds = false, have_seed = false, trace = false, list = false, any = false;
	struct tally total = { 0 };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--scenario") && v) {
			name = v;
			i++;
		} else if (!strcmp(a, "--seeds") && parse_u64(v, &seeds)) {
			have_seeds = true;
			i++;
		} else if (!strcmp(a, "--seed") && parse_u64(v, &first)) {
			have_seed = true;
			i++;
		} else if (!strcmp(a, "--faults") && parse_u64(v, &faults) && faults <= 100) {
			i++;
		} else if (!strcmp(a, "--bufmode") && v) {
			for (bufmode = SCN_BUF_SINGLE; bufmode <= SCN_BUF_INC; bufmode++)
				if (!strcmp(v, scn_bufmode_name(bufmode)))
					break;
			if (bufmode > SCN_BUF_INC) {
				fprintf(stderr, "urt-sim: --bufmode single|bundle|inc\n");
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--trace")) {
			trace = true;
		} else if (!strcmp(a, "--list")) {
			list = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "urt-sim: bad argument '%s'%s\n", a,
				v || a[0] != '-' ? "" : " (missing value?)");
			usage(stderr);
			return 2;
		}
	}
	if (list) {
		for (size_t s = 0; s < NSCN; s++)
			printf("%-18s %s\n", scenarios[s]->name, scenarios[s]->what);
		return 0;
	}
	if (!name || (!have_seeds && !have_seed)) {
		usage(stderr);
		return 2;
	}
	if (!have_seeds)
		seeds = 1;
	if (!seeds || first + (seeds - 1) < first) {
		fprintf(stderr, "urt-sim: --seeds must be at least 1, and the last seed at most "
				"2^64 - 1\n");
		return 2;
	}
	if (trace && (!strcmp(name, "all") || seeds != 1)) {
		fprintf(stderr, "urt-sim: --trace replays one seed of one scenario\n");
		return 2;
	}
	for (size_t s = 0; s < NSCN; s++) {
		struct tally t = { 0 };

		if (strcmp(name, "all") && !listed(name, scenarios[s]->name))
			continue;
		any = true;
		run_scenario(scenarios[s], first, seeds, (uint32_t)faults, bufmode, trace,
			     have_seeds, &t);
		if (!trace)
			print_tally(scenarios[s]->name, &t);
		else if (t.failures)
			fprintf(stderr, "urt-sim: seed %" PRIu64 " failed\n", first);
		total.seeds += t.seeds;
		total.failures += t.failures;
		total.events += t.events;
		total.ns += t.ns;
	}
	if (!any) {
		fprintf(stderr, "urt-sim: no scenario '%s' (--list)\n", name);
		return 2;
	}
	if (!trace)
		print_tally(NULL, &total);
	return total.failures ? 1 : 0;
}
