#!/usr/bin/env bash
# bench-tls.sh BINDIR - urt's TLS servers beside nginx, h2o and redis-server,
# all measured in the same run with the same certificate (ECDSA P-256,
# "localhost", from scripts/tls-certs.sh) and the same TLS: 1.3,
# TLS_AES_128_GCM_SHA256, X25519 (an OPENSSL_CONF system_default section
# given to every client and server, and each server's own settings where it
# has them; each server's first handshake is checked with s_client). Each
# server is pinned to CPU 0 and its load to CPU 1; each point runs REPEAT
# times (default 3) on a fresh server, and the tables show medians and the
# spread, (max - min) / median. Server CPU is utime + stime from /proc over
# the run, summed over the server's processes (nginx's master and worker).
# One table per figure:
#   1 https      a 100-byte file over keep-alive HTTPS, wrk -t1 -c100 -d
#                DURATION s: requests/s and server CPU per request; urt-http
#                against the better of nginx and h2o (goal >= 1.1x requests/s,
#                <= 0.9x CPU per request); urt-http without TLS for context
#   2 handshake  server CPU per connection, openssl s_time -new (full
#                handshakes) and -reuse (resumed), STIME s each; every
#                connection also GETs the file (HTTP/1.0) - s_time must read
#                for a TLS 1.3 ticket to arrive (goal <= 1x the better peer)
#   3 kv         urt-kv beside redis-server 7, both TLS, redis-benchmark
#                --tls -c 50, SET and GET, -P 1 and -P 16: requests/s and
#                server CPU per request (goal urt-kv <= 0.8x redis's CPU per
#                request at every point); urt-kv without TLS for context
#   4 idle       memory per idle TLS connection: tls-idle (benches/) opens
#                IDLE_CONNS (1000) connections, handshakes each and leaves
#                them idle; the server's RSS delta / connections; urt's
#                servers without TLS for context (tls-idle --plain)
#   5 heap       urt's servers only: OpenSSL heap calls per request after
#                the handshake (the tls_heap_calls counter of the servers'
#                stats lines, read on SIGUSR1 in the middle of a keep-alive
#                run, divided by the requests counted between the reads)
# A server that does not start, answers errors or serves nothing is an ERROR
# line on stderr; the script still measures the others and exits 1 at the
# end. urt's rows say "not built" or "no TLS flags" when BINDIR's urt-http
# or urt-kv lacks them, and are skipped.
#   PART=https,handshake,kv,idle,heap   the figures to run (default all)
#   REPEAT=3 DURATION=5 STIME=3 KV_N=100000 KV_NP=500000 IDLE_CONNS=1000
# Needs nginx-light, h2o, redis-server, redis-tools, wrk and openssl
# (scripts/deps.sh --bench); make bench-tls builds BINDIR's programs.
set -uo pipefail
bin=${1:?usage: bench-tls.sh BINDIR}
repeat=${REPEAT:-3}
dur=${DURATION:-5}
stime=${STIME:-3}
kv_n=${KV_N:-100000}
kv_np=${KV_NP:-500000}
idle_n=${IDLE_CONNS:-1000}
part=${PART:-https,handshake,kv,idle,heap}
want() { [[ ",$part," == *",$1,"* ]]; }

