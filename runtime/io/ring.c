/* SPDX-License-Identifier: MIT */
/*
 * ring.c - the runtime's io_uring: setup, the wake eventfd, one enter a tick.
 *
 * Setup tries, in order, SINGLE_ISSUER|DEFER_TASKRUN|SUBMIT_ALL (the ring is
 * only ever entered by the runtime's thread, and completions are processed
 * only when we ask: no task-work interrupts), then COOP_TASKRUN|SUBMIT_ALL,
 * then no flags; the CQ ring is 8x the SQ (at most 65536, the kernel's cap). Only -EINVAL (flag unknown to
 * the kernel) moves on to the next; -ENOSYS / -EPERM (io_uring compiled out,
 * io_uring_disabled sysctl, seccomp) are returned at once.
 *
 * The ring never has SQPOLL, SQE128 or CQE32: the kernel moves the SQ's
 * head only inside an enter, and SQEs and CQEs are the plain sizes, which
 * urt__sqe_get (io_internal.h) and the reap loop count on.
 *
 * The eventfd is blocking: io_uring arms a poll on it and completes the read
 * when another thread writes; a non-blocking fd would complete at once with
 * -EAGAIN. Exactly one read is armed at a time (efd_armed).
 *
 * user_data: below 2^32 is the runtime's own (0: a cancel or a detached
 * close, 1: the eventfd read); op records use the rest (op.c).
 *
 * Syscalls: a tick with nothing prepared, nothing in flight and no reason
 * to wait makes none. Otherwise exactly one io_uring_enter: submit + get
 * events, or submit + wait with the timeout (EXT_ARG) when parking.
 */
#include "io_internal.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

_Static_assert(sizeof(struct io_uring) <= URT__RING_STORAGE, "grow URT__RING_STORAGE");
_Static_assert(_Alignof(struct io_uring) <= 8, "ring storage alignment");

static struct io_uring *ring(struct urt_runtime *rt)
{
	return urt__ring(rt);
}

/* Apply the stash, in order; by index, as an application may stash more
 * behind it (a submission it makes refused again). */
static void stash_apply(struct urt_runtime *rt)
{
	for (uint32_t i = 0; i < rt->stash.n; i++) {
		struct urt__cqe_copy c = rt->stash.e[i];

		urt__cqe_dispatch(rt, c.ud, c.res, c.flags);
	}
	rt->stash.n = 0;
}

/*
 * Every completion in the CQ goes to urt__cq_reap (complete.c), after those
 * stashed (older). With DEFER_TASKRUN
 * a CQ that was full makes the kernel hold completions back (NODROP): they
 * are flushed into the CQ by an enter with GETEVENTS, so reaping repeats
 * until nothing is held back. Nothing is lost, only delayed.
 */
void urt__ring_reap(struct urt_runtime *rt)
{
	struct io_uring *r = ring(rt);

	for (;;) {
		if (URT_UNLIKELY(rt->stash.n))
			stash_apply(rt);
		urt__cq_reap(rt, &r->cq);
		if (URT_UNLIKELY(rt->stash.n))
			continue; /* stashed under a dispatch: the reap stopped there */
		if (!io_uring_cq_has_overflow(r))
			return;
		rt->stats.cq_overflow++;
		rt->stats.enters++;
		rt->kern->enter(rt->kern_ctx, r, URT__ENTER_FLUSH, 0);
	}
}

/*
 * A submission was refused with -EBUSY: the CQ is full and the kernel
 * holds completions back that it will not keep past a submission (before
 * 5.19; since, NODROP keeps them and submits). Make room by taking the
 * CQ's completions out, not by applying them: copied to the stash in
 * order and the CQ's head moved past them, so the kernel can flush what
 * it held and take the submission; urt__ring_reap applies the stash
 * before anything newer. A CQ found empty is refilled first (a flush).
 * Return: 0; -ENOMEM (the stash could not grow); -EBUSY (still empty:
 * the refusal was not for an overflow, and retrying would spin).
 */
