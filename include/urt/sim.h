/* SPDX-License-Identifier: MIT */
/*
 * urt/sim.h - a simulated kernel below a runtime's ring: deterministic,
 * seeded and replayable runs in virtual time.
 *
 *	struct urt_sim *sim;
 *	urt_sim_create(&sim, &(struct urt_sim_opts){ .seed = 42 });
 *	urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = sim });
 *	... spawn, urt_run ...
 *	urt_runtime_deinit(&rt);
 *	printf("hash %016llx\n", (unsigned long long)urt_sim_hash(sim));
 *	urt_sim_destroy(sim);
 *
 * The runtime prepares its SQEs and reads its CQEs exactly as on the real
 * kernel (the SQ, the CQ and the buffer ring are memory either way); only
 * what would enter the kernel is answered by the model, which executes
 * each submission and posts its completion. One seed decides everything
 * the model chooses: the latency of each operation, and so the order in
 * which completions that are due together arrive. The runtime's clock
 * (urt_now_ns, deadlines, sleeps) reads virtual time: a wait jumps to the
 * next event, so a sleep of an hour costs nothing.
 *
 * Same seed, same program, same binary: the same sequence of events, and
 * the same urt_sim_hash, a running hash of every submission the model took
 * (opcode, descriptor, length, flags, user_data) and every completion it
 * posted (user_data, result, flags, the virtual time).
 *
 * What the model executes (docs/simulation.md has the table): NOP,
 * ASYNC_CANCEL, LINK_TIMEOUT, the runtime's wake read (which never
 * completes: no other thread runs in a simulation), and TCP-like stream
 * sockets over in-memory queues (connect, accept and multishot accept,
 * recv and multishot recv into the provided-buffer ring, one buffer a
 * completion, bundles or buffers filled in part as the kernel does them,
 * send and zero-copy send with its notification, shutdown, one-shot poll,
 * close, and the plain socket calls urt_listen_tcp makes; pipes made by
 * urt_sim_pipe read and written alike), and files in
 * memory: a file system of the model's own, empty at the start (openat,
 * openat2, read and write at an offset or at the file position, statx,
 * fsync, fallocate, ftruncate, mkdirat, unlinkat, renameat, close; a
 * relative path starts at the model's root, which is its working
 * directory). Any other opcode completes with -EOPNOTSUPP; the probe
 * reports only these, and the runtime's feature bits and fallbacks follow
 * from it (URT_FEAT_FTRUNCATE, _SEND_ZC and _RECV_BUNDLE are on, and
 * _BUF_INC where features_off leaves bundles out). Make sockets after urt_runtime_init,
 * on the runtime's thread, and close sockets and files through the ring
 * (urt_close, urt_close_detached): the model's descriptors start at 2^24,
 * never a real one.
 *
 * Threads: a simulated runtime is one runtime on one thread. What would
 * bring another thread in answers -EOPNOTSUPP at once, the same in every
 * run: the blocking pool (urt_blocking_run, and so urt_getaddrinfo,
 * urt_dial and the ftruncate fallback), urt_waker_new, urt_spawn_remote,
 * and urt_proc_spawn on the runtime's thread.
 */
#ifndef URT_SIM_H
#define URT_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct urt_sim;

