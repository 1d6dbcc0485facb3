/* SPDX-License-Identifier: MIT */
/*
 * test_tls.c - liburt_tls end to end on one runtime: a urt TLS client and
 * a urt TLS server on a loopback pair, both tasks. Handshakes in each
 * version, bytes both ways (larger than the out-buffer and the ring's
 * buffers), ALPN, resumption, close_notify, a close without it, the
 * handshake's deadline, and nothing left behind (buffers, op records,
 * descriptors). The certificates come from scripts/tls-certs.sh, made by
 * the CTest entry into URT_TLS_PKI.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "support/tls_pki.h"
#include "urt/tls.h"
#include "urt/urt.h"

/* One end of a connection: a handshake, then a script of writes and reads. */
struct end {
	struct urt_tls tls;
	struct urt_tls_ctx *ctx;
	const char *server_name;
	void *session;	  /* client: resume this */
	int fd;
	int hs;		  /* the handshake's result */
	int ret;	  /* the last result */
	size_t send;	  /* bytes to write, then shut down */
	size_t wsize;	  /* bytes per write_all; 0: sizeof(buf) */
	unsigned pause_ms; /* a sleep after each write_all */
	unsigned delay_ms; /* a sleep before the first read */
	struct urt_op nap;
	size_t expect;	  /* bytes to read before the end */
	size_t got;	  /* bytes read */
	int end_read;	  /* what the read after them returned */
	bool no_shutdown; /* close the TCP without close_notify */
	bool save;	  /* client: keep the session in saved */
	bool echo;	  /* write back what is read */
	uint64_t deadline_ms;
	void *saved;
	size_t n;
	size_t sent;
	char buf[20000];
	int version;
	char alpn[32];
	char cipher[64];
	bool resumed;
	bool peer_ok;
};

static uint64_t pattern(size_t i)
{
	return (i * 2654435761u) >> 7;
}

/* The task's state is a pointer to the test's struct end, which outlives it. */
static bool end_poll(struct urt_task *t, void *arg)
{
	struct end *e = *(struct end **)arg;

	URT_BEGIN(t);
	if (e->deadline_ms)
		urt_tls_set_deadline(&e->tls, urt_now_ns() + e->deadline_ms * 1000000ull);
	if (e->session)
		assert_int_equal(urt_tls_session_resume(&e->tls, e->session), 0);
	URT_AWAIT(t, e->hs = urt_tls_handshake(t, &e->tls));
	if (e->hs < 0)
		goto out;
	e->version = urt_tls_version(&e->tls);
	e->resumed = urt_tls_resumed(&e->tls);
	e->peer_ok = urt_tls_peer_verified(&e->tls);
	snprintf(e->cipher, sizeof(e->cipher), "%s", urt_tls_cipher(&e->tls));
	{
		size_t n;
		const char *a = urt_tls_alpn(&e->tls, &n);

		if (a && n < sizeof(e->alpn))
			memcpy(e->alpn, a, n);
	}
	while (e->sent < e->send) {
		e->n = e->wsize && e->wsize < sizeof(e->buf) ? e->wsize : sizeof(e->buf);
		if (e->send - e->sent < e->n)
			e->n = e->send - e->sent;
		for (size_t i = 0; i < e->n; i++)
			e->buf[i] = (char)pattern(e->sent + i);
		URT_AWAIT(t, e->ret = urt_tls_write_all(t, &e->tls, e->buf, e->n));
		if (e->ret < 0)
			goto out;
		assert_int_equal(e->ret, (int)e->n);
		e->sent += e->n;
		if (e->pause_ms)
			URT_AWAIT(t, urt_sleep(t, &e->nap, e->pause_ms * 1000000ull));
	}
	if (e->delay_ms)
		URT_AWAIT(t, urt_sleep(t, &e->nap, e->delay_ms * 1000000ull));
	while (e->got < e->expect) {
		URT_AWAIT(t, e->ret = urt_tls_read(t, &e->tls, e->buf, sizeof(e->buf)));
		if (e->ret <= 0)
			goto out;
		for (int i = 0; i < e->ret; i++)
			assert_int_equal((unsigned char)e->buf[i], (unsigned char)pattern(e->got + i));
		e->got += (size_t)e->ret;
		if (e->echo) {
			e->n = (size_t)e->ret;
			URT_AWAIT(t, e->ret = urt_tls_write_all(t, &e->tls, e->buf, e->n));
			if (e->ret < 0)
				goto out;
		}
	}
	if (e->save)
		e->saved = urt_tls_session_save(&e->tls);
	if (!e->no_shutdown) {
		URT_AWAIT(t, e->ret = urt_tls_shutdown(t, &e->tls));
		assert_int_equal(e->ret, 0);
		/* the peer's close_notify (or its end) */
		URT_AWAIT(t, e->end_read = urt_tls_read(t, &e->tls, e->buf, sizeof(e->buf)));
		if (e->save && !e->saved)
			e->saved = urt_tls_session_save(&e->tls);
	}
out:
	URT_AWAIT(t, urt_tls_end(t, &e->tls));
	shutdown(e->fd, SHUT_RDWR);
	URT_RETURN(t, 0);
	URT_END(t);
}

