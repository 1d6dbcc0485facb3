/* SPDX-License-Identifier: MIT */
/*
 * bufring.c - the provided-buffer ring every multishot receive shares.
 *
 * One buffer group (id 0) per runtime: `count` buffers of `size` bytes in
 * one block, and a ring of `count` descriptors (struct io_uring_buf) in
 * page-aligned anonymous memory registered with IORING_REGISTER_PBUF_RING.
 * liburing 2.3 has the registration call and the add/advance helpers but
 * not io_uring_setup_buf_ring, so the setup is here.
 *
 * Three ways the kernel may hand out buffers (bufs.mode), chosen at init
 * from what it offers and opts.features_off, in this order:
 *   BUNDLES (URT_FEAT_RECV_BUNDLE, 6.10): one completion may carry several
 *     buffers, the ring's next ones in order: fewer completions for bulk
 *     data. Only with the per-arm limit below: without it one bundle could
 *     take the whole ring before a pause acts. The completion names the
 *     first buffer; the others are found by ring position (pos[], slot[]).
 *     Those slots cannot have been written again yet: the kernel takes
 *     buffers in ring order and posts their completions in that order, so
 *     every buffer taken after these ones is still out, and the ring never
 *     holds more than count buffers.
 *   IN PART (URT_FEAT_BUF_INC, Linux 6.12), when bundles are off or
 *     missing: a receive takes only the bytes it needs from the buffer at
 *     the head of the ring and the next receive, of any connection, goes on
 *     where it ended; IORING_CQE_F_BUF_MORE says the kernel keeps the
 *     buffer. A buffer goes back to the ring once the kernel has let go of
 *     it and every piece of it has been given back (st[] counts them).
 *     Small messages from many connections share buffers. Needs size <=
 *     64 KiB (a piece's offset is kept in 16 bits). Not first: under
 *     pipelined load it measured ten times slower than bundles (design.md).
 *   ONE BUFFER A COMPLETION: the fallback.
 * However they came, the stream queues one entry per buffer or chunk,
 * { length, id << 16 | offset }, and the task gets one urt_buf each.
 *
 * Accounting: `avail` is how many buffers the kernel may take: a
 * completion takes the buffers it names (in part: when the kernel lets go
 * of one), urt__buf_release gives one back. Every path that does not hand
 * a buffer to the user releases it (a stale completion, an injected error,
 * a stream that ends with completions queued), so buffers are never lost.
 *
 * Per-connection bound: each arm of a multishot receive asks the kernel to
 * end it after opts.stream_queue (rounded up to whole chunk records of 4)
 * buffers' worth of bytes (the byte limit in the SQE's optlen, Linux 6.16
 * and later); the stream re-arms at the await that finds its queue drained.
 * A peer that sends without reading, or a task stuck on a send, therefore
 * holds at most that many buffers, never the whole ring. A kernel that
 * refuses the limit (-EINVAL) is remembered and the stream re-armed without
 * it; there the bound is the pause below, which is late by what the kernel
 * posts in one batch (tens of buffers): a stream whose unread completions
 * fill the queue is paused, its multishot receive cancelled (the data stays
 * in the socket).
 *
 * Back-pressure: with the ring empty the kernel ends a multishot receive
 * with -ENOBUFS. The stream goes on a FIFO "starved" list; each buffer
 * given back wakes the oldest starved stream, which re-arms at its next
 * await. A wake can be spent without a re-arm (that task was aborted, or
 * ended its stream), and in part one buffer given back has room for more
 * than the stream it woke: so each tick, while the ring has buffers and a
 * stream is starved, the oldest is woken too (urt__bufs_kick). A stream
 * never sees -ENOBUFS as an error.
 *
 * Fairness across streams: the per-arm limit bounds one stream, not all
 * of them. `queued` counts ring buffers (pieces, in part) sitting unread
 * in stream queues. While it is at pin_max (opts.recv_pin_max) or more,
 * each tick's sweep (sweep.c, after the polls) copies the ring chunks of
 * every stream whose task took none in that tick into spill memory, and
 * what arrives for such a stream is copied as it comes; while fewer than
 * `low` (an eighth) are free, every arrival is (urt__bufs_spill). Spill
 * blocks are buf_size bytes, named by URT__SPILL_ID | n where a ring id
 * would stand (io_internal.h), so queues and urt_bufs carry them unchanged; a block holds
 * one entry, grown while it is the stream's newest. Free blocks are kept
 * for reuse up to SPILL_CACHE, the rest go back to the allocator.
 *   avail >= low - one completion's buffers   (spill failing aside)
 *   after a sweep: queued < pin_max, or every stream holding ring
 *     chunks had its task take one in that tick
 *   spill.live == blocks queued or with tasks
 */
