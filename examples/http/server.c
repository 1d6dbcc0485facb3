/* SPDX-License-Identifier: MIT */
/*
 * http/server.c - urt-http's server for one runtime (http/server.h): the
 * connection task, the sweeper, the acceptor. urt-http.c describes what
 * it does and why.
 */
#include "server.h"

#include "../reserve.h"
#include "../tls-server.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK	   HTTP_CHUNK
#define SMALL	   HTTP_SMALL
#define IN_FIRST   HTTP_IN_FIRST
/* the answers of a batch of pipelined requests gathered in the output: sent
 * before another request is parsed if one more answer could pass it */
#define OUT_MAX	   HTTP_OUT_MAX
#define ANSWER_MAX (SMALL + 1024) /* the most one answer adds: a small file and its head */
#define LINGER_MAX HTTP_LINGER_MAX
#define SWEEP_MS   HTTP_SWEEP_MS
#define HELLO_BODY HTTP_HELLO_BODY

/* --- the connection ------------------------------------------------------------ */

struct conn {
	struct http_server *s;
	int fd, n, ret, file;
	int pipe[2];		  /* file -> pipe -> socket while a body goes (pipe_ready); -1: none */
	int fill[2];		  /* a pipe body being filled for the cache (body_fill), or -1 */
	size_t filled;		  /* its bytes so far */
	size_t piped;		  /* bytes in the pipe, still to go to the socket */
	bool spliced;		  /* a file byte of this body went into the pipe */
	bool copying;		  /* this body goes by read and send */
	bool full;		  /* the socket refused the last splice (-EAGAIN): wait for room */
	bool full_since;	  /* no byte spliced since it refused one: send_by runs */
	bool napping;		  /* the poll cannot wait for room: nap ROOM_NAP_MS, splice again */
	bool tls_on;		  /* accepted on the TLS listener (c->tls below) */
	bool clean;		  /* ending by HTTP, not by a failure: TLS sends close_notify */
	bool tls_piece;		  /* tls_send: a piece is under way (its send_by is set) */
	bool tls_out;		  /* the TLS layer's out-buffer is counted in c->mem */
	uint64_t head_by;	  /* the head begun in `in` must be whole by then (0: none begun) */
	uint64_t send_by;	  /* the answers in `out` must be sent, or a full socket
				   * take a spliced byte, by then */
	uint64_t wait_by;	  /* the deadline of its place in its wait list */
	struct http_link all, wait;	  /* in s->all; in a wait list (the sweeper's) while it waits */
	struct http_link sending; /* in s->sends while send_out sends a batch (by send_by) */
	struct http_link body;	  /* in s->bodies or s->bodies_bare while a large body goes */
	uint64_t moved_ns;	  /* when its peer last took bytes of it */
	uint32_t fds;		  /* descriptors its body holds, counted in s->body_fds */
	uint64_t open_by;	  /* an open refused for a full table is tried until then */
	struct http_link *wait_list;	  /* which list, or NULL */
	struct urt_task *t;	  /* its task, once it has run (for conn_kill) */
	/* HTTPS: the connection (task memory, made when its task starts), or
	 * NULL for plain HTTP; its reads and writes go through tls_recv and
	 * tls_send, the only two I/O points that differ */
	struct urt_tls *tls;
	size_t tls_sent;	  /* tls_send: bytes of the current write done */
	size_t mem;		  /* in_cap + out_cap, counted in s->mem */
	size_t at;		  /* where the input not yet parsed begins in `in` */
	struct http_scan scan;	  /* http_head_ready's look at the head at `at` */
	uint64_t batch;		  /* requests answered since the last receive or send */
	bool killed;		  /* closed from outside: past a deadline or the budget */
	struct urt_op rx, nap, op;
	struct urt_io_all tx;
	struct urt_buf b;
	char *in, *out, *chunk; /* task memory */
	size_t in_len, in_cap, out_len, out_cap;
	size_t used;	       /* bytes of the current request in `in` */
	uint64_t body_left;    /* request body still to skip */
	uint64_t lingered;     /* bytes dropped in the staged close */
	struct http_chunked ck; /* where a chunked body being skipped is */
	uint64_t off, left;    /* the file range still to send */
	bool keep, head_only, closing;
	struct http_req req; /* slices of `in`, which stays put while it is served */
	struct http_fentry *fe;	    /* the file's cache entry, held while it is served, or NULL */
	const struct http_fmeta *m; /* the file's size, times, validators: fe's or own's */
	size_t body_at;		    /* where a small body read into `out` begins */
	union {			    /* statx's answer, then (uncached) what is made of it */
		struct statx stx;
		struct http_fmeta own;
	};
	struct open_how how;
	char *pathp;   /* path, or c->chunk for a longer one (PATH_MAX at most) */
	char path[512];
};

/*
 * Op records a connection holds at once, reserved for --max-conns at init
 * (reserve.h): its receive stream, armed for its life, and the one handle
 * it awaits (c->tx: a send, a poll or a splice to the socket; c->op: a
 * file's open, statx, read, splice or close, a shutdown; c->nap: a nap).
 * Over TLS the layer's receive and send and a deadline: the handshake's
 * or its close's (the layer's nap), or a write's (c->nap, raced with it).
 */
#define CONN_OPS     2
#define CONN_OPS_TLS 3

/*
 * Task memory a connection holds at once, reserved for --max-conns at init
 * as well (reserve.h): its task's scope, and its input and output at their
 * first size (IN_FIRST: one 4 KiB size class) while a request is being
 * served; an idle connection holds neither (in_compact). Past those (a
 * head or a batch of answers that outgrows 4000 bytes, the 64 KiB chunk of
 * a body read and sent, TLS's state) a block is larger than any size
 * class, and each is an allocator call.
 */
#define CONN_BUFS 2

/* --- lists, memory, closing from outside ------------------------------------------ */

static void link_init(struct http_link *h)
{
	h->prev = h->next = h;
}

