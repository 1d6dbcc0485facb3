/* SPDX-License-Identifier: MIT */
/*
 * io_internal.h - what the I/O layer's files (runtime/io/) share, and what
 * they offer the loop (runtime.c); not installed.
 *
 * The I/O layer sits on the executor: it may use exec_internal.h (this
 * thread's runtime, waking a task), never the other way round. Sections
 * name the file that defines what they declare.
 */
#ifndef URT_IO_INTERNAL_H
#define URT_IO_INTERNAL_H

#include "../exec/exec_internal.h"
#include "urt/fault.h"
#include "urt/io.h"
#include "urt/net.h"
#include "urt/time.h"

#include <liburing.h>
#include <linux/time_types.h>
#include <liburing.h>

/* Newer than the kernel headers liburing 2.3 and Debian 12 carry. */
#ifndef IORING_CQE_F_BUF_MORE
#define IORING_CQE_F_BUF_MORE (1U << 4) /* Linux 6.12: the buffer will be filled further */
#endif
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4) /* Linux 6.10: several buffers a completion */
#endif
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3) /* Linux 6.2 */
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif
/* Opcodes newer than liburing 2.3's headers (numbers from the kernel's
 * uapi io_uring.h; whether the running kernel has them is probed at init). */
#define URT__OP_WAITID	  50 /* Linux 6.7: waitid(2) through the ring */
#define URT__OP_FTRUNCATE 55 /* Linux 6.9: ftruncate(2) through the ring */
#ifndef IORING_RECV_MULTISHOT
#define IORING_RECV_MULTISHOT (1U << 1) /* Linux 6.0 */
#endif

/* --- op.c: op records, submitting ---------------------------------------- */

#define URT__REC_PAGE_SHIFT 6 /* 64 records (4 KiB) a page */
#define URT__REC_PAGE	    (1u << URT__REC_PAGE_SHIFT)

/* user_data below 2^32 is the runtime's own: records always have gen >= 1 */
#define URT__UD_IGNORE	0 /* a cancel request, a runtime-owned close */
#define URT__UD_EVENTFD 1 /* the remote-wake eventfd read */

enum {
	URT__REC_FREE,
	URT__REC_OP,	 /* single-shot kernel operation with a task */
	URT__REC_TIMER,	 /* a sleep, in the timer wheel */
	URT__REC_RECV,	 /* multishot receive stream */
	URT__REC_ACCEPT, /* multishot accept stream */
	URT__REC_CHUNK,	 /* queued stream completions */
	URT__REC_JOB,	 /* a blocking-pool job (sys), or an op run there; ended by sys */
};

/* rfl bits */
#define URT__RF_CANCELLING 0x01 /* a cancel was sent (or the timer dropped) */
#define URT__RF_ENDED	   0x02 /* stream: the kernel's multishot is over; res says how */
#define URT__RF_EOF	   0x04 /* stream: the peer closed */
#define URT__RF_STARVED	   0x08 /* stream: on the starved list, waiting for a buffer */
#define URT__RF_BACKOFF	   0x10 /* stream: in the timer wheel, backing off */
#define URT__RF_REPORTED   0x20 /* accept stream: the EMFILE/ENFILE was returned once */
#define URT__RF_PAUSED	   0x20 /* recv stream: cancelled by the runtime, too much unread */
#define URT__RF_ZC_WAIT	   0x02 /* zero-copy send: result in, its notification awaited */
#define URT__RF_ZC_RESET   0x04 /* zero-copy send: its connection was reset to end the wait */
#define URT__RF_ZC_TIMER   0x08 /* zero-copy send: in the timer wheel (deadline or grace) */
#define URT__RF_FORCED	   0x40 /* fault injection: res is the result, whatever the CQE says */
#define URT__RF_TIMED_OUT  0x80 /* the linked timeout fired */
/* single-shot: its CQEs are not plain (complete.c): an accept (its
 * descriptor is mapped), one with a linked timeout (two CQEs) */
#define URT__RF_SLOWCQE 0x10

struct urt__cqent {
	int32_t res;
	uint32_t flags;
};

/*
 * An op record: one live operation, sleep or stream; 64 bytes, in pages of
 * URT__REC_PAGE, addressed by index (0 means none in every link).
 *   user_data = gen << 32 | index << 1 | tag   (tag 1: the linked timeout)
 *   gen changes at every allocation, so a completion for an older use of
 *   the index is recognised and discarded (counted in stats.stale_cqes).
 *   kind == FREE  <=>  on the free stack or in the pool (rt->ops)
 *   ncqe = final completions the kernel still owes; the record is freed
 *          only when ncqe == 0 and, for a stream, its queue is drained.
 */
struct urt__rec {
	struct urt_task *task; /* owner */
	union {
		struct urt_op *op; /* the handle */
		void *ext;	   /* URT__REC_JOB: the struct urt_job (sys) */
	};
	uint32_t gen;
	uint32_t next, prev; /* the task's list */
	union {
		struct {
			uint8_t kind;	/* URT__REC_* */
			uint8_t opcode; /* IORING_OP_* last submitted */
			uint8_t ncqe;	/* chunk: entries queued */
			uint8_t rfl;	/* URT__RF_*; chunk: index of the first queued entry */
		};
		uint32_t kw; /* the four as one word (URT__KW), for the reap's one test */
	};
	union {
		struct {
			/* single-shot: the result; stream: how it ended (an -ENOMEM
			 * set while armed stays: the stream could not queue) */
			int32_t res;
			uint32_t cflags; /* single-shot: CQE flags; stream: queue tail */
			union {
				struct __kernel_timespec ts; /* linked timeout (read at submit) */
				struct {
					union {
						uint64_t deadline; /* in the timer wheel */
						uint64_t asked;	   /* recv stream: the tick its
								    * task last took a chunk */
					};
					union {
						uint32_t hpos;	 /* slot entry in the wheel:
								  * chunk << 4 | position */
						uint32_t pinned; /* recv stream: in bufs.pins
								  * since this tick | 1; 0: not */
					};
					uint32_t qhead; /* stream: queue head (chunk records) */
				} tm;
			};
			union {
				uint32_t snext;	 /* stream: the starved list */
				uint32_t cookie; /* zero-copy send: its socket's SO_COOKIE, low half
						  */
			};
			int32_t fd; /* stream: its socket, to re-arm; zero-copy send: its socket */
		};
		struct urt__cqent ent[4]; /* chunk */
	};
};
_Static_assert(sizeof(struct urt__rec) == 64, "an op record is one cache line");

