/* SPDX-License-Identifier: MIT */
/*
 * test_tls_fail.c - a urt TLS server task facing hostile peers. The peer
 * is a thread of the test on a plain blocking socket: it writes crafted
 * bytes, or runs an OpenSSL client of its own over memory BIOs (so it can
 * take a real ClientHello and cut it, or flip a bit of a record before it
 * goes out). Each case checks the server's distinct error and that nothing
 * is left behind: the ring's buffers all free, no op record live, the
 * descriptors closed, the drop's urt_tls_free 0 (and ASan for the heap).
 * Then a verifying urt client meeting an expired certificate, aborts and
 * a deinit in the middle, the out-buffer's bound against a peer that never
 * reads, and one server context shared by two runtimes on two threads.
 * The certificates come from scripts/tls-certs.sh (URT_TLS_PKI).
 */
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "support/test_support.h"
#include "support/tls_pki.h"
#include "urt/tls.h"
#include "urt/urt.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

/* Only so that a broken deadline fails instead of hanging: no case's
 * property is a duration. That a deadline fired when it should, not
 * merely before HANG_MS, is judged against a rival timer (struct rival). */
#define HANG_MS (TEST_HANG_NS / 1000000u)

/* A case's rival timer fires at RIVAL_X times its server's deadline. */
#define RIVAL_X 20u

static uint64_t ms_since(uint64_t t0)
{
	return (urt_now_ns() - t0) / 1000000u;
}

/* --- the peer: a thread on a blocking socket ---------------------------------- */

struct peer;
typedef void (*peer_fn)(struct peer *p);

struct peer {
	int fd;
	pthread_t th;
	peer_fn run;
	int max_version;	/* its OpenSSL client's: TLS1_2_VERSION or 0 */
	size_t hello_len;	/* the ClientHello it took */
	size_t sent;		/* bytes of its attack that went out */
	int hs;			/* its OpenSSL client's handshake: 1 done */
	unsigned long ossl;	/* the OpenSSL error its client saw last */
	unsigned char got[512]; /* what it read back (first bytes) */
	size_t got_len;
	int got_err;	  /* how that read ended: 0 end of file, else errno */
	atomic_int stage; /* how far it got (the controller waits on it) */
	atomic_int go;	  /* the controller: finish */
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;

	p->run(p);
	return NULL;
}

static void peer_send(struct peer *p, const void *buf, size_t len)
{
	const char *b = buf;

	while (len) {
		ssize_t n = send(p->fd, b, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p->sent += (size_t)n;
		b += n;
		len -= (size_t)n;
	}
}

/*
 * A peer that gave up (HANG_MS): it resets the connection, so a server that
 * missed its deadline fails its case (an error other than -ETIMEDOUT)
 * instead of hanging on a peer that never reads or never ends.
 */
static void peer_give_up(struct peer *p)
{
	setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &(struct linger){ .l_onoff = 1, .l_linger = 0 },
		   sizeof(struct linger));
	close(p->fd);
	p->fd = -1;
}

/*
 * Read what the server sends until it closes: the first bytes kept; a wait
 * that ran out (SO_RCVTIMEO, make_pair) gives up.
 */
static void peer_collect(struct peer *p)
{
	char sink[4096];

	for (;;) {
		ssize_t n = recv(p->fd, sink, sizeof(sink), 0);

		if (n <= 0) {
			p->got_err = n ? errno : 0;
			if (n < 0)
				peer_give_up(p);
			return;
		}
		for (ssize_t i = 0; i < n && p->got_len < sizeof(p->got); i++)
			p->got[p->got_len++] = (unsigned char)sink[i];
	}
}

/* Wait for the controller's go; past HANG_MS, give up. */
static void peer_wait_go(struct peer *p)
{
	uint64_t t0 = urt_now_ns();

	while (!atomic_load(&p->go)) {
		if (ms_since(t0) >= HANG_MS) {
			peer_give_up(p);
			return;
		}
		test_sleep_ms(2);
	}
}

/* An OpenSSL client over memory BIOs: the peer moves its bytes itself. */
struct mc {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *rb, *wb;
	int fd;
};

static bool mc_new(struct mc *m, struct peer *p)
{
	m->fd = p->fd;
	m->ctx = SSL_CTX_new(TLS_client_method());
	if (!m->ctx)
		return false;
	SSL_CTX_set_verify(m->ctx, SSL_VERIFY_NONE, NULL);
	if (p->max_version)
		SSL_CTX_set_max_proto_version(m->ctx, p->max_version);
	m->ssl = SSL_new(m->ctx);
	m->rb = BIO_new(BIO_s_mem());
	m->wb = BIO_new(BIO_s_mem());
	SSL_set_bio(m->ssl, m->rb, m->wb);
	SSL_set_connect_state(m->ssl);
	return true;
}

static void mc_free(struct mc *m)
{
	SSL_free(m->ssl);
	SSL_CTX_free(m->ctx);
}

/* What the client wrote and has not gone out: into buf, not sent. */
static size_t mc_take(struct mc *m, unsigned char *buf, size_t cap)
{
	int n = BIO_read(m->wb, buf, (int)cap);

	return n > 0 ? (size_t)n : 0;
}

static void mc_flush(struct mc *m, struct peer *p)
{
	unsigned char buf[4096];
	size_t n;

	while ((n = mc_take(m, buf, sizeof(buf))))
		peer_send(p, buf, n);
}

/* Bytes from the server into the client. Return: bytes, 0 end, -1 error. */
static int mc_feed(struct mc *m)
{
	char buf[4096];
	ssize_t n = recv(m->fd, buf, sizeof(buf), 0);

	if (n > 0)
		BIO_write(m->rb, buf, (int)n);
	return n < 0 ? -1 : (int)n;
}

/* The client's handshake to its end. Return: 1 done; else not. */
static int mc_handshake(struct mc *m, struct peer *p)
{
	for (;;) {
		int r = SSL_do_handshake(m->ssl);

		mc_flush(m, p);
		if (r == 1)
			return 1;
		if (SSL_get_error(m->ssl, r) != SSL_ERROR_WANT_READ) {
			p->ossl = ERR_peek_last_error();
			return 0;
		}
		if (mc_feed(m) <= 0)
			return 0;
	}
}

