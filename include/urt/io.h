/* SPDX-License-Identifier: MIT */
/*
 * urt/io.h - awaitable io_uring operations: the handle, cancellation,
 * deadlines, and file I/O. Sockets are in urt/net.h, sleeps in urt/time.h.
 *
 * An operation lives in a handle, struct urt_op, inside the task's state
 * (zero-initialised means idle). Every operation is an awaitable:
 *
 *	URT_AWAIT(t, st->n = urt_read(t, &st->op, st->fd, st->buf, sizeof(st->buf), 0));
 *
 * The first evaluation submits and returns URT_PENDING; evaluations while
 * the operation is in flight return URT_PENDING (a spurious wake never
 * submits twice); the first evaluation after the completion returns its
 * result, >= 0 or -errno exactly as the kernel reports it, and leaves the
 * handle idle for the next operation. Nothing is allocated on the heap per
 * operation: the in-flight state is an op record from a pool of the
 * runtime, and the kernel's SQE goes out in the tick's one io_uring_enter.
 *
 * A task may have many operations in flight at once, each in its own
 * handle (a send while a receive is armed, a read beside a sleep); it is
 * woken when any of them completes, and re-evaluates its await.
 *
 * Lifetime rules (what users may rely on):
 *  1. The kernel may touch an operation's buffers until its completion has
 *     been reaped; a buffer must stay valid until the await returned the
 *     result, or until the task's drop runs.
 *  2. A task whose poll is over (it returned, or it was aborted) with
 *     operations still in flight has them cancelled; its drop runs only
 *     after the last of their final completions has been reaped, whether
 *     the kernel reported -ECANCELED or the operation's real result. So
 *     drop may free everything the state owns: the kernel is done with it.
 *  3. The task's slot is reclaimed only when nothing of it is in flight
 *     (and no join handle or remote waker refers to it); a sleep or a
 *     backoff timer of a finished task is dropped at once.
 *  4. urt_runtime_deinit cancels every operation and waits for every final
 *     completion before it runs a drop or frees any memory.
 *  5. A handle must stay where it is while its operation is in flight: keep
 *     it in the task's state (slots never move).
 *
 * Errors every operation may return besides the kernel's own:
 *   -EFAULT    a buffer lies in the frame arena (it dies at the end of the
 *              tick): refused at submit in every build
 *   -EAGAIN    the op-record pool is at its limit (opts.op_records)
 *   -ENOMEM    the op-record pool could not grow
 *   -EBUSY     the handle is in use by a multishot stream, or the call was
 *              made outside a task
 *   -ECANCELED the operation was cancelled (urt_op_cancel, a deadline)
 * Context: the runtime's thread, inside the task given as `t`.
 */
#ifndef URT_IO_H
#define URT_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "urt/task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An operation handle; zero-initialised (or urt_op_init) means idle. */
struct urt_op {
	int32_t res;	     /* the last result */
	uint32_t cflags;     /* the completion's flags (IORING_CQE_F_*) */
	uint32_t rec;	     /* op record while in flight; 0 when idle */
	uint32_t gen;	     /* that record's generation */
	uint8_t state;	     /* URT_OP_* */
	uint8_t flags;	     /* URT_OPF_* about the last result */
	uint16_t backoff_ms; /* multishot accept: current backoff */
	uint32_t reserved;   /* debug builds: fingerprint of the submitted fd, buffer, length */
	uint64_t timeout_ns; /* deadline for the next submission; 0: none */
};

#define URT_OP_IDLE	0 /* nothing submitted */
#define URT_OP_INFLIGHT 1 /* submitted, result not yet seen */
#define URT_OP_DONE	2 /* completed; the next evaluation returns res */
#define URT_OP_STREAM	3 /* a multishot stream is armed or has queued results */

#define URT_OPF_TIMED_OUT 0x01 /* the deadline fired (res is -ECANCELED) */

