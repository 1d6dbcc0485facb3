/* SPDX-License-Identifier: MIT */
/*
 * scn_echo.c - urt-echo's own server (examples/echo/server.c: the
 * connection task, the --idle-ms / --max-clients-mem sweeper, the acceptor
 * with its slab back-pressure) on the simulated kernel, with checking
 * clients on the same runtime.
 *
 * From the seed: 1-64 clients; the model's knobs (rcvbuf 1-64 KiB,
 * short_pct 0-50, max_latency 1-200 us); the server's --spawn (slab or
 * boxed), --max-conns (1-64), --bufs (8-512), --send-ms, --idle-ms and
 * --max-clients-mem; and each client's kind:
 *
 *  - well-behaved: sends a pattern of its own (bytes of a hash of its id
 *    and the offset) in writes of random size, reads the echo, checks
 *    every byte in order, shuts down and expects the end of file. Three
 *    ways: concurrent (a reader task beside the writer; up to 200,000
 *    bytes), after (all written, then read: at most 2 x rcvbuf bytes, which
 *    the two receive queues hold, so no echo can wait on the client), and
 *    lockstep (messages of 1-4 bytes, each read back before the next; 1
 *    byte in the tight regime below);
 *  - non-reader: sends without end and never reads; the server must close
 *    it (--send-ms, --idle-ms or --max-clients-mem), its send then fails;
 *  - closer: sends part of its bytes, reads nothing, closes mid-stream;
 *  - idle: sends 1-4 bytes (tight: 1), reads them back, then waits: --idle-ms closes
 *    it, within a sweeper tick of the deadline.
 *
 * The budget has two regimes. Roomy (3 seeds in 4): 64 MiB, far above
 * what the connections can hold, so the non-readers are closed by
 * --send-ms (250-2000 ms) or --idle-ms (200-5000 ms). Tight (1 in 4): 1-4
 * clients, every well-behaved one lockstep with 1-byte messages (an idle
 * one's message is 1 byte too), --send-ms 60 s, and a budget of W for
 * each client plus up to one buffer, where W = 2 chunks (ECHO_RX_BUF
 * counted each) is the most a 1-byte talker's connection can hold: its
 * message queued, and the previous one still in the task's hand while
 * its send completes. So when the total passes the budget, some
 * non-reader or closer holds more than W, and the largest holders the
 * server closes are never a talker. A non-reader's connection blocks in
 * its echo once the client's receive queue (1-16 KiB here) is full. If
 * its stream is armed then, it fills to its bound (16 entries, a whole
 * buffer each with one buffer a completion: 64 KiB), more than the
 * budget (at most 36 KiB), seen at the next sweep (100 ms), before
 * --idle-ms (500 ms at least) can close it. But a stream paused at its
 * bound while its task echoes is re-armed only once the task has read
 * all of it: if the echo blocks first, the stream keeps what is left,
 * which may be under the budget by the time a sweep looks (seed 900542:
 * over it from 2 to 6 ms in, 16 buffers at most; the stream paused at
 * 16 small pieces, and the task echoed most of them into the client's
 * 13 KiB queue before its echo blocked: 12 KiB held from then on). So may
 * a stream in the other buffer modes (drawn from the seed,
 * scn_knobs_bufs): in part, its queue fills with pieces that share a few
 * buffers, and a bundle whose pick takes the ring's last buffer ends the
 * arm (the kernel's rule) until the task drains the queue. Such a
 * non-reader is closed by --idle-ms. What is checked is what the budget
 * promises (budget_check, after every event): the server's estimate of
 * what connections hold (spill memory, and ring buffers out of the ring
 * at ECHO_RX_BUF each, as its sweeper counts them) never stays over the
 * budget for three sweeper ticks without a connection closed for it.
 * The estimate never counts more than the shed's exact count, so over
 * the budget some connection holds something, and the shed closes it.
 *
 * Checks: every well-behaved client gets its bytes back exactly and then
 * the end of file; every non-reader is closed; the budget's promise
 * above holds; an idle client's end of file comes within [idle_ms - 2
 * ticks, idle_ms + 3 ticks] of its last byte; once every client has
 * finished (unless the seed stops the server with idle clients still
 * connected, as SIGTERM would), the server accepts
 * every connection its clients made and then has no connection, no slot,
 * no spill memory, no send record and every provided buffer back. A
 * client may finish before its connection is accepted: at --max-conns the
 * acceptor waits for a slot, and a closer's connection waits in the
 * backlog meanwhile, as it does on Linux, where accept still returns it
 * once its client has closed (its bytes, then the end of file);
 * urt_run returns 0 with no stall; after the teardown (the listener closed
 * through the ring, deinit aborting what is left) no connection is
 * counted, the runtime's allocator holds nothing and the model has no
 * descriptor open. A watchdog fails the run if it has not ended after
 * 1,200 virtual seconds.
 *
 * With faults (o->faults_pct, every kind the model has) a connection may
 * be reset under a transfer, a connect refused or timed out, an accept
 * fail with -EMFILE or come late, an enter be interrupted. A client that
 * meets a network error (-ECONNRESET, -ECONNREFUSED, -ETIMEDOUT, -EPIPE)
 * ends there, and is not held to its byte count; but every byte it read
 * before must still be its own, in order, and everything else holds as
 * without faults: the server survives every fault, closes every
 * non-reader, ends with nothing held, leaks nothing, and the run replays.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <urt/urt.h>

#include "../echo/server.h"
#include "scenario.h"
#include "simlib.h"

#define MAX_CLIENTS   64
#define MAX_BYTES     200000
#define IO_BUF	      16384
#define MSG_MAX	      4 /* bytes of a lockstep or idle client's message; tight: 1 */
#define LOCKSTEP_LEN  512
#define TIGHT_CLIENTS 4
#define MS	      1000000ull
#define DEADLINE_NS   (1200ull * 1000 * MS)
#define TICK_MS	      (IDLE_TICK_NS / MS)

