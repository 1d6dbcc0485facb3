/* SPDX-License-Identifier: MIT */
/*
 * op.c - op records and the one path every completion takes.
 *
 * An op record (struct urt__rec, io_internal.h) is the runtime's half of a
 * live operation; the task's half is the handle, struct urt_op, in its
 * state. Records come from pages of 64 (4 KiB), addressed by a 31-bit
 * index, so a completion's user_data (generation, index, tag) finds its
 * record with two loads and no pointer the kernel could hand back stale.
 * Records are never returned to the allocator before deinit; the pool grows
 * a page at a time up to opts.op_records.
 *
 * States of a single-shot record (kind OP):
 *
 *   begin --> (SQE prepared) --commit--> in flight (ncqe = 1, or 2 with a
 *   linked timeout) --each final CQE: ncqe-- --> 0: result into the handle,
 *   handle DONE, record freed, task woken.
 *
 * Streams (RECV, ACCEPT) keep their record while armed: each CQE is queued
 * in chunk records (4 entries each) and the task woken; the CQE without
 * IORING_CQE_F_MORE ends the kernel's part (RF_ENDED, ncqe = 0). The await
 * (net.c) pops the queue and re-arms, backs off or ends.
 *
 * Lifetimes: a record lists on its task (t->ops, doubly linked by index),
 * so the reclaim rule (t->ops == 0) holds the slot, and every buffer the
 * state names, until the kernel has posted every final CQE. A task whose
 * poll is over is DRAINING: its kernel ops are cancelled, each record is
 * freed as soon as the kernel is done with it, and when the last one goes
 * the task is queued so the run loop runs its drop.
 *
 * The seam: urt__cqe_dispatch is the only place a completion is applied.
 * Test builds (URT_FAULTS) route every submission and completion through a
 * hook there (urt/fault.h); release builds compile the hook out.
 */
#include "io_internal.h"

#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* --- the pool ----------------------------------------------------------- */

int urt__ops_init(struct urt_runtime *rt, uint32_t max)
{
	rt->ops.max = max ? max : 262144;
	if (rt->ops.max > (1u << 30))
		return -EINVAL;
	rt->ops.made = 1; /* index 0 is "none" */
	return 0;
}

void urt__ops_deinit(struct urt_runtime *rt)
{
	for (uint32_t i = 0; i < rt->ops.npages; i++)
		rt->al.free(rt->al.ctx, rt->ops.pages[i], URT__REC_PAGE * sizeof(struct urt__rec),
			    64);
	if (rt->ops.pages)
		rt->al.free(rt->al.ctx, rt->ops.pages, rt->ops.pages_cap * sizeof(void *),
			    _Alignof(void *));
	memset(&rt->ops, 0, sizeof(rt->ops));
}

static int grow(struct urt_runtime *rt)
{
	struct urt__rec *page;

	if (rt->ops.npages == rt->ops.pages_cap) {
		uint32_t cap = rt->ops.pages_cap ? rt->ops.pages_cap * 2 : 16;
		struct urt__rec **p =
			rt->al.alloc(rt->al.ctx, cap * sizeof(void *), _Alignof(void *));

		if (!p)
			return -ENOMEM;
		if (rt->ops.npages)
			memcpy(p, rt->ops.pages, rt->ops.npages * sizeof(void *));
		if (rt->ops.pages)
			rt->al.free(rt->al.ctx, rt->ops.pages, rt->ops.pages_cap * sizeof(void *),
				    _Alignof(void *));
		rt->ops.pages = p;
		rt->ops.pages_cap = cap;
	}
	page = rt->al.alloc(rt->al.ctx, URT__REC_PAGE * sizeof(struct urt__rec), 64);
	if (!page)
		return -ENOMEM;
	memset(page, 0, URT__REC_PAGE * sizeof(struct urt__rec));
	rt->ops.pages[rt->ops.npages++] = page;
	return 0;
}

/*
 * A record never used before, carved from the last page (grown if full).
 * Out of line, so the common allocation (a freelist pop) saves no
 * registers for a path it does not take. Return: index; -ENOMEM.
 */
static __attribute__((noinline, cold)) int64_t rec_carve(struct urt_runtime *rt)
{
	uint32_t idx = rt->ops.made;

	if (idx >> URT__REC_PAGE_SHIFT >= rt->ops.npages) {
		int ret = grow(rt);

		if (ret)
			return ret;
	}
	rt->ops.made++;
	return idx;
}

