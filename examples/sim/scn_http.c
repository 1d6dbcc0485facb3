/* SPDX-License-Identifier: MIT */
/*
 * scn_http.c - urt-http's own server (examples/http/server.c: the
 * connection task, the parser, file bodies, the sweeper of the idle and
 * head deadlines and of --max-clients-mem, the acceptor) on the simulated
 * kernel, with its docroot in the model's file system and checking and
 * hostile clients on the same runtime.
 *
 * From the seed: the model's knobs (rcvbuf 4-64 KiB, short_pct 0-50,
 * max_latency 1-200 us); the server's --spawn, --max-conns (in one slab
 * seed in four fewer slots than clients: the acceptor's back-pressure),
 * --idle-ms (400-4000),
 * --head-ms (300-3000), --send-ms (300-3000), --linger-ms (0-1000),
 * --max-pipeline (1-100), --max-line and --max-head; the open-file cache
 * (http/fcache.h; off one seed in four, else --file-cache 1-16 entries, so
 * a docroot of more files evicts, --file-cache-valid-ms 0 one seed in
 * three, so every hit is revalidated with a statx of its path, else
 * 1-2000, --body-cache-max 0-16 KiB and --body-cache
 * 0-64 KiB, so small bodies come from memory or from reads, and both
 * give way); a docroot of 0-3
 * directories and 1-12 files (an index.html in some directories), each of
 * 0 B to 320 KiB of bytes drawn from the seed (one file of 64 KiB or more
 * always, for the non-readers), written through the ring by the
 * controller a virtual second or more apart, so each has its own
 * Last-Modified; and 1-24 clients:
 *
 *  - well-behaved: 1-40 requests in pipelined batches of 1-8, each batch
 *    written in pieces of random size and then read in reads of random
 *    size: GET and HEAD of files (200), Range requests (206 for a-b, a-
 *    and -n; 416 past the end; ignored under HEAD, and under an If-Range
 *    that does not hold), If-None-Match and If-Modified-Since (304 with the
 *    file's ETag or date in any of the three HTTP-date forms, 200 with
 *    another), If-Range by ETag and by date, missing names and ".." paths
 *    (404), a directory without its slash (301 with Location) and with it
 *    (its index.html or 404), POST (405 with Allow), HTTP/1.0 with and
 *    without keep-alive; a POST and some GETs carry a body (Content-Length,
 *    or chunked) the server skips; the last request may end the connection
 *    (Connection: close, HTTP/1.0, an unknown method's 501, a bad
 *    %-escape's 400). Every response is checked byte-exact: the status
 *    line, Server, Date, Content-Length, Content-Type, Connection,
 *    Last-Modified, ETag, Accept-Ranges, Content-Range, Location, Allow,
 *    and the body equal to the file's bytes (or the error's text); then
 *    the end of file, after a closing answer or the client's own shutdown;
 *  - non-reader: GETs of the largest file, one every 20 ms, never reading:
 *    --send-ms must close it (its send fails) no sooner than --send-ms
 *    after its first request and no later than --send-ms after the second
 *    (by then its receive queue is full) plus a sweep and 100 ms;
 *  - flood: pipelined GETs and HEADs of any file, 4 KiB of them a write,
 *    without end, never reading (the answers amplify the requests): closed
 *    by --send-ms, at most --send-ms plus a sweep and 50 ms after its last
 *    send went through;
 *  - slowloris: a head begun, then a byte every 10-head_ms/4 ms: closed
 *    within [head_ms, head_ms + a sweep + a byte's interval + 50 ms] of
 *    its first byte, without an answer;
 *  - blank lines, an oversized header, an oversized request line: max_head
 *    + 2..64 bytes of CRLFs (431), a field longer than --max-head (431), a
 *    target longer than --max-line (414): the answer exact, Connection:
 *    close, then the end of file within --linger-ms plus a sweep (or a
 *    reset, when the server closed with the client's bytes unread);
 *  - idle keep-alive: one request, its answer, then silence: the end of
 *    file within [idle_ms - 50 ms, idle_ms + a sweep + 50 ms].
 *
 * --max-clients-mem is 64 MiB but in the tight regime (TIGHT_W below),
 * where it must close the hogs and never a well-behaved client.
 *
 * During the run a monitor checks, every 1-50 virtual ms: the server's
 * buffer count within --max-clients-mem, and within a bound per open
 * connection (input 2 x (max_head + a provided buffer), the output
 * batch's 256 KiB, the 64 KiB chunk); op records at most 10 per connection
 * (CONN_OPS: its operations and its stream's queued chunks)
 * and 2 per client task beside the controller's, the monitor's, the
 * acceptor's and the sweeper's; slab slots no more than connections.
 * At the end: every client passed its checks, the server holds no
 * connection, slot, buffer or spill; the controller aborts the acceptor
 * and the watchdog and closes the listener and the docroot, urt_run
 * returns 0 by itself with no stall, and scn_check_clean finds nothing
 * left (tasks, op records, timers, buffers, stale completions, model
 * descriptors); after the teardown no allocator byte is left. A
 * watchdog fails a run not over after 600 virtual seconds.
 *
 * o->faults_pct: the model's faults (resets, failed accepts, -EIO, ...)
 * strike; a well-behaved client then accepts a network error (and checks
 * what it read before it), a hostile one any end, and the deadline checks
 * keep their upper bounds only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <urt/sim.h>
#include <urt/urt.h>

#include "../http/server.h"
#include "scenario.h"
#include "simlib.h"

#define MAX_CLIENTS 24
#define MAX_FILES   12
#define MAX_DIRS    3
#define MAX_FILE    (320 * 1024)
#define BIG_MIN	    (64 * 1024)
#define MAX_REQS    40
#define MAX_BATCH   8
#define REQ_MAX	    1024 /* a well-behaved request, at most */
#define BODY_MAX    320	 /* its body, at most (3 chunks of 60 bytes, their framing) */
#define REQ_BUF	    (MAX_BATCH * REQ_MAX + 4096) /* a batch, or max_head + 64 (8,256 at most) */
#define IO_BUF	    16384
#define HEAD_CAP    4096 /* a response head, at most */
#define RX_BUF	    4096 /* the runtime's provided buffer */
#define MS	    1000000ull
#define SLACK_MS    50
#define DEADLINE_NS (600ull * 1000 * MS)
/* op records of one connection, at most: its four operations (rx, nap, op,
 * tx; a linked timeout shares its operation's record) and its stream's
 * queued completions, 4 a record, 16 (stream_queue's default) before the
 * stream pauses, and what was in flight when it paused: two records more */
/*
 * The tight regime (1 seed in 5): 1-4 clients, half of them hogs (a
 * non-reader or a flood, each GETting the largest file, never reading)
 * and the rest well-behaved with one request at a time, of small files
 * (16 KiB or less) only. A well-behaved connection then holds at most
 * TIGHT_W: input 8,000 (one request, a provided buffer), output 32,000 (a
 * small file and its head, doubling from 4,000) and two provided buffers
 * unread. A hog holds at most TIGHT_H before its large body begins (its
 * input, a buffer's worth of requests, two buffers unread), and at least
 * 73,536 after (the 64 KiB chunk, input and output): more than TIGHT_W.
 * The budget is TIGHT_W a well-behaved client, TIGHT_H a hog and up to 16
 * KiB: so when the count passes it, some hog's body has begun, that hog
 * is the largest holder, and closing the largest first never reaches a
 * well-behaved connection, whose answers stay exact. With no well-behaved
 * client every hog passes the budget alone and must be closed by it.
 */
#define TIGHT_W	 (8000 + 32000 + 2 * RX_BUF)
#define TIGHT_H	 (16000 + 2 * RX_BUF)
#define CONN_OPS (4 + 16 / 4 + 2)

