/* SPDX-License-Identifier: MIT */
/*
 * urt-kv - a Redis-protocol (RESP2) key-value store on urt's public API.
 *
 *   urt-kv [--port P] [--addr A] [--threads N] [--spawn slab|boxed]
 *          [--maxmemory BYTES] [--max-bulk BYTES] [--max-args N]
 *          [--max-conns N]
 *
 * --threads N runtimes, one per thread (a worker), each with its own
 * SO_REUSEPORT listener on the same port and running the connections it
 * accepts. All of them serve one keyspace (examples/kv/store.c) under one
 * lock, kv.lock. A connection takes it once per batch: at the first
 * command it has parsed from one receive, held to the last of them, and
 * nothing in a batch awaits, so pipelined load pays one lock per receive
 * and every command (MGET, MSET, KEYS, SCAN, DBSIZE, FLUSHALL, INCR...)
 * sees one consistent keyspace, exactly as with one thread. The expiry
 * sweep (on the first worker) and the stats take it too. The store's
 * memory comes from its own size-class pools, used only under the lock:
 * no runtime's pools and nothing thread-local (docs/servers.md says why
 * this is not the thread-per-core split by key hash).
 *
 * One task per connection: a multishot receive into its runtime's shared
 * provided buffers, bytes appended to the connection's input buffer (task
 * memory), every complete request parsed in place (examples/kv/resp.c,
 * slices into that buffer) and executed (examples/kv/commands.c), the
 * replies gathered into the connection's output buffer and sent with one
 * urt_send_all before it reads again: pipelined requests are answered in
 * order, in one send per batch, and a client that never reads stops being
 * read (bounded memory).
 *
 * The commands (examples/kv/commands.c): strings only, PING ECHO GET
 * SET(EX PX EXAT PXAT NX XX GET KEEPTTL) DEL UNLINK EXISTS INCR INCRBY DECR
 * DECRBY APPEND STRLEN MGET MSET EXPIRE/PEXPIRE(NX XX GT LT) TTL PTTL
 * PERSIST TYPE KEYS SCAN(MATCH COUNT TYPE) DBSIZE FLUSHALL FLUSHDB SELECT
 * QUIT, and enough of COMMAND, CLIENT, CONFIG GET, HELLO and INFO for
 * redis-cli and redis-benchmark, each answering as redis 7 does
 * (tests/kv/expected.txt; docs/servers.md lists what differs). Keys
 * expire lazily on access and by a sweep every 100 ms. Past --maxmemory
 * a write gets -OOM (no eviction). A request that arrives in pieces is
 * parsed on from where it stopped: its resume point lives in the
 * connection, since the argument arrays are the worker's, shared by its
 * connections.
 *
 * Control (examples/control.h): the main thread blocks SIGINT, SIGTERM and
 * SIGUSR1 (the workers inherit the mask) and takes them with sigwait. Each
 * worker has a control task reading a pipe from it through the ring: 's'
 * stops that runtime (SIGINT / SIGTERM), 'r' (SIGUSR1) files its figures,
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urt/urt.h>

#include "acceptor.h"
#include "control.h"
#include "counting.h"
#include "flags.h"
#include "kv/commands.h"
#include "kv/resp.h"
#include "kv/store.h"


struct opts {
	struct server_flags srv; /* --port --addr --threads --spawn --max-conns */
	uint64_t maxmemory, max_bulk;
	uint32_t max_args;
};

static struct opts o = {
	.srv = { .addr = "127.0.0.1", .port = 6379, .threads = 1, .max_conns = 16384 },
	.max_bulk = 64u << 20,
	.max_args = 1024 * 1024,
};

/*
 * A worker: one runtime on one thread. Its fields are its own thread's,
 * except: conns and heap are atomics any thread may read; st, st_live and
 * st_heap are under kv.lock; lfd, ctl and id are set by the main thread
 * before the worker starts; start_ret is read by the main thread after the
 * worker's post of kv.started, run_ret after its join.
 */
