/* SPDX-License-Identifier: MIT */
/*
 * tls-idle - open N TLS connections to a server, complete each handshake,
 * then leave them idle, so that a script can read what they cost the server
 * (its RSS before and after, scripts/bench-tls.sh). A benchmark client, not
 * a part of urt: plain OpenSSL over blocking sockets, one connection at a
 * time.
 *
 *   tls-idle --port P [--addr A] [--conns N] [--ca FILE] [--hold-ms MS]
 *            [--timeout-ms MS] [--plain]
 *
 * --plain: TCP connections only, no TLS (what a connection costs the
 * server before TLS, for comparison).
 *
 * Prints "ready OK FAILED" once every connection has been tried (OK
 * handshakes done, FAILED that did not, and the first failure's reason on
 * stderr), then holds them --hold-ms (default 3000) and prints
 * "alive K" (the ones the server has not closed meanwhile), closes them
 * all and exits 0 if every connection was made and is still alive, else 1
 * (2 for bad flags).
 *
 * Bounded in time: every socket call gives up after 5 s (SO_RCVTIMEO,
 * SO_SNDTIMEO, so a server that stops answering fails that handshake), no
 * connection is started once --timeout-ms (default 60000) have passed
 * since the first, and an alarm ends the process (SIGALRM) if it is still
 * there 30 s after timeout + hold (a server trickling every handshake).
 *
 * The client's protocol, suites and groups are OpenSSL's defaults, or what
 * OPENSSL_CONF's system_default section says (bench-tls.sh pins TLS 1.3,
 * TLS_AES_128_GCM_SHA256 and X25519 there, for every client alike). With
 * --ca the server's chain is verified against FILE and its certificate
 * must name --addr (an IP address SAN); without it nothing is verified.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define IO_TIMEOUT_S 5

struct conn {
	int fd;	  /* -1: not made */
	SSL *ssl; /* NULL: --plain */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The reason for the first failure, once: later ones are counted only. */
static void first_failure(bool *said, long i, const char *what, int err)
{
	char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (*said)
		goto out;
	*said = true;
	if (e) {
		ERR_error_string_n(e, buf, sizeof(buf));
		fprintf(stderr, "tls-idle: connection %ld: %s: %s\n", i, what, buf);
	} else {
		fprintf(stderr, "tls-idle: connection %ld: %s: %s\n", i, what,
			err ? strerror(err) : "closed by the server");
	}
out:
	ERR_clear_error();
}

/* One connection, handshake done (ctx NULL: TCP only). Return: 0, or -1
 * (reported once). */
static int open_one(SSL_CTX *ctx, const struct sockaddr_in *sa, const char *addr, bool verify,
		    long i, bool *said, struct conn *c)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int one = 1;

	c->ssl = NULL;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		first_failure(said, i, "socket", errno);
		return -1;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		first_failure(said, i, "connect", errno);
		goto fail;
	}
	if (!ctx)
		return 0;
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
		first_failure(said, i, "SSL_new", ENOMEM);
		goto fail;
	}
	if (verify && !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), addr)) {
		first_failure(said, i, "the address to verify", EINVAL);
		goto fail;
	}
	errno = 0;
	if (SSL_connect(c->ssl) != 1) {
		first_failure(said, i, "handshake", errno);
		goto fail;
	}
	return 0;
fail:
	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
	return -1;
}

/*
 * Whether the server still holds c open: its bytes (session tickets, never
 * read by a client that only waits) are drained, raw, until the socket
 * would block (open) or shows end of stream or an error (closed). A peek
 * would see the tickets and miss a FIN behind them. The connection's TLS
 * state is of no use afterwards: it is only closed.
 */
static bool alive(const struct conn *c)
{
	char b[4096];

	/* bounded: a server that keeps sending is open */
	for (int k = 0; k < 64; k++) {
		ssize_t n = recv(c->fd, b, sizeof(b), MSG_DONTWAIT);

		if (n <= 0)
			return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
	return true;
}

static int usage(void)
{
	fprintf(stderr, "usage: tls-idle --port P [--addr A] [--conns N] [--ca FILE] "
			"[--hold-ms MS] [--timeout-ms MS] [--plain]\n");
	return 2;
}

static bool num(const char *s, long lo, long hi, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return !errno && end != s && !*end && *out >= lo && *out <= hi;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "addr", required_argument, 0, 'a' },
					      { "port", required_argument, 0, 'p' },
					      { "conns", required_argument, 0, 'n' },
					      { "ca", required_argument, 0, 'c' },
					      { "hold-ms", required_argument, 0, 'h' },
					      { "timeout-ms", required_argument, 0, 't' },
					      { "plain", no_argument, 0, 'P' },
					      { 0, 0, 0, 0 } };
	const char *addr = "127.0.0.1", *ca = NULL;
	long port = 0, n = 1000, hold_ms = 3000, timeout_ms = 60000, ok = 0, failed = 0, live = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timespec hold;
	struct rlimit rl;
	struct conn *conns;
	SSL_CTX *ctx;
	uint64_t t0;
	bool said = false, plain = false;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			addr = optarg;
			break;
		case 'p':
			if (!num(optarg, 1, 65535, &port))
				return usage();
			break;
		case 'n':
			if (!num(optarg, 1, 1000000, &n))
				return usage();
			break;
		case 'c':
			ca = optarg;
			break;
		case 'h':
			if (!num(optarg, 0, 600000, &hold_ms))
				return usage();
			break;
		case 't':
			if (!num(optarg, 1, 600000, &timeout_ms))
				return usage();
			break;
		case 'P':
			plain = true;
			break;
		default:
			return usage();
		}
	}
	if (!port || optind != argc || inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		return usage();
	sa.sin_port = htons((uint16_t)port);
	alarm((unsigned)((timeout_ms + hold_ms) / 1000 + 30));

	/* a descriptor per connection, and a few more */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)n + 64 ? rl.rlim_max : (rlim_t)n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	conns = calloc((size_t)n, sizeof(*conns));
	ctx = SSL_CTX_new(TLS_client_method());
	if (!conns || !ctx) {
		fprintf(stderr, "tls-idle: out of memory\n");
		return 1;
	}
	if (ca) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			fprintf(stderr, "tls-idle: cannot load %s\n", ca);
			return 2;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}

	for (long i = 0; i < n; i++)
		conns[i].fd = -1;
	t0 = now_ms();
	for (long i = 0; i < n; i++) {
		if (now_ms() - t0 > (uint64_t)timeout_ms) {
			fprintf(stderr, "tls-idle: --timeout-ms %ld passed after %ld connections\n",
				timeout_ms, i);
			failed += n - i;
			break;
		}
		if (open_one(plain ? NULL : ctx, &sa, addr, ca != NULL, i, &said, &conns[i]) == 0)
			ok++;
		else
			failed++;
	}
	printf("ready %ld %ld\n", ok, failed);
	fflush(stdout);

	hold.tv_sec = hold_ms / 1000;
	hold.tv_nsec = hold_ms % 1000 * 1000000;
	while (nanosleep(&hold, &hold) < 0 && errno == EINTR)
		;
	for (long i = 0; i < n; i++)
		if (conns[i].fd >= 0 && alive(&conns[i]))
			live++;
	printf("alive %ld\n", live);
	fflush(stdout);

	/* no close_notify: the server sees the TCP stream end, N at once */
	for (long i = 0; i < n; i++) {
		if (conns[i].fd < 0)
			continue;
		SSL_free(conns[i].ssl);
		close(conns[i].fd);
	}
	SSL_CTX_free(ctx);
	free(conns);
	return failed || live != ok ? 1 : 0;
}
