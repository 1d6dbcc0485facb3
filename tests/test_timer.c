/* SPDX-License-Identifier: MIT */
/*
 * test_timer.c - the timer wheel (runtime/io/timer.c), on the simulated
 * kernel so time is virtual and every run of a seed is the same:
 *   - thousands of sleeps at seeded deadlines (in the past, within a tick,
 *     across ticks, laps ahead, in groups at one deadline), some cancelled
 *     and re-armed, some armed late (after the wheel has loaded ahead):
 *     each fires once, never early, at most 100 us late, in deadline
 *     order, equal deadlines in arming order;
 *   - cancelling the nearest timer: the loop's next wait is for the next
 *     one (no wake at the cancelled deadline, no missed wake).
 *   - arming and cancelling deadlines that never fire keeps memory bounded,
 *     also with other timers live in the same slots (tombstones behind live
 *     entries are compacted: order, cancels and firing stay right);
 *   - a far timer loaded first must not make nearer ones O(n) to cancel;
 *   - the op-record limit past the 64-entry free stack: exact, also after
 *     a spill to the pool;
 *   - cancel and re-arm storms in three neighbouring slots: compaction
 *     while their timers fire and load, deadlines cancelled in the tick
 *     they come due, re-arms in the past (each fires once, on time).
 * Every test ends with nothing live.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

#define MS	    1000000ull
#define LATE_MAX_NS 100000ull /* a fire this much after its deadline is a missed wake */
#define N_SLEEPERS  3000

static struct urt_sim *sim_new(uint64_t seed)
{
	struct urt_sim *s;

	assert_int_equal(urt_sim_create(&s, &(struct urt_sim_opts){ .seed = seed }), 0);
	return s;
}

static void sim_end(struct urt_runtime *rt, struct urt_sim *s)
{
	test_assert_clean(rt);
	assert_int_equal(urt_runtime_deinit(rt), 0);
	urt_sim_destroy(s);
}

/* v = 0..n-1 in a random order drawn from rng. */
static void shuffle(uint32_t *v, uint32_t n, struct test_rng *rng)
{
	for (uint32_t i = 0; i < n; i++)
		v[i] = i;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)test_rng_below(rng, i + 1), x = v[i];

		v[i] = v[j];
		v[j] = x;
	}
}

/* --- order, laps, cancels ----------------------------------------------------------- */

struct fired {
	uint64_t deadline, armed_at, now;
	uint64_t seq;	/* arming order of the sleep that fired */
	uint64_t order; /* firing order (poll order after the wake) */
	int ret;
};

static struct fired fired[N_SLEEPERS];
static uint64_t arm_seq, fire_seq;

static int by_fire_order(const void *a, const void *b)
{
	const struct fired *x = *(struct fired *const *)a, *y = *(struct fired *const *)b;

	return x->order < y->order ? -1 : x->order > y->order;
}

struct sleeper {
	struct urt_op op;
	uint32_t id;
	uint64_t nap;	 /* > 0: first sleep this long, then arm (late armer) */
	uint64_t cancel; /* > 0: first arm this deadline offset and cancel it */
	int64_t offset;	 /* the deadline: base (or now, late armers) + offset */
	uint64_t base;
	uint64_t deadline;
	int ret;
};

static int arm(struct urt_task *t, struct sleeper *st)
{
	if (st->op.state == URT_OP_IDLE) {
		fired[st->id].seq = ++arm_seq;
		fired[st->id].deadline = st->deadline;
		fired[st->id].armed_at = urt_now_ns();
	}
	return urt_sleep_until(t, &st->op, st->deadline);
}

static bool sleeper_poll(struct urt_task *t, void *arg)
{
	struct sleeper *st = arg;

	URT_BEGIN(t);
	if (st->nap) {
		URT_AWAIT(t, st->ret = urt_sleep(t, &st->op, st->nap));
		assert_int_equal(st->ret, 0);
		st->base = urt_now_ns();
	}
	if (st->cancel) {
		assert_int_equal(urt_sleep_until(t, &st->op, st->base + st->cancel), URT_PENDING);
		assert_int_equal(urt_op_cancel(&st->op), 0);
		assert_int_equal(urt_sleep_until(t, &st->op, 0), -ECANCELED);
		/* the cancel woke this task: take that wake before arming, so
		 * the poll that follows the fire is the fire's */
		st->ret = URT_PENDING;
		URT_AWAIT(t, st->ret == URT_PENDING ? (st->ret = 0, URT_PENDING) : 0);
	}
	st->deadline = (uint64_t)((int64_t)st->base + st->offset);
	URT_AWAIT(t, st->ret = arm(t, st));
	fired[st->id].now = urt_now_ns();
	fired[st->id].order = ++fire_seq;
	fired[st->id].ret = st->ret;
	URT_END(t);
}

