#!/usr/bin/env bash
# test-kv.sh BINDIR - urt-kv as a user runs it, with redis-cli and
# redis-benchmark (a CTest entry in every preset: under ASan in the asan one,
# under ThreadSanitizer in the tsan one, which matters for the --threads 2
# part). Every wait is bounded; any failure exits non-zero saying what.
set -euo pipefail
bin=${1:?usage: test-kv.sh BINDIR}
src=$(cd "$(dirname "$0")/.." && pwd)
name=test-kv
# shellcheck source=scripts/test-lib.sh
. "$src/scripts/test-lib.sh"
if ! command -v redis-cli >/dev/null || ! command -v redis-benchmark >/dev/null; then
	echo "test-kv: redis-cli / redis-benchmark missing (scripts/deps.sh installs redis-tools): skipped"
	exit 77
fi

cli() { timeout 10 redis-cli -p "$port" "$@"; }
export LC_ALL=C # read -N counts bytes

# say FD WORDS...: one inline request on the open connection FD; sets
# said to the reply's first line without its CR (a variable, not output:
# no subshell per request)
say() {
	local fd=$1
	shift
	printf '%s\r\n' "$*" >&"$fd"
	read -r -t 10 said <&"$fd" || fail "no reply to '$*'"
	said=${said%$'\r'}
}