/* A real ClientHello (the client's first flight), not sent. */
static size_t mc_hello(struct peer *p, unsigned char *buf, size_t cap)
{
	struct mc m;
	size_t n;

	if (!mc_new(&m, p))
		return 0;
	(void)SSL_do_handshake(m.ssl);
	n = mc_take(&m, buf, cap);
	mc_free(&m);
	p->hello_len = n;
	return n;
}

/* One record of plaintext, encrypted by the client, into buf (not sent). */
static size_t mc_record(struct mc *m, const char *text, unsigned char *buf, size_t cap)
{
	size_t done;

	if (SSL_write_ex(m->ssl, text, strlen(text), &done) != 1)
		return 0;
	return mc_take(m, buf, cap);
}

/* Read what the server sends, through the client (answering as it must),
 * until it fails or the stream ends: the OpenSSL error it saw last. */
static void mc_read_to_end(struct mc *m, struct peer *p)
{
	char buf[256];

	for (;;) {
		int r = SSL_read(m->ssl, buf, sizeof(buf));

		mc_flush(m, p);
		if (r > 0)
			continue;
		if (SSL_get_error(m->ssl, r) != SSL_ERROR_WANT_READ) {
			p->ossl = ERR_peek_last_error();
			return;
		}
		if (mc_feed(m) <= 0)
			return;
	}
}

/* --- the server task ------------------------------------------------------------- */

/*
 * The rival: a second timer on the server's runtime, armed at RIVAL_X times
 * the server's deadline from the same start. A deadline that works ends
 * the server first; one late by a factor (a unit's mistake, a deadline
 * re-armed on progress) lets the rival fire first, which the server sees
 * when it stops (srv.rival_first). Only the order of the two timers is
 * judged, never a duration. Both are sleeps of the same runtime: a stall
 * of its thread longer than the gap (19 deadlines) could only make them
 * due in one tick, and its timer wheel fires them in deadline order and
 * runs the tasks in the order woken, so the server still stops first.
 */
struct rival {
	struct urt_event ev; /* the server stopped */
	struct urt_op nap;
	uint64_t at_ns; /* when it fires */
	int slept, woke;
	bool fired;
};

static bool rival_poll(struct urt_task *t, void *arg)
{
	struct rival *r = *(struct rival **)arg;

	URT_BEGIN(t);
	r->slept = r->woke = URT_PENDING;
	URT_AWAIT_ANY(t, r->slept = urt_sleep_until(t, &r->nap, r->at_ns),
		      r->woke = urt_event_wait(t, &r->ev));
	if (r->woke == URT_PENDING) { /* the rival's time came first */
		r->fired = r->slept == 0;
		URT_AWAIT(t, r->woke = urt_event_wait(t, &r->ev));
	} else if (r->slept == URT_PENDING) {
		(void)urt_op_cancel(&r->nap); /* a sleep's cancel ends it at once */
		(void)urt_op_take_late(&r->nap);
	}
	URT_END(t);
}

static const struct urt_task_type rival_type = { .poll = rival_poll, .name = "rival" };

struct srv {
	struct urt_tls tls;
	struct urt_tls_ctx *ctx;
	int fd;
	uint64_t deadline_ms; /* 0: none */
	size_t write_total;   /* after the handshake: write this much, else read */
	int hs;		      /* the handshake's result */
	int io;		      /* the read's or write's last result */
	size_t moved;	      /* plaintext read or written */
	uint64_t t0;	      /* when the task began */
	uint64_t took_ms;     /* until it stopped (an error, or the end) */
	int freed;	      /* urt_tls_free in drop */
	bool dropped;
	bool done;
	struct rival *rival;   /* the case's, or NULL */
	bool rival_first;      /* the rival had fired when the server stopped */
	uint32_t out_cap_seen; /* the largest out_cap / out_len seen while writing */
	uint32_t out_len_seen;
	size_t chunk;
	char buf[65536];
};

static bool srv_poll(struct urt_task *t, void *arg)
{
	struct srv *s = *(struct srv **)arg;

	URT_BEGIN(t);
	s->t0 = urt_now_ns();
	s->hs = s->io = 1;
	if (s->deadline_ms)
		urt_tls_set_deadline(&s->tls, s->t0 + s->deadline_ms * 1000000ull);
	URT_AWAIT(t, s->hs = urt_tls_handshake(t, &s->tls));
	if (s->hs < 0)
		goto out;
	if (s->write_total) {
		memset(s->buf, 'x', sizeof(s->buf));
		while (s->moved < s->write_total) {
			s->chunk = s->write_total - s->moved < sizeof(s->buf)
					   ? s->write_total - s->moved
					   : sizeof(s->buf);
			URT_AWAIT(t, s->io = urt_tls_write_all(t, &s->tls, s->buf, s->chunk));
			if (s->io < 0)
				goto out;
			s->moved += s->chunk;
		}
	} else {
		do {
			URT_AWAIT(t, s->io = urt_tls_read(t, &s->tls, s->buf, sizeof(s->buf)));
			if (s->io > 0)
				s->moved += (size_t)s->io;
		} while (s->io > 0);
	}
out:
	s->took_ms = ms_since(s->t0);
	if (s->rival) {
		s->rival_first = s->rival->fired;
		urt_event_notify_one(&s->rival->ev); /* or the permit, taken at its wait */
	}
	URT_AWAIT(t, urt_tls_end(t, &s->tls));
	shutdown(s->fd, SHUT_RDWR);
	s->done = true;
	URT_RETURN(t, 0);
	URT_END(t);
}

static void srv_drop(struct urt_task *t, void *arg)
{
	struct srv *s = *(struct srv **)arg;

	(void)t;
	s->freed = urt_tls_free(&s->tls);
	s->dropped = true;
	close(s->fd);
}

static const struct urt_task_type srv_type = { .poll = srv_poll, .drop = srv_drop, .name = "srv" };

