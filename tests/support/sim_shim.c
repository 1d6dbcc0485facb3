/* SPDX-License-Identifier: MIT */
/*
 * sim_shim.c - run an I/O suite, unchanged, on the simulated kernel.
 *
 * Linked into the second build of a suite (test_io_sim, ... : the same .c
 * file) with -Wl,--wrap for the calls below (tests/CMakeLists.txt, URT_SIM_WRAP).
 * Every runtime the suite makes gets a simulated kernel
 * (urt_runtime_opts.sim), and the suite's own calls outside the ring go to
 * the same model through its host calls (urt/sim.h):
 *
 * - socket, socketpair, pipe, pipe2, mkstemp, urt_listen_tcp make the
 *   model's descriptors (from URT_SIM_FD_BASE); open and unlink of a path
 *   under /tmp/ work on the model's file system (where /tmp exists);
 * - read, write, recv, send, connect, accept, accept4, shutdown, close,
 *   setsockopt, getsockopt and fcntl on a model's descriptor go to the
 *   model, on any other to libc (__real_*).
 *
 * One model serves a test: made at the first call that needs it (often a
 * socketpair before the runtime), given to each runtime the test makes in
 * turn, and destroyed once no runtime uses it and none of its descriptors
 * is open, or at the end of the test. A second runtime while one is live
 * gets a model of its own. Seeds: URT_SIM_SEED (default 1) for the first
 * model of the process, +1 for each next one, printed once; URT_SIM_TRACE
 * set prints every model's trace on stderr. At the end of
 * each test the shim fails it if the model still has descriptors open (a
 * leak) or if a runtime waited for ever with nothing to complete (a stall:
 * the real kernel would have hung).
 *
 * A case that needs what the model does not have yet is skipped by name
 * (skips[] below, with the reason), by wrapping cmocka's runner: the suite
 * stays unchanged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_support.h"
#include "urt/sim.h"
#include "urt/urt.h"

/* the __wrap_ functions have no header: the linker's --wrap calls them */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"

/* --- the cases the model cannot run yet -------------------------------------------- */

static const struct skip {
	const char *test, *why;
} skips[] = {
	{ "test_openat2_beneath", "symlinks and openat2's RESOLVE_BENEATH are not in the model" },
	{ "test_splice_file_pipe_socket", "IORING_OP_SPLICE is not in the model" },
	{ "test_accept_emfile_backs_off",
	  "RLIMIT_NOFILE does not bound the model's descriptors (URT_SIM_FAULT_EMFILE is how the "
	  "model fails an accept with -EMFILE)" },
	{ "test_lengths_of_4_gib",
	  "the model holds a large zero-copy send's notification until the peer has read the bytes "
	  "(as a kernel may), and the test's peer reads only once the send's await is over" },
};

/* --- the model of the test ----------------------------------------------------------- */

static struct urt_sim *cur;	   /* the test's model, or NULL */
static struct urt_runtime *cur_rt; /* the runtime on it, or NULL */
static uint64_t cur_stalls;
static unsigned nsims;

/* runtimes made while cur served another: each with a model of its own */
static struct {
	struct urt_runtime *rt;
	struct urt_sim *sim;
} own[8];

static struct urt_sim *sim_new(void)
{
	static uint64_t seed;
	static bool seeded;
	struct urt_sim *s;

	if (!seeded) {
		const char *env = getenv("URT_SIM_SEED");

		seed = env ? strtoull(env, NULL, 0) : 1;
		seeded = true;
		printf("sim: seed=%llu (replay with URT_SIM_SEED=%llu)\n", (unsigned long long)seed,
		       (unsigned long long)seed);
		fflush(stdout);
	}
	if (urt_sim_create(
		    &s, &(struct urt_sim_opts){ .seed = seed + nsims++,
						/* the suites were written against the
						 * kernel, which completes what is ready at
						 * submission: latencies within one enter's
						 * step (50-100 ns), so that what the kernel
						 * would have done by the next tick is done */
						.max_latency_ns = 50,
						.trace = getenv("URT_SIM_TRACE") ? stderr : NULL }))
		abort();
	/* the suites make their files under /tmp, as on a real system */
	if (urt_sim_mkdir(s, "/tmp", 01777))
		abort();
	return s;
}

