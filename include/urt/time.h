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
 * Return: 0 when the time has come; -ECANCELED; -EAGAIN / -ENOMEM (no op
 * record); -EBUSY (handle in use by a stream).
 */
int urt_sleep(struct urt_task *t, struct urt_op *op, uint64_t timeout_ns);

/* urt_sleep_until - awaitable: wait until urt_now_ns() >= deadline_ns. */
int urt_sleep_until(struct urt_task *t, struct urt_op *op, uint64_t deadline_ns);

#ifdef __cplusplus
}
#endif

#endif /* URT_TIME_H */