/*
 * Direct descriptors (opts.fixed_fds, URT_FEAT_FIXED_FDS): an accepted
 * socket that lives only in the ring's registered file table is named
 * URT_FD_FIXED | slot, a positive int (fd >= 0 tests keep working). Every
 * operation of this header and urt/net.h takes it (the SQE names the slot
 * with IOSQE_FIXED_FILE; urt_close and urt_close_detached free the slot).
 * No process has 2^30 descriptors, so a plain system call given one fails
 * with EBADF (fcntl cannot set O_NONBLOCK: direct sockets are accepted
 * non-blocking; setsockopt: urt_setsockopt, or set it on the listener,
 * whose TCP options accepted sockets inherit); urt's own calls that have
 * only a plain path answer -EBADFD (urt_ftruncate's pool fallback), and
 * the kernel answers -EBADF where a directory descriptor (dfd) is one. A slot is freed only by a
 * close through urt, which closes the socket. With the table full an
 * accept fails with -ENFILE, and the kernel closes the connection it took
 * off the backlog (it had nowhere to put it).
 */
#define URT_FD_FIXED 0x40000000

/* urt_fd_is_fixed - whether fd is a direct descriptor (URT_FD_FIXED | slot). */
static inline bool urt_fd_is_fixed(int fd)
{
	return (unsigned)fd - URT_FD_FIXED < URT_FD_FIXED;
}

/* urt_op_init - an idle handle. */
static inline void urt_op_init(struct urt_op *op)
{
	__builtin_memset(op, 0, sizeof(*op));
}

/*
 * urt_op_set_timeout - give the next submission through op a deadline of
 * timeout_ns from submission (a linked timeout): if it fires first, the
 * operation completes with -ECANCELED and urt_op_timed_out() is true. Kept
 * for later submissions until set to 0.
 */
static inline void urt_op_set_timeout(struct urt_op *op, uint64_t timeout_ns)
{
	op->timeout_ns = timeout_ns;
}

/* urt_op_timed_out - whether the last result came from the deadline. */
static inline bool urt_op_timed_out(const struct urt_op *op)
{
	return op->flags & URT_OPF_TIMED_OUT;
}

/* urt_op_busy - whether an operation (or stream) of this handle is live. */
static inline bool urt_op_busy(const struct urt_op *op)
{
	return op->state == URT_OP_INFLIGHT || op->state == URT_OP_STREAM;
}

/*
 * urt_op_cancel - ask the kernel to stop the operation. Its await then
 * returns -ECANCELED, or the real result if the operation won the race; a
 * stream ends after its queued results. A sleep ends at once.
 * Return: 0; -EALREADY if nothing is in flight (or a cancel already is).
 */
int urt_op_cancel(struct urt_op *op);

/*
 * urt_op_take_late - the result of an operation that completed but was
 * never awaited, and the handle made idle. For drop: a task that returned
 * or was aborted with an operation in flight has it cancelled, but the
 * kernel may have finished it first, and drop runs only after its last
 * completion (docs/io.md, lifetime rule 2). The result lands in the handle
 * alone: the usual idiom, URT_AWAIT(t, st->fd = urt_openat(...)), left
 * URT_PENDING in st->fd, so a descriptor an openat, accept or socket made
 * is lost unless drop takes it here and closes it. What the result means
 * depends on which call was in flight (a byte count for a read): the
 * URT_PENDING still in the field the await assigns says which.
 * Return: the result, >= 0 or -errno as the await would have returned it
 * (-ECANCELED if the cancel won); -ENODATA if the handle holds none (idle:
 * never used, or its result was read); -EBUSY if an operation or stream is
 * still live on it (in a poll; never in a drop).
 */
int urt_op_take_late(struct urt_op *op);

/*
 * urt_task_cancel_ops - urt_op_cancel for every operation of t.
 * Return: how many operations were cancelled by this call (sleeps and
 * streams included; one already being cancelled is not counted).
 */
int urt_task_cancel_ops(struct urt_task *t);

/*
 * urt_nop - awaitable: a no-op through the ring (result 0). For tests and
 * for measuring the runtime's own cost per operation.
 */
int urt_nop(struct urt_task *t, struct urt_op *op);

/* --- files --------------------------------------------------------------- */

struct open_how;

