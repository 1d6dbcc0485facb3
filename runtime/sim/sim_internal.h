/* SPDX-License-Identifier: MIT */
/*
 * sim_internal.h - the simulated kernel (runtime/sim/): what its files
 * share, and the table the loop installs when urt_runtime_opts.sim is
 * set; not installed. sim sits on the I/O layer's table and user_data
 * conventions, and on nothing else of the runtime.
 *
 * sim.c is the core: the rings, operations, events in virtual time, wait
 * queues, linked timeouts and cancellation, and the descriptor table that
 * sockets and files share. net.c is the network: sockets over in-memory
 * byte queues. file.c is the file system: regular files and directories
 * in memory.
 */
#ifndef URT_SIM_INTERNAL_H
#define URT_SIM_INTERNAL_H

#include "../io/io_internal.h"
#include "urt/sim.h"

#include <linux/openat2.h>

#include <liburing.h>
#include <stdio.h>
#include <sys/socket.h>

URT_HIDDEN extern const struct urt__kern urt__kern_sim;

/* The model's descriptors start here: never a real one (the kernel's
 * nr_open is at most 2^20), so a stray close(2) of one fails with EBADF
 * instead of closing a real file, and a leak stays visible to the model. */
#define SIM_FD_BASE URT_SIM_FD_BASE

/* urt_sim_opts bounds: a start this far from the wrap leaves centuries of
 * virtual time; a receive queue of a GiB keeps every result an int */
#define SIM_START_MAX  (1ull << 62)
#define SIM_RCVBUF_MAX (1u << 30)

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
	uint32_t inq;  /* recv: bytes its last transfer left in the socket, + 1 (0: none yet) */
	uint32_t got;  /* recv with MSG_WAITALL: bytes received so far */
	/* SEND_ZC whose bytes went zero-copy: its notification waits until the
	 * receiving socket has read this far (its rd_total), or goes */
	uint64_t zc_mark;
	/* what sqe.fd was when the SQE was taken: the kernel resolves the
	 * descriptor then and holds its file, so a close (or a reuse of the
	 * number) does not change what the operation works on; sockets only
	 * (files are looked up when the operation runs: a divergence) */
	uint8_t fdkind;
	uint32_t fdidx;
	uint32_t next_free;
	int32_t perr;  /* a path op: what copying its paths at submission found (-EFAULT, ...) */
	char *path[2]; /* a path op: its paths, copied at submission (freed with the op) */
	union {
		struct sockaddr_storage sa; /* CONNECT: the address, copied at submission */
		struct open_how how;	    /* OPENAT2: the how, copied at submission */
	};
};

/* A descriptor of the model: what it is, and its index among those. */
enum sim_fd_kind {
	SIM_FD_FREE,
	SIM_FD_SOCK, /* index: the socket (net.c) */
	SIM_FD_FILE, /* index: the open file description (file.c) */
};

struct sim_fd {
	uint32_t kind; /* enum sim_fd_kind */
	uint32_t idx;
};

struct sim_sock;
struct sim_inode;
struct sim_dent;
struct sim_ofd;

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
	/* live operations by user_data (sim.c: ASYNC_CANCEL finds its target
	 * without a walk over every operation): open addressing, entries op
	 * index + 1, 0 empty, UINT32_MAX a removed one */
	struct sim_udent *ud;
	uint32_t ud_cap, ud_used;
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
	uint8_t br_inc; /* registered with IOU_PBUF_RING_INC: buffers filled in part */
	/* urt_sim_opts.check: after every event */
	void (*check)(struct urt_sim *s, void *arg);
	void *check_arg;
	/* the network (net.c) */
	struct sim_sock **sock; /* each its own allocation: parked operations point into them */
	uint32_t nsock, sock_cap;
	/* the descriptor table: descriptor - SIM_FD_BASE -> what it is */
	struct sim_fd *fd;
	uint32_t nfd, fd_cap, fds_open;
	/* the file system (file.c): inodes (0 the root), names, open files */
	struct sim_inode *ino;
	uint32_t nino, ino_cap, ino_free;
	struct sim_dent *dent;
	uint32_t ndent, dent_cap;
	struct sim_ofd *ofd;
	uint32_t nofd, ofd_cap, ofd_free;
	uint64_t fs_bytes, fs_used; /* the budget, and what the files hold */
	uint16_t next_port; /* the next ephemeral port to try */
	uint32_t *lport;    /* port -> its listener (index + 1); 65,536 of them, made at first use */
	uint16_t *port_held; /* port -> sockets holding it (bound, listening, a client's end) */
	uint32_t sock_free;  /* reusable socket slots (index + 1), chained by next_free */
	uint64_t sock_serial; /* sockets made so far: their SO_COOKIE */
	uint32_t rcvbuf; /* bytes a connection's receive queue holds */
	uint32_t short_pct;
	FILE *trace;
	uint32_t faults_pct, fault_kinds;
	uint64_t faults;
	uint8_t eintr; /* the last enter was failed with -EINTR */
	bool busy_on_overflow; /* a kernel before 5.19 (urt_sim_opts) */
};

