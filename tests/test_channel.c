/* SPDX-License-Identifier: MIT */
/* test_channel.c - oneshot and bounded MPSC channels between local tasks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

/* --- oneshot ---------------------------------------------------------------- */

struct rx_state {
	struct urt_oneshot *o;
	uint64_t v;
	int ret;
};

static bool rx_poll(struct urt_task *t, void *arg)
{
	struct rx_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_oneshot_recv(t, st->o, &st->v));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type rx_type = { .poll = rx_poll, .name = "rx" };

static void test_oneshot(void **state)
{
	struct urt_runtime rt;
	struct urt_oneshot o;
	struct rx_state st = { .o = &o };
	struct urt_join j;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });

	urt_oneshot_init(&o);
	assert_int_equal(urt_spawn(&rt, &rx_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_tick(&rt, 0), 1); /* parked: nothing sent */
	assert_false(urt_join_is_finished(&j));
	assert_int_equal(urt_oneshot_send(&o, 77), 0);
	assert_int_equal(urt_oneshot_send(&o, 78), -EALREADY);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(test_take(&j), 0);
	assert_int_equal(o.state, URT_ONESHOT_TAKEN);
	assert_int_equal(o.value, 77);

	urt_oneshot_init(&o); /* closed before any value: the receiver gets -EPIPE */
	assert_int_equal(urt_spawn(&rt, &rx_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	urt_oneshot_close(&o);
	assert_int_equal(urt_oneshot_send(&o, 1), -EPIPE);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(test_take(&j), -EPIPE);
	test_runtime_end(&rt);
}

/* --- chan: several producers, one consumer ----------------------------------- */

#define PRODUCERS 3
#define PER	  200

struct prod_state {
	struct urt_chan *c;
	uint32_t id, i;
	int ret;
};

static bool prod_poll(struct urt_task *t, void *arg)
{
	struct prod_state *st = arg;

	URT_BEGIN(t);
	for (st->i = 0; st->i < PER; st->i++) {
		URT_AWAIT(t, st->ret = urt_chan_send(t, st->c, (uint64_t)st->id << 32 | st->i));
		if (st->ret)
			URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	}
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type prod_type = { .poll = prod_poll, .name = "producer" };

struct cons_state {
	struct urt_chan *c;
	uint32_t next[PRODUCERS];
	uint64_t v;
	uint32_t got;
	int ret;
};

static bool cons_poll(struct urt_task *t, void *arg)
{
	struct cons_state *st = arg;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, st->ret = urt_chan_recv(t, st->c, &st->v));
		if (st->ret)
			break; /* -EPIPE: closed and drained */
		uint32_t id = (uint32_t)(st->v >> 32), i = (uint32_t)st->v;

		if (id >= PRODUCERS || i != st->next[id]) /* per-producer FIFO */
			URT_RETURN(t, UINT64_MAX);
		st->next[id]++;
		st->got++;
		if (st->got % 7 == 0) /* let producers fill it up */
			URT_YIELD(t);
	}
	URT_RETURN(t, st->got);
	URT_END(t);
}

static const struct urt_task_type cons_type = { .poll = cons_poll, .name = "consumer" };

static void test_chan_mpsc_order_backpressure_close(void **state)
{
	struct urt_runtime rt;
	struct urt_chan c;
	struct cons_state cs = { .c = &c };
	struct urt_join cj, pj[PRODUCERS];
	uint64_t v;

	(void)state;
	assert_int_equal(urt_chan_init(&c, 0, NULL), -EINVAL);
	assert_int_equal(urt_chan_init(&c, 4, NULL), 0);
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
								  .slab_slots = 8 }),
		0);
	assert_int_equal(urt_spawn_slab(&cons_type, &cs, sizeof(cs), &cj), 0);
	for (uint32_t i = 0; i < PRODUCERS; i++)
		assert_int_equal(urt_spawn_slab(&prod_type,
						&(struct prod_state){ .c = &c, .id = i },
						sizeof(struct prod_state), &pj[i]),
				 0);
	bool backpressure = false;
	while (!(urt_join_is_finished(&pj[0]) && urt_join_is_finished(&pj[1]) &&
		 urt_join_is_finished(&pj[2]))) {
		assert_true(urt_tick(&rt, 0) >= 0);
		assert_true(c.len <= c.cap);
		backpressure |= c.len == c.cap && c.sendq.head;
	}
	assert_true(backpressure); /* senders did park on a full channel */
	for (int i = 0; i < PRODUCERS; i++)
		assert_int_equal(test_take(&pj[i]), 0);
	urt_chan_close(&c);
	assert_int_equal(urt_chan_try_send(&c, 1), -EPIPE);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(test_take(&cj), PRODUCERS * PER); /* all, in per-producer order */
	assert_int_equal(urt_chan_try_recv(&c, &v), -EPIPE);
	urt_chan_deinit(&c);
	test_runtime_end(&rt);
}