struct worker {
	struct urt_runtime rt;
	struct counting heap; /* the runtime's backing allocator, counted */
	const char **argv;    /* one request's arguments: used inside one poll, no await */
	size_t *len;
	uint64_t live;		/* its connections open now */
	_Atomic uint64_t conns; /* its connections ever */
	bool stop;		/* its acceptor and sweeper end */
	bool has_rt;		/* rt is initialised */
	int id, lfd, ctl[2];	/* ctl: the pipe from the main thread, 'r' or 's' */
	int start_ret, run_ret;
	struct urt_runtime_stats st; /* the last figures it filed */
	uint64_t st_live;
	size_t st_heap;
	pthread_t th;
};

/*
 * What the workers share. kv.lock guards db, srv's figures and reports (and
 * each worker's st, st_live and st_heap). lim, srv's settings (and the
 * options, o) are written before the workers start and only read after.
 * live and next_id are atomics.
 */
static struct {
	pthread_mutex_t lock;
	struct store db;
	struct kv_server srv; /* what the commands see of the server */
	uint64_t reports;
	struct resp_limits lim;
	_Atomic uint64_t live;	  /* connections open in every runtime: --max-conns's count */
	_Atomic uint64_t next_id; /* CLIENT ID */
	sem_t started;		  /* each worker posts once, when it is up or has failed */
	struct worker w[SERVER_MAX_THREADS];
} kv = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* This thread's worker: set before its runtime starts; NULL on the main thread. */
static __thread struct worker *me;

static int64_t now_ms(void)
{
	return (int64_t)(urt_now_ns() / 1000000u);
}

/* --- a connection ------------------------------------------------------------- */

struct conn {
	int fd, n, ret;
	struct kv_client cl; /* what its commands see: the output buffer, closing */
	struct urt_op rx;
	struct urt_io_all tx;
	struct urt_buf b;
	char *in; /* task memory */
	size_t in_len, in_cap;
	struct resp_resume
		resume; /* how far the incomplete request at the start of `in` is parsed */
};

/* Connections open now, in every runtime. Context: any thread. */
static uint64_t conns_live(void)
{
	return atomic_load(&kv.live);
}

/* Connections ever, in every runtime. Context: any thread. */
static uint64_t conns_total(void)
{
	uint64_t n = 0;

	for (int i = 0; i < o.srv.threads; i++)
		n += atomic_load_explicit(&kv.w[i].conns, memory_order_relaxed);
	return n;
}

/* Append a received chunk. Return: false if the request would pass the limit. */
static bool in_append(struct urt_task *t, struct conn *c, const char *p, size_t n)
{
	size_t limit = o.max_bulk + 64 * 1024, cap = c->in_cap ? c->in_cap : KV_OUT_CHUNK;
	char *q;

	if (c->in_len + n > limit) /* one incomplete request can hold no more */
		return false;
	if (c->in_len + n <= c->in_cap) {
		memcpy(c->in + c->in_len, p, n);
		c->in_len += n;
		return true;
	}
	while (cap < c->in_len + n)
		cap *= 2;
	q = urt_task_alloc(t, cap);
	if (!q)
		return false;
	if (c->in_len)
		memcpy(q, c->in, c->in_len);
	if (c->in)
		urt_task_free(t, c->in);
	c->in = q;
	c->in_cap = cap;
	memcpy(c->in + c->in_len, p, n);
	c->in_len += n;
	return true;
}

/*
 * Parse and run every complete request in the input; keep the rest. The
 * batch runs under kv.lock, taken at its first command and let go after
 * its last: one lock per receive however many requests it held, and no
 * other connection's command between two of them. Nothing here awaits.
 */
static void run_requests(struct urt_task *t, struct conn *c)
{
	size_t pos = 0;
	bool locked = false;

	if (c->in_len < c->resume.need)
		return; /* the request at the start is still arriving */
	while (pos < c->in_len && !c->cl.closing) {
		struct resp_cmd cmd = { .argv = me->argv, .len = me->len, .resume = c->resume };
		const char *why;
		long k = resp_parse(c->in + pos, c->in_len - pos, &kv.lim, &cmd, &why);

		if (k == 0) {
			c->resume = cmd.resume;
			break;
		}
		if (k < 0) {
			kv_reply_error(t, &c->cl, why);
			c->cl.closing = true; /* as redis: the stream cannot be resynchronised */
			break;
		}
		pos += (size_t)k;
		c->resume = (struct resp_resume){ 0 };
		if (cmd.argc) {
			if (!locked) {
				pthread_mutex_lock(&kv.lock);
				locked = true;
			}
			kv_execute(&kv.srv, t, &c->cl, cmd.argc, cmd.argv, cmd.len);
		}
		if (c->cl.oom) { /* the reply itself could not be stored */
			c->cl.closing = true;
			break;
		}
	}
	if (locked)
		pthread_mutex_unlock(&kv.lock);
	if (pos) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
}

