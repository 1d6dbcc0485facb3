/* SPDX-License-Identifier: MIT */
/*
 * msg.c - datagrams and unix sockets: sendmsg, recvmsg, the datagram
 * receive stream, and the setup calls (a bound UDP socket, a unix
 * listener, a unix address).
 *
 * sendmsg and recvmsg are single-shot operations like urt_send (a prep
 * call between urt__op_begin and urt__op_commit, op.c); the msghdr, its
 * iovecs and its name must stay where they are until the await returns
 * (the kernel writes the name and msg_flags back at completion).
 * urt_sendto and urt_recvfrom are the same two operations on a msghdr
 * they build, once, at submission, in their handle (struct urt_msg_op):
 * not on the stack, since the await calls them again at every wake and
 * the kernel holds the msghdr until the completion. One path (msg_op)
 * submits all four. docs/design.md says why not IORING_OP_SEND with a
 * destination address.
 *
 * urt_recvmsg_stream hands out each datagram in a buffer the task gives
 * back with urt_buf_free, with its sender, by one of two paths:
 *
 *   multishot (URT_FEAT_RECVMSG_MULTI, and the ring not filled in part): a
 *     receive stream of IORING_OP_RECVMSG into the shared provided-buffer
 *     ring (net.c, urt__dgram_stream). Each datagram takes a whole buffer,
 *     { io_uring_recvmsg_out, the sender's address, the payload }, and is
 *     queued, swept, spilled and paused as any receive stream's chunk, so
 *     the ring's invariants (bufring.c: "no set of connections can hold
 *     the ring") hold for it unchanged. Three things differ, each kept
 *     where it acts: no bundle and no per-arm limit are armed (neither is
 *     defined for RECVMSG; the pause and the sweep bound it, as on a kernel
 *     without the limit), and a datagram copied out of the ring as it
 *     arrives gets a spill block of its own (complete.c: never joined to
 *     the last one, which would merge two datagrams).
 *   one-shot (the fallback): one IORING_OP_RECVMSG per datagram into a
 *     spill block (bufring.c) taken for it: the runtime takes a block, the
 *     kernel fills it, the task owns it. It never touches the ring.
 *
 * Why not multishot when buffers are filled in part (URT_FEAT_BUF_INC):
 * there the kernel writes a datagram into what is left of the buffer at
 * the ring's head and cuts it there, so datagrams would be truncated by
 * what others left; the one-shot path is used instead. Both paths give a
 * datagram at most buf_size - URT_DGRAM_HEADROOM bytes, so what a program
 * sees does not depend on the path.
 *
 * Unix listeners: a path name is bound as given; an abstract name is
 * written with a leading '@' (the '@' becomes the NUL of the abstract
 * namespace). The unlink policy is the caller's (urt/net.h).
 */
#include "io_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A msghdr of one iovec and a name, as sendto(2) and recvfrom(2) pass them. */
static void msg_fill(struct msghdr *msg, struct iovec *iov, const void *buf, size_t len,
		     const void *name, socklen_t namelen)
{
	*iov = (struct iovec){ .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	*msg = (struct msghdr){ .msg_name = (void *)(uintptr_t)name,
				.msg_namelen = namelen,
				.msg_iov = iov,
				.msg_iovlen = 1 };
}

/*
 * The one submission path of urt_sendmsg, urt_recvmsg, urt_sendto and
 * urt_recvfrom. buf and len are what the frame check refuses and the debug
 * fingerprint covers with fd (the msghdr for sendmsg / recvmsg, the
 * payload for sendto / recvfrom); call names the caller in its report.
 */
static int msg_op(struct urt_task *t, struct urt_op *op, int fd, struct msghdr *msg, int flags,
		  bool recv, const void *buf, size_t len, const char *call)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_start(t, op, fd, buf, len, &s, call);

	if (ret != URT__SUBMIT)
		return ret;
	if (recv)
		io_uring_prep_recvmsg(s.sqe, fd, msg, (unsigned)flags);
	else
		io_uring_prep_sendmsg(s.sqe, fd, msg, (unsigned)flags | MSG_NOSIGNAL);
	return urt__op_commit(op, &s);
}

