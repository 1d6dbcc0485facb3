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
#include <liburing.h>
#include <stdlib.h>
#include <string.h>

#define SIM_OPS_MAX 255 /* the probe's array (ops_len is a byte) */

enum ev_kind {
	EV_OP,	 /* an operation completes with res */
	EV_LINK, /* a linked timeout fires for the op in `peer` */
};

struct ev {
	uint64_t at, seq;
	uint64_t ud;
	int32_t res;
	uint8_t kind;
	uint8_t opcode;
	uint8_t dead; /* cancelled: skipped when it comes out of the heap */
	/* EV_OP: its linked timeout's event, EV_LINK: its target's (index
	 * + 1; 0: none); a free event: the next free one */
	uint32_t peer;
};

struct urt_sim {
	uint64_t rng;
	uint64_t now, max_lat;
	uint64_t hash, events, stalls;
	/* the rings */
	struct io_uring *ring;
	unsigned *sq_head, *sq_tail, *sq_flags, *sq_dropped, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_overflow;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	unsigned sq_entries, cq_entries;
	void *mem;
	/* events: a pool addressed by index, and a heap of indices */
	struct ev *ev;
	uint32_t nev, ev_cap, ev_free; /* ev_free: freelist through .peer (index + 1) */
	uint32_t *heap, nheap;
	/* held back by a full CQ, FIFO */
	struct io_uring_cqe *over;
	uint32_t nover, over_cap;
	/* waits that never end on their own (the wake eventfd's read) */
	uint64_t *parked;
	uint32_t nparked, parked_cap;
	void *buf_ring; /* registered provided-buffer ring (not read yet) */
};

/* --- the generator and the hash --------------------------------------------- */

