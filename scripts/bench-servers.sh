#!/usr/bin/env bash
# bench-servers.sh BINDIR - urt-http beside nginx and h2o under the same runs
# of two clients, wrk and urt-load --mode http --discard (keep-alive, 100
# connections, a 20-byte file and a 64 KiB file; urt-load drops bodies in
# the kernel unread and costs less CPU per request than wrk, so it goes past
# wrk's own limit on one client core), then
# urt-kv beside redis-server under the same runs of two clients,
# redis-benchmark and urt-load --mode resp (a pipelined RESP client that
# goes past redis-benchmark's own limit): SET and GET, 50 clients, without
# and with pipelining (-P 16), over 100,000 random keys (-r) and over one.
# Each server is pinned to CPU 0 and the client to CPU 1; each point runs
# REPEAT times (default 3) on a fresh server, the two servers taking turns,
# and the table shows medians: requests/s, p50 latency, and server CPU per
# request (from /proc, every process of the server); for urt-http and its
# peers also the client's CPU over the run, its user + system time as a
# share of the run (near 100 %: the client's core is the limit, and the
# requests/s ratio is its ceiling, not the server's; a line per point says
# which client was), and the goals are judged on each client's rows. Needs
# nginx-light, h2o, wrk, redis-server and redis-tools (make bench-servers
# installs them).
#   PART=http or PART=kv   only that half (default both)
#   URT_HTTP_ARGS=...      more flags for urt-http (--no-splice: read and send)
#   BODIES=0               without bench-http-bodies.sh (64 KiB bodies: the
#                          body cache's pipe, splice from the file, read and
#                          send, zero-copy send), run after urt-http
#   KV_THREADS=N           urt-kv --threads N (default 1); its server pin
#                          widens to CPUs 0..N-1, so with N >= nproc the
#                          load generator shares a CPU with the server
set -euo pipefail
bin=${1:?usage: bench-servers.sh BINDIR}
read -r -a http_args <<< "${URT_HTTP_ARGS:-}"
repeat=${REPEAT:-3}
n=${REQUESTS:-300000}
part=${PART:-all}
kv_threads=${KV_THREADS:-1}
case $part in all | http | kv) ;; *) echo "bench-servers: PART is http or kv" >&2; exit 2 ;; esac
tmp=$(mktemp -d)
srv=""
trap '[ -n "$srv" ] && kill -9 "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT
pin_srv=() pin_cli=() pin_kv=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pin_srv=(taskset -c 0) pin_cli=(taskset -c 1) pin_kv=(taskset -c "0-$((kv_threads - 1))")
	[ "$kv_threads" -gt 1 ] || pin_kv=("${pin_srv[@]}")
fi
clk=$(getconf CLK_TCK)
# a port below the ephemeral range: the clients' own ports (thousands of
# connections, then TIME_WAIT) must not hold the server's
read -r eph_lo _ < /proc/sys/net/ipv4/ip_local_port_range
port=$((10000 + RANDOM % (eph_lo - 12000)))

