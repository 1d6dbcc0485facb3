/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the loop's view (runtime.c): every layer of the runtime;
 * not installed. Files in exec/ and io/ include their own layer's header
 * (exec_internal.h, io_internal.h), never this one (check-layers.sh).
 */
#ifndef URT_RUNTIME_INTERNAL_H
#define URT_RUNTIME_INTERNAL_H

#include "exec/exec_internal.h"
#include "io/io_internal.h"
#include "sim/sim_internal.h"
#include "sys/sys_internal.h"

#endif /* URT_RUNTIME_INTERNAL_H */
