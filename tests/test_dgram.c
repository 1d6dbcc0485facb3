/* SPDX-License-Identifier: MIT */
/*
 * test_dgram.c - datagrams and unix sockets (msg.c): a UDP echo through
 * urt_recvmsg_stream and urt_sendmsg (sizes from empty to longer than a
 * buffer, which comes back cut with MSG_TRUNC), a unix stream listener
 * (its unlink policy: a stale socket, a file in the way), unix datagrams
 * between abstract names, urt_unix_addr's refusals, and a task aborted
 * mid-receive, and a flood of datagrams left unread on a small ring
 * (each comes out whole and in order, however the ring's pressure moved
 * it). urt_sendto and urt_recvfrom: the same echoes through them, and
 * their edges (a datagram and an address cut, an unbound sender, the
 * refusals before submitting, a deadline, a cancel, an await re-evaluated
 * while pending, an abort). The datagram tests run in every receive mode: as the runtime
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
static bool conv; /* the echo tests send and receive with urt_sendto / urt_recvfrom */

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

/* --- an echo server and a client ------------------------------------------------------ */

/* Echoes every datagram to its sender until one says "quit". */
struct echo_state {
	struct urt_op rx, tx;
	struct urt_msg_op txh; /* conv */
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
		if (conv) {
			URT_AWAIT(t, st->echoed = urt_sendto(
					     t, &st->txh, st->fd, st->d.buf.data, (size_t)st->n, 0,
					     (struct sockaddr *)&st->d.from, st->d.fromlen));
		} else {
			st->iov = (struct iovec){ st->d.buf.data, (size_t)st->n };
			st->msg = (struct msghdr){ .msg_name = &st->d.from,
						   .msg_namelen = st->d.fromlen,
						   .msg_iov = &st->iov,
						   .msg_iovlen = 1 };
			URT_AWAIT(t, st->echoed = urt_sendmsg(t, &st->tx, st->fd, &st->msg, 0));
		}
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
	struct urt_msg_op h; /* conv */
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_storage to, from;
	socklen_t tolen, fromlen;
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
		if (conv) {
			URT_AWAIT(t, st->n = urt_sendto(t, &st->h, st->fd, st->out, st->len, 0,
							(struct sockaddr *)&st->to, st->tolen));
		} else {
			st->iov = (struct iovec){ st->out, st->len };
			st->msg = (struct msghdr){ .msg_name = &st->to,
						   .msg_namelen = st->tolen,
						   .msg_iov = &st->iov,
						   .msg_iovlen = 1 };
			URT_AWAIT(t, st->n = urt_sendmsg(t, &st->op, st->fd, &st->msg, 0));
		}
		if (st->n != (int)st->len)
			URT_RETURN(t, 10 + (uint64_t)st->i * 100);
		st->fromlen = sizeof(st->from);
		if (conv) {
			URT_AWAIT(t,
				  st->n = urt_recvfrom(t, &st->h, st->fd, st->in, sizeof(st->in), 0,
						       (struct sockaddr *)&st->from, &st->fromlen));
		} else {
			st->iov = (struct iovec){ st->in, sizeof(st->in) };
			st->msg = (struct msghdr){ .msg_name = &st->from,
						   .msg_namelen = st->fromlen,
						   .msg_iov = &st->iov,
						   .msg_iovlen = 1 };
			URT_AWAIT(t, st->n = urt_recvmsg(t, &st->op, st->fd, &st->msg, 0));
			st->fromlen = st->msg.msg_namelen;
		}
		if (st->len > MAXP) { /* cut, marked by the echo */
			if (st->n != MAXP || st->in[0] != 'T' ||
			    memcmp(st->in + 1, st->out + 1, MAXP - 1))
				URT_RETURN(t, 11 + (uint64_t)st->i * 100);
		} else if (st->n != (int)st->len || !test_check(st->in, st->len, (uint64_t)st->i)) {
			URT_RETURN(t, 12 + (uint64_t)st->i * 100);
		}
		if (st->fromlen != st->tolen || memcmp(&st->from, &st->to, st->tolen))
			URT_RETURN(t, 13 + (uint64_t)st->i * 100); /* it came from the server */
	}
	URT_AWAIT(t, st->n = urt_sendto(t, &st->h, st->fd, "quit", 4, 0, (struct sockaddr *)&st->to,
					st->tolen));
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
	assert_int_equal(test_take(&jc), 0);
	assert_int_equal(test_take(&je), 0);
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
	assert_int_equal(test_take(&j), 0);
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
	assert_int_equal(test_take(&j), 0);
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

