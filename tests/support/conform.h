/* SPDX-License-Identifier: MIT */
/*
 * conform.h - one script of socket operations, run on the real kernel
 * (io_uring over loopback) and on the simulated kernel, and its results
 * compared with a table recorded on Linux (the reviews of the model,
 * tests/test_review18.c and test_review18b.c).
 *
 * A script is a task whose state is a struct conn_script, with two
 * listeners made for it (lfd, lfd2 at sa, sa2); it records each result
 * with REC. conform() runs it on both kernels: the real one must say the
 * table (else the table is stale), and the model the same.
 */
#ifndef URT_TEST_CONFORM_H
#define URT_TEST_CONFORM_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "urt/urt.h"

#define CONFORM_NREC 64

extern int conform_rec[CONFORM_NREC], conform_nrec;

#define REC(v) (conform_rec[conform_nrec++] = (v))

struct conn_script {
	struct urt_op op, op2, op3;
	struct sockaddr_in sa, sa2;
	struct sockaddr un;
	struct urt_buf b;
	int lfd, lfd2, c, s, c2, c3, n, i;
	char in[64];
};

/* The runtime a script runs on now (for the helper tasks it spawns). */
extern struct urt_runtime *conform_rt;

/* Run the script on the real kernel (sim NULL) or on sim; its results in
 * conform_rec[0 .. conform_nrec). */
void conform_run(struct urt_sim *sim, const struct urt_task_type *type);

/* The script on both kernels: the real one must say `says` (n results),
 * and the model the same; a table of the three is printed. */
void conform(const struct urt_task_type *type, const int *says, int n);

/* Connect st->c to the listener and accept st->s: three lines, as each
 * awaits once (an await is a case label, one to a line). */
#define PAIR_SOCKET(t, st)                                                                         \
	URT_AWAIT(t, (st)->c = urt_socket(t, &(st)->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))
#define PAIR_CONNECT(t, st)                                                                        \
	URT_AWAIT(t, (st)->n = urt_connect(t, &(st)->op, (st)->c, (struct sockaddr *)&(st)->sa,    \
					   sizeof((st)->sa)))
#define PAIR_ACCEPT(t, st) URT_AWAIT(t, (st)->s = urt_accept(t, &(st)->op, (st)->lfd, NULL, NULL))

/* A receive that must not wait: a 5 ms deadline (-ECANCELED: it waited). */
#define RECV_NOW(t, st, fd)                                                                        \
	do {                                                                                       \
		urt_op_set_timeout(&(st)->op, 5 * 1000 * 1000);                                    \
		URT_AWAIT(t, (st)->n = urt_recv(t, &(st)->op, fd, (st)->in, sizeof((st)->in), 0)); \
		urt_op_set_timeout(&(st)->op, 0);                                                  \
		REC((st)->n);                                                                      \
	} while (0)

#define SEND(t, st, fd)                                                                            \
	do {                                                                                       \
		URT_AWAIT(t, (st)->n = urt_send(t, &(st)->op, fd, "y", 1, MSG_NOSIGNAL));          \
		REC((st)->n);                                                                      \
	} while (0)

/* Let loopback carry a FIN or a reset across (the model needs no time). */
#define SETTLE(t, st) URT_AWAIT(t, urt_sleep(t, &(st)->op2, 2 * 1000 * 1000))

#endif
