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
 * the backlog. A close with unread bytes (or SO_LINGER 0) resets the
 * peer, without them it is the peer's end of file; shutdown(SHUT_WR) is an
 * end of file too. A reset is the socket error, reported once by the next
 * receive or send (-ECONNRESET; -EPIPE if the peer's FIN came first, as
 * in CLOSE_WAIT), then the connection is dead: receives see the end of
 * file, sends -EPIPE. The first send to a peer that closed cleanly
 * succeeds and brings its reset back, as on TCP. A close only lets go of
 * the descriptor: the socket lives, and the peer hears nothing, until the
 * last operation taken on it has ended, as the kernel's requests hold the
 * file. Multishot accept and multishot receive post with
 * IORING_CQE_F_MORE until they end; a receive with IOSQE_BUFFER_SELECT
 * takes one provided buffer a completion from the runtime's ring (the
 * model's head is its own, as the kernel's), -ENOBUFS when it is empty,
 * and a multishot receive ends after the per-arm byte limit (sqe
 * file_index, "optlen") with a positive result and no MORE.
 *
 * A socket's descriptor is an entry of the table sim.c keeps for sockets
 * and files alike (from SIM_FD_BASE, lowest first, as the kernel gives
 * them); a socket call on a file answers -ENOTSOCK. A socket never
 * moves (operations parked on its queues point at it); its slot is reused
 * once it and its peer are both let go (closed, no operation on either),
 * and its queue is freed when it is let go. Listeners are found by port
 * (a table of 65,536), and a client's end takes an ephemeral port from
 * 32768-60999 that no socket holds, as Linux's default range.
 */
#include "sim_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { SK_NEW, SK_LISTEN, SK_STREAM };
enum { PIPE_NO, PIPE_RD, PIPE_WR };

struct sim_sock {
	uint8_t type;
	uint8_t open;	 /* its descriptor is open */
	uint8_t closed;	 /* its descriptor was closed (a server end in a backlog has none yet) */
	uint8_t eof;	 /* the peer will send nothing more (its FIN came) */
	uint8_t err;	 /* the socket error, reported once (ECONNRESET, EPIPE); 0: none */
	uint8_t dead;	 /* the connection was reset: nothing more comes or goes */
	uint8_t released; /* closed and let go by every operation: the peer was told */
	uint8_t on_free;  /* its slot is on the free list */
	uint8_t pinned;	  /* never reused: a disconnect left a peer pointing at it */
	uint8_t wr_shut; /* this end shut down its writing side */
	uint8_t rd_shut; /* this end shut down its reading side (a listener: accepts fail) */
	uint8_t family;
	uint8_t pipe;	  /* a pipe's end (PIPE_RD, PIPE_WR): refuses socket calls */
	uint8_t nonblock; /* O_NONBLOCK, for the host's calls (host.c) */
	uint8_t linger0;  /* SO_LINGER on with 0 s: its close is abortive (the peer is reset) */
	uint16_t port;
	uint8_t eph;   /* its port is an ephemeral one it holds (a client's end) */
	uint32_t ops;  /* operations that hold it (taken on its descriptor, not ended) */
	uint32_t next_free; /* on the free list: the next (index + 1) */
	uint64_t cookie;    /* SO_COOKIE: a serial, never repeated in a run */
	uint32_t peer; /* index + 1 */
	uint8_t *q;    /* the receive queue, a ring of cap bytes */
	uint32_t cap, head, len;
	struct sim_wq readers; /* receives (accepts, on a listener) waiting here */
	struct sim_wq writers; /* the peer's sends waiting for room here (and zero-copy
				* notifications waiting for this end to read) */
	uint64_t rd_total;     /* bytes ever taken from the queue */
	uint64_t wr_total;     /* bytes ever put into it */
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
	uint32_t i;

	if (s->sock_free) { /* a slot both ends of which were let go */
		i = s->sock_free - 1;
		k = s->sock[i];
		s->sock_free = k->next_free;
		free(k->q); /* let go already (NULL): never lost to the clear */
		free(k->bl);
		*k = (struct sim_sock){ 0 };
	} else {
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
		i = s->nsock++;
		s->sock[i] = k;
	}
	k->type = type;
	k->family = family;
	k->cookie = ++s->sock_serial;
	return i;
}

/* --- ports: listeners by port, the ports sockets hold -------------------------------- */

#define EPH_LO 32768u
#define EPH_HI 60999u

static void port_tables(struct urt_sim *s)
{
	if (s->lport)
		return;
	s->lport = calloc(65536, sizeof(*s->lport));
	s->port_held = calloc(65536, sizeof(*s->port_held));
	if (!s->lport || !s->port_held)
		abort();
	s->next_port = EPH_LO;
}