/* --- urt_sendto and urt_recvfrom: the edges ------------------------------------------- */

#define MS (1000ull * 1000)

/*
 * Datagrams queued before the task runs, each received another way: cut
 * to the buffer (MSG_TRUNC in the handle's msg_flags), its real length
 * with MSG_TRUNC in flags, its sender's address cut (the full length
 * still said), no address wanted (addrlen untouched), and from an unbound
 * unix sender (length 0).
 */
struct cut_state {
	struct urt_msg_op h;
	struct sockaddr_in from;
	socklen_t len[5];
	int fd, ufd, n[5], msg_flags[5];
	char small[10], big[200], ubuf[8];
};

static bool cut_poll(struct urt_task *t, void *arg)
{
	struct cut_state *st = *(struct cut_state **)arg; /* the test reads it */

	URT_BEGIN(t);
	st->len[0] = sizeof(st->from);
	URT_AWAIT(t, st->n[0] = urt_recvfrom(t, &st->h, st->fd, st->small, sizeof(st->small), 0,
					     (struct sockaddr *)&st->from, &st->len[0]));
	st->msg_flags[0] = st->h.msg.msg_flags;
	st->len[1] = sizeof(st->from);
	URT_AWAIT(t, st->n[1] = urt_recvfrom(t, &st->h, st->fd, st->small, sizeof(st->small),
					     MSG_TRUNC, (struct sockaddr *)&st->from, &st->len[1]));
	st->msg_flags[1] = st->h.msg.msg_flags;
	memset(&st->from, 0xff, sizeof(st->from));
	st->len[2] = 4; /* room for the family and the port only */
	URT_AWAIT(t, st->n[2] = urt_recvfrom(t, &st->h, st->fd, st->big, sizeof(st->big), 0,
					     (struct sockaddr *)&st->from, &st->len[2]));
	st->msg_flags[2] = st->h.msg.msg_flags;
	st->len[3] = 77; /* no address asked for: not used */
	URT_AWAIT(t, st->n[3] = urt_recvfrom(t, &st->h, st->fd, st->big, sizeof(st->big), 0, NULL,
					     &st->len[3]));
	st->len[4] = sizeof(st->from);
	URT_AWAIT(t, st->n[4] = urt_recvfrom(t, &st->h, st->ufd, st->ubuf, sizeof(st->ubuf), 0,
					     (struct sockaddr *)&st->from, &st->len[4]));
	URT_END(t);
}

static const struct urt_task_type cut_type = { .poll = cut_poll, .name = "recvfrom-cut" };

static void test_recvfrom_cuts_and_lengths(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET }, ca;
	socklen_t calen = sizeof(ca);
	struct cut_state st = { 0 };
	struct urt_runtime rt;
	char payload[100];
	uint16_t port;
	int cfd, sp[2];

	(void)state;
	st.fd = urt_bind_udp(NULL, 0, 0, &port);
	cfd = urt_bind_udp(NULL, 0, 0, NULL);
	assert_true(st.fd >= 0 && cfd >= 0);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&ca, &calen), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp), 0);
	st.ufd = sp[0];
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	test_fill(payload, sizeof(payload), 7);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sendto(cfd, payload, sizeof(payload), 0, (struct sockaddr *)&sa,
					sizeof(sa)),
				 (ssize_t)sizeof(payload));
	assert_int_equal(sendto(cfd, "", 0, 0, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(sp[1], "unix", 4, 0), 4);

	rt_init(&rt);
	assert_int_equal(urt_spawn(&rt, &cut_type, &(struct cut_state *){ &st },
				   sizeof(struct cut_state *), NULL),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);

	/* cut to the buffer: its first bytes, MSG_TRUNC said, the sender whole */
	assert_int_equal(st.n[0], sizeof(st.small));
	assert_true(st.msg_flags[0] & MSG_TRUNC);
	assert_true(test_check(st.small, sizeof(st.small), 7));
	assert_int_equal(st.len[0], sizeof(struct sockaddr_in));
	/* MSG_TRUNC asked for: the datagram's real length */
	assert_int_equal(st.n[1], sizeof(payload));
	assert_true(st.msg_flags[1] & MSG_TRUNC);
	/* the address cut: what fits is written, the full length said */
	assert_int_equal(st.n[2], sizeof(payload));
	assert_false(st.msg_flags[2] & MSG_TRUNC);
	assert_true(test_check(st.big, sizeof(payload), 7));
	assert_int_equal(st.len[2], sizeof(struct sockaddr_in));
	assert_int_equal(st.from.sin_family, AF_INET);
	assert_int_equal(st.from.sin_port, ca.sin_port);
	assert_int_equal(st.from.sin_addr.s_addr, 0xffffffffu); /* past the 4 bytes: untouched */
	/* an empty datagram, no address asked for */
	assert_int_equal(st.n[3], 0);
	assert_int_equal(st.len[3], 77);
	/* an unbound unix sender has no name */
	assert_int_equal(st.n[4], 4);
	assert_int_equal(st.len[4], 0);
	assert_memory_equal(st.ubuf, "unix", 4);
	close(st.fd);
	close(cfd);
	close(sp[0]);
	close(sp[1]);
}

