/* SPDX-License-Identifier: MIT */
/*
 * urt/server.h - what every server built on urt writes: an accept loop with
 * back-pressure, and SIGINT / SIGTERM / SIGUSR1 handling for one runtime or
 * several (one a thread).
 *
 * The acceptor (urt_acceptor_start) is a task on a listening socket.
 * With a slab (the default), it reserves the next connection's slot
 * *before* it accepts (urt_claim_slab_wait) and accepts one connection per
 * reserved slot: when the slab is full it accepts nothing and waits for a
 * slot, so new connections wait in the kernel's listen backlog (none is
 * accepted and closed) and it resumes as slots go back. on_conn gets the
 * descriptor and the claim: build the connection's state in it
 * (urt_claim_state) and urt_claim_spawn it; or refuse (return < 0: the
 * acceptor closes the descriptor and keeps the claim for the next one).
 * Without a slab (.boxed), it uses a multishot accept stream and on_conn
 * gets a NULL claim (spawn boxed tasks; the server bounds them itself).
 * Only a listener that is unusable ends it (-EBADF, -EINVAL, -ENOTSOCK,
 * -EOPNOTSUPP, -EFAULT). The new connection's own errors (-ECONNABORTED,
 * -EPROTO, -EPERM, the network ones accept(2) lists) accept again at once;
 * any other (-EMFILE, -ENFILE, -ENOMEM, -ENOBUFS: a shortage) backs off
 * (10 ms, doubling to 256 ms while it lasts) and accepts again; each
 * backoff for -EMFILE or -ENFILE counts in stats.accept_backoffs, as the
 * accept stream's do (a server that watches it can free descriptors).
 *
 * Signals (urt_server_signals_*): SIGUSR1 calls on_stats on the runtime's
 * thread; SIGINT and SIGTERM call on_stop there and stop the runtime
 * (urt_stop: urt_run returns, and deinit aborts the connections). Several
 * runtimes: the main thread makes a hub (urt_server_signals_hub) before it
 * starts any thread, subscribes one struct urt_signal_sub per runtime,
 * passes it in, and loops on urt_signal_hub_wait until it returns SIGINT
 * or SIGTERM; every runtime gets every signal. One runtime:
 * leave .sub NULL and the task opens its own signalfd (the set is blocked
 * in the calling thread: call it before starting other threads).
 * SIGPIPE is ignored by both set-ups (a peer gone is an error result).
 */
#ifndef URT_SERVER_H
#define URT_SERVER_H

#include <stdbool.h>

#include "urt/signal.h"
#include "urt/task.h"

#ifdef __cplusplus
extern "C" {
#endif

struct urt_acceptor_opts {
	int lfd; /* listening socket; not closed by the acceptor */
	/*
	 * A new connection. claim: the slot reserved for it (NULL with
	 * .boxed). Return: 0, the descriptor taken (and the claim spawned, or
	 * left for the next connection); < 0, refused: the acceptor closes fd.
	 */
	int (*on_conn)(void *arg, int fd, struct urt_claim *claim);
	void *arg;
	/* optional: accept no more once *stop is true, seen when the acceptor
	 * next wakes (an accept or a free slot): to stop at once, abort its
	 * task through the join handle, or urt_stop the runtime */
	const bool *stop;
	bool boxed;	  /* no slab: multishot accept, no claims */
};

/*
 * urt_acceptor_start - spawn the accept loop (a boxed task) on rt. It ends
 * when the listener is unusable (the errors above), *stop is
 * seen set, or it is aborted (deinit does); a claim it holds then goes back.
 * join may be NULL.
 * Return: 0; -EINVAL (no on_conn, lfd < 0); the spawn's -errno.
 */
URT_NODISCARD int urt_acceptor_start(struct urt_runtime *rt, const struct urt_acceptor_opts *o,
				     struct urt_join *join);

struct urt_server_signals_opts {
	struct urt_signal_sub *sub; /* from the hub; NULL: a signalfd of this runtime's */
	void (*on_stats)(void *arg); /* SIGUSR1; optional */
	void (*on_stop)(void *arg);  /* SIGINT, SIGTERM, before urt_stop; optional */
	void *arg;
};

/*
 * urt_server_signals_hub - block SIGINT, SIGTERM and SIGUSR1 in the calling
 * thread (and so in the threads it starts after), ignore SIGPIPE, and make
 * a hub of the three (urt/signal.h).
 * Return: 0; -errno as urt_signal_hub_init.
 * Context: the main thread, before it starts the runtimes' threads.
 */
int urt_server_signals_hub(struct urt_signal_hub *hub);

/*
 * urt_server_signals_start - spawn the task taking the signals on rt (a
 * boxed task, detached; it ends after a stop, or at deinit).
 * Return: 0; -EMFILE, -ENFILE, -ENOMEM from the signalfd (no .sub); the
 * spawn's -errno.
 * Context: rt's thread.
 */
URT_NODISCARD int urt_server_signals_start(struct urt_runtime *rt,
					   const struct urt_server_signals_opts *o);

#ifdef __cplusplus
}
#endif

#endif /* URT_SERVER_H */