static void end_drop(struct urt_task *t, void *arg)
{
	struct end *e = *(struct end **)arg;

	assert_int_equal(urt_tls_free(&e->tls), 0);
	close(e->fd);
}

static const struct urt_task_type end_type = { .poll = end_poll, .drop = end_drop, .name = "tls" };

static struct urt_tls_ctx *server_ctx(const struct urt_tls_ctx_opts *extra)
{
	struct urt_tls_ctx_opts o = extra ? *extra : (struct urt_tls_ctx_opts){ 0 };
	struct urt_tls_ctx *x;

	o.cert_file = tls_pki_file("server.pem");
	o.key_file = tls_pki_file("server.key");
	assert_int_equal(urt_tls_ctx_new(&o, &x), 0);
	return x;
}

static struct urt_tls_ctx *client_ctx(const struct urt_tls_ctx_opts *extra)
{
	struct urt_tls_ctx_opts o = extra ? *extra : (struct urt_tls_ctx_opts){ 0 };
	struct urt_tls_ctx *x;

	o.client = true;
	if (!o.ca_file)
		o.ca_file = tls_pki_file("ca.pem");
	assert_int_equal(urt_tls_ctx_new(&o, &x), 0);
	return x;
}

/* One end of a run: its task (state: a pointer to the test's struct that
 * holds the tls, at the start of it) and how its tls is made. */
struct side {
	const struct urt_task_type *type;
	void *state;		/* the test's struct; the task gets a pointer to it */
	struct urt_tls *tls;
	int *fd;
	struct urt_tls_ctx *ctx;
	const char *server_name;
};

/* A loopback pair on a fresh runtime, both ends' tasks to completion; no
 * ring buffer kept, no op record left. */
static void run_sides(const struct side *srv, const struct side *cli)
{
	struct urt_runtime rt;
	struct urt_runtime_stats st;
	int sv[2];
	uint16_t port;
	int lfd = test_listen(&port);

	test_tcp_pair(lfd, port, &sv[1], &sv[0]);
	close(lfd);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_size = 4096, .buf_count = 64 });
	*srv->fd = sv[0];
	*cli->fd = sv[1];
	assert_int_equal(urt_tls_init(srv->tls, srv->ctx, sv[0], NULL), 0);
	assert_int_equal(urt_tls_init(cli->tls, cli->ctx, sv[1], cli->server_name), 0);
	assert_int_equal(urt_spawn(&rt, srv->type, &srv->state, sizeof(void *), NULL), 0);
	assert_int_equal(urt_spawn(&rt, cli->type, &cli->state, sizeof(void *), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.bufs_free, st.buf_count); /* no ring buffer kept */
	assert_int_equal(st.ops_live, 0);
	test_runtime_end(&rt);
}

/* Run a server end and a client end to completion on a fresh runtime. */
static void run_pair(struct end *srv, struct end *cli)
{
	run_sides(&(struct side){ &end_type, srv, &srv->tls, &srv->fd, srv->ctx, NULL },
		  &(struct side){ &end_type, cli, &cli->tls, &cli->fd, cli->ctx, cli->server_name });
}

/* Both versions: bytes both ways, more than a record, the out-buffer and
 * the ring's buffers hold; close_notify each way. */
static void test_round_trip(void **state)
{
	static const uint16_t versions[] = { URT_TLS_1_2, URT_TLS_1_3 };

	(void)state;
	for (unsigned v = 0; v < 2; v++) {
		struct urt_tls_ctx *sx = server_ctx(&(struct urt_tls_ctx_opts){
			.alpn = "h2,http/1.1", .max_version = versions[v] });
		struct urt_tls_ctx *cx = client_ctx(&(struct urt_tls_ctx_opts){ .alpn = "http/1.1" });
		static struct end s, c;

		s = (struct end){ .ctx = sx, .send = 300000, .expect = 300000 };
		c = (struct end){ .ctx = cx, .server_name = "localhost", .send = 300000, .expect = 300000 };
		run_pair(&s, &c);
		assert_int_equal(s.hs, 0);
		assert_int_equal(c.hs, 0);
		assert_int_equal(s.version, versions[v]);
		assert_int_equal(c.version, versions[v]);
		assert_string_equal(s.alpn, "http/1.1");
		assert_string_equal(c.alpn, "http/1.1");
		assert_int_equal(s.got, 300000);
		assert_int_equal(c.got, 300000);
		assert_int_equal(s.end_read, 0); /* the client's close_notify */
		assert_int_equal(c.end_read, 0);
		urt_tls_ctx_free(sx);
		urt_tls_ctx_free(cx);
	}
}

