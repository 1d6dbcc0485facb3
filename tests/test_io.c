/* SPDX-License-Identifier: MIT */
/*
 * test_io.c - operations through the ring: files, sleeps in order, cancel,
 * deadlines, the frame-buffer refusal, spurious wakes, several ops in
 * flight, a task that returns with ops in flight, deinit with ops in
 * flight, and splice (file -> pipe -> socket). Every test ends with nothing
 * live.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/openat2.h>

#include "support/test_support.h"
#include "urt/urt.h"

/* Run until idle and check that nothing of the I/O layer is left live. */
static void run_clean(struct urt_runtime *rt)
{
	assert_int_equal(urt_run(rt), 0);
	test_assert_clean(rt);
}

static int64_t take(struct urt_join *j)
{
	uint64_t out;

	assert_int_equal(urt_join_take(j, &out), 0);
	return (int64_t)out;
}

static char tmpl[] = "/tmp/urt-test-io-XXXXXX";

/* --- files ---------------------------------------------------------------- */

struct file_state {
	const char *path;
	struct urt_op op;
	struct urt_io_all all;
	int fd, ret, i;
	char out[8192], in[8192];
	struct statx stx;
};

static bool file_poll(struct urt_task *t, void *arg)
{
	struct file_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->fd = urt_openat(t, &st->op, AT_FDCWD, st->path, O_RDWR | O_CREAT | O_TRUNC,
					 0600));
	if (st->fd < 0)
		URT_RETURN(t, 1);
	for (size_t i = 0; i < sizeof(st->out); i++)
		st->out[i] = (char)(i * 7 + 3);
	URT_AWAIT(t, st->ret = urt_write_all(t, &st->all, st->fd, st->out, sizeof(st->out), 0));
	if (st->ret != (int)sizeof(st->out))
		URT_RETURN(t, 2);
	URT_AWAIT(t, st->ret = urt_fsync(t, &st->op, st->fd, false));
	if (st->ret)
		URT_RETURN(t, 3);
	URT_AWAIT(t, st->ret = urt_read_exact(t, &st->all, st->fd, st->in, sizeof(st->in), 0));
	if (st->ret != (int)sizeof(st->in) || memcmp(st->in, st->out, sizeof(st->in)))
		URT_RETURN(t, 4);
	/* at the end of the file a read returns what there is */
	URT_AWAIT(t, st->ret = urt_read_exact(t, &st->all, st->fd, st->in, 100, 8150));
	if (st->ret != 42)
		URT_RETURN(t, 5);
	/* one-byte results, one after another on one handle: a result of 1
	 * must not be taken for anything but a result */
	for (st->i = 0; st->i < 3; st->i++) {
		URT_AWAIT(t, st->ret = urt_read(t, &st->op, st->fd, st->in, 1, st->i));
		if (st->ret != 1 || st->in[0] != st->out[st->i])
			URT_RETURN(t, 9);
	}
	URT_AWAIT(t, st->ret = urt_statx(t, &st->op, AT_FDCWD, st->path, 0, STATX_SIZE, &st->stx));
	if (st->ret || st->stx.stx_size != sizeof(st->out))
		URT_RETURN(t, 6);
	URT_AWAIT(t, st->ret = urt_close(t, &st->op, st->fd));
	if (st->ret)
		URT_RETURN(t, 7);
	URT_AWAIT(t, st->ret = urt_openat(t, &st->op, AT_FDCWD, "/nonexistent/x", O_RDONLY, 0));
	URT_RETURN(t, st->ret == -ENOENT ? 0 : 8);
	URT_END(t);
}

static const struct urt_task_type file_type = { .poll = file_poll, .name = "file" };

static void test_file_io(void **state)
{
	struct urt_runtime rt;
	static struct file_state st;
	struct urt_join j;
	char path[sizeof(tmpl)];
	int fd;

	(void)state;
	memcpy(path, tmpl, sizeof(tmpl));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	st = (struct file_state){ .path = path };
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &file_type, &st, sizeof(st), &j), 0);
	run_clean(&rt);
	assert_int_equal(take(&j), 0);
	test_runtime_end(&rt);
	unlink(path);
}

