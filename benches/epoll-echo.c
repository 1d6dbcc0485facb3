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
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "echo_peer.h"

#define BUF 16384

struct conn {
	int fd;
	uint32_t off, len; /* unsent bytes: buf[off, len) */
	char buf[BUF];
};

static struct echo_peer_counts count;

static int listen_on(const char *addr, uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(*port) };
	socklen_t len = sizeof(sa);
	int fd, one = 1;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* TCP_NODELAY on the listener, which accepted sockets inherit: the
	 * grid's servers all set it, as urt-echo does */
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
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
	count.live--;
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
	count.reads++;
	count.bytes += (uint64_t)n;
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

int main(int argc, char **argv)
{
	const char *addr;
	uint16_t port;
	struct epoll_event evs[256];
	sigset_t set;
	int lfd, ep, sfd;
	static char lmark, smark; /* epoll data for the listener and signals */
	int r = echo_peer_args(argc, argv, "epoll-echo",
			       "A level-triggered epoll echo server: the baseline for urt-echo.",
			       &addr, &port);

	if (r >= 0)
		return r;
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
					count.conns++;
					count.live++;
				}
			} else if (p == &smark) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGUSR1) {
					echo_peer_stats("stats", &count);
					continue;
				}
				echo_peer_stats("final", &count);
				/* connections are closed by exit: the process ends here */
				return 0;
			} else {
				on_conn(ep, p, evs[i].events);
			}
		}
	}
}
