/* SPDX-License-Identifier: MIT */
/*
 * urt-http - an HTTP/1.1 server on urt's public API.
 *
 *   urt-http [--port P] [--addr A] [--root DIR] [--threads N]
 *            [--spawn slab|boxed] [--max-conns N] [--idle-ms MS] [--send-ms MS]
 *            [--head-ms MS] [--linger-ms MS] [--max-line B] [--max-head B] [--max-body B]
 *            [--max-chunk-line B] [--max-chunk-ext B] [--max-trailer B]
 *            [--max-pipeline N] [--max-clients-mem B] [--max-body-fds N]
 *            [--no-splice] [--send-zc]
 *            [--file-cache N] [--file-cache-valid-ms MS] [--body-cache B]
 *            [--body-cache-max B]
 *            [--tls-cert F --tls-key F [--tls-port P] [--tls-handshake-ms MS]]
 *
 * GET / answers a small fixed body; with --root, GET and HEAD serve files
 * beneath DIR (opened with openat2 and RESOLVE_BENEATH through io_uring, so
 * neither "..", an encoded "%2e%2e" nor a symlink can leave the tree) with
 * Content-Type from the extension, Last-Modified and a strong ETag (inode,
 * size, mtime); If-Match / If-Unmodified-Since (412), If-None-Match /
 * If-Modified-Since (304) in RFC 9110 13.2.2's order, dates in all three
 * HTTP-date forms; a single Range for GET (206, 416), under If-Range.
 *
 * Sending a file: a body of up to 16 KiB (SMALL) is read into the output
 * behind its head and goes out in the same send. A larger one (a whole
 * file or a Range) follows its head without passing through user memory:
 * urt_splice moves up to 64 KiB (CHUNK) from the file into the
 * connection's pipe, then everything in the pipe to the socket, short
 * splices taken again, until the body is out; the pipe is taken from the
 * runtime's pool (or made) for a large body and goes back to it once
 * empty, so an idle connection holds none, and the sweep closes pipes
 * unused since its last pass. If the first splice of a body fails with
 * -EINVAL or -ENOSYS before a byte moved, that body is read and sent in
 * 64 KiB chunks of task memory instead, and, if
 * splice never worked on this runtime, so is every later one (a kernel
 * without IORING_OP_SPLICE); --no-splice chooses that way from the start.
 * --send-zc reads and sends too, the sends zero-copy (urt_send_zc from
 * 32 KiB): measured against splice on 64 KiB bodies by
 * scripts/bench-http-bodies.sh, and slower (docs/design.md).
 * Any other error mid-body closes the connection, so the peer sees a body
 * shorter than its Content-Length, never a silently short response. A
 * splice runs on a kernel worker thread of the ring (io-wq), and would
 * hold it while the peer does not read; so no splice ever blocks: the
 * pipe and the accepted socket are non-blocking, a splice into a full
 * socket returns at once (-EAGAIN), and the task waits for room with
 * urt_poll, in the ring, within --send-ms (see splice_body). A connection
 * holds no thread, whatever its peer does. (io_uring's receives and sends
 * on a non-blocking socket are unchanged: the ring arms its own poll.)
 *
 * Open files are cached per runtime (http/fcache.h, like nginx's
 * open_file_cache): up to --file-cache descriptors (default 256, at most a
 * quarter of RLIMIT_NOFILE) with their statx answer, ETag and
 * Last-Modified, so a hot file costs no openat and no statx; an entry is
 * revalidated by one statx of its path at most once per
 * --file-cache-valid-ms (default 1000), and a changed, replaced or deleted
 * file is opened again (or answered 404) after that interval at most.
 * Files of up to --body-cache-max bytes (default 16 KiB, at most 64 KiB)
 * keep their bytes too, within --body-cache bytes per runtime (default 4
 * MiB), and are answered from memory with no read: up to 16 KiB as a copy
 * that joins the head in the output, larger as a pipe holding a copy of them
 * that each answer tee(2)s into its connection's pipe (one descriptor more
 * per such entry; not the default: docs/design.md has the measurement). Entries are refcounted: a
 * body in flight keeps its descriptor open when its entry goes, and the kernel keeps the pages of
 * a pipe body that an answer still sends.
 *
 * One task per connection (slab slots, or malloc boxes with --spawn boxed).
 * HTTP/1.1 keep-alive and pipelining (answers in request order; the small
 * ones of one batch go out in one send), HTTP/1.0 with and without
 * keep-alive. Refused with the right status, the connection kept where
 * HTTP allows: 400, 404, 405 (with Allow: a method RFC 9110 defines), 413,
 * 414, 431, 501 (another method: methods are case-sensitive; a transfer
 * coding other than chunked), 503 (a full descriptor table, with
 * Retry-After), 505; a bare CR in a head is 400 (smuggling). Request
 * bodies are read and dropped: a Content-Length's, or a chunked one
 * (decoded as it arrives, never held; what of it came with the head is
 * checked before the answer, so a malformed one is 400), so the request
 * after it is answered.
 *
 * Hostile clients: every per-connection resource has a bound and a
 * deadline (docs/servers.md has the table). Input: --max-line, --max-head, blank lines
 * before a request included, looked at once per byte (http_head_ready) and
 * moved once per receive. Output: a batch of pipelined answers is sent
 * before it could pass OUT_MAX, and after --max-pipeline requests. A
 * connection waiting for a request past --idle-ms, a head or body still
 * incomplete --head-ms after its first byte (slowloris, or a client that
 * never stops sending), or a response that does not move for --send-ms,
 * is closed. None costs a timer per request: the waiting connections, and
 * those sending a batch of answers, sit in three deadline-ordered lists per
 * runtime that one sweeper task walks every SWEEP_MS (a large body's
 * sends and splices carry linked timeouts instead). All connections' buffers (and the
 * bytes received for them not yet read) are counted per runtime as they
 * change; past --max-clients-mem the largest holders are closed. The
 * descriptors bodies in flight hold (a splice pipe, a file the cache does
 * not own) are counted too: past --max-body-fds (default a quarter of
 * RLIMIT_NOFILE) the bodies that hold such descriptors and have waited
 * longest for their peer to read are closed (a body sent from the cache's
 * descriptor, over TLS or --no-splice, holds none: closing it would free
 * nothing), and when the kernel refuses a descriptor (EMFILE on an open
 * or an accept) any body that has waited longest, each closed giving back
 * its socket at least (for an open under --fixed-fds, whose sockets are
 * direct descriptors, not one that holds nothing else); so peers that
 * ask for large files and never read cannot take the descriptor table
 * from new clients.
 *
 * --threads N: N runtimes, one per thread, each with its own SO_REUSEPORT
 * listener on the one port (the first picks it for --port 0), so the
 * kernel spreads new connections over them; a connection stays on the
 * runtime that accepted it. The runtimes share nothing mutable but one
 * atomic count of open connections, which --max-conns caps for all of them
 * together (a per-runtime share would refuse connections that the
 * kernel's hash happened to send to a full runtime while others had room);
 * each runtime's bounded slab has room for the whole cap, which costs
 * address space, not memory, until slots are used. Each runtime allocates
 * through its own counting allocator (atomic counters).
 *
 * HTTPS (when built with liburt_tls: OpenSSL found): --tls-cert and
 * --tls-key make every runtime serve TLS 1.2 and 1.3 (ALPN "http/1.1")
 * on --port, or on --tls-port with plain HTTP staying on --port. A TLS
 * connection is the same task: after its handshake (within
 * --tls-handshake-ms of the accept) it reads plaintext with urt_tls_read
 * straight into its input and writes with urt_tls_write_all; a file body
 * goes by read and write (the bytes are encrypted in user space: no
 * splice, no zero-copy). Every bound above holds on it: --send-ms per
 * 64 KiB written, the idle and head deadlines through the sweeper, and
 * --max-clients-mem counting its TLS state (TLS_SRV_HANDSHAKE_MEM until
 * the handshake is done, TLS_SRV_STATE_MEM after) and the
 * layer's out-buffer while it writes. A connection HTTP ends (an answer
 * with Connection: close, the client's close_notify, a stop) sends
 * close_notify; one ended by a failure or a deadline does not.
 *
 * The main thread takes SIGINT, SIGTERM and SIGUSR1 in a hub (urt/signal.h)
 * that delivers each to every runtime's signal task (urt/server.h), read
 * through its ring: SIGUSR1 prints a stats line
 * per runtime, SIGINT/SIGTERM stop them all, and after the joins one
 * "exit:" line sums them, with each runtime's connections in per_thread.
 * Prints "listening on ADDR:PORT" once every runtime is up; exit status 2
 * for bad flags, 1 if a runtime fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <urt/urt.h>

#include "counting.h"
#include "flags.h"
#include "http/server.h"
#include "tls-server.h"

static struct {
	struct server_flags srv; /* --port --addr --threads --spawn --max-conns */
	const char *root;
	bool no_splice, send_zc;
	uint64_t file_cache, file_cache_valid_ms, body_cache, body_cache_max;
	uint64_t idle_ms, head_ms, send_ms, linger_ms;
	uint64_t max_pipeline;	   /* requests answered per receive */
	uint64_t max_clients_mem; /* bytes of connection buffers, all runtimes together */
	uint64_t max_body_fds;	  /* descriptors bodies hold, all runtimes; UINT64_MAX: default */
	struct http_limits lim;
	struct tls_flags tls; /* HTTPS: cert and key, or neither; port -1: on --port */
} o = {
	.srv = { .addr = "127.0.0.1", .port = 8080, .threads = 1, .max_conns = 16384 },
	.idle_ms = 30000,
	.send_ms = 30000,
	.head_ms = 10000,
	.linger_ms = 2000,
	.max_pipeline = 100,
	.max_clients_mem = 64ull << 20,
	.max_body_fds = UINT64_MAX,
	.file_cache = 256,
	.file_cache_valid_ms = 1000,
	.body_cache = 4ull << 20,
	.body_cache_max = HTTP_SMALL,
	.tls = TLS_FLAGS_DEFAULT,
	.lim = HTTP_LIMITS_DEFAULT,
};

