/* SPDX-License-Identifier: MIT */
/*
 * test_fs.c - the file-system operations on names and sizes (fs.c): each
 * one's success and the errors a program handles (EEXIST, ENOENT,
 * ENOTEMPTY, EISDIR, EINVAL, EBADF), ftruncate through the ring and
 * through its fallback on the blocking pool (URT_FEAT_FTRUNCATE in
 * opts.features_off: queued, cancelled, aborted, torn down), the
 * frame-memory refusal of a path, and a task aborted with an operation in
 * flight. Every test ends with nothing live.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static char dir[] = "/tmp/urt-test-fs-XXXXXX";
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

/* --- every call, its success and its errors ------------------------------------------ */

static int got[40], nstep; /* each result, in order */

struct fs_state {
	struct urt_op op;
	int fd, rofd, ret;
};

#define AWAIT_STEP(t, st, expr)                                                                    \
	do {                                                                                       \
		URT_AWAIT(t, (st)->ret = (expr));                                                  \
		got[nstep++] = (st)->ret;                                                          \
	} while (0)

static bool fs_poll(struct urt_task *t, void *arg)
{
	struct fs_state *st = arg;

	URT_BEGIN(t);
	AWAIT_STEP(t, st, urt_mkdirat(t, &st->op, dfd, "d", 0700));	 /* 0 */
	AWAIT_STEP(t, st, urt_mkdirat(t, &st->op, dfd, "d", 0700));	 /* 1 */
	AWAIT_STEP(t, st, urt_mkdirat(t, &st->op, dfd, "none/x", 0700)); /* 2 */
	URT_AWAIT(t, st->fd = urt_openat(t, &st->op, dfd, "d/f", O_RDWR | O_CREAT, 0600));
	URT_AWAIT(t, st->rofd = urt_openat(t, &st->op, dfd, "d/f", O_RDONLY, 0));
	if (st->fd < 0 || st->rofd < 0)
		URT_RETURN(t, 100);
	AWAIT_STEP(t, st, urt_fallocate(t, &st->op, st->fd, 0, 0, 8192));	/* 3 */
	AWAIT_STEP(t, st, urt_fallocate(t, &st->op, st->fd, 0, -1, 10));	/* 4 */
	AWAIT_STEP(t, st, urt_fallocate(t, &st->op, -1, 0, 0, 10));		/* 5 */
	got[nstep++] = (int)test_size_at(dfd, "d/f");				/* 6 */
	AWAIT_STEP(t, st, urt_ftruncate(t, &st->op, st->fd, 10));		/* 7 */
	got[nstep++] = (int)test_size_at(dfd, "d/f");				/* 8 */
	AWAIT_STEP(t, st, urt_ftruncate(t, &st->op, st->fd, -1));		/* 9 */
	AWAIT_STEP(t, st, urt_ftruncate(t, &st->op, st->rofd, 0));		/* 10 */
	AWAIT_STEP(t, st, urt_ftruncate(t, &st->op, -1, 0));			/* 11 */
	AWAIT_STEP(t, st, urt_linkat(t, &st->op, dfd, "d/f", dfd, "d/g", 0));	/* 12 */
	AWAIT_STEP(t, st, urt_linkat(t, &st->op, dfd, "d/f", dfd, "d/g", 0));	/* 13 */
	AWAIT_STEP(t, st, urt_linkat(t, &st->op, dfd, "d/no", dfd, "d/n2", 0)); /* 14 */
	AWAIT_STEP(t, st, urt_symlinkat(t, &st->op, "f", dfd, "d/s"));		/* 15 */
	AWAIT_STEP(t, st, urt_symlinkat(t, &st->op, "f", dfd, "d/s"));		/* 16 */
	AWAIT_STEP(t, st, urt_symlinkat(t, &st->op, "f", dfd, "none/s"));	/* 17 */
	AWAIT_STEP(t, st, urt_renameat(t, &st->op, dfd, "d/g", dfd, "d/h", 0)); /* 18 */
	AWAIT_STEP(t, st, urt_renameat(t, &st->op, dfd, "d/g", dfd, "d/h", 0)); /* 19 */
	AWAIT_STEP(t, st,
		   urt_renameat(t, &st->op, dfd, "d/h", dfd, "d/f", RENAME_NOREPLACE)); /* 20 */
	AWAIT_STEP(t, st, urt_unlinkat(t, &st->op, dfd, "d/h", 0));			/* 21 */
	AWAIT_STEP(t, st, urt_unlinkat(t, &st->op, dfd, "d/h", 0));			/* 22 */
	AWAIT_STEP(t, st, urt_unlinkat(t, &st->op, dfd, "d", AT_REMOVEDIR));		/* 23 */
	AWAIT_STEP(t, st, urt_unlinkat(t, &st->op, dfd, "d", 0));			/* 24 */
	AWAIT_STEP(t, st, urt_unlinkat(t, &st->op, dfd, "d/f", AT_REMOVEDIR));		/* 25 */
	AWAIT_STEP(t, st, urt_close(t, &st->op, st->fd));
	AWAIT_STEP(t, st, urt_close(t, &st->op, st->rofd));
	AWAIT_STEP(t, st, urt_unlinkat(t, &st->op, dfd, "d/f", 0));
	AWAIT_STEP(t, st, urt_unlinkat(t, &st->op, dfd, "d/s", 0));
	AWAIT_STEP(t, st, urt_unlinkat(t, &st->op, dfd, "d", AT_REMOVEDIR)); /* 30 */
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type fs_type = { .poll = fs_poll, .name = "fs" };

static void run_fs(uint32_t off)
{
	static const int want[] = {
		0,	 -EEXIST,  -ENOENT, 0,	     -EINVAL, -EBADF,  8192,	0,
		10,	 -EINVAL,  -EINVAL, -EBADF,  0,	      -EEXIST, -ENOENT, 0,
		-EEXIST, -ENOENT,  0,	    -ENOENT, -EEXIST, 0,       -ENOENT, -ENOTEMPTY,
		-EISDIR, -ENOTDIR, 0,	    0,	     0,	      0,       0,
	};
	struct urt_runtime rt;
	static struct fs_state st;
	struct urt_join j;

	st = (struct fs_state){ .fd = -1 };
	nstep = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .features_off = off });
	assert_int_equal(urt_spawn(&rt, &fs_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&j), 0);
	assert_int_equal(nstep, (int)(sizeof(want) / sizeof(want[0])));
	for (int i = 0; i < nstep; i++) {
		if (got[i] != want[i])
			fail_msg("step %d: got %d (%s), want %d", i, got[i],
				 strerror(got[i] < 0 ? -got[i] : 0), want[i]);
	}
	test_runtime_end(&rt);
}

