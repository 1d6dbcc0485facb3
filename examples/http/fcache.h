/* SPDX-License-Identifier: MIT */
/*
 * http/fcache.h - urt-http's open-file cache, one per runtime (like
 * nginx's open_file_cache and h2o's file handle cache): a file served
 * once keeps its descriptor and what statx said of it (size, times, the
 * ETag and Last-Modified made from them), so a hot file costs no openat
 * and no statx per request, and at most one statx of its path per
 * --file-cache-valid-ms (revalidation: the same device, inode, size and
 * mtime, or the entry goes and the file is opened again, beneath the
 * root). Files up to --body-cache-max keep their bytes too, within
 * --body-cache bytes per runtime, and are answered from memory: a small
 * one (up to the caller's copy limit, HTTP_SMALL) as a copy, copied into
 * its answer; a larger one as a pipe holding a copy of them (filled once
 * by a read and a write: the page cache's own pages would change under
 * it), which each answer tee(2)s into its connection's pipe: no copy,
 * no read of the file, and no kernel worker (tee of two pipes never
 * blocks). The kernel counts the pages' holders,
 * so a body dropped from the cache (evicted, revalidated away) while an
 * answer's copy of it is still in a pipe or a socket is not freed under it.
 *
 * Entries are refcounted: a request holds its file's entry from lookup to
 * the end of its body, so a send or splice in flight keeps the
 * descriptor open when the entry is replaced (a changed file) or the
 * cache is emptied; the last http_fcache_unref closes it. The holders are
 * known to the cache only as tags (the caller's connection), kept as
 * their XOR: with one holder left, it is that holder's tag, so the
 * caller can learn which request now holds the last reference to a
 * detached entry, and count its descriptor (http_fcache_lone). Eviction takes
 * the least recently used entry no request holds; with every entry held,
 * a new file is served uncached. Everything here is synchronous: the
 * connection task does the awaits (openat2, statx) and hands the results
 * over.
 *
 * Context: the runtime's thread only (nothing is shared between runtimes).
 */
#ifndef URT_EXAMPLES_HTTP_FCACHE_H
#define URT_EXAMPLES_HTTP_FCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <urt/allocator.h>

#define HTTP_FCACHE_PATH 200 /* a longer path is served uncached */
#define HTTP_DATE_LEN	 29  /* "Sun, 06 Nov 1994 08:49:37 GMT" */
#define HTTP_ETAG_MAX	 56  /* '"' 16 hex '-' 16 hex '-' 16 hex '"' NUL: 53 */

/* What a response needs of a file: statx's answer and the validators made from it. */
struct http_fmeta {
	uint64_t size, ino, dev, mtime_ns;
	int64_t mtime; /* seconds: Last-Modified's */
	uint32_t mode;
	uint32_t etag_len;
	char etag[HTTP_ETAG_MAX];   /* the strong ETag, quoted (see http_fmeta_set) */
	char lm[HTTP_DATE_LEN + 1]; /* Last-Modified */
};

struct http_fentry {
	struct http_fentry *hnext;	 /* hash chain, or the free list */
	struct http_fentry *prev, *next; /* LRU (most recent at the head), while cached */
	uint64_t hash;
	uint64_t checked_ns; /* last opened or revalidated */
	uint32_t refs;	     /* requests holding it */
	uintptr_t holders;   /* the XOR of their tags: with refs 1, the one's */
	bool cached;	     /* in the table (else detached: closed at refs 0) */
	int fd;
	char *body;	  /* the whole file (size bytes), or NULL */
	int bpipe;	  /* or the read end of a pipe holding the whole file, or -1 */
	bool pipe_failed; /* a pipe was too small for it (the kernel's limit): no more tries */
	struct http_fmeta m;
	uint16_t path_len;
	char path[HTTP_FCACHE_PATH];
};

struct http_fcache_opts {
	uint32_t entries;   /* --file-cache: 0 turns the cache off */
	uint64_t valid_ms;  /* --file-cache-valid-ms: 0 revalidates every hit */
	size_t body_max;    /* --body-cache-max: larger files keep no body */
	size_t body_budget; /* --body-cache: body bytes at most */
};

struct http_fcache {
	struct http_fcache_opts o;
	const struct urt_allocator *al;
	struct http_fentry *slots;  /* o.entries of them */
	struct http_fentry **table; /* hash buckets, mask + 1 of them */
	struct http_fentry *free;   /* unused slots */
	struct http_fentry lru;	    /* the list head (only prev, next) */
	uint64_t mask;
	size_t body_bytes; /* bodies held: <= o.body_budget */
	uint32_t live;	   /* slots used: <= o.entries */
	/* counters (the stats line) */
	uint64_t hits, misses, revalidated, stale, evicted, body_hits;
};

