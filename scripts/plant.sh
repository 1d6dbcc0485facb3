#!/usr/bin/env bash
# plant.sh - the simulator's reach: build urt-sim with each planted bug
# (cmake/UrtOptions.cmake, URT_PLANT) and report, per scenario, the first
# seed that catches it. Fails if a planted bug survives every scenario
# for SEEDS seeds (default 5000, the CI budget per scenario).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-5000}
jobs=${JOBS:-$(nproc)}
fail=0
printf '%-11s %-18s %s\n' plant scenario "first failing seed (of $seeds)"
for p in lost_wake buf_twice early_free; do
	dir=build/plant-$p
	cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DURT_PLANT="$p" -DURT_BUILD_BENCHES=OFF \
		-DBUILD_TESTING=OFF > /dev/null 2> "$dir.cmake.log" || { cat "$dir.cmake.log"; exit 2; }
	cmake --build "$dir" -j "$jobs" --target urt-sim > /dev/null
	out=$("$dir/bin/urt-sim" --scenario all --seeds "$seeds" 2>&1 || true)
	caught=0
	for scn in $("$dir/bin/urt-sim" --list | awk '{print $1}'); do
		s=$(printf '%s\n' "$out" | sed -n "s/^FAIL $scn seed=\([0-9]*\):.*/\1/p" | head -1)
		printf '%-11s %-18s %s\n' "$p" "$scn" "${s:-not caught}"
		[ -n "$s" ] && caught=1
	done
	[ "$caught" = 1 ] || { echo "plant.sh: $p survived $seeds seeds of every scenario"; fail=1; }
done
exit $fail
