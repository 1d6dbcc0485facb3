/* SPDX-License-Identifier: MIT */
/*
 * scn_kv.c - urt-kv's own server (examples/kv/server.c: the connection
 * task, the --idle-ms / --send-ms / --max-clients-mem sweeper, the key
 * expiry sweep, the acceptor) on the simulated kernel, with checking and
 * hostile clients on the same runtime.
 *
 * From the seed: the model's knobs (rcvbuf, short transfers, latency);
 * the server's --spawn, --bufs, --max-pipeline, --max-bulk, --max-args,
 * --idle-ms, --send-ms and --max-clients-mem, and its runtime's ring size
 * and poll budget (a few polls a tick keep tasks queued across ticks, so
 * a completion's wake can come after the sweeper's); 1-64 clients, each
 * of a kind:
 *
 *  - well-behaved: batches of SET (plain, PX, PXAT), GET, DEL, INCR,
 *    EXPIRE, PEXPIRE, TTL, PTTL, MSET, MGET, EXISTS and PERSIST on keys
 *    of its own, one request at a time or pipelined (up to 8), values of
 *    letters or digits (now and then of 16-20 KiB: sent from the entry
 *    by reference), with pauses in virtual time between batches so keys
 *    expire; every reply is checked against a model of its keys. A
 *    command runs at some instant between the batch's send and the
 *    reply's arrival, so the model keeps each expiry as an interval of
 *    ms: a key whose expiry is at or before the earliest instant the
 *    command can have run is gone; one whose expiry is after the latest
 *    is there; in between either answer is right, and the answer decides
 *    which it was. Ends with QUIT: +OK, then the end of file.
 *  - non-reader (amplification): SETs a value of 32-128 KiB (tight: 1-2
 *    KiB), then pipelines GETs of it for ever and never reads, or (one in
 *    three) reads a little every 10-50 ms (16 bytes at most; tight: 2 KiB),
 *    far slower than it asks; the server must close it (--send-ms, or the
 *    budget in the tight regime), its send then fails. A slow one in the
 *    roomy regime is held to no deadline: each piece it lets through
 *    renews --send-ms, and the client cannot see when that was.
 *  - flood: a stream of PINGs (inline and multibulk) mixed with blank
 *    lines, sent without waiting, a reader beside it that checks exactly
 *    one +PONG per PING, then the end of file after its shutdown.
 *  - oversized: a bulk length past --max-bulk, a multibulk count that is
 *    not a number, or an inline line past 64 KiB: the protocol error's
 *    reply and the end of file (or a reset: the server closed with the
 *    client's bytes unread).
 *  - idle: a PING and its +PONG, then nothing: --idle-ms closes it within
 *    [deadline - 2 ticks, deadline + 3 ticks]; or part of a request, then
 *    nothing (the deadline runs from the connection's start).
 *
 * Two regimes, as in the echo scenario. Roomy: --max-clients-mem 64 MiB,
 * non-readers closed by --send-ms (250-2000 ms) within 3 ticks of their
 * last send. Tight (1 in 4): 1-4 clients, one request a batch, small
 * values, no short transfers, no flood, --max-pipeline 1-4, --send-ms and
 * --idle-ms 60 s, and a budget below what one stuck non-reader holds (its
 * stream fills to an arm, 64 KiB, with its task asleep in a send) and
 * above what the rest hold (TIGHT_W each): the budget must close every
 * non-reader within 5 ticks of its last send, not --send-ms.
 *
 * Checks, at every well-behaved client's batch and every 10 virtual ms:
 * what the connections hold by the server's own count (kv_worker's mem
 * less its doomed ones') is within --max-clients-mem; the fresh figure
 * (the unread stream bytes as the runtime holds them now) within it plus
 * what each connection's stream may take between two sweeps (stream_queue
 * + 5 buffers, the runtime's bound); the runtime's op records within a
 * connection's two and its stream's queue records, plus the clients'
 * own; the runtime's counted allocator within twice what the
 * connections hold plus the clients' and 4 MiB. At the end: every
 * well-behaved history agreed with the model, every hostile client was
 * closed on time, the server held nothing once its clients were gone,
 * urt_run returned 0, and once torn down (the listener closed through
 * the ring, deinit) nothing is left: no connection, no allocator byte, no
 * descriptor of the model, no stall.
 *
 * With o->faults_pct the model resets connections, refuses connects and
 * so on: a client that sees a network error stops there (what it read
 * before was checked), and the deadlines are not checked; the rest is.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <urt/urt.h>

#include "../kv/server.h"
#include "scenario.h"
#include "simlib.h"

#define MAX_CLIENTS   64
#define TIGHT_CLIENTS 4
#define TIGHT_W	      (2 * KV_OUT_CHUNK + KV_RX_BUF + 512)
#define TIGHT_NR      (4 * KV_OUT_CHUNK + KV_RX_BUF) /* in and out grown once */
#define MAX_KEYS      6
#define MAX_BATCH     8
#define MAX_MULTI     4 /* keys of an MSET, MGET */
#define BIG_MIN	      (16 * 1024)
#define BIG_MAX	      (20 * 1024)
#define MS	      1000000ull
#define TICK_MS	      (IDLE_TICK_NS / MS)
#define DEADLINE_NS   (1200ull * 1000 * MS)
#define CHECK_NS      (10 * MS)
#define WALL_OFF      1700000000000ll /* the wall clock's ms less the model's */
/* What one connection's stream may take between two sweeps: the runtime's
 * bound, stream_queue (16, the default) + 5 buffers (docs/servers.md) */
#define STREAM_MAX ((16 + 5) * KV_RX_BUF)

enum kind { WB, NON_READER, FLOOD, OVERSIZE, IDLE, PARTIAL };

static const char *const kind_name[] = { "well-behaved", "non-reader", "flood",
					 "oversized",	 "idle",       "partial" };

enum cmd {
	C_SET,
	C_SETPX,
	C_SETPXAT,
	C_GET,
	C_DEL,
	C_INCR,
	C_EXPIRE,
	C_PEXPIRE,
	C_TTL,
	C_PTTL,
	C_MSET,
	C_MGET,
	C_EXISTS,
	C_PERSIST,
	C_NCMDS
};

static const char *const cmd_name[] = { "SET",	"SET PX", "SET PXAT", "GET",	"DEL",
					"INCR", "EXPIRE", "PEXPIRE",  "TTL",	"PTTL",
					"MSET", "MGET",	  "EXISTS",   "PERSIST" };

/* The model of one key: exp_lo..exp_hi the ms its expiry lies in (0: none). */
struct mkey {
	bool exists;
	bool unknown; /* a reply could not tell two states apart: unchecked until written */
	char *val;
	uint32_t vlen;
	int64_t exp_lo, exp_hi;
};

/* A request of a batch, as the model needs it to judge its reply. */
struct req {
	enum cmd cmd;
	uint8_t nkeys;
	uint8_t key[MAX_MULTI];
	char *val[MAX_MULTI]; /* SET, MSET: the values (malloc'd, the model takes them) */
	uint32_t vlen[MAX_MULTI];
	int64_t arg; /* ms, s, or the wall-clock ms of PXAT */
};

/* A parsed reply: type + - : $ *; an array's elements are bulks (len -1: nil). */
struct reply {
	char type;
	long long i;
	const char *s;
	long len;
	int n;
	const char *es[MAX_MULTI];
	long elen[MAX_MULTI];
};

