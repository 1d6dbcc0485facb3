/* SPDX-License-Identifier: MIT */
/*
 * test_nomalloc.c - in steady state, 1M slab spawns and 1M I/O operations
 * (a recv stream and sends on a connection) call malloc zero times, and so
 * do bursts that leave a chunk unread on each of 200 connections at once,
 * rounds of 200 new connections through an acceptor, a new peak of
 * operations in flight under opts.op_records_reserve, a peak of tasks
 * holding task memory under opts.task_blocks_reserve, and tasks growing a
 * buffer of task memory to 64 KiB and freeing it.
 *
 * Links support/heap_count.c, which interposes the C heap and counts calls
 * while heap_counting is set. Not built with sanitizers, which own malloc.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/heap_count.h"
#include "support/test_support.h"
#include "urt/urt.h"

struct work {
	uint64_t x[4];
};

static uint64_t sum;

static bool work_poll(struct urt_task *t, void *arg)
{
	struct work *w = arg;

	(void)t;
	sum += w->x[0] + w->x[3];
	return true;
}

static const struct urt_task_type work_type = { .poll = work_poll, .name = "work" };

enum { BATCH = 1000, ROUNDS = 1000 }; /* 1M spawns */

static void spawn_round(struct urt_runtime *rt, bool boxed)
{
	for (int i = 0; i < BATCH; i++) {
		struct work w = { { (uint64_t)i, 0, 0, 1 } };

		if (boxed)
			assert_int_equal(urt_spawn(rt, &work_type, &w, sizeof(w), NULL), 0);
		else
			assert_int_equal(urt_spawn_slab(&work_type, &w, sizeof(w), NULL), 0);
	}
	assert_int_equal(urt_tick(rt, 0), BATCH);
}

static void test_slab_spawns_never_malloc(void **state)
{
	struct urt_runtime rt;
	size_t slab_calls, boxed_calls;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){
				       .slab = URT_SLAB_UNBOUNDED,
				       .slot_size = 128,
				       .slab_slots = 256,
				       .poll_budget = BATCH,
			       });
	spawn_round(&rt, false); /* warm: the slab and registry grow here */
	spawn_round(&rt, true);
	heap_calls = 0;
	heap_counting = true;
	for (int r = 0; r < ROUNDS; r++)
		spawn_round(&rt, false);
	heap_counting = false;
	slab_calls = heap_calls;

	heap_calls = 0; /* control: boxed spawns do reach the heap, so the
			 * interposer sees the runtime's allocations */
	heap_counting = true;
	spawn_round(&rt, true);
	heap_counting = false;
	boxed_calls = heap_calls;

	print_message("heap calls: %zu for %d slab spawns, %zu for %d boxed spawns\n", slab_calls,
		      BATCH * ROUNDS, boxed_calls, BATCH);
	assert_int_equal(slab_calls, 0);
	assert_true(boxed_calls >= BATCH);
	assert_int_equal(sum,
			 (uint64_t)(ROUNDS + 3) * BATCH * (BATCH - 1) / 2 + (ROUNDS + 3) * BATCH);
	test_runtime_end(&rt);
}

/* --- I/O: a ping-pong over a socketpair, both ends tasks of the runtime --- */

enum { IO_WARM = 1000, IO_ROUNDS = 250000 }; /* 4 ops a round: 1M operations */

struct pinger {
	int fd;
	uint32_t rounds, i;
	struct urt_op tx, rx;
	struct urt_buf buf;
	uint64_t bytes;
	int ret;
	char msg[32];
};

