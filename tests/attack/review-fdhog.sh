#!/usr/bin/env bash
# review-fdhog.sh BINDIR [CONNS] [NOFILE] [--fixed-fds] - hostile review 5,
# finding 3 (urt-http): CONNS clients (default 200) each ask a different
# file of SIZE (default 16M: 1 MiB bodies now fit in loopback's socket
# buffers and end; sparse, made here) and never read, against a server under
# ulimit -n NOFILE (default 256). Each body in flight holds three plain
# descriptors (the file and its splice pipe; with --fixed-fds the socket is
# in the ring's table, those three are not), so the clients hold every
# descriptor until --send-ms (10 s here). Before the descriptor budget
# (--max-body-fds) a fresh client was not accepted, or its request for a
# file not yet open was answered 503; now the bodies stalled longest are
# closed for it. Prints the server's open descriptors, each fresh
# request's status and how long it took, and the server's live, busy
# (503s) and shed counts. By hand, not CI (the suite's is test-http's step
# "non-readers of distinct large files"); loopback, bounded (about 14 s).
set -u
bin=${1:?usage: review-fdhog.sh BINDIR [CONNS] [NOFILE] [--fixed-fds]}
conns=${2:-200} nofile=${3:-256} extra=${4:-}
tmp=$(mktemp -d)
mkdir -p "$tmp/www"
for i in $(seq 1 $((conns + 20))); do
	truncate -s "${SIZE:-16M}" "$tmp/www/f$i.bin"
done
printf 'small\n' > "$tmp/www/small.txt"
(ulimit -n "$nofile" && exec "$bin/urt-http" --port 0 --root "$tmp/www" --send-ms 10000 \
	$extra) > "$tmp/log" 2>&1 &
pid=$!
hogs=()
trap 'kill "${hogs[@]}" 2>/dev/null; kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do grep -q listening "$tmp/log" && break; sleep 0.1; done
port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$tmp/log" | head -1)
[ -n "$port" ] || { echo "urt-http did not start: $(cat "$tmp/log")"; exit 1; }
for i in $(seq 1 "$conns"); do
	(exec 3<> "/dev/tcp/127.0.0.1/$port" &&
		printf 'GET /f%d.bin HTTP/1.1\r\nHost: x\r\n\r\n' "$i" >&3 && exec sleep 12) &
	hogs+=($!)
done
sleep 3
echo "server descriptors open: $(ls /proc/$pid/fd | wc -l) of $nofile"
fresh() { # GET $1 on a connection of its own: its status line's code
	exec 4<> "/dev/tcp/127.0.0.1/$port" || { echo refused; return; }
	printf 'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "$1" >&4
	timeout 3 head -c 12 <&4 | cut -c10-12 | tr -d '\n'
	exec 4<&-
}
timed() { # fresh $1, and how long it took
	local t0 st
	t0=$(date +%s.%N)
	st=$(fresh "$1")
	echo "${st:-none} in $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-4) s"
}
echo "fresh GET /small.txt: $(timed /small.txt)"
for i in 1 2 3; do
	echo "fresh GET /f$((conns + i)).bin (not open yet): $(timed "/f$((conns + i)).bin")"
done
kill -USR1 $pid
sleep 0.2
grep '^stats' "$tmp/log" | tail -1 | grep -o ' live [0-9]*\| busy [0-9]*\| shed [0-9]*' | tr '\n' ' '
echo