/* A client reads what the server sends, then its close_notify: 0. */
static void test_close_notify_and_truncation(void **state)
{
	struct urt_tls_ctx *sx = server_ctx(NULL), *cx = client_ctx(NULL);
	static struct end s, c;

	(void)state;
	s = (struct end){ .ctx = sx, .send = 70000 };
	c = (struct end){ .ctx = cx, .server_name = "localhost", .expect = 70000 };
	run_pair(&s, &c);
	assert_int_equal(c.got, 70000);
	assert_int_equal(c.end_read, 0);

	/* the server ends the TCP stream without close_notify: the client's
	 * read says truncation, not end of data */
	s = (struct end){ .ctx = sx, .send = 1000, .no_shutdown = true };
	c = (struct end){ .ctx = cx, .server_name = "localhost", .expect = 1000 };
	run_pair(&s, &c);
	assert_int_equal(c.got, 1000);
	assert_int_equal(c.end_read, -ECONNABORTED);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
}

/* A second connection resumes the first's session (a TLS 1.3 ticket). */
static void test_resumption(void **state)
{
	struct urt_tls_ctx *sx = server_ctx(NULL), *cx = client_ctx(NULL);
	static struct end s, c;
	void *sess;

	(void)state;
	s = (struct end){ .ctx = sx, .send = 10 };
	c = (struct end){ .ctx = cx, .server_name = "localhost", .expect = 10, .save = true };
	run_pair(&s, &c);
	assert_false(c.resumed);
	sess = c.saved;
	assert_non_null(sess);
	s = (struct end){ .ctx = sx, .send = 10 };
	c = (struct end){ .ctx = cx, .server_name = "localhost", .expect = 10, .session = sess };
	run_pair(&s, &c);
	assert_int_equal(c.hs, 0);
	assert_true(c.resumed);
	assert_true(s.resumed);
	urt_tls_session_free(sess);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
}

/* A client that verifies a name the certificate does not carry, or by
 * roots that did not sign it: -EKEYREJECTED; the server sees the alert. */
static void test_bad_certificate(void **state)
{
	struct urt_tls_ctx *sx = server_ctx(NULL);
	struct urt_tls_ctx *cx =
		client_ctx(&(struct urt_tls_ctx_opts){ .ca_file = tls_pki_file("other-ca.pem") });
	static struct end s, c;

	(void)state;
	s = (struct end){ .ctx = sx };
	c = (struct end){ .ctx = cx, .server_name = "localhost" };
	run_pair(&s, &c);
	assert_int_equal(c.hs, -EKEYREJECTED);
	assert_int_equal(s.hs, -EKEYREJECTED);
	urt_tls_ctx_free(cx);
	cx = client_ctx(NULL);
	s = (struct end){ .ctx = sx };
	c = (struct end){ .ctx = cx, .server_name = "example.com" };
	run_pair(&s, &c);
	assert_int_equal(c.hs, -EKEYREJECTED);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
}

/* A server that wants TLS 1.3 and a client that speaks 1.2 at most. */
static void test_version_floor(void **state)
{
	struct urt_tls_ctx *sx = server_ctx(&(struct urt_tls_ctx_opts){ .min_version = URT_TLS_1_3 });
	struct urt_tls_ctx *cx = client_ctx(&(struct urt_tls_ctx_opts){ .max_version = URT_TLS_1_2 });
	static struct end s, c;

	(void)state;
	s = (struct end){ .ctx = sx };
	c = (struct end){ .ctx = cx, .server_name = "localhost" };
	run_pair(&s, &c);
	assert_int_equal(s.hs, -EPROTONOSUPPORT);
	assert_int_equal(c.hs, -EPROTONOSUPPORT);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
}

/* No ALPN protocol in common. */
static void test_alpn_mismatch(void **state)
{
	struct urt_tls_ctx *sx = server_ctx(&(struct urt_tls_ctx_opts){ .alpn = "http/1.1" });
	struct urt_tls_ctx *cx = client_ctx(&(struct urt_tls_ctx_opts){ .alpn = "h2" });
	static struct end s, c;

	(void)state;
	s = (struct end){ .ctx = sx };
	c = (struct end){ .ctx = cx, .server_name = "localhost" };
	run_pair(&s, &c);
	assert_int_equal(s.hs, -ENOPROTOOPT);
	assert_int_equal(c.hs, -ENOPROTOOPT);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
}

