#!/usr/bin/env bash
# check-layers.sh ROOT - the layering rule, checked on the sources; fails
# on the first kind of breach it finds and names every file that breaches.
#
# Layers, lowest first (docs/architecture.md, "Layers"):
#   alloc    alloc/           allocators
#   slab     slab/            slabs, slab bindings
#   exec     runtime/exec/    the executor: tasks, spawn, wait queues, remote, channels
#   io       runtime/io/      the io_uring I/O layer
#   runtime  runtime/*.c      the loop (runtime.c), where the layers meet
#   tls      tls/             liburt_tls, a library above the runtime: it may
#                             use the public headers only (rule 4)
# (runtime/sys/, for signals, the blocking pool, DNS and processes, will sit
# between io and the loop: rank 5, already reserved below.)
#
# A file of a layer may use only its own layer and the layers below:
#   1. #include "urt/X.h" (public) and "X.h" (internal) only of a layer at
#      or below its own; every quoted header must be in the map below, so a
#      new header has to be placed in a layer;
#   2. no io_uring header (<liburing.h>, <linux/io_uring.h>) below io;
#   3. no urt__ / URT__ name owned by a layer above (a name belongs to the
#      lowest layer whose headers mention it), comments aside. The
#      executor's one call outward, urt__exec_ops_end, is declared in
#      exec_internal.h and defined by the loop: a name of exec, so allowed.
#   4. tls includes no internal header of the runtime: it is built as a
#      user's library would be, on include/urt/ alone.
set -euo pipefail
root=${1:-.}
cc=${CC:-cc}

order=(alloc slab exec io sys sim runtime tls)
declare -A rank=([alloc]=1 [slab]=2 [exec]=3 [io]=4 [sys]=5 [sim]=5 [runtime]=6 [tls]=7 [umbrella]=9)
declare -A owner=(
	[urt/allocator.h]=alloc [urt/arena.h]=alloc [urt/pool.h]=alloc [urt/scope.h]=alloc
	[urt_debug.h]=alloc
	[urt/slab.h]=slab [urt/slab_table.h]=slab
	[urt/runtime.h]=exec [urt/task.h]=exec [urt/channel.h]=exec [urt/event.h]=exec
	[exec_internal.h]=exec
	[urt/io.h]=io [urt/net.h]=io [urt/time.h]=io [urt/fault.h]=io
	[io_internal.h]=io
	[urt/blocking.h]=sys [urt/dns.h]=sys
	[sys_internal.h]=sys
	[urt/signal.h]=sys [urt/server.h]=sys
	[urt/process.h]=sys
	[urt/sim.h]=sim [sim_internal.h]=sim
	[internal.h]=runtime
	[urt/tls.h]=tls [tls_internal.h]=tls
	[urt/urt.h]=umbrella
)
# The files of each layer: its sources and internal headers. The loop's
# are runtime/ itself, not its subfolders.
layer_files() {
	case $1 in
	alloc | slab) [ -d "$root/$1" ] && find "$root/$1" -name '*.[ch]' ;;
	exec | io | sys | sim) [ -d "$root/runtime/$1" ] && find "$root/runtime/$1" -name '*.[ch]' ;;
	runtime) [ -d "$root/runtime" ] && find "$root/runtime" -maxdepth 1 -name '*.[ch]' ;;
	tls) [ -d "$root/tls" ] && find "$root/tls" -name '*.[ch]' ;;
	esac | sort
}
# A header's path from its map name.
header_path() {
	case $1 in
	urt/*) echo "$root/include/$1" ;;
	urt_debug.h) echo "$root/alloc/$1" ;;
	exec_internal.h) echo "$root/runtime/exec/$1" ;;
	io_internal.h) echo "$root/runtime/io/$1" ;;
	sys_internal.h) echo "$root/runtime/sys/$1" ;;
	sim_internal.h) echo "$root/runtime/sim/$1" ;;
	internal.h) echo "$root/runtime/$1" ;;
	tls_internal.h) echo "$root/tls/$1" ;;
	esac
}
# Code without comments (the compiler's own lexer: no include is expanded).
# load runs in this shell (the cache), code in the subshells that read it.
declare -A code_of=()
load() {
	[ -n "${code_of[$1]+x}" ] && return
	code_of[$1]=$("$cc" -fpreprocessed -dD -E -P "$1" 2>/dev/null) || {
		echo "check-layers: $cc could not read $1"
		exit 2
	}
}
code() { printf '%s\n' "${code_of[$1]}"; }
names() { code "$1" | grep -oE '\b(urt__|URT__)[A-Za-z0-9_]+' | sort -u || true; }

fail=0

# 1, 2: includes.
for layer in "${order[@]}"; do
	while read -r f; do
		[ -n "$f" ] || continue
		load "$f"
		while read -r h; do
			[ -n "$h" ] || continue
			if [[ $h == urt/* ]]; then o=${owner[$h]:-}; else o=${owner[$(basename "$h")]:-}; fi
			if [ -z "$o" ]; then
				echo "check-layers: $f includes \"$h\", which no layer owns (add it to the map)"
				fail=1
			elif [ "${rank[$o]}" -gt "${rank[$layer]}" ]; then
				echo "check-layers: $f ($layer) includes \"$h\" of $o, a layer above"
				fail=1
			elif [ "$layer" = tls ] && [[ $h != urt/* ]] && [ "$o" != tls ]; then
				echo "check-layers: $f (tls) includes \"$h\", an internal header of $o"
				fail=1
			fi
		done < <(code "$f" | sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p')
		if [ "${rank[$layer]}" -lt "${rank[io]}" ] &&
			grep -qE '#[[:space:]]*include[[:space:]]*<(liburing\.h|linux/io_uring\.h)>' < <(code "$f"); then
			echo "check-layers: $f ($layer) includes an io_uring header: only io and above may"
			fail=1
		fi
	done < <(layer_files "$layer")
done

# 3: names. Each urt__/URT__ name belongs to the lowest layer whose headers
# (public and internal) mention it.
declare -A name_owner=()
for layer in "${order[@]}"; do
	for h in "${!owner[@]}"; do
		[ "${owner[$h]}" = "$layer" ] || continue
		p=$(header_path "$h")
		[ -f "$p" ] || continue
		load "$p"
		while read -r n; do
			[ -n "$n" ] && [ -z "${name_owner[$n]:-}" ] && name_owner[$n]=$layer
		done < <(names "$p")
	done
done
for layer in "${order[@]}"; do
	while read -r f; do
		[ -n "$f" ] || continue
		while read -r n; do
			o=${name_owner[$n]:-}
			if [ -n "$o" ] && [ "${rank[$o]}" -gt "${rank[$layer]}" ]; then
				echo "check-layers: $f ($layer) uses $n of $o, a layer above"
				fail=1
			fi
		done < <(names "$f")
	done < <(layer_files "$layer")
done

[ $fail -eq 0 ] && echo "check-layers: ok (alloc < slab < exec < io < [sys <] runtime loop < tls)"
exit $fail
