#!/usr/bin/env bash
# test-echo.sh BINDIR - urt-echo, urt-load and epoll-echo as a user runs
# them (a CTest entry in every preset, so under ASan in the asan one).
# Every wait is bounded; any failure exits non-zero with what went wrong.
set -euo pipefail
bin=${1:?usage: test-echo.sh BINDIR}
name=test-echo
# shellcheck source=scripts/test-lib.sh
. "$(dirname "$0")/test-lib.sh"

# stats OUT PID RUNTIMES : SIGUSR1, wait for a fresh line per runtime
stats() {
	local out=$1 pid=$2 n=$3 before
	before=$(grep -cs '^stats:' "$out" || true)
	kill -USR1 "$pid"
	for _ in $(seq 200); do
		[ "$(grep -cs '^stats:' "$out" || true)" -ge $((before + n)) ] && break
		sleep 0.05
	done
	grep '^stats:' "$out" | tail -n "$n"
}

field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'; }

load() { timeout 60 "$bin/urt-load" --port "$port" "$@" 2>> "$tmp/load.err"; }

# --- bad flags -------------------------------------------------------------
step "bad flags"
for p in urt-echo urt-load epoll-echo; do
	set +e
	"$bin/$p" --no-such-flag > /dev/null 2> "$tmp/bad.err"; rc=$?
	set -e
	[ $rc = 2 ] || fail "$p --no-such-flag exited $rc, want 2"
	[ "$(wc -l < "$tmp/bad.err")" = 1 ] || fail "$p: the error is not one line"
	"$bin/$p" --help > /dev/null || fail "$p --help"
done
set +e
"$bin/urt-echo" --port 0 --addr not-an-address > /dev/null 2> "$tmp/bad.err"; rc=$?
set -e
[ $rc = 2 ] || fail "urt-echo --addr not-an-address exited $rc, want 2"
set +e
"$bin/urt-echo" --port 99999 > /dev/null 2>&1; [ $? = 2 ] || fail "urt-echo --port 99999"
"$bin/urt-echo" --spawn heap > /dev/null 2>&1; [ $? = 2 ] || fail "urt-echo --spawn heap"
"$bin/urt-echo" --max-clients-mem 1q > /dev/null 2>&1; [ $? = 2 ] || fail "urt-echo --max-clients-mem 1q"
"$bin/urt-echo" --max-clients-mem 0 > /dev/null 2>&1; [ $? = 2 ] || fail "urt-echo --max-clients-mem 0"
"$bin/urt-load" --conns 10 > /dev/null 2>&1; [ $? = 2 ] || fail "urt-load without --port"
set -e

# --- 1,000 connections, slab and boxed ----------------------------------------
# slab: below --max-conns, no allocator call after start-up (echo/server.c:
# the send records, the connections' list and the op records are made at
# init; grown on demand, a peak reached late in a run was a heap call in
# the echo grid's steady state)
for kind in slab boxed; do
	step "urt-echo --spawn $kind: 1,000 connections"
	start urt-echo "$tmp/$kind.out" --spawn "$kind"
	h0=$(stats "$tmp/$kind.out" "$srv" 1 | field heap_calls)
	line=$(load --conns 1000 --size 256 --depth 2 --duration 2) || fail "urt-load against $kind: $line"
	[ "$(echo "$line" | field errors)" = 0 ] || fail "errors: $line"
	[ "$(echo "$line" | field requests)" -gt 0 ] || fail "no requests: $line"
	h1=$(stats "$tmp/$kind.out" "$srv" 1 | field heap_calls)
	if [ "$kind" = slab ] && [ "$h1" != "$h0" ]; then
		fail "slab: $((h1 - h0)) heap calls for 1,000 connections and their echoes, want 0"
	fi
	stop "$srv"
	grep -q '^total: connections 1000 ' "$tmp/$kind.out" || fail "$kind: $(tail -1 "$tmp/$kind.out")"
done

# --- a message longer than one receive buffer -------------------------------------
# urt-echo answers a 6,000-byte message in two sends (a 4 KiB buffer, then
# the rest). Without TCP_NODELAY the second waited for the client's delayed
# ACK: about 22 echoes a second on one connection, against thousands with
# it (ASan included). The bound is 10x above the first and far below the
# second, so it judges Nagle, not the host's speed.
step "urt-echo: 6,000-byte echoes on one connection are not held by Nagle"
start urt-echo "$tmp/big.out"
line=$(load --conns 1 --size 6000 --depth 1 --duration 1) || fail "urt-load, 6,000 B: $line"
[ "$(echo "$line" | field errors)" = 0 ] || fail "errors: $line"
[ "$(echo "$line" | field requests)" -ge 220 ] || fail "6,000-byte echoes held by Nagle: $line"
stop "$srv"