/* kind, opcode, ncqe and rfl as a record's kw holds them */
static inline uint32_t urt__kw(uint8_t kind, uint8_t opcode, uint8_t ncqe, uint8_t rfl)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (uint32_t)kind | (uint32_t)opcode << 8 | (uint32_t)ncqe << 16 | (uint32_t)rfl << 24;
#else
	return (uint32_t)kind << 24 | (uint32_t)opcode << 16 | (uint32_t)ncqe << 8 | (uint32_t)rfl;
#endif
}

#define URT__CHUNK_ENTS 4

/* A record's next generation: one more, never 0 (user_data below 2^32 is
 * the runtime's own); the carry of the add is the step past 0 */
static inline uint32_t urt__gen_next(uint32_t gen)
{
	uint32_t next;
	bool carry = __builtin_add_overflow(gen, 1u, &next);

	return next + carry;
}

static inline struct urt__rec *urt__rec_at(struct urt_runtime *rt, uint32_t idx)
{
	return &rt->ops.pages[idx >> URT__REC_PAGE_SHIFT][idx & (URT__REC_PAGE - 1)];
}

static inline uint64_t urt__ud(const struct urt__rec *r, uint32_t idx, unsigned tag)
{
	return (uint64_t)r->gen << 32 | idx << 1 | tag;
}

URT_HIDDEN int urt__ops_init(struct urt_runtime *rt, uint32_t max, uint32_t reserve);
URT_HIDDEN void urt__ops_deinit(struct urt_runtime *rt);
/* Double an array of page pointers (*pages, n of *cap used; 16 at first),
 * for the op records' pages and the timer wheel's. Return: 0; -ENOMEM. */
URT_HIDDEN int urt__pages_grow(struct urt_runtime *rt, void *pages, uint32_t *cap, uint32_t n);
/* Records in use, computed (the fast paths keep no counter). */
static inline uint32_t urt__ops_live(const struct urt_runtime *rt)
{
	return rt->ops.made - 1 - rt->ops.top - rt->ops.nfree;
}
#define URT__REC_STACK ((uint32_t)(sizeof(((struct urt_runtime *)0)->ops.stack) / sizeof(uint32_t)))

/* Out of line (op.c): the pool behind the stack. urt__rec_refill makes the
 * stack hold a record to take when it is empty or the limit must be looked
 * at (ops.gate; Return: 0; -EAGAIN, -ENOMEM as urt__rec_alloc);
 * urt__rec_spill moves the stack's older half to the pool when it is full.
 * Both keep the order strictly newest-first. */
URT_HIDDEN int urt__rec_refill(struct urt_runtime *rt, uint8_t kind);
URT_HIDDEN void urt__rec_spill(struct urt_runtime *rt);

/* Pop the stack's top record and set it up as kind (the stack is not
 * empty); *rp its address, looked up once. */
static inline uint32_t urt__rec_take_at(struct urt_runtime *rt, uint8_t kind, struct urt__rec **rp)
{
	uint32_t idx = rt->ops.stack[--rt->ops.top];
	struct urt__rec *r = urt__rec_at(rt, idx);

	urt__unpoison(r, sizeof(*r));
	r->task = NULL;
	r->op = NULL;
	r->gen = urt__gen_next(r->gen);
	r->next = r->prev = 0;
	r->kw = urt__kw(kind, 0, 0, 0);
	r->res = 0;
	r->cflags = 0;
	r->tm.qhead = 0;
	r->snext = 0;
	r->fd = -1;
	*rp = r;
	return idx;
}

/*
 * Take a record (kind set, zeroed links); *rp its address. The common case
 * pops the per-runtime stack: `top > gate` is one compare (gate is 0 while
 * made <= max, when fewer than max records can be live and the limit needs
 * no look). The refill only fills the stack and the take stays here, so
 * the paths meet before it and a caller that frees the record next finds
 * its address without a second look-up. Return: index; -EAGAIN
 * (opts.op_records live; chunks, queued completions, may pass it); -ENOMEM.
 */
static inline int64_t urt__rec_alloc_at(struct urt_runtime *rt, uint8_t kind, struct urt__rec **rp)
{
#ifdef URT_FAULTS
	if (URT_UNLIKELY(rt->fault && rt->fault->record && rt->fault->record(rt->fault->ctx)))
		return -ENOMEM;
#endif
	if (URT_UNLIKELY(rt->ops.top <= rt->ops.gate)) {
		int ret = urt__rec_refill(rt, kind);

		if (ret < 0)
			return ret;
	}
	return urt__rec_take_at(rt, kind, rp);
}

static inline int64_t urt__rec_alloc(struct urt_runtime *rt, uint8_t kind)
{
	struct urt__rec *r;

	return urt__rec_alloc_at(rt, kind, &r);
}

/* Give record idx (r) back: onto the stack (its older half to the pool if full). */
static inline void urt__rec_free_at(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r)
{
	URT_ASSERT(r->kind != URT__REC_FREE, "op record freed twice");
	r->kind = URT__REC_FREE;
	/* poison all but next and prev, kind and generation */
	urt__poison(&r->task, sizeof(r->task) + sizeof(r->op), URT_POISON_POOL);
	urt__poison(&r->res, sizeof(*r) - offsetof(struct urt__rec, res), URT_POISON_POOL);
	if (URT_UNLIKELY(rt->ops.top == URT__REC_STACK))
		urt__rec_spill(rt);
	rt->ops.stack[rt->ops.top++] = idx;
}

static inline void urt__rec_free(struct urt_runtime *rt, uint32_t idx)
{
	urt__rec_free_at(rt, idx, urt__rec_at(rt, idx));
}

