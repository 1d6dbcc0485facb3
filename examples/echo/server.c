/* SPDX-License-Identifier: MIT */
/*
 * echo/server.c - urt-echo's server for one runtime (echo/server.h): the
 * connection task, the send records' pool, the --idle-ms and
 * --max-clients-mem sweeper, the acceptor. urt-echo.c describes what it
 * does and why.
 *
 * Memory an idle connection costs (issue 20: <= 200 bytes of RSS): its
 * 112-byte slot (64 header + 48 state), the 64-byte op record of its armed
 * receive, 8 bytes in the task registry and 8 in s->listed: 192 bytes. The
 * state keeps only what every connection needs while it waits: the
 * receive stream's handle, its descriptor, its place in s->listed and the
 * time of its last chunk. An echo under way also needs the send's handle
 * (48 bytes: urt_io_all), the chunk it sends back (16) and the send's
 * place in s->sends (24): those live in a send record from the server's
 * pool (88 bytes, in chunks of 64 that never move, so a send in flight
 * keeps its handle), taken when a chunk comes
 * and given back once it is out; the records in use are at most the
 * connections echoing at once, and the free ones are reused last-in first
 * out, so their pages stay few and warm.
 *
 * Below --max-conns connections (RESERVE_CONNS at most) the server asks
 * its allocator for nothing after init: the send records (one block),
 * s->listed and the runtime's op records (2 a connection, its receive and
 * its send: opts.op_records_reserve) are made for them at init. Grown on
 * demand, a peak of echoes under way or of operations in flight reached
 * late in a long run was a heap call in steady state (docs/design.md).
 * Each is first written when first used, so what is made for connections
 * that never come costs address space, not resident memory.
 *
 * The receive stays armed during
 * the send (what arrives meanwhile waits on the stream), so the two
 * handles cannot share one record.
 *
 * The sweeper (idle.h's clock and tick) scans s->listed: a connection
 * whose last chunk is --idle-ms old has its operations cancelled and
 * leaves s->listed, and so does one the memory budget closes; its task,
 * woken by the cancel, ends when it sees it has left. A scan costs
 * O(connections) where idle.h's list costs O(expired), and saves the
 * list's 24 bytes a connection (two pointers and a time); it is skipped
 * while no connection can be due (sweep_idle), so it runs about once per
 * --idle-ms unless a connection's time stays near its deadline
 * (docs/design.md, "The echo grid's peers").
 *
 * --send-ms is idle.h's list s->sends: an echo joins its tail when its
 * send begins and leaves when the send is done, so the list is in deadline
 * order and each tick looks at its head only; one that is still there
 * after --send-ms has its send cancelled, and its task ends. No timer and
 * no kernel operation per echo: a timeout linked to every send cost two
 * more kernel operations an echo and 1.1-1.3x the server's CPU per
 * request (docs/benchmarks.md). The deadline covers the echo of one chunk
 * (at most ECHO_RX_BUF bytes) whole, within one tick late.
 */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../reserve.h"

/*
 * A connection's state: 48 bytes, a 112-byte slot (issue 20: an idle
 * connection's memory). What only an echo under way needs (the send's
 * handle and the chunk it sends back) is a send record from the server's
 * pool (struct echo_tx), taken when a chunk comes and given back when its
 * echo is out: an idle connection holds none. The sweeper finds the
 * connections through s->listed (pos), not through a list in the state.
 */
struct conn {
	struct urt_op rx; /* the receive stream, armed for the connection's life */
	int fd;
	uint32_t pos; /* its index in s->listed; CONN_OUT: in none (before its
		       * first poll, or the sweeper closed it: the task ends) */
	uint32_t at;  /* the sweeper's clock at its last chunk (idle.h) */
	uint32_t tx;  /* its send record (index + 1) while it echoes; 0: none */
};

#define CONN_OUT UINT32_MAX

/* One echo under way: taken from the pool when a chunk comes, given back
 * when it is out. Free records chain through next. */
struct echo_tx {
	union {
		struct {
			struct urt_io_all io;  /* the send */
			struct urt_buf buf;    /* the chunk it sends back */
			struct idle_link wait; /* in s->sends while it sends: --send-ms */
		};
		uint32_t next; /* free: the next free record (index + 1); 0: none */
	};
};

#define TX_CHUNK 64 /* records a chunk of the pool: 5.5 KiB */
/* The arrays made at init cover RESERVE_CONNS connections at most
 * (reserve.h; --max-conns above it grows past them): 2 op records each,
 * 262,144 in all (16 MiB of address space), a send record each (11 MiB)
 * and an entry in s->listed (1 MiB). */

