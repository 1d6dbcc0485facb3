/* SPDX-License-Identifier: MIT */
/*
 * conn.c - the awaitables: the core's steps (core.c) driven by the
 * connection's receive stream, its one send and its deadline.
 *
 * Each awaitable is re-evaluated on every wake of the task, so it keeps
 * no state of its own beyond what lives in struct urt_tls: it moves the
 * send along (flush), runs OpenSSL one step, and when OpenSSL needs bytes
 * it waits on the receive stream; whatever it waits on, the deadline's
 * sleep is armed beside it.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "urt/time.h"

#include "tls_internal.h"

/*
 * Move the send of the out-buffer along: out[0, flight) is in flight
 * (urt_send_all); when it is done, what OpenSSL appended meanwhile moves
 * to the front and goes next. An empty out-buffer goes back to the cache.
 * Return: 0 all sent; URT_PENDING; -errno from the send.
 */
static int flush(struct urt_task *t, struct urt_tls *c)
{
	for (;;) {
		if (c->flight) {
			int ret = urt_send_all(t, &c->tx, c->fd, c->out, c->flight);

			if (ret == URT_PENDING)
				return URT_PENDING;
			if (ret < 0) {
				c->tx.done = 0;
				urt__tls_fail(c, ret);
				return ret;
			}
			memmove(c->out, c->out + c->flight, c->out_len - c->flight);
			c->out_len -= c->flight;
			c->flight = 0;
		}
		if (!c->out_len) {
			urt__tls_out_put(c);
			return 0;
		}
		c->flight = c->out_len;
	}
}

/* Give back a chunk OpenSSL has taken all of. */
static void settle(struct urt_tls *c)
{
	if (c->in.live && c->in_off >= c->in.len)
		urt_buf_free(&c->in);
}

/*
 * Wait for the next received chunk (OpenSSL wants bytes and has taken
 * all it had). Return: 1 something changed (bytes, end of file, an error:
 * the next step sees it); URT_PENDING.
 */
static int fill(struct urt_task *t, struct urt_tls *c)
{
	int n;

	if (c->in.live)
		urt_buf_free(&c->in);
	if (c->rx_err)
		return 1;
	n = urt_recv_stream(t, &c->rx, c->fd, &c->in);
	if (n == URT_PENDING)
		return URT_PENDING;
	c->in_off = 0;
	if (n <= 0)
		c->rx_err = n ? n : 1;
	return 1;
}

/* About to wait: the deadline's sleep waits beside what the call waits
 * on. Return: URT_PENDING; -ETIMEDOUT (sticky) once it has passed. */
static int pend(struct urt_task *t, struct urt_tls *c)
{
	int ret;

	if (!c->deadline_ns)
		return URT_PENDING;
	ret = urt_sleep_until(t, &c->nap, c->deadline_ns);
	if (ret == URT_PENDING)
		return URT_PENDING;
	if (urt_op_busy(&c->tx.op))
		(void)urt_op_cancel(&c->tx.op); /* urt_tls_end awaits it */
	return urt__tls_fail(c, ret == 0 ? -ETIMEDOUT : ret);
}

/* An error from the transport (or the clock): nothing more can go out. */
static bool transport_dead(const struct urt_tls *c)
{
	return c->err == -ETIMEDOUT || c->err == -ECONNRESET || c->err == -EPIPE ||
	       c->err == -ECANCELED || c->rx_err < 0 || urt_op_timed_out(&c->tx.op);
}

/*
 * A call that meets the sticky error: the alert OpenSSL wrote about it
 * (a bad record, a refused certificate, no common version) goes out
 * first, so the peer learns why, unless the transport is what failed.
 * Return: c->err; URT_PENDING while the alert is being sent.
 */
static int failed(struct urt_task *t, struct urt_tls *c)
{
	if (c->out_len && !transport_dead(c) && flush(t, c) == URT_PENDING)
		return pend(t, c);
	return c->err;
}

void urt_tls_set_deadline(struct urt_tls *c, uint64_t deadline_ns)
{
	if (deadline_ns == c->deadline_ns)
		return;
	/* a sleep's cancel ends it at once; take what it left */
	(void)urt_op_cancel(&c->nap);
	(void)urt_op_take_late(&c->nap);
	c->deadline_ns = deadline_ns;
}

/*
 * After a step of the handshake or a read that could not finish: wait for
 * what it wants. f is what the flush at the top of the loop returned.
 * Return: 0, step again (the flush or new bytes changed something);
 * URT_PENDING; the sticky error.
 */
static int wait_for(struct urt_task *t, struct urt_tls *c, int want, int f)
{
	if (want == URT__TLS_WANT_WRITE)
		return f == URT_PENDING ? pend(t, c) : 0; /* else the flush starts a send */
	if (want != URT__TLS_WANT_READ)
		return failed(t, c);
	if (c->out_len && !c->flight)
		return 0; /* a flight to start before waiting */
	return fill(t, c) == URT_PENDING ? pend(t, c) : 0;
}

int urt_tls_handshake(struct urt_task *t, struct urt_tls *c)
{
	if (!c->ssl)
		return -EINVAL;
	for (;;) {
		int f, ret;

		if (c->err)
			return failed(t, c);
		f = flush(t, c);
		if (f < 0 && f != URT_PENDING)
			return f;
		if (c->flags & URT__TLS_HANDSHAKEN)
			return f == URT_PENDING ? pend(t, c) : 0; /* its last flight out too */
		ret = urt__tls_do_handshake(c);
		settle(c);
		if (ret && (ret = wait_for(t, c, ret, f)))
			return ret;
	}
}

