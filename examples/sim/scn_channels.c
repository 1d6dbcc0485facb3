/* SPDX-License-Identifier: MIT */
/*
 * scn_channels.c - channels: 1-16 producers send 1-200 numbered messages
 * each over 1-4 bounded channels (urt/channel.h; capacities 1-8), each
 * channel read by its own consumer; random sleeps in virtual time and
 * NOPs on both sides, try_send beside the awaited send. An event starts
 * the producers together (urt_event_notify_all, once all wait), another
 * tells a closer when the last producer is done (notify_one), and each
 * consumer reports its count through a oneshot to a tally task.
 * Checks: every message arrives exactly once, each producer's messages
 * arrive in order on each channel, the counts add up, urt_run returns 0
 * and nothing is left.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simlib.h"

#define MAXP 16
#define MAXK 4

struct chw {
	struct scn_rng rng;
	struct urt_sim_opts so;
	struct urt_runtime_opts ro;
	struct urt_runtime rt;
	struct urt_sim *sim;
	char why[256];
	uint32_t np, nk, total, received, waiting, producers_left;
	uint32_t msgs[MAXP];
	uint8_t *seen[MAXP];
	int64_t last[MAXK][MAXP];
	struct urt_chan ch[MAXK];
	struct urt_event start, done;
	struct urt_oneshot tally[MAXK];
	uint64_t max_sleep_ns;
	bool use_start;
};

/* A sleep of up to max_sleep_ns some of the time, a NOP some of the time. */
struct pause {
	struct urt_op op;
	uint64_t dur;
	int ret;
	uint8_t what; /* 0 none, 1 sleep, 2 NOP */
};

static void pause_draw(struct chw *w, struct scn_rng *r, struct pause *p)
{
	uint64_t x = scn_below(r, 100);

	p->what = x < 25 ? 1 : x < 35 ? 2 : 0;
	p->dur = scn_below(r, w->max_sleep_ns + 1);
}

/* --- producer --------------------------------------------------------------------- */

struct producer {
	struct chw *w;
	struct scn_rng r;
	uint32_t p, seq, k;
	uint64_t v;
	struct pause pz;
	int ret;
};

static bool producer_poll(struct urt_task *t, void *arg)
{
	struct producer *s = arg;
	struct chw *w = s->w;

	URT_BEGIN(t);
	if (w->use_start) {
		w->waiting++;
		URT_AWAIT(t, s->ret = urt_event_wait(t, &w->start));
		if (s->ret)
			scn_fail(w->why, "producer %u: event wait %d", s->p, s->ret);
	}
	for (s->seq = 0; s->seq < w->msgs[s->p]; s->seq++) {
		pause_draw(w, &s->r, &s->pz);
		if (s->pz.what == 1)
			URT_AWAIT(t, s->pz.ret = urt_sleep(t, &s->pz.op, s->pz.dur));
		else if (s->pz.what == 2)
			URT_AWAIT(t, s->pz.ret = urt_nop(t, &s->pz.op));
		if (s->pz.what && s->pz.ret)
			scn_fail(w->why, "producer %u: pause %u: %d", s->p, s->pz.what, s->pz.ret);
		s->k = (uint32_t)scn_below(&s->r, w->nk);
		s->v = (uint64_t)s->p << 32 | s->seq;
		if (scn_chance(&s->r, 25)) {
			s->ret = urt_chan_try_send(&w->ch[s->k], s->v);
			if (s->ret == 0)
				continue;
			if (s->ret != -EAGAIN)
				scn_fail(w->why, "producer %u: try_send %d", s->p, s->ret);
		}
		URT_AWAIT(t, s->ret = urt_chan_send(t, &w->ch[s->k], s->v));
		if (s->ret) {
			scn_fail(w->why, "producer %u: send %d", s->p, s->ret);
			break;
		}
		if (scn_chance(&s->r, 5))
			URT_YIELD(t);
	}
	if (--w->producers_left == 0)
		urt_event_notify_one(&w->done);
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type producer_type = { .poll = producer_poll, .name = "producer" };

/* --- consumer --------------------------------------------------------------------- */

struct consumer {
	struct chw *w;
	struct scn_rng r;
	uint32_t k, count;
	uint64_t v;
	struct pause pz;
	int ret;
};

static void consumer_check(struct consumer *s)
{
	struct chw *w = s->w;
	uint32_t p = (uint32_t)(s->v >> 32), seq = (uint32_t)s->v;

	if (p >= w->np || seq >= w->msgs[p]) {
		scn_fail(w->why, "consumer %u: message %llx was never sent", s->k,
			 (unsigned long long)s->v);
		return;
	}
	if (w->seen[p][seq]++)
		scn_fail(w->why, "consumer %u: message %u of producer %u came twice", s->k, seq, p);
	if ((int64_t)seq <= w->last[s->k][p])
		scn_fail(w->why, "channel %u: producer %u's message %u after its %lld", s->k, p,
			 seq, (long long)w->last[s->k][p]);
	w->last[s->k][p] = seq;
	w->received++;
	s->count++;
}

static bool consumer_poll(struct urt_task *t, void *arg)
{
	struct consumer *s = arg;
	struct chw *w = s->w;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, s->ret = urt_chan_recv(t, &w->ch[s->k], &s->v));
		if (s->ret == -EPIPE)
			break;
		if (s->ret) {
			scn_fail(w->why, "consumer %u: recv %d", s->k, s->ret);
			break;
		}
		consumer_check(s);
		pause_draw(w, &s->r, &s->pz);
		if (s->pz.what == 1)
			URT_AWAIT(t, s->pz.ret = urt_sleep(t, &s->pz.op, s->pz.dur));
		else if (s->pz.what == 2)
			URT_AWAIT(t, s->pz.ret = urt_nop(t, &s->pz.op));
		if (s->pz.what && s->pz.ret)
			scn_fail(w->why, "consumer %u: pause %u: %d", s->k, s->pz.what, s->pz.ret);
	}
	s->ret = urt_oneshot_send(&w->tally[s->k], s->count);
	if (s->ret)
		scn_fail(w->why, "consumer %u: oneshot send %d", s->k, s->ret);
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type consumer_type = { .poll = consumer_poll, .name = "consumer" };