/* --- sim.c: for net.c and file.c --- */
URT_HIDDEN uint64_t urt__sim_rand(struct urt_sim *s);
/* Mix v into the run's hash. */
URT_HIDDEN void urt__sim_mix(struct urt_sim *s, uint64_t v);
/* realloc that never fails (the model aborts rather than drop anything):
 * *cap doubles (from 64). */
URT_HIDDEN void *urt__sim_grow(void *p, uint32_t *cap, size_t size);
/* A descriptor for (kind, idx): the lowest free one, as the kernel gives. */
URT_HIDDEN int urt__sim_fd_new(struct urt_sim *s, enum sim_fd_kind kind, uint32_t idx);
/* What fd is (SIM_FD_FREE: not one of the model's open descriptors), and
 * its index. */
URT_HIDDEN enum sim_fd_kind urt__sim_fd_at(const struct urt_sim *s, int fd, uint32_t *idx);
/* The op's completion: its CQE (flags | MORE if `more`), and, unless
 * more, the op ends (its linked timeout cancelled). */
URT_HIDDEN void urt__sim_post(struct urt_sim *s, uint32_t i, int32_t res, uint32_t flags,
			      bool more);
/* Park op i on q; wake every op parked on q (each runs again after a latency). */
URT_HIDDEN void urt__sim_park(struct urt_sim *s, uint32_t i, struct sim_wq *q);
URT_HIDDEN void urt__sim_wake(struct urt_sim *s, struct sim_wq *q);
/* Run op i again after a latency (a multishot that has more to give). */
URT_HIDDEN void urt__sim_again(struct urt_sim *s, uint32_t i);
/* Run op i again after delay_ns (a fault's delay). */
URT_HIDDEN void urt__sim_later(struct urt_sim *s, uint32_t i, uint64_t delay_ns);
/* Whether a fault of kind (URT_SIM_FAULT_*) strikes now (counted). */
URT_HIDDEN bool urt__sim_fault(struct urt_sim *s, uint32_t kind);
/* The provided-buffer ring as the kernel reads it: how many entries are
 * published past the model's head (0 without a ring), the entry k past
 * the head (the kernel writes into entries too: a bundle shortens one, a
 * ring filled in part moves one's address on), and the head moved past n
 * entries the model has used up. */
URT_HIDDEN uint32_t urt__sim_bufs_avail(const struct urt_sim *s);
URT_HIDDEN struct io_uring_buf *urt__sim_buf_at(struct urt_sim *s, uint32_t k);
URT_HIDDEN void urt__sim_bufs_used(struct urt_sim *s, uint32_t n);
/* A zero-copy send's result: its CQE with F_MORE (the request is done: a
 * linked timeout of it ends with -ECANCELED), and the notification
 * (IORING_CQE_F_NOTIF) after a latency. */
URT_HIDDEN void urt__sim_zc_result(struct urt_sim *s, uint32_t i, int32_t res);

/* Close one of the model's descriptors (a socket or a file). Return: 0; -EBADF. */
URT_HIDDEN int urt__sim_close(struct urt_sim *s, int fd);