int urt_tls_read(struct urt_task *t, struct urt_tls *c, void *buf, size_t len)
{
	if (!c->ssl || !(c->flags & URT__TLS_HANDSHAKEN) || !len)
		return -EINVAL;
	for (;;) {
		int f, ret;

		if (c->err)
			return failed(t, c);
		/* what reads write (tickets, alerts, KeyUpdate answers) goes
		 * out while the read waits */
		f = flush(t, c);
		if (f < 0 && f != URT_PENDING)
			return f;
		ret = urt__tls_read(c, buf, len);
		settle(c);
		if (ret >= 0) {
			if (c->out_len && !c->flight)
				(void)flush(t, c); /* start it; the next call moves it on */
			/* the chunk's rest stays with c across the caller's
			 * waits: out of the ring if the ring is short */
			if (c->in.live)
				(void)urt_buf_hold(&c->in);
			return ret;
		}
		ret = wait_for(t, c, ret, f);
		if (ret)
			return ret;
	}
}

int urt_tls_write_all(struct urt_task *t, struct urt_tls *c, const void *buf, size_t len)
{
	if (!c->ssl || !(c->flags & URT__TLS_HANDSHAKEN) || len > INT_MAX || (len && !buf))
		return -EINVAL;
	if (c->wdone || (c->flags & URT__TLS_WRETRY)) {
		/* under way (an error ends one, a return of len too): only
		 * the same call resumes it */
		if (buf != c->wbuf || len != c->wlen)
			return -EBUSY;
	} else {
		c->wbuf = buf;
		c->wlen = len;
	}
	for (;;) {
		size_t left = len - c->wdone, chunk, done;
		uint32_t room;
		int f, ret;

		if (c->err) {
			c->wdone = 0;
			c->flags &= ~URT__TLS_WRETRY;
			return failed(t, c);
		}
		f = flush(t, c);
		if (f < 0 && f != URT_PENDING)
			continue; /* sticky now */
		if (!left && !(c->flags & URT__TLS_WRETRY)) {
			if (f == URT_PENDING)
				return pend(t, c); /* done when the records are out */
			c->wdone = 0;
			return (int)len;
		}
		if (c->flags & URT__TLS_WRETRY) {
			if (f == URT_PENDING)
				return pend(t, c);
			chunk = c->wchunk;
		} else {
			/* a whole record where it fits; else wait for the send
			 * to make room (an empty buffer smaller than a record
			 * takes a smaller one) */
			chunk = left < URT__TLS_RECORD_MAX ? left : URT__TLS_RECORD_MAX;
			room = c->out ? c->out_cap - c->out_len : c->out_cap;
			if (room < chunk + URT__TLS_RECORD_SLACK) {
				if (c->out_len) {
					if (f == URT_PENDING)
						return pend(t, c);
					continue;
				}
				chunk = room - URT__TLS_RECORD_SLACK;
			}
		}
		ret = urt__tls_write(c, (const char *)buf + c->wdone, chunk, &done);
		if (ret == 0) {
			c->flags &= ~URT__TLS_WRETRY;
			c->wdone += done;
			continue;
		}
		if (ret == URT__TLS_WANT_WRITE) {
			c->flags |= URT__TLS_WRETRY;
			c->wchunk = (uint32_t)chunk;
			continue;
		}
		if (ret == URT__TLS_WANT_READ) {
			/* not in TLS 1.3, nor in 1.2 without renegotiation:
			 * but if OpenSSL asks, give it bytes */
			if (fill(t, c) == URT_PENDING)
				return pend(t, c);
			settle(c);
			continue;
		}
	}
}

int urt_tls_shutdown(struct urt_task *t, struct urt_tls *c)
{
	if (!c->ssl)
		return -EINVAL;
	if (transport_dead(c))
		return 0; /* nothing can go out: quiet */
	for (;;) {
		int f = flush(t, c);

		if (f < 0 && f != URT_PENDING)
			return f;
		if (c->flags & URT__TLS_SHUT_SENT)
			return f == URT_PENDING ? pend(t, c) : 0;
		/* before the end of the handshake, or after an error, no
		 * close_notify (an alert OpenSSL queued still goes) */
		if (!c->err && (c->flags & URT__TLS_HANDSHAKEN) &&
		    urt__tls_do_shutdown(c) == URT__TLS_WANT_WRITE) {
			if (f == URT_PENDING)
				return pend(t, c);
			continue; /* the flush makes room */
		}
		c->flags |= URT__TLS_SHUT_SENT;
	}
}

int urt_tls_end(struct urt_task *t, struct urt_tls *c)
{
	if (c->in.live)
		urt_buf_free(&c->in);
	(void)urt_op_cancel(&c->nap);
	(void)urt_op_take_late(&c->nap);
	if (urt_op_busy(&c->tx.op)) {
		(void)urt_op_cancel(&c->tx.op); /* -EALREADY if it is being cancelled */
		return URT_PENDING;		/* woken when it completes */
	}
	(void)urt_op_take_late(&c->tx.op);
	c->tx.done = 0;
	if (urt_recv_stream_end(t, &c->rx, c->fd) == URT_PENDING)
		return URT_PENDING;
	c->out_len = c->flight = 0;
	urt__tls_out_put(c);
	return 0;
}

int urt_tls_free(struct urt_tls *c)
{
	if (urt_op_busy(&c->tx.op))
		return -EBUSY;
	if (c->in.live)
		urt_buf_free(&c->in);
	if (c->ssl)
		SSL_free(c->ssl);
	c->ssl = NULL;
	c->out_len = c->flight = 0;
	urt__tls_out_put(c);
	return 0;
}
