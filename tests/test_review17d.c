/* SPDX-License-Identifier: MIT */
/*
 * test_review17d.c - the fourth review of issue 17: urt_ftruncate's
 * fallback on the blocking pool (cancel and abort queued and with its
 * result back but untaken, from its own task, another task and between
 * ticks; deinit; the pool's queue and op records exhausted; bad input),
 * name lookups that hang beside other jobs (getaddrinfo interposed for
 * this binary), a dial handle reused after its deadline timer fired in
 * the pass that brought the lookup, and urt_read_all on a non-blocking
 * pipe, bad input and a handle reused with done past its buffer.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <netdb.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static char dir[] = "/tmp/urt-test-r17d-XXXXXX";
static int dfd = -1;

static int setup(void **state)
{
	(void)state;
	dfd = test_tmpdir(dir);
	return dfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return test_tmpdir_remove(dfd, dir);
}

static int open_file(const char *name)
{
	int fd = openat(dfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	return fd;
}

/* --- the ftruncate fallback ------------------------------------------------------------ */

struct trunc_state {
	struct urt_op op;
	int fd, ret;
	int64_t len;
	int late; /* what the drop took */
};

static struct trunc_state *trunc_st[8]; /* the tasks' states, by fd order of spawn */
static int trunc_drops;

static bool trunc_poll(struct urt_task *t, void *arg)
{
	struct trunc_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_ftruncate(t, &st->op, st->fd, st->len));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static void trunc_drop(struct urt_task *t, void *arg)
{
	struct trunc_state *st = arg;

	(void)t;
	assert_false(urt_op_busy(&st->op));
	st->late = urt_op_take_late(&st->op);
	trunc_drops++;
}

/* A poll that records its state pointer first, then truncates. */
static unsigned trunc_seen;
static bool trunc_rec_poll(struct urt_task *t, void *arg)
{
	struct trunc_state *st = arg;

	if (st->late == 1) { /* first poll */
		st->late = 2;
		trunc_st[trunc_seen++ & 7] = st;
	}
	return trunc_poll(t, arg);
}

static const struct urt_task_type trunc_rec_type = { .poll = trunc_rec_poll,
						     .drop = trunc_drop,
						     .name = "trunc-rec" };

static void fallback_init(struct urt_runtime *rt, unsigned threads, uint32_t queue,
			  uint32_t records)
{
	test_runtime_init(rt, &(struct urt_runtime_opts){ .features_off = URT_FEAT_FTRUNCATE,
							  .blocking_threads = threads,
							  .blocking_queue = queue,
							  .op_records = records });
	trunc_seen = 0;
	trunc_drops = 0;
	memset(trunc_st, 0, sizeof(trunc_st));
}

static void spawn_trunc(struct urt_runtime *rt, int fd, int64_t len, struct urt_join *j)
{
	struct trunc_state st = { .fd = fd, .len = len, .ret = 1, .late = 1 };

	assert_int_equal(urt_spawn(rt, &trunc_rec_type, &st, sizeof(st), j), 0);
}

/*
 * Cancel of a fallback whose truncate has already run on the worker but
 * whose result the loop has not taken in yet (the state "running" as the
 * owner sees it): the cancel is accepted, the op stays busy, and the await
 * returns the real result (0, the file truncated), as documented.
 */
static void test_trunc_cancel_running(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	int fd = open_file("cr");

	(void)state;
	fallback_init(&rt, 1, 0, 0);
	spawn_trunc(&rt, fd, 4096, &j);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_non_null(trunc_st[0]);
	test_sleep_ms(50); /* the worker ran it and posted */
	if (!urt_op_busy(&trunc_st[0]->op)) {
		/* the tick that submitted it took its result in too (the
		 * worker finished while that tick still ran: a busy machine):
		 * the state this case needs did not occur; the result is
		 * right, and the case is skipped, saying so */
		assert_int_equal(urt_run(&rt), 0);
		assert_int_equal(test_take(&j), 0);
		assert_int_equal(test_size_at(dfd, "cr"), 4096);
		test_runtime_end(&rt);
		close(fd);
		unlinkat(dfd, "cr", 0);
		print_message("the truncate's result came in within its tick: not this case\n");
		skip();
	}
	assert_int_equal(urt_op_cancel(&trunc_st[0]->op), 0);
	assert_true(urt_op_busy(&trunc_st[0]->op));
	assert_int_equal(urt_op_cancel(&trunc_st[0]->op), -EALREADY);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&j), 0);
	assert_int_equal(test_size_at(dfd, "cr"), 4096);
	test_runtime_end(&rt);
	close(fd);
	unlinkat(dfd, "cr", 0);
}