static int cq_stash(struct urt_runtime *rt)
{
	struct io_uring_cq *cq = &ring(rt)->cq;
	unsigned head = *cq->khead, tail = io_uring_smp_load_acquire(cq->ktail);
	uint64_t need;

	if (head == tail) {
		rt->stats.enters++;
		rt->kern->enter(rt->kern_ctx, ring(rt), URT__ENTER_FLUSH, 0);
		tail = io_uring_smp_load_acquire(cq->ktail);
		if (head == tail) /* nothing held back: not an overflow */
			return -EBUSY;
	}
	need = (uint64_t)rt->stash.n + (tail - head);
	if (need > rt->stash.cap) {
		uint64_t cap = rt->stash.cap ? rt->stash.cap : 64;
		struct urt__cqe_copy *e;

		while (cap < need)
			cap *= 2;
		if (cap > UINT32_MAX / sizeof(*e))
			return -ENOMEM;
		e = rt->al.alloc(rt->al.ctx, cap * sizeof(*e), _Alignof(struct urt__cqe_copy));
		if (!e)
			return -ENOMEM;
		if (rt->stash.n)
			memcpy(e, rt->stash.e, rt->stash.n * sizeof(*e));
		if (rt->stash.e)
			rt->al.free(rt->al.ctx, rt->stash.e, rt->stash.cap * sizeof(*e),
				    _Alignof(struct urt__cqe_copy));
		rt->stash.e = e;
		rt->stash.cap = (uint32_t)cap;
	}
	for (; head != tail; head++) {
		const struct io_uring_cqe *c = &cq->cqes[head & cq->ring_mask];

		rt->stash.e[rt->stash.n++] = (struct urt__cqe_copy){ .ud = c->user_data,
								     .res = c->res,
								     .flags = c->flags };
	}
	io_uring_smp_store_release(cq->khead, tail);
	rt->stats.cq_busy++;
	return 0;
}

/*
 * Make room for n SQEs by handing the prepared ones to the kernel. Never
 * applies a completion: callers walk task op lists, are inside a reap (a
 * stream pausing), or are about to park, and a completion dispatched under
 * them would free records they hold or wake a task they are about to
 * sleep past. The kernel consumes SQEs at submit, so one submit makes
 * room; since 5.19 it no longer refuses submissions while completions
 * overflow (NODROP holds them back instead); an older kernel's -EBUSY is
 * answered by stashing the CQ (cq_stash) and submitting again. -EAGAIN /
 * -EINTR (no memory for a request right now, a signal) are retried.
 */
void urt__sq_make_room(struct urt_runtime *rt, unsigned n)
{
	struct io_uring *r = ring(rt);

	while (io_uring_sq_space_left(r) < n) {
		int ret = rt->kern->enter(rt->kern_ctx, r, URT__ENTER_SUBMIT, 0);

		rt->stats.sq_full++;
		rt->stats.enters++;
		if (ret >= 0) {
			rt->ring_pending = 0;
		} else if (ret == -EBUSY && !cq_stash(rt)) {
			continue; /* the kernel may flush what it held: submit again */
		} else if (ret != -EAGAIN && ret != -EINTR) {
			fprintf(stderr, "urt: io_uring_submit failed: %s\n", strerror(-ret));
			abort(); /* an SQE cannot be dropped, and nothing else frees one */
		}
	}
}

static void arm_eventfd(struct urt_runtime *rt)
{
	struct io_uring_sqe *sqe;

	if (rt->efd_armed)
		return;
	urt__sq_reserve(rt, 1);
	sqe = io_uring_get_sqe(ring(rt));
	io_uring_prep_read(sqe, rt->efd, &rt->efd_buf, sizeof(rt->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, URT__UD_EVENTFD);
	rt->ring_pending++;
	rt->efd_armed = true;
}

/* What the kernel offers beyond the baseline, for stats and fallbacks. */
static void probe(struct urt_runtime *rt, unsigned features)
{
	struct io_uring_probe *p = rt->kern->probe(rt->kern_ctx, ring(rt));

	if (rt->ring_flags & IORING_SETUP_DEFER_TASKRUN)
		rt->stats.features |= URT_FEAT_DEFER_TASKRUN;
#ifdef URT_DEBUG
	rt->stats.features |= URT_FEAT_DEBUG_CHECKS; /* frame checks, contracts */
#endif
	if (features & (1u << 14)) /* IORING_FEAT_RECVSEND_BUNDLE, 6.10 */
		rt->stats.features |= URT_FEAT_RECV_BUNDLE;
	/* IORING_SEND_ZC_REPORT_USAGE came in 6.2, which added no feature bit:
	 * IORING_FEAT_REG_REG_RING (6.3) stands for it; 6.0 and 6.1 would
	 * refuse the flag with -EINVAL */
	rt->zc_report = features & (1u << 13);
	if (p) {
		if (io_uring_opcode_supported(p, IORING_OP_SOCKET))
			rt->stats.features |= URT_FEAT_SOCKET_OP;
		if (io_uring_opcode_supported(p, IORING_OP_SEND_ZC))
			rt->stats.features |= URT_FEAT_SEND_ZC;
		if (io_uring_opcode_supported(p, URT__OP_WAITID))
			rt->stats.features |= URT_FEAT_WAITID;
		if (io_uring_opcode_supported(p, URT__OP_FTRUNCATE))
			rt->stats.features |= URT_FEAT_FTRUNCATE;
		/* multishot recvmsg came in 6.0 with no opcode or feature bit of
		 * its own: IORING_OP_SEND_ZC, of the same release, stands for it */
		if (io_uring_opcode_supported(p, IORING_OP_SEND_ZC) &&
		    io_uring_opcode_supported(p, IORING_OP_RECVMSG))
			rt->stats.features |= URT_FEAT_RECVMSG_MULTI;
		io_uring_free_probe(p);
	}
}

int urt__ring_init(struct urt_runtime *rt, unsigned entries)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		0,
	};
	int ret = -EINVAL;

	if (!rt->kern) /* the loop may have installed another (urt_runtime_opts.sim) */
		rt->kern = &urt__kern_real;
	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]) && ret == -EINVAL; i++) {
		struct io_uring_params p = {
			.flags = tries[i] | IORING_SETUP_CQSIZE,
			.cq_entries = entries * 8 > 65536 ? 65536 : entries * 8, /* kernel cap */
		};

		ret = rt->kern->setup(rt->kern_ctx, ring(rt), entries, &p);
		if (!ret) {
			rt->ring_flags = p.flags;
			probe(rt, p.features);
		}
	}
	if (ret)
		return ret;
	rt->efd = eventfd(0, EFD_CLOEXEC);
	if (rt->efd < 0) {
		ret = -errno;
		rt->kern->teardown(rt->kern_ctx, ring(rt));
		return ret;
	}
	return 0;
}