/* A connection keeps no more than it needs: a buffer grown for one big
 * request or reply goes back once it is done with. */
static void shrink(struct urt_task *t, struct conn *c)
{
	if (c->cl.out_cap > 64 * 1024 && !c->cl.out_len) {
		urt_task_free(t, c->cl.out);
		c->cl.out = NULL;
		c->cl.out_cap = 0;
	}
	if (c->in_cap > 64 * 1024 && c->in_len <= KV_OUT_CHUNK) {
		char *q = urt_task_alloc(t, KV_OUT_CHUNK);

		if (!q)
			return;
		memcpy(q, c->in, c->in_len);
		urt_task_free(t, c->in);
		c->in = q;
		c->in_cap = KV_OUT_CHUNK;
	}
}

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	URT_BEGIN(t);
	while (!c->cl.closing) {
		URT_AWAIT(t, c->n = urt_recv_stream(t, &c->rx, c->fd, &c->b));
		if (c->n <= 0)
			break;
		if (!in_append(t, c, c->b.data, c->b.len)) {
			kv_reply_error(t, &c->cl, "ERR Protocol error: request too big");
			c->cl.closing = true;
		}
		urt_buf_free(&c->b);
		run_requests(t, c);
		if (c->cl.out_len) {
			URT_AWAIT(t, c->ret = urt_send_all(t, &c->tx, c->fd, c->cl.out,
							   c->cl.out_len));
			c->cl.out_len = 0;
			if (c->ret < 0)
				break;
		}
		shrink(t, c);
	}
	URT_AWAIT(t, urt_recv_stream_end(t, &c->rx, c->fd));
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
	urt_buf_free(&c->b);
	urt_close_detached(c->fd);
	me->live--;
	atomic_fetch_sub(&kv.live, 1);
}

static const struct urt_task_type conn_type = { .poll = conn_poll,
						.drop = conn_drop,
						.name = "kv-conn" };

/* --- the acceptor, the sweeper, control ------------------------------------------- */

/* A new connection: its task, unless the cap (all runtimes' connections) is reached. */
static int on_conn(int fd)
{
	struct conn c = { .fd = fd,
			  .cl = { .id = atomic_fetch_add(&kv.next_id, 1) + 1, .thread = me->id } };
	int ret;

	/* a place under the cap first, so two runtimes cannot both take the last */
	if (atomic_fetch_add(&kv.live, 1) >= o.srv.max_conns) { /* the cap, for boxed tasks too */
		atomic_fetch_sub(&kv.live, 1);
		return -ENOSPC;
	}
	ret = o.srv.boxed ? urt_spawn(&me->rt, &conn_type, &c, sizeof(c), NULL)
		      : urt_spawn_slab(&conn_type, &c, sizeof(c), NULL);
	if (ret) {
		atomic_fetch_sub(&kv.live, 1);
		return ret;
	}
	atomic_fetch_add_explicit(&me->conns, 1, memory_order_relaxed);
	me->live++;
	return 0;
}

struct sweeper {
	struct urt_op nap;
	int ret;
};

/* One keyspace, one sweep: it runs on the first worker only. */
static bool sweeper_poll(struct urt_task *t, void *arg)
{
	struct sweeper *s = arg;

	URT_BEGIN(t);
	while (!me->stop) {
		URT_AWAIT(t, s->ret = urt_sleep(t, &s->nap, 100000000));
		pthread_mutex_lock(&kv.lock);
		store_sweep(&kv.db, 1024, now_ms());
		pthread_mutex_unlock(&kv.lock);
	}
	URT_END(t);
}

static const struct urt_task_type sweeper_type = { .poll = sweeper_poll, .name = "kv-sweep" };

/*
 * The stats line, summed over every runtime from the figures each filed
 * last. Context: kv.lock held, or every worker joined.
 */
