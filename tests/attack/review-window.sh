#!/usr/bin/env bash
# review-window.sh BINDIR [CONNS] [SEND_MS] - hostile review finding (urt-http):
# clients with a small receive window (SO_RCVBUF 4 KiB) pipeline GET of a
# 1 MiB file and never read. Prints, every 2 s, the server's thread count
# (io-wq workers blocked in splice), its live connections and evictions.
# Expected of a bounded server: threads stay few; connections are closed
# --send-ms after their output stops moving. Loopback, bounded: 14 s.
set -u
bin=${1:?usage: review-window.sh BINDIR [CONNS] [SEND_MS]}
conns=${2:-1000} send=${3:-3000}
tmp=$(mktemp -d)
mkdir -p "$tmp/www"
head -c $((1048576 + 123)) /dev/urandom > "$tmp/www/big.bin"
printf 'small\n' > "$tmp/www/small.txt"
"$bin/urt-http" --port 0 --root "$tmp/www" --send-ms "$send" > "$tmp/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do grep -q listening "$tmp/log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$tmp/log" | head -1)
"$bin/urt-probe" --port "$port" --kind http --conns "$conns" --bufs 4096 \
	--unit 'GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n' --count 50000 --read never \
	--duration 14000 --wb 1 > "$tmp/probe" 2>&1 &
probe=$!
for t in 2 4 6 8 10 12; do
	sleep 2
	kill -USR1 $pid
	sleep 0.2
	threads=$(ls /proc/$pid/task | wc -l)
	line=$(grep '^stats' "$tmp/log" | tail -1)
	live=$(sed -n 's/.* live \([0-9]*\) .*/\1/p' <<< "$line")
	ev=$(sed -n 's/.* evicted \([0-9]*\) .*/\1/p' <<< "$line")
	echo "t=${t}s threads $threads live $live evicted $ev"
done
wait $probe
tail -2 "$tmp/probe"
