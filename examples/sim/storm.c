/* SPDX-License-Identifier: MIT */
/*
 * storm.c - the world of abort-storm and deinit-midflight (storm.h).
 *
 * Each task checks what it sees while it runs and records the first
 * surprise in w->why: a sleep that woke early, a NOP whose result does
 * not match its deadline or cancel, an echo that came back different.
 * Where w->lax is set (faults, or a deinit that may cut anything short)
 * only what must hold whatever happens is checked. A task's drop gives
 * back what it owns: its descriptor through the ring
 * (urt_close_detached), its received buffer, its children (aborted and
 * detached), and counts itself in drops[id].
 */
#include "storm.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static uint32_t id_new(struct storm *w)
{
	if (w->nids == w->ids_cap) {
		scn_fail(w->why, "more than %u task ids", w->ids_cap);
		return w->ids_cap; /* drops[] has one spare slot for it */
	}
	return w->nids++;
}

static void dropped(struct storm *w, uint32_t id)
{
	w->drops[id]++;
}

/* Spawn into a slab slot or a box, as the seed says. */
static int spawn(struct storm *w, const struct urt_task_type *type, const void *st, size_t size,
		 struct urt_join *j)
{
	if (w->ro.slab && scn_chance(&w->rng, 50))
		return urt_spawn_slab(type, st, size, j);
	return urt_spawn(&w->rt, type, st, size, j);
}

/* --- sleeper: sleeps in virtual time, each at least as long as asked ---------------- */

struct sleeper {
	struct storm *w;
	uint32_t id, left;
	struct scn_rng r;
	struct urt_op op;
	uint64_t dur, before;
	int ret;
	bool until;
};

static bool sleeper_poll(struct urt_task *t, void *arg)
{
	struct sleeper *s = arg;

	URT_BEGIN(t);
	while (s->left) {
		s->left--;
		s->dur = scn_below(&s->r, s->w->max_sleep_ns + 1);
		s->until = scn_chance(&s->r, 25);
		s->before = urt_now_ns();
		if (s->until)
			URT_AWAIT(t, s->ret = urt_sleep_until(t, &s->op, s->before + s->dur));
		else
			URT_AWAIT(t, s->ret = urt_sleep(t, &s->op, s->dur));
		if (s->ret != 0)
			URT_RETURN(t, (uint64_t)(int64_t)s->ret);
		if (urt_now_ns() - s->before < s->dur)
			scn_fail(s->w->why, "sleeper %u: a sleep of %llu ns woke after %llu ns",
				 s->id, (unsigned long long)s->dur,
				 (unsigned long long)(urt_now_ns() - s->before));
	}
	URT_RETURN(t, 0);
	URT_END(t);
}

static void sleeper_drop(struct urt_task *t, void *arg)
{
	struct sleeper *s = arg;

	(void)t;
	dropped(s->w, s->id);
}

static const struct urt_task_type sleeper_type = { .poll = sleeper_poll,
						   .drop = sleeper_drop,
						   .name = "sleeper" };

/* --- nopper: NOPs with deadlines, some cancelled in flight -------------------------- */

struct nopper {
	struct storm *w;
	uint32_t id, left;
	struct scn_rng r;
	struct urt_op op;
	uint64_t timeout;
	int ret;
	bool cancel;
};

static bool nopper_poll(struct urt_task *t, void *arg)
{
	struct nopper *s = arg;

	URT_BEGIN(t);
	while (s->left) {
		s->left--;
		s->timeout = scn_chance(&s->r, 30)
				     ? 0
				     : 1 + scn_below(&s->r, 2 * s->w->so.max_latency_ns);
		s->cancel = scn_chance(&s->r, 15);
		urt_op_set_timeout(&s->op, s->timeout);
		s->ret = urt_nop(t, &s->op);
		if (s->ret == URT_PENDING) {
			if (s->cancel && urt_op_cancel(&s->op))
				scn_fail(s->w->why, "nopper %u: cancel of a NOP in flight failed",
					 s->id);
			URT_AWAIT(t, s->ret = urt_nop(t, &s->op));
		}
		if (s->ret == 0 && urt_op_timed_out(&s->op))
			scn_fail(s->w->why, "nopper %u: a NOP returned 0 and timed out", s->id);
		else if (s->ret == -ECANCELED && !urt_op_timed_out(&s->op) && !s->cancel)
			scn_fail(s->w->why,
				 "nopper %u: -ECANCELED with no deadline fired, no cancel", s->id);
		else if (s->ret != 0 && s->ret != -ECANCELED)
			URT_RETURN(t, (uint64_t)(int64_t)s->ret);
	}
	URT_RETURN(t, 0);
	URT_END(t);
}

