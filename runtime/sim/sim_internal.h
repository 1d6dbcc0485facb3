/* SPDX-License-Identifier: MIT */
/*
 * sim_internal.h - the simulated kernel (runtime/sim/), as the loop sees
 * it: a struct urt__kern (io_internal.h) that the loop installs when
 * urt_runtime_opts.sim is set; not installed. sim sits on the I/O layer's
 * table and user_data conventions, and on nothing else of the runtime.
 */
#ifndef URT_SIM_INTERNAL_H
#define URT_SIM_INTERNAL_H

#include "../io/io_internal.h"
#include "urt/sim.h"

URT_HIDDEN extern const struct urt__kern urt__kern_sim;

#endif /* URT_SIM_INTERNAL_H */