static const struct urt_task_type sleeper_type = { .poll = sleeper_poll, .name = "sleeper" };

static int64_t pick_offset(struct test_rng *rng)
{
	uint64_t k = test_rng_below(rng, 100);

	if (k < 10)
		return -(int64_t)test_rng_below(rng, 5 * MS) - 1; /* in the past */
	if (k < 30)
		return (int64_t)test_rng_below(rng, 3 * MS); /* this tick or the next */
	if (k < 60)
		return (int64_t)test_rng_below(rng, 200 * MS);
	if (k < 80)
		return (int64_t)(1000 * MS + test_rng_below(rng, 4000 * MS)); /* laps ahead */
	if (k < 90)
		return 50 * MS; /* equal deadlines: arming order decides */
	return 2200 * MS;
}

static void test_timer_wheel_order_laps_cancel(void **state)
{
	uint64_t seed = test_seed("test_timer", 20);
	struct test_rng rng = { seed };
	struct urt_sim *s = sim_new(seed);
	struct urt_runtime rt;
	static struct fired *by_order[N_SLEEPERS + 1];
	uint64_t base;

	(void)state;
	/* every sleeper arms in the first tick: a timer armed after another
	 * fired may be due before it (a deadline in the past) */
	assert_int_equal(
		urt_runtime_init(&rt,
				 &(struct urt_runtime_opts){ .sim = s, .poll_budget = 1u << 16 }),
		0);
	arm_seq = fire_seq = 0;
	base = urt_now_ns();
	for (uint32_t i = 0; i < N_SLEEPERS; i++) {
		struct sleeper st = { .id = i, .base = base, .offset = pick_offset(&rng) };

		if (test_rng_below(&rng, 5) == 0) { /* late: after loads ran ahead */
			st.nap = 1 + test_rng_below(&rng, 3000 * MS);
			st.offset = (int64_t)test_rng_below(&rng, 30 * MS);
		}
		if (test_rng_below(&rng, 4) == 0) {
			st.cancel = 1 + test_rng_below(&rng, 3000 * MS);
			/* armed a tick later: due after what the first tick fires */
			st.offset = st.offset < 0 ? -st.offset : st.offset;
			st.offset += (int64_t)MS;
		}
		assert_int_equal(urt_spawn(&rt, &sleeper_type, &st, sizeof(st), NULL), 0);
	}
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(fire_seq, N_SLEEPERS);
	for (uint32_t i = 0; i < N_SLEEPERS; i++) {
		struct fired *f = &fired[i];
		uint64_t due = f->deadline > f->armed_at ? f->deadline : f->armed_at;

		assert_int_equal(f->ret, 0);
		if (f->now < f->deadline || f->now - due > LATE_MAX_NS)
			fail_msg("seed %llu: sleeper %u due %llu fired at %llu",
				 (unsigned long long)seed, i, (unsigned long long)f->deadline,
				 (unsigned long long)f->now);
		assert_true(f->order >= 1 && f->order <= N_SLEEPERS);
		by_order[f->order] = f;
	}
	for (uint32_t k = 2; k <= N_SLEEPERS; k++) {
		struct fired *a = by_order[k - 1], *b = by_order[k];

		if (a->deadline > b->deadline || (a->deadline == b->deadline && a->seq > b->seq))
			fail_msg("seed %llu: fire %u (due %llu, armed #%llu) before fire %u (due "
				 "%llu, armed #%llu)",
				 (unsigned long long)seed, k - 1, (unsigned long long)a->deadline,
				 (unsigned long long)a->seq, k, (unsigned long long)b->deadline,
				 (unsigned long long)b->seq);
	}
	sim_end(&rt, s);
}

/* --- cancelling the nearest ----------------------------------------------------------- */

struct nearest {
	struct urt_op nap, a, b, c, x;
	uint64_t base;
	uint64_t parks;
	int ret;
};

static uint64_t parks_now(void)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(urt_runtime_current(), &st);
	return st.parks;
}

/* woken for op's deadline: not before it, not late, after exactly one wait */
static void check_wake(struct nearest *st, uint64_t deadline)
{
	uint64_t now = urt_now_ns();

	assert_true(now >= deadline);
	assert_true(now - deadline <= LATE_MAX_NS);
	assert_int_equal(parks_now() - st->parks, 1);
	st->parks = parks_now();
}

