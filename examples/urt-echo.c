/* SPDX-License-Identifier: MIT */
/*
 * urt-echo - a TCP echo server on urt's public API, one task per
 * connection.
 *
 *   urt-echo [--addr A] [--port P] [--threads N] [--spawn slab|boxed]
 *            [--max-conns N] [--bufs N] [--send-ms MS] [--idle-ms MS]
 *            [--max-clients-mem B]
 *
 * Each thread runs one runtime with its own SO_REUSEPORT listener on the
 * same port (thread per core: nothing is shared between runtimes). A
 * connection task receives through the runtime's shared provided-buffer
 * ring (a multishot receive stream) and sends every chunk back in order
 * with urt_send_all before it takes the next one.
 *
 * A client that sends and does not read: the send waits for room, at
 * most --send-ms (default 30 s; then the connection is closed), and the
 * chunk it holds meanwhile leaves the shared ring if the ring is short
 * (urt_buf_hold). What arrives meanwhile stays unread on the stream: at
 * most one arm (64 KiB) plus one buffer, out of the ring once half of it
 * is held that way (see include/urt/net.h). So a connection holds its
 * slot, its op records and at most about 72 KiB of received bytes, and
 * non-readers cannot starve the others. --max-clients-mem (default 64 MiB)
 * bounds all of it together: the sweeper reads the runtime's spill memory
 * and ring buffers in use each tick and, only when that passes the budget,
 * counts every connection and closes the largest holders. A connection that
 * sends nothing for --idle-ms (default 300 s) is closed; the deadline costs
 * no timer per connection: connections sit in a list in the order they last sent,
 * and one sweeper task per runtime closes the expired ones (idle.h).
 *
 * --spawn slab (default): connection tasks live in a bounded slab of
 * --max-conns slots. The acceptor (urt_acceptor_start, urt/server.h)
 * reserves the next connection's slot *before* it accepts
 * (urt_claim_slab_wait), on_conn builds the state in the slot and spawns
 * it (urt_claim_spawn), one single-shot accept per reserved slot. When the
 * slab is full it accepts nothing and waits for a slot, so a full server
 * leaves new connections in the kernel's backlog: no descriptor without a
 * slot, no error, no busy loop.
 * --spawn boxed: urt_spawn (malloc) and a multishot accept, for comparison.
 *
 * Signals (urt/server.h, urt/signal.h): the main thread blocks SIGINT,
 * SIGTERM and SIGUSR1 in a hub before it starts the runtimes' threads, and
 * delivers each signal to every runtime; each runtime's signal task reads
 * its subscription through the ring: SIGUSR1 prints that runtime's stats
 * line, SIGINT / SIGTERM stop it. Stopping ends urt_run; deinit then aborts
 * every connection, whose drop closes its socket.
 *
 * "heap calls" counts the calls the runtime makes to its backing allocator
 * (opts.allocator is a counting wrapper around malloc): the figure a
 * steady-state server should hold at zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <urt/urt.h>

#include "counting.h"
#include "flags.h"
#include "idle.h"

#define MAX_THREADS 64

struct opts {
	const char *addr;
	uint16_t port;
	int threads;
	bool boxed;
	uint32_t max_conns;
	uint32_t bufs;
	uint32_t send_ms;
	uint32_t idle_ms;
	uint64_t max_clients_mem;
};

/* Per runtime; written by its thread, read by main after join or by the
 * thread itself when it prints. */
struct server {
	struct urt_runtime rt;
	struct counting heap; /* the runtime's backing allocator, counted */
	int lfd;
	int id;
	bool boxed;
	bool stop;		    /* set by the signal task as it stops the runtime */
	struct urt_signal_sub *sig; /* this runtime's subscription to the hub */
	struct idle_sweep sweep;    /* --idle-ms, for every connection at once */
	struct idle_list idle;	    /* connections, in the order they last sent */
	uint64_t closed_idle, closed_mem;
	size_t mem_budget; /* its share of --max-clients-mem */
	size_t mem_seen;   /* the sweeper's last estimate of what connections hold */
	uint64_t conns, requests, bytes;
	uint64_t live_conns;
	pthread_t th;
	const struct opts *o;
};

