/* SPDX-License-Identifier: MIT */
/*
 * urt/process.h - child processes: spawn one (posix_spawn), talk to it
 * through pipes the ordinary operations use (urt_read, urt_write,
 * urt_close; urt_read_all to read one to its end, urt_write_all to feed
 * one), and await its exit. A child's whole output, then its status:
 *
 *	URT_AWAIT(t, st->n = urt_read_all(t, &st->io, st->p.out, st->buf, sizeof(st->buf)));
 *	URT_AWAIT(t, st->status = urt_proc_wait(t, &st->p));
 *	if (st->status >= 0 && WIFEXITED(st->status)) ... WEXITSTATUS(st->status)
 *
 * urt_read_all returns less than sizeof(st->buf) at the end of the
 * output; exactly sizeof(st->buf) if the buffer filled first, the rest
 * still in the pipe (nothing is lost: read on, into more room or a
 * scratch buffer, until a call returns less than it was given).
 *
 * The pipe trap: read before awaiting the exit. A pipe holds 64 KiB; a
 * child that writes more blocks in write(2) until someone reads, so a
 * wait issued first, with the read to come after it, never returns (a
 * deadline on p->op ends it with -ECANCELED; the child is still stuck).
 * A task that has read all it wants of a longer output closes p->out
 * (urt_close) before the wait: the child's next write fails, and it dies
 * of SIGPIPE (the default it starts with) unless it ignores that and
 * handles EPIPE itself. With stdout and stderr both pipes, read
 * them side by side (URT_AWAIT_ANY over two urt_read_all, each with its
 * own handle), or send stderr to URT_STDIO_NULL or URT_STDIO_INHERIT: a
 * child blocked on a full stderr never finishes its stdout either.
 *
 * A struct urt_proc lives in the task's state (it must not move while the
 * wait is in flight: the kernel writes into it). The wait goes through the
 * ring: IORING_OP_WAITID where the kernel has it (Linux 6.7,
 * URT_FEAT_WAITID), else a poll of the child's pidfd followed by
 * waitid(P_PIDFD, WNOHANG). Either way the runtime's thread never blocks
 * on the child.
 *
 * Who reaps: the wait does, once; urt_proc_release does for a child whose
 * wait never returned (an aborted task's drop). Policy for such a child:
 * it is killed (SIGKILL through its pidfd, never a reused pid) and reaped
 * as soon as it is gone, with no task waiting: through the ring where
 * IORING_OP_WAITID is used (deinit waits for it), else by a waitid on
 * the runtime's thread, which waits only for the killed child's teardown.
 * No child of urt_proc_spawn is left a zombie, nor runs on unsupervised.
 * A program that wants a child to outlive the task must not use these
 * calls for it.
 *
 * The program must leave SIGCHLD's disposition alone (not SIG_IGN: the
 * kernel would reap children itself and every wait would fail with
 * -ECHILD) and must not reap urt's children with wait(-1) / waitpid(-1).
 * Context: the runtime's thread for the awaitables; any thread for spawn.
 */
#ifndef URT_PROCESS_H
#define URT_PROCESS_H

#if defined(__STRICT_ANSI__) && !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE) &&              \
	!defined(_XOPEN_SOURCE) && !defined(_DEFAULT_SOURCE)
#error "urt/process.h needs POSIX (siginfo_t): compile with -std=gnu11, or define _GNU_SOURCE before the first #include"
#endif

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "urt/io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a child's stdin, stdout or stderr is (urt_proc_opts.stdio[i]). */
#define URT_STDIO_INHERIT 0 /* this process's descriptor 0, 1 or 2 */
#define URT_STDIO_PIPE	  1 /* a pipe; this process's end in p->in / out / err */
#define URT_STDIO_NULL	  2 /* /dev/null */

#define URT_PROC_KEEP_FDS 0x1u /* the child inherits descriptors >= 3 that lack O_CLOEXEC */

struct urt_proc_opts {
	const char *file;  /* the program: a path, or a name looked up in PATH if it has no '/' */
	char *const *argv; /* its arguments, argv[0] first, NULL-terminated */
	char *const *envp; /* its environment; NULL: this process's (environ) */
	const char *cwd;   /* its working directory; NULL: this process's */
	uint8_t stdio[3];  /* URT_STDIO_* for its stdin, stdout, stderr */
	unsigned flags;	   /* URT_PROC_* */
};

