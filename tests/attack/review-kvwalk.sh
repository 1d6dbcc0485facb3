#!/usr/bin/env bash
# review-kvwalk.sh MODE SERVER... - hostile review 12: what a keyspace that
# moves through value sizes leaves resident. Starts SERVER (its command
# line, told --port P: urt-kv, or redis-server with its own flags) and
# walks values of 600, 900, 1,400, 1,900, 2,900 and 3,900 bytes; prints
# the keys, used_memory, VmRSS (KiB) and mem_store_kept after each size.
#   flush:     each size filled to OOM (--maxmemory 32m), then FLUSHALL
#   partial:   each size filled to OOM, then every key deleted but one
#   overwrite: 6,000 keys, each size overwriting all of them
# With SETTLE=S the RSS is printed again S seconds after the walk (redis's
# jemalloc gives pages back on a decay). Examples:
#   review-kvwalk.sh partial build/release/bin/urt-kv --maxmemory 32m
#   review-kvwalk.sh partial redis-server --maxmemory 32mb --save '' --appendonly no
# By hand, not CI; loopback, bounded (about a minute a walk).
set -u
mode=${1:?usage: review-kvwalk.sh flush|partial|overwrite SERVER...}
shift
port=$((20000 + RANDOM % 10000))
"$@" --port "$port" > /dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping > /dev/null 2>&1 && break; sleep 0.1; done
cli() { redis-cli -p "$port" "$@"; }
info() { cli info memory | tr -d '\r' | awk -F: -v k="$1" '$1 == k {print $2}'; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
for d in 600 900 1400 1900 2900 3900; do
	case $mode in
	flush | partial)
		timeout 60 redis-benchmark -p "$port" -t set -d "$d" -r 10000000 \
			-n $((40 * 1024 * 1024 / d)) -P 16 -c 8 -q > /dev/null 2>&1
		if [ "$mode" = flush ]; then
			cli flushall > /dev/null
		else
			cli rename "$(cli --scan --pattern 'key:*' | head -1)" "pin$d" > /dev/null
			cli --scan --pattern 'key:*' | timeout 120 xargs -n 2000 redis-cli -p "$port" del \
				> /dev/null
		fi
		;;
	overwrite)
		timeout 60 redis-benchmark -p "$port" -t set -d "$d" -r 6000 -n 150000 -P 16 -c 8 \
			-q > /dev/null 2>&1
		;;
	*)
		echo "unknown mode $mode" >&2
		exit 2
		;;
	esac
	echo "d=$d keys=$(cli dbsize) used_memory=$(info used_memory) rss_kb=$(rss)" \
		"mem_store_kept=$(info mem_store_kept)"
done
if [ -n "${SETTLE:-}" ]; then
	sleep "$SETTLE"
	echo "after ${SETTLE}s rss_kb=$(rss)"
fi
