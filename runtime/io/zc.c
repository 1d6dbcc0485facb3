/* SPDX-License-Identifier: MIT */
/*
 * zc.c - zero-copy sends: waiting for the notification, or not.
 *
 * The bytes of a zero-copy send stay the kernel's until the peer has
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
#include "io_internal.h"

#include <errno.h>
#include <sys/socket.h>

#define ZC_GRACE_NS (500ull * 1000 * 1000) /* a task that ended: the peer's chance to ack */

/*
 * A direct descriptor's slot has no SO_COOKIE a plain call could read, but
 * only urt frees a slot (urt__sqe_fixed counts each close): the count
 * names which socket holds the slot as well.
 */
uint32_t urt__sock_cookie(int fd)
{
	struct urt_runtime *rt = urt__rt;
	uint64_t c = 0;
	socklen_t len = sizeof(c);

	void *k_ctx;
	const struct urt__kern *k = urt__kern(&k_ctx);

	if (urt_fd_is_fixed(fd)) {
		uint32_t slot = (uint32_t)fd - URT_FD_FIXED;

		return rt && slot < rt->fixed.n ? rt->fixed.gen[slot] << 1 | 1 : 0;
	}
	if (k->getsockopt(k_ctx, fd, SOL_SOCKET, SO_COOKIE, &c, &len))
		return 0;
	return (uint32_t)c ? (uint32_t)c : 1;
}

/* The same reset of a direct descriptor: only the ring can name its
 * socket. The kernel copies the address when it takes the SQE. */
static void fixed_reset(struct urt_runtime *rt, int fd, const struct sockaddr *sa)
{
	struct io_uring_sqe *sqe;

	urt__sq_reserve(rt, 1);
	sqe = io_uring_get_sqe(urt__ring(rt));
	io_uring_prep_connect(sqe, fd, sa, sizeof(*sa));
	urt__sqe_fixed(rt, sqe);
	io_uring_sqe_set_data64(sqe, URT__UD_IGNORE);
	rt->ring_pending++;
	rt->ring_inflight++;
}

void urt__zc_reset(struct urt_runtime *rt, struct urt__rec *r)
{
	/* static: a direct descriptor's reset reads it when the SQE is submitted */
	static const struct sockaddr sa = { .sa_family = AF_UNSPEC };

	if (r->rfl & URT__RF_ZC_RESET)
		return;
	r->rfl |= URT__RF_ZC_RESET;
	if (!r->cookie || urt__sock_cookie(r->fd) != r->cookie)
		return; /* not the socket it was any more */
	rt->stats.send_zc_resets++;
	if (urt_fd_is_fixed(r->fd))
		fixed_reset(rt, r->fd, &sa);
	else
		(void)rt->kern->connect(rt->kern_ctx, r->fd, &sa, sizeof(sa));
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
		urt__zc_reset(rt, r); /* no memory for a timer: do not wait */
	else
		r->rfl |= URT__RF_ZC_TIMER;
}

/* The task ended while the notification is awaited: a grace period, then a reset. */
void urt__zc_abandon(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r)
{
	zc_arm(rt, idx, r, urt_now_ns() + ZC_GRACE_NS);
}

void urt__zc_timer(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r)
{
	r->rfl &= (uint8_t)~URT__RF_ZC_TIMER;
	if (r->task->flags & URT_TASK_DRAINING) { /* the grace period is over */
		if (r->rfl & URT__RF_ZC_WAIT)
			urt__zc_reset(rt, r);
		return;
	}
	/* the deadline: like a linked timeout, the operation ends with
	 * -ECANCELED (the send's own result, if it came first and was short) */
	r->rfl |= URT__RF_TIMED_OUT;
	if (r->rfl & URT__RF_ZC_WAIT) {
		r->res = -ECANCELED;
		urt__zc_reset(rt, r);
	} else if (!(r->rfl & URT__RF_CANCELLING)) {
		urt__send_cancel(rt, r, idx);
	}
}