# --- two runtimes share the port -------------------------------------------------
step "urt-echo --threads 2"
start urt-echo "$tmp/t2.out" --threads 2
load --conns 200 --duration 1 > /dev/null || fail "urt-load against --threads 2"
s=$(stats "$tmp/t2.out" "$srv" 2)
for r in 0 1; do
	c=$(echo "$s" | grep "runtime $r " | field connections)
	[ "${c:-0}" -gt 0 ] || fail "runtime $r took no connection: $s"
done
stop "$srv"

# --- misbehaving clients, leaks, SIGTERM with connections open --------------------
step "urt-echo: vanishing and non-reading clients, 10,000 connections, SIGTERM"
start urt-echo "$tmp/m.out" --max-conns 2048
rss0=$(awk '{print $2}' "/proc/$srv/statm")
# a client that vanishes mid-message (RST: linger 0 via a closed half-written socket)
for _ in 1 2 3; do
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	printf 'half a mess' >&3
	exec 3>&-
done
# a client that sends and never reads: 64 MiB pushed at the server
exec 4<>"/dev/tcp/127.0.0.1/$port"
head -c $((64 << 20)) /dev/zero >&4 2>/dev/null &
writer=$!
pids+=("$writer")
sleep 1
line=$(load --conns 100 --duration 1) || fail "others are not served beside a non-reader: $line"
rss1=$(awk '{print $2}' "/proc/$srv/statm")
grow=$(( (rss1 - rss0) * $(getconf PAGESIZE) ))
[ "$grow" -lt $((32 << 20)) ] || fail "server grew $grow bytes with a client that never reads"
kill "$writer" 2>/dev/null || true
exec 4>&-
# 10,000 connections opened and closed, then nothing is left
for _ in $(seq 10); do
	load --conns 1000 --requests 1000 --duration 5 > /dev/null || fail "urt-load round"
done
sleep 0.5
s=$(stats "$tmp/m.out" "$srv" 1)
[ "$(echo "$s" | field live)" = 0 ] || fail "connections left: $s"
echo "$s" | grep -q ' slab 0/' || fail "slots left: $s"
[ "$(echo "$s" | field connections)" -ge 10000 ] || fail "fewer than 10,000 connections: $s"
nfd=$(ls "/proc/$srv/fd" | wc -l)
[ "$nfd" -lt 40 ] || fail "$nfd descriptors open in an idle server"
# SIGTERM with connections open
exec 5<>"/dev/tcp/127.0.0.1/$port"
exec 6<>"/dev/tcp/127.0.0.1/$port"
sleep 0.2
stop "$srv"
exec 5>&- 6>&-

step "urt-echo --send-ms 1000: a client that sends and never reads is closed"
start urt-echo "$tmp/sd.out" --send-ms 1000
exec 4<>"/dev/tcp/127.0.0.1/$port"
head -c $((64 << 20)) /dev/zero >&4 2>/dev/null &
writer=$!
pids+=("$writer")
sleep 0.5
s=$(stats "$tmp/sd.out" "$srv" 1)
[ "$(echo "$s" | field live)" = 1 ] || fail "the non-reader is not connected yet: $s"
for _ in $(seq 40); do
	s=$(stats "$tmp/sd.out" "$srv" 1)
	[ "$(echo "$s" | field live)" = 0 ] && break
	sleep 0.1
done
[ "$(echo "$s" | field live)" = 0 ] || fail "a non-reader outlived --send-ms 1000: $s"
[ "$(echo "$s" | field closed_send)" = 1 ] || fail "want the non-reader closed by --send-ms: $s"
# what its echo held is back: the send record, and the chunk's buffer in the ring
for _ in $(seq 40); do
	[ "$(echo "$s" | field sends_live)" = 0 ] &&
		echo "$s" | field bufs_free | awk -F/ '{exit !($1 == $2)}' && break
	sleep 0.1
	s=$(stats "$tmp/sd.out" "$srv" 1)
done
[ "$(echo "$s" | field sends_live)" = 0 ] || fail "a send record outlived its connection: $s"
echo "$s" | field bufs_free | awk -F/ '{exit !($1 == $2)}' || fail "buffers out of the ring after the close: $s"
kill "$writer" 2>/dev/null || true
exec 4>&-
line=$(load --conns 10 --duration 1) || fail "not served after a non-reader was closed: $line"
stop "$srv"