/* --- sleeps: order by deadline ------------------------------------------------- */

#define SLEEPERS 64

static int fired[SLEEPERS], nfired;

struct sleep_state {
	struct urt_op op;
	uint64_t deadline;
	int id, ret;
};

static bool sleep_poll(struct urt_task *t, void *arg)
{
	struct sleep_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_sleep_until(t, &st->op, st->deadline));
	fired[nfired++] = st->id;
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type sleep_type = { .poll = sleep_poll, .name = "sleep" };

/*
 * SLEEPERS sleeps spawned in a shuffled order, deadlines base + 1..64 ms
 * apart by id: they fire in id order. The deadlines are absolute, taken
 * from one reading of the clock: relative sleeps (urt_sleep) each count
 * from their own first poll, so a tick preempted for more than a
 * millisecond between two polls reordered them (8 of 40 tsan runs beside
 * a busy loop).
 */
static void sleeps_in_order(uint64_t base)
{
	struct urt_runtime rt;
	struct urt_join j[SLEEPERS];

	nfired = 0;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	for (int i = 0; i < SLEEPERS; i++) {
		int id = (i * 37) % SLEEPERS;
		struct sleep_state st = { .deadline = base + (uint64_t)(id + 1) * 1000000u,
					  .id = id };

		assert_int_equal(urt_spawn(&rt, &sleep_type, &st, sizeof(st), &j[id]), 0);
	}
	run_clean(&rt);
	assert_int_equal(nfired, SLEEPERS);
	for (int i = 0; i < SLEEPERS; i++) {
		assert_int_equal(fired[i], i);
		assert_int_equal(take(&j[i]), 0);
	}
	assert_int_equal(test_stats(&rt).timers_fired, SLEEPERS);
	test_runtime_end(&rt);
}

static void test_sleeps_fire_in_deadline_order(void **state)
{
	(void)state;
	sleeps_in_order(urt_now_ns());
}

/* Deadlines long past when armed (1..64 ms after the clock's start): they
 * all fire in the first tick, and still in deadline order (urt/time.h). */
static void test_past_sleeps_fire_in_deadline_order(void **state)
{
	(void)state;
	sleeps_in_order(0);
}

/* --- cancel, deadline, several ops at once ------------------------------------------ */

struct pair_state {
	int fds[2];
	struct urt_op rx, nap, tx;
	char buf[16];
	int r_rx, r_nap, r_tx, step;
};

/* A recv on an idle socket with a sleep beside it: the sleep fires first,
 * the recv is cancelled, then a recv with a deadline times out. */
static bool pair_poll(struct urt_task *t, void *arg)
{
	struct pair_state *st = arg;

	URT_BEGIN(t);
	/* two operations in flight; wake on either */
	URT_AWAIT(t, (st->r_rx = urt_recv(t, &st->rx, st->fds[0], st->buf, sizeof(st->buf), 0)) !=
					     URT_PENDING ||
				     (st->r_nap = urt_sleep(t, &st->nap, 2000000)) != URT_PENDING
			     ? 0
			     : URT_PENDING);
	if (st->r_nap != 0 || st->r_rx != URT_PENDING)
		URT_RETURN(t, 1);
	if (urt_op_cancel(&st->rx) != 0 || urt_op_cancel(&st->rx) != -EALREADY)
		URT_RETURN(t, 2);
	URT_AWAIT(t, st->r_rx = urt_recv(t, &st->rx, st->fds[0], st->buf, sizeof(st->buf), 0));
	if (st->r_rx != -ECANCELED || urt_op_timed_out(&st->rx))
		URT_RETURN(t, 3);
	urt_op_set_timeout(&st->rx, 1000000);
	URT_AWAIT(t, st->r_rx = urt_recv(t, &st->rx, st->fds[0], st->buf, sizeof(st->buf), 0));
	if (st->r_rx != -ECANCELED || !urt_op_timed_out(&st->rx))
		URT_RETURN(t, 4);
	/* a deadline that does not fire leaves the result alone */
	urt_op_set_timeout(&st->tx, 1000000000);
	URT_AWAIT(t, st->r_tx = urt_send(t, &st->tx, st->fds[1], "hello", 5, 0));
	if (st->r_tx != 5 || urt_op_timed_out(&st->tx))
		URT_RETURN(t, 5);
	urt_op_set_timeout(&st->rx, 0);
	URT_AWAIT(t, st->r_rx = urt_recv(t, &st->rx, st->fds[0], st->buf, sizeof(st->buf), 0));
	if (st->r_rx != 5 || memcmp(st->buf, "hello", 5))
		URT_RETURN(t, 6);
	/* a sleep cancelled at once */
	if (urt_sleep(t, &st->nap, 1000000000) != URT_PENDING || urt_op_cancel(&st->nap))
		URT_RETURN(t, 7);
	URT_AWAIT(t, st->r_nap = urt_sleep(t, &st->nap, 1000000000));
	URT_RETURN(t, st->r_nap == -ECANCELED ? 0 : 8);
	URT_END(t);
}

