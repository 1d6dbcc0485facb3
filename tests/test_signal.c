/* SPDX-License-Identifier: MIT */
/*
 * test_signal.c - signal streams (one runtime, a signalfd; two runtimes on
 * two threads through a hub; a stream whose subscription was unsubscribed,
 * with its read in flight, from its thread or another) and the acceptor's
 * back-pressure.
 *
 * main blocks the signals before any thread starts, as the docs say.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

/* --- one runtime: its own signalfd -------------------------------------------------- */

/* Reads `want` times (at most 4), whatever each read answers. */
struct sigwaiter {
	struct urt_signal_stream s;
	int got[4], n, want;
};

static bool sigwaiter_poll(struct urt_task *t, void *arg)
{
	struct sigwaiter *w = arg;

	URT_BEGIN(t);
	while (w->n < w->want) {
		URT_AWAIT(t, w->got[w->n] = urt_signal_recv(t, &w->s));
		w->n++;
	}
	URT_RETURN(t, (uint64_t)w->n);
	URT_END(t);
}

static void sigwaiter_drop(struct urt_task *t, void *arg)
{
	(void)t;
	urt_signal_close(&((struct sigwaiter *)arg)->s);
}

static const struct urt_task_type sigwaiter_type = { .poll = sigwaiter_poll,
						     .drop = sigwaiter_drop,
						     .name = "sigwaiter" };

static void test_one_runtime(void **state)
{
	struct urt_runtime rt;
	struct sigwaiter w = { .want = 2 }, *live;
	struct urt_join j;
	sigset_t set;

	(void)state;
	sigemptyset(&set);
	assert_int_equal(urt_signal_open(&w.s, &set), -EINVAL);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGWINCH);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_signal_open(&w.s, &set), 0);
	assert_int_equal(urt_spawn(&rt, &sigwaiter_type, &w, sizeof(w), &j), 0);
	live = urt_task_state(j.task);
	assert_true(urt_tick(&rt, 0) >= 1); /* the read is armed */
	assert_int_equal(raise(SIGUSR2), 0); /* blocked: pending, for the stream */
	assert_int_equal(kill(getpid(), SIGWINCH), 0);
	for (int i = 0; i < 100 && !urt_join_is_finished(&j); i++)
		assert_true(urt_tick(&rt, 100000000) >= 0);
	assert_true(urt_join_is_finished(&j));
	assert_int_equal(live->got[0] + live->got[1], SIGUSR2 + SIGWINCH);
	assert_int_equal(urt_join_take(&j, NULL), 0);
	/* aborted with its read in flight: cancelled, the drop closes it */
	assert_int_equal(urt_signal_open(&w.s, &set), 0);
	assert_int_equal(urt_spawn(&rt, &sigwaiter_type, &w, sizeof(w), &j), 0);
	assert_true(urt_tick(&rt, 0) >= 1);
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&j, NULL), -ECANCELED);
	test_runtime_end(&rt);
}

/* --- two runtimes, two threads, one hub ------------------------------------------------ */

struct node {
	pthread_t th;
	struct urt_signal_sub *sub;
	atomic_int stats, stops, up;
};

static void on_stats(void *arg)
{
	atomic_fetch_add(&((struct node *)arg)->stats, 1);
}

static void on_stop(void *arg)
{
	atomic_fetch_add(&((struct node *)arg)->stops, 1);
}

static void *node_main(void *arg)
{
	struct node *n = arg;
	struct urt_runtime rt;

	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_server_signals_start(&rt, &(struct urt_server_signals_opts){
								.sub = n->sub,
								.on_stats = on_stats,
								.on_stop = on_stop,
								.arg = n,
							}),
			 0);
	atomic_store(&n->up, 1);
	assert_int_equal(urt_run(&rt), 0);
	urt_runtime_deinit(&rt);
	return NULL;
}

static void test_hub_two_runtimes(void **state)
{
	struct urt_signal_hub hub;
	struct node n[2] = { 0 };

	(void)state;
	assert_int_equal(urt_server_signals_hub(&hub), 0); /* before any thread */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(urt_signal_subscribe(&hub, &n[i].sub), 0);
		assert_int_equal(pthread_create(&n[i].th, NULL, node_main, &n[i]), 0);
	}
	/* a signal before the runtimes read is kept for them (the eventfd) */
	assert_int_equal(kill(getpid(), SIGUSR1), 0);
	assert_int_equal(urt_signal_hub_wait(&hub), SIGUSR1);
	assert_int_equal(kill(getpid(), SIGTERM), 0);
	assert_int_equal(urt_signal_hub_wait(&hub), SIGTERM);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(n[i].th, NULL), 0);
		assert_int_equal(atomic_load(&n[i].stats), 1);
		assert_int_equal(atomic_load(&n[i].stops), 1);
	}
	assert_int_equal(urt_signal_hub_send(&hub, 0), -EINVAL);
	urt_signal_hub_deinit(&hub);
}