static void link_add_tail(struct http_link *h, struct http_link *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static void link_del(struct http_link *n)
{
	if (!n->next)
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = NULL;
}

#define conn_of(l, member) ((struct conn *)(void *)((char *)(l) - offsetof(struct conn, member)))

/* Wait in list (s->idle, s->heads or s->lingers) until by: at its tail,
 * where a later deadline than any before it keeps the list in order.
 * Staying in the same list with the same deadline keeps the place. O(1). */
static void wait_in(struct conn *c, struct http_link *list, uint64_t by)
{
	if (c->wait_list == list && c->wait_by == by)
		return;
	link_del(&c->wait);
	link_add_tail(list, &c->wait);
	c->wait_list = list;
	c->wait_by = by;
}

static void wait_done(struct conn *c)
{
	link_del(&c->wait);
	c->wait_list = NULL;
}

static size_t conn_unread(const struct conn *c)
{
	return urt_recv_stream_held(c->tls ? &c->tls->rx : &c->rx);
}

/* --- the descriptor budget ------------------------------------------------------------ */

/*
 * A body in flight holds descriptors of its own: its splice pipe (two) and
 * its file when the cache does not own it (one). A peer that asks for a
 * large file and never reads keeps them until --send-ms, and a few hundred
 * such peers asking for distinct files took every descriptor: new clients
 * got nothing (review5). So the bodies share a budget (--max-body-fds,
 * s->o.fd_budget; 0: none), and when it is reached, or the kernel refuses
 * a descriptor (EMFILE or ENFILE on an open, a pipe or an accept), the
 * bodies whose peer has taken no byte for longest are closed (conn_kill),
 * so the descriptors go to whoever is served next, as --max-clients-mem
 * closes the largest holders of memory. A large body is in a list while
 * it goes, moved to the tail each time its peer takes bytes, so the list
 * is in the order of their last progress, the stalled longest first: O(1)
 * to keep (a move per 64 KiB) and to pick from. A reader that keeps
 * reading is at the tail; one that never reads drifts to the front. Only
 * a body stalled SHED_STALL_MS is closed: the kernel reports room in a
 * socket to a sender in bursts, so a client that reads steadily can show
 * no progress for most of a second (send_out). With no such body, a body
 * goes without a pipe (read and send), and its file, the least a body
 * needs, is opened anyway.
 *
 * The lists are two, by whether the body holds descriptors the budget
 * counts (c->fds): s->bodies, those that do, and s->bodies_bare, those
 * that do not (over TLS or --no-splice, served from the cache's
 * descriptor, which stays open). The budget closes from s->bodies only:
 * closing a bare body frees nothing it counts, and a slow client would
 * lose its answer for nothing (review 8). A full table closes from both,
 * the older front first: any body closed gives back its socket (not one
 * an open or a pipe needs under --fixed-fds: see shed_of). A body
 * whose c->fds crosses 0 mid-body changes lists (fds_count), put in its
 * place by moved_ns so both stay in order.
 */
#define SHED_STALL_MS 1000

static struct http_link *body_list(struct conn *c)
{
	return c->fds ? &c->s->bodies : &c->s->bodies_bare;
}

/* c, its c->fds just across 0 mid-body, into its new list in the order of
 * moved_ns: from the tail back past the bodies that moved since. */
static void body_insert(struct conn *c)
{
	struct http_link *list = body_list(c), *at = list->prev;

	while (at != list && conn_of(at, body)->moved_ns > c->moved_ns)
		at = at->prev;
	link_add_tail(at->next, &c->body);
}

static void body_moved(struct conn *c)
{
	if (c->killed)
		return;
	c->moved_ns = urt_now_ns();
	if (c->body.next)
		link_del(&c->body);
	else
		c->s->nbodies++;
	link_add_tail(body_list(c), &c->body); /* it moved last: the tail is its place */
}

static void body_done(struct conn *c)
{
	if (c->body.next) {
		link_del(&c->body);
		c->s->nbodies--;
	}
}

/*
 * c's share of s->body_fds, after its pipe or its file changed hands; a
 * body under way that starts or stops holding any changes lists. Its file
 * counts when it is its own, or when its entry was detached from the cache
 * (the file changed, or a newer open of it took its place) and c holds the
 * last reference: c's end closes it, and an attacker who makes entries
 * drop under slow bodies would hold descriptors past the budget
 * (cache_unref, file_opened: the body left holding one is counted then).
 */
static void fds_count(struct conn *c)
{
	uint32_t now = (c->pipe[0] >= 0 ? 2u : 0u) +
		       (c->file >= 0 && (!c->fe || http_fcache_lone(c->fe)) ? 1u : 0u);
	bool moves = c->body.next && !c->fds != !now;

	if (c->killed)
		return;
	c->s->body_fds = c->s->body_fds - c->fds + now;
	c->fds = now;
	if (moves) {
		link_del(&c->body);
		body_insert(c);
	}
}

/* Close c from outside its task (or from inside, between awaits): every
 * operation of its task is cancelled, so whatever it waits on returns an
 * error and it ends; its buffers leave the count now (they are freed when
 * the task is reclaimed, after its operations have completed). */
static void conn_kill(struct conn *c)
{
	if (c->killed)
		return;
	c->killed = true;
	c->closing = true;
	c->s->mem -= c->mem;
	c->mem = 0;
	c->s->body_fds -= c->fds; /* closed by its drop, within a tick */
	c->fds = 0;
	body_done(c);
	wait_done(c);
	link_del(&c->sending);
	if (c->t)
		(void)urt_task_cancel_ops(c->t);
}

/*
 * Whether c was closed from outside and none of its body's operations is
 * in flight or holds a result not read yet: then it may stop instead of
 * starting another. A kill that lands while a completion of c's waits to
 * be polled cancels nothing (urt_task_cancel_ops finds it done), so the
 * body would go on outside the budget (conn_kill took its descriptors out
 * of body_fds) and the shed's reach (review 7). An awaitable re-entered
 * with an operation in flight must await it first (the cancel's
 * completion, or the result that beat it): a handle left holding a result
 * would give it to the next call on it, the close of the file.
 */
static bool killed_idle(const struct conn *c)
{
	return c->killed && c->op.state == URT_OP_IDLE && c->tx.op.state == URT_OP_IDLE &&
	       c->nap.state == URT_OP_IDLE;
}

/* The front of list (stalled longest), or NULL if it is empty. */
static struct conn *body_front(struct http_link *list)
{
	return list->next == list ? NULL : conn_of(list->next, body);
}

/*
 * Which bodies a shed may close: those holding descriptors the budget
 * counts (SHED_COUNTED); those and the bare ones whose close gives back
 * a process descriptor (SHED_FDS: an open or a pipe refused); any (SHED_ANY:
 * the acceptor refused, and any socket closed frees a slot of the table
 * it is in). A bare body's socket is a direct descriptor under
 * --fixed-fds, in the ring's table: closing it frees nothing an open or
 * a pipe needs. (A body holding the last reference to a detached entry,
 * whose end closes the descriptor, holds one the budget counts: it is in
 * s->bodies, fds_count.) Only the bare list's front is looked at (a
 * runtime's sockets are all direct or none): no walk.
 */
enum shed_of { SHED_COUNTED, SHED_FDS, SHED_ANY };

/* Whether closing c, a bare body, gives back a process descriptor. */
static bool bare_frees_fd(const struct conn *c)
{
	return !urt_fd_is_fixed(c->fd);
}

/* Close the body stalled longest among those of, if it has been stalled
 * SHED_STALL_MS. Return: whether there was one. */
static bool shed_one(struct http_server *s, enum shed_of of)
{
	struct conn *c = body_front(&s->bodies);
	struct conn *b = of != SHED_COUNTED ? body_front(&s->bodies_bare) : NULL;

	if (b && of == SHED_FDS && !bare_frees_fd(b))
		b = NULL;
	if (b && (!c || b->moved_ns < c->moved_ns))
		c = b;
	if (!c || urt_now_ns() - c->moved_ns < SHED_STALL_MS * 1000000ull)
		return false;
	conn_kill(c);
	s->shed++;
	return true;
}

/* Room within the descriptor budget for need more held by bodies: the
 * bodies stalled longest that hold some are closed to make it. Return:
 * whether there is. */
static bool fds_room(struct http_server *s, uint32_t need)
{
	while (s->o.fd_budget && s->body_fds + need > s->o.fd_budget)
		if (!shed_one(s, SHED_COUNTED))
			return false;
	return true;
}

/*
 * Past the budget: close the largest holders (buffers and unread stream
 * bytes) until the estimate `held` of all of them is within it, as redis's
 * maxmemory-clients does. A scan of the runtime's connections per one
 * closed: done only when over budget.
 */
static void evict(struct http_server *s, size_t held)
{
	while (held > s->o.mem_budget) {
		struct conn *big = NULL;
		size_t most = 0;

		for (struct http_link *l = s->all.next; l != &s->all; l = l->next) {
			struct conn *c = conn_of(l, all);
			size_t n = c->mem + conn_unread(c);

			if (!c->killed && n > most)
				big = c, most = n;
		}
		if (!big)
			return;
		conn_kill(big);
		s->evicted++;
		held = held > most ? held - most : 0;
	}
}

/* A buffer's capacity changed by delta: the connection's and the runtime's counts. */
static void mem_add(struct conn *c, size_t old, size_t now)
{
	if (c->killed)
		return;
	c->mem = c->mem - old + now;
	c->s->mem = c->s->mem - old + now;
	if (now > old && c->s->mem > c->s->o.mem_budget)
		evict(c->s, c->s->mem);
}

/* Room for need bytes in *buf, doubling, but at most limit when need fits
 * in it. Return: false out of memory, or c was closed for the budget. */
static bool grow(struct urt_task *t, struct conn *c, char **buf, size_t *cap, size_t need,
		 size_t limit)
{
	size_t ncap = *cap ? *cap : IN_FIRST;
	char *p;

	if (c->killed)
		return false;
	while (ncap < need)
		ncap *= 2;
	if (ncap > limit && need <= limit)
		ncap = limit;
	p = urt_task_alloc(t, ncap);
	if (!p)
		return false;
	if (*buf) {
		memcpy(p, *buf, *cap);
		urt_task_free(t, *buf);
	}
	*buf = p;
	mem_add(c, *cap, ncap);
	*cap = ncap;
	return !c->killed;
}

static void release(struct urt_task *t, struct conn *c, char **buf, size_t *cap)
{
	if (!*buf)
		return;
	urt_task_free(t, *buf);
	mem_add(c, *cap, 0);
	*buf = NULL;
	*cap = 0;
}

/* Append the received chunk in c->b to the input. */
static bool in_append(struct urt_task *t, struct conn *c)
{
	if (c->in_len + c->b.len > c->in_cap &&
	    !grow(t, c, &c->in, &c->in_cap, c->in_len + c->b.len, SIZE_MAX))
		return false;
	memcpy(c->in + c->in_len, c->b.data, c->b.len);
	c->in_len += c->b.len;
	return true;
}

/* put with the output to grow first (out of line: put stays small enough to
 * inline, so a literal's copy is a few moves, not a call) */
static void __attribute__((noinline)) put_grow(struct urt_task *t, struct conn *c, const void *p,
					       size_t n)
{
	if (!grow(t, c, &c->out, &c->out_cap, c->out_len + n, OUT_MAX)) {
		c->closing = true;
		return;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static inline void put(struct urt_task *t, struct conn *c, const void *p, size_t n)
{
	if (__builtin_expect(c->out_len + n > c->out_cap, 0)) {
		put_grow(t, c, p, n);
		return;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

/* a string literal, its length known at compile time */
#define put_lit(t, c, lit) put(t, c, lit, sizeof(lit) - 1)

static void put_str(struct urt_task *t, struct conn *c, const char *p)
{
	put(t, c, p, strlen(p));
}

/* v in decimal: heads are built without printf (a request's cost) */
static void put_u64(struct urt_task *t, struct conn *c, uint64_t v)
{
	char tmp[20];
	size_t n = sizeof(tmp);

	do
		tmp[--n] = (char)('0' + v % 10);
	while ((v /= 10));
	put(t, c, tmp + n, sizeof(tmp) - n);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 412: return "Precondition Failed";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/*
 * The wall clock: time(2) on a real kernel; on the model, its virtual
 * clock in seconds since the epoch (the clock of its file times), so a
 * run replays and Date agrees with the files' Last-Modified.
 */
static time_t wall_now(const struct http_server *s)
{
	return s->sim ? (time_t)(urt_now_ns() / 1000000000u) : time(NULL);
}

/* Date: formatted once a second per runtime. */
static const char *date_now(struct http_server *s)
{
	time_t now = wall_now(s);

	if (now != s->date_sec) {
		http_date_fmt(s->date, now);
		s->date_sec = now;
	}
	return s->date;
}

/* Connection: close when this answer ends the connection; keep-alive when
 * an HTTP/1.0 client asked for it and it is kept (RFC 9112 9.3, C.2.2:
 * without it the client closes, its keep-alive unacknowledged). */
static void conn_field(struct urt_task *t, struct conn *c)
{
	if (!c->keep)
		put(t, c, "Connection: close\r\n", 19);
	else if (c->req.minor == 0)
		put(t, c, "Connection: keep-alive\r\n", 24);
}

/* "NNN Reason": the status line's tail, an error's body. */
static void put_status(struct urt_task *t, struct conn *c, int status)
{
	put_u64(t, c, (uint64_t)status);
	put_lit(t, c, " ");
	put_str(t, c, reason(status));
}

/* The status line and the headers every response has. */
static void head(struct urt_task *t, struct conn *c, int status, const char *type,
		 uint64_t length)
{
	put_lit(t, c, "HTTP/1.1 ");
	put_status(t, c, status);
	put_lit(t, c, "\r\nServer: urt-http\r\nDate: ");
	put(t, c, date_now(c->s), HTTP_DATE_LEN);
	if (type) {
		put_lit(t, c, "\r\nContent-Type: ");
		put_str(t, c, type);
	}
	put_lit(t, c, "\r\nContent-Length: ");
	put_u64(t, c, length);
	put(t, c, "\r\n", 2);
	conn_field(t, c);
}

/* An error with a short text body. Statuses that leave the stream in doubt close. */
static void error(struct urt_task *t, struct conn *c, int status)
{
	size_t n = 3 + 1 + strlen(reason(status)) + 1; /* "NNN Reason\n" */

	if (status != 404 && status != 405 && status != 412 && status != 416 && status != 503)
		c->keep = false; /* the request could not be read: the stream is lost */
	head(t, c, status, "text/plain", (uint64_t)n);
	if (status == 405)
		put(t, c, "Allow: GET, HEAD\r\n", 18);
	if (status == 503) /* a full descriptor table: one may be free in a second */
		put(t, c, "Retry-After: 1\r\n", 16);
	put(t, c, "\r\n", 2);
	if (!c->head_only) {
		put_status(t, c, status);
		put(t, c, "\n", 1);
	}
}

static struct slice target_origin(struct slice tg);

/* A directory named without its slash: 301 to the same target with one
 * (path as received, so still %-encoded, then the query), as users and
 * relative links inside the directory expect. */
static void redirect_dir(struct urt_task *t, struct conn *c)
{
	struct slice tg = target_origin(c->req.target);
	size_t q = 0;

	while (q < tg.n && tg.p[q] != '?')
		q++;
	head(t, c, 301, NULL, 0);
	put(t, c, "Location: ", 10);
	put(t, c, tg.p, q);
	put(t, c, "/", 1);
	put(t, c, tg.p + q, tg.n - q);
	put(t, c, "\r\n\r\n", 4);
}

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" }, { ".htm", "text/html; charset=utf-8" },
		{ ".txt", "text/plain; charset=utf-8" }, { ".css", "text/css" },
		{ ".js", "text/javascript" },		 { ".json", "application/json" },
		{ ".png", "image/png" },		 { ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" },		 { ".gif", "image/gif" },
		{ ".svg", "image/svg+xml" },		 { ".wasm", "application/wasm" },
		{ ".pdf", "application/pdf" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

/*
 * The status for a request's method other than GET and HEAD: 405 (with
 * Allow) for the methods RFC 9110 defines, which urt-http knows and does
 * not allow on files, 501 for any other. Methods are case-sensitive (RFC
 * 9110 9.1): "get" is not GET, and "head" must not get HEAD's framing.
 */
static int method_refused(struct slice m)
{
	static const char *const known[] = { "POST",	"PUT",	 "DELETE", "OPTIONS",
					     "TRACE", "PATCH", "CONNECT" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (slice_eq(m, known[i]))
			return 405;
	return 501;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)(ch | 0x20);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/*
 * The origin-form part of a target (path and query): the target itself, or
 * of an absolute-form one (RFC 9112 3.2.2: a server MUST accept it) what
 * follows "http://authority", the authority not empty; its Host is then
 * ignored, as the RFC asks (urt-http serves one tree whatever the host).
 * A NULL p: an absolute-form target without an authority.
 */
static struct slice target_origin(struct slice tg)
{
	size_t a = 7;

	if (tg.n < 7 || strncasecmp(tg.p, "http://", 7))
		return tg;
	while (a < tg.n && tg.p[a] != '/' && tg.p[a] != '?')
		a++;
	if (a == 7)
		return (struct slice){ NULL, 0 };
	return (struct slice){ tg.p + a, tg.n - a };
}

/*
 * The target's path, %-decoded, without the query, as a path relative to
 * the root ("index.html" for "/"). Return: 0; -400 for a bad encoding or a
 * NUL; -404 for a ".." segment (the kernel would refuse it beneath the
 * root anyway: this gives the answer without a system call).
 */
static int target_path(struct slice tg, char *out, size_t cap)
{
	size_t o_ = 0, i = 0;

	tg = target_origin(tg);
	if (!tg.p)
		return -400;
	if (!tg.n || tg.p[0] == '?') { /* "http://host" or "http://host?q": "/" */
		strcpy(out, "index.html");
		return 0;
	}

	if (!tg.n || tg.p[0] != '/')
		return -400;
	i = 1;
	for (; i < tg.n && tg.p[i] != '?' && tg.p[i] != '#'; i++) {
		char ch = tg.p[i];

		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= tg.n)
				return -400;
			hi = hexval(tg.p[i + 1]);
			lo = hexval(tg.p[i + 2]);
			if (hi < 0 || lo < 0)
				return -400;
			ch = (char)(hi * 16 + lo);
			i += 2;
			if (!ch)
				return -400;
		}
		if (o_ + 1 >= cap)
			return -414;
		out[o_++] = ch;
	}
	out[o_] = 0;
	for (char *seg = out; seg;) { /* any ".." segment */
		char *slash = strchr(seg, '/');
		size_t len = slash ? (size_t)(slash - seg) : strlen(seg);

		if (len == 2 && seg[0] == '.' && seg[1] == '.')
			return -404;
		seg = slash ? slash + 1 : NULL;
	}
	if (!o_ || out[o_ - 1] == '/') {
		if (o_ + sizeof("index.html") >= cap)
			return -414;
		strcpy(out + o_, "index.html");
	}
	return 0;
}

static uint64_t digit(uint64_t v, char d)
{
	unsigned k = (unsigned)(d - '0');

	return v > (UINT64_MAX - k) / 10 ? UINT64_MAX : v * 10 + k;
}

/* Parse "bytes=a-b", "bytes=a-", "bytes=-n" against size. Return: 1 a
 * range set in *from and *len; 0 no usable Range (serve all); -1 unsatisfiable. */
static int parse_range(struct slice r, uint64_t size, uint64_t *from, uint64_t *len)
{
	uint64_t a = 0, b = 0;
	size_t i = 6;
	bool have_a = false, have_b = false;

	if (r.n < 7 || strncasecmp(r.p, "bytes=", 6))
		return 0;
	/* numbers past 2^64 saturate: a first byte that far is past any file
	 * (416), a last byte that far is the file's end */
	for (; i < r.n && r.p[i] >= '0' && r.p[i] <= '9'; i++, have_a = true)
		a = digit(a, r.p[i]);
	if (i == r.n || r.p[i] != '-')
		return 0;
	for (i++; i < r.n && r.p[i] >= '0' && r.p[i] <= '9'; i++, have_b = true)
		b = digit(b, r.p[i]);
	if (i != r.n || (!have_a && !have_b))
		return 0; /* several ranges, or garbage: serve the whole file */
	if (!have_a) { /* the last b bytes */
		if (!b)
			return -1;
		/* satisfiable even when the file is empty (RFC 9110 14.1.2),
		 * but no Content-Range can say "0 bytes of 0": ignore the
		 * Range (14.2 allows it) and answer 200 with the empty file */
		if (!size)
			return 0;
		*from = b >= size ? 0 : size - b;
		*len = size - *from;
		return 1;
	}
	if (a >= size || (have_b && b < a))
		return -1;
	*from = a;
	*len = (have_b && b < size ? b + 1 : size) - a;
	return 1;
}

/*
 * Whether p[0, n) has the shape pat: 'A' an upper-case letter, 'a' a
 * lower-case one, 'd' a digit, '_' a digit or SP, anything else itself.
 */
static bool date_shape(const char *p, size_t n, const char *pat)
{
	if (n != strlen(pat))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];
		bool ok;

		switch (pat[i]) {
		case 'A':
			ok = ch >= 'A' && ch <= 'Z';
			break;
		case 'a':
			ok = ch >= 'a' && ch <= 'z';
			break;
		case 'd':
			ok = ch >= '0' && ch <= '9';
			break;
		case '_':
			ok = ch == ' ' || (ch >= '0' && ch <= '9');
			break;
		default:
			ok = ch == (unsigned char)pat[i];
		}
		if (!ok)
			return false;
	}
	return true;
}

/*
 * Which of the three forms of HTTP-date s is, by its exact grammar (RFC
 * 9110 5.6.7: fixed widths, case-sensitive), before strptime checks the
 * names: strptime alone takes "1 Jan", "jan", "Jan  01" and spaces for
 * digits, and a date that is not an HTTP-date MUST be ignored (13.1.3).
 * Return: 0, 1, 2 (the index into parse_http_date's forms), or -1.
 */
static int date_form(struct slice s)
{
	size_t comma = 0;

	if (date_shape(s.p, s.n, "Aaa, dd Aaa dddd dd:dd:dd GMT"))
		return 0;
	if (date_shape(s.p, s.n, "Aaa Aaa _d dd:dd:dd dddd"))
		return 2;
	while (comma < s.n && comma < 10 && s.p[comma] != ',')
		comma++;
	if (comma >= 6 && comma <= 9 && date_shape(s.p, 1, "A") &&
	    date_shape(s.p + 1, comma - 1, "aaaaaaaa" + 9 - comma) &&
	    date_shape(s.p + comma, s.n - comma, ", dd-Aaa-dd dd:dd:dd GMT"))
		return 1;
	return -1;
}

static int year_now(const struct http_server *s)
{
	struct tm tm;
	time_t now = wall_now(s);

	gmtime_r(&now, &tm);
	return tm.tm_year + 1900;
}

/* An HTTP-date in any of the three forms a recipient MUST accept (RFC
 * 9110 5.6.7): IMF-fixdate, RFC 850 (two-digit year) and asctime. */
static time_t parse_http_date(const struct http_server *srv, struct slice s)
{
	static const char *const forms[] = { "%a, %d %b %Y %H:%M:%S GMT",
					     "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y" };
	char tmp[64];
	int f = date_form(s);
	struct tm tm = { 0 };
	const char *end;

	if (f < 0 || s.n >= sizeof(tmp))
		return (time_t)-1;
	memcpy(tmp, s.p, s.n);
	tmp[s.n] = 0;
	end = strptime(tmp, forms[f], &tm);
	if (!end || *end)
		return (time_t)-1;
	if (f == 1) {
		/* a two-digit year more than 50 years ahead is the last such
		 * year in the past (RFC 9110 5.6.7); strptime's %y pivots at 69 */
		int now = year_now(srv), y = now - now % 100 + tm.tm_year % 100;

		tm.tm_year = (y > now + 50 ? y - 100 : y) - 1900;
	}
	return timegm(&tm);
}

/*
 * Whether the entity-tag list v ("*" or 1#entity-tag, RFC 9110 8.8.3)
 * names etag: by strong comparison (neither weak, same opaque-tag) for
 * If-Match and If-Range, by weak comparison (W/ ignored) for
 * If-None-Match (RFC 9110 8.8.3.2). Our tags are always strong.
 */
static bool etag_in(struct slice v, const char *etag, bool weak)
{
	size_t i = 0, n = strlen(etag);

	if (v.n == 1 && v.p[0] == '*')
		return true;
	while (i < v.n) {
		bool w = false;
		size_t s;

		while (i < v.n && (v.p[i] == ',' || v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		if (i + 1 < v.n && v.p[i] == 'W' && v.p[i + 1] == '/')
			w = true, i += 2;
		if (i >= v.n || v.p[i] != '"')
			return false; /* not a list of tags: matches nothing */
		s = i++;
		while (i < v.n && v.p[i] != '"')
			i++;
		if (i == v.n)
			return false;
		i++;
		if ((weak || !w) && i - s == n && !memcmp(v.p + s, etag, n))
			return true;
	}
	return false;
}

/* etag_in over each line of a list field (name) that came on several
 * lines: together they are one list (RFC 9110 5.3). */
static bool etag_listed_lines(struct slice all, const char *name, const char *etag, bool weak)
{
	struct slice v;

	while (http_field_next(&all, name, &v))
		if (etag_in(v, etag, weak))
			return true;
	return false;
}
/*
 * Wait for more input. No timer of its own: while it waits the connection
 * is in s->idle, s->heads or s->lingers, and the sweeper cancels its
 * stream at its deadline. A head's (or body's) deadline counts from its
 * first byte even while bytes keep coming: checked here after each
 * receive too. Return via c->n: > 0 appended bytes, 0 the peer closed,
 * < 0 an error, the deadline, the budget or no memory.
 */
#define RECV(t, c)                                                                                 \
	do {                                                                                       \
		URT_AWAIT(t, (c)->n = conn_recv(t, c));                                            \
		if ((c)->n > 0 && (c)->head_by && urt_now_ns() >= (c)->head_by)                    \
			(c)->n = -ETIMEDOUT;                                                       \
		if ((c)->killed)                                                                   \
			(c)->n = -ECANCELED;                                                       \
	} while (0)

/* Send the batch of answers in c->out (c->ret: send_out's result). */
#define FLUSH(t, c)                                                                                \
	do {                                                                                       \
		disarm(t, c);                                                                      \
		URT_AWAIT(t, (c)->ret = send_out(t, c));                                           \
		disarm(t, c);                                                                      \
		(c)->out_len = 0;                                                                  \
		(c)->batch = 0;                                                                    \
	} while (0)

/* The send's deadline sleep (send_out) is armed for each send: drop the old one. */
static void disarm(struct urt_task *t, struct conn *c)
{
	if (urt_op_busy(&c->nap))
		urt_op_cancel(&c->nap);
	if (c->nap.state == URT_OP_DONE) /* a sleep's cancel completes at once */
		(void)urt_sleep_until(t, &c->nap, 0);
}

/*
 * Awaitable: send c->out whole, never waiting --send-ms for the peer to
 * read. (Not --idle-ms: the kernel tells a sender of room in its socket in
 * bursts, a third of the send buffer at a time, so a client reading
 * steadily can show no progress for a second when the buffer has grown to
 * megabytes; measured with a reader at 1.5 MB/s.) A batch of answers up
 * to OUT_TIMED waits in s->sends until it is sent, and the sweeper closes
 * the connection at its deadline (conn_kill: the send is cancelled), as
 * it does the idle and head deadlines: no timer per answer. A linked
 * timeout on every answer would cost two kernel operations each (12%
 * fewer requests a second, measured); a sleep raced in user space, as
 * before, cost a timer's arm and cancel each, and the wheel's chunks grow
 * with the rate of those arms (the one heap call of a warm run,
 * docs/design.md). A larger batch takes a while to go out to a reader
 * that keeps reading, so it gets linked timeouts instead, renewed with
 * every send, as a large file's body does.
 */
#define OUT_TIMED (64 * 1024)

static int tls_send(struct urt_task *t, struct conn *c, const char *p, size_t n);

/*
 * Whether a plain send of c's stops here: c was closed from outside and
 * its send is not in flight. Not even the rest of a short one is started
 * (urt_send_all starts it as it reads the result); a result not read yet
 * is dropped (killed_idle). A batch's send that went on after the kill
 * put c back in s->sends, out of conn_kill's reach: at its deadline the
 * sweeper's expire closed it again, a no-op that left it at the front,
 * and looped there forever (review 8).
 */
static bool send_stops(struct conn *c)
{
	if (!c->killed || urt_op_busy(&c->tx.op))
		return false;
	(void)urt_op_take_late(&c->tx.op);
	c->tx.done = 0;
	return true;
}

static int send_out(struct urt_task *t, struct conn *c)
{
	int ret;

	if (c->tls)
		return tls_send(t, c, c->out, c->out_len);
	if (send_stops(c))
		return -ECANCELED;
	if (c->out_len > OUT_TIMED) {
		urt_op_set_timeout(&c->tx.op, 1000000ull * c->s->o.send_ms);
		ret = urt_send_all(t, &c->tx, c->fd, c->out, c->out_len);
		urt_op_set_timeout(&c->tx.op, 0); /* kept by the send in flight */
		return ret;
	}
	if (!c->sending.next && !c->killed) { /* the batch's first send: its deadline */
		c->send_by = urt_now_ns() + 1000000ull * c->s->o.send_ms;
		link_add_tail(&c->s->sends, &c->sending);
	}
	ret = urt_send_all(t, &c->tx, c->fd, c->out, c->out_len);
	if (ret != URT_PENDING)
		link_del(&c->sending);
	return ret;
}

/* --- the two I/O points: plain, or through the TLS layer ------------------------------ */

/* TLS: plaintext read at once into the input: room for at least this much first. */
#define TLS_READ_MIN 2048

/*
 * The connection's TLS state (task memory, counted with OpenSSL's state
 * in c->mem) on its socket, with the handshake's deadline. Return: 0;
 * -ENOMEM (no memory, or closed for the budget); -errno of urt_tls_init.
 */
static int tls_setup(struct urt_task *t, struct conn *c)
{
	int ret = tls_srv_new(t, c->s->o.tls, c->fd, c->s->o.tls_handshake_ms, &c->tls);

	if (ret)
		return ret;
	mem_add(c, 0, sizeof(*c->tls) + TLS_SRV_HANDSHAKE_MEM);
	return c->killed ? -ENOMEM : 0;
}

/*
 * Awaitable: plaintext straight into the input (no chunk to copy from):
 * up to what fits, after making room for TLS_READ_MIN. Return: > 0 bytes
 * appended; 0 the client's close_notify; -errno.
 */
/*
 * Count the TLS layer's out-buffer in c->mem while the connection has one:
 * during a write, and after a read that wrote (answers to a peer's
 * KeyUpdates, which a peer that does not read leaves there).
 */
static void tls_out_count(struct conn *c)
{
	bool held = c->tls_piece || c->tls->out;

	if (held != c->tls_out) {
		c->tls_out = held;
		mem_add(c, held ? 0 : TLS_SRV_OUT_MEM, held ? TLS_SRV_OUT_MEM : 0);
	}
}

static int tls_recv(struct urt_task *t, struct conn *c)
{
	int n;

	if (c->in_cap - c->in_len < TLS_READ_MIN &&
	    !grow(t, c, &c->in, &c->in_cap, c->in_len + TLS_READ_MIN, SIZE_MAX))
		return -ENOMEM;
	n = tls_srv_read(t, c->tls, c->in + c->in_len, c->in_cap - c->in_len);
	tls_out_count(c);
	if (n > 0)
		c->in_len += (size_t)n;
	return n;
}

/*
 * Awaitable: encrypt and send p[0, n), in pieces of OUT_TIMED, each of
 * which must go out within --send-ms (the connection's sleep raced in user
 * space, as send_out races it): so --send-ms bounds how long the answers
 * do not move, as the plain path's linked timeouts do, for a batch, a head
 * or a body's chunk alike. The layer's out-buffer counts in c->mem while
 * the write lasts. Progress: c->tls_sent, c->tls_piece.
 * Return: n; -ETIMEDOUT; -errno of the write.
 */
static int tls_send(struct urt_task *t, struct conn *c, const char *p, size_t n)
{
	while (c->tls_sent < n) {
		size_t k = n - c->tls_sent < OUT_TIMED ? n - c->tls_sent : OUT_TIMED;
		int ret;

		if (!c->tls_piece) {
			c->tls_piece = true;
			c->send_by = urt_now_ns() + 1000000ull * c->s->o.send_ms;
			tls_out_count(c);
			if (c->killed) /* closed for the budget: no write to start */
				return -ECANCELED;
		}
		ret = tls_srv_write(t, c->tls, p + c->tls_sent, k);
		if (ret == URT_PENDING)
			return urt_sleep_until(t, &c->nap, c->send_by) == URT_PENDING ? URT_PENDING
										      : -ETIMEDOUT;
		disarm(t, c);
		c->tls_piece = false;
		tls_out_count(c);
		if (ret < 0) {
			c->tls_sent = 0;
			return ret;
		}
		c->tls_sent += k;
	}
	c->tls_sent = 0;
	return (int)n;
}

/*
 * Awaitable: the next bytes from the client, appended to the input: a
 * chunk of the receive stream copied in (plain), or plaintext decrypted
 * into it (TLS). Return: > 0 bytes; 0 the client closed; -errno (-ENOMEM
 * also for the budget).
 */
static inline int conn_recv(struct urt_task *t, struct conn *c)
{
	int n;

	if (c->tls)
		return tls_recv(t, c);
	n = urt_recv_stream(t, &c->rx, c->fd, &c->b);
	if (n > 0) {
		if (!in_append(t, c))
			n = -ENOMEM;
		urt_buf_free(&c->b);
	}
	return n;
}

/* Awaitable: send p[0, n) whole, as urt_send_all (plain: the caller's
 * linked timeout on c->tx.op bounds it) or tls_send (its own deadline). */
static inline int conn_send(struct urt_task *t, struct conn *c, const char *p, size_t n)
{
	if (c->tls)
		return tls_send(t, c, p, n);
	if (send_stops(c))
		return -ECANCELED;
	return urt_send_all(t, &c->tx, c->fd, p, n);
}

/* If-Range (RFC 9110 13.1.5): the Range holds only if the validator is
 * our ETag (strong comparison) or exactly our Last-Modified date (strong
 * when the file is more than a second old, as ours are served); a weak
 * tag or anything else means the whole file. */
static bool if_range_holds(struct conn *c)
{
	struct slice v = c->req.if_range;

	if (!v.p)
		return true;
	if (v.n && (v.p[0] == '"' || (v.n > 1 && v.p[0] == 'W' && v.p[1] == '/')))
		return v.p[0] == '"' && etag_in(v, c->m->etag, false) && v.p[v.n - 1] == '"';
	return parse_http_date(c->s, v) == (time_t)c->m->mtime &&
	       (time_t)c->m->mtime < wall_now(c->s);
}

/* Serve c->req from the root: open beneath it, answer 304 / 416 / 206 / 200,
 * stream the bytes in chunks. Runs inside conn_poll (a helper of awaits
 * would need a state of its own): see the FILE_* steps there. */
static int file_status(struct conn *c, uint64_t *from, uint64_t *len)
{
	const struct http_req *q = &c->req;
	time_t mtime = (time_t)c->m->mtime, d;
	int ranged = 0;

	/* the preconditions in RFC 9110 13.2.2's order: If-Match, else
	 * If-Unmodified-Since (412); If-None-Match, else If-Modified-Since
	 * (304: only GET and HEAD come here); If-Range decides the Range.
	 * An invalid date is ignored, as the RFC asks. */
	if (q->im.p ? !etag_listed_lines(q->im, "If-Match", c->m->etag, false)
		    : q->ius.p && (d = parse_http_date(c->s, q->ius)) != (time_t)-1 && mtime > d)
		return 412;
	if (q->inm.p ? etag_listed_lines(q->inm, "If-None-Match", c->m->etag, true)
		     : q->ims.p && (d = parse_http_date(c->s, q->ims)) != (time_t)-1 && mtime <= d)
		return 304;
	/* Range only for GET (RFC 9110 14.2); a stale If-Range: the whole file */
	if (q->range.p && !c->head_only && if_range_holds(c))
		ranged = parse_range(q->range, c->m->size, from, len);
	if (ranged < 0)
		return 416;
	if (!ranged) {
		*from = 0;
		*len = c->m->size;
		return 200;
	}
	return 206;
}
/* Last-Modified and ETag, from the file's (cached) validators. */
static void put_validators(struct urt_task *t, struct conn *c)
{
	put_lit(t, c, "Last-Modified: ");
	put(t, c, c->m->lm, HTTP_DATE_LEN);
	put_lit(t, c, "\r\nETag: ");
	put(t, c, c->m->etag, c->m->etag_len);
	put_lit(t, c, "\r\n");
}

static void file_head(struct urt_task *t, struct conn *c, int status, uint64_t from, uint64_t len)
{
	if (status == 304) { /* no content, so no Content-Length; Date as any (RFC 9110 6.6.1) */
		put_lit(t, c, "HTTP/1.1 304 Not Modified\r\nServer: urt-http\r\nDate: ");
		put(t, c, date_now(c->s), HTTP_DATE_LEN);
		put_lit(t, c, "\r\n");
		put_validators(t, c);
		conn_field(t, c);
		put_lit(t, c, "\r\n");
		return;
	}
	if (status == 416) {
		head(t, c, 416, "text/plain", 0);
		put_lit(t, c, "Content-Range: bytes */");
		put_u64(t, c, c->m->size);
		put_lit(t, c, "\r\n\r\n");
		return;
	}
	head(t, c, status, content_type(c->pathp), len);
	put_validators(t, c);
	put_lit(t, c, "Accept-Ranges: bytes\r\n");
	if (status == 206) {
		put_lit(t, c, "Content-Range: bytes ");
		put_u64(t, c, from);
		put_lit(t, c, "-");
		put_u64(t, c, from + len - 1);
		put_lit(t, c, "/");
		put_u64(t, c, c->m->size);
		put_lit(t, c, "\r\n");
	}
	put_lit(t, c, "\r\n");
}

/*
 * The connection's pipe for splice_body, taken on its first large body and
 * held until it waits for a request with nothing in the pipe (pipe_put),
 * or its drop. Non-blocking, so a splice that would wait on the
 * pipe fails instead of holding a kernel worker (splice_body never lets
 * that happen: it fills only an empty pipe and drains only what it put
 * in). Sized to CHUNK; if the kernel refuses (pipe-max-size, or the user's
 * pipe-user-pages-soft is spent and pipes start small) the splices are
 * shorter, not wrong. An empty pipe goes back to the server's pool, not to
 * the connection's life: a pipe kept by every idle keep-alive connection
 * that had a large body made each cost three descriptors, and a few
 * hundred of them (ulimit -n 1024) took every descriptor, so accepts
 * failed for everyone (review5). Return: whether there is a pipe (no:
 * read and send).
 */
static uint32_t fds_short(struct http_server *s, uint32_t n, bool accept);

static bool pipe_ready(struct conn *c)
{
	struct http_server *s = c->s;

	if (c->pipe[0] >= 0)
		return true;
	if (!fds_room(s, 2))
		return false;
	if (s->npipes) {
		s->npipes--;
		s->pipes_low = s->npipes < s->pipes_low ? s->npipes : s->pipes_low;
		c->pipe[0] = s->pipes[s->npipes][0];
		c->pipe[1] = s->pipes[s->npipes][1];
		fds_count(c);
		return true;
	}
	if (pipe2(c->pipe, O_CLOEXEC | O_NONBLOCK)) {
		if (errno == EMFILE || errno == ENFILE)
			/* for the next body: this one reads and sends */
			(void)fds_short(s, 1, false);
		c->pipe[0] = c->pipe[1] = -1;
		return false;
	}
	(void)fcntl(c->pipe[1], F_SETPIPE_SZ, CHUNK);
	fds_count(c);
	return true;
}

/* c's pipe, if it is empty and no body is under way, to the pool (closed
 * if the pool is full). The pool is as large as the bodies under way at
 * once need (connections one after another reuse pooled pipes: no pipe2
 * a request), and pipes_trim gives back what a sweep interval did not. */
static void pipe_put(struct conn *c)
{
	struct http_server *s = c->s;

	if (c->pipe[0] < 0 || c->piped || c->left)
		return;
	if (s->npipes < HTTP_PIPE_POOL) {
		s->pipes[s->npipes][0] = c->pipe[0];
		s->pipes[s->npipes][1] = c->pipe[1];
		s->npipes++;
	} else {
		close(c->pipe[0]);
		close(c->pipe[1]);
	}
	c->pipe[0] = c->pipe[1] = -1;
	fds_count(c);
}

/* Each sweep: close the pooled pipes no body needed since the last one
 * (the pool never went below pipes_low), so idle connections' pipes go
 * within two sweeps. */
static void pipes_trim(struct http_server *s)
{
	for (; s->pipes_low; s->pipes_low--) {
		s->npipes--;
		close(s->pipes[s->npipes][0]);
		close(s->pipes[s->npipes][1]);
	}
	s->pipes_low = s->npipes;
}

/* The kernel refused a descriptor (EMFILE, ENFILE): the pooled pipes are
 * closed, and up to n of the bodies stalled longest, those that hold no
 * descriptor the budget counts too if that gives back a descriptor of the
 * table that was full (accept: the acceptor's, whichever table its
 * sockets are in; else the process's: see shed_of). Return: the bodies
 * closed (their descriptors are free once their tasks end, within a tick). */
static uint32_t fds_short(struct http_server *s, uint32_t n, bool accept)
{
	uint32_t k = 0;

	s->pipes_low = s->npipes;
	pipes_trim(s);
	while (k < n && shed_one(s, accept ? SHED_ANY : SHED_FDS))
		k++;
	return k;
}

/* c->chunk, CHUNK bytes of task memory counted in c->mem, made on first
 * use. Return: false out of memory, or c was closed for the budget. */
static bool chunk_ready(struct urt_task *t, struct conn *c)
{
	if (c->chunk)
		return true;
	if (c->killed || !(c->chunk = urt_task_alloc(t, CHUNK)))
		return false;
	mem_add(c, 0, CHUNK);
	return !c->killed;
}

static void chunk_release(struct urt_task *t, struct conn *c)
{
	if (!c->chunk)
		return;
	urt_task_free(t, c->chunk);
	c->chunk = NULL;
	mem_add(c, CHUNK, 0);
}

/*
 * An awaitable of its own (its progress is c->off, c->left, c->piped,
 * c->full, c->napping), so conn_poll awaits it in one line: the body from
 * c->file to the socket through the connection's pipe, never through user
 * memory. Fill the empty pipe from the file (up to CHUNK), drain all of it
 * to the socket (short splices on either side are taken again for the
 * rest), until c->left is 0.
 *
 * A splice runs on a kernel worker thread of the ring (io-wq). Neither
 * side ever blocks it: the pipe is non-blocking and filled only when empty,
 * and the socket is non-blocking (on_conn), so a splice into a full socket
 * moves what fits, or fails with -EAGAIN, at once. Then the task waits for
 * room with urt_poll (in the ring, no thread), within --send-ms (the
 * deadline on c->tx.op), and splices again. Where the poll cannot wait,
 * the task naps ROOM_NAP_MS between splices instead: io_uring's poll
 * always reports POLLRDHUP, so for a peer that has half-closed it returns
 * at once without POLLOUT; and under the kernel's TCP memory pressure a
 * socket shows POLLOUT that a send cannot use (the kernel's own blocking
 * send naps then too). Either way the body must move within --send-ms of
 * the socket filling (c->send_by), or the connection is closed. A peer
 * that does not read costs no thread.
 * Return: 0 sent; -errno from either side (c->spliced says whether any
 * file byte went into the pipe); -ENODATA if the file ended early (it
 * shrank: the length was promised); -EPIPE for a drain that moved nothing;
 * -ETIMEDOUT if nothing moved for --send-ms; -ECANCELED, closed from
 * outside (checked between steps only: killed_idle).
 */
#define ROOM_NAP_MS 50
/* an open refused for a full table is tried again every SHED_NAP_MS for
 * OPEN_WAIT_MS at most (a body becomes one to close after SHED_STALL_MS),
 * then answered 503 with Retry-After */
#define SHED_NAP_MS  20
#define OPEN_WAIT_MS 2000

/*
 * The pipe's bytes to the socket: splice(2) itself, not through the ring.
 * io_uring runs every IORING_OP_SPLICE on a kernel worker (io-wq), so a
 * body cost two hand-offs to a worker and back, and the runtime idled
 * while they ran; this side can never block (the pipe and the socket are
 * both non-blocking: a full socket is -EAGAIN at once), so it needs no
 * worker. The file's side still goes through the ring: reading the file
 * can wait for the disk. A direct descriptor has no number a system call
 * could take: through the ring. Measured in docs/design.md.
 */
static int drain(struct urt_task *t, struct conn *c)
{
	unsigned more = c->left ? SPLICE_F_MORE : 0;
	ssize_t n;

	if (urt_fd_is_fixed(c->fd))
		return urt_splice(t, &c->tx.op, c->pipe[0], -1, c->fd, -1, (unsigned)c->piped,
				  more);
	n = splice(c->pipe[0], NULL, c->fd, NULL, c->piped, more | SPLICE_F_NONBLOCK);
	return n < 0 ? -errno : (int)n;
}

static int splice_body(struct urt_task *t, struct conn *c)
{
	int n;

	for (;;) {
		if (killed_idle(c)) /* no splice, poll or nap to start */
			return -ECANCELED;
		if (c->napping) {
			n = urt_sleep(t, &c->nap, ROOM_NAP_MS * 1000000ull);
			if (n == URT_PENDING)
				return n;
			c->napping = false;
			if (n < 0 && n != -ETIME)
				return n;
			continue;
		}
		if (c->piped && c->full) {
			n = urt_poll(t, &c->tx.op, c->fd, POLLOUT);
			if (n == URT_PENDING || n < 0)
				return n;
			c->full = false;
			c->napping = !(n & (POLLOUT | POLLERR | POLLHUP)); /* POLLRDHUP alone */
			continue;
		}
		if (c->piped) {
			n = drain(t, c);
			if (n == URT_PENDING)
				return n;
			if (n == -EAGAIN && !c->full_since) { /* full: wait for room */
				c->send_by = urt_now_ns() + 1000000ull * c->s->o.send_ms;
				c->full = c->full_since = true;
				continue;
			}
			if (n == -EAGAIN && urt_now_ns() >= c->send_by)
				return -ETIMEDOUT;
			if (n == -EAGAIN) { /* room polled, none taken: nap, splice again */
				c->napping = true;
				continue;
			}
			c->full_since = false;
			if (n < 0)
				return n;
			if (!n)
				return -EPIPE;
			body_moved(c);
			c->piped -= (size_t)n;
			continue;
		}
		if (!c->left)
			return 0;
		n = urt_splice(t, &c->op, c->file, (int64_t)c->off, c->pipe[1], -1,
			       (unsigned)(c->left < CHUNK ? c->left : CHUNK), 0);
		if (n == URT_PENDING || n < 0)
			return n;
		if (!n)
			return -ENODATA;
		c->spliced = true;
		c->s->splice = 1;
		c->off += (uint64_t)n;
		c->left -= (uint64_t)n;
		c->piped = (size_t)n;
	}
}

/*
 * A cached body too large to copy into the answer (past SMALL, within
 * --body-cache-max) is kept as a pipe (fcache.h): body_fill_begins makes
 * the pipe when the whole file is asked for and the cache has room,
 * conn_poll reads the file through the ring (reading may wait for the
 * disk) and copies it into the pipe, body_fill_end hands it to the cache
 * if it holds the whole file (a pipe the kernel kept smaller holds less:
 * dropped, the file is served as before). Return: whether to fill.
 *
 * A copy, not a splice of the file's pages: a pipe of page-cache pages
 * is the file as it is now, not as it was when cached; a truncation
 * within --file-cache-valid-ms zeroes and drops them, and the cached
 * length went out whole with bytes the file never held (test-http).
 */
static bool body_fill_begins(struct conn *c)
{
	struct http_fentry *e = c->fe;

	if (!e || e->bpipe >= 0 || e->pipe_failed || c->off || c->left != e->m.size ||
	    c->left <= SMALL || c->left > CHUNK || !http_fcache_pipe_room(&c->s->fc, e))
		return false;
	if (pipe2(c->fill, O_CLOEXEC | O_NONBLOCK)) {
		c->fill[0] = c->fill[1] = -1;
		return false;
	}
	(void)fcntl(c->fill[1], F_SETPIPE_SZ, (int)e->m.size);
	c->filled = 0;
	return true;
}

/* Awaitable: the file into c->chunk through the ring, then written into
 * c->fill whole (c->filled: bytes in the pipe). Return: 0; -errno
 * (-EAGAIN: the pipe is full, the kernel kept it smaller); -ENODATA, the
 * file ended early; -ENOMEM, no chunk; -ECANCELED, closed from outside. */
static int body_fill(struct urt_task *t, struct conn *c)
{
	size_t size = c->fe->m.size;
	ssize_t w;
	int n;

	if (!chunk_ready(t, c))
		return -ENOMEM;
	while (c->filled < size) {
		if (killed_idle(c))
			return -ECANCELED;
		n = urt_read(t, &c->op, c->file, c->chunk + c->filled, size - c->filled,
			     (int64_t)c->filled);
		if (n == URT_PENDING || n < 0)
			return n;
		if (!n)
			return -ENODATA;
		c->filled += (size_t)n;
	}
	w = write(c->fill[1], c->chunk, size);
	c->filled = w < 0 ? 0 : (size_t)w;
	if (w < 0)
		return -errno;
	return c->filled == size ? 0 : -EAGAIN;
}

static void body_fill_end(struct conn *c)
{
	struct http_fentry *e = c->fe;

	close(c->fill[1]);
	/* the entry may have changed meanwhile (revalidated away, or another
	 * request kept a body first): room is asked again */
	if (c->filled == e->m.size && http_fcache_pipe_room(&c->s->fc, e))
		http_fcache_pipe_put(&c->s->fc, e, c->fill[0]);
	else
		close(c->fill[0]);
	if (c->ret == -EAGAIN) /* the pipe is full short of the file: not again */
		e->pipe_failed = true;
	c->fill[0] = c->fill[1] = -1;
}

/* The whole of a cached pipe body into the connection's empty pipe: tee(2)
 * takes references to its pages, never blocks, and needs no kernel worker.
 * What did not fit (a pipe the kernel kept small) comes from the file. */
static void body_tee(struct conn *c)
{
	struct http_fentry *e = c->fe;
	ssize_t n;

	if (!e || e->bpipe < 0 || c->off || c->left != e->m.size)
		return;
	n = tee(e->bpipe, c->pipe[1], c->left, SPLICE_F_NONBLOCK);
	if (n <= 0)
		return;
	c->piped = (size_t)n;
	c->off += (uint64_t)n;
	c->left -= (uint64_t)n;
	c->spliced = true;
	c->s->fc.body_hits++;
}

/*
 * A large body's head (and the answers batched before it) ahead of a
 * splice: sent with send(2) at once, MSG_MORE so it leaves with the
 * body's first bytes, not through the ring (a send and its completion,
 * a tick, before the body could start). Never blocks (the socket is
 * non-blocking). Return: whether bytes are left for the ring's send:
 * what did not fit (moved to the front of the output), or all of it when
 * the body will not be spliced (TLS, a direct descriptor, the model, no
 * splice: sent as before).
 */
static bool head_direct(struct conn *c)
{
	ssize_t n;

	if (c->tls || c->s->sim || c->s->splice < 0 || urt_fd_is_fixed(c->fd))
		return true;
	n = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE);
	if (n <= 0) /* -EAGAIN (full), or a failure the ring's send will see too */
		return true;
	memmove(c->out, c->out + n, c->out_len - (size_t)n);
	c->out_len -= (size_t)n;
	return c->out_len != 0;
}

/*
 * Before a wait for input: what was parsed leaves the input (one move per
 * receive, never one per request); buffers that hold nothing go back, so
 * an idle connection holds none (the 64 KiB chunk too: one request with a
 * long path, or one body read and sent, must not keep it for the
 * connection's life).
 */
static void in_compact(struct urt_task *t, struct conn *c)
{
	chunk_release(t, c);
	pipe_put(c);
	if (c->at) {
		memmove(c->in, c->in + c->at, c->in_len - c->at);
		c->in_len -= c->at;
		c->at = 0;
	}
	/* TLS reads into the input: it keeps its first one */
	if (!c->in_len && (!c->tls || c->in_cap > IN_FIRST))
		release(t, c, &c->in, &c->in_cap);
	if (!c->out_len)
		release(t, c, &c->out, &c->out_cap);
}

/*
 * A chunked body begins: take what of it is in the input already, so a
 * malformed one is answered 400 (or 413, 431) in place of its request's
 * answer; the rest is taken as it arrives, after the answer (conn_poll).
 * c->body_left becomes the bytes of the body in the input. Return: 0, or
 * the status to refuse it with.
 */
static int chunked_start(struct conn *c)
{
	long k;

	c->ck = (struct http_chunked){ 0 };
	k = http_chunked_eat(&c->ck, c->in + c->used, c->in_len - c->used, &c->s->o.lim);
	c->body_left = k < 0 ? 0 : (uint64_t)k;
	return k < 0 ? (int)-k : 0;
}

/* --- the open-file cache's steps (fcache.h) ------------------------------------------- */

#define STATX_FILE (STATX_SIZE | STATX_MTIME | STATX_TYPE | STATX_INO)

/* Look c->pathp up. Return: whether its entry (c->fe, held) must be
 * revalidated with a statx of the path (then cache_check). */
static bool cache_get(struct conn *c)
{
	bool stale = false;

	c->fe = http_fcache_get(&c->s->fc, c->pathp, urt_now_ns(), &stale, c);
	if (c->fe && !stale) {
		c->file = c->fe->fd;
		c->m = &c->fe->m;
		c->ret = 0;
	}
	return c->fe && stale;
}

/* c lets go of its entry. If that leaves another connection holding the
 * last reference to it detached, that one's end closes its descriptor
 * now: it counts it (fds_count). */
static void cache_unref(struct conn *c)
{
	struct http_fentry *e = c->fe;
	struct conn *lone;

	c->fe = NULL;
	http_fcache_unref(&c->s->fc, e, c);
	if ((lone = http_fcache_lone(e)))
		fds_count(lone);
}

/* After the revalidating statx (c->ret, c->stx): c->fe holds, or it is let go (detached
 * if the file changed: see cache_unref) and the file is opened again. */
static void cache_check(struct conn *c)
{
	if (http_fcache_check(&c->s->fc, c->fe, c->ret, &c->stx, urt_now_ns())) {
		c->file = c->fe->fd;
		c->m = &c->fe->m;
		c->ret = 0;
		return;
	}
	cache_unref(c);
}

/* After the open's statx (c->ret, c->stx): c->m, and the file cached (c->fe) if it can be. */
static void file_opened(struct conn *c)
{
	struct http_fmeta m;

	if (c->ret)
		return;
	http_fmeta_set(&m, &c->stx);
	if (S_ISREG(m.mode)) {
		void *lone;

		c->fe = http_fcache_put(&c->s->fc, c->pathp, c->file, &m, urt_now_ns(), c, &lone);
		if (lone) /* the older entry of the file, detached: see cache_unref */
			fds_count(lone);
	}
	if (c->fe) {
		c->m = &c->fe->m;
	} else {
		c->own = m; /* over the statx answer, which is spent */
		c->m = &c->own;
	}
}

/* The open failed (c->file): 403, 404, or 503 for a full descriptor table, which is
 * this server's state, not the file's: try again, and the connection stays (the
 * cache gives back half of its idle descriptors for the next try). */
static void open_failed(struct urt_task *t, struct conn *c)
{
	bool full = c->file == -EMFILE || c->file == -ENFILE;

	if (full) {
		c->s->busy++;
		(void)http_fcache_shrink(&c->s->fc);
	}
	error(t, c, c->file == -EACCES ? 403 : full ? 503 : 404);
	c->file = -1;
}

/* A regular file's answer: its status from the preconditions and Range, its head, and
 * the range still to send in c->off, c->left. */
static void file_answer(struct urt_task *t, struct conn *c)
{
	uint64_t from = 0, len = 0;
	int status = file_status(c, &from, &len);

	if (status == 412) {
		error(t, c, 412);
		return;
	}
	file_head(t, c, status, from, len);
	c->off = from;
	c->left = status / 100 == 2 && !c->head_only ? len : 0;
}

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;
	long k;
	bool full;

	URT_BEGIN(t);
	c->file = -1;
	c->t = t;
	link_add_tail(&c->s->all, &c->all);
	if (c->tls_on) { /* HTTPS: the handshake first, within --tls-handshake-ms */
		c->ret = tls_setup(t, c);
		if (!c->ret) {
			URT_AWAIT(t, c->ret = tls_srv_handshake(t, c->tls));
		}
		if (c->ret < 0) {
			c->s->tls_handshake_fail++;
			goto out;
		}
		mem_add(c, TLS_SRV_HANDSHAKE_MEM, TLS_SRV_STATE_MEM); /* its state, now smaller */
	}
	while (!c->closing && !c->s->stop) {
		/* --- a request head: parse what is there, else wait for more ---------- */
		for (;;) {
			/* a batch ends at --max-pipeline requests or when one more
			 * answer could take the output past OUT_MAX: it is sent, and
			 * the requests left wait in the input */
			full = c->batch >= c->s->o.max_pipeline || c->out_len + ANSWER_MAX > OUT_MAX;
			k = 0;
			if (!full && http_head_ready(c->in + c->at, c->in_len - c->at, c->s->o.lim.max_head,
						     &c->scan))
				k = http_parse(c->in + c->at, c->in_len - c->at, &c->s->o.lim, &c->req);
			if (k)
				break;
			if (c->killed)
				goto out;
			if (c->out_len) { /* answer the batch before waiting, or before it grows more */
				FLUSH(t, c);
				if (c->ret < 0 || c->killed)
					goto out;
				if (c->out_cap > IN_FIRST)
					release(t, c, &c->out, &c->out_cap);
				continue; /* parse again: k is not kept across an await */
			}
			c->batch = 0;
			if (full)
				continue; /* the batch's answers went out as they were made */
			in_compact(t, c);
			/* a head begun must be whole --head-ms after its first
			 * byte, however it trickles in (slowloris); a connection
			 * with nothing begun is idle */
			if (c->in_len && !c->head_by)
				c->head_by = urt_now_ns() + 1000000ull * c->s->o.head_ms;
			if (c->in_len)
				wait_in(c, &c->s->heads, c->head_by);
			else
				wait_in(c, &c->s->idle, urt_now_ns() + 1000000ull * c->s->o.idle_ms);
			RECV(t, c);
			if (c->n <= 0) { /* closed, an error, idle, or a head too slow: close */
				c->clean = c->n == 0; /* TLS: its close_notify, answered */
				goto out;
			}
		}
		wait_done(c);
		c->head_by = 0;
		c->scan = (struct http_scan){ 0 };
		c->batch++;
		c->s->requests++;
		c->keep = true;
		c->head_only = false;
		if (k < 0) {
			error(t, c, (int)-k);
			c->closing = true;
			break;
		}
		c->used = c->at + (size_t)k;
		c->keep = c->req.keep_alive;
		/* Expect: 100-continue with the body not here: the client waits
		 * for us before sending it, so answer now (RFC 9110 10.1.1 allows
		 * a final status instead of 100) and close rather than read it */
		c->body_left = c->req.body;
		if (c->req.chunked && (c->ret = chunked_start(c))) {
			error(t, c, c->ret); /* the framing is lost: answer and close */
			c->closing = true;
			goto next;
		}
		if (c->req.expect_100 && (c->req.chunked ? !http_chunked_done(&c->ck)
							  : c->req.body > c->in_len - c->used))
			c->keep = false;
		c->head_only = slice_eq(c->req.method, "HEAD");
		c->pathp = c->path;
		c->ret = target_path(c->req.target, c->path, sizeof(c->path));
		if (c->ret == -414 && chunk_ready(t, c)) { /* rare: a path past 511 bytes */
			c->pathp = c->chunk;
			c->ret = target_path(c->req.target, c->chunk, PATH_MAX);
			if (c->ret == -414)
				c->ret = -404; /* no file has a longer path (ENAMETOOLONG) */
		}
		if (!c->head_only && !slice_eq(c->req.method, "GET")) {
			error(t, c, method_refused(c->req.method));
		} else if (c->ret < 0) {
			error(t, c, -c->ret);
		} else if (c->s->o.root_fd < 0) {
			if (!strcmp(c->pathp, "index.html")) {
				head(t, c, 200, "text/plain; charset=utf-8", sizeof(HELLO_BODY) - 1);
				put(t, c, "\r\n", 2);
				if (!c->head_only)
					put(t, c, HELLO_BODY, sizeof(HELLO_BODY) - 1);
			} else {
				error(t, c, 404);
			}
		} else {
			/* --- a file beneath the root ------------------------------------ */
			/* the open-file cache first: a hit costs no system call, or
			 * one statx of the path per --file-cache-valid-ms, not
			 * following a last link (a symlink put in the file's place
			 * differs, and the open decides whether it stays beneath) */
			if (cache_get(c)) {
				URT_AWAIT(t, c->ret = urt_statx(t, &c->op, c->s->o.root_fd,
								c->pathp, AT_SYMLINK_NOFOLLOW,
								STATX_FILE, &c->stx));
				cache_check(c);
			}
			/* closed from outside while it revalidated: no open, no
			 * answer (the drop lets go of the cache's entry) */
			if (c->killed)
				goto next;
			if (!c->fe) {
				c->how = (struct open_how){ .flags = O_RDONLY,
							    .resolve = RESOLVE_BENEATH |
								       RESOLVE_NO_MAGICLINKS };
				(void)fds_room(c->s, 1); /* none stalled: opened anyway */
				for (c->open_by = 0;;) {
					URT_AWAIT(t,
						  c->file = urt_openat2(t, &c->op, c->s->o.root_fd,
									c->pathp, &c->how));
					if ((c->file != -EMFILE && c->file != -ENFILE) || c->killed)
						break;
					if (!c->open_by)
						c->open_by =
							urt_now_ns() + OPEN_WAIT_MS * 1000000ull;
					if (urt_now_ns() >= c->open_by)
						break; /* 503 */
					/* a full table: the body stalled longest goes (once
					 * one is), and the open is tried again when its task
					 * has ended and closed its descriptors */
					(void)fds_short(c->s, 1, false);
					URT_AWAIT(t,
						  urt_sleep(t, &c->nap, SHED_NAP_MS * 1000000ull));
					if (c->killed) /* its nap cancelled: no open more */
						break;
				}
				if (c->killed) /* closed while it opened: the drop closes the file */
					goto next;
				if (c->file < 0) {
					open_failed(t, c);
					goto next;
				}
				fds_count(c);
				URT_AWAIT(t,
					  c->ret = urt_statx(t, &c->op, c->file, "", AT_EMPTY_PATH,
							     STATX_FILE, &c->stx));
				file_opened(c);
				fds_count(c); /* the cache's now, or still its own */
			}
			if (c->ret == 0 && S_ISDIR(c->m->mode)) {
				redirect_dir(t, c);
			} else if (c->ret < 0 || !S_ISREG(c->m->mode)) {
				error(t, c, 404);
			} else {
				file_answer(t, c);
			}
			if (c->left && c->left <= SMALL) {
				/* a small file joins its head in the output: one send for both
				 * (two would meet Nagle and a delayed ACK: 40 ms a request) */
				if (c->out_len + c->left > c->out_cap &&
				    !grow(t, c, &c->out, &c->out_cap, c->out_len + c->left, OUT_MAX))
					c->closing = true, c->left = 0;
				if (c->left && c->fe && c->fe->body) { /* from memory: no read */
					put(t, c, c->fe->body + c->off, c->left);
					c->s->fc.body_hits++;
					c->left = 0;
				}
				c->body_at = c->out_len;
				while (c->left && !c->killed) {
					URT_AWAIT(t, c->ret = urt_read(t, &c->op, c->file, c->out + c->out_len,
								       c->left, (int64_t)c->off));
					if (c->ret <= 0) {
						c->closing = true;
						break;
					}
					c->out_len += (size_t)c->ret;
					c->off += (uint64_t)c->ret;
					c->left -= (uint64_t)c->ret;
				}
				/* the whole file read: keep it for the next request */
				if (c->fe && !c->closing &&
				    c->out_len - c->body_at == c->fe->m.size &&
				    c->off == c->fe->m.size)
					http_fcache_body_put(&c->s->fc, c->fe, c->out + c->body_at,
							     c->out_len - c->body_at);
			}
			/* closed from outside meanwhile (a kill that cancelled
			 * nothing: the open's, the statx's or a read's completion
			 * was waiting to be polled): nothing more to read or send */
			if (c->killed)
				c->left = 0;
			if (c->left) { /* a large body: the head first, then the file */
				/* each send, wait for room and splice of it within
				 * --send-ms (a linked timeout: one per operation) */
				urt_op_set_timeout(&c->tx.op, 1000000ull * c->s->o.send_ms);
				c->ret = 0;
				if (head_direct(c)) {
					URT_AWAIT(t, c->ret = conn_send(t, c, c->out, c->out_len));
				}
				c->out_len = 0;
				if (c->ret < 0)
					c->closing = true, c->left = 0;
			}
			/* over TLS the bytes are encrypted in user space: read and write */
			if (c->left && c->s->splice >= 0 && !c->tls && pipe_ready(c)) {
				if (body_fill_begins(c)) { /* once per file: into the cache */
					URT_AWAIT(t, c->ret = body_fill(t, c));
					body_fill_end(c);
				}
				c->spliced = c->full = c->full_since = false;
				c->napping = false;
				body_tee(c);
				body_moved(c);
				URT_AWAIT(t, c->ret = splice_body(t, c));
				body_done(c);
				if (c->ret < 0 && !c->spliced &&
				    (c->ret == -EINVAL || c->ret == -ENOSYS)) {
					/* nothing sent yet: read and send this one. Never
					 * worked here: the kernel has no splice, read and
					 * send from now on; worked before: this file's
					 * filesystem cannot splice */
					if (!c->s->splice)
						c->s->splice = -1;
				} else if (c->ret < 0) {
					/* the peer sees a body shorter than its length */
					c->closing = true, c->left = 0;
				} else {
					c->s->bodies_spliced++;
				}
			}
			if (c->left && !chunk_ready(t, c))
				c->closing = true, c->left = 0;
			c->copying = c->left != 0;
			if (c->copying)
				body_moved(c);
			while (c->left && !c->killed) { /* read and send, a chunk at a time */
				URT_AWAIT(t, c->ret = urt_read(t, &c->op, c->file, c->chunk,
							       c->left < CHUNK ? c->left : CHUNK,
							       (int64_t)c->off));
				if (c->ret <= 0) { /* the file shrank under us: the length was promised */
					c->closing = true;
					break;
				}
				URT_AWAIT(t, c->n = conn_send(t, c, c->chunk, (size_t)c->ret));
				if (c->n < 0) {
					c->closing = true;
					break;
				}
				body_moved(c);
				c->off += (uint64_t)c->ret;
				c->left -= (uint64_t)c->ret;
			}
			body_done(c);
			if (c->copying && !c->left)
				c->s->bodies_copied++;
			urt_op_set_timeout(&c->tx.op, 0);
			if (c->fe) { /* the cache's descriptor: it stays open */
				bool last = http_fcache_lone(c->fe); /* c's to close: it is */

				cache_unref(c);
				c->file = -1;
				if (last)
					fds_count(c);
				goto next;
			}
			URT_AWAIT(t, c->ret = urt_close(t, &c->op, c->file));
			/* a close cancelled before it ran (conn_kill cancels every
			 * operation of the task; the kernel runs a close on io-wq
			 * for a file with a flush method, the model after its
			 * latency) left the file open: the drop closes it */
			if (c->ret == -ECANCELED)
				c->closing = true;
			else
				c->file = -1;
			fds_count(c);
		}
next:
		if (c->killed)
			goto out;
		/* drop the request and any body from the input */
		if (!c->keep)
			c->closing = true;
		/* the body must be in --head-ms after its head, however it trickles */
		c->head_by = urt_now_ns() + 1000000ull * c->s->o.head_ms;
		/* a body still to come: the answers go out first (its client
		 * may wait for them before it sends the rest) */
		if (!c->closing && c->out_len &&
		    (c->req.chunked ? !http_chunked_done(&c->ck) : c->body_left > c->in_len - c->used)) {
			FLUSH(t, c);
			if (c->ret < 0 || c->killed)
				goto out;
		}
		while (!c->closing && c->req.chunked && !http_chunked_done(&c->ck)) {
			c->in_len = c->used; /* the decoder took them: dropped */
			wait_in(c, &c->s->heads, c->head_by);
			RECV(t, c);
			if (c->n <= 0)
				goto out;
			/* its answer is out already: a bad body only closes */
			c->ret = (int)http_chunked_eat(&c->ck, c->in + c->used, c->in_len - c->used,
						       &c->s->o.lim);
			c->closing = c->ret < 0;
			c->body_left = c->ret < 0 ? 0 : (uint64_t)c->ret;
		}
		while (!c->closing && c->body_left > c->in_len - c->used) {
			c->body_left -= c->in_len - c->used;
			c->in_len = c->used; /* the body bytes we have are dropped */
			wait_in(c, &c->s->heads, c->head_by);
			RECV(t, c);
			if (c->n <= 0)
				goto out;
		}
		wait_done(c);
		c->head_by = 0;
		if (!c->closing) {
			c->at = c->used + (size_t)c->body_left;
			if (c->at == c->in_len)
				c->at = c->in_len = 0;
		}
	}
	c->ret = 0;
	if (c->out_len && !c->killed) { /* the last answers, then close */
		disarm(t, c);
		URT_AWAIT(t, c->ret = send_out(t, c));
		disarm(t, c);
	}
	c->clean = c->ret >= 0 && !c->killed; /* TLS: close_notify follows */
	/*
	 * A staged close (RFC 9112 9.6): end the write side, then read and drop
	 * what the client still sends until it closes too, for --linger-ms or
	 * LINGER_MAX bytes at most. Closing with bytes unread (a body refused
	 * with 413, a pipeline after a 400) would make the kernel reset the
	 * connection, and a client can lose the answer it has not read yet.
	 * Only when HTTP closes it (!keep) and its answers went out: not after
	 * a failed send, whose client does not read (lingering on a crowd of
	 * non-readers would spend the loop on bytes nobody needs).
	 */
	if (!c->keep && c->ret >= 0 && !c->killed && !c->s->stop) {
		/* what a body used is not needed to linger: its splice pipe
		 * (counted in s->body_fds, out of the shed's reach: not in
		 * s->bodies) and its chunk were held for --linger-ms (review 7) */
		chunk_release(t, c);
		pipe_put(c);
		if (c->tls) { /* close_notify (once: clean is spent), then the FIN */
			URT_AWAIT(t, c->ret = tls_srv_close(t, c->tls, &c->clean, c->s->o.send_ms));
		}
		if (c->ret >= 0) {
			URT_AWAIT(t, c->ret = urt_shutdown(t, &c->op, c->fd, SHUT_WR));
		}
		c->head_by = urt_now_ns() + 1000000ull * c->s->o.linger_ms;
		c->lingered = 0;
		while (c->ret == 0 && c->s->o.linger_ms && c->lingered < LINGER_MAX) {
			c->in_len = c->at = 0; /* dropped */
			wait_in(c, &c->s->lingers, c->head_by);
			RECV(t, c);
			if (c->n <= 0)
				break; /* the client closed, or --linger-ms */
			c->lingered += (uint64_t)c->n;
		}
	}
out:
	disarm(t, c);
	wait_done(c);
	link_del(&c->all); /* no longer one to close: it is ending */
	if (!c->tls) {
		URT_AWAIT(t, urt_recv_stream_end(t, &c->rx, c->fd));
	} else {
		if (c->clean && !c->killed) { /* not sent yet: close_notify */
			URT_AWAIT(t, c->ret = tls_srv_close(t, c->tls, &c->clean, c->s->o.send_ms));
		}
		URT_AWAIT(t, tls_srv_end(t, c->tls));
	}
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
	urt_buf_free(&c->b);
	if (c->tls)
		tls_srv_free(c->tls);
	c->s->mem -= c->mem; /* 0 if it was killed: taken out then */
	c->s->body_fds -= c->fds; /* the same */
	link_del(&c->all);
	link_del(&c->wait);
	link_del(&c->sending);
	body_done(c);
	if (c->fe) /* the cache's descriptor: closed by it, or by this unref */
		cache_unref(c);
	else if (c->file >= 0) /* the model's, or a real one: through the ring either way */
		urt_close_detached(c->file);
	if (c->pipe[0] >= 0) {
		close(c->pipe[0]);
		close(c->pipe[1]);
	}
	if (c->fill[0] >= 0) { /* aborted while it filled a body */
		close(c->fill[0]);
		close(c->fill[1]);
	}
	urt_close_detached(c->fd);
	c->s->live--;
	atomic_fetch_sub_explicit(c->s->o.live_total, 1, memory_order_relaxed);
}

const struct urt_task_type http_conn_type = { .poll = conn_poll,
						.drop = conn_drop,
						.name = "http-conn" };

/* --- the sweeper ---------------------------------------------------------------------- */

/*
 * One task per runtime keeps the idle, head and send deadlines of all its
 * connections with one timer, so a waiting connection costs no timer
 * record of its own: a connection waiting for input sits in s->idle
 * (nothing begun: --idle-ms from when it began to wait), s->heads (a
 * head or a body begun: --head-ms from its first byte) or s->lingers (a
 * staged close: --linger-ms), one sending a batch of answers in s->sends
 * (--send-ms from its first send), each list in deadline order, since
 * every entry joins at the tail with now plus the list's one period (the
 * lingering have a list of their own: in s->heads their 2 s deadlines
 * queued behind heads begun before them, 10 s, and a staged close lasted
 * --head-ms). Every SWEEP_MS the sweeper closes the expired ones at the
 * front (conn_kill: the stream is cancelled, the task wakes and ends),
 * and checks the budget counting the unread stream bytes the runtime
 * holds, which change without the connections knowing.
 */
#define RX_BUF 4096 /* the runtime's provided buffer (opts.buf_size's default) */

struct sweeper {
	struct http_server *s;
	struct urt_op nap;
};

/* Close the connections of list (linked by their `wait`, or by `sending`
 * for s->sends) whose deadline has passed: each list is in deadline order. */
static void expire(struct http_server *s, struct http_link *list, uint64_t now)
{
	bool sends = list == &s->sends;

	while (list->next != list) {
		struct conn *c = sends ? conn_of(list->next, sending) : conn_of(list->next, wait);

		if ((sends ? c->send_by : c->wait_by) > now)
			break;
		/* listed again after its close (a bug): a second conn_kill,
		 * a no-op, would leave it at the front and this loop spin */
		if (c->killed) {
			if (sends)
				link_del(&c->sending);
			else
				wait_done(c);
			continue;
		}
		conn_kill(c); /* takes it out of the list */
		s->expired++;
	}
}

/* What of held the connections closed but not yet ended still hold: the
 * stream bytes they had not read, given back as their tasks end (at once:
 * a closed task's operations are cancelled, and none waits on a thread).
 * Not closed again for them. A scan: done only when over budget. */
static size_t dying(struct http_server *s, size_t held)
{
	size_t n = 0;

	for (struct http_link *l = s->all.next; l != &s->all; l = l->next) {
		struct conn *c = conn_of(l, all);

		if (c->killed)
			n += conn_unread(c);
	}
	return n < held ? n : held;
}

static void sweep(struct http_server *s)
{
	struct urt_runtime_stats st;
	uint64_t now = urt_now_ns();
	size_t held;

	expire(s, &s->idle, now);
	expire(s, &s->heads, now);
	expire(s, &s->lingers, now);
	expire(s, &s->sends, now);
	urt_runtime_stats(&s->rt, &st);
	held = s->mem + st.spill_bytes + st.bufs_queued * RX_BUF;
	if (held > s->o.mem_budget)
		held -= dying(s, held);
	if (held > s->o.mem_budget)
		evict(s, held);
	/* the acceptor backed off on EMFILE or ENFILE since the last sweep:
	 * descriptors for the connections waiting in the backlog, from the
	 * bodies stalled longest (a quarter of them, one at least) */
	if (st.accept_backoffs != s->backoffs_seen) {
		s->backoffs_seen = st.accept_backoffs;
		(void)fds_short(s, s->nbodies / 4 + 1, true);
	}
}

static bool sweep_poll(struct urt_task *t, void *arg)
{
	struct sweeper *w = arg;

	URT_BEGIN(t);
	while (!w->s->stop) {
		URT_AWAIT(t, urt_sleep(t, &w->nap, SWEEP_MS * 1000000ull));
		sweep(w->s);
		pipes_trim(w->s);
	}
	URT_END(t);
}

const struct urt_task_type http_sweep_type = { .poll = sweep_poll, .name = "http-sweeper" };

/* --- the acceptor, stats ------------------------------------------------------------------- */

/* A new connection on this runtime (tls: on the TLS listener): its task,
 * unless the cap of all runtimes together is reached. */
static int conn_accept(struct http_server *s, int fd, struct urt_claim *claim, bool tls)
{
	struct conn c = {
		.s = s, .fd = fd, .file = -1, .pipe = { -1, -1 }, .fill = { -1, -1 }, .tls_on = tls
	};
	atomic_uint *live = s->o.live_total;
	int ret;

	/* non-blocking, so a splice into it never holds a kernel worker
	 * (splice_body); the ring's receives and sends arm their own poll.
	 * The model has no splice (and no fcntl): bodies go by read and send */
	if (!s->sim && !urt_fd_is_fixed(fd) && fcntl(fd, F_SETFL, O_NONBLOCK))
		return -errno; /* (a direct descriptor is accepted non-blocking) */
	/* the cap, for boxed tasks too: taken before the spawn, given back by
	 * the drop (or here, if the spawn fails) */
	if (atomic_fetch_add_explicit(live, 1, memory_order_relaxed) >= s->o.max_conns) {
		atomic_fetch_sub_explicit(live, 1, memory_order_relaxed);
		return -ENOSPC;
	}
	/* responses are written whole: Nagle would only delay them (the
	 * model has no Nagle; a direct descriptor has it from the listener) */
	if (!s->sim && !urt_fd_is_fixed(fd))
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if (claim) { /* the slot the acceptor reserved before it accepted */
		memcpy(urt_claim_state(claim), &c, sizeof(c));
		ret = urt_claim_spawn(claim, &http_conn_type, NULL);
	} else {
		ret = urt_spawn(&s->rt, &http_conn_type, &c, sizeof(c), NULL);
	}
	if (ret) {
		atomic_fetch_sub_explicit(live, 1, memory_order_relaxed);
		return ret;
	}
	s->conns++;
	s->live++;
	s->tls_conns += tls;
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

void http_server_print(struct http_server *s)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(&s->rt, &st);
	printf("stats: runtime %d connections %" PRIu64 " live %" PRIu64 " requests %" PRIu64
	       " bodies_spliced %" PRIu64 " bodies_copied %" PRIu64
	       " heap_calls %zu slab %zu/%zu ops_live %zu ops_high_water %zu timers_live %zu "
	       "conn_mem "
	       "%zu evicted "
	       "%" PRIu64 " expired %" PRIu64 " busy %" PRIu64
	       " bufs_free_low %zu/%zu spill_high_water %zu tls_conns %" PRIu64
	       " tls_handshake_fail %" PRIu64 " tls_heap_calls %" PRIu64 " tls_heap_bytes %" PRId64
	       " fcache_hits %" PRIu64 " fcache_misses %" PRIu64 " fcache_revalidated %" PRIu64
	       " fcache_stale %" PRIu64 " fcache_evicted %" PRIu64 " fcache_entries %" PRIu32
	       " body_hits %" PRIu64 " body_bytes %zu shed %" PRIu64
	       " body_fds %zu task_mem %zu task_mem_kept %zu\n",
	       s->id, s->conns, s->live, s->requests, s->bodies_spliced, s->bodies_copied,
	       atomic_load(&s->heap.calls), st.slab_live, st.slab_capacity, st.ops_live,
	       st.ops_high_water, st.timers_live, s->mem, s->evicted, s->expired, s->busy,
	       st.bufs_free_low, st.buf_count, st.spill_high_water, s->tls_conns,
	       s->tls_handshake_fail, tls_srv_heap_calls(), tls_srv_heap_bytes(), s->fc.hits,
	       s->fc.misses, s->fc.revalidated, s->fc.stale, s->fc.evicted, s->fc.live,
	       s->fc.body_hits, s->fc.body_bytes, s->shed, s->body_fds, st.task_mem_held,
	       st.task_mem_kept);
	fflush(stdout);
}

/* --- one runtime's server ------------------------------------------------------------------- */

int http_server_init(struct http_server *s, const struct http_opts *o, int id, struct urt_sim *sim)
{
	uint32_t reserve = o->reserve_conns ? o->reserve_conns : o->max_conns;
	int ret;

	*s = (struct http_server){
		.o = *o, .sim = sim != NULL, .id = id, .lfd = -1, .tls_lfd = -1
	};
	s->splice = o->no_splice || sim ? -1 : 0;
	counting_init(&s->heap);
	/* any runtime may hold the whole cap: untouched slots cost address
	 * space only (the slab hands them out from a bump pointer) */
	ret = urt_runtime_init(
		&s->rt, &(struct urt_runtime_opts){
				.slab = o->boxed ? URT_SLAB_NONE : URT_SLAB_BOUNDED,
				.slot_size = 64 + (sizeof(struct conn) + 15) / 16 * 16,
				.slab_slots = o->max_conns,
				/* none asked of the allocator after init below it */
				.op_records_reserve =
					reserve_ops(reserve, o->tls ? CONN_OPS_TLS : CONN_OPS),
				.task_scopes_reserve = reserve_blocks(reserve, 1),
				.task_blocks_reserve = reserve_blocks(reserve, CONN_BUFS),
				.task_block_size = IN_FIRST,
				.allocator = &s->heap.al,
				.features_off = o->features_off,
				.send_zc_min = o->send_zc_min,
				.fixed_fds = o->fixed_fds,
				.sim = sim,
			});
	if (ret)
		return ret;
	if (http_fcache_init(&s->fc, &o->fcache, &s->heap.al)) {
		(void)urt_runtime_deinit(&s->rt);
		return -ENOMEM;
	}
	s->date_sec = (time_t)-1;
	link_init(&s->all);
	link_init(&s->idle);
	link_init(&s->heads);
	link_init(&s->lingers);
	link_init(&s->sends);
	link_init(&s->bodies);
	link_init(&s->bodies_bare);
	return 0;
}

/* Accepted sockets inherit TCP_NODELAY from their listener (Linux): the
 * way a direct descriptor, which setsockopt(2) cannot name, gets it. */
static void listener_nodelay(const struct http_server *s, int lfd)
{
	if (lfd >= 0 && !s->sim && (s->rt.stats.features & URT_FEAT_FIXED_FDS))
		setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
}

int http_server_start(struct http_server *s, int lfd)
{
	s->lfd = lfd;
	listener_nodelay(s, lfd);
	if ((lfd >= 0 && urt_acceptor_start(&s->rt,
					    &(struct urt_acceptor_opts){ .lfd = lfd,
									 .on_conn = on_conn,
									 .arg = s,
									 .stop = &s->stop,
									 .boxed = s->o.boxed },
					    &s->acceptor)) ||
	    urt_spawn(&s->rt, &http_sweep_type, &(struct sweeper){ .s = s }, sizeof(struct sweeper),
		      NULL))
		return -ENOMEM;
	return 0;
}

int http_server_start_tls(struct http_server *s, int lfd)
{
	if (!s->o.tls)
		return -EINVAL;
	s->tls_lfd = lfd;
	listener_nodelay(s, lfd);
	return urt_acceptor_start(&s->rt,
				  &(struct urt_acceptor_opts){ .lfd = lfd,
							       .on_conn = on_conn_tls,
							       .arg = s,
							       .stop = &s->stop,
							       .boxed = s->o.boxed },
				  &s->tls_acceptor);
}

void http_server_stop(struct http_server *s)
{
	s->stop = true;
}

size_t http_server_finish(struct http_server *s)
{
	size_t ret;

	if (s->lfd >= 0)
		urt_close_detached(s->lfd); /* deinit waits for it */
	if (s->tls_lfd >= 0)
		urt_close_detached(s->tls_lfd);
	s->lfd = s->tls_lfd = -1;
	if (!urt_join_is_empty(&s->acceptor))
		urt_join_detach(&s->acceptor);
	if (!urt_join_is_empty(&s->tls_acceptor))
		urt_join_detach(&s->tls_acceptor);
	/* the cache's descriptors close now; those connections still hold
	 * close with their drops, in the deinit */
	http_fcache_deinit(&s->fc);
	ret = urt_runtime_deinit(&s->rt); /* aborts the connections: their drops close them */
	http_fcache_free(&s->fc);
	while (s->npipes) {
		s->npipes--;
		close(s->pipes[s->npipes][0]);
		close(s->pipes[s->npipes][1]);
	}
	return ret;
}

int http_server_cache_take(struct http_server *s)
{
	return http_fcache_take(&s->fc);
}
