/* SPDX-License-Identifier: MIT */
/*
 * acceptor.h - the accept loop the example servers share: a task on a
 * multishot accept stream that hands each new connection to on_conn, which
 * spawns its task (or refuses: then the descriptor is closed). EMFILE and
 * ENFILE are reported once and the stream backs off by itself, so they
 * are skipped. It ends when *stop is set (checked per connection) or the
 * stream ends. Header-only.
 */
#ifndef URT_EXAMPLES_ACCEPTOR_H
#define URT_EXAMPLES_ACCEPTOR_H

#include <errno.h>
#include <unistd.h>

#include <urt/urt.h>

struct acceptor {
	int lfd, fd;
	struct urt_op acc;
	const bool *stop;
	int (*on_conn)(int fd); /* 0: taken; < 0: refused (the fd is closed) */
};

static inline bool acceptor_poll(struct urt_task *t, void *arg)
{
	struct acceptor *a = (struct acceptor *)arg;

	URT_BEGIN(t);
	while (!*a->stop) {
		URT_AWAIT(t, a->fd = urt_accept_stream(t, &a->acc, a->lfd));
		if (a->fd == -EMFILE || a->fd == -ENFILE)
			continue; /* the stream backs off by itself */
		if (a->fd < 0)
			break;
		if (a->on_conn(a->fd) < 0)
			close(a->fd);
	}
	URT_END(t);
}

static const struct urt_task_type acceptor_type = { .poll = acceptor_poll, .name = "acceptor" };

/* Spawn the accept loop on lfd. Return: 0; -errno from the spawn. */
static inline int acceptor_start(struct urt_runtime *rt, int lfd, const bool *stop,
				 int (*on_conn)(int fd))
{
	return urt_spawn(rt, &acceptor_type,
			 &(struct acceptor){ .lfd = lfd, .stop = stop, .on_conn = on_conn },
			 sizeof(struct acceptor), NULL);
}

#endif