struct world;

struct cli {
	struct world *w;
	int id;
	enum kind kind;
	struct scn_rng rng;
	uint32_t nkeys;
	struct mkey keys[MAX_KEYS];
	uint32_t batches; /* a well-behaved one's; a flood's PINGs */
	uint32_t pipe_pct;
	uint32_t sub;	    /* a variant of its kind */
	uint32_t big;	    /* a non-reader's value */
	uint32_t pongs;	    /* a flood's: replies checked */
	uint64_t last_ok;   /* a non-reader's last send that completed, or an idle one's PONG */
	uint64_t closed_at; /* when it saw the server close it */
	uint32_t replies;   /* checked */
	bool done, net_err; /* its task finished; it stopped at a network error (faults) */
};

struct world {
	struct kv_shared sh;
	struct kv_worker srv;
	struct urt_sim *sim;
	uint16_t port;
	int n;
	struct cli cli[MAX_CLIENTS];
	struct urt_join joins[MAX_CLIENTS];
	bool tight, faults;
	uint32_t nr;
	uint32_t idle_ms, send_ms;
	size_t heap0;
	size_t fresh_peak; /* most the connections held at a check, fresh (less the doomed) */
	uint64_t checks;
	bool over;
	char why[256];
};

static void cli_fail(struct cli *c, const char *what, long ret)
{
	scn_fail(c->w->why, "client %d (%s): %s (%ld; %u replies checked)", c->id,
		 kind_name[c->kind], what, ret, c->replies);
}

/* A network error: with faults a client stops there; without, it fails. */
static void net_error(struct cli *c, const char *what, long ret)
{
	c->net_err = true;
	if (!c->w->faults)
		cli_fail(c, what, ret);
}

static int64_t now_ms(void)
{
	return (int64_t)(urt_now_ns() / MS);
}

/* --- the invariants ------------------------------------------------------------------ */

/*
 * What the server holds, against its documented bounds (see the top).
 * Called between polls: every change of a connection's buffers is counted
 * (and shed past the budget) before its task waits.
 */
static void check_bounds(struct world *w)
{
	struct kv_worker *s = &w->srv;
	struct urt_runtime_stats st;
	size_t fresh, held = s->mem - s->mem_doomed, slack, ops, heap;

	w->checks++;
	urt_runtime_stats(&s->rt, &st);
	if (held > s->o.mem_budget)
		scn_fail(w->why,
			 "connections hold %zu bytes (the server's count), past the budget %zu",
			 held, s->o.mem_budget);
	fresh = kv_worker_mem(s, &st);
	if (fresh > s->mem_doomed && fresh - s->mem_doomed > w->fresh_peak)
		w->fresh_peak = fresh - s->mem_doomed;
	slack = (size_t)s->live * STREAM_MAX;
	if (fresh > s->mem_doomed && fresh - s->mem_doomed > s->o.mem_budget + slack)
		scn_fail(w->why,
			 "connections hold %zu bytes (fresh), past the budget %zu and a tick's "
			 "arrival %zu",
			 fresh - s->mem_doomed, s->o.mem_budget, slack);
	/* a connection: its receive and its send, and its stream's queue (a
	 * record a 4 completions: it pauses at (stream_queue + 3) / 4, and one
	 * more may come); a client: two, a reader one; the acceptor (and its
	 * queue), the two sweepers, the checker, the controller, the watchdog */
	ops = (2 + (16 + 3) / 4 + 2) * (size_t)s->live + 3 * (size_t)w->n + 16;
	if (st.ops_live > ops)
		scn_fail(w->why, "%zu op records in use, past %zu (%llu connections, %d clients)",
			 st.ops_live, ops, (unsigned long long)s->live, w->n);
	/* the allocator: what the connections hold (in and out of the budget:
	 * doomed ones too, and the references' arrays), twice for the task
	 * pools' classes, plus the clients' tasks and a chunk of slack */
	heap = atomic_load(&s->heap.bytes);
	if (heap > w->heap0 + 2 * s->mem + (size_t)w->n * 64 * 1024 + 4 * 1024 * 1024)
		scn_fail(w->why,
			 "the runtime's allocator holds %zu bytes, past %zu + 2 x %zu + clients",
			 heap, w->heap0, s->mem);
}

/* --- the keyspace model ------------------------------------------------------------- */

enum { GONE, LIVE, MAYBE };

/* Key m at a command that ran at some ms in [lo, hi]. */
static int resolve(struct mkey *m, int64_t lo, int64_t hi)
{
	if (!m->exists)
		return GONE;
	if (!m->exp_lo)
		return LIVE;
	if (m->exp_hi <= lo) {
		m->exists = false;
		return GONE;
	}
	return m->exp_lo > hi ? LIVE : MAYBE;
}

static void set_key(struct mkey *m, char *val, uint32_t vlen, int64_t lo, int64_t hi)
{
	free(m->val);
	m->val = val;
	m->vlen = vlen;
	m->exists = true;
	m->unknown = false;
	m->exp_lo = lo;
	m->exp_hi = hi;
}

/* The value as a number INCR takes (digits, no leading zero), or -1. */
static long long as_int(const struct mkey *m)
{
	long long v = 0;

	if (!m->vlen || m->vlen > 18 || (m->val[0] == '0' && m->vlen > 1))
		return -1;
	for (uint32_t i = 0; i < m->vlen; i++) {
		if (m->val[i] < '0' || m->val[i] > '9')
			return -1;
		v = v * 10 + (m->val[i] - '0');
	}
	return v;
}

/* A bulk reply (or an array's element) for key m: nil or its value. */
static bool check_value(struct mkey *m, int r, const char *s, long len)
{
	if (m->unknown)
		return true;
	if (len < 0) {
		if (r == LIVE)
			return false;
		m->exists = false;
		return true;
	}
	return r != GONE && (uint32_t)len == m->vlen && !memcmp(s, m->val, m->vlen);
}

/* Round half up, as TTL does. */
static long long secs(long long ms)
{
	return ms / 1000 + (ms % 1000 >= 500);
}

/* Judge reply p of request q, run at some ms in [lo, hi]; the model moves
 * on. Return: NULL, or what was wrong. */
