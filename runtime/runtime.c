/* SPDX-License-Identifier: MIT */
/*
 * runtime.c - the runtime object and its loop.
 *
 * One tick (urt_tick):
 *   1. frame begin;
 *   2. take remote messages (wakes, spawns);
 *   3. poll the tasks ready when the tick began, FIFO, at most `budget`; a
 *      task woken during the tick runs next tick, so a task that yields
 *      forever cannot starve other tasks or I/O;
 *   4. enter the kernel at most once: park (wait for a completion or the
 *      timeout) only if no task is ready and no remote message is waiting;
 *      otherwise just submit and reap, and only if the ring has work;
 *   5. frame end: the frame arena resets (debug builds poison it).
 *
 * Invariants between ticks:
 *   active = tasks spawned and not finished
 *   nreg   = tasks not reclaimed, less slab tasks before their first turn
 *   polling == NULL
 * urt__rt (TLS, defined in exec/task.c) is the runtime of this thread from
 * init to deinit.
 */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define HDR sizeof(struct urt_task)

struct urt_runtime *urt_runtime_current(void)
{
	return urt__rt;
}

/*
 * The executor ends a task's operations through this (exec: task.c), at the
 * same two points as before the layers were split: when a task's poll is
 * over and at teardown. Here, at the top, the two layers meet.
 */
void urt__exec_ops_end(struct urt_runtime *rt, struct urt_task *t)
{
	if (rt->jobs_live && t->ops) /* blocking jobs: sys ends them (dropped or abandoned) */
		urt__blocking_task_end(rt, t);
	urt__task_cancel_ops(rt, t, true);
}

static int init_memory(struct urt_runtime *rt, const struct urt_runtime_opts *o)
{
	size_t slots = o->slab_slots ? o->slab_slots : 1024;
	int ret;

	ret = urt_arena_init(&rt->frame, &(struct urt_arena_opts){
						 .chunk_size = o->frame_size,
						 .cap = o->frame_cap,
						 .allocator = &rt->al,
					 });
	if (ret)
		return ret;
	urt_sizeclass_init(&rt->sc, &rt->al);
	if (o->task_cache_max)
		rt->sc.cache_max = o->task_cache_max;
	ret = urt_pool_init(&rt->scopes, &(struct urt_pool_opts){
						 .obj_size = sizeof(struct urt_scope),
						 .allocator = &rt->al,
					 });
	/* the scope's header rides on each block: its class holds both */
	if (!ret)
		ret = urt_pool_reserve(&rt->scopes, o->task_scopes_reserve);
	if (!ret && o->task_blocks_reserve)
		ret = urt_sizeclass_reserve(&rt->sc,
					    sizeof(struct urt_scope_block) + o->task_block_size,
					    o->task_blocks_reserve);
	if (!ret)
		ret = urt_pool_init(&rt->wakers, &(struct urt_pool_opts){
							 .obj_size = 64,
							 .allocator = &rt->al,
						 });
	if (!ret)
		ret = urt_pool_init(&rt->waiters, &(struct urt_pool_opts){
							  .obj_size = sizeof(struct urt_waiter),
							  .allocator = &rt->al,
						  });
	if (!ret)
		ret = urt__ops_init(rt, o->op_records, o->op_records_reserve);
	if (!ret && o->slab != URT_SLAB_NONE) {
		ret = urt_slab_init(&rt->slab,
				    &(struct urt_slab_opts){
					    .slot_size = o->slot_size ? o->slot_size : 256,
					    .slots = slots,
					    .bounded = o->slab == URT_SLAB_BOUNDED,
					    .allocator = &rt->al,
				    });
		rt->has_slab = !ret;
	}
	/* binding the slab now sizes the registry for every slot it has (spawn.c),
	 * so a claim never finds the registry full while a slot is vacant */
	if (!ret && rt->has_slab)
		ret = urt__reg_bind(rt,
				    (struct urt_slab_binding){ &urt_slab_table_urt, &rt->slab });
	if (!ret && !rt->reg_cap)
		ret = urt__reg_reserve(rt, 1); /* the first 256 entries */
	return ret;
}

