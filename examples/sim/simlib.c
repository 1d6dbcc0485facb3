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
}

void scn_knobs_str(char *buf, size_t n, const struct urt_sim_opts *sim,
		   const struct urt_runtime_opts *rt)
{
	snprintf(buf, n, "lat=%llu rcvbuf=%u short=%u%% ring=%u bufs=%ux%u squeue=%u slab=%d",
		 (unsigned long long)sim->max_latency_ns, sim->rcvbuf, sim->short_pct,
		 rt->ring_entries, rt->buf_count, rt->buf_size, rt->stream_queue, rt->slab != 0);
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
