/* SPDX-License-Identifier: MIT */
/*
 * net.c - the simulated network: TCP-like stream sockets over in-memory
 * byte queues, and the model's descriptor table.
 *
 * A connection is two sockets, each with a receive queue of s->rcvbuf
 * bytes (urt_sim_opts.rcvbuf): a send moves bytes into the peer's queue
 * and waits while it is full (the kernel's back-pressure), a receive takes
 * from its own and waits while it is empty. How many bytes one transfer
 * moves is drawn from the seed when urt_sim_opts.short_pct asks for short
 * transfers. A connect finds the listener by port (any local address),
 * queues the server's end on its backlog and succeeds; accept takes from
 * the backlog. A close with unread bytes resets the peer (-ECONNRESET),
 * without them it is the peer's end of file; shutdown(SHUT_WR) is an end
 * of file too. Multishot accept and multishot receive post with
 * IORING_CQE_F_MORE until they end; a receive with IOSQE_BUFFER_SELECT
 * takes one provided buffer a completion from the runtime's ring (the
 * model's head is its own, as the kernel's), -ENOBUFS when it is empty,
 * and a multishot receive ends after the per-arm byte limit (sqe
 * file_index, "optlen") with a positive result and no MORE.
 *
 * A socket's descriptor is an entry of the table sim.c keeps for sockets
 * and files alike (from SIM_FD_BASE, lowest first, as the kernel gives
 * them); a socket call on a file answers -ENOTSOCK. Sockets are never
 * reused within a run, and never move: operations parked on their queues
 * point at them.
 */
#include "sim_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { SK_NEW, SK_LISTEN, SK_STREAM };

struct sim_sock {
	uint8_t type;
	uint8_t open;	 /* its descriptor is open */
	uint8_t closed;	 /* its descriptor was closed (a server end in a backlog has none yet) */
	uint8_t eof;	 /* the peer will send nothing more */
	uint8_t reset;	 /* the peer closed with bytes unread */
	uint8_t wr_shut; /* this end shut down its writing side */
	uint8_t rd_shut; /* this end shut down its reading side (a listener: accepts fail) */
	uint8_t family;
	uint16_t port;
	uint32_t peer; /* index + 1 */
	uint8_t *q;    /* the receive queue, a ring of cap bytes */
	uint32_t cap, head, len;
	struct sim_wq readers; /* receives (accepts, on a listener) waiting here */
	struct sim_wq writers; /* the peer's sends waiting for room here */
	uint32_t *bl;	       /* a listener's backlog: server ends not yet accepted */
	uint32_t nbl, blcap;
};

static struct sim_sock *sock_at(struct urt_sim *s, uint32_t k)
{
	return s->sock[k];
}

/* A new socket. Each is an allocation of its own: operations parked on its
 * queues point at them, so a socket never moves. */
