/* SPDX-License-Identifier: MIT */
/*
 * test_event.c - events (notify one / all, the permit, a select with a
 * sleep, aborts) and waiting for a slab slot (FIFO, one wake a slot,
 * aborts, reclaim).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static int order[16], norder;

/* --- events ------------------------------------------------------------------ */

struct waiter {
	struct urt_event *ev;
	int id, ret;
};

static bool waiter_poll(struct urt_task *t, void *arg)
{
	struct waiter *w = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, w->ret = urt_event_wait(t, w->ev));
	order[norder++] = w->id;
	URT_RETURN(t, (uint64_t)(int64_t)w->ret);
	URT_END(t);
}

static const struct urt_task_type waiter_type = { .poll = waiter_poll, .name = "waiter" };

static void spawn_waiters(struct urt_runtime *rt, struct urt_event *ev, struct urt_join *j, int n)
{
	for (int i = 0; i < n; i++) {
		assert_int_equal(urt_spawn(rt, &waiter_type, &(struct waiter){ .ev = ev, .id = i + 1 },
					   sizeof(struct waiter), &j[i]),
				 0);
		assert_int_equal(urt_tick(rt, 0), 1); /* parks, in this order */
	}
}

static void test_notify_one_fifo(void **state)
{
	struct urt_runtime rt;
	struct urt_event ev;
	struct urt_join j[3];
	uint64_t out;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	urt_event_init(&ev);
	norder = 0;
	spawn_waiters(&rt, &ev, j, 3);
	assert_true(urt_event_has_waiters(&ev));
	assert_true(urt_event_notify_one(&ev));
	assert_int_equal(urt_tick(&rt, 0), 1); /* exactly one woken */
	assert_int_equal(norder, 1);
	assert_int_equal(order[0], 1);
	assert_true(urt_event_notify_one(&ev));
	assert_true(urt_event_notify_one(&ev));
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(norder, 3);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(urt_join_take(&j[i], &out), 0);
		assert_int_equal(out, 0);
	}
	assert_false(ev.permit); /* every notify went to a waiter */
	urt_event_deinit(&ev);
	test_runtime_end(&rt);
}

static void test_permit(void **state)
{
	struct urt_runtime rt;
	struct urt_event ev;
	struct urt_join j[2];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	urt_event_init(&ev);
	norder = 0;
	assert_int_equal(urt_event_try_wait(&ev), -EAGAIN);
	assert_false(urt_event_notify_one(&ev)); /* nobody waits: the permit */
	assert_false(urt_event_notify_one(&ev)); /* still one */
	spawn_waiters(&rt, &ev, j, 2);		 /* the first takes it at once */
	assert_int_equal(norder, 1);
	assert_int_equal(order[0], 1);
	assert_true(urt_event_has_waiters(&ev)); /* the second waits */
	assert_false(ev.permit);
	urt_event_notify_all(&ev);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(norder, 2);
	assert_false(ev.permit); /* notify_all stores none */
	assert_false(urt_event_notify_one(&ev));
	assert_int_equal(urt_event_try_wait(&ev), 0);
	assert_int_equal(urt_event_try_wait(&ev), -EAGAIN);
	for (int i = 0; i < 2; i++)
		assert_int_equal(urt_join_take(&j[i], NULL), 0);
	test_runtime_end(&rt);
}

