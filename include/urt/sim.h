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
 * send and zero-copy send with its notification, shutdown, close, and the
 * plain socket calls urt_listen_tcp makes), and files in
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
 * Threads: a simulated runtime is one runtime on one thread. Remote wakes
 * and the blocking pool are outside the model.
 */
#ifndef URT_SIM_H
#define URT_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

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
	/* virtual time at the start; 0: 1 s (so no deadline computes below 0) */
	uint64_t start_ns;
	/* bytes a connection's receive queue holds (the back-pressure); 0: 64 KiB */
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

/*
 * urt_sim_create - a simulated kernel for one runtime (give it in
 * urt_runtime_opts.sim; it serves that runtime until deinit, then may be
 * read and destroyed).
 * Return: 0; -ENOMEM; -EINVAL (NULL out or opts).
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

#ifdef __cplusplus
}
#endif

#endif /* URT_SIM_H */
