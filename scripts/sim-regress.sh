#!/usr/bin/env bash
# sim-regress.sh URT_SIM CASES [--record] - stored simulation cases: each
# line of CASES is "scenario seed faults hash"; each must replay (urt-sim
# --scenario S --seed N --faults F --trace) to its hash. A mismatch means
# the sequence of events of that seed changed: a regression, or a
# deliberate change of the runtime or the model, which is then re-recorded
# with --record (rewrites CASES with the hashes of this build).
set -euo pipefail
sim=$1
cases=$2
record=${3:-}
fail=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while read -r scn seed faults want; do
	case $scn in '' | '#'*) echo "$scn${seed:+ $seed}${faults:+ $faults}${want:+ $want}" >> "$tmp"; continue ;; esac
	got=$("$sim" --scenario "$scn" --seed "$seed" --faults "$faults" --trace 2> /dev/null | tail -1)
	got=${got#hash=}
	if [ "$record" = --record ]; then
		echo "$scn $seed $faults $got" >> "$tmp"
	elif [ "$got" != "$want" ]; then
		echo "sim-regress: FAIL $scn seed $seed faults $faults: replays to $got, stored $want"
		echo "  replay: $sim --scenario $scn --seed $seed --faults $faults --trace"
		echo "  deliberate? re-record: scripts/sim-regress.sh $sim $cases --record"
		fail=1
	else
		echo "sim-regress: $scn seed $seed faults $faults: $got"
	fi
done < "$cases"
[ "$record" = --record ] && cp "$tmp" "$cases"
exit $fail
