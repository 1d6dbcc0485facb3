/* SPDX-License-Identifier: MIT */
/*
 * bench_mem.c - the memory layer against glibc, mimalloc and jemalloc.
 *
 * Method. Every row runs batches of K alloc+free pairs: K allocations (each
 * block touched once), then K frees in LIFO or in a fixed random order. One
 * round runs one batch of every row, in turn, so all rows see the same
 * machine (each sample is a warm-up batch, then the timed batch, so a row
 * is measured in its own steady state, not in the cache state the previous
 * row left); ROUNDS rounds give each row ROUNDS samples, of which the table
 * prints the median (and p90) per pair in nanoseconds and in TSC cycles
 * (constant-rate reference cycles). Ratios are paired by round: the median
 * over rounds of baseline time / row time in the same round, so a shift of
 * the host's speed between rounds (this host has two, see
 * docs/benchmarks.md) lands on both sides of each ratio, never on one row's
 * median and not the other's. The same for every allocator, urt or peer.
 * Arena rows allocate K blocks and reset, so the failure path is never what
 * is measured (every allocation is checked non-NULL).
 *
 * mimalloc and jemalloc are opened with dlopen(RTLD_LOCAL) and called
 * through their own mi_malloc/mi_free and malloc/free (looked up on the
 * library's handle), so the process keeps glibc as malloc and all three are
 * measured in one run. Missing ones are skipped. Debian's jemalloc uses
 * initial-exec TLS, which dlopen can only place with glibc's
 * optional_static_tls tunable: the bench re-executes itself once with it set.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "urt/arena.h"
#include "urt/pool.h"
#include "urt/slab.h"

#define STR_(x) #x
#define STR(x)	STR_(x)
#ifdef BENCH_MEM_SHIFT /* a probe: see "Placement" below */
__asm__(".text\n.skip " STR(BENCH_MEM_SHIFT) ", 0xcc");
#endif

#define K	1024
#define ROUNDS	31
#define MAXROWS 64

/* --- allocators under test ---------------------------------------------- */

static void *(*mi_malloc_p)(size_t);
static void (*mi_free_p)(void *);
static void *(*je_malloc_p)(size_t);
static void (*je_free_p)(void *);

static void load_others(void)
{
	void *h = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);

	if (h) {
		mi_malloc_p = (void *(*)(size_t))dlsym(h, "mi_malloc");
		mi_free_p = (void (*)(void *))dlsym(h, "mi_free");
	} else
		fprintf(stderr, "bench_mem: mimalloc: %s\n", dlerror());
	h = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		fprintf(stderr, "bench_mem: jemalloc: %s\n", dlerror());
	if (h) { /* the handle's own malloc/free: its fast path, not the process's */
		je_malloc_p = (void *(*)(size_t))dlsym(h, "malloc");
		je_free_p = (void (*)(void *))dlsym(h, "free");
	}
}

static void die(const char *what)
{
	fprintf(stderr, "bench_mem: %s\n", what);
	exit(1);
}

struct blk {
	void *p;
	uint32_t c;
};

#define SINK(p) __asm__ volatile("" ::"r"(p) : "memory")

/*
 * One batch: K allocations, each touched, then K frees in `order` (NULL:
 * LIFO). always_inline with constant function arguments lets the compiler
 * inline urt's static inline fast paths, as a caller's code would. `at`
 * (0-3, a constant) puts 16 * at bytes of no-ops ahead of the loops: see
 * "Placement" below.
 */
static inline __attribute__((always_inline)) void
batch(void *ctx, size_t size, const uint32_t *order, struct blk *b,
      struct blk (*alloc)(void *, size_t), void (*release)(void *, struct blk, size_t), int at)
{
	bench_pad(at);
	for (int i = 0; i < K; i++) {
		b[i] = alloc(ctx, size);
		*(volatile char *)b[i].p = 1;
	}
	for (int i = 0; i < K; i++) {
		struct blk x = b[order ? order[i] : (uint32_t)(K - 1 - i)];

		SINK(x.p);
		release(ctx, x, size);
	}
}