int64_t urt__rec_alloc(struct urt_runtime *rt, uint8_t kind)
{
	struct urt__rec *r;
	uint32_t idx = rt->ops.free;

#ifdef URT_FAULTS
	if (URT_UNLIKELY(rt->fault && rt->fault->record && rt->fault->record(rt->fault->ctx)))
		return -ENOMEM;
#endif
	/* only chunks (queued completions) may pass the limit */
	if (URT_UNLIKELY(rt->ops.live >= rt->ops.max) && kind != URT__REC_CHUNK)
		return -EAGAIN;
	if (URT_LIKELY(idx)) {
		r = urt__rec_at(rt, idx);
		rt->ops.free = r->next;
	} else {
		int64_t ret = rec_carve(rt);

		if (ret < 0)
			return ret;
		idx = (uint32_t)ret;
		r = urt__rec_at(rt, idx);
	}
	urt__unpoison(r, sizeof(*r));
	r->task = NULL;
	r->op = NULL;
	r->gen = r->gen + 1 ? r->gen + 1 : 1;
	r->next = r->prev = 0;
	r->kind = kind;
	r->opcode = 0;
	r->ncqe = 0;
	r->rfl = 0;
	r->res = 0;
	r->cflags = 0;
	r->tm.qhead = 0;
	r->snext = 0;
	r->fd = -1;
	if (++rt->ops.live > rt->stats.ops_high_water)
		rt->stats.ops_high_water = rt->ops.live;
	return idx;
}

void urt__rec_free(struct urt_runtime *rt, uint32_t idx)
{
	struct urt__rec *r = urt__rec_at(rt, idx);
	uint32_t gen = r->gen;

	URT_ASSERT(r->kind != URT__REC_FREE, "op record freed twice");
	r->kind = URT__REC_FREE;
	r->next = rt->ops.free;
	rt->ops.free = idx;
	rt->ops.live--;
	/* poison all but the freelist link, kind and generation */
	urt__poison(&r->task, sizeof(r->task) + sizeof(r->op), URT_POISON_POOL);
	urt__poison(&r->res, sizeof(*r) - offsetof(struct urt__rec, res), URT_POISON_POOL);
	(void)gen;
}

/* --- the task's list ------------------------------------------------------ */

void urt__rec_link(struct urt_runtime *rt, struct urt_task *t, uint32_t idx)
{
	struct urt__rec *r = urt__rec_at(rt, idx);

	r->task = t;
	r->prev = 0;
	r->next = t->ops;
	if (t->ops)
		urt__rec_at(rt, t->ops)->prev = idx;
	t->ops = idx;
}

void urt__rec_unlink(struct urt_runtime *rt, uint32_t idx)
{
	struct urt__rec *r = urt__rec_at(rt, idx);
	struct urt_task *t = r->task;

	if (!t)
		return;
	if (r->prev)
		urt__rec_at(rt, r->prev)->next = r->next;
	else
		t->ops = r->next;
	if (r->next)
		urt__rec_at(rt, r->next)->prev = r->prev;
	r->next = r->prev = 0;
}

void urt__rec_done(struct urt_runtime *rt, uint32_t idx)
{
	struct urt__rec *r = urt__rec_at(rt, idx);
	struct urt_task *t = r->task;

	urt__rec_unlink(rt, idx);
	urt__rec_free(rt, idx);
	if (!t)
		return;
	if (!(t->flags & URT_TASK_DRAINING))
		urt_task_wake(t);
	else if (!t->ops)
		urt_task_wake(t); /* the run loop finishes a DRAINING task with no ops */
}

/* --- submitting ------------------------------------------------------------- */

static bool in_frame(struct urt_runtime *rt, const void *buf)
{
	const struct urt_arena *a = &rt->frame;

	/* nothing allocated this frame in the first chunk: nothing to find */
	return buf && a->head && urt_arena_contains(a, buf);
}

bool urt__user_mem_refused(const void *buf, size_t len)
{
	if (URT_UNLIKELY(urt__rt && in_frame(urt__rt, buf)))
		return true;
#ifdef URT_ASAN
	if (buf && len && __asan_region_is_poisoned((void *)(uintptr_t)buf, len))
		return true;
#else
	(void)len;
#endif
	return false;
}

int urt__op_begin(struct urt_task *t, struct urt_op *op, const void *buf, size_t len,
		  struct urt__sub *s)
{
	struct urt_runtime *rt = urt__rt;
	int64_t idx;

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
	if (URT_UNLIKELY(!rt))
		return -ESRCH;
	if (URT_UNLIKELY(!t || t != rt->polling))
		return -EBUSY;
	if (URT_UNLIKELY(urt__user_mem_refused(buf, len)))
		return -EFAULT;
	idx = urt__rec_alloc(rt, URT__REC_OP);
	if (URT_UNLIKELY(idx < 0))
		return (int)idx;
	urt__sq_reserve(rt, op->timeout_ns ? 2 : 1);
	s->rt = rt;
	s->idx = (uint32_t)idx;
	s->r = urt__rec_at(rt, (uint32_t)idx);
	s->r->op = op;
	s->sqe = io_uring_get_sqe(urt__ring(rt));
	urt__rec_link(rt, t, (uint32_t)idx);
	return URT__SUBMIT;
}