start() {
	case $1 in
	urt-kv) "${pin_kv[@]}" "$bin/urt-kv" --port "$port" --threads "$kv_threads" > "$tmp/srv.out" 2>&1 & ;;
	redis) "${pin_srv[@]}" redis-server --port "$port" --save '' --appendonly no \
		--daemonize no > "$tmp/srv.out" 2>&1 & ;;
	esac
	srv=$!
	for _ in $(seq 100); do redis-cli -p "$port" ping > /dev/null 2>&1 && return; sleep 0.05; done
	echo "bench-servers: $1 did not start" >&2
	exit 1
}
stop() { kill -TERM "$srv"; wait "$srv" 2>/dev/null || true; srv=""; }
ticks() { awk '{print $14 + $15}' "/proc/$srv/stat"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# A server's runtime allocator calls so far: urt-http and urt-kv print them,
# summed over their runtimes, on SIGUSR1.
heap_now() {
	local before
	before=$(grep -c '^stats:' "$tmp/srv.out" || true)
	kill -USR1 "$srv"
	for _ in $(seq 100); do
		[ "$(grep -c '^stats:' "$tmp/srv.out" || true)" -gt "$before" ] && break
		sleep 0.02
	done
	grep '^stats:' "$tmp/srv.out" | tail -1 |
		awk '{for (i = 1; i < NF; i++) if ($i == "heap_calls") print $(i + 1)}'
}

# --- urt-http and nginx ---------------------------------------------------------
if [ "$part" != kv ]; then
www=$tmp/www
mkdir -p "$www"
printf 'hello from urt-http\n' > "$www/index.html"
head -c 65536 /dev/urandom > "$www/64k.bin"
# nginx's worker drops root for an unprivileged user: it must be able to read
chmod 755 "$tmp" "$www"
chmod 644 "$www/index.html" "$www/64k.bin"
cat > "$tmp/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000000;
	keepalive_timeout 60;
	types { text/html html; application/octet-stream bin; }
	server { listen 127.0.0.1:$port; root $www; }
}
NGINX
# h2o 2.2.5: one thread, no access log (the default), the same directory
cat > "$tmp/h2o.conf" <<H2O
listen:
  port: $port
  host: 127.0.0.1
num-threads: 1
error-log: $tmp/h2o.err
hosts:
  "default":
    paths:
      "/":
        file.dir: $www