#include "io_internal.h"

#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BGID 0
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2u /* Linux 6.12 */
#endif
#define INC_MAX_SIZE 65536u /* a chunk's offset fits the low 16 bits of its entry */

static struct io_uring_buf_ring *br(struct urt_runtime *rt)
{
	return rt->bufs.ring;
}

static uint16_t mask(const struct urt_runtime *rt)
{
	return (uint16_t)(rt->bufs.count - 1);
}

/* Put buffer bid at the ring's tail (not yet published). */
static void ring_add(struct urt_runtime *rt, uint16_t bid, int offset)
{
	uint16_t pos = (uint16_t)(rt->bufs.tail + offset);

	io_uring_buf_ring_add(br(rt), urt__buf_addr(rt, bid), rt->bufs.size, bid, mask(rt), offset);
	if (rt->bufs.mode == URT__BUFS_BUNDLE) {
		rt->bufs.slot[pos & mask(rt)] = bid;
		rt->bufs.pos[bid] = pos;
	}
	rt->bufs.st[bid] = (struct urt__bstate){ .off = 0, .users = 0, .kept = 1 };
}

static void ring_publish(struct urt_runtime *rt, uint16_t n)
{
	io_uring_buf_ring_advance(br(rt), n);
	rt->bufs.tail = (uint16_t)(rt->bufs.tail + n);
	rt->bufs.avail += n;
}

/* Register the ring, in part if asked; -EINVAL from a kernel without it. */
static int ring_register(struct urt_runtime *rt, unsigned flags)
{
	struct io_uring_buf_reg reg = {
		.ring_addr = (uint64_t)(uintptr_t)rt->bufs.ring,
		.ring_entries = rt->bufs.count,
		.bgid = BGID,
		.pad = (uint16_t)flags, /* `flags` in headers newer than 6.1 */
	};

	return rt->kern->buf_ring(rt->kern_ctx, urt__ring(rt), &reg, true);
}

static void *side_alloc(struct urt_runtime *rt, size_t bytes)
{
	void *p = rt->al.alloc(rt->al.ctx, bytes, 8);

	if (p)
		memset(p, 0, bytes);
	return p;
}

/* --- spill memory ------------------------------------------------------------ */

#define SPILL_USED	UINT32_MAX	       /* next[] of an id in use */
#define SPILL_CACHE(rt) ((rt)->bufs.count / 2) /* free blocks kept for reuse */

static bool spill_grow(struct urt_runtime *rt)
{
	struct urt_runtime *r = rt; /* short lines below */
	uint32_t old = r->bufs.spill.cap, cap = old ? old * 2 : 64;
	char **blk;
	uint32_t *next;

	if (old == URT__SPILL_MAX)
		return false;
	if (cap > URT__SPILL_MAX)
		cap = URT__SPILL_MAX;
	blk = r->al.alloc(r->al.ctx, cap * sizeof(*blk), 8);
	next = r->al.alloc(r->al.ctx, cap * sizeof(*next), 8);
	if (!blk || !next) {
		if (blk)
			r->al.free(r->al.ctx, blk, cap * sizeof(*blk), 8);
		if (next)
			r->al.free(r->al.ctx, next, cap * sizeof(*next), 8);
		return false;
	}
	if (old) {
		memcpy(blk, r->bufs.spill.blk, old * sizeof(*blk));
		memcpy(next, r->bufs.spill.next, old * sizeof(*next));
		r->al.free(r->al.ctx, r->bufs.spill.blk, old * sizeof(*blk), 8);
		r->al.free(r->al.ctx, r->bufs.spill.next, old * sizeof(*next), 8);
	}
	r->bufs.spill.blk = blk;
	r->bufs.spill.next = next;
	r->bufs.spill.cap = cap;
	return true;
}

int urt__spill_get(struct urt_runtime *rt)
{
	typeof(rt->bufs.spill) *sp = &rt->bufs.spill;
	size_t bytes;
	uint32_t id;

	if (sp->cached) {
		id = sp->cached - 1u;
		sp->cached = sp->next[id];
		sp->ncached--;
		urt__unpoison(sp->blk[id], rt->bufs.size);
	} else {
		if (sp->empty) {
			id = sp->empty - 1u;
			sp->empty = sp->next[id];
		} else if (sp->made < sp->cap || spill_grow(rt)) {
			id = sp->made++;
		} else {
			return -ENOMEM;
		}
		sp->blk[id] = rt->al.alloc(rt->al.ctx, rt->bufs.size, 64);
		if (!sp->blk[id]) {
			sp->next[id] = sp->empty;
			sp->empty = id + 1;
			return -ENOMEM;
		}
	}
	sp->next[id] = SPILL_USED;
	sp->live++;
	bytes = (size_t)sp->live * rt->bufs.size;
	rt->stats.spill_bytes = bytes;
	if (bytes > rt->stats.spill_high_water)
		rt->stats.spill_high_water = bytes;
	return (int)id;
}