/*
 * One per runtime, one runtime per thread: its server (http/server.h) and
 * what urt-http keeps around it, written only by its own thread (main reads
 * it after the join). What all threads share is read-only once they start
 * (o, root_fd) or atomic (live_total, each heap's counters).
 */
struct server {
	struct http_server s;
	int id, lfd;
	int tls_lfd;		    /* a --tls-port listener, -1; or lfd itself is TLS (tls_only) */
	struct urt_signal_sub *sig; /* its subscription to the main thread's hub */
	int start_ret;		    /* init and spawns, before the start barrier */
	int run_ret;		    /* urt_run's, after it (main reads it after the join) */
	struct urt_runtime_stats end; /* at the end of the run, for the exit line */
	size_t end_heap_calls;
	pthread_t th;
};

static struct server servers[SERVER_MAX_THREADS];
static int root_fd = -1;
/* Connections open in all runtimes: --max-conns caps this sum, not each
 * runtime's share (the kernel's SO_REUSEPORT hash need not split evenly). */
static atomic_uint live_total;
static struct urt_signal_hub hub; /* SIGINT, SIGTERM, SIGUSR1: to every runtime */
static pthread_barrier_t started; /* every runtime initialised (or failed) */
static struct urt_tls_ctx *tls_ctx; /* HTTPS's, shared by every runtime; NULL: none */
static bool tls_only;		    /* HTTPS on --port, no plain listener */

