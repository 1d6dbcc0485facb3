/* SPDX-License-Identifier: MIT */
/*
 * scope.c - allocation scopes over a size-class pool.
 *
 * Live blocks form a doubly linked list, newest first. Sequence numbers
 * grow along allocation order, so the list is sorted by seq descending
 * whatever was freed early, and "allocated since mark m" is exactly the
 * prefix of the list with seq >= m.seq.
 *
 * Invariants:
 *   blocks = length(list),  bytes = sum(block->size)
 *   head->seq > head->next->seq > ...
 */
#include "urt/scope.h"

#include "urt_debug.h"

#define HDR sizeof(struct urt_scope_block)

_Static_assert(sizeof(struct urt_scope_block) % 16 == 0, "caller bytes stay 16-aligned");
_Static_assert(sizeof(struct urt_scope_block) <= URT_SIZECLASS_HEADROOM,
	       "a 64 KiB task block and its header fit the top class");

void urt_scope_init(struct urt_scope *s, struct urt_sizeclass *sc)
{
	*s = (struct urt_scope){ .sc = sc };
}

/*
 * Under ASan, the block's class bytes past the request are poisoned: a
 * write past a 5,000-byte block lands in its 6 KiB class's slack, which
 * nothing reported (malloc's redzone did while blocks above 4 KiB were
 * malloc's). Freeing poisons the whole block and the next alloc of the
 * class unpoisons it whole (pool.c), or a big block given back to the
 * allocator is unpoisoned first, so nothing here has to undo this. Only
 * ASan: the debug build's fill would write the slack for nothing.
 */
static void poison_slack(struct urt_scope_block *b, size_t size)
{
#ifdef URT_ASAN
	size_t used = HDR + size;

	urt__poison((char *)b + used, urt_sizeclass_class_size(used) - used, URT_POISON_POOL);
#else
	(void)b, (void)size;
#endif
}

void *urt_scope_alloc(struct urt_scope *s, size_t size)
{
	struct urt_scope_block *b;

	if (size > SIZE_MAX - HDR)
		return NULL;
	b = urt_sizeclass_alloc(s->sc, HDR + size);
	if (!b)
		return NULL;
	*b = (struct urt_scope_block){ .next = s->head, .size = size, .seq = s->seq++ };
	if (s->head)
		s->head->prev = b;
	s->head = b;
	s->blocks++;
	s->bytes += size;
	poison_slack(b, size);
	return b + 1;
}

static void unlink_free(struct urt_scope *s, struct urt_scope_block *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		s->head = b->next;
	if (b->next)
		b->next->prev = b->prev;
	s->blocks--;
	s->bytes -= b->size;
	urt_sizeclass_free(s->sc, b, HDR + b->size);
}

void urt_scope_free(struct urt_scope *s, void *ptr)
{
	URT_ASSERT(s->blocks > 0, "scope free with no live block");
	unlink_free(s, (struct urt_scope_block *)ptr - 1);
}

void urt_scope_rewind(struct urt_scope *s, struct urt_scope_mark m)
{
	while (s->head && s->head->seq >= m.seq)
		unlink_free(s, s->head);
}

void urt_scope_reset(struct urt_scope *s)
{
	while (s->head)
		unlink_free(s, s->head);
}
