/* SPDX-License-Identifier: MIT */
/*
 * test_support.h - helpers shared by the cmocka suites.
 *
 * struct test_alloc: a backing allocator (struct urt_allocator) that counts
 * calls and live blocks, checks that every free names the size and alignment
 * of its alloc, and can fail the Nth allocation - the tool for the
 * allocation-failure sweeps (libuv's test-loop-oom).
 *
 * test_rng: splitmix64, seeded from URT_SEED or a fixed default; a suite
 * prints its seed so a failure can be replayed.
 */
#ifndef URT_TEST_SUPPORT_H
#define URT_TEST_SUPPORT_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "urt/allocator.h"

struct test_alloc {
	struct urt_allocator al; /* ctx points back at this struct */
	size_t calls;		 /* alloc calls, failed ones included */
	size_t fail_at;		 /* fail the call whose number is this; 0: never */
	size_t failed;		 /* calls failed */
	size_t live_blocks;	 /* allocated, not freed */
	size_t live_bytes;
};

void test_alloc_init(struct test_alloc *t);

struct test_rng {
	uint64_t s;
};

/* Seed from URT_SEED if set, else def; prints "<suite>: seed=<n>". */
uint64_t test_seed(const char *suite, uint64_t def);
uint64_t test_rng_next(struct test_rng *r);
/* Uniform in [0, n). */
uint64_t test_rng_below(struct test_rng *r, uint64_t n);

/* Fill / check a block with a pattern derived from tag. */
void test_fill(void *p, size_t n, uint64_t tag);
bool test_check(const void *p, size_t n, uint64_t tag);

#include "urt/runtime.h"

/*
 * The runtime fixture every suite uses. test_runtime_init: a runtime that
 * must start; where io_uring is unavailable (-ENOSYS, -EPERM: kernel,
 * sysctl, seccomp) the suite exits with CTest's skip code 77.
 * test_runtime_end: the runtime ends with nothing live (tasks, op records,
 * operations in flight, timers, provided buffers out), then deinit
 * reclaims nothing.
 */
void test_runtime_init(struct urt_runtime *rt, const struct urt_runtime_opts *opts);

/*
 * Loopback TCP for the I/O suites. test_listen: a listener on 127.0.0.1,
 * a free port in *port. test_tcp_pair: one connection to it, *a the
 * client's end (blocking), *b the accepted one. test_tcp_pairs: n of them
 * on a listener of their own (TCP_NODELAY on the client ends).
 * test_drain: read and discard what fd has, at most max bytes, without
 * waiting. test_has_feature: whether a runtime here would use URT_FEAT_*.
 */
int test_listen(uint16_t *port);
void test_tcp_pair(int lfd, uint16_t port, int *a, int *b);
void test_tcp_pairs(int *a, int *b, unsigned n);
size_t test_drain(int fd, size_t max);
bool test_has_feature(uint32_t feature);

/*
 * test_raise_nofile - raise RLIMIT_NOFILE's soft limit to at least n (up
 * to the hard limit); a suite that cannot have n descriptors exits with
 * the skip code 77, saying so.
 */
void test_raise_nofile(const char *suite, unsigned long n);

/* test_fd_count - descriptors open in this process now (a leak check). */
int test_fd_count(void);

/*
 * test_run_child - run fn in a forked child with its stderr to a pipe.
 * Return: what the child wrote to stderr (a static buffer, overwritten by
 * the next call); *status its wait status.
 */
const char *test_run_child(void (*fn)(void), int *status);

/* test_take - a finished task's value (its urt_join_take must succeed). */
int64_t test_take(struct urt_join *j);

/*
 * test_tmpdir - a fresh directory from tmpl ("/tmp/NAME-XXXXXX", the Xs
 * rewritten in place), opened: its descriptor, a dfd for the *at calls;
 * -1 with errno on failure. test_tmpdir_remove - close dfd and remove the
 * directory, which must be empty: 0, or -1 with errno.
 * test_size_at - the size of name under dfd (fstatat, no link followed),
 * or -errno.
 */
