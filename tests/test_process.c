/* SPDX-License-Identifier: MIT */
/*
 * test_process.c - child processes (urt/process.h): an exit code, a death
 * by signal, stdout captured through a pipe, stdin fed through one, a
 * kill, descriptors not inherited (and inherited on request), a spawn
 * that fails leaving nothing open, and a task aborted mid-wait whose
 * child is killed and reaped (no zombie left). urt_read_all: stdout read
 * to its end (every test above), output longer than the buffer (cap
 * returned, nothing lost: read on in pieces), and the pipe trap (a wait
 * before the read never ends while the child writes more than the pipe
 * holds; closing the read end ends it). Every test runs on both
 * wait paths: IORING_OP_WAITID (where the kernel has it) and the pidfd
 * poll (URT_FEAT_WAITID in opts.features_off). Every test ends with
 * nothing live.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/test_support.h"
#include "urt/urt.h"

static uint32_t features_off; /* the path under test */

static void rt_init(struct urt_runtime *rt)
{
	test_runtime_init(rt, &(struct urt_runtime_opts){ .features_off = features_off });
	/* the path asked for is the path taken */
	if (features_off & URT_FEAT_WAITID)
		assert_false(test_stats(rt).features & URT_FEAT_WAITID);
}

/* Whether pid is no longer a child of ours (reaped: no zombie left). */
static bool gone(pid_t pid)
{
	siginfo_t si;

	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD;
}

/* --- one child, fed and read ---------------------------------------------------------- */

struct proc_state {
	struct urt_proc p;
	struct urt_io_all all;
	struct urt_op op;
	struct proc_state *home; /* the test's copy: what the task saw goes there */
	const char *feed;	 /* written to stdin, then closed; NULL: no stdin pipe */
	int kill_sig;		 /* sent at once if not 0 */
	int n, status;
	size_t got;
	char out[256];
};

static bool proc_poll(struct urt_task *t, void *arg)
{
	struct proc_state *st = arg;

	URT_BEGIN(t);
	if (st->kill_sig && urt_proc_kill(&st->p, st->kill_sig))
		URT_RETURN(t, 1);
	if (st->feed) {
		URT_AWAIT(t, st->n = urt_write_all(t, &st->all, st->p.in, st->feed,
						   strlen(st->feed), -1));
		if (st->n != (int)strlen(st->feed))
			URT_RETURN(t, 2);
		URT_AWAIT(t, st->n = urt_close(t, &st->op, st->p.in));
		st->p.in = -1;
	}
	if (st->p.out >= 0) { /* to the end of its stdout */
		URT_AWAIT(t, st->n = urt_read_all(t, &st->all, st->p.out, st->out,
						  sizeof(st->out) - 1));
		if (st->n < 0 ||
		    st->n == (int)sizeof(st->out) - 1) /* an error; more than expected */
			URT_RETURN(t, 3);
		st->got = (size_t)st->n;
	}
	URT_AWAIT(t, st->status = urt_proc_wait(t, &st->p));
	/* once reaped, the same answer again */
	st->home->status = st->status;
	st->home->got = st->got;
	memcpy(st->home->out, st->out, sizeof(st->out));
	if (urt_proc_wait(t, &st->p) != st->status || urt_proc_kill(&st->p, SIGTERM) != -ESRCH)
		URT_RETURN(t, 4);
	URT_RETURN(t, 0);
	URT_END(t);
}

static void proc_drop(struct urt_task *t, void *arg)
{
	struct proc_state *st = arg;

	(void)t;
	assert_int_equal(urt_proc_release(&st->p), 0); /* reaped by the wait: nothing to kill */
}

static const struct urt_task_type proc_type = { .poll = proc_poll,
						.drop = proc_drop,
						.name = "proc" };