/* While the server writes: what its out-buffer is, and the heap. */
struct watch {
	struct srv *s;
	struct urt_op nap;
	size_t heap0, heap_max; /* glibc's in-use bytes (0: not measured) */
};

static size_t heap_in_use(void)
{
#ifdef SANITIZED
	return 0; /* the sanitizers' allocator is not glibc's */
#else
	return mallinfo2().uordblks;
#endif
}

static bool watch_poll(struct urt_task *t, void *arg)
{
	struct watch *w = *(struct watch **)arg;
	size_t h;

	URT_BEGIN(t);
	while (!w->s->done) {
		if (w->s->tls.out_cap > w->s->out_cap_seen)
			w->s->out_cap_seen = w->s->tls.out_cap;
		if (w->s->tls.out_len > w->s->out_len_seen)
			w->s->out_len_seen = w->s->tls.out_len;
		/* the heap from the handshake's end on */
		h = heap_in_use();
		if (w->s->hs == 0 && !w->heap0)
			w->heap0 = w->heap_max = h;
		if (w->heap0 && h > w->heap_max)
			w->heap_max = h;
		URT_AWAIT(t, urt_sleep(t, &w->nap, 5000000));
	}
	URT_END(t);
}

static const struct urt_task_type watch_type = { .poll = watch_poll, .name = "watch" };

static struct urt_tls_ctx *server_ctx(const struct urt_tls_ctx_opts *extra)
{
	struct urt_tls_ctx_opts o = extra ? *extra : (struct urt_tls_ctx_opts){ 0 };
	struct urt_tls_ctx *x;

	if (!o.cert_file) {
		o.cert_file = tls_pki_file("server.pem");
		o.key_file = tls_pki_file("server.key");
	}
	assert_int_equal(urt_tls_ctx_new(&o, &x), 0);
	return x;
}

/* A loopback connection; rcvbuf > 0 bounds the peer's receive buffer and
 * the server's send buffer (set before connect, so the window obeys). */
static void make_pair(int *sfd, int *pfd, int bufsz)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint16_t port;
	int lfd = test_listen(&port);

	sa.sin_port = htons(port);
	*pfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*pfd >= 0);
	if (bufsz)
		assert_int_equal(setsockopt(*pfd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz)), 0);
	assert_int_equal(connect(*pfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	do
		*sfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (*sfd < 0 && errno == EAGAIN);
	assert_true(*sfd >= 0);
	close(lfd);
	if (bufsz)
		assert_int_equal(setsockopt(*sfd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz)), 0);
	setsockopt(*pfd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	/* a peer that hangs fails the case, not the suite: far beyond any
	 * deadline here, only so that a broken one fails instead of hanging */
	setsockopt(*pfd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_sec = HANG_MS / 1000 },
		   sizeof(struct timeval));
	setsockopt(*pfd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ .tv_sec = HANG_MS / 1000 },
		   sizeof(struct timeval));
}

enum how { RUN, ABORT, DEINIT };

/* A case: the peer, how the server is set, and how it ends. */
struct attack {
	peer_fn run;
	int max_version;	 /* the peer's OpenSSL client's; 0: TLS 1.3 */
	uint64_t deadline_ms;	 /* the server's */
	size_t write_total;	 /* the server writes this much after the handshake */
	struct urt_tls_ctx *ctx; /* the server's; NULL: the suite's plain one */
	enum how how;
	int at;		    /* ABORT, DEINIT: once the peer reaches this stage */
	unsigned settle_ms; /* and this long after */
	int bufsz;	    /* socket buffers (make_pair) */
	struct watch *w;
};

static struct urt_tls_ctx *plain_sx; /* server.pem, defaults */
static struct srv S;		     /* the last case's server */
static struct peer P;		     /* and its peer */

/*
 * One case: the server task on a fresh runtime against the peer thread.
 * RUN runs to the end; ABORT and DEINIT tick until the peer reaches stage
 * `at` (and a writing server has written a first time) and the server has
 * had `settle_ms` more, then abort the server task
 * (and run on) or deinit the runtime. Then: the ring's buffers all free,
 * no op record (test_runtime_end), the descriptors as before, drop's
 * urt_tls_free 0 and the out-buffer given back. A RUN with a deadline
 * races it against a rival timer RIVAL_X times as long: whatever ended
 * the server, it ended before the rival fired.
 */
static void attack(const struct attack *a)
{
	struct srv *s = &S;
	struct urt_runtime rt;
	struct urt_join j;
	static struct rival rv;
	struct rival *rvp = &rv;
	bool race = a->deadline_ms && a->how == RUN;
	int fds = test_fd_count();
	uint64_t out;

	/* armed before the server's start: its deadline is sooner still */
	rv = (struct rival){ .at_ns = urt_now_ns() + RIVAL_X * a->deadline_ms * 1000000ull };
	urt_event_init(&rv.ev);
	S = (struct srv){ .ctx = a->ctx ? a->ctx : plain_sx,
			  .deadline_ms = a->deadline_ms,
			  .write_total = a->write_total,
			  .rival = race ? &rv : NULL };
	P = (struct peer){ .run = a->run, .max_version = a->max_version };
	make_pair(&S.fd, &P.fd, a->bufsz);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_size = 4096, .buf_count = 64 });
	assert_int_equal(urt_tls_init(&S.tls, S.ctx, S.fd, NULL), 0);
	assert_int_equal(urt_spawn(&rt, &srv_type, &s, sizeof(s), &j), 0);
	if (a->w)
		assert_int_equal(urt_spawn(&rt, &watch_type, &a->w, sizeof(a->w), NULL), 0);
	if (race)
		assert_int_equal(urt_spawn(&rt, &rival_type, &rvp, sizeof(rvp), NULL), 0);
	assert_int_equal(pthread_create(&P.th, NULL, peer_main, &P), 0);
	if (a->how == RUN) {
		assert_int_equal(urt_run(&rt), 0);
		assert_int_equal(test_take(&j), 0);
	} else {
		uint64_t t0 = 0;

		while (!t0 || ms_since(t0) < a->settle_ms) {
			assert_true(urt_tick(&rt, 10000000) >= 0);
			/* a writing server: once its first write went out */
			if (!t0 && atomic_load(&P.stage) >= a->at && (!a->write_total || S.moved))
				t0 = urt_now_ns();
		}
		assert_false(S.done);
		if (a->how == ABORT) {
			assert_int_equal(urt_join_abort(&j), 0);
			assert_int_equal(urt_run(&rt), 0);
			assert_int_equal(urt_join_take(&j, &out), -ECANCELED);
		} else {
			urt_join_detach(&j);
			assert_int_equal(urt_runtime_deinit(&rt), 1);
		}
	}
	atomic_store(&P.go, 1);
	if (a->how != DEINIT)
		test_runtime_end(&rt);
	assert_int_equal(pthread_join(P.th, NULL), 0);
	close(P.fd);
	assert_true(S.dropped);
	assert_int_equal(S.freed, 0);
	assert_null(S.tls.ssl);
	assert_null(S.tls.out);
	assert_int_equal(test_fd_count(), fds);
	if (race) {
		assert_true(rv.slept == 0 || rv.slept == URT_PENDING); /* no op record: no race */
		if (S.rival_first)
			fail_msg("the server stopped (hs %d, io %d) after a timer %ux its %llu ms "
				 "deadline fired",
				 S.hs, S.io, RIVAL_X, (unsigned long long)a->deadline_ms);
	}
}

