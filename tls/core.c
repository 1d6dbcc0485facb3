/* SPDX-License-Identifier: MIT */
/*
 * core.c - the TLS layer without the runtime: contexts, the connection's
 * BIO, one OpenSSL step at a time and what its errors mean. conn.c turns
 * the steps into awaitables; the fuzz target drives them with bytes.
 *
 * The BIO is ours (not a memory BIO, not a BIO pair, not a socket BIO):
 * its read copies from the received chunk the connection borrows from the
 * provided-buffer ring straight into OpenSSL's record buffer, and its write
 * appends to the connection's out-buffer, which conn.c sends with
 * urt_send_all. A memory BIO would copy once more and grow by realloc; a
 * pair holds two fixed rings per connection; a socket BIO would take the
 * I/O away from the ring.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tls_internal.h"

/* --- the last error, for logs ---------------------------------------------- */

static __thread char tls_errbuf[256];

const char *urt_tls_error_string(void)
{
	return tls_errbuf;
}

/* Keep OpenSSL's words (and the verify result) for urt_tls_error_string. */
static void note_error(SSL *ssl, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char ossl[160] = "";
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (e)
		ERR_error_string_n(e, ossl, sizeof(ossl));
	snprintf(tls_errbuf, sizeof(tls_errbuf), "%s%s%s%s%s", what, *ossl ? ": " : "", ossl,
		 v != X509_V_OK ? ": certificate: " : "",
		 v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
}

/* --- the out-buffer cache ----------------------------------------------------- */

/*
 * Out-buffers of a thread's connections come from a per-thread stack that
 * keeps every buffer given back, up to OUT_CACHE of them (the most a
 * thread had in use at once, so about 8.6 MB at the default size), so a
 * connection that writes and drains once per request costs no heap call
 * however many connections write at once. The stack is freed when the
 * thread ends.
 */
#define OUT_CACHE 256

struct out_cache {
	uint32_t n, size;
	uint32_t *cap;
	char **buf;
};

static __thread struct out_cache out_cache;
static pthread_key_t out_key;
static pthread_once_t out_once = PTHREAD_ONCE_INIT;

static void out_cache_drop(void *arg)
{
	struct out_cache *oc = arg;

	while (oc->n)
		free(oc->buf[--oc->n]);
	free(oc->cap);
	free(oc->buf);
	oc->cap = NULL;
	oc->buf = NULL;
	oc->size = 0;
}

static void out_key_make(void)
{
	(void)pthread_key_create(&out_key, out_cache_drop);
}

static char *out_get(uint32_t cap)
{
	struct out_cache *oc = &out_cache;

	for (uint32_t i = oc->n; i--;) {
		if (oc->cap[i] == cap) {
			char *b = oc->buf[i];

			oc->n--;
			oc->buf[i] = oc->buf[oc->n];
			oc->cap[i] = oc->cap[oc->n];
			return b;
		}
	}
	return malloc(cap);
}

/* Room for one more in the stack. Return: whether there is. */
static bool out_cache_room(struct out_cache *oc)
{
	uint32_t size = oc->size ? oc->size * 2 : 16;
	uint32_t *cap;
	char **buf;

	if (oc->n < oc->size)
		return true;
	if (oc->size >= OUT_CACHE)
		return false;
	cap = realloc(oc->cap, size * sizeof(*cap));
	if (!cap)
		return false;
	oc->cap = cap;
	buf = realloc(oc->buf, size * sizeof(*buf));
	if (!buf)
		return false;
	oc->buf = buf;
	if (!oc->size) {
		pthread_once(&out_once, out_key_make);
		(void)pthread_setspecific(out_key, oc);
	}
	oc->size = size;
	return true;
}

void urt__tls_out_put(struct urt_tls *c)
{
	struct out_cache *oc = &out_cache;

	if (!c->out)
		return;
	if (out_cache_room(oc)) {
		oc->cap[oc->n] = c->out_cap;
		oc->buf[oc->n++] = c->out;
	} else {
		free(c->out);
	}
	c->out = NULL;
	c->out_len = c->flight = 0;
}

/* --- the BIO -------------------------------------------------------------------- */

static int bio_write(BIO *b, const char *data, size_t len, size_t *written)
{
	struct urt_tls *c = BIO_get_data(b);
	size_t room;

	BIO_clear_retry_flags(b);
	if (!c->out) {
		c->out = out_get(c->out_cap);
		if (!c->out) {
			urt__tls_fail(c, -ENOMEM);
			return 0;
		}
		c->out_len = c->flight = 0;
	}
	room = c->out_cap - c->out_len;
	if (!room) {
		BIO_set_retry_write(b);
		return 0;
	}
	if (len > room)
		len = room;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += (uint32_t)len;
	*written = len;
	return 1;
}

static int bio_read(BIO *b, char *data, size_t len, size_t *got)
{
	struct urt_tls *c = BIO_get_data(b);
	size_t avail = c->in.data ? c->in.len - c->in_off : 0;

	BIO_clear_retry_flags(b);
	if (avail) {
		if (len > avail)
			len = avail;
		memcpy(data, c->in.data + c->in_off, len);
		c->in_off += (uint32_t)len;
		*got = len;
		return 1;
	}
	if (c->rx_err < 0)
		errno = -c->rx_err;
	else if (!c->rx_err)
		BIO_set_retry_read(b);
	return 0; /* rx_err 1: end of file (BIO_CTRL_EOF says so) */
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct urt_tls *c = BIO_get_data(b);

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_EOF:
		/* without it, a FIN reads as SSL_ERROR_SYSCALL with nothing
		 * said; with it, OpenSSL reports an unexpected EOF */
		return c->rx_err == 1 && !(c->in.data && c->in_off < c->in.len);
	case BIO_CTRL_PENDING:
		return c->in.data ? (long)(c->in.len - c->in_off) : 0;
	case BIO_CTRL_WPENDING:
		return c->out_len;
	default:
		return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static void bio_method_make(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "urt");

	if (m && BIO_meth_set_write_ex(m, bio_write) && BIO_meth_set_read_ex(m, bio_read) &&
	    BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create))
		bio_method = m;
	else
		BIO_meth_free(m);
}

