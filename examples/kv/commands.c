/* SPDX-License-Identifier: MIT */
/*
 * commands.c - urt-kv's commands (see commands.h): the command table,
 * one function per command, the reply writers and the argument readers.
 *
 * A command runs inside one poll of its connection's task, under the
 * server's lock, and never awaits: it reads its arguments (slices of the
 * connection's input), works on the store and appends its whole reply to
 * the connection's output buffer (task memory, grown in size classes, so a
 * warm connection makes no heap call). Exactly one reply per command: a
 * reply that could not be stored sets oom and the server closes the
 * connection rather than send a short answer. Everything one command
 * needs travels in a struct call, built on kv_execute's stack.
 */
#include "commands.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One command being run. */
struct call {
	struct kv_server *s;
	struct urt_task *t; /* the connection's: its replies are this task's memory */
	struct kv_client *c;
	uint32_t argc;
	const char **argv;
	const size_t *len;
	const uint64_t *key_hash; /* argv[1]'s store_hash, or NULL */
};

/* The batch's clock, read at the first command of the batch that asks
 * (kv_server.now_ms). */
static int64_t now_ms(struct call *k)
{
	if (!k->s->now_ms)
		k->s->now_ms = (int64_t)(urt_now_ns() / 1000000u);
	return k->s->now_ms;
}

/* argv[1]'s hash: the caller's when it looked the key up ahead. */
static uint64_t key_hash(const struct call *k)
{
	return k->key_hash ? *k->key_hash : store_hash(k->s->db, k->argv[1], k->len[1]);
}

/*
 * The store keeps monotonic ms; redis's range checks add the wall clock,
 * and absolute times (EXAT, PXAT, EXPIRETIME) are wall-clock. Both convert
 * with one offset between the clocks, the server's wall_off_ms (read once
 * by the server, so a time set with PXAT reads back exactly as given; on
 * a simulation a fixed one, so no real clock is read).
 */
static int64_t wall_of(const struct call *k, int64_t mono)
{
	return mono + k->s->wall_off_ms;
}

/* A wall-clock time as monotonic ms: at or before now if it is past. */
static int64_t mono_of(const struct call *k, int64_t wall)
{
	return wall - k->s->wall_off_ms;
}

/* --- replies ------------------------------------------------------------------- */

/* Make room for n more output bytes. Return: false when out of memory. */
static bool out_room(struct call *k, size_t n)
{
	size_t cap = k->c->out_cap ? k->c->out_cap : KV_OUT_CHUNK;
	char *p;

	if (k->c->out_len + n <= k->c->out_cap)
		return true;
	while (cap < k->c->out_len + n)
		cap *= 2;
	p = urt_task_alloc(k->t, cap);
	if (!p) {
		k->c->oom = true;
		return false;
	}
	if (k->c->out_len)
		memcpy(p, k->c->out, k->c->out_len);
	if (k->c->out)
		urt_task_free(k->t, k->c->out);
	k->c->out = p;
	k->c->out_cap = cap;
	return true;
}

static void put(struct call *k, const void *p, size_t n)
{
	if (out_room(k, n)) {
		memcpy(k->c->out + k->c->out_len, p, n);
		k->c->out_len += n;
	}
}

