/* SPDX-License-Identifier: MIT */
/*
 * net.c - socket operations and the multishot streams: accept, receive,
 * and the datagram receive (a receive stream whose records carry
 * IORING_OP_RECVMSG: one datagram a buffer, taken apart at the await;
 * msg.c chooses it, complete.c keeps its datagrams whole).
 *
 * Single-shot operations are a prep call between urt__op_begin and
 * urt__op_commit (op.c). Streams keep one record while armed; the await
 * below is their state machine:
 *
 *   idle --await--> armed (ncqe 1) --CQEs queue--> ... --CQE without MORE-->
 *   ended: after the queue is drained the await looks at how it ended:
 *     data or "go on" (res 0)     -> re-arm
 *     -ENOBUFS (receive)          -> re-arm if a buffer is free, else wait on
 *                                    the starved list (urt_buf_free wakes it)
 *     -EMFILE/-ENFILE (accept)    -> returned once; the next await backs off
 *                                    on the timer wheel (1 ms doubling to
 *                                    256 ms), then re-arms
 *     EOF, other errors, cancel   -> the stream ends: record freed, handle idle
 */
#include "io_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BACKOFF_MAX_MS 256

/* host (an IPv4 or IPv6 literal; NULL or "": 127.0.0.1) and port as a
 * socket address, for the listeners and urt_bind_udp. Return: 0; -EINVAL. */
int urt__addr_literal(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (!host || !*host)
		host = "127.0.0.1";
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	return 0;
}

