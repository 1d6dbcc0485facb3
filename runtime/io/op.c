/* SPDX-License-Identifier: MIT */
/*
 * op.c - op records: the pool, the task's list of them, and submitting.
 *
 * An op record (struct urt__rec, io_internal.h) is the runtime's half of a
 * live operation; the task's half is the handle, struct urt_op, in its
 * state. Records come from pages of 64 (4 KiB), addressed by a 31-bit
 * index, so a completion's user_data (generation, index, tag) finds its
 * record with two loads and no pointer the kernel could hand back stale.
 * Records are never returned to the allocator before deinit; the pool grows
 * a page at a time up to opts.op_records. opts.op_records_reserve pages
 * are made at init as one block (pages 0 to nreserved - 1 point into it),
 * so a server whose peak stays under it makes no allocator call for
 * records after init: a peak reached only now and then (a burst of
 * completions queued on many streams at once while the task lags) is a
 * new page otherwise, late in a long run. A reserved record is zeroed when
 * it is first carved, not at init, so the block costs resident memory
 * only as the peak reaches it.
 *
 * Free records: a 64-entry stack in the runtime (ops.stack, newest on top)
 * in front of the pool (an array of indices, newest last). Acquire and release
 * are inline (io_internal.h) and touch the stack and the record only; the
 * pool is visited when the stack is empty (take its 8 newest) or full (spill
 * the stack's older half to it). No live counter is kept: live = made - 1 - top
 * - nfree, and the most ever live is made - 1 (a record is carved only
 * when none is free), so stats.ops_high_water is computed too. While made
 * <= max fewer than max records can be live and a pop needs no look at
 * the limit; only chunks carve past it, and from then on ops.gate sends
 * every acquire through urt__rec_refill, which counts. The inline pop is
 * `top > gate`: one compare.
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
 * The rest of an operation's life is in the files beside this one:
 *   complete.c  the one path every completion takes, and stream queues
 *   cancel.c    cancelling one operation, a task's, or all of them (deinit)
 *   zc.c        zero-copy sends: waiting for the notification, or not
 *   sweep.c     moving unread ring chunks to spill memory (see bufring.c)
 *   fault.c     the fault-injection calls (test builds)
 *   all.c       the helpers that await more than once (read_exact, ...)
 * The submission side of the fault seam (urt__fault_submit, test builds)
 * stays here, called from the inline commit (io_internal.h). urt_nop shows
 * the shape of a hot entry point: the evaluation that only takes a result
 * is inline (urt__op_taken), so is the common submission
 * (urt__op_fast_begin/commit: no call, so no frame and no saved register),
 * and every other case is a function of its own.
 *
 * Debug builds also keep, in the handle's spare word, a fingerprint of the
 * (fd, buffer, length) an operation was submitted with, and report an
 * evaluation that passes others while it is pending (urt__args_check).
 * urt_op_take_late, at the end, hands drop a result no await read.
 */
#include "io_internal.h"

#include <errno.h>
#include <liburing.h>
#include <string.h>

/* --- the pool ----------------------------------------------------------- */

/* records a refill moves from the pool to the empty stack */
#define POOL_BATCH 8

/* The pool's array for the records of cap pages. */
static size_t pool_bytes(uint32_t cap)
{
	return (size_t)cap * URT__REC_PAGE * sizeof(uint32_t);
}

/* opts.op_records_reserve records (index 0 too) as pages of one block, the
 * page and pool arrays sized for them. Return: 0; -ENOMEM. */
static int ops_reserve(struct urt_runtime *rt, uint32_t reserve)
{
	uint32_t n = (reserve + URT__REC_PAGE) / URT__REC_PAGE; /* pages for 1 + reserve */
	uint32_t cap = 16;
	struct urt__rec *block;

	while (cap < n)
		cap *= 2;
	rt->ops.pages_cap = cap; /* the arrays' size, for urt__ops_deinit if a call fails */
	rt->ops.pages = rt->al.alloc(rt->al.ctx, cap * sizeof(void *), _Alignof(void *));
	rt->ops.pool = rt->al.alloc(rt->al.ctx, pool_bytes(cap), 64);
	block = rt->al.alloc(rt->al.ctx, (size_t)n * URT__REC_PAGE * sizeof(struct urt__rec), 64);
	if (!rt->ops.pages || !rt->ops.pool || !block) {
		if (block)
			rt->al.free(rt->al.ctx, block,
				    (size_t)n * URT__REC_PAGE * sizeof(struct urt__rec), 64);
		return -ENOMEM; /* the arrays: urt__ops_deinit */
	}
	for (uint32_t i = 0; i < n; i++)
		rt->ops.pages[i] = block + (size_t)i * URT__REC_PAGE;
	rt->ops.npages = rt->ops.nreserved = n;
	return 0;
}