/* Link record idx (r) into t's list of live records (new head). */
static inline void urt__rec_link_at(struct urt_runtime *rt, struct urt_task *t, uint32_t idx,
				    struct urt__rec *r)
{
	uint32_t head = t->ops;

	r->task = t;
	r->prev = 0;
	r->next = head;
	if (head)
		urt__rec_at(rt, head)->prev = idx;
	t->ops = idx;
}

static inline void urt__rec_link(struct urt_runtime *rt, struct urt_task *t, uint32_t idx)
{
	urt__rec_link_at(rt, t, idx, urt__rec_at(rt, idx));
}

/* Unlink record t's record r from t's list, to free it next (its links
 * are left as they were: a free record's are never read). */
static inline void urt__rec_unlink_from(struct urt_runtime *rt, struct urt_task *t,
					struct urt__rec *r)
{
	uint32_t next = r->next, prev = r->prev;

	if (prev)
		urt__rec_at(rt, prev)->next = next;
	else
		t->ops = next;
	if (next)
		urt__rec_at(rt, next)->prev = prev;
}

/* Unlink record idx (r) from its task's list (none: nothing to do), to free it next. */
static inline void urt__rec_unlink_at(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r)
{
	(void)idx;
	if (r->task)
		urt__rec_unlink_from(rt, r->task, r);
}

static inline void urt__rec_unlink(struct urt_runtime *rt, uint32_t idx)
{
	urt__rec_unlink_at(rt, idx, urt__rec_at(rt, idx));
}

/*
 * A record of t ended: unlink and free it; if t is DRAINING and that was
 * its last, queue t so the run loop finishes it; else wake t (a task
 * already queued is not looked at further: the common case of a batch of
 * completions for one task). urt__rec_done is the same, out of line.
 */
static inline void urt__rec_end(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r)
{
	struct urt_task *t = r->task;

	urt__rec_unlink_at(rt, idx, r);
	urt__rec_free_at(rt, idx, r);
	if (!t || (t->flags & URT_TASK_QUEUED))
		return;
	/* the run loop finishes a DRAINING task with no ops */
	if (!(t->flags & URT_TASK_DRAINING) || !t->ops)
		urt_task_wake(t);
}
URT_HIDDEN void urt__rec_done(struct urt_runtime *rt, uint32_t idx);

/*
 * Starting a single-shot operation: urt__op_begin settles the handle's
 * state (returns URT_PENDING, the result, or an error) or returns
 * URT__SUBMIT with an SQE and a record ready; the caller preps the SQE and
 * calls urt__op_commit, which returns URT_PENDING.
 */
#define URT__SUBMIT (INT_MIN + 1) /* not a result: those are >= 0, -errno or URT_PENDING */
struct urt__sub {
	struct urt_runtime *rt;
	struct io_uring_sqe *sqe;
	struct urt__rec *r;
	uint32_t idx;
	uint32_t gen; /* the record's (urt__op_fast only) */
};
/*
 * urt__op_begin_fd(t, op, fd, buf, len, s) for an operation on a descriptor,
 * urt__op_begin(t, op, buf, len, s) for one without. buf and len are what
 * the kernel will touch (refused if in the frame arena or, under ASan,
 * poisoned). Debug builds keep a fingerprint of (fd, buf, len) in the
 * handle at submission and report, through the debug hook with the task's
 * name and the calling function, a re-evaluation that passes other ones
 * while the operation is in flight or its result unread: the await
 * re-evaluates its arguments (docs/tasks.md, rule 3), and one that changed
 * means the caller keeps them in state the await itself overwrites.
 */
#define URT__NOFD				 INT_MIN
#define urt__op_begin(t, op, buf, len, s)	 urt__op_start(t, op, URT__NOFD, buf, len, s, __func__)
#define urt__op_begin_fd(t, op, fd, buf, len, s) urt__op_start(t, op, fd, buf, len, s, __func__)
URT_HIDDEN int urt__op_start(struct urt_task *t, struct urt_op *op, int fd, const void *buf,
			     size_t len, struct urt__sub *s, const char *call);
/*
 * The evaluation that only takes a result, for an operation's entry point
 * to make before anything else (release builds; debug builds check the
 * arguments in urt__op_start): true and *ret the result if op is DONE.
 * The submission behind it is best a function of its own, whose frame
 * the taking evaluation then does not pay for (urt_nop).
 */
static inline bool urt__op_taken(struct urt_op *op, int *ret)
{
#ifndef URT_DEBUG
	if (op->state == URT_OP_DONE) {
		op->state = URT_OP_IDLE;
		*ret = op->res;
		return true;
	}
#else
	(void)op, (void)ret;
#endif
	return false;
}
#ifdef URT_DEBUG
static inline uint32_t urt__args_fp(int fd, const void *buf, size_t len)
{
	uint64_t h = (uint64_t)(uint32_t)fd * 0x9e3779b97f4a7c15ull ^
		     (uint64_t)(uintptr_t)buf * 0xc2b2ae3d27d4eb4full ^
		     (uint64_t)len * 0x165667b19e3779f9ull;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 32;
	return (uint32_t)h | 1; /* 0: nothing recorded */
}
/* *was (0: nothing recorded) against now; a difference is reported once. */
URT_HIDDEN void urt__args_check(struct urt_task *t, uint32_t *was, uint32_t now, const char *call);
#endif
/*
 * A direct descriptor (URT_FD_FIXED | slot, urt/io.h) in the SQE's fd
 * becomes its slot: IOSQE_FIXED_FILE, or for a close the file_index (and
 * the slot's generation moves on, zc.c). Plain descriptors and negative
 * ones (AT_FDCWD) pass untouched: one compare on every submission.
 */