struct conn {
	struct server *s;
	int fd, n, ret;
	struct urt_op rx;
	struct urt_io_all tx;
	struct urt_buf buf;
	struct idle_link link; /* in s->idle */
	bool doomed;	       /* the memory budget closes it */
};

/* A task's header is 64 bytes; slots are multiples of 16. */
#define CONN_SLOT (64 + (sizeof(struct conn) + 15) / 16 * 16)
#define RX_BUF	  4096 /* the provided buffers' size */

static struct conn *conn_of(struct idle_link *k)
{
	return (struct conn *)((char *)k - offsetof(struct conn, link));
}

/*
 * What the runtime holds for its open connections, by its own count: a slab
 * slot each (or a box: the allocator's bytes) and the op records in use.
 * The provided buffers are shared and not counted per connection.
 */
static size_t conn_bytes(struct server *s, const struct urt_runtime_stats *st)
{
	size_t slots = s->boxed ? 0 : st->slab_live * CONN_SLOT;
	size_t boxes = s->boxed ? (size_t)s->live_conns * CONN_SLOT : 0;

	return slots + boxes + st->ops_live * 64;
}

static void print_stats(struct server *s, const char *what)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(&s->rt, &st);
	printf("%s: runtime %d connections %llu live %llu requests %llu bytes %llu heap_calls %zu "
	       "heap_bytes %zu conn_bytes %zu slab %zu/%zu op_high_water %zu ops_live %zu bufs_free %zu/%zu "
	       "pauses %llu bufs_free_low %zu/%zu spill_high_water %zu spilled %llu closed_idle %llu "
	       "closed_mem %llu clients_mem %zu\n",
	       what, s->id, (unsigned long long)s->conns, (unsigned long long)s->live_conns,
	       (unsigned long long)s->requests, (unsigned long long)s->bytes,
	       atomic_load(&s->heap.calls), atomic_load(&s->heap.bytes), conn_bytes(s, &st),
	       st.slab_live, st.slab_capacity, st.ops_high_water,
	       st.ops_live, st.bufs_free, st.buf_count, (unsigned long long)st.stream_pauses,
	       st.bufs_free_low, st.buf_count, st.spill_high_water,
	       (unsigned long long)st.recv_spilled, (unsigned long long)s->closed_idle,
	       (unsigned long long)s->closed_mem, s->mem_seen);
	fflush(stdout);
}

/* --- a connection ---------------------------------------------------------- */

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	URT_BEGIN(t);
	idle_put(NULL, &c->s->idle, &c->link, c->s->sweep.now);
	for (;;) {
		URT_AWAIT(t, c->n = urt_recv_stream(t, &c->rx, c->fd, &c->buf));
		if (c->n <= 0 || c->doomed)
			break;
		idle_put(&c->s->idle, &c->s->idle, &c->link, c->s->sweep.now);
		c->s->requests++;
		c->s->bytes += (uint64_t)c->n;
		/* the peer may not read: bound the wait, and keep the chunk
		 * out of the shared ring meanwhile if the ring is short */
		(void)urt_buf_hold(&c->buf);
		urt_op_set_timeout(&c->tx.op, 1000000ull * c->s->o->send_ms);
		URT_AWAIT(t, c->ret = urt_send_all(t, &c->tx, c->fd, c->buf.data, c->buf.len));
		urt_buf_free(&c->buf);
		if (c->ret < 0 || c->doomed)
			break;
	}
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
	if (c->buf.live)
		urt_buf_free(&c->buf);
	idle_unlink(&c->s->idle, &c->link);
	urt_close_detached(c->fd);
	c->s->live_conns--;
}

/* The sweeper found c silent past --idle-ms: end what its task waits on.
 * Return: true if it was (false: try again at the next sweep). */
static bool conn_expire(struct idle_link *k, void *ctx)
{
	struct conn *c = conn_of(k);
	bool rx = urt_op_cancel(&c->rx) == 0;

	(void)ctx;
	if (urt_op_cancel(&c->tx.op) != 0 && !rx)
		return false;
	c->s->closed_idle++;
	return true;
}

