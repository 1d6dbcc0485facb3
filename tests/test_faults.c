/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c - the fault seam (urt/fault.h) turned on the I/O layer:
 * short transfers finished by the helpers, a completion rewritten to an
 * error, op records refused, completions of a stale generation discarded while the
 * record's new owner is untouched, and a sweep that fails the Nth
 * submission of a whole exchange (files, sockets, a receive stream) for
 * every N: each run ends cleanly with nothing left live.
 *
 * Needs a build with URT_FAULTS (debug, asan, tsan); skipped (77) elsewhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/fault.h"
#include "urt/urt.h"

static char tmpl[] = "/tmp/urt-test-faults-XXXXXX";

/* --- the injector -------------------------------------------------------- */

struct injector {
	unsigned submits;   /* submissions seen */
	unsigned fail_at;   /* fail this submission (1-based); 0: none */
	int fail_with;	    /* its result */
	uint32_t max_len;   /* shorten every transfer to this; 0: leave */
	unsigned completes; /* completions seen */
	int32_t rewrite;    /* turn the first completion of rewrite_op into this */
	unsigned rewrite_op;
	unsigned records; /* records asked for */
	bool refuse;	  /* refuse every record */
};

static int inj_submit(void *ctx, unsigned opcode, uint32_t *len)
{
	struct injector *in = ctx;

	(void)opcode;
	if (++in->submits == in->fail_at)
		return in->fail_with;
	if (in->max_len && *len > in->max_len)
		*len = in->max_len;
	return 0;
}

static void inj_complete(void *ctx, unsigned opcode, int32_t *res, uint32_t *cflags)
{
	struct injector *in = ctx;

	(void)cflags;
	in->completes++;
	if (in->rewrite && opcode == in->rewrite_op && *res > 0) {
		*res = in->rewrite;
		in->rewrite = 0;
	}
}

static bool inj_record(void *ctx)
{
	struct injector *in = ctx;

	in->records++;
	return in->refuse;
}

static void inject(struct urt_runtime *rt, struct injector *in, struct urt_fault *f)
{
	*f = (struct urt_fault){
		.submit = inj_submit, .complete = inj_complete, .record = inj_record, .ctx = in
	};
	if (urt_fault_set(rt, f) == -ENOTSUP)
		skip();
}

/* --- the exchange: files, sockets, a receive stream, a nop ------------------ */

#define FILE_BYTES 5000
#define SOCK_BYTES 20000

struct xchg {
	const char *path;
	int sock[2];
	int fd, step, ret;
	size_t got;
	struct urt_op op, rx;
	struct urt_io_all all;
	struct urt_buf b;
	char out[SOCK_BYTES], in[SOCK_BYTES];
};

static void xchg_fill(char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 31 + 7);
}

/*
 * Output: 0 when every step succeeded with exact bytes, else 100 * step +
 * (-result) of the step that failed (a failure must surface, never vanish).
 */
static bool xchg_poll(struct urt_task *t, void *arg)
{
	struct xchg *x = arg;

	URT_BEGIN(t);
	xchg_fill(x->out, sizeof(x->out));
	x->step = 1;
	URT_AWAIT(t, x->fd = urt_openat(t, &x->op, AT_FDCWD, x->path, O_RDWR | O_CREAT | O_TRUNC,
					0600));
	if (x->fd < 0)
		URT_RETURN(t, 100u * 1 + (unsigned)-x->fd);
	x->step = 2;
	URT_AWAIT(t, x->ret = urt_write_all(t, &x->all, x->fd, x->out, FILE_BYTES, 0));
	if (x->ret != FILE_BYTES)
		URT_RETURN(t, 100u * 2 + (unsigned)-x->ret);
	x->step = 3;
	URT_AWAIT(t, x->ret = urt_read_exact(t, &x->all, x->fd, x->in, FILE_BYTES, 0));
	if (x->ret != FILE_BYTES)
		URT_RETURN(t, 100u * 3 + (unsigned)-x->ret);
	if (memcmp(x->in, x->out, FILE_BYTES))
		URT_RETURN(t, 99);
	x->step = 4;
	URT_AWAIT(t, x->ret = urt_close(t, &x->op, x->fd));
	/* Linux closes the descriptor even when close reports an error, but an
	 * injected failure never reached the kernel: drop closes it then */
	if (x->ret)
		URT_RETURN(t, 100u * 4 + (unsigned)-x->ret);
	x->fd = -1;
	x->step = 5;
	URT_AWAIT(t, x->ret = urt_send_all(t, &x->all, x->sock[0], x->out, SOCK_BYTES));
	if (x->ret != SOCK_BYTES)
		URT_RETURN(t, 100u * 5 + (unsigned)-x->ret);
	x->step = 6;
	memset(x->in, 0, sizeof(x->in));
	for (x->got = 0; x->got < SOCK_BYTES;) {
		URT_AWAIT(t, x->ret = urt_recv_stream(t, &x->rx, x->sock[1], &x->b));
		if (x->ret <= 0)
			URT_RETURN(t, 100u * 6 + (unsigned)-x->ret);
		if (x->got + x->b.len > SOCK_BYTES) {
			urt_buf_free(&x->b);
			URT_RETURN(t, 98);
		}
		memcpy(x->in + x->got, x->b.data, x->b.len);
		x->got += x->b.len;
		urt_buf_free(&x->b);
	}
	urt_op_cancel(&x->rx); /* the stream is still armed */
	while (urt_op_busy(&x->rx)) {
		URT_AWAIT(t, urt_recv_stream(t, &x->rx, x->sock[1], &x->b));
		urt_buf_free(&x->b); /* a chunk that raced the cancel */
	}
	if (memcmp(x->in, x->out, SOCK_BYTES))
		URT_RETURN(t, 97);
	x->step = 7;
	URT_AWAIT(t, x->ret = urt_nop(t, &x->op));
	if (x->ret)
		URT_RETURN(t, 100u * 7 + (unsigned)-x->ret);
	URT_RETURN(t, 0);
	URT_END(t);
}