/* A task's header is 64 bytes; slots are multiples of 16. */
#define CONN_SLOT (64 + (sizeof(struct conn) + 15) / 16 * 16)
/* the idle-connection budget (issue 20): keep a field from growing it unseen */
_Static_assert(CONN_SLOT <= 112, "urt-echo's connection slot grew past 112 bytes");
_Static_assert(sizeof(struct echo_tx) == 88, "a send record is 88 bytes");

static struct echo_server *server_of(struct urt_task *t)
{
	return (struct echo_server *)((char *)urt_task_runtime(t) -
				      offsetof(struct echo_server, rt));
}

/*
 * What the runtime and the server hold for their open connections: a slab
 * slot each (or a box), the op records in use, each connection's entry in
 * s->listed and the send records in use. The provided buffers are shared
 * and not counted per connection.
 */
size_t echo_conn_bytes(const struct echo_server *s, const struct urt_runtime_stats *st)
{
	size_t slots = s->o.boxed ? 0 : st->slab_live * CONN_SLOT;
	size_t boxes = s->o.boxed ? (size_t)s->live_conns * CONN_SLOT : 0;

	return slots + boxes + st->ops_live * 64 + s->nlisted * sizeof(struct conn *) +
	       s->tx_live * sizeof(struct echo_tx);
}

void echo_server_print(struct echo_server *s, const char *what)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(&s->rt, &st);
	printf("%s: runtime %d connections %llu live %llu requests %llu bytes %llu heap_calls %zu "
	       "heap_bytes %zu conn_bytes %zu slab %zu/%zu op_high_water %zu ops_live %zu "
	       "bufs_free %zu/%zu "
	       "pauses %llu bufs_free_low %zu/%zu spill_high_water %zu spilled %llu closed_idle "
	       "%llu "
	       "closed_mem %llu closed_send %llu clients_mem %zu sends_live %u\n",
	       what, s->id, (unsigned long long)s->conns, (unsigned long long)s->live_conns,
	       (unsigned long long)s->requests, (unsigned long long)s->bytes,
	       atomic_load(&s->heap.calls), atomic_load(&s->heap.bytes), echo_conn_bytes(s, &st),
	       st.slab_live, st.slab_capacity, st.ops_high_water, st.ops_live, st.bufs_free,
	       st.buf_count, (unsigned long long)st.stream_pauses, st.bufs_free_low, st.buf_count,
	       st.spill_high_water, (unsigned long long)st.recv_spilled,
	       (unsigned long long)s->closed_idle, (unsigned long long)s->closed_mem,
	       (unsigned long long)s->closed_send, s->mem_seen, s->tx_live);
	fflush(stdout);
}

/* --- the server's arrays: s->listed and the send records ---------------------------- */

static void heap_free(struct echo_server *s, void *p, size_t size, size_t align)
{
	s->heap.al.free(s->heap.al.ctx, p, size, align);
}

/* A copy of p (cap elements of size bytes) with room for twice as many (or
 * first), from the counted allocator; p is freed. Return: the copy (*cap
 * updated); NULL out of memory (p and *cap unchanged). */
static void *grow(struct echo_server *s, void *p, uint32_t *cap, size_t size, uint32_t first)
{
	uint32_t n = *cap ? *cap * 2 : first;
	void *q = s->heap.al.alloc(s->heap.al.ctx, (size_t)n * size, sizeof(void *));

	if (!q)
		return NULL;
	if (*cap) {
		memcpy(q, p, (size_t)*cap * size);
		heap_free(s, p, (size_t)*cap * size, sizeof(void *));
	}
	*cap = n;
	return q;
}

/* Both arrays and every chunk of send records back to the allocator. */
static void arrays_free(struct echo_server *s)
{
	if (s->tx_reserved)
		heap_free(s, s->tx_chunk[0],
			  (size_t)s->tx_reserved * TX_CHUNK * sizeof(struct echo_tx), 64);
	for (uint32_t i = s->tx_reserved; i < s->tx_nchunks; i++)
		heap_free(s, s->tx_chunk[i], TX_CHUNK * sizeof(struct echo_tx), 64);
	if (s->tx_chunks_cap)
		heap_free(s, s->tx_chunk, s->tx_chunks_cap * sizeof(*s->tx_chunk), sizeof(void *));
	if (s->listed_cap)
		heap_free(s, s->listed, s->listed_cap * sizeof(*s->listed), sizeof(void *));
	s->tx_chunk = NULL;
	s->listed = NULL;
	s->tx_nchunks = s->tx_chunks_cap = s->tx_reserved = s->tx_made = 0;
	s->listed_cap = s->tx_free = 0;
}