/* Test builds: the submission side of the seam. */
static inline void fault_submit(struct urt_runtime *rt, struct urt__rec *r,
				struct io_uring_sqe *sqe)
{
#ifdef URT_FAULTS
	if (URT_UNLIKELY(rt->fault && rt->fault->submit)) {
		uint32_t len = sqe->len;
		int f = rt->fault->submit(rt->fault->ctx, sqe->opcode, &len);

		if (f < 0) { /* the kernel never sees it: a no-op carries the error */
			uint64_t ud = sqe->user_data;
			uint8_t flags = sqe->flags;

			io_uring_prep_nop(sqe);
			sqe->user_data = ud;
			sqe->flags = flags;
			r->rfl |= URT__RF_FORCED;
			r->res = f;
		} else if (len < sqe->len) {
			sqe->len = len;
		}
	}
#else
	(void)rt, (void)r, (void)sqe;
#endif
}

void urt__sqe_commit(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx,
		     struct io_uring_sqe *sqe)
{
	r->opcode = sqe->opcode;
	io_uring_sqe_set_data64(sqe, urt__ud(r, idx, 0));
	fault_submit(rt, r, sqe);
	r->ncqe = 1;
	rt->ring_pending++;
	rt->ring_inflight++;
	rt->stats.ops_submitted++;
}

int urt__op_commit(struct urt_op *op, struct urt__sub *s)
{
	struct urt_runtime *rt = s->rt;
	struct urt__rec *r = s->r;

	urt__sqe_commit(rt, r, s->idx, s->sqe);
	if (op->timeout_ns) {
		struct io_uring_sqe *lt = io_uring_get_sqe(urt__ring(rt)); /* reserved */

		r->ts.tv_sec = (long long)(op->timeout_ns / 1000000000u);
		r->ts.tv_nsec = (long long)(op->timeout_ns % 1000000000u);
		s->sqe->flags |= IOSQE_IO_LINK;
		io_uring_prep_link_timeout(lt, &r->ts, 0);
		io_uring_sqe_set_data64(lt, urt__ud(r, s->idx, 1));
		r->ncqe = 2;
		rt->ring_pending++;
		rt->ring_inflight++;
	}
	op->state = URT_OP_INFLIGHT;
	op->rec = s->idx;
	op->gen = r->gen;
	op->flags = 0;
	return URT_PENDING;
}

/* --- completing --------------------------------------------------------------- */

static void send_cancel(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx);

/* Stop a receive stream's kernel side; the data stays in the socket and
 * the await that finds the queue drained re-arms it (net.c). */
static void stream_pause(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx)
{
	if (r->rfl & (URT__RF_CANCELLING | URT__RF_ENDED))
		return; /* ending already */
	send_cancel(rt, r, idx);
	r->rfl |= URT__RF_PAUSED;
	rt->stats.stream_pauses++;
}

/* Chunk records queued on a stream (a few: the queue is bounded). */
static uint32_t stream_chunks(struct urt_runtime *rt, const struct urt__rec *r)
{
	uint32_t n = 0;

	for (uint32_t c = r->tm.qhead; c; c = urt__rec_at(rt, c)->next)
		n++;
	return n;
}

/*
 * Queue a stream completion; a receive stream whose queue reached its
 * bound is paused (see bufring.c). Return: false if no chunk could be had.
 */
static bool stream_push(struct urt_runtime *rt, struct urt__rec *r, uint32_t ridx, int32_t res,
			uint32_t flags)
{
	struct urt__rec *c = r->cflags ? urt__rec_at(rt, r->cflags) : NULL;

	if (!c || c->rfl + c->ncqe == URT__CHUNK_ENTS) {
		int64_t idx;

		if (r->kind == URT__REC_RECV && c && stream_chunks(rt, r) >= rt->bufs.max_chunks)
			stream_pause(rt, r, ridx);
		idx = urt__rec_alloc(rt, URT__REC_CHUNK);
		if (idx < 0)
			return false;
		if (c)
			c->next = (uint32_t)idx;
		else
			r->tm.qhead = (uint32_t)idx;
		r->cflags = (uint32_t)idx;
		c = urt__rec_at(rt, (uint32_t)idx);
		c->next = 0;
	}
	c->ent[c->rfl + c->ncqe++] = (struct urt__cqent){ res, flags };
	return true;
}

/* What a queued completion holds goes back: a buffer, a descriptor. */
static void cqent_drop(struct urt_runtime *rt, uint8_t kind, const struct urt__cqent *e)
{
	if (kind == URT__REC_RECV) {
		if (urt__ent_in_ring(e))
			rt->bufs.queued--;
		urt__buf_release(rt, urt__ent_id(e));
	}
	else if (e->res >= 0)
		close(e->res);
}