static struct urt_sim *sim(void)
{
	if (!cur)
		cur = sim_new();
	return cur;
}

/* Check what a model shows at the end of its use. Return: 0; -1 (said why). */
static int sim_check(struct urt_sim *s, uint64_t stalls_before)
{
	uint64_t stalls = urt_sim_stalls(s) - stalls_before;
	uint32_t fds = urt_sim_fds_open(s);

	if (stalls)
		print_error("sim: a runtime waited for ever %llu time(s) with nothing that could "
			    "complete (the real kernel would hang)\n",
			    (unsigned long long)stalls);
	if (fds)
		print_error("sim: %u descriptor(s) of the model left open\n", fds);
	return stalls || fds ? -1 : 0;
}

/* The test's model goes once nothing uses it. */
static void sim_maybe_end(void)
{
	if (cur && !cur_rt && !urt_sim_fds_open(cur)) {
		urt_sim_destroy(cur);
		cur = NULL;
	}
}

/* A result of the model as libc returns it. */
static long ret_errno(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

static bool mine(int fd)
{
	return fd >= URT_SIM_FD_BASE;
}

static bool tmp_path(const char *path)
{
	return path && !strncmp(path, "/tmp/", 5);
}

/* --- the runtime --------------------------------------------------------------------------- */

int __real_urt_runtime_init(struct urt_runtime *rt, const struct urt_runtime_opts *opts);
int __real_urt_runtime_deinit(struct urt_runtime *rt);

int __wrap_urt_runtime_init(struct urt_runtime *rt, const struct urt_runtime_opts *opts)
{
	struct urt_runtime_opts o = opts ? *opts : (struct urt_runtime_opts){ 0 };
	unsigned k;
	int ret;

	if (o.sim) /* the suite's own model */
		return __real_urt_runtime_init(rt, opts);
	if (!cur_rt) {
		o.sim = sim();
		ret = __real_urt_runtime_init(rt, &o);
		if (!ret) {
			cur_rt = rt;
			cur_stalls = urt_sim_stalls(cur);
		} else {
			sim_maybe_end();
		}
		return ret;
	}
	for (k = 0; k < sizeof(own) / sizeof(own[0]) && own[k].rt; k++)
		;
	if (k == sizeof(own) / sizeof(own[0]))
		return -ENOMEM;
	o.sim = sim_new();
	ret = __real_urt_runtime_init(rt, &o);
	if (ret) {
		urt_sim_destroy(o.sim);
		return ret;
	}
	own[k].rt = rt;
	own[k].sim = o.sim;
	return 0;
}

int __wrap_urt_runtime_deinit(struct urt_runtime *rt)
{
	int ret = __real_urt_runtime_deinit(rt), bad = 0;

	if (rt == cur_rt) {
		cur_rt = NULL;
		if (urt_sim_stalls(cur) != cur_stalls)
			bad = sim_check(cur, cur_stalls);
		cur_stalls = urt_sim_stalls(cur);
		sim_maybe_end();
	} else {
		for (unsigned k = 0; k < sizeof(own) / sizeof(own[0]); k++) {
			if (own[k].rt != rt)
				continue;
			bad = sim_check(own[k].sim, 0);
			urt_sim_destroy(own[k].sim);
			own[k].rt = NULL;
			own[k].sim = NULL;
		}
	}
	if (bad)
		fail_msg("sim: the model's checks at urt_runtime_deinit failed");
	return ret;
}

int __real_urt_listen_tcp(const char *host, uint16_t port, int backlog, unsigned flags,
			  uint16_t *bound_port);

int __wrap_urt_listen_tcp(const char *host, uint16_t port, int backlog, unsigned flags,
			  uint16_t *bound_port)
{
	unsigned char addr[sizeof(struct in6_addr)];
	int domain = host && strchr(host, ':') ? AF_INET6 : AF_INET;

	(void)backlog, (void)flags;
	if (host && inet_pton(domain, host, addr) != 1)
		return -EINVAL;
	return urt_sim_listen(sim(), domain, port, bound_port);
}

/* --- descriptors ---------------------------------------------------------------------------- */

int __real_socket(int domain, int type, int protocol);
int __real_socketpair(int domain, int type, int protocol, int sv[2]);
int __real_pipe(int fd[2]);
int __real_pipe2(int fd[2], int flags);
int __real_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __real_accept(int fd, struct sockaddr *sa, socklen_t *len);
int __real_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __real_recv(int fd, void *buf, size_t n, int flags);
ssize_t __real_send(int fd, const void *buf, size_t n, int flags);
int __real_shutdown(int fd, int how);
int __real_close(int fd);
int __real_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int __real_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int __real_fcntl(int fd, int cmd, ...);
int __real_open(const char *path, int flags, ...);
int __real_unlink(const char *path);
int __real_mkstemp(char *tmpl);

int __wrap_socket(int domain, int type, int protocol)
{
	(void)protocol;
	return (int)ret_errno(urt_sim_socket(sim(), domain, type));
}

int __wrap_socketpair(int domain, int type, int protocol, int sv[2])
{
	(void)protocol;
	if (domain != AF_UNIX)
		return (int)ret_errno(-EOPNOTSUPP); /* as the kernel answers AF_INET */
	return (int)ret_errno(urt_sim_socketpair(sim(), type, sv));
}

int __wrap_pipe2(int fd[2], int flags)
{
	return (int)ret_errno(urt_sim_pipe(sim(), flags, fd));
}

int __wrap_pipe(int fd[2])
{
	return __wrap_pipe2(fd, 0);
}

int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (!mine(fd))
		return __real_connect(fd, sa, len);
	return (int)ret_errno(cur ? urt_sim_connect(cur, fd, sa, len) : -EBADF);
}

