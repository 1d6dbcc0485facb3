/* SPDX-License-Identifier: MIT */
/*
 * ring.c - the runtime's io_uring: setup, the wake eventfd, one enter a tick.
 *
 * Setup tries, in order, SINGLE_ISSUER|DEFER_TASKRUN|SUBMIT_ALL (the ring is
 * only ever entered by the runtime's thread, and completions are processed
 * only when we ask: no task-work interrupts), then COOP_TASKRUN|SUBMIT_ALL,
 * then no flags; the CQ ring is 8x the SQ. Only -EINVAL (flag unknown to
 * the kernel) moves on to the next; -ENOSYS / -EPERM (io_uring compiled out,
 * io_uring_disabled sysctl, seccomp) are returned at once.
 *
 * The eventfd is blocking: io_uring arms a poll on it and completes the read
 * when another thread writes; a non-blocking fd would complete at once with
 * -EAGAIN. Exactly one read is armed at a time (efd_armed).
 *
 * user_data: 1 is the eventfd read; the I/O layer's op records will use the
 * rest (index + generation).
 *
 * Syscalls: a tick with nothing prepared, nothing in flight and no reason
 * to wait makes none. Otherwise exactly one io_uring_enter: submit + get
 * events, or submit + wait with the timeout (EXT_ARG) when parking.
 */
#include "internal.h"

#include <errno.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

_Static_assert(sizeof(struct io_uring) <= URT__RING_STORAGE, "grow URT__RING_STORAGE");
_Static_assert(_Alignof(struct io_uring) <= 8, "ring storage alignment");

#define UD_EVENTFD 1

static struct io_uring *ring(struct urt_runtime *rt)
{
	return (struct io_uring *)(void *)rt->ring;
}

static void reap(struct urt_runtime *rt)
{
	struct io_uring *r = ring(rt);
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(r, head, cqe)
	{
		n++;
		if (cqe->user_data == UD_EVENTFD)
			rt->efd_armed = false; /* re-armed before the next park */
	}
	io_uring_cq_advance(r, n);
}

/*
 * An SQE, never NULL: when the SQ is full, submit what is there (reaping
 * completions if the kernel pushes back) and take the freed entry.
 */
static struct io_uring_sqe *sqe_get(struct urt_runtime *rt)
{
	struct io_uring *r = ring(rt);
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(r))) {
		int ret = io_uring_submit(r);

		if (ret >= 0)
			rt->ring_pending = 0;
		reap(rt);
	}
	rt->ring_pending++;
	return sqe;
}

static void arm_eventfd(struct urt_runtime *rt)
{
	struct io_uring_sqe *sqe;

	if (rt->efd_armed)
		return;
	sqe = sqe_get(rt);
	io_uring_prep_read(sqe, rt->efd, &rt->efd_buf, sizeof(rt->efd_buf), 0);
	io_uring_sqe_set_data64(sqe, UD_EVENTFD);
	rt->efd_armed = true;
}

int urt__ring_init(struct urt_runtime *rt, unsigned entries)
{
	static const unsigned tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		0,
	};
	int ret = -EINVAL;

	for (unsigned i = 0; i < sizeof(tries) / sizeof(tries[0]) && ret == -EINVAL; i++) {
		struct io_uring_params p = {
			.flags = tries[i] | IORING_SETUP_CQSIZE,
			.cq_entries = entries * 8,
		};

		ret = io_uring_queue_init_params(entries, ring(rt), &p);
		if (!ret)
			rt->ring_flags = p.flags;
	}
	if (ret)
		return ret;
	rt->efd = eventfd(0, EFD_CLOEXEC);
	if (rt->efd < 0) {
		ret = -errno;
		io_uring_queue_exit(ring(rt));
		return ret;
	}
	return 0;
}

void urt__ring_deinit(struct urt_runtime *rt)
{
	io_uring_queue_exit(ring(rt)); /* cancels the armed read */
	close(rt->efd);
}

int urt__ring_enter(struct urt_runtime *rt, bool park, uint64_t timeout_ns)
{
	struct io_uring *r = ring(rt);
	int ret = 0;

	if (park) {
		struct __kernel_timespec ts = {
			.tv_sec = (long long)(timeout_ns / 1000000000u),
			.tv_nsec = (long long)(timeout_ns % 1000000000u),
		};
		struct io_uring_cqe *cqe;

		arm_eventfd(rt);
		rt->stats.parks++;
		ret = io_uring_submit_and_wait_timeout(
			r, &cqe, 1, timeout_ns == URT_TICK_FOREVER ? NULL : &ts, NULL);
		rt->ring_pending = 0;
	} else if (rt->ring_pending || rt->ring_inflight) {
		ret = io_uring_submit_and_get_events(r);
		rt->ring_pending = 0;
	}
	reap(rt);
	if (ret == -ETIME || ret == -EINTR || ret == -EAGAIN || ret == -EBUSY || ret > 0)
		ret = 0;
	return ret;
}
