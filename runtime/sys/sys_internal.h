/* SPDX-License-Identifier: MIT */
/*
 * sys_internal.h - what the system facilities (runtime/sys/) share, and
 * what they offer the loop (runtime.c); not installed. sys sits on the I/O
 * layer (io_internal.h: op records hold a task's slot) and the executor
 * (the remote queue carries results back from other threads).
 */
#ifndef URT_SYS_INTERNAL_H
#define URT_SYS_INTERNAL_H

#include "../io/io_internal.h"
#include "urt/blocking.h"
#include "urt/dns.h"

/* --- blocking.c ---------------------------------------------------------- */

/* Job states (struct urt_job.state): the runtime thread's only. */
enum {
	URT__JOB_IDLE,
	URT__JOB_OUT,  /* queued or running (job->queued, under the pool's lock, says which) */
	URT__JOB_DONE, /* back on the owner thread: the result waits to be taken */
};

/*
 * urt_blocking_run, and whether the job is a name lookup (slow): those
 * run on at most (blocking_threads + 1) / 2 workers at once (blocking.c).
 */
URT_HIDDEN int64_t urt__blocking_run(struct urt_task *t, struct urt_job *job,
				     int64_t (*fn)(void *arg), void *arg,
				     void (*cleanup)(void *arg, int64_t res), bool slow);
/*
 * t's poll is over (it finished or was aborted), or deinit tears it down:
 * end every job of t (queued: dropped; running: abandoned, cleaned up when
 * back; back: cleaned up now). Called by the loop before the I/O layer
 * cancels t's other operations.
 */
URT_HIDDEN void urt__blocking_task_end(struct urt_runtime *rt, struct urt_task *t);
/*
 * deinit, first of all: drop the queued jobs (each becomes DONE with
 * -ECANCELED, for the teardown to clean up), wait for the running ones,
 * join the workers. Their results are on the remote queue, taken in by
 * urt__remote_deinit.
 */
URT_HIDDEN void urt__blocking_deinit(struct urt_runtime *rt);
/* deinit, after the teardown ended every job: free the pool. */
URT_HIDDEN void urt__blocking_free(struct urt_runtime *rt);

#endif /* URT_SYS_INTERNAL_H */
