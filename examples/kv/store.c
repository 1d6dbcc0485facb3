/* SPDX-License-Identifier: MIT */
/* store.c - the keyspace (see store.h). */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline void sip_round(uint64_t *v)
{
	v[0] += v[1];
	v[1] = ROTL(v[1], 13);
	v[1] ^= v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3];
	v[3] = ROTL(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = ROTL(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = ROTL(v[1], 17);
	v[1] ^= v[2];
	v[2] = ROTL(v[2], 32);
}

/*
 * SipHash-1-3 of the key under the store's 128-bit secret (as redis hashes
 * its keys): a client that does not know the secret cannot choose keys
 * that share a home bucket, so linear probing keeps its expected O(1)
 * probes whatever keys it is sent. Unseeded FNV-1a let crafted colliding
 * keys make every lookup walk the whole table.
 */
uint64_t store_hash(const struct store *s, const char *k, size_t n)
{
	uint64_t v[4] = { s->k0 ^ 0x736f6d6570736575ull, s->k1 ^ 0x646f72616e646f6dull,
			  s->k0 ^ 0x6c7967656e657261ull, s->k1 ^ 0x7465646279746573ull };
	uint64_t b = (uint64_t)n << 56, m;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&m, k + i, 8); /* little-endian hosts (urt is Linux x86-64 / arm64) */
		v[3] ^= m;
		sip_round(v);
		v[0] ^= m;
	}
	for (size_t j = 0; i + j < n; j++)
		b |= (uint64_t)(unsigned char)k[i + j] << (8 * j);
	v[3] ^= b;
	sip_round(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	sip_round(v);
	sip_round(v);
	sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

void store_seed(struct store *s, uint64_t seed)
{
	uint64_t z = seed;

	/* splitmix64 twice: two key halves from one 64-bit seed */
	for (int i = 0; i < 2; i++) {
		uint64_t x = (z += 0x9e3779b97f4a7c15ull);

		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		*(i ? &s->k1 : &s->k0) = x ^ (x >> 31);
	}
}

static size_t entry_size(size_t klen, size_t vlen)
{
	return sizeof(struct kv_entry) + klen + vlen;
}

/*
 * An entry up to STORE_CLASS_MAX bytes is a block of the store's size
 * classes; a larger one is malloc's, one call each. Why: a class pool
 * keeps its freed blocks until deinit, each class its own, so with the
 * classes up to 64 KiB a keyspace that moved through value sizes held a
 * --maxmemory's worth in every class it passed (32m of 5,000-byte values
 * flushed, then 7,000 ... 60,000 bytes: 260 MiB resident after the last
 * FLUSHALL; malloc's: 6.8 MiB; redis: 12.4 MiB). The classes up to 4 KiB
 * give an empty pool's pages back at the sweep (STORE_TRIM_MIN).
 */
#define STORE_CLASS_MAX URT_SIZECLASS_SMALL_MAX

/*
 * An empty class pool that holds at least this much gives its pages back
 * at the next sweep (store_sweep, every 100 ms) or at once on a flush.
 * Without it each of the 16 classes kept its peak: values of 600, 900,
 * 1,400, 1,900, 2,900 and 3,900 bytes, each filled to --maxmemory 32m and
 * flushed, left 198 MiB resident. Not at the free that empties the pool:
 * a class filled and emptied every few requests then freed and allocated
 * its pages each time (25 page allocations a cycle for an MSET and DEL of
 * 200 keys of 2,900 bytes; review 12). Below the limit a pool keeps its
 * pages: at most 16 x 64 KiB stays.
 */
#define STORE_TRIM_MIN ((size_t)64 * 1024)

static size_t entry_cost(size_t klen, size_t vlen)
{
	size_t n = entry_size(klen, vlen);

	return n > STORE_CLASS_MAX ? n : urt_sizeclass_class_size(n);
}

static struct kv_entry *entry_alloc(struct store *s, size_t n)
{
	return n > STORE_CLASS_MAX ? malloc(n) : urt_sizeclass_alloc(&s->sc, n);
}

/* A slot's bytes: its entry's pointer and its hash (store.h). */
#define SLOT_BYTES (sizeof(struct kv_entry *) + sizeof(uint64_t))

/* A table of cap empty slots: slots, and hashes after them. Return: 0; -ENOMEM. */
static int table_alloc(struct store *s, size_t cap)
{
	struct kv_entry **slots = calloc(cap, SLOT_BYTES);

	if (!slots)
		return -ENOMEM;
	s->slots = slots;
	s->hashes = (uint64_t *)(slots + cap);
	s->cap = cap;
	return 0;
}

int store_init(struct store *s, size_t maxmem)
{
	memset(s, 0, sizeof(*s));
	urt_sizeclass_init(&s->sc, NULL);
	if (table_alloc(s, 1024))
		return -ENOMEM;
	s->mem = s->cap * SLOT_BYTES;
	s->maxmem = maxmem;
	return 0;
}

static void entry_release(struct store *s, struct kv_entry *e)
{
	size_t n = entry_size(e->klen, e->vlen);

	s->mem -= entry_cost(e->klen, e->vlen);
	if (n > STORE_CLASS_MAX)
		free(e);
	else
		urt_sizeclass_free(&s->sc, e, n);
}

/* Give back the pages of every empty class pool that holds STORE_TRIM_MIN
 * or more. Return: the bytes given back. */
static size_t trim_empty(struct store *s)
{
	size_t given = 0;

	for (int i = 0; i < URT_SIZECLASS_POOLS; i++) {
		struct urt_pool *p = &s->sc.pools[i];

		if (!p->live && p->bytes >= STORE_TRIM_MIN)
			given += urt_pool_trim(p);
	}
	return given;
}

size_t store_kept(const struct store *s)
{
	struct urt_sizeclass_stats st;

	urt_sizeclass_stats(&s->sc, &st);
	return st.kept;
}

/* An entry leaves the table: freed, unless a connection still sends it. */
static void entry_free(struct store *s, struct kv_entry *e)
{
	if (e->refs)
		e->refs |= KV_DETACHED; /* still counted in mem until its last unref */
	else
		entry_release(s, e);
}

bool store_ref(struct kv_entry *e)
{
	if ((e->refs & ~KV_DETACHED) == ~KV_DETACHED)
		return false;
	e->refs++;
	return true;
}

void store_unref(struct store *s, struct kv_entry *e)
{
	if (--e->refs == KV_DETACHED)
		entry_release(s, e);
}

void store_flush(struct store *s)
{
	for (size_t i = 0; i < s->cap; i++) {
		if (s->slots[i]) {
			entry_free(s, s->slots[i]);
			s->slots[i] = NULL;
		}
	}
	s->n = 0;
	trim_empty(s); /* a pool still holding a detached entry waits for a sweep */
}

void store_deinit(struct store *s)
{
	store_flush(s);
	free(s->slots);
	urt_sizeclass_deinit(&s->sc);
}

/*
 * Probing compares the hashes beside the slots and reads an entry only
 * when its hash matches. With the entries' pointers alone, each probe read
 * an entry's hash through its pointer: a cache miss a probe in a keyspace
 * larger than the cache (a third of urt-kv's CPU under GET -P 16 -r 100000,
 * most of it for keys not found; docs/design.md).
 */
static size_t find(const struct store *s, const char *key, size_t klen, uint64_t h, bool *found)
{
	size_t mask = s->cap - 1, i = h & mask;

	for (;; i = (i + 1) & mask) {
		struct kv_entry *e = s->slots[i];

		if (!e) {
			*found = false;
			return i;
		}
		if (s->hashes[i] == h && e->klen == klen && !memcmp(e->data, key, klen)) {
			*found = true;
			return i;
		}
	}
}

void store_prefetch(const struct store *s, uint64_t h, bool entry)
{
	size_t mask = s->cap - 1, i = h & mask;

	if (!entry) {
		__builtin_prefetch(&s->slots[i]);
		__builtin_prefetch(&s->hashes[i]);
		return;
	}
	for (int probes = 0; probes < 4 && s->slots[i]; probes++, i = (i + 1) & mask) {
		if (s->hashes[i] == h) {
			__builtin_prefetch(s->slots[i]);
			return;
		}
	}
}

/* Backward-shift deletion: close the hole so every probe chain stays unbroken. */
static void remove_at(struct store *s, size_t i)
{
	size_t mask = s->cap - 1, j = i;

	entry_free(s, s->slots[i]);
	s->slots[i] = NULL;
	s->n--;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!s->slots[j])
			return;
		home = s->hashes[j] & mask;
		/* move j into the hole if its home is not in (i, j] (cyclically) */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			s->slots[i] = s->slots[j];
			s->hashes[i] = s->hashes[j];
			s->slots[j] = NULL;
			i = j;
		}
	}
}

