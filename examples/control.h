/* SPDX-License-Identifier: MIT */
/*
 * control.h - a server of several runtimes, one per thread, steered by its
 * main thread: the main thread blocks SIGINT, SIGTERM and SIGUSR1 before
 * it starts the threads (control_block_signals) and takes them with
 * control_next_signal; it passes them on as one byte down each runtime's
 * control pipe, which a task of that runtime reads through the ring: 'r'
 * calls on_stats (on the runtime's thread), 's' or the pipe's end sets
 * *stop and stops the run. No runtime thread ever runs a signal handler.
 * Header-only.
 */
#ifndef URT_EXAMPLES_CONTROL_H
#define URT_EXAMPLES_CONTROL_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <urt/urt.h>

struct control {
	int fd, n;
	char cmd;
	struct urt_op op;
	bool *stop;
	void (*on_stats)(void *arg);
	void *arg;
};

static inline bool control_poll(struct urt_task *t, void *state)
{
	struct control *c = (struct control *)state;

	URT_BEGIN(t);
	for (;;) {
		URT_AWAIT(t, c->n = urt_read(t, &c->op, c->fd, &c->cmd, 1, -1));
		if (c->n != 1 || c->cmd == 's')
			break;
		if (c->cmd == 'r')
			c->on_stats(c->arg);
	}
	*c->stop = true;
	urt_stop(urt_runtime_current());
	URT_END(t);
}

static const struct urt_task_type control_type = { .poll = control_poll, .name = "control" };

/* Spawn the task reading fd on rt. Return: 0; -errno from the spawn. */
static inline int control_start(struct urt_runtime *rt, int fd, bool *stop,
				void (*on_stats)(void *arg), void *arg)
{
	return urt_spawn(rt, &control_type,
			 &(struct control){ .fd = fd, .stop = stop, .on_stats = on_stats, .arg = arg },
			 sizeof(struct control), NULL);
}

/* Block the signals in this thread and the threads it starts after; ignore
 * SIGPIPE (a peer gone is an error result, not a signal). */
static inline void control_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Send cmd ('r' or 's') down a runtime's control pipe (its write end, fd);
 * a failure is said on stderr under prog's name. Context: the main thread. */
static inline void control_send(const char *prog, int fd, char cmd)
{
	if (write(fd, &cmd, 1) != 1)
		fprintf(stderr, "%s: control pipe: %m\n", prog);
}

/* Wait for one of the blocked signals. Return: its number. */
static inline int control_next_signal(const sigset_t *set)
{
	int sig;

	while (sigwait(set, &sig))
		;
	return sig;
}

#endif
