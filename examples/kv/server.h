/* SPDX-License-Identifier: MIT */
/*
 * kv/server.h - urt-kv's server for one runtime (a worker): the runtime
 * and its counted allocator, the connection task (receive, parse, run a
 * batch under the keyspace's lock, send), the --idle-ms / --send-ms /
 * --max-clients-mem sweeper (idle.h), the keyspace's expiry sweep and the
 * acceptor (urt_acceptor_start). urt-kv runs one on each of its threads
 * with a real listener, all of them over one struct kv_shared; a
 * simulation scenario (examples/sim/scn_kv.c) runs one on a runtime over
 * the simulated kernel (urt/sim.h) beside its clients. What urt-kv adds
 * around it (flags, threads, signals, the stats line) stays in urt-kv.c;
 * urt-kv.c's comment describes what the connection does and why.
 *
 * Time is read through urt_now_ns only (the model's clock on a
 * simulation), the wall clock through kv_server.wall_off_ms (set by the
 * caller), and descriptors are closed through the ring only
 * (urt_close_detached), so the same code serves a real listener and the
 * model's.
 *
 *	kv_shared_init(&sh, &lim, maxmemory, max_conns, max_pipeline, seed);
 *	kv_worker_init(w, &sh, &opts, 0, NULL);	// NULL: the real kernel
 *	kv_worker_start(w, lfd);	// the acceptor and the sweepers
 *	urt_run(&w->rt);		// until urt_stop
 *	kv_worker_finish(w);		// close lfd, deinit
 *	kv_shared_deinit(&sh);
 *
 * Context: a worker is its runtime's thread's, from kv_worker_init to
 * kv_worker_finish, except `conns` (an atomic any thread may read) and
 * heap's counters. The shared part is under its lock (see kv_shared).
 */
#ifndef URT_KV_SERVER_H
#define URT_KV_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urt/urt.h>

#include "../counting.h"
#include "../idle.h"
#include "commands.h"
#include "resp.h"
#include "store.h"

#define KV_RX_BUF 4096 /* the runtime's provided buffers' size */

struct urt_tls_ctx; /* urt/tls.h: the TLS listener's configuration */

/*
 * What every worker shares: one keyspace under one lock. lock guards db
 * and srv's figures; lim, max_conns, max_pipeline and srv's settings are
 * written before any worker starts and only read after; live and next_id
 * are atomics.
 */
struct kv_shared {
	pthread_mutex_t lock;
	struct store db;
	struct kv_server srv; /* what the commands see of the server */
	struct resp_limits lim;
	uint64_t max_conns;	  /* --max-conns: connections at once, every worker together */
	uint32_t max_pipeline;	  /* --max-pipeline */
	_Atomic uint64_t live;	  /* connections open in every worker: --max-conns's count */
	_Atomic uint64_t next_id; /* CLIENT ID */
};

/* One worker's settings (urt-kv's flags). */
struct kv_opts {
	bool boxed;	    /* --spawn boxed: urt_spawn, multishot accept */
	bool sweep_keys;    /* run the keyspace's expiry sweep (one worker does) */
	uint32_t max_conns; /* the slab's slots (--max-conns: one worker may get them all) */
	uint32_t bufs;	    /* provided buffers; 0: the runtime's default */
	uint32_t idle_ms;   /* --idle-ms */
	uint32_t send_ms;   /* --send-ms */
	size_t mem_budget;  /* its share of --max-clients-mem */
	/* the runtime's, for a simulation's swarm (0: the defaults, as urt-kv):
	 * features_off picks the buffer mode, send_zc_min zero-copy sends */
	uint32_t poll_budget, ring_entries, features_off, send_zc_min;
	bool fixed_fds; /* --fixed-fds: urt_runtime_opts.fixed_fds */
	/* RESP over TLS (a program linked with liburt_tls, URT_HAVE_TLS): the
	 * context of the connections kv_worker_start_tls accepts, shared by
	 * every worker, and --tls-handshake-ms */
	struct urt_tls_ctx *tls;
	uint32_t tls_handshake_ms;
};