void urt__stream_flush(struct urt_runtime *rt, struct urt__rec *r)
{
	uint32_t c = r->tm.qhead;

	while (c) {
		struct urt__rec *ch = urt__rec_at(rt, c);
		uint32_t next = ch->next;

		for (unsigned i = ch->rfl; i < (unsigned)ch->rfl + ch->ncqe; i++)
			cqent_drop(rt, r->kind, &ch->ent[i]);
		urt__rec_free(rt, c);
		c = next;
	}
	r->tm.qhead = r->cflags = 0;
}

/* --- the sweep: ring chunks of streams that are not read ------------------- */

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

/*
 * Stream r (record idx) queued a ring chunk: on the sweep's list, once.
 * A list that cannot grow leaves r off it: the low mark still bounds it.
 */
static void pins_track(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx)
{
	struct urt_runtime *t = rt; /* short lines below */

	if (r->tm.pinned)
		return;
	if (t->bufs.npins == t->bufs.pins_cap) {
		uint32_t cap = t->bufs.pins_cap ? t->bufs.pins_cap * 2 : 64;
		struct urt__pin *v;

		pins_compact(t);
		if (t->bufs.npins > t->bufs.pins_cap / 2 || !t->bufs.pins_cap) {
			v = t->al.alloc(t->al.ctx, cap * sizeof(*v), 8);
			if (!v)
				return;
			if (t->bufs.pins_cap) {
				memcpy(v, t->bufs.pins, t->bufs.npins * sizeof(*v));
				t->al.free(t->al.ctx, t->bufs.pins, t->bufs.pins_cap * sizeof(*v), 8);
			}
			t->bufs.pins = v;
			t->bufs.pins_cap = cap;
		}
	}
	t->bufs.pins[t->bufs.npins++] = (struct urt__pin){ idx, r->gen };
	r->tm.pinned = (uint32_t)t->stats.ticks | 1u;
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
				stream_pause(rt, r, idx);
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

/*
 * Ring entry e arrived while the ring is tight: copy it to spill memory,
 * queued on r (see bufring.c). Return: true if e is dealt with (*ok false
 * if its copy could not be queued); false to queue e in the ring after all
 * (no spill memory).
 */
static bool recv_spill(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx,
		       struct urt__cqent *e, bool *ok)
{
	struct urt__rec *c = r->cflags ? urt__rec_at(rt, r->cflags) : NULL;
	struct urt__cqent *last = c && c->ncqe ? &c->ent[c->rfl + c->ncqe - 1] : NULL;

	if (!urt__bufs_spill(rt, last, e))
		return false;
	if (e->res && !stream_push(rt, r, idx, e->res, e->flags)) {
		urt__buf_release(rt, urt__ent_id(e));
		*ok = false;
	}
	return true;
}

/*
 * Queue a receive completion's buffers, one entry each. Return: false if
 * no chunk could be had (what was not queued has been given back).
 */
static bool recv_push(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx, int32_t shown,
		      int32_t kres, uint32_t kflags)
{
	/* known not to be reading, while the ring is under pressure */
	bool idle = urt__stream_idle(rt, r) && rt->bufs.queued >= rt->bufs.pin_max;
	struct urt__bufs_it it;
	struct urt__cqent e;
	bool ok = true;

	urt__bufs_take(rt, &it, kres, kflags, shown);
	while (urt__bufs_next(rt, &it, &e)) {
		bool spill = ok && e.res && (idle || rt->bufs.avail < rt->bufs.low);

		if (spill && recv_spill(rt, r, idx, &e, &ok))
			continue;
		if (ok && e.res && stream_push(rt, r, idx, e.res, e.flags)) {
			rt->bufs.queued++;
			pins_track(rt, r, idx);
			if (spill) /* no spill memory: no more of it until it is read */
				stream_pause(rt, r, idx);
			continue;
		}
		urt__buf_release(rt, urt__ent_id(&e));
		if (e.res) /* not a chunk the fault seam emptied: no memory */
			ok = false;
	}
	return ok;
}

/*
 * A stream's CQE: res and flags as the task will see them, kres and kflags
 * as the kernel posted them (they differ only under the fault seam). While
 * armed r->res is 0, or -ENOMEM once a completion could not be queued:
 * that becomes the stream's end.
 */
static void stream_cqe(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r, int32_t res,
		       uint32_t flags, int32_t kres, uint32_t kflags)
{
	bool more = flags & IORING_CQE_F_MORE;
	bool data = r->kind == URT__REC_RECV ? res > 0 : res >= 0;
	struct urt_task *t = r->task;
	bool draining = t->flags & URT_TASK_DRAINING;
	bool relimit = false, queued = true;

	if (r->kind == URT__REC_RECV && !rt->bufs.no_limit) {
		if (data) {
			rt->stats.features |= URT_FEAT_RECV_LIMIT;
		} else if (res == -EINVAL && !more) {
			/* a kernel without the per-arm byte limit: arm without it,
			 * and without bundles (one could take the whole ring) */
			rt->bufs.no_limit = true;
			rt->stats.features &= ~URT_FEAT_RECV_BUNDLE;
			res = 0; /* ended with nothing: the await re-arms */
			relimit = true;
		}
	}
	if (!more) {
		r->ncqe = 0;
		rt->ring_inflight--;
		rt->stats.ops_completed++;
		r->rfl |= URT__RF_ENDED;
		r->res = r->res ? r->res : data ? 0 : res; /* a sticky -ENOMEM stays */
		if (r->kind == URT__REC_RECV && res == 0 && !relimit)
			r->rfl |= URT__RF_EOF;
		if (res == -ENOBUFS)
			rt->stats.enobufs++;
	}
	if (r->kind == URT__REC_RECV) {
		if (kflags & IORING_CQE_F_BUFFER) {
			if (data && !draining)
				queued = recv_push(rt, r, idx, res, kres, kflags);
			else
				urt__bufs_drop(rt, kres, kflags);
		}
	} else if (data && draining) {
		close(res);
	} else if (data && !stream_push(rt, r, idx, res, flags)) {
		close(res);
		queued = false;
	}
	if (!queued) {
		/* no memory to queue it: end the stream with -ENOMEM */
		r->res = -ENOMEM;
		if (more && !(r->rfl & URT__RF_CANCELLING))
			send_cancel(rt, r, idx);
	}
	if (!more && draining) {
		urt__stream_flush(rt, r);
		r->op->state = URT_OP_IDLE;
		r->op->rec = 0;
		urt__rec_done(rt, idx);
		return;
	}
	urt_task_wake(t);
}

/*
 * Zero-copy sends. The bytes stay the kernel's until the peer has
 * acknowledged them, however long that takes: a peer that stops reading
 * holds them for ever, and with them the await, the task's drop and deinit
 * (the lifetime rules wait for the notification). When nobody waits for
 * the bytes any more (urt_op_cancel or the deadline while the notification
 * is awaited, the task ended and a grace period passed, deinit), the
 * runtime resets the connection: connect with AF_UNSPEC makes TCP throw
 * away what it has not sent, and the notification follows at once. The
 * stream is broken by then anyway (part of a send may have gone out).
 * A descriptor number may name another socket by then (the program closed
 * it): the socket's cookie, taken at submit, is checked first, and a
 * socket that is gone is left alone (the kernel lets go of the bytes when
 * TCP gives up on it).
 */
#define ZC_GRACE_NS (500ull * 1000 * 1000) /* a task that ended: the peer's chance to ack */

uint32_t urt__sock_cookie(int fd)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len))
		return 0;
	return (uint32_t)c ? (uint32_t)c : 1;
}