static uint64_t next(struct urt_sim *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void mix(struct urt_sim *s, uint64_t v)
{
	s->hash = (s->hash ^ v) * 0x100000001b3ull;
	s->hash ^= s->hash >> 29;
}

/* --- events ------------------------------------------------------------------- */

static bool ev_before(const struct urt_sim *s, uint32_t a, uint32_t b)
{
	const struct ev *x = &s->ev[a], *y = &s->ev[b];

	return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

static void heap_push(struct urt_sim *s, uint32_t i)
{
	uint32_t pos = s->nheap++;

	while (pos) {
		uint32_t up = (pos - 1) / 2;

		if (!ev_before(s, i, s->heap[up]))
			break;
		s->heap[pos] = s->heap[up];
		pos = up;
	}
	s->heap[pos] = i;
}

static uint32_t heap_pop(struct urt_sim *s)
{
	uint32_t top = s->heap[0], last = s->heap[--s->nheap], pos = 0;

	for (;;) {
		uint32_t c = 2 * pos + 1;

		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && ev_before(s, s->heap[c + 1], s->heap[c]))
			c++;
		if (!ev_before(s, s->heap[c], last))
			break;
		s->heap[pos] = s->heap[c];
		pos = c;
	}
	if (s->nheap)
		s->heap[pos] = last;
	return top;
}

static bool grow(void **p, uint32_t *cap, size_t size)
{
	uint32_t n = *cap ? *cap * 2 : 64;
	void *q = realloc(*p, n * size);

	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

/* A new event due at `at` (aborts when out of memory: an event is never dropped). */
static uint32_t ev_new(struct urt_sim *s, uint8_t kind, uint64_t at, uint64_t ud)
{
	uint32_t i;

	if (s->ev_free) {
		i = s->ev_free - 1;
		s->ev_free = s->ev[i].peer;
	} else {
		if (s->nev == s->ev_cap) {
			uint32_t *h;

			if (!grow((void **)&s->ev, &s->ev_cap, sizeof(*s->ev)))
				abort();
			h = realloc(s->heap, s->ev_cap * sizeof(*h)); /* never more entries than events */
			if (!h)
				abort();
			s->heap = h;
		}
		i = s->nev++;
	}
	s->ev[i] = (struct ev){ .at = at, .seq = next(s), .ud = ud, .kind = kind };
	heap_push(s, i);
	return i;
}

static void ev_free(struct urt_sim *s, uint32_t i)
{
	s->ev[i].peer = s->ev_free;
	s->ev_free = i + 1;
}

/* --- the CQ -------------------------------------------------------------------- */

static void post(struct urt_sim *s, uint64_t ud, int32_t res, uint32_t flags)
{
	unsigned tail = *s->cq_tail;

	s->events++;
	mix(s, ud);
	mix(s, (uint64_t)(uint32_t)res << 32 | flags);
	mix(s, s->now);
	if (tail - __atomic_load_n(s->cq_head, __ATOMIC_ACQUIRE) >= s->cq_entries || s->nover) {
		if (s->nover == s->over_cap && !grow((void **)&s->over, &s->over_cap, sizeof(*s->over)))
			abort(); /* a completion is never dropped */
		s->over[s->nover++] = (struct io_uring_cqe){ .user_data = ud, .res = res, .flags = flags };
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

/* --- executing submissions ------------------------------------------------------ */

static uint64_t latency(struct urt_sim *s)
{
	return s->max_lat ? next(s) % (s->max_lat + 1) : 0;
}

/* Cancel the pending operation with user_data ud. Return: 0; -ENOENT. */
static int cancel_ud(struct urt_sim *s, uint64_t ud)
{
	for (uint32_t k = 0; k < s->nparked; k++) {
		if (s->parked[k] == ud) {
			s->parked[k] = s->parked[--s->nparked];
			post(s, ud, -ECANCELED, 0);
			return 0;
		}
	}
	for (uint32_t k = 0; k < s->nheap; k++) {
		struct ev *e = &s->ev[s->heap[k]];

		if (e->kind != EV_OP || e->dead || e->ud != ud)
			continue;
		e->dead = 1;
		post(s, ud, -ECANCELED, 0);
		if (e->peer) { /* its linked timeout: cancelled with it */
			struct ev *lt = &s->ev[e->peer - 1];

			lt->dead = 1;
			post(s, lt->ud, -ECANCELED, 0);
		}
		return 0;
	}
	return -ENOENT;
}

/* One SQE: an event, a parked wait, or a completion now. */
static void take(struct urt_sim *s, const struct io_uring_sqe *sqe, uint32_t *linked)
{
	uint64_t ud = sqe->user_data;
	uint32_t i;

	s->events++;
	/* the wake eventfd is a real descriptor, its number the process's: not
	 * part of the run */
	mix(s, (uint64_t)sqe->opcode << 56 | (uint64_t)sqe->flags << 48 |
		       (ud == URT__UD_EVENTFD ? 0 : (uint32_t)sqe->fd));
	mix(s, (uint64_t)sqe->len << 32 | sqe->ioprio);
	mix(s, ud);
	if (sqe->opcode == IORING_OP_LINK_TIMEOUT && *linked != UINT32_MAX) {
		const struct __kernel_timespec *ts = (const void *)(uintptr_t)sqe->addr;
		uint64_t at = s->now + (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;

		i = ev_new(s, EV_LINK, at, ud);
		s->ev[i].peer = *linked + 1;
		s->ev[*linked].peer = i + 1;
		*linked = UINT32_MAX;
		return;
	}
	*linked = UINT32_MAX;
	switch (sqe->opcode) {
	case IORING_OP_NOP:
		i = ev_new(s, EV_OP, s->now + latency(s), ud);
		break;
	case IORING_OP_READ:
		if (ud == URT__UD_EVENTFD) { /* no other thread writes it here */
			if (s->nparked == s->parked_cap &&
			    !grow((void **)&s->parked, &s->parked_cap, sizeof(*s->parked)))
				abort();
			s->parked[s->nparked++] = ud;
			return;
		}
		/* fallthrough */
	default:
		i = ev_new(s, EV_OP, s->now + latency(s), ud);
		s->ev[i].res = -EOPNOTSUPP;
		break;
	case IORING_OP_ASYNC_CANCEL:
		post(s, ud, cancel_ud(s, sqe->addr), 0);
		return;
	case IORING_OP_LINK_TIMEOUT: /* without a target */
		post(s, ud, -EINVAL, 0);
		return;
	}
	s->ev[i].opcode = sqe->opcode;
	if (sqe->flags & IOSQE_IO_LINK)
		*linked = i;
}

/* Take every SQE the runtime prepared. Return: how many. */
static int submit(struct urt_sim *s, struct io_uring *ring)
{
	unsigned head = *s->sq_head, tail = ring->sq.sqe_tail;
	uint32_t linked = UINT32_MAX;
	int n = 0;

	for (; head != tail; head++, n++)
		take(s, &s->sqes[head & (s->sq_entries - 1)], &linked);
	ring->sq.sqe_head = tail;
	*s->sq_tail = tail;
	__atomic_store_n(s->sq_head, tail, __ATOMIC_RELEASE);
	return n;
}

/* Post every event due by now. Return: how many completions were posted. */
static unsigned fire_due(struct urt_sim *s)
{
	unsigned n = 0;

	while (s->nheap && s->ev[s->heap[0]].at <= s->now) {
		uint32_t i = heap_pop(s);
		struct ev *e = &s->ev[i];

		if (!e->dead) {
			if (e->kind == EV_OP) {
				post(s, e->ud, e->res, 0);
				n++;
				if (e->peer) { /* the target won: its timeout is cancelled */
					struct ev *lt = &s->ev[e->peer - 1];

					lt->dead = 1;
					post(s, lt->ud, -ECANCELED, 0);
					n++;
				}
			} else { /* the timer won: the target is cancelled */
				struct ev *t = &s->ev[e->peer - 1];

				t->dead = 1;
				post(s, t->ud, -ECANCELED, 0);
				post(s, e->ud, -ETIME, 0);
				n += 2;
			}
		}
		/* a peer left in the heap is dead now: it frees itself when it
		 * comes out, and never reads its peer again */
		ev_free(s, i);
	}
	return n;
}

static bool cq_ready(const struct urt_sim *s)
{
	return *s->cq_tail != __atomic_load_n(s->cq_head, __ATOMIC_ACQUIRE);
}

/* --- the table ------------------------------------------------------------------ */

static int sim_setup(void *ctx, struct io_uring *ring, unsigned entries, struct io_uring_params *p)
{
	struct urt_sim *s = ctx;
	unsigned sq = 1, cq;
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
	p->features = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;
	s->ring = ring;
	return 0;
}

static void sim_teardown(void *ctx, struct io_uring *ring)
{
	struct urt_sim *s = ctx;

	(void)ring;
	free(s->mem);
	s->mem = NULL;
	s->ring = NULL;
}

static struct io_uring_probe *sim_probe(void *ctx, struct io_uring *ring)
{
	static const uint8_t ops[] = { IORING_OP_NOP, IORING_OP_ASYNC_CANCEL,
				       IORING_OP_LINK_TIMEOUT, IORING_OP_READ };
	struct io_uring_probe *p;

	(void)ctx, (void)ring;
	p = calloc(1, sizeof(*p) + SIM_OPS_MAX * sizeof(struct io_uring_probe_op));
	if (!p)
		return NULL;
	p->last_op = IORING_OP_LAST - 1;
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
	int n = 0;

	s->now += 50 + next(s) % 51;
	if (how != URT__ENTER_FLUSH)
		n = submit(s, ring);
	flush_overflow(s);
	if (how == URT__ENTER_SUBMIT)
		return n;
	fire_due(s);
	if (how != URT__ENTER_WAIT || cq_ready(s) || s->nover)
		return n;
	/* wait: jump to the earliest event, or to the timeout */
	{
		uint64_t until = timeout_ns == URT_TICK_FOREVER ? UINT64_MAX : s->now + timeout_ns;

		if (!s->nheap && until == UINT64_MAX) {
			s->stalls++; /* the real kernel would sleep for good */
			return -ETIME;
		}
		while (!cq_ready(s) && s->nheap && s->ev[s->heap[0]].at <= until) {
			s->now = s->ev[s->heap[0]].at;
			fire_due(s);
		}
		if (!cq_ready(s)) {
			s->now = until;
			return -ETIME;
		}
	}
	return n;
}

static int sim_buf_ring(void *ctx, struct io_uring *ring, struct io_uring_buf_reg *reg, bool on)
{
	struct urt_sim *s = ctx;

	(void)ring;
	if (on && reg->pad)
		return -EINVAL; /* no incremental mode in the model */
	s->buf_ring = on ? (void *)(uintptr_t)reg->ring_addr : NULL;
	return 0;
}

static uint64_t sim_now(void *ctx)
{
	return ((struct urt_sim *)ctx)->now;
}

const struct urt__kern urt__kern_sim = {
	.setup = sim_setup,
	.teardown = sim_teardown,
	.probe = sim_probe,
	.enter = sim_enter,
	.buf_ring = sim_buf_ring,
	.now = sim_now,
};

/* --- the public calls -------------------------------------------------------------- */

int urt_sim_create(struct urt_sim **out, const struct urt_sim_opts *o)
{
	struct urt_sim *s;

	if (!out || !o)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->rng = o->seed;
	s->hash = 0xcbf29ce484222325ull ^ o->seed;
	s->max_lat = o->max_latency_ns ? o->max_latency_ns : 10000;
	s->now = o->start_ns ? o->start_ns : 1000000000u;
	*out = s;
	return 0;
}

void urt_sim_destroy(struct urt_sim *s)
{
	if (!s)
		return;
	free(s->mem);
	free(s->ev);
	free(s->heap);
	free(s->over);
	free(s->parked);
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