static uint32_t sock_new(struct urt_sim *s, uint8_t type, uint8_t family)
{
	struct sim_sock *k;

	if (s->nsock == s->sock_cap) {
		uint32_t n = s->sock_cap ? 2 * s->sock_cap : 64;
		struct sim_sock **p = realloc(s->sock, n * sizeof(*p));

		if (!p)
			abort();
		s->sock = p;
		s->sock_cap = n;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		abort();
	k->type = type;
	k->family = family;
	s->sock[s->nsock] = k;
	return s->nsock++;
}

/* A descriptor for socket k (the table's lowest free one). */
static int fd_new(struct urt_sim *s, uint32_t k)
{
	s->sock[k]->open = 1;
	return urt__sim_fd_new(s, SIM_FD_SOCK, k);
}

/* The socket of fd, or NULL. */
static struct sim_sock *fd_sock(struct urt_sim *s, int fd, uint32_t *k)
{
	uint32_t i;

	if (urt__sim_fd_at(s, fd, &i) != SIM_FD_SOCK)
		return NULL;
	if (k)
		*k = i;
	return s->sock[i];
}

/* The socket an operation works on: what its descriptor was when the SQE
 * was taken (sockets never go away, so a close since changes nothing). */
static struct sim_sock *op_sock(struct urt_sim *s, const struct sim_op *o, uint32_t *k)
{
	if (o->fdkind != SIM_FD_SOCK)
		return NULL;
	if (k)
		*k = o->fdidx;
	return s->sock[o->fdidx];
}

/* What an operation on a descriptor that was no socket of the model answers. */
static int op_not_sock(const struct sim_op *o)
{
	return o->fdkind == SIM_FD_FREE ? -EBADF : -ENOTSOCK;
}

/* What a socket call on fd, which is no socket of the model, answers. */
static int not_sock(struct urt_sim *s, int fd)
{
	return urt__sim_fd_at(s, fd, NULL) == SIM_FD_FREE ? -EBADF : -ENOTSOCK;
}

/* How many of n bytes one transfer moves: all, or (short_pct of the time)
 * a number drawn in [1, n]. */
static uint32_t cut(struct urt_sim *s, uint32_t n)
{
	if (n > 1 && s->short_pct && urt__sim_rand(s) % 100 < s->short_pct)
		return 1 + (uint32_t)(urt__sim_rand(s) % n);
	return n;
}

static bool queue_ready(struct urt_sim *s, struct sim_sock *k)
{
	if (!k->q) {
		k->q = malloc(s->rcvbuf);
		if (!k->q)
			abort();
		k->cap = s->rcvbuf;
	}
	return true;
}

static void queue_put(struct sim_sock *k, const uint8_t *src, uint32_t n)
{
	uint32_t tail = (k->head + k->len) % k->cap, first = k->cap - tail < n ? k->cap - tail : n;

	memcpy(k->q + tail, src, first);
	memcpy(k->q, src + first, n - first);
	k->len += n;
}

static void queue_get(struct sim_sock *k, uint8_t *dst, uint32_t n)
{
	uint32_t first = k->cap - k->head < n ? k->cap - k->head : n;

	memcpy(dst, k->q + k->head, first);
	memcpy(dst + first, k->q, n - first);
	k->head = (k->head + n) % k->cap;
	k->len -= n;
}

static void addr_of(const struct sim_sock *k, uint16_t port, struct sockaddr *sa, socklen_t *len)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t n;

	if (k->family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		a->sin6_addr = in6addr_loopback;
		n = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		n = sizeof(*a);
	}
	memcpy(sa, &ss, *len < n ? *len : n);
	*len = n;
}

/* --- operations ------------------------------------------------------------------- */

static void op_accept(struct urt_sim *s, uint32_t i, struct sim_op *o)
{
	bool multi = o->sqe.ioprio & IORING_ACCEPT_MULTISHOT;
	struct sim_sock *l = op_sock(s, o, NULL);
	struct sim_sock *c;
	uint32_t k;
	int fd;

	if (!l) {
		urt__sim_post(s, i, op_not_sock(o), 0, false);
		return;
	}
	if (l->type != SK_LISTEN || l->rd_shut) {
		urt__sim_post(s, i, -EINVAL, 0, false);
		return;
	}
	if (!l->nbl) {
		urt__sim_park(s, i, &l->readers);
		return;
	}
	if (!o->started && urt__sim_fault(s, URT_SIM_FAULT_ACCEPT_LATE)) {
		o->started = 1; /* once per accept */
		urt__sim_later(s, i, urt__sim_rand(s) % 100000000u);
		return;
	}
	if (urt__sim_fault(s, URT_SIM_FAULT_EMFILE)) {
		urt__sim_post(s, i, -EMFILE, 0, false); /* a multishot accept ends */
		return;
	}
	k = l->bl[0];
	memmove(l->bl, l->bl + 1, --l->nbl * sizeof(*l->bl));
	fd = fd_new(s, k);
	c = sock_at(s, k);
	if (o->sqe.addr && o->sqe.addr2) {
		socklen_t *len = (socklen_t *)(uintptr_t)o->sqe.addr2;

		addr_of(c, sock_at(s, c->peer - 1)->port, (struct sockaddr *)(uintptr_t)o->sqe.addr,
			len);
	}
	urt__sim_post(s, i, fd, 0, multi);
	if (!multi)
		return;
	if (l->nbl)
		urt__sim_again(s, i);
	else
		urt__sim_park(s, i, &l->readers);
}

