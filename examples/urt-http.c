/* SPDX-License-Identifier: MIT */
/*
 * urt-http - an HTTP/1.1 server on urt's public API.
 *
 *   urt-http [--port P] [--addr A] [--root DIR] [--spawn slab|boxed]
 *            [--max-conns N] [--idle-ms MS] [--head-ms MS] [--max-head B]
 *            [--max-body B]
 *
 * GET / answers a small fixed body; with --root, GET and HEAD serve files
 * beneath DIR (opened with openat2 and RESOLVE_BENEATH through io_uring, so
 * neither "..", an encoded "%2e%2e" nor a symlink can leave the tree) with
 * Content-Type from the extension, Last-Modified and 304 on
 * If-Modified-Since, a single Range (206, 416), read and sent in 64 KiB
 * chunks, never whole into memory.
 *
 * One task per connection (slab slots, or malloc boxes with --spawn boxed).
 * HTTP/1.1 keep-alive and pipelining (answers in request order; the small
 * ones of one batch go out in one send), HTTP/1.0 with and without
 * keep-alive. Refused with the right status, the connection kept where
 * HTTP allows: 400, 404, 405 (with Allow), 413, 414, 431, 501 (a transfer
 * coding on a request), 505. A connection idle past --idle-ms, or a head
 * still incomplete after --head-ms (slowloris), is closed.
 *
 * Prints "listening on ADDR:PORT"; SIGINT/SIGTERM end it with a stats line;
 * exit status 2 for bad flags.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <urt/urt.h>

#include "acceptor.h"
#include "counting.h"
#include "flags.h"
#include "http/parse.h"
#include "sigtask.h"

#define CHUNK	   (64 * 1024) /* file bytes per read and send */
#define SMALL	   (16 * 1024) /* a file this small goes out with its head, in one send */
#define IN_FIRST   4000	       /* first input / output buffer: fits a size class */
#define HELLO_BODY "hello from urt-http\n"

static struct {
	const char *addr, *root;
	uint16_t port;
	bool boxed;
	uint32_t max_conns;
	uint64_t idle_ms, head_ms;
	struct http_limits lim;
} o = {
	.addr = "127.0.0.1",
	.port = 8080,
	.max_conns = 16384,
	.idle_ms = 30000,
	.head_ms = 10000,
	.lim = { .max_head = 8192, .max_target = 2048, .max_body = 1 << 20 },
};

static struct {
	struct urt_runtime rt;
	struct counting heap;
	int root_fd;
	uint64_t conns, live, requests, next;
	bool stop;
} srv = { .root_fd = -1 };

/* --- the connection ------------------------------------------------------------ */

struct conn {
	int fd, n, ret, file;
	struct urt_op rx, nap, op;
	struct urt_io_all tx;
	struct urt_buf b;
	char *in, *out, *chunk; /* task memory */
	size_t in_len, in_cap, out_len, out_cap;
	size_t used;	       /* bytes of the current request in `in` */
	uint64_t body_left;    /* request body still to skip */
	uint64_t off, left;    /* the file range still to send */
	bool keep, head_only, closing;
	struct http_req req; /* slices of `in`, which stays put while it is served */
	struct statx stx;
	struct open_how how;
	char path[512];
};

static bool grow(struct urt_task *t, char **buf, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : IN_FIRST;
	char *p;

	while (ncap < need)
		ncap *= 2;
	p = urt_task_alloc(t, ncap);
	if (!p)
		return false;
	if (*buf) {
		memcpy(p, *buf, *cap);
		urt_task_free(t, *buf);
	}
	*buf = p;
	*cap = ncap;
	return true;
}

