/* SPDX-License-Identifier: MIT */
#include "test_support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>

#include <liburing.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "urt/fault.h"
#include "urt/urt.h"

#define MAGIC 0x75727461u /* "urta" */

/* Header kept in front of every block: lets free verify size and align. */
struct hdr {
	uint32_t magic;
	uint32_t align;
	size_t size;
};

static size_t pad_for(size_t align)
{
	return align < 16 ? 16 : align;
}

static void *t_alloc(void *ctx, size_t size, size_t align)
{
	struct test_alloc *t = ctx;
	size_t pad = pad_for(align);
	char *base;
	struct hdr *h;

	assert_true(size > 0);
	assert_true(align && !(align & (align - 1)));
	if (++t->calls == t->fail_at) {
		t->failed++;
		return NULL;
	}
	base = aligned_alloc(pad, (pad + size + pad - 1) / pad * pad);
	assert_non_null(base);
	h = (struct hdr *)(base + pad) - 1;
	*h = (struct hdr){ .magic = MAGIC, .align = (uint32_t)align, .size = size };
	t->live_blocks++;
	t->live_bytes += size;
	return base + pad;
}

static void t_free(void *ctx, void *ptr, size_t size, size_t align)
{
	struct test_alloc *t = ctx;
	struct hdr *h = (struct hdr *)ptr - 1;

	assert_non_null(ptr);
	assert_int_equal(h->magic, MAGIC);
	assert_int_equal(h->size, size);
	assert_int_equal(h->align, align);
	assert_true(t->live_blocks > 0);
	h->magic = 0;
	t->live_blocks--;
	t->live_bytes -= size;
	free((char *)ptr - pad_for(align));
}

void test_alloc_init(struct test_alloc *t)
{
	*t = (struct test_alloc){ .al = { .ctx = t, .alloc = t_alloc, .free = t_free } };
}

uint64_t test_seed(const char *suite, uint64_t def)
{
	const char *env = getenv("URT_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : def;

	printf("%s: seed=%llu (replay with URT_SEED=%llu)\n", suite, (unsigned long long)seed,
	       (unsigned long long)seed);
	fflush(stdout);
	return seed;
}

uint64_t test_rng_next(struct test_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t test_rng_below(struct test_rng *r, uint64_t n)
{
	return n ? test_rng_next(r) % n : 0;
}

void test_fill(void *p, size_t n, uint64_t tag)
{
	unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(tag * 131 + i * 7 + 1);
}

bool test_check(const void *p, size_t n, uint64_t tag)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != (unsigned char)(tag * 131 + i * 7 + 1))
			return false;
	return true;
}

void test_runtime_init(struct urt_runtime *rt, const struct urt_runtime_opts *opts)
{
	struct urt_runtime_opts o = opts ? *opts : (struct urt_runtime_opts){ 0 };
	const char *off = getenv("URT_TEST_FEATURES_OFF");
	int ret;

	if (off) /* run a suite on the fallbacks: see tests/CMakeLists.txt */
		o.features_off |= (uint32_t)strtoul(off, NULL, 0);
	if (getenv("URT_TEST_FIXED_FDS")) /* accepted sockets as direct descriptors */
		o.fixed_fds = true;
	ret = urt_runtime_init(rt, &o);
	if (!ret && o.fixed_fds && !(o.features_off & URT_FEAT_FIXED_FDS) && !o.sim &&
	    !(rt->stats.features & URT_FEAT_FIXED_FDS)) {
		fprintf(stderr, "the kernel has no sparse file table (5.19): suite skipped\n");
		urt_runtime_deinit(rt);
		exit(77);
	}

	if (ret == -ENOSYS || ret == -EPERM) {
		fprintf(stderr, "io_uring is unavailable here (%s): suite skipped\n",
			strerror(-ret));
		exit(77);
	}
	assert_int_equal(ret, 0);
}

int test_listen(uint16_t *port)
{
	int lfd = urt_listen_tcp(NULL, 0, 64, 0, port);

	assert_true(lfd >= 0);
	return lfd;
}

