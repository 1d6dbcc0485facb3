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
 * Accounting: `avail` is how many buffers the kernel may take. Every
 * completion carrying IORING_CQE_F_BUFFER took one (op.c counts it at the
 * top of dispatch, whatever happens to the completion next); urt__buf_put
 * gives one back. Every path that does not hand a buffer to the user gives
 * it back (a stale completion, an injected error, a stream that ends with
 * completions queued), so buffers are never lost.
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
 * await. A stream never sees -ENOBUFS as an error.
 */
#include "internal.h"

#include <errno.h>
#include <liburing.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BGID 0

static struct io_uring_buf_ring *br(struct urt_runtime *rt)
{
	return rt->bufs.ring;
}

int urt__bufs_init(struct urt_runtime *rt, uint32_t count, uint32_t size, uint32_t stream_queue)
{
	struct io_uring_buf_reg reg = { 0 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int ret;

	if (!count)
		count = 512;
	if (!size)
		size = 4096;
	if (!urt__is_pow2(count) || count > 32768 || size > (1u << 30))
		return -EINVAL;
	rt->bufs.count = count;
	rt->bufs.size = size;
	/* chunk records hold 4 completions each */
	rt->bufs.max_chunks = (uint32_t)(((uint64_t)(stream_queue ? stream_queue : 16) + 3) / 4);
	{
		uint64_t bytes = (uint64_t)rt->bufs.max_chunks * 4 * size;

		rt->bufs.arm_bytes = bytes > INT32_MAX ? INT32_MAX : (uint32_t)bytes;
	}
	rt->bufs.ring_bytes = urt__align_up(count * sizeof(struct io_uring_buf), page);
	rt->bufs.ring = mmap(NULL, rt->bufs.ring_bytes, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rt->bufs.ring == MAP_FAILED) {
		rt->bufs.ring = NULL;
		return -ENOMEM;
	}
	rt->bufs.mem_bytes = (size_t)count * size;
	rt->bufs.mem = rt->al.alloc(rt->al.ctx, rt->bufs.mem_bytes, 64);
	if (!rt->bufs.mem) {
		urt__bufs_deinit(rt);
		return -ENOMEM;
	}
	reg.ring_addr = (uint64_t)(uintptr_t)rt->bufs.ring;
	reg.ring_entries = count;
	reg.bgid = BGID;
	ret = io_uring_register_buf_ring(urt__ring(rt), &reg, 0);
	if (ret) {
		urt__bufs_deinit(rt);
		return ret;
	}
	rt->bufs.registered = true;
	io_uring_buf_ring_init(br(rt));
	for (uint32_t i = 0; i < count; i++)
		io_uring_buf_ring_add(br(rt), urt__buf_addr(rt, (uint16_t)i), size, (uint16_t)i,
				      io_uring_buf_ring_mask(count), (int)i);
	io_uring_buf_ring_advance(br(rt), (int)count);
	rt->bufs.avail = count;
	return 0;
}

void urt__bufs_deinit(struct urt_runtime *rt)
{
	if (rt->bufs.registered)
		io_uring_unregister_buf_ring(urt__ring(rt), BGID);
	if (rt->bufs.ring)
		munmap(rt->bufs.ring, rt->bufs.ring_bytes);
	if (rt->bufs.mem)
		rt->al.free(rt->al.ctx, rt->bufs.mem, rt->bufs.mem_bytes, 64);
	memset(&rt->bufs, 0, sizeof(rt->bufs));
}

void urt__buf_put(struct urt_runtime *rt, uint16_t bid)
{
	URT_ASSERT(bid < rt->bufs.count && rt->bufs.avail < rt->bufs.count,
		   "provided buffer given back twice");
	io_uring_buf_ring_add(br(rt), urt__buf_addr(rt, bid), rt->bufs.size, bid,
			      io_uring_buf_ring_mask(rt->bufs.count), 0);
	io_uring_buf_ring_advance(br(rt), 1);
	rt->bufs.avail++;
	if (rt->bufs.starved) {
		uint32_t idx = rt->bufs.starved;
		struct urt__rec *r = urt__rec_at(rt, idx);

		urt__buf_unstarve(rt, idx);
		urt_task_wake(r->task);
	}
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
	if (!buf->live || buf->id >= rt->bufs.count)
		return -EINVAL;
	buf->live = 0;
	buf->data = NULL;
	buf->len = 0;
	urt__buf_put(rt, buf->id);
	return 0;
}
