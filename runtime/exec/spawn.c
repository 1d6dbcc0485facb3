/* SPDX-License-Identifier: MIT */
/*
 * spawn.c - making tasks: the registry, per-type stats, boxed and slab
 * spawns, claims.
 *
 * The registry (rt->reg) lists every task not reclaimed, so deinit can reach
 * parked tasks that nothing else points to; t->reg is the task's index and
 * removal swaps the last entry in (O(1)). One exception: a task in a urt
 * slab's slot, spawned without a join handle, enters it at the end of its
 * first turn, and only if it is still there then (task.c, task_turn);
 * until then it is on the run queue, where the teardown looks for it, and
 * t->reg is URT__REG_NONE. Its room is there all along (reg_cover, below),
 * so entering never allocates; most such tasks finish in that first poll
 * and never touch the registry at all. It grows by doubling and is
 * reserved before a task's memory is taken, so a spawn that fails leaves
 * nothing behind. A claim holds one registry entry until it is spawned or
 * released. It always has an entry for every slot of every urt slab bound
 * to the runtime, vacant or not: it grows when such a slab is bound or
 * grows, so urt_try_claim_slab, which must not allocate, finds an entry
 * for every vacant slot (8 bytes a slot; docs/design.md, "The registry").
 *
 * Slab tasks record which slab binding (urt/slab_table.h: the slab and the
 * table of functions that manage it, installed per thread) they came from
 * in three flag bits: the free path uses that binding, not whatever is
 * installed at free time. A slot freed through another binding than the
 * one it came from would corrupt both slabs; this is the one rule the
 * thread-local tables must never break.
 *
 * Every spawn is refused with -ESHUTDOWN while deinit runs (a drop that
 * spawns would otherwise create a task that never runs). A claim is the
 * exception: its state is built already and only its type's drop knows
 * how to release it, so urt_claim_spawn takes it and the teardown ends it
 * aborted at once (its drop runs; counted aborted, never polled).
 */
#include "exec_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define HDR	  sizeof(struct urt_task)
#define MIN_STATE URT__MIN_STATE

/* --- registry ------------------------------------------------------------ */

/*
 * Entries the registry must have. A task or claim in a slot of a urt slab
 * is covered by that slab's capacity (reg_cover: every slot of every urt
 * slab bound to the runtime, vacant or not), so a vacant slot always has
 * its entry waiting and urt_try_claim_slab never finds the registry full
 * while the slab has room. Every other entry (boxed, remote, a custom slab
 * table's: nloose of them) counts one. Counting those, not the ones in urt
 * slabs, keeps the counter off the slab task's spawn and reclaim.
 */
static inline uint64_t reg_need(const struct urt_runtime *rt)
{
	return (uint64_t)rt->nloose + rt->reg_cover;
}

int urt__reg_reserve(struct urt_runtime *rt, uint32_t more)
{
	uint64_t need = reg_need(rt) + more;
	struct urt_task **reg;
	uint32_t cap;

	if (need <= rt->reg_cap)
		return 0;
	if (need > UINT32_MAX / 2)
		return -ENOMEM;
	cap = rt->reg_cap ? rt->reg_cap : 256;
	while (cap < need)
		cap *= 2;
	reg = rt->al.alloc(rt->al.ctx, (size_t)cap * URT__REGENT, _Alignof(void *));
	if (!reg)
		return -ENOMEM;
	if (rt->nreg)
		memcpy(reg, rt->reg, rt->nreg * URT__REGENT);
	if (rt->reg)
		rt->al.free(rt->al.ctx, rt->reg, (size_t)rt->reg_cap * URT__REGENT,
			    _Alignof(void *));
	rt->reg = reg;
	rt->reg_cap = cap;
	return 0;
}

/* Room for one more entry not in a urt slab's slot: a compare, unless it must grow. */
static inline int reg_room(struct urt_runtime *rt)
{
	if (__builtin_expect(reg_need(rt) < rt->reg_cap, 1))
		return 0;
	return urt__reg_reserve(rt, 1);
}

static inline uint32_t slab_cap(const struct urt_slab *s, uint32_t chunks)
{
	uint64_t n = (uint64_t)chunks * s->chunk_slots;

	/* 8 bindings at most: reg_cover stays below UINT32_MAX / 2 */
	return n > UINT32_MAX / 16 ? UINT32_MAX / 16 : (uint32_t)n;
}