static void putf(struct call *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct call *k, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(k, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static void ok(struct call *k)
{
	put(k, "+OK\r\n", 5);
}

static void nil(struct call *k)
{
	put(k, "$-1\r\n", 5);
}

/* The most a head takes: type, sign, 20 digits, CRLF. */
#define HEAD_MAX 24

/* "<type>[-]<v>\r\n" at o (HEAD_MAX bytes of room): a bulk's, an array's
 * header or an integer, formatted by hand: every GET's reply has one, and
 * vsnprintf cost more than the rest of the reply. Return: its length. */
static size_t head_at(char *o, char type, uint64_t v, bool neg)
{
	size_t d = 1;

	for (uint64_t x = v; x >= 10; x /= 10)
		d++;
	*o++ = type;
	if (neg)
		*o++ = '-';
	for (size_t i = d; i--; v /= 10)
		o[i] = (char)('0' + v % 10);
	o[d] = '\r';
	o[d + 1] = '\n';
	return 1 + neg + d + 2;
}

static void head(struct call *k, char type, uint64_t v, bool neg)
{
	if (out_room(k, HEAD_MAX))
		k->c->out_len += head_at(k->c->out + k->c->out_len, type, v, neg);
}

static void integer(struct call *k, long long v)
{
	head(k, ':', v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0);
}

/* A bulk in one step: one room check, its head, its bytes, its CRLF (a GET's
 * whole reply: three puts were a tenth of urt-kv's instructions a GET). */
static void bulk(struct call *k, const char *p, size_t n)
{
	char *o;

	if (!out_room(k, HEAD_MAX + n + 2))
		return;
	o = k->c->out + k->c->out_len;
	o += head_at(o, '$', n, false);
	if (n >= 8 && n <= 16) { /* a short value: two word copies, no call */
		memcpy(o, p, 8);
		memcpy(o + n - 8, p + n - 8, 8);
	} else {
		memcpy(o, p, n);
	}
	o[n] = '\r';
	o[n + 1] = '\n';
	k->c->out_len = (size_t)(o + n + 2 - k->c->out);
}

static void array(struct call *k, size_t n)
{
	head(k, '*', n, false);
}

/*
 * A stored value as a bulk: sent from the entry (a kv_ref, see commands.h)
 * when it is large or this batch's output has reached its bound, copied
 * otherwise. So however many values one MGET or one pipeline asks for,
 * out grows by their headers only past KV_OUT_BOUND.
 */
static void value(struct call *k, struct kv_entry *e)
{
	struct kv_client *c = k->c;

	if (e->vlen < KV_REF_MIN && c->out_len < KV_OUT_BOUND) {
		bulk(k, kv_val(e), e->vlen);
		return;
	}
	if (c->nrefs == c->refs_cap) {
		uint32_t cap = c->refs_cap ? c->refs_cap * 2 : 8;
		struct kv_ref *p = urt_task_alloc(k->t, cap * sizeof(*p));

		if (!p) {
			c->oom = true;
			return;
		}
		if (c->nrefs)
			memcpy(p, c->refs, c->nrefs * sizeof(*p));
		if (c->refs)
			urt_task_free(k->t, c->refs);
		c->refs = p;
		c->refs_cap = cap;
	}
	if (!store_ref(e)) {
		bulk(k, kv_val(e), e->vlen);
		return;
	}
	head(k, '$', e->vlen, false);
	c->refs[c->nrefs++] = (struct kv_ref){ .at = c->out_len, .e = e };
	c->ref_bytes += e->vlen;
	put(k, "\r\n", 2);
}

/* Take back the output after mark: bytes and references. */
static void out_truncate(struct call *k, size_t mark)
{
	struct kv_client *c = k->c;

	while (c->nrefs && c->refs[c->nrefs - 1].at > mark) {
		struct kv_entry *e = c->refs[--c->nrefs].e;

		c->ref_bytes -= e->vlen;
		store_unref(k->s->db, e);
	}
	c->out_len = mark;
}

void kv_release(struct store *db, struct kv_client *c)
{
	for (uint32_t i = 0; i < c->nrefs; i++)
		store_unref(db, c->refs[i].e);
	c->nrefs = 0;
	c->ref_bytes = 0;
}

/* An error line. CR and LF inside become spaces, as in redis: bytes of a
 * request quoted in an error can never end the line and forge a reply. */
static void err_n(struct call *k, const char *msg, size_t n)
{
	size_t at = k->c->out_len;

	put(k, "-", 1);
	put(k, msg, n);
	for (size_t i = at + 1; i < k->c->out_len; i++)
		if (k->c->out[i] == '\r' || k->c->out[i] == '\n')
			k->c->out[i] = ' ';
	put(k, "\r\n", 2);
}

static void err(struct call *k, const char *msg)
{
	err_n(k, msg, strlen(msg));
}

/*
 * An error that quotes argument i whole, as redis's "%s" does (read as a C
 * string: a NUL ends it; at most max bytes, redis's "%.128s" where it has
 * one): "-" pre arg post, CR and LF as spaces. No copy of the argument.
 */
static void err_arg(struct call *k, const char *pre, uint32_t i, size_t max, const char *post)
{
	size_t at = k->c->out_len;

	put(k, "-", 1);
	put(k, pre, strlen(pre));
	put(k, k->argv[i], strnlen(k->argv[i], k->len[i] < max ? k->len[i] : max));
	put(k, post, strlen(post));
	for (size_t j = at + 1; j < k->c->out_len; j++)
		if (k->c->out[j] == '\r' || k->c->out[j] == '\n')
			k->c->out[j] = ' ';
	put(k, "\r\n", 2);
}

void kv_reply_error(struct urt_task *t, struct kv_client *c, const char *msg)
{
	struct call k = { .t = t, .c = c };

	err(&k, msg);
}

static const char *ERR_INT = "ERR value is not an integer or out of range";
static const char *ERR_SYNTAX = "ERR syntax error";
static const char *ERR_INT_RANGE =
	"ERR value is out of range, value must between -2147483648 and 2147483647";
static const char *ERR_OOM = "OOM command not allowed when used memory > 'maxmemory'.";

/* --- arguments ----------------------------------------------------------------- */

static bool arg_is(const struct call *k, uint32_t i, const char *word)
{
	return k->len[i] == strlen(word) && !strncasecmp(k->argv[i], word, k->len[i]);
}

/* Whether the n bytes at a are name (lower-case letters, NUL-ended) in any
 * case: | 0x20 maps only A-Z and a-z into a-z, so only the same letter
 * matches. No strlen, no call. */
static bool is_name(const char *a, size_t n, const char *name)
{
	size_t i = 0;

	for (; i < n; i++)
		if (!name[i] || (char)(a[i] | 0x20) != name[i])
			return false;
	return !name[i];
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

static bool arg_ll(const struct call *k, uint32_t i, long long *out)
{
	return strict_ll(k->argv[i], k->len[i], out);
}

/* --- commands --------------------------------------------------------------------- */

struct command {
	const char *name;
	int arity; /* redis's: n exactly, -n at least */
	void (*run)(struct call *k);
	bool write; /* may add memory: refused at maxmemory */
};

static void cmd_ping(struct call *k)
{
	if (k->argc == 2)
		bulk(k, k->argv[1], k->len[1]);
	else if (k->argc == 1)
		put(k, "+PONG\r\n", 7);
	else
		err(k, "ERR wrong number of arguments for 'ping' command");
}

static void cmd_echo(struct call *k)
{
	bulk(k, k->argv[1], k->len[1]);
}

static void cmd_get(struct call *k)
{
	struct kv_entry *e =
		store_get_hashed(k->s->db, k->argv[1], k->len[1], key_hash(k), now_ms(k));

	if (e)
		value(k, e);
	else
		nil(k);
}

/*
 * An expire time given as argument i (SET's and GETEX's EX, PX, EXAT,
 * PXAT), checked as redis 7.0 checks it: an integer, above 0, seconds not
 * past LLONG_MAX / 1000, and a relative time plus the wall clock not past
 * LLONG_MAX. unit: ms per unit, negative for an absolute time. Into *when:
 * monotonic ms (at or before now: already past). Return: false after an
 * error reply.
 */
static bool expire_arg(struct call *k, uint32_t i, int64_t unit, int64_t now, int64_t *when,
		       const char *name)
{
	int64_t mul = unit > 0 ? unit : -unit;
	long long v;

	if (!arg_ll(k, i, &v)) {
		err(k, ERR_INT);
		return false;
	}
	if (v <= 0 || v > LLONG_MAX / mul || (unit > 0 && v * mul > INT64_MAX - wall_of(k, now))) {
		putf(k, "-ERR invalid expire time in '%s' command\r\n", name);
		return false;
	}
	*when = unit > 0 ? now + v * mul : mono_of(k, v * mul);
	return true;
}

/*
 * SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL],
 * read as redis 7.0 reads it: an option may come again (the last time
 * wins), but NX with XX, or two kinds of expire, or one with KEEPTTL, or
 * one without its number is a syntax error, found before the number is
 * read.
 */
static void cmd_set(struct call *k)
{
	int64_t now = now_ms(k), expire = 0, unit = 0;
	bool nx = false, xx = false, get = false, keepttl = false;
	struct kv_entry *old;
	uint32_t at = 0; /* the expire time's argument */
	size_t mark;
	uint64_t h;

	for (uint32_t i = 3; i < k->argc; i++) {
		int64_t u = 0;

		if (arg_is(k, i, "NX") && !xx) {
			nx = true;
		} else if (arg_is(k, i, "XX") && !nx) {
			xx = true;
		} else if (arg_is(k, i, "GET")) {
			get = true;
		} else if (arg_is(k, i, "KEEPTTL") && !unit) {
			keepttl = true;
		} else if (((arg_is(k, i, "EX") && (u = 1000)) || (arg_is(k, i, "PX") && (u = 1)) ||
			    (arg_is(k, i, "EXAT") && (u = -1000)) ||
			    (arg_is(k, i, "PXAT") && (u = -1))) &&
			   i + 1 < k->argc && !keepttl && (!unit || unit == u)) {
			unit = u;
			at = ++i;
		} else {
			err(k, ERR_SYNTAX);
			return;
		}
	}
	if (unit && !expire_arg(k, at, unit, now, &expire, "set"))
		return;
	h = key_hash(k);
	old = store_get_hashed(k->s->db, k->argv[1], k->len[1], h, now);
	mark = k->c->out_len;
	if (get) { /* the old value is replied before it is replaced */
		if (old)
			value(k, old);
		else
			nil(k);
	}
	if ((nx && old) || (xx && !old)) {
		if (!get)
			nil(k);
		return;
	}
	if (keepttl && old)
		expire = old->expire_ms;
	if (unit && expire <= now) {
		store_del(k->s->db, k->argv[1], k->len[1], now);
	} else if (store_set_hashed(k->s->db, k->argv[1], k->len[1], h, k->argv[2], k->len[2],
				    expire)) {
		out_truncate(k, mark); /* one reply per request: the error, not the old value */
		err(k, ERR_OOM);
		return;
	}
	if (!get)
		ok(k);
}

static void cmd_del(struct call *k)
{
	long long n = 0;

	for (uint32_t i = 1; i < k->argc; i++)
		n += store_del(k->s->db, k->argv[i], k->len[i], now_ms(k));
	integer(k, n);
}

static void cmd_exists(struct call *k)
{
	long long n = 0;

	for (uint32_t i = 1; i < k->argc; i++)
		n += store_get(k->s->db, k->argv[i], k->len[i], now_ms(k)) != NULL;
	integer(k, n);
}

static void incr_by(struct call *k, long long by)
{
	int64_t now = now_ms(k);
	struct kv_entry *e = store_get(k->s->db, k->argv[1], k->len[1], now);
	long long v = 0;
	char tmp[32];
	int n;

	if (e && !strict_ll(kv_val(e), e->vlen, &v)) {
		err(k, ERR_INT);
		return;
	}
	if ((by > 0 && v > LLONG_MAX - by) || (by < 0 && v < LLONG_MIN - by)) {
		err(k, "ERR increment or decrement would overflow");
		return;
	}
	v += by;
	n = snprintf(tmp, sizeof(tmp), "%lld", v);
	if (store_set(k->s->db, k->argv[1], k->len[1], tmp, (size_t)n, e ? e->expire_ms : 0)) {
		err(k, ERR_OOM);
		return;
	}
	integer(k, v);
}

static void cmd_incr(struct call *k)
{
	incr_by(k, 1);
}

static void cmd_decr(struct call *k)
{
	incr_by(k, -1);
}

static void cmd_incrby(struct call *k)
{
	long long by;

	if (!arg_ll(k, 2, &by))
		err(k, ERR_INT);
	else
		incr_by(k, by);
}

static void cmd_decrby(struct call *k)
{
	long long by;

	if (!arg_ll(k, 2, &by))
		err(k, ERR_INT);
	else if (by == LLONG_MIN)
		err(k, "ERR decrement would overflow");
	else
		incr_by(k, -by);
}

static void cmd_append(struct call *k)
{
	int64_t now = now_ms(k);
	struct kv_entry *e = store_get(k->s->db, k->argv[1], k->len[1], now);
	size_t old = e ? e->vlen : 0, n = old + k->len[2];
	char *tmp;

	if (n > k->s->max_bulk) {
		err(k, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
		return;
	}
	tmp = malloc(n ? n : 1); /* the joined value, off the hot path */
	if (!tmp) {
		err(k, ERR_OOM);
		return;
	}
	if (old)
		memcpy(tmp, kv_val(e), old);
	memcpy(tmp + old, k->argv[2], k->len[2]);
	if (store_set(k->s->db, k->argv[1], k->len[1], tmp, n, e ? e->expire_ms : 0))
		err(k, ERR_OOM);
	else
		integer(k, (long long)n);
	free(tmp);
}

static void cmd_strlen(struct call *k)
{
	struct kv_entry *e = store_get(k->s->db, k->argv[1], k->len[1], now_ms(k));

	integer(k, e ? (long long)e->vlen : 0);
}

static void cmd_mget(struct call *k)
{
	array(k, k->argc - 1);
	for (uint32_t i = 1; i < k->argc; i++) {
		struct kv_entry *e = store_get(k->s->db, k->argv[i], k->len[i], now_ms(k));

		if (e)
			value(k, e);
		else
			nil(k);
	}
}

static void cmd_mset(struct call *k)
{
	if (k->argc % 2 == 0) {
		err(k, "ERR wrong number of arguments for 'mset' command");
		return;
	}
	for (uint32_t i = 1; i < k->argc; i += 2) {
		if (store_set(k->s->db, k->argv[i], k->len[i], k->argv[i + 1], k->len[i + 1], 0)) {
			err(k, ERR_OOM);
			return;
		}
	}
	ok(k);
}

/* EXPIRE's options, as redis 7 reads them. Return: false after an error reply. */
static bool expire_options(struct call *k, bool *nx, bool *xx, bool *gt, bool *lt)
{
	for (uint32_t i = 3; i < k->argc; i++) {
		if (arg_is(k, i, "NX")) {
			*nx = true;
		} else if (arg_is(k, i, "XX")) {
			*xx = true;
		} else if (arg_is(k, i, "GT")) {
			*gt = true;
		} else if (arg_is(k, i, "LT")) {
			*lt = true;
		} else {
			err_arg(k, "ERR Unsupported option ", i, SIZE_MAX, "");
			return false;
		}
	}
	if (*nx && (*xx || *gt || *lt)) {
		err(k, "ERR NX and XX, GT or LT options at the same time are not compatible");
		return false;
	}
	if (*gt && *lt) {
		err(k, "ERR GT and LT options at the same time are not compatible");
		return false;
	}
	return true;
}

/*
 * EXPIRE and PEXPIRE key time [NX | XX | GT | LT], in redis 7's order: the
 * options, the number, its range, the key. No TTL counts as an infinite
 * one: GT never beats it, LT always does. A time not in the future
 * deletes the key (and answers 1).
 */
static void expire_common(struct call *k, int64_t unit_ms, const char *name)
{
	bool nx = false, xx = false, gt = false, lt = false;
	int64_t now = now_ms(k), when;
	struct kv_entry *e;
	long long v;

	if (!expire_options(k, &nx, &xx, &gt, &lt))
		return;
	if (!arg_ll(k, 2, &v)) {
		err(k, ERR_INT);
		return;
	}
	/* redis 7.0's checks: seconds within LLONG_MIN / 1000 .. LLONG_MAX /
	 * 1000, then the time plus the wall clock not past LLONG_MAX */
	if ((unit_ms > 1 && (v > LLONG_MAX / unit_ms || v < LLONG_MIN / unit_ms)) ||
	    v * unit_ms > INT64_MAX - wall_of(k, now)) {
		putf(k, "-ERR invalid expire time in '%s' command\r\n", name);
		return;
	}
	when = now + v * unit_ms; /* now > 0: no overflow below either */
	e = store_get(k->s->db, k->argv[1], k->len[1], now);
	if (!e || (nx && e->expire_ms) || (xx && !e->expire_ms) ||
	    (gt && (!e->expire_ms || when <= e->expire_ms)) ||
	    (lt && e->expire_ms && when >= e->expire_ms)) {
		integer(k, 0);
		return;
	}
	if (when <= now) /* a time in the past deletes the key */
		store_del(k->s->db, k->argv[1], k->len[1], now);
	else
		e->expire_ms = when;
	integer(k, 1);
}

static void cmd_expire(struct call *k)
{
	expire_common(k, 1000, "expire");
}

static void cmd_pexpire(struct call *k)
{
	expire_common(k, 1, "pexpire");
}

/* TTL, PTTL, EXPIRETIME (abs: wall-clock), PEXPIRETIME: -2 no key, -1 no
 * expire time; seconds are rounded to the nearest, as redis does */
static void ttl_common(struct call *k, int64_t unit_ms, bool abs)
{
	int64_t now = now_ms(k);
	struct kv_entry *e = store_get(k->s->db, k->argv[1], k->len[1], now);
	int64_t v;

	if (!e) {
		integer(k, -2);
	} else if (!e->expire_ms) {
		integer(k, -1);
	} else {
		v = abs ? wall_of(k, e->expire_ms) : e->expire_ms - now;
		integer(k, v / unit_ms + (unit_ms > 1 && v % unit_ms >= unit_ms / 2));
	}
}

static void cmd_ttl(struct call *k)
{
	ttl_common(k, 1000, false);
}

static void cmd_pttl(struct call *k)
{
	ttl_common(k, 1, false);
}

static void cmd_expiretime(struct call *k)
{
	ttl_common(k, 1000, true);
}

static void cmd_pexpiretime(struct call *k)
{
	ttl_common(k, 1, true);
}

static void cmd_persist(struct call *k)
{
	struct kv_entry *e = store_get(k->s->db, k->argv[1], k->len[1], now_ms(k));

	integer(k, e && e->expire_ms);
	if (e)
		e->expire_ms = 0;
}

static void cmd_type(struct call *k)
{
	if (store_get(k->s->db, k->argv[1], k->len[1], now_ms(k)))
		put(k, "+string\r\n", 9);
	else
		put(k, "+none\r\n", 7);
}

/* KEYS and SCAN gather matches in two passes: count, then reply. */
struct gather {
	struct call *k;
	const char *pat; /* NULL: every key */
	size_t plen;
	bool none; /* SCAN's TYPE names a type no key has */
	size_t n;
	bool emit;
};

static void gather_one(void *ctx, const struct kv_entry *e)
{
	struct gather *g = ctx;

	if (g->none || (g->pat && !glob_match(g->pat, g->plen, e->data, e->klen)))
		return;
	g->n++;
	if (g->emit)
		bulk(g->k, e->data, e->klen);
}

/* KEYS and SCAN count, then emit: both passes must see the same keys, so
 * they use one clock reading (a key expiring between two would make the
 * array's length a lie). "*" matches every key, the empty one included. */
static void cmd_keys(struct call *k)
{
	bool all = k->len[1] == 1 && k->argv[1][0] == '*';
	struct gather g = { .k = k, .pat = all ? NULL : k->argv[1], .plen = k->len[1] };
	int64_t now = now_ms(k);

	store_each(k->s->db, now, gather_one, &g);
	array(k, g.n);
	g.emit = true;
	store_each(k->s->db, now, gather_one, &g);
}

/*
 * A SCAN cursor as redis reads one, with strtoul: no leading white space,
 * an optional sign ("-1" is 2^64 - 1), decimal digits, nothing after them
 * but the end (or a NUL: redis reads a C string); "" is 0.
 */
static bool scan_cursor(const char *p, size_t n, uint64_t *out)
{
	size_t i = 0, end = strnlen(p, n);
	uint64_t v = 0;
	bool neg = false, range = false;

	if (end && isspace((unsigned char)p[0]))
		return false;
	if (i < end && (p[i] == '+' || p[i] == '-'))
		neg = p[i++] == '-';
	if (i == end || p[i] < '0' || p[i] > '9') { /* no digits: no conversion */
		*out = 0;
		return end == 0;
	}
	for (; i < end && p[i] >= '0' && p[i] <= '9'; i++) {
		range |= v > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = neg ? 0 - v : v;
	return i == end && !range;
}

/* SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]; keys are strings, so a
 * TYPE other than "string" (any case) finds none, as in redis 7.0, which
 * does not check that the type exists. */
static void cmd_scan(struct call *k)
{
	struct gather g = { .k = k };
	long long count = 10;
	uint64_t cursor, next;
	int64_t now;
	char num[32];

	if (!scan_cursor(k->argv[1], k->len[1], &cursor)) {
		err(k, "ERR invalid cursor");
		return;
	}
	for (uint32_t i = 2; i < k->argc; i++) {
		if (arg_is(k, i, "MATCH") && i + 1 < k->argc) {
			g.pat = k->argv[++i];
			g.plen = k->len[i];
		} else if (arg_is(k, i, "COUNT") && i + 1 < k->argc) {
			if (!arg_ll(k, ++i, &count) || count < 1) {
				err(k, count < 1 ? ERR_SYNTAX : ERR_INT);
				return;
			}
		} else if (arg_is(k, i, "TYPE") && i + 1 < k->argc) {
			i++;
			g.none = strnlen(k->argv[i], k->len[i]) != 6 ||
				 strncasecmp(k->argv[i], "string", 6);
		} else {
			err(k, ERR_SYNTAX);
			return;
		}
	}
	if (g.pat && g.plen == 1 && g.pat[0] == '*')
		g.pat = NULL;
	now = now_ms(k);
	next = store_scan(k->s->db, cursor, (size_t)count, now, gather_one, &g);
	array(k, 2);
	bulk(k, num, (size_t)snprintf(num, sizeof(num), "%" PRIu64, next));
	array(k, g.n);
	g.emit = true;
	store_scan(k->s->db, cursor, (size_t)count, now, gather_one, &g);
}

static void cmd_dbsize(struct call *k)
{
	integer(k, (long long)k->s->db->n);
}

/* FLUSHALL / FLUSHDB [ASYNC | SYNC]: both flush at once here */
static void cmd_flushall(struct call *k)
{
	if (k->argc > 2 || (k->argc == 2 && !arg_is(k, 1, "ASYNC") && !arg_is(k, 1, "SYNC"))) {
		err(k, ERR_SYNTAX);
		return;
	}
	store_flush(k->s->db);
	ok(k);
}

static void cmd_select(struct call *k)
{
	long long db;

	if (!arg_ll(k, 1, &db))
		err(k, ERR_INT);
	else if (db < INT_MIN || db > INT_MAX) /* redis reads an int */
		err(k, ERR_INT_RANGE);
	else if (db != 0)
		err(k, "ERR DB index is out of range");
	else
		ok(k);
}

/* RESET: a connection here keeps no state to clear (one database, RESP2,
 * no name, no transaction or subscription): redis's answer. */
static void cmd_reset(struct call *k)
{
	put(k, "+RESET\r\n", 8);
}

static void cmd_quit(struct call *k)
{
	ok(k);
	k->c->closing = true;
}

/* A name CLIENT SETNAME or HELLO SETNAME accepts, as redis checks it: no
 * byte outside '!'..'~'. Return: false after an error reply. */
static bool name_ok(struct call *k, uint32_t i)
{
	for (size_t j = 0; j < k->len[i]; j++) {
		if (k->argv[i][j] < '!' || k->argv[i][j] > '~') {
			err(k, "ERR Client names cannot contain spaces, newlines or special "
			       "characters.");
			return false;
		}
	}
	return true;
}

/*
 * A container command's subcommand (CLIENT, CONFIG, COMMAND, OBJECT), as
 * redis 7.0 finds one: argument 1 by name, any case; a name urt-kv does
 * not serve gets redis's "unknown subcommand '<name>'. Try <CMD> HELP."
 * (the name cut at 128 bytes), as an unknown command gets redis's text;
 * then the subcommand's arity, redis's, with its full name in the error.
 * Return: the subcommand's index in subs, or -1 after an error reply.
 */
struct subcommand {
	const char *name; /* lower case: "get" of "config|get" */
	int arity;	  /* redis's, counting the command: n exactly, -n at least */
};

static int subcommand(struct call *k, const char *cmd, const struct subcommand *subs, size_t n)
{
	char try[40];

	for (size_t i = 0; i < n; i++) {
		if (!arg_is(k, 1, subs[i].name))
			continue;
		if ((subs[i].arity > 0 && k->argc != (uint32_t)subs[i].arity) ||
		    (subs[i].arity < 0 && k->argc < (uint32_t)-subs[i].arity)) {
			putf(k, "-ERR wrong number of arguments for '%s|%s' command\r\n", cmd,
			     subs[i].name);
			return -1;
		}
		return (int)i;
	}
	snprintf(try, sizeof(try), "'. Try %s HELP.", cmd);
	for (char *p = try + 7; *p != ' '; p++) /* the name, as redis: upper case */
		*p = (char)toupper((unsigned char)*p);
	err_arg(k, "ERR unknown subcommand '", 1, 128, try);
	return -1;
}

#define NSUBS(a) (sizeof(a) / sizeof((a)[0]))

/* COMMAND [COUNT | DOCS | INFO | LIST]: an empty command table (no docs to
 * serve), so INFO names none of the commands asked for. */
static void cmd_command(struct call *k)
{
	static const struct subcommand subs[] = {
		{ "count", 2 }, { "docs", -2 }, { "info", -2 }, { "list", -2 }
	};

	if (k->argc == 1) {
		array(k, 0);
		return;
	}
	switch (subcommand(k, "command", subs, NSUBS(subs))) {
	case 0:
		integer(k, 0);
		break;
	case 2:
		array(k, k->argc - 2);
		for (uint32_t i = 2; i < k->argc; i++)
			nil(k);
		break;
	case 3: /* LIST [FILTERBY MODULE | ACLCAT | PATTERN x], read as redis */
		if (k->argc != 2 && (k->argc != 5 || !arg_is(k, 2, "FILTERBY") ||
				     !(arg_is(k, 3, "MODULE") || arg_is(k, 3, "ACLCAT") ||
				       arg_is(k, 3, "PATTERN")))) {
			err(k, ERR_SYNTAX);
			break;
		}
		/* fall through */
	case 1:
		array(k, 0);
		break;
	}
}

/* CLIENT ID | GETNAME | SETNAME | NO-EVICT: what clients send on connect.
 * A name is checked as redis checks it but not kept (GETNAME: nil). */
static void cmd_client(struct call *k)
{
	static const struct subcommand subs[] = {
		{ "id", 2 }, { "getname", 2 }, { "setname", 3 }, { "no-evict", 3 }
	};

	switch (subcommand(k, "client", subs, NSUBS(subs))) {
	case 0:
		integer(k, (long long)k->c->id);
		break;
	case 1:
		nil(k);
		break;
	case 2:
		if (name_ok(k, 2))
			ok(k);
		break;
	case 3:
		if (arg_is(k, 2, "ON") || arg_is(k, 2, "OFF"))
			ok(k);
		else
			err(k, ERR_SYNTAX);
		break;
	}
}

/*
 * CONFIG GET's argument i: its pair (the name as the client wrote it, as
 * redis answers) and 2, or 0 if urt-kv has no such parameter or an
 * earlier argument named it (redis gathers the names in a dictionary).
 */
static size_t config_pair(struct call *k, uint32_t i, bool emit)
{
	static const char *const names[] = { "maxmemory", "save", "appendonly" };
	size_t p = 0;

	while (p < 3 && !arg_is(k, i, names[p]))
		p++;
	if (p == 3)
		return 0;
	for (uint32_t j = 2; j < i; j++)
		if (arg_is(k, j, names[p]))
			return 0;
	if (!emit)
		return 2;
	bulk(k, k->argv[i], k->len[i]);
	if (p == 0)
		putf(k, "$%d\r\n%" PRIu64 "\r\n", snprintf(NULL, 0, "%" PRIu64, k->s->maxmemory),
		     k->s->maxmemory);
	else if (p == 1)
		bulk(k, "", 0);
	else
		bulk(k, "no", 2);
	return 2;
}

/* CONFIG GET parameter... (maxmemory, save, appendonly; no globs; pairs in
 * the order asked, where redis's is its dictionary's), SET (accepted,
 * changes nothing), RESETSTAT: what redis-benchmark asks. */
static void cmd_config(struct call *k)
{
	static const struct subcommand subs[] = { { "get", -3 },
						  { "set", -4 },
						  { "resetstat", 2 } };
	size_t n = 0;

	switch (subcommand(k, "config", subs, NSUBS(subs))) {
	case 0:
		for (uint32_t i = 2; i < k->argc; i++)
			n += config_pair(k, i, false);
		array(k, n);
		for (uint32_t i = 2; i < k->argc; i++)
			config_pair(k, i, true);
		break;
	case 1:
	case 2:
		ok(k);
		break;
	}
}

/*
 * HELLO [protover [AUTH user pass] [SETNAME name]], in redis 7.0's order:
 * the version (an integer, 2 or 3), then the options' syntax, each once
 * read (AUTH: the default user, which has no password, as redis's default
 * configuration; SETNAME: the name checked, not kept). RESP3 is refused
 * after that, so HELLO 3 with a bad option answers as redis does.
 */
static void cmd_hello(struct call *k)
{
	long long proto = 2;

	if (k->argc >= 2 && !arg_ll(k, 1, &proto)) {
		err(k, "ERR Protocol version is not an integer or out of range");
		return;
	}
	if (proto < 2 || proto > 3) {
		err(k, "NOPROTO unsupported protocol version");
		return;
	}
	for (uint32_t i = 2; i < k->argc; i++) {
		if (arg_is(k, i, "AUTH") && k->argc - i > 2) {
			if (k->len[i + 1] != 7 || memcmp(k->argv[i + 1], "default", 7)) {
				err(k, "WRONGPASS invalid username-password pair or user is "
				       "disabled.");
				return;
			}
			i += 2;
		} else if (arg_is(k, i, "SETNAME") && k->argc - i > 1) {
			if (!name_ok(k, ++i))
				return;
		} else {
			err_arg(k, "ERR Syntax error in HELLO option '", i, SIZE_MAX, "'");
			return;
		}
	}
	if (proto != 2) { /* RESP3 is not spoken here */
		err(k, "NOPROTO unsupported protocol version");
		return;
	}
	array(k, 14);
	bulk(k, "server", 6);
	bulk(k, "redis", 5);
	bulk(k, "version", 7);
	bulk(k, "7.0.15", 6);
	bulk(k, "proto", 5);
	integer(k, 2);
	bulk(k, "id", 2);
	integer(k, (long long)k->c->id);
	bulk(k, "mode", 4);
	bulk(k, "standalone", 10);
	bulk(k, "role", 4);
	bulk(k, "master", 6);
	bulk(k, "modules", 7);
	array(k, 0);
}

/* Whether INFO's arguments ask for section name (none, "all", "default"
 * or "everything": every section; case-insensitive, as redis). */
static bool info_wants(const struct call *k, const char *name)
{
	if (k->argc < 2)
		return true;
	for (uint32_t i = 1; i < k->argc; i++)
		if (arg_is(k, i, name) || arg_is(k, i, "all") || arg_is(k, i, "default") ||
		    arg_is(k, i, "everything"))
			return true;
	return false;
}

/*
 * INFO [section ...]: the sections asked for, in this order; a name no
 * section has adds nothing (redis 7.0: an empty bulk if none is known).
 * urt_thread: which runtime (from 0) serves this connection, so a test
 * can find two connections on two threads.
 */
static void cmd_info(struct call *k)
{
	char text[512];
	int n = 0;

#define INFO_ADD(name, ...)                                                                        \
	if (info_wants(k, name) && n < (int)sizeof(text))                                          \
		n += snprintf(text + n, sizeof(text) - (size_t)n, __VA_ARGS__);
	INFO_ADD("server",
		 "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nurt_kv:1\r\n"
		 "urt_threads:%d\r\nurt_thread:%d\r\n",
		 k->s->threads, k->c->thread);
	INFO_ADD("clients", "# Clients\r\nconnected_clients:%" PRIu64 "\r\n", k->s->conns_live());
	INFO_ADD("memory",
		 "# Memory\r\nused_memory:%zu\r\nmaxmemory:%" PRIu64 "\r\nmem_store_kept:%zu\r\n",
		 k->s->db->mem, k->s->maxmemory, store_kept(k->s->db));
	INFO_ADD("stats",
		 "# Stats\r\ntotal_connections_received:%" PRIu64
		 "\r\ntotal_commands_processed:%" PRIu64 "\r\n",
		 k->s->conns_total(), k->s->commands);
	INFO_ADD("keyspace", "# Keyspace\r\n");
	if (info_wants(k, "keyspace") && k->s->db->n &&
	    n < (int)sizeof(text)) /* redis: no empty db */
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "db0:keys=%zu,expires=0,avg_ttl=0\r\n", k->s->db->n);
#undef INFO_ADD
	bulk(k, text, n < (int)sizeof(text) ? (size_t)n : sizeof(text) - 1);
}

/* --- strings-only commands added for redis 7.0 parity ---------------------- */

static void cmd_setnx(struct call *k)
{
	int64_t now = now_ms(k);

	if (store_get(k->s->db, k->argv[1], k->len[1], now)) {
		integer(k, 0);
		return;
	}
	if (store_set(k->s->db, k->argv[1], k->len[1], k->argv[2], k->len[2], 0))
		err(k, ERR_OOM);
	else
		integer(k, 1);
}

/* MSETNX: all or none; a key named twice is set to its last value. */
static void cmd_msetnx(struct call *k)
{
	int64_t now = now_ms(k);

	if (k->argc % 2 == 0) {
		err(k, "ERR wrong number of arguments for 'msetnx' command");
		return;
	}
	for (uint32_t i = 1; i < k->argc; i += 2) {
		if (store_get(k->s->db, k->argv[i], k->len[i], now)) {
			integer(k, 0);
			return;
		}
	}
	for (uint32_t i = 1; i < k->argc; i += 2) {
		if (store_set(k->s->db, k->argv[i], k->len[i], k->argv[i + 1], k->len[i + 1], 0)) {
			err(k, ERR_OOM);
			return;
		}
	}
	integer(k, 1);
}

/* SETEX and PSETEX key time value: SET with EX or PX, redis's checks. */
static void setex_common(struct call *k, int64_t unit, const char *name)
{
	int64_t now = now_ms(k), when;

	if (!expire_arg(k, 2, unit, now, &when, name))
		return;
	if (store_set(k->s->db, k->argv[1], k->len[1], k->argv[3], k->len[3], when))
		err(k, ERR_OOM);
	else
		ok(k);
}

static void cmd_setex(struct call *k)
{
	setex_common(k, 1000, "setex");
}

static void cmd_psetex(struct call *k)
{
	setex_common(k, 1, "psetex");
}

/*
 * GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST], in redis 7.0's
 * order: the options' syntax (repeats allowed, the last wins), then the
 * key (none: nil, the number unread), then the number. The value is
 * replied before a past EXAT or PXAT deletes the key.
 */
static void cmd_getex(struct call *k)
{
	int64_t now = now_ms(k), unit = 0, when = 0;
	bool persist = false;
	struct kv_entry *e;
	uint32_t at = 0;

	for (uint32_t i = 2; i < k->argc; i++) {
		int64_t u = 0;

		if (arg_is(k, i, "PERSIST") && !unit) {
			persist = true;
		} else if (((arg_is(k, i, "EX") && (u = 1000)) || (arg_is(k, i, "PX") && (u = 1)) ||
			    (arg_is(k, i, "EXAT") && (u = -1000)) ||
			    (arg_is(k, i, "PXAT") && (u = -1))) &&
			   i + 1 < k->argc && !persist && (!unit || unit == u)) {
			unit = u;
			at = ++i;
		} else {
			err(k, ERR_SYNTAX);
			return;
		}
	}
	e = store_get(k->s->db, k->argv[1], k->len[1], now);
	if (!e) {
		nil(k);
		return;
	}
	if (unit && !expire_arg(k, at, unit, now, &when, "getex"))
		return;
	value(k, e); /* a reference keeps e's bytes if it is deleted below */
	if (unit && when <= now)
		store_del(k->s->db, k->argv[1], k->len[1], now);
	else if (unit)
		e->expire_ms = when;
	else if (persist)
		e->expire_ms = 0;
}

static void cmd_getdel(struct call *k)
{
	int64_t now = now_ms(k);
	struct kv_entry *e = store_get(k->s->db, k->argv[1], k->len[1], now);

	if (!e) {
		nil(k);
		return;
	}
	value(k, e); /* a reference keeps e's bytes once it leaves the table */
	store_del(k->s->db, k->argv[1], k->len[1], now);
}

/*
 * A float as redis's string2ld reads one (strtold): not empty, no leading
 * space, nothing after it, not NaN, no underflow or overflow to 0 or
 * HUGE_VAL (an "inf" written out is read).
 */
static bool strict_ld(const char *p, size_t n, long double *out)
{
	char buf[5 * 1024], *end; /* redis's bound; tasks poll on the thread's stack */
	long double v;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, p, n);
	buf[n] = '\0';
	errno = 0;
	v = strtold(buf, &end);
	if (isspace((unsigned char)buf[0]) || *end != '\0' || isnan(v) ||
	    (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)))
		return false;
	*out = v;
	return true;
}

/* INCRBYFLOAT key increment: long double, written as redis writes it
 * ("%.17Lf" without trailing zeros), the key's expire time kept. */
static void cmd_incrbyfloat(struct call *k)
{
	int64_t now = now_ms(k);
	struct kv_entry *e = store_get(k->s->db, k->argv[1], k->len[1], now);
	long double v = 0, by;
	char *text;
	int n;

	if ((e && !strict_ld(kv_val(e), e->vlen, &v)) || !strict_ld(k->argv[2], k->len[2], &by)) {
		err(k, "ERR value is not a valid float");
		return;
	}
	v += by;
	if (isnan(v) || isinf(v)) {
		err(k, "ERR increment would produce NaN or Infinity");
		return;
	}
	n = snprintf(NULL, 0, "%.17Lf", v);
	text = malloc((size_t)n + 1); /* up to about 5,000 digits: off the stack */
	if (!text) {
		err(k, ERR_OOM);
		return;
	}
	snprintf(text, (size_t)n + 1, "%.17Lf", v);
	if (strchr(text, '.')) {
		while (text[n - 1] == '0')
			n--;
		if (text[n - 1] == '.')
			n--;
	}
	if (n == 2 && text[0] == '-' && text[1] == '0') {
		text[0] = '0';
		n = 1;
	}
	if (store_set(k->s->db, k->argv[1], k->len[1], text, (size_t)n, e ? e->expire_ms : 0))
		err(k, ERR_OOM);
	else
		bulk(k, text, (size_t)n);
	free(text);
}

/* GETRANGE key start end, redis 7.0's arithmetic (both ends inclusive). */
static void cmd_getrange(struct call *k)
{
	struct kv_entry *e;
	long long start, end, len;

	if (!arg_ll(k, 2, &start) || !arg_ll(k, 3, &end)) {
		err(k, ERR_INT);
		return;
	}
	e = store_get(k->s->db, k->argv[1], k->len[1], now_ms(k));
	len = e ? (long long)e->vlen : 0;
	if (!e || (start < 0 && end < 0 && start > end)) {
		bulk(k, "", 0);
		return;
	}
	if (start < 0)
		start += len;
	if (end < 0)
		end += len;
	if (start < 0)
		start = 0;
	if (end < 0)
		end = 0;
	if (end >= len)
		end = len - 1;
	if (start > end || len == 0)
		bulk(k, "", 0);
	else
		bulk(k, kv_val(e) + start, (size_t)(end - start + 1));
}

/* SETRANGE key offset value: zero-padded; the result may not pass
 * --max-bulk (redis: proto-max-bulk-len), checked before allocating. */
static void cmd_setrange(struct call *k)
{
	int64_t now = now_ms(k);
	struct kv_entry *e;
	long long off;
	size_t old, n;
	char *tmp;

	if (!arg_ll(k, 2, &off)) {
		err(k, ERR_INT);
		return;
	}
	if (off < 0) {
		err(k, "ERR offset is out of range");
		return;
	}
	e = store_get(k->s->db, k->argv[1], k->len[1], now);
	old = e ? e->vlen : 0;
	if (!k->len[3]) { /* nothing to write: the length, nothing created */
		integer(k, (long long)old);
		return;
	}
	if ((unsigned long long)off > k->s->max_bulk || off + k->len[3] > k->s->max_bulk) {
		err(k, "ERR string exceeds maximum allowed size (proto-max-bulk-len)");
		return;
	}
	n = (size_t)off + k->len[3] > old ? (size_t)off + k->len[3] : old;
	tmp = calloc(1, n); /* the new value, off the hot path */
	if (!tmp) {
		err(k, ERR_OOM);
		return;
	}
	if (old)
		memcpy(tmp, kv_val(e), old);
	memcpy(tmp + off, k->argv[3], k->len[3]);
	if (store_set(k->s->db, k->argv[1], k->len[1], tmp, n, e ? e->expire_ms : 0))
		err(k, ERR_OOM);
	else
		integer(k, (long long)n);
	free(tmp);
}

/* RENAME and RENAMENX: the value and its expire time move to dst. */
static void rename_common(struct call *k, bool nx)
{
	int64_t now = now_ms(k);
	struct kv_entry *e = store_get(k->s->db, k->argv[1], k->len[1], now);

	if (!e) {
		err(k, "ERR no such key");
		return;
	}
	if (k->len[1] == k->len[2] && !memcmp(k->argv[1], k->argv[2], k->len[1])) {
		if (nx)
			integer(k, 0);
		else
			ok(k);
		return;
	}
	if (nx && store_get(k->s->db, k->argv[2], k->len[2], now)) {
		integer(k, 0);
		return;
	}
	/* e stays put while dst is written: entries are blocks of their own */
	if (store_set(k->s->db, k->argv[2], k->len[2], kv_val(e), e->vlen, e->expire_ms)) {
		err(k, ERR_OOM);
		return;
	}
	store_del(k->s->db, k->argv[1], k->len[1], now);
	if (nx)
		integer(k, 1);
	else
		ok(k);
}

static void cmd_rename(struct call *k)
{
	rename_common(k, false);
}

static void cmd_renamenx(struct call *k)
{
	rename_common(k, true);
}

/* COPY src dst [DB n] [REPLACE]: one database here, so DB takes 0 only. */
static void cmd_copy(struct call *k)
{
	int64_t now = now_ms(k);
	bool replace = false;
	struct kv_entry *e;

	for (uint32_t i = 3; i < k->argc; i++) {
		long long db;

		if (arg_is(k, i, "REPLACE")) {
			replace = true;
		} else if (arg_is(k, i, "DB") && i + 1 < k->argc) {
			if (!arg_ll(k, ++i, &db)) {
				err(k, ERR_INT);
				return;
			}
			if (db < INT_MIN || db > INT_MAX) { /* redis reads an int */
				err(k, ERR_INT_RANGE);
				return;
			}
			if (db != 0) {
				err(k, "ERR DB index is out of range");
				return;
			}
		} else {
			err(k, ERR_SYNTAX);
			return;
		}
	}
	if (k->len[1] == k->len[2] && !memcmp(k->argv[1], k->argv[2], k->len[1])) {
		err(k, "ERR source and destination objects are the same");
		return;
	}
	e = store_get(k->s->db, k->argv[1], k->len[1], now);
	if (!e || (!replace && store_get(k->s->db, k->argv[2], k->len[2], now))) {
		integer(k, 0);
		return;
	}
	if (store_set(k->s->db, k->argv[2], k->len[2], kv_val(e), e->vlen, e->expire_ms))
		err(k, ERR_OOM);
	else
		integer(k, 1);
}

static void cmd_randomkey(struct call *k)
{
	uint64_t x = k->s->rnd ? k->s->rnd : 0x9e3779b97f4a7c15ull; /* under the server's lock */
	struct kv_entry *e;

	x ^= x << 13; /* xorshift64: a start slot, not a secret */
	x ^= x >> 7;
	x ^= x << 17;
	k->s->rnd = x;
	e = store_random(k->s->db, x, now_ms(k));
	if (e)
		bulk(k, e->data, e->klen);
	else
		nil(k);
}

/*
 * OBJECT ENCODING key, for strings as redis 7.0 encodes a value SET
 * stores: "int" for an integer that fits a long (as strict_ll reads it),
 * "embstr" up to 44 bytes, "raw" past them. Redis also answers "raw" for
 * a value APPEND or SETRANGE made; urt-kv keeps no such history and
 * answers by the value. The other subcommands are refused.
 */
static void cmd_object(struct call *k)
{
	struct kv_entry *e;
	long long v;

	static const struct subcommand subs[] = { { "encoding", 3 } };

	if (subcommand(k, "object", subs, NSUBS(subs)) < 0)
		return;
	e = store_get(k->s->db, k->argv[2], k->len[2], now_ms(k));
	if (!e)
		nil(k);
	else if (e->vlen <= 20 && strict_ll(kv_val(e), e->vlen, &v))
		bulk(k, "int", 3);
	else if (e->vlen <= 44)
		bulk(k, "embstr", 6);
	else
		bulk(k, "raw", 3);
}

static const struct command commands[] = {
	{ "ping", -1, cmd_ping, false },
	{ "echo", 2, cmd_echo, false },
	{ "get", 2, cmd_get, false },
	{ "set", -3, cmd_set, true },
	{ "del", -2, cmd_del, false },
	{ "unlink", -2, cmd_del, false },
	{ "exists", -2, cmd_exists, false },
	{ "incr", 2, cmd_incr, true },
	{ "decr", 2, cmd_decr, true },
	{ "incrby", 3, cmd_incrby, true },
	{ "decrby", 3, cmd_decrby, true },
	{ "append", 3, cmd_append, true },
	{ "strlen", 2, cmd_strlen, false },
	{ "mget", -2, cmd_mget, false },
	{ "mset", -3, cmd_mset, true },
	{ "expire", -3, cmd_expire, false },
	{ "pexpire", -3, cmd_pexpire, false },
	{ "ttl", 2, cmd_ttl, false },
	{ "pttl", 2, cmd_pttl, false },
	{ "persist", 2, cmd_persist, false },
	{ "expiretime", 2, cmd_expiretime, false },
	{ "pexpiretime", 2, cmd_pexpiretime, false },
	{ "type", 2, cmd_type, false },
	{ "keys", 2, cmd_keys, false },
	{ "scan", -2, cmd_scan, false },
	{ "dbsize", 1, cmd_dbsize, false },
	{ "flushall", -1, cmd_flushall, false },
	{ "flushdb", -1, cmd_flushall, false },
	{ "select", 2, cmd_select, false },
	{ "quit", -1, cmd_quit, false },
	{ "reset", 1, cmd_reset, false },
	{ "command", -1, cmd_command, false },
	{ "client", -2, cmd_client, false },
	{ "config", -2, cmd_config, false },
	{ "hello", -1, cmd_hello, false },
	{ "info", -1, cmd_info, false },
	{ "setnx", 3, cmd_setnx, true },
	{ "msetnx", -3, cmd_msetnx, true },
	{ "setex", 4, cmd_setex, true },
	{ "psetex", 4, cmd_psetex, true },
	{ "getex", -2, cmd_getex, false },
	{ "getdel", 2, cmd_getdel, false },
	{ "incrbyfloat", 3, cmd_incrbyfloat, true },
	{ "getrange", 4, cmd_getrange, false },
	{ "setrange", 4, cmd_setrange, true },
	{ "rename", 3, cmd_rename, false },
	{ "renamenx", 3, cmd_renamenx, false },
	{ "copy", -3, cmd_copy, true },
	{ "randomkey", 1, cmd_randomkey, false },
	{ "object", -2, cmd_object, false },
};

/*
 * Redis 7's text: the name cut at 128 bytes, then the arguments quoted one
 * after another while the quotes so far hold under 128 bytes, each cut to
 * what is left of the 128; all read as C strings (a NUL ends one).
 */
static void unknown_command(struct call *k)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "ERR unknown command '%.*s', with args beginning with: ",
			 (int)strnlen(k->argv[0], k->len[0] > 128 ? 128 : k->len[0]), k->argv[0]);
	int args = n;

	for (uint32_t i = 1; i < k->argc && n - args < 128; i++) {
		size_t room = (size_t)(128 - (n - args));

		n += snprintf(msg + n, sizeof(msg) - (size_t)n, "'%.*s' ",
			      (int)strnlen(k->argv[i], k->len[i] > room ? room : k->len[i]),
			      k->argv[i]);
	}
	err_n(k, msg, (size_t)n);
}

