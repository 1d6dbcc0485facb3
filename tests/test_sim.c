/* SPDX-License-Identifier: MIT */
/*
 * test_sim.c - the simulated kernel (urt/sim.h), first stage: the runtime
 * runs unchanged on its rings; virtual time (an hour's sleep costs
 * nothing, deadlines fire in virtual time); one seed decides the order of
 * completions, and the same seed replays to the same trace hash; cancel,
 * abort and deinit with operations in flight; an opcode the model does
 * not have completes with -EOPNOTSUPP; files in memory (writers in
 * parallel, each seed replayed to its hash; -EIO faults; -ENOSPC past the
 * budget, and the space back once the files are gone). Seeds are fixed
 * and printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../examples/sim/simlib.h"
#include "support/test_support.h"
#include "urt/urt.h"

static struct urt_sim *sim_new(uint64_t seed, uint64_t max_latency_ns)
{
	struct urt_sim *s;

	assert_int_equal(
		urt_sim_create(&s, &(struct urt_sim_opts){ .seed = seed,
							   .max_latency_ns = max_latency_ns }),
		0);
	return s;
}

static void sim_runtime(struct urt_runtime *rt, struct urt_sim *s)
{
	assert_int_equal(urt_runtime_init(rt, &(struct urt_runtime_opts){ .sim = s }), 0);
}

/* --- virtual time ------------------------------------------------------------------- */

struct sleeper {
	struct urt_op op;
	uint64_t before, after;
	int ret;
};

static bool sleep_poll(struct urt_task *t, void *arg)
{
	struct sleeper *st = arg;

	URT_BEGIN(t);
	st->before = urt_now_ns();
	URT_AWAIT(t, st->ret = urt_sleep(t, &st->op, 3600ull * 1000000000u));
	st->after = urt_now_ns();
	URT_RETURN(t, (uint64_t)(st->after - st->before));
	URT_END(t);
}

static const struct urt_task_type sleep_type = { .poll = sleep_poll, .name = "sleeper" };

static void test_hour_sleep(void **state)
{
	struct urt_runtime rt;
	struct urt_sim *s = sim_new(1, 0);
	struct sleeper st = { 0 };
	struct urt_join j;
	uint64_t took;

	(void)state;
	sim_runtime(&rt, s);
	assert_int_equal(urt_spawn(&rt, &sleep_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &took), 0);
	assert_true(took >= 3600ull * 1000000000u);
	assert_true(took < 3600ull * 1000000000u + 1000000u); /* woken at the deadline, not later */
	assert_true(urt_sim_now(s) >= 3600ull * 1000000000u);
	assert_int_equal(urt_sim_stalls(s), 0);
	test_runtime_end(&rt);
	urt_sim_destroy(s);
}

/* --- one seed, one order ------------------------------------------------------------ */

#define NTASKS 16

static int order[NTASKS], norder;

struct noper {
	struct urt_op op;
	int id, ret;
};

static bool nop_poll(struct urt_task *t, void *arg)
{
	struct noper *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_nop(t, &st->op));
	order[norder++] = st->id;
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type nop_type = { .poll = nop_poll, .name = "noper" };

/* NTASKS tasks await a NOP each; return the trace hash, the order in order[]. */
static uint64_t run_nops(uint64_t seed)
{
	struct urt_runtime rt;
	struct urt_sim *s = sim_new(seed, 0);
	uint64_t hash;

	norder = 0;
	sim_runtime(&rt, s);
	for (int i = 0; i < NTASKS; i++) {
		struct noper st = { .id = i };

		assert_int_equal(urt_spawn(&rt, &nop_type, &st, sizeof(st), NULL), 0);
	}
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(norder, NTASKS);
	test_runtime_end(&rt);
	hash = urt_sim_hash(s);
	assert_true(urt_sim_events(s) >= 2 * NTASKS);
	urt_sim_destroy(s);
	return hash;
}

static void test_seed_replays(void **state)
{
	int first[NTASKS], distinct = 0;
	uint64_t h0;

	(void)state;
	for (uint64_t seed = 1; seed <= 8; seed++) {
		uint64_t h1 = run_nops(seed), h2;
		int again[NTASKS];

		memcpy(again, order, sizeof(order));
		h2 = run_nops(seed);
		print_message("seed %llu: hash %016llx\n", (unsigned long long)seed,
			      (unsigned long long)h1);
		assert_int_equal(h1, h2); /* same seed, same trace */
		assert_memory_equal(again, order, sizeof(order));
		if (seed == 1) {
			memcpy(first, order, sizeof(order));
			h0 = h1;
		} else if (memcmp(first, order, sizeof(order))) {
			distinct++;
			assert_int_not_equal(h0, h1);
		}
	}
	/* the seed decides the order: 7 other seeds, at least one other order */
	assert_true(distinct > 0);
}

/* --- deadlines, cancel, abort ----------------------------------------------------------- */

struct timed {
	struct urt_op op;
	uint64_t timeout;
	int ret;
	bool timed_out;
};