/* Run argv to its end; its status, its stdout in out (NUL-ended). */
static int run_child(char *const *argv, const char *feed, int kill_sig, unsigned flags, char *out)
{
	struct urt_proc_opts o = { .file = argv[0], .argv = argv, .flags = flags };
	static struct proc_state st;
	struct urt_runtime rt;
	struct urt_join j;
	int fds = test_fd_count();

	st = (struct proc_state){ .home = &st, .feed = feed, .kill_sig = kill_sig };
	o.stdio[0] = feed ? URT_STDIO_PIPE : URT_STDIO_NULL;
	o.stdio[1] = URT_STDIO_PIPE;
	o.stdio[2] = URT_STDIO_INHERIT;
	rt_init(&rt);
	assert_int_equal(urt_proc_spawn(&st.p, &o), 0);
	assert_true(st.p.pid > 0 && st.p.pidfd >= 0 && st.p.out >= 0);
	assert_true(feed ? st.p.in >= 0 : st.p.in < 0);
	assert_int_equal(st.p.err, -1);
	/* every descriptor this side keeps is close-on-exec */
	assert_true(fcntl(st.p.pidfd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(st.p.out, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(urt_spawn(&rt, &proc_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&j), 0);
	test_runtime_end(&rt);
	assert_true(gone(st.p.pid));
	/* the task's copy closed its pipe ends; this copy's numbers are stale */
	assert_int_equal(test_fd_count(), fds);
	memcpy(out, st.out, sizeof(st.out));
	out[st.got] = '\0';
	return st.status;
}

static void test_exit_code(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "exit 7", NULL };
	char out[256];
	int s;

	(void)state;
	s = run_child(argv, NULL, 0, 0, out);
	assert_true(WIFEXITED(s));
	assert_int_equal(WEXITSTATUS(s), 7);
	assert_string_equal(out, "");
}

static void test_signal_death(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };
	char *sleeper[] = { "sleep", "30", NULL }; /* no '/': looked up in PATH */
	char out[256];
	int s;

	(void)state;
	s = run_child(argv, NULL, 0, 0, out);
	assert_true(WIFSIGNALED(s));
	assert_int_equal(WTERMSIG(s), SIGTERM);
	/* and one killed through urt_proc_kill */
	s = run_child(sleeper, NULL, SIGKILL, 0, out);
	assert_true(WIFSIGNALED(s));
	assert_int_equal(WTERMSIG(s), SIGKILL);
}

static void test_stdout_captured(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "echo hello; echo world", NULL };
	char out[256];
	int s;

	(void)state;
	s = run_child(argv, NULL, 0, 0, out);
	assert_true(WIFEXITED(s) && WEXITSTATUS(s) == 0);
	assert_string_equal(out, "hello\nworld\n");
}

static void test_stdin_fed(void **state)
{
	char *argv[] = { "/bin/sh", "-c", "tr a-z A-Z; exit 3", NULL };
	char out[256];
	int s;

	(void)state;
	s = run_child(argv, "fed through a pipe\n", 0, 0, out);
	assert_true(WIFEXITED(s));
	assert_int_equal(WEXITSTATUS(s), 3);
	assert_string_equal(out, "FED THROUGH A PIPE\n");
}

/* A descriptor without O_CLOEXEC is not inherited, but with URT_PROC_KEEP_FDS. */
static void test_descriptors_not_inherited(void **state)
{
	char cmd[64], out[256];
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	int fd = dup(2), s; /* dup: no O_CLOEXEC */

	(void)state;
	assert_true(fd > 2);
	snprintf(cmd, sizeof(cmd), "test -e /proc/self/fd/%d && echo open || echo closed", fd);
	s = run_child(argv, NULL, 0, 0, out);
	assert_true(WIFEXITED(s) && WEXITSTATUS(s) == 0);
	assert_string_equal(out, "closed\n");
	s = run_child(argv, NULL, 0, URT_PROC_KEEP_FDS, out);
	assert_string_equal(out, "open\n");
	close(fd);
}