static void xchg_drop(struct urt_task *t, void *arg)
{
	struct xchg *x = arg;

	(void)t;
	if (x->fd >= 0)
		close(x->fd);
	urt_buf_free(&x->b); /* -EINVAL if it holds none */
}

static const struct urt_task_type xchg_type = { .poll = xchg_poll,
						.drop = xchg_drop,
						.name = "exchange" };

struct xchg_run {
	struct urt_runtime rt;
	struct xchg x;
	struct urt_join j;
	char path[sizeof(tmpl)];
};

static uint64_t xchg_run(struct xchg_run *r, struct injector *in)
{
	struct urt_fault f;
	uint64_t out = ~0ull;
	int fd;

	memcpy(r->path, tmpl, sizeof(tmpl));
	fd = mkstemp(r->path);
	assert_true(fd >= 0);
	close(fd);
	memset(&r->x, 0, sizeof(r->x));
	r->x.path = r->path;
	r->x.fd = -1;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->x.sock), 0);
	{
		/* the exchange sends everything before it receives; cut to 7 bytes a
		 * send, every one is its own skb of ~1 KiB of socket memory */
		int big = 8 << 20;

		if (setsockopt(r->x.sock[0], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)))
			setsockopt(r->x.sock[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	}
	test_runtime_init(&r->rt, &(struct urt_runtime_opts){ .buf_count = 8,
									      .buf_size = 1024 });
	inject(&r->rt, in, &f);
	assert_int_equal(urt_spawn(&r->rt, &xchg_type, &r->x, sizeof(r->x), &r->j), 0);
	assert_int_equal(urt_run(&r->rt), 0);
	assert_int_equal(urt_join_take(&r->j, &out), 0);
	test_assert_clean(&r->rt);
	urt_fault_set(&r->rt, NULL);
	test_runtime_end(&r->rt);
	close(r->x.sock[0]);
	close(r->x.sock[1]);
	unlink(r->path);
	return out;
}

/* A clean run, then the Nth submission failing for every N it made. */
static void test_fail_every_submission(void **state)
{
	static struct xchg_run r;
	struct injector in = { 0 };
	unsigned total;
	int fds = test_fd_count();

	(void)state;
	assert_int_equal(xchg_run(&r, &in), 0);
	total = in.submits;
	assert_true(total >= 7);
	for (unsigned n = 1; n <= total; n++) {
		uint64_t out;

		in = (struct injector){ .fail_at = n, .fail_with = -EIO };
		out = xchg_run(&r, &in);
		/* the failure surfaces as the step's -EIO, or (a cancel's own
		 * failure) is absorbed without losing a byte */
		if (out != 0 && out % 100 != EIO) {
			fprintf(stderr, "submission %u of %u failed: output %llu\n", n, total,
				(unsigned long long)out);
			fail();
		}
		if (test_fd_count() != fds) {
			fprintf(stderr, "submission %u of %u failed: a descriptor leaked\n", n, total);
			fail();
		}
	}
}

/* Every transfer cut to 7 bytes: the helpers finish them, bytes exact. */
static void test_short_transfers(void **state)
{
	static struct xchg_run r;
	struct injector in = { .max_len = 7 };

	(void)state;
	assert_int_equal(xchg_run(&r, &in), 0);
	/* 5,000-byte file write and read, 20,000-byte send, 7 bytes at a time */
	assert_true(in.submits > (2 * FILE_BYTES + SOCK_BYTES) / 7);
}

/*
 * A completion rewritten to an error (a failure racing a success): the
 * await returns the error, exactly once, and the handle is idle after it.
 * (Multishot completions are not rewritten to errors: the kernel never
 * posts an error while a stream goes on.)
 */
