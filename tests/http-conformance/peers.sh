#!/usr/bin/env bash
# peers.sh BINDIR RAWREQ [TABLE] - the conformance table (cases.txt) against
# urt-http, nginx and h2o side by side. Not run by CI (CTest does not know
# it): a report of where urt-http agrees with two widely used servers, for
# docs/http-peers.md. Needs nginx (NGINX, default /usr/sbin/nginx) and h2o
# (H2O, default /usr/bin/h2o): `apt-get install -y h2o nginx-light`.
#
# All three serve one tree, made by fixture.sh (the one run.sh makes), on
# 127.0.0.1: urt-http on --port 0, nginx and h2o on free ports, each from a
# config written here with settings as close to urt-http's defaults as the
# server allows (ETag on, keep-alive, no compression, index.html and no
# directory listing, 8 KiB heads, 1 MiB bodies, 10 s head and 30 s idle
# deadlines). run.sh then runs every case against each (CONFORMANCE_PORT),
# and the answers are joined into one markdown table:
#   case | id | area | RFC § | expected | urt-http | nginx | h2o | verdict
# A server's cell is the first answer's status, with " ✗" when the answer
# fails the case's checks (status or headers; "-" is no answer at all).
# The verdict says who answers alike ("all agree", "urt = nginx, h2o
# differs", "urt differs from both"; alike = same status and same pass or
# fail) and who meets the RFC. A case where urt-http differs from both
# should have a note in peers-notes.txt under its id: the first six hex
# digits of the CRC of the case's "area|status|checks|request", so ids do
# not move when cases are added. Unannotated ones are listed at the end.
#
# Exits 0 whatever the servers answer (this is a report); non-zero only when
# a server cannot be set up or a run does not cover the table.
set -euo pipefail
export LC_ALL=C
usage='usage: peers.sh BINDIR RAWREQ [TABLE]'
bin=${1:?$usage}
rawreq=${2:?$usage}
here=$(cd "$(dirname "$0")" && pwd)
table=${3:-$here/cases.txt}
notes=$here/peers-notes.txt
nginx=${NGINX:-/usr/sbin/nginx}
h2o=${H2O:-/usr/bin/h2o}
name=http-peers
# shellcheck source=scripts/test-lib.sh
. "$here/../../scripts/test-lib.sh"
# shellcheck source=tests/http-conformance/fixture.sh
. "$here/fixture.sh"

[ -x "$nginx" ] || fail "no nginx at $nginx (apt-get install -y nginx-light)"
[ -x "$h2o" ] || fail "no h2o at $h2o (apt-get install -y h2o)"
# nginx's and h2o's workers may drop to an unprivileged user: let them read
chmod 755 "$tmp"
root=$tmp/root
conformance_root "$root"

# a TCP port on 127.0.0.1 nothing listens on now (a race with other
# programs is caught by the server failing to start: peer_start retries)
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		grep -q . < <(ss -Htln "sport = :$p") || { echo "$p"; return; }
	done
	fail "no free port found"
}

nginx_conf() { # PORT DIR
	cat <<-EOF
	daemon off;
	master_process off;
	worker_processes 1;
	user root;
	pid $2/nginx.pid;
	error_log $2/error.log;
	events { worker_connections 256; }
	http {
		include /etc/nginx/mime.types;
		default_type application/octet-stream;
		access_log off;
		client_body_temp_path $2/body;
		server_tokens off;
		sendfile on;
		gzip off;
		etag on;
		autoindex off;
		index index.html;
		keepalive_timeout 30s;
		client_header_timeout 10s;
		client_body_timeout 10s;
		send_timeout 30s;
		large_client_header_buffers 4 8k;
		client_max_body_size 1m;
		# urt-http's openat2(RESOLVE_BENEATH) refuses symlinks out of the
		# root; the nearest nginx has refuses symlinks below the root
		disable_symlinks on from=\$document_root;
		server {
			listen 127.0.0.1:$1;
			root $root;
		}
	}
	EOF
}

h2o_conf() { # PORT DIR
	cat <<-EOF
	user: root
	num-threads: 1
	pid-file: $2/h2o.pid
	error-log: $2/error.log
	listen:
	  host: 127.0.0.1
	  port: $1
	http1-request-timeout: 10
	limit-request-body: 1048576
	compress: OFF
	hosts:
	  default:
	    paths:
	      /:
	        file.dir: $root
	        file.index: [ 'index.html' ]
	        file.dirlisting: OFF
	        file.etag: ON
	        file.send-compressed: OFF
	EOF
}