/* Every refusal comes before anything is submitted, and leaves the handle
 * idle: the next call on it sends. */
struct refuse_state {
	struct urt_msg_op h;
	struct sockaddr_in to;
	socklen_t len;
	int fd, r[6], n;
	char buf[16];
};

static bool refuse_poll(struct urt_task *t, void *arg)
{
	struct refuse_state *st = *(struct refuse_state **)arg; /* the test reads it */
	struct sockaddr *to = (struct sockaddr *)&st->to;

	URT_BEGIN(t);
	{ /* frame memory dies with the tick: the kernel may not have it */
		struct urt_msg_op *fh = urt_frame_alloc(sizeof(*fh), _Alignof(struct urt_msg_op));
		char *fbuf = urt_frame_alloc(16, 1);
		struct sockaddr_in *fto = urt_frame_alloc(sizeof(*fto), 8);
		socklen_t *flen = urt_frame_alloc(sizeof(*flen), _Alignof(socklen_t));

		memset(fh, 0, sizeof(*fh));
		*fto = st->to;
		*flen = sizeof(*fto);
		st->r[0] = urt_sendto(t, fh, st->fd, st->buf, 4, 0, to, sizeof(st->to));
		st->r[1] = urt_sendto(t, &st->h, st->fd, fbuf, 4, 0, to, sizeof(st->to));
		st->r[2] = urt_sendto(t, &st->h, st->fd, st->buf, 4, 0, (struct sockaddr *)fto,
				      sizeof(*fto));
		st->r[3] = urt_recvfrom(t, &st->h, st->fd, st->buf, sizeof(st->buf), 0, to, flen);
	}
	st->r[4] = urt_sendto(t, &st->h, st->fd, st->buf, 4, 0, to,
			      sizeof(struct sockaddr_storage) + 1);
	st->r[5] = urt_recvfrom(t, &st->h, st->fd, st->buf, sizeof(st->buf), 0, to, NULL);
	if (urt_op_busy(&st->h.op))
		URT_RETURN(t, 1);
	URT_AWAIT(t, st->n = urt_sendto(t, &st->h, st->fd, "ok", 2, 0, to, sizeof(st->to)));
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type refuse_type = { .poll = refuse_poll, .name = "sendto-refuse" };

static void test_sendto_recvfrom_refusals(void **state)
{
	struct refuse_state st = { .to.sin_family = AF_INET };
	struct urt_runtime rt;
	struct urt_join j;
	char got[4];
	uint16_t port;

	(void)state;
	st.fd = urt_bind_udp(NULL, 0, 0, &port); /* it sends to itself */
	assert_true(st.fd >= 0);
	st.to.sin_port = htons(port);
	st.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rt_init(&rt);
	assert_int_equal(urt_spawn(&rt, &refuse_type, &(struct refuse_state *){ &st },
				   sizeof(struct refuse_state *), &j),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(test_take(&j), 0);
	assert_int_equal(st.r[0], -EFAULT); /* the handle */
	assert_int_equal(st.r[1], -EFAULT); /* the payload */
	assert_int_equal(st.r[2], -EFAULT); /* the address */
	assert_int_equal(st.r[3], -EFAULT); /* the address's length */
	assert_int_equal(st.r[4], -EINVAL); /* longer than any address */
	assert_int_equal(st.r[5], -EINVAL); /* an address without its length */
	assert_int_equal(st.n, 2);
	assert_int_equal(test_stats(&rt).ops_submitted, 1); /* the last send only */
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	assert_int_equal(recv(st.fd, got, sizeof(got), MSG_DONTWAIT), 2);
	assert_memory_equal(got, "ok", 2);
	close(st.fd);
}

/* A deadline on the handle's op, then a cancel: the sender's length is
 * written only by a receive that returns bytes. */
struct timed_state {
	struct urt_msg_op h;
	struct sockaddr_in from;
	socklen_t fromlen;
	int fd, r[4];
	bool timed_out, timed_out_after;
	char buf[16];
};

static bool timed_poll(struct urt_task *t, void *arg)
{
	struct timed_state *st = *(struct timed_state **)arg; /* the test reads it */

	URT_BEGIN(t);
	st->fromlen = sizeof(st->from);
	urt_op_set_timeout(&st->h.op, 20 * MS);
	URT_AWAIT(t, st->r[0] = urt_recvfrom(t, &st->h, st->fd, st->buf, sizeof(st->buf), 0,
					     (struct sockaddr *)&st->from, &st->fromlen));
	st->timed_out = urt_op_timed_out(&st->h.op);
	urt_op_set_timeout(&st->h.op, 0);
	st->r[1] = urt_recvfrom(t, &st->h, st->fd, st->buf, sizeof(st->buf), 0,
				(struct sockaddr *)&st->from, &st->fromlen);
	st->r[2] = urt_op_cancel(&st->h.op);
	URT_AWAIT(t, st->r[3] = urt_recvfrom(t, &st->h, st->fd, st->buf, sizeof(st->buf), 0,
					     (struct sockaddr *)&st->from, &st->fromlen));
	st->timed_out_after = urt_op_timed_out(&st->h.op);
	URT_END(t);
}

static const struct urt_task_type timed_type = { .poll = timed_poll, .name = "recvfrom-timed" };

static void test_recvfrom_deadline_and_cancel(void **state)
{
	struct timed_state st = { 0 };
	struct urt_runtime rt;

	(void)state;
	st.fd = urt_bind_udp(NULL, 0, 0, NULL); /* nothing ever comes */
	assert_true(st.fd >= 0);
	rt_init(&rt);
	assert_int_equal(urt_spawn(&rt, &timed_type, &(struct timed_state *){ &st },
				   sizeof(struct timed_state *), NULL),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	assert_int_equal(st.r[0], -ECANCELED);
	assert_true(st.timed_out);
	assert_int_equal(st.r[1], URT_PENDING);
	assert_int_equal(st.r[2], 0);
	assert_int_equal(st.r[3], -ECANCELED);
	assert_false(st.timed_out_after);
	assert_int_equal(st.fromlen, sizeof(st.from));
	close(st.fd);
}

/*
 * A receive re-evaluated while pending (a sleep beside it wakes the task
 * three times) is submitted once and returns its datagram once; sent with
 * urt_sendto by the same task, through a handle of its own.
 */
struct again_state {
	struct urt_msg_op rx, tx;
	struct urt_op nap;
	struct sockaddr_in to;
	int fd, n, sent, slept, rounds;
	char buf[16];
};

static bool again_poll(struct urt_task *t, void *arg)
{
	struct again_state *st = arg;

	URT_BEGIN(t);
	for (st->rounds = 0; st->rounds < 3; st->rounds++) {
		st->n = st->slept = URT_PENDING;
		URT_AWAIT_ANY(t,
			      st->n = urt_recvfrom(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0,
						   NULL, NULL),
			      st->slept = urt_sleep(t, &st->nap, MS));
		if (st->n != URT_PENDING || st->slept != 0)
			URT_RETURN(t, 1); /* nothing was sent yet */
	}
	URT_AWAIT(t, st->sent = urt_sendto(t, &st->tx, st->fd, "again", 5, 0,
					   (struct sockaddr *)&st->to, sizeof(st->to)));
	URT_AWAIT(t, st->n = urt_recvfrom(t, &st->rx, st->fd, st->buf, sizeof(st->buf), 0, NULL,
					  NULL));
	URT_RETURN(t, st->sent == 5 && st->n == 5 && !memcmp(st->buf, "again", 5) ? 0 : 2);
	URT_END(t);
}

static const struct urt_task_type again_type = { .poll = again_poll, .name = "recvfrom-again" };

static int reports;

static void count_report(void *ctx, const char *msg)
{
	(void)ctx, (void)msg;
	reports++;
}

static void test_recvfrom_reevaluated_submits_once(void **state)
{
	struct again_state st = { .to.sin_family = AF_INET };
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port;

	(void)state;
	reports = 0;
	st.fd = urt_bind_udp(NULL, 0, 0, &port);
	assert_true(st.fd >= 0);
	st.to.sin_port = htons(port);
	st.to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_size = BUF_SIZE,
							   .features_off = features_off,
							   .debug_hook = count_report });
	assert_int_equal(urt_spawn(&rt, &again_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(test_take(&j), 0);
	/* one receive and one send (sleeps are the runtime's timers, not submissions) */
	assert_int_equal(test_stats(&rt).ops_submitted, 2);
	assert_int_equal(reports, 0); /* the same arguments every time */
	test_assert_clean(&rt);
	test_runtime_end(&rt);
	close(st.fd);
}

/* Aborted with a receive in flight: drop runs after its last completion,
 * and finds the cancel's result in the handle. */
static int late_result;

struct parked_state {
	struct urt_msg_op h;
	struct sockaddr_in from;
	socklen_t fromlen;
	int fd, n;
	char buf[16];
};

static bool parked_poll(struct urt_task *t, void *arg)
{
	struct parked_state *st = arg;

	URT_BEGIN(t);
	st->fromlen = sizeof(st->from);
	URT_AWAIT(t, st->n = urt_recvfrom(t, &st->h, st->fd, st->buf, sizeof(st->buf), 0,
					  (struct sockaddr *)&st->from, &st->fromlen));
	URT_RETURN(t, 1);
	URT_END(t);
}

static void parked_drop(struct urt_task *t, void *arg)
{
	struct parked_state *st = arg;

	(void)t;
	assert_false(urt_op_busy(&st->h.op));
	late_result = urt_op_take_late(&st->h.op);
}

static const struct urt_task_type parked_type = { .poll = parked_poll,
						  .drop = parked_drop,
						  .name = "recvfrom-parked" };

static void test_recvfrom_aborted(void **state)
{
	struct parked_state st = { 0 };
	struct urt_runtime rt;
	struct urt_join j;

	(void)state;
	late_result = 0;
	st.fd = urt_bind_udp(NULL, 0, 0, NULL);
	assert_true(st.fd >= 0);
	rt_init(&rt);
	assert_int_equal(urt_spawn(&rt, &parked_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_tick(&rt, 0), 1); /* submitted */
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(late_result, -ECANCELED);
	test_assert_clean(&rt);
	urt_join_detach(&j);
	test_runtime_end(&rt);
	close(st.fd);
}

static int as_chosen(void **state)
{
	(void)state;
	features_off = 0;
	conv = false;
	return 0;
}

/* the echoes through urt_sendto and urt_recvfrom */
static int with_sendto(void **state)
{
	(void)state;
	features_off = 0;
	conv = true;
	return 0;
}

static int one_shot(void **state)
{
	(void)state;
	features_off = URT_FEAT_RECVMSG_MULTI;
	conv = false;
	return 0;
}

/* buffers filled in part: one-shot, whatever the kernel has */
static int in_part(void **state)
{
	(void)state;
	features_off = URT_FEAT_RECV_BUNDLE;
	conv = false;
	return 0;
}

/* one buffer a completion: multishot where the kernel has it */
static int one_buffer(void **state)
{
	(void)state;
	features_off = URT_FEAT_RECV_BUNDLE | URT_FEAT_BUF_INC;
	conv = false;
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
		cmocka_unit_test_setup(test_udp_echo, with_sendto),
		cmocka_unit_test_setup(test_unix_dgram_abstract, with_sendto),
		BOTH(test_recvfrom_cuts_and_lengths),
		cmocka_unit_test_setup(test_sendto_recvfrom_refusals, as_chosen),
		cmocka_unit_test_setup(test_recvfrom_deadline_and_cancel, as_chosen),
		cmocka_unit_test_setup(test_recvfrom_reevaluated_submits_once, as_chosen),
		cmocka_unit_test_setup(test_recvfrom_aborted, as_chosen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
