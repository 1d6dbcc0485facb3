/* SPDX-License-Identifier: MIT */
/*
 * test_review17b.c - the second hostile review of issue 17's facilities
 * (what test_review17.c did not reach): datagram streams beside TCP
 * receive streams on the shared provided-buffer ring, the edges of a
 * datagram's size, an abort with datagrams queued, child processes'
 * descriptors and zombies on every error path, and urt_dial's reuse and
 * abort. Every wait is bounded by a count of ticks or a wall-clock cap
 * (never asserted on: a cap only ends a loop).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

/* Whether this process has a child that exited and was not reaped. */
static bool zombie_child(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT))
		return false; /* -ECHILD: no children at all */
	return si.si_pid != 0;
}

/* Tick until every task is reclaimed (an ended task waits for its ops). */
static void settle(struct urt_runtime *rt)
{
	for (int k = 0; k < 2000 && (test_stats(rt).live || test_stats(rt).ops_inflight); k++)
		assert_true(urt_tick(rt, 1000000u) >= 0);
}

static void tick_until(struct urt_runtime *rt, struct urt_join *j, unsigned max)
{
	for (unsigned i = 0; i < max && !urt_join_is_finished(j); i++)
		assert_true(urt_tick(rt, 1000000u) >= 0);
}

/* --- datagrams beside a TCP reader: the shared ring --------------------------------- */

#define NUDP	      32
#define FLOOD_DGRAM   64	 /* bytes: a whole 4 KiB buffer each on the multishot path */
#define READER_BYTES  (2u << 20) /* through the TCP stream that reads */
#define FLOOD_WALL_NS 30000000000ull

struct flood {
	size_t got; /* the reader's bytes */
	unsigned bad;
	bool drain;	 /* the datagram tasks may stop now */
	unsigned dgrams; /* datagrams the idlers took when told to stop */
};

/* Arms its datagram stream and reads nothing until told to stop. */
struct dgram_idler {
	struct urt_op op, nap;
	struct urt_dgram d;
	struct flood *f;
	int fd, n;
};

static bool dgram_idler_poll(struct urt_task *t, void *arg)
{
	struct dgram_idler *s = arg;

	URT_BEGIN(t);
	s->n = urt_recvmsg_stream(t, &s->op, s->fd, &s->d);
	if (s->n != URT_PENDING)
		s->f->bad++;
	while (!s->f->drain)
		URT_AWAIT(t, s->n = urt_sleep(t, &s->nap, 5000000u));
	(void)urt_op_cancel(&s->op);
	for (;;) {
		URT_AWAIT(t, s->n = urt_recvmsg_stream(t, &s->op, s->fd, &s->d));
		if (s->n < 0)
			break;
		s->f->dgrams++;
		urt_buf_free(&s->d.buf);
		if (!urt_op_busy(&s->op))
			break; /* one-shot: nothing more is in flight */
	}
	URT_END(t);
}

static void dgram_idler_drop(struct urt_task *t, void *arg)
{
	struct dgram_idler *s = arg;

	(void)t;
	if (s->d.buf.live)
		urt_buf_free(&s->d.buf);
}

static const struct urt_task_type dgram_idler_type = { .poll = dgram_idler_poll,
						       .drop = dgram_idler_drop,
						       .name = "dgram_idler" };

static uint8_t rpat(size_t off)
{
	return (uint8_t)(off * 7 + (off >> 9));
}

struct tcp_reader {
	struct urt_op op;
	struct urt_buf b;
	struct flood *f;
	int fd, n;
};

static bool tcp_reader_poll(struct urt_task *t, void *arg)
{
	struct tcp_reader *s = arg;

	URT_BEGIN(t);
	while (s->f->got < READER_BYTES) {
		URT_AWAIT(t, s->n = urt_recv_stream(t, &s->op, s->fd, &s->b));
		if (s->n <= 0) {
			s->f->bad++;
			break;
		}
		for (int k = 0; k < s->n; k++)
			if ((uint8_t)s->b.data[k] != rpat(s->f->got + (size_t)k)) {
				s->f->bad++;
				break;
			}
		s->f->got += (size_t)s->n;
		urt_buf_free(&s->b);
	}
	URT_AWAIT(t, s->n = urt_recv_stream_end(t, &s->op, s->fd));
	URT_END(t);
}