/* --- contexts ---------------------------------------------------------------------- */

static int ctx_index = -1;
static pthread_once_t index_once = PTHREAD_ONCE_INIT;

static void index_make(void)
{
	ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* "h2,http/1.1" -> "\2h2\10http/1.1". Return: 0; -EINVAL (an empty or
 * over-long name); -ENOMEM. */
static int alpn_wire(const char *list, unsigned char **out, unsigned *out_len)
{
	size_t n = strlen(list), at = 0;
	unsigned char *w = malloc(n + 1);
	const char *p = list;

	if (!w)
		return -ENOMEM;
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if (!len || len > 255) {
			free(w);
			return -EINVAL;
		}
		w[at++] = (unsigned char)len;
		memcpy(w + at, p, len);
		at += len;
		p += len + (comma ? 1 : 0);
		if (comma && !*p) {
			free(w);
			return -EINVAL;
		}
	}
	if (!at) {
		free(w);
		return -EINVAL;
	}
	*out = w;
	*out_len = (unsigned)at;
	return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	struct urt_tls_ctx *x = arg;
	unsigned char *sel;

	/* the server's order wins */
	if (SSL_select_next_proto(&sel, outlen, x->alpn, x->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int sni_select(SSL *ssl, int *alert, void *arg)
{
	struct urt_tls_ctx *x = arg, *use;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	use = x->sni(x->sni_arg, name);
	if (!use || use->client) {
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (use != x) {
		if (!SSL_set_SSL_CTX(ssl, use->ssl_ctx)) {
			*alert = SSL_AD_INTERNAL_ERROR;
			return SSL_TLSEXT_ERR_ALERT_FATAL;
		}
		/* SSL_set_SSL_CTX swaps the certificate (and the roots a
		 * client's is verified by), not the verify mode SSL_new copied
		 * from the first context: without this, a name served by a
		 * context that requires client certificates would be served
		 * without asking for one */
		SSL_set_verify(ssl, SSL_CTX_get_verify_mode(use->ssl_ctx),
			       SSL_CTX_get_verify_callback(use->ssl_ctx));
		SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(use->ssl_ctx));
	}
	return SSL_TLSEXT_ERR_OK;
}

/* A file the context reads: its own errno when it cannot be opened, so a
 * missing file is not reported as a bad one. */
static int file_ok(const char *path)
{
	return access(path, R_OK) ? -errno : 0;
}

static int version_of(uint16_t v, int dflt)
{
	return v == 0 ? dflt : v == URT_TLS_1_2 ? TLS1_2_VERSION : v == URT_TLS_1_3 ? TLS1_3_VERSION : -1;
}

int urt__tls_ctx_wrap(SSL_CTX *ssl_ctx, bool client, struct urt_tls_ctx **out)
{
	struct urt_tls_ctx *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	pthread_once(&index_once, index_make);
	x->ssl_ctx = ssl_ctx;
	x->client = client;
	x->out_cap = 2 * (URT__TLS_RECORD_MAX + 512);
	SSL_CTX_set_ex_data(ssl_ctx, ctx_index, x);
	/* renegotiation: never (CVE-2009-3555 and its kin); the peer's ask
	 * is noticed (msg callback, conn) and ends the connection */
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					     SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* partial writes: one record at a time, so a full out-buffer stops a
	 * write between records; moving buffer: the repeat may come from
	 * another address (the caller's buffer plus its progress) */
	SSL_CTX_set_mode(ssl_ctx,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* read ahead: OpenSSL takes all of a received chunk at once, so the
	 * ring buffer goes back before the application has read a byte */
	SSL_CTX_set_read_ahead(ssl_ctx, 1);
	*out = x;
	return 0;
}

/*
 * OpenSSL fills a certificate's extension cache on its first use, under the
 * certificate's lock, and later users skip the lock on an atomic flag. Fill
 * it here, while the context is still this thread's: its certificates (the
 * roots it verifies by, its own chain) are then only read when runtimes on
 * several threads share it, with no first-use write racing a reader (and
 * ThreadSanitizer, which does not see libcrypto's atomics, has no race to
 * report). Roots a context finds later (a CA directory's, looked up at
 * verification) are filled when they are found.
 */
static void warm_certs(SSL_CTX *sc)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(sc));
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = SSL_CTX_get0_certificate(sc);

	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));

		if (x)
			(void)X509_check_purpose(x, -1, 0);
	}
	if (leaf)
		(void)X509_check_purpose(leaf, -1, 0);
	if (SSL_CTX_get0_chain_certs(sc, &chain))
		for (int i = 0; i < sk_X509_num(chain); i++)
			(void)X509_check_purpose(sk_X509_value(chain, i), -1, 0);
}

