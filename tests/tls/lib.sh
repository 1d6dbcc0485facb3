# lib.sh - what the TLS server tests share; sourced after scripts/test-lib.sh
# (which sets tmp, srv, fail). Makes the test PKI (scripts/tls-certs.sh) in
# $pki, inside the scratch folder, and gives:
#   stats_line OUT               SIGUSR1 to $srv (one runtime), the new stats line
#   stat_of OUT FIELD            FIELD of a new stats line
#   wait_stat OUT FIELD WANT S   until FIELD is WANT, at most S seconds
#   wait_ge OUT FIELD MIN S      until FIELD is MIN or more, at most S seconds
#   tls_port_of OUT              the port of the server's 'tls listening on' line
pki=$tmp/pki
"$src/scripts/tls-certs.sh" "$pki"

# field KEY: the word after KEY in the line on stdin
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}'; }
stats_line() {
	local n
	n=$(grep -c '^stats:' "$1" || true)
	kill -USR1 "$srv"
	for _ in $(seq 200); do [ "$(grep -c '^stats:' "$1")" -gt "$n" ] && break; sleep 0.05; done
	[ "$(grep -c '^stats:' "$1")" -gt "$n" ] || fail "no stats line within 10 s of SIGUSR1"
	grep '^stats:' "$1" | tail -1
}
stat_of() { stats_line "$1" | field "$2"; }
wait_stat() {
	local v
	for _ in $(seq $(($4 * 5))); do
		v=$(stat_of "$1" "$2")
		[ "$v" = "$3" ] && return 0
		sleep 0.2
	done
	fail "$2 is $v after $4 s, want $3"
}
wait_ge() {
	local v
	for _ in $(seq $(($4 * 5))); do
		v=$(stat_of "$1" "$2")
		[ -n "$v" ] && [ "$v" -ge "$3" ] && return 0
		sleep 0.2
	done
	fail "$2 is $v after $4 s, want $3 or more"
}
tls_port_of() { sed -n 's/^tls listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$1"; }
