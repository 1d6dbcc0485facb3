/* SPDX-License-Identifier: MIT */
/*
 * fs.c - filesystem operations on names and sizes: mkdirat, unlinkat,
 * renameat, linkat, symlinkat, fallocate, ftruncate. Each is a prep call
 * between urt__op_begin_fd and urt__op_commit (op.c), so every rule of
 * urt/io.h holds for them (one handle, the result as the kernel reports it,
 * the frame-memory refusal, deadlines, cancel, and in debug builds the
 * check that a re-evaluated await passes the same fd and path: the
 * first fd and path of each call are its fingerprint).
 *
 * Paths: the kernel copies a path when it takes the SQE, but one rule for
 * every buffer is easier to keep than a list of exceptions, so a path in
 * the frame arena is refused (-EFAULT) as urt_statx refuses it.
 *
 * ftruncate has an opcode only from Linux 6.9 (IORING_OP_FTRUNCATE, probed
 * as URT_FEAT_FTRUNCATE). Without it the call runs on the runtime's
 * blocking pool as the op's operation (urt__op_offload, op.c): the loop
 * never blocks on a truncate, however slow the file system.
 */
#include "io_internal.h"

#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

/* Refuse a path in frame memory, before anything is submitted. */
static bool path_refused(const struct urt_op *op, const char *path)
{
	return op->state == URT_OP_IDLE && path && urt__user_mem_refused(path, 1);
}

int urt_mkdirat(struct urt_task *t, struct urt_op *op, int dfd, const char *path, mode_t mode)
{
	struct urt__sub s = { 0 };
	int ret;

	if (path_refused(op, path))
		return -EFAULT;
	ret = urt__op_begin_fd(t, op, dfd, path, 0, &s);
	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_mkdirat(s.sqe, dfd, path, mode);
	return urt__op_commit(op, &s);
}

int urt_unlinkat(struct urt_task *t, struct urt_op *op, int dfd, const char *path, int flags)
{
	struct urt__sub s = { 0 };
	int ret;

	if (path_refused(op, path))
		return -EFAULT;
	ret = urt__op_begin_fd(t, op, dfd, path, 0, &s);
	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_unlinkat(s.sqe, dfd, path, flags);
	return urt__op_commit(op, &s);
}

int urt_renameat(struct urt_task *t, struct urt_op *op, int olddfd, const char *oldpath, int newdfd,
		 const char *newpath, unsigned flags)
{
	struct urt__sub s = { 0 };
	int ret;

	if (path_refused(op, oldpath) || path_refused(op, newpath))
		return -EFAULT;
	ret = urt__op_begin_fd(t, op, olddfd, oldpath, 0, &s);
	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_renameat(s.sqe, olddfd, oldpath, newdfd, newpath, flags);
	return urt__op_commit(op, &s);
}

int urt_linkat(struct urt_task *t, struct urt_op *op, int olddfd, const char *oldpath, int newdfd,
	       const char *newpath, int flags)
{
	struct urt__sub s = { 0 };
	int ret;

	if (path_refused(op, oldpath) || path_refused(op, newpath))
		return -EFAULT;
	ret = urt__op_begin_fd(t, op, olddfd, oldpath, 0, &s);
	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_linkat(s.sqe, olddfd, oldpath, newdfd, newpath, flags);
	return urt__op_commit(op, &s);
}

int urt_symlinkat(struct urt_task *t, struct urt_op *op, const char *target, int newdfd,
		  const char *linkpath)
{
	struct urt__sub s = { 0 };
	int ret;

	if (path_refused(op, target) || path_refused(op, linkpath))
		return -EFAULT;
	ret = urt__op_begin_fd(t, op, newdfd, linkpath, 0, &s);
	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_symlinkat(s.sqe, target, newdfd, linkpath);
	return urt__op_commit(op, &s);
}

int urt_fallocate(struct urt_task *t, struct urt_op *op, int fd, int mode, int64_t off, int64_t len)
{
	struct urt__sub s = { 0 };
	int ret;

	if (op->state == URT_OP_IDLE && (off < 0 || len <= 0))
		return -EINVAL; /* as fallocate(2); the SQE's fields are unsigned */
	ret = urt__op_begin_fd(t, op, fd, NULL, 0, &s);
	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_fallocate(s.sqe, fd, mode, (uint64_t)off, (uint64_t)len);
	return urt__op_commit(op, &s);
}

/* The fallback of urt_ftruncate where the ring has no IORING_OP_FTRUNCATE
 * (or opts.features_off has URT_FEAT_FTRUNCATE), run on the blocking pool:
 * a[0] the descriptor, a[1] the length. */
static int64_t ftruncate_job(const int64_t *a)
{
	return ftruncate((int)a[0], (off_t)a[1]) ? -errno : 0;
}

int urt_ftruncate(struct urt_task *t, struct urt_op *op, int fd, int64_t len)
{
	struct urt__sub s = { 0 };
	int ret;

	if (op->state == URT_OP_IDLE) {
		if (len < 0)
			return -EINVAL;
		if (urt__rt && !(urt__rt->stats.features & URT_FEAT_FTRUNCATE) &&
		    urt_fd_is_fixed(fd))
			return -EBADFD; /* a worker's plain call cannot name a slot */
		if (urt__rt && !(urt__rt->stats.features & URT_FEAT_FTRUNCATE))
			return urt__op_offload(t, op, fd, NULL, ftruncate_job,
					       ((const int64_t[3]){ fd, len }));
	}
	ret = urt__op_begin_fd(t, op, fd, NULL, 0, &s);
	if (ret != URT__SUBMIT)
		return ret;
	io_uring_prep_rw(URT__OP_FTRUNCATE, s.sqe, fd, NULL, 0, (uint64_t)len);
	return urt__op_commit(op, &s);
}