int urt_tls_ctx_new(const struct urt_tls_ctx_opts *o, struct urt_tls_ctx **out)
{
	struct urt_tls_ctx *x = NULL;
	SSL_CTX *sc;
	int minv, maxv, ret;

	tls_errbuf[0] = 0;
	if (!o || !out)
		return -EINVAL;
	minv = version_of(o->min_version, TLS1_2_VERSION);
	maxv = version_of(o->max_version, TLS1_3_VERSION);
	if (minv < 0 || maxv < 0 || minv > maxv || (!o->client && (!o->cert_file || !o->key_file)) ||
	    (!o->cert_file != !o->key_file) || (o->out_cap && o->out_cap < 4096) ||
	    (!o->client && (o->verify_peer || o->peer_optional) && !o->ca_file) ||
	    (o->client && o->peer_optional)) {
		snprintf(tls_errbuf, sizeof(tls_errbuf), "inconsistent options");
		return -EINVAL;
	}
	if ((o->cert_file && (ret = file_ok(o->cert_file))) ||
	    (o->key_file && (ret = file_ok(o->key_file))) ||
	    (o->ca_file && (ret = file_ok(o->ca_file)))) {
		snprintf(tls_errbuf, sizeof(tls_errbuf), "cannot read a file: %s", strerror(-ret));
		return ret;
	}
	ERR_clear_error();
	sc = SSL_CTX_new(o->client ? TLS_client_method() : TLS_server_method());
	if (!sc)
		return -ENOMEM;
	ret = urt__tls_ctx_wrap(sc, o->client, &x);
	if (ret) {
		SSL_CTX_free(sc);
		return ret;
	}
	if (o->out_cap)
		x->out_cap = o->out_cap;

	ret = -EINVAL;
	if (!SSL_CTX_set_min_proto_version(sc, minv) || !SSL_CTX_set_max_proto_version(sc, maxv))
		goto fail;
	/* released when idle unless kept (docs/tls.md, bench_tls) */
	if (!o->keep_buffers)
		SSL_CTX_set_mode(sc, SSL_MODE_RELEASE_BUFFERS);
	if (!SSL_CTX_set_cipher_list(sc, o->ciphers ? o->ciphers : "ECDHE+AESGCM:ECDHE+CHACHA20"))
		goto fail;
	if (o->ciphersuites && !SSL_CTX_set_ciphersuites(sc, o->ciphersuites))
		goto fail;
	if (!SSL_CTX_set1_groups_list(sc, o->groups ? o->groups : "X25519:P-256:P-384"))
		goto fail;
	if (o->cert_file) {
		ret = -EBADMSG;
		if (SSL_CTX_use_certificate_chain_file(sc, o->cert_file) != 1 ||
		    SSL_CTX_use_PrivateKey_file(sc, o->key_file, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(sc) != 1)
			goto fail;
	}
	if (o->client) {
		if (!o->insecure) {
			ret = -EBADMSG;
			if (o->ca_file ? SSL_CTX_load_verify_locations(sc, o->ca_file, NULL) != 1
				       : SSL_CTX_set_default_verify_paths(sc) != 1)
				goto fail;
			SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
		}
		SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_CLIENT);
	} else {
		if (o->verify_peer || o->peer_optional) {
			STACK_OF(X509_NAME) *names;

			ret = -EBADMSG;
			if (SSL_CTX_load_verify_locations(sc, o->ca_file, NULL) != 1)
				goto fail;
			names = SSL_load_client_CA_file(o->ca_file);
			if (!names)
				goto fail;
			SSL_CTX_set_client_CA_list(sc, names);
			SSL_CTX_set_verify(sc, SSL_VERIFY_PEER | (o->verify_peer ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
					   NULL);
		}
		/* resumption by tickets only: stateless, so any runtime (or
		 * process sharing the context) resumes what another issued;
		 * no server-side cache to bound */
		SSL_CTX_set_session_cache_mode(sc, SSL_SESS_CACHE_OFF);
		if (o->no_tickets) {
			SSL_CTX_set_options(sc, SSL_OP_NO_TICKET);
			SSL_CTX_set_num_tickets(sc, 0);
		} else {
			SSL_CTX_set_num_tickets(sc, o->tickets ? o->tickets : 1);
			SSL_CTX_set_timeout(sc, o->ticket_lifetime_s ? o->ticket_lifetime_s : 7200);
		}
		if (o->sni) {
			x->sni = o->sni;
			x->sni_arg = o->sni_arg;
			SSL_CTX_set_tlsext_servername_callback(sc, sni_select);
			SSL_CTX_set_tlsext_servername_arg(sc, x);
		}
	}
	if (o->alpn) {
		ret = alpn_wire(o->alpn, &x->alpn, &x->alpn_len);
		if (ret)
			goto fail;
		if (o->client) {
			ret = -ENOMEM;
			if (SSL_CTX_set_alpn_protos(sc, x->alpn, x->alpn_len)) /* 0 is success */
				goto fail;
		} else {
			SSL_CTX_set_alpn_select_cb(sc, alpn_select, x);
		}
	}
	warm_certs(sc);
	*out = x;
	return 0;
fail:
	note_error(NULL, ret == -EBADMSG ? "a certificate, key or CA file was refused"
					 : "an option was refused");
	if (ERR_GET_REASON(ERR_peek_last_error()) == ERR_R_MALLOC_FAILURE)
		ret = -ENOMEM;
	urt_tls_ctx_free(x);
	return ret;
}

void urt_tls_ctx_free(struct urt_tls_ctx *x)
{
	if (!x)
		return;
	SSL_CTX_free(x->ssl_ctx);
	free(x->alpn);
	free(x);
}

/* --- connections ---------------------------------------------------------------------- */

/* The peer's handshake messages: a ClientHello (to a server) or a
 * HelloRequest (to a client) after the handshake is a renegotiation. */
static void msg_seen(int write_p, int version, int type, const void *buf, size_t len, SSL *ssl,
		     void *arg)
{
	struct urt_tls *c = BIO_get_data(SSL_get_rbio(ssl));
	const unsigned char *p = buf;

	if (write_p || type != SSL3_RT_HANDSHAKE || !len || !c || !(c->flags & URT__TLS_HANDSHAKEN))
		return;
	if ((c->flags & URT__TLS_SERVER) ? p[0] == SSL3_MT_CLIENT_HELLO
					 : p[0] == SSL3_MT_HELLO_REQUEST)
		c->flags |= URT__TLS_RENEG;
}

int urt_tls_init(struct urt_tls *c, struct urt_tls_ctx *x, int fd, const char *server_name)
{
	SSL *ssl;
	BIO *b;

	if (!c || !x || fd < 0 || (server_name && !x->client))
		return -EINVAL;
	pthread_once(&bio_once, bio_method_make);
	if (!bio_method)
		return -ENOMEM;
	ERR_clear_error();
	ssl = SSL_new(x->ssl_ctx);
	if (!ssl)
		return -ENOMEM;
	b = BIO_new(bio_method);
	if (!b) {
		SSL_free(ssl);
		return -ENOMEM;
	}
	if (server_name && (!SSL_set_tlsext_host_name(ssl, server_name) ||
			    !SSL_set1_host(ssl, server_name))) {
		BIO_free(b);
		SSL_free(ssl);
		return -ENOMEM;
	}
	memset(c, 0, sizeof(*c));
	c->ssl = ssl;
	c->fd = fd;
	c->out_cap = x->out_cap;
	c->flags = x->client ? 0 : URT__TLS_SERVER;
	BIO_set_data(b, c);
	SSL_set_bio(ssl, b, b);
	SSL_set_msg_callback(ssl, msg_seen);
	if (x->client)
		SSL_set_connect_state(ssl);
	else
		SSL_set_accept_state(ssl);
	return 0;
}

/*
 * What an OpenSSL failure means to the caller. The reasons that name a
 * cause the caller can act on get their own errno; the rest of the
 * peer's protocol faults are -EPROTO.
 */
static int map_error(struct urt_tls *c, int ret)
{
	SSL *ssl = c->ssl;
	int e = SSL_get_error(ssl, ret);
	unsigned long err;
	int reason;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return URT__TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return URT__TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		/* the BIO's own failures: the transport's errno, our -ENOMEM */
		if (c->err)
			return c->err;
		if (c->rx_err < 0)
			return c->rx_err;
		return c->rx_err == 1 ? -ECONNABORTED : -EIO;
	default:
		break;
	}
	err = ERR_peek_error();
	reason = ERR_GET_REASON(err);
	note_error(ssl, "TLS");
	if (c->err)
		return c->err;
	if (ERR_GET_LIB(err) == ERR_LIB_SSL) {
		switch (reason) {
		case SSL_R_UNEXPECTED_EOF_WHILE_READING:
			return -ECONNABORTED;
		case SSL_R_UNSUPPORTED_PROTOCOL:
		case SSL_R_NO_PROTOCOLS_AVAILABLE:
		case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		case SSL_R_WRONG_SSL_VERSION:
			return -EPROTONOSUPPORT;
		case SSL_R_CERTIFICATE_VERIFY_FAILED:
		case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
		case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
		case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
		case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
		case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
		case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
		case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
		case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
			return -EKEYREJECTED;
		case SSL_R_NO_APPLICATION_PROTOCOL:
		case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
			return -ENOPROTOOPT;
		case SSL_R_NO_RENEGOTIATION:
			return -EPERM;
		default:
			break;
		}
	}
	if (reason == ERR_R_MALLOC_FAILURE)
		return -ENOMEM;
	return -EPROTO;
}

