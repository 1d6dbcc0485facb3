/* SPDX-License-Identifier: MIT */
/*
 * timer.c - sleeps and backoffs: a hashed timing wheel in user space.
 *
 * Time is cut into ticks of 2^URT__WHEEL_SHIFT ns (about 2.1 ms); tick t
 * hashes to slot t % URT__WHEEL_SLOTS (512 slots, a lap of about 1.07 s).
 * A timer lives in one of two places, decided by its tick alone:
 *
 *   tick <  tnext:  in the run, an array sorted on deadline (equal
 *                   deadlines in arming order), popped from its head;
 *   tick >= tnext:  in its slot, in chunks of URT__TCHUNK_ENTS entries
 *                   linked head to tail in arming order.
 *
 * Invariants: n = (nrun - head) + nslot; run[head..nsorted) is sorted and
 * every entry of run[nsorted..nrun) (the tail: armed since the last
 * normalisation, tick < tnext) was armed after every sorted one; nslot
 * counts live slot entries (a cancelled one is a tombstone, idx 0), and
 * each slot's live + dead = the entries filled in its chunks.
 *
 * Arming at tick >= tnext appends to the slot's last chunk: no search, no
 * record but its own touched; its handle (chunk << 4 | position) goes in
 * the record (tm.hpos). Cancelling such a timer marks its entry dead; the
 * slot drops it when it is next visited (lazy cancel), or at once if it
 * ends the slot's last chunk. A load visits slots only while one holds a
 * live entry, so when none does and SWEEP_MIN chunks are held, every slot
 * is swept; and a slot that would take a new chunk while at least half its
 * entries are dead is compacted instead (slot_extend: live entries moved
 * to its front in order, their handles with them). So arming and
 * cancelling request deadlines that never fire, other timers live or not,
 * keeps the wheel's memory bounded by its live timers: a slot holds at
 * most twice its live entries and two chunks. A timer far ahead
 * (more than a lap) is stored with its absolute deadline in its slot and
 * skipped by every visit until its own tick comes (laps).
 *
 * Loading: when the run is empty and a deadline is asked for (the loop's
 * wait timeout, or firing), the slots are visited from tnext on until a
 * tick with live entries is found; those move to the run and are sorted
 * (a stable radix sort on the deadline), and tnext passes that tick. A
 * full lap without one means every timer is laps ahead: one pass finds the
 * smallest tick and tnext jumps there. Arming at tick < tnext (a short
 * sleep after a load ran ahead, a deadline in the past) appends to the
 * run's tail, sorted and merged at the next look at the head, so a burst
 * of such timers costs one sort, not one insertion each. A load that ran
 * far ahead (the nearest timer 60 s out) is undone by the first nearer
 * arrival: the run's entries past it go back to their slots and tnext
 * comes down (run_unload), or every later arm would land in the run, whose
 * cancel is O(n).
 *
 * The nearest deadline is the run's head, exact: never early (cancelling
 * the head removes it at once), never late. Equal deadlines fire in arming
 * order: a slot keeps arming order, the sort is stable, and the tail comes
 * after the sorted part on ties.
 *
 * Memory: the run and its scratch (for the sort and the merge) have room
 * for every armed timer plus one, and a free chunk is kept in hand, both
 * made by urt__timer_reserve; so an add never fails after a reserve, and
 * loading and firing never allocate.
 *
 * No kernel object backs a timer: the wait in urt_tick carries the nearest
 * deadline as its timeout, and due timers fire after the completions.
 * docs/design.md (Timers) records the heap this replaced and the
 * hierarchical wheel that lost to it.
 */
#include "io_internal.h"

#include <errno.h>
#include <string.h>

#define SHIFT	   URT__WHEEL_SHIFT
#define NSLOT	   URT__WHEEL_SLOTS
#define CHUNK_PAGE 64 /* chunks a page (16 KiB) */
#define SWEEP_MIN  64 /* chunks of tombstones that make a sweep worth it */

