# shellcheck shell=bash disable=SC2154 # tmp, srv, src: set by the test and test-lib.sh
# lib.sh - what the TLS server tests share; sourced after scripts/test-lib.sh
# (which sets tmp, srv, fail). Makes the test PKI (scripts/tls-certs.sh) in
# $pki, inside the scratch folder, and gives:
#   stats_line OUT               SIGUSR1 to $srv (one runtime), the new stats line
#   stat_of OUT FIELD            FIELD of a new stats line
#   wait_stat OUT FIELD WANT S   until FIELD is WANT, at most S seconds
#   wait_ge OUT FIELD MIN S      until FIELD is MIN or more, at most S seconds
#   tls_port_of OUT              the port of the server's 'tls listening on' line
#   silent_closed                a client at $tport that says nothing is closed
#                                within 3 s (--tls-handshake-ms 500)
#   idle_closed                  a TLS client at $tport that sends nothing after its
#                                handshake is closed within 4 s (--idle-ms 1500)
#   stall_start REQ / stall_end  an s_client at $tport that sends the file REQ and
#                                never reads (it writes into a pipe nobody reads)
#   budget_closes OUT MEM CLOSED  under a 100 KiB --max-clients-mem (one handshake,
#                                80 KiB, fits; an idle client and one do not): one idle TLS
#                                client at $tport makes MEM (the stats field)
#                                count its TLS state, a second one makes the
#                                server close one of them (CLOSED counts it)
#   stats_stop OUT               the stats line's tls_* figures are counted, then
#                                SIGTERM: exit 0 with them in the exit line
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
silent_closed() {
	local s=$SECONDS
	exec 3<>"/dev/tcp/127.0.0.1/$tport"
	timeout 5 cat <&3 > /dev/null || fail "a silent client was not closed within 5 s"
	exec 3>&-
	((SECONDS - s <= 3)) || fail "a silent client closed after $((SECONDS - s)) s"
}
idle_closed() {
	local s=$SECONDS rc
	set +e
	timeout 6 openssl s_client -connect "127.0.0.1:$tport" -CAfile "$pki/ca.pem" \
		-ign_eof < /dev/null > /dev/null 2>&1
	rc=$?
	set -e
	[ $rc != 124 ] && ((SECONDS - s <= 4)) || fail "an idle TLS connection was not closed by --idle-ms"
}
stall_start() {
	mkfifo "$tmp/stall"
	exec 5<> "$tmp/stall"
	openssl s_client -quiet -connect "127.0.0.1:$tport" -CAfile "$pki/ca.pem" \
		< "$1" > "$tmp/stall" 2> /dev/null &
	stall=$!
	pids+=("$stall")
}
stall_end() {
	kill "$stall" 2> /dev/null || true
	exec 5>&-
	rm -f "$tmp/stall"
}
stats_stop() {
	local line v
	line=$(stats_line "$1")
	for f in tls_conns tls_handshake_fail tls_heap_calls tls_heap_bytes; do
		v=$(echo "$line" | field $f)
		[ -n "$v" ] && [ "$v" -gt 0 ] || fail "stats: $f is '$v': $line"
	done
	stop
	grep -q '^exit: .* tls_conns [1-9][0-9]* tls_handshake_fail [1-9][0-9]* tls_heap_calls [1-9][0-9]* tls_heap_bytes [0-9]' "$1" ||
		fail "exit line: $(tail -1 "$1")"
}
idle_client() {
	openssl s_client -connect "127.0.0.1:$tport" -CAfile "$pki/ca.pem" -ign_eof \
		< /dev/null > /dev/null 2>&1 &
	pids+=("$!")
	idle_pids+=("$!")
}
budget_closes() {
	idle_pids=()
	idle_client
	wait_ge "$1" "$2" $((32 * 1024)) 10 # one TLS connection's state
	idle_client
	wait_stat "$1" "$3" 1 10
	wait_stat "$1" live 1 10
	kill "${idle_pids[@]}" 2> /dev/null || true
}
