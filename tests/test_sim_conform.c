/* SPDX-License-Identifier: MIT */
/*
 * test_sim_conform.c - the model against the real kernel: one script of
 * operations, run by the same task code on io_uring over loopback and on
 * the simulated kernel; every result the script records must be the same
 * on both. What differs is either fixed in the model or written down in
 * docs/simulation.md as a divergence; a divergence the model has on
 * purpose is not in the script.
 *
 * The script (each step's result is recorded):
 *   1. connect to a port nobody listens on: -ECONNREFUSED
 *   2. connect, accept (single-shot): 0, a descriptor
 *   3. send 100 bytes, receive them with urt_recv: 100, 100 and the bytes
 *   4. a receive with a deadline on a silent connection: -ECANCELED, timed out
 *   5. a receive cancelled in flight: -ECANCELED
 *   6. the receive stream (multishot, provided buffers): 3 sends of 10
 *      bytes read back as 30 bytes in order; the peer's shutdown: 0 (end)
 *   7. a send after the peer closed with bytes unread: -ECONNRESET or
 *      -EPIPE (recorded as one class)
 *   8. a multishot accept: 3 connections, 3 descriptors; cancelled:
 *      -ECANCELED
 *   9. close of a descriptor that is not open: -EBADF
 *
 * A second script does the same for files: on the real kernel in a fresh
 * directory under /tmp (its descriptor the dfd), on the model from its
 * root (AT_FDCWD: the model's file system is empty at the start), with
 * the same relative names. Open and create (O_EXCL, O_TRUNC, O_APPEND,
 * O_DIRECTORY), write at an offset and at the file position, read back,
 * short reads at and past the end, statx (size, type, links), fsync and
 * fdatasync, ftruncate, fallocate, mkdirat, renameat (and
 * RENAME_NOREPLACE, RENAME_EXCHANGE, a directory into itself), unlinkat
 * (and AT_REMOVEDIR), openat2, a receive on a file (-ENOTSOCK), a file
 * read after its name is gone, and the errors: -EEXIST, -ENOENT,
 * -ENOTDIR, -EISDIR, -ENOTEMPTY, -EBADF, -EINVAL. It removes all it made, so the
 * directory is empty again at the end.
 *
 * A third script runs in each provided-buffer mode (one buffer a
 * completion, in part, bundles): how a stream's bytes are cut into
 * buffers, bundles and the per-arm byte limit, and zero-copy sends with
 * their notifications (test_conform_bufs, below).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

#define NREC 128

struct script {
	struct urt_op op, op2;
	struct urt_io_all io;
	struct urt_buf buf;
	struct sockaddr_in sa, dead;
	int lfd, c1, s1, c2, s2, c3[3], a3[3], i, n, got;
	char in[128], out[128];
};

/* What the script records (the task's state is its own copy: spawn copies it). */
static int rec[NREC], nrec;

#define REC(st, v) ((void)(st), rec[nrec++] = (v))

static int errclass(int v)
{
	return v == -EPIPE ? -ECONNRESET : v; /* a reset peer: either, by timing */
}

