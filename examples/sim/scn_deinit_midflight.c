/* SPDX-License-Identifier: MIT */
/*
 * scn_deinit_midflight.c - deinit-midflight: the storm world (storm.h),
 * some tasks aborted as in abort-storm, and urt_runtime_deinit called at a
 * tick drawn from the seed with operations in flight (the server's accept
 * stream at least). Checks: deinit reclaims every live task, every drop
 * ran exactly once, the drops' closes (urt_close_detached) closed every
 * descriptor of the model, no stall. Under ASan (the asan preset) the run
 * also shows nothing leaks.
 */
#include <errno.h>

#include "storm.h"

static void deinit_run(const struct scn_opts *o, struct scn_result *r)
{
	static const uint32_t horizons[] = { 1, 5, 50, 500 };
	struct storm w;
	struct urt_runtime_stats st;
	uint32_t at, pct;
	size_t n;
	int ret;

	if (!storm_init(&w, o, "deinit-midflight"))
		goto out;
	at = (uint32_t)scn_below(&w.rng, horizons[scn_below(&w.rng, 4)] + 1);
	pct = scn_chance(&w.rng, 50) ? 0 : (uint32_t)scn_below(&w.rng, 50);
	for (uint32_t tick = 0; tick < at; tick++) {
		bool left = false;

		for (uint32_t i = 0; i < w.n; i++)
			if (scn_chance(&w.rng, pct / 8) && urt_join_abort(&w.joins[i]) == 0)
				w.aborts++;
		for (uint32_t i = 0; i < w.n && !left; i++)
			left = !urt_join_is_finished(&w.joins[i]);
		if (!left) /* only the server's accept is left: a wait would stall */
			break;
		ret = urt_tick(&w.rt, URT_TICK_FOREVER);
		if (ret < 0) {
			scn_fail(w.why, "tick %u: urt_tick %d", tick, ret);
			goto out;
		}
	}
	urt_runtime_stats(&w.rt, &st);
	n = urt_runtime_deinit(&w.rt);
	w.rt_up = false;
	if (n != st.live)
		scn_fail(w.why, "deinit reclaimed %zu of %zu live tasks", n, st.live);
	storm_check_drops(&w);
	if (urt_sim_fds_open(w.sim))
		scn_fail(w.why, "%u descriptors of the model left open", urt_sim_fds_open(w.sim));
	if (urt_sim_stalls(w.sim))
		scn_fail(w.why, "%llu stalls", (unsigned long long)urt_sim_stalls(w.sim));
out:
	storm_finish(&w, r);
}

const struct scenario scn_deinit_midflight = {
	.name = "deinit-midflight",
	.what = "the abort-storm world torn down by urt_runtime_deinit at a seeded tick; "
		"every drop once, every descriptor closed",
	.run = deinit_run,
};