static const char *judge(struct cli *c, struct req *q, const struct reply *p, int64_t lo,
			 int64_t hi)
{
	struct mkey *m = &c->keys[q->key[0]];
	int r = q->cmd == C_MSET ? LIVE : resolve(m, lo, hi);

	if (m->unknown && q->cmd != C_SET && q->cmd != C_SETPX && q->cmd != C_SETPXAT &&
	    q->cmd != C_MSET && q->cmd != C_MGET) {
		if (q->cmd == C_DEL) { /* gone now, whatever it answers */
			m->exists = false;
			m->unknown = false;
		}
		return NULL;
	}
	switch (q->cmd) {
	case C_SET:
	case C_SETPX:
	case C_SETPXAT:
		if (p->type != '+' || p->len != 2 || memcmp(p->s, "OK", 2))
			return "not +OK";
		if (q->cmd == C_SET)
			set_key(m, q->val[0], q->vlen[0], 0, 0);
		else if (q->cmd == C_SETPX)
			set_key(m, q->val[0], q->vlen[0], lo + q->arg, hi + q->arg);
		else
			set_key(m, q->val[0], q->vlen[0], q->arg - WALL_OFF, q->arg - WALL_OFF);
		q->val[0] = NULL;
		return NULL;
	case C_GET:
		if (p->type != '$' || !check_value(m, r, p->s, p->len))
			return "a value the model does not have";
		return NULL;
	case C_DEL:
	case C_EXISTS:
		if (p->type != ':' || (p->i != 0 && p->i != 1) || (p->i == 1 && r == GONE) ||
		    (p->i == 0 && r == LIVE))
			return "a count the model does not have";
		if (q->cmd == C_DEL || !p->i)
			m->exists = false;
		return NULL;
	case C_INCR: {
		long long v = r == GONE ? -2 : as_int(m);
		char tmp[24];
		int n;

		if (p->type == '-') { /* the value is not a number */
			if (r == GONE || v >= 0)
				return "an error INCR must not give";
			return NULL;
		}
		if (p->type != ':')
			return "not an integer";
		if (p->i == 1 && r == MAYBE && v == 0) { /* expired, or 0 + 1: either */
			set_key(m, strdup("1"), 1, m->exp_lo, m->exp_hi);
			m->unknown = true;
			return NULL;
		}
		if (p->i == 1 && r != LIVE) { /* it was gone (or expired): a new key */
			set_key(m, strdup("1"), 1, 0, 0);
			return NULL;
		}
		if (r == GONE || v < 0 || p->i != v + 1)
			return "a number the model does not have";
		n = snprintf(tmp, sizeof(tmp), "%lld", v + 1);
		free(m->val);
		m->val = strdup(tmp);
		m->vlen = (uint32_t)n;
		return NULL; /* INCR keeps the expiry */
	}
	case C_EXPIRE:
	case C_PEXPIRE: {
		int64_t d = q->cmd == C_EXPIRE ? q->arg * 1000 : q->arg;

		if (p->type != ':' || (p->i != 0 && p->i != 1) || (p->i == 1 && r == GONE) ||
		    (p->i == 0 && r == LIVE))
			return "an answer the model does not have";
		if (p->i) {
			m->exp_lo = lo + d;
			m->exp_hi = hi + d;
		} else {
			m->exists = false;
		}
		return NULL;
	}
	case C_TTL:
	case C_PTTL: {
		bool s = q->cmd == C_TTL;

		if (p->type != ':')
			return "not an integer";
		if (p->i == -2) {
			if (r == LIVE)
				return "-2 for a live key";
			m->exists = false;
		} else if (p->i == -1) {
			if (r == GONE || m->exp_lo)
				return "-1 for a key the model has no such";
		} else {
			long long a = m->exp_lo - hi, b = m->exp_hi - lo;

			if (r == GONE || !m->exp_lo || p->i < (s ? secs(a) : a) ||
			    p->i > (s ? secs(b) : b))
				return "a time to live outside the model's interval";
		}
		return NULL;
	}
	case C_MSET:
		if (p->type != '+' || p->len != 2 || memcmp(p->s, "OK", 2))
			return "not +OK";
		for (int i = 0; i < q->nkeys; i++) {
			set_key(&c->keys[q->key[i]], q->val[i], q->vlen[i], 0, 0);
			q->val[i] = NULL;
		}
		return NULL;
	case C_MGET:
		if (p->type != '*' || p->n != q->nkeys)
			return "not an array of the keys";
		for (int i = 0; i < q->nkeys; i++) {
			struct mkey *k = &c->keys[q->key[i]];

			if (!check_value(k, resolve(k, lo, hi), p->es[i], p->elen[i]))
				return "an element the model does not have";
		}
		return NULL;
	case C_PERSIST:
		if (p->type != ':' || (p->i != 0 && p->i != 1))
			return "not 0 or 1";
		if (p->i == 1) {
			if (r == GONE || !m->exp_lo)
				return "1 for a key without an expiry";
			m->exp_lo = m->exp_hi = 0;
		} else if (r == LIVE && m->exp_lo) {
			return "0 for a live key with an expiry";
		} else if (m->exp_lo) {
			m->exists = false;
		}
		return NULL;
	default:
		return "?";
	}
}

/* --- RESP --------------------------------------------------------------------------- */

/* The line at b (n bytes) up to its CRLF: its length, or -1 if incomplete. */
static long line(const char *b, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (b[i] == '\r' && b[i + 1] == '\n')
			return (long)i;
	return -1;
}

static long long num(const char *s, long n)
{
	long long v = 0;
	bool neg = n > 0 && s[0] == '-';

	for (long i = neg; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return neg ? -v : v;
}

/* One bulk at b: bytes taken, 0 if incomplete, -1 if malformed. */
static long bulk(const char *b, size_t n, const char **s, long *len)
{
	long l = line(b, n);

	if (l < 0)
		return 0;
	if (b[0] != '$')
		return -1;
	*len = num(b + 1, l - 1);
	*s = b + l + 2;
	if (*len < 0)
		return l + 2;
	if ((size_t)(l + 2 + *len + 2) > n)
		return 0;
	return l + 2 + *len + 2;
}

/* One reply at b: bytes taken, 0 if incomplete, -1 if malformed. */
static long parse_reply(const char *b, size_t n, struct reply *r)
{
	long l, k, used;

	if (!n)
		return 0;
	*r = (struct reply){ .type = b[0] };
	switch (b[0]) {
	case '+':
	case '-':
	case ':':
		l = line(b, n);
		if (l < 0)
			return 0;
		r->s = b + 1;
		r->len = l - 1;
		r->i = b[0] == ':' ? num(b + 1, l - 1) : 0;
		return l + 2;
	case '$':
		return bulk(b, n, &r->s, &r->len);
	case '*':
		l = line(b, n);
		if (l < 0)
			return 0;
		r->n = (int)num(b + 1, l - 1);
		if (r->n < 0 || r->n > MAX_MULTI)
			return -1;
		used = l + 2;
		for (int i = 0; i < r->n; i++) {
			k = bulk(b + used, n - (size_t)used, &r->es[i], &r->elen[i]);
			if (k <= 0)
				return k;
			used += k;
		}
		return used;
	default:
		return -1;
	}
}

/* A growing byte buffer (the scenario's memory, not the runtime's). */
struct bytes {
	char *p;
	size_t len, cap;
};

static void put(struct bytes *b, const void *s, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_bulk(struct bytes *b, const char *s, size_t n)
{
	char hdr[32];
	int k = snprintf(hdr, sizeof(hdr), "$%zu\r\n", n);

	put(b, hdr, (size_t)k);
	put(b, s, n);
	put(b, "\r\n", 2);
}

static void put_str(struct bytes *b, const char *s)
{
	put_bulk(b, s, strlen(s));
}

static void put_int(struct bytes *b, long long v)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "%lld", v);
	put_str(b, tmp);
}

static void put_array(struct bytes *b, int n)
{
	char hdr[24];
	int k = snprintf(hdr, sizeof(hdr), "*%d\r\n", n);

	put(b, hdr, (size_t)k);
}

static void key_name(char *buf, size_t n, int id, int k)
{
	snprintf(buf, n, "c%d:k%d", id, k);
}

static void put_key(struct bytes *b, const struct cli *c, int k)
{
	char name[24];

	key_name(name, sizeof(name), c->id, k);
	put_str(b, name);
}

