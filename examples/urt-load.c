/* SPDX-License-Identifier: MIT */
/*
 * urt-load - a bounded load generator, itself a urt program (one runtime,
 * one thread, one task per connection).
 *
 *   urt-load --port P [--addr A] [--conns N] [--size B] [--depth D]
 *            [--duration S] [--requests N] [--warmup S] [--mode echo|resp|http] [--idle]
 *            [--cmd echo|set|get] [--keyspace N]
 *            [--path P] [--expect-file F] [--expect-status N] [--close-ok] [--discard]
 *            [--tls [--tls-ca F | --tls-insecure] [--tls-name N]]
 *
 * Each connection sends D requests back to back (pipelined), then reads
 * the D responses in order, checks every byte, and records each request's
 * latency (from the submission of its send to the arrival of its last
 * byte) in a log-linear histogram: 32 linear sub-buckets per power of two,
 * so a percentile is within about 3% with no per-sample storage. A mode
 * is a small table (a request's size, build it, the response's size,
 * check it): "echo" sends raw bytes, "resp" sends RESP ECHO requests (to
 * urt-kv or redis) and checks each bulk reply; with --cmd set or get it
 * sends SETs or GETs of --keyspace keys instead (a pipelined RESP client
 * like redis-benchmark -P D -r N, for rates past redis-benchmark's own
 * limit), reads each batch's replies at once and checks every one.
 *
 * "http" is an HTTP/1.1 client for any server that frames its responses
 * with Content-Length (urt-http, nginx): keep-alive GETs of --path, whose
 * responses have no size known in advance, so they are not received by
 * size but parsed from the stream (http/resp.c: split across receives at
 * any byte, several in one). Each must have --expect-status and, with
 * --expect-file, that file's bytes as its body (read once at start; else
 * the body is only framed by its Content-Length). A whole response that
 * is wrong (status, body) counts as an error and the connection goes on; one
 * that cannot be framed, or bytes past the last response, end the
 * connection. `Connection: close` ends it too, as an error unless
 * --close-ok (a server's keep-alive request limit, nginx's
 * keepalive_requests): the response counts and the connection is opened
 * again, the requests pipelined behind it are sent again on the new one.
 *
 * --discard makes --mode http a cheap client, for rates past wrk's own
 * limit: a receive asks for little more than a head (HTTP_SKIM_SIZE a
 * request in flight), and the rest of a body is dropped by the kernel
 * unseen (recv with MSG_TRUNC: TCP consumes the bytes without copying them
 * out), so a 64 KiB body costs the client one or two receives and no copy.
 * Status and framing are checked as without it; of --expect-file only the
 * length (every Content-Length must be the file's size). Not with --tls.
 *
 * --tls (when built with liburt_tls): every connection is a TLS client
 * (urt/tls.h): after the connect, the handshake (SNI and the certificate
 * checked against --tls-name, by --tls-ca's roots or the system's; within
 * 10 s), then the same load, written with urt_tls_write_all and read with
 * urt_tls_read; a connection that ends cleanly sends close_notify.
 * --mode http offers ALPN "http/1.1".
 *
 * Progress every second on stderr; one final line on stdout:
 *   requests N rps R p50_us X p99_us Y p999_us Z errors E
 * and, when there were errors, a count of each kind on stderr (the first
 * of each kind is told as it happens).
 * Exit status: 0 if requests completed and nothing was wrong; 1 on any
 * error or mismatch; 2 for bad flags.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <urt/urt.h>
#ifdef URT_HAVE_TLS
#include <urt/tls.h>
#endif

#include "hist.h"
#include "http/resp.h"

#define MAX_SECONDS   600	 /* a hard bound on any run */
#define HTTP_IN_SIZE  (16 << 10) /* a connection's receive buffer in --mode http */
#define HTTP_HEAD_MAX (8 << 10)	 /* the longest response head accepted */
#define HTTP_SKIM_SIZE	 (2 << 10)  /* --discard: receive buffer a request in flight */
#define TLS_HANDSHAKE_MS 10000	    /* --tls: a handshake's deadline */

/* latencies of measured requests */
static struct hist lat;

/*
 * --discard: the buffer every MSG_TRUNC receive names. TCP never writes
 * it; it exists because a receive must name valid memory of its length
 * (ASan builds check each buffer at submission), and it bounds one receive.
 */
static char discard_buf[256 << 10];

/* --- modes ---------------------------------------------------------------- */

/* size is the payload's bytes; a protocol frames it */
struct mode {
	const char *name;
	/* bytes of a request carrying size bytes */
	size_t (*req_size)(size_t size);
	/* write request `tag` into out (req_size(size) bytes) */
	void (*build)(char *out, size_t size, uint64_t tag);
	/* bytes of the response to request `tag` */
	size_t (*resp_size)(size_t size);
	/* whether in holds the right response */
	bool (*check)(const char *in, size_t size, uint64_t tag);
	/* responses have no size known in advance: parsed from the stream
	 * (http/resp.c), not received by resp_size and checked by check */
	bool parsed;
	/* a batch's responses are received at once (depth x resp_size), then
	 * checked: each request's latency is then its batch's */
	bool whole;
};

static uint64_t word(uint64_t tag, size_t i)
{
	uint64_t x = tag * 0x9e3779b97f4a7c15ull + i;

	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ull;
}

static void echo_build(char *out, size_t size, uint64_t tag)
{
	size_t i = 0;

	for (; i + 8 <= size; i += 8) {
		uint64_t w = word(tag, i);

		memcpy(out + i, &w, 8);
	}
	for (; i < size; i++)
		out[i] = (char)word(tag, i);
}

static size_t echo_resp_size(size_t size)
{
	return size;
}