/* Abort with the fallback running: the drop waits for it and takes the
 * real result late. */
static void test_trunc_abort_running(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	int fd = open_file("ar");

	(void)state;
	fallback_init(&rt, 1, 0, 0);
	spawn_trunc(&rt, fd, 100, &j);
	assert_int_equal(urt_tick(&rt, 0), 1);
	test_sleep_ms(50);
	assert_int_equal(urt_join_abort(&j), 0);
	URT_DISCARD(urt_tick(&rt, 0));
	urt_join_detach(&j);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(trunc_drops, 1);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	assert_int_equal(test_size_at(dfd, "ar"), 100);
	close(fd);
	unlinkat(dfd, "ar", 0);
}

/* deinit with the fallback back-but-untaken and its task aborted. */
static void test_trunc_deinit_running(void **state)
{
	struct urt_runtime rt;
	struct urt_join j, j2;
	int fd = open_file("dr");

	(void)state;
	fallback_init(&rt, 1, 0, 0);
	spawn_trunc(&rt, fd, 100, &j);
	spawn_trunc(&rt, fd, 200, &j2);
	assert_int_equal(urt_tick(&rt, 0), 2);
	test_sleep_ms(50);
	assert_int_equal(urt_join_abort(&j), 0);
	urt_join_detach(&j);
	urt_join_detach(&j2);
	assert_int_equal(urt_runtime_deinit(&rt), 2);
	assert_int_equal(trunc_drops, 2);
	close(fd);
	unlinkat(dfd, "dr", 0);
}

/* Another task cancels a queued fallback: the truncating task is woken
 * and returns -ECANCELED. */
static struct urt_op *cancel_victim;
static int cancel_ret;

static bool canceller_poll(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
	cancel_ret = urt_op_cancel(cancel_victim);
	return true;
}

static const struct urt_task_type canceller_type = { .poll = canceller_poll, .name = "canceller" };

static int gate[2] = { -1, -1 };

static int64_t gate_fn(void *arg)
{
	char c;

	(void)arg;
	return read(gate[0], &c, 1);
}

/* A task that runs one job, fn (gate_fn unless set), on the pool. */
struct gate_state {
	struct urt_job job;
	int64_t (*fn)(void *arg);
	int64_t res;
};

static bool gate_poll(struct urt_task *t, void *arg)
{
	struct gate_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t,
		  st->res = urt_blocking_run(t, &st->job, st->fn ? st->fn : gate_fn, NULL, NULL));
	URT_RETURN(t, (uint64_t)st->res);
	URT_END(t);
}

static const struct urt_task_type gate_type = { .poll = gate_poll, .name = "gate" };

static void gate_spawn(struct urt_runtime *rt, struct urt_join *j)
{
	struct gate_state gs = { 0 };

	assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
	assert_int_equal(urt_spawn(rt, &gate_type, &gs, sizeof(gs), j), 0);
}

static void gate_open(void)
{
	assert_int_equal(write(gate[1], "g", 1), 1);
}

static void gate_close(void)
{
	close(gate[0]);
	close(gate[1]);
}