step "urt-echo --max-clients-mem 4m: 400 small-window non-readers, the largest holders closed"
# Each one sends without end and never reads (4 KiB kernel buffers): its
# echo blocks, and its stream holds up to an arm and a buffer (about 68 KiB)
# in the runtime's spill memory while its task sleeps in the send: about
# 27 MB in all, which only a check from the sweeper sees.
[ -x "$bin/urt-probe" ] || fail "no $bin/urt-probe (tests/attack/probe.c): build all targets"
start urt-echo "$tmp/cm.out" --max-clients-mem 4m
# (the probe runs until killed below, or 60 s: on a loaded machine under a
# sanitizer the budget's first closes may come after a short run has ended)
timeout 90 "$bin/urt-probe" --port "$port" --kind echo --conns 400 --bufs 4096 --unit x \
	--count 0 --read never --wb 0 --duration 60000 > "$tmp/probe.out" 2>&1 &
probe=$!
pids+=("$probe")
for _ in $(seq 400); do # until the budget has closed some and what is left fits
	s=$(stats "$tmp/cm.out" "$srv" 1)
	[ "$(echo "$s" | field closed_mem)" -gt 0 ] &&
		[ "$(echo "$s" | field clients_mem)" -le $((4 << 20)) ] && break
	sleep 0.1
done
[ "$(echo "$s" | field closed_mem)" -gt 0 ] || fail "non-readers past --max-clients-mem 4m: none closed: $s"
[ "$(echo "$s" | field clients_mem)" -le $((4 << 20)) ] || fail "clients_mem past 4 MiB: $s"
[ "$(echo "$s" | field live)" -gt 0 ] || fail "every non-reader closed, not the largest only: $s"
line=$(load --conns 10 --duration 1) || fail "not served beside the non-readers: $line"
[ "$(echo "$line" | field errors)" = 0 ] || fail "errors beside the non-readers: $line"
kill "$probe" 2>/dev/null || true
wait "$probe" 2>/dev/null || true
stop "$srv"

step "urt-echo --idle-ms 1000: a silent connection is closed, a talking one is not"
# (pings 150 ms apart over 2.4 s: a loaded host under a sanitizer has 850 ms
# to answer each before the talking connection looks idle; 500 ms with 8
# pings failed once on a loaded host, closed_idle 2)
start urt-echo "$tmp/idle.out" --idle-ms 1000
exec 4<>"/dev/tcp/127.0.0.1/$port"
exec 5<>"/dev/tcp/127.0.0.1/$port"
for _ in $(seq 16); do
	printf 'ping' >&5
	read -r -t 5 -n 4 reply <&5 || fail "a talking connection was not answered"
	sleep 0.15
done
s=$(stats "$tmp/idle.out" "$srv" 1)
[ "$(echo "$s" | field closed_idle)" = 1 ] || fail "want the silent connection closed, only: $s"
[ "$(echo "$s" | field live)" = 1 ] || fail "want the talking connection open: $s"
read -r -t 2 -n 1 _ <&4 && fail "the silent connection got bytes"
exec 4>&- 5>&-
stop "$srv"

step "urt-echo --max-conns 2: a full slab takes no descriptor without a slot, and serves in order"
start urt-echo "$tmp/full.out" --max-conns 2
base=$(ls "/proc/$srv/fd" | wc -l)
fds=()
for _ in $(seq 30); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" # handshaken by the kernel, in the backlog
	fds+=("$fd")
done
sleep 0.5
nfd=$(ls "/proc/$srv/fd" | wc -l)
[ "$nfd" -le $((base + 2)) ] || fail "a full server holds $((nfd - base)) connection descriptors with 2 slots"
# the first two are served; when they close, the next ones get slots
printf 'ping' >&"${fds[0]}"
read -r -t 5 -n 4 reply <&"${fds[0]}" || fail "first connection not served"
[ "$reply" = ping ] || fail "first connection echoed '$reply'"
exec {fds[0]}>&- {fds[1]}>&-
printf 'pong' >&"${fds[2]}"
read -r -t 5 -n 4 reply <&"${fds[2]}" || fail "third connection not served after two closed"
[ "$reply" = pong ] || fail "third connection echoed '$reply'"
for fd in "${fds[@]:2}"; do exec {fd}>&-; done
stop "$srv"

# --- the baseline under the same load ------------------------------------------------
step "epoll-echo: 1,000 connections"
start epoll-echo "$tmp/ep.out"
line=$(load --conns 1000 --size 256 --depth 2 --duration 2) || fail "urt-load against epoll-echo: $line"
[ "$(echo "$line" | field errors)" = 0 ] || fail "errors: $line"
stop "$srv"

echo "test-echo: all passed"