static bool nearest_poll(struct urt_task *t, void *arg)
{
	struct nearest *st = arg;

	URT_BEGIN(t);
	st->base = urt_now_ns();
	/* x: the nearest of all, cancelled at once (a tombstone in its slot) */
	assert_int_equal(urt_sleep_until(t, &st->x, st->base + 500000), URT_PENDING);
	assert_int_equal(urt_op_cancel(&st->x), 0);
	assert_int_equal(urt_sleep_until(t, &st->x, 0), -ECANCELED);
	assert_int_equal(urt_sleep_until(t, &st->a, st->base + 10 * MS), URT_PENDING);
	assert_int_equal(urt_sleep_until(t, &st->b, st->base + 20 * MS), URT_PENDING);
	assert_int_equal(urt_sleep_until(t, &st->c, st->base + 1500 * MS), URT_PENDING);
	st->parks = parks_now();
	URT_AWAIT(t, st->ret = urt_sleep_until(t, &st->nap, st->base + 1 * MS));
	assert_int_equal(st->ret, 0);
	check_wake(st, st->base + 1 * MS);
	/* a (10 ms) is now the nearest, loaded at the run's head: cancel it */
	assert_int_equal(urt_op_cancel(&st->a), 0);
	assert_int_equal(urt_sleep_until(t, &st->a, 0), -ECANCELED);
	URT_AWAIT(t, st->ret = urt_sleep_until(t, &st->b, 0));
	assert_int_equal(st->ret, 0);
	check_wake(st, st->base + 20 * MS);
	/* c is laps ahead; a nearer one armed now, then cancelled */
	assert_int_equal(urt_sleep_until(t, &st->a, st->base + 700 * MS), URT_PENDING);
	assert_int_equal(urt_sleep_until(t, &st->x, st->base + 800 * MS), URT_PENDING);
	assert_int_equal(urt_op_cancel(&st->a), 0);
	assert_int_equal(urt_sleep_until(t, &st->a, 0), -ECANCELED);
	URT_AWAIT(t, st->ret = urt_sleep_until(t, &st->x, 0));
	check_wake(st, st->base + 800 * MS);
	URT_AWAIT(t, st->ret = urt_sleep_until(t, &st->c, 0));
	assert_int_equal(st->ret, 0);
	check_wake(st, st->base + 1500 * MS);
	/* the run is empty and loaded past now: two deadlines in the past go
	 * to its unsorted tail; cancelling the first leaves the second due */
	st->base = urt_now_ns();
	assert_int_equal(urt_sleep_until(t, &st->a, st->base - 2), URT_PENDING);
	assert_int_equal(urt_sleep_until(t, &st->b, st->base - 1), URT_PENDING);
	assert_int_equal(urt_op_cancel(&st->a), 0);
	assert_int_equal(urt_sleep_until(t, &st->a, 0), -ECANCELED);
	URT_AWAIT(t, st->ret = urt_sleep_until(t, &st->b, 0));
	assert_int_equal(st->ret, 0);
	URT_END(t);
}

static const struct urt_task_type nearest_type = { .poll = nearest_poll, .name = "nearest" };

static void test_timer_cancel_nearest_no_early_wake(void **state)
{
	struct urt_sim *s = sim_new(test_seed("test_timer", 21));
	struct urt_runtime rt;
	struct nearest st = { 0 };

	(void)state;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = s }), 0);
	assert_int_equal(urt_spawn(&rt, &nearest_type, &st, sizeof(st), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	sim_end(&rt, s);
}

/* --- arm and cancel, nothing firing ---------------------------------------------------- */

#define CHURN_ROUNDS 200000u
#define CHURN_BURST  20u

struct churn {
	struct urt_op op[CHURN_BURST];
	uint32_t i, j, burst;
	int ret;
};

/*
 * Request timeouts armed and cancelled before they are due, over and over
 * (a server's per-request deadlines): burst at a time, cancelled in arming
 * order, virtual time moving 3 ms every 1024 rounds. The live timers stay
 * at burst, so the wheel's memory must stay bounded too.
 */
static bool churn_poll(struct urt_task *t, void *arg)
{
	struct churn *st = arg;

	URT_BEGIN(t);
	for (st->i = 0; st->i < CHURN_ROUNDS; st->i += st->burst) {
		for (st->j = 0; st->j < st->burst; st->j++)
			assert_int_equal(urt_sleep(t, &st->op[st->j], 10000 * MS), URT_PENDING);
		for (st->j = 0; st->j < st->burst; st->j++) {
			assert_int_equal(urt_op_cancel(&st->op[st->j]), 0);
			assert_int_equal(urt_sleep_until(t, &st->op[st->j], 0), -ECANCELED);
		}
		if (st->i % 1024 < st->burst)
			URT_AWAIT(t, st->ret = urt_sleep(t, &st->op[0], 3 * MS));
	}
	URT_END(t);
}

static const struct urt_task_type churn_type = { .poll = churn_poll, .name = "churn" };

static void churn_run(uint32_t burst)
{
	struct urt_sim *s = sim_new(1);
	struct test_alloc ta;
	struct urt_runtime rt;
	struct churn st = { .burst = burst };
	size_t before;

	test_alloc_init(&ta);
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = s, .allocator = &ta.al }),
		0);
	before = ta.live_bytes;
	assert_int_equal(urt_spawn(&rt, &churn_type, &st, sizeof(st), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	/* 200k cancelled entries would be 3.2 MB of 16-byte tombstones */
	if (ta.live_bytes - before > 256 * 1024)
		fail_msg("%u arm+cancel rounds, at most %u timers live: the runtime's memory "
			 "grew by %zu bytes",
			 CHURN_ROUNDS, burst, ta.live_bytes - before);
	sim_end(&rt, s);
}

static void test_timer_arm_cancel_churn_bounded(void **state)
{
	(void)state;
	churn_run(1);
	churn_run(CHURN_BURST); /* a full chunk then some: tombstones no trim reaches */
}

/* --- the op-record limit through the free stack ---------------------------------------- */

#define LIM_RECORDS 200u

struct limit {
	struct urt_op op[LIM_RECORDS + 1];
	uint32_t first, again;
};

static uint32_t arm_until_full(struct urt_task *t, struct limit *st)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i <= LIM_RECORDS; i++) {
		int r;

		if (st->op[i].state != URT_OP_IDLE)
			continue;
		r = urt_sleep(t, &st->op[i], 10000 * MS);
		if (r == -EAGAIN)
			break;
		assert_int_equal(r, URT_PENDING);
		n++;
	}
	return n;
}