/* SIGUSR1: one line per runtime, from its own thread. */
static void print_stats(void *arg)
{
	http_server_print(arg);
}

/* At exit, after every thread is joined: the sums, and each runtime's
 * connections (the kernel's SO_REUSEPORT split). */
static void print_exit(void)
{
	uint64_t conns = 0, live = 0, requests = 0, spliced = 0, copied = 0, evicted = 0, expired = 0, busy = 0;
	uint64_t tls_conns = 0, tls_fail = 0;
	size_t heap = 0, slab_live = 0, slab_cap = 0, ops_live = 0;
	char each[SERVER_MAX_THREADS * 21 + 1] = "";
	size_t n = 0;

	for (int i = 0; i < o.srv.threads; i++) {
		struct server *t = &servers[i];
		struct http_server *s = &t->s;

		conns += s->conns;
		live += s->live;
		requests += s->requests;
		spliced += s->bodies_spliced;
		copied += s->bodies_copied;
		evicted += s->evicted;
		expired += s->expired;
		busy += s->busy;
		tls_conns += s->tls_conns;
		tls_fail += s->tls_handshake_fail;
		heap += t->end_heap_calls;
		slab_live += t->end.slab_live;
		slab_cap += t->end.slab_capacity;
		ops_live += t->end.ops_live;
		n += (size_t)snprintf(each + n, sizeof(each) - n, "%s%" PRIu64, i ? "," : "",
				      s->conns);
	}
	printf("exit: connections %" PRIu64 " live %" PRIu64 " requests %" PRIu64
	       " bodies_spliced %" PRIu64 " bodies_copied %" PRIu64
	       " heap_calls %zu slab %zu/%zu ops_live %zu evicted %" PRIu64 " expired %" PRIu64
	       " busy %" PRIu64 " tls_conns %" PRIu64 " tls_handshake_fail %" PRIu64
	       " tls_heap_calls %" PRIu64 " tls_heap_bytes %" PRId64 " threads %d per_thread %s\n",
	       conns, live, requests, spliced, copied, heap, slab_live, slab_cap, ops_live, evicted,
	       expired, busy, tls_conns, tls_fail, tls_srv_heap_calls(), tls_srv_heap_bytes(),
	       o.srv.threads, each);
	fflush(stdout);
}

