/* SPDX-License-Identifier: MIT */
/*
 * bench_sim - how fast the simulated kernel (urt/sim.h) runs a program:
 * simulated events (submissions the model took plus completions it
 * posted, urt_sim_events) per second of wall time, on one core, for
 *   - a NOP loop: 64 tasks, each awaiting NOPs one after another, so every
 *     event is the runtime's submit/reap path and the model's event heap;
 *   - the socket echo: a listener, 8 clients each making 5000 round trips
 *     of a 64-byte message over the model's TCP through an echo task per
 *     connection (multishot receive into provided buffers, send_all).
 * Each is run 5 times; the table gives the median. Both are run again
 * with urt-sim's invariants checked after every event (scn_watch_arm,
 * urt_sim_opts.check), to show what they cost.
 *
 * Goal: at least 1 M simulated events per second for both: seeds are
 * cheap, so a CI run covers thousands of them (docs/simulation.md).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <urt/urt.h>

#include "bench_util.h"
#include "sim/simlib.h" /* the echo task urt-sim's scenarios use */

#define REPS	  5
#define NOP_TASKS 64
#define NOP_EACH  10000
#define CLIENTS	  8
#define ROUNDS	  5000
#define MSG	  64

struct run {
	uint64_t events, ns;
};

/* --- the NOP loop ---------------------------------------------------------------- */

struct noper {
	struct urt_op op;
	int i, ret;
};

static bool nop_poll(struct urt_task *t, void *arg)
{
	struct noper *s = arg;

	URT_BEGIN(t);
	for (s->i = 0; s->i < NOP_EACH; s->i++)
		URT_AWAIT(t, s->ret = urt_nop(t, &s->op));
	URT_END(t);
}

static const struct urt_task_type nop_type = { .poll = nop_poll, .name = "bench-nop" };

static int nop_world(struct urt_runtime *rt)
{
	for (int i = 0; i < NOP_TASKS; i++)
		if (urt_spawn(rt, &nop_type, &(struct noper){ 0 }, sizeof(struct noper), NULL))
			return -1;
	return 0;
}

/* --- the socket echo ------------------------------------------------------------- */

static uint16_t port;
static int lfd;

struct acceptor {
	struct urt_op acc;
	int n, got;
};

static bool acceptor_poll(struct urt_task *t, void *arg)
{
	struct acceptor *a = arg;

	URT_BEGIN(t);
	for (; a->got < CLIENTS; a->got++) {
		URT_AWAIT(t, a->n = urt_accept(t, &a->acc, lfd, NULL, NULL));
		if (a->n < 0 ||
		    urt_spawn(urt_task_runtime(t), &scn_echo_type, &(struct scn_echo){ .fd = a->n },
			      sizeof(struct scn_echo), NULL))
			abort();
	}
	URT_AWAIT(t, a->n = urt_close(t, &a->acc, lfd));
	URT_END(t);
}

static const struct urt_task_type acceptor_type = { .poll = acceptor_poll, .name = "bench-acc" };

struct client {
	struct urt_op op;
	struct urt_io_all io;
	struct sockaddr_in sa;
	int fd, n, i;
	char out[MSG], in[MSG];
};

static bool client_poll(struct urt_task *t, void *arg)
{
	struct client *c = arg;

	URT_BEGIN(t);
	memset(c->out, 'x', MSG);
	c->sa = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	URT_AWAIT(t, c->fd = urt_socket(t, &c->op, AF_INET, SOCK_STREAM, 0));
	URT_AWAIT(t,
		  c->n = urt_connect(t, &c->op, c->fd, (struct sockaddr *)&c->sa, sizeof(c->sa)));
	for (c->i = 0; c->i < ROUNDS; c->i++) {
		c->out[0] = (char)c->i;
		URT_AWAIT(t, c->n = urt_send_all(t, &c->io, c->fd, c->out, MSG));
		if (c->n != MSG)
			abort();
		URT_AWAIT(t, c->n = urt_recv_exact(t, &c->io, c->fd, c->in, MSG));
		if (c->n != MSG || memcmp(c->in, c->out, MSG))
			abort();
	}
	URT_AWAIT(t, c->n = urt_close(t, &c->op, c->fd));
	URT_END(t);
}

static const struct urt_task_type client_type = { .poll = client_poll, .name = "bench-client" };

static int echo_world(struct urt_runtime *rt)
{
	lfd = urt_listen_tcp("127.0.0.1", 0, 64, 0, &port);
	if (lfd < 0 ||
	    urt_spawn(rt, &acceptor_type, &(struct acceptor){ 0 }, sizeof(struct acceptor), NULL))
		return -1;
	for (int i = 0; i < CLIENTS; i++)
		if (urt_spawn(rt, &client_type, &(struct client){ 0 }, sizeof(struct client), NULL))
			return -1;
	return 0;
}

/* --- measuring --------------------------------------------------------------------- */

