/* SPDX-License-Identifier: MIT */
/*
 * blocking.c - the blocking pool: worker threads that run a task's
 * function and hand the result back (urt/blocking.h).
 *
 * A job is in flight as an op record of kind URT__REC_JOB linked on its
 * task (rec->ext points at the job): that is what makes the runtime treat
 * it like an I/O operation. The reclaim rule (t->ops == 0) holds the
 * task's slot, a task whose poll is over drains (its drop waits) until the
 * record ends, and the record limit bounds jobs as it bounds operations.
 * The record lives from submission until the task takes the result, or
 * until the job's cleanup has run, so an unread result is never lost: the
 * end of the task's poll finds it on t->ops and cleans it up.
 *
 * Threads. The queue (FIFO, singly linked through job->qnext) and the
 * QUEUED -> RUNNING step are under the pool's mutex; everything else about
 * a job is the owner's. A worker pops a job, runs fn unlocked, stores
 * the result and posts the job's call message (urt__remote_post: one
 * push; an eventfd write only if the owner is parked, so a burst of
 * completions wakes the loop once). After the post the worker never
 * touches the job again: the owner may reuse or free it at once. The
 * owner learns the result when it drains the remote queue (job_back):
 * abandoned -> cleanup, record ends; else DONE and the task is woken.
 *
 * Bound: rt->jobs_out counts jobs queued or running (owner only: up at
 * submit, down when a job comes back or is taken off the queue); a submit
 * at opts.blocking_queue is refused with -EBUSY. Workers start lazily: a
 * submit that finds fewer idle workers than queued jobs starts one more,
 * up to opts.blocking_threads.
 *
 * Deinit (urt__blocking_deinit), before the remote queue closes: queued
 * jobs become DONE with -ECANCELED (their tasks are torn down next, which
 * cleans them up), workers finish their running job, post it and exit,
 * and are joined; urt__remote_deinit then takes those results in.
 */
#include "sys_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>

struct urt__blocking {
	pthread_mutex_t mu;
	pthread_cond_t cv;	     /* workers wait here for a job or stop */
	struct urt_job *head, *tail; /* queued jobs, FIFO */
	uint32_t nqueued;
	unsigned nthreads, nidle, max;
	bool stop;
	struct urt_runtime *rt;
	pthread_t *threads; /* max entries */
};

_Static_assert(offsetof(struct urt_job, call) == 0, "a job is its call message");

static struct urt_job *job_of(struct urt__call *c)
{
	return (struct urt_job *)(void *)c;
}

/* --- workers ----------------------------------------------------------------- */

static void *worker(void *arg)
{
	struct urt__blocking *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct urt_job *job;

		while (!p->head && !p->stop) {
			p->nidle++;
			pthread_cond_wait(&p->cv, &p->mu);
			p->nidle--;
		}
		if (!p->head) /* stopping, and deinit emptied the queue */
			break;
		job = p->head;
		p->head = job->qnext;
		if (!p->head)
			p->tail = NULL;
		p->nqueued--;
		/* atomic stores: the owner's debug frame check scans the state
		 * (relaxed loads) while the job is out */
		__atomic_store_n(&job->queued, 0, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&p->mu);
		__atomic_store_n(&job->res, job->fn(job->arg), __ATOMIC_RELAXED);
		urt__remote_post(p->rt, &job->call); /* job is the owner's from here */
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* One more worker, signals blocked (they are the program's threads' to
 * take). Under the pool lock. Return: 0; -errno from pthread_create. */
static int worker_start(struct urt__blocking *p)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&p->threads[p->nthreads], NULL, worker, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		return -ret;
	p->nthreads++;
	return 0;
}

static struct urt__blocking *pool_get(struct urt_runtime *rt)
{
	struct urt__blocking *p = rt->blocking;

