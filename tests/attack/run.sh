#!/usr/bin/env bash
# run.sh BINDIR [release|asan|bench] - the attack suite (tests/attack):
# every attack of urt-attack --list against urt-echo, urt-http and urt-kv,
# each cell on a freshly started server (its default byte and count limits;
# only its time limits shortened, and only those its --help lists), then the
# attack x server matrix. Exit 1 on any FAIL or missing cell.
#   release, asan  test mode: outcomes (the CTest entries attack_release,
#                  attack_asan); asan allows a longer deadline and more RSS
#   bench          make bench-attack: req/s without and with each attack,
#                  REPEAT runs (3), the medians in one table
# Environment: RSS_GROWTH_MAX (the servers' documented memory bound; 64m,
# 256m under ASan, whose shadow and quarantine count in RSS), HELD_SLACK
# (ring buffers in flight past the seven eighths of the ring the runtime
# may hand out: one completion's, 17), SEED (malformed input), ATTACKS
# (a space-separated subset of --list; the report then has their rows
# only), THROTTLE (urt-attack --throttle: each server stopped that % of
# every 200 ms, as a loaded host would leave it; the CTest entry
# attack_throttled).
set -euo pipefail
bin=${1:?usage: run.sh BINDIR [release|asan|bench]}
mode=${2:-release}
name=attack
# shellcheck source=scripts/test-lib.sh
. "$(dirname "$0")/../../scripts/test-lib.sh"

idle=1000 send=1500 head=1500 deadline=5000 repeat=1 bench=() collide=() only=()
[ -n "${ATTACKS:-}" ] && only=(--attacks "$ATTACKS")
rss=${RSS_GROWTH_MAX:-64m}
case $mode in
asan)
	deadline=10000
	# the server's loop runs several times slower here: at 1 s, a
	# well-behaved connection that waited behind 200 non-readers' spill
	# copies was closed as idle now and then (nonreaders x kv, 1 run in 2
	# on this 2-core machine); 3 s passed 4 of 4
	idle=3000
	collide=(--collide-keys 24000) # the quadratic run costs ten times more here
	rss=${RSS_GROWTH_MAX:-256m}
	# a small quarantine, so that RSS says what the server holds
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16:detect_leaks=0
	;;
bench) repeat=${REPEAT:-3} bench=(--bench) ;;
release) ;;
*) fail "mode $mode: release, asan or bench" ;;
esac
for p in urt-attack urt-echo urt-http urt-kv; do
	[ -x "$bin/$p" ] || fail "$bin/$p missing"
done

root=$tmp/www
mkdir -p "$root"
printf 'small\n' > "$root/small.txt"
head -c $((1048576 + 123)) /dev/urandom > "$root/big.bin"
cells=$tmp/cells

# start_srv SERVER ATTACK: the server on --port 0 with the time flags its
# --help lists; under ulimit -n 128 for fd-exhaust, and with --fixed-fds
# too for fd-exhaust-fixed. Sets srv, port, log.
start_srv() {
	local prog=urt-$1 args=(--port 0) f help
	# the whole --help first: `--help | grep -q` under pipefail failed
	# whenever grep ended at its match before the server had written
	# the rest (SIGPIPE, 141), and the flag was left out: a server with
	# its 30 s --send-ms failed slow-readers now and then
	help=$("$bin/$prog" --help)
	for f in "--idle-ms $idle" "--send-ms $send" "--head-ms $head"; do
		grep -q -- "${f% *}" <<< "$help" && args+=($f)
	done
	[ "$1" = http ] && args+=(--root "$root")
	log=$tmp/$1-$2.log
	[ "$2" = fd-exhaust-fixed ] && args+=(--fixed-fds)
	if [ "${2%-fixed}" = fd-exhaust ]; then
		(ulimit -n 128 && exec "$bin/$prog" "${args[@]}") > "$log" 2> "$log.err" &
	else
		"$bin/$prog" "${args[@]}" > "$log" 2> "$log.err" &
	fi
	srv=$!
	pids+=("$srv")
	for _ in $(seq 200); do
		grep -q '^listening on' "$log" && break
		kill -0 "$srv" 2>/dev/null || fail "$prog exited at start: $(cat "$log.err")"
		sleep 0.05
	done
	port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log")
	[ -n "$port" ] || fail "$prog printed no 'listening on'"
}

# stop_srv SERVER ATTACK: SIGTERM; a server that does not exit 0 fails the cell
stop_srv() {
	local rc=0
	kill -TERM "$srv" 2>/dev/null || true
	for _ in $(seq 200); do kill -0 "$srv" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$srv" 2>/dev/null; then
		kill -9 "$srv"
		printf 'cell\t%s\t%s\tFAIL(did not stop on SIGTERM in 10 s)\t0\t0\t0\t0\t0\t0\n' "$2" "$1" >> "$cells"
	fi
	wait "$srv" || rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 137 ]; then
		printf 'cell\t%s\t%s\tFAIL(exited %s: %s)\t0\t0\t0\t0\t0\t0\n' "$2" "$1" "$rc" \
			"$(tail -c 200 "$log.err" | tr '\n\t' '  ')" >> "$cells"
	fi
}

seed=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
step "mode $mode, deadlines: idle $idle ms, send $send ms, head $head ms; malformed seed $seed"
: > "$cells"
t0=$SECONDS
for r in $(seq "$repeat"); do
	for s in echo http kv; do
		for a in ${ATTACKS:-$("$bin/urt-attack" --list)}; do
			start_srv "$s" "$a"
			timeout 150 "$bin/urt-attack" --server "$s" --attack "$a" --port "$port" \
				--pid "$srv" --log "$log" --deadline-ms "$deadline" --idle-ms "$idle" \
				--send-ms "$send" --head-ms "$head" --rss-growth-max "$rss" \
				--held-slack "${HELD_SLACK:-17}" --seed "$seed" --throttle "${THROTTLE:-0}" \
				"${bench[@]}" "${collide[@]}" \
				>> "$cells" 2>> "$tmp/attack.err" || true
			grep -a "	$a	$s	" "$cells" | tail -1 | cut -f1-4 | cut -c1-220 || true
			stop_srv "$s" "$a"
		done
	done
	step "run $r done in $((SECONDS - t0)) s"
done
grep -a 'seed=\|collide:\|renewed' "$tmp/attack.err" | sort | uniq -c | head -20 || true
"$bin/urt-attack" --report "$cells" "${bench[@]}" "${only[@]}"
