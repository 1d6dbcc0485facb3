#!/usr/bin/env bash
# run.sh BINDIR RAWREQ [TABLE] - urt-http against the conformance table
# (cases.txt beside this script): start urt-http on --port 0 with --root on
# a small tree made here, send each case's request on a fresh connection
# with RAWREQ (rawreq.c), check the first answer's status and headers.
# Prints PASS / FAIL / XFAIL (a known defect, listed in the table with its
# reason) / XPASS (a known defect now fixed: remove its mark) per case, then
# "N passed, N failed, N xfail"; exits non-zero on a FAIL or an XPASS.
#
# With CONFORMANCE_PORT set, no urt-http is started: the cases go to the
# server already listening on 127.0.0.1:$CONFORMANCE_PORT (BINDIR unused;
# peers.sh uses this for nginx and h2o). With CONFORMANCE_RESULTS=FILE, a
# line "CASE|STATUS|WHY" per case goes to FILE, WHY empty when it passes.
# CONFORMANCE_ARGS: more flags for the urt-http it starts (--fixed-fds).
#
# A table line: AREA|STATUS|CHECKS|REQUEST|RFC SECTION|XFAIL REASON
#   STATUS   the first answer's status; "a,b" where the RFC allows either
#   CHECKS   ';'-separated, on the first answer's head:
#            Name (present)  !Name (absent)  Name=V (equal)  Name~V (contains)
#            Name^V (begins with)  line~V (status line contains)
#            n=N (answers seen)  2nd=S (second answer's status)
#            body=N (bytes after the first head, for a lone answer)
#            wait=MS (keep the write side open; stop after MS without a byte)
#   REQUEST  C escapes (rawreq decodes them); @R<N>:<c>@ is c N times;
#            @ETAG@ is the ETag urt-http gives /a.txt (or "none")
set -euo pipefail
export LC_ALL=C # lengths in bytes
bin=${1:?usage: run.sh BINDIR RAWREQ [TABLE]}
rawreq=${2:?usage: run.sh BINDIR RAWREQ [TABLE]}
table=${3:-$(dirname "$0")/cases.txt}
name=http-conformance
# shellcheck source=scripts/test-lib.sh
. "$(dirname "$0")/../../scripts/test-lib.sh"

# shellcheck source=tests/http-conformance/fixture.sh
. "$(dirname "$0")/fixture.sh"
if [ -n "${CONFORMANCE_PORT:-}" ]; then
	port=$CONFORMANCE_PORT srv=
else
	conformance_root "$tmp/root"
	# shellcheck disable=SC2086 # flags, split on purpose
	start urt-http "$tmp/out" --root "$tmp/root" ${CONFORMANCE_ARGS:-}
fi
results=${CONFORMANCE_RESULTS:-/dev/null}

# the ETag of /a.txt, for @ETAG@
etag=$("$rawreq" "$port" 'HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n' | tr -d '\r' |
	sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | head -1)
[ -n "$etag" ] || etag='"none"'