static void op_connect(struct urt_sim *s, uint32_t i, struct sim_op *o)
{
	const struct sockaddr *sa = o->sqe.addr ? (const struct sockaddr *)&o->sa : NULL;
	uint32_t ck, lk = UINT32_MAX, sk;
	struct sim_sock *c = op_sock(s, o, &ck), *l;
	uint16_t port;

	if (!c) {
		urt__sim_post(s, i, op_not_sock(o), 0, false);
		return;
	}
	if (c->type != SK_NEW) {
		urt__sim_post(s, i, c->type == SK_STREAM ? -EISCONN : -EINVAL, 0, false);
		return;
	}
	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
		urt__sim_post(s, i, -EAFNOSUPPORT, 0, false);
		return;
	}
	port = ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
					      : ((const struct sockaddr_in6 *)sa)->sin6_port);
	for (uint32_t k = 0; k < s->nsock; k++)
		if (s->sock[k]->type == SK_LISTEN && s->sock[k]->open && s->sock[k]->port == port)
			lk = k;
	if (lk == UINT32_MAX) {
		urt__sim_post(s, i, -ECONNREFUSED, 0, false);
		return;
	}
	if (urt__sim_fault(s, URT_SIM_FAULT_CONNECT)) {
		urt__sim_post(s, i, urt__sim_rand(s) & 1 ? -ECONNREFUSED : -ETIMEDOUT, 0, false);
		return;
	}
	sk = sock_new(s, SK_STREAM, sa->sa_family);
	c = sock_at(s, ck);
	l = sock_at(s, lk);
	c->type = SK_STREAM;
	c->port = s->next_port++;
	c->peer = sk + 1;
	s->sock[sk]->port = port;
	s->sock[sk]->peer = ck + 1;
	if (l->nbl == l->blcap) {
		uint32_t n = l->blcap ? 2 * l->blcap : 16;
		uint32_t *p = realloc(l->bl, n * sizeof(*p));

		if (!p)
			abort();
		l->bl = p;
		l->blcap = n;
	}
	l->bl[l->nbl++] = sk;
	urt__sim_wake(s, &l->readers);
	urt__sim_post(s, i, 0, 0, false);
}

/* A fault: the connection of k is reset, both ends (what a middlebox or
 * the peer's kernel does); every wait on either end sees it. */
static void conn_reset(struct urt_sim *s, struct sim_sock *k)
{
	struct sim_sock *p = sock_at(s, k->peer - 1);

	k->reset = p->reset = 1;
	k->len = p->len = 0; /* what was queued is lost with the connection */
	urt__sim_wake(s, &k->readers);
	urt__sim_wake(s, &k->writers);
	urt__sim_wake(s, &p->readers);
	urt__sim_wake(s, &p->writers);
}

/*
 * The buffers a receive with IOSQE_BUFFER_SELECT fills, as the kernel
 * picks them (io_uring/kbuf.c, net.c; checked against 6.18 by
 * tests/test_sim_conform.c): a run of ring entries from the model's
 * head, their bytes in all, and whether the pick ran into the ring's tail.
 *   one buffer (no bundle, or a ring filled in part): the entry at the
 *     head, at most sqe.len bytes of it if that is set;
 *   a bundle (IORING_RECVSEND_BUNDLE): max_len = sqe.len (without it,
 *     the bytes the last transfer left in the socket, the kernel's
 *     msg_inq, if more than 1) and the arm's byte limit left, the
 *     smaller that is set; entries from the head,
 *     ceil(max_len / the first's length) of them (256 at most; all that
 *     are published without a max_len); an entry that would pass max_len
 *     is left out, but the first, which the kernel shortens in the ring
 *     (its len becomes max_len).
 * A pick that took every published entry (a bundle only) ends a
 * multishot receive after its completion (the kernel's REQ_F_BL_EMPTY).
 */
#define SIM_IOV	 256  /* PEEK_MAX_IMPORT */
#define SIM_IOV0 1024 /* UIO_MAXIOV: a bundle without max_len */

struct pick {
	uint32_t n, bytes;
	bool empty;
	uint16_t bid;
};

static bool pick_bufs(struct urt_sim *s, const struct sim_op *o, bool bundle, struct pick *pk)
{
	uint32_t avail = urt__sim_bufs_avail(s), max = o->sqe.len, nr;
	struct io_uring_buf *b;

	if (!avail)
		return false;
	b = urt__sim_buf_at(s, 0);
	if (!b->len)
		return false; /* a zero-length entry (the runtime puts none): -ENOBUFS */
	pk->bid = b->bid;
	pk->empty = false;
	if (!bundle || s->br_inc) {
		pk->n = 1;
		pk->bytes = max && max < b->len ? max : b->len;
		return true;
	}
	/* no sqe.len: what the last transfer left in the socket (the kernel's
	 * msg_inq), if more than a byte */
	if (!max && o->inq > 2)
		max = o->inq - 1;
	if (o->left && o->left != UINT32_MAX && (!max || o->left < max))
		max = o->left;
	nr = max ? (max + b->len - 1) / b->len : SIM_IOV0;
	if (max && nr > SIM_IOV)
		nr = SIM_IOV;
	if (nr > avail)
		nr = avail;
	pk->n = pk->bytes = 0;
	for (uint32_t k = 0; k < nr; k++) {
		uint32_t len = urt__sim_buf_at(s, k)->len;

		if (max && len > max - pk->bytes) {
			if (k)
				return true; /* left out: the pick stops short of the tail */
			len = max;
			urt__sim_buf_at(s, 0)->len = len;
		}
		pk->n++;
		pk->bytes += len;
		if (max && pk->bytes == max)
			return true;
	}
	pk->empty = nr == avail;
	return true;
}