static bool echo_check(const char *in, size_t size, uint64_t tag)
{
	size_t i = 0;

	for (; i + 8 <= size; i += 8) {
		uint64_t w = word(tag, i);

		if (memcmp(in + i, &w, 8))
			return false;
	}
	for (; i < size; i++)
		if (in[i] != (char)word(tag, i))
			return false;
	return true;
}

/* RESP (urt-kv, redis): ECHO <payload>, answered with the payload as a bulk. */
static size_t digits(size_t v)
{
	size_t n = 1;

	while (v >= 10)
		v /= 10, n++;
	return n;
}

static size_t resp_req_size(size_t size)
{
	return strlen("*2\r\n$4\r\nECHO\r\n$") + digits(size) + 2 + size + 2;
}

static size_t resp_resp_size(size_t size)
{
	return 1 + digits(size) + 2 + size + 2;
}

static bool resp_check(const char *in, size_t size, uint64_t tag)
{
	char head[32];
	int n = snprintf(head, sizeof(head), "$%zu\r\n", size);

	return !memcmp(in, head, (size_t)n) && echo_check(in + n, size, tag) &&
	       !memcmp(in + n + size, "\r\n", 2);
}

/*
 * RESP SET and GET (--mode resp --cmd set|get): the key of request `tag`
 * is one of --keyspace keys, key:NNNNNNNNNNNN (12 digits, as
 * redis-benchmark's -r), picked by a hash of the tag; its value is --size
 * bytes that depend on the key only, so a GET's reply is known: --cmd get
 * first SETs every key (preload). Fixed sizes: each reply is received by
 * size, a batch's at once.
 */
#define KEY_LEN	 16 /* "key:" and 12 digits */
#define KEY_HEAD 18 /* "*3\r\n$3\r\nSET\r\n$16\r\n": the bytes before the key */

static uint64_t keyspace = 1;

static uint64_t key_of(uint64_t tag)
{
	return keyspace > 1 ? word(tag, 0) % keyspace : 0;
}

