/* SPDX-License-Identifier: MIT */
/*
 * probe.c - urt-probe, the hostile review's attack client (tests/attack/
 * review.sh drives it): N loopback connections that each send one pattern
 * (a prefix, a unit repeated, a suffix), fast or trickled, then optionally
 * half-close, and read never, everything, or a byte a second; or a churn
 * of connect/close (RST). Beside it, one well-behaved client of the kind
 * given loops, and a fresh client's first request is timed every second:
 * the lines it prints are what the review reads.
 *
 *   urt-probe --port P --kind echo|http|kv [--conns N] [--prefix S]
 *             [--unit S] [--count R (0: endless)] [--suffix S]
 *             [--trickle MS --chunk B] [--shut] [--read never|all|byte]
 *             [--churn] [--rst] [--duration MS] [--pid PID]
 *
 * Strings take C escapes (\r \n \\ \xHH). Every loop is bounded by
 * --duration (default 10 s). Plain sockets and poll, no urt.
 */
#define _GNU_SOURCE
#include "net.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 8192

struct pc {
	int fd;
	uint64_t sent, got;
	int64_t next_send, next_read;
	bool shut, closed;
};

static struct {
	int port, conns, duration, trickle, chunk, wb, bufs;
	long long count;
	enum srv_kind kind;
	const char *rd;
	bool shut, churn, rst;
	pid_t pid;
	char *pre, *unit, *suf;
	size_t npre, nunit, nsuf;
} o = { .wb = 1, .conns = 1, .duration = 10000, .count = 1, .rd = "all", .chunk = 65536 };

static size_t unescape(const char *s, char **out)
{
	char *p = malloc(strlen(s) + 1);
	size_t n = 0;

	for (; *s; s++) {
		if (*s != '\\' || !s[1]) {
			p[n++] = *s;
			continue;
		}
		s++;
		switch (*s) {
		case 'r': p[n++] = '\r'; break;
		case 'n': p[n++] = '\n'; break;
		case 'x': {
			char h[3] = { s[1], s[2], 0 };

			p[n++] = (char)strtol(h, NULL, 16);
			s += 2;
			break;
		}
		default: p[n++] = *s;
		}
	}
	*out = p;
	return n;
}

/* Total bytes of the pattern; UINT64_MAX when endless. */
static uint64_t total(void)
{
	if (!o.count)
		return UINT64_MAX;
	return o.npre + o.nunit * (uint64_t)o.count + o.nsuf;
}

/* Fill up to n bytes of the pattern from position pos. */
static size_t pattern_at(uint64_t pos, char *buf, size_t n)
{
	uint64_t t = total(), body = o.count ? o.nunit * (uint64_t)o.count : UINT64_MAX;
	size_t k = 0;

	while (k < n && pos < t) {
		if (pos < o.npre) {
			buf[k++] = o.pre[pos++];
		} else if (pos - o.npre < body) {
			buf[k++] = o.unit[(pos - o.npre) % o.nunit];
			pos++;
		} else {
			buf[k++] = o.suf[pos - o.npre - body];
			pos++;
		}
	}
	return k;
}

static void report(struct pc *c, int n, int64_t t0)
{
	uint64_t sent = 0, got = 0;
	int open = 0, closed = 0;
	struct proc_mem m = { 0 };
	int64_t us = -1;
	char why[160] = "";

	for (int i = 0; i < n; i++) {
		sent += c[i].sent;
		got += c[i].got;
		if (c[i].closed)
			closed++;
		else if (c[i].fd >= 0)
			open++;
	}
	if (o.pid)
		proc_mem(o.pid, &m);
	if (fresh_request(o.kind, o.port, 5000, &us, why, sizeof(why)))
		us = -1;
	printf("t %5.1fs open %d closed_by_srv %d sent %llu got %llu rss_kb %ld hwm_kb %ld cpu %ld "
	       "fresh_ms %.1f%s%s\n",
	       (now_ms() - t0) / 1000.0, open, closed, (unsigned long long)sent,
	       (unsigned long long)got, m.rss_kb, m.hwm_kb, o.pid ? proc_cpu_ticks(o.pid) : 0,
	       us < 0 ? -1.0 : us / 1000.0, *why ? " " : "", why);
	fflush(stdout);
}

static void churn(int64_t t0)
{
	uint64_t n = 0, fails = 0;
	int64_t next = t0 + 1000;
	char req[256];
	size_t rl = pattern_at(0, req, sizeof(req));

	while (now_ms() - t0 < o.duration) {
		int fd = tcp_connect(o.port, now_ms() + 1000);

		if (fd < 0) {
			fails++;
		} else {
			if (rl)
				(void)!send(fd, req, rl, MSG_NOSIGNAL);
			if (o.rst)
				tcp_reset(fd);
			else
				close(fd);
			n++;
		}
		if (now_ms() >= next) {
			printf("churn %llu connects, %llu failed\n", (unsigned long long)n,
			       (unsigned long long)fails);
			report(NULL, 0, t0);
			next += 1000;
		}
	}
}

