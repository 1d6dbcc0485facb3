# shellcheck shell=bash disable=SC2154 # bin, tmp, pin_srv: the caller sets them
# echo-lib.sh - what echo-bench.sh and echo-idle-rss.sh share (sourced):
# a server under test started and stopped, and urt-echo's stats read. The
# caller sets bin (the binaries), tmp (a scratch directory), pin_srv (a
# taskset prefix, maybe empty) and threads (urt-echo's runtimes; 1 if unset).

# start_server NAME ARGS... : sets srv_pid, port
start_server() {
	local name=$1; shift
	: > "$tmp/srv.out"
	"${pin_srv[@]}" "$bin/$name" --port 0 "$@" > "$tmp/srv.out" 2> "$tmp/srv.err" &
	srv_pid=$!
	for _ in $(seq 100); do
		grep -q '^listening on' "$tmp/srv.out" && break
		sleep 0.05
	done
	port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/srv.out")
	[ -n "$port" ] || { echo "${0##*/}: $name did not start" >&2; cat "$tmp/srv.err" >&2; exit 1; }
}

stop_server() {
	kill -TERM "$srv_pid"
	for _ in $(seq 100); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.05; done
	kill -9 "$srv_pid" 2>/dev/null || true
	wait "$srv_pid" 2>/dev/null || true
	srv_pid=""
}

# stat_now FIELD: a field of the server's stats lines, summed over its
# runtimes (urt-echo prints them on SIGUSR1)
stat_now() {
	local before
	before=$(grep -c '^stats:' "$tmp/srv.out" || true)
	kill -USR1 "$srv_pid"
	for _ in $(seq 100); do
		[ "$(grep -c '^stats:' "$tmp/srv.out" || true)" -gt "$before" ] && break
		sleep 0.02
	done
	sleep 0.05
	grep '^stats:' "$tmp/srv.out" | tail -n "${threads:-1}" |
		awk -v f="$1" '{for (i = 1; i < NF; i++) if ($i == f) s += $(i + 1)} END {print s + 0}'
}
