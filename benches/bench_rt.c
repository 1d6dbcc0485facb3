/* SPDX-License-Identifier: MIT */
/*
 * bench_rt.c - the executor: task lifecycle, dispatch latency, memory per
 * task, heap calls per spawn.
 *
 * Lifecycle: a batch spawns K trivial tasks (poll returns at once, detached)
 * and runs one tick that polls and reclaims all of them; time per task =
 * batch time / K. Boxed, spawn_slab and claim+spawn rows alternate batch by
 * batch in one run, with few live tasks and with 100k parked tasks alive
 * (in the registry and the slab), ROUNDS batches each: medians and p90.
 * Ratios to the boxed row, the control, are paired by round (the median of
 * each round's ratio), so a change of the host's speed between rounds lands
 * on both sides. The host has two speeds (the boxed row doubles with the
 * slab rows: docs/benchmarks.md), which can change within a run, so the
 * cycle goal takes the rounds whose control ran within QUIET of its fastest
 * round in that run: a host that stays slow for a whole run still shows
 * slow, every round counting then. All rounds' median is printed beside it.
 * (Spreading the rounds over more time, with a spin between them, let the
 * other processes of a shared host run in the gaps and made every round
 * slower: not done.)
 *
 * Dispatch latency: one parked task; TSC read, urt_task_wake, urt_tick; the
 * poll reads the TSC first thing. The difference is the whole path from a
 * wake to the task running, tick overhead included.
 *
 * Memory: a counting backing allocator; 1M tasks spawned into an unbounded
 * slab and parked; bytes held / 1M, against the slot size.
 *
 * Heap calls: this program links tests/support/heap_count.c (as does
 * tests/test_nomalloc.c) and counts calls during steady-state slab spawns.
 *
 * Cycles are TSC (constant-rate reference) cycles.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "support/heap_count.h"
#include "urt/urt.h"

#define K      1000
#define ROUNDS 41
#define QUIET  1.15 /* a quiet round: its control within this of its fastest */

/* --- tasks ---------------------------------------------------------------- */

struct small {
	uint64_t a, b;
};

static uint64_t sink;

static bool trivial_poll(struct urt_task *t, void *arg)
{
	(void)t;
	sink += ((struct small *)arg)->a;
	return true;
}

static const struct urt_task_type trivial = { .poll = trivial_poll, .name = "trivial" };

static bool parked_poll(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	return false; /* never finishes; only deinit ends it */
}

static const struct urt_task_type parked = { .poll = parked_poll, .name = "parked" };

static uint64_t polled_at;

static bool stamp_poll(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	polled_at = cycles();
	return false;
}

static const struct urt_task_type stamp = { .poll = stamp_poll, .name = "stamp" };

static void die(const char *what, int ret)
{
	fprintf(stderr, "bench_rt: %s: %d\n", what, ret);
	exit(1);
}

/* --- lifecycle -------------------------------------------------------------- */

enum kind { BOXED, SLAB, CLAIM };
static const char *const kind_name[] = { "boxed (urt_spawn)", "slab (urt_spawn_slab)",
					 "claim + urt_claim_spawn" };

struct row {
	enum kind kind;
	bool crowded;
	double ns[ROUNDS], cyc[ROUNDS];
	double ns_med, ns_p90, cyc_med;
	double cyc_quiet; /* median over the quiet rounds (the boxed control's) */
	int nquiet;
};

static void batch(struct urt_runtime *rt, enum kind k)
{
	for (int i = 0; i < K; i++) {
		struct small s = { (uint64_t)i, 0 };
		struct urt_claim c;
		int ret;

		switch (k) {
		case BOXED:
			ret = urt_spawn(rt, &trivial, &s, sizeof(s), NULL);
			break;
		case SLAB:
			ret = urt_spawn_slab(&trivial, &s, sizeof(s), NULL);
			break;
		default:
			ret = urt_claim_slab(&c);
			if (!ret) {
				memcpy(urt_claim_state(&c), &s, sizeof(s));
				ret = urt_claim_spawn(&c, &trivial, NULL);
			}
		}
		if (ret)
			die("spawn", ret);
	}
	if (urt_tick(rt, 0) != K)
		die("tick polled", 0);
}

/*
 * The floor a slab lifecycle could reach: what every spawn+poll+reclaim must
 * do and nothing else, on a urt slab of the same shape. A batch pops K
 * slots, writes each one's task header and 16-byte state and links it on a
 * run list, then walks the list calling poll through the type's pointer and
 * pushes each slot back. Return: median cycles per task over ROUNDS.
 */