# thread_of FD: sets thread to the runtime serving connection FD (INFO
# server's urt_thread)
thread_of() {
	local fd=$1 body re=$'\n''urt_thread:([0-9]+)'$'\r'
	say "$fd" INFO server
	read -r -t 10 -N $((${said#\$} + 2)) body <&"$fd" || fail "INFO's body"
	[[ $body =~ $re ]] || fail "no urt_thread in INFO server"
	thread=${BASH_REMATCH[1]}
}


# stats_now OUT: SIGUSR1 to $srv, then the stats line it prints to OUT
# (waited for up to 10 s; an older line would be stale figures)
stats_now() {
	local out=$1 before i
	before=$(grep -c '^stats:' "$out" || true)
	kill -USR1 "$srv"
	for ((i = 0; ; i++)); do
		[ "$(grep -c '^stats:' "$out" || true)" -gt "$before" ] && break
		((i < 500)) || fail "no stats line within 10 s of SIGUSR1"
		sleep 0.02
	done
	grep '^stats:' "$out" | tail -1
}

# field LINE NAME: NAME's value in the stats line LINE
field() {
	if [[ " $1 " =~ \ $2\ ([^ ]*)\  ]]; then echo "${BASH_REMATCH[1]}"; fi
}

# stat_of OUT FIELD: FIELD's value in a new stats line (stats_now)
stat_of() {
	local line
	line=$(stats_now "$1")
	field "$line" "$2"
}

# wait_stat OUT FIELD MIN: until FIELD reaches MIN (at most 10 s); prints it
wait_stat() {
	local v
	for _ in $(seq 50); do
		v=$(stat_of "$1" "$2")
		[ -n "$v" ] && [ "$v" -ge "$3" ] && break
		sleep 0.2
	done
	echo "$v"
}

# closed FD: the server closed FD within 10 s (EOF or reset, not a timeout)
closed() {
	local r rc=0
	while true; do
		read -r -t 10 r <&"$1" 2>/dev/null || { rc=$?; break; }
	done
	[ $rc -le 128 ]
}

# clients that attack the server's memory and time (issue 15)
hostile_part() {
	local fd total v i n s1 s2 s3 fds=() before r probe w s held
	step "hostile: 4 KB of pipelined GETs of a 1 MiB value hold no more than a batch"
	start urt-kv "$tmp/h.out" --hash-seed 7
	head -c 1048576 /dev/zero | tr '\0' v | cli -x set big > /dev/null
	before=$(rss_kb)
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	printf 'GET big\r\n%.0s' $(seq 400) >&"$fd" # 3,600 bytes asking for 400 MiB
	read -r -t 10 r <&"$fd" || fail "no reply to 400 pipelined GETs"
	[ "$r" = $'$1048576\r' ] || fail "the first GET of 1 MiB answered '$r'"
	# the replies have started (not a sleep: a loaded machine may take longer);
	# served beside them; with one runtime, not before the loop is free again (the
	# old code built all 400 MiB of replies first, holding it for seconds)
	[ "$(cli ping)" = PONG ] || fail "not serving beside a client that does not read"
	v=$(stat_of "$tmp/h.out" clients_mem)
	[ -n "$v" ] && [ "$v" -lt $((4 << 20)) ] ||
		fail "400 pipelined GETs of 1 MiB held '$v' bytes of client buffers"
	[ $(($(rss_kb) - before)) -lt 65536 ] ||
		fail "RSS grew by $(($(rss_kb) - before)) KiB for 3.6 KB of GETs nobody reads"
	total=$((400 * (1048576 + 12) - 10)) # less the first header, read
	n=$(timeout 60 head -c "$total" <&"$fd" | tr -d v | tr -d '\r' | grep -c '^\$1048576$') || true
	[ "$n" = 399 ] || fail "400 GETs of 1 MiB read back as $((n + 1)) whole replies"
	exec {fd}>&-

	step "hostile: --hash-seed: one seed one table layout, another seed another"
	cli flushall > /dev/null
	for i in $(seq 60); do echo "SET seed:$i x"; done | cli > /dev/null
	s1=$(cli scan 0 count 1000 | tr '\n' ' ')
	stop
	start urt-kv "$tmp/h2.out" --hash-seed 7
	for i in $(seq 60); do echo "SET seed:$i x"; done | cli > /dev/null
	s2=$(cli scan 0 count 1000 | tr '\n' ' ')
	stop
	start urt-kv "$tmp/h3.out" --hash-seed 8
	for i in $(seq 60); do echo "SET seed:$i x"; done | cli > /dev/null
	s3=$(cli scan 0 count 1000 | tr '\n' ' ')
	stop
	[ "$s1" = "$s2" ] || fail "--hash-seed 7 twice: two SCAN orders"
	[ "$s1" != "$s3" ] || fail "--hash-seed 7 and 8: the same SCAN order (an unkeyed hash?)"

	start urt-kv "$tmp/d.out" --idle-ms 500 --send-ms 500
	step "hostile: --idle-ms: a connection that sends nothing is closed"
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	closed "$fd" || fail "an idle connection was still open 10 s past --idle-ms 500"
	exec {fd}>&-

	step "hostile: --idle-ms: a request that trickles in (slower than 64 KiB an --idle-ms) is closed"
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	printf '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n' >&"$fd"
	for i in $(seq 30); do
		(printf 'x' >&"$fd") 2>/dev/null || break
		sleep 0.1
	done
	closed "$fd" || fail "a trickling request was still open 3 s past --idle-ms 500"
	exec {fd}>&-
	[ "$(wait_stat "$tmp/d.out" closed_idle 2)" -ge 2 ] || fail "closed_idle: $(tail -1 "$tmp/d.out")"
	[ "$(cli ping)" = PONG ] || fail "a connection that keeps talking is served"

	step "hostile: --send-ms: a client that asks and never reads is closed"
	head -c 4194304 /dev/zero | tr '\0' v | cli -x set big > /dev/null
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	printf 'GET big\r\n%.0s' $(seq 32) >&"$fd" # 128 MiB: more than any socket buffer
	v=$(wait_stat "$tmp/d.out" closed_send 1)
	[ "$v" -ge 1 ] || fail "a client that does not read was not closed past --send-ms 500: $v"
	exec {fd}>&-
	grep '^stats:' "$tmp/d.out" | tail -1 |
		grep -Eq ' bufs_free_low [0-9]+/[0-9]+ .*spill_high_water [0-9]+ ' ||
		fail "no bufs_free_low N/M or spill_high_water N in $(tail -1 "$tmp/d.out")"
	stop

	step "hostile: --max-clients-mem: the largest holders of unfinished requests are closed"
	start urt-kv "$tmp/m.out" --max-clients-mem 3m --max-request 1m --max-pipeline 2
	fds=()
	for i in 0 1 2 3; do # each holds about 1 MB: the fourth takes them past 3 MiB
		exec {fd}<>"/dev/tcp/127.0.0.1/$port"
		fds[i]=$fd
		{ printf '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n'; head -c 900000 /dev/zero; } >&"$fd"
	done
	v=$(wait_stat "$tmp/m.out" closed_mem 1)
	[ "$v" -ge 1 ] || fail "clients holding 4 MB past --max-clients-mem 3m: none closed"
	v=$(stat_of "$tmp/m.out" clients_mem)
	[ "$v" -le $((3 << 20)) ] || fail "clients_mem $v past --max-clients-mem 3m"
	[ "$(cli ping)" = PONG ] || fail "not serving past --max-clients-mem"
	for fd in "${fds[@]}"; do exec {fd}>&-; done


	step "hostile: --max-pipeline 2: five pipelined requests in one write, answered in order"
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	printf 'INCR pipe\r\nINCR pipe\r\nINCR pipe\r\nINCR pipe\r\nINCR pipe\r\n' >&"$fd"
	v=""
	for i in 1 2 3 4 5; do
		read -r -t 10 r <&"$fd" || fail "--max-pipeline 2: no reply $i of 5"
		v="$v${r%$'\r'} "
	done
	[ "$v" = ":1 :2 :3 :4 :5 " ] || fail "--max-pipeline 2: replies '$v'"
	exec {fd}>&-
	step "hostile: --max-request: a request declared past it is refused at its header"
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	printf '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n' >&"$fd"
	read -r -t 10 r <&"$fd" || fail "no reply to a request past --max-request"
	[ "$r" = $'-ERR Protocol error: request too big\r' ] || fail "past --max-request: '$r'"
	exec {fd}>&-
	stop

	step "hostile: --max-clients-mem: non-readers whose streams fill while their sends wait are counted"
	# 200 clients with 4 KiB kernel buffers trickle pipelined GETs of a
	# 1 MiB value and never read: each task blocks in its first send, then
	# its stream fills (up to an arm and a buffer, ~68 KiB, in spill memory)
	# with the task asleep: ~17 MB that only the sweeper's check sees.
	[ -x "$bin/urt-probe" ] || fail "no $bin/urt-probe (tests/attack/probe.c): build all targets"
	start urt-kv "$tmp/sp.out" --max-clients-mem 8m
	head -c 1048576 /dev/zero | tr '\0' v | cli -x set big > /dev/null
	# (the probe is killed once the budget holds; 60 s for a loaded machine)
	timeout 90 "$bin/urt-probe" --port "$port" --kind kv --conns 200 --bufs 4096 \
		--unit 'GET big\r\n' --count 12000 --trickle 200 --chunk 8192 --read never --wb 0 \
		--duration 60000 > "$tmp/probe.out" 2>&1 &
	probe=$!
	pids+=("$probe")
	# until one stats line shows the budget has closed some (closed_mem),
	# what is left fits (clients_mem) and some non-readers are still served
	# (live: not every one closed, and the probe has not ended)
	held=false
	while kill -0 "$probe" 2>/dev/null; do
		s=$(stats_now "$tmp/sp.out")
		v=$(field "$s" closed_mem)
		w=$(field "$s" clients_mem)
		[ "${v:-0}" -gt 0 ] && [ "${w:-0}" -le $((8 << 20)) ] && [ "$(field "$s" live)" -gt 0 ] &&
			held=true && break
		sleep 0.1
	done
	if ! $held; then
		[ "${v:-0}" -gt 0 ] || fail "non-readers past --max-clients-mem 8m: none closed: $s"
		[ "${w:-0}" -le $((8 << 20)) ] || fail "clients_mem past 8 MiB: $s"
		fail "every non-reader closed, not the largest only: $s"
	fi
	[ "$(cli ping)" = PONG ] || fail "not serving beside the non-readers"
	kill "$probe" 2>/dev/null || true
	wait "$probe" 2>/dev/null || true
	stop
}
# --threads 2: two runtimes, one keyspace
threads_part() {
	local fds=() on=() bg=() i j fd v w r lines a b
	step "--threads 2: every command against what redis 7 replies, each from a new connection"
	start urt-kv "$tmp/t2.out" --threads 2
	"$src/scripts/kv-transcript.sh" "$port" "$src/tests/kv/commands.txt" > "$tmp/got2.txt"
	diff -u "$src/tests/kv/expected.txt" "$tmp/got2.txt" || fail "--threads 2: replies differ"

	step "--threads 2: a SET on a connection of one runtime is seen by a GET on the other"
	for i in $(seq 0 31); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$port"
		fds[i]=$fd
		thread_of "$fd"
		on[i]=$thread
	done
	[ "$(printf '%s\n' "${on[@]}" | sort -u | tr '\n' ' ')" = "0 1 " ] ||
		fail "32 connections were not spread over runtimes 0 and 1: ${on[*]}"
	for i in $(seq 0 31); do
		say "${fds[i]}" SET "cross:$i" "v$i"
		[ "$said" = +OK ] || fail "SET cross:$i"
		for j in $(seq 0 31); do
			[ "${on[j]}" != "${on[i]}" ] && break
		done
		say "${fds[j]}" GET "cross:$i"
		[ "$said" = "\$$((${#i} + 1))" ] || fail "GET cross:$i answered '$said'"
		read -r -t 10 v <&"${fds[j]}" || fail "GET cross:$i: no value"
		[ "${v%$'\r'}" = "v$i" ] ||
			fail "SET on runtime ${on[i]}, GET on runtime ${on[j]}: '${v%$'\r'}', want v$i"
	done
	for fd in "${fds[@]}"; do exec {fd}>&-; done

	step "--threads 2: INCR from 50 concurrent clients adds up exactly"
	cli del counter:__rand_int__ > /dev/null
	timeout 120 redis-benchmark -p "$port" -t incr -n 20000 -c 50 -q > "$tmp/incr" 2>&1 ||
		fail "redis-benchmark -t incr: $(tail -3 "$tmp/incr")"
	[ "$(cli get counter:__rand_int__)" = 20000 ] ||
		fail "20,000 INCRs from 50 clients made $(cli get counter:__rand_int__)"

	step "--threads 2: MGET never sees half of a concurrent MSET"
	cli mset m1 0 m2 0 m3 0 m4 0 m5 0 m6 0 m7 0 m8 0 > /dev/null
	for w in 1 2; do
		for i in $(seq 2000); do
			v=w$w-$i
			echo "MSET m1 $v m2 $v m3 $v m4 $v m5 $v m6 $v m7 $v m8 $v"
		done > "$tmp/mset$w"
		for i in $(seq 2000); do echo "MGET m1 m2 m3 m4 m5 m6 m7 m8"; done > "$tmp/mget$w"
	done
	for w in 1 2; do
		timeout 120 redis-cli -p "$port" < "$tmp/mset$w" > /dev/null &
		bg+=($!)
		timeout 120 redis-cli -p "$port" < "$tmp/mget$w" > "$tmp/seen$w" &
		bg+=($!)
	done
	for r in "${bg[@]}"; do wait "$r" || fail "a redis-cli of the MSET/MGET run failed"; done
	for w in 1 2; do
		lines=$(wc -l < "$tmp/seen$w")
		[ "$lines" = 16000 ] || fail "MGET replies: $lines lines, want 16000"
		awk 'NR % 8 == 1 {v = $0} $0 != v {print "line " NR ": " $0 " beside " v; bad = 1; exit}
		     END {exit bad}' "$tmp/seen$w" || fail "an MGET saw a half-applied MSET"
	done
	step "--threads 2: MGET saw $(cat "$tmp/seen1" "$tmp/seen2" | sort -u | wc -l) distinct MSETs"

	step "--threads 2: large values replaced while other runtimes send them, never torn"
	a=$(head -c 20000 /dev/zero | tr '\0' a)
	b=$(head -c 20000 /dev/zero | tr '\0' b)
	cli set big "$a" > /dev/null
	for i in $(seq 300); do echo "SET big $a"; echo "SET big $b"; echo "DEL big"; done > "$tmp/setbig"
	for i in $(seq 600); do echo "GET big"; done > "$tmp/getbig"
	bg=()
	timeout 120 redis-cli -p "$port" < "$tmp/setbig" > /dev/null &
	bg+=($!)
	for w in 1 2; do
		timeout 120 redis-cli -p "$port" < "$tmp/getbig" > "$tmp/gotbig$w" &
		bg+=($!)
	done
	for r in "${bg[@]}"; do wait "$r" || fail "a redis-cli of the large-value run failed"; done
	for w in 1 2; do
		awk -v a="$a" -v b="$b" '$0 != a && $0 != b && $0 != "" {bad = 1} END {exit bad}' \
			"$tmp/gotbig$w" || fail "a GET of a 20 KB value saw it torn"
	done

	step "--threads 2: SIGUSR1 prints one line summed over both runtimes"
	kill -USR1 "$srv"
	for _ in $(seq 100); do grep -q '^stats:' "$tmp/t2.out" && break; sleep 0.05; done
	grep -q '^stats: .* threads 2 thread_conns [0-9]*,[0-9]*$' "$tmp/t2.out" ||
		fail "no summed stats line on SIGUSR1: $(cat "$tmp/t2.out")"
	stop
	r=$(sed -n 's/^exit: .* threads 2 thread_conns \([0-9]*\),\([0-9]*\)$/\1 \2/p' "$tmp/t2.out")
	[ -n "$r" ] || fail "no per-thread counts in the exit line: $(cat "$tmp/t2.out")"
	read -r a b <<< "$r"
	[ "$a" -gt 0 ] && [ "$b" -gt 0 ] || fail "a runtime served no connection: $r"
	step "--threads 2: connections per runtime $a and $b"

	step "--threads 2 --max-conns 4: the cap counts both runtimes' connections"
	start urt-kv "$tmp/cap.out" --threads 2 --max-conns 4
	fds=()
	for i in 0 1 2 3; do
		exec {fd}<>"/dev/tcp/127.0.0.1/$port"
		fds[i]=$fd
		say "$fd" PING
		[ "$said" = +PONG ] || fail "connection $i under the cap"
	done
	# refused: accepted and closed at once (a write in a subshell: no SIGPIPE here)
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	(printf 'PING\r\n' >&"$fd") 2>/dev/null || true
	read -r -t 10 r <&"$fd" 2>/dev/null && fail "a fifth connection was served past --max-conns 4: '$r'"
	exec {fd}>&-
	fd=${fds[0]}
	exec {fd}>&-
	r=""
	for _ in $(seq 100); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$port"
		(printf 'PING\r\n' >&"$fd") 2>/dev/null || true
		read -r -t 10 r <&"$fd" 2>/dev/null || true
		exec {fd}>&-
		[ "$r" = $'+PONG\r' ] && break
		sleep 0.05
	done
	[ "$r" = $'+PONG\r' ] || fail "no connection served after one of four closed"
	for i in 1 2 3; do fd=${fds[i]}; exec {fd}>&-; done
	stop
}

step "urt-load --mode resp: 1,000 connections from a fresh start, no op record asked of the allocator"
# The op records 1,000 connections hold at once are made at init for
# --max-conns (opts.op_records_reserve): none of the load's allocator
# calls is for one (main made 20). Its other calls are the connections'
# buffers (task memory): counted, not asserted.
URT_HEAP_TRACE=0 start urt-kv "$tmp/hr.out"
h0=$(stat_of "$tmp/hr.out" heap_calls)
line=$(timeout 60 "$bin/urt-load" --port "$port" --mode resp --conns 1000 --size 100 --depth 4 \
	--duration 1 2> "$tmp/load.err") || fail "urt-load --mode resp: $line $(tail -2 "$tmp/load.err")"
case $line in *" errors 0") ;; *) fail "urt-load --mode resp: $line" ;; esac
h1=$(stat_of "$tmp/hr.out" heap_calls)
stop
no_rec_calls urt-kv "$tmp/hr.out" "$h0" "$h1"

start urt-kv "$tmp/kv.out"

step "every command against what redis 7 replies (tests/kv/expected.txt)"
"$src/scripts/kv-transcript.sh" "$port" "$src/tests/kv/commands.txt" > "$tmp/got.txt"
diff -u "$src/tests/kv/expected.txt" "$tmp/got.txt" || fail "replies differ from redis 7's"

step "what redis-cli and redis-benchmark ask at start, and the documented differences"
grep -q NOPROTO < <(cli hello 3) || fail "HELLO 3"
grep -qx proto < <(cli hello 2) || fail "HELLO 2"
grep -q '^redis_version:' < <(cli info) || fail "INFO"
[ "$(cli config get save | head -1)" = save ] || fail "CONFIG GET save"
[ "$(cli select 1)" = "ERR DB index is out of range" ] || fail "SELECT 1 (one database only)"
[ "$(cli client setname x)" = OK ] || fail "CLIENT SETNAME"

step "expiry: lazily on access, and by the sweep"
cli set soon v px 100 > /dev/null
for i in $(seq 100); do echo "SET exp:$i v PX 50"; done | cli > /dev/null
sleep 0.15 # past every deadline (a lower bound: later is as good)
[ -z "$(cli get soon)" ] || fail "an expired key was returned"
# DBSIZE counts expired keys until the sweep (every 100 ms) takes them out:
# wait for it, as long as a loaded machine needs (10 s at most)
for ((i = 0; i < 200; i++)); do
	[ "$(cli dbsize)" = 0 ] && break
	sleep 0.05
done
[ "$(cli dbsize)" = 0 ] || fail "the sweep left $(cli dbsize) expired keys after 10 s"

step "redis-benchmark -t set,get,incr,mset -n 100000 completes"
timeout 180 redis-benchmark -p "$port" -t set,get,incr,mset -n 100000 -q > "$tmp/bench" 2>&1 ||
	fail "redis-benchmark: $(tail -3 "$tmp/bench")"
[ "$(grep -c 'requests per second' "$tmp/bench")" = 4 ] || fail "redis-benchmark: $(cat "$tmp/bench")"

step "1,000 connections at once (redis-benchmark -c 1000)"
timeout 180 redis-benchmark -p "$port" -c 1000 -n 50000 -t set,get -q > "$tmp/bench2" 2>&1 ||
	fail "redis-benchmark -c 1000: $(tail -3 "$tmp/bench2")"
[ "$(grep -c 'requests per second' "$tmp/bench2")" = 2 ] || fail "1,000 clients: $(cat "$tmp/bench2")"

step "zero runtime heap calls per request on a warm server (SET, GET, SCAN, pipelined)"
# heap_now: the runtimes' allocator calls, from the stats line SIGUSR1 prints
heap_now() { stat_of "$tmp/kv.out" heap_calls; }
warm() {
	# (not MSET: 16 pipelined ones pass the 4 KiB size class of a
	# connection's buffers, a heap call per new connection, not per request)
	timeout 60 redis-benchmark -p "$port" -t set,get -n 20000 -c 50 -P 16 -r 10000 -q \
		> /dev/null 2>&1 || fail "redis-benchmark (heap calls)"
	for _ in $(seq 20); do cli scan 0 count 100 > /dev/null; done
}
warm
h0=$(heap_now)
warm
h1=$(heap_now)
[ -n "$h0" ] && [ "$h1" = "$h0" ] || fail "heap calls went from '$h0' to '$h1' over a warm run"

step "a request of many arguments arriving in pieces, then one behind it"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf '*7\r\n$4\r\nMSET\r\n$2\r\np1\r\n' >&3
sleep 0.1
printf '$1\r\na\r\n$2\r\np2\r\n$1' >&3
sleep 0.1
printf '\r\nb\r\n$2\r\np3\r\n$1\r\nc\r\n*2\r\n$3\r\nGET\r\n$2\r\np2\r\n' >&3
read -r -t 10 r1 <&3 && read -r -t 10 r2 <&3 && read -r -t 10 r3 <&3 || fail "no reply to MSET in pieces"
[ "$r1 $r2 $r3" = $'+OK\r $1\r b\r' ] || fail "MSET in pieces, then GET: '$r1' '$r2' '$r3'"
exec 3>&-
[ "$(cli mget p1 p3 | tr '\n' ' ')" = "a c " ] || fail "MSET in pieces stored $(cli mget p1 p3)"

step "urt-load --mode resp: 1,000 connections, every reply checked, zero errors"
line=$(timeout 60 "$bin/urt-load" --port "$port" --mode resp --conns 1000 --size 100 --depth 4 \
	--duration 2 2> "$tmp/load.err") || fail "urt-load --mode resp: $line $(tail -2 "$tmp/load.err")"
case $line in *" errors 0") ;; *) fail "urt-load --mode resp: $line" ;; esac

