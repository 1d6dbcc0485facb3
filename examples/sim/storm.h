/* SPDX-License-Identifier: MIT */
/*
 * storm.h - the world of abort-storm and deinit-midflight: a listener on
 * the model with an echo task per connection, and 10-200 tasks drawn from
 * the seed: sleepers (sleeps in virtual time), NOP loops with deadlines
 * and cancels, TCP clients that send a pattern and check its echo, and
 * parents that spawn and join children. Every task counts its drop in
 * drops[id], so a scenario can check each ran exactly once.
 */
#ifndef URT_SIM_STORM_H
#define URT_SIM_STORM_H

#include "simlib.h"

enum storm_kind { SK_SLEEPER, SK_NOPPER, SK_CLIENT, SK_PARENT, SK_KINDS };

struct storm {
	struct scn_rng rng;
	struct urt_sim_opts so;
	struct urt_runtime_opts ro;
	struct urt_runtime rt;
	struct urt_sim *sim;
	bool rt_up; /* rt is initialised */
	char why[256];
	bool lax;	      /* faults or a deinit: tasks may end with errors */
	bool kinds[SK_KINDS]; /* the swarm: which kinds this seed has */
	uint64_t max_sleep_ns;
	uint32_t max_len; /* bytes a client sends at most */
	int lfd;
	uint16_t port;
	uint32_t n;		/* the first tasks (ids 0..n-1); id n is the server */
	struct urt_join *joins; /* n + 1: the server's last */
	uint8_t *kind;		/* n */
	uint8_t *drops;		/* per id: drops run */
	uint32_t nids, ids_cap;
	uint32_t clients, clients_ok, conns, conns_done;
	uint64_t aborts; /* urt_join_abort that returned 0, children's too */
};

/* Build the world: knobs, model, runtime, listener, server and the first
 * tasks (not yet run). Return: true; false with w->why filled. */
bool storm_init(struct storm *w, const struct scn_opts *o, const char *tag);

/* Every id given out had its drop run exactly once. Return: true; false
 * with w->why filled. */
bool storm_check_drops(struct storm *w);

/* The world's task types, for scn_check_clean. */
extern const struct urt_task_type *const storm_types[];
extern const size_t storm_ntypes;

/* Deinitialise the runtime if it is still up (reclaiming whatever a
 * failed run left), free the model and the world's arrays; fill r (hash,
 * events, why with the knobs appended to a failure). */
void storm_finish(struct storm *w, struct scn_result *r);

#endif /* URT_SIM_STORM_H */