int urt__ops_init(struct urt_runtime *rt, uint32_t max, uint32_t reserve)
{
	rt->ops.max = max ? max : 262144;
	if (rt->ops.max > (1u << 30) || reserve > rt->ops.max)
		return -EINVAL;
	rt->ops.made = 1; /* index 0 is "none" */
	return reserve ? ops_reserve(rt, reserve) : 0;
}

void urt__ops_deinit(struct urt_runtime *rt)
{
	if (rt->ops.pool)
		rt->al.free(rt->al.ctx, rt->ops.pool, pool_bytes(rt->ops.pages_cap), 64);
	if (rt->ops.nreserved)
		rt->al.free(rt->al.ctx, rt->ops.pages[0],
			    (size_t)rt->ops.nreserved * URT__REC_PAGE * sizeof(struct urt__rec),
			    64);
	for (uint32_t i = rt->ops.nreserved; i < rt->ops.npages; i++)
		rt->al.free(rt->al.ctx, rt->ops.pages[i], URT__REC_PAGE * sizeof(struct urt__rec),
			    64);
	if (rt->ops.pages)
		rt->al.free(rt->al.ctx, rt->ops.pages, rt->ops.pages_cap * sizeof(void *),
			    _Alignof(void *));
	memset(&rt->ops, 0, sizeof(rt->ops));
}

int urt__pages_grow(struct urt_runtime *rt, void *pages, uint32_t *cap, uint32_t n)
{
	uint32_t ncap = *cap ? *cap * 2 : 16;
	void *old, *p = rt->al.alloc(rt->al.ctx, ncap * sizeof(void *), _Alignof(void *));

	if (!p)
		return -ENOMEM;
	memcpy(&old, pages, sizeof(old));
	if (n)
		memcpy(p, old, n * sizeof(void *));
	if (old)
		rt->al.free(rt->al.ctx, old, *cap * sizeof(void *), _Alignof(void *));
	memcpy(pages, &p, sizeof(p));
	*cap = ncap;
	return 0;
}

static int grow(struct urt_runtime *rt)
{
	struct urt__rec *page;

	if (rt->ops.npages == rt->ops.pages_cap) {
		/* the pool holds every record the pages can: it grows with them */
		uint32_t cap = rt->ops.pages_cap, ncap = cap ? cap * 2 : 16;
		uint32_t *pool = rt->al.alloc(rt->al.ctx, pool_bytes(ncap), 64);

		if (!pool)
			return -ENOMEM;
		if (urt__pages_grow(rt, &rt->ops.pages, &rt->ops.pages_cap, rt->ops.npages)) {
			rt->al.free(rt->al.ctx, pool, pool_bytes(ncap), 64);
			return -ENOMEM;
		}
		if (rt->ops.pool) {
			memcpy(pool, rt->ops.pool, rt->ops.nfree * sizeof(uint32_t));
			rt->al.free(rt->al.ctx, rt->ops.pool, pool_bytes(cap), 64);
		}
		rt->ops.pool = pool;
	}
	page = rt->al.alloc(rt->al.ctx, URT__REC_PAGE * sizeof(struct urt__rec), 64);
	if (!page)
		return -ENOMEM;
	memset(page, 0, URT__REC_PAGE * sizeof(struct urt__rec));
	rt->ops.pages[rt->ops.npages++] = page;
	return 0;
}

/* A record never used before, carved from the last page (grown if full).
 * Return: index; -ENOMEM. */
static int64_t rec_carve(struct urt_runtime *rt)
{
	uint32_t idx = rt->ops.made;

	if (idx >> URT__REC_PAGE_SHIFT >= rt->ops.npages) {
		int ret = grow(rt);

		if (ret)
			return ret;
	} else if (idx >> URT__REC_PAGE_SHIFT < rt->ops.nreserved) {
		memset(urt__rec_at(rt, idx), 0,
		       sizeof(struct urt__rec)); /* grow zeroes its pages */
	}
	if (++rt->ops.made > rt->ops.max)
		rt->ops.gate = UINT32_MAX; /* the limit is looked at from now on */
	return idx;
}