void test_tcp_pair(int lfd, uint16_t port, int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	*a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(*a >= 0);
	assert_int_equal(connect(*a, (struct sockaddr *)&sa, sizeof(sa)), 0);
	do
		*b = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (*b < 0 && errno == EAGAIN);
	assert_true(*b >= 0);
}

void test_tcp_pairs(int *a, int *b, unsigned n)
{
	uint16_t port;
	int lfd = test_listen(&port);

	for (unsigned i = 0; i < n; i++) {
		test_tcp_pair(lfd, port, &a[i], &b[i]);
		setsockopt(a[i], IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	}
	close(lfd);
}

size_t test_drain(int fd, size_t max)
{
	static char sink[1 << 16];
	size_t n = 0;
	ssize_t k;

	while (n < max && (k = recv(fd, sink, max - n < sizeof(sink) ? max - n : sizeof(sink),
				    MSG_DONTWAIT)) > 0)
		n += (size_t)k;
	return n;
}

bool test_has_feature(uint32_t feature)
{
	struct urt_runtime rt;
	bool has;

	test_runtime_init(&rt, NULL);
	has = test_stats(&rt).features & feature;
	urt_runtime_deinit(&rt);
	return has;
}

int64_t test_take(struct urt_join *j)
{
	uint64_t out;

	assert_int_equal(urt_join_take(j, &out), 0);
	return (int64_t)out;
}

int test_tmpdir(char *tmpl)
{
	if (!mkdtemp(tmpl))
		return -1;
	return open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int test_tmpdir_remove(int dfd, const char *path)
{
	close(dfd);
	return rmdir(path);
}

int64_t test_size_at(int dfd, const char *name)
{
	struct stat sb;

	return fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) ? -errno : (int64_t)sb.st_size;
}

void test_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int test_tid(void)
{
	return (int)syscall(SYS_gettid);
}

/* The state letter of thread tid: after the last ')' (the name may hold one). */
static char thread_state(int tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

bool test_wait_blocked(int tid, unsigned ms)
{
	uint64_t end = urt_now_ns() + (uint64_t)ms * 1000000u;
	char s;

	while ((s = thread_state(tid)) != 'S' && s != 'D') {
		if (!s || urt_now_ns() > end)
			return false;
		test_sleep_ms(1);
	}
	return true;
}

struct urt_runtime_stats test_stats(struct urt_runtime *rt)
{
	struct urt_runtime_stats st;

	urt_runtime_stats(rt, &st);
	return st;
}

void test_assert_clean(struct urt_runtime *rt)
{
	struct urt_runtime_stats st = test_stats(rt);

	assert_int_equal(st.ops_live, 0);
	assert_int_equal(st.ops_inflight, 0);
	assert_int_equal(st.timers_live, 0);
	assert_int_equal(st.bufs_free, st.buf_count);
	assert_int_equal(st.spill_bytes, 0);
	assert_int_equal(st.bufs_queued, 0);
}

void test_runtime_end(struct urt_runtime *rt)
{
	assert_int_equal(test_stats(rt).live, 0);
	test_assert_clean(rt);
	assert_int_equal(urt_runtime_deinit(rt), 0);
}

/* --- a kernel without the receive limit, in test builds ----------------------- */

static int refuse_first_recv(void *ctx, unsigned opcode, uint32_t *len)
{
	int *left = ctx;

	(void)len;
	return opcode == IORING_OP_RECV && (*left)-- > 0 ? -EINVAL : 0;
}

struct probe_state {
	int fd;
	struct urt_op rx, nap;
	struct urt_buf b;
};

static bool probe_poll(struct urt_task *t, void *arg)
{
	struct probe_state *st = arg;

	URT_BEGIN(t);
	(void)urt_recv_stream(t, &st->rx, st->fd, &st->b); /* refused: -EINVAL */
	URT_AWAIT(t, urt_sleep(t, &st->nap, 5000000));
	urt_op_cancel(&st->rx);
	while (urt_op_busy(&st->rx))
		URT_AWAIT(t, urt_recv_stream(t, &st->rx, st->fd, &st->b));
	URT_END(t);
}

static const struct urt_task_type probe_type = { .poll = probe_poll, .name = "probe" };

bool test_without_recv_limit(struct urt_runtime *rt)
{
	static int left;
	static const struct urt_fault f = { .submit = refuse_first_recv, .ctx = &left };
	int sv[2];
	bool ok;

	left = 1;
	if (urt_fault_set(rt, &f))
		return false; /* no fault seam in this build */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(urt_spawn(rt, &probe_type, &(struct probe_state){ .fd = sv[0] },
				   sizeof(struct probe_state), NULL),
			 0);
	assert_int_equal(urt_run(rt), 0);
	urt_fault_set(rt, NULL);
	ok = !(test_stats(rt).features & URT_FEAT_RECV_LIMIT);
	close(sv[0]);
	close(sv[1]);
	return ok;
}

void test_raise_nofile(const char *suite, unsigned long n)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < n) {
		rl.rlim_cur = rl.rlim_max < n ? rl.rlim_max : n;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	if (rl.rlim_cur < n) {
		fprintf(stderr,
			"%s: RLIMIT_NOFILE %llu is below the %lu descriptors it needs: skipped\n",
			suite, (unsigned long long)rl.rlim_cur, n);
		exit(77);
	}
}

const char *test_run_child(void (*fn)(void), int *status)
{
	static char out[16384];
	size_t len = 0;
	int fds[2];
	pid_t pid;
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		fn();
		_exit(0); /* not reached if the fault was caught */
	}
	close(fds[1]);
	while ((n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = 0;
	close(fds[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return out;
}

int test_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own */
}

/* --- after each test: no runtime left bound to the thread --------------------------- */

/*
 * A failed assertion longjmps out of its test and leaves the test's runtime
 * bound to the thread (urt__rt and the slab binding): every later init in
 * the suite would fail with -EEXIST, and one failure would hide behind a
 * cascade of false ones. So every group runs through test_run_group, which
 * puts a setup and a teardown of its own around each test's (pre, post).
 * post finds a runtime still bound, says so and fails that test (a test
 * that passed but did not end its runtime is named too), then lets the
 * runtime go without touching it: its storage was most likely the failed
 * test's stack frame, gone and about to be reused, so deinit is out of the
 * question. What can be undone safely: the io_uring descriptors the test
 * opened are closed (the kernel cancels what was in flight, so no
 * completion lands in memory that is now someone else's), the slab binding
 * goes back to what it was before the test, the thread's runtime is
 * cleared. The runtime's memory leaks; the test has failed anyway.
 *
 * Which test post ends: pre is the test's setup, and cmocka hands it the
 * test's initial_state, which test_run_group points at the test's entry
 * in its own copy; pre then gives the test the state cmocka would have
 * (its own initial_state, or the group's).
 */

#define RINGS_MAX 64

static const struct CMUnitTest *cur_test; /* the suite's entry of the running test */
static CMFixtureFunction group_setup_fn;
static void *group_state;
static CMFixtureFunction after_fn; /* the sim shim's check, or NULL */
static struct urt_slab_binding slab_before;
static int rings_before[RINGS_MAX]; /* io_uring descriptors open before the test */
static unsigned nrings_before;

static bool is_ring(int fd)
{
	static const char want[] = "anon_inode:[io_uring]";
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	return n == (ssize_t)sizeof(want) - 1 && !memcmp(link, want, sizeof(want) - 1);
}

/* Each io_uring descriptor open now: into fds (at most max). Return: how many. */
static unsigned rings_open(int *fds, unsigned max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] != '.' && fd != dirfd(d) && is_ring(fd))
			fds[n++] = fd;
	}
	closedir(d);
	return n;
}

