/* SPDX-License-Identifier: MIT */
/*
 * attacks.c - the attacks of urt-attack (see attack.c for what a cell
 * checks around them).
 *
 * Most are a group of connections that each send a prefix and then one
 * unit over and over (pipelined requests, CRLFs, an endless header line),
 * read never, slowly or everything, for --duration-ms; then fall silent.
 * The rest (slowloris, colliding keys, resets, descriptor exhaustion,
 * malformed input) have their own loops. Every loop is bounded in count
 * and in time.
 */
#define _GNU_SOURCE
#include "attack.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG_VALUE (1 << 20) /* kv's big value; run.sh makes http's big.bin */
#define CHUNK	  65536

static const char http_big[] = "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n";
static const char kv_big[] = "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";

/* --- a group of connections sending one pattern ---------------------------------- */

struct pattern {
	const char *prefix, *unit;
};

enum rmode { R_NEVER, R_SLOW, R_DRAIN };

struct group {
	int n, closed; /* closed: seen closed or reset by the server */
	int fd[WATCH_MAX];
	uint64_t pos[WATCH_MAX];
	const struct pattern *pat;
	int npat;
	enum rmode rmode;
	char *ubuf[2]; /* each pattern's unit repeated past CHUNK */
	struct watch watch; /* its connections while the server closes them */
};

static int group_open(struct cell *c, struct group *g, int n, const struct pattern *pat,
		      int npat, enum rmode rm)
{
	memset(g, 0, sizeof(*g));
	g->pat = pat;
	g->npat = npat;
	g->rmode = rm;
	for (int p = 0; p < npat; p++) {
		size_t ul = strlen(pat[p].unit);

		g->ubuf[p] = malloc(CHUNK + ul);
		for (size_t i = 0; i < CHUNK + ul; i++)
			g->ubuf[p][i] = pat[p].unit[i % ul];
	}
	for (g->n = 0; g->n < n; g->n++) {
		g->fd[g->n] = tcp_connect(c->cfg->port, now_ms() + c->cfg->deadline_ms);
		if (g->fd[g->n] < 0) {
			cell_fail(c, "attack connection %d: connect: %s", g->n,
				  strerror(-g->fd[g->n]));
			return -1;
		}
	}
	return 0;
}

static void group_close(struct group *g)
{
	for (int i = 0; i < g->n; i++)
		if (g->fd[i] >= 0)
			close(g->fd[i]);
	for (int p = 0; p < g->npat; p++)
		free(g->ubuf[p]);
	g->n = 0;
}

static void group_lost(struct group *g, int i)
{
	close(g->fd[i]);
	g->fd[i] = -1;
	g->closed++;
}

static void group_send(struct group *g, int i)
{
	const struct pattern *p = &g->pat[i % g->npat];
	size_t pl = strlen(p->prefix), ul = strlen(p->unit);
	const char *src;
	size_t len;
	ssize_t r;

	if (g->pos[i] < pl) {
		src = p->prefix + g->pos[i];
		len = pl - g->pos[i];
	} else {
		src = g->ubuf[i % g->npat] + (g->pos[i] - pl) % ul;
		len = CHUNK;
	}
	r = send(g->fd[i], src, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r > 0)
		g->pos[i] += (uint64_t)r;
	else if (r < 0 && errno != EAGAIN && errno != EINTR)
		group_lost(g, i);
}

static void group_recv(struct group *g, int i, size_t most)
{
	char buf[CHUNK];

	while (most) {
		ssize_t r = recv(g->fd[i], buf, most < sizeof(buf) ? most : sizeof(buf),
				 MSG_DONTWAIT);

		if (r > 0 && g->rmode == R_SLOW)
			return;
		if (r > 0)
			continue;
		if (r == 0 || (errno != EAGAIN && errno != EINTR))
			group_lost(g, i);
		return;
	}
}

/* Drive the group for ms (sending; reading as its mode says), a fresh
 * client's request half way. */
