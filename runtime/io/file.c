/* SPDX-License-Identifier: MIT */
/*
 * file.c - file operations: each is a prep call between urt__op_begin and
 * urt__op_commit (op.c), so every rule of urt/io.h holds for them. The
 * ones a server makes per request or per chunk (read, write, splice,
 * close) take urt_nop's shape: the result taken and the common submission
 * made inline (urt__op_fast_begin/commit), every other case in a function
 * of its own (NAME_submit) that takes the full path.
 *
 * urt_splice names no user memory (the bytes move between descriptors in
 * the kernel), so the frame-memory check has nothing to refuse; the kernel
 * runs it on an io-wq worker (IORING_OP_SPLICE is always punted there),
 * where a blocking socket or pipe blocks that worker, not the ring, and a
 * cancel interrupts the wait.
 */
#include "io_internal.h"

#include <linux/openat2.h>

#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>

int urt_openat(struct urt_task *t, struct urt_op *op, int dfd, const char *path, int flags,
	       mode_t mode)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_begin_fd(t, op, dfd, path, 0, &s);

	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_openat(s.sqe, dfd, path, flags | O_CLOEXEC, mode);
	return urt__op_commit(op, &s);
}

int urt_openat2(struct urt_task *t, struct urt_op *op, int dfd, const char *path,
		struct open_how *how)
{
	struct urt__sub s = { 0 };
	int ret;

	if (op->state == URT_OP_IDLE && urt__user_mem_refused(how, sizeof(*how)))
		return -EFAULT;
	ret = urt__op_begin_fd(t, op, dfd, path, 0, &s);
	if (ret != URT__SUBMIT)
		return ret;
	how->flags |= O_CLOEXEC;
	io_uring_prep_openat2(s.sqe, dfd, path, how);
	return urt__op_commit(op, &s);
}

/* A read's or write's SQE, for both paths of each (urt__len32: at most
 * 2 GiB - 1 bytes). */
static inline void rw_prep(struct io_uring_sqe *sqe, int opcode, int fd, const void *buf,
			   size_t len, int64_t off)
{
	io_uring_prep_rw(opcode, sqe, fd, buf, urt__len32(len), (uint64_t)off);
}

/* urt_read's every case but the two common ones (urt_nop's shape, op.c). */
__attribute__((noinline)) static int read_submit(struct urt_task *t, struct urt_op *op, int fd,
						 void *buf, size_t len, int64_t off)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_start(t, op, fd, buf, len, &s, "urt_read");

	if (ret != URT__SUBMIT)
		return ret;
	rw_prep(s.sqe, IORING_OP_READ, fd, buf, len, off);
	return urt__op_commit(op, &s);
}

int urt_read(struct urt_task *t, struct urt_op *op, int fd, void *buf, size_t len, int64_t off)
{
	struct urt__sub s;
	int ret;

	if (urt__op_taken(op, &ret))
		return ret;
	if (URT_UNLIKELY(!urt__op_fast_begin(t, op, fd, buf, len, &s)))
		return read_submit(t, op, fd, buf, len, off);
	rw_prep(s.sqe, IORING_OP_READ, fd, buf, len, off);
	return urt__op_fast_commit(op, &s);
}

/* urt_write's every case but the two common ones. */
__attribute__((noinline)) static int write_submit(struct urt_task *t, struct urt_op *op, int fd,
						  const void *buf, size_t len, int64_t off)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_start(t, op, fd, buf, len, &s, "urt_write");

	if (ret != URT__SUBMIT)
		return ret;
	rw_prep(s.sqe, IORING_OP_WRITE, fd, buf, len, off);
	return urt__op_commit(op, &s);
}

int urt_write(struct urt_task *t, struct urt_op *op, int fd, const void *buf, size_t len,
	      int64_t off)
{
	struct urt__sub s;
	int ret;

	if (urt__op_taken(op, &ret))
		return ret;
	if (URT_UNLIKELY(!urt__op_fast_begin(t, op, fd, buf, len, &s)))
		return write_submit(t, op, fd, buf, len, off);
	rw_prep(s.sqe, IORING_OP_WRITE, fd, buf, len, off);
	return urt__op_fast_commit(op, &s);
}