/* SNI: the callback's answer serves the handshake whole. A name it
 * refuses (NULL): -EPROTO; a name it serves with a context that requires
 * a client certificate: a client without one is refused (the other
 * context's verification, not only its certificate). */
static struct urt_tls_ctx *sni_auth_ctx, *sni_default_ctx;

static struct urt_tls_ctx *sni_pick(void *arg, const char *name)
{
	if (name && !strcmp(name, "auth.localhost"))
		return sni_auth_ctx;
	(void)arg;
	if (name && !strcmp(name, "localhost"))
		return sni_default_ctx;
	return NULL;
}

static void test_sni(void **state)
{
	struct urt_tls_ctx *sx, *cx = client_ctx(&(struct urt_tls_ctx_opts){ .insecure = true });
	static struct end s, c;

	(void)state;
	sni_auth_ctx = server_ctx(&(struct urt_tls_ctx_opts){ .verify_peer = true,
							       .ca_file = tls_pki_file("ca.pem") });
	sx = server_ctx(&(struct urt_tls_ctx_opts){ .sni = sni_pick });
	sni_default_ctx = sx;
	s = (struct end){ .ctx = sx, .send = 10 };
	c = (struct end){ .ctx = cx, .server_name = "localhost", .expect = 10 };
	run_pair(&s, &c);
	assert_int_equal(s.hs, 0);
	assert_int_equal(c.got, 10);
	s = (struct end){ .ctx = sx };
	c = (struct end){ .ctx = cx, .server_name = "nobody.example" };
	run_pair(&s, &c);
	assert_int_equal(s.hs, -EPROTO);
	assert_true(c.hs < 0);
	s = (struct end){ .ctx = sx, .send = 10 };
	c = (struct end){ .ctx = cx, .server_name = "auth.localhost", .expect = 10 };
	run_pair(&s, &c);
	assert_int_equal(s.hs, -EKEYREJECTED);
	assert_true(c.hs < 0 || c.ret < 0);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
	urt_tls_ctx_free(sni_auth_ctx);
}

/* Contexts: missing files, a key that is not the certificate's, options
 * that contradict each other. */
static void test_ctx_errors(void **state)
{
	struct urt_tls_ctx *x = NULL;

	(void)state;
	assert_int_equal(urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ 0 }, &x), -EINVAL);
	assert_int_equal(urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ .cert_file = "/nonexistent",
								      .key_file = "/nonexistent" },
					 &x),
			 -ENOENT);
	assert_int_equal(
		urt_tls_ctx_new(
			&(struct urt_tls_ctx_opts){ .cert_file = tls_pki_file("server.pem"),
						    .key_file = tls_pki_file("client.key") },
			&x),
		-EBADMSG);
	assert_true(strlen(urt_tls_error_string()) > 0);
	assert_int_equal(
		urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ .cert_file = tls_pki_file("ca.key"),
							    .key_file = tls_pki_file("ca.key") },
				&x),
		-EBADMSG);
	assert_int_equal(
		urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ .cert_file = tls_pki_file("server.pem"),
							    .key_file = tls_pki_file("server.key"),
							    .min_version = URT_TLS_1_3,
							    .max_version = URT_TLS_1_2 },
				&x),
		-EINVAL);
	assert_int_equal(
		urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ .cert_file = tls_pki_file("server.pem"),
							    .key_file = tls_pki_file("server.key"),
							    .alpn = "h2,,x" },
				&x),
		-EINVAL);
	assert_null(x);
}

/* A server that asks for a client certificate without requiring one:
 * served either way, and it knows which. */
static void test_client_cert_optional(void **state)
{
	struct urt_tls_ctx *sx = server_ctx(&(struct urt_tls_ctx_opts){
		.peer_optional = true, .ca_file = tls_pki_file("ca.pem") });
	struct urt_tls_ctx *bare = client_ctx(NULL);
	struct urt_tls_ctx *with = client_ctx(&(struct urt_tls_ctx_opts){
		.cert_file = tls_pki_file("client.pem"), .key_file = tls_pki_file("client.key") });
	static struct end s, c;

	(void)state;
	s = (struct end){ .ctx = sx, .send = 10 };
	c = (struct end){ .ctx = bare, .server_name = "localhost", .expect = 10 };
	run_pair(&s, &c);
	assert_int_equal(s.hs, 0);
	assert_int_equal(c.got, 10);
	assert_false(s.peer_ok);
	assert_true(c.peer_ok); /* the client verified the server */
	s = (struct end){ .ctx = sx, .send = 10 };
	c = (struct end){ .ctx = with, .server_name = "localhost", .expect = 10 };
	run_pair(&s, &c);
	assert_int_equal(s.hs, 0);
	assert_true(s.peer_ok);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(bare);
	urt_tls_ctx_free(with);
}