/* Write v in decimal, width digits (zero-padded). */
static char *put_digits(char *p, uint64_t v, size_t width)
{
	for (size_t i = width; i-- > 0; v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + width;
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* "*N\r\n$3\r\nCMD\r\n$16\r\nkey:...\r\n": the head both commands share. */
static char *put_key_head(char *p, const char *head, uint64_t key)
{
	p = put(p, head, KEY_HEAD); /* "*3\r\n$3\r\nSET\r\n$16\r\n" */
	p = put(p, "key:", 4);
	p = put_digits(p, key, KEY_LEN - 4);
	return put(p, "\r\n", 2);
}

/* "$size\r\n<value>\r\n": a SET's last argument, a GET's reply. */
static char *put_bulk(char *p, size_t size, uint64_t key)
{
	*p++ = '$';
	p = put_digits(p, size, digits(size));
	p = put(p, "\r\n", 2);
	echo_build(p, size, key);
	return put(p + size, "\r\n", 2);
}

/* SET key number `key` to its value. Return: past the request. */
static char *set_key(char *out, size_t size, uint64_t key)
{
	return put_bulk(put_key_head(out, "*3\r\n$3\r\nSET\r\n$16\r\n", key), size, key);
}

static size_t set_req_size(size_t size)
{
	return KEY_HEAD + KEY_LEN + 2 + resp_resp_size(size);
}

static void set_build(char *out, size_t size, uint64_t tag)
{
	set_key(out, size, key_of(tag));
}

static size_t set_resp_size(size_t size)
{
	(void)size;
	return 5;
}

static bool set_check(const char *in, size_t size, uint64_t tag)
{
	(void)size, (void)tag;
	return !memcmp(in, "+OK\r\n", 5);
}

static size_t get_req_size(size_t size)
{
	(void)size;
	return KEY_HEAD + KEY_LEN + 2;
}

static void get_build(char *out, size_t size, uint64_t tag)
{
	(void)size;
	put_key_head(out, "*2\r\n$3\r\nGET\r\n$16\r\n", key_of(tag));
}

static bool get_check(const char *in, size_t size, uint64_t tag)
{
	return resp_check(in, size, key_of(tag));
}

static void resp_build(char *out, size_t size, uint64_t tag)
{
	put_bulk(put(out, "*2\r\n$4\r\nECHO\r\n", 14), size, tag);
}

/* --cmd set, --cmd get: --mode resp's other commands (parse picks one) */
static const struct mode resp_set = {
	.name = "resp",
	.req_size = set_req_size,
	.build = set_build,
	.resp_size = set_resp_size,
	.check = set_check,
	.whole = true,
};
static const struct mode resp_get = {
	.name = "resp",
	.req_size = get_req_size,
	.build = get_build,
	.resp_size = resp_resp_size,
	.check = get_check,
	.whole = true,
};

/*
 * HTTP: one GET of --path with keep-alive, built once at start (http_req);
 * responses are parsed, so no resp_size or check.
 */
static char *http_req;
static size_t http_req_n;

static size_t http_req_size(size_t size)
{
	(void)size;
	return http_req_n;
}

static void http_build(char *out, size_t size, uint64_t tag)
{
	(void)size, (void)tag;
	memcpy(out, http_req, http_req_n);
}

static const struct mode modes[] = {
	{ "echo", echo_resp_size, echo_build, echo_resp_size, echo_check, false, false },
	{ "resp", resp_req_size, resp_build, resp_resp_size, resp_check, false, false },
	{ "http", http_req_size, http_build, NULL, NULL, true, false },
};

/* --- the run ---------------------------------------------------------------- */

struct cfg {
	const char *addr;
	uint16_t port;
	uint32_t conns, depth;
	size_t size;
	double duration, warmup;
	uint64_t max_requests; /* 0: no limit */
	const struct mode *mode;
	bool idle; /* one request per connection, then hold it open */
	bool keyspace_set; /* --keyspace given */
	/* --mode http */
	const char *path;	 /* the target of every GET */
	const char *expect_file; /* NULL: bodies are not compared */
	int expect_status;
	bool close_ok; /* Connection: close is a reason to reconnect, not an error */
	bool discard;  /* bodies dropped unseen, only their length checked */
	uint32_t in_size; /* a connection's receive buffer */
	char *expect;  /* expect_file's bytes */
	size_t expect_n;
	/* --tls */
	bool tls, tls_insecure;
	const char *tls_ca, *tls_name;
};

static struct cfg cfg;
static struct sockaddr_in server;
#ifdef URT_HAVE_TLS
static struct urt_tls_ctx *tls_ctx; /* --tls: the client context of every connection */
#endif
static bool measuring, stopping;
static uint64_t requests, errors, live_conns;
static uint64_t t_start, t_measure, t_end;

/* errors by kind: `what` is a string literal, compared by address */
#define MAX_KINDS 16
static struct {
	const char *what;
	uint64_t n;
} kinds[MAX_KINDS];

/* Count an error; the first of each kind is told with its detail (may be NULL). */
static void error_add(const char *what, const char *detail)
{
	size_t k = 0;

	errors++;
	while (k < MAX_KINDS && kinds[k].what && kinds[k].what != what)
		k++;
	if (k == MAX_KINDS)
		return; /* counted in errors, not by kind */
	if (!kinds[k].n++) {
		kinds[k].what = what;
		fprintf(stderr, "urt-load: first error: %s%s%s\n", what, detail ? ": " : "",
			detail ? detail : "");
	}
}

static void error_once(const char *what, int err)
{
	error_add(what, err ? strerror(-err) : NULL);
}

enum open_stage { OPEN_SOCKET, OPEN_CONNECT, OPEN_WAIT };

struct conn {
	uint64_t id, seq;
	int fd, ret, attempt;
	enum open_stage stage;
	const char *what; /* the call conn_open failed in */
	bool reopen;	  /* --close-ok: the server closed after a good response */
	uint32_t i;
	char *out, *in;
	uint64_t t0;
	struct urt_op op;
	struct urt_io_all io;
	/* --mode http */
	char *head;	    /* the reader's head buffer (HTTP_HEAD_MAX) */
	uint32_t have, pos; /* in[pos..have) is received and not yet read */
	struct http_resp_reader rd;
	struct http_resp res; /* the response resp_next returned */
#ifdef URT_HAVE_TLS
	struct urt_tls tls; /* --tls: the connection on fd */
	bool tls_live;	    /* tls holds OpenSSL's state: urt_tls_free it */
#endif
	uint32_t got; /* --tls, recv_exact: bytes of the response read */
};

/* --- the I/O points: plain, or TLS ---------------------------------------- */

#ifdef URT_HAVE_TLS
/*
 * Awaitable: c->fd made a TLS client (--tls-name in SNI and checked in
 * the certificate) and its handshake, within TLS_HANDSHAKE_MS.
 * Return: 0; -errno (urt/tls.h).
 */
static int tls_open(struct urt_task *t, struct conn *c)
{
	int ret;

	if (!c->tls_live) {
		ret = urt_tls_init(&c->tls, tls_ctx, c->fd, cfg.tls_name);
		if (ret)
			return ret;
		c->tls_live = true;
		urt_tls_set_deadline(&c->tls, urt_now_ns() + TLS_HANDSHAKE_MS * 1000000ull);
	}
	ret = urt_tls_handshake(t, &c->tls);
	if (ret != URT_PENDING)
		urt_tls_set_deadline(&c->tls, 0);
	return ret;
}

/* Awaitable: the end of c's TLS connection (close_notify if clean), its
 * state freed, before fd is closed. Return: 0. */
static int tls_close(struct urt_task *t, struct conn *c, bool clean)
{
	if (!c->tls_live)
		return 0;
	if (clean && urt_tls_shutdown(t, &c->tls) == URT_PENDING)
		return URT_PENDING;
	if (urt_tls_end(t, &c->tls) == URT_PENDING)
		return URT_PENDING;
	(void)urt_tls_free(&c->tls);
	c->tls_live = false;
	return 0;
}
#endif

/* Awaitable: send p[0, n) whole. Return: n; -errno. */
static inline int conn_send(struct urt_task *t, struct conn *c, const void *p, size_t n)
{
#ifdef URT_HAVE_TLS
	if (cfg.tls)
		return urt_tls_write_all(t, &c->tls, p, n);
#endif
	return urt_send_all(t, &c->io, c->fd, p, n);
}

/* Awaitable: what comes, up to n bytes. Return: > 0; 0 the server closed
 * (TLS: its close_notify); -errno. */
static inline int conn_recv(struct urt_task *t, struct conn *c, void *p, size_t n)
{
#ifdef URT_HAVE_TLS
	if (cfg.tls)
		return urt_tls_read(t, &c->tls, p, n);
#endif
	return urt_recv(t, &c->op, c->fd, p, n, 0);
}

/* Awaitable: exactly n bytes. Return: n; fewer if the server closed first; -errno. */
static inline int conn_recv_exact(struct urt_task *t, struct conn *c, char *p, size_t n)
{
#ifdef URT_HAVE_TLS
	if (cfg.tls) {
		while (c->got < n) {
			int ret = urt_tls_read(t, &c->tls, p + c->got, n - c->got);

			if (ret == URT_PENDING)
				return ret;
			if (ret <= 0) {
				ret = ret < 0 ? ret : (int)c->got;
				c->got = 0;
				return ret;
			}
			c->got += (uint32_t)ret;
		}
		c->got = 0;
		return (int)n;
	}
#endif
	return urt_recv_exact(t, &c->io, c->fd, p, n);
}

/*
 * conn_open - awaitable: c->fd connected to the server, a refused connect
 * tried again every 10 ms, 100 times (the server may be starting); the
 * progress lives in c->stage.
 * Return: 0; -errno (c->what names the call).
 */
static int conn_open(struct urt_task *t, struct conn *c)
{
	int ret;

	for (;;) {
		switch (c->stage) {
		case OPEN_SOCKET:
			ret = urt_socket(t, &c->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (ret == URT_PENDING)
				return ret;
			if (ret < 0) {
				c->what = "socket";
				return ret;
			}
			c->fd = ret;
			c->stage = OPEN_CONNECT;
			break;
		case OPEN_CONNECT:
			ret = urt_connect(t, &c->op, c->fd, (struct sockaddr *)&server,
					  sizeof(server));
			if (ret == URT_PENDING)
				return ret;
			c->stage = OPEN_SOCKET;
			if (!ret) {
				c->attempt = 0;
				setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
					   sizeof(int));
				return 0;
			}
			close(c->fd);
			c->fd = -1;
			if (ret != -ECONNREFUSED || ++c->attempt > 100) {
				c->what = "connect";
				return ret;
			}
			c->stage = OPEN_WAIT;
			break;
		case OPEN_WAIT:
			ret = urt_sleep(t, &c->op, 10000000);
			if (ret == URT_PENDING)
				return ret;
			c->stage = OPEN_SOCKET;
			break;
		}
	}
}

/*
 * resp_next - awaitable (--mode http): the next response on c's stream, in
 * c->res, receiving as it needs.
 * Return: 0; 1 if the server closed first; -errno of the receive or of the
 * reader (http_resp_feed).
 */
static int resp_next(struct urt_task *t, struct conn *c)
{
	size_t used;
	int ret;

	for (;;) {
		if (c->pos == c->have && cfg.discard && http_resp_body_left(&c->rd)) {
			uint64_t left = http_resp_body_left(&c->rd);

			ret = urt_recv(t, &c->op, c->fd, discard_buf,
				       left < sizeof(discard_buf) ? left : sizeof(discard_buf),
				       MSG_TRUNC);
			if (ret == URT_PENDING || ret < 0)
				return ret;
			if (!ret)
				return 1;
			if (http_resp_skip(&c->rd, (size_t)ret, &c->res))
				return 0;
			continue;
		}
		if (c->pos == c->have) {
			ret = conn_recv(t, c, c->in, cfg.in_size);
			if (ret == URT_PENDING || ret < 0)
				return ret;
			if (!ret)
				return 1;
			c->have = (uint32_t)ret;
			c->pos = 0;
		}
		ret = http_resp_feed(&c->rd, c->in + c->pos, c->have - c->pos, &used, &c->res);
		c->pos += (uint32_t)used;
		if (ret)
			return ret < 0 ? ret : 0;
	}
}

/* What is wrong with a whole response (NULL: nothing), told with detail. */
static const char *resp_wrong(const struct http_resp *r, char *detail, size_t size)
{
	if (r->status != cfg.expect_status) {
		snprintf(detail, size, "%d, want %d", r->status, cfg.expect_status);
		return "status differs from --expect-status";
	}
	if (!r->body_ok || (cfg.discard && cfg.expect && r->length != cfg.expect_n)) {
		if (r->length != cfg.expect_n)
			snprintf(detail, size, "%llu bytes, the file has %zu",
				 (unsigned long long)r->length, cfg.expect_n);
		else
			snprintf(detail, size, "its %zu bytes are not the file's", cfg.expect_n);
		return "body differs from --expect-file";
	}
	if (r->close && !cfg.close_ok) {
		snprintf(detail, size, "the server ends the connection");
		return "Connection: close (without --close-ok)";
	}
	return NULL;
}

/*
 * Read the response to request c->i (--mode http), count it and measure
 * it. Return: 0 to go on; 1 to end the connection (what ended it is
 * counted, unless it is a --close-ok reopen).
 */
static int resp_take(struct conn *c)
{
	char detail[64];
	const char *what = NULL;

	if (c->ret) {
		if (c->ret == 1)
			error_add("recv: the server closed", NULL);
		else if (c->ret == -EBADMSG)
			error_add("response cannot be framed", "a malformed head");
		else if (c->ret == -EMSGSIZE)
			error_add("response cannot be framed", "a head past 8 KiB");
		else if (c->ret == -ENOTSUP)
			error_add("response cannot be framed", "not by Content-Length");
		else
			error_once("recv", c->ret);
		return 1;
	}
	what = resp_wrong(&c->res, detail, sizeof(detail));
	if (what)
		error_add(what, detail);
	else if (measuring) {
		hist_add(&lat, urt_now_ns() - c->t0);
		requests++;
	}
	if (c->res.close) {
		c->reopen = cfg.close_ok;
		return 1;
	}
	return 0;
}

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	URT_BEGIN(t);
	c->out = urt_task_alloc(t, cfg.mode->req_size(cfg.size) * cfg.depth);
	c->in = urt_task_alloc(t, cfg.mode->parsed ? cfg.in_size
						   : cfg.mode->resp_size(cfg.size) *
							     (cfg.mode->whole ? cfg.depth : 1));
	if (cfg.mode->parsed)
		c->head = urt_task_alloc(t, HTTP_HEAD_MAX);
	if (!c->out || !c->in || (cfg.mode->parsed && !c->head)) {
		error_once("out of memory", -ENOMEM);
		URT_RETURN(t, 1);
	}
	do {
		URT_AWAIT(t, c->ret = conn_open(t, c));
		if (c->ret < 0) {
			error_once(c->what, c->ret);
			URT_RETURN(t, 1);
		}
		c->reopen = false;
		c->have = c->pos = 0;
#ifdef URT_HAVE_TLS
		if (cfg.tls) {
			URT_AWAIT(t, c->ret = tls_open(t, c));
			if (c->ret < 0) {
				error_once("tls handshake", c->ret);
				goto out;
			}
		}
#endif
		if (cfg.mode->parsed)
			http_resp_reader_init(&c->rd, c->head, HTTP_HEAD_MAX,
					      cfg.discard ? NULL : cfg.expect, cfg.expect_n);
		while (!stopping) {
			for (c->i = 0; c->i < cfg.depth; c->i++)
				cfg.mode->build(c->out + c->i * cfg.mode->req_size(cfg.size),
						cfg.size, c->id << 32 | (c->seq + c->i));
			c->t0 = urt_now_ns();
			URT_AWAIT(t, c->ret = conn_send(t, c, c->out,
							cfg.mode->req_size(cfg.size) * cfg.depth));
			if (c->ret < 0) {
				error_once("send", c->ret);
				break;
			}
			if (cfg.mode->whole) {
				URT_AWAIT(t, c->ret = conn_recv_exact(
						     t, c, c->in,
						     cfg.mode->resp_size(cfg.size) * cfg.depth));
				if (c->ret != (int)(cfg.mode->resp_size(cfg.size) * cfg.depth)) {
					error_once(c->ret < 0 ? "recv" : "recv: the server closed",
						   c->ret < 0 ? c->ret : 0);
					goto out;
				}
			}
			for (c->i = 0; c->i < cfg.depth; c->i++) {
				if (cfg.mode->parsed) {
					URT_AWAIT(t, c->ret = resp_next(t, c));
					if (resp_take(c))
						goto out;
					continue;
				}
				if (!cfg.mode->whole) {
					URT_AWAIT(t, c->ret = conn_recv_exact(
							     t, c, c->in,
							     cfg.mode->resp_size(cfg.size)));
				}
				if (!cfg.mode->whole &&
				    c->ret != (int)cfg.mode->resp_size(cfg.size)) {
					error_once(c->ret < 0 ? "recv" : "recv: the server closed",
						   c->ret < 0 ? c->ret : 0);
					goto out;
				}
				if (!cfg.mode->check(
					    c->in + (cfg.mode->whole
							     ? c->i * cfg.mode->resp_size(cfg.size)
							     : 0),
					    cfg.size, c->id << 32 | (c->seq + c->i))) {
					error_once("response does not match the request", 0);
					goto out;
				}
				if (measuring) {
					hist_add(&lat, urt_now_ns() - c->t0);
					requests++;
				}
			}
			if (c->pos != c->have) { /* --mode http: nothing was asked for */
				error_add("bytes after the last response", NULL);
				goto out;
			}
			c->seq += cfg.depth;
			while (cfg.idle && !stopping) /* answered once: now sit there */
				URT_AWAIT(t, c->ret = urt_sleep(t, &c->op, 100000000));
			if (cfg.max_requests && requests >= cfg.max_requests && !stopping) {
				stopping = true;
				measuring = false;
				t_end = urt_now_ns();
			}
		}
	out:
#ifdef URT_HAVE_TLS
		/* close_notify when the run ended it (or the server's close was
		 * a good one), not after an error */
		URT_AWAIT(t, tls_close(t, c, stopping || c->reopen));
#endif
		URT_AWAIT(t, c->ret = urt_close(t, &c->op, c->fd));
		c->fd = -1;
	} while (c->reopen && !stopping);
	URT_RETURN(t, 0);
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
#ifdef URT_HAVE_TLS
	if (c->tls_live) /* aborted: nothing is in flight in a drop */
		(void)urt_tls_free(&c->tls);
#else
	(void)c;
#endif
	live_conns--;
}

static const struct urt_task_type conn_type = { .poll = conn_poll,
						.drop = conn_drop,
						.name = "load-conn" };

/* Progress once a second; starts measuring after the warm-up; stops the run. */
struct clock_state {
	struct urt_op nap;
	uint64_t last_req, next;
	int ret;
};

static bool clock_poll(struct urt_task *t, void *arg)
{
	struct clock_state *c = arg;
	uint64_t now;

	URT_BEGIN(t);
	c->next = t_start;
	while (live_conns) {
		c->next += 100000000; /* 100 ms steps: fine enough to start and stop on time */
		URT_AWAIT(t, c->ret = urt_sleep_until(t, &c->nap, c->next));
		now = urt_now_ns();
		if (!t_measure && now - t_start >= (uint64_t)(cfg.warmup * 1e9)) {
			hist_reset(&lat);
			requests = 0;
			measuring = true;
			t_measure = now;
		}
		if (measuring && !stopping &&
		    (now - t_measure >= (uint64_t)(cfg.duration * 1e9) ||
		     now - t_start >= (uint64_t)MAX_SECONDS * 1000000000u)) {
			stopping = true;
			measuring = false; /* what finishes after this is not counted */
			t_end = now;
		}
		if ((now - t_start) / 1000000000u != (now - t_start - 100000000) / 1000000000u) {
			fprintf(stderr, "t=%llus %llu req/s, errors %llu\n",
				(unsigned long long)((now - t_start) / 1000000000u),
				(unsigned long long)(requests - c->last_req),
				(unsigned long long)errors);
			c->last_req = requests;
		}
	}
	URT_END(t);
}

static const struct urt_task_type clock_type = { .poll = clock_poll, .name = "load-clock" };

/* --- command line -------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: urt-load --port P [--addr A] [--conns N] [--size B] [--depth D]\n"
		   "                [--duration S] [--requests N] [--warmup S] [--mode "
		   "echo|resp|http] [--idle]\n"
		   "                [--cmd echo|set|get] [--keyspace N]\n"
		   "                [--path P] [--expect-file F] [--expect-status N] [--close-ok]\n"
		   "                [--discard] [--tls [--tls-ca F | --tls-insecure] [--tls-name N]]\n"
		   "  --port P       server port (required)\n"
		   "  --addr A       server IPv4 address (default 127.0.0.1)\n"
		   "  --conns N      connections (default 10)\n"
		   "  --size B       request bytes (default 64)\n"
		   "  --depth D      pipelined requests in flight per connection (default 1)\n"
		   "  --duration S   seconds measured (default 5; at most 600 in all)\n"
		   "  --requests N   stop after N measured requests\n"
		   "  --warmup S     seconds of load before measuring (default 0)\n"
		   "  --mode M       echo (default: the bytes back), resp (RESP ECHO: urt-kv, "
		   "redis),\n"
		   "                 http (keep-alive GETs to any HTTP/1.1 server that sends\n"
		   "                 Content-Length; each response parsed; --size is ignored)\n"
		   "  --cmd C        resp: echo (default: ECHO --size bytes), set (SET a key\n"
		   "                 to a --size value: +OK), get (GET a key: its value; every\n"
		   "                 key is SET first); a batch's replies are read at once\n"
		   "  --keyspace N   set, get: keys key:000000000000 .. N-1, picked at random\n"
		   "                 (default 1: one key; as redis-benchmark -r N)\n"
		   "  --idle         one request per connection, then hold it open (memory)\n"
		   "  --path P       http: the path to GET (default /)\n"
		   "  --expect-file F  http: every body must be F's bytes (else only its length\n"
		   "                 is framed)\n"
		   "  --expect-status N  http: every status must be N (default 200)\n"
		   "  --close-ok     http: a response with Connection: close is not an error;\n"
		   "                 the connection is opened again\n"
		   "  --discard      http: bodies are dropped by the kernel unread (MSG_TRUNC),\n"
		   "                 only their length checked (--expect-file's size): a cheap\n"
		   "                 client for benchmarks; not with --tls\n"
		   "  --tls          TLS connections (TLS 1.2 or 1.3; http offers ALPN http/1.1);\n"
		   "                 needs a build with OpenSSL\n"
		   "  --tls-ca F     --tls: verify the server by the roots in F (PEM; default:\n"
		   "                 the system's)\n"
		   "  --tls-insecure --tls: do not verify the server (tests only)\n"
		   "  --tls-name N   --tls: the name sent in SNI and checked in the server's\n"
		   "                 certificate (default localhost)\n"
		   "Final line: requests N rps R p50_us X p99_us Y p999_us Z errors E\n"
		   "(errors counted by kind on stderr)\n");
}

static int bad(const char *msg, const char *arg)
{
	fprintf(stderr, "urt-load: %s%s%s (see --help)\n", msg, arg ? ": " : "", arg ? arg : "");
	return 2;
}

static bool num(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* The whole of a regular file, malloc'd; NULL with errno set. */
static char *slurp(const char *name, size_t *n)
{
	FILE *f = fopen(name, "rb");
	char *buf = NULL;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto fail;
	if ((unsigned long)size > (1ul << 30)) {
		errno = EFBIG;
		goto fail;
	}
	buf = malloc(size ? (size_t)size : 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
		errno = errno ? errno : EIO;
		goto fail;
	}
	fclose(f);
	*n = (size_t)size;
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

/* --mode http: the request every connection sends, and the expected body. */
static int http_setup(void)
{
	size_t n = strlen(cfg.path);

	if (cfg.path[0] != '/' || n > 2048)
		return bad("bad --path (begins with /, at most 2048 bytes)", cfg.path);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)cfg.path[i] <= ' ' || cfg.path[i] == 0x7f)
			return bad("bad --path (a space or control byte: %-encode it)", NULL);
	http_req = malloc(n + strlen(cfg.addr) + 64);
	if (!http_req)
		return bad("out of memory", NULL);
	http_req_n = (size_t)sprintf(http_req, "GET %s HTTP/1.1\r\nHost: %s:%u\r\n\r\n", cfg.path,
				     cfg.addr, cfg.port);
	if (cfg.expect_file) {
		cfg.expect = slurp(cfg.expect_file, &cfg.expect_n);
		if (!cfg.expect) {
			fprintf(stderr, "urt-load: --expect-file %s: %s\n", cfg.expect_file,
				strerror(errno));
			return 2;
		}
	}
	return 0;
}

