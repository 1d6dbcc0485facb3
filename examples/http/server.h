/* SPDX-License-Identifier: MIT */
/*
 * http/server.h - urt-http's server for one runtime: the runtime and its
 * counted allocator, the connection task (parser, answers, file bodies
 * through the open-file cache of fcache.h, the staged close), the
 * sweeper of the idle and head deadlines and of --max-clients-mem, and
 * the acceptor with the --max-conns cap. urt-http
 * runs one on each of its threads with a real listener; a simulation
 * scenario (examples/sim/scn_http.c) runs one on a runtime over the
 * simulated kernel (urt/sim.h), beside its clients. What urt-http adds
 * around it (flags, the docroot's checks, threads, signals, the exit
 * line) stays in urt-http.c. urt-http.c's top comment says what the
 * server does and why.
 *
 * On the model (sim not NULL) three things differ, each for a call the
 * model does not have: the wall clock (Date, the age of an If-Range date,
 * a two-digit year) is the model's virtual clock in seconds since the
 * epoch, the clock of its file times too; file bodies go by read and send
 * (as --no-splice: the model has no pipes and no splice), so the accepted
 * socket is not made non-blocking; and TCP_NODELAY is not set. Every
 * descriptor the server closes goes through the ring (urt_close,
 * urt_close_detached), the pipes of a real runtime aside.
 *
 *	http_server_init(s, &opts, id, NULL);	// NULL: the real kernel
 *	http_server_start(s, lfd);		// the sweeper and the acceptor
 *	urt_run(&s->rt);			// until urt_stop
 *	http_server_finish(s);			// close lfd, deinit
 *
 * Context: the runtime's thread, from http_server_init to
 * http_server_finish; the counters are its own (another thread reads them
 * after the join).
 */
#ifndef URT_EXAMPLES_HTTP_SERVER_H
#define URT_EXAMPLES_HTTP_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urt/urt.h>

#include "../counting.h"
#include "fcache.h"
#include "parse.h"

#define HTTP_CHUNK	(64 * 1024)  /* file bytes per splice, or per read and send */
#define HTTP_SMALL	(16 * 1024)  /* a file this small goes out with its head, in one send */
#define HTTP_IN_FIRST	4000	     /* first input / output buffer: fits a size class */
#define HTTP_OUT_MAX	(256 * 1024) /* a batch of pipelined answers, at most */
#define HTTP_LINGER_MAX (256 * 1024) /* bytes read and dropped in a staged close, at most */
#define HTTP_SWEEP_MS	100 /* the sweeper's tick: a deadline (idle, head, send) fires this late */
#define HTTP_HELLO_BODY "hello from urt-http\n"

struct urt_tls_ctx; /* urt/tls.h: a TLS listener's configuration */

/* One runtime's settings (urt-http's flags). */
struct http_opts {
	bool boxed;	    /* --spawn boxed: tasks in malloc boxes, not slab slots */
	uint32_t max_conns; /* --max-conns: the cap on *live_total, and the slab's slots */
	/* connections its op records and task memory are made for at init:
	 * its share of --max-conns (a runtime past it grows its pools as
	 * before); 0: max_conns */
	uint32_t reserve_conns;
	int root_fd;	/* --root's directory (a dfd of s->rt's kernel); -1: a fixed body at / */
	bool no_splice; /* --no-splice: file bodies by read and send */
	uint64_t idle_ms, head_ms, send_ms, linger_ms;
	uint64_t max_pipeline;	 /* --max-pipeline: requests answered per receive */
	size_t mem_budget;	 /* its share of --max-clients-mem */
	/* its share of --max-body-fds: past it the bodies stalled longest that
	 * hold such descriptors are closed before another body takes one
	 * (server.c, fds_room) */
	uint32_t fd_budget;
	struct http_limits lim;	 /* --max-line, --max-head, --max-body, the chunk bounds */
	atomic_uint *live_total; /* connections open in all runtimes (--max-conns caps it) */
	/* the runtime's, for a simulation (0: the defaults, as urt-http): the
	 * buffer mode, zero-copy sends */
	uint32_t features_off, send_zc_min;
	bool fixed_fds; /* --fixed-fds: urt_runtime_opts.fixed_fds */
	/* HTTPS (a program linked with liburt_tls, URT_HAVE_TLS): the context
	 * of the connections http_server_start_tls accepts, shared by every
	 * runtime, and --tls-handshake-ms */
	struct urt_tls_ctx *tls;
	uint64_t tls_handshake_ms;
	/* --file-cache, --file-cache-valid-ms, --body-cache, --body-cache-max
	 * (fcache.h): this runtime's open files and small bodies */
	struct http_fcache_opts fcache;
};

/* A link of an intrusive circular list; a node not in a list has next NULL. */
struct http_link {
	struct http_link *prev, *next;
};

/* One runtime's server; written by its thread. */
/* Splice pipes kept for reuse by a runtime's connections (server.c): at
 * most this many, and none a sweep found unused since the one before. */
#define HTTP_PIPE_POOL 1024