/* --- a stream outliving its subscription ----------------------------------------------- */

/* A sigwaiter of a subscription (a stale stream answers -EBADF each time). */
static struct sigwaiter *sigwaiter_attach(struct urt_runtime *rt, struct urt_signal_sub *sub,
					  int want, struct urt_join *j)
{
	struct sigwaiter w = { .want = want };

	assert_int_equal(urt_signal_attach(&w.s, sub), 0);
	assert_int_equal(urt_spawn(rt, &sigwaiter_type, &w, sizeof(w), j), 0);
	return urt_task_state(j->task);
}

/* Tick until j's task ended, within a bound: a read left parked fails, not hangs. */
static void tick_until_done(struct urt_runtime *rt, struct urt_join *j)
{
	for (int i = 0; i < 100 && !urt_join_is_finished(j); i++)
		assert_true(urt_tick(rt, 100000000) >= 0);
	assert_true(urt_join_is_finished(j));
}

/* A hub of SIGUSR2 (sent, never raised) and a runtime to read it. */
static void hub_runtime_init(struct urt_signal_hub *hub, struct urt_runtime *rt)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	assert_int_equal(urt_signal_hub_init(hub, &set), 0);
	test_runtime_init(rt, &(struct urt_runtime_opts){ 0 });
}

/*
 * Unsubscribed with its read in flight, on the runtime's own thread: the
 * read is woken and answers -EBADF, and so does the next recv (nothing
 * submitted, nothing parked). The slot goes to the next subscriber, whose
 * stream gets the signal sent after: the stale read took nothing of it.
 */
static void test_unsubscribe_in_flight(void **state)
{
	struct urt_runtime rt;
	struct urt_signal_hub hub;
	struct urt_signal_sub *sub, *next;
	struct urt_signal_stream s;
	struct sigwaiter *stale, *fresh;
	struct urt_join js, jf;
	int fds = test_fd_count();

	(void)state;
	hub_runtime_init(&hub, &rt);
	assert_int_equal(urt_signal_subscribe(&hub, &sub), 0);
	stale = sigwaiter_attach(&rt, sub, 2, &js);
	assert_true(urt_tick(&rt, 0) >= 1); /* the read is in flight */
	urt_signal_unsubscribe(sub);
	urt_signal_unsubscribe(sub);			      /* again: nothing */
	assert_int_equal(urt_signal_attach(&s, sub), -EBADF); /* no stream of it now */
	assert_int_equal(urt_signal_attach(&s, NULL), -EINVAL);
	assert_int_equal(urt_signal_subscribe(&hub, &next), 0);
	assert_ptr_equal(next, sub); /* its slot, handed out again */
	/* the new subscription's signal, in the slot's word and its eventfd */
	assert_int_equal(urt_signal_hub_send(&hub, SIGUSR2), 0);
	tick_until_done(&rt, &js); /* the stale read completes first, alone */
	assert_int_equal(stale->got[0], -EBADF);
	assert_int_equal(stale->got[1], -EBADF);
	assert_int_equal(urt_join_take(&js, NULL), 0);
	fresh = sigwaiter_attach(&rt, next, 1, &jf);
	tick_until_done(&rt, &jf);
	assert_int_equal(fresh->got[0], SIGUSR2);
	assert_int_equal(urt_join_take(&jf, NULL), 0);
	test_runtime_end(&rt);
	urt_signal_hub_deinit(&hub);
	assert_int_equal(test_fd_count(), fds); /* the streams' dups, the eventfds */
}

/*
 * Unsubscribed from another thread while the runtime reads it (TSan): the
 * other thread unsubscribes, takes a subscription (often the same slot)
 * and sends, while a second stream of a live subscription reads beside.
 * Whenever the unsubscribe lands (before the read is submitted, while it
 * is in flight, in between), the stale stream answers -EBADF twice, the
 * live one gets the signal, and the new subscription keeps its own.
 */
struct churn {
	struct urt_signal_hub *hub;
	struct urt_signal_sub *sub, *next;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;

	urt_signal_unsubscribe(c->sub);
	assert_int_equal(urt_signal_subscribe(c->hub, &c->next), 0);
	assert_int_equal(urt_signal_hub_send(c->hub, SIGUSR2), 0);
	return NULL;
}