/* The kTLS probe agrees with the kernel's list of upper-layer protocols
 * (which it loads the module into, where there is one). */
static void test_ktls_probe(void **state)
{
	char ulp[256] = "";
	FILE *f;
	int r = urt_tls_ktls_probe();

	(void)state;
	assert_true(r == 0 || r == 1);
	assert_int_equal(urt_tls_ktls_probe(), r); /* probed once */
	f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
	if (!f)
		skip();
	if (!fgets(ulp, sizeof(ulp), f))
		ulp[0] = 0;
	fclose(f);
	assert_int_equal(strstr(ulp, "tls") != NULL, r == 1);
}

/*
 * The smallest out-buffer (4096: a record of 3776 bytes at a time) and odd
 * sizes, against whole 16 KiB writes, in TLS 1.3, TLS 1.2 with AES-GCM and
 * TLS 1.2 with AES-CBC and HMAC-SHA1 (the largest per-record overhead: IV,
 * MAC, padding): every byte both ways, in order, and no stall (the
 * deadline would end one with -ETIMEDOUT).
 */
static void test_small_out_buffer(void **state)
{
	static const uint32_t caps[] = { 4096, 4097, 20000 };
	static const struct {
		uint16_t max;
		const char *ciphers, *cipher;
	} suites[] = {
		{ URT_TLS_1_3, NULL, "TLS_AES_256_GCM_SHA384" },
		{ URT_TLS_1_2, "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256" },
		{ URT_TLS_1_2, "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA" },
	};

	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		for (unsigned v = 0; v < 3; v++) {
			struct urt_tls_ctx *sx = server_ctx(
				&(struct urt_tls_ctx_opts){ .out_cap = caps[k],
							    .max_version = suites[v].max,
							    .ciphers = suites[v].ciphers });
			struct urt_tls_ctx *cx = client_ctx(&(struct urt_tls_ctx_opts){
				.out_cap = caps[k], .ciphers = suites[v].ciphers });
			static struct end s, c;

			s = (struct end){ .ctx = sx,
					  .send = 200000,
					  .wsize = 16384,
					  .expect = 100000,
					  .deadline_ms = 20000 };
			c = (struct end){ .ctx = cx,
					  .server_name = "localhost",
					  .send = 100000,
					  .expect = 200000,
					  .deadline_ms = 20000 };
			run_pair(&s, &c);
			print_message("out_cap %u, %s: server %d/%d, client %d/%d\n", caps[k],
				      suites[v].cipher, s.hs, s.ret, c.hs, c.ret);
			assert_int_equal(s.hs, 0);
			assert_int_equal(c.hs, 0);
			assert_int_equal(c.version, suites[v].max);
			assert_string_equal(c.cipher, suites[v].cipher);
			assert_int_equal(s.got, 100000);
			assert_int_equal(c.got, 200000);
			assert_int_equal(s.end_read, 0);
			assert_int_equal(c.end_read, 0);
			urt_tls_ctx_free(sx);
			urt_tls_ctx_free(cx);
		}
	}
}

/* --- awaits interrupted ------------------------------------------------------ */

/*
 * A reader that puts a short sleep beside every read (URT_AWAIT_ANY): the
 * sleep wins most of the time (the writer pauses between writes), the read
 * is evaluated again after each win. cancel_at > 0: after that many wins,
 * cancel every operation of the task (urt_task_cancel_ops); the reads
 * then return what had come, then -ECANCELED, for good.
 */
struct rd {
	struct urt_tls tls;
	struct urt_op nap;
	int fd;
	int hs, r, s;
	unsigned sleep_wins, reads, cancel_at, cancelled;
	size_t got;
	bool bad;
	char buf[3000];
};

