/* SPDX-License-Identifier: MIT */
/*
 * sweep.c - ring chunks of streams that are not read go to spill memory.
 *
 * Received bytes sit in the shared provided-buffer ring until their task
 * reads them; a task that does not read would hold ring buffers every other
 * connection needs. The policy is bufring.c's (see "Fairness across
 * streams" there); this file keeps its list: every receive stream that may
 * hold ring chunks is on bufs.pins (by record and generation, so an ended
 * stream whose record serves another is skipped), and the loop calls
 * urt__bufs_sweep once a tick, after the polls, while queued ring buffers
 * are at pin_max or more. Each idle stream's ring chunks are copied to
 * spill memory in place and their buffers given back; a stream that runs
 * out of spill memory is paused until it is read.
 */
#include "io_internal.h"

#include <string.h>

/* Whether r has a chunk queued in the ring (not in spill memory). */
static bool stream_pins(struct urt_runtime *rt, const struct urt__rec *r)
{
	for (uint32_t c = r->tm.qhead; c; c = urt__rec_at(rt, c)->next) {
		const struct urt__rec *ch = urt__rec_at(rt, c);

		for (unsigned i = ch->rfl; i < (unsigned)ch->rfl + ch->ncqe; i++)
			if (urt__ent_in_ring(&ch->ent[i]))
				return true;
	}
	return false;
}

/* Drop from bufs.pins the streams that hold no ring chunk now. */
static void pins_compact(struct urt_runtime *rt)
{
	uint32_t w = 0;

	for (uint32_t i = 0; i < rt->bufs.npins; i++) {
		struct urt__pin p = rt->bufs.pins[i];
		struct urt__rec *r = urt__rec_at(rt, p.idx);

		if (r->gen != p.gen || r->kind != URT__REC_RECV)
			continue; /* ended; the record may serve another now */
		if (!stream_pins(rt, r)) {
			r->tm.pinned = 0;
			continue;
		}
		rt->bufs.pins[w++] = p;
	}
	rt->bufs.npins = w;
}

/* Double bufs.pins. Return: false if the allocator failed (the list as it
 * was). */
static bool pins_grow(struct urt_runtime *rt)
{
	uint32_t cap = rt->bufs.pins_cap * 2;
	struct urt__pin *v = rt->al.alloc(rt->al.ctx, cap * sizeof(*v), 8);

	if (!v)
		return false;
	memcpy(v, rt->bufs.pins, rt->bufs.npins * sizeof(*v));
	rt->al.free(rt->al.ctx, rt->bufs.pins, rt->bufs.pins_cap * sizeof(*v), 8);
	rt->bufs.pins = v;
	rt->bufs.pins_cap = cap;
	return true;
}

/*
 * Stream r (record idx), not on the sweep's list, queued a ring chunk: put
 * it there (urt__pins_track checks "not on it" inline). A list that is full
 * after compaction and cannot grow leaves r off it: the low mark still
 * bounds it. One that compaction left room in takes r even if its
 * doubling fails (the doubling is for the next adds, not this one).
 *
 * The list is made at init with room for 2 * buf_count streams
 * (bufring.c, 16 bytes a ring buffer). A full list is compacted first
 * (ended streams and those holding no ring chunk leave it) and doubles
 * only if more than half of it is left, so it grows only when more
 * streams than there are ring buffers hold ring chunks at once: possible
 * only with buffers filled in part (a buffer holds pieces of several
 * streams). It used to start at 64 entries and double on demand: under
 * 1,000 busy connections each doubling (an alloc and a free) came
 * whenever a burst first had more streams queued than ever, late into
 * steady state (traced in echo-bench's 1,000-connection windows,
 * docs/benchmarks.md).
 */
void urt__pins_add(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx)
{
	if (rt->bufs.npins == rt->bufs.pins_cap) {
		pins_compact(rt);
		/* the doubling is for the adds to come: where it fails, room
		 * the compaction made still takes r */
		if (rt->bufs.npins > rt->bufs.pins_cap / 2 && !pins_grow(rt) &&
		    rt->bufs.npins == rt->bufs.pins_cap)
			return;
	}
	rt->bufs.pins[rt->bufs.npins++] = (struct urt__pin){ idx, r->gen };
	r->tm.pinned = (uint32_t)rt->stats.ticks | 1u;
}

/* Move r's ring chunks to spill memory, in place. Return: false if spill
 * memory ran out (r is paused: nothing more comes until it is read). */
static bool stream_evict(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx)
{
	for (uint32_t c = r->tm.qhead; c; c = urt__rec_at(rt, c)->next) {
		struct urt__rec *ch = urt__rec_at(rt, c);

		for (unsigned i = ch->rfl; i < (unsigned)ch->rfl + ch->ncqe; i++) {
			struct urt__cqent *e = &ch->ent[i];
			int id;

			if (!urt__ent_in_ring(e))
				continue;
			id = urt__spill_get(rt);
			if (id < 0) {
				urt__stream_pause(rt, r, idx);
				return false;
			}
			memcpy(rt->bufs.spill.blk[id], urt__ent_data(rt, e), (size_t)e->res);
			urt__buf_release(rt, urt__ent_id(e));
			rt->bufs.queued--;
			rt->stats.recv_spilled += (uint64_t)e->res;
			e->flags = URT__SPILL_ENT | (uint32_t)id;
		}
	}
	return true;
}

void urt__bufs_sweep(struct urt_runtime *rt)
{
	uint32_t w = 0;

	for (uint32_t i = 0; i < rt->bufs.npins; i++) {
		struct urt__pin p = rt->bufs.pins[i];
		struct urt__rec *r = urt__rec_at(rt, p.idx);

		if (r->gen != p.gen || r->kind != URT__REC_RECV)
			continue;
		if ((urt__stream_idle(rt, r) && stream_evict(rt, r, p.idx)) || !stream_pins(rt, r)) {
			r->tm.pinned = 0;
			continue;
		}
		rt->bufs.pins[w++] = p;
	}
	rt->bufs.npins = w;
}