static void nopper_drop(struct urt_task *t, void *arg)
{
	struct nopper *s = arg;

	(void)t;
	dropped(s->w, s->id);
}

static const struct urt_task_type nopper_type = { .poll = nopper_poll,
						  .drop = nopper_drop,
						  .name = "nopper" };

/* --- the server: an accept stream, an echo task per connection ----------------------- */

struct server {
	struct storm *w;
	uint32_t id;
	struct urt_op acc;
	int n;
};

static bool server_poll(struct urt_task *t, void *arg)
{
	struct server *s = arg;
	struct storm *w = s->w;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, s->n = urt_accept_stream(t, &s->acc, w->lfd));
		if (s->n == -EMFILE || s->n == -ENFILE)
			continue; /* reported once; the stream backs off and goes on */
		if (s->n < 0) {
			if (!w->lax)
				scn_fail(w->why, "server: accept %d", s->n);
			URT_RETURN(t, (uint64_t)(int64_t)s->n);
		}
		{
			uint32_t id = id_new(w);
			struct scn_echo c = { .fd = s->n,
					      .done = &w->conns_done,
					      .dropped = &w->drops[id] };
			int ret = spawn(w, &scn_echo_type, &c, sizeof(c), NULL);

			if (ret) {
				scn_fail(w->why, "server: spawn %d", ret);
				URT_DISCARD(urt_close_detached(c.fd));
				w->drops[id]++; /* never a task: no drop will count it */
			} else {
				w->conns++;
			}
		}
	}
	URT_END(t);
}

static void server_drop(struct urt_task *t, void *arg)
{
	struct server *s = arg;
	int fd = urt_op_take_late(&s->acc);

	(void)t;
	if (fd >= 0)
		URT_DISCARD(urt_close_detached(fd));
	URT_DISCARD(urt_close_detached(s->w->lfd));
	dropped(s->w, s->id);
}

static const struct urt_task_type server_type = { .poll = server_poll,
						  .drop = server_drop,
						  .name = "storm-server" };

/* --- client: connect, send a pattern, read it back, shut down, see EOF, close -------- */

enum { CL_OK, CL_SOCKET, CL_CONNECT, CL_SEND, CL_RECV, CL_DIFF, CL_SHUT, CL_EOF, CL_CLOSE };

struct client {
	struct storm *w;
	uint32_t id, len;
	struct scn_rng r;
	struct urt_op op;
	struct urt_io_all io;
	struct sockaddr_in sa; /* read when the SQE is taken: in the state */
	uint8_t *out, *in;     /* urt_task_alloc: freed with the task */
	int fd, n;
	bool closing; /* the urt_close of fd was submitted */
};

static uint64_t client_end(struct client *c, int step)
{
	if (!c->w->lax)
		scn_fail(c->w->why, "client %u: step %d failed: %d", c->id, step, c->n);
	return (uint64_t)step;
}

