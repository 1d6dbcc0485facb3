/* SPDX-License-Identifier: MIT */
/*
 * zero_init.c - `{ 0 }` initialises every handle a task's state may start
 * with, at file scope and in a compound literal, under GCC and Clang with
 * -Wall -Wextra -Werror (Clang refused `{ 0 }` on a struct whose first
 * member was an _Atomic pointer: struct urt_job and what embeds it).
 */
#define _GNU_SOURCE
#include "urt/urt.h"

struct urt_op zi_op = { 0 };
struct urt_job zi_job = { 0 };
struct urt_dns zi_dns = { 0 };
struct urt_dial zi_dial = { 0 };
struct urt_io_all zi_all = { 0 };
struct urt_msg_op zi_msg = { 0 };
struct urt_dgram zi_dgram = { 0 };
struct urt_proc zi_proc = { 0 };
struct urt_event zi_ev = { 0 };
struct urt_oneshot zi_one = { 0 };
struct urt_chan zi_chan = { 0 };
struct urt_signal_stream zi_sig = { 0 };
struct urt_join zi_join = { 0 };
struct urt_claim zi_claim = { 0 };

struct state {
	struct urt_job job; /* first, as a user writes it */
	int n;
};

int zero_init_first(void);
int zero_init_first(void)
{
	struct state *s = &(struct state){ 0 };

	return s->n + (zi_job.qnext == NULL);
}