tmp=$(mktemp -d)
srv=""
cleanup() {
	# shellcheck disable=SC2046 # one pid a word
	[ -n "$srv" ] && kill -9 $(tree "$srv") 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# nginx's worker and h2o drop root for an unprivileged user: the files
# they serve must be readable by it (the keys are read before, as root)
chmod 755 "$tmp"
pin_srv=() pin_cli=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	pin_srv=(taskset -c 0) pin_cli=(taskset -c 1)
fi
clk=$(getconf CLK_TCK)
# ports below the ephemeral range: the clients' own ports (thousands of
# connections a second, then TIME_WAIT) must not hold a server's port
read -r eph_lo _ < /proc/sys/net/ipv4/ip_local_port_range
next_port=$((10000 + RANDOM % (eph_lo - 12000)))
errors=0
err() {
	errors=$((errors + 1))
	echo "*** bench-tls: ERROR: $*" >&2
}

for c in nginx h2o redis-server redis-benchmark redis-cli wrk openssl curl; do
	command -v "$c" > /dev/null || { echo "bench-tls: $c not found (scripts/deps.sh --bench)" >&2; exit 1; }
done
pki=$tmp/pki
"$(dirname "$0")/tls-certs.sh" "$pki" || exit 1
ca=$pki/ca.pem cert=$pki/server.pem key=$pki/server.key
# every OpenSSL client and server of this run: TLS 1.3 only, one suite, one group
cat > "$tmp/openssl.cnf" <<'CNF'
openssl_conf = conf
[conf]
ssl_conf = ssl
[ssl]
system_default = sys
[sys]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
Groups = X25519
CNF
export OPENSSL_CONF=$tmp/openssl.cnf
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
www=$tmp/www
mkdir -p "$www"
head -c 100 /dev/zero | tr '\0' x > "$www/index.html"
chmod 755 "$www"
chmod 644 "$www/index.html"

# --- the servers ------------------------------------------------------------------------------

# What urt's programs can do here: "" if they can, else why not.
urt_http_why="" urt_kv_why=""
if [ ! -x "$bin/urt-http" ]; then urt_http_why="not built"
elif ! grep -q -- --tls-cert < <("$bin/urt-http" --help 2>&1); then urt_http_why="no TLS flags"; fi
if [ ! -x "$bin/urt-kv" ]; then urt_kv_why="not built"
elif ! grep -q -- --tls-port < <("$bin/urt-kv" --help 2>&1); then urt_kv_why="no TLS flags"; fi
urt_kv_plain_why="" urt_http_plain_why=""
[ -x "$bin/urt-http" ] || urt_http_plain_why="not built"
[ -x "$bin/urt-kv" ] || urt_kv_plain_why="not built"
# Why a server cannot run here ("" if it can).
why_not() {
	case $1 in
	urt-http) echo "$urt_http_why" ;;
	urt-http-plain) echo "$urt_http_plain_why" ;;
	urt-kv) echo "$urt_kv_why" ;;
	urt-kv-plain) echo "$urt_kv_plain_why" ;;
	*) echo "" ;;
	esac
}

nginx_conf() { # PORT
	cat > "$tmp/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/nginx.err;
worker_rlimit_nofile 20000;
events { worker_connections 8192; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000000;
	keepalive_timeout 60;
	types { text/html html; }
	server {
		listen 127.0.0.1:$1 ssl;
		root $www;
		ssl_certificate $cert;
		ssl_certificate_key $key;
		ssl_protocols TLSv1.3;
		ssl_ecdh_curve X25519;
		ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256;
		ssl_session_tickets on;
	}
}
NGINX
}
# h2o 2.2.5: one thread, no access log, the private key in-process (no
# neverbleed daemon: the signing CPU would leave the server's process
# tree's count only by accident) and no OCSP fetcher
h2o_conf() { # PORT
	cat > "$tmp/h2o.conf" <<H2O
listen:
  port: $1
  host: 127.0.0.1
  ssl:
    certificate-file: $cert
    key-file: $key
    minimum-version: TLSv1.3
    neverbleed: OFF
    ocsp-update-interval: 0
num-threads: 1
error-log: $tmp/h2o.err
hosts:
  "default":
    paths:
      "/":
        file.dir: $www
H2O
}

# A process and its descendants.
tree() {
	local p
	echo "$1"
	for p in $(pgrep -P "$1" 2>/dev/null); do tree "$p"; done
}
ticks() {
	local s=0 p t
	for p in $(tree "$srv"); do
		t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && s=$((s + t))
	done
	echo "$s"
}
rss_kb() {
	local s=0 p t
	for p in $(tree "$srv"); do
		t=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) && s=$((s + ${t:-0}))
	done
	echo "$s"
}
# ticks to microseconds per unit: us_per TICKS COUNT
us_per() { awk -v c="$1" -v k="$clk" -v n="$2" 'BEGIN {printf "%.2f", c / k * 1e6 / n}'; }