enum kind { WB, NONREADER, SLOWLORIS, BLANKS, BIGHEAD, BIGLINE, IDLER, FLOOD };

static const char *const kind_name[] = { "well-behaved", "non-reader", "slowloris", "blank-lines",
					 "big-header",	 "big-line",   "idle",	    "flood" };

struct file {
	char path[48]; /* beneath the root, as a target's path after the slash */
	uint32_t size;
	const char *type; /* the Content-Type its extension gives */
	uint64_t ino, mtime_ns;
	char etag[64]; /* as urt-http makes it from statx: "ino-size-mtime" in hex */
	char lm[40];   /* its Last-Modified (IMF-fixdate) */
};

/* What a response must be. */
struct expect {
	int status;
	bool head;	   /* HEAD: no body whatever Content-Length says */
	bool close;	   /* Connection: close, then the end of file */
	bool ka10;	   /* Connection: keep-alive (HTTP/1.0 kept) */
	bool validators;   /* ETag and Last-Modified of file */
	bool ranges;	   /* Accept-Ranges: bytes */
	bool allow;	   /* Allow: GET, HEAD */
	int file;	   /* the body's file (-1: text) */
	uint64_t from;	   /* its first byte in the file */
	uint64_t clen;	   /* Content-Length (none for 304) */
	const char *type;  /* Content-Type; NULL: none */
	char text[48];	   /* the body of an error answer */
	char crange[64];   /* Content-Range, "" none */
	char location[64]; /* Location, "" none */
};

struct world;

struct cli {
	struct world *w;
	int id;
	enum kind kind;
	uint64_t rng;
	uint32_t nreq;	   /* well-behaved: requests; idle: 1 */
	uint32_t answered; /* responses checked */
	uint32_t interval; /* slowloris: ms between bytes */
	bool done;	   /* its task finished */
	bool net_error;	   /* with faults: ended by a network error */
};

struct world {
	struct http_server srv;
	struct urt_sim *sim;
	atomic_uint live_total;
	bool faults;
	bool zc; /* urt_send_all may go zero-copy (send_zc_min drawn) */
	uint16_t port;
	int root_fd;
	int nfiles, ndirs, big;	      /* big: the largest file */
	bool dir_index[MAX_DIRS + 1]; /* [MAX_DIRS]: the root has an index.html */
	struct file f[MAX_FILES];
	int n;
	struct cli cli[MAX_CLIENTS];
	struct urt_join joins[MAX_CLIENTS];
	bool ready;  /* the docroot is written and the server started */
	bool over;   /* the clients are done: the monitor ends */
	bool clean;  /* the run ended by itself: scn_check_clean applies */
	bool queued; /* fewer slab slots (--max-conns) than clients */
	bool tight;  /* a --max-clients-mem the hogs must pass (see TIGHT_W) */
	uint32_t hogs, wbs;
	struct urt_join watchdog;
	size_t mem_high, ops_high;
	char why[256];
};

/* --- draws, bytes, failures --------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t draw(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return mix(*s);
}

/* in [lo, hi] */
static uint32_t range(uint64_t *s, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(draw(s) % ((uint64_t)hi - lo + 1));
}

/* Bytes [from, from + n) of file f into out: a hash of its index and the
 * offset's 8-byte word, each word's bytes in order. */
static void fbytes(int f, uint64_t from, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint64_t pos = from + i, word = mix(((uint64_t)f + 77) << 40 ^ (pos >> 3));

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (!(pos & 7) && n - i >= 8) { /* a whole word: its bytes in order */
			memcpy(out + i, &word, 8);
			i += 8;
			continue;
		}
#endif
		for (unsigned b = pos & 7; b < 8 && i < n; b++, i++)
			out[i] = (uint8_t)(word >> (8 * b));
	}
}

static __attribute__((format(printf, 2, 3))) void fail(struct world *w, const char *fmt, ...)
{
	va_list ap;

	if (w->why[0])
		return; /* the first failure says it */
	va_start(ap, fmt);
	vsnprintf(w->why, sizeof(w->why), fmt, ap);
	va_end(ap);
}

/* The IMF-fixdate of t, and the other two forms a recipient must take. */
static void date_form(char *out, size_t cap, uint64_t t, int form)
{
	static const char *const fmts[] = { "%a, %d %b %Y %H:%M:%S GMT",
					    "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y" };
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, cap, fmts[form], &tm);
}

/* The reason phrases RFC 9110 gives (urt-http's are these). */
static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 414:
		return "URI Too Long";
	case 416:
		return "Range Not Satisfiable";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	default:
		return "?";
	}
}

/* --- requests and what they must get --------------------------------------------------- */

/* An error answer: text/plain "STATUS REASON\n". */
static void expect_error(struct expect *e, int status, bool head)
{
	*e = (struct expect){ .status = status, .head = head, .file = -1, .type = "text/plain" };
	snprintf(e->text, sizeof(e->text), "%d %s\n", status, reason(status));
	e->clen = strlen(e->text);
	e->allow = status == 405;
	/* the answers after which the stream is in doubt close */
	e->close = status != 404 && status != 405 && status != 416;
}

/* A file's answer: 200 whole, or 206 from..from+len-1. */
static void expect_file(struct expect *e, const struct file *f, int fi, bool head, uint64_t from,
			uint64_t len, bool partial)
{
	*e = (struct expect){ .status = partial ? 206 : 200,
			      .head = head,
			      .file = fi,
			      .from = from,
			      .clen = len,
			      .type = f->type,
			      .validators = true,
			      .ranges = true };
	if (partial)
		snprintf(e->crange, sizeof(e->crange), "bytes %" PRIu64 "-%" PRIu64 "/%u", from,
			 from + len - 1, f->size);
}

static int pick_file(struct world *w, uint64_t *s)
{
	return (int)range(s, 0, (uint32_t)w->nfiles - 1);
}

/*
 * A request body into body (its length returned), its framing field into
 * fields (at *fl): Content-Length, or chunked in 1-3 chunks with an
 * extension now and then; the server reads and drops it.
 */
static size_t make_body(uint64_t *s, char *fields, size_t *fl, size_t cap, char *body)
{
	size_t n = 0;

	if (range(s, 0, 1)) {
		uint32_t len = range(s, 0, 200);

		*fl += (size_t)snprintf(fields + *fl, cap - *fl, "Content-Length: %u\r\n", len);
		for (uint32_t i = 0; i < len; i++)
			body[n++] = (char)('a' + range(s, 0, 25));
		return n;
	}
	*fl += (size_t)snprintf(fields + *fl, cap - *fl, "Transfer-Encoding: chunked\r\n");
	for (uint32_t c = range(s, 1, 3); c; c--) {
		uint32_t len = range(s, 1, 60);

		n += (size_t)snprintf(body + n, BODY_MAX - n, "%x%s\r\n", len,
				      range(s, 0, 3) ? "" : ";ext=1");
		for (uint32_t i = 0; i < len; i++)
			body[n++] = (char)('A' + range(s, 0, 25));
		body[n++] = '\r', body[n++] = '\n';
	}
	n += (size_t)snprintf(body + n, BODY_MAX - n, "0\r\n\r\n");
	return n;
}

/*
 * One request of a well-behaved client into buf (its length returned) and
 * what it must get into e. may_close: the request may end the connection
 * (the session's last).
 */
