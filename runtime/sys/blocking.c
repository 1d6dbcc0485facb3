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
 * Threads. The queues (two FIFOs, singly linked through job->qnext: name
 * lookups, job->slow, and every other job) and the QUEUED -> RUNNING step
 * are under the pool's mutex; at most (max + 1) / 2 lookups run at once
 * (job_take: libuv's cap on its slow I/O, for the same reason); everything
 * else about a job is the owner's. A worker pops a job, runs fn unlocked,
 * stores the result and posts the job's call message (urt__remote_post:
 * one push; an eventfd write only if the owner is parked, so a burst of
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
 * Operations of the I/O layer (urt__io_offload: urt_ftruncate where the
 * ring has no IORING_OP_FTRUNCATE) run here too, as "op jobs": a job whose
 * result goes into the op's handle instead of to urt_blocking_run. The op
 * handle has no room for a job, so op jobs come from the pool's own free
 * list (pages of 16, made on first use and freed at deinit; bounded with
 * every job by opts.blocking_queue). An op job ends one way whatever
 * happens: op->res gets the result (-ECANCELED if it never ran), the op is
 * DONE, its record ends, and the job goes back to the free list.
 *
 * Deinit (urt__blocking_deinit), before the remote queue closes: queued
 * jobs become DONE with -ECANCELED (their tasks are torn down next, which
 * cleans them up), workers finish their running job, post it and exit,
 * and are joined; urt__remote_deinit then takes those results in. The
 * pool itself (and the op jobs' pages) is freed last (urt__blocking_free),
 * once the teardown has ended every job.
 */
#include "sys_internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

struct opjob {
	struct urt_job job; /* first: an op job is its job */
	struct urt_op *op;
	int64_t (*fn)(const int64_t *a);
	int64_t a[3];
	struct opjob *free; /* the pool's free list */
};

#define OPJOB_PAGE 16
struct opjob_page {
	struct opjob_page *next;
	struct opjob j[OPJOB_PAGE];
};

struct urt__blocking {
	pthread_mutex_t mu;
	pthread_cond_t cv;	       /* workers wait here for a job or stop */
	struct urt_job *head, *tail;   /* queued jobs, FIFO */
	struct urt_job *shead, *stail; /* queued lookups (job->slow), FIFO */
	uint32_t nqueued;	       /* both queues */
	unsigned nthreads, nidle, max;
	unsigned slow_running, slow_max; /* lookups on a worker; at most (max + 1) / 2 */
	bool slow_last;			 /* the last job taken was a lookup */
	bool stop;
	struct urt_runtime *rt;
	pthread_t *threads; /* max entries */
	/* op jobs, the owner's only */
	struct opjob *opfree;
	struct opjob_page *pages;
};

static struct urt_job *job_of(struct urt__call *c)
{
	return (struct urt_job *)(void *)((char *)c - offsetof(struct urt_job, call));
}

/* --- workers ----------------------------------------------------------------- */

/* Whether a lookup may start now: one is queued and fewer than slow_max run. */
static bool slow_ready(const struct urt__blocking *p)
{
	return p->shead && p->slow_running < p->slow_max;
}

/*
 * The next job a worker runs, under the lock; NULL if none may run now.
 * Lookups (getaddrinfo) take at most half the workers, as libuv's "slow
 * I/O": a name server that does not answer holds a worker for 10 s or
 * more, and as many lookups as workers would stall every other job (an
 * ftruncate on the fallback, a program's own) that long. Between the two
 * queues the worker alternates, so neither starves the other.
 */
static struct urt_job *job_take(struct urt__blocking *p)
{
	struct urt_job *job;
	bool slow = slow_ready(p) && (!p->head || !p->slow_last);

	if (!slow && !p->head)
		return NULL;
	if (slow) {
		job = p->shead;
		p->shead = job->qnext;
		if (!p->shead)
			p->stail = NULL;
		p->slow_running++;
	} else {
		job = p->head;
		p->head = job->qnext;
		if (!p->head)
			p->tail = NULL;
	}
	p->slow_last = slow;
	p->nqueued--;
	return job;
}

static void *worker(void *arg)
{
	struct urt__blocking *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct urt_job *job;
		bool slow;

		while (!(job = job_take(p)) && !p->stop) {
			p->nidle++;
			pthread_cond_wait(&p->cv, &p->mu);
			p->nidle--;
		}
		if (!job) /* stopping, and deinit emptied the queues */
			break;
		slow = job->slow;
		/* atomic stores: the owner's debug frame check scans the state
		 * (relaxed loads) while the job is out */
		__atomic_store_n(&job->queued, 0, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&p->mu);
		__atomic_store_n(&job->res, job->fn(job->arg), __ATOMIC_RELAXED);
		urt__remote_post(p->rt, &job->call); /* job is the owner's from here */
		pthread_mutex_lock(&p->mu);
		if (slow) {
			p->slow_running--;
			/* a lookup held back by the cap may start: this worker
			 * may take a job of the other queue next */
			if (p->shead && p->nidle)
				pthread_cond_signal(&p->cv);
		}
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
	p->slow_max = (p->max + 1) / 2;
	p->rt = rt;
	rt->blocking = p;
	return p;
}

/* Queue job, waking or starting a worker. Return: 0; -EAGAIN (no worker at all). */
static int pool_push(struct urt__blocking *p, struct urt_job *job)
{
	int ret = 0;

	struct urt_job **head = job->slow ? &p->shead : &p->head;
	struct urt_job **tail = job->slow ? &p->stail : &p->tail;

	pthread_mutex_lock(&p->mu);
	job->qnext = NULL;
	job->queued = 1;
	if (*tail)
		(*tail)->qnext = job;
	else
		*head = job;
	*tail = job;
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
	struct urt_job **head = job->slow ? &p->shead : &p->head;
	struct urt_job **tail = job->slow ? &p->stail : &p->tail;
	struct urt_job **pp;
	bool found = false;

	pthread_mutex_lock(&p->mu);
	if (job->queued) {
		for (pp = head; *pp != job; pp = &(*pp)->qnext)
			;
		*pp = job->qnext;
		if (*tail == job) {
			*tail = NULL;
			for (struct urt_job *j = *head; j; j = j->qnext)
				*tail = j;
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

/* --- op jobs ----------------------------------------------------------------- */

static int64_t opjob_run(void *arg)
{
	struct opjob *oj = arg;

	return oj->fn(oj->a);
}

static bool is_opjob(const struct urt_job *job)
{
	return job->fn == opjob_run;
}

static struct opjob *opjob_get(struct urt__blocking *p)
{
	struct opjob *oj = p->opfree;

	if (URT_UNLIKELY(!oj)) {
		struct opjob_page *pg = calloc(1, sizeof(*pg));

		if (!pg)
			return NULL;
		pg->next = p->pages;
		p->pages = pg;
		for (unsigned i = 0; i < OPJOB_PAGE; i++) {
			pg->j[i].free = oj;
			oj = &pg->j[i];
		}
	}
	p->opfree = oj->free;
	return oj;
}

/* The op job's one end: the result into the op, the record ended (`wake`
 * as job_end), the job back to the free list. */
static void opjob_end(struct urt_runtime *rt, struct opjob *oj, int64_t res, bool wake)
{
	struct urt_op *op = oj->op; /* in the task's state, valid until reclaim (draining too) */

	op->res = (int32_t)res;
	op->cflags = 0;
	op->flags = 0;
	op->state = URT_OP_DONE;
	op->rec = 0;
	job_end(rt, &oj->job, wake);
	oj->free = rt->blocking->opfree;
	rt->blocking->opfree = oj;
}

/* The job is over without its task taking the result through
 * urt_blocking_run: its cleanup runs (an op job: the op gets res). */
static void job_finish(struct urt_runtime *rt, struct urt_job *job, int64_t res, bool wake)
{
	if (is_opjob(job)) {
		opjob_end(rt, (struct opjob *)(void *)job, res, wake);
		return;
	}
	job_cleanup(job, res);
	job_end(rt, job, wake);
}

/* A worker's result, taken in from the remote queue (owner thread). */
static void job_back(struct urt_runtime *rt, struct urt__call *c)
{
	struct urt_job *job = job_of(c);

	rt->jobs_out--;
	if (job->abandoned || is_opjob(job)) {
		/* nobody takes it (the task may be draining: it finishes now),
		 * or an op's, which takes its result as a completion */
		job_finish(rt, job, job->res, true);
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
		job_finish(rt, job, job->res, wake);
	} else if (rt->blocking && pool_unqueue(rt->blocking, job)) {
		rt->jobs_out--;
		job_finish(rt, job, -ECANCELED, wake);
	} else {
		job->abandoned = 1; /* running: job_back cleans it up */
	}
}

/* Queue job (fn, arg, cleanup and slow set) as t's, with a record of its
 * own. Return: URT_PENDING; -EAGAIN (no record, or no worker could start). */
static int64_t job_submit(struct urt_runtime *rt, struct urt__blocking *p, struct urt_task *t,
			  struct urt_job *job)
{
	int64_t idx;
	int ret;

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

/* The pool, if a job may be queued now. Return: it, or NULL with *err
 * (-EOPNOTSUPP on the simulated kernel, -EBUSY, -ENOMEM). */
static struct urt__blocking *pool_room(struct urt_runtime *rt, int *err)
{
	struct urt__blocking *p;

	if (URT_UNLIKELY(urt__simulated(rt))) { /* no threads in a simulation */
		*err = -EOPNOTSUPP;
		return NULL;
	}
	if (URT_UNLIKELY(rt->jobs_out >= rt->blocking_queue)) {
		*err = -EBUSY;
		return NULL;
	}
	p = pool_get(rt);
	if (URT_UNLIKELY(!p))
		*err = -ENOMEM;
	return p;
}

int64_t urt__blocking_run(struct urt_task *t, struct urt_job *job, int64_t (*fn)(void *arg),
			  void *arg, void (*cleanup)(void *arg, int64_t res), bool slow)
{
	struct urt_runtime *rt = urt__rt;
	struct urt__blocking *p;
	int64_t res;
	int err;

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
	p = pool_room(rt, &err);
	if (URT_UNLIKELY(!p))
		return err;
	job->fn = fn;
	job->arg = arg;
	job->cleanup = cleanup;
	job->slow = slow;
	return job_submit(rt, p, t, job);
}

int64_t urt_blocking_run(struct urt_task *t, struct urt_job *job, int64_t (*fn)(void *arg),
			 void *arg, void (*cleanup)(void *arg, int64_t res))
{
	return urt__blocking_run(t, job, fn, arg, cleanup, false);
}

int urt__io_offload(struct urt_runtime *rt, struct urt_task *t, struct urt_op *op,
		    int64_t (*fn)(const int64_t *a), const int64_t a[3])
{
	struct urt__blocking *p;
	struct opjob *oj;
	int64_t ret;
	int err;

	p = pool_room(rt, &err);
	if (URT_UNLIKELY(!p))
		return err;
	oj = opjob_get(p);
	if (URT_UNLIKELY(!oj))
		return -ENOMEM;
	oj->op = op;
	oj->fn = fn;
	memcpy(oj->a, a, sizeof(oj->a));
	oj->job.fn = opjob_run;
	oj->job.arg = oj;
	oj->job.cleanup = NULL;
	oj->job.slow = 0;
	ret = job_submit(rt, p, t, &oj->job);
	if (URT_UNLIKELY(ret != URT_PENDING)) {
		oj->free = p->opfree;
		p->opfree = oj;
		return (int)ret;
	}
	op->state = URT_OP_INFLIGHT;
	op->rec = oj->job.rec;
	op->gen = urt__rec_at(rt, op->rec)->gen;
	op->flags = 0;
	return URT_PENDING;
}

int urt__io_offload_cancel(struct urt_runtime *rt, uint32_t idx)
{
	struct urt_job *job = urt__rec_at(rt, idx)->ext;

	if (!is_opjob(job) || job->abandoned)
		return 0;	 /* urt_blocking_run's (urt_job_cancel), or asked already */
	job_drop(rt, job, true); /* queued: ends now, the task woken; running: abandoned */
	return 1;
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
	struct urt_job *queued[2];

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	queued[0] = p->head;
	queued[1] = p->shead;
	p->head = p->tail = p->shead = p->stail = NULL;
	p->nqueued = 0;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int q = 0; q < 2; q++) {
		for (struct urt_job *j = queued[q], *next; j; j = next) {
			next = j->qnext;
			rt->jobs_out--;
			j->queued = 0;
			j->res = -ECANCELED; /* never ran: the teardown cleans it up */
			j->state = URT__JOB_DONE;
		}
	}
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
}

void urt__blocking_free(struct urt_runtime *rt)
{
	struct urt__blocking *p = rt->blocking;

	if (!p)
		return;
	for (struct opjob_page *pg = p->pages, *next; pg; pg = next) {
		next = pg->next;
		free(pg);
	}
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
	rt->blocking = NULL;
}