expand() {
	local s=$1 n c pad
	s=${s//@ETAG@/$etag}
	while [[ $s =~ @R([0-9]+):(.)@ ]]; do
		n=${BASH_REMATCH[1]} c=${BASH_REMATCH[2]}
		printf -v pad '%*s' "$n" ''
		s=${s/"${BASH_REMATCH[0]}"/${pad// /$c}}
	done
	printf '%s' "$s"
}

# hdr NAME: the first answer's value of NAME (head in $h)
hdr() { awk -v k="$1" 'BEGIN{k=tolower(k)} {i=index($0,":"); if (i && tolower(substr($0,1,i-1))==k) {v=substr($0,i+1); sub(/^[ \t]+/,"",v); sub(/[ \t]+$/,"",v); print v; exit}}' <<< "$h"; }
has() { awk -v k="$1" 'BEGIN{k=tolower(k); r=1} {i=index($0,":"); if (i && tolower(substr($0,1,i-1))==k) r=0} END{exit r}' <<< "$h"; }

# check CHECKS: why the answer in $resp fails them (empty: it passes)
check() {
	local want=$1 checks=$2 t k v st
	st=$(sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' <<< "$resp")
	[[ ",$want," == *",$st,"* ]] || { echo "status '$st', want $want"; return; }
	IFS=';' read -ra toks <<< "$checks"
	for t in "${toks[@]}"; do
		[ -n "$t" ] || continue
		case $t in
		wait=*) ;;
		# a status line may follow a body with no newline at its end
		# (h2o's "not found"): counted where it is, not at line starts
		n=*) v=$(grep -ao 'HTTP/1\.[01] [0-9][0-9][0-9]' <<< "$resp" | wc -l || true)
			[ "$v" = "${t#n=}" ] || { echo "$v answers, want ${t#n=}"; return; } ;;
		2nd=*) v=$(grep -ao 'HTTP/1\.[01] [0-9][0-9][0-9]' <<< "$resp" | sed -n '2s/^[^ ]* //p' || true)
			[[ ",${t#2nd=}," == *",$v,"* ]] || { echo "second answer '$v', want ${t#2nd=}"; return; } ;;
		body=*) [ "$body" = "${t#body=}" ] || { echo "body $body bytes, want ${t#body=}"; return; } ;;
		line~*) [[ $(head -1 <<< "$resp") == *"${t#line~}"* ]] || { echo "status line '$(head -1 <<< "$resp")'"; return; } ;;
		!*) has "${t#!}" && { echo "has ${t#!}: $(hdr "${t#!}")"; return; } ;;
		*=*) k=${t%%=*} v=$(expand "${t#*=}")
			[ "$(hdr "$k")" = "$v" ] || { echo "$k '$(hdr "$k")', want '$v'"; return; } ;;
		*~*) k=${t%%~*} v=$(expand "${t#*~}")
			[[ $(hdr "$k") == *"$v"* ]] || { echo "$k '$(hdr "$k")', want ~'$v'"; return; } ;;
		*^*) k=${t%%^*} v=$(expand "${t#*^}")
			[[ $(hdr "$k") == "$v"* ]] || { echo "$k '$(hdr "$k")', want ^'$v'"; return; } ;;
		*) has "$t" || { echo "no $t"; return; } ;;
		esac
	done
	return 0
}

pass=0 failed=0 xfail=0 no=0
while IFS='|' read -r area want checks req ref why; do
	[[ -z $area || $area == \#* ]] && continue
	no=$((no + 1))
	wait=
	[[ ";$checks;" =~ \;wait=([0-9]+)\; ]] && wait=${BASH_REMATCH[1]}
	"$rawreq" "$port" "$(expand "$req")" $wait > "$tmp/resp" || true
	# bytes counted as bytes; the x keeps trailing newlines
	raw=$(cat "$tmp/resp"; echo x) raw=${raw%x}
	hd=${raw%%$'\r\n\r\n'*}
	body=$((${#raw} - ${#hd} - 4))
	[ "$hd" = "$raw" ] && body=0
	resp=$(tr -d '\r' < "$tmp/resp")
	h=$(sed '/^$/q' <<< "$resp" | tail -n +2)
	bad=$(check "$want" "$checks")
	st=$(sed -n '1s/^HTTP\/[0-9.]* \([0-9]*\).*/\1/p' <<< "$resp")
	printf '%s|%s|%s\n' "$no" "${st:--}" "${bad//|//}" >> "$results"
	label="$no $area [$ref] ${req:0:70}"
	if [ -z "$bad" ] && [ -z "$why" ]; then
		pass=$((pass + 1)); echo "PASS  $label"
	elif [ -z "$bad" ]; then
		failed=$((failed + 1)); echo "XPASS $label (fixed: drop the XFAIL '$why')"
	elif [ -n "$why" ]; then
		xfail=$((xfail + 1)); echo "XFAIL $label: $bad ($why)"
	else
		failed=$((failed + 1)); echo "FAIL  $label: $bad"
	fi
	[ -z "$srv" ] || kill -0 "$srv" 2>/dev/null || fail "urt-http died at case $no: $(tail -5 "$tmp/out.err")"
done < "$table"
echo "$pass passed, $failed failed, $xfail xfail (known defects)"
if [ -n "$srv" ]; then stop; else echo "(server on port $port left running)"; fi
[ "$failed" = 0 ]