struct urt__tslot {
	uint32_t head, tail; /* chunk indices; 0: none */
	uint32_t live;	     /* live entries in its chunks */
	uint32_t dead;	     /* tombstones in its chunks (entries filled = live + dead) */
};

struct urt__tchunk {
	uint32_t next; /* the slot's next chunk, or the free list's; 0: none */
	uint32_t n;    /* entries filled (tombstones included) */
	uint64_t spare;
	struct urt__tent e[URT__TCHUNK_ENTS];
};
_Static_assert(sizeof(struct urt__tchunk) == 256, "a chunk is 256 bytes");
_Static_assert(URT__TCHUNK_ENTS < 16, "a handle keeps the position in 4 bits");

static inline struct urt__tchunk *chunk_at(struct urt_runtime *rt, uint32_t c)
{
	return &rt->timers.pages[c / CHUNK_PAGE][c % CHUNK_PAGE];
}

static inline uint64_t tick_of(uint64_t deadline)
{
	return deadline >> SHIFT;
}

/* --- memory ------------------------------------------------------------- */

static int chunk_carve(struct urt_runtime *rt)
{
	uint32_t c = rt->timers.made;

	if (c / CHUNK_PAGE >= rt->timers.npages) {
		if (rt->timers.npages == rt->timers.pages_cap &&
		    urt__pages_grow(rt, &rt->timers.pages, &rt->timers.pages_cap,
				    rt->timers.npages))
			return -ENOMEM;
		rt->timers.pages[rt->timers.npages] =
			rt->al.alloc(rt->al.ctx, CHUNK_PAGE * sizeof(struct urt__tchunk), 64);
		if (!rt->timers.pages[rt->timers.npages])
			return -ENOMEM;
		rt->timers.npages++;
	}
	rt->timers.made++;
	chunk_at(rt, c)->next = rt->timers.cfree;
	rt->timers.cfree = c;
	return 0;
}

static void chunk_put(struct urt_runtime *rt, uint32_t c)
{
	chunk_at(rt, c)->next = rt->timers.cfree;
	rt->timers.cfree = c;
}

/* The run and its scratch: room for cap entries each, in one block. */
static int run_grow(struct urt_runtime *rt, uint32_t cap)
{
	struct urt__tent *v = rt->al.alloc(rt->al.ctx, 2 * (size_t)cap * sizeof(*v), 16);
	uint32_t live = rt->timers.nrun - rt->timers.head;

	if (!v)
		return -ENOMEM;
	if (live)
		memcpy(v, rt->timers.run + rt->timers.head, live * sizeof(*v));
	if (rt->timers.run)
		rt->al.free(rt->al.ctx, rt->timers.mem, 2 * (size_t)rt->timers.cap * sizeof(*v),
			    16);
	rt->timers.nsorted -= rt->timers.head;
	rt->timers.nrun = live;
	rt->timers.head = 0;
	rt->timers.mem = rt->timers.run = v;
	rt->timers.tmp = v + cap;
	rt->timers.cap = cap;
	return 0;
}

int urt__timer_reserve(struct urt_runtime *rt)
{
	int ret;

	if (URT_UNLIKELY(!rt->timers.slot)) {
		rt->timers.slot = rt->al.alloc(rt->al.ctx, NSLOT * sizeof(struct urt__tslot), 64);
		if (!rt->timers.slot)
			return -ENOMEM;
		memset(rt->timers.slot, 0, NSLOT * sizeof(struct urt__tslot));
		rt->timers.made = 1; /* chunk 0 is "none" */
	}
	if (URT_UNLIKELY(rt->timers.n + 1 > rt->timers.cap) &&
	    (ret = run_grow(rt, rt->timers.cap ? rt->timers.cap * 2 : 256)))
		return ret;
	if (URT_UNLIKELY(!rt->timers.cfree) && (ret = chunk_carve(rt)))
		return ret;
	return 0;
}