static void group_run(struct cell *c, struct group *g, int ms, bool send_on)
{
	static struct pollfd pf[1024];
	int64_t start = now_ms(), end = start + ms, next_slow = start;
	bool probed = false;

	while (now_ms() < end) {
		bool slow_tick = g->rmode == R_SLOW && now_ms() >= next_slow;

		for (int i = 0; i < g->n; i++) {
			pf[i].fd = g->fd[i];
			pf[i].events = (short)((send_on ? POLLOUT : 0) |
					       (g->rmode == R_DRAIN || slow_tick ? POLLIN : 0));
			pf[i].revents = 0;
		}
		if (slow_tick)
			next_slow += 100;
		if (poll(pf, (nfds_t)g->n, 20) < 0)
			continue;
		for (int i = 0; i < g->n; i++) {
			if (g->fd[i] < 0 || !pf[i].revents)
				continue;
			if (pf[i].revents & POLLIN)
				group_recv(g, i, g->rmode == R_SLOW ? 4096 : SIZE_MAX);
			else if (pf[i].revents & (POLLERR | POLLHUP))
				group_lost(g, i);
			if (g->fd[i] >= 0 && (pf[i].revents & POLLOUT))
				group_send(g, i);
		}
		if (!probed && now_ms() >= start + ms / 2) {
			probed = true;
			cell_fresh(c);
		}
	}
}

/* the group's connections still open, as the server's closing shows */
static void group_count_closed(struct group *g)
{
	for (int i = 0; i < g->n; i++) {
		struct pollfd p = { .fd = g->fd[i], .events = POLLIN | POLLRDHUP };

		if (g->fd[i] >= 0 && poll(&p, 1, 0) == 1)
			group_recv(g, i, SIZE_MAX);
	}
}

static const char *kv_set_big(struct cell *c)
{
	static char *req;
	static size_t len;
	int64_t deadline = now_ms() + c->cfg->deadline_ms * 2;
	int fd, r;

	if (!req) {
		const char *head = "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$1048576\r\n";

		len = strlen(head) + BIG_VALUE + 2;
		req = malloc(len);
		memcpy(req, head, strlen(head));
		memset(req + strlen(head), 'v', BIG_VALUE);
		memcpy(req + len - 2, "\r\n", 2);
	}
	fd = tcp_connect(c->cfg->port, deadline);
	r = fd < 0 ? fd : send_all(fd, req, len, deadline);
	if (!r)
		r = expect_bytes(fd, "+OK\r\n", 5, deadline);
	if (fd >= 0)
		close(fd);
	if (r)
		cell_fail(c, "SET big: %s", strerror(-r));
	return r ? "" : NULL;
}

/* The shape of the group attacks: open, run, snapshot, fall silent, the
 * server must close them all by its deadlines. */
static void group_attack(struct cell *c, int n, const struct pattern *pat, int npat,
			 enum rmode rm, bool must_close, const char *what)
{
	static struct group g;

	if (group_open(c, &g, n, pat, npat, rm)) {
		group_close(&g);
		return;
	}
	group_run(c, &g, c->cfg->duration_ms, true);
	cell_snapshot(c);
	if (must_close)
		group_count_closed(&g);
	if (must_close && g.closed < g.n)
		cell_fail(c, "%d of %d %s still open after %d ms", g.n - g.closed, g.n, what,
			  c->cfg->duration_ms);
	watch_init(&g.watch, g.fd, g.n);
	cell_await_closed(c, cell_close_ms(c), "the attack fell silent", &g.watch);
	group_close(&g);
}

static const struct pattern big_pat[] = {
	[SRV_ECHO] = { "", "0123456789abcdef" },
	[SRV_HTTP] = { "", http_big },
	[SRV_KV] = { "", kv_big },
};

const char *attack_nonreaders(struct cell *c, enum attack_step step)
{
	if (step == ATTACK_SETUP)
		return c->kind == SRV_KV ? kv_set_big(c) : NULL;
	if (step == ATTACK_RUN)
		group_attack(c, 200, &big_pat[c->kind], 1, R_NEVER, false, "non-readers");
	return NULL;
}

