#!/usr/bin/env bash
# bench-chart.sh GRID_OUTPUT PNG - draw the echo grid's server CPU per request
# (total, and user space alone below it) of every server the grid ran
# (urt-echo, epoll-echo, libuv-echo, tokio-echo) at every point, from the
# table that `make bench-echo` prints (save it with
# `make bench-echo | tee grid.txt`). Installs gnuplot (Debian's gnuplot-nox)
# if it is missing.
set -euo pipefail
in=${1:?usage: bench-chart.sh GRID_OUTPUT PNG}
out=${2:?usage: bench-chart.sh GRID_OUTPUT PNG}
if ! command -v gnuplot >/dev/null; then
	sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi
data=$(mktemp)
trap 'rm -f "$data"' EXIT
# the grid's rows: server conns size depth rps p50 p99 cpu user heap bytes.
# One line per point: label, then each server's cpu and user, in the order
# the servers first appear; "-" for a server that did not run there.
awk '$1 ~ /-echo$/ && NF == 11 && $2 ~ /^[0-9]+$/ {
		k = $3 " B " $2 "c d" $4
		if (!(k in seen)) { seen[k] = 1; order[++n] = k }
		if (!($1 in known)) { known[$1] = 1; srv[++m] = $1 }
		cpu[$1, k] = $8; usr[$1, k] = $9
	}
	END {
		printf "point"; for (j = 1; j <= m; j++) printf " %s %s", srv[j], srv[j]; print ""
		for (i = 1; i <= n; i++) {
			k = order[i]; printf "\"%s\"", k
			for (j = 1; j <= m; j++)
				printf " %s %s", ((srv[j], k) in cpu) ? cpu[srv[j], k] : "-",
					((srv[j], k) in usr) ? usr[srv[j], k] : "-"
			print ""
		}
	}' "$in" > "$data"
[ "$(wc -l < "$data")" -gt 1 ] || { echo "bench-chart: no grid rows in $in" >&2; exit 1; }
nsrv=$(head -1 "$data" | awk '{print (NF - 1) / 2}')
gnuplot <<GP
set terminal pngcairo size 1000,720 font "sans,10"
set output "$out"
set datafile missing "-"
set key autotitle columnhead top left
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set multiplot layout 2,1
set title "echo servers: CPU per request, user + system (lower is better), median of runs, loopback, server on 1 core"
set ylabel "server CPU us / request"
set xtics rotate by -20 offset 0,0
plot for [i=1:$nsrv] "$data" using 2*i:xtic(1) title columnhead(2*i)
set title "user-space CPU per request (utime from /proc/PID/stat: libc included, counted in 10 ms ticks)"
set ylabel "user CPU us / request"
plot for [i=1:$nsrv] "$data" using 2*i+1:xtic(1) title columnhead(2*i+1)
unset multiplot
GP
echo "bench-chart: wrote $out"