static const struct urt_task_type pair_type = { .poll = pair_poll, .name = "pair" };

static void test_cancel_deadline_and_two_ops(void **state)
{
	struct urt_runtime rt;
	struct pair_state st = { 0 };
	struct urt_join j;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st.fds), 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &pair_type, &st, sizeof(st), &j), 0);
	run_clean(&rt);
	assert_int_equal(take(&j), 0);
	assert_true(test_stats(&rt).ops_cancelled >= 1);
	test_runtime_end(&rt);
	close(st.fds[0]);
	close(st.fds[1]);
}

/* --- frame memory is refused at submit ---------------------------------------------- */

struct frame_state {
	struct urt_op op;
	int fd, ret;
};

static bool frame_poll(struct urt_task *t, void *arg)
{
	struct frame_state *st = arg;
	char *scratch = urt_frame_alloc(64, 16);

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_read(t, &st->op, st->fd, scratch, 64, 0));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type frame_type = { .poll = frame_poll, .name = "frame-io" };

static void test_frame_buffer_refused(void **state)
{
	struct urt_runtime rt;
	struct frame_state st = { 0 };
	struct urt_join j;

	(void)state;
	st.fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	assert_true(st.fd >= 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &frame_type, &st, sizeof(st), &j), 0);
	run_clean(&rt);
	assert_int_equal(take(&j), -EFAULT);
	assert_int_equal(test_stats(&rt).ops_submitted, 0);
	test_runtime_end(&rt);
	close(st.fd);
}

/* --- returning or aborted with ops in flight: drop after the last CQE ------------------ */

static int drops_seen_inflight; /* drop saw an op still in flight: must stay 0 */
static int drops;

struct leave_state {
	int fds[2];
	struct urt_op rx, nap;
	char *heap_buf; /* freed by drop: the kernel must be done with it */
	int mode;	/* 0: return at once; 1: park forever (abort) */
};

static bool leave_poll(struct urt_task *t, void *arg)
{
	struct leave_state *st = arg;

	URT_BEGIN(t);
	(void)urt_recv(t, &st->rx, st->fds[0], st->heap_buf, 4096, 0);
	(void)urt_sleep(t, &st->nap, 60ull * 1000000000u);
	if (st->mode == 0)
		URT_RETURN(t, 99);
	URT_AWAIT(t, URT_PENDING);
	URT_END(t);
}

static void leave_drop(struct urt_task *t, void *arg)
{
	struct leave_state *st = arg;

	(void)t;
	if (urt_op_busy(&st->rx))
		drops_seen_inflight++;
	free(st->heap_buf);
	drops++;
}

static const struct urt_task_type leave_type = { .poll = leave_poll,
						 .drop = leave_drop,
						 .name = "leave" };

