/* SPDX-License-Identifier: MIT */
/*
 * simlib.c - what the scenarios of urt-sim share (simlib.h).
 */
#include "simlib.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void scn_rng_seed(struct scn_rng *r, uint64_t seed, const char *tag)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *p = tag; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	r->s = seed ^ h;
	(void)scn_rand(r);
}

#define PICK(r, arr) ((arr)[scn_below((r), sizeof(arr) / sizeof((arr)[0]))])

void scn_knobs(struct scn_rng *r, const struct scn_opts *o, struct urt_sim_opts *sim,
	       struct urt_runtime_opts *rt)
{
	static const uint64_t lat[] = { 1, 1000, 10000, 100000, 10000000 };
	static const uint32_t rcvbuf[] = { 64, 512, 4096, 65536 };
	static const uint32_t short_pct[] = { 0, 0, 10, 50, 90 };
	static const unsigned ring[] = { 2, 4, 8, 16, 64, 256 };
	static const uint32_t bufs[] = { 2, 4, 8, 16, 64 };
	static const uint32_t bsize[] = { 64, 512, 4096 };
	static const uint32_t squeue[] = { 1, 4, 16 };

	*sim = (struct urt_sim_opts){
		.seed = o->seed,
		.max_latency_ns = PICK(r, lat),
		.rcvbuf = PICK(r, rcvbuf),
		.short_pct = PICK(r, short_pct),
		.trace = o->trace,
		.faults_pct = o->faults_pct,
	};
	*rt = (struct urt_runtime_opts){
		.ring_entries = PICK(r, ring),
		.buf_count = PICK(r, bufs),
		.buf_size = PICK(r, bsize),
		.stream_queue = PICK(r, squeue),
	};
	if (scn_chance(r, 50)) { /* tasks in slab slots as well as boxes */
		rt->slab = URT_SLAB_UNBOUNDED;
		rt->slot_size = 512;
		rt->slab_slots = 16;
	}
	scn_knobs_bufs(o, rt);
	scn_watch_arm(sim, rt);
}

/* features_off for each buffer mode (the model offers all three) */
static const uint32_t bufmode_off[] = {
	[SCN_BUF_SINGLE] = URT_FEAT_RECV_BUNDLE | URT_FEAT_BUF_INC,
	[SCN_BUF_BUNDLE] = 0,
	[SCN_BUF_INC] = URT_FEAT_RECV_BUNDLE,
};

const char *scn_bufmode_name(uint32_t mode)
{
	static const char *const names[] = { "seed", "single", "bundle", "inc" };

	return mode < 4 ? names[mode] : "?";
}

void scn_knobs_bufs(const struct scn_opts *o, struct urt_runtime_opts *rt)
{
	static const uint32_t zc_min[] = { 0, 0, 1, 512, 4096 }; /* 0: never */
	struct scn_rng own;
	uint32_t mode;

	/* a generator of their own: the scenario's draws (its world) are what
	 * they were before these knobs, and the same whatever mode is forced */
	scn_rng_seed(&own, o->seed, "bufmode");
	mode = (uint32_t)scn_below(&own, 3) + SCN_BUF_SINGLE;
	if (o->bufmode >= SCN_BUF_SINGLE && o->bufmode <= SCN_BUF_INC)
		mode = o->bufmode;
	rt->features_off |= bufmode_off[mode];
	rt->send_zc_min = PICK(&own, zc_min);
}

void scn_knobs_str(char *buf, size_t n, const struct urt_sim_opts *sim,
		   const struct urt_runtime_opts *rt)
{
	uint32_t off = rt->features_off & (URT_FEAT_RECV_BUNDLE | URT_FEAT_BUF_INC);

	snprintf(buf, n,
		 "lat=%llu rcvbuf=%u short=%u%% ring=%u bufs=%ux%u squeue=%u slab=%d buf=%s zc=%u",
		 (unsigned long long)sim->max_latency_ns, sim->rcvbuf, sim->short_pct,
		 rt->ring_entries, rt->buf_count, rt->buf_size, rt->stream_queue, rt->slab != 0,
		 scn_bufmode_name(!off				? SCN_BUF_BUNDLE
				  : off == URT_FEAT_RECV_BUNDLE ? SCN_BUF_INC
								: SCN_BUF_SINGLE),
		 rt->send_zc_min);
}

