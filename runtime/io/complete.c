/* SPDX-License-Identifier: MIT */
/*
 * complete.c - the one path every completion takes, and the queues streams
 * keep their completions in.
 *
 * urt__cqe_dispatch (called by the reap, urt__cq_reap, and by
 * urt_fault_complete) finds the record from user_data (generation, index,
 * tag) and discards a completion for a record that has since been reused.
 * A single-shot record (kind OP) counts down its final CQEs (ncqe: 2 with a
 * linked timeout; a zero-copy send's notification comes after its result,
 * zc.c) and at 0 writes the result into the handle, frees the record and
 * wakes the task (urt__rec_done, op.c). A stream (RECV, ACCEPT) queues each
 * CQE in chunk records of 4 entries and wakes the task; the CQE without
 * IORING_CQE_F_MORE ends the kernel's part (RF_ENDED). Received bytes are
 * queued per buffer (bufring.c: urt__bufs_take/next); while the ring is
 * tight an idle stream's bytes go to spill memory as they come, and a
 * stream whose queue reached its bound is paused (cancel.c).
 *
 * A completion for a DRAINING task (its poll is over) is not queued: what
 * it carries goes straight back (buffer, descriptor), and its record is
 * freed once the kernel owes nothing.
 *
 * The reap (urt__cq_reap, at the end) completes the common CQE inline, a
 * single-shot operation's only one: result into the handle, record freed,
 * task woken unless already queued; every other CQE goes to
 * urt__cqe_dispatch. It walks the CQ by pointer, in at most two runs (to
 * the ring's end, then from its start).
 *
 * The seam: urt__cqe_dispatch is the only place a completion is applied
 * while a fault hook is installed (the reap sends it every CQE then).
 * Test builds (URT_FAULTS) route every submission and completion through a
 * hook there (urt/fault.h); release builds compile the hook out.
 */
#include "io_internal.h"

#include <errno.h>
#include <liburing.h>
#include <unistd.h>

/* --- stream queues ----------------------------------------------------------- */

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
			urt__stream_pause(rt, r, ridx);
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
	} else if (e->res >= 0)
		urt__fd_drop(rt, e->res);
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

/* --- completing --------------------------------------------------------------- */

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

	if (r->opcode == IORING_OP_RECVMSG)
		last = NULL; /* a datagram keeps a block of its own: never joined */
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
			urt__pins_track(rt, r, idx);
			if (spill) /* no spill memory: no more of it until it is read */
				urt__stream_pause(rt, r, idx);
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

	/* (a datagram stream arms no limit: its -EINVAL says nothing of it) */
	if (r->kind == URT__REC_RECV && r->opcode != IORING_OP_RECVMSG && !rt->bufs.no_limit) {
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
	} else if (data) {
		res = urt__accept_fd(rt, res); /* a direct descriptor: URT_FD_FIXED | slot */
		if (draining) {
			urt__fd_drop(rt, res);
		} else if (!stream_push(rt, r, idx, res, flags)) {
			urt__fd_drop(rt, res);
			queued = false;
		}
	}
	if (!queued) {
		/* no memory to queue it: end the stream with -ENOMEM */
		r->res = -ENOMEM;
		if (more && !(r->rfl & URT__RF_CANCELLING))
			urt__send_cancel(rt, r, idx);
	}
	if (!more && draining) {
		urt__stream_flush(rt, r);
		r->op->state = URT_OP_IDLE;
		r->op->rec = 0;
		urt__rec_done(rt, idx);
		return;
	}
#ifdef URT_PLANT_LOST_WAKE /* planted: never in a shipped build */
	if (!more && res == 0 && rt->stats.cqes % 3 == 0)
		return;
#endif
	urt_task_wake(t);
}