const char *attack_slow_readers(struct cell *c, enum attack_step step)
{
	if (step == ATTACK_SETUP)
		return c->kind == SRV_KV ? kv_set_big(c) : NULL;
	if (step == ATTACK_RUN)
		group_attack(c, 50, &big_pat[c->kind], 1, R_SLOW, false, "slow readers");
	return NULL;
}

const char *attack_blank_flood(struct cell *c, enum attack_step step)
{
	static const struct pattern p = { "", "\r\n" };

	if (step == ATTACK_APPLIES && c->kind == SRV_ECHO)
		return "echo has no framing: CRLFs are data, echoed (see non-readers)";
	/* http must bound the blank lines before a request line; redis (and so
	 * urt-kv) skips empty lines forever, bounded by --idle-ms once silent */
	if (step == ATTACK_RUN)
		group_attack(c, 20, &p, 1, R_DRAIN, c->kind == SRV_HTTP, "blank-line flooders");
	return NULL;
}

const char *attack_header_flood(struct cell *c, enum attack_step step)
{
	static const struct pattern http[] = {
		{ "GET / HTTP/1.1\r\nX-Flood: ", "a" },
		{ "GET /", "a" }, /* an endless request line */
	};
	static const struct pattern kv[] = {
		{ "", "a" },		/* an endless inline command */
		{ "*1\r\n$", "1" }, /* an endless bulk length line */
	};

	if (step == ATTACK_APPLIES && c->kind == SRV_ECHO)
		return "echo has no header or length line (byte floods: non-readers)";
	if (step == ATTACK_RUN)
		group_attack(c, 20, c->kind == SRV_HTTP ? http : kv, 2, R_DRAIN, true,
			     "header-byte flooders");
	return NULL;
}

/* --- slowloris: a thousand connections, a byte each 500 ms ------------------------ */