static inline void urt__sqe_fixed(struct urt_runtime *rt, struct io_uring_sqe *sqe)
{
	uint32_t slot = (uint32_t)sqe->fd - URT_FD_FIXED;

	if (URT_LIKELY(slot >= URT_FD_FIXED))
		return;
	if (sqe->opcode == IORING_OP_CLOSE) {
		sqe->fd = 0;
		sqe->file_index = slot + 1;
		if (slot < rt->fixed.n)
			rt->fixed.gen[slot]++;
	} else {
		sqe->fd = (int)slot;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
}

#ifdef URT_FAULTS
/* Test builds: the submission side of the fault seam (op.c). */
URT_HIDDEN void urt__fault_submit(struct urt_runtime *rt, struct urt__rec *r,
				  struct io_uring_sqe *sqe);
#endif
/* Give a prepared SQE record idx's user_data, pass it through the fault
 * seam and count it in flight (ncqe = 1; ring_inflight, which also tells
 * the loop that there is something to submit: not ring_pending). */
static inline void urt__sqe_commit(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx,
				   struct io_uring_sqe *sqe)
{
	r->opcode = sqe->opcode;
	urt__sqe_fixed(rt, sqe);
	io_uring_sqe_set_data64(sqe, urt__ud(r, idx, 0));
#ifdef URT_FAULTS
	urt__fault_submit(rt, r, sqe);
#endif
	r->ncqe = 1;
	rt->ring_inflight++;
	rt->stats.ops_submitted++;
}
/* op's deadline: the linked timeout SQE (urt__op_start reserved its room). */
URT_HIDDEN void urt__op_link_timeout(struct urt_runtime *rt, struct urt_op *op, struct urt__rec *r,
				     uint32_t idx, struct io_uring_sqe *sqe);
static inline int urt__op_commit(struct urt_op *op, struct urt__sub *s)
{
	struct urt__rec *r = s->r;

	urt__sqe_commit(s->rt, r, s->idx, s->sqe);
	if (URT_UNLIKELY(op->timeout_ns))
		urt__op_link_timeout(s->rt, op, r, s->idx, s->sqe);
	op->state = URT_OP_INFLIGHT;
	op->rec = s->idx;
	op->gen = r->gen;
	op->flags = 0;
	return URT_PENDING;
}

static inline struct io_uring *urt__ring(struct urt_runtime *rt); /* ring.c's section */

/* Two adjacent uint32_t fields, first then second, as one 8-byte value. */
static inline uint64_t urt__u32x2(uint32_t first, uint32_t second)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (uint64_t)second << 32 | first;
#else
	return (uint64_t)first << 32 | second;
#endif
}
_Static_assert(offsetof(struct urt__rec, prev) == offsetof(struct urt__rec, next) + 4, "links");
_Static_assert(offsetof(struct urt_op, gen) == offsetof(struct urt_op, rec) + 4, "rec, gen");

/*
 * len for an SQE's length: one operation moves at most 2 GiB - 1 bytes
 * (its result is an int32, the kernel stops a read at 2 GiB - 4 KiB and
 * refuses a send or receive past INT32_MAX with -EINVAL), and a short
 * count says so. Passed uncut into the 32-bit field, 4 GiB was 0 (a
 * receive returned 0, "the peer closed", with bytes waiting).
 */
static inline unsigned urt__len32(size_t len)
{
	return (unsigned)(len > INT32_MAX ? INT32_MAX : len);
}

/*
 * Whether buf may lie in frame arena a, as urt__user_mem_refused's test
 * (urt_arena_contains) would find it, decided inline for the common
 * arena: one chunk, the first, kept across resets (a is empty until the
 * first frame allocation). buf outside that chunk is not in the frame;
 * any other case (buf in it, or older chunks too) answers true, and the
 * caller takes the full path, which looks.
 */
static inline bool urt__frame_may_hold(const struct urt_arena *a, const void *buf)
{
	const struct urt_arena_chunk *c = a->head;

	return c && (c->prev || (uintptr_t)buf - (uintptr_t)(c + 1) < c->size);
}

/*
 * The common submission, inline and without a call, so that an entry
 * point built on it is a leaf with no frame (urt_nop, urt_send, urt_recv,
 * urt_read, urt_write): the handle IDLE with no deadline, the caller the
 * task being polled, a record on the stack under the limit, room in the
 * SQ, no fault hook, and no buffer or one the frame arena cannot hold
 * (urt__frame_may_hold; under ASan also not poisoned, a call, but ASan
 * builds are not timed). A single-shot
 * record needs less set up than urt__rec_take_at's: res and cflags are
 * written by its completion, the rest (tm, snext, fd) only by the
 * operations that use them, none of which come this way (a deadline, a
 * zero-copy send). urt__op_fast_begin takes the record, links it and
 * takes the SQE; the caller preps the SQE and calls urt__op_fast_commit.
 * Return: false, and nothing changed, if any of that does not hold: the
 * caller takes urt__op_begin's path, which checks it all again.
 */
static inline bool urt__op_fast_begin(struct urt_task *t, struct urt_op *op, int fd,
				      const void *buf, size_t len, struct urt__sub *s)
{
	struct urt_runtime *rt = urt__rt;
	struct io_uring_sq *sq;
	struct urt__rec *r;
	uint32_t idx, head, tail, top, gen;
	uint64_t links;

	(void)fd, (void)len;
	if (URT_UNLIKELY(!rt))
		return false;
	sq = &urt__ring(rt)->sq;
	tail = sq->sqe_tail;
	top = rt->ops.top;
	/* (a state past STREAM is IDLE to urt__op_start: its path takes it) */
	if (URT_UNLIKELY(op->state != URT_OP_IDLE || op->timeout_ns || !t || t != rt->polling ||
			 top <= rt->ops.gate ||
			 tail + 1 - IO_URING_READ_ONCE(*sq->khead) > sq->ring_entries))
		return false;
#ifdef URT_ASAN
	if (buf && len && __asan_region_is_poisoned((void *)(uintptr_t)buf, len))
		return false;
#endif
	if (buf && urt__frame_may_hold(&rt->frame, buf))
		return false;
#ifdef URT_FAULTS
	if (rt->fault)
		return false;
#endif
	sq->sqe_tail = tail + 1;
	s->sqe = &sq->sqes[tail & sq->ring_mask];
	idx = rt->ops.stack[--top];
	rt->ops.top = top;
	head = t->ops;
	t->ops = idx;
	if (head)
		urt__rec_at(rt, head)->prev = idx;
	r = urt__rec_at(rt, idx);
	urt__unpoison(r, sizeof(*r));
	gen = urt__gen_next(r->gen);
	r->task = t;
	r->op = op;
	r->gen = gen;
	links = urt__u32x2(head, 0); /* next, prev */
	memcpy(&r->next, &links, sizeof(links));
	s->rt = rt;
	s->r = r;
	s->idx = idx;
	s->gen = gen;
#ifdef URT_DEBUG
	op->reserved = urt__args_fp(fd, buf, len);
#endif
	return true;
}