int urt_listen_tcp(const char *host, uint16_t port, int backlog, unsigned flags,
		   uint16_t *bound_port)
{
	struct sockaddr_storage ss;
	void *k_ctx;
	const struct urt__kern *k = urt__kern(&k_ctx);
	socklen_t len;
	int fd, one = 1, ret;

	if (urt__addr_literal(host, port, &ss, &len))
		return -EINVAL;
	fd = k->socket(k_ctx, ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	if ((ret = k->setsockopt(k_ctx, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) ||
	    ((flags & URT_LISTEN_REUSEPORT) &&
	     (ret = k->setsockopt(k_ctx, fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))) ||
	    (ss.ss_family == AF_INET6 && (flags & URT_LISTEN_V6ONLY) &&
	     (ret = k->setsockopt(k_ctx, fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))) ||
	    (ret = k->bind(k_ctx, fd, (struct sockaddr *)&ss, len)) ||
	    (ret = k->listen(k_ctx, fd, backlog > 0 ? backlog : 4096)))
		goto fail;
	if (bound_port) {
		len = sizeof(ss);
		if ((ret = k->getsockname(k_ctx, fd, (struct sockaddr *)&ss, &len)))
			goto fail;
		*bound_port =
			ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return fd;
fail:
	k->close(k_ctx, fd);
	return ret;
}

int urt_socket(struct urt_task *t, struct urt_op *op, int domain, int type, int protocol)
{
	struct urt__sub s = { 0 };
	int ret;

	if (urt__rt && !(urt__rt->stats.features & URT_FEAT_SOCKET_OP) &&
	    op->state == URT_OP_IDLE) { /* an older kernel: the plain syscall */
		return urt__rt->kern->socket(urt__rt->kern_ctx, domain, type, protocol);
	}
	ret = urt__op_begin(t, op, NULL, 0, &s);
	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_socket(s.sqe, domain, type, protocol, 0);
	return urt__op_commit(op, &s);
}

int urt_accept(struct urt_task *t, struct urt_op *op, int fd, struct sockaddr *addr,
	       socklen_t *addrlen)
{
	struct urt__sub s = { 0 };
	socklen_t alen = 0;
	int ret;

	/* the kernel writes *addrlen too: it may not lie in the frame arena,
	 * and it is read only before submitting (it may be gone by the end) */
	if (op->state == URT_OP_IDLE && addrlen) {
		if (urt__user_mem_refused(addrlen, sizeof(*addrlen)))
			return -EFAULT;
		alen = *addrlen;
		if (urt__user_mem_refused(addr, alen))
			return -EFAULT;
	}
	/* len 0: *addrlen changes at completion, so it is no argument to check */
	ret = urt__op_begin_fd(t, op, fd, addr, 0, &s);
	if (ret != URT__SUBMIT)
		return ret;
	if (s.rt->stats.features & URT_FEAT_FIXED_FDS) /* liburing 2.3 adds the 1 */
		io_uring_prep_accept_direct(s.sqe, fd, addr, addrlen, SOCK_NONBLOCK,
					    IORING_FILE_INDEX_ALLOC - 1);
	else
		io_uring_prep_accept(s.sqe, fd, addr, addrlen, SOCK_CLOEXEC);
	s.r->rfl |= URT__RF_SLOWCQE; /* its descriptor is mapped at completion */
	return urt__op_commit(op, &s);
}

int urt_connect(struct urt_task *t, struct urt_op *op, int fd, const struct sockaddr *addr,
		socklen_t addrlen)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_begin_fd(t, op, fd, addr, addrlen, &s);

	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_connect(s.sqe, fd, addr, addrlen);
	return urt__op_commit(op, &s);
}

/* urt_recv's every case but the two common ones (urt_nop's shape, op.c). */
__attribute__((noinline)) static int recv_submit(struct urt_task *t, struct urt_op *op, int fd,
						 void *buf, size_t len, int flags)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_start(t, op, fd, buf, len, &s, "urt_recv");

	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_recv(s.sqe, fd, buf, urt__len32(len), flags);
	return urt__op_commit(op, &s);
}

int urt_recv(struct urt_task *t, struct urt_op *op, int fd, void *buf, size_t len, int flags)
{
	struct urt__sub s;
	int ret;

	if (urt__op_taken(op, &ret))
		return ret;
	if (URT_UNLIKELY(!urt__op_fast_begin(t, op, fd, buf, len, &s)))
		return recv_submit(t, op, fd, buf, len, flags);
	io_uring_prep_recv(s.sqe, fd, buf, urt__len32(len), flags);
	return urt__op_fast_commit(op, &s);
}

/* urt_send's every case but the two common ones. */
__attribute__((noinline)) static int send_submit(struct urt_task *t, struct urt_op *op, int fd,
						 const void *buf, size_t len, int flags)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_start(t, op, fd, buf, len, &s, "urt_send");

	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_send(s.sqe, fd, buf, urt__len32(len), flags | MSG_NOSIGNAL);
	return urt__op_commit(op, &s);
}

/* urt_send's common submission, inline (urt__op_fast_begin); apart from
 * the taking evaluation, which so saves no registers (six arguments and
 * the record's pieces do not fit the scratch registers). */
__attribute__((noinline)) static int send_start(struct urt_task *t, struct urt_op *op, int fd,
						const void *buf, size_t len, int flags)
{
	struct urt__sub s;

	if (URT_UNLIKELY(!urt__op_fast_begin(t, op, fd, buf, len, &s)))
		return send_submit(t, op, fd, buf, len, flags);
	io_uring_prep_send(s.sqe, fd, buf, urt__len32(len), flags | MSG_NOSIGNAL);
	return urt__op_fast_commit(op, &s);
}

/* A server's send per answer: the result taken inline and frameless
 * (urt_nop's shape), the common submission a jump away (send_start), the
 * rest in send_submit. */
int urt_send(struct urt_task *t, struct urt_op *op, int fd, const void *buf, size_t len, int flags)
{
	int ret;

	if (urt__op_taken(op, &ret))
		return ret;
	return send_start(t, op, fd, buf, len, flags);
}