step "urt-load --mode resp --cmd set|get: pipelined SETs and GETs of 1,000 keys, every reply checked"
# (--cmd get SETs every key first, then checks each GET's value, which
# depends on its key only: a wrong or missing value is an error)
line=$(stats_now "$tmp/kv.out")
t0=$(field "$line" ticks) e0=$(field "$line" enters) c0=$(field "$line" commands)
for cmd in set get; do
	line=$(timeout 60 "$bin/urt-load" --port "$port" --mode resp --cmd "$cmd" --keyspace 1000 \
		--size 7 --conns 20 --depth 16 --requests 20000 --duration 10 2> "$tmp/load.err") ||
		fail "urt-load --cmd $cmd: $line $(tail -2 "$tmp/load.err")"
	case $line in *" errors 0") ;; *) fail "urt-load --cmd $cmd: $line" ;; esac
	[ "$(echo "$line" | awk '{print $2}')" -ge 20000 ] || fail "urt-load --cmd $cmd: too few: $line"
done
# shellcheck disable=SC2046
[ "$(cli exists $(seq -f 'key:%012g' 0 999))" = 1000 ] || fail "not every one of the 1,000 keys is set"
[ "$(cli strlen key:000000000999)" = 7 ] || fail "key:000000000999 is not a 7-byte value"
# the runtime's counters on the stats line: each tick makes at most one
# enter of its own, and pipelined batches need far fewer ticks than commands
line=$(stats_now "$tmp/kv.out")
t1=$(field "$line" ticks) e1=$(field "$line" enters) c1=$(field "$line" commands)
[ -n "$t1" ] && [ -n "$e1" ] && [ "$t1" -gt "$t0" ] || fail "no ticks on the stats line: $line"
[ $((e1 - e0)) -le $((t1 - t0)) ] || fail "more enters ($((e1 - e0))) than ticks ($((t1 - t0)))"
[ $((t1 - t0)) -lt $((c1 - c0)) ] || fail "a tick or more per command ($((t1 - t0)) for $((c1 - c0)))"