static void test_finish_and_abort_with_ops_in_flight(void **state)
{
	struct urt_runtime rt;
	struct leave_state a = { 0 }, b = { 0 };
	struct urt_join ja, jb;
	uint64_t out;

	(void)state;
	drops = drops_seen_inflight = 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a.fds), 0);
	b.fds[0] = a.fds[0];
	b.fds[1] = a.fds[1];
	a.heap_buf = malloc(4096);
	b.heap_buf = malloc(4096);
	b.mode = 1;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &leave_type, &a, sizeof(a), &ja), 0);
	assert_int_equal(urt_spawn(&rt, &leave_type, &b, sizeof(b), &jb), 0);
	assert_int_equal(urt_tick(&rt, 0), 2);
	/* a returned with a recv in flight: not finished until the kernel let go */
	assert_false(urt_join_is_finished(&ja));
	assert_int_equal(urt_join_abort(&jb), 0);
	run_clean(&rt);
	assert_int_equal(urt_join_take(&ja, &out), 0);
	assert_int_equal(out, 99);
	assert_int_equal(urt_join_take(&jb, &out), -ECANCELED);
	assert_int_equal(drops, 2);
	assert_int_equal(drops_seen_inflight, 0);
	assert_int_equal(test_stats(&rt).live, 0);
	test_runtime_end(&rt);
	close(a.fds[0]);
	close(a.fds[1]);
}

/* --- deinit with many operations in flight ------------------------------------------- */

#define PARKED 2000

static void test_deinit_with_ops_in_flight(void **state)
{
	struct urt_runtime rt;
	int fds[2];

	(void)state;
	drops = drops_seen_inflight = 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
								  .slot_size = 256 }),
		0);
	for (int i = 0; i < PARKED; i++) {
		struct leave_state st = { .fds = { fds[0], fds[1] }, .mode = 1 };

		st.heap_buf = malloc(4096);
		assert_int_equal(urt_spawn_slab(&leave_type, &st, sizeof(st), NULL), 0);
	}
	while (test_stats(&rt).polls < PARKED)
		assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(test_stats(&rt).ops_inflight, PARKED);
	assert_int_equal(test_stats(&rt).timers_live, PARKED);
	assert_int_equal(urt_runtime_deinit(&rt), PARKED);
	assert_int_equal(drops, PARKED);
	assert_int_equal(drops_seen_inflight, 0);
	close(fds[0]);
	close(fds[1]);
}

/* --- openat2: a path kept beneath a directory ------------------------------------- */

struct beneath_state {
	int dfd, inside, escape, dotdot, frame_how;
	struct urt_op op;
	struct open_how how;
};

static bool beneath_poll(struct urt_task *t, void *arg)
{
	struct beneath_state *st = *(struct beneath_state **)arg;
	struct open_how *fh;

	URT_BEGIN(t);
	st->how = (struct open_how){ .flags = O_RDONLY, .resolve = RESOLVE_BENEATH };
	URT_AWAIT(t, st->inside = urt_openat2(t, &st->op, st->dfd, "f", &st->how));
	st->how = (struct open_how){ .flags = O_RDONLY, .resolve = RESOLVE_BENEATH };
	URT_AWAIT(t, st->escape = urt_openat2(t, &st->op, st->dfd, "link", &st->how));
	st->how = (struct open_how){ .flags = O_RDONLY, .resolve = RESOLVE_BENEATH };
	URT_AWAIT(t, st->dotdot = urt_openat2(t, &st->op, st->dfd, "../x", &st->how));
	fh = urt_frame_alloc(sizeof(*fh), 8);
	*fh = (struct open_how){ .flags = O_RDONLY };
	st->frame_how = urt_openat2(t, &st->op, st->dfd, "f", fh); /* refused at once */
	URT_END(t);
}

static const struct urt_task_type beneath_type = { .poll = beneath_poll, .name = "beneath" };