# Whether the server's TLS is the one this run is about: one s_client
# handshake.
check_tls() { # NAME
	local out got
	out=$(timeout 10 openssl s_client -brief -connect "127.0.0.1:$port" -CAfile "$ca" < /dev/null 2>&1)
	got="$(echo "$out" | awk -F': ' '/^Protocol version/ {p = $2} /^Ciphersuite/ {c = $2}
		/^Server Temp Key/ {split($2, g, ","); k = g[1]} /^Signature type/ {s = $2}
		/^Verification: OK/ {v = "verified"} END {print p, c, k, s, v}')"
	printf '%-10s %s\n' "$1" "$got"
	[ "$got" = "TLSv1.3 TLS_AES_128_GCM_SHA256 X25519 ECDSA verified" ] ||
		{ err "$1 negotiated '$got', not TLSv1.3 TLS_AES_128_GCM_SHA256 X25519 ECDSA"; return 1; }
}

# start NAME: a fresh server on a fresh port ($port: the one to load; TLS
# unless NAME ends in -plain). Return: 1 (and an ERROR) if it did not come up.
start() {
	local ok=""
	port=$next_port
	next_port=$((next_port + 2))
	: > "$tmp/srv.out"
	case $1 in
	urt-http) "${pin_srv[@]}" "$bin/urt-http" --port "$port" --root "$www" \
		--tls-cert "$cert" --tls-key "$key" >> "$tmp/srv.out" 2>&1 & ;;
	urt-http-plain) "${pin_srv[@]}" "$bin/urt-http" --port "$port" --root "$www" >> "$tmp/srv.out" 2>&1 & ;;
	nginx) nginx_conf "$port"
		"${pin_srv[@]}" nginx -c "$tmp/nginx.conf" >> "$tmp/srv.out" 2>&1 & ;;
	h2o) h2o_conf "$port"
		"${pin_srv[@]}" h2o -c "$tmp/h2o.conf" >> "$tmp/srv.out" 2>&1 & ;;
	urt-kv) "${pin_srv[@]}" "$bin/urt-kv" --port $((port + 1)) --tls-port "$port" \
		--tls-cert-file "$cert" --tls-key-file "$key" >> "$tmp/srv.out" 2>&1 & ;;
	urt-kv-plain) "${pin_srv[@]}" "$bin/urt-kv" --port "$port" >> "$tmp/srv.out" 2>&1 & ;;
	redis) "${pin_srv[@]}" redis-server --port 0 --tls-port "$port" \
		--tls-cert-file "$cert" --tls-key-file "$key" --tls-ca-cert-file "$ca" \
		--tls-auth-clients no --tls-protocols TLSv1.3 --tls-ciphersuites TLS_AES_128_GCM_SHA256 \
		--save '' --appendonly no --io-threads 1 --daemonize no >> "$tmp/srv.out" 2>&1 & ;;
	*) echo "bench-tls: no server $1" >&2; exit 2 ;;
	esac
	srv=$!
	for _ in $(seq 100); do
		case $1 in
		urt-http | nginx | h2o) curl -s -o /dev/null --cacert "$ca" "https://127.0.0.1:$port/" ;;
		urt-http-plain) curl -s -o /dev/null "http://127.0.0.1:$port/" ;;
		urt-kv | redis) grep -q PONG < <(redis-cli --tls --cacert "$ca" -p "$port" ping 2>/dev/null) ;;
		urt-kv-plain) grep -q PONG < <(redis-cli -p "$port" ping 2>/dev/null) ;;
		esac && ok=1 && break
		kill -0 "$srv" 2>/dev/null || break
		sleep 0.05
	done
	if [ -z "${ok:-}" ]; then
		err "$1 did not start: $(tail -3 "$tmp/srv.out" | tr '\n' ' ')"
		stop
		return 1
	fi
	return 0
}
# TERM, then KILL what is left after 5 s
stop() {
	local pids
	[ -n "$srv" ] || return 0
	pids=$(tree "$srv")
	kill -TERM "$srv" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$srv" 2>/dev/null || break; sleep 0.05; done
	kill -9 $pids 2>/dev/null
	wait "$srv" 2>/dev/null
	srv=""
}

