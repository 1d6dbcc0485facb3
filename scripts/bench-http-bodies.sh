#!/usr/bin/env bash
# bench-http-bodies.sh BINDIR - urt-http's four ways of sending a large
# file body, side by side under the same load (keep-alive, 100
# connections, a 64 KiB file, server on CPU 0, the client on CPU 1): splice (the
# default: file -> pipe through the ring, pipe -> socket by splice(2)),
# cached (--body-cache-max 65536: the body cache's pipe of the file's
# pages, tee'd into the connection's pipe, spliced to the socket), read
# and send (--no-splice: 64 KiB chunks of task memory) and read and
# zero-copy send (--send-zc). The client is urt-load --mode http
# --discard (its bodies dropped unread, their status and length checked):
# wrk saturates its core at 64 KiB on every way alike (about 40 us of its
# CPU a request), so under wrk the four ways measured wrk. The rounds
# alternate the four (REPEAT, default 3; a fresh server each run), the
# table shows medians of requests/s, of server CPU per request and of the
# client's, then each way's ratio to splice and a goal line: the default
# must be the fastest, within the rounds' own spread (docs/design.md
# records the choice).
#   SIZE=BYTES   the body (default 65536)
set -euo pipefail
bin=${1:?usage: bench-http-bodies.sh BINDIR}
repeat=${REPEAT:-3}
size=${SIZE:-65536}
tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill -9 "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT
pin_srv=() pin_cli=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pin_srv=(taskset -c 0) pin_cli=(taskset -c 1)
fi
[ -x "$bin/urt-load" ] || { echo "bench-http-bodies: $bin/urt-load missing (make bench-servers builds it)" >&2; exit 1; }
clk=$(getconf CLK_TCK)
port=$((20000 + RANDOM % 20000))
mkdir -p "$tmp/www"
head -c "$size" /dev/urandom > "$tmp/www/body.bin"
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

declare -A args=([splice]="" [cached]="--body-cache-max 65536" [read+send]="--no-splice"
	[send_zc]="--send-zc")
ways=(splice cached read+send send_zc)
declare -A r_all c_all w_all
for _ in $(seq "$repeat"); do
	for way in "${ways[@]}"; do
		# shellcheck disable=SC2086
		"${pin_srv[@]}" "$bin/urt-http" --port "$port" --root "$tmp/www" ${args[$way]} > "$tmp/srv.out" 2>&1 &
		srv=$!
		for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
		got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/body.bin")
		[ "$got" = "200 $size" ] || { echo "bench-http-bodies: $way answered '$got'" >&2; exit 1; }
		c0=$(awk '{print $14 + $15}' "/proc/$srv/stat")
		w=$({ TIMEFORMAT='%U %S'
			time "${pin_cli[@]}" timeout 30 "$bin/urt-load" --port "$port" --mode http \
				--path /body.bin --expect-file "$tmp/www/body.bin" --discard --conns 100 \
				--duration 3 --requests 3000000 > "$tmp/load.out" 2> "$tmp/load.err"; } 2>&1) ||
			{ echo "bench-http-bodies: urt-load against $way failed: $(cat "$tmp/load.out")" \
				"$(grep -E '^urt-load: (first error|errors)' "$tmp/load.err" | head -6)" >&2; exit 1; }
		c1=$(awk '{print $14 + $15}' "/proc/$srv/stat")
		kill -TERM "$srv"
		wait "$srv" 2>/dev/null || true
		srv=""
		read -r reqs rps < <(awk '/^requests/ {for (i = 1; i < NF; i++) v[$i] = $(i + 1)
			print v["requests"], v["rps"]}' "$tmp/load.out")
		r_all[$way]+=" $rps"
		c_all[$way]+=" $(awk -v c=$((c1 - c0)) -v k="$clk" -v n="$reqs" 'BEGIN {printf "%.2f", c / k * 1e6 / n}')"
		w_all[$way]+=" $(echo "$w" | awk -v n="$reqs" '{printf "%.2f", ($1 + $2) * 1e6 / n}')"
	done
done
declare -A rps cpu
printf '%-10s %12s %12s %12s   %s\n' way "requests/s" "cpu us/req" "load us/req" "(each run: requests/s)"
for way in "${ways[@]}"; do
	# shellcheck disable=SC2086
	rps[$way]=$(median ${r_all[$way]})
	# shellcheck disable=SC2086
	cpu[$way]=$(median ${c_all[$way]})
	# shellcheck disable=SC2086
	printf '%-10s %12s %12s %12s   %s\n' "$way" "${rps[$way]}" "${cpu[$way]}" \
		"$(median ${w_all[$way]})" "${r_all[$way]# }"
done
for way in cached read+send send_zc; do
	echo "$way/splice ($size B): requests/s $(ratio "${rps[$way]}" "${rps[splice]}")x," \
		"cpu/request $(ratio "${cpu[$way]}" "${cpu[splice]}")x"
done
# The default misses only where another way is measurably faster: its
# slowest run faster than splice's fastest (the ranges do not overlap).
# Two ways within each other's spread are level, and the default is then
# chosen by what it holds (docs/design.md).
best=cached
for way in read+send send_zc; do
	awk -v a="${rps[$way]}" -v b="${rps[$best]}" 'BEGIN {exit !(a > b)}' && best=$way
done
# shellcheck disable=SC2086
lo=$(printf '%s\n' ${r_all[$best]} | sort -g | head -1)
# shellcheck disable=SC2086
hi=$(printf '%s\n' ${r_all[splice]} | sort -g | tail -1)
r=$(ratio "${rps[splice]}" "${rps[$best]}")
g=PASS; awk -v lo="$lo" -v hi="$hi" 'BEGIN {exit !(lo > hi)}' && g=MISS
echo "goal splice (the default) requests/s not below the best of cached, read+send and send_zc" \
	"($size B; $best: ratio of medians ${r}x, $best's slowest run $lo, splice's fastest $hi): $g"
