/* SPDX-License-Identifier: MIT */
/*
 * server.c - the acceptor with back-pressure and the servers' signal task
 * (urt/server.h): what the example servers used to carry in header-only
 * files (examples/acceptor.h, control.h), now in the library.
 *
 * Back-pressure: the slot comes first, then the accept. A multishot accept
 * would take the whole backlog in one go, whatever the slab holds, so with
 * a slab the acceptor issues one single-shot accept per reserved slot;
 * while urt_claim_slab_wait waits, nothing is in the ring and the kernel
 * keeps new connections in the listen backlog (and, past it, the clients'
 * SYNs are retried by their kernels): no descriptor without a slot, no
 * connection accepted only to be closed.
 */
#include "urt/server.h"

#include <errno.h>
#include <unistd.h>

#include "urt/net.h"
#include "urt/runtime.h"
#include "urt/time.h"

#define BACKOFF_MIN_NS 10000000ull /* after EMFILE / ENFILE */
#define BACKOFF_MAX_NS 256000000ull

struct acceptor {
	struct urt_acceptor_opts o;
	struct urt_op acc, nap;
	struct urt_claim claim;
	uint64_t backoff;
	bool claimed;
	int fd, ret;
};

/*
 * accept(2)'s errors that are the new connection's, not the listener's:
 * Linux passes the pending network errors of the new socket up (EPROTO,
 * ENETDOWN, EHOSTUNREACH, ...), a firewall rule refuses one (EPERM), the
 * peer gave up (ECONNABORTED). The next connection may be fine: accept it.
 */
static bool accept_retry_now(int err)
{
	switch (err) {
	case -ECONNABORTED:
	case -EPROTO:
	case -EPERM:
	case -ENETDOWN:
	case -ENOPROTOOPT:
	case -EHOSTDOWN:
	case -ENONET:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ETIMEDOUT:
		return true;
	default:
		return false;
	}
}

/*
 * The listener itself is unusable (closed, not a listening socket): the
 * loop ends. Any other error (out of descriptors, memory or socket
 * buffers: EMFILE, ENFILE, ENOMEM, ENOBUFS, or one not known here) backs
 * off and accepts again: a server never stops over a passing shortage.
 */
static bool accept_fatal(int err)
{
	return err == -EBADF || err == -EINVAL || err == -ENOTSOCK || err == -EOPNOTSUPP ||
	       err == -EFAULT;
}

/* The descriptor went to on_conn. Return: whether the loop goes on. */
static bool acceptor_hand(struct acceptor *a)
{
	int ret = a->o.on_conn(a->o.arg, a->fd, a->o.boxed ? NULL : &a->claim);

	if (!a->o.boxed && !a->claim.task) /* spawned: the claim is used up */
		a->claimed = false;
	if (ret < 0)
		URT_DISCARD(urt_close_detached(a->fd));
	return true;
}

static bool acceptor_poll(struct urt_task *t, void *arg)
{
	struct acceptor *a = arg;

	URT_BEGIN(t);
	while (!a->o.stop || !*a->o.stop) {
		if (!a->o.boxed && !a->claimed) {
			URT_AWAIT(t, a->ret = urt_claim_slab_wait(t, &a->claim));
			if (a->ret)
				break;
			a->claimed = true;
		}
		if (a->o.boxed)
			URT_AWAIT(t, a->fd = urt_accept_stream(t, &a->acc, a->o.lfd));
		else
			URT_AWAIT(t, a->fd = urt_accept(t, &a->acc, a->o.lfd, NULL, NULL));
		if (a->fd == -ECANCELED || a->fd == -EINTR || accept_retry_now(a->fd))
			continue;
		if (a->fd < 0 && !accept_fatal(a->fd)) {
			if (a->o.boxed && (a->fd == -EMFILE || a->fd == -ENFILE))
				continue; /* the stream backs off by itself */
			/* counted as the stream's backoffs are (a server sheds
			 * descriptors when it sees them: urt-http's sweeper) */
			if (a->fd == -EMFILE || a->fd == -ENFILE)
				urt_runtime_current()->stats.accept_backoffs++;
			a->backoff = a->backoff ? a->backoff * 2 : BACKOFF_MIN_NS;
			if (a->backoff > BACKOFF_MAX_NS)
				a->backoff = BACKOFF_MAX_NS;
			URT_AWAIT(t, a->ret = urt_sleep(t, &a->nap, a->backoff));
			continue;
		}
		if (a->fd < 0)
			break;
		a->backoff = 0;
		acceptor_hand(a);
	}
	URT_END(t);
}

static void acceptor_drop(struct urt_task *t, void *arg)
{
	struct acceptor *a = arg;

	(void)t;
	if (a->claimed)
		urt_claim_release(&a->claim);
	/* an accept that completed after the poll ended (abort) left its
	 * descriptor in the handle only */
	if (!a->o.boxed && a->acc.state == URT_OP_DONE && a->acc.res >= 0)
		URT_DISCARD(urt_close_detached(a->acc.res));
}

static const struct urt_task_type acceptor_type = { .poll = acceptor_poll,
						    .drop = acceptor_drop,
						    .name = "urt-acceptor" };

int urt_acceptor_start(struct urt_runtime *rt, const struct urt_acceptor_opts *o,
		       struct urt_join *join)
{
	if (!o || !o->on_conn || o->lfd < 0)
		return -EINVAL;
	return urt_spawn(rt, &acceptor_type, &(struct acceptor){ .o = *o, .fd = -1 },
			 sizeof(struct acceptor), join);
}

/* --- signals ------------------------------------------------------------------ */

struct sigtask {
	struct urt_server_signals_opts o;
	struct urt_signal_stream sig;
	int signo;
};

static bool sigtask_poll(struct urt_task *t, void *arg)
{
	struct sigtask *s = arg;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, s->signo = urt_signal_recv(t, &s->sig));
		if (s->signo == SIGUSR1) {
			if (s->o.on_stats)
				s->o.on_stats(s->o.arg);
			continue;
		}
		if (s->signo == SIGINT || s->signo == SIGTERM || s->signo < 0)
			break;
	}
	if (s->o.on_stop)
		s->o.on_stop(s->o.arg);
	urt_stop(urt_runtime_current());
	URT_END(t);
}

static void sigtask_drop(struct urt_task *t, void *arg)
{
	struct sigtask *s = arg;

	(void)t;
	urt_signal_close(&s->sig);
}

static const struct urt_task_type sigtask_type = { .poll = sigtask_poll,
						   .drop = sigtask_drop,
						   .name = "urt-signals" };

static void server_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGUSR1);
	signal(SIGPIPE, SIG_IGN);
}

int urt_server_signals_hub(struct urt_signal_hub *hub)
{
	sigset_t set;

	server_set(&set);
	return urt_signal_hub_init(hub, &set);
}

int urt_server_signals_start(struct urt_runtime *rt, const struct urt_server_signals_opts *o)
{
	struct sigtask s = { .o = *o };
	sigset_t set;
	int ret;

	if (o->sub) {
		ret = urt_signal_attach(&s.sig, o->sub);
	} else {
		server_set(&set);
		ret = urt_signal_open(&s.sig, &set);
	}
	if (ret)
		return ret;
	ret = urt_spawn(rt, &sigtask_type, &s, sizeof(s), NULL);
	if (ret)
		urt_signal_close(&s.sig);
	return ret;
}
