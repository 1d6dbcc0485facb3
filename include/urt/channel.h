/* SPDX-License-Identifier: MIT */
/*
 * urt/channel.h - channels between tasks of one runtime.
 *
 * A oneshot carries one 64-bit value (or a pointer) from a sender to a
 * receiver. A chan is a bounded multi-producer, single-consumer queue of
 * 64-bit values, its ring buffer allocated once at init. Sending and
 * receiving are awaitables (see URT_AWAIT in urt/task.h):
 *
 *	URT_AWAIT(t, st->ret = urt_chan_send(t, &st->ch, 42));
 *	URT_AWAIT(t, st->ret = urt_chan_recv(t, &st->ch, &st->value));
 *
 * Closing wakes every task waiting on the channel: pending receives drain
 * what is buffered, then fail with -EPIPE; sends fail with -EPIPE at once.
 * Context: the runtime's thread. A channel with parked tasks must not be
 * deinit'ed (debug builds assert); close it and let them run first.
 */
#ifndef URT_CHANNEL_H
#define URT_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "urt/allocator.h"
#include "urt/task.h"

#ifdef __cplusplus
extern "C" {
#endif

struct urt_oneshot {
	uint64_t value;
	struct urt_waitq rx; /* the receiver, parked */
	uint8_t state;	     /* URT_ONESHOT_* */
};

#define URT_ONESHOT_EMPTY  0
#define URT_ONESHOT_FULL   1 /* sent, not yet received */
#define URT_ONESHOT_TAKEN  2 /* received */
#define URT_ONESHOT_CLOSED 3 /* closed before a value was sent */

/* urt_oneshot_init - an empty oneshot. */
void urt_oneshot_init(struct urt_oneshot *o);

/*
 * urt_oneshot_send - store the value and wake the receiver.
 * Return: 0; -EPIPE if closed; -EALREADY if a value was already sent.
 */
int urt_oneshot_send(struct urt_oneshot *o, uint64_t value);

/*
 * urt_oneshot_recv - awaitable: the value.
 * Return: 0 and *out; -EPIPE if closed without a value; -EALREADY if the
 * value was already taken; -EBUSY if another task is already waiting to
 * receive; -ENOMEM; URT_PENDING.
 */
int urt_oneshot_recv(struct urt_task *self, struct urt_oneshot *o, uint64_t *out);

/*
 * urt_oneshot_close - no value will come (or none is wanted); wakes the
 * receiver. A value already sent is kept: a close never loses it.
 */
void urt_oneshot_close(struct urt_oneshot *o);

struct urt_chan {
	uint64_t *buf; /* cap values */
	uint32_t cap;  /* capacity */
	uint32_t head; /* index of the oldest value */
	uint32_t len;  /* values buffered */
	bool closed;
	struct urt_waitq recvq; /* the receiver, when empty */
	struct urt_waitq sendq; /* senders, when full */
	struct urt_allocator al;
};

/*
 * urt_chan_init - a channel of cap values (allocated now, never again).
 * Return: 0; -EINVAL for cap 0; -ENOMEM.
 */
URT_NODISCARD int urt_chan_init(struct urt_chan *c, uint32_t cap, const struct urt_allocator *al);

/* urt_chan_deinit - free the buffer (values still in it are dropped). */
void urt_chan_deinit(struct urt_chan *c);

/*
 * urt_chan_send - awaitable: queue a value, waiting while the channel is full.
 * Return: 0; -EPIPE if closed; -ENOMEM; URT_PENDING.
 */
int urt_chan_send(struct urt_task *self, struct urt_chan *c, uint64_t value);

/*
 * urt_chan_try_send - queue a value without waiting (also outside tasks).
 * Return: 0; -EAGAIN if full; -EPIPE if closed.
 */
int urt_chan_try_send(struct urt_chan *c, uint64_t value);

/*
 * urt_chan_recv - awaitable: the oldest value. One receiver at a time.
 * Return: 0 and *out; -EPIPE if closed and empty; -EBUSY if another task is
 * already waiting to receive; -ENOMEM; URT_PENDING.
 */
int urt_chan_recv(struct urt_task *self, struct urt_chan *c, uint64_t *out);

/*
 * urt_chan_try_recv - take the oldest value without waiting.
 * Return: 0 and *out; -EAGAIN if empty; -EPIPE if closed and empty.
 */
int urt_chan_try_recv(struct urt_chan *c, uint64_t *out);

/* urt_chan_close - refuse new values, wake everyone waiting. Idempotent. */
void urt_chan_close(struct urt_chan *c);

#ifdef __cplusplus
}
#endif

#endif /* URT_CHANNEL_H */