/*
 * Point the BIO at c: a struct urt_tls may be moved (copied into a spawned
 * task's state, say) while no call is in progress on it, so every step
 * tells the BIO where the connection is now.
 */
static inline void bio_bind(struct urt_tls *c)
{
	BIO_set_data(SSL_get_rbio(c->ssl), c);
}

/* The result of one step: WANT_* pass, an error sticks. */
static int step_result(struct urt_tls *c, int ret)
{
	int e = map_error(c, ret);

	if (e == URT__TLS_WANT_READ || e == URT__TLS_WANT_WRITE || e == 0)
		return e;
	return urt__tls_fail(c, e);
}

int urt__tls_do_handshake(struct urt_tls *c)
{
	int ret;

	if (c->err)
		return c->err;
	ERR_clear_error();
	bio_bind(c);
	ret = SSL_do_handshake(c->ssl);
	if (ret == 1) {
		c->flags |= URT__TLS_HANDSHAKEN;
		return 0;
	}
	ret = step_result(c, ret);
	return ret == 0 ? urt__tls_fail(c, -EPROTO) : ret; /* a close inside the handshake */
}

int urt__tls_read(struct urt_tls *c, void *buf, size_t len)
{
	size_t got = 0;
	int ret;

	if (c->err)
		return c->err;
	if (c->flags & URT__TLS_CLOSED)
		return 0;
	ERR_clear_error();
	bio_bind(c);
	ret = SSL_read_ex(c->ssl, buf, len > INT_MAX ? INT_MAX : len, &got);
	if (c->flags & URT__TLS_RENEG)
		return urt__tls_fail(c, -EPERM);
	if (ret == 1)
		return (int)got;
	ret = step_result(c, 0);
	if (ret == 0)
		c->flags |= URT__TLS_CLOSED;
	return ret;
}

