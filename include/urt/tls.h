/* SPDX-License-Identifier: MIT */
/*
 * urt/tls.h - TLS 1.2 and 1.3 over urt's own I/O (liburt_tls, pkg-config
 * urt-tls; liburt itself never links libssl).
 *
 * OpenSSL does the record layer and the handshake; urt moves the bytes. A
 * connection's ciphertext comes in through its receive stream (multishot
 * receive into the shared provided-buffer ring, urt/net.h) and goes out
 * through urt_send_all, so a task awaits a TLS read or write exactly as it
 * awaits a plain one, encryption runs on the runtime's thread, and the
 * kernel sees only ciphertext. Nothing blocks and no thread is started.
 *
 *	URT_AWAIT(t, st->ret = urt_tls_handshake(t, &st->tls));
 *	URT_AWAIT(t, st->n = urt_tls_read(t, &st->tls, st->buf, sizeof(st->buf)));
 *	URT_AWAIT(t, st->ret = urt_tls_write_all(t, &st->tls, st->buf, st->n));
 *	URT_AWAIT(t, st->ret = urt_tls_shutdown(t, &st->tls));
 *	URT_AWAIT(t, urt_tls_end(t, &st->tls));
 *	... and in drop: urt_tls_free(&st->tls);
 *
 * Memory, by class (docs/tls.md):
 *  - the context (struct urt_tls_ctx): heap, once per configuration;
 *  - OpenSSL's per-connection state (SSL, its record buffers, handshake
 *    scratch): OpenSSL's heap. About 13.7 KB per idle connection: its two
 *    record buffers (33 KB) are freed when empty and allocated again on the
 *    next record; 47 KB with .keep_buffers;
 *  - struct urt_tls: the task's state (a slab slot or a boxed task);
 *  - received ciphertext: the runtime's provided-buffer ring, borrowed and
 *    given back as soon as OpenSSL has copied it (a ring buffer is never
 *    kept across a wait the peer controls: urt_buf_hold);
 *  - ciphertext to send: one out-buffer per connection while it has bytes
 *    to send (opts.out_cap, 33 KiB by default), taken from a per-thread
 *    cache on first use and given back to it when drained (the cache keeps
 *    up to 256, the most the thread's connections held at once).
 *
 * Errors, besides those of the I/O they await (urt/io.h, urt/net.h):
 *   -ETIMEDOUT     the deadline (urt_tls_set_deadline) passed
 *   -ECONNABORTED  the peer closed the TCP stream without close_notify
 *                  (truncation: a clean FIN or one inside a record)
 *   -EPROTO        the peer broke the protocol: garbage, a bad record MAC,
 *                  an alert it sent, a handshake that failed
 *   -EPROTONOSUPPORT  no protocol version in common (one below .min_version)
 *   -EKEYREJECTED  the peer's certificate failed verification
 *                  (urt_tls_verify_result says why)
 *   -ENOPROTOOPT   no ALPN protocol in common (.alpn set, peer offered others)
 *   -EPERM         the peer asked to renegotiate (TLS 1.2; always refused)
 *   -ECONNRESET, -EPIPE  the TCP connection failed under it
 *   -ENOMEM        OpenSSL or the out-buffer could not allocate
 *   -EIO           OpenSSL reported a system failure with no cause given
 *   -EINVAL        a call out of order (read before the handshake)
 *   -EBUSY         urt_tls_free with a send still in flight (poll, not drop)
 *                  urt_tls_write_all of another buffer while one is under way
 * An error is sticky: every later call returns it (urt_tls_shutdown then
 * sends nothing: a quiet shutdown).
 *
 * One task drives a connection (its operations are that task's; its
 * receive stream, send and deadline are ops of that task, so
 * urt_task_cancel_ops ends the connection too: -ECANCELED, sticky). Context:
 * the runtime's thread. The context may be shared by every runtime of the
 * process (OpenSSL's SSL_CTX is thread-safe once configured).
 */
#ifndef URT_TLS_H
#define URT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "urt/io.h"
#include "urt/net.h"
#include "urt/task.h"

