#!/usr/bin/env bash
# bench-http-bodies.sh BINDIR - urt-http's four ways of sending a large
# file body, side by side under the same wrk runs (keep-alive, 100
# connections, a 64 KiB file, server on CPU 0, wrk on CPU 1): splice (the
# default: file -> pipe through the ring, pipe -> socket by splice(2)),
# cached (--body-cache-max 65536: the body cache's pipe of the file's
# pages, tee'd into the connection's pipe, spliced to the socket), read
# and send (--no-splice: 64 KiB chunks of task memory) and read and
# zero-copy send (--send-zc). The rounds alternate the four (REPEAT,
# default 3; a fresh server each run), the table shows medians of
# requests/s, of server CPU per request and of wrk's, then each way's
# ratio to splice and a goal line: the default must be the fastest
# (docs/design.md records the choice).
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
command -v wrk >/dev/null || { echo "bench-http-bodies: wrk missing (make bench-servers installs it)" >&2; exit 1; }
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
			time "${pin_cli[@]}" wrk -t1 -c100 -d3s "http://127.0.0.1:$port/body.bin" \
				> "$tmp/wrk" 2>&1; } 2>&1)
		c1=$(awk '{print $14 + $15}' "/proc/$srv/stat")
		kill -TERM "$srv"
		wait "$srv" 2>/dev/null || true
		srv=""
		if grep -q 'Non-2xx' "$tmp/wrk"; then
			echo "bench-http-bodies: $way answered errors: $(grep Non-2xx "$tmp/wrk")" >&2
			exit 1
		fi
		reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk")
		r_all[$way]+=" $(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk")"
		c_all[$way]+=" $(awk -v c=$((c1 - c0)) -v k="$clk" -v n="$reqs" 'BEGIN {printf "%.2f", c / k * 1e6 / n}')"
		w_all[$way]+=" $(echo "$w" | awk -v n="$reqs" '{printf "%.2f", ($1 + $2) * 1e6 / n}')"
	done
done
declare -A rps cpu
printf '%-10s %12s %12s %12s   %s\n' way "requests/s" "cpu us/req" "wrk us/req" "(each run: requests/s)"
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
best=$(printf '%s\n' "${rps[cached]}" "${rps[read+send]}" "${rps[send_zc]}" | sort -g | tail -1)
r=$(ratio "${rps[splice]}" "$best")
g=PASS; awk -v r="$r" 'BEGIN {exit !(r < 1.0)}' && g=MISS
echo "goal splice (the default) requests/s at least the best of cached, read+send and send_zc ($size B): ${r}x $g"