/* --- starter, closer, tally ---------------------------------------------------------- */

struct helper {
	struct chw *w;
	struct urt_op op;
	uint32_t k;
	uint64_t v, sum;
	int ret;
};

static bool starter_poll(struct urt_task *t, void *arg)
{
	struct helper *s = arg;

	URT_BEGIN(t);
	do /* notify_all wakes only those waiting now: wait for all of them */
		URT_AWAIT(t, s->ret = urt_sleep(t, &s->op, 1000 + s->w->max_sleep_ns / 4));
	while (s->w->waiting < s->w->np);
	urt_event_notify_all(&s->w->start);
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type starter_type = { .poll = starter_poll, .name = "starter" };

static bool closer_poll(struct urt_task *t, void *arg)
{
	struct helper *s = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, s->ret = urt_event_wait(t, &s->w->done));
	if (s->ret || s->w->producers_left)
		scn_fail(s->w->why, "closer: wait %d with %u producers left", s->ret,
			 s->w->producers_left);
	for (uint32_t k = 0; k < s->w->nk; k++)
		urt_chan_close(&s->w->ch[k]);
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type closer_type = { .poll = closer_poll, .name = "closer" };

static bool tally_poll(struct urt_task *t, void *arg)
{
	struct helper *s = arg;

	URT_BEGIN(t);
	for (s->k = 0; s->k < s->w->nk; s->k++) {
		URT_AWAIT(t, s->ret = urt_oneshot_recv(t, &s->w->tally[s->k], &s->v));
		if (s->ret)
			scn_fail(s->w->why, "tally: oneshot %u: %d", s->k, s->ret);
		else
			s->sum += s->v;
	}
	if (s->sum != s->w->total)
		scn_fail(s->w->why, "tally: consumers counted %llu of %u messages",
			 (unsigned long long)s->sum, s->w->total);
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type tally_type = { .poll = tally_poll, .name = "tally" };

static const struct urt_task_type *const chan_types[] = {
	&producer_type, &consumer_type, &starter_type, &closer_type, &tally_type,
};

/* --- the run ------------------------------------------------------------------------- */

static bool chw_build(struct chw *w)
{
	struct helper h = { .w = w };
	int ret;

	for (uint32_t k = 0; k < w->nk; k++) {
		struct consumer c = { .w = w, .k = k };

		ret = urt_chan_init(&w->ch[k], 1 + (uint32_t)scn_below(&w->rng, 8), NULL);
		if (ret)
			return scn_fail(w->why, "urt_chan_init %d", ret);
		urt_oneshot_init(&w->tally[k]);
		for (uint32_t p = 0; p < MAXP; p++)
			w->last[k][p] = -1;
		c.r.s = scn_rand(&w->rng);
		ret = urt_spawn(&w->rt, &consumer_type, &c, sizeof(c), NULL);
		if (ret)
			return scn_fail(w->why, "spawn consumer %d", ret);
	}
	for (uint32_t p = 0; p < w->np; p++) {
		struct producer s = { .w = w, .p = p };

		w->msgs[p] = 1 + (uint32_t)scn_below(&w->rng, 200);
		w->total += w->msgs[p];
		w->seen[p] = calloc(w->msgs[p], 1);
		if (!w->seen[p])
			return scn_fail(w->why, "out of memory");
		s.r.s = scn_rand(&w->rng);
		ret = urt_spawn(&w->rt, &producer_type, &s, sizeof(s), NULL);
		if (ret)
			return scn_fail(w->why, "spawn producer %d", ret);
	}
	w->producers_left = w->np;
	if ((ret = urt_spawn(&w->rt, &closer_type, &h, sizeof(h), NULL)) ||
	    (ret = urt_spawn(&w->rt, &tally_type, &h, sizeof(h), NULL)) ||
	    (w->use_start && (ret = urt_spawn(&w->rt, &starter_type, &h, sizeof(h), NULL))))
		return scn_fail(w->why, "spawn helper %d", ret);
	return true;
}

static void channels_run(const struct scn_opts *o, struct scn_result *r)
{
	struct chw *w = calloc(1, sizeof(*w));
	bool rt_up = false;
	int ret;

	if (!w) {
		snprintf(r->why, sizeof(r->why), "out of memory");
		return;
	}
	scn_rng_seed(&w->rng, o->seed, "channels");
	scn_knobs(&w->rng, o, &w->so, &w->ro);
	w->ro.slab = URT_SLAB_NONE; /* urt_spawn only: boxes */
	w->np = 1 + (uint32_t)scn_below(&w->rng, MAXP);
	w->nk = 1 + (uint32_t)scn_below(&w->rng, MAXK);
	w->use_start = scn_chance(&w->rng, 50);
	w->max_sleep_ns = scn_chance(&w->rng, 50) ? 1000 : 1000000;
	ret = urt_sim_create(&w->sim, &w->so);
	if (ret) {
		scn_fail(w->why, "urt_sim_create %d", ret);
		goto out;
	}
	w->ro.sim = w->sim;
	ret = urt_runtime_init(&w->rt, &w->ro);
	if (ret) {
		scn_fail(w->why, "urt_runtime_init %d", ret);
		goto out;
	}
	rt_up = true;
	if (!chw_build(w))
		goto out;
	ret = urt_run(&w->rt);
	if (ret) {
		scn_fail(w->why, "urt_run %d", ret);
		goto out;
	}
	if (w->received != w->total)
		scn_fail(w->why, "%u of %u messages received", w->received, w->total);
	for (uint32_t p = 0; p < w->np; p++)
		for (uint32_t i = 0; i < w->msgs[p]; i++)
			if (w->seen[p][i] != 1)
				scn_fail(w->why, "producer %u's message %u arrived %u times", p, i,
					 w->seen[p][i]);
	if (scn_check_clean(&w->rt, w->sim, chan_types, sizeof(chan_types) / sizeof(chan_types[0]),
			    w->why)) {
		struct urt_runtime_stats st;

		urt_runtime_stats(&w->rt, &st);
		if (st.aborted)
			scn_fail(w->why, "%llu tasks aborted", (unsigned long long)st.aborted);
	}
	ret = (int)urt_runtime_deinit(&w->rt);
	rt_up = false;
	if (ret)
		scn_fail(w->why, "deinit reclaimed %d tasks", ret);
out:
	if (rt_up)
		(void)urt_runtime_deinit(&w->rt);
	for (uint32_t k = 0; k < w->nk; k++)
		if (w->ch[k].buf)
			urt_chan_deinit(&w->ch[k]);
	if (w->sim) {
		r->hash = urt_sim_hash(w->sim);
		r->events = urt_sim_events(w->sim);
		urt_sim_destroy(w->sim);
	}
	if (w->why[0]) {
		char k[160];

		scn_knobs_str(k, sizeof(k), &w->so, &w->ro);
		snprintf(r->why, sizeof(r->why), "%.130s [producers=%u channels=%u %.90s]", w->why,
			 w->np, w->nk, k);
	} else {
		r->why[0] = 0;
	}
	for (uint32_t p = 0; p < w->np; p++)
		free(w->seen[p]);
	free(w);
}

const struct scenario scn_channels = {
	.name = "channels",
	.what = "producers and consumers over bounded channels, events and oneshots, with "
		"sleeps; every message once, in per-producer order",
	.run = channels_run,
};