void urt__timers_deinit(struct urt_runtime *rt)
{
	for (uint32_t i = 0; i < rt->timers.npages; i++)
		rt->al.free(rt->al.ctx, rt->timers.pages[i],
			    CHUNK_PAGE * sizeof(struct urt__tchunk), 64);
	if (rt->timers.pages)
		rt->al.free(rt->al.ctx, rt->timers.pages, rt->timers.pages_cap * sizeof(void *),
			    _Alignof(void *));
	if (rt->timers.slot)
		rt->al.free(rt->al.ctx, rt->timers.slot, NSLOT * sizeof(struct urt__tslot), 64);
	if (rt->timers.mem)
		rt->al.free(rt->al.ctx, rt->timers.mem,
			    2 * (size_t)rt->timers.cap * sizeof(struct urt__tent), 16);
	memset(&rt->timers, 0, sizeof(rt->timers));
}

/* --- the run -------------------------------------------------------------- */

/*
 * Sort v[0..n) on deadline, stably; tmp has room for n. A radix sort on
 * the deadline's offset from the smallest, 11 bits a pass, as many passes
 * as the spread needs (two within one tick). Return: where the result is
 * (v or tmp).
 */
static struct urt__tent *sort_stable(struct urt__tent *v, struct urt__tent *tmp, uint32_t n)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	if (n < 32) {
		for (uint32_t i = 1; i < n; i++) {
			struct urt__tent e = v[i];
			uint32_t j = i;

			for (; j && v[j - 1].deadline > e.deadline; j--)
				v[j] = v[j - 1];
			v[j] = e;
		}
		return v;
	}
	for (uint32_t i = 0; i < n; i++) {
		lo = v[i].deadline < lo ? v[i].deadline : lo;
		hi = v[i].deadline > hi ? v[i].deadline : hi;
	}
	for (unsigned shift = 0; shift < 64 && (hi - lo) >> shift; shift += 11) {
		uint32_t cnt[2048] = { 0 }, sum = 0;
		struct urt__tent *t;

		for (uint32_t i = 0; i < n; i++)
			cnt[((v[i].deadline - lo) >> shift) & 2047]++;
		for (uint32_t d = 0; d < 2048; d++) {
			uint32_t c = cnt[d];

			cnt[d] = sum;
			sum += c;
		}
		for (uint32_t i = 0; i < n; i++)
			tmp[cnt[((v[i].deadline - lo) >> shift) & 2047]++] = v[i];
		t = v, v = tmp, tmp = t;
	}
	return v;
}

/*
 * Sort the run's tail and merge it behind the sorted part (ties: sorted
 * part first, it was armed earlier). Merged from the back, the tail in
 * scratch, so nothing is overwritten before it is read.
 */
static void run_normalise(struct urt_runtime *rt)
{
	struct urt__tent *run = rt->timers.run, *t;
	uint32_t s0 = rt->timers.head, s = rt->timers.nsorted, nt = rt->timers.nrun - s;
	uint32_t w = rt->timers.nrun;

	t = sort_stable(run + s, rt->timers.tmp, nt);
	rt->timers.nsorted = rt->timers.nrun;
	if (s == s0 || run[s - 1].deadline <= t[0].deadline) { /* appended in order */
		if (t != run + s)
			memcpy(run + s, t, nt * sizeof(*t));
		return;
	}
	if (t == run + s) {
		memcpy(rt->timers.tmp, t, nt * sizeof(*t));
		t = rt->timers.tmp;
	}
	while (nt) {
		if (s > s0 && run[s - 1].deadline > t[nt - 1].deadline)
			run[--w] = run[--s];
		else
			run[--w] = t[--nt];
	}
}

