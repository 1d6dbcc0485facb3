/* SPDX-License-Identifier: MIT */
/*
 * urt-kv - a Redis-protocol (RESP2) key-value store on urt's public API.
 *
 *   urt-kv [--port P] [--addr A] [--threads N] [--spawn slab|boxed]
 *          [--maxmemory BYTES] [--max-bulk BYTES] [--max-args N]
 *          [--max-request BYTES] [--max-pipeline N] [--max-conns N] [--fixed-fds]
 *          [--idle-ms MS] [--send-ms MS] [--max-clients-mem BYTES]
 *          [--hash-seed N] [--tls-port P --tls-cert-file F --tls-key-file F
 *          [--tls-ca-cert-file F] [--tls-auth-clients yes|no|optional] [--tls-handshake-ms MS]]
 *
 * --threads N runtimes, one per thread (a worker), each with its own
 * SO_REUSEPORT listener on the same port and running the connections it
 * accepts. All of them serve one keyspace (examples/kv/store.c) under one
 * lock, kv.sh.lock. A connection takes it once per batch: at the first
 * command it has parsed, held to the last of the batch, and nothing in a
 * batch awaits, so pipelined load pays one lock per batch and every
 * command (MGET, MSET, KEYS, SCAN, DBSIZE, FLUSHALL, INCR...) sees one
 * consistent keyspace, exactly as with one thread. The expiry sweep (on
 * the first worker) and the stats take it too. The store's memory comes
 * from its own size-class pools, used only under the lock: no runtime's
 * pools and nothing thread-local (docs/servers.md says why this is not
 * the thread-per-core split by key hash).
 *
 * One task per connection: a multishot receive into its runtime's shared
 * provided buffers, bytes appended to the connection's input buffer (task
 * memory), complete requests parsed in place (examples/kv/resp.c, slices
 * into that buffer) and executed (examples/kv/commands.c) in batches: at
 * most --max-pipeline requests, and no more once the batch's replies
 * reach 256 KiB. The batch is sent (pieces of at most 256 KiB) before the
 * rest of the input is parsed or more is received, so what a client's
 * few bytes can make the server hold is one batch, and a client that
 * never reads stops being read. A value of 16 KiB or more (or any once
 * the batch has 256 KiB) is not copied into the output: the reply holds
 * a reference to the entry (store_ref) and its bytes are sent from it
 * with the lock let go; a SET or DEL meanwhile detaches the entry from
 * the table and the last reference frees it. Value bytes of a
 * referenced entry are never changed in place (a SET rewrites a value in
 * place only when no reference is held and the size class is the same),
 * so what is sent is the value as the command saw it.
 *
 * Bounds (docs/servers.md has the table): --idle-ms and --send-ms are
 * deadlines without a timer per connection: each runtime keeps its
 * connections in two lists in the order they last moved (receiving,
 * sending) and one sweeper task a runtime closes the expired ones every
 * 100 ms (examples/idle.h). --max-clients-mem bounds what all connections
 * hold (input, output and reference arrays, bytes received but not read
 * yet), counted in O(1) per change per runtime, each runtime keeping to
 * its share; past it the largest holders are closed. --max-request is
 * checked at each bulk's header, so nothing is allocated for bytes that
 * are only announced. The key hash is SipHash-1-3 under a secret from
 * getrandom (--hash-seed N for a repeatable run).
 *
 * The commands (examples/kv/commands.c): strings only, PING ECHO GET
 * SET(EX PX EXAT PXAT NX XX GET KEEPTTL) SETNX SETEX PSETEX GETEX GETDEL
 * DEL UNLINK EXISTS INCR INCRBY DECR DECRBY INCRBYFLOAT APPEND STRLEN
 * GETRANGE SETRANGE MGET MSET MSETNX EXPIRE/PEXPIRE(NX XX GT LT) TTL PTTL
 * EXPIRETIME PEXPIRETIME PERSIST TYPE RENAME RENAMENX COPY RANDOMKEY
 * OBJECT ENCODING KEYS SCAN(MATCH COUNT TYPE) DBSIZE FLUSHALL FLUSHDB
 * SELECT QUIT, and enough of COMMAND, CLIENT, CONFIG GET, HELLO and INFO for
 * redis-cli and redis-benchmark, each answering as redis 7 does
 * (tests/kv/expected.txt; docs/servers.md lists what differs). Keys
 * expire lazily on access and by a sweep every 100 ms. Past --maxmemory
 * a write gets -OOM (no eviction). A request that arrives in pieces is
 * parsed on from where it stopped: its resume point lives in the
 * connection, since the argument arrays are the worker's, shared by its
 * connections.
 *
 * TLS (when built with liburt_tls: OpenSSL found), with redis 7's flag
 * names: --tls-port P serves RESP over TLS 1.2 and 1.3 on P beside the
 * plain --port, with --tls-cert-file and --tls-key-file; --tls-auth-clients
 * yes requires a client certificate that --tls-ca-cert-file's roots
 * verify (redis's default is yes; here it is no). A TLS connection is the
 * same task: after its handshake (within --tls-handshake-ms of the accept)
 * it reads plaintext with urt_tls_read straight into its input and writes
 * its batches with urt_tls_write_all; --idle-ms, --send-ms and
 * --max-clients-mem hold as for a plain one, the budget counting its TLS
 * state and, while it sends, the layer's out-buffer. QUIT, a protocol
 * error answered, or the client's close_notify end it with close_notify.
 *
 * Signals (urt/signal.h, urt/server.h): the main thread blocks SIGINT,
 * SIGTERM and SIGUSR1 in a hub (the workers inherit the mask) and delivers
 * each to every worker's signal task, read through its ring: SIGINT /
 * SIGTERM stop that runtime, SIGUSR1 files its figures,
 * and the last worker to file them prints the stats line, summed over
 * every runtime.
 * Prints "listening on ADDR:PORT" once every runtime is up; the stats line
 * at exit sums the runtimes too. Exit status 2 for bad flags.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <urt/urt.h>

#include "flags.h"
#include "kv/server.h"
#include "tls-server.h"

struct opts {
	struct server_flags srv; /* --port --addr --threads --spawn --max-conns */
	uint64_t maxmemory, max_bulk, max_request, max_clients_mem;
	uint64_t idle_ms, send_ms, hash_seed;
	uint32_t max_args, max_pipeline;
	bool seeded; /* --hash-seed given */
	struct tls_flags tls; /* --tls-port (-1: none), the files, --tls-auth-clients */
};