/* A child process; urt_proc_spawn fills it. */
struct urt_proc {
	struct urt_op op; /* the wait */
	siginfo_t info;	  /* the kernel's answer to the wait */
	pid_t pid;
	int pidfd;  /* -1 once reaped */
	int in;	    /* write end of its stdin pipe; -1 if not a pipe */
	int out;    /* read end of its stdout pipe; -1 if not a pipe */
	int err;    /* read end of its stderr pipe; -1 if not a pipe */
	int status; /* once reaped: the wait status (WIFEXITED, WEXITSTATUS, ...) */
	uint8_t reaped;
	uint8_t live; /* set by a spawn: a zeroed struct holds nothing (release is a no-op) */
	uint8_t spare[2];
};

/*
 * urt_proc_spawn - start o->file with o->argv (posix_spawn; the calling
 * thread waits only until the child has called exec). The child starts
 * with every signal at its default action and none blocked (whatever this
 * thread blocks, say for a signal stream), descriptors 0-2 as o->stdio
 * says, and no other descriptor (closefrom(3) in the child) unless
 * URT_PROC_KEEP_FDS. Every descriptor this side keeps (the pipe ends, the
 * pidfd) is O_CLOEXEC, so a later child does not inherit them; pipe ends
 * are blocking descriptors, which the ring's read and write handle
 * without blocking the thread.
 * Return: 0 with *p filled; -EINVAL (no file or argv, a stdio value
 * other than URT_STDIO_*); -ENOENT, -EACCES, -ENOEXEC, -E2BIG (exec
 * failed: the child never ran, nothing is left to reap); -EMFILE /
 * -ENFILE (no descriptors for the pipes or the pidfd); -EAGAIN (the
 * process limit); -ENOSYS (a kernel without pidfd_open, before 5.3);
 * -EOPNOTSUPP (called on the thread of a runtime on the simulated
 * kernel, urt/sim.h: a child is not part of the model); -errno. On failure nothing is left open and
 * no child runs. Context: any thread.
 */
int urt_proc_spawn(struct urt_proc *p, const struct urt_proc_opts *o);

/*
 * urt_proc_wait - awaitable: the child's exit, reaping it. The pipes are
 * not touched: a child blocked writing a full stdout pipe does not exit
 * until someone reads it (read it to its end first, urt_read_all, or
 * beside the wait with URT_AWAIT_ANY, or in another task; or close it:
 * the pipe trap, at the top).
 * Return: the wait status (>= 0: WIFEXITED / WEXITSTATUS for an exit,
 * WIFSIGNALED / WTERMSIG / WCOREDUMP for a death by signal); the same
 * again on every later call once reaped; -ECANCELED (urt_op_cancel(&p->op)
 * or a deadline on p->op: the child runs on and may be waited for again);
 * -ECHILD (not a child, or reaped by someone else: SIGCHLD ignored, a
 * wait(-1) elsewhere); -EBADF if p holds no child; the extra errors of
 * urt/io.h.
 */
int urt_proc_wait(struct urt_task *t, struct urt_proc *p);

/*
 * urt_proc_kill - send sig to the child through its pidfd
 * (pidfd_send_signal: never to another process that reused the pid).
 * Return: 0; -ESRCH (it has been reaped); -EINVAL (a bad signal); -errno.
 * Context: any thread that does not race urt_proc_wait's reaping.
 */
int urt_proc_kill(struct urt_proc *p, int sig);

/*
 * urt_proc_release - close what p holds: the pipe ends left open, and,
 * if the child was never reaped (its wait never returned), kill and reap
 * it (the policy above). For the task's drop, or once the wait returned.
 * Safe on a zeroed struct (a task aborted before it spawned): nothing is
 * closed. Idempotent.
 * Return: 0; 1 if the child had to be killed; -EBUSY (nothing done) if
 * its wait is still in flight: call it from drop, which runs after.
 * Context: the runtime's thread (a runtime is needed for the reap through
 * the ring; without one the reap is a waitid on this thread).
 */
int urt_proc_release(struct urt_proc *p);

#ifdef __cplusplus
}
#endif

#endif /* URT_PROCESS_H */