static bool timed_poll(struct urt_task *t, void *arg)
{
	struct timed *st = arg;

	URT_BEGIN(t);
	urt_op_set_timeout(&st->op, st->timeout);
	URT_AWAIT(t, st->ret = urt_nop(t, &st->op));
	st->timed_out = urt_op_timed_out(&st->op);
	URT_RETURN(t, (uint64_t)(int64_t)st->ret << 1 | st->timed_out);
	URT_END(t);
}

static const struct urt_task_type timed_type = { .poll = timed_poll, .name = "timed" };

/* A NOP that takes up to 1 s (virtual), with a deadline. Return: its result. */
static int64_t run_timed(uint64_t seed, uint64_t timeout, bool *timed_out)
{
	struct urt_runtime rt;
	struct urt_sim *s = sim_new(seed, 1000000000u);
	struct timed st = { .timeout = timeout };
	struct urt_join j;
	uint64_t out;

	sim_runtime(&rt, s);
	assert_int_equal(urt_spawn(&rt, &timed_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	test_runtime_end(&rt);
	urt_sim_destroy(s);
	*timed_out = out & 1;
	return (int64_t)out >> 1;
}

static void test_deadline(void **state)
{
	bool to;

	(void)state;
	/* 1 ns: the NOP's latency (a draw in [0, 1 s]) is longer but for a 1e-9 chance */
	assert_int_equal(run_timed(7, 1, &to), -ECANCELED);
	assert_true(to);
	/* 2 s: the NOP always wins */
	assert_int_equal(run_timed(7, 2000000000u, &to), 0);
	assert_false(to);
}

static int drops;

struct slow {
	struct urt_op op;
	int ret;
};

static bool slow_poll(struct urt_task *t, void *arg)
{
	struct slow *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_nop(t, &st->op));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static void slow_drop(struct urt_task *t, void *arg)
{
	struct slow *st = arg;

	(void)t;
	assert_false(urt_op_busy(&st->op));
	drops++;
}

static const struct urt_task_type slow_type = { .poll = slow_poll,
						.drop = slow_drop,
						.name = "slow" };

static struct slow *slow_st;

static bool slow_poll_seen(struct urt_task *t, void *arg)
{
	slow_st = arg;
	return slow_poll(t, arg);
}

static const struct urt_task_type slow_seen_type = { .poll = slow_poll_seen,
						     .drop = slow_drop,
						     .name = "slow" };

static void test_cancel_abort_deinit(void **state)
{
	struct urt_runtime rt;
	struct urt_sim *s = sim_new(3, 1000000000u);
	struct slow st = { 0 };
	struct urt_join j;
	uint64_t out;

	(void)state;
	drops = 0;
	sim_runtime(&rt, s);
	/* cancel: the NOP (up to 1 s away) ends with -ECANCELED */
	assert_int_equal(urt_spawn(&rt, &slow_seen_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(urt_op_cancel(&slow_st->op), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal((int64_t)out, -ECANCELED);
	/* abort in flight: the drop runs after the NOP's cancel completed */
	assert_int_equal(urt_spawn(&rt, &slow_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_tick(&rt, 0), 1);
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_run(&rt), 0);
	urt_join_detach(&j);
	assert_int_equal(drops, 2);
	/* deinit in flight: 4 NOPs out, every drop runs, nothing left */
	for (int i = 0; i < 4; i++)
		assert_int_equal(urt_spawn(&rt, &slow_type, &st, sizeof(st), NULL), 0);
	assert_int_equal(urt_tick(&rt, 0), 4);
	assert_int_equal(urt_runtime_deinit(&rt), 4);
	assert_int_equal(drops, 6);
	assert_int_equal(urt_sim_stalls(s), 0);
	urt_sim_destroy(s);
}

/* --- what the model does not have -------------------------------------------------- */

struct reader {
	struct urt_op op;
	int fd, ret;
	char buf[8];
};

static bool read_poll(struct urt_task *t, void *arg)
{
	struct reader *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_read(t, &st->op, st->fd, st->buf, sizeof(st->buf), -1));
	URT_RETURN(t, (uint64_t)(int64_t)st->ret);
	URT_END(t);
}

static const struct urt_task_type read_type = { .poll = read_poll, .name = "reader" };

static void test_unmodelled_opcode(void **state)
{
	struct urt_runtime rt;
	struct urt_sim *s = sim_new(5, 0);
	struct reader st = { 0 };
	struct urt_join j;
	uint64_t out;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	st.fd = p[0];
	sim_runtime(&rt, s);
	/* no socket opcode (the probe says so); zero-copy sends and bundles
	 * are the model's */
	assert_false(test_stats(&rt).features & URT_FEAT_SOCKET_OP);
	assert_true(test_stats(&rt).features & URT_FEAT_SEND_ZC);
	assert_true(test_stats(&rt).features & URT_FEAT_RECV_BUNDLE);
	assert_int_equal(urt_spawn(&rt, &read_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal((int64_t)out, -EOPNOTSUPP);
	test_runtime_end(&rt);
	urt_sim_destroy(s);
	close(p[0]);
	close(p[1]);
}

/* --- an echo server and its clients, all on the simulated network ---------------------- */

#define ECHO_CLIENTS 8
#define ECHO_BYTES   20000

static uint16_t echo_port;
static uint32_t echo_conns_done;
static int echo_clients_ok;

/* The server's side of one connection is simlib's echo task (examples/sim/simlib.c). */

/* The listener: accept ECHO_CLIENTS connections, a task each. */
struct echo_srv {
	struct urt_op acc;
	int lfd, n, got;
};

static struct echo_srv *echo_srv_st; /* the listener's state: the last client cancels its accept */
static int echo_clients_ended;

static bool echo_srv_poll(struct urt_task *t, void *arg)
{
	struct echo_srv *s = arg;

	URT_BEGIN(t);
	echo_srv_st = s;
	for (;;) { /* until the last client has ended (its drop cancels the accept) */
		URT_AWAIT(t, s->n = urt_accept_stream(t, &s->acc, s->lfd));
		if (s->n == -EMFILE || s->n == -ENFILE)
			continue; /* the stream goes on, after a backoff */
		if (s->n == -ECANCELED)
			break;
		if (s->n < 0)
			URT_RETURN(t, (uint64_t)(int64_t)s->n);
		s->got++;
		assert_int_equal(
			urt_spawn(urt_task_runtime(t), &scn_echo_type,
				  &(struct scn_echo){ .fd = s->n, .done = &echo_conns_done },
				  sizeof(struct scn_echo), NULL),
			0);
	}
	URT_RETURN(t, 0);
	URT_END(t);
}

static void echo_srv_drop(struct urt_task *t, void *arg)
{
	struct echo_srv *s = arg;

	(void)t;
	URT_DISCARD(urt_close_detached(s->lfd));
}

static const struct urt_task_type echo_srv_type = { .poll = echo_srv_poll,
						    .drop = echo_srv_drop,
						    .name = "echo-srv" };

/* A client: connect, send ECHO_BYTES of a pattern of its own, read them
 * back and check every byte, shut down, see the end of file. */
struct echo_cli {
	struct urt_op op;
	struct urt_io_all io;
	struct sockaddr_in sa; /* read by the kernel when the SQE is taken: in the state */
	int id, fd, n;
	uint8_t out[ECHO_BYTES], in[ECHO_BYTES];
};

static bool echo_cli_poll(struct urt_task *t, void *arg)
{
	struct echo_cli *c = arg;

	URT_BEGIN(t);
	c->sa = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(echo_port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	URT_AWAIT(t, c->fd = urt_socket(t, &c->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (c->fd < 0)
		URT_RETURN(t, 1u << 16 | (uint32_t)-c->fd);
	URT_AWAIT(t,
		  c->n = urt_connect(t, &c->op, c->fd, (struct sockaddr *)&c->sa, sizeof(c->sa)));
	if (c->n < 0)
		URT_RETURN(t, 2u << 16 | (uint32_t)-c->n);
	for (int i = 0; i < ECHO_BYTES; i++)
		c->out[i] = (uint8_t)(c->id * 31 + i * 7);
	URT_AWAIT(t, c->n = urt_send_all(t, &c->io, c->fd, c->out, ECHO_BYTES));
	if (c->n != ECHO_BYTES)
		URT_RETURN(t, 3u << 16 | (uint32_t)(c->n < 0 ? -c->n : 0));
	URT_AWAIT(t, c->n = urt_recv_exact(t, &c->io, c->fd, c->in, ECHO_BYTES));
	if (c->n < 0 && memcmp(c->in, c->out, c->io.done)) /* what came before the error */
		URT_RETURN(t, 6u << 16);
	if (c->n != ECHO_BYTES || memcmp(c->in, c->out, ECHO_BYTES))
		URT_RETURN(t, 4u << 16 | (uint32_t)(c->n < 0 ? -c->n : 0));
	URT_AWAIT(t, c->n = urt_shutdown(t, &c->op, c->fd, SHUT_WR));
	URT_AWAIT(t, c->n = urt_recv(t, &c->op, c->fd, c->in, 1, 0));
	if (c->n != 0)
		URT_RETURN(t, 5u << 16 | (uint32_t)(c->n < 0 ? -c->n : 0));
	echo_clients_ok++;
	URT_RETURN(t, 0);
	URT_END(t);
}

static void echo_cli_drop(struct urt_task *t, void *arg)
{
	struct echo_cli *c = arg;

	(void)t;
	if (c->fd >= 0)
		URT_DISCARD(urt_close_detached(c->fd));
	if (++echo_clients_ended == ECHO_CLIENTS)
		URT_DISCARD(urt_op_cancel(&echo_srv_st->acc));
}

static const struct urt_task_type echo_cli_type = { .poll = echo_cli_poll,
						    .drop = echo_cli_drop,
						    .name = "echo-cli" };

/* One run of the echo scenario. Return: its trace hash. */
static uint64_t faults_seen;

/* A client's end under faults: done, or an error a faulty network gives. */
static bool allowed(uint64_t out)
{
	int err = (int)(out & 0xffff);

	return out == 0 || ((out >> 16) != 6 && (err == ECONNRESET || err == ECONNREFUSED ||
						 err == ETIMEDOUT || err == EPIPE));
}

/* The runtime's buffer mode (urt_runtime_opts features_off) and ring for
 * run_echo: the model offers all three modes. */
static uint32_t echo_off, echo_bufs = 16;

/*
 * urt_sim_opts.check for run_echo: after every event, the buffers the
 * model may fill are no more than the ring holds nor than the runtime
 * counts free (it counts one out when it reaps the completion that took
 * it, after the model took it). Counts its calls and what it found.
 */
static uint64_t checks, check_bad;

static void echo_check(struct urt_sim *sim, void *arg)
{
	struct urt_runtime *rt = arg;
	uint32_t ready = urt_sim_bufs_ready(sim);

	checks++;
	if (ready > echo_bufs || ready > test_stats(rt).bufs_free)
		check_bad++;
}

static uint64_t run_echo(uint64_t seed, uint32_t rcvbuf, uint32_t short_pct, uint32_t faults)
{
	static struct urt_runtime rt; /* check_arg: where it is, from the first event on */
	struct urt_sim *s;
	struct urt_join cj[ECHO_CLIENTS], sj;
	uint64_t out, hash;
	int lfd;

	assert_int_equal(
		urt_sim_create(&s,
			       &(struct urt_sim_opts){ .seed = seed,
						       .rcvbuf = rcvbuf,
						       .short_pct = short_pct,
						       .trace = getenv("SIM_TRACE") ? stderr : NULL,
						       .faults_pct = faults,
						       .check = echo_check,
						       .check_arg = &rt }),
		0);
	checks = check_bad = 0;
	echo_conns_done = echo_clients_ok = echo_clients_ended = 0;
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = s,
								  .buf_count = echo_bufs,
								  .features_off = echo_off }),
		0);
	lfd = urt_listen_tcp("127.0.0.1", 0, 16, 0, &echo_port);
	assert_true(lfd >= 1 << 24); /* the model's descriptor */
	assert_int_equal(urt_spawn(&rt, &echo_srv_type, &(struct echo_srv){ .lfd = lfd },
				   sizeof(struct echo_srv), &sj),
			 0);
	for (int i = 0; i < ECHO_CLIENTS; i++) {
		static struct echo_cli c;

		c = (struct echo_cli){ .id = i, .fd = -1 };
		assert_int_equal(urt_spawn(&rt, &echo_cli_type, &c, sizeof(c), &cj[i]), 0);
	}
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&sj, &out), 0);
	assert_int_equal(out, 0);
	for (int i = 0; i < ECHO_CLIENTS; i++) {
		assert_int_equal(urt_join_take(&cj[i], &out), 0);
		if (!faults)
			assert_int_equal(out, 0);
		else if (!allowed(out))
			fail_msg("seed %llu client %d: step %d errno %d", (unsigned long long)seed,
				 i, (int)(out >> 16), (int)(out & 0xffff));
	}
	if (!faults) {
		assert_int_equal(echo_clients_ok, ECHO_CLIENTS);
		assert_int_equal(echo_conns_done, ECHO_CLIENTS);
	}
	faults_seen += urt_sim_faults(s);
	/* no completion ever arrived for a record already freed: the runtime
	 * waited for every operation's last CQE */
	assert_int_equal(test_stats(&rt).stale_cqes, 0);
	while (test_stats(&rt).ops_inflight) /* the drops' detached closes */
		assert_true(urt_tick(&rt, URT_TICK_FOREVER) >= 0);
	/* every event checked, none broke it; with every completion reaped the
	 * model and the runtime agree on the free buffers */
	assert_true(checks >= urt_sim_events(s) / 2);
	assert_int_equal(check_bad, 0);
	assert_int_equal(urt_sim_bufs_ready(s), test_stats(&rt).bufs_free);
	test_runtime_end(&rt);
	assert_int_equal(urt_sim_fds_open(s), 0); /* every descriptor closed */
	assert_int_equal(urt_sim_stalls(s), 0);
	hash = urt_sim_hash(s);
	urt_sim_destroy(s);
	return hash;
}

/*
 * Each buffer mode: one buffer a completion, in part, bundles. A client
 * sends all 20,000 bytes before it reads, so the server must take them in
 * while its echo waits on the client's full queue: one buffer a
 * completion and in part keep receiving to the arm's byte limit (16
 * buffers' worth); a bundle whose pick takes the ring's last buffer ends
 * the arm (the kernel's rule, as the model has it), and the stream waits
 * for its task to drain the queue before it re-arms, which a task blocked
 * in that send never does. So bundles get 64 buffers, where a pick of 16
 * leaves some in the ring; with 16 the scenario deadlocks (-EDEADLK).
 */
static const struct {
	const char *name;
	uint32_t off, bufs;
} echo_modes[] = {
	{ "single", URT_FEAT_RECV_BUNDLE | URT_FEAT_BUF_INC, 16 },
	{ "inc", URT_FEAT_RECV_BUNDLE, 16 },
	{ "bundle", 0, 64 },
};

static void echo_mode(unsigned m)
{
	echo_off = echo_modes[m].off;
	echo_bufs = echo_modes[m].bufs;
}

static void test_echo(void **state)
{
	(void)state;
	for (unsigned m = 0; m < sizeof(echo_modes) / sizeof(echo_modes[0]); m++) {
		echo_mode(m);
		for (uint64_t seed = 1; seed <= 20; seed++) {
			/* small queues and short transfers: back-pressure and
			 * partial sends on every connection; 16 buffers for 8
			 * connections (bundles: 64, above) */
			uint64_t h = run_echo(seed, 4096, 30, 0);

			print_message("echo %s seed %llu: hash %016llx\n", echo_modes[m].name,
				      (unsigned long long)seed, (unsigned long long)h);
			assert_int_equal(run_echo(seed, 4096, 30, 0), h); /* replays */
		}
		run_echo(99, 0, 0, 0); /* defaults: 64 KiB queues, whole transfers */
	}
	echo_mode(0);
}

/* Faults on: resets, -ENOBUFS, -EMFILE, late accepts, failed connects,
 * -EINTR. The server survives every one; each client ends with its bytes
 * back or with an error a faulty network gives (and what it read before
 * is right); nothing leaks; every seed replays. */
static void test_echo_faults(void **state)
{
	(void)state;
	faults_seen = 0;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		uint64_t h;

		echo_mode(seed % 3); /* each mode, over the seeds */
		print_message("faults seed %llu (%s)\n", (unsigned long long)seed,
			      echo_modes[seed % 3].name);
		h = run_echo(seed, 4096, 30, 2);

		assert_int_equal(run_echo(seed, 4096, 30, 2), h);
	}
	echo_mode(0);
	print_message("faults injected over 40 seeds (twice): %llu\n",
		      (unsigned long long)faults_seen);
	assert_true(faults_seen > 0);
}

/* --- files in memory ------------------------------------------------------------------- */

#define FW_TASKS 6
#define FW_BYTES 3000

/* A writer: its own file, written in chunks (at offsets, or at the file
 * position for odd ids), synced, its size checked, read back and
 * compared, renamed into done/ and checked there, then removed. A fault
 * (-EIO) ends it early: it closes and removes what it made. Returns 0, or
 * step << 16 | errno. */
struct fwriter {
	struct urt_op op;
	struct statx stx;
	int id, fd, n, off, chunk, step, err;
	char name[16], dst[24];
	char buf[FW_BYTES], back[FW_BYTES + 512]; /* a read of 512 at any offset fits */
};

static bool fwriter_poll(struct urt_task *t, void *arg)
{
	struct fwriter *st = arg;

	URT_BEGIN(t);
	snprintf(st->name, sizeof(st->name), "w%d", st->id);
	snprintf(st->dst, sizeof(st->dst), "done/w%d", st->id);
	for (int j = 0; j < FW_BYTES; j++)
		st->buf[j] = (char)(st->id * 31 + j * 7);
	st->step = 1;
	URT_AWAIT(t, st->n = urt_mkdirat(t, &st->op, AT_FDCWD, "done", 0755));
	if (st->n && st->n != -EEXIST)
		goto fail;
	st->step = 2;
	URT_AWAIT(t, st->fd = urt_openat(t, &st->op, AT_FDCWD, st->name, O_RDWR | O_CREAT | O_EXCL,
					 0644));
	if ((st->n = st->fd) < 0)
		goto fail;
	st->step = 3;
	for (st->off = 0; st->off < FW_BYTES; st->off += st->n) {
		/* in the state: the await evaluates its arguments again */
		st->chunk = 1 + (st->id * 13 + st->off) % 700;
		if (st->chunk > FW_BYTES - st->off)
			st->chunk = FW_BYTES - st->off;
		URT_AWAIT(t, st->n = urt_write(t, &st->op, st->fd, st->buf + st->off,
					       (size_t)st->chunk, st->id & 1 ? -1 : st->off));
		if (st->n <= 0)
			goto fail;
	}
	st->step = 4;
	URT_AWAIT(t, st->n = urt_fsync(t, &st->op, st->fd, st->id & 2));
	if (st->n)
		goto fail;
	st->step = 5;
	URT_AWAIT(t,
		  st->n = urt_statx(t, &st->op, st->fd, "", AT_EMPTY_PATH, STATX_SIZE, &st->stx));
	if (st->n || st->stx.stx_size != FW_BYTES)
		goto fail;
	st->step = 6;
	for (st->off = 0;; st->off += st->n) {
		URT_AWAIT(t,
			  st->n = urt_read(t, &st->op, st->fd, st->back + st->off, 512, st->off));
		if (st->n < 0)
			goto fail;
		if (!st->n)
			break; /* the end: the last read before it was short */
	}
	if (st->off != FW_BYTES || memcmp(st->buf, st->back, FW_BYTES))
		goto fail;
	st->step = 7;
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->fd));
	st->fd = -1;
	if (st->n)
		goto fail;
	URT_AWAIT(t, st->n = urt_renameat(t, &st->op, AT_FDCWD, st->name, AT_FDCWD, st->dst, 0));
	if (st->n)
		goto fail;
	st->step = 8;
	URT_AWAIT(t, st->n = urt_statx(t, &st->op, AT_FDCWD, st->dst, 0, STATX_SIZE, &st->stx));
	if (st->n || st->stx.stx_size != FW_BYTES)
		goto fail;
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, AT_FDCWD, st->dst, 0));
	if (st->n)
		goto fail;
	URT_RETURN(t, 0);
