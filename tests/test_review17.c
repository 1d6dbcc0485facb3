/* SPDX-License-Identifier: MIT */
/*
 * test_review17.c - the hostile review of issue 17's facilities: each test
 * is a reproducer of a defect found in review (blocking pool, acceptor,
 * events, slot waits, signals, processes, datagrams, DNS), kept as its
 * regression test. Every wait is bounded by a count of ticks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <liburing.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/fault.h"
#include "urt/urt.h"

/* --- blocking: urt_job_cancel from another task ------------------------------------ */

static atomic_int gate;

static int64_t gated_fn(void *arg)
{
	(void)arg;
	while (!atomic_load(&gate))
		usleep(100);
	return 1;
}

static int64_t quick_fn(void *arg)
{
	(void)arg;
	return 42;
}

struct jst {
	struct urt_job job;
	int gated;
	int64_t res;
};

static struct urt_job *victim_job;

static bool jst_poll(struct urt_task *t, void *arg)
{
	struct jst *s = arg;

	URT_BEGIN(t);
	if (!s->gated)
		victim_job = &s->job;
	URT_AWAIT(t,
		  s->res = urt_blocking_run(t, &s->job, s->gated ? gated_fn : quick_fn, s, NULL));
	URT_RETURN(t, (uint64_t)s->res);
	URT_END(t);
}

static const struct urt_task_type jst_type = { .poll = jst_poll, .name = "jst" };

/*
 * A supervisor (another task, or code between ticks) gives up a task's
 * QUEUED job with urt_job_cancel: the job's record ends silently, and the
 * task that awaits it is never woken again (urt_run: -EDEADLK).
 */
static void test_job_cancel_queued_from_outside(void **state)
{
	struct urt_runtime rt;
	struct urt_join g, v;
	uint64_t out;

	(void)state;
	atomic_store(&gate, 0);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 1 });
	assert_int_equal(
		urt_spawn(&rt, &jst_type, &(struct jst){ .gated = 1 }, sizeof(struct jst), &g), 0);
	assert_int_equal(
		urt_spawn(&rt, &jst_type, &(struct jst){ .gated = 0 }, sizeof(struct jst), &v), 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* both submitted: v's queued behind g's */
	assert_non_null(victim_job);
	assert_int_equal(urt_job_cancel(victim_job), 0);
	atomic_store(&gate, 1);
	assert_int_equal(urt_run(&rt), 0); /* v is woken and awaits a new job */
	assert_int_equal(urt_join_take(&v, &out), 0);
	assert_int_equal(out, 42);
	assert_int_equal(urt_join_take(&g, &out), 0);
	test_runtime_end(&rt);
}

/* --- acceptor: transient accept errors end it ----------------------------------------- */

static int acc_n;
static int fault_err;

static int fail_first_accept(void *ctx, unsigned opcode, uint32_t *len)
{
	(void)ctx, (void)len;
	if (opcode == IORING_OP_ACCEPT && fault_err) {
		int e = fault_err;

		fault_err = 0;
		return e;
	}
	return 0;
}

static int on_conn_close(void *arg, int fd, struct urt_claim *claim)
{
	(void)arg, (void)claim;
	acc_n++;
	close(fd);
	return 0;
}

/*
 * accept(2) says: ENOBUFS / ENOMEM (memory, socket buffers) and the
 * network errors passed up from the new connection (EPROTO, EPERM from a
 * firewall rule, ENETDOWN, EHOSTUNREACH, ...) are not the listener's end;
 * the acceptor ended on any of them, and the server never accepted again.
 */