static void run_append(struct urt_runtime *rt, struct urt__tent e)
{
	if (rt->timers.nrun == rt->timers.cap) { /* room: cap > n (reserve) */
		uint32_t h = rt->timers.head;

		memmove(rt->timers.run, rt->timers.run + h,
			(rt->timers.nrun - h) * sizeof(struct urt__tent));
		rt->timers.nrun -= h;
		rt->timers.nsorted -= h;
		rt->timers.head = 0;
	}
	rt->timers.run[rt->timers.nrun++] = e;
}

static void run_remove(struct urt_runtime *rt, struct urt__rec *r)
{
	struct urt__tent *run = rt->timers.run;
	uint32_t lo = rt->timers.head, hi = rt->timers.nsorted, i;

	while (lo < hi) { /* the first sorted entry at r's deadline */
		uint32_t mid = lo + (hi - lo) / 2;

		if (run[mid].deadline < r->tm.deadline)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < rt->timers.nsorted && run[i].deadline == r->tm.deadline; i++)
		if (urt__rec_at(rt, run[i].idx) == r)
			break;
	if (i == rt->timers.nsorted || run[i].deadline != r->tm.deadline)
		for (i = rt->timers.nsorted; i < rt->timers.nrun; i++)
			if (urt__rec_at(rt, run[i].idx) == r)
				break;
	URT_ASSERT(i < rt->timers.nrun, "timer not in the run");
	if (i == rt->timers.head && i < rt->timers.nsorted) {
		rt->timers.head++;
	} else { /* the sorted part's middle or end, or the tail */
		memmove(run + i, run + i + 1, (rt->timers.nrun - i - 1) * sizeof(*run));
		rt->timers.nrun--;
		if (i < rt->timers.nsorted)
			rt->timers.nsorted--;
	}
	if (rt->timers.head == rt->timers.nrun)
		rt->timers.head = rt->timers.nrun = rt->timers.nsorted = 0;
}

/* --- the slots ------------------------------------------------------------ */

/*
 * Visit the slot of tick t (every live entry there has tick t, or laps
 * ahead): move tick t's entries to the run (unsorted), drop tombstones,
 * free chunks left with nothing live. Return: entries moved.
 */
static uint32_t slot_take(struct urt_runtime *rt, uint64_t t)
{
	struct urt__tslot *sl = &rt->timers.slot[t % NSLOT];
	uint32_t c = sl->head, prev = 0, moved = 0;

	sl->live = sl->dead = 0; /* recounted over the chunks kept */
	while (c) {
		struct urt__tchunk *ch = chunk_at(rt, c);
		uint32_t next = ch->next, kept = 0;

		for (uint32_t i = 0; i < ch->n; i++) {
			if (!ch->e[i].idx)
				continue;
			if (tick_of(ch->e[i].deadline) <= t) {
				rt->timers.run[rt->timers.nrun++] = ch->e[i];
				ch->e[i].idx = 0;
				moved++;
			} else {
				kept++;
			}
		}
		if (kept) {
			prev = c;
			sl->live += kept;
			sl->dead += ch->n - kept;
		} else {
			if (prev)
				chunk_at(rt, prev)->next = next;
			else
				sl->head = next;
			if (sl->tail == c)
				sl->tail = prev;
			chunk_put(rt, c);
			rt->timers.held--;
		}
		c = next;
	}
	rt->timers.nslot -= moved;
	return moved;
}

/* Every live slot entry is laps ahead of tnext: the smallest tick. */
static uint64_t slots_min_tick(struct urt_runtime *rt)
{
	uint64_t min = UINT64_MAX;

	for (uint32_t s = 0; s < NSLOT; s++)
		for (uint32_t c = rt->timers.slot[s].head; c; c = chunk_at(rt, c)->next) {
			struct urt__tchunk *ch = chunk_at(rt, c);

			for (uint32_t i = 0; i < ch->n; i++)
				if (ch->e[i].idx && tick_of(ch->e[i].deadline) < min)
					min = tick_of(ch->e[i].deadline);
		}
	return min;
}

