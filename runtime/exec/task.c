/* SPDX-License-Identifier: MIT */
/*
 * task.c - running tasks: wake, wait queues, poll, finish, join, abort,
 * reclaim, teardown. (Making tasks is spawn.c.)
 *
 * States of a task (flags), owner thread only:
 *
 *   spawn --> QUEUED --poll--> (running) --true--> [DRAINING] --> FINISHED --> reclaimed
 *               ^                  |false
 *               |                  v
 *               +--- wake --- suspended: parked on wait queues, and/or
 *                             waiting for its ops, timers, remote wakers
 *
 *   abort: ABORTING + wake; at its next turn the task is not polled again.
 *
 *   DRAINING: the poll is over (returned true, or the task was aborted) but
 *   operations of the task are still in the kernel. They are cancelled, and
 *   the task waits, never polled, until the last final completion is
 *   reaped; then its drop runs (the kernel is done with every buffer the
 *   state names) and it is FINISHED. Its output waits in t->output.
 *
 * Reclaim rule (the only place memory goes back):
 *   FINISHED && ops == 0 && !HANDLE && wakers == 0 && !QUEUED
 *   && not the task being polled && not in deinit.
 *
 * Wait queues hold registrations (struct urt_waiter, from rt->waiters), so a
 * task may wait on several queues at once. Whatever wakes a task drops all
 * its registrations: the task re-evaluates its await and registers again
 * where it still needs to. A registration is on its queue (doubly linked,
 * O(1) removal) and on its task's list.
 */
#include "exec_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* This thread's runtime, set by urt_runtime_init (runtime.c): the executor's,
 * as every layer above reaches the runtime through it. */
__thread struct urt_runtime *urt__rt __attribute__((tls_model("initial-exec")));

/* --- wait queues ------------------------------------------------------------ */

static inline void waiter_unlink(struct urt_waiter *w)
{
	*w->pprev = w->next;
	if (w->next)
		w->next->pprev = w->pprev;
}

/*
 * A handed registration that goes here was not taken: its giver hears of it
 * (lost) once t's list is empty again, so the giver may wake another task
 * without meeting t's half-dropped list.
 */
void urt__task_unwait(struct urt_runtime *rt, struct urt_task *t)
{
	struct urt_waiter *w = t->waits;
	void (*lost)(struct urt_waitq * q) = NULL;
	struct urt_waitq *lostq = NULL;

	t->waits = NULL;
	while (w) {
		struct urt_waiter *next = w->tnext;

		waiter_unlink(w);
		if (w->lost && !rt->closing) {
			if (lost) /* more than one: pass the earlier on now */
				lost(lostq);
			lost = w->lost;
			lostq = w->q;
		}
		urt_pool_free(&rt->waiters, w);
		w = next;
	}
	if (lost)
		lost(lostq);
}

int urt__waitq_park(struct urt_waitq *q, struct urt_task *t)
{
	return urt__waitq_park_at(q, t, false);
}

int urt__waitq_park_at(struct urt_waitq *q, struct urt_task *t, bool oldest)
{
	struct urt_runtime *rt = urt__rt;
	struct urt_waiter *w;

	/* Already queued (it woke itself this turn): it will be polled again
	 * and register anew then. */
	if (t->flags & URT_TASK_QUEUED)
		return 0;
	for (w = t->waits; w; w = w->tnext)
		if (w->q == q)
			return 0;
	w = urt_pool_alloc(&rt->waiters);
	if (!w)
		return -ENOMEM;
	w->task = t;
	w->q = q;
	w->lost = NULL;
	w->stale = false;
	if (oldest) { /* at the tail: the next to be handed to */
		struct urt_waiter **pp = &q->head;

		while (*pp)
			pp = &(*pp)->next;
		w->next = NULL;
		w->pprev = pp;
		*pp = w;
	} else {
		w->next = q->head;
		w->pprev = &q->head;
		if (q->head)
			q->head->pprev = &w->next;
		q->head = w;
	}
	w->tnext = t->waits;
	t->waits = w;
	return 0;
}

void urt__waitq_wake_all(struct urt_waitq *q)
{
	struct urt_waiter *w;

	while ((w = q->head)) /* waking drops w (and the task's others) */
		urt_task_wake(w->task);
}

static inline void runq_push(struct urt_runtime *rt, struct urt_task *t)
{
	t->flags |= URT_TASK_QUEUED;
	t->next = NULL;
	urt__runq_append(rt, t);
	rt->stats.wakes_local++;
}

