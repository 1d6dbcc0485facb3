/* SPDX-License-Identifier: MIT */
/*
 * sim_internal.h - the simulated kernel (runtime/sim/): what its files
 * share, and the table the loop installs when urt_runtime_opts.sim is
 * set; not installed. sim sits on the I/O layer's table and user_data
 * conventions, and on nothing else of the runtime.
 *
 * sim.c is the core: the rings, operations, events in virtual time, wait
 * queues, linked timeouts and cancellation. net.c is the network: sockets
 * over in-memory byte queues, and the descriptor table.
 */
#ifndef URT_SIM_INTERNAL_H
#define URT_SIM_INTERNAL_H

#include "../io/io_internal.h"
#include "urt/sim.h"

#include <liburing.h>
#include <stdio.h>
#include <sys/socket.h>

URT_HIDDEN extern const struct urt__kern urt__kern_sim;

/* The model's descriptors start here: never a real one (the kernel's
 * nr_open is at most 2^20), so a stray close(2) of one fails with EBADF
 * instead of closing a real file, and a leak stays visible to the model. */
#define SIM_FD_BASE (1 << 24)

/* A wait queue: operations parked until something changes (indices + 1). */
struct sim_wq {
	uint32_t head, tail;
};

enum sim_op_state {
	OPS_FREE,
	OPS_SCHED, /* an event will run it */
	OPS_WAIT,  /* parked on a wait queue */
	OPS_NEVER, /* parked for good (the wake eventfd's read) */
};

struct sim_op {
	struct io_uring_sqe sqe; /* as submitted */
	uint32_t gen;		 /* bumped at free: stale events skip it */
	uint8_t state;
	uint8_t is_lt;	 /* a linked timeout */
	uint8_t started; /* multishot: has posted at least once */
	uint32_t link;	 /* target: its linked timeout; timeout: its target (index + 1) */
	uint32_t wnext, wprev;
	struct sim_wq *wq;
	uint32_t left; /* multishot recv: bytes before the arm's limit ends it */
	uint32_t next_free;
	struct sockaddr_storage sa; /* CONNECT: the address, copied at submission */
};

struct sim_sock;

struct urt_sim {
	uint64_t rng;
	uint64_t now, max_lat;
	uint64_t hash, events, stalls;
	/* the rings */
	unsigned *sq_head, *sq_tail, *sq_flags, *sq_dropped, *sq_array;
	unsigned *cq_head, *cq_tail, *cq_overflow;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	unsigned sq_entries, cq_entries;
	void *mem;
	/* operations, addressed by index */
	struct sim_op *op;
	uint32_t nop, op_cap, op_free, live_ops;
	/* events: a heap of (time, seq, op, op's gen) */
	struct sim_ev *ev;
	uint32_t nev, ev_cap;
	/* held back by a full CQ, FIFO */
	struct io_uring_cqe *over;
	uint32_t nover, over_cap;
	/* the provided-buffer ring (group 0), read as the kernel does */
	struct io_uring_buf_ring *br;
	uint32_t br_entries;
	uint16_t br_head;
	/* the network (net.c) */
	struct sim_sock **sock; /* each its own allocation: parked operations point into them */
	uint32_t nsock, sock_cap;
	uint32_t *fd; /* descriptor - SIM_FD_BASE -> socket index + 1; 0: free */
	uint32_t nfd, fd_cap, fds_open;
	uint16_t next_port;
	uint32_t rcvbuf; /* bytes a connection's receive queue holds */
	uint32_t short_pct;
	FILE *trace;
	uint32_t faults_pct, fault_kinds;
	uint64_t faults;
};

/* --- sim.c: for net.c --- */
URT_HIDDEN uint64_t urt__sim_rand(struct urt_sim *s);
/* The op's completion: its CQE (flags | MORE if `more`), and, unless
 * more, the op ends (its linked timeout cancelled). */
URT_HIDDEN void urt__sim_post(struct urt_sim *s, uint32_t i, int32_t res, uint32_t flags, bool more);
/* Park op i on q; wake every op parked on q (each runs again after a latency). */
URT_HIDDEN void urt__sim_park(struct urt_sim *s, uint32_t i, struct sim_wq *q);
URT_HIDDEN void urt__sim_wake(struct urt_sim *s, struct sim_wq *q);
/* Run op i again after a latency (a multishot that has more to give). */
URT_HIDDEN void urt__sim_again(struct urt_sim *s, uint32_t i);
/* Run op i again after delay_ns (a fault's delay). */
URT_HIDDEN void urt__sim_later(struct urt_sim *s, uint32_t i, uint64_t delay_ns);
/* Whether a fault of kind (URT_SIM_FAULT_*) strikes now (counted). */
URT_HIDDEN bool urt__sim_fault(struct urt_sim *s, uint32_t kind);
/* The next provided buffer, taken (false: the ring is empty). */
URT_HIDDEN bool urt__sim_buf(struct urt_sim *s, uint64_t *addr, uint32_t *len, uint16_t *bid);

/* --- net.c: for sim.c --- */
/* Run a socket operation now. Return: true if the opcode is the network's. */
URT_HIDDEN bool urt__sim_net_run(struct urt_sim *s, uint32_t i);
URT_HIDDEN int urt__sim_close(struct urt_sim *s, int fd);
URT_HIDDEN void urt__sim_net_free(struct urt_sim *s);
URT_HIDDEN int urt__sim_socket(void *ctx, int domain, int type, int protocol);
URT_HIDDEN int urt__sim_setsockopt(void *ctx, int fd, int level, int name, const void *val,
				   socklen_t len);
URT_HIDDEN int urt__sim_getsockopt(void *ctx, int fd, int level, int name, void *val,
				   socklen_t *len);
URT_HIDDEN int urt__sim_bind(void *ctx, int fd, const struct sockaddr *sa, socklen_t len);
URT_HIDDEN int urt__sim_listen(void *ctx, int fd, int backlog);
URT_HIDDEN int urt__sim_getsockname(void *ctx, int fd, struct sockaddr *sa, socklen_t *len);

#endif /* URT_SIM_INTERNAL_H */