/* SIGINT / SIGTERM: the acceptor and the sweeper end; urt_stop follows. */
static void on_stop(void *arg)
{
	http_server_stop(arg);
}

/* A runtime's share of --max-body-fds, a pipe and a file at least; 0 (or
 * no descriptor limit found: UINT64_MAX) stays none. */
static uint32_t fd_share(void)
{
	uint64_t n = o.max_body_fds / (uint64_t)o.srv.threads;

	if (!o.max_body_fds || o.max_body_fds == UINT64_MAX)
		return 0;
	return n < 3 ? 3 : (uint32_t)n;
}

/* Its own runtime's whole life. A failure to start is in t->start_ret (main
 * reads it after the start barrier); one of the run is in t->run_ret and
 * stops the program (a SIGTERM to itself: main's sigwait takes it). */
static void *server_main(void *arg)
{
	struct server *t = arg;
	struct http_server *s = &t->s;
	int ret;
	struct http_opts ho = {
		.boxed = o.srv.boxed,
		.max_conns = o.srv.max_conns,
		/* its share, rounded up: N runtimes each made for all of it cost N
		 * times the address space, and a bounded one (ulimit -v) kept a
		 * default --threads 4 from starting (review 9) */
		.reserve_conns = (uint32_t)(((uint64_t)o.srv.max_conns + (uint64_t)o.srv.threads - 1) /
					   (uint64_t)o.srv.threads),
		.root_fd = root_fd,
		.no_splice = o.no_splice || o.send_zc,
		.send_zc_min = o.send_zc ? HTTP_CHUNK / 2 : 0,
		.fcache = { .entries = (uint32_t)o.file_cache,
			    .valid_ms = o.file_cache_valid_ms,
			    .body_max = (size_t)o.body_cache_max,
			    .body_budget = (size_t)o.body_cache },
		.idle_ms = o.idle_ms,
		.head_ms = o.head_ms,
		.send_ms = o.send_ms,
		.linger_ms = o.linger_ms,
		.max_pipeline = o.max_pipeline,
		.mem_budget = (size_t)(o.max_clients_mem / (uint64_t)o.srv.threads),
		.fd_budget = fd_share(),
		.lim = o.lim,
		.live_total = &live_total,
		.tls = tls_ctx,
		.tls_handshake_ms = o.tls.handshake_ms,
		.fixed_fds = o.srv.fixed_fds,
	};

	t->start_ret = http_server_init(s, &ho, t->id, NULL);
	if (t->start_ret) {
		fprintf(stderr, "urt-http: runtime %d: urt_runtime_init: %s\n", t->id,
			strerror(-t->start_ret));
		pthread_barrier_wait(&started);
		return NULL;
	}
	/* the listeners are the server's now: http_server_finish closes them */
	if (tls_only) {
		t->tls_lfd = t->lfd;
		t->lfd = -1;
	}
	ret = http_server_start(s, t->lfd);
	t->lfd = -1;
	if (!ret && t->tls_lfd >= 0) {
		ret = http_server_start_tls(s, t->tls_lfd);
		t->tls_lfd = -1;
	}
	if (ret || urt_server_signals_start(&s->rt, &(struct urt_server_signals_opts){
							    .sub = t->sig,
							    .on_stats = print_stats,
							    .on_stop = on_stop,
							    .arg = s,
						    })) {
		fprintf(stderr, "urt-http: runtime %d: cannot start its tasks\n", t->id);
		t->start_ret = -ENOMEM;
	}
	pthread_barrier_wait(&started);
	if (!t->start_ret) {
		t->run_ret = urt_run(&s->rt);
		if (t->run_ret < 0) {
			fprintf(stderr, "urt-http: runtime %d: urt_run: %s\n", t->id,
				strerror(-t->run_ret));
			kill(getpid(), SIGTERM);
		}
	}
	urt_runtime_stats(&s->rt, &t->end);
	t->end_heap_calls = atomic_load(&s->heap.calls);
	(void)http_server_finish(s); /* aborts the connections: their drops close them */
	return NULL;
}