struct urt_sim_opts {
	uint64_t seed;
	/* an operation's latency is drawn from [0, max_latency_ns]; 0: 10 us;
	 * more than an hour is taken as an hour (virtual time never nears its
	 * wrap) */
	uint64_t max_latency_ns;
	/* virtual time at the start; 0: 1 s (so no deadline computes below 0);
	 * at most 2^62 (centuries before the clock could wrap). The clock moves
	 * at each wait to the next event, 50-100 ns at each enter and 1 ns at
	 * each read (urt_now_ns), so a loop polling it sees time pass */
	uint64_t start_ns;
	/* bytes a connection's receive queue holds (the back-pressure); 0: 64
	 * KiB; at most 1 GiB */
	uint32_t rcvbuf;
	/* percent of transfers (sends, receives) cut short to a length drawn
	 * from the seed; 0: none */
	uint32_t short_pct;
	/* where to print the trace (every SQE taken, every CQE posted, with
	 * the virtual time and the running hash); NULL: none */
	FILE *trace;
	/* faults: at each chance of one of the kinds in fault_kinds (0: all
	 * of them), it strikes with probability faults_pct percent; 0: never.
	 * Each is something the real kernel does too: */
	uint32_t faults_pct;
	uint32_t fault_kinds; /* URT_SIM_FAULT_* */
	/* bytes the model's files may hold in all (contents are dense: a
	 * hole counts); a write past it is cut short, then fails with
	 * -ENOSPC, as on a full disk; 0: 64 MiB */
	uint64_t fs_bytes;
	/* called after every event (each SQE taken, each operation run),
	 * with check_arg: where a program checks its invariants as the run
	 * goes (urt_runtime_stats, urt_sim_bufs_ready); it may read the
	 * runtime's state but must not call into the ring; NULL: none */
	void (*check)(struct urt_sim *sim, void *check_arg);
	void *check_arg;
	/* model a kernel before 5.19: an enter that submits first flushes what
	 * a full CQ held back, and while some is still held refuses the
	 * submission with -EBUSY, taking nothing; and an enter that only
	 * submits also runs what is due (as operations that complete inline,
	 * a NOP, post at submission). false: as 5.19 on (NODROP holds them) */
	bool busy_on_overflow;
};

#define URT_SIM_FAULT_RESET                                                                        \
	0x01 /* a send or receive finds its connection reset (-ECONNRESET, both ends) */
/* (no -ENOBUFS fault: the kernel answers it only when its view of the
 * buffer ring is empty, which a small urt_runtime_opts.buf_count makes
 * happen for real; one with buffers in the ring would be a kernel the
 * runtime need not survive) */
#define URT_SIM_FAULT_EMFILE                                                                       \
	0x04 /* an accept fails with -EMFILE; the connection stays in the backlog */
#define URT_SIM_FAULT_ACCEPT_LATE 0x08 /* an accept waits up to 100 ms more (a slow handshake) */
#define URT_SIM_FAULT_CONNECT	  0x10 /* a connect fails with -ECONNREFUSED or -ETIMEDOUT */
#define URT_SIM_FAULT_EINTR	  0x20 /* an enter returns -EINTR before it takes anything (a signal) */
#define URT_SIM_FAULT_EIO	  0x40 /* a read, write or fsync of a file fails with -EIO (a bad disk) */
#define URT_SIM_FAULT_ALL	  0x7d /* every kind above */

/*
 * urt_sim_create - a simulated kernel for one runtime (give it in
 * urt_runtime_opts.sim; it serves that runtime until deinit, then may be
 * read and destroyed).
 * Return: 0; -ENOMEM; -EINVAL (NULL out or opts, start_ns past 2^62,
 * faults_pct over 100, a fault_kinds bit not in URT_SIM_FAULT_ALL, rcvbuf
 * over 1 GiB).
 */
int urt_sim_create(struct urt_sim **out, const struct urt_sim_opts *opts);

/* urt_sim_destroy - free it; the runtime using it must be deinitialised. */
void urt_sim_destroy(struct urt_sim *sim);

/* urt_sim_hash - the running hash of the run's events so far. */
uint64_t urt_sim_hash(const struct urt_sim *sim);

/* urt_sim_events - submissions taken plus completions posted so far. */
uint64_t urt_sim_events(const struct urt_sim *sim);

/* urt_sim_now - the virtual time, in ns. */
uint64_t urt_sim_now(const struct urt_sim *sim);

/* urt_sim_faults - faults the model has injected so far. */
uint64_t urt_sim_faults(const struct urt_sim *sim);

/* urt_sim_fds_open - descriptors of the model open now (a leak check). */
uint32_t urt_sim_fds_open(const struct urt_sim *sim);

/*
 * urt_sim_bufs_ready - provided buffers the model may fill now: those the
 * runtime published in its ring past the model's head (0 without a ring).
 * Never more than the ring's entries, and never more than the runtime
 * counts free (urt_runtime_stats bufs_free: it counts a buffer out when it
 * reaps the completion that took it, after the model took it).
 */
uint32_t urt_sim_bufs_ready(const struct urt_sim *sim);

/*
 * urt_sim_stalls - how often the runtime waited for ever with nothing left
 * that could complete: on a real kernel it would sleep for good; here the
 * wait fails, and urt_tick and urt_run return -EDEADLK.
 */
uint64_t urt_sim_stalls(const struct urt_sim *sim);

