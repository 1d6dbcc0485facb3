/* SPDX-License-Identifier: MIT */
/*
 * dns.c - getaddrinfo on the blocking pool, and urt_dial (urt/dns.h).
 *
 * A lookup copies its names and hints into one malloc block (the request)
 * at the first evaluation, so the caller's strings need not outlive it and
 * a slot stays small (struct urt_dns is a job and a pointer). The worker
 * reads only the request; the job's arg is the struct urt_dns itself, so
 * the cleanup (a task that never took the result) frees the list and the
 * request and clears q->req: the task's drop, which runs after it, finds
 * nothing of the lookup left.
 *
 * urt_dial is a loop of awaits kept in d->step: LOOKUP (with a sleep
 * beside it for the deadline: a running getaddrinfo cannot be stopped, so
 * the job is given up with urt_job_cancel and cleaned up when it returns),
 * then SOCKET and CONNECT for each address (the deadline as the connect's
 * linked timeout). What a dial holds between awaits (the list, a socket)
 * is released by urt_dial_drop when the task ends in the middle.
 */
#include "sys_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct urt__dns_req {
	struct addrinfo hints;
	struct addrinfo *ai; /* the result, until taken */
	const char *host, *serv;
	bool has_hints;
	char names[]; /* host and service, copied */
};

static int64_t gai_errno(int rc, int err)
{
	switch (rc) {
	case 0:
		return 0;
	case EAI_NONAME:
		return -ENOENT;
#ifdef EAI_NODATA
	case EAI_NODATA:
		return -ENODATA;
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
		return -EADDRNOTAVAIL;
#endif
	case EAI_AGAIN:
		return -ETIMEDOUT;
	case EAI_FAIL:
		return -EIO;
	case EAI_FAMILY:
		return -EAFNOSUPPORT;
	case EAI_SOCKTYPE:
		return -ESOCKTNOSUPPORT;
	case EAI_SERVICE:
		return -EPROTONOSUPPORT;
	case EAI_BADFLAGS:
		return -EINVAL;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return err ? -err : -EIO;
	default:
		return -EPROTO;
	}
}

/* On a worker: the request is read-only here but for its result. */
static int64_t dns_run(void *arg)
{
	struct urt__dns_req *req = ((struct urt_dns *)arg)->req;
	int rc;

	errno = 0;
	rc = getaddrinfo(req->host, req->serv, req->has_hints ? &req->hints : NULL, &req->ai);
	if (rc)
		req->ai = NULL;
	return gai_errno(rc, errno);
}

/* On the runtime's thread: the task will never take the result. */
static void dns_cleanup(void *arg, int64_t res)
{
	struct urt_dns *q = arg;

	if (res == 0 && q->req->ai)
		freeaddrinfo(q->req->ai);
	free(q->req);
	q->req = NULL;
}

static int dns_request(struct urt_dns *q, const char *host, const char *service,
		       const struct addrinfo *hints)
{
	size_t hl = host ? strlen(host) : 0, sl = service ? strlen(service) : 0;
	struct urt__dns_req *req;

	if (!host && !service)
		return -EINVAL;
	if (hl > URT_DNS_NAME_MAX || sl > URT_DNS_SERV_MAX)
		return -ENAMETOOLONG;
	req = calloc(1, sizeof(*req) + hl + sl + 2);
	if (!req)
		return -ENOMEM;
	if (hints) {
		/* only the fields getaddrinfo reads from hints */
		req->hints.ai_flags = hints->ai_flags;
		req->hints.ai_family = hints->ai_family;
		req->hints.ai_socktype = hints->ai_socktype;
		req->hints.ai_protocol = hints->ai_protocol;
		req->has_hints = true;
	}
	if (host)
		req->host = memcpy(req->names, host, hl + 1);
	if (service)
		req->serv = memcpy(req->names + hl + 1, service, sl + 1);
	q->req = req;
	return 0;
}

