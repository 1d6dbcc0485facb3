#!/usr/bin/env bash
# review-spill.sh BINDIR [CONNS] - hostile review finding (urt-kv, urt-echo):
# CONNS (8000) clients with small kernel buffers (4 KiB) pipeline requests
# (kv: GET of a 1 MiB value; echo: bytes) and never read. Each one's task
# blocks in its send and its stream spills up to one arm (64 KiB) plus a
# buffer into the runtime's spill memory, which kv counts toward
# --max-clients-mem (512 MiB) only when that connection runs again, and
# echo does not bound at all. Watch rss_kb against 524288 and closed_mem.
# Loopback, 20 s a server; about 650 MB of server RSS at the peak.
set -u
bin=${1:?usage: review-spill.sh BINDIR [CONNS]}
conns=${2:-8000}
here=$(dirname "$0")
echo "== urt-kv, $conns non-readers (budget --max-clients-mem 512 MiB)"
MID=18 SETUP='head -c 1048576 /dev/zero | tr "\0" x | redis-cli -p $port -x set big >/dev/null' \
	"$here/review.sh" "$bin" kv "" "--conns $conns --bufs 4096 --unit *2\r\n\$3\r\nGET\r\n\$3\r\nbig\r\n --count 50000 --read never --duration 20000 --wb 0" |
	grep -E '^t  *(1[0-9]|20)\.|stats' | tail -4
echo "== urt-echo, $conns non-readers (no server-wide bound)"
MID=18 "$here/review.sh" "$bin" echo "" "--conns $conns --bufs 4096 --unit x --count 0 --read never --duration 20000 --wb 0" |
	grep -E '^t  *(1[0-9]|20)\.|stats' | tail -4
