/* SPDX-License-Identifier: MIT */
/*
 * idle.h - coarse deadlines for many connections without a timer each.
 *
 * A deadline that is the same for every connection of a kind (idle for
 * --idle-ms, output not moving for --send-ms) does not need a timer record
 * per connection: the connections waiting under it, kept in a list in the
 * order they last moved, are also in the order they expire. So each
 * connection carries a link (two pointers and a coarse time: 24 bytes, no
 * op record, no kernel timeout), moved to the tail of its list in O(1)
 * when it makes progress, and one sweeper task per runtime wakes every
 * tick (100 ms), reads the clock once and walks each list from its head
 * while the entries there have expired, handing each to a callback (which
 * typically cancels the connection's pending operation with
 * urt_op_cancel, so its task wakes and closes). A deadline is therefore
 * met to within one tick, late, never early; and time the loop could not
 * run (a stall longer than two ticks) is not counted, so a stall cannot
 * close a connection whose progress is waiting to be seen. The sweeper can also call a
 * hook of its own each tick (idle_sweep_on_tick): a check that needs fresh
 * figures from the runtime, such as a server-wide memory budget whose
 * holders change without their tasks running.
 *
 * Times are milliseconds since the sweeper started, in 32 bits (a list's
 * ms must stay below 2^31; entries of lists with a deadline expire long
 * before the clock wraps). The clock only moves with the sweeper, so
 * stamping a link costs no clock read. Context: one runtime's thread; the
 * lists and links are its own. Header-only.
 */
#ifndef URT_EXAMPLES_IDLE_H
#define URT_EXAMPLES_IDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urt/urt.h>

struct idle_link {
	struct idle_link *prev, *next; /* NULL: in no list */
	uint32_t at;		       /* the coarse time it last moved */
};

struct idle_list {
	struct idle_link root; /* root.next: the oldest; root.prev: the newest */
	uint32_t ms;	       /* its deadline; 0: none (never expires) */
	uint32_t len;
};

static inline void idle_list_init(struct idle_list *l, uint32_t ms)
{
	l->root.prev = l->root.next = &l->root;
	l->ms = ms;
	l->len = 0;
}

static inline bool idle_linked(const struct idle_link *k)
{
	return k->next != NULL;
}

/* Take k out of its list (if in one). l must be k's list. */
static inline void idle_unlink(struct idle_list *l, struct idle_link *k)
{
	if (!k->next)
		return;
	k->prev->next = k->next;
	k->next->prev = k->prev;
	k->prev = k->next = NULL;
	l->len--;
}

/* k moved at now: to the tail of l. from is the list k is in (or NULL). */
static inline void idle_put(struct idle_list *from, struct idle_list *l, struct idle_link *k,
			    uint32_t now)
{
	if (from)
		idle_unlink(from, k);
	k->at = now;
	k->prev = l->root.prev;
	k->next = &l->root;
	l->root.prev->next = k;
	l->root.prev = k;
	l->len++;
}

/* Call fn for each link of l whose deadline has passed at now, oldest first;
 * fn returns true to have the link unlinked (the connection is dealt with),
 * false to keep it at the head to be handed over again next tick (its
 * operation could not be cancelled yet). */
static inline void idle_expire(struct idle_list *l, uint32_t now,
			       bool (*fn)(struct idle_link *k, void *ctx), void *ctx)
{
	struct idle_link *k = l->root.next, *next;

	if (!l->ms)
		return;
	for (; k != &l->root && now - k->at >= l->ms; k = next) {
		next = k->next;
		if (fn(k, ctx))
			idle_unlink(l, k);
	}
}

/* One runtime's clock and lists, and the sweeper task that drives them. */
#define IDLE_LISTS_MAX 4
#define IDLE_TICK_NS   100000000ull

struct idle_sweep {
	uint64_t t0_ns;
	uint32_t now;  /* the lists' clock, ms: see idle_sweeper_poll */
	uint32_t real; /* ms since t0_ns at the last tick */
	int nlists;
	struct idle_list *lists[IDLE_LISTS_MAX];
	bool (*expire)(struct idle_link *k, void *ctx); /* ctx: the list it was in */
	void (*tick)(void *ctx); /* each tick, after the lists; may be NULL */
	void *tick_ctx;
	const bool *stop;				/* the sweeper ends when set */
};

static inline void idle_sweep_init(struct idle_sweep *s, const bool *stop,
				   bool (*expire)(struct idle_link *k, void *ctx))
{
	*s = (struct idle_sweep){ .t0_ns = urt_now_ns(), .stop = stop, .expire = expire };
}

static inline void idle_sweep_add(struct idle_sweep *s, struct idle_list *l)
{
	s->lists[s->nlists++] = l;
}

/* Have s's sweeper call fn(ctx) every tick, once the lists are swept. */
static inline void idle_sweep_on_tick(struct idle_sweep *s, void (*fn)(void *ctx), void *ctx)
{
	s->tick = fn;
	s->tick_ctx = ctx;
}

struct idle_sweeper {
	struct idle_sweep *s;
	struct urt_op nap;
	int ret;
};

static inline bool idle_sweeper_poll(struct urt_task *t, void *arg)
{
	struct idle_sweeper *w = (struct idle_sweeper *)arg;

	URT_BEGIN(t);
	while (!*w->s->stop) {
		URT_AWAIT(t, w->ret = urt_sleep(t, &w->nap, IDLE_TICK_NS));
		/* the lists' clock moves at most two ticks a sweep: a loop
		 * that could not run (a stall: a long poll, a machine too
		 * busy) does not count against connections, whose completions
		 * may be waiting behind this very sweep */
		{
			uint32_t real = (uint32_t)((urt_now_ns() - w->s->t0_ns) / 1000000u);
			uint32_t step = real - w->s->real, most = 2 * IDLE_TICK_NS / 1000000u;

			w->s->real = real;
			w->s->now += step < most ? step : most;
		}
		for (int i = 0; i < w->s->nlists; i++)
			idle_expire(w->s->lists[i], w->s->now, w->s->expire, w->s->lists[i]);
		if (w->s->tick)
			w->s->tick(w->s->tick_ctx);
	}
	URT_END(t);
}

static const struct urt_task_type idle_sweeper_type = { .poll = idle_sweeper_poll,
							.name = "idle-sweep" };

/* Spawn s's sweeper on rt. Return: 0; -errno from the spawn. */
static inline int idle_sweeper_start(struct urt_runtime *rt, struct idle_sweep *s)
{
	return urt_spawn(rt, &idle_sweeper_type, &(struct idle_sweeper){ .s = s },
			 sizeof(struct idle_sweeper), NULL);
}

#endif