static void test_trunc_cancel_other_task(void **state)
{
	struct urt_runtime rt;
	struct urt_join gj, j, cj;
	int fd = open_file("ct");

	(void)state;
	fallback_init(&rt, 1, 0, 0);
	gate_spawn(&rt, &gj);
	spawn_trunc(&rt, fd, 4096, &j);
	assert_int_equal(urt_tick(&rt, 0), 2);
	cancel_victim = &trunc_st[0]->op;
	cancel_ret = 1;
	assert_int_equal(urt_spawn(&rt, &canceller_type, NULL, 0, &cj), 0);
	urt_join_detach(&cj);
	assert_int_equal(urt_tick(&rt, 0), 1); /* the canceller */
	assert_int_equal(cancel_ret, 0);
	assert_int_equal(urt_tick(&rt, 0), 1); /* the woken truncater */
	assert_int_equal(test_take(&j), -ECANCELED);
	gate_open();
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&gj), 1);
	assert_int_equal(test_size_at(dfd, "ct"), 0);
	test_runtime_end(&rt);
	gate_close();
	close(fd);
	unlinkat(dfd, "ct", 0);
}

/* urt_task_cancel_ops on a task with a queued fallback, between ticks. */
static void test_trunc_task_cancel_ops(void **state)
{
	struct urt_runtime rt;
	struct urt_join gj, j;
	int fd = open_file("tc");

	(void)state;
	fallback_init(&rt, 1, 0, 0);
	gate_spawn(&rt, &gj);
	spawn_trunc(&rt, fd, 4096, &j);
	assert_int_equal(urt_tick(&rt, 0), 2);
	assert_int_equal(urt_task_cancel_ops(j.task), 1);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(test_take(&j), -ECANCELED);
	gate_open();
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&gj), 1);
	test_runtime_end(&rt);
	gate_close();
	close(fd);
	unlinkat(dfd, "tc", 0);
}

/*
 * Six truncating tasks against a bound (the pool's queue, or op records):
 * those over it get err at once, the rest complete; nothing is left.
 */
static void trunc_over_bound(uint32_t queue, uint32_t records, int err)
{
	struct urt_runtime rt;
	struct urt_join j[6];
	int fd = open_file("ex");
	int refused = 0, ok = 0;

	fallback_init(&rt, 1, queue, records);
	for (int i = 0; i < 6; i++)
		spawn_trunc(&rt, fd, 10 * (i + 1), &j[i]);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	for (int i = 0; i < 6; i++) {
		int64_t r = test_take(&j[i]);

		refused += r == err;
		ok += r == 0;
	}
	assert_int_equal(ok, queue ? queue : records);
	assert_int_equal(refused, 6 - ok);
	test_runtime_end(&rt);
	close(fd);
	unlinkat(dfd, "ex", 0);
}

static void test_trunc_exhaustion(void **state)
{
	(void)state;
	trunc_over_bound(3, 0, -EBUSY);
	trunc_over_bound(0, 2, -EAGAIN);
}

/* Bad input through the fallback: a bad fd, a negative length. */
static void test_trunc_bad_input(void **state)
{
	struct urt_runtime rt;
	struct urt_join j[3];
	int fd = open_file("bi");

	(void)state;
	fallback_init(&rt, 1, 0, 0);
	spawn_trunc(&rt, -1, 10, &j[0]);
	spawn_trunc(&rt, fd, -1, &j[1]);
	spawn_trunc(&rt, 9999, 10, &j[2]);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&j[0]), -EBADF);
	assert_int_equal(test_take(&j[1]), -EINVAL);
	assert_int_equal(test_take(&j[2]), -EBADF);
	test_runtime_end(&rt);
	close(fd);
	unlinkat(dfd, "bi", 0);
}

/* --- slow lookups and the pool ---------------------------------------------------------- */

/*
 * getaddrinfo, interposed for this binary: "slow.test" blocks until the
 * gate pipe gives it a byte (a name server that does not answer: glibc
 * waits 5 s per try), then fails; "gated.test" blocks the same way, then
 * is 127.0.0.1; "now.test" is 127.0.0.1 at once (both through the real
 * getaddrinfo, so freeaddrinfo frees what it made); any other name is
 * unknown at once.
 */
static int dns_gate[2] = { -1, -1 };

int getaddrinfo(const char *host, const char *serv, const struct addrinfo *hints,
		struct addrinfo **res)
{
	int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
	bool gated = host && !strcmp(host, "gated.test");
	char c;

