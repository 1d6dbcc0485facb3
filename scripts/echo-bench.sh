#!/usr/bin/env bash
# echo-bench.sh BINDIR demo|grid|idle - urt-echo (slab and boxed), the
# epoll baseline and the libuv and tokio peers under the same urt-load
# runs, side by side.
#
#   demo  10, 100 and 1,000 connections, 64-byte messages, depth 1, a few
#         seconds each: one table a person can read (make demo).
#   grid  64 and 512 B x 100 and 1,000 connections x depth 1 and 8 for
#         urt-echo, epoll-echo, libuv-echo and tokio-echo (each point
#         REPEAT times, the servers round-robin within a repeat, a fresh
#         server each run, medians shown; a peer that is not built is
#         skipped and the grid says why), per-point ratios urt/peer of user
#         and total CPU per request with their spread over the repeats, the
#         median ratio over the grid, --threads 2 against --threads 1,
#         with goal lines (make bench-echo).
#   idle  memory per idle connection, urt-echo beside the peers:
#         scripts/echo-idle-rss.sh (make bench-echo runs it after the grid).
#
# grid's knobs (environment): POINTS="64.1000.8 512.1000.1" runs only those
# points (size.conns.depth), SERVERS="urt-echo" only those servers (the
# ratio lines need a peer), HEAP_TRACE=1 starts urt-echo with the allocator
# tracer on (URT_HEAP_TRACE=0, examples/counting.h) and names the callers
# of every heap call in a steady-state window (scripts/heap-trace.sh), on
# stderr and in the grid's heap line.
#
# The server is pinned to CPU 0 and the load to CPU 1 when there are two.
# Server CPU time comes from /proc/PID/stat (utime + stime) around each run,
# user-space CPU from utime alone (it counts libc and the syscall entry and
# return paths the kernel charges to user time, not only the runtime);
# runtime heap calls from urt-echo's own stats (SIGUSR1 before and after);
# memory per connection from the server's RSS with the connections open,
# minus its RSS before any.
set -euo pipefail
bin=${1:?usage: echo-bench.sh BINDIR demo|grid}
mode=${2:-demo}
dur=${DUR:-3}
repeat=${REPEAT:-1} # grid: runs per point; the table shows each column's median
warm=${WARM:-1}
tmp=$(mktemp -d)
heap_trace=${HEAP_TRACE:-0}
[ "$heap_trace" = 1 ] && export URT_HEAP_TRACE=0 # only the urt servers read it
srv_pid=""
trap '[ -n "$srv_pid" ] && kill -9 "$srv_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

ncpu=$(nproc)
pin_srv=() pin_load=()
if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
	pin_srv=(taskset -c 0) pin_load=(taskset -c 1)
fi
clk=$(getconf CLK_TCK)
page=$(getconf PAGESIZE)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }
# sleep_until T: until the time now() would print T (at once if past)
sleep_until() { sleep "$(awk -v t="$1" -v n="$(now)" 'BEGIN {d = t - n; printf "%.3f", (d > 0 ? d : 0)}')"; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }
rss_bytes() { awk -v p="$page" '{print $2 * p}' "/proc/$1/statm"; }

# shellcheck source=scripts/echo-lib.sh
source "$(dirname "$0")/echo-lib.sh" # start_server, stop_server, stat_now