enum kind { WB_CONCURRENT, WB_AFTER, WB_LOCKSTEP, NON_READER, CLOSER, IDLE };

static const char *const kind_name[] = { "concurrent", "after",	 "lockstep",
					 "non-reader", "closer", "idle" };

struct world;

struct cli {
	struct world *w;
	int id;
	enum kind kind;
	uint32_t bytes; /* to send (a closer: where it stops) */
	uint32_t wmax;	/* largest write (and read) */
	uint64_t rng;	/* its writer's draws */
	uint64_t rrng;	/* its reader's draws */
	uint32_t got;	/* echoed bytes checked */
	bool done;	/* its task finished */
	bool faulted;	/* a network error ended it (faults on) */
};

struct world {
	struct echo_server srv;
	struct urt_sim *sim;
	uint16_t port;
	int n;
	uint32_t connected; /* clients whose connect succeeded: the server must accept each */
	struct cli cli[MAX_CLIENTS];
	struct urt_join joins[MAX_CLIENTS];
	bool faulty;	  /* the model injects faults (o->faults_pct) */
	bool stop_early;  /* stop with idle clients still connected */
	bool tight;	  /* the --max-clients-mem regime (see the top) */
	uint32_t msg_max; /* bytes of a lockstep or idle client's message */
	uint32_t nr;	  /* non-readers */
	uint32_t idle_ms;
	/* budget_check: simlib's invariants (called first), and since when the
	 * server's estimate is over the budget with nothing closed for it */
	void (*check)(struct urt_sim *sim, void *arg);
	void *check_arg;
	uint64_t over_since;  /* virtual ns; 0: not over */
	uint64_t over_closed; /* srv.closed_mem then */
	char why[256];
};

/* --- draws and the pattern ------------------------------------------------------ */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t draw(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix(*s);
}

/* in [lo, hi] */
static uint32_t range(uint64_t *s, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(draw(s) % ((uint64_t)hi - lo + 1));
}