step "pipelined SETs and GETs over a keyspace past 1 MiB (looked at ahead, each key hashed once), every reply checked"
for cmd in set get; do
	line=$(timeout 60 "$bin/urt-load" --port "$port" --mode resp --cmd "$cmd" --keyspace 20000 \
		--size 100 --conns 20 --depth 16 --requests 40000 --duration 20 2> "$tmp/load.err") ||
		fail "urt-load --cmd $cmd --keyspace 20000: $line $(tail -2 "$tmp/load.err")"
	case $line in *" errors 0") ;; *) fail "urt-load --cmd $cmd --keyspace 20000: $line" ;; esac
done
# the look-ahead starts at 1 MiB held (PREFETCH_MIN_MEM in examples/kv/server.c)
[ "$(stat_of "$tmp/kv.out" memory)" -ge 1048576 ] || fail "the keyspace stayed under 1 MiB"
expect_bad_flags urt-load "--port 1 --cmd set" "--port 1 --mode resp --cmd nope" \
	"--port 1 --mode resp --keyspace 5" "--port 1 --mode resp --cmd set --keyspace 0"

step "a large value in many pieces, then a small request on the same connection"
exec 3<>"/dev/tcp/127.0.0.1/$port"
{ printf '*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$3000000\r\n'; head -c 3000000 /dev/zero | tr '\0' v
  printf '\r\n'; } >&3