/*
 * The direct descriptors: a sparse table (IORING_RSRC_REGISTER_SPARSE,
 * Linux 5.19, with IORING_FILE_INDEX_ALLOC for accepts) that the
 * registration itself probes for: refused, accepts stay plain. The kernel
 * holds a table to RLIMIT_NOFILE, so that caps it; a full one fails an
 * accept with -ENFILE, which the accept paths already back off on.
 */
int urt__fixed_init(struct urt_runtime *rt, const struct urt_runtime_opts *o)
{
	uint32_t n = o->fixed_table ? o->fixed_table : 65536;
	struct rlimit rl;
	uint32_t *gen;

	if (!o->fixed_fds || (o->features_off & URT_FEAT_FIXED_FDS) || !rt->kern->files)
		return 0;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < n)
		n = (uint32_t)rl.rlim_cur;
	if (n > (1u << 20)) /* the kernel's IORING_MAX_FIXED_FILES */
		n = 1u << 20;
	gen = rt->al.alloc(rt->al.ctx, (size_t)n * sizeof(*gen), _Alignof(uint32_t));
	if (!gen)
		return -ENOMEM;
	if (rt->kern->files(rt->kern_ctx, ring(rt), n)) {
		rt->al.free(rt->al.ctx, gen, (size_t)n * sizeof(*gen), _Alignof(uint32_t));
		return 0;
	}
	memset(gen, 0, (size_t)n * sizeof(*gen));
	rt->fixed.gen = gen;
	rt->fixed.n = n;
	rt->stats.features |= URT_FEAT_FIXED_FDS;
	return 0;
}

void urt__ring_deinit(struct urt_runtime *rt)
{
	rt->kern->teardown(rt->kern_ctx, ring(rt)); /* urt__ops_drain emptied it first */
	close(rt->efd);
	if (rt->stash.e) /* (empty: the drain's last reap applied it) */
		rt->al.free(rt->al.ctx, rt->stash.e, rt->stash.cap * sizeof(*rt->stash.e),
			    _Alignof(struct urt__cqe_copy));
	rt->stash.e = NULL;
	rt->stash.n = rt->stash.cap = 0;
	if (rt->fixed.gen) /* the table went with the ring */
		rt->al.free(rt->al.ctx, rt->fixed.gen, (size_t)rt->fixed.n * sizeof(uint32_t),
			    _Alignof(uint32_t));
	rt->fixed.gen = NULL;
	rt->fixed.n = 0;
}

int urt__ring_enter(struct urt_runtime *rt, bool park, uint64_t timeout_ns)
{
	struct io_uring *r = ring(rt);
	int ret = 0;

	if (park) {
		arm_eventfd(rt);
		park = !rt->stash.n; /* its SQE's room stashed completions: no wait */
	}
	if (park) {
		rt->stats.parks++;
		rt->stats.enters++;
		ret = rt->kern->enter(rt->kern_ctx, r, URT__ENTER_WAIT, timeout_ns);
		rt->ring_pending = 0;
	} else if (rt->ring_pending || rt->ring_inflight) {
		rt->stats.enters++;
		ret = rt->kern->enter(rt->kern_ctx, r, URT__ENTER_EVENTS, 0);
		rt->ring_pending = 0;
	}
	urt__ring_reap(rt);
	if (ret == -ETIME || ret == -EINTR || ret == -EAGAIN || ret == -EBUSY || ret > 0)
		ret = 0;
	return ret;
}