/* --- the handshake's deadline ------------------------------------------------- */

/* Half a ClientHello, then silence until the server gives up. */
static void peer_half_hello(struct peer *p)
{
	unsigned char hello[2048];
	size_t n = mc_hello(p, hello, sizeof(hello));

	peer_send(p, hello, n / 2);
	atomic_store(&p->stage, 1);
	peer_collect(p);
}

static void test_stalled_hello(void **state)
{
	(void)state;
	attack(&(struct attack){ .run = peer_half_hello, .deadline_ms = 200 });
	assert_true(P.hello_len > 100);
	assert_int_equal(P.sent, P.hello_len / 2);
	/* ended by its deadline (not before it), not by the peer: the peer,
	 * silent after half a hello, saw the server end the stream (0), not
	 * its own wait run out */
	assert_int_equal(S.hs, -ETIMEDOUT);
	assert_true(S.took_ms >= 200); /* and before its rival (attack) */
	/* nothing was said to a peer that said nothing whole: the server ends */
	assert_int_equal(P.got_len, 0);
	assert_int_equal(P.got_err, 0);
}

/* A whole ClientHello, a byte a tick (20 ms), slower than the deadline:
 * the deadline is absolute, progress does not move it. */
static void peer_slow_hello(struct peer *p)
{
	unsigned char hello[2048];
	size_t n = mc_hello(p, hello, sizeof(hello));
	char c;

	for (size_t i = 0; i < n; i++) {
		if (send(p->fd, hello + i, 1, MSG_NOSIGNAL) != 1)
			break;
		p->sent++;
		test_sleep_ms(20);
		if (recv(p->fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0)
			break; /* the server closed */
	}
	peer_collect(p);
}

static void test_slow_hello(void **state)
{
	(void)state;
	attack(&(struct attack){ .run = peer_slow_hello, .deadline_ms = 300 });
	/* ended by its deadline (not before it), not by the peer finishing:
	 * it was moving, more than a byte came, the hello never did */
	assert_int_equal(S.hs, -ETIMEDOUT);
	assert_true(S.took_ms >= 300); /* and before its rival (attack) */
	assert_true(P.sent > 3);
	assert_true(P.sent < P.hello_len);
}

/* --- garbage and broken records --------------------------------------------------- */

static void peer_http(struct peer *p)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

	peer_send(p, req, sizeof(req) - 1);
	peer_collect(p);
}

/* HTTP text where a ClientHello should be: -EPROTO. OpenSSL sends no alert
 * to a first record that is not TLS at all ("doesn't look like TLS"): the
 * peer reads the end of the stream and nothing before it. */
static void test_http_garbage(void **state)
{
	(void)state;
	attack(&(struct attack){ .run = peer_http, .deadline_ms = 5000 });
	assert_int_equal(S.hs, -EPROTO);
	assert_non_null(strstr(urt_tls_error_string(), "http request"));
	assert_int_equal(P.got_len, 0);
	assert_int_equal(P.got_err, 0);
}

/* A ClientHello in a well-formed record whose session id length is past
 * its bounds: -EPROTO, and a fatal alert goes out, in the clear. */
static void peer_bad_hello(struct peer *p)
{
	unsigned char hello[2048];
	size_t n = mc_hello(p, hello, sizeof(hello));

	/* record header 5, handshake header 4, version 2, random 32 */
	hello[5 + 4 + 2 + 32] = 0xff;
	peer_send(p, hello, n);
	peer_collect(p);
}

static void test_bad_hello_alert(void **state)
{
	(void)state;
	attack(&(struct attack){ .run = peer_bad_hello, .deadline_ms = 5000 });
	assert_int_equal(S.hs, -EPROTO);
	/* an alert record: type 21, version 3.x, length 2, fatal, decode_error */
	assert_int_equal(P.got_len, 7);
	assert_int_equal(P.got[0], SSL3_RT_ALERT);
	assert_int_equal(P.got[1], 3);
	assert_int_equal(P.got[3], 0);
	assert_int_equal(P.got[4], 2);
	assert_int_equal(P.got[5], SSL3_AL_FATAL);
	assert_int_equal(P.got[6], SSL_AD_DECODE_ERROR);
	assert_int_equal(P.got_err, 0);
}

/* A handshake, then an attack on the record layer. */
enum after { FLIP, TRUNCATE, FIN };

static enum after after_how;