int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	if (!mine(fd))
		return __real_accept4(fd, sa, len, flags);
	if (sa && len)
		*len = 0; /* the peer's address is not given (the suites pass none) */
	return (int)ret_errno(cur ? urt_sim_accept(cur, fd, flags) : -EBADF);
}

int __wrap_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	if (!mine(fd))
		return __real_accept(fd, sa, len);
	return __wrap_accept4(fd, sa, len, 0);
}

ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
	if (!mine(fd))
		return __real_recv(fd, buf, n, flags);
	return ret_errno(cur ? urt_sim_read(cur, fd, buf, n, flags) : -EBADF);
}

ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
	if (!mine(fd))
		return __real_send(fd, buf, n, flags);
	return ret_errno(cur ? urt_sim_write(cur, fd, buf, n, flags) : -EBADF);
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	if (!mine(fd))
		return __real_read(fd, buf, n);
	return ret_errno(cur ? urt_sim_read(cur, fd, buf, n, 0) : -EBADF);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	if (!mine(fd))
		return __real_write(fd, buf, n);
	return ret_errno(cur ? urt_sim_write(cur, fd, buf, n, 0) : -EBADF);
}

int __wrap_shutdown(int fd, int how)
{
	if (!mine(fd))
		return __real_shutdown(fd, how);
	return (int)ret_errno(cur ? urt_sim_shutdown(cur, fd, how) : -EBADF);
}

int __wrap_close(int fd)
{
	int ret;

	if (!mine(fd))
		return __real_close(fd);
	ret = cur ? urt_sim_close(cur, fd) : -EBADF;
	sim_maybe_end();
	return (int)ret_errno(ret);
}

int __wrap_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	if (!mine(fd))
		return __real_setsockopt(fd, level, name, val, len);
	return (int)ret_errno(cur ? urt_sim_setsockopt(cur, fd, level, name, val, len) : -EBADF);
}