static void deinit_memory(struct urt_runtime *rt)
{
	if (rt->has_slab)
		urt_slab_deinit(&rt->slab);
	rt->has_slab = false;
	if (rt->reg)
		rt->al.free(rt->al.ctx, rt->reg, (size_t)rt->reg_cap * URT__REGENT,
			    _Alignof(void *));
	rt->reg = NULL;
	urt__timers_deinit(rt);
	urt__ops_deinit(rt);
	urt_pool_deinit(&rt->waiters);
	urt_pool_deinit(&rt->wakers);
	urt_pool_deinit(&rt->scopes);
	urt_sizeclass_deinit(&rt->sc);
	urt_arena_deinit(&rt->frame);
}

int urt_runtime_init(struct urt_runtime *rt, const struct urt_runtime_opts *o)
{
	int ret;

	if (urt__rt)
		return -EEXIST;
	/* 2: an operation with a deadline takes two SQEs at once; 32768: the
	 * kernel's largest SQ */
	if (o->ring_entries == 1 || o->ring_entries > 32768)
		return -EINVAL;
	if (o->slab != URT_SLAB_NONE &&
	    ((o->slot_size && o->slot_size < HDR + 16) || o->slab > URT_SLAB_UNBOUNDED))
		return -EINVAL;
	if (o->task_block_size > URT_TASK_BLOCK_MAX ||
	    (o->task_blocks_reserve && !o->task_block_size))
		return -EINVAL;
	memset(rt, 0, sizeof(*rt));
	rt->al = o->allocator ? *o->allocator : urt_allocator_default;
	rt->budget = o->poll_budget ? o->poll_budget : 256;
	rt->debug_hook = o->debug_hook;
	rt->debug_ctx = o->debug_ctx;
	rt->efd = -1;
	rt->blocking_threads = o->blocking_threads ? o->blocking_threads : 4;
	rt->blocking_queue = o->blocking_queue ? o->blocking_queue : 1024;
	if (o->sim) {
		rt->kern = &urt__kern_sim;
		rt->kern_ctx = o->sim;
	}
	ret = init_memory(rt, o);
	if (!ret)
		ret = urt__ring_init(rt, o->ring_entries ? o->ring_entries : 256);
	if (!ret) {
		rt->stats.features &= ~(o->features_off & (URT_FEAT_SEND_ZC | URT_FEAT_RECV_BUNDLE |
							   URT_FEAT_WAITID | URT_FEAT_FTRUNCATE |
							   URT_FEAT_RECVMSG_MULTI));
		rt->send_zc_min = o->send_zc_min ? o->send_zc_min : UINT32_MAX;
		ret = urt__fixed_init(rt, o);
		if (!ret)
			ret = urt__bufs_init(rt, o);
		if (ret)
			urt__ring_deinit(rt);
	}
	if (ret) {
		deinit_memory(rt);
		return ret;
	}
	urt__remote_init(rt);
	if (rt->has_slab)
		rt->prev_binding = urt_slab_install(&urt_slab_table_urt, &rt->slab);
	else
		rt->prev_binding = urt_slab_current();
	urt__rt = rt;
	return 0;
}

/*
 * Order matters: nothing is freed while the kernel may still touch it.
 *   remote messages in -> every op cancelled and its last completion reaped
 *   -> tasks stop, drops run, tasks reclaimed -> what the drops started
 *   (detached closes) drained -> buffers, ring, memory.
 */