fail:
	st->err = st->n < 0 ? -st->n : 255; /* 255: a wrong size or wrong bytes */
	if (st->fd >= 0)
		URT_AWAIT(t, st->n = urt_close(t, &st->op, st->fd));
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, AT_FDCWD, st->name, 0));
	URT_RETURN(t, (uint64_t)st->step << 16 | (uint64_t)st->err);
	URT_END(t);
}

static const struct urt_task_type fwriter_type = { .poll = fwriter_poll, .name = "fwriter" };

static bool rmdir_poll(struct urt_task *t, void *arg)
{
	struct fwriter *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->n = urt_unlinkat(t, &st->op, AT_FDCWD, "done", AT_REMOVEDIR));
	URT_RETURN(t, (uint64_t)(int64_t)st->n);
	URT_END(t);
}

static const struct urt_task_type rmdir_type = { .poll = rmdir_poll, .name = "rmdir" };

/* One seed of the writers; *eio: how many ended with -EIO. Return: the hash. */
static uint64_t run_files(uint64_t seed, uint32_t faults, int *eio)
{
	struct urt_runtime rt;
	struct urt_sim *s;
	struct urt_join j[FW_TASKS + 1];
	uint64_t out, hash;

	assert_int_equal(
		urt_sim_create(&s,
			       &(struct urt_sim_opts){ .seed = seed,
						       .trace = getenv("SIM_TRACE") ? stderr : NULL,
						       .faults_pct = faults,
						       .fault_kinds = URT_SIM_FAULT_EIO }),
		0);
	sim_runtime(&rt, s);
	for (int i = 0; i < FW_TASKS; i++) {
		static struct fwriter w;

		w = (struct fwriter){ .id = i, .fd = -1 };
		assert_int_equal(urt_spawn(&rt, &fwriter_type, &w, sizeof(w), &j[i]), 0);
	}
	assert_int_equal(urt_run(&rt), 0);
	*eio = 0;
	for (int i = 0; i < FW_TASKS; i++) {
		assert_int_equal(urt_join_take(&j[i], &out), 0);
		if (out && (!faults || (out & 0xffff) != EIO))
			fail_msg("seed %llu writer %d: step %d errno %d", (unsigned long long)seed,
				 i, (int)(out >> 16), (int)(out & 0xffff));
		*eio += out != 0;
	}
	/* every writer removed its file: done/ is empty */
	{
		static struct fwriter rm;

		rm = (struct fwriter){ .fd = -1 };
		assert_int_equal(urt_spawn(&rt, &rmdir_type, &rm, sizeof(rm), &j[FW_TASKS]), 0);
		assert_int_equal(urt_run(&rt), 0);
		assert_int_equal(urt_join_take(&j[FW_TASKS], &out), 0);
		assert_int_equal(out, 0);
	}
	test_runtime_end(&rt);
	assert_int_equal(urt_sim_fds_open(s), 0);
	assert_int_equal(urt_sim_stalls(s), 0);
	hash = urt_sim_hash(s);
	urt_sim_destroy(s);
	return hash;
}