static size_t make_req(struct world *w, uint64_t *s, bool may_close, char *buf, struct expect *e)
{
	char fields[512] = "", target[160], date[48], body[BODY_MAX];
	const char *method = "GET", *version = "1.1";
	uint32_t what = range(s, 0, w->tight ? 3 : may_close ? 24 : 19);
	int fi = pick_file(w, s);
	const struct file *f = &w->f[fi];
	size_t fl = 0, bl = 0, len;
	bool head = false;

	if (w->tight && f->size > HTTP_SMALL) /* tight: small files only (see TIGHT_W) */
		what = 12;

	snprintf(target, sizeof(target), "/%s", f->path);
	switch (what) {
	case 0 ... 3: /* GET or HEAD, whole; a GET may carry a body, skipped */
		head = what == 3;
		method = head ? "HEAD" : "GET";
		expect_file(e, f, fi, head, 0, f->size, false);
		if (what == 2)
			bl = make_body(s, fields, &fl, sizeof(fields), body);
		break;
	case 4 ... 6: { /* a Range */
		uint32_t form = range(s, 0, 3);
		uint64_t a, b, n;

		head = range(s, 0, 5) == 0; /* HEAD ignores it */
		method = head ? "HEAD" : "GET";
		if (form == 0 && f->size) { /* a-b */
			a = range(s, 0, f->size - 1);
			b = a + range(s, 0, f->size);
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
					       "Range: bytes=%" PRIu64 "-%" PRIu64 "\r\n", a, b);
			b = b >= f->size ? f->size - 1 : b;
			expect_file(e, f, fi, head, head ? 0 : a, head ? f->size : b - a + 1,
				    !head);
		} else if (form == 1 && f->size) { /* a- */
			a = range(s, 0, f->size - 1);
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
					       "Range: bytes=%" PRIu64 "-\r\n", a);
			expect_file(e, f, fi, head, head ? 0 : a, head ? f->size : f->size - a,
				    !head);
		} else if (form == 2) { /* -n */
			n = range(s, 1, f->size + 10);
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
					       "Range: bytes=-%" PRIu64 "\r\n", n);
			a = n >= f->size ? 0 : f->size - n;
			if (head || !f->size) /* an empty file: the Range is ignored */
				expect_file(e, f, fi, head, 0, f->size, false);
			else
				expect_file(e, f, fi, false, a, f->size - a, true);
		} else { /* past the end: 416 */
			a = f->size + range(s, 0, 1000);
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
					       "Range: bytes=%" PRIu64 "-\r\n", a);
			if (head) {
				expect_file(e, f, fi, true, 0, f->size, false);
			} else {
				*e = (struct expect){ .status = 416,
						      .file = -1,
						      .type = "text/plain" };
				snprintf(e->crange, sizeof(e->crange), "bytes */%u", f->size);
			}
		}
		break;
	}
	case 7 ... 8: /* If-None-Match: the tag (304), or another (200) */
		head = range(s, 0, 3) == 0;
		method = head ? "HEAD" : "GET";
		if (what == 7) {
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
					       "If-None-Match: \"x\", %s\r\n", f->etag);
			*e = (struct expect){
				.status = 304, .head = true, .file = fi, .validators = true
			};
		} else {
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
					       "If-None-Match: \"nope\"\r\n");
			expect_file(e, f, fi, head, 0, f->size, false);
		}
		break;
	case 9 ... 10: { /* If-Modified-Since: its date (304), a second before (200) */
		bool same = what == 9;

		head = range(s, 0, 3) == 0;
		method = head ? "HEAD" : "GET";
		date_form(date, sizeof(date), f->mtime_ns / 1000000000u - (same ? 0 : 1),
			  (int)range(s, 0, 2));
		fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
				       "If-Modified-Since: %s\r\n", date);
		if (same)
			*e = (struct expect){
				.status = 304, .head = true, .file = fi, .validators = true
			};
		else
			expect_file(e, f, fi, head, 0, f->size, false);
		break;
	}
	case 11: { /* If-Range with the tag or the date (206), or another tag (200) */
		uint32_t v = range(s, 0, 2);
		uint64_t a = f->size ? range(s, 0, f->size - 1) : 0;

		if (v == 0)
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl, "If-Range: %s\r\n",
					       f->etag);
		else if (v == 1)
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl, "If-Range: %s\r\n",
					       f->lm);
		else
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
					       "If-Range: \"other\"\r\n");
		if (!f->size) { /* bytes=0- of nothing: 416 unless the If-Range fails */
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
					       "Range: bytes=0-\r\n");
			if (v == 2) {
				expect_file(e, f, fi, false, 0, 0, false);
			} else {
				*e = (struct expect){ .status = 416,
						      .file = -1,
						      .type = "text/plain" };
				snprintf(e->crange, sizeof(e->crange), "bytes */0");
			}
			break;
		}
		fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
				       "Range: bytes=%" PRIu64 "-\r\n", a);
		if (v == 2)
			expect_file(e, f, fi, false, 0, f->size, false);
		else
			expect_file(e, f, fi, false, a, f->size - a, true);
		break;
	}
	case 12 ... 13: { /* missing, or a ".." segment (plain or %-encoded) */
		static const char *const bad[] = { "/nope%u.txt", "/../%s", "/%%2e%%2e/%s",
						   "/d0/../%s", "/%%2E%%2e/x%u" };
		uint32_t b = range(s, 0, 4);

		head = range(s, 0, 3) == 0;
		method = head ? "HEAD" : "GET";
		if (b == 0 || b == 4)
			snprintf(target, sizeof(target), bad[b], range(s, 0, 99));
		else
			snprintf(target, sizeof(target), bad[b], f->path);
		expect_error(e, 404, head);
		break;
	}
	case 14 ... 15: { /* a directory: without its slash 301, with it its index */
		uint32_t d = range(s, 0, (uint32_t)w->ndirs); /* ndirs: the root */

		if (d == (uint32_t)w->ndirs) {
			snprintf(target, sizeof(target), "/");
		} else if (what == 14) {
			snprintf(target, sizeof(target), "/d%u", d);
			*e = (struct expect){ .status = 301, .file = -1 };
			snprintf(e->location, sizeof(e->location), "/d%u/", d);
			break;
		} else {
			snprintf(target, sizeof(target), "/d%u/", d);
		}
		e->file = -1;
		for (int i = 0; i < w->nfiles; i++) {
			char want[48];

			snprintf(want, sizeof(want),
				 d == (uint32_t)w->ndirs ? "index.html" : "d%u/index.html", d);
			if (!strcmp(w->f[i].path, want))
				expect_file(e, &w->f[i], i, false, 0, w->f[i].size, false);
		}
		if (e->file < 0)
			expect_error(e, 404, false);
		break;
	}
	case 16: /* POST: 405 with Allow, the connection kept, its body skipped */
		method = "POST";
		expect_error(e, 405, false);
		bl = make_body(s, fields, &fl, sizeof(fields), body);
		break;
	case 17 ... 19: /* HTTP/1.0 with keep-alive */
		version = "1.0";
		fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
				       "Connection: keep-alive\r\n");
		expect_file(e, f, fi, false, 0, f->size, false);
		e->ka10 = true;
		break;
	/* the rest end the connection */
	case 20 ... 21: /* Connection: close, or HTTP/1.0 without keep-alive */
		if (what == 20)
			fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl,
					       "Connection: close\r\n");
		else
			version = "1.0";
		expect_file(e, f, fi, false, 0, f->size, false);
		e->close = true;
		break;
	case 22: /* a method nobody defines */
		method = "BREW";
		expect_error(e, 501, false);
		break;
	default: /* a bad %-escape */
		snprintf(target, sizeof(target), "/a%%zz%u", range(s, 0, 9));
		expect_error(e, 400, false);
		break;
	}
	len = (size_t)snprintf(buf, REQ_MAX, "%s %s HTTP/%s\r\nHost: sim\r\n%s\r\n", method, target,
			       version, fields);
	memcpy(buf + len, body, bl);
	return len + bl;
}

/* --- reading a response ------------------------------------------------------------------- */

