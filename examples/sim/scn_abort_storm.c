/* SPDX-License-Identifier: MIT */
/*
 * scn_abort_storm.c - abort-storm: the storm world (storm.h) run to its
 * end while the seed aborts some of its first tasks (urt_join_abort), each
 * after a number of ticks it draws. Checks: an abort that returned 0 makes
 * the join report -ECANCELED, every other task finished with its checks
 * passed; every drop ran exactly once; urt_run returns 0; nothing is left
 * (tasks, op records, operations in flight, timers, buffers, the model's
 * descriptors); the counters balance (spawned = completed + aborted, per
 * type too, and aborted = the aborts that took).
 */
#include <errno.h>
#include <stdlib.h>

#include "storm.h"

/* Ticks a world may take before its tasks count as stuck. Buffers filled
 * in part, with a ring of four 64-byte buffers shared by a hundred
 * streams, were seen to need about 1.5 M (starved streams re-arm, find
 * the ring empty again, and starve; 3x the events of the other modes):
 * slow, not stuck. */
#define TICKS_MAX 4000000

static void storm_abort_run(const struct scn_opts *o, struct scn_result *r)
{
	struct storm w;
	int32_t *at = NULL;
	uint8_t *aborted = NULL;
	uint32_t pct, horizon, clients_aborted = 0;
	struct urt_runtime_stats st;
	uint64_t out;
	int ret;

	if (!storm_init(&w, o, "abort-storm"))
		goto out;
	at = malloc(w.n * sizeof(*at));
	aborted = calloc(w.n, 1);
	if (!at || !aborted) {
		scn_fail(w.why, "out of memory");
		goto out;
	}
	pct = (uint32_t)scn_below(&w.rng, 101);
	horizon = 1 + (uint32_t)scn_below(&w.rng, scn_chance(&w.rng, 50) ? 20 : 400);
	for (uint32_t i = 0; i < w.n; i++)
		at[i] = scn_chance(&w.rng, pct) ? (int32_t)scn_below(&w.rng, horizon) : -1;

	for (int32_t tick = 0;; tick++) {
		bool left = false;

		for (uint32_t i = 0; i < w.n; i++) {
			if (at[i] != tick)
				continue;
			ret = urt_join_abort(&w.joins[i]);
			if (ret == 0) {
				aborted[i] = 1;
				w.aborts++;
				clients_aborted += w.kind[i] == SK_CLIENT;
			} else if (ret != -EALREADY) {
				scn_fail(w.why, "urt_join_abort of task %u: %d", i, ret);
			}
		}
		for (uint32_t i = 0; i < w.n && !left; i++)
			left = !urt_join_is_finished(&w.joins[i]);
		if (!left)
			break;
		ret = urt_tick(&w.rt, URT_TICK_FOREVER);
		if (ret < 0) {
			scn_fail(w.why, "tick %d: urt_tick %d", tick, ret);
			goto out;
		}
		if (tick == TICKS_MAX) {
			scn_fail(w.why, "tasks left after %d ticks", TICKS_MAX);
			goto out;
		}
	}
	for (uint32_t i = 0; i < w.n; i++) {
		ret = urt_join_take(&w.joins[i], &out);
		if (aborted[i] && ret != -ECANCELED)
			scn_fail(w.why, "task %u (kind %u) aborted: join %d", i, w.kind[i], ret);
		else if (!aborted[i] && (ret != 0 || (out != 0 && !w.lax)))
			scn_fail(w.why, "task %u (kind %u): join %d output %llu", i, w.kind[i], ret,
				 (unsigned long long)out);
	}
	/* the server accepts until it is aborted */
	ret = urt_join_abort(&w.joins[w.n]);
	if (ret == 0)
		w.aborts++;
	else
		scn_fail(w.why, "abort of the server: %d", ret);
	ret = urt_run(&w.rt);
	if (ret != 0) {
		scn_fail(w.why, "urt_run %d", ret);
		goto out;
	}
	ret = urt_join_take(&w.joins[w.n], &out);
	if (ret != -ECANCELED)
		scn_fail(w.why, "the server's join: %d", ret);
	if (!scn_settle(&w.rt, w.why))
		goto out;
	urt_runtime_stats(&w.rt, &st);
	if (st.aborted != w.aborts)
		scn_fail(w.why, "stats.aborted %llu, aborts that took %llu",
			 (unsigned long long)st.aborted, (unsigned long long)w.aborts);
	if (!w.lax && w.clients_ok != w.clients - clients_aborted)
		scn_fail(w.why, "%u of %u clients (%u aborted) ok", w.clients_ok, w.clients,
			 clients_aborted);
	if (!w.lax && w.conns_done != w.conns)
		scn_fail(w.why, "%u of %u connections ended", w.conns_done, w.conns);
	scn_check_clean(&w.rt, w.sim, storm_types, storm_ntypes, w.why);
	storm_check_drops(&w);
	ret = (int)urt_runtime_deinit(&w.rt);
	w.rt_up = false;
	if (ret)
		scn_fail(w.why, "deinit reclaimed %d tasks", ret);
out:
	free(at);
	free(aborted);
	storm_finish(&w, r);
}

const struct scenario scn_abort_storm = {
	.name = "abort-storm",
	.what = "10-200 tasks (sleeps, NOPs with deadlines, TCP echo clients, parents) with "
		"seeded urt_join_abort; every drop once, nothing left",
	.run = storm_abort_run,
};
