/* SPDX-License-Identifier: MIT */
/*
 * urt-frame-loop - a program that owns its main loop (a game, a simulation)
 * and uses urt for its I/O without a second thread and without allocating
 * per frame.
 *
 *   urt-frame-loop [--hz 60] [--frames N] [--particles N] [--assets DIR]
 *                  [--port P] [--slow-ms MS] [--misuse KIND]
 *
 * Each frame: urt_frame_begin, urt_tick(rt, 0) (never blocks), take the
 * assets the loader tasks finished, simulate (a contact count over a
 * spatial grid built in frame memory), urt_frame_end, sleep to the next
 * frame boundary.
 *
 * Memory by class:
 *  - frame: the simulation's grid and scratch, every frame (urt_frame_alloc);
 *  - task: an asset's bytes, in its loader task (urt_task_alloc), read with
 *    io_uring; the loop borrows them through a channel and says when it is
 *    done (a oneshot), and only then does the task end and its memory go;
 *  - slab: the loader tasks themselves (urt_spawn_slab);
 *  - heap: the particles, allocated once before the loop.
 *
 * --misuse KIND runs one deliberately wrong task: frame-across-await (a
 * frame pointer kept in the state across an await), frame-captured-by-spawn
 * (a task spawned with a frame pointer in its state), frame-in-io-buffer (a
 * read into frame memory). Debug builds report the first two through the
 * debug hook; the third is refused with -EFAULT in every build.
 *
 * Output: one line a second on stderr; at the end one line on stdout:
 *   summary: frames N late L worst_us W warmup_frames F heap_calls_after_warmup H
 *            assets A/T exact E frame_reports R
 * Exit status: 0; 1 if an asset that arrived was not byte-exact (or failed
 * to load), or more than 1% of frames ran over their budget (the loop's own
 * check); 2 for bad flags.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <urt/urt.h>

#include "counting.h"
#include "flags.h"
#include "hist.h"

#define MAX_ASSETS   1024
#define LOADS_AHEAD  8 /* loader tasks at once */
#define WARMUP_AFTER 10 /* frames after the last asset before heap calls count */

struct asset {
	char path[256];
	uint64_t fnv;	/* of the bytes the loop received */
	uint32_t len;
	bool received;
	bool exact;
};

struct app {
	struct urt_runtime rt;
	struct counting heap; /* the runtime's backing allocator, counted */
	struct urt_chan done; /* loader -> loop: a loaded asset */
	struct asset assets[MAX_ASSETS];
	uint32_t nassets, next_asset, loading, loaded;
	unsigned slow_ms;
	const char *misuse;
	int misuse_result;
	bool quit;
	char gen_dir[64]; /* generated assets, removed at exit */
	char reports[4][160];
	unsigned nreports;
};

static struct app app;
static volatile sig_atomic_t signalled;

static void on_signal(int sig)
{
	(void)sig;
	signalled = 1;
}

/* The debug hook: the runtime's reports (frame checks) land here. */
static void on_report(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "urt-frame-loop: report: %s\n", msg);
	if (app.nreports < 4)
		snprintf(app.reports[app.nreports++], sizeof(app.reports[0]), "%s", msg);
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* --- loading assets: one task per file ------------------------------------- */

struct loader {
	uint32_t idx;
	int fd, ret;
	struct urt_op op;
	struct urt_io_all io;
	struct statx stx;
	unsigned char *data; /* urt_task_alloc: lives as long as this task */
	uint32_t len;
	struct urt_oneshot ack; /* the loop is done with data */
	uint64_t v;
};