void kv_execute(struct kv_server *s, struct urt_task *t, struct kv_client *c, uint32_t argc,
		const char **argv, const size_t *len, const uint64_t *key_hash)
{
	struct call call = { s, t, c, argc, argv, len, argc > 1 ? key_hash : NULL }, *k = &call;
	const struct command *cmd = NULL;

	s->commands++;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]) && k->len[0]; i++) {
		/* the first letter first, then the rest (is_name): a strlen and
		 * a strncasecmp for each name cost more than the GET they found
		 * (docs/design.md, urt-kv) */
		if ((char)(argv[0][0] | 0x20) == commands[i].name[0] &&
		    is_name(argv[0], len[0], commands[i].name)) {
			cmd = &commands[i];
			break;
		}
	}
	if (!cmd) {
		unknown_command(k);
		return;
	}
	if ((cmd->arity > 0 && k->argc != (uint32_t)cmd->arity) ||
	    (cmd->arity < 0 && k->argc < (uint32_t)-cmd->arity)) {
		putf(k, "-ERR wrong number of arguments for '%s' command\r\n", cmd->name);
		return;
	}
	if (cmd->write && store_full(k->s->db, now_ms(k))) {
		err(k, ERR_OOM); /* after the arity, before the write, as redis: all or nothing */
		return;
	}
	cmd->run(k);
}