/* urt__op_commit for urt__op_fast_begin's SQE (no deadline, no fault hook). */
static inline int urt__op_fast_commit(struct urt_op *op, struct urt__sub *s)
{
	struct urt_runtime *rt = s->rt;
	uint64_t rg = urt__u32x2(s->idx, s->gen); /* the handle's rec, gen */

	s->r->kw = urt__kw(URT__REC_OP, s->sqe->opcode, 1, 0);
	urt__sqe_fixed(rt, s->sqe);
	io_uring_sqe_set_data64(s->sqe, (uint64_t)s->gen << 32 | s->idx << 1);
	rt->ring_inflight++; /* (not ring_pending: see urt__sqe_commit) */
	rt->stats.ops_submitted++;
	op->state = URT_OP_INFLIGHT;
	memcpy(&op->rec, &rg, sizeof(rg));
	op->flags = 0;
	return URT_PENDING;
}
/*
 * An operation the ring cannot do on this kernel (urt_ftruncate without
 * IORING_OP_FTRUNCATE) runs on the blocking pool as op's operation: its
 * record (kind JOB) is the op's, so every rule of the handle holds (the
 * await returns URT_PENDING, then the result; a draining task waits for it;
 * a late result stays in op for urt_op_take_late). urt__op_offload starts
 * it at the first evaluation (fd and path are the debug fingerprint, as
 * urt__op_begin_fd's); fn(a) runs on a worker and must touch nothing but a.
 * Return: URT_PENDING, or the pool's refusal (urt/blocking.h: -EBUSY,
 * -EAGAIN, -ENOMEM).
 */
#define urt__op_offload(t, op, fd, path, fn, a) urt__op_offload_at(t, op, fd, path, fn, a, __func__)
URT_HIDDEN int urt__op_offload_at(struct urt_task *t, struct urt_op *op, int fd, const char *path,
				  int64_t (*fn)(const int64_t *a), const int64_t a[3],
				  const char *call);
/*
 * The I/O layer's calls outward, declared here and defined above it, by
 * the blocking pool (runtime/sys/blocking.c), so that io names nothing of
 * sys (as the executor's urt__exec_ops_end): queue fn(a) as op's
 * operation (above); and urt_op_cancel of such an operation: queued, it is
 * dropped and op completes with -ECANCELED; running, it cannot be stopped
 * and completes with its result. Return of the cancel: 1 if it was
 * cancelled now (or will complete without being waited for), 0 if the
 * record is not an operation's or a cancel was asked already.
 */
URT_HIDDEN int urt__io_offload(struct urt_runtime *rt, struct urt_task *t, struct urt_op *op,
			       int64_t (*fn)(const int64_t *a), const int64_t a[3]);
URT_HIDDEN int urt__io_offload_cancel(struct urt_runtime *rt, uint32_t idx);

/* --- net.c -------------------------------------------------------------- */

/* urt_recvmsg_stream's multishot path: a receive stream of IORING_OP_RECVMSG
 * (its records' opcode), each chunk one datagram, taken apart into d. */
URT_HIDDEN int urt__dgram_stream(struct urt_task *t, struct urt_op *op, int fd,
				 struct urt_dgram *d);

/* --- complete.c --------------------------------------------------------- */

/* Every completion, real or injected, goes through here. */
URT_HIDDEN void urt__cqe_dispatch(struct urt_runtime *rt, uint64_t ud, int32_t res,
				  uint32_t cflags);
/* Dispatch every CQE in cq (and any the dispatching makes the kernel post)
 * and give their room back (the reap, ring.c). */
URT_HIDDEN void urt__cq_reap(struct urt_runtime *rt, struct io_uring_cq *cq);
/* Whether a fault hook may see completions (test builds): it must see each. */
static inline bool urt__faults_on(const struct urt_runtime *rt)
{
#ifdef URT_FAULTS
	return rt->fault != NULL;
#else
	(void)rt;
	return false;
#endif
}
/* Free a stream's queued completions (buffers back, descriptors closed). */
URT_HIDDEN void urt__stream_flush(struct urt_runtime *rt, struct urt__rec *r);
/* Pop a stream's oldest queued completion (inline: a receive stream's
 * await takes one per chunk of bytes). Return: false if none. */
static inline bool urt__stream_pop(struct urt_runtime *rt, struct urt__rec *r, struct urt__cqent *e)
{
	struct urt__rec *c;

	if (!r->tm.qhead)
		return false;
	c = urt__rec_at(rt, r->tm.qhead);
	*e = c->ent[c->rfl++];
	if (--c->ncqe == 0) {
		uint32_t idx = r->tm.qhead;

		r->tm.qhead = c->next;
		if (!r->tm.qhead)
			r->cflags = 0;
		urt__rec_free(rt, idx);
	}
	return true;
}

/* --- cancel.c ----------------------------------------------------------- */

/*
 * Cancel every op of t. finishing: t's poll is over, so what the kernel
 * does not hold (sleeps, ended streams) is freed now.
 * Return: cancellations requested.
 */
URT_HIDDEN int urt__task_cancel_ops(struct urt_runtime *rt, struct urt_task *t, bool finishing);
/* deinit: cancel everything in the kernel and wait until it is all back. */
URT_HIDDEN void urt__ops_drain(struct urt_runtime *rt);
/* Ask the kernel to cancel record idx by its user_data (RF_CANCELLING). */
URT_HIDDEN void urt__send_cancel(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx);
/* Stop a receive stream's kernel side (RF_PAUSED); the data stays in the
 * socket and the await that finds the queue drained re-arms it (net.c). */
URT_HIDDEN void urt__stream_pause(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx);