# median and spread ((max - min) / median, %) of the numbers given
med() { [ $# -gt 0 ] || { echo -; return; }; printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "-"}'; }
spread() {
	[ $# -gt 0 ] || { echo -; return; }
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {m = v[int((NR + 1) / 2)];
		if (NR < 2 || m == 0) print "-"; else printf "%.1f%%\n", (v[NR] - v[1]) / m * 100}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b}'; }
# the better of two: larger (max) or smaller (min), and the name it came from
better() { # max|min NAME1 V1 NAME2 V2
	awk -v w="$1" -v n1="$2" -v a="$3" -v n2="$4" -v b="$5" 'BEGIN {
		if (a == "-") {print n2, b; exit} if (b == "-") {print n1, a; exit}
		if ((w == "max") == (a + 0 >= b + 0)) print n1, a; else print n2, b}'
}
# goal LABEL RATIO OP LIMIT: one goal line (PASS, MISS, or n/a)
goal() {
	local g
	if [ "$2" = "-" ]; then
		echo "goal $1 $3 ${4}x: n/a (not measured)"
		return
	fi
	if awk -v r="$2" -v l="$4" -v op="$3" 'BEGIN {exit !((op == "<=") ? r <= l : r >= l)}'; then g=PASS
	else g=MISS; fi
	echo "goal $1 $3 ${4}x: ${2}x $g"
}

# A counter of a urt server's stats line, on SIGUSR1 (the last line's).
# Prints nothing if the line has no such field.
stat_now() { # FIELD...
	local before
	before=$(grep -c '^stats:' "$tmp/srv.out")
	kill -USR1 "$srv"
	for _ in $(seq 100); do
		[ "$(grep -c '^stats:' "$tmp/srv.out")" -gt "$before" ] && break
		sleep 0.02
	done
	grep '^stats:' "$tmp/srv.out" | tail -1 | awk -v f="$*" '{
		n = split(f, want, " "); out = ""
		for (j = 1; j <= n; j++) {v = "?"; for (i = 1; i < NF; i++) if ($i == want[j]) {v = $(i + 1); break}
			out = out (j > 1 ? " " : "") v}
		print out}'
}

echo "bench-tls: $(nproc) cores, $(uname -r), $(openssl version | cut -d' ' -f1-2);" \
	"nginx $(nginx -v 2>&1 | sed 's|.*/||'), h2o $(h2o --version | awk 'NR == 1 {print $3}')," \
	"redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
echo "server on CPU 0, load on CPU 1; a fresh server per run, median of $repeat run(s);" \
	"spread = (max - min) / median; ECDSA P-256, TLS 1.3, TLS_AES_128_GCM_SHA256, X25519"
for s in urt-http urt-kv; do
	w=$(why_not "$s")
	[ -n "$w" ] && echo "$s: $w ($bin/$s): its rows are skipped"
done
echo

# --- 0: what each server negotiates -------------------------------------------------------------
echo "== 0: each TLS server's handshake (openssl s_client -brief): protocol, suite, group, signature"
for s in nginx h2o urt-http redis urt-kv; do
	w=$(why_not "$s")
	if [ -n "$w" ]; then
		printf '%-10s (%s)\n' "$s" "$w"
		continue
	fi
	start "$s" || continue
	check_tls "$s"
	stop
done
echo

# Every figure runs its points round-robin: each repeat measures every
# server once before the next repeat starts, so a change in the shared
# machine's load reaches all of them alike rather than one server's runs.
# A run appends its figures to A[point] and B[point] (space-separated).
declare -A A B N X

# --- 1: HTTPS small file, keep-alive ----------------------------------------------------------
declare -A rps cpu
# wrk_run NAME SCHEME: one run on a fresh server
wrk_run() {
	local got reqs c0 c1 sock non2xx
	start "$1" || return 1
	got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' --cacert "$ca" "$2://127.0.0.1:$port/index.html")
	if [ "$got" != "200 100" ]; then
		err "$1 answered '$got' for /index.html, not '200 100'"
		stop
		return 1
	fi
	c0=$(ticks)
	timeout $((dur + 30)) "${pin_cli[@]}" wrk -t1 -c100 -d"${dur}s" "$2://127.0.0.1:$port/index.html" > "$tmp/wrk" 2>&1
	c1=$(ticks)
	stop
	reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk")
	sock=$(grep 'Socket errors' "$tmp/wrk")
	non2xx=$(grep 'Non-2xx' "$tmp/wrk")
	if [ -z "$reqs" ] || [ "$reqs" -eq 0 ] || [ -n "$sock$non2xx" ]; then
		err "$1 under wrk: ${reqs:-no} requests ${sock:+; $sock}${non2xx:+; $non2xx}"
		[ -n "$reqs" ] && [ "$reqs" -gt 0 ] || return 1
	fi
	A[$1]+=" $(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$tmp/wrk")"
	B[$1]+=" $(us_per $((c1 - c0)) "$reqs")"
}
if want https; then
	echo "== 1: HTTPS, a 100-byte file, keep-alive: wrk -t1 -c100 -d${dur}s"
	for _ in $(seq "$repeat"); do
		for s in nginx h2o urt-http urt-http-plain; do
			[ -z "$(why_not "$s")" ] || continue
			scheme=https
			[ "$s" = urt-http-plain ] && scheme=http
			wrk_run "$s" "$scheme"
		done
	done
	printf '%-16s %11s %7s %11s %7s\n' server "requests/s" spread "cpu us/req" spread
	for s in nginx h2o urt-http urt-http-plain; do
		w=$(why_not "$s")
		if [ -n "$w" ]; then
			printf '%-16s %11s\n' "$s" "($w)"
			rps[$s]="-" cpu[$s]="-"
			continue
		fi
		# shellcheck disable=SC2086 # one figure a word
		rps[$s]=$(med ${A[$s]:-}) cpu[$s]=$(med ${B[$s]:-})
		# shellcheck disable=SC2086
		printf '%-16s %11s %7s %11s %7s%s\n' "$s" "${rps[$s]}" "$(spread ${A[$s]:-})" "${cpu[$s]}" \
			"$(spread ${B[$s]:-})" "$([ "$s" = urt-http-plain ] && echo "  (no TLS, context)")"
	done
	read -r bn bv <<< "$(better max nginx "${rps[nginx]}" h2o "${rps[h2o]}")"
	goal "urt-http requests/s vs the better peer ($bn)" "$(ratio "${rps[urt-http]}" "$bv")" ">=" 1.1
	read -r bn bv <<< "$(better min nginx "${cpu[nginx]}" h2o "${cpu[h2o]}")"
	goal "urt-http cpu/request vs the better peer ($bn)" "$(ratio "${cpu[urt-http]}" "$bv")" "<=" 0.9
	echo "urt-http cpu/request with TLS vs without: $(ratio "${cpu[urt-http]}" "${cpu[urt-http-plain]}")x"
	echo