int urt_send_zc(struct urt_task *t, struct urt_op *op, int fd, const void *buf, size_t len,
		int flags)
{
	struct urt_runtime *rt = urt__rt;
	struct urt__sub s = { 0 };
	int ret;

	uint64_t timeout = op->timeout_ns;

	if (op->state == URT_OP_IDLE && rt && !(rt->stats.features & URT_FEAT_SEND_ZC))
		return urt_send(t, op, fd, buf, len, flags);
	if (op->state == URT_OP_IDLE && rt && timeout && (ret = urt__timer_reserve(rt)))
		return ret;
	ret = urt__op_begin_fd(t, op, fd, buf, len, &s);
	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_send_zc(s.sqe, fd, buf, urt__len32(len), flags | MSG_NOSIGNAL,
			      rt->zc_report ? IORING_SEND_ZC_REPORT_USAGE : 0);
	/* what a reset of the connection needs (zc.c, urt__zc_reset) */
	s.r->fd = fd;
	s.r->cookie = urt__sock_cookie(fd);
	s.r->rfl |= URT__RF_SLOWCQE; /* a result with IORING_CQE_F_MORE, then the notification */
	/* the deadline is the runtime's timer, not a linked timeout: it must
	 * also bound the wait for the notification, after the send is done */
	op->timeout_ns = 0;
	ret = urt__op_commit(op, &s);
	op->timeout_ns = timeout;
	if (timeout) {
		uint64_t now = urt_now_ns();

		urt__timer_add(rt, s.idx, timeout > UINT64_MAX - now ? UINT64_MAX : now + timeout);
		s.r->rfl |= URT__RF_ZC_TIMER;
	}
	return ret;
}

int urt_shutdown(struct urt_task *t, struct urt_op *op, int fd, int how)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_begin_fd(t, op, fd, NULL, 0, &s);

	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_shutdown(s.sqe, fd, how);
	return urt__op_commit(op, &s);
}

#define URT__SOCKET_URING_OP_SETSOCKOPT 3 /* Linux 6.7: IORING_OP_URING_CMD on a socket */

int urt_setsockopt(struct urt_task *t, struct urt_op *op, int fd, int level, int name,
		   const void *val, socklen_t len)
{
	struct urt__sub s = { 0 };
	int ret;

	if (!urt_fd_is_fixed(fd) && op->state == URT_OP_IDLE) {
		void *k_ctx;
		const struct urt__kern *k = urt__kern(&k_ctx);

		return k->setsockopt(k_ctx, fd, level, name, val, len);
	}
	ret = urt__op_begin_fd(t, op, fd, val, len, &s);
	if (ret != URT__SUBMIT)
		return ret;
	/* the kernel's SQE names these fields level, optname, optval, optlen */
	io_uring_prep_rw(IORING_OP_URING_CMD, s.sqe, fd, NULL, 0, 0);
	s.sqe->cmd_op = URT__SOCKET_URING_OP_SETSOCKOPT;
	s.sqe->addr = (uint32_t)level | (uint64_t)(uint32_t)name << 32;
	s.sqe->addr3 = (uint64_t)(uintptr_t)val;
	s.sqe->file_index = len;
	return urt__op_commit(op, &s);
}

/* --- streams ----------------------------------------------------------------- */

/* What a multishot recvmsg asks of each datagram: room for the sender's
 * address, no control data (the kernel reads it; nothing writes it). */
static struct msghdr dgram_msghdr = { .msg_namelen = sizeof(struct sockaddr_storage) };
_Static_assert(sizeof(struct io_uring_recvmsg_out) + sizeof(struct sockaddr_storage) ==
		       URT_DGRAM_HEADROOM,
	       "a datagram's headroom in its buffer");

