/* SPDX-License-Identifier: MIT */
/*
 * scenario.h - one scenario of urt-sim: a world built on a simulated
 * kernel (urt/sim.h) from one seed, run to its end, checked.
 *
 * run() creates its own urt_sim from o (seed, knobs drawn from it, faults,
 * trace), a runtime on it, the servers and clients it needs; runs it;
 * checks every answer and the invariants it names; tears everything down
 * (so teardown is exercised on every seed); and fills r: the trace hash,
 * the events the model counted, and why[] empty on success or one line
 * saying what failed. It must not print (the trace goes to o->trace) and
 * must be deterministic: the same o gives the same r, in any process.
 */
#ifndef URT_SIM_SCENARIO_H
#define URT_SIM_SCENARIO_H

#include <stdint.h>
#include <stdio.h>

/* How the runtime's provided buffers are handed out (urt_runtime_opts
 * features_off picks it, the model has all three): drawn from the seed, or
 * forced (urt-sim --bufmode). */
enum scn_bufmode {
	SCN_BUF_SEED,	/* one of the three below, drawn from the seed */
	SCN_BUF_SINGLE, /* one buffer a completion */
	SCN_BUF_BUNDLE, /* bundles: several buffers a completion */
	SCN_BUF_INC,	/* in part: a buffer shared by several completions */
};

struct scn_opts {
	uint64_t seed;
	uint32_t bufmode;    /* enum scn_bufmode */
	uint32_t faults_pct; /* how often the model's faults strike, in percent; 0: none */
	FILE *trace;	     /* the model's trace (urt_sim_opts.trace); NULL: none */
};

struct scn_result {
	uint64_t hash;	 /* urt_sim_hash at the end */
	uint64_t events; /* urt_sim_events at the end */
	char why[256];	 /* empty: passed; else what failed */
};

struct scenario {
	const char *name; /* --scenario NAME */
	const char *what; /* one line for --list */
	void (*run)(const struct scn_opts *o, struct scn_result *r);
};

#endif /* URT_SIM_SCENARIO_H */