fi

# --- 2: CPU per handshake, full and resumed ---------------------------------------------------
declare -A hs
# hs_run NAME MODE: one s_time run (-new or -reuse) on a fresh server
hs_run() {
	local s=$1 mode=$2 c0 c1 n reused
	start "$s" || return 1
	c0=$(ticks)
	timeout $((stime + 30)) "${pin_cli[@]}" openssl s_time -connect "127.0.0.1:$port" \
		-"$mode" -time "$stime" -www /index.html -CAfile "$ca" > "$tmp/st" 2>&1
	c1=$(ticks)
	stop
	n=$(awk '/connections in .* real seconds/ {print $1}' "$tmp/st" | tail -1)
	if [ -z "$n" ] || [ "$n" -eq 0 ]; then
		err "$s s_time -$mode: no connections: $(grep -iv '^\**$' "$tmp/st" | head -3 | tr '\n' ' ')"
		return 1
	fi
	grep -qi 'error' "$tmp/st" && err "$s s_time -$mode: $(grep -i error "$tmp/st" | head -2 | tr '\n' ' ')"
	# one character per connection: r resumed, * a full TLS 1.3 handshake
	reused=$(grep -E '^[*rt3]+$' "$tmp/st" | tr -cd r | wc -c)
	if [ "$mode" = reuse ]; then
		X[$s.$mode]+=" $(awk -v r="$reused" -v n="$n" 'BEGIN {printf "%.0f", r / n * 100}')"
		awk -v r="$reused" -v n="$n" 'BEGIN {exit !(r < 0.9 * n)}' &&
			err "$s s_time -reuse: only $reused of $n connections resumed"
	fi
	N[$s.$mode]+=" $n"
	B[$s.$mode]+=" $(us_per $((c1 - c0)) "$n")"
}
if want handshake; then
	echo "== 2: server CPU per connection (handshake + one GET of the file), openssl s_time -time $stime"
	for _ in $(seq "$repeat"); do
		for s in nginx h2o urt-http; do
			[ -z "$(why_not "$s")" ] || continue
			for mode in new reuse; do hs_run "$s" "$mode"; done
		done
	done
	printf '%-10s %-6s %11s %11s %7s %8s\n' server mode connections "cpu us/conn" spread resumed
	for s in nginx h2o urt-http; do
		w=$(why_not "$s")
		if [ -n "$w" ]; then
			printf '%-10s %-6s %11s\n' "$s" "" "($w)"
			hs[$s.new]="-" hs[$s.reuse]="-"
			continue
		fi
		for mode in new reuse; do
			p=$s.$mode
			# shellcheck disable=SC2086
			hs[$p]=$(med ${B[$p]:-})
			res="-"
			# shellcheck disable=SC2086 # the fewest resumed of the runs
			[ -n "${X[$p]:-}" ] && res="$(printf '%s\n' ${X[$p]} | sort -g | head -1)%"
			# shellcheck disable=SC2086
			printf '%-10s %-6s %11s %11s %7s %8s\n' "$s" "$mode" "$(med ${N[$p]:-})" "${hs[$p]}" \
				"$(spread ${B[$p]:-})" "$res"
		done
	done
	for mode in new reuse; do
		read -r bn bv <<< "$(better min nginx "${hs[nginx.$mode]}" h2o "${hs[h2o.$mode]}")"
		goal "urt-http cpu/connection, s_time -$mode, vs the better peer ($bn)" \
			"$(ratio "${hs[urt-http.$mode]}" "$bv")" "<=" 1
	done
	echo