/* --- zc.c --------------------------------------------------------------- */

/* A socket's SO_COOKIE (low half; 0 if fd is not a socket): which socket a
 * descriptor number names now. */
URT_HIDDEN uint32_t urt__sock_cookie(int fd);
/* A zero-copy send's timer came due (record idx, kind OP). */
URT_HIDDEN void urt__zc_timer(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r);
/* Nobody waits for the bytes: reset the connection so the notification
 * comes now (once; not if the descriptor names another socket by now). */
URT_HIDDEN void urt__zc_reset(struct urt_runtime *rt, struct urt__rec *r);
/* The task ended while the notification is awaited: a grace period, then a reset. */
URT_HIDDEN void urt__zc_abandon(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r);

/* --- timer.c ------------------------------------------------------------ */

/* The wheel (timer.c): 512 slots of ticks of 2^21 ns (about 2.1 ms). */
#define URT__WHEEL_SHIFT 21
#define URT__WHEEL_SLOTS 512
#define URT__TCHUNK_ENTS 15 /* entries in a 256-byte slot chunk */

struct urt__tent {
	uint64_t deadline;
	uint32_t idx; /* the record; 0: cancelled (a slot's tombstone) */
	uint32_t spare;
};

/* Room for one more timer (an add after it cannot fail). Return: 0; -ENOMEM. */
URT_HIDDEN int urt__timer_reserve(struct urt_runtime *rt);
/* Arm record idx at deadline (its tm.deadline, tm.hpos). Return: 0;
 * -ENOMEM (no room could be made). */
URT_HIDDEN int urt__timer_add(struct urt_runtime *rt, uint32_t idx, uint64_t deadline);
URT_HIDDEN void urt__timer_del(struct urt_runtime *rt, struct urt__rec *r);
/* The nearest deadline, the run's head made ready (out of line). */
URT_HIDDEN uint64_t urt__timer_peek(struct urt_runtime *rt);
/* The nearest deadline, exact; UINT64_MAX if none. */
static inline uint64_t urt__timer_next(struct urt_runtime *rt)
{
	if (rt->timers.head < rt->timers.nrun && rt->timers.nsorted == rt->timers.nrun)
		return rt->timers.run[rt->timers.head].deadline;
	return rt->timers.n ? urt__timer_peek(rt) : UINT64_MAX;
}
/* Fire every timer due at now. Return: how many. */
URT_HIDDEN unsigned urt__timers_fire(struct urt_runtime *rt, uint64_t now);
URT_HIDDEN void urt__timers_deinit(struct urt_runtime *rt);

/* --- bufring.c ------------------------------------------------------------ */

URT_HIDDEN int urt__bufs_init(struct urt_runtime *rt, const struct urt_runtime_opts *o);
URT_HIDDEN void urt__bufs_deinit(struct urt_runtime *rt);
static inline char *urt__buf_addr(struct urt_runtime *rt, uint16_t bid)
{
	return rt->bufs.mem + (size_t)bid * rt->bufs.size;
}

enum { URT__BUFS_ONE, URT__BUFS_BUNDLE, URT__BUFS_INC }; /* bufs.mode */

/* One buffer's state, in every mode. */
struct urt__bstate {
	uint32_t off;	/* in part: bytes the kernel has filled */
	uint32_t users; /* its pieces out (queued or with a task): 0 or 1 but in part */
	uint32_t kept;	/* in part: the kernel may fill more of it */
};

/*
 * The buffers a receive completion carries, one entry each: res = length,
 * flags = buffer id << 16 | offset. urt__bufs_take counts them out of the
 * kernel's hands (res and cflags as the kernel posted them; `shown` is the
 * length the stream reports, fewer if the fault seam cut it); every entry
 * urt__bufs_next yields must be given back with urt__buf_release.
 */
struct urt__bufs_it {
	uint32_t left, shown, off;
	uint32_t n, i;
	uint16_t bid, pos;
};
/* (inline: a receive completion takes both, complete.c) */
static inline void urt__bufs_take(struct urt_runtime *rt, struct urt__bufs_it *it, int32_t res,
				  uint32_t cflags, int32_t shown)
{
	uint16_t bid = (uint16_t)(cflags >> IORING_CQE_BUFFER_SHIFT);
	uint32_t bytes = res > 0 ? (uint32_t)res : 0;

	it->bid = bid;
	it->pos = 0;
	it->shown = shown > 0 ? (uint32_t)shown : 0;
	it->off = 0;
	it->i = 0;
	it->n = 1;
	it->left = bytes;
	switch (rt->bufs.mode) {
	case URT__BUFS_INC: {
		struct urt__bstate *b = &rt->bufs.st[bid];

		URT_ASSERT(bid < rt->bufs.count && b->kept,
			   "a completion for a buffer not in the ring");
		it->off = b->off;
		b->off += bytes;
		if (cflags & IORING_CQE_F_BUF_MORE) {
			rt->stats.buf_shared++;
		} else {
			b->kept = 0;
			rt->bufs.avail--;
			if (rt->bufs.avail < rt->bufs.avail_low)
				rt->bufs.avail_low = rt->bufs.avail;
		}
		b->users++;
		return;
	}
	case URT__BUFS_BUNDLE:
		if (bytes > rt->bufs.size) {
			it->n = (bytes + rt->bufs.size - 1) / rt->bufs.size;
			rt->stats.recv_bundled += it->n;
		}
		it->pos = rt->bufs.pos[bid];
		URT_ASSERT(rt->bufs.slot[it->pos & (uint16_t)(rt->bufs.count - 1)] == bid,
			   "a bundle whose first buffer is not where it was put");
		break;
	default:
		break;
	}
	rt->bufs.avail -= it->n;
	if (rt->bufs.avail < rt->bufs.avail_low)
		rt->bufs.avail_low = rt->bufs.avail;
}

static inline bool urt__bufs_next(struct urt_runtime *rt, struct urt__bufs_it *it,
				  struct urt__cqent *e)
{
	uint32_t len;
	uint16_t bid;

