/* SPDX-License-Identifier: MIT */
/*
 * host.c - the program's own calls on the model, outside the ring
 * (urt/sim.h: urt_sim_socketpair, urt_sim_connect, urt_sim_read, ...): what
 * a test does with socketpair(2), connect(2) or write(2) on the real kernel,
 * done on the simulated kernel's descriptors.
 *
 * Each call runs at once, synchronously: nothing else runs while it does
 * (the runtime's operations run only inside its enters), so a call that
 * would block on the real kernel cannot wait for the runtime here. It
 * returns what there is; with nothing, -EAGAIN if the descriptor is
 * non-blocking (or MSG_DONTWAIT), and -EDEADLK if it blocks: it would wait
 * for ever. What it changes wakes the model's parked operations, whose
 * completions come with the runtime's next enter, after their latency.
 * Each call is mixed into the run's hash and traced, so a run that makes
 * them replays from its seed as well.
 */
#include "sim_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>

/* The call (what, fd, its result) is part of the run. */
static long host_event(struct urt_sim *s, uint32_t what, int fd, long res)
{
	s->events++;
	urt__sim_mix(s, (uint64_t)0x4057u << 48 | (uint64_t)what << 32 | (uint32_t)fd);
	urt__sim_mix(s, (uint64_t)res);
	if (s->trace)
		fprintf(s->trace, "%llu host call=%u fd=%d res=%ld hash=%016llx\n",
			(unsigned long long)s->now, what, fd, res, (unsigned long long)s->hash);
	return res;
}

enum {
	H_SOCKET = 1,
	H_PAIR,
	H_PIPE,
	H_LISTEN,
	H_CONNECT,
	H_ACCEPT,
	H_READ,
	H_WRITE,
	H_SHUTDOWN,
	H_CLOSE,
	H_OPEN,
	H_MKDIR,
	H_UNLINK,
	H_NONBLOCK,
	H_SETSOCKOPT,
};

int urt_sim_socket(struct urt_sim *sim, int domain, int type)
{
	if (!sim)
		return -EINVAL;
	return (int)host_event(sim, H_SOCKET, domain, urt__sim_socket(sim, domain, type, 0));
}

int urt_sim_socketpair(struct urt_sim *sim, int type, int fd[2])
{
	if (!sim || !fd)
		return -EINVAL;
	if ((type & 0xf) != SOCK_STREAM)
		return -EAFNOSUPPORT; /* datagrams are not in the model yet */
	urt__sim_host_pair(sim, AF_UNIX, false, type & SOCK_NONBLOCK, fd);
	return (int)host_event(sim, H_PAIR, fd[0], 0);
}

int urt_sim_pipe(struct urt_sim *sim, int flags, int fd[2])
{
	if (!sim || !fd)
		return -EINVAL;
	if (flags & ~(O_NONBLOCK | O_CLOEXEC))
		return -EINVAL; /* O_DIRECT (packets) is not in the model */
	urt__sim_host_pair(sim, AF_UNIX, true, flags & O_NONBLOCK, fd);
	return (int)host_event(sim, H_PIPE, fd[0], 0);
}