/* c into s->listed, its idle clock started. Return: 0; -ENOMEM. */
static int conn_enlist(struct echo_server *s, struct conn *c)
{
	if (s->nlisted == s->listed_cap) {
		struct conn **q = grow(s, s->listed, &s->listed_cap, sizeof(*q), 256);

		if (!q)
			return -ENOMEM;
		s->listed = q;
	}
	c->pos = s->nlisted;
	c->at = s->sweep.now;
	s->listed[s->nlisted++] = c;
	return 0;
}

/* c out of s->listed: the last one takes its place. */
static void conn_delist(struct echo_server *s, struct conn *c)
{
	struct conn *last = s->listed[--s->nlisted];

	s->listed[c->pos] = last;
	last->pos = c->pos;
	c->pos = CONN_OUT;
}

static struct echo_tx *tx_at(const struct echo_server *s, uint32_t i)
{
	return &s->tx_chunk[(i - 1) / TX_CHUNK][(i - 1) % TX_CHUNK];
}

/*
 * The arrays for conns connections, made at init: s->listed's room and the
 * send records of conns rounded up to whole chunks, as one block, none
 * carved yet. Return: 0; -ENOMEM (arrays_free undoes what was made).
 */
static int arrays_reserve(struct echo_server *s, uint32_t conns)
{
	uint32_t n = (conns + TX_CHUNK - 1) / TX_CHUNK, cap = 16;

	s->listed = s->heap.al.alloc(s->heap.al.ctx, (size_t)conns * sizeof(*s->listed),
				     sizeof(void *));
	if (!s->listed)
		return -ENOMEM;
	s->listed_cap = conns;
	while (cap < n)
		cap *= 2;
	s->tx_chunk = s->heap.al.alloc(s->heap.al.ctx, cap * sizeof(*s->tx_chunk), sizeof(void *));
	if (!s->tx_chunk)
		return -ENOMEM;
	s->tx_chunks_cap = cap;
	s->tx_chunk[0] =
		s->heap.al.alloc(s->heap.al.ctx, (size_t)n * TX_CHUNK * sizeof(struct echo_tx), 64);
	if (!s->tx_chunk[0])
		return -ENOMEM;
	for (uint32_t i = 1; i < n; i++)
		s->tx_chunk[i] = s->tx_chunk[0] + (size_t)i * TX_CHUNK;
	s->tx_nchunks = s->tx_reserved = n;
	return 0;
}

/* One more chunk of send records, past the reserve. Return: 0; -ENOMEM. */
static int tx_grow(struct echo_server *s)
{
	struct echo_tx *k;

	if (s->tx_nchunks == s->tx_chunks_cap) {
		struct echo_tx **q = grow(s, s->tx_chunk, &s->tx_chunks_cap, sizeof(*q), 16);

		if (!q)
			return -ENOMEM;
		s->tx_chunk = q;
	}
	k = s->heap.al.alloc(s->heap.al.ctx, TX_CHUNK * sizeof(*k), 64);
	if (!k)
		return -ENOMEM;
	s->tx_chunk[s->tx_nchunks++] = k;
	return 0;
}

/* A zeroed send record: the last one given back, else the next never
 * used. Return: its index + 1; 0 out of memory. */
static uint32_t tx_get(struct echo_server *s)
{
	uint32_t i = s->tx_free;
	struct echo_tx *tx;

	if (i) {
		tx = tx_at(s, i);
		s->tx_free = tx->next;
	} else {
		if (s->tx_made == s->tx_nchunks * TX_CHUNK && tx_grow(s))
			return 0;
		i = ++s->tx_made;
		tx = tx_at(s, i);
	}
	memset(tx, 0, sizeof(*tx));
	s->tx_live++;
	return i;
}

static void tx_put(struct echo_server *s, uint32_t i)
{
	tx_at(s, i)->next = s->tx_free;
	s->tx_free = i;
	s->tx_live--;
}

/* --- a connection ---------------------------------------------------------- */

