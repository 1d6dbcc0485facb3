/* SPDX-License-Identifier: MIT */
/*
 * bench_frame - what urt costs a frame of a program that owns its loop: the
 * time of urt_frame_begin + urt_tick(rt, 0) + urt_frame_end with nothing
 * ready, beside 100 and 10,000 idle tasks (parked on a oneshot nobody
 * sends), and with 100 reads in flight (pipes nobody writes: every tick
 * then asks the kernel for completions, one io_uring_enter). A tick with
 * nothing ready is shorter than a clock read, so ticks are timed in
 * batches of 100; the table gives the median and p99 over 400 batches of
 * the time per tick.
 *
 * Goal: under 1 us a frame with nothing ready.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urt/urt.h>

#include "bench_util.h"

#define BATCH	100 /* ticks timed together: one tick is below a clock read */
#define BATCHES 400

static double samples[BATCHES];

struct idle_state {
	struct urt_oneshot o;
	uint64_t v;
};

static bool idle_poll(struct urt_task *t, void *arg)
{
	struct idle_state *st = arg;

	URT_BEGIN(t);
	urt_oneshot_init(&st->o);
	URT_AWAIT(t, urt_oneshot_recv(t, &st->o, &st->v)); /* never sent: parked */
	URT_END(t);
}

static const struct urt_task_type idle_type = { .poll = idle_poll, .name = "idle" };

struct reader_state {
	int fd, ret;
	struct urt_op op;
	char c;
};

static bool reader_poll(struct urt_task *t, void *arg)
{
	struct reader_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_read(t, &st->op, st->fd, &st->c, 1, -1));
	URT_END(t);
}

static const struct urt_task_type reader_type = { .poll = reader_poll, .name = "reader" };

struct result {
	const char *what;
	double p50, p99;
};

static struct result measure(struct urt_runtime *rt, const char *what)
{
	for (int i = 0; i < 1000; i++) { /* settle: first polls, submissions */
		if (urt_frame_begin(rt) || urt_tick(rt, 0) < 0 || urt_frame_end(rt))
			abort();
	}
	for (int i = 0; i < BATCHES; i++) {
		uint64_t t0 = now_ns();

		for (int k = 0; k < BATCH; k++) {
			int a = urt_frame_begin(rt), b = urt_tick(rt, 0), c = urt_frame_end(rt);

			if (a || b < 0 || c)
				abort();
		}
		samples[i] = (double)(now_ns() - t0) / BATCH;
	}
	return (struct result){ what, pct(samples, BATCHES, 50), pct(samples, BATCHES, 99) };
}

static int spawn_idle(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct idle_state st = { 0 };

		if (urt_spawn_slab(&idle_type, &st, sizeof(st), NULL))
			return -1;
	}
	return 0;
}

int main(void)
{
	struct urt_runtime rt;
	struct result r[5];
	int pipes[100][2], n = 0;
	bool pass;

	if (urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_UNBOUNDED,
							    .slot_size = 128 })) {
		fprintf(stderr, "bench_frame: urt_runtime_init failed\n");
		return 1;
	}
	r[n++] = measure(&rt, "nothing at all");
	if (spawn_idle(100))
		return 1;
	r[n++] = measure(&rt, "100 idle tasks");
	if (spawn_idle(9900))
		return 1;
	r[n++] = measure(&rt, "10,000 idle tasks");
	for (int i = 0; i < 100; i++) {
		struct reader_state st = { 0 };

		if (pipe2(pipes[i], O_CLOEXEC))
			return 1;
		st.fd = pipes[i][0];
		if (urt_spawn_slab(&reader_type, &st, sizeof(st), NULL))
			return 1;
	}
	r[n++] = measure(&rt, "10,000 idle + 100 reads in flight");

	printf("bench_frame: urt_frame_begin + urt_tick(rt, 0) + urt_frame_end, per tick (%d "
	       "batches of %d)\n",
	       BATCHES, BATCH);
	printf("%-36s %10s %10s\n", "the runtime holds", "p50 ns", "p99 ns");
	for (int i = 0; i < n; i++)
		printf("%-36s %10.1f %10.1f\n", r[i].what, r[i].p50, r[i].p99);
	pass = r[0].p50 < 1000 && r[1].p50 < 1000 && r[2].p50 < 1000;
	printf("goal a frame with nothing ready under 1 us (p50: %.0f ns empty, %.0f ns with 100 "
	       "idle tasks, %.0f ns with 10,000): %s\n",
	       r[0].p50, r[1].p50, r[2].p50, pass ? "PASS" : "MISS");
	printf("note: with operations in flight a tick asks the kernel for completions (one "
	       "io_uring_enter): %.0f ns p50\n",
	       r[3].p50);

	(void)urt_runtime_deinit(&rt);
	for (int i = 0; i < 100; i++)
		close(pipes[i][0]), close(pipes[i][1]);
	return 0;
}