static bool rd_poll(struct urt_task *t, void *arg)
{
	struct rd *d = *(struct rd **)arg;

	URT_BEGIN(t);
	URT_AWAIT(t, d->hs = urt_tls_handshake(t, &d->tls));
	if (d->hs)
		goto out;
	for (;;) {
		URT_AWAIT_ANY(t, d->r = urt_tls_read(t, &d->tls, d->buf, sizeof(d->buf)),
			      d->s = urt_sleep(t, &d->nap, 200000));
		if (d->s != URT_PENDING) {
			d->sleep_wins++;
			if (d->cancel_at && d->sleep_wins == d->cancel_at)
				d->cancelled = (unsigned)urt_task_cancel_ops(t);
		} else {
			(void)urt_op_cancel(&d->nap);
			(void)urt_op_take_late(&d->nap);
		}
		if (d->r == URT_PENDING)
			continue;
		if (d->r <= 0)
			break;
		d->reads++;
		for (int i = 0; i < d->r; i++)
			if ((unsigned char)d->buf[i] != (unsigned char)pattern(d->got + (size_t)i))
				d->bad = true;
		d->got += (size_t)d->r;
	}
out:
	URT_AWAIT(t, urt_tls_end(t, &d->tls));
	shutdown(d->fd, SHUT_RDWR);
	URT_RETURN(t, 0);
	URT_END(t);
}

static void rd_drop(struct urt_task *t, void *arg)
{
	struct rd *d = *(struct rd **)arg;

	(void)t;
	assert_int_equal(urt_tls_free(&d->tls), 0);
	close(d->fd);
}

static const struct urt_task_type rd_type = { .poll = rd_poll, .drop = rd_drop, .name = "rd" };

/* A server end (struct end) writing to a client struct rd. */
static void run_rd(struct end *srv, struct rd *d, struct urt_tls_ctx *cx)
{
	run_sides(&(struct side){ &end_type, srv, &srv->tls, &srv->fd, srv->ctx, NULL },
		  &(struct side){ &rd_type, d, &d->tls, &d->fd, cx, "localhost" });
}

static void test_read_interrupted(void **state)
{
	struct urt_tls_ctx *sx = server_ctx(NULL), *cx = client_ctx(NULL);
	static struct end s;
	static struct rd d;

	(void)state;
	/* 40 writes of 1000 bytes, 3 ms apart, each read through 3000-byte
	 * reads beside a 0.2 ms sleep */
	s = (struct end){ .ctx = sx, .send = 40000, .wsize = 1000, .pause_ms = 3 };
	d = (struct rd){ 0 };
	run_rd(&s, &d, cx);
	print_message("read beside a sleep: %u sleep wins, %u reads, %zu bytes\n", d.sleep_wins,
		      d.reads, d.got);
	assert_int_equal(d.hs, 0);
	assert_int_equal(d.r, 0); /* close_notify */
	assert_int_equal(d.got, 40000);
	assert_false(d.bad);
	assert_true(d.sleep_wins > 40);

	/* every op of the task cancelled while the read waits: the bytes
	 * that came still read, in order, then -ECANCELED */
	s = (struct end){ .ctx = sx, .send = 40000, .wsize = 1000, .pause_ms = 3 };
	d = (struct rd){ .cancel_at = 20 };
	run_rd(&s, &d, cx);
	print_message("cancelled at %u sleep wins (%u ops): %zu bytes, then %d\n", d.cancel_at,
		      d.cancelled, d.got, d.r);
	assert_int_equal(d.hs, 0);
	assert_true(d.cancelled >= 1);
	assert_int_equal(d.r, -ECANCELED);
	assert_true(d.got < 40000);
	assert_false(d.bad);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
}

/*
 * A write_all beside a sleep that wins (the reader waits 100 ms first, the
 * 8 MiB cannot all go out): while it is under way, urt_tls_free in the
 * poll says -EBUSY and frees nothing, and a write_all of another buffer
 * is refused (-EBUSY) rather than sent from the first one's progress;
 * then the same write_all resumes to its end, every byte in order, then
 * shutdown twice (the second a no-op), urt_tls_end and urt_tls_free in
 * the poll, and drop's urt_tls_free once more.
 */
#define WR_BIG (8u << 20)

struct wr {
	struct urt_tls tls;
	struct urt_op nap;
	int fd;
	int hs, w, s, other, freed_busy, sh1, sh2, freed;
	bool ssl_kept;
	char small[100];
};

static char wr_big[WR_BIG];