static void test_spawn_fails_cleanly(void **state)
{
	char *argv[] = { "/nonexistent/program", NULL };
	char *bare[] = { "urt-no-such-program-here", NULL };
	struct urt_proc_opts o = { .file = argv[0], .argv = argv };
	struct urt_proc p;
	int fds = test_fd_count();

	(void)state;
	o.stdio[0] = o.stdio[1] = o.stdio[2] = URT_STDIO_PIPE;
	assert_int_equal(urt_proc_spawn(&p, &o), -ENOENT);
	assert_int_equal(p.pidfd, -1);
	assert_int_equal(p.in, -1);
	o.file = bare[0];
	o.argv = bare;
	assert_int_equal(urt_proc_spawn(&p, &o), -ENOENT);
	o.stdio[1] = 9;
	assert_int_equal(urt_proc_spawn(&p, &o), -EINVAL);
	o.argv = NULL;
	o.stdio[1] = 0;
	assert_int_equal(urt_proc_spawn(&p, &o), -EINVAL);
	assert_int_equal(test_fd_count(), fds);
	/* a struct that holds no child */
	assert_int_equal(urt_proc_kill(&p, SIGTERM), -ESRCH);
	assert_int_equal(urt_proc_release(&p), 0);
}

/* --- a task aborted while it waits ------------------------------------------------------ */

static int abort_release; /* what release said in the drop */

struct wait_state {
	struct urt_proc p;
	int status;
};

static bool wait_poll(struct urt_task *t, void *arg)
{
	struct wait_state *st = arg;

	URT_BEGIN(t);
	URT_AWAIT(t, st->status = urt_proc_wait(t, &st->p));
	URT_RETURN(t, 0);
	URT_END(t);
}

static void wait_drop(struct urt_task *t, void *arg)
{
	struct wait_state *st = arg;

	(void)t;
	assert_false(urt_op_busy(&st->p.op));
	abort_release = urt_proc_release(&st->p);
}

static const struct urt_task_type wait_type = { .poll = wait_poll,
						.drop = wait_drop,
						.name = "proc-wait" };