/* Byte i of client id's stream. */
static uint8_t pattern(int id, uint64_t i)
{
	return (uint8_t)(mix(((uint64_t)id + 1) << 40 ^ (i >> 3)) >> (8 * (i & 7)));
}

static void fill(const struct cli *c, uint8_t *buf, uint64_t from, uint32_t n)
{
	for (uint32_t j = 0; j < n; j++)
		buf[j] = pattern(c->id, from + j);
}

/* The first byte of buf (n bytes from offset from) that is not the pattern, or -1. */
static int64_t mismatch(const struct cli *c, const uint8_t *buf, uint64_t from, uint32_t n)
{
	for (uint32_t j = 0; j < n; j++)
		if (buf[j] != pattern(c->id, from + j))
			return (int64_t)(from + j);
	return -1;
}

static __attribute__((format(printf, 2, 3))) void fail(struct world *w, const char *fmt, ...)
{
	va_list ap;

	if (w->why[0])
		return; /* the first failure says it */
	va_start(ap, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, ap);
	va_end(ap);
}

/* A failure whatever the network did: a wrong byte is never a fault's doing. */
static void cli_corrupt(struct cli *c, const char *what, int ret)
{
	fail(c->w, "client %d (%s, %u bytes): %s (%d, %u echoed)", c->id, kind_name[c->kind],
	     c->bytes, what, ret, c->got);
}

static bool net_error(int ret)
{
	return ret == -ECONNRESET || ret == -ECONNREFUSED || ret == -ETIMEDOUT || ret == -EPIPE;
}

/*
 * What a client could not do. On a faulty network a network error ends
 * the client without failing the run, and so does what follows from it
 * (its reader saw the reset, then its writer's join says so).
 */
static void cli_fail(struct cli *c, const char *what, int ret)
{
	/* an early end of file too: a reset is reported once, to whichever of
	 * the client's receive and send meets it first; the other then sees
	 * the connection's end (0, or -EPIPE) */
	if (c->w->faulty && (net_error(ret) || ret == 0 || c->faulted)) {
		c->faulted = true;
		return;
	}
	cli_corrupt(c, what, ret);
}


/* --- a client ------------------------------------------------------------------- */

/* The reader of a concurrent client: the echo, checked, then the end of file. */
struct reader {
	struct cli *c;
	struct urt_op op;
	int fd, n;
	uint32_t len;
	uint8_t buf[IO_BUF];
};