void urt_task_wake(struct urt_task *t)
{
	struct urt_runtime *rt = urt__rt;

	if (t->flags & (URT_TASK_QUEUED | URT_TASK_FINISHED))
		return;
	if (t->waits && !(t->flags & URT_TASK_DRAINING))
		urt__task_unwait(rt, t);
	runq_push(rt, t);
}

/*
 * Registrations are pushed at the head, so the oldest is the last: a walk,
 * O(waiters); queues that hand off are short (an acceptor, a few workers).
 */
struct urt_task *urt__waitq_hand(struct urt_waitq *from, struct urt_waitq *to,
				 void (*lost)(struct urt_waitq *q))
{
	struct urt_runtime *rt = urt__rt;
	struct urt_waiter *w = from->head, **pp;
	struct urt_task *t;

	if (!w)
		return NULL;
	while (w->next)
		w = w->next;
	t = w->task;
	/* keep w, drop the task's others (lost ones are passed on) */
	for (pp = &t->waits; *pp != w; pp = &(*pp)->tnext)
		;
	*pp = w->tnext;
	w->tnext = NULL;
	waiter_unlink(w);
	urt__task_unwait(rt, t);
	w->q = to;
	w->lost = lost;
	w->next = to->head;
	w->pprev = &to->head;
	if (to->head)
		to->head->pprev = &w->next;
	to->head = w;
	t->waits = w;
	runq_push(rt, t); /* parked, so neither queued nor finished */
	return t;
}

void urt__waitq_hand_all(struct urt_waitq *from, struct urt_waitq *to)
{
	while (from->head)
		urt__waitq_hand(from, to, NULL);
}

bool urt__waitq_take(struct urt_waitq *q, struct urt_task *t)
{
	struct urt_waiter **pp;

	for (pp = &t->waits; *pp; pp = &(*pp)->tnext) {
		struct urt_waiter *w = *pp;

		if (w->q != q)
			continue;
		*pp = w->tnext;
		waiter_unlink(w);
		urt_pool_free(&urt__rt->waiters, w);
		return true;
	}
	return false;
}

/* --- finish, reclaim ------------------------------------------------------- */

void urt_task_set_output(struct urt_task *t, uint64_t value)
{
	(void)t;
	urt__rt->output = value;
}

const char *urt_task_name(const struct urt_task *t)
{
	return t->type->name ? t->type->name : "?";
}

/*
 * The header has no room for a pointer (one cache line): a task's runtime
 * is the one of the thread it runs on, if t is in that one's registry, or,
 * before its first turn ends (not registered yet: spawn.c, "registry"), a
 * slot of a urt slab bound to it, in the chunk t names.
 */
struct urt_runtime *urt_task_runtime(const struct urt_task *t)
{
	struct urt_runtime *rt = urt__rt;
	unsigned b;

	if (!rt || !t)
		return NULL;
	if (t->reg != URT__REG_NONE)
		return t->reg < rt->nreg && rt->reg[t->reg] == t ? rt : NULL;
	b = (t->flags & URT_TASK_BINDING_MASK) >> URT_TASK_BINDING_SHIFT;
	if (!(t->flags & URT_TASK_SLAB) || b >= rt->nbindings || !rt->bindings[b].urt ||
	    !urt_slab_owns(rt->bindings[b].b.slab, t, t->chunk))
		return NULL;
	return rt;
}

static inline void task_reclaim(struct urt_runtime *rt, struct urt_task *t);

static inline void task_maybe_reclaim(struct urt_runtime *rt, struct urt_task *t)
{
	if (!rt->closing &&
	    (t->flags & (URT_TASK_FINISHED | URT_TASK_HANDLE | URT_TASK_QUEUED)) ==
		    URT_TASK_FINISHED &&
	    !t->ops && !t->wakers && t != rt->polling) {
		rt->stats.reclaimed++;
		task_reclaim(rt, t);
	}
}

#ifdef URT_DEBUG
static bool in_scope(const struct urt_scope *s, const char *p)
{
	for (const struct urt_scope_block *b = s ? s->head : NULL; b; b = b->next)
		if (p >= (const char *)(b + 1) && p < (const char *)(b + 1) + b->size)
			return true;
	return false;
}
#endif