static void print_stats(const char *what)
{
	uint64_t live = 0;
	size_t heap = 0, slab_live = 0, slab_cap = 0, ops = 0;

	for (int i = 0; i < o.srv.threads; i++) {
		const struct worker *w = &kv.w[i];

		live += w->st_live;
		heap += w->st_heap;
		slab_live += w->st.slab_live;
		slab_cap += w->st.slab_capacity;
		ops += w->st.ops_live;
	}
	printf("%s: connections %" PRIu64 " live %" PRIu64 " commands %" PRIu64 " keys %zu "
	       "memory %zu heap_calls %zu slab %zu/%zu ops_live %zu threads %d thread_conns ",
	       what, conns_total(), live, kv.srv.commands, kv.db.n, kv.db.mem, heap, slab_live,
	       slab_cap, ops, o.srv.threads);
	for (int i = 0; i < o.srv.threads; i++)
		printf("%s%" PRIu64, i ? "," : "", atomic_load(&kv.w[i].conns));
	printf("\n");
	fflush(stdout);
}

/* File this runtime's figures; the last of a round to file prints the sum.
 * (A worker that files twice before another files once is counted twice:
 * the line then shows the other's previous figures. Gauges, not a ledger.) */
static void file_stats(struct worker *w, bool print)
{
	pthread_mutex_lock(&kv.lock);
	urt_runtime_stats(&w->rt, &w->st);
	w->st_live = w->live;
	w->st_heap = atomic_load(&w->heap.calls);
	if (print && ++kv.reports % (uint64_t)o.srv.threads == 0)
		print_stats("stats");
	pthread_mutex_unlock(&kv.lock);
}

/* SIGUSR1, passed down the control pipe: file the figures; the last
 * worker of a round prints the line. Context: the worker's thread. */
static void on_stats(void *arg)
{
	file_stats(arg, true);
}

/* Set up this thread's runtime and its tasks. Return: 0; -errno (worker_main
 * lets go of whatever was set up). */
static int worker_start(struct worker *w)
{
	int ret;

	w->argv = malloc(o.max_args * sizeof(*w->argv));
	w->len = malloc(o.max_args * sizeof(*w->len));
	if (!w->argv || !w->len)
		return -ENOMEM;
	counting_init(&w->heap);
	/* each slab can hold --max-conns: the cap is global and one runtime may
	 * get every connection; slots are touched only when used */
	ret = urt_runtime_init(&w->rt, &(struct urt_runtime_opts){
					       .slab = o.srv.boxed ? URT_SLAB_NONE : URT_SLAB_BOUNDED,
					       .slot_size = 64 + (sizeof(struct conn) + 15) / 16 * 16,
					       .slab_slots = o.srv.max_conns,
					       .allocator = &w->heap.al,
				       });
	if (ret)
		return ret;
	w->has_rt = true;
	ret = control_start(&w->rt, w->ctl[0], &w->stop, on_stats, w);
	if (!ret)
		ret = acceptor_start(&w->rt, w->lfd, &w->stop, on_conn);
	if (!ret && w->id == 0)
		ret = urt_spawn(&w->rt, &sweeper_type, &(struct sweeper){ 0 },
				sizeof(struct sweeper), NULL);
	return ret;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int ret;

	me = w;
	ret = worker_start(w);
	if (ret)
		fprintf(stderr, "urt-kv: runtime %d: could not start: %s\n", w->id, strerror(-ret));
	w->start_ret = ret;
	sem_post(&kv.started);
	if (!ret) {
		ret = urt_run(&w->rt);
		if (ret < 0) {
			fprintf(stderr, "urt-kv: runtime %d: urt_run: %s\n", w->id, strerror(-ret));
			w->run_ret = ret;
			kill(getpid(), SIGTERM); /* the main thread stops the others */
		}
		file_stats(w, false); /* for the exit line, before deinit ends the connections */
	}
	/* deinit aborts the connections: their drops close them */
	if (w->has_rt)
		(void)urt_runtime_deinit(&w->rt);
	free(w->argv);
	free(w->len);
	return NULL;
}

/* Tell the first n workers to stop, and join them. */
static void stop_workers(int n)
{
	for (int i = 0; i < n; i++)
		control_send("urt-kv", kv.w[i].ctl[1], 's');
	for (int i = 0; i < n; i++)
		pthread_join(kv.w[i].th, NULL);
}