const char *attack_slowloris(struct cell *c, enum attack_step step)
{
	static const struct pattern pat[] = {
		[SRV_ECHO] = { "", "s" },
		[SRV_HTTP] = { "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", "s" },
		[SRV_KV] = { "*3\r\n$3\r\nSET\r\n$4\r\nslow\r\n$64\r\n", "s" },
	};
	static struct group g;
	const struct pattern *p = &pat[c->kind];
	int64_t start;
	bool probed = false;

	if (step != ATTACK_RUN)
		return NULL;
	memset(&g, 0, sizeof(g));
	g.rmode = R_DRAIN;
	for (g.n = 0; g.n < 1000; g.n++) {
		g.fd[g.n] = tcp_connect(c->cfg->port, 0); /* the handshakes finish meanwhile */
		if (g.fd[g.n] < 0) {
			cell_fail(c, "slowloris connection %d: %s", g.n, strerror(-g.fd[g.n]));
			break;
		}
	}
	start = now_ms();
	for (int tick = 0; now_ms() < start + c->cfg->duration_ms; tick++) {
		for (int i = 0; i < g.n; i++) {
			size_t pl = strlen(p->prefix);
			char b = (size_t)tick < pl ? p->prefix[tick] : p->unit[0];

			if (g.fd[i] >= 0 && send(g.fd[i], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
			    errno != EAGAIN && errno != ENOTCONN)
				group_lost(&g, i);
		}
		group_count_closed(&g);
		if (!probed && now_ms() >= start + c->cfg->duration_ms / 2) {
			probed = true;
			cell_fresh(c);
		}
		sleep_ms(500);
	}
	cell_snapshot(c);
	group_count_closed(&g);
	/* a head that never completes is closed --head-ms after its first byte */
	if (c->kind == SRV_HTTP && c->cfg->head_ms + 1000 < c->cfg->duration_ms &&
	    g.closed < g.n)
		cell_fail(c, "%d of %d slowloris heads still open after %d ms (--head-ms %d)",
			  g.n - g.closed, g.n, c->cfg->duration_ms, c->cfg->head_ms);
	watch_init(&g.watch, g.fd, g.n);
	cell_await_closed(c, cell_close_ms(c), "slowloris fell silent", &g.watch);
	group_close(&g);
	return NULL;
}

/* --- colliding keys against urt-kv's table ------------------------------------------ */

#define COLLIDE_MAX  44000 /* under 70% of 2^16: the table ends 65536 slots wide */
#define COLLIDE_N    (c->cfg->collide_keys)
#define COLLIDE_MASK 0xfc00 /* these index bits zero: a home below 1024 */

/* examples/kv/store.c's hash as it was: unseeded FNV-1a 64, then h ^ h >> 29 */
static uint64_t kv_hash(const char *k, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 0x100000001b3ull;
	return h ^ (h >> 29);
}

/*
 * COLLIDE_N keys whose home bucket lies below 1024 in any table from 1024 to
 * 65536 slots. Linear probing piles them into one run: each insert and
 * each lookup walks the run, so N keys cost N^2/2 probes, not N. (They need
 * not share one bucket: a shared region is as bad and 64 times cheaper to
 * find, one key in 64.)
 */
static char (*collide_keys(struct cell *c))[9]
{
	static char (*keys)[9];
	int n = 0;

	if (keys)
		return keys;
	keys = calloc(COLLIDE_MAX, sizeof(*keys));
	for (uint32_t a = 0; n < COLLIDE_N; a++) {
		snprintf(keys[n], 9, "c:%06x", a & 0xffffff);
		n += !(kv_hash(keys[n], 8) & COLLIDE_MASK);
	}
	return keys;
}

/* SET then GET every key, pipelined 2,000 at a time; the server's CPU
 * ticks taken, or -1 */
static long kv_fill(struct cell *c, int fd, char (*keys)[9], bool set, bool probe, int count)
{
	static char req[2000 * 40], want[2000 * 8];
	int64_t deadline = now_ms() + 60000;
	long t0 = proc_cpu_ticks(c->cfg->pid);

	for (int pass = !set; pass < 2; pass++) {
		if (probe && pass)
			cell_fresh(c);
		for (int b = 0; b < count; b += 2000) {
			size_t n = 0, w = 0;

			for (int i = b; i < b + 2000 && i < count; i++) {
				n += (size_t)sprintf(req + n, pass ? "*2\r\n$3\r\nGET\r\n$8\r\n%s\r\n"
							 : "*3\r\n$3\r\nSET\r\n$8\r\n%s\r\n$1\r\nv\r\n",
						     keys[i]);
				w += (size_t)sprintf(want + w, pass ? "$1\r\nv\r\n" : "+OK\r\n");
			}
			if (send_all(fd, req, n, deadline) || expect_bytes(fd, want, w, deadline))
				return -1;
		}
	}
	return proc_cpu_ticks(c->cfg->pid) - t0;
}

const char *attack_collide(struct cell *c, enum attack_step step)
{
	static char (*rnd)[9];
	unsigned long ok0;
	int64_t deadline;
	long t_rand, t_coll;
	int fd;

	if (step == ATTACK_APPLIES)
		return c->kind == SRV_KV ? NULL : "no table keyed by what clients send";
	if (step == ATTACK_SETUP) {
		collide_keys(c);
		if (!rnd) {
			rnd = calloc(COLLIDE_MAX, sizeof(*rnd));
			for (int i = 0; i < COLLIDE_MAX; i++)
				snprintf(rnd[i], 9, "r:%06x", (unsigned)i * 2654435761u >> 8);
		}
		return NULL;
	}
	deadline = now_ms() + c->cfg->deadline_ms;
	fd = tcp_connect(c->cfg->port, deadline);
	if (fd < 0) {
		cell_fail(c, "connect: %s", strerror(-fd));
		return NULL;
	}
	/* the server CPU of each, with the well-behaved clients paused */
	wb_pause(&c->wb, true);
	t_rand = kv_fill(c, fd, rnd, true, false, COLLIDE_N);
	if (t_rand >= 0 && (send_all(fd, "FLUSHALL\r\n", 10, deadline) ||
			    expect_bytes(fd, "+OK\r\n", 5, now_ms() + c->cfg->deadline_ms)))
		t_rand = -1;
	t_coll = t_rand < 0 ? -1 : kv_fill(c, fd, collide_keys(c), true, false, COLLIDE_N);
	/* and once more beside them: their requests probe the run too. The
	 * probe can end within milliseconds, before a client woken from its
	 * pause has had an answer: wait (bounded) until one has. */
	wb_pause(&c->wb, false);
	ok0 = atomic_load(&c->wb.ok);
	if (t_coll >= 0 && kv_fill(c, fd, collide_keys(c), false, true, 4000) < 0)
		t_coll = -1;
	for (deadline = now_ms() + c->cfg->deadline_ms;
	     atomic_load(&c->wb.ok) == ok0 && now_ms() < deadline;)
		sleep_ms(5);
	cell_snapshot(c);
	if (t_rand < 0 || t_coll < 0)
		cell_fail(c, "SET/GET of %d keys not answered in 60 s", COLLIDE_N);
	else if ((double)t_coll > c->cfg->collide_ratio * (double)(t_rand > 5 ? t_rand : 5))
		cell_fail(c, "%d colliding keys took %ld CPU ticks of the server, random ones %ld: the hash is not seeded",
			  COLLIDE_N, t_coll, t_rand);
	fprintf(stderr, "urt-attack: collide: server CPU ticks: random keys %ld, colliding %ld\n",
		t_rand, t_coll);
	send_all(fd, "FLUSHALL\r\n", 10, now_ms() + c->cfg->deadline_ms);
	expect_bytes(fd, "+OK\r\n", 5, now_ms() + c->cfg->deadline_ms * 4);
	close(fd);
	return NULL;
}

/* --- resets and killed clients ----------------------------------------------------- */

static const char *partial[] = {
	[SRV_ECHO] = "partial",
	[SRV_HTTP] = "GET /big.bin HTTP/1.1\r\nHo",
	[SRV_KV] = "*2\r\n$3\r\nGET\r\n$3\r\nbi",
};

/* a request whose answer is large, and its first bytes read */
static int big_started(struct cell *c, int fd, int64_t deadline)
{
	static char data[CHUNK];
	char buf[1024];
	ssize_t r;
	int e;

	memset(data, 'e', sizeof(data));
	e = c->kind == SRV_ECHO ? send_all(fd, data, sizeof(data), deadline)
				: send_all(fd, big_pat[c->kind].unit, strlen(big_pat[c->kind].unit),
					   deadline);
	if (e)
		return e;
	r = recv_some(fd, buf, sizeof(buf), deadline);
	return r > 0 ? 0 : r ? (int)r : -ECONNRESET;
}

/* 10 processes with 5 connections each, killed mid-response */
static void killed_clients(struct cell *c)
{
	pid_t kids[10];
	int pfd[2], ready = 0, nk = 0;
	char b;

	if (pipe(pfd))
	{
		cell_fail(c, "pipe: %s", strerror(errno));
		return;
	}
	for (; nk < 10; nk++) {
		kids[nk] = fork();
		if (kids[nk] < 0)
			break;
		if (!kids[nk]) {
			int64_t deadline = now_ms() + c->cfg->deadline_ms;

			for (int i = 0; i < 5; i++) {
				int fd = tcp_connect(c->cfg->port, deadline);

				if (fd < 0 || big_started(c, fd, deadline))
					_exit(1);
			}
			(void)!write(pfd[1], "r", 1);
			sleep(60); /* until killed */
			_exit(0);
		}
	}
	close(pfd[1]);
	while (ready < nk) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };

		if (poll(&p, 1, c->cfg->deadline_ms) != 1 || read(pfd[0], &b, 1) != 1)
			break;
		ready++;
	}
	for (int i = 0; i < nk; i++)
		kill(kids[i], SIGKILL);
	for (int i = 0; i < nk; i++)
		waitpid(kids[i], NULL, 0);
	close(pfd[0]);
	if (ready < 10)
		cell_fail(c, "only %d of 10 killed clients got the start of their answers", ready);
}