# peer_start NAME: write NAME's config on a free port, start it, wait until
# it accepts; sets peer_pid and peer_port
peer_start() {
	local nm=$1 dir=$tmp/$1 try
	mkdir -p "$dir"
	for try in 1 2 3 4 5; do
		peer_port=$(free_port)
		case $nm in
		nginx) nginx_conf "$peer_port" "$dir" > "$dir/conf"
			"$nginx" -p "$dir" -e "$dir/error.log" -c "$dir/conf" > "$dir/out" 2>&1 & ;;
		h2o) h2o_conf "$peer_port" "$dir" > "$dir/conf"
			"$h2o" -c "$dir/conf" > "$dir/out" 2>&1 & ;;
		esac
		peer_pid=$!
		pids+=("$peer_pid")
		for _ in $(seq 100); do
			kill -0 "$peer_pid" 2>/dev/null || break
			if (exec 3<> "/dev/tcp/127.0.0.1/$peer_port") 2>/dev/null; then
				return 0
			fi
			sleep 0.05
		done
		kill -9 "$peer_pid" 2>/dev/null || true
		wait "$peer_pid" 2>/dev/null || true
		echo "$name: $nm did not start on port $peer_port (try $try): $(tail -3 "$dir/out" "$dir/error.log" 2>/dev/null | tr '\n' ' ')" >&2
	done
	fail "$nm would not start"
}

start urt-http "$tmp/urt.out" --root "$root"
urt_pid=$srv urt_port=$port
peer_start nginx
nginx_pid=$peer_pid nginx_port=$peer_port
peer_start h2o
h2o_pid=$peer_pid h2o_port=$peer_port

# the three runs at once: separate servers, and most of a run is waiting
for s in urt nginx h2o; do
	p=${s}_port
	CONFORMANCE_PORT=${!p} CONFORMANCE_RESULTS=$tmp/$s.res \
		"$here/run.sh" - "$rawreq" "$table" > "$tmp/$s.log" 2>&1 &
	eval "${s}_run=\$!"
done
# shellcheck disable=SC2154 # set by the eval above
for r in "$urt_run" "$nginx_run" "$h2o_run"; do wait "$r" || true; done

cases=$(grep -cv '^\(#\|$\)' "$table" || true)
for s in urt nginx h2o; do
	[ -s "$tmp/$s.res" ] && [ "$(wc -l < "$tmp/$s.res")" = "$cases" ] ||
		fail "the $s run covered $(wc -l < "$tmp/$s.res" 2>/dev/null || echo 0) of $cases cases: $(tail -3 "$tmp/$s.log")"
done
alive=
for s in urt nginx h2o; do
	p=${s}_pid
	kill -0 "${!p}" 2>/dev/null || alive="$alive $s(died)"
done

# cell ST WHY: a server's cell
cell() { if [ -z "$2" ]; then echo "$1"; else echo "$1 ✗"; fi; }
# case_id AREA STATUS CHECKS REQUEST: the stable id (see the top)
case_id() {
	local c
	c=$(printf '%s|%s|%s|%s' "$@" | cksum | cut -d' ' -f1)
	printf '%s-%06x' "$1" $((c & 0xffffff))
}
note_for() { [ -f "$notes" ] || return 0; awk -F'|' -v k="$1" '$1 == k { sub(/^[^|]*\|/, ""); print; exit }' "$notes"; }