size_t urt_runtime_deinit(struct urt_runtime *rt)
{
	size_t n;

	/* misuse that would tear down under a running poll, or close descriptors
	 * that are no longer the runtime's (a second deinit) */
	URT_ASSERT(urt__rt == rt, "urt_runtime_deinit: not this thread's runtime (deinit twice?)");
	URT_ASSERT(!rt->polling && !rt->closing && !rt->dropping,
		   "urt_runtime_deinit: called from inside a poll or a drop");
	if (URT_UNLIKELY(urt__rt != rt || rt->polling || rt->closing || rt->dropping))
		return 0;
	/* the pool first: queued jobs dropped, running ones waited for, workers
	 * joined (their completions are on the remote queue, taken in below) */
	urt__blocking_deinit(rt);
	urt__remote_close(rt); /* no other thread is inside a call from here on */
	rt->closing = true;    /* spawns now fail with -ESHUTDOWN; no reclaim until pass 3 */
	rt->fast_table = NULL; /* urt_spawn_slab's inline case with it (spawn.c) */
	n = urt__remote_deinit(rt);
	urt__ops_drain(rt);
	n += urt__tasks_teardown(rt);
	urt__ops_drain(rt);
	URT_ASSERT(urt__ops_live(rt) == 0 && rt->timers.n == 0, "op records left after teardown");
	urt__blocking_free(rt);
	urt__bufs_deinit(rt);
	urt__ring_deinit(rt);
	urt_slab_restore(rt->prev_binding); /* every slot is free: safe to uninstall */
	deinit_memory(rt);
	urt__rt = NULL;
	return n;
}

/*
 * Whether anything could still wake a task without this thread's help: an
 * operation in the kernel, an armed timer, a remote waker that another
 * thread may fire.
 */
static bool can_complete(const struct urt_runtime *rt)
{
	return rt->ring_inflight || rt->timers.n || rt->wakers.live || rt->jobs_out;
}

/*
 * One tick. The rule for waiting in the kernel: wait only if no task is
 * ready, no remote message is waiting, no stop was asked for, the caller
 * allows it (timeout_ns > 0), either the wait is bounded (a finite
 * timeout: a frame's pacing, or a remote spawn expected) or something can
 * complete, and the caller has nothing new to look at. For urt_tick that
 * last part means the tick polled no task and ended none (an aborted
 * task's drop runs without a poll): a caller waiting for a join or
 * a flag gets control back after any progress. urt_run checks its own exit
 * conditions (stop, no task left) before waiting (`until_idle`), so it also
 * waits right after progress and saves a syscall per cycle.
 * Wait at most until the nearest timer.
 */
static int tick(struct urt_runtime *rt, uint64_t timeout_ns, bool until_idle)
{
	uint64_t wait = timeout_ns;
	bool more, park;
	int n, ret;
	size_t active = rt->active;
	bool ended;

	if (rt->polling || rt->dropping)
		return -EBUSY;
	/* inside the program's own frame (urt_frame_begin) the tick leaves the
	 * frame alone; otherwise each tick is a frame */
	if (!rt->loop_frame && urt_arena_frame_begin(&rt->frame) < 0)
		return -EBUSY;
	rt->stats.ticks++;
	if (!urt__remote_empty(rt))
		urt__remote_drain(rt);
	n = urt__run_ready(rt);
	ended = rt->active != active; /* an aborted task's drop is progress too */
	if (URT_UNLIKELY(rt->bufs.queued >= rt->bufs.pin_max))
		urt__bufs_sweep(rt); /* streams whose tasks did not read: see bufring.c */
	more = !urt__remote_empty(rt) && urt__remote_drain(rt);
	if (URT_UNLIKELY(rt->bufs.starved && rt->bufs.avail))
		urt__bufs_kick(rt); /* a lost or spent wake: see bufring.c */
	if (rt->timers.n && wait) {
		uint64_t now = urt_now_ns(), next = urt__timer_next(rt);

		wait = next <= now ? 0 : next - now < wait ? next - now : wait;
	}
	park = !rt->run_head && !more && wait && !rt->stopping &&
	       (until_idle ? rt->active != 0 : n == 0 && !ended) &&
	       (timeout_ns != URT_TICK_FOREVER || can_complete(rt)) && urt__remote_park_begin(rt);
	ret = 0;
	/* else no syscall, no reap; completions stashed (ring.c: a submission
	 * refused with -EBUSY) are applied by the reap */
	if (park || rt->ring_pending || rt->ring_inflight || URT_UNLIKELY(rt->stash.n))
		ret = urt__ring_enter(rt, park, wait);
	if (park)
		urt__remote_park_end(rt);
	if (rt->timers.n)
		urt__timers_fire(rt, urt_now_ns());
	if (!rt->loop_frame)
		urt_arena_frame_end(&rt->frame);
	return ret ? ret : n;
}

