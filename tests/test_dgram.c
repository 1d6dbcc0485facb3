/* SPDX-License-Identifier: MIT */
/*
 * test_dgram.c - datagrams and unix sockets (msg.c): a UDP echo through
 * urt_recvmsg_stream and urt_sendmsg (sizes from empty to longer than a
 * buffer, which comes back cut with MSG_TRUNC), a unix stream listener
 * (its unlink policy: a stale socket, a file in the way), unix datagrams
 * between abstract names, urt_unix_addr's refusals, and a task aborted
 * mid-receive, and a flood of datagrams left unread on a small ring
 * (each comes out whole and in order, however the ring's pressure moved
 * it). The datagram tests run in every receive mode: as the runtime
 * chooses (multishot recvmsg on this kernel), URT_FEAT_RECVMSG_MULTI off
 * (one-shot), buffers filled in part (one-shot, msg.c says why) and one
 * buffer a completion (multishot); the echo tests check the path taken.
 * Every test ends with nothing live.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

#define BUF_SIZE 2048				 /* opts.buf_size */
#define MAXP	 (BUF_SIZE - URT_DGRAM_HEADROOM) /* a datagram longer than this is cut */

static uint32_t features_off;

static void rt_init(struct urt_runtime *rt)
{
	test_runtime_init(rt, &(struct urt_runtime_opts){ .buf_size = BUF_SIZE,
							  .features_off = features_off });
}

/* Whether urt_recvmsg_stream goes multishot here: the kernel has it, it is
 * not switched off, and the ring is not filled in part (msg.c). */
static bool multishot_expected(struct urt_runtime *rt)
{
	uint32_t f = test_stats(rt).features;

	return (f & URT_FEAT_RECVMSG_MULTI) && !(f & URT_FEAT_BUF_INC);
}

static int64_t take(struct urt_join *j)
{
	uint64_t out;

	assert_int_equal(urt_join_take(j, &out), 0);
	return (int64_t)out;
}

/* --- an echo server and a client ------------------------------------------------------ */

/* Echoes every datagram to its sender until one says "quit". */
struct echo_state {
	struct urt_op rx, tx;
	struct urt_dgram d;
	struct msghdr msg;
	struct iovec iov;
	int fd, n, echoed;
	int *served; /* the test's count */
};

static bool echo_poll(struct urt_task *t, void *arg)
{
	struct echo_state *st = arg;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, st->n = urt_recvmsg_stream(t, &st->rx, st->fd, &st->d));
		if (st->n < 0)
			URT_RETURN(t, 1);
		if (st->n == 4 && !memcmp(st->d.buf.data, "quit", 4))
			break;
		if (!st->d.fromlen)
			URT_RETURN(t, 2);
		/* back to the sender, with what was cut said in the first byte */
		if (st->n && (st->d.flags & MSG_TRUNC))
			st->d.buf.data[0] = 'T';
		st->iov = (struct iovec){ st->d.buf.data, (size_t)st->n };
		st->msg = (struct msghdr){ .msg_name = &st->d.from,
					   .msg_namelen = st->d.fromlen,
					   .msg_iov = &st->iov,
					   .msg_iovlen = 1 };
		URT_AWAIT(t, st->echoed = urt_sendmsg(t, &st->tx, st->fd, &st->msg, 0));
		urt_buf_free(&st->d.buf);
		if (st->echoed != st->n)
			URT_RETURN(t, 3);
		(*st->served)++;
	}
	urt_buf_free(&st->d.buf);
	URT_RETURN(t, 0);
	URT_END(t);
}

static void echo_drop(struct urt_task *t, void *arg)
{
	struct echo_state *st = arg;

	(void)t;
	if (st->d.buf.live) /* a datagram that came after an abort */
		urt_buf_free(&st->d.buf);
}

static const struct urt_task_type echo_type = { .poll = echo_poll,
						.drop = echo_drop,
						.name = "dgram-echo" };

#define ROUNDS 64

/* Sends ROUNDS datagrams of growing sizes one at a time, checking each echo. */
struct client_state {
	struct urt_op op;
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_storage to, from;
	socklen_t tolen;
	int fd, i, n;
	size_t len;
	char out[BUF_SIZE + 512], in[BUF_SIZE + 512];
};

static size_t round_len(int i)
{
	if (i == 0)
		return 0; /* an empty datagram */
	if (i == ROUNDS - 1)
		return BUF_SIZE + 100; /* longer than a buffer: cut */
	if (i == ROUNDS - 2)
		return MAXP; /* the longest that fits */
	return (size_t)i * 31 % MAXP;
}

