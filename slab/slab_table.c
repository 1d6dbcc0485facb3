/* SPDX-License-Identifier: MIT */
/*
 * slab_table.c - per-thread slab bindings.
 *
 * The binding lives in an initial-exec TLS variable, so reading it is one
 * %fs-relative load. The default binding points at urt_slab_table_none,
 * never at NULL: callers call through the table without a check, and the
 * "nothing installed" case costs nothing until it is hit.
 */
#include "urt/slab_table.h"

#include <errno.h>

static int tbl_claim(void *slab, struct urt_slot *out)
{
	return urt_slab_claim(slab, out);
}

static int tbl_try_claim(void *slab, struct urt_slot *out)
{
	return urt_slab_try_claim(slab, out);
}

static void tbl_commit(void *slab, const struct urt_slot *claim)
{
	urt_slab_commit(slab, claim);
}

static void tbl_release(void *slab, const struct urt_slot *claim)
{
	urt_slab_release(slab, claim);
}

static void tbl_free(void *slab, void *ptr, uint32_t chunk)
{
	urt_slab_free(slab, ptr, chunk);
}

static size_t tbl_slot_size(const void *slab)
{
	return ((const struct urt_slab *)slab)->slot_size;
}

const struct urt_slab_table urt_slab_table_urt = {
	.claim = tbl_claim,
	.try_claim = tbl_try_claim,
	.commit = tbl_commit,
	.release = tbl_release,
	.free = tbl_free,
	.slot_size = tbl_slot_size,
};

static int none_claim(void *slab, struct urt_slot *out)
{
	(void)slab, (void)out;
	return -ENODEV;
}

/* Nothing can be claimed from "none", so nothing can be given back to it. */
static void none_put(void *slab, const struct urt_slot *claim)
{
	(void)slab, (void)claim;
}

static void none_free(void *slab, void *ptr, uint32_t chunk)
{
	(void)slab, (void)ptr, (void)chunk;
}

static size_t none_slot_size(const void *slab)
{
	(void)slab;
	return 0;
}

const struct urt_slab_table urt_slab_table_none = {
	.claim = none_claim,
	.try_claim = none_claim,
	.commit = none_put,
	.release = none_put,
	.free = none_free,
	.slot_size = none_slot_size,
};

__thread struct urt_slab_binding urt__slab_tls
	__attribute__((tls_model("initial-exec"))) = { &urt_slab_table_none, NULL };

struct urt_slab_binding urt_slab_install(const struct urt_slab_table *table, void *slab)
{
	struct urt_slab_binding prev = urt__slab_tls;

	urt__slab_tls = (struct urt_slab_binding){ table ? table : &urt_slab_table_none, slab };
	return prev;
}

void urt_slab_restore(struct urt_slab_binding prev)
{
	urt__slab_tls = prev;
}
