/* SPDX-License-Identifier: MIT */
/*
 * echo_peer.h - what the echo grid's C peers of urt-echo (epoll-echo,
 * libuv-echo) share: their command line (--addr A, --port P, --help), the
 * descriptor limit raised to its hard limit, and the stats line. Header
 * only: each peer stays one .c file.
 */
#ifndef URT_BENCHES_ECHO_PEER_H
#define URT_BENCHES_ECHO_PEER_H

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

/* What a peer counts; its stats line prints them. */
struct echo_peer_counts {
	uint64_t conns; /* accepted */
	uint64_t live;	/* open now */
	uint64_t reads; /* reads that returned bytes: one a request */
	uint64_t bytes; /* bytes echoed */
};

static inline void echo_peer_stats(const char *what, const struct echo_peer_counts *n)
{
	printf("%s: connections %llu live %llu requests %llu bytes %llu\n", what,
	       (unsigned long long)n->conns, (unsigned long long)n->live,
	       (unsigned long long)n->reads, (unsigned long long)n->bytes);
	fflush(stdout);
}

static inline int echo_peer_bad(const char *name, const char *msg, const char *arg)
{
	fprintf(stderr, "%s: %s%s%s (see --help)\n", name, msg, arg ? ": " : "", arg ? arg : "");
	return 2;
}

/*
 * echo_peer_args - argv into *addr and *port (defaults 127.0.0.1 and
 * 7001; 0 picks a free port); --help prints NAME's usage with WHAT, a line
 * that says what it is. Raises RLIMIT_NOFILE to its hard limit.
 * Return: -1 to go on; else the exit code: 0 after --help, 2 for a bad
 * argument (said on stderr).
 */
static inline int echo_peer_args(int argc, char **argv, const char *name, const char *what,
				 const char **addr, uint16_t *port)
{
	static const struct option longs[] = {
		{ "addr", required_argument, 0, 'a' },
		{ "port", required_argument, 0, 'p' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct rlimit rl;
	int c;

	*addr = "127.0.0.1";
	*port = 7001;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		char *end;
		unsigned long v;

		switch (c) {
		case 'a':
			*addr = optarg;
			break;
		case 'p':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || v > 65535)
				return echo_peer_bad(name, "bad --port", optarg);
			*port = (uint16_t)v;
			break;
		case 'h':
			printf("usage: %s [--addr A] [--port P]\n"
			       "  --addr A   IPv4 address to bind (default 127.0.0.1)\n"
			       "  --port P   port (default 7001; 0 picks a free one)\n"
			       "%s\n"
			       "SIGUSR1 prints stats; SIGINT/SIGTERM stop it.\n",
			       name, what);
			return 0;
		default:
			return echo_peer_bad(name, "unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return echo_peer_bad(name, "unexpected argument", argv[optind]);
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return -1;
}

#endif