	if (host && !strcmp(host, "slow.test") && read(dns_gate[0], &c, 1) == 1)
		return EAI_AGAIN;
	if (gated && read(dns_gate[0], &c, 1) != 1)
		return EAI_FAIL;
	if (!gated && !(host && !strcmp(host, "now.test")))
		return EAI_NONAME;
	*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	return real ? real("127.0.0.1", serv, hints, res) : EAI_SYSTEM;
}

struct dns_state {
	struct urt_dns q;
	struct addrinfo *ai;
	int ret;
};

static bool dns_poll(struct urt_task *t, void *arg)
{
	struct dns_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_getaddrinfo(t, &st->q, "slow.test", "80", NULL, &st->ai));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type dns_type = { .poll = dns_poll, .name = "dns" };

/*
 * Lookups against a name server that does not answer (glibc: 5 s a try,
 * two tries) as many as the pool has threads, as any server whose clients
 * each connect by name sees: an ftruncate through the fallback (or any
 * job) must still run. libuv caps getaddrinfo and getnameinfo ("slow I/O")
 * at half its threads for exactly this; here the truncate waited behind
 * the lookups for as long as they took.
 */
static void test_slow_dns_starves_pool(void **state)
{
	struct urt_runtime rt;
	struct urt_join dj[4], j;
	int fd = open_file("sd");
	uint64_t until;
	bool done = false;

	(void)state;
	assert_int_equal(pipe2(dns_gate, O_CLOEXEC), 0);
	fallback_init(&rt, 4, 0, 0);
	for (int i = 0; i < 4; i++) {
		struct dns_state ds = { 0 };

		assert_int_equal(urt_spawn(&rt, &dns_type, &ds, sizeof(ds), &dj[i]), 0);
	}
	assert_int_equal(urt_tick(&rt, 0), 4);
	test_sleep_ms(20); /* the workers took the lookups */
	spawn_trunc(&rt, fd, 4096, &j);
	until = urt_now_ns() + 2000ull * 1000 * 1000;
	while (!done && urt_now_ns() < until) {
		URT_DISCARD(urt_tick(&rt, 10));
		done = test_size_at(dfd, "sd") == 4096 && !urt_op_busy(&trunc_st[0]->op);
	}
	assert_int_equal(write(dns_gate[1], "dddd", 4), 4); /* the lookups end */
	assert_int_equal(urt_run(&rt), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(test_take(&dj[i]), -ETIMEDOUT);
	assert_int_equal(test_take(&j), 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(dns_gate[0]);
	close(dns_gate[1]);
	close(fd);
	unlinkat(dfd, "sd", 0);
	assert_true(done); /* the truncate ran while the lookups hung */
}

/*
 * The lookups' own queue: two workers, so one lookup runs and three wait
 * (the cap is one); one waiting is aborted (taken off that queue), the
 * others are torn down by deinit with the first still running: every
 * request is freed (ASan), every task's drop runs.
 */
static void test_slow_dns_queue_paths(void **state)
{
	struct urt_runtime rt;
	struct urt_join dj[4];

	(void)state;
	assert_int_equal(pipe2(dns_gate, O_CLOEXEC), 0);
	fallback_init(&rt, 2, 0, 0);
	for (int i = 0; i < 4; i++) {
		struct dns_state ds = { 0 };

		assert_int_equal(urt_spawn(&rt, &dns_type, &ds, sizeof(ds), &dj[i]), 0);
	}
	assert_int_equal(urt_tick(&rt, 0), 4);
	test_sleep_ms(20);
	assert_int_equal(urt_join_abort(&dj[2]), 0);
	URT_DISCARD(urt_tick(&rt, 0));
	assert_int_equal(urt_join_take(&dj[2], NULL), -ECANCELED);
	for (int i = 0; i < 4; i++)
		if (i != 2)
			urt_join_detach(&dj[i]);
	/* every lookup that may run ends (a queued one may start meanwhile) */
	assert_int_equal(write(dns_gate[1], "ddd", 3), 3);
	assert_int_equal(urt_runtime_deinit(&rt), 3);
	close(dns_gate[0]);
	close(dns_gate[1]);
}

/* --- a dial's deadline timer fired in the pass that brought its lookup ------------------- */

struct redial_state {
	struct urt_dial d;
	char port[8];
};

static int redial_first, redial_second; /* the two dials' results */

/*
 * Dials "gated.test" with a 1 ms deadline, then, on the same handle,
 * "now.test" with a 10 s one; the second connection is closed at once.
 */
static bool redial_poll(struct urt_task *t, void *arg)
{
	struct redial_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, redial_first = urt_dial(t, &st->d, "gated.test", st->port, 1000000ull));
	URT_AWAIT(t, redial_second =
			     urt_dial(t, &st->d, "now.test", st->port, 10ull * 1000 * 1000 * 1000));
	if (redial_second >= 0)
		close(redial_second);
	URT_END(t);
}

static void redial_drop(struct urt_task *t, void *arg)
{
	(void)t;
	urt_dial_drop(&((struct redial_state *)arg)->d);
}

static const struct urt_task_type redial_type = { .poll = redial_poll,
						  .drop = redial_drop,
						  .name = "redial" };

static int marker_ran;

/* Queued behind the lookup on the pool's one worker: when it runs, the
 * lookup's result has been posted to the loop. */
static int64_t marker_fn(void *arg)
{
	(void)arg;
	__atomic_store_n(&marker_ran, 1, __ATOMIC_RELEASE);
	return 7;
}

/* Tick with a bounded wait until cond() holds or 10 s pass. */
static bool tick_until_cond(struct urt_runtime *rt, bool (*cond)(struct urt_runtime *rt))
{
	uint64_t until = urt_now_ns() + 10ull * 1000 * 1000 * 1000;

	while (!cond(rt) && urt_now_ns() < until)
		URT_DISCARD(urt_tick(rt, 10 * 1000 * 1000));
	return cond(rt);
}

static bool timer_fired(struct urt_runtime *rt)
{
	return test_stats(rt).timers_fired > 0;
}

/*
 * The deadline's sleep fires at the end of one tick (no lookup back yet:
 * it waits on the gate), the lookup's result comes in at the start of the
 * next, before the dial is polled: that poll finds both done. The dial
 * ends with -ETIME (its deadline is past); its timer must be idle again.
 * It was left fired, unread, and the next dial on the handle, with 10 s
 * to go, ended with -ETIME at its first evaluation.
 * One worker: the lookup runs first (the marker is queued after it), so
 * the marker having run means the lookup's result is posted. No step
 * depends on how long anything takes.
 */
static void test_dial_reuse_timer_fired_with_lookup(void **state)
{
	struct urt_runtime rt;
	struct redial_state rs = { 0 };
	struct gate_state ms = { .fn = marker_fn };
	struct urt_join dj, mj;
	uint16_t port;
	int lfd = test_listen(&port), a;
	uint64_t until;

	(void)state;
	assert_true(lfd >= 0);
	assert_int_equal(pipe2(dns_gate, O_CLOEXEC), 0);
	snprintf(rs.port, sizeof(rs.port), "%u", port);
	redial_first = redial_second = 0;
	marker_ran = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 1 });
	assert_int_equal(urt_spawn(&rt, &redial_type, &rs, sizeof(rs), &dj), 0);
	assert_int_equal(urt_spawn(&rt, &gate_type, &ms, sizeof(ms), &mj), 0);
	assert_int_equal(urt_tick(&rt, 0), 2); /* the lookup and the marker queued */
	assert_true(tick_until_cond(&rt, timer_fired));
	assert_int_equal(redial_first, URT_PENDING); /* not polled since */
	assert_false(urt_join_is_finished(&dj));
	assert_int_equal(write(dns_gate[1], "g", 1), 1);
	until = urt_now_ns() + 10ull * 1000 * 1000 * 1000;
	while (!__atomic_load_n(&marker_ran, __ATOMIC_ACQUIRE) && urt_now_ns() < until)
		test_sleep_ms(1);
	assert_true(__atomic_load_n(&marker_ran, __ATOMIC_ACQUIRE));
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(redial_first, -ETIME);
	assert_int_not_equal(redial_second, -ETIME); /* ended at once by the fired timer */
	assert_true(redial_second >= 0);	     /* connected */
	assert_int_equal(test_take(&mj), 7);
	assert_int_equal(urt_join_take(&dj, NULL), 0);
	test_runtime_end(&rt);
	a = accept(lfd, NULL, NULL);
	assert_true(a >= 0);
	close(a);
	close(lfd);
	close(dns_gate[0]);
	close(dns_gate[1]);
}