fi

# --- 3: urt-kv beside redis, both TLS ---------------------------------------------------------
declare -A kcpu krps
# kv_run NAME TEST PIPE: one redis-benchmark run on a fresh server
kv_run() {
	local s=$1 t=$2 pipe=$3 n=$kv_n c0 c1 out v tls=(--tls --cacert "$ca")
	[ "$s" = urt-kv-plain ] && tls=()
	[ "$pipe" = 16 ] && n=$kv_np
	start "$s" || return 1
	[ "$t" = get ] && timeout 60 "${pin_cli[@]}" redis-benchmark "${tls[@]}" -p "$port" \
		-t set -n 20000 -r 100000 -q > /dev/null 2>&1
	c0=$(ticks)
	out=$(timeout 120 "${pin_cli[@]}" redis-benchmark "${tls[@]}" -p "$port" -t "$t" \
		-n "$n" -c 50 -P "$pipe" -r 100000 --csv 2> "$tmp/rb.err" | tail -1)
	c1=$(ticks)
	stop
	v=$(echo "$out" | awk -F'"' '$2 ~ /^(SET|GET)$/ {printf "%.0f", $4}')
	if [ -z "$v" ] || [ "$v" = 0 ]; then
		err "$s $t -P $pipe: redis-benchmark gave '$out' $(head -c 200 "$tmp/rb.err")"
		return 1
	fi
	A[$s.$t.$pipe]+=" $v"
	B[$s.$t.$pipe]+=" $(us_per $((c1 - c0)) "$n")"
}
if want kv; then
	echo "== 3: redis-benchmark --tls -c 50 -r 100000: SET and GET, -P 1 ($kv_n requests) and -P 16 ($kv_np)"
	for _ in $(seq "$repeat"); do
		for s in redis urt-kv urt-kv-plain; do
			[ -z "$(why_not "$s")" ] || continue
			for pipe in 1 16; do
				for t in set get; do kv_run "$s" "$t" "$pipe"; done
			done
		done
	done
	printf '%-14s %-4s %4s %11s %7s %11s %7s\n' server test pipe "requests/s" spread "cpu us/req" spread
	for s in redis urt-kv urt-kv-plain; do
		w=$(why_not "$s")
		for pipe in 1 16; do
			for t in set get; do
				p=$s.$t.$pipe
				if [ -n "$w" ]; then
					printf '%-14s %-4s %4s %11s\n' "$s" "$t" "$pipe" "($w)"
					kcpu[$p]="-" krps[$p]="-"
					continue
				fi
				# shellcheck disable=SC2086
				kcpu[$p]=$(med ${B[$p]:-}) krps[$p]=$(med ${A[$p]:-})
				# shellcheck disable=SC2086
				printf '%-14s %-4s %4s %11s %7s %11s %7s%s\n' "$s" "$t" "$pipe" "${krps[$p]}" \
					"$(spread ${A[$p]:-})" "${kcpu[$p]}" "$(spread ${B[$p]:-})" \
					"$([ "$s" = urt-kv-plain ] && echo "  (no TLS, context)")"
			done
		done
	done
	worst="-"
	for pipe in 1 16; do
		for t in set get; do
			r=$(ratio "${kcpu[urt-kv.$t.$pipe]}" "${kcpu[redis.$t.$pipe]}")
			echo "urt-kv/redis at $t -P $pipe: requests/s" \
				"$(ratio "${krps[urt-kv.$t.$pipe]}" "${krps[redis.$t.$pipe]}")x, cpu/request ${r}x"
			worst=$(awk -v w="$worst" -v r="$r" 'BEGIN {if (r == "-" || (w != "-" && w + 0 >= r + 0)) print w; else print r}')
		done
	done
	goal "urt-kv cpu/request vs redis, the worst of the four points" "$worst" "<=" 0.8
	echo
