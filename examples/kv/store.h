/* SPDX-License-Identifier: MIT */
/*
 * store.h - urt-kv's keyspace: an open-addressing hash table (linear
 * probing, backward-shift deletion, so no tombstones) of string entries.
 * An entry is one block: header, key, value, from urt's size classes up
 * to 4 KiB, else from malloc (store.c says why). Keys
 * expire lazily on access and by a sweep the server runs on its timer.
 * Keys are hashed with SipHash-1-3 under a secret key (store_seed), so a
 * client cannot choose keys that collide: with a keyed hash of that
 * strength linear probing keeps its expected O(1) probes against any
 * keys (what made it unsafe was the unkeyed FNV-1a before).
 *
 * Context: one thread at a time (urt-kv's runtimes share one store and call
 * it only under their lock). Nothing in it is bound to a thread: its size
 * classes are its own instance (sc, backed by malloc), not a runtime's
 * pools, and no call reaches thread-local state, so a block may be
 * allocated on one thread and freed on another.
 */
#ifndef URT_KV_STORE_H
#define URT_KV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urt/pool.h>

struct kv_entry {
	int64_t expire_ms; /* 0: never (its hash is the table's: store.hashes) */
	uint32_t klen, vlen;
	uint32_t refs; /* connections sending its value (KV_DETACHED: out of the table) */
	char data[];   /* key, then value */
};

/* In refs: the entry left the table (replaced, deleted, flushed) while a
 * connection still sends its value; the last store_unref frees it. */
#define KV_DETACHED 0x80000000u

static inline const char *kv_val(const struct kv_entry *e)
{
	return e->data + e->klen;
}

struct store {
	struct urt_sizeclass sc;
	struct kv_entry **slots;
	uint64_t *hashes; /* hashes[i]: slots[i]'s hash, so a probe reads no entry (one
			   * allocation with slots: cap pointers, then cap hashes) */
	size_t cap, n;
	size_t mem, maxmem; /* bytes held (entries' classes, the table, entries detached but
			     still sent); maxmem 0: no cap */
	uint64_t k0, k1;    /* the hash's secret key (store_seed) */
	size_t sweep_pos;
	int64_t full_sweep_ms; /* the last whole sweep store_full ran */
};

int store_init(struct store *s, size_t maxmem);
void store_deinit(struct store *s);

/*
 * store_seed - key the hash with a secret derived from seed (SipHash-1-3,
 * 128-bit key). Call after store_init, before the first write. An
 * unseeded store hashes under the key of seed 0 (tests).
 */
void store_seed(struct store *s, uint64_t seed);

/*
 * store_hash - key's hash (SipHash-1-3 under the store's secret): what the
 * _hashed calls below take, so a key looked at ahead of its command is
 * hashed once. Valid until the next store_seed.
 */
uint64_t store_hash(const struct store *s, const char *key, size_t klen);

/*
 * store_prefetch - start loading the home slot of the key of hash h into
 * the cache (entry false), or the entry its slot holds (entry true: its
 * slot should be in the cache by then, from an earlier call), so that a
 * lookup of it a little later does not wait for memory. urt-kv asks for
 * the slot two requests of a pipeline ahead and the entry one ahead.
 * Reads the table only: under the same lock as the lookups.
 */
void store_prefetch(const struct store *s, uint64_t h, bool entry);

/*
 * store_ref - keep e (and its value bytes, which no command changes while
 * it is held) alive until store_unref, even if it leaves the table meanwhile:
 * a connection can then send a large value from the entry itself, with
 * the lock let go. Return: false if e has too many references (copy it).
 * store_unref - let go; frees e if it left the table and was the last.
 * Context: both under the store's lock.
 */
bool store_ref(struct kv_entry *e);
void store_unref(struct store *s, struct kv_entry *e);

/* The live entry for key (an expired one is deleted and NULL returned).
 * store_get_hashed: the same, h being store_hash(s, key, klen). */
struct kv_entry *store_get(struct store *s, const char *key, size_t klen, int64_t now_ms);
struct kv_entry *store_get_hashed(struct store *s, const char *key, size_t klen, uint64_t h,
				  int64_t now_ms);

/*
 * store_set - key = value, with expire_ms (0: none). Replaces an entry; one
 * that no store_ref holds, whose size class the new value keeps, is
 * rewritten in place (the same pointer).
 * Return: 0; -ENOMEM when memory ran out (nothing changed).
 */
int store_set(struct store *s, const char *key, size_t klen, const char *val, size_t vlen,
	      int64_t expire_ms);
/* store_set_hashed - the same, h being store_hash(s, key, klen). */
int store_set_hashed(struct store *s, const char *key, size_t klen, uint64_t h, const char *val,
		     size_t vlen, int64_t expire_ms);

/* store_del - Return: whether a live key was deleted. */
bool store_del(struct store *s, const char *key, size_t klen, int64_t now_ms);

void store_flush(struct store *s);

/* store_kept - bytes the store's class pools hold and no entry uses: freed
 * blocks, not yet used ones and page links of pools that still hold a live
 * entry (an empty pool gives its pages back at the next sweep; store.c). Not
 * counted against maxmem, as redis does not count its allocator's
 * fragmentation. */
size_t store_kept(const struct store *s);

/*
 * store_full - whether a write must be refused: memory held is at or past
 * maxmem even after the expired entries are swept out. Checked before a
 * write, as redis does, so a write may take the store a little past it
 * and a multi-key write is all or nothing.
 */
bool store_full(struct store *s, int64_t now_ms);

/*
 * store_random - a live entry, the first at or after slot rnd % cap (so not
 * uniform: one after a run of empty slots is likelier); NULL: none. O(cap)
 * at worst. Expired entries are passed over, not deleted.
 */
struct kv_entry *store_random(struct store *s, uint64_t rnd, int64_t now_ms);

/* Call fn for every live entry, in slot order. fn must not change the store. */
void store_each(struct store *s, int64_t now_ms, void (*fn)(void *ctx, const struct kv_entry *e),
		void *ctx);

/*
 * store_scan - one step of redis's SCAN from cursor (0: the first): fn is
 * called for the live entries of the buckets visited, until count were
 * passed, 10 x count buckets were visited or the walk is done (as redis
 * counts). fn must not change the store; between two calls anything may.
 * The same call on an unchanged store passes the same entries.
 * Return: the next cursor; 0 when the walk is done. A key present from
 * the first call to the last is passed at least once, whatever the table
 * did in between (grown, entries deleted and shifted); one may be passed
 * more than once.
 */
uint64_t store_scan(struct store *s, uint64_t cursor, size_t count, int64_t now_ms,
		    void (*fn)(void *ctx, const struct kv_entry *e), void *ctx);

/* Delete expired entries among the next budget slots, and give back the
 * pages of the class pools left empty (store.c, STORE_TRIM_MIN). Return:
 * deleted. */
size_t store_sweep(struct store *s, size_t budget, int64_t now_ms);

/* Redis's glob: * ? [set] [^set] [a-z] and \ escapes; O(pattern x string).
 * As in redis, the empty string matches only the empty pattern (KEYS *
 * is special-cased by its caller). */
bool glob_match(const char *pat, size_t plen, const char *str, size_t slen);

#endif