/* --- urt_read_all ---------------------------------------------------------------------- */

static size_t rall_done; /* h->done at the first evaluation */

struct rall_state {
	struct urt_io_all h;
	int fd;
	size_t cap;
	int ret;
	char buf[64];
};

static bool rall_poll(struct urt_task *t, void *arg)
{
	struct rall_state *st = arg;

	URT_BEGIN(t);
	st->h.done = rall_done; /* what an earlier, failed call left */
	URT_AWAIT(t, st->ret = urt_read_all(t, &st->h, st->fd, st->buf, st->cap));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type rall_type = { .poll = rall_poll, .name = "read_all" };

static int64_t rall_run(int fd, size_t cap, void (*between)(void))
{
	struct urt_runtime rt;
	struct rall_state st = { .fd = fd, .cap = cap };
	struct urt_join j;
	int64_t r;

	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &rall_type, &st, sizeof(st), &j), 0);
	URT_DISCARD(urt_tick(&rt, 0));
	if (between)
		between();
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	r = test_take(&j);
	test_runtime_end(&rt);
	return r;
}

static int nb[2] = { -1, -1 };

static void nb_write_close(void)
{
	assert_int_equal(write(nb[1], "hello", 5), 5);
	close(nb[1]);
	nb[1] = -1;
}