static void zc_reset(struct urt_runtime *rt, struct urt__rec *r)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };

	if (r->rfl & URT__RF_ZC_RESET)
		return;
	r->rfl |= URT__RF_ZC_RESET;
	if (!r->cookie || urt__sock_cookie(r->fd) != r->cookie)
		return; /* not the socket it was any more */
	rt->stats.send_zc_resets++;
	(void)connect(r->fd, &sa, sizeof(sa));
}

/* (Re)arm the zero-copy timer of record idx no later than deadline. */
static void zc_arm(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r, uint64_t deadline)
{
	if (r->rfl & URT__RF_ZC_TIMER) {
		if (r->tm.deadline <= deadline)
			return;
		urt__timer_del(rt, r);
		r->rfl &= (uint8_t)~URT__RF_ZC_TIMER;
	}
	if (urt__timer_add(rt, idx, deadline))
		zc_reset(rt, r); /* no memory for a timer: do not wait */
	else
		r->rfl |= URT__RF_ZC_TIMER;
}

/* The task ended while the notification is awaited: a grace period, then a reset. */
static void zc_abandon(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r)
{
	zc_arm(rt, idx, r, urt_now_ns() + ZC_GRACE_NS);
}

void urt__zc_timer(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r)
{
	r->rfl &= (uint8_t)~URT__RF_ZC_TIMER;
	if (r->task->flags & URT_TASK_DRAINING) { /* the grace period is over */
		if (r->rfl & URT__RF_ZC_WAIT)
			zc_reset(rt, r);
		return;
	}
	/* the deadline: like a linked timeout, the operation ends with
	 * -ECANCELED (the send's own result, if it came first and was short) */
	r->rfl |= URT__RF_TIMED_OUT;
	if (r->rfl & URT__RF_ZC_WAIT) {
		r->res = -ECANCELED;
		zc_reset(rt, r);
	} else if (!(r->rfl & URT__RF_CANCELLING)) {
		send_cancel(rt, r, idx);
	}
}