/*
 * The program's own calls on the model, outside the ring: what a test or a
 * simulated client does with socketpair(2), connect(2), read(2), write(2)
 * and the like on the real kernel, done on the model's descriptors (so a
 * simulated program can have its own end of a connection without a
 * second runtime). They work with or without a runtime on the model, and
 * their descriptors are the model's (from URT_SIM_FD_BASE): a runtime on
 * the same model uses them in its operations as it would use the kernel's.
 *
 * Each call runs at once: nothing else runs while it does (the runtime's
 * operations run only inside its enters). A call that would block on the
 * real kernel returns what there is; with nothing to give, -EAGAIN if the
 * descriptor is non-blocking (or flags has MSG_DONTWAIT), else -EDEADLK:
 * it would wait for ever, as nothing could ever satisfy it. What a call
 * changes (bytes written, an end of file, a connection queued on a
 * backlog) wakes the model's waiting operations; their completions come
 * with the runtime's next enter, after their latency. Back-pressure: a
 * write puts what the peer's receive queue (urt_sim_opts.rcvbuf) has room
 * for and returns that count, a short write; with no room at all, -EAGAIN
 * or -EDEADLK as above. No faults strike these calls, and transfers are
 * never cut by short_pct. Each call is part of the run: mixed into
 * urt_sim_hash and printed in the trace. Every call with a NULL sim
 * returns -EINVAL.
 */
#define URT_SIM_FD_BASE (1 << 24) /* the model's first descriptor: never a real one */

/*
 * urt_sim_socket - a TCP socket of the model (as socket(2); type may carry
 * SOCK_NONBLOCK, SOCK_CLOEXEC).
 * Return: a descriptor; -EAFNOSUPPORT (not AF_INET/AF_INET6 SOCK_STREAM).
 */
int urt_sim_socket(struct urt_sim *sim, int domain, int type);

/*
 * urt_sim_socketpair - a connected pair of stream sockets (socketpair(2)
 * with AF_UNIX; type SOCK_STREAM, may carry SOCK_NONBLOCK, SOCK_CLOEXEC):
 * what one end writes the other reads.
 * Return: 0, fd[0] and fd[1] set; -EAFNOSUPPORT (not SOCK_STREAM).
 */
int urt_sim_socketpair(struct urt_sim *sim, int type, int fd[2]);

/*
 * urt_sim_pipe - a pipe (pipe2(2); flags O_NONBLOCK, O_CLOEXEC): fd[0]
 * reads what fd[1] writes. A socket call on either end answers -ENOTSOCK,
 * a read of fd[1] or a write of fd[0] -EBADF; closing fd[1] is fd[0]'s end
 * of file, closing fd[0] makes writes fail with -EPIPE.
 * Return: 0; -EINVAL (other flags).
 */
int urt_sim_pipe(struct urt_sim *sim, int flags, int fd[2]);

/*
 * urt_sim_listen - a non-blocking listener of the model on port (0: a free
 * one, in *bound_port if not NULL), any local address: socket, bind and
 * listen, as urt_listen_tcp makes on a runtime of the model.
 * Return: its descriptor; -EAFNOSUPPORT; -EADDRINUSE (a listener has the
 * port).
 */
int urt_sim_listen(struct urt_sim *sim, int domain, uint16_t port, uint16_t *bound_port);

/*
 * urt_sim_connect - connect a new socket to the model's listener at sa's
 * port (any address): the connection is queued on the listener's backlog
 * at once (the model's backlog has no bound), and an accept in flight
 * there wakes.
 * Return: 0; -EBADF; -ENOTSOCK; -EISCONN; -EINVAL (a listener);
 * -EAFNOSUPPORT; -EFAULT (no address); -ECONNREFUSED (no listener).
 */
int urt_sim_connect(struct urt_sim *sim, int fd, const struct sockaddr *sa, socklen_t len);

/*
 * urt_sim_accept - the oldest connection queued on listener lfd (flags:
 * SOCK_NONBLOCK, SOCK_CLOEXEC for the new descriptor).
 * Return: its descriptor; -EAGAIN (none, lfd non-blocking); -EDEADLK
 * (none, lfd blocking); -EBADF; -ENOTSOCK; -EINVAL (not a listener, shut
 * down, or bad flags).
 */
int urt_sim_accept(struct urt_sim *sim, int lfd, int flags);

