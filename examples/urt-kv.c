/* SPDX-License-Identifier: MIT */
/*
 * urt-kv - a Redis-protocol (RESP2) key-value store on urt's public API.
 *
 *   urt-kv [--port P] [--addr A] [--threads N] [--spawn slab|boxed]
 *          [--maxmemory BYTES] [--max-bulk BYTES] [--max-args N]
 *          [--max-request BYTES] [--max-pipeline N] [--max-conns N]
 *          [--idle-ms MS] [--send-ms MS] [--max-clients-mem BYTES]
 *          [--hash-seed N]
 *
 * --threads N runtimes, one per thread (a worker), each with its own
 * SO_REUSEPORT listener on the same port and running the connections it
 * accepts. All of them serve one keyspace (examples/kv/store.c) under one
 * lock, kv.lock. A connection takes it once per batch: at the first
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
 * the table and the last reference frees it. Value bytes are never
 * changed in place, so what is sent is the value as the command saw it.
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
#include <unistd.h>

#include <urt/urt.h>

#include "counting.h"
#include "flags.h"
#include "idle.h"
#include "kv/commands.h"
#include "kv/resp.h"
#include "kv/store.h"


struct opts {
	struct server_flags srv; /* --port --addr --threads --spawn --max-conns */
	uint64_t maxmemory, max_bulk, max_request, max_clients_mem;
	uint64_t idle_ms, send_ms, hash_seed;
	uint32_t max_args, max_pipeline;
	bool seeded; /* --hash-seed given */
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
	int id, lfd;
	struct urt_signal_sub *sig; /* its subscription to the main thread's hub */
	int start_ret, run_ret;
	struct urt_runtime_stats st; /* the last figures it filed */
	uint64_t st_live;
	size_t st_heap;
	/* deadlines and the memory budget (its thread's only): */
	struct idle_sweep sweep;	   /* the coarse clock and the sweeper's lists */
	struct idle_list rx, tx, doom;	   /* receiving (--idle-ms), sending (--send-ms), doomed */
	size_t mem, mem_doomed, mem_budget; /* bytes its connections hold; of them, doomed ones' */
	size_t mem_rx;			   /* of mem, unread stream bytes (as last counted) */
	uint64_t closed_idle, closed_send, closed_mem; /* connections each closed */
	uint64_t st_closed[3]; /* the last figures it filed of those, and of mem: */
	size_t st_mem;
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
	struct urt_signal_hub hub; /* SIGINT, SIGTERM, SIGUSR1: to every worker */
	struct worker w[SERVER_MAX_THREADS];
} kv = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* This thread's worker: set before its runtime starts; NULL on the main thread. */
static __thread struct worker *me;

static int64_t now_ms(void)
{
	return (int64_t)(urt_now_ns() / 1000000u);
}

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

/* --- a connection ------------------------------------------------------------- */

enum { IN_NONE, IN_RX, IN_TX, IN_DOOM }; /* the deadline list a connection is in */
#define RX_BUF 4096 /* the runtime's provided buffers' size (set at init) */

struct conn {
	int fd, n, ret;
	struct kv_client cl; /* what its commands see: the output buffer, closing */
	struct urt_op rx;
	struct urt_io_all tx;
	struct urt_buf b;
	struct idle_link link; /* in me->rx, me->tx or me->doom: its deadline */
	char *in;	       /* task memory */
	size_t in_off, in_len, in_cap; /* in[in_off..in_len): not yet parsed */
	size_t held;		       /* bytes it holds, as last counted in me->mem */
	size_t held_rx;		       /* of held, its stream's unread bytes */
	size_t stamped;		       /* unparsed bytes when its idle time was last reset */
	size_t seg_off;		       /* sending: bytes of piece seg sent */
	uint32_t seg;		       /* sending: out's bytes and the refs' values, in turn */
	uint8_t where;		       /* IN_*: which list link is in */
	bool more;		       /* run_requests stopped at a bound: more may be complete */
	uint32_t turn;		       /* input bytes taken since this task last let others run */
	bool doomed;		       /* a deadline or the memory budget closes it */
	struct resp_resume
		resume; /* how far the incomplete request at in + in_off is parsed */
};

