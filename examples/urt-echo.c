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
 * no timer per connection: each keeps the time of its last chunk, and one
 * sweeper task per runtime (idle.h's clock) scans them, only when one can
 * be due, and closes the expired ones (echo/server.c). An idle connection
 * costs 192 bytes (a 112-byte slot, an op record, its registry and list
 * entries); a send record (88) is held only while an echo is under way.
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
 * The server of one runtime (the connection task, the sweeper, the
 * acceptor) is echo/server.c, so a simulation scenario runs the same code
 * (examples/sim/scn_echo.c); this file adds the flags, the threads and
 * the signals.
 *
 * "heap calls" counts the calls the runtime makes to its backing allocator
 * (opts.allocator is a counting wrapper around malloc): the figure a
 * steady-state server should hold at zero.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <urt/urt.h>

#include "echo/server.h"
#include "flags.h"

#define MAX_THREADS 64

struct opts {
	const char *addr;
	uint16_t port;
	int threads;
	uint64_t max_clients_mem;
	struct echo_opts e; /* each runtime's; e.mem_budget: its share */
};

/* Per runtime: its server (echo/server.c) and its thread. */
struct server {
	struct echo_server e;
	int lfd;
	int id;
	struct urt_signal_sub *sig; /* this runtime's subscription to the hub */
	pthread_t th;
	const struct opts *o;
};

/* SIGUSR1, from the hub: this runtime's stats line. */
static void on_stats(void *arg)
{
	echo_server_print(arg, "stats");
}

/* SIGINT / SIGTERM, from the hub: the sweeper ends; urt_stop follows. */
static void on_stop(void *arg)
{
	echo_server_stop(arg);
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	int ret;

	ret = echo_server_init(&s->e, &s->o->e, s->id, NULL);
	if (ret) {
		fprintf(stderr, "urt-echo: runtime %d: urt_runtime_init: %s\n", s->id,
			strerror(-ret));
		exit(1);
	}
	if (echo_server_start(&s->e, s->lfd) ||
	    urt_server_signals_start(&s->e.rt, &(struct urt_server_signals_opts){
						       .sub = s->sig,
						       .on_stats = on_stats,
						       .on_stop = on_stop,
						       .arg = &s->e,
					       })) {
		fprintf(stderr, "urt-echo: runtime %d: cannot start its tasks\n", s->id);
		exit(1);
	}
	ret = urt_run(&s->e.rt);
	if (ret)
		fprintf(stderr, "urt-echo: runtime %d: urt_run: %s\n", s->id, strerror(-ret));
	echo_server_print(&s->e, "final");
	echo_server_finish(&s->e); /* closes the listener; the connections' drops close them */
	return NULL;
}

/* --- command line ----------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: urt-echo [--addr A] [--port P] [--threads N] [--spawn slab|boxed]\n"
		"                [--max-conns N] [--bufs N] [--send-ms MS] [--idle-ms MS]\n"
		"                [--max-clients-mem B] [--fixed-fds]\n"
		"  --addr A       address to bind (default 127.0.0.1)\n"
		"  --port P       port (default 7000; 0 picks a free one)\n"
		"  --threads N    runtimes, one per thread, sharing the port (default 1)\n"
		"  --spawn K      slab (default: reserved slots, back-pressure when full)\n"
		"                 or boxed (malloc per connection)\n"
		"  --max-conns N  connections per runtime, slab mode (default 16384)\n"
		"  --bufs N       provided receive buffers per runtime, power of 2 (default 1024)\n"
		"  --send-ms MS   close a connection whose echo does not go out in MS (default "
		"30000)\n"
		"  --idle-ms MS   close a connection that sends nothing for MS (default 300000)\n"
		"  --max-clients-mem B  memory all connections may hold in received bytes\n"
		"                 (k/m/g suffixes; default 64m); past it the largest holders\n"
		"                 are closed\n"
		"  --fixed-fds    accepted sockets as io_uring direct descriptors\n"
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
		{ "fixed-fds", no_argument, 0, 'F' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint32_t v;
	int c;

	*o = (struct opts){
		.addr = "127.0.0.1",
		.port = 7000,
		.threads = 1,
		.max_clients_mem = 64ull << 20,
		.e = { .max_conns = 16384, .bufs = 1024, .send_ms = 30000, .idle_ms = 300000 }
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
			o->e.boxed = !strcmp(optarg, "boxed");
			break;
		case 'm':
			if (!parse_u32(optarg, 1, 1u << 24, &v))
				return bad("bad --max-conns", optarg);
			o->e.max_conns = v;
			break;
		case 'b':
			if (!parse_u32(optarg, 1, 32768, &v) || (v & (v - 1)))
				return bad("bad --bufs (a power of 2 up to 32768)", optarg);
			o->e.bufs = v;
			break;
		case 'S':
			if (!parse_u32(optarg, 1, 3600000, &v))
				return bad("bad --send-ms (1..3600000)", optarg);
			o->e.send_ms = v;
			break;
		case 'I':
			if (!parse_u32(optarg, 1, 3600000, &v))
				return bad("bad --idle-ms (1..3600000)", optarg);
			o->e.idle_ms = v;
			break;
		case 'C':
			if (!flag_size(optarg, 1, UINT64_MAX, &o->max_clients_mem))
				return bad("bad --max-clients-mem", optarg);
			break;
		case 'F':
			o->e.fixed_fds = true;
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
	o.e.mem_budget = (size_t)(o.max_clients_mem / (uint64_t)o.threads); /* no atomics */
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
		/* Accepted sockets inherit TCP_NODELAY from their listener (Linux),
		 * direct descriptors too. An echo goes back one 4 KiB receive buffer
		 * at a time; with Nagle on, the second send of a longer message
		 * waited for the client's delayed ACK, about 40 ms. */
		setsockopt(s->lfd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		ret = urt_signal_subscribe(&hub, &s->sig);
		if (ret) {
			fprintf(stderr, "urt-echo: signals: %s\n", strerror(-ret));
			return 1;
		}
		s->id = i;
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
		conns += servers[i].e.conns;
		requests += servers[i].e.requests;
		bytes += servers[i].e.bytes;
		heap += atomic_load(&servers[i].e.heap.calls);
	}
	printf("total: connections %llu requests %llu bytes %llu heap_calls %zu\n",
	       (unsigned long long)conns, (unsigned long long)requests, (unsigned long long)bytes,
	       heap);
	urt_signal_hub_deinit(&hub);
	return 0;
}