/* --- flags, main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: urt-http [--port P] [--addr A] [--root DIR] [--threads N]\n"
		"                [--spawn slab|boxed] [--max-conns N] [--fixed-fds]\n"
		"                [--idle-ms MS] [--send-ms MS]\n"
		"                [--head-ms MS] [--linger-ms MS] [--max-line B] [--max-head B] "
		"[--max-body B]\n"
		"                [--max-chunk-line B] [--max-chunk-ext B] [--max-trailer B]\n"
		"                [--max-pipeline N] [--max-clients-mem B] [--max-body-fds N]\n"
		"                [--no-splice] [--send-zc]\n"
		"                [--file-cache N] [--file-cache-valid-ms MS] [--body-cache B]\n"
		"                [--body-cache-max B]\n"
		"                [--tls-cert F --tls-key F [--tls-port P] [--tls-handshake-ms "
		"MS]]\n"
		"  --port P        port (default 8080; 0 picks a free one)\n"
		"  --addr A        IPv4 address to bind (default 127.0.0.1)\n"
		"  --root DIR      serve the files beneath DIR (default: a fixed body at /)\n"
		"  --threads N     runtimes, one per thread, on one port (default 1; 1..64)\n"
		"  --spawn KIND    connection tasks in slab slots (default) or malloc boxes\n"
		"  --max-conns N   connections at once, all threads together (default 16384)\n"
		"  --fixed-fds     accepted sockets as io_uring direct descriptors\n"
		"  --idle-ms MS    close a connection waiting for a request this long (default "
		"30000)\n"
		"  --send-ms MS    close a connection whose answers do not move this long (default "
		"30000)\n"
		"  --linger-ms MS  closing: after the last answer, read and drop what the client\n"
		"                  still sends, until it closes, this long at most (default 2000)\n"
		"  --head-ms MS    close a connection whose request head, or body, is not whole "
		"this\n"
		"                  long after its first byte, however fast bytes come (default "
		"10000)\n"
		"  --max-line B    request line, CRLF aside (default 8000; 414 past it)\n"
		"  --max-head B    request line and headers, blank lines before them included\n"
		"                  (default 16384; 431 past it)\n"
		"  --max-body B    request body, or a chunked body's data (default 1048576; 413)\n"
		"  --max-chunk-line B  one chunk-size line, its extensions included (default\n"
		"                  4096; 400 past it)\n"
		"  --max-chunk-ext B  a chunked body's extensions together (default 16384; 413)\n"
		"  --max-trailer B a chunked body's trailer section (default 8192; 431 past it)\n"
		"  --max-pipeline N  pipelined requests answered per receive before their answers\n"
		"                  are sent (default 100); answers gathered are sent at 256 KiB "
		"too\n"
		"  --max-clients-mem B  bytes of buffers all connections hold (input, output, "
		"unread\n"
		"                  received bytes), each runtime B/threads; past it the largest\n"
		"                  holders are closed (default 67108864)\n"
		"  --max-body-fds N  descriptors bodies in flight hold (splice pipes, files not\n"
		"                  cached), each runtime N/threads; past it the bodies stalled\n"
		"                  longest that hold some are closed (not one sent from the\n"
		"                  cache's descriptor: it frees none); when the table is full,\n"
		"                  any stalled longest (default RLIMIT_NOFILE/4; 0: no budget,\n"
		"                  only a full table sheds)\n"
		"  --no-splice     send file bodies by read and send, not splice\n"
		"  --send-zc       read and send file bodies, the sends zero-copy (slower than\n"
		"                  splice here: docs/design.md)\n"
		"  --file-cache N  open files kept per runtime, descriptor and statx (default "
		"256,\n"
		"                  at most RLIMIT_NOFILE/4; 0: off)\n"
		"  --file-cache-valid-ms MS  a cached file is checked (one statx) at most this\n"
		"                  often: a change is seen this late at most (default 1000)\n"
		"  --body-cache B  bytes of files' bodies kept per runtime (default 4194304)\n"
		"  --body-cache-max B  the largest body kept (default 16384, at most 65536;\n"
		"                  past 16384 as a pipe, a copy of the file)\n"
		"  --tls-cert F    HTTPS: the certificate chain (PEM, leaf first); with "
		"--tls-key,\n"
		"                  TLS 1.2 and 1.3 with ALPN http/1.1 on --port (needs a build\n"
		"                  with OpenSSL)\n"
		"  --tls-key F     HTTPS: the private key of --tls-cert (PEM)\n"
		"  --tls-port P    HTTPS on P (0 picks a free one), plain HTTP staying on --port\n"
		"  --tls-handshake-ms MS  close a TLS connection whose handshake is not done MS\n"
		"                  after its accept (default 10000)\n"
		"Prints 'listening on ADDR:PORT' once ready, after 'tls listening on ADDR:PORT'\n"
		"for HTTPS. SIGUSR1 prints each runtime's\n"
		"stats; SIGINT/SIGTERM stop it with a stats line summed over the runtimes.\n");
}

#define bad(msg, arg) flag_bad("urt-http", msg, arg)

static int parse(int argc, char **argv)
{
	static const struct option longs[] = {
		SERVER_OPTIONS,
		{ "root", required_argument, 0, 'r' },
		{ "idle-ms", required_argument, 0, 'i' },
		{ "head-ms", required_argument, 0, 'H' },
		{ "max-head", required_argument, 0, 'm' },
		{ "max-body", required_argument, 0, 'b' },
		{ "no-splice", no_argument, 0, 'n' },
		{ "help", no_argument, 0, 'h' },
		{ "send-zc", no_argument, 0, 'z' },
		{ "file-cache", required_argument, 0, 'F' },
		{ "file-cache-valid-ms", required_argument, 0, 'V' },
		{ "body-cache", required_argument, 0, 'B' },
		{ "body-cache-max", required_argument, 0, 'X' },
		{ "send-ms", required_argument, 0, 'S' },
		{ "max-pipeline", required_argument, 0, 'P' },
		{ "max-clients-mem", required_argument, 0, 'M' },
		{ "max-body-fds", required_argument, 0, 'D' },
		{ "max-line", required_argument, 0, 'L' },
		{ "linger-ms", required_argument, 0, 'G' },
		{ "max-chunk-line", required_argument, 0, 'C' },
		{ "max-chunk-ext", required_argument, 0, 'E' },
		{ "max-trailer", required_argument, 0, 'T' },
		{ "tls-cert", required_argument, 0, TLS_FLAG_CERT },
		{ "tls-key", required_argument, 0, TLS_FLAG_KEY },
		{ "tls-port", required_argument, 0, TLS_FLAG_PORT },
		{ "tls-handshake-ms", required_argument, 0, TLS_FLAG_HANDSHAKE_MS },
		{ 0, 0, 0, 0 },
	};
	uint64_t v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		int r = server_flag("urt-http", c, optarg, &o.srv);

		if (r < 0)
			r = tls_flag("urt-http", c, optarg, &o.tls);

		if (r >= 0) {
			if (r)
				return r;
			continue;
		}
		switch (c) {
		case 'r':
			o.root = optarg;
			break;
		case 'i':
			if (!flag_uint(optarg, 1, 3600000, &o.idle_ms))
				return bad("bad --idle-ms", optarg);
			break;
		case 'H':
			if (!flag_uint(optarg, 1, 3600000, &o.head_ms))
				return bad("bad --head-ms", optarg);
			break;
		case 'G':
			if (!flag_uint(optarg, 0, 3600000, &o.linger_ms))
				return bad("bad --linger-ms", optarg);
			break;
		case 'S':
			if (!flag_uint(optarg, 1, 3600000, &o.send_ms))
				return bad("bad --send-ms", optarg);
			break;
		case 'P':
			if (!flag_uint(optarg, 1, 1000000, &o.max_pipeline))
				return bad("bad --max-pipeline", optarg);
			break;
		case 'M':
			if (!flag_uint(optarg, 65536, 1ull << 40, &o.max_clients_mem))
				return bad("bad --max-clients-mem", optarg);
			break;
		case 'D':
			if (!flag_uint(optarg, 0, UINT32_MAX, &o.max_body_fds))
				return bad("bad --max-body-fds", optarg);
			break;
		case 'm':
			if (!flag_uint(optarg, 256, 1u << 20, &v))
				return bad("bad --max-head", optarg);
			o.lim.max_head = (size_t)v;
			break;
		case 'b':
			if (!flag_uint(optarg, 0, 1ull << 40, &o.lim.max_body))
				return bad("bad --max-body", optarg);
			break;
		case 'L':
			if (!flag_uint(optarg, 64, 1u << 20, &v))
				return bad("bad --max-line", optarg);
			o.lim.max_line = (size_t)v;
			break;
		case 'C':
			if (!flag_uint(optarg, 3, 1u << 20, &v))
				return bad("bad --max-chunk-line", optarg);
			o.lim.max_chunk_line = (size_t)v;
			break;
		case 'E':
			if (!flag_uint(optarg, 0, 1ull << 40, &o.lim.max_chunk_ext))
				return bad("bad --max-chunk-ext", optarg);
			break;
		case 'T':
			if (!flag_uint(optarg, 0, 1u << 20, &v))
				return bad("bad --max-trailer", optarg);
			o.lim.max_trailer = (size_t)v;
			break;
		case 'n':
			o.no_splice = true;
			break;
		case 'z':
			o.send_zc = true;
			break;
		case 'F':
			if (!flag_uint(optarg, 0, 1u << 20, &o.file_cache))
				return bad("bad --file-cache", optarg);
			break;
		case 'V':
			if (!flag_uint(optarg, 0, 3600000, &o.file_cache_valid_ms))
				return bad("bad --file-cache-valid-ms", optarg);
			break;
		case 'B':
			if (!flag_size(optarg, 0, 1ull << 40, &o.body_cache))
				return bad("bad --body-cache", optarg);
			break;
		case 'X':
			if (!flag_size(optarg, 0, HTTP_CHUNK, &o.body_cache_max))
				return bad("bad --body-cache-max (at most 65536)", optarg);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return bad("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument", argv[optind]);
	if (!o.tls.cert != !o.tls.key)
		return bad("--tls-cert and --tls-key go together", NULL);
	if (o.tls.port >= 0 && !o.tls.cert)
		return bad("--tls-port needs --tls-cert and --tls-key", NULL);
	if (o.tls.port > 0 && o.tls.port == o.srv.port)
		return bad("--tls-port is --port", NULL);
	return 0;
}

/* HTTPS's context from --tls-cert and --tls-key, shared by every runtime.
 * Return: 0; 2, the exit status (a file it cannot use: said). */