fi

# --- 4: memory per idle TLS connection --------------------------------------------------------
declare -A idle
# idle_run NAME: tls-idle against a fresh server, its RSS before and after
idle_run() {
	local s=$1 r0 r1 cli rc how=(--ca "$ca")
	[[ $s == *-plain ]] && how=(--plain)
	start "$s" || return 1
	# one-time costs (OpenSSL's first connection, lazily made pools) land
	# before the baseline
	"${pin_cli[@]}" "$bin/tls-idle" --port "$port" --conns 20 "${how[@]}" --hold-ms 0 > /dev/null
	sleep 0.5
	r0=$(rss_kb)
	"${pin_cli[@]}" "$bin/tls-idle" --port "$port" --conns "$idle_n" "${how[@]}" \
		--hold-ms 2000 --timeout-ms 60000 > "$tmp/idle" 2> "$tmp/idle.err" &
	cli=$!
	for _ in $(seq 1200); do
		grep -q '^ready' "$tmp/idle" && break
		kill -0 "$cli" 2>/dev/null || break
		sleep 0.05
	done
	sleep 1
	r1=$(rss_kb)
	wait "$cli"
	rc=$?
	stop
	if [ "$rc" -ne 0 ]; then
		err "$s: tls-idle: $(tr '\n' ' ' < "$tmp/idle") $(head -2 "$tmp/idle.err" | tr '\n' ' ')"
		return 1
	fi
	A[idle.$s]+=" $r0" B[idle.$s]+=" $r1"
	N[idle.$s]+=" $(awk -v a="$r0" -v b="$r1" -v n="$idle_n" 'BEGIN {printf "%.0f", (b - a) * 1024 / n}')"
}
if want idle; then
	echo "== 4: memory per idle TLS connection: $idle_n handshakes then idle, server RSS delta / connections"
	if [ ! -x "$bin/tls-idle" ]; then
		err "$bin/tls-idle not built (benches/tls-idle.c: needs libssl-dev)"
	else
		for _ in $(seq "$repeat"); do
			for s in nginx h2o urt-http redis urt-kv urt-http-plain urt-kv-plain; do
				[ -z "$(why_not "$s")" ] || continue
				idle_run "$s"
			done
		done
		printf '%-14s %7s %13s %12s %11s %7s\n' server conns "rss before KiB" "rss after KiB" "bytes/conn" spread
		for s in nginx h2o urt-http redis urt-kv urt-http-plain urt-kv-plain; do
			w=$(why_not "$s")
			if [ -n "$w" ]; then
				printf '%-14s %7s\n' "$s" "($w)"
				idle[$s]="-"
				continue
			fi
			p=idle.$s
			# shellcheck disable=SC2086
			idle[$s]=$(med ${N[$p]:-})
			# shellcheck disable=SC2086
			printf '%-14s %7s %13s %12s %11s %7s%s\n' "$s" "$idle_n" "$(med ${A[$p]:-})" "$(med ${B[$p]:-})" \
				"${idle[$s]}" "$(spread ${N[$p]:-})" "$([[ $s == *-plain ]] && echo "  (no TLS, context)")"
		done
		read -r bn bv <<< "$(better min nginx "${idle[nginx]}" h2o "${idle[h2o]}")"
		echo "urt-http bytes/idle connection vs the better peer ($bn): $(ratio "${idle[urt-http]}" "$bv")x"
		echo "urt-kv bytes/idle connection vs redis: $(ratio "${idle[urt-kv]}" "${idle[redis]}")x"
		echo "what TLS adds per idle connection: urt-http" \
			"$(awk -v a="${idle[urt-http]}" -v b="${idle[urt-http-plain]}" 'BEGIN {if (a == "-" || b == "-") print "-"; else print a - b}') B," \
			"urt-kv $(awk -v a="${idle[urt-kv]}" -v b="${idle[urt-kv-plain]}" 'BEGIN {if (a == "-" || b == "-") print "-"; else print a - b}') B"
	fi
	echo
