#!/usr/bin/env bash
# test-tls-flood.sh BINDIR - the resource TLS connections share: a crowd of
# clients that begin a handshake and never end it (half a ClientHello each,
# one send apiece) must not take the server from the clients it serves,
# nor hold more of OpenSSL's heap than --max-clients-mem allows. Every wait
# is bounded; any failure exits non-zero saying what.
set -euo pipefail
bin=${1:?usage: test-tls-flood.sh BINDIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
name=test-tls-flood
# shellcheck source=scripts/test-lib.sh
. "$src/scripts/test-lib.sh"
for prog in curl openssl; do
	command -v $prog >/dev/null || { echo "$name: $prog missing (scripts/deps.sh): skipped"; exit 77; }
done
# shellcheck source=tests/tls/lib.sh
. "$src/tests/tls/lib.sh"
hc() { curl -s --max-time 10 --cacert "$pki/ca.pem" --resolve "localhost:$tport:127.0.0.1" "$@"; }

# half_hellos N: N connections to $tport that each send the first 111 bytes
# of a 516-byte ClientHello record and wait (fds kept open in half_fds)
half_fds=()
half_hellos() {
	local fd
	for _ in $(seq "$1"); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$tport"
		printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' >&$fd
		head -c 100 /dev/zero >&$fd
		half_fds+=("$fd")
	done
}
half_close() { for fd in "${half_fds[@]}"; do exec {fd}>&-; done; half_fds=(); }

root=$tmp/www
mkdir -p "$root"
printf '<h1>hi</h1>\n' > "$root/index.html"
budget=1048576

step "urt-http: 40 half handshakes under a 1 MiB --max-clients-mem; HTTPS still served"
start urt-http "$tmp/h.out" --root "$root" --tls-port 0 --tls-cert "$pki/server.pem" \
	--tls-key "$pki/server.key" --tls-handshake-ms 30000 --max-clients-mem $budget
tport=$(tls_port_of "$tmp/h.out")
half_hellos 40
wait_ge "$tmp/h.out" evicted 1 10 # the budget is reached by the crowd alone
for i in 1 2 3 4 5; do
	got=$(hc -o /dev/null -w '%{http_code}' "https://localhost:$tport/index.html" || true)
	[ "$got" = 200 ] || fail "HTTPS request $i under the flood: '$got', want 200: $(stats_line "$tmp/h.out")"
done
heap=$(stat_of "$tmp/h.out" tls_heap_bytes)
# the context's own (about 350 KB) beside what the connections may hold
((heap <= budget + 512 * 1024)) || fail "OpenSSL holds $heap bytes under a $budget budget"
half_close
stop

step "urt-kv: the same crowd under a 1 MiB --max-clients-mem is shed; RESP over TLS still served"
if command -v redis-cli > /dev/null; then
	start urt-kv "$tmp/k.out" --tls-port 0 --tls-cert-file "$pki/server.pem" \
		--tls-key-file "$pki/server.key" --tls-handshake-ms 30000 --max-clients-mem $budget
	tport=$(tls_port_of "$tmp/k.out")
	half_hellos 40
	wait_ge "$tmp/k.out" closed_mem 1 10
	for i in 1 2 3; do
		got=$(timeout 10 redis-cli --tls --cacert "$pki/ca.pem" --sni localhost -p "$tport" \
			set k$i v 2>&1 || true)
		[ "$got" = OK ] || fail "SET $i under the flood: '$got': $(stats_line "$tmp/k.out")"
	done
	heap=$(stat_of "$tmp/k.out" tls_heap_bytes)
	((heap <= budget + 512 * 1024)) || fail "OpenSSL holds $heap bytes under a $budget budget"
	half_close
	stop
else
	step "redis-cli missing (scripts/deps.sh): urt-kv's part skipped"
fi
echo "$name: ok"
