/* SPDX-License-Identifier: MIT */
/*
 * signal.c - signal streams (urt/signal.h).
 *
 * A stream reads either its own signalfd (one runtime: the signals go to
 * whichever thread reads first, so one reader) or its own descriptor of
 * the eventfd of a hub subscription (several runtimes: the hub takes each
 * signal once, with sigwaitinfo on the thread that waits, and copies it to
 * every subscriber). Both are read through the ring with urt_read, so a
 * parked runtime wakes for a signal like for any completion, and an
 * aborted task's read is cancelled by the runtime like any other.
 *
 * Delivery to a subscriber, under the hub's lock: set bit signo - 1 in its
 * `pending` word, then add 1 to its eventfd. The reader, once its read
 * completes, takes the lock and swaps the word for 0, keeping the bits in
 * the stream. A bit set after the swap comes with a later write, so the
 * next read returns: nothing is lost, and a signal delivered twice before
 * the swap is seen once (as the kernel's pending set does).
 *
 * Subscriptions are slots the hub owns: unsubscribe puts a slot on the
 * hub's free list (subscribe hands it out again) and only hub_deinit frees
 * memory, so a stream's pointer to its slot stays valid as long as the hub
 * does. Each slot has a generation, odd while subscribed, bumped by
 * unsubscribe and again by the next subscribe; a stream keeps the one it
 * attached to and checks it under the lock before it submits a read and
 * when the read completes, before it touches the slot's word. A stale
 * stream answers -EBADF and never takes another subscription's signals.
 *
 * A stale stream never reads another subscription's eventfd either: the
 * stream reads a descriptor of its own (a dup made by attach), which keeps
 * its subscription's eventfd alive after unsubscribe closed the slot's,
 * however the number is reused. Unsubscribe writes that eventfd once
 * before closing it: a read still in flight completes, finds the
 * generation moved on, and answers -EBADF rather than parking forever.
 *
 * Why an eventfd rather than a remote waker: a waker names one task and
 * keeps its slot alive, and it must be freed by whichever side ends last;
 * the eventfd lives with the subscription, outlives any task, and the
 * reading task's abort is the runtime's usual cancel. Two descriptors a
 * runtime (the slot's, the stream's) are the whole cost.
 */
#include "urt/signal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* A hub's slot: on its list while subscribed, on its free list after. */
struct urt_signal_sub {
	struct urt_signal_sub *next, **pprev; /* free list: next only */
	struct urt_signal_hub *hub;	      /* set once, when the slot is made */
	uint64_t gen;			      /* odd: subscribed; under the lock */
	uint64_t pending;		      /* delivered, not swapped out: bit signo - 1 */
	int efd;			      /* -1 while free; under the lock */
};

static int set_empty(const sigset_t *set)
{
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(set, sig) == 1)
			return 0;
	return 1;
}