/*
 * Cover the slots of a urt slab's chunks the registry does not cover yet:
 * the slab was just bound, or it grew. Growth allocates only where alloc
 * says it may (a spawn, urt_claim_slab, binding a slab); the try path
 * passes false and, for a slab grown outside the runtime, covers it only
 * if the registry already has the room (else -ENOSPC, nothing changed).
 * Every path that puts a task or claim in a urt slab calls this when the
 * slab grew, so those entries never outnumber the slots covered.
 */
static int reg_cover(struct urt_runtime *rt, struct urt_binding *bd, bool alloc)
{
	const struct urt_slab *s = bd->b.slab;
	uint32_t was = slab_cap(s, bd->chunks), now = slab_cap(s, s->nchunks);
	int ret;

	rt->reg_cover += now - was;
	if (alloc)
		ret = urt__reg_reserve(rt, 0);
	else
		ret = reg_need(rt) <= rt->reg_cap ? 0 : -ENOSPC;
	if (ret) {
		rt->reg_cover -= now - was;
		return ret;
	}
	bd->chunks = s->nchunks;
	return 0;
}

/* True if the urt slab of bd grew since the registry last covered it. */
static inline bool slab_grew(const struct urt_binding *bd)
{
	return bd->urt &&
	       URT_UNLIKELY(((const struct urt_slab *)bd->b.slab)->nchunks != bd->chunks);
}

/* --- per-type stats: open addressing on the type pointer; 0 = overflow ---- */

/* The first entry to probe: 6 bits of a Fibonacci hash (64 entries). */
static inline unsigned type_hash(const struct urt_task_type *type)
{
	return (unsigned)(((uintptr_t)type * 0x9e3779b97f4a7c15ull) >> 58);
}

static __attribute__((noinline)) uint16_t type_slot_slow(struct urt_runtime *rt,
							 const struct urt_task_type *type)
{
	unsigned h = type_hash(type);

	for (unsigned i = 0; i < URT_TYPE_STATS; i++, h = (h + 1) % URT_TYPE_STATS) {
		struct urt_type_stats *e = &rt->types[h].st;

		if (h == 0)
			continue;
		if (e->type == type)
			return (uint16_t)h;
		if (!e->type) {
			e->type = type;
			return (uint16_t)h;
		}
	}
	return 0;
}

static inline uint16_t type_slot(struct urt_runtime *rt, const struct urt_task_type *type)
{
	if (__builtin_expect(type != rt->last_type, 0)) {
		rt->last_type_idx = type_slot_slow(rt, type);
		rt->last_type = type;
	}
	return rt->last_type_idx;
}

/*
 * Type h's counters as the API reports them: quiet ends are polls and
 * completions; the inline spawns not yet moved (rt->fast_spawned) are
 * spawns of fast_hdr's type.
 */
static void type_stats_out(const struct urt_runtime *rt, unsigned h, struct urt_type_stats *out)
{
	const struct urt_type_count *c = &rt->types[h];

	*out = c->st;
	if (h == rt->fast_hdr.type_idx)
		out->spawned += rt->fast_spawned;
	out->completed += c->quiet;
	out->polls += c->quiet;
}

int urt_type_stats(const struct urt_runtime *rt, const struct urt_task_type *type,
		   struct urt_type_stats *out)
{
	unsigned h;

	if (!type) { /* the overflow entry: types past the table's room */
		type_stats_out(rt, 0, out);
		return 0;
	}
	h = type_hash(type);
	for (unsigned i = 0; i < URT_TYPE_STATS; i++, h = (h + 1) % URT_TYPE_STATS) {
		if (h == 0)
			continue;
		if (rt->types[h].st.type == type) {
			type_stats_out(rt, h, out);
			return 0;
		}
		if (!rt->types[h].st.type)
			break;
	}
	return -ENOENT;
}

/* --- debug frame check ----------------------------------------------------- */