static struct conn *conn_of(struct idle_link *k)
{
	return (struct conn *)((char *)k - offsetof(struct conn, link));
}

static struct idle_list *list_of(int where)
{
	return where == IN_RX ? &me->rx : where == IN_TX ? &me->tx : &me->doom;
}

/* c moved: to the tail of the list `where` (a doomed one stays in me->doom). */
static void conn_move(struct conn *c, int where)
{
	if (c->doomed)
		where = IN_DOOM;
	idle_put(c->where ? list_of(c->where) : NULL, list_of(where), &c->link, me->sweep.now);
	c->where = (uint8_t)where;
}

/* Have c's task wake and close: cancel what it waits on. Return: whether a
 * wait was cancelled (else it is running or about to: it sees doomed). */
static bool conn_cancel(struct conn *c)
{
	bool rx = urt_op_cancel(&c->rx) == 0;

	return urt_op_cancel(&c->tx.op) == 0 || rx;
}

/* Mark c to be closed (why: the counter to bump) and wake it. Return: as
 * conn_cancel. */
static bool conn_doom(struct conn *c, uint64_t *why)
{
	if (!c->doomed) {
		c->doomed = true;
		me->mem_doomed += c->held;
		(*why)++;
	}
	return conn_cancel(c);
}

/* The sweeper found c past its list's deadline (ctx: the list). Return:
 * true to unlink it (its wait is cancelled), false to try again next tick. */
static bool conn_expire(struct idle_link *k, void *ctx)
{
	struct conn *c = conn_of(k);
	struct idle_list *l = ctx;
	uint64_t *why = l == &me->rx ? &me->closed_idle : l == &me->tx ? &me->closed_send
									 : &me->closed_mem;

	if (!conn_doom(c, why))
		return false;
	c->where = IN_NONE;
	return true;
}

/* Count c's buffers again: input, output, references, unread stream chunks.
 * O(1); the runtime's total is in me->mem. */
static void conn_recount(struct conn *c)
{
	size_t rx = urt_recv_stream_held(&c->rx);
	size_t held = c->in_cap + c->cl.out_cap + c->cl.refs_cap * sizeof(struct kv_ref) + rx;

	me->mem_rx += rx - c->held_rx;
	c->held_rx = rx;

	me->mem += held - c->held; /* wraps when it shrank: unsigned, still exact */
	if (c->doomed)
		me->mem_doomed += held - c->held;
	c->held = held;
}

/* The largest holder not yet doomed, among every connection of this runtime. */
static struct conn *largest(void)
{
	struct idle_list *ls[] = { &me->rx, &me->tx };
	struct conn *big = NULL;

	for (int i = 0; i < 2; i++) {
		for (struct idle_link *k = ls[i]->root.next; k != &ls[i]->root; k = k->next) {
			struct conn *c = conn_of(k);

			conn_recount(c);
			if (!c->doomed && (!big || c->held > big->held))
				big = c;
		}
	}
	return big;
}

/* Close the connections not yet doomed that hold `most` or more until what
 * is left fits. Return: whether it fits. */
static bool shed_at(size_t most)
{
	struct idle_list *ls[] = { &me->rx, &me->tx };

	for (int i = 0; i < 2; i++) {
		for (struct idle_link *k = ls[i]->root.next, *next; k != &ls[i]->root; k = next) {
			struct conn *c = conn_of(k);

			next = k->next; /* c may move to me->doom */
			if (c->doomed || c->held < most)
				continue;
			if (!conn_doom(c, &me->closed_mem))
				conn_move(c, IN_DOOM); /* the sweeper cancels it next tick */
			if (me->mem - me->mem_doomed <= me->mem_budget)
				return true;
		}
	}
	return false;
}

/*
 * Past the runtime's share of --max-clients-mem: close the largest holders
 * until what is left fits, as redis's maxmemory-clients does. Each pass
 * recounts every connection, finds the largest holding and closes those
 * that hold as much: holdings are mostly whole buffers, so a crowd of
 * alike non-readers goes in one pass, not in a scan each. Runs only when
 * over budget.
 */
static void shed(void)
{
	while (me->mem - me->mem_doomed > me->mem_budget) {
		struct conn *big = largest();

		if (!big || me->mem - me->mem_doomed <= me->mem_budget || shed_at(big->held))
			break;
	}
}

