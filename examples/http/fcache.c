/* SPDX-License-Identifier: MIT */
/*
 * http/fcache.c - the open-file cache (see fcache.h).
 *
 * Layout: o.entries slots allocated once at init (no heap call per
 * request; a miss that keeps a body allocates it), a hash table of chains
 * with at least twice as many buckets as slots, an LRU list of the cached
 * entries. A slot is free (on the free list), cached (in a chain and the
 * LRU), or detached (in neither: the file changed, or the cache was
 * emptied, while a request held it; it is freed and its descriptor closed
 * by the last unref).
 *
 * Invariants: live == slots cached + detached <= o.entries; an entry's
 * holders == the XOR of the tags of the refs requests holding it;
 * body_bytes == sum of the cached entries' body sizes (copies and pipes)
 * <= o.body_budget (a detached entry's body is freed when it is
 * detached); an entry has a copy (body), a pipe (bpipe >= 0), or neither;
 * a cached entry with refs 0 can be evicted at any time, one with refs > 0
 * never (its holder may be mid-send on its descriptor).
 *
 * Rejected: revalidating by openat2 + statx of the new descriptor (two
 * system calls and a close per interval, against one statx of the path);
 * the statx (not following a last link: a symlink left in a moved file's
 * place differs) only decides whether the cached descriptor still is the
 * file: any difference sends the request back to openat2 with
 * RESOLVE_BENEATH. A directory of the path turned into a link outward is
 * followed to the same inodes (docs/design.md).
 */
#include "fcache.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <urt/urt.h>

/* a body's alignment: any size is asked for (aligned_alloc wants a size
 * that is a multiple of the alignment; the counting allocator rounds up) */
#define BODY_ALIGN 16

static const char hexd[] = "0123456789abcdef";

#define HTTP_DATE_MAX ((time_t)253402300799) /* 9999-12-31 23:59:59 UTC */
#define HTTP_DATE_MIN ((time_t)-62167219200) /* 0000-01-01 00:00:00 UTC */

static size_t put_hex(char *o, uint64_t v)
{
	char tmp[16];
	size_t n = 0;

	do
		tmp[n++] = hexd[v & 15];
	while ((v >>= 4));
	for (size_t i = 0; i < n; i++)
		o[i] = tmp[n - 1 - i];
	return n;
}

static void two(char *o, unsigned v)
{
	o[0] = (char)('0' + v / 10 % 10);
	o[1] = (char)('0' + v % 10);
}

void http_date_fmt(char *out, time_t t)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm tm;

	/* an HTTP-date has a 4-digit year (RFC 9110 5.6.7): a time outside
	 * years 0..9999 (tmpfs keeps any mtime) is clamped, so gmtime_r always
	 * converts and the tables below are indexed in range */
	if (t > HTTP_DATE_MAX)
		t = HTTP_DATE_MAX;
	if (t < HTTP_DATE_MIN)
		t = HTTP_DATE_MIN;
	gmtime_r(&t, &tm);
	memcpy(out, days + 3 * tm.tm_wday, 3);
	memcpy(out + 3, ", ", 2);
	two(out + 5, (unsigned)tm.tm_mday);
	out[7] = ' ';
	memcpy(out + 8, months + 3 * tm.tm_mon, 3);
	out[11] = ' ';
	two(out + 12, (unsigned)(tm.tm_year + 1900) / 100);
	two(out + 14, (unsigned)(tm.tm_year + 1900) % 100);
	out[16] = ' ';
	two(out + 17, (unsigned)tm.tm_hour);
	out[19] = ':';
	two(out + 20, (unsigned)tm.tm_min);
	out[22] = ':';
	two(out + 23, (unsigned)tm.tm_sec);
	memcpy(out + 25, " GMT", 5); /* and the NUL */
}

void http_fmeta_set(struct http_fmeta *m, const struct statx *stx)
{
	size_t n = 0;

	m->size = stx->stx_size;
	m->ino = stx->stx_ino;
	m->dev = (uint64_t)stx->stx_dev_major << 32 | stx->stx_dev_minor;
	m->mtime = stx->stx_mtime.tv_sec;
	m->mtime_ns = (uint64_t)stx->stx_mtime.tv_sec * 1000000000u + stx->stx_mtime.tv_nsec;
	m->mode = stx->stx_mode;
	/* the strong validator (RFC 9110 8.8.3): identity, size and mtime to
	 * the nanosecond, so a file changed in place within a second gets a
	 * new one */
	m->etag[n++] = '"';
	n += put_hex(m->etag + n, m->ino);
	m->etag[n++] = '-';
	n += put_hex(m->etag + n, m->size);
	m->etag[n++] = '-';
	n += put_hex(m->etag + n, m->mtime_ns);
	m->etag[n++] = '"';
	m->etag[n] = 0;
	m->etag_len = (uint32_t)n;
	http_date_fmt(m->lm, (time_t)m->mtime);
}

