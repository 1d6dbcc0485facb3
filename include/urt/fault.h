/* SPDX-License-Identifier: MIT */
/*
 * urt/fault.h - fault injection for tests: one seam every submission and
 * every completion passes through. Compiled in only when the library is
 * built with URT_FAULTS (the debug, asan and tsan presets); release builds
 * pay nothing and urt_fault_set answers -ENOTSUP.
 *
 * What a test can do with it, and why each is safe to inject:
 *  - fail a submission with an error: the SQE becomes a no-op, and its
 *    completion carries the error, through the ordinary completion path
 *    (nothing reached the kernel, so no data is lost);
 *  - shorten a submission's length: the kernel really moves fewer bytes, so
 *    a short read or write is real, not a lie about data already moved;
 *  - change a completion's result (an -ECANCELED racing a completion, say);
 *    a provided buffer the completion carried goes back to the ring. Do
 *    not turn a multishot completion that carries IORING_CQE_F_MORE into
 *    an error: the kernel never posts that, and the stream would go on;
 *  - refuse an op record, as if the pool could not grow (-ENOMEM);
 *  - deliver a made-up completion, e.g. one whose generation is stale.
 */
#ifndef URT_FAULT_H
#define URT_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "urt/io.h"
#include "urt/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

struct urt_fault {
	/* each submission: 0 to pass (*len may be lowered), or -errno to
	 * complete the operation with that result instead; opcode is IORING_OP_* */
	int (*submit)(void *ctx, unsigned opcode, uint32_t *len);
	/* each completion of an operation, before it is applied */
	void (*complete)(void *ctx, unsigned opcode, int32_t *res, uint32_t *cflags);
	/* each op record about to be taken: true refuses it (-ENOMEM) */
	bool (*record)(void *ctx);
	void *ctx;
};

/*
 * urt_fault_set - install f (NULL removes it); f must outlive its use.
 * Return: 0; -ENOTSUP if the library was built without URT_FAULTS.
 */
int urt_fault_set(struct urt_runtime *rt, const struct urt_fault *f);

/*
 * urt_fault_complete - deliver a completion that the kernel did not post,
 * through the same path as real ones.
 * Return: 0; -ENOTSUP without URT_FAULTS.
 */
int urt_fault_complete(struct urt_runtime *rt, uint64_t user_data, int32_t res, uint32_t cflags);

/* urt_op_user_data - the user_data of op's in-flight record; 0 if idle. */
uint64_t urt_op_user_data(const struct urt_op *op);

#ifdef __cplusplus
}
#endif

#endif /* URT_FAULT_H */