static struct opts o = {
	.srv = { .addr = "127.0.0.1", .port = 6379, .threads = 1, .max_conns = 16384 },
	.max_bulk = 64u << 20,
	.max_request = 0, /* 0 until parsed: --max-bulk + 64 KiB */
	.max_clients_mem = 512ull << 20,
	.idle_ms = 300000,
	.send_ms = 30000,
	.max_args = 1024 * 1024,
	.max_pipeline = 100,
	.tls = TLS_FLAGS_DEFAULT,
};

/*
 * A worker: one runtime on one thread, its server (kv/server.h) and what
 * urt-kv adds around it. k's fields are its own thread's, except: k.conns
 * and k.heap are atomics any thread may read; st, st_live and st_heap are
 * under kv.sh.lock; lfd, sig and k.id are set by the main thread before
 * the worker starts (lfd is the main thread's until the worker hands it to
 * its server, then -1); start_ret is read by the main thread after the
 * worker's post of kv.started, run_ret after its join.
 */
struct worker {
	struct kv_worker k;
	int lfd, tls_lfd;	    /* --port's listener; --tls-port's, or -1 */
	struct urt_signal_sub *sig; /* its subscription to the main thread's hub */
	int start_ret, run_ret;
	struct urt_runtime_stats st; /* the last figures it filed */
	uint64_t st_live;
	size_t st_heap;
	uint64_t st_closed[3]; /* the last figures it filed of those, and of mem: */
	uint64_t st_tls[2];    /* tls_conns, tls_handshake_fail */
	size_t st_mem;
	pthread_t th;
};

/*
 * What the workers share: the keyspace, its lock and the commands' view
 * of the server (kv/server.h), and the figures. kv.sh.lock guards
 * reports (and each worker's st, st_live and st_heap) too.
 */
static struct {
	struct kv_shared sh;
	uint64_t reports;
	sem_t started;		   /* each worker posts once, when it is up or has failed */
	struct urt_signal_hub hub; /* SIGINT, SIGTERM, SIGUSR1: to every worker */
	struct worker w[SERVER_MAX_THREADS];
	struct urt_tls_ctx *tls; /* --tls-port's context, shared by every worker; or NULL */
} kv;

