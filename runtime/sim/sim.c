/* SPDX-License-Identifier: MIT */
/*
 * sim.c - the simulated kernel (urt/sim.h): a struct urt__kern whose ring
 * is memory of its own, and a model that executes what the runtime
 * submits in virtual time.
 *
 * The rings. setup() lays out what liburing's inline helpers read: the SQ
 * (head, tail, flags, the SQE array) and the CQ (head, tail, the CQE
 * array), in one allocation. The runtime fills SQEs with io_uring_get_sqe
 * and reads CQEs with io_uring_for_each_cqe as always; an enter takes the
 * SQEs between the SQ head and the runtime's sqe_tail, and posts CQEs at
 * the CQ tail. A CQ that is full sets IORING_SQ_CQ_OVERFLOW and keeps the
 * rest back until an enter flushes them (the kernel's NODROP).
 *
 * Events. Each submission becomes an event at (now + latency), latency
 * drawn from the seeded generator; the events wait in a binary heap on
 * (time, seq), seq drawn at random too, so events due together come out in
 * an order the seed decides. A wait posts every event that is due; when
 * none is, virtual time jumps to the earliest event or to the wait's
 * timeout, whichever is first. Every enter also moves the clock 50-100 ns,
 * so a program that never waits still sees time pass.
 *
 * Linked timeouts: an SQE with IOSQE_IO_LINK followed by LINK_TIMEOUT
 * arms a timer event for its target; whichever fires first decides the two
 * results (target first: its result, timeout -ECANCELED; timer first:
 * target -ECANCELED, timeout -ETIME).
 */
#include "sim_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SIM_OPS_MAX 255 /* the probe's array (ops_len is a byte) */

struct sim_ev {
	uint64_t at, seq;
	uint32_t op, gen; /* the op (index) and its generation when scheduled */
};

/* --- the generator and the hash --------------------------------------------- */

