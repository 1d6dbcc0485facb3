/* SPDX-License-Identifier: MIT */
/*
 * cancel.c - cancelling: one operation (urt_op_cancel), every operation of
 * a task (when its poll is over, or urt_task_cancel_ops), and everything
 * at deinit (urt__ops_drain).
 *
 * An operation the kernel holds is cancelled by its own user_data
 * (urt__send_cancel; the cancel's own CQE is ignored) and ends when its
 * final CQE comes back (complete.c), -ECANCELED or its result if it won
 * the race. What the kernel does not hold ends at once: a sleep (in the
 * timer wheel), a stream backing off, starved or ended. A zero-copy send
 * whose result is in only waits for its notification: nothing is left to
 * cancel, so the connection is reset (zc.c). For a task whose poll is over
 * (finishing) what can be freed now is freed now, so the task drains only
 * as long as the kernel holds its memory.
 *
 * A receive stream is also cancelled by the runtime itself, to pause it
 * (urt__stream_pause: too much unread); a user's cancel that finds that
 * under way takes it over.
 */
#include "io_internal.h"

#include <errno.h>
#include <liburing.h>

void urt__send_cancel(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx)
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

/* Stop a receive stream's kernel side; the data stays in the socket and
 * the await that finds the queue drained re-arms it (net.c). */
void urt__stream_pause(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx)
{
	if (r->rfl & (URT__RF_CANCELLING | URT__RF_ENDED))
		return; /* ending already */
	urt__send_cancel(rt, r, idx);
	r->rfl |= URT__RF_PAUSED;
	rt->stats.stream_pauses++;
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

	if (r->kind == URT__REC_JOB) /* the blocking pool's: sys ends it (urt__blocking_task_end) */
		return finishing ? 0 : urt__io_offload_cancel(rt, idx);
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
#ifdef URT_PLANT_EARLY_FREE /* planted: never in a shipped build */
	if (finishing && r->kind == URT__REC_OP && r->ncqe && !(r->rfl & URT__RF_ZC_WAIT)) {
		urt__send_cancel(rt, r, idx);
		r->op->res = -ECANCELED;
		r->op->state = URT_OP_DONE;
		r->op->rec = 0;
		urt__rec_done(rt, idx); /* the record, and so the task's drop, before the last CQE */
		return 1;
	}
#endif
	if (r->ncqe) {
		if (r->kind == URT__REC_OP && (r->rfl & URT__RF_ZC_WAIT)) {
			/* nothing left to cancel but the wait for the notification */
			if (finishing) {
				urt__zc_abandon(rt, idx, r);
				return 0;
			}
			if (r->rfl & URT__RF_ZC_RESET)
				return 0;
			r->res = -ECANCELED;
			urt__zc_reset(rt, r);
			return 1;
		}
		if (r->rfl & URT__RF_CANCELLING)
			return 0;
		urt__send_cancel(rt, r, idx);
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
				urt__zc_reset(rt, r);
			else
				urt__send_cancel(rt, r, i);
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

			if (left > until) /* passed while computing */
				break;
			rt->stats.enters++;
			/* no wait while completions wait in the stash (ring.c) */
			rt->kern->enter(rt->kern_ctx, ring,
					rt->stash.n ? URT__ENTER_EVENTS : URT__ENTER_WAIT, left);
			rt->ring_pending = 0;
			urt__ring_reap(rt);
		}
	}
}