/* Count c again; past the budget, shed (c itself perhaps). O(1) but then. */
static void conn_account(struct conn *c)
{
	conn_recount(c);
	if (me->mem - me->mem_doomed > me->mem_budget)
		shed();
}

/* What this runtime's connections hold by its fresh figures: their own
 * buffers as last counted, with the unread stream bytes as the runtime
 * holds them now instead of as last counted. O(1). */
static size_t mem_fresh(const struct worker *w, const struct urt_runtime_stats *st)
{
	return w->mem - w->mem_rx + st->spill_bytes + st->bufs_queued * (size_t)RX_BUF;
}

/*
 * Each sweeper tick. The stream of a connection whose task waits in a send
 * (a client that asks and does not read) fills up to an arm and a buffer
 * with the task asleep, so nothing recounts it: its bytes are in the
 * runtime's spill and queued buffers, not in me->mem. When the fresh
 * estimate passes the budget, recount every connection and shed.
 */
static void mem_tick(void *arg)
{
	struct urt_runtime_stats st;
	size_t fresh;

	(void)arg;
	urt_runtime_stats(&me->rt, &st);
	fresh = mem_fresh(me, &st);
	if (fresh <= me->mem_doomed || fresh - me->mem_doomed <= me->mem_budget)
		return;
	(void)largest(); /* recounts them all */
	shed();
}