static inline struct blk glibc_alloc(void *ctx, size_t size)
{
	void *p = malloc(size);

	if (!p)
		die("malloc failed");
	return (struct blk){ p, 0 };
}
static inline void glibc_free(void *ctx, struct blk b, size_t size)
{
	free(b.p);
}
static inline struct blk mi_alloc(void *ctx, size_t size)
{
	void *p = mi_malloc_p(size);

	if (!p)
		die("mi_malloc failed");
	return (struct blk){ p, 0 };
}
static inline void mi_release(void *ctx, struct blk b, size_t size)
{
	mi_free_p(b.p);
}
static inline struct blk je_alloc(void *ctx, size_t size)
{
	void *p = je_malloc_p(size);

	if (!p)
		die("jemalloc malloc failed");
	return (struct blk){ p, 0 };
}
static inline void je_release(void *ctx, struct blk b, size_t size)
{
	je_free_p(b.p);
}
static inline struct blk slab_alloc(void *ctx, size_t size)
{
	struct urt_slot s;

	if (urt_slab_alloc(ctx, &s))
		die("slab alloc failed");
	return (struct blk){ s.ptr, s.chunk };
}
static inline void slab_release(void *ctx, struct blk b, size_t size)
{
	urt_slab_free(ctx, b.p, b.c);
}
static inline struct blk slab_claim(void *ctx, size_t size)
{
	struct urt_slot s;

	if (urt_slab_claim(ctx, &s))
		die("slab claim failed");
	urt_slab_commit(ctx, &s);
	return (struct blk){ s.ptr, s.chunk };
}
static inline struct blk pool_alloc(void *ctx, size_t size)
{
	void *p = urt_pool_alloc(ctx);

	if (!p)
		die("pool alloc failed");
	return (struct blk){ p, 0 };
}
static inline void pool_release(void *ctx, struct blk b, size_t size)
{
	urt_pool_free(ctx, b.p);
}
static inline struct blk sc_alloc(void *ctx, size_t size)
{
	void *p = urt_sizeclass_alloc(ctx, size);

	if (!p)
		die("sizeclass alloc failed");
	return (struct blk){ p, 0 };
}
static inline void sc_release(void *ctx, struct blk b, size_t size)
{
	urt_sizeclass_free(ctx, b.p, size);
}

/*
 * The loop alone, the floor under every row: hands out the slots of one
 * array in address order (as a bumping slab does, same stride) and frees
 * nothing, so what it costs is the batch's own work (the touch, the blk
 * stores and loads, the order) that every allocator's row pays too.
 */
struct floor_ctx {
	char *base, *next, *end;
};

static inline struct blk floor_alloc(void *ctx, size_t size)
{
	struct floor_ctx *f = ctx;
	char *p = f->next;

	if (p == f->end)
		p = f->base;
	f->next = p + size;
	return (struct blk){ p, 0 };
}
static inline void floor_release(void *ctx, struct blk b, size_t size)
{
}

/* --- rows --------------------------------------------------------------- */

enum kind { GLIBC, MIMALLOC, JEMALLOC, SLAB_B, SLAB_U, CLAIM, ARENA, POOL, SIZECLASS, FLOOR };

static const char *const kind_name[] = {
	[GLIBC] = "glibc malloc+free",
	[MIMALLOC] = "mimalloc",
	[JEMALLOC] = "jemalloc",
	[SLAB_B] = "urt slab bounded",
	[SLAB_U] = "urt slab unbounded",
	[CLAIM] = "urt slab claim+commit+free",
	[ARENA] = "urt arena (K allocs + reset)",
	[POOL] = "urt pool",
	[SIZECLASS] = "urt size-class pool",
	[FLOOR] = "loop only (no allocator)",
};

struct row {
	enum kind kind;
	size_t size;
	bool random;
	void *ctx;
	double ns[ROUNDS], cyc[ROUNDS];
	double ns_med, ns_p90, cyc_med;
};

static struct row rows[MAXROWS];
static int nrows;
static uint32_t perm[K];
static struct blk blks[K];

/*
 * Placement. Where a row's two loops fall relative to the 64-byte lines of
 * code moves its time by up to a fifth at 32 B (docs/benchmarks.md, "Code
 * placement moves the 32 B lines"); on the AMD host it is the free loop's
 * offset in its line that counts. Inlined into one function, as before,
 * every row's loops moved with whatever code preceded them, so an
 * unrelated change moved the goal lines. Now each allocator's batch is
 * compiled four times, as functions aligned to 64 bytes with 0, 16, 32 and
 * 48 bytes of no-ops ahead of the loops, and round r runs copy r mod 4: a
 * row's median is taken over the four offsets a 16-byte-aligned loop can
 * have in a line, the same for every allocator, and no build can move it.
 * BENCH_MEM_SHIFT=N (bytes) pads ahead of this file's code, to check that.
 */
typedef void batch_fn(void *ctx, size_t size, const uint32_t *order);

#define BATCH_AT(name, alloc, release, at)                                                         \
	__attribute__((noinline, aligned(64))) static void name##at(void *ctx, size_t size,        \
								    const uint32_t *order)         \
	{                                                                                          \
		batch(ctx, size, order, blks, alloc, release, at);                                 \
	}