static int tls_context(void)
{
	const struct tls_srv_file files[] = { { "--tls-cert", o.tls.cert },
					      { "--tls-key", o.tls.key } };

	if (!o.tls.cert)
		return 0;
	tls_only = o.tls.port < 0;
	return tls_srv_ctx("urt-http",
			   &(struct urt_tls_ctx_opts){ .cert_file = o.tls.cert,
						       .key_file = o.tls.key,
						       .alpn = "http/1.1" },
			   files, 2, &tls_ctx);
}

/* The soft descriptor limit goes up to the hard one. The file caches of
 * all runtimes hold a quarter of the descriptor table at most: the rest is
 * for connections (a table full of cached files would turn every new file
 * into a 503). An entry with a pipe body holds two. */
static void cache_bound(void)
{
	struct rlimit rl;
	uint64_t most;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	/* connections and files are descriptors: take what the hard limit
	 * allows (a soft limit of 1,024 would make --max-conns' 16,384 a
	 * figure no client can reach), as urt-echo, h2o and redis do */
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY) {
		if (o.max_body_fds == UINT64_MAX)
			o.max_body_fds = 0; /* no table to keep room in */
		return;
	}
	/* bodies in flight a quarter too (--max-body-fds): with the cache's
	 * quarter, half of the table stays for the connections themselves */
	if (o.max_body_fds == UINT64_MAX)
		o.max_body_fds = (uint64_t)rl.rlim_cur / 4;
	most = (uint64_t)rl.rlim_cur / 4 / (uint64_t)o.srv.threads;
	if (o.body_cache_max > HTTP_SMALL)
		most /= 2;
	if (o.file_cache > most)
		o.file_cache = most;
}