static void test_fs_ops(void **state)
{
	(void)state;
	run_fs(0);
}

static void test_fs_ops_ftruncate_fallback(void **state)
{
	(void)state;
	run_fs(URT_FEAT_FTRUNCATE);
}

/* --- ftruncate: which path it took ------------------------------------------------------ */

struct trunc_state {
	struct urt_op op;
	int fd, ret;
};

static bool trunc_poll(struct urt_task *t, void *arg)
{
	struct trunc_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_ftruncate(t, &st->op, st->fd, 4096));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type trunc_type = { .poll = trunc_poll, .name = "ftruncate" };

/* Return: the operations the ring completed for one ftruncate. */
static uint64_t trunc_ops(uint32_t off, uint32_t *features)
{
	struct urt_runtime rt;
	struct trunc_state st = { 0 };
	struct urt_join j;
	uint64_t ops;

	st.fd = openat(dfd, "t", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(st.fd >= 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .features_off = off });
	assert_int_equal(urt_spawn(&rt, &trunc_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&j), 0);
	assert_int_equal(test_size_at(dfd, "t"), 4096);
	ops = test_stats(&rt).ops_completed;
	*features = test_stats(&rt).features;
	test_runtime_end(&rt);
	close(st.fd);
	assert_int_equal(unlinkat(dfd, "t", 0), 0);
	return ops;
}

static void test_ftruncate_paths(void **state)
{
	uint32_t f;

	(void)state;
	/* the fallback never goes through the ring */
	assert_int_equal(trunc_ops(URT_FEAT_FTRUNCATE, &f), 0);
	assert_false(f & URT_FEAT_FTRUNCATE);
	if (!test_has_feature(URT_FEAT_FTRUNCATE)) {
		print_message("no IORING_OP_FTRUNCATE here: only the fallback was tested\n");
		return;
	}
	assert_int_equal(trunc_ops(0, &f), 1);
	assert_true(f & URT_FEAT_FTRUNCATE);
}

/* --- ftruncate's fallback runs on the blocking pool ----------------------------------- */

/*
 * One worker (opts.blocking_threads = 1), held by a gate job that blocks
 * reading a pipe: an ftruncate by the fallback queues behind it. Were it
 * made on the loop's thread, the truncate would be done after the first
 * tick; here it waits for the gate.
 */
