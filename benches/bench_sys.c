/* SPDX-License-Identifier: MIT */
/*
 * bench_sys - round trip of an empty job on the blocking pool: a task
 * submits a job that returns at once and awaits its result, N times in a
 * row (urt_blocking_run), against libuv's uv_queue_work doing the same from
 * its loop (the after-work callback queues the next), in the same run, with
 * the same pool size (4 workers). Each round trip is timed; the table gives
 * the median and p99 in ns per job and the ratio urt / libuv.
 *
 * What one round trip costs both: a mutex and a condition variable to hand
 * the job to a sleeping worker (a futex wake), and an eventfd write to wake
 * the loop parked in the kernel (io_uring_enter for urt, epoll_wait for
 * libuv). Goal: urt <= 1x libuv.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urt/urt.h>
#include <uv.h>

#include "bench_util.h"

#define JOBS   20000
#define WARMUP 1000

static double t_urt[JOBS], t_uv[JOBS];

/* --- urt -------------------------------------------------------------------- */

struct rt_state {
	struct urt_job job;
	int i;
	uint64_t t0;
	int64_t res;
};

static int64_t empty(void *arg)
{
	(void)arg;
	return 0;
}

static bool rt_poll(struct urt_task *t, void *arg)
{
	struct rt_state *st = arg;

	URT_BEGIN(t);
	for (st->i = -WARMUP; st->i < JOBS; st->i++) {
		st->t0 = now_ns();
		URT_AWAIT(t, st->res = urt_blocking_run(t, &st->job, empty, NULL, NULL));
		if (st->res)
			abort();
		if (st->i >= 0)
			t_urt[st->i] = (double)(now_ns() - st->t0);
	}
	URT_END(t);
}

static const struct urt_task_type rt_type = { .poll = rt_poll, .name = "bench" };

static int run_urt(void)
{
	struct urt_runtime rt;
	struct rt_state st = { 0 };
	int ret = urt_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 4 });

	if (ret)
		return ret;
	ret = urt_spawn(&rt, &rt_type, &st, sizeof(st), NULL);
	if (!ret)
		ret = urt_run(&rt);
	urt_runtime_deinit(&rt);
	return ret;
}

/* --- libuv ------------------------------------------------------------------- */

static uv_work_t req;
static int uv_i = -WARMUP;
static uint64_t uv_t0;

static void uv_empty(uv_work_t *r)
{
	(void)r;
}

static void uv_after(uv_work_t *r, int status)
{
	if (status)
		abort();
	if (uv_i >= 0)
		t_uv[uv_i] = (double)(now_ns() - uv_t0);
	if (++uv_i < JOBS) {
		uv_t0 = now_ns();
		uv_queue_work(r->loop, r, uv_empty, uv_after);
	}
}

static int run_uv(void)
{
	uv_loop_t loop;
	int ret;

	setenv("UV_THREADPOOL_SIZE", "4", 1);
	if ((ret = uv_loop_init(&loop)))
		return ret;
	uv_t0 = now_ns();
	uv_queue_work(&loop, &req, uv_empty, uv_after);
	ret = uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return ret;
}

int main(void)
{
	double mu, mv, pu, pv;
	int ret;

	/* libuv first, urt second, then once more each: the order shows up */
	for (int round = 0; round < 2; round++) {
		if ((ret = run_uv()) || (ret = run_urt())) {
			fprintf(stderr, "bench_sys: %s\n", strerror(ret < 0 ? -ret : ret));
			return 1;
		}
		uv_i = -WARMUP;
	}
	mu = pct(t_urt, JOBS, 50), pu = pct(t_urt, JOBS, 99);
	mv = pct(t_uv, JOBS, 50), pv = pct(t_uv, JOBS, 99);
	printf("empty job round trip, %d jobs one after another, 4 workers (ns/job)\n", JOBS);
	printf("| %-22s | %10s | %10s |\n", "", "median", "p99");
	printf("|%s|%s|%s|\n", "------------------------", "------------", "------------");
	printf("| %-22s | %10.0f | %10.0f |\n", "urt_blocking_run", mu, pu);
	printf("| %-22s | %10.0f | %10.0f |\n", "libuv uv_queue_work", mv, pv);
	printf("| %-22s | %9.2fx | %9.2fx |\n", "ratio urt / libuv", mu / mv, pu / pv);
	printf("goal: median ratio <= 1.00x: %s\n", mu <= mv ? "met" : "NOT met");
	return 0;
}