/* opts.op_records = 200 (past the 64-entry stack): 200 sleeps armed then
 * -EAGAIN; 150 cancelled (the stack spills to the pool), and exactly 150
 * armed again; then everything cancelled. */
static bool limit_poll(struct urt_task *t, void *arg)
{
	struct limit *st = *(struct limit **)arg;

	st->first = arm_until_full(t, st);
	for (uint32_t i = 0; i < 150; i++) {
		assert_int_equal(urt_op_cancel(&st->op[i]), 0);
		assert_int_equal(urt_sleep_until(t, &st->op[i], 0), -ECANCELED);
	}
	st->again = arm_until_full(t, st);
	for (uint32_t i = 0; i <= LIM_RECORDS; i++) {
		if (st->op[i].state == URT_OP_IDLE)
			continue;
		assert_int_equal(urt_op_cancel(&st->op[i]), 0);
		assert_int_equal(urt_sleep_until(t, &st->op[i], 0), -ECANCELED);
	}
	return true;
}

static const struct urt_task_type limit_type = { .poll = limit_poll, .name = "limit" };

static void test_op_record_limit_past_stack(void **state)
{
	struct urt_sim *s = sim_new(1);
	struct urt_runtime rt;
	static struct limit st;
	struct limit *p = &st;

	(void)state;
	assert_int_equal(
		urt_runtime_init(&rt,
				 &(struct urt_runtime_opts){ .sim = s, .op_records = LIM_RECORDS }),
		0);
	assert_int_equal(urt_spawn(&rt, &limit_type, &p, sizeof(p), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(st.first, LIM_RECORDS);
	assert_int_equal(st.again, 150);
	sim_end(&rt, s);
}

/* --- a far timer loaded first: later, nearer timers still cancel cheaply ------------------ */

#define FAR_N 20000u

struct far {
	struct urt_op first, nop, op[FAR_N];
	uint32_t order[FAR_N];
	uint32_t in_run; /* run entries after the arms and a tick */
	uint64_t cancel_ns;
};

/*
 * A 60 s timer alone: the tick loads it, and tnext jumps past its tick.
 * Every timer armed after that with an earlier tick goes to the run, an
 * array whose cancel is a search of its unsorted tail or a memmove of its
 * sorted part: O(n) a cancel where the slots' is O(1). So 20k request
 * deadlines at 5 s, armed after one long timer, cost O(n^2) to cancel in
 * random order (asan: 50k took 14.6 s against 0.04 s without the 60 s
 * timer). The test asserts that no more than the nearest tick's timers
 * sit in the run (run_unload gives the 60 s one back to its slot at the
 * first nearer arm) and prints the cancels' wall time as information.
 */
static uint64_t wall_ns(void) /* the sim's clock is virtual: the host's, for the info line */
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool far_poll(struct urt_task *t, void *arg)
{
	struct far *st = *(struct far **)arg;
	struct urt_runtime *rt = urt_runtime_current();
	uint64_t t0;

	URT_BEGIN(t);
	assert_int_equal(urt_sleep(t, &st->first, 60000 * MS), URT_PENDING);
	URT_AWAIT(t, urt_nop(t, &st->nop)); /* a tick: the 60 s timer is loaded */
	for (uint32_t i = 0; i < FAR_N; i++)
		assert_int_equal(urt_sleep(t, &st->op[i], 5000 * MS + i * 1000ull), URT_PENDING);
	URT_AWAIT(t, urt_nop(t, &st->nop)); /* a tick: the arms are sorted in */
	st->in_run = rt->timers.nrun - rt->timers.head;
	t0 = wall_ns();
	for (uint32_t i = 0; i < FAR_N; i++) {
		assert_int_equal(urt_op_cancel(&st->op[st->order[i]]), 0);
		assert_int_equal(urt_sleep_until(t, &st->op[st->order[i]], 0), -ECANCELED);
	}
	st->cancel_ns = wall_ns() - t0;
	assert_int_equal(urt_op_cancel(&st->first), 0);
	assert_int_equal(urt_sleep_until(t, &st->first, 0), -ECANCELED);
	URT_END(t);
}

static const struct urt_task_type far_type = { .poll = far_poll, .name = "far" };

static void test_timer_far_first_cancel_cost(void **state)
{
	uint64_t seed = test_seed("test_timer far", 22);
	struct test_rng rng = { seed };
	struct urt_sim *s = sim_new(seed);
	static struct far st;
	struct far *p = &st;
	struct urt_runtime rt;

	(void)state;
	memset(&st, 0, sizeof(st));
	shuffle(st.order, FAR_N, &rng);
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = s,
									   .op_records = 1 << 16 }),
			 0);
	assert_int_equal(urt_spawn(&rt, &far_type, &p, sizeof(p), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	print_message("%u cancels in random order after a 60 s timer: %.3f s (info)\n", FAR_N,
		      (double)st.cancel_ns / 1e9);
	/* the nearest tick's timers are loaded into the run (one a microsecond:
	 * a tick's worth); the rest must be in their slots */
	if (st.in_run > (1u << 21) / 1000 + 1 /* 2^21 ns a tick (timer.c) */)
		fail_msg("seed %llu: %u timers due in 5 s sit in the run behind a 60 s one: "
			 "each cancel is O(n) there",
			 (unsigned long long)seed, st.in_run);
	sim_end(&rt, s);
}

/* --- records are reused newest first, past the free stack ------------------------------- */

#define REUSE_N 1000u

struct reuse {
	struct urt_op op[REUSE_N];
	uint32_t order[REUSE_N]; /* cancel (free) order */
	uint32_t freed[REUSE_N]; /* record of the i-th freed */
	uint32_t got[REUSE_N];	 /* record of the i-th armed after */
};

/*
 * The free stack holds 64 records, the pool behind it the rest (op.c).
 * Whatever spills and refills there are, records must come back in the
 * order one LIFO list would give (the last freed first): a completion's
 * user_data, and so the simulator's stored traces, depend on it.
 */
static bool reuse_poll(struct urt_task *t, void *arg)
{
	struct reuse *st = *(struct reuse **)arg;

	for (uint32_t i = 0; i < REUSE_N; i++)
		assert_int_equal(urt_sleep_until(t, &st->op[i], UINT64_MAX / 2), URT_PENDING);
	for (uint32_t i = 0; i < REUSE_N; i++) {
		struct urt_op *op = &st->op[st->order[i]];

		st->freed[i] = op->rec;
		assert_int_equal(urt_op_cancel(op), 0);
		assert_int_equal(urt_sleep_until(t, op, 0), -ECANCELED);
	}
	for (uint32_t i = 0; i < REUSE_N; i++) {
		assert_int_equal(urt_sleep_until(t, &st->op[i], UINT64_MAX / 2), URT_PENDING);
		st->got[i] = st->op[i].rec;
	}
	for (uint32_t i = 0; i < REUSE_N; i++) {
		assert_int_equal(urt_op_cancel(&st->op[i]), 0);
		assert_int_equal(urt_sleep_until(t, &st->op[i], 0), -ECANCELED);
	}
	return true;
}

static const struct urt_task_type reuse_type = { .poll = reuse_poll, .name = "reuse" };

static void test_op_record_reuse_lifo(void **state)
{
	static struct reuse st; /* zeroed: the test runs once */
	struct reuse *p = &st;
	struct test_rng rng = { test_seed("test_timer reuse", 23) };
	uint64_t seed = rng.s;
	struct urt_sim *s;
	struct urt_runtime rt;

	(void)state;
	shuffle(st.order, REUSE_N, &rng);
	s = sim_new(seed);
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = s }), 0);
	assert_int_equal(urt_spawn(&rt, &reuse_type, &p, sizeof(p), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	for (uint32_t i = 0; i < REUSE_N; i++)
		if (st.got[i] != st.freed[REUSE_N - 1 - i])
			fail_msg("seed %llu: arm %u took record %u, the %u-th freed from the "
				 "end is %u",
				 (unsigned long long)seed, i, st.got[i], i,
				 st.freed[REUSE_N - 1 - i]);
	sim_end(&rt, s);
}

/* --- tombstones behind live timers ------------------------------------------------------ */

#define TOMB_ROUNDS 1000000u
#define TOMB_WINDOW 16u	 /* requests in flight, cancelled oldest first */
#define TOMB_NEAR   500u /* live sleepers 1-5 s out, in slots of their own */
#define TOMB_MIXED  500u /* live sleepers in the requests' slot, armed between them */
#define TOMB_LIVE   (TOMB_NEAR + TOMB_MIXED)

struct tomb_sleeper {
	struct urt_op op;
	uint32_t id;
	uint64_t deadline;
	int ret;
};

static struct urt_op *tomb_ops[TOMB_LIVE];

static bool tomb_sleeper_poll(struct urt_task *t, void *arg)
{
	struct tomb_sleeper *st = arg;

	URT_BEGIN(t);
	tomb_ops[st->id] = &st->op;
	fired[st->id].seq = ++arm_seq;
	fired[st->id].deadline = st->deadline;
	URT_AWAIT(t, st->ret = urt_sleep_until(t, &st->op, st->deadline));
	fired[st->id].now = urt_now_ns();
	fired[st->id].order = ++fire_seq;
	fired[st->id].ret = st->ret;
	URT_END(t);
}

static const struct urt_task_type tomb_sleeper_type = { .poll = tomb_sleeper_poll,
							.name = "tomb-sleeper" };

struct tomb {
	struct urt_op req[TOMB_WINDOW];
	uint64_t base; /* the requests' deadlines: base + 10 s + 0..3 ns */
	uint32_t i, k;
	uint32_t chunks; /* the wheel's chunks carved, after the churn */
};

/*
 * A server's request deadlines, far (10 s) and cancelled oldest first with
 * TOMB_WINDOW in flight, so each cancel leaves a tombstone behind a live
 * entry where no trim reaches it; no time passes, so no visit of the slot
 * drops them; and TOMB_LIVE other timers stay live, so no sweep runs. Every
 * TOMB_ROUNDS / TOMB_MIXED rounds a sleeper is spawned that arms in the
 * requests' slot at one of their four deadlines: live entries between the
 * tombstones, which a compaction must move with their handles. At the end
 * every fifth of those is cancelled (its handle must name its entry).
 */
static bool tomb_poll(struct urt_task *t, void *arg)
{
	struct tomb *st = *(struct tomb **)arg;
	uint32_t per = TOMB_ROUNDS / TOMB_MIXED;

	URT_BEGIN(t);
	for (st->k = 0; st->k < TOMB_MIXED; st->k++) {
		for (uint32_t j = 0; j < per; j++, st->i++) {
			struct urt_op *op = &st->req[st->i % TOMB_WINDOW];

			if (op->state != URT_OP_IDLE) {
				assert_int_equal(urt_op_cancel(op), 0);
				assert_int_equal(urt_sleep_until(t, op, 0), -ECANCELED);
			}
			assert_int_equal(urt_sleep_until(t, op, st->base + 10000 * MS + st->i % 4),
					 URT_PENDING);
		}
		{
			struct tomb_sleeper sl = { .id = TOMB_NEAR + st->k,
						   .deadline = st->base + 10000 * MS + st->k % 4 };

			assert_int_equal(urt_spawn(urt_runtime_current(), &tomb_sleeper_type, &sl,
						   sizeof(sl), NULL),
					 0);
		}
		URT_YIELD(t); /* the sleeper arms */
	}
	st->chunks = urt_runtime_current()->timers.made - 1;
	for (uint32_t j = 0; j < TOMB_WINDOW; j++) {
		assert_int_equal(urt_op_cancel(&st->req[j]), 0);
		assert_int_equal(urt_sleep_until(t, &st->req[j], 0), -ECANCELED);
	}
	for (uint32_t j = TOMB_NEAR; j < TOMB_LIVE; j += 5)
		assert_int_equal(urt_op_cancel(tomb_ops[j]), 0);
	URT_END(t);
}

static const struct urt_task_type tomb_type = { .poll = tomb_poll, .name = "tomb" };

static void test_timer_tombstones_bounded_with_live(void **state)
{
	uint64_t seed = test_seed("test_timer tombstones", 24);
	struct test_rng rng = { seed };
	struct urt_sim *s = sim_new(seed);
	static struct fired *by_order[TOMB_LIVE + 1];
	static struct tomb st;
	struct tomb *p = &st;
	struct urt_runtime rt;
	uint32_t bound, nfired = 0;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = s }), 0);
	memset(fired, 0, sizeof(fired));
	arm_seq = fire_seq = 0;
	st.base = urt_now_ns();
	for (uint32_t i = 0; i < TOMB_NEAR; i++) { /* nearer: the first load takes one of them */
		struct tomb_sleeper sl = {
			.id = i, .deadline = st.base + 1000 * MS + test_rng_below(&rng, 4000 * MS)
		};

		assert_int_equal(urt_spawn(&rt, &tomb_sleeper_type, &sl, sizeof(sl), NULL), 0);
	}
	assert_int_equal(urt_spawn(&rt, &tomb_type, &p, sizeof(p), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	/* a slot holds at most twice its live entries and two chunks (15 entries
	 * a chunk, 512 slots: timer.c); without compaction a chunk per 15
	 * rounds, 66,667 */
	bound = 2 * (TOMB_LIVE + TOMB_WINDOW) / 15 + 3 * 512;
	print_message("%u arm+cancel rounds beside %u live timers: %u wheel chunks (bound %u)\n",
		      TOMB_ROUNDS, TOMB_LIVE, st.chunks, bound);
	if (st.chunks > bound)
		fail_msg("seed %llu: %u wheel chunks after %u arm+cancel rounds with %u timers "
			 "live (bound %u): tombstones grow with the request rate",
			 (unsigned long long)seed, st.chunks, TOMB_ROUNDS, TOMB_LIVE, bound);
	for (uint32_t i = 0; i < TOMB_LIVE; i++) {
		struct fired *f = &fired[i];
		bool cancelled = i >= TOMB_NEAR && (i - TOMB_NEAR) % 5 == 0;

		assert_int_equal(f->ret, cancelled ? -ECANCELED : 0);
		if (cancelled)
			continue;
		if (f->now < f->deadline || f->now - f->deadline > LATE_MAX_NS)
			fail_msg("seed %llu: sleeper %u due %llu fired at %llu",
				 (unsigned long long)seed, i, (unsigned long long)f->deadline,
				 (unsigned long long)f->now);
		by_order[nfired++] = f;
	}
	qsort(by_order, nfired, sizeof(*by_order), by_fire_order);
	for (uint32_t k = 1; k < nfired; k++) {
		struct fired *a = by_order[k - 1], *b = by_order[k];

		if (a->deadline > b->deadline || (a->deadline == b->deadline && a->seq > b->seq))
			fail_msg("seed %llu: a fire (due %llu, armed #%llu) before one due %llu, "
				 "armed #%llu",
				 (unsigned long long)seed, (unsigned long long)a->deadline,
				 (unsigned long long)a->seq, (unsigned long long)b->deadline,
				 (unsigned long long)b->seq);
	}
	sim_end(&rt, s);
}

/* --- cancel and re-arm storms in a few slots (hostile review 5) ------------------------
 *
 * STORM_N waiters whose deadlines all hash to three neighbouring slots,
 * laps apart and anywhere within their tick; a controller wakes at random
 * short intervals and cancels a random third of the waiters still pending
 * (a tombstone inside a chunk, not only at a slot's tail), each re-arming
 * at a new deadline in the same slots or ending. So slots fill with live
 * entries and tombstones mixed and are compacted while timers of them fire
 * and others are loaded, a deadline is often cancelled in the tick it
 * comes due, and re-armed ones land in the past. Every arm must fire once
 * or be cancelled, never early, at most LATE_MAX_NS late.
 */
#define STORM_N	     1500
#define STORM_ROUNDS 3000
#define STORM_TICK   (1ull << 21) /* timer.c's tick */

struct storm_waiter {
	struct urt_op op;
	uint64_t deadline, armed_at;
	uint32_t id, fires;
	bool pending, rearm;
	int ret;
};

static struct storm_waiter *storm_w[STORM_N];
static struct test_rng storm_rng;
static uint64_t storm_arms, storm_fires, storm_cancels, storm_bad;

static uint64_t storm_deadline(struct test_rng *rng)
{
	uint64_t slot = 3 + test_rng_below(rng, 3), lap = test_rng_below(rng, 4);
	uint64_t d = (urt_now_ns() & ~(512 * STORM_TICK - 1)) + (slot + lap * 512) * STORM_TICK +
		     test_rng_below(rng, STORM_TICK);

	return d > urt_now_ns() ? d : d + 512 * STORM_TICK;
}

static bool storm_waiter_poll(struct urt_task *t, void *arg)
{
	struct storm_waiter *w = arg;

	URT_BEGIN(t);
	storm_w[w->id] = w;
	for (;;) {
		w->armed_at = urt_now_ns();
		w->pending = true;
		storm_arms++;
		URT_AWAIT(t, w->ret = urt_sleep_until(t, &w->op, w->deadline));
		w->pending = false;
		if (w->ret == 0) {
			uint64_t now = urt_now_ns(),
				 due = w->deadline > w->armed_at ? w->deadline : w->armed_at;

			storm_fires++;
			if (now < w->deadline || now - due > LATE_MAX_NS) {
				print_message("waiter %u due %llu (armed at %llu) fired at %llu\n",
					      w->id, (unsigned long long)w->deadline,
					      (unsigned long long)w->armed_at,
					      (unsigned long long)now);
				storm_bad++;
			}
			if (++w->fires == 4)
				break;
			w->deadline = storm_deadline(&storm_rng); /* once more */
			continue;
		}
		assert_int_equal(w->ret, -ECANCELED);
		storm_cancels++;
		if (!w->rearm)
			break;
		w->rearm = false;
	}
	storm_w[w->id] = NULL;
	URT_END(t);
}

static const struct urt_task_type storm_waiter_type = { .poll = storm_waiter_poll,
							.name = "storm-waiter" };

struct storm_ctl {
	struct urt_op nap;
	struct test_rng rng;
	uint32_t round;
	int ret;
};

static bool storm_ctl_poll(struct urt_task *t, void *arg)
{
	struct storm_ctl *c = arg;

	URT_BEGIN(t);
	for (c->round = 0; c->round < STORM_ROUNDS; c->round++) {
		URT_AWAIT(t,
			  c->ret = urt_sleep(t, &c->nap, test_rng_below(&c->rng, 3 * STORM_TICK)));
		assert_int_equal(c->ret, 0);
		for (uint32_t i = 0; i < STORM_N; i++) {
			struct storm_waiter *w = storm_w[i];

			if (!w || !w->pending || w->rearm || test_rng_below(&c->rng, 4))
				continue;
			assert_int_equal(urt_op_cancel(&w->op), 0);
			if (test_rng_below(&c->rng, 16)) { /* most come back, some in the past */
				w->rearm = true;
				w->deadline = test_rng_below(&c->rng, 8)
						      ? storm_deadline(&c->rng)
						      : urt_now_ns() - test_rng_below(&c->rng, MS);
			}
		}
	}
	URT_END(t);
}

static const struct urt_task_type storm_ctl_type = { .poll = storm_ctl_poll, .name = "storm-ctl" };

static void test_timer_cancel_storm_few_slots(void **state)
{
	uint64_t seed = test_seed("test_timer storm", 25);
	struct test_rng rng = { seed };
	struct urt_sim *s = sim_new(seed);
	struct urt_runtime rt;
	struct storm_ctl ctl = { .rng = { seed ^ 0x5eed } };

	(void)state;
	assert_int_equal(
		urt_runtime_init(&rt,
				 &(struct urt_runtime_opts){ .sim = s, .poll_budget = 1u << 16 }),
		0);
	storm_arms = storm_fires = storm_cancels = storm_bad = 0;
	storm_rng = (struct test_rng){ seed ^ 0xf17e };
	for (uint32_t i = 0; i < STORM_N; i++) {
		struct storm_waiter w = { .id = i, .deadline = storm_deadline(&rng) };

		assert_int_equal(urt_spawn(&rt, &storm_waiter_type, &w, sizeof(w), NULL), 0);
	}
	assert_int_equal(urt_spawn(&rt, &storm_ctl_type, &ctl, sizeof(ctl), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	print_message("storm: %llu arms, %llu fires, %llu cancels\n",
		      (unsigned long long)storm_arms, (unsigned long long)storm_fires,
		      (unsigned long long)storm_cancels);
	assert_int_equal(storm_arms, storm_fires + storm_cancels);
	if (storm_bad)
		fail_msg("seed %llu: %llu timers fired early or late", (unsigned long long)seed,
			 (unsigned long long)storm_bad);
	sim_end(&rt, s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_wheel_order_laps_cancel),
		cmocka_unit_test(test_timer_cancel_nearest_no_early_wake),
		cmocka_unit_test(test_timer_arm_cancel_churn_bounded),
		cmocka_unit_test(test_op_record_limit_past_stack),
		cmocka_unit_test(test_timer_far_first_cancel_cost),
		cmocka_unit_test(test_op_record_reuse_lifo),
		cmocka_unit_test(test_timer_tombstones_bounded_with_live),
		cmocka_unit_test(test_timer_cancel_storm_few_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