static int parse(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "addr", required_argument, 0, 'a' },
		{ "port", required_argument, 0, 'p' },
		{ "conns", required_argument, 0, 'c' },
		{ "size", required_argument, 0, 's' },
		{ "depth", required_argument, 0, 'd' },
		{ "duration", required_argument, 0, 't' },
		{ "requests", required_argument, 0, 'n' },
		{ "warmup", required_argument, 0, 'w' },
		{ "mode", required_argument, 0, 'm' },
		{ "cmd", required_argument, 0, 'K' },
		{ "keyspace", required_argument, 0, 'r' },
		{ "idle", no_argument, 0, 'i' },
		{ "path", required_argument, 0, 'P' },
		{ "expect-file", required_argument, 0, 'f' },
		{ "expect-status", required_argument, 0, 'S' },
		{ "close-ok", no_argument, 0, 'k' },
		{ "discard", no_argument, 0, 'D' },
		{ "tls", no_argument, 0, 'T' },
		{ "tls-ca", required_argument, 0, 'C' },
		{ "tls-insecure", no_argument, 0, 'I' },
		{ "tls-name", required_argument, 0, 'N' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	bool have_port = false;
	const char *cmd = NULL;
	double v;
	int c;

	cfg = (struct cfg){ .addr = "127.0.0.1",
			    .conns = 10,
			    .depth = 1,
			    .size = 64,
			    .duration = 5,
			    .mode = &modes[0],
			    .path = "/",
			    .expect_status = 200,
			    .tls_name = "localhost" };
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'a':
			cfg.addr = optarg;
			break;
		case 'p':
			if (!num(optarg, 1, 65535, &v))
				return bad("bad --port", optarg);
			cfg.port = (uint16_t)v;
			have_port = true;
			break;
		case 'c':
			if (!num(optarg, 1, 1000000, &v))
				return bad("bad --conns", optarg);
			cfg.conns = (uint32_t)v;
			break;
		case 's':
			if (!num(optarg, 1, 1 << 24, &v))
				return bad("bad --size", optarg);
			cfg.size = (size_t)v;
			break;
		case 'd':
			if (!num(optarg, 1, 1024, &v))
				return bad("bad --depth", optarg);
			cfg.depth = (uint32_t)v;
			break;
		case 't':
			if (!num(optarg, 0.1, MAX_SECONDS, &v))
				return bad("bad --duration", optarg);
			cfg.duration = v;
			break;
		case 'n':
			if (!num(optarg, 1, 1e15, &v))
				return bad("bad --requests", optarg);
			cfg.max_requests = (uint64_t)v;
			break;
		case 'w':
			if (!num(optarg, 0, MAX_SECONDS, &v))
				return bad("bad --warmup", optarg);
			cfg.warmup = v;
			break;
		case 'm':
			cfg.mode = NULL;
			for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
				if (!strcmp(optarg, modes[i].name))
					cfg.mode = &modes[i];
			if (!cfg.mode)
				return bad("unknown --mode", optarg);
			break;
		case 'K':
			cmd = optarg;
			if (strcmp(cmd, "set") && strcmp(cmd, "get") && strcmp(cmd, "echo"))
				return bad("bad --cmd (set, get or echo)", optarg);
			break;
		case 'r':
			if (!num(optarg, 1, 1e12, &v) || v != (uint64_t)v)
				return bad("bad --keyspace (1..10^12)", optarg);
			keyspace = (uint64_t)v;
			cfg.keyspace_set = true;
			break;
		case 'i':
			cfg.idle = true;
			break;
		case 'P':
			cfg.path = optarg;
			break;
		case 'f':
			cfg.expect_file = optarg;
			break;
		case 'S':
			if (!num(optarg, 100, 999, &v) || v != (int)v)
				return bad("bad --expect-status", optarg);
			cfg.expect_status = (int)v;
			break;
		case 'k':
			cfg.close_ok = true;
			break;
		case 'D':
			cfg.discard = true;
			break;
		case 'T':
			cfg.tls = true;
			break;
		case 'C':
			cfg.tls_ca = optarg;
			break;
		case 'I':
			cfg.tls_insecure = true;
			break;
		case 'N':
			cfg.tls_name = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return bad("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument", argv[optind]);
	if (!have_port)
		return bad("--port is required", NULL);
	if (cfg.size * cfg.depth > (1u << 30))
		return bad("--size x --depth too large", NULL);
	if ((cmd || cfg.keyspace_set) && strcmp(cfg.mode->name, "resp"))
		return bad("--cmd and --keyspace need --mode resp", NULL);
	if (cfg.keyspace_set && (!cmd || !strcmp(cmd, "echo")))
		return bad("--keyspace needs --cmd set or get", NULL);
	if (cmd && strcmp(cmd, "echo"))
		cfg.mode = !strcmp(cmd, "set") ? &resp_set : &resp_get;
	if (cfg.mode == &resp_get && cfg.tls)
		return bad("--cmd get: no --tls (its keys are set first, in the clear)", NULL);
	server = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(cfg.port) };
	if (inet_pton(AF_INET, cfg.addr, &server.sin_addr) != 1)
		return bad("bad --addr (an IPv4 address)", cfg.addr);
	if (!cfg.tls && (cfg.tls_ca || cfg.tls_insecure))
		return bad("--tls-ca and --tls-insecure need --tls", NULL);
	if (cfg.tls_ca && cfg.tls_insecure)
		return bad("--tls-ca or --tls-insecure, not both", NULL);