static bool loader_poll(struct urt_task *t, void *arg)
{
	struct loader *l = arg;

	URT_BEGIN(t);
	if (app.slow_ms) /* a slow disk: the frames must not notice */
		URT_AWAIT(t, l->ret = urt_sleep(t, &l->op, app.slow_ms * 1000000ull));
	URT_AWAIT(t, l->fd = urt_openat(t, &l->op, AT_FDCWD, app.assets[l->idx].path,
					O_RDONLY | O_CLOEXEC, 0));
	if (l->fd < 0) {
		l->ret = l->fd;
		goto hand_over;
	}
	URT_AWAIT(t, l->ret = urt_statx(t, &l->op, l->fd, "", AT_EMPTY_PATH, STATX_SIZE, &l->stx));
	if (l->ret)
		goto close;
	l->len = (uint32_t)l->stx.stx_size;
	l->data = urt_task_alloc(t, l->len ? l->len : 1);
	if (!l->data) {
		l->ret = -ENOMEM;
		goto close;
	}
	URT_AWAIT(t, l->ret = urt_read_exact(t, &l->io, l->fd, l->data, l->len, 0));
close:
	URT_AWAIT(t, urt_close(t, &l->op, l->fd));
	l->fd = -1;
hand_over:
	urt_oneshot_init(&l->ack);
	URT_AWAIT(t, urt_chan_send(t, &app.done, (uint64_t)(uintptr_t)l));
	URT_AWAIT(t, urt_oneshot_recv(t, &l->ack, &l->v)); /* data is borrowed until then */
	URT_END(t);
}

static void loader_drop(struct urt_task *t, void *arg)
{
	struct loader *l = arg;

	(void)t;
	if (l->fd >= 0)
		close(l->fd);
}

static const struct urt_task_type loader_type = { .poll = loader_poll,
						  .drop = loader_drop,
						  .name = "asset-loader" };

static void start_loads(void)
{
	while (app.loading < LOADS_AHEAD && app.next_asset < app.nassets) {
		struct loader l = { .idx = app.next_asset, .fd = -1 };

		if (urt_spawn_slab(&loader_type, &l, sizeof(l), NULL))
			return; /* the slab is full: next frame */
		app.next_asset++;
		app.loading++;
	}
}

/* The loop's side: take what the loaders finished, use it, give it back. */
static void take_assets(void)
{
	uint64_t v;

	while (urt_chan_try_recv(&app.done, &v) == 0) {
		struct loader *l = (struct loader *)(uintptr_t)v;
		struct asset *a = &app.assets[l->idx];

		a->received = true;
		if (l->ret >= 0) {
			a->len = l->len;
			a->fnv = fnv1a(l->data, l->len);
		} else {
			fprintf(stderr, "urt-frame-loop: %s: %s\n", a->path, strerror(-l->ret));
		}
		app.loading--;
		app.loaded++;
		(void)urt_oneshot_send(&l->ack, 1); /* the task may end: its memory goes */
	}
}

/* Generated assets: files whose sizes and bytes follow from their index. */
static int generate_assets(unsigned n)
{
	snprintf(app.gen_dir, sizeof(app.gen_dir), "/tmp/urt-assets-XXXXXX");
	if (!mkdtemp(app.gen_dir))
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		struct asset *a = &app.assets[app.nassets++];
		size_t len = 1024 + (size_t)i * 2003;
		unsigned char *buf = malloc(len);
		int fd;

		if (!buf)
			return -ENOMEM;
		for (size_t k = 0; k < len; k++)
			buf[k] = (unsigned char)(i * 131 + k * 7 + (k >> 8));
		snprintf(a->path, sizeof(a->path), "%s/asset-%03u.bin", app.gen_dir, i);
		fd = open(a->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
			free(buf);
			return -EIO;
		}
		close(fd);
		free(buf);
	}
	return 0;
}

static void remove_generated(void)
{
	if (!app.gen_dir[0])
		return;
	for (uint32_t i = 0; i < app.nassets; i++)
		unlink(app.assets[i].path);
	rmdir(app.gen_dir);
}

static int list_assets(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return -errno;
	while ((e = readdir(d)) && app.nassets < MAX_ASSETS) {
		struct asset *a = &app.assets[app.nassets];
		struct stat st;

		if (snprintf(a->path, sizeof(a->path), "%s/%s", dir, e->d_name) >=
		    (int)sizeof(a->path))
			continue;
		if (stat(a->path, &st) || !S_ISREG(st.st_mode))
			continue;
		app.nassets++;
	}
	closedir(d);
	return 0;
}

