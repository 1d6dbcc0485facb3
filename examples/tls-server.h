/* SPDX-License-Identifier: MIT */
/*
 * tls-server.h - what urt-http and urt-kv share of serving TLS (urt/tls.h):
 * the server context from the flags' files, a connection's struct urt_tls
 * in its task's memory with the handshake's deadline, the handshake, the
 * close_notify, OpenSSL's heap figures, and what --max-clients-mem counts
 * of a TLS connection. A server's connection task keeps its own two I/O
 * points (where it reads into its input, where it writes with its
 * deadline); the rest is here.
 *
 * Built without liburt_tls (URT_HAVE_TLS undefined, as the simulator
 * builds the same servers), every call here fails with -ENOSYS (the heap
 * figures read 0) and no connection is ever a TLS one. Header-only.
 */
#ifndef URT_EXAMPLES_TLS_SERVER_H
#define URT_EXAMPLES_TLS_SERVER_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <urt/tls.h> /* its types always; its calls only with URT_HAVE_TLS */
#include <urt/urt.h>

/*
 * A TLS connection's memory, as --max-clients-mem counts it
 * (include/urt/tls.h gives OpenSSL's figures): OpenSSL's state for the
 * connection's life, 13.7 KB idle, and its read record buffer (16.7 KB),
 * which a client that sends half a record keeps allocated across a wait;
 * and, while a write is under way, the layer's out-buffer (taken on the
 * write's first record, given back when it is drained; OpenSSL's write
 * record buffer lives only inside one step). The struct urt_tls itself is
 * task memory, counted by its size.
 */
#define TLS_SRV_STATE_MEM (32 * 1024)
#define TLS_SRV_OUT_MEM	  33792 /* the layer's default out_cap */
/*
 * ... and until its handshake is done: OpenSSL's handshake state, its 16 KiB
 * message buffer and its read buffer, 72.6 KB measured for a client that
 * sent half a ClientHello and waits (43.8 KB for one that sent all of it).
 * Counted as such, a crowd of clients that begin handshakes and never end
 * them are the largest holders, closed for the budget before the clients
 * it serves (counted at TLS_SRV_STATE_MEM they were the smallest, and each
 * client served was closed in their place).
 */
#define TLS_SRV_HANDSHAKE_MEM (80 * 1024)

/* A file a context is made from: the flag that named it, and its path
 * (NULL: not given). */
struct tls_srv_file {
	const char *flag, *path;
};

#ifdef URT_HAVE_TLS
/*
 * tls_srv_count_heap - count OpenSSL's heap calls from the start: first
 * thing in main, before anything can make OpenSSL allocate (a failure is
 * said on stderr, for prog, and the figures then count nothing).
 */
static inline void tls_srv_count_heap(const char *prog)
{
	if (urt_tls_count_heap())
		fprintf(stderr, "%s: OpenSSL allocated first: tls_heap_calls counts nothing\n",
			prog);
}

/* OpenSSL's allocations in this process since tls_srv_count_heap, and its
 * live heap bytes: the stats lines' tls_heap_calls and tls_heap_bytes. */
static inline uint64_t tls_srv_heap_calls(void)
{
	return urt_tls_heap_calls();
}

static inline int64_t tls_srv_heap_bytes(void)
{
	return urt_tls_heap_bytes();
}

/*
 * tls_srv_ctx - a context from o, shared by every runtime. A file of
 * files[0, n) that cannot be read is named ("prog: FLAG PATH: why"); one
 * that is not PEM of the right kind, or a key that does not match its
 * certificate, is said in OpenSSL's words. One line on stderr either way.
 * files[0] and files[1] are the certificate and key (n >= 2).
 * Return: 0 and *out; 2, the exit status (a bad flag).
 */
static inline int tls_srv_ctx(const char *prog, const struct urt_tls_ctx_opts *o,
			      const struct tls_srv_file *files, int n, struct urt_tls_ctx **out)
{
	int ret;

	for (int i = 0; i < n; i++) {
		if (files[i].path && access(files[i].path, R_OK)) {
			fprintf(stderr, "%s: %s %s: %s\n", prog, files[i].flag, files[i].path,
				strerror(errno));
			return 2;
		}
	}
	ret = urt_tls_ctx_new(o, out);
	if (ret) {
		fprintf(stderr, "%s: %s %s, %s %s: %s (%s)\n", prog, files[0].flag, files[0].path,
			files[1].flag, files[1].path, strerror(-ret), urt_tls_error_string());
		return 2;
	}
	return 0;
}

static inline void tls_srv_ctx_free(struct urt_tls_ctx *ctx)
{
	urt_tls_ctx_free(ctx);
}

/*
 * tls_srv_new - a server connection of ctx on the accepted socket fd: its
 * struct urt_tls in t's memory (*out), the handshake's deadline
 * handshake_ms from now (a client that says nothing holds it no longer).
 * Return: 0; -ENOMEM; -errno of urt_tls_init (*out NULL then).
 */
