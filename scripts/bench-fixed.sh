#!/usr/bin/env bash
# bench-fixed.sh BINDIR - urt-http with plain descriptors beside urt-http
# --fixed-fds (accepted sockets as io_uring direct descriptors) under the
# same wrk runs (keep-alive, 100 connections, 3 s, a 20-byte file and a
# 64 KiB file), alternating the two in each of REPEAT rounds (default 3) on
# fresh servers. Server pinned to CPU 0, wrk to CPU 1. Prints the medians
# (requests/s, server CPU per request from /proc), each round's ratio, and
# the goal line: direct descriptors are worth turning on by default only if
# they give >= 1.05x the requests/s on both files.
set -euo pipefail
bin=${1:?usage: bench-fixed.sh BINDIR}
repeat=${REPEAT:-3}
tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill -9 "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT
pin_srv=() pin_cli=()
if [ "$(nproc)" -ge 2 ] && command -v taskset > /dev/null; then
	pin_srv=(taskset -c 0) pin_cli=(taskset -c 1)
fi
command -v wrk > /dev/null || { echo "bench-fixed: wrk missing (make deps)" >&2; exit 2; }
clk=$(getconf CLK_TCK)
port=$((20000 + RANDOM % 20000))
www=$tmp/www
mkdir -p "$www"
printf 'hello from urt-http\n' > "$www/index.html"
head -c 65536 /dev/urandom > "$www/64k.bin"

hstart() { # MODE: plain or fixed
	local extra=()
	[ "$1" = fixed ] && extra=(--fixed-fds)
	"${pin_srv[@]}" "$bin/urt-http" --port "$port" --root "$www" "${extra[@]}" > "$tmp/srv.out" 2>&1 &
	srv=$!
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && return; sleep 0.05; done
	echo "bench-fixed: urt-http ($1) did not start" >&2
	exit 1
}
stop() { kill -TERM "$srv"; wait "$srv" 2>/dev/null || true; srv=""; }
ticks() { awk '{print $14 + $15}' "/proc/$srv/stat"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

declare -A rps cpu
for r in $(seq "$repeat"); do
	for f in index.html 64k.bin; do
		for mode in plain fixed; do
			hstart "$mode"
			got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/$f")
			[ "$got" = "200 $(stat -c %s "$www/$f")" ] ||
				{ echo "bench-fixed: $mode answered '$got' for /$f" >&2; exit 1; }
			c0=$(ticks)
			"${pin_cli[@]}" wrk -t1 -c100 -d3s "http://127.0.0.1:$port/$f" > "$tmp/wrk" 2>&1
			c1=$(ticks)
			stop
			if grep -q 'Non-2xx\|Socket errors' "$tmp/wrk"; then
				echo "bench-fixed: $mode: errors under load: $(grep 'Non-2xx\|Socket errors' "$tmp/wrk")" >&2
				exit 1
			fi
			reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk")
			rps[$mode.$f.$r]=$(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk")
			cpu[$mode.$f.$r]=$(awk -v c=$((c1 - c0)) -v k="$clk" -v n="$reqs" 'BEGIN {printf "%.2f", c / k * 1e6 / n}')
		done
	done
done

printf '%-6s %-11s %12s %12s   %s\n' mode file "requests/s" "cpu us/req" "per round"
declare -A med
for f in index.html 64k.bin; do
	for mode in plain fixed; do
		rs="" cs=""
		for r in $(seq "$repeat"); do rs+=" ${rps[$mode.$f.$r]}" cs+=" ${cpu[$mode.$f.$r]}"; done
		med[$mode.$f]=$(median $rs)
		printf '%-6s %-11s %12s %12s  %s\n' "$mode" "$f" "${med[$mode.$f]}" "$(median $cs)" "$rs"
	done
done
echo
goal=PASS
for f in index.html 64k.bin; do
	rr="" cr=""
	for r in $(seq "$repeat"); do
		rr+=" $(ratio "${rps[fixed.$f.$r]}" "${rps[plain.$f.$r]}")"
		cr+=" $(ratio "${cpu[fixed.$f.$r]}" "${cpu[plain.$f.$r]}")"
	done
	m=$(median $rr)
	echo "fixed/plain ($f): requests/s ${m}x (rounds:$rr), cpu/request $(median $cr)x (rounds:$cr)"
	awk -v r="$m" 'BEGIN {exit !(r < 1.05)}' && goal=MISS
done
echo "goal --fixed-fds requests/s at least 1.05x plain on both files (to turn it on by default): $goal"