void urt__frame_check(struct urt_runtime *rt, struct urt_task *t, const char *what)
{
#ifdef URT_DEBUG
	const unsigned char *s = urt_task_state(t);

	for (uint32_t off = 0; off + sizeof(void *) <= t->state_size; off += sizeof(void *)) {
		/* a relaxed load: a word of the state may be another thread's to
		 * write while the task waits (a blocking job's queue link) */
		void *p = __atomic_load_n((void *const *)(const void *)(s + off), __ATOMIC_RELAXED);

		if (!urt_arena_contains(&rt->frame, p))
			continue;
		rt->stats.frame_reports++;
		if (rt->debug_hook) {
			char msg[160];

			snprintf(msg, sizeof(msg), "urt: %s: task '%s' state offset %u", what,
				 urt_task_name(t), off);
			rt->debug_hook(rt->debug_ctx, msg);
		}
		return; /* one report per check */
	}
#else
	(void)rt, (void)t, (void)what;
#endif
}

/* --- spawn ----------------------------------------------------------------- */

/* The flags a task of this type starts with besides QUEUED and its memory's. */
static inline uint16_t type_flags(const struct urt_task_type *type)
{
	return type->drop ? URT_TASK_DROP : 0;
}

/*
 * lazy: a task in a urt slab's slot, whose registry entry waits until its
 * first turn (see "registry" above); a task with a join handle registers
 * now all the same, as the handle can reach it before it runs.
 */
static inline __attribute__((always_inline)) void
task_start(struct urt_runtime *rt, struct urt_task *t, const struct urt_task_type *type,
	   uint16_t type_idx, uint32_t size, uint16_t flags, uint32_t chunk, bool lazy,
	   struct urt_join *join)
{
	*t = (struct urt_task){
		.type = type,
		.state_size = size,
		.chunk = chunk,
		.reg = URT__REG_NONE,
		.flags = (uint16_t)(flags | URT_TASK_QUEUED),
		.type_idx = type_idx,
	};
	if (!lazy)
		urt__reg_add(rt, t);
	rt->active++;
	rt->types[t->type_idx].st.spawned++;
	urt__runq_append(rt, t);
	if (join) {
		join->task = t;
		t->flags |= URT_TASK_HANDLE;
		if (lazy)
			urt__reg_add(rt, t);
	}
	urt__frame_check(rt, t, "frame data captured by a spawned task");
}

void urt__task_start(struct urt_runtime *rt, struct urt_task *t, const struct urt_task_type *type,
		     uint32_t size, uint16_t flags, struct urt_join *join)
{
	rt->nloose++;
	task_start(rt, t, type, type_slot(rt, type), size, flags | type_flags(type), 0, false,
		   join);
}

/*
 * Copy a spawn's state. Most states are a few words: move them inline
 * rather than pay a call into the C library's memcpy.
 */
static inline void state_copy(void *dst, const void *src, size_t size)
{
	switch (size) { /* fixed sizes compile to plain moves */
	case 0:
		return;
	case 8:
		memcpy(dst, src, 8);
		return;
	case 16:
		memcpy(dst, src, 16);
		return;
	case 24:
		memcpy(dst, src, 24);
		return;
	case 32:
		memcpy(dst, src, 32);
		return;
	default:
		memcpy(dst, src, size);
	}
}

static inline int check_type(const struct urt_task_type *type, const void *state, size_t size)
{
	if (__builtin_expect(!type || (!state && size) || size > UINT32_MAX - HDR || !type->poll,
			     0))
		return -EINVAL;
	return 0;
}

int urt_spawn(struct urt_runtime *rt, const struct urt_task_type *type, const void *state,
	      size_t size, struct urt_join *join)
{
	struct urt_task *t;
	int ret;

	if (!urt__rt)
		return -ESRCH;
	if (rt != urt__rt)
		return -EXDEV;
	if (URT_UNLIKELY(rt->closing))
		return -ESHUTDOWN;
	ret = check_type(type, state, size);
	if (ret)
		return ret;
	ret = reg_room(rt);
	if (ret)
		return ret;
	t = rt->al.alloc(rt->al.ctx, urt__box_size((uint32_t)size), 16);
	if (!t)
		return -ENOMEM;
	state_copy(t + 1, state, size);
	rt->nloose++;
	rt->stats.spawned_boxed++;
	task_start(rt, t, type, type_slot(rt, type), (uint32_t)size, type_flags(type), 0, false,
		   join);
	return 0;
}

/*
 * The index in rt->bindings of this thread's slab binding, adding it the
 * first time it is seen. The last one used is checked first: two compares.
 * Return: the index; -ENODEV if nothing is installed; -ETOOMANYREFS past 8
 * distinct bindings in the runtime's life;
 * -ENOMEM if the registry cannot grow to cover a new urt slab.
 */