/* Append a received chunk. Return: false if the request would pass the cap. */
static bool in_append(struct urt_task *t, struct conn *c, const char *p, size_t n)
{
	size_t cap = c->in_cap ? c->in_cap : KV_OUT_CHUNK;
	char *q;

	/* the parser refuses a request declared past --max-request; this holds
	 * whatever else comes (an inline line is capped at 64 KiB) */
	if (c->in_len + n > o.max_request + 64 * 1024)
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
 * Parse and run the complete requests in the input, at most --max-pipeline
 * of them and until the replies reach KV_OUT_BOUND bytes (c->more says
 * the batch stopped there: the rest is parsed after the send, before any
 * more is received). The batch runs under kv.lock, taken at its first
 * command and let go after its last; nothing here awaits. Each unparsed
 * byte is looked at once: an incomplete request is resumed, and moved to
 * the buffer's start once, when the batch before it is done.
 */
static void run_requests(struct urt_task *t, struct conn *c)
{
	bool locked = false;
	uint32_t n = 0;

	c->more = false;
	while (c->in_off < c->in_len && !c->cl.closing) {
		struct resp_cmd cmd = { .argv = me->argv, .len = me->len, .resume = c->resume };
		const char *why;
		long k;

		if (c->in_len - c->in_off < c->resume.need)
			break; /* the request at in_off is still arriving */
		if (n == o.max_pipeline || c->cl.out_len + c->cl.ref_bytes >= KV_OUT_BOUND) {
			c->more = true;
			break;
		}
		if (!c->resume.need && (c->in[c->in_off] == '\r' || c->in[c->in_off] == '\n')) {
			/* empty lines, which redis skips too (as white space of an
			 * inline line), go at a byte's cost, not a parse's */
			while (c->in_off < c->in_len &&
			       (c->in[c->in_off] == '\r' || c->in[c->in_off] == '\n'))
				c->in_off++;
			continue;
		}
		k = resp_parse(c->in + c->in_off, c->in_len - c->in_off, &kv.lim, &cmd, &why);
		if (k == 0) {
			c->resume = cmd.resume;
			break;
		}
		if (k < 0) {
			kv_reply_error(t, &c->cl, why);
			c->cl.closing = true; /* as redis: the stream cannot be resynchronised */
			break;
		}
		c->in_off += (size_t)k;
		c->resume = (struct resp_resume){ 0 };
		if (cmd.argc) {
			if (!locked) {
				pthread_mutex_lock(&kv.lock);
				locked = true;
			}
			kv_execute(&kv.srv, t, &c->cl, cmd.argc, cmd.argv, cmd.len);
			n++;
		}
		if (c->cl.oom) { /* the reply itself could not be stored */
			c->cl.closing = true;
			break;
		}
	}
	if (locked)
		pthread_mutex_unlock(&kv.lock);
	if (!c->more && c->in_off) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
}

/* The next piece of the batch to send, at most KV_OUT_BOUND bytes: out's
 * bytes up to a reference, its value (from the entry), and so on. Return:
 * false when all went. */
static bool piece(struct conn *c, const char **p, size_t *n)
{
	const struct kv_client *cl = &c->cl;

	for (;; c->seg++, c->seg_off = 0) {
		uint32_t i = c->seg / 2;
		const char *base;
		size_t len;

		if (i > cl->nrefs || (c->seg % 2 && i == cl->nrefs))
			return false;
		if (c->seg % 2 == 0) { /* out's bytes before ref i (or to the end) */
			size_t from = i ? cl->refs[i - 1].at : 0;

			base = cl->out + from;
			len = (i < cl->nrefs ? cl->refs[i].at : cl->out_len) - from;
		} else {
			base = kv_val(cl->refs[i].e);
			len = cl->refs[i].e->vlen;
		}
		if (c->seg_off < len) {
			*p = base + c->seg_off;
			*n = len - c->seg_off < KV_OUT_BOUND ? len - c->seg_off : KV_OUT_BOUND;
			return true;
		}
	}
}

/* Send the current piece (awaitable: piece() finds the same one each time
 * the poll comes back, since seg and seg_off move only after). */
static int send_piece(struct urt_task *t, struct conn *c)
{
	const char *p;
	size_t n;

	if (!piece(c, &p, &n))
		return 0;
	return urt_send_all(t, &c->tx, c->fd, p, n);
}

/* The batch is sent: let go of the values it referenced. */
static void sent(struct conn *c)
{
	if (c->cl.nrefs) {
		pthread_mutex_lock(&kv.lock);
		kv_release(&kv.db, &c->cl);
		pthread_mutex_unlock(&kv.lock);
	}
	c->cl.out_len = 0;
	c->seg = 0;
	c->seg_off = 0;
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
	if (c->cl.refs_cap > 64 && !c->cl.nrefs) {
		urt_task_free(t, c->cl.refs);
		c->cl.refs = NULL;
		c->cl.refs_cap = 0;
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

/* After a receive: the idle time starts again if the client is between
 * requests or the one it sends grew by 64 KiB since; a request that
 * trickles slower than that is closed --idle-ms after it last did. */
static void rx_progress(struct conn *c)
{
	size_t unparsed = c->in_len - c->in_off;

	if (!unparsed || unparsed >= c->stamped + 64 * 1024) {
		c->stamped = unparsed;
		conn_move(c, IN_RX);
	}
}

/*
 * A connection: receive (its idle deadline in me->rx), run what is
 * complete, send the batch (its send deadline in me->tx, renewed each
 * piece of up to 256 KiB), and again: what is left of a pipeline cut at
 * a bound is run before anything more is received.
 */
/* Input one connection may take in one turn before the others run: a
 * receive's worth (redis reads 16 KiB a client per loop iteration). */
#define TURN_BYTES (16u << 10)

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;
	const char *p;
	size_t n;

	URT_BEGIN(t);
	conn_move(c, IN_RX);
	while (!c->cl.closing && !c->doomed) {
		if (c->turn >= TURN_BYTES) {
			/* a client whose input never runs out (a flood of empty
			 * lines answers nothing, so no send ends the turn) must
			 * not keep the loop: the others run, then it goes on */
			c->turn = 0;
			URT_YIELD(t);
			continue;
		}
		if (!c->more) {
			URT_AWAIT(t, c->n = urt_recv_stream(t, &c->rx, c->fd, &c->b));
			if (c->n <= 0 || c->doomed)
				break;
			c->turn += (uint32_t)c->n;
			if (!in_append(t, c, c->b.data, c->b.len)) {
				kv_reply_error(t, &c->cl, "ERR Protocol error: request too big");
				c->cl.closing = true;
			}
			urt_buf_free(&c->b);
		}
		run_requests(t, c);
		if (c->more)
			c->turn += TURN_BYTES / 4; /* a batch at its bound counts as a piece of input */
		else
			rx_progress(c);
		conn_account(c);
		if (c->cl.out_len) {
			conn_move(c, IN_TX);
			while (!c->doomed && piece(c, &p, &n)) { /* p, n: only whether one is left */
				URT_AWAIT(t, c->ret = send_piece(t, c));
				if (c->ret < 0)
					break;
				c->seg_off += (size_t)c->ret;
				conn_move(c, IN_TX); /* it moved: the deadline starts again */
			}
			sent(c);
			c->turn = 0; /* the send let the others run */
			if (c->ret < 0 || c->doomed)
				break;
			c->stamped = c->in_len - c->in_off;
			conn_move(c, IN_RX);
		}
		shrink(t, c);
		conn_account(c);
	}
	/* closing: out of the deadline lists (nothing to cancel any more), and
	 * its memory no longer a candidate for the budget's closing */
	if (c->where)
		idle_unlink(list_of(c->where), &c->link);
	c->where = IN_NONE;
	if (!c->doomed) {
		c->doomed = true;
		me->mem_doomed += c->held;
	}
	if (c->b.data)
		urt_buf_free(&c->b); /* a chunk that came as it was doomed */
	URT_AWAIT(t, urt_recv_stream_end(t, &c->rx, c->fd));
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
	if (c->cl.nrefs) { /* aborted mid-send (deinit) */
		pthread_mutex_lock(&kv.lock);
		kv_release(&kv.db, &c->cl);
		pthread_mutex_unlock(&kv.lock);
	}
	if (c->where)
		idle_unlink(list_of(c->where), &c->link);
	me->mem -= c->held;
	me->mem_rx -= c->held_rx;
	if (c->doomed)
		me->mem_doomed -= c->held;
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
static int on_conn(void *arg, int fd, struct urt_claim *claim)
{
	struct conn c = { .fd = fd,
			  .cl = { .id = atomic_fetch_add(&kv.next_id, 1) + 1, .thread = me->id } };
	int ret;

	/* a place under the cap first, so two runtimes cannot both take the last */
	if (atomic_fetch_add(&kv.live, 1) >= o.srv.max_conns) { /* the cap, for boxed tasks too */
		atomic_fetch_sub(&kv.live, 1);
		return -ENOSPC;
	}
	(void)arg;
	if (claim) { /* the slot the acceptor reserved before it accepted */
		memcpy(urt_claim_state(claim), &c, sizeof(c));
		ret = urt_claim_spawn(claim, &conn_type, NULL);
	} else {
		ret = urt_spawn(&me->rt, &conn_type, &c, sizeof(c), NULL);
	}
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
	uint64_t live = 0, closed[3] = { 0 };
	size_t heap = 0, slab_live = 0, slab_cap = 0, ops = 0, mem = 0;
	size_t bufs_low = 0, bufs = 0, spill_high = 0;

	for (int i = 0; i < o.srv.threads; i++) {
		const struct worker *w = &kv.w[i];

		live += w->st_live;
		heap += w->st_heap;
		slab_live += w->st.slab_live;
		slab_cap += w->st.slab_capacity;
		ops += w->st.ops_live;
		bufs_low += w->st.bufs_free_low;
		bufs += w->st.buf_count;
		spill_high += w->st.spill_high_water;
		mem += w->st_mem;
		for (int j = 0; j < 3; j++)
			closed[j] += w->st_closed[j];
	}
	printf("%s: connections %" PRIu64 " live %" PRIu64 " commands %" PRIu64 " keys %zu "
	       "memory %zu heap_calls %zu slab %zu/%zu ops_live %zu clients_mem %zu "
	       "closed_idle %" PRIu64 " closed_send %" PRIu64 " closed_mem %" PRIu64 " "
	       "bufs_free_low %zu/%zu spill_high_water %zu threads %d thread_conns ",
	       what, conns_total(), live, kv.srv.commands, kv.db.n, kv.db.mem, heap, slab_live,
	       slab_cap, ops, mem, closed[0], closed[1], closed[2], bufs_low, bufs, spill_high,
	       o.srv.threads);
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
	w->st_mem = mem_fresh(w, &w->st); /* the stream bytes as held now */
	w->st_closed[0] = w->closed_idle;
	w->st_closed[1] = w->closed_send;
	w->st_closed[2] = w->closed_mem;
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

/* SIGINT / SIGTERM: the acceptor and the sweepers end; urt_stop follows. */
static void on_stop(void *arg)
{
	((struct worker *)arg)->stop = true;
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
					       .buf_size = RX_BUF,
					       .allocator = &w->heap.al,
				       });
	if (ret)
		return ret;
	w->has_rt = true;
	ret = urt_server_signals_start(&w->rt, &(struct urt_server_signals_opts){
							.sub = w->sig,
							.on_stats = on_stats,
							.on_stop = on_stop,
							.arg = w,
						});
	if (!ret)
		ret = urt_acceptor_start(&w->rt,
					 &(struct urt_acceptor_opts){ .lfd = w->lfd,
								      .on_conn = on_conn,
								      .stop = &w->stop,
								      .boxed = o.srv.boxed },
					 NULL);
	if (!ret && w->id == 0)
		ret = urt_spawn(&w->rt, &sweeper_type, &(struct sweeper){ 0 },
				sizeof(struct sweeper), NULL);
	if (!ret) {
		idle_sweep_init(&w->sweep, &w->stop, conn_expire);
		idle_list_init(&w->rx, (uint32_t)o.idle_ms);
		idle_list_init(&w->tx, (uint32_t)o.send_ms);
		idle_list_init(&w->doom, 1); /* cancelled again at the next tick */
		idle_sweep_add(&w->sweep, &w->rx);
		idle_sweep_add(&w->sweep, &w->tx);
		idle_sweep_add(&w->sweep, &w->doom);
		idle_sweep_on_tick(&w->sweep, mem_tick, NULL);
		/* each runtime keeps to its share: no atomics on the hot path */
		w->mem_budget = o.max_clients_mem / (uint64_t)o.srv.threads;
		ret = idle_sweeper_start(&w->rt, &w->sweep);
	}
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
	(void)urt_signal_hub_send(&kv.hub, SIGTERM); /* a no-op for those stopped already */
	for (int i = 0; i < n; i++)
		pthread_join(kv.w[i].th, NULL);
}

/* Close the first n workers' listeners and pipes, and free the store. */
static void teardown(int n)
{
	for (int i = 0; i < n; i++) {
		close(kv.w[i].lfd);
	}
	urt_signal_hub_deinit(&kv.hub);
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
		"              [--max-request BYTES] [--max-pipeline N] [--max-conns N]\n"
		"              [--idle-ms MS] [--send-ms MS] [--max-clients-mem BYTES]\n"
		"              [--hash-seed N]\n"
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
		"  --idle-ms MS     close a connection that sends nothing, or whose request\n"
		"                   does not grow by 64 KiB, for MS (default 300000)\n"
		"  --send-ms MS     close a connection whose replies do not move (256 KiB)\n"
		"                   for MS (default 30000)\n"
		"  --max-clients-mem B  budget for all connections' buffers (input, output,\n"
		"                   unread received bytes); past it the largest holders are\n"
		"                   closed (default 512m; split evenly over --threads)\n"
		"  --hash-seed N    key the keyspace's hash with N (default: from getrandom)\n");
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
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
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
		if (urt_signal_subscribe(&kv.hub, &w->sig)) {
			perror("urt-kv: signals");
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
				       .max_inline = 64 * 1024,
				       .max_request = o.max_request };
	if (store_init(&kv.db, o.maxmemory)) {
		fprintf(stderr, "urt-kv: out of memory\n");
		return 1;
	}
	/* a secret hash key unless the run must be repeatable (--hash-seed) */
	if (!o.seeded && getrandom(&o.hash_seed, sizeof(o.hash_seed), 0) != sizeof(o.hash_seed))
		o.hash_seed = urt_now_ns() ^ (uint64_t)getpid() << 32; /* no getrandom: weaker */
	store_seed(&kv.db, o.hash_seed);
	if (sem_init(&kv.started, 0, 0)) {
		perror("urt-kv: sem_init");
		store_deinit(&kv.db);
		return 1;
	}
	/* signals come to the hub, never to a worker: blocked here, before
	 * any thread starts (they inherit the mask) */
	ret = urt_server_signals_hub(&kv.hub);
	if (ret) {
		fprintf(stderr, "urt-kv: signals: %s\n", strerror(-ret));
		store_deinit(&kv.db);
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