/* The run is empty and nslot > 0: load the nearest tick that has timers. */
static void load(struct urt_runtime *rt)
{
	uint64_t t = rt->timers.tnext;
	uint32_t moved = 0;
	struct urt__tent *v;

	rt->timers.head = rt->timers.nrun = rt->timers.nsorted = 0;
	for (uint32_t k = 0; k < NSLOT && !moved; k++, t++)
		moved = slot_take(rt, t);
	if (!moved) { /* a whole lap of nothing: jump to the smallest tick */
		t = slots_min_tick(rt);
		moved = slot_take(rt, t++);
	}
	URT_ASSERT(moved, "timers counted in slots but none found");
	rt->timers.tnext = t;
	v = sort_stable(rt->timers.run, rt->timers.tmp, moved);
	if (v != rt->timers.run) { /* the sorted copy becomes the run */
		rt->timers.tmp = rt->timers.run;
		rt->timers.run = v;
	}
	rt->timers.nsorted = moved;
}

/* The run's head made current: tail merged, loaded if empty. */
static bool run_ready(struct urt_runtime *rt)
{
	if (rt->timers.nsorted != rt->timers.nrun)
		run_normalise(rt);
	if (rt->timers.head == rt->timers.nrun && rt->timers.nslot)
		load(rt);
	return rt->timers.head < rt->timers.nrun;
}

uint64_t urt__timer_peek(struct urt_runtime *rt)
{
	return run_ready(rt) ? rt->timers.run[rt->timers.head].deadline : UINT64_MAX;
}

/* --- arming, cancelling, firing ---------------------------------------------- */

/*
 * The slot's live entries moved to its front, in order, each record's
 * handle (tm.hpos) following; the chunks left empty go back (the slot
 * keeps one). Entries before the first tombstone stay where they are.
 * Cost: the entries passed and a record line for each live one moved.
 */
static void slot_compact(struct urt_runtime *rt, struct urt__tslot *sl)
{
	uint32_t wc = sl->head, w = 0;
	struct urt__tchunk *wch = chunk_at(rt, wc);

	for (uint32_t c = sl->head; c;) {
		struct urt__tchunk *ch = chunk_at(rt, c);

		for (uint32_t i = 0; i < ch->n; i++) {
			if (!ch->e[i].idx)
				continue;
			if (w == URT__TCHUNK_ENTS) { /* a chunk before ch: its entries are read */
				wch->n = w;
				wc = wch->next;
				wch = chunk_at(rt, wc);
				w = 0;
			}
			if (wch != ch || w != i) {
				wch->e[w] = ch->e[i];
				urt__rec_at(rt, ch->e[i].idx)->tm.hpos = wc << 4 | w;
			}
			w++;
		}
		c = ch->next;
	}
	wch->n = w;
	for (uint32_t c = wch->next; c;) {
		uint32_t next = chunk_at(rt, c)->next;

		chunk_put(rt, c);
		rt->timers.held--;
		c = next;
	}
	wch->next = 0;
	sl->tail = wc;
	sl->dead = 0;
}

/*
 * The slot's last chunk is full, or it has none: the chunk in hand
 * (reserve) becomes it. Unless the slot is at least half tombstones (at
 * least a chunk's worth): cancelled deadlines behind live ones, which no
 * trim reaches and no visit drops before the slot's tick comes, so a
 * server that arms and cancels a far deadline per request while other
 * timers stay live grew chunks with its request rate. Then the slot is
 * compacted first, and takes a chunk only if still full: a slot holds at
 * most twice its live entries and two chunks, and each tombstone is passed
 * by one compaction, which moves at most as many live entries.
 */
static __attribute__((noinline)) struct urt__tchunk *slot_extend(struct urt_runtime *rt,
								 struct urt__tslot *sl)
{
	struct urt__tchunk *ch;
	uint32_t c;

