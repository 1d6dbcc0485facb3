/* SPDX-License-Identifier: MIT */
/*
 * fault.c - the fault-injection calls (urt/fault.h). Test builds
 * (URT_FAULTS) route every submission (op.c, fault_submit) and completion
 * (complete.c, urt__cqe_dispatch) through the program's hook; these calls
 * install it and inject completions the kernel never posted. Release
 * builds answer -ENOTSUP.
 */
#include "io_internal.h"

#include <errno.h>
#include <liburing.h>

int urt_fault_set(struct urt_runtime *rt, const struct urt_fault *f)
{
#ifdef URT_FAULTS
	rt->fault = f;
	return 0;
#else
	(void)rt, (void)f;
	return -ENOTSUP;
#endif
}

int urt_fault_complete(struct urt_runtime *rt, uint64_t user_data, int32_t res, uint32_t cflags)
{
#ifdef URT_FAULTS
	/* nothing was submitted for it: count it, as dispatch will take one
	 * back for a final completion */
	if (!(cflags & IORING_CQE_F_MORE) && user_data != URT__UD_EVENTFD)
		rt->ring_inflight++;
	urt__cqe_dispatch(rt, user_data, res, cflags);
	return 0;
#else
	(void)rt, (void)user_data, (void)res, (void)cflags;
	return -ENOTSUP;
#endif
}

uint64_t urt_op_user_data(const struct urt_op *op)
{
	struct urt_runtime *rt = urt__rt;

	if (!rt || !urt_op_busy(op))
		return 0;
	return urt__ud(urt__rec_at(rt, op->rec), op->rec, 0);
}
