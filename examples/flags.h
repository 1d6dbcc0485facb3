/* SPDX-License-Identifier: MIT */
/*
 * flags.h - command-line helpers the example servers share: a bad flag is
 * one line on stderr and exit status 2; numbers are whole decimals in a
 * range, sizes may end in k, m or g (powers of 1024). Header-only.
 */
#ifndef URT_EXAMPLES_FLAGS_H
#define URT_EXAMPLES_FLAGS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print "PROG: MSG: ARG (see --help)". Return: 2, the exit status. */
static inline int flag_bad(const char *prog, const char *msg, const char *arg)
{
	fprintf(stderr, "%s: %s%s%s (see --help)\n", prog, msg, arg ? ": " : "", arg ? arg : "");
	return 2;
}

/* A size: digits, then k, m or g optionally. Return: whether it is one in [lo, hi]. */
static inline bool flag_size(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	if (*end == 'k' || *end == 'K')
		mul = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1024 * 1024, end++;
	else if (*end == 'g' || *end == 'G')
		mul = 1024ull * 1024 * 1024, end++;
	if (*end || v > hi / mul || v * mul < lo)
		return false;
	*out = v * mul;
	return true;
}

/* A whole decimal, no suffix. Return: whether it is one in [lo, hi]. */
static inline bool flag_uint(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return flag_size(s, lo, hi, out);
}

/*
 * The flags every multi-runtime server takes, parsed in one place: --port,
 * --addr, --threads (1..SERVER_MAX_THREADS), --spawn slab|boxed,
 * --max-conns and --fixed-fds (accepted sockets as direct descriptors:
 * urt_runtime_opts.fixed_fds). Put SERVER_OPTIONS in the getopt_long table and call
 * server_flag before the program's own switch.
 */
#define SERVER_MAX_THREADS 64
/* Long-only flags have codes past any letter, so a program's own short codes
 * cannot shadow them (server_flag runs first). */
#define SERVER_FLAG_FIXED_FDS 0x80
#define SERVER_OPTIONS                                                                             \
	{ "port", required_argument, 0, 'p' }, { "addr", required_argument, 0, 'a' },              \
		{ "threads", required_argument, 0, 't' }, { "spawn", required_argument, 0, 's' },  \
		{ "max-conns", required_argument, 0, 'c' }, { "fixed-fds", no_argument, 0, SERVER_FLAG_FIXED_FDS }

struct server_flags {
	const char *addr;
	uint16_t port;
	int threads;
	bool boxed;
	uint32_t max_conns;
	bool fixed_fds;
};

/* Return: 0 taken; -1 not one of these; 2 a bad value (reported: exit with it). */
static inline int server_flag(const char *prog, int c, const char *arg, struct server_flags *f)
{
	uint64_t v;

	switch (c) {
	case 'p':
		if (!flag_uint(arg, 0, 65535, &v))
			return flag_bad(prog, "bad --port", arg);
		f->port = (uint16_t)v;
		return 0;
	case 'a':
		f->addr = arg;
		return 0;
	case 't':
		if (!flag_uint(arg, 1, SERVER_MAX_THREADS, &v))
			return flag_bad(prog, "bad --threads (1..64)", arg);
		f->threads = (int)v;
		return 0;
	case 's':
		if (strcmp(arg, "slab") && strcmp(arg, "boxed"))
			return flag_bad(prog, "bad --spawn (slab or boxed)", arg);
		f->boxed = !strcmp(arg, "boxed");
		return 0;
	case 'c':
		if (!flag_uint(arg, 1, 1u << 20, &v))
			return flag_bad(prog, "bad --max-conns", arg);
		f->max_conns = (uint32_t)v;
		return 0;
	case SERVER_FLAG_FIXED_FDS:
		f->fixed_fds = true;
		return 0;
	default:
		return -1;
	}
}

/*
 * The TLS flags of urt-http and urt-kv (examples/tls-server.h), parsed in
 * one place: each program names them in its own getopt_long table with
 * these values (urt-http: --tls-cert, --tls-key; urt-kv: redis's
 * --tls-cert-file, --tls-key-file, --tls-ca-cert-file, --tls-auth-clients;
 * both: --tls-port, --tls-handshake-ms) and calls tls_flag before its own
 * switch. Values above any character, so they meet no short option.
 */
enum {
	TLS_FLAG_PORT = 0x100, /* --tls-port P: 0..65535 (0 picks a free port) */
	TLS_FLAG_CERT,	       /* the certificate chain's file */
	TLS_FLAG_KEY,	       /* its private key's file */
	TLS_FLAG_CA,	       /* roots that verify client certificates */
	TLS_FLAG_AUTH,	       /* --tls-auth-clients yes|no|optional */
	TLS_FLAG_HANDSHAKE_MS, /* --tls-handshake-ms MS: 1..3600000 */
};

struct tls_flags {
	const char *cert, *key, *ca; /* NULL: not given */
	int port;		     /* -1: not given */
	uint8_t auth;		     /* client certificates: 0 not asked, 1 required, 2 optional */
	uint64_t handshake_ms;
};

#define TLS_FLAGS_DEFAULT { .port = -1, .handshake_ms = 10000 }

/* Return: 0 taken; -1 not one of these; 2 a bad value (reported: exit with it). */
static inline int tls_flag(const char *prog, int c, const char *arg, struct tls_flags *f)
{
	uint64_t v;

	switch (c) {
	case TLS_FLAG_PORT:
		if (!flag_uint(arg, 0, 65535, &v))
			return flag_bad(prog, "bad --tls-port", arg);
		f->port = (int)v;
		return 0;
	case TLS_FLAG_CERT:
		f->cert = arg;
		return 0;
	case TLS_FLAG_KEY:
		f->key = arg;
		return 0;
	case TLS_FLAG_CA:
		f->ca = arg;
		return 0;
	case TLS_FLAG_AUTH:
		if (!strcmp(arg, "optional"))
			f->auth = 2;
		else if (!strcmp(arg, "yes") || !strcmp(arg, "no"))
			f->auth = !strcmp(arg, "yes");
		else
			return flag_bad(prog, "bad --tls-auth-clients (yes, no or optional)", arg);
		return 0;
	case TLS_FLAG_HANDSHAKE_MS:
		if (!flag_uint(arg, 1, 3600000, &f->handshake_ms))
			return flag_bad(prog, "bad --tls-handshake-ms", arg);
		return 0;
	default:
		return -1;
	}
}

#endif
