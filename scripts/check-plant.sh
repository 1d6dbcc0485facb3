#!/usr/bin/env bash
# check-plant.sh - plant.sh's report on a simulator that fails every seed
# (a plant caught at once, as lost_wake is in abort-storm: 5,000 FAIL
# lines): each scenario's first failing seed is named and plant.sh exits
# 0. A stand-in urt-sim (this script, as PLANT_SIM) prints them; nothing
# is built.
set -uo pipefail
if [ "${1:-}" = --list ]; then
	printf '%s\n' "abort-storm  tasks aborted in a storm" "echo  an echo server"
	exit 0
fi
if [ "${1:-}" = --scenario ]; then # the stand-in: every seed of abort-storm fails
	for ((i = 1; i <= $4; i++)); do
		echo "FAIL abort-storm seed=$i: stall (-EDEADLK)"
		echo "  replay: urt-sim --scenario abort-storm --seed $i --trace"
	done
	exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
out=$(PLANT_SIM="$here/check-plant.sh" SEEDS=5000 "$here/plant.sh" 2>&1)
rc=$?
printf '%s\n' "$out"
bad=0
[ "$rc" = 0 ] || { echo "check-plant: plant.sh exited $rc, not 0" >&2; bad=1; }
for p in lost_wake buf_twice early_free; do
	grep -Eq "^$p +abort-storm +1\$" <<< "$out" ||
		{ echo "check-plant: $p: abort-storm's first seed not 1" >&2; bad=1; }
	grep -Eq "^$p +echo +not caught\$" <<< "$out" ||
		{ echo "check-plant: $p: echo not 'not caught'" >&2; bad=1; }
done
[ "$bad" = 0 ] && echo "check-plant: every plant's first seed named, plant.sh exited 0"
exit "$bad"
