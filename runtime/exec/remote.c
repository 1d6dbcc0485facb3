/* SPDX-License-Identifier: MIT */
/*
 * remote.c - what other threads may do to a runtime: wake a task through a
 * remote waker, spawn a boxed task. Nothing here touches a task header from
 * another thread.
 *
 * Messages travel on an intrusive MPSC queue (Vyukov): producers swap
 * themselves in at `head` and then link the previous node; the owner pops
 * at `tail`. Between a producer's two steps the queue is briefly
 * inconsistent: pop then returns NULL although head != tail, and the owner
 * treats the queue as non-empty (it ticks again without parking) rather
 * than spin.
 *
 * A remote waker is a record {node, state, task} from a pool of the owner.
 * state bits: QUEUED (the node is on the queue), WAKE, FREED.
 *   wake (any thread):  old = fetch_or(WAKE|QUEUED); push if !(old & QUEUED)
 *   free (any thread):  old = fetch_or(FREED|QUEUED); push if !(old & QUEUED)
 *   owner, after pop:   bits = exchange(0); WAKE -> wake the task;
 *                       FREED -> task->wakers--, record back to the pool
 * A node is pushed only by whoever set QUEUED, and the owner clears it only
 * after the pop, so a node is never on the queue twice and no wake is lost:
 * a wake that finds QUEUED set lands in bits the owner has not read yet.
 *
 * Parking (Dekker): the owner stores sleeping = 1 then reads head; a
 * producer pushes (seq_cst swap of head) then reads sleeping. In the single
 * total order of those seq_cst operations one side sees the other: either
 * the owner sees the message and does not park, or the producer sees
 * sleeping and writes the eventfd, whose read is armed in the ring.
 *
 * Deinit against calls under way (the same handshake): a producer adds
 * itself to `callers` then reads `closed`; deinit stores `closed` then
 * waits until `callers` is 0. Either the producer sees `closed` and leaves
 * without touching anything else, or deinit sees it inside and waits for it
 * to finish its push and its eventfd write. So no producer is still in a
 * call when deinit frees waker records or closes the eventfd.
 *
 * A call message (URT__MSG_CALL, urt__remote_post) runs its function on
 * the owner: a layer above hands results back this way (sys: the blocking
 * pool's finished jobs), one push each, and an eventfd write only when
 * the owner parks, so completions that land while it runs cost no syscall.
 *
 * A remote spawn that cannot be taken in (the registry cannot grow) is
 * kept in `held` and draining stops there, so order is kept and the tick
 * returns; the next tick tries it first.
 */
#include "exec_internal.h"

#include <errno.h>
#include <string.h>
#include <sched.h>
#include <unistd.h>

#define W_QUEUED 1u
#define W_WAKE	 2u
#define W_FREED	 4u

struct urt_waker {
	struct urt_mpsc_node node; /* first: the queue hands back nodes */
	atomic_uint state;
	struct urt_task *task;
	struct urt_runtime *rt;
};

struct spawn_msg {
	struct urt_mpsc_node node; /* first */
	struct urt_task *task;
	const struct urt_task_type *type;
	uint32_t size;
};

void urt__remote_init(struct urt_runtime *rt)
{
	atomic_store_explicit(&rt->remote.stub.next, NULL, memory_order_relaxed);
	atomic_store_explicit(&rt->remote.head, &rt->remote.stub, memory_order_relaxed);
	rt->remote.tail = &rt->remote.stub;
	atomic_store_explicit(&rt->remote.sleeping, 0, memory_order_relaxed);
}