/*
 * Byte-exact: after the loop, read every file again with plain read(2)
 * (outside the frames) and compare with what the loop received.
 */
static uint32_t verify_assets(void)
{
	uint32_t exact = 0;

	for (uint32_t i = 0; i < app.nassets; i++) {
		struct asset *a = &app.assets[i];
		int fd = open(a->path, O_RDONLY | O_CLOEXEC);
		unsigned char *buf = a->received ? malloc(a->len ? a->len : 1) : NULL;

		if (fd >= 0 && buf && read(fd, buf, a->len) == (ssize_t)a->len &&
		    read(fd, buf, 1) == 0 && fnv1a(buf, a->len) == a->fnv)
			a->exact = true;
		exact += a->exact;
		free(buf);
		if (fd >= 0)
			close(fd);
	}
	return exact;
}

/* --- the simulation: contacts among particles, in frame memory ------------- */

struct particle {
	float x, y, vx, vy;
};

#define GRID   64 /* cells per side of the unit square */
#define RADIUS (0.5f / GRID)

static unsigned simulate(struct particle *p, unsigned n, float dt)
{
	/* a counting sort of the particles into cells: all scratch is frame memory */
	uint32_t *start = urt_frame_alloc((GRID * GRID + 1) * sizeof(uint32_t), 64);
	uint32_t *order = urt_frame_alloc(n * sizeof(uint32_t), 64);
	uint16_t *cell = urt_frame_alloc(n * sizeof(uint16_t), 64);
	unsigned contacts = 0;

	if (!start || !order || !cell)
		return 0;
	memset(start, 0, (GRID * GRID + 1) * sizeof(uint32_t));
	for (unsigned i = 0; i < n; i++) {
		p[i].x += p[i].vx * dt;
		p[i].y += p[i].vy * dt;
		if (p[i].x < 0 || p[i].x >= 1)
			p[i].vx = -p[i].vx, p[i].x = p[i].x < 0 ? 0 : 0.999f;
		if (p[i].y < 0 || p[i].y >= 1)
			p[i].vy = -p[i].vy, p[i].y = p[i].y < 0 ? 0 : 0.999f;
		cell[i] = (uint16_t)((unsigned)(p[i].y * GRID) * GRID + (unsigned)(p[i].x * GRID));
		start[cell[i] + 1]++;
	}
	for (unsigned c = 0; c < GRID * GRID; c++)
		start[c + 1] += start[c];
	{
		uint32_t *fill = urt_frame_alloc(GRID * GRID * sizeof(uint32_t), 64);

		if (!fill)
			return 0;
		memcpy(fill, start, GRID * GRID * sizeof(uint32_t));
		for (unsigned i = 0; i < n; i++)
			order[fill[cell[i]]++] = i;
	}
	for (unsigned i = 0; i < n; i++) {
		int cx = (int)(p[i].x * GRID), cy = (int)(p[i].y * GRID);

		for (int dy = -1; dy <= 1; dy++)
			for (int dx = -1; dx <= 1; dx++) {
				int x = cx + dx, y = cy + dy;

				if (x < 0 || y < 0 || x >= GRID || y >= GRID)
					continue;
				for (uint32_t k = start[y * GRID + x]; k < start[y * GRID + x + 1]; k++) {
					unsigned j = order[k];
					float ddx = p[j].x - p[i].x, ddy = p[j].y - p[i].y;

					contacts += j > i && ddx * ddx + ddy * ddy < RADIUS * RADIUS;
				}
			}
	}
	return contacts;
}

/* --- misuse: one deliberately wrong task ------------------------------------------ */

struct misuse_state {
	char *scratch;
	struct urt_op op;
	int fd, ret;
};