static bool spill_live(const struct urt_runtime *rt, uint32_t id)
{
	return id < rt->bufs.spill.made && rt->bufs.spill.next[id] == SPILL_USED;
}

static int spill_put(struct urt_runtime *rt, uint32_t id)
{
	typeof(rt->bufs.spill) *sp = &rt->bufs.spill;

	if (!spill_live(rt, id))
		return -EINVAL; /* checked in every build, as for ring buffers */
	sp->live--;
	rt->stats.spill_bytes = (size_t)sp->live * rt->bufs.size;
	if (sp->ncached < SPILL_CACHE(rt)) {
		sp->next[id] = sp->cached;
		sp->cached = id + 1;
		sp->ncached++;
		urt__poison(sp->blk[id], rt->bufs.size, URT_POISON_POOL); /* a use after free */
		return 0;
	}
	rt->al.free(rt->al.ctx, sp->blk[id], rt->bufs.size, 64);
	sp->blk[id] = NULL;
	sp->next[id] = sp->empty;
	sp->empty = id + 1;
	return 0;
}

static void spill_deinit(struct urt_runtime *rt)
{
	typeof(rt->bufs.spill) *sp = &rt->bufs.spill;

	for (uint32_t i = 0; i < sp->made; i++) {
		if (!sp->blk[i])
			continue;
		urt__unpoison(sp->blk[i], rt->bufs.size);
		rt->al.free(rt->al.ctx, sp->blk[i], rt->bufs.size, 64);
	}
	if (sp->cap) {
		rt->al.free(rt->al.ctx, sp->blk, sp->cap * sizeof(*sp->blk), 8);
		rt->al.free(rt->al.ctx, sp->next, sp->cap * sizeof(*sp->next), 8);
	}
}

bool urt__bufs_spill(struct urt_runtime *rt, struct urt__cqent *last, struct urt__cqent *e)
{
	const char *src = urt__ent_data(rt, e);
	uint32_t len = (uint32_t)e->res;
	int id = 0;

	if (last && !urt__ent_in_ring(last) && (uint32_t)last->res + len <= rt->bufs.size) {
		memcpy(urt__ent_data(rt, last) + last->res, src, len);
		last->res += (int32_t)len;
		e->res = 0; /* taken whole */
	} else {
		id = urt__spill_get(rt);
		if (id < 0)
			return false;
		memcpy(rt->bufs.spill.blk[id], src, len);
	}
	urt__buf_release(rt, urt__ent_id(e));
	rt->stats.recv_spilled += len;
	if (e->res)
		e->flags = URT__SPILL_ENT | (uint32_t)id;
	return true;
}