/* --- a well-behaved client's requests ----------------------------------------------- */

/* A value: digits INCR takes, or letters; now and then a large one
 * (unless small). */
static char *new_value(struct cli *c, bool small, uint32_t *len)
{
	uint32_t n, r = scn_range(&c->rng, 0, 99);
	char *v;

	if (r < 40) {
		char tmp[16];

		n = (uint32_t)snprintf(tmp, sizeof(tmp), "%u", scn_range(&c->rng, 0, 1000));
		*len = n;
		return strdup(tmp);
	}
	n = r < 43 && !small ? scn_range(&c->rng, BIG_MIN, BIG_MAX) : scn_range(&c->rng, 1, 40);
	v = malloc(n);
	if (!v)
		abort();
	{
		uint64_t x = scn_rand(&c->rng);

		for (uint32_t i = 0; i < n; i++, x = x * 6364136223846793005ull + 1)
			v[i] = (char)('a' + (x >> 33) % 26);
	}
	*len = n;
	return v;
}

/*
 * Whether a key may hold a large value: then the batch is one request.
 * A pipelined batch is of small values only: its requests and replies
 * fit in the receive queues, so the server's reply never waits on a
 * client still sending (a client that sends and does not read meanwhile
 * is what --send-ms closes).
 */
static bool has_big(const struct cli *c)
{
	for (uint32_t i = 0; i < c->nkeys; i++)
		if (c->keys[i].unknown || (c->keys[i].exists && c->keys[i].vlen > 1024))
			return true;
	return false;
}

/* Draw request q and append it to b. */
static void new_request(struct cli *c, struct req *q, struct bytes *b, uint64_t t_ns, bool small)
{
	*q = (struct req){ .cmd = (enum cmd)scn_range(&c->rng, 0, C_NCMDS - 1), .nkeys = 1 };
	q->key[0] = (uint8_t)scn_range(&c->rng, 0, c->nkeys - 1);
	if (q->cmd == C_MSET || q->cmd == C_MGET) {
		q->nkeys = (uint8_t)scn_range(&c->rng, 1, MAX_MULTI);
		for (int i = 1; i < q->nkeys; i++) /* distinct: a repeat's count is ambiguous */
			q->key[i] = (uint8_t)((q->key[i - 1] + 1) % c->nkeys);
		if (q->nkeys > c->nkeys)
			q->nkeys = (uint8_t)c->nkeys;
	}
	switch (q->cmd) {
	case C_SET:
	case C_SETPX:
	case C_SETPXAT:
		q->val[0] = new_value(c, small, &q->vlen[0]);
		put_array(b, q->cmd == C_SET ? 3 : 5);
		put_str(b, "SET");
		put_key(b, c, q->key[0]);
		put_bulk(b, q->val[0], q->vlen[0]);
		if (q->cmd == C_SETPX) {
			q->arg = scn_range(&c->rng, 1, 300);
			put_str(b, "PX");
			put_int(b, q->arg);
		} else if (q->cmd == C_SETPXAT) {
			/* from 20 ms ago (gone at once) to 300 ms on */
			q->arg = (int64_t)(t_ns / MS) + WALL_OFF - 20 + scn_range(&c->rng, 0, 320);
			put_str(b, "PXAT");
			put_int(b, q->arg);
		}
		break;
	case C_GET:
	case C_DEL:
	case C_INCR:
	case C_TTL:
	case C_PTTL:
	case C_EXISTS:
	case C_PERSIST: {
		static const char *const names[C_NCMDS] = {
			[C_GET] = "GET",	 [C_DEL] = "DEL",   [C_INCR] = "INCR",
			[C_TTL] = "TTL",	 [C_PTTL] = "PTTL", [C_EXISTS] = "EXISTS",
			[C_PERSIST] = "PERSIST",
		};

		put_array(b, 2);
		put_str(b, names[q->cmd]);
		put_key(b, c, q->key[0]);
		break;
	}
	case C_EXPIRE:
	case C_PEXPIRE:
		q->arg = q->cmd == C_EXPIRE ? scn_range(&c->rng, 1, 2) : scn_range(&c->rng, 1, 300);
		put_array(b, 3);
		put_str(b, q->cmd == C_EXPIRE ? "EXPIRE" : "PEXPIRE");
		put_key(b, c, q->key[0]);
		put_int(b, q->arg);
		break;
	case C_MSET:
		put_array(b, 1 + 2 * q->nkeys);
		put_str(b, "MSET");
		for (int i = 0; i < q->nkeys; i++) {
			q->val[i] = new_value(c, small, &q->vlen[i]);
			put_key(b, c, q->key[i]);
			put_bulk(b, q->val[i], q->vlen[i]);
		}
		break;
	case C_MGET:
		put_array(b, 1 + q->nkeys);
		put_str(b, "MGET");
		for (int i = 0; i < q->nkeys; i++)
			put_key(b, c, q->key[i]);
		break;
	default:
		break;
	}
}

/* --- the clients ---------------------------------------------------------------------- */

/* A flood's blank lines, sliced. */
static char crlfs[1024], lfs[512];

static void blanks_init(void)
{
	for (size_t i = 0; i < sizeof(crlfs); i += 2)
		memcpy(crlfs + i, "\r\n", 2);
	memset(lfs, '\n', sizeof(lfs));
}

struct client {
	struct cli *c;
	struct urt_op op;
	struct urt_io_all io;
	struct urt_join reader;
	struct sockaddr_in sa; /* read when the model takes the connect: in the state */
	int fd, n, i;
	bool sent_reset; /* oversized: its send met the reset */
	uint32_t nreq, got, left;
	uint64_t t0, out;
	struct bytes sb, rb; /* what it sends, what it received and has not judged */
	struct req q[MAX_BATCH];
};

/* A flood's reader: exactly one +PONG per PING, then the end of file. */
struct reader {
	struct cli *c;
	struct urt_op op;
	int fd, n;
	uint32_t have; /* bytes of the current +PONG\r\n */
	char buf[4096];
};

static bool reader_poll(struct urt_task *t, void *arg)
{
	static const char pong[] = "+PONG\r\n";
	struct reader *r = arg;
	struct cli *c = r->c;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, r->n = urt_recv(t, &r->op, r->fd, r->buf, sizeof(r->buf), 0));
		if (r->n < 0) {
			net_error(c, "flood: receive", r->n);
			URT_RETURN(t, 1);
		}
		if (r->n == 0)
			break;
		for (int i = 0; i < r->n; i++) {
			if (r->buf[i] != pong[r->have]) {
				cli_fail(c, "flood: not +PONG", c->pongs);
				URT_RETURN(t, 1);
			}
			if (++r->have == sizeof(pong) - 1) {
				r->have = 0;
				c->pongs++;
			}
		}
	}
	/* on a faulty network the end of file may come early: the writer may
	 * have taken the reset (a reset is reported once), and what was queued
	 * is lost */
	if (c->w->faults ? c->pongs > c->batches : r->have || c->pongs != c->batches)
		cli_fail(c, "flood: PONGs at the end of file", c->pongs);
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type reader_type = { .poll = reader_poll, .name = "scn-kv-reader" };

