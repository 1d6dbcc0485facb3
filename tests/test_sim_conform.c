/* SPDX-License-Identifier: MIT */
/*
 * test_sim_conform.c - the model against the real kernel: one script of
 * operations, run by the same task code on io_uring over loopback and on
 * the simulated kernel; every result the script records must be the same
 * on both. What differs is either fixed in the model or written down in
 * docs/simulation.md as a divergence; a divergence the model has on
 * purpose is not in the script.
 *
 * The script (each step's result is recorded):
 *   1. connect to a port nobody listens on: -ECONNREFUSED
 *   2. connect, accept (single-shot): 0, a descriptor
 *   3. send 100 bytes, receive them with urt_recv: 100, 100 and the bytes
 *   4. a receive with a deadline on a silent connection: -ECANCELED, timed out
 *   5. a receive cancelled in flight: -ECANCELED
 *   6. the receive stream (multishot, provided buffers): 3 sends of 10
 *      bytes read back as 30 bytes in order; the peer's shutdown: 0 (end)
 *   7. a send after the peer closed with bytes unread: -ECONNRESET or
 *      -EPIPE (recorded as one class)
 *   8. a multishot accept: 3 connections, 3 descriptors; cancelled:
 *      -ECANCELED
 *   9. close of a descriptor that is not open: -EBADF
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

#define NREC 64

struct script {
	struct urt_op op, op2;
	struct urt_io_all io;
	struct urt_buf buf;
	struct sockaddr_in sa, dead;
	int lfd, c1, s1, c2, s2, c3[3], a3[3], i, n, got;
	char in[128], out[128];
};

/* What the script records (the task's state is its own copy: spawn copies it). */
static int rec[NREC], nrec;

#define REC(st, v) ((void)(st), rec[nrec++] = (v))

static int errclass(int v)
{
	return v == -EPIPE ? -ECONNRESET : v; /* a reset peer: either, by timing */
}

static bool script_poll(struct urt_task *t, void *arg)
{
	struct script *st = arg;

	URT_BEGIN(t);
	/* 1: nobody listens on st->dead's port */
	URT_AWAIT(t, st->c1 = urt_socket(t, &st->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	URT_AWAIT(t, st->n = urt_connect(t, &st->op, st->c1, (struct sockaddr *)&st->dead,
					 sizeof(st->dead)));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->c1));
	REC(st, st->n);
	/* 2 */
	URT_AWAIT(t, st->c1 = urt_socket(t, &st->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	URT_AWAIT(t, st->n = urt_connect(t, &st->op, st->c1, (struct sockaddr *)&st->sa,
					 sizeof(st->sa)));
	REC(st, st->n);
	URT_AWAIT(t, st->s1 = urt_accept(t, &st->op, st->lfd, NULL, NULL));
	REC(st, st->s1 >= 0);
	/* 3 */
	memset(st->out, 'a', 100);
	URT_AWAIT(t, st->n = urt_send_all(t, &st->io, st->c1, st->out, 100));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_recv_exact(t, &st->io, st->s1, st->in, 100));
	REC(st, st->n);
	REC(st, !memcmp(st->in, st->out, 100));
	/* 4 */
	urt_op_set_timeout(&st->op, 5 * 1000 * 1000);
	URT_AWAIT(t, st->n = urt_recv(t, &st->op, st->s1, st->in, sizeof(st->in), 0));
	REC(st, st->n);
	REC(st, urt_op_timed_out(&st->op));
	urt_op_set_timeout(&st->op, 0);
	/* 5: cancelled at once, from its own task */
	st->n = urt_recv(t, &st->op, st->s1, st->in, sizeof(st->in), 0);
	REC(st, st->n == URT_PENDING);
	REC(st, urt_op_cancel(&st->op));
	URT_AWAIT(t, st->n = urt_recv(t, &st->op, st->s1, st->in, sizeof(st->in), 0));
	REC(st, st->n);
	/* 6 */
	for (st->i = 0; st->i < 3; st->i++) {
		memset(st->out, '0' + st->i, 10);
		URT_AWAIT(t, st->n = urt_send_all(t, &st->io, st->c1, st->out, 10));
		REC(st, st->n);
	}
	URT_AWAIT(t, st->n = urt_shutdown(t, &st->op2, st->c1, SHUT_WR));
	REC(st, st->n);
	for (st->got = 0;;) {
		URT_AWAIT(t, st->n = urt_recv_stream(t, &st->op, st->s1, &st->buf));
		if (st->n <= 0)
			break;
		if (st->got + st->n <= (int)sizeof(st->in))
			memcpy(st->in + st->got, st->buf.data, (size_t)st->n);
		st->got += st->n;
		URT_DISCARD(urt_buf_free(&st->buf));
	}
	REC(st, st->n);
	REC(st, st->got);
	REC(st, !memcmp(st->in, "0000000000111111111122222222220", 30));
	/* 7: the server's end closes with bytes unread: the client's sends fail */
	URT_AWAIT(t, st->n = urt_send_all(t, &st->io, st->s1, "x", 1)); /* unread by c1 */
	URT_AWAIT(t, st->n = urt_send_all(t, &st->io, st->c1, "late", 4));
	REC(st, st->n); /* c1's write side is shut down */
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->c1)); /* with "x" unread: a reset */
	REC(st, st->n);
	for (st->i = 0; st->i < 50; st->i++) {
		URT_AWAIT(t, st->n = urt_send(t, &st->op, st->s1, "y", 1, MSG_NOSIGNAL));
		if (st->n < 0)
			break;
		URT_AWAIT(t, st->n = urt_sleep(t, &st->op, 1000 * 1000));
	}
	REC(st, errclass(st->n));
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->s1));
	REC(st, st->n);
	/* 8 */
	for (st->i = 0; st->i < 3; st->i++) {
		URT_AWAIT(t, st->c3[st->i] =
				     urt_socket(t, &st->op, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		URT_AWAIT(t, st->n = urt_connect(t, &st->op, st->c3[st->i], (struct sockaddr *)&st->sa,
						 sizeof(st->sa)));
		REC(st, st->n);
	}
	for (st->i = 0; st->i < 3; st->i++) {
		URT_AWAIT(t, st->a3[st->i] = urt_accept_stream(t, &st->op, st->lfd));
		REC(st, st->a3[st->i] >= 0);
	}
	REC(st, urt_op_cancel(&st->op));
	URT_AWAIT(t, st->n = urt_accept_stream(t, &st->op, st->lfd));
	REC(st, st->n);
	for (st->i = 0; st->i < 3; st->i++) {
		URT_AWAIT(t, st->n = urt_close(t, &st->op, st->c3[st->i]));
		URT_AWAIT(t, st->n = urt_close(t, &st->op, st->a3[st->i]));
	}
	/* 9: the listener's number, closed twice */
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->lfd));
	REC(st, st->n);
	URT_AWAIT(t, st->n = urt_close(t, &st->op, st->lfd));
	REC(st, st->n);
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type script_type = { .poll = script_poll, .name = "script" };