static void stream_arm(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx)
{
	struct io_uring_sqe *sqe;

	urt__sq_reserve(rt, 1);
	sqe = io_uring_get_sqe(urt__ring(rt));
	if (r->kind == URT__REC_RECV && r->opcode == IORING_OP_RECVMSG) {
		/* datagrams: whole buffers, no bundle, no per-arm limit (not
		 * defined for RECVMSG): the pause and the sweep bound it */
		io_uring_prep_recvmsg_multishot(sqe, r->fd, &dgram_msghdr, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 0;
	} else if (r->kind == URT__REC_RECV) {
		io_uring_prep_recv_multishot(sqe, r->fd, NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 0;
		if (rt->bufs.mode == URT__BUFS_BUNDLE && !rt->bufs.no_limit)
			sqe->ioprio |= IORING_RECVSEND_BUNDLE; /* the limit bounds a bundle too */
		if (!rt->bufs.no_limit) /* optlen in newer headers: end after these bytes */
			sqe->file_index = rt->bufs.arm_bytes;
	} else if (rt->stats.features & URT_FEAT_FIXED_FDS) {
		io_uring_prep_multishot_accept_direct(sqe, r->fd, NULL, NULL, SOCK_NONBLOCK);
	} else {
		io_uring_prep_multishot_accept(sqe, r->fd, NULL, NULL, SOCK_CLOEXEC);
	}
	r->rfl &= (uint8_t) ~(URT__RF_ENDED | URT__RF_EOF | URT__RF_REPORTED | URT__RF_CANCELLING);
	r->res = 0;
	urt__sqe_commit(rt, r, idx, sqe);
}

/* Settle the handle's state. Return: URT__SUBMIT with a new armed record
 * in *idx, or what the await returns now. */
static int stream_start(struct urt_task *t, struct urt_op *op, uint8_t kind, uint8_t opcode, int fd)
{
	struct urt_runtime *rt = urt__rt;
	int64_t idx;

	if (!rt)
		return -ESRCH;
	if (op->state != URT_OP_IDLE)
		return -EBUSY; /* a single-shot operation is using the handle */
	if (!t || t != rt->polling)
		return -EBUSY;
	if (op->timeout_ns)
		return -EINVAL; /* a stream takes no deadline: a sleep beside it does */
	idx = urt__rec_alloc(rt, kind);
	if (idx < 0)
		return (int)idx;
	urt__rec_at(rt, (uint32_t)idx)->fd = fd;
	urt__rec_at(rt, (uint32_t)idx)->op = op;
	urt__rec_at(rt, (uint32_t)idx)->tm.asked = 0;
	urt__rec_at(rt, (uint32_t)idx)->tm.pinned = 0;
	urt__rec_at(rt, (uint32_t)idx)->opcode = opcode; /* stream_arm: which receive */
	urt__rec_link(rt, t, (uint32_t)idx);
	stream_arm(rt, urt__rec_at(rt, (uint32_t)idx), (uint32_t)idx);
	op->state = URT_OP_STREAM;
	op->rec = (uint32_t)idx;
	op->gen = urt__rec_at(rt, (uint32_t)idx)->gen;
	op->backoff_ms = 0;
	return URT_PENDING;
}

static int stream_end(struct urt_runtime *rt, struct urt_op *op, int res)
{
	struct urt__rec *r = urt__rec_at(rt, op->rec);

	urt__stream_flush(rt, r);
	urt__rec_unlink(rt, op->rec);
	urt__rec_free(rt, op->rec);
	op->state = URT_OP_IDLE;
	op->rec = 0;
	op->res = res;
	return res;
}

/* A receive stream's await: recv (TCP) or recvmsg (datagrams), by opcode. */
static int recv_stream(struct urt_task *t, struct urt_op *op, int fd, struct urt_buf *buf,
		       uint8_t opcode)
{
	struct urt_runtime *rt = urt__rt;
	struct urt__cqent e;
	struct urt__rec *r;

	if (op->state != URT_OP_STREAM)
		return stream_start(t, op, URT__REC_RECV, opcode, fd);
	r = urt__rec_at(rt, op->rec);
	if (URT_UNLIKELY(r->kind != URT__REC_RECV))
		return -EBUSY; /* the handle holds the other kind of stream */
	if (urt__stream_pop(rt, r, &e)) {
		r->tm.asked = rt->stats.ticks; /* reading: what comes is taken soon */
		if (urt__ent_in_ring(&e))
			rt->bufs.queued--;
		buf->data = urt__ent_data(rt, &e);
		buf->len = (uint32_t)e.res;
		buf->id = urt__ent_id(&e) & 0x7fffffffu;
		buf->live = 1;
		return e.res;
	}
	if (!(r->rfl & URT__RF_ENDED) || (r->rfl & URT__RF_STARVED))
		return URT_PENDING;
	if (r->rfl & URT__RF_EOF)
		return stream_end(rt, op, 0);
	if ((r->rfl & URT__RF_PAUSED) &&
	    (r->res == -ECANCELED || r->res == 0 || r->res == -ENOBUFS)) {
		/* paused for too much unread, now all read: go on */
		r->rfl &= (uint8_t) ~(URT__RF_PAUSED | URT__RF_CANCELLING);
		r->res = r->res == -ENOBUFS ? -ENOBUFS : 0;
	}
	if (r->res == -ENOBUFS && !(r->rfl & URT__RF_CANCELLING)) {
		if (!rt->bufs.avail) {
			urt__buf_starve(rt, op->rec);
			return URT_PENDING;
		}
		stream_arm(rt, r, op->rec);
		return URT_PENDING;
	}
	if (r->res == 0 && !(r->rfl & URT__RF_CANCELLING)) {
		stream_arm(rt, r, op->rec);
		return URT_PENDING;
	}
	/* cancelled while starved or paused: the user asked, so -ECANCELED
	 * (-ENOBUFS is back-pressure and never reaches the task) */
	if (!r->res || r->res == -ENOBUFS)
		return stream_end(rt, op, -ECANCELED);
	return stream_end(rt, op, r->res);
}

int urt_recv_stream(struct urt_task *t, struct urt_op *op, int fd, struct urt_buf *buf)
{
	if (op->state == URT_OP_STREAM && urt__rt &&
	    urt__rec_at(urt__rt, op->rec)->opcode == IORING_OP_RECVMSG)
		return -EBUSY; /* a datagram stream: urt_recvmsg_stream */
	return recv_stream(t, op, fd, buf, IORING_OP_RECV);
}

size_t urt_recv_stream_held(const struct urt_op *op)
{
	struct urt_runtime *rt = urt__rt;
	const struct urt__rec *r;
	size_t n = 0;

	if (!rt || op->state != URT_OP_STREAM)
		return 0;
	r = urt__rec_at(rt, op->rec);
	if (r->kind != URT__REC_RECV || r->gen != op->gen)
		return 0;
	for (uint32_t c = r->tm.qhead; c; c = urt__rec_at(rt, c)->next) {
		const struct urt__rec *ch = urt__rec_at(rt, c);

		n += ch->ncqe; /* a buffer or a spill block each, however full */
	}
	return n * rt->bufs.size;
}

int urt_recv_stream_end(struct urt_task *t, struct urt_op *op, int fd)
{
	struct urt_buf b = { 0 };

	if (!urt_op_busy(op))
		return 0;
	/* not a receive stream: a single-shot operation, or an accept stream,
	 * which this call would wait on forever (their awaits refuse it) */
	if (op->state != URT_OP_STREAM || urt__rec_at(urt__rt, op->rec)->kind != URT__REC_RECV)
		return -EBUSY;
	(void)urt_op_cancel(op); /* -EALREADY: a cancel is under way already */
	while (urt_op_busy(op)) {
		int n = recv_stream(t, op, fd, &b, IORING_OP_RECV); /* a datagram one too */

		if (n == URT_PENDING)
			return URT_PENDING;
		if (n > 0)
			urt_buf_free(&b);
	}
	return 0;
}

int urt_accept_stream(struct urt_task *t, struct urt_op *op, int fd)
{
	struct urt_runtime *rt = urt__rt;
	struct urt__cqent e;
	struct urt__rec *r;

	if (op->state != URT_OP_STREAM)
		return stream_start(t, op, URT__REC_ACCEPT, IORING_OP_ACCEPT, fd);
	r = urt__rec_at(rt, op->rec);
	if (URT_UNLIKELY(r->kind != URT__REC_ACCEPT))
		return -EBUSY; /* the handle holds the other kind of stream */
	if (urt__stream_pop(rt, r, &e)) {
		op->backoff_ms = 0;
		return e.res;
	}
	if (!(r->rfl & URT__RF_ENDED) || (r->rfl & URT__RF_BACKOFF))
		return URT_PENDING;
	if ((r->res == -EMFILE || r->res == -ENFILE) && !(r->rfl & URT__RF_CANCELLING)) {
		uint64_t ms;

		if (!(r->rfl & URT__RF_REPORTED)) {
			r->rfl |= URT__RF_REPORTED;
			return r->res;
		}
		op->backoff_ms = op->backoff_ms ? op->backoff_ms * 2 : 1;
		if (op->backoff_ms > BACKOFF_MAX_MS)
			op->backoff_ms = BACKOFF_MAX_MS;
		ms = op->backoff_ms;
		if (urt__timer_add(rt, op->rec, urt_now_ns() + ms * 1000000u))
			return -ENOMEM; /* the stream goes on; the next await tries again */
		r->rfl |= URT__RF_BACKOFF;
		rt->stats.accept_backoffs++;
		return URT_PENDING;
	}
	if (r->res == 0 && !(r->rfl & URT__RF_CANCELLING)) {
		stream_arm(rt, r, op->rec);
		return URT_PENDING;
	}
	return stream_end(rt, op, r->res ? r->res : -ECANCELED);
}

/*
 * The multishot datagram stream (urt_recvmsg_stream, msg.c): a receive
 * stream whose records carry IORING_OP_RECVMSG, so the chunks it queues
 * are the kernel's { io_uring_recvmsg_out, name, payload } in one buffer
 * each; here the chunk is taken apart.
 */
int urt__dgram_stream(struct urt_task *t, struct urt_op *op, int fd, struct urt_dgram *d)
{
	struct io_uring_recvmsg_out out;
	uint32_t copied, nlen;
	int n;

	if (op->state == URT_OP_STREAM) {
		const struct urt__rec *r = urt__rec_at(urt__rt, op->rec);

		if (r->kind != URT__REC_RECV || r->opcode != IORING_OP_RECVMSG)
			return -EBUSY; /* the handle holds another kind of stream */
	}
	if (d->buf.live)
		return -EINVAL; /* the last datagram was not given back */
	n = recv_stream(t, op, fd, &d->buf, IORING_OP_RECVMSG);
	if (n == URT_PENDING || n < 0)
		return n;
	if (n == 0)
		return -ESHUTDOWN;		/* read side shut down: the stream has ended */
	if ((uint32_t)n < URT_DGRAM_HEADROOM) { /* only a fault seam cuts one so */
		urt_buf_free(&d->buf);
		return -EPROTO;
	}
	memcpy(&out, d->buf.data, sizeof(out)); /* a spill block or a buffer: aligned, but cheap */
	nlen = out.namelen < sizeof(d->from) ? out.namelen : sizeof(d->from);
	memcpy(&d->from, d->buf.data + sizeof(out), nlen);
	d->fromlen = nlen;
	copied = (uint32_t)n - URT_DGRAM_HEADROOM;
	d->flags = out.flags | (out.payloadlen > copied ? (uint32_t)MSG_TRUNC : 0);
	d->buf.data += URT_DGRAM_HEADROOM;
	d->buf.len = copied;
	return (int)copied;
}
