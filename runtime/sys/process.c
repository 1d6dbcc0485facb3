/* SPDX-License-Identifier: MIT */
/*
 * process.c - child processes: posix_spawn with pipes, and the wait
 * through the ring.
 *
 * Every child gets a pidfd at once (pidfd_open after posix_spawn: the
 * child cannot be reaped in between, since only its wait or release reaps
 * it), and every later step names the child by it: the wait, the kill,
 * the reap. A pid alone could be reused once reaped; a pidfd cannot.
 *
 * The wait has two paths, chosen by URT_FEAT_WAITID (probed in ring.c,
 * switched off by opts.features_off for the tests of the other):
 *   WAITID:   one IORING_OP_WAITID(P_PIDFD, WEXITED) into p->info; its
 *             completion is the reap.
 *   fallback: IORING_OP_POLL_ADD(pidfd, POLLIN), which fires when the
 *             child has exited, then waitid(P_PIDFD, WEXITED | WNOHANG)
 *             here (a poll result with no exit yet polls again).
 * The opcode is newer than liburing 2.3: the SQE is prepared by hand
 * (fields as the kernel's io_waitid_prep reads them).
 *
 * Release of a child never reaped: SIGKILL, then reap now if it is gone
 * already, else later: a runtime-owned WAITID with no task (user_data 0,
 * counted in flight, so deinit waits for it), or on the fallback path a
 * blocking waitid for the killed child (its teardown only: SIGKILL cannot
 * be caught or ignored). See urt/process.h.
 */
#include "../io/io_internal.h"
#include "urt/process.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

extern char **environ;

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int pidfd_kill(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* The wait status waitpid(2) would give, from waitid's siginfo. */
static int status_of(const siginfo_t *si)
{
	switch (si->si_code) {
	case CLD_EXITED:
		return (si->si_status & 0xff) << 8;
	case CLD_DUMPED:
		return (si->si_status & 0x7f) | 0x80;
	default: /* CLD_KILLED */
		return si->si_status & 0x7f;
	}
}

/* The child is reaped: keep its status, let go of the pidfd. */
static int reaped(struct urt_proc *p, const siginfo_t *si)
{
	p->status = status_of(si);
	p->reaped = 1;
	close(p->pidfd);
	p->pidfd = -1;
	return p->status;
}

/* Reap without waiting. Return: 1 reaped; 0 still running; -errno. */
static int reap_nohang(struct urt_proc *p)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG))
		return -errno;
	if (!si.si_pid)
		return 0;
	reaped(p, &si);
	return 1;
}

/* --- spawn ------------------------------------------------------------------------ */

/* A pipe whose ends are not 0-2 (dup2 onto itself would keep O_CLOEXEC). */
static int pipe_high(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	for (int i = 0; i < 2; i++) {
		if (fds[i] <= 2) {
			int hi = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);

			if (hi < 0) {
				int ret = -errno;

				close(fds[0]);
				close(fds[1]);
				return ret;
			}
			close(fds[i]);
			fds[i] = hi;
		}
	}
	return 0;
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* The child's file actions: stdio, closefrom(3), the directory. */
static int file_actions(posix_spawn_file_actions_t *fa, const struct urt_proc_opts *o,
			int pipes[3][2])
{
	int ret = 0;

	for (int i = 0; i < 3 && !ret; i++) {
		if (o->stdio[i] == URT_STDIO_PIPE) /* the child's end: read stdin, write 1, 2 */
			ret = posix_spawn_file_actions_adddup2(fa, pipes[i][i == 0 ? 0 : 1], i);
		else if (o->stdio[i] == URT_STDIO_NULL)
			ret = posix_spawn_file_actions_addopen(fa, i, "/dev/null",
							       i == 0 ? O_RDONLY : O_WRONLY, 0);
	}
	if (!ret && !(o->flags & URT_PROC_KEEP_FDS))
		ret = posix_spawn_file_actions_addclosefrom_np(fa, 3);
	if (!ret && o->cwd)
		ret = posix_spawn_file_actions_addchdir_np(fa, o->cwd);
	return ret;
}

/* Run it: default signal actions, nothing blocked. Return: 0; an errno. */
static int start(pid_t *pid, const struct urt_proc_opts *o, posix_spawn_file_actions_t *fa)
{
	posix_spawnattr_t at;
	sigset_t none, all;
	int ret;

	sigemptyset(&none);
	sigfillset(&all);
	ret = posix_spawnattr_init(&at);
	if (ret)
		return ret;
	ret = posix_spawnattr_setsigmask(&at, &none);
	if (!ret)
		ret = posix_spawnattr_setsigdefault(&at, &all);
	if (!ret)
		ret = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!ret)
		ret = (strchr(o->file, '/') ? posix_spawn : posix_spawnp)(
			pid, o->file, fa, &at, o->argv, o->envp ? o->envp : environ);
	posix_spawnattr_destroy(&at);
	return ret;
}

