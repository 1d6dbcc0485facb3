/* SPDX-License-Identifier: MIT */
/*
 * test_wait.c - what a task may wait on and how waits end: several
 * sources at once (URT_AWAIT_ANY, up to eight), one receiver per channel, a oneshot
 * close that keeps a sent value, spawns refused during deinit, claims on
 * slots too small, urt_run on a deadlock, a returned pointer into the
 * task's own memory (debug report), and the URT_YIELD line guard.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static int64_t take(struct urt_join *j)
{
	uint64_t out;

	assert_int_equal(urt_join_take(j, &out), 0);
	return (int64_t)out;
}

/* --- select: two channels and a timer ------------------------------------------- */

struct sel_state {
	struct urt_chan *a, *b;
	struct urt_op nap;
	uint64_t va, vb;
	int ra, rb, rt;
	uint64_t got_a, got_b, timeouts;
};

static bool sel_poll(struct urt_task *t, void *arg)
{
	struct sel_state *st = arg;

	URT_BEGIN(t);
	st->ra = st->rb = URT_PENDING;
	for (;;) {
		/* a channel that has ended is no longer waited on */
		URT_AWAIT_ANY(
			t,
			st->ra = st->ra == -EPIPE ? URT_PENDING : urt_chan_recv(t, st->a, &st->va),
			st->rb = st->rb == -EPIPE ? URT_PENDING : urt_chan_recv(t, st->b, &st->vb),
			st->rt = urt_sleep(t, &st->nap, 2000000));
		if (st->ra == 0)
			st->got_a += st->va;
		if (st->rb == 0)
			st->got_b += st->vb;
		if (st->rt == 0)
			st->timeouts++;
		if (st->ra == -EPIPE && st->rb == -EPIPE)
			break;
	}
	urt_op_cancel(&st->nap); /* still armed: cancel it, its record goes at once */
	URT_RETURN(t, st->got_a * 1000 + st->got_b);
	URT_END(t);
}

static const struct urt_task_type sel_type = { .poll = sel_poll, .name = "select" };

struct feed_state {
	struct urt_chan *c;
	uint64_t v;
	int n, i, ret;
	struct urt_op nap;
};

static bool feed_poll(struct urt_task *t, void *arg)
{
	struct feed_state *st = arg;

	URT_BEGIN(t);
	for (st->i = 0; st->i < st->n; st->i++) {
		URT_AWAIT(t, st->ret = urt_chan_send(t, st->c, st->v));
		if (st->i == st->n / 2) /* a pause long enough for the select to time out */
			URT_AWAIT(t, st->ret = urt_sleep(t, &st->nap, 10000000));
	}
	urt_chan_close(st->c);
	URT_END(t);
}

static const struct urt_task_type feed_type = { .poll = feed_poll, .name = "feed" };

static void test_select_two_channels_and_a_timer(void **state)
{
	struct urt_runtime rt;
	struct urt_chan a, b;
	struct urt_join j;
	struct urt_runtime_stats st;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_chan_init(&a, 2, NULL), 0);
	assert_int_equal(urt_chan_init(&b, 2, NULL), 0);
	assert_int_equal(urt_spawn(&rt, &sel_type, &(struct sel_state){ .a = &a, .b = &b },
				   sizeof(struct sel_state), &j),
			 0);
	assert_int_equal(urt_spawn(&rt, &feed_type,
				   &(struct feed_state){ .c = &a, .v = 1, .n = 50 },
				   sizeof(struct feed_state), NULL),
			 0);
	assert_int_equal(urt_spawn(&rt, &feed_type,
				   &(struct feed_state){ .c = &b, .v = 2, .n = 30 },
				   sizeof(struct feed_state), NULL),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(take(&j), 50 * 1000 + 60);
	urt_runtime_stats(&rt, &st);
	assert_true(st.timers_fired >= 1); /* the pause made the select time out */
	assert_int_equal(st.ops_live, 0);
	urt_chan_deinit(&a);
	urt_chan_deinit(&b);
	test_runtime_end(&rt);
}

/* --- one receiver per channel ----------------------------------------------------- */

struct rx_state {
	struct urt_chan *c;
	struct urt_oneshot *o;
	uint64_t v;
	int ret;
};

