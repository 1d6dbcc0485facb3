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
 */
#include "internal.h"

#include <errno.h>
#include <string.h>
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

static void take_spawn(struct urt_runtime *rt, struct spawn_msg *m)
{
	/* Registry room: if it cannot grow now, keep the message for later. */
	if (urt__reg_reserve(rt, 1)) {
		push(rt, &m->node);
		return;
	}
	rt->stats.spawned_remote++;
	urt__task_start(rt, m->task, m->type, m->size, URT_TASK_REMOTE, NULL);
	free(m);
}

bool urt__remote_drain(struct urt_runtime *rt)
{
	struct urt_mpsc_node *n;

	while ((n = pop(rt))) {
		if (n->kind == URT__MSG_WAKER)
			take_waker(rt, (struct urt_waker *)n);
		else
			take_spawn(rt, (struct spawn_msg *)n);
	}
	return pending(rt);
}

size_t urt__remote_deinit(struct urt_runtime *rt)
{
	struct urt_mpsc_node *n;
	size_t aborted = 0;

	while ((n = pop(rt))) {
		if (n->kind == URT__MSG_WAKER) {
			struct urt_waker *w = (struct urt_waker *)n;

			if (atomic_load(&w->state) & W_FREED)
				urt_pool_free(&rt->wakers, w);
			continue;
		}
		/* a spawn that never ran: its drop still owns the state */
		struct spawn_msg *m = (struct spawn_msg *)n;

		if (m->type->drop)
			m->type->drop(m->task, m->task + 1);
		free(m->task);
		free(m);
		aborted++;
	}
	return aborted;
}

/* --- the public calls ------------------------------------------------------ */

int urt_waker_new(struct urt_task *t, struct urt_waker **out)
{
	struct urt_runtime *rt = urt__rt;
	struct urt_waker *w;

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

static void waker_signal(struct urt_waker *w, unsigned bit)
{
	struct urt_runtime *rt = w->rt; /* read before the push hands w over */
	unsigned old = atomic_fetch_or_explicit(&w->state, bit | W_QUEUED, memory_order_acq_rel);

	if (!(old & W_QUEUED)) {
		push(rt, &w->node);
		notify(rt);
	}
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
	t = malloc(box); /* any thread: the C heap, freed by the owner with free() */
	m = malloc(sizeof(*m));
	if (!t || !m) {
		free(t);
		free(m);
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
	return 0;
}