/* http_fmeta_set - m from a statx answer: the ETag (inode, size, mtime to the ns, hex) and
 * Last-Modified, made without printf. */
void http_fmeta_set(struct http_fmeta *m, const struct statx *stx);

/* http_date_fmt - t as an IMF-fixdate (RFC 9110 5.6.7) in out[0, HTTP_DATE_LEN), NUL after;
 * a t outside years 0..9999 (no 4-digit year) is clamped into them. */
void http_date_fmt(char *out, time_t t);

/*
 * http_fcache_init - an empty cache of o->entries slots from al (none
 * when o->entries is 0: every lookup misses, nothing is kept).
 * Return: 0; -ENOMEM (nothing to undo).
 */
int http_fcache_init(struct http_fcache *fc, const struct http_fcache_opts *o,
		     const struct urt_allocator *al);

/* http_fcache_deinit - every descriptor closed (urt_close_detached: call it before the
 * runtime's deinit); entries still held are detached, their holders close them. */
void http_fcache_deinit(struct http_fcache *fc);

/* http_fcache_free - after the runtime's deinit (every holder gone): the memory back. */
void http_fcache_free(struct http_fcache *fc);

/*
 * http_fcache_get - the entry of path (NUL-terminated), held (refs + 1) by
 * holder (a tag, not NULL, that holds no other reference to it), made
 * most recent; NULL if none. *stale: it must be revalidated (its last
 * check is valid_ms old) before it is used: statx path, then
 * http_fcache_check.
 */
struct http_fentry *http_fcache_get(struct http_fcache *fc, const char *path, uint64_t now_ns,
				    bool *stale, const void *holder);

/*
 * http_fcache_check - ret and stx from a statx of e's path (beneath the
 * root, following links): the same file (device, inode, size, mtime, a
 * regular file) renews e's check time. Return: true e holds; false it was
 * detached (the file changed, went or cannot be seen: open it again), or
 * ret is -ECANCELED (no answer: e stays cached, the caller opens the file
 * for itself); the caller's hold goes on until its http_fcache_unref.
 */
bool http_fcache_check(struct http_fcache *fc, struct http_fentry *e, int ret,
		       const struct statx *stx, uint64_t now_ns);

/*
 * http_fcache_put - a file just opened (fd, beneath the root) and its
 * statx m, under path: a new entry, held by holder, owning fd. An older
 * entry of path (another request opened it meanwhile) is detached: *lone
 * is the holder left with its last reference, else NULL. Return: the
 * entry; NULL if the path is too long, the cache is off or every slot is
 * held (the caller keeps fd and closes it).
 */
struct http_fentry *http_fcache_put(struct http_fcache *fc, const char *path, int fd,
				    const struct http_fmeta *m, uint64_t now_ns, const void *holder,
				    void **lone);

/* http_fcache_body_put - keep the whole file's n bytes p in e (a copy), if n is within
 * body_max and the budget (older bodies give way, least recently used first). */
void http_fcache_body_put(struct http_fcache *fc, struct http_fentry *e, const char *p, size_t n);

/*
 * http_fcache_pipe_room - whether e (cached, no body) may keep a pipe
 * body of its m.size bytes: within body_max and the budget, older bodies
 * dropped to make room (least recently used first). The caller fills a
 * pipe and hands it to http_fcache_pipe_put (nothing is reserved: this
 * is synchronous, so nothing else ran in between).
 */
bool http_fcache_pipe_room(struct http_fcache *fc, struct http_fentry *e);

/* http_fcache_pipe_put - e's body is now the pipe whose read end is rfd
 * (holding e->m.size bytes): the cache owns rfd, counted in body_bytes. */
void http_fcache_pipe_put(struct http_fcache *fc, struct http_fentry *e, int rfd);

/* http_fcache_unref - end holder's hold; a detached entry's last closes its descriptor. */
void http_fcache_unref(struct http_fcache *fc, struct http_fentry *e, const void *holder);

/*
 * http_fcache_lone - the holder of the last reference to e, if e is
 * detached (its end closes e's descriptor, which the cache no longer
 * counts as its own); else NULL. Asked after a hold ends or an entry is
 * detached: only then does it change.
 */
static inline void *http_fcache_lone(const struct http_fentry *e)
{
	return !e->cached && e->refs == 1 ? (void *)e->holders : NULL;
}

/* http_fcache_shrink - a full descriptor table (EMFILE): give back up to half of the
 * descriptors no request holds. Return: how many were closed. */
uint32_t http_fcache_shrink(struct http_fcache *fc);

/* http_fcache_take - one descriptor no request holds, its entry gone from the cache (the
 * caller closes it, e.g. with an awaited urt_close). Return: fd; -1 none left. */
int http_fcache_take(struct http_fcache *fc);

#endif