static const struct urt_task_type *volatile model_type = &trivial; /* not devirtualised */

static double floor_model(void)
{
	struct urt_slab s;
	double cyc[ROUNDS];

	if (urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 128, .slots = 4096 }))
		die("model slab init", -ENOMEM);
	for (int r = -1; r < ROUNDS; r++) { /* round -1 warms */
		struct urt_task *head = NULL, **tail = &head, *next;
		uint64_t c0 = cycles();

		for (int i = 0; i < K; i++) {
			struct urt_slot slot;
			struct urt_task *t;

			if (urt_slab_alloc(&s, &slot))
				die("model slab alloc", -ENOMEM);
			t = slot.ptr;
			*t = (struct urt_task){ .type = model_type,
						.state_size = sizeof(struct small),
						.chunk = slot.chunk,
						.flags = URT_TASK_SLAB };
			memcpy(t + 1, &(struct small){ (uint64_t)i, 0 }, sizeof(struct small));
			*tail = t;
			tail = &t->next;
		}
		for (struct urt_task *t = head; t; t = next) {
			next = t->next;
			t->type->poll(t, t + 1);
			urt_slab_free(&s, t, t->chunk);
		}
		if (r >= 0)
			cyc[r] = (double)(cycles() - c0) / K;
	}
	urt_slab_deinit(&s);
	return pct(cyc, ROUNDS, 50);
}

/* Median over the rounds of r's time / base's time in the same round. */
static double paired(const struct row *r, const struct row *base)
{
	double q[ROUNDS];

	for (int i = 0; i < ROUNDS; i++)
		q[i] = r->cyc[i] / base->cyc[i];
	return pct(q, ROUNDS, 50);
}

/* Fill r's median over the rounds in which control ran within QUIET of its fastest. */
static void quiet_rounds(struct row *r, const struct row *control)
{
	double best = control->cyc[0], q[ROUNDS];
	int n = 0;

	for (int i = 1; i < ROUNDS; i++)
		best = control->cyc[i] < best ? control->cyc[i] : best;
	for (int i = 0; i < ROUNDS; i++)
		if (control->cyc[i] <= best * QUIET)
			q[n++] = r->cyc[i];
	r->cyc_quiet = pct(q, n, 50);
	r->nquiet = n;
}

static void lifecycle(struct row rows[6])
{
	for (int crowded = 0; crowded < 2; crowded++) {
		struct urt_runtime rt;
		int ret = urt_runtime_init(&rt, &(struct urt_runtime_opts){
							.slab = URT_SLAB_UNBOUNDED,
							.slot_size = 128,
							.slab_slots = 4096,
							.poll_budget = K,
						});

		if (ret)
			die("runtime init", ret);
		if (crowded) { /* 100k parked tasks alive around the measured ones */
			for (int i = 0; i < 100000; i++)
				if ((ret = urt_spawn_slab(&parked, NULL, 0, NULL)))
					die("spawn parked", ret);
			while (urt_tick(&rt, 0) > 0)
				;
		}
		for (int k = 0; k < 3; k++) /* warm: grow slab, registry, pools */
			batch(&rt, (enum kind)k);
		for (int r = 0; r < ROUNDS; r++) {
			for (int k = 0; k < 3; k++) {
				struct row *row = &rows[crowded * 3 + k];
				uint64_t t0 = now_ns(), c0 = cycles();

				batch(&rt, (enum kind)k);
				row->cyc[r] = (double)(cycles() - c0) / K;
				row->ns[r] = (double)(now_ns() - t0) / K;
				row->kind = (enum kind)k;
				row->crowded = crowded;
			}
		}
		urt_runtime_deinit(&rt);
	}
	for (int i = 0; i < 6; i++) {
		double ns[ROUNDS], cyc[ROUNDS];

		memcpy(ns, rows[i].ns, sizeof(ns));
		memcpy(cyc, rows[i].cyc, sizeof(cyc));
		rows[i].ns_med = pct(ns, ROUNDS, 50);
		rows[i].ns_p90 = pct(ns, ROUNDS, 90);
		rows[i].cyc_med = pct(cyc, ROUNDS, 50);
		quiet_rounds(&rows[i], &rows[i / 3 * 3]);
	}
}

/* --- dispatch latency --------------------------------------------------------- */

#define SAMPLES 32768
#define GROUP	32

/* The smallest step the TSC takes here (a VM may advance it coarsely). */
static uint64_t tsc_step(void)
{
	uint64_t step = UINT64_MAX;

	for (int i = 0; i < 10000; i++) {
		uint64_t a = cycles(), b = cycles();

		if (b > a && b - a < step)
			step = b - a;
	}
	return step;
}