static int grow(struct store *s)
{
	struct kv_entry **old = s->slots;
	uint64_t *oh = s->hashes;
	size_t ocap = s->cap;

	if (table_alloc(s, ocap * 2))
		return -ENOMEM;
	for (size_t i = 0; i < ocap; i++) {
		size_t j;

		if (!old[i])
			continue;
		/* no key is there twice: its home's run ends at an empty slot */
		for (j = oh[i] & (s->cap - 1); s->slots[j]; j = (j + 1) & (s->cap - 1))
			;
		s->slots[j] = old[i];
		s->hashes[j] = oh[i];
	}
	free(old);
	s->mem += ocap * SLOT_BYTES;
	return 0;
}

static bool expired(const struct kv_entry *e, int64_t now_ms)
{
	return e->expire_ms && e->expire_ms <= now_ms;
}

struct kv_entry *store_get(struct store *s, const char *key, size_t klen, int64_t now_ms)
{
	return store_get_hashed(s, key, klen, store_hash(s, key, klen), now_ms);
}

struct kv_entry *store_get_hashed(struct store *s, const char *key, size_t klen, uint64_t h,
				  int64_t now_ms)
{
	bool found;
	size_t i = find(s, key, klen, h, &found);

	if (!found)
		return NULL;
	if (expired(s->slots[i], now_ms)) {
		remove_at(s, i);
		return NULL;
	}
	return s->slots[i];
}