/* Send c's chunk back (an awaitable: the record holds still meanwhile). */
static int conn_echo(struct urt_task *t, struct echo_server *s, struct conn *c)
{
	struct echo_tx *tx = tx_at(s, c->tx);

	return urt_send_all(t, &tx->io, c->fd, tx->buf.data, tx->buf.len);
}

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;
	struct echo_server *s = server_of(t);
	struct echo_tx *tx;
	struct urt_buf buf; /* filled by the await that returns a chunk */
	int n;		    /* read where it is assigned, before any wait */

	URT_BEGIN(t);
	if (conn_enlist(s, c))
		URT_RETURN(t, 0);
	for (;;) {
		URT_AWAIT(t, n = urt_recv_stream(t, &c->rx, c->fd, &buf));
		if (n <= 0)
			break;
		/* closed by the sweeper (idle, or the budget), or no record */
		if (c->pos == CONN_OUT || !(c->tx = tx_get(s))) {
			urt_buf_free(&buf);
			break;
		}
		c->at = s->sweep.now;
		s->requests++;
		s->bytes += (uint64_t)n;
		tx = tx_at(s, c->tx);
		tx->buf = buf;
		/* the peer may not read: bound the wait (the sweeper, at
		 * --send-ms), and keep the chunk out of the shared ring
		 * meanwhile if the ring is short */
		(void)urt_buf_hold(&tx->buf);
		idle_put(NULL, &s->sends, &tx->wait, s->sweep.now);
		URT_AWAIT(t, n = conn_echo(t, s, c));
		tx = tx_at(s, c->tx);
		idle_unlink(&s->sends, &tx->wait); /* if the sweeper has not */
		urt_buf_free(&tx->buf);
		tx_put(s, c->tx);
		c->tx = 0;
		if (n < 0 || c->pos == CONN_OUT)
			break;
	}
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	struct conn *c = arg;
	struct echo_server *s = server_of(t);

	if (c->tx) { /* aborted while it echoed */
		struct echo_tx *tx = tx_at(s, c->tx);

		idle_unlink(&s->sends, &tx->wait);
		if (tx->buf.live)
			urt_buf_free(&tx->buf);
		tx_put(s, c->tx);
	}
	if (c->pos != CONN_OUT)
		conn_delist(s, c);
	urt_close_detached(c->fd);
	s->live_conns--;
}

/* End what c's task waits on. Return: true if something was. */
static bool conn_cancel(struct echo_server *s, struct conn *c)
{
	bool rx = urt_op_cancel(&c->rx) == 0;

	return (c->tx && urt_op_cancel(&tx_at(s, c->tx)->io.op) == 0) || rx;
}

/* The sweeper found c silent past --idle-ms: its task wakes and ends. If
 * nothing could be cancelled it stays, to be tried at the next sweep. */
static void conn_expire(struct echo_server *s, struct conn *c)
{
	if (!conn_cancel(s, c))
		return;
	s->closed_idle++;
	conn_delist(s, c);
}

/* The sweeper found an echo not out after --send-ms (idle.h's expire; ctx:
 * s->sends): its send is cancelled, and its task ends. Return: true (out
 * of the list) if it was; false to try again at the next tick. */
static bool send_expire(struct idle_link *k, void *ctx)
{
	struct echo_server *s =
		(struct echo_server *)((char *)ctx - offsetof(struct echo_server, sends));
	struct echo_tx *tx = (struct echo_tx *)((char *)k - offsetof(struct echo_tx, wait));

	if (urt_op_cancel(&tx->io.op))
		return false;
	s->closed_send++;
	return true;
}

/* --- --max-clients-mem ------------------------------------------------------- */

/* What c holds now: its stream's unread chunks and a chunk kept across a send. */
static size_t conn_held(const struct echo_server *s, const struct conn *c)
{
	return urt_recv_stream_held(&c->rx) +
	       (c->tx && tx_at(s, c->tx)->buf.live ? ECHO_RX_BUF : 0);
}

/* Close c for the budget: out of the scan (its task ends at its next wake;
 * if none was cancelled it is about to run, and sees it has left). */
static void conn_doom(struct echo_server *s, struct conn *c)
{
	s->closed_mem++;
	conn_delist(s, c);
	(void)conn_cancel(s, c);
}

/*
 * Past the budget by the exact count: close the largest holders until what
 * is left fits, as redis's maxmemory-clients does. Each pass finds the
 * largest holding and closes the connections that hold that much: held
 * bytes come in whole buffers, so there are few distinct sizes and few
 * passes, each O(connections). Runs only when the estimate is over. The
 * scans go from the end of s->listed: a closed connection's place is taken
 * by the last one, which has been seen.
 */
static void shed(struct echo_server *s)
{
	size_t total = 0, most;

	for (uint32_t i = 0; i < s->nlisted; i++)
		total += conn_held(s, s->listed[i]);
	s->mem_seen = total;
	while (total > s->o.mem_budget) {
		most = 0;
		for (uint32_t i = 0; i < s->nlisted; i++) {
			size_t n = conn_held(s, s->listed[i]);

			most = n > most ? n : most;
		}
		if (!most)
			return;
		for (uint32_t i = s->nlisted; i-- > 0 && total > s->o.mem_budget;) {
			struct conn *c = s->listed[i];

			if (conn_held(s, c) >= most) {
				total -= most;
				conn_doom(s, c);
			}
		}
	}
	s->mem_seen = total;
}

