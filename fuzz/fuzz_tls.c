/* SPDX-License-Identifier: MIT */
/*
 * fuzz_tls.c - libFuzzer target for the TLS layer's core (tls/core.c, no
 * runtime): a server connection fed the input as the bytes it received,
 * as conn.c feeds it, one step of OpenSSL at a time.
 *
 * At start-up: a fixed random stream (urt__tls_fixed_rng), a P-256 key and
 * a self-signed certificate made in memory, a server context around them
 * (urt__tls_ctx_wrap). Each input: its first byte's low 3 bits say how
 * many cut bytes follow (k); the rest is the stream, given in chunks of
 * cut[i % k] + 1 bytes (k = 0: all at once). After each chunk the
 * connection steps (handshake, then reads) until it wants bytes or fails,
 * its out-buffer drained at every step; after the last chunk comes the end
 * of the stream. Checked at every step: the out-buffer never overflows; a
 * step that wants bytes has taken all of the chunk (conn.c gives the chunk
 * back then); an error is one that include/urt/tls.h lists, and sticks;
 * the end of the stream ends the connection (no step waits for ever).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct urt_tls_ctx *ctx;

/* A server context with a fresh P-256 key and a self-signed certificate. */
static struct urt_tls_ctx *make_ctx(void)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
	struct urt_tls_ctx *out = NULL;

	if (!pk || !x || !sc)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	if (!X509_sign(x, pk, EVP_sha256()) || SSL_CTX_use_certificate(sc, x) != 1 ||
	    SSL_CTX_use_PrivateKey(sc, pk) != 1 ||
	    !SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION))
		abort();
	SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
	X509_free(x);
	EVP_PKEY_free(pk);
	if (urt__tls_ctx_wrap(sc, false, &out))
		abort();
	return out;
}

/* The errors include/urt/tls.h lists for a connection fed bytes alone. */
static int documented(int e)
{
	switch (e) {
	case -ECONNABORTED:
	case -EPROTO:
	case -EPROTONOSUPPORT:
	case -EKEYREJECTED:
	case -ENOPROTOOPT:
	case -EPERM:
	case -ENOMEM:
		return 1;
	default:
		return 0;
	}
}

/* Step until the connection wants bytes, or ends. Return: the last step's
 * result (WANT_READ, 0 at close_notify, or -errno). */
static int steps(struct urt_tls *c)
{
	static char plain[16384];

	for (;;) {
		int r = (c->flags & URT__TLS_HANDSHAKEN) ? urt__tls_read(c, plain, sizeof(plain))
							 : urt__tls_do_handshake(c);

		if (c->out_len > c->out_cap || c->in_off > c->in.len)
			abort();
		c->out_len = 0; /* sent */
		if (r == URT__TLS_WANT_WRITE)
			continue; /* room now */
		if (r == URT__TLS_WANT_READ) {
			if (c->in.data && c->in_off != c->in.len)
				abort(); /* it would lose the chunk's rest */
			return r;
		}
		if (r < 0) {
			if (!documented(r) || c->err != r)
				abort();
			return r;
		}
		if (r == 0 && (c->flags & URT__TLS_CLOSED))
			return 0;
		/* 0 from the handshake: now reads; > 0: plaintext, read on */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct urt_tls c;
	const uint8_t *cut, *body;
	size_t k, n, pos = 0, at = 0;
	int r = URT__TLS_WANT_READ;

	if (!ctx) {
		urt__tls_fixed_rng(1);
		ctx = make_ctx();
	}
	if (!size)
		return 0;
	k = data[0] & 7;
	if (size < 1 + k)
		return 0;
	cut = data + 1;
	body = cut + k;
	n = size - 1 - k;
	urt__tls_fixed_rng(1); /* each input the same stream */
	if (urt_tls_init(&c, ctx, 0, NULL))
		abort();
	while (pos < n && r == URT__TLS_WANT_READ) {
		size_t len = k ? (size_t)cut[at++ % k] + 1 : n - pos;

		if (len > n - pos)
			len = n - pos;
		c.in.data = (char *)body + pos;
		c.in.len = (uint32_t)len;
		c.in_off = 0;
		r = steps(&c);
		pos += len;
	}
	if (r == URT__TLS_WANT_READ) {
		/* the end of the stream: no step may want more */
		c.in.data = NULL;
		c.in.len = c.in_off = 0;
		c.rx_err = 1;
		r = steps(&c);
		if (r == URT__TLS_WANT_READ)
			abort();
	}
	SSL_free(c.ssl);
	c.out_len = 0;
	urt__tls_out_put(&c);
	return 0;
}
