/* SPDX-License-Identifier: MIT */
/*
 * sigtask.h - signals for a single-runtime example server: SIGINT, SIGTERM
 * and SIGUSR1 are blocked and read from a signalfd by a task, through the
 * ring, so the loop never runs a signal handler. SIGUSR1 calls on_usr1;
 * SIGINT and SIGTERM call on_stop and stop the run. Header-only.
 */
#ifndef URT_EXAMPLES_SIGTASK_H
#define URT_EXAMPLES_SIGTASK_H

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <urt/urt.h>

struct sigtask {
	int fd, ret;
	struct urt_op op;
	struct signalfd_siginfo si;
	void (*on_usr1)(void);
	void (*on_stop)(void);
};

static inline bool sigtask_poll(struct urt_task *t, void *arg)
{
	struct sigtask *s = (struct sigtask *)arg;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, s->ret = urt_read(t, &s->op, s->fd, &s->si, sizeof(s->si), -1));
		if (s->ret != (int)sizeof(s->si))
			break;
		if (s->si.ssi_signo == SIGUSR1) {
			s->on_usr1();
			continue;
		}
		s->on_stop();
		urt_stop(urt_runtime_current());
		break;
	}
	URT_END(t);
}

static const struct urt_task_type sigtask_type = { .poll = sigtask_poll, .name = "signals" };

/* Block the signals and spawn the task. Return: the signalfd (close it after
 * deinit); -1 on failure. */
static inline int sigtask_start(struct urt_runtime *rt, void (*on_usr1)(void),
				void (*on_stop)(void))
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (urt_spawn(rt, &sigtask_type,
		      &(struct sigtask){ .fd = fd, .on_usr1 = on_usr1, .on_stop = on_stop },
		      sizeof(struct sigtask), NULL)) {
		close(fd);
		return -1;
	}
	return fd;
}

#endif