#define BATCHES(name, alloc, release)                                                              \
	BATCH_AT(name, alloc, release, 0)                                                          \
	BATCH_AT(name, alloc, release, 1)                                                          \
	BATCH_AT(name, alloc, release, 2)                                                          \
	BATCH_AT(name, alloc, release, 3)                                                          \
	static batch_fn *const name[4] = { name##0, name##1, name##2, name##3 };

BATCHES(batch_glibc, glibc_alloc, glibc_free)
BATCHES(batch_mi, mi_alloc, mi_release)
BATCHES(batch_je, je_alloc, je_release)
BATCHES(batch_slab, slab_alloc, slab_release)
BATCHES(batch_claim, slab_claim, slab_release)
BATCHES(batch_pool, pool_alloc, pool_release)
BATCHES(batch_sc, sc_alloc, sc_release)
BATCHES(batch_floor, floor_alloc, floor_release)

static void batch_row(struct row *r, int round)
{
	static batch_fn *const *const by_kind[] = {
		[GLIBC] = batch_glibc, [MIMALLOC] = batch_mi,  [JEMALLOC] = batch_je,
		[SLAB_B] = batch_slab, [SLAB_U] = batch_slab,  [CLAIM] = batch_claim,
		[POOL] = batch_pool,   [SIZECLASS] = batch_sc, [FLOOR] = batch_floor,
	};

	if (r->kind != ARENA) {
		by_kind[r->kind][round % 4](r->ctx, r->size, r->random ? perm : NULL);
		return;
	}
	for (int i = 0; i < K; i++) {
		char *p = urt_arena_alloc(r->ctx, r->size, 16);

		if (!p)
			die("arena alloc failed");
		*(volatile char *)p = 1;
	}
	urt_arena_reset(r->ctx);
}

/*
 * One sample: an untimed batch first, so the row's own memory is in cache
 * and its freelists are in the order its own pattern leaves them (the
 * allocator's steady state), then the timed batch.
 */
static void run_row(struct row *r, int round)
{
	uint64_t t0, c0;

	batch_row(r, round);
	t0 = now_ns();
	c0 = cycles();
	batch_row(r, round);
	r->cyc[round] = (double)(cycles() - c0) / K;
	r->ns[round] = (double)(now_ns() - t0) / K;
}

static struct row *add(enum kind k, size_t size, bool random, void *ctx)
{
	if ((k == MIMALLOC && !mi_malloc_p) || (k == JEMALLOC && !je_malloc_p))
		return NULL;
	rows[nrows] = (struct row){ .kind = k, .size = size, .random = random, .ctx = ctx };
	return &rows[nrows++];
}

static struct row *find(enum kind k, size_t size, bool random)
{
	for (int i = 0; i < nrows; i++)
		if (rows[i].kind == k && rows[i].size == size && rows[i].random == random)
			return &rows[i];
	return NULL;
}

/* Median over the rounds of base's time / r's time in the same round. */
static double paired(const struct row *base, const struct row *r)
{
	double q[ROUNDS];

	for (int i = 0; i < ROUNDS; i++)
		q[i] = base->ns[i] / r->ns[i];
	qsort(q, ROUNDS, sizeof(double), cmp_double);
	return q[ROUNDS / 2];
}

static void summarize(struct row *r)
{
	double ns[ROUNDS], cyc[ROUNDS];

	memcpy(ns, r->ns, sizeof(ns));
	memcpy(cyc, r->cyc, sizeof(cyc));
	qsort(ns, ROUNDS, sizeof(double), cmp_double);
	qsort(cyc, ROUNDS, sizeof(double), cmp_double);
	r->ns_med = ns[ROUNDS / 2];
	r->ns_p90 = ns[ROUNDS * 9 / 10];
	r->cyc_med = cyc[ROUNDS / 2];
}

/* --- memory accounting -------------------------------------------------- */

struct counting {
	struct urt_allocator al;
	size_t bytes, blocks;
};

static void *count_alloc(void *ctx, size_t size, size_t align)
{
	struct counting *c = ctx;

	c->bytes += size;
	c->blocks++;
	return urt_allocator_default.alloc(NULL, size, align);
}

static void count_free(void *ctx, void *p, size_t size, size_t align)
{
	struct counting *c = ctx;

	c->bytes -= size;
	c->blocks--;
	urt_allocator_default.free(NULL, p, size, align);
}

struct goal {
	char line[160];
	bool pass;
};

static struct goal goals[16];
static int ngoals;

static void goal(const char *name, double measured, const char *unit, const char *want, bool pass)
{
	snprintf(goals[ngoals].line, sizeof(goals[0].line), "goal %s: %.2f%s (want %s) %s", name,
		 measured, unit, want, pass ? "PASS" : "MISS");
	goals[ngoals++].pass = pass;
}

static void memory_goals(void)
{
	struct counting c = { .al = { .alloc = count_alloc, .free = count_free } };
	struct urt_slab s;
	struct urt_slot slot;
	double over, per_chunk;

	c.al.ctx = &c;
	if (urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 256,
						       .slots = 10000,
						       .bounded = true,
						       .allocator = &c.al }))
		die("slab init");
	over = (double)c.bytes - 10000.0 * 256;
	printf("bounded slab, 10000 x 256 B: %zu bytes held = capacity x slot + %.0f\n", c.bytes,
	       over);
	goal("bounded slab memory overhead", over, " B", "<= 4096 B", over <= 4096);
	urt_slab_deinit(&s);

	if (urt_slab_init(&s, &(struct urt_slab_opts){
				      .slot_size = 256, .slots = 256, .allocator = &c.al }))
		die("slab init");
	for (int i = 0; i < 256 * 1000; i++)
		if (urt_slab_alloc(&s, &slot))
			die("slab alloc");
	per_chunk = ((double)c.bytes - 1000.0 * 256 * 256) / 1000;
	printf("unbounded slab, 1000 chunks x 256 x 256 B: %zu bytes held, %.1f bytes of "
	       "bookkeeping per chunk (header + directory entry)\n",
	       c.bytes, per_chunk);
	goal("unbounded slab bookkeeping per chunk", per_chunk, " B", "<= 64 B", per_chunk <= 64);
	urt_slab_deinit(&s);
}