static bool client_poll(struct urt_task *t, void *arg)
{
	struct client_state *st = arg;

	URT_BEGIN(t);
	for (st->i = 0; st->i < ROUNDS; st->i++) {
		st->len = round_len(st->i);
		test_fill(st->out, st->len, (uint64_t)st->i);
		st->iov = (struct iovec){ st->out, st->len };
		st->msg = (struct msghdr){ .msg_name = &st->to,
					   .msg_namelen = st->tolen,
					   .msg_iov = &st->iov,
					   .msg_iovlen = 1 };
		URT_AWAIT(t, st->n = urt_sendmsg(t, &st->op, st->fd, &st->msg, 0));
		if (st->n != (int)st->len)
			URT_RETURN(t, 10 + (uint64_t)st->i * 100);
		st->iov = (struct iovec){ st->in, sizeof(st->in) };
		st->msg = (struct msghdr){ .msg_name = &st->from,
					   .msg_namelen = sizeof(st->from),
					   .msg_iov = &st->iov,
					   .msg_iovlen = 1 };
		URT_AWAIT(t, st->n = urt_recvmsg(t, &st->op, st->fd, &st->msg, 0));
		if (st->len > MAXP) { /* cut, marked by the echo */
			if (st->n != MAXP || st->in[0] != 'T' ||
			    memcmp(st->in + 1, st->out + 1, MAXP - 1))
				URT_RETURN(t, 11 + (uint64_t)st->i * 100);
		} else if (st->n != (int)st->len || !test_check(st->in, st->len, (uint64_t)st->i)) {
			URT_RETURN(t, 12 + (uint64_t)st->i * 100);
		}
		if (st->msg.msg_namelen != st->tolen || memcmp(&st->from, &st->to, st->tolen))
			URT_RETURN(t, 13 + (uint64_t)st->i * 100); /* it came from the server */
	}
	st->iov = (struct iovec){ "quit", 4 };
	st->msg = (struct msghdr){
		.msg_name = &st->to, .msg_namelen = st->tolen, .msg_iov = &st->iov, .msg_iovlen = 1
	};
	URT_AWAIT(t, st->n = urt_sendmsg(t, &st->op, st->fd, &st->msg, 0));
	URT_RETURN(t, st->n == 4 ? 0 : 14);
	URT_END(t);
}

static const struct urt_task_type client_type = { .poll = client_poll, .name = "dgram-client" };

/* Echo between server fd sfd and client fd cfd; to: the server's address. */
static void run_echo(int sfd, int cfd, const void *to, socklen_t tolen)
{
	static struct client_state cl;
	struct urt_runtime rt;
	struct echo_state es = { .fd = sfd };
	struct urt_join je, jc;
	int served = 0;

	es.served = &served;
	cl = (struct client_state){ .fd = cfd, .tolen = tolen };
	memcpy(&cl.to, to, tolen);
	rt_init(&rt);
	assert_int_equal(urt_spawn(&rt, &echo_type, &es, sizeof(es), &je), 0);
	assert_int_equal(urt_spawn(&rt, &client_type, &cl, sizeof(cl), &jc), 0);
	/* bounded: a client that fails must not leave the server waiting */
	for (int i = 0; i < 100000 && !urt_join_is_finished(&jc); i++)
		assert_true(urt_tick(&rt, 10 * 1000 * 1000) >= 0);
	if (!urt_join_is_finished(&jc) || !urt_join_is_finished(&je)) {
		urt_join_abort(&jc);
		urt_join_abort(&je);
	}
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(take(&jc), 0);
	assert_int_equal(take(&je), 0);
	assert_int_equal(served, ROUNDS);
	/* the path asked for is the path taken: a one-shot receive per
	 * datagram, or one multishot arm (and a few re-arms) for them all */
	if (multishot_expected(&rt))
		assert_true(test_stats(&rt).ops_submitted < 3 * ROUNDS + 2 + 16);
	else
		assert_int_equal(test_stats(&rt).ops_submitted, 4 * ROUNDS + 2);
	test_runtime_end(&rt);
}