static bool wr_poll(struct urt_task *t, void *arg)
{
	struct wr *d = *(struct wr **)arg;

	URT_BEGIN(t);
	URT_AWAIT(t, d->hs = urt_tls_handshake(t, &d->tls));
	if (d->hs)
		goto out;
	URT_AWAIT_ANY(t, d->w = urt_tls_write_all(t, &d->tls, wr_big, WR_BIG),
		      d->s = urt_sleep(t, &d->nap, 1000000));
	if (d->w != URT_PENDING)
		goto out; /* the case needs the sleep to win */
	memset(d->small, 'z', sizeof(d->small));
	d->other = urt_tls_write_all(t, &d->tls, d->small, sizeof(d->small));
	d->freed_busy = urt_tls_free(&d->tls);
	d->ssl_kept = d->tls.ssl != NULL;
	URT_AWAIT(t, d->w = urt_tls_write_all(t, &d->tls, wr_big, WR_BIG));
	URT_AWAIT(t, d->sh1 = urt_tls_shutdown(t, &d->tls));
	URT_AWAIT(t, d->sh2 = urt_tls_shutdown(t, &d->tls));
out:
	URT_AWAIT(t, urt_tls_end(t, &d->tls));
	d->freed = urt_tls_free(&d->tls);
	shutdown(d->fd, SHUT_RDWR);
	URT_RETURN(t, 0);
	URT_END(t);
}

static void wr_drop(struct urt_task *t, void *arg)
{
	struct wr *d = *(struct wr **)arg;

	(void)t;
	assert_int_equal(urt_tls_free(&d->tls), 0); /* again: nothing left */
	close(d->fd);
}

static const struct urt_task_type wr_type = { .poll = wr_poll, .drop = wr_drop, .name = "wr" };

static void test_write_interrupted(void **state)
{
	struct urt_tls_ctx *sx = server_ctx(NULL), *cx = client_ctx(NULL);
	static struct end r;
	static struct wr d;
	struct end *rp = &r;
	struct wr *dp = &d;
	struct urt_runtime rt;
	int sv[2];
	uint16_t port;
	int lfd = test_listen(&port);

	(void)state;
	for (size_t i = 0; i < WR_BIG; i++)
		wr_big[i] = (char)pattern(i);
	test_tcp_pair(lfd, port, &sv[1], &sv[0]);
	close(lfd);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_size = 4096, .buf_count = 64 });
	r = (struct end){ .ctx = sx, .fd = sv[0], .expect = WR_BIG, .delay_ms = 100 };
	d = (struct wr){ .fd = sv[1] };
	assert_int_equal(urt_tls_init(&r.tls, sx, r.fd, NULL), 0);
	assert_int_equal(urt_tls_init(&d.tls, cx, d.fd, "localhost"), 0);
	assert_int_equal(urt_spawn(&rt, &end_type, &rp, sizeof(rp), NULL), 0);
	assert_int_equal(urt_spawn(&rt, &wr_type, &dp, sizeof(dp), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(test_stats(&rt).bufs_free, test_stats(&rt).buf_count);
	test_runtime_end(&rt);
	assert_int_equal(d.hs, 0);
	assert_int_equal(d.s, 0); /* the sleep won */
	assert_int_equal(d.other, -EBUSY);
	assert_int_equal(d.freed_busy, -EBUSY);
	assert_true(d.ssl_kept);
	assert_int_equal(d.w, (int)WR_BIG);
	assert_int_equal(d.sh1, 0);
	assert_int_equal(d.sh2, 0);
	assert_int_equal(d.freed, 0);
	assert_int_equal(r.got, WR_BIG); /* every byte checked against the pattern */
	assert_int_equal(r.end_read, 0);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
}

/*
 * A ring of 4 or 8 buffers shared by 32 TLS ends (16 connections on one
 * runtime), every client sending 64 KiB at once and its server echoing
 * them: all complete (no end starves for a buffer), every byte in order,
 * and every buffer back in the ring at the end, in each buffer mode
 * (bundles, buffers filled in part, one buffer a completion).
 */
#define RING_CONNS 16

static void test_tiny_ring(void **state)
{
	static const uint32_t counts[] = { 4, 8 };
	static const uint32_t modes[] = { 0, URT_FEAT_RECV_BUNDLE,
					  URT_FEAT_RECV_BUNDLE | URT_FEAT_BUF_INC };
	struct urt_tls_ctx *sx = server_ctx(NULL), *cx = client_ctx(NULL);
	static struct end s[RING_CONNS], c[RING_CONNS];

	(void)state;
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned m = 0; m < 3; m++) {
			struct urt_runtime rt;
			struct urt_runtime_stats st;
			uint64_t t0 = urt_now_ns();

			test_runtime_init(&rt,
					  &(struct urt_runtime_opts){ .buf_size = 4096,
								      .buf_count = counts[k],
								      .features_off = modes[m] });
			for (unsigned i = 0; i < RING_CONNS; i++) {
				struct end *sp = &s[i], *cp = &c[i];
				int sv[2];
				uint16_t port;
				int lfd = test_listen(&port);

				test_tcp_pair(lfd, port, &sv[1], &sv[0]);
				close(lfd);
				s[i] = (struct end){ .ctx = sx,
						     .fd = sv[0],
						     .expect = 65536,
						     .echo = true,
						     .deadline_ms = 20000 };
				c[i] = (struct end){ .ctx = cx,
						     .fd = sv[1],
						     .server_name = "localhost",
						     .send = 65536,
						     .expect = 65536,
						     .deadline_ms = 20000 };
				assert_int_equal(urt_tls_init(&s[i].tls, sx, s[i].fd, NULL), 0);
				assert_int_equal(urt_tls_init(&c[i].tls, cx, c[i].fd, "localhost"),
						 0);
				assert_int_equal(urt_spawn(&rt, &end_type, &sp, sizeof(sp), NULL),
						 0);
				assert_int_equal(urt_spawn(&rt, &end_type, &cp, sizeof(cp), NULL),
						 0);
			}
			assert_int_equal(urt_run(&rt), 0);
			urt_runtime_stats(&rt, &st);
			print_message(
				"ring of %u, features_off 0x%x: %llu ms, bufs_free %zu of %zu, "
				"low %zu, enobufs %llu\n",
				counts[k], modes[m],
				(unsigned long long)((urt_now_ns() - t0) / 1000000), st.bufs_free,
				st.buf_count, st.bufs_free_low, (unsigned long long)st.enobufs);
			for (unsigned i = 0; i < RING_CONNS; i++) {
				assert_int_equal(s[i].hs, 0);
				assert_int_equal(c[i].hs, 0);
				assert_int_equal(s[i].got, 65536);
				assert_int_equal(c[i].got, 65536);
				assert_int_equal(c[i].end_read, 0);
			}
			assert_int_equal(st.bufs_free, st.buf_count);
			assert_int_equal(st.ops_live, 0);
			test_runtime_end(&rt);
		}
	}
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
}