const char *attack_reset(struct cell *c, enum attack_step step)
{
	int unanswered = 0, lost = 0;

	if (step == ATTACK_SETUP)
		return c->kind == SRV_KV ? kv_set_big(c) : NULL;
	if (step != ATTACK_RUN)
		return NULL;
	killed_clients(c);
	for (int i = 0; i < 400; i++) {
		int64_t deadline = now_ms() + c->cfg->deadline_ms;
		int fd = tcp_connect(c->cfg->port, deadline);

		if (fd < 0) {
			lost++;
			continue;
		}
		if (i % 2)
			unanswered += big_started(c, fd, deadline) != 0; /* mid-response */
		else
			send_all(fd, partial[c->kind], strlen(partial[c->kind]), deadline);
		tcp_reset(fd);
		if (i == 200)
			cell_fresh(c);
	}
	if (lost || unanswered)
		cell_fail(c, "of 400 reset clients, %d not connected and %d not answered", lost,
			  unanswered);
	cell_snapshot(c);
	cell_await_closed(c, c->cfg->grace_ms, "the resets", NULL);
	return NULL;
}

/*
 * --- descriptor exhaustion: 400 clients against ulimit -n 128 ---------------------
 * (fd-exhaust-fixed: against a server with --fixed-fds, whose table of
 * direct descriptors is 128 slots: a full table fails the accept with
 * ENFILE and the kernel closes that connection, so many of the 400 see a
 * close, not a wait in the backlog; the outcomes asked are the same)
 */

