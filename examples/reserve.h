/* SPDX-License-Identifier: MIT */
/*
 * reserve.h - the op records (and task memory) the example servers make at init for
 * --max-conns connections (urt_runtime_opts.op_records_reserve), so that
 * below it a loaded server asks its allocator for no record after init,
 * however late in a run a peak of operations comes (docs/design.md, "A
 * reserve of op records"). Header-only.
 *
 * A connection counts the operations it can have in flight at once (each
 * server says which of its handles those are). Chunk records of
 * completions a stream queues unread come on top and still grow the pool
 * past the reserve: their bound is the streams' queues, not a connection
 * count. Reserved records are written only as first used, so what is
 * made for connections that never come costs address space (64 bytes a
 * record), not resident memory.
 *
 * The same for task memory (urt_runtime_opts.task_scopes_reserve and
 * task_blocks_reserve): a scope and the buffers of a size class a
 * connection holds at once, so a peak of connections being served at once
 * (old ones not yet ended beside new ones) grows no pool after init.
 */
#ifndef URT_EXAMPLES_RESERVE_H
#define URT_EXAMPLES_RESERVE_H

#include <stdint.h>

/* connections a server makes room for at init at most (--max-conns above
 * it grows past them) */
#define RESERVE_CONNS 131072u
/* op records reserved at most: opts.op_records' default (a reserve past a
 * runtime's op_records is refused at init); 16 MiB of address space */
#define RESERVE_OPS 262144u

/* Op records to reserve for max_conns connections holding per at once. */
static inline uint32_t reserve_ops(uint32_t max_conns, uint32_t per)
{
	uint64_t n = (uint64_t)(max_conns < RESERVE_CONNS ? max_conns : RESERVE_CONNS) * per;

	return n < RESERVE_OPS ? (uint32_t)n : RESERVE_OPS;
}

/* Task memory blocks to reserve for max_conns connections holding per at
 * once (urt_runtime_opts.task_blocks_reserve), or their scopes (per 1). */
static inline uint32_t reserve_blocks(uint32_t max_conns, uint32_t per)
{
	return (max_conns < RESERVE_CONNS ? max_conns : RESERVE_CONNS) * per;
}

#endif
