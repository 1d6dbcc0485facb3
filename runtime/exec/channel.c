/* SPDX-License-Identifier: MIT */
/*
 * channel.c - oneshot and bounded MPSC channels between local tasks.
 *
 * Waiting is registering on a struct urt_waitq; any state change that
 * could let a waiter proceed wakes every waiter on that side, and each one
 * re-evaluates its await (URT_AWAIT re-runs the call). Waking all is
 * simple and cannot lose a wake-up; senders are few.
 *
 * One receiver at a time: a second task that would wait on the receive
 * side while another is waiting there gets -EBUSY. Fair multi-consumer
 * hand-off (wake one, FIFO) cannot be made lossless cheaply once a
 * receiver may also be waiting on something else (a select): the one woken
 * may take the other branch and strand the value. Use one channel per
 * consumer.
 *
 * Ring buffer: values at buf[(head + i) % cap] for i < len.
 */
#include "urt/channel.h"

#include <errno.h>

#include "exec_internal.h"

/* Register self as the one receiver. Return: URT_PENDING; -EBUSY; -ENOMEM. */
static int park_rx(struct urt_waitq *q, struct urt_task *self)
{
	struct urt_task *other = urt__waitq_first(q);
	int ret;

	if (other && other != self)
		return -EBUSY;
	ret = urt__waitq_park(q, self);
	return ret ? ret : URT_PENDING;
}

void urt_oneshot_init(struct urt_oneshot *o)
{
	*o = (struct urt_oneshot){ .state = URT_ONESHOT_EMPTY };
}

int urt_oneshot_send(struct urt_oneshot *o, uint64_t value)
{
	if (o->state == URT_ONESHOT_CLOSED)
		return -EPIPE;
	if (o->state != URT_ONESHOT_EMPTY)
		return -EALREADY;
	o->value = value;
	o->state = URT_ONESHOT_FULL;
	urt__waitq_wake_all(&o->rx);
	return 0;
}

int urt_oneshot_recv(struct urt_task *self, struct urt_oneshot *o, uint64_t *out)
{
	switch (o->state) {
	case URT_ONESHOT_FULL:
		*out = o->value;
		o->state = URT_ONESHOT_TAKEN;
		return 0;
	case URT_ONESHOT_TAKEN:
		return -EALREADY;
	case URT_ONESHOT_CLOSED:
		return -EPIPE;
	default:
		return park_rx(&o->rx, self);
	}
}

void urt_oneshot_close(struct urt_oneshot *o)
{
	if (o->state == URT_ONESHOT_EMPTY) /* a sent value stays receivable */
		o->state = URT_ONESHOT_CLOSED;
	urt__waitq_wake_all(&o->rx);
}

int urt_chan_init(struct urt_chan *c, uint32_t cap, const struct urt_allocator *al)
{
	if (!cap)
		return -EINVAL;
	*c = (struct urt_chan){ .cap = cap, .al = al ? *al : urt_allocator_default };
	c->buf = c->al.alloc(c->al.ctx, (size_t)cap * sizeof(uint64_t), _Alignof(uint64_t));
	return c->buf ? 0 : -ENOMEM;
}

void urt_chan_deinit(struct urt_chan *c)
{
	URT_ASSERT(!c->recvq.head && !c->sendq.head, "channel deinit with tasks parked on it");
	if (c->buf)
		c->al.free(c->al.ctx, c->buf, (size_t)c->cap * sizeof(uint64_t),
			   _Alignof(uint64_t));
	c->buf = NULL;
}

int urt_chan_try_send(struct urt_chan *c, uint64_t value)
{
	if (c->closed)
		return -EPIPE;
	if (c->len == c->cap)
		return -EAGAIN;
	c->buf[(c->head + c->len++) % c->cap] = value;
	urt__waitq_wake_all(&c->recvq);
	return 0;
}

int urt_chan_send(struct urt_task *self, struct urt_chan *c, uint64_t value)
{
	int ret = urt_chan_try_send(c, value);

	if (ret != -EAGAIN)
		return ret;
	ret = urt__waitq_park(&c->sendq, self);
	return ret ? ret : URT_PENDING;
}

int urt_chan_try_recv(struct urt_chan *c, uint64_t *out)
{
	if (!c->len)
		return c->closed ? -EPIPE : -EAGAIN;
	*out = c->buf[c->head];
	c->head = (c->head + 1) % c->cap;
	c->len--;
	urt__waitq_wake_all(&c->sendq);
	return 0;
}

int urt_chan_recv(struct urt_task *self, struct urt_chan *c, uint64_t *out)
{
	int ret = urt_chan_try_recv(c, out);

	if (ret != -EAGAIN)
		return ret;
	return park_rx(&c->recvq, self);
}

void urt_chan_close(struct urt_chan *c)
{
	c->closed = true;
	urt__waitq_wake_all(&c->recvq);
	urt__waitq_wake_all(&c->sendq);
}