H2O
hstart() {
	case $1 in
	urt-http) "${pin_srv[@]}" "$bin/urt-http" --port "$port" --root "$www" "${http_args[@]}" > "$tmp/srv.out" 2>&1 & ;;
	nginx) "${pin_srv[@]}" nginx -c "$tmp/nginx.conf" > "$tmp/srv.out" 2>&1 & ;;
	h2o) "${pin_srv[@]}" h2o -c "$tmp/h2o.conf" > "$tmp/srv.out" 2>&1 & ;;
	esac
	srv=$!
	for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && return; sleep 0.05; done
	echo "bench-servers: $1 did not start" >&2
	exit 1
}
# every process of the server (nginx: the master and its worker; h2o: its
# master and the children it starts), and their children's
hticks() {
	local s=0 p q kids=""
	for p in $(pgrep -P "$srv" || true); do
		kids+=" $p $(pgrep -P "$p" | tr '\n' ' ' || true)"
	done
	for q in $srv $kids; do
		s=$((s + $(awk '{print $14 + $15}' "/proc/$q/stat" 2>/dev/null || echo 0)))
	done
	echo $s
}
# hrun SERVER FILE CLIENT: one load of /FILE on a fresh SERVER by CLIENT,
# wrk or urt-load (--discard: a body is dropped by the kernel unread, its
# status and length checked; nginx's Connection: close after
# keepalive_requests is a reconnect, --close-ok). Both are pinned to the
# client CPU for 3 s, and bounded in time. Sets rps, p50 (ms), c (server
# CPU us per request), w (the client's user + system time as a % of its
# run) and wu (the client's CPU us per request). A server error fails the
# whole script: wrk's Non-2xx, and any error urt-load counts.
hrun() {
	local server=$1 f=$2 client=$3 got c0 c1 reqs t ok=()
	hstart "$server"
	# the file itself, whole, or the figures would measure an error page
	got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$port/$f")
	[ "$got" = "200 $(stat -c %s "$www/$f")" ] ||
		{ echo "bench-servers: $server answered '$got' for /$f" >&2; exit 1; }
	c0=$(hticks)
	if [ "$client" = wrk ]; then
		t=$({ TIMEFORMAT='%U %S %R'
			time "${pin_cli[@]}" wrk -t1 -c100 -d3s --latency \
				"http://127.0.0.1:$port/$f" > "$tmp/wrk" 2>&1; } 2>&1)
		c1=$(hticks)
		stop
		if grep -q 'Non-2xx' "$tmp/wrk"; then
			echo "bench-servers: $server answered errors under load: $(grep Non-2xx "$tmp/wrk")" >&2
			exit 1
		fi
		reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk")
		rps=$(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk")
		p50=$(awk '$1 == "50%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) sub(/ms/, "", v); else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; print v}' "$tmp/wrk")
	else
		[ "$server" = nginx ] && ok=(--close-ok)
		t=$({ TIMEFORMAT='%U %S %R'
			time "${pin_cli[@]}" timeout 30 "$bin/urt-load" --port "$port" --mode http \
				--path "/$f" --expect-file "$www/$f" --discard "${ok[@]}" --conns 100 \
				--duration 3 --requests 3000000 > "$tmp/load.out" 2> "$tmp/load.err"; } 2>&1) ||
			{ echo "bench-servers: urt-load against $server (/$f) failed: $(cat "$tmp/load.out")" \
				"$(grep -E '^urt-load: (first error|errors)' "$tmp/load.err" | head -6)" >&2; exit 1; }
		c1=$(hticks)
		stop
		read -r reqs rps p50 < <(awk '/^requests/ {for (i = 1; i < NF; i++) v[$i] = $(i + 1)
			printf "%s %s %.3f\n", v["requests"], v["rps"], v["p50_us"] / 1000}' "$tmp/load.out")
	fi
	w=$(echo "$t" | awk '{printf "%.0f", ($1 + $2) / $3 * 100}')
	wu=$(echo "$t" | awk -v n="$reqs" '{printf "%.2f", ($1 + $2) / n * 1e6}')
	c=$(awk -v c=$((c1 - c0)) -v k="$clk" -v n="$reqs" 'BEGIN {printf "%.2f", c / k * 1e6 / n}')
}
# Each point: REPEAT fresh servers for each client, wrk and urt-load taking
# turns; wrk's rows print as they end, urt-load's after them
printf '%-10s %-11s %12s %9s %12s %8s\n' server file "requests/s" "p50 ms" "cpu us/req" "wrk cpu"
declare -A hrps hcpu hcli hcliu
load_rows=""
for server in nginx h2o urt-http; do
	for f in index.html 64k.bin; do
		declare -A r_all=() p_all=() c_all=() w_all=() u_all=()
		for _ in $(seq "$repeat"); do
			for client in wrk urt-load; do
				hrun "$server" "$f" "$client"
				r_all[$client]+=" $rps" p_all[$client]+=" $p50" c_all[$client]+=" $c"
				w_all[$client]+=" $w" u_all[$client]+=" $wu"
			done
		done
		for client in wrk urt-load; do
			k=$server.$f.$client
			# shellcheck disable=SC2086
			hrps[$k]=$(median ${r_all[$client]}) hcpu[$k]=$(median ${c_all[$client]})
			# shellcheck disable=SC2086
			hcli[$k]=$(median ${w_all[$client]}) hcliu[$k]=$(median ${u_all[$client]})
		done
		# shellcheck disable=SC2086
		printf '%-10s %-11s %12s %9s %12s %7s%%\n' "$server" "$f" "${hrps[$server.$f.wrk]}" \
			"$(median ${p_all[wrk]})" "${hcpu[$server.$f.wrk]}" "${hcli[$server.$f.wrk]}"
		k=$server.$f.urt-load
		# shellcheck disable=SC2086
		load_rows+=$(printf '%-10s %-11s %12s %9s %12s %8s%% %11s %11s %8s' "$server" "$f" \
			"${hrps[$k]}" "$(median ${p_all[urt-load]})" "${hcpu[$k]}" "${hcli[$k]}" \
			"${hcliu[$k]}" "${hcliu[$server.$f.wrk]}" \
			"$(awk -v a="${hcliu[$k]}" -v b="${hcliu[$server.$f.wrk]}" 'BEGIN {printf "%.2fx", a / b}')")$'\n'
	done
done
echo
echo "the same points under urt-load --mode http --discard (100 connections, depth 1):"
printf '%-10s %-11s %12s %9s %12s %9s %11s %11s %8s\n' server file "requests/s" "p50 ms" \
	"cpu us/req" "load cpu" "load us/req" "wrk us/req" "load/wrk"
printf '%s' "$load_rows"
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# http_goals CLIENT TAG: the ratios and the goals (issue 20) on CLIENT's
# rows, TAG after the file in each line
http_goals() {
	local cl=$1 tag=$2 r g best
	for f in index.html 64k.bin; do
		for peer in nginx h2o; do
			echo "urt-http/$peer ($f$tag): requests/s" \
				"$(ratio "${hrps[urt-http.$f.$cl]}" "${hrps[$peer.$f.$cl]}")x," \
				"cpu/request $(ratio "${hcpu[urt-http.$f.$cl]}" "${hcpu[$peer.$f.$cl]}")x"
		done
	done
	# h2o is the peer to beat on the small file
	r=$(ratio "${hrps[urt-http.index.html.$cl]}" "${hrps[h2o.index.html.$cl]}")
	g=PASS; awk -v r="$r" 'BEGIN {exit !(r < 1.2)}' && g=MISS
	echo "goal urt-http requests/s at least 1.2x h2o's (the small file$tag): ${r}x $g"
	r=$(ratio "${hcpu[urt-http.index.html.$cl]}" "${hcpu[h2o.index.html.$cl]}")
	g=PASS; awk -v r="$r" 'BEGIN {exit !(r > 0.8)}' && g=MISS
	echo "goal urt-http cpu/request at most 0.8x h2o's (the small file$tag): ${r}x $g"
	best=$(printf '%s\n' "${hrps[nginx.64k.bin.$cl]}" "${hrps[h2o.64k.bin.$cl]}" | sort -g | tail -1)
	r=$(ratio "${hrps[urt-http.64k.bin.$cl]}" "$best")
	g=PASS; awk -v r="$r" 'BEGIN {exit !(r < 1.2)}' && g=MISS
	echo "goal urt-http requests/s at least 1.2x the better of nginx and h2o (64 KiB$tag): ${r}x $g"
}
http_goals wrk ""
http_goals urt-load ", urt-load client"
# a client at its core's limit makes its rows' requests/s its own ceiling
for server in nginx h2o urt-http; do
	for f in index.html 64k.bin; do
		sat=""
		for client in wrk urt-load; do
			[ "${hcli[$server.$f.$client]}" -ge 95 ] && sat+="${sat:+ and }$client"
		done
		echo "saturated client (cpu >= 95 %), $server $f: ${sat:-none}" \
			"(wrk ${hcli[$server.$f.wrk]} %, urt-load ${hcli[$server.$f.urt-load]} %)"
	done
done
# heap calls in steady state: a warm server (pools grown by a first run of
# both files, as long as the measured one), then a measured run of 100 new
# connections per file. Traced, the window's calls were the 4 KiB task
# memory pages and op record pages growing to a higher peak of connections
# being served at once than the warm-up had reached; both are made at init
# for --max-conns now (docs/design.md, "A reserve of task memory")
hstart urt-http
for f in index.html:3s 64k.bin:1s; do
	"${pin_cli[@]}" wrk -t1 -c100 "-d${f#*:}" "http://127.0.0.1:$port/${f%:*}" > /dev/null 2>&1
done
h0=$(heap_now)
"${pin_cli[@]}" wrk -t1 -c100 -d3s "http://127.0.0.1:$port/index.html" > "$tmp/wrk" 2>&1
"${pin_cli[@]}" wrk -t1 -c100 -d1s "http://127.0.0.1:$port/64k.bin" >> "$tmp/wrk" 2>&1
h1=$(heap_now)
stop
reqs=$(awk '/requests in/ {s += $1} END {print s}' "$tmp/wrk")
echo "urt-http runtime heap calls over $reqs requests on a warm server (200 new connections): $((h1 - h0))"
if [ $((h1 - h0)) -eq 0 ]; then g=PASS; else g=MISS; fi
echo "goal zero runtime heap calls per request in steady state (urt-http): $g"
echo
# large bodies: the body cache's pipe against splice from the file, read and
# send, and read and zero-copy send
[ "${BODIES:-1}" = 0 ] || REPEAT=$repeat "$(dirname "$0")/bench-http-bodies.sh" "$bin"
echo
fi
[ "$part" = http ] && exit 0

# --- urt-kv and redis ------------------------------------------------------------
kv_label=urt-kv
[ "$kv_threads" = 1 ] || kv_label="urt-kv x$kv_threads"
# kv_run SERVER CLIENT TEST PIPE KEYS: one run on a fresh server; sets rps,
# p50 (ms), c (server CPU us per request) and w (the client's user +
# system time as a % of its run; urt-load's GET run includes its SETs).
# KEYS: r (100,000 random keys) or one (a single key, redis-benchmark
# without -r)
kv_run() {
	local server=$1 client=$2 t=$3 pipe=$4 keys=$5 c0 c1 reqs out tm r=() ks=()
	[ "$keys" = r ] && r=(-r 100000) ks=(--keyspace 100000)
	start "$server"
	if [ "$client" = redis-benchmark ]; then
		# GET reads what a SET run over the same keys stored
		[ "$t" = get ] && "${pin_cli[@]}" redis-benchmark -p "$port" -t set -n 100000 -P 16 \
			"${r[@]}" -q > /dev/null
		c0=$(ticks)
		tm=$({ TIMEFORMAT='%U %S %R'
			time "${pin_cli[@]}" redis-benchmark -p "$port" -t "$t" -n "$n" -c 50 -P "$pipe" \
				"${r[@]}" --csv > "$tmp/rb.csv" 2>/dev/null; } 2>&1)
		c1=$(ticks)
		out=$(tail -1 "$tmp/rb.csv")
		rps=$(echo "$out" | awk -F'"' '{print $4}')
		p50=$(echo "$out" | awk -F'"' '{print $8}')
		reqs=$n
	else
		# urt-load SETs every key of a GET run first: the counting starts
		# when it says they are (the load follows at once: the poll's ms
		# or two are lost on both servers alike)
		c0=$(ticks)
		( TIMEFORMAT='%U %S %R'
		  time "${pin_cli[@]}" "$bin/urt-load" --port "$port" --mode resp --cmd "$t" "${ks[@]}" \
			--size 3 --conns 50 --depth "$pipe" --requests "$n" --duration 60 \
			> "$tmp/load.out" 2> "$tmp/load.err" ) 2> "$tmp/load.time" &
		local lpid=$!
		if [ "$t" = get ]; then
			for _ in $(seq 30000); do
				grep -q '^urt-load: keys set' "$tmp/load.err" && break
				kill -0 "$lpid" 2> /dev/null || break
				sleep 0.001
			done
			c0=$(ticks)
		fi
		wait "$lpid" || { echo "bench-servers: urt-load against $server failed: $(tail -2 "$tmp/load.err")" >&2; exit 1; }
		c1=$(ticks)
		read -r reqs rps p50 < <(awk '/^requests/ {for (i = 1; i < NF; i++) v[$i] = $(i + 1)
			printf "%s %s %.3f\n", v["requests"], v["rps"], v["p50_us"] / 1000}' "$tmp/load.out")
		tm=$(tail -1 "$tmp/load.time")
	fi
	stop
	c=$(awk -v c=$((c1 - c0)) -v k="$clk" -v n="$reqs" 'BEGIN {printf "%.2f", c / k * 1e6 / n}')
	w=$(echo "$tm" | awk '{printf "%.0f", ($1 + $2) / $3 * 100}')
}
printf '%-14s %-15s %-4s %4s %4s %12s %9s %12s %11s\n' server client test pipe keys "requests/s" \
	"p50 ms" "cpu us/req" "client cpu"
declare -A cpu rps_of saturated
clients="redis-benchmark urt-load"
for client in $clients; do
	for pipe in 1 16; do
		for keys in r one; do
			for t in set get; do
				declare -A r_all=() p_all=() c_all=() w_all=()
				for _ in $(seq "$repeat"); do
					for server in redis urt-kv; do # taking turns
						kv_run "$server" "$client" "$t" "$pipe" "$keys"
						r_all[$server]+=" $rps" p_all[$server]+=" $p50" c_all[$server]+=" $c"
						w_all[$server]+=" $w"
					done
				done
				for server in redis urt-kv; do
					k=$client.$t.$pipe.$keys
					# shellcheck disable=SC2086
					rps_of[$server.$k]=$(median ${r_all[$server]})
					# shellcheck disable=SC2086
					cpu[$server.$k]=$(median ${c_all[$server]})
					label=$server
					[ "$server" = urt-kv ] && label=$kv_label
					# shellcheck disable=SC2086
					wm=$(median ${w_all[$server]})
					# shellcheck disable=SC2086
					printf '%-14s %-15s %-4s %4s %4s %12s %9s %12s %10s%%\n' "$label" "$client" "$t" \
						"$pipe" "$keys" "${rps_of[$server.$k]}" "$(median ${p_all[$server]})" \
						"${cpu[$server.$k]}" "$wm"
					[ "$wm" -ge 95 ] && saturated[$client]+=" $label/$t/P$pipe/$keys ($wm %)"
				done
			done
		done
	done
done
echo
kv_ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
# kv_goal TABLE PIPE CMP LIMIT CLIENT: urt-kv's ratios to redis in TABLE
# (rps_of or cpu) at -P PIPE over SET and GET, -r and one key, then MISS if
# one of them is CMP ("<" or ">") LIMIT, else PASS
kv_goal() {
	local -n tab=$1
	local k r g=PASS all=""
	for keys in r one; do
		for t in set get; do
			k=$5.$t.$2.$keys
			r=$(kv_ratio "${tab[urt-kv.$k]}" "${tab[redis.$k]}")
			all+=" $t/$keys ${r}x"
			awk -v r="$r" -v l="$4" "BEGIN {exit !(r $3 l)}" && g=MISS
		done
	done
	echo "$all $g"
}
# a client at its core's whole time measures itself, not the server
for client in $clients; do
	echo "saturated client (cpu >= 95 %), $client:${saturated[$client]:- none}"
done
for client in $clients; do
	echo "goal urt-kv requests/s at least 1.2x redis's at -P 16 (SET, GET; -r and one key;" \
		"$client):$(kv_goal rps_of 16 '<' 1.2 "$client")"
	for pipe in 1 16; do
		echo "goal urt-kv server CPU per request at most 0.6x redis's at -P $pipe" \
			"($client):$(kv_goal cpu "$pipe" '>' 0.6 "$client")"
	done
done

# heap calls in steady state: a warm server (keys present, pools grown by an
# earlier run), then a measured GET run; urt-kv prints its runtimes'
# allocator calls, summed, on SIGUSR1. With threads, the warm-up opens 50
# connections per runtime: SO_REUSEPORT spreads connections by hash, and
# a runtime given more of the measured 50 than it ever had would grow its
# pools (heap calls, but not per request)
start urt-kv
"${pin_cli[@]}" redis-benchmark -p "$port" -t set,get -n "$n" -c $((50 * kv_threads)) -P 16 -r 100000 \
	-q > /dev/null
h0=$(heap_now)
"${pin_cli[@]}" redis-benchmark -p "$port" -t get -n "$n" -c 50 -P 16 -r 100000 -q > /dev/null
h1=$(heap_now)
stop
echo "urt-kv runtime heap calls over $n GETs on a warm server (50 new connections): $((h1 - h0))"
if [ $((h1 - h0)) -eq 0 ]; then g=PASS; else g=MISS; fi
echo "goal zero runtime heap calls per request in steady state (urt-kv): $g"
