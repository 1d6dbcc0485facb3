/* SPDX-License-Identifier: MIT */
/*
 * urt-attack - one cell of the attack x server matrix, or the matrix.
 *
 *   urt-attack --server echo|http|kv --attack NAME --port P --pid PID --log FILE [...]
 *   urt-attack --report CELLS [--bench]
 *   urt-attack --list
 *
 * tests/attack/run.sh starts each server (fresh for each cell, with its
 * default byte and count limits and only its time limits shortened) and
 * runs one cell against it; the cell prints one tab-separated "cell" line.
 * --report reads those lines and prints the matrix (test mode: exit 1 on a
 * FAIL or a missing cell) or, with --bench, the table of figures.
 *
 * A cell: well-behaved clients (struct wb) loop beside the attack; the
 * attack runs for a bounded time with a fresh client's first request in
 * its middle; then the server's stats line and /proc figures are read while
 * the attack's connections are still open; then those connections fall
 * silent and the server must close them by its deadlines (its "live" count
 * drops to the well-behaved clients'); then a fresh client must be served.
 * Outcomes, not speeds, decide PASS: every well-behaved request answered
 * within --deadline-ms, buffers held (bufs_free_low) within seven eighths
 * of the ring (the runtime keeps an eighth free)
 * plus --held-slack, RSS growth within --rss-growth-max, the server alive.
 * The speeds (req/s with and without the attack, the ratio, the first
 * request's latency) are printed for --bench. Two cells measure time
 * because what they assert is time: the colliding keys (inserting N
 * colliding keys must not take --collide-ratio (3) times the server CPU of N random
 * ones: quadratic against linear) and descriptor exhaustion (the server's
 * CPU over an idle second, not spinning).
 */
#define _GNU_SOURCE
#include "attack.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const struct attack attacks[] = {
	{ "nonreaders", attack_nonreaders },	 { "blank-flood", attack_blank_flood },
	{ "header-flood", attack_header_flood }, { "slow-readers", attack_slow_readers },
	{ "slowloris", attack_slowloris },	 { "collide", attack_collide },
	{ "reset", attack_reset },		 { "fd-exhaust", attack_fd_exhaust },
	{ "malformed", attack_malformed },
	/* the same 400 clients against a server with --fixed-fds: its table
	 * of direct descriptors (capped at the same ulimit) is the limit */
	{ "fd-exhaust-fixed", attack_fd_exhaust },
};
#define NATTACKS (sizeof(attacks) / sizeof(attacks[0]))
static const char *const servers[] = { "echo", "http", "kv" };

void cell_fail(struct cell *c, const char *fmt, ...)
{
	size_t n = strlen(c->why);
	va_list ap;

	if (n && n < sizeof(c->why) - 3)
		n += (size_t)snprintf(c->why + n, sizeof(c->why) - n, "; ");
	va_start(ap, fmt);
	vsnprintf(c->why + n, sizeof(c->why) - n, fmt, ap);
	va_end(ap);
}

void cell_fresh(struct cell *c)
{
	char why[160];

	if (fresh_request(c->kind, c->cfg->port, c->cfg->deadline_ms, &c->fresh_us, why,
			  sizeof(why)))
		cell_fail(c, "during the attack: %s", why);
}

void cell_snapshot(struct cell *c)
{
	const struct cfg *g = c->cfg;
	struct srv_stats s;
	struct proc_mem m;
	int r;

	c->ok_attack = atomic_load(&c->wb.ok) - c->ok_at_start;
	c->ms_attack = now_ms() - c->t_start;
	if (proc_mem(g->pid, &m)) {
		cell_fail(c, "server gone during the attack");
		return;
	}
	c->rss_growth_kb = (m.hwm_kb > m.rss_kb ? m.hwm_kb : m.rss_kb) - c->rss0_kb;
	if (c->rss_growth_kb * 1024 > g->rss_growth_max)
		cell_fail(c, "RSS grew %ld KiB (peak), bound %lld KiB", c->rss_growth_kb,
			  (long long)(g->rss_growth_max / 1024));
	r = srv_stats(g->pid, g->log, &s);
	if (r) {
		cell_fail(c, "no stats line on SIGUSR1: %s", strerror(-r));
		return;
	}
	if (s.free_low < 0) {
		cell_fail(c, "no bufs_free_low N/M in the stats line");
		return;
	}
	c->held = s.buf_total - s.free_low;
	c->buf_total = s.buf_total;
	/* the runtime keeps an eighth of the ring free, but for one
	 * completion's buffers in flight (include/urt/net.h) */
	if (c->held > s.buf_total - s.buf_total / 8 + g->held_slack)
		cell_fail(c, "ring: %ld of %ld buffers held at worst (bound %ld)", c->held,
			  s.buf_total, s.buf_total - s.buf_total / 8 + g->held_slack);
}