struct reset_state {
	int fd, ret, again;
	struct urt_op op;
	char buf[16];
};

static bool reset_poll(struct urt_task *t, void *arg)
{
	struct reset_state *st = *(struct reset_state **)arg; /* the test's */

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_read(t, &st->op, st->fd, st->buf, sizeof(st->buf), -1));
	if (st->op.state != URT_OP_IDLE)
		URT_RETURN(t, 1);
	/* the bytes the rewritten read consumed are gone; the next read gets
	 * the next write's */
	URT_AWAIT(t, st->again = urt_read(t, &st->op, st->fd, st->buf, sizeof(st->buf), -1));
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type reset_type = { .poll = reset_poll, .name = "reset" };

static void test_completion_rewritten(void **state)
{
	struct urt_runtime rt;
	struct injector in = { .rewrite = -ECONNRESET, .rewrite_op = IORING_OP_READ };
	struct urt_fault f;
	struct reset_state st = { 0 };
	struct urt_join j;
	int p[2];
	uint64_t out;

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	st.fd = p[0];
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	inject(&rt, &in, &f);
	assert_int_equal(urt_spawn(&rt, &reset_type, &(struct reset_state *){ &st },
				   sizeof(struct reset_state *), &j),
			 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(write(p[1], "hello", 5), 5);
	while (!in.completes)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_int_equal(write(p[1], "again", 5), 5);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0);
	assert_int_equal(st.ret, -ECONNRESET);
	assert_int_equal(in.rewrite, 0); /* applied once */
	assert_int_equal(st.again, 5);
	assert_memory_equal(st.buf, "again", 5);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(p[0]);
	close(p[1]);
}

/* --- op records refused ------------------------------------------------------ */

struct refuse_state {
	struct urt_op op;
	int first, second;
	bool refuse_now;
	struct injector *in;
};