/* Close the first n workers' listeners and pipes, and free the store. */
static void teardown(int n)
{
	for (int i = 0; i < n; i++) {
		close(kv.w[i].lfd);
		close(kv.w[i].ctl[0]);
		close(kv.w[i].ctl[1]);
	}
	store_deinit(&kv.db);
	sem_destroy(&kv.started);
}

#define bad(msg, arg) flag_bad("urt-kv", msg, arg)

/* --- command line ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: urt-kv [--port P] [--addr A] [--threads N] [--spawn slab|boxed]\n"
		"              [--maxmemory BYTES] [--max-bulk BYTES] [--max-args N]\n"
		"              [--max-conns N]\n"
		"  --port P         port (default 6379; 0 picks a free one)\n"
		"  --addr A         IPv4 address to bind (default 127.0.0.1)\n"
		"  --threads N      runtimes, one per thread, on the port (1..64, default 1);\n"
		"                   they share one keyspace\n"
		"  --spawn KIND     connection tasks in slab slots (default) or malloc boxes\n"
		"  --maxmemory B    writes past B bytes of data get -OOM (k/m/g suffixes; 0: none)\n"
		"  --max-bulk B     largest argument (default 64m)\n"
		"  --max-args N     most arguments in one request (default 1048576)\n"
		"  --max-conns N    connections at once, all threads together (default 16384)\n");
}

/* The flags into o. Return: 0; 2 for a bad flag (said on stderr). */
static int parse(int argc, char **argv)
{
	static const struct option longs[] = {
		SERVER_OPTIONS,
		{ "maxmemory", required_argument, 0, 'M' }, { "max-bulk", required_argument, 0, 'b' },
		{ "max-args", required_argument, 0, 'n' },
		{ "help", no_argument, 0, 'h' },	    { 0, 0, 0, 0 },
	};
	uint64_t v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		int r = server_flag("urt-kv", c, optarg, &o.srv);

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
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return bad("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument", argv[optind]);
	return 0;
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

	*port = o.srv.port;
	for (*n = 0; *n < o.srv.threads; (*n)++) {
		struct worker *w = &kv.w[*n];

		w->id = *n;
		w->lfd = urt_listen_tcp(o.srv.addr, *port, 4096, flags, port);
		if (w->lfd < 0) {
			fprintf(stderr, "urt-kv: listen on %s:%u: %s\n", o.srv.addr, *port,
				strerror(-w->lfd));
			return w->lfd == -EINVAL ? 2 : 1; /* --addr is not an address: a bad flag */
		}
		if (pipe2(w->ctl, O_CLOEXEC)) {
			perror("urt-kv: pipe");
			close(w->lfd);
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
	sigset_t set;
	uint16_t port;
	int ret, n;

	ret = parse(argc, argv);
	if (ret)
		return ret;
	kv.srv = (struct kv_server){ .db = &kv.db,
				     .max_bulk = o.max_bulk,
				     .maxmemory = o.maxmemory,
				     .threads = o.srv.threads,
				     .conns_live = conns_live,
				     .conns_total = conns_total };
	kv.lim = (struct resp_limits){ .max_args = o.max_args,
				       .max_bulk = o.max_bulk,
				       .max_inline = 64 * 1024 };
	if (store_init(&kv.db, o.maxmemory)) {
		fprintf(stderr, "urt-kv: out of memory\n");
		return 1;
	}
	if (sem_init(&kv.started, 0, 0)) {
		perror("urt-kv: sem_init");
		store_deinit(&kv.db);
		return 1;
	}
	ret = open_workers(&n, &port);
	if (ret) {
		teardown(n);
		return ret;
	}
	/* signals come here, never to a worker: they inherit the mask */
	control_block_signals(&set);
	if (!start_workers(&n)) {
		stop_workers(n);
		teardown(o.srv.threads);
		return 1;
	}
	printf("listening on %s:%u\n", o.srv.addr, port);
	fflush(stdout);
	/* until SIGINT or SIGTERM; SIGUSR1 asks every worker for its figures */
	while (control_next_signal(&set) == SIGUSR1)
		for (int i = 0; i < o.srv.threads; i++)
			control_send("urt-kv", kv.w[i].ctl[1], 'r');
	stop_workers(o.srv.threads);
	print_stats("exit");
	for (int i = 0; i < o.srv.threads; i++)
		if (kv.w[i].run_ret < 0)
			ret = 1;
	teardown(o.srv.threads);
	return ret;
}
