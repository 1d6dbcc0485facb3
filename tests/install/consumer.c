/*
 * A program built against an installed urt, as a user would build one:
 * a slab on its own, then a runtime whose slab task adds two numbers. It
 * goes through the thread-locals (the runtime and the slab binding), the
 * ring (liburing), an inline slow path of an installed header and
 * urt_type_stats: whatever a shared build could fail to export.
 */
#include <errno.h>
#include <stdio.h>

#include <urt/urt.h>

struct add {
	uint64_t a, b;
};

static bool add_poll(struct urt_task *t, void *arg)
{
	struct add *st = arg;

	URT_BEGIN(t);
	URT_RETURN(t, st->a + st->b);
	URT_END(t);
}

static const struct urt_task_type add_type = { .poll = add_poll, .name = "add" };

static int run_task(void)
{
	struct urt_runtime rt;
	struct urt_type_stats ts;
	struct urt_join j;
	uint64_t out = 0;
	int ret;

	ret = urt_runtime_init(&rt, &(struct urt_runtime_opts){ .slab = URT_SLAB_BOUNDED });
	if (ret == -ENOSYS || ret == -EPERM) {
		puts("consumer: io_uring unavailable, runtime not tried");
		return 0;
	}
	if (ret)
		return 1;
	if (urt_spawn_slab(&add_type, &(struct add){ 40, 2 }, sizeof(struct add), &j) ||
	    urt_run(&rt) || urt_join_take(&j, &out) || out != 42)
		ret = 1;
	if (!ret && (urt_type_stats(&rt, &add_type, &ts) || ts.completed != 1))
		ret = 1;
	urt_runtime_deinit(&rt);
	return ret;
}

int main(void)
{
	struct urt_slab s;
	struct urt_slot slot;

	if (urt_slab_init(&s, &(struct urt_slab_opts){ .slot_size = 64, .slots = 8 }) ||
	    urt_slab_alloc(&s, &slot))
		return 1;
	urt_slab_free(&s, slot.ptr, slot.chunk);
	urt_slab_deinit(&s);
	if (run_task())
		return 1;
	puts("consumer: ok");
	return 0;
}