	if (it->i == it->n)
		return false;
	bid = it->i ? rt->bufs.slot[(uint16_t)(it->pos + it->i) & (uint16_t)(rt->bufs.count - 1)]
		    : it->bid;
	if (rt->bufs.mode != URT__BUFS_INC) { /* the kernel has let go of it: it is out */
		rt->bufs.st[bid].kept = 0;
		rt->bufs.st[bid].users = 1;
	}
	len = it->left < rt->bufs.size ? it->left : rt->bufs.size;
	it->left -= len;
	if (len > it->shown) /* the fault seam showed fewer bytes than came */
		len = it->shown;
	it->shown -= len;
	it->i++;
	e->res = (int32_t)len;
	e->flags = (uint32_t)bid << 16 | it->off;
	return true;
}

/* Take and give back at once: a completion nobody will read. */
URT_HIDDEN void urt__bufs_drop(struct urt_runtime *rt, int32_t res, uint32_t cflags);
/* Give back one buffer (or piece of one); wakes a starved stream.
 * Return: 0; -EINVAL if no piece of it was out (given back twice). */
URT_HIDDEN int urt__buf_release(struct urt_runtime *rt, uint32_t id);
/* A starved stream while the ring has buffers: wake the oldest (its wake
 * may have been lost, or a buffer filled in part still has room). */
URT_HIDDEN void urt__bufs_kick(struct urt_runtime *rt);
/*
 * Spill memory: blocks of buf_size bytes that hold received bytes copied
 * out of the ring (bufring.c). A buffer id (urt_buf.id, urt__buf_release)
 * is a ring buffer's (below 32768) or URT__SPILL_ID | n for spill block n.
 * A queued entry's flags are id << 16 | offset for a piece of a ring
 * buffer, URT__SPILL_ENT | n for spill block n (its bytes start at 0).
 */
#define URT__SPILL_ID  0x40000000u
#define URT__SPILL_ENT 0x80000000u
#define URT__SPILL_MAX 0x3fffffffu /* spill blocks at most */
static inline bool urt__ent_in_ring(const struct urt__cqent *e)
{
	return !(e->flags & URT__SPILL_ENT);
}
static inline uint32_t urt__ent_id(const struct urt__cqent *e)
{
	return urt__ent_in_ring(e) ? e->flags >> 16 : URT__SPILL_ID | (e->flags & ~URT__SPILL_ENT);
}
static inline char *urt__ent_data(struct urt_runtime *rt, const struct urt__cqent *e)
{
	if (!urt__ent_in_ring(e))
		return rt->bufs.spill.blk[e->flags & ~URT__SPILL_ENT];
	return urt__buf_addr(rt, (uint16_t)(e->flags >> 16)) + (e->flags & 0xffffu);
}
/* Ticks a stream's task may wait on the run queue (the poll budget left
 * it for later) before its ring chunks count as idle after all. */
#define URT__QUEUED_GRACE 4u
/* Whether receive stream r is idle: chunks wait on it and its task took
 * none in this tick; a task still on the run queue is about to read, for
 * a few ticks after its stream first held ring chunks (pinned: that tick,
 * | 1). */
static inline bool urt__stream_idle(const struct urt_runtime *rt, const struct urt__rec *r)
{
	if (!r->tm.qhead || r->tm.asked >= rt->stats.ticks)
		return false;
	if (!(r->task->flags & URT_TASK_QUEUED))
		return true;
	return r->tm.pinned && (uint32_t)rt->stats.ticks - r->tm.pinned > URT__QUEUED_GRACE;
}
/* A stream of the sweep's list (bufs.pins): its record and generation. */
struct urt__pin {
	uint32_t idx, gen;
};
/* Each tick, once its tasks have run, while pin_max ring buffers or more
 * sit in queues: every idle stream's ring chunks move to spill memory
 * (sweep.c). */
URT_HIDDEN void urt__bufs_sweep(struct urt_runtime *rt);
/* Stream r (record idx) queued a ring chunk: on the sweep's list, once
 * (sweep.c; the check is inline, the add is not). */
URT_HIDDEN void urt__pins_add(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx);
static inline void urt__pins_track(struct urt_runtime *rt, struct urt__rec *r, uint32_t idx)
{
	if (!r->tm.pinned)
		urt__pins_add(rt, r, idx);
}
/* A spill block. Return: its id; -ENOMEM. */
URT_HIDDEN int urt__spill_get(struct urt_runtime *rt);
/*
 * Copy ring entry e out of the ring and give its piece back: appended to
 * *last (the stream's newest queued entry, or NULL) if that is in spill
 * memory with room (e->res becomes 0), else into a new block (e becomes
 * that block's entry, to queue). Return: true; false if no block could be
 * had (e unchanged, still in the ring).
 */
URT_HIDDEN bool urt__bufs_spill(struct urt_runtime *rt, struct urt__cqent *last,
				struct urt__cqent *e);
/* Put stream record idx on the starved list. */
URT_HIDDEN void urt__buf_starve(struct urt_runtime *rt, uint32_t idx);
URT_HIDDEN void urt__buf_unstarve(struct urt_runtime *rt, uint32_t idx);

/* --- ring.c ------------------------------------------------------------- */

URT_HIDDEN int urt__ring_init(struct urt_runtime *rt, unsigned entries);
URT_HIDDEN void urt__ring_deinit(struct urt_runtime *rt);
/* The runtime's struct io_uring. */
static inline struct io_uring *urt__ring(struct urt_runtime *rt)
{
	return (struct io_uring *)(void *)rt->ring;
}
/* Whether the kernel may not be given buf: it lies in the frame arena (it
 * dies at the frame's end), or (ASan builds) in poisoned memory. */
URT_HIDDEN bool urt__user_mem_refused(const void *buf, size_t len);
/* The SQ has fewer than n free entries: submit what is prepared until it
 * has (ring.c; out of line, the inline check below is the common case). */
URT_HIDDEN void urt__sq_make_room(struct urt_runtime *rt, unsigned n);
/*
 * n consecutive SQEs' room, never failing: when the SQ is too full, submit
 * what is there first (nothing is ever dropped). Then io_uring_get_sqe
 * succeeds n times.
 */
