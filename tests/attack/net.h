/* SPDX-License-Identifier: MIT */
/*
 * net.h - urt-attack's plumbing: clocks, loopback sockets whose every wait
 * has a deadline, the server's /proc figures and its SIGUSR1 stats line,
 * and the well-behaved clients that run beside each attack.
 *
 * Plain sockets and poll, no urt: the suite judges the runtime, so it must
 * not depend on it. Every function that waits takes an absolute deadline
 * (ms on CLOCK_MONOTONIC) and returns -ETIMEDOUT past it: a server that
 * starves a client makes a cell FAIL, never the suite hang.
 */
#ifndef URT_ATTACK_NET_H
#define URT_ATTACK_NET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum srv_kind { SRV_ECHO, SRV_HTTP, SRV_KV };

int64_t now_ms(void);
int64_t now_us(void);
void sleep_ms(int ms);

/* A nonblocking socket connected to 127.0.0.1:port, or -errno. With
 * deadline 0 it does not wait for the handshake (-EINPROGRESS counts as
 * success). */
int tcp_connect(int port, int64_t deadline);
/* Close with SO_LINGER 0: the peer sees a reset. */
void tcp_reset(int fd);
int send_all(int fd, const void *p, size_t n, int64_t deadline);
/* Bytes read (> 0), 0 at EOF, -ETIMEDOUT, -errno. */
ssize_t recv_some(int fd, void *p, size_t n, int64_t deadline);
/* Read exactly want[0..n) or say why not (-EPROTO: other bytes). */
int expect_bytes(int fd, const char *want, size_t n, int64_t deadline);
/* One HTTP response with Content-Length: its status, body read and
 * dropped. */
int read_http(int fd, int64_t deadline, int *status);

/* The server process. */
struct proc_mem {
	long rss_kb, hwm_kb;
};
int proc_mem(pid_t pid, struct proc_mem *m);
/* utime + stime, in clock ticks. */
long proc_cpu_ticks(pid_t pid);

/*
 * Our connections to the server seen from both ends: each one's queues in
 * /proc/net/tcp (our send and receive queues, and the server's), to tell
 * a server that is still moving a connection's bytes from one that holds a
 * still connection open. Its deadlines (--send-ms, --idle-ms) run from when
 * a connection stopped moving, and how long the bytes our kernels and the
 * server's can hold take to move depends on the server's speed, which a
 * loaded host divides: a wait for the closing counts from there.
 */
#define WATCH_MAX 1024
struct watch {
	int n;
	struct {
		uint16_t port; /* our end's port; 0: not watched */
		bool open;     /* the server's end is established */
		long q[4];     /* our send, our receive, its send, its receive queue */
		int64_t moved; /* ms: when its queues last changed (or it closed) */
	} c[WATCH_MAX];
	int64_t last; /* ms: the last change of any of them */
};
/* Watch fd[0..n) (a negative fd is skipped), from now. */
void watch_init(struct watch *w, const int *fd, int n);
/* Read the queues. Return: how many of the watched connections the server
 * still holds open; -errno (no /proc/net/tcp). *still_ms: the longest that
 * one of those has not moved. */
int watch_poll(struct watch *w, int port, int64_t *still_ms);

/* The stats line the server prints on SIGUSR1 into its log. */
struct srv_stats {
	long live;		   /* open connections; -1 if not printed */
	long free_low, buf_total;  /* bufs_free_low N/M; -1 if not printed */
	long spill_hw;		   /* spill_high_water; -1 if not printed */
};
int srv_stats(pid_t pid, const char *log, struct srv_stats *s);

/* One well-behaved request/response on fd (echo a line, http GET
 * /small.txt, kv SET then GET); seq makes it unique. 0 or -errno, with
 * why filled. */
int wb_request(enum srv_kind k, int fd, uint64_t seq, int64_t deadline, char *why, size_t wn);
/* A fresh client's first request: connect, ask, close. Latency in *us. */
int fresh_request(enum srv_kind k, int port, int deadline_ms, int64_t *us, char *why, size_t wn);

/* Well-behaved clients: n connections in a loop on their own thread, none
 * left idle for half of the server's --idle-ms (net.c, wb_main). */
struct wb {
	enum srv_kind kind;
	int port, n, deadline_ms, idle_ms;
	int gap_ms; /* asleep this long after each round (a starved client) */
	pthread_t th;
	atomic_bool stop, pause, paused;
	atomic_ulong ok, fails;
	atomic_ulong renewed; /* connections replaced as near --idle-ms */
	pthread_mutex_t lock;
	char why[240]; /* the first failure */
	int64_t t0_ms; /* when they started */
	int64_t max_us;
};
int wb_start(struct wb *w, enum srv_kind k, int port, int n, int deadline_ms, int idle_ms,
	     int gap_ms);
void wb_stop(struct wb *w);
/* Stop asking (connections stay open, idle) / go on (reconnecting). */
void wb_pause(struct wb *w, bool on);

#endif