fi

# --- 5: OpenSSL heap calls per request after the handshake (urt only) ---------------------------
# The counters are read twice in the middle of a long keep-alive run, so the
# window holds requests on connections whose handshakes are done; the
# connection count is read with them (a reconnect inside the window would
# bring handshakes into it, said when it happens).
heap_window() { # REQUEST_FIELD LOAD...: prints "requests tls/req runtime/req new_conns"
	local rf=$1 a b load_pid
	shift
	"$@" > /dev/null 2>&1 &
	load_pid=$!
	sleep 1.5
	a=$(stat_now tls_heap_calls heap_calls "$rf" connections)
	sleep "$dur"
	b=$(stat_now tls_heap_calls heap_calls "$rf" connections)
	kill "$load_pid" 2>/dev/null
	wait "$load_pid" 2>/dev/null
	awk -v a="$a" -v b="$b" 'BEGIN {
		split(a, x, " "); split(b, y, " "); reqs = (x[3] == "?") ? 0 : y[3] - x[3]
		per = "n/a"
		if (reqs > 0 && x[1] != "?") per = sprintf("%.4f", (y[1] - x[1]) / reqs)
		rt = "n/a"
		if (reqs > 0 && x[2] != "?") rt = sprintf("%.4f", (y[2] - x[2]) / reqs)
		printf "%d %s %s %s\n", reqs, per, rt, (x[4] == "?") ? "?" : y[4] - x[4]}'
}
if want heap; then
	echo "== 5: heap calls per request after the handshake (urt's stats lines, a ${dur}s window inside a keep-alive run)"
	printf '%-16s %10s %14s %18s %9s\n' server requests "tls heap/req" "runtime heap/req" "new conns"
	for s in urt-http urt-kv.1 urt-kv.16; do
		name=${s%%.*}
		label=$name
		[ "$name" = urt-kv ] && label="urt-kv -P ${s#*.}"
		w=$(why_not "$name")
		if [ -n "$w" ]; then
			printf '%-16s %10s\n' "$label" "($w)"
			continue
		fi
		start "$name" || continue
		if [ "$name" = urt-http ]; then
			line=$(heap_window requests timeout $((dur + 20)) "${pin_cli[@]}" wrk -t1 -c100 \
				-d$((dur + 4))s "https://127.0.0.1:$port/index.html")
		else
			line=$(heap_window commands timeout $((dur + 20)) "${pin_cli[@]}" redis-benchmark --tls \
				--cacert "$ca" -p "$port" -t get -n 100000000 -c 50 -P "${s#*.}" -r 100000 -q)
		fi
		has_tls=$(grep '^stats:' "$tmp/srv.out" | tail -1 | grep -c ' tls_heap_calls ')
		stop
		read -r reqs per rt conns <<< "$line"
		printf '%-16s %10s %14s %18s %9s\n' "$label" "$reqs" "$per" "$rt" "$conns"
		[ "$reqs" -gt 0 ] || err "$label: no requests counted in the window (stats line: $(grep '^stats:' "$tmp/srv.out" | tail -1 | cut -c1-120))"
		[ "$has_tls" -gt 0 ] || echo "  $label tls heap/req n/a: its stats line has no tls_heap_calls counter yet"
		[ "$conns" = 0 ] || [ "$conns" = "?" ] || err "$label: $conns connections were made inside the window (their handshakes are counted)"
	done
	echo
fi

if [ "$errors" -gt 0 ]; then
	echo "*** bench-tls: $errors ERROR(s) above: those figures are incomplete ***" >&2
	exit 1
fi