static bool refuse_poll(struct urt_task *t, void *arg)
{
	struct refuse_state *st = *(struct refuse_state **)arg; /* the test's */

	URT_BEGIN(t);
	st->in->refuse = true;
	st->first = urt_nop(t, &st->op); /* refused: nothing submitted */
	if (urt_op_busy(&st->op) || st->op.state != URT_OP_IDLE)
		URT_RETURN(t, 1);
	st->in->refuse = false;
	URT_AWAIT(t, st->second = urt_nop(t, &st->op)); /* the same handle works */
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type refuse_type = { .poll = refuse_poll, .name = "refuse" };

static void test_record_refused(void **state)
{
	struct urt_runtime rt;
	struct injector in = { 0 };
	struct urt_fault f;
	struct refuse_state st = { .in = &in };
	struct urt_join j;
	uint64_t out;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	inject(&rt, &in, &f);
	assert_int_equal(urt_spawn(&rt, &refuse_type, &(struct refuse_state *){ &st },
				   sizeof(struct refuse_state *), &j),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0);
	assert_int_equal(st.first, -ENOMEM);
	assert_int_equal(st.second, 0);
	assert_int_equal(in.submits, 1); /* only the second one reached the ring */
	test_assert_clean(&rt);
	test_runtime_end(&rt);
}

/* --- stale generations ---------------------------------------------------------- */

/*
 * A record completes, is freed and is taken again by a new operation (the
 * freelist is LIFO, so the next one reuses it). A completion carrying the
 * old user_data arrives late: it is counted as stale and discarded; the new
 * operation is neither completed nor disturbed by it.
 */
struct stale_state {
	struct urt_op a, b;
	uint64_t ud_a, ud_b;
	int ra, rb;
	int pipe_rd;
	char c;
};

static bool stale_poll(struct urt_task *t, void *arg)
{
	struct stale_state *st = *(struct stale_state **)arg; /* the test's */

	URT_BEGIN(t);
	(void)urt_nop(t, &st->a);
	st->ud_a = urt_op_user_data(&st->a);
	URT_AWAIT(t, st->ra = urt_nop(t, &st->a));
	/* a read of a pipe nobody has written yet: in flight until the test
	 * writes, long after the stale completion below */
	(void)urt_read(t, &st->b, st->pipe_rd, &st->c, 1, -1);
	st->ud_b = urt_op_user_data(&st->b);
	URT_AWAIT(t, st->rb = urt_read(t, &st->b, st->pipe_rd, &st->c, 1, -1));
	URT_END(t);
}

static const struct urt_task_type stale_type = { .poll = stale_poll, .name = "stale" };

static void test_stale_generation(void **state)
{
	struct urt_runtime rt;
	struct injector in = { 0 };
	struct urt_fault f;
	struct stale_state st = { 0 };
	struct urt_join j;
	uint64_t stale0;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	st.pipe_rd = p[0];
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	inject(&rt, &in, &f);
	assert_int_equal(urt_spawn(&rt, &stale_type, &(struct stale_state *){ &st },
				   sizeof(struct stale_state *), &j),
			 0);
	for (int i = 0; i < 50 && !st.ud_b; i++)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_true(st.ud_b != 0);
	assert_int_equal(st.ra, 0);
	/* the same record index, a newer generation */
	assert_int_equal((uint32_t)st.ud_a, (uint32_t)st.ud_b);
	assert_true(st.ud_a != st.ud_b);
	stale0 = test_stats(&rt).stale_cqes;
	assert_int_equal(urt_fault_complete(&rt, st.ud_a, 1, 0), 0);
	assert_int_equal(urt_fault_complete(&rt, st.ud_a | 1, -ETIME, 0), 0); /* its timeout tag */
	assert_int_equal(test_stats(&rt).stale_cqes, stale0 + 2);
	assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(st.b.state, URT_OP_INFLIGHT); /* untouched */
	assert_false(urt_join_is_finished(&j));
	assert_int_equal(test_stats(&rt).ops_inflight, 1);
	/* an index past every record made, and the runtime's own range */
	assert_int_equal(urt_fault_complete(&rt, (1ull << 40) | (0xfffffull << 1), 0, 0), 0);
	assert_int_equal(test_stats(&rt).stale_cqes, stale0 + 3);
	/* now the real completion */
	assert_int_equal(write(p[1], "z", 1), 1);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	assert_int_equal(st.rb, 1);
	assert_int_equal(st.c, 'z');
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(p[0]);
	close(p[1]);
}

/* --- cancelling a paused stream ----------------------------------------------- */

/*
 * On the pause path (a kernel without the receive limit), a stream the
 * runtime paused has its own cancel in flight. A user's cancel, by
 * urt_op_cancel or urt_task_cancel_ops, must become that cancel: the stream
 * ends with -ECANCELED (never re-armed, never -ENOBUFS) and the call counts it.
 */
#define PAUSE_DATA (16 * 1024)

struct paused_state {
	int fd, n, cancelled;
	bool whole_task;
	struct urt_op rx, nap;
	struct urt_buf b;
	size_t got;
};

static bool paused_poll(struct urt_task *t, void *arg)
{
	struct paused_state *st = *(struct paused_state **)arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->n = urt_recv_stream(t, &st->rx, st->fd, &st->b));
	if (st->n > 0) {
		st->got += (size_t)st->n;
		urt_buf_free(&st->b);
	}
	URT_AWAIT(t, urt_sleep(t, &st->nap, 50000000)); /* not reading: it pauses */
	st->cancelled = st->whole_task ? urt_task_cancel_ops(t) : (urt_op_cancel(&st->rx) == 0);
	for (;;) {
		URT_AWAIT(t, st->n = urt_recv_stream(t, &st->rx, st->fd, &st->b));
		if (st->n <= 0)
			break;
		st->got += (size_t)st->n;
		urt_buf_free(&st->b);
	}
	URT_END(t);
}

static const struct urt_task_type paused_type = { .poll = paused_poll, .name = "paused" };

static void cancel_paused(bool whole_task, uint32_t buf_count)
{
	struct urt_runtime rt;
	struct paused_state st = { .whole_task = whole_task };
	static char data[PAUSE_DATA];
	int sv[2];

	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_count = buf_count,
							   .buf_size = 64,
							   .stream_queue = 4 });
	if (!test_without_recv_limit(&rt)) {
		test_runtime_end(&rt); /* a skip leaves no runtime bound (test_run_group) */
		skip();
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(data, 'x', sizeof(data));
	assert_int_equal(write(sv[1], data, sizeof(data)), (ssize_t)sizeof(data));
	shutdown(sv[1], SHUT_WR);
	st.fd = sv[0];
	assert_int_equal(urt_spawn(&rt, &paused_type, &(struct paused_state *){ &st },
				   sizeof(struct paused_state *), NULL),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_true(test_stats(&rt).stream_pauses > 0);
	assert_int_equal(st.cancelled, 1);
	assert_int_equal(st.n, -ECANCELED); /* not re-armed to the end, not -ENOBUFS */
	assert_true(st.got < PAUSE_DATA);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(sv[0]);
	close(sv[1]);
}

static void test_cancel_paused_stream(void **state)
{
	(void)state;
	cancel_paused(false, 1024);
	cancel_paused(true, 1024);
	cancel_paused(false, 16); /* the kernel's side ended with -ENOBUFS too */
	cancel_paused(true, 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_refused),
		cmocka_unit_test(test_stale_generation),
		cmocka_unit_test(test_completion_rewritten),
		cmocka_unit_test(test_short_transfers),
		cmocka_unit_test(test_fail_every_submission),
		cmocka_unit_test(test_cancel_paused_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
