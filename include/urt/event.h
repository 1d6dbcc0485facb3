/* SPDX-License-Identifier: MIT */
/*
 * urt/event.h - an event (notify / wait) between tasks of one runtime, the
 * way tokio's Notify is: a task awaits urt_event_wait; another task (or
 * code outside tasks on the runtime's thread) calls urt_event_notify_one or
 * urt_event_notify_all.
 *
 *	URT_AWAIT(t, st->ret = urt_event_wait(t, &shared->ev));
 *	...
 *	urt_event_notify_one(&shared->ev);
 *
 * Semantics:
 *  - notify_one with tasks waiting gives the notification to the one that
 *    has waited longest (FIFO) and wakes it, and only it. With nobody
 *    waiting it is stored as the one permit (at most one: a second
 *    notify_one with nobody waiting changes nothing); the next wait takes
 *    the permit and returns 0 at once.
 *  - notify_all wakes every task waiting now, each returns 0; it stores no
 *    permit (a task that waits later waits for the next notify).
 *  - A notification given to a task is never lost: if the task ends (it
 *    finishes or is aborted), or the poll it was woken for ends without
 *    re-evaluating its wait (another source, a flag checked first), the
 *    notification passes to the next waiter at once, or becomes
 *    the permit. (A notify_all's is not passed on.)
 *  - Usable as a source of URT_AWAIT_ANY: every re-evaluation of a pending
 *    wait registers once (never twice), and one that was notified returns 0.
 *    A waiter woken by another source goes to the back of the line when it
 *    waits again.
 *
 * Context: the runtime's thread. An event with tasks waiting must not be
 * freed (debug builds assert in urt_event_deinit): notify_all first and let
 * them run. The event holds no memory of its own; registrations come from
 * the runtime's pool.
 */
#ifndef URT_EVENT_H
#define URT_EVENT_H

#include <stdbool.h>

#include "urt/task.h"

#ifdef __cplusplus
extern "C" {
#endif

struct urt_event {
	struct urt_waitq waiting; /* parked in urt_event_wait, newest first */
	struct urt_waitq given;	  /* notified by notify_one, not yet returned */
	struct urt_waitq all;	  /* notified by notify_all, not yet returned */
	bool permit;		  /* a notify_one found nobody waiting */
};

/* urt_event_init - no waiter, no permit. (A zeroed struct is the same.) */
void urt_event_init(struct urt_event *ev);

/* urt_event_deinit - nothing to free; debug builds assert nobody waits. */
void urt_event_deinit(struct urt_event *ev);

/*
 * urt_event_wait - awaitable: until notified.
 * Return: 0 (notified, or the permit taken); URT_PENDING (self will be
 * woken); -ENOMEM if no registration could be had (nothing changed).
 */
int urt_event_wait(struct urt_task *self, struct urt_event *ev);

/*
 * urt_event_try_wait - take the permit without waiting.
 * Return: 0; -EAGAIN if there is none.
 */
int urt_event_try_wait(struct urt_event *ev);

/*
 * urt_event_notify_one - notify the longest waiter, or store the permit.
 * Return: true if a waiting task was notified, false if the permit was
 * stored (or already there).
 */
bool urt_event_notify_one(struct urt_event *ev);

/* urt_event_notify_all - notify every task waiting now; no permit. */
void urt_event_notify_all(struct urt_event *ev);

/* urt_event_has_waiters - whether any task is parked in urt_event_wait. */
static inline bool urt_event_has_waiters(const struct urt_event *ev)
{
	return ev->waiting.head != NULL;
}

#ifdef __cplusplus
}
#endif

#endif /* URT_EVENT_H */