/*
 * The pool behind the stack (io_internal.h): the stack is empty, or
 * ops.gate says the limit must be looked at (more than max records were
 * carved: chunks may pass it). An empty stack takes the pool's POOL_BATCH
 * newest free records (the next POOL_BATCH allocations are inline pops,
 * not calls: 100k sleeps armed in a row made a call each) and prefetches
 * the batch after them: the pool is an array, not a list linked through
 * the records, so no refill waits on a cold record to find the next. The
 * stack sits on the pool's top, so moving records between them changes
 * nothing in the order: records are reused in exactly the order one LIFO
 * list would give (completions' user_data, and so the simulator's traces,
 * do not change). The caller's inline take pops the record.
 */
int urt__rec_refill(struct urt_runtime *rt, uint8_t kind)
{
	/* only chunks (queued completions) may pass the limit */
	if (URT_UNLIKELY(urt__ops_live(rt) >= rt->ops.max) && kind != URT__REC_CHUNK)
		return -EAGAIN;
	if (!rt->ops.top && rt->ops.nfree) {
		uint32_t k = rt->ops.nfree < POOL_BATCH ? rt->ops.nfree : POOL_BATCH;

		rt->ops.nfree -= k;
		memcpy(rt->ops.stack, rt->ops.pool + rt->ops.nfree, k * sizeof(uint32_t));
		rt->ops.top = k;
		/* the next batch: its misses overlap the callers' work, not a pop */
		for (uint32_t i = 1; i <= POOL_BATCH && i <= rt->ops.nfree; i++)
			__builtin_prefetch(urt__rec_at(rt, rt->ops.pool[rt->ops.nfree - i]), 1);
	} else if (!rt->ops.top) {
		int64_t ret = rec_carve(rt);

		if (ret < 0)
			return (int)ret;
		rt->ops.stack[rt->ops.top++] = (uint32_t)ret;
	}
	return 0;
}

/* The stack is full: its older half goes onto the pool, oldest first, so
 * the pool's top is the newest of them. */
void urt__rec_spill(struct urt_runtime *rt)
{
	uint32_t half = URT__REC_STACK / 2;

	memcpy(rt->ops.pool + rt->ops.nfree, rt->ops.stack, half * sizeof(uint32_t));
	memmove(rt->ops.stack, rt->ops.stack + half, (rt->ops.top - half) * sizeof(uint32_t));
	rt->ops.top -= half;
	rt->ops.nfree += half;
}

/* --- the task's list ------------------------------------------------------ */

