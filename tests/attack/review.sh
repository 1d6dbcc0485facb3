#!/usr/bin/env bash
# review.sh BINDIR SERVER "SERVER FLAGS" "PROBE FLAGS" - one case of the
# hostile review: start urt-SERVER on --port 0 (its default limits; the
# flags given are time flags or --threads), run urt-probe against it with
# the server's pid (RSS, CPU and a fresh client's latency each second),
# then print the server's SIGUSR1 stats line and stop it.
#   tests/attack/review.sh build/release/bin kv "" "--conns 200 --prefix ..."
# Environment: ROOT (urt-http's --root; default a temp dir with small.txt
# and a 1 MiB big.bin).
set -euo pipefail
bin=$1 srv=$2 sargs=$3 pargs=$4
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
root=${ROOT:-}
if [ "$srv" = http ] && [ -z "$root" ]; then
	root=$tmp/www
	mkdir -p "$root"
	printf 'small\n' > "$root/small.txt"
	head -c $((1048576 + 123)) /dev/urandom > "$root/big.bin"
fi
extra=()
[ "$srv" = http ] && extra=(--root "$root")
# shellcheck disable=SC2086
"$bin/urt-$srv" --port 0 "${extra[@]}" $sargs > "$tmp/log" 2> "$tmp/err" &
pid=$!
for _ in $(seq 100); do
	grep -q 'listening on' "$tmp/log" 2>/dev/null && break
	sleep 0.1
done
port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$tmp/log" | head -1)
[ -n "$port" ] || { cat "$tmp/err"; exit 1; }
# SETUP: a command run once the server listens, with $port set (e.g. a SET of a big value)
if [ -n "${SETUP:-}" ]; then eval "$SETUP"; fi
# MID: seconds into the probe at which to print the stats line too
if [ -n "${MID:-}" ]; then (sleep "$MID"; kill -USR1 $pid 2>/dev/null) & fi
# shellcheck disable=SC2086
"$bin/urt-probe" --port "$port" --kind "$srv" --pid "$pid" $pargs || true
kill -USR1 $pid 2>/dev/null || echo "SERVER GONE: $(cat "$tmp/err")"
sleep 0.3
grep -E "stats|^runtime" "$tmp/log" | tail -4 | cut -c1-600
if ! kill -0 $pid 2>/dev/null; then echo "SERVER DIED"; tail -5 "$tmp/err"; fi