/* Debug builds: an output that points into memory the reclaim frees. */
static void check_output(struct urt_runtime *rt, struct urt_task *t, uint64_t out)
{
#ifdef URT_DEBUG
	const char *p = (const char *)(uintptr_t)out;
	const char *s = urt_task_state(t);

	if (out && ((p >= s && p < s + t->state_size) || in_scope(t->scope, p))) {
		if (rt->debug_hook) {
			char msg[160];

			snprintf(msg, sizeof(msg),
				 "urt: task '%s' returned a pointer into its own state or "
				 "task-scoped memory (freed when the task is reclaimed)",
				 urt_task_name(t));
			rt->debug_hook(rt->debug_ctx, msg);
		}
	}
#else
	(void)rt, (void)t, (void)out;
#endif
}

/*
 * Debug builds: a task has ended (its drop has run) and its state still
 * holds a join handle to a task that is alive. Nothing will take or detach
 * that handle now, so the other task stays until deinit. Found by looking
 * for words of the state equal to a registered task with a handle:
 * O(tasks x state words), debug builds only, never during deinit.
 */
static void check_handles(struct urt_runtime *rt, struct urt_task *t)
{
#ifdef URT_DEBUG
	const unsigned char *s = urt_task_state(t);

	if (rt->closing || t->state_size < sizeof(void *))
		return;
	for (uint32_t i = 0; i < rt->nreg; i++) {
		struct urt_task *c = rt->reg[i];

		if (c == t || !(c->flags & URT_TASK_HANDLE))
			continue;
		for (uint32_t off = 0; off + sizeof(void *) <= t->state_size;
		     off += sizeof(void *)) {
			void *w;

			memcpy(&w, s + off, sizeof(w));
			if (w != c)
				continue;
			rt->stats.dropped_handles++;
			if (rt->debug_hook) {
				char msg[192];

				snprintf(
					msg, sizeof(msg),
					"urt: join handle dropped with its task alive: task '%s' "
					"ended holding one to task '%s' at state offset %u (detach "
					"or abort it in drop)",
					urt_task_name(t), urt_task_name(c), off);
				rt->debug_hook(rt->debug_ctx, msg);
			}
			break;
		}
	}
#else
	(void)rt, (void)t;
#endif
}

static inline __attribute__((always_inline)) void task_finish(struct urt_runtime *rt,
							      struct urt_task *t, bool aborted)
{
	uint64_t out = 0;

	if (!aborted)
		out = (t->flags & URT_TASK_DRAINING) ? t->output : rt->output;
	if (t->flags & URT_TASK_DRAINING)
		t->waits = NULL; /* the union held the output */
	else if (t->waits)
		urt__task_unwait(rt, t);
	if (t->type->drop) {
		rt->dropping++; /* urt_tick and the frame calls are refused in a drop */
		t->type->drop(t, urt_task_state(t));
		rt->dropping--;
	}
	check_handles(rt, t);
	check_output(rt, t, out);
	memcpy(urt_task_state(t), &out, sizeof(out));
	t->flags |= URT_TASK_FINISHED | (aborted ? URT_TASK_ABORTED : 0);
	t->flags &= (uint16_t) ~(URT_TASK_ABORTING | URT_TASK_DRAINING);
	rt->active--;
	if (aborted) /* the totals are sums over types: see urt_runtime_stats */
		rt->types[t->type_idx].st.aborted++;
	else
		rt->types[t->type_idx].st.completed++;
	urt__waitq_wake_all(&t->join);
	task_maybe_reclaim(rt, t);
}

void urt__task_finish(struct urt_runtime *rt, struct urt_task *t, bool aborted)
{
	task_finish(rt, t, aborted);
}

/*
 * The poll is over (done, or aborted) but t has operations live: cancel
 * them and wait, never polled again, for the kernel to give each back.
 * While they are ended here t counts as QUEUED, so the last one to end now
 * does not queue t for a turn that would only reclaim it: t finishes
 * below and is reclaimed in this turn (task.h, rule 3).
 */
static void task_drain(struct urt_runtime *rt, struct urt_task *t, bool aborted)
{
	uint64_t out = aborted ? 0 : rt->output;
	uint16_t queued = t->flags & URT_TASK_QUEUED;

	if (t->waits)
		urt__task_unwait(rt, t);
	t->output = out;
	t->flags |= URT_TASK_DRAINING | URT_TASK_QUEUED;
	urt__exec_ops_end(rt, t);
	t->flags = (uint16_t)((t->flags & ~URT_TASK_QUEUED) | queued);
	if (!t->ops) /* only sleeps and idle streams: all gone already */
		task_finish(rt, t, aborted);
}

