/* SPDX-License-Identifier: MIT */
/*
 * epoll-echo - the baseline every C programmer knows: a single-threaded,
 * non-blocking, level-triggered epoll echo server with a buffer per
 * connection. It exists to be measured next to urt-echo under the same
 * urt-load runs (scripts/echo-bench.sh).
 *
 *   epoll-echo [--addr A] [--port P]
 *
 * Level-triggered: a connection is read once per wake-up (one read of up to
 * 16 KiB), the classic shape; edge-triggered would have to drain every
 * socket until EAGAIN, which costs one more read syscall per wake-up.
 * Writes go out at once; what the kernel does not take stays in the
 * connection's buffer, the connection waits for EPOLLOUT and is not read
 * again until its output is gone (the same back-pressure urt-echo has).
 *
 * Prints 'listening on ADDR:PORT' once ready. SIGUSR1 prints a stats line;
 * SIGINT/SIGTERM close every connection, print it and exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 16384

struct conn {
	int fd;
	uint32_t off, len; /* unsent bytes: buf[off, len) */
	char buf[BUF];
};

static uint64_t nconns, nreads, nbytes, nlive;

static void stats(const char *what)
{
	printf("%s: connections %llu live %llu requests %llu bytes %llu\n", what,
	       (unsigned long long)nconns, (unsigned long long)nlive, (unsigned long long)nreads,
	       (unsigned long long)nbytes);
	fflush(stdout);
}

static int listen_on(const char *addr, uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(*port) };
	socklen_t len = sizeof(sa);
	int fd, one = 1;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		return -errno;
	*port = ntohs(sa.sin_port);
	return fd;
}

static void drop(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
	nlive--;
}

/* Send what is buffered. Return: 0 all sent, 1 some left, -1 error. */
static int flush(struct conn *c)
{
	while (c->off < c->len) {
		ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 1 : -1;
		c->off += (uint32_t)n;
	}
	c->off = c->len = 0;
	return 0;
}

static void on_conn(int ep, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .data.ptr = c };
	int r;

	if (c->len) { /* waiting for EPOLLOUT */
		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		r = flush(c);
		if (r < 0) {
			drop(ep, c);
			return;
		}
		if (r == 0) { /* drained: read again */
			ev.events = EPOLLIN;
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
		return;
	}
	ssize_t n = recv(c->fd, c->buf, BUF, 0);

	if (n == 0 || (n < 0 && errno != EAGAIN)) {
		drop(ep, c);
		return;
	}
	if (n < 0)
		return;
	nreads++;
	nbytes += (uint64_t)n;
	c->len = (uint32_t)n;
	r = flush(c);
	if (r < 0) {
		drop(ep, c);
		return;
	}
	if (r == 1) { /* stuck: stop reading, wait to write */
		ev.events = EPOLLOUT;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static int bad(const char *msg, const char *arg)
{
	fprintf(stderr, "epoll-echo: %s%s%s (see --help)\n", msg, arg ? ": " : "", arg ? arg : "");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "addr", required_argument, 0, 'a' },
		{ "port", required_argument, 0, 'p' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *addr = "127.0.0.1";
	uint16_t port = 7001;
	struct epoll_event evs[256];
	struct rlimit rl;
	sigset_t set;
	int c, lfd, ep, sfd;
	static char lmark, smark; /* epoll data for the listener and signals */

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		char *end;
		unsigned long v;

		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v > 65535)
				return bad("bad --port", optarg);
			port = (uint16_t)v;
			break;
		case 'h':
			printf("usage: epoll-echo [--addr A] [--port P]\n"
			       "  --addr A   IPv4 address to bind (default 127.0.0.1)\n"
			       "  --port P   port (default 7001; 0 picks a free one)\n"
			       "A level-triggered epoll echo server: the baseline for urt-echo.\n"
			       "SIGUSR1 prints stats; SIGINT/SIGTERM stop it.\n");
			return 0;
		default:
			return bad("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument", argv[optind]);
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	lfd = listen_on(addr, &port);
	if (lfd < 0) {
		fprintf(stderr, "epoll-echo: listen on %s:%u: %s\n", addr, port, strerror(-lfd));
		return 1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, lfd,
		      &(struct epoll_event){ EPOLLIN, { .ptr = &lmark } }) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, sfd,
		      &(struct epoll_event){ EPOLLIN, { .ptr = &smark } })) {
		perror("epoll-echo: setup");
		return 1;
	}
	printf("listening on %s:%u\n", addr, port);
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &lmark) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL,
						     SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct conn *cn = malloc(sizeof(*cn));

					if (!cn) {
						close(fd);
						continue;
					}
					cn->fd = fd;
					cn->off = cn->len = 0;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, fd,
						      &(struct epoll_event){ EPOLLIN,
									     { .ptr = cn } })) {
						close(fd);
						free(cn);
						continue;
					}
					nconns++;
					nlive++;
				}
			} else if (p == &smark) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGUSR1) {
					stats("stats");
					continue;
				}
				stats("final");
				/* connections are closed by exit: the process ends here */
				return 0;
			} else {
				on_conn(ep, p, evs[i].events);
			}
		}
	}
}