/* send a message, receive the echo through the recv stream, repeat */
static bool pinger_poll(struct urt_task *t, void *arg)
{
	struct pinger *p = arg;

	URT_BEGIN(t);
	for (p->i = 0; p->i < p->rounds; p->i++) {
		URT_AWAIT(t, p->ret = urt_send(t, &p->tx, p->fd, p->msg, sizeof(p->msg), 0));
		if (p->ret != (int)sizeof(p->msg))
			URT_RETURN(t, 1);
		URT_AWAIT(t, p->ret = urt_recv_stream(t, &p->rx, p->fd, &p->buf));
		if (p->ret <= 0)
			URT_RETURN(t, 2);
		p->bytes += (uint64_t)p->ret;
		urt_buf_free(&p->buf);
	}
	urt_op_cancel(&p->rx);
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type pinger_type = { .poll = pinger_poll, .name = "pinger" };

struct ponger {
	int fd;
	bool gated;    /* waits at the gate before each receive (the bursts test) */
	bool close_fd; /* closes fd when the peer has (the churn test) */
	struct urt_op tx, rx;
	struct urt_buf buf;
	int ret;
};

static bool gate_open = true;
static struct urt_event gate; /* notified when gate_open turns true */

static bool ponger_poll(struct urt_task *t, void *arg)
{
	struct ponger *p = arg;

	URT_BEGIN(t);
	for (;;) {
		if (p->gated && !gate_open)
			URT_AWAIT(t, p->ret = urt_event_wait(t, &gate));
		URT_AWAIT(t, p->ret = urt_recv_stream(t, &p->rx, p->fd, &p->buf));
		if (p->ret <= 0)
			break;
		URT_AWAIT(t, p->ret = urt_send(t, &p->tx, p->fd, p->buf.data, p->buf.len, 0));
		urt_buf_free(&p->buf);
	}
	if (p->close_fd)
		close(p->fd);
	URT_END(t);
}

static const struct urt_task_type ponger_type = { .poll = ponger_poll, .name = "ponger" };

static void ping_pong(struct urt_runtime *rt, int fds[2], uint32_t rounds)
{
	struct pinger a = { .fd = fds[0], .rounds = rounds };
	struct urt_join j;
	uint64_t out;

	assert_int_equal(urt_spawn_slab(&pinger_type, &a, sizeof(a), &j), 0);
	while (!urt_join_is_finished(&j))
		assert_true(urt_tick(rt, 1000000000ull) >= 0);
	assert_int_equal(urt_join_take(&j, &out), 0);
	assert_int_equal(out, 0);
}

static void test_io_ops_never_malloc(void **state)
{
	struct urt_runtime rt;
	struct urt_runtime_stats st;
	int fds[2];
	uint64_t ops;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
								  .slot_size = 256 }),
		0);
	assert_int_equal(urt_spawn_slab(&ponger_type, &(struct ponger){ .fd = fds[1] },
					sizeof(struct ponger), NULL),
			 0);
	ping_pong(&rt, fds, IO_WARM); /* records, chunks and waiters grow here */
	urt_runtime_stats(&rt, &st);
	ops = st.cqes;
	heap_calls = 0;
	heap_counting = true;
	ping_pong(&rt, fds, IO_ROUNDS);
	heap_counting = false;
	urt_runtime_stats(&rt, &st);
	ops = st.cqes - ops;
	print_message("heap calls: %zu for %llu I/O completions (%u ping-pongs: 2 sends, "
		      "2 stream receives each)\n",
		      heap_calls, (unsigned long long)ops, IO_ROUNDS);
	assert_true(ops >= 4 * IO_ROUNDS);
	assert_int_equal(heap_calls, 0);
	close(fds[0]); /* the ponger sees EOF and ends */
	while (urt_runtime_current()->active)
		assert_true(urt_tick(&rt, 1000000000ull) >= 0);
	close(fds[1]);
	test_runtime_end(&rt);
}

/*
 * --- bursts: a chunk unread on every connection at once ---
 *
 * urt-echo's 1,000-connection benchmark windows counted heap calls after
 * warm-up. Traced (docs/benchmarks.md), some were the sweep's list of
 * streams holding ring chunks (bufs.pins) doubling from 64 entries the
 * first time a burst left more streams than that with a chunk unread
 * (the tasks behind the reaping, as on a loaded host). The list is made
 * whole at init now. Here the op records (a burst of no-ops in flight)
 * and each connection (one message at a time) are warmed first; then
 * each round echoes message A on every connection, after which the
 * echoers (gated pongers) wait at `gate`, so message B waits unread in
 * all 200 streams until the gate opens: no allocator call in ten rounds.
 */
enum { BURST_CONNS = 200, BURST_ROUNDS = 10, NOPS = 1024 };

static bool nop_poll(struct urt_task *t, void *arg)
{
	struct urt_op *op = arg;
	int ret;

	URT_BEGIN(t);
	URT_AWAIT(t, ret = urt_nop(t, op));
	(void)ret;
	URT_END(t);
}

static const struct urt_task_type nop_type = { .poll = nop_poll, .name = "nop" };

/* a task that waits at the gate once (the warm-up's registrations) */
static bool waiter_poll(struct urt_task *t, void *arg)
{
	int *ret = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, *ret = urt_event_wait(t, &gate));
	URT_END(t);
}

static const struct urt_task_type waiter_type = { .poll = waiter_poll, .name = "waiter" };

