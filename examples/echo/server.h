/* SPDX-License-Identifier: MIT */
/*
 * echo/server.h - urt-echo's server for one runtime: the runtime and its
 * counted allocator, the connection task (receive a chunk, send it back),
 * the idle / memory sweeper (idle.h, --idle-ms, --max-clients-mem) and the
 * acceptor (urt_acceptor_start). urt-echo runs one on each of its threads
 * with a real listener; a simulation scenario (examples/sim/scn_echo.c)
 * runs one on a runtime over the simulated kernel (urt/sim.h), beside its
 * clients. What urt-echo adds around it (flags, threads, signals, the
 * stats lines' callers) stays in urt-echo.c.
 *
 * Descriptors are closed through the ring only (urt_close_detached), so
 * the same code serves a real listener and the model's.
 *
 *	echo_server_init(s, &opts, NULL);	// NULL: the real kernel
 *	echo_server_start(s, lfd);		// the sweeper and the acceptor
 *	urt_run(&s->rt);			// until urt_stop
 *	echo_server_finish(s);			// close lfd, deinit
 *
 * Context: the runtime's thread, from echo_server_init to
 * echo_server_finish; the counters are its own (another thread reads them
 * after the join).
 */
#ifndef URT_EXAMPLES_ECHO_SERVER_H
#define URT_EXAMPLES_ECHO_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urt/urt.h>

#include "../counting.h"
#include "../idle.h"

#define ECHO_RX_BUF 4096 /* the provided buffers' size */

struct conn;
struct echo_tx;

/* One runtime's settings (urt-echo's flags). */
struct echo_opts {
	bool boxed;	       /* --spawn boxed: urt_spawn, multishot accept */
	uint32_t max_conns;    /* --max-conns: the slab's slots */
	uint32_t bufs;	       /* --bufs: provided buffers (a power of 2) */
	uint32_t send_ms;      /* --send-ms: close a connection whose echo waits longer */
	uint32_t idle_ms;      /* --idle-ms: close a connection silent longer */
	size_t mem_budget;     /* its share of --max-clients-mem */
	uint32_t features_off; /* urt_runtime_opts.features_off (the simulator's buffer modes) */
	uint32_t send_zc_min;  /* urt_runtime_opts.send_zc_min; 0: never zero-copy */
	bool fixed_fds;	       /* --fixed-fds: urt_runtime_opts.fixed_fds */
};

/* One runtime's server; written by its thread. */
struct echo_server {
	struct urt_runtime rt;
	struct counting heap; /* the runtime's backing allocator, counted */
	struct echo_opts o;
	int lfd;
	int id;
	bool stop;		 /* set as it stops: the sweeper ends */
	struct idle_sweep sweep; /* its clock and tick: --idle-ms, --max-clients-mem */
	/* every connection once its task has run, in no order: what the
	 * sweeper scans (each connection knows its place) */
	struct conn **listed;
	uint32_t nlisted, listed_cap;
	uint32_t idle_min; /* at most the oldest listed connection's time (server.c) */
	/* the send records (server.c): one per echo under way, in chunks of
	 * 64 that never move; the first tx_reserved chunks are one block made
	 * at init (--max-conns records, at most RESERVE_CONNS); records are
	 * carved in order (tx_made so far), free ones chain from tx_free
	 * (index + 1) */
	struct echo_tx **tx_chunk;
	uint32_t tx_nchunks, tx_chunks_cap, tx_reserved, tx_made, tx_free, tx_live;
	/* echoes under way, oldest first: their --send-ms (server.c) */
	struct idle_list sends;
	uint64_t closed_idle, closed_mem, closed_send;
	size_t mem_seen; /* the sweeper's last estimate of what connections hold */
	uint64_t conns, requests, bytes;
	uint64_t live_conns;
};

/*
 * echo_server_init - the runtime for o (slab of o->max_conns connection
 * slots or boxed tasks, o->bufs provided buffers, the counted allocator),
 * on sim if not NULL (else the real kernel).
 * Return: 0; -errno from urt_runtime_init; -ENOMEM for the send records
 * (nothing to undo).
 */
int echo_server_init(struct echo_server *s, const struct echo_opts *o, int id, struct urt_sim *sim);

/*
 * echo_server_start - the sweeper and the acceptor on lfd (a listener made
 * for s->rt: a real one, or the model's made after echo_server_init).
 * echo_server_finish closes lfd.
 * Return: 0; -errno from a spawn (echo_server_finish undoes the rest).
 */
int echo_server_start(struct echo_server *s, int lfd);

/* echo_server_stop - as SIGINT / SIGTERM: the sweeper ends; urt_stop follows. */
void echo_server_stop(struct echo_server *s);

/*
 * echo_server_finish - close the listener through the ring and deinit the
 * runtime: every connection left is aborted, and its drop closes it. After
 * it, s->live_conns is 0 and the counters stay readable.
 * Return: what urt_runtime_deinit reclaimed.
 */
size_t echo_server_finish(struct echo_server *s);

/* echo_server_print - the stats line: "WHAT: runtime N connections ...". */
void echo_server_print(struct echo_server *s, const char *what);

/*
 * echo_conn_bytes - what the runtime and the server hold for their open
 * connections, by their own count: a slab slot each (or a box), the op
 * records in use, the connections' entries in s->listed and the send
 * records in use.
 */
size_t echo_conn_bytes(const struct echo_server *s, const struct urt_runtime_stats *st);

#endif