int store_set(struct store *s, const char *key, size_t klen, const char *val, size_t vlen,
	      int64_t expire_ms)
{
	return store_set_hashed(s, key, klen, store_hash(s, key, klen), val, vlen, expire_ms);
}

int store_set_hashed(struct store *s, const char *key, size_t klen, uint64_t h, const char *val,
		     size_t vlen, int64_t expire_ms)
{
	bool found;
	size_t i = find(s, key, klen, h, &found), cost = entry_cost(klen, vlen);
	struct kv_entry *e;

	if (klen > UINT32_MAX || vlen > UINT32_MAX)
		return -ENOMEM;
	e = found ? s->slots[i] : NULL;
	if (e && !e->refs && entry_size(klen, vlen) <= STORE_CLASS_MAX &&
	    entry_size(klen, e->vlen) <= STORE_CLASS_MAX && cost == entry_cost(klen, e->vlen)) {
		/* the same size class and no connection sends it: the value in
		 * place, no allocator call (a SET of a key to a value of about its
		 * size, as a benchmark's one key: 140 of its 1,280 instructions) */
		if (vlen) /* val may lie in the entry itself */
			memmove(e->data + klen, val, vlen);
		e->vlen = (uint32_t)vlen;
		e->expire_ms = expire_ms;
		return 0;
	}
	if (!found && (s->n + 1) * 10 > s->cap * 7) {
		if (grow(s))
			return -ENOMEM;
		i = find(s, key, klen, h, &found);
	}
	e = entry_alloc(s, entry_size(klen, vlen));
	if (!e)
		return -ENOMEM;
	e->expire_ms = expire_ms;
	e->refs = 0;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)vlen;
	memcpy(e->data, key, klen);
	if (vlen) /* val may lie in the old entry: copy before freeing it */
		memmove(e->data + klen, val, vlen);
	if (found)
		entry_free(s, s->slots[i]);
	else
		s->n++;
	s->slots[i] = e;
	s->hashes[i] = h;
	s->mem += cost;
	return 0;
}

bool store_del(struct store *s, const char *key, size_t klen, int64_t now_ms)
{
	bool found;
	size_t i = find(s, key, klen, store_hash(s, key, klen), &found);
	bool live;

	if (!found)
		return false;
	live = !expired(s->slots[i], now_ms);
	remove_at(s, i);
	return live;
}

void store_each(struct store *s, int64_t now_ms, void (*fn)(void *ctx, const struct kv_entry *e),
		void *ctx)
{
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i] && !expired(s->slots[i], now_ms))
			fn(ctx, s->slots[i]);
}

/* Reverse the bits of v. */
static uint64_t rev64(uint64_t v)
{
	v = (v >> 1 & 0x5555555555555555ull) | (v & 0x5555555555555555ull) << 1;
	v = (v >> 2 & 0x3333333333333333ull) | (v & 0x3333333333333333ull) << 2;
	v = (v >> 4 & 0x0f0f0f0f0f0f0f0full) | (v & 0x0f0f0f0f0f0f0f0full) << 4;
	v = (v >> 8 & 0x00ff00ff00ff00ffull) | (v & 0x00ff00ff00ff00ffull) << 8;
	v = (v >> 16 & 0x0000ffff0000ffffull) | (v & 0x0000ffff0000ffffull) << 16;
	return v >> 32 | v << 32;
}

/*
 * The cursor names a home bucket (hash & mask), not a slot, and buckets
 * are visited in redis's order: the cursor's bits reversed are
 * incremented. An entry with home b lies in the run of occupied slots
 * that starts at b (linear probing, and backward-shift deletion keeps it
 * so), so visiting b is walking that run and passing on the entries whose
 * home is b; where they sit in it does not matter, so a deletion that
 * shifts them does not either. When the table doubles, bucket b becomes
 * b and b + cap, whose reversed numbers follow each other: every bucket
 * the cursor has passed splits into buckets it has passed too, and none
 * ahead of it is skipped. Hence redis's guarantee: a key present from the
 * first call to the last is returned at least once.
 */