static void send_each(const int *cfd, int from, int to)
{
	char msg[32];

	memset(msg, 'b', sizeof(msg));
	for (int i = from; i < to; i++)
		assert_int_equal(write(cfd[i], msg, sizeof(msg)), sizeof(msg));
}

/* Tick until bytes echoes are back on each of cfd[from..to) (read without
 * blocking between ticks). */
static void echoes_wait(struct urt_runtime *rt, const int *cfd, int from, int to, size_t bytes)
{
	static size_t got[BURST_CONNS];
	char in[64];
	int left = to - from;

	memset(got, 0, sizeof(got));
	for (int spins = 0; left; spins++) {
		assert_true(spins < 100000);
		/* an echoer woken by its stream while at the gate waits again
		 * after the notify (no permit is stored): notify each tick */
		if (gate_open)
			urt_event_notify_all(&gate);
		assert_true(urt_tick(rt, 1000000) >= 0);
		for (int i = from; i < to; i++) {
			ssize_t n;

			if (got[i] == bytes)
				continue;
			n = recv(cfd[i], in, bytes - got[i], MSG_DONTWAIT);
			if (n > 0 && (got[i] += (size_t)n) == bytes)
				left--;
		}
	}
}

/* Tick until a tick of 1 ms polls no task: every echoer has finished its
 * send and waits in its receive (or at the gate). */
static void settle(struct urt_runtime *rt)
{
	int polled;

	for (int spins = 0; (polled = urt_tick(rt, 1000000)) != 0; spins++) {
		assert_true(polled > 0);
		assert_true(spins < 100000);
	}
}

/* Message A to every connection, echoed, each echoer then at the gate;
 * message B to every connection, ticks until none is left to poll (B
 * queued unread on every stream); then the gate opens and B is echoed. */
static void burst_round(struct urt_runtime *rt, const int *cfd)
{
	settle(rt); /* each echoer waits in its receive, before the gate */
	gate_open = false;
	send_each(cfd, 0, BURST_CONNS); /* A: echoed, then each waits at the gate */
	echoes_wait(rt, cfd, 0, BURST_CONNS, 32);
	send_each(cfd, 0, BURST_CONNS); /* B: queued unread */
	settle(rt);
	gate_open = true;
	urt_event_notify_all(&gate);
	echoes_wait(rt, cfd, 0, BURST_CONNS, 32);
}