/*
 * urt_openat2 - awaitable openat2(2) (<linux/openat2.h>): how->resolve can
 * keep the path beneath dfd (RESOLVE_BENEATH), refuse symlinks, and more.
 * O_CLOEXEC is added. path and how must stay valid until completion.
 * Return: the descriptor; -errno as openat2 reports it (-EXDEV for a path
 * that escapes with RESOLVE_BENEATH); -EFAULT if how is in frame memory.
 */
int urt_openat2(struct urt_task *t, struct urt_op *op, int dfd, const char *path,
		struct open_how *how);

/* urt_openat - awaitable openat(2); path must stay valid until completion. */
int urt_openat(struct urt_task *t, struct urt_op *op, int dfd, const char *path, int flags,
	       mode_t mode);

/* urt_read - awaitable pread(2) at off (-1: the file position). */
int urt_read(struct urt_task *t, struct urt_op *op, int fd, void *buf, size_t len, int64_t off);

/* urt_write - awaitable pwrite(2) at off (-1: the file position). */
int urt_write(struct urt_task *t, struct urt_op *op, int fd, const void *buf, size_t len,
	      int64_t off);

/*
 * urt_poll - awaitable: wait until fd is ready for events (POLLIN,
 * POLLOUT, ... from <poll.h>; IORING_OP_POLL_ADD, one shot). With a
 * deadline (urt_op_set_timeout) it is the way to wait for room in a socket
 * without holding a kernel worker (see urt_splice).
 * Return: the events that are ready (> 0); -ECANCELED; -errno.
 */
int urt_poll(struct urt_task *t, struct urt_op *op, int fd, unsigned events);

/*
 * urt_splice - awaitable splice(2): move up to len bytes from fd_in to
 * fd_out inside the kernel, without copying them through user memory. One
 * of the two must be a pipe. off_in / off_out: the offset to read / write
 * at in a file that is not a pipe (its file position is left alone), or -1
 * for none (a pipe, a socket, or the file position). flags: SPLICE_F_*
 * (<fcntl.h>); SPLICE_F_MORE says more will follow (MSG_MORE on a
 * socket). Whether a pipe end blocks is its O_NONBLOCK, as for splice(2).
 * The kernel runs it on a worker thread of the ring (io-wq): a splice that
 * blocks (a full socket, a pipe end without O_NONBLOCK) holds that worker,
 * never the runtime's thread; a cancel interrupts it. Both descriptors must
 * stay open until completion.
 * Return: bytes moved (fewer than len is not an error: call again for the
 * rest; 0 at the end of fd_in); -errno as splice(2) reports it (-EINVAL:
 * neither is a pipe, an offset given for a pipe, or a file that cannot be
 * spliced; -EAGAIN: a non-blocking pipe empty or full; -EBADF); -ENOSYS or
 * -EINVAL from a kernel without IORING_OP_SPLICE (before 5.7).
 */
int urt_splice(struct urt_task *t, struct urt_op *op, int fd_in, int64_t off_in, int fd_out,
	       int64_t off_out, unsigned len, unsigned flags);

/* urt_fsync - awaitable fsync(2), or fdatasync(2) if datasync. */
int urt_fsync(struct urt_task *t, struct urt_op *op, int fd, bool datasync);

struct statx;
/* urt_statx - awaitable statx(2); path and out must stay valid until completion. */
int urt_statx(struct urt_task *t, struct urt_op *op, int dfd, const char *path, int flags,
	      unsigned mask, struct statx *out);

/* urt_close - awaitable close(2); of a direct descriptor (URT_FD_FIXED),
 * IORING_OP_CLOSE of its slot, which frees the slot for the next accept. */
int urt_close(struct urt_task *t, struct urt_op *op, int fd);

/*
 * urt_close_detached - close fd through the ring with no task waiting:
 * the runtime owns the operation and finishes it on its own (deinit waits
 * for it). For a drop, which cannot await. A direct descriptor's slot is
 * freed the same way.
 * Return: 0; -ESRCH if this thread has no runtime.
 */
int urt_close_detached(int fd);

/* --- the file system: names and sizes ------------------------------------ */