struct http_server {
	struct urt_runtime rt;
	struct counting heap; /* the runtime's backing allocator, counted */
	struct http_opts o;
	bool sim; /* on the simulated kernel (see the top) */
	int id, lfd, tls_lfd;
	uint64_t conns, live, requests;
	uint64_t bodies_spliced, bodies_copied; /* large file bodies sent whole, each way */
	uint64_t evicted, expired, busy;	/* closed past the budget, by a deadline; 503s */
	uint64_t shed; /* bodies closed for descriptors (--max-body-fds, EMFILE) */
	uint64_t tls_conns, tls_handshake_fail; /* TLS connections; handshakes that failed */
	/* empty splice pipes no connection holds (server.c, pipe_ready): a
	 * connection that waits for a request keeps none; pipes_low, the
	 * fewest in the pool since the last sweep, were not needed */
	int pipes[HTTP_PIPE_POOL][2];
	uint32_t npipes, pipes_low;
	/* bytes of buffers its connections hold (their capacities), kept as
	 * they change; past o.mem_budget the largest holders are closed */
	size_t mem;
	struct http_link all; /* every connection that has run */
	/* connections waiting, each list by deadline (see the sweeper): for a
	 * request, for its head or body, in a staged close (--linger-ms) */
	struct http_link idle, heads, lingers;
	struct http_link sends; /* connections sending a batch, by --send-ms deadline */
	/* connections sending a large body, by when their peer last took bytes
	 * (the stalled longest first; server.c, body_moved), in two lists:
	 * bodies holds those with descriptors counted in body_fds (c->fds > 0),
	 * the --max-body-fds shed's; bodies_bare those with none (the cache's
	 * file, no pipe), which only a full table sheds. nbodies: of both */
	struct http_link bodies, bodies_bare;
	uint32_t nbodies;
	size_t body_fds;	/* descriptors bodies hold (pipes, files not cached) */
	uint64_t backoffs_seen; /* the runtime's accept_backoffs at the last sweep */
	int splice; /* file bodies: 0 splice, untried; 1 splice, worked; -1 read and send */
	struct http_fcache fc;	      /* open files, small bodies (fcache.h) */
	time_t date_sec;	      /* the second `date` was made for */
	char date[HTTP_DATE_LEN + 1]; /* the Date field's value */
	bool stop;
	/* the acceptor's task: an owner that wants it gone before the
	 * runtime stops (a scenario's clean end) aborts it through this */
	struct urt_join acceptor, tls_acceptor;
};

/*
 * http_server_init - the runtime for o (slab of o->max_conns connection
 * slots or boxed tasks, the counted allocator), on sim if not NULL (else
 * the real kernel). o->live_total must outlive the server.
 * Return: 0; -errno from urt_runtime_init, -ENOMEM for the file cache
 * (nothing to undo).
 */
int http_server_init(struct http_server *s, const struct http_opts *o, int id, struct urt_sim *sim);

/*
 * http_server_start - the acceptor on lfd (a listener made for s->rt: a
 * real one, or the model's made after http_server_init; -1: none, the
 * server has only its TLS listener) and the sweeper.
 * http_server_finish closes lfd.
 * Return: 0; -errno from a spawn (http_server_finish undoes the rest).
 */
int http_server_start(struct http_server *s, int lfd);

/*
 * http_server_start_tls - after http_server_start: an acceptor on lfd
 * whose connections speak HTTPS with s->o.tls (ALPN "http/1.1" is the
 * context's): the handshake within s->o.tls_handshake_ms, then the same
 * connection task, reading with urt_tls_read and writing with
 * urt_tls_write_all (file bodies by read and write: no splice).
 * http_server_finish closes lfd.
 * Return: 0; -EINVAL (no s->o.tls); -errno from the spawn.
 */
int http_server_start_tls(struct http_server *s, int lfd);

/* http_server_stop - as SIGINT / SIGTERM: the acceptor and the sweeper end,
 * connections end at their next request; urt_stop follows. */
void http_server_stop(struct http_server *s);

/*
 * http_server_finish - close the listener through the ring (unless s->lfd
 * was set to -1: closed already) and deinit the runtime: every connection
 * left is aborted, and its drop closes it. After
 * it, s->live is 0 and the counters stay readable.
 * Return: what urt_runtime_deinit reclaimed.
 */
size_t http_server_finish(struct http_server *s);

/*
 * http_server_cache_take - one descriptor of the file cache no request
 * holds, its entry gone (the caller closes it: a scenario's clean end
 * closes them all before it counts the model's descriptors).
 * Return: fd; -1 none left.
 */
int http_server_cache_take(struct http_server *s);

/* http_server_print - the stats line: "stats: runtime N connections ...";
 * its tls_heap_calls and tls_heap_bytes are the process's (tls-server.h). */
void http_server_print(struct http_server *s);

/* The connection task's type (its name "http-conn"), and the sweeper's,
 * for a scenario's scn_check_types. */
extern const struct urt_task_type http_conn_type, http_sweep_type;

#endif
