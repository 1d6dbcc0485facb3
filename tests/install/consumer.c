/* A program built against an installed urt, as a user would build one. */
#include <stdio.h>

#include <urt/urt.h>

int main(void)
{
	struct urt_slab s;
	struct urt_slot slot;

	if (urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 64, .slots = 8 }) ||
	    urt_slab_alloc(&s, &slot))
		return 1;
	urt_slab_free(&s, slot.ptr, slot.chunk);
	urt_slab_deinit(&s);
	puts("consumer: ok");
	return 0;
}
