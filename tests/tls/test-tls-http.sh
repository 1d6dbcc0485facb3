#!/usr/bin/env bash
# test-tls-http.sh BINDIR - urt-http over TLS as a user runs it: curl and
# openssl s_client against --tls-port (and --tls-cert alone: HTTPS on
# --port), urt-load --tls, every bound and deadline on the TLS path (a
# CTest entry when liburt_tls is built; under ASan in the asan preset).
# The PKI is made by scripts/tls-certs.sh in the scratch folder. Every wait
# is bounded; any failure exits non-zero saying what.
set -euo pipefail
bin=${1:?usage: test-tls-http.sh BINDIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
name=test-tls-http
# shellcheck source=scripts/test-lib.sh
. "$src/scripts/test-lib.sh"
for prog in curl openssl; do
	command -v $prog >/dev/null || { echo "$name: $prog missing (scripts/deps.sh): skipped"; exit 77; }
done
features=$(curl -V) # (not `| grep -q`: pipefail would see curl's SIGPIPE)
[[ $features == *"Protocols:"*" https"* ]] || { echo "$name: curl without https: skipped"; exit 77; }

# shellcheck source=tests/tls/lib.sh
. "$src/tests/tls/lib.sh"
# hc ARGS...: curl over HTTPS to the server at $tport, verified by the test root
hc() { curl -s --max-time 20 --cacert "$pki/ca.pem" --resolve "localhost:$tport:127.0.0.1" "$@"; }
# sc ARGS...: openssl s_client to $tport, verifying (a failed check fails the handshake)
sc() {
	timeout 10 openssl s_client -connect "127.0.0.1:$tport" -servername localhost \
		-CAfile "$pki/ca.pem" -verify_return_error "$@" 2>&1 || true
}
close_req() { printf 'GET /%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$1"; }

step "bad TLS flags and files: exit 2 with one line saying what"
expect_bad_flags urt-http "--tls-cert $pki/server.pem" "--tls-key $pki/server.key" \
	"--tls-port 0" "--tls-handshake-ms 0" "--tls-port 70000 --tls-cert a --tls-key b"
bad_start() { # bad_start WANT ARGS...: urt-http exits 2 at start, saying WANT on stderr
	local want=$1 rc
	shift
	set +e
	timeout 10 "$bin/urt-http" --port 0 "$@" > "$tmp/bad.out" 2> "$tmp/bad.err"
	rc=$?
	set -e
	[ $rc = 2 ] || fail "urt-http $* exited $rc, want 2"
	grep -q -- "$want" "$tmp/bad.err" || fail "urt-http $*: '$(cat "$tmp/bad.err")' does not say '$want'"
	[ "$(wc -l < "$tmp/bad.err")" = 1 ] || fail "urt-http $*: more than one line"
	! grep -q listening "$tmp/bad.out" || fail "urt-http $* listened"
}
bad_start "--tls-cert $tmp/nope.pem: No such file or directory" \
	--tls-cert "$tmp/nope.pem" --tls-key "$pki/server.key"
bad_start "--tls-key $tmp/nope.key: No such file or directory" \
	--tls-cert "$pki/server.pem" --tls-key "$tmp/nope.key"
echo "not a certificate" > "$tmp/junk.pem"
bad_start "Bad message" --tls-cert "$tmp/junk.pem" --tls-key "$pki/server.key"
bad_start "Bad message" --tls-cert "$pki/server.pem" --tls-key "$pki/rsa.key" # not its key

# a tree to serve
root=$tmp/www
mkdir -p "$root/sub"
printf '<h1>hi</h1>\n' > "$root/index.html"
printf 'body{}\n' > "$root/sub/a.css"
head -c 300000 /dev/urandom > "$root/big.bin"
large=$((1048576 + 123))
head -c "$large" /dev/urandom > "$root/large.bin"
huge=$((16 << 20)) # more than the socket buffers hold: a write waits for the reader
head -c "$huge" /dev/urandom > "$root/huge.bin"

start urt-http "$tmp/h.out" --root "$root" --tls-port 0 --tls-cert "$pki/server.pem" \
	--tls-key "$pki/server.key" --idle-ms 1500 --send-ms 1000 --tls-handshake-ms 500
tport=$(tls_port_of "$tmp/h.out")
[ -n "$tport" ] && [ "$tport" != "$port" ] || fail "no 'tls listening on' line of its own: $(cat "$tmp/h.out")"
url=https://localhost:$tport

step "curl over HTTPS: GET bytes exact (small, read-and-write bodies), HEAD, Range, 404"
hc -o "$tmp/got" "$url/big.bin" && cmp -s "$tmp/got" "$root/big.bin" || fail "big.bin not byte-exact over TLS"
hc -o "$tmp/got" "$url/large.bin" && cmp -s "$tmp/got" "$root/large.bin" || fail "large.bin not byte-exact over TLS"
[ "$(hc "$url/")" = "<h1>hi</h1>" ] || fail "/ over TLS"
h=$(hc -I "$url/large.bin")
echo "$h" | grep -qi "^Content-Length: $large" || fail "HEAD length: $h"
[ "$(hc -I "$url/large.bin" -w '%{size_download}' -o /dev/null)" = 0 ] || fail "HEAD sent a body"
[ "$(hc -o "$tmp/part" -w '%{http_code}' -r 1000-1999 "$url/big.bin")" = 206 ] || fail "Range: not 206"
dd if="$root/big.bin" of="$tmp/want" bs=1000 skip=1 count=1 2>/dev/null
cmp -s "$tmp/part" "$tmp/want" || fail "Range bytes over TLS"
hc -o "$tmp/part" -r 100001-700000 "$url/large.bin"
[ "$(stat -c %s "$tmp/part")" = 600000 ] && cmp -s -i 100001:0 -n 600000 "$root/large.bin" "$tmp/part" ||
	fail "a large Range over TLS"
[ "$(hc -o /dev/null -w '%{http_code}' "$url/nope")" = 404 ] || fail "404 over TLS"

step "keep-alive: two URLs in one curl share one TLS connection, ALPN http/1.1"
hc -v -o "$tmp/got" -o "$tmp/got2" -w '%{num_connects}\n' "$url/big.bin" "$url/sub/a.css" \
	> "$tmp/nc" 2> "$tmp/curl.err"
cmp -s "$tmp/got" "$root/big.bin" && cmp -s "$tmp/got2" "$root/sub/a.css" || fail "keep-alive bytes"
[ "$(tr '\n' ' ' < "$tmp/nc")" = "1 0 " ] || fail "keep-alive: connections made $(tr '\n' ' ' < "$tmp/nc")"
grep -q "ALPN: server accepted http/1.1" "$tmp/curl.err" || fail "curl: ALPN http/1.1 not accepted"

step "the plain port serves HTTP beside it; a wrong root fails verification"
[ "$(curl -s --max-time 10 "http://127.0.0.1:$port/")" = "<h1>hi</h1>" ] || fail "plain HTTP on --port"
set +e
curl -s --max-time 10 --cacert "$pki/other-ca.pem" --resolve "localhost:$tport:127.0.0.1" \
	-o /dev/null "$url/"
rc=$?
set -e
[ $rc = 60 ] || fail "curl with an unrelated root: exit $rc, want 60 (certificate not verified)"

step "pipelining over TLS: three requests in one write, answered in order"
{ printf 'GET /sub/a.css HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\n'
  close_req sub/a.css; } > "$tmp/pipe.req"
sc -quiet < "$tmp/pipe.req" > "$tmp/pipe.out"
[ "$(grep -a -c '^HTTP/1.1 200' "$tmp/pipe.out")" = 3 ] || fail "pipelined: $(grep -a '^HTTP' "$tmp/pipe.out")"
[ "$(grep -a -e '^body{}' -e '^<h1>hi' "$tmp/pipe.out" | tr '\n' ' ')" = "body{} <h1>hi</h1> body{} " ] ||
	fail "pipelined bodies out of order"
"$bin/urt-load" --port "$tport" --tls --tls-ca "$pki/ca.pem" --mode http --path /big.bin \
	--expect-file "$root/big.bin" --conns 4 --depth 8 --requests 400 --duration 30 \
	> "$tmp/load.out" 2> "$tmp/load.err" || fail "urt-load --tls: $(cat "$tmp/load.out" "$tmp/load.err")"
[ "$(field errors < "$tmp/load.out")" = 0 ] || fail "urt-load --tls: $(cat "$tmp/load.out")"

step "openssl s_client: TLS 1.2 and 1.3, ALPN, resumption, close_notify"
close_req index.html > "$tmp/one.req"
for v in 1_2 1_3; do
	sc -tls$v -ign_eof -sess_out "$tmp/sess$v" < "$tmp/one.req" > "$tmp/sc.out"
	grep -q "Protocol  : TLSv${v/_/.}" "$tmp/sc.out" || fail "-tls$v: $(grep -a -m3 -i -e protocol -e error "$tmp/sc.out")"
	grep -q "^New, TLSv${v/_/.}" "$tmp/sc.out" || fail "-tls$v: not a new session"
	grep -q "Verify return code: 0 (ok)" "$tmp/sc.out" || fail "-tls$v: verification"
	grep -a -q '^HTTP/1.1 200' "$tmp/sc.out" || fail "-tls$v: no answer"
	sc -tls$v -ign_eof -sess_in "$tmp/sess$v" < "$tmp/one.req" > "$tmp/sc.out"
	grep -q "^Reused, TLSv${v/_/.}" "$tmp/sc.out" || fail "-tls$v: the session was not resumed"
done
sc -alpn http/1.1 -ign_eof < "$tmp/one.req" > "$tmp/sc.out"
grep -q "^ALPN protocol: http/1.1" "$tmp/sc.out" || fail "-alpn http/1.1 not selected"
sc -alpn h2 -ign_eof < "$tmp/one.req" > "$tmp/sc.out"
grep -q "no application protocol" "$tmp/sc.out" || fail "-alpn h2 alone: not refused"
# Connection: close: the answer, then the server's close_notify
sc -state -ign_eof < "$tmp/one.req" > "$tmp/sc.out"
grep -a -q '^HTTP/1.1 200' "$tmp/sc.out" || fail "close_notify: no answer"
grep -q "SSL3 alert read:warning:close notify" "$tmp/sc.out" || fail "no close_notify from the server"

step "deadlines over TLS: handshake (--tls-handshake-ms), idle (--idle-ms), a non-reader (--send-ms)"
fails=$(stat_of "$tmp/h.out" tls_handshake_fail)
silent_closed
exec 3<>"/dev/tcp/127.0.0.1/$tport" # speaks plain HTTP to the TLS port
# in a subshell: on a loaded host the handshake deadline (500 ms) can close
# (reset) the connection before the write, and its SIGPIPE must not kill
# the script; the checks below hold either way
(printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' >&3) 2> /dev/null || true
# closed either way: an EOF, or a reset when the server closes with the
# request unread (cat then fails with ECONNRESET); only timeout's 124 means
# the connection stayed open
rc=0
timeout 5 cat <&3 > "$tmp/plain" 2> /dev/null || rc=$?
[ "$rc" != 124 ] || fail "plain HTTP on the TLS port: not closed"
exec 3>&-
! grep -a -q HTTP "$tmp/plain" || fail "plain HTTP on the TLS port was answered"
[ "$(stat_of "$tmp/h.out" tls_handshake_fail)" = $((fails + 2)) ] || fail "tls_handshake_fail did not count both"
expired=$(stat_of "$tmp/h.out" expired)
idle_closed
[ "$(stat_of "$tmp/h.out" expired)" -gt "$expired" ] || fail "the idle TLS connection is not counted expired"
# a client that asks for 16 MiB and stops reading (s_client writes into a
# pipe nobody reads): closed --send-ms after its answer stops moving
close_req huge.bin > "$tmp/huge.req"
stall_start "$tmp/huge.req"
# its TLS state and the out-buffer of the write under way are counted
wait_ge "$tmp/h.out" conn_mem $((32 * 1024 + 33792)) 5
wait_stat "$tmp/h.out" live 0 10
[ "$(stat_of "$tmp/h.out" conn_mem)" = 0 ] || fail "conn_mem not back to 0"
stall_end

step "stats: tls_conns, tls_handshake_fail, tls_heap_calls; SIGTERM exits 0 with them"
stats_stop "$tmp/h.out"

step "--max-clients-mem counts TLS state: a second idle TLS connection evicts the first"
start urt-http "$tmp/m.out" --root "$root" --tls-port 0 --tls-cert "$pki/server.pem" \
	--tls-key "$pki/server.key" --max-clients-mem 102400
tport=$(tls_port_of "$tmp/m.out")
budget_closes "$tmp/m.out" conn_mem evicted
stop

step "--tls-cert alone: HTTPS on --port; --threads 2 share one context"
start urt-http "$tmp/o.out" --root "$root" --tls-cert "$pki/server.pem" --tls-key "$pki/server.key" \
	--threads 2
tport=$(tls_port_of "$tmp/o.out")
[ "$tport" = "$port" ] || fail "TLS on $tport, not on --port $port"
hc -o "$tmp/got" "https://localhost:$port/big.bin" && cmp -s "$tmp/got" "$root/big.bin" ||
	fail "HTTPS on --port"
"$bin/urt-load" --port "$tport" --tls --tls-ca "$pki/ca.pem" --mode http --path /sub/a.css \
	--expect-file "$root/sub/a.css" --conns 16 --depth 4 --requests 2000 --duration 30 \
	> "$tmp/load.out" 2> "$tmp/load.err" || fail "urt-load --tls, 2 threads: $(cat "$tmp/load.out" "$tmp/load.err")"
[ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 000 ] ||
	fail "plain HTTP answered on a TLS-only port"
stop
grep -q '^exit: connections [1-9].* per_thread [1-9][0-9]*,[1-9]' "$tmp/o.out" ||
	fail "both runtimes did not serve TLS: $(tail -1 "$tmp/o.out")"
step "ok"
