/* SPDX-License-Identifier: MIT */
/*
 * commands.h - urt-kv's commands: what a connection hands over to have one
 * parsed request run (its arguments, its output buffer) and what the
 * commands read of the server (the store, the limits, the figures INFO
 * reports). The server owns the connections, the threads and the lock;
 * this module owns what each command means and replies.
 */
#ifndef URT_KV_COMMANDS_H
#define URT_KV_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urt/urt.h>

#include "store.h"

/* First size of a connection's output (and input) buffer: with the task
 * memory's block header it still fits the largest size class (4096), so
 * no heap call. */
#define KV_OUT_CHUNK 4000

/* A reply's value bulk sent from the stored entry itself (store_ref), not
 * copied into out: its bytes go between out[at - 1] and out[at]. */
struct kv_ref {
	size_t at;
	struct kv_entry *e;
};

/* Values this long are sent from the entry (a kv_ref), never copied: a
 * pipeline of GETs of a large value costs 16 bytes a reply, not the value. */
#define KV_REF_MIN (16 * 1024)
/* Past this many bytes of replies (copied and referenced) a batch ends:
 * the rest of the pipeline waits until they are sent. Once out holds this
 * many, any further value of the same command (MGET) is referenced too. */
#define KV_OUT_BOUND (256 * 1024)

/* What a command sees of its connection. */
struct kv_client {
	uint64_t id; /* CLIENT ID, HELLO */
	int thread;  /* the runtime serving it (INFO's urt_thread) */
	char *out;   /* replies gathered for one send: the task's memory */
	size_t out_len, out_cap;
	struct kv_ref *refs; /* values to send between out's bytes, in order: task memory */
	uint32_t nrefs, refs_cap;
	size_t ref_bytes; /* their values' bytes */
	bool closing;	  /* close once the replies are sent (QUIT, a protocol error) */
	bool oom;	  /* a reply could not be stored: close, never send it short */
};

/* What the commands see of the server. Context: read and written only under
 * the server's lock, except the fields set before the first command. */
struct kv_server {
	struct store *db;
	uint64_t max_bulk;	       /* APPEND's longest value */
	uint64_t maxmemory;	       /* CONFIG GET maxmemory and INFO (db enforces it) */
	int threads;		       /* INFO */
	int64_t wall_off_ms;	       /* the wall clock's ms less urt_now_ns's (set before) */
	uint64_t commands;	       /* run so far: kv_execute counts them */
	int64_t now_ms; /* the batch's clock (urt_now_ns in ms), read by its first command
			 * that needs it; the server zeroes it as a batch starts */
	uint64_t rnd;		       /* RANDOMKEY's generator (0: not started) */
	uint64_t (*conns_live)(void);  /* INFO: connections open now */
	uint64_t (*conns_total)(void); /* INFO: connections ever */
};

/*
 * kv_execute - run one request (argc >= 1 arguments, slices the caller
 * keeps valid for the call) and append exactly one reply to c->out; an
 * unknown command, a wrong arity or, for a write, a full store (-OOM) is
 * an error reply. key_hash: store_hash of argv[1] if the caller has it
 * (it looked the key up ahead), else NULL. Return: nothing; c->oom when
 * the reply could not be stored, c->closing after QUIT. Context: inside
 * t's poll, under the server's lock; never awaits.
 */
void kv_execute(struct kv_server *s, struct urt_task *t, struct kv_client *c, uint32_t argc,
		const char **argv, const size_t *len, const uint64_t *key_hash);

/* kv_reply_error - append "-msg\r\n" (CR and LF in msg become spaces).
 * Context: inside t's poll. */
void kv_reply_error(struct urt_task *t, struct kv_client *c, const char *msg);

/*
 * kv_release - let go of the entries c's refs hold (after they were sent,
 * or when c closes), and empty c->refs. Context: under the server's lock.
 */
void kv_release(struct store *db, struct kv_client *c);

#endif