static void test_abort_mid_wait(void **state)
{
	char *argv[] = { "/bin/sleep", "30", NULL };
	struct urt_proc_opts o = { .file = argv[0], .argv = argv };
	struct wait_state st = { 0 };
	struct urt_runtime rt;
	struct urt_join j;
	int fds = test_fd_count();

	(void)state;
	abort_release = -1;
	rt_init(&rt);
	assert_int_equal(urt_proc_spawn(&st.p, &o), 0);
	assert_int_equal(urt_spawn(&rt, &wait_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_tick(&rt, 0), 1); /* the wait is in flight */
	assert_int_equal(urt_join_abort(&j), 0);
	assert_int_equal(urt_run(&rt), 0);
	assert_int_equal(abort_release, 1); /* it was running: killed */
	urt_join_detach(&j);
	/* reaped now (fallback) or by the runtime's own wait, with no task:
	 * ticks until it is back (bounded; the child was killed) */
	for (int i = 0; i < 1000 && test_stats(&rt).ops_inflight; i++)
		assert_true(urt_tick(&rt, 10 * 1000 * 1000) >= 0);
	assert_true(gone(st.p.pid));
	test_runtime_end(&rt);
	assert_int_equal(test_fd_count(), fds);
}

/* A wait cancelled by the task itself: the child runs on, and is waited for again. */
struct cancel_state {
	struct urt_proc p;
	struct urt_op nap;
	int first, status;
};

static bool cancel_poll(struct urt_task *t, void *arg)
{
	struct cancel_state *st = arg;

	URT_BEGIN(t);
	if (urt_proc_wait(t, &st->p) != URT_PENDING || urt_op_cancel(&st->p.op))
		URT_RETURN(t, 1);
	URT_AWAIT(t, st->first = urt_proc_wait(t, &st->p));
	if (st->first != -ECANCELED)
		URT_RETURN(t, 2);
	if (urt_proc_kill(&st->p, SIGUSR1))
		URT_RETURN(t, 3);
	URT_AWAIT(t, st->status = urt_proc_wait(t, &st->p));
	URT_RETURN(t, WIFSIGNALED(st->status) && WTERMSIG(st->status) == SIGUSR1 ? 0 : 4);
	URT_END(t);
}

static void cancel_drop(struct urt_task *t, void *arg)
{
	struct cancel_state *st = arg;

	(void)t;
	assert_int_equal(urt_proc_release(&st->p), 0);
}

static const struct urt_task_type cancel_type = { .poll = cancel_poll,
						  .drop = cancel_drop,
						  .name = "proc-cancel" };

static void test_wait_cancelled_then_again(void **state)
{
	char *argv[] = { "/bin/sleep", "30", NULL };
	struct urt_proc_opts o = { .file = argv[0], .argv = argv };
	static struct cancel_state st;
	struct urt_runtime rt;
	struct urt_join j;

	(void)state;
	st = (struct cancel_state){ .first = 0 };
	rt_init(&rt);
	assert_int_equal(urt_proc_spawn(&st.p, &o), 0);
	assert_int_equal(urt_spawn(&rt, &cancel_type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&j), 0);
	test_runtime_end(&rt);
	assert_true(gone(st.p.pid));
}

/* --- urt_read_all: more output than the buffer, and the pipe trap ----------------------- */

#define SEQ_N	"60000" /* seq 1 60000: 348,894 bytes, five times a pipe's 64 KiB */
#define SEQ_LEN 348894u
#define PIECE	4096u
#define MS	(1000ull * 1000)

/* What seq 1 60000 prints. */
static char *seq_text(void)
{
	char *s = malloc(SEQ_LEN + 16);
	size_t n = 0;

	assert_non_null(s);
	for (int i = 1; i <= 60000; i++)
		n += (size_t)sprintf(s + n, "%d\n", i);
	assert_int_equal(n, SEQ_LEN);
	return s;
}

/* The drop of both tasks below: their state (the test's, by pointer) starts with the child. */
static void seq_drop(struct urt_task *t, void *arg)
{
	(void)t;
	urt_proc_release(*(void **)arg);
}

/*
 * Spawn seq 1 60000 into *p, the first member of st, and run a task of
 * type on a pointer to st to its end: it returns 0, and nothing is left
 * live, no zombie, no descriptor.
 */
static void run_seq(void *st, struct urt_proc *p, const struct urt_task_type *type)
{
	char *argv[] = { "seq", "1", SEQ_N, NULL };
	struct urt_proc_opts o = { .file = argv[0],
				   .argv = argv,
				   .stdio = { URT_STDIO_NULL, URT_STDIO_PIPE, URT_STDIO_INHERIT } };
	struct urt_runtime rt;
	struct urt_join j;
	int fds = test_fd_count();

	assert_ptr_equal(st, p);
	rt_init(&rt);
	assert_int_equal(urt_proc_spawn(p, &o), 0);
	assert_int_equal(urt_spawn(&rt, type, &st, sizeof(st), &j), 0);
	assert_int_equal(urt_run(&rt), 0);
	test_assert_clean(&rt);
	assert_int_equal(test_take(&j), 0);
	test_runtime_end(&rt);
	assert_true(gone(p->pid));
	assert_int_equal(test_fd_count(), fds);
}

struct long_state {
	struct urt_proc p;
	struct urt_io_all all;
	char *buf; /* SEQ_LEN + PIECE bytes, the test's */
	int n, first, status;
	size_t got, pieces;
};

static bool long_poll(struct urt_task *t, void *arg)
{
	struct long_state *st = *(void **)arg;

	URT_BEGIN(t);
	/* a buffer too small: full, the rest left in the pipe */
	URT_AWAIT(t, st->first = urt_read_all(t, &st->all, st->p.out, st->buf, 1000));
	st->got = st->first > 0 ? (size_t)st->first : 0;
	/* then on, a piece at a time, until one comes back short: end of file */
	do {
		URT_AWAIT(t,
			  st->n = urt_read_all(t, &st->all, st->p.out, st->buf + st->got, PIECE));
		if (st->n < 0)
			URT_RETURN(t, 1);
		st->got += (size_t)st->n;
		st->pieces++;
	} while (st->n == (int)PIECE);
	URT_AWAIT(t, st->status = urt_proc_wait(t, &st->p));
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type long_type = { .poll = long_poll,
						.drop = seq_drop,
						.name = "proc-long" };

static void test_read_all_longer_than_buffer(void **state)
{
	struct long_state st = { 0 };
	char *want = seq_text();

	(void)state;
	st.buf = malloc(SEQ_LEN + PIECE);
	assert_non_null(st.buf);
	run_seq(&st, &st.p, &long_type);
	assert_int_equal(st.first, 1000);  /* full: cap, not an error */
	assert_int_equal(st.got, SEQ_LEN); /* nothing lost, in order */
	assert_memory_equal(st.buf, want, SEQ_LEN);
	assert_int_equal(st.pieces, (SEQ_LEN - 1000) / PIECE + 1);
	assert_true(WIFEXITED(st.status) && WEXITSTATUS(st.status) == 0);
	free(st.buf);
	free(want);
}

/*
 * The trap: the child writes more than the pipe holds, and the parent
 * awaits its exit before reading. The child blocks in write(2) and never
 * exits: a deadline on the wait shows it (and is how a program would
 * notice). The way out, having read what it wanted: close the read end,
 * so the child's next write fails (SIGPIPE, the default it starts with),
 * and the wait returns.
 */
struct trap_state {
	struct urt_proc p;
	struct urt_io_all all;
	struct urt_op op;
	int first, timed_out, n, closed, status;
	char buf[1000];
};

static bool trap_poll(struct urt_task *t, void *arg)
{
	struct trap_state *st = *(void **)arg;

	URT_BEGIN(t);
	urt_op_set_timeout(&st->p.op, 100 * MS);
	URT_AWAIT(t, st->first = urt_proc_wait(t, &st->p)); /* wrong: nobody reads */
	st->timed_out = urt_op_timed_out(&st->p.op);
	URT_AWAIT(t, st->n = urt_read_all(t, &st->all, st->p.out, st->buf, sizeof(st->buf)));
	URT_AWAIT(t, st->closed = urt_close(t, &st->op, st->p.out));
	st->p.out = -1;
	urt_op_set_timeout(&st->p.op, 10000 * MS); /* bounded, should the child hang */
	URT_AWAIT(t, st->status = urt_proc_wait(t, &st->p));
	URT_RETURN(t, 0);
	URT_END(t);
}

static const struct urt_task_type trap_type = { .poll = trap_poll,
						.drop = seq_drop,
						.name = "proc-trap" };

static void test_read_all_pipe_trap(void **state)
{
	struct trap_state st = { 0 };
	char *want = seq_text();

	(void)state;
	run_seq(&st, &st.p, &trap_type);
	assert_int_equal(st.first, -ECANCELED); /* the child could not exit */
	assert_true(st.timed_out);
	assert_int_equal(st.n, sizeof(st.buf));
	assert_memory_equal(st.buf, want, sizeof(st.buf));
	assert_int_equal(st.closed, 0);
	assert_true(WIFSIGNALED(st.status));
	assert_int_equal(WTERMSIG(st.status), SIGPIPE);
	free(want);
}

/* Each test on both paths: the ring's WAITID, then the pidfd poll. */
static int on_waitid(void **state)
{
	(void)state;
	features_off = 0;
	return 0;
}

static int on_fallback(void **state)
{
	(void)state;
	features_off = URT_FEAT_WAITID;
	return 0;
}

#define BOTH(f) cmocka_unit_test_setup(f, on_waitid), cmocka_unit_test_setup(f, on_fallback)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_exit_code),
		BOTH(test_signal_death),
		BOTH(test_stdout_captured),
		BOTH(test_stdin_fed),
		BOTH(test_descriptors_not_inherited),
		cmocka_unit_test(test_spawn_fails_cleanly),
		BOTH(test_abort_mid_wait),
		BOTH(test_wait_cancelled_then_again),
		BOTH(test_read_all_longer_than_buffer),
		BOTH(test_read_all_pipe_trap),
	};

	if (!test_has_feature(URT_FEAT_WAITID))
		print_message("no IORING_OP_WAITID here: both runs take the pidfd poll\n");
	/* a child must not be reaped behind the runtime's back */
	signal(SIGCHLD, SIG_DFL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