static void test_udp_echo(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint16_t port = 0;
	int sfd, cfd;

	(void)state;
	sfd = urt_bind_udp(NULL, 0, 0, &port);
	assert_true(sfd >= 0 && port);
	assert_true(fcntl(sfd, F_GETFD) & FD_CLOEXEC);
	cfd = urt_bind_udp("127.0.0.1", 0, 0, NULL);
	assert_true(cfd >= 0);
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	run_echo(sfd, cfd, &sa, sizeof(sa));
	close(sfd);
	close(cfd);
	assert_int_equal(urt_bind_udp("not-an-address", 0, 0, NULL), -EINVAL);
}

/* Unix datagrams between two abstract names. */
static void test_unix_dgram_abstract(void **state)
{
	char sname[64], cname[64];
	struct sockaddr_un sun, cun;
	socklen_t slen, clen;
	int sfd, cfd;

	(void)state;
	snprintf(sname, sizeof(sname), "@urt-test-dgram-%d", (int)getpid());
	snprintf(cname, sizeof(cname), "@urt-test-dgram-%d-client", (int)getpid());
	sfd = urt_listen_unix(sname, SOCK_DGRAM, 0, 0);
	assert_true(sfd >= 0);
	/* an abstract name is taken while its socket lives */
	assert_int_equal(urt_listen_unix(sname, SOCK_DGRAM, 0, URT_LISTEN_UNLINK), -EADDRINUSE);
	cfd = urt_listen_unix(cname, SOCK_DGRAM, 0, 0);
	assert_true(cfd >= 0);
	assert_int_equal(urt_unix_addr(&sun, sname, &slen), 0);
	assert_int_equal(urt_unix_addr(&cun, cname, &clen), 0);
	assert_int_equal(sun.sun_path[0], '\0');
	assert_int_equal(slen, offsetof(struct sockaddr_un, sun_path) + strlen(sname));
	run_echo(sfd, cfd, &sun, slen);
	close(sfd);
	close(cfd);
	/* gone with its last descriptor: the name is free again */
	sfd = urt_listen_unix(sname, SOCK_DGRAM, 0, 0);
	assert_true(sfd >= 0);
	close(sfd);
}

static void test_unix_addr_refusals(void **state)
{
	struct sockaddr_un sun;
	char longname[sizeof(sun.sun_path) + 2];
	socklen_t len;

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(urt_unix_addr(&sun, "", &len), -EINVAL);
	assert_int_equal(urt_unix_addr(&sun, "@", &len), -EINVAL);
	assert_int_equal(urt_unix_addr(&sun, NULL, &len), -EINVAL);
	assert_int_equal(urt_unix_addr(&sun, longname, &len), -EINVAL);
	longname[sizeof(sun.sun_path) - 1] = '\0'; /* 107 bytes and the NUL: fits */
	assert_int_equal(urt_unix_addr(&sun, longname, &len), 0);
	assert_int_equal(len, sizeof(sun));
	assert_int_equal(urt_listen_unix("/tmp/x", SOCK_RAW, 0, 0), -EINVAL);
}

/* --- a unix stream listener --------------------------------------------------------- */

struct ustream_state {
	struct urt_op a, b, c;
	struct sockaddr_un sun;
	socklen_t len;
	int lfd, cfd, sfd, n, m;
	char buf[16];
};

