/* SPDX-License-Identifier: MIT */
/*
 * kv/server.c - urt-kv's server for one runtime (kv/server.h): the
 * connection task, the deadline and memory sweeper, the keyspace's expiry
 * sweep, the acceptor. urt-kv.c describes what they do and why.
 */
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../reserve.h"
#include "../tls-server.h"

static int64_t now_ms(void)
{
	return (int64_t)(urt_now_ns() / 1000000u);
}

/* --- a connection ------------------------------------------------------------- */

enum { IN_NONE, IN_RX, IN_TX, IN_DOOM }; /* the deadline list a connection is in */

struct conn {
	struct kv_worker *w;
	int fd, n, ret;
	struct kv_client cl; /* what its commands see: the output buffer, closing */
	struct urt_op rx;
	struct urt_io_all tx;
	struct urt_buf b;
	struct idle_link link;	       /* in c->w->rx, c->w->tx or c->w->doom: its deadline */
	char *in;		       /* task memory */
	size_t in_off, in_len, in_cap; /* in[in_off..in_len): not yet parsed */
	size_t held;		       /* bytes it holds, as last counted in c->w->mem */
	size_t held_rx;		       /* of held, its stream's unread bytes */
	size_t stamped;		       /* unparsed bytes when its idle time was last reset */
	size_t seg_off;		       /* sending: bytes of piece seg sent */
	uint32_t seg;		       /* sending: out's bytes and the refs' values, in turn */
	uint8_t where;		       /* IN_*: which list link is in */
	bool more;		       /* run_requests stopped at a bound: more may be complete */
	uint32_t turn;		       /* input bytes taken since this task last let others run */
	bool doomed;		       /* a deadline or the memory budget closes it */
	bool tls_on;		       /* accepted on the TLS listener (c->tls below) */
	bool clean;		   /* ending by the protocol (QUIT, close_notify): close_notify */
	bool sending;		   /* in the send loop: a TLS connection holds its out-buffer */
	struct resp_resume resume; /* how far the incomplete request at in + in_off is parsed */
	/* RESP over TLS: the connection (task memory, made when its task
	 * starts), or NULL; its reads and writes go through tls_recv and
	 * send_piece, the only two I/O points that differ */
	struct urt_tls *tls;
	struct urt_task *t; /* its task (TLS: conn_cancel cancels the layer's operations) */
};

static struct conn *conn_of(struct idle_link *k)
{
	return (struct conn *)((char *)k - offsetof(struct conn, link));
}

static struct idle_list *list_of(struct kv_worker *w, int where)
{
	return where == IN_RX ? &w->rx : where == IN_TX ? &w->tx : &w->doom;
}

/* c moved: to the tail of the list `where` (a doomed one stays in c->w->doom).
 * One already in that list that moved at this coarse time stays where it
 * is: among the tail's links of the same time, so the list keeps its order
 * and the sweeper its deadlines, and a pipelined batch does not unlink and
 * link itself (its neighbours' memory) after every piece it sends. */
static void conn_move(struct conn *c, int where)
{
	if (c->doomed)
		where = IN_DOOM;
	if (c->where == where && c->link.at == c->w->sweep.now)
		return;
	idle_put(c->where ? list_of(c->w, c->where) : NULL, list_of(c->w, where), &c->link,
		 c->w->sweep.now);
	c->where = (uint8_t)where;
}

/* Have c's task wake and close: cancel what it waits on. Return: whether a
 * wait was cancelled (else it is running or about to: it sees doomed). */
static bool conn_cancel(struct conn *c)
{
	bool rx;

	if (c->tls) /* the layer's receive stream, send and deadline */
		return urt_task_cancel_ops(c->t) > 0;
	rx = urt_op_cancel(&c->rx) == 0;

	return urt_op_cancel(&c->tx.op) == 0 || rx;
}

/* Mark c to be closed (why: the counter to bump) and wake it. Return: as
 * conn_cancel. */