static void test_bursts_never_malloc(void **state)
{
	static int cfd[BURST_CONNS], sfd[BURST_CONNS];
	static struct urt_op nops[NOPS];
	struct urt_runtime rt;
	size_t calls;

	(void)state;
	assert_int_equal(urt_runtime_init(&rt,
					  &(struct urt_runtime_opts){
						  .slab = URT_SLAB_UNBOUNDED,
						  .slot_size = 256,
						  .buf_count = 1024,
						  .poll_budget = 2 * NOPS,
					  }),
			 0);
	for (int i = 0; i < BURST_CONNS; i++) {
		int fds[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
		cfd[i] = fds[0];
		sfd[i] = fds[1];
		assert_int_equal(urt_spawn_slab(&ponger_type,
						&(struct ponger){ .fd = sfd[i], .gated = true },
						sizeof(struct ponger), NULL),
				 0);
	}
	/* warm: records for every stream, chunk and send of a round (no-ops
	 * in flight at once), then each connection alone */
	for (int i = 0; i < NOPS; i++)
		assert_int_equal(urt_spawn_slab(&nop_type, &nops[i], sizeof(nops[i]), NULL), 0);
	while (urt_runtime_current()->active > BURST_CONNS)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	for (int i = 0; i < BURST_CONNS; i++) /* the gate's registrations */
		assert_int_equal(urt_spawn_slab(&waiter_type, &(int){ 0 }, sizeof(int), NULL), 0);
	while (urt_tick(&rt, 0) > 0)
		;
	urt_event_notify_all(&gate);
	while (urt_runtime_current()->active > BURST_CONNS)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	for (int i = 0; i < BURST_CONNS; i++) {
		send_each(cfd, i, i + 1);
		echoes_wait(&rt, cfd, i, i + 1, 32);
	}
	heap_calls = 0;
	heap_counting = true;
	for (int r = 0; r < BURST_ROUNDS; r++)
		burst_round(&rt, cfd);
	heap_counting = false;
	calls = heap_calls;
	print_message("heap calls: %zu for %d rounds of a chunk unread on %d connections at once\n",
		      calls, BURST_ROUNDS, BURST_CONNS);
	assert_int_equal(calls, 0);
	for (int i = 0; i < BURST_CONNS; i++)
		close(cfd[i]); /* each echoer sees EOF and ends */
	while (urt_runtime_current()->active)
		assert_true(urt_tick(&rt, 1000000000ull) >= 0);
	for (int i = 0; i < BURST_CONNS; i++)
		close(sfd[i]);
	test_runtime_end(&rt);
}

/*
 * --- a reserve of op records: a new peak after init, no allocator call ---
 *
 * Growth past a warm-up's peak is a call in steady state: the op records
 * grow a page at a time, and the peak of operations in flight (a burst of
 * completions queued on many streams while the tasks lag) can rise late
 * in a long run. opts.op_records_reserve makes them at init. From a
 * fresh runtime (a bounded slab, made at init too), NOPS no-ops in flight
 * at once, a peak nothing before reached: no call with a reserve of NOPS,
 * and, as a control that the count sees the records' growth, calls
 * without one (a page per 64 records).
 */
static size_t nop_burst_calls(uint32_t reserve)
{
	static struct urt_op nops[NOPS];
	struct urt_runtime rt;
	struct urt_runtime_stats st;
	size_t calls;

	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
							   .slot_size = 128,
							   .slab_slots = NOPS,
							   .poll_budget = 2 * NOPS,
							   .op_records_reserve = reserve });
	heap_calls = 0;
	heap_counting = true;
	for (int i = 0; i < NOPS; i++)
		assert_int_equal(urt_spawn_slab(&nop_type, &nops[i], sizeof(nops[i]), NULL), 0);
	assert_int_equal(urt_tick(&rt, 0), NOPS); /* each submits its no-op */
	urt_runtime_stats(&rt, &st);
	while (urt_runtime_current()->active)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	heap_counting = false;
	calls = heap_calls;
	assert_int_equal(st.ops_high_water, NOPS);
	test_runtime_end(&rt);
	return calls;
}

static void test_reserve_never_malloc(void **state)
{
	size_t reserved, grown;
	struct urt_runtime rt;

	(void)state;
	reserved = nop_burst_calls(NOPS);
	grown = nop_burst_calls(0);
	print_message("heap calls: %zu for %d no-ops in flight at once with op_records_reserve %d, "
		      "%zu without\n",
		      reserved, NOPS, NOPS, grown);
	assert_int_equal(reserved, 0);
	assert_true(grown >= NOPS / 64);
	/* a reserve past the limit is refused, and nothing is held */
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .op_records = 100,
								  .op_records_reserve = 101 }),
		-EINVAL);
	assert_null(urt_runtime_current());
	/* each of init's allocations failed in turn (the reserve's three
	 * among them): -ENOMEM and nothing held, or a runtime that ends clean */
	for (size_t k = 1;; k++) {
		struct test_alloc ta;
		int ret;

		test_alloc_init(&ta);
		ta.fail_at = k;
		ret = urt_runtime_init(&rt, &(struct urt_runtime_opts){ .op_records_reserve = NOPS,
									.allocator = &ta.al });
		if (!ret) {
			urt_runtime_deinit(&rt);
			assert_int_equal(ta.live_blocks, 0);
			print_message("init with op_records_reserve: each of its first %zu "
				      "allocations failed in turn, nothing held\n",
				      k - 1);
			break;
		}
		assert_int_equal(ret, -ENOMEM);
		assert_null(urt_runtime_current());
		assert_int_equal(ta.live_blocks, 0);
	}
}

/*
 * --- churn: rounds of new connections through an acceptor ---
 *
 * Traced, no heap call in the benchmarks' windows was made per
 * connection (docs/benchmarks.md): the slab slot, the op records and the
 * registry entry of a connection that ends are reused by the next. A
 * burst of no-ops and two rounds of 200 connections (accepted, echoed
 * once, closed by the client, their tasks ended) warm the runtime; five
 * more make no allocator call.
 */
enum { CHURN_WARM = 2, CHURN_ROUNDS = 5 };

struct acceptor {
	int lfd;
	struct urt_op op;
	int fd;
};

static bool acceptor_poll(struct urt_task *t, void *arg)
{
	struct acceptor *a = arg;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, a->fd = urt_accept_stream(t, &a->op, a->lfd));
		if (a->fd < 0)
			break;
		if (urt_spawn_slab(&ponger_type, &(struct ponger){ .fd = a->fd, .close_fd = true },
				   sizeof(struct ponger), NULL))
			close(a->fd);
	}
	URT_END(t);
}