static void test_notify_all(void **state)
{
	struct urt_runtime rt;
	struct urt_event ev;
	struct urt_join j[4];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	urt_event_init(&ev);
	norder = 0;
	spawn_waiters(&rt, &ev, j, 3);
	urt_event_notify_all(&ev);
	assert_false(urt_event_has_waiters(&ev));
	assert_int_equal(urt_tick(&rt, 0), 3);
	assert_int_equal(norder, 3);
	spawn_waiters(&rt, &ev, &j[3], 1); /* a later waiter waits for the next */
	assert_int_equal(norder, 3);
	urt_event_notify_all(&ev);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(norder, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(urt_join_take(&j[i], NULL), 0);
	test_runtime_end(&rt);
}

/* A select: the event or a 1 ms sleep, until it has counted `want` notifications. */
struct selector {
	struct urt_event *ev;
	struct urt_op nap;
	int got, naps, want, r, s;
};

static bool selector_poll(struct urt_task *t, void *arg)
{
	struct selector *s = arg;

	URT_BEGIN(t);
	while (s->got < s->want) {
		URT_AWAIT_ANY(t, s->r = urt_event_wait(t, s->ev),
			      s->s = urt_sleep(t, &s->nap, 1000000));
		if (s->r == 0)
			s->got++;
		assert_true(s->r == 0 || s->r == URT_PENDING);
		if (s->s != URT_PENDING)
			s->naps++;
	}
	URT_END(t);
}

static const struct urt_task_type selector_type = { .poll = selector_poll, .name = "selector" };

static void test_select_with_sleep(void **state)
{
	struct urt_runtime rt;
	struct urt_event ev;
	struct selector st = { .ev = &ev, .want = 6 };
	struct urt_join j;
	struct selector *live;
	int sent = 0;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	urt_event_init(&ev);
	assert_int_equal(urt_spawn(&rt, &selector_type, &st, sizeof(st), &j), 0);
	live = urt_task_state(j.task);
	/* notify between ticks that may have woken it by its sleep: each is
	 * counted once, none lost, whatever woke it */
	for (int i = 0; i < 2000 && !urt_join_is_finished(&j); i++) {
		if (i % 7 == 3 && sent < st.want) {
			(void)urt_event_notify_one(&ev);
			sent++;
		}
		assert_true(urt_tick(&rt, 2000000) >= 0);
	}
	assert_true(urt_join_is_finished(&j));
	assert_int_equal(sent, st.want);
	(void)live;
	assert_int_equal(urt_join_take(&j, NULL), 0);
	assert_false(ev.permit); /* nothing left over: none counted twice */
	assert_true(urt_tick(&rt, 0) >= 0); /* the sleep it left ended with it: a last turn */
	test_runtime_end(&rt);
}

static void test_abort_waiters(void **state)
{
	struct urt_runtime rt;
	struct urt_event ev;
	struct urt_join j[3];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	urt_event_init(&ev);
	norder = 0;
	spawn_waiters(&rt, &ev, j, 3);
	/* a parked waiter aborted: it leaves the line */
	assert_int_equal(urt_join_abort(&j[0]), 0);
	assert_int_equal(urt_tick(&rt, 0), 0);
	assert_int_equal(urt_join_take(&j[0], NULL), -ECANCELED);
	/* a waiter notified, aborted before it ran: the notification passes on */
	assert_true(urt_event_notify_one(&ev)); /* to 2 */
	assert_int_equal(urt_join_abort(&j[1]), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j[1], NULL), -ECANCELED);
	assert_int_equal(norder, 1);
	assert_int_equal(order[0], 3); /* 3 got 2's notification */
	assert_int_equal(urt_join_take(&j[2], NULL), 0);
	/* and with nobody left it becomes the permit */
	spawn_waiters(&rt, &ev, j, 1);
	assert_true(urt_event_notify_one(&ev));
	assert_int_equal(urt_join_abort(&j[0]), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j[0], NULL), -ECANCELED);
	assert_true(ev.permit);
	urt_event_deinit(&ev);
	test_runtime_end(&rt);
}

/* A waiter on the event whose drop frees nothing: deinit with it parked. */
static void test_deinit_parked(void **state)
{
	struct urt_runtime rt;
	struct urt_event ev;
	struct urt_join j[2];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	urt_event_init(&ev);
	spawn_waiters(&rt, &ev, j, 2);
	assert_true(urt_event_notify_one(&ev)); /* one handed, one parked */
	urt_join_detach(&j[0]);
	urt_join_detach(&j[1]);
	assert_int_equal(urt_runtime_deinit(&rt), 2);
	assert_false(urt_event_has_waiters(&ev));
	assert_null(ev.given.head);
}

/* --- waiting for a slab slot ------------------------------------------------------ */

static struct urt_claim got[8];

struct slot_waiter {
	int id, ret;
	struct urt_claim c;
};

static bool slot_waiter_poll(struct urt_task *t, void *arg)
{
	struct slot_waiter *w = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, w->ret = urt_claim_slab_wait(t, &w->c));
	if (!w->ret) {
		got[w->id] = w->c; /* the test releases it */
		order[norder++] = w->id;
	}
	URT_RETURN(t, (uint64_t)(int64_t)w->ret);
	URT_END(t);
}

static const struct urt_task_type slot_waiter_type = { .poll = slot_waiter_poll,
						       .name = "slot-waiter" };

/* A slab task that holds its slot until the event. */
struct holder {
	struct urt_event *ev;
	int ret;
};

static bool holder_poll(struct urt_task *t, void *arg)
{
	struct holder *h = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, h->ret = urt_event_wait(t, h->ev));
	URT_END(t);
}

static const struct urt_task_type holder_type = { .poll = holder_poll, .name = "holder" };

