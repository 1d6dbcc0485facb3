/* SPDX-License-Identifier: MIT */
/*
 * test_dns.c - urt_getaddrinfo and urt_dial (urt/dns.h): numeric hosts
 * (127.0.0.1, ::1) anywhere; names from a hosts file the test controls: in
 * a mount namespace of its own (unshare(CLONE_NEWNS), root), a temporary
 * hosts file and an nsswitch.conf saying "hosts: files" are bind-mounted
 * over /etc/hosts and /etc/nsswitch.conf. Nothing outside the process sees
 * them and nothing is left behind, even if the test crashes. Where the
 * namespace cannot be had, the numeric cases run and the suite exits 77
 * (skipped) after them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static bool have_names; /* the namespace with our hosts file is set up */

static int bind_file(const char *text, const char *over)
{
	char path[] = "/tmp/urt-test-dns-XXXXXX";
	int fd = mkstemp(path), ret = -1;

	if (fd < 0)
		return -1;
	if (write(fd, text, strlen(text)) == (ssize_t)strlen(text))
		ret = mount(path, over, NULL, MS_BIND, NULL);
	close(fd);
	unlink(path); /* the mount keeps the file */
	return ret;
}

static bool names_setup(void)
{
	if (unshare(CLONE_NEWNS))
		return false;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return false;
	return bind_file("127.0.0.1 urt-test-v4.invalid urt-test-both.invalid\n"
			 "::1 urt-test-v6.invalid urt-test-both.invalid\n",
			 "/etc/hosts") == 0 &&
	       bind_file("hosts: files\n", "/etc/nsswitch.conf") == 0;
}

/* One lookup in a task; its result and first address as text. */
struct look_st {
	struct urt_dns dns;
	const char *host;
	int family;
	int ret;
	struct addrinfo *ai;
	char addr[INET6_ADDRSTRLEN];
	int fam;
};

static bool look_poll(struct urt_task *t, void *arg)
{
	struct look_st *st = arg;
	struct addrinfo hints = { .ai_family = st->family, .ai_socktype = SOCK_STREAM };

	URT_BEGIN(t);
	URT_AWAIT(t, st->ret = urt_getaddrinfo(t, &st->dns, st->host, "80", &hints, &st->ai));
	if (st->ret == 0) {
		struct sockaddr *sa = st->ai->ai_addr;

		st->fam = sa->sa_family;
		inet_ntop(sa->sa_family,
			  sa->sa_family == AF_INET ? (void *)&((struct sockaddr_in *)sa)->sin_addr
						   : (void *)&((struct sockaddr_in6 *)sa)->sin6_addr,
			  st->addr, sizeof(st->addr));
		urt_freeaddrinfo(st->ai);
	}
	URT_END(t);
}

static const struct urt_task_type look_type = { .poll = look_poll, .name = "look" };

/* The state is copied out before the task finishes: keep the results global. */
static struct look_st last;
static void look_drop(struct urt_task *t, void *arg)
{
	(void)t;
	last = *(struct look_st *)arg;
}
static const struct urt_task_type look_keep = { .poll = look_poll, .drop = look_drop, .name = "look" };

static struct look_st run_lookup(const char *host, int family)
{
	struct urt_runtime rt;
	struct look_st st = { .host = host, .family = family };

	memset(&last, 0, sizeof(last));
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &look_keep, &st, sizeof(st), NULL), 0);
	assert_int_equal(urt_run(&rt), 0);
	test_runtime_end(&rt);
	return last;
}

static void test_numeric(void **state)
{
	struct look_st r;

	(void)state;
	r = run_lookup("127.0.0.1", AF_UNSPEC);
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.fam, AF_INET);
	assert_string_equal(r.addr, "127.0.0.1");
	r = run_lookup("::1", AF_UNSPEC);
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.fam, AF_INET6);
	assert_string_equal(r.addr, "::1");
	r = run_lookup("::1", AF_INET); /* a v6 literal asked as v4 */
	assert_true(r.ret < 0);
}

static void test_names(void **state)
{
	struct look_st r;

	(void)state;
	if (!have_names)
		skip();
	r = run_lookup("urt-test-v4.invalid", AF_UNSPEC);
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.fam, AF_INET);
	assert_string_equal(r.addr, "127.0.0.1");
	r = run_lookup("urt-test-v6.invalid", AF_INET6);
	assert_int_equal(r.ret, 0);
	assert_int_equal(r.fam, AF_INET6);
	assert_string_equal(r.addr, "::1");
	r = run_lookup("urt-test-missing.invalid", AF_UNSPEC);
	assert_int_equal(r.ret, -ENOENT); /* EAI_NONAME */
}

