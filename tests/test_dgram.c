/* SPDX-License-Identifier: MIT */
/*
 * test_dgram.c - datagrams and unix sockets (msg.c): a UDP echo through
 * urt_recvmsg_stream and urt_sendmsg (sizes from empty to longer than a
 * buffer, which comes back cut with MSG_TRUNC), a unix stream listener
 * (its unlink policy: a stale socket, a file in the way), unix datagrams
 * between abstract names, urt_unix_addr's refusals, and a task aborted
 * mid-receive. The datagram tests run twice: as the runtime chooses, and
 * with URT_FEAT_RECVMSG_MULTI in opts.features_off. (Both take the
 * one-shot path today: the multishot one is not built yet, see msg.c;
 * the second run is its place.) Every test ends with nothing live.
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

#define BUF_SIZE 2048 /* opts.buf_size: a datagram longer than this is cut */

static uint32_t features_off;

static void rt_init(struct urt_runtime *rt)
{
	test_runtime_init(rt, &(struct urt_runtime_opts){ .buf_size = BUF_SIZE,
							  .features_off = features_off });
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
	return (size_t)i * 31 % BUF_SIZE;
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
		if (st->len > BUF_SIZE) { /* cut to a buffer, marked by the echo */
			if (st->n != BUF_SIZE || st->in[0] != 'T' ||
			    memcmp(st->in + 1, st->out + 1, BUF_SIZE - 1))
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
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(take(&jc), 0);
	assert_int_equal(take(&je), 0);
	assert_int_equal(served, ROUNDS);
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

#define BOTH(f) cmocka_unit_test_setup(f, as_chosen), cmocka_unit_test_setup(f, one_shot)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_udp_echo),
		BOTH(test_unix_dgram_abstract),
		cmocka_unit_test(test_unix_addr_refusals),
		BOTH(test_unix_stream_and_unlink_policy),
		BOTH(test_abort_mid_receive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