# run_load CONNS SIZE DEPTH -> sets rps p50 p99 cpu_per_req user_per_req
# heap_per_req mem_per_conn
# CPU is taken over the whole run (warm-up included) and set against the
# whole run's requests. Heap calls are counted from the moment every
# connection is open (the warm-up's end, or later on a loaded host, where
# 1,000 connects can outlast it and growth for the late ones fell in the
# window) to half a second before the measured window's end (closing the
# connections is not steady state); it was the window's first half from
# the warm-up's end, so a call in the second half went uncounted.
run_load() {
	local conns=$1 size=$2 depth=$3 c0 c1 u0 u1 h0 h1 rss0 rss1 reqs t t0 t1
	rss0=$(rss_bytes "$srv_pid")
	c0=$(cpu_ticks "$srv_pid") u0=$(user_ticks "$srv_pid")
	t=$(now)
	"${pin_load[@]}" "$bin/urt-load" --port "$port" --conns "$conns" --size "$size" \
		--depth "$depth" --duration "$dur" --warmup "$warm" > "$tmp/load.out" 2> "$tmp/load.err" &
	local lpid=$!
	sleep "$warm"
	h0="" t0=""
	if [ "$is_urt" = 1 ]; then
		for _ in $(seq 20); do
			[ "$(stat_now live)" -ge "$conns" ] && break
			sleep 0.05
		done
		h0=$(stat_now heap_calls) t0=$(now)
	fi
	sleep_until "$(awk -v t="$t" -v w="$warm" -v d="$dur" 'BEGIN {printf "%.3f", t + w + d / 2}')"
	rss1=$(rss_bytes "$srv_pid")
	sleep_until "$(awk -v t="$t" -v w="$warm" -v d="$dur" 'BEGIN {printf "%.3f", t + w + d - 0.5}')"
	h1="" t1=""; [ "$is_urt" = 1 ] && h1=$(stat_now heap_calls) t1=$(now)
	if ! wait "$lpid"; then
		echo "echo-bench: urt-load failed:" >&2; tail -3 "$tmp/load.err" >&2; exit 1
	fi
	c1=$(cpu_ticks "$srv_pid") u1=$(user_ticks "$srv_pid")
	read -r reqs rps p50 p99 errs < <(awk '/^requests/ {
		for (i = 1; i < NF; i++) v[$i] = $(i + 1)
		print v["requests"], v["rps"], v["p50_us"], v["p99_us"], v["errors"] }' "$tmp/load.out")
	[ "${errs:-1}" = 0 ] || { echo "echo-bench: load errors" >&2; cat "$tmp/load.out" >&2; exit 1; }
	# urt-load reports measured requests; scale by (warm + dur) / dur
	cpu_per_req=$(awk -v c="$((c1 - c0))" -v k="$clk" -v r="$reqs" -v w="$warm" -v d="$dur" \
		'BEGIN {printf "%.2f", c / k * 1e6 / (r * (w + d) / d)}')
	user_per_req=$(awk -v c="$((u1 - u0))" -v k="$clk" -v r="$reqs" -v w="$warm" -v d="$dur" \
		'BEGIN {printf "%.3f", c / k * 1e6 / (r * (w + d) / d)}')
	if [ "$is_urt" = 1 ]; then
		heap_calls=$((h1 - h0))
		if [ "$heap_calls" -gt 0 ] && [ "$heap_trace" = 1 ]; then
			echo "echo-bench: heap calls $h0 < n <= $h1 in the window ($conns conns, $size B, depth $depth):" >&2
			"$(dirname "$0")/heap-trace.sh" "$tmp/srv.err" "$bin/urt-echo" "$h0" "$h1" | tee -a "$tmp/heap.txt" >&2
		fi
		heap_per_req=$(awk -v h="$heap_calls" -v r="$rps" -v a="$t0" -v b="$t1" \
			'BEGIN {printf "%.4f", h / (r * (b > a ? b - a : 1))}')
	else
		heap_calls=0
		heap_per_req="-"
	fi
	# small runs are dominated by first touches (the buffer ring's pages)
	mem_per_conn="-"
	if [ "$conns" -ge 1000 ]; then
		mem_per_conn=$(awk -v a="$rss0" -v b="$rss1" -v n="$conns" 'BEGIN {printf "%.0f", (b - a) / n}')
	fi
}


