/* SPDX-License-Identifier: MIT */
/*
 * urt/signal.h - signals as an awaitable stream: no handler ever runs on a
 * runtime's thread; a task awaits the next signal through the ring.
 *
 * A signal is taken only while it is blocked: a blocked signal stays
 * pending until something takes it, an unblocked one runs its handler (or
 * its default action: SIGTERM ends the process) and never reaches a stream.
 *
 * One runtime on one thread: block the set in that thread and open a
 * stream on it (a signalfd, read through the ring):
 *
 *	sigset_t set;
 *	sigemptyset(&set);
 *	sigaddset(&set, SIGTERM);
 *	ret = urt_signal_open(&st->sig, &set);	// blocks the set in this thread
 *	...
 *	URT_AWAIT(t, st->signo = urt_signal_recv(t, &st->sig));
 *
 * Block the set before any other thread is started (threads inherit the
 * mask): a process-directed signal (kill(1)) goes to any one thread that
 * does not block it, so a thread that does would take it instead.
 *
 * Nothing is taken before the set is blocked: a signal that comes earlier
 * gets its action then, the default one (SIGTERM, SIGINT end the process)
 * or, if the program started with it ignored, none: it is discarded (a
 * background job of a non-interactive shell starts with SIGINT and
 * SIGQUIT ignored). Once blocked, a signal stays pending even if ignored,
 * and the stream takes it. So open the stream (or init the hub) first
 * thing in main, before the runtime and before any thread.
 *
 * Several runtimes on several threads: a signalfd hands each signal to one
 * reader, and every runtime wants SIGTERM. Use a hub: the main thread
 * blocks the set with urt_signal_hub_init before it starts any thread (so
 * every thread inherits the mask), subscribes one struct urt_signal_sub per
 * runtime, starts the threads, and then loops on urt_signal_hub_wait, which
 * takes each signal (sigwaitinfo) and delivers it to every subscriber (an
 * eventfd each, read through its runtime's ring). Each runtime awaits its
 * subscription with the same urt_signal_recv. urt_signal_hub_send delivers
 * a signal number without a signal (a stop decided in-process).
 *
 * Lifetimes: a subscription is a slot the hub owns. Unsubscribe ends it
 * (the slot goes back to the hub, which may hand it out again); only
 * urt_signal_hub_deinit frees memory. So the hub outlives every stream of
 * it, while a stream may outlive its subscription: a stream whose
 * subscription was unsubscribed (from any thread, even with its read in
 * flight) answers -EBADF, and never reads or takes another subscription's
 * signals, even one that got the same slot or descriptor number.
 *
 * Coalescing, as with the kernel's own pending set: a subscriber that has
 * not yet taken a signal gets it once however often it was delivered
 * meanwhile; different signals are all kept and come lowest number first.
 *
 * Context: the stream calls are for the runtime's thread; the hub calls
 * for any thread (the hub's list has a lock; delivery writes an eventfd).
 */
#ifndef URT_SIGNAL_H
#define URT_SIGNAL_H

#if defined(__STRICT_ANSI__) && !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE) &&              \
	!defined(_XOPEN_SOURCE) && !defined(_DEFAULT_SOURCE)
#error "urt/signal.h needs POSIX (sigset_t): compile with -std=gnu11, or define _GNU_SOURCE before the first #include"
#endif

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "urt/io.h"