	if (sl->dead >= sl->live && sl->dead >= URT__TCHUNK_ENTS) {
		slot_compact(rt, sl);
		ch = chunk_at(rt, sl->tail);
		if (ch->n < URT__TCHUNK_ENTS)
			return ch;
	}
	c = rt->timers.cfree; /* after the compaction: it gives chunks back */
	ch = chunk_at(rt, c);

	rt->timers.cfree = ch->next;
	ch->next = 0;
	ch->n = 0;
	rt->timers.held++;
	if (sl->tail)
		chunk_at(rt, sl->tail)->next = c;
	else
		sl->head = c;
	sl->tail = c;
	return ch;
}

/* Append e (its record r) to its slot's last chunk (a new one if that one is full). */
static inline void slot_append(struct urt_runtime *rt, struct urt__tent e, struct urt__rec *r)
{
	struct urt__tslot *sl = &rt->timers.slot[tick_of(e.deadline) % NSLOT];
	struct urt__tchunk *ch = sl->tail ? chunk_at(rt, sl->tail) : NULL;

	if (URT_UNLIKELY(!ch || ch->n == URT__TCHUNK_ENTS))
		ch = slot_extend(rt, sl);
	r->tm.hpos = sl->tail << 4 | ch->n;
	ch->e[ch->n++] = e;
	sl->live++;
	rt->timers.nslot++;
}

/*
 * A load ran ahead: the nearest timers were far (a 60 s deadline alone),
 * tnext passed their tick, and a nearer timer (tick t) comes. Left so,
 * every timer armed from now on below tnext would go to the run, whose
 * cancel is a search and a memmove, O(n), where a slot's is O(1). So the
 * run's entries past max(t, the clock's tick at the last firing) go back
 * to their slots and tnext comes down behind that tick. Ran only when
 * tnext is past it, which a load that took the current or the next tick
 * never is: a batch is given back once per nearer arrival, and the cost is
 * the batch's size. Needs a chunk per entry given back at most, plus the
 * one in hand: carved first, and on a failure nothing moves (the run is
 * still right, only slower to cancel from).
 */
static void run_unload(struct urt_runtime *rt, uint64_t t)
{
	struct urt__tent *run = rt->timers.run;
	uint32_t h = rt->timers.head, w = h, sorted = h, m = 0, have = 0;

	if (t < rt->timers.tnow)
		t = rt->timers.tnow;
	if (t + 1 >= rt->timers.tnext)
		return;
	for (uint32_t i = h; i < rt->timers.nrun; i++)
		m += tick_of(run[i].deadline) > t;
	for (uint32_t c = rt->timers.cfree; c && have <= m; c = chunk_at(rt, c)->next)
		have++;
	for (; have <= m; have++)
		if (chunk_carve(rt))
			return;
	for (uint32_t i = h; i < rt->timers.nrun; i++) {
		if (tick_of(run[i].deadline) > t) {
			slot_append(rt, run[i], urt__rec_at(rt, run[i].idx));
			continue;
		}
		sorted += i < rt->timers.nsorted;
		run[w++] = run[i];
	}
	rt->timers.nrun = w;
	rt->timers.nsorted = sorted;
	rt->timers.tnext = t + 1;
	if (rt->timers.head == rt->timers.nrun)
		rt->timers.head = rt->timers.nrun = rt->timers.nsorted = 0;
}

/* Arming below tnext: into the run (a load that ran far ahead undone first). */
static __attribute__((noinline)) void run_add(struct urt_runtime *rt, struct urt__tent e)
{
	uint64_t t = tick_of(e.deadline);

	if (t + 1 < rt->timers.tnext)
		run_unload(rt, t); /* tnext stays past t */
	run_append(rt, e);
}

/*
 * Arm record idx (r) at deadline. The common case (room in hand, a tick at
 * or past tnext, room in the slot's last chunk) calls nothing: a sleep's
 * arming was ~100 instructions here, a fifth of them saving and restoring
 * the registers the rare paths needed. n < cap implies the slots exist
 * (urt__timer_reserve makes them before the run).
 */