static void step(struct pc *c, int64_t now, char *buf, struct pollfd *pf)
{
	uint64_t t = total();

	pf->fd = c->fd;
	pf->events = 0;
	if (c->fd < 0)
		return;
	if (c->sent < t && now >= c->next_send) {
		size_t want = o.trickle ? (size_t)o.chunk : 65536;
		size_t k = pattern_at(c->sent, buf, want);
		ssize_t r = send(c->fd, buf, k, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r > 0)
			c->sent += (uint64_t)r;
		else if (r < 0 && errno != EAGAIN) {
			c->closed = true;
			close(c->fd);
			c->fd = -1;
			return;
		}
		if (o.trickle)
			c->next_send = now + o.trickle;
	}
	if (c->sent >= t && o.shut && !c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
	if (strcmp(o.rd, "never") && now >= c->next_read) {
		bool byte = !strcmp(o.rd, "byte");
		ssize_t r = recv(c->fd, buf, byte ? 1 : 65536, MSG_DONTWAIT);

		if (r > 0)
			c->got += (uint64_t)r;
		else if (r == 0 || (r < 0 && errno != EAGAIN)) {
			c->closed = true;
			close(c->fd);
			c->fd = -1;
			return;
		}
		if (byte)
			c->next_read = now + 1000;
	} else if (!strcmp(o.rd, "never")) {
		/* notice a close without reading: a reset shows as POLLERR */
		pf->events = 0;
	}
	if (c->sent < t && !o.trickle)
		pf->events |= POLLOUT;
	if (!strcmp(o.rd, "all"))
		pf->events |= POLLIN;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", 1, 0, 'p' },	   { "kind", 1, 0, 'k' },   { "conns", 1, 0, 'n' },
		{ "prefix", 1, 0, 'P' },   { "unit", 1, 0, 'U' },   { "count", 1, 0, 'r' },
		{ "suffix", 1, 0, 'X' },   { "trickle", 1, 0, 't' }, { "chunk", 1, 0, 'c' },
		{ "shut", 0, 0, 'S' },	   { "read", 1, 0, 'R' },   { "churn", 0, 0, 'C' },
		{ "rst", 0, 0, 'L' },	   { "duration", 1, 0, 'd' }, { "pid", 1, 0, 'i' },
		{ "wb", 1, 0, 'w' },
		{ "bufs", 1, 0, 'b' },
		{ 0, 0, 0, 0 },
	};
	static struct pc c[MAXC];
	static struct pollfd pf[MAXC];
	static char buf[65536];
	struct wb w = { 0 };
	int ch;

	o.npre = unescape("", &o.pre);
	o.nunit = unescape("", &o.unit);
	o.nsuf = unescape("", &o.suf);
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': o.port = atoi(optarg); break;
		case 'k':
			o.kind = !strcmp(optarg, "echo") ? SRV_ECHO
				 : !strcmp(optarg, "http") ? SRV_HTTP
							   : SRV_KV;
			break;
		case 'n': o.conns = atoi(optarg); break;
		case 'P': o.npre = unescape(optarg, &o.pre); break;
		case 'U': o.nunit = unescape(optarg, &o.unit); break;
		case 'r': o.count = atoll(optarg); break;
		case 'X': o.nsuf = unescape(optarg, &o.suf); break;
		case 't': o.trickle = atoi(optarg); break;
		case 'c': o.chunk = atoi(optarg); break;
		case 'S': o.shut = true; break;
		case 'R': o.rd = optarg; break;
		case 'C': o.churn = true; break;
		case 'L': o.rst = true; break;
		case 'd': o.duration = atoi(optarg); break;
		case 'i': o.pid = atoi(optarg); break;
		case 'w': o.wb = atoi(optarg); break;
		case 'b': o.bufs = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!o.port || o.conns < 0 || o.conns > MAXC || (!o.nunit && o.count != 1) ||
	    (!o.nunit && !o.count)) {
		fprintf(stderr, "urt-probe: bad flags\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	int64_t t0 = now_ms(), next = t0 + 1000;

	if (o.wb && wb_start(&w, o.kind, o.port, o.wb, 5000, 0, 0))
		return 1;
	if (o.churn) {
		churn(t0);
	} else {
		for (int i = 0; i < o.conns; i++) {
			c[i].fd = tcp_connect(o.port, now_ms() + 5000);
			if (c[i].fd < 0) {
				fprintf(stderr, "connect %d: %s\n", i, strerror(-c[i].fd));
				o.conns = i;
				break;
			}
			if (o.bufs) { /* small kernel buffers: many connections, little kernel memory */
				setsockopt(c[i].fd, SOL_SOCKET, SO_SNDBUF, &o.bufs, sizeof(o.bufs));
				setsockopt(c[i].fd, SOL_SOCKET, SO_RCVBUF, &o.bufs, sizeof(o.bufs));
			}
		}
		report(c, o.conns, t0);
		while (now_ms() - t0 < o.duration) {
			int64_t now = now_ms();

			for (int i = 0; i < o.conns; i++)
				step(&c[i], now, buf, &pf[i]);
			(void)poll(pf, (nfds_t)o.conns, o.trickle || strcmp(o.rd, "all") ? 20 : 50);
			if (now_ms() >= next) {
				report(c, o.conns, t0);
				next += 1000;
			}
		}
		report(c, o.conns, t0);
	}
	if (o.wb)
		wb_stop(&w);
	printf("well-behaved: ok %lu fails %lu max_ms %.1f%s%s\n", atomic_load(&w.ok),
	       atomic_load(&w.fails), w.max_us / 1000.0, *w.why ? " first: " : "", w.why);
	for (int i = 0; i < o.conns; i++)
		if (c[i].fd >= 0)
			close(c[i].fd);
	return 0;
}