const char *attack_fd_exhaust(struct cell *c, enum attack_step step)
{
	static int fd[400];
	long hz = sysconf(_SC_CLK_TCK), t0, t1;
	int n = 0;

	if (step != ATTACK_RUN)
		return NULL;
	sleep_ms(300);
	for (; n < 400; n++) {
		fd[n] = tcp_connect(c->cfg->port, 0); /* many are never accepted */
		if (fd[n] < 0)
			break;
	}
	if (n < 400)
		cell_fail(c, "opened only %d of 400 connections: %s", n, strerror(-fd[n]));
	sleep_ms(1000); /* the well-behaved clients go on, on their descriptors */
	cell_snapshot(c);
	wb_pause(&c->wb, true);
	t0 = proc_cpu_ticks(c->cfg->pid);
	sleep_ms(1000);
	t1 = proc_cpu_ticks(c->cfg->pid);
	if (t0 < 0 || t1 < 0)
		cell_fail(c, "no CPU times in /proc");
	else if ((t1 - t0) * 100 > hz * 20)
		cell_fail(c, "the server used %ld%% CPU over an idle second with no descriptors "
			     "left (spinning)",
			  (t1 - t0) * 100 / hz);
	for (int i = 0; i < n; i++)
		close(fd[i]);
	cell_await_closed(c, cell_close_ms(c), "400 clients closed", NULL);
	wb_pause(&c->wb, false);
	return NULL;
}

/* --- malformed input replayed -------------------------------------------------------- */

static const char *const http_tpl[] = {
	"GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n",
	"HEAD /big.bin HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=10-20\r\n\r\n",
	"GET /%2e%2e/x HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
	"GET / HTTP/1.1\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
};
static const char *const kv_tpl[] = {
	"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n",
	"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
	"PING\r\n",
	"SET a \"b c\"\r\n",
	"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n",
	"*3\r\n$6\r\nEXPIRE\r\n$1\r\nk\r\n$2\r\n10\r\n",
	"*4\r\n$4\r\nSCAN\r\n$1\r\n0\r\n$5\r\nMATCH\r\n$3\r\n*a*\r\n",
};

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* one case into out (room for 128 bytes): random bytes, or a valid request
 * bit-flipped, truncated, or with a byte replaced by a framing one */