int urt_proc_spawn(struct urt_proc *p, const struct urt_proc_opts *o)
{
	int pipes[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } };
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int ret = 0;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->pidfd = p->in = p->out = p->err = -1;
	p->live = 1; /* from here on release closes what is not -1 */
	if (!o || !o->file || !o->argv)
		return -EINVAL;
	for (int i = 0; i < 3; i++)
		if (o->stdio[i] > URT_STDIO_NULL)
			return -EINVAL;
	if (urt__simulated(urt__rt)) /* a child is a process beside the model */
		return -EOPNOTSUPP;
	for (int i = 0; i < 3; i++)
		if (o->stdio[i] == URT_STDIO_PIPE && (ret = pipe_high(pipes[i])))
			goto out;
	ret = -posix_spawn_file_actions_init(&fa);
	if (ret)
		goto out;
	ret = -file_actions(&fa, o, pipes);
	if (!ret)
		ret = -start(&pid, o, &fa);
	posix_spawn_file_actions_destroy(&fa);
	if (ret)
		goto out;
	p->pid = pid;
	p->pidfd = pidfd_open(pid);
	if (p->pidfd < 0) { /* unsupervised it may not run: end it */
		ret = -errno;
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		p->pid = -1;
		goto out;
	}
	p->in = pipes[0][1], pipes[0][1] = -1;
	p->out = pipes[1][0], pipes[1][0] = -1;
	p->err = pipes[2][0], pipes[2][0] = -1;
out:
	close_fds(&pipes[0][0], 6); /* the child's ends, and all on failure */
	return ret;
}

/* --- wait --------------------------------------------------------------------------- */

static void prep_waitid(struct io_uring_sqe *sqe, int idtype, int id, siginfo_t *info)
{
	io_uring_prep_rw(URT__OP_WAITID, sqe, id, NULL, (unsigned)idtype, 0);
	sqe->file_index = WEXITED; /* the options */
	sqe->addr2 = (uint64_t)(uintptr_t)info;
}

int urt_proc_wait(struct urt_task *t, struct urt_proc *p)
{
	struct urt_runtime *rt = urt__rt;
	struct urt__sub s = { 0 };
	int ret;

	if (p->reaped)
		return p->status;
	if (p->pidfd < 0)
		return -EBADF;
	if (rt && (rt->stats.features & URT_FEAT_WAITID)) {
		ret = urt__op_begin(t, &p->op, &p->info, sizeof(p->info), &s);
		if (ret == URT__SUBMIT) {
			memset(&p->info, 0, sizeof(p->info));
			prep_waitid(s.sqe, P_PIDFD, p->pidfd, &p->info);
			return urt__op_commit(&p->op, &s);
		}
		return ret ? ret : reaped(p, &p->info);
	}
	for (;;) {
		ret = urt_poll(t, &p->op, p->pidfd, POLLIN);
		if (ret == URT_PENDING || ret < 0)
			return ret;
		ret = reap_nohang(p);
		if (ret)
			return ret < 0 ? ret : p->status;
	}
}

int urt_proc_kill(struct urt_proc *p, int sig)
{
	if (p->reaped || p->pidfd < 0)
		return -ESRCH;
	return pidfd_kill(p->pidfd, sig) ? -errno : 0;
}

/* The killed child is not gone yet: reap it once it is (see the top). */
static void reap_later(struct urt_proc *p)
{
	static siginfo_t sink; /* the kernel's answer, read by nobody */
	struct urt_runtime *rt = urt__rt;
	siginfo_t si;

	if (rt && (rt->stats.features & URT_FEAT_WAITID)) {
		struct io_uring_sqe *sqe;

		urt__sq_reserve(rt, 1);
		sqe = io_uring_get_sqe(urt__ring(rt));
		/* by pid: the pidfd is closed before the SQE is issued, and the
		 * pid stays ours until this very wait reaps it */
		prep_waitid(sqe, P_PID, p->pid, &sink);
		io_uring_sqe_set_data64(sqe, URT__UD_IGNORE);
		rt->ring_pending++;
		rt->ring_inflight++;
		return;
	}
	while (waitid((idtype_t)P_PIDFD, (id_t)p->pidfd, &si, WEXITED) && errno == EINTR)
		;
}

int urt_proc_release(struct urt_proc *p)
{
	int killed = 0;

	if (!p->live)
		return 0; /* zeroed: never spawned (0 would be stdin, not a pipe) */
	if (p->op.state == URT_OP_INFLIGHT)
		return -EBUSY;
	close_fds(&p->in, 3);
	/* reaped already by a wait that completed after an abort, or exited
	 * on its own: nothing to kill */
	if (!p->reaped && p->pidfd >= 0 && reap_nohang(p) == 0) {
		killed = pidfd_kill(p->pidfd, SIGKILL) == 0;
		if (reap_nohang(p) == 0)
			reap_later(p);
	}
	if (p->pidfd >= 0) {
		close(p->pidfd);
		p->pidfd = -1;
	}
	p->op.state = URT_OP_IDLE; /* a late result is moot now */
	return killed;
}