int urt_frame_begin(struct urt_runtime *rt)
{
	if (rt->polling || rt->dropping || rt->loop_frame || urt_arena_frame_begin(&rt->frame) < 0)
		return -EBUSY;
	rt->loop_frame = true;
	return 0;
}

int urt_frame_end(struct urt_runtime *rt)
{
	if (rt->polling || rt->dropping)
		return -EBUSY;
	if (!rt->loop_frame)
		return -EINVAL;
	rt->loop_frame = false;
	urt_arena_frame_end(&rt->frame);
	return 0;
}

int urt_tick(struct urt_runtime *rt, uint64_t timeout_ns)
{
	return tick(rt, timeout_ns, false);
}

int urt_run(struct urt_runtime *rt)
{
	if (rt->loop_frame) /* its ticks would never end a frame */
		return -EBUSY;
	rt->stopping = false;
	/* a finished task may still be queued (it woke itself in its last
	 * poll): its turn reclaims it, so the queue is drained too */
	while (!rt->stopping && (rt->active || rt->run_head)) {
		int ret = tick(rt, URT_TICK_FOREVER, true);

		if (ret < 0)
			return ret;
		if (!rt->run_head && rt->active && !rt->stopping && !can_complete(rt) &&
		    urt__remote_empty(rt))
			return -EDEADLK;
	}
	return 0;
}

void urt_stop(struct urt_runtime *rt)
{
	rt->stopping = true;
}

void urt_runtime_stats(const struct urt_runtime *rt, struct urt_runtime_stats *st)
{
	struct urt_arena_stats as;
	struct urt_sizeclass_stats ss;

	*st = rt->stats;
	st->spawned_slab += rt->fast_spawned; /* urt_spawn_slab's inline count */
	/* derived, so the hot path keeps fewer counters */
	for (int i = 0; i < URT_TYPE_STATS; i++) {
		st->completed += rt->types[i].st.completed + rt->types[i].quiet;
		st->reclaimed += rt->types[i].quiet; /* a quiet end is reclaimed at once */
		st->aborted += rt->types[i].st.aborted;
	}
	/* not nreg: a slab task enters the registry only after its first turn */
	st->live = st->spawned_boxed + st->spawned_slab + st->spawned_claim + st->spawned_remote -
		   st->reclaimed;
	st->active = rt->active;
	if (rt->has_slab) {
		size_t claims = 0;

		for (unsigned i = 0; i < rt->nbindings; i++)
			if (rt->bindings[i].urt && rt->bindings[i].b.slab == &rt->slab)
				claims += rt->bindings[i].claims;
		st->slab_live = urt_slab_used(&rt->slab) - claims;
		st->slab_capacity = (size_t)rt->slab.nchunks * rt->slab.chunk_slots;
	}
	urt_arena_stats(&rt->frame, &as);
	st->frame_high_water = as.high_water;
	urt_sizeclass_stats(&rt->sc, &ss);
	st->task_mem_held = ss.held;
	st->task_mem_kept = ss.kept;
	st->ops_live = urt__ops_live(rt);
	st->ops_high_water = rt->ops.made ? rt->ops.made - 1 : 0;
	st->ops_inflight = rt->ring_inflight;
	st->timers_live = rt->timers.n;
	st->bufs_free = rt->bufs.avail;
	st->bufs_free_low = rt->bufs.avail_low;
	st->bufs_queued = rt->bufs.queued;
	st->buf_count = rt->bufs.count;
}

void *urt_frame_alloc(size_t size, size_t align)
{
	return urt__rt ? urt_arena_alloc(&urt__rt->frame, size, align) : NULL;
}