read -r -t 10 r1 <&3 || fail "no reply to a 3 MB SET"
printf '*1\r\n$4\r\nPING\r\n' >&3 # later, in a read of its own
read -r -t 10 r2 <&3 || fail "no reply to the PING after a 3 MB SET (a stale wait for more bytes?)"
[ "$r1" = $'+OK\r' ] && [ "$r2" = $'+PONG\r' ] || fail "replies '$r1' '$r2'"
exec 3>&-
[ "$(cli strlen big)" = 3000000 ] || fail "the 3 MB value"
cli del big > /dev/null

step "malformed input: an error, the connection closed, neighbours unaffected"
for req in $'*abc\r\n' $'*1\r\n$-5\r\n' $'*1\r\n$3\r\nfooXY' $'*2\r\n$3\r\nGET\r\n:1\r\n'; do
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	printf '%s' "$req" >&3
	read -r -t 5 reply <&3 || fail "no reply to a malformed request"
	case $reply in -ERR\ Protocol\ error*) ;; *) fail "malformed request answered '$reply'" ;; esac
	read -r -t 5 reply <&3 && fail "the connection stayed open after a protocol error"
	exec 3>&-
	[ "$(cli ping)" = PONG ] || fail "a neighbour was not served"
done
# binary garbage that is not RESP reads as an inline command, as in redis
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf '\x01\x02\x03\xff garbage\r\n' >&3
read -r -t 5 reply <&3 || fail "no reply to binary garbage"
case $reply in -ERR\ unknown\ command*) ;; *) fail "binary garbage answered '$reply'" ;; esac
exec 3>&-
# truncated, then gone
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf '*3\r\n$3\r\nSET\r\n$1\r\nk' >&3
exec 3>&-
[ "$(cli ping)" = PONG ] || fail "not serving after a client vanished mid-request"