static inline int timer_arm(struct urt_runtime *rt, uint32_t idx, struct urt__rec *r,
			    uint64_t deadline)
{
	struct urt__tent e = { .deadline = deadline, .idx = idx };
	int ret;

	if (URT_UNLIKELY(rt->timers.n >= rt->timers.cap || !rt->timers.cfree) &&
	    (ret = urt__timer_reserve(rt)))
		return ret;
	r->tm.deadline = deadline;
	rt->timers.n++;
	if (URT_UNLIKELY(tick_of(deadline) < rt->timers.tnext))
		run_add(rt, e);
	else
		slot_append(rt, e, r);
	return 0;
}

int urt__timer_add(struct urt_runtime *rt, uint32_t idx, uint64_t deadline)
{
	return timer_arm(rt, idx, urt__rec_at(rt, idx), deadline);
}

/*
 * A slot entry in chunk c (tick t) became a tombstone: counted. One at the
 * end of its slot's last chunk (arm, cancel, arm again: a request's
 * deadline) is given back at once, with the tombstones before it; a chunk
 * left empty and alone in its slot goes back too.
 */
static void slot_trim(struct urt_runtime *rt, uint32_t c, uint64_t t)
{
	struct urt__tslot *sl = &rt->timers.slot[t % NSLOT];
	struct urt__tchunk *ch = chunk_at(rt, c);

	sl->live--;
	sl->dead++;
	if (sl->tail != c)
		return;
	while (ch->n && !ch->e[ch->n - 1].idx) {
		ch->n--;
		sl->dead--;
	}
	if (!ch->n && sl->head == c) {
		sl->head = sl->tail = 0;
		chunk_put(rt, c);
		rt->timers.held--;
	}
}

/*
 * Nothing live in the slots but chunks of tombstones held: no load will
 * visit them (a load needs a live slot entry), so free them all. Only past
 * SWEEP_MIN chunks, so a sweep of the 512 slots costs at most 512 /
 * SWEEP_MIN slot reads for each chunk taken since the last one.
 */
static void slots_clear(struct urt_runtime *rt)
{
	for (uint32_t s = 0; s < NSLOT; s++) {
		uint32_t c = rt->timers.slot[s].head;

		while (c) {
			uint32_t next = chunk_at(rt, c)->next;

			chunk_put(rt, c);
			c = next;
		}
		rt->timers.slot[s] = (struct urt__tslot){ 0 };
	}
	rt->timers.held = 0;
}

void urt__timer_del(struct urt_runtime *rt, struct urt__rec *r)
{
	URT_ASSERT(rt->timers.n, "timer not armed");
	rt->timers.n--;
	if (tick_of(r->tm.deadline) < rt->timers.tnext) {
		run_remove(rt, r);
	} else {
		struct urt__tent *e = &chunk_at(rt, r->tm.hpos >> 4)->e[r->tm.hpos & 15];

		URT_ASSERT(urt__rec_at(rt, e->idx) == r, "timer not in its slot");
		e->idx = 0; /* dropped when its slot is next visited */
		rt->timers.nslot--;
		slot_trim(rt, r->tm.hpos >> 4, tick_of(r->tm.deadline));
		if (!rt->timers.nslot && rt->timers.held > SWEEP_MIN)
			slots_clear(rt);
	}
}

/*
 * Firing touches three cold lines a timer, chained: the record (from the
 * run's index), then what it names, the handle and the task. Popped in
 * order from a dense array, they are known ahead: the record FIRE_AHEAD
 * entries on, and the handle and task of the one half as far on, whose
 * record came in by then. Prefetches only: a run entry is a live record.
 * (In a function of their own, prefetches alone would be dropped: GCC
 * counts them as no side effect, so the pop is part of it.)
 */
#define FIRE_AHEAD 16