int test_tmpdir(char *tmpl);
int test_tmpdir_remove(int dfd, const char *path);
int64_t test_size_at(int dfd, const char *name);

/*
 * TEST_HANG_NS - the bound of a wait for something that must happen (a task
 * finishing, bytes arriving), only so that a broken case fails instead of
 * hanging: far beyond what a loaded host needs, never the property (a
 * timed assertion fails on a slow host; issue 20). A wait that ends when
 * its condition holds costs nothing for it.
 */
#define TEST_HANG_NS 30000000000ull

/* test_sleep_ms - sleep ms milliseconds of real time (for other threads). */
void test_sleep_ms(unsigned ms);

/*
 * test_tid - the calling thread's id. test_wait_blocked - wait until thread
 * tid of this process sleeps in the kernel (state S or D in
 * /proc/self/task/TID/stat), at most ms milliseconds: for a thread that
 * must be inside a blocking call (a join, a wait) before another acts,
 * where a fixed sleep only makes that likely. Return: whether it was seen
 * asleep (false also where /proc cannot be read).
 */
int test_tid(void);
bool test_wait_blocked(int tid, unsigned ms);

/*
 * test_watchdog - for a property "A returns while B is still blocked": a
 * thread that unblocks B (fn(arg)) only after ms milliseconds, far beyond
 * what any slow host needs for A, unless stopped first. A that waited for
 * B would return only after the watchdog fired; test_watchdog_stop says
 * whether it did. No clock in the assertion, and no hang: a broken A fails
 * after ms instead of never returning.
 * test_watchdog_start: the thread runs. test_watchdog_stop: it ends (fn has
 * run, or will not). Return: whether fn ran.
 */
struct test_watchdog {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;  /* under mu */
	bool fired; /* fn ran; under mu */
	uint64_t end_ns;
	void (*fn)(void *arg);
	void *arg;
};

void test_watchdog_start(struct test_watchdog *w, unsigned ms, void (*fn)(void *arg), void *arg);
bool test_watchdog_stop(struct test_watchdog *w);

/* test_stats - urt_runtime_stats as a value. */
struct urt_runtime_stats test_stats(struct urt_runtime *rt);

/* test_assert_clean - nothing of the I/O layer is live: op records,
 * operations in flight, timers, provided buffers out. */
void test_assert_clean(struct urt_runtime *rt);
void test_runtime_end(struct urt_runtime *rt);

/*
 * test_without_recv_limit - make rt behave as on a kernel that refuses the
 * per-arm byte limit of multishot receives (the first receive fails with
 * -EINVAL through the fault seam), so the pause path is what bounds a
 * stream. Runs the loop until idle. Return: true if rt now arms without the
 * limit; false in builds without the fault seam.
 */
bool test_without_recv_limit(struct urt_runtime *rt);

/*
 * test_run_group - _cmocka_run_group_tests, with a check after each test:
 * a runtime the test left bound to the thread (a failed assertion longjmps
 * past its deinit) is let go, with a note, and the test fails, so the
 * tests after it start clean instead of failing with -EEXIST. after, if
 * not NULL, runs after that check (the sim shim's). Every suite's group
 * runs through it: test_support.c wraps _cmocka_run_group_tests with it
 * (the linker's --wrap; tests/CMakeLists.txt), the sim shim from its own
 * wrap.
 */
int test_run_group(const char *group_name, const struct CMUnitTest *tests, size_t num_tests,
		   CMFixtureFunction group_setup, CMFixtureFunction group_teardown,
		   CMFixtureFunction after);
int __real__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
				   const size_t num_tests, CMFixtureFunction group_setup,
				   CMFixtureFunction group_teardown);
int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
				   const size_t num_tests, CMFixtureFunction group_setup,
				   CMFixtureFunction group_teardown);

#endif