static bool across_await_poll(struct urt_task *t, void *arg)
{
	struct misuse_state *m = arg;

	URT_BEGIN(t);
	m->scratch = urt_frame_alloc(64, 16);
	URT_AWAIT(t, m->ret = urt_sleep(t, &m->op, 1000000)); /* the frame ends here */
	m->scratch = NULL; /* not touched: it would be a read of a dead frame */
	URT_END(t);
}

static bool captured_poll(struct urt_task *t, void *arg)
{
	struct misuse_state *m = arg;

	URT_BEGIN(t);
	m->scratch = NULL; /* what the spawner put here died with its frame */
	URT_END(t);
}

static bool io_buffer_poll(struct urt_task *t, void *arg)
{
	struct misuse_state *m = arg;

	URT_BEGIN(t);
	m->scratch = urt_frame_alloc(4096, 16);
	m->ret = urt_read(t, &m->op, m->fd, m->scratch, 4096, 0); /* refused at submit */
	app.misuse_result = m->ret;
	m->scratch = NULL;
	close(m->fd);
	URT_END(t);
}

static const struct urt_task_type across_type = { .poll = across_await_poll,
						  .name = "misuse-frame-across-await" };
static const struct urt_task_type captured_type = { .poll = captured_poll,
						    .name = "misuse-frame-captured-by-spawn" };
static const struct urt_task_type io_buffer_type = { .poll = io_buffer_poll,
						     .name = "misuse-frame-in-io-buffer" };

/* Started inside the first frame. Return: 0; -errno if the spawn failed. */
static int start_misuse(void)
{
	struct misuse_state m = { .fd = -1 };

	if (!strcmp(app.misuse, "frame-across-await"))
		return urt_spawn(&app.rt, &across_type, &m, sizeof(m), NULL);
	if (!strcmp(app.misuse, "frame-captured-by-spawn")) {
		m.scratch = urt_frame_alloc(64, 16); /* the loop's frame memory ... */
		return urt_spawn(&app.rt, &captured_type, &m, sizeof(m), NULL); /* ... captured */
	}
	m.fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	app.misuse_result = 1;
	return urt_spawn(&app.rt, &io_buffer_type, &m, sizeof(m), NULL);
}

/* --- console: a line protocol on --port -------------------------------------------- */

struct console_conn {
	int fd, n, ret;
	struct urt_op rx;
	struct urt_io_all tx;
	struct urt_buf b;
	uint32_t used;
	char line[128], out[256];
};

static int stats_line(char *out, size_t cap);

static bool console_conn_poll(struct urt_task *t, void *arg)
{
	struct console_conn *c = arg;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, c->n = urt_recv_stream(t, &c->rx, c->fd, &c->b));
		if (c->n <= 0)
			break;
		c->out[0] = 0; /* a reply only for a line that ended in this chunk */
		for (uint32_t i = 0; i < c->b.len; i++) {
			char ch = c->b.data[i];

			if (ch != '\n' && c->used < sizeof(c->line) - 1) {
				c->line[c->used++] = ch;
				continue;
			}
			if (ch != '\n')
				continue; /* too long: the rest of the line is dropped */
			c->line[c->used && c->line[c->used - 1] == '\r' ? c->used - 1 : c->used] = 0;
			c->used = 0;
			if (!strcmp(c->line, "stats"))
				stats_line(c->out, sizeof(c->out));
			else if (!strcmp(c->line, "quit"))
				app.quit = true, snprintf(c->out, sizeof(c->out), "bye\n");
			else
				snprintf(c->out, sizeof(c->out), "commands: stats, quit\n");
			break; /* one command per chunk is plenty for a console */
		}
		urt_buf_free(&c->b);
		if (!c->out[0])
			continue; /* the line goes on in the next chunk */
		URT_AWAIT(t, c->ret = urt_send_all(t, &c->tx, c->fd, c->out, strlen(c->out)));
		if (c->ret < 0 || app.quit)
			break;
	}
	URT_AWAIT(t, urt_recv_stream_end(t, &c->rx, c->fd));
	URT_END(t);
}