/* The wall clock's ms less the monotonic clock's (urt_now_ns): EXAT, PXAT
 * and EXPIRETIME convert with it (kv_server.wall_off_ms). */
static int64_t wall_offset_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 -
	       (int64_t)(urt_now_ns() / 1000000u);
}

/* Connections open now, in every runtime. Context: any thread. */
static uint64_t conns_live(void)
{
	return atomic_load(&kv.sh.live);
}

/* Connections ever, in every runtime. Context: any thread. */
static uint64_t conns_total(void)
{
	uint64_t n = 0;

	for (int i = 0; i < o.srv.threads; i++)
		n += atomic_load_explicit(&kv.w[i].k.conns, memory_order_relaxed);
	return n;
}

/*
 * The stats line, summed over every runtime from the figures each filed
 * last. Context: kv.sh.lock held, or every worker joined.
 */
static void print_stats(const char *what)
{
	uint64_t live = 0, closed[3] = { 0 }, tls[2] = { 0 };
	size_t heap = 0, slab_live = 0, slab_cap = 0, ops = 0, ops_high = 0, mem = 0;
	size_t bufs_low = 0, bufs = 0, spill_high = 0, task_mem = 0, task_kept = 0;
	uint64_t ticks = 0, parks = 0, enters = 0, polls = 0, cqes = 0, submitted = 0;

	for (int i = 0; i < o.srv.threads; i++) {
		const struct worker *w = &kv.w[i];

		live += w->st_live;
		heap += w->st_heap;
		slab_live += w->st.slab_live;
		slab_cap += w->st.slab_capacity;
		ops += w->st.ops_live;
		ops_high += w->st.ops_high_water;
		bufs_low += w->st.bufs_free_low;
		bufs += w->st.buf_count;
		spill_high += w->st.spill_high_water;
		task_mem += w->st.task_mem_held;
		task_kept += w->st.task_mem_kept;
		ticks += w->st.ticks;
		parks += w->st.parks;
		enters += w->st.enters;
		polls += w->st.polls;
		cqes += w->st.cqes;
		submitted += w->st.ops_submitted;
		mem += w->st_mem;
		for (int j = 0; j < 3; j++)
			closed[j] += w->st_closed[j];
		tls[0] += w->st_tls[0];
		tls[1] += w->st_tls[1];
	}
	printf("%s: connections %" PRIu64 " live %" PRIu64 " commands %" PRIu64 " keys %zu "
	       "memory %zu heap_calls %zu slab %zu/%zu ops_live %zu ops_high_water %zu clients_mem "
	       "%zu "
	       "closed_idle %" PRIu64 " closed_send %" PRIu64 " closed_mem %" PRIu64 " "
	       "bufs_free_low %zu/%zu spill_high_water %zu tls_conns %" PRIu64
	       " tls_handshake_fail %" PRIu64 " tls_heap_calls %" PRIu64 " tls_heap_bytes %" PRId64
	       " ticks %" PRIu64 " parks %" PRIu64 " enters %" PRIu64 " polls %" PRIu64
	       " cqes %" PRIu64 " ops_submitted %" PRIu64
	       " task_mem %zu task_mem_kept %zu threads %d thread_conns ",
	       what, conns_total(), live, kv.sh.srv.commands, kv.sh.db.n, kv.sh.db.mem, heap,
	       slab_live, slab_cap, ops, ops_high, mem, closed[0], closed[1], closed[2], bufs_low,
	       bufs, spill_high, tls[0], tls[1], tls_srv_heap_calls(), tls_srv_heap_bytes(), ticks,
	       parks, enters, polls, cqes, submitted, task_mem, task_kept, o.srv.threads);
	for (int i = 0; i < o.srv.threads; i++)
		printf("%s%" PRIu64, i ? "," : "", atomic_load(&kv.w[i].k.conns));
	printf("\n");
	fflush(stdout);
}

/* File this runtime's figures; the last of a round to file prints the sum.
 * (A worker that files twice before another files once is counted twice:
 * the line then shows the other's previous figures. Gauges, not a ledger.) */
