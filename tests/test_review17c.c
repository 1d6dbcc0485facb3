/* SPDX-License-Identifier: MIT */
/*
 * test_review17c.c - the third review of issue 17: the signal hub under
 * threads (subscribe / unsubscribe beside urt_signal_hub_send and kill),
 * a subscription's stream aborted with its read in flight then
 * unsubscribed and the hub deinit'ed, and the file-system calls with
 * paths in frame and task memory, bad descriptors, and each documented
 * error, through the ring and through the ftruncate fallback.
 *
 * main blocks SIGUSR1/SIGUSR2 (urt_signal_hub_init) before any thread
 * starts, as urt/signal.h asks.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
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

/* --- the hub under threads -------------------------------------------------------- */

#define NODES  3
#define ROUNDS 20

struct reader {
	struct urt_signal_stream s;
	int got;
};

static bool reader_poll(struct urt_task *t, void *arg)
{
	struct reader *r = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, r->got = urt_signal_recv(t, &r->s));
	URT_RETURN(t, (uint64_t)r->got);
	URT_END(t);
}

static void reader_drop(struct urt_task *t, void *arg)
{
	(void)t;
	urt_signal_close(&((struct reader *)arg)->s); /* its dup of the eventfd */
}

static const struct urt_task_type reader_type = { .poll = reader_poll,
						  .drop = reader_drop,
						  .name = "reader" };

static struct urt_signal_hub hub;
static atomic_int nodes_done;

/*
 * A runtime thread: ROUNDS times subscribe, read one signal (the sender
 * keeps sending), unsubscribe; every other round the reader is aborted
 * with its read in flight instead, and the subscription dropped after.
 */
static void *node_main(void *arg)
{
	struct urt_runtime rt;

	(void)arg;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	for (int i = 0; i < ROUNDS; i++) {
		struct urt_signal_sub *sub;
		struct reader r = { 0 };
		struct urt_join j;
		uint64_t out = 0;

		assert_int_equal(urt_signal_subscribe(&hub, &sub), 0);
		assert_int_equal(urt_signal_attach(&r.s, sub), 0);
		assert_int_equal(urt_spawn(&rt, &reader_type, &r, sizeof(r), &j), 0);
		if (i & 1) {
			assert_true(urt_tick(&rt, 0) >= 0);
			assert_int_equal(urt_join_abort(&j), 0);
		}
		assert_int_equal(urt_run(&rt), 0);
		if (i & 1) {
			/* cancelled, or the signal won the race: both are fine */
			int ret = urt_join_take(&j, &out);

			assert_true(ret == -ECANCELED ||
				    (ret == 0 && (out == SIGUSR1 || out == SIGUSR2)));
		} else {
			assert_int_equal(urt_join_take(&j, &out), 0);
			assert_true(out == SIGUSR1 || out == SIGUSR2);
		}
		urt_signal_unsubscribe(sub);
	}
	test_runtime_end(&rt);
	atomic_fetch_add(&nodes_done, 1);
	return NULL;
}

static void *waiter_main(void *arg)
{
	(void)arg;
	/* takes every kill until the final SIGUSR2 of main */
	while (urt_signal_hub_wait(&hub) != SIGUSR2)
		;
	return NULL;
}

static void test_hub_threads(void **state)
{
	pthread_t th[NODES], waiter;
	sigset_t set;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	assert_int_equal(urt_signal_hub_init(&hub, &set), 0);
	atomic_store(&nodes_done, 0);
	for (int i = 0; i < NODES; i++)
		assert_int_equal(pthread_create(&th[i], NULL, node_main, NULL), 0);
	assert_int_equal(pthread_create(&waiter, NULL, waiter_main, NULL), 0);
	/* bounded: the nodes need NODES * ROUNDS signals at most */
	for (long n = 0; atomic_load(&nodes_done) < NODES && n < 2000000; n++) {
		if (n % 2)
			assert_int_equal(kill(getpid(), SIGUSR1), 0);
		else
			assert_int_equal(urt_signal_hub_send(&hub, SIGUSR1), 0);
		usleep(100); /* pacing only, nothing is timed */
	}
	assert_int_equal(atomic_load(&nodes_done), NODES);
	for (int i = 0; i < NODES; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(kill(getpid(), SIGUSR2), 0);
	assert_int_equal(pthread_join(waiter, NULL), 0);
	assert_null(hub.subs);
	urt_signal_hub_deinit(&hub);
}

/* --- aborted with its read in flight, unsubscribed, the hub deinit'ed ------------- */

/*
 * The usual order: the runtime reclaims the aborted task (the read
 * cancelled), then unsubscribe, then the hub. Here unsubscribe comes
 * before the runtime has reaped the cancel (the task has not ended): the
 * slot's eventfd is closed under the in-flight read, which reads the
 * stream's own descriptor of it, and the slot stays with the hub until
 * hub_deinit, so ASan must stay quiet.
 */
static void test_abort_unsub_deinit(void **state)
{
	struct urt_runtime rt;
	struct urt_signal_hub h;
	struct urt_signal_sub *sub, *other;
	struct reader r = { 0 };
	struct urt_join j;
	sigset_t set;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(urt_signal_hub_init(&h, &set), 0);
	assert_int_equal(urt_signal_subscribe(&h, &sub), 0);
	assert_int_equal(urt_signal_subscribe(&h, &other), 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_signal_attach(&r.s, sub), 0);
	assert_int_equal(urt_spawn(&rt, &reader_type, &r, sizeof(r), &j), 0);
	assert_true(urt_tick(&rt, 0) >= 1); /* the read is in flight */
	assert_int_equal(urt_join_abort(&j), 0);
	urt_signal_unsubscribe(sub);
	assert_int_equal(urt_signal_hub_send(&h, SIGUSR1), 0); /* reaches `other` only */
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), -ECANCELED);
	test_runtime_end(&rt);
	urt_signal_hub_deinit(&h); /* frees `other` */
}