static struct run measure(int (*world)(struct urt_runtime *rt), uint64_t seed, uint32_t rcvbuf,
			  bool watch)
{
	struct urt_sim_opts so = { .seed = seed, .rcvbuf = rcvbuf };
	struct urt_runtime_opts ro = { 0 };
	struct urt_runtime rt;
	struct urt_sim *sim;
	char why[256] = "";
	struct run r;
	uint64_t t0;
	int ret = 0;

	if (watch) /* urt-sim's invariants after every event (simlib.h) */
		scn_watch_arm(&so, &ro);
	ro.sim = NULL;
	if (urt_sim_create(&sim, &so))
		abort();
	ro.sim = sim;
	if (urt_runtime_init(&rt, &ro))
		abort();
	t0 = now_ns();
	if (world(&rt) || (ret = urt_run(&rt))) {
		fprintf(stderr, "bench_sim: the run failed: %d\n", ret);
		abort();
	}
	while (urt_sim_fds_open(sim)) /* the conns' detached closes */
		if (urt_tick(&rt, URT_TICK_FOREVER) < 0)
			abort();
	r.ns = now_ns() - t0;
	r.events = urt_sim_events(sim);
	if (watch && (scn_watch_take(why) || !scn_watch_checks())) {
		fprintf(stderr, "bench_sim: %s\n", why[0] ? why : "the invariants never ran");
		abort();
	}
	(void)urt_runtime_deinit(&rt);
	urt_sim_destroy(sim);
	return r;
}

static int cmp_rate(const void *a, const void *b)
{
	const struct run *x = a, *y = b;
	double rx = (double)x->events / (double)x->ns, ry = (double)y->events / (double)y->ns;

	return rx < ry ? -1 : rx > ry;
}

static double row(const char *what, int (*world)(struct urt_runtime *rt), uint32_t rcvbuf,
		  bool watch)
{
	struct run r[REPS];
	double rate;

	for (int i = 0; i < REPS; i++)
		r[i] = measure(world, (uint64_t)i + 1, rcvbuf, watch);
	qsort(r, REPS, sizeof(r[0]), cmp_rate);
	rate = (double)r[REPS / 2].events * 1e9 / (double)r[REPS / 2].ns;
	printf("%-40s %12llu %10.3f %12.0f %9.0f\n", what, (unsigned long long)r[REPS / 2].events,
	       (double)r[REPS / 2].ns / 1e9, rate, 1e9 / rate);
	return rate;
}

/* --- the cost of many operations at once: the deinit of n parked accepts ------------- */

static int parked_lfd;

static bool parked_poll(struct urt_task *t, void *arg)
{
	struct urt_op *op = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, urt_accept(t, op, parked_lfd, NULL, NULL)); /* no client: parked */
	URT_END(t);
}

static const struct urt_task_type parked_type = { .poll = parked_poll, .name = "bench-parked" };

/* n accepts parked on one listener, then deinit, which cancels each by
 * its user_data: the wall ns of the deinit. */
static uint64_t parked_deinit_ns(unsigned n)
{
	struct urt_runtime rt;
	struct urt_runtime_stats st;
	struct urt_sim *sim;
	uint64_t t0;

	if (urt_sim_create(&sim, &(struct urt_sim_opts){ .seed = 1 }) ||
	    urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = sim }))
		abort();
	parked_lfd = urt_listen_tcp("127.0.0.1", 0, 16, 0, NULL);
	if (parked_lfd < 0)
		abort();
	for (unsigned i = 0; i < n; i++)
		if (urt_spawn(&rt, &parked_type, &(struct urt_op){ 0 }, sizeof(struct urt_op), NULL))
			abort();
	do {
		if (urt_tick(&rt, 1000 * 1000) < 0)
			abort();
		urt_runtime_stats(&rt, &st);
	} while (st.ops_inflight < n);
	t0 = now_ns();
	(void)urt_runtime_deinit(&rt);
	t0 = now_ns() - t0;
	urt_sim_destroy(sim);
	return t0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The median ns per operation of the deinit of n parked accepts. */
static double parked_row(unsigned n)
{
	uint64_t ns[REPS];
	double per;

	for (int i = 0; i < REPS; i++)
		ns[i] = parked_deinit_ns(n);
	qsort(ns, REPS, sizeof(ns[0]), cmp_u64);
	per = (double)ns[REPS / 2] / n;
	printf("deinit of %-6u parked accepts %19s %10.4f %12s %9.0f\n", n, "",
	       (double)ns[REPS / 2] / 1e9, "", per);
	return per;
}

int main(void)
{
	double nop, echo, nop_w, echo_w, small, big;

	printf("bench_sim: simulated events (SQEs taken + CQEs posted) per second of wall time, "
	       "one core, median of %d seeds\n",
	       REPS);
	printf("%-40s %12s %10s %12s %9s\n", "program on the model", "events", "seconds",
	       "events/s", "ns/event");
	fflush(stdout);
	nop = row("NOP loop (64 tasks x 10000 NOPs)", nop_world, 0, false);
	echo = row("socket echo (8 clients x 5000 x 64 B)", echo_world, 0, false);
	nop_w = row("NOP loop, invariants every event", nop_world, 0, true);
	echo_w = row("socket echo, invariants every event", echo_world, 0, true);
	printf("goal >= 1 M simulated events/s (NOP loop %.2f M, socket echo %.2f M): %s\n",
	       nop / 1e6, echo / 1e6, nop >= 1e6 && echo >= 1e6 ? "PASS" : "MISS");
	printf("with urt-sim's invariants after every event (NOP loop %.2f M, socket echo %.2f M; "
	       "cost %.0f%% and %.0f%%): %s\n",
	       nop_w / 1e6, echo_w / 1e6, 100.0 * (1 - nop_w / nop), 100.0 * (1 - echo_w / echo),
	       nop_w >= 1e6 && echo_w >= 1e6 ? "PASS" : "MISS");
	/* each cancel finds its operation by user_data: the cost per
	 * operation must not grow with the operations live (it did: a scan) */
	small = parked_row(4000);
	big = parked_row(32000);
	printf("ns per cancelled operation, 32,000 live / 4,000 live: %.2fx (linear: about 1)\n",
	       big / small);
	return 0;
}