static int binding_slow(struct urt_runtime *rt, struct urt_slab_binding tls)
{
	unsigned i;

	if (tls.table == &urt_slab_table_none)
		return -ENODEV;
	for (i = 0; i < rt->nbindings; i++)
		if (rt->bindings[i].b.table == tls.table && rt->bindings[i].b.slab == tls.slab)
			break;
	if (i == rt->nbindings) {
		if (i == sizeof(rt->bindings) / sizeof(rt->bindings[0]))
			return -ETOOMANYREFS;
		rt->bindings[i] = (struct urt_binding){
			.b = tls,
			.slot_size = tls.table->slot_size(tls.slab),
			.urt = tls.table == &urt_slab_table_urt,
		};
		rt->bindings[i].fast = rt->bindings[i].urt &&
				       rt->bindings[i].slot_size >= HDR + URT__FAST_STATE - 8;
		if (rt->bindings[i].urt)
			rt->bindings[i].gen = ((struct urt_slab *)tls.slab)->gen;
		/* binding a urt slab sizes the registry for its slots */
		if (rt->bindings[i].urt && reg_cover(rt, &rt->bindings[i], true))
			return -ENOMEM;
		rt->nbindings++;
	}
	rt->bcur = i;
	return (int)i;
}

int urt__reg_bind(struct urt_runtime *rt, struct urt_slab_binding b)
{
	int idx = binding_slow(rt, b);

	return idx < 0 ? idx : 0;
}

/*
 * A urt slab bound here is still the slab it was bound as. A binding is
 * keyed by the slab's address and kept for the runtime's life, so a slab
 * deinit and initialised again there (other slots, fewer chunks) would be
 * taken for the old one, its slot size and registry cover included: its
 * init generation tells them apart (urt_spawn_slab's inline case compares
 * it too, in urt__slab_shape).
 * Return: 0; -ESTALE (debug builds stop first) for such a slab.
 */
static inline int binding_check(const struct urt_binding *bd)
{
	if (__builtin_expect(!bd->urt || ((const struct urt_slab *)bd->b.slab)->gen == bd->gen, 1))
		return 0;
	URT_ASSERT(false, "a slab re-initialised while bound to this runtime (deinit and init at "
			  "its address before urt_runtime_deinit)");
	return -ESTALE;
}

static inline int binding_current(struct urt_runtime *rt)
{
	struct urt_slab_binding tls = urt__slab_tls;
	struct urt_binding *c = &rt->bindings[rt->bcur];
	int idx, ret;

	if (__builtin_expect(c->b.table == tls.table && c->b.slab == tls.slab && rt->nbindings, 1))
		idx = (int)rt->bcur;
	else
		idx = binding_slow(rt, tls);
	if (idx >= 0 && (ret = binding_check(&rt->bindings[idx])))
		return ret;
	return idx;
}

/* Take a slot of binding idx: committed (alloc) or only claimed. */
static inline __attribute__((always_inline)) int
slot_take(struct urt_binding *bd, struct urt_slot *slot, bool claim, bool try)
{
	int ret;

	if (bd->urt) {
		if (claim)
			return try ? urt_slab_try_claim(bd->b.slab, slot)
				   : urt_slab_claim(bd->b.slab, slot);
		return urt_slab_alloc(bd->b.slab, slot);
	}
	ret = try ? bd->b.table->try_claim(bd->b.slab, slot) : bd->b.table->claim(bd->b.slab, slot);
	if (!ret && !claim)
		bd->b.table->commit(bd->b.slab, slot);
	return ret;
}

/*
 * Registry room before taking a slot of bd: a urt slab's slots have their
 * entries already (unless it grew outside the runtime: cover that first);
 * a custom table's task takes one like a boxed one. try: never allocate.
 */
static inline int slab_room(struct urt_runtime *rt, struct urt_binding *bd, bool try)
{
	if (bd->urt)
		return slab_grew(bd) ? reg_cover(rt, bd, !try) : 0;
	if (!try)
		return reg_room(rt);
	return reg_need(rt) < rt->reg_cap ? 0 : -ENOSPC;
}

static uint16_t slab_flags(unsigned binding)
{
	return (uint16_t)(URT_TASK_SLAB | (binding << URT_TASK_BINDING_SHIFT));
}