static void peer_after(struct peer *p)
{
	unsigned char rec[512];
	struct mc m;
	size_t n;

	if (!mc_new(&m, p))
		return;
	p->hs = mc_handshake(&m, p);
	if (p->hs == 1) {
		n = mc_record(&m, "hello, server", rec, sizeof(rec));
		switch (after_how) {
		case FLIP:
			rec[n - 3] ^= 0x10; /* in the tag */
			peer_send(p, rec, n);
			break;
		case TRUNCATE:
			peer_send(p, rec, n - 5);
			shutdown(p->fd, SHUT_WR);
			break;
		case FIN:
			shutdown(p->fd, SHUT_WR);
			break;
		}
		/* what the server answers, decrypted by the client */
		mc_read_to_end(&m, p);
	}
	mc_free(&m);
}

static void test_after_handshake(void **state)
{
	static const int versions[] = { TLS1_2_VERSION, 0 };
	(void)state;
	for (unsigned v = 0; v < 2; v++) {
		const struct attack a = { .run = peer_after,
					  .max_version = versions[v],
					  .deadline_ms = 5000 };

		/* a flipped bit: bad_record_mac, the alert sent (encrypted) */
		after_how = FLIP;
		attack(&a);
		assert_int_equal(P.hs, 1);
		assert_int_equal(S.hs, 0);
		assert_int_equal(S.io, -EPROTO);
		assert_int_equal(ERR_GET_REASON(P.ossl), SSL_R_SSLV3_ALERT_BAD_RECORD_MAC);

		/* a record cut short, then FIN: truncation */
		after_how = TRUNCATE;
		attack(&a);
		assert_int_equal(S.hs, 0);
		assert_int_equal(S.io, -ECONNABORTED);

		/* FIN without close_notify */
		after_how = FIN;
		attack(&a);
		assert_int_equal(S.hs, 0);
		assert_int_equal(S.io, -ECONNABORTED);
		assert_int_equal(S.moved, 0);
	}
}

/* A whole ClientHello, the server's first flight read, then a reset. */
static void peer_rst(struct peer *p)
{
	unsigned char hello[2048];
	char buf[64];
	size_t n = mc_hello(p, hello, sizeof(hello));

	peer_send(p, hello, n);
	if (recv(p->fd, buf, sizeof(buf), 0) > 0)
		atomic_store(&p->stage, 1);
	setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &(struct linger){ .l_onoff = 1, .l_linger = 0 },
		   sizeof(struct linger));
	close(p->fd);
	p->fd = -1;
}

static void test_reset_mid_handshake(void **state)
{
	(void)state;
	attack(&(struct attack){ .run = peer_rst, .deadline_ms = 5000 });
	assert_int_equal(atomic_load(&P.stage), 1); /* the server had answered */
	assert_int_equal(S.hs, -ECONNRESET);
}

/* --- renegotiation ---------------------------------------------------------------- */

/* TLS 1.2, then the client asks to renegotiate (a ClientHello inside the
 * session) and reads what the server says. */
static void peer_reneg(struct peer *p)
{
	struct mc m;

	if (!mc_new(&m, p))
		return;
	p->hs = mc_handshake(&m, p);
	if (p->hs == 1 && SSL_renegotiate(m.ssl) == 1) {
		(void)SSL_do_handshake(m.ssl); /* writes the ClientHello */
		mc_flush(&m, p);
		atomic_store(&p->stage, 1);
		mc_read_to_end(&m, p);
	}
	mc_free(&m);
}

static void test_renegotiation(void **state)
{
	(void)state;
	attack(&(struct attack){
		.run = peer_reneg, .max_version = TLS1_2_VERSION, .deadline_ms = 5000 });
	assert_int_equal(P.hs, 1);
	assert_int_equal(S.hs, 0);
	/* the server's read refuses at the ClientHello (not at the alert the
	 * client sends back), before the deadline (that would be -ETIMEDOUT) */
	assert_int_equal(S.io, -EPERM);
	/* the client heard the server's no_renegotiation */
	assert_int_equal(ERR_GET_REASON(P.ossl), SSL_R_NO_RENEGOTIATION);
}

/* --- certificates ------------------------------------------------------------------ */

/* A server that requires a client certificate; the client has none. */
static void peer_no_cert(struct peer *p)
{
	struct mc m;

	if (!mc_new(&m, p))
		return;
	p->hs = mc_handshake(&m, p);
	/* TLS 1.3: the client's handshake ends first; the refusal follows */
	if (p->hs == 1)
		mc_read_to_end(&m, p);
	mc_free(&m);
}

static void test_client_cert_required(void **state)
{
	static const int versions[] = { TLS1_2_VERSION, 0 };
	struct urt_tls_ctx *sx = server_ctx(&(struct urt_tls_ctx_opts){
		.verify_peer = true, .ca_file = tls_pki_file("ca.pem") });

	(void)state;
	for (unsigned v = 0; v < 2; v++) {
		attack(&(struct attack){ .run = peer_no_cert,
					 .max_version = versions[v],
					 .ctx = sx,
					 .deadline_ms = 5000 });
		assert_int_equal(S.hs, -EKEYREJECTED);
		assert_true(ERR_GET_REASON(P.ossl) == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
			    ERR_GET_REASON(P.ossl) == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE);
	}
	urt_tls_ctx_free(sx);
}

/* A connection's two ends, both urt tasks: a handshake, the client
 * writes 4 KiB, the server echoes it, close_notify. */
struct pair_end {
	struct urt_tls tls;
	int fd;
	bool server;
	int hs, ret;
	size_t n, got;
	int freed;
	bool resumed;
	long verify; /* urt_tls_verify_result after the handshake */
	void *saved; /* client: the session, after the reads */
	char buf[4096];
};