/* Move n bytes of k's queue into the picked buffers, in ring order; give
 * the kernel's head what they used up (whole buffers; in part, the bytes
 * of the one buffer, its entry moved on past them). Return: the CQE's
 * buffer flags. */
static uint32_t fill_bufs(struct urt_sim *s, struct sim_sock *k, const struct pick *pk, uint32_t n)
{
	uint32_t flags = IORING_CQE_F_BUFFER | (uint32_t)pk->bid << IORING_CQE_BUFFER_SHIFT;
	uint32_t used = 0, left = n;

	if (s->br_inc) {
		struct io_uring_buf *b = urt__sim_buf_at(s, 0);

		queue_get(k, (uint8_t *)(uintptr_t)b->addr, n);
		b->addr += n;
		b->len -= n;
		if (b->len)
			return flags | IORING_CQE_F_BUF_MORE; /* the kernel keeps it */
		urt__sim_bufs_used(s, 1);
		return flags;
	}
	while (left) {
		struct io_uring_buf *b = urt__sim_buf_at(s, used++);
		uint32_t m = left < b->len ? left : b->len;

		queue_get(k, (uint8_t *)(uintptr_t)b->addr, m);
		left -= m;
	}
	urt__sim_bufs_used(s, used);
	return flags;
}

/* A receive (RECV, READ) on a stream socket. */
static void op_recv(struct urt_sim *s, uint32_t i, struct sim_op *o)
{
	bool multi = o->sqe.opcode == IORING_OP_RECV && (o->sqe.ioprio & IORING_RECV_MULTISHOT);
	bool select = o->sqe.flags & IOSQE_BUFFER_SELECT;
	bool bundle = select && o->sqe.opcode == IORING_OP_RECV &&
		      (o->sqe.ioprio & IORING_RECVSEND_BUNDLE);
	struct sim_sock *k = op_sock(s, o, NULL);
	uint32_t flags = 0, n;
	struct pick pk = { 0 };
	bool more;

	if (!k) {
		urt__sim_post(s, i, op_not_sock(o), 0, false);
		return;
	}
	if (k->type != SK_STREAM) {
		urt__sim_post(s, i, -ENOTCONN, 0, false);
		return;
	}
	if (multi && !o->started && !o->left)
		o->left = o->sqe.file_index ? o->sqe.file_index : UINT32_MAX;
	if (!k->reset && urt__sim_fault(s, URT_SIM_FAULT_RESET))
		conn_reset(s, k);
	if (!k->len) {
		if (k->reset)
			urt__sim_post(s, i, -ECONNRESET, 0, false);
		else if (k->eof || k->rd_shut)
			urt__sim_post(s, i, 0, 0, false);
		else
			urt__sim_park(s, i, &k->readers);
		return;
	}
	if (select) {
		if (!pick_bufs(s, o, bundle, &pk)) {
			urt__sim_post(s, i, -ENOBUFS, 0, false);
			return;
		}
		n = cut(s, k->len < pk.bytes ? k->len : pk.bytes);
		flags = fill_bufs(s, k, &pk, n);
	} else {
		n = cut(s, k->len < o->sqe.len ? k->len : o->sqe.len);
		queue_get(k, (uint8_t *)(uintptr_t)o->sqe.addr, n);
	}
	o->inq = k->len + 1;
	urt__sim_wake(s, &k->writers); /* room again */
	/* the arm's byte limit counts what came; only a bundle is cut to it
	 * (one buffer may pass it: the kernel ends the arm after that one) */
	if (multi && o->left != UINT32_MAX)
		o->left -= n < o->left ? n : o->left;
	more = multi && o->left && !pk.empty;
	urt__sim_post(s, i, (int32_t)n, flags, more);
	if (!more)
		return;
	if (k->len || k->eof || k->reset || k->rd_shut)
		urt__sim_again(s, i);
	else
		urt__sim_park(s, i, &k->readers);
}