/* --- --max-clients-mem ------------------------------------------------------- */

/* What c holds now: its stream's unread chunks and a chunk kept across a send. */
static size_t conn_held(const struct conn *c)
{
	return urt_recv_stream_held(&c->rx) + (c->buf.live ? RX_BUF : 0);
}

/* Close c for the budget: out of the scan (its task ends at its next wake;
 * if none was cancelled it is about to run, and sees doomed). */
static void conn_doom(struct conn *c)
{
	c->doomed = true;
	c->s->closed_mem++;
	idle_unlink(&c->s->idle, &c->link);
	(void)urt_op_cancel(&c->rx);
	(void)urt_op_cancel(&c->tx.op);
}

/*
 * Past the budget by the exact count: close the largest holders until what
 * is left fits, as redis's maxmemory-clients does. Each pass finds the
 * largest holding and closes the connections that hold that much: held
 * bytes come in whole buffers, so there are few distinct sizes and few
 * passes, each O(connections). Runs only when the estimate is over.
 */
static void shed(struct server *s)
{
	struct idle_list *l = &s->idle;
	size_t total = 0, most;

	for (struct idle_link *k = l->root.next; k != &l->root; k = k->next)
		total += conn_held(conn_of(k));
	s->mem_seen = total;
	while (total > s->mem_budget) {
		most = 0;
		for (struct idle_link *k = l->root.next; k != &l->root; k = k->next) {
			size_t n = conn_held(conn_of(k));

			most = n > most ? n : most;
		}
		if (!most)
			return;
		for (struct idle_link *k = l->root.next, *next;
		     k != &l->root && total > s->mem_budget; k = next) {
			struct conn *c = conn_of(k);

			next = k->next;
			if (conn_held(c) >= most) {
				total -= most;
				conn_doom(c);
			}
		}
	}
	s->mem_seen = total;
}

/*
 * Each sweeper tick: the runtime's cheap estimate of what connections hold
 * (spill memory, and ring buffers out of the ring: queued on streams or
 * kept by a task across its send); the exact scan only when that passes
 * the budget. So the hot path counts nothing, and a connection blocked in
 * a send, whose stream fills without its task running, is still counted.
 */
static void mem_tick(void *arg)
{
	struct server *s = arg;
	struct urt_runtime_stats st;

	urt_runtime_stats(&s->rt, &st);
	s->mem_seen = st.spill_bytes + (st.buf_count - st.bufs_free) * (size_t)RX_BUF;
	if (s->mem_seen > s->mem_budget)
		shed(s);
}

static const struct urt_task_type conn_type = { .poll = conn_poll,
						.drop = conn_drop,
						.name = "echo-conn" };

/* --- the acceptor (urt/server.h) ---------------------------------------------- */

/* A new connection: its task, in the slot the acceptor reserved for it
 * (slab), or boxed. */
static int on_conn(void *arg, int fd, struct urt_claim *claim)
{
	struct server *s = arg;
	struct conn c = { .s = s, .fd = fd };

	if (claim) {
		memcpy(urt_claim_state(claim), &c, sizeof(c));
		if (urt_claim_spawn(claim, &conn_type, NULL))
			return -EINVAL;
	} else if (urt_spawn(&s->rt, &conn_type, &c, sizeof(c), NULL)) {
		return -ENOMEM;
	}
	s->conns++;
	s->live_conns++;
	return 0;
}

/* SIGUSR1, from the hub: this runtime's stats line. */
static void on_stats(void *arg)
{
	print_stats(arg, "stats");
}