/* A pipe the program made non-blocking (as libuv and tokio make theirs):
 * urt_read_all reads it to its end like any pipe. */
static void test_read_all_nonblocking_pipe(void **state)
{
	(void)state;
	assert_int_equal(pipe2(nb, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(rall_run(nb[0], 64, nb_write_close), 5);
	close(nb[0]);
}

static void test_read_all_bad(void **state)
{
	(void)state;
	assert_int_equal(rall_run(-1, 64, NULL), -EBADF);
	assert_int_equal(rall_run(12345, 64, NULL), -EBADF);
	assert_int_equal(rall_run(0, (size_t)INT32_MAX + 1, NULL), -EINVAL);
}

/*
 * A handle reused after an error without h->done set back to 0, on a
 * buffer smaller than what the failed call had read: len - h->done wrapped
 * and the read went to buf + done, past the end of buf (a release build
 * wrote the pipe's bytes there; debug builds only reported it through the
 * hook). Refused with -EINVAL, nothing read.
 */
static void test_read_all_done_past_cap(void **state)
{
	(void)state;
	assert_int_equal(pipe2(nb, O_CLOEXEC), 0);
	rall_done = 100;
	assert_int_equal(rall_run(nb[0], 64, nb_write_close), -EINVAL);
	rall_done = 0;
	assert_int_equal(read(nb[0], (char[8]){ 0 }, 8), 5); /* nothing was taken */
	close(nb[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trunc_cancel_running),
		cmocka_unit_test(test_trunc_abort_running),
		cmocka_unit_test(test_trunc_deinit_running),
		cmocka_unit_test(test_trunc_cancel_other_task),
		cmocka_unit_test(test_trunc_task_cancel_ops),
		cmocka_unit_test(test_trunc_exhaustion),
		cmocka_unit_test(test_trunc_bad_input),
		cmocka_unit_test(test_slow_dns_starves_pool),
		cmocka_unit_test(test_slow_dns_queue_paths),
		cmocka_unit_test(test_dial_reuse_timer_fired_with_lookup),
		cmocka_unit_test(test_read_all_nonblocking_pipe),
		cmocka_unit_test(test_read_all_bad),
		cmocka_unit_test(test_read_all_done_past_cap),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