/* A send's completion: a zero-copy send's result comes with F_MORE, and
 * its notification after it, whatever the result (as the kernel's). */
static void send_post(struct urt_sim *s, uint32_t i, int32_t res)
{
	if (s->op[i].sqe.opcode == IORING_OP_SEND_ZC)
		urt__sim_zc_result(s, i, res);
	else
		urt__sim_post(s, i, res, 0, false);
}

/* A send (SEND, SEND_ZC, WRITE) on a stream socket. */
static void op_send(struct urt_sim *s, uint32_t i, struct sim_op *o)
{
	struct sim_sock *k = op_sock(s, o, NULL), *p;
	uint32_t n, room;

	if (!k) {
		send_post(s, i, op_not_sock(o));
		return;
	}
	if (k->type != SK_STREAM) {
		send_post(s, i, -ENOTCONN);
		return;
	}
	if (k->wr_shut) {
		send_post(s, i, -EPIPE);
		return;
	}
	if (!k->reset && !sock_at(s, k->peer - 1)->closed && urt__sim_fault(s, URT_SIM_FAULT_RESET))
		conn_reset(s, k);
	if (k->reset) {
		send_post(s, i, -ECONNRESET);
		return;
	}
	p = sock_at(s, k->peer - 1);
	if (p->closed) { /* the peer closed: its end answers with a reset */
		send_post(s, i, -EPIPE);
		return;
	}
	if (!o->sqe.len) {
		send_post(s, i, 0);
		return;
	}
	queue_ready(s, p);
	room = p->cap - p->len;
	if (!room) {
		urt__sim_park(s, i, &p->writers);
		return;
	}
	n = cut(s, o->sqe.len < room ? o->sqe.len : room);
	queue_put(p, (const uint8_t *)(uintptr_t)o->sqe.addr, n);
	urt__sim_wake(s, &p->readers);
	send_post(s, i, (int32_t)n);
}

static void op_shutdown(struct urt_sim *s, uint32_t i, struct sim_op *o)
{
	struct sim_sock *k = op_sock(s, o, NULL), *p;

	if (!k) {
		urt__sim_post(s, i, op_not_sock(o), 0, false);
		return;
	}
	if (o->sqe.len == SHUT_RD || o->sqe.len == SHUT_RDWR) {
		/* receives see the end of file; a listener's accepts fail */
		k->rd_shut = 1;
		urt__sim_wake(s, &k->readers);
	}
	if (k->type == SK_LISTEN) {
		urt__sim_post(s, i, 0, 0, false);
		return;
	}
	if (k->type != SK_STREAM) {
		urt__sim_post(s, i, -ENOTCONN, 0, false);
		return;
	}
	if (o->sqe.len == SHUT_WR || o->sqe.len == SHUT_RDWR) {
		k->wr_shut = 1;
		p = sock_at(s, k->peer - 1);
		p->eof = 1;
		urt__sim_wake(s, &p->readers);
	}
	urt__sim_post(s, i, 0, 0, false);
}

bool urt__sim_net_run(struct urt_sim *s, uint32_t i)
{
	struct sim_op *o = &s->op[i];

	switch (o->sqe.opcode) {
	case IORING_OP_ACCEPT:
		op_accept(s, i, o);
		return true;
	case IORING_OP_CONNECT:
		op_connect(s, i, o);
		return true;
	case IORING_OP_RECV:
	case IORING_OP_READ:
		if (o->sqe.opcode == IORING_OP_READ && o->sqe.fd < SIM_FD_BASE)
			return false;
		op_recv(s, i, o);
		return true;
	case IORING_OP_SEND_ZC:
		if (o->started) { /* the result is out: the notification (the
				   * model copies, as loopback does: with
				   * REPORT_USAGE it says so) */
			urt__sim_post(s, i,
				      o->sqe.ioprio & IORING_SEND_ZC_REPORT_USAGE
					      ? (int32_t)IORING_NOTIF_USAGE_ZC_COPIED
					      : 0,
				      IORING_CQE_F_NOTIF, false);
			return true;
		}
		op_send(s, i, o);
		return true;
	case IORING_OP_SEND:
	case IORING_OP_WRITE:
		if (o->sqe.opcode == IORING_OP_WRITE && o->sqe.fd < SIM_FD_BASE)
			return false;
		op_send(s, i, o);
		return true;
	case IORING_OP_SHUTDOWN:
		op_shutdown(s, i, o);
		return true;
	default:
		return false;
	}
}

