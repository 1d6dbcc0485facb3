/* SPDX-License-Identifier: MIT */
/*
 * timer.c - sleeps and backoffs: a 4-ary min-heap in user space.
 *
 * Each entry is {deadline, seq, record index}, 16 bytes, kept in one array
 * so sifting touches few cache lines; the record keeps its heap position
 * (tm.hpos) so a cancel removes it in O(log n). Ordering is (deadline,
 * seq): equal deadlines fire in the order they were armed.
 *
 * Why a heap and not a wheel: the loop needs the nearest deadline for its
 * one io_uring_enter timeout, which the heap has at v[0]; a 4-ary heap of
 * 100,000 entries is 9 levels of one cache line each, and insertion at a
 * later deadline than most (the usual case: "now + timeout") sifts up
 * little. bench_io measures insert+fire per timer.
 *
 * No kernel object backs a timer: the wait in urt_tick carries the nearest
 * deadline as its timeout, and due timers fire after the completions.
 */
#include "io_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static inline bool before(const struct urt__tent *a, const struct urt__tent *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && (int32_t)(a->seq - b->seq) < 0);
}

static inline void place(struct urt_runtime *rt, uint32_t pos, struct urt__tent e)
{
	rt->timers.v[pos] = e;
	urt__rec_at(rt, e.idx)->tm.hpos = pos;
}

static void sift_up(struct urt_runtime *rt, uint32_t pos, struct urt__tent e)
{
	while (pos) {
		uint32_t parent = (pos - 1) / 4;

		if (!before(&e, &rt->timers.v[parent]))
			break;
		place(rt, pos, rt->timers.v[parent]);
		pos = parent;
	}
	place(rt, pos, e);
}

static void sift_down(struct urt_runtime *rt, uint32_t pos, struct urt__tent e)
{
	struct urt__tent *v = rt->timers.v;
	uint32_t n = rt->timers.n;

	for (;;) {
		uint32_t c = pos * 4 + 1, best = c;

		if (c >= n)
			break;
		for (uint32_t i = c + 1; i < c + 4 && i < n; i++)
			if (before(&v[i], &v[best]))
				best = i;
		if (!before(&v[best], &e))
			break;
		place(rt, pos, v[best]);
		pos = best;
	}
	place(rt, pos, e);
}

int urt__timer_reserve(struct urt_runtime *rt)
{
	if (rt->timers.n == rt->timers.cap) {
		uint32_t cap = rt->timers.cap ? rt->timers.cap * 2 : 256;
		struct urt__tent *v = rt->al.alloc(rt->al.ctx, cap * sizeof(*v), 16);

		if (!v)
			return -ENOMEM;
		if (rt->timers.n)
			memcpy(v, rt->timers.v, rt->timers.n * sizeof(*v));
		if (rt->timers.v)
			rt->al.free(rt->al.ctx, rt->timers.v, rt->timers.cap * sizeof(*v), 16);
		rt->timers.v = v;
		rt->timers.cap = cap;
	}
	return 0;
}

int urt__timer_add(struct urt_runtime *rt, uint32_t idx, uint64_t deadline)
{
	struct urt__rec *r = urt__rec_at(rt, idx);
	int ret = urt__timer_reserve(rt);

	if (ret)
		return ret;
	r->tm.deadline = deadline;
	sift_up(rt, rt->timers.n++,
		(struct urt__tent){ .deadline = deadline, .seq = rt->timers.seq++, .idx = idx });
	return 0;
}

void urt__timer_del(struct urt_runtime *rt, struct urt__rec *r)
{
	uint32_t pos = r->tm.hpos;
	struct urt__tent last;

	URT_ASSERT(pos < rt->timers.n && urt__rec_at(rt, rt->timers.v[pos].idx) == r,
		   "timer not in the heap");
	last = rt->timers.v[--rt->timers.n];
	if (pos == rt->timers.n)
		return;
	if (pos && before(&last, &rt->timers.v[(pos - 1) / 4]))
		sift_up(rt, pos, last);
	else
		sift_down(rt, pos, last);
}

unsigned urt__timers_fire(struct urt_runtime *rt, uint64_t now)
{
	unsigned n = 0;

	while (rt->timers.n && rt->timers.v[0].deadline <= now) {
		uint32_t idx = rt->timers.v[0].idx;
		struct urt__rec *r = urt__rec_at(rt, idx);

		urt__timer_del(rt, r);
		n++;
		if (r->kind == URT__REC_TIMER) {
			r->op->res = 0;
			r->op->flags = 0;
			r->op->state = URT_OP_DONE;
			r->op->rec = 0;
			urt__rec_done(rt, idx);
		} else if (r->kind == URT__REC_OP) {
			urt__zc_timer(rt, idx, r);
		} else { /* a stream's backoff is over: res 0 makes the await re-arm */
			r->rfl &= (uint8_t)~URT__RF_BACKOFF;
			r->res = 0;
			urt_task_wake(r->task);
		}
	}
	rt->stats.timers_fired += n;
	return n;
}

void urt__timers_deinit(struct urt_runtime *rt)
{
	if (rt->timers.v)
		rt->al.free(rt->al.ctx, rt->timers.v, rt->timers.cap * sizeof(*rt->timers.v), 16);
	memset(&rt->timers, 0, sizeof(rt->timers));
}

int urt_sleep_until(struct urt_task *t, struct urt_op *op, uint64_t deadline_ns)
{
	struct urt_runtime *rt = urt__rt;
	int64_t idx;
	int ret;

	switch (op->state) {
	case URT_OP_INFLIGHT:
		return URT_PENDING;
	case URT_OP_DONE:
		op->state = URT_OP_IDLE;
		return op->res;
	case URT_OP_STREAM:
		return -EBUSY;
	default:
		break;
	}
	if (!rt)
		return -ESRCH;
	if (!t || t != rt->polling)
		return -EBUSY;
	idx = urt__rec_alloc(rt, URT__REC_TIMER);
	if (idx < 0)
		return (int)idx;
	ret = urt__timer_add(rt, (uint32_t)idx, deadline_ns);
	if (ret) {
		urt__rec_free(rt, (uint32_t)idx);
		return ret;
	}
	urt__rec_at(rt, (uint32_t)idx)->op = op;
	urt__rec_link(rt, t, (uint32_t)idx);
	op->state = URT_OP_INFLIGHT;
	op->rec = (uint32_t)idx;
	op->gen = urt__rec_at(rt, (uint32_t)idx)->gen;
	op->flags = 0;
	return URT_PENDING;
}

int urt_sleep(struct urt_task *t, struct urt_op *op, uint64_t timeout_ns)
{
	uint64_t now;

	if (op->state != URT_OP_IDLE)
		return urt_sleep_until(t, op, 0);
	now = urt_now_ns();

	/* saturate: a timeout past the end of time is "never", not the past */
	return urt_sleep_until(t, op, timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns);
}
