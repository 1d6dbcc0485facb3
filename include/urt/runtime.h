/* SPDX-License-Identifier: MIT */
/*
 * urt/runtime.h - the executor: one runtime per thread, an io_uring loop.
 *
 * One tick:
 *   begin frame -> take remote wakes and spawns -> poll ready tasks (at most
 *   poll_budget) -> submit and wait in one io_uring_enter (not at all if
 *   tasks are still ready and nothing is in flight) -> reap completions ->
 *   end frame (the frame arena resets).
 *
 *	struct urt_runtime rt;
 *	int ret = urt_runtime_init(&rt, &(struct urt_runtime_opts){
 *		.slab = URT_SLAB_UNBOUNDED, .slot_size = 256 });
 *	...spawn...
 *	ret = urt_run(&rt);           // until no task is left, or urt_stop
 *	urt_runtime_deinit(&rt);      // aborts and reclaims whatever is left
 *
 * A program that owns its main loop calls urt_tick(&rt, timeout_ns) once per
 * frame instead of urt_run.
 *
 * Threads: every call is for the runtime's own thread, except the ones
 * marked "Context: any thread" (remote wakers, urt_spawn_remote).
 */
#ifndef URT_RUNTIME_H
#define URT_RUNTIME_H

#ifndef __cplusplus
#include <stdatomic.h>
#define URT__ATOMIC(T) _Atomic(T)
#define URT__ALIGNAS(n) _Alignas(n)
#else
#define URT__ATOMIC(T) T /* same size and alignment; C++ never touches these */
#define URT__ALIGNAS(n) alignas(n)
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "urt/allocator.h"
#include "urt/arena.h"
#include "urt/pool.h"
#include "urt/scope.h"
#include "urt/slab.h"
#include "urt/slab_table.h"
#include "urt/task.h"