static void push(struct urt_runtime *rt, struct urt_mpsc_node *n)
{
	struct urt_mpsc_node *prev;

	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	prev = atomic_exchange_explicit(&rt->remote.head, n, memory_order_seq_cst);
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Producer side of the parking handshake: wake the owner if it sleeps. */
static void notify(struct urt_runtime *rt)
{
	static const uint64_t one = 1;

	if (atomic_load_explicit(&rt->remote.sleeping, memory_order_seq_cst) &&
	    atomic_exchange_explicit(&rt->remote.sleeping, 0, memory_order_seq_cst)) {
		/* a blocking eventfd write fails only on counter overflow, which
		 * the armed read keeps from happening; EINTR is retried */
		while (write(rt->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
	}
}

static struct urt_mpsc_node *pop(struct urt_runtime *rt)
{
	struct urt_mpsc_node *tail = rt->remote.tail;
	struct urt_mpsc_node *next = atomic_load_explicit(&tail->next, memory_order_acquire);

	if (tail == &rt->remote.stub) {
		if (!next)
			return NULL;
		rt->remote.tail = tail = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next) {
		rt->remote.tail = next;
		return tail;
	}
	if (tail != atomic_load_explicit(&rt->remote.head, memory_order_acquire))
		return NULL; /* a push is half done */
	push(rt, &rt->remote.stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next) {
		rt->remote.tail = next;
		return tail;
	}
	return NULL;
}

static bool pending(struct urt_runtime *rt)
{
	return atomic_load_explicit(&rt->remote.head, memory_order_seq_cst) != rt->remote.tail;
}

bool urt__remote_park_begin(struct urt_runtime *rt)
{
	atomic_store_explicit(&rt->remote.sleeping, 1, memory_order_seq_cst);
	if (pending(rt)) {
		atomic_store_explicit(&rt->remote.sleeping, 0, memory_order_relaxed);
		return false;
	}
	return true;
}

void urt__remote_park_end(struct urt_runtime *rt)
{
	atomic_store_explicit(&rt->remote.sleeping, 0, memory_order_relaxed);
}

static void take_waker(struct urt_runtime *rt, struct urt_waker *w)
{
	unsigned bits = atomic_exchange_explicit(&w->state, 0, memory_order_acq_rel);
	struct urt_task *t = w->task;

	if (bits & W_WAKE) {
		rt->stats.wakes_remote++;
		urt_task_wake(t);
	}
	if (bits & W_FREED) {
		t->wakers--;
		urt_pool_free(&rt->wakers, w);
		urt__task_maybe_reclaim(rt, t);
	}
}

/* Return: false if the registry cannot grow now (the message is kept). */
static bool take_spawn(struct urt_runtime *rt, struct spawn_msg *m)
{
	if (urt__reg_reserve(rt, 1))
		return false;
	rt->stats.spawned_remote++;
	urt__task_start(rt, m->task, m->type, m->size, URT_TASK_REMOTE, NULL);
	free(m);
	return true;
}

bool urt__remote_drain(struct urt_runtime *rt)
{
	struct urt_mpsc_node *n;

	if ((n = rt->remote.held)) {
		if (!take_spawn(rt, (struct spawn_msg *)n))
			return true; /* still no memory: try again next tick */
		rt->remote.held = NULL;
	}
	while ((n = pop(rt))) {
		if (n->kind == URT__MSG_WAKER) {
			take_waker(rt, (struct urt_waker *)n);
		} else if (n->kind == URT__MSG_CALL) {
			((struct urt__call *)n)->fn(rt, (struct urt__call *)n);
		} else if (!take_spawn(rt, (struct spawn_msg *)n)) {
			rt->remote.held = n; /* the rest waits behind it, in order */
			return true;
		}
	}
	return pending(rt);
}

/* deinit, first: refuse new calls, wait for the ones inside to return. */
void urt__remote_close(struct urt_runtime *rt)
{
	atomic_store_explicit(&rt->remote.closed, 1, memory_order_seq_cst);
	while (atomic_load_explicit(&rt->remote.callers, memory_order_seq_cst))
		sched_yield(); /* a producer is a few instructions from leaving */
}

/*
 * A spawn that never ran still owns its state: start it for real, so the
 * teardown aborts it like any task (drop with a valid header, counted).
 * If even that is impossible (no memory for the registry), drop it on a
 * header built in place. Return: 1 if it was dropped here, else 0.
 */
static size_t spawn_at_deinit(struct urt_runtime *rt, struct spawn_msg *m)
{
	struct urt_task *t = m->task;

	if (take_spawn(rt, m))
		return 0;
	*t = (struct urt_task){ .type = m->type, .state_size = m->size, .flags = URT_TASK_REMOTE };
	rt->stats.spawned_remote++;
	if (t->type->drop) {
		rt->dropping++;
		t->type->drop(t, t + 1);
		rt->dropping--;
	}
	if (t->scope) {
		urt_scope_reset(t->scope);
		urt_pool_free(&rt->scopes, t->scope);
	}
	free(t);
	free(m);
	return 1;
}

size_t urt__remote_deinit(struct urt_runtime *rt)
{
	struct urt_mpsc_node *n;
	size_t dropped = 0;

	if ((n = rt->remote.held)) {
		rt->remote.held = NULL;
		dropped += spawn_at_deinit(rt, (struct spawn_msg *)n);
	}
	while ((n = pop(rt))) {
		if (n->kind == URT__MSG_WAKER) {
			struct urt_waker *w = (struct urt_waker *)n;

			if (atomic_load(&w->state) & W_FREED)
				urt_pool_free(&rt->wakers, w);
			continue;
		}
		if (n->kind == URT__MSG_CALL) {
			((struct urt__call *)n)->fn(rt, (struct urt__call *)n);
			continue;
		}
		dropped += spawn_at_deinit(rt, (struct spawn_msg *)n);
	}
	return dropped;
}

/* --- the public calls ------------------------------------------------------ */

int urt_waker_new(struct urt_task *t, struct urt_waker **out)
{
	struct urt_runtime *rt = urt__rt;
	struct urt_waker *w;

	if (urt__simulated(rt))
		return -EOPNOTSUPP;
	if (t->wakers == UINT16_MAX)
		return -ENOMEM;
	w = urt_pool_alloc(&rt->wakers);
	if (!w)
		return -ENOMEM;
	w->node.kind = URT__MSG_WAKER;
	atomic_init(&w->state, 0);
	w->task = t;
	w->rt = rt;
	t->wakers++;
	*out = w;
	return 0;
}

/* Enter a call on rt. Return: false if deinit has begun (the call is over). */
static bool call_begin(struct urt_runtime *rt)
{
	atomic_fetch_add_explicit(&rt->remote.callers, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&rt->remote.closed, memory_order_seq_cst)) {
		atomic_fetch_sub_explicit(&rt->remote.callers, 1, memory_order_release);
		return false;
	}
	return true;
}

/* Leave it: the last access to rt in the call. */
static void call_end(struct urt_runtime *rt)
{
	atomic_fetch_sub_explicit(&rt->remote.callers, 1, memory_order_release);
}

static void waker_signal(struct urt_waker *w, unsigned bit)
{
	struct urt_runtime *rt = w->rt; /* read before the push hands w over */
	unsigned old;

	if (!call_begin(rt))
		return;
	old = atomic_fetch_or_explicit(&w->state, bit | W_QUEUED, memory_order_acq_rel);
	if (!(old & W_QUEUED)) {
		push(rt, &w->node);
		notify(rt);
	}
	call_end(rt);
}

void urt_waker_wake(struct urt_waker *w)
{
	waker_signal(w, W_WAKE);
}

void urt_waker_free(struct urt_waker *w)
{
	waker_signal(w, W_FREED);
}

int urt_spawn_remote(struct urt_runtime *rt, const struct urt_task_type *type, const void *state,
		     size_t size)
{
	size_t box = sizeof(struct urt_task) + (size < 8 ? 8 : size);
	struct spawn_msg *m;
	struct urt_task *t;

	if (!rt || !type || !type->poll || (size && !state) || size > UINT32_MAX / 2)
		return -EINVAL;
	if (urt__simulated(rt))
		return -EOPNOTSUPP;
	if (!call_begin(rt))
		return -ESHUTDOWN;
	t = malloc(box); /* any thread: the C heap, freed by the owner with free() */
	m = malloc(sizeof(*m));
	if (!t || !m) {
		free(t);
		free(m);
		call_end(rt);
		return -ENOMEM;
	}
	if (size)
		memcpy(t + 1, state, size);
	m->node.kind = URT__MSG_SPAWN;
	m->task = t;
	m->type = type;
	m->size = (uint32_t)size;
	push(rt, &m->node);
	notify(rt);
	call_end(rt);
	return 0;
}

void urt__remote_post(struct urt_runtime *rt, struct urt__call *c)
{
	__atomic_store_n(&c->node.kind, URT__MSG_CALL, __ATOMIC_RELAXED); /* c may sit in a
									      * task's state the owner scans */
	push(rt, &c->node);
	notify(rt); /* a write only if the owner parks: wakes batch */
}