int urt__bufs_init(struct urt_runtime *rt, const struct urt_runtime_opts *o)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint32_t count = o->buf_count ? o->buf_count : 512;
	uint32_t size = o->buf_size ? o->buf_size : 4096;
	uint32_t off = o->features_off;
	int ret = -EINVAL;

	if (!urt__is_pow2(count) || count > 32768 || size > (1u << 30))
		return -EINVAL;
	rt->bufs.count = count;
	rt->bufs.size = size;
	rt->bufs.no_limit = off & URT_FEAT_RECV_LIMIT;
	/* chunk records hold 4 completions each */
	rt->bufs.max_chunks =
		(uint32_t)(((uint64_t)(o->stream_queue ? o->stream_queue : 16) + 3) / 4);
	{
		uint64_t bytes = (uint64_t)rt->bufs.max_chunks * 4 * size;

		rt->bufs.arm_bytes = bytes > INT32_MAX ? INT32_MAX : (uint32_t)bytes;
	}
	if (o->recv_pin_max > count)
		return -EINVAL;
	if (o->recv_pin_max == count) { /* off: the ring alone, as before fairness */
		rt->bufs.pin_max = UINT32_MAX;
		rt->bufs.low = 0;
	} else {
		rt->bufs.pin_max = o->recv_pin_max ? o->recv_pin_max : count / 2;
		rt->bufs.low = count >= 8 ? count / 8 : 1;
	}
	rt->bufs.avail_low = count;
	rt->bufs.ring_bytes = urt__align_up(count * sizeof(struct io_uring_buf), page);
	rt->bufs.ring = mmap(NULL, rt->bufs.ring_bytes, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rt->bufs.ring == MAP_FAILED) {
		rt->bufs.ring = NULL;
		return -ENOMEM;
	}
	rt->bufs.mem_bytes = (size_t)count * size;
	rt->bufs.mem = rt->al.alloc(rt->al.ctx, rt->bufs.mem_bytes, 64);
	if (!rt->bufs.mem)
		goto nomem;

	rt->bufs.st = side_alloc(rt, count * sizeof(*rt->bufs.st));
	if (!rt->bufs.st)
		goto nomem;
	/* the sweep's list, made whole here: grown on demand, it made heap
	 * calls in steady state (sweep.c, urt__pins_add) */
	rt->bufs.pins = rt->al.alloc(rt->al.ctx, 2 * count * sizeof(*rt->bufs.pins), 8);
	if (!rt->bufs.pins)
		goto nomem;
	rt->bufs.pins_cap = 2 * count;
	/*
	 * Bundles first (measured: urt-kv under redis-benchmark -P 16, 1.28M
	 * SETs/s with bundles, 0.11M with buffers filled in part: see
	 * design.md), in part when bundles are off or missing, else one
	 * buffer a completion. Bundles only with the per-arm limit: without it
	 * the pause is the bound, and one bundle could take the whole ring.
	 */
	if ((rt->stats.features & URT_FEAT_RECV_BUNDLE) &&
	    !(off & (URT_FEAT_RECV_BUNDLE | URT_FEAT_RECV_LIMIT))) {
		ret = ring_register(rt, 0);
		if (ret) {
			urt__bufs_deinit(rt);
			return ret;
		}
		rt->bufs.registered = true;
		rt->bufs.slot = side_alloc(rt, count * sizeof(uint16_t));
		rt->bufs.pos = side_alloc(rt, count * sizeof(uint16_t));
		if (!rt->bufs.slot || !rt->bufs.pos)
			goto nomem;
		rt->bufs.mode = URT__BUFS_BUNDLE;
	} else {
		/* a kernel without a mode refuses it with -EINVAL */
		if (!(off & URT_FEAT_BUF_INC) && size <= INC_MAX_SIZE) {
			ret = ring_register(rt, IOU_PBUF_RING_INC);
			if (!ret) {
				rt->bufs.mode = URT__BUFS_INC;
				rt->stats.features |= URT_FEAT_BUF_INC;
			}
		}
		if (ret == -EINVAL)
			ret = ring_register(rt, 0);
	}
	if (rt->bufs.mode != URT__BUFS_BUNDLE)
		rt->stats.features &= ~URT_FEAT_RECV_BUNDLE;
	if (ret) {
		urt__bufs_deinit(rt);
		return ret;
	}
	rt->bufs.registered = true;
	io_uring_buf_ring_init(br(rt));
	for (uint32_t i = 0; i < count; i++)
		ring_add(rt, (uint16_t)i, (int)i);
	ring_publish(rt, (uint16_t)count);
	return 0;
nomem:
	urt__bufs_deinit(rt);
	return -ENOMEM;
}

void urt__bufs_deinit(struct urt_runtime *rt)
{
	size_t n = rt->bufs.count;

	if (rt->bufs.registered)
		rt->kern->buf_ring(rt->kern_ctx, urt__ring(rt),
				   &(struct io_uring_buf_reg){ .bgid = BGID }, false);
	if (rt->bufs.ring)
		munmap(rt->bufs.ring, rt->bufs.ring_bytes);
	if (rt->bufs.mem)
		rt->al.free(rt->al.ctx, rt->bufs.mem, rt->bufs.mem_bytes, 64);
	if (rt->bufs.st)
		rt->al.free(rt->al.ctx, rt->bufs.st, n * sizeof(*rt->bufs.st), 8);
	if (rt->bufs.slot)
		rt->al.free(rt->al.ctx, rt->bufs.slot, n * sizeof(uint16_t), 8);
	if (rt->bufs.pos)
		rt->al.free(rt->al.ctx, rt->bufs.pos, n * sizeof(uint16_t), 8);
	spill_deinit(rt);
	if (rt->bufs.pins)
		rt->al.free(rt->al.ctx, rt->bufs.pins, rt->bufs.pins_cap * sizeof(*rt->bufs.pins),
			    8);
	memset(&rt->bufs, 0, sizeof(rt->bufs));
}

