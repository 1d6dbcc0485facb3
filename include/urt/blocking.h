/* SPDX-License-Identifier: MIT */
/*
 * urt/blocking.h - the blocking pool: run a function on a worker thread and
 * await its result from a task (tokio's spawn_blocking, libuv's
 * uv_queue_work). For calls that block and have no io_uring form:
 * getaddrinfo (urt/dns.h), a library that does its own I/O, a long
 * computation that would stall the loop.
 *
 *	static int64_t work(void *arg) { return expensive(arg); }
 *	...
 *	URT_AWAIT(t, st->res = urt_blocking_run(t, &st->job, work, st, NULL));
 *
 * Each runtime has its own pool: opts.blocking_threads workers (default 4),
 * started one by one as jobs find no idle worker, from the first job on,
 * and joined by urt_runtime_deinit; at most opts.blocking_queue jobs
 * (default 1024) queued or running at once. A runtime that never runs a
 * job starts no thread. (Per runtime, not per process: a runtime's jobs
 * are its own to drop and wait for at deinit, and one runtime's slow jobs
 * never queue another's. Workers block every signal.) Name lookups
 * (urt/dns.h) run on at most half the workers, (blocking_threads + 1) / 2,
 * as libuv's slow I/O: lookups against a name server that does not answer
 * (10 s and more each) never hold every worker, so other jobs (an
 * ftruncate on its fallback, the program's own) still run beside them.
 *
 * A job lives in a struct urt_job in the task's state (zeroed: idle). The
 * first evaluation queues it; fn(arg) runs on a worker; the result comes
 * back through the runtime's remote queue (one push, and a wake of the
 * loop only if it is parked: completions that land while it runs cost no
 * syscall); the evaluation after that returns it and leaves the job idle
 * for the next one. While the job is out the task counts as having work in
 * flight: urt_run waits for it, and the task's slot is held.
 *
 * Cancellation. A job ends in one of two ways: its task takes the result
 * (the await returns it; cleanup is not called, the result is the task's),
 * or it does not, and then cleanup(arg, res), if given, runs exactly once,
 * on the runtime's thread, to release what fn made:
 *   - the task's poll ends (it returned, or was aborted) or urt_job_cancel
 *     is called while the job is QUEUED: it is taken off the queue, fn never
 *     runs, cleanup(arg, -ECANCELED) runs at once;
 *   - ... while it is RUNNING: fn is not interrupted (a thread cannot be);
 *     when it returns, cleanup(arg, fn's result) runs on the runtime's
 *     thread, and only after that does the task's drop run and its slot
 *     get reclaimed: arg and everything in the state stay valid for fn;
 *   - ... after fn returned but before the task took the result:
 *     cleanup(arg, result) runs at once.
 * So a task's drop always runs after every cleanup of its jobs: drop need
 * not know where its jobs were. And so does its join: a task that gave up
 * a running job (urt_job_cancel, or an abort) and returned is done for its
 * joiner only when fn has returned and the cleanup ran (tokio's
 * JoinHandle of the async task would resolve at once). A coordinator that
 * must not wait for a slow fn should detach the task, not join it.
 *
 * Deinit: urt_runtime_deinit first drops every queued job (each cleanup
 * runs with -ECANCELED, when its task is torn down), waits for the running
 * ones to return (fn must return: deinit blocks until it does), joins the
 * workers, then tears the tasks down; every job's cleanup has run once by
 * the time deinit returns.
 *
 * Context: the runtime's thread, inside the task given as `t`; fn runs on
 * a worker thread and must not call into the runtime (use a remote waker
 * or urt_spawn_remote for that); cleanup runs on the runtime's thread
 * (inside a tick, or in deinit) and must not await.
 */
#ifndef URT_BLOCKING_H
#define URT_BLOCKING_H

#include <stdint.h>

#include "urt/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A job: in the task's state, zero-initialised (idle). Fields are the runtime's. */
struct urt_job {
	/* qnext first, not the message: `{ 0 }` on a state that starts with
	 * a job must not meet an _Atomic pointer (clang warns, and refuses it
	 * at file scope) */
	struct urt_job *qnext;	/* the pool's queue */
	struct urt__call call;	/* the completion message, posted by the worker */
	int64_t (*fn)(void *arg);
	void *arg;
	void (*cleanup)(void *arg, int64_t res);
	int64_t res;	/* fn's result, once back */
	uint32_t rec;	/* its op record while out or unread; 0: idle */
	uint8_t state;	/* URT__JOB_*, the runtime thread's */
	uint8_t queued; /* on the pool's queue (under the pool's lock) */
	uint8_t abandoned; /* nobody will take the result: cleanup it when back */
	uint8_t slow;	/* a lookup (urt/dns.h): at most half the workers run them */
};

/*
 * urt_blocking_run - awaitable: run fn(arg) on the runtime's blocking pool.
 * fn and arg must stay the same for every evaluation until the result is
 * returned (the job keeps those of the first one). cleanup may be NULL
 * (nothing to release when the result is not taken).
 * Return: fn's result, whatever it is (>= 0 or -errno, by fn's own
 * convention; never URT_PENDING); URT_PENDING while the job is out; or,
 * at the first evaluation, before anything ran:
 *   -EBUSY   opts.blocking_queue jobs are queued or running already (the
 *            pool does not wait for room: retry later, e.g. after a sleep);
 *            or the job was cancelled while running and fn has not returned
 *   -EAGAIN  no op record (opts.op_records) or no worker thread could be started
 *   -ENOMEM  out of memory (the pool's first use)
 *   -EINVAL  fn is NULL
 *   -ESRCH   no runtime on this thread
 *   -EPERM   called outside the poll of t (from a drop, or for another task)
 *   -EOPNOTSUPP  the runtime runs on the simulated kernel (urt/sim.h: a
 *            simulation is one thread, and a worker's timing would make
 *            its runs differ); so do urt_getaddrinfo and urt_dial there
 * If fn may itself return one of these, give it its own codes (or put its
 * result in arg) to tell them apart.
 */
int64_t urt_blocking_run(struct urt_task *t, struct urt_job *job, int64_t (*fn)(void *arg),
			 void *arg, void (*cleanup)(void *arg, int64_t res));

/*
 * urt_job_cancel - give up the job while the task goes on (a deadline
 * passed, say): queued, it is dropped and its cleanup runs now (-ECANCELED);
 * running, its cleanup runs when fn returns, and until then the job stays
 * busy (urt_blocking_run on it returns -EBUSY) and the task's drop waits;
 * back but unread, its cleanup runs now. An await on the job afterwards
 * starts a new job. From another task (or between ticks) the job's task
 * is woken if it waits on the job: its await runs again and starts one.
 * Return: 0; -EALREADY if the job is idle (or already cancelled).
 * Context: the runtime's thread.
 */
int urt_job_cancel(struct urt_job *job);

/* urt_job_busy - whether the job is out (queued, running, or unread). */
static inline bool urt_job_busy(const struct urt_job *job)
{
	return job->rec != 0;
}

#ifdef __cplusplus
}
#endif

#endif /* URT_BLOCKING_H */