/* One listener per runtime on one port: the first picks it (--port 0), the
 * others join it through SO_REUSEPORT. Return: 0; the exit status. */
static int listen_all(void)
{
	uint16_t port = o.srv.port, tls_port = (uint16_t)o.tls.port;
	unsigned flags = o.srv.threads > 1 ? URT_LISTEN_REUSEPORT : 0;

	for (int i = 0; i < o.srv.threads; i++) {
		struct server *s = &servers[i];

		s->id = i;
		s->lfd = urt_listen_tcp(o.srv.addr, port, 4096, flags, &port);
		if (s->lfd < 0) {
			fprintf(stderr, "urt-http: listen on %s:%u: %s\n", o.srv.addr, port,
				strerror(-s->lfd));
			return s->lfd == -EINVAL ? 2 : 1; /* --addr is not an address: a bad flag */
		}
		s->tls_lfd = o.tls.port < 0
				     ? -1
				     : urt_listen_tcp(o.srv.addr, tls_port, 4096, flags, &tls_port);
		if (s->tls_lfd < -1) {
			fprintf(stderr, "urt-http: listen on %s:%u (--tls-port): %s\n", o.srv.addr,
				tls_port, strerror(-s->tls_lfd));
			return 1;
		}
		if (urt_signal_subscribe(&hub, &s->sig)) {
			perror("urt-http: signals");
			return 1;
		}
	}
	o.srv.port = port;
	if (o.tls.port >= 0)
		o.tls.port = tls_port;
	return 0;
}