static bool reader_poll(struct urt_task *t, void *arg)
{
	struct reader *r = arg;
	struct cli *c = r->c;

	URT_BEGIN(t);
	while (c->got < c->bytes) {
		r->len = range(&c->rrng, 1, c->wmax);
		URT_AWAIT(t, r->n = urt_recv(t, &r->op, r->fd, r->buf, r->len, 0));
		if (r->n <= 0) {
			cli_fail(c, "the echo ended early", r->n);
			URT_RETURN(t, 1);
		}
		if ((uint32_t)r->n > c->bytes - c->got) {
			cli_corrupt(c, "more bytes than it sent", r->n);
			URT_RETURN(t, 1);
		}
		if (mismatch(c, r->buf, c->got, (uint32_t)r->n) >= 0) {
			cli_corrupt(c, "a wrong byte in the echo",
				 (int)mismatch(c, r->buf, c->got, (uint32_t)r->n));
			URT_RETURN(t, 1);
		}
		c->got += (uint32_t)r->n;
	}
	URT_AWAIT(t, r->n = urt_recv(t, &r->op, r->fd, r->buf, 1, 0));
	if (r->n != 0) {
		cli_fail(c, "no end of file after the echo", r->n);
		URT_RETURN(t, 1);
	}
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type reader_type = { .poll = reader_poll, .name = "scn-echo-reader" };

struct client {
	struct cli *c;
	struct urt_op op;
	struct urt_io_all io;
	struct urt_join reader;
	struct sockaddr_in sa; /* read when the model takes the connect: in the state */
	int fd, n;
	uint32_t sent, len;
	uint64_t t0;
	uint8_t buf[IO_BUF];
};

/* The next write's length: at most wmax, and what is left. */
static uint32_t next_len(struct client *k, uint32_t max)
{
	uint32_t n = range(&k->c->rng, 1, max);

	return n < k->c->bytes - k->sent ? n : k->c->bytes - k->sent;
}

static bool client_poll(struct urt_task *t, void *arg)
{
	struct client *k = arg;
	struct cli *c = k->c;

	URT_BEGIN(t);
	k->sa = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(c->w->port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	URT_AWAIT(t, k->fd = urt_socket(t, &k->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (k->fd < 0) {
		cli_fail(c, "socket", k->fd);
		goto out;
	}
	URT_AWAIT(t,
		  k->n = urt_connect(t, &k->op, k->fd, (struct sockaddr *)&k->sa, sizeof(k->sa)));
	if (k->n < 0) {
		cli_fail(c, "connect", k->n);
		goto out;
	}
	c->w->connected++;
	if (c->kind == WB_CONCURRENT &&
	    urt_spawn(urt_task_runtime(t), &reader_type, &(struct reader){ .c = c, .fd = k->fd },
		      sizeof(struct reader), &k->reader)) {
		cli_fail(c, "spawn its reader", -ENOMEM);
		goto out;
	}
	/* its bytes, in writes of random size */
	if (c->kind == WB_CONCURRENT || c->kind == WB_AFTER || c->kind == CLOSER) {
		while (k->sent < c->bytes) {
			k->len = next_len(k, c->wmax);
			fill(c, k->buf, k->sent, k->len);
			k->io.done = 0;
			URT_AWAIT(t, k->n = urt_send_all(t, &k->io, k->fd, k->buf, k->len));
			if (k->n != (int)k->len) {
				/* a closer reads nothing: the server may close it first */
				if (c->kind != CLOSER)
					cli_fail(c, "send", k->n);
				goto out;
			}
			k->sent += k->len;
		}
	} else if (c->kind == NON_READER) {
		for (;;) { /* until the server closes it */
			k->len = range(&c->rng, 1, c->wmax);
			fill(c, k->buf, k->sent, k->len);
			k->io.done = 0;
			URT_AWAIT(t, k->n = urt_send_all(t, &k->io, k->fd, k->buf, k->len));
			if (k->n < 0)
				goto out;
			k->sent += k->len;
		}
	} else { /* lockstep, idle: each message read back before the next */
		while (k->sent < c->bytes) {
			k->len = next_len(k, c->w->msg_max);
			fill(c, k->buf, k->sent, k->len);
			k->io.done = 0;
			URT_AWAIT(t, k->n = urt_send_all(t, &k->io, k->fd, k->buf, k->len));
			if (k->n != (int)k->len) {
				cli_fail(c, "send", k->n);
				goto out;
			}
			k->sent += k->len;
			k->io.done = 0;
			URT_AWAIT(t, k->n = urt_recv_exact(t, &k->io, k->fd, k->buf, k->len));
			if (k->n != (int)k->len) {
				cli_fail(c, "the echo ended early", k->n);
				goto out;
			}
			if (mismatch(c, k->buf, c->got, k->len) >= 0) {
				cli_corrupt(c, "a wrong byte in the echo",
					 (int)mismatch(c, k->buf, c->got, k->len));
				goto out;
			}
			c->got += k->len;
		}
	}
	/* the echo's end */
	if (c->kind == WB_CONCURRENT) {
		URT_AWAIT(t, k->n = urt_shutdown(t, &k->op, k->fd, SHUT_WR));
		URT_AWAIT(t, k->n = urt_join_await(t, &k->reader, &k->t0));
		if (k->n || k->t0) /* the reader said what failed */
			cli_fail(c, "its reader", k->n);
	} else if (c->kind == WB_AFTER || c->kind == WB_LOCKSTEP) {
		while (c->got < c->bytes) { /* after: the whole echo now */
			k->len = range(&c->rrng, 1, c->wmax);
			if (k->len > c->bytes - c->got)
				k->len = c->bytes - c->got;
			URT_AWAIT(t, k->n = urt_recv(t, &k->op, k->fd, k->buf, k->len, 0));
			if (k->n <= 0) {
				cli_fail(c, "the echo ended early", k->n);
				goto out;
			}
			if (mismatch(c, k->buf, c->got, (uint32_t)k->n) >= 0) {
				cli_corrupt(c, "a wrong byte in the echo",
					 (int)mismatch(c, k->buf, c->got, (uint32_t)k->n));
				goto out;
			}
			c->got += (uint32_t)k->n;
		}
		URT_AWAIT(t, k->n = urt_shutdown(t, &k->op, k->fd, SHUT_WR));
		URT_AWAIT(t, k->n = urt_recv(t, &k->op, k->fd, k->buf, 1, 0));
		if (k->n != 0)
			cli_fail(c, "no end of file after the echo", k->n);
	} else if (c->kind == IDLE) {
		k->t0 = urt_now_ns();
		URT_AWAIT(t, k->n = urt_recv(t, &k->op, k->fd, k->buf, 1, 0));
		if (k->n != 0) {
			cli_fail(c, "idle, not closed with an end of file", k->n);
		} else {
			k->t0 = (urt_now_ns() - k->t0) / MS;
			if (k->t0 + 2 * TICK_MS < c->w->idle_ms ||
			    k->t0 > c->w->idle_ms + 3 * TICK_MS)
				cli_fail(c, "idle, closed off its deadline (ms)", (int)k->t0);
		}
	} /* a closer: the rest of its stream is never sent */
out:
	if (!urt_join_is_empty(&k->reader)) { /* a writer that failed: the reader goes too */
		URT_DISCARD(urt_join_abort(&k->reader));
		URT_AWAIT(t, k->n = urt_join_await(t, &k->reader, &k->t0));
	}
	if (k->fd >= 0)
		URT_AWAIT(t, k->n = urt_close(t, &k->op, k->fd));
	k->fd = -1;
	c->done = true;
	URT_END(t);
}

static void client_drop(struct urt_task *t, void *arg)
{
	struct client *k = arg;

	(void)t;
	if (!urt_join_is_empty(&k->reader))
		URT_DISCARD(urt_join_abort(&k->reader)), urt_join_detach(&k->reader);
	if (k->fd >= 0) /* aborted (deinit): close through the ring */
		URT_DISCARD(urt_close_detached(k->fd));
}

static const struct urt_task_type client_type = { .poll = client_poll,
						  .drop = client_drop,
						  .name = "scn-echo-client" };

/* --- the controller and the watchdog ------------------------------------------------- */

struct control {
	struct world *w;
	struct urt_op nap;
	int i, ret;
};

static bool all_done(const struct world *w, bool idle_too)
{
	for (int i = 0; i < w->n; i++)
		if (!w->cli[i].done && (idle_too || w->cli[i].kind != IDLE))
			return false;
	return true;
}

/* Slots the server's connections hold (its other tasks are boxed). */
/* The server's state once every client is gone: nothing held. */
static void check_idle_server(struct world *w)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(&w->srv.rt, &st);
	/* with faults a refused connect never reaches the server: every
	 * other connect does, and is accepted */
	if (w->srv.live_conns || st.slab_live || st.spill_bytes || st.bufs_free != st.buf_count ||
	    w->srv.nlisted || w->srv.tx_live || w->srv.conns != w->connected ||
	    (!w->faulty && w->connected != (uint32_t)w->n))
		fail(w,
		     "server not empty after its clients: live %llu conns %llu/%u (clients %d) "
		     "slab %zu spill %zu bufs_free %zu/%zu listed %u send records %u",
		     (unsigned long long)w->srv.live_conns, (unsigned long long)w->srv.conns,
		     w->connected, w->n, st.slab_live, st.spill_bytes, st.bufs_free, st.buf_count,
		     w->srv.nlisted, w->srv.tx_live);
}

/*
 * Whether the server has yet to settle after its clients: a connection
 * not accepted yet or not ended, or a slot not back. A connection's task
 * that was woken again in its last turn ends queued, and the runtime
 * gives its slot back at that turn, in the next tick (its drop, which
 * counts it out of live_conns, has run already).
 */
static bool server_settling(struct world *w)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(&w->srv.rt, &st);
	return w->srv.live_conns || w->srv.conns < w->connected || st.slab_live;
}

static bool control_poll(struct urt_task *t, void *arg)
{
	struct control *k = arg;
	struct world *w = k->w;

	URT_BEGIN(t);
	/* every client but the idle ones (unless the seed waits for those too) */
	for (k->i = 0; k->i < w->n; k->i++) {
		if (w->stop_early && w->cli[k->i].kind == IDLE)
			continue;
		URT_AWAIT(t, k->ret = urt_join_await(t, &w->joins[k->i], NULL));
	}
	if (all_done(w, true)) {
		/* a server connection may end just after its client: a
		 * closer's, which sees the reset after the client is gone; or
		 * begin after it: at --max-conns a closer's connection waits
		 * in the backlog for a slot, and its accept comes once
		 * another connection ended (seed 5226); and its slot may come
		 * back a tick after it ended (seeds 711 and 777041 with
		 * faults). A minute of virtual time at most, then
		 * check_idle_server says what is left. */
		for (k->i = 0; server_settling(w) && k->i < 60000; k->i++) {
			URT_AWAIT(t, k->ret = urt_sleep(t, &k->nap, MS));
		}
		check_idle_server(w);
	}
	/* as SIGTERM does: the sweeper ends, the runtime stops, and the
	 * teardown aborts whatever is still connected */
	echo_server_stop(&w->srv);
	urt_stop(urt_task_runtime(t));
	URT_END(t);
}

static const struct urt_task_type control_type = { .poll = control_poll,
						   .name = "scn-echo-control" };

static bool watchdog_poll(struct urt_task *t, void *arg)
{
	struct control *k = arg;
	struct world *w = k->w;

	URT_BEGIN(t);
	URT_AWAIT(t, k->ret = urt_sleep(t, &k->nap, DEADLINE_NS));
	for (k->i = 0; k->i < w->n && w->cli[k->i].done; k->i++)
		;
	fail(w, "not over after %llu virtual s: client %d (%s) unfinished, server live %llu",
	     (unsigned long long)(DEADLINE_NS / 1000000000u), k->i,
	     k->i < w->n ? kind_name[w->cli[k->i].kind] : "-",
	     (unsigned long long)w->srv.live_conns);
	urt_stop(urt_task_runtime(t));
	URT_END(t);
}

static const struct urt_task_type watchdog_type = { .poll = watchdog_poll,
						    .name = "scn-echo-watchdog" };

/*
 * After every event (urt_sim_opts.check): the budget's promise (see the
 * top). The server's estimate, as its sweeper makes it, over the budget
 * for three sweeper ticks with no connection closed for it fails the run.
 * Not once the server stops: its sweeper has ended.
 */
static void budget_check(struct urt_sim *sim, void *arg)
{
	struct world *w = arg;
	struct urt_runtime_stats st;
	size_t est;

	w->check(sim, w->check_arg);
	if (urt_runtime_current() != &w->srv.rt || w->srv.stop)
		return;
	urt_runtime_stats(&w->srv.rt, &st);
	est = st.spill_bytes + (st.buf_count - st.bufs_free) * (size_t)ECHO_RX_BUF;
	if (est <= w->srv.o.mem_budget || w->srv.closed_mem != w->over_closed) {
		w->over_since = 0;
		w->over_closed = w->srv.closed_mem;
	} else if (!w->over_since) {
		w->over_since = urt_sim_now(sim);
	} else if (urt_sim_now(sim) - w->over_since > 3 * IDLE_TICK_NS) {
		fail(w,
		     "connections hold %zu bytes by the server's estimate, over its budget of "
		     "%zu for %llu ms, and none was closed for it",
		     est, w->srv.o.mem_budget,
		     (unsigned long long)((urt_sim_now(sim) - w->over_since) / MS));
	}
}

/* --- the run ----------------------------------------------------------------------- */

/* The world's shape, drawn from the seed, one draw a statement (in order). */
static void draw_world(struct world *w, uint64_t seed, struct urt_sim_opts *so,
		       struct echo_opts *eo)
{
	uint64_t s = mix(seed ^ 0x5ce0ec0ull);
	bool tight = range(&s, 0, 3) == 0;
	uint32_t small = 0, big = 0, nr = 0, closers = 0, idle = 0;

	*so = (struct urt_sim_opts){ .seed = seed };
	so->rcvbuf = range(&s, 1024, tight ? 16384 : 65536);
	so->short_pct = range(&s, 0, 50);
	so->max_latency_ns = range(&s, 1000, 200000);
	*eo = (struct echo_opts){ .mem_budget = 64u << 20 };
	eo->boxed = range(&s, 0, 1);
	eo->max_conns = range(&s, 1, 64);
	eo->bufs = 8u << range(&s, 0, 6);
	eo->send_ms = tight ? 60000 : range(&s, 250, 2000);
	eo->idle_ms = range(&s, tight ? 500 : 200, 5000);
	w->idle_ms = eo->idle_ms;
	w->tight = tight;
	w->msg_max = tight ? 1 : MSG_MAX;
	w->n = (int)range(&s, 1, tight ? TIGHT_CLIENTS : MAX_CLIENTS);
	for (int i = 0; i < w->n; i++) {
		struct cli *c = &w->cli[i];
		uint32_t r = range(&s, 0, 99);

		*c = (struct cli){ .w = w, .id = i };
		c->rng = draw(&s);
		c->rrng = draw(&s);
		if (r < 5 && nr < 2)
			c->kind = NON_READER;
		else if (r < 10 && closers < 2)
			c->kind = CLOSER;
		else if (r < 15 && idle < 3)
			c->kind = IDLE;
		else if (tight)
			c->kind = WB_LOCKSTEP;
		else
			c->kind = r % 2 ? WB_CONCURRENT : WB_AFTER;
		switch (c->kind) {
		case WB_CONCURRENT:
			c->bytes = range(&s, 1, MAX_BYTES);
			break;
		case WB_AFTER: /* what the two receive queues hold: the echo never waits */
			c->bytes = range(&s, 1, 2 * so->rcvbuf);
			break;
		case WB_LOCKSTEP:
			c->bytes = range(&s, 1, LOCKSTEP_LEN);
			small++;
			break;
		case IDLE:
			c->bytes = range(&s, 1, w->msg_max);
			small++, idle++;
			break;
		case CLOSER:
			c->bytes = range(&s, 1, MAX_BYTES);
			big++, closers++;
			break;
		case NON_READER:
			big++, nr++;
			break;
		}
		/* writes of up to wmax: few enough that a client's own pace
		 * stays far below --send-ms and --idle-ms */
		c->wmax = range(&s, c->bytes / 64 + 1, IO_BUF);
	}
	/* tight: W = msg_max + 1 chunks for each (see the top) */
	if (tight)
		eo->mem_budget = (size_t)(small + big) * (w->msg_max + 1) * ECHO_RX_BUF +
				 range(&s, 0, ECHO_RX_BUF);
	w->nr = nr;
	w->stop_early = idle && range(&s, 0, 1);
}

static void scn_echo_run(const struct scn_opts *o, struct scn_result *r)
{
	struct world *w = calloc(1, sizeof(*w));
	struct urt_sim_opts so;
	struct echo_opts eo;
	struct urt_join cj = { 0 };
	int lfd, ret;

	*r = (struct scn_result){ 0 };
	if (!w) {
		snprintf(r->why, sizeof(r->why), "out of memory");
		return;
	}
	draw_world(w, o->seed, &so, &eo);
	so.trace = o->trace;
	so.faults_pct = o->faults_pct;
	w->faulty = o->faults_pct > 0;
	{ /* the buffer mode and zero-copy sends, as every scenario draws them */
		struct urt_runtime_opts ro = { .buf_count = eo.bufs, .buf_size = ECHO_RX_BUF };

		scn_knobs_bufs(o, &ro);
		eo.features_off = ro.features_off;
		eo.send_zc_min = ro.send_zc_min;
		scn_watch_arm(&so, &ro);
		w->check = so.check;
		w->check_arg = so.check_arg;
		so.check = budget_check;
		so.check_arg = w;
	}
	ret = urt_sim_create(&w->sim, &so);
	if (ret) {
		snprintf(r->why, sizeof(r->why), "urt_sim_create: %d", ret);
		free(w);
		return;
	}
	ret = echo_server_init(&w->srv, &eo, 0, w->sim);
	if (ret) {
		snprintf(r->why, sizeof(r->why), "echo_server_init: %d", ret);
		goto out;
	}
	/* after init, on this thread: the model's listener */
	lfd = urt_listen_tcp("127.0.0.1", 0, 64, 0, &w->port);
	if (lfd < 0) {
		fail(w, "urt_listen_tcp: %d", lfd);
	} else if ((ret = echo_server_start(&w->srv, lfd))) {
		fail(w, "echo_server_start: %d", ret);
	} else {
		for (int i = 0; i < w->n && !w->why[0]; i++)
			if (urt_spawn(&w->srv.rt, &client_type,
				      &(struct client){ .c = &w->cli[i], .fd = -1 },
				      sizeof(struct client), &w->joins[i]))
				fail(w, "spawn client %d", i);
		if (urt_spawn(&w->srv.rt, &control_type, &(struct control){ .w = w },
			      sizeof(struct control), &cj) ||
		    urt_spawn(&w->srv.rt, &watchdog_type, &(struct control){ .w = w },
			      sizeof(struct control), NULL))
			fail(w, "spawn the controller");
		if (!w->why[0]) {
			ret = urt_run(&w->srv.rt);
			if (ret)
				fail(w, "urt_run: %d", ret);
		}
	}
	for (int i = 0; i < w->n; i++) /* those the controller did not await */
		if (!urt_join_is_empty(&w->joins[i]))
			urt_join_detach(&w->joins[i]);
	if (!urt_join_is_empty(&cj))
		urt_join_detach(&cj);
	for (int i = 0; i < w->n; i++) {
		const struct cli *c = &w->cli[i];

		if (c->kind <= WB_LOCKSTEP && (!c->done || (c->got != c->bytes && !c->faulted)))
			fail(w, "client %d (%s): %u of %u bytes echoed", i, kind_name[c->kind],
			     c->got, c->bytes);
		if (c->kind == NON_READER && !c->done)
			fail(w, "non-reader %d never closed", i);
	}
	echo_server_finish(&w->srv); /* the listener closed, the rest aborted */
	if (w->srv.live_conns)
		fail(w, "%llu connections counted after deinit",
		     (unsigned long long)w->srv.live_conns);
	if (atomic_load(&w->srv.heap.bytes))
		fail(w, "the runtime's allocator holds %zu bytes after deinit",
		     atomic_load(&w->srv.heap.bytes));
	if (urt_sim_fds_open(w->sim))
		fail(w, "%u descriptors of the model left open", urt_sim_fds_open(w->sim));
	if (urt_sim_stalls(w->sim))
		fail(w, "%llu stalls", (unsigned long long)urt_sim_stalls(w->sim));
out:
	r->hash = urt_sim_hash(w->sim);
	r->events = urt_sim_events(w->sim);
	if (!r->why[0])
		memcpy(r->why, w->why, sizeof(r->why));
	scn_watch_take(r->why); /* the invariants after every event */
	urt_sim_destroy(w->sim);
	free(w);
}

const struct scenario scn_echo = {
	.name = "echo",
	.what = "urt-echo's server (examples/echo/server.c) and 1-64 checking, non-reading, "
		"closing "
		"and idle clients",
	.run = scn_echo_run,
};
