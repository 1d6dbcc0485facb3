/* SPDX-License-Identifier: MIT */
/*
 * urt/task.h - tasks: stackless state machines run by the runtime.
 *
 * A task is a 64-byte header followed by the caller's state bytes (16-byte
 * aligned), in a slab slot or in a malloc block; the header says which, so
 * both kinds mix freely. A task type is a static descriptor:
 *
 *	static bool hello_poll(struct urt_task *t, void *state);
 *	static const struct urt_task_type hello = { .poll = hello_poll, .name = "hello" };
 *
 * poll is a resumable function written with the await macros below. It runs
 * until it finishes (returns true, via URT_RETURN or URT_END) or suspends
 * (returns false, inside URT_AWAIT or URT_YIELD); a poll written by hand
 * that returns true without URT_RETURN finishes with output 0 (never the
 * output of the task polled before it). drop, if set, runs once
 * when the task ends, finished or aborted, and must release whatever the
 * state owns. Slots never move, so the state may point into itself.
 *
 * Ownership rules:
 *  1. A spawn copies the caller's state; a failed spawn neither copies nor
 *     changes it, and nothing is left behind.
 *  2. A join handle is the only reference a caller keeps to a task. Await
 *     it, take its output, detach it or abort through it; after that the
 *     handle is empty.
 *  3. A task's slot is reclaimed when it has finished, no operation of it
 *     is in flight, no handle refers to it and no remote waker refers to it.
 *  4. Every call here is for the runtime's own thread unless it says
 *     otherwise (see urt/runtime.h for the calls any thread may make).
 *
 * Errors (all negative errno):
 *   -ESRCH     no runtime on this thread
 *   -EXDEV     the runtime named is not this thread's (use urt_spawn_remote)
 *   -ENODEV    no slab installed on this thread
 *   -ENOSPC    the slab is full (bounded, or a try_ call)
 *   -EMSGSIZE  the state does not fit in a slot
 *   -ENOMEM    out of memory
 *   -EINVAL    a NULL type or poll, or a state pointer missing for size > 0
 *   -ESHUTDOWN the runtime is being torn down (a spawn from a drop in deinit;
 *              urt_claim_spawn instead aborts the task it makes)
 *   -ESTALE    the installed urt slab was deinit and initialised again at
 *              the address of one this runtime bound (urt/slab_table.h);
 *              debug and ASan builds stop there with a message instead
 *
 * What drop must do with join handles its state holds: detach them (the
 * children run on alone) or abort them and detach (they stop). A handle
 * that is simply forgotten keeps its task alive until the runtime's deinit.
 */
#ifndef URT_TASK_H
#define URT_TASK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "urt/allocator.h"
#include "urt/scope.h"