int __wrap_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (!mine(fd))
		return __real_getsockopt(fd, level, name, val, len);
	return (int)ret_errno(-ENOPROTOOPT);
}

int __wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;
	int nb;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (!mine(fd))
		return __real_fcntl(fd, cmd, arg);
	if (!cur)
		return (int)ret_errno(-EBADF);
	switch (cmd) {
	case F_GETFD:
		return FD_CLOEXEC;
	case F_SETFD:
		return 0;
	case F_GETFL:
		nb = urt_sim_nonblock(cur, fd, -1);
		return nb < 0 ? (int)ret_errno(nb) : O_RDWR | (nb ? O_NONBLOCK : 0);
	case F_SETFL:
		nb = urt_sim_nonblock(cur, fd, !!(arg & O_NONBLOCK));
		return nb < 0 ? (int)ret_errno(nb) : 0;
	default:
		return (int)ret_errno(-EINVAL);
	}
}

int __wrap_open(const char *path, int flags, ...)
{
	unsigned mode = 0;
	va_list ap;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_start(ap, flags);
		mode = va_arg(ap, unsigned);
		va_end(ap);
	}
	if (!tmp_path(path))
		return __real_open(path, flags, mode);
	return (int)ret_errno(urt_sim_open(sim(), path, flags, mode));
}

int __wrap_unlink(const char *path)
{
	if (!tmp_path(path))
		return __real_unlink(path);
	return (int)ret_errno(cur ? urt_sim_unlink(cur, path, 0) : -ENOENT);
}

/* mkstemp on the model's file system: XXXXXX from a counter (the run
 * stays a function of its seed). */
int __wrap_mkstemp(char *tmpl)
{
	static unsigned long n;
	size_t len = tmpl ? strlen(tmpl) : 0;
	int fd;

	if (len < 6 || strcmp(tmpl + len - 6, "XXXXXX"))
		return (int)ret_errno(-EINVAL);
	do {
		snprintf(tmpl + len - 6, 7, "%06lu", n++ % 1000000);
		fd = urt_sim_open(sim(), tmpl, O_RDWR | O_CREAT | O_EXCL, 0600);
	} while (fd == -EEXIST);
	return (int)ret_errno(fd);
}

/* --- cmocka: the end of each test, and the skipped cases --------------------------------- */

static void skipped(void **state)
{
	const struct skip *k = *state;

	print_message("sim: %s skipped: %s\n", k->test, k->why);
	skip();
}

/*
 * After each test (test_run_group's check first): the test's model must be
 * left with nothing open. A runtime that a failed test left behind was let
 * go by that check: its model and those of its own runtimes are dropped
 * unchecked, and leaked, since the runtime still points at them.
 */
static int after_test(void **state)
{
	int bad = 0;

	(void)state;
	if (cur_rt && urt_runtime_current() != cur_rt) {
		cur_rt = NULL;
		cur = NULL;
		memset(own, 0, sizeof(own));
	}
	if (cur && !cur_rt) {
		bad = sim_check(cur, cur_stalls);
		urt_sim_destroy(cur);
		cur = NULL;
		cur_stalls = 0;
	}
	return bad;
}

int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
				   const size_t num_tests, CMFixtureFunction group_setup,
				   CMFixtureFunction group_teardown)
{
	struct CMUnitTest *t = calloc(num_tests ? num_tests : 1, sizeof(*t));
	int ret;

	if (!t)
		abort();
	for (size_t i = 0; i < num_tests; i++) {
		t[i] = tests[i];
		for (size_t k = 0; k < sizeof(skips) / sizeof(skips[0]); k++) {
			if (strcmp(t[i].name, skips[k].test))
				continue;
			t[i] = (struct CMUnitTest){ .name = tests[i].name,
						    .test_func = skipped,
						    .initial_state = (void *)&skips[k] };
		}
	}
	ret = test_run_group(group_name, t, num_tests, group_setup, group_teardown, after_test);
	free(t);
	return ret;
}