static bool pair_poll(struct urt_task *t, void *arg)
{
	struct pair_end *e = *(struct pair_end **)arg;

	URT_BEGIN(t);
	urt_tls_set_deadline(&e->tls, urt_now_ns() + 20000000000ull);
	URT_AWAIT(t, e->hs = urt_tls_handshake(t, &e->tls));
	e->verify = urt_tls_verify_result(&e->tls);
	if (e->hs)
		goto out;
	e->resumed = urt_tls_resumed(&e->tls);
	if (!e->server) {
		memset(e->buf, 'q', sizeof(e->buf));
		URT_AWAIT(t, e->ret = urt_tls_write_all(t, &e->tls, e->buf, sizeof(e->buf)));
		if (e->ret < 0)
			goto out;
	}
	while (e->got < sizeof(e->buf)) {
		URT_AWAIT(t, e->ret = urt_tls_read(t, &e->tls, e->buf, sizeof(e->buf) - e->got));
		if (e->ret <= 0)
			goto out;
		e->got += (size_t)e->ret;
		if (e->server) {
			e->n = (size_t)e->ret;
			URT_AWAIT(t, e->ret = urt_tls_write_all(t, &e->tls, e->buf, e->n));
			if (e->ret < 0)
				goto out;
		}
	}
	if (!e->server)
		e->saved = urt_tls_session_save(&e->tls);
	URT_AWAIT(t, e->ret = urt_tls_shutdown(t, &e->tls));
out:
	URT_AWAIT(t, urt_tls_end(t, &e->tls));
	shutdown(e->fd, SHUT_RDWR);
	URT_RETURN(t, 0);
	URT_END(t);
}

static void pair_drop(struct urt_task *t, void *arg)
{
	struct pair_end *e = *(struct pair_end **)arg;

	(void)t;
	e->freed = urt_tls_free(&e->tls);
	close(e->fd);
}

static const struct urt_task_type pair_type = { .poll = pair_poll,
						.drop = pair_drop,
						.name = "pair" };

/* A verifying urt client and a server whose certificate has expired. */
static void test_expired_certificate(void **state)
{
	struct urt_tls_ctx *sx =
		server_ctx(&(struct urt_tls_ctx_opts){ .cert_file = tls_pki_file("expired.pem"),
						       .key_file = tls_pki_file("expired.key") });
	struct urt_tls_ctx *cx;
	struct urt_runtime rt;
	static struct srv s;
	static struct pair_end c;
	struct srv *sp = &s;
	struct pair_end *cp = &c;
	int fds = test_fd_count();

	(void)state;
	assert_int_equal(
		urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ .client = true,
							    .ca_file = tls_pki_file("ca.pem") },
				&cx),
		0);
	s = (struct srv){ .ctx = sx, .deadline_ms = 5000 };
	c = (struct pair_end){ 0 };
	make_pair(&s.fd, &c.fd, 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_size = 4096, .buf_count = 64 });
	assert_int_equal(urt_tls_init(&s.tls, sx, s.fd, NULL), 0);
	assert_int_equal(urt_tls_init(&c.tls, cx, c.fd, "localhost"), 0);
	assert_int_equal(urt_spawn(&rt, &srv_type, &sp, sizeof(sp), NULL), 0);
	assert_int_equal(urt_spawn(&rt, &pair_type, &cp, sizeof(cp), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	test_runtime_end(&rt);
	assert_int_equal(c.hs, -EKEYREJECTED);
	assert_int_equal(c.verify, X509_V_ERR_CERT_HAS_EXPIRED);
	assert_int_equal(s.hs, -EKEYREJECTED); /* certificate_expired, from the client */
	assert_int_equal(c.freed, 0);
	assert_int_equal(s.freed, 0);
	assert_int_equal(test_fd_count(), fds);
	urt_tls_ctx_free(sx);
	urt_tls_ctx_free(cx);
}

/* --- aborts and deinit in the middle ---------------------------------------------- */

static void test_abort_mid_handshake(void **state)
{
	(void)state;
	attack(&(struct attack){ .run = peer_half_hello, .how = ABORT, .at = 1, .settle_ms = 30 });
	assert_int_equal(S.hs, URT_PENDING); /* the handshake was under way */
	/* the server closed without a word: the peer reads the end */
	assert_int_equal(P.got_len, 0);
}

static void test_deinit_mid_handshake(void **state)
{
	(void)state;
	attack(&(struct attack){ .run = peer_half_hello, .how = DEINIT, .at = 1, .settle_ms = 30 });
	assert_int_equal(S.hs, URT_PENDING);
}

/* A handshake, then nothing read until the controller says so. */
static void peer_no_read(struct peer *p)
{
	struct mc m;

	if (!mc_new(&m, p))
		return;
	p->hs = mc_handshake(&m, p);
	atomic_store(&p->stage, 1);
	peer_wait_go(p);
	mc_free(&m);
}

static void test_abort_deinit_mid_write(void **state)
{
	struct attack a = { .run = peer_no_read,
			    .write_total = 10u << 20,
			    .how = ABORT,
			    .at = 1,
			    .settle_ms = 200,
			    .bufsz = 65536 };

	(void)state;
	attack(&a);
	assert_int_equal(P.hs, 1);
	assert_int_equal(S.hs, 0);
	assert_int_equal(S.io, URT_PENDING); /* the write was under way */
	assert_true(S.moved > 0);
	assert_true(S.moved < 10u << 20);

	/* and the runtime's deinit there (a send of the out-buffer in flight) */
	a.how = DEINIT;
	attack(&a);
	assert_int_equal(S.hs, 0);
	assert_int_equal(S.io, URT_PENDING);
}

/*
 * A peer that never reads while the server writes 10 MB: the write waits
 * (the deadline ends it, -ETIMEDOUT), and what the server took of the 10
 * MB is bounded by the socket buffers and one out-buffer: it does not
 * encrypt ahead into memory. The out-buffer keeps its size; in builds
 * without a sanitizer, the heap does not grow by more than that either.
 */
static void test_write_to_non_reader(void **state)
{
	static struct watch w;
	int sfd, pfd, sndbuf = 0, rcvbuf = 0;
	socklen_t sl = sizeof(int);
	size_t bound;

	(void)state;
	/* what the kernel makes of the buffers the case asks for */
	make_pair(&sfd, &pfd, 65536);
	assert_int_equal(getsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl), 0);
	assert_int_equal(getsockopt(pfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &sl), 0);
	close(sfd);
	close(pfd);
	w = (struct watch){ .s = &S };
	attack(&(struct attack){ .run = peer_no_read,
				 .deadline_ms = 400,
				 .write_total = 10u << 20,
				 .bufsz = 65536,
				 .w = &w });
	assert_int_equal(P.hs, 1);
	assert_int_equal(S.hs, 0);
	assert_int_equal(S.io, -ETIMEDOUT);
	assert_true(S.took_ms >= 400);
	/* accepted plaintext: what went into the kernel (sndbuf + the peer's
	 * rcvbuf, doubled already by the kernel), one out-buffer and one
	 * record OpenSSL holds */
	bound = (size_t)sndbuf + (size_t)rcvbuf + 33792 + 16384 + S.chunk;
	print_message("non-reader: %zu bytes accepted of 10 MiB (bound %zu), out_cap %u, out_len "
		      "max %u, heap +%zu of %zu\n",
		      S.moved, bound, S.out_cap_seen, S.out_len_seen, w.heap_max - w.heap0,
		      w.heap0);
	assert_true(S.moved > 0);
	assert_true(S.moved <= bound);
	assert_int_equal(S.out_cap_seen, 33792);
	assert_true(S.out_len_seen <= 33792);
	if (w.heap0)
		assert_true(w.heap_max - w.heap0 < 256 * 1024);
}