/* --- main --------------------------------------------------------------- */

static void print_table(void)
{
	printf("\n%-30s %5s %-6s %9s %9s %9s %9s %9s %9s\n", "allocator", "size", "order",
	       "ns/pair", "p90 ns", "cycles", "vs glibc", "vs mi", "vs je");
	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		struct row *g = find(GLIBC, r->size, r->random);
		struct row *m = find(MIMALLOC, r->size, r->random);
		struct row *j = find(JEMALLOC, r->size, r->random);
		char vm[16] = "-", vj[16] = "-";

		if (m)
			snprintf(vm, sizeof(vm), "%.2fx", paired(m, r));
		if (j)
			snprintf(vj, sizeof(vj), "%.2fx", paired(j, r));
		printf("%-30s %5zu %-6s %9.2f %9.2f %9.1f %8.2fx %9s %9s\n", kind_name[r->kind],
		       r->size, r->random ? "random" : "lifo", r->ns_med, r->ns_p90, r->cyc_med,
		       g ? paired(g, r) : 0.0, vm, vj);
	}
}

/*
 * Worst ratio baseline/row (paired by round) over the urt rows of kind k at
 * size bytes, for the given free order (-1: either).
 */
static double worst_ratio(enum kind k, enum kind base, size_t size, int random)
{
	double worst = 1e9;

	for (int i = 0; i < nrows; i++) {
		struct row *r = &rows[i], *b;

		if (r->kind != k || r->size != size || (random >= 0 && r->random != random))
			continue;
		b = find(base, r->size, r->random);
		if (b && paired(b, r) < worst)
			worst = paired(b, r);
	}
	return worst;
}

/*
 * Issue 20: the slab >= 5x glibc and >= 2x mimalloc at 32 and 256 B, in LIFO
 * and in random free order; each line takes the worse of bounded/unbounded.
 */
static void slab_goals(void)
{
	static const size_t sizes[] = { 32, 256 };
	char name[120];

	for (int si = 0; si < 2; si++) {
		for (int rnd = 0; rnd < 2; rnd++) {
			size_t size = sizes[si];
			const char *order = rnd ? "random" : "lifo";
			double g = fmin(worst_ratio(SLAB_B, GLIBC, size, rnd),
					worst_ratio(SLAB_U, GLIBC, size, rnd));

			snprintf(name, sizeof(name), "slab %zu B %s alloc+free vs glibc (worst)",
				 size, order);
			goal(name, g, "x", ">= 5x", g >= 5);
			if (!mi_malloc_p) {
				printf("goal slab vs mimalloc: not measured (libmimalloc not "
				       "installed)\n");
				continue;
			}
			double m = fmin(worst_ratio(SLAB_B, MIMALLOC, size, rnd),
					worst_ratio(SLAB_U, MIMALLOC, size, rnd));

			snprintf(name, sizeof(name), "slab %zu B %s alloc+free vs mimalloc (worst)",
				 size, order);
			goal(name, m, "x", ">= 2x", m >= 2);
		}
	}
}