# median V...: the middle value ("-" stays "-"); the lower middle of an even count
median() {
	if [ "$1" = "-" ]; then echo "-"; return; fi
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

row() { printf '%-22s %6s %5s %5s %11s %9s %9s %13s %14s %13s\n' "$@"; }

demo() {
	echo "urt-echo vs a plain epoll echo server: $ncpu cores, $(uname -r)"
	echo "server pinned to CPU 0, urt-load to CPU 1; ${warm}s warm-up + ${dur}s measured per row; 64-byte messages, depth 1"
	echo
	row server conns size depth "requests/s" "p50 us" "p99 us" "cpu us/req" "heap calls/req" "bytes/conn"
	for kind in slab boxed epoll; do
		threads=1
		case $kind in
		slab) is_urt=1; start_server urt-echo --spawn slab; name="urt-echo --spawn slab" ;;
		boxed) is_urt=1; start_server urt-echo --spawn boxed; name="urt-echo --spawn boxed" ;;
		epoll) is_urt=0; start_server epoll-echo; name="epoll-echo (baseline)" ;;
		esac
		for conns in 10 100 1000; do
			echo "  ... $name, $conns connections" >&2
			run_load "$conns" 64 1
			row "$name" "$conns" 64 1 "$rps" "$p50" "$p99" "$cpu_per_req" "$heap_per_req" "$mem_per_conn"
		done
		stop_server
	done
	echo
	echo "cpu us/req: server CPU time (user + system) per request; heap calls/req: calls the"
	echo "runtime made to its allocator per request in steady state (0 means none);"
	echo "bytes/conn: server RSS with the connections open minus RSS before, per connection"
	echo "(at 1,000 connections; smaller runs are dominated by first touches of shared pages)."
}

# --threads 2 vs --threads 1: cost per request (the load needs a core of its
# own, so scaling is judged by CPU per request, not requests/s); medians of
# REPEAT runs each
threads_point() {
	local v1="" v2="" r1="" r2="" c1 c2 r g
	is_urt=1
	for _ in $(seq "$repeat"); do
		for t in 1 2; do
			threads=$t
			pin_srv_saved=("${pin_srv[@]}"); [ $t = 2 ] && pin_srv=()
			start_server urt-echo --threads "$t"
			run_load 1000 64 8
			if [ $t = 1 ]; then v1+=" $cpu_per_req" r1+=" $rps"; else v2+=" $cpu_per_req" r2+=" $rps"; fi
			stop_server
			pin_srv=("${pin_srv_saved[@]}")
		done
	done
	c1=$(median $v1) c2=$(median $v2)
	echo "urt-echo --threads 1: $(median $r1) requests/s, cpu $c1 us/request (1,000 conns, 64 B, depth 8)"
	echo "urt-echo --threads 2: $(median $r2) requests/s, cpu $c2 us/request"
	r=$(awk -v a="$c2" -v b="$c1" 'BEGIN {printf "%.2f", a / b}')
	if awk -v r="$r" 'BEGIN {exit !(r <= 1.1)}'; then g=PASS; else g=MISS; fi
	echo "goal --threads 2 CPU per request within 1.1x of --threads 1: ${r}x $g"
}

# grid_servers: sets servers, urt-echo and the peers that are built; says
# why a missing peer is skipped
grid_servers() {
	servers=(urt-echo epoll-echo)
	if [ -x "$bin/libuv-echo" ]; then
		servers+=(libuv-echo)
	else
		echo "libuv: skipped (libuv-echo not built: libuv1-dev is missing; scripts/deps.sh --bench installs it)"
	fi
	if [ -x "$bin/tokio-echo" ]; then
		servers+=(tokio-echo)
	elif ! command -v cargo >/dev/null; then
		echo "tokio: skipped (no cargo; scripts/deps.sh --bench installs it)"
	elif ! compgen -G '/usr/share/cargo/registry/tokio-1.*' >/dev/null; then
		echo "tokio: skipped (no tokio in /usr/share/cargo/registry: librust-tokio-dev; scripts/deps.sh --bench)"
	else
		echo "tokio: skipped (tokio-echo not built: cmake --build --preset release --target echo-peers)"
	fi
}