/* --- the invariants after every event ------------------------------------------------ */

static __thread struct {
	bool armed;
	uint32_t op_records;
	size_t frame_cap;
	uint64_t checks;
	char why[256];
} watch;

static void watch_fail(struct urt_sim *sim, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void watch_fail(struct urt_sim *sim, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(watch.why, sizeof(watch.why), "invariant, after event %llu: %s",
		 (unsigned long long)urt_sim_events(sim), what);
	/* the run is wrong from here on: urt_run returns (a corrupt ring can
	 * keep a runtime busy for ever), and the scenario's checks and
	 * teardown follow */
	urt_stop(urt_runtime_current());
}

static void watch_check(struct urt_sim *sim, void *arg)
{
	struct urt_runtime *rt = urt_runtime_current();
	struct urt_runtime_stats st;
	uint32_t ready;

	(void)arg;
	if (!rt)
		return;
	if (watch.why[0]) { /* a urt_run begun since must stop too */
		urt_stop(rt);
		return;
	}
	watch.checks++;
	urt_runtime_stats(rt, &st);
	ready = urt_sim_bufs_ready(sim);
	if (ready > st.buf_count || ready > st.bufs_free)
		watch_fail(sim, "the ring holds %u buffers for the model: %zu free of %zu", ready,
			   st.bufs_free, st.buf_count);
	else if (st.bufs_free > st.buf_count)
		watch_fail(sim, "%zu buffers free of %zu", st.bufs_free, st.buf_count);
	else if (!(st.features & URT_FEAT_BUF_INC) && st.bufs_queued > st.buf_count - st.bufs_free)
		watch_fail(sim, "%zu buffers queued, %zu out of the ring", st.bufs_queued,
			   st.buf_count - st.bufs_free);
	else if (st.ops_high_water > watch.op_records || st.ops_live > st.ops_high_water)
		watch_fail(sim, "op records: %zu live, %zu at most, of %u", st.ops_live,
			   st.ops_high_water, watch.op_records);
	else if (st.slab_live > st.slab_capacity)
		watch_fail(sim, "slab: %zu slots live of %zu", st.slab_live, st.slab_capacity);
	else if (st.frame_high_water > watch.frame_cap)
		watch_fail(sim, "frame arena: %zu bytes of %zu", st.frame_high_water,
			   watch.frame_cap);
	else if (st.spill_bytes > st.spill_high_water)
		watch_fail(sim, "spill: %zu bytes, high water %zu", st.spill_bytes,
			   st.spill_high_water);
}

void scn_watch_arm(struct urt_sim_opts *sim, const struct urt_runtime_opts *rt)
{
	size_t frame = rt->frame_size ? rt->frame_size : 64 * 1024;

	watch.armed = true;
	watch.checks = 0;
	watch.why[0] = 0;
	/* the documented defaults (urt/runtime.h) */
	watch.op_records = rt->op_records ? rt->op_records : 262144;
	watch.frame_cap = rt->frame_cap ? rt->frame_cap : 16 * frame;
	sim->check = watch_check;
	sim->check_arg = NULL;
}

bool scn_watch_take(char *why)
{
	bool failed = watch.armed && watch.why[0];

	if (failed) { /* first: it names the event that broke it, the rest follows */
		char both[2 * 256 + 8];
		size_t n;

		n = (size_t)snprintf(both, sizeof(both), "%s%s%.255s", watch.why,
				     why[0] ? "; then " : "", why);
		n = n < 255 ? n : 255;
		memcpy(why, both, n);
		why[n] = 0;
	}
	watch.armed = false;
	return failed;
}

uint64_t scn_watch_checks(void)
{
	return watch.checks;
}

bool scn_fail(char *why, const char *fmt, ...)
{
	va_list ap;

	if (why[0])
		return false;
	va_start(ap, fmt);
	vsnprintf(why, 256, fmt, ap);
	va_end(ap);
	if (!why[0])
		why[0] = '?';
	return false;
}

bool scn_check_types(struct urt_runtime *rt, const struct urt_task_type *const *types, size_t n,
		     char *why)
{
	for (size_t i = 0; i <= n; i++) { /* the overflow entry (NULL) last */
		const struct urt_task_type *ty = i < n ? types[i] : NULL;
		struct urt_type_stats ts;

		if (urt_type_stats(rt, ty, &ts))
			continue; /* never spawned */
		if (ts.spawned != ts.completed + ts.aborted)
			return scn_fail(
				why, "type %s: spawned %llu != completed %llu + aborted %llu",
				ty ? ty->name : "(overflow)", (unsigned long long)ts.spawned,
				(unsigned long long)ts.completed, (unsigned long long)ts.aborted);
	}
	return true;
}

bool scn_check_clean(struct urt_runtime *rt, struct urt_sim *sim,
		     const struct urt_task_type *const *types, size_t ntypes, char *why)
{
	struct urt_runtime_stats st;
	uint64_t spawned;

	urt_runtime_stats(rt, &st);
	spawned = st.spawned_boxed + st.spawned_slab + st.spawned_claim + st.spawned_remote;
	if (st.live || st.active)
		return scn_fail(why, "tasks left: live %zu active %zu", st.live, st.active);
	if (spawned != st.completed + st.aborted || st.reclaimed != spawned)
		return scn_fail(why,
				"spawned %llu != completed %llu + aborted %llu, reclaimed %llu",
				(unsigned long long)spawned, (unsigned long long)st.completed,
				(unsigned long long)st.aborted, (unsigned long long)st.reclaimed);
	if (st.ops_live || st.ops_inflight || st.timers_live)
		return scn_fail(why, "left: op records %zu in flight %zu timers %zu", st.ops_live,
				st.ops_inflight, st.timers_live);
	if (st.bufs_free != st.buf_count || st.bufs_queued || st.spill_bytes)
		return scn_fail(why, "buffers out: free %zu of %zu, queued %zu, spill %zu",
				st.bufs_free, st.buf_count, st.bufs_queued, st.spill_bytes);
	if (st.stale_cqes)
		return scn_fail(why, "%llu stale completions", (unsigned long long)st.stale_cqes);
	if (urt_sim_stalls(sim))
		return scn_fail(why, "%llu stalls", (unsigned long long)urt_sim_stalls(sim));
	if (urt_sim_fds_open(sim))
		return scn_fail(why, "%u descriptors of the model left open",
				urt_sim_fds_open(sim));
	return scn_check_types(rt, types, ntypes, why);
}

bool scn_settle(struct urt_runtime *rt, char *why)
{
	struct urt_runtime_stats st;

	for (int i = 0; i < 1000; i++) {
		int ret;

		urt_runtime_stats(rt, &st);
		if (!st.ops_inflight)
			return true;
		ret = urt_tick(rt, URT_TICK_FOREVER);
		if (ret < 0)
			return scn_fail(why, "settling: urt_tick %d", ret);
	}
	return scn_fail(why, "settling: %zu operations still in flight after 1000 ticks",
			st.ops_inflight);
}

static bool echo_poll(struct urt_task *t, void *arg)
{
	struct scn_echo *c = arg;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, c->n = urt_recv_stream(t, &c->rx, c->fd, &c->buf));
		if (c->n <= 0)
			break;
		URT_AWAIT(t, c->n = urt_send_all(t, &c->tx, c->fd, c->buf.data, c->buf.len));
		URT_DISCARD(urt_buf_free(&c->buf));
		if (c->n < 0)
			break;
	}
	URT_AWAIT(t, c->n = urt_recv_stream_end(t, &c->rx, c->fd));
	if (c->done)
		(*c->done)++;
	URT_RETURN(t, 0);
	URT_END(t);
}

static void echo_drop(struct urt_task *t, void *arg)
{
	struct scn_echo *c = arg;

	(void)t;
	if (c->buf.live)
		URT_DISCARD(urt_buf_free(&c->buf));
	URT_DISCARD(urt_close_detached(c->fd));
	if (c->dropped)
		(*c->dropped)++;
}

const struct urt_task_type scn_echo_type = { .poll = echo_poll,
					     .drop = echo_drop,
					     .name = "echo-conn" };