static inline void splice_prep(struct io_uring_sqe *sqe, int fd_in, int64_t off_in, int fd_out,
			       int64_t off_out, unsigned len, unsigned flags)
{
	io_uring_prep_splice(sqe, fd_in, off_in, fd_out, off_out, len, flags);
	if (urt_fd_is_fixed(fd_in)) { /* fd_out is the SQE's fd: urt__sqe_fixed */
		sqe->splice_fd_in = fd_in - URT_FD_FIXED;
		sqe->splice_flags |= SPLICE_F_FD_IN_FIXED;
	}
}

/* urt_splice's every case but the two common ones. */
__attribute__((noinline)) static int splice_submit(struct urt_task *t, struct urt_op *op, int fd_in,
						   int64_t off_in, int fd_out, int64_t off_out,
						   unsigned len, unsigned flags)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_start(t, op, fd_in, NULL, 0, &s, "urt_splice");

	if (ret != URT__SUBMIT)
		return ret;
	splice_prep(s.sqe, fd_in, off_in, fd_out, off_out, len, flags);
	return urt__op_commit(op, &s);
}

int urt_splice(struct urt_task *t, struct urt_op *op, int fd_in, int64_t off_in, int fd_out,
	       int64_t off_out, unsigned len, unsigned flags)
{
	struct urt__sub s;
	int ret;

	if (urt__op_taken(op, &ret))
		return ret;
	if (URT_UNLIKELY(!urt__op_fast_begin(t, op, fd_in, NULL, 0, &s)))
		return splice_submit(t, op, fd_in, off_in, fd_out, off_out, len, flags);
	splice_prep(s.sqe, fd_in, off_in, fd_out, off_out, len, flags);
	return urt__op_fast_commit(op, &s);
}

int urt_poll(struct urt_task *t, struct urt_op *op, int fd, unsigned events)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_begin_fd(t, op, fd, NULL, 0, &s);

	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_poll_add(s.sqe, fd, events);
	return urt__op_commit(op, &s);
}

int urt_fsync(struct urt_task *t, struct urt_op *op, int fd, bool datasync)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_begin_fd(t, op, fd, NULL, 0, &s);

	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_fsync(s.sqe, fd, datasync ? IORING_FSYNC_DATASYNC : 0);
	return urt__op_commit(op, &s);
}

int urt_statx(struct urt_task *t, struct urt_op *op, int dfd, const char *path, int flags,
	      unsigned mask, struct statx *out)
{
	struct urt__sub s = { 0 };
	int ret;

	/* the path too, as urt_openat refuses it (the kernel would copy it at
	 * submit, but one rule for every buffer is easier to keep) */
	if (op->state == URT_OP_IDLE && path && urt__user_mem_refused(path, 1))
		return -EFAULT;
	ret = urt__op_begin_fd(t, op, dfd, out, sizeof(*out), &s);
	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_statx(s.sqe, dfd, path, flags, mask, out);
	return urt__op_commit(op, &s);
}

/* urt_close's every case but the two common ones. */
__attribute__((noinline)) static int close_submit(struct urt_task *t, struct urt_op *op, int fd)
{
	struct urt__sub s = { 0 };
	int ret = urt__op_start(t, op, fd, NULL, 0, &s, "urt_close");

	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_close(s.sqe, fd);
	return urt__op_commit(op, &s);
}

int urt_close(struct urt_task *t, struct urt_op *op, int fd)
{
	struct urt__sub s;
	int ret;

	if (urt__op_taken(op, &ret))
		return ret;
	if (URT_UNLIKELY(!urt__op_fast_begin(t, op, fd, NULL, 0, &s)))
		return close_submit(t, op, fd);
	io_uring_prep_close(s.sqe, fd);
	return urt__op_fast_commit(op, &s);
}