static inline void urt__sq_reserve(struct urt_runtime *rt, unsigned n)
{
	if (URT_UNLIKELY(io_uring_sq_space_left(urt__ring(rt)) < n))
		urt__sq_make_room(rt, n);
}
/*
 * The next SQE, never failing: a full SQ is submitted first (nothing is
 * dropped). The runtime's ring has no SQPOLL and 64-byte SQEs (ring.c), so
 * the kernel moves the SQ's head only inside an enter: a plain read of it
 * serves, and liburing's checks of the ring's flags are not needed.
 */
static inline struct io_uring_sqe *urt__sqe_get(struct urt_runtime *rt)
{
	struct io_uring_sq *sq = &urt__ring(rt)->sq;
	unsigned tail = sq->sqe_tail;

	if (URT_UNLIKELY(tail + 1 - IO_URING_READ_ONCE(*sq->khead) > sq->ring_entries))
		urt__sq_make_room(rt, 1);
	sq->sqe_tail = tail + 1;
	return &sq->sqes[tail & sq->ring_mask];
}
/* A completion taken out of the CQ, not applied yet (rt->stash, ring.c). */
struct urt__cqe_copy {
	uint64_t ud;
	int32_t res;
	uint32_t flags;
};
/* Reap every completion in the CQ (and what the kernel held back), after
 * those stashed. */
URT_HIDDEN void urt__ring_reap(struct urt_runtime *rt);
/*
 * One trip to the kernel, or none: submit what is prepared, then wait up to
 * timeout_ns for one completion if park, and reap every completion.
 * Return: 0; -errno from io_uring_enter (not -ETIME / -EINTR).
 */
URT_HIDDEN int urt__ring_enter(struct urt_runtime *rt, bool park, uint64_t timeout_ns);

/* --- kern.c ------------------------------------------------------------- */

/* What an enter asks of the kernel (struct urt__kern.enter). */
enum urt__enter {
	URT__ENTER_SUBMIT, /* hand over the prepared SQEs (room in the SQ) */
	URT__ENTER_EVENTS, /* submit, and flush finished work into the CQ; no wait */
	URT__ENTER_FLUSH,  /* only flush what the kernel holds back (CQ overflow) */
	URT__ENTER_WAIT,   /* submit, and wait for one CQE up to timeout_ns */
};
/*
 * The kernel below the ring (kern.c): every call that crosses into the
 * kernel for the ring, and the clock. The real table makes liburing's
 * calls; a simulated kernel supplies its own and fills the same SQ/CQ and
 * buffer-ring memory. Returns as liburing's calls: >= 0, or -errno.
 */
struct io_uring_probe;
struct io_uring_buf_reg;
struct io_uring_params;
struct sockaddr;
struct urt__kern {
	int (*setup)(void *ctx, struct io_uring *ring, unsigned entries, struct io_uring_params *p);
	void (*teardown)(void *ctx, struct io_uring *ring);
	/* what io_uring_free_probe frees, or NULL */
	struct io_uring_probe *(*probe)(void *ctx, struct io_uring *ring);
	int (*enter)(void *ctx, struct io_uring *ring, enum urt__enter how, uint64_t timeout_ns);
	int (*buf_ring)(void *ctx, struct io_uring *ring, struct io_uring_buf_reg *reg, bool on);
	uint64_t (*now)(void *ctx); /* monotonic ns */
	/* the plain socket calls the runtime makes beside the ring (listeners,
	 * the socket fallback, a descriptor it drops): -errno, not errno */
	int (*socket)(void *ctx, int domain, int type, int protocol);
	int (*setsockopt)(void *ctx, int fd, int level, int name, const void *val, socklen_t len);
	int (*getsockopt)(void *ctx, int fd, int level, int name, void *val, socklen_t *len);
	/* a plain connect: the runtime's only one is AF_UNSPEC, which resets
	 * a connection (zc.c) */
	int (*connect)(void *ctx, int fd, const struct sockaddr *sa, socklen_t len);
	int (*bind)(void *ctx, int fd, const struct sockaddr *sa, socklen_t len);
	int (*listen)(void *ctx, int fd, int backlog);
	int (*getsockname)(void *ctx, int fd, struct sockaddr *sa, socklen_t *len);
	int (*close)(void *ctx, int fd);
	/* a sparse registered file table of n slots (n 0: none); NULL: the
	 * kernel below has none (the simulator), accepts give plain fds */
	int (*files)(void *ctx, struct io_uring *ring, unsigned n);
};
URT_HIDDEN extern const struct urt__kern urt__kern_real;
/* The kernel of this thread's runtime, or the real one without a runtime:
 * what the socket calls outside a task (urt_listen_tcp) go through. */
static inline const struct urt__kern *urt__kern(void **ctx)
{
	struct urt_runtime *rt = urt__rt;

	*ctx = rt ? rt->kern_ctx : NULL;
	return rt ? rt->kern : &urt__kern_real;
}
/* A descriptor the runtime drops (an accept nobody took): closed through
 * the runtime's kernel. */
URT_HIDDEN void urt__fd_drop(struct urt_runtime *rt, int fd);

/* An accept's result as the task sees it: a direct descriptor's slot
 * becomes URT_FD_FIXED | slot. */
static inline int32_t urt__accept_fd(const struct urt_runtime *rt, int32_t res)
{
	return res >= 0 && (rt->stats.features & URT_FEAT_FIXED_FDS) ? res | URT_FD_FIXED : res;
}

/* The file table (ring.c): registered at init if opts.fixed_fds asks and
 * the kernel below has one. Return: 0 (also when it stays off); -ENOMEM. */
URT_HIDDEN int urt__fixed_init(struct urt_runtime *rt, const struct urt_runtime_opts *o);

/* net.c: host (an IPv4 or IPv6 literal; NULL or "": 127.0.0.1) and port as
 * a socket address (the listeners, urt_bind_udp). Return: 0; -EINVAL. */
struct sockaddr_storage;
URT_HIDDEN int urt__addr_literal(const char *host, uint16_t port, struct sockaddr_storage *ss,
				 socklen_t *len);

#endif /* URT_IO_INTERNAL_H */
