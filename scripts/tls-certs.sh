#!/usr/bin/env bash
# tls-certs.sh DIR - make a throwaway test PKI in DIR with the openssl CLI
# (nothing of it is committed; tests and benchmarks make it when they run):
#   ca.pem ca.key          a test root (ECDSA P-256)
#   server.pem server.key  "localhost" / 127.0.0.1, signed by the root (P-256)
#   rsa.pem rsa.key        the same names, RSA-2048, signed by the root
#   client.pem client.key  a client certificate (CN urt-client), signed by the root
#   other-ca.pem           an unrelated root (a chain it does not verify)
#   bad.pem bad.key        "localhost" signed by the unrelated root
#   expired.pem expired.key  "localhost" by the root, expired
# Idempotent: a DIR that has them all is left alone.
set -euo pipefail
dir=${1:?usage: tls-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
[ -s expired.pem ] && [ -s rsa.pem ] && exit 0
command -v openssl >/dev/null || { echo "tls-certs: openssl not found (scripts/deps.sh installs it)" >&2; exit 1; }
q() { "$@" 2>/dev/null >/dev/null || { echo "tls-certs: failed: $*" >&2; exit 1; }; }
ec() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
cat >ext.cnf <<'CNF'
[srv]
subjectAltName = DNS:localhost, IP:127.0.0.1
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
[cli]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
root() { # root KEY PEM CN
	ec "$1"
	q openssl req -x509 -new -key "$1" -out "$2" -days 30 -subj "/CN=$3" \
		-extensions ca -config <(printf '[req]\ndistinguished_name=dn\n[dn]\n'; cat ext.cnf)
}
leaf() { # leaf KEY PEM CN EXT CA_PEM CA_KEY DAYS_FLAGS...
	local key=$1 pem=$2 cn=$3 ext=$4 ca=$5 cakey=$6
	shift 6
	q openssl req -new -key "$key" -out "$pem.csr" -subj "/CN=$cn"
	q openssl x509 -req -in "$pem.csr" -CA "$ca" -CAkey "$cakey" -CAcreateserial \
		-out "$pem" -extfile ext.cnf -extensions "$ext" "$@"
	rm -f "$pem.csr"
}
root ca.key ca.pem "urt test root"
root other-ca.key other-ca.pem "urt unrelated root"
ec server.key
leaf server.key server.pem localhost srv ca.pem ca.key -days 30
q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
leaf rsa.key rsa.pem localhost srv ca.pem ca.key -days 30
ec client.key
leaf client.key client.pem urt-client cli ca.pem ca.key -days 30
ec bad.key
leaf bad.key bad.pem localhost srv other-ca.pem other-ca.key -days 30
ec expired.key
# not_after a day before not_before: expired from the start
leaf expired.key expired.pem localhost srv ca.pem ca.key -days -1
rm -f ext.cnf ca.srl other-ca.srl
