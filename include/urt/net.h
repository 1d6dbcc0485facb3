/* SPDX-License-Identifier: MIT */
/*
 * urt/net.h - sockets: listeners, accept (single and multishot), connect,
 * send and receive, and the provided-buffer ring every connection shares.
 *
 * Every call with a `struct urt_op *` is an awaitable with the rules of
 * urt/io.h (one handle per operation, results as the kernel reports them,
 * the same lifetime rules and extra errors).
 *
 * Multishot operations are streams: one handle, armed once, and each await
 * returns the next completion (a descriptor, or a buffer of received
 * bytes) until the stream ends. The handle stays busy (URT_OP_STREAM) until
 * the await that returns the end; cancel it with urt_op_cancel.
 *
 * Provided buffers: the runtime owns one ring of opts.buf_count buffers of
 * opts.buf_size bytes, shared by every multishot receive (no per-connection
 * receive buffer). A receive hands the task a struct urt_buf that the task
 * must give back with urt_buf_free once it has used the bytes. When the
 * ring is empty the kernel stops a stream with -ENOBUFS: urt treats that
 * as back-pressure, never as a connection error; the stream waits and is
 * re-armed when a buffer is given back.
 *
 * No set of connections can hold the ring. While opts.recv_pin_max ring
 * buffers (default buf_count / 2) or more sit unread in stream queues,
 * each tick, once its tasks have run, copies the queued chunks of every
 * stream whose task took none in that tick into spill memory (blocks of
 * buf_size from the runtime's allocator), and gives their ring buffers
 * back; what arrives for such a stream is copied as it comes. While fewer
 * than an eighth of the ring's buffers are free, every arrival is copied.
 * So the ring keeps an eighth free whatever the connections do (but for
 * what the kernel hands out in one batch before the runtime sees it),
 * and a stream whose task reads is never copied. The task still gets a urt_buf. What the runtime holds
 * per connection, at most: the task's slot or box; one op record (64
 * bytes) per operation in flight plus one per 4 queued receive chunks; and
 * the stream's unread bytes, at most one arm (opts.stream_queue buffers'
 * worth, 64 KiB by default) plus one buffer, in ring buffers or spill
 * memory: a stream is re-armed only once its task has read what it has.
 * That is the worst case under a client that sends and never reads;
 * urt_recv_stream_held says what a connection holds now. Buffers a task
 * has taken are its own: see urt_buf_hold.
 * Context: the runtime's thread.
 */
#ifndef URT_NET_H
#define URT_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "urt/io.h"

