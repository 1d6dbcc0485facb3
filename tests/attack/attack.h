/* SPDX-License-Identifier: MIT */
/* attack.h - urt-attack's cells and attacks (see attack.c). */
#ifndef URT_ATTACK_H
#define URT_ATTACK_H

#include "net.h"

struct cfg {
	int port;
	pid_t pid;
	const char *log;
	int deadline_ms, idle_ms, send_ms, head_ms, grace_ms, duration_ms;
	long long rss_growth_max;
	long held_slack, cases;
	int wb_conns;
	uint64_t seed;
	bool seed_set, bench;
	double collide_ratio;
	int collide_keys; /* 22938 to 44000: the table ends 65536 wide */
	int throttle_pct; /* the server stopped this much of each 200 ms */
};

struct cell {
	const struct cfg *cfg;
	enum srv_kind kind;
	const char *na; /* why the attack does not apply */
	char why[600];	/* why it failed, "; "-separated */
	struct wb wb;
	long rss0_kb, rss_growth_kb, held, buf_total;
	unsigned long ok_base, ok_attack, ok_at_start;
	int64_t ms_base, ms_attack, t_start, fresh_us;
};

enum attack_step { ATTACK_APPLIES, ATTACK_SETUP, ATTACK_RUN };

/* APPLIES: NULL or why not; SETUP: NULL or "" on failure (why in c->why);
 * RUN: NULL. */
struct attack {
	const char *name;
	const char *(*run)(struct cell *c, enum attack_step step);
};

void cell_fail(struct cell *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a fresh client's first request, in the middle of an attack */
void cell_fresh(struct cell *c);
/* the figures at the attack's height: wb answers, RSS, the ring */
void cell_snapshot(struct cell *c);
/* the server back to the well-behaved clients' connections (attack.c);
 * w: the attack's connections still open on our side, or NULL */
void cell_await_closed(struct cell *c, int ms, const char *what, struct watch *w);
int cell_close_ms(const struct cell *c);

const char *attack_nonreaders(struct cell *c, enum attack_step step);
const char *attack_blank_flood(struct cell *c, enum attack_step step);
const char *attack_header_flood(struct cell *c, enum attack_step step);
const char *attack_slow_readers(struct cell *c, enum attack_step step);
const char *attack_slowloris(struct cell *c, enum attack_step step);
const char *attack_collide(struct cell *c, enum attack_step step);
const char *attack_reset(struct cell *c, enum attack_step step);
const char *attack_fd_exhaust(struct cell *c, enum attack_step step);
const char *attack_malformed(struct cell *c, enum attack_step step);

int report_print(const char *file, bool bench, const struct attack *a, size_t na,
		 const char *const *servers, size_t ns);

#endif