/*
 * Operations on names (fs.c). Paths are taken as the *at(2) calls take
 * them: relative to dfd (AT_FDCWD: the working directory), unless
 * absolute. A path must stay valid until the await returns, and must not
 * lie in the frame arena (-EFAULT). Each returns 0 or -errno exactly as
 * its system call reports it; the errors a program usually handles are
 * named at each.
 */

/*
 * urt_mkdirat - awaitable mkdirat(2) (IORING_OP_MKDIRAT, Linux 5.15).
 * Return: 0; -EEXIST (the name exists, whatever it is); -ENOENT (a parent
 * is missing); -ENOTDIR; -EACCES; -errno.
 */
int urt_mkdirat(struct urt_task *t, struct urt_op *op, int dfd, const char *path, mode_t mode);

/*
 * urt_unlinkat - awaitable unlinkat(2) (IORING_OP_UNLINKAT, 5.11); flags 0
 * removes a file, AT_REMOVEDIR an empty directory.
 * Return: 0; -ENOENT; -EISDIR (a directory without AT_REMOVEDIR);
 * -ENOTDIR (not a directory with AT_REMOVEDIR); -ENOTEMPTY; -errno.
 */
int urt_unlinkat(struct urt_task *t, struct urt_op *op, int dfd, const char *path, int flags);

/*
 * urt_renameat - awaitable renameat2(2) (IORING_OP_RENAMEAT, 5.11); flags:
 * RENAME_NOREPLACE, RENAME_EXCHANGE (<fcntl.h>, _GNU_SOURCE) or 0.
 * Return: 0; -ENOENT (oldpath missing, or exchanging with a missing
 * newpath); -EEXIST (RENAME_NOREPLACE and newpath exists); -EXDEV (across
 * file systems); -ENOTEMPTY; -EISDIR; -EINVAL (bad flags); -errno.
 */
int urt_renameat(struct urt_task *t, struct urt_op *op, int olddfd, const char *oldpath, int newdfd,
		 const char *newpath, unsigned flags);

/*
 * urt_linkat - awaitable linkat(2) (IORING_OP_LINKAT, 5.15); flags:
 * AT_SYMLINK_FOLLOW or 0.
 * Return: 0; -EEXIST (newpath exists); -ENOENT (oldpath missing); -EXDEV;
 * -EPERM (oldpath is a directory); -errno.
 */
int urt_linkat(struct urt_task *t, struct urt_op *op, int olddfd, const char *oldpath, int newdfd,
	       const char *newpath, int flags);

/*
 * urt_symlinkat - awaitable symlinkat(2) (IORING_OP_SYMLINKAT, 5.15): a
 * link at linkpath (relative to newdfd) holding target, which need not
 * exist.
 * Return: 0; -EEXIST (linkpath exists); -ENOENT (a parent of linkpath is
 * missing, or target is ""); -errno.
 */
int urt_symlinkat(struct urt_task *t, struct urt_op *op, const char *target, int newdfd,
		  const char *linkpath);

/*
 * urt_fallocate - awaitable fallocate(2) (IORING_OP_FALLOCATE, 5.6): mode
 * 0 allocates [off, off + len) (the size grows if it ends beyond it);
 * FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE and the rest as fallocate(2).
 * Return: 0; -EINVAL (off < 0 or len <= 0, refused before submitting; or
 * a mode the file system refuses); -EOPNOTSUPP; -ENOSPC; -EBADF (fd not
 * open for writing: a directory is never); -ESPIPE (a pipe); -ENODEV
 * (another file that is not a regular file or a block device); -EFBIG
 * (off + len beyond the largest size); -errno.
 */
int urt_fallocate(struct urt_task *t, struct urt_op *op, int fd, int mode, int64_t off,
		  int64_t len);