#ifdef __cplusplus
extern "C" {
#endif

#define URT_LISTEN_REUSEPORT 0x1u /* SO_REUSEPORT: one listener per runtime, same port */
#define URT_LISTEN_V6ONLY    0x2u /* IPv6 address: no v4-mapped connections */

/*
 * urt_listen_tcp - a non-blocking TCP listener on host:port (IPv4 or IPv6
 * literal; NULL or "" is 127.0.0.1) with SO_REUSEADDR, made with ordinary
 * syscalls (setup, not the hot path). port 0 picks a free port; *bound_port
 * (if not NULL) receives the port bound.
 * Return: the descriptor; -EINVAL for a host that is not an address
 * literal; another -errno from socket/bind/listen.
 * Context: any thread.
 */
int urt_listen_tcp(const char *host, uint16_t port, int backlog, unsigned flags,
		   uint16_t *bound_port);

/*
 * urt_socket - awaitable socket(2) (IORING_OP_SOCKET).
 * Return: the descriptor; -errno.
 */
int urt_socket(struct urt_task *t, struct urt_op *op, int domain, int type, int protocol);

/*
 * urt_accept - awaitable accept4(2) with SOCK_CLOEXEC; addr/addrlen may be
 * NULL, else must stay valid until completion. With URT_FEAT_FIXED_FDS
 * (opts.fixed_fds) it and urt_accept_stream give direct descriptors,
 * URT_FD_FIXED | slot, non-blocking (urt/io.h), and -ENFILE when the
 * table is full.
 */
int urt_accept(struct urt_task *t, struct urt_op *op, int fd, struct sockaddr *addr,
	       socklen_t *addrlen);

/*
 * urt_accept_stream - awaitable multishot accept: each await returns the
 * next connection's descriptor. Under EMFILE / ENFILE the await returns
 * that error once, and the stream then waits (a backoff timer from 1 ms,
 * doubling to 256 ms, never a busy loop) before it accepts again.
 * Return: a descriptor (>= 0); -EMFILE / -ENFILE (the stream goes on);
 * -EINVAL if the handle carries a deadline (urt_op_set_timeout: a linked
 * timeout would end the whole stream, not one wait; put a sleep beside the
 * stream in URT_AWAIT_ANY instead); -EBUSY if the handle holds a receive
 * stream; another -errno: the stream has ended and the handle is idle.
 */
int urt_accept_stream(struct urt_task *t, struct urt_op *op, int fd);

/* urt_connect - awaitable connect(2); addr must stay valid until completion. */
int urt_connect(struct urt_task *t, struct urt_op *op, int fd, const struct sockaddr *addr,
		socklen_t addrlen);

/* urt_recv - awaitable recv(2) into the caller's buffer, at most 2 GiB - 1
 * bytes a call. 0: the peer closed. */
int urt_recv(struct urt_task *t, struct urt_op *op, int fd, void *buf, size_t len, int flags);

/* urt_send - awaitable send(2) (MSG_NOSIGNAL added); may be short (at most
 * 2 GiB - 1 bytes a call). */
int urt_send(struct urt_task *t, struct urt_op *op, int fd, const void *buf, size_t len, int flags);

/*
 * urt_send_zc - awaitable send(2) without copying the bytes
 * (IORING_OP_SEND_ZC, MSG_NOSIGNAL added): the kernel sends from buf
 * itself, and the await returns only once the kernel is done with buf (its
 * notification, which comes when the peer has acknowledged the bytes), so
 * buf is the caller's again then. Worth it for large sends (tens of KiB)
 * to a network device; over loopback the kernel copies anyway (counted in
 * stats.send_zc_copied). Without URT_FEAT_SEND_ZC (an older kernel, or
 * opts.features_off) it is urt_send.
 * A peer that stops reading would hold the bytes, and the await, for ever.
 * So a deadline (urt_op_set_timeout) bounds the send and the wait that
 * follows it, and urt_op_cancel ends that wait too: if the kernel still
 * holds bytes then, the connection is reset (the peer sees ECONNRESET)
 * and the await returns -ECANCELED. A task that ends with such a send
 * gives the peer half a second, then resets; deinit resets at once.
 * fd must stay open until the await returns (or the task's drop runs).
 * Return: bytes sent (may be short); -EOPNOTSUPP for a socket that cannot
 * send zero-copy (AF_UNIX); -ECANCELED; -errno.
 */
int urt_send_zc(struct urt_task *t, struct urt_op *op, int fd, const void *buf, size_t len,
		int flags);

/*
 * urt_send_all - awaitable: send every byte, finishing short writes; its
 * progress lives in h (see urt/io.h). What is left to send goes out with
 * urt_send_zc while it is at least opts.send_zc_min bytes (16 KiB by
 * default), with urt_send otherwise; a socket that refuses zero-copy is
 * sent to plainly from then on (h->copy).
 * Return: len; -EINVAL (len above INT32_MAX, or h->done above len: set it
 * back to 0 to start over); -errno (h->done bytes went out before it).
 */
int urt_send_all(struct urt_task *t, struct urt_io_all *h, int fd, const void *buf, size_t len);

/*
 * urt_recv_exact - awaitable: receive exactly len bytes into buf.
 * Return: len; fewer if the peer closed first; -EINVAL (len above
 * INT32_MAX, or h->done above len); -errno.
 */
int urt_recv_exact(struct urt_task *t, struct urt_io_all *h, int fd, void *buf, size_t len);

/* urt_shutdown - awaitable shutdown(2). */
int urt_shutdown(struct urt_task *t, struct urt_op *op, int fd, int how);

/*
 * urt_setsockopt - setsockopt(2) that also takes a direct descriptor
 * (URT_FD_FIXED, urt/io.h). A plain descriptor: the system call, at once
 * (never URT_PENDING). A direct one: IORING_OP_URING_CMD's
 * SOCKET_URING_OP_SETSOCKOPT (Linux 6.7); val must stay valid until the
 * await returns (keep it in the task's state or static, not the frame).
 * Return: 0; -errno as setsockopt(2) reports it; -EOPNOTSUPP or -EINVAL
 * for a direct descriptor on a kernel without the command.
 * Context: inside the task t (a plain descriptor: any thread).
 */
int urt_setsockopt(struct urt_task *t, struct urt_op *op, int fd, int level, int name,
		   const void *val, socklen_t len);

/* --- provided buffers ------------------------------------------------------- */

/*
 * A received buffer: the task's until urt_buf_free. Where the kernel fills
 * buffers in part (URT_FEAT_BUF_INC), several urt_bufs, of one connection
 * or of several, are pieces of one ring buffer (same id); each is given
 * back on its own.
 */
struct urt_buf {
	char *data;	  /* the bytes */
	uint32_t len;	  /* how many */
	uint32_t id : 31; /* which buffer: in the ring (below 32768), or spill memory */
	uint32_t live : 1;
};

/*
 * urt_recv_stream - awaitable multishot receive into the shared ring: each
 * await returns the next chunk's length and sets *buf (give it back with
 * urt_buf_free).
 * Return: > 0 bytes in *buf; 0 when the peer closed (the stream has ended);
 * -ENOMEM if the queued completions could not be stored (the stream ended);
 * -EINVAL if the handle carries a deadline (urt_op_set_timeout: a linked
 * timeout would end the whole stream, not one wait; for "the next chunk or
 * a second of silence" put a sleep beside it in URT_AWAIT_ANY); -EBUSY if
 * the handle holds an accept stream; another -errno: the stream has
 * ended. -ENOBUFS is never returned: the stream waits for a free buffer
 * instead.
 */
int urt_recv_stream(struct urt_task *t, struct urt_op *op, int fd, struct urt_buf *buf);

/*
 * urt_recv_stream_end - awaitable: cancel the receive stream in op (if one
 * is armed) and take its last completions, giving back every buffer they
 * hold, until the handle is idle. The way to end a connection's stream
 * before the task ends or reuses op.
 * Return: 0 once op is idle (at once if it already was); -EBUSY, nothing
 * done, if op holds something else: a single-shot operation or an accept
 * stream (cancel it with urt_op_cancel and await it instead).
 */
int urt_recv_stream_end(struct urt_task *t, struct urt_op *op, int fd);

/*
 * urt_buf_free - give a received buffer back to the ring; a stream that
 * stopped for lack of buffers is re-armed. buf is emptied.
 * Return: 0; -EINVAL if buf holds no buffer; -ESRCH without a runtime.
 */
int urt_buf_free(struct urt_buf *buf);

/*
 * urt_buf_hold - say that buf will be kept across a wait the peer
 * controls (a send to a client that may not read, a sleep). If the ring
 * is short of buffers (urt_bufs_short), buf's bytes move to spill memory
 * and its ring buffer goes back at once; buf->data changes, buf->len does
 * not. The rule for servers: hold a received buffer only while its bytes
 * are being used; before a wait that may be long, copy them, or call this.
 * Return: 1 moved; 0 left where it was (the ring has room, or buf is in
 * spill memory already); -EINVAL if buf holds no buffer; -ENOMEM (buf is
 * unchanged); -ESRCH without a runtime.
 */
int urt_buf_hold(struct urt_buf *buf);

/*
 * urt_bufs_short - whether the ring is short of buffers: fewer than a
 * quarter of them free. A task holding ring buffers across a wait then
 * keeps them from other connections (urt_buf_hold). (Below an eighth,
 * what arrives for any stream is copied out of the ring as it comes.)
 * Return: true or false; false without a runtime.
 */
bool urt_bufs_short(void);

/*
 * urt_recv_stream_held - memory the stream in op holds for bytes it has
 * received that no await has returned yet: buf_size for each chunk queued
 * (a ring buffer, a piece of one, or a spill block, however full); what a
 * server counts toward a connection's memory. At most about
 * opts.stream_queue + 5 buffers: the stream is not re-armed until they
 * are read.
 * Return: bytes; 0 if op holds no receive stream.
 */
size_t urt_recv_stream_held(const struct urt_op *op);


/* --- datagrams and unix sockets ----------------------------------------------- */

#define URT_LISTEN_UNLINK 0x4u /* urt_listen_unix: remove a stale socket at the path first */

/*
 * urt_bind_udp - a non-blocking UDP socket bound to host:port (IPv4 or IPv6
 * literal; NULL or "" is 127.0.0.1), made with ordinary syscalls. port 0
 * picks a free port, written to *bound_port (if not NULL). flags:
 * URT_LISTEN_REUSEPORT, URT_LISTEN_V6ONLY.
 * Return: the descriptor; -EINVAL for a host that is not an address
 * literal; -EADDRINUSE; -EAFNOSUPPORT on a simulated kernel (urt/sim.h:
 * datagrams are not in the model); another -errno from socket/bind.
 * Context: any thread.
 */
int urt_bind_udp(const char *host, uint16_t port, unsigned flags, uint16_t *bound_port);

struct sockaddr_un;

/*
 * urt_unix_addr - fill *sun and *len for a unix socket name: a path, or an
 * abstract name written "@name" (the '@' stands for the leading NUL of
 * Linux's abstract namespace; the name ends where *len says, so it may not
 * hold a NUL). For urt_connect, bind(2) or a datagram's msg_name.
 * Return: 0; -EINVAL (empty, "@" alone, or longer than sun_path holds:
 * 107 bytes for a path, 107 after the '@' for an abstract name).
 * Context: any thread.
 */
int urt_unix_addr(struct sockaddr_un *sun, const char *name, socklen_t *len);

/*
 * urt_listen_unix - a non-blocking unix socket bound to name (a path, or
 * "@name" for an abstract name: urt_unix_addr), listening (backlog <= 0:
 * 4096) if type is SOCK_STREAM or SOCK_SEQPACKET; a SOCK_DGRAM socket is
 * bound only. Made with ordinary syscalls.
 * Unlink policy: a path is the caller's. Without URT_LISTEN_UNLINK an
 * existing name fails with -EADDRINUSE; with it, a socket found at the
 * path (a previous run's, stale) is removed first, while anything else
 * there (a file, a directory) still fails with -EADDRINUSE and is left
 * alone. Nothing removes the path when the socket is closed: unlink it
 * (urt_unlinkat) when the server ends. Abstract names need none of this:
 * they vanish with the last descriptor.
 * Return: the descriptor; -EINVAL (a type other than those three, or a
 * name urt_unix_addr refuses); -EADDRINUSE; -EACCES; -ENOENT (a parent
 * directory is missing); -EAFNOSUPPORT on a simulated kernel (urt/sim.h:
 * unix sockets are not in the model); another -errno from
 * lstat/unlink/socket/bind/listen.
 * Context: any thread.
 */
int urt_listen_unix(const char *name, int type, int backlog, unsigned flags);

struct msghdr;

/*
 * urt_sendmsg - awaitable sendmsg(2) (MSG_NOSIGNAL added): a datagram to
 * msg->msg_name (or the connected peer), from msg's iovecs, with its
 * control data. msg, its iovecs and its name must stay valid until the
 * await returns.
 * Return: bytes sent; -EMSGSIZE (a datagram larger than the socket
 * allows); -ECONNREFUSED (an ICMP error from an earlier datagram, UDP; or
 * no one bound at a unix name); -ENOENT (a unix path that does not exist);
 * -EDESTADDRREQ; -EAGAIN / -ENOBUFS (a unix datagram peer's queue is full
 * and fd is non-blocking); -EFAULT if msg is in frame memory; -errno.
 */
int urt_sendmsg(struct urt_task *t, struct urt_op *op, int fd, const struct msghdr *msg,
		int flags);

/*
 * urt_recvmsg - awaitable recvmsg(2) into msg's iovecs; the sender's
 * address goes to msg->msg_name (msg_namelen is updated) and msg_flags
 * says MSG_TRUNC if the datagram was longer than the iovecs. msg and all
 * it points to must stay valid until the await returns.
 * Return: bytes received (0 for an empty datagram, or a stream peer that
 * closed); -ECONNREFUSED (UDP, an earlier datagram's ICMP error); -EFAULT
 * if msg is in frame memory; -errno.
 */
int urt_recvmsg(struct urt_task *t, struct urt_op *op, int fd, struct msghdr *msg, int flags);

/*
 * The handle of urt_sendto and urt_recvfrom: the operation, and the
 * msghdr and iovec those calls build from their arguments. The kernel
 * reads them (and a receive writes the sender's length and msg_flags
 * back) while the operation is in flight, so they cannot be locals of the
 * caller's poll, which every wake calls again: they live here, in the
 * task's state, where the handle must stay while the operation is in
 * flight. Zeroed is idle. Its op is an ordinary handle:
 * urt_op_set_timeout(&h->op, ns) gives the next call a deadline,
 * urt_op_cancel(&h->op) stops it, urt_op_take_late(&h->op) gives drop a
 * result no await read. One handle serves one call at a time: a task that
 * sends while a receive is pending keeps two.
 */
struct urt_msg_op {
	struct urt_op op;
	struct msghdr msg; /* the runtime's while in flight; after a receive,
			    * msg.msg_flags has MSG_TRUNC if the datagram was cut */
	struct iovec iov;
};

/*
 * urt_sendto - awaitable sendto(2) (MSG_NOSIGNAL added): len bytes of buf
 * to addr (addrlen bytes; NULL: the connected peer), as one datagram on a
 * datagram socket. A sendmsg(2) through h's msghdr, built at submission:
 * buf and addr must stay valid until the await returns (keep them in the
 * state, as the handle); flags and the errors are sendto(2)'s.
 * Debug builds check that a re-evaluated await passes the same fd, buf
 * and len while the send is pending (docs/tasks.md).
 * Return: bytes sent; -EINVAL (addrlen larger than a struct
 * sockaddr_storage, refused before submitting; or an address the socket
 * refuses: too short, another family); -EMSGSIZE (a datagram larger than
 * the socket allows); -ECONNREFUSED (UDP: an ICMP error from an earlier
 * datagram; or no one bound at a unix name); -ENOENT (a unix path that does
 * not exist); -EDESTADDRREQ (no addr, and not connected); -EISCONN (addr
 * on a connected stream socket); -EAGAIN / -ENOBUFS (a unix datagram
 * peer's queue is full and fd is non-blocking); -EPIPE (a stream whose
 * peer is gone); -EFAULT if h, buf or addr is in frame memory; the extra
 * errors of urt/io.h (-ECANCELED after urt_op_cancel(&h->op) or its
 * deadline); -errno.
 */
int urt_sendto(struct urt_task *t, struct urt_msg_op *h, int fd, const void *buf, size_t len,
	       int flags, const struct sockaddr *addr, socklen_t addrlen);

/*
 * urt_recvfrom - awaitable recvfrom(2): a datagram (or what a stream has)
 * into buf, at most len bytes, and its sender's address into addr (NULL:
 * not wanted; addrlen is then not used). *addrlen says addr's size when
 * the receive is submitted (read then only) and, when the await returns
 * bytes, is set to the sender's length as recvfrom(2) sets it: larger than
 * the size given if the address was cut, 0 for an unbound unix sender.
 * A datagram longer than len is cut: the await returns len (MSG_TRUNC in
 * flags returns its real length), and h->msg.msg_flags has MSG_TRUNC.
 * A recvmsg(2) through h's msghdr, built at submission: buf, addr and
 * addrlen must stay valid until the await returns. Debug builds check that
 * a re-evaluated await passes the same fd, buf and len while the receive
 * is pending.
 * Return: bytes received (0: an empty datagram, or a stream peer that
 * closed); -EINVAL (addr without addrlen, refused before submitting);
 * -ECONNREFUSED (UDP: an earlier datagram's ICMP error; the socket is
 * still usable); -EAGAIN (MSG_DONTWAIT in flags and nothing queued;
 * without it the await waits, on a non-blocking socket too); -EFAULT if
 * h, buf, addr or addrlen is in frame memory; the extra errors of
 * urt/io.h (-ECANCELED after urt_op_cancel(&h->op) or its deadline);
 * -errno.
 */
int urt_recvfrom(struct urt_task *t, struct urt_msg_op *h, int fd, void *buf, size_t len, int flags,
		 struct sockaddr *addr, socklen_t *addrlen);

/*
 * What of a buffer a datagram cannot use: urt_recvmsg_stream takes at most
 * opts.buf_size - URT_DGRAM_HEADROOM bytes of one (the kernel's header and
 * the sender's address share the buffer with it).
 */
#define URT_DGRAM_HEADROOM 144u

/*
 * A received datagram (urt_recvmsg_stream): the bytes in buf, given back
 * with urt_buf_free; who sent it in from / fromlen. The rest is the
 * runtime's while a receive is in flight; keep the struct where it is
 * (in the task's state) until the await returns.
 */
struct urt_dgram {
	struct urt_buf buf;	       /* the payload */
	struct sockaddr_storage from; /* the sender */
	socklen_t fromlen;	       /* its length; 0: unnamed (an unbound unix socket) */
	uint32_t flags;		       /* MSG_TRUNC: longer than opts.buf_size, cut there */
	struct msghdr msg;	       /* the runtime's, while in flight */
	struct iovec iov;
};

/*
 * urt_recvmsg_stream - awaitable: the next datagram on fd (a UDP or unix
 * datagram socket), with its sender. Each await returns the payload's
 * length (0 is an empty datagram) and sets d->buf (give it back with
 * urt_buf_free before the next await), d->from, d->fromlen and d->flags.
 * A datagram longer than opts.buf_size - URT_DGRAM_HEADROOM bytes is cut
 * there (MSG_TRUNC in d->flags).
 * Where the kernel has multishot recvmsg (URT_FEAT_RECVMSG_MULTI) and the
 * ring's buffers are not filled in part (URT_FEAT_BUF_INC), the handle
 * holds a stream armed once: datagrams land in the provided-buffer ring,
 * one buffer each, and are bounded like every receive stream's chunks
 * (copied out while the ring is short, the stream waiting while it is
 * empty: see the top of this file); the handle stays busy (URT_OP_STREAM)
 * until the stream ends. Else each await is one receive into a block of
 * the runtime's own (a one-shot recvmsg). Either way no datagram socket
 * can hold the ring, and what the program sees is the same.
 * To stop early: urt_op_cancel(op), then await until the call returns an
 * error (-ECANCELED), giving back each datagram it still returns (what
 * had arrived). A task that ends stops it on its own. A task aborted
 * mid-receive: drop gives d->buf back if d->buf.live (a datagram may be
 * in it).
 * Return: >= 0 bytes in d->buf; -EINVAL if d->buf still holds the last
 * datagram, or opts.buf_size is not larger than URT_DGRAM_HEADROOM;
 * -EBUSY if op holds another operation or kind of stream; -ENOMEM (no
 * block could be had, or the stream could not queue: it has ended);
 * -ECANCELED; -ECONNREFUSED (UDP: an ICMP error from an earlier send; the
 * socket is still usable, await again); -ESHUTDOWN (multishot: the
 * socket's read side was shut down; the stream has ended); -EFAULT if d
 * is in frame memory; another -errno from recvmsg(2): the stream has
 * ended and the handle is idle.
 */
int urt_recvmsg_stream(struct urt_task *t, struct urt_op *op, int fd, struct urt_dgram *d);

#ifdef __cplusplus
}
#endif

#endif /* URT_NET_H */