static void single_cqe(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r, unsigned tag,
		       int32_t res, uint32_t flags)
{
	struct urt_op *op;

	if (tag) { /* the linked timeout */
		/* it fired and cancelled the operation: -ETIME, or, where the
		 * cancel counts what it ended (IORING_OP_WAITID, seen on 6.18),
		 * that count; -ECANCELED: the operation finished first */
		if (res == -ETIME || res > 0)
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
			r->res = r->opcode == IORING_OP_ACCEPT ? urt__accept_fd(rt, res) : res;
			r->cflags = flags & ~(uint32_t)IORING_CQE_F_MORE;
		}
		if (flags & IORING_CQE_F_MORE) {
			/* a zero-copy send: the bytes are the kernel's until the notification */
			r->rfl |= URT__RF_ZC_WAIT;
			rt->ops.zc_wait++;
			if (r->task->flags & URT_TASK_DRAINING)
				urt__zc_abandon(rt, idx, r);
			else if ((r->rfl & URT__RF_CANCELLING) && res > 0) {
				/* cancelled (deadline, urt_op_cancel) after part went
				 * out: nobody waits for the rest; the reset breaks the
				 * stream, so the count is moot */
				r->res = -ECANCELED;
				urt__zc_reset(rt, r);
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
	urt__rec_end(rt, idx, r);
}

/*
 * The common completion: a single-shot operation's only CQE (no linked
 * timeout, no cancel, no injected result, not a zero-copy send, not an
 * accept: rfl 0, as URT__RF_SLOWCQE sees to): single_cqe's path with
 * nothing to look at. One test of the record's kind, count and flags (a
 * linked timeout's CQE, tag 1, is never plain: its record has
 * URT__RF_SLOWCQE; nor is a CQE with IORING_CQE_F_MORE or F_NOTIF: only a
 * zero-copy send's carry them).
 */
static inline bool plain_cqe(const struct urt__rec *r)
{
	return (r->kw & urt__kw(0xff, 0, 0xff, 0xff)) == urt__kw(URT__REC_OP, 0, 1, 0);
}

/* res and flags as one word, as a CQE and a handle hold them side by side */
_Static_assert(offsetof(struct io_uring_cqe, flags) == offsetof(struct io_uring_cqe, res) + 4,
	       "cqe res, flags");
_Static_assert(offsetof(struct urt_op, cflags) == offsetof(struct urt_op, res) + 4,
	       "op res, cflags");

static inline void plain_complete(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r,
				  uint64_t res_flags)
{
	struct urt_op *op = r->op;

	rt->ring_inflight--;
	rt->stats.ops_completed++;
	memcpy(&op->res, &res_flags, sizeof(res_flags));
	op->flags = 0;
	op->state = URT_OP_DONE;
	op->rec = 0;
	if (!r->task) /* an operation's record always has its task (urt__op_start) */
		__builtin_unreachable();
	urt__rec_end(rt, idx, r); /* (ncqe stays 1: a free record's count is never read) */
}

/* urt__cqe_dispatch without the count (the reap counts a batch at once). */
static void cqe_apply(struct urt_runtime *rt, uint64_t ud, int32_t res, uint32_t flags)
{
	uint32_t idx = (uint32_t)ud >> 1;
	int32_t kres = res;
	uint32_t kflags = flags;
	struct urt__rec *r;

	if (ud < (1ull << 32)) {
		if (ud == URT__UD_EVENTFD)
			rt->efd_armed = false; /* re-armed before the next park */
		else
			rt->ring_inflight--;
		return;
	}
	/* (idx - 1: index 0 is none) */
	if (URT_UNLIKELY(idx - 1 >= rt->ops.made - 1 ||
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
	if (plain_cqe(r)) {
		plain_complete(rt, idx, r, urt__u32x2((uint32_t)res, flags));
	} else if (r->kind == URT__REC_RECV || r->kind == URT__REC_ACCEPT) {
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

void urt__cqe_dispatch(struct urt_runtime *rt, uint64_t ud, int32_t res, uint32_t flags)
{
	rt->stats.cqes++;
	cqe_apply(rt, ud, res, flags);
}

/*
 * The reap's loop (ring.c): the plain CQE is completed here, inline; any
 * other, and every one while a fault hook is installed, takes
 * urt__cqe_dispatch's path. The tail is read once a batch and the head written
 * once: a dispatch that submits (a cancel, a re-arm) may post more CQEs,
 * which the next round takes. (The other path writes the head before its
 * dispatch, whose submission may stash the CQ: then the reap stops.)
 */
void urt__cq_reap(struct urt_runtime *rt, struct io_uring_cq *cq)
{
	unsigned head = *cq->khead, tail;

	while (head != (tail = io_uring_smp_load_acquire(cq->ktail))) {
		rt->stats.cqes += tail - head;
		while (head != tail) {
			/* the CQEs from head to tail or to the ring's end, by pointer */
			unsigned run = cq->ring_entries - (head & cq->ring_mask);
			const struct io_uring_cqe *first = &cq->cqes[head & cq->ring_mask], *cqe;
			const struct io_uring_cqe *end =
				first + (tail - head < run ? tail - head : run);

			for (cqe = first; cqe != end; cqe++) {
				uint64_t ud = cqe->user_data, res_flags;
				uint32_t idx = (uint32_t)ud >> 1, gen = (uint32_t)(ud >> 32);
				struct urt__rec *r;
				uint32_t flags;
				int32_t res;
				unsigned at;

				/* every index a submission named is below ops.made
				 * (no record is unmade before deinit): only the
				 * runtime's own user_data (below 2^32, index 0) is
				 * told apart here; urt__cqe_dispatch, which an
				 * injected completion takes, checks the bound */
				if (URT_LIKELY(idx && (r = urt__rec_at(rt, idx))->gen == gen &&
					       plain_cqe(r) && !urt__faults_on(rt))) {
					memcpy(&res_flags, &cqe->res, sizeof(res_flags));
					plain_complete(rt, idx, r, res_flags);
					continue;
				}
				/* a dispatch may submit, and a submission refused
				 * with -EBUSY stashes the CQ from its head (ring.c):
				 * this CQE is taken first, and if that happened the
				 * rest of the batch is the stash's to apply */
				res = cqe->res;
				flags = cqe->flags;
				at = head + (unsigned)(cqe - first);
				io_uring_smp_store_release(cq->khead, at + 1);
				cqe_apply(rt, ud, res, flags);
				if (URT_UNLIKELY(rt->stash.n)) {
					rt->stats.cqes -= tail - at - 1; /* counted there */
					return;
				}
			}
			head += (unsigned)(end - first);
		}
		io_uring_smp_store_release(cq->khead, head);
	}
}
