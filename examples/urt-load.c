/* SPDX-License-Identifier: MIT */
/*
 * urt-load - a bounded load generator, itself a urt program (one runtime,
 * one thread, one task per connection).
 *
 *   urt-load --port P [--addr A] [--conns N] [--size B] [--depth D]
 *            [--duration S] [--requests N] [--warmup S] [--mode echo|resp|http] [--idle]
 *
 * Each connection sends D requests back to back (pipelined), then reads
 * the D responses in order, checks every byte, and records each request's
 * latency (from the submission of its send to the arrival of its last
 * byte) in a log-linear histogram: 32 linear sub-buckets per power of two,
 * so a percentile is within about 3% with no per-sample storage. A mode
 * is a small table (a request's size, build it, the response's size,
 * check it): "echo" sends raw bytes, "resp" sends RESP ECHO requests (to
 * urt-kv or redis) and checks each bulk reply, "http" sends GET / to
 * urt-http and checks the status and the body.
 *
 * Progress every second on stderr; one final line on stdout:
 *   requests N rps R p50_us X p99_us Y p999_us Z errors E
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

#include "hist.h"

#define MAX_SECONDS 600 /* a hard bound on any run */

/* latencies of measured requests */
static struct hist lat;

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

static void resp_build(char *out, size_t size, uint64_t tag)
{
	int n = sprintf(out, "*2\r\n$4\r\nECHO\r\n$%zu\r\n", size);

	echo_build(out + n, size, tag);
	memcpy(out + n + size, "\r\n", 2);
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
 * HTTP (urt-http without --root): GET / with keep-alive, whose answer has a
 * fixed length (the Date header is always 29 characters); the status line
 * and the body are checked. Not a general HTTP client: it relies on that.
 */
#define HTTP_REQ  "GET / HTTP/1.1\r\nHost: urt-load\r\n\r\n"
#define HTTP_BODY "hello from urt-http\n"
#define HTTP_RESP                                                                             \
	"HTTP/1.1 200 OK\r\nServer: urt-http\r\nDate: Tue, 01 Dec 2026 00:00:00 GMT\r\n"          \
	"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\n\r\n" HTTP_BODY

static size_t http_req_size(size_t size)
{
	(void)size;
	return sizeof(HTTP_REQ) - 1;
}

static void http_build(char *out, size_t size, uint64_t tag)
{
	(void)size, (void)tag;
	memcpy(out, HTTP_REQ, sizeof(HTTP_REQ) - 1);
}

static size_t http_resp_size(size_t size)
{
	(void)size;
	return sizeof(HTTP_RESP) - 1;
}

static bool http_check(const char *in, size_t size, uint64_t tag)
{
	size_t n = sizeof(HTTP_RESP) - 1, b = sizeof(HTTP_BODY) - 1;

	(void)size, (void)tag;
	return !memcmp(in, "HTTP/1.1 200 OK\r\n", 17) && !memcmp(in + n - b, HTTP_BODY, b);
}

static const struct mode modes[] = {
	{ "echo", echo_resp_size, echo_build, echo_resp_size, echo_check },
	{ "resp", resp_req_size, resp_build, resp_resp_size, resp_check },
	{ "http", http_req_size, http_build, http_resp_size, http_check },
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
};

static struct cfg cfg;
static struct sockaddr_in server;
static bool measuring, stopping;
static uint64_t requests, errors, live_conns, first_err;
static uint64_t t_start, t_measure, t_end;

static void error_once(const char *what, int err)
{
	if (!errors++)
		fprintf(stderr, "urt-load: first error: %s: %s\n", what, err ? strerror(-err) : "");
	first_err = first_err ? first_err : (uint64_t)-err;
}

struct conn {
	uint64_t id, seq;
	int fd, ret, attempt;
	uint32_t i;
	char *out, *in;
	uint64_t t0;
	struct urt_op op;
	struct urt_io_all io;
};

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	URT_BEGIN(t);
	c->out = urt_task_alloc(t, cfg.mode->req_size(cfg.size) * cfg.depth);
	c->in = urt_task_alloc(t, cfg.mode->resp_size(cfg.size));
	if (!c->out || !c->in) {
		error_once("out of memory", -ENOMEM);
		URT_RETURN(t, 1);
	}
	for (c->attempt = 0;; c->attempt++) {
		URT_AWAIT(t, c->fd = urt_socket(t, &c->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		if (c->fd < 0) {
			error_once("socket", c->fd);
			URT_RETURN(t, 1);
		}
		URT_AWAIT(t, c->ret = urt_connect(t, &c->op, c->fd, (struct sockaddr *)&server,
						  sizeof(server)));
		if (!c->ret)
			break;
		close(c->fd);
		c->fd = -1;
		if (c->ret != -ECONNREFUSED || c->attempt >= 100) {
			error_once("connect", c->ret);
			URT_RETURN(t, 1);
		}
		URT_AWAIT(t, c->ret = urt_sleep(t, &c->op, 10000000)); /* the server is starting */
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	while (!stopping) {
		for (c->i = 0; c->i < cfg.depth; c->i++)
			cfg.mode->build(c->out + c->i * cfg.mode->req_size(cfg.size), cfg.size,
					c->id << 32 | (c->seq + c->i));
		c->t0 = urt_now_ns();
		URT_AWAIT(t, c->ret = urt_send_all(t, &c->io, c->fd, c->out,
						   cfg.mode->req_size(cfg.size) * cfg.depth));
		if (c->ret < 0) {
			error_once("send", c->ret);
			break;
		}
		for (c->i = 0; c->i < cfg.depth; c->i++) {
			URT_AWAIT(t, c->ret = urt_recv_exact(t, &c->io, c->fd, c->in,
							     cfg.mode->resp_size(cfg.size)));
			if (c->ret != (int)cfg.mode->resp_size(cfg.size)) {
				error_once(c->ret < 0 ? "recv" : "recv: the server closed",
					   c->ret < 0 ? c->ret : 0);
				goto out;
			}
			if (!cfg.mode->check(c->in, cfg.size, c->id << 32 | (c->seq + c->i))) {
				error_once("response does not match the request", 0);
				goto out;
			}
			if (measuring) {
				hist_add(&lat, urt_now_ns() - c->t0);
				requests++;
			}
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
	URT_AWAIT(t, c->ret = urt_close(t, &c->op, c->fd));
	URT_RETURN(t, 0);
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	(void)t, (void)arg;
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
		   "                [--duration S] [--requests N] [--warmup S] [--mode echo|resp|http] [--idle]\n"
		   "  --port P       server port (required)\n"
		   "  --addr A       server IPv4 address (default 127.0.0.1)\n"
		   "  --conns N      connections (default 10)\n"
		   "  --size B       request bytes (default 64)\n"
		   "  --depth D      pipelined requests in flight per connection (default 1)\n"
		   "  --duration S   seconds measured (default 5; at most 600 in all)\n"
		   "  --requests N   stop after N measured requests\n"
		   "  --warmup S     seconds of load before measuring (default 0)\n"
		   "  --mode M       echo (default: the bytes back), resp (RESP ECHO: urt-kv, redis),\n"
		   "                 http (GET / of urt-http, keep-alive; --size is ignored)\n"
		   "  --idle         one request per connection, then hold it open (memory)\n"
		   "Final line: requests N rps R p50_us X p99_us Y p999_us Z errors E\n");
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
		{ "idle", no_argument, 0, 'i' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	bool have_port = false;
	double v;
	int c;

	cfg = (struct cfg){ .addr = "127.0.0.1",
			    .conns = 10,
			    .depth = 1,
			    .size = 64,
			    .duration = 5,
			    .mode = &modes[0] };
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
		case 'i':
			cfg.idle = true;
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
	server = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(cfg.port) };
	if (inet_pton(AF_INET, cfg.addr, &server.sin_addr) != 1)
		return bad("bad --addr (an IPv4 address)", cfg.addr);
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
	       hist_us(&lat, 0.50), hist_us(&lat, 0.99),
	       hist_us(&lat, 0.999), (unsigned long long)errors);
	return errors || !requests ? 1 : 0;
}
