# test-lib.sh - what the end-to-end test scripts share; sourced after they
# set `name` (for messages) and `bin` (the programs' folder).
#   fail MSG / step MSG         report and stop / say what is being tested
#   start PROGRAM OUT ARGS...   start a server on --port 0, wait for its one
#                               "listening on" line; sets srv and port
#   stop [PID]                  SIGTERM; it must exit 0 within 10 s
#   expect_bad_flags PROG ARGS... each ARGS (words) exits 2 with one line,
#                               and PROG --help prints its usage
#   rec_calls TRACE BIN FROM TO of a traced server's allocator calls, those
#                               for op records (below)
# Every server started is killed at exit, and the scratch folder $tmp removed.
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "$name: FAIL: $*" >&2; exit 1; }
step() { echo "$name: $*"; }

start() {
	local prog=$1 out=$2; shift 2
	"$bin/$prog" --port 0 "$@" > "$out" 2> "$out.err" &
	srv=$!
	pids+=("$srv")
	for _ in $(seq 200); do
		grep -qs '^listening on' "$out" && break
		kill -0 "$srv" 2>/dev/null || fail "$prog exited at start: $(cat "$out.err")"
		sleep 0.05
	done
	[ "$(grep -c '^listening on' "$out")" = 1 ] || fail "$prog printed no single 'listening on' line"
	port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
	[ -n "$port" ] || fail "$prog: no port in '$(head -1 "$out")'"
}

stop() {
	local pid=${1:-$srv}
	kill -TERM "$pid"
	for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$pid" 2>/dev/null && fail "server $pid did not stop on SIGTERM"
	wait "$pid" || fail "server $pid exited with $? on SIGTERM"
}

expect_bad_flags() {
	local prog=$1 args rc
	shift
	for args in "$@"; do
		set +e
		# shellcheck disable=SC2086
		"$bin/$prog" $args > "$tmp/bad" 2>&1
		rc=$?
		set -e
		[ $rc = 2 ] || fail "$prog $args exited $rc, want 2"
		[ "$(wc -l < "$tmp/bad")" = 1 ] || fail "$prog $args printed more than one line"
	done
	# through a file: grep -q leaves at its match, and a usage past stdout's
	# 4 KiB buffer would then die of SIGPIPE on its second write (pipefail)
	"$bin/$prog" --help > "$tmp/help" || fail "$prog --help exited $?"
	grep -q "^usage: $prog" "$tmp/help" || fail "$prog --help"
}

# rec_calls TRACE BIN FROM TO: of the allocator calls numbered FROM < n <=
# TO that a server run with URT_HEAP_TRACE=0 wrote to TRACE (its stderr:
# examples/counting.h), how many were for op records (the pool's slow
# path, urt__rec_refill, named by heap-trace.sh). Prints nothing without
# addr2line. (The name is found in the asan, tsan and release presets'
# binaries: no inlining, or no debug information to name an inlined
# callee by.)
rec_calls() {
	command -v addr2line > /dev/null || return 0
	"$(dirname "${BASH_SOURCE[0]}")/heap-trace.sh" "$1" "$2" "$3" "$4" > "$tmp/rec_calls" ||
		fail "heap-trace.sh $1 $2 $3 $4"
	grep -c 'urt__rec_refill' "$tmp/rec_calls" || true
}