/*
 * The connections past --idle-ms, by a scan from the end of s->listed (as
 * in shed). s->idle_min is at most every listed connection's time (a time
 * only moves forward, a new one starts at now), so while it is younger
 * than --idle-ms no connection can be due and the scan is skipped; each
 * scan sets it to the oldest time it leaves listed.
 */
static void sweep_idle(struct echo_server *s)
{
	uint32_t now = s->sweep.now, oldest = now;

	if (!s->o.idle_ms || now - s->idle_min < s->o.idle_ms)
		return;
	for (uint32_t i = s->nlisted; i-- > 0;) {
		struct conn *c = s->listed[i];

		if (now - c->at >= s->o.idle_ms)
			conn_expire(s, c);
		if (c->pos != CONN_OUT && now - c->at > now - oldest)
			oldest = c->at;
	}
	s->idle_min = oldest;
}

/*
 * Each sweeper tick: the connections past --idle-ms; then the runtime's cheap estimate of what
 * connections hold (spill memory, and ring buffers out of the ring: queued
 * on streams or kept by a task across its send), and the exact scan only
 * when that passes the budget. So the hot path counts nothing, and a
 * connection blocked in a send, whose stream fills without its task
 * running, is still counted.
 */
static void sweep_tick(void *arg)
{
	struct echo_server *s = arg;
	struct urt_runtime_stats st;

	sweep_idle(s);
	urt_runtime_stats(&s->rt, &st);
	s->mem_seen = st.spill_bytes + (st.buf_count - st.bufs_free) * (size_t)ECHO_RX_BUF;
	if (s->mem_seen > s->o.mem_budget)
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
	struct echo_server *s = arg;
	struct conn c = { .fd = fd, .pos = CONN_OUT };
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

/* --- one runtime's server ------------------------------------------------------- */

int echo_server_init(struct echo_server *s, const struct echo_opts *o, int id, struct urt_sim *sim)
{
	uint32_t reserve = o->max_conns < RESERVE_CONNS ? o->max_conns : RESERVE_CONNS;
	int ret;

	*s = (struct echo_server){ .o = *o, .lfd = -1, .id = id };
	counting_init(&s->heap);
	ret = urt_runtime_init(&s->rt, &(struct urt_runtime_opts){
					       .slab = o->boxed ? URT_SLAB_NONE : URT_SLAB_BOUNDED,
					       /* a header and a connection: nothing wasted */
					       .slot_size = CONN_SLOT,
					       .slab_slots = o->max_conns,
					       /* a receive and a send a connection: see the top */
					       .op_records_reserve = 2 * reserve,
					       .buf_count = o->bufs,
					       .buf_size = ECHO_RX_BUF,
					       .features_off = o->features_off,
					       .send_zc_min = o->send_zc_min,
					       .fixed_fds = o->fixed_fds,
					       .allocator = &s->heap.al,
					       .sim = sim,
				       });
	if (ret)
		return ret;
	ret = arrays_reserve(s, reserve);
	if (ret) {
		arrays_free(s);
		urt_runtime_deinit(&s->rt);
		return ret;
	}
	/* --idle-ms: sweep_tick scans s->listed; --send-ms: the list s->sends */
	idle_sweep_init(&s->sweep, &s->stop, send_expire);
	idle_list_init(&s->sends, o->send_ms);
	idle_sweep_add(&s->sweep, &s->sends);
	idle_sweep_on_tick(&s->sweep, sweep_tick, s);
	return 0;
}

int echo_server_start(struct echo_server *s, int lfd)
{
	int ret;

	s->lfd = lfd;
	ret = idle_sweeper_start(&s->rt, &s->sweep);
	if (!ret)
		ret = urt_acceptor_start(
			&s->rt,
			&(struct urt_acceptor_opts){
				.lfd = lfd, .on_conn = on_conn, .arg = s, .boxed = s->o.boxed },
			NULL);
	return ret;
}

void echo_server_stop(struct echo_server *s)
{
	s->stop = true;
}

size_t echo_server_finish(struct echo_server *s)
{
	size_t left;

	if (s->lfd >= 0)
		urt_close_detached(s->lfd); /* deinit waits for it */
	s->lfd = -1;
	left = urt_runtime_deinit(&s->rt); /* aborts the connections: their drops close them */
	/* after the drops, which gave their records back */
	arrays_free(s);
	return left;
}
