/* SPDX-License-Identifier: MIT */
/* urt/urt.h - the whole public API. */
#ifndef URT_URT_H
#define URT_URT_H

#include "urt/allocator.h"
#include "urt/arena.h"
#include "urt/pool.h"
#include "urt/scope.h"
#include "urt/slab.h"
#include "urt/slab_table.h"
#include "urt/task.h"
#include "urt/runtime.h"
#include "urt/channel.h"
#include "urt/io.h"
#include "urt/net.h"
#include "urt/process.h"
#include "urt/time.h"

#endif /* URT_URT_H */
