# test-lib.sh - what the end-to-end test scripts share; sourced after they
# set `name` (for messages) and `bin` (the programs' folder).
#   fail MSG / step MSG         report and stop / say what is being tested
#   start PROGRAM OUT ARGS...   start a server on --port 0, wait for its one
#                               "listening on" line; sets srv and port
#   stop [PID]                  SIGTERM; it must exit 0 within 10 s
#   expect_bad_flags PROG ARGS... each ARGS (words) exits 2 with one line,
#                               and PROG --help prints its usage
#   no_calls_via PROG OUT FROM TO FN WHAT  a traced server made no
#                               allocator call through FN in that window
#   no_rec_calls PROG OUT FROM TO  none for op records (both below)
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

# no_calls_via PROG OUT FROM TO FN WHAT: of the allocator calls numbered
# FROM < n <= TO that PROG, started with URT_HEAP_TRACE=0, traced to
# OUT.err (its stderr: examples/counting.h), none came through the
# function FN (named in the call's backtrace by heap-trace.sh), the slow
# path of WHAT; says how many calls there were. Without addr2line it says
# so and checks nothing. (The names are found in the asan, tsan and
# release presets' binaries: no inlining, or no debug information to name
# an inlined callee by.)
no_calls_via() {
	local n
	if ! command -v addr2line > /dev/null; then
		step "no addr2line (binutils) to name the calls: $(($4 - $3)) heap calls, $6 not checked"
		return 0
	fi
	"$(dirname "${BASH_SOURCE[0]}")/heap-trace.sh" "$2.err" "$bin/$1" "$3" "$4" > "$tmp/via_calls" ||
		fail "heap-trace.sh $2.err $bin/$1 $3 $4"
	n=$(grep -cE " < $5( |\$)" "$tmp/via_calls" || true)
	step "$(($4 - $3)) heap calls, $n for $6 ($5)"
	[ "$n" = 0 ] || fail "$1: $n heap calls for $6, want 0 (made at init for --max-conns): $(grep -E " < $5( |\$)" "$tmp/via_calls" | head -3)"
}

# no_rec_calls PROG OUT FROM TO: none of the window's calls was for op
# records (the pool's slow path, urt__rec_refill)
no_rec_calls() { no_calls_via "$1" "$2" "$3" "$4" urt__rec_refill "op records"; }