static const struct urt_task_type acceptor_type = { .poll = acceptor_poll, .name = "acceptor" };

/* BURST_CONNS clients connect, send a message, read its echo and close;
 * ticks until their connections' tasks have ended. */
static void churn_round(struct urt_runtime *rt, uint16_t port)
{
	static int cfd[BURST_CONNS];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < BURST_CONNS; i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(cfd[i] >= 0);
		assert_int_equal(connect(cfd[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	send_each(cfd, 0, BURST_CONNS);
	echoes_wait(rt, cfd, 0, BURST_CONNS, 32);
	for (int i = 0; i < BURST_CONNS; i++)
		close(cfd[i]);
	for (int spins = 0; urt_runtime_current()->active > 1; spins++) {
		assert_true(spins < 100000);
		assert_true(urt_tick(rt, 1000000) >= 0);
	}
}

/* --- task memory: a peak of tasks holding two 4 KiB blocks each --------- */

enum { HOLDERS = 200, HOLD_SIZE = 4000 };

/* First poll: two blocks and a scope held, a wake to the run queue's tail
 * (every holder's first poll comes before any second one); second: done. */
static bool hold_poll(struct urt_task *t, void *arg)
{
	bool *held = arg;

	if (*held)
		return true;
	assert_non_null(urt_task_alloc(t, HOLD_SIZE));
	assert_non_null(urt_task_alloc(t, HOLD_SIZE));
	*held = true;
	urt_task_wake(t);
	return false;
}

static const struct urt_task_type hold_type = { .poll = hold_poll, .name = "hold" };

/* Heap calls for HOLDERS tasks holding their blocks at once, on a fresh
 * runtime that reserved (or not) their scopes and blocks. */
static size_t hold_peak_calls(bool reserve)
{
	struct urt_runtime rt;
	size_t calls;
	bool held = false;

	test_runtime_init(&rt, &(struct urt_runtime_opts){
				       .slab = URT_SLAB_BOUNDED,
				       .slab_slots = HOLDERS,
				       .poll_budget = 4 * HOLDERS,
				       .task_scopes_reserve = reserve ? HOLDERS : 0,
				       .task_blocks_reserve = reserve ? 2 * HOLDERS : 0,
				       .task_block_size = reserve ? HOLD_SIZE : 0,
			       });
	heap_calls = 0;
	heap_counting = true;
	for (int i = 0; i < HOLDERS; i++)
		assert_int_equal(urt_spawn_slab(&hold_type, &held, sizeof(held), NULL), 0);
	for (int i = 0; i < 10; i++) /* one tick polls both turns (the budget) */
		assert_true(urt_tick(&rt, 0) >= 0);
	heap_counting = false;
	calls = heap_calls;
	test_runtime_end(&rt);
	return calls;
}

static void test_task_memory_reserve_never_malloc(void **state)
{
	size_t reserved, grown;
	struct urt_runtime rt;

	(void)state;
	reserved = hold_peak_calls(true);
	grown = hold_peak_calls(false);
	print_message("heap calls: %zu for %d tasks holding two %d B blocks at once with their "
		      "task memory reserved, %zu without\n",
		      reserved, HOLDERS, HOLD_SIZE, grown);
	assert_int_equal(reserved, 0);
	assert_true(grown >= 2 * HOLDERS / 8); /* a page holds 8 blocks */
	/* a block past the largest class, or blocks of no size, are refused */
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .task_blocks_reserve = 1,
								  .task_block_size =
									  URT_TASK_BLOCK_MAX + 1 }),
		-EINVAL);
	assert_int_equal(
		urt_runtime_init(&rt, &(struct urt_runtime_opts){ .task_blocks_reserve = 1 }),
		-EINVAL);
	assert_null(urt_runtime_current());
}

/* A buffer grown as urt-http grows an answer's output (4 KiB, doubled to
 * 64 KiB, each step a new block and the old one freed), then freed. */
static const size_t grow_sizes[] = { 4000, 8000, 16000, 32000, 64000, 65536 };
static size_t grow_size; /* 0: grow_sizes; else one block of this size */