/* SIGINT / SIGTERM, from the hub: the sweeper ends; urt_stop follows. */
static void on_stop(void *arg)
{
	((struct server *)arg)->stop = true;
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	const struct opts *o = s->o;
	int ret;

	counting_init(&s->heap);
	ret = urt_runtime_init(&s->rt, &(struct urt_runtime_opts){
					       .slab = s->boxed ? URT_SLAB_NONE : URT_SLAB_BOUNDED,
					       /* a header and a connection: nothing wasted */
					       .slot_size = CONN_SLOT,
					       .slab_slots = o->max_conns,
					       .buf_count = o->bufs,
					       .buf_size = RX_BUF,
					       .allocator = &s->heap.al,
				       });
	if (ret) {
		fprintf(stderr, "urt-echo: runtime %d: urt_runtime_init: %s\n", s->id,
			strerror(-ret));
		exit(1);
	}
	idle_sweep_init(&s->sweep, &s->stop, conn_expire);
	idle_list_init(&s->idle, o->idle_ms);
	idle_sweep_add(&s->sweep, &s->idle);
	idle_sweep_on_tick(&s->sweep, mem_tick, s);
	s->mem_budget = (size_t)(o->max_clients_mem / (uint64_t)o->threads); /* no atomics */
	if (idle_sweeper_start(&s->rt, &s->sweep) ||
	    urt_acceptor_start(&s->rt,
			       &(struct urt_acceptor_opts){ .lfd = s->lfd,
							    .on_conn = on_conn,
							    .arg = s,
							    .boxed = s->boxed },
			       NULL) ||
	    urt_server_signals_start(&s->rt, &(struct urt_server_signals_opts){
						     .sub = s->sig,
						     .on_stats = on_stats,
						     .on_stop = on_stop,
						     .arg = s,
					     })) {
		fprintf(stderr, "urt-echo: runtime %d: cannot start its tasks\n", s->id);
		exit(1);
	}
	ret = urt_run(&s->rt);
	if (ret)
		fprintf(stderr, "urt-echo: runtime %d: urt_run: %s\n", s->id, strerror(-ret));
	print_stats(s, "final");
	urt_runtime_deinit(&s->rt); /* aborts the connections: their drops close them */
	close(s->lfd);
	return NULL;
}