#ifndef URT_HAVE_TLS
	if (cfg.tls)
		return bad("built without TLS (OpenSSL was not found): no --tls", NULL);
#endif
	if (cfg.discard && (!cfg.mode->parsed || cfg.tls))
		return bad("--discard needs --mode http, without --tls", NULL);
	cfg.in_size = HTTP_IN_SIZE;
	if (cfg.discard && cfg.depth < HTTP_IN_SIZE / HTTP_SKIM_SIZE)
		cfg.in_size = cfg.depth * HTTP_SKIM_SIZE;
	return cfg.mode->parsed ? http_setup() : 0;
}

/* Awaits nothing: the whole of p[0, n) on a blocking socket. */
static bool io_all(int fd, char *p, size_t n, bool out)
{
	while (n) {
		ssize_t k = out ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);

		if (!k)
			errno = EPIPE; /* the server closed */
		if (k <= 0 && !(k < 0 && errno == EINTR))
			return false;
		if (k > 0)
			p += k, n -= (size_t)k;
	}
	return true;
}

/*
 * --cmd get: SET every key of --keyspace to its value first, pipelined in
 * rounds of up to 1,000 (and about 1 MiB) over one blocking connection, so
 * that every GET's reply is known. Return: 0; 1 (said).
 */
static int preload(void)
{
	size_t rn = set_req_size(cfg.size);
	uint64_t chunk = (1u << 20) / rn, done = 0;
	char *out = NULL, *in = NULL;
	int fd = -1, ret = 1;

	chunk = chunk < 1 ? 1 : chunk > 1000 ? 1000 : chunk;
	out = malloc(rn * chunk);
	in = malloc(5 * chunk);
	errno = ENOMEM;
	if (!out || !in)
		goto out;
	for (int attempt = 0; fd < 0 && attempt < 100; attempt++) { /* the server may be starting */
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || !connect(fd, (struct sockaddr *)&server, sizeof(server)))
			break;
		close(fd);
		fd = -1;
		if (errno != ECONNREFUSED)
			break;
		usleep(10000);
	}
	if (fd < 0)
		goto out;
	while (done < keyspace) {
		uint64_t n = keyspace - done < chunk ? keyspace - done : chunk;
		char *p = out;

		for (uint64_t k = done; k < done + n; k++)
			p = set_key(p, cfg.size, k);
		if (!io_all(fd, out, (size_t)(p - out), true) || !io_all(fd, in, 5 * n, false))
			goto out;
		for (uint64_t i = 0; i < n; i++)
			if (memcmp(in + 5 * i, "+OK\r\n", 5)) {
				errno = EPROTO;
				goto out;
			}
		done += n;
	}
	ret = 0;
	fprintf(stderr, "urt-load: keys set: %llu\n", (unsigned long long)keyspace);