static void file_stats(struct worker *w, bool print)
{
	pthread_mutex_lock(&kv.sh.lock);
	urt_runtime_stats(&w->k.rt, &w->st);
	w->st_live = w->k.live;
	w->st_heap = atomic_load(&w->k.heap.calls);
	w->st_mem = kv_worker_mem(&w->k, &w->st); /* the stream bytes as held now */
	w->st_closed[0] = w->k.closed_idle;
	w->st_closed[1] = w->k.closed_send;
	w->st_closed[2] = w->k.closed_mem;
	w->st_tls[0] = w->k.tls_conns;
	w->st_tls[1] = w->k.tls_handshake_fail;
	if (print && ++kv.reports % (uint64_t)o.srv.threads == 0)
		print_stats("stats");
	pthread_mutex_unlock(&kv.sh.lock);
}

/* SIGUSR1, passed down the control pipe: file the figures; the last
 * worker of a round prints the line. Context: the worker's thread. */
static void on_stats(void *arg)
{
	file_stats(arg, true);
}

/* SIGINT / SIGTERM: the acceptor and the sweepers end; urt_stop follows. */
static void on_stop(void *arg)
{
	kv_worker_stop(&((struct worker *)arg)->k);
}

/* Set up this thread's runtime and its tasks. Return: 0; -errno (worker_main
 * lets go of whatever was set up). */
static int worker_start(struct worker *w)
{
	int ret;

	ret = kv_worker_init(
		&w->k, &kv.sh,
		&(struct kv_opts){
			.boxed = o.srv.boxed,
			.sweep_keys = w->k.id == 0, /* one keyspace, one sweep */
			.max_conns = o.srv.max_conns,
			.idle_ms = (uint32_t)o.idle_ms,
			.send_ms = (uint32_t)o.send_ms,
			/* each runtime keeps to its share: no atomics on the hot path */
			.mem_budget = o.max_clients_mem / (uint64_t)o.srv.threads,
			.tls = kv.tls,
			.tls_handshake_ms = (uint32_t)o.tls.handshake_ms,
			.fixed_fds = o.srv.fixed_fds,
		},
		w->k.id, NULL);
	if (ret)
		return ret;
	ret = urt_server_signals_start(&w->k.rt, &(struct urt_server_signals_opts){
							 .sub = w->sig,
							 .on_stats = on_stats,
							 .on_stop = on_stop,
							 .arg = w,
						 });
	if (ret)
		return ret;
	ret = kv_worker_start(&w->k, w->lfd);
	w->lfd = -1; /* the server's now: kv_worker_finish closes it */
	if (!ret && w->tls_lfd >= 0) {
		ret = kv_worker_start_tls(&w->k, w->tls_lfd);
		w->tls_lfd = -1;
	}
	return ret;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ret;

	ret = worker_start(w);
	if (ret)
		fprintf(stderr, "urt-kv: runtime %d: could not start: %s\n", w->k.id,
			strerror(-ret));
	w->start_ret = ret;
	sem_post(&kv.started);
	if (!ret) {
		ret = urt_run(&w->k.rt);
		if (ret < 0) {
			fprintf(stderr, "urt-kv: runtime %d: urt_run: %s\n", w->k.id,
				strerror(-ret));
			w->run_ret = ret;
			kill(getpid(), SIGTERM); /* the main thread stops the others */
		}
		file_stats(w, false); /* for the exit line, before deinit ends the connections */
	}
	/* the listener closed, deinit aborts the connections: their drops close them */
	(void)kv_worker_finish(&w->k);
	return NULL;
}

/* Tell the first n workers to stop, and join them. */
static void stop_workers(int n)
{
	(void)urt_signal_hub_send(&kv.hub, SIGTERM); /* a no-op for those stopped already */
	for (int i = 0; i < n; i++)
		pthread_join(kv.w[i].th, NULL);
}

/* Close the first n workers' listeners not handed over, and free the store. */
static void teardown(int n)
{
	for (int i = 0; i < n; i++) {
		if (kv.w[i].lfd >= 0) /* not handed to its server */
			close(kv.w[i].lfd);
		if (kv.w[i].tls_lfd >= 0)
			close(kv.w[i].tls_lfd);
	}
	urt_signal_hub_deinit(&kv.hub);
	kv_shared_deinit(&kv.sh);
	sem_destroy(&kv.started);
	tls_srv_ctx_free(kv.tls);
	kv.tls = NULL;
}

#define bad(msg, arg) flag_bad("urt-kv", msg, arg)

