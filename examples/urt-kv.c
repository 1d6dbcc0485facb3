/* SPDX-License-Identifier: MIT */
/*
 * urt-kv - a Redis-protocol (RESP2) key-value store on urt's public API.
 *
 *   urt-kv [--port P] [--addr A] [--threads N] [--spawn slab|boxed]
 *          [--maxmemory BYTES] [--max-bulk BYTES] [--max-args N]
 *          [--max-conns N]
 *
 * --threads N runtimes, one per thread (a worker), each with its own
 * SO_REUSEPORT listener on the same port and running the connections it
 * accepts. All of them serve one keyspace (examples/kv/store.c) under one
 * lock, kv.lock. A connection takes it once per batch: at the first
 * command it has parsed from one receive, held to the last of them, and
 * nothing in a batch awaits, so pipelined load pays one lock per receive
 * and every command (MGET, MSET, KEYS, SCAN, DBSIZE, FLUSHALL, INCR...)
 * sees one consistent keyspace, exactly as with one thread. The expiry
 * sweep (on the first worker) and the stats take it too. The store's
 * memory comes from its own size-class pools, used only under the lock:
 * no runtime's pools and nothing thread-local (docs/servers.md says why
 * this is not the thread-per-core split by key hash).
 *
 * One task per connection: a multishot receive into its runtime's shared
 * provided buffers, bytes appended to the connection's input buffer (task
 * memory), every complete request parsed in place (examples/kv/resp.c,
 * slices into that buffer) and executed, the replies gathered into the
 * connection's output buffer and sent with one urt_send_all before it
 * reads again: pipelined requests are answered in order, in one send per
 * batch, and a client that never reads stops being read (bounded memory).
 *
 * Strings only: PING ECHO GET SET(EX PX EXAT PXAT NX XX GET KEEPTTL) DEL
 * EXISTS INCR INCRBY DECR DECRBY APPEND STRLEN MGET MSET EXPIRE PEXPIRE TTL
 * PTTL PERSIST TYPE KEYS SCAN DBSIZE FLUSHALL FLUSHDB SELECT QUIT, and
 * enough of COMMAND, CLIENT, CONFIG GET, HELLO and INFO for redis-cli and
 * redis-benchmark. Keys expire lazily on access and by a sweep every
 * 100 ms. Past --maxmemory a write gets -OOM (no eviction).
 *
 * Control (examples/control.h): the main thread blocks SIGINT, SIGTERM and
 * SIGUSR1 (the workers inherit the mask) and takes them with sigwait. Each
 * worker has a control task reading a pipe from it through the ring: 's'
 * stops that runtime (SIGINT / SIGTERM), 'r' (SIGUSR1) files its figures,
 * and the last worker to file them prints the stats line, summed over
 * every runtime.
 * Prints "listening on ADDR:PORT" once every runtime is up; the stats line
 * at exit sums the runtimes too. Exit status 2 for bad flags.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <urt/urt.h>

#include "acceptor.h"
#include "control.h"
#include "counting.h"
#include "flags.h"
#include "kv/resp.h"
#include "kv/store.h"

/* first size of the input and output buffers: with the scope's block header
 * it still fits the largest size class (4096), so no heap call */
#define OUT_CHUNK 4000

#define MAX_THREADS 64

struct opts {
	const char *addr;
	uint16_t port;
	bool boxed;
	int threads;
	uint64_t maxmemory, max_bulk;
	uint32_t max_args, max_conns;
};

static struct opts o = {
	.addr = "127.0.0.1",
	.port = 6379,
	.threads = 1,
	.max_bulk = 64u << 20,
	.max_args = 1024 * 1024,
	.max_conns = 16384,
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
	int id, lfd, ctl[2];	/* ctl: the pipe from the main thread, 'r' or 's' */
	int start_ret, run_ret;
	struct urt_runtime_stats st; /* the last figures it filed */
	uint64_t st_live;
	size_t st_heap;
	pthread_t th;
};

/*
 * What the workers share. kv.lock guards db, commands and reports (and each
 * worker's st, st_live and st_heap). lim (and the options, o) are written
 * before the workers start and only read after. live and next_id are
 * atomics.
 */
static struct {
	pthread_mutex_t lock;
	struct store db;
	uint64_t commands, reports;
	struct resp_limits lim;
	_Atomic uint64_t live;	  /* connections open in every runtime: --max-conns's count */
	_Atomic uint64_t next_id; /* CLIENT ID */
	sem_t started;		  /* each worker posts once, when it is up or has failed */
	struct worker w[MAX_THREADS];
} kv = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* This thread's worker: set before its runtime starts; NULL on the main thread. */
static __thread struct worker *me;

static int64_t now_ms(void)
{
	return (int64_t)(urt_now_ns() / 1000000u);
}

/* --- a connection ------------------------------------------------------------- */

struct conn {
	int fd, n, ret;
	uint64_t id;
	struct urt_op rx;
	struct urt_io_all tx;
	struct urt_buf b;
	char *in, *out; /* task memory */
	size_t in_len, in_cap, out_len, out_cap;
	size_t need; /* the incomplete request at the start of `in` needs this much */
	bool closing, oom;
};