	if (URT_LIKELY(p))
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->threads = calloc(rt->blocking_threads, sizeof(pthread_t));
	if (!p->threads) {
		free(p);
		return NULL;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->max = rt->blocking_threads;
	p->rt = rt;
	rt->blocking = p;
	return p;
}

/* Queue job, waking or starting a worker. Return: 0; -EAGAIN (no worker at all). */
static int pool_push(struct urt__blocking *p, struct urt_job *job)
{
	int ret = 0;

	pthread_mutex_lock(&p->mu);
	job->qnext = NULL;
	job->queued = 1;
	if (p->tail)
		p->tail->qnext = job;
	else
		p->head = job;
	p->tail = job;
	p->nqueued++;
	if (p->nidle)
		pthread_cond_signal(&p->cv);
	if (p->nidle < p->nqueued && p->nthreads < p->max && worker_start(p) && !p->nthreads)
		ret = -EAGAIN;
	pthread_mutex_unlock(&p->mu);
	return ret;
}

/* Take job off the queue. Return: true if it was still queued (it never runs). */
static bool pool_unqueue(struct urt__blocking *p, struct urt_job *job)
{
	struct urt_job **pp;
	bool found = false;

	pthread_mutex_lock(&p->mu);
	if (job->queued) {
		for (pp = &p->head; *pp != job; pp = &(*pp)->qnext)
			;
		*pp = job->qnext;
		if (p->tail == job) {
			p->tail = NULL;
			for (struct urt_job *j = p->head; j; j = j->qnext)
				p->tail = j;
		}
		p->nqueued--;
		job->queued = 0;
		found = true;
	}
	pthread_mutex_unlock(&p->mu);
	return found;
}

/* --- the owner's side ---------------------------------------------------------- */

/* The job's record ends: the job is idle; `wake`: through urt__rec_done
 * (a draining task is finished, a live one woken), else silently (the
 * caller is the task's own poll, or the end of it). */
static void job_end(struct urt_runtime *rt, struct urt_job *job, bool wake)
{
	uint32_t idx = job->rec;

	job->rec = 0;
	job->state = URT__JOB_IDLE;
	job->abandoned = 0;
	rt->jobs_live--;
	if (wake) {
		urt__rec_done(rt, idx);
	} else {
		urt__rec_unlink(rt, idx);
		urt__rec_free(rt, idx);
	}
}

static void job_cleanup(struct urt_job *job, int64_t res)
{
	if (job->cleanup)
		job->cleanup(job->arg, res);
}

/* A worker's result, taken in from the remote queue (owner thread). */
static void job_back(struct urt_runtime *rt, struct urt__call *c)
{
	struct urt_job *job = job_of(c);

	rt->jobs_out--;
	if (job->abandoned) {
		job_cleanup(job, job->res);
		job_end(rt, job, true); /* the task may be draining: it finishes now */
		return;
	}
	job->state = URT__JOB_DONE;
	urt_task_wake(urt__rec_at(rt, job->rec)->task);
}

/* Let go of the job without its task taking the result (see the header). */
static void job_drop(struct urt_runtime *rt, struct urt_job *job, bool wake)
{
	if (job->abandoned)
		return; /* running, cleaned up when back */
	if (job->state == URT__JOB_DONE) {
		job_cleanup(job, job->res);
		job_end(rt, job, wake);
	} else if (rt->blocking && pool_unqueue(rt->blocking, job)) {
		rt->jobs_out--;
		job_cleanup(job, -ECANCELED);
		job_end(rt, job, wake);
	} else {
		job->abandoned = 1; /* running: job_back cleans it up */
	}
}

static int64_t job_submit(struct urt_runtime *rt, struct urt_task *t, struct urt_job *job)
{
	struct urt__blocking *p;
	int64_t idx;
	int ret;

	if (URT_UNLIKELY(rt->jobs_out >= rt->blocking_queue))
		return -EBUSY;
	p = pool_get(rt);
	if (URT_UNLIKELY(!p))
		return -ENOMEM;
	idx = urt__rec_alloc(rt, URT__REC_JOB);
	if (URT_UNLIKELY(idx < 0))
		return idx;
	urt__rec_at(rt, (uint32_t)idx)->ext = job;
	urt__rec_link(rt, t, (uint32_t)idx);
	job->rec = (uint32_t)idx;
	job->state = URT__JOB_OUT;
	job->abandoned = 0;
	job->call.fn = job_back;
	rt->jobs_live++;
	rt->jobs_out++;
	ret = pool_push(p, job);
	if (URT_UNLIKELY(ret)) { /* no worker could start: nothing will run it */
		pool_unqueue(p, job);
		rt->jobs_out--;
		job_end(rt, job, false);
		return ret;
	}
	return URT_PENDING;
}

int64_t urt_blocking_run(struct urt_task *t, struct urt_job *job, int64_t (*fn)(void *arg),
			 void *arg, void (*cleanup)(void *arg, int64_t res))
{
	struct urt_runtime *rt = urt__rt;
	int64_t res;

	if (job->rec) {
		if (job->abandoned)
			return -EBUSY; /* cancelled, fn still running */
		if (job->state != URT__JOB_DONE)
			return URT_PENDING; /* a wake from another source */
		res = job->res;
		job_end(rt, job, false);
		return res;
	}
	if (URT_UNLIKELY(!rt))
		return -ESRCH;
	if (URT_UNLIKELY(!t || t != rt->polling))
		return -EPERM;
	if (URT_UNLIKELY(!fn))
		return -EINVAL;
	job->fn = fn;
	job->arg = arg;
	job->cleanup = cleanup;
	return job_submit(rt, t, job);
}

int urt_job_cancel(struct urt_job *job)
{
	struct urt_runtime *rt = urt__rt;

	if (!rt || !job->rec || job->abandoned)
		return -EALREADY;
	/* Called from the job's own task (in its poll) nobody needs a wake; from
	 * another task or between ticks the owner may be parked on this very
	 * job, and a record that ends silently would leave it parked for good:
	 * wake it so it re-evaluates its await. */
	job_drop(rt, job, urt__rec_at(rt, job->rec)->task != rt->polling);
	return 0;
}

void urt__blocking_task_end(struct urt_runtime *rt, struct urt_task *t)
{
	uint32_t idx = t->ops;

	while (idx) {
		struct urt__rec *r = urt__rec_at(rt, idx);

		idx = r->next; /* r may end here */
		if (r->kind == URT__REC_JOB)
			job_drop(rt, r->ext, false);
	}
}

void urt__blocking_deinit(struct urt_runtime *rt)
{
	struct urt__blocking *p = rt->blocking;
	struct urt_job *queued;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	queued = p->head;
	p->head = p->tail = NULL;
	p->nqueued = 0;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (struct urt_job *j = queued, *next; j; j = next) {
		next = j->qnext;
		rt->jobs_out--;
		j->queued = 0;
		j->res = -ECANCELED; /* never ran: the teardown cleans it up */
		j->state = URT__JOB_DONE;
	}
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
	rt->blocking = NULL;
}
