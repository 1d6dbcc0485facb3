#!/bin/sh
# heap-trace.sh TRACE BINARY [FROM [TO]]: the allocator calls an example
# program wrote to TRACE (stderr, run with URT_HEAP_TRACE=N: see
# examples/counting.h), numbered FROM < n <= TO (default: all), one a
# line: its number, alloc or free, the size, the time, then its callers
# named by addr2line (innermost first, counting.h's own frames left out).
# A benchmark's steady-state window starts at the heap_calls its stats
# line showed (FROM) and ends at the next one's (TO):
#
#   URT_HEAP_TRACE=0 build/release/bin/urt-echo --port 0 2> trace &
#   ... load; kill -USR1 before and after the window ...
#   scripts/heap-trace.sh trace build/release/bin/urt-echo 48 50
set -eu

trace=${1:?usage: heap-trace.sh TRACE BINARY [FROM [TO]]}
bin=${2:?usage: heap-trace.sh TRACE BINARY [FROM [TO]]}
from=${3:-0}
to=${4:-999999999999}
command -v addr2line >/dev/null || { echo "heap-trace: addr2line (binutils) is not installed" >&2; exit 1; }

# frames are "BINARY(+0xOFFSET)[0xADDRESS]"; a PIE's offset is what
# addr2line takes
awk -v f="$from" -v t="$to" -v b="$bin" '
function flush() { if (line != "") print line; line = "" }
/^heap call / {
	flush()
	n = $3; sub(":", "", n); n += 0
	keep = n > f && n <= t
	depth = 0
	if (keep) line = n " " $4 " " $5 " " $7 "s"
	next
}
keep && index($0, b "(+0x") {
	match($0, /\(\+0x[0-9a-f]+\)/)
	off = substr($0, RSTART + 2, RLENGTH - 3)
	cmd = "addr2line -f -e " b " " off
	cmd | getline fn
	close(cmd)
	if (fn !~ /^counting_/ && depth++ < 6) line = line " < " fn
	next
}
END { flush() }' "$trace"
