/* SPDX-License-Identifier: MIT */
/*
 * tls_internal.h - what conn.c (the awaitables, on the runtime) and the
 * core (core.c: contexts, the BIO, one step of OpenSSL at a time; no
 * runtime) share, and what the fuzz target and the tests drive the core by.
 *
 * The core never waits: it takes the received bytes in c->in from c->in_off
 * (the BIO copies them into OpenSSL's record buffer), appends what OpenSSL
 * writes to c->out, and answers each step with a result, URT__TLS_WANT_READ
 * (no whole record yet: give it more bytes) or URT__TLS_WANT_WRITE (the
 * out-buffer is full: send some of it, then repeat the same step).
 */
#ifndef URT_TLS_INTERNAL_H
#define URT_TLS_INTERNAL_H

#include <openssl/ssl.h>

#include "urt/tls.h"

#define URT__TLS_WANT_READ  (-100000)
#define URT__TLS_WANT_WRITE (-100001)

/* c->flags */
#define URT__TLS_SERVER	    0x01u
#define URT__TLS_HANDSHAKEN 0x02u
#define URT__TLS_SHUT_SENT  0x04u /* close_notify written (or a quiet end chosen) */
#define URT__TLS_CLOSED	    0x08u /* the peer's close_notify came */
#define URT__TLS_RENEG	    0x10u /* the peer asked to renegotiate */
#define URT__TLS_WRETRY	    0x20u /* an SSL_write waits for room: repeat wchunk */

/* Room kept in the out-buffer per record beyond its plaintext: header,
 * tag, TLS 1.3's type byte, TLS 1.2's explicit nonce, CBC's IV, MAC and
 * padding. A record is written only where it fits whole. */
#define URT__TLS_RECORD_SLACK 320u
#define URT__TLS_RECORD_MAX   16384u

struct urt_tls_ctx {
	SSL_CTX *ssl_ctx;
	bool client;
	uint32_t out_cap;
	const struct urt_tls_ctx_opts *sni_opts; /* NULL unless .sni */
	struct urt_tls_ctx *(*sni)(void *arg, const char *name);
	void *sni_arg;
	unsigned char *alpn; /* wire format (length-prefixed), or NULL */
	unsigned alpn_len;
};

/* The context around an SSL_CTX: urt_tls_ctx_new's, or one made elsewhere
 * (the fuzz target's, with a certificate made in memory). Sets what the
 * BIO and the steps rely on (partial writes, a moving write buffer, read
 * ahead, no renegotiation); ssl_ctx's reference moves to it. */
int urt__tls_ctx_wrap(SSL_CTX *ssl_ctx, bool client, struct urt_tls_ctx **out);

/* One step each; >= 0 as the public calls, WANT_*, or -errno (made sticky
 * in c->err). urt__tls_read returns 0 at close_notify. */
int urt__tls_do_handshake(struct urt_tls *c);
int urt__tls_read(struct urt_tls *c, void *buf, size_t len);
int urt__tls_write(struct urt_tls *c, const void *buf, size_t len, size_t *done);
int urt__tls_do_shutdown(struct urt_tls *c);

/* An error made sticky (and returned). */
static inline int urt__tls_fail(struct urt_tls *c, int err)
{
	if (!c->err)
		c->err = err;
	return c->err;
}

/* The out-buffer back to this thread's cache (c->out_len must be 0). */
void urt__tls_out_put(struct urt_tls *c);

/* Make OpenSSL's random numbers a fixed stream from seed (process-wide;
 * the fuzz target and deterministic tests only). */
void urt__tls_fixed_rng(uint64_t seed);

#endif /* URT_TLS_INTERNAL_H */