struct latency {
	double p50, p99; /* per event, in TSC steps' resolution */
	double fine_p50; /* median of GROUP-event means: sub-step resolution */
	double idle_p50; /* one tick with nothing to run */
	double floor;	 /* mean cost of the two timer reads themselves */
	uint64_t step;
};

/* Mean of back-to-back timer reads: what any two-stamp interval includes. */
static double timer_floor(void)
{
	double sum = 0;

	for (int i = 0; i < 100000; i++) {
		uint64_t a = cycles();

		sum += (double)(cycles() - a);
	}
	return sum / 100000;
}

static void dispatch(struct latency *l)
{
	static double lat[SAMPLES], idle[SAMPLES], group[SAMPLES / GROUP];
	struct urt_runtime rt;
	struct urt_join j;
	int ret = urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED });

	if (ret || (ret = urt_spawn_slab(&stamp, NULL, 0, &j)))
		die("dispatch setup", ret);
	if (urt_tick(&rt, 0) != 1)
		die("dispatch first tick", 0);
	for (int i = 0; i < SAMPLES; i++) {
		uint64_t t0 = cycles();

		urt_task_wake(j.task);
		if (urt_tick(&rt, 0) != 1)
			die("dispatch tick", 0);
		lat[i] = (double)(polled_at - t0);
		t0 = cycles(); /* the same tick with nothing to run: its fixed cost */
		if (urt_tick(&rt, 0) != 0)
			die("idle tick", 0);
		idle[i] = (double)(cycles() - t0);
	}
	for (int g = 0; g < SAMPLES / GROUP; g++) {
		double sum = 0;

		for (int k = 0; k < GROUP; k++)
			sum += lat[g * GROUP + k];
		group[g] = sum / GROUP;
	}
	l->p50 = pct(lat, SAMPLES, 50);
	l->p99 = pct(lat, SAMPLES, 99);
	l->fine_p50 = pct(group, SAMPLES / GROUP, 50);
	l->idle_p50 = pct(idle, SAMPLES, 50);
	l->step = tsc_step();
	l->floor = timer_floor();
	urt_join_detach(&j);
	urt_runtime_deinit(&rt);
}

/* --- memory per task ------------------------------------------------------------ */

struct counting {
	struct urt_allocator al;
	size_t bytes;
};

static void *count_alloc(void *ctx, size_t size, size_t align)
{
	((struct counting *)ctx)->bytes += size;
	return urt_allocator_default.alloc(NULL, size, align);
}

static void count_free(void *ctx, void *p, size_t size, size_t align)
{
	((struct counting *)ctx)->bytes -= size;
	urt_allocator_default.free(NULL, p, size, align);
}

static double bytes_per_task(size_t slot, size_t n)
{
	struct counting c = { .al = { .alloc = count_alloc, .free = count_free } };
	struct urt_runtime rt;
	size_t base;
	int ret;

	c.al.ctx = &c;
	ret = urt_runtime_init(&rt, &(struct urt_runtime_opts){
					    .slab = URT_SLAB_UNBOUNDED,
					    .slot_size = slot,
					    .slab_slots = 4096,
					    .poll_budget = 1u << 20,
					    .allocator = &c.al,
				    });
	if (ret)
		die("runtime init", ret);
	base = c.bytes - rt.slab.bytes - (size_t)rt.reg_cap * sizeof(void *); /* the rest */
	for (size_t i = 0; i < n; i++) {
		struct small s = { i, i };

		if ((ret = urt_spawn_slab(&parked, &s, sizeof(s), NULL)))
			die("spawn", ret);
	}
	while (urt_tick(&rt, 0) > 0) /* all polled once: suspended */
		;
	double per = (double)(c.bytes - base) / (double)n;

	printf("%zu live suspended tasks, %zu-byte slots: %zu bytes held beyond the runtime's "
	       "fixed part = %.2f bytes per task (slab %zu, registry %zu)\n",
	       n, slot, c.bytes - base, per, rt.slab.bytes, (size_t)rt.reg_cap * sizeof(void *));
	urt_runtime_deinit(&rt);
	return per;
}

/* --- heap calls per spawn ----------------------------------------------------------- */