/* TLS 1.2 between urt ends: a ticket resumes, close_notify reads as 0, an
 * end without it as truncation, a refused certificate's alert reaches
 * the server. */
static void test_tls12_paths(void **state)
{
	struct urt_tls_ctx *sx =
		server_ctx(&(struct urt_tls_ctx_opts){ .max_version = URT_TLS_1_2 });
	struct urt_tls_ctx *cx = client_ctx(NULL);
	struct urt_tls_ctx *bad =
		client_ctx(&(struct urt_tls_ctx_opts){ .ca_file = tls_pki_file("other-ca.pem") });
	static struct end s, c;
	void *sess;

	(void)state;
	s = (struct end){ .ctx = sx, .send = 70000 };
	c = (struct end){ .ctx = cx, .server_name = "localhost", .expect = 70000, .save = true };
	run_pair(&s, &c);
	assert_int_equal(c.version, URT_TLS_1_2);
	assert_int_equal(c.got, 70000);
	assert_int_equal(c.end_read, 0);
	assert_int_equal(s.end_read, 0);
	assert_false(c.resumed);
	sess = c.saved;
	assert_non_null(sess);
	s = (struct end){ .ctx = sx, .send = 10 };
	c = (struct end){ .ctx = cx, .server_name = "localhost", .expect = 10, .session = sess };
	run_pair(&s, &c);
	assert_int_equal(c.hs, 0);
	assert_true(c.resumed);
	assert_true(s.resumed);
	urt_tls_session_free(sess);

	s = (struct end){ .ctx = sx, .send = 1000, .no_shutdown = true };
	c = (struct end){ .ctx = cx, .server_name = "localhost", .expect = 1000 };
	run_pair(&s, &c);
	assert_int_equal(c.got, 1000);
	assert_int_equal(c.end_read, -ECONNABORTED);

	s = (struct end){ .ctx = sx };
	c = (struct end){ .ctx = bad, .server_name = "localhost" };
	run_pair(&s, &c);
	assert_int_equal(c.hs, -EKEYREJECTED);
	assert_int_equal(s.hs, -EKEYREJECTED);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
	urt_tls_ctx_free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_close_notify_and_truncation),
		cmocka_unit_test(test_resumption),
		cmocka_unit_test(test_bad_certificate),
		cmocka_unit_test(test_version_floor),
		cmocka_unit_test(test_alpn_mismatch),
		cmocka_unit_test(test_client_cert_optional),
		cmocka_unit_test(test_sni),
		cmocka_unit_test(test_ktls_probe),
		cmocka_unit_test(test_small_out_buffer),
		cmocka_unit_test(test_read_interrupted),
		cmocka_unit_test(test_write_interrupted),
		cmocka_unit_test(test_tiny_ring),
		cmocka_unit_test(test_tls12_paths),
	};

	tls_pki_init("test_tls");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