static bool script_poll(struct urt_task *t, void *arg)
{
	struct script *st = arg;

	URT_BEGIN(t);
	/* 1: nobody listens on st->dead's port */
	URT_AWAIT(t, st->c1 = urt_socket(t, &st->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	URT_AWAIT(t, st->n = urt_connect(t, &st->op, st->c1, (struct sockaddr *)&st->dead,
					 sizeof(st->dead)));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->c1));
	REC(st, st->n);
	/* 2 */
	URT_AWAIT(t, st->c1 = urt_socket(t, &st->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	URT_AWAIT(t, st->n = urt_connect(t, &st->op, st->c1, (struct sockaddr *)&st->sa,
					 sizeof(st->sa)));
	REC(st, st->n);
	URT_AWAIT(t, st->s1 = urt_accept(t, &st->op, st->lfd, NULL, NULL));
	REC(st, st->s1 >= 0);
	/* 3 */
	memset(st->out, 'a', 100);
	URT_AWAIT(t, st->n = urt_send_all(t, &st->io, st->c1, st->out, 100));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_recv_exact(t, &st->io, st->s1, st->in, 100));
	REC(st, st->n);
	REC(st, !memcmp(st->in, st->out, 100));
	/* 4 */
	urt_op_set_timeout(&st->op, 5 * 1000 * 1000);
	URT_AWAIT(t, st->n = urt_recv(t, &st->op, st->s1, st->in, sizeof(st->in), 0));
	REC(st, st->n);
	REC(st, urt_op_timed_out(&st->op));
	urt_op_set_timeout(&st->op, 0);
	/* 5: cancelled at once, from its own task */
	st->n = urt_recv(t, &st->op, st->s1, st->in, sizeof(st->in), 0);
	REC(st, st->n == URT_PENDING);
	REC(st, urt_op_cancel(&st->op));
	URT_AWAIT(t, st->n = urt_recv(t, &st->op, st->s1, st->in, sizeof(st->in), 0));
	REC(st, st->n);
	/* 6 */
	for (st->i = 0; st->i < 3; st->i++) {
		memset(st->out, '0' + st->i, 10);
		URT_AWAIT(t, st->n = urt_send_all(t, &st->io, st->c1, st->out, 10));
		REC(st, st->n);
	}
	URT_AWAIT(t, st->n = urt_shutdown(t, &st->op2, st->c1, SHUT_WR));
	REC(st, st->n);
	for (st->got = 0;;) {
		URT_AWAIT(t, st->n = urt_recv_stream(t, &st->op, st->s1, &st->buf));
		if (st->n <= 0)
			break;
		if (st->got + st->n <= (int)sizeof(st->in))
			memcpy(st->in + st->got, st->buf.data, (size_t)st->n);
		st->got += st->n;
		URT_DISCARD(urt_buf_free(&st->buf));
	}
	REC(st, st->n);
	REC(st, st->got);
	REC(st, !memcmp(st->in, "0000000000111111111122222222220", 30));
	/* 7: the server's end closes with bytes unread: the client's sends fail */
	URT_AWAIT(t, st->n = urt_send_all(t, &st->io, st->s1, "x", 1)); /* unread by c1 */
	URT_AWAIT(t, st->n = urt_send_all(t, &st->io, st->c1, "late", 4));
	REC(st, st->n);					     /* c1's write side is shut down */
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->c1)); /* with "x" unread: a reset */
	REC(st, st->n);
	for (st->i = 0; st->i < 50; st->i++) {
		URT_AWAIT(t, st->n = urt_send(t, &st->op, st->s1, "y", 1, MSG_NOSIGNAL));
		if (st->n < 0)
			break;
		URT_AWAIT(t, st->n = urt_sleep(t, &st->op, 1000 * 1000));
	}
	REC(st, errclass(st->n));
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->s1));
	REC(st, st->n);
	/* 8 */
	for (st->i = 0; st->i < 3; st->i++) {
		URT_AWAIT(t, st->c3[st->i] = urt_socket(t, &st->op, AF_INET,
							SOCK_STREAM | SOCK_CLOEXEC, 0));
		URT_AWAIT(t, st->n = urt_connect(t, &st->op, st->c3[st->i],
						 (struct sockaddr *)&st->sa, sizeof(st->sa)));
		REC(st, st->n);
	}
	for (st->i = 0; st->i < 3; st->i++) {
		URT_AWAIT(t, st->a3[st->i] = urt_accept_stream(t, &st->op, st->lfd));
		REC(st, st->a3[st->i] >= 0);
	}
	REC(st, urt_op_cancel(&st->op));
	URT_AWAIT(t, st->n = urt_accept_stream(t, &st->op, st->lfd));
	REC(st, st->n);
	for (st->i = 0; st->i < 3; st->i++) {
		URT_AWAIT(t, st->n = urt_close(t, &st->op, st->c3[st->i]));
		URT_AWAIT(t, st->n = urt_close(t, &st->op, st->a3[st->i]));
	}
	/* 9: the listener's number, closed twice */
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->lfd));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->lfd));
	REC(st, st->n);
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type script_type = { .poll = script_poll, .name = "script" };

struct results {
	int rec[NREC], nrec;
};