static size_t malformed_case(enum srv_kind k, uint64_t *s, char *out)
{
	static const char framing[] = "\r\n:$*0 9-\"%";
	uint64_t r = rng_next(s);
	const char *t = k == SRV_HTTP ? http_tpl[r % 6] : kv_tpl[r % 7];
	size_t n = strlen(t);

	memcpy(out, t, n);
	switch (k == SRV_ECHO ? 0 : (r >> 8) % 4) {
	case 0:
		n = 1 + (r >> 16) % 120;
		for (size_t i = 0; i < n; i++)
			out[i] = (char)rng_next(s);
		break;
	case 1:
		for (int f = 0; f < 1 + (int)((r >> 16) % 3); f++) {
			uint64_t b = rng_next(s) % (n * 8);

			out[b / 8] ^= (char)(1 << (b % 8));
		}
		break;
	case 2:
		n = (r >> 16) % n;
		break;
	default:
		out[(r >> 16) % n] = framing[(r >> 32) % (sizeof(framing) - 1)];
	}
	return n;
}

struct mslot {
	int fd;
	uint64_t sent, got;
	int64_t deadline;
};

/* a batch of 16 cases on a new connection, then EOF from our side */
static int mslot_start(struct cell *c, struct mslot *m, uint64_t *seed)
{
	char batch[16 * 128];
	size_t n = 0;

	m->deadline = now_ms() + c->cfg->deadline_ms;
	m->fd = tcp_connect(c->cfg->port, m->deadline);
	if (m->fd < 0)
		return m->fd;
	for (int i = 0; i < 16; i++)
		n += malformed_case(c->kind, seed, batch + n);
	m->sent = n;
	m->got = 0;
	/* the server may close at the first bad byte: a failed send is fine */
	send_all(m->fd, batch, n, m->deadline);
	shutdown(m->fd, SHUT_WR);
	return 0;
}

const char *attack_malformed(struct cell *c, enum attack_step step)
{
	static struct mslot s[16];
	struct pollfd pf[16];
	uint64_t seed0 = c->cfg->seed_set ? c->cfg->seed : (uint64_t)now_us() ^ (uint64_t)getpid();
	uint64_t seed = seed0;
	long batches = c->cfg->cases / 16, started = 0, hung = 0, short_echo = 0, lost = 0;
	int live = 0;

	if (step != ATTACK_RUN)
		return NULL;
	fprintf(stderr, "urt-attack: malformed %s: seed=%" PRIu64 "\n",
		c->kind == SRV_HTTP ? "http" : c->kind == SRV_KV ? "kv" : "echo", seed0);
	for (int i = 0; i < 16; i++)
		s[i].fd = -1;
	while (started < batches || live) {
		for (int i = 0; i < 16; i++) {
			if (s[i].fd < 0 && started < batches) {
				started++;
				lost += mslot_start(c, &s[i], &seed) != 0;
				live += s[i].fd >= 0;
				if (started == batches / 2)
					cell_fresh(c);
			}
			pf[i] = (struct pollfd){ .fd = s[i].fd, .events = POLLIN };
		}
		poll(pf, 16, 50);
		for (int i = 0; i < 16; i++) {
			char buf[CHUNK];
			bool late = now_ms() >= s[i].deadline;
			ssize_t r;

			if (s[i].fd < 0 || (!pf[i].revents && !late))
				continue;
			r = pf[i].revents ? recv(s[i].fd, buf, sizeof(buf), MSG_DONTWAIT) : -1;
			if (r > 0)
				s[i].got += (uint64_t)r;
			if (r < 0 && errno == EAGAIN && !late)
				continue;
			if (r > 0 && !late)
				continue;
			/* still open past the deadline (a reset is a close) */
			hung += late && (r > 0 || !pf[i].revents || (r < 0 && errno == EAGAIN));
			short_echo += c->kind == SRV_ECHO && r == 0 && s[i].got != s[i].sent;
			close(s[i].fd);
			s[i].fd = -1;
			live--;
		}
	}
	cell_snapshot(c);
	if (lost || hung || short_echo)
		cell_fail(c, "of %ld malformed batches (seed %" PRIu64 "): %ld not connected, %ld "
			     "not closed after EOF, %ld echoed short",
			  batches, seed0, lost, hung, short_echo);
	cell_await_closed(c, c->cfg->grace_ms, "the malformed clients closed", NULL);
	return NULL;
}