/* Abort a lookup queued behind a gated job, and one just started. */
static volatile int gate;
static int64_t gated(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&gate, __ATOMIC_ACQUIRE))
		usleep(200);
	return 0;
}
struct gate_st {
	struct urt_job job;
	int64_t r;
};
static bool gate_poll(struct urt_task *t, void *arg)
{
	struct gate_st *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->r = urt_blocking_run(t, &st->job, gated, NULL, NULL));
	URT_END(t);
}
static const struct urt_task_type gate_type = { .poll = gate_poll, .name = "gate" };

static void test_abort_lookup(void **state)
{
	struct urt_runtime rt;
	struct look_st st = { .host = "127.0.0.1", .family = AF_UNSPEC };
	struct urt_join g = { 0 }, a = { 0 }, b = { 0 };
	uint64_t out;

	(void)state;
	if (have_names)
		st.host = "urt-test-v4.invalid";
	__atomic_store_n(&gate, 0, __ATOMIC_RELEASE);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ .blocking_threads = 1 });
	assert_int_equal(urt_spawn(&rt, &gate_type, &(struct gate_st){ 0 }, sizeof(struct gate_st), &g), 0);
	assert_int_equal(urt_spawn(&rt, &look_type, &st, sizeof(st), &a), 0);
	assert_true(urt_tick(&rt, 0) >= 0); /* both submitted: the lookup is queued */
	assert_int_equal(urt_join_abort(&a), 0);
	/* dropped off the queue: it ends while the gate still holds the one
	 * worker, so it never ran (a tick or a few: under ThreadSanitizer the
	 * drop's completion may land a tick later) */
	for (int i = 0; i < 200 && !urt_join_is_finished(&a); i++)
		assert_true(urt_tick(&rt, 10 * 1000 * 1000) >= 0);
	assert_true(urt_join_is_finished(&a));
	assert_int_equal(__atomic_load_n(&gate, __ATOMIC_ACQUIRE), 0);
	assert_int_equal(urt_join_take(&a, &out), -ECANCELED);
	__atomic_store_n(&gate, 1, __ATOMIC_RELEASE);
	/* one aborted while (most likely) running: its list freed when back */
	assert_int_equal(urt_spawn(&rt, &look_type, &st, sizeof(st), &b), 0);
	assert_true(urt_tick(&rt, 0) >= 0);
	assert_int_equal(urt_join_abort(&b), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&b, &out), -ECANCELED);
	assert_int_equal(urt_join_take(&g, &out), 0);
	test_runtime_end(&rt); /* ASan: no request or list leaked */
}

/* urt_dial to a local listener, by numeric host and by name. */
struct dial_st {
	struct urt_dial d;
	const char *host;
	char port[8];
	int fd;
};
static bool dial_poll(struct urt_task *t, void *arg)
{
	struct dial_st *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->fd = urt_dial(t, &st->d, st->host, st->port, 2000000000ull));
	URT_RETURN(t, (uint64_t)(int64_t)st->fd);
	URT_END(t);
}
static void dial_drop(struct urt_task *t, void *arg)
{
	(void)t;
	urt_dial_drop(&((struct dial_st *)arg)->d);
}
static const struct urt_task_type dial_type = { .poll = dial_poll, .drop = dial_drop, .name = "dial" };

static int dial(const char *host, uint16_t port)
{
	struct urt_runtime rt;
	struct dial_st st = { .host = host };
	struct urt_join h = { 0 };
	uint64_t out = 0;

	snprintf(st.port, sizeof(st.port), "%u", port);
	test_runtime_init(&rt, &(struct urt_runtime_opts){ 0 });
	assert_int_equal(urt_spawn(&rt, &dial_type, &st, sizeof(st), &h), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(urt_join_take(&h, &out), 0);
	test_runtime_end(&rt);
	return (int)(int64_t)out;
}

static void test_dial(void **state)
{
	uint16_t port;
	int lfd = urt_listen_tcp("127.0.0.1", 0, 16, 0, &port), fd, c;

	(void)state;
	assert_true(lfd >= 0);
	fd = dial("127.0.0.1", port);
	assert_true(fd >= 0);
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	close(c);
	if (have_names) {
		/* ::1 and 127.0.0.1: whichever comes first, 127.0.0.1 connects */
		fd = dial("urt-test-both.invalid", port);
		assert_true(fd >= 0);
		close(fd);
		close(accept(lfd, NULL, NULL));
		assert_int_equal(dial("urt-test-missing.invalid", port), -ENOENT);
	}
	close(lfd);
	assert_int_equal(dial("127.0.0.1", port), -ECONNREFUSED); /* nobody listens now */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numeric),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_abort_lookup),
		cmocka_unit_test(test_dial),
	};
	int ret;

	have_names = names_setup();
	if (!have_names)
		printf("test_dns: no mount namespace (unshare needs root): names skipped\n");
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	return ret ? ret : have_names ? 0 : 77;
}