/*
 * A stream read after its subscription was unsubscribed, and the next
 * subscription took the slot (and the eventfd's number). It used to read
 * the new eventfd and swap the freed sub's `pending` (ASan:
 * heap-use-after-free in urt_signal_recv). Now the slot stays with the
 * hub, the stream's generation no longer matches, and recv answers -EBADF
 * before it submits anything: the new subscription keeps its signal.
 */
static void test_recv_after_unsubscribe(void **state)
{
	struct urt_runtime rt;
	struct urt_signal_hub h;
	struct urt_signal_sub *sub, *next;
	struct reader r = { 0 };
	struct urt_join j;
	uint64_t out;
	sigset_t set;

	(void)state;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(urt_signal_hub_init(&h, &set), 0);
	assert_int_equal(urt_signal_subscribe(&h, &sub), 0);
	assert_int_equal(urt_signal_attach(&r.s, sub), 0);
	urt_signal_unsubscribe(sub);
	assert_int_equal(urt_signal_subscribe(&h, &next), 0); /* same slot, same fd number */
	assert_ptr_equal(next, sub);
	assert_int_equal(urt_signal_hub_send(&h, SIGUSR1), 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &reader_type, &r, sizeof(r), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal((int)out, -EBADF);
	/* the signal is still the new subscription's */
	assert_int_equal(urt_signal_attach(&r.s, next), 0);
	assert_int_equal(urt_spawn(&rt, &reader_type, &r, sizeof(r), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal((int)out, SIGUSR1);
	test_runtime_end(&rt);
	urt_signal_hub_deinit(&h);
}

/* --- file-system calls: memory of paths, bad descriptors, documented errors ------- */

static char dir[] = "/tmp/urt-test-r17c-XXXXXX";
static int dfd = -1;
static int got[40], nstep;

struct fs_state {
	struct urt_op op;
	char *tp; /* a path in task memory */
	char *fp; /* a path in frame memory */
	int fd, rofd, pfd[2], ret;
};

#define STEP(t, st, expr)                                                                          \
	do {                                                                                       \
		URT_AWAIT(t, (st)->ret = (expr));                                                  \
		got[nstep++] = (st)->ret;                                                          \
	} while (0)

static bool fs_poll(struct urt_task *t, void *arg)
{
	struct fs_state *st = arg;

	URT_BEGIN(t);
	st->tp = urt_task_alloc(t, 16);
	if (!st->tp)
		URT_RETURN(t, 100);
	strcpy(st->tp, "td");
	STEP(t, st, urt_mkdirat(t, &st->op, dfd, st->tp, 0700)); /* 0: task memory */
	st->fp = urt_frame_alloc(16, 1);
	strcpy(st->fp, "fd");
	STEP(t, st, urt_mkdirat(t, &st->op, dfd, st->fp, 0700)); /* 1: frame */
	st->fp = urt_frame_alloc(16, 1);
	strcpy(st->fp, "fd");
	STEP(t, st, urt_renameat(t, &st->op, dfd, st->tp, dfd, st->fp, 0)); /* 2 */
	st->fp = urt_frame_alloc(16, 1);
	strcpy(st->fp, "x");
	STEP(t, st, urt_symlinkat(t, &st->op, st->fp, dfd, "s"));	    /* 3 */
	STEP(t, st, urt_symlinkat(t, &st->op, "", dfd, "s"));		    /* 4 */
	STEP(t, st, urt_linkat(t, &st->op, dfd, st->tp, dfd, "l", 0));	    /* 5: dir */
	STEP(t, st, urt_renameat(t, &st->op, dfd, st->tp, dfd, "z", 0x40)); /* 6 */
	STEP(t, st, urt_mkdirat(t, &st->op, -1, "rel", 0700));		    /* 7 */
	STEP(t, st, urt_unlinkat(t, &st->op, 12345, "rel", 0));		    /* 8 */
	URT_AWAIT(t, st->fd = urt_openat(t, &st->op, dfd, "f", O_RDWR | O_CREAT, 0600));
	URT_AWAIT(t, st->rofd = urt_openat(t, &st->op, dfd, "f", O_RDONLY, 0));
	if (st->fd < 0 || st->rofd < 0 || pipe2(st->pfd, O_CLOEXEC))
		URT_RETURN(t, 101);
	STEP(t, st, urt_fallocate(t, &st->op, st->rofd, 0, 0, 10));	 /* 9 */
	STEP(t, st, urt_fallocate(t, &st->op, st->pfd[1], 0, 0, 10));	 /* 10 */
	STEP(t, st, urt_fallocate(t, &st->op, st->fd, 0, INT64_MAX, 1)); /* 11 */
	STEP(t, st, urt_ftruncate(t, &st->op, st->pfd[1], 0));		 /* 12 */
	STEP(t, st, urt_ftruncate(t, &st->op, dfd, 0));			 /* 13 */
	STEP(t, st, urt_ftruncate(t, &st->op, st->fd, INT64_MAX));	 /* 14 */
	STEP(t, st, urt_ftruncate(t, &st->op, 12345, 0));		 /* 15 */
	STEP(t, st, urt_ftruncate(t, &st->op, st->fd, 3));		 /* 16 */
	close(st->pfd[0]);
	close(st->pfd[1]);
	STEP(t, st, urt_close(t, &st->op, st->fd));
	STEP(t, st, urt_close(t, &st->op, st->rofd));
	STEP(t, st, urt_unlinkat(t, &st->op, dfd, "f", 0));
	STEP(t, st, urt_unlinkat(t, &st->op, dfd, "td", AT_REMOVEDIR)); /* 20 */
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type fs_type = { .poll = fs_poll, .name = "fs17c" };

static void run_fs(uint32_t off)
{
	/* each as its prototype's comment says */
	static const int want[] = {
		0,	 /* mkdirat, path in task memory */
		-EFAULT, /* mkdirat, path in frame memory: refused */
		-EFAULT, /* renameat, newpath in frame memory */
		-EFAULT, /* symlinkat, target in frame memory */
		-ENOENT, /* symlinkat, target "" */
		-EPERM,	 /* linkat, oldpath a directory */
		-EINVAL, /* renameat, bad flags */
		-EBADF,	 /* mkdirat, dfd -1 with a relative path */
		-EBADF,	 /* unlinkat, a dfd not open */
		-EBADF,	 /* fallocate, fd not open for writing */
		-ESPIPE, /* fallocate on a pipe (the header said -ENODEV) */
		-EFBIG,	 /* fallocate, off + len beyond the largest size */
		-EINVAL, /* ftruncate on a pipe: not a regular file */
		-EINVAL, /* ftruncate on a directory */
		-EFBIG,	 /* ftruncate beyond the largest size */
		-EBADF,	 /* ftruncate, fd not open */
		0,	 0, 0, 0, 0,
	};
	struct urt_runtime rt;
	static struct fs_state st;
	struct urt_join j;
	uint64_t out;

	st = (struct fs_state){ .fd = -1 };
	nstep = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .features_off = off });
	assert_int_equal(urt_spawn(&rt, &fs_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0);
	test_runtime_end(&rt);
	for (int i = 0; i < (int)(sizeof(want) / sizeof(want[0])); i++) {
		if (got[i] != want[i])
			print_error("step %d: got %d want %d\n", i, got[i], want[i]);
	}
	assert_int_equal(nstep, (int)(sizeof(want) / sizeof(want[0])));
	for (int i = 0; i < nstep; i++)
		assert_int_equal(got[i], want[i]);
}

/* --- the await-argument check covers the fs calls ------------------------------------ */

/*
 * Debug builds fingerprint (fd, buf, len) of every single operation and
 * report a re-evaluation that passes other ones (test_await_args.c). The
 * fs calls started through urt__op_begin (no fd, no buffer): their
 * fingerprint was constant, so the trap (the result stored where an
 * argument is read from) went unreported for them: here the fd becomes
 * URT_PENDING on the second evaluation, and so does the path's pointer.
 */
static char report[512];
static int reports;

static void hook(void *ctx, const char *msg)
{
	(void)ctx;
	reports++;
	snprintf(report, sizeof(report), "%s", msg);
}

struct trap {
	struct urt_op op;
	int fd;	       /* the file, then (the trap) the result */
	const char *p; /* wrong: advanced while the unlink is pending */
	int ret;
};

static bool trunc_trap_poll(struct urt_task *t, void *arg)
{
	struct trap *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->fd = urt_ftruncate(t, &st->op, st->fd, 0));
	URT_RETURN(t, (uint64_t)(int64_t)st->fd);
	URT_END(t);
}

static bool unlink_trap_poll(struct urt_task *t, void *arg)
{
	struct trap *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_unlinkat(t, &st->op, dfd, st->p++, 0));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type trunc_trap_type = { .poll = trunc_trap_poll, .name = "trunc" };
static const struct urt_task_type unlink_trap_type = { .poll = unlink_trap_poll, .name = "unl" };

static void run_trap(const struct urt_task_type *type, struct trap *st, const char *call,
		     uint32_t off)
{
	struct urt_runtime rt;
	struct urt_join j;

	reports = 0;
	report[0] = 0;
	test_runtime_init(&rt,
			  &(struct urt_runtime_opts){ .debug_hook = hook, .features_off = off });
	assert_int_equal(urt_spawn(&rt, type, st, sizeof(*st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	if (test_stats(&rt).features & URT_FEAT_DEBUG_CHECKS) {
		assert_int_equal(reports, 1);
		assert_non_null(strstr(report, call));
		assert_non_null(strstr(report, "re-evaluated"));
	} else {
		assert_int_equal(reports, 0);
	}
	test_runtime_end(&rt);
}

static void test_fs_args_checked(void **state)
{
	struct trap st = { 0 };
	int fd;

	(void)state;
	fd = openat(dfd, "t", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	st = (struct trap){ .fd = fd };
	run_trap(&trunc_trap_type, &st, "urt_ftruncate", 0);
	st = (struct trap){ .fd = fd }; /* the fallback, on the blocking pool */
	run_trap(&trunc_trap_type, &st, "urt_ftruncate", URT_FEAT_FTRUNCATE);
	close(fd);
	st = (struct trap){ .p = "t" };
	run_trap(&unlink_trap_type, &st, "urt_unlinkat", 0);
}

/* --- a path in task memory, the task aborted with the call in flight ---------------- */

struct mk {
	struct urt_op op;
	char *p;
	int ret;
};

static bool mk_poll(struct urt_task *t, void *arg)
{
	struct mk *st = arg;

	URT_BEGIN(t);
	st->p = urt_task_alloc(t, 32);
	if (!st->p)
		URT_RETURN(t, 100);
	strcpy(st->p, "aborted");
	URT_AWAIT(t, st->ret = urt_mkdirat(t, &st->op, dfd, st->p, 0700));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type mk_type = { .poll = mk_poll, .name = "mk" };

/*
 * The block is freed when the slot is reclaimed, which waits for the
 * operation's completion (io-wq runs mkdirat; a running one is not
 * cancelled): ASan sees no touch of it after. Either outcome of the race
 * is fine; the directory is removed if it was made.
 */
static void test_fs_abort_task_path(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++) {
		struct urt_runtime rt;
		struct mk st = { 0 };
		struct urt_join j;
		uint64_t out = 0;
		int ret;

		test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
		assert_int_equal(urt_spawn(&rt, &mk_type, &st, sizeof(st), &j), 0);
		assert_true(urt_tick(&rt, 0) >= 0);
		assert_int_equal(urt_join_abort(&j), 0);
		assert_int_equal(urt_run(&rt), 0);
		ret = urt_join_take(&j, &out);
		assert_true(ret == -ECANCELED || (ret == 0 && out == 0));
		test_runtime_end(&rt);
		if (unlinkat(dfd, "aborted", AT_REMOVEDIR))
			assert_int_equal(errno, ENOENT);
	}
}

static void test_fs_ring(void **state)
{
	(void)state;
	run_fs(0);
}

static void test_fs_fallback(void **state)
{
	(void)state;
	run_fs(URT_FEAT_FTRUNCATE);
}

static int fs_setup(void **state)
{
	(void)state;
	dfd = test_tmpdir(dir);
	return dfd < 0 ? -1 : 0;
}

static int fs_teardown(void **state)
{
	(void)state;
	return test_tmpdir_remove(dfd, dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hub_threads),
		cmocka_unit_test(test_abort_unsub_deinit),
		cmocka_unit_test(test_recv_after_unsubscribe),
		cmocka_unit_test(test_fs_ring),
		cmocka_unit_test(test_fs_fallback),
		cmocka_unit_test(test_fs_args_checked),
		cmocka_unit_test(test_fs_abort_task_path),
	};

	if (fs_setup(NULL))
		return 1;
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	fs_teardown(NULL);
	return ret;
}