/* A slow non-reader's reader: a little now and then, until the end. */
struct drain {
	struct cli *c;
	struct urt_op op;
	int fd, n;
	uint32_t most; /* bytes a read */
	char buf[2048];
};

static bool drain_poll(struct urt_task *t, void *arg)
{
	struct drain *d = arg;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, d->n = urt_sleep(t, &d->op, MS * scn_range(&d->c->rng, 10, 50)));
		URT_AWAIT(t, d->n = urt_recv(t, &d->op, d->fd, d->buf,
					     scn_range(&d->c->rng, 1, d->most), 0));
		if (d->n <= 0)
			break;
	}
	URT_END(t);
}

static const struct urt_task_type drain_type = { .poll = drain_poll, .name = "scn-kv-drain" };

/* The replies of the batch in k->q: received and judged. Awaitable: a
 * step of the client's poll, by hand (it returns URT_PENDING). */
static void free_batch(struct client *k)
{
	for (uint32_t i = 0; i < k->nreq; i++)
		for (int j = 0; j < MAX_MULTI; j++) {
			free(k->q[i].val[j]);
			k->q[i].val[j] = NULL;
		}
	k->nreq = 0;
}

/* Judge what k->rb holds. Return: -1 failed (said), 0 more needed, 1 all judged. */
static int judge_batch(struct client *k)
{
	struct cli *c = k->c;
	size_t at = 0;
	int64_t lo = (int64_t)(k->t0 / MS), hi = now_ms();

	while (k->got < k->nreq) {
		struct reply p;
		long used = parse_reply(k->rb.p + at, k->rb.len - at, &p);
		const char *why;

		if (used < 0) {
			cli_fail(c, "a malformed reply", k->got);
			return -1;
		}
		if (!used)
			break;
		why = judge(c, &k->q[k->got], &p, lo, hi);
		if (why) {
			char msg[160];

			snprintf(msg, sizeof(msg), "%s key c%d:k%u: %s (reply %c%.*s)",
				 cmd_name[k->q[k->got].cmd], c->id, k->q[k->got].key[0], why,
				 p.type,
				 (int)(p.len > 24  ? 24
				       : p.len < 0 ? 0
						   : p.len),
				 p.s ? p.s : "");
			cli_fail(c, msg, (long)(hi - lo));
			return -1;
		}
		at += (size_t)used;
		k->got++;
		c->replies++;
	}
	memmove(k->rb.p, k->rb.p + at, k->rb.len - at);
	k->rb.len -= at;
	return k->got == k->nreq;
}

/* Make room for a receive of up to 16 KiB at the end of k->rb. */
static char *rb_room(struct client *k)
{
	if (k->rb.cap - k->rb.len < 16384) {
		k->rb.cap = k->rb.cap ? k->rb.cap * 2 : 32768;
		k->rb.p = realloc(k->rb.p, k->rb.cap);
		if (!k->rb.p)
			abort();
	}
	return k->rb.p + k->rb.len;
}

/*
 * An oversized request's answer, read to the end of file: the protocol
 * error whole. Or nothing, when the reset (the server closed with bytes
 * unread) was reported to the send; or, on a faulty network, a prefix of
 * it: a reset may cut it short, and whichever call meets it first takes
 * the error.
 */
static bool oversized_reply_ok(const struct client *k, const char *want, bool faults)
{
	size_t n = strlen(want);

	if (k->rb.len == 0 && k->sent_reset)
		return true;
	if (faults ? k->rb.len > n : k->rb.len != n)
		return false;
	return !memcmp(k->rb.p, want, k->rb.len);
}

