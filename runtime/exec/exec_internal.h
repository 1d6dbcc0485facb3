/* SPDX-License-Identifier: MIT */
/*
 * exec_internal.h - what the executor's files (runtime/exec/) share, and
 * what they offer the layers above (runtime/io/, runtime.c); not installed.
 *
 * The executor knows tasks, wait queues, the run queue, the registry and
 * the remote queue. It knows nothing of io_uring: no liburing header, no
 * op record, no ring. Its one call outward, urt__exec_ops_end, is declared
 * here and defined by the layer above (runtime.c).
 */
#ifndef URT_EXEC_INTERNAL_H
#define URT_EXEC_INTERNAL_H

#include "urt/runtime.h"
#include "urt_debug.h"

#define URT_TASK_REMOTE 0x0040u			  /* box from malloc on another thread */
#define URT__REGENT	sizeof(struct urt_task *) /* one registry entry */

/* Messages on the remote queue. */
enum { URT__MSG_WAKER = 1, URT__MSG_SPAWN = 2, URT__MSG_CALL = 3 }; /* CALL: struct urt__call */

/*
 * This thread's runtime, urt__rt, is declared in urt/runtime.h (exported:
 * urt_spawn_slab reads it inline). initial-exec on the declaration too:
 * every file that reads it, in liburt.so as well as liburt.a, does one
 * %fs-relative load and no __tls_get_addr call (docs/architecture.md,
 * "Thread-locals").
 */

/* --- task.c, spawn.c ---------------------------------------------------- */

#define URT__MIN_STATE 8 /* the output is stored in the first 8 state bytes */

/* Bytes of a boxed task with `state` bytes of state. */
/*
 * Whether rt runs on the simulated kernel (urt/sim.h; the loop sets
 * kern_ctx to the model at init, and leaves it NULL for the real kernel).
 * A simulation is one thread: what would bring another thread into it
 * (remote wakers, urt_spawn_remote, the blocking pool, child processes)
 * is refused with -EOPNOTSUPP, so a seed never depends on a thread's timing.
 */
static inline bool urt__simulated(const struct urt_runtime *rt)
{
	return rt && rt->kern_ctx;
}

static inline uint32_t urt__box_size(uint32_t state)
{
	return (uint32_t)sizeof(struct urt_task) +
	       (state < URT__MIN_STATE ? URT__MIN_STATE : state);
}

/*
 * drop, output, FINISHED, wake joiners, maybe reclaim. Only once nothing of
 * t is in flight (t->ops == 0). The output is rt->output, or t->output if
 * t was DRAINING, or 0 if aborted.
 */
URT_HIDDEN void urt__task_finish(struct urt_runtime *rt, struct urt_task *t, bool aborted);
/* Drop every wait-queue registration of t. */
URT_HIDDEN void urt__task_unwait(struct urt_runtime *rt, struct urt_task *t);
/* Reclaim t if the reclaim rule holds. */
URT_HIDDEN void urt__task_maybe_reclaim(struct urt_runtime *rt, struct urt_task *t);
/* Free t's memory and registry entry now (deinit). */
URT_HIDDEN void urt__task_reclaim(struct urt_runtime *rt, struct urt_task *t);
/* Register a fully built task and queue it. Registry room was reserved. */
URT_HIDDEN void urt__task_start(struct urt_runtime *rt, struct urt_task *t,
				const struct urt_task_type *type, uint32_t size, uint16_t flags,
				struct urt_join *join);
/*
 * Poll the tasks that were ready when the tick began, at most the budget.
 * Return: tasks polled.
 */
URT_HIDDEN int urt__run_ready(struct urt_runtime *rt);
/*
 * The executor's one call outward, supplied by the layer above it
 * (runtime.c, which hands it to the I/O layer): t's poll is over (it
 * finished or was aborted) or the runtime is being torn down. Cancel every
 * operation t has in flight; what the kernel does not hold (sleeps, ended
 * streams) is freed now, so t->ops may be 0 on return. Declared here and
 * defined above, so the executor names nothing of io_uring.
 */
URT_HIDDEN void urt__exec_ops_end(struct urt_runtime *rt, struct urt_task *t);
/* deinit: abort and reclaim every task. Return: how many were reclaimed. */
URT_HIDDEN size_t urt__tasks_teardown(struct urt_runtime *rt);
/* t->reg of a task not in the registry yet (spawn.c, "registry") */
#define URT__REG_NONE UINT32_MAX
/* Enter t in the registry; its room was reserved (reg_need). */
static inline void urt__reg_add(struct urt_runtime *rt, struct urt_task *t)
{
	URT_ASSERT(rt->nreg < rt->reg_cap, "registry entry reserved before a task enters");
	t->reg = rt->nreg;
	rt->reg[rt->nreg++] = t;
}
static inline void urt__reg_remove(struct urt_runtime *rt, struct urt_task *t)
{
	struct urt_task *last = rt->reg[--rt->nreg];

	rt->reg[t->reg] = last;
	last->reg = t->reg;
}
/*
 * Make room in the registry for `more` entries beyond those it must have:
 * one per task or claim, except that the tasks and claims in a urt slab's
 * slots are counted as every slot of that slab (spawn.c, "registry").
 */
URT_HIDDEN int urt__reg_reserve(struct urt_runtime *rt, uint32_t more);
/*
 * Bind a slab to the runtime (init: its own), as the first spawn through it
 * would: the registry then covers its slots. Return: 0; -ENOMEM.
 */