/*
 * Keep what urt_spawn_slab's inline case needs after a spawn through
 * binding b (urt__spawn_slab): the type, its stats slot and the task's
 * flags, and the binding as far as it qualifies (a urt slab with room for
 * seven words of state). Stale chunks only miss: both counts only grow,
 * and the binding's never passes the slab's.
 */
static void fast_keep(struct urt_runtime *rt, unsigned b, const struct urt_task_type *type,
		      uint16_t type_idx, uint16_t flags)
{
	struct urt_binding *bd = &rt->bindings[b];

	/* the inline spawns so far were of the old type: count them there */
	rt->stats.spawned_slab += rt->fast_spawned;
	rt->types[rt->fast_hdr.type_idx].st.spawned += rt->fast_spawned;
	rt->fast_spawned = 0;
	if (!bd->fast) {
		rt->fast_table = NULL;
		return;
	}
	rt->fast_hdr = (struct urt_task){
		.type = type,
		.reg = URT__REG_NONE,
		.flags = (uint16_t)(flags | URT_TASK_QUEUED),
		.type_idx = type_idx,
	};
	rt->fast_table = bd->b.table;
	rt->fast_slab = bd->b.slab;
	rt->fast_shape = (uint64_t)bd->gen << 32 | bd->chunks;
}

/*
 * urt_spawn_slab's every case but its inline one (urt/runtime.h): errors,
 * bindings, growth, custom tables, join handles, the first spawn of a type.
 */
int urt__spawn_slab(const struct urt_task_type *type, const void *state, size_t size,
		    struct urt_join *join)
{
	struct urt_runtime *rt = urt__rt;
	struct urt_binding *bd;
	struct urt_slot slot;
	int idx, ret;
	uint16_t tidx, flags;

	if (!rt)
		return -ESRCH;
	if (URT_UNLIKELY(rt->closing))
		return -ESHUTDOWN;
	ret = check_type(type, state, size);
	if (ret)
		return ret;
	idx = binding_current(rt);
	if (idx < 0)
		return idx;
	bd = &rt->bindings[idx];
	if (HDR + (size < MIN_STATE ? MIN_STATE : size) > bd->slot_size)
		return -EMSGSIZE;
	ret = slab_room(rt, bd, false);
	if (!ret)
		ret = slot_take(bd, &slot, false, false);
	if (ret)
		return ret;
	if (slab_grew(bd) && (ret = reg_cover(rt, bd, true))) {
		urt_slab_free(bd->b.slab, slot.ptr, slot.chunk);
		return ret;
	}
	rt->nloose += !bd->urt;
	state_copy((struct urt_task *)slot.ptr + 1, state, size);
	rt->stats.spawned_slab++;
	tidx = type_slot(rt, type);
	flags = slab_flags((unsigned)idx) | type_flags(type);
	task_start(rt, slot.ptr, type, tidx, (uint32_t)size, flags, slot.chunk, bd->urt, join);
	fast_keep(rt, (unsigned)idx, type, tidx, flags);
	return 0;
}

static int claim(struct urt_claim *c, bool try)
{
	struct urt_runtime *rt = urt__rt;
	struct urt_binding *bd;
	struct urt_slot slot;
	int idx, ret;

	if (!rt)
		return -ESRCH;
	if (URT_UNLIKELY(rt->closing))
		return -ESHUTDOWN;
	idx = binding_current(rt);
	if (idx < 0)
		return idx;
	/* a slot must hold the header and the 8-byte output that replaces the
	 * state when the task finishes */
	if (rt->bindings[idx].slot_size < HDR + MIN_STATE)
		return -EMSGSIZE;
	/* A claim holds a registry entry, so urt_claim_spawn cannot fail for
	 * room; a vacant slot of a urt slab always has one (slab_room). */
	bd = &rt->bindings[idx];
	ret = slab_room(rt, bd, try);
	if (!ret)
		ret = slot_take(bd, &slot, true, try);
	if (ret)
		return ret;
	if (slab_grew(bd) && (ret = reg_cover(rt, bd, true))) {
		urt_slab_release(bd->b.slab, &slot);
		return ret;
	}
	rt->nloose += !bd->urt;
	rt->nclaims++;
	bd->claims++;
	c->task = slot.ptr;
	c->chunk = slot.chunk;
	c->binding = (uint16_t)idx;
#ifdef URT_DEBUG
	/* stale bytes of an earlier task must not trip the frame check */
	memset(c->task + 1, 0, urt_claim_capacity(c));
#endif
	return 0;
}

