/* SPDX-License-Identifier: MIT */
/*
 * bench_tls.c - what a TLS connection costs a urt server, with OpenSSL's
 * record buffers released when idle (SSL_MODE_RELEASE_BUFFERS, urt_tls's
 * default) and kept (.keep_buffers), side by side in one run:
 *   - OpenSSL's heap per idle connection, after its handshake and one
 *     request (the allocation hooks count live bytes);
 *   - heap allocations per request once connections are up: OpenSSL's
 *     (its hooks) and the whole process's (the C heap interposed); the
 *     difference is urt's own, which must be zero;
 *   - server CPU per request (getrusage).
 * The server is this process (one runtime, urt_tls); the clients are a
 * forked child (urt_tls clients on a runtime of its own), so only the
 * server's heap is counted. A request is 100 bytes in, 1 KiB out.
 *
 *   bench_tls PKI-DIR [CONNS [REQUESTS-PER-CONN]]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tests/support/heap_count.h"
#include "urt/tls.h"
#include "urt/urt.h"

#define REQ  100
#define RESP 1024

static unsigned conns = 200, rounds = 200;
static char pki[512];

static const char *pki_file(const char *name)
{
	static char path[4][600];
	static unsigned at;
	char *p = path[at++ % 4];

	snprintf(p, 600, "%s/%s", pki, name);
	return p;
}

/* --- the server: this process --------------------------------------------------- */

static struct urt_tls_ctx *sctx;
static unsigned served_conns;

struct sconn {
	struct urt_tls tls;
	int fd, n, ret;
	size_t got;
	char buf[RESP];
};

static bool sconn_poll(struct urt_task *t, void *arg)
{
	struct sconn *c = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, c->ret = urt_tls_handshake(t, &c->tls));
	if (c->ret < 0)
		goto end;
	served_conns++;
	for (;;) {
		for (c->got = 0; c->got < REQ; c->got += (size_t)c->n) {
			URT_AWAIT(t, c->n = urt_tls_read(t, &c->tls, c->buf + c->got, REQ - c->got));
			if (c->n <= 0)
				goto end;
		}
		URT_AWAIT(t, c->ret = urt_tls_write_all(t, &c->tls, c->buf, RESP));
		if (c->ret < 0)
			goto end;
	}
end:
	URT_AWAIT(t, urt_tls_shutdown(t, &c->tls));
	URT_AWAIT(t, urt_tls_end(t, &c->tls));
	URT_RETURN(t, 0);
	URT_END(t);
}

static void sconn_drop(struct urt_task *t, void *arg)
{
	struct sconn *c = arg;

	(void)urt_tls_free(&c->tls);
	close(c->fd);
}

static const struct urt_task_type sconn_type = { .poll = sconn_poll, .drop = sconn_drop };

struct acceptor {
	int lfd, fd;
	struct urt_op op;
};

static bool acceptor_poll(struct urt_task *t, void *arg)
{
	struct acceptor *a = arg;
	struct sconn c;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, a->fd = urt_accept_stream(t, &a->op, a->lfd));
		if (a->fd < 0)
			break;
		memset(&c, 0, sizeof(c));
		c.fd = a->fd;
		if (urt_tls_init(&c.tls, sctx, c.fd, NULL) ||
		    urt_spawn(urt_runtime_current(), &sconn_type, &c, sizeof(c), NULL)) {
			fprintf(stderr, "bench_tls: cannot start a connection\n");
			exit(1);
		}
	}
	URT_END(t);
}

static const struct urt_task_type acceptor_type = { .poll = acceptor_poll };

/* --- the clients: a child process ----------------------------------------------- */

static struct urt_tls_ctx *cctx;
static uint16_t port;
static volatile unsigned phase; /* 1: one request each; 2: the rounds */
static unsigned at_phase_end, failed;

struct cconn {
	struct urt_tls tls;
	struct urt_op op;
	struct sockaddr_in sa;
	int fd, n, ret;
	unsigned round, want;
	size_t got;
	char buf[RESP];
};