static void put(struct urt_task *t, struct conn *c, const void *p, size_t n)
{
	if (c->out_len + n > c->out_cap && !grow(t, &c->out, &c->out_cap, c->out_len + n)) {
		c->closing = true;
		return;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

static void putf(struct urt_task *t, struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void putf(struct urt_task *t, struct conn *c, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(t, c, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 416: return "Range Not Satisfiable";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static void http_date(char *out, size_t cap, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* The status line and the headers every response has. */
static void head(struct urt_task *t, struct conn *c, int status, const char *type,
		 uint64_t length)
{
	char date[64];

	http_date(date, sizeof(date), time(NULL));
	putf(t, c, "HTTP/1.1 %d %s\r\nServer: urt-http\r\nDate: %s\r\n", status, reason(status),
	     date);
	if (type)
		putf(t, c, "Content-Type: %s\r\n", type);
	putf(t, c, "Content-Length: %" PRIu64 "\r\n", length);
	if (!c->keep)
		put(t, c, "Connection: close\r\n", 19);
}

/* An error with a short text body. Statuses that leave the stream in doubt close. */
static void error(struct urt_task *t, struct conn *c, int status)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", status, reason(status));

	if (status != 404 && status != 405 && status != 416)
		c->keep = false; /* the request could not be read: the stream is lost */
	head(t, c, status, "text/plain", (uint64_t)n);
	if (status == 405)
		put(t, c, "Allow: GET, HEAD\r\n", 18);
	put(t, c, "\r\n", 2);
	if (!c->head_only)
		put(t, c, body, (size_t)n);
}

static const char *content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" }, { ".htm", "text/html; charset=utf-8" },
		{ ".txt", "text/plain; charset=utf-8" }, { ".css", "text/css" },
		{ ".js", "text/javascript" },		 { ".json", "application/json" },
		{ ".png", "image/png" },		 { ".jpg", "image/jpeg" },
		{ ".jpeg", "image/jpeg" },		 { ".gif", "image/gif" },
		{ ".svg", "image/svg+xml" },		 { ".wasm", "application/wasm" },
		{ ".pdf", "application/pdf" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcasecmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)(ch | 0x20);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/*
 * The target's path, %-decoded, without the query, as a path relative to
 * the root ("index.html" for "/"). Return: 0; -400 for a bad encoding or a
 * NUL; -404 for a ".." segment (the kernel would refuse it beneath the
 * root anyway: this gives the answer without a system call).
 */
static int target_path(struct slice tg, char *out, size_t cap)
{
	size_t o_ = 0, i = 0;

	if (!tg.n || tg.p[0] != '/')
		return -400;
	i = 1;
	for (; i < tg.n && tg.p[i] != '?' && tg.p[i] != '#'; i++) {
		char ch = tg.p[i];

		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= tg.n)
				return -400;
			hi = hexval(tg.p[i + 1]);
			lo = hexval(tg.p[i + 2]);
			if (hi < 0 || lo < 0)
				return -400;
			ch = (char)(hi * 16 + lo);
			i += 2;
			if (!ch)
				return -400;
		}
		if (o_ + 1 >= cap)
			return -414;
		out[o_++] = ch;
	}
	out[o_] = 0;
	for (char *seg = out; seg;) { /* any ".." segment */
		char *slash = strchr(seg, '/');
		size_t len = slash ? (size_t)(slash - seg) : strlen(seg);

		if (len == 2 && seg[0] == '.' && seg[1] == '.')
			return -404;
		seg = slash ? slash + 1 : NULL;
	}
	if (!o_ || out[o_ - 1] == '/') {
		if (o_ + sizeof("index.html") >= cap)
			return -414;
		strcpy(out + o_, "index.html");
	}
	return 0;
}

/* Parse "bytes=a-b", "bytes=a-", "bytes=-n" against size. Return: 1 a
 * range set in *from and *len; 0 no usable Range (serve all); -1 unsatisfiable. */
static int parse_range(struct slice r, uint64_t size, uint64_t *from, uint64_t *len)
{
	uint64_t a = 0, b = 0;
	size_t i = 6;
	bool have_a = false, have_b = false;

	if (r.n < 7 || strncasecmp(r.p, "bytes=", 6))
		return 0;
	for (; i < r.n && r.p[i] >= '0' && r.p[i] <= '9'; i++, have_a = true)
		a = a * 10 + (uint64_t)(r.p[i] - '0');
	if (i == r.n || r.p[i] != '-')
		return 0;
	for (i++; i < r.n && r.p[i] >= '0' && r.p[i] <= '9'; i++, have_b = true)
		b = b * 10 + (uint64_t)(r.p[i] - '0');
	if (i != r.n || (!have_a && !have_b))
		return 0; /* several ranges, or garbage: serve the whole file */
	if (!have_a) { /* the last b bytes */
		if (!b || !size)
			return -1;
		*from = b >= size ? 0 : size - b;
		*len = size - *from;
		return 1;
	}
	if (a >= size || (have_b && b < a))
		return -1;
	*from = a;
	*len = (have_b && b < size ? b + 1 : size) - a;
	return 1;
}

static time_t parse_http_date(struct slice s)
{
	char tmp[64];
	struct tm tm = { 0 };

	if (!s.n || s.n >= sizeof(tmp))
		return (time_t)-1;
	memcpy(tmp, s.p, s.n);
	tmp[s.n] = 0;
	if (!strptime(tmp, "%a, %d %b %Y %H:%M:%S GMT", &tm))
		return (time_t)-1;
	return timegm(&tm);
}

/* Wait for more input, at most until the deadline. Return via c->n:
 * > 0 appended bytes, 0 the peer closed, < 0 an error or the deadline. */
#define RECV_UNTIL(t, c, deadline)                                                                 \
	do {                                                                                       \
		(c)->n = URT_PENDING;                                                              \
		URT_AWAIT_ANY(t, (c)->n = urt_recv_stream(t, &(c)->rx, (c)->fd, &(c)->b),          \
			      (c)->ret = urt_sleep_until(t, &(c)->nap, (deadline)));               \
		if ((c)->n == URT_PENDING) {                                                       \
			(c)->n = -ETIMEDOUT; /* the deadline came first */                         \
		} else if ((c)->n > 0) {                                                           \
			if ((c)->in_len + (c)->b.len > (c)->in_cap &&                              \
			    !grow(t, &(c)->in, &(c)->in_cap, (c)->in_len + (c)->b.len))            \
				(c)->n = -ENOMEM;                                                  \
			else {                                                                     \
				memcpy((c)->in + (c)->in_len, (c)->b.data, (c)->b.len);            \
				(c)->in_len += (c)->b.len;                                         \
			}                                                                          \
			urt_buf_free(&(c)->b);                                                     \
		}                                                                                  \
	} while (0)

/* The deadline's sleep is re-armed for each wait: drop the old one. */
static void disarm(struct urt_task *t, struct conn *c)
{
	if (urt_op_busy(&c->nap))
		urt_op_cancel(&c->nap);
	if (c->nap.state == URT_OP_DONE) /* a sleep's cancel completes at once */
		(void)urt_sleep_until(t, &c->nap, 0);
}

/* Serve c->req from the root: open beneath it, answer 304 / 416 / 206 / 200,
 * stream the bytes in chunks. Runs inside conn_poll (a helper of awaits
 * would need a state of its own): see the FILE_* steps there. */
static int file_status(struct conn *c, uint64_t *from, uint64_t *len)
{
	time_t ims = c->req.ims.p ? parse_http_date(c->req.ims) : (time_t)-1;
	int ranged;

	if (ims != (time_t)-1 && (time_t)c->stx.stx_mtime.tv_sec <= ims)
		return 304;
	ranged = c->req.range.p ? parse_range(c->req.range, c->stx.stx_size, from, len) : 0;
	if (ranged < 0)
		return 416;
	if (!ranged) {
		*from = 0;
		*len = c->stx.stx_size;
		return 200;
	}
	return 206;
}

static void file_head(struct urt_task *t, struct conn *c, int status, uint64_t from, uint64_t len)
{
	char date[64];

	http_date(date, sizeof(date), (time_t)c->stx.stx_mtime.tv_sec);
	if (status == 304) {
		putf(t, c, "HTTP/1.1 304 Not Modified\r\nServer: urt-http\r\nLast-Modified: %s\r\n%s\r\n",
		     date, c->keep ? "" : "Connection: close\r\n");
		return;
	}
	if (status == 416) {
		head(t, c, 416, "text/plain", 0);
		putf(t, c, "Content-Range: bytes */%" PRIu64 "\r\n\r\n", (uint64_t)c->stx.stx_size);
		return;
	}
	head(t, c, status, content_type(c->path), len);
	putf(t, c, "Last-Modified: %s\r\nAccept-Ranges: bytes\r\n", date);
	if (status == 206)
		putf(t, c, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n", from,
		     from + len - 1, (uint64_t)c->stx.stx_size);
	put(t, c, "\r\n", 2);
}

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;
	long k;

	URT_BEGIN(t);
	c->file = -1;
	while (!c->closing && !srv.stop) {
		/* --- a request head: parse what is there, else wait for more ---------- */
		for (;;) {
			k = http_parse(c->in, c->in_len, &o.lim, &c->req);
			if (k != 0)
				break;
			if (c->out_len) { /* answer the batch before waiting */
				URT_AWAIT(t, c->ret = urt_send_all(t, &c->tx, c->fd, c->out, c->out_len));
				c->out_len = 0;
				if (c->ret < 0)
					goto out;
			}
			disarm(t, c);
			RECV_UNTIL(t, c,
				   urt_now_ns() + 1000000ull * (c->in_len ? o.head_ms : o.idle_ms));
			if (c->n <= 0)
				goto out; /* closed, an error, idle, or a head too slow: close */
		}
		disarm(t, c);
		srv.requests++;
		c->keep = true;
		c->head_only = false;
		if (k < 0) {
			error(t, c, (int)-k);
			c->closing = true;
			break;
		}
		c->used = (size_t)k;
		c->keep = c->req.keep_alive;
		c->head_only = slice_is(c->req.method, "HEAD");
		c->body_left = c->req.body;
		c->ret = target_path(c->req.target, c->path, sizeof(c->path));
		if (!c->head_only && !slice_is(c->req.method, "GET")) {
			error(t, c, 405);
		} else if (c->ret < 0) {
			error(t, c, -c->ret);
		} else if (!o.root) {
			if (!strcmp(c->path, "index.html")) {
				head(t, c, 200, "text/plain; charset=utf-8", sizeof(HELLO_BODY) - 1);
				put(t, c, "\r\n", 2);
				if (!c->head_only)
					put(t, c, HELLO_BODY, sizeof(HELLO_BODY) - 1);
			} else {
				error(t, c, 404);
			}
		} else {
			/* --- a file beneath the root ------------------------------------ */
			c->how = (struct open_how){ .flags = O_RDONLY,
						    .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
			URT_AWAIT(t, c->file = urt_openat2(t, &c->op, srv.root_fd, c->path, &c->how));
			if (c->file < 0) {
				error(t, c, c->file == -EACCES ? 403 : 404);
				c->file = -1;
				goto next;
			}
			URT_AWAIT(t, c->ret = urt_statx(t, &c->op, c->file, "", AT_EMPTY_PATH,
							STATX_SIZE | STATX_MTIME | STATX_TYPE, &c->stx));
			if (c->ret < 0 || !S_ISREG(c->stx.stx_mode)) {
				error(t, c, 404);
			} else {
				uint64_t from = 0, len = 0;
				int status = file_status(c, &from, &len);

				file_head(t, c, status, from, len);
				c->off = from;
				c->left = status / 100 == 2 && !c->head_only ? len : 0;
			}
			if (c->left && c->left <= SMALL) {
				/* a small file joins its head in the output: one send for both
				 * (two would meet Nagle and a delayed ACK: 40 ms a request) */
				if (c->out_len + c->left > c->out_cap &&
				    !grow(t, &c->out, &c->out_cap, c->out_len + c->left))
					c->closing = true, c->left = 0;
				while (c->left) {
					URT_AWAIT(t, c->ret = urt_read(t, &c->op, c->file, c->out + c->out_len,
								       c->left, (int64_t)c->off));
					if (c->ret <= 0) {
						c->closing = true;
						break;
					}
					c->out_len += (size_t)c->ret;
					c->off += (uint64_t)c->ret;
					c->left -= (uint64_t)c->ret;
				}
			}
			if (c->left) { /* a large file: the head first, then the file in chunks */
				URT_AWAIT(t, c->ret = urt_send_all(t, &c->tx, c->fd, c->out, c->out_len));
				c->out_len = 0;
				if (c->ret < 0)
					c->closing = true, c->left = 0;
				else if (!c->chunk && !(c->chunk = urt_task_alloc(t, CHUNK)))
					c->closing = true, c->left = 0;
			}
			while (c->left) {
				URT_AWAIT(t, c->ret = urt_read(t, &c->op, c->file, c->chunk,
							       c->left < CHUNK ? c->left : CHUNK,
							       (int64_t)c->off));
				if (c->ret <= 0) { /* the file shrank under us: the length was promised */
					c->closing = true;
					break;
				}
				URT_AWAIT(t, c->n = urt_send_all(t, &c->tx, c->fd, c->chunk, (size_t)c->ret));
				if (c->n < 0) {
					c->closing = true;
					break;
				}
				c->off += (uint64_t)c->ret;
				c->left -= (uint64_t)c->ret;
			}
			URT_AWAIT(t, urt_close(t, &c->op, c->file));
			c->file = -1;
		}
next:
		/* drop the request and any body from the input */
		if (!c->keep)
			c->closing = true;
		while (!c->closing && c->body_left > c->in_len - c->used) {
			c->body_left -= c->in_len - c->used;
			c->in_len = c->used; /* the body bytes we have are dropped */
			disarm(t, c);
			RECV_UNTIL(t, c, urt_now_ns() + 1000000ull * o.head_ms);
			if (c->n <= 0)
				goto out;
		}
		if (!c->closing) {
			c->used += (size_t)c->body_left;
			memmove(c->in, c->in + c->used, c->in_len - c->used);
			c->in_len -= c->used;
		}
	}
	if (c->out_len) /* the last answers, then close */
		URT_AWAIT(t, c->ret = urt_send_all(t, &c->tx, c->fd, c->out, c->out_len));
out:
	disarm(t, c);
	URT_AWAIT(t, urt_recv_stream_end(t, &c->rx, c->fd));
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	(void)t;
	urt_buf_free(&c->b);
	if (c->file >= 0)
		close(c->file);
	urt_close_detached(c->fd);
	srv.live--;
}

static const struct urt_task_type conn_type = { .poll = conn_poll,
						.drop = conn_drop,
						.name = "http-conn" };

/* --- the acceptor, stats, flags ------------------------------------------------------ */

/* A new connection: its task, unless the cap is reached. */
static int on_conn(int fd)
{
	struct conn c = { .fd = fd, .file = -1 };
	int ret;

	if (srv.live >= o.max_conns) /* the cap, for boxed tasks too */
		return -ENOSPC;
	/* responses are written whole: Nagle would only delay them */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	ret = o.boxed ? urt_spawn(&srv.rt, &conn_type, &c, sizeof(c), NULL)
		      : urt_spawn_slab(&conn_type, &c, sizeof(c), NULL);
	if (ret)
		return ret;
	srv.conns++;
	srv.live++;
	return 0;
}

static void print_stats(const char *what)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(&srv.rt, &st);
	printf("%s: connections %" PRIu64 " live %" PRIu64 " requests %" PRIu64
	       " heap_calls %zu slab %zu/%zu ops_live %zu\n",
	       what, srv.conns, srv.live, srv.requests, atomic_load(&srv.heap.calls), st.slab_live,
	       st.slab_capacity, st.ops_live);
	fflush(stdout);
}

static void on_usr1(void)
{
	print_stats("stats");
}

static void on_stop(void)
{
	srv.stop = true;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: urt-http [--port P] [--addr A] [--root DIR] [--spawn slab|boxed]\n"
		"                [--max-conns N] [--idle-ms MS] [--head-ms MS] [--max-head B]\n"
		"                [--max-body B]\n"
		"  --port P        port (default 8080; 0 picks a free one)\n"
		"  --addr A        IPv4 address to bind (default 127.0.0.1)\n"
		"  --root DIR      serve the files beneath DIR (default: a fixed body at /)\n"
		"  --spawn KIND    connection tasks in slab slots (default) or malloc boxes\n"
		"  --max-conns N   connections at once (default 16384)\n"
		"  --idle-ms MS    close a keep-alive connection idle this long (default 30000)\n"
		"  --head-ms MS    close a connection whose request head takes longer (10000)\n"
		"  --max-head B    request line and headers (default 8192; 431 past it)\n"
		"  --max-body B    request body (default 1048576; 413 past it)\n");
}

#define bad(msg, arg) flag_bad("urt-http", msg, arg)

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "port", required_argument, 0, 'p' },	    { "addr", required_argument, 0, 'a' },
		{ "root", required_argument, 0, 'r' },	    { "spawn", required_argument, 0, 's' },
		{ "max-conns", required_argument, 0, 'c' }, { "idle-ms", required_argument, 0, 'i' },
		{ "head-ms", required_argument, 0, 'H' },   { "max-head", required_argument, 0, 'm' },
		{ "max-body", required_argument, 0, 'b' },  { "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	uint64_t v;
	uint16_t bound;
	int c, ret, lfd, sfd;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!flag_uint(optarg, 0, 65535, &v))
				return bad("bad --port", optarg);
			o.port = (uint16_t)v;
			break;
		case 'a':
			o.addr = optarg;
			break;
		case 'r':
			o.root = optarg;
			break;
		case 's':
			if (strcmp(optarg, "slab") && strcmp(optarg, "boxed"))
				return bad("bad --spawn (slab or boxed)", optarg);
			o.boxed = !strcmp(optarg, "boxed");
			break;
		case 'c':
			if (!flag_uint(optarg, 1, 1u << 20, &v))
				return bad("bad --max-conns", optarg);
			o.max_conns = (uint32_t)v;
			break;
		case 'i':
			if (!flag_uint(optarg, 1, 3600000, &o.idle_ms))
				return bad("bad --idle-ms", optarg);
			break;
		case 'H':
			if (!flag_uint(optarg, 1, 3600000, &o.head_ms))
				return bad("bad --head-ms", optarg);
			break;
		case 'm':
			if (!flag_uint(optarg, 256, 1u << 20, &v))
				return bad("bad --max-head", optarg);
			o.lim.max_head = (size_t)v;
			break;
		case 'b':
			if (!flag_uint(optarg, 0, 1ull << 40, &o.lim.max_body))
				return bad("bad --max-body", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return bad("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad("unexpected argument", argv[optind]);
	if (o.root) {
		srv.root_fd = open(o.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (srv.root_fd < 0)
			return bad("--root is not a directory", o.root);
	}
	counting_init(&srv.heap);
	ret = urt_runtime_init(&srv.rt, &(struct urt_runtime_opts){
						.slab = o.boxed ? URT_SLAB_NONE : URT_SLAB_BOUNDED,
						.slot_size = 64 + (sizeof(struct conn) + 15) / 16 * 16,
						.slab_slots = o.max_conns,
						.allocator = &srv.heap.al,
					});
	if (ret) {
		fprintf(stderr, "urt-http: urt_runtime_init: %s\n", strerror(-ret));
		return 1;
	}
	lfd = urt_listen_tcp(o.addr, o.port, 4096, 0, &bound);
	if (lfd < 0) {
		fprintf(stderr, "urt-http: listen on %s:%u: %s\n", o.addr, o.port, strerror(-lfd));
		return lfd == -EINVAL ? 2 : 1;
	}
	sfd = sigtask_start(&srv.rt, on_usr1, on_stop);
	if (sfd < 0 || acceptor_start(&srv.rt, lfd, &srv.stop, on_conn)) {
		fprintf(stderr, "urt-http: could not start\n");
		return 1;
	}
	printf("listening on %s:%u\n", o.addr, bound);
	fflush(stdout);
	ret = urt_run(&srv.rt);
	if (ret < 0)
		fprintf(stderr, "urt-http: urt_run: %s\n", strerror(-ret));
	print_stats("exit");
	(void)urt_runtime_deinit(&srv.rt); /* aborts the connections: their drops close them */
	close(lfd);
	close(sfd);
	if (srv.root_fd >= 0)
		close(srv.root_fd);
	return ret < 0 ? 1 : 0;
}