static void wake_starved(struct urt_runtime *rt)
{
	uint32_t idx = rt->bufs.starved;
	struct urt__rec *r = urt__rec_at(rt, idx);

	urt__buf_unstarve(rt, idx);
	urt_task_wake(r->task);
}

void urt__bufs_kick(struct urt_runtime *rt)
{
	if (rt->bufs.starved && rt->bufs.avail)
		wake_starved(rt);
}

/* Buffer bid goes back to the kernel; the oldest starved stream is woken. */
static void ring_put(struct urt_runtime *rt, uint16_t bid)
{
	URT_ASSERT(bid < rt->bufs.count && rt->bufs.avail < rt->bufs.count,
		   "provided buffer given back twice");
	ring_add(rt, bid, 0);
	ring_publish(rt, 1);
	if (rt->bufs.starved)
		wake_starved(rt);
}

int urt__buf_release(struct urt_runtime *rt, uint32_t id)
{
	uint16_t bid = (uint16_t)id;
	struct urt__bstate *b;

	if (id & URT__SPILL_ID)
		return spill_put(rt, id & ~URT__SPILL_ID);
	if (URT_UNLIKELY(id >= rt->bufs.count))
		return -EINVAL;
	if (URT_UNLIKELY(bid >= rt->bufs.count || !rt->bufs.st[bid].users))
		return -EINVAL; /* checked in every build: a copy of a urt_buf freed too */
	b = &rt->bufs.st[bid];
	if (--b->users || b->kept)
		return 0; /* more pieces of it are out, or the kernel fills it still */
	ring_put(rt, bid);
#ifdef URT_PLANT_BUF_TWICE /* planted: never in a shipped build */
	if (rt->stats.cqes % 13 == 0)
		ring_put(rt, bid);
#endif
	return 0;
}

void urt__bufs_drop(struct urt_runtime *rt, int32_t res, uint32_t cflags)
{
	struct urt__bufs_it it;
	struct urt__cqent e;

	urt__bufs_take(rt, &it, res, cflags, 0);
	while (urt__bufs_next(rt, &it, &e))
		urt__buf_release(rt, urt__ent_id(&e));
}

void urt__buf_starve(struct urt_runtime *rt, uint32_t idx)

{
	struct urt__rec *r = urt__rec_at(rt, idx);

	if (r->rfl & URT__RF_STARVED)
		return;
	r->rfl |= URT__RF_STARVED;
	r->snext = 0;
	if (rt->bufs.starved_tail)
		urt__rec_at(rt, rt->bufs.starved_tail)->snext = idx;
	else
		rt->bufs.starved = idx;
	rt->bufs.starved_tail = idx;
}

void urt__buf_unstarve(struct urt_runtime *rt, uint32_t idx)
{
	uint32_t *pp = &rt->bufs.starved, prev = 0;

	while (*pp && *pp != idx) {
		prev = *pp;
		pp = &urt__rec_at(rt, *pp)->snext;
	}
	if (!*pp)
		return;
	*pp = urt__rec_at(rt, idx)->snext;
	if (rt->bufs.starved_tail == idx)
		rt->bufs.starved_tail = prev;
	urt__rec_at(rt, idx)->rfl &= (uint8_t)~URT__RF_STARVED;
}

int urt_buf_free(struct urt_buf *buf)
{
	struct urt_runtime *rt = urt__rt;

	if (!rt)
		return -ESRCH;
	if (!buf->live)
		return -EINVAL;
	buf->live = 0;
	buf->data = NULL;
	buf->len = 0;
	return urt__buf_release(rt, buf->id);
}

bool urt_bufs_short(void)
{
	struct urt_runtime *rt = urt__rt;

	return rt && rt->bufs.avail < 2 * rt->bufs.low;
}

int urt_buf_hold(struct urt_buf *buf)
{
	struct urt_runtime *rt = urt__rt;
	uint32_t bid = buf->id;
	int id;

	if (!rt)
		return -ESRCH;
	if (!buf->live)
		return -EINVAL;
	if (bid & URT__SPILL_ID)
		return spill_live(rt, bid & ~URT__SPILL_ID) ? 0 : -EINVAL;
	if (bid >= rt->bufs.count || !rt->bufs.st[bid].users)
		return -EINVAL;
	if (!urt_bufs_short())
		return 0;
	id = urt__spill_get(rt);
	if (id < 0)
		return id;
	memcpy(rt->bufs.spill.blk[id], buf->data, buf->len);
	urt__buf_release(rt, bid);
	rt->stats.recv_spilled += buf->len;
	buf->data = rt->bufs.spill.blk[id];
	buf->id = URT__SPILL_ID | (uint32_t)id;
	return 1;
}