static void compare(const struct results *real, const struct results *model)
{
	print_message("%d results, real kernel | model\n", real->nrec);
	for (int i = 0; i < real->nrec || i < model->nrec; i++)
		print_message("  %2d: %6d | %6d%s\n", i, real->rec[i], model->rec[i],
			      real->rec[i] != model->rec[i] ? "   <- differs" : "");
	assert_int_equal(real->nrec, model->nrec);
	assert_memory_equal(real->rec, model->rec, sizeof(int) * (size_t)real->nrec);
}

/* Run the script on the real kernel (sim NULL) or on the model. */
static void run_script(struct urt_sim *sim, struct results *out)
{
	static struct script st;
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port, dead;
	int dfd;

	memset(&st, 0, sizeof(st));
	nrec = 0;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = sim }), 0);
	st.lfd = urt_listen_tcp("127.0.0.1", 0, 16, 0, &port);
	assert_true(st.lfd >= 0);
	/* a port nobody listens on: bound, then closed (both kernels free it) */
	dfd = urt_listen_tcp("127.0.0.1", 0, 1, 0, &dead);
	assert_true(dfd >= 0);
	assert_int_equal(urt_close_detached(dfd), 0);
	st.sa = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	st.dead = st.sa;
	st.dead.sin_port = htons(dead);
	assert_int_equal(urt_spawn(&rt, &script_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	while (test_stats(&rt).ops_inflight)
		assert_true(urt_tick(&rt, URT_TICK_FOREVER) >= 0);
	test_runtime_end(&rt);
	memcpy(out->rec, rec, sizeof(rec));
	out->nrec = nrec;
}

static void test_conform(void **state)
{
	static struct results real, model;
	struct urt_sim *sim;

	(void)state;
	run_script(NULL, &real);
	assert_int_equal(urt_sim_create(&sim, &(struct urt_sim_opts){ .seed = 1 }), 0);
	run_script(sim, &model);
	assert_int_equal(urt_sim_fds_open(sim), 0);
	urt_sim_destroy(sim);
	compare(&real, &model);
}

/* --- buffer modes and zero-copy sends ------------------------------------------------------ */

/*
 * The third script, once in each buffer mode (features_off: one buffer a
 * completion, in part, bundles), with 8 provided buffers of 16 bytes and
 * a per-arm limit of 64 bytes (stream_queue 4: one chunk record of 4):
 *   1. 30 bytes queued before the stream is armed, then 5 more: the
 *      lengths the stream hands out (16 14 5; in part 16 14 2 3: the
 *      second buffer is filled on), and the completions that carried
 *      several buffers (bundles: one of 30) or left room in theirs
 *   2. 100 bytes queued, then the stream: the arm's limit ends a bundle
 *      at 64 bytes exactly (four buffers), the next arm takes the other
 *      36 in one completion; one buffer a completion, 16 at a time
 *   3. zero-copy sends: 40 bytes (the result once the notification came,
 *      and that the kernel copied them, as loopback does), on a closed
 *      descriptor (-EBADF), after SHUT_WR (-EPIPE), and 0 bytes
 * A mode the real kernel lacks is skipped (and so are zero-copy sends).
 */
struct bscript {
	struct urt_op op, rx;
	struct urt_buf buf;
	struct sockaddr_in sa;
	int lfd, c, s, n, got;
	uint64_t bundled, shared, zc, copied;
	char out[128];
};

/* The stream's chunks until `want` bytes came, each length recorded. */
#define TAKE(t, st, want)                                                                          \
	for ((st)->got = 0; (st)->got < (want);) {                                                 \
		URT_AWAIT(t, (st)->n = urt_recv_stream(t, &(st)->rx, (st)->s, &(st)->buf));        \
		REC(st, (st)->n);                                                                  \
		if ((st)->n <= 0)                                                                  \
			break;                                                                     \
		(st)->got += (st)->n;                                                              \
		URT_DISCARD(urt_buf_free(&(st)->buf));                                             \
	}

/* Stats that say how the buffers came, since the last call. */
static void rec_bufstats(struct bscript *st)
{
	struct urt_runtime_stats s;

	urt_runtime_stats(urt_runtime_current(), &s);
	REC(st, (int)(s.recv_bundled - st->bundled));
	REC(st, (int)(s.buf_shared - st->shared));
	st->bundled = s.recv_bundled;
	st->shared = s.buf_shared;
}

static void rec_zcstats(struct bscript *st)
{
	struct urt_runtime_stats s;

	urt_runtime_stats(urt_runtime_current(), &s);
	REC(st, (int)(s.send_zc - st->zc));
	REC(st, (int)(s.send_zc_copied - st->copied));
	st->zc = s.send_zc;
	st->copied = s.send_zc_copied;
}

static bool zc_on(void)
{
	struct urt_runtime_stats s;

	urt_runtime_stats(urt_runtime_current(), &s);
	return s.features & URT_FEAT_SEND_ZC;
}

static bool bscript_poll(struct urt_task *t, void *arg)
{
	struct bscript *st = arg;

	URT_BEGIN(t);
	memset(st->out, 'b', sizeof(st->out));
	URT_AWAIT(t, st->c = urt_socket(t, &st->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	URT_AWAIT(t, st->n = urt_connect(t, &st->op, st->c, (struct sockaddr *)&st->sa,
					 sizeof(st->sa)));
	REC(st, st->n);
	URT_AWAIT(t, st->s = urt_accept(t, &st->op, st->lfd, NULL, NULL));
	REC(st, st->s >= 0);
	rec_bufstats(st);
	/* 1 */
	URT_AWAIT(t, st->n = urt_send(t, &st->op, st->c, st->out, 30, 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_sleep(t, &st->op, 5000000)); /* the bytes are in */
	TAKE(t, st, 30);
	URT_AWAIT(t, st->n = urt_send(t, &st->op, st->c, st->out, 5, 0));
	REC(st, st->n);
	TAKE(t, st, 5);
	rec_bufstats(st);
	URT_AWAIT(t, st->n = urt_recv_stream_end(t, &st->rx, st->s));
	/* 2 */
	URT_AWAIT(t, st->n = urt_send(t, &st->op, st->c, st->out, 100, 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_sleep(t, &st->op, 5000000));
	TAKE(t, st, 100);
	rec_bufstats(st);
	URT_AWAIT(t, st->n = urt_recv_stream_end(t, &st->rx, st->s));
	/* 3 */
	if (zc_on()) {
		rec_zcstats(st);
		URT_AWAIT(t, st->n = urt_send_zc(t, &st->op, st->c, st->out, 40, 0));
		REC(st, st->n);
		rec_zcstats(st);
		URT_AWAIT(t, st->n = urt_send_zc(t, &st->op, st->c, st->out, 0, 0));
		REC(st, st->n);
		rec_zcstats(st);
		URT_AWAIT(t, st->n = urt_shutdown(t, &st->op, st->c, SHUT_WR));
		URT_AWAIT(t, st->n = urt_send_zc(t, &st->op, st->c, st->out, 40, 0));
		REC(st, st->n);
		rec_zcstats(st);
		URT_AWAIT(t, st->n = urt_close(t, &st->op, st->c));
		URT_AWAIT(t, st->n = urt_send_zc(t, &st->op, st->c, st->out, 40, 0));
		REC(st, st->n);
		rec_zcstats(st);
	} else {
		URT_AWAIT(t, st->n = urt_close(t, &st->op, st->c));
	}
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->s));
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->lfd));
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type bscript_type = { .poll = bscript_poll, .name = "bscript" };

static const struct {
	const char *name;
	uint32_t off;  /* features_off */
	uint32_t feat; /* the feature the mode needs (0: none) */
} bmodes[] = {
	{ "one buffer a completion", URT_FEAT_RECV_BUNDLE | URT_FEAT_BUF_INC, 0 },
	{ "in part", URT_FEAT_RECV_BUNDLE, URT_FEAT_BUF_INC },
	{ "bundles", 0, URT_FEAT_RECV_BUNDLE },
};

/* Run the third script in mode m on the real kernel (sim NULL) or on the
 * model. Return: false if this kernel lacks the mode. */
static bool run_bscript(struct urt_sim *sim, unsigned m, struct results *out)
{
	static struct bscript st;
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port;

	memset(&st, 0, sizeof(st));
	nrec = 0;
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = sim,
								  .buf_count = 8,
								  .buf_size = 16,
								  .stream_queue = 4,
								  .features_off = bmodes[m].off }),
		0);
	if (bmodes[m].feat && !(test_stats(&rt).features & bmodes[m].feat)) {
		test_runtime_end(&rt);
		return false;
	}
	st.lfd = urt_listen_tcp("127.0.0.1", 0, 16, 0, &port);
	assert_true(st.lfd >= 0);
	st.sa = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(urt_spawn(&rt, &bscript_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	while (test_stats(&rt).ops_inflight)
		assert_true(urt_tick(&rt, URT_TICK_FOREVER) >= 0);
	assert_int_equal(test_stats(&rt).bufs_free, 8); /* every buffer back */
	test_runtime_end(&rt);
	memcpy(out->rec, rec, sizeof(rec));
	out->nrec = nrec;
	return true;
}

static void test_conform_bufs(void **state)
{
	static struct results real, model;
	unsigned ran = 0;

	(void)state;
	for (unsigned m = 0; m < sizeof(bmodes) / sizeof(bmodes[0]); m++) {
		struct urt_sim *sim;

		if (!run_bscript(NULL, m, &real)) {
			print_message("%s: not on this kernel, skipped\n", bmodes[m].name);
			continue;
		}
		assert_int_equal(urt_sim_create(&sim, &(struct urt_sim_opts){ .seed = 1 }), 0);
		assert_true(run_bscript(sim, m, &model));
		assert_int_equal(urt_sim_fds_open(sim), 0);
		urt_sim_destroy(sim);
		print_message("%s:\n", bmodes[m].name);
		compare(&real, &model);
		ran++;
	}
	if (!ran)
		skip();
}

/* --- files ------------------------------------------------------------------------------ */

struct fscript {
	struct urt_op op;
	struct statx stx;
	struct open_how how;
	int dfd, fd, dirfd, fd2, n;
	char in[256];
};

/* statx of path (relative to dfd) or, with path "", of descriptor fd:
 * records the result, and on success whether it is a regular file, and a
 * file's size and link count (a directory's size and links differ from
 * one file system to another). */
#define STATX(t, st, fd_, path)                                                                    \
	do {                                                                                       \
		URT_AWAIT(t, (st)->n = urt_statx(t, &(st)->op, fd_, path,                          \
						 *(path) ? 0 : AT_EMPTY_PATH, STATX_BASIC_STATS,   \
						 &(st)->stx));                                     \
		REC(st, (st)->n);                                                                  \
		if (!(st)->n) {                                                                    \
			REC(st, S_ISREG((st)->stx.stx_mode) ? (int)(st)->stx.stx_size : -1);       \
			REC(st, S_ISREG((st)->stx.stx_mode));                                      \
			REC(st, S_ISREG((st)->stx.stx_mode) ? (int)(st)->stx.stx_nlink : -1);      \
		}                                                                                  \
	} while (0)

#define OPEN(t, st, out, dfd_, path, flags, mode)                                                  \
	URT_AWAIT(t, (st)->out = urt_openat(t, &(st)->op, dfd_, path, flags, mode))

static bool fscript_poll(struct urt_task *t, void *arg)
{
	struct fscript *st = arg;

	URT_BEGIN(t);
	/* open and create; the errors of a name */
	OPEN(t, st, fd, st->dfd, "f", O_RDWR | O_CREAT | O_EXCL, 0644);
	REC(st, st->fd >= 0);
	OPEN(t, st, n, st->dfd, "f", O_RDWR | O_CREAT | O_EXCL, 0644);
	REC(st, st->n);
	OPEN(t, st, n, st->dfd, "missing", O_RDONLY, 0);
	REC(st, st->n);
	OPEN(t, st, n, st->dfd, "missing/x", O_RDWR | O_CREAT, 0644);
	REC(st, st->n);
	/* write at an offset (a hole before it), read back, short reads */
	URT_AWAIT(t, st->n = urt_write(t, &st->op, st->fd, "0123456789", 10, 100));
	REC(st, st->n);
	STATX(t, st, st->fd, "");
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->in, 20, 95));
	REC(st, st->n);
	REC(st, !memcmp(st->in, "\0\0\0\0\0000123456789", 15));
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->in, 10, 110));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->in, 10, 200));
	REC(st, st->n);
	/* the file position: a write at -1 from 0, a read at -1 from there */
	URT_AWAIT(t, st->n = urt_write(t, &st->op, st->fd, "abc", 3, -1));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->in, 4, -1));
	REC(st, st->n);
	REC(st, !memcmp(st->in, "\0\0\0\0", 4));
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->in, 3, 0));
	REC(st, st->n);
	REC(st, !memcmp(st->in, "abc", 3));
	/* fsync, fdatasync, ftruncate, fallocate */
	URT_AWAIT(t, st->n = urt_fsync(t, &st->op, st->fd, false));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_fsync(t, &st->op, st->fd, true));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_ftruncate(t, &st->op, st->fd, 50));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->in, 100, 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_fallocate(t, &st->op, st->fd, 0, 0, 200));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_fallocate(t, &st->op, st->fd, FALLOC_FL_KEEP_SIZE, 0, 1000));
	REC(st, st->n);
	STATX(t, st, st->fd, "");
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->in, 200, 40));
	REC(st, st->n);
	REC(st, !memcmp(st->in, "\0\0\0\0\0\0\0\0\0\0", 10) && !st->in[159]);
	/* directories */
	URT_AWAIT(t, st->n = urt_mkdirat(t, &st->op, st->dfd, "d", 0755));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_mkdirat(t, &st->op, st->dfd, "d", 0755));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_mkdirat(t, &st->op, st->dfd, "x/y", 0755));
	REC(st, st->n);
	OPEN(t, st, n, st->dfd, "d", O_RDWR, 0);
	REC(st, st->n);
	OPEN(t, st, n, st->dfd, "d", O_RDONLY | O_CREAT, 0644);
	REC(st, st->n);
	OPEN(t, st, n, st->dfd, "f", O_RDONLY | O_DIRECTORY, 0);
	REC(st, st->n);
	OPEN(t, st, n, st->dfd, "f/x", O_RDONLY, 0);
	REC(st, st->n);
	OPEN(t, st, dirfd, st->dfd, "d", O_RDONLY | O_DIRECTORY, 0);
	REC(st, st->dirfd >= 0);
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->dirfd, st->in, 10, 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_write(t, &st->op, st->dirfd, "x", 1, 0));
	REC(st, st->n);
	OPEN(t, st, fd2, st->dirfd, "inner", O_WRONLY | O_CREAT, 0644); /* relative to d */
	REC(st, st->fd2 >= 0);
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->fd2));
	REC(st, st->n);
	STATX(t, st, st->dfd, "d/inner");
	STATX(t, st, st->dfd, "d/inner/");
	/* rename: the open descriptor follows the file */
	URT_AWAIT(t, st->n = urt_renameat(t, &st->op, st->dfd, "f", st->dfd, "d/g", 0));
	REC(st, st->n);
	STATX(t, st, st->dfd, "f");
	STATX(t, st, st->dfd, "d/g");
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->in, 3, 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_renameat(t, &st->op, st->dfd, "missing", st->dfd, "x", 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, st->dfd, "d", AT_REMOVEDIR));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, st->dfd, "d", 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, st->dfd, "d/g", AT_REMOVEDIR));
	REC(st, st->n);
	/* O_APPEND, the access mode, O_TRUNC */
	OPEN(t, st, fd2, st->dfd, "a", O_WRONLY | O_CREAT | O_APPEND, 0644);
	REC(st, st->fd2 >= 0);
	URT_AWAIT(t, st->n = urt_write(t, &st->op, st->fd2, "xy", 2, 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_write(t, &st->op, st->fd2, "z", 1, 0));
	REC(st, st->n);
	STATX(t, st, st->dfd, "a");
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd2, st->in, 10, 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->fd2));
	OPEN(t, st, fd2, st->dfd, "a", O_RDONLY, 0);
	URT_AWAIT(t, st->n = urt_write(t, &st->op, st->fd2, "q", 1, 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_ftruncate(t, &st->op, st->fd2, 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd2, st->in, 10, -1));
	REC(st, st->n);
	REC(st, !memcmp(st->in, "xyz", 3));
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->fd2));
	URT_AWAIT(t,
		  st->n = urt_renameat(t, &st->op, st->dfd, "a", st->dfd, "d/g", RENAME_NOREPLACE));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_renameat(t, &st->op, st->dfd, "a", st->dfd, "d", 0));
	REC(st, st->n);
	OPEN(t, st, fd2, st->dfd, "a", O_WRONLY | O_TRUNC, 0);
	REC(st, st->fd2 >= 0);
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->fd2));
	STATX(t, st, st->dfd, "a");
	/* a directory into itself; RENAME_EXCHANGE of a file and a directory */
	URT_AWAIT(t, st->n = urt_renameat(t, &st->op, st->dfd, "d", st->dfd, "d/sub", 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_mkdirat(t, &st->op, st->dfd, "e", 0755));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_renameat(t, &st->op, st->dfd, "a", st->dfd, "e", RENAME_EXCHANGE));
	REC(st, st->n);
	STATX(t, st, st->dfd, "a");
	STATX(t, st, st->dfd, "e");
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, st->dfd, "a", AT_REMOVEDIR));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_renameat(t, &st->op, st->dfd, "e", st->dfd, "a", 0));
	REC(st, st->n);
	/* a socket call on a file */
	URT_AWAIT(t, st->n = urt_recv(t, &st->op, st->fd, st->in, 10, 0));
	REC(st, st->n);
	/* openat2: a mode without O_CREAT is refused; with it, a file */
	st->how = (struct open_how){ .flags = O_RDONLY, .mode = 0644 };
	URT_AWAIT(t, st->n = urt_openat2(t, &st->op, st->dfd, "o2", &st->how));
	REC(st, st->n);
	st->how = (struct open_how){ .flags = O_RDWR | O_CREAT | O_EXCL, .mode = 0644 };
	URT_AWAIT(t, st->fd2 = urt_openat2(t, &st->op, st->dfd, "o2", &st->how));
	REC(st, st->fd2 >= 0);
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->fd2));
	REC(st, st->n);
	/* the name goes, the open file stays */
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, st->dfd, "d/g", 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, st->dfd, "d/g", 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->in, 3, 0));
	REC(st, st->n);
	REC(st, !memcmp(st->in, "abc", 3));
	STATX(t, st, st->fd, "");
	/* closed: -EBADF for everything */
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->fd));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->fd));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->in, 3, 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_fsync(t, &st->op, st->fd, false));
	REC(st, st->n);
	/* clean up: the directory is empty again */
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->dirfd));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, st->dfd, "d/inner", 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, st->dfd, "d", AT_REMOVEDIR));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, st->dfd, "a", 0));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, st->dfd, "o2", 0));
	REC(st, st->n);
	STATX(t, st, st->dfd, "d");
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type fscript_type = { .poll = fscript_poll, .name = "fscript" };