int urt_signal_open(struct urt_signal_stream *s, const sigset_t *set)
{
	int fd;

	*s = (struct urt_signal_stream){ .fd = -1 };
	if (set_empty(set))
		return -EINVAL;
	pthread_sigmask(SIG_BLOCK, set, NULL);
	fd = signalfd(-1, set, SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	s->fd = fd;
	s->own = true;
	return 0;
}

int urt_signal_attach(struct urt_signal_stream *s, struct urt_signal_sub *sub)
{
	int ret = 0;

	*s = (struct urt_signal_stream){ .fd = -1 };
	if (!sub)
		return -EINVAL;
	pthread_mutex_lock(&sub->hub->lock);
	if (!(sub->gen & 1))
		ret = -EBADF;
	else if ((s->fd = fcntl(sub->efd, F_DUPFD_CLOEXEC, 0)) < 0)
		ret = -errno;
	s->gen = sub->gen;
	pthread_mutex_unlock(&sub->hub->lock);
	if (ret) {
		s->fd = -1;
		return ret;
	}
	s->sub = sub;
	s->own = true;
	return 0;
}

/* Whether the stream's subscription is still the one it attached to. */
static bool sub_current(const struct urt_signal_stream *s)
{
	bool cur;

	pthread_mutex_lock(&s->sub->hub->lock);
	cur = s->sub->gen == s->gen;
	pthread_mutex_unlock(&s->sub->hub->lock);
	return cur;
}

/*
 * A read of the subscription's eventfd completed: take its word into the
 * stream, unless the subscription is gone (then its slot may be another's).
 */
static int sub_take(struct urt_signal_stream *s)
{
	int ret = 0;

	pthread_mutex_lock(&s->sub->hub->lock);
	if (s->sub->gen == s->gen) {
		s->pending |= s->sub->pending;
		s->sub->pending = 0;
	} else {
		ret = -EBADF;
	}
	pthread_mutex_unlock(&s->sub->hub->lock);
	return ret;
}

/* The lowest pending signal, taken off the stream's word. */
static int take_lowest(struct urt_signal_stream *s)
{
	int bit = __builtin_ctzll(s->pending);

	s->pending &= s->pending - 1;
	return bit + 1;
}

int urt_signal_recv(struct urt_task *self, struct urt_signal_stream *s)
{
	int n;

	if (s->fd < 0)
		return -EBADF;
	if (s->sub) {
		/* before a submission: a stale stream reads nothing */
		if (s->op.state == URT_OP_IDLE && !sub_current(s))
			return -EBADF;
		if (s->pending)
			return take_lowest(s);
		n = urt_read(self, &s->op, s->fd, &s->buf.count, sizeof(s->buf.count), -1);
		if (n == URT_PENDING || n < 0)
			return n;
		n = sub_take(s); /* on completion: a stale stream takes nothing */
		if (n < 0)
			return n;
		if (!s->pending) /* a write whose bits an earlier swap took: read again */
			return urt_signal_recv(self, s);
		return take_lowest(s);
	}
	n = urt_read(self, &s->op, s->fd, s->buf.si, sizeof(struct signalfd_siginfo), -1);
	if (n == URT_PENDING || n < 0)
		return n;
	if (n != (int)sizeof(struct signalfd_siginfo))
		return -EIO;
	return (int)((struct signalfd_siginfo *)(void *)s->buf.si)->ssi_signo;
}

void urt_signal_close(struct urt_signal_stream *s)
{
	if (s->own && s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->own = false;
}

int urt_signal_hub_init(struct urt_signal_hub *hub, const sigset_t *set)
{
	int ret;

	if (set_empty(set))
		return -EINVAL;
	ret = pthread_sigmask(SIG_BLOCK, set, NULL);
	if (ret)
		return -ret;
	hub->set = *set;
	hub->subs = NULL;
	hub->free = NULL;
	pthread_mutex_init(&hub->lock, NULL);
	return 0;
}

void urt_signal_hub_deinit(struct urt_signal_hub *hub)
{
	struct urt_signal_sub *sub;

	while (hub->subs)
		urt_signal_unsubscribe(hub->subs);
	while ((sub = hub->free)) {
		hub->free = sub->next;
		free(sub);
	}
	pthread_mutex_destroy(&hub->lock);
}

int urt_signal_subscribe(struct urt_signal_hub *hub, struct urt_signal_sub **out)
{
	struct urt_signal_sub *sub;
	int efd = eventfd(0, EFD_CLOEXEC);

	if (efd < 0)
		return -errno;
	pthread_mutex_lock(&hub->lock);
	sub = hub->free;
	if (sub) {
		hub->free = sub->next;
	} else {
		sub = calloc(1, sizeof(*sub));
		if (!sub) {
			pthread_mutex_unlock(&hub->lock);
			close(efd);
			return -ENOMEM;
		}
		sub->hub = hub;
	}
	sub->gen++; /* odd: subscribed */
	sub->pending = 0;
	sub->efd = efd;
	sub->next = hub->subs;
	sub->pprev = &hub->subs;
	if (hub->subs)
		hub->subs->pprev = &sub->next;
	hub->subs = sub;
	pthread_mutex_unlock(&hub->lock);
	*out = sub;
	return 0;
}

void urt_signal_unsubscribe(struct urt_signal_sub *sub)
{
	struct urt_signal_hub *hub = sub->hub;
	uint64_t one = 1;
	int efd;

	pthread_mutex_lock(&hub->lock);
	if (!(sub->gen & 1)) { /* already unsubscribed */
		pthread_mutex_unlock(&hub->lock);
		return;
	}
	*sub->pprev = sub->next;
	if (sub->next)
		sub->next->pprev = sub->pprev;
	sub->gen++; /* even: every stream of it is stale */
	efd = sub->efd;
	sub->efd = -1;
	sub->pprev = NULL;
	sub->next = hub->free;
	hub->free = sub;
	pthread_mutex_unlock(&hub->lock);
	/* wake a read in flight: it completes and finds the generation moved on */
	if (write(efd, &one, sizeof(one)) < 0) {
		/* an eventfd write fails only at a count near 2^64: a read is due anyway */
	}
	close(efd);
}

int urt_signal_hub_send(struct urt_signal_hub *hub, int signo)
{
	uint64_t one = 1;

	if (signo < 1 || signo > 64)
		return -EINVAL;
	pthread_mutex_lock(&hub->lock);
	for (struct urt_signal_sub *sub = hub->subs; sub; sub = sub->next) {
		sub->pending |= 1ull << (signo - 1);
		/* an eventfd write fails only at a count near 2^64 */
		if (write(sub->efd, &one, sizeof(one)) < 0)
			continue;
	}
	pthread_mutex_unlock(&hub->lock);
	return 0;
}

int urt_signal_hub_wait(struct urt_signal_hub *hub)
{
	int sig;

	do
		sig = sigwaitinfo(&hub->set, NULL);
	while (sig < 0);
	urt_signal_hub_send(hub, sig);
	return sig;
}