static void console_conn_drop(struct urt_task *t, void *arg)
{
	struct console_conn *c = arg;

	(void)t;
	urt_buf_free(&c->b);
	urt_close_detached(c->fd);
}

static const struct urt_task_type console_conn_type = { .poll = console_conn_poll,
							.drop = console_conn_drop,
							.name = "console-conn" };

/* A console connection: a slab slot, or none (no more consoles). */
static int on_console(void *arg, int fd, struct urt_claim *claim)
{
	(void)arg; /* the acceptor reserved the slot before it accepted */
	memcpy(urt_claim_state(claim), &(struct console_conn){ .fd = fd },
	       sizeof(struct console_conn));
	return urt_claim_spawn(claim, &console_conn_type, NULL);
}

/* Slots hold a header (64 bytes) and a loader's or a console's state. */
#define MAX2(a, b) ((a) > (b) ? (a) : (b))
#define SLOT	   (64 + (MAX2(sizeof(struct loader), sizeof(struct console_conn)) + 15) / 16 * 16)

/* --- the loop ---------------------------------------------------------------------- */

static struct {
	uint64_t frames, late, heap_at_warmup, warmup_frames;
	struct hist frame, tick, sec_frame, sec_tick;
	uint64_t sec_frames, sec_heap, start;
} loop;

static int stats_line(char *out, size_t cap)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(&app.rt, &st);
	return snprintf(out, cap,
			"frames %llu late %llu frame_p50_us %.0f frame_p99_us %.0f worst_us %.0f "
			"assets %u/%u slab %zu ops %zu\n",
			(unsigned long long)loop.frames, (unsigned long long)loop.late,
			hist_us(&loop.frame, 0.5), hist_us(&loop.frame, 0.99),
			(double)loop.frame.max / 1000.0, app.loaded, app.nassets, st.slab_live,
			st.ops_live);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void per_second(uint64_t now, uint64_t *next_print)
{
	struct urt_runtime_stats st;
	size_t heap = atomic_load(&app.heap.calls);

	if (now < *next_print)
		return;
	urt_runtime_stats(&app.rt, &st);
	fprintf(stderr,
		"t=%llus frames %llu frame p50 %.0f us p99 %.0f us worst %.0f us | tick p50 %.1f "
		"us p99 %.1f us | frame arena high water %zu KiB | slab %zu/%zu ops %zu | heap "
		"calls/frame %.2f | assets %u/%u\n",
		(unsigned long long)((now - loop.start) / 1000000000u), (unsigned long long)loop.sec_frames, hist_us(&loop.sec_frame, 0.5),
		hist_us(&loop.sec_frame, 0.99), (double)loop.sec_frame.max / 1000.0,
		hist_us(&loop.sec_tick, 0.5), hist_us(&loop.sec_tick, 0.99),
		st.frame_high_water / 1024, st.slab_live, st.slab_capacity, st.ops_live,
		loop.sec_frames ? (double)(heap - loop.sec_heap) / (double)loop.sec_frames : 0.0,
		app.loaded, app.nassets);
	hist_reset(&loop.sec_frame);
	hist_reset(&loop.sec_tick);
	loop.sec_frames = 0;
	loop.sec_heap = heap;
	*next_print += 1000000000u;
}