int urt_sendmsg(struct urt_task *t, struct urt_op *op, int fd, const struct msghdr *msg, int flags)
{
	return msg_op(t, op, fd, (struct msghdr *)(uintptr_t)msg, flags, false, msg, sizeof(*msg),
		      __func__);
}

int urt_recvmsg(struct urt_task *t, struct urt_op *op, int fd, struct msghdr *msg, int flags)
{
	return msg_op(t, op, fd, msg, flags, true, msg, sizeof(*msg), __func__);
}

int urt_sendto(struct urt_task *t, struct urt_msg_op *h, int fd, const void *buf, size_t len,
	       int flags, const struct sockaddr *addr, socklen_t addrlen)
{
	if (h->op.state == URT_OP_IDLE) { /* the msghdr is built once, at submission */
		if (addr && addrlen > sizeof(struct sockaddr_storage))
			return -EINVAL; /* as sendto(2); sendmsg(2) would cut it */
		if (urt__user_mem_refused(h, sizeof(*h)) ||
		    (addr && urt__user_mem_refused(addr, addrlen)))
			return -EFAULT;
		msg_fill(&h->msg, &h->iov, buf, len, addr, addr ? addrlen : 0);
	}
	return msg_op(t, &h->op, fd, &h->msg, flags, false, buf, len, __func__);
}

int urt_recvfrom(struct urt_task *t, struct urt_msg_op *h, int fd, void *buf, size_t len, int flags,
		 struct sockaddr *addr, socklen_t *addrlen)
{
	int ret;

	if (h->op.state == URT_OP_IDLE) {
		socklen_t cap = 0;

		if (addr && !addrlen)
			return -EINVAL;
		if (urt__user_mem_refused(h, sizeof(*h)) ||
		    (addr && urt__user_mem_refused(addrlen, sizeof(*addrlen))))
			return -EFAULT;
		if (addr) {
			cap = *addrlen; /* read here only: the kernel writes the handle's copy */
			if (urt__user_mem_refused(addr, cap))
				return -EFAULT;
		}
		msg_fill(&h->msg, &h->iov, buf, len, addr, cap);
	}
	ret = msg_op(t, &h->op, fd, &h->msg, flags, true, buf, len, __func__);
	if (ret >= 0 && addr)
		*addrlen = h->msg.msg_namelen; /* the sender's length, before any cut */
	return ret;
}

/* --- the datagram stream ----------------------------------------------------- */

/* Arm one receive into a fresh block. Return: URT_PENDING; -errno. */
static int dgram_arm(struct urt_task *t, struct urt_op *op, int fd, struct urt_dgram *d)
{
	struct urt_runtime *rt = urt__rt;
	struct urt__sub s = { 0 };
	int id, ret;

	if (d->buf.live)
		return -EINVAL; /* the last datagram was not given back */
	id = urt__spill_get(rt);
	if (id < 0)
		return id;
	ret = urt__op_begin(t, op, NULL, 0, &s);
	if (ret != URT__SUBMIT) {
		urt__buf_release(rt, URT__SPILL_ID | (uint32_t)id);
		return ret == URT_PENDING ? -EBUSY : ret; /* idle was checked */
	}
	d->buf = (struct urt_buf){ .data = rt->bufs.spill.blk[id],
				   .id = (URT__SPILL_ID | (uint32_t)id) & 0x7fffffffu,
				   .live = 1 };
	msg_fill(&d->msg, &d->iov, d->buf.data,
		 rt->bufs.size - URT_DGRAM_HEADROOM, /* as multishot */
		 &d->from, sizeof(d->from));
	io_uring_prep_recvmsg(s.sqe, fd, &d->msg, 0);
	return urt__op_commit(op, &s);
}