/*
 * The attack's connections are silent (or closed): the server must be back
 * to the well-behaved clients' connections. Without w, within ms. With w
 * (the attack's connections, still open on our side), within ms of when
 * each stopped moving: until the kernels' buffers between a non-reader and
 * the server are full (some MiB each way, with the host's default socket
 * sizes) the server's sends complete and its deadlines rightly do not
 * start, and how long those bytes take is the server's speed, which a
 * loaded host divides (200 non-readers of urt-echo: 800 MB, under 3 s on
 * an idle host and over 10 s at a load of 13). A connection the server
 * holds still for ms, or connections it counts that none of w's are,
 * fail; so does one still moving at SETTLE_MAX times ms.
 */
#define SETTLE_MAX 20

void cell_await_closed(struct cell *c, int ms, const char *what, struct watch *w)
{
	int64_t start = now_ms(), deadline = start + (int64_t)ms * (w ? SETTLE_MAX : 1);
	int64_t still = 0;
	struct srv_stats s = { .live = -1 };
	long want = c->wb.n + 1;
	int open = -1;

	while (now_ms() < deadline) {
		if (srv_stats(c->cfg->pid, c->cfg->log, &s))
			break;
		if (s.live >= 0 && s.live <= want)
			return;
		if (w && (open = watch_poll(w, c->cfg->port, &still)) < 0)
			w = NULL, deadline = start + ms; /* no /proc/net/tcp: ms in all */
		if (w && (still > ms || (!open && now_ms() - w->last > ms)))
			break;
		sleep_ms(250);
	}
	if (s.live < 0)
		cell_fail(c, "no live count in the stats line");
	else if (w && open > 0 && still > ms)
		cell_fail(c,
			  "%ld connections still open %" PRId64 " ms after %s: %d of the attack's, "
			  "one of them not moving for %" PRId64 " ms",
			  s.live - c->wb.n, now_ms() - start, what, open, still);
	else if (w && open > 0)
		cell_fail(c, "%d of the attack's connections still moving %" PRId64 " ms after %s",
			  open, now_ms() - start, what);
	else if (w)
		cell_fail(c,
			  "%ld connections still open %" PRId64 " ms after %s, %" PRId64
			  " ms after the attack's last one closed",
			  s.live - c->wb.n, now_ms() - start, what, now_ms() - w->last);
	else
		cell_fail(c, "%ld connections still open %d ms after %s", s.live - c->wb.n, ms,
			  what);
}

/* the longest of the server's deadlines, and some */
int cell_close_ms(const struct cell *c)
{
	const struct cfg *g = c->cfg;
	int m = g->idle_ms > g->send_ms ? g->idle_ms : g->send_ms;

	if (c->kind == SRV_HTTP && g->head_ms > m)
		m = g->head_ms;
	return m + g->grace_ms;
}

static void cell_print(struct cell *c, const char *attack)
{
	char status[700];
	double base = c->ms_base ? c->ok_base * 1000.0 / (double)c->ms_base : 0;
	double atk = c->ms_attack ? c->ok_attack * 1000.0 / (double)c->ms_attack : 0;

	if (c->na)
		snprintf(status, sizeof(status), "n/a(%s)", c->na);
	else if (c->why[0])
		snprintf(status, sizeof(status), "FAIL(%s)", c->why);
	else
		snprintf(status, sizeof(status), "PASS");
	printf("cell\t%s\t%s\t%s\t%.0f\t%.0f\t%ld\t%.1f\t%ld\t%ld\n", attack,
	       servers[c->kind], status, base, atk, c->rss_growth_kb, c->fresh_us / 1000.0,
	       c->held, c->buf_total);
	fflush(stdout);
}

/*
 * --throttle: the server stopped (SIGSTOP) for pct% of every 200 ms and
 * let go (SIGCONT) for the rest, the share of the CPU a loaded host
 * leaves it, without loading the host. Each stop is shorter than two of
 * the servers' sweeper ticks, so their deadlines' clocks run on as they
 * would under load (examples/idle.h). The well-behaved clients sleep
 * --idle-ms after each round meanwhile, as a starved client would.
 */
struct throttle {
	pid_t pid;
	int pct;
	atomic_bool stop;
	pthread_t th;
};

static void *throttle_main(void *arg)
{
	struct throttle *t = arg;

	while (!atomic_load(&t->stop)) {
		kill(t->pid, SIGSTOP);
		sleep_ms(2 * t->pct);
		kill(t->pid, SIGCONT);
		sleep_ms(2 * (100 - t->pct));
	}
	return NULL;
}