static void tcp_reader_drop(struct urt_task *t, void *arg)
{
	struct tcp_reader *s = arg;

	(void)t;
	if (s->b.live)
		urt_buf_free(&s->b);
}

static const struct urt_task_type tcp_reader_type = { .poll = tcp_reader_poll,
						      .drop = tcp_reader_drop,
						      .name = "tcp_reader" };

static void tcp_feed(int fd, size_t *sent)
{
	uint8_t piece[8192];
	size_t n = READER_BYTES - *sent;
	ssize_t w;

	if (n > sizeof(piece))
		n = sizeof(piece);
	if (!n)
		return;
	for (size_t k = 0; k < n; k++)
		piece[k] = rpat(*sent + k);
	w = send(fd, piece, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w > 0)
		*sent += (size_t)w;
}

/*
 * NUDP datagram sockets (receive buffers as large as the system lets)
 * flooded with small datagrams whose tasks never read, and one TCP stream
 * whose task reads 2 MiB: the reader gets every byte, in order, and the
 * ring kept an eighth free but for one completion's buffers (design.md:
 * "No set of connections can hold the ring"), datagrams included.
 */
static void run_flood(uint32_t features_off, unsigned nudp)
{
	static struct flood f;
	static int ufd[NUDP];
	static struct urt_join j[NUDP + 1];
	struct urt_runtime rt;
	struct urt_runtime_opts o = { .features_off = features_off };
	struct urt_runtime_stats st;
	struct sockaddr_in to[NUDP];
	char dg[FLOOD_DGRAM];
	int lfd, ta, tb, tx, big = 4 << 20;
	uint16_t lport, port;
	size_t sent = 0, count;
	unsigned long long flooded = 0;
	uint64_t t0, out;

	memset(&f, 0, sizeof(f));
	memset(dg, 'd', sizeof(dg));
	test_runtime_init(&rt, &o);
	count = test_stats(&rt).buf_count;
	tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(tx >= 0);
	for (unsigned i = 0; i < nudp; i++) {
		ufd[i] = urt_bind_udp("127.0.0.1", 0, 0, &port);
		assert_true(ufd[i] >= 0);
		(void)setsockopt(ufd[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		to[i] = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
		to[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(urt_spawn(&rt, &dgram_idler_type,
					   &(struct dgram_idler){ .f = &f, .fd = ufd[i] },
					   sizeof(struct dgram_idler), &j[i]),
				 0);
	}
	lfd = test_listen(&lport);
	test_tcp_pair(lfd, lport, &ta, &tb);
	assert_int_equal(urt_spawn(&rt, &tcp_reader_type, &(struct tcp_reader){ .f = &f, .fd = tb },
				   sizeof(struct tcp_reader), &j[nudp]),
			 0);
	for (int k = 0; k < 3; k++)
		assert_true(urt_tick(&rt, 0) >= 0);

	t0 = urt_now_ns();
	while (f.got < READER_BYTES && !f.bad && urt_now_ns() - t0 < FLOOD_WALL_NS) {
		for (unsigned i = 0; i < nudp; i++)
			for (int k = 0; k < 64; k++)
				if (sendto(tx, dg, sizeof(dg), MSG_DONTWAIT,
					   (struct sockaddr *)&to[i], sizeof(to[i])) > 0)
					flooded++;
		tcp_feed(ta, &sent);
		assert_true(urt_tick(&rt, 0) >= 0);
	}
	st = test_stats(&rt);
	printf("review17b flood (%s, %u sockets): reader got %zu of %u bytes; %llu datagrams sent; "
	       "fewest free %zu of %zu; enobufs %llu; pauses %llu; spill high water %zu KiB\n",
	       features_off ? "one-shot" : "as chosen", nudp, f.got, READER_BYTES, flooded,
	       st.bufs_free_low, count, (unsigned long long)st.enobufs,
	       (unsigned long long)st.stream_pauses, st.spill_high_water / 1024);

	f.drain = true;
	for (unsigned i = 0; i <= nudp; i++)
		tick_until(&rt, &j[i], 20000);
	for (unsigned i = 0; i <= nudp; i++) {
		assert_true(urt_join_is_finished(&j[i]));
		urt_join_take(&j[i], &out);
		if (i < nudp)
			close(ufd[i]);
	}
	close(ta);
	close(tb);
	close(lfd);
	settle(&rt);
	st = test_stats(&rt);
	printf("review17b flood: after: live %zu ops %zu inflight %zu free %zu queued %zu spill "
	       "%zu\n",
	       st.live, st.ops_live, st.ops_inflight, st.bufs_free, st.bufs_queued, st.spill_bytes);
	close(tx);
	test_runtime_end(&rt);
	assert_int_equal(f.bad, 0);
	assert_int_equal(f.got, READER_BYTES);
	assert_true(st.bufs_free_low + 17 >= count / 8);
}

static void test_udp_flood_many_multishot(void **state)
{
	(void)state;
	run_flood(0, NUDP);
}

static void test_udp_flood_one_multishot(void **state)
{
	(void)state;
	run_flood(0, 1);
}

static void test_udp_flood_many_oneshot(void **state)
{
	(void)state;
	run_flood(URT_FEAT_RECVMSG_MULTI, NUDP);
}

/* --- a datagram's size: at and past the edge, and empty ------------------------------- */

struct sizer {
	struct urt_op op;
	struct urt_dgram d;
	int fd, n;
	int lens[8];
	uint32_t flags[8];
	unsigned got, want;
	bool content_bad;
};

static bool sizer_poll(struct urt_task *t, void *arg)
{
	struct sizer *s = *(struct sizer **)arg;

	URT_BEGIN(t);
	while (s->got < s->want) {
		URT_AWAIT(t, s->n = urt_recvmsg_stream(t, &s->op, s->fd, &s->d));
		if (s->n < 0)
			break;
		for (int k = 0; k < s->n; k++)
			if (s->d.buf.data[k] != (char)('a' + s->got))
				s->content_bad = true;
		s->lens[s->got] = s->n;
		s->flags[s->got] = s->d.flags;
		s->got++;
		urt_buf_free(&s->d.buf);
	}
	(void)urt_op_cancel(&s->op);
	while (urt_op_busy(&s->op)) {
		URT_AWAIT(t, s->n = urt_recvmsg_stream(t, &s->op, s->fd, &s->d));
		if (s->n >= 0)
			urt_buf_free(&s->d.buf);
	}
	URT_END(t);
}

static void sizer_drop(struct urt_task *t, void *arg)
{
	struct sizer *s = *(struct sizer **)arg;

	(void)t;
	if (s->d.buf.live)
		urt_buf_free(&s->d.buf);
}

static const struct urt_task_type sizer_type = { .poll = sizer_poll,
						 .drop = sizer_drop,
						 .name = "sizer" };

static void run_sizes(uint32_t features_off)
{
	static struct sizer s;
	const uint32_t bs = 2048, maxp = bs - URT_DGRAM_HEADROOM;
	const size_t sizes[] = { 0, 1, maxp - 1, maxp, maxp + 1, bs, 0 };
	const unsigned n = sizeof(sizes) / sizeof(sizes[0]);
	struct urt_runtime rt;
	struct urt_join j;
	struct sockaddr_in to = { .sin_family = AF_INET };
	static char big[4096];
	uint16_t port;
	int tx;

	memset(&s, 0, sizeof(s));
	test_runtime_init(
		&rt, &(struct urt_runtime_opts){ .buf_size = bs, .features_off = features_off });
	s.fd = urt_bind_udp("127.0.0.1", 0, 0, &port);
	assert_true(s.fd >= 0);
	s.want = n;
	to.sin_port = htons(port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	for (unsigned i = 0; i < n; i++) {
		memset(big, 'a' + (int)i, sizes[i]);
		assert_int_equal(sendto(tx, big, sizes[i], 0, (struct sockaddr *)&to, sizeof(to)),
				 (ssize_t)sizes[i]);
	}
	assert_int_equal(urt_spawn(&rt, &sizer_type, &(struct sizer *){ &s }, sizeof(void *), &j),
			 0);
	tick_until(&rt, &j, 2000);
	assert_true(urt_join_is_finished(&j));
	urt_join_take(&j, &(uint64_t){ 0 });
	printf("review17b sizes (%s):", features_off ? "one-shot" : "as chosen");
	for (unsigned i = 0; i < s.got; i++)
		printf(" %zu->%d%s", sizes[i], s.lens[i], s.flags[i] & MSG_TRUNC ? "T" : "");
	printf("\n");
	assert_int_equal(s.got, n);
	assert_false(s.content_bad);
	for (unsigned i = 0; i < n; i++) {
		size_t want = sizes[i] > maxp ? maxp : sizes[i];

		assert_int_equal(s.lens[i], (int)want);
		assert_int_equal(!!(s.flags[i] & MSG_TRUNC), sizes[i] > maxp);
	}
	close(tx);
	close(s.fd);
	settle(&rt);
	test_runtime_end(&rt);
}

static void test_dgram_sizes(void **state)
{
	(void)state;
	run_sizes(0);
	run_sizes(URT_FEAT_RECVMSG_MULTI);
}

/* --- child processes: descriptors and zombies on every error path -------------------- */

static char *const sleep_argv[] = { "sleep", "30", NULL };
static char *const true_argv[] = { "true", NULL };

/* A spawn that fails leaves nothing: no descriptor, no child. */
static void test_proc_spawn_missing(void **state)
{
	struct urt_proc p;
	char *const argv[] = { "urt-no-such-program", NULL };
	int before = test_fd_count();

	(void)state;
	for (int k = 0; k < 2; k++) {
		const char *file = k ? "/nonexistent/urt-no-such-program" : "urt-no-such-program";

		assert_int_equal(
			urt_proc_spawn(&p, &(struct urt_proc_opts){ .file = file,
								    .argv = argv,
								    .stdio = { URT_STDIO_PIPE,
									       URT_STDIO_PIPE,
									       URT_STDIO_PIPE } }),
			-ENOENT);
		assert_int_equal(test_fd_count(), before);
		assert_false(zombie_child());
		assert_int_equal(p.pidfd, -1);
	}
}

/* Under RLIMIT_NOFILE, with 0..7 descriptors left: each spawn succeeds or
 * says -EMFILE, and leaves nothing open and no child behind. */
static void test_proc_spawn_nofile(void **state)
{
	struct rlimit old, low;
	int fillers[512], nfill = 0, before;
	unsigned ok = 0, emfile = 0;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfill < 512) {
		int fd = dup(0);

		if (fd < 0)
			break;
		fillers[nfill++] = fd;
	}
	for (int k = 1; k <= 8; k++) {
		struct urt_proc p;
		int ret, closed = 0;

		for (; closed < k && nfill > 0; closed++)
			close(fillers[--nfill]);
		before = test_fd_count();
		ret = urt_proc_spawn(
			&p, &(struct urt_proc_opts){
				    .file = "true",
				    .argv = true_argv,
				    .stdio = { URT_STDIO_PIPE, URT_STDIO_PIPE, URT_STDIO_PIPE } });
		if (ret == 0) {
			ok++;
			assert_true(urt_proc_release(&p) >= 0);
		} else {
			assert_int_equal(ret, -EMFILE);
			emfile++;
		}
		assert_int_equal(test_fd_count(), before);
		assert_false(zombie_child());
		while (closed-- > 0) {
			int fd = dup(0);

			if (fd >= 0)
				fillers[nfill++] = fd;
		}
	}
	while (nfill > 0)
		close(fillers[--nfill]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	assert_true(emfile > 0); /* the limit was met */
}

/* A task that spawns a long child and waits for it; drop releases it. */
struct waiter {
	struct urt_proc p;
	int spawned, status;
};

static bool waiter_poll(struct urt_task *t, void *arg)
{
	struct waiter *s = arg;

	URT_BEGIN(t);
	s->spawned = urt_proc_spawn(
		&s->p, &(struct urt_proc_opts){
			       .file = "sleep",
			       .argv = sleep_argv,
			       .stdio = { URT_STDIO_PIPE, URT_STDIO_PIPE, URT_STDIO_NULL } });
	if (s->spawned)
		URT_RETURN(t, 1);
	URT_AWAIT(t, s->status = urt_proc_wait(t, &s->p));
	URT_END(t);
}

static void waiter_drop(struct urt_task *t, void *arg)
{
	struct waiter *s = arg;

	(void)t;
	if (!s->spawned)
		(void)urt_proc_release(&s->p);
}

static const struct urt_task_type waiter_type = { .poll = waiter_poll,
						  .drop = waiter_drop,
						  .name = "proc_waiter" };

static void run_proc_abort(uint32_t features_off, bool deinit)
{
	struct urt_runtime rt;
	struct urt_join j[4];
	int before = test_fd_count();

	test_runtime_init(&rt, &(struct urt_runtime_opts){ .features_off = features_off });
	for (int i = 0; i < 4; i++)
		assert_int_equal(urt_spawn(&rt, &waiter_type, &(struct waiter){ .spawned = -1 },
					   sizeof(struct waiter), &j[i]),
				 0);
	for (int k = 0; k < 5; k++)
		assert_true(urt_tick(&rt, 1000000u) >= 0);
	if (!deinit) {
		for (int i = 0; i < 4; i++) {
			assert_int_equal(urt_join_abort(&j[i]), 0);
			tick_until(&rt, &j[i], 5000);
			assert_true(urt_join_is_finished(&j[i]));
			urt_join_take(&j[i], &(uint64_t){ 0 });
		}
		settle(&rt);
		test_runtime_end(&rt);
	} else {
		assert_int_equal(urt_runtime_deinit(&rt), 4) /* the waiters it reclaimed */;
	}
	assert_int_equal(test_fd_count(), before);
	assert_false(zombie_child());
}

static void test_proc_abort_waitid(void **state)
{
	(void)state;
	if (!test_has_feature(URT_FEAT_WAITID))
		skip();
	run_proc_abort(0, false);
}

static void test_proc_abort_pidfd(void **state)
{
	(void)state;
	run_proc_abort(URT_FEAT_WAITID, false);
}

static void test_proc_deinit_waitid(void **state)
{
	(void)state;
	if (!test_has_feature(URT_FEAT_WAITID))
		skip();
	run_proc_abort(0, true);
}

static void test_proc_deinit_pidfd(void **state)
{
	(void)state;
	run_proc_abort(URT_FEAT_WAITID, true);
}

/* --- urt_dial: abort and deadline mid-connect, reuse after a deadline --------------- */

struct dialer {
	struct urt_dial d;
	char port[8], port2[8];
	uint64_t timeout;
	int fd, fd2;
};

static bool dialer_poll(struct urt_task *t, void *arg)
{
	struct dialer *s = *(struct dialer **)arg;

	URT_BEGIN(t);
	URT_AWAIT(t, s->fd = urt_dial(t, &s->d, "127.0.0.1", s->port, s->timeout));
	if (s->port2[0]) /* the same handle again, to another port */
		URT_AWAIT(t, s->fd2 = urt_dial(t, &s->d, "127.0.0.1", s->port2, 2000000000ull));
	URT_END(t);
}

static void dialer_drop(struct urt_task *t, void *arg)
{
	(void)t;
	urt_dial_drop(&(*(struct dialer **)arg)->d);
}

static const struct urt_task_type dialer_type = { .poll = dialer_poll,
						  .drop = dialer_drop,
						  .name = "dialer" };

/* A listener whose accept queue is full: a connect to it hangs (SYNs dropped). */
static int full_listener(uint16_t *port, int *fill, int nfill)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	for (int i = 0; i < nfill; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		(void)connect(fill[i], (struct sockaddr *)&a, sizeof(a));
	}
	usleep(20000); /* the handshakes complete (or not): either way the queue is full */
	return lfd;
}

/* Aborted after k ticks (lookup, socket, a connect that hangs): no socket left. */
static void test_dial_abort_sweep(void **state)
{
	static struct dialer s;
	int fill[4], lfd, before;
	uint16_t port;

	(void)state;
	lfd = full_listener(&port, fill, 4);
	before = test_fd_count();
	for (int k = 0; k < 12; k++) {
		struct urt_runtime rt;
		struct urt_join j;

		memset(&s, 0, sizeof(s));
		snprintf(s.port, sizeof(s.port), "%u", port);
		test_runtime_init(&rt, NULL);
		assert_int_equal(
			urt_spawn(&rt, &dialer_type, &(struct dialer *){ &s }, sizeof(void *), &j),
			0);
		for (int i = 0; i < k; i++)
			assert_true(urt_tick(&rt, 1000000u) >= 0);
		if (!urt_join_is_finished(&j))
			assert_int_equal(urt_join_abort(&j), 0);
		tick_until(&rt, &j, 5000);
		assert_true(urt_join_is_finished(&j));
		urt_join_take(&j, &(uint64_t){ 0 });
		settle(&rt);
		test_runtime_end(&rt);
		assert_int_equal(test_fd_count(), before);
	}
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

/* A deadline during a hanging connect: -ETIME, no socket left; the handle
 * is reusable at once (urt/dns.h) and connects elsewhere. */
static void test_dial_timeout_reuse(void **state)
{
	static struct dialer s;
	struct urt_runtime rt;
	struct urt_join j;
	int fill[4], lfd, ok, a, before;
	uint16_t port, okport;

	(void)state;
	lfd = full_listener(&port, fill, 4);
	ok = test_listen(&okport);
	before = test_fd_count();
	memset(&s, 0, sizeof(s));
	snprintf(s.port, sizeof(s.port), "%u", port);
	snprintf(s.port2, sizeof(s.port2), "%u", okport);
	s.timeout = 50000000u;
	test_runtime_init(&rt, NULL);
	assert_int_equal(urt_spawn(&rt, &dialer_type, &(struct dialer *){ &s }, sizeof(void *), &j),
			 0);
	tick_until(&rt, &j, 5000);
	assert_true(urt_join_is_finished(&j));
	urt_join_take(&j, &(uint64_t){ 0 });
	settle(&rt);
	test_runtime_end(&rt);
	assert_int_equal(s.fd, -ETIME);
	assert_true(s.fd2 >= 0);
	a = accept(ok, NULL, NULL);
	assert_true(a >= 0);
	close(a);
	close(s.fd2);
	assert_int_equal(test_fd_count(), before);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
	close(ok);
}

/*
 * A zeroed process or signal stream holds nothing: releasing it (the drop
 * of a task aborted before it spawned or opened) closes no descriptor. It
 * used to close fd 0, the -1-less zero of a zeroed struct (the new-user
 * trial's trap 1).
 */
static void test_zeroed_handles_close_nothing(void **state)
{
	struct urt_proc p;
	struct urt_signal_stream s;
	int before = fcntl(0, F_GETFD);

	(void)state;
	if (before < 0) { /* no stdin here: use a descriptor of our own at 0 */
		int fd = open("/dev/null", O_RDONLY);

		assert_int_equal(fd, 0);
		before = fcntl(0, F_GETFD);
	}
	assert_true(before >= 0);
	memset(&p, 0, sizeof(p));
	memset(&s, 0, sizeof(s));
	assert_int_equal(urt_proc_release(&p), 0);
	urt_signal_close(&s);
	urt_signal_close(&s);
	assert_true(fcntl(0, F_GETFD) >= 0); /* fd 0 still open */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_flood_one_multishot),
		cmocka_unit_test(test_udp_flood_many_multishot),
		cmocka_unit_test(test_udp_flood_many_oneshot),
		cmocka_unit_test(test_dgram_sizes),
		cmocka_unit_test(test_proc_spawn_missing),
		cmocka_unit_test(test_proc_spawn_nofile),
		cmocka_unit_test(test_proc_abort_waitid),
		cmocka_unit_test(test_proc_abort_pidfd),
		cmocka_unit_test(test_proc_deinit_waitid),
		cmocka_unit_test(test_proc_deinit_pidfd),
		cmocka_unit_test(test_dial_abort_sweep),
		cmocka_unit_test(test_dial_timeout_reuse),
		cmocka_unit_test(test_zeroed_handles_close_nothing),
	};

	test_raise_nofile("review17b", 1024);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