# ratios NUMS DENS: the ratios of paired values (run i against run i), one
# a line; none where the denominator is 0 (user time is counted in clock
# ticks: a short run of a server that spends little in user space can
# show none)
ratios() {
	paste -d ' ' <(printf '%s\n' $1) <(printf '%s\n' $2) |
		awk '$2 > 0 {printf "%.3f\n", $1 / $2}'
}

# pooled NUMS DENS: sum(NUMS) / sum(DENS) to 2 places, "-" if that is 0/0
# or x/0. Summed over the repeats (each as long as the others), a figure
# counted in ticks loses less to rounding than in a median of the runs.
pooled() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		n = split(a, x, " "); for (i = 1; i <= n; i++) sa += x[i]
		n = split(b, y, " "); for (i = 1; i <= n; i++) sb += y[i]
		if (sb > 0) printf "%.2f", sa / sb; else printf "-" }'
}

# range V...: "min-max" of the values ("-" stays out; "-" if none is left)
range() {
	printf '%s\n' "$@" | grep -v '^-$' | sort -g |
		awk '{v[NR] = $1} END {if (NR) printf "%.2f-%.2f", v[1], v[NR]; else printf "-"}'
}

# median_of V...: median() over the values that are not "-"
median_of() {
	local v
	v=$(printf '%s\n' "$@" | grep -v '^-$' | tr '\n' ' ')
	if [ -n "$v" ]; then median $v; else echo "-"; fi
}

grow() { printf '%-12s %6s %5s %5s %11s %9s %9s %11s %12s %14s %11s\n' "$@"; }

