/* SPDX-License-Identifier: MIT */
/*
 * URT_DISCARD drops a URT_NODISCARD result without a warning under both
 * GCC and Clang (-Werror): a plain (void) cast does not satisfy GCC. And
 * URT_AWAIT_ANY takes eight sources.
 */
#include "urt/urt.h"

int tick_once(struct urt_runtime *rt);
bool eight_poll(struct urt_task *t, void *arg);

int tick_once(struct urt_runtime *rt)
{
	URT_DISCARD(urt_tick(rt, 0));
	URT_DISCARD(urt_spawn_slab(NULL, NULL, 0, NULL));
	return 0;
}

bool eight_poll(struct urt_task *t, void *arg)
{
	int *r = arg;

	URT_BEGIN(t);
	URT_AWAIT_ANY(t, r[0] = URT_PENDING, r[1] = URT_PENDING, r[2] = URT_PENDING,
		      r[3] = URT_PENDING, r[4] = URT_PENDING, r[5] = URT_PENDING, r[6] = URT_PENDING,
		      r[7] = 0);
	URT_END(t);
}