static int gate[2] = { -1, -1 };

static int64_t gate_fn(void *arg)
{
	char c;

	(void)arg;
	return read(gate[0], &c, 1);
}

static void gate_open(void)
{
	assert_int_equal(write(gate[1], "g", 1), 1);
}

struct gate_state {
	struct urt_job job;
	int64_t res;
};

static bool gate_poll(struct urt_task *t, void *arg)
{
	struct gate_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->res = urt_blocking_run(t, &st->job, gate_fn, NULL, NULL));
	URT_RETURN(t, (uint64_t)st->res);
	URT_END(t);
}

static const struct urt_task_type gate_type = { .poll = gate_poll, .name = "gate" };

static int pool_drops, pool_late;
static struct trunc_state *pool_st; /* the task's state (spawn copies it) */

static bool pool_trunc_poll(struct urt_task *t, void *arg)
{
	pool_st = arg;
	return trunc_poll(t, arg);
}

static void pool_trunc_drop(struct urt_task *t, void *arg)
{
	struct trunc_state *st = arg;

	(void)t;
	assert_false(urt_op_busy(&st->op));
	pool_late = urt_op_take_late(&st->op); /* -ENODATA: the poll took it */
	pool_drops++;
}

static const struct urt_task_type pool_trunc_type = { .poll = pool_trunc_poll,
						      .drop = pool_trunc_drop,
						      .name = "ftruncate-pool" };

/* The gate and a truncating task spawned, two ticks run: the truncate is
 * queued behind the gate. */
static void pool_start(struct urt_runtime *rt, struct trunc_state *tr, struct urt_join *gj,
		       struct urt_join *tj)
{
	static struct gate_state gs;

	assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
	memset(&gs, 0, sizeof(gs));
	memset(tr, 0, sizeof(*tr));
	tr->ret = 1; /* not yet */
	tr->fd = openat(dfd, "p", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(tr->fd >= 0);
	pool_drops = 0;
	pool_late = 1;
	test_runtime_init(rt, &(struct urt_runtime_opts){ .features_off = URT_FEAT_FTRUNCATE,
							  .blocking_threads = 1 });
	assert_int_equal(urt_spawn(rt, &gate_type, &gs, sizeof(gs), gj), 0);
	assert_int_equal(urt_spawn(rt, &pool_trunc_type, tr, sizeof(*tr), tj), 0);
	assert_int_equal(urt_tick(rt, 0), 2);
	URT_DISCARD(urt_tick(rt, 0));
	assert_int_equal(test_size_at(dfd, "p"), 0); /* not run on the loop's thread */
}

static void pool_end(struct urt_runtime *rt, struct trunc_state *tr)
{
	test_runtime_end(rt);
	close(tr->fd);
	close(gate[0]);
	close(gate[1]);
	assert_int_equal(unlinkat(dfd, "p", 0), 0);
}

static void test_ftruncate_fallback_on_pool(void **state)
{
	struct urt_runtime rt;
	struct trunc_state tr;
	struct urt_join gj, tj;

	(void)state;
	pool_start(&rt, &tr, &gj, &tj);
	assert_true(urt_op_busy(&pool_st->op));
	gate_open();
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&gj), 1);
	assert_int_equal(test_take(&tj), 0);
	assert_int_equal(test_size_at(dfd, "p"), 4096);
	assert_int_equal(pool_late, -ENODATA);
	assert_int_equal(test_stats(&rt).ops_completed, 0); /* never through the ring */
	pool_end(&rt, &tr);
}

/* urt_op_cancel of a queued fallback: it never runs; the await returns
 * -ECANCELED; a second cancel has nothing to do. */
static void test_ftruncate_fallback_cancel(void **state)
{
	struct urt_runtime rt;
	struct trunc_state tr;
	struct urt_join gj, tj;

	(void)state;
	pool_start(&rt, &tr, &gj, &tj);
	assert_int_equal(urt_op_cancel(&pool_st->op), 0);
	assert_false(urt_op_busy(&pool_st->op));
	assert_int_equal(urt_op_cancel(&pool_st->op), -EALREADY);
	assert_int_equal(urt_tick(&rt, 0), 1); /* the truncating task, woken, returns */
	assert_int_equal(test_take(&tj), -ECANCELED);
	gate_open();
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&gj), 1);
	assert_int_equal(test_size_at(dfd, "p"), 0);
	pool_end(&rt, &tr);
}

/* The task aborted with its fallback queued: the job is dropped, its drop
 * runs at once and finds -ECANCELED as the late result. */