int urt__tls_write(struct urt_tls *c, const void *buf, size_t len, size_t *done)
{
	int ret;

	*done = 0;
	if (c->err)
		return c->err;
	ERR_clear_error();
	bio_bind(c);
	ret = SSL_write_ex(c->ssl, buf, len, done);
	if (ret == 1) {
		c->records++;
		return 0;
	}
	ret = step_result(c, 0);
	/* ZERO_RETURN from a write: the transport under it failed */
	return ret == 0 ? urt__tls_fail(c, -EPIPE) : ret;
}

int urt__tls_do_shutdown(struct urt_tls *c)
{
	int ret;

	ERR_clear_error();
	bio_bind(c);
	ret = SSL_shutdown(c->ssl);
	if (ret >= 0)
		return 0; /* close_notify written (1: theirs came already) */
	ret = SSL_get_error(c->ssl, ret);
	if (ret == SSL_ERROR_WANT_WRITE)
		return URT__TLS_WANT_WRITE;
	if (ret == SSL_ERROR_WANT_READ)
		return 0; /* ours is out; theirs is not awaited */
	return urt__tls_fail(c, -EPROTO);
}

bool urt_tls_pending(const struct urt_tls *c)
{
	return c->ssl && (SSL_pending(c->ssl) > 0 || SSL_has_pending(c->ssl));
}

