/* SPDX-License-Identifier: MIT */
/*
 * echo/server.c - urt-echo's server for one runtime (echo/server.h): the
 * connection task, the --idle-ms and --max-clients-mem sweeper, the
 * acceptor. urt-echo.c describes what it does and why.
 */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct conn {
	struct echo_server *s;
	int fd;
	int n; /* the last receive's result, then the send's (one int: the slot is 208 B) */
	struct urt_op rx;
	struct urt_io_all tx;
	struct urt_buf buf;
	struct idle_link link; /* in s->idle */
	bool doomed;	       /* the memory budget closes it */
};

/* A task's header is 64 bytes; slots are multiples of 16. */
#define CONN_SLOT (64 + (sizeof(struct conn) + 15) / 16 * 16)
/* the idle-connection budget (issue 20): keep a field from growing it unseen */
_Static_assert(CONN_SLOT <= 208, "urt-echo's connection slot grew past 208 bytes");

static struct conn *conn_of(struct idle_link *k)
{
	return (struct conn *)((char *)k - offsetof(struct conn, link));
}

/*
 * What the runtime holds for its open connections, by its own count: a slab
 * slot each (or a box: the allocator's bytes) and the op records in use.
 * The provided buffers are shared and not counted per connection.
 */
size_t echo_conn_bytes(const struct echo_server *s, const struct urt_runtime_stats *st)
{
	size_t slots = s->o.boxed ? 0 : st->slab_live * CONN_SLOT;
	size_t boxes = s->o.boxed ? (size_t)s->live_conns * CONN_SLOT : 0;

	return slots + boxes + st->ops_live * 64;
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
	       "closed_mem %llu clients_mem %zu\n",
	       what, s->id, (unsigned long long)s->conns, (unsigned long long)s->live_conns,
	       (unsigned long long)s->requests, (unsigned long long)s->bytes,
	       atomic_load(&s->heap.calls), atomic_load(&s->heap.bytes), echo_conn_bytes(s, &st),
	       st.slab_live, st.slab_capacity, st.ops_high_water, st.ops_live, st.bufs_free,
	       st.buf_count, (unsigned long long)st.stream_pauses, st.bufs_free_low, st.buf_count,
	       st.spill_high_water, (unsigned long long)st.recv_spilled,
	       (unsigned long long)s->closed_idle, (unsigned long long)s->closed_mem, s->mem_seen);
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
		urt_op_set_timeout(&c->tx.op, 1000000ull * c->s->o.send_ms);
		URT_AWAIT(t, c->n = urt_send_all(t, &c->tx, c->fd, c->buf.data, c->buf.len));
		urt_buf_free(&c->buf);
		if (c->n < 0 || c->doomed)
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
	return urt_recv_stream_held(&c->rx) + (c->buf.live ? ECHO_RX_BUF : 0);
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
static void shed(struct echo_server *s)
{
	struct idle_list *l = &s->idle;
	size_t total = 0, most;

	for (struct idle_link *k = l->root.next; k != &l->root; k = k->next)
		total += conn_held(conn_of(k));
	s->mem_seen = total;
	while (total > s->o.mem_budget) {
		most = 0;
		for (struct idle_link *k = l->root.next; k != &l->root; k = k->next) {
			size_t n = conn_held(conn_of(k));

			most = n > most ? n : most;
		}
		if (!most)
			return;
		for (struct idle_link *k = l->root.next, *next;
		     k != &l->root && total > s->o.mem_budget; k = next) {
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
	struct echo_server *s = arg;
	struct urt_runtime_stats st;

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

/* --- one runtime's server ------------------------------------------------------- */

int echo_server_init(struct echo_server *s, const struct echo_opts *o, int id, struct urt_sim *sim)
{
	int ret;

	*s = (struct echo_server){ .o = *o, .lfd = -1, .id = id };
	counting_init(&s->heap);
	ret = urt_runtime_init(&s->rt, &(struct urt_runtime_opts){
					       .slab = o->boxed ? URT_SLAB_NONE : URT_SLAB_BOUNDED,
					       /* a header and a connection: nothing wasted */
					       .slot_size = CONN_SLOT,
					       .slab_slots = o->max_conns,
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
	idle_sweep_init(&s->sweep, &s->stop, conn_expire);
	idle_list_init(&s->idle, o->idle_ms);
	idle_sweep_add(&s->sweep, &s->idle);
	idle_sweep_on_tick(&s->sweep, mem_tick, s);
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
	if (s->lfd >= 0)
		urt_close_detached(s->lfd); /* deinit waits for it */
	s->lfd = -1;
	return urt_runtime_deinit(&s->rt); /* aborts the connections: their drops close them */
}
