#!/usr/bin/env bash
# review-classes.sh BINDIR [CONNS] - hostile review 10, finding 2: task
# memory's size classes keep what a peak took, each class its own, so
# --max-clients-mem bounds what connections hold at once but not what the
# server keeps resident after them. Four bursts of CONNS clients (default
# 3000) each hold an unfinished request for 3 s, then close; each burst's
# buffers grow to another class (urt-http: heads of 5,000, 9,000, 16,300
# and 40,000 bytes, inputs of 8, 16, 32 and 64 KiB; urt-kv: a SET whose
# 1 MB bulk stops after 7,000, 14,000, 30,000 or 60,000 bytes). Both
# servers run with --max-clients-mem 64 MiB. Prints the server's RSS at
# each burst's peak and after it ended. Before the classes above 4 KiB
# (main at 95ba2d6) the blocks were malloc's: after the last burst
# urt-http kept 55 MiB, urt-kv 71 MiB; with them (sc9) RSS climbs about a
# budget per class used: 228 MiB and 211 MiB. By hand, not CI; loopback,
# bounded (about 40 s).
set -u
bin=${1:?usage: review-classes.sh BINDIR [CONNS]}
conns=${2:-3000}
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
ulimit -n "$(ulimit -Hn)"
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
start() { # log, server and flags
	local log=$1
	shift
	"$@" --port 0 --max-clients-mem 67108864 > "$log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do grep -q listening "$log" && break; sleep 0.1; done
	port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1)
}
burst() { # kind, prefix, unit, count
	"$bin/urt-probe" --port "$port" --kind "$1" --conns "$conns" --prefix "$2" --unit "$3" \
		--count "$4" --read never --duration 3000 > "$tmp/probe" 2>&1 &
	local p=$! peak
	sleep 2.5
	peak=$(rss)
	wait $p
	sleep 1
	echo "  peak_rss_kb $peak after_rss_kb $(rss)"
}
mkdir -p "$tmp/www"
start "$tmp/http.log" "$bin/urt-http" --root "$tmp/www" --max-head 65000
echo "urt-http (port $port): $conns unfinished heads a burst"
for head in 5000 9000 16300 40000; do
	echo -n "head $head bytes:"
	burst http 'GET / HTTP/1.1\r\n' "X-Pad: $(printf '%090d' 0)\r\n" $((head / 99))
done
kill $pid
wait $pid 2>/dev/null
start "$tmp/kv.log" "$bin/urt-kv"
echo "urt-kv (port $port): $conns unfinished SETs a burst"
for part in 7000 14000 30000 60000; do
	echo -n "bulk cut at $part bytes:"
	# shellcheck disable=SC2016 # RESP's dollars, not the shell's
	burst kv '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n' x "$part"
done