/* Not counted here: a quiet end is counted reclaimed by its `quiet` count. */
static inline void task_reclaim(struct urt_runtime *rt, struct urt_task *t)
{
	if (t->reg != URT__REG_NONE) /* a slab task may end in its first turn unregistered */
		urt__reg_remove(rt, t);
	if (t->scope) {
		urt_scope_reset(t->scope);
		urt_pool_free(&rt->scopes, t->scope);
	}
	if (t->flags & URT_TASK_SLAB) {
		struct urt_binding *bd =
			&rt->bindings[(t->flags & URT_TASK_BINDING_MASK) >> URT_TASK_BINDING_SHIFT];

		if (bd->urt) {
			urt_slab_free(bd->b.slab, t, t->chunk);
		} else {
			rt->nloose--;
			bd->b.table->free(bd->b.slab, t, t->chunk);
		}
		urt__slot_check(rt);
	} else if (t->flags & URT_TASK_REMOTE) {
		rt->nloose--;
		free(t);
	} else {
		rt->nloose--;
		rt->al.free(rt->al.ctx, t, urt__box_size(t->state_size), 16);
	}
}

void urt__task_reclaim(struct urt_runtime *rt, struct urt_task *t)
{
	rt->stats.reclaimed++;
	task_reclaim(rt, t);
}

void urt__task_maybe_reclaim(struct urt_runtime *rt, struct urt_task *t)
{
	task_maybe_reclaim(rt, t);
}

/* --- polling ----------------------------------------------------------------- */

/* A task on the run queue that is not to be polled: finished, draining, aborted. */
static void task_turn_special(struct urt_runtime *rt, struct urt_task *t)
{
	if (t->flags & URT_TASK_FINISHED) { /* woken after the end */
		task_maybe_reclaim(rt, t);
	} else if (t->flags & URT_TASK_DRAINING) {
		if (!t->ops)
			task_finish(rt, t, t->flags & URT_TASK_ABORTING);
	} else if (t->ops) { /* ABORTING with operations live */
		task_drain(rt, t, true);
	} else {
		task_finish(rt, t, true);
	}
}

/*
 * A task is polled with registrations only when they were handed to it
 * (urt__waitq_hand: any other wake drops them all). Its poll either takes
 * each (urt__waitq_take: the wait was re-evaluated) or moved on without
 * it (a flag checked first, another branch); then nothing would take it
 * until the task's next wake, maybe never, and the event's notification
 * or the freed slot would sit there while others wait. So: mark them
 * before the poll, and pass on (lost) those still there after it.
 */
static inline void handed_mark(struct urt_task *t)
{
	for (struct urt_waiter *w = t->waits; w; w = w->tnext)
		w->stale = true;
}

static void handed_sweep(struct urt_runtime *rt, struct urt_task *t)
{
	struct urt_waiter **pp = &t->waits, *gone = NULL;

	while (*pp) {
		struct urt_waiter *w = *pp;

		if (!w->stale) {
			pp = &w->tnext;
			continue;
		}
		*pp = w->tnext;
		waiter_unlink(w);
		w->tnext = gone;
		gone = w;
	}
	while (gone) { /* t's list is whole again: the givers may hand on */
		struct urt_waiter *w = gone;
		void (*lost)(struct urt_waitq * q) = rt->closing ? NULL : w->lost;
		struct urt_waitq *q = w->q;

		gone = w->tnext;
		urt_pool_free(&rt->waiters, w);
		if (lost)
			lost(q);
	}
}

/*
 * The common end of a poll that returned true: nothing to drop, wake or
 * hand an output to (no handle, no joiner), nothing in flight, no
 * registration, not queued again, no remote waker. task_finish would only
 * count it (the caller counts it completed) and reclaim it, so do just
 * that: the output, which nobody can read, is not stored.
 */
static inline bool task_ends_quietly(const struct urt_task *t)
{
	return !(t->flags &
		 (URT_TASK_HANDLE | URT_TASK_QUEUED | URT_TASK_ABORTING | URT_TASK_DROP)) &&
	       !t->ops && !t->wakers && !t->waits && !t->join.head;
}