static void acceptor_survives(int err)
{
	static const struct urt_fault f = { .submit = fail_first_accept };
	struct urt_runtime rt;
	struct urt_join aj;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint16_t port;
	int lfd, cl;

	test_runtime_init(&rt,
			  &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED, .slab_slots = 4 });
	if (urt_fault_set(&rt, &f) == -ENOTSUP) {
		test_runtime_end(&rt);
		skip();
	}
	fault_err = err;
	acc_n = 0;
	lfd = test_listen(&port);
	assert_int_equal(urt_acceptor_start(&rt,
					    &(struct urt_acceptor_opts){ .lfd = lfd,
									 .on_conn = on_conn_close },
					    &aj),
			 0);
	for (int i = 0; i < 5; i++)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_int_equal(fault_err, 0); /* the failed accept happened */
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cl = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
	for (int i = 0; i < 300 && !acc_n && !urt_join_is_finished(&aj); i++)
		assert_true(urt_tick(&rt, 10000000) >= 0);
	assert_false(urt_join_is_finished(&aj));
	assert_int_equal(acc_n, 1);
	/* a shortage of descriptors is counted, as the accept stream counts
	 * it (urt-http's sweeper sheds stalled bodies when it grows) */
	assert_int_equal(test_stats(&rt).accept_backoffs, err == -EMFILE || err == -ENFILE ? 1 : 0);
	assert_int_equal(urt_join_abort(&aj), 0);
	assert_int_equal(urt_run(&rt), 0);
	(void)urt_join_take(&aj, NULL);
	urt_fault_set(&rt, NULL);
	close(cl);
	close(lfd);
	test_runtime_end(&rt);
}

static void test_acceptor_enobufs(void **state)
{
	(void)state;
	acceptor_survives(-ENOBUFS);
}

/* The slab acceptor backed off on EMFILE without counting it in
 * accept_backoffs (the stream did): a server could not tell (issue 20). */
static void test_acceptor_emfile_counted(void **state)
{
	(void)state;
	acceptor_survives(-EMFILE);
}

static void test_acceptor_eproto(void **state)
{
	(void)state;
	acceptor_survives(-EPROTO);
}

static void test_acceptor_eperm(void **state)
{
	(void)state;
	acceptor_survives(-EPERM);
}

/* --- event: a notification handed to a task that moved on ----------------------------- */

struct evst {
	struct urt_event *ev;
	const bool *stop;
	struct urt_op nap;
	int r, got;
};

static bool ev_stop;

/* The common idiom: a flag checked before the wait, short-circuiting it. */
static bool evst_poll(struct urt_task *t, void *arg)
{
	struct evst *s = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, s->r = (s->stop && *s->stop) ? 1 : urt_event_wait(t, s->ev));
	if (s->stop && *s->stop) /* moved on: a long sleep, no wait queue */
		URT_AWAIT(t, s->r = urt_sleep(t, &s->nap, 60000000000ull));
	s->got = 1;
	URT_END(t);
}

static const struct urt_task_type evst_type = { .poll = evst_poll, .name = "evst" };

/*
 * event.h: "A notification given to a task is never lost: if the task ...
 * is woken by another source and moves on without re-evaluating its wait,
 * the notification passes to the next waiter". A task handed the
 * notification that moves on (a stop flag) kept it until its next wake (a
 * 60 s sleep here): the other waiter starved beside a notify_one.
 */
static void test_event_handed_then_moved_on(void **state)
{
	struct urt_runtime rt;
	struct urt_event ev;
	struct urt_join a, b;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	urt_event_init(&ev);
	ev_stop = false;
	assert_int_equal(urt_spawn(&rt, &evst_type, &(struct evst){ .ev = &ev, .stop = &ev_stop },
				   sizeof(struct evst), &a),
			 0);
	assert_int_equal(
		urt_spawn(&rt, &evst_type, &(struct evst){ .ev = &ev }, sizeof(struct evst), &b),
		0);
	assert_true(urt_tick(&rt, 0) >= 0);	/* both wait, a first */
	assert_true(urt_event_notify_one(&ev)); /* handed to a */
	ev_stop = true;				/* ... which then sees its stop flag */
	for (int i = 0; i < 10 && !urt_join_is_finished(&b); i++)
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_true(urt_join_is_finished(&b)); /* the notification passed to b */
	assert_int_equal(urt_join_abort(&a), 0);
	assert_int_equal(urt_run(&rt), 0);
	(void)urt_join_take(&a, NULL);
	assert_int_equal(urt_join_take(&b, NULL), 0);
	urt_event_deinit(&ev);
	test_runtime_end(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_job_cancel_queued_from_outside),
		cmocka_unit_test(test_acceptor_enobufs),
		cmocka_unit_test(test_acceptor_emfile_counted),
		cmocka_unit_test(test_acceptor_eproto),
		cmocka_unit_test(test_acceptor_eperm),
		cmocka_unit_test(test_event_handed_then_moved_on),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
