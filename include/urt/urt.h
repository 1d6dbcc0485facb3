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
#include "urt/event.h"
#include "urt/io.h"
#include "urt/net.h"
#include "urt/process.h"
#include "urt/time.h"
#include "urt/blocking.h"
#include "urt/dns.h"
#include "urt/signal.h"
#include "urt/server.h"
#include "urt/sim.h"

#endif /* URT_URT_H */
