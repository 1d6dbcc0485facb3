/* SPDX-License-Identifier: MIT */
/*
 * urt/dns.h - name lookup on the blocking pool (urt/blocking.h), and a
 * connect by name that tries each address in turn.
 *
 *	URT_AWAIT(t, st->ret = urt_getaddrinfo(t, &st->dns, "example.org", "80", NULL, &st->ai));
 *	... use st->ai ...
 *	urt_freeaddrinfo(st->ai);
 *
 * getaddrinfo(3) blocks (it reads /etc/hosts, asks the name servers), so it
 * runs on a worker of the runtime's blocking pool; its result comes back as
 * the await's value. A lookup whose task ends first (aborted, or returned)
 * is dropped if still queued, or its result is freed by the runtime when
 * the worker is done with it: nothing leaks, and the task's drop need not
 * know (see urt/blocking.h, "Cancellation").
 *
 * getaddrinfo's errors, mapped to distinct -errno:
 *   EAI_NONAME     -ENOENT          the name (or a numeric-only host) is not known
 *   EAI_NODATA     -ENODATA         the name is known but has no address
 *   EAI_ADDRFAMILY -EADDRNOTAVAIL   no address in the family asked for
 *   EAI_AGAIN      -ETIMEDOUT       temporary: the name server did not answer
 *   EAI_FAIL       -EIO             the name server failed for good
 *   EAI_FAMILY     -EAFNOSUPPORT    hints->ai_family not supported
 *   EAI_SOCKTYPE   -ESOCKTNOSUPPORT hints->ai_socktype not supported
 *   EAI_SERVICE    -EPROTONOSUPPORT the service is not known for that socket type
 *   EAI_BADFLAGS   -EINVAL          bad hints->ai_flags
 *   EAI_MEMORY     -ENOMEM          out of memory
 *   EAI_SYSTEM     -errno           the system error getaddrinfo saw (-EIO if none)
 *   another        -EPROTO
 * Context: the runtime's thread, inside the task given as `t`.
 */
#ifndef URT_DNS_H
#define URT_DNS_H

#if defined(__STRICT_ANSI__) && !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE) &&              \
	!defined(_XOPEN_SOURCE) && !defined(_DEFAULT_SOURCE)
#error "urt/dns.h needs POSIX (struct addrinfo): compile with -std=gnu11, or define _GNU_SOURCE before the first #include"
#endif

#include <netdb.h>
#include <stdint.h>
#include <sys/socket.h>

#include "urt/blocking.h"
#include "urt/io.h"

#ifdef __cplusplus
extern "C" {
#endif

#define URT_DNS_NAME_MAX 1024 /* host name bytes at most (NI_MAXHOST - 1) */
#define URT_DNS_SERV_MAX 63   /* service bytes at most */

struct urt__dns_req;

/* A lookup: in the task's state, zero-initialised. Fields are the runtime's. */
struct urt_dns {
	struct urt_job job;
	struct urt__dns_req *req; /* the copied names, hints and result, while out */
};

/*
 * urt_getaddrinfo - awaitable getaddrinfo(3). host and service are copied
 * at the first evaluation (either may be NULL, not both); hints may be NULL
 * (any family, any socket type), and is copied then too (its ai_flags,
 * ai_family, ai_socktype, ai_protocol). Later evaluations read none of the
 * three: they may be a temporary or a local of the poll, and need not stay
 * valid until the await returns. On success *res is the list, which the
 * caller frees with urt_freeaddrinfo.
 * Return: 0; the -errno of getaddrinfo's error (table above); the pool's
 * errors (urt_blocking_run: -EBUSY queue full, or this handle's previous
 * lookup, given up by urt_job_cancel or a dial's deadline, still runs on a
 * worker: getaddrinfo cannot be interrupted, so retry later or use another
 * handle; -EAGAIN, -ENOMEM, -ESRCH, -EPERM, -EOPNOTSUPP on the simulated
 * kernel); -EINVAL if both are NULL;
 * -ENAMETOOLONG past URT_DNS_NAME_MAX / URT_DNS_SERV_MAX.
 */
int urt_getaddrinfo(struct urt_task *t, struct urt_dns *q, const char *host, const char *service,
		    const struct addrinfo *hints, struct addrinfo **res);

/* urt_freeaddrinfo - free a list urt_getaddrinfo returned; NULL is fine. */
void urt_freeaddrinfo(struct addrinfo *ai);

/* A connect by name: in the task's state, zero-initialised. Fields are the runtime's. */
struct urt_dial {
	struct urt_dns dns;
	struct urt_op op;	   /* socket, then connect */
	struct urt_op timer;	   /* the deadline, during the lookup */
	struct addrinfo *ai, *cur; /* the list, the address being tried */
	uint64_t deadline;	   /* urt_now_ns() + timeout_ns; 0: none */
	int fd;			   /* the socket being connected (step CONNECT) */
	int err;		   /* the last address's error */
	uint8_t step;
};

/*
 * urt_dial - awaitable: look host:service up (urt_getaddrinfo, any family,
 * SOCK_STREAM) and connect a socket (SOCK_CLOEXEC, through the ring:
 * urt_socket, urt_connect) to each address in the order getaddrinfo gave,
 * until one connects. timeout_ns (0: none) bounds the whole of it, from the
 * first evaluation. A dial handle is reusable once the await has returned,
 * but for one case: after -ETIME in the lookup, the getaddrinfo that was
 * given up may still run on the pool (a running one cannot be stopped),
 * and until it returns the handle answers -EBUSY (host and service are
 * not looked at): dial with another handle, or again after a sleep.
 * Return: the connected descriptor (the caller's to close); -ETIME if the
 * deadline passed (the lookup is given up with urt_job_cancel, a connect
 * is cancelled); the lookup's error (urt_getaddrinfo); the last address's
 * connect or socket error (-ECONNREFUSED, -ETIMEDOUT, ...) if none connected;
 * -EBUSY if the handle's lookup given up at a previous deadline still runs
 * (see urt_getaddrinfo: nothing is started; retry later or use another handle).
 * A task aborted in the middle calls urt_dial_drop from its drop.
 */
int urt_dial(struct urt_task *t, struct urt_dial *d, const char *host, const char *service,
	     uint64_t timeout_ns);

/*
 * urt_dial_drop - for the task's drop: close the socket a dial that never
 * returned holds and free its address list. Safe on an idle or zeroed handle.
 */
void urt_dial_drop(struct urt_dial *d);

#ifdef __cplusplus
}
#endif

#endif /* URT_DNS_H */