static struct floor_ctx *floor_init(struct floor_ctx *f, size_t size)
{
	f->base = aligned_alloc(64, K * size);
	if (!f->base)
		die("floor array");
	f->next = f->base;
	f->end = f->base + K * size;
	return f;
}

/* Re-exec once with room for jemalloc's static TLS; harmless otherwise. */
static void ensure_static_tls(char **argv)
{
	if (getenv("GLIBC_TUNABLES") || getenv("URT_BENCH_NO_REEXEC"))
		return;
	setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=262144", 1);
	execv("/proc/self/exe", argv);
	unsetenv("GLIBC_TUNABLES"); /* exec failed: go on without jemalloc */
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 32, 256, 4096 };
	struct urt_slab slabs[2 * 3 * 2 + 2];
	struct floor_ctx floors[2 * 2];
	struct urt_arena arena;
	struct urt_pool pool;
	struct urt_sizeclass sc;
	int ns = 0, nf = 0;
	uint64_t seed = 42;

	(void)argc;
	ensure_static_tls(argv);
	load_others();
	for (int i = 0; i < K; i++)
		perm[i] = (uint32_t)i;
	for (int i = K - 1; i > 0; i--) { /* fixed-seed shuffle: same order every run */
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t j = (uint32_t)((seed >> 33) % (uint64_t)(i + 1)), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (size_t si = 0; si < 3; si++) {
		for (int rnd = 0; rnd < 2; rnd++) {
			size_t size = sizes[si];

			add(GLIBC, size, rnd, NULL);
			add(MIMALLOC, size, rnd, NULL);
			add(JEMALLOC, size, rnd, NULL);
			if (size <= 256)
				add(FLOOR, size, rnd, floor_init(&floors[nf++], size));
			for (int bounded = 1; bounded >= 0; bounded--) {
				/* unbounded: 4 chunks of 256 hold a batch, so frees
				 * cross chunks */
				if (urt_slab_init(&slabs[ns], &(struct urt_slab_opts){
								      .slot_size = size,
								      .slots = bounded ? K : K / 4,
								      .bounded = bounded,
							      }))
					die("slab init");
				add(bounded ? SLAB_B : SLAB_U, size, rnd, &slabs[ns++]);
			}
		}
	}
	if (urt_slab_init(&slabs[ns], &(struct urt_slab_opts){ .slot_size = 256, .slots = K }))
		die("slab init");
	add(CLAIM, 256, false, &slabs[ns++]);
	if (urt_arena_init(&arena, &(struct urt_arena_opts){ .chunk_size = 2u << 20 }))
		die("arena init");
	add(ARENA, 256, false, &arena);
	if (urt_pool_init(&pool, &(struct urt_pool_opts){ .obj_size = 256, .page_objs = K }))
		die("pool init");
	add(POOL, 256, false, &pool);
	add(POOL, 256, true, &pool);
	urt_sizeclass_init(&sc, NULL);
	add(SIZECLASS, 256, false, &sc);
	add(SIZECLASS, 256, true, &sc);

	for (int i = 0; i < nrows; i++) /* warm-up: first touch of every page */
		run_row(&rows[i], 0);
	for (int round = 0; round < ROUNDS; round++)
		for (int i = 0; i < nrows; i++)
			run_row(&rows[i], round);
	for (int i = 0; i < nrows; i++)
		summarize(&rows[i]);

	printf("urt memory layer benchmark: %d rounds x %d alloc+free pairs per row, medians\n",
	       ROUNDS, K);
	printf("mimalloc: %s, jemalloc: %s\n", mi_malloc_p ? "loaded" : "not installed",
	       je_malloc_p ? "loaded" : "not installed");
	print_table();
	printf("\n");
	memory_goals();
	printf("\n");

	slab_goals();
	double ar = paired(find(GLIBC, 256, false), find(ARENA, 256, false));
	goal("arena allocation vs glibc malloc+free (256 B)", ar, "x", ">= 10x", ar >= 10);
	double pw = worst_ratio(POOL, GLIBC, 256, -1);
	goal("pool alloc+free vs glibc (256 B, worst of lifo/random)", pw, "x", ">= 3x", pw >= 3);
	for (int i = 0; i < ngoals; i++)
		printf("%s\n", goals[i].line);

	for (int i = 0; i < ns; i++)
		urt_slab_deinit(&slabs[i]);
	for (int i = 0; i < nf; i++)
		free(floors[i].base);
	urt_arena_deinit(&arena);
	urt_pool_deinit(&pool);
	urt_sizeclass_deinit(&sc);
	return 0;
}