static bool client_poll(struct urt_task *t, void *arg)
{
	struct client *c = arg;

	URT_BEGIN(t);
	c->len = 1 + (uint32_t)scn_below(&c->r, c->w->max_len);
	c->out = urt_task_alloc(t, 2 * (size_t)c->len);
	if (!c->out) {
		c->n = -ENOMEM;
		URT_RETURN(t, client_end(c, CL_SOCKET));
	}
	c->in = c->out + c->len;
	for (uint32_t i = 0; i < c->len; i++)
		c->out[i] = (uint8_t)(c->id * 131 + i * 7 + (i >> 8));
	c->sa = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(c->w->port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	URT_AWAIT(t, c->fd = urt_socket(t, &c->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (c->fd < 0) {
		c->n = c->fd;
		URT_RETURN(t, client_end(c, CL_SOCKET));
	}
	URT_AWAIT(t,
		  c->n = urt_connect(t, &c->op, c->fd, (struct sockaddr *)&c->sa, sizeof(c->sa)));
	if (c->n < 0)
		URT_RETURN(t, client_end(c, CL_CONNECT));
	URT_AWAIT(t, c->n = urt_send_all(t, &c->io, c->fd, c->out, c->len));
	if (c->n != (int)c->len)
		URT_RETURN(t, client_end(c, CL_SEND));
	URT_AWAIT(t, c->n = urt_recv_exact(t, &c->io, c->fd, c->in, c->len));
	if (c->n != (int)c->len)
		URT_RETURN(t, client_end(c, CL_RECV));
	if (memcmp(c->in, c->out, c->len))
		URT_RETURN(t, client_end(c, CL_DIFF));
	URT_AWAIT(t, c->n = urt_shutdown(t, &c->op, c->fd, SHUT_WR));
	if (c->n < 0)
		URT_RETURN(t, client_end(c, CL_SHUT));
	URT_AWAIT(t, c->n = urt_recv(t, &c->op, c->fd, c->in, 1, 0));
	if (c->n != 0)
		URT_RETURN(t, client_end(c, CL_EOF));
	c->closing = true;
	URT_AWAIT(t, c->n = urt_close(t, &c->op, c->fd));
	c->fd = -1;
	if (c->n < 0)
		URT_RETURN(t, client_end(c, CL_CLOSE));
	c->w->clients_ok++;
	URT_RETURN(t, CL_OK);
	URT_END(t);
}

static void client_drop(struct urt_task *t, void *arg)
{
	struct client *c = arg;

	(void)t;
	if (c->fd == URT_PENDING) { /* aborted in the socket call: its result is in op */
		int fd = urt_op_take_late(&c->op);

		if (fd >= 0)
			URT_DISCARD(urt_close_detached(fd));
	} else if (c->fd >= 0) {
		/* open unless the urt_close ran: a close cancelled before it
		 * ran leaves it open (and closing it twice could close the
		 * next socket given that number) */
		int ret = urt_op_take_late(&c->op);

		if (!c->closing || ret == -ECANCELED)
			URT_DISCARD(urt_close_detached(c->fd));
	}
	dropped(c->w, c->id);
}

static const struct urt_task_type client_type = { .poll = client_poll,
						  .drop = client_drop,
						  .name = "storm-client" };

/* --- parent: spawns children and joins them; its drop aborts what is left ----------- */

#define MAX_CHILDREN 3

struct parent {
	struct storm *w;
	uint32_t id, nchild, i;
	struct urt_join kids[MAX_CHILDREN];
	uint64_t out;
	int ret;
};

static bool parent_poll(struct urt_task *t, void *arg)
{
	struct parent *p = arg;
	struct storm *w = p->w;

	URT_BEGIN(t);
	for (p->i = 0; p->i < p->nchild; p->i++) {
		uint32_t id = id_new(w);
		int ret;

		if (scn_chance(&w->rng, 50)) {
			struct sleeper s = { .w = w,
					     .id = id,
					     .left = 1 + (uint32_t)scn_below(&w->rng, 3) };

			s.r.s = scn_rand(&w->rng);
			ret = spawn(w, &sleeper_type, &s, sizeof(s), &p->kids[p->i]);
		} else {
			struct nopper s = { .w = w,
					    .id = id,
					    .left = 1 + (uint32_t)scn_below(&w->rng, 4) };

			s.r.s = scn_rand(&w->rng);
			ret = spawn(w, &nopper_type, &s, sizeof(s), &p->kids[p->i]);
		}
		if (ret) {
			scn_fail(w->why, "parent %u: spawn %d", p->id, ret);
			w->drops[id]++;
		}
	}
	for (p->i = 0; p->i < p->nchild; p->i++) {
		if (urt_join_is_empty(&p->kids[p->i]))
			continue;
		URT_AWAIT(t, p->ret = urt_join_await(t, &p->kids[p->i], &p->out));
		if (p->ret != 0 || p->out != 0) {
			if (!w->lax)
				scn_fail(w->why, "parent %u: child %u ended %d/%lld", p->id, p->i,
					 p->ret, (long long)p->out);
			URT_RETURN(t, 1);
		}
	}
	URT_RETURN(t, 0);
	URT_END(t);
}

static void parent_drop(struct urt_task *t, void *arg)
{
	struct parent *p = arg;

	(void)t;
	for (uint32_t i = 0; i < MAX_CHILDREN; i++) {
		if (urt_join_is_empty(&p->kids[i]))
			continue;
		if (urt_join_abort(&p->kids[i]) == 0)
			p->w->aborts++;
		urt_join_detach(&p->kids[i]);
	}
	dropped(p->w, p->id);
}

static const struct urt_task_type parent_type = { .poll = parent_poll,
						  .drop = parent_drop,
						  .name = "storm-parent" };

const struct urt_task_type *const storm_types[] = {
	&sleeper_type, &nopper_type, &scn_echo_type, &server_type, &client_type, &parent_type,
};
const size_t storm_ntypes = sizeof(storm_types) / sizeof(storm_types[0]);

/* --- the world ------------------------------------------------------------------- */

static int spawn_first(struct storm *w, uint32_t i)
{
	struct urt_join *j = &w->joins[i];
	uint32_t id = id_new(w);
	enum storm_kind k;

	do
		k = (enum storm_kind)scn_below(&w->rng, SK_KINDS);
	while (!w->kinds[k]);
	w->kind[i] = (uint8_t)k;
	switch (k) {
	case SK_SLEEPER: {
		struct sleeper s = { .w = w,
				     .id = id,
				     .left = 1 + (uint32_t)scn_below(&w->rng, 8) };

		s.r.s = scn_rand(&w->rng);
		return spawn(w, &sleeper_type, &s, sizeof(s), j);
	}
	case SK_NOPPER: {
		struct nopper s = { .w = w,
				    .id = id,
				    .left = 1 + (uint32_t)scn_below(&w->rng, 16) };

		s.r.s = scn_rand(&w->rng);
		return spawn(w, &nopper_type, &s, sizeof(s), j);
	}
	case SK_CLIENT: {
		struct client s = { .w = w, .id = id, .fd = -1 };

		s.r.s = scn_rand(&w->rng);
		w->clients++;
		return spawn(w, &client_type, &s, sizeof(s), j);
	}
	default: {
		struct parent s = { .w = w,
				    .id = id,
				    .nchild = 1 + (uint32_t)scn_below(&w->rng, MAX_CHILDREN) };

		return spawn(w, &parent_type, &s, sizeof(s), j);
	}
	}
}

bool storm_init(struct storm *w, const struct scn_opts *o, const char *tag)
{
	int ret;
	bool any = false;

	memset(w, 0, sizeof(*w));
	scn_rng_seed(&w->rng, o->seed, tag);
	scn_knobs(&w->rng, o, &w->so, &w->ro);
	w->lax = o->faults_pct > 0;
	while (!any) /* swarm: each kind in or out */
		for (int k = 0; k < SK_KINDS; k++)
			any |= w->kinds[k] = scn_chance(&w->rng, 60);
	w->max_sleep_ns = scn_chance(&w->rng, 50) ? 4 * w->so.max_latency_ns : 10000000;
	/* the echo cannot deadlock: what a client sends fits the two queues */
	w->max_len = 2 * w->so.rcvbuf < 16384 ? 2 * w->so.rcvbuf : 16384;
	w->n = 10 + (uint32_t)scn_below(&w->rng, 191);
	w->ids_cap = (2 + MAX_CHILDREN) * w->n + 1;
	w->joins = calloc(w->n + 1, sizeof(*w->joins));
	w->kind = calloc(w->n, 1);
	w->drops = calloc(w->ids_cap + 1, 1);
	if (!w->joins || !w->kind || !w->drops)
		return scn_fail(w->why, "out of memory");
	ret = urt_sim_create(&w->sim, &w->so);
	if (ret)
		return scn_fail(w->why, "urt_sim_create %d", ret);
	w->ro.sim = w->sim;
	ret = urt_runtime_init(&w->rt, &w->ro);
	if (ret)
		return scn_fail(w->why, "urt_runtime_init %d", ret);
	w->rt_up = true;
	w->lfd = urt_listen_tcp("127.0.0.1", 0, 128, 0, &w->port);
	if (w->lfd < 0)
		return scn_fail(w->why, "urt_listen_tcp %d", w->lfd);
	for (uint32_t i = 0; i < w->n; i++) {
		ret = spawn_first(w, i);
		if (ret)
			return scn_fail(w->why, "spawn of task %u: %d", i, ret);
	}
	{
		struct server s = { .w = w, .id = id_new(w) };

		ret = spawn(w, &server_type, &s, sizeof(s), &w->joins[w->n]);
		if (ret) {
			URT_DISCARD(urt_close_detached(w->lfd));
			return scn_fail(w->why, "spawn of the server: %d", ret);
		}
	}
	return true;
}

bool storm_check_drops(struct storm *w)
{
	for (uint32_t id = 0; id < w->nids; id++)
		if (w->drops[id] != 1)
			return scn_fail(w->why, "task id %u: its drop ran %u times", id,
					w->drops[id]);
	return true;
}

void storm_finish(struct storm *w, struct scn_result *r)
{
	if (w->rt_up)
		(void)urt_runtime_deinit(&w->rt);
	w->rt_up = false;
	if (w->sim) {
		r->hash = urt_sim_hash(w->sim);
		r->events = urt_sim_events(w->sim);
		urt_sim_destroy(w->sim);
	}
	if (w->why[0]) {
		char k[160];

		scn_knobs_str(k, sizeof(k), &w->so, &w->ro);
		snprintf(r->why, sizeof(r->why), "%.150s [n=%u %.90s]", w->why, w->n, k);
	} else {
		r->why[0] = 0;
	}
	free(w->joins);
	free(w->kind);
	free(w->drops);
}