step "a pipelining flood that never reads: memory stays bounded, others are served"
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$srv/status"; }
before=$(rss_kb)
c0=$(stat_of "$tmp/kv.out" commands)
(printf 'PING\r\n%.0s' $(seq 200000) > "/dev/tcp/127.0.0.1/$port") 2>/dev/null &
flood=$!
# until half the flood has been answered, or the server has stopped
# reading it (its replies, which nobody reads, fill the socket buffers:
# about 700 KB, some 100,000 PONGs, and the kernel's buffer sizes decide
# which comes first), with at least 20,000 answered: not a fixed sleep,
# which a loaded machine may not fill. The bound is generous (90 s): a
# TSan build on a busy machine answers a few thousand a second, and this
# waits for progress, not for a speed
last=-1 still=0
for ((i = 0; ; i++)); do
	c=$(stat_of "$tmp/kv.out" commands)
	[ $((c - c0)) -ge 100000 ] && break
	if [ "$c" = "$last" ]; then still=$((still + 1)); else still=0; fi
	last=$c
	[ $((c - c0)) -ge 20000 ] && [ $still -ge 10 ] && break # 2 s without a reply: stopped
	((i < 450)) || fail "the flood's PINGs were not run: $((c - c0)) of 200,000 after 90 s"
	sleep 0.2