int urt_sim_listen(struct urt_sim *sim, int domain, uint16_t port, uint16_t *bound_port)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)domain };
	socklen_t len = sizeof(ss);
	int fd, ret;

	if (!sim)
		return -EINVAL;
	if (domain == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
	fd = urt__sim_socket(sim, domain, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return (int)host_event(sim, H_LISTEN, -1, fd);
	if ((ret = urt__sim_bind(sim, fd, (struct sockaddr *)&ss, len)) ||
	    (ret = urt__sim_listen(sim, fd, 0)) ||
	    (ret = urt__sim_getsockname(sim, fd, (struct sockaddr *)&ss, &len))) {
		urt__sim_close(sim, fd);
		return (int)host_event(sim, H_LISTEN, -1, ret);
	}
	if (bound_port)
		*bound_port = ntohs(domain == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
						      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return (int)host_event(sim, H_LISTEN, fd, fd);
}

int urt_sim_connect(struct urt_sim *sim, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_storage ss = { 0 };

	if (!sim)
		return -EINVAL;
	if (!sa || len < sizeof(sa_family_t))
		return (int)host_event(sim, H_CONNECT, fd, -EFAULT);
	memcpy(&ss, sa, len < sizeof(ss) ? len : sizeof(ss));
	return (int)host_event(sim, H_CONNECT, fd,
			       urt__sim_host_connect(sim, fd, (struct sockaddr *)&ss));
}

int urt_sim_accept(struct urt_sim *sim, int lfd, int flags)
{
	if (!sim)
		return -EINVAL;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return (int)host_event(sim, H_ACCEPT, lfd, -EINVAL);
	return (int)host_event(sim, H_ACCEPT, lfd,
			       urt__sim_host_accept(sim, lfd, flags & SOCK_NONBLOCK));
}

/* A read or write at the file position of a file of the model. */
static long file_rw(struct urt_sim *s, uint8_t opcode, int fd, void *buf, size_t n)
{
	struct io_uring_sqe sqe = {
		.opcode = opcode,
		.fd = fd,
		.addr = (uint64_t)(uintptr_t)buf,
		.len = n > INT32_MAX ? INT32_MAX : (uint32_t)n,
		.off = UINT64_MAX,
	};

	return urt__sim_file_host(s, &sqe, NULL);
}

ssize_t urt_sim_read(struct urt_sim *sim, int fd, void *buf, size_t n, int flags)
{
	uint32_t idx;

	if (!sim)
		return -EINVAL;
	if (!buf && n)
		return -EFAULT;
	if (urt__sim_fd_at(sim, fd, &idx) == SIM_FD_FILE)
		return host_event(sim, H_READ, fd, file_rw(sim, IORING_OP_READ, fd, buf, n));
	return host_event(sim, H_READ, fd,
			  urt__sim_host_read(sim, fd, buf, n, flags & MSG_DONTWAIT));
}

ssize_t urt_sim_write(struct urt_sim *sim, int fd, const void *buf, size_t n, int flags)
{
	uint32_t idx;

	if (!sim)
		return -EINVAL;
	if (!buf && n)
		return -EFAULT;
	if (urt__sim_fd_at(sim, fd, &idx) == SIM_FD_FILE)
		return host_event(sim, H_WRITE, fd,
				  file_rw(sim, IORING_OP_WRITE, fd, (void *)(uintptr_t)buf, n));
	return host_event(sim, H_WRITE, fd,
			  urt__sim_host_write(sim, fd, buf, n, flags & MSG_DONTWAIT));
}

int urt_sim_shutdown(struct urt_sim *sim, int fd, int how)
{
	if (!sim)
		return -EINVAL;
	return (int)host_event(sim, H_SHUTDOWN, fd, urt__sim_host_shutdown(sim, fd, how));
}

int urt_sim_nonblock(struct urt_sim *sim, int fd, int on)
{
	if (!sim)
		return -EINVAL;
	return (int)host_event(sim, H_NONBLOCK, fd, urt__sim_host_nonblock(sim, fd, on));
}

int urt_sim_setsockopt(struct urt_sim *sim, int fd, int level, int name, const void *val,
		       socklen_t len)
{
	if (!sim)
		return -EINVAL;
	return (int)host_event(sim, H_SETSOCKOPT, fd,
			       urt__sim_setsockopt(sim, fd, level, name, val, len));
}

int urt_sim_close(struct urt_sim *sim, int fd)
{
	if (!sim)
		return -EINVAL;
	return (int)host_event(sim, H_CLOSE, fd, urt__sim_close(sim, fd));
}

int urt_sim_open(struct urt_sim *sim, const char *path, int flags, unsigned mode)
{
	struct io_uring_sqe sqe = {
		.opcode = IORING_OP_OPENAT,
		.fd = AT_FDCWD,
		.open_flags = (uint32_t)flags,
		.len = mode,
	};

	if (!sim)
		return -EINVAL;
	return (int)host_event(sim, H_OPEN, -1, urt__sim_file_host(sim, &sqe, path));
}

int urt_sim_mkdir(struct urt_sim *sim, const char *path, unsigned mode)
{
	struct io_uring_sqe sqe = { .opcode = IORING_OP_MKDIRAT, .fd = AT_FDCWD, .len = mode };

	if (!sim)
		return -EINVAL;
	return (int)host_event(sim, H_MKDIR, -1, urt__sim_file_host(sim, &sqe, path));
}

int urt_sim_unlink(struct urt_sim *sim, const char *path, int flags)
{
	struct io_uring_sqe sqe = {
		.opcode = IORING_OP_UNLINKAT,
		.fd = AT_FDCWD,
		.unlink_flags = (uint32_t)flags,
	};

	if (!sim)
		return -EINVAL;
	return (int)host_event(sim, H_UNLINK, -1, urt__sim_file_host(sim, &sqe, path));
}