static void test_files(void **state)
{
	int eio;

	(void)state;
	for (uint64_t seed = 1; seed <= 10; seed++) {
		uint64_t h = run_files(seed, 0, &eio);

		print_message("files seed %llu: hash %016llx\n", (unsigned long long)seed,
			      (unsigned long long)h);
		assert_int_equal(eio, 0);
		assert_int_equal(run_files(seed, 0, &eio), h); /* replays */
	}
}

/* -EIO on reads, writes and fsyncs: each writer ends whole or with -EIO,
 * cleans up, and every seed replays. */
static void test_files_eio(void **state)
{
	int eio, total = 0, again;

	(void)state;
	for (uint64_t seed = 1; seed <= 10; seed++) {
		uint64_t h = run_files(seed, 3, &eio);

		total += eio;
		assert_int_equal(run_files(seed, 3, &again), h);
		assert_int_equal(again, eio);
	}
	print_message("writers ended by -EIO over 10 seeds: %d\n", total);
	assert_true(total > 0);
}

/* The budget: a write is cut short at it, then -ENOSPC; space freed by a
 * truncate or by removing a file is there again. */
struct filler {
	struct urt_op op;
	int fd, fd2, n, total;
	int res[12];
	char buf[4096];
};

static int filler_res[12];

static bool filler_poll(struct urt_task *t, void *arg)
{
	struct filler *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->fd = urt_openat(t, &st->op, AT_FDCWD, "big", O_RDWR | O_CREAT, 0644));
	for (st->total = 0;;) {
		URT_AWAIT(t, st->n = urt_write(t, &st->op, st->fd, st->buf, sizeof(st->buf), -1));
		if (st->n <= 0)
			break;
		st->total += st->n;
	}
	st->res[0] = st->n;
	st->res[1] = st->total;
	URT_AWAIT(t, st->fd2 = urt_openat(t, &st->op, AT_FDCWD, "other", O_RDWR | O_CREAT, 0644));
	URT_AWAIT(t, st->res[2] = urt_write(t, &st->op, st->fd2, "x", 1, 0));
	URT_AWAIT(t, st->res[3] = urt_ftruncate(t, &st->op, st->fd, 5000));
	URT_AWAIT(t, st->res[4] = urt_write(t, &st->op, st->fd2, st->buf, sizeof(st->buf), 0));
	URT_AWAIT(t, st->res[5] = urt_write(t, &st->op, st->fd2, st->buf, sizeof(st->buf), 4096));
	URT_AWAIT(t, st->res[6] = urt_fallocate(t, &st->op, st->fd, 0, 0, 6000));
	URT_AWAIT(t, st->res[7] = urt_close(t, &st->op, st->fd));
	URT_AWAIT(t, st->res[8] = urt_unlinkat(t, &st->op, AT_FDCWD, "big", 0));
	URT_AWAIT(t, st->res[9] = urt_write(t, &st->op, st->fd2, st->buf, 100, 10000 - 100));
	URT_AWAIT(t, st->res[10] = urt_close(t, &st->op, st->fd2));
	URT_AWAIT(t, st->res[11] = urt_unlinkat(t, &st->op, AT_FDCWD, "other", 0));
	memcpy(filler_res, st->res, sizeof(filler_res)); /* spawn copied the state */
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type filler_type = { .poll = filler_poll, .name = "filler" };