static void throttle_start(struct throttle *t, pid_t pid, int pct)
{
	t->pid = pid;
	t->pct = pct;
	atomic_store(&t->stop, pct <= 0);
	if (pct > 0 && pthread_create(&t->th, NULL, throttle_main, t))
		t->pct = 0;
}

static void throttle_stop(struct throttle *t)
{
	if (t->pct <= 0)
		return;
	atomic_store(&t->stop, true);
	pthread_join(t->th, NULL);
	kill(t->pid, SIGCONT);
}

static int run_cell(struct cfg *g, const struct attack *a, enum srv_kind k)
{
	struct throttle th;
	struct cell c = { .cfg = g, .kind = k, .held = -1, .buf_total = -1, .fresh_us = -1 };
	struct proc_mem m;
	char why[160];
	int64_t us;

	c.na = a->run(&c, ATTACK_APPLIES);
	if (c.na) {
		cell_print(&c, a->name);
		return 0;
	}
	if (a->run(&c, ATTACK_SETUP) || proc_mem(g->pid, &m)) {
		cell_fail(&c, "setup failed%s", c.why[0] ? "" : ": server gone");
		cell_print(&c, a->name);
		return 1;
	}
	c.rss0_kb = m.rss_kb;
	throttle_start(&th, g->pid, g->throttle_pct);
	/* a loaded host starves the clients too: a round's connections wait idle
	 * for longer than --idle-ms */
	if (wb_start(&c.wb, k, g->port, g->wb_conns, g->deadline_ms, g->idle_ms,
		     g->throttle_pct ? g->idle_ms : 0)) {
		cell_fail(&c, "cannot start the well-behaved clients");
		throttle_stop(&th);
		cell_print(&c, a->name);
		return 1;
	}
	if (g->bench) {
		int64_t t0 = now_ms();

		sleep_ms(g->duration_ms);
		c.ok_base = atomic_load(&c.wb.ok);
		c.ms_base = now_ms() - t0;
	}
	c.ok_at_start = atomic_load(&c.wb.ok);
	c.t_start = now_ms();
	a->run(&c, ATTACK_RUN); /* calls cell_snapshot, cleans up */
	if (kill(g->pid, 0))
		cell_fail(&c, "server died");
	else if (fresh_request(k, g->port, g->deadline_ms, &us, why, sizeof(why)))
		cell_fail(&c, "after the attack: %s", why);
	wb_stop(&c.wb);
	throttle_stop(&th);
	if (atomic_load(&c.wb.renewed))
		fprintf(stderr,
			"urt-attack: %s x %s: %lu well-behaved connections renewed, left idle "
			"for half of --idle-ms\n",
			a->name, servers[k], atomic_load(&c.wb.renewed));
	if (atomic_load(&c.wb.fails))
		cell_fail(&c, "%lu well-behaved requests failed (%lu answered), first: %s",
			  atomic_load(&c.wb.fails), atomic_load(&c.wb.ok), c.wb.why);
	if (!atomic_load(&c.wb.ok))
		cell_fail(&c, "no well-behaved request answered");
	cell_print(&c, a->name);
	return c.why[0] ? 1 : 0;
}

/* whether word is one of list's space-separated words */
static bool word_in(const char *word, const char *list)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' '))
			return true;
	return false;
}

static int usage(FILE *f, int rc)
{
	fprintf(f,
		"usage: urt-attack --server echo|http|kv --attack NAME --port P --pid PID --log FILE\n"
		"                  [--deadline-ms MS] [--idle-ms MS] [--send-ms MS] [--head-ms MS]\n"
		"                  [--grace-ms MS] [--duration-ms MS] [--rss-growth-max B]\n"
		"                  [--held-slack N] [--wb-conns N] [--seed S] [--cases N] [--bench]\n"
		"                  [--collide-keys N] [--collide-ratio R] [--throttle PCT]\n"
		"       urt-attack --report FILE [--bench] [--attacks LIST]\n"
		"       urt-attack --list\n"
		"  --deadline-ms   a well-behaved request is answered within this (5000)\n"
		"  --idle-ms, --send-ms, --head-ms  the deadlines the server was started with\n"
		"  --grace-ms      past the longest deadline, for closing (2000)\n"
		"  --duration-ms   how long an attack lasts (3000)\n"
		"  --rss-growth-max B  the server's documented memory bound (64m)\n"
		"  --held-slack N  ring buffers in flight allowed past seven eighths of the ring (17)\n"
		"  --seed S        for the malformed inputs (default: from the clock, printed)\n"
		"  --cases N       malformed inputs in all (100000)\n"
		"  --bench         measure req/s without the attack first; --report: the table\n"
		"  --throttle PCT  a loaded host: the server stopped PCT%% of every 200 ms (0-90),\n"
		"                  the well-behaved clients asleep --idle-ms after each round\n"
		"  --attacks LIST  --report: only these (space-separated) attacks' rows\n");
	return rc;
}