/* One worker: one runtime and its connections. */
struct kv_worker {
	struct urt_runtime rt;
	struct counting heap; /* the runtime's backing allocator, counted */
	struct kv_shared *sh;
	struct kv_opts o;
	const char **argv; /* one request's arguments: used inside one poll, no await */
	size_t *len;
	uint64_t live;		/* its connections open now */
	_Atomic uint64_t conns; /* its connections ever */
	bool stop;		/* its acceptor and sweepers end */
	bool has_rt;		/* rt is initialised */
	bool sim;		/* on a simulation: no real socket options */
	int id, lfd, tls_lfd;
	/* deadlines and the memory budget: */
	struct idle_sweep sweep;       /* the coarse clock and the sweeper's lists */
	struct idle_list rx, tx, doom; /* receiving (--idle-ms), sending (--send-ms), doomed */
	size_t mem, mem_doomed;	       /* bytes its connections hold; of them, doomed ones' */
	size_t mem_rx;		       /* of mem, unread stream bytes (as last counted) */
	uint64_t closed_idle, closed_send, closed_mem; /* connections each closed */
	uint64_t tls_conns, tls_handshake_fail;	       /* TLS connections; handshakes that failed */
};

/*
 * kv_shared_init - the keyspace (maxmemory bytes of data at most, 0: no cap;
 * its hash keyed with hash_seed), the limits the parser keeps to, and the
 * commands' view of the server (srv: the caller sets conns_live,
 * conns_total, threads and wall_off_ms).
 * Return: 0; -ENOMEM (nothing to undo).
 */
int kv_shared_init(struct kv_shared *sh, const struct resp_limits *lim, uint64_t maxmemory,
		   uint64_t max_conns, uint32_t max_pipeline, uint64_t hash_seed);

/* kv_shared_deinit - free the keyspace. Every worker finished before. */
void kv_shared_deinit(struct kv_shared *sh);

/*
 * kv_worker_init - the worker's runtime for o (slab of o->max_conns
 * connection slots or boxed tasks, o->bufs provided buffers, the counted
 * allocator), on sim if not NULL (else the real kernel), its argument
 * arrays (sh->lim.max_args each) and its deadline lists. w starts zeroed
 * (static or calloc'd): conns, which other workers may read while this
 * one starts, is not written.
 * Return: 0; -ENOMEM; -errno from urt_runtime_init (kv_worker_finish undoes
 * what was done either way).
 */
int kv_worker_init(struct kv_worker *w, struct kv_shared *sh, const struct kv_opts *o, int id,
		   struct urt_sim *sim);

/*
 * kv_worker_start - the acceptor on lfd (a listener made for w->rt: a real
 * one, or the model's made after kv_worker_init), the keyspace's expiry
 * sweep if o->sweep_keys, and the deadline / memory sweeper.
 * kv_worker_finish closes lfd.
 * Return: 0; -errno from a spawn (kv_worker_finish undoes the rest).
 */
int kv_worker_start(struct kv_worker *w, int lfd);

/*
 * kv_worker_start_tls - after kv_worker_start: an acceptor on lfd whose
 * connections speak RESP over TLS with w->o.tls: the handshake within
 * w->o.tls_handshake_ms, then the same connection task, reading with
 * urt_tls_read and writing with urt_tls_write_all. kv_worker_finish
 * closes lfd.
 * Return: 0; -EINVAL (no w->o.tls); -errno from the spawn.
 */
int kv_worker_start_tls(struct kv_worker *w, int lfd);

/* kv_worker_stop - as SIGINT / SIGTERM: the acceptor and the sweepers end;
 * urt_stop follows. */
void kv_worker_stop(struct kv_worker *w);

/*
 * kv_worker_finish - close the listener through the ring, deinit the
 * runtime (every connection left is aborted; its drop lets go of what it
 * referenced and closes it) and free the argument arrays. After it,
 * w->live is 0 and the counters stay readable.
 * Return: what urt_runtime_deinit reclaimed (0 if there was no runtime).
 */
size_t kv_worker_finish(struct kv_worker *w);

/*
 * kv_worker_mem - what the worker's connections hold by the runtime's
 * figures st (fresh from urt_runtime_stats): their buffers as last counted,
 * with the unread stream bytes as the runtime holds them now. O(1). What
 * --max-clients-mem bounds.
 */
size_t kv_worker_mem(const struct kv_worker *w, const struct urt_runtime_stats *st);

#endif