static bool cconn_poll(struct urt_task *t, void *arg)
{
	struct cconn *c = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, c->fd = urt_socket(t, &c->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (c->fd < 0)
		goto fail;
	c->sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
	c->sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	URT_AWAIT(t, c->ret = urt_connect(t, &c->op, c->fd, (struct sockaddr *)&c->sa, sizeof(c->sa)));
	if (c->ret < 0 || urt_tls_init(&c->tls, cctx, c->fd, "localhost"))
		goto fail;
	URT_AWAIT(t, c->ret = urt_tls_handshake(t, &c->tls));
	if (c->ret < 0)
		goto fail;
	for (c->want = 1; c->want <= 2; c->want++) {
		while (phase < c->want)
			URT_AWAIT(t, urt_sleep(t, &c->op, 1000000));
		for (c->round = 0; c->round < (c->want == 1 ? 1 : rounds); c->round++) {
			memset(c->buf, 'q', REQ);
			URT_AWAIT(t, c->ret = urt_tls_write_all(t, &c->tls, c->buf, REQ));
			if (c->ret < 0)
				goto fail;
			for (c->got = 0; c->got < RESP; c->got += (size_t)c->n) {
				URT_AWAIT(t, c->n = urt_tls_read(t, &c->tls, c->buf, RESP - c->got));
				if (c->n <= 0)
					goto fail;
			}
		}
		at_phase_end++;
	}
	URT_AWAIT(t, urt_tls_shutdown(t, &c->tls));
	URT_AWAIT(t, urt_tls_end(t, &c->tls));
	URT_RETURN(t, 0);
fail:
	failed++;
	at_phase_end += 2;
	URT_AWAIT(t, urt_tls_end(t, &c->tls));
	URT_RETURN(t, 0);
	URT_END(t);
}

static void cconn_drop(struct urt_task *t, void *arg)
{
	struct cconn *c = arg;

	(void)urt_tls_free(&c->tls);
	if (c->fd >= 0)
		close(c->fd);
}

static const struct urt_task_type cconn_type = { .poll = cconn_poll, .drop = cconn_drop };

/* The child: connect every client, a request each, tell the parent 'I'
 * (idle), wait for its 'G', the rounds, then 'D'. */
static void clients(int up, int down)
{
	struct urt_runtime rt;
	char ch;

	if (urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ .client = true, .ca_file = pki_file("ca.pem") },
			    &cctx) ||
	    urt_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_count = 1024 }))
		_exit(1);
	for (unsigned i = 0; i < conns; i++)
		if (urt_spawn(&rt, &cconn_type, &(struct cconn){ .fd = -1 }, sizeof(struct cconn), NULL))
			_exit(1);
	phase = 1;
	while (at_phase_end < conns)
		if (urt_tick(&rt, 10000000) < 0)
			_exit(1);
	if (write(up, "I", 1) != 1 || read(down, &ch, 1) != 1)
		_exit(1);
	phase = 2;
	while (at_phase_end < 2 * conns)
		if (urt_tick(&rt, 10000000) < 0)
			_exit(1);
	if (write(up, failed ? "F" : "D", 1) != 1)
		_exit(1);
	if (urt_run(&rt) < 0)
		_exit(1);
	urt_runtime_deinit(&rt);
	_exit(failed ? 1 : 0);
}

/* --- one mode ------------------------------------------------------------------------ */

struct result {
	double idle_bytes;   /* OpenSSL heap per idle connection */
	double ossl_allocs;  /* OpenSSL allocations per request */
	double proc_allocs;  /* every allocation of the process per request */
	double cpu_us;	     /* server CPU per request */
};

static double cpu_now_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
	       (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

/* Tick rt until the child says something on fd. */
static char wait_child(struct urt_runtime *rt, int fd)
{
	char ch;

	for (;;) {
		ssize_t n = read(fd, &ch, 1);

		if (n == 1)
			return ch;
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			fprintf(stderr, "bench_tls: the clients died\n");
			exit(1);
		}
		if (urt_tick(rt, 1000000) < 0)
			exit(1);
	}
}

static struct result run(bool release)
{
	struct urt_runtime rt;
	struct urt_join acc;
	struct result r;
	int up[2], down[2], lfd, status;
	int64_t b0, b1;
	uint64_t o0;
	double c0;
	pid_t pid;