static double heap_calls_per_spawn(void)
{
	struct urt_runtime rt;
	size_t before;
	int ret = urt_runtime_init(&rt, &(struct urt_runtime_opts){
						.slab = URT_SLAB_UNBOUNDED,
						.slot_size = 128,
						.poll_budget = K,
					});

	if (ret)
		die("runtime init", ret);
	batch(&rt, SLAB); /* warm */
	before = heap_calls;
	heap_counting = true;
	for (int r = 0; r < 1000; r++)
		batch(&rt, SLAB);
	heap_counting = false;
	size_t calls = heap_calls - before;

	urt_runtime_deinit(&rt);
	printf("heap calls during %d steady-state slab spawns: %zu\n", 1000 * K, calls);
	return (double)calls / (1000.0 * K);
}

int main(void)
{
	static struct row rows[6];
	struct latency lat;
	double per, mallocs;
	const size_t slot = 128;

	lifecycle(rows);
	printf("urt executor benchmark: %d rounds x %d tasks per row, medians per task\n\n", ROUNDS,
	       K);
	printf("%-26s %-10s %9s %9s %9s %9s\n", "lifecycle (spawn+poll+reclaim)", "live", "ns",
	       "p90 ns", "cycles", "vs boxed");
	for (int i = 0; i < 6; i++) {
		struct row *r = &rows[i], *boxed = &rows[r->crowded * 3];

		printf("%-30s %-10s %9.2f %9.2f %9.1f %8.2fx\n", kind_name[r->kind],
		       r->crowded ? "+100k" : "few", r->ns_med, r->ns_p90, r->cyc_med,
		       paired(r, boxed));
	}
	dispatch(&lat);
	printf("\ndispatch latency, wake -> poll (urt_task_wake, then urt_tick until the poll "
	       "runs), %d events:\n",
	       SAMPLES);
	printf("  per event:        p50 %.0f  p99 %.0f cycles (the TSC here moves in steps of "
	       "%llu)\n",
	       lat.p50, lat.p99, (unsigned long long)lat.step);
	printf("  %d-event means:   p50 %.1f cycles (step error averages out)\n", GROUP,
	       lat.fine_p50);
	printf("  timer floor:      %.1f cycles (mean of back-to-back lfence+rdtsc pairs)\n",
	       lat.floor);
	printf("  wake -> poll net: p50 %.1f cycles (32-event means minus the timer floor)\n",
	       lat.fine_p50 - lat.floor);
	printf("  idle tick alone:  p50 %.0f cycles\n\n", lat.idle_p50);
	per = bytes_per_task(slot, 1000000);
	mallocs = heap_calls_per_spawn();

	double model = floor_model();

	printf("floor model (slab pop + header and state write + poll call + push): %.1f cycles "
	       "per task\n",
	       model);

	double worst_ratio = 0, worst_cyc = 0, worst_all = 0, control = 0;
	int nquiet = 0;
	for (int c = 0; c < 2; c++) {
		const struct row *r = &rows[c * 3 + SLAB];
		double ratio = paired(r, &rows[c * 3 + BOXED]);

		worst_ratio = ratio > worst_ratio ? ratio : worst_ratio;
		worst_all = r->cyc_med > worst_all ? r->cyc_med : worst_all;
		if (r->cyc_quiet > worst_cyc) {
			worst_cyc = r->cyc_quiet;
			nquiet = r->nquiet;
			control = rows[c * 3 + BOXED].cyc_quiet;
		}
	}
	printf("\ngoal slab lifecycle vs boxed (worst of few/+100k live): %.2fx (want <= 0.7x) "
	       "%s\n",
	       worst_ratio, worst_ratio <= 0.7 ? "PASS" : "MISS");
	printf("goal slab lifecycle cycles (median of the quiet rounds, worst of few/+100k live): "
	       "%.1f (want <= 25; %d of %d rounds quiet, boxed control %.1f; all rounds %.1f; "
	       "floor model %.1f, %.2fx of it) %s\n",
	       worst_cyc, nquiet, ROUNDS, control, worst_all, model, worst_cyc / model,
	       worst_cyc <= 25 ? "PASS" : "MISS");
	double net = lat.fine_p50 - lat.floor;

	printf("goal dispatch latency p50 (median of %d-event means %.1f, minus timer floor %.1f): "
	       "%.1f cycles (want <= 60) %s\n",
	       GROUP, lat.fine_p50, lat.floor, net, net <= 60 ? "PASS" : "MISS");
	printf("goal bytes per live suspended slab task: %.2f (want <= slot %zu + 16 = %zu) %s\n",
	       per, slot, slot + 16, per <= (double)(slot + 16) ? "PASS" : "MISS");
	printf("goal mallocs per slab spawn in steady state: %.6f (want 0) %s\n", mallocs,
	       mallocs == 0 ? "PASS" : "MISS");
	return 0;
}