/* --- net.c: for sim.c --- */
/* Run a socket operation now. Return: true if the opcode is the network's. */
URT_HIDDEN bool urt__sim_net_run(struct urt_sim *s, uint32_t i);
/* Socket k's descriptor was closed (the table's entry is free already). */
URT_HIDDEN void urt__sim_net_close(struct urt_sim *s, uint32_t k);
/* connect(2) beside the ring: AF_UNSPEC on a connected socket is an
 * abortive disconnect (the peer is reset), anything else is the host's
 * connect. Return: 0; -errno. */
URT_HIDDEN int urt__sim_sys_connect(void *ctx, int fd, const struct sockaddr *sa, socklen_t len);
/* An operation taken on socket k's descriptor holds the socket until it
 * ends (sim.c take / op_free): a close lets go of the descriptor, and the
 * socket goes (its peer is told) when the last holder is done. */
URT_HIDDEN void urt__sim_sock_hold(struct urt_sim *s, uint32_t k);
URT_HIDDEN void urt__sim_sock_drop(struct urt_sim *s, uint32_t k);
URT_HIDDEN void urt__sim_net_free(struct urt_sim *s);

/* --- file.c: for sim.c --- */
/* Op i was just taken: copy its paths (and an OPENAT2's how) as the
 * kernel does at submission. */
URT_HIDDEN void urt__sim_file_take(struct urt_sim *s, uint32_t i);
/* Run a file operation now. Return: true if it is the file system's (a
 * path op, or READ/WRITE/FSYNC/... on a file of the model). */
URT_HIDDEN bool urt__sim_file_run(struct urt_sim *s, uint32_t i);
/* Open file description f's descriptor was closed. */
URT_HIDDEN void urt__sim_file_close(struct urt_sim *s, uint32_t f);
URT_HIDDEN void urt__sim_file_free(struct urt_sim *s);
URT_HIDDEN int urt__sim_socket(void *ctx, int domain, int type, int protocol);
URT_HIDDEN int urt__sim_setsockopt(void *ctx, int fd, int level, int name, const void *val,
				   socklen_t len);
URT_HIDDEN int urt__sim_getsockopt(void *ctx, int fd, int level, int name, void *val,
				   socklen_t *len);
URT_HIDDEN int urt__sim_bind(void *ctx, int fd, const struct sockaddr *sa, socklen_t len);
URT_HIDDEN int urt__sim_listen(void *ctx, int fd, int backlog);
URT_HIDDEN int urt__sim_getsockname(void *ctx, int fd, struct sockaddr *sa, socklen_t *len);

/* --- net.c and file.c: for host.c (the program's calls outside the ring;
 * each answers as the public call in urt/sim.h documents) --- */
/* A connected pair of stream sockets, or (pipe) a pipe: fd[0] reads what
 * fd[1] writes. */
URT_HIDDEN int urt__sim_host_pair(struct urt_sim *s, int family, bool pipe, bool nonblock,
				  int fd[2]);
URT_HIDDEN int urt__sim_host_connect(struct urt_sim *s, int fd, const struct sockaddr *sa);
URT_HIDDEN int urt__sim_host_accept(struct urt_sim *s, int lfd, bool nonblock);
URT_HIDDEN long urt__sim_host_read(struct urt_sim *s, int fd, void *buf, size_t n, bool dontwait);
URT_HIDDEN long urt__sim_host_write(struct urt_sim *s, int fd, const void *buf, size_t n,
				    bool dontwait);
URT_HIDDEN int urt__sim_host_shutdown(struct urt_sim *s, int fd, int how);
/* on: 1 set O_NONBLOCK, 0 clear it, -1 leave it. Return: whether it is set; -EBADF, -ENOTSOCK. */
URT_HIDDEN int urt__sim_host_nonblock(struct urt_sim *s, int fd, int on);
/* A file operation, as if the ring ran sqe now (path: its path, or NULL):
 * its result; -EBADF if it is not the file system's. */
URT_HIDDEN int32_t urt__sim_file_host(struct urt_sim *s, const struct io_uring_sqe *sqe,
				      const char *path);

#endif /* URT_SIM_INTERNAL_H */