static void test_chan_try_and_blocked_sender_on_close(void **state)
{
	struct urt_runtime rt;
	struct urt_chan c;
	struct urt_join pj;
	uint64_t v;

	(void)state;
	assert_int_equal(urt_chan_init(&c, 2, NULL), 0);
	assert_int_equal(urt_chan_try_recv(&c, &v), -EAGAIN);
	assert_int_equal(urt_chan_try_send(&c, 10), 0);
	assert_int_equal(urt_chan_try_send(&c, 11), 0);
	assert_int_equal(urt_chan_try_send(&c, 12), -EAGAIN);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	/* a producer blocks on the full channel ... */
	assert_int_equal(urt_spawn(&rt, &prod_type, &(struct prod_state){ .c = &c, .id = 1 },
				   sizeof(struct prod_state), &pj),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_non_null(c.sendq.head);
	/* ... one value out lets exactly one more in */
	assert_int_equal(urt_chan_try_recv(&c, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(c.len, 2);
	/* close: the blocked sender fails with -EPIPE; buffered values drain */
	urt_chan_close(&c);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(test_take(&pj), -EPIPE);
	assert_int_equal(urt_chan_try_recv(&c, &v), 0);
	assert_int_equal(v, 11);
	assert_int_equal(urt_chan_try_recv(&c, &v), 0);
	assert_int_equal(v, 1ull << 32);
	assert_int_equal(urt_chan_try_recv(&c, &v), -EPIPE);
	urt_chan_deinit(&c);
	test_runtime_end(&rt);
}

static void test_abort_unlinks_parked_sender(void **state)
{
	struct urt_runtime rt;
	struct urt_chan c;
	struct urt_join a, b;

	(void)state;
	assert_int_equal(urt_chan_init(&c, 1, NULL), 0);
	assert_int_equal(urt_chan_try_send(&c, 0), 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &prod_type, &(struct prod_state){ .c = &c },
				   sizeof(struct prod_state), &a),
			 0);
	assert_int_equal(urt_spawn(&rt, &prod_type, &(struct prod_state){ .c = &c, .id = 1 },
				   sizeof(struct prod_state), &b),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 2); /* both parked on sendq */
	assert_int_equal(urt_join_abort(&a), 0);
	assert_int_equal(urt_tick(&rt, 0), 0);
	uint64_t out;
	assert_int_equal(urt_join_take(&a, &out), -ECANCELED);
	/* a is off the queue (its slot is gone); b is still parked */
	assert_non_null(c.sendq.head);
	urt_chan_close(&c);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(test_take(&b), -EPIPE);
	assert_null(c.sendq.head);
	urt_chan_deinit(&c);
	test_runtime_end(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oneshot),
		cmocka_unit_test(test_chan_mpsc_order_backpressure_close),
		cmocka_unit_test(test_chan_try_and_blocked_sender_on_close),
		cmocka_unit_test(test_abort_unlinks_parked_sender),
	};

	return cmocka_run_group_tests_name("channel", tests, NULL, NULL);
}
