/* SPDX-License-Identifier: MIT */
/*
 * simlib.h - what the scenarios of urt-sim share: a generator of their
 * own (so the world they build does not draw from the model's), the
 * swarm knobs drawn from the seed, the first-failure record and the
 * end-of-run checks on a runtime's counters.
 */
#ifndef URT_SIM_SIMLIB_H
#define URT_SIM_SIMLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urt/urt.h>

#include "scenario.h"

/* splitmix64: the scenario's choices, apart from the model's */
struct scn_rng {
	uint64_t s;
};

static inline uint64_t scn_rand(struct scn_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* uniform in [0, n); 0 for n 0 */
static inline uint64_t scn_below(struct scn_rng *r, uint64_t n)
{
	return n ? scn_rand(r) % n : 0;
}

/* uniform in [lo, hi] */
static inline uint32_t scn_range(struct scn_rng *r, uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)scn_below(r, (uint64_t)hi - lo + 1);
}

/* true pct percent of the time */
static inline bool scn_chance(struct scn_rng *r, unsigned pct)
{
	return scn_below(r, 100) < pct;
}

/* A generator for one scenario and seed: the scenario's tag keeps two
 * scenarios of one seed from drawing the same world. */
void scn_rng_seed(struct scn_rng *r, uint64_t seed, const char *tag);

/*
 * The swarm knobs, drawn from r: the model's latency, receive queue and
 * short transfers; the runtime's ring, provided buffers and stream queue.
 * The trace and the seed come from o. sim and rt are filled whole.
 */
void scn_knobs(struct scn_rng *r, const struct scn_opts *o, struct urt_sim_opts *sim,
	       struct urt_runtime_opts *rt);

/*
 * The buffer mode of o (drawn from o's seed unless o forces one) and
 * whether urt_send_all goes zero-copy (send_zc_min, drawn): into rt. From
 * a generator of their own, so a scenario's world is the same in every
 * mode. scn_knobs does it; a scenario that draws its own knobs calls it.
 */
void scn_knobs_bufs(const struct scn_opts *o, struct urt_runtime_opts *rt);
/* "single", "bundle", "inc" (or "seed"). */
const char *scn_bufmode_name(uint32_t mode);

/*
 * The invariants after every event (urt_sim_opts.check): with the run's
 * runtime (this thread's) in place, the provided buffers the model may
 * fill are no more than the ring's entries nor than the runtime counts
 * free (a buffer given back twice shows at once); the runtime's counts:
 * free <= count, queued <= out of the kernel's hands (but in part, where a
 * buffer is several pieces), op records <= op_records, the slab's slots
 * and the frame arena within their capacity. scn_knobs arms it in sim for
 * the runtime options rt (a scenario that draws its own knobs calls
 * scn_watch_arm after them); the first failure is kept, with the event,
 * the runtime is stopped (urt_stop: urt_run returns), and scn_watch_take
 * hands the failure over (urt-sim reads it after each run).
 */
void scn_watch_arm(struct urt_sim_opts *sim, const struct urt_runtime_opts *rt);
/* The first invariant that failed since scn_watch_arm, into why (256
 * bytes), ahead of a failure why holds already (the invariant names the
 * event that broke it; the scenario's check is usually its consequence);
 * disarms. Return: whether one failed. */
bool scn_watch_take(char *why);
/* Checks made since scn_watch_arm. */
uint64_t scn_watch_checks(void);

/* The knobs as one line, for a failure's why[] (buf of n bytes). */
void scn_knobs_str(char *buf, size_t n, const struct urt_sim_opts *sim,
		   const struct urt_runtime_opts *rt);

/* Record a failure in why (256 bytes) unless one is there: the first one
 * is what the run reports. Return: false (for `return scn_fail(...)`). */
bool scn_fail(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Each of the n types (and the overflow entry): spawned = completed +
 * aborted. Return: true; false with why filled. */
bool scn_check_types(struct urt_runtime *rt, const struct urt_task_type *const *types, size_t n,
		     char *why);

/*
 * The end of a run that went to completion: no task live, no op record,
 * nothing in flight, no timer, every provided buffer back, no spill, no
 * stale completion, no stall, every descriptor of the model closed, and
 * scn_check_types. Return: true; false with why filled.
 */
bool scn_check_clean(struct urt_runtime *rt, struct urt_sim *sim,
		     const struct urt_task_type *const *types, size_t ntypes, char *why);

/* Tick until nothing is in flight (the detached closes drops made).
 * Return: true; false with why filled (a tick failed, or it never ends). */
bool scn_settle(struct urt_runtime *rt, char *why);

/*
 * An echo task for one accepted connection: echoes what it receives
 * (a multishot receive into the provided buffers, urt_send_all) until end
 * of file or an error, then ends its stream; its drop gives back a buffer
 * it holds and closes fd through the ring. *done (if set) counts it when it
 * ends by itself, *dropped (if set) when its drop runs.
 */
struct scn_echo {
	int fd, n;
	uint32_t *done;
	uint8_t *dropped;
	struct urt_op rx;
	struct urt_io_all tx;
	struct urt_buf buf;
};

extern const struct urt_task_type scn_echo_type;

#endif /* URT_SIM_SIMLIB_H */