struct rd {
	char head[HEAD_CAP];
	size_t head_n;
	bool in_body;
	uint64_t left, off; /* body bytes still to come, seen */
};

/* The value of header name in the head h (NUL-terminated), or NULL; *n its length. */
static const char *field(const char *h, const char *name, size_t *n)
{
	size_t nl = strlen(name);

	for (const char *l = strstr(h, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
		const char *p = l + 2, *end = strstr(p, "\r\n");

		if (!strncasecmp(p, name, nl) && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ')
				p++;
			*n = (size_t)(end - p);
			return p;
		}
	}
	return NULL;
}

static bool field_is(const char *h, const char *name, const char *want)
{
	size_t n;
	const char *v = field(h, name, &n);

	if (!want)
		return !v;
	return v && n == strlen(want) && !memcmp(v, want, n);
}

/* The head (whole, in rd->head) against e. Return: NULL, or what is wrong. */
static const char *check_head(struct world *w, struct rd *rd, const struct expect *e)
{
	static char why[96];
	char line[64], num[32];
	const struct file *f = e->file >= 0 ? &w->f[e->file] : NULL;
	size_t n;

	rd->head[rd->head_n] = 0;
	snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", e->status, reason(e->status));
	if (strncmp(rd->head, line, strlen(line))) {
		snprintf(why, sizeof(why), "status line %.30s, not %d", rd->head, e->status);
		return why;
	}
	if (!field_is(rd->head, "Server", "urt-http"))
		return "Server";
	if (!field(rd->head, "Date", &n) || n != 29)
		return "Date";
	snprintf(num, sizeof(num), "%" PRIu64, e->clen);
	if (!field_is(rd->head, "Content-Length", e->status == 304 ? NULL : num))
		return "Content-Length";
	if (!field_is(rd->head, "Content-Type", e->type))
		return "Content-Type";
	if (!field_is(rd->head, "Connection", e->close ? "close" : e->ka10 ? "keep-alive" : NULL))
		return "Connection";
	if (e->validators && f &&
	    (!field_is(rd->head, "ETag", f->etag) || !field_is(rd->head, "Last-Modified", f->lm)))
		return "ETag or Last-Modified";
	if (!e->validators && (field(rd->head, "ETag", &n) || field(rd->head, "Last-Modified", &n)))
		return "validators on an answer without a file";
	if (!field_is(rd->head, "Accept-Ranges", e->ranges ? "bytes" : NULL))
		return "Accept-Ranges";
	if (!field_is(rd->head, "Content-Range", e->crange[0] ? e->crange : NULL))
		return "Content-Range";
	if (!field_is(rd->head, "Location", e->location[0] ? e->location : NULL))
		return "Location";
	if (!field_is(rd->head, "Allow", e->allow ? "GET, HEAD" : NULL))
		return "Allow";
	return NULL;
}

/*
 * Take bytes of the stream for the response e. Return: 1 it ended (*used
 * says how many of n it took), 0 all taken and it goes on, -1 wrong (why).
 */
static int feed(struct world *w, struct rd *rd, const struct expect *e, const uint8_t *p, size_t n,
		size_t *used, const char **why)
{
	size_t i = 0;

	*why = NULL;
	while (!rd->in_body && i < n) {
		if (rd->head_n + 1 >= HEAD_CAP) {
			*why = "a head past 4 KiB";
			return -1;
		}
		rd->head[rd->head_n++] = (char)p[i++];
		if (rd->head_n >= 4 && !memcmp(rd->head + rd->head_n - 4, "\r\n\r\n", 4)) {
			*why = check_head(w, rd, e);
			if (*why)
				return -1;
			rd->in_body = true;
			rd->off = 0;
			rd->left = e->head || e->status == 304 ? 0 : e->clen;
		}
	}
	if (!rd->in_body) {
		*used = i;
		return 0;
	}
	while (rd->left && i < n) {
		uint8_t want[1024];
		size_t m = n - i < rd->left ? n - i : (size_t)rd->left;

		m = m < sizeof(want) ? m : sizeof(want);
		if (e->file >= 0)
			fbytes(e->file, e->from + rd->off, want, m);
		else
			memcpy(want, e->text + rd->off, m);
		if (memcmp(p + i, want, m)) {
			*why = "a wrong body byte";
			return -1;
		}
		i += m, rd->off += m, rd->left -= m;
	}
	*used = i;
	if (rd->left)
		return 0;
	*rd = (struct rd){ 0 };
	return 1;
}

/* How late a deadline may fire: a sweep's tick and the model's latencies;
 * with faults, an accept the model delayed (up to 100 ms, more than once)
 * starts the server's clock late, and a second more is allowed. */
static uint64_t late_ms(const struct world *w)
{
	/* with zero-copy sends a connection closed mid-send ends after its
	 * notification: the peer does not read, so the runtime's grace for it
	 * (500 ms, runtime/io/zc.c) passes and the connection is reset */
	return HTTP_SWEEP_MS + SLACK_MS + (w->faults ? 1000 : 0) + (w->zc ? 500 : 0);
}

/* The same for a deadline the client counts from its connect: with fewer
 * slots than clients (w->queued) a connection waits in the backlog for
 * one, unaccepted, for as long as others hold theirs, and only the lower
 * bound holds. */
static uint64_t conn_late_ms(const struct world *w)
{
	return late_ms(w) + (w->queued ? DEADLINE_NS / MS : 0);
}

/* --- a client ------------------------------------------------------------------------------ */

struct client {
	struct cli *c;
	struct urt_op op;
	struct urt_io_all io;
	struct sockaddr_in sa; /* read when the model takes the connect: in the state */
	int fd, n, ret;
	uint32_t sent_reqs, batch, got, k;
	size_t len, at, rb_len, rb_at;
	bool closing; /* the batch's last answer ends the connection */
	uint64_t t0, t1;
	struct expect e[MAX_BATCH];
	struct rd rd;
	char req[REQ_BUF];
	uint8_t rb[IO_BUF];
};

static void cli_fail(struct client *k, const char *what, long ret)
{
	struct cli *c = k->c;

	fail(c->w, "client %d (%s): %s (%ld; answer %u of its batch, %u of %u answered)", c->id,
	     kind_name[c->kind], what, ret, k->got, c->answered, c->nreq);
}

/* With faults a network error may end any client (what it read was checked). */
static bool net_err(struct client *k, int ret)
{
	if (!k->c->w->faults || ret > 0)
		return false;
	k->c->net_error = true;
	return true;
}

/* Send k->req[k->at, k->len) in pieces of random size (or whole). */
#define SEND_PIECES(t, k)                                                                          \
	do {                                                                                       \
		for ((k)->at = 0; (k)->at < (k)->len; (k)->at += (size_t)(k)->n) {                 \
			(k)->n = (int)range(&(k)->c->rng, 1, (uint32_t)((k)->len - (k)->at));      \
			(k)->io.done = 0;                                                          \
			URT_AWAIT(t, (k)->ret = urt_send_all(t, &(k)->io, (k)->fd,                 \
							     (k)->req + (k)->at, (size_t)(k)->n)); \
			if ((k)->ret != (k)->n)                                                    \
				break;                                                             \
		}                                                                                  \
	} while (0)

static bool client_poll(struct urt_task *t, void *arg)
{
	struct client *k = arg;
	struct cli *c = k->c;
	struct world *w = c->w;
	const char *why;
	size_t used;

	URT_BEGIN(t);
	k->sa = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_port = htons(w->port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	URT_AWAIT(t, k->fd = urt_socket(t, &k->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (k->fd < 0) {
		cli_fail(k, "socket", k->fd);
		goto out;
	}
	URT_AWAIT(t,
		  k->n = urt_connect(t, &k->op, k->fd, (struct sockaddr *)&k->sa, sizeof(k->sa)));
	if (k->n < 0) {
		if (!net_err(k, k->n))
			cli_fail(k, "connect", k->n);
		goto out;
	}
	k->t0 = urt_now_ns();
	if (c->kind == NONREADER) {
		/* the largest file, again and again, never read: --send-ms closes it */
		k->len = (size_t)snprintf(k->req, REQ_MAX, "GET /%s HTTP/1.1\r\nHost: sim\r\n\r\n",
					  w->f[w->big].path);
		for (k->k = 0;; k->k++) {
			if (k->k == 1)
				k->t1 = urt_now_ns();
			k->io.done = 0;
			URT_AWAIT(t, k->ret = urt_send_all(t, &k->io, k->fd, k->req, k->len));
			if (k->ret < 0)
				break;
			URT_AWAIT(t, k->ret = urt_sleep(t, &k->op, 20 * MS));
		}
		k->t1 = k->k >= 1 ? k->t1 : urt_now_ns();
		k->t0 = (urt_now_ns() - k->t0) / MS;
		k->t1 = (urt_now_ns() - k->t1) / MS;
		if (!w->faults && !w->tight && k->t0 < w->srv.o.send_ms)
			cli_fail(k, "non-reader closed before --send-ms (ms)", (long)k->t0);
		else if (k->t1 > w->srv.o.send_ms + conn_late_ms(w) + 50)
			cli_fail(k, "non-reader closed late (ms after its second request)",
				 (long)k->t1);
		goto out;
	}
	if (c->kind == FLOOD) {
		/* pipelined GETs and HEADs of any file, 4 KiB of them a write,
		 * without end, never reading: once the server's answers fill
		 * its receive queue, the server waits for it and --send-ms
		 * closes it, however many requests it has queued */
		for (k->len = 0; k->len + 64 + sizeof(w->f[0].path) < 4096;)
			k->len += (size_t)snprintf(
				k->req + k->len, REQ_BUF - k->len,
				"%s /%s HTTP/1.1\r\nHost: sim\r\n\r\n",
				range(&c->rng, 0, 1) || w->tight ? "GET" : "HEAD",
				w->f[w->tight ? w->big : pick_file(w, &c->rng)].path);
		for (k->t1 = k->t0;; k->t1 = urt_now_ns()) {
			k->io.done = 0;
			URT_AWAIT(t, k->ret = urt_send_all(t, &k->io, k->fd, k->req, k->len));
			if (k->ret < 0)
				break;
		}
		k->t1 = (urt_now_ns() - k->t1) / MS;
		if (k->t1 > w->srv.o.send_ms + conn_late_ms(w))
			cli_fail(k, "flood closed late (ms after its last send)", (long)k->t1);
		goto out;
	}
	if (c->kind == SLOWLORIS) {
		k->len = (size_t)snprintf(k->req, REQ_MAX,
					  "GET /%s HTTP/1.1\r\nX-Slow: ", w->f[0].path);
		SEND_PIECES(t, k);
		if (k->ret != k->n) {
			if (!net_err(k, k->ret))
				cli_fail(k, "slowloris: its first bytes", k->ret);
			goto out;
		}
		for (;;) {
			URT_AWAIT(t, k->ret = urt_sleep(t, &k->op, c->interval * MS));
			k->io.done = 0;
			URT_AWAIT(t, k->ret = urt_send_all(t, &k->io, k->fd, "a", 1));
			if (k->ret < 0)
				break;
		}
		k->t0 = (urt_now_ns() - k->t0) / MS;
		if (!w->faults && k->t0 < w->srv.o.head_ms)
			cli_fail(k, "slowloris closed before --head-ms (ms)", (long)k->t0);
		/* it learns of the close at its second send after it: TCP takes
		 * the first (the server's reset comes back), so two intervals */
		else if (k->t0 > w->srv.o.head_ms + conn_late_ms(w) + 2 * c->interval)
			cli_fail(k, "slowloris closed late (ms)", (long)k->t0);
		goto out;
	}
	if (c->kind == BLANKS || c->kind == BIGHEAD || c->kind == BIGLINE) {
		size_t mh = w->srv.o.lim.max_head, ml = w->srv.o.lim.max_line;

		/* the request itself in the client's buffer: the largest is
		 * max_head + 64 bytes, within IO_BUF + MAX_BATCH * REQ_MAX */
		if (c->kind == BLANKS) {
			k->len = mh + range(&c->rng, 2, 64);
			for (size_t i = 0; i < k->len; i++)
				k->req[i] = i % 2 ? '\n' : '\r';
			expect_error(&k->e[0], 431, false);
		} else if (c->kind == BIGHEAD) {
			k->len = (size_t)snprintf(k->req, REQ_MAX,
						  "GET /%s HTTP/1.1\r\nX-Big: ", w->f[0].path);
			memset(k->req + k->len, 'b', mh);
			k->len += mh;
			memcpy(k->req + k->len, "\r\n\r\n", 4);
			k->len += 4;
			expect_error(&k->e[0], 431, false);
		} else {
			memcpy(k->req, "GET /", 5);
			memset(k->req + 5, 'l', ml);
			memcpy(k->req + 5 + ml, " HTTP/1.1\r\nHost: sim\r\n\r\n", 25);
			k->len = 5 + ml + 25;
			expect_error(&k->e[0], 414, false);
		}
		SEND_PIECES(t, k);
		if (k->ret != k->n) {
			/* the server may answer and close before the last bytes */
			if (k->ret >= 0 ||
			    (!net_err(k, k->ret) && k->ret != -EPIPE && k->ret != -ECONNRESET))
				cli_fail(k, "its request", k->ret);
		}
		k->batch = 1;
		k->got = 0;
		k->closing = true;
		goto read_answers;
	}
	/* well-behaved and idle: batches of requests, each read back */
	while (k->sent_reqs < c->nreq && !k->closing) {
		k->batch = w->tight ? 1 : range(&c->rng, 1, MAX_BATCH);
		if (k->batch > c->nreq - k->sent_reqs)
			k->batch = c->nreq - k->sent_reqs;
		k->len = 0;
		for (k->k = 0; k->k < k->batch; k->k++) {
			bool last = k->sent_reqs + k->k + 1 == c->nreq;

			k->len += make_req(w, &c->rng, last && c->kind == WB, k->req + k->len,
					   &k->e[k->k]);
			if (k->e[k->k].close) { /* it ends the connection: the batch too */
				k->batch = k->k + 1;
				k->closing = true;
				break;
			}
		}
		SEND_PIECES(t, k);
		if (k->ret != k->n) {
			if (!net_err(k, k->ret))
				cli_fail(k, "send", k->ret);
			goto out;
		}
		k->sent_reqs += k->batch;
		k->got = 0;
	read_answers:
		k->rb_len = k->rb_at = 0;
		while (k->got < k->batch) {
			if (k->rb_at == k->rb_len) {
				k->rb_at = 0;
				k->rb_len = range(&c->rng, 1, IO_BUF);
				URT_AWAIT(t,
					  k->n = urt_recv(t, &k->op, k->fd, k->rb, k->rb_len, 0));
				if (k->n <= 0) {
					k->rb_len = 0;
					if (!net_err(k, k->n) &&
					    !(k->n == -ECONNRESET && c->kind >= BLANKS &&
					      c->kind <= BIGLINE))
						cli_fail(k, "the answer ended early", k->n);
					goto out;
				}
				k->rb_len = (size_t)k->n;
			}
			k->ret = feed(w, &k->rd, &k->e[k->got], k->rb + k->rb_at,
				      k->rb_len - k->rb_at, &used, &why);
			if (k->ret < 0) {
				cli_fail(k, why, k->e[k->got].status);
				goto out;
			}
			k->rb_at += used;
			if (k->ret == 1) {
				k->got++;
				c->answered++;
			}
		}
		if (k->rb_at != k->rb_len) {
			cli_fail(k, "bytes past the batch's answers", (long)(k->rb_len - k->rb_at));
			goto out;
		}
	}
	if (c->kind == IDLER) { /* silent now: --idle-ms closes it */
		k->t0 = urt_now_ns();
		URT_AWAIT(t, k->n = urt_recv(t, &k->op, k->fd, k->rb, 1, 0));
		k->t0 = (urt_now_ns() - k->t0) / MS;
		if (k->n != 0) {
			if (!net_err(k, k->n))
				cli_fail(k, "idle: not closed with an end of file", k->n);
		} else if ((!w->faults && k->t0 + SLACK_MS < w->srv.o.idle_ms) ||
			   k->t0 > w->srv.o.idle_ms + late_ms(w)) {
			cli_fail(k, "idle: closed off --idle-ms (ms)", (long)k->t0);
		}
		goto out;
	}
	if (!k->closing) { /* a kept connection: end it ourselves */
		URT_AWAIT(t, k->n = urt_shutdown(t, &k->op, k->fd, SHUT_WR));
	}
	k->t0 = urt_now_ns();
	URT_AWAIT(t, k->n = urt_recv(t, &k->op, k->fd, k->rb, 1, 0));
	k->t0 = (urt_now_ns() - k->t0) / MS;
	if (k->n != 0 && !net_err(k, k->n) &&
	    !(k->n == -ECONNRESET && c->kind >= BLANKS && c->kind <= BIGLINE))
		cli_fail(k, "no end of file after the answers", k->n);
	else if (k->closing && k->t0 > w->srv.o.linger_ms + late_ms(w))
		cli_fail(k, "the close came late after the last answer (ms)", (long)k->t0);
out:
	if (k->fd >= 0)
		URT_AWAIT(t, k->n = urt_close(t, &k->op, k->fd));
	k->fd = -1;
	c->done = true;
	URT_END(t);
}

static void client_drop(struct urt_task *t, void *arg)
{
	struct client *k = arg;

	(void)t;
	if (k->fd >= 0) /* aborted (deinit): close through the ring */
		URT_DISCARD(urt_close_detached(k->fd));
}

static const struct urt_task_type client_type = { .poll = client_poll,
						  .drop = client_drop,
						  .name = "scn-http-client" };

/* --- the monitor: bounds while it runs ----------------------------------------------------------
 */

struct monitor {
	struct world *w;
	struct urt_op nap;
	uint64_t rng;
	int ret;
};

static void check_bounds(struct world *w)
{
	struct http_server *s = &w->srv;
	struct urt_runtime_stats st;
	size_t per_conn = 2 * (s->o.lim.max_head + RX_BUF) + HTTP_OUT_MAX + HTTP_CHUNK;
	size_t clients = 0, ops_max;

	urt_runtime_stats(&s->rt, &st);
	for (int i = 0; i < w->n; i++)
		clients += !w->cli[i].done;
	/* the controller, the monitor, the watchdog, the acceptor, the sweeper */
	ops_max = CONN_OPS * s->live + 2 * clients + 5;
	if (s->mem > s->o.mem_budget)
		fail(w, "the server's buffers %zu past --max-clients-mem %zu", s->mem,
		     s->o.mem_budget);
	if (s->mem > s->live * per_conn)
		fail(w, "the server's buffers %zu past %llu connections x %zu", s->mem,
		     (unsigned long long)s->live, per_conn);
	if (st.ops_live > ops_max)
		fail(w, "op records %zu past %zu (%llu connections, %zu clients)", st.ops_live,
		     ops_max, (unsigned long long)s->live, clients);
	if (!s->o.boxed && st.slab_live > s->live)
		fail(w, "slab slots %zu past %llu connections", st.slab_live,
		     (unsigned long long)s->live);
	w->mem_high = s->mem > w->mem_high ? s->mem : w->mem_high;
	w->ops_high = st.ops_live > w->ops_high ? st.ops_live : w->ops_high;
}

static bool monitor_poll(struct urt_task *t, void *arg)
{
	struct monitor *m = arg;

	URT_BEGIN(t);
	while (!m->w->over) {
		URT_AWAIT(t, m->ret = urt_sleep(t, &m->nap, range(&m->rng, 1, 50) * MS));
		check_bounds(m->w);
	}
	URT_END(t);
}

static const struct urt_task_type monitor_type = { .poll = monitor_poll,
						   .name = "scn-http-monitor" };

/* --- the controller: the docroot, the server, the clients, the end
 * -------------------------------- */

struct control {
	struct world *w;
	struct urt_op op;
	struct statx stx;
	int i, fd, ret;
	uint32_t at, len;
	uint64_t rng;
	char path[64];
	uint8_t buf[IO_BUF];
};

/* The server's state once every client is gone: nothing held. */
static void check_idle_server(struct world *w)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(&w->srv.rt, &st);
	if (w->srv.live || st.slab_live || st.spill_bytes || st.bufs_free != st.buf_count ||
	    st.bufs_queued || w->srv.mem || atomic_load(&w->live_total))
		fail(w,
		     "server not empty after its clients: live %llu slab %zu spill %zu bufs_free "
		     "%zu/%zu queued %zu mem %zu",
		     (unsigned long long)w->srv.live, st.slab_live, st.spill_bytes, st.bufs_free,
		     st.buf_count, st.bufs_queued, w->srv.mem);
}

static void file_meta(struct world *w, struct file *f, const struct statx *stx)
{
	f->ino = stx->stx_ino;
	f->mtime_ns = (uint64_t)stx->stx_mtime.tv_sec * 1000000000u + stx->stx_mtime.tv_nsec;
	snprintf(f->etag, sizeof(f->etag), "\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 "\"", f->ino,
		 (uint64_t)f->size, f->mtime_ns);
	date_form(f->lm, sizeof(f->lm), f->mtime_ns / 1000000000u, 0);
	if (stx->stx_size != f->size)
		fail(w, "docroot: %s is %llu bytes, not %u", f->path,
		     (unsigned long long)stx->stx_size, f->size);
}

static bool control_poll(struct urt_task *t, void *arg)
{
	struct control *k = arg;
	struct world *w = k->w;

	URT_BEGIN(t);
	/* the docroot, through the ring: /www, its directories, its files */
	URT_AWAIT(t, k->ret = urt_mkdirat(t, &k->op, AT_FDCWD, "www", 0755));
	for (k->i = 0; k->i < w->ndirs && !k->ret; k->i++) {
		snprintf(k->path, sizeof(k->path), "www/d%d", k->i);
		URT_AWAIT(t, k->ret = urt_mkdirat(t, &k->op, AT_FDCWD, k->path, 0755));
	}
	if (k->ret) {
		fail(w, "docroot: mkdirat %d", k->ret);
		goto end;
	}
	for (k->i = 0; k->i < w->nfiles; k->i++) {
		/* a virtual second or more apart: each its own Last-Modified */
		URT_AWAIT(t, k->ret = urt_sleep(t, &k->op, range(&k->rng, 1000, 2500) * MS));
		snprintf(k->path, sizeof(k->path), "www/%s", w->f[k->i].path);
		URT_AWAIT(t, k->fd = urt_openat(t, &k->op, AT_FDCWD, k->path,
						O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644));
		if (k->fd < 0) {
			fail(w, "docroot: open %s: %d", k->path, k->fd);
			goto end;
		}
		for (k->at = 0; k->at < w->f[k->i].size; k->at += k->len) {
			k->len = w->f[k->i].size - k->at;
			k->len = k->len < IO_BUF ? k->len : IO_BUF;
			fbytes(k->i, k->at, k->buf, k->len);
			URT_AWAIT(t, k->ret = urt_write(t, &k->op, k->fd, k->buf, k->len, k->at));
			if (k->ret == -EIO && w->faults) { /* a bad disk, once: again */
				k->len = 0;
				continue;
			}
			if (k->ret != (int)k->len)
				break;
		}
		if (k->at < w->f[k->i].size)
			fail(w, "docroot: write %s: %d", k->path, k->ret);
		URT_AWAIT(t, k->ret = urt_statx(t, &k->op, k->fd, "", AT_EMPTY_PATH,
						STATX_SIZE | STATX_MTIME | STATX_INO, &k->stx));
		if (k->ret)
			fail(w, "docroot: statx %s: %d", k->path, k->ret);
		file_meta(w, &w->f[k->i], &k->stx);
		URT_AWAIT(t, k->ret = urt_close(t, &k->op, k->fd));
		if (w->why[0])
			goto end;
	}
	/* the last file a second old at least: an If-Range date holds */
	URT_AWAIT(t, k->ret = urt_sleep(t, &k->op, range(&k->rng, 1000, 2000) * MS));
	URT_AWAIT(t, w->root_fd = urt_openat(t, &k->op, AT_FDCWD, "www",
					     O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
	if (w->root_fd < 0) {
		fail(w, "docroot: open www: %d", w->root_fd);
		goto end;
	}
	/* the server, on the docroot's descriptor (the flag main checks) */
	w->srv.o.root_fd = w->root_fd;
	k->fd = urt_listen_tcp("127.0.0.1", 0, 64, 0, &w->port);
	if (k->fd < 0) {
		fail(w, "urt_listen_tcp: %d", k->fd);
		goto end;
	}
	if ((k->ret = http_server_start(&w->srv, k->fd))) {
		fail(w, "http_server_start: %d", k->ret);
		goto end;
	}
	w->ready = true;
	for (k->i = 0; k->i < w->n; k->i++)
		if (urt_spawn(urt_task_runtime(t), &client_type,
			      &(struct client){ .c = &w->cli[k->i], .fd = -1 },
			      sizeof(struct client), &w->joins[k->i])) {
			fail(w, "spawn client %d", k->i);
			goto end;
		}
	for (k->i = 0; k->i < w->n; k->i++)
		URT_AWAIT(t, k->ret = urt_join_await(t, &w->joins[k->i], NULL));
	/* a server connection may end just after its client: one that
	 * lingers, or one whose close comes after the client's */
	for (k->i = 0; w->srv.live && k->i < 100000; k->i++) {
		URT_AWAIT(t, k->ret = urt_sleep(t, &k->op, MS));
	}
	check_bounds(w);
	check_idle_server(w);
end:
	w->over = true;
	/* as SIGTERM does: the acceptor and the sweeper end */
	http_server_stop(&w->srv);
	/* the file cache's descriptors (those no connection holds) */
	while ((k->fd = http_server_cache_take(&w->srv)) >= 0)
		URT_AWAIT(t, k->ret = urt_close(t, &k->op, k->fd));
	if (w->root_fd >= 0)
		URT_AWAIT(t, k->ret = urt_close(t, &k->op, w->root_fd));
	w->root_fd = -1;
	if (w->why[0]) { /* the runtime stops; the teardown aborts what is left */
		urt_stop(urt_task_runtime(t));
		URT_RETURN(t, 0);
	}
	/* a clean end: the acceptor (waiting in its accept) and the watchdog
	 * aborted, the listener closed; the sweeper and the monitor end at
	 * their next tick, and urt_run returns by itself with nothing left */
	URT_DISCARD(urt_join_abort(&w->srv.acceptor));
	URT_AWAIT(t, k->ret = urt_join_await(t, &w->srv.acceptor, NULL));
	URT_AWAIT(t, k->ret = urt_close(t, &k->op, w->srv.lfd));
	w->srv.lfd = -1;
	URT_DISCARD(urt_join_abort(&w->watchdog));
	URT_AWAIT(t, k->ret = urt_join_await(t, &w->watchdog, NULL));
	w->clean = true;
	URT_END(t);
}

static const struct urt_task_type control_type = { .poll = control_poll,
						   .name = "scn-http-control" };

static bool watchdog_poll(struct urt_task *t, void *arg)
{
	struct monitor *m = arg;
	struct world *w = m->w;

	URT_BEGIN(t);
	URT_AWAIT(t, m->ret = urt_sleep(t, &m->nap, DEADLINE_NS));
	for (m->ret = 0; m->ret < w->n && w->cli[m->ret].done; m->ret++)
		;
	fail(w, "not over after %llu virtual s: client %d (%s) unfinished, server live %llu",
	     (unsigned long long)(DEADLINE_NS / 1000000000u), m->ret,
	     m->ret < w->n ? kind_name[w->cli[m->ret].kind] : "-", (unsigned long long)w->srv.live);
	urt_stop(urt_task_runtime(t));
	URT_END(t);
}

static const struct urt_task_type watchdog_type = { .poll = watchdog_poll,
						    .name = "scn-http-watchdog" };

static const struct urt_task_type *const scn_http_types[] = {
	&http_conn_type, &http_sweep_type, &client_type,
	&monitor_type,	 &control_type,	   &watchdog_type,
};

/* --- the run -------------------------------------------------------------------------------------
 */

static const char *const exts[] = { ".html", ".txt", ".css", ".png", ".bin", "" };
static const char *const types[] = {
	"text/html; charset=utf-8", "text/plain; charset=utf-8", "text/css", "image/png",
	"application/octet-stream", "application/octet-stream"
};

/* The world's shape, drawn from the seed, one draw a statement (in order). */
static void draw_world(struct world *w, uint64_t seed, struct urt_sim_opts *so,
		       struct http_opts *ho)
{
	uint64_t s = mix(seed ^ 0x4177e7ull);
	uint32_t hostile = 0;

	*so = (struct urt_sim_opts){ .seed = seed };
	so->rcvbuf = range(&s, 4096, 65536);
	so->short_pct = range(&s, 0, 50);
	so->max_latency_ns = range(&s, 1000, 200000);
	*ho = (struct http_opts){ .root_fd = -1,
				  .max_conns = MAX_CLIENTS + 8,
				  .mem_budget = 64u << 20,
				  .lim = HTTP_LIMITS_DEFAULT,
				  .live_total = &w->live_total };
	ho->boxed = range(&s, 0, 1);
	ho->idle_ms = range(&s, 400, 4000);
	ho->head_ms = range(&s, 300, 3000);
	ho->send_ms = range(&s, 300, 3000);
	ho->linger_ms = range(&s, 0, 1000);
	ho->max_pipeline = range(&s, 1, 100);
	ho->lim.max_head = range(&s, 1024, 8192);
	ho->lim.max_line = range(&s, 256, (uint32_t)ho->lim.max_head - 64);
	/* the docroot */
	w->ndirs = (int)range(&s, 0, MAX_DIRS);
	for (int d = 0; d <= MAX_DIRS; d++)
		w->dir_index[d] = range(&s, 0, 1);
	w->nfiles = 0;
	for (int d = 0; d <= w->ndirs; d++) { /* d == ndirs: the root */
		struct file *f;

		if (!w->dir_index[d])
			continue;
		f = &w->f[w->nfiles++];
		if (d == w->ndirs)
			snprintf(f->path, sizeof(f->path), "index.html");
		else
			snprintf(f->path, sizeof(f->path), "d%d/index.html", d);
		f->type = types[0];
		f->size = range(&s, 0, 3000);
	}
	for (int n = (int)range(&s, 1, MAX_FILES - w->nfiles); n > 0; n--) {
		struct file *f = &w->f[w->nfiles];
		uint32_t e = range(&s, 0, 5), d = range(&s, 0, (uint32_t)w->ndirs);
		uint32_t band = range(&s, 0, 9);

		if (d == (uint32_t)w->ndirs)
			snprintf(f->path, sizeof(f->path), "f%d%s", w->nfiles, exts[e]);
		else
			snprintf(f->path, sizeof(f->path), "d%u/f%d%s", d, w->nfiles, exts[e]);
		f->type = types[e];
		f->size = band == 0 ? 0 : band < 5 ? range(&s, 1, 16384) : range(&s, 1, MAX_FILE);
		w->nfiles++;
	}
	w->big = 0;
	for (int i = 0; i < w->nfiles; i++)
		if (w->f[i].size > w->f[w->big].size)
			w->big = i;
	if (w->f[w->big].size < BIG_MIN) /* one large file for the non-readers */
		w->f[w->big].size = range(&s, BIG_MIN, MAX_FILE);
	/* the clients */
	w->tight = range(&s, 0, 4) == 0;
	w->n = (int)range(&s, 1, w->tight ? 4 : MAX_CLIENTS);
	/* slab, 1 seed in 4: fewer slots than clients, so the acceptor waits
	 * for a slot before it accepts (back-pressure: the rest wait in the
	 * backlog), each answer exact all the same */
	if (!ho->boxed && !w->tight && range(&s, 0, 3) == 0) {
		ho->max_conns = range(&s, 1, (uint32_t)w->n);
		w->queued = ho->max_conns < (uint32_t)w->n;
	}
	for (int i = 0; i < w->n; i++) {
		struct cli *c = &w->cli[i];
		uint32_t r = range(&s, 0, 99);

		*c = (struct cli){ .w = w, .id = i };
		c->rng = draw(&s);
		c->kind = WB;
		if (w->tight && r < 50) { /* a hog: a large body it never reads */
			c->kind = r % 2 ? NONREADER : FLOOD;
			w->hogs++;
		} else if (w->tight) {
			w->wbs++;
		} else if (r < 35 && hostile < 4) {
			c->kind = (enum kind)(1 + r % 7);
			hostile++;
		}
		c->nreq = c->kind == WB ? range(&s, 1, MAX_REQS) : c->kind == IDLER ? 1 : 0;
		c->interval =
			range(&s, 10, (uint32_t)(ho->head_ms / 4 > 10 ? ho->head_ms / 4 : 10));
	}
	if (w->tight) { /* only the budget closes a hog: --send-ms a minute */
		ho->send_ms = 60000;
		ho->mem_budget = w->wbs * TIGHT_W + w->hogs * TIGHT_H + range(&s, 0, 16384);
	}
	/* the open-file cache: off 1 seed in 4 */
	if (range(&s, 0, 3)) {
		ho->fcache.entries = range(&s, 1, 16);
		ho->fcache.valid_ms = range(&s, 0, 2) ? range(&s, 1, 2000) : 0; /* 0: every hit */
		ho->fcache.body_max = range(&s, 0, 16384);
		ho->fcache.body_budget = range(&s, 0, 65536);
	}
}

static void scn_http_run(const struct scn_opts *o, struct scn_result *r)
{
	struct world *w = calloc(1, sizeof(*w));
	struct urt_sim_opts so;
	struct http_opts ho;
	int ret;

	*r = (struct scn_result){ 0 };
	if (!w) {
		snprintf(r->why, sizeof(r->why), "out of memory");
		return;
	}
	w->root_fd = -1;
	w->faults = o->faults_pct != 0;
	draw_world(w, o->seed, &so, &ho);
	so.trace = o->trace;
	so.faults_pct = o->faults_pct;
	{ /* the buffer mode and zero-copy sends, as every scenario draws them,
	   * and the invariants after every event */
		struct urt_runtime_opts ro = { 0 };

		scn_knobs_bufs(o, &ro);
		ho.features_off = ro.features_off;
		ho.send_zc_min = ro.send_zc_min;
		w->zc = ro.send_zc_min != 0;
		scn_watch_arm(&so, &ro);
	}
	ret = urt_sim_create(&w->sim, &so);
	if (ret) {
		snprintf(r->why, sizeof(r->why), "urt_sim_create: %d", ret);
		free(w);
		return;
	}
	ret = http_server_init(&w->srv, &ho, 0, w->sim);
	if (ret) {
		snprintf(r->why, sizeof(r->why), "http_server_init: %d", ret);
		goto out;
	}
	if (urt_spawn(&w->srv.rt, &control_type,
		      &(struct control){ .w = w, .fd = -1, .rng = mix(o->seed ^ 0xd0c) },
		      sizeof(struct control), NULL) ||
	    urt_spawn(&w->srv.rt, &monitor_type,
		      &(struct monitor){ .w = w, .rng = mix(o->seed ^ 0x3017) },
		      sizeof(struct monitor), NULL) ||
	    urt_spawn(&w->srv.rt, &watchdog_type, &(struct monitor){ .w = w },
		      sizeof(struct monitor), &w->watchdog))
		fail(w, "spawn the controller");
	if (!w->why[0]) {
		ret = urt_run(&w->srv.rt);
		if (ret)
			fail(w, "urt_run: %d", ret);
	}
	for (int i = 0; i < w->n; i++) /* those the controller did not await */
		if (!urt_join_is_empty(&w->joins[i]))
			urt_join_detach(&w->joins[i]);
	if (!urt_join_is_empty(&w->watchdog))
		urt_join_detach(&w->watchdog);
	/* every task ended, every operation, buffer and descriptor back */
	if (w->clean && !w->why[0])
		scn_check_clean(&w->srv.rt, w->sim, scn_http_types,
				sizeof(scn_http_types) / sizeof(scn_http_types[0]), w->why);
	for (int i = 0; i < w->n; i++) {
		const struct cli *c = &w->cli[i];

		if (w->ready && !c->done)
			fail(w, "client %d (%s) unfinished", i, kind_name[c->kind]);
		if (c->kind == WB && c->done && !c->net_error && c->answered != c->nreq)
			fail(w, "client %d: %u of %u answers", i, c->answered, c->nreq);
	}
	if (w->tight && !w->wbs && !w->faults && w->ready && w->srv.evicted != w->hogs)
		fail(w, "tight: %u hogs alone, a budget of %zu: %llu closed by it", w->hogs,
		     w->srv.o.mem_budget, (unsigned long long)w->srv.evicted);
	http_server_finish(&w->srv); /* the listener closed, the rest aborted */
	if (w->srv.live || atomic_load(&w->live_total))
		fail(w, "%llu connections counted after deinit", (unsigned long long)w->srv.live);
	if (atomic_load(&w->srv.heap.bytes))
		fail(w, "the runtime's allocator holds %zu bytes after deinit",
		     atomic_load(&w->srv.heap.bytes));
	if (urt_sim_fds_open(w->sim))
		fail(w, "%u descriptors of the model left open", urt_sim_fds_open(w->sim));
	if (urt_sim_stalls(w->sim))
		fail(w, "%llu stalls", (unsigned long long)urt_sim_stalls(w->sim));
out:
	r->hash = urt_sim_hash(w->sim);
	r->events = urt_sim_events(w->sim);
	if (!r->why[0])
		memcpy(r->why, w->why, sizeof(r->why));
	scn_watch_take(r->why); /* the invariants after every event */
	urt_sim_destroy(w->sim);
	free(w);
}

const struct scenario scn_http = {
	.name = "http",
	.what = "urt-http's server (examples/http/server.c) on a docroot in the model's files: "
		"byte-exact GET/HEAD/Range/conditional clients, non-readers, slowloris, "
		"oversized heads, idle keep-alive",
	.run = scn_http_run,
};