/* Pop the run's head (the run is ready and not empty). Return: its record. */
static inline uint32_t fire_pop(struct urt_runtime *rt)
{
	const struct urt__tent *run = rt->timers.run;
	uint32_t h = rt->timers.head, end = rt->timers.nsorted;

	if (h + FIRE_AHEAD < end)
		__builtin_prefetch(urt__rec_at(rt, run[h + FIRE_AHEAD].idx), 1);
	if (h + FIRE_AHEAD / 2 < end) {
		const struct urt__rec *q = urt__rec_at(rt, run[h + FIRE_AHEAD / 2].idx);

		__builtin_prefetch(q->task, 1);
		__builtin_prefetch(q->op, 1);
	}
	rt->timers.head = h + 1;
	if (h + 1 == rt->timers.nrun)
		rt->timers.head = rt->timers.nrun = rt->timers.nsorted = 0;
	return run[h].idx;
}

unsigned urt__timers_fire(struct urt_runtime *rt, uint64_t now)
{
	unsigned n = 0;

	rt->timers.tnow = tick_of(now);
	while (run_ready(rt) && rt->timers.run[rt->timers.head].deadline <= now) {
		uint32_t idx = fire_pop(rt);
		struct urt__rec *r = urt__rec_at(rt, idx);

		rt->timers.n--;
		n++;
		if (r->kind == URT__REC_TIMER) {
			struct urt_op *op = r->op;

			op->res = 0;
			op->flags = 0;
			op->state = URT_OP_DONE;
			op->rec = 0;
			urt__rec_end(rt, idx, r); /* inline: no call and register saves a timer */
		} else if (r->kind == URT__REC_OP) {
			urt__zc_timer(rt, idx, r);
		} else { /* a stream's backoff is over: res 0 makes the await re-arm */
			r->rfl &= (uint8_t)~URT__RF_BACKOFF;
			r->res = 0;
			urt_task_wake(r->task);
		}
	}
	rt->stats.timers_fired += n;
	return n;
}

/*
 * urt_sleep_until past taking a result: out of line, so the poll that only
 * takes it (urt__op_taken) pays no frame, urt_nop's shape.
 */
static __attribute__((noinline)) int sleep_start(struct urt_task *t, struct urt_op *op,
						 uint64_t deadline_ns)
{
	struct urt_runtime *rt = urt__rt;
	struct urt__rec *r;
	int64_t idx;
	int ret;

	switch (op->state) {
	case URT_OP_INFLIGHT:
		return URT_PENDING;
	case URT_OP_DONE:
		op->state = URT_OP_IDLE;
		return op->res;
	case URT_OP_STREAM:
		return -EBUSY;
	default:
		break;
	}
	if (!rt)
		return -ESRCH;
	if (!t || t != rt->polling)
		return -EBUSY;
	idx = urt__rec_alloc(rt, URT__REC_TIMER);
	if (idx < 0)
		return (int)idx;
	r = urt__rec_at(rt, (uint32_t)idx);
	ret = timer_arm(rt, (uint32_t)idx, r, deadline_ns);
	if (ret) {
		urt__rec_free_at(rt, (uint32_t)idx, r);
		return ret;
	}
	r->op = op;
	urt__rec_link_at(rt, t, (uint32_t)idx, r);
	op->state = URT_OP_INFLIGHT;
	op->rec = (uint32_t)idx;
	op->gen = r->gen;
	op->flags = 0;
	return URT_PENDING;
}

int urt_sleep_until(struct urt_task *t, struct urt_op *op, uint64_t deadline_ns)
{
	int ret;

	if (urt__op_taken(op, &ret))
		return ret;
	return sleep_start(t, op, deadline_ns);
}

int urt_sleep(struct urt_task *t, struct urt_op *op, uint64_t timeout_ns)
{
	uint64_t now;

	if (op->state != URT_OP_IDLE)
		return urt_sleep_until(t, op, 0);
	now = urt_now_ns();

	/* saturate: a timeout past the end of time is "never", not the past */
	return urt_sleep_until(t, op, timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns);
}