static bool was_open(int fd)
{
	for (unsigned i = 0; i < nrings_before; i++)
		if (rings_before[i] == fd)
			return true;
	return false;
}

static int group_pre(void **state)
{
	int ret = group_setup_fn(state);

	group_state = *state;
	return ret;
}

static int pre(void **state)
{
	cur_test = *state;
	*state = cur_test->initial_state ? cur_test->initial_state : group_state;
	slab_before = urt_slab_current();
	nrings_before = rings_open(rings_before, RINGS_MAX);
	return cur_test->setup_func ? cur_test->setup_func(state) : 0;
}

/* Let go of a runtime the test left bound: see above. */
static void unbind_left(void)
{
	int fds[RINGS_MAX];
	unsigned n = rings_open(fds, RINGS_MAX), closed = 0;

	for (unsigned i = 0; i < n; i++)
		if (!was_open(fds[i]) && !close(fds[i]))
			closed++;
	urt_slab_restore(slab_before);
	urt__rt = NULL;
	print_error(
		"test_support: %s left a runtime bound to the thread (it failed, or it did not "
		"end its runtime): unbound, %u io_uring descriptor(s) closed, its memory leaked, "
		"so the tests after it start clean\n",
		cur_test->name, closed);
}

static int post(void **state)
{
	int ret = cur_test->teardown_func ? cur_test->teardown_func(state) : 0;

	if (urt_runtime_current()) {
		unbind_left();
		ret = -1;
	}
	if (after_fn && after_fn(state))
		ret = -1;
	return ret;
}

