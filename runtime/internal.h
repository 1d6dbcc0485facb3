/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the runtime's files share; not installed.
 */
#ifndef URT_RUNTIME_INTERNAL_H
#define URT_RUNTIME_INTERNAL_H

#include "urt/runtime.h"
#include "urt_debug.h"

#define URT_TASK_REMOTE 0x0040u			  /* box from malloc on another thread */
#define URT__REGENT	sizeof(struct urt_task *) /* one registry entry */

/* Messages on the remote queue. */
enum { URT__MSG_WAKER = 1, URT__MSG_SPAWN = 2 };

/* This thread's runtime (initial-exec TLS: one %fs load). */
extern __thread struct urt_runtime *urt__rt URT_HIDDEN;

/* --- task.c ------------------------------------------------------------- */

/* drop, output, FINISHED, wake joiners, maybe reclaim. */
URT_HIDDEN void urt__task_finish(struct urt_runtime *rt, struct urt_task *t, bool aborted);
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
/* deinit: abort and reclaim every task. Return: how many were reclaimed. */
URT_HIDDEN size_t urt__tasks_teardown(struct urt_runtime *rt);
/* Make room in the registry for `more` tasks beyond those registered. */
URT_HIDDEN int urt__reg_reserve(struct urt_runtime *rt, uint32_t more);
/* Debug builds: report state words that point into the frame arena. */
URT_HIDDEN void urt__frame_check(struct urt_runtime *rt, struct urt_task *t, const char *what);

/* Wait queues: a parked task is on exactly one, linked through t->next. */
URT_HIDDEN void urt__waitq_park(struct urt_waitq *q, struct urt_task *t);
URT_HIDDEN void urt__waitq_wake_all(struct urt_waitq *q);

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

/* --- ring.c ------------------------------------------------------------- */

URT_HIDDEN int urt__ring_init(struct urt_runtime *rt, unsigned entries);
URT_HIDDEN void urt__ring_deinit(struct urt_runtime *rt);
/*
 * One trip to the kernel, or none: submit what is prepared, then wait up to
 * timeout_ns for one completion if park, and reap every completion.
 * Return: 0; -errno from io_uring_enter (not -ETIME / -EINTR).
 */
URT_HIDDEN int urt__ring_enter(struct urt_runtime *rt, bool park, uint64_t timeout_ns);

/* --- remote.c ----------------------------------------------------------- */

URT_HIDDEN void urt__remote_init(struct urt_runtime *rt);
/*
 * Nothing published: the owner's tail is the stub and no producer has
 * swapped head (a relaxed load: a message racing in is taken next tick, or
 * by the seq_cst check before parking).
 */
static inline bool urt__remote_empty(struct urt_runtime *rt)
{
	return rt->remote.tail == &rt->remote.stub &&
	       atomic_load_explicit(&rt->remote.head, memory_order_relaxed) == &rt->remote.stub;
}
/* Take every message in: wakes and spawns. Return: true if some may remain. */
URT_HIDDEN bool urt__remote_drain(struct urt_runtime *rt);
/* Announce parking; false (and not parked) if a message is already waiting. */
URT_HIDDEN bool urt__remote_park_begin(struct urt_runtime *rt);
URT_HIDDEN void urt__remote_park_end(struct urt_runtime *rt);
/* deinit: free every message, aborting remote spawns that never ran. */
URT_HIDDEN size_t urt__remote_deinit(struct urt_runtime *rt);

#endif /* URT_RUNTIME_INTERNAL_H */
