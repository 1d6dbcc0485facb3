/* SPDX-License-Identifier: MIT */
/*
 * signal.c - signal streams (urt/signal.h).
 *
 * A stream reads either its own signalfd (one runtime: the signals go to
 * whichever thread reads first, so one reader) or the eventfd of a hub
 * subscription (several runtimes: the hub takes each signal once, with
 * sigwaitinfo on the thread that waits, and copies it to every
 * subscriber). Both are read through the ring with urt_read, so a parked
 * runtime wakes for a signal like for any completion, and an aborted task's
 * read is cancelled by the runtime like any other.
 *
 * Delivery to a subscriber: set bit signo - 1 in its `pending` word, then
 * add 1 to its eventfd. The reader, once its read completes, swaps the
 * word for 0 and keeps the bits in the stream; the release/acquire pair on
 * the word, plus the eventfd between, make every bit set before a write
 * visible to the read it wakes. A bit set after the swap comes with a later
 * write, so the next read returns: nothing is lost, and a signal delivered
 * twice before the swap is seen once (as the kernel's pending set does).
 *
 * Why an eventfd rather than a remote waker: a waker names one task and
 * keeps its slot alive, and it must be freed by whichever side ends last;
 * the eventfd lives with the subscription, outlives any task, and the
 * reading task's abort is the runtime's usual cancel. One descriptor a
 * runtime is the whole cost.
 */
#include "urt/signal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct urt_signal_sub {
	struct urt_signal_sub *next, **pprev; /* on the hub, under its lock */
	struct urt_signal_hub *hub;
	int efd;
	_Atomic uint64_t pending; /* delivered, not yet swapped out: bit signo - 1 */
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
	*s = (struct urt_signal_stream){ .fd = -1 };
	if (!sub)
		return -EINVAL;
	s->sub = sub;
	s->fd = sub->efd;
	return 0;
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
	if (s->pending)
		return take_lowest(s);
	if (s->sub) {
		n = urt_read(self, &s->op, s->fd, &s->buf.count, sizeof(s->buf.count), -1);
		if (n == URT_PENDING || n < 0)
			return n;
		s->pending |= atomic_exchange_explicit(&s->sub->pending, 0, memory_order_acquire);
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
	pthread_mutex_init(&hub->lock, NULL);
	return 0;
}

void urt_signal_hub_deinit(struct urt_signal_hub *hub)
{
	while (hub->subs)
		urt_signal_unsubscribe(hub->subs);
	pthread_mutex_destroy(&hub->lock);
}

int urt_signal_subscribe(struct urt_signal_hub *hub, struct urt_signal_sub **out)
{
	struct urt_signal_sub *sub = calloc(1, sizeof(*sub));

	if (!sub)
		return -ENOMEM;
	sub->efd = eventfd(0, EFD_CLOEXEC);
	if (sub->efd < 0) {
		int err = errno;

		free(sub);
		return -err;
	}
	sub->hub = hub;
	pthread_mutex_lock(&hub->lock);
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

	pthread_mutex_lock(&hub->lock);
	*sub->pprev = sub->next;
	if (sub->next)
		sub->next->pprev = sub->pprev;
	pthread_mutex_unlock(&hub->lock);
	close(sub->efd);
	free(sub);
}

int urt_signal_hub_send(struct urt_signal_hub *hub, int signo)
{
	uint64_t one = 1;

	if (signo < 1 || signo > 64)
		return -EINVAL;
	pthread_mutex_lock(&hub->lock);
	for (struct urt_signal_sub *sub = hub->subs; sub; sub = sub->next) {
		atomic_fetch_or_explicit(&sub->pending, 1ull << (signo - 1), memory_order_release);
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