static void test_openat2_beneath(void **state)
{
	struct urt_runtime rt;
	struct beneath_state st = { 0 };
	char dir[] = "/tmp/urt-test-openat2-XXXXXX", path[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_int_equal(symlink("/etc/hostname", path), 0);
	st.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(st.dfd >= 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &beneath_type, &(struct beneath_state *){ &st },
				   sizeof(struct beneath_state *), NULL),
			 0);
	run_clean(&rt);
	assert_true(st.inside >= 0);
	assert_true(fcntl(st.inside, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(st.escape, -EXDEV); /* an absolute symlink leaves the tree */
	assert_int_equal(st.dotdot, -EXDEV);
	assert_int_equal(st.frame_how, -EFAULT);
	test_runtime_end(&rt);
	close(st.inside);
	close(st.dfd);
	unlink(path);
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
}

/* --- splice: file -> pipe -> socket, byte-exact, beside a reader task ------------ */

#define SPLICE_SIZE (300000 + 7) /* past a pipe's and a socket's buffer: many rounds */
#define SPLICE_FROM 5		 /* an offset that is not page-aligned */

static unsigned char splice_file_bytes[SPLICE_SIZE], splice_got[SPLICE_SIZE];

struct splicer_state {
	int file, pipe[2], sock;
	struct urt_op op;
	int64_t off;
	size_t left, piped, rounds;
	int n, bad_fd, not_pipe, pipe_off;
};

/* Fill the pipe from the file, drain it to the socket, until the file ends. */
static bool splicer_poll(struct urt_task *t, void *arg)
{
	struct splicer_state *st = *(struct splicer_state **)arg; /* the test reads it after */

	URT_BEGIN(t);
	while (st->left) {
		URT_AWAIT(t, st->n = urt_splice(t, &st->op, st->file, st->off, st->pipe[1], -1,
						(unsigned)st->left, 0));
		if (st->n <= 0)
			URT_RETURN(t, 1);
		st->off += st->n;
		st->left -= (size_t)st->n;
		st->piped = (size_t)st->n;
		while (st->piped) { /* short splices into the socket: the rest next time */
			URT_AWAIT(t, st->n = urt_splice(t, &st->op, st->pipe[0], -1, st->sock, -1,
							(unsigned)st->piped, 0));
			if (st->n <= 0)
				URT_RETURN(t, 2);
			st->piped -= (size_t)st->n;
			st->rounds++;
		}
	}
	/* at the end of the file: 0 */
	URT_AWAIT(t, st->n = urt_splice(t, &st->op, st->file, st->off, st->pipe[1], -1, 100, 0));
	if (st->n != 0)
		URT_RETURN(t, 3);
	/* the kernel's errors, as it reports them */
	URT_AWAIT(t, st->bad_fd = urt_splice(t, &st->op, 1 << 20, 0, st->pipe[1], -1, 10, 0));
	URT_AWAIT(t, st->not_pipe = urt_splice(t, &st->op, st->file, 0, st->sock, -1, 10, 0));
	URT_AWAIT(t, st->pipe_off = urt_splice(t, &st->op, st->pipe[0], 0, st->sock, -1, 10, 0));
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type splicer_type = { .poll = splicer_poll, .name = "splicer" };

struct sink_state {
	int sock, n;
	struct urt_op op;
	size_t got;
};

static bool sink_poll(struct urt_task *t, void *arg)
{
	struct sink_state *st = *(struct sink_state **)arg;

	URT_BEGIN(t);
	while (st->got < SPLICE_SIZE - SPLICE_FROM) {
		URT_AWAIT(t, st->n = urt_recv(t, &st->op, st->sock, splice_got + st->got,
					      SPLICE_SIZE - SPLICE_FROM - st->got, 0));
		if (st->n <= 0)
			URT_RETURN(t, 1);
		st->got += (size_t)st->n;
	}
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type sink_type = { .poll = sink_poll, .name = "sink" };

/* --- urt_poll: readiness with a deadline ----------------------------------------- */

struct poll_state {
	struct urt_op op;
	int fd;
	int *first, *second;
	bool *timed_out;
};

static bool poll_poll(struct urt_task *t, void *arg)
{
	struct poll_state *s = arg;

	URT_BEGIN(t);
	urt_op_set_timeout(&s->op, 30000000u); /* nothing to read: the deadline */
	URT_AWAIT(t, *s->first = urt_poll(t, &s->op, s->fd, POLLIN));
	*s->timed_out = urt_op_timed_out(&s->op);
	urt_op_set_timeout(&s->op, 0);
	assert_int_equal(write(s->fd, "x", 1), 1); /* the peer echoes it back below */
	URT_AWAIT(t, *s->second = urt_poll(t, &s->op, s->fd, POLLIN | POLLOUT));
	URT_END(t);
}

static const struct urt_task_type poll_type = { .poll = poll_poll, .name = "poll" };

static void test_poll_with_deadline(void **state)
{
	struct urt_runtime rt;
	struct urt_join j;
	int sv[2], first = 0, second = 0;
	bool to = false;
	uint64_t out;
	char c;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(urt_spawn(&rt, &poll_type,
				   &(struct poll_state){ .fd = sv[0], .first = &first,
							 .second = &second, .timed_out = &to },
				   sizeof(struct poll_state), &j),
			 0);
	while (!urt_join_is_finished(&j)) {
		assert_true(urt_tick(&rt, 10000000u) >= 0);
		if (recv(sv[1], &c, 1, MSG_DONTWAIT) == 1)
			assert_int_equal(send(sv[1], &c, 1, 0), 1);
	}
	assert_int_equal(urt_join_take(&j, &out), 0);
	test_runtime_end(&rt);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(first, -ECANCELED);
	assert_true(to);
	assert_true(second > 0 && (second & POLLOUT));
}

static void test_splice_file_pipe_socket(void **state)
{
	struct urt_runtime rt;
	static struct splicer_state sp;
	static struct sink_state sk;
	struct urt_join js, jk;
	char path[sizeof(tmpl)];
	int sv[2];

	(void)state;
	for (size_t i = 0; i < SPLICE_SIZE; i++)
		splice_file_bytes[i] = (unsigned char)(i * 131 + (i >> 9));
	memcpy(path, tmpl, sizeof(tmpl));
	sp = (struct splicer_state){ .off = SPLICE_FROM, .left = SPLICE_SIZE - SPLICE_FROM };
	sp.file = mkstemp(path);
	assert_true(sp.file >= 0);
	unlink(path);
	assert_int_equal(write(sp.file, splice_file_bytes, SPLICE_SIZE), SPLICE_SIZE);
	assert_int_equal(pipe2(sp.pipe, O_CLOEXEC), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	sp.sock = sv[0];
	sk = (struct sink_state){ .sock = sv[1] };
	memset(splice_got, 0, sizeof(splice_got));
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	/* the splicer blocks on a full socket in the kernel's worker, while
	 * the sink on the same runtime keeps reading */
	assert_int_equal(urt_spawn(&rt, &splicer_type, &(struct splicer_state *){ &sp },
				   sizeof(struct splicer_state *), &js),
			 0);
	assert_int_equal(urt_spawn(&rt, &sink_type, &(struct sink_state *){ &sk },
				   sizeof(struct sink_state *), &jk),
			 0);
	run_clean(&rt);
	assert_int_equal(take(&js), 0);
	assert_int_equal(take(&jk), 0);
	assert_int_equal(sk.got, SPLICE_SIZE - SPLICE_FROM);
	assert_memory_equal(splice_got, splice_file_bytes + SPLICE_FROM, SPLICE_SIZE - SPLICE_FROM);
	assert_true(sp.rounds > 1);
	/* an offset leaves the file position where write(2) put it */
	assert_int_equal(lseek(sp.file, 0, SEEK_CUR), SPLICE_SIZE);
	assert_int_equal(sp.bad_fd, -EBADF);
	assert_int_equal(sp.not_pipe, -EINVAL); /* neither end is a pipe */
	assert_int_equal(sp.pipe_off, -ESPIPE); /* an offset for a pipe */
	test_runtime_end(&rt);
	close(sp.file);
	close(sp.pipe[0]);
	close(sp.pipe[1]);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_io),
		cmocka_unit_test(test_openat2_beneath),
		cmocka_unit_test(test_splice_file_pipe_socket),
		cmocka_unit_test(test_poll_with_deadline),
		cmocka_unit_test(test_sleeps_fire_in_deadline_order),
		cmocka_unit_test(test_past_sleeps_fire_in_deadline_order),
		cmocka_unit_test(test_cancel_deadline_and_two_ops),
		cmocka_unit_test(test_frame_buffer_refused),
		cmocka_unit_test(test_finish_and_abort_with_ops_in_flight),
		cmocka_unit_test(test_deinit_with_ops_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