#ifdef __cplusplus
extern "C" {
#endif

#define URT_TLS_1_2 0x0303
#define URT_TLS_1_3 0x0304

struct urt_tls_ctx; /* opaque: an SSL_CTX and its settings */

struct urt_tls_ctx_opts {
	bool client;		  /* a client's context (else a server's) */
	const char *cert_file;	  /* PEM chain, leaf first; a server's must, a client's may */
	const char *key_file;	  /* PEM private key of cert_file */
	const char *ca_file;	  /* PEM roots to verify the peer by; NULL: a client
				   * uses the system's, a server asks for no certificate */
	bool verify_peer;	  /* server: require a client certificate, verified
				   * against ca_file; client: verify the server (on
				   * unless .insecure) */
	bool peer_optional;	  /* server: ask for a client certificate and verify
				   * one that comes (against ca_file), but accept a
				   * client without one (urt_tls_peer_verified) */
	bool insecure;		  /* client: do not verify the server (tests only) */
	uint16_t min_version;	  /* URT_TLS_1_2 (default) or URT_TLS_1_3 */
	uint16_t max_version;	  /* URT_TLS_1_3 (default) or URT_TLS_1_2 */
	const char *ciphers;	  /* TLS 1.2 cipher list; NULL: ECDHE with AEAD only */
	const char *ciphersuites; /* TLS 1.3 suites; NULL: OpenSSL's (AES-GCM, ChaCha20) */
	const char *groups;	  /* key exchange groups; NULL: "X25519:P-256:P-384" */
	/* ALPN, comma-separated in preference order ("h2,http/1.1"): a server
	 * selects the first of its own the client offers (a client offering
	 * none of them: -ENOPROTOOPT); a client offers them */
	const char *alpn;
	/*
	 * Server: SNI. Called during the handshake with the name the client
	 * asked for (NULL if none); return the context to serve it with (this
	 * one, or another server context, whose certificate, verification of
	 * client certificates (.verify_peer, .ca_file) and ALPN are then
	 * used; versions, ciphers and tickets stay this context's), or NULL
	 * to refuse the handshake (-EPROTO, unrecognized_name).
	 */
	struct urt_tls_ctx *(*sni)(void *arg, const char *name);
	void *sni_arg;
	bool no_tickets;	   /* server: issue no session tickets (no resumption) */
	uint32_t ticket_lifetime_s; /* server: how long a ticket resumes; default 7200 */
	uint8_t tickets;	   /* server, TLS 1.3: tickets after a full handshake; default 1 */
	/* keep OpenSSL's two record buffers (about 33 KB) allocated while the
	 * connection is idle; by default they are released when empty
	 * (SSL_MODE_RELEASE_BUFFERS): 13.7 KB per idle connection instead of
	 * 47 KB, for four more allocations per request (bench_tls) */
	bool keep_buffers;
	uint32_t out_cap;	   /* out-buffer bytes; default 33792 (two full records);
				    * at least 4096 */
};

/*
 * urt_tls_ctx_new - a context from o. The files are read now.
 * Return: 0 and *out; -EINVAL (o inconsistent: a server without a
 * certificate, a version range that is empty, a list OpenSSL rejects);
 * -ENOENT / -EACCES (a file); -EBADMSG (a file that is not PEM of the
 * right kind, or a key that does not match the certificate); -ENOMEM.
 * urt_tls_error_string says more about the last failure on this thread.
 * Context: any thread.
 */
int urt_tls_ctx_new(const struct urt_tls_ctx_opts *o, struct urt_tls_ctx **out);

/* urt_tls_ctx_free - drop the context; connections made from it keep
 * what they need of it until they are freed. NULL is ignored. */
void urt_tls_ctx_free(struct urt_tls_ctx *ctx);

/*
 * urt_tls_error_string - OpenSSL's words for the last failure on this
 * thread (a context that would not load, a handshake that failed), for
 * logs; "" if none. The string lives until the thread's next TLS call.
 */
const char *urt_tls_error_string(void);

/*
 * A connection: lives in the task's state; urt_tls_init makes it. It may
 * be copied to another place (into a task's state by urt_spawn) while
 * nothing of it is in flight, as before its handshake: each call tells
 * OpenSSL where it is. Like a struct urt_op, it must stay put while an
 * operation of it is in flight. The fields are the layer's.
 */
struct urt_tls {
	void *ssl;	     /* SSL * */
	int fd;		     /* the socket; not closed by this layer */
	int32_t err;	     /* sticky error; 0 */
	uint32_t flags;	     /* URT__TLS_* */
	uint32_t in_off;     /* bytes of .in OpenSSL has taken */
	struct urt_buf in;   /* the received chunk being read */
	struct urt_op rx;    /* the receive stream */
	struct urt_io_all tx; /* the send of out[0, flight) */
	struct urt_op nap;   /* the deadline */
	uint64_t deadline_ns; /* absolute; 0: none */
	char *out;	     /* ciphertext to send (out-buffer), or NULL */
	uint32_t out_len;    /* bytes in out */
	uint32_t out_cap;    /* its size */
	uint32_t flight;     /* out[0, flight) is being sent */
	int32_t rx_err;	     /* the stream's end: 0 live, 1 end of file, -errno */
	size_t wdone;	     /* urt_tls_write_all: plaintext taken so far */
	const void *wbuf;    /* and the buf and len it is under way with */
	size_t wlen;
	uint32_t wchunk;     /* the SSL_write to repeat after a full out-buffer */
	uint32_t spare;
	uint64_t records;    /* records written (stats) */
};

/*
 * urt_tls_init - make c a connection of ctx on the connected socket fd:
 * a server (ctx a server context) or a client. server_name, for a client:
 * the name sent in SNI and checked in the server's certificate (NULL: no
 * SNI, and the name is not checked). c is overwritten. Nothing is sent
 * before urt_tls_handshake.
 * Return: 0; -EINVAL (fd < 0); -ENOMEM (c untouched).
 */
int urt_tls_init(struct urt_tls *c, struct urt_tls_ctx *ctx, int fd, const char *server_name);

/*
 * urt_tls_set_deadline - a call on c that has to wait fails with
 * -ETIMEDOUT (sticky) once urt_now_ns() passes deadline_ns (absolute, as
 * urt_sleep_until); 0: no deadline. A call that can finish without
 * waiting (bytes already decrypted, a write that fits) still succeeds
 * after it. A handshake with no deadline can be held open for ever by a
 * client that sends nothing: a server sets one.
 */
void urt_tls_set_deadline(struct urt_tls *c, uint64_t deadline_ns);

/*
 * urt_tls_handshake - awaitable: the handshake, to its end (a server's
 * session tickets, when they are sent with it, are flushed too).
 * Return: 0; -errno (above).
 */
int urt_tls_handshake(struct urt_task *t, struct urt_tls *c);

/*
 * urt_tls_read - awaitable: up to len bytes of plaintext into buf (what
 * is decrypted already first; else it waits for the next record).
 * Return: > 0 bytes; 0 after the peer's close_notify (later calls return
 * 0 too); -EINVAL (len 0, or before the handshake); -errno (above).
 * After urt_tls_end, a read would arm a new receive stream: end is for
 * the connection's end.
 */
int urt_tls_read(struct urt_task *t, struct urt_tls *c, void *buf, size_t len);

/*
 * urt_tls_pending - whether urt_tls_read would return at once: decrypted
 * bytes, or a whole record, are buffered.
 */
bool urt_tls_pending(const struct urt_tls *c);

/*
 * urt_tls_write_all - awaitable: encrypt and send all len bytes of buf
 * (records of up to 16 KiB, as many as fit the out-buffer per send). buf
 * must stay as it is until the await returns. Progress lives in c: one
 * write_all at a time. A write_all left pending (a sleep beside it in
 * URT_AWAIT_ANY won) is under way: part of buf may have gone out, so the
 * next write_all must be the same buf and len, which resumes it; any
 * other is refused (-EBUSY) rather than sent after the part that went.
 * Return: len; -EBUSY (another write_all is under way; nothing taken);
 * -errno (above).
 */
int urt_tls_write_all(struct urt_task *t, struct urt_tls *c, const void *buf, size_t len);

/*
 * urt_tls_shutdown - awaitable: send close_notify and wait until it (and
 * everything before it) has gone out; the peer's close_notify is not
 * awaited (urt_tls_read returns 0 when it comes). After an error, or before
 * the handshake ended, nothing is sent (a quiet shutdown).
 * Return: 0; -errno from the send.
 */
int urt_tls_shutdown(struct urt_task *t, struct urt_tls *c);

/*
 * urt_tls_end - awaitable: end the receive stream (urt_recv_stream_end)
 * and the deadline, and give back the chunk c holds; before the task
 * closes fd or reuses c. A send still in flight is cancelled and awaited.
 * Return: 0.
 */
int urt_tls_end(struct urt_task *t, struct urt_tls *c);

/*
 * urt_tls_free - free what c holds (OpenSSL's state, the out-buffer, the
 * received chunk). In a task's drop, always safe (the kernel is done with
 * everything by then); in a poll, only once no send is in flight.
 * Return: 0; -EBUSY (a send is in flight; nothing freed).
 */
int urt_tls_free(struct urt_tls *c);

/* --- what was agreed ------------------------------------------------------- */

/* urt_tls_version - URT_TLS_1_2 or URT_TLS_1_3; 0 before the handshake. */
int urt_tls_version(const struct urt_tls *c);

/* urt_tls_alpn - the protocol ALPN selected (not NUL-terminated), or NULL. */
const char *urt_tls_alpn(const struct urt_tls *c, size_t *len);

/* urt_tls_server_name - the name the client sent (SNI), or NULL. */
const char *urt_tls_server_name(const struct urt_tls *c);

/* urt_tls_resumed - whether the handshake resumed a session. */
bool urt_tls_resumed(const struct urt_tls *c);

/* urt_tls_cipher - the cipher suite's name ("TLS_AES_128_GCM_SHA256"). */
const char *urt_tls_cipher(const struct urt_tls *c);

/* urt_tls_peer_verified - whether the peer presented a certificate and it
 * was verified. */
bool urt_tls_peer_verified(const struct urt_tls *c);

/* urt_tls_verify_result - X509_V_OK (0) or why the peer's certificate was
 * rejected (X509_verify_cert_error_string names it). */
long urt_tls_verify_result(const struct urt_tls *c);

/* --- sessions (client) ------------------------------------------------------ */

/*
 * urt_tls_session_save - the session c may resume later (a client, after
 * the handshake; with TLS 1.3 the ticket comes after the handshake, so
 * after a first read). Give it to urt_tls_session_resume before the next
 * connection's handshake; free with urt_tls_session_free. A TLS 1.3
 * session resumes once (its ticket is single-use): save the new
 * connection's session for the one after it.
 * Return: the session, or NULL (none yet).
 */
void *urt_tls_session_save(const struct urt_tls *c);
int urt_tls_session_resume(struct urt_tls *c, void *session);
void urt_tls_session_free(void *session);

/* --- kernel TLS ------------------------------------------------------------ */

/*
 * urt_tls_ktls_probe - whether this kernel can take TLS records over
 * (CONFIG_TLS: the "tls" upper-layer protocol on a TCP socket). Probed
 * once per process on a loopback pair. This layer does not use it yet:
 * docs/tls.md says what a kernel with kTLS would run.
 * Return: 1 available; 0 not (-ENOENT from the kernel: no module); -errno
 * if the probe itself failed.
 */
int urt_tls_ktls_probe(void);

/* --- heap accounting ---------------------------------------------------------- */

/*
 * urt_tls_count_heap - install counting allocation hooks in OpenSSL
 * (CRYPTO_set_mem_functions; process-wide, works only before OpenSSL's
 * first allocation). urt_tls_heap_calls then reads the count.
 * Return: 0; -EALREADY (OpenSSL allocated first: nothing is counted).
 */
int urt_tls_count_heap(void);
uint64_t urt_tls_heap_calls(void); /* OpenSSL's allocations (malloc, realloc) since */
int64_t urt_tls_heap_bytes(void);  /* OpenSSL's live heap bytes (usable sizes) */

#ifdef __cplusplus
}
#endif

#endif /* URT_TLS_H */