static void single_cqe(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r, unsigned tag,
		       int32_t res, uint32_t flags)
{
	struct urt_op *op;

	if (tag) { /* the linked timeout */
		if (res == -ETIME)
			r->rfl |= URT__RF_TIMED_OUT;
	} else if (flags & IORING_CQE_F_NOTIF) {
		/* a zero-copy send's last word: the kernel is done with the
		 * bytes (its result came before, with IORING_CQE_F_MORE) */
		rt->stats.send_zc++;
		if ((uint32_t)res & IORING_NOTIF_USAGE_ZC_COPIED)
			rt->stats.send_zc_copied++;
		if (r->rfl & URT__RF_ZC_WAIT)
			rt->ops.zc_wait--;
	} else {
		if (!(r->rfl & URT__RF_FORCED)) {
			r->res = res;
			r->cflags = flags & ~(uint32_t)IORING_CQE_F_MORE;
		}
		if (flags & IORING_CQE_F_MORE) {
			/* a zero-copy send: the bytes are the kernel's until the notification */
			r->rfl |= URT__RF_ZC_WAIT;
			rt->ops.zc_wait++;
			if (r->task->flags & URT_TASK_DRAINING)
				zc_abandon(rt, idx, r);
			else if ((r->rfl & URT__RF_CANCELLING) && res > 0) {
				/* cancelled (deadline, urt_op_cancel) after part went
				 * out: nobody waits for the rest; the reset breaks the
				 * stream, so the count is moot */
				r->res = -ECANCELED;
				zc_reset(rt, r);
			}
			return;
		}
	}
	rt->ring_inflight--;
	if (--r->ncqe)
		return;
	if (r->rfl & URT__RF_ZC_TIMER)
		urt__timer_del(rt, r);
	rt->stats.ops_completed++;
	op = r->op; /* in the task's state, valid until reclaim (draining too) */
	op->res = r->res;
	op->cflags = r->cflags;
	op->flags = (r->rfl & URT__RF_TIMED_OUT) ? URT_OPF_TIMED_OUT : 0;
	op->state = URT_OP_DONE;
	op->rec = 0;
	urt__rec_done(rt, idx);
}

void urt__cqe_dispatch(struct urt_runtime *rt, uint64_t ud, int32_t res, uint32_t flags)
{
	uint32_t idx = (uint32_t)ud >> 1;
	int32_t kres = res;
	uint32_t kflags = flags;
	struct urt__rec *r;

	rt->stats.cqes++;
	if (ud < (1ull << 32)) {
		if (ud == URT__UD_EVENTFD)
			rt->efd_armed = false; /* re-armed before the next park */
		else
			rt->ring_inflight--;
		return;
	}
	if (URT_UNLIKELY(idx == 0 || idx >= rt->ops.made ||
			 (r = urt__rec_at(rt, idx))->gen != (uint32_t)(ud >> 32) ||
			 r->kind == URT__REC_FREE || r->kind == URT__REC_CHUNK ||
			 r->kind == URT__REC_TIMER)) {
		rt->stats.stale_cqes++;
		if (!(flags & IORING_CQE_F_MORE)) /* its submission was counted */
			rt->ring_inflight--;
		if (flags & IORING_CQE_F_BUFFER) /* never lose a buffer */
			urt__bufs_drop(rt, res, flags);
		return;
	}
#ifdef URT_FAULTS
	if (URT_UNLIKELY(rt->fault && rt->fault->complete && !(ud & 1)))
		rt->fault->complete(rt->fault->ctx, r->opcode, &res, &flags);
#endif
	if (r->kind == URT__REC_RECV || r->kind == URT__REC_ACCEPT) {
		if (URT_UNLIKELY(r->rfl & URT__RF_FORCED)) { /* an injected failure */
			res = r->res;
			flags = 0;
			r->rfl &= (uint8_t)~URT__RF_FORCED;
		}
		stream_cqe(rt, idx, r, res, flags, kres, kflags);
	} else {
		single_cqe(rt, idx, r, ud & 1, res, flags);
	}
}

/* --- cancelling ------------------------------------------------------------- */

static void send_cancel(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx)
{
	struct io_uring_sqe *sqe;

	r->rfl |= URT__RF_CANCELLING;
	urt__sq_reserve(rt, 1);
	sqe = io_uring_get_sqe(urt__ring(rt));
	io_uring_prep_cancel64(sqe, urt__ud(r, idx, 0), 0);
	io_uring_sqe_set_data64(sqe, URT__UD_IGNORE);
	rt->ring_pending++;
	rt->ring_inflight++;
	rt->stats.ops_cancelled++;
}

/* A stream the kernel no longer holds ends now with res. */
static void end_now(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx, int32_t res)
{
	if (r->rfl & URT__RF_BACKOFF) {
		urt__timer_del(rt, r);
		r->rfl &= (uint8_t)~URT__RF_BACKOFF;
	}
	if (r->rfl & URT__RF_STARVED)
		urt__buf_unstarve(rt, idx);
	r->rfl |= URT__RF_ENDED | URT__RF_CANCELLING;
	r->res = res;
}