static int run(unsigned hz, uint64_t frames, unsigned nparticles)
{
	uint64_t budget = 1000000000u / hz, next, next_print;
	struct particle *p = malloc(nparticles * sizeof(*p));
	uint64_t contacts = 0;
	bool warm = false;

	if (!p)
		return -ENOMEM;
	for (unsigned i = 0; i < nparticles; i++) {
		uint32_t r = i * 2654435761u;

		p[i] = (struct particle){ (float)(r % 1000) / 1000.0f, (float)((r >> 10) % 1000) / 1000.0f,
					  ((float)(r % 7) - 3) * 0.01f, ((float)(r % 5) - 2) * 0.01f };
	}
	next = loop.start = mono_ns();
	next_print = next + 1000000000u;
	for (loop.frames = 0; (!frames || loop.frames < frames) && !app.quit && !signalled;) {
		uint64_t t0 = mono_ns(), t1, t2;
		int n;

		if (urt_frame_begin(&app.rt))
			break;
		n = urt_tick(&app.rt, 0); /* never blocks the frame */
		t1 = mono_ns();
		if (n < 0) {
			fprintf(stderr, "urt-frame-loop: urt_tick: %s\n", strerror(-n));
			break;
		}
		if (app.misuse && loop.frames == 0 && start_misuse())
			fprintf(stderr, "urt-frame-loop: misuse task did not start\n");
		take_assets();
		start_loads();
		contacts += simulate(p, nparticles, 1.0f / (float)hz);
		urt_frame_end(&app.rt);
		t2 = mono_ns();
		loop.frames++;
		loop.sec_frames++;
		hist_add(&loop.frame, t2 - t0);
		hist_add(&loop.sec_frame, t2 - t0);
		hist_add(&loop.tick, t1 - t0);
		hist_add(&loop.sec_tick, t1 - t0);
		loop.late += t2 - t0 > budget;
		/* warm-up: every asset in, then a few frames for pools to settle */
		if (!warm && app.loaded == app.nassets && ++loop.warmup_frames > WARMUP_AFTER) {
			warm = true;
			loop.warmup_frames = loop.frames;
			loop.heap_at_warmup = atomic_load(&app.heap.calls);
		}
		per_second(t2, &next_print);
		next += budget;
		if (next > t2) {
			struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };

			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		} else {
			next = t2; /* behind: do not try to catch up with a burst */
		}
	}
	free(p);
	if (!warm)
		loop.heap_at_warmup = atomic_load(&app.heap.calls), loop.warmup_frames = loop.frames;
	fprintf(stderr, "urt-frame-loop: %llu contacts over the run\n", (unsigned long long)contacts);
	return 0;
}

