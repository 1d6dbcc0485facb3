/* SPDX-License-Identifier: MIT */
/*
 * kern.c - the kernel below the ring: the one table through which the
 * runtime enters the kernel for its io_uring (setup, submit and wait, the
 * probe, the provided-buffer ring's registration) and reads the clock.
 *
 * The SQ and the CQ are memory either way: liburing's inline helpers
 * (io_uring_get_sqe, io_uring_for_each_cqe, io_uring_cq_advance, the
 * buffer ring's add and advance) work on them unchanged, so the code that
 * encodes SQEs, refills the buffer ring and walks bundles is the same
 * whatever is behind the table. Only what crosses into the kernel goes
 * through it: the real table (here) makes the liburing calls; a simulated
 * kernel (deterministic simulation) supplies its own and fills the same
 * rings.
 *
 * Every call takes the runtime's table (rt->kern, set at init, never NULL
 * after it); urt_now_ns reads this thread's runtime's clock, or
 * CLOCK_MONOTONIC when there is no runtime or it runs on the real kernel.
 */
#include "io_internal.h"

#include <errno.h>
#include <liburing.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
/*
 * liburing maps and unmaps the rings with raw system calls, which
 * ThreadSanitizer does not see: a thread's ring may be mapped where
 * another thread's was unmapped a moment before (or overlapping it), and
 * TSan would take the new owner's first accesses for a race with the old
 * owner's last. Every unmap is a hand-over to every later map: a release
 * at teardown, an acquire at setup, on one address for all rings.
 */
static char tsan_ring_handover;

static void tsan_rings(struct io_uring *ring, bool setup)
{
	(void)ring;
	if (setup)
		__tsan_acquire(&tsan_ring_handover);
	else
		__tsan_release(&tsan_ring_handover);
}
#else
static void tsan_rings(struct io_uring *ring, bool setup)
{
	(void)ring, (void)setup;
}
#endif

static int real_setup(void *ctx, struct io_uring *ring, unsigned entries,
		      struct io_uring_params *p)
{
	int ret;

	(void)ctx;
	ret = io_uring_queue_init_params(entries, ring, p);
	if (!ret) {
		tsan_rings(ring, true);
		/* every enter then skips the ring file's lookup and reference
		 * (fdget/fput); only the registering thread may use it, which
		 * is the runtime's (SINGLE_ISSUER); Linux 5.18, else the fd */
		(void)io_uring_register_ring_fd(ring);
	}
	return ret;
}

static void real_teardown(void *ctx, struct io_uring *ring)
{
	(void)ctx;
	io_uring_queue_exit(ring);
	tsan_rings(ring, false); /* (its fields only: no memory of it is read) */
}

static struct io_uring_probe *real_probe(void *ctx, struct io_uring *ring)
{
	(void)ctx;
	return io_uring_get_probe_ring(ring);
}

static int real_enter(void *ctx, struct io_uring *ring, enum urt__enter how, uint64_t timeout_ns)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;

	(void)ctx;
	switch (how) {
	case URT__ENTER_SUBMIT:
		return io_uring_submit(ring);
	case URT__ENTER_EVENTS:
		return io_uring_submit_and_get_events(ring);
	case URT__ENTER_FLUSH:
		return io_uring_get_events(ring);
	case URT__ENTER_WAIT:
	default:
		/* no deadline: the plain submit-and-wait, the same single enter
		 * (GETEVENTS, min_complete 1) without the peek loop of the timed
		 * call or a timespec to compute */
		if (timeout_ns == URT_TICK_FOREVER)
			return io_uring_submit_and_wait(ring, 1);
		ts.tv_sec = (long long)(timeout_ns / 1000000000u);
		ts.tv_nsec = (long long)(timeout_ns % 1000000000u);
		return io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, NULL);
	}
}

static int real_buf_ring(void *ctx, struct io_uring *ring, struct io_uring_buf_reg *reg, bool on)
{
	(void)ctx;
	return on ? io_uring_register_buf_ring(ring, reg, 0)
		  : io_uring_unregister_buf_ring(ring, reg->bgid);
}

static uint64_t real_now(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int ret_errno(int ret)
{
	return ret < 0 ? -errno : ret;
}

static int real_socket(void *ctx, int domain, int type, int protocol)
{
	(void)ctx;
	return ret_errno(socket(domain, type, protocol));
}

static int real_setsockopt(void *ctx, int fd, int level, int name, const void *val,
			   socklen_t len)
{
	(void)ctx;
	return ret_errno(setsockopt(fd, level, name, val, len));
}

static int real_getsockopt(void *ctx, int fd, int level, int name, void *val, socklen_t *len)
{
	(void)ctx;
	return ret_errno(getsockopt(fd, level, name, val, len));
}

static int real_connect(void *ctx, int fd, const struct sockaddr *sa, socklen_t len)
{
	(void)ctx;
	return ret_errno(connect(fd, sa, len));
}

static int real_bind(void *ctx, int fd, const struct sockaddr *sa, socklen_t len)
{
	(void)ctx;
	return ret_errno(bind(fd, sa, len));
}

static int real_listen(void *ctx, int fd, int backlog)
{
	(void)ctx;
	return ret_errno(listen(fd, backlog));
}

static int real_getsockname(void *ctx, int fd, struct sockaddr *sa, socklen_t *len)
{
	(void)ctx;
	return ret_errno(getsockname(fd, sa, len));
}

static int real_close(void *ctx, int fd)
{
	(void)ctx;
	return ret_errno(close(fd));
}

static int real_files(void *ctx, struct io_uring *ring, unsigned n)
{
	(void)ctx;
	return n ? io_uring_register_files_sparse(ring, n) : io_uring_unregister_files(ring);
}

const struct urt__kern urt__kern_real = {
	.setup = real_setup,
	.teardown = real_teardown,
	.probe = real_probe,
	.enter = real_enter,
	.buf_ring = real_buf_ring,
	.now = real_now,
	.socket = real_socket,
	.setsockopt = real_setsockopt,
	.getsockopt = real_getsockopt,
	.connect = real_connect,
	.bind = real_bind,
	.listen = real_listen,
	.getsockname = real_getsockname,
	.close = real_close,
	.files = real_files,
};

void urt__fd_drop(struct urt_runtime *rt, int fd)
{
	if (urt_fd_is_fixed(fd)) /* only the ring can free a slot */
		URT_DISCARD(urt_close_detached(fd));
	else
		rt->kern->close(rt->kern_ctx, fd);
}

uint64_t urt_now_ns(void)
{
	struct urt_runtime *rt = urt__rt;

	if (URT_UNLIKELY(rt && rt->kern != &urt__kern_real))
		return rt->kern->now(rt->kern_ctx);
	return real_now(NULL);
}