/* Cancel one record. Return: 1 if it was cancelled now, 0 if it already was. */
static int rec_cancel(struct urt_runtime *rt, uint32_t idx, bool finishing)
{
	struct urt__rec *r = urt__rec_at(rt, idx);

	if (r->kind == URT__REC_TIMER) {
		urt__timer_del(rt, r);
		r->op->res = -ECANCELED;
		r->op->flags = 0;
		r->op->state = URT_OP_DONE;
		r->op->rec = 0;
		urt__rec_done(rt, idx);
		return 1;
	}
	if (r->kind == URT__REC_RECV && (r->rfl & URT__RF_PAUSED) && !finishing) {
		/* the runtime's own pause-cancel was sent (its CQE may be in):
		 * make it the user's */
		r->rfl &= (uint8_t)~URT__RF_PAUSED;
		return 1;
	}
	if (r->ncqe) {
		if (r->kind == URT__REC_OP && (r->rfl & URT__RF_ZC_WAIT)) {
			/* nothing left to cancel but the wait for the notification */
			if (finishing) {
				zc_abandon(rt, idx, r);
				return 0;
			}
			if (r->rfl & URT__RF_ZC_RESET)
				return 0;
			r->res = -ECANCELED;
			zc_reset(rt, r);
			return 1;
		}
		if (r->rfl & URT__RF_CANCELLING)
			return 0;
		send_cancel(rt, r, idx);
		return 1;
	}
	/* a stream the kernel has let go of: backing off, starved, or ended */
	if (finishing) {
		end_now(rt, r, idx, -ECANCELED);
		urt__stream_flush(rt, r);
		r->op->state = URT_OP_IDLE;
		r->op->rec = 0;
		urt__rec_done(rt, idx);
		return 1;
	}
	if (r->rfl & URT__RF_CANCELLING)
		return 0;
	end_now(rt, r, idx, -ECANCELED);
	urt_task_wake(r->task);
	return 1;
}

int urt_op_cancel(struct urt_op *op)
{
	struct urt_runtime *rt = urt__rt;
	struct urt__rec *r;

	if (!rt || !urt_op_busy(op))
		return -EALREADY;
	r = urt__rec_at(rt, op->rec);
	if (r->gen != op->gen)
		return -EALREADY;
	if (r->kind == URT__REC_RECV && (r->rfl & URT__RF_PAUSED)) {
		/* the runtime's own cancel is under way: make it the user's */
		r->rfl &= (uint8_t)~URT__RF_PAUSED;
		return 0;
	}
	if (r->rfl & URT__RF_CANCELLING)
		return -EALREADY;
	return rec_cancel(rt, op->rec, false) ? 0 : -EALREADY; /* a zero-copy wait reset already */
}

int urt__task_cancel_ops(struct urt_runtime *rt, struct urt_task *t, bool finishing)
{
	uint32_t idx = t->ops;
	int n = 0;

	while (idx) {
		uint32_t next = urt__rec_at(rt, idx)->next; /* idx may be freed */

		n += rec_cancel(rt, idx, finishing);
		idx = next;
	}
	return n;
}

int urt_task_cancel_ops(struct urt_task *t)
{
	return urt__rt ? urt__task_cancel_ops(urt__rt, t, false) : 0;
}

/*
 * deinit: every operation the kernel holds is cancelled by its own
 * user_data, which the kernel looks up directly. (One
 * IORING_ASYNC_CANCEL_ANY instead walks every pending request again for
 * each one it cancels: M operations cost M*M/2 steps, 3 s for 20,000 here,
 * where 20,000 cancels by user_data take under 0.1 s.) Then the ring is
 * reaped until the kernel owes nothing. A cancel may not catch an
 * operation being executed (a read in an io-wq worker): every 100 ms what
 * is still held is cancelled again. Memory is never freed under the kernel.
 */
void urt__ops_drain(struct urt_runtime *rt)
{
	struct io_uring *ring = urt__ring(rt);

	while (rt->ring_inflight || rt->efd_armed) {
		uint64_t until = urt_now_ns() + 100 * 1000 * 1000;

		for (uint32_t i = 1; i < rt->ops.made; i++) {
			struct urt__rec *r = urt__rec_at(rt, i);

			if (!r->ncqe || r->kind == URT__REC_FREE || r->kind == URT__REC_CHUNK)
				continue;
			if (r->kind == URT__REC_OP && (r->rfl & URT__RF_ZC_WAIT))
				zc_reset(rt, r);
			else
				send_cancel(rt, r, i);
		}
		if (rt->efd_armed) {
			struct io_uring_sqe *sqe;

			urt__sq_reserve(rt, 1);
			sqe = io_uring_get_sqe(ring);
			io_uring_prep_cancel64(sqe, URT__UD_EVENTFD, 0);
			io_uring_sqe_set_data64(sqe, URT__UD_IGNORE);
			rt->ring_pending++;
			rt->ring_inflight++;
		}
		while ((rt->ring_inflight || rt->efd_armed) && urt_now_ns() < until) {
			uint64_t left = until - urt_now_ns();
			struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = (long long)left };
			struct io_uring_cqe *cqe;

			if (left > until) /* passed while computing */
				break;
			io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
			rt->ring_pending = 0;
			urt__ring_reap(rt);
		}
	}
}