uint64_t urt__sim_rand(struct urt_sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void urt__sim_mix(struct urt_sim *s, uint64_t v)
{
	s->hash = (s->hash ^ v) * 0x100000001b3ull;
	s->hash ^= s->hash >> 29;
}

void *urt__sim_grow(void *p, uint32_t *cap, size_t size)
{
	uint32_t n = *cap ? *cap * 2 : 64;
	void *q = realloc(p, n * size);

	if (!q)
		abort(); /* the model never drops an operation or an event */
	*cap = n;
	return q;
}

/* --- events --------------------------------------------------------------------- */

static bool ev_before(const struct sim_ev *x, const struct sim_ev *y)
{
	return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static void ev_push(struct urt_sim *s, uint32_t i, uint64_t at)
{
	struct sim_ev e = { .at = at, .seq = urt__sim_rand(s), .op = i, .gen = s->op[i].gen };
	uint32_t pos;

	if (s->nev == s->ev_cap)
		s->ev = urt__sim_grow(s->ev, &s->ev_cap, sizeof(*s->ev));
	pos = s->nev++;
	while (pos) {
		uint32_t up = (pos - 1) / 2;

		if (!ev_before(&e, &s->ev[up]))
			break;
		s->ev[pos] = s->ev[up];
		pos = up;
	}
	s->ev[pos] = e;
}

static struct sim_ev ev_pop(struct urt_sim *s)
{
	struct sim_ev top = s->ev[0], last = s->ev[--s->nev];
	uint32_t pos = 0;

	for (;;) {
		uint32_t c = 2 * pos + 1;

		if (c >= s->nev)
			break;
		if (c + 1 < s->nev && ev_before(&s->ev[c + 1], &s->ev[c]))
			c++;
		if (!ev_before(&s->ev[c], &last))
			break;
		s->ev[pos] = s->ev[c];
		pos = c;
	}
	if (s->nev)
		s->ev[pos] = last;
	return top;
}

bool urt__sim_fault(struct urt_sim *s, uint32_t kind)
{
	if (!s->faults_pct || !(s->fault_kinds & kind) || urt__sim_rand(s) % 100 >= s->faults_pct)
		return false;
	s->faults++;
	urt__sim_mix(s, 0xfa17u << 16 | kind);
	if (s->trace)
		fprintf(s->trace, "%llu fault %#x\n", (unsigned long long)s->now, kind);
	return true;
}

static uint64_t latency(struct urt_sim *s)
{
	return s->max_lat ? urt__sim_rand(s) % (s->max_lat + 1) : 0;
}

/* now + d, saturated: a deadline past the end of time never wraps to the past */
static uint64_t after(const struct urt_sim *s, uint64_t d)
{
	return d > UINT64_MAX - s->now ? UINT64_MAX : s->now + d;
}

/* --- operations by user_data ------------------------------------------------------ */

struct sim_udent {
	uint64_t ud;
	uint32_t op; /* index + 1; 0 empty; UD_GONE removed */
};

#define UD_GONE UINT32_MAX

static uint32_t ud_slot(const struct urt_sim *s, uint64_t ud)
{
	return (uint32_t)((ud * 0x9e3779b97f4a7c15ull) >> 32) & (s->ud_cap - 1);
}

/* Whether an operation is in the index: not a linked timeout (a cancel
 * never targets one), nor one with URT__UD_IGNORE (the runtime's cancels
 * and closes: thousands may share it, and nothing cancels them; a cancel
 * of it walks every operation). */
static bool ud_indexed(const struct io_uring_sqe *sqe)
{
	return sqe->opcode != IORING_OP_LINK_TIMEOUT && sqe->user_data != URT__UD_IGNORE;
}

static void ud_put(struct urt_sim *s, uint64_t ud, uint32_t i);

/* Twice the room (or the same, rid of removed entries), entries put again. */
static void ud_rehash(struct urt_sim *s)
{
	struct sim_udent *old = s->ud;
	uint32_t n = s->ud_cap, live = 0;

	for (uint32_t k = 0; k < n; k++)
		live += old[k].op && old[k].op != UD_GONE;
	s->ud_cap = n && live * 4 < n ? n : n ? 2 * n : 64;
	s->ud = calloc(s->ud_cap, sizeof(*s->ud));
	if (!s->ud)
		abort();
	s->ud_used = 0;
	for (uint32_t k = 0; k < n; k++)
		if (old[k].op && old[k].op != UD_GONE)
			ud_put(s, old[k].ud, old[k].op - 1);
	free(old);
}

static void ud_put(struct urt_sim *s, uint64_t ud, uint32_t i)
{
	uint32_t k;

	if ((s->ud_used + 1) * 2 > s->ud_cap)
		ud_rehash(s);
	for (k = ud_slot(s, ud); s->ud[k].op && s->ud[k].op != UD_GONE;
	     k = (k + 1) & (s->ud_cap - 1))
		;
	s->ud_used += !s->ud[k].op;
	s->ud[k] = (struct sim_udent){ .ud = ud, .op = i + 1 };
}

static void ud_del(struct urt_sim *s, uint64_t ud, uint32_t i)
{
	for (uint32_t k = ud_slot(s, ud); s->ud[k].op; k = (k + 1) & (s->ud_cap - 1))
		if (s->ud[k].op == i + 1) {
			s->ud[k].op = UD_GONE;
			return;
		}
}

/* The live operation with user_data ud (not a linked timeout; the lowest
 * index if several have it, as a walk in index order finds), or UINT32_MAX. */
static uint32_t ud_find(const struct urt_sim *s, uint64_t ud)
{
	uint32_t best = UINT32_MAX;

	if (!s->ud_cap)
		return best;
	for (uint32_t k = ud_slot(s, ud); s->ud[k].op; k = (k + 1) & (s->ud_cap - 1))
		if (s->ud[k].op != UD_GONE && s->ud[k].ud == ud && s->ud[k].op - 1 < best)
			best = s->ud[k].op - 1;
	return best;
}

/* --- operations ------------------------------------------------------------------- */

static uint32_t op_new(struct urt_sim *s, const struct io_uring_sqe *sqe)
{
	uint32_t i;

	if (s->op_free) {
		i = s->op_free - 1;
		s->op_free = s->op[i].next_free;
	} else {
		if (s->nop == s->op_cap)
			s->op = urt__sim_grow(s->op, &s->op_cap, sizeof(*s->op));
		i = s->nop++;
		s->op[i].gen = 0;
	}
	s->op[i] = (struct sim_op){ .sqe = *sqe, .gen = s->op[i].gen, .state = OPS_SCHED };
	s->live_ops++;
	if (ud_indexed(sqe))
		ud_put(s, sqe->user_data, i);
	return i;
}

static void wq_remove(struct urt_sim *s, uint32_t i)
{
	struct sim_op *o = &s->op[i];
	struct sim_wq *q = o->wq;

	if (o->wprev)
		s->op[o->wprev - 1].wnext = o->wnext;
	else
		q->head = o->wnext;
	if (o->wnext)
		s->op[o->wnext - 1].wprev = o->wprev;
	else
		q->tail = o->wprev;
	o->wq = NULL;
	o->wnext = o->wprev = 0;
}

static void op_free(struct urt_sim *s, uint32_t i)
{
	struct sim_op *o = &s->op[i];

	if (o->state == OPS_WAIT)
		wq_remove(s, i);
	if (ud_indexed(&o->sqe))
		ud_del(s, o->sqe.user_data, i);
	if (o->fdkind == SIM_FD_SOCK) {
		o->fdkind = SIM_FD_FREE;
		urt__sim_sock_drop(s, o->fdidx);
	}
	free(o->path[0]);
	free(o->path[1]);
	o->path[0] = o->path[1] = NULL;
	o->gen++; /* its event, if any, is stale now */
	o->state = OPS_FREE;
	o->next_free = s->op_free;
	s->op_free = i + 1;
	s->live_ops--;
}

void urt__sim_park(struct urt_sim *s, uint32_t i, struct sim_wq *q)
{
	struct sim_op *o = &s->op[i];

	o->state = OPS_WAIT;
	o->wq = q;
	o->wnext = 0;
	o->wprev = q->tail;
	if (q->tail)
		s->op[q->tail - 1].wnext = i + 1;
	else
		q->head = i + 1;
	q->tail = i + 1;
}

void urt__sim_again(struct urt_sim *s, uint32_t i)
{
	s->op[i].state = OPS_SCHED;
	ev_push(s, i, after(s, latency(s)));
}

void urt__sim_later(struct urt_sim *s, uint32_t i, uint64_t delay_ns)
{
	s->op[i].state = OPS_SCHED;
	ev_push(s, i, after(s, delay_ns));
}

void urt__sim_wake(struct urt_sim *s, struct sim_wq *q)
{
	while (q->head) {
		uint32_t i = q->head - 1;

		wq_remove(s, i);
		urt__sim_again(s, i);
	}
}

/* --- the CQ -------------------------------------------------------------------------- */

static void cqe(struct urt_sim *s, uint64_t ud, int32_t res, uint32_t flags)
{
	unsigned tail = *s->cq_tail;

	s->events++;
	urt__sim_mix(s, ud);
	urt__sim_mix(s, (uint64_t)(uint32_t)res << 32 | flags);
	urt__sim_mix(s, s->now);
	if (s->trace)
		fprintf(s->trace, "%llu cqe ud=%llx res=%d flags=%x hash=%016llx\n",
			(unsigned long long)s->now, (unsigned long long)ud, res, flags,
			(unsigned long long)s->hash);
	if (tail - __atomic_load_n(s->cq_head, __ATOMIC_ACQUIRE) >= s->cq_entries || s->nover) {
		if (s->nover == s->over_cap)
			s->over = urt__sim_grow(s->over, &s->over_cap, sizeof(*s->over));
		s->over[s->nover++] =
			(struct io_uring_cqe){ .user_data = ud, .res = res, .flags = flags };
		*s->sq_flags |= IORING_SQ_CQ_OVERFLOW;
		return;
	}
	s->cqes[tail & (s->cq_entries - 1)] =
		(struct io_uring_cqe){ .user_data = ud, .res = res, .flags = flags };
	__atomic_store_n(s->cq_tail, tail + 1, __ATOMIC_RELEASE);
}

/* Move what a full CQ held back into it, as far as it has room. */
static void flush_overflow(struct urt_sim *s)
{
	uint32_t n = 0;

	while (n < s->nover &&
	       *s->cq_tail - __atomic_load_n(s->cq_head, __ATOMIC_ACQUIRE) < s->cq_entries) {
		unsigned tail = *s->cq_tail;

		s->cqes[tail & (s->cq_entries - 1)] = s->over[n++];
		__atomic_store_n(s->cq_tail, tail + 1, __ATOMIC_RELEASE);
	}
	if (!n)
		return;
	memmove(s->over, s->over + n, (s->nover - n) * sizeof(*s->over));
	s->nover -= n;
	if (!s->nover)
		*s->sq_flags &= ~(unsigned)IORING_SQ_CQ_OVERFLOW;
}

void urt__sim_post(struct urt_sim *s, uint32_t i, int32_t res, uint32_t flags, bool more)
{
	struct sim_op *o = &s->op[i];

	cqe(s, o->sqe.user_data, res, flags | (more ? IORING_CQE_F_MORE : 0));
	if (more) {
		o->started = 1;
		return;
	}
	if (o->link) { /* the target ended first: its linked timeout is cancelled */
		uint32_t lt = o->link - 1;

		cqe(s, s->op[lt].sqe.user_data, -ECANCELED, 0);
		op_free(s, lt);
	}
	op_free(s, i);
}

/* A zero-copy send whose result is posted: only its notification is to
 * come, and no cancel reaches it (the kernel's request is complete). */
static bool zc_notif_due(const struct sim_op *o)
{
	return o->sqe.opcode == IORING_OP_SEND_ZC && o->started;
}

/* End op i (and its linked timeout) with res, wherever it is. A zero-copy
 * send ends as the kernel's does: its result with F_MORE, then the
 * notification. */
static void op_cancel(struct urt_sim *s, uint32_t i, int32_t res)
{
	/* a MSG_WAITALL transfer that moved bytes ends with their count, as
	 * the kernel's (io_sendrecv_fail): the bytes are the caller's now */
	if (s->op[i].got)
		res = (int32_t)s->op[i].got;
	if (s->op[i].sqe.opcode == IORING_OP_SEND_ZC) {
		if (s->op[i].started)
			return; /* its notification is on its way */
		if (s->op[i].state == OPS_WAIT)
			wq_remove(s, i);
		urt__sim_zc_result(s, i, res);
		return;
	}
	urt__sim_post(s, i, res, 0, false);
}

void urt__sim_zc_result(struct urt_sim *s, uint32_t i, int32_t res)
{
	struct sim_op *o = &s->op[i];

	urt__sim_post(s, i, res, 0, true);
	if (o->link) { /* done as far as a linked timeout goes */
		uint32_t lt = o->link - 1;

		cqe(s, s->op[lt].sqe.user_data, -ECANCELED, 0);
		op_free(s, lt);
		o->link = 0;
	}
	urt__sim_again(s, i);
}

/* ASYNC_CANCEL by user_data: the live operation (not a linked timeout)
 * that has it, the lowest-numbered if several do; a zero-copy send whose
 * result is out is done as far as a cancel goes (its notification is no
 * request of its own). Return: 0; -ENOENT. */
static int cancel_ud(struct urt_sim *s, uint64_t ud)
{
	uint32_t i = ud_find(s, ud);

	for (uint32_t k = 0; ud == URT__UD_IGNORE && k < s->nop && i == UINT32_MAX; k++)
		if (s->op[k].state != OPS_FREE && !s->op[k].is_lt && s->op[k].sqe.user_data == ud)
			i = k;
	if (i == UINT32_MAX || zc_notif_due(&s->op[i]))
		return -ENOENT;
	op_cancel(s, i, -ECANCELED);
	return 0;
}

/* --- running an operation -------------------------------------------------------------- */

static void run(struct urt_sim *s, uint32_t i)
{
	struct sim_op *o = &s->op[i];

	if (o->is_lt) { /* the timer fired first: the target is cancelled */
		uint32_t t = o->link - 1;

		s->op[t].link = 0;
		o->link = 0;
		op_cancel(s, t, -ECANCELED);
		urt__sim_post(s, i, -ETIME, 0, false);
		return;
	}
	switch (o->sqe.opcode) {
	case IORING_OP_NOP:
		urt__sim_post(s, i, 0, 0, false);
		return;
	case IORING_OP_CLOSE:
		urt__sim_post(s, i, urt__sim_close(s, o->sqe.fd), 0, false);
		return;
	case IORING_OP_READ:
		if (o->sqe.user_data == URT__UD_EVENTFD) { /* no other thread writes it here */
			o->state = OPS_NEVER;
			return;
		}
		break;
	default:
		break;
	}
	if (urt__sim_file_run(s, i) || urt__sim_net_run(s, i))
		return;
	urt__sim_post(s, i, -EOPNOTSUPP, 0, false);
}

/* One SQE taken: an operation, run after its latency; a linked timeout
 * armed beside the SQE before it. */
static void take(struct urt_sim *s, const struct io_uring_sqe *sqe, uint32_t *linked)
{
	uint64_t ud = sqe->user_data;
	uint32_t i;

	s->events++;
	/* the wake eventfd is a real descriptor, its number the process's: not
	 * part of the run */
	urt__sim_mix(s, (uint64_t)sqe->opcode << 56 | (uint64_t)sqe->flags << 48 |
				(ud == URT__UD_EVENTFD ? 0 : (uint32_t)sqe->fd));
	urt__sim_mix(s, (uint64_t)sqe->len << 32 | sqe->ioprio);
	urt__sim_mix(s, ud);
	if (s->trace)
		fprintf(s->trace, "%llu sqe op=%u fd=%d len=%u flags=%x ioprio=%x ud=%llx\n",
			(unsigned long long)s->now, sqe->opcode,
			ud == URT__UD_EVENTFD ? -1 : sqe->fd, sqe->len, sqe->flags, sqe->ioprio,
			(unsigned long long)ud);
	i = op_new(s, sqe);
	if (sqe->opcode == IORING_OP_CONNECT && sqe->addr) {
		/* the kernel copies the address when it takes the SQE */
		size_t n = sqe->off < sizeof(s->op[i].sa) ? sqe->off : sizeof(s->op[i].sa);

		memcpy(&s->op[i].sa, (const void *)(uintptr_t)sqe->addr, n);
		s->op[i].sqe.addr =
			(uint64_t)(uintptr_t)&s->op[i].sa; /* reread at run: moved if op[] grows */
	}
	urt__sim_file_take(s, i); /* paths, likewise */
	if (sqe->opcode == IORING_OP_ASYNC_CANCEL) {
		/* The kernel cancels at submission (io_async_cancel runs inline
		 * and completes): the target is what has that user_data now,
		 * never an operation submitted later with it (a stream re-armed
		 * on the same record), and both CQEs are posted now, the
		 * target's first. */
		*linked = UINT32_MAX;
		urt__sim_post(s, i, cancel_ud(s, sqe->addr), 0, false);
		return;
	}
	s->op[i].fdkind = (uint8_t)urt__sim_fd_at(s, sqe->fd, &s->op[i].fdidx);
	if (s->op[i].fdkind == SIM_FD_SOCK)
		urt__sim_sock_hold(s, s->op[i].fdidx);
	if (sqe->opcode == IORING_OP_CLOSE && !(sqe->flags & IOSQE_IO_LINK)) {
		/* The kernel closes a socket or a regular file at submission
		 * (io_close runs inline: only a file with a flush method, NFS or
		 * FUSE, goes to a worker), so no cancel can catch it. */
		*linked = UINT32_MAX;
		urt__sim_post(s, i, urt__sim_close(s, sqe->fd), 0, false);
		return;
	}
	if (sqe->opcode == IORING_OP_LINK_TIMEOUT) {
		const struct __kernel_timespec *ts = (const void *)(uintptr_t)sqe->addr;

		if (*linked == UINT32_MAX) {
			urt__sim_post(s, i, -EINVAL, 0, false); /* no target */
			return;
		}
		s->op[i].is_lt = 1;
		s->op[i].link = *linked + 1;
		s->op[*linked].link = i + 1;
		*linked = UINT32_MAX;
		ev_push(s, i, after(s, ts->tv_sec < 0 ? 0 : (uint64_t)ts->tv_sec > UINT64_MAX / 1000000000u ? UINT64_MAX : (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec));
		return;
	}
	*linked = (sqe->flags & IOSQE_IO_LINK) ? i : UINT32_MAX;
	ev_push(s, i, after(s, latency(s)));
}

/* Take every SQE the runtime prepared. Return: how many. */
static int submit(struct urt_sim *s, struct io_uring *ring)
{
	unsigned head = *s->sq_head, tail = ring->sq.sqe_tail;
	uint32_t linked = UINT32_MAX;
	int n = 0;

	for (; head != tail; head++, n++) {
		take(s, &s->sqes[head & (s->sq_entries - 1)], &linked);
		if (s->check)
			s->check(s, s->check_arg);
	}
	ring->sq.sqe_head = tail;
	*s->sq_tail = tail;
	__atomic_store_n(s->sq_head, tail, __ATOMIC_RELEASE);
	return n;
}

/* Run every event due by now. */
static void fire_due(struct urt_sim *s)
{
	while (s->nev && s->ev[0].at <= s->now) {
		struct sim_ev e = ev_pop(s);
		struct sim_op *o = &s->op[e.op];

		if (o->state == OPS_SCHED && o->gen == e.gen) {
			run(s, e.op);
			if (s->check)
				s->check(s, s->check_arg);
		}
	}
}

static bool cq_ready(const struct urt_sim *s)
{
	return *s->cq_tail != __atomic_load_n(s->cq_head, __ATOMIC_ACQUIRE);
}

/* --- the descriptor table ------------------------------------------------------------ */

int urt__sim_fd_new(struct urt_sim *s, enum sim_fd_kind kind, uint32_t idx)
{
	uint32_t i;

	for (i = 0; i < s->nfd && s->fd[i].kind != SIM_FD_FREE; i++)
		;
	if (i == s->nfd) {
		if (s->nfd == s->fd_cap)
			s->fd = urt__sim_grow(s->fd, &s->fd_cap, sizeof(*s->fd));
		s->nfd++;
	}
	s->fd[i] = (struct sim_fd){ .kind = kind, .idx = idx };
	s->fds_open++;
	return SIM_FD_BASE + (int)i;
}

enum sim_fd_kind urt__sim_fd_at(const struct urt_sim *s, int fd, uint32_t *idx)
{
	const struct sim_fd *e;

	if (fd < SIM_FD_BASE || (uint32_t)(fd - SIM_FD_BASE) >= s->nfd)
		return SIM_FD_FREE;
	e = &s->fd[fd - SIM_FD_BASE];
	if (idx)
		*idx = e->idx;
	return (enum sim_fd_kind)e->kind;
}

int urt__sim_close(struct urt_sim *s, int fd)
{
	uint32_t idx;
	enum sim_fd_kind kind = urt__sim_fd_at(s, fd, &idx);

	if (kind == SIM_FD_FREE)
		return -EBADF;
	s->fd[fd - SIM_FD_BASE].kind = SIM_FD_FREE;
	s->fds_open--;
	if (kind == SIM_FD_SOCK)
		urt__sim_net_close(s, idx);
	else
		urt__sim_file_close(s, idx);
	return 0;
}

/* --- provided buffers --------------------------------------------------------------- */

uint32_t urt__sim_bufs_avail(const struct urt_sim *s)
{
	if (!s->br)
		return 0;
	return (uint16_t)(__atomic_load_n(&s->br->tail, __ATOMIC_ACQUIRE) - s->br_head);
}

struct io_uring_buf *urt__sim_buf_at(struct urt_sim *s, uint32_t k)
{
	return &s->br->bufs[(uint16_t)(s->br_head + k) & (s->br_entries - 1)];
}

void urt__sim_bufs_used(struct urt_sim *s, uint32_t n)
{
	s->br_head = (uint16_t)(s->br_head + n);
}

/* --- the table ------------------------------------------------------------------------- */

static int sim_setup(void *ctx, struct io_uring *ring, unsigned entries, struct io_uring_params *p)
{
	struct urt_sim *s = ctx;
	unsigned sq = 1, cq;

	if (s->mem)
		return -EBUSY; /* a simulated kernel serves one runtime at a time */
	char *m;
	size_t words = 8 * sizeof(unsigned);

	while (sq < entries)
		sq <<= 1;
	cq = (p->flags & IORING_SETUP_CQSIZE) ? p->cq_entries : 2 * sq;
	while (cq & (cq - 1))
		cq++;
	m = calloc(1, words + sq * sizeof(unsigned) + sq * sizeof(struct io_uring_sqe) +
			      cq * sizeof(struct io_uring_cqe));
	if (!m)
		return -ENOMEM;
	s->mem = m;
	s->sq_head = (unsigned *)m;
	s->sq_tail = s->sq_head + 1;
	s->sq_flags = s->sq_head + 2;
	s->sq_dropped = s->sq_head + 3;
	s->cq_head = s->sq_head + 4;
	s->cq_tail = s->sq_head + 5;
	s->cq_overflow = s->sq_head + 6;
	s->sq_array = (unsigned *)(m + words);
	s->sqes = (struct io_uring_sqe *)(m + words + sq * sizeof(unsigned));
	s->cqes = (struct io_uring_cqe *)(s->sqes + sq);
	s->sq_entries = sq;
	s->cq_entries = cq;
	memset(ring, 0, sizeof(*ring));
	ring->sq.khead = s->sq_head;
	ring->sq.ktail = s->sq_tail;
	ring->sq.kflags = s->sq_flags;
	ring->sq.kdropped = s->sq_dropped;
	ring->sq.array = s->sq_array;
	ring->sq.sqes = s->sqes;
	ring->sq.ring_mask = sq - 1;
	ring->sq.ring_entries = sq;
	ring->cq.khead = s->cq_head;
	ring->cq.ktail = s->cq_tail;
	ring->cq.koverflow = s->cq_overflow;
	ring->cq.cqes = s->cqes;
	ring->cq.ring_mask = cq - 1;
	ring->cq.ring_entries = cq;
	ring->flags = p->flags & ~(unsigned)IORING_SETUP_CQSIZE;
	ring->ring_fd = -1;
	ring->enter_ring_fd = -1;
	p->sq_entries = sq;
	p->cq_entries = cq;
	/* 1 << 13: IORING_FEAT_REG_REG_RING (6.3), which the runtime takes for
	 * IORING_SEND_ZC_REPORT_USAGE; 1 << 14: IORING_FEAT_RECVSEND_BUNDLE */
	p->features = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG | 1u << 13 | 1u << 14;
	return 0;
}

static void sim_teardown(void *ctx, struct io_uring *ring)
{
	struct urt_sim *s = ctx;

	(void)ring;
	/* the ring goes, and with it whatever it still had in flight (the
	 * kernel cancels a ring's requests at its exit) and its held-back
	 * completions: a runtime set up on this model later must not see them */
	for (uint32_t i = 0; i < s->nop; i++)
		if (s->op[i].state != OPS_FREE)
			op_free(s, i);
	s->nover = 0;
	s->eintr = 0;
	s->br = NULL;
	free(s->mem);
	s->mem = NULL;
}

static struct io_uring_probe *sim_probe(void *ctx, struct io_uring *ring)
{
	static const uint8_t ops[] = {
		IORING_OP_NOP,	     IORING_OP_ASYNC_CANCEL, IORING_OP_LINK_TIMEOUT,
		IORING_OP_READ,	     IORING_OP_ACCEPT,	     IORING_OP_CONNECT,
		IORING_OP_RECV,	     IORING_OP_SEND,	     IORING_OP_CLOSE,
		IORING_OP_SHUTDOWN,  IORING_OP_WRITE,	     IORING_OP_OPENAT,
		IORING_OP_OPENAT2,   IORING_OP_STATX,	     IORING_OP_FSYNC,
		IORING_OP_MKDIRAT,   IORING_OP_UNLINKAT,     IORING_OP_RENAMEAT,
		IORING_OP_FALLOCATE, URT__OP_FTRUNCATE,	     IORING_OP_POLL_ADD,
		IORING_OP_SEND_ZC,
	};
	struct io_uring_probe *p;

	(void)ctx, (void)ring;
	p = calloc(1, sizeof(*p) + SIM_OPS_MAX * sizeof(struct io_uring_probe_op));
	if (!p)
		return NULL;
	/* not IORING_OP_LAST - 1: an older uapi header's ends before the
	 * opcodes urt names itself (URT__OP_FTRUNCATE) */
	p->last_op = SIM_OPS_MAX - 1;
	p->ops_len = SIM_OPS_MAX;
	for (unsigned i = 0; i < sizeof(ops); i++) {
		p->ops[ops[i]].op = ops[i];
		p->ops[ops[i]].flags = IO_URING_OP_SUPPORTED;
	}
	return p;
}

static int sim_enter(void *ctx, struct io_uring *ring, enum urt__enter how, uint64_t timeout_ns)
{
	struct urt_sim *s = ctx;
	uint64_t until;
	int n = 0;

	s->now += 50 + urt__sim_rand(s) % 51;
	if (how != URT__ENTER_FLUSH && !s->eintr && urt__sim_fault(s, URT_SIM_FAULT_EINTR)) {
		s->eintr = 1; /* never twice in a row: the next enter goes through */
		return -EINTR; /* nothing taken: the runtime enters again */
	}
	s->eintr = 0;
	if (how != URT__ENTER_FLUSH && s->busy_on_overflow) {
		flush_overflow(s);
		if (s->nover)
			return -EBUSY; /* nothing taken: the CQ must be read first */
	}
	if (how != URT__ENTER_FLUSH)
		n = submit(s, ring);
	flush_overflow(s);
	if (how == URT__ENTER_SUBMIT) {
		if (s->busy_on_overflow)
			fire_due(s);
		return n;
	}
	fire_due(s);
	if (how != URT__ENTER_WAIT || cq_ready(s) || s->nover)
		return n;
	/* wait: jump to the earliest event, or to the timeout */
	/* a timeout past the end of time waits for ever, as on the kernel (and
	 * the clock never wraps back) */
	until = timeout_ns == URT_TICK_FOREVER ? UINT64_MAX : after(s, timeout_ns);
	while (!cq_ready(s) && s->nev && s->ev[0].at <= until) {
		s->now = s->ev[0].at;
		fire_due(s);
	}
	if (cq_ready(s))
		return n;
	if (until == UINT64_MAX) {
		/* the real kernel would sleep for good: in a simulation nothing
		 * else can happen, so the wait fails (urt_tick, urt_run) */
		s->stalls++;
		if (s->trace) {
			fprintf(s->trace, "%llu stall: waiting for ever on\n",
				(unsigned long long)s->now);
			for (uint32_t k = 0; k < s->nop; k++)
				if (s->op[k].state != OPS_FREE)
					fprintf(s->trace, "  op=%u fd=%d ud=%llx state=%u\n",
						s->op[k].sqe.opcode,
						s->op[k].sqe.user_data == URT__UD_EVENTFD ? -1 : s->op[k].sqe.fd,
						(unsigned long long)s->op[k].sqe.user_data,
						s->op[k].state);
		}
		return -EDEADLK;
	}
	s->now = until;
	return -ETIME;
}

static int sim_buf_ring(void *ctx, struct io_uring *ring, struct io_uring_buf_reg *reg, bool on)
{
	struct urt_sim *s = ctx;

	(void)ring;
	if (reg->bgid != 0)
		return -EINVAL;
	if (!on) {
		s->br = NULL;
		return 0;
	}
	if (reg->pad & ~2u) /* `flags` in newer headers: only IOU_PBUF_RING_INC (2) */
		return -EINVAL;
	s->br = (struct io_uring_buf_ring *)(uintptr_t)reg->ring_addr;
	s->br_entries = reg->ring_entries;
	s->br_head = 0;
	s->br_inc = reg->pad & 2u;
	return 0;
}

/* A read of the clock takes a nanosecond: a loop that polls the clock
 * without entering (a task yielding until a deadline) sees time pass, as
 * on a real CPU. The count of reads is the program's own, so this is as
 * deterministic as the rest. */
static uint64_t sim_now(void *ctx)
{
	struct urt_sim *s = ctx;

	return ++s->now;
}

static int sim_sys_close(void *ctx, int fd)
{
	if (fd < SIM_FD_BASE) /* a real descriptor (the wake eventfd, a test's pipe) */
		return close(fd) ? -errno : 0;
	return urt__sim_close(ctx, fd);
}

const struct urt__kern urt__kern_sim = {
	.setup = sim_setup,
	.teardown = sim_teardown,
	.probe = sim_probe,
	.enter = sim_enter,
	.buf_ring = sim_buf_ring,
	.now = sim_now,
	.socket = urt__sim_socket,
	.setsockopt = urt__sim_setsockopt,
	.getsockopt = urt__sim_getsockopt,
	.connect = urt__sim_sys_connect,
	.bind = urt__sim_bind,
	.listen = urt__sim_listen,
	.getsockname = urt__sim_getsockname,
	.close = sim_sys_close,
};

/* --- the public calls -------------------------------------------------------------- */

int urt_sim_create(struct urt_sim **out, const struct urt_sim_opts *o)
{
	struct urt_sim *s;

	if (!out || !o || o->start_ns > SIM_START_MAX || o->faults_pct > 100 ||
	    (o->fault_kinds & ~URT_SIM_FAULT_ALL) || o->rcvbuf > SIM_RCVBUF_MAX)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->rng = o->seed;
	s->hash = 0xcbf29ce484222325ull ^ o->seed;
	s->max_lat = o->max_latency_ns ? o->max_latency_ns : 10000;
	if (s->max_lat > 3600ull * 1000000000u)
		s->max_lat = 3600ull * 1000000000u; /* virtual time must never near its wrap */
	s->now = o->start_ns ? o->start_ns : 1000000000u;
	s->rcvbuf = o->rcvbuf ? o->rcvbuf : 64 * 1024;
	s->short_pct = o->short_pct;
	s->trace = o->trace;
	s->faults_pct = o->faults_pct;
	s->fault_kinds = o->fault_kinds ? o->fault_kinds : ~0u;
	s->fs_bytes = o->fs_bytes ? o->fs_bytes : 64u << 20;
	s->check = o->check;
	s->check_arg = o->check_arg;
	s->busy_on_overflow = o->busy_on_overflow;
	*out = s;
	return 0;
}

void urt_sim_destroy(struct urt_sim *s)
{
	if (!s)
		return;
	if (s->mem) { /* its rings are a live runtime's: freeing them is a use-after-free */
		fprintf(stderr, "urt_sim_destroy: the runtime using this simulated kernel is live "
				"(urt_runtime_deinit it first)\n");
		abort();
	}
	for (uint32_t i = 0; i < s->nop; i++) { /* operations never ended: their paths */
		free(s->op[i].path[0]);
		free(s->op[i].path[1]);
	}
	urt__sim_net_free(s);
	urt__sim_file_free(s);
	free(s->fd);
	free(s->mem);
	free(s->op);
	free(s->ud);
	free(s->ev);
	free(s->over);
	free(s);
}

uint64_t urt_sim_hash(const struct urt_sim *s)
{
	return s->hash;
}

uint64_t urt_sim_events(const struct urt_sim *s)
{
	return s->events;
}

uint64_t urt_sim_now(const struct urt_sim *s)
{
	return s->now;
}

uint64_t urt_sim_stalls(const struct urt_sim *s)
{
	return s->stalls;
}

uint64_t urt_sim_faults(const struct urt_sim *s)
{
	return s->faults;
}

uint32_t urt_sim_fds_open(const struct urt_sim *s)
{
	return s->fds_open;
}

uint32_t urt_sim_bufs_ready(const struct urt_sim *s)
{
	return urt__sim_bufs_avail(s);
}