/* A free ephemeral port, held; 0 if every one is held (-EADDRNOTAVAIL). */
static uint16_t port_ephemeral(struct urt_sim *s)
{
	port_tables(s);
	for (uint32_t n = 0; n <= EPH_HI - EPH_LO; n++) {
		uint16_t p = s->next_port;

		s->next_port = p == EPH_HI ? (uint16_t)EPH_LO : (uint16_t)(p + 1);
		if (!s->port_held[p]) {
			s->port_held[p]++;
			return p;
		}
	}
	return 0;
}

/* The listener on port (index), or UINT32_MAX. */
static uint32_t port_listener(struct urt_sim *s, uint16_t port)
{
	port_tables(s);
	return s->lport[port] ? s->lport[port] - 1 : UINT32_MAX;
}

/* Socket k (a listener, or a bound or client end) lets go of its port. */
static void port_drop(struct urt_sim *s, uint32_t k)
{
	struct sim_sock *c = s->sock[k];

	if (!c->eph || !s->port_held)
		return;
	if (s->lport[c->port] == k + 1)
		s->lport[c->port] = 0;
	s->port_held[c->port]--;
	c->eph = 0;
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
	k->wr_total += n;
}

/* Copy n bytes from the head of k's queue without taking them (MSG_PEEK). */
static void queue_peek(const struct sim_sock *k, uint8_t *dst, uint32_t n)
{
	uint32_t first = k->cap - k->head < n ? k->cap - k->head : n;

	memcpy(dst, k->q + k->head, first);
	memcpy(dst + first, k->q, n - first);
}

