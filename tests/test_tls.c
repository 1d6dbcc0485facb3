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
	{
		size_t n;
		const char *a = urt_tls_alpn(&e->tls, &n);

		if (a && n < sizeof(e->alpn))
			memcpy(e->alpn, a, n);
	}
	while (e->sent < e->send) {
		e->n = e->send - e->sent < sizeof(e->buf) ? e->send - e->sent : sizeof(e->buf);
		for (size_t i = 0; i < e->n; i++)
			e->buf[i] = (char)pattern(e->sent + i);
		URT_AWAIT(t, e->ret = urt_tls_write_all(t, &e->tls, e->buf, e->n));
		if (e->ret < 0)
			goto out;
		assert_int_equal(e->ret, (int)e->n);
		e->sent += e->n;
	}
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

/* Run a server end and a client end to completion on a fresh runtime. */
static void run_pair(struct end *srv, struct end *cli)
{
	struct urt_runtime rt;
	struct urt_runtime_stats st;
	int sv[2];
	uint16_t port;
	int lfd = test_listen(&port);

	test_tcp_pair(lfd, port, &sv[1], &sv[0]);
	close(lfd);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_size = 4096, .buf_count = 64 });
	srv->fd = sv[0];
	cli->fd = sv[1];
	assert_int_equal(urt_tls_init(&srv->tls, srv->ctx, srv->fd, NULL), 0);
	assert_int_equal(urt_tls_init(&cli->tls, cli->ctx, cli->fd, cli->server_name), 0);
	assert_int_equal(urt_spawn(&rt, &end_type, &srv, sizeof(srv), NULL), 0);
	assert_int_equal(urt_spawn(&rt, &end_type, &cli, sizeof(cli), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	urt_runtime_stats(&rt, &st);
	assert_int_equal(st.bufs_free, st.buf_count); /* no ring buffer kept */
	assert_int_equal(st.ops_live, 0);
	test_runtime_end(&rt);
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
	};

	tls_pki_init("test_tls");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