/*
 * urt_ftruncate - awaitable ftruncate(2): the file's size becomes len.
 * Through IORING_OP_FTRUNCATE where the kernel has it (Linux 6.9,
 * URT_FEAT_FTRUNCATE); else (or with the bit in opts.features_off) on the
 * runtime's blocking pool (urt/blocking.h), as this op's operation: the
 * loop never blocks on it, and every rule of the handle holds, except that
 * a deadline (urt_op_set_timeout) does not apply there; urt_op_cancel
 * drops it if it has not started, else it completes with its result.
 * Return: 0; -EINVAL (len < 0; fd not open for writing, or not a regular
 * file); -EBADF; -EFBIG; -EPERM (an append-only or immutable file);
 * -errno. On the pool, also -EBUSY (opts.blocking_queue jobs out already)
 * and -EAGAIN (no op record, or no worker thread could start), and
 * -EBADFD for a direct descriptor (URT_FD_FIXED: a worker's plain call
 * cannot name it).
 */
int urt_ftruncate(struct urt_task *t, struct urt_op *op, int fd, int64_t len);

/*
 * Helpers that await more than once keep their progress in their own
 * handle, so the caller's poll still reads one await. When one returns a
 * count (all of len, or less at end of file), h->done is already back at
 * 0: the same handle serves the next call as it is. After an error h->done
 * keeps how far it got (see each call).
 */
struct urt_io_all {
	struct urt_op op;
	size_t done;  /* bytes moved so far */
	uint8_t zc;   /* urt_send_all: the send in flight is zero-copy */
	uint8_t copy; /* urt_send_all: the socket refused zero-copy; send plainly */
	uint16_t spare;
	uint32_t args; /* debug builds: the call's arguments, checked at every wake */
};

/*
 * urt_read_exact - awaitable: read len bytes at off (or from the file
 * position if off is -1), retrying short reads. off >= 0: each read is a
 * pread(2) at off + the bytes done so far, the file position untouched;
 * -1 (any negative): read(2) from the file position, which advances (a
 * pipe, a socket, or a file read in order).
 * Return: len; fewer at end of file; -EINVAL (len above INT32_MAX, or
 * h->done above len: set it back to 0 to start over); -errno (h->done says
 * how far it got).
 */
int urt_read_exact(struct urt_task *t, struct urt_io_all *h, int fd, void *buf, size_t len,
		   int64_t off);

/*
 * urt_read_all - awaitable: read fd from its file position until end of
 * file or until cap bytes fill buf, retrying short reads: a child's whole
 * stdout (urt/process.h), a pipe, a file, a socket until the peer closes.
 * Output longer than cap is not an error and nothing is lost: the await
 * returns cap with buf full and the rest left unread in fd; call it again
 * with the same handle (its h->done is back at 0 once the await returned)
 * (into more room, or a scratch buffer to discard) until it returns less
 * than it was given, which says end of file. A return below cap is always
 * end of file. A deadline on h->op (urt_op_set_timeout) bounds each read,
 * not the whole; cancel with urt_op_cancel(&h->op). h, buf and cap must
 * hold still until the await returns (debug builds report a re-evaluation
 * that passes another fd, buf or cap).
 * Return: bytes read, < cap at end of file, cap if buf is full (more may
 * follow); -EINVAL (cap above INT32_MAX, or h->done above cap: a handle
 * reused after an error without h->done set back to 0); -errno as urt_read
 * reports it (h->done bytes were read into buf before it: an await with the same
 * arguments carries on from there; set h->done to 0 to start over); the
 * extra errors of this file.
 */
int urt_read_all(struct urt_task *t, struct urt_io_all *h, int fd, void *buf, size_t cap);

/*
 * urt_write_all - awaitable: write all len bytes, retrying short writes.
 * off as for urt_read_exact: >= 0 a pwrite(2) at off + the bytes done so
 * far, the file position untouched; -1 (any negative) write(2) at the file
 * position, which advances (a pipe, a socket, or a file written in
 * order).
 * Return: len; -EINVAL (len above INT32_MAX, or h->done above len); -EIO
 * (a write that moved nothing); -errno (h->done bytes were written).
 */
int urt_write_all(struct urt_task *t, struct urt_io_all *h, int fd, const void *buf, size_t len,
		  int64_t off);

#ifdef __cplusplus
}
#endif

#endif /* URT_IO_H */