int urt_claim_slab(struct urt_claim *c)
{
	return claim(c, false);
}

int urt_try_claim_slab(struct urt_claim *c)
{
	return claim(c, true);
}

size_t urt_claim_capacity(const struct urt_claim *c)
{
	return urt__rt->bindings[c->binding].slot_size - HDR;
}

int urt_claim_spawn(struct urt_claim *c, const struct urt_task_type *type, struct urt_join *join)
{
	struct urt_runtime *rt = urt__rt;
	struct urt_binding *bd = &rt->bindings[c->binding];
	struct urt_slot slot = { c->task, c->chunk };

	if (!type || !type->poll)
		return -EINVAL;
	if (bd->urt)
		urt_slab_commit(bd->b.slab, &slot);
	else
		bd->b.table->commit(bd->b.slab, &slot);
	rt->nclaims--; /* urt__task_start takes the held registry entry */
	bd->claims--;
	rt->stats.spawned_claim++;
	/* in deinit (a drop spawning its claim) the teardown must find it now */
	task_start(rt, c->task, type, type_slot(rt, type), (uint32_t)(bd->slot_size - HDR),
		   slab_flags(c->binding) | type_flags(type), c->chunk, bd->urt && !rt->closing,
		   join);
	/* and it ends aborted, never polled: counted so, never as completed */
	if (URT_UNLIKELY(rt->closing))
		c->task->flags |= URT_TASK_ABORTING;
	c->task = NULL;
	return 0;
}

void urt_claim_release(struct urt_claim *c)
{
	struct urt_runtime *rt = urt__rt;
	struct urt_binding *bd = &rt->bindings[c->binding];
	struct urt_slot slot = { c->task, c->chunk };

	if (bd->urt)
		urt_slab_release(bd->b.slab, &slot);
	else
		bd->b.table->release(bd->b.slab, &slot);
	rt->nclaims--;
	bd->claims--;
	rt->nloose -= !bd->urt;
	c->task = NULL;
	urt__slot_check(rt);
}

/* --- waiting for a slot ---------------------------------------------------
 *
 * urt_claim_slab_wait parks on urt__slotq.waiting when the slab is full. A
 * slot going back (a reclaim, a released claim) hands the longest waiter's
 * registration to `given` and queues it: one slot, one task woken, in
 * order. Its next evaluation finds the registration, claims, and has the
 * slot unless a claim that does not wait (a spawn, a try_claim) took it
 * first: then it parks again, first in line. After a handed claim the
 * next waiter is handed a try too, once no other handed task is still to
 * try (two slots may have gone back while one task was in line), so a
 * vacant slot never sits beside a waiter; one try at a time keeps the
 * order when the try fails. A task
 * handed a slot that ends
 * or moves on without claiming passes it to the next waiter (slot_lost).
 * While anyone waits, a new waiter parks behind them instead of claiming,
 * so waiters never overtake each other.
 */

__thread struct urt__slotq urt__slotq __attribute__((tls_model("initial-exec")));

static void slot_lost(struct urt_waitq *given)
{
	(void)given;
	urt__slot_freed(urt__rt);
}

void urt__slot_freed(struct urt_runtime *rt)
{
	if (!rt->closing)
		urt__waitq_hand(&urt__slotq.waiting, &urt__slotq.given, slot_lost);
}

int urt_claim_slab_wait(struct urt_task *self, struct urt_claim *c)
{
	struct urt_runtime *rt = urt__rt;
	bool given;
	int ret;

	if (!rt)
		return -ESRCH;
	given = urt__waitq_take(&urt__slotq.given, self);
	if (!given && (urt__slotq.waiting.head || urt__slotq.given.head)) {
		/* others are in line: behind them */
		ret = urt__waitq_park(&urt__slotq.waiting, self);
		return ret ? ret : URT_PENDING;
	}
	ret = claim(c, false);
	if (ret == -ENOSPC) {
		/* a claim that does not wait took it first: still first in line */
		ret = urt__waitq_park_at(&urt__slotq.waiting, self, given);
		return ret ? ret : URT_PENDING;
	}
	/* the next in line tries too (after the others handed a slot): more
	 * than one slot may be vacant */
	if (given && !ret && !urt__slotq.given.head)
		urt__slot_freed(rt);
	return ret;
}