URT_HIDDEN int urt__reg_bind(struct urt_runtime *rt, struct urt_slab_binding b);
/*
 * Tasks waiting for a slab slot (urt_claim_slab_wait), this thread's: the
 * runtime's, as there is one runtime a thread. `given`: handed a freed slot
 * to try, not yet polled.
 */
struct urt__slotq {
	struct urt_waitq waiting, given;
};
extern __thread struct urt__slotq urt__slotq URT_HIDDEN __attribute__((tls_model("initial-exec")));
/* A slab slot went back: hand it to the longest waiter, if any. */
URT_HIDDEN void urt__slot_freed(struct urt_runtime *rt);
static inline void urt__slot_check(struct urt_runtime *rt)
{
	if (URT_UNLIKELY(urt__slotq.waiting.head != NULL))
		urt__slot_freed(rt);
}
/* Debug builds: report state words that point into the frame arena. */
URT_HIDDEN void urt__frame_check(struct urt_runtime *rt, struct urt_task *t, const char *what);

/*
 * Wait queues. A registration (struct urt_waiter) links a task into a
 * queue; a task may hold several, one per queue. Waking a task, by any
 * source, drops all of its registrations.
 * park: Return 0 (registered, or already registered, or the task is queued
 * to run anyway); -ENOMEM.
 */
struct urt_waiter {
	struct urt_waiter *next, **pprev; /* on the queue */
	struct urt_waiter *tnext;	  /* the task's other registrations */
	struct urt_task *task;
	struct urt_waitq *q;
	/* a handed registration (urt__waitq_hand) dropped before its task took
	 * it: called with its queue once the task's registrations are gone */
	void (*lost)(struct urt_waitq *q);
	/* handed before the poll now running began (urt__run_ready): if the poll
	 * ends with it still here, the task moved on without taking it */
	bool stale;
};
URT_HIDDEN int urt__waitq_park(struct urt_waitq *q, struct urt_task *t);
/* park, as the oldest registration when `oldest` (first in line for a hand-off) */
URT_HIDDEN int urt__waitq_park_at(struct urt_waitq *q, struct urt_task *t, bool oldest);
URT_HIDDEN void urt__waitq_wake_all(struct urt_waitq *q);
/*
 * Hand-off (events, slot waits): take the oldest registration on `from`
 * (FIFO), move it to `to` and queue its task, dropping the task's other
 * registrations; the registration now says "this task was given one".
 * The task takes it with urt__waitq_take when it re-evaluates its await;
 * if the registration is dropped first (the task aborted, finished, or was
 * woken by something else after a poll that did not take it), lost(to) is
 * called so the giver can pass it on. Not during deinit.
 * Return: the task handed to; NULL if `from` was empty.
 */
URT_HIDDEN struct urt_task *urt__waitq_hand(struct urt_waitq *from, struct urt_waitq *to,
					    void (*lost)(struct urt_waitq *q));
/* Wake every task on `from` by hand-off to `to` (lost not set). */
URT_HIDDEN void urt__waitq_hand_all(struct urt_waitq *from, struct urt_waitq *to);
/* Whether t holds a registration on q; if so, drop it (without lost). */
URT_HIDDEN bool urt__waitq_take(struct urt_waitq *q, struct urt_task *t);
/* The task registered on q, if exactly one, else NULL (a single-consumer check). */
static inline struct urt_task *urt__waitq_first(const struct urt_waitq *q)
{
	return q->head ? q->head->task : NULL;
}

static inline struct urt_task *urt__runq_pop(struct urt_runtime *rt)
{
	struct urt_task *t = rt->run_head;

	if (t) {
		rt->nqueued--;
		rt->run_head = t->next;
		if (!rt->run_head)
			rt->run_tail = NULL;
	}
	return t;
}

/* --- remote.c ----------------------------------------------------------- */

URT_HIDDEN void urt__remote_init(struct urt_runtime *rt);
/*
 * Nothing published: the owner's tail is the stub and no producer has
 * swapped head (a relaxed load: a message racing in is taken next tick, or
 * by the seq_cst check before parking).
 */
static inline bool urt__remote_empty(struct urt_runtime *rt)
{
	return !rt->remote.held && rt->remote.tail == &rt->remote.stub &&
	       atomic_load_explicit(&rt->remote.head, memory_order_relaxed) == &rt->remote.stub;
}
/* Take every message in: wakes and spawns. Return: true if some may remain. */
URT_HIDDEN bool urt__remote_drain(struct urt_runtime *rt);
/* Announce parking; false (and not parked) if a message is already waiting. */
URT_HIDDEN bool urt__remote_park_begin(struct urt_runtime *rt);
URT_HIDDEN void urt__remote_park_end(struct urt_runtime *rt);
/* deinit, first: refuse new remote calls and wait for those under way. */
URT_HIDDEN void urt__remote_close(struct urt_runtime *rt);
/*
 * deinit: take every message in; spawns that never ran are started so the
 * teardown aborts them. Return: tasks dropped here (no memory to start them).
 */
URT_HIDDEN size_t urt__remote_deinit(struct urt_runtime *rt);
/*
 * Post c from any thread: c->fn(rt, c) runs on the owner thread at its next
 * drain (or in urt__remote_deinit), and the owner is woken if parked. The
 * caller sees to it that deinit has not begun (the blocking pool joins its
 * workers before urt__remote_close); c is the owner's once posted.
 */
URT_HIDDEN void urt__remote_post(struct urt_runtime *rt, struct urt__call *c);

#endif /* URT_EXEC_INTERNAL_H */