/* Make room for n more output bytes. Return: false when out of memory. */
static bool out_room(struct urt_task *t, struct conn *c, size_t n)
{
	size_t cap = c->out_cap ? c->out_cap : OUT_CHUNK;
	char *p;

	if (c->out_len + n <= c->out_cap)
		return true;
	while (cap < c->out_len + n)
		cap *= 2;
	p = urt_task_alloc(t, cap);
	if (!p) {
		c->oom = true;
		return false;
	}
	if (c->out_len)
		memcpy(p, c->out, c->out_len);
	if (c->out)
		urt_task_free(t, c->out);
	c->out = p;
	c->out_cap = cap;
	return true;
}

static void put(struct urt_task *t, struct conn *c, const void *p, size_t n)
{
	if (out_room(t, c, n)) {
		memcpy(c->out + c->out_len, p, n);
		c->out_len += n;
	}
}

static void putf(struct urt_task *t, struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void putf(struct urt_task *t, struct conn *c, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(t, c, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void ok(struct urt_task *t, struct conn *c)
{
	put(t, c, "+OK\r\n", 5);
}

static void nil(struct urt_task *t, struct conn *c)
{
	put(t, c, "$-1\r\n", 5);
}

static void integer(struct urt_task *t, struct conn *c, long long v)
{
	putf(t, c, ":%lld\r\n", v);
}

static void bulk(struct urt_task *t, struct conn *c, const char *p, size_t n)
{
	putf(t, c, "$%zu\r\n", n);
	put(t, c, p, n);
	put(t, c, "\r\n", 2);
}

static void array(struct urt_task *t, struct conn *c, size_t n)
{
	putf(t, c, "*%zu\r\n", n);
}

/* An error line. CR and LF inside become spaces, as in redis: bytes of a
 * request quoted in an error can never end the line and forge a reply. */
static void err_n(struct urt_task *t, struct conn *c, const char *msg, size_t n)
{
	size_t at = c->out_len;

	put(t, c, "-", 1);
	put(t, c, msg, n);
	for (size_t i = at + 1; i < c->out_len; i++)
		if (c->out[i] == '\r' || c->out[i] == '\n')
			c->out[i] = ' ';
	put(t, c, "\r\n", 2);
}

static void err(struct urt_task *t, struct conn *c, const char *msg)
{
	err_n(t, c, msg, strlen(msg));
}

static const char *ERR_INT = "ERR value is not an integer or out of range";
static const char *ERR_SYNTAX = "ERR syntax error";
static const char *ERR_OOM = "OOM command not allowed when used memory > 'maxmemory'.";

/* --- arguments ----------------------------------------------------------------- */

static bool arg_is(uint32_t i, const char *word)
{
	return me->len[i] == strlen(word) && !strncasecmp(me->argv[i], word, me->len[i]);
}

/*
 * A whole decimal that fits a long long, written as redis writes one: an
 * optional '-', no '+', no spaces, no leading zero ("0" itself aside), no
 * "-0", nothing after the digits (not even a NUL).
 */
static bool strict_ll(const char *p, size_t n, long long *out)
{
	unsigned long long v = 0, lim;
	bool neg = n && p[0] == '-';
	size_t i = neg;

	if (n == 1 && p[0] == '0') {
		*out = 0;
		return true;
	}
	if (i >= n || p[i] < '1' || p[i] > '9' || n > 20)
		return false;
	lim = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9' || v > (lim - (unsigned)(p[i] - '0')) / 10)
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*out = neg ? (long long)(0 - v) : (long long)v;
	return true;
}

static bool arg_ll(uint32_t i, long long *out)
{
	return strict_ll(me->argv[i], me->len[i], out);
}

/* --- commands --------------------------------------------------------------------- */

struct command {
	const char *name;
	int arity; /* redis's: n exactly, -n at least */
	void (*run)(struct urt_task *t, struct conn *c, uint32_t argc);
	bool write; /* may add memory: refused at maxmemory */
};

static void cmd_ping(struct urt_task *t, struct conn *c, uint32_t argc)
{
	if (argc == 2)
		bulk(t, c, me->argv[1], me->len[1]);
	else if (argc == 1)
		put(t, c, "+PONG\r\n", 7);
	else
		err(t, c, "ERR wrong number of arguments for 'ping' command");
}

static void cmd_echo(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	bulk(t, c, me->argv[1], me->len[1]);
}

static void cmd_get(struct urt_task *t, struct conn *c, uint32_t argc)
{
	struct kv_entry *e = store_get(&kv.db, me->argv[1], me->len[1], now_ms());

	(void)argc;
	if (e)
		bulk(t, c, kv_val(e), e->vlen);
	else
		nil(t, c);
}

static void cmd_set(struct urt_task *t, struct conn *c, uint32_t argc)
{
	int64_t now = now_ms(), expire = 0;
	bool nx = false, xx = false, get = false, keepttl = false, have_exp = false;
	struct kv_entry *old;
	size_t mark;

	for (uint32_t i = 3; i < argc; i++) {
		long long v;
		int64_t unit = 0; /* ms per unit; negative: absolute */

		if (arg_is(i, "NX") && !xx) {
			nx = true;
		} else if (arg_is(i, "XX") && !nx) {
			xx = true;
		} else if (arg_is(i, "GET")) {
			get = true;
		} else if (arg_is(i, "KEEPTTL") && !have_exp) {
			keepttl = true;
		} else if ((arg_is(i, "EX") && (unit = 1000)) || (arg_is(i, "PX") && (unit = 1)) ||
			   (arg_is(i, "EXAT") && (unit = -1000)) || (arg_is(i, "PXAT") && (unit = -1))) {
			if (have_exp || keepttl || i + 1 >= argc) {
				err(t, c, ERR_SYNTAX);
				return;
			}
			if (!arg_ll(++i, &v)) {
				err(t, c, ERR_INT);
				return;
			}
			if (v <= 0 || v > (INT64_MAX - now) / (unit > 0 ? unit : -unit)) {
				err(t, c, "ERR invalid expire time in 'set' command");
				return;
			}
			have_exp = true;
			/* absolute times are wall-clock; the store keeps monotonic ms */
			if (unit > 0) {
				expire = now + v * unit;
			} else {
				struct timespec ts;
				int64_t wall;

				clock_gettime(CLOCK_REALTIME, &ts);
				wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
				expire = now + (v * -unit - wall);
				if (expire <= now)
					expire = now; /* already past: gone at once */
			}
		} else {
			err(t, c, ERR_SYNTAX);
			return;
		}
	}
	old = store_get(&kv.db, me->argv[1], me->len[1], now);
	mark = c->out_len;
	if (get) { /* the old value is replied before it is replaced */
		if (old)
			bulk(t, c, kv_val(old), old->vlen);
		else
			nil(t, c);
	}
	if ((nx && old) || (xx && !old)) {
		if (!get)
			nil(t, c);
		return;
	}
	if (keepttl && old)
		expire = old->expire_ms;
	if (have_exp && expire <= now) {
		store_del(&kv.db, me->argv[1], me->len[1], now);
	} else if (store_set(&kv.db, me->argv[1], me->len[1], me->argv[2], me->len[2], expire)) {
		c->out_len = mark; /* one reply per request: the error, not the old value */
		err(t, c, ERR_OOM);
		return;
	}
	if (!get)
		ok(t, c);
}

static void cmd_del(struct urt_task *t, struct conn *c, uint32_t argc)
{
	long long n = 0;

	for (uint32_t i = 1; i < argc; i++)
		n += store_del(&kv.db, me->argv[i], me->len[i], now_ms());
	integer(t, c, n);
}

static void cmd_exists(struct urt_task *t, struct conn *c, uint32_t argc)
{
	long long n = 0;

	for (uint32_t i = 1; i < argc; i++)
		n += store_get(&kv.db, me->argv[i], me->len[i], now_ms()) != NULL;
	integer(t, c, n);
}

static void incr_by(struct urt_task *t, struct conn *c, long long by)
{
	int64_t now = now_ms();
	struct kv_entry *e = store_get(&kv.db, me->argv[1], me->len[1], now);
	long long v = 0;
	char tmp[32];
	int n;

	if (e && !strict_ll(kv_val(e), e->vlen, &v)) {
		err(t, c, ERR_INT);
		return;
	}
	if ((by > 0 && v > LLONG_MAX - by) || (by < 0 && v < LLONG_MIN - by)) {
		err(t, c, "ERR increment or decrement would overflow");
		return;
	}
	v += by;
	n = snprintf(tmp, sizeof(tmp), "%lld", v);
	if (store_set(&kv.db, me->argv[1], me->len[1], tmp, (size_t)n, e ? e->expire_ms : 0)) {
		err(t, c, ERR_OOM);
		return;
	}
	integer(t, c, v);
}

static void cmd_incr(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	incr_by(t, c, 1);
}

static void cmd_decr(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	incr_by(t, c, -1);
}

static void cmd_incrby(struct urt_task *t, struct conn *c, uint32_t argc)
{
	long long by;

	(void)argc;
	if (!arg_ll(2, &by))
		err(t, c, ERR_INT);
	else
		incr_by(t, c, by);
}

static void cmd_decrby(struct urt_task *t, struct conn *c, uint32_t argc)
{
	long long by;

	(void)argc;
	if (!arg_ll(2, &by))
		err(t, c, ERR_INT);
	else if (by == LLONG_MIN)
		err(t, c, "ERR decrement would overflow");
	else
		incr_by(t, c, -by);
}

static void cmd_append(struct urt_task *t, struct conn *c, uint32_t argc)
{
	int64_t now = now_ms();
	struct kv_entry *e = store_get(&kv.db, me->argv[1], me->len[1], now);
	size_t old = e ? e->vlen : 0, n = old + me->len[2];
	char *tmp;

	(void)argc;
	if (n > o.max_bulk) {
		err(t, c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
		return;
	}
	tmp = malloc(n ? n : 1); /* the joined value, off the hot path */
	if (!tmp) {
		err(t, c, ERR_OOM);
		return;
	}
	if (old)
		memcpy(tmp, kv_val(e), old);
	memcpy(tmp + old, me->argv[2], me->len[2]);
	if (store_set(&kv.db, me->argv[1], me->len[1], tmp, n, e ? e->expire_ms : 0))
		err(t, c, ERR_OOM);
	else
		integer(t, c, (long long)n);
	free(tmp);
}

static void cmd_strlen(struct urt_task *t, struct conn *c, uint32_t argc)
{
	struct kv_entry *e = store_get(&kv.db, me->argv[1], me->len[1], now_ms());

	(void)argc;
	integer(t, c, e ? (long long)e->vlen : 0);
}

static void cmd_mget(struct urt_task *t, struct conn *c, uint32_t argc)
{
	array(t, c, argc - 1);
	for (uint32_t i = 1; i < argc; i++) {
		struct kv_entry *e = store_get(&kv.db, me->argv[i], me->len[i], now_ms());

		if (e)
			bulk(t, c, kv_val(e), e->vlen);
		else
			nil(t, c);
	}
}

static void cmd_mset(struct urt_task *t, struct conn *c, uint32_t argc)
{
	if (argc % 2 == 0) {
		err(t, c, "ERR wrong number of arguments for 'mset' command");
		return;
	}
	for (uint32_t i = 1; i < argc; i += 2) {
		if (store_set(&kv.db, me->argv[i], me->len[i], me->argv[i + 1], me->len[i + 1],
			      0)) {
			err(t, c, ERR_OOM);
			return;
		}
	}
	ok(t, c);
}

static void expire_common(struct urt_task *t, struct conn *c, int64_t unit_ms, const char *name)
{
	int64_t now = now_ms();
	struct kv_entry *e;
	long long v;

	if (!arg_ll(2, &v)) {
		err(t, c, ERR_INT);
		return;
	}
	if (v > (INT64_MAX - now) / unit_ms || v < -(INT64_MAX / unit_ms)) {
		char msg[64];

		snprintf(msg, sizeof(msg), "ERR invalid expire time in '%s' command", name);
		err(t, c, msg);
		return;
	}
	e = store_get(&kv.db, me->argv[1], me->len[1], now);
	if (!e) {
		integer(t, c, 0);
		return;
	}
	if (v <= 0) /* a time in the past deletes the key */
		store_del(&kv.db, me->argv[1], me->len[1], now);
	else
		e->expire_ms = now + v * unit_ms;
	integer(t, c, 1);
}

static void cmd_expire(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	expire_common(t, c, 1000, "expire");
}

static void cmd_pexpire(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	expire_common(t, c, 1, "pexpire");
}

static void ttl_common(struct urt_task *t, struct conn *c, int64_t unit_ms)
{
	int64_t now = now_ms();
	struct kv_entry *e = store_get(&kv.db, me->argv[1], me->len[1], now);

	if (!e)
		integer(t, c, -2);
	else if (!e->expire_ms)
		integer(t, c, -1);
	else /* redis rounds TTL to the nearest second */
		integer(t, c, (e->expire_ms - now + unit_ms / 2) / unit_ms);
}

static void cmd_ttl(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	ttl_common(t, c, 1000);
}

static void cmd_pttl(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	ttl_common(t, c, 1);
}

static void cmd_persist(struct urt_task *t, struct conn *c, uint32_t argc)
{
	struct kv_entry *e = store_get(&kv.db, me->argv[1], me->len[1], now_ms());

	(void)argc;
	integer(t, c, e && e->expire_ms);
	if (e)
		e->expire_ms = 0;
}

static void cmd_type(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	if (store_get(&kv.db, me->argv[1], me->len[1], now_ms()))
		put(t, c, "+string\r\n", 9);
	else
		put(t, c, "+none\r\n", 7);
}

/* KEYS and SCAN gather matches in two passes: count, then reply. */
struct gather {
	struct urt_task *t;
	struct conn *c;
	const char *pat;
	size_t plen;
	size_t n;
	bool emit;
};

static bool gather_one(void *ctx, const struct kv_entry *e)
{
	struct gather *g = ctx;

	if (g->pat && !glob_match(g->pat, g->plen, e->data, e->klen))
		return true;
	g->n++;
	if (g->emit)
		bulk(g->t, g->c, e->data, e->klen);
	return true;
}

/* KEYS and SCAN count, then emit: both passes must see the same keys, so
 * they use one clock reading (a key expiring between two would make the
 * array's length a lie). "*" matches every key, the empty one included. */
static void cmd_keys(struct urt_task *t, struct conn *c, uint32_t argc)
{
	bool all = me->len[1] == 1 && me->argv[1][0] == '*';
	struct gather g = { t, c, all ? NULL : me->argv[1], me->len[1], 0, false };
	int64_t now = now_ms();
	size_t cur = 0;

	(void)argc;
	store_scan(&kv.db, &cur, SIZE_MAX, now, gather_one, &g);
	array(t, c, g.n);
	g.emit = true;
	cur = 0;
	store_scan(&kv.db, &cur, SIZE_MAX, now, gather_one, &g);
}

static void cmd_scan(struct urt_task *t, struct conn *c, uint32_t argc)
{
	struct gather g = { t, c, NULL, 0, 0, false };
	long long cursor, count = 10;
	size_t cur, next;
	int64_t now;
	char num[32];

	if (!arg_ll(1, &cursor) || cursor < 0) {
		err(t, c, "ERR invalid cursor");
		return;
	}
	for (uint32_t i = 2; i < argc; i++) {
		if (arg_is(i, "MATCH") && i + 1 < argc) {
			g.pat = me->argv[++i];
			g.plen = me->len[i];
		} else if (arg_is(i, "COUNT") && i + 1 < argc) {
			if (!arg_ll(++i, &count) || count < 1) {
				err(t, c, count < 1 ? ERR_SYNTAX : ERR_INT);
				return;
			}
		} else {
			err(t, c, ERR_SYNTAX);
			return;
		}
	}
	if (g.pat && g.plen == 1 && g.pat[0] == '*')
		g.pat = NULL;
	now = now_ms();
	cur = (size_t)cursor;
	store_scan(&kv.db, &cur, (size_t)count, now, gather_one, &g);
	next = cur;
	array(t, c, 2);
	bulk(t, c, num, (size_t)snprintf(num, sizeof(num), "%zu", next));
	array(t, c, g.n);
	g.emit = true;
	cur = (size_t)cursor;
	store_scan(&kv.db, &cur, (size_t)count, now, gather_one, &g);
}

static void cmd_dbsize(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	integer(t, c, (long long)kv.db.n);
}

static void cmd_flushall(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	store_flush(&kv.db);
	ok(t, c);
}

static void cmd_select(struct urt_task *t, struct conn *c, uint32_t argc)
{
	long long db;

	(void)argc;
	if (!arg_ll(1, &db))
		err(t, c, ERR_INT);
	else if (db != 0)
		err(t, c, "ERR DB index is out of range");
	else
		ok(t, c);
}

static void cmd_quit(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	ok(t, c);
	c->closing = true;
}

static void cmd_command(struct urt_task *t, struct conn *c, uint32_t argc)
{
	if (argc >= 2 && arg_is(1, "COUNT"))
		integer(t, c, 0);
	else
		array(t, c, 0); /* no command table to describe: clients cope */
}

static void cmd_client(struct urt_task *t, struct conn *c, uint32_t argc)
{
	(void)argc;
	if (arg_is(1, "ID"))
		integer(t, c, (long long)c->id);
	else if (arg_is(1, "GETNAME"))
		nil(t, c);
	else
		ok(t, c); /* SETNAME, SETINFO, NO-EVICT, ...: accepted */
}

static void cmd_config(struct urt_task *t, struct conn *c, uint32_t argc)
{
	if (!arg_is(1, "GET") || argc < 3) {
		if (arg_is(1, "SET") || arg_is(1, "RESETSTAT"))
			ok(t, c);
		else
			err(t, c, "ERR unknown subcommand for 'config'");
		return;
	}
	if (arg_is(2, "maxmemory")) {
		array(t, c, 2);
		bulk(t, c, "maxmemory", 9);
		putf(t, c, "$%d\r\n%" PRIu64 "\r\n", snprintf(NULL, 0, "%" PRIu64, o.maxmemory),
		     o.maxmemory);
	} else if (arg_is(2, "save")) {
		array(t, c, 2);
		bulk(t, c, "save", 4);
		bulk(t, c, "", 0);
	} else if (arg_is(2, "appendonly")) {
		array(t, c, 2);
		bulk(t, c, "appendonly", 10);
		bulk(t, c, "no", 2);
	} else {
		array(t, c, 0);
	}
}

static void cmd_hello(struct urt_task *t, struct conn *c, uint32_t argc)
{
	long long proto = 2;

	if (argc >= 2 && (!arg_ll(1, &proto) || proto != 2)) {
		err(t, c, "NOPROTO unsupported protocol version");
		return;
	}
	array(t, c, 14);
	bulk(t, c, "server", 6);
	bulk(t, c, "redis", 5);
	bulk(t, c, "version", 7);
	bulk(t, c, "7.0.15", 6);
	bulk(t, c, "proto", 5);
	integer(t, c, 2);
	bulk(t, c, "id", 2);
	integer(t, c, (long long)c->id);
	bulk(t, c, "mode", 4);
	bulk(t, c, "standalone", 10);
	bulk(t, c, "role", 4);
	bulk(t, c, "master", 6);
	bulk(t, c, "modules", 7);
	array(t, c, 0);
}

/* Connections ever, in every runtime. Context: any thread. */
static uint64_t conns_total(void)
{
	uint64_t n = 0;

	for (int i = 0; i < o.threads; i++)
		n += atomic_load_explicit(&kv.w[i].conns, memory_order_relaxed);
	return n;
}

/* urt_thread: which runtime (from 0) serves this connection, so a test can
 * find two connections on two threads. */
static void cmd_info(struct urt_task *t, struct conn *c, uint32_t argc)
{
	char text[512];
	int n;

	(void)argc;
	n = snprintf(text, sizeof(text),
		     "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nurt_kv:1\r\n"
		     "urt_threads:%d\r\nurt_thread:%d\r\n"
		     "# Clients\r\nconnected_clients:%" PRIu64 "\r\n"
		     "# Memory\r\nused_memory:%zu\r\nmaxmemory:%" PRIu64 "\r\n"
		     "# Stats\r\ntotal_connections_received:%" PRIu64
		     "\r\ntotal_commands_processed:%" PRIu64 "\r\n"
		     "# Keyspace\r\ndb0:keys=%zu,expires=0,avg_ttl=0\r\n",
		     o.threads, me->id, atomic_load(&kv.live), kv.db.mem, o.maxmemory,
		     conns_total(), kv.commands, kv.db.n);
	bulk(t, c, text, (size_t)n);
}

static const struct command commands[] = {
	{ "ping", -1, cmd_ping, false },	{ "echo", 2, cmd_echo, false },	 { "get", 2, cmd_get, false },
	{ "set", -3, cmd_set, true },		{ "del", -2, cmd_del, false },		 { "unlink", -2, cmd_del, false },
	{ "exists", -2, cmd_exists, false },	{ "incr", 2, cmd_incr, true },	 { "decr", 2, cmd_decr, true },
	{ "incrby", 3, cmd_incrby, true },	{ "decrby", 3, cmd_decrby, true },	 { "append", 3, cmd_append, true },
	{ "strlen", 2, cmd_strlen, false },	{ "mget", -2, cmd_mget, false },	 { "mset", -3, cmd_mset, true },
	{ "expire", 3, cmd_expire, false },	{ "pexpire", 3, cmd_pexpire, false },	 { "ttl", 2, cmd_ttl, false },
	{ "pttl", 2, cmd_pttl, false },	{ "persist", 2, cmd_persist, false },	 { "type", 2, cmd_type, false },
	{ "keys", 2, cmd_keys, false },	{ "scan", -2, cmd_scan, false },	 { "dbsize", 1, cmd_dbsize, false },
	{ "flushall", -1, cmd_flushall, false }, { "flushdb", -1, cmd_flushall, false }, { "select", 2, cmd_select, false },
	{ "quit", -1, cmd_quit, false },	{ "command", -1, cmd_command, false },	 { "client", -2, cmd_client, false },
	{ "config", -2, cmd_config, false },	{ "hello", -1, cmd_hello, false },	 { "info", -1, cmd_info, false },
};

/* One command. Context: kv.lock held (run_requests). */
static void execute(struct urt_task *t, struct conn *c, uint32_t argc)
{
	const struct command *cmd = NULL;

	kv.commands++;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (arg_is(0, commands[i].name)) {
			cmd = &commands[i];
			break;
		}
	}
	if (!cmd) {
		char msg[512];
		int n = snprintf(msg, sizeof(msg), "ERR unknown command '%.*s', with args beginning with: ",
				 (int)(me->len[0] > 128 ? 128 : me->len[0]), me->argv[0]);

		for (uint32_t i = 1; i < argc && i < 4 && n < (int)sizeof(msg); i++)
			n += snprintf(msg + n, sizeof(msg) - (size_t)n, "'%.*s' ",
				      (int)(me->len[i] > 64 ? 64 : me->len[i]), me->argv[i]);
		err_n(t, c, msg, n < (int)sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
		return;
	}
	if (cmd->write && store_full(&kv.db, now_ms())) {
		err(t, c, ERR_OOM); /* checked before the write, as redis does: all or nothing */
		return;
	}
	if ((cmd->arity > 0 && argc != (uint32_t)cmd->arity) ||
	    (cmd->arity < 0 && argc < (uint32_t)-cmd->arity)) {
		putf(t, c, "-ERR wrong number of arguments for '%s' command\r\n", cmd->name);
		return;
	}
	cmd->run(t, c, argc);
}

/* Append a received chunk. Return: false if the request would pass the limit. */
static bool in_append(struct urt_task *t, struct conn *c, const char *p, size_t n)
{
	size_t limit = o.max_bulk + 64 * 1024, cap = c->in_cap ? c->in_cap : OUT_CHUNK;
	char *q;

	if (c->in_len + n > limit) /* one incomplete request can hold no more */
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
 * Parse and run every complete request in the input; keep the rest. The
 * batch runs under kv.lock, taken at its first command and let go after
 * its last: one lock per receive however many requests it held, and no
 * other connection's command between two of them. Nothing here awaits.
 */
static void run_requests(struct urt_task *t, struct conn *c)
{
	size_t pos = 0;
	bool locked = false;

	if (c->in_len < c->need)
		return; /* the request at the start is still arriving */
	while (pos < c->in_len && !c->closing) {
		struct resp_cmd cmd = { .argv = me->argv, .len = me->len };
		const char *why;
		long k = resp_parse(c->in + pos, c->in_len - pos, &kv.lim, &cmd, &why);

		if (k == 0) {
			c->need = cmd.need;
			break;
		}
		if (k < 0) {
			err(t, c, why);
			c->closing = true; /* as redis: the stream cannot be resynchronised */
			break;
		}
		pos += (size_t)k;
		c->need = 0;
		if (cmd.argc) {
			if (!locked) {
				pthread_mutex_lock(&kv.lock);
				locked = true;
			}
			execute(t, c, cmd.argc);
		}
		if (c->oom) { /* the reply itself could not be stored */
			c->closing = true;
			break;
		}
	}
	if (locked)
		pthread_mutex_unlock(&kv.lock);
	if (pos) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
}

/* A connection keeps no more than it needs: a buffer grown for one big
 * request or reply goes back once it is done with. */
static void shrink(struct urt_task *t, struct conn *c)
{
	if (c->out_cap > 64 * 1024 && !c->out_len) {
		urt_task_free(t, c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
	if (c->in_cap > 64 * 1024 && c->in_len <= OUT_CHUNK) {
		char *q = urt_task_alloc(t, OUT_CHUNK);

		if (!q)
			return;
		memcpy(q, c->in, c->in_len);
		urt_task_free(t, c->in);
		c->in = q;
		c->in_cap = OUT_CHUNK;
	}
}

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	URT_BEGIN(t);
	while (!c->closing) {
		URT_AWAIT(t, c->n = urt_recv_stream(t, &c->rx, c->fd, &c->b));
		if (c->n <= 0)
			break;
		if (!in_append(t, c, c->b.data, c->b.len)) {
			err(t, c, "ERR Protocol error: request too big");
			c->closing = true;
		}
		urt_buf_free(&c->b);
		run_requests(t, c);
		if (c->out_len) {
			URT_AWAIT(t, c->ret = urt_send_all(t, &c->tx, c->fd, c->out, c->out_len));
			c->out_len = 0;
			if (c->ret < 0)
				break;
		}
		shrink(t, c);
	}
	URT_AWAIT(t, urt_recv_stream_end(t, &c->rx, c->fd));
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
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
static int on_conn(int fd)
{
	struct conn c = { .fd = fd, .id = atomic_fetch_add(&kv.next_id, 1) + 1 };
	int ret;

	/* a place under the cap first, so two runtimes cannot both take the last */
	if (atomic_fetch_add(&kv.live, 1) >= o.max_conns) { /* the cap, for boxed tasks too */
		atomic_fetch_sub(&kv.live, 1);
		return -ENOSPC;
	}
	ret = o.boxed ? urt_spawn(&me->rt, &conn_type, &c, sizeof(c), NULL)
		      : urt_spawn_slab(&conn_type, &c, sizeof(c), NULL);
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
	uint64_t live = 0;
	size_t heap = 0, slab_live = 0, slab_cap = 0, ops = 0;

	for (int i = 0; i < o.threads; i++) {
		const struct worker *w = &kv.w[i];

		live += w->st_live;
		heap += w->st_heap;
		slab_live += w->st.slab_live;
		slab_cap += w->st.slab_capacity;
		ops += w->st.ops_live;
	}
	printf("%s: connections %" PRIu64 " live %" PRIu64 " commands %" PRIu64 " keys %zu "
	       "memory %zu heap_calls %zu slab %zu/%zu ops_live %zu threads %d thread_conns ",
	       what, conns_total(), live, kv.commands, kv.db.n, kv.db.mem, heap, slab_live,
	       slab_cap, ops, o.threads);
	for (int i = 0; i < o.threads; i++)
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
	if (print && ++kv.reports % (uint64_t)o.threads == 0)
		print_stats("stats");
	pthread_mutex_unlock(&kv.lock);
}

/* SIGUSR1, passed down the control pipe: file the figures; the last
 * worker of a round prints the line. Context: the worker's thread. */
static void on_stats(void *arg)
{
	file_stats(arg, true);
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
					       .slab = o.boxed ? URT_SLAB_NONE : URT_SLAB_BOUNDED,
					       .slot_size = 64 + (sizeof(struct conn) + 15) / 16 * 16,
					       .slab_slots = o.max_conns,
					       .allocator = &w->heap.al,
				       });
	if (ret)
		return ret;
	w->has_rt = true;
	ret = control_start(&w->rt, w->ctl[0], &w->stop, on_stats, w);
	if (!ret)
		ret = acceptor_start(&w->rt, w->lfd, &w->stop, on_conn);
	if (!ret && w->id == 0)
		ret = urt_spawn(&w->rt, &sweeper_type, &(struct sweeper){ 0 },
				sizeof(struct sweeper), NULL);
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
	for (int i = 0; i < n; i++)
		control_send("urt-kv", kv.w[i].ctl[1], 's');
	for (int i = 0; i < n; i++)
		pthread_join(kv.w[i].th, NULL);
}

/* Close the first n workers' listeners and pipes, and free the store. */
static void teardown(int n)
{
	for (int i = 0; i < n; i++) {
		close(kv.w[i].lfd);
		close(kv.w[i].ctl[0]);
		close(kv.w[i].ctl[1]);
	}
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
		"              [--max-conns N]\n"
		"  --port P         port (default 6379; 0 picks a free one)\n"
		"  --addr A         IPv4 address to bind (default 127.0.0.1)\n"
		"  --threads N      runtimes, one per thread, on the port (1..64, default 1);\n"
		"                   they share one keyspace\n"
		"  --spawn KIND     connection tasks in slab slots (default) or malloc boxes\n"
		"  --maxmemory B    writes past B bytes of data get -OOM (k/m/g suffixes; 0: none)\n"
		"  --max-bulk B     largest argument (default 64m)\n"
		"  --max-args N     most arguments in one request (default 1048576)\n"
		"  --max-conns N    connections at once, all threads together (default 16384)\n");
}

/* The flags into o. Return: 0; 2 for a bad flag (said on stderr). */
static int parse(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "port", required_argument, 0, 'p' },	    { "addr", required_argument, 0, 'a' },
		{ "spawn", required_argument, 0, 's' },	    { "maxmemory", required_argument, 0, 'M' },
		{ "max-bulk", required_argument, 0, 'b' },  { "max-args", required_argument, 0, 'n' },
		{ "max-conns", required_argument, 0, 'c' }, { "threads", required_argument, 0, 't' },
		{ "help", no_argument, 0, 'h' },	    { 0, 0, 0, 0 },
	};
	uint64_t v;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!flag_uint(optarg, 0, 65535, &v))
				return bad("bad --port", optarg);
			o.port = (uint16_t)v;
			break;
		case 'a':
			o.addr = optarg;
			break;
		case 't':
			if (!flag_uint(optarg, 1, MAX_THREADS, &v))
				return bad("bad --threads (1..64)", optarg);
			o.threads = (int)v;
			break;
		case 's':
			if (strcmp(optarg, "slab") && strcmp(optarg, "boxed"))
				return bad("bad --spawn (slab or boxed)", optarg);
			o.boxed = !strcmp(optarg, "boxed");
			break;
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
		case 'c':
			if (!flag_size(optarg, 1, 1u << 20, &v))
				return bad("bad --max-conns", optarg);
			o.max_conns = (uint32_t)v;
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
	unsigned flags = o.threads > 1 ? URT_LISTEN_REUSEPORT : 0;

	*port = o.port;
	for (*n = 0; *n < o.threads; (*n)++) {
		struct worker *w = &kv.w[*n];

		w->id = *n;
		w->lfd = urt_listen_tcp(o.addr, *port, 4096, flags, port);
		if (w->lfd < 0) {
			fprintf(stderr, "urt-kv: listen on %s:%u: %s\n", o.addr, *port,
				strerror(-w->lfd));
			return w->lfd == -EINVAL ? 2 : 1; /* --addr is not an address: a bad flag */
		}
		if (pipe2(w->ctl, O_CLOEXEC)) {
			perror("urt-kv: pipe");
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

	for (*started = 0; *started < o.threads; (*started)++) {
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
	sigset_t set;
	uint16_t port;
	int ret, n;

	ret = parse(argc, argv);
	if (ret)
		return ret;
	kv.lim = (struct resp_limits){ .max_args = o.max_args,
				       .max_bulk = o.max_bulk,
				       .max_inline = 64 * 1024 };
	if (store_init(&kv.db, o.maxmemory)) {
		fprintf(stderr, "urt-kv: out of memory\n");
		return 1;
	}
	if (sem_init(&kv.started, 0, 0)) {
		perror("urt-kv: sem_init");
		store_deinit(&kv.db);
		return 1;
	}
	ret = open_workers(&n, &port);
	if (ret) {
		teardown(n);
		return ret;
	}
	/* signals come here, never to a worker: they inherit the mask */
	control_block_signals(&set);
	if (!start_workers(&n)) {
		stop_workers(n);
		teardown(o.threads);
		return 1;
	}
	printf("listening on %s:%u\n", o.addr, port);
	fflush(stdout);
	/* until SIGINT or SIGTERM; SIGUSR1 asks every worker for its figures */
	while (control_next_signal(&set) == SIGUSR1)
		for (int i = 0; i < o.threads; i++)
			control_send("urt-kv", kv.w[i].ctl[1], 'r');
	stop_workers(o.threads);
	print_stats("exit");
	for (int i = 0; i < o.threads; i++)
		if (kv.w[i].run_ret < 0)
			ret = 1;
	teardown(o.threads);
	return ret;
}
