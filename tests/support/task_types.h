/* SPDX-License-Identifier: MIT */
/*
 * task_types.h - the small task types the executor suites share (test_task,
 * test_slab_bind, test_frame): an adder, a parked task, a spinner, a
 * yielder, a parent that joins a child; and two helpers. Included by one
 * suite each: every definition is static.
 */
#ifndef URT_TEST_TASK_TYPES_H
#define URT_TEST_TASK_TYPES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

/* --- task types used below ---------------------------------------------- */

static const unsigned char big_state_for_wrapped[65];

static int drops;

struct add_state {
	uint64_t a, b;
};

static inline bool add_poll(struct urt_task *t, void *arg)
{
	struct add_state *st = arg;

	URT_BEGIN(t);
	URT_RETURN(t, st->a + st->b);
	URT_END(t);
}

static inline void count_drop(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	drops++;
}

static const struct urt_task_type add_type = { .poll = add_poll,
					       .drop = count_drop,
					       .name = "add" };

/* Parks on a oneshot that nobody sends on. */
struct park_state {
	struct urt_oneshot never;
	uint64_t v;
	int ret;
};

static inline bool park_poll(struct urt_task *t, void *arg)
{
	struct park_state *st = arg;

	URT_BEGIN(t);
	urt_oneshot_init(&st->never);
	URT_AWAIT(t, st->ret = urt_oneshot_recv(t, &st->never, &st->v));
	URT_RETURN(t, 99);
	URT_END(t);
}

static const struct urt_task_type park_type = { .poll = park_poll,
						.drop = count_drop,
						.name = "park" };

/* Yields forever. */
static inline bool spin_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	URT_BEGIN(t);
	for (;;)
		URT_YIELD(t);
	URT_END(t);
}

static const struct urt_task_type spin_type = { .poll = spin_poll,
						.drop = count_drop,
						.name = "spin" };

/* Yields n times, then returns how many polls it took. */
struct yield_state {
	int n, polls;
};

static inline bool yield_poll(struct urt_task *t, void *arg)
{
	struct yield_state *st = arg;

	st->polls++;
	URT_BEGIN(t);
	while (st->n-- > 0)
		URT_YIELD(t);
	URT_RETURN(t, st->polls);
	URT_END(t);
}

static const struct urt_task_type yield_type = { .poll = yield_poll, .name = "yield" };

/* Spawns a child and awaits its output. */
struct parent_state {
	struct urt_join child;
	uint64_t out;
	int ret;
};

static inline bool parent_poll(struct urt_task *t, void *arg)
{
	struct parent_state *st = arg;

	URT_BEGIN(t);
	st->ret = urt_spawn_slab(&add_type, &(struct add_state){ 20, 22 }, sizeof(struct add_state),
				 &st->child);
	if (st->ret)
		URT_RETURN(t, 0);
	URT_AWAIT(t, st->ret = urt_join_await(t, &st->child, &st->out));
	URT_RETURN(t, st->out + 1);
	URT_END(t);
}

static const struct urt_task_type parent_type = { .poll = parent_poll, .name = "parent" };

static inline void run_all(struct urt_runtime *rt)
{
	assert_int_equal(urt_run(rt), 0);
}

#endif