static void test_ftruncate_fallback_abort_queued(void **state)
{
	struct urt_runtime rt;
	struct trunc_state tr;
	struct urt_join gj, tj;

	(void)state;
	pool_start(&rt, &tr, &gj, &tj);
	assert_int_equal(urt_join_abort(&tj), 0);
	URT_DISCARD(urt_tick(&rt, 0));
	assert_int_equal(pool_drops, 1);
	assert_int_equal(pool_late, -ECANCELED);
	urt_join_detach(&tj);
	gate_open();
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&gj), 1);
	assert_int_equal(test_size_at(dfd, "p"), 0);
	pool_end(&rt, &tr);
}

/* deinit with the fallback queued behind a job that ends at once: the
 * truncate either ran (a worker took it before deinit took the queue) or
 * not (-ECANCELED); the drop finds whichever it was, once. */
static void test_ftruncate_fallback_deinit(void **state)
{
	struct urt_runtime rt;
	struct trunc_state tr;
	struct urt_join gj, tj;

	(void)state;
	pool_start(&rt, &tr, &gj, &tj);
	urt_join_detach(&gj);
	urt_join_detach(&tj);
	gate_open();
	assert_int_equal(urt_runtime_deinit(&rt), 2);
	assert_int_equal(pool_drops, 1);
	assert_true(pool_late == 0 || pool_late == -ECANCELED);
	assert_int_equal(test_size_at(dfd, "p"), pool_late == 0 ? 4096 : 0);
	close(tr.fd);
	close(gate[0]);
	close(gate[1]);
	assert_int_equal(unlinkat(dfd, "p", 0), 0);
}

/* --- a path in frame memory is refused; abort with an operation in flight -------------- */

struct frame_state {
	struct urt_op op;
	int ret;
};

static bool frame_poll(struct urt_task *t, void *arg)
{
	struct frame_state *st = arg;
	char *name = urt_frame_alloc(8, 1);

	URT_BEGIN(t);
	memcpy(name, "x", 2);
	URT_AWAIT(t, st->ret = urt_mkdirat(t, &st->op, dfd, name, 0700));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type frame_type = { .poll = frame_poll, .name = "fs-frame" };

static void test_frame_path_refused(void **state)
{
	struct urt_runtime rt;
	struct frame_state st = { 0 };
	struct urt_join j;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &frame_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(test_take(&j), -EFAULT);
	assert_int_equal(test_stats(&rt).ops_submitted, 0);
	assert_int_equal(test_size_at(dfd, "x"), -ENOENT);
	test_runtime_end(&rt);
}

static int abort_drops;

struct abort_state {
	struct urt_op op;
	char *name; /* heap: freed by drop, after the kernel is done with it */
	int ret;
};

static bool abort_poll(struct urt_task *t, void *arg)
{
	struct abort_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_mkdirat(t, &st->op, dfd, st->name, 0700));
	URT_RETURN(t, 0);
	URT_END(t);
}

static void abort_drop(struct urt_task *t, void *arg)
{
	struct abort_state *st = arg;

	(void)t;
	assert_false(urt_op_busy(&st->op));
	free(st->name);
	abort_drops++;
}

static const struct urt_task_type abort_type = { .poll = abort_poll,
						 .drop = abort_drop,
						 .name = "fs-abort" };

static void test_abort_in_flight(void **state)
{
	struct urt_runtime rt;
	struct abort_state st = { 0 };
	struct urt_join j;

	(void)state;
	abort_drops = 0;
	st.name = strdup("a");
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &abort_type, &st, sizeof(st), &j), 0);
	/* one tick: polled, the mkdirat submitted; then aborted in flight */
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(abort_drops, 1);
	urt_join_detach(&j);
	test_runtime_end(&rt);
	/* the kernel may have made it before the cancel reached it */
	if (test_size_at(dfd, "a") != -ENOENT)
		assert_int_equal(unlinkat(dfd, "a", AT_REMOVEDIR), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_ops),
		cmocka_unit_test(test_fs_ops_ftruncate_fallback),
		cmocka_unit_test(test_ftruncate_paths),
		cmocka_unit_test(test_ftruncate_fallback_on_pool),
		cmocka_unit_test(test_ftruncate_fallback_cancel),
		cmocka_unit_test(test_ftruncate_fallback_abort_queued),
		cmocka_unit_test(test_ftruncate_fallback_deinit),
		cmocka_unit_test(test_frame_path_refused),
		cmocka_unit_test(test_abort_in_flight),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