static inline int tls_srv_new(struct urt_task *t, struct urt_tls_ctx *ctx, int fd,
			      uint64_t handshake_ms, struct urt_tls **out)
{
	struct urt_tls *c = urt_task_alloc(t, sizeof(*c));
	int ret;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	ret = urt_tls_init(c, ctx, fd, NULL);
	if (ret) {
		urt_task_free(t, c);
		return ret;
	}
	urt_tls_set_deadline(c, urt_now_ns() + 1000000ull * handshake_ms);
	*out = c;
	return 0;
}

/* tls_srv_handshake - awaitable: the handshake within tls_srv_new's
 * deadline, which its end clears. Return: 0; -errno (urt/tls.h). */
static inline int tls_srv_handshake(struct urt_task *t, struct urt_tls *c)
{
	int ret = urt_tls_handshake(t, c);

	if (ret != URT_PENDING)
		urt_tls_set_deadline(c, 0);
	return ret;
}

/* Awaitable: plaintext into buf, as urt_tls_read. */
static inline int tls_srv_read(struct urt_task *t, struct urt_tls *c, void *buf, size_t len)
{
	return urt_tls_read(t, c, buf, len);
}

/* Awaitable: buf[0, len) encrypted and sent, as urt_tls_write_all. */
static inline int tls_srv_write(struct urt_task *t, struct urt_tls *c, const void *buf, size_t len)
{
	return urt_tls_write_all(t, c, buf, len);
}

/*
 * tls_srv_close - awaitable: close_notify, out within ms (the caller's
 * --send-ms) of the first call, which *first marks (set it true before
 * the first call; it is false after). Not after a failure: the layer's
 * error is sticky, and it would send nothing anyway.
 * Return: 0; -errno (-ETIMEDOUT).
 */
static inline int tls_srv_close(struct urt_task *t, struct urt_tls *c, bool *first, uint64_t ms)
{
	int ret;

	if (*first) {
		*first = false;
		urt_tls_set_deadline(c, urt_now_ns() + 1000000ull * ms);
	}
	ret = urt_tls_shutdown(t, c);
	if (ret != URT_PENDING)
		urt_tls_set_deadline(c, 0);
	return ret;
}

/* Awaitable: the receive stream ended, a send in flight cancelled, before
 * the descriptor is closed (urt_tls_end). */
static inline int tls_srv_end(struct urt_task *t, struct urt_tls *c)
{
	return urt_tls_end(t, c);
}

/* In the task's drop (nothing is in flight there): OpenSSL's state freed. */
static inline void tls_srv_free(struct urt_tls *c)
{
	(void)urt_tls_free(c);
}

/* What c's OpenSSL state counts for the budget now: TLS_SRV_HANDSHAKE_MEM
 * until its handshake is done, TLS_SRV_STATE_MEM after. */
static inline size_t tls_srv_state_mem(const struct urt_tls *c)
{
	return urt_tls_version(c) ? TLS_SRV_STATE_MEM : TLS_SRV_HANDSHAKE_MEM;
}
#else /* no liburt_tls: no TLS connection is ever made */
static inline void tls_srv_count_heap(const char *prog)
{
	(void)prog;
}

static inline uint64_t tls_srv_heap_calls(void)
{
	return 0;
}

static inline int64_t tls_srv_heap_bytes(void)
{
	return 0;
}

static inline int tls_srv_ctx(const char *prog, const struct urt_tls_ctx_opts *o,
			      const struct tls_srv_file *files, int n, struct urt_tls_ctx **out)
{
	(void)o, (void)files, (void)n, (void)out;
	fprintf(stderr, "%s: built without TLS (OpenSSL was not found)\n", prog);
	return 2;
}

static inline void tls_srv_ctx_free(struct urt_tls_ctx *ctx)
{
	(void)ctx;
}

static inline int tls_srv_new(struct urt_task *t, struct urt_tls_ctx *ctx, int fd,
			      uint64_t handshake_ms, struct urt_tls **out)
{
	(void)t, (void)ctx, (void)fd, (void)handshake_ms;
	*out = NULL;
	return -ENOSYS;
}

static inline int tls_srv_handshake(struct urt_task *t, struct urt_tls *c)
{
	(void)t, (void)c;
	return -ENOSYS;
}

static inline int tls_srv_read(struct urt_task *t, struct urt_tls *c, void *buf, size_t len)
{
	(void)t, (void)c, (void)buf, (void)len;
	return -ENOSYS;
}

static inline int tls_srv_write(struct urt_task *t, struct urt_tls *c, const void *buf, size_t len)
{
	(void)t, (void)c, (void)buf, (void)len;
	return -ENOSYS;
}

static inline int tls_srv_close(struct urt_task *t, struct urt_tls *c, bool *first, uint64_t ms)
{
	(void)t, (void)c, (void)first, (void)ms;
	return -ENOSYS;
}

static inline int tls_srv_end(struct urt_task *t, struct urt_tls *c)
{
	(void)t, (void)c;
	return -ENOSYS;
}

static inline void tls_srv_free(struct urt_tls *c)
{
	(void)c;
}

static inline size_t tls_srv_state_mem(const struct urt_tls *c)
{
	(void)c;
	return 0;
}
#endif

#endif