static bool grow_poll(struct urt_task *t, void *arg)
{
	char *buf = NULL;

	(void)arg;
	if (grow_size) {
		assert_non_null(buf = urt_task_alloc(t, grow_size));
		buf[grow_size - 1] = 1;
		urt_task_free(t, buf);
		return true;
	}
	for (size_t i = 0; i < sizeof(grow_sizes) / sizeof(grow_sizes[0]); i++) {
		char *p = urt_task_alloc(t, grow_sizes[i]);

		assert_non_null(p);
		if (buf) {
			memcpy(p, buf, grow_sizes[i - 1]);
			urt_task_free(t, buf);
		}
		buf = p;
		buf[grow_sizes[i] - 1] = (char)i;
	}
	urt_task_free(t, buf);
	return true;
}

static const struct urt_task_type grow_type = { .poll = grow_poll, .name = "grow" };

/* Heap calls for rounds tasks each growing and freeing its buffer, after a
 * first such task (not counted). */
static size_t grow_calls(struct urt_runtime *rt, size_t size, int rounds)
{
	grow_size = size;
	assert_int_equal(urt_spawn_slab(&grow_type, NULL, 0, NULL), 0);
	assert_int_equal(urt_tick(rt, 0), 1);
	heap_calls = 0;
	heap_counting = true;
	for (int r = 0; r < rounds; r++) {
		assert_int_equal(urt_spawn_slab(&grow_type, NULL, 0, NULL), 0);
		assert_int_equal(urt_tick(rt, 0), 1);
	}
	heap_counting = false;
	return heap_calls;
}

static void test_task_memory_grown_never_malloc(void **state)
{
	struct urt_runtime rt;
	struct urt_runtime_stats st;
	size_t grown, large;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){
				       .slab = URT_SLAB_BOUNDED,
				       .slab_slots = 16,
			       });
	grown = grow_calls(&rt, 0, 100);
	urt_runtime_stats(&rt, &st); /* the stats show what the classes keep */
	assert_true(st.task_mem_kept >= URT_SIZECLASS_MAX);
	assert_true(st.task_mem_held >= st.task_mem_kept);
	large = grow_calls(&rt, URT_SIZECLASS_MAX + 1, 10);
	print_message("heap calls: %zu for 100 tasks growing a buffer 4 KiB .. 64 KiB, %zu for 10 "
		      "blocks above 64 KiB\n",
		      grown, large);
	assert_int_equal(grown, 0);  /* the freed blocks stay in their classes */
	assert_int_equal(large, 10); /* the allocator's: a malloc each (frees are not counted) */
	test_runtime_end(&rt);
}

static void test_churn_never_malloc(void **state)
{
	struct urt_runtime rt;
	struct acceptor a = { .fd = -1 };
	uint16_t port;
	size_t calls;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
							   .slot_size = 256,
							   .poll_budget = 2 * NOPS });
	a.lfd = urt_listen_tcp(NULL, 0, 4 * BURST_CONNS, 0, &port);
	assert_true(a.lfd >= 0);
	assert_int_equal(urt_spawn_slab(&acceptor_type, &a, sizeof(a), NULL), 0);
	/* the records' and slots' peak past any round's, whatever its timing */
	for (int i = 0; i < NOPS; i++)
		assert_int_equal(urt_spawn_slab(&nop_type, &(struct urt_op){ 0 },
						sizeof(struct urt_op), NULL),
				 0);
	while (urt_runtime_current()->active > 1)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	for (int r = 0; r < CHURN_WARM; r++)
		churn_round(&rt, port);
	heap_calls = 0;
	heap_counting = true;
	for (int r = 0; r < CHURN_ROUNDS; r++)
		churn_round(&rt, port);
	heap_counting = false;
	calls = heap_calls;
	print_message("heap calls: %zu for %d rounds of %d new connections\n", calls, CHURN_ROUNDS,
		      BURST_CONNS);
	assert_int_equal(calls, 0);
	shutdown(a.lfd, SHUT_RDWR); /* the accept stream ends, and the acceptor */
	while (urt_runtime_current()->active)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	close(a.lfd);
	test_runtime_end(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slab_spawns_never_malloc),
		cmocka_unit_test(test_io_ops_never_malloc),
		cmocka_unit_test(test_bursts_never_malloc),
		cmocka_unit_test(test_churn_never_malloc),
		cmocka_unit_test(test_reserve_never_malloc),
		cmocka_unit_test(test_task_memory_reserve_never_malloc),
		cmocka_unit_test(test_task_memory_grown_never_malloc),
	};

	return cmocka_run_group_tests_name("nomalloc", tests, NULL, NULL);
}