int main(int argc, char **argv)
{
	int ret, status = 0;
	bool started_all;

	/* before anything else can make OpenSSL allocate: its heap calls are
	 * counted from the start (the stats lines' tls_heap_calls) */
	tls_srv_count_heap("urt-http");
	ret = parse(argc, argv);
	if (ret)
		return ret;
	cache_bound();
	ret = tls_context();
	if (ret)
		return ret;
	if (o.root) {
		root_fd = open(o.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (root_fd < 0)
			return bad("--root is not a directory", o.root);
	}
	/* signals come to the hub, never to a runtime's thread: blocked here,
	 * before any thread starts (they inherit the mask) */
	ret = urt_server_signals_hub(&hub);
	if (ret) {
		fprintf(stderr, "urt-http: signals: %s\n", strerror(-ret));
		return 1;
	}
	ret = listen_all();
	if (ret)
		return ret;
	pthread_barrier_init(&started, NULL, (unsigned)o.srv.threads + 1);
	for (int i = 0; i < o.srv.threads; i++)
		if (pthread_create(&servers[i].th, NULL, server_main, &servers[i])) {
			fprintf(stderr, "urt-http: cannot start thread %d\n", i);
			return 1; /* the threads started wait at the barrier: exit ends them */
		}
	pthread_barrier_wait(&started);
	for (int i = 0; i < o.srv.threads; i++)
		if (servers[i].start_ret)
			status = 1;
	started_all = !status;
	if (started_all) {
		if (tls_ctx)
			printf("tls listening on %s:%u\n", o.srv.addr,
			       tls_only ? o.srv.port : (unsigned)o.tls.port);
		printf("listening on %s:%u\n", o.srv.addr, o.srv.port);
		fflush(stdout);
		/* each signal goes to every runtime: SIGUSR1 a stats line from
		 * each, SIGINT / SIGTERM stop them */
		while (urt_signal_hub_wait(&hub) == SIGUSR1)
			;
	} else {
		(void)urt_signal_hub_send(&hub, SIGTERM); /* stop those that started */
	}
	for (int i = 0; i < o.srv.threads; i++) {
		pthread_join(servers[i].th, NULL);
		if (servers[i].run_ret < 0)
			status = 1;
		if (servers[i].lfd >= 0) /* its runtime never took it */
			close(servers[i].lfd);
		if (servers[i].tls_lfd >= 0)
			close(servers[i].tls_lfd);
	}
	pthread_barrier_destroy(&started);
	urt_signal_hub_deinit(&hub);
	if (started_all)
		print_exit();
	if (root_fd >= 0)
		close(root_fd);
	tls_srv_ctx_free(tls_ctx);
	return status;
}