static void test_slot_wait(void **state)
{
	struct urt_runtime rt;
	struct urt_claim held[3], c;
	struct urt_join j[4], hj;
	struct urt_event ev;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
							   .slab_slots = 4 });
	urt_event_init(&ev);
	norder = 0;
	for (int i = 0; i < 3; i++)
		assert_int_equal(urt_try_claim_slab(&held[i]), 0);
	assert_int_equal(urt_spawn_slab(&holder_type, &(struct holder){ .ev = &ev },
					sizeof(struct holder), &hj),
			 0);
	assert_int_equal(urt_try_claim_slab(&c), -ENOSPC); /* full */
	for (int i = 0; i < 4; i++) { /* boxed waiters, parked in order 1..4 */
		assert_int_equal(urt_spawn(&rt, &slot_waiter_type, &(struct slot_waiter){ .id = i + 1 },
					   sizeof(struct slot_waiter), &j[i]),
				 0);
		assert_true(urt_tick(&rt, 0) >= 1);
	}
	assert_int_equal(norder, 0);
	/* one slot back: exactly one waiter has it, the first */
	urt_claim_release(&held[0]);
	for (int i = 0; i < 4; i++)
		assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(norder, 1);
	assert_int_equal(order[0], 1);
	/* the second aborted while waiting: it leaves the line */
	assert_int_equal(urt_join_abort(&j[1]), 0);
	assert_true(urt_tick(&rt, 0) >= 0);
	/* a task reclaimed frees its slot: the third has it */
	assert_true(urt_event_notify_one(&ev));
	assert_true(urt_tick(&rt, 0) >= 1);
	assert_int_equal(urt_join_take(&hj, NULL), 0); /* the handle goes: reclaimed */
	for (int i = 0; i < 4; i++)
		assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(norder, 2);
	assert_int_equal(order[1], 3);
	/* the fourth is handed a slot and aborted before it runs: the slot
	 * stays vacant for the next claim */
	urt_claim_release(&held[1]);
	assert_int_equal(urt_join_abort(&j[3]), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(norder, 2);
	assert_int_equal(urt_join_take(&j[0], NULL), 0);
	assert_int_equal(urt_join_take(&j[1], NULL), -ECANCELED);
	assert_int_equal(urt_join_take(&j[2], NULL), 0);
	assert_int_equal(urt_join_take(&j[3], NULL), -ECANCELED);
	assert_int_equal(urt_try_claim_slab(&c), 0);
	urt_claim_release(&c);
	urt_claim_release(&held[2]);
	urt_claim_release(&got[1]);
	urt_claim_release(&got[3]);
	assert_int_equal(test_stats(&rt).slab_live, 0);
	test_runtime_end(&rt);
}

/* Many waiters, slots going back one by one: served in the order they came. */
static void test_slot_wait_order(void **state)
{
	struct urt_runtime rt;
	struct urt_claim held[2];
	struct urt_join j[6];

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
							   .slab_slots = 2 });
	norder = 0;
	for (int i = 0; i < 2; i++)
		assert_int_equal(urt_try_claim_slab(&held[i]), 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(urt_spawn(&rt, &slot_waiter_type, &(struct slot_waiter){ .id = i + 1 },
					   sizeof(struct slot_waiter), &j[i]),
				 0);
		assert_true(urt_tick(&rt, 0) >= 1);
	}
	urt_claim_release(&held[0]);
	urt_claim_release(&held[1]); /* two back at once: the first two */
	for (int i = 0; i < 6; i++)
		assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(norder, 2);
	for (int k = 2; k < 6; k++) { /* then one at a time */
		urt_claim_release(&got[order[k - 2]]);
		for (int i = 0; i < 6; i++)
			assert_true(urt_tick(&rt, 0) >= 0);
		assert_int_equal(norder, k + 1);
	}
	for (int k = 0; k < 6; k++)
		assert_int_equal(order[k], k + 1);
	urt_claim_release(&got[5]);
	urt_claim_release(&got[6]);
	assert_int_equal(urt_run(&rt), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(urt_join_take(&j[i], NULL), 0);
	test_runtime_end(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_one_fifo),	 cmocka_unit_test(test_permit),
		cmocka_unit_test(test_notify_all),	 cmocka_unit_test(test_select_with_sleep),
		cmocka_unit_test(test_abort_waiters),	 cmocka_unit_test(test_deinit_parked),
		cmocka_unit_test(test_slot_wait),	 cmocka_unit_test(test_slot_wait_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