static bool ustream_poll(struct urt_task *t, void *arg)
{
	struct ustream_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->cfd = urt_socket(t, &st->a, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (st->cfd < 0)
		URT_RETURN(t, 1);
	/* connect and accept at once: two operations in flight */
	URT_AWAIT(t, ((st->n = urt_connect(t, &st->a, st->cfd, (struct sockaddr *)&st->sun,
					   st->len)) != URT_PENDING) &
				     ((st->sfd = urt_accept(t, &st->b, st->lfd, NULL, NULL)) !=
				      URT_PENDING)
			     ? 0
			     : URT_PENDING);
	if (st->n || st->sfd < 0)
		URT_RETURN(t, 2);
	URT_AWAIT(t, st->n = urt_send(t, &st->a, st->cfd, "over unix", 9, 0));
	URT_AWAIT(t, st->m = urt_recv(t, &st->b, st->sfd, st->buf, sizeof(st->buf), 0));
	if (st->n != 9 || st->m != 9 || memcmp(st->buf, "over unix", 9))
		URT_RETURN(t, 3);
	URT_AWAIT(t, st->n = urt_close(t, &st->a, st->cfd));
	URT_AWAIT(t, st->m = urt_recv(t, &st->b, st->sfd, st->buf, sizeof(st->buf), 0));
	URT_AWAIT(t, st->n = urt_close(t, &st->c, st->sfd));
	URT_RETURN(t, st->m == 0 ? 0 : 4); /* the peer closed */
	URT_END(t);
}

static const struct urt_task_type ustream_type = { .poll = ustream_poll, .name = "unix-stream" };

static void test_unix_stream_and_unlink_policy(void **state)
{
	char dir[] = "/tmp/urt-test-unix-XXXXXX", path[64];
	struct ustream_state st = { 0 };
	struct urt_runtime rt;
	struct urt_join j;
	struct stat sb;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sock", dir);
	st.lfd = urt_listen_unix(path, SOCK_STREAM, 16, 0);
	assert_true(st.lfd >= 0);
	assert_int_equal(urt_unix_addr(&st.sun, path, &st.len), 0);
	rt_init(&rt);
	assert_int_equal(urt_spawn(&rt, &ustream_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(take(&j), 0);
	test_runtime_end(&rt);
	close(st.lfd);
	/* the socket file stays after close: the caller's to remove */
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISSOCK(sb.st_mode));
	assert_int_equal(urt_listen_unix(path, SOCK_STREAM, 0, 0), -EADDRINUSE);
	fd = urt_listen_unix(path, SOCK_STREAM, 0, URT_LISTEN_UNLINK); /* stale: removed */
	assert_true(fd >= 0);
	close(fd);
	/* anything but a socket in the way is left alone */
	assert_int_equal(unlink(path), 0);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(urt_listen_unix(path, SOCK_STREAM, 0, URT_LISTEN_UNLINK), -EADDRINUSE);
	assert_int_equal(lstat(path, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	snprintf(path + strlen(dir), sizeof(path) - strlen(dir), "/none/sock");
	assert_int_equal(urt_listen_unix(path, SOCK_STREAM, 0, URT_LISTEN_UNLINK), -ENOENT);
	snprintf(path, sizeof(path), "%s/sock", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* --- misuse and abort ------------------------------------------------------------------- */

static int aborted_drops;

struct idle_state {
	struct urt_op rx;
	struct urt_dgram d;
	int fd, n, again;
};

static bool idle_poll(struct urt_task *t, void *arg)
{
	struct idle_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->n = urt_recvmsg_stream(t, &st->rx, st->fd, &st->d));
	/* the datagram not given back: the next receive is refused */
	st->again = urt_recvmsg_stream(t, &st->rx, st->fd, &st->d);
	if (st->n != 5 || st->again != -EINVAL || memcmp(st->d.buf.data, "first", 5))
		URT_RETURN(t, 1);
	urt_buf_free(&st->d.buf);
	/* then one that never comes: the task is aborted here */
	URT_AWAIT(t, st->n = urt_recvmsg_stream(t, &st->rx, st->fd, &st->d));
	URT_RETURN(t, 2);
	URT_END(t);
}

static void idle_drop(struct urt_task *t, void *arg)
{
	struct idle_state *st = arg;

	(void)t;
	assert_false(urt_op_busy(&st->rx));
	if (st->d.buf.live)
		urt_buf_free(&st->d.buf);
	aborted_drops++;
}

static const struct urt_task_type idle_type = { .poll = idle_poll,
						.drop = idle_drop,
						.name = "dgram-idle" };

static void test_abort_mid_receive(void **state)
{
	struct idle_state st = { 0 };
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int cfd;

	(void)state;
	aborted_drops = 0;
	st.fd = urt_bind_udp(NULL, 0, 0, &port);
	assert_true(st.fd >= 0);
	cfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(sendto(cfd, "first", 5, 0, (struct sockaddr *)&sa, sizeof(sa)), 5);
	rt_init(&rt);
	assert_int_equal(urt_spawn(&rt, &idle_type, &st, sizeof(st), &j), 0);
	for (int i = 0; i < 100 && test_stats(&rt).ops_completed < 1; i++)
		assert_true(urt_tick(&rt, 10 * 1000 * 1000) >= 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* the second receive is in flight */
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(aborted_drops, 1);
	test_assert_clean(&rt);
	urt_join_detach(&j);
	test_runtime_end(&rt);
	close(cfd);
	close(st.fd);
}

/* --- many datagrams unread, on a small ring ------------------------------------------ */

#define FLOOD 200

/* Sleeps while FLOOD datagrams arrive, then reads them all: each whole
 * and in order, however the ring's pressure moved them (spilled as they
 * came, swept, the stream paused and re-armed). */
struct flood_state {
	struct urt_op rx, nap;
	struct urt_dgram d;
	int fd, n, i, bad;
};

static bool flood_poll(struct urt_task *t, void *arg)
{
	struct flood_state *st = arg;

	URT_BEGIN(t);
	/* armed first, so the stream (or the one receive) holds what comes */
	if ((st->n = urt_recvmsg_stream(t, &st->rx, st->fd, &st->d)) != URT_PENDING)
		URT_RETURN(t, 1);
	URT_AWAIT(t, urt_sleep(t, &st->nap, 20 * 1000 * 1000));
	for (st->i = 0; st->i < FLOOD; st->i++) {
		URT_AWAIT(t, st->n = urt_recvmsg_stream(t, &st->rx, st->fd, &st->d));
		if (st->n != 100 + st->i ||
		    !test_check(st->d.buf.data, (size_t)st->n, (uint64_t)st->i))
			st->bad++;
		if (st->n >= 0)
			urt_buf_free(&st->d.buf);
		if (st->n < 0)
			URT_RETURN(t, 2);
	}
	(void)urt_op_cancel(&st->rx); /* the stream ends with its task anyway */
	URT_RETURN(t, (uint64_t)st->bad);
	URT_END(t);
}

static void flood_drop(struct urt_task *t, void *arg)
{
	struct flood_state *st = arg;

	(void)t;
	if (st->d.buf.live)
		urt_buf_free(&st->d.buf);
}

static const struct urt_task_type flood_type = { .poll = flood_poll,
						 .drop = flood_drop,
						 .name = "dgram-flood" };

static void test_flood_unread(void **state)
{
	struct flood_state st = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct urt_runtime rt;
	struct urt_join j;
	char buf[400];
	uint16_t port;
	int cfd;

	(void)state;
	st.fd = urt_bind_udp(NULL, 0, 0, &port);
	assert_true(st.fd >= 0);
	cfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(cfd >= 0);
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_count = 16,
							   .buf_size = 512,
							   .features_off = features_off });
	assert_int_equal(urt_spawn(&rt, &flood_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_tick(&rt, 0), 1); /* armed, asleep */
	for (int i = 0; i < FLOOD; i++) {      /* small: the socket's queue holds them all */
		test_fill(buf, 100 + (size_t)i, (uint64_t)i);
		assert_int_equal(
			sendto(cfd, buf, 100 + (size_t)i, 0, (struct sockaddr *)&sa, sizeof(sa)),
			100 + i);
		if (i % 20 == 19) /* the runtime takes them in while the task sleeps */
			assert_true(urt_tick(&rt, 0) >= 0);
	}
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(take(&j), 0);
	{
		struct urt_runtime_stats rs = test_stats(&rt);

		print_message("flood (%s): %llu bytes spilled, %llu pauses, %llu ENOBUFS\n",
			      multishot_expected(&rt) ? "multishot" : "one-shot",
			      (unsigned long long)rs.recv_spilled,
			      (unsigned long long)rs.stream_pauses, (unsigned long long)rs.enobufs);
	}
	test_runtime_end(&rt);
	close(cfd);
	close(st.fd);
}

static int as_chosen(void **state)
{
	(void)state;
	features_off = 0;
	return 0;
}

static int one_shot(void **state)
{
	(void)state;
	features_off = URT_FEAT_RECVMSG_MULTI;
	return 0;
}

/* buffers filled in part: one-shot, whatever the kernel has */
static int in_part(void **state)
{
	(void)state;
	features_off = URT_FEAT_RECV_BUNDLE;
	return 0;
}

/* one buffer a completion: multishot where the kernel has it */
static int one_buffer(void **state)
{
	(void)state;
	features_off = URT_FEAT_RECV_BUNDLE | URT_FEAT_BUF_INC;
	return 0;
}

#define BOTH(f) cmocka_unit_test_setup(f, as_chosen), cmocka_unit_test_setup(f, one_shot)
#define EVERY_MODE(f)                                                                              \
	BOTH(f), cmocka_unit_test_setup(f, in_part), cmocka_unit_test_setup(f, one_buffer)

int main(void)
{
	const struct CMUnitTest tests[] = {
		EVERY_MODE(test_udp_echo),
		EVERY_MODE(test_unix_dgram_abstract),
		EVERY_MODE(test_flood_unread),
		cmocka_unit_test(test_unix_addr_refusals),
		BOTH(test_unix_stream_and_unlink_policy),
		EVERY_MODE(test_abort_mid_receive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