done
[ "$(cli ping)" = PONG ] || fail "not serving during a flood"
after=$(rss_kb)
[ $((after - before)) -lt 65536 ] || fail "RSS grew by $((after - before)) KiB under a flood that never reads"
kill "$flood" 2>/dev/null || true
wait "$flood" 2>/dev/null || true

step "SIGTERM with connections open"
exec 4<>"/dev/tcp/127.0.0.1/$port"
stop
exec 4>&-
grep -q '^exit: connections' "$tmp/kv.out" || fail "no stats line at exit"

step "--maxmemory: -OOM past it, reads still served"
start urt-kv "$tmp/oom.out" --maxmemory 1m
big=$(head -c 60000 /dev/zero | tr '\0' x)
oom=0
for i in $(seq 40); do
	r=$(cli set "big:$i" "$big")
	case $r in OOM*) oom=1; break ;; OK) ;; *) fail "SET past maxmemory answered '$r'" ;; esac
done
[ $oom = 1 ] || fail "no -OOM past --maxmemory 1m"
[ "$(cli strlen big:1)" = 60000 ] || fail "reads after -OOM"
# redis 7.0.15 with maxmemory 1 answers a write of the wrong arity with
# the arity error: processCommand checks it before the memory
r=$(cli set k)
[ "$r" = "ERR wrong number of arguments for 'set' command" ] || fail "arity at -OOM: '$r'"
stop

hostile_part
threads_part

step "bad flags: exit status 2 and a one-line error"
expect_bad_flags urt-kv "--port x" "--spawn nope" "--maxmemory 1q" "--max-args 0" "--bogus" "extra" \
	"--threads 0" "--threads 65" "--threads x" "--threads 2x" "--threads" "--idle-ms 0" \
	"--send-ms x" "--max-clients-mem 1q" "--max-pipeline 0" "--max-request 1" "--hash-seed -1"
step "all passed"
