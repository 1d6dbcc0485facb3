/* SPDX-License-Identifier: MIT */
/*
 * urt/time.h - time: the clock, sleeps and timers.
 *
 * Time is uint64_t nanoseconds of CLOCK_MONOTONIC. Sleeps are kept in a
 * heap in user space (no kernel object per timer): each tick that waits in
 * the kernel uses the nearest deadline as its timeout, and timers whose
 * deadline has passed fire, in deadline order (ties in the order they were
 * armed), after the tick's completions are reaped.
 *
 * A sleep is an operation (urt/io.h): it lives in a struct urt_op, may be
 * cancelled with urt_op_cancel (the await returns -ECANCELED), and a task
 * that finishes or is aborted with a sleep armed has it dropped at once.
 * For a deadline on another operation, use urt_op_set_timeout.
 */
#ifndef URT_TIME_H
#define URT_TIME_H

#include <stdint.h>

#include "urt/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* urt_now_ns - CLOCK_MONOTONIC in nanoseconds. Context: any thread. */
uint64_t urt_now_ns(void);

/*
 * urt_sleep - awaitable: wait timeout_ns from the first evaluation.
 * timeout_ns is read only when the handle is idle: while a sleep is armed
 * in it, or its result is still unread, the call returns that sleep (still
 * URT_PENDING, or its result) and a new timeout_ns is ignored. This is the
 * trap after URT_AWAIT_ANY: a sleep that lost to another source stays
 * armed with its old deadline. To start a new sleep on such a handle,
 * make it idle first (a sleep's cancel ends it at once, so this needs no
 * await; it also clears a sleep that fired meanwhile, whose 0 would
 * otherwise be the next call's result):
 *
 *	(void)urt_op_cancel(&st->nap);	  // armed: ends now, -ECANCELED kept
 *	(void)urt_op_take_late(&st->nap); // reads what is kept: idle
 *
 * Return: 0 when the time has come; -ECANCELED; -EAGAIN / -ENOMEM (no op
 * record); -EBUSY (handle in use by a stream).
 */
int urt_sleep(struct urt_task *t, struct urt_op *op, uint64_t timeout_ns);

/*
 * urt_sleep_until - awaitable: wait until urt_now_ns() >= deadline_ns. As
 * urt_sleep: deadline_ns is read only when the handle is idle.
 */
int urt_sleep_until(struct urt_task *t, struct urt_op *op, uint64_t deadline_ns);

#ifdef __cplusplus
}
#endif

#endif /* URT_TIME_H */