static void queue_get(struct sim_sock *k, uint8_t *dst, uint32_t n)
{
	uint32_t first = k->cap - k->head < n ? k->cap - k->head : n;

	memcpy(dst, k->q + k->head, first);
	memcpy(dst + first, k->q, n - first);
	k->head = (k->head + n) % k->cap;
	k->len -= n;
	k->rd_total += n;
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

/* The oldest connection of listener l's backlog (not empty), with a
 * descriptor: the descriptor; its socket in *k. */
static int backlog_take(struct urt_sim *s, struct sim_sock *l, uint32_t *k)
{
	*k = l->bl[0];
	memmove(l->bl, l->bl + 1, --l->nbl * sizeof(*l->bl));
	return fd_new(s, *k);
}

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
	if (l->type != SK_LISTEN) { /* never listened, or stopped by a shutdown */
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
	fd = backlog_take(s, l, &k);
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

/* Connect socket ck to the listener at sa's port: queued on its backlog.
 * Return: 0; -EISCONN, -EINVAL (not a new socket); -EAFNOSUPPORT;
 * -ECONNREFUSED (no listener; or a fault, as -ETIMEDOUT is). */
static void rst_arrive(struct urt_sim *s, struct sim_sock *k);

/* connect(AF_UNSPEC) on a TCP socket, tcp_disconnect: what was queued
 * either way is dropped, the peer is reset (urt's end of a zero-copy send
 * nobody waits for, runtime/io/zc.c). */
static void sock_disconnect(struct urt_sim *s, uint32_t ki)
{
	struct sim_sock *k = s->sock[ki], *p;

	if (k->type != SK_STREAM || k->family == AF_UNIX || k->dead)
		return;
	p = sock_at(s, k->peer - 1);
	k->len = 0;
	if (!p->released) {
		p->len = 0;
		rst_arrive(s, p);
	}
	/* this end is TCP_CLOSE: its error is ECONNRESET (reported once), and
	 * it may connect again, from a new ephemeral port. The old peer still
	 * names it (and it the peer, until it connects again): neither slot is
	 * ever reused, so no name goes stale (the structs only: their queues
	 * go when they are let go) */
	k->pinned = p->pinned = 1;
	k->type = SK_NEW;
	k->err = ECONNRESET;
	k->dead = k->eof = k->wr_shut = k->rd_shut = 0;
	port_drop(s, ki);
	urt__sim_wake(s, &k->readers);
	urt__sim_wake(s, &k->writers);
	urt__sim_wake(s, &p->writers);
}

static int sock_connect(struct urt_sim *s, uint32_t ck, const struct sockaddr *sa)
{
	uint32_t lk = UINT32_MAX, sk;
	struct sim_sock *c = sock_at(s, ck), *l;
	uint16_t port;

	if (sa && sa->sa_family == AF_UNSPEC) {
		sock_disconnect(s, ck);
		return 0;
	}
	if (c->type != SK_NEW)
		return c->type == SK_STREAM ? -EISCONN : -EINVAL;
	if (!sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return -EAFNOSUPPORT;
	port = ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
					      : ((const struct sockaddr_in6 *)sa)->sin6_port);
	lk = port_listener(s, port);
	if (lk == UINT32_MAX || s->sock[lk]->type != SK_LISTEN)
		return -ECONNREFUSED;
	if (urt__sim_fault(s, URT_SIM_FAULT_CONNECT))
		return urt__sim_rand(s) & 1 ? -ECONNREFUSED : -ETIMEDOUT;
	if (!c->eph) { /* not bound: an ephemeral port */
		uint16_t p = port_ephemeral(s);

		if (!p)
			return -EADDRNOTAVAIL;
		c->port = p;
		c->eph = 1;
	}
	sk = sock_new(s, SK_STREAM, sa->sa_family);
	c = sock_at(s, ck);
	l = sock_at(s, lk);
	c->type = SK_STREAM;
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
	return 0;
}

static void op_connect(struct urt_sim *s, uint32_t i, struct sim_op *o)
{
	uint32_t ck;

	if (!op_sock(s, o, &ck)) {
		urt__sim_post(s, i, op_not_sock(o), 0, false);
		return;
	}
	urt__sim_post(s, i,
		      sock_connect(s, ck, o->sqe.addr ? (const struct sockaddr *)&o->sa : NULL), 0,
		      false);
}

/* A reset arrives at k: its socket error (EPIPE if the peer's FIN came
 * first, as in CLOSE_WAIT), and the connection is dead; every wait on k
 * sees it (its receives on its queue, its sends on its peer's). */
static void rst_arrive(struct urt_sim *s, struct sim_sock *k)
{
	if (k->dead)
		return;
	k->err = k->eof ? EPIPE : ECONNRESET;
	k->dead = 1;
	urt__sim_wake(s, &k->readers);
	if (k->peer)
		urt__sim_wake(s, &sock_at(s, k->peer - 1)->writers);
}

/* A fault: the connection of k is reset, both ends (what a middlebox or
 * the peer's kernel does). */
static void conn_reset(struct urt_sim *s, struct sim_sock *k)
{
	struct sim_sock *p = sock_at(s, k->peer - 1);

	k->len = p->len = 0; /* what was queued is lost with the connection */
	rst_arrive(s, k);
	rst_arrive(s, p);
}

/* The socket error, once: -err, and it is cleared. */
static int32_t take_err(struct sim_sock *k)
{
	int32_t e = -(int32_t)k->err;

	k->err = 0;
	return e;
}

/* What a receive on stream socket k with an empty queue answers: 0 (the
 * end of file), the socket error, or 1: it waits. */
static int32_t recv_empty(struct sim_sock *k)
{
	if (k->eof || k->rd_shut)
		return 0;
	if (k->err)
		return take_err(k);
	return k->dead ? 0 : 1;
}

/* Whether a send on k fails before it moves a byte: the socket error, or
 * -EPIPE (shut down, dead, never connected, a listener); 0: it goes on. */
static int32_t send_refused(struct sim_sock *k)
{
	if (k->err)
		return take_err(k);
	if (k->type != SK_STREAM)
		return -EPIPE; /* tcp_sendmsg: not connected (MSG_NOSIGNAL) */
	return k->wr_shut || k->dead ? -EPIPE : 0;
}

/* A send of n bytes to a peer that closed cleanly: taken whole (the bytes
 * go nowhere), and the peer's reset comes back. Return: n. */
static int32_t send_to_closed(struct urt_sim *s, struct sim_sock *k, uint32_t n)
{
	rst_arrive(s, k);
	return (int32_t)n;
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
	/* urt_recv's flags (a READ has none): MSG_PEEK, MSG_DONTWAIT and
	 * MSG_WAITALL as tcp_recvmsg takes them, for a receive into the
	 * caller's buffer */
	int mf = o->sqe.opcode == IORING_OP_RECV && !select ? (int)o->sqe.msg_flags : 0;
	uint32_t flags = 0, n;
	struct pick pk = { 0 };
	int32_t r;
	bool more;

	if (!k) {
		urt__sim_post(s, i, op_not_sock(o), 0, false);
		return;
	}
	if (o->sqe.opcode == IORING_OP_READ && !k->pipe && o->sqe.off && o->sqe.off != UINT64_MAX) {
		urt__sim_post(s, i, -ESPIPE, 0, false); /* a socket is a stream (sock_read_iter) */
		return;
	}
	if (k->type != SK_STREAM) { /* never connected, or disconnected (its error first) */
		urt__sim_post(s, i, k->err ? take_err(k) : -ENOTCONN, 0, false);
		return;
	}
	if (!select && !o->sqe.addr && o->sqe.len) {
		urt__sim_post(s, i, -EFAULT, 0, false); /* no buffer: the kernel's copy faults */
		return;
	}
	if (multi && !o->started && !o->left)
		o->left = o->sqe.file_index ? o->sqe.file_index : UINT32_MAX;
	if (!k->dead && urt__sim_fault(s, URT_SIM_FAULT_RESET))
		conn_reset(s, k);
	if (!k->len) {
		r = recv_empty(k);
		if (r == 1 && (mf & MSG_DONTWAIT))
			r = -EAGAIN;
		if (r == 1)
			urt__sim_park(s, i, &k->readers);
		else /* what MSG_WAITALL got before the end, or the end */
			urt__sim_post(s, i, o->got ? (int32_t)o->got : r, 0, false);
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
		uint32_t want = o->sqe.len - o->got;
		uint8_t *to = (uint8_t *)(uintptr_t)o->sqe.addr + o->got;

		n = cut(s, k->len < want ? k->len : want);
		if (mf & MSG_PEEK) {
			queue_peek(k, to, n);
		} else {
			queue_get(k, to, n);
			urt__sim_wake(s, &k->writers); /* room again */
		}
		if ((mf & MSG_WAITALL) && !(mf & MSG_PEEK) && o->got + n < o->sqe.len) {
			o->got += n; /* the rest: it waits for it */
			if (k->len)
				urt__sim_again(s, i);
			else
				urt__sim_park(s, i, &k->readers);
			return;
		}
		n += o->got;
		o->got = 0;
	}
	o->inq = k->len + 1;
	if (select)
		urt__sim_wake(s, &k->writers); /* room again */
	/* the arm's byte limit counts what came; only a bundle is cut to it
	 * (one buffer may pass it: the kernel ends the arm after that one) */
	if (multi && o->left != UINT32_MAX)
		o->left -= n < o->left ? n : o->left;
	more = multi && o->left && !pk.empty;
	urt__sim_post(s, i, (int32_t)n, flags, more);
	if (!more)
		return;
	if (k->len || k->eof || k->err || k->dead || k->rd_shut)
		urt__sim_again(s, i);
	else
		urt__sim_park(s, i, &k->readers);
}

/*
 * A zero-copy send of at least this many bytes goes zero-copy on 6.18's
 * loopback (measured: 24 KiB and less are copied and notified at once,
 * 32 KiB and more are held): the receiving socket holds the pages, and the
 * notification waits until it has read them, is reset, or is closed.
 */
#define SIM_ZC_HELD 32768u

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
	int mf = o->sqe.opcode == IORING_OP_WRITE ? 0 : (int)o->sqe.msg_flags;
	uint32_t n, room;
	int32_t r;

	if (!k) {
		send_post(s, i, op_not_sock(o));
		return;
	}
	if (o->sqe.opcode == IORING_OP_SEND_ZC && (k->pipe || k->family == AF_UNIX)) {
		/* a pipe is no socket; a unix socket has no zero-copy (6.18:
		 * -EOPNOTSUPP, with F_MORE and the notification) */
		send_post(s, i, k->pipe ? -ENOTSOCK : -EOPNOTSUPP);
		return;
	}
	if (o->sqe.opcode == IORING_OP_WRITE && !k->pipe && o->sqe.off &&
	    o->sqe.off != UINT64_MAX) {
		send_post(s, i, -ESPIPE); /* a socket is a stream (sock_write_iter) */
		return;
	}
	if ((r = send_refused(k))) {
		send_post(s, i, o->got ? (int32_t)o->got : r);
		o->got = 0;
		return;
	}
	p = sock_at(s, k->peer - 1);
	if (!p->released && urt__sim_fault(s, URT_SIM_FAULT_RESET)) {
		conn_reset(s, k);
		send_post(s, i, send_refused(k));
		return;
	}
	if (p->released) { /* the peer is gone: a pipe's writer -EPIPE; TCP takes the
			    * first send and gets a reset back */
		send_post(s, i, k->pipe ? -EPIPE : send_to_closed(s, k, o->sqe.len));
		return;
	}
	if (!o->sqe.len) {
		send_post(s, i, 0);
		return;
	}
	if (!o->sqe.addr) {
		send_post(s, i, -EFAULT); /* no buffer: the kernel's copy faults */
		return;
	}
	queue_ready(s, p);
	room = p->cap - p->len;
	if (!room) {
		if (mf & MSG_DONTWAIT)
			send_post(s, i, -EAGAIN);
		else
			urt__sim_park(s, i, &p->writers);
		return;
	}
	n = o->sqe.len - o->got; /* MSG_WAITALL: what is left of it */
	n = cut(s, n < room ? n : room);
	queue_put(p, (const uint8_t *)(uintptr_t)o->sqe.addr + o->got, n);
	urt__sim_wake(s, &p->readers);
	if ((mf & MSG_WAITALL) && o->got + n < o->sqe.len) {
		o->got += n; /* the rest: it waits for room, as tcp_sendmsg */
		if (p->len < p->cap)
			urt__sim_again(s, i);
		else
			urt__sim_park(s, i, &p->writers);
		return;
	}
	n += o->got;
	o->got = 0;
	if (o->sqe.opcode == IORING_OP_SEND_ZC && n >= SIM_ZC_HELD)
		o->zc_mark = p->wr_total;
	send_post(s, i, (int32_t)n);
}

static void listener_stop(struct urt_sim *s, uint32_t lk);

/* shutdown(2) of socket k (index ki), as inet_shutdown. Return: 0;
 * -EINVAL (a bad how); -ENOTCONN (never connected, reset, a listener
 * already stopped). */
static int sock_shutdown(struct urt_sim *s, uint32_t ki, int how)
{
	struct sim_sock *k = s->sock[ki], *p;

	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	if (k->type == SK_LISTEN) {
		/* SHUT_RD stops it (tcp_disconnect): its backlog is reset, its
		 * accepts fail, a connect is refused; SHUT_WR does nothing */
		if (how != SHUT_WR)
			listener_stop(s, ki);
		return 0;
	}
	if (k->type != SK_STREAM || k->dead)
		return -ENOTCONN;
	if (how == SHUT_RD || how == SHUT_RDWR) {
		k->rd_shut = 1; /* receives see the end of file */
		urt__sim_wake(s, &k->readers);
	}
	if (how == SHUT_WR || how == SHUT_RDWR) {
		k->wr_shut = 1;
		p = sock_at(s, k->peer - 1);
		if (!p->released) {
			p->eof = 1;
			urt__sim_wake(s, &p->readers);
		}
	}
	return 0;
}

static void op_shutdown(struct urt_sim *s, uint32_t i, struct sim_op *o)
{
	uint32_t ki;

	urt__sim_post(s, i, op_sock(s, o, &ki) ? sock_shutdown(s, ki, (int)o->sqe.len) : op_not_sock(o),
		      0, false);
}

/* What a pipe's end answers to opcode (0: nothing, it is no pipe or the
 * opcode is one a pipe takes): a socket call -ENOTSOCK, a read of the
 * writing end or a write of the reading end -EBADF, as the kernel does. */
static int pipe_refuses(const struct urt_sim *s, const struct sim_op *o)
{
	const struct sim_sock *k;

	if (o->fdkind != SIM_FD_SOCK || !(k = s->sock[o->fdidx])->pipe)
		return 0;
	switch (o->sqe.opcode) {
	case IORING_OP_READ:
		return k->pipe == PIPE_RD ? 0 : -EBADF;
	case IORING_OP_WRITE:
		return k->pipe == PIPE_WR ? 0 : -EBADF;
	default:
		return -ENOTSOCK;
	}
}

/* What socket k is ready for now (POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP). */
static uint32_t sock_ready(struct urt_sim *s, const struct sim_sock *k)
{
	const struct sim_sock *p;
	uint32_t ev = 0;

	switch (k->type) {
	case SK_LISTEN:
		return k->nbl ? POLLIN : 0;
	case SK_NEW: /* as the kernel answers for a TCP socket never connected */
		return POLLOUT | POLLHUP;
	default:
		break;
	}
	p = sock_at(s, k->peer - 1);
	if (k->err)
		ev |= POLLERR;
	if (k->dead)
		return ev | POLLIN | POLLOUT | POLLHUP | POLLRDHUP;
	if (k->len || k->eof || k->rd_shut)
		ev |= POLLIN;
	if (k->eof)
		ev |= POLLRDHUP;
	if (k->pipe != PIPE_RD && !k->wr_shut && !p->released && (!p->q || p->len < p->cap))
		ev |= POLLOUT;
	if (p->released && k->pipe == PIPE_WR)
		ev |= POLLERR; /* a pipe with no reader */
	if (k->eof && (k->wr_shut || p->released))
		ev |= POLLHUP;
	return ev;
}

/* POLL_ADD (one-shot) on a socket, a pipe or a file of the model: the
 * events asked for that hold now (and POLLERR, POLLHUP, which always
 * count); else it waits for a receive's wake (or, asking POLLOUT alone,
 * for room in the peer's queue). */
static void op_poll(struct urt_sim *s, uint32_t i, struct sim_op *o)
{
	uint32_t mask = o->sqe.poll32_events | POLLERR | POLLHUP, ev;
	struct sim_sock *k = op_sock(s, o, NULL);

	if (o->sqe.len & IORING_POLL_ADD_MULTI) {
		urt__sim_post(s, i, -EOPNOTSUPP, 0, false); /* not in the model */
		return;
	}
	if (!k) { /* a file is always ready; a closed descriptor is -EBADF */
		urt__sim_post(s, i,
			      o->fdkind == SIM_FD_FILE ? (int32_t)(mask & (POLLIN | POLLOUT))
						       : -EBADF,
			      0, false);
		return;
	}
	ev = sock_ready(s, k) & mask;
	if (ev) {
		urt__sim_post(s, i, (int32_t)ev, 0, false);
		return;
	}
	if (!(mask & POLLIN) && k->type == SK_STREAM)
		urt__sim_park(s, i, &sock_at(s, k->peer - 1)->writers);
	else
		urt__sim_park(s, i, &k->readers);
}

bool urt__sim_net_run(struct urt_sim *s, uint32_t i)
{
	struct sim_op *o = &s->op[i];
	int res;

	switch (o->sqe.opcode) {
	case IORING_OP_ACCEPT:
	case IORING_OP_CONNECT:
	case IORING_OP_RECV:
	case IORING_OP_READ:
	case IORING_OP_SEND:
	case IORING_OP_WRITE:
	case IORING_OP_SHUTDOWN:
		if ((res = pipe_refuses(s, o))) {
			urt__sim_post(s, i, res, 0, false);
			return true;
		}
		break;
	default:
		break;
	}
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
		if (o->started && o->zc_mark) { /* held by the receiving end? */
			struct sim_sock *k = sock_at(s, o->fdidx), *p = sock_at(s, k->peer - 1);

			if (p->rd_total < o->zc_mark && !p->dead && !p->released && !k->dead) {
				urt__sim_park(s, i, &p->writers); /* woken as it reads */
				return true;
			}
		}
		if (o->started) { /* the result is out: the notification (with
				   * REPORT_USAGE it says the bytes were copied:
				   * loopback's receiver copies them) */
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
	case IORING_OP_POLL_ADD:
		if (o->sqe.fd < SIM_FD_BASE)
			return false; /* a real descriptor (a pidfd): not in the model */
		op_poll(s, i, o);
		return true;
	default:
		return false;
	}
}

/* --- the descriptor calls ------------------------------------------------------------ */

/* Slot k, and its peer's, back to the free list once both are let go. */
static void sock_reclaim(struct urt_sim *s, uint32_t k)
{
	struct sim_sock *c = s->sock[k], *p = NULL;

	if (!c->released || c->ops || c->on_free || c->pinned)
		return;
	if (c->type == SK_STREAM && c->peer) {
		p = s->sock[c->peer - 1];
		if (!p->released || p->ops || p->on_free || p->pinned)
			return;
		p->on_free = 1;
		p->next_free = s->sock_free;
		s->sock_free = c->peer;
	}
	c->on_free = 1;
	c->next_free = s->sock_free;
	s->sock_free = k + 1;
}

/* Listener lk stops listening (a close, or shutdown(SHUT_RD)): the
 * connections in its backlog, never accepted, are reset; its accepts
 * fail (-EINVAL); connects to its port are refused. */
static void listener_stop(struct urt_sim *s, uint32_t lk)
{
	struct sim_sock *l = s->sock[lk];

	for (uint32_t b = 0; b < l->nbl; b++) {
		uint32_t sk = l->bl[b];
		struct sim_sock *srv = s->sock[sk];

		srv->closed = srv->released = 1; /* no descriptor ever: gone */
		free(srv->q); /* what its client sent, never read */
		srv->q = NULL;
		srv->cap = srv->head = srv->len = 0;
		rst_arrive(s, sock_at(s, srv->peer - 1));
		sock_reclaim(s, sk);
	}
	l->nbl = 0;
	if (s->lport && s->lport[l->port] == lk + 1)
		s->lport[l->port] = 0;
	l->type = SK_NEW; /* TCP_CLOSE: still bound to its port */
	urt__sim_wake(s, &l->readers);
}

/* Socket k, closed, is let go by its last operation: the peer is told
 * (its end of file, or a reset if k had bytes unread or SO_LINGER 0), a
 * listener stops; its port and queue go. */
static void sock_release(struct urt_sim *s, uint32_t k)
{
	struct sim_sock *c = s->sock[k];

	c->released = 1;
	if (c->type == SK_STREAM) {
		struct sim_sock *p = sock_at(s, c->peer - 1);

		if (!c->dead && !p->released) {
			if ((c->len && !c->pipe) || c->linger0)
				rst_arrive(s, p);
			else
				p->eof = 1;
		}
		urt__sim_wake(s, &p->readers);
		urt__sim_wake(s, &c->writers); /* the peer's sends see it gone */
		urt__sim_wake(s, &p->writers);
	} else if (c->type == SK_LISTEN) {
		listener_stop(s, k);
	}
	port_drop(s, k);
	free(c->q);
	c->q = NULL;
	c->cap = c->head = c->len = 0;
	free(c->bl);
	c->bl = NULL;
	c->blcap = 0;
	sock_reclaim(s, k);
}

void urt__sim_net_close(struct urt_sim *s, uint32_t k)
{
	struct sim_sock *c = sock_at(s, k);

	c->open = 0;
	c->closed = 1;
	if (!c->ops)
		sock_release(s, k);
}

void urt__sim_sock_hold(struct urt_sim *s, uint32_t k)
{
	s->sock[k]->ops++;
}

void urt__sim_sock_drop(struct urt_sim *s, uint32_t k)
{
	struct sim_sock *c = s->sock[k];

	if (--c->ops)
		return;
	if (c->closed && !c->released)
		sock_release(s, k);
	else
		sock_reclaim(s, k);
}

int urt__sim_socket(void *ctx, int domain, int type, int protocol)
{
	struct urt_sim *s = ctx;
	uint32_t k;

	(void)protocol;
	if ((domain != AF_INET && domain != AF_INET6) || (type & 0xf) != SOCK_STREAM)
		return -EAFNOSUPPORT; /* datagrams and unix sockets are not in the model yet */
	k = sock_new(s, SK_NEW, (uint8_t)domain);
	s->sock[k]->nonblock = !!(type & SOCK_NONBLOCK);
	return fd_new(s, k);
}

int urt__sim_sys_connect(void *ctx, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct urt_sim *s = ctx;
	struct sim_sock *k;
	uint32_t ki;

	(void)len;
	if (!(k = fd_sock(s, fd, &ki)) || k->pipe)
		return k ? -ENOTSOCK : not_sock(s, fd);
	return sock_connect(s, ki, sa);
}

int urt__sim_setsockopt(void *ctx, int fd, int level, int name, const void *val, socklen_t len)
{
	struct sim_sock *k = fd_sock(ctx, fd, NULL);

	if (!k || k->pipe)
		return k ? -ENOTSOCK : not_sock(ctx, fd);
	/* SO_LINGER is the one the model keeps: the rest change nothing it has */
	if (level == SOL_SOCKET && name == SO_LINGER) {
		const struct linger *l = val;

		if (!l || len < sizeof(*l))
			return l ? -EINVAL : -EFAULT;
		k->linger0 = l->l_onoff && !l->l_linger;
	}
	return 0;
}

int urt__sim_getsockopt(void *ctx, int fd, int level, int name, void *val, socklen_t *len)
{
	uint32_t k;

	if (!fd_sock(ctx, fd, &k))
		return not_sock(ctx, fd);
	if (level == SOL_SOCKET && name == SO_COOKIE && *len >= sizeof(uint64_t)) {
		/* the socket's, never another's, as the kernel's: a descriptor
		 * number closed and given again, or a socket's slot reused,
		 * names a new cookie (the zero-copy reset checks it,
		 * runtime/io/zc.c) */
		uint64_t c = ((struct urt_sim *)ctx)->sock[k]->cookie;

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
	if (k->eph || k->type != SK_NEW)
		return -EINVAL; /* bound already */
	port_tables(s);
	if (!port) {
		port = port_ephemeral(s);
		if (!port)
			return -EADDRINUSE; /* every ephemeral port is held */
	} else if (s->port_held[port]) {
		return -EADDRINUSE;
	} else {
		s->port_held[port]++;
	}
	k->port = port;
	k->eph = 1;
	return 0;
}

int urt__sim_listen(void *ctx, int fd, int backlog)
{
	struct urt_sim *s = ctx;
	struct sim_sock *k;
	uint32_t ki;

	(void)backlog;
	if (!(k = fd_sock(s, fd, &ki)))
		return not_sock(s, fd);
	if (k->type != SK_NEW)
		return -EINVAL;
	if (!k->eph) { /* not bound: an ephemeral port, as inet_autobind */
		uint16_t p = port_ephemeral(s);

		if (!p)
			return -EADDRINUSE;
		k->port = p;
		k->eph = 1;
	}
	if (s->lport[k->port])
		return -EADDRINUSE;
	s->lport[k->port] = ki + 1;
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

/* --- the host's calls (host.c): the program's own end, outside the ring ----------- */

/* Socket fd for a host call, or the error a socket call on fd answers. */
static int host_sock(struct urt_sim *s, int fd, uint32_t *k)
{
	if (!fd_sock(s, fd, k))
		return not_sock(s, fd);
	return 0;
}

int urt__sim_host_pair(struct urt_sim *s, int family, bool pipe, bool nonblock, int fd[2])
{
	uint32_t a = sock_new(s, SK_STREAM, (uint8_t)family),
		 b = sock_new(s, SK_STREAM, (uint8_t)family);

	s->sock[a]->peer = b + 1;
	s->sock[b]->peer = a + 1;
	s->sock[a]->pipe = pipe ? PIPE_RD : PIPE_NO; /* fd[0] reads what fd[1] writes */
	s->sock[b]->pipe = pipe ? PIPE_WR : PIPE_NO;
	s->sock[a]->nonblock = s->sock[b]->nonblock = nonblock;
	fd[0] = fd_new(s, a);
	fd[1] = fd_new(s, b);
	return 0;
}

int urt__sim_host_connect(struct urt_sim *s, int fd, const struct sockaddr *sa)
{
	uint32_t k;
	int ret = host_sock(s, fd, &k);

	if (ret)
		return ret;
	return s->sock[k]->pipe ? -ENOTSOCK : sock_connect(s, k, sa);
}

int urt__sim_host_accept(struct urt_sim *s, int lfd, bool nonblock)
{
	uint32_t k;
	struct sim_sock *l;
	int ret = host_sock(s, lfd, &k), fd;

	if (ret)
		return ret;
	l = s->sock[k];
	if (l->pipe)
		return -ENOTSOCK;
	if (l->type != SK_LISTEN)
		return -EINVAL;
	if (!l->nbl) /* nothing else runs while the host waits: it would wait for ever */
		return l->nonblock ? -EAGAIN : -EDEADLK;
	fd = backlog_take(s, l, &k);
	s->sock[k]->nonblock = nonblock;
	return fd;
}

long urt__sim_host_read(struct urt_sim *s, int fd, void *buf, size_t n, bool dontwait)
{
	uint32_t i;
	struct sim_sock *k;
	int ret = host_sock(s, fd, &i);

	if (ret)
		return ret;
	k = s->sock[i];
	if (k->pipe == PIPE_WR)
		return -EBADF;
	if (k->type != SK_STREAM)
		return -ENOTCONN;
	if (!k->len) {
		int32_t r = n ? recv_empty(k) : 0;

		if (r != 1)
			return r;
		return dontwait || k->nonblock ? -EAGAIN : -EDEADLK;
	}
	if (n > k->len)
		n = k->len;
	queue_get(k, buf, (uint32_t)n);
	urt__sim_wake(s, &k->writers); /* room again */
	return (long)n;
}

long urt__sim_host_write(struct urt_sim *s, int fd, const void *buf, size_t n, bool dontwait)
{
	uint32_t i, room;
	struct sim_sock *k, *p;
	int ret = host_sock(s, fd, &i);

	if (ret)
		return ret;
	k = s->sock[i];
	if (k->pipe == PIPE_RD)
		return -EBADF;
	if ((ret = send_refused(k)))
		return ret;
	p = sock_at(s, k->peer - 1);
	if (p->released)
		return k->pipe ? -EPIPE : send_to_closed(s, k, (uint32_t)(n > INT32_MAX ? INT32_MAX : n));
	if (!n)
		return 0;
	queue_ready(s, p);
	room = p->cap - p->len;
	if (!room) /* full: only the runtime's receives make room, and they cannot run now */
		return dontwait || k->nonblock ? -EAGAIN : -EDEADLK;
	if (n > room)
		n = room;
	queue_put(p, buf, (uint32_t)n);
	urt__sim_wake(s, &p->readers);
	return (long)n;
}

int urt__sim_host_shutdown(struct urt_sim *s, int fd, int how)
{
	uint32_t k;
	int ret = host_sock(s, fd, &k);

	if (ret)
		return ret;
	return s->sock[k]->pipe ? -ENOTSOCK : sock_shutdown(s, k, how);
}

int urt__sim_host_nonblock(struct urt_sim *s, int fd, int on)
{
	uint32_t k;
	int ret = host_sock(s, fd, &k);

	if (ret)
		return ret;
	if (on >= 0)
		s->sock[k]->nonblock = (uint8_t) !!on;
	return s->sock[k]->nonblock;
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
	free(s->lport);
	free(s->port_held);
	s->lport = NULL;
	s->port_held = NULL;
}