/* Run the file script on the real kernel (sim NULL: in a fresh directory
 * under /tmp) or on the model (from its root). */
static void run_fscript(struct urt_sim *sim, struct results *out)
{
	static struct fscript st;
	struct urt_runtime rt;
	struct urt_join j;
	char dir[] = "/tmp/urt-conform-XXXXXX";

	memset(&st, 0, sizeof(st));
	nrec = 0;
	st.dfd = AT_FDCWD;
	if (!sim) {
		assert_non_null(mkdtemp(dir));
		st.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(st.dfd >= 0);
	}
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = sim }), 0);
	assert_int_equal(urt_spawn(&rt, &fscript_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	test_runtime_end(&rt);
	if (!sim) {
		close(st.dfd);
		assert_int_equal(rmdir(dir), 0); /* the script removed all it made */
	}
	memcpy(out->rec, rec, sizeof(rec));
	out->nrec = nrec;
}

static void test_conform_files(void **state)
{
	static struct results real, model;
	struct urt_sim *sim;

	(void)state;
	run_fscript(NULL, &real);
	assert_int_equal(urt_sim_create(&sim, &(struct urt_sim_opts){ .seed = 1 }), 0);
	run_fscript(sim, &model);
	assert_int_equal(urt_sim_fds_open(sim), 0);
	urt_sim_destroy(sim);
	compare(&real, &model);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conform),
		cmocka_unit_test(test_conform_files),
		cmocka_unit_test(test_conform_bufs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