/*
 * urt_sim_read - read(2)/recv(2): up to n bytes of what a socket or pipe
 * has queued, or of a file at its position (which moves). flags:
 * MSG_DONTWAIT.
 * Return: the bytes read; 0 at the end of file (the peer shut down or
 * closed, or the connection was reset and its error already reported)
 * or for n 0; -EAGAIN, -EDEADLK (nothing queued, see above);
 * -ECONNRESET (the peer closed with bytes unread: once, as TCP's socket
 * error; -EPIPE if its end of file came first); -EBADF (not open, or a
 * pipe's writing end); -ENOTCONN (not connected); -EFAULT (buf NULL); a
 * file's -EISDIR, -EBADF (opened write-only).
 */
ssize_t urt_sim_read(struct urt_sim *sim, int fd, void *buf, size_t n, int flags);

/*
 * urt_sim_write - write(2)/send(2): into the peer's receive queue, as much
 * as it has room for, or into a file at its position. flags: MSG_DONTWAIT.
 * Return: the bytes written (maybe fewer than n); -EAGAIN, -EDEADLK (no
 * room, see above); -EPIPE (this end shut down, the connection reset and
 * its error reported, never connected; a pipe's reader gone); the first
 * write to a peer that closed cleanly is taken (n) and brings its reset
 * back, as on TCP; -ECONNRESET (the socket error, once); -EBADF (not
 * open, or a pipe's reading end); -EFAULT (buf NULL); a file's -EBADF
 * (opened read-only), -ENOSPC.
 */
ssize_t urt_sim_write(struct urt_sim *sim, int fd, const void *buf, size_t n, int flags);

/*
 * urt_sim_shutdown - shutdown(2): SHUT_WR is the peer's end of file,
 * SHUT_RD ends this end's receives with 0.
 * Return: 0; -EBADF; -ENOTSOCK (a file, a pipe); -ENOTCONN; -EINVAL (how).
 */
int urt_sim_shutdown(struct urt_sim *sim, int fd, int how);

/*
 * urt_sim_nonblock - a socket's or pipe's O_NONBLOCK: on 1 sets it, 0
 * clears it, -1 only reads it (fcntl(2) F_GETFL/F_SETFL).
 * Return: 1 or 0, whether it is set now; -EBADF; -ENOTSOCK (a file).
 */
int urt_sim_nonblock(struct urt_sim *sim, int fd, int on);

/*
 * urt_sim_setsockopt - setsockopt(2), as the runtime's own calls on the
 * model answer it: every option is taken, and SO_LINGER is the one the
 * model keeps (on with 0 s: the close is abortive, the peer sees
 * -ECONNRESET); the queue's length is urt_sim_opts.rcvbuf whatever
 * SO_RCVBUF or SO_SNDBUF ask.
 * Return: 0; -EBADF; -ENOTSOCK (a file, a pipe); -EINVAL, -EFAULT (a
 * SO_LINGER value too short, or NULL).
 */
int urt_sim_setsockopt(struct urt_sim *sim, int fd, int level, int name, const void *val,
		       socklen_t len);

/*
 * urt_sim_close - close(2) of one of the model's descriptors, as an
 * IORING_OP_CLOSE does: a socket with bytes unread resets its peer, else
 * the peer sees the end of file (an abortive close, SO_LINGER 0: a reset).
 * Return: 0; -EBADF.
 */
int urt_sim_close(struct urt_sim *sim, int fd);

/*
 * urt_sim_open, urt_sim_mkdir, urt_sim_unlink - open(2), mkdir(2),
 * unlinkat(2) (flags 0 or AT_REMOVEDIR) on the model's file system, as
 * IORING_OP_OPENAT, _MKDIRAT and _UNLINKAT answer them (the table in
 * docs/simulation.md); a relative path starts at the model's root.
 * Return: a descriptor (open) or 0; -ENOENT, -EEXIST, -ENOTDIR, -EISDIR,
 * -ENOTEMPTY, -EINVAL, -ENAMETOOLONG, -EFAULT (path NULL).
 */
int urt_sim_open(struct urt_sim *sim, const char *path, int flags, unsigned mode);
int urt_sim_mkdir(struct urt_sim *sim, const char *path, unsigned mode);
int urt_sim_unlink(struct urt_sim *sim, const char *path, int flags);

#ifdef __cplusplus
}
#endif

#endif /* URT_SIM_H */