#ifdef __cplusplus
extern "C" {
#endif

#define URT_TICK_FOREVER  UINT64_MAX /* urt_tick: wait until something happens */
#define URT_TYPE_STATS	  64	     /* task types tracked per runtime */
#define URT__RING_STORAGE 256	     /* >= sizeof(struct io_uring), checked */
/* opts.task_block_size at most: the largest pool class's block (4 KiB) less
 * the scope's header; the big classes above it hold no reserve (pool.h) */
#define URT_TASK_BLOCK_MAX (URT_SIZECLASS_SMALL_MAX - sizeof(struct urt_scope_block))

enum urt_slab_kind {
	URT_SLAB_NONE,	    /* no slab: urt_spawn_slab answers -ENODEV */
	URT_SLAB_BOUNDED,   /* slab_slots slots, allocated at init */
	URT_SLAB_UNBOUNDED, /* chunks of slab_slots slots, grown on demand */
};

struct urt_fault;
struct urt__rec;
struct urt__tent;
struct urt__tslot;
struct urt__tchunk;
struct urt__bstate;
struct urt__blocking;
struct urt__kern;
struct urt__cqe_copy;
struct urt_sim;

struct urt_runtime_opts {
	enum urt_slab_kind slab; /* default URT_SLAB_NONE */
	size_t slot_size;	 /* header (64) + state; default 256 */
	size_t slab_slots;	 /* capacity / slots per chunk; 0: 1024 */
	unsigned poll_budget;	 /* polls per tick before I/O's turn; default 256 */
	size_t frame_size;	 /* frame arena first chunk; default 64 KiB */
	size_t frame_cap;	 /* frame arena cap; default 16 x frame_size */
	unsigned ring_entries;	 /* SQ entries, 2..32768 (CQ 8x, at most 65536); default 256 */
	uint32_t op_records;	 /* op records at most; default 262144 */
	/* op records the pool holds from init (at most op_records; default 0:
	 * grown a 64-record page at a time as the peak of operations in flight
	 * rises). Sized to a server's peak (say 2 a connection, its receive and
	 * its send, for as many connections as its slab holds), no record is
	 * asked of the allocator after init. One block, zeroed a record at a
	 * time as first used: it costs resident memory only as the peak reaches
	 * it (with an allocator that maps large blocks fresh, as malloc does) */
	uint32_t op_records_reserve;
	/* task memory (urt_task_alloc) made at init, as op_records_reserve is:
	 * the scopes of task_scopes_reserve tasks (one for each task alive at
	 * once that has called urt_task_alloc), and task_blocks_reserve blocks
	 * of task_block_size bytes (at most URT_TASK_BLOCK_MAX) in the size
	 * class that holds them, live at once over all tasks. Default 0: grown
	 * a page at a time as the peak rises. Sized to a server's peak (say a
	 * scope and its buffers for as many connections as its slab holds),
	 * those ask the allocator for nothing after init; written as first
	 * used (address space, not resident memory, until then) */
	uint32_t task_scopes_reserve;
	uint32_t task_blocks_reserve;
	uint32_t task_block_size;
	/* freed task blocks above 4 KiB (a buffer grown to 8 or 64 KiB) kept
	 * for the next task that asks, in bytes over all the big classes; past
	 * it a freed block goes back to the allocator, so a peak's memory is
	 * given back. Default 0: URT_SIZECLASS_CACHE_DEFAULT (4 MiB) */
	size_t task_cache_max;
	uint32_t buf_count;	 /* provided buffers (power of 2); default 512 */
	uint32_t buf_size;	 /* bytes per provided buffer; default 4096 */
	uint32_t stream_queue;	 /* received chunks a stream may hold unread; default 16 */
	/* ring buffers that may sit unread in stream queues, all streams
	 * together, before what arrives for a stream whose task is not reading
	 * is copied out (spill memory); default buf_count / 2; at most
	 * buf_count, which turns copying off (see urt/net.h) */
	uint32_t recv_pin_max;
	/* URT_FEAT_SEND_ZC, _RECV_BUNDLE, _BUF_INC, _RECV_LIMIT, _WAITID,
	 * _FTRUNCATE, _RECVMSG_MULTI, _FIXED_FDS: leave unused
	 * even if the kernel offers them (to measure, or to run the fallback) */
	uint32_t features_off;
	uint32_t send_zc_min; /* urt_send_all goes zero-copy from this size; 0: never */
	/* accepted sockets become direct descriptors (URT_FD_FIXED | slot, see
	 * urt/io.h) in a table of fixed_table slots registered with the ring
	 * (default 65536, at most RLIMIT_NOFILE's soft limit); off by default:
	 * measured no faster (docs/design.md). Without the kernel's support,
	 * under the simulator or with URT_FEAT_FIXED_FDS in features_off,
	 * accepts give plain descriptors. */
	bool fixed_fds;
	uint32_t fixed_table;
	/* the blocking pool (urt/blocking.h): worker threads, started on first
	 * use; default 4. Jobs queued or running at most; default 1024 */
	unsigned blocking_threads;
	uint32_t blocking_queue;
	const struct urt_allocator *allocator; /* backing memory; NULL: malloc */
	/* debug reports (frame checks); the library prints nothing without it */
	void (*debug_hook)(void *ctx, const char *msg);
	void *debug_ctx;
	/* a simulated kernel below the ring instead of the real one (urt/sim.h);
	 * NULL: the real kernel */
	struct urt_sim *sim;
};

/* Per task type, per runtime: what urt_type_stats returns. */
struct urt_type_stats {
	const struct urt_task_type *type; /* the type; NULL in the overflow entry */
	uint64_t spawned, completed, aborted, polls;
};

struct urt_runtime_stats {
	uint64_t spawned_boxed;	 /* urt_spawn */
	uint64_t spawned_slab;	 /* urt_spawn_slab */
	uint64_t spawned_claim;	 /* urt_claim_spawn */
	uint64_t spawned_remote; /* urt_spawn_remote, taken in */
	uint64_t completed;	 /* poll returned true */
	uint64_t aborted;	 /* ended by abort (deinit included) */
	uint64_t reclaimed;	 /* slots and boxes given back */
	uint64_t polls;		 /* calls of poll */
	uint64_t wakes_local;	 /* urt_task_wake that queued a task */
	uint64_t wakes_remote;	 /* remote wakes taken in */
	uint64_t ticks;		 /* urt_tick calls */
	uint64_t parks;		 /* ticks that waited in the kernel */
	uint64_t enters;	 /* io_uring_enter calls (submit, reap, park, flush) */
	uint64_t frame_reports;	 /* debug frame-check hits */
	uint64_t dropped_handles; /* debug: a task ended holding a live task's join handle */
	size_t live;		 /* tasks not reclaimed */
	size_t active;		 /* tasks not finished */
	size_t slab_live;	 /* tasks in the runtime's slab (claims held not counted) */
	size_t slab_capacity;	 /* slots in the runtime's slab */
	size_t frame_high_water; /* bytes, frame arena */
	size_t task_mem_held;	 /* bytes task memory holds (urt_sizeclass_stats's held) */
	size_t task_mem_kept;	 /* of those, freed blocks kept for the next task */
	/* I/O */
	uint64_t ops_submitted;	  /* operations sent to the kernel */
	uint64_t ops_completed;	  /* final completions reaped */
	uint64_t ops_cancelled;	  /* cancellations requested */
	uint64_t cqes;		  /* completions reaped, all kinds */
	uint64_t stale_cqes;	  /* discarded: no live record of that generation */
	uint64_t sq_full;	  /* SQ full: submitted early to make room */
	uint64_t cq_overflow;	  /* the kernel held completions back: flushed */
	uint64_t cq_busy;	  /* a submit refused (-EBUSY, CQ overflowing): CQ stashed */
	uint64_t timers_fired;	  /* sleeps and backoffs that came due */
	uint64_t enobufs;	  /* streams stopped for lack of provided buffers */
	uint64_t stream_pauses;	  /* receive streams paused: too much unread */
	uint64_t accept_backoffs; /* EMFILE / ENFILE backoffs */
	uint64_t send_zc;	  /* zero-copy sends completed (URT_FEAT_SEND_ZC) */
	uint64_t send_zc_copied;  /* of those, the kernel copied the bytes after all */
	uint64_t send_zc_resets;  /* connections reset to end a cancelled zero-copy send */
	uint64_t recv_bundled;	  /* buffers that came several to one completion */
	uint64_t buf_shared;	  /* completions that left room in their buffer for more */
	uint64_t recv_spilled;	  /* received bytes copied out of the ring into spill memory */
	size_t ops_live;	  /* op records in use */
	size_t ops_high_water;	  /* most op records in use at once */
	size_t ops_inflight;	  /* submitted, final completion not reaped */
	size_t timers_live;	  /* armed sleeps */
	size_t bufs_free;	  /* provided buffers the kernel may fill */
	size_t buf_count;	  /* provided buffers in all */
	size_t bufs_free_low;	  /* fewest provided buffers free at once since init */
	size_t bufs_queued;	  /* ring buffers (pieces) queued unread on streams */
	size_t spill_bytes;	  /* spill memory holding received bytes now */
	size_t spill_high_water;  /* most spill memory held at once */
	uint32_t features;	  /* URT_FEAT_*: what the runtime uses */
};

/*
 * Kernel features: probed at init and used when present (unless in
 * opts.features_off); each has a fallback that is used otherwise.
 */
#define URT_FEAT_DEFER_TASKRUN 0x01u /* ring set up with DEFER_TASKRUN */
#define URT_FEAT_SOCKET_OP     0x02u /* IORING_OP_SOCKET (else socket(2)) */
#define URT_FEAT_SEND_ZC       0x04u /* urt_send_zc / urt_send_all send zero-copy (else copy) */
#define URT_FEAT_RECV_BUNDLE   0x08u /* a receive completion may carry several buffers */
#define URT_FEAT_BUF_INC       0x10u /* receives fill buffers in part: one buffer, many chunks */
#define URT_FEAT_DEBUG_CHECKS  0x20u /* the library was built with its debug checks */
#define URT_FEAT_RECV_LIMIT    0x40u /* multishot receives end after opts.stream_queue buffers */
#define URT_FEAT_WAITID	       0x80u  /* child exits awaited with IORING_OP_WAITID (else pidfd poll) */
#define URT_FEAT_FTRUNCATE     0x100u /* IORING_OP_FTRUNCATE (else the blocking pool) */
#define URT_FEAT_RECVMSG_MULTI 0x200u /* multishot recvmsg into provided buffers (else one-shot) */
#define URT_FEAT_FIXED_FDS     0x400u /* accepts fill a registered file table (opts.fixed_fds) */

/* The runtime: caller-owned storage, defined at the end of this file. */
struct urt_runtime;

/*
 * urt_runtime_init - set up a runtime on the calling thread: slab (installed
 * on this thread until deinit), frame arena, pools, io_uring ring (with
 * SINGLE_ISSUER|DEFER_TASKRUN, falling back to COOP_TASKRUN, then plain),
 * eventfd for remote wakes.
 * Return: 0; -EEXIST if this thread already has a runtime; -EINVAL for bad
 * options (slot_size < 80; ring_entries 1 or above 32768; buf_count not
 * a power of 2 or above 32768;
 * op_records above 2^30; op_records_reserve above op_records or its
 * default; task_block_size above URT_TASK_BLOCK_MAX, or 0 with
 * task_blocks_reserve); -ENOMEM; -ENOSYS or
 * -EPERM if io_uring is unavailable (kernel, sysctl, seccomp); another
 * -errno from io_uring_setup or eventfd. On failure nothing is held.
 * Context: any thread without a runtime.
 */
URT_NODISCARD int urt_runtime_init(struct urt_runtime *rt, const struct urt_runtime_opts *opts);

/*
 * urt_runtime_deinit - abort every task still alive (each type's drop runs),
 * reclaim every slot, box and task-scoped block, restore the slab binding
 * that was installed before init, close the ring.
 * Return: how many tasks it reclaimed. Called on a runtime that is not this
 * thread's (a second deinit), or from inside a poll or a drop, it is a
 * contract violation: debug builds abort with a message, release builds
 * return 0 and touch nothing.
 * Context: the runtime's thread, outside urt_tick. Threads that still call
 * urt_spawn_remote or a waker: see "other threads" below (from here on
 * spawns fail with -ESHUTDOWN and wakes are ignored; deinit waits for any
 * call already inside).
 */
size_t urt_runtime_deinit(struct urt_runtime *rt);

/* urt_runtime_current - this thread's runtime, or NULL. */
struct urt_runtime *urt_runtime_current(void);

/*
 * urt_tick - one turn of the loop. When it polled no task and none is
 * ready, it waits in the kernel for a completion, a due timer or a remote
 * message, at most timeout_ns (0: never waits); a tick that made progress
 * returns without waiting. With URT_TICK_FOREVER it waits only if
 * something can complete (an operation in flight, an armed timer, a remote
 * waker alive), so it never hangs on a runtime that nothing can wake; a
 * runtime that expects only urt_spawn_remote should tick with a finite
 * timeout.
 * Return: tasks polled (>= 0); -EBUSY if called from inside a task (its poll or its drop); another
 * -errno if io_uring_enter failed.
 */
URT_NODISCARD int urt_tick(struct urt_runtime *rt, uint64_t timeout_ns);

/*
 * urt_run - tick until no unfinished task is left or urt_stop was called.
 * Ticks wait by the rule of urt_tick.
 * Return: 0; -EDEADLK if tasks are left that nothing can wake (none ready,
 * no operation in flight, no timer, no remote waker alive, no remote
 * message waiting); -EBUSY inside urt_frame_begin; a negative urt_tick error.
 */
URT_NODISCARD int urt_run(struct urt_runtime *rt);

/* urt_stop - make urt_run return after the current tick. */
void urt_stop(struct urt_runtime *rt);

/* urt_runtime_stats - counters and gauges. */
void urt_runtime_stats(const struct urt_runtime *rt, struct urt_runtime_stats *st);

/*
 * urt_type_stats - the counters of one task type on this runtime: tasks
 * spawned (every way), completed, aborted, and polls. The runtime tracks
 * the first URT_TYPE_STATS - 1 types spawned on it; the counts of any later
 * type go to one overflow entry, which type NULL returns (its .type is
 * NULL). Cheap (a few probes of a 64-entry table), any time on the
 * runtime's thread, also from a poll or a drop.
 * Return: 0 and *out set; -ENOENT (*out untouched) if no task of the type
 * was ever spawned on rt, or if its counts went to the overflow entry.
 */
int urt_type_stats(const struct urt_runtime *rt, const struct urt_task_type *type,
		   struct urt_type_stats *out);

/*
 * urt_frame_alloc - frame memory of this thread's runtime: dead at the end
 * of the frame (the tick, or the program's own frame, below).
 * Return: the block; NULL without a runtime or past opts.frame_cap.
 */
void *urt_frame_alloc(size_t size, size_t align);

/*
 * urt_frame_begin / urt_frame_end - for a program that owns its main loop
 * (a game, a simulation): bracket each of its frames, and frame memory lives
 * from begin to end, across the urt_tick calls inside, which then leave the
 * frame alone. urt_run refuses to run inside such a frame (-EBUSY).
 * Return: begin: 0; -EBUSY if a frame is already open, or inside a poll or a drop.
 * end: 0; -EINVAL if urt_frame_begin did not open one; -EBUSY inside a poll or a drop.
 */
int urt_frame_begin(struct urt_runtime *rt);
int urt_frame_end(struct urt_runtime *rt);

/* --- other threads ---------------------------------------------------------
 *
 * A remote waker and urt_spawn_remote are the only ways another thread
 * reaches a runtime. Deinit is safe against calls that are under way: it
 * refuses new ones and waits until every call inside has returned before it
 * frees anything. What it cannot make safe is a call that starts after the
 * runtime's storage is gone, or on a waker after deinit (its record is
 * freed then). So, to shut down: stop the producer threads from making new
 * calls (join them, or tell them and wait until they say they are done),
 * then call urt_runtime_deinit on the owner thread.
 */

struct urt_waker;

/*
 * urt_waker_new - a waker for t that other threads may fire; it keeps t's
 * slot alive until urt_waker_free.
 * Return: 0; -ENOMEM; -EOPNOTSUPP on the simulated kernel (urt/sim.h: a
 * simulation is one thread).
 * Context: the runtime's thread.
 */
URT_NODISCARD int urt_waker_new(struct urt_task *t, struct urt_waker **out);

/*
 * urt_waker_wake - queue the task on its runtime; never lost, also while
 * the runtime is parked in the kernel. Allocates nothing. Ignored once the
 * runtime's deinit has begun.
 * Context: any thread, until the runtime's deinit returns (see above).
 */
void urt_waker_wake(struct urt_waker *w);

/*
 * urt_waker_free - let go of the waker (the last use of w).
 * Context: any thread, until the runtime's deinit returns (see above).
 */
void urt_waker_free(struct urt_waker *w);

/*
 * urt_spawn_remote - spawn a boxed task onto rt from any thread; it is
 * queued at rt's next tick. join is not offered: use a channel or a waker.
 * A spawn still queued when deinit runs is aborted like any task: its drop
 * runs (with a valid header) and it counts in stats.spawned_remote and
 * stats.aborted.
 * Return: 0; -EINVAL; -ENOMEM; -ESHUTDOWN if rt's deinit has begun (nothing
 * is queued and nothing is kept); -EOPNOTSUPP if rt runs on the simulated
 * kernel (urt/sim.h: a simulation is one thread).
 * Context: any thread, until rt's deinit returns (see above).
 */
URT_NODISCARD int urt_spawn_remote(struct urt_runtime *rt, const struct urt_task_type *type,
				   const void *state, size_t size);

/* --- private ----------------------------------------------------------------
 *
 * The storage a caller declares (struct urt_runtime rt;). Every field is the
 * runtime's: read what you need through urt_runtime_stats, never here.
 */

/* MPSC queue node for messages from other threads (intrusive). */
struct urt_mpsc_node {
	URT__ATOMIC(struct urt_mpsc_node *) next;
	uint32_t kind;
};

/*
 * A message that runs fn on the owner thread when the remote queue is
 * drained (kind URT__MSG_CALL): how a layer above the executor (sys: the
 * blocking pool) hands work back to the runtime from its own threads.
 */
struct urt__call {
	struct urt_mpsc_node node;
	void (*fn)(struct urt_runtime *rt, struct urt__call *c);
};

/*
 * The runtime. Caller-owned storage; fields are the runtime's. Grouped by
 * who touches them: everything but `remote` is for the owner thread only.
 */
struct urt_runtime {
	struct urt_task *run_head, *run_tail; /* ready queue, FIFO */
	uint32_t nqueued;		      /* tasks on the ready queue */
	size_t active;			      /* tasks not finished */
	struct urt_task **reg;		      /* live tasks, for deinit */
	uint32_t nreg, reg_cap;
	uint32_t nclaims;	  /* outstanding claims, each holding a registry entry */
	/* registry sizing (spawn.c): tasks and claims outside the slots of urt
	 * slabs (nreg + nclaims - those inside), and slots of those slabs, each
	 * of which the registry keeps an entry for */
	uint32_t nloose, reg_cover;
	unsigned budget;	  /* polls per tick */
	bool stopping;		  /* urt_stop called */
	bool loop_frame;	  /* the program opened the frame (urt_frame_begin) */
	uint32_t dropping;	  /* inside a task's drop */
	bool has_slab;		  /* the runtime owns and installed `slab` */
	bool closing;		  /* deinit: reclaim held off until every drop ran */
	uint64_t output;	  /* URT_RETURN's value until drop has run */
	struct urt_task *polling; /* the task in poll, or NULL */
	struct urt_slab slab;	  /* task slots (if has_slab) */
	struct urt_slab_binding prev_binding; /* restored at deinit */
	struct urt_binding {		      /* slab bindings tasks came from */
		struct urt_slab_binding b;
		size_t slot_size; /* bytes per slot */
		bool urt;	  /* urt_slab_table_urt: call it inline */
		bool fast;	  /* urt, with room for urt_spawn_slab's inline case */
		uint32_t chunks;  /* urt: the slab's chunks in reg_cover */
		uint32_t claims;  /* claims held in its slab (urt_slab_stats counts them used) */
		uint32_t gen;	  /* urt: the slab's init generation when bound */
	} bindings[8];
	unsigned nbindings;
	unsigned bcur;			       /* the binding used last */
	const struct urt_task_type *last_type; /* type_idx cache for spawns */
	uint16_t last_type_idx;
	/* urt_spawn_slab's inline case (below; spawn.c, fast_keep): the type and
	 * the urt slab binding of the last slab spawn that took the slow path,
	 * when both qualify; fast_table NULL (never a thread's table) when not.
	 * fast_hdr is the header such a spawn writes but for state_size and
	 * chunk: type, reg URT__REG_NONE, flags (QUEUED, SLAB, binding, DROP),
	 * type_idx; every other field 0. */
	URT__ALIGNAS(64) struct urt_task fast_hdr;
	/* the generation of the slab when bound << 32 | its chunks the registry
	 * covers: urt__slab_shape(fast_slab) while neither changed */
	uint64_t fast_shape;
	/* inline spawns not yet in stats.spawned_slab and in the spawned count
	 * of fast_hdr's type (added when read, moved there by fast_keep) */
	uint64_t fast_spawned;
	const struct urt_slab_table *fast_table;
	struct urt_slab *fast_slab;
	struct urt_arena frame;	 /* frame memory, reset every tick */
	struct urt_sizeclass sc; /* task-scoped blocks */
	struct urt_pool scopes;	 /* struct urt_scope, one per task that asks */
	struct urt_pool wakers;	 /* remote waker records */
	struct urt_pool waiters; /* wait-queue registrations */
	struct urt_allocator al;
	struct urt_runtime_stats stats;
	struct urt_type_count { /* urt_type_stats adds `quiet` to completed and polls,
				 * urt_runtime_stats to completed and reclaimed */
		struct urt_type_stats st;
		uint64_t quiet; /* completed in a poll with nothing more to do (task.c) */
	} types[URT_TYPE_STATS];
	void (*debug_hook)(void *ctx, const char *msg);
	void *debug_ctx;

	/* io_uring (struct io_uring, opaque here) and the wake eventfd */
	URT__ALIGNAS(8) unsigned char ring[URT__RING_STORAGE];
	const struct urt__kern *kern; /* the kernel below the ring (real or simulated) */
	void *kern_ctx;
	unsigned ring_flags;	/* setup flags that were accepted */
	uint32_t ring_pending;	/* SQEs prepared, not yet submitted, that ring_inflight
				 * may not count (an operation's counts there only) */
	uint32_t ring_inflight; /* SQEs prepared or submitted, final CQE not reaped */
	struct {		/* the direct descriptors (URT_FEAT_FIXED_FDS, ring.c) */
		uint32_t *gen;	/* per slot: closes submitted, the socket's cookie (zc.c) */
		uint32_t n;	/* slots registered */
	} fixed;
	struct { /* completions taken out of a full CQ to make room (ring.c, -EBUSY) */
		struct urt__cqe_copy *e; /* in CQ order: the next reap applies them first */
		uint32_t n, cap;
	} stash;

	/* I/O (op.c, timer.c, bufring.c); records and heap entries are internal */
	struct {
		struct urt__rec **pages; /* 64 records a page */
		uint32_t npages, pages_cap;
		/* opts.op_records_reserve: pages [0, nreserved) are one block
		 * (pages[0]), its records zeroed as carved */
		uint32_t nreserved;
		uint32_t made;	/* records carved out of pages so far (index 0 included) */
		uint32_t *pool; /* free records behind the stack, newest last; room
				 * for every record the pages can hold */
		uint32_t nfree; /* records in the pool */
		uint32_t max;	/* opts.op_records */
		uint32_t drain; /* tasks whose last op ended: to finish */
		uint32_t zc_wait; /* zero-copy sends waiting for their notification */
		/* 0 while made <= max (fewer than max records can be live, so a
		 * pop needs no look at the limit), else UINT32_MAX: the inline
		 * pop is `top > gate`, one compare (op.c) */
		uint32_t gate;
		/* free records in front of the pool, newest on top:
		 * live = made - 1 - top - nfree (no counter on the fast path) */
		uint32_t top;
		uint32_t stack[64];
	} ops;
	struct {			    /* the timer wheel (runtime/io/timer.c) */
		struct urt__tslot *slot;    /* 512 slots; NULL until the first timer */
		struct urt__tchunk **pages; /* slot chunks, 64 a page */
		uint32_t npages, pages_cap;
		uint32_t made;	       /* chunks carved (chunk 0 is "none") */
		uint32_t cfree;	       /* free chunks (list); one kept in hand */
		struct urt__tent *mem; /* the run and its scratch, 2 x cap entries */
		struct urt__tent *run; /* due soonest, sorted: [head, nsorted), then the tail */
		struct urt__tent *tmp; /* scratch for sorting and merging */
		uint32_t head, nsorted, nrun, cap;
		uint32_t n;	/* timers armed (run and slots) */
		uint32_t nslot; /* of those, in slots */
		uint32_t held;	/* chunks in slots (tombstones and all) */
		uint64_t tnext; /* ticks below this are in the run, the rest in slots */
		uint64_t tnow;	/* the clock's tick at the last firing */
	} timers;
	struct {
		void *ring;	   /* struct io_uring_buf_ring, page aligned */
		char *mem;	   /* count x size bytes */
		size_t ring_bytes; /* mapped for ring */
		size_t mem_bytes;  /* allocated for mem */
		uint32_t count;	   /* buffers (power of 2) */
		uint32_t size;	   /* bytes each */
		uint32_t avail;	   /* in the ring, the kernel may take them */
		uint32_t starved;  /* streams stopped by -ENOBUFS: FIFO of records */
		uint32_t starved_tail;
		uint32_t max_chunks; /* a stream with this many queued chunk records pauses */
		uint32_t arm_bytes;  /* bytes one receive arm may take (the kernel's limit) */
		bool registered;     /* buffer group 0 registered with the ring */
		bool no_limit;	     /* the kernel refused arm_bytes: pauses alone bound */
		uint8_t mode;	     /* URT__BUFS_*: one buffer a completion, bundles, in part */
		uint16_t tail;	     /* ring position of the next buffer given back */
		uint16_t *slot;	     /* bundles: the buffer id at each ring position */
		uint16_t *pos;	     /* bundles: the ring position of each buffer id */
		struct urt__bstate *st; /* in part: per buffer, its fill and its users */
		uint32_t queued;	/* ring buffers (pieces) queued unread on streams */
		uint32_t pin_max;	/* queued past this: arrivals of idle streams spill */
		uint32_t low;		/* fewer free: arrivals spill; twice that: short */
		uint32_t avail_low;	/* fewest free at once */
		struct urt__pin *pins;	/* streams that may hold ring chunks, for the sweep */
		uint32_t npins, pins_cap;
		struct {		/* spill memory: blocks of `size` bytes */
			char **blk;	/* each id's block; NULL: none */
			uint32_t *next; /* free-list links (id + 1); in use: UINT32_MAX */
			uint32_t cap;	/* ids the tables have room for */
			uint32_t made;	/* ids handed out at least once */
			uint32_t live;	/* blocks holding bytes */
			uint32_t ncached;	   /* free ids that keep their block */
			uint32_t cached, empty; /* free lists (id + 1): with, without a block */
		} spill;
	} bufs;
	uint32_t send_zc_min; /* urt_send_all: zero-copy from this size */
	bool zc_report;	      /* the kernel reports whether a zero-copy send copied */
	const struct urt_fault *fault; /* test builds (URT_FAULTS): urt/fault.h */
	int efd;		       /* eventfd other threads write to wake us */
	bool efd_armed;		       /* a read of efd is in the ring */
	uint64_t efd_buf;	       /* where that read lands */

	/* sys: the blocking pool (runtime/sys/blocking.c), made on first use */
	struct urt__blocking *blocking;
	unsigned blocking_threads; /* opts.blocking_threads, or 4 */
	uint32_t blocking_queue;   /* opts.blocking_queue, or 1024 */
	uint32_t jobs_out;	   /* jobs queued or running: not back from a worker */
	uint32_t jobs_live;	   /* jobs holding an op record (until taken or cleaned up) */

	/* touched by other threads */
	struct {
		URT__ALIGNAS(64) URT__ATOMIC(struct urt_mpsc_node *) head; /* producers push here */
		URT__ATOMIC(int) sleeping; /* owner is (about to be) parked */
		URT__ATOMIC(int) callers;  /* producers inside a call on this runtime */
		URT__ATOMIC(int) closed;   /* deinit has begun: calls are refused */
		URT__ALIGNAS(64) struct urt_mpsc_node *tail; /* owner pops here */
		struct urt_mpsc_node *held; /* a spawn that could not be taken in yet */
		struct urt_mpsc_node stub;
	} remote;
};

/* --- inline parts --------------------------------------------------------------
 *
 * urt_spawn_slab's common case runs in the caller: with a constant size and
 * no join handle it compiles to a slot pop, a copy of rt->fast_hdr, the
 * state's moves and a run queue link, with no call (docs/design.md, "The
 * inline slab spawn"). Everything else goes to urt__spawn_slab.
 */

/* This thread's runtime (runtime/exec/task.c); initial-exec as urt__slab_tls. */
extern __thread struct urt_runtime *urt__rt __attribute__((tls_model("initial-exec")));

/* urt_spawn_slab's every case (runtime/exec/spawn.c); only the inline one calls it. */
URT_NODISCARD int urt__spawn_slab(const struct urt_task_type *type, const void *state, size_t size,
				  struct urt_join *join);

#define URT__FAST_STATE 64 /* the inline case: states of 0 to 7 words */

/* Queue t (t->next NULL) at the run queue's tail. */
static inline void urt__runq_append(struct urt_runtime *rt, struct urt_task *t)
{
	rt->nqueued++;
	if (rt->run_tail)
		rt->run_tail->next = t;
	else
		rt->run_head = t;
	rt->run_tail = t;
}

/*
 * urt_spawn_slab - task in a slot of the slab installed on this thread; no
 * malloc once the slab is warm (an unbounded slab's growth is the only one).
 * Inline: the type, and the thread's binding, those of the last spawn that
 * took urt__spawn_slab (rt->fast_*, checked there), a urt slab that has not
 * grown since the registry covered it nor been initialised again since it
 * was bound; a state of up to seven words, no
 * join handle, a vacant slot in the slab's current chunk. Anything else is
 * urt__spawn_slab, which checks it all again.
 * Return: 0; -ESRCH, -ENODEV, -EMSGSIZE, -ENOSPC, -ENOMEM, -EINVAL, -ESHUTDOWN;
 * -ESTALE if the installed urt slab was deinit and initialised again at the
 * address of one the runtime bound (urt/slab_table.h; debug and ASan builds
 * stop with "a slab re-initialised while bound" instead), nothing changed.
 * Context: the runtime's thread, also from a poll or a drop.
 */
URT_NODISCARD static inline int urt_spawn_slab(const struct urt_task_type *type, const void *state,
					       size_t size, struct urt_join *join)
{
	struct urt_runtime *rt = urt__rt;
	struct urt_slab *s;
	struct urt_task *t;
	const char *src = (const char *)state;
	char *dst;
	uint32_t chunk;

	if (__builtin_expect(!rt || type != rt->fast_hdr.type || join ||
				     (size & ~(size_t)(URT__FAST_STATE - 8)) || (!state && size),
			     0))
		return urt__spawn_slab(type, state, size, join);
	s = rt->fast_slab;
	if (__builtin_expect(urt__slab_tls.table != rt->fast_table || urt__slab_tls.slab != s ||
				     urt__slab_shape(s) != rt->fast_shape ||
				     !(t = (struct urt_task *)urt__slab_pop(s, &chunk)),
			     0))
		return urt__spawn_slab(type, state, size, join);
	*t = rt->fast_hdr;
	t->state_size = (uint32_t)size;
	t->chunk = chunk;
	dst = (char *)(t + 1);
	/* word by word (unrolled for a constant size): the caller has just
	 * stored the state, and a wider load than its stores would wait for
	 * them to reach the cache instead of taking their data (about 10
	 * cycles a spawn, bench_rt) */
	for (size_t i = 0; i < size; i += 8)
		__builtin_memcpy(dst + i, src + i, 8);
	rt->fast_spawned++; /* one counter for two (see the field) */
	rt->active++;
	urt__runq_append(rt, t);
	return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* URT_RUNTIME_H */
