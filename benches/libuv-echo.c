/* SPDX-License-Identifier: MIT */
/*
 * libuv-echo - the echo server as libuv's users write it: one loop, a
 * uv_tcp_t per connection, uv_read_start with an alloc callback, a
 * uv_write of what was read. It exists to be measured next to urt-echo,
 * epoll-echo and tokio-echo under the same urt-load runs
 * (scripts/echo-bench.sh grid).
 *
 *   libuv-echo [--addr A] [--port P]
 *
 * Per connection: the handle and one 16 KiB buffer, in one allocation, as
 * epoll-echo has. What was read goes back with uv_try_write (no request, no
 * queue: one send, as epoll-echo's); only what the kernel does not take is
 * queued with uv_write, and the connection stops reading until it is gone
 * (the same back-pressure urt-echo and epoll-echo have). Rejected: a
 * uv_read_stop and uv_read_start around every uv_write, which costs libuv
 * an epoll_ctl per message; and libuv's own benchmark shape (a malloc'd
 * buffer and write request per read), which adds two heap calls a message.
 *
 * Prints 'listening on ADDR:PORT' once ready. SIGUSR1 prints a stats line;
 * SIGINT/SIGTERM print it and exit 0 (the process ends there: connections
 * are closed by exit, as epoll-echo does).
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "echo_peer.h"

#define BUF 16384

struct conn {
	uv_tcp_t tcp; /* first: the handle's address is the connection's */
	uv_write_t wr;
	char buf[BUF];
};

static struct echo_peer_counts count;
static uv_loop_t *loop;

static void on_closed(uv_handle_t *h)
{
	free(h); /* struct conn: the handle is its first member */
	count.live--;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct conn *c = (struct conn *)h;

	(void)hint;
	*b = uv_buf_init(c->buf, BUF);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void on_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;

	if (status < 0 || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read))
		uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = (struct conn *)s;
	uv_buf_t out;
	int sent;

	if (n == 0) /* EAGAIN */
		return;
	if (n < 0)
		goto drop;
	count.reads++;
	count.bytes += (uint64_t)n;
	out = uv_buf_init(b->base, (unsigned int)n);
	sent = uv_try_write(s, &out, 1);
	if (sent == n)
		return;
	if (sent < 0 && sent != UV_EAGAIN)
		goto drop;
	/* the rest waits for the kernel: stop reading until it is gone */
	if (sent > 0)
		out = uv_buf_init(b->base + sent, (unsigned int)(n - sent));
	c->wr.data = c;
	uv_read_stop(s);
	if (!uv_write(&c->wr, s, &out, 1, on_written))
		return;
drop:
	uv_close((uv_handle_t *)s, on_closed);
}

static void on_conn(uv_stream_t *srv, int status)
{
	struct conn *c;

	if (status < 0)
		return;
	c = malloc(sizeof(*c));
	if (!c)
		return; /* libuv accepts again at the next readiness */
	uv_tcp_init(loop, &c->tcp);
	count.live++; /* on_closed counts it out */
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) || uv_tcp_nodelay(&c->tcp, 1) ||
	    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) {
		uv_close((uv_handle_t *)&c->tcp, on_closed);
		return;
	}
	count.conns++;
}

static void on_signal(uv_signal_t *h, int signo)
{
	(void)h;
	if (signo == SIGUSR1) {
		echo_peer_stats("stats", &count);
		return;
	}
	echo_peer_stats("final", &count);
	exit(0);
}

int main(int argc, char **argv)
{
	const char *addr;
	uint16_t port;
	static uv_tcp_t srv;
	static uv_signal_t sig[3];
	static const int signos[3] = { SIGINT, SIGTERM, SIGUSR1 };
	struct sockaddr_in sa;
	int salen = sizeof(sa);
	int r = echo_peer_args(argc, argv, "libuv-echo",
			       "A libuv echo server: a peer of urt-echo in the echo grid.", &addr,
			       &port);

	if (r >= 0)
		return r;
	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	r = uv_ip4_addr(addr, port, &sa);
	if (!r)
		r = uv_tcp_init(loop, &srv);
	if (!r)
		r = uv_tcp_bind(&srv, (const struct sockaddr *)&sa, 0);
	if (!r)
		r = uv_listen((uv_stream_t *)&srv, 4096, on_conn);
	if (!r)
		r = uv_tcp_getsockname(&srv, (struct sockaddr *)&sa, &salen);
	for (int i = 0; !r && i < 3; i++) {
		r = uv_signal_init(loop, &sig[i]);
		if (!r)
			r = uv_signal_start(&sig[i], on_signal, signos[i]);
	}
	if (r) {
		fprintf(stderr, "libuv-echo: listen on %s:%u: %s\n", addr, port, uv_strerror(r));
		return 1;
	}
	printf("listening on %s:%u\n", addr, ntohs(sa.sin_port));
	fflush(stdout);
	return uv_run(loop, UV_RUN_DEFAULT);
}