#ifdef __cplusplus
extern "C" {
#endif

struct urt_signal_sub;

/* A process-wide hub: a signal set, and the subscribers that want it. */
struct urt_signal_hub {
	sigset_t set;
	pthread_mutex_t lock;
	struct urt_signal_sub *subs; /* subscribed */
	struct urt_signal_sub *free; /* unsubscribed slots, for the next subscribe */
};

/* A stream of signals, kept in a task's state. */
struct urt_signal_stream {
	int fd;			    /* the signalfd, or our descriptor of the sub's eventfd */
	struct urt_signal_sub *sub; /* NULL: a signalfd of our own */
	uint64_t gen;		    /* the sub's generation when attached */
	bool own;		    /* fd is ours to close (a zeroed stream owns nothing) */
	uint64_t pending;	    /* taken in, not yet returned: bit signo - 1 */
	struct urt_op op;
	union {
		uint64_t count;	       /* the eventfd's value */
		unsigned char si[128]; /* struct signalfd_siginfo */
	} buf;
};

/*
 * urt_signal_open - block `set` in the calling thread and open a stream of
 * it (a signalfd). Close it with urt_signal_close, from the task's drop.
 * Return: 0; -EINVAL for an empty set; -EMFILE, -ENFILE, -ENOMEM from
 * signalfd(2) (the mask is left blocked).
 * Context: the runtime's thread. It needs no runtime or task: open it on
 * that thread before urt_runtime_init (see above) and copy the struct into
 * the task's state (urt_spawn copies it), since it holds no pointer into
 * itself and its op stays idle until the first urt_signal_recv. From that
 * recv on it must not move while a read is in flight (the kernel writes
 * into it). The copy is then the stream: read and close only the copy.
 */
int urt_signal_open(struct urt_signal_stream *s, const sigset_t *set);

/*
 * urt_signal_attach - a stream of a hub subscription (see above): the
 * stream reads a descriptor of its own (a dup of the subscription's
 * eventfd), so close it with urt_signal_close like an opened one. The
 * stream does not own the subscription: urt_signal_close leaves it.
 * Return: 0; -EINVAL for a NULL sub; -EBADF for a sub already unsubscribed
 * (while its slot is not handed out again); -EMFILE, -ENFILE from the dup.
 * The hub must outlive every use of the stream but urt_signal_close.
 * It needs no runtime or task (it takes the hub's lock and dups the
 * eventfd): as with urt_signal_open, the struct may be made outside the
 * task and copied into its state until its first recv.
 */
int urt_signal_attach(struct urt_signal_stream *s, struct urt_signal_sub *sub);

/*
 * urt_signal_recv - awaitable: the next signal's number.
 * Return: the number (> 0); URT_PENDING; -EBADF for a closed stream, or a
 * stream whose subscription was unsubscribed (before the call, or while
 * its read was in flight: unsubscribe wakes the read); -ECANCELED if the
 * read was cancelled; another -errno of the read.
 * Context: the runtime's thread. A subscription's stream takes the hub's
 * lock briefly before it submits its read and when the read completes.
 */
int urt_signal_recv(struct urt_task *self, struct urt_signal_stream *s);

/*
 * urt_signal_close - close a stream's own descriptor: its signalfd, or its
 * dup of a subscription's eventfd (not the subscription, not the mask:
 * blocked signals stay blocked). Idempotent, and safe on a zeroed stream
 * (a task aborted before it opened one); it never touches the hub, so it
 * is safe after urt_signal_hub_deinit too. Call it from drop (the read is
 * over by then), or after a recv returned.
 */
void urt_signal_close(struct urt_signal_stream *s);

/*
 * urt_signal_hub_init - block `set` in the calling thread (before any
 * other is started: they inherit it) and make an empty hub.
 * Return: 0; -EINVAL for an empty set; -errno from pthread_sigmask.
 * Context: the main thread, before it starts the others.
 */
int urt_signal_hub_init(struct urt_signal_hub *hub, const sigset_t *set);

/*
 * urt_signal_hub_deinit - unsubscribe every subscription still there and
 * free every slot. After the last use of every stream of the hub (their
 * runtimes deinit'ed, or their tasks ended): a stream must not be read
 * after this (urt_signal_close is still fine). The mask stays blocked.
 */
void urt_signal_hub_deinit(struct urt_signal_hub *hub);

/*
 * urt_signal_subscribe - a new subscriber of the hub: every signal
 * delivered from now on reaches it. It may get the slot (the same
 * pointer) of an earlier, unsubscribed one; that one's streams stay stale.
 * Return: 0 and *out; -ENOMEM; -EMFILE, -ENFILE from eventfd(2).
 * Context: any thread.
 */
int urt_signal_subscribe(struct urt_signal_hub *hub, struct urt_signal_sub **out);

/*
 * urt_signal_unsubscribe - end a subscription: no signal reaches it any
 * more, and its slot goes back to the hub (freed by hub_deinit). Its
 * streams become stale: a read in flight is woken, and every recv answers
 * -EBADF (close them as usual). A second call on a sub already
 * unsubscribed does nothing, as long as subscribe has not handed its slot
 * out again (then the pointer names the new subscription).
 * Context: any thread.
 */
void urt_signal_unsubscribe(struct urt_signal_sub *sub);

/*
 * urt_signal_hub_wait - take the next signal of the hub's set (sigwaitinfo,
 * retried on EINTR) and deliver it to every subscriber.
 * Return: its number.
 * Context: a thread with the set blocked (the main thread, in its loop).
 */
int urt_signal_hub_wait(struct urt_signal_hub *hub);

/*
 * urt_signal_hub_send - deliver signo to every subscriber as if it had
 * arrived (no signal is raised).
 * Return: 0; -EINVAL for a signo outside 1..64.
 * Context: any thread.
 */
int urt_signal_hub_send(struct urt_signal_hub *hub, int signo);

#ifdef __cplusplus
}
#endif

#endif /* URT_SIGNAL_H */
