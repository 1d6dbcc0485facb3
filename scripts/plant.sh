#!/usr/bin/env bash
# plant.sh - the simulator's reach: build urt-sim with each planted bug
# (cmake/UrtOptions.cmake, URT_PLANT) and report, per scenario, the first
# seed that catches it. Fails if a planted bug survives every scenario
# for SEEDS seeds (default 5000, the CI budget per scenario).
# PLANT_SIM=BIN runs BIN for every plant instead of building (the report's
# own check, scripts/check-plant.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${SEEDS:-5000}
jobs=${JOBS:-$(nproc)}
fail=0
printf '%-11s %-18s %s\n' plant scenario "first failing seed (of $seeds)"
for p in lost_wake buf_twice early_free; do
	dir=build/plant-$p
	sim=${PLANT_SIM:-$dir/bin/urt-sim}
	if [ -z "${PLANT_SIM:-}" ]; then
		cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DURT_PLANT="$p" -DURT_BUILD_BENCHES=OFF \
			-DBUILD_TESTING=OFF > /dev/null 2> "$dir.cmake.log" || { cat "$dir.cmake.log"; exit 2; }
		cmake --build "$dir" -j "$jobs" --target urt-sim > /dev/null
	fi
	out=$("$sim" --scenario all --seeds "$seeds" 2>&1 || true)
	caught=0
	for scn in $("$sim" --list | awk '{print $1}'); do
		# the first FAIL line only, sed quitting there, from a here-string:
		# `| head -1` ended while sed still wrote the seeds after it (a
		# plant caught by most of 5,000 seeds), and under pipefail sed's
		# SIGPIPE (141) ended the script (review 9)
		s=$(sed -n "/^FAIL $scn seed=/{s/^FAIL $scn seed=\([0-9]*\):.*/\1/p;q}" <<< "$out")
		printf '%-11s %-18s %s\n' "$p" "$scn" "${s:-not caught}"
		[ -n "$s" ] && caught=1
	done
	[ "$caught" = 1 ] || { echo "plant.sh: $p survived $seeds seeds of every scenario"; fail=1; }
done
exit $fail
