#!/usr/bin/env bash
# test-frame-loop.sh BINDIR - urt-frame-loop as a user runs it (a CTest entry
# in every preset, so under ASan in the asan one). Bounded: every run has a
# frame count and a timeout. Checks what the program's summary says; the
# frame-time check is the program's own (it exits 1 if more than 1% of
# frames ran over budget), not a wall-clock assertion here.
set -euo pipefail
bin=${1:?usage: test-frame-loop.sh BINDIR}
prog=$bin/urt-frame-loop
name=test-frame-loop
# shellcheck source=scripts/test-lib.sh
. "$(dirname "$0")/test-lib.sh"

# field NAME FILE: a value from the summary line
field() { sed -n "s/^summary: .* $1 \([^ ]*\).*/\1/p" "$2"; }

run() { # OUT ARGS...
	local out=$1; shift
	timeout 60 "$prog" "$@" > "$out" 2> "$out.err" || fail "urt-frame-loop $* exited $?: $(tail -3 "$out.err")"
	grep -q '^summary:' "$out" || fail "no summary from urt-frame-loop $*"
}

# run_short OUT ARGS...: a run of a few frames that checks something other
# than frame times. Its exit status 1 may be the program's late-frame
# verdict alone (one late frame of 20 is 5%, and the first frames of an ASan
# build on a busy host are late), so status 1 is taken when every asset that
# arrived was exact; the caller checks what the run is for.
run_short() {
	local out=$1 rc=0; shift
	timeout 60 "$prog" "$@" > "$out" 2> "$out.err" || rc=$?
	grep -q '^summary:' "$out" || fail "no summary from urt-frame-loop $* (exit $rc): $(tail -3 "$out.err")"
	case $rc in
	0) ;;
	1) [ "$(field exact "$out")" = "$(field assets "$out" | cut -d/ -f1)" ] ||
		fail "urt-frame-loop $* exited 1: $(grep summary "$out")" ;;
	*) fail "urt-frame-loop $* exited $rc: $(tail -3 "$out.err")" ;;
	esac
}

debug=0
run_short "$tmp/probe" --frames 1 --misuse frame-across-await
grep -q 'no debug checks' "$tmp/probe" || debug=1

step "300 frames at 100 Hz: every asset byte-exact, no heap calls after warm-up"
run "$tmp/a" --hz 100 --particles 2048 --frames 300
[ "$(field assets "$tmp/a")" = 32/32 ] || fail "assets: $(field assets "$tmp/a")"
[ "$(field exact "$tmp/a")" = 32 ] || fail "exact: $(field exact "$tmp/a")"
[ "$(field heap_calls_after_warmup "$tmp/a")" = 0 ] || fail "heap calls after warm-up: $(grep summary "$tmp/a")"
w=$(field warmup_frames "$tmp/a")
[ "$w" -lt 300 ] || fail "never warmed up in 300 frames"
[ "$(field frame_reports "$tmp/a")" = 0 ] || fail "the correct program was reported"
grep -q '^t=1s frames' "$tmp/a.err" || fail "no per-second stats line"

step "slow loaders (200 ms each) do not make frames late"
run "$tmp/slow" --hz 100 --particles 2048 --frames 150 --slow-ms 200
[ "$(field exact "$tmp/slow")" = 32 ] || fail "slow: exact $(field exact "$tmp/slow")"

step "assets from a directory"
mkdir "$tmp/assets"
head -c 70000 /dev/urandom > "$tmp/assets/one.bin"
: > "$tmp/assets/empty.bin"
printf 'hello\n' > "$tmp/assets/two.txt"
mkdir "$tmp/assets/subdir"
run_short "$tmp/dir" --hz 100 --particles 2048 --frames 60 --assets "$tmp/assets"
[ "$(field assets "$tmp/dir")" = 3/3 ] || fail "dir assets: $(field assets "$tmp/dir")"
[ "$(field exact "$tmp/dir")" = 3 ] || fail "dir exact: $(field exact "$tmp/dir")"

step "misuse: frame memory as an I/O buffer is refused in every build"
run_short "$tmp/io" --frames 20 --misuse frame-in-io-buffer
grep -q 'urt_read into frame memory returned -14 (Bad address)' "$tmp/io" || fail "frame-in-io-buffer: $(cat "$tmp/io")"

if [ $debug = 1 ]; then
	step "misuse: the debug checks report the task and the offset"
	run_short "$tmp/aw" --frames 20 --misuse frame-across-await
	grep -q "reported: urt: frame pointer held across await: task 'misuse-frame-across-await' state offset 0" "$tmp/aw" ||
		fail "frame-across-await: $(cat "$tmp/aw")"
	[ "$(field frame_reports "$tmp/aw")" = 1 ] || fail "frame-across-await: reports $(field frame_reports "$tmp/aw")"
	run_short "$tmp/cap" --frames 20 --misuse frame-captured-by-spawn
	grep -q "reported: urt: frame data captured by a spawned task: task 'misuse-frame-captured-by-spawn' state offset 0" "$tmp/cap" ||
		fail "frame-captured-by-spawn: $(cat "$tmp/cap")"
else
	step "misuse: this build has no debug checks; it says so"
	run_short "$tmp/aw" --frames 20 --misuse frame-across-await
	grep -q 'no report: this build has no debug checks' "$tmp/aw" || fail "release misuse output: $(cat "$tmp/aw")"
fi

step "the console: stats and quit over TCP end the loop"
timeout 60 "$prog" --hz 100 --particles 2048 --port 0 > "$tmp/con" 2> "$tmp/con.err" &
pid=$!
for _ in $(seq 200); do grep -q '^listening on' "$tmp/con" && break; sleep 0.05; done
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/con")
[ -n "$port" ] || { kill "$pid"; fail "console: no listening line"; }
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'stats\n' >&3
read -r -t 10 reply <&3 || fail "console: no reply to stats"
case $reply in frames\ *) ;; *) fail "console stats reply: $reply" ;; esac
printf 'bogus\n' >&3
read -r -t 10 reply <&3 || fail "console: no reply to an unknown command"
case $reply in commands:*) ;; *) fail "console unknown reply: $reply" ;; esac
printf 'sta' >&3 # a command in two pieces: no reply to the first (a stale 'commands:' would fail below)
sleep 0.2
printf 'ts\n' >&3
read -r -t 10 reply <&3 || fail "console: no reply to a split stats"
case $reply in frames\ *) ;; *) fail "console split stats reply: $reply" ;; esac
printf 'quit\n' >&3
read -r -t 10 reply <&3 || fail "console: no reply to quit"
[ "$reply" = bye ] || fail "console quit reply: $reply"
exec 3>&-
wait "$pid" || fail "urt-frame-loop exited $? after quit"
grep -q '^summary:' "$tmp/con" || fail "no summary after quit"

step "bad flags: exit status 2 and a one-line error"
expect_bad_flags urt-frame-loop "--hz 0" "--frames x" "--misuse nope" "--bogus" "extra"
step "ok"