/* --- command line ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: urt-kv [--port P] [--addr A] [--threads N] [--spawn slab|boxed]\n"
		"              [--maxmemory BYTES] [--max-bulk BYTES] [--max-args N]\n"
		"              [--max-request BYTES] [--max-pipeline N] [--max-conns N]\n"
		"              [--fixed-fds]\n"
		"              [--idle-ms MS] [--send-ms MS] [--max-clients-mem BYTES]\n"
		"              [--hash-seed N] [--tls-port P --tls-cert-file F --tls-key-file F\n"
		"              [--tls-ca-cert-file F] [--tls-auth-clients yes|no|optional]\n"
		"              [--tls-handshake-ms MS]]\n"
		"  --port P         port (default 6379; 0 picks a free one)\n"
		"  --addr A         IPv4 address to bind (default 127.0.0.1)\n"
		"  --threads N      runtimes, one per thread, on the port (1..64, default 1);\n"
		"                   they share one keyspace\n"
		"  --spawn KIND     connection tasks in slab slots (default) or malloc boxes\n"
		"  --maxmemory B    writes past B bytes of data get -OOM (k/m/g suffixes; 0: none)\n"
		"  --max-bulk B     largest argument (default 64m)\n"
		"  --max-args N     most arguments in one request (default 1048576)\n"
		"  --max-request B  largest request, all its arguments and headers (default\n"
		"                   --max-bulk + 64k); refused at its header, before its bytes\n"
		"  --max-pipeline N requests answered per batch before their replies are sent\n"
		"                   (default 100); replies also go out past 256 KiB\n"
		"  --max-conns N    connections at once, all threads together (default 16384)\n"
		"  --fixed-fds      accepted sockets as io_uring direct descriptors\n"
		"  --idle-ms MS     close a connection that sends nothing, or whose request\n"
		"                   does not grow by 64 KiB, for MS (default 300000)\n"
		"  --send-ms MS     close a connection whose replies do not move (256 KiB)\n"
		"                   for MS (default 30000)\n"
		"  --max-clients-mem B  budget for all connections' buffers (input, output,\n"
		"                   unread received bytes); past it the largest holders are\n"
		"                   closed (default 512m; split evenly over --threads)\n"
		"  --hash-seed N    key the keyspace's hash with N (default: from getrandom)\n"
		"  --tls-port P     RESP over TLS 1.2 and 1.3 on P too (0 picks a free one);\n"
		"                   needs a build with OpenSSL\n"
		"  --tls-cert-file F  the TLS certificate chain (PEM, leaf first)\n"
		"  --tls-key-file F the private key of --tls-cert-file (PEM)\n"
		"  --tls-ca-cert-file F  roots that verify client certificates\n"
		"  --tls-auth-clients yes|no|optional  yes: a client must present a\n"
		"                   certificate that --tls-ca-cert-file verifies; optional:\n"
		"                   one is asked for and verified if sent (default no,\n"
		"                   unlike redis)\n"
		"  --tls-handshake-ms MS  close a TLS connection whose handshake is not done\n"
		"                   MS after its accept (default 10000)\n"
		"Prints 'listening on ADDR:PORT' once ready, after 'tls listening on\n"
		"ADDR:PORT' with --tls-port.\n");
}

/* The flags into o. Return: 0; 2 for a bad flag (said on stderr). */
static int parse(int argc, char **argv)
{
	static const struct option longs[] = {
		SERVER_OPTIONS,
		{ "maxmemory", required_argument, 0, 'M' },
		{ "max-bulk", required_argument, 0, 'b' },
		{ "max-args", required_argument, 0, 'n' },
		{ "max-request", required_argument, 0, 'R' },
		{ "max-pipeline", required_argument, 0, 'P' },
		{ "idle-ms", required_argument, 0, 'i' },
		{ "send-ms", required_argument, 0, 'S' },
		{ "max-clients-mem", required_argument, 0, 'C' },
		{ "hash-seed", required_argument, 0, 'H' },
		{ "tls-port", required_argument, 0, TLS_FLAG_PORT },
		{ "tls-cert-file", required_argument, 0, TLS_FLAG_CERT },
		{ "tls-key-file", required_argument, 0, TLS_FLAG_KEY },
		{ "tls-ca-cert-file", required_argument, 0, TLS_FLAG_CA },
		{ "tls-auth-clients", required_argument, 0, TLS_FLAG_AUTH },
		{ "tls-handshake-ms", required_argument, 0, TLS_FLAG_HANDSHAKE_MS },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint64_t v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		int r = server_flag("urt-kv", c, optarg, &o.srv);

		if (r < 0)
			r = tls_flag("urt-kv", c, optarg, &o.tls);

		if (r >= 0) {
			if (r)
				return r;
			continue;
		}
		switch (c) {
		case 'M':
			if (!flag_size(optarg, 0, UINT64_MAX, &o.maxmemory))
				return bad("bad --maxmemory", optarg);
			break;
		case 'b':
			if (!flag_size(optarg, 1, 1ull << 30, &o.max_bulk))
				return bad("bad --max-bulk", optarg);
			break;
		case 'n':
			if (!flag_size(optarg, 1, 1u << 24, &v))
				return bad("bad --max-args", optarg);
			o.max_args = (uint32_t)v;
			break;
		case 'R':
			if (!flag_size(optarg, 1024, 4ull << 30, &o.max_request))
				return bad("bad --max-request (1k..4g)", optarg);
			break;
		case 'P':
			if (!flag_uint(optarg, 1, 1u << 20, &v))
				return bad("bad --max-pipeline", optarg);
			o.max_pipeline = (uint32_t)v;
			break;
		case 'i':
			if (!flag_uint(optarg, 1, 86400000, &o.idle_ms))
				return bad("bad --idle-ms (1..86400000)", optarg);
			break;
		case 'S':
			if (!flag_uint(optarg, 1, 86400000, &o.send_ms))
				return bad("bad --send-ms (1..86400000)", optarg);
			break;
		case 'C':
			if (!flag_size(optarg, 1, UINT64_MAX, &o.max_clients_mem))
				return bad("bad --max-clients-mem", optarg);
			break;
		case 'H':
			if (!flag_uint(optarg, 0, UINT64_MAX, &o.hash_seed))
				return bad("bad --hash-seed", optarg);
			o.seeded = true;
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
	if (!o.max_request)
		o.max_request = o.max_bulk + 64 * 1024;
	if (o.tls.port < 0 && (o.tls.cert || o.tls.key || o.tls.ca || o.tls.auth))
		return bad("the --tls-* files need --tls-port", NULL);
	if (o.tls.port >= 0 && (!o.tls.cert || !o.tls.key))
		return bad("--tls-port needs --tls-cert-file and --tls-key-file", NULL);
	if (o.tls.auth && !o.tls.ca)
		return bad("--tls-auth-clients yes or optional needs --tls-ca-cert-file", NULL);
	if (o.tls.port > 0 && o.tls.port == o.srv.port)
		return bad("--tls-port is --port", NULL);
	return 0;
}

/* --tls-port's context from the --tls-* files, shared by every worker.
 * Return: 0; 2, the exit status (a file it cannot use: said). */
static int tls_context(void)
{
	const struct tls_srv_file files[] = { { "--tls-cert-file", o.tls.cert },
					      { "--tls-key-file", o.tls.key },
					      { "--tls-ca-cert-file", o.tls.ca } };

	if (o.tls.port < 0)
		return 0;
	return tls_srv_ctx("urt-kv",
			   &(struct urt_tls_ctx_opts){ .cert_file = o.tls.cert,
						       .key_file = o.tls.key,
						       .ca_file = o.tls.auth ? o.tls.ca : NULL,
						       .verify_peer = o.tls.auth == 1,
						       .peer_optional = o.tls.auth == 2 },
			   files, 3, &kv.tls);
}

/*
 * Each worker's listener, on one port (port 0: the first picks it, the
 * others bind to it; SO_REUSEPORT only when there are several, so a
 * second urt-kv on a taken port still fails), and its control pipe.
 * Return: 0; else the exit status, with *n workers' descriptors open.
 */
static int open_workers(int *n, uint16_t *port)
{
	unsigned flags = o.srv.threads > 1 ? URT_LISTEN_REUSEPORT : 0;
	uint16_t tls_port = (uint16_t)o.tls.port;

	*port = o.srv.port;
	for (*n = 0; *n < o.srv.threads; (*n)++) {
		struct worker *w = &kv.w[*n];

		w->k.id = *n;
		w->tls_lfd = -1;
		w->lfd = urt_listen_tcp(o.srv.addr, *port, 4096, flags, port);
		if (w->lfd < 0) {
			fprintf(stderr, "urt-kv: listen on %s:%u: %s\n", o.srv.addr, *port,
				strerror(-w->lfd));
			return w->lfd == -EINVAL ? 2 : 1; /* --addr is not an address: a bad flag */
		}
		if (o.tls.port >= 0) {
			w->tls_lfd = urt_listen_tcp(o.srv.addr, tls_port, 4096, flags, &tls_port);
			if (w->tls_lfd < 0) {
				fprintf(stderr, "urt-kv: listen on %s:%u (--tls-port): %s\n",
					o.srv.addr, tls_port, strerror(-w->tls_lfd));
				w->tls_lfd = -1;
				(*n)++; /* its lfd is open: teardown closes it */
				return 1;
			}
			o.tls.port = tls_port;
		}
		if (urt_signal_subscribe(&kv.hub, &w->sig)) {
			perror("urt-kv: signals");
			close(w->lfd);
			if (w->tls_lfd >= 0)
				close(w->tls_lfd);
			return 1;
		}
	}
	return 0;
}

/* Start the workers and wait until each is up or has failed. Return:
 * whether all are up; the ones started are in *started. */
static bool start_workers(int *started)
{
	bool ok = true;

	for (*started = 0; *started < o.srv.threads; (*started)++) {
		struct worker *w = &kv.w[*started];

		if (pthread_create(&w->th, NULL, worker_main, w)) {
			fprintf(stderr, "urt-kv: cannot start thread %d\n", *started);
			ok = false;
			break;
		}
	}
	for (int i = 0; i < *started; i++)
		while (sem_wait(&kv.started) && errno == EINTR)
			;
	for (int i = 0; i < *started; i++)
		ok = ok && !kv.w[i].start_ret;
	return ok;
}

int main(int argc, char **argv)
{
	uint16_t port;
	int ret, n;

	/* before anything else can make OpenSSL allocate: its heap calls are
	 * counted from the start (the stats line's tls_heap_calls) */
	tls_srv_count_heap("urt-kv");
	ret = parse(argc, argv);
	if (ret)
		return ret;
	ret = tls_context();
	if (ret)
		return ret;
	/* a secret hash key unless the run must be repeatable (--hash-seed) */
	if (!o.seeded && getrandom(&o.hash_seed, sizeof(o.hash_seed), 0) != sizeof(o.hash_seed))
		o.hash_seed = urt_now_ns() ^ (uint64_t)getpid() << 32; /* no getrandom: weaker */
	if (kv_shared_init(&kv.sh,
			   &(struct resp_limits){ .max_args = o.max_args,
						  .max_bulk = o.max_bulk,
						  .max_inline = 64 * 1024,
						  .max_request = o.max_request },
			   o.maxmemory, o.srv.max_conns, o.max_pipeline, o.hash_seed)) {
		fprintf(stderr, "urt-kv: out of memory\n");
		return 1;
	}
	kv.sh.srv.threads = o.srv.threads;
	kv.sh.srv.conns_live = conns_live;
	kv.sh.srv.conns_total = conns_total;
	kv.sh.srv.wall_off_ms = wall_offset_ms();
	if (sem_init(&kv.started, 0, 0)) {
		perror("urt-kv: sem_init");
		kv_shared_deinit(&kv.sh);
		return 1;
	}
	/* signals come to the hub, never to a worker: blocked here, before
	 * any thread starts (they inherit the mask) */
	ret = urt_server_signals_hub(&kv.hub);
	if (ret) {
		fprintf(stderr, "urt-kv: signals: %s\n", strerror(-ret));
		kv_shared_deinit(&kv.sh);
		sem_destroy(&kv.started);
		return 1;
	}
	ret = open_workers(&n, &port);
	if (ret) {
		teardown(n);
		return ret;
	}
	if (!start_workers(&n)) {
		stop_workers(n);
		teardown(o.srv.threads);
		return 1;
	}
	if (o.tls.port >= 0)
		printf("tls listening on %s:%u\n", o.srv.addr, (unsigned)o.tls.port);
	printf("listening on %s:%u\n", o.srv.addr, port);
	fflush(stdout);
	/* until SIGINT or SIGTERM; SIGUSR1 asks every worker for its figures */
	while (urt_signal_hub_wait(&kv.hub) == SIGUSR1) /* to every worker */
		;
	stop_workers(o.srv.threads);
	print_stats("exit");
	for (int i = 0; i < o.srv.threads; i++)
		if (kv.w[i].run_ret < 0)
			ret = 1;
	teardown(o.srv.threads);
	return ret;
}