static bool client_poll(struct urt_task *t, void *arg)
{
	struct client *k = arg;
	struct cli *c = k->c;
	struct world *w = c->w;

	URT_BEGIN(t);
	k->sa = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(w->port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	URT_AWAIT(t, k->fd = urt_socket(t, &k->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (k->fd < 0) {
		cli_fail(c, "socket", k->fd);
		goto out;
	}
	URT_AWAIT(t,
		  k->n = urt_connect(t, &k->op, k->fd, (struct sockaddr *)&k->sa, sizeof(k->sa)));
	if (k->n < 0) {
		net_error(c, "connect", k->n);
		goto out;
	}
	k->t0 = urt_now_ns();
	if (c->kind == WB) {
		for (k->i = 0; k->i < (int)c->batches; k->i++) {
			/* a batch: one request, or a pipeline */
			k->sb.len = 0;
			k->t0 = urt_now_ns();
			k->nreq = scn_range(&c->rng, 0, 99) < c->pipe_pct
					  ? scn_range(&c->rng, 2, MAX_BATCH)
					  : 1;
			if (w->tight || has_big(c))
				k->nreq = 1;
			for (uint32_t j = 0; j < k->nreq; j++)
				new_request(c, &k->q[j], &k->sb, k->t0, w->tight || k->nreq > 1);
			k->got = 0;
			k->io.done = 0;
			URT_AWAIT(t, k->n = urt_send_all(t, &k->io, k->fd, k->sb.p, k->sb.len));
			if (k->n != (int)k->sb.len) {
				net_error(c, "send", k->n);
				goto out;
			}
			for (;;) {
				URT_AWAIT(t,
					  k->n = urt_recv(t, &k->op, k->fd, rb_room(k), 16384, 0));
				if (k->n <= 0) {
					net_error(c, "the replies ended early", k->n);
					goto out;
				}
				k->rb.len += (size_t)k->n;
				k->n = judge_batch(k);
				if (k->n < 0)
					goto out;
				if (k->n)
					break;
			}
			free_batch(k);
			check_bounds(w);
			if (k->rb.len) {
				cli_fail(c, "bytes past the replies", (long)k->rb.len);
				goto out;
			}
			/* a pause, in virtual time, well inside --idle-ms */
			if (scn_range(&c->rng, 0, 3) == 0)
				URT_AWAIT(t, k->n = urt_sleep(
						     t, &k->op,
						     MS * scn_range(&c->rng, 1, w->idle_ms / 3)));
		}
		k->sb.len = 0;
		put_array(&k->sb, 1);
		put_str(&k->sb, "QUIT");
		k->io.done = 0;
		URT_AWAIT(t, k->n = urt_send_all(t, &k->io, k->fd, k->sb.p, k->sb.len));
		if (k->n != (int)k->sb.len) {
			net_error(c, "send QUIT", k->n);
			goto out;
		}
		k->io.done = 0;
		URT_AWAIT(t, k->n = urt_recv_exact(t, &k->io, k->fd, rb_room(k), 5));
		if (k->n != 5 || memcmp(k->rb.p, "+OK\r\n", 5)) {
			if (k->n == 5)
				cli_fail(c, "QUIT: not +OK", k->n);
			else
				net_error(c, "QUIT: no reply", k->n);
			goto out;
		}
		URT_AWAIT(t, k->n = urt_recv(t, &k->op, k->fd, rb_room(k), 1, 0));
		if (k->n != 0)
			net_error(c, "no end of file after QUIT", k->n);
	} else if (c->kind == NON_READER) {
		/* its big value, read back as +OK */
		k->sb.len = 0;
		put_array(&k->sb, 3);
		put_str(&k->sb, "SET");
		put_key(&k->sb, c, 0);
		{
			char *v = malloc(c->big);

			if (!v)
				abort();
			memset(v, 'x', c->big);
			put_bulk(&k->sb, v, c->big);
			free(v);
		}
		k->io.done = 0;
		URT_AWAIT(t, k->n = urt_send_all(t, &k->io, k->fd, k->sb.p, k->sb.len));
		if (k->n != (int)k->sb.len) {
			net_error(c, "send its SET", k->n);
			goto out;
		}
		k->io.done = 0;
		URT_AWAIT(t, k->n = urt_recv_exact(t, &k->io, k->fd, rb_room(k), 5));
		if (k->n != 5 || memcmp(k->rb.p, "+OK\r\n", 5)) {
			net_error(c, "its SET: not +OK", k->n);
			goto out;
		}
		c->last_ok = urt_now_ns();
		/* then GETs of it for ever, never read (a slow one: a little
		 * read now and then, far slower than it asks) */
		if (c->sub == 1 &&
		    urt_spawn(urt_task_runtime(t), &drain_type,
			      &(struct drain){ .c = c, .fd = k->fd, .most = w->tight ? 2048 : 16 },
			      sizeof(struct drain), &k->reader)) {
			cli_fail(c, "spawn its drain", -ENOMEM);
			goto out;
		}
		k->sb.len = 0;
		for (int j = 0; j < 64; j++) {
			put_array(&k->sb, 2);
			put_str(&k->sb, "GET");
			put_key(&k->sb, c, 0);
		}
		for (;;) {
			k->io.done = 0;
			URT_AWAIT(t, k->n = urt_send_all(t, &k->io, k->fd, k->sb.p, k->sb.len));
			if (k->n < 0)
				break;
			c->last_ok = urt_now_ns();
		}
		c->closed_at = urt_now_ns();
	} else if (c->kind == FLOOD) {
		if (urt_spawn(urt_task_runtime(t), &reader_type,
			      &(struct reader){ .c = c, .fd = k->fd }, sizeof(struct reader),
			      &k->reader)) {
			cli_fail(c, "spawn its reader", -ENOMEM);
			goto out;
		}
		for (k->left = c->batches; k->left;) {
			k->sb.len = 0;
			while (k->left && k->sb.len < 8192) {
				uint32_t r = scn_range(&c->rng, 0, 9);

				if (r < 3) { /* blank lines: no reply */
					uint32_t j = scn_range(&c->rng, 1, 512);

					if (r)
						put(&k->sb, crlfs, 2 * j);
					else
						put(&k->sb, lfs, j);
				} else {
					if (r < 6)
						put(&k->sb, "PING\r\n", 6);
					else
						put(&k->sb, "*1\r\n$4\r\nPING\r\n", 14);
					k->left--;
				}
			}
			k->io.done = 0;
			URT_AWAIT(t, k->n = urt_send_all(t, &k->io, k->fd, k->sb.p, k->sb.len));
			if (k->n != (int)k->sb.len) {
				net_error(c, "flood: send", k->n);
				goto out;
			}
		}
		URT_AWAIT(t, k->n = urt_shutdown(t, &k->op, k->fd, SHUT_WR));
		URT_AWAIT(t, k->n = urt_join_await(t, &k->reader, &k->out));
		if (k->n || k->out) {
			if (!c->net_err)
				cli_fail(c, "its reader", k->n);
		}
	} else if (c->kind == OVERSIZE) {
		static const char *const err[] = {
			"-ERR Protocol error: invalid bulk length\r\n",
			"-ERR Protocol error: invalid multibulk length\r\n",
			"-ERR Protocol error: too big inline request\r\n"
		};
		k->sb.len = 0;
		if (c->sub == 0) {
			char hdr[64];
			int n = snprintf(hdr, sizeof(hdr), "*2\r\n$3\r\nGET\r\n$%llu\r\n",
					 (unsigned long long)w->sh.lim.max_bulk + 1 +
						 scn_range(&c->rng, 0, 9));

			put(&k->sb, hdr, (size_t)n);
		} else if (c->sub == 1) {
			put(&k->sb, "*1x\r\n", 5);
		} else {
			char *line = malloc(64 * 1024 + 16);

			if (!line)
				abort();
			memset(line, 'a', 64 * 1024 + 16);
			put(&k->sb, line, 64 * 1024 + 16);
			free(line);
		}
		k->io.done = 0;
		URT_AWAIT(t, k->n = urt_send_all(t, &k->io, k->fd, k->sb.p, k->sb.len));
		if (k->n != (int)k->sb.len && !(c->sub == 2 && k->n < 0)) {
			net_error(c, "oversized: send", k->n);
			goto out;
		}
		k->sent_reset = k->n < 0; /* the reset was reported to the send: once */
		k->rb.len = 0;
		for (;;) {
			URT_AWAIT(t, k->n = urt_recv(t, &k->op, k->fd, rb_room(k), 256, 0));
			if (k->n <= 0)
				break;
			k->rb.len += (size_t)k->n;
		}
		c->closed_at = urt_now_ns();
		/* the inline one: the server closes with bytes of it unread,
		 * which may reset the connection before its reply is read */
		if (k->n < 0 && !(c->sub == 2 && k->n == -ECONNRESET)) {
			net_error(c, "oversized: receive", k->n);
		} else if (k->n == 0 && !oversized_reply_ok(k, err[c->sub], c->w->faults)) {
			cli_fail(c, "oversized: not the protocol error, then the end of file",
				 (long)k->rb.len);
		}
	} else { /* idle, partial: then nothing until --idle-ms closes it */
		k->sb.len = 0;
		{
			const char *req =
				c->kind == IDLE ? "PING\r\n" : "*2\r\n$3\r\nGET\r\n$3\r\nab";

			put(&k->sb, req, strlen(req));
		}
		k->io.done = 0;
		URT_AWAIT(t, k->n = urt_send_all(t, &k->io, k->fd, k->sb.p, k->sb.len));
		if (k->n != (int)k->sb.len) {
			net_error(c, "send", k->n);
			goto out;
		}
		if (c->kind == IDLE) {
			k->io.done = 0;
			URT_AWAIT(t, k->n = urt_recv_exact(t, &k->io, k->fd, rb_room(k), 7));
			if (k->n != 7 || memcmp(k->rb.p, "+PONG\r\n", 7)) {
				net_error(c, "no +PONG", k->n);
				goto out;
			}
			k->t0 = urt_now_ns();
		}
		c->last_ok = k->t0;
		URT_AWAIT(t, k->n = urt_recv(t, &k->op, k->fd, rb_room(k), 1, 0));
		c->closed_at = urt_now_ns();
		if (k->n != 0) {
			net_error(c, "idle, not closed with an end of file", k->n);
		} else if (!w->faults) {
			uint64_t ms = (c->closed_at - k->t0) / MS;

			if (ms + 2 * TICK_MS < w->idle_ms || ms > w->idle_ms + 3 * TICK_MS)
				cli_fail(c, "idle, closed off its deadline (ms)", (long)ms);
		}
	}
out:
	if (!urt_join_is_empty(&k->reader)) { /* a writer that failed: the reader goes too */
		URT_DISCARD(urt_join_abort(&k->reader));
		URT_AWAIT(t, k->n = urt_join_await(t, &k->reader, &k->out));
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
	free_batch(k);
	free(k->sb.p);
	free(k->rb.p);
}

static const struct urt_task_type client_type = { .poll = client_poll,
						  .drop = client_drop,
						  .name = "scn-kv-client" };

/* --- the controller, the checker and the watchdog ------------------------------------ */

struct control {
	struct world *w;
	struct urt_op nap;
	int i, ret;
};

static bool control_poll(struct urt_task *t, void *arg)
{
	struct control *k = arg;
	struct world *w = k->w;

	URT_BEGIN(t);
	for (k->i = 0; k->i < w->n; k->i++)
		URT_AWAIT(t, k->ret = urt_join_await(t, &w->joins[k->i], NULL));
	/* a server connection may end just after its client */
	while (w->srv.live) {
		URT_AWAIT(t, k->ret = urt_sleep(t, &k->nap, MS));
	}
	{
		struct urt_runtime_stats st;

		urt_runtime_stats(&w->srv.rt, &st);
		if (st.spill_bytes || st.bufs_free != st.buf_count || w->srv.mem ||
		    w->srv.mem_doomed || w->srv.mem_rx || atomic_load(&w->sh.live))
			scn_fail(w->why,
				 "server not empty after its clients: spill %zu bufs_free %zu/%zu "
				 "mem "
				 "%zu doomed %zu rx %zu live %llu",
				 st.spill_bytes, st.bufs_free, st.buf_count, w->srv.mem,
				 w->srv.mem_doomed, w->srv.mem_rx,
				 (unsigned long long)atomic_load(&w->sh.live));
	}
	w->over = true;
	kv_worker_stop(&w->srv); /* as SIGTERM does */
	urt_stop(urt_task_runtime(t));
	URT_END(t);
}

static const struct urt_task_type control_type = { .poll = control_poll, .name = "scn-kv-control" };

static bool checker_poll(struct urt_task *t, void *arg)
{
	struct control *k = arg;

	URT_BEGIN(t);
	while (!k->w->over) {
		URT_AWAIT(t, k->ret = urt_sleep(t, &k->nap, CHECK_NS));
		check_bounds(k->w);
	}
	URT_END(t);
}

static const struct urt_task_type checker_type = { .poll = checker_poll, .name = "scn-kv-checker" };

static bool watchdog_poll(struct urt_task *t, void *arg)
{
	struct control *k = arg;
	struct world *w = k->w;

	URT_BEGIN(t);
	URT_AWAIT(t, k->ret = urt_sleep(t, &k->nap, DEADLINE_NS));
	for (k->i = 0; k->i < w->n && w->cli[k->i].done; k->i++)
		;
	scn_fail(w->why,
		 "not over after %llu virtual s: client %d (%s) unfinished, server live %llu",
		 (unsigned long long)(DEADLINE_NS / 1000000000u), k->i,
		 k->i < w->n ? kind_name[w->cli[k->i].kind] : "-", (unsigned long long)w->srv.live);
	w->over = true;
	urt_stop(urt_task_runtime(t));
	URT_END(t);
}

static const struct urt_task_type watchdog_type = { .poll = watchdog_poll,
						    .name = "scn-kv-watchdog" };

/* --- the run ----------------------------------------------------------------------- */

/* The world's shape, drawn from the seed, one draw a statement (in order). */
static void draw_world(struct world *w, uint64_t seed, struct urt_sim_opts *so, struct kv_opts *ko,
		       struct resp_limits *lim, uint32_t *pipeline)
{
	struct scn_rng s;
	bool tight;
	uint32_t wb = 0, nr = 0, other = 0;

	scn_rng_seed(&s, seed, "kv");
	tight = scn_range(&s, 0, 3) == 0;

	*so = (struct urt_sim_opts){ .seed = seed };
	so->rcvbuf = scn_range(&s, 4096, tight ? 16384 : 65536);
	so->short_pct = tight ? 0 : scn_range(&s, 0, 50); /* tight: a request, a chunk */
	so->max_latency_ns = scn_range(&s, 1000, 200000);
	*ko = (struct kv_opts){ .mem_budget = 64u << 20, .sweep_keys = true, .max_conns = 64 };
	ko->boxed = scn_range(&s, 0, 1);
	/* few polls a tick: tasks stay queued across ticks, so a wake from a
	 * completion can come after a sweeper's wake from its timer */
	ko->poll_budget = scn_range(&s, 0, 1) ? 0 : 1u << scn_range(&s, 0, 4);
	ko->ring_entries = 4u << scn_range(&s, 0, 6);
	ko->bufs = 16u << scn_range(&s, 0, 5);
	if (tight && ko->bufs < 64)
		ko->bufs = 64; /* a stuck stream's arm (16 buffers) never empties the ring,
				* which would end the arm short of the budget */
	ko->send_ms = tight ? 60000 : scn_range(&s, 250, 2000);
	ko->idle_ms = tight ? 60000 : ko->send_ms + scn_range(&s, 1000, 5000);
	*lim = (struct resp_limits){ .max_args = scn_range(&s, 16, 1024),
				     .max_bulk = scn_range(&s, 128, 512) * 1024,
				     .max_inline = 64 * 1024 };
	lim->max_request = lim->max_bulk + 64 * 1024;
	/* tight: a non-reader's batch stays small, so its task sleeps in a
	 * send while its stream fills: the sweeper's fresh figure must see it */
	*pipeline = scn_range(&s, 1, tight ? 4 : 100);
	w->idle_ms = ko->idle_ms;
	w->send_ms = ko->send_ms;
	w->tight = tight;
	w->n = (int)scn_range(&s, 1, tight ? TIGHT_CLIENTS : MAX_CLIENTS);
	for (int i = 0; i < w->n; i++) {
		struct cli *c = &w->cli[i];
		uint32_t r = scn_range(&s, 0, 99);

		*c = (struct cli){ .w = w, .id = i };
		c->rng.s = scn_rand(&s);
		if (r < 8 && nr < (tight ? 1 : 3))
			c->kind = NON_READER;
		else if (r < 14 && !tight)
			c->kind = FLOOD;
		else if (r < 18)
			c->kind = OVERSIZE;
		else if (r < 21)
			c->kind = IDLE;
		else if (r < 23)
			c->kind = PARTIAL;
		else
			c->kind = WB;
		c->nkeys = scn_range(&s, 1, MAX_KEYS);
		c->pipe_pct = scn_range(&s, 0, 100);
		c->sub = scn_range(&s, 0, tight ? 1 : 2); /* tight: no 64 KiB line, the budget's */
		/* tight: a value far below the budget, so what fills is its stream */
		c->big = tight ? scn_range(&s, 1, 2) * 1024 : scn_range(&s, 32, 128) * 1024;
		if (c->big > lim->max_bulk)
			c->big = (uint32_t)lim->max_bulk;
		c->batches = c->kind == FLOOD ? scn_range(&s, 100, 5000) : scn_range(&s, 1, 60);
		if (c->kind == WB)
			wb++;
		else if (c->kind == NON_READER)
			nr++;
		else
			other++;
	}
	/* tight: above what each holds at most, W = its input and output
	 * buffers (KV_OUT_CHUNK each: small requests, small replies, a 4 KiB
	 * value at most) and one unread chunk (a request comes whole: no
	 * short transfers), and below one stuck non-reader (its stream's arm,
	 * 64 KiB, and its W): see the top */
	if (tight)
		ko->mem_budget = (size_t)(wb + other) * TIGHT_W + (size_t)nr * TIGHT_NR +
				 scn_range(&s, 0, 4096);
	w->nr = nr;
}

static void scn_kv_run(const struct scn_opts *o, struct scn_result *r)
{
	struct world *w = calloc(1, sizeof(*w));
	struct urt_sim_opts so;
	struct kv_opts ko;
	struct resp_limits lim;
	uint32_t pipeline;
	struct urt_join cj = { 0 };
	int lfd, ret;

	*r = (struct scn_result){ 0 };
	if (!w) {
		snprintf(r->why, sizeof(r->why), "out of memory");
		return;
	}
	blanks_init();
	draw_world(w, o->seed, &so, &ko, &lim, &pipeline);
	so.trace = o->trace;
	so.faults_pct = o->faults_pct;
	w->faults = o->faults_pct != 0;
	{ /* the buffer mode and zero-copy sends, as every scenario draws them,
	   * and the invariants after every event */
		struct urt_runtime_opts ro = { .buf_count = ko.bufs, .buf_size = KV_RX_BUF };

		scn_knobs_bufs(o, &ro);
		ko.features_off = ro.features_off;
		ko.send_zc_min = ro.send_zc_min;
		scn_watch_arm(&so, &ro);
	}
	ret = urt_sim_create(&w->sim, &so);
	if (ret) {
		snprintf(r->why, sizeof(r->why), "urt_sim_create: %d", ret);
		free(w);
		return;
	}
	ret = kv_shared_init(&w->sh, &lim, 0, ko.max_conns, pipeline, o->seed);
	if (ret) {
		snprintf(r->why, sizeof(r->why), "kv_shared_init: %d", ret);
		goto out_sim;
	}
	w->sh.srv.threads = 1;
	w->sh.srv.wall_off_ms = WALL_OFF;
	ret = kv_worker_init(&w->srv, &w->sh, &ko, 0, w->sim);
	if (ret) {
		scn_fail(w->why, "kv_worker_init: %d", ret);
		goto out;
	}
	w->heap0 = atomic_load(&w->srv.heap.bytes);
	/* after init, on this thread: the model's listener */
	lfd = urt_listen_tcp("127.0.0.1", 0, 64, 0, &w->port);
	if (lfd < 0) {
		scn_fail(w->why, "urt_listen_tcp: %d", lfd);
	} else if ((ret = kv_worker_start(&w->srv, lfd))) {
		scn_fail(w->why, "kv_worker_start: %d", ret);
	} else {
		for (int i = 0; i < w->n && !w->why[0]; i++)
			if (urt_spawn(&w->srv.rt, &client_type,
				      &(struct client){ .c = &w->cli[i], .fd = -1 },
				      sizeof(struct client), &w->joins[i]))
				scn_fail(w->why, "spawn client %d", i);
		if (urt_spawn(&w->srv.rt, &control_type, &(struct control){ .w = w },
			      sizeof(struct control), &cj) ||
		    urt_spawn(&w->srv.rt, &checker_type, &(struct control){ .w = w },
			      sizeof(struct control), NULL) ||
		    urt_spawn(&w->srv.rt, &watchdog_type, &(struct control){ .w = w },
			      sizeof(struct control), NULL))
			scn_fail(w->why, "spawn the controller");
		if (!w->why[0]) {
			ret = urt_run(&w->srv.rt);
			if (ret)
				scn_fail(w->why, "urt_run: %d", ret);
		}
	}
	for (int i = 0; i < w->n; i++)
		if (!urt_join_is_empty(&w->joins[i]))
			urt_join_detach(&w->joins[i]);
	if (!urt_join_is_empty(&cj))
		urt_join_detach(&cj);
	for (int i = 0; i < w->n; i++) {
		const struct cli *c = &w->cli[i];

		if (!c->done)
			scn_fail(w->why, "client %d (%s) unfinished", i, kind_name[c->kind]);
		if (c->kind == NON_READER && c->done && !c->net_err && !w->faults) {
			uint64_t ms = (c->closed_at - c->last_ok) / MS;
			uint64_t most = w->tight ? 5 * TICK_MS : w->send_ms + 3 * TICK_MS;

			/* tight: the budget acts once the connections hold more than
			 * it; a stuck non-reader's stream may stop short of its arm
			 * (a bundle that empties a small ring ends it), below the
			 * budget: then --send-ms is what closes it */
			if (w->tight && w->fresh_peak <= w->srv.o.mem_budget)
				most = w->send_ms + 3 * TICK_MS;

			/* roomy, a slow one: each piece it lets through renews
			 * --send-ms, unseen here: no bound */
			if (c->last_ok && ms > most && (w->tight || c->sub != 1))
				scn_fail(
					w->why,
					"non-reader %d closed %llu ms after its last send (at most "
					"%llu%s)",
					i, (unsigned long long)ms, (unsigned long long)most,
					w->tight ? ": the budget did not close it" : "");
		}
	}
	if (w->tight && w->nr && !w->srv.closed_mem && !w->faults &&
	    w->fresh_peak > w->srv.o.mem_budget)
		scn_fail(w->why, "%u non-readers, a budget of %zu bytes: none closed by it", w->nr,
			 w->srv.o.mem_budget);
	check_bounds(w);
out:
	kv_worker_finish(&w->srv); /* the listener closed, the rest aborted */
	if (w->srv.live || atomic_load(&w->sh.live))
		scn_fail(w->why, "%llu connections counted after deinit",
			 (unsigned long long)w->srv.live);
	if (atomic_load(&w->srv.heap.bytes))
		scn_fail(w->why, "the runtime's allocator holds %zu bytes after deinit",
			 atomic_load(&w->srv.heap.bytes));
	if (urt_sim_fds_open(w->sim))
		scn_fail(w->why, "%u descriptors of the model left open", urt_sim_fds_open(w->sim));
	if (urt_sim_stalls(w->sim))
		scn_fail(w->why, "%llu stalls", (unsigned long long)urt_sim_stalls(w->sim));
	for (int i = 0; i < w->n; i++)
		for (int j = 0; j < MAX_KEYS; j++)
			free(w->cli[i].keys[j].val);
	kv_shared_deinit(&w->sh);
out_sim:
	r->hash = urt_sim_hash(w->sim);
	r->events = urt_sim_events(w->sim);
	if (!r->why[0] && w->why[0]) {
		char knobs[128];

		snprintf(knobs, sizeof(knobs),
			 " [n=%d tight=%d lat=%llu rcvbuf=%u short=%u%% bufs=%u boxed=%d send=%u "
			 "idle=%u budget=%zu]",
			 w->n, w->tight, (unsigned long long)so.max_latency_ns, so.rcvbuf,
			 so.short_pct, ko.bufs, ko.boxed, ko.send_ms, ko.idle_ms, ko.mem_budget);
		snprintf(r->why, sizeof(r->why), "%.*s%s",
			 (int)(sizeof(r->why) - strlen(knobs) - 1), w->why, knobs);
	}
	scn_watch_take(r->why); /* the invariants after every event */
	urt_sim_destroy(w->sim);
	free(w);
}

const struct scenario scn_kv = {
	.name = "kv",
	.what = "urt-kv's server (examples/kv/server.c), well-behaved clients checked against a "
		"keyspace model, non-readers, floods, oversized and idle clients",
	.run = scn_kv_run,
};