static void test_unsubscribe_other_thread(void **state)
{
	struct urt_runtime rt;
	struct urt_signal_hub hub;
	struct urt_signal_sub *keep;
	int fds = test_fd_count();

	(void)state;
	hub_runtime_init(&hub, &rt);
	assert_int_equal(urt_signal_subscribe(&hub, &keep), 0);
	for (int i = 0; i < 40; i++) {
		struct churn c = { .hub = &hub };
		struct sigwaiter *stale, *live, *fresh;
		struct urt_join js, jl, jf;
		pthread_t th;

		assert_int_equal(urt_signal_subscribe(&hub, &c.sub), 0);
		stale = sigwaiter_attach(&rt, c.sub, 2, &js);
		live = sigwaiter_attach(&rt, keep, 1, &jl);
		if (i & 1)
			assert_true(urt_tick(&rt, 0) >= 1); /* the reads in flight first */
		assert_int_equal(pthread_create(&th, NULL, churn_main, &c), 0);
		tick_until_done(&rt, &js);
		tick_until_done(&rt, &jl);
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_int_equal(stale->got[0], -EBADF);
		assert_int_equal(stale->got[1], -EBADF);
		assert_int_equal(live->got[0], SIGUSR2);
		assert_int_equal(urt_join_take(&js, NULL), 0);
		assert_int_equal(urt_join_take(&jl, NULL), 0);
		fresh = sigwaiter_attach(&rt, c.next, 1, &jf);
		tick_until_done(&rt, &jf);
		assert_int_equal(fresh->got[0], SIGUSR2);
		assert_int_equal(urt_join_take(&jf, NULL), 0);
		urt_signal_unsubscribe(c.next);
	}
	test_runtime_end(&rt);
	urt_signal_hub_deinit(&hub);
	assert_int_equal(test_fd_count(), fds);
}

/* --- the acceptor: back-pressure ---------------------------------------------------- */

struct conn {
	struct urt_event *ev;
	int fd, ret;
};

static int accepted;

static bool conn_poll(struct urt_task *t, void *arg)
{
	struct conn *c = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, c->ret = urt_event_wait(t, c->ev));
	URT_END(t);
}

static void conn_drop(struct urt_task *t, void *arg)
{
	(void)t;
	close(((struct conn *)arg)->fd);
}

static const struct urt_task_type conn_type = { .poll = conn_poll, .drop = conn_drop, .name = "conn" };

static int on_conn(void *arg, int fd, struct urt_claim *claim)
{
	struct conn c = { .ev = arg, .fd = fd };

	memcpy(urt_claim_state(claim), &c, sizeof(c));
	if (urt_claim_spawn(claim, &conn_type, NULL))
		return -EINVAL;
	accepted++;
	return 0;
}

/* Whether the client's end saw its connection closed (EOF or reset). */
static bool closed(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

static void test_acceptor_backpressure(void **state)
{
	struct urt_runtime rt;
	struct urt_event ev;
	struct urt_join aj;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int lfd, cl[6];
	uint16_t port;

	(void)state;
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED,
							   .slab_slots = 2 });
	urt_event_init(&ev);
	accepted = 0;
	lfd = test_listen(&port);
	assert_int_equal(urt_acceptor_start(&rt, &(struct urt_acceptor_opts){ 0 }, NULL), -EINVAL);
	assert_int_equal(urt_acceptor_start(&rt, &(struct urt_acceptor_opts){ .lfd = lfd,
									     .on_conn = on_conn,
									     .arg = &ev },
					    &aj),
			 0);
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 6; i++) { /* the kernel completes each handshake: the backlog */
		cl[i] = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(cl[i] >= 0);
		assert_int_equal(connect(cl[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	for (int i = 0; i < 50 && accepted < 2; i++)
		assert_true(urt_tick(&rt, 10000000) >= 0);
	for (int i = 0; i < 5; i++) /* and more turns: nothing more is taken */
		assert_true(urt_tick(&rt, 1000000) >= 0);
	assert_int_equal(accepted, 2);
	for (int i = 0; i < 6; i++)
		assert_false(closed(cl[i])); /* none closed: four wait in the backlog */
	for (int k = 3; k <= 6; k++) { /* a connection ends: the next is taken */
		assert_true(urt_event_notify_one(&ev));
		for (int i = 0; i < 50 && accepted < k; i++)
			assert_true(urt_tick(&rt, 10000000) >= 0);
		assert_int_equal(accepted, k);
	}
	for (int i = 0; i < 2; i++) /* the first four were closed by their drops */
		assert_true(closed(cl[i]));
	assert_false(closed(cl[5]));
	assert_int_equal(urt_join_abort(&aj), 0); /* its claim and accept go */
	assert_true(urt_tick(&rt, 0) >= 1);	  /* the last connection parks too */
	urt_event_notify_all(&ev);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&aj, NULL), -ECANCELED);
	for (int i = 0; i < 6; i++)
		close(cl[i]);
	close(lfd);
	test_runtime_end(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_runtime),
		cmocka_unit_test(test_hub_two_runtimes),
		cmocka_unit_test(test_unsubscribe_in_flight),
		cmocka_unit_test(test_unsubscribe_other_thread),
		cmocka_unit_test(test_acceptor_backpressure),
	};
	sigset_t set;

	/* before any thread: the runtimes' threads inherit it */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGWINCH);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