/* --- what was agreed ---------------------------------------------------------------------- */

int urt_tls_version(const struct urt_tls *c)
{
	if (!c->ssl || !(c->flags & URT__TLS_HANDSHAKEN))
		return 0;
	switch (SSL_version(c->ssl)) {
	case TLS1_2_VERSION:
		return URT_TLS_1_2;
	case TLS1_3_VERSION:
		return URT_TLS_1_3;
	default:
		return 0;
	}
}

const char *urt_tls_alpn(const struct urt_tls *c, size_t *len)
{
	const unsigned char *p = NULL;
	unsigned n = 0;

	if (c->ssl)
		SSL_get0_alpn_selected(c->ssl, &p, &n);
	if (len)
		*len = n;
	return n ? (const char *)p : NULL;
}

const char *urt_tls_server_name(const struct urt_tls *c)
{
	return c->ssl ? SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

bool urt_tls_resumed(const struct urt_tls *c)
{
	return c->ssl && SSL_session_reused(c->ssl);
}

const char *urt_tls_cipher(const struct urt_tls *c)
{
	return c->ssl ? SSL_get_cipher_name((SSL *)c->ssl) : "";
}

bool urt_tls_peer_verified(const struct urt_tls *c)
{
	X509 *peer;

	if (!c->ssl || !(c->flags & URT__TLS_HANDSHAKEN))
		return false;
	peer = SSL_get0_peer_certificate(c->ssl);
	return peer && SSL_get_verify_result(c->ssl) == X509_V_OK;
}

long urt_tls_verify_result(const struct urt_tls *c)
{
	return c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
}

void *urt_tls_session_save(const struct urt_tls *c)
{
	SSL_SESSION *s = c->ssl ? SSL_get1_session(c->ssl) : NULL;

	if (s && !SSL_SESSION_is_resumable(s)) {
		SSL_SESSION_free(s);
		s = NULL;
	}
	return s;
}

int urt_tls_session_resume(struct urt_tls *c, void *session)
{
	if (!c->ssl || !session || (c->flags & (URT__TLS_SERVER | URT__TLS_HANDSHAKEN)))
		return -EINVAL;
	return SSL_set_session(c->ssl, session) == 1 ? 0 : -EINVAL;
}

void urt_tls_session_free(void *session)
{
	SSL_SESSION_free(session);
}

/* --- kernel TLS ------------------------------------------------------------------------------ */

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

static atomic_int ktls_state; /* 0 unprobed, 1 + result */

static int ktls_try(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int l, s = -1, p = -1, ret;

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (struct sockaddr *)&a, &alen)) {
		ret = -errno;
		goto out;
	}
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a))) {
		ret = -errno;
		goto out;
	}
	p = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (p < 0) {
		ret = -errno;
		goto out;
	}
	/* the upper-layer protocol attaches only to an established socket */
	if (!setsockopt(s, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")))
		ret = 1;
	else
		ret = errno == ENOENT ? 0 : -errno;
out:
	if (p >= 0)
		close(p);
	if (s >= 0)
		close(s);
	close(l);
	return ret;
}

int urt_tls_ktls_probe(void)
{
	int st = atomic_load_explicit(&ktls_state, memory_order_acquire);

	if (!st) {
		st = ktls_try() + 2;
		atomic_store_explicit(&ktls_state, st, memory_order_release);
	}
	return st - 2;
}

/* --- heap accounting ------------------------------------------------------------------------ */

static atomic_ullong heap_calls;
static atomic_llong heap_bytes; /* live, as malloc_usable_size counts them */

static void heap_count(void *p, long long sign)
{
	if (p)
		atomic_fetch_add_explicit(&heap_bytes, sign * (long long)malloc_usable_size(p),
					  memory_order_relaxed);
}

static void *count_malloc(size_t n, const char *file, int line)
{
	void *p = malloc(n);

	atomic_fetch_add_explicit(&heap_calls, 1, memory_order_relaxed);
	heap_count(p, 1);
	return p;
}

static void *count_realloc(void *p, size_t n, const char *file, int line)
{
	void *q;

	atomic_fetch_add_explicit(&heap_calls, 1, memory_order_relaxed);
	heap_count(p, -1);
	q = realloc(p, n);
	heap_count(q ? q : (n ? p : NULL), 1); /* a failed realloc keeps p */
	return q;
}

static void count_free(void *p, const char *file, int line)
{
	heap_count(p, -1);
	free(p);
}

int urt_tls_count_heap(void)
{
	return CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free) ? 0 : -EALREADY;
}

uint64_t urt_tls_heap_calls(void)
{
	return atomic_load_explicit(&heap_calls, memory_order_relaxed);
}

int64_t urt_tls_heap_bytes(void)
{
	return atomic_load_explicit(&heap_bytes, memory_order_relaxed);
}

/* --- a fixed random stream ------------------------------------------------------------------- */

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static uint64_t rng_state;

static int rng_bytes(unsigned char *buf, int num)
{
	for (int i = 0; i < num; i++) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		buf[i] = (unsigned char)(rng_state >> 24);
	}
	return 1;
}

static int rng_status(void)
{
	return 1;
}

static const RAND_METHOD fixed_rng = {
	.bytes = rng_bytes,
	.pseudorand = rng_bytes,
	.status = rng_status,
};

void urt__tls_fixed_rng(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
	RAND_set_rand_method(&fixed_rng);
}
#pragma GCC diagnostic pop
