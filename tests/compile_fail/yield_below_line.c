/* SPDX-License-Identifier: MIT */
/*
 * The control: the same file below the limit compiles.
 * past line 65534 would restart the task forever or end it silently.
 * URT_YIELD refuses it at compile time, as URT_AWAIT does.
 */
#include "urt/task.h"

bool past_poll(struct urt_task *t, void *arg);

bool past_poll(struct urt_task *t, void *arg)
{
	(void)arg;
	URT_BEGIN(t);
#line 65000
	URT_YIELD(t);
	URT_END(t);
}