/* FNV-1a */
static uint64_t hash_of(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
	return h;
}

int http_fcache_init(struct http_fcache *fc, const struct http_fcache_opts *o,
		     const struct urt_allocator *al)
{
	uint64_t buckets = 16;

	*fc = (struct http_fcache){ .o = *o, .al = al };
	fc->lru.prev = fc->lru.next = &fc->lru;
	if (!o->entries)
		return 0;
	while (buckets < 2ull * o->entries)
		buckets *= 2;
	fc->slots =
		al->alloc(al->ctx, o->entries * sizeof(*fc->slots), _Alignof(struct http_fentry));
	fc->table = al->alloc(al->ctx, buckets * sizeof(*fc->table), _Alignof(void *));
	if (!fc->slots || !fc->table) {
		http_fcache_free(fc);
		return -ENOMEM;
	}
	memset(fc->table, 0, buckets * sizeof(*fc->table));
	fc->mask = buckets - 1;
	for (uint32_t i = o->entries; i-- > 0;) {
		fc->slots[i] = (struct http_fentry){ .hnext = fc->free, .fd = -1, .bpipe = -1 };
		fc->free = &fc->slots[i];
	}
	return 0;
}

void http_fcache_free(struct http_fcache *fc)
{
	const struct urt_allocator *al = fc->al;

	for (uint32_t i = 0; fc->slots && i < fc->o.entries; i++)
		if (fc->slots[i].body)
			al->free(al->ctx, fc->slots[i].body, fc->slots[i].m.size, BODY_ALIGN);
	if (fc->slots)
		al->free(al->ctx, fc->slots, fc->o.entries * sizeof(*fc->slots),
			 _Alignof(struct http_fentry));
	if (fc->table)
		al->free(al->ctx, fc->table, (fc->mask + 1) * sizeof(*fc->table), _Alignof(void *));
	fc->slots = NULL;
	fc->table = NULL;
}