/* --- command line ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: urt-echo [--addr A] [--port P] [--threads N] [--spawn slab|boxed]\n"
		"                [--max-conns N] [--bufs N] [--send-ms MS] [--idle-ms MS]\n"
		"                [--max-clients-mem B]\n"
		"  --addr A       address to bind (default 127.0.0.1)\n"
		"  --port P       port (default 7000; 0 picks a free one)\n"
		"  --threads N    runtimes, one per thread, sharing the port (default 1)\n"
		"  --spawn K      slab (default: reserved slots, back-pressure when full)\n"
		"                 or boxed (malloc per connection)\n"
		"  --max-conns N  connections per runtime, slab mode (default 16384)\n"
		"  --bufs N       provided receive buffers per runtime, power of 2 (default 1024)\n"
		"  --send-ms MS   close a connection whose echo does not go out in MS (default 30000)\n"
		"  --idle-ms MS   close a connection that sends nothing for MS (default 300000)\n"
		"  --max-clients-mem B  memory all connections may hold in received bytes\n"
		"                 (k/m/g suffixes; default 64m); past it the largest holders\n"
		"                 are closed\n"
		"Prints 'listening on ADDR:PORT' once ready. SIGUSR1 prints stats;\n"
		"SIGINT/SIGTERM stop it.\n");
}

static int bad(const char *msg, const char *arg)
{
	fprintf(stderr, "urt-echo: %s%s%s (see --help)\n", msg, arg ? ": " : "", arg ? arg : "");
	return 2;
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "addr", required_argument, 0, 'a' },
		{ "port", required_argument, 0, 'p' },
		{ "threads", required_argument, 0, 't' },
		{ "spawn", required_argument, 0, 's' },
		{ "max-conns", required_argument, 0, 'm' },
		{ "bufs", required_argument, 0, 'b' },
		{ "send-ms", required_argument, 0, 'S' },
		{ "idle-ms", required_argument, 0, 'I' },
		{ "max-clients-mem", required_argument, 0, 'C' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint32_t v;
	int c;

	*o = (struct opts){
		.addr = "127.0.0.1", .port = 7000, .threads = 1, .max_conns = 16384, .bufs = 1024,
		.send_ms = 30000, .idle_ms = 300000, .max_clients_mem = 64ull << 20
	};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'a':
			o->addr = optarg;
			break;
		case 'p':
			if (!parse_u32(optarg, 0, 65535, &v))
				return bad("bad --port", optarg);
			o->port = (uint16_t)v;
			break;
		case 't':
			if (!parse_u32(optarg, 1, MAX_THREADS, &v))
				return bad("bad --threads (1..64)", optarg);
			o->threads = (int)v;
			break;
		case 's':
			if (strcmp(optarg, "slab") && strcmp(optarg, "boxed"))
				return bad("bad --spawn (slab or boxed)", optarg);
			o->boxed = !strcmp(optarg, "boxed");
			break;
		case 'm':
			if (!parse_u32(optarg, 1, 1u << 24, &v))
				return bad("bad --max-conns", optarg);
			o->max_conns = v;
			break;
		case 'b':
			if (!parse_u32(optarg, 1, 32768, &v) || (v & (v - 1)))
				return bad("bad --bufs (a power of 2 up to 32768)", optarg);
			o->bufs = v;
			break;
		case 'S':
			if (!parse_u32(optarg, 1, 3600000, &v))
				return bad("bad --send-ms (1..3600000)", optarg);
			o->send_ms = v;
			break;
		case 'I':
			if (!parse_u32(optarg, 1, 3600000, &v))
				return bad("bad --idle-ms (1..3600000)", optarg);
			o->idle_ms = v;
			break;
		case 'C':
			if (!flag_size(optarg, 1, UINT64_MAX, &o->max_clients_mem))
				return bad("bad --max-clients-mem", optarg);
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

int main(int argc, char **argv)
{
	static struct server servers[MAX_THREADS];
	struct opts o;
	struct rlimit rl;
	struct urt_signal_hub hub;
	uint16_t port;
	int ret;

	ret = parse(argc, argv, &o);
	if (ret)
		return ret;
	/* connections are descriptors: take what the hard limit allows */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* before any thread: they inherit the mask; signals come to the hub */
	ret = urt_server_signals_hub(&hub);
	if (ret) {
		fprintf(stderr, "urt-echo: signals: %s\n", strerror(-ret));
		return 1;
	}
	port = o.port;
	for (int i = 0; i < o.threads; i++) {
		struct server *s = &servers[i];

		s->lfd = urt_listen_tcp(o.addr, port, 4096, URT_LISTEN_REUSEPORT, &port);
		if (s->lfd < 0) {
			fprintf(stderr, "urt-echo: listen on %s:%u: %s\n", o.addr, port,
				strerror(-s->lfd));
			return s->lfd == -EINVAL ? 2 : 1; /* --addr is not an address: a bad flag */
		}
		ret = urt_signal_subscribe(&hub, &s->sig);
		if (ret) {
			fprintf(stderr, "urt-echo: signals: %s\n", strerror(-ret));
			return 1;
		}
		s->id = i;
		s->boxed = o.boxed;
		s->o = &o;
	}
	for (int i = 0; i < o.threads; i++)
		if (pthread_create(&servers[i].th, NULL, server_main, &servers[i])) {
			fprintf(stderr, "urt-echo: cannot start thread %d\n", i);
			return 1;
		}
	printf("listening on %s:%u\n", o.addr, port);
	fflush(stdout);
	/* every signal reaches every runtime; SIGINT / SIGTERM stop them */
	while (urt_signal_hub_wait(&hub) == SIGUSR1)
		;
	uint64_t conns = 0, requests = 0, bytes = 0;
	size_t heap = 0;

	for (int i = 0; i < o.threads; i++) {
		pthread_join(servers[i].th, NULL);
		conns += servers[i].conns;
		requests += servers[i].requests;
		bytes += servers[i].bytes;
		heap += atomic_load(&servers[i].heap.calls);
	}
	printf("total: connections %llu requests %llu bytes %llu heap_calls %zu\n",
	       (unsigned long long)conns, (unsigned long long)requests, (unsigned long long)bytes,
	       heap);
	urt_signal_hub_deinit(&hub);
	return 0;
}
