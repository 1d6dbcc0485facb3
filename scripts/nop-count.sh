#!/bin/sh
# nop-count.sh [BENCH_IO]: user-space instructions per NOP, counted by
# callgrind (deterministic, so not moved by a loaded host), for an awaited
# NOP (urt) and a raw liburing NOP at 1, 8 and 32 in flight, with the
# functions that cost most. BENCH_IO is a release build's bench_io
# (default build/release/benches/bench_io; not the bench preset's: its
# -march=native emits instructions valgrind does not know). Each run is
# 1,000 NOPs of warm-up and 64,000 counted; the per-NOP figures divide the
# whole process's count (start-up included, ~2 a NOP) by 65,000.
set -eu

bin=${1:-build/release/benches/bench_io}
n=64000

command -v valgrind >/dev/null || { echo "nop-count: valgrind is not installed" >&2; exit 1; }
[ -x "$bin" ] || {
	echo "nop-count: no $bin (cmake --preset release && cmake --build --preset release)" >&2
	exit 1
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

for mode in urt raw; do
	for b in 1 8 32; do
		valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" nop-count "$mode" "$b" "$n" \
			>/dev/null 2>&1
		callgrind_annotate --show-percs=no "$out/cg" 2>/dev/null |
			awk -v m="$mode" -v b="$b" -v n=$((n + 1000)) '
			function per(s) { gsub(",", "", s); return s / n }
			/PROGRAM TOTALS/ { printf "%s, %2d in flight: %6.1f instructions a NOP\n", m, b, per($1) }
			/file:function/ { body = 1; next }
			body && NF >= 2 && $1 ~ /^[0-9,]+$/ && shown < 6 {
				printf "    %6.1f  %s\n", per($1), $2; shown++
			}'
	done
done
