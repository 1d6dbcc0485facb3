/* SPDX-License-Identifier: MIT */
/* net.c - urt-attack's plumbing (see net.h). */
#define _GNU_SOURCE
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int64_t now_ms(void)
{
	return now_us() / 1000;
}

void sleep_ms(int ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&t, &t) && errno == EINTR)
		;
}

/* poll one fd for ev until deadline: 1 ready, -ETIMEDOUT, -errno */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = ev };
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int tcp_connect(int port, int64_t deadline)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1, err;
	socklen_t len = sizeof(err);

	if (fd < 0)
		return -errno;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (!connect(fd, (struct sockaddr *)&a, sizeof(a)))
		return fd;
	err = -errno;
	if (err != -EINPROGRESS)
		goto fail;
	if (!deadline)
		return fd;
	err = wait_fd(fd, POLLOUT, deadline);
	if (err < 0)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		err = err ? -err : -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

void tcp_reset(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

int send_all(int fd, const void *p, size_t n, int64_t deadline)
{
	const char *c = p;

	while (n) {
		ssize_t r = send(fd, c, n, MSG_NOSIGNAL);

		if (r > 0) {
			c += r;
			n -= (size_t)r;
		} else if (errno == EAGAIN) {
			int w = wait_fd(fd, POLLOUT, deadline);

			if (w < 0)
				return w;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
	return 0;
}

ssize_t recv_some(int fd, void *p, size_t n, int64_t deadline)
{
	for (;;) {
		ssize_t r = recv(fd, p, n, 0);

		if (r >= 0)
			return r;
		if (errno == EAGAIN) {
			int w = wait_fd(fd, POLLIN, deadline);

			if (w < 0)
				return w;
		} else if (errno != EINTR) {
			return -errno;
		}
	}
}

int expect_bytes(int fd, const char *want, size_t n, int64_t deadline)
{
	char buf[4096];
	size_t got = 0;

	while (got < n) {
		size_t ask = n - got < sizeof(buf) ? n - got : sizeof(buf);
		ssize_t r = recv_some(fd, buf, ask, deadline);

		if (r <= 0)
			return r ? (int)r : -ESHUTDOWN;
		if (memcmp(buf, want + got, (size_t)r))
			return -EPROTO;
		got += (size_t)r;
	}
	return 0;
}

int read_http(int fd, int64_t deadline, int *status)
{
	char buf[16384 + 1];
	size_t have = 0;
	char *end, *cl;
	long body, extra;

	for (;;) {
		ssize_t r;

		buf[have] = 0;
		end = strstr(buf, "\r\n\r\n");
		if (end)
			break;
		if (have == sizeof(buf) - 1)
			return -E2BIG;
		r = recv_some(fd, buf + have, sizeof(buf) - 1 - have, deadline);
		if (r <= 0)
			return r ? (int)r : -ESHUTDOWN;
		have += (size_t)r;
	}
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
		return -EPROTO;
	*end = 0;
	/* a temporary refusal (a full descriptor table): 503 that says when
	 * to come back is an answer, as RFC 9110 15.6.4 allows */
	if (*status == 503 && strcasestr(buf, "\r\nretry-after:"))
		*status = 200;
	cl = strcasestr(buf, "\r\ncontent-length:");
	body = cl ? strtol(cl + 17, NULL, 10) : 0;
	extra = (long)(buf + have - (end + 4));
	for (body -= extra; body > 0;) {
		ssize_t r = recv_some(fd, buf, body < 16384 ? (size_t)body : 16384, deadline);

		if (r <= 0)
			return r ? (int)r : -ESHUTDOWN;
		body -= r;
	}
	return body < 0 ? -EPROTO : 0;
}

int proc_mem(pid_t pid, struct proc_mem *m)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	m->rss_kb = m->hwm_kb = -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", &m->rss_kb);
		sscanf(line, "VmHWM: %ld", &m->hwm_kb);
	}
	fclose(f);
	return m->rss_kb < 0 ? -ENOENT : 0;
}

long proc_cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

void watch_init(struct watch *w, const int *fd, int n)
{
	int64_t now = now_ms();

	w->n = n < WATCH_MAX ? n : WATCH_MAX;
	w->last = now;
	for (int i = 0; i < w->n; i++) {
		struct sockaddr_in a;
		socklen_t len = sizeof(a);

		memset(&w->c[i], 0, sizeof(w->c[i]));
		w->c[i].moved = now;
		if (fd[i] >= 0 && !getsockname(fd[i], (struct sockaddr *)&a, &len))
			w->c[i].port = ntohs(a.sin_port);
		w->c[i].open = w->c[i].port != 0;
	}
}

/* The slot of the watched connection whose end is at our port (+ 1). */
static uint16_t watch_slot[65536];

int watch_poll(struct watch *w, int port, int64_t *still_ms)
{
	char line[512];
	long q[WATCH_MAX][4];
	bool open[WATCH_MAX] = { false };
	int64_t now = now_ms();
	int n = 0;
	FILE *f = fopen("/proc/net/tcp", "r");

	if (!f)
		return -errno;
	memset(watch_slot, 0, sizeof(watch_slot));
	memset(q, 0, sizeof(q));
	for (int i = 0; i < w->n; i++)
		if (w->c[i].port)
			watch_slot[w->c[i].port] = (uint16_t)(i + 1);
	while (fgets(line, sizeof(line), f)) {
		unsigned la, lp, ra, rp, st;
		unsigned long tx, rx;
		int i;

		if (sscanf(line, " %*d: %x:%x %x:%x %x %lx:%lx", &la, &lp, &ra, &rp, &st, &tx,
			   &rx) != 7)
			continue; /* the header */
		if (lp == (unsigned)port && rp < 65536 && (i = watch_slot[rp] - 1) >= 0) {
			q[i][2] = (long)tx; /* the server's end */
			q[i][3] = (long)rx;
			open[i] = st == 1; /* TCP_ESTABLISHED: it has not closed */
		} else if (rp == (unsigned)port && lp < 65536 && (i = watch_slot[lp] - 1) >= 0) {
			q[i][0] = (long)tx; /* ours */
			q[i][1] = (long)rx;
		}
	}
	fclose(f);
	*still_ms = 0;
	for (int i = 0; i < w->n; i++) {
		if (!w->c[i].open)
			continue;
		if (!open[i] || memcmp(q[i], w->c[i].q, sizeof(q[i]))) {
			memcpy(w->c[i].q, q[i], sizeof(q[i]));
			w->c[i].moved = w->last = now;
			w->c[i].open = open[i];
		}
		if (w->c[i].open) {
			n++;
			if (now - w->c[i].moved > *still_ms)
				*still_ms = now - w->c[i].moved;
		}
	}
	return n;
}

/* how many stats lines (" live ") the log holds; the last one in line */
static int last_stats_line(const char *log, char *line, size_t n)
{
	char buf[4096];
	FILE *f = fopen(log, "r");
	int count = 0;

	if (!f)
		return -errno;
	while (fgets(buf, sizeof(buf), f)) {
		if (strstr(buf, " live ")) {
			count++;
			snprintf(line, n, "%s", buf);
		}
	}
	fclose(f);
	return count;
}

static long token(const char *line, const char *name)
{
	const char *p = strstr(line, name);

	return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

int srv_stats(pid_t pid, const char *log, struct srv_stats *s)
{
	char line[4096] = "";
	int before = last_stats_line(log, line, sizeof(line));
	int64_t deadline = now_ms() + 3000;
	const char *p;

	if (before < 0 || kill(pid, SIGUSR1))
		return -errno;
	while (last_stats_line(log, line, sizeof(line)) <= before) {
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		sleep_ms(20);
	}
	s->live = token(line, " live ");
	s->spill_hw = token(line, " spill_high_water ");
	s->free_low = s->buf_total = -1;
	p = strstr(line, " bufs_free_low ");
	if (p && sscanf(p, " bufs_free_low %ld/%ld", &s->free_low, &s->buf_total) != 2)
		s->free_low = s->buf_total = -1;
	return 0;
}

int wb_request(enum srv_kind k, int fd, uint64_t seq, int64_t deadline, char *why, size_t wn)
{
	char req[256], want[256];
	int n, m = 0, r, status = 0;

	switch (k) {
	case SRV_ECHO:
		n = snprintf(req, sizeof(req), "wb %" PRIu64 "\n", seq);
		m = snprintf(want, sizeof(want), "%s", req);
		break;
	case SRV_HTTP:
		n = snprintf(req, sizeof(req), "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n");
		break;
	default: {
		char v[32];
		int vl = snprintf(v, sizeof(v), "%" PRIu64, seq);

		n = snprintf(req, sizeof(req),
			     "*3\r\n$3\r\nSET\r\n$5\r\nwb:%02d\r\n$%d\r\n%s\r\n"
			     "*2\r\n$3\r\nGET\r\n$5\r\nwb:%02d\r\n",
			     (int)(seq % 100), vl, v, (int)(seq % 100));
		m = snprintf(want, sizeof(want), "+OK\r\n$%d\r\n%s\r\n", vl, v);
	}
	}
	r = send_all(fd, req, (size_t)n, deadline);
	if (r < 0) {
		snprintf(why, wn, "send: %s", strerror(-r));
		return r;
	}
	r = k == SRV_HTTP ? read_http(fd, deadline, &status) : expect_bytes(fd, want, (size_t)m, deadline);
	if (!r && k == SRV_HTTP && status != 200)
		r = -EPROTO;
	if (r == -ETIMEDOUT)
		snprintf(why, wn, "no answer in the deadline");
	else if (r == -EPROTO && status && status != 200)
		snprintf(why, wn, "answered with status %d", status);
	else if (r == -EPROTO)
		snprintf(why, wn, "wrong answer");
	else if (r == -ESHUTDOWN)
		snprintf(why, wn, "closed by the server (EOF) before the answer");
	else if (r)
		snprintf(why, wn, "%s", strerror(-r));
	return r;
}

int fresh_request(enum srv_kind k, int port, int deadline_ms, int64_t *us, char *why, size_t wn)
{
	int64_t t0 = now_us(), deadline = now_ms() + deadline_ms;
	int fd = tcp_connect(port, deadline), r;

	if (fd < 0) {
		snprintf(why, wn, "fresh client: connect: %s", strerror(-fd));
		return fd;
	}
	r = wb_request(k, fd, 7, deadline, why, wn);
	*us = now_us() - t0;
	close(fd);
	if (r) {
		char tmp[128];

		snprintf(tmp, sizeof(tmp), "%s", why);
		snprintf(why, wn, "fresh client: %s", tmp);
	}
	return r;
}

/* gap_ms: how long the connection had been left idle before the request */
static void wb_fail(struct wb *w, int i, int64_t gap_ms, const char *why)
{
	pthread_mutex_lock(&w->lock);
	if (!w->why[0])
		snprintf(w->why, sizeof(w->why),
			 "well-behaved client %d, %.1f s in, its connection idle %" PRId64
			 " ms before: %s",
			 i, (double)(now_ms() - w->t0_ms) / 1000.0, gap_ms, why);
	pthread_mutex_unlock(&w->lock);
	atomic_fetch_add(&w->fails, 1);
}

/*
 * The clients take their connections in turn, so each waits idle while
 * the others ask: a request slow in coming (a loaded host, a server busy
 * with an attack) leaves the rest idle that long. A server may close a
 * connection that has sent nothing for --idle-ms, rightly (its clock runs
 * from a request it received, never before we sent it); so a connection
 * last used half that long ago is replaced by a new one before it asks,
 * and one that is closed on us was used within half of --idle-ms: that
 * close is the server's fault.
 */
static void *wb_main(void *arg)
{
	struct wb *w = arg;
	int fd[16], i;
	int64_t sent[16]; /* when each connection last sent a request (ms) */
	uint64_t seq = 0;

	for (i = 0; i < w->n; i++)
		fd[i] = -1;
	while (!atomic_load(&w->stop)) {
		if (atomic_load(&w->pause)) {
			atomic_store(&w->paused, true);
			sleep_ms(10);
			continue;
		}
		atomic_store(&w->paused, false);
		for (i = 0; i < w->n && !atomic_load(&w->stop) && !atomic_load(&w->pause); i++) {
			char why[128];
			int64_t t0 = now_us(), deadline = now_ms() + w->deadline_ms;

			if (fd[i] >= 0 && w->idle_ms && (now_ms() - sent[i]) * 2 >= w->idle_ms)
				close(fd[i]), fd[i] = -1, atomic_fetch_add(&w->renewed, 1);
			if (fd[i] < 0) {
				fd[i] = tcp_connect(w->port, deadline);
				sent[i] = t0 / 1000; /* new: not idle */
			}
			if (fd[i] < 0) {
				snprintf(why, sizeof(why), "connect: %s", strerror(-fd[i]));
				wb_fail(w, i, 0, why);
				sleep_ms(50);
				continue;
			}
			if (wb_request(w->kind, fd[i], seq++, deadline, why, sizeof(why))) {
				wb_fail(w, i, t0 / 1000 - sent[i], why);
				close(fd[i]);
				fd[i] = -1;
				continue;
			}
			sent[i] = t0 / 1000;
			atomic_fetch_add(&w->ok, 1);
			if (now_us() - t0 > w->max_us)
				w->max_us = now_us() - t0;
		}
		for (int64_t end = now_ms() + w->gap_ms; now_ms() < end && !atomic_load(&w->stop);)
			sleep_ms(10);
	}
	for (i = 0; i < w->n; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return NULL;
}

int wb_start(struct wb *w, enum srv_kind k, int port, int n, int deadline_ms, int idle_ms,
	     int gap_ms)
{
	memset(w, 0, sizeof(*w));
	w->kind = k;
	w->port = port;
	w->n = n > 16 ? 16 : n;
	w->deadline_ms = deadline_ms;
	w->idle_ms = idle_ms;
	w->gap_ms = gap_ms;
	w->t0_ms = now_ms();
	pthread_mutex_init(&w->lock, NULL);
	return -pthread_create(&w->th, NULL, wb_main, w);
}

void wb_stop(struct wb *w)
{
	atomic_store(&w->stop, true);
	pthread_join(w->th, NULL);
	pthread_mutex_destroy(&w->lock);
}

void wb_pause(struct wb *w, bool on)
{
	int64_t deadline = now_ms() + (int64_t)w->deadline_ms * 2;

	atomic_store(&w->pause, on);
	/* a request under way finishes (or times out) first */
	while (on && !atomic_load(&w->paused) && now_ms() < deadline)
		sleep_ms(5);
}