out:
	if (ret)
		fprintf(stderr, "urt-load: --cmd get: setting the keys first: %s\n",
			strerror(errno));
	if (fd >= 0)
		close(fd);
	free(out);
	free(in);
	return ret;
}

/* --tls: the client context. Return: 0; 2, the exit status (a bad --tls-ca). */
static int tls_setup(void)
{
#ifdef URT_HAVE_TLS
	int ret;

	if (!cfg.tls)
		return 0;
	ret = urt_tls_ctx_new(
		&(struct urt_tls_ctx_opts){ .client = true,
					    .ca_file = cfg.tls_ca,
					    .insecure = cfg.tls_insecure,
					    .alpn = cfg.mode->parsed ? "http/1.1" : NULL },
		&tls_ctx);
	if (ret) {
		fprintf(stderr, "urt-load: --tls%s%s: %s (%s)\n", cfg.tls_ca ? "-ca " : "",
			cfg.tls_ca ? cfg.tls_ca : "", strerror(-ret), urt_tls_error_string());
		return 2;
	}
#endif
	return 0;
}

int main(int argc, char **argv)
{
	struct urt_runtime rt;
	struct rlimit rl;
	struct rusage ru;
	double secs;
	int ret;

	ret = parse(argc, argv);
	if (!ret)
		ret = tls_setup();
	if (!ret && cfg.mode == &resp_get)
		ret = preload();
	if (ret)
		return ret;
	signal(SIGPIPE, SIG_IGN);
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ret = urt_runtime_init(&rt, &(struct urt_runtime_opts){ .ring_entries = 1024 });
	if (ret) {
		fprintf(stderr, "urt-load: urt_runtime_init: %s\n", strerror(-ret));
		return 1;
	}
	t_start = urt_now_ns();
	if (cfg.warmup == 0) { /* measure from the first request (--idle makes only one each) */
		measuring = true;
		t_measure = t_start;
	}
	for (uint32_t i = 0; i < cfg.conns; i++) {
		ret = urt_spawn(&rt, &conn_type, &(struct conn){ .id = i, .fd = -1 },
				sizeof(struct conn), NULL);
		if (ret) {
			fprintf(stderr, "urt-load: spawn: %s\n", strerror(-ret));
			return 1;
		}
		live_conns++;
	}
	ret = urt_spawn(&rt, &clock_type, &(struct clock_state){ 0 }, sizeof(struct clock_state),
			NULL);
	if (!ret)
		ret = urt_run(&rt);
	if (ret) {
		fprintf(stderr, "urt-load: %s\n", strerror(-ret));
		return 1;
	}
	if (!t_end)
		t_end = urt_now_ns();
	urt_runtime_deinit(&rt);
	secs = t_measure ? (double)(t_end - t_measure) / 1e9 : 0;
	getrusage(RUSAGE_SELF, &ru);
	fprintf(stderr, "urt-load: cpu %.2f s user %.2f s system over %.2f s\n",
		(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
		(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
		(double)(t_end - t_start) / 1e9);
	printf("requests %llu rps %.0f p50_us %.1f p99_us %.1f p999_us %.1f errors %llu\n",
	       (unsigned long long)requests, secs > 0 ? (double)requests / secs : 0,
	       hist_us(&lat, 0.50), hist_us(&lat, 0.99), hist_us(&lat, 0.999),
	       (unsigned long long)errors);
	for (size_t k = 0; k < MAX_KINDS && kinds[k].what; k++)
		fprintf(stderr, "urt-load: errors: %llu %s\n", (unsigned long long)kinds[k].n,
			kinds[k].what);
	free(http_req);
	free(cfg.expect);
#ifdef URT_HAVE_TLS
	urt_tls_ctx_free(tls_ctx);
#endif
	return errors || !requests ? 1 : 0;
}