static bool conn_doom(struct conn *c, uint64_t *why)
{
	if (!c->doomed) {
		c->doomed = true;
		c->w->mem_doomed += c->held;
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
	uint64_t *why = l == &c->w->rx	 ? &c->w->closed_idle
			: l == &c->w->tx ? &c->w->closed_send
					 : &c->w->closed_mem;

	if (!conn_doom(c, why))
		return false;
	c->where = IN_NONE;
	return true;
}

/* Count c's buffers again: input, output, references, unread stream chunks.
 * O(1); the runtime's total is in c->w->mem. */
static void conn_recount(struct conn *c)
{
	size_t rx = urt_recv_stream_held(&c->rx);
	size_t held = c->in_cap + c->cl.out_cap + c->cl.refs_cap * sizeof(struct kv_ref);

	if (c->tls) { /* its stream and the chunk it holds; its state, its out-buffer
		       * (while it writes, or holds what a read wrote: KeyUpdate
		       * answers a peer that does not read leaves there) */
		rx = urt_recv_stream_held(&c->tls->rx) + (c->tls->in.live ? c->tls->in.len : 0);
		held += sizeof(*c->tls) + tls_srv_state_mem(c->tls) +
			(c->sending || c->tls->out ? TLS_SRV_OUT_MEM : 0);
	}
	held += rx;

	c->w->mem_rx += rx - c->held_rx;
	c->held_rx = rx;

	c->w->mem += held - c->held; /* wraps when it shrank: unsigned, still exact */
	if (c->doomed)
		c->w->mem_doomed += held - c->held;
	c->held = held;
}

/* The largest holder not yet doomed, among every connection of this runtime. */
static struct conn *largest(struct kv_worker *w)
{
	struct idle_list *ls[] = { &w->rx, &w->tx };
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
static bool shed_at(struct kv_worker *w, size_t most)
{
	struct idle_list *ls[] = { &w->rx, &w->tx };

	for (int i = 0; i < 2; i++) {
		for (struct idle_link *k = ls[i]->root.next, *next; k != &ls[i]->root; k = next) {
			struct conn *c = conn_of(k);

			next = k->next; /* c may move to w->doom */
			if (c->doomed || c->held < most)
				continue;
			if (!conn_doom(c, &w->closed_mem))
				conn_move(c, IN_DOOM); /* the sweeper cancels it next tick */
			if (w->mem - w->mem_doomed <= w->o.mem_budget)
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
static void shed(struct kv_worker *w)
{
	while (w->mem - w->mem_doomed > w->o.mem_budget) {
		struct conn *big = largest(w);

		if (!big || w->mem - w->mem_doomed <= w->o.mem_budget || shed_at(w, big->held))
			break;
	}
}

/* Count c again; past the budget, shed (c itself perhaps). O(1) but then. */
static void conn_account(struct conn *c)
{
	conn_recount(c);
	if (c->w->mem - c->w->mem_doomed > c->w->o.mem_budget)
		shed(c->w);
}

/* What this runtime's connections hold by its fresh figures: their own
 * buffers as last counted, with the unread stream bytes as the runtime
 * holds them now instead of as last counted. O(1). */
size_t kv_worker_mem(const struct kv_worker *w, const struct urt_runtime_stats *st)
{
	return w->mem - w->mem_rx + st->spill_bytes + st->bufs_queued * (size_t)KV_RX_BUF;
}

/*
 * Each sweeper tick. The stream of a connection whose task waits in a send
 * (a client that asks and does not read) fills up to an arm and a buffer
 * with the task asleep, so nothing recounts it: its bytes are in the
 * runtime's spill and queued buffers, not in w->mem. When the fresh
 * estimate passes the budget, recount every connection and shed.
 */
static void mem_tick(void *arg)
{
	struct urt_runtime_stats st;
	size_t fresh;

	struct kv_worker *w = arg;

	urt_runtime_stats(&w->rt, &st);
	fresh = kv_worker_mem(w, &st);
	if (fresh <= w->mem_doomed || fresh - w->mem_doomed <= w->o.mem_budget)
		return;
	(void)largest(w); /* recounts them all */
	shed(w);
}

/* The most input a connection holds: the parser refuses a request declared
 * past --max-request; this holds whatever else comes (an inline line is
 * capped at 64 KiB). */
static size_t in_max(const struct conn *c)
{
	return c->w->sh->lim.max_request + 64 * 1024;
}

/* Room for n more bytes of input. Return: false past in_max, or no memory. */
static bool in_room(struct urt_task *t, struct conn *c, size_t n)
{
	size_t cap = c->in_cap ? c->in_cap : KV_OUT_CHUNK;
	char *q;

	if (c->in_len + n > in_max(c))
		return false;
	if (c->in_len + n <= c->in_cap)
		return true;
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
	return true;
}

/* Append a received chunk. Return: false if the request would pass the cap. */
static bool in_append(struct urt_task *t, struct conn *c, const char *p, size_t n)
{
	if (!in_room(t, c, n))
		return false;
	memcpy(c->in + c->in_len, p, n);
	c->in_len += n;
	return true;
}

/* Below this many bytes held the keyspace is taken to stay in the cache
 * and nothing is looked at ahead: a request's peek cost 190 of the 1,350
 * instructions of a GET on one key (callgrind), for misses that did not
 * happen. */
#define PREFETCH_MIN_MEM (1u << 20)

/* A request of the batch looked at before its turn (resp_peek_key). */
struct ahead {
	const char *at;	  /* its first byte in the input; NULL: none */
	const char *key;  /* its key, klen bytes, and the key's store_hash */
	size_t klen, req; /* req: its length (0: unknown) */
	uint64_t h;
};

/* Look at the request at p (n bytes) into *a. Return: whether it has a key. */
static bool peek(const struct conn *c, const char *p, size_t n, struct ahead *a)
{
	a->at = NULL;
	if (!resp_peek_key(p, n, &a->key, &a->klen, &a->req))
		return false;
	a->at = p;
	a->h = store_hash(&c->w->sh->db, a->key, a->klen);
	return true;
}

/*
 * While a request runs, the memory of the next ones' keys loads: the
 * entry of the next (its slot came in one request ago) and the slot of
 * the one after. A keyspace larger than the cache costs a miss for the
 * slot and one for the entry of every lookup: a third of urt-kv's CPU
 * under GET -P 16 -r 100000 went there (docs/design.md). Each request is
 * looked at once: the one after becomes the next at the following
 * request, and the key's hash goes on to its command (run_requests), so
 * a key is hashed once, not three times.
 */
static void prefetch_next(const struct conn *c, struct ahead *next, struct ahead *after)
{
	const char *p = c->in + c->in_off;
	size_t n = c->in_len - c->in_off;

	if (after->at == p)
		*next = *after;
	else if (!peek(c, p, n, next))
		return;
	after->at = NULL;
	store_prefetch(&c->w->sh->db, next->h, true);
	if (next->req && peek(c, p + next->req, n - next->req, after))
		store_prefetch(&c->w->sh->db, after->h, false);
}

/*
 * Parse and run the complete requests in the input, at most --max-pipeline
 * of them and until the replies reach KV_OUT_BOUND bytes (c->more says
 * the batch stopped there: the rest is parsed after the send, before any
 * more is received). The batch runs under the keyspace's lock, taken at its first
 * command and let go after its last; nothing here awaits. Each unparsed
 * byte is looked at once: an incomplete request is resumed, and moved to
 * the buffer's start once, when the batch before it is done.
 */
static void run_requests(struct urt_task *t, struct conn *c)
{
	struct ahead next = { 0 }, after = { 0 };
	bool locked = false;
	uint32_t n = 0;

	c->more = false;
	while (c->in_off < c->in_len && !c->cl.closing) {
		struct resp_cmd cmd = { .argv = c->w->argv, .len = c->w->len, .resume = c->resume };
		const char *why, *at = c->in + c->in_off;
		long k;

		if (c->in_len - c->in_off < c->resume.need)
			break; /* the request at in_off is still arriving */
		if (n == c->w->sh->max_pipeline ||
		    c->cl.out_len + c->cl.ref_bytes >= KV_OUT_BOUND) {
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
		k = resp_parse(c->in + c->in_off, c->in_len - c->in_off, &c->w->sh->lim, &cmd,
			       &why);
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
			/* its key's hash, if it was looked at ahead (the same bytes:
			 * nothing writes the input while the batch runs) */
			bool hashed = next.at == at && cmd.argc > 1 && cmd.argv[1] == next.key &&
				      cmd.len[1] == next.klen;
			uint64_t h = next.h;

			if (!locked) {
				pthread_mutex_lock(&c->w->sh->lock);
				locked = true;
				c->w->sh->srv.now_ms = 0; /* the batch reads the clock once */
			}
			if (c->w->sh->db.mem >= PREFETCH_MIN_MEM)
				prefetch_next(c, &next, &after);
			kv_execute(&c->w->sh->srv, t, &c->cl, cmd.argc, cmd.argv, cmd.len,
				   hashed ? &h : NULL);
			n++;
		}
		if (c->cl.oom) { /* the reply itself could not be stored */
			c->cl.closing = true;
			break;
		}
	}
	if (locked)
		pthread_mutex_unlock(&c->w->sh->lock);
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

/* --- the two I/O points: plain, or through the TLS layer ------------------------------ */

/* TLS: plaintext read at once into the input: room for at least this much first. */
#define TLS_READ_MIN 2048

/* Awaitable: plaintext straight into the input, up to what fits once there
 * is room for TLS_READ_MIN (and no more than in_max). Return: as conn_recv. */
static int tls_recv(struct urt_task *t, struct conn *c)
{
	size_t len;
	int n;

	if (c->in_cap - c->in_len < TLS_READ_MIN && !in_room(t, c, TLS_READ_MIN))
		return -EMSGSIZE;
	len = c->in_cap - c->in_len;
	if (len > in_max(c) - c->in_len)
		len = in_max(c) - c->in_len;
	n = tls_srv_read(t, c->tls, c->in + c->in_len, len);
	if (n > 0)
		c->in_len += (size_t)n;
	return n;
}

/*
 * Awaitable: the next bytes from the client, appended to the input: a
 * chunk of the receive stream copied in (plain), or plaintext decrypted
 * into it (TLS). Return: > 0 bytes; 0 the client closed; -EMSGSIZE the
 * input would pass in_max (or no memory); -errno.
 */
static inline int conn_recv(struct urt_task *t, struct conn *c)
{
	int n;

	if (c->tls)
		return tls_recv(t, c);
	n = urt_recv_stream(t, &c->rx, c->fd, &c->b);
	if (n > 0 && !c->doomed) {
		bool ok = in_append(t, c, c->b.data, c->b.len);

		urt_buf_free(&c->b);
		if (!ok)
			return -EMSGSIZE;
	}
	return n;
}

/* Send the current piece (awaitable: piece() finds the same one each time
 * the poll comes back, since seg and seg_off move only after). */
static int send_piece(struct urt_task *t, struct conn *c)
{
	const char *p;
	size_t n;

	if (!piece(c, &p, &n))
		return 0;
	if (c->tls) /* its deadline: the sweeper's --send-ms, as a plain send's */
		return tls_srv_write(t, c->tls, p, n);
	if (c->doomed && !urt_op_busy(&c->tx.op)) {
		/* closed: no send to start, not even the rest of a short one
		 * (urt_send_all starts it as it reads the result). Doomed while
		 * that result waited to be polled (the cancel found nothing in
		 * flight), the sweeper had let go of it (conn_expire), and the
		 * rest waited on a peer that does not read, in no list, for
		 * ever (review 8) */
		(void)urt_op_take_late(&c->tx.op);
		c->tx.done = 0;
		return -ECANCELED;
	}
	return urt_send_all(t, &c->tx, c->fd, p, n);
}

/* The batch is sent: let go of the values it referenced. */
static void sent(struct conn *c)
{
	if (c->cl.nrefs) {
		pthread_mutex_lock(&c->w->sh->lock);
		kv_release(&c->w->sh->db, &c->cl);
		pthread_mutex_unlock(&c->w->sh->lock);
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
 * A connection: receive (its idle deadline in w->rx), run what is
 * complete, send the batch (its send deadline in w->tx, renewed each
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
	c->t = t;
	if (c->tls_on) { /* TLS: the handshake first, within --tls-handshake-ms */
		c->ret = tls_srv_new(t, c->w->o.tls, c->fd, c->w->o.tls_handshake_ms, &c->tls);
		if (!c->ret) {
			/* its handshake's state counts from now: a crowd that
			 * begins handshakes and never ends them is shed */
			conn_account(c);
			URT_AWAIT(t, c->ret = tls_srv_handshake(t, c->tls));
		}
		if (c->ret < 0) {
			c->w->tls_handshake_fail++;
			c->cl.closing = true;
		}
		conn_account(c); /* its state after the handshake, smaller */
	}
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
			URT_AWAIT(t, c->n = conn_recv(t, c));
			if (c->n == -EMSGSIZE) {
				kv_reply_error(t, &c->cl, "ERR Protocol error: request too big");
				c->cl.closing = true;
			} else if (c->n <= 0 || c->doomed) {
				c->clean = c->n == 0 && !c->doomed; /* TLS: its close_notify */
				break;
			} else {
				c->turn += (uint32_t)c->n;
			}
		}
		run_requests(t, c);
		if (c->more)
			c->turn += TURN_BYTES /
				   4; /* a batch at its bound counts as a piece of input */
		else
			rx_progress(c);
		conn_account(c);
		if (c->cl.out_len) {
			conn_move(c, IN_TX);
			c->sending = true;
			while (!c->doomed &&
			       piece(c, &p, &n)) { /* p, n: only whether one is left */
				URT_AWAIT(t, c->ret = send_piece(t, c));
				if (c->ret < 0)
					break;
				c->seg_off += (size_t)c->ret;
				conn_move(c, IN_TX); /* it moved: the deadline starts again */
			}
			sent(c);
			c->sending = false;
			c->turn = 0; /* the send let the others run */
			if (c->ret < 0 || c->doomed)
				break;
			c->clean = c->cl.closing; /* QUIT, or a protocol error: answered */
			c->stamped = c->in_len - c->in_off;
			conn_move(c, IN_RX);
		}
		shrink(t, c);
		conn_account(c);
	}
	/* closing: out of the deadline lists (nothing to cancel any more), and
	 * its memory no longer a candidate for the budget's closing */
	if (c->where)
		idle_unlink(list_of(c->w, c->where), &c->link);
	c->where = IN_NONE;
	if (!c->doomed) {
		c->doomed = true;
		c->w->mem_doomed += c->held;
	}
	if (c->b.data)
		urt_buf_free(&c->b); /* a chunk that came as it was doomed */
	if (!c->tls) {
		URT_AWAIT(t, urt_recv_stream_end(t, &c->rx, c->fd));
	} else {
		if (c->clean) { /* close_notify, unless a failure or a deadline ended it */
			URT_AWAIT(t, c->ret = tls_srv_close(t, c->tls, &c->clean, c->w->o.send_ms));
		}
		URT_AWAIT(t, tls_srv_end(t, c->tls));
	}
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
	if (c->cl.nrefs) { /* aborted mid-send (deinit) */
		pthread_mutex_lock(&c->w->sh->lock);
		kv_release(&c->w->sh->db, &c->cl);
		pthread_mutex_unlock(&c->w->sh->lock);
	}
	if (c->where)
		idle_unlink(list_of(c->w, c->where), &c->link);
	c->w->mem -= c->held;
	c->w->mem_rx -= c->held_rx;
	if (c->doomed)
		c->w->mem_doomed -= c->held;
	urt_buf_free(&c->b);
	if (c->tls)
		tls_srv_free(c->tls);
	urt_close_detached(c->fd);
	c->w->live--;
	atomic_fetch_sub(&c->w->sh->live, 1);
}

static const struct urt_task_type conn_type = { .poll = conn_poll,
						.drop = conn_drop,
						.name = "kv-conn" };

/* A task's header is 64 bytes; slots are multiples of 16. */
#define CONN_SLOT (64 + (sizeof(struct conn) + 15) / 16 * 16)
/* Op records a connection holds at once, reserved for --max-conns at init
 * (reserve.h): its receive stream, armed for its life, and its send
 * (c->tx); over TLS the layer's receive, send and deadline (the
 * handshake's, its close's). */
#define CONN_OPS     2
#define CONN_OPS_TLS 3

/* --- the acceptor, the sweeper ------------------------------------------------------ */

/* A new connection (tls: on the TLS listener): its task, unless the cap
 * (all runtimes' connections) is reached. */
static int conn_accept(struct kv_worker *w, int fd, struct urt_claim *claim, bool tls)
{
	struct kv_shared *sh = w->sh;
	struct conn c = { .w = w,
			  .fd = fd,
			  .tls_on = tls,
			  .cl = { .id = atomic_fetch_add(&sh->next_id, 1) + 1, .thread = w->id } };
	int ret;

	/* a place under the cap first, so two runtimes cannot both take the last */
	if (atomic_fetch_add(&sh->live, 1) >= sh->max_conns) { /* the cap, for boxed tasks too */
		atomic_fetch_sub(&sh->live, 1);
		return -ENOSPC;
	}
	/* a batch's replies go in one send, whole: Nagle would hold it until the
	 * previous one is acknowledged, and the client's delayed ACK waits
	 * for more to send (docs/design.md: urt-kv idled a quarter of the
	 * time). The model has no Nagle. */
	if (!w->sim)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (claim) { /* the slot the acceptor reserved before it accepted */
		memcpy(urt_claim_state(claim), &c, sizeof(c));
		ret = urt_claim_spawn(claim, &conn_type, NULL);
	} else {
		ret = urt_spawn(&w->rt, &conn_type, &c, sizeof(c), NULL);
	}
	if (ret) {
		atomic_fetch_sub(&sh->live, 1);
		return ret;
	}
	atomic_fetch_add_explicit(&w->conns, 1, memory_order_relaxed);
	w->live++;
	w->tls_conns += tls;
	return 0;
}

static int on_conn(void *arg, int fd, struct urt_claim *claim)
{
	return conn_accept(arg, fd, claim, false);
}

static int on_conn_tls(void *arg, int fd, struct urt_claim *claim)
{
	return conn_accept(arg, fd, claim, true);
}

struct sweeper {
	struct kv_worker *w;
	struct urt_op nap;
	int ret;
};

/* One keyspace, one sweep: it runs on one worker only (o.sweep_keys). */
static bool sweeper_poll(struct urt_task *t, void *arg)
{
	struct sweeper *s = arg;

	URT_BEGIN(t);
	while (!s->w->stop) {
		URT_AWAIT(t, s->ret = urt_sleep(t, &s->nap, 100000000));
		pthread_mutex_lock(&s->w->sh->lock);
		store_sweep(&s->w->sh->db, 1024, now_ms());
		pthread_mutex_unlock(&s->w->sh->lock);
	}
	URT_END(t);
}

static const struct urt_task_type sweeper_type = { .poll = sweeper_poll, .name = "kv-sweep" };

/* --- one worker ---------------------------------------------------------------------- */

int kv_shared_init(struct kv_shared *sh, const struct resp_limits *lim, uint64_t maxmemory,
		   uint64_t max_conns, uint32_t max_pipeline, uint64_t hash_seed)
{
	*sh = (struct kv_shared){ .lim = *lim,
				  .max_conns = max_conns,
				  .max_pipeline = max_pipeline };
	if (pthread_mutex_init(&sh->lock, NULL))
		return -ENOMEM;
	if (store_init(&sh->db, maxmemory)) {
		pthread_mutex_destroy(&sh->lock);
		return -ENOMEM;
	}
	store_seed(&sh->db, hash_seed);
	sh->srv = (struct kv_server){ .db = &sh->db,
				      .max_bulk = lim->max_bulk,
				      .maxmemory = maxmemory };
	return 0;
}

void kv_shared_deinit(struct kv_shared *sh)
{
	store_deinit(&sh->db);
	pthread_mutex_destroy(&sh->lock);
}

int kv_worker_init(struct kv_worker *w, struct kv_shared *sh, const struct kv_opts *o, int id,
		   struct urt_sim *sim)
{
	int ret;

	/* field by field: another worker's INFO may read conns (an atomic)
	 * while this one starts, so it is left as it is (zero) */
	w->sh = sh;
	w->o = *o;
	w->id = id;
	w->lfd = w->tls_lfd = -1;
	w->tls_conns = w->tls_handshake_fail = 0;
	w->argv = NULL;
	w->len = NULL;
	w->live = 0;
	w->stop = false;
	w->has_rt = false;
	w->sim = sim != NULL;
	w->mem = w->mem_doomed = w->mem_rx = 0;
	w->closed_idle = w->closed_send = w->closed_mem = 0;
	counting_init(&w->heap);
	idle_list_init(&w->rx, o->idle_ms);
	idle_list_init(&w->tx, o->send_ms);
	idle_list_init(&w->doom, 1); /* cancelled again at the next tick */
	w->argv = malloc(sh->lim.max_args * sizeof(*w->argv));
	w->len = malloc(sh->lim.max_args * sizeof(*w->len));
	if (!w->argv || !w->len)
		return -ENOMEM;
	/* each slab can hold --max-conns: the cap is global and one runtime may
	 * get every connection; slots are touched only when used */
	ret = urt_runtime_init(
		&w->rt, &(struct urt_runtime_opts){
				.slab = o->boxed ? URT_SLAB_NONE : URT_SLAB_BOUNDED,
				.slot_size = CONN_SLOT,
				.slab_slots = o->max_conns,
				/* none asked of the allocator after init below it */
				.op_records_reserve =
					reserve_ops(o->max_conns, o->tls ? CONN_OPS_TLS : CONN_OPS),
				.buf_count = o->bufs,
				.buf_size = KV_RX_BUF,
				.allocator = &w->heap.al,
				.poll_budget = o->poll_budget,
				.ring_entries = o->ring_entries,
				.features_off = o->features_off,
				.send_zc_min = o->send_zc_min,
				.fixed_fds = o->fixed_fds,
				.sim = sim,
			});
	if (ret)
		return ret;
	w->has_rt = true;
	/* the sweeper's clock starts with the runtime's (the model's, on a simulation) */
	idle_sweep_init(&w->sweep, &w->stop, conn_expire);
	idle_sweep_add(&w->sweep, &w->rx);
	idle_sweep_add(&w->sweep, &w->tx);
	idle_sweep_add(&w->sweep, &w->doom);
	idle_sweep_on_tick(&w->sweep, mem_tick, w);
	return 0;
}

/* Accepted sockets inherit TCP_NODELAY from their listener (Linux): the
 * way a direct descriptor (--fixed-fds), which setsockopt(2) cannot name,
 * gets it; on_conn's setsockopt fails on one with EBADF, and Nagle then
 * held a reply sent in two writes (a value of 16 KiB or more goes out
 * behind its head) for the client's delayed ACK: 44 ms a GET (review5). */
static void listener_nodelay(const struct kv_worker *w, int lfd)
{
	if (lfd >= 0 && !w->sim && (w->rt.stats.features & URT_FEAT_FIXED_FDS))
		setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
}

int kv_worker_start(struct kv_worker *w, int lfd)
{
	int ret;

	w->lfd = lfd;
	listener_nodelay(w, lfd);
	ret = urt_acceptor_start(&w->rt,
				 &(struct urt_acceptor_opts){ .lfd = lfd,
							      .on_conn = on_conn,
							      .arg = w,
							      .stop = &w->stop,
							      .boxed = w->o.boxed },
				 NULL);
	if (!ret && w->o.sweep_keys)
		ret = urt_spawn(&w->rt, &sweeper_type, &(struct sweeper){ .w = w },
				sizeof(struct sweeper), NULL);
	if (!ret)
		ret = idle_sweeper_start(&w->rt, &w->sweep);
	return ret;
}

int kv_worker_start_tls(struct kv_worker *w, int lfd)
{
	if (!w->o.tls)
		return -EINVAL;
	w->tls_lfd = lfd;
	listener_nodelay(w, lfd);
	return urt_acceptor_start(&w->rt,
				  &(struct urt_acceptor_opts){ .lfd = lfd,
							       .on_conn = on_conn_tls,
							       .arg = w,
							       .stop = &w->stop,
							       .boxed = w->o.boxed },
				  NULL);
}

void kv_worker_stop(struct kv_worker *w)
{
	w->stop = true;
}

size_t kv_worker_finish(struct kv_worker *w)
{
	size_t n = 0;

	if (w->has_rt) {
		if (w->lfd >= 0)
			urt_close_detached(w->lfd); /* deinit waits for it */
		if (w->tls_lfd >= 0)
			urt_close_detached(w->tls_lfd);
		w->lfd = w->tls_lfd = -1;
		n = urt_runtime_deinit(&w->rt); /* aborts the connections: their drops close them */
		w->has_rt = false;
	}
	free(w->argv);
	free(w->len);
	w->argv = NULL;
	w->len = NULL;
	return n;
}