static void lru_del(struct http_fentry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void lru_front(struct http_fcache *fc, struct http_fentry *e)
{
	e->next = fc->lru.next;
	e->prev = &fc->lru;
	fc->lru.next->prev = e;
	fc->lru.next = e;
}

/* A pipe's pages still in an answer's pipe or socket keep their own
 * references: closing it frees nothing a send is using. (Pipe bodies are
 * made only on a real kernel: the model has no pipes.) */
static void body_drop(struct http_fcache *fc, struct http_fentry *e)
{
	if (e->bpipe >= 0) {
		close(e->bpipe);
		e->bpipe = -1;
		fc->body_bytes -= e->m.size;
	}
	if (!e->body)
		return;
	fc->al->free(fc->al->ctx, e->body, e->m.size, BODY_ALIGN);
	fc->body_bytes -= e->m.size;
	e->body = NULL;
}

static void slot_free(struct http_fcache *fc, struct http_fentry *e)
{
	if (e->fd >= 0)
		URT_DISCARD(urt_close_detached(e->fd));
	e->fd = -1;
	e->hnext = fc->free;
	fc->free = e;
	fc->live--;
}

/* Out of the table and the LRU; freed now if no request holds it. */
static void detach(struct http_fcache *fc, struct http_fentry *e)
{
	struct http_fentry **pp = &fc->table[e->hash & fc->mask];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_del(e);
	body_drop(fc, e);
	e->cached = false;
	if (!e->refs)
		slot_free(fc, e);
}

void http_fcache_deinit(struct http_fcache *fc)
{
	while (fc->lru.next != &fc->lru)
		detach(fc, fc->lru.next);
}

static struct http_fentry *find(struct http_fcache *fc, const char *path, size_t n, uint64_t h)
{
	struct http_fentry *e;

	for (e = fc->table[h & fc->mask]; e; e = e->hnext)
		if (e->hash == h && e->path_len == n && !memcmp(e->path, path, n))
			break;
	return e;
}

struct http_fentry *http_fcache_get(struct http_fcache *fc, const char *path, uint64_t now_ns,
				    bool *stale, const void *holder)
{
	size_t n = strlen(path);
	struct http_fentry *e;

	if (!fc->table || n >= HTTP_FCACHE_PATH)
		return NULL;
	e = find(fc, path, n, hash_of(path, n));
	if (!e) {
		fc->misses++;
		return NULL;
	}
	e->refs++;
	e->holders ^= (uintptr_t)holder;
	lru_del(e);
	lru_front(fc, e);
	*stale = now_ns - e->checked_ns >= fc->o.valid_ms * 1000000u;
	if (!*stale)
		fc->hits++;
	return e;
}

bool http_fcache_check(struct http_fcache *fc, struct http_fentry *e, int ret,
		       const struct statx *stx, uint64_t now_ns)
{
	struct http_fmeta m;

	fc->revalidated++;
	if (!e->cached || ret == -ECANCELED)
		return false; /* no answer (the connection was closed): the entry stays */
	if (!ret) {
		http_fmeta_set(&m, stx);
		if (S_ISREG(m.mode) && m.dev == e->m.dev && m.ino == e->m.ino &&
		    m.size == e->m.size && m.mtime_ns == e->m.mtime_ns) {
			e->checked_ns = now_ns;
			fc->hits++;
			return true;
		}
	}
	fc->stale++;
	detach(fc, e);
	return false;
}

/* A slot for a new entry: a free one, else the least recently used no request holds. */
static struct http_fentry *slot_take(struct http_fcache *fc)
{
	struct http_fentry *e;

	if (!fc->free) {
		for (e = fc->lru.prev; e != &fc->lru && e->refs; e = e->prev)
			;
		if (e == &fc->lru)
			return NULL;
		detach(fc, e);
		fc->evicted++;
	}
	e = fc->free;
	fc->free = e->hnext;
	fc->live++;
	return e;
}

struct http_fentry *http_fcache_put(struct http_fcache *fc, const char *path, int fd,
				    const struct http_fmeta *m, uint64_t now_ns, const void *holder,
				    void **lone)
{
	size_t n = strlen(path);
	struct http_fentry *e, **b;
	uint64_t h;

	*lone = NULL;
	if (!fc->table || n >= HTTP_FCACHE_PATH)
		return NULL;
	/* another request opened the same file meanwhile: the newer wins
	 * (its holder learns of it now: the slot, freed at refs 0, may be
	 * taken below) */
	h = hash_of(path, n);
	e = find(fc, path, n, h);
	if (e) {
		detach(fc, e);
		*lone = http_fcache_lone(e);
	}
	e = slot_take(fc);
	if (!e)
		return NULL;
	e->hash = h;
	e->checked_ns = now_ns;
	e->refs = 1;
	e->holders = (uintptr_t)holder;
	e->cached = true;
	e->fd = fd;
	e->body = NULL;
	e->bpipe = -1;
	e->pipe_failed = false;
	e->m = *m;
	e->path_len = (uint16_t)n;
	memcpy(e->path, path, n + 1);
	b = &fc->table[e->hash & fc->mask];
	e->hnext = *b;
	*b = e;
	lru_front(fc, e);
	return e;
}

/* Whether e may keep a body of n bytes: room made in the budget. */
static bool body_room(struct http_fcache *fc, struct http_fentry *e, size_t n)
{
	struct http_fentry *old = fc->lru.prev;

	if (!e->cached || e->body || e->bpipe >= 0 || n != e->m.size || !n || n > fc->o.body_max ||
	    n > fc->o.body_budget)
		return false;
	while (fc->body_bytes + n > fc->o.body_budget && old != &fc->lru) {
		struct http_fentry *prev = old->prev;

		body_drop(fc, old);
		old = prev;
	}
	return true;
}

bool http_fcache_pipe_room(struct http_fcache *fc, struct http_fentry *e)
{
	return body_room(fc, e, e->m.size);
}

void http_fcache_pipe_put(struct http_fcache *fc, struct http_fentry *e, int rfd)
{
	e->bpipe = rfd;
	fc->body_bytes += e->m.size;
}

void http_fcache_body_put(struct http_fcache *fc, struct http_fentry *e, const char *p, size_t n)
{
	if (!body_room(fc, e, n))
		return;
	e->body = fc->al->alloc(fc->al->ctx, n, BODY_ALIGN);
	if (!e->body)
		return;
	memcpy(e->body, p, n);
	fc->body_bytes += n;
}

void http_fcache_unref(struct http_fcache *fc, struct http_fentry *e, const void *holder)
{
	e->holders ^= (uintptr_t)holder;
	if (--e->refs == 0 && !e->cached)
		slot_free(fc, e);
}

uint32_t http_fcache_shrink(struct http_fcache *fc)
{
	uint32_t want = (fc->live + 1) / 2, n = 0;
	struct http_fentry *e = fc->lru.prev;

	while (n < want && e != &fc->lru) {
		struct http_fentry *prev = e->prev;

		if (!e->refs) {
			detach(fc, e);
			n++;
		}
		e = prev;
	}
	fc->evicted += n;
	return n;
}

int http_fcache_take(struct http_fcache *fc)
{
	int fd;

	for (struct http_fentry *e = fc->lru.prev; e != &fc->lru; e = e->prev) {
		if (e->refs)
			continue;
		fd = e->fd;
		e->fd = -1; /* the caller's now */
		detach(fc, e);
		return fd;
	}
	return -1;
}