#ifdef __cplusplus
#define URT__STATIC_ASSERT static_assert
extern "C" {
#else
#define URT__STATIC_ASSERT _Static_assert
#endif

struct urt_task;
struct urt_runtime;

struct urt_task_type {
	/* run until finished (true) or suspended (false) */
	bool (*poll)(struct urt_task *t, void *state);
	/* optional: release what the state owns; runs once, finished or aborted */
	void (*drop)(struct urt_task *t, void *state);
	const char *name; /* for stats and debug reports */
};

/*
 * A queue of parked tasks. Each entry is a registration (struct
 * urt_waiter, from a pool of the runtime), so one task may wait on several
 * queues at once (a channel, a join and a timer, say); when any of them
 * wakes it, every registration of that task is dropped.
 */
struct urt_waiter;
struct urt_waitq {
	struct urt_waiter *head;
};

/*
 * The task header. Fields are the runtime's; read them only through the
 * functions below. Invariants:
 *   on the run queue  <=>  flags & URT_TASK_QUEUED
 *   waits != NULL     <=>  parked on one or more wait queues (never with DRAINING)
 *   ops != 0          <=>  an I/O operation or timer of the task is live
 *   DRAINING          <=>  poll is over (returned true, or aborted), ops != 0,
 *                          drop has not run; `output` holds the output
 *   reclaimable  <=>  FINISHED && ops == 0 && !HANDLE && wakers == 0 && !QUEUED
 * After the task finishes, its output lives in the first 8 state bytes
 * (drop has run, so nothing else is there).
 */
struct urt_task {
	const struct urt_task_type *type; /* what to poll */
	struct urt_task *next;		  /* run queue link */
	struct urt_waitq join;		  /* the task awaiting this one's output */
	union {
		struct urt_waiter *waits; /* this task's wait-queue registrations */
		uint64_t output;	  /* DRAINING: the output, until drop has run */
	};
	struct urt_scope *scope; /* task-scoped allocations, made on first use */
	uint32_t state_size;	 /* bytes of state after the header */
	uint32_t chunk;		 /* slab chunk index (slab tasks) */
	uint32_t reg;		 /* index in the runtime's registry */
	uint16_t resume;	 /* resume point: the line of the last await */
	uint16_t flags;		 /* URT_TASK_* */
	uint32_t ops;		 /* first op record of the task's live list; 0: none */
	uint16_t wakers;	 /* remote wakers alive */
	uint16_t type_idx;	 /* slot in the runtime's per-type stats */
};

URT__STATIC_ASSERT(sizeof(struct urt_task) == 64, "the task header is one cache line");

#define URT_TASK_QUEUED	       0x0001u /* on the run queue */
#define URT_TASK_FINISHED      0x0002u /* poll returned true, or aborted; drop has run */
#define URT_TASK_ABORTING      0x0004u /* abort requested, not yet carried out */
#define URT_TASK_ABORTED       0x0008u /* ended by abort */
#define URT_TASK_HANDLE	       0x0010u /* a join handle refers to it */
#define URT_TASK_SLAB	       0x0020u /* lives in a slab slot, else a malloc block */
#define URT_TASK_DRAINING      0x0080u /* poll is over; waiting for its ops' last CQEs */
#define URT_TASK_DROP	       0x0800u /* its type has a drop */
#define URT_TASK_BINDING_SHIFT 8       /* 3 bits: which slab binding it came from */
#define URT_TASK_BINDING_MASK  0x0700u

/* State bytes start right after the header. */
static inline void *urt_task_state(struct urt_task *t)
{
	return t + 1;
}

/* --- the await macros ----------------------------------------------------
 *
 * poll is one switch over t->resume (protothreads / Duff's device):
 *
 *	static bool my_poll(struct urt_task *t, void *arg)
 *	{
 *		struct my_state *st = arg;
 *
 *		URT_BEGIN(t);
 *		URT_AWAIT(t, st->ret = urt_chan_recv(t, st->ch, &st->msg));
 *		...
 *		URT_RETURN(t, st->msg);
 *		URT_END(t);
 *	}
 *
 * Rules:
 *  1. Locals do not survive a suspension. Anything needed after URT_AWAIT or
 *     URT_YIELD lives in the state struct.
 *  2. One await per line (the resume point is __LINE__), and no await
 *     inside a switch statement of your own (its case labels would capture
 *     the resume point). Loops and ifs around awaits are fine.
 *  3. URT_AWAIT(t, expr) evaluates expr, and again every time the task is
 *     woken, until expr is not URT_PENDING. An awaitable returns
 *     URT_PENDING only after arranging for t to be woken; its result
 *     (>= 0 or -errno) is the value of expr, so assign it to a state field
 *     to read it after resumption. The arguments are evaluated again too:
 *     keep them in state that does not change while the await is pending
 *     (never where its result is stored); debug builds report an
 *     operation re-evaluated with another fd, buffer or length.
 *  4. Frame memory (urt_frame_alloc) dies at the end of the tick: never keep
 *     a pointer to it in the state across an await. Debug builds scan the
 *     state at every suspension and report "frame pointer held across await".
 */

#define URT_PENDING INT_MIN /* an awaitable's "not yet; you will be woken" */

#define URT_BEGIN(t)                                                                               \
	switch ((t)->resume) {                                                                     \
	case 0:

#define URT__SUSPEND_POINT(t)                                                                      \
	URT__STATIC_ASSERT(__LINE__ < UINT16_MAX, "urt: await past line 65534");                   \
	(t)->resume = __LINE__;                                                                    \
	__attribute__((fallthrough));                                                              \
	case __LINE__:

/* Suspend until expr is not URT_PENDING (see rule 3). */
#define URT_AWAIT(t, expr)                                                                         \
	do {                                                                                       \
		URT__SUSPEND_POINT(t)                                                              \
		if ((expr) == URT_PENDING)                                                         \
			return false;                                                              \
	} while (0)

/*
 * Waiting on several things at once: URT_AWAIT_ANY(t, e1, e2, ...) (up to
 * eight) evaluates every expression, in order, on the first evaluation and
 * on every wake, and continues once at least one is not URT_PENDING. Each
 * expression assigns its own result, so none is lost when two are ready at
 * once; the ones still pending stay armed in their handles (cancel them,
 * or await them later). A typical use, a receive with an idle timeout:
 *
 *	URT_AWAIT_ANY(t, st->n = urt_chan_recv(t, &st->ch, &st->v),
 *			 st->slept = urt_sleep(t, &st->nap, 5000000000));
 *
 * For one source, write URT_AWAIT: ISO C++ before C++20 (-pedantic) wants
 * at least one more argument for the macro's "...".
 */
#define URT_READY(expr) ((expr) != URT_PENDING)
#define URT__ANY1(a)	URT_READY(a)
#define URT__ANY2(a, b)                                                                            \
	__extension__({                                                                            \
		int urt__any = URT_READY(a);                                                       \
		urt__any |= URT_READY(b);                                                          \
		urt__any;                                                                          \
	})
#define URT__ANY3(a, b, c)                                                                         \
	__extension__({                                                                            \
		int urt__any3 = URT__ANY2(a, b);                                                   \
		urt__any3 |= URT_READY(c);                                                         \
		urt__any3;                                                                         \
	})
#define URT__ANY4(a, b, c, d)                                                                      \
	__extension__({                                                                            \
		int urt__any4 = URT__ANY3(a, b, c);                                                \
		urt__any4 |= URT_READY(d);                                                         \
		urt__any4;                                                                         \
	})
#define URT__ANY5(a, b, c, d, e)                                                                   \
	__extension__({                                                                            \
		int urt__any5 = URT__ANY4(a, b, c, d);                                             \
		urt__any5 |= URT_READY(e);                                                         \
		urt__any5;                                                                         \
	})
#define URT__ANY6(a, b, c, d, e, f)                                                                \
	__extension__({                                                                            \
		int urt__any6 = URT__ANY5(a, b, c, d, e);                                          \
		urt__any6 |= URT_READY(f);                                                         \
		urt__any6;                                                                         \
	})
#define URT__ANY7(a, b, c, d, e, f, g)                                                             \
	__extension__({                                                                            \
		int urt__any7 = URT__ANY6(a, b, c, d, e, f);                                       \
		urt__any7 |= URT_READY(g);                                                         \
		urt__any7;                                                                         \
	})
#define URT__ANY8(a, b, c, d, e, f, g, h)                                                          \
	__extension__({                                                                            \
		int urt__any8 = URT__ANY7(a, b, c, d, e, f, g);                                    \
		urt__any8 |= URT_READY(h);                                                         \
		urt__any8;                                                                         \
	})
#define URT__ANYN(e1, e2, e3, e4, e5, e6, e7, e8, n, ...) n
#define URT_AWAIT_ANY(t, ...)                                                                      \
	URT_AWAIT(t,                                                                               \
		  URT__ANYN(__VA_ARGS__, URT__ANY8, URT__ANY7, URT__ANY6, URT__ANY5, URT__ANY4,    \
			    URT__ANY3, URT__ANY2, URT__ANY1)(__VA_ARGS__)                          \
			  ? 0                                                                      \
			  : URT_PENDING)

/* Let every other ready task run, then continue. */
#define URT_YIELD(t)                                                                               \
	do {                                                                                       \
		URT__STATIC_ASSERT(__LINE__ < UINT16_MAX, "urt: yield past line 65534");           \
		(t)->resume = __LINE__;                                                            \
		urt_task_wake(t);                                                                  \
		return false;                                                                      \
	case __LINE__:;                                                                            \
	} while (0)

/*
 * Finish with an output (a 64-bit value or a pointer cast to one). Never
 * return a pointer into the task's own state or a urt_task_alloc block:
 * both are freed when the task is reclaimed, which a join can cause at
 * once (debug builds report it through the debug hook).
 */
#define URT_RETURN(t, value)                                                                       \
	do {                                                                                       \
		urt_task_set_output((t), (uint64_t)(value));                                       \
		return true;                                                                       \
	} while (0)

/* Close URT_BEGIN; falling off the end finishes with output 0. */
#define URT_END(t)                                                                                 \
	}                                                                                          \
	urt_task_set_output((t), 0);                                                               \
	return true

/* --- spawning ------------------------------------------------------------ */

/* A join handle: the caller's one reference to a task (rule 2). */
struct urt_join {
	struct urt_task *task;
};

/*
 * urt_spawn - boxed task (malloc): copy size bytes of state after a header
 * and queue it. join may be NULL (detached).
 * Return: 0; -ESRCH, -EXDEV, -EINVAL, -ENOMEM, -ESHUTDOWN (see the list above).
 */
URT_NODISCARD int urt_spawn(struct urt_runtime *rt, const struct urt_task_type *type,
			    const void *state, size_t size, struct urt_join *join);

/*
 * urt_spawn_slab - task in a slot of the slab installed on this thread:
 * urt/runtime.h (inline, as it reads the runtime).
 */

/* A reserved slot of the installed slab, its state built in place. */
struct urt_claim {
	struct urt_task *task; /* the slot: header, then state */
	uint32_t chunk;
	uint16_t binding; /* which slab binding (see urt/slab_table.h) */
};

/*
 * urt_claim_slab - reserve a slot (may grow an unbounded slab).
 * Return: 0; -ESRCH, -ENODEV, -ENOSPC, -ENOMEM, -ESHUTDOWN, -ESTALE; -EMSGSIZE
 * if the installed slab's slots cannot hold a header plus the 8-byte output.
 */
URT_NODISCARD int urt_claim_slab(struct urt_claim *claim);

/*
 * urt_try_claim_slab - reserve a slot only if one is vacant; never allocates.
 * A vacant slot of the runtime's slab, or of a urt_slab the program
 * installed (bound by the first spawn or claim through it, which may
 * allocate), is always claimable. A custom slab table (urt/slab_table.h)
 * reports no capacity, so its claims may also answer -ENOSPC when the
 * task registry would have to grow.
 * Return: 0; -ESRCH, -ENODEV, -ENOSPC (nothing changed), -EMSGSIZE,
 * -ESHUTDOWN and -ESTALE as urt_claim_slab.
 */
URT_NODISCARD int urt_try_claim_slab(struct urt_claim *claim);

/* urt_claim_state - where to build the state: urt_claim_capacity bytes. */
static inline void *urt_claim_state(const struct urt_claim *claim)
{
	return claim->task + 1;
}

/* urt_claim_capacity - state bytes a claimed slot holds. */
size_t urt_claim_capacity(const struct urt_claim *claim);

/*
 * urt_claim_spawn - turn the claim into a queued task whose state is the
 * slot's state area (built by the caller). The claim is used up. During
 * urt_runtime_deinit (a drop spawning a claim it held) it is not refused:
 * the task is aborted at once, never polled: its drop runs, it counts as
 * aborted, and a join handle reads -ECANCELED.
 * Return: 0; -EINVAL for a NULL type or poll (the claim is still held).
 */
URT_NODISCARD int urt_claim_spawn(struct urt_claim *claim, const struct urt_task_type *type,
				  struct urt_join *join);

/* urt_claim_release - give the slot back unused; O(1), nothing lost. */
void urt_claim_release(struct urt_claim *claim);

/*
 * urt_claim_slab_wait - awaitable: reserve a slot, waiting while the slab
 * is full (bounded): back-pressure instead of -ENOSPC. Waiters are served
 * in FIFO order: each slot that goes back (a task reclaimed, a claim
 * released) wakes exactly one waiter, which claims it; a new waiter lines
 * up behind those already waiting. A claim that does not wait (a spawn,
 * urt_try_claim_slab) may still take a freed slot first; the waiter then
 * stays first in line. An aborted waiter leaves the line at once; one
 * woken by another source of URT_AWAIT_ANY rejoins it at the back. An
 * unbounded slab grows instead (as urt_claim_slab).
 * Return: 0 and *claim; URT_PENDING (self will be woken); -ESRCH, -ENODEV,
 * -EMSGSIZE, -ESHUTDOWN, -ENOMEM, -ESTALE as urt_claim_slab.
 */
URT_NODISCARD int urt_claim_slab_wait(struct urt_task *self, struct urt_claim *claim);

/* --- running tasks ---------------------------------------------------------- */

/*
 * urt_task_wake - queue t to be polled (no effect if already queued or
 * finished). The waker is the task pointer itself: nothing is allocated.
 */
void urt_task_wake(struct urt_task *t);

/* urt_task_set_output - the value join handles will see (URT_RETURN uses it). */
void urt_task_set_output(struct urt_task *t, uint64_t value);

/* urt_task_name - the type's name, or "?" */
const char *urt_task_name(const struct urt_task *t);

/*
 * urt_task_runtime - the runtime t runs on, for code that has only its
 * task (a poll or a drop that wants urt_spawn, urt_runtime_stats or
 * urt_type_stats). Tasks run on their runtime's thread, and the header
 * keeps no pointer to it (one cache line: docs/design.md), so this is
 * urt_runtime_current() checked against t, in O(1): t's registry entry
 * must be t, or, for a slab task before the end of its first turn (not
 * registered yet), t must be a slot of the chunk it names, in a urt slab
 * bound to the runtime.
 * t must be live (spawned and not yet reclaimed: its drop counts, in
 * deinit too); a reclaimed task's memory is gone.
 * Return: the runtime; NULL if t is NULL, this thread has no runtime, or
 * t is not a task of it.
 * Context: t's runtime's thread, where a task pointer is used (elsewhere
 * reading t's header would race with its owner).
 */
struct urt_runtime *urt_task_runtime(const struct urt_task *t);

/*
 * urt_task_alloc - size bytes freed when the task is reclaimed (or earlier
 * with urt_task_free); from the runtime's size-class pools.
 * Return: the block; NULL when out of memory.
 */
void *urt_task_alloc(struct urt_task *t, size_t size);

/* urt_task_free - free a urt_task_alloc block early. */
void urt_task_free(struct urt_task *t, void *ptr);

/*
 * urt_task_scope - the task's scope, for urt_scope_mark/rewind batches.
 * Return: the scope; NULL when out of memory.
 */
struct urt_scope *urt_task_scope(struct urt_task *t);

/* --- join handles ------------------------------------------------------------ */

/*
 * urt_join_await - awaitable: the task's output.
 * Return: 0 and *out set, the handle emptied; -ECANCELED if the task was
 * aborted (handle emptied); URT_PENDING (self will be woken); -EINVAL for
 * an empty handle.
 */
int urt_join_await(struct urt_task *self, struct urt_join *h, uint64_t *out);

/*
 * urt_join_take - the same without suspending, for code outside tasks.
 * Return: 0 / -ECANCELED as urt_join_await; -EAGAIN if not finished yet
 * (the handle is kept); -EINVAL for an empty handle.
 */
int urt_join_take(struct urt_join *h, uint64_t *out);

/*
 * urt_join_is_empty - whether the handle holds no task: never filled (a
 * zeroed handle, or a spawn that failed), or emptied by await, take or
 * detach. Use it rather than reading h->task.
 */
static inline bool urt_join_is_empty(const struct urt_join *h)
{
	return !h->task;
}

/* urt_join_is_finished - whether the task has finished (or was aborted). */
bool urt_join_is_finished(const struct urt_join *h);

/* urt_join_detach - drop the handle; the task runs on and is reclaimed alone. */
void urt_join_detach(struct urt_join *h);

/*
 * urt_join_abort - ask the task to stop: it is woken (even if parked), its
 * drop runs at its next turn instead of poll, and its slot is reclaimed
 * once its in-flight operations have completed. The handle is kept: await,
 * take or detach it to learn -ECANCELED / let go.
 * Return: 0; -EALREADY if it had already finished; -EINVAL for an empty handle.
 */
int urt_join_abort(struct urt_join *h);

#ifdef __cplusplus
}
#endif

#endif /* URT_TASK_H */