int urt_getaddrinfo(struct urt_task *t, struct urt_dns *q, const char *host, const char *service,
		    const struct addrinfo *hints, struct addrinfo **res)
{
	int64_t r;
	int ret;

	if (!q->req && (ret = dns_request(q, host, service, hints)))
		return ret;
	r = urt__blocking_run(t, &q->job, dns_run, q, dns_cleanup, true);
	if (r == URT_PENDING || urt_job_busy(&q->job))
		return URT_PENDING == r ? URT_PENDING : (int)r; /* the request is the job's */
	if (r == 0)
		*res = q->req->ai;
	free(q->req);
	q->req = NULL;
	return (int)r;
}

void urt_freeaddrinfo(struct addrinfo *ai)
{
	if (ai)
		freeaddrinfo(ai);
}

/* --- urt_dial ---------------------------------------------------------------- */

enum { DIAL_IDLE, DIAL_LOOKUP, DIAL_SOCKET, DIAL_CONNECT };

/* The dial is over: release the list, the handle is idle. */
static int dial_end(struct urt_dial *d, int ret)
{
	urt_freeaddrinfo(d->ai);
	d->ai = d->cur = NULL;
	d->step = DIAL_IDLE;
	urt_op_set_timeout(&d->op, 0);
	return ret;
}

/* The lookup, with the deadline beside it. Return: 0 (d->ai set); -errno; URT_PENDING. */
static int dial_lookup(struct urt_task *t, struct urt_dial *d, const char *host,
		       const char *service)
{
	static const struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	int r = urt_getaddrinfo(t, &d->dns, host, service, &hints, &d->ai);

	if (r == URT_PENDING) {
		if (!d->deadline || urt_sleep_until(t, &d->timer, d->deadline) == URT_PENDING)
			return URT_PENDING;
		urt_job_cancel(&d->dns.job); /* running: cleaned up when it returns */
		return -ETIME;
	}
	/* the timer idle again, whether it is still armed (a cancelled sleep
	 * ends at once) or fired unread in the pass that brought the result:
	 * left fired, it would end the next dial on this handle at once */
	(void)urt_op_cancel(&d->timer);
	(void)urt_op_take_late(&d->timer);
	return r;
}

int urt_dial(struct urt_task *t, struct urt_dial *d, const char *host, const char *service,
	     uint64_t timeout_ns)
{
	int r;

	if (d->step == DIAL_IDLE) {
		d->deadline = timeout_ns ? urt_now_ns() + timeout_ns : 0;
		d->err = -ENOENT; /* an empty list */
		d->step = DIAL_LOOKUP;
	}
	if (d->step == DIAL_LOOKUP) {
		r = dial_lookup(t, d, host, service);
		if (r == URT_PENDING)
			return r;
		if (r < 0)
			return dial_end(d, r);
		d->cur = d->ai;
		d->step = DIAL_SOCKET;
	}
	for (;;) {
		if (d->step == DIAL_SOCKET) {
			uint64_t now = urt_now_ns();

			if (!d->cur)
				return dial_end(d, d->err);
			if (d->deadline && now >= d->deadline)
				return dial_end(d, -ETIME);
			urt_op_set_timeout(&d->op, 0);
			r = urt_socket(t, &d->op, d->cur->ai_family, d->cur->ai_socktype | SOCK_CLOEXEC,
				       d->cur->ai_protocol);
			if (r == URT_PENDING)
				return r;
			if (r < 0) {
				d->err = r;
				d->cur = d->cur->ai_next;
				continue;
			}
			d->fd = r;
			d->step = DIAL_CONNECT;
			if (d->deadline)
				urt_op_set_timeout(&d->op, d->deadline - now);
		}
		r = urt_connect(t, &d->op, d->fd, d->cur->ai_addr, d->cur->ai_addrlen);
		if (r == URT_PENDING)
			return r;
		if (r == 0)
			return dial_end(d, d->fd);
		close(d->fd);
		if (urt_op_timed_out(&d->op))
			return dial_end(d, -ETIME);
		d->err = r;
		d->cur = d->cur->ai_next;
		d->step = DIAL_SOCKET;
	}
}

void urt_dial_drop(struct urt_dial *d)
{
	/* a socket that completed after the poll ended lives only in op.res */
	if (d->step == DIAL_SOCKET && d->op.state == URT_OP_DONE && d->op.res >= 0)
		close(d->op.res);
	if (d->step == DIAL_CONNECT)
		close(d->fd);
	dial_end(d, 0);
}
