/* SPDX-License-Identifier: MIT */
/*
 * all.c - the helpers that await more than once: urt_read_exact,
 * urt_read_all, urt_write_all, urt_send_all, urt_recv_exact. Each is a
 * loop over the single-shot operations of file.c and net.c (the handle's
 * op) until len bytes have moved, an error, or EOF (reads); h->done
 * carries the count across awaits. urt_read_all is urt_read_exact from
 * the file position, under the name a program reading a pipe to its end
 * looks for (urt/process.h). It sits above file.c and net.c and is the
 * only file that calls both; nothing below calls it.
 *
 * urt_send_all picks a zero-copy send at or above opts.send_zc_min when
 * the kernel has it, and falls back to a plain send (for good, in h->copy)
 * on a socket that refuses it (AF_UNIX) or a kernel without it.
 */
#include "io_internal.h"

#include <errno.h>

/* What io_all moves. */
enum { ALL_READ, ALL_WRITE, ALL_SEND, ALL_RECV, ALL_READ_EOF };

/*
 * Debug builds: the first evaluation records (fd, buf, len); a later one,
 * while bytes have moved or an operation is pending, must pass the same.
 * Checked before anything else: a length that became URT_PENDING (the
 * await's own result, stored where the length was read from) would fail
 * the -EINVAL check below after every byte was written.
 */
static inline void args_check(struct urt_task *t, struct urt_io_all *h, int fd, const void *buf,
			      size_t len, const char *call)
{
#ifdef URT_DEBUG
	uint32_t now = urt__args_fp(fd, buf, len);

	if (h->op.state == URT_OP_IDLE && !h->done)
		h->args = now;
	else
		urt__args_check(t, &h->args, now, call);
#else
	(void)t, (void)h, (void)fd, (void)buf, (void)len, (void)call;
#endif
}

/* (apart, so that urt_send_all's common evaluations pay for none of its frame) */
__attribute__((noinline)) static int io_all(struct urt_task *t, struct urt_io_all *h, int what,
					    int fd, void *buf, size_t len, int64_t off)
{
	static const char *const calls[] = { "urt_read_exact", "urt_write_all", "urt_send_all",
					     "urt_recv_exact", "urt_read_all" };

	args_check(t, h, fd, buf, len, calls[what]);
	/* h->done past len: a handle reused after an error without done set
	 * back to 0, on a smaller buffer; len - done would wrap and the next
	 * operation would touch memory past buf */
	if (len > INT32_MAX || h->done > len)
		return -EINVAL;
	for (;;) {
		char *p = (char *)buf + h->done;
		size_t left = len - h->done;
		int64_t at = off < 0 ? -1 : off + (int64_t)h->done;
		int ret;

		switch (what) {
		case ALL_READ:
		case ALL_READ_EOF:
			ret = urt_read(t, &h->op, fd, p, left, at);
			break;
		case ALL_WRITE:
			ret = urt_write(t, &h->op, fd, p, left, at);
			break;
		case ALL_SEND:
			if (h->op.state == URT_OP_IDLE)
				h->zc = !h->copy && urt__rt && left >= urt__rt->send_zc_min &&
					(urt__rt->stats.features & URT_FEAT_SEND_ZC);
			ret = h->zc ? urt_send_zc(t, &h->op, fd, p, left, 0)
				    : urt_send(t, &h->op, fd, p, left, 0);
			if (h->zc && (ret == -EOPNOTSUPP || ret == -EINVAL)) {
				h->copy = 1; /* AF_UNIX, or a kernel without it: send plainly */
				h->zc = 0;
				continue;
			}
			break;
		default:
			ret = urt_recv(t, &h->op, fd, p, left, 0);
			break;
		}
		if (ret == URT_PENDING)
			return URT_PENDING;
		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret; /* h->done says how far it got */
		h->done += (size_t)ret;
		if (h->done == len || (ret == 0 && what != ALL_WRITE && what != ALL_SEND)) {
			ret = (int)h->done;
			h->done = 0;
			return ret;
		}
		if (ret == 0) /* a write that moves nothing would loop forever */
			return -EIO;
	}
}

int urt_read_exact(struct urt_task *t, struct urt_io_all *h, int fd, void *buf, size_t len,
		   int64_t off)
{
	return io_all(t, h, ALL_READ, fd, buf, len, off);
}

int urt_read_all(struct urt_task *t, struct urt_io_all *h, int fd, void *buf, size_t cap)
{
	return io_all(t, h, ALL_READ_EOF, fd, buf, cap, -1);
}

int urt_write_all(struct urt_task *t, struct urt_io_all *h, int fd, const void *buf, size_t len,
		  int64_t off)
{
	return io_all(t, h, ALL_WRITE, fd, (void *)(uintptr_t)buf, len, off);
}

/*
 * A server's answer: a plain send (below send_zc_min) that goes out whole.
 * Its two evaluations, the one that submits and the one that takes the
 * whole length, are made here, without io_all's loop and frame; each is
 * what io_all would do (a submission's result is never synchronous, and
 * release builds check no arguments). Anything else goes to io_all.
 */
int urt_send_all(struct urt_task *t, struct urt_io_all *h, int fd, const void *buf, size_t len)
{
#ifndef URT_DEBUG
	struct urt_runtime *rt = urt__rt;

	if (!h->done && rt && len < rt->send_zc_min && len <= INT32_MAX) {
		if (h->op.state == URT_OP_IDLE) {
			h->zc = 0;
			return urt_send(t, &h->op, fd, buf, len, 0);
		}
		if (h->op.state == URT_OP_DONE && !h->zc && (size_t)h->op.res == len) {
			h->op.state = URT_OP_IDLE;
			return (int)len;
		}
	}
#endif
	return io_all(t, h, ALL_SEND, fd, (void *)(uintptr_t)buf, len, -1);
}

int urt_recv_exact(struct urt_task *t, struct urt_io_all *h, int fd, void *buf, size_t len)
{
	return io_all(t, h, ALL_RECV, fd, buf, len, -1);
}
