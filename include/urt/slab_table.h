/* SPDX-License-Identifier: MIT */
/*
 * urt/slab_table.h - the slab installed on this thread, reached through a
 * table of function pointers, so spawning code never names a slab and a
 * program can plug in its own slab behind the same calls.
 *
 * urt_spawn_slab and the claim calls do not name a slab: they use the one
 * installed on the calling thread. Installing stores {table, slab} in
 * thread-local storage and returns the previous binding, so installs nest:
 *
 *	struct urt_slab_binding prev = urt_slab_install(&urt_slab_table_urt, &my_slab);
 *	...
 *	urt_slab_restore(prev);
 *
 * With nothing installed, the default table answers every claim with
 * -ENODEV. A slot is always freed through the binding it was claimed from
 * (the runtime records which), never through whatever is installed at free
 * time, so an install that comes and goes cannot send a slot to the wrong
 * slab (the wrong-slab free: docs/design.md, "Slab bindings").
 * A runtime keeps a binding by the slab's address for its whole life: a
 * slab it spawned from must not be deinit and initialised again at that
 * address before urt_runtime_deinit. The binding records the slab's init
 * generation (urt_slab.gen), so such a slab is never taken for the old one
 * (its slot size, its registry cover): spawns and claims through it fail
 * with -ESTALE and change nothing; debug and ASan builds stop with "a slab
 * re-initialised while bound".
 * Context: the calling thread only; bindings are per thread.
 */
#ifndef URT_SLAB_TABLE_H
#define URT_SLAB_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "urt/slab.h"

#ifdef __cplusplus
extern "C" {
#endif

struct urt_slab_table {
	/* reserve a slot, growing if the slab can; 0, -ENOSPC, -ENOMEM, -ENODEV */
	int (*claim)(void *slab, struct urt_slot *out);
	/* reserve a slot only if one is vacant, never allocating; 0, -ENOSPC, -ENODEV */
	int (*try_claim)(void *slab, struct urt_slot *out);
	/* a claimed slot becomes occupied */
	void (*commit)(void *slab, const struct urt_slot *claim);
	/* give back a claimed slot unused */
	void (*release)(void *slab, const struct urt_slot *claim);
	/* give back an occupied slot */
	void (*free)(void *slab, void *ptr, uint32_t chunk);
	/* bytes per slot (0 when nothing is installed) */
	size_t (*slot_size)(const void *slab);
};

struct urt_slab_binding {
	const struct urt_slab_table *table;
	void *slab;
};

/* The table for struct urt_slab. */
extern const struct urt_slab_table urt_slab_table_urt;
/* The table in force when nothing is installed: every claim is -ENODEV. */
extern const struct urt_slab_table urt_slab_table_none;

/*
 * The binding of the calling thread (table is never NULL). initial-exec:
 * a read is one %fs-relative load, in liburt.so too, never a
 * __tls_get_addr call (docs/architecture.md, "Thread-locals").
 */
extern __thread struct urt_slab_binding urt__slab_tls
	__attribute__((tls_model("initial-exec")));

/*
 * urt_slab_install - make {table, slab} this thread's slab.
 * Return: the previous binding, to hand to urt_slab_restore.
 */
struct urt_slab_binding urt_slab_install(const struct urt_slab_table *table, void *slab);

/* urt_slab_restore - put back a binding urt_slab_install returned. */
void urt_slab_restore(struct urt_slab_binding prev);

/* urt_slab_current - this thread's binding. */
static inline struct urt_slab_binding urt_slab_current(void)
{
	return urt__slab_tls;
}

#ifdef __cplusplus
}
#endif

#endif /* URT_SLAB_TABLE_H */