static inline void task_end_quietly(struct urt_runtime *rt, struct urt_task *t)
{
	const struct urt_binding *bd =
		&rt->bindings[(t->flags & URT_TASK_BINDING_MASK) >> URT_TASK_BINDING_SHIFT];

	URT_ASSERT(!rt->closing, "no poll runs during deinit");
	check_handles(rt, t); /* debug builds' reports, as task_finish */
	check_output(rt, t, rt->output);
	rt->active--;
	/* task_reclaim's common case inline: a urt slab's slot, no scope */
	if (URT_UNLIKELY(!(t->flags & URT_TASK_SLAB) || !bd->urt || t->scope)) {
		task_reclaim(rt, t);
		return;
	}
	if (URT_UNLIKELY(t->reg != URT__REG_NONE))
		urt__reg_remove(rt, t);
	urt_slab_free(bd->b.slab, t, t->chunk);
	urt__slot_check(rt);
}

/*
 * A task that outlives its first turn enters the registry then (spawn.c,
 * "registry"): from here on it may be parked where only the registry finds
 * it. Its room was reserved by the slab's cover, so this never allocates.
 */
static inline void reg_enter(struct urt_runtime *rt, struct urt_task *t)
{
	if (URT_UNLIKELY(t->reg == URT__REG_NONE))
		urt__reg_add(rt, t);
}

/* One turn of a task taken off the run queue. Return: 1 if it was polled, else 0. */
static inline __attribute__((always_inline)) int task_turn(struct urt_runtime *rt,
							   struct urt_task *t)
{
	struct urt_type_count *tc;
	bool done;

	t->flags &= (uint16_t)~URT_TASK_QUEUED;
	if (URT_UNLIKELY(t->flags & (URT_TASK_FINISHED | URT_TASK_DRAINING | URT_TASK_ABORTING))) {
		reg_enter(rt, t);
		task_turn_special(rt, t);
		return 0;
	}
	if (URT_UNLIKELY(t->waits))
		handed_mark(t);
	rt->polling = t;
	rt->output = 0; /* a poll that returns true without URT_RETURN: output 0 */
	done = t->type->poll(t, t + 1);
	rt->polling = NULL;
	if (URT_UNLIKELY(t->waits) && !done)
		handed_sweep(rt, t);
	tc = &rt->types[t->type_idx];
	if (!done) {
		tc->st.polls++;
		reg_enter(rt, t);
#ifdef URT_DEBUG
		urt__frame_check(rt, t, "frame pointer held across await");
#endif
		return 1;
	}
	if (URT_LIKELY(task_ends_quietly(t))) {
		tc->quiet++; /* a poll and a completion, in one count */
		task_end_quietly(rt, t);
		return 1;
	}
	tc->st.polls++;
	reg_enter(rt, t);
	if (!t->ops) {
		task_finish(rt, t, false);
	} else {
		task_drain(rt, t, false);
	}
	return 1;
}

/*
 * Poll the tasks that were ready when the tick began, at most the budget.
 * A task woken meanwhile (a yield) waits for the next tick, so I/O gets its
 * turn between. Return: tasks polled.
 *
 * When the budget covers the whole queue (the common case), the queue is
 * taken whole and walked as a local list: no pop writes the runtime, and a
 * task woken meanwhile goes on the emptied queue, for the next tick. A
 * task on the taken list keeps QUEUED until its turn, so nothing links it
 * anywhere else or reclaims it before then.
 */
int urt__run_ready(struct urt_runtime *rt)
{
	struct urt_task *t, *next;
	uint32_t turns;
	int n = 0;

	if (URT_LIKELY(rt->nqueued <= rt->budget)) {
		t = rt->run_head;
		rt->run_head = rt->run_tail = NULL;
		rt->nqueued = 0;
		for (; t; t = next) {
			next = t->next; /* before the turn: a yield relinks t */
			n += task_turn(rt, t);
		}
	} else {
		for (turns = rt->budget; turns-- && (t = urt__runq_pop(rt));)
			n += task_turn(rt, t);
	}
	rt->stats.polls += (uint64_t)n;
	return n;
}

/* --- join handles ------------------------------------------------------------ */

static int join_result(struct urt_join *h, uint64_t *out)
{
	struct urt_task *t = h->task;
	int ret = (t->flags & URT_TASK_ABORTED) ? -ECANCELED : 0;

	if (!ret && out)
		memcpy(out, urt_task_state(t), sizeof(*out));
	h->task = NULL;
	t->flags &= (uint16_t)~URT_TASK_HANDLE;
	urt__task_maybe_reclaim(urt__rt, t);
	return ret;
}