/* --- a few operations that belong to no other file ------------------------------ */

int urt_nop(struct urt_task *t, struct urt_op *op)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_begin(t, op, NULL, 0, &s);

	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_nop(s.sqe);
	return urt__op_commit(op, &s);
}

int urt_close_detached(int fd)
{
	struct urt_runtime *rt = urt__rt;
	struct io_uring_sqe *sqe;

	if (!rt)
		return -ESRCH;
	urt__sq_reserve(rt, 1);
	sqe = io_uring_get_sqe(urt__ring(rt));
	io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data64(sqe, URT__UD_IGNORE);
	rt->ring_pending++;
	rt->ring_inflight++;
	return 0;
}

/* --- fault injection (test builds) ------------------------------------------------ */

int urt_fault_set(struct urt_runtime *rt, const struct urt_fault *f)
{
#ifdef URT_FAULTS
	rt->fault = f;
	return 0;
#else
	(void)rt, (void)f;
	return -ENOTSUP;
#endif
}

int urt_fault_complete(struct urt_runtime *rt, uint64_t user_data, int32_t res, uint32_t cflags)
{
#ifdef URT_FAULTS
	/* nothing was submitted for it: count it, as dispatch will take one
	 * back for a final completion */
	if (!(cflags & IORING_CQE_F_MORE) && user_data != URT__UD_EVENTFD)
		rt->ring_inflight++;
	urt__cqe_dispatch(rt, user_data, res, cflags);
	return 0;
#else
	(void)rt, (void)user_data, (void)res, (void)cflags;
	return -ENOTSUP;
#endif
}

uint64_t urt_op_user_data(const struct urt_op *op)
{
	struct urt_runtime *rt = urt__rt;

	if (!rt || !urt_op_busy(op))
		return 0;
	return urt__ud(urt__rec_at(rt, op->rec), op->rec, 0);
}

/* --- streams and the helpers that await more than once ----------------------------- */

bool urt__stream_pop(struct urt_runtime *rt, struct urt__rec *r, struct urt__cqent *e)
{
	struct urt__rec *c;

	if (!r->tm.qhead)
		return false;
	c = urt__rec_at(rt, r->tm.qhead);
	*e = c->ent[c->rfl++];
	if (--c->ncqe == 0) {
		uint32_t idx = r->tm.qhead;

		r->tm.qhead = c->next;
		if (!r->tm.qhead)
			r->cflags = 0;
		urt__rec_free(rt, idx);
	}
	return true;
}

int urt__io_all(struct urt_task *t, struct urt_io_all *h, int what, int fd, void *buf, size_t len,
		int64_t off)
{
	if (len > INT32_MAX)
		return -EINVAL;
	for (;;) {
		char *p = (char *)buf + h->done;
		size_t left = len - h->done;
		int64_t at = off < 0 ? -1 : off + (int64_t)h->done;
		int ret;

		switch (what) {
		case URT__ALL_READ:
			ret = urt_read(t, &h->op, fd, p, left, at);
			break;
		case URT__ALL_WRITE:
			ret = urt_write(t, &h->op, fd, p, left, at);
			break;
		case URT__ALL_SEND:
			if (h->op.state == URT_OP_IDLE)
				h->zc = !h->copy && urt__rt && left >= urt__rt->send_zc_min &&
					(urt__rt->stats.features & URT_FEAT_SEND_ZC);
			ret = h->zc ? urt_send_zc(t, &h->op, fd, p, left, 0)
				    : urt_send(t, &h->op, fd, p, left, 0);
			if (h->zc && (ret == -EOPNOTSUPP || ret == -EINVAL)) {
				h->copy = 1; /* AF_UNIX, or a kernel without it: send plainly */
				h->zc = 0;
				continue;
			}
			break;
		default:
			ret = urt_recv(t, &h->op, fd, p, left, 0);
			break;
		}
		if (ret == URT_PENDING)
			return URT_PENDING;
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret; /* h->done says how far it got */
		h->done += (size_t)ret;
		if (h->done == len ||
		    (ret == 0 && (what == URT__ALL_READ || what == URT__ALL_RECV))) {
			ret = (int)h->done;
			h->done = 0;
			return ret;
		}
		if (ret == 0) /* a write that moves nothing would loop forever */
			return -EIO;
	}
}