uint64_t store_scan(struct store *s, uint64_t cursor, size_t count, int64_t now_ms,
		    void (*fn)(void *ctx, const struct kv_entry *e), void *ctx)
{
	uint64_t mask = s->cap - 1, v = cursor;
	size_t seen = 0, buckets = count > SIZE_MAX / 10 ? SIZE_MAX : count * 10;

	if (!s->n)
		return 0; /* as redis: an empty keyspace ends the walk at once */
	do {
		for (uint64_t i = v & mask; s->slots[i]; i = (i + 1) & mask) {
			const struct kv_entry *e = s->slots[i];

			if ((s->hashes[i] & mask) == (v & mask) && !expired(e, now_ms)) {
				fn(ctx, e);
				seen++;
			}
		}
		v = rev64(rev64(v | ~mask) + 1);
	} while (v && --buckets && seen < count);
	return v;
}

bool store_full(struct store *s, int64_t now_ms)
{
	if (!s->maxmem || s->mem < s->maxmem)
		return false;
	/* expired keys first: they are not worth an -OOM. A whole sweep costs
	 * the table's size, so at most one every 10 ms however hard clients
	 * write into a full store. */
	if (now_ms - s->full_sweep_ms >= 10) {
		s->full_sweep_ms = now_ms;
		store_sweep(s, s->cap, now_ms);
	}
	return s->mem >= s->maxmem;
}

size_t store_sweep(struct store *s, size_t budget, int64_t now_ms)
{
	size_t deleted = 0;

	while (budget-- && s->n) {
		size_t i = s->sweep_pos++ & (s->cap - 1);

		/* a backward shift may move an unchecked entry into i: look again */
		while (s->slots[i] && expired(s->slots[i], now_ms)) {
			remove_at(s, i);
			deleted++;
		}
	}
	trim_empty(s);
	return deleted;
}

/* One pattern element at p (not '*') against the character c. Sets *adv to
 * the element's length. */
static bool glob_one(const char *p, size_t pl, char c, size_t *adv)
{
	size_t i = 1;
	bool neg, hit = false;

	if (*p == '?') {
		*adv = 1;
		return true;
	}
	if (*p == '\\' && pl >= 2) {
		*adv = 2;
		return p[1] == c;
	}
	if (*p != '[') {
		*adv = 1;
		return *p == c;
	}
	neg = i < pl && p[i] == '^';
	if (neg)
		i++;
	for (; i < pl && p[i] != ']'; i++) {
		if (p[i] == '\\' && i + 1 < pl) {
			i++;
			hit |= p[i] == c;
		} else if (i + 2 < pl && p[i + 1] == '-') { /* as redis: "[a-]" is a..] */
			char lo = p[i] < p[i + 2] ? p[i] : p[i + 2];
			char hi = p[i] < p[i + 2] ? p[i + 2] : p[i];

			hit |= c >= lo && c <= hi;
			i += 2;
		} else {
			hit |= p[i] == c;
		}
	}
	*adv = i < pl ? i + 1 : i; /* past the ']' (an unterminated set ends the pattern) */
	return neg ? !hit : hit;
}

/*
 * Redis's glob, without its exponential backtracking: only the last '*'
 * is ever retried (a later '*' can absorb whatever an earlier one would),
 * so a match costs O(pattern x string) at worst.
 */
bool glob_match(const char *p, size_t pl, const char *s, size_t sl)
{
	size_t pi = 0, si = 0, star_p = SIZE_MAX, star_s = 0;

	if (!sl) /* as redis: the empty string matches only the empty pattern */
		return !pl;

	while (si < sl) {
		size_t adv;

		if (pi < pl && p[pi] == '*') {
			while (pi < pl && p[pi] == '*')
				pi++;
			star_p = pi;
			star_s = si;
			continue;
		}
		if (pi < pl && glob_one(p + pi, pl - pi, s[si], &adv)) {
			pi += adv;
			si++;
			continue;
		}
		if (star_p == SIZE_MAX)
			return false;
		pi = star_p; /* let the last star take one more character */
		si = ++star_s;
	}
	while (pi < pl && p[pi] == '*')
		pi++;
	return pi == pl;
}

struct kv_entry *store_random(struct store *s, uint64_t rnd, int64_t now_ms)
{
	for (size_t j = 0; j < s->cap; j++) {
		struct kv_entry *e = s->slots[(rnd + j) % s->cap];

		if (e && !expired(e, now_ms))
			return e;
	}
	return NULL;
}