/* --- command line -------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: urt-frame-loop [--hz 60] [--frames N] [--particles N] [--assets DIR]\n"
		"                      [--port P] [--slow-ms MS] [--misuse KIND]\n"
		"  --hz N         frames per second (default 60)\n"
		"  --frames N     stop after N frames (default: until SIGINT or `quit`)\n"
		"  --particles N  simulated particles a frame (default 4096)\n"
		"  --assets DIR   files to stream in (default: a generated set of 32)\n"
		"  --port P       a line console on 127.0.0.1:P (stats, quit); 0 picks one\n"
		"  --slow-ms MS   each asset load first waits MS ms (a slow disk)\n"
		"  --misuse KIND  frame-across-await | frame-captured-by-spawn | frame-in-io-buffer\n");
}

#define bad(msg, arg) flag_bad("urt-frame-loop", msg, arg)

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "hz", required_argument, 0, 'z' },	    { "frames", required_argument, 0, 'f' },
		{ "particles", required_argument, 0, 'n' }, { "assets", required_argument, 0, 'a' },
		{ "port", required_argument, 0, 'p' },	    { "slow-ms", required_argument, 0, 's' },
		{ "misuse", required_argument, 0, 'm' },    { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint64_t hz = 60, frames = 0, particles = 4096, port = 0, v;
	const char *assets = NULL;
	bool console = false;
	struct urt_runtime_stats st;
	uint32_t exact;
	int c, ret, lfd = -1;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'z':
			if (!flag_uint(optarg, 1, 1000, &hz))
				return bad("bad --hz", optarg);
			break;
		case 'f':
			if (!flag_uint(optarg, 1, 100000000, &frames))
				return bad("bad --frames", optarg);
			break;
		case 'n':
			if (!flag_uint(optarg, 1, 1 << 20, &particles))
				return bad("bad --particles", optarg);
			break;
		case 'a':
			assets = optarg;
			break;
		case 'p':
			if (!flag_uint(optarg, 0, 65535, &port))
				return bad("bad --port", optarg);
			console = true;
			break;
		case 's':
			if (!flag_uint(optarg, 0, 60000, &v))
				return bad("bad --slow-ms", optarg);
			app.slow_ms = (unsigned)v;
			break;
		case 'm':
			if (strcmp(optarg, "frame-across-await") && strcmp(optarg, "frame-captured-by-spawn") &&
			    strcmp(optarg, "frame-in-io-buffer"))
				return bad("unknown --misuse", optarg);
			app.misuse = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return bad("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument", argv[optind]);

	counting_init(&app.heap);
	ret = urt_runtime_init(&app.rt, &(struct urt_runtime_opts){
						.slab = URT_SLAB_BOUNDED,
						.slot_size = SLOT,
						.slab_slots = 64,
						.frame_size = 256 * 1024,
						.allocator = &app.heap.al,
						.debug_hook = on_report,
					});
	if (ret) {
		fprintf(stderr, "urt-frame-loop: urt_runtime_init: %s\n", strerror(-ret));
		return 1;
	}
	if (urt_chan_init(&app.done, LOADS_AHEAD, NULL)) {
		fprintf(stderr, "urt-frame-loop: out of memory\n");
		return 1;
	}
	ret = assets ? list_assets(assets) : generate_assets(32);
	if (ret) {
		fprintf(stderr, "urt-frame-loop: assets: %s\n", strerror(-ret));
		remove_generated();
		return 1;
	}
	if (console) {
		uint16_t bound;

		lfd = urt_listen_tcp("127.0.0.1", (uint16_t)port, 16, 0, &bound);
		if (lfd < 0) {
			fprintf(stderr, "urt-frame-loop: listen: %s\n", strerror(-lfd));
			remove_generated();
			return 1;
		}
		printf("listening on 127.0.0.1:%u\n", bound);
		fflush(stdout);
		if (urt_acceptor_start(&app.rt,
				       &(struct urt_acceptor_opts){ .lfd = lfd,
								    .on_conn = on_console,
								    .stop = &app.quit },
				       NULL))
			fprintf(stderr, "urt-frame-loop: console did not start\n");
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	run((unsigned)hz, frames, (unsigned)particles);

	urt_runtime_stats(&app.rt, &st);
	if (app.misuse) {
		if (!strcmp(app.misuse, "frame-in-io-buffer"))
			printf("misuse frame-in-io-buffer: urt_read into frame memory returned %d (%s)\n",
			       app.misuse_result,
			       app.misuse_result < 0 ? strerror(-app.misuse_result) : "not refused");
		else if (!(st.features & URT_FEAT_DEBUG_CHECKS))
			printf("misuse %s: no report: this build has no debug checks (use the "
			       "debug or asan preset)\n",
			       app.misuse);
		for (unsigned i = 0; i < app.nreports; i++)
			printf("misuse %s: reported: %s\n", app.misuse, app.reports[i]);
	}
	exact = verify_assets();
	printf("summary: frames %llu late %llu worst_us %.0f warmup_frames %llu "
	       "heap_calls_after_warmup %zu assets %u/%u exact %u frame_reports %llu\n",
	       (unsigned long long)loop.frames, (unsigned long long)loop.late,
	       (double)loop.frame.max / 1000.0, (unsigned long long)loop.warmup_frames,
	       atomic_load(&app.heap.calls) - loop.heap_at_warmup, app.loaded, app.nassets, exact,
	       (unsigned long long)st.frame_reports);
	(void)urt_runtime_deinit(&app.rt);
	urt_chan_deinit(&app.done);
	if (lfd >= 0)
		close(lfd);
	remove_generated();
	/* an asset the run ended before is not a failure; a wrong one is */
	return exact == app.loaded && loop.late * 100 <= loop.frames ? 0 : 1;
}
