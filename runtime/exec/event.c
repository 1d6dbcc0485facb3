/* SPDX-License-Identifier: MIT */
/*
 * event.c - notify / wait between local tasks (urt/event.h).
 *
 * A waiter is a wait-queue registration on ev->waiting, owned by the
 * runtime: whatever ends or wakes the task drops it, so an aborted waiter
 * leaves nothing behind. notify_one does not just wake the oldest waiter
 * (the woken task could be aborted, or take another branch of a select,
 * before it runs, and the notification would be gone): it hands the
 * registration over to ev->given (urt__waitq_hand) and queues the task.
 * The task's next urt_event_wait finds its registration there and returns
 * 0. If that registration is dropped instead, its task never took the
 * notification and event_lost passes it on: to the next waiter, or into
 * the permit. notify_all hands every waiter to ev->all, whose losses are
 * not passed on (everyone was notified).
 *
 * The permit (one, like tokio's Notify) is what notify_one leaves when
 * nobody waits.
 */
#include "urt/event.h"

#include <errno.h>
#include <stddef.h>

#include "exec_internal.h"

void urt_event_init(struct urt_event *ev)
{
	*ev = (struct urt_event){ 0 };
}

void urt_event_deinit(struct urt_event *ev)
{
	URT_ASSERT(!ev->waiting.head && !ev->given.head && !ev->all.head,
		   "event deinit with tasks waiting on it");
	(void)ev;
}

static void event_lost(struct urt_waitq *given)
{
	struct urt_event *ev =
		(struct urt_event *)((char *)given - offsetof(struct urt_event, given));

	urt_event_notify_one(ev);
}

bool urt_event_notify_one(struct urt_event *ev)
{
	if (urt__waitq_hand(&ev->waiting, &ev->given, event_lost))
		return true;
	ev->permit = true;
	return false;
}

void urt_event_notify_all(struct urt_event *ev)
{
	urt__waitq_hand_all(&ev->waiting, &ev->all);
}

int urt_event_try_wait(struct urt_event *ev)
{
	if (!ev->permit)
		return -EAGAIN;
	ev->permit = false;
	return 0;
}

int urt_event_wait(struct urt_task *self, struct urt_event *ev)
{
	int ret;

	/* a task is on one of these queues at most: both take it off waiting */
	if (urt__waitq_take(&ev->given, self))
		return 0;
	if (urt__waitq_take(&ev->all, self))
		return 0;
	if (ev->permit) {
		ev->permit = false;
		return 0;
	}
	ret = urt__waitq_park(&ev->waiting, self);
	return ret ? ret : URT_PENDING;
}