/*
 * A peer that asks for KeyUpdates (each one the server must answer with
 * its own) as fast as it can and never reads: the answers fill the
 * server's out-buffer, which does not grow; the server's read then stops
 * taking records (it waits for room) until the deadline ends it, so the
 * peer is held by TCP's window, not by the server's memory.
 */
static void peer_key_updates(struct peer *p)
{
	struct mc m;

	if (!mc_new(&m, p))
		return;
	p->hs = mc_handshake(&m, p);
	for (int i = 0; p->hs == 1 && i < 200000 && !atomic_load(&p->go); i++) {
		size_t before = p->sent;

		if (SSL_key_update(m.ssl, SSL_KEY_UPDATE_REQUESTED) != 1 ||
		    SSL_do_handshake(m.ssl) != 1)
			break;
		mc_flush(&m, p);
		if (p->sent == before) /* the server closed: the send failed */
			break;
		if (i == 1000)
			atomic_store(&p->stage, 1);
	}
	atomic_store(&p->stage, 1);
	peer_wait_go(p);
	mc_free(&m);
}

static void test_key_update_non_reader(void **state)
{
	static struct watch w;

	(void)state;
	w = (struct watch){ .s = &S };
	attack(&(struct attack){
		.run = peer_key_updates, .deadline_ms = 600, .bufsz = 65536, .w = &w });
	assert_int_equal(P.hs, 1);
	assert_int_equal(S.hs, 0);
	assert_int_equal(S.io, -ETIMEDOUT);
	print_message("key updates: %zu bytes sent by the peer; out_len max %u of %u, heap +%zu\n",
		      P.sent, S.out_len_seen, S.out_cap_seen, w.heap_max - w.heap0);
	assert_true(S.out_len_seen > 0); /* it answered */
	assert_true(S.out_len_seen <= 33792);
	if (w.heap0)
		assert_true(w.heap_max - w.heap0 < 256 * 1024);
}

/* --- one context, two runtimes ---------------------------------------------------- */

#define SHARED_CONNS 8

struct shared_run {
	struct urt_tls_ctx *sx, *cx;
	int ok;	     /* connections that went through */
	int resumed; /* of them, resumed (a ticket of either thread) */
	int failed;  /* a result that was not what it should be */
};

static void *shared_thread(void *arg)
{
	struct shared_run *r = arg;
	struct urt_runtime rt;
	void *sess = NULL;

	if (urt_runtime_init(&rt,
			     &(struct urt_runtime_opts){ .buf_size = 4096, .buf_count = 64 })) {
		r->failed++;
		return NULL;
	}
	for (int i = 0; i < SHARED_CONNS; i++) {
		struct pair_end *s = calloc(1, sizeof(*s)), *c = calloc(1, sizeof(*c));
		struct urt_runtime_stats st;
		int sv[2];
		uint16_t port;
		int lfd = test_listen(&port);

		test_tcp_pair(lfd, port, &sv[1], &sv[0]);
		close(lfd);
		s->fd = sv[0];
		s->server = true;
		c->fd = sv[1];
		if (urt_tls_init(&s->tls, r->sx, s->fd, NULL) ||
		    urt_tls_init(&c->tls, r->cx, c->fd, "localhost") ||
		    (sess && urt_tls_session_resume(&c->tls, sess)) ||
		    urt_spawn(&rt, &pair_type, &s, sizeof(s), NULL) ||
		    urt_spawn(&rt, &pair_type, &c, sizeof(c), NULL) || urt_run(&rt)) {
			r->failed++;
			break;
		}
		urt_runtime_stats(&rt, &st);
		if (s->hs || c->hs || s->got != sizeof(s->buf) || c->got != sizeof(c->buf) ||
		    s->freed || c->freed || st.bufs_free != st.buf_count || st.ops_live)
			r->failed++;
		else
			r->ok++;
		r->resumed += c->resumed;
		/* a TLS 1.3 ticket resumes once: the next connection takes
		 * the session the last one saved */
		urt_tls_session_free(sess);
		sess = c->saved;
		free(s);
		free(c);
	}
	urt_tls_session_free(sess);
	urt_runtime_deinit(&rt);
	return NULL;
}