static void test_files_enospc(void **state)
{
	static struct filler st;
	struct urt_runtime rt;
	struct urt_sim *s;
	struct urt_join j;

	(void)state;
	assert_int_equal(urt_sim_create(&s, &(struct urt_sim_opts){ .seed = 3, .fs_bytes = 10000 }),
			 0);
	sim_runtime(&rt, s);
	memset(&st, 0, sizeof(st));
	assert_int_equal(urt_spawn(&rt, &filler_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	test_runtime_end(&rt);
	memcpy(st.res, filler_res, sizeof(st.res));
	/* 4096 + 4096 + a short 1808, then -ENOSPC */
	assert_int_equal(st.res[0], -ENOSPC);
	assert_int_equal(st.res[1], 10000);
	assert_int_equal(st.res[2], -ENOSPC); /* another file: the budget is all files' */
	assert_int_equal(st.res[3], 0);	      /* big: 5000, so 5000 free */
	assert_int_equal(st.res[4], 4096);
	assert_int_equal(st.res[5], 5000 - 4096); /* short */
	assert_int_equal(st.res[6], -ENOSPC);	  /* 1000 more for big: none left */
	assert_int_equal(st.res[7], 0);
	assert_int_equal(st.res[8], 0); /* big is gone: 5000 free again */
	assert_int_equal(st.res[9], 100);
	assert_int_equal(st.res[10], 0);
	assert_int_equal(st.res[11], 0);
	assert_int_equal(urt_sim_fds_open(s), 0);
	urt_sim_destroy(s);
}

/* --- other threads are refused ------------------------------------------------------ */

/*
 * A simulation is one thread: what would bring another one in (the
 * blocking pool, and so DNS and the ftruncate fallback; remote wakers,
 * urt_spawn_remote; child processes) answers -EOPNOTSUPP, at once and the
 * same in every run, instead of a result whose timing no seed decides.
 */
static int64_t never_run(void *arg)
{
	(void)arg;
	fail_msg("a job ran on the simulated kernel");
	return 0;
}

struct refused_res {
	int64_t job;
	int dns, dial, waker, trunc, close;
};

struct refused {
	struct urt_job job;
	struct urt_dns dns;
	struct urt_dial dial;
	struct urt_op op;
	struct addrinfo *ai;
	struct urt_waker *w;
	struct refused_res *res;
	int fd;
};

static bool refused_poll(struct urt_task *t, void *arg)
{
	struct refused *r = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, r->res->job = urt_blocking_run(t, &r->job, never_run, NULL, NULL));
	URT_AWAIT(t, r->res->dns = urt_getaddrinfo(t, &r->dns, "127.0.0.1", "80", NULL, &r->ai));
	URT_AWAIT(t, r->res->dial = urt_dial(t, &r->dial, "127.0.0.1", "80", 1000000000ull));
	r->res->waker = urt_waker_new(t, &r->w);
	URT_AWAIT(t, r->fd = urt_openat(t, &r->op, AT_FDCWD, "f", O_RDWR | O_CREAT, 0600));
	assert_true(r->fd >= 0);
	/* in the model; with URT_FEAT_FTRUNCATE off the runtime would use the pool */
	URT_AWAIT(t, r->res->trunc = urt_ftruncate(t, &r->op, r->fd, 10));
	URT_AWAIT(t, r->res->close = urt_close(t, &r->op, r->fd));
	URT_END(t);
}

static const struct urt_task_type refused_type = { .poll = refused_poll, .name = "refused" };

/* One run, with features_off; its results in *res. Return: the trace hash. */
static uint64_t run_refused(uint32_t features_off, struct refused_res *res)
{
	char *argv[] = { "true", NULL };
	struct urt_runtime rt;
	struct urt_proc p;
	struct urt_sim *s;
	struct urt_join j;
	uint64_t hash;

	assert_int_equal(urt_sim_create(&s, &(struct urt_sim_opts){ .seed = 5 }), 0);
	assert_int_equal(
		urt_runtime_init(
			&rt, &(struct urt_runtime_opts){ .sim = s, .features_off = features_off }),
		0);
	assert_int_equal(urt_spawn_remote(&rt, &refused_type, &(struct refused){ .res = res },
					  sizeof(struct refused)),
			 -EOPNOTSUPP);
	assert_int_equal(
		urt_proc_spawn(&p, &(struct urt_proc_opts){ .file = "true", .argv = argv }),
		-EOPNOTSUPP);
	assert_int_equal(urt_proc_release(&p), 0); /* nothing was started */
	assert_int_equal(urt_spawn(&rt, &refused_type, &(struct refused){ .res = res },
				   sizeof(struct refused), &j),
			 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	test_runtime_end(&rt);
	hash = urt_sim_hash(s);
	assert_int_equal(urt_sim_fds_open(s), 0);
	urt_sim_destroy(s);
	return hash;
}

static void test_threads_refused(void **state)
{
	(void)state;
	for (int off = 0; off < 2; off++) {
		struct refused_res a = { 0 }, b = { 0 };
		uint64_t h = run_refused(off ? URT_FEAT_FTRUNCATE : 0, &a);

		assert_int_equal(a.job, -EOPNOTSUPP);
		assert_int_equal(a.dns, -EOPNOTSUPP);
		assert_int_equal(a.dial, -EOPNOTSUPP);
		assert_int_equal(a.waker, -EOPNOTSUPP);
		assert_int_equal(a.trunc, off ? -EOPNOTSUPP : 0);
		assert_int_equal(a.close, 0);
		assert_int_equal(run_refused(off ? URT_FEAT_FTRUNCATE : 0, &b), h); /* replays */
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

static void test_bad_create(void **state)
{
	struct urt_sim *s;

	(void)state;
	assert_int_equal(urt_sim_create(NULL, &(struct urt_sim_opts){ 0 }), -EINVAL);
	assert_int_equal(urt_sim_create(&s, NULL), -EINVAL);
	/* options out of their documented ranges are refused, not clamped */
	assert_int_equal(urt_sim_create(&s, &(struct urt_sim_opts){ .start_ns = (1ull << 62) + 1 }),
			 -EINVAL);
	assert_int_equal(urt_sim_create(&s, &(struct urt_sim_opts){ .faults_pct = 101 }), -EINVAL);
	assert_int_equal(urt_sim_create(&s, &(struct urt_sim_opts){ .fault_kinds = 0x02 }),
			 -EINVAL);
	assert_int_equal(urt_sim_create(&s, &(struct urt_sim_opts){ .rcvbuf = (1u << 30) + 1 }),
			 -EINVAL);
	/* and their edges are taken */
	assert_int_equal(
		urt_sim_create(&s, &(struct urt_sim_opts){ .start_ns = 1ull << 62,
							   .faults_pct = 100,
							   .fault_kinds = URT_SIM_FAULT_ALL,
							   .rcvbuf = 1u << 30 }),
		0);
	urt_sim_destroy(s);
	urt_sim_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hour_sleep),
		cmocka_unit_test(test_seed_replays),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_cancel_abort_deinit),
		cmocka_unit_test(test_unmodelled_opcode),
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_echo_faults),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_files_eio),
		cmocka_unit_test(test_files_enospc),
		cmocka_unit_test(test_threads_refused),
		cmocka_unit_test(test_bad_create),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