int urt_join_await(struct urt_task *self, struct urt_join *h, uint64_t *out)
{
	int ret;

	if (!h->task)
		return -EINVAL;
	if (h->task->flags & URT_TASK_FINISHED)
		return join_result(h, out);
	ret = urt__waitq_park(&h->task->join, self);
	return ret ? ret : URT_PENDING;
}

int urt_join_take(struct urt_join *h, uint64_t *out)
{
	if (!h->task)
		return -EINVAL;
	if (!(h->task->flags & URT_TASK_FINISHED))
		return -EAGAIN;
	return join_result(h, out);
}

bool urt_join_is_finished(const struct urt_join *h)
{
	return h->task && (h->task->flags & URT_TASK_FINISHED);
}

void urt_join_detach(struct urt_join *h)
{
	struct urt_task *t = h->task;

	if (!t)
		return;
	h->task = NULL;
	t->flags &= (uint16_t)~URT_TASK_HANDLE;
	urt__task_maybe_reclaim(urt__rt, t);
}

int urt_join_abort(struct urt_join *h)
{
	struct urt_task *t = h->task;

	if (!t)
		return -EINVAL;
	if (t->flags & URT_TASK_FINISHED)
		return -EALREADY;
	if (t->flags & URT_TASK_DRAINING) /* its poll is over: it ends as it was */
		return 0;
	t->flags |= URT_TASK_ABORTING;
	urt_task_wake(t);
	return 0;
}

/* --- task-scoped memory ------------------------------------------------------ */

struct urt_scope *urt_task_scope(struct urt_task *t)
{
	struct urt_runtime *rt = urt__rt;

	if (!t->scope) {
		struct urt_scope *s = urt_pool_alloc(&rt->scopes);

		if (!s)
			return NULL;
		urt_scope_init(s, &rt->sc);
		t->scope = s;
	}
	return t->scope;
}

void *urt_task_alloc(struct urt_task *t, size_t size)
{
	struct urt_scope *s = urt_task_scope(t);

	return s ? urt_scope_alloc(s, size) : NULL;
}

void urt_task_free(struct urt_task *t, void *ptr)
{
	urt_scope_free(t->scope, ptr);
}

/*
 * Teardown, after urt__ops_drain emptied the kernel, in passes so no pass
 * touches memory an earlier one freed (first, the tasks not registered yet,
 * all on the run queue, enter the registry):
 *   1. every task not finished stops: its wait-queue registrations go (a
 *      queue may live in another task's state, still valid now), it is
 *      marked aborted unless its poll was already over, and what it still
 *      holds outside the kernel ends (sleeps; idle streams, whose buffers
 *      go back to the ring);
 *   2. run drop for every task not finished (reclaim held off by
 *      rt->closing: a drop may still touch another task's state, e.g.
 *      close its channel);
 *   3. reclaim every task, whatever still refers to it: handles and remote
 *      wakers of a runtime being torn down are invalid (documented).
 */
size_t urt__tasks_teardown(struct urt_runtime *rt)
{
	size_t n = 0;

	/* slab tasks that never had a turn are on the run queue alone */
	for (struct urt_task *t = rt->run_head; t; t = t->next)
		reg_enter(rt, t);

	for (uint32_t i = 0; i < rt->nreg; i++) {
		struct urt_task *t = rt->reg[i];

		if (t->flags & URT_TASK_FINISHED)
			continue;
		if (!(t->flags & URT_TASK_DRAINING)) {
			if (t->waits)
				urt__task_unwait(rt, t);
			t->output = 0;
			t->flags |= URT_TASK_DRAINING | URT_TASK_ABORTING;
		}
		urt__exec_ops_end(rt, t);
	}
	for (uint32_t i = 0; i < rt->nreg; i++) {
		struct urt_task *t = rt->reg[i];

		if (!(t->flags & URT_TASK_FINISHED))
			task_finish(rt, t, t->flags & URT_TASK_ABORTING);
	}
	rt->run_head = rt->run_tail = NULL;
	rt->nqueued = 0;
	while (rt->nreg) {
		urt__task_reclaim(rt, rt->reg[rt->nreg - 1]);
		n++;
	}
	return n;
}