/* --- the descriptor calls ------------------------------------------------------------ */

void urt__sim_net_close(struct urt_sim *s, uint32_t k)
{
	struct sim_sock *c = sock_at(s, k);

	c->open = 0;
	c->closed = 1;
	if (c->type == SK_STREAM) {
		struct sim_sock *p = sock_at(s, c->peer - 1);

		if (c->len)
			p->reset = 1; /* bytes unread: the peer gets a reset */
		else
			p->eof = 1;
		urt__sim_wake(s, &p->readers);
		urt__sim_wake(s, &c->writers); /* the peer's sends see the close */
		urt__sim_wake(s, &p->writers);
	} else if (c->type == SK_LISTEN) {
		for (uint32_t b = 0; b < c->nbl; b++) { /* never accepted: reset */
			struct sim_sock *srv = sock_at(s, c->bl[b]);

			srv->closed = 1;
			sock_at(s, srv->peer - 1)->reset = 1;
			urt__sim_wake(s, &sock_at(s, srv->peer - 1)->readers);
			urt__sim_wake(s, &srv->writers); /* the client's sends into it */
		}
		c->nbl = 0;
	}
}

int urt__sim_socket(void *ctx, int domain, int type, int protocol)
{
	struct urt_sim *s = ctx;

	(void)protocol;
	if ((domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM)
		return -EAFNOSUPPORT; /* datagrams and unix sockets are not in the model yet */
	return fd_new(s, sock_new(s, SK_NEW, (uint8_t)domain));
}

int urt__sim_setsockopt(void *ctx, int fd, int level, int name, const void *val, socklen_t len)
{
	(void)level, (void)name, (void)val, (void)len;
	return fd_sock(ctx, fd, NULL) ? 0 : not_sock(ctx, fd);
}

int urt__sim_getsockopt(void *ctx, int fd, int level, int name, void *val, socklen_t *len)
{
	uint32_t k;

	if (!fd_sock(ctx, fd, &k))
		return not_sock(ctx, fd);
	if (level == SOL_SOCKET && name == SO_COOKIE && *len >= sizeof(uint64_t)) {
		/* the socket's, never another's, as the kernel's: a descriptor
		 * number closed and given again names a new cookie (the
		 * zero-copy reset checks it, runtime/io/zc.c) */
		uint64_t c = (uint64_t)k + 1;

		memcpy(val, &c, sizeof(c));
		*len = sizeof(c);
		return 0;
	}
	return -ENOPROTOOPT;
}

int urt__sim_bind(void *ctx, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct urt_sim *s = ctx;
	struct sim_sock *k = fd_sock(s, fd, NULL);
	uint16_t port;

	(void)len;
	if (!k)
		return not_sock(s, fd);
	if (sa->sa_family != k->family)
		return -EINVAL;
	port = ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
					      : ((const struct sockaddr_in6 *)sa)->sin6_port);
	if (!port)
		port = s->next_port++;
	for (uint32_t i = 0; i < s->nsock; i++)
		if (s->sock[i]->open && s->sock[i]->type == SK_LISTEN && s->sock[i]->port == port)
			return -EADDRINUSE;
	k->port = port;
	return 0;
}

int urt__sim_listen(void *ctx, int fd, int backlog)
{
	struct sim_sock *k = fd_sock(ctx, fd, NULL);

	(void)backlog;
	if (!k)
		return not_sock(ctx, fd);
	if (k->type != SK_NEW)
		return -EINVAL;
	k->type = SK_LISTEN;
	return 0;
}

int urt__sim_getsockname(void *ctx, int fd, struct sockaddr *sa, socklen_t *len)
{
	struct sim_sock *k = fd_sock(ctx, fd, NULL);

	if (!k)
		return not_sock(ctx, fd);
	addr_of(k, k->port, sa, len);
	return 0;
}

void urt__sim_net_free(struct urt_sim *s)
{
	for (uint32_t k = 0; k < s->nsock; k++) {
		free(s->sock[k]->q);
		free(s->sock[k]->bl);
		free(s->sock[k]);
	}
	free(s->sock);
	s->sock = NULL;
	s->nsock = 0;
}