static void test_two_runtimes_one_context(void **state)
{
	struct urt_tls_ctx *cx;
	struct shared_run r[2];
	pthread_t th[2];

	(void)state;
	assert_int_equal(
		urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ .client = true,
							    .ca_file = tls_pki_file("ca.pem") },
				&cx),
		0);
	for (int i = 0; i < 2; i++) {
		r[i] = (struct shared_run){ .sx = plain_sx, .cx = cx };
		assert_int_equal(pthread_create(&th[i], NULL, shared_thread, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(r[i].failed, 0);
		assert_int_equal(r[i].ok, SHARED_CONNS);
		/* each connection saves its session (TLS 1.3: after the first
		 * read), the next one resumes it */
		assert_int_equal(r[i].resumed, SHARED_CONNS - 1);
	}
	urt_tls_ctx_free(cx);
}

/* --- a urt client against OpenSSL's own server ------------------------------------ */

/*
 * The peer thread is an OpenSSL server on the blocking socket (SSL_set_fd,
 * as openssl s_server): it echoes the client's 4 KiB, then reads until
 * the client's close_notify and answers it. The urt client (pair_type)
 * writes, reads the echo, saves its session, shuts down. Twice per
 * version: the second connection resumes the first's session (a TLS 1.2
 * ticket, a TLS 1.3 one), and both see each other's close_notify.
 */
static SSL_CTX *ossl_srv_ctx;

struct ossl_srv {
	int fd;
	int version; /* max: TLS1_2_VERSION or TLS1_3_VERSION */
	int accepted, echoed, close_seen, shut, resumed;
	unsigned long ossl;
};

static void *ossl_srv_main(void *arg)
{
	struct ossl_srv *o = arg;
	SSL *ssl = SSL_new(ossl_srv_ctx);
	char buf[4096];
	size_t got = 0, n;

	SSL_set_max_proto_version(ssl, o->version);
	SSL_set_fd(ssl, o->fd);
	o->accepted = SSL_accept(ssl);
	o->resumed = SSL_session_reused(ssl);
	while (o->accepted == 1 && got < sizeof(buf)) {
		if (SSL_read_ex(ssl, buf, sizeof(buf) - got, &n) != 1)
			break;
		if (SSL_write_ex(ssl, buf, n, &n) != 1)
			break;
		got += n;
	}
	o->echoed = (int)got;
	if (o->accepted == 1) {
		int r = SSL_read_ex(ssl, buf, sizeof(buf), &n);

		o->close_seen = r == 0 && SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN;
		o->shut = SSL_shutdown(ssl);
	}
	o->ossl = ERR_peek_last_error();
	SSL_free(ssl);
	shutdown(o->fd, SHUT_WR);
	return NULL;
}

static void test_openssl_server(void **state)
{
	static const int versions[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	struct urt_tls_ctx *cx;

	(void)state;
	ossl_srv_ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ossl_srv_ctx);
	assert_int_equal(
		SSL_CTX_use_certificate_chain_file(ossl_srv_ctx, tls_pki_file("server.pem")), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey_file(ossl_srv_ctx, tls_pki_file("server.key"),
						     SSL_FILETYPE_PEM),
			 1);
	assert_int_equal(
		urt_tls_ctx_new(&(struct urt_tls_ctx_opts){ .client = true,
							    .ca_file = tls_pki_file("ca.pem") },
				&cx),
		0);
	for (unsigned v = 0; v < 2; v++) {
		void *sess = NULL;

		for (int k = 0; k < 2; k++) {
			static struct pair_end c;
			static struct ossl_srv o;
			struct pair_end *cp = &c;
			struct urt_runtime rt;
			pthread_t th;
			int fds = test_fd_count();

			c = (struct pair_end){ 0 };
			o = (struct ossl_srv){ .version = versions[v] };
			make_pair(&o.fd, &c.fd, 0);
			test_runtime_init(&rt, &(struct urt_runtime_opts){ .buf_size = 4096,
									   .buf_count = 64 });
			assert_int_equal(urt_tls_init(&c.tls, cx, c.fd, "localhost"), 0);
			if (sess)
				assert_int_equal(urt_tls_session_resume(&c.tls, sess), 0);
			assert_int_equal(pthread_create(&th, NULL, ossl_srv_main, &o), 0);
			assert_int_equal(urt_spawn(&rt, &pair_type, &cp, sizeof(cp), NULL), 0);
			assert_int_equal(urt_run(&rt), 0);
			assert_int_equal(pthread_join(th, NULL), 0);
			test_runtime_end(&rt);
			close(o.fd);
			print_message(
				"OpenSSL server, TLS 1.%d, %s: client hs %d ret %d got %zu; server "
				"accepted %d echoed %d close_notify %d shutdown %d resumed %d\n",
				v + 2, k ? "resumed" : "full", c.hs, c.ret, c.got, o.accepted,
				o.echoed, o.close_seen, o.shut, o.resumed);
			assert_int_equal(c.hs, 0);
			assert_int_equal(o.accepted, 1);
			assert_int_equal(c.got, sizeof(c.buf));
			assert_int_equal(o.echoed, (int)sizeof(c.buf));
			assert_int_equal(c.ret, 0);	   /* the client's shutdown */
			assert_int_equal(o.close_seen, 1); /* its close_notify came */
			assert_int_equal(o.shut, 1);	   /* and was answered */
			assert_int_equal(c.resumed, k == 1);
			assert_int_equal(o.resumed, k == 1);
			assert_int_equal(c.freed, 0);
			assert_int_equal(test_fd_count(), fds);
			urt_tls_session_free(sess);
			sess = c.saved;
			assert_non_null(sess);
		}
		urt_tls_session_free(sess);
	}
	urt_tls_ctx_free(cx);
	SSL_CTX_free(ossl_srv_ctx);
}

static int setup(void **state)
{
	(void)state;
	plain_sx = server_ctx(NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	urt_tls_ctx_free(plain_sx);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stalled_hello),
		cmocka_unit_test(test_slow_hello),
		cmocka_unit_test(test_http_garbage),
		cmocka_unit_test(test_bad_hello_alert),
		cmocka_unit_test(test_after_handshake),
		cmocka_unit_test(test_reset_mid_handshake),
		cmocka_unit_test(test_renegotiation),
		cmocka_unit_test(test_client_cert_required),
		cmocka_unit_test(test_expired_certificate),
		cmocka_unit_test(test_abort_mid_handshake),
		cmocka_unit_test(test_deinit_mid_handshake),
		cmocka_unit_test(test_abort_deinit_mid_write),
		cmocka_unit_test(test_write_to_non_reader),
		cmocka_unit_test(test_key_update_non_reader),
		cmocka_unit_test(test_two_runtimes_one_context),
		cmocka_unit_test(test_openssl_server),
	};

	tls_pki_init("test_tls_fail");
	return cmocka_run_group_tests(tests, setup, teardown);
}