void urt__rec_done(struct urt_runtime *rt, uint32_t idx)
{
	urt__rec_end(rt, idx, urt__rec_at(rt, idx));
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

#ifdef URT_DEBUG
void urt__args_check(struct urt_task *t, uint32_t *was, uint32_t now, const char *call)
{
	struct urt_runtime *rt = urt__rt;
	char msg[256];

	if (!*was || *was == now)
		return;
	*was = now; /* once per change, not at every wake */
	if (!rt || !rt->debug_hook)
		return;
	snprintf(msg, sizeof(msg),
		 "urt: task '%s': %s re-evaluated with another fd, buffer or length "
		 "while its operation is pending (await arguments are re-evaluated on "
		 "every wake: keep them in state the await does not overwrite)",
		 t ? urt_task_name(t) : "?", call);
	rt->debug_hook(rt->debug_ctx, msg);
}
#endif

/* urt__op_start's handle is not IDLE: its result, still pending, or a stream's. */
static int op_settled(struct urt_task *t, struct urt_op *op, int fd, const void *buf, size_t len,
		      const char *call)
{
	(void)t, (void)fd, (void)buf, (void)len, (void)call;
	switch (op->state) {
	case URT_OP_INFLIGHT:
#ifdef URT_DEBUG
		urt__args_check(t, &op->reserved, urt__args_fp(fd, buf, len), call);
#endif
		return URT_PENDING;
	case URT_OP_DONE:
#ifdef URT_DEBUG
		urt__args_check(t, &op->reserved, urt__args_fp(fd, buf, len), call);
		op->reserved = 0;
#endif
		op->state = URT_OP_IDLE;
		return op->res;
	default: /* URT_OP_STREAM */
		return -EBUSY;
	}
}

int urt__op_start(struct urt_task *t, struct urt_op *op, int fd, const void *buf, size_t len,
		  struct urt__sub *s, const char *call)
{
	struct urt_runtime *rt = urt__rt;
	struct urt__rec *r;
	int64_t idx;

	(void)fd, (void)call;
	/* INFLIGHT, DONE, STREAM (1..3); anything else starts an operation */
	if (URT_UNLIKELY((unsigned)op->state - URT_OP_INFLIGHT <= URT_OP_STREAM - URT_OP_INFLIGHT))
		return op_settled(t, op, fd, buf, len, call);
	if (URT_UNLIKELY(!rt))
		return -ESRCH;
	if (URT_UNLIKELY(!t || t != rt->polling))
		return -EBUSY;
	if (URT_UNLIKELY(urt__user_mem_refused(buf, len)))
		return -EFAULT;
	idx = urt__rec_alloc_at(rt, URT__REC_OP, &r);
	if (URT_UNLIKELY(idx < 0))
		return (int)idx;
	if (URT_UNLIKELY(op->timeout_ns))
		urt__sq_reserve(rt, 2);
	r->op = op;
	urt__rec_link_at(rt, t, (uint32_t)idx, r);
	s->rt = rt;
	s->idx = (uint32_t)idx;
	s->r = r;
	s->sqe = urt__sqe_get(rt);
#ifdef URT_DEBUG
	op->reserved = urt__args_fp(fd, buf, len);
#endif
	return URT__SUBMIT;
}

#ifdef URT_FAULTS
void urt__fault_submit(struct urt_runtime *rt, struct urt__rec *r, struct io_uring_sqe *sqe)
{
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
}
#endif

void urt__op_link_timeout(struct urt_runtime *rt, struct urt_op *op, struct urt__rec *r,
			  uint32_t idx, struct io_uring_sqe *sqe)
{
	struct io_uring_sqe *lt = io_uring_get_sqe(urt__ring(rt)); /* reserved */

	r->ts.tv_sec = (long long)(op->timeout_ns / 1000000000u);
	r->ts.tv_nsec = (long long)(op->timeout_ns % 1000000000u);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_prep_link_timeout(lt, &r->ts, 0);
	io_uring_sqe_set_data64(lt, urt__ud(r, idx, 1));
	r->ncqe = 2;
	r->rfl |= URT__RF_SLOWCQE; /* two CQEs, in either order */
	rt->ring_pending++;
	rt->ring_inflight++;
}

int urt__op_offload_at(struct urt_task *t, struct urt_op *op, int fd, const char *path,
		       int64_t (*fn)(const int64_t *a), const int64_t a[3], const char *call)
{
	struct urt_runtime *rt = urt__rt;
	int ret;

	(void)fd, (void)path, (void)call;
	if (URT_UNLIKELY(!rt))
		return -ESRCH;
	if (URT_UNLIKELY(!t || t != rt->polling))
		return -EBUSY;
	ret = urt__io_offload(rt, t, op, fn, a);
#ifdef URT_DEBUG
	if (ret == URT_PENDING)
		op->reserved = urt__args_fp(fd, path, 0);
#endif
	return ret;
}

/* --- a few operations that belong to no other file ------------------------------ */

/* urt_nop's every case but the two common ones. */
__attribute__((noinline)) static int nop_submit(struct urt_task *t, struct urt_op *op)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_begin(t, op, NULL, 0, &s);

	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_nop(s.sqe);
	return urt__op_commit(op, &s);
}

int urt_nop(struct urt_task *t, struct urt_op *op)
{
	struct urt__sub s;
	int ret;

	if (urt__op_taken(op, &ret))
		return ret;
	if (URT_UNLIKELY(!urt__op_fast_begin(t, op, URT__NOFD, NULL, 0, &s)))
		return nop_submit(t, op);
	io_uring_prep_nop(s.sqe);
	return urt__op_fast_commit(op, &s);
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
	urt__sqe_fixed(rt, sqe);
	io_uring_sqe_set_data64(sqe, URT__UD_IGNORE);
	rt->ring_pending++;
	rt->ring_inflight++;
	return 0;
}

int urt_op_take_late(struct urt_op *op)
{
	switch (op->state) {
	case URT_OP_DONE:
		op->state = URT_OP_IDLE;
#ifdef URT_DEBUG
		op->reserved = 0;
#endif
		return op->res;
	case URT_OP_IDLE:
		return -ENODATA;
	default:
		return -EBUSY;
	}
}