struct results {
	int rec[NREC], nrec;
};

/* Run the script on the real kernel (sim NULL) or on the model. */
static void run_script(struct urt_sim *sim, struct results *out)
{
	static struct script st;
	struct urt_runtime rt;
	struct urt_join j;
	uint16_t port, dead;
	int dfd;

	memset(&st, 0, sizeof(st));
	nrec = 0;
	assert_int_equal(urt_runtime_init(&rt, &(struct urt_runtime_opts){ .sim = sim }), 0);
	st.lfd = urt_listen_tcp("127.0.0.1", 0, 16, 0, &port);
	assert_true(st.lfd >= 0);
	/* a port nobody listens on: bound, then closed (both kernels free it) */
	dfd = urt_listen_tcp("127.0.0.1", 0, 1, 0, &dead);
	assert_true(dfd >= 0);
	assert_int_equal(urt_close_detached(dfd), 0);
	st.sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	st.dead = st.sa;
	st.dead.sin_port = htons(dead);
	assert_int_equal(urt_spawn(&rt, &script_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	while (test_stats(&rt).ops_inflight)
		assert_true(urt_tick(&rt, URT_TICK_FOREVER) >= 0);
	test_runtime_end(&rt);
	memcpy(out->rec, rec, sizeof(rec));
	out->nrec = nrec;
}


static void test_conform(void **state)
{
	static struct results real, model;
	struct urt_sim *sim;

	(void)state;
	run_script(NULL, &real);
	assert_int_equal(urt_sim_create(&sim, &(struct urt_sim_opts){ .seed = 1 }), 0);
	run_script(sim, &model);
	assert_int_equal(urt_sim_fds_open(sim), 0);
	urt_sim_destroy(sim);
	print_message("%d results, real kernel | model\n", real.nrec);
	for (int i = 0; i < real.nrec || i < model.nrec; i++)
		print_message("  %2d: %6d | %6d%s\n", i, real.rec[i], model.rec[i],
			      real.rec[i] != model.rec[i] ? "   <- differs" : "");
	assert_int_equal(real.nrec, model.nrec);
	assert_memory_equal(real.rec, model.rec, sizeof(int) * (size_t)real.nrec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conform),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