static long long parse_size(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	switch (*end) {
	case 'k': return v << 10;
	case 'm': return v << 20;
	case 'g': return v << 30;
	}
	return v;
}

static int parse_kind(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, servers[i]))
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "server", 1, 0, 'S' },     { "attack", 1, 0, 'A' },	 { "port", 1, 0, 'p' },
		{ "pid", 1, 0, 'P' },	     { "log", 1, 0, 'l' },	 { "deadline-ms", 1, 0, 'd' },
		{ "idle-ms", 1, 0, 'i' },    { "send-ms", 1, 0, 's' },	 { "head-ms", 1, 0, 'H' },
		{ "grace-ms", 1, 0, 'g' },   { "duration-ms", 1, 0, 'D' }, { "rss-growth-max", 1, 0, 'r' },
		{ "held-slack", 1, 0, 'k' }, { "wb-conns", 1, 0, 'w' },	 { "seed", 1, 0, 'e' },
		{ "cases", 1, 0, 'c' },	     { "bench", 0, 0, 'b' },	 { "report", 1, 0, 'R' },
		{ "list", 0, 0, 'L' },	     { "collide-ratio", 1, 0, 'x' }, { "collide-keys", 1, 0, 'K' }, { "help", 0, 0, 'h' },
		{ "throttle", 1, 0, 'T' },   { "attacks", 1, 0, 'a' },
		{ 0, 0, 0, 0 },
	};
	struct cfg g = { .deadline_ms = 5000, .idle_ms = 30000, .send_ms = 30000, .head_ms = 10000,
			 .grace_ms = 2000, .duration_ms = 3000, .rss_growth_max = 64 << 20,
			 .held_slack = 17, .wb_conns = 4, .cases = 100000, .collide_ratio = 3, .collide_keys = 30000 };
	const char *attack = NULL, *report = NULL, *only = NULL;
	int kind = -1, c;
	struct rlimit rl;

	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'S': kind = parse_kind(optarg); break;
		case 'A': attack = optarg; break;
		case 'p': g.port = atoi(optarg); break;
		case 'P': g.pid = atoi(optarg); break;
		case 'l': g.log = optarg; break;
		case 'd': g.deadline_ms = atoi(optarg); break;
		case 'i': g.idle_ms = atoi(optarg); break;
		case 's': g.send_ms = atoi(optarg); break;
		case 'H': g.head_ms = atoi(optarg); break;
		case 'g': g.grace_ms = atoi(optarg); break;
		case 'D': g.duration_ms = atoi(optarg); break;
		case 'r': g.rss_growth_max = parse_size(optarg); break;
		case 'k': g.held_slack = atol(optarg); break;
		case 'w': g.wb_conns = atoi(optarg); break;
		case 'e': g.seed = strtoull(optarg, NULL, 0); g.seed_set = true; break;
		case 'c': g.cases = atol(optarg); break;
		case 'b': g.bench = true; break;
		case 'R': report = optarg; break;
		case 'x': g.collide_ratio = atof(optarg); break;
		case 'K': g.collide_keys = atoi(optarg) < 22938 ? 22938 : atoi(optarg) > 44000 ? 44000 : atoi(optarg); break;
		case 'T': g.throttle_pct = atoi(optarg) < 0 ? 0 : atoi(optarg) > 90 ? 90 : atoi(optarg); break;
		case 'a': only = optarg; break;
		case 'L':
			for (size_t i = 0; i < NATTACKS; i++)
				printf("%s\n", attacks[i].name);
			return 0;
		case 'h': return usage(stdout, 0);
		default: return usage(stderr, 2);
		}
	}
	if (report && only) {
		struct attack some[NATTACKS];
		size_t n = 0;

		for (size_t i = 0; i < NATTACKS; i++)
			if (word_in(attacks[i].name, only))
				some[n++] = attacks[i];
		return report_print(report, g.bench, some, n, servers, 3);
	}
	if (report)
		return report_print(report, g.bench, attacks, NATTACKS, servers, 3);
	if (kind < 0 || !attack || !g.port || !g.pid || !g.log)
		return usage(stderr, 2);
	/* a thousand slowloris connections and then some */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < NATTACKS; i++)
		if (!strcmp(attacks[i].name, attack))
			return run_cell(&g, &attacks[i], (enum srv_kind)kind);
	fprintf(stderr, "urt-attack: no attack %s (see --list)\n", attack);
	return 2;
}