/* Whether a new datagram stream goes multishot (see the top). */
static bool dgram_multishot(const struct urt_runtime *rt)
{
	return (rt->stats.features & URT_FEAT_RECVMSG_MULTI) && rt->bufs.mode != URT__BUFS_INC;
}

int urt_recvmsg_stream(struct urt_task *t, struct urt_op *op, int fd, struct urt_dgram *d)
{
	struct urt_runtime *rt = urt__rt;
	int res;

	if (URT_UNLIKELY(!rt))
		return -ESRCH;
	if (op->state == URT_OP_STREAM)
		return urt__dgram_stream(t, op, fd, d);
	if (op->state == URT_OP_IDLE) {
		if (rt->bufs.size <= URT_DGRAM_HEADROOM)
			return -EINVAL; /* no room for a byte of payload */
		if (URT_UNLIKELY(urt__user_mem_refused(d, sizeof(*d))))
			return -EFAULT;
		if (dgram_multishot(rt))
			return urt__dgram_stream(t, op, fd, d);
		return dgram_arm(t, op, fd, d);
	}
	if (op->state != URT_OP_DONE)
		return op->state == URT_OP_INFLIGHT ? URT_PENDING : -EBUSY;
	op->state = URT_OP_IDLE;
	res = op->res;
	if (res < 0) { /* the block goes back: nothing arrived in it */
		urt_buf_free(&d->buf);
		d->fromlen = 0;
		d->flags = 0;
		return res;
	}
	d->buf.len = (uint32_t)res;
	d->fromlen = d->msg.msg_namelen;
	d->flags = (uint32_t)d->msg.msg_flags;
	return res;
}

/* --- setup: ordinary system calls --------------------------------------------- */

int urt_bind_udp(const char *host, uint16_t port, unsigned flags, uint16_t *bound_port)
{
	struct sockaddr_storage ss;
	void *k_ctx;
	const struct urt__kern *k = urt__kern(&k_ctx);
	socklen_t len;
	int fd, one = 1, ret;

	if (urt__addr_literal(host, port, &ss, &len))
		return -EINVAL;
	fd = k->socket(k_ctx, ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	if (((flags & URT_LISTEN_REUSEPORT) &&
	     (ret = k->setsockopt(k_ctx, fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))) ||
	    (ss.ss_family == AF_INET6 && (flags & URT_LISTEN_V6ONLY) &&
	     (ret = k->setsockopt(k_ctx, fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))) ||
	    (ret = k->bind(k_ctx, fd, (struct sockaddr *)&ss, len)))
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

int urt_unix_addr(struct sockaddr_un *sun, const char *name, socklen_t *len)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n >= sizeof(sun->sun_path) || (name[0] == '@' && n == 1))
		return -EINVAL;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, name, n);
	if (name[0] == '@') {
		sun->sun_path[0] = '\0'; /* abstract: the length says where it ends */
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

/* A path name that is in the way: remove it only if it is a socket. */
static int unlink_stale(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(sb.st_mode))
		return -EADDRINUSE;
	return unlink(path) && errno != ENOENT ? -errno : 0;
}

int urt_listen_unix(const char *name, int type, int backlog, unsigned flags)
{
	struct sockaddr_un sun;
	void *k_ctx;
	const struct urt__kern *k = urt__kern(&k_ctx);
	socklen_t len;
	int fd, ret;

	if (type != SOCK_STREAM && type != SOCK_DGRAM && type != SOCK_SEQPACKET)
		return -EINVAL;
	ret = urt_unix_addr(&sun, name, &len);
	if (ret)
		return ret;
	if ((flags & URT_LISTEN_UNLINK) && name[0] != '@') {
		ret = unlink_stale(name);
		if (ret)
			return ret;
	}
	fd = k->socket(k_ctx, AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	if ((ret = k->bind(k_ctx, fd, (struct sockaddr *)&sun, len)) ||
	    (type != SOCK_DGRAM && (ret = k->listen(k_ctx, fd, backlog > 0 ? backlog : 4096)))) {
		k->close(k_ctx, fd);
		return ret;
	}
	return fd;
}
