#!/usr/bin/env bash
# test-tls-kv.sh BINDIR - urt-kv's RESP over TLS (--tls-port beside the
# plain --port) as a user runs it: redis-cli --tls, a short
# redis-benchmark --tls, urt-load --tls, openssl s_client, client
# certificates, the deadlines and the memory budget on the TLS path (a CTest
# entry when liburt_tls is built; under ASan in the asan preset). The PKI is
# made by scripts/tls-certs.sh in the scratch folder. Every wait is
# bounded; any failure exits non-zero saying what.
set -euo pipefail
bin=${1:?usage: test-tls-kv.sh BINDIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
name=test-tls-kv
# shellcheck source=scripts/test-lib.sh
. "$src/scripts/test-lib.sh"
for prog in redis-cli redis-benchmark openssl; do
	command -v $prog >/dev/null || { echo "$name: $prog missing (scripts/deps.sh): skipped"; exit 77; }
done
# (not `| grep -q`: grep ends at the match, and pipefail sees redis-cli's SIGPIPE)
help=$(redis-cli --help 2>&1 || true)
[[ $help == *"--tls "* ]] || { echo "$name: redis-cli without TLS: skipped"; exit 77; }

# shellcheck source=tests/tls/lib.sh
. "$src/tests/tls/lib.sh"
# tcli ARGS...: redis-cli over TLS to $tport, verifying by the test root
tcli() { timeout 10 redis-cli --tls --cacert "$pki/ca.pem" -p "$tport" "$@"; }
files=(--tls-cert-file "$pki/server.pem" --tls-key-file "$pki/server.key")

step "bad TLS flags and files: exit 2 with one line saying what"
expect_bad_flags urt-kv "--tls-port 0" "--tls-cert-file $pki/server.pem" \
	"--tls-port 0 --tls-cert-file a --tls-key-file b --tls-auth-clients maybe" \
	"--tls-port 0 --tls-cert-file a --tls-key-file b --tls-auth-clients optional" \
	"--tls-port 0 --tls-cert-file a --tls-key-file b --tls-auth-clients yes" \
	"--tls-handshake-ms 0"
set +e
timeout 10 "$bin/urt-kv" --port 0 --tls-port 0 --tls-cert-file "$tmp/nope.pem" \
	--tls-key-file "$pki/server.key" > "$tmp/bad.out" 2> "$tmp/bad.err"
rc=$?
set -e
[ $rc = 2 ] || fail "a missing --tls-cert-file: exit $rc, want 2"
grep -q -- "--tls-cert-file $tmp/nope.pem: No such file or directory" "$tmp/bad.err" ||
	fail "a missing --tls-cert-file: '$(cat "$tmp/bad.err")'"

start urt-kv "$tmp/k.out" --tls-port 0 "${files[@]}" --idle-ms 1500 --send-ms 1000 \
	--tls-handshake-ms 500
tport=$(tls_port_of "$tmp/k.out")
[ -n "$tport" ] && [ "$tport" != "$port" ] || fail "no 'tls listening on' line of its own: $(cat "$tmp/k.out")"

step "redis-cli --tls: PING, SET, GET, a 200 KB value; one keyspace with the plain port"
[ "$(tcli PING)" = PONG ] || fail "PING over TLS"
[ "$(tcli SET greeting hello)" = OK ] || fail "SET over TLS"
[ "$(tcli GET greeting)" = hello ] || fail "GET over TLS"
[ "$(timeout 10 redis-cli -p "$port" GET greeting)" = hello ] || fail "the plain port sees another keyspace"
head -c 150000 /dev/urandom | base64 -w 0 > "$tmp/big"
tcli -x SET big < "$tmp/big" > /dev/null
[ "$(tcli GET big)" = "$(cat "$tmp/big")" ] || fail "a 200 KB value over TLS"
set +e
timeout 10 redis-cli --tls --cacert "$pki/other-ca.pem" -p "$tport" PING > "$tmp/wrong" 2>&1
set -e
! grep -q PONG "$tmp/wrong" || fail "redis-cli trusted a server its root does not verify"

step "pipelining over TLS: redis-benchmark -P 16, urt-load --depth 32, inline commands in one write"
timeout 120 redis-benchmark --tls --cacert "$pki/ca.pem" -p "$tport" -n 2000 -c 4 -P 16 \
	-t ping,set,get -q > "$tmp/bench" 2>&1 || fail "redis-benchmark --tls: $(tail -3 "$tmp/bench")"
[ "$(grep -c 'requests per second' "$tmp/bench")" -ge 4 ] || fail "redis-benchmark --tls: $(cat "$tmp/bench")"
timeout 120 redis-benchmark --tls --cacert "$pki/ca.pem" -p "$tport" -n 1000 -c 10 -t set,get -q \
	> "$tmp/bench" 2>&1 || fail "redis-benchmark --tls -c 10: $(tail -3 "$tmp/bench")"
[ "$(grep -c 'requests per second' "$tmp/bench")" = 2 ] || fail "redis-benchmark --tls -c 10: $(cat "$tmp/bench")"
"$bin/urt-load" --port "$tport" --tls --tls-ca "$pki/ca.pem" --mode resp --size 200 --conns 4 \
	--depth 32 --requests 20000 --duration 60 > "$tmp/load.out" 2> "$tmp/load.err" ||
	fail "urt-load --tls: $(cat "$tmp/load.out" "$tmp/load.err")"
[ "$(field errors < "$tmp/load.out")" = 0 ] || fail "urt-load --tls: $(cat "$tmp/load.out")"
printf 'PING\r\nSET k v1\r\nGET k\r\nQUIT\r\n' |
	timeout 10 openssl s_client -connect "127.0.0.1:$tport" -CAfile "$pki/ca.pem" \
		-verify_return_error -ign_eof -state > "$tmp/sc.out" 2>&1 || true
# the replies, without the server's certificate s_client prints (a base64
# line of it may begin with '+' or 'v1')
sed -i '/BEGIN CERTIFICATE/,/END CERTIFICATE/d' "$tmp/sc.out"
[ "$(grep -a -e '^+' -e '^\$' -e '^v1' "$tmp/sc.out" | tr -d '\r' | tr '\n' ' ')" = '+PONG +OK $2 v1 +OK ' ] ||
	fail "inline pipeline over TLS: $(grep -a -e '^+' -e '^\$' -e '^-' "$tmp/sc.out")"
grep -q "SSL3 alert read:warning:close notify" "$tmp/sc.out" || fail "QUIT: no close_notify"
for v in 1_2 1_3; do
	echo PING | timeout 10 openssl s_client -connect "127.0.0.1:$tport" -CAfile "$pki/ca.pem" \
		-verify_return_error -tls$v -ign_eof > "$tmp/sc.out" 2>&1 || true
	grep -q "Protocol  : TLSv${v/_/.}" "$tmp/sc.out" && grep -a -q '^+PONG' "$tmp/sc.out" ||
		fail "-tls$v: $(grep -a -m3 -i -e protocol -e error "$tmp/sc.out")"
done

step "deadlines over TLS: a silent client (--tls-handshake-ms), an idle one (--idle-ms), a non-reader (--send-ms)"
fails=$(stat_of "$tmp/k.out" tls_handshake_fail)
silent_closed
[ "$(stat_of "$tmp/k.out" tls_handshake_fail)" = $((fails + 1)) ] || fail "tls_handshake_fail did not count it"
idle=$(stat_of "$tmp/k.out" closed_idle)
idle_closed
[ "$(stat_of "$tmp/k.out" closed_idle)" = $((idle + 1)) ] || fail "closed_idle did not count it"
# 200 GETs of the 200 KB value, and the replies never read (s_client writes
# into a pipe nobody reads): closed --send-ms after they stop moving
for _ in $(seq 200); do printf 'GET big\r\n'; done > "$tmp/gets"
stall_start "$tmp/gets"
wait_stat "$tmp/k.out" closed_send 1 10
wait_stat "$tmp/k.out" live 0 5
stall_end

step "stats: tls_conns, tls_handshake_fail, tls_heap_calls; SIGTERM exits 0 with them"
stats_stop "$tmp/k.out"

step "--tls-auth-clients yes: a client certificate is required and verified"
start urt-kv "$tmp/a.out" --tls-port 0 "${files[@]}" --tls-ca-cert-file "$pki/ca.pem" --tls-auth-clients yes
tport=$(tls_port_of "$tmp/a.out")
[ "$(tcli --cert "$pki/client.pem" --key "$pki/client.key" PING)" = PONG ] || fail "a client certificate refused"
set +e
tcli PING > "$tmp/nocert" 2>&1
tcli --cert "$pki/bad.pem" --key "$pki/bad.key" PING > "$tmp/badcert" 2>&1
set -e
! grep -q PONG "$tmp/nocert" || fail "answered a client without a certificate"
! grep -q PONG "$tmp/badcert" || fail "answered a client whose certificate the root does not verify"
[ "$(stat_of "$tmp/a.out" tls_handshake_fail)" -ge 2 ] || fail "refused clients not counted"
stop

step "--tls-auth-clients optional: a certificate is asked for, verified if sent, not required"
start urt-kv "$tmp/o.out" --tls-port 0 "${files[@]}" --tls-ca-cert-file "$pki/ca.pem" --tls-auth-clients optional
tport=$(tls_port_of "$tmp/o.out")
[ "$(tcli PING)" = PONG ] || fail "optional: a client without a certificate refused"
[ "$(tcli --cert "$pki/client.pem" --key "$pki/client.key" PING)" = PONG ] || fail "optional: a client certificate refused"
set +e
tcli --cert "$pki/bad.pem" --key "$pki/bad.key" PING > "$tmp/badopt" 2>&1
set -e
! grep -q PONG "$tmp/badopt" || fail "optional: answered a client whose certificate the root does not verify"
stop

step "--max-clients-mem counts TLS state: a second idle TLS connection closes the first"
start urt-kv "$tmp/m.out" --tls-port 0 "${files[@]}" --max-clients-mem 102400
tport=$(tls_port_of "$tmp/m.out")
budget_closes "$tmp/m.out" clients_mem closed_mem
stop
step "ok"