grid() {
	local heap_total=0 r g pt srv size conns depth
	local points=() servers=()
	declare -A runs # "server|point|field" -> one value per repeat, in order
	echo "echo grid: $ncpu cores, $(uname -r); server on CPU 0, load on CPU 1; ${warm}s + ${dur}s a run, a fresh server each, the servers round-robin within a repeat, median of $repeat run(s) a point"
	grid_servers
	if [ -n "${SERVERS:-}" ]; then
		local keep=()
		for srv in "${servers[@]}"; do
			case " $SERVERS " in *" $srv "*) keep+=("$srv") ;; esac
		done
		servers=("${keep[@]}")
		echo "servers: ${servers[*]} (SERVERS)"
	fi
	grow server conns size depth "requests/s" "p50 us" "p99 us" "cpu us/req" "user us/req" "heap calls/req" "bytes/conn"
	threads=1
	for size in 64 512; do for conns in 100 1000; do for depth in 1 8; do
		pt=$size.$conns.$depth
		if [ -n "${POINTS:-}" ]; then
			case " $POINTS " in *" $pt "*) ;; *) continue ;; esac
		fi
		points+=("$pt")
		for _ in $(seq "$repeat"); do
			for srv in "${servers[@]}"; do
				is_urt=0; [ "$srv" = urt-echo ] && is_urt=1
				start_server "$srv"
				echo "  ... $srv $size B, $conns conns, depth $depth" >&2
				run_load "$conns" "$size" "$depth"
				stop_server
				for f in rps p50 p99 cpu_per_req user_per_req heap_per_req mem_per_conn; do
					runs[$srv\|$pt\|$f]+=" ${!f}"
				done
				if [ "$is_urt" = 1 ]; then
					heap_total=$((heap_total + heap_calls))
					runs[$srv\|$pt\|heap_calls]+=" $heap_calls"
				fi
			done
		done
		for srv in "${servers[@]}"; do
			local m=()
			for f in rps p50 p99 cpu_per_req user_per_req heap_per_req mem_per_conn; do
				m+=("$(median ${runs[$srv|$pt|$f]})")
			done
			grow "$srv" "$conns" "$size" "$depth" "${m[@]:0:5}" "${m[@]:5}"
		done
	done; done; done
	echo

	# urt/peer per point: the ratio of the sums over the repeats, and the
	# range of the repeats' ratios (run i against run i, taken seconds
	# apart); then the median over the points and their range
	local peer field label pr
	declare -A pratio # "peer|field" -> the points' ratios, in point order
	echo "urt-echo / peer, CPU per request at each point (size.conns.depth): ratio of the sums over the $repeat repeats (range of the repeats' ratios)"
	for pt in "${points[@]}"; do
		printf '%-12s' "$pt"
		for peer in "${servers[@]:1}"; do
			for field in user_per_req cpu_per_req; do
				mapfile -t pr < <(ratios "${runs[urt-echo|$pt|$field]}" "${runs[$peer|$pt|$field]}")
				r=$(pooled "${runs[urt-echo|$pt|$field]}" "${runs[$peer|$pt|$field]}")
				pratio[$peer|$field]+=" $r"
				label=user; [ $field = cpu_per_req ] && label=total
				printf '  %s/%s %s (%s)' "$label" "${peer%-echo}" "$r" "$(range "${pr[@]}")"
			done
		done
		echo
	done
	printf '%-12s' "grid"
	for peer in "${servers[@]:1}"; do
		for field in user_per_req cpu_per_req; do
			label=user; [ $field = cpu_per_req ] && label=total
			printf '  %s/%s %s (%s)' "$label" "${peer%-echo}" "$(median_of ${pratio[$peer|$field]})" \
				"$(range ${pratio[$peer|$field]})"
		done
	done
	echo "   (median of the points, their range)"
	echo
	# goal_ratio PEER FIELD MAX TEXT: a goal on the median over the grid
	goal_ratio() {
		local v
		v=$(median_of ${pratio[$1|$2]:-"-"})
		if [ "$v" = "-" ]; then
			echo "goal $4 <= $3x ${1}'s (median over the grid): MISS (not measured: ${1%-echo} skipped or no ${2%%_*} time counted)"
			return
		fi
		if awk -v r="$v" -v m="$3" 'BEGIN {exit !(r <= m)}'; then g=PASS; else g=MISS; fi
		echo "goal $4 <= $3x ${1}'s (median over the grid ${v}x, points $(range ${pratio[$1|$2]})x): $g"
	}
	goal_ratio tokio-echo user_per_req 0.5 "urt-echo user-space CPU per request"
	goal_ratio epoll-echo user_per_req 0.7 "urt-echo user-space CPU per request"
	goal_ratio epoll-echo cpu_per_req 0.95 "urt-echo total CPU per request"
	local worst worst_at=""
	local pts_ep=(${pratio[epoll-echo|cpu_per_req]:-"-"})
	worst=$(printf '%s\n' "${pts_ep[@]}" | sort -g | tail -1)
	for i in "${!points[@]}"; do
		if [ "${pts_ep[$i]:-}" = "$worst" ]; then worst_at=${points[$i]}; fi
	done
	if awk -v r="$worst" 'BEGIN {exit !(r != "-" && r <= 0.8)}'; then g=PASS; else g=MISS; fi
	echo "goal urt-echo server CPU per request <= 0.8x epoll at every grid point (worst ${worst}x at $worst_at): $g"
	if [ "$heap_total" -eq 0 ]; then g=PASS; else g=MISS; fi
	echo "goal zero runtime heap calls per request in steady state ($heap_total calls over the grid's steady-state windows): $g"
	if [ "$heap_total" -gt 0 ]; then
		printf 'urt-echo heap calls in the windows, each repeat:'
		for pt in "${points[@]}"; do printf ' %s%s' "$pt" "$(printf ',%s' ${runs[urt-echo|$pt|heap_calls]:-})"; done
		echo
		if [ -s "$tmp/heap.txt" ]; then
			echo "their callers (HEAP_TRACE=1; call, kind, size, time, innermost first):"
			sed 's/^/  /' "$tmp/heap.txt"
		fi
	fi

	[ -n "${POINTS:-}${SERVERS:-}" ] || threads_point
}

case $mode in
idle) exec "$(dirname "$0")/echo-idle-rss.sh" "$bin" ;;
threads) threads_point ;;
demo) demo ;;
grid) grid ;;
*) echo "usage: echo-bench.sh BINDIR demo|grid|idle|threads" >&2; exit 2 ;;
esac