int test_run_group(const char *group_name, const struct CMUnitTest *tests, size_t num_tests,
		   CMFixtureFunction group_setup, CMFixtureFunction group_teardown,
		   CMFixtureFunction after)
{
	struct CMUnitTest *t = calloc(num_tests ? num_tests : 1, sizeof(*t));
	int ret;

	if (!t)
		abort();
	for (size_t i = 0; i < num_tests; i++)
		t[i] = (struct CMUnitTest){ .name = tests[i].name,
					    .test_func = tests[i].test_func,
					    .setup_func = pre,
					    .teardown_func = post,
					    .initial_state = (void *)&tests[i] };
	group_setup_fn = group_setup;
	group_state = NULL;
	after_fn = after;
	ret = __real__cmocka_run_group_tests(group_name, t, num_tests,
					     group_setup ? group_pre : NULL, group_teardown);
	free(t);
	return ret;
}

#ifndef URT_TEST_SIM /* the sim shim wraps it, then calls test_run_group */
int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
				   const size_t num_tests, CMFixtureFunction group_setup,
				   CMFixtureFunction group_teardown)
{
	return test_run_group(group_name, tests, num_tests, group_setup, group_teardown, NULL);
}
#endif

/* --- test_watchdog ------------------------------------------------------------------ */

static void *watchdog_main(void *arg)
{
	struct test_watchdog *w = arg;
	struct timespec ts = { .tv_sec = (time_t)(w->end_ns / 1000000000u),
			       .tv_nsec = (long)(w->end_ns % 1000000000u) };

	pthread_mutex_lock(&w->mu);
	while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mu, &ts) != ETIMEDOUT)
		;
	if (!w->stop) {
		w->fired = true;
		w->fn(w->arg);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

void test_watchdog_start(struct test_watchdog *w, unsigned ms, void (*fn)(void *arg), void *arg)
{
	pthread_condattr_t ca;

	/* the end on CLOCK_MONOTONIC, as urt_now_ns */
	*w = (struct test_watchdog){ .end_ns = urt_now_ns() + (uint64_t)ms * 1000000u,
				     .fn = fn,
				     .arg = arg };
	assert_int_equal(pthread_condattr_init(&ca), 0);
	assert_int_equal(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC), 0);
	assert_int_equal(pthread_cond_init(&w->cv, &ca), 0);
	pthread_condattr_destroy(&ca);
	assert_int_equal(pthread_mutex_init(&w->mu, NULL), 0);
	assert_int_equal(pthread_create(&w->th, NULL, watchdog_main, w), 0);
}

bool test_watchdog_stop(struct test_watchdog *w)
{
	bool fired;

	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	assert_int_equal(pthread_join(w->th, NULL), 0);
	fired = w->fired;
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	return fired;
}