static bool rx_poll(struct urt_task *t, void *arg)
{
	struct rx_state *st = arg;

	URT_BEGIN(t);
	if (st->o)
		URT_AWAIT(t, st->ret = urt_oneshot_recv(t, st->o, &st->v));
	else
		URT_AWAIT(t, st->ret = urt_chan_recv(t, st->c, &st->v));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type rx_type = { .poll = rx_poll, .name = "rx" };

static void test_second_receiver_refused(void **state)
{
	struct urt_runtime rt;
	struct urt_chan c;
	struct urt_oneshot o;
	struct urt_join j1, j2, j3, j4;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_chan_init(&c, 4, NULL), 0);
	assert_int_equal(urt_spawn(&rt, &rx_type, &(struct rx_state){ .c = &c },
				   sizeof(struct rx_state), &j1),
			 0);
	assert_int_equal(urt_spawn(&rt, &rx_type, &(struct rx_state){ .c = &c },
				   sizeof(struct rx_state), &j2),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 2);
	assert_true(urt_join_is_finished(&j2)); /* refused, not hung */
	assert_int_equal(take(&j2), -EBUSY);
	assert_int_equal(urt_chan_try_send(&c, 5), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(take(&j1), 0);

	urt_oneshot_init(&o);
	assert_int_equal(urt_spawn(&rt, &rx_type, &(struct rx_state){ .o = &o },
				   sizeof(struct rx_state), &j3),
			 0);
	assert_int_equal(urt_spawn(&rt, &rx_type, &(struct rx_state){ .o = &o },
				   sizeof(struct rx_state), &j4),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 2);
	assert_int_equal(take(&j4), -EBUSY);
	assert_int_equal(urt_oneshot_send(&o, 9), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(take(&j3), 0);
	urt_chan_deinit(&c);
	test_runtime_end(&rt);
}

/* --- a close never loses a sent value ----------------------------------------------- */

static void test_oneshot_close_keeps_sent_value(void **state)
{
	struct urt_runtime rt;
	struct urt_oneshot o;
	struct rx_state st = { .o = &o };
	struct urt_join j;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	urt_oneshot_init(&o);
	assert_int_equal(urt_oneshot_send(&o, 41), 0);
	urt_oneshot_close(&o); /* a sender that sends, then ends (its drop closes) */
	assert_int_equal(urt_spawn(&rt, &rx_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(take(&j), 0);
	assert_int_equal(o.state, URT_ONESHOT_TAKEN);
	assert_int_equal(o.value, 41);
	test_runtime_end(&rt);
}

/* --- spawning from a drop during deinit is refused ------------------------------------ */

static int spawn_in_drop_ret;

static bool idle_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	URT_BEGIN(t);
	URT_AWAIT(t, URT_PENDING); /* parked forever: nothing wakes it */
	URT_END(t);
}

static void respawn_drop(struct urt_task *t, void *arg)
{
	static const struct urt_task_type idle = { .poll = idle_poll, .name = "idle" };

	(void)t, (void)arg;
	spawn_in_drop_ret = urt_spawn(urt_runtime_current(), &idle, NULL, 0, NULL);
}

static const struct urt_task_type respawn_type = { .poll = idle_poll,
						   .drop = respawn_drop,
						   .name = "respawn" };

static void test_spawn_from_drop_in_deinit_refused(void **state)
{
	struct urt_runtime rt;

	(void)state;
	spawn_in_drop_ret = 1;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &respawn_type, NULL, 0, NULL), 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	/* urt_run: a task parked with nothing to wake it is a deadlock, not a spin */
	assert_int_equal(urt_run(&rt), -EDEADLK);
	assert_int_equal(urt_runtime_deinit(&rt), 1);
	assert_int_equal(spawn_in_drop_ret, -ESHUTDOWN);
}

/* --- claims on slots that cannot hold a header and the output ---------------------- */

static void test_claim_refuses_small_slots(void **state)
{
	static const size_t slots[] = { 16, 32, 48, 64, 72 };
	struct urt_runtime rt;
	struct urt_slab smalls[5];
	struct urt_slab_binding prev;
	struct urt_claim c;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	for (int i = 0; i < 5; i++) {
		/* one slab object each: the runtime knows a binding by its address */
		struct urt_slab *small = &smalls[i];
		size_t slot = slots[i];

		assert_int_equal(urt_slab_init(small, &(struct urt_slab_opts){ .slot_size = slot,
									       .slots = 4,
									       .bounded = true }),
				 0);
		prev = urt_slab_install(&urt_slab_table_urt, small);
		assert_int_equal(urt_try_claim_slab(&c), slot < 72 ? -EMSGSIZE : 0);
		assert_int_equal(urt_claim_slab(&c), slot < 72 ? -EMSGSIZE : 0);
		if (slot >= 72) {
			assert_int_equal(urt_claim_capacity(&c), 80 - 64); /* 72 rounds up to 80 */
			urt_claim_release(&c);
			assert_int_equal(urt_try_claim_slab(&c), 0);
			urt_claim_release(&c);
		}
		urt_slab_restore(prev);
		urt_slab_deinit(small);
	}
	test_runtime_end(&rt);
}

/* --- a returned pointer into the task's own memory is reported (debug) -------------- */

static char last_report[256];

static void hook(void *ctx, const char *msg)
{
	(void)ctx;
	snprintf(last_report, sizeof(last_report), "%s", msg);
}

static bool leak_poll(struct urt_task *t, void *arg)
{
	char *p = urt_task_alloc(t, 32);

	(void)arg;
	URT_BEGIN(t);
	URT_RETURN(t, (uintptr_t)p);
	URT_END(t);
}

static const struct urt_task_type leak_type = { .poll = leak_poll, .name = "leaky" };

static void test_return_pointer_into_task_memory_reported(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;

	(void)state;
#ifndef URT_DEBUG
	skip(); /* a debug-build check */
#endif
	last_report[0] = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .debug_hook = hook });
	assert_int_equal(urt_spawn(&rt, &leak_type, NULL, 0, &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_non_null(strstr(last_report, "'leaky' returned a pointer"));
	urt_join_detach(&j);
	test_runtime_end(&rt);
}

/* --- eight sources, and the empty join handle ------------------------------------ */

struct eight_state {
	struct urt_chan *ch; /* eight */
	uint64_t v[8], sum;
	int r[8], open;
	bool closed[8];
};

static bool eight_poll(struct urt_task *t, void *arg)
{
	struct eight_state *st = arg;

	URT_BEGIN(t);
	for (int i = 0; i < 8; i++)
		st->r[i] = URT_PENDING;
	st->open = 8;
	while (st->open) {
#define R(i) st->r[i] = st->closed[i] ? URT_PENDING : urt_chan_recv(t, &st->ch[i], &st->v[i])
		URT_AWAIT_ANY(t, R(0), R(1), R(2), R(3), R(4), R(5), R(6), R(7));
#undef R
		for (int i = 0; i < 8; i++) {
			if (st->r[i] == 0)
				st->sum += st->v[i];
			if (st->r[i] == -EPIPE)
				st->open--, st->closed[i] = true; /* no longer waited on */
		}
	}
	URT_RETURN(t, st->sum);
	URT_END(t);
}

static const struct urt_task_type eight_type = { .poll = eight_poll, .name = "eight" };

/*
 * URT_AWAIT_ANY over eight channels: every value sent on each reaches the
 * waiter (channel i carries 2^(8i) per value, so the sum tells which
 * arrived), and a zeroed, a filled and a taken handle are told apart by
 * urt_join_is_empty.
 */
static void test_eight_sources_and_empty_join(void **state)
{
	struct urt_runtime rt;
	struct urt_chan ch[8];
	struct urt_join j = { 0 }, bad = { 0 };
	uint64_t want = 0;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	for (int i = 0; i < 8; i++)
		assert_int_equal(urt_chan_init(&ch[i], 2, NULL), 0);
	assert_true(urt_join_is_empty(&j));
	assert_int_equal(urt_spawn(&rt, &eight_type, &(struct eight_state){ .ch = ch },
				   sizeof(struct eight_state), &j),
			 0);
	assert_false(urt_join_is_empty(&j));
	for (int i = 0; i < 8; i++) {
		uint64_t v = 1ull << (8 * i);

		assert_int_equal(urt_spawn(&rt, &feed_type,
					   &(struct feed_state){ .c = &ch[i], .v = v, .n = 3 + i },
					   sizeof(struct feed_state), NULL),
				 0);
		want += v * (uint64_t)(3 + i);
	}
	assert_int_equal(urt_spawn(&rt, NULL, NULL, 0, &bad), -EINVAL);
	assert_true(urt_join_is_empty(&bad)); /* a failed spawn fills nothing */
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal((uint64_t)take(&j), want);
	assert_true(urt_join_is_empty(&j)); /* taken */
	for (int i = 0; i < 8; i++)
		urt_chan_deinit(&ch[i]);
	test_runtime_end(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select_two_channels_and_a_timer),
		cmocka_unit_test(test_eight_sources_and_empty_join),
		cmocka_unit_test(test_second_receiver_refused),
		cmocka_unit_test(test_oneshot_close_keeps_sent_value),
		cmocka_unit_test(test_spawn_from_drop_in_deinit_refused),
		cmocka_unit_test(test_claim_refuses_small_slots),
		cmocka_unit_test(test_return_pointer_into_task_memory_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