	if (urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ .cert_file = pki_file("server.pem"),
							.key_file = pki_file("server.key"),
							.keep_buffers = !release },
			    &sctx)) {
		fprintf(stderr, "bench_tls: server context: %s\n", urt_tls_error_string());
		exit(1);
	}
	lfd = urt_listen_tcp("127.0.0.1", 0, 4096, 0, &port);
	if (lfd < 0 || pipe2(up, O_NONBLOCK | O_CLOEXEC) || pipe2(down, O_CLOEXEC))
		exit(1);
	served_conns = 0;
	b0 = urt_tls_heap_bytes();
	/* the child before this thread has a runtime: it makes its own */
	pid = fork();
	if (pid < 0)
		exit(1);
	if (pid == 0) {
		close(lfd);
		clients(up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	if (urt_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_count = 1024 }))
		exit(1);
	if (urt_spawn(&rt, &acceptor_type, &(struct acceptor){ .lfd = lfd }, sizeof(struct acceptor),
		      &acc))
		exit(1);
	if (wait_child(&rt, up[0]) != 'I' || served_conns != conns) {
		fprintf(stderr, "bench_tls: %u of %u connections up\n", served_conns, conns);
		exit(1);
	}
	/* every connection has done a request and is idle: a read waits */
	for (int i = 0; i < 10; i++)
		if (urt_tick(&rt, 1000000) < 0)
			exit(1);
	b1 = urt_tls_heap_bytes();
	r.idle_bytes = (double)(b1 - b0) / conns;

	o0 = urt_tls_heap_calls();
	heap_calls = 0;
	heap_counting = true;
	c0 = cpu_now_us();
	if (write(down[1], "G", 1) != 1 || wait_child(&rt, up[0]) != 'D') {
		fprintf(stderr, "bench_tls: the clients failed\n");
		exit(1);
	}
	r.cpu_us = (cpu_now_us() - c0) / ((double)conns * rounds);
	heap_counting = false;
	r.ossl_allocs = (double)(urt_tls_heap_calls() - o0) / ((double)conns * rounds);
	r.proc_allocs = (double)heap_calls / ((double)conns * rounds);

	(void)urt_join_abort(&acc);
	waitpid(pid, &status, 0);
	urt_runtime_deinit(&rt);
	close(lfd);
	close(up[0]);
	close(down[1]);
	urt_tls_ctx_free(sctx);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bench_tls: the clients exited badly\n");
		exit(1);
	}
	return r;
}

int main(int argc, char **argv)
{
	struct result kept, rel;

	/* first: the hooks count only if OpenSSL has allocated nothing yet */
	if (urt_tls_count_heap()) {
		fprintf(stderr, "bench_tls: OpenSSL allocated before its heap could be counted\n");
		return 1;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: bench_tls PKI-DIR [CONNS [REQUESTS]]\n");
		return 2;
	}
	snprintf(pki, sizeof(pki), "%s", argv[1]);
	if (argc > 2)
		conns = (unsigned)strtoul(argv[2], NULL, 10);
	if (argc > 3)
		rounds = (unsigned)strtoul(argv[3], NULL, 10);
	if (!conns || conns > 5000 || !rounds || rounds > 100000)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	kept = run(false);
	rel = run(true);
	printf("TLS 1.3 server (urt_tls), %u connections, %u requests each (100 B in, 1 KiB out);\n"
	       "struct urt_tls %zu B in the task's state\n\n",
	       conns, rounds, sizeof(struct urt_tls));
	printf("%-26s %14s %14s %14s %12s\n", "OpenSSL record buffers", "idle heap/conn",
	       "OpenSSL allocs", "process allocs", "server CPU");
	printf("%-26s %14s %14s %14s %12s\n", "", "(B)", "per request", "per request", "us/request");
	printf("%-26s %14.0f %14.2f %14.2f %12.2f\n", "kept (.keep_buffers)", kept.idle_bytes,
	       kept.ossl_allocs, kept.proc_allocs, kept.cpu_us);
	printf("%-26s %14.0f %14.2f %14.2f %12.2f\n", "released (default)", rel.idle_bytes,
	       rel.ossl_allocs, rel.proc_allocs, rel.cpu_us);
	printf("\nurt's own allocations per request (process - OpenSSL): kept %.2f, released %.2f\n",
	       kept.proc_allocs - kept.ossl_allocs, rel.proc_allocs - rel.ossl_allocs);
	printf("idle memory ratio released/kept: %.2f\n", rel.idle_bytes / kept.idle_bytes);
	return 0;
}