exec 3< "$tmp/urt.res" 4< "$tmp/nginx.res" 5< "$tmp/h2o.res"
n_all=0 n_un=0 n_uh=0 n_both=0 n_noted=0 ok_u=0 ok_n=0 ok_h=0
u_only=0 peer_only=0
unnoted=() ids=()
echo "| case | id | area | RFC § | expected | urt-http | nginx | h2o | verdict |"
echo "|---|---|---|---|---|---|---|---|---|"
while IFS='|' read -r area want checks req ref _; do
	[[ -z $area || $area == \#* ]] && continue
	IFS='|' read -r no su wu <&3
	IFS='|' read -r _ sn wn <&4
	IFS='|' read -r _ sh wh <&5
	id=$(case_id "$area" "$want" "$checks" "$req")
	ids+=("$id")
	[ -z "$wu" ] && ok_u=$((ok_u + 1))
	[ -z "$wn" ] && ok_n=$((ok_n + 1))
	[ -z "$wh" ] && ok_h=$((ok_h + 1))
	# alike: same status, and both pass or both fail
	ku="$su/${wu:+x}" kn="$sn/${wn:+x}" kh="$sh/${wh:+x}"
	if [ "$ku" = "$kn" ] && [ "$ku" = "$kh" ]; then
		rel="all agree"; n_all=$((n_all + 1))
	elif [ "$ku" = "$kn" ]; then
		rel="urt = nginx, h2o differs"; n_un=$((n_un + 1))
	elif [ "$ku" = "$kh" ]; then
		rel="urt = h2o, nginx differs"; n_uh=$((n_uh + 1))
	else
		rel="urt differs from both"; n_both=$((n_both + 1))
	fi
	meets=
	[ -z "$wu" ] && meets="$meets, urt"
	[ -z "$wn" ] && meets="$meets, nginx"
	[ -z "$wh" ] && meets="$meets, h2o"
	meets=${meets#, }
	[ -z "$wu" ] && [ -n "$wn$wh" ] && u_only=$((u_only + 1))
	[ -n "$wu" ] && { [ -z "$wn" ] || [ -z "$wh" ]; } && peer_only=$((peer_only + 1))
	if [ "$rel" = "all agree" ] && [ -z "$wu" ]; then
		verdict="all agree"
	else
		verdict="$rel; RFC met by: ${meets:-none}"
	fi
	if [ "$rel" = "urt differs from both" ]; then
		note=$(note_for "$id")
		if [ -n "$note" ]; then
			n_noted=$((n_noted + 1)); verdict="$verdict [note]"
		else
			unnoted+=("$no $id: $req")
		fi
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$no" "$id" "$area" \
		"$ref" "$want" "$(cell "$su" "$wu")" "$(cell "$sn" "$wn")" "$(cell "$sh" "$wh")" "$verdict"
done < "$table"

echo
echo "Summary ($cases cases):"
echo "- RFC met: urt-http $ok_u, nginx $ok_n, h2o $ok_h"
echo "- all agree: $n_all; urt = nginx only: $n_un; urt = h2o only: $n_uh; urt differs from both: $n_both ($n_noted annotated)"
echo "- urt-http meets the RFC where a peer does not: $u_only; a peer meets it where urt-http does not: $peer_only"
[ -z "$alive" ] || echo "- servers that died during the runs:$alive"

echo
echo "Why each failing answer fails (run.sh's reason), for cases not all agreeing:"
exec 3< "$tmp/urt.res" 4< "$tmp/nginx.res" 5< "$tmp/h2o.res"
while IFS='|' read -r no su wu <&3; do
	IFS='|' read -r _ sn wn <&4
	IFS='|' read -r _ sh wh <&5
	[ -z "$wu$wn$wh" ] && continue
	if [ -n "$wu" ]; then echo "- $no urt-http: $wu"; fi
	if [ -n "$wn" ]; then echo "- $no nginx: $wn"; fi
	if [ -n "$wh" ]; then echo "- $no h2o: $wh"; fi
done

if [ -f "$notes" ]; then
	echo
	echo "Notes (peers-notes.txt) on cases where urt-http differs from both:"
	i=0
	while IFS='|' read -r area want checks req ref _; do
		[[ -z $area || $area == \#* ]] && continue
		i=$((i + 1))
		note=$(note_for "${ids[$((i - 1))]}")
		[ -z "$note" ] || echo "- $i ${ids[$((i - 1))]} [$ref]: $note"
	done < "$table"
	stale=$(grep -v '^\(#\|$\)' "$notes" | cut -d'|' -f1 | while read -r k; do
		[[ " ${ids[*]} " == *" $k "* ]] || echo "$k"; done || true)
	[ -z "$stale" ] || echo "- notes matching no case (stale): $stale"
fi
if [ ${#unnoted[@]} -gt 0 ]; then
	echo
	echo "urt-http differs from both, no note in peers-notes.txt yet:"
	printf -- '- %s\n' "${unnoted[@]}"
fi
echo
echo "versions: $("$nginx" -v 2>&1 | sed 's/.*: //'), $("$h2o" --version | head -1)"
for pid in "$urt_pid" "$nginx_pid" "$h2o_pid"; do
	kill -TERM "$pid" 2>/dev/null || continue
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	wait "$pid" 2>/dev/null || true
done
exit 0
