#!/usr/bin/env bash
# bench-chart.sh GRID_OUTPUT PNG - draw the echo grid's server CPU per request,
# urt-echo beside epoll-echo at every point, from the table that
# `make bench-echo` prints (save it with `make bench-echo | tee grid.txt`).
# Installs gnuplot (Debian's gnuplot-nox) if it is missing.
set -euo pipefail
in=${1:?usage: bench-chart.sh GRID_OUTPUT PNG}
out=${2:?usage: bench-chart.sh GRID_OUTPUT PNG}
if ! command -v gnuplot >/dev/null; then
	sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
fi
data=$(mktemp)
trap 'rm -f "$data"' EXIT
# one line per point: label, urt cpu, epoll cpu
awk '$1 == "urt-echo" && NF == 10 { u[$3 " B " $2 "c d" $4] = $8; order[++n] = $3 " B " $2 "c d" $4 }
     $1 == "epoll-echo" && NF == 10 { e[$3 " B " $2 "c d" $4] = $8 }
     END { for (i = 1; i <= n; i++) { k = order[i]; printf "\"%s\" %s %s\n", k, u[k], e[k] } }' \
	"$in" > "$data"
[ -s "$data" ] || { echo "bench-chart: no grid rows in $in" >&2; exit 1; }
gnuplot <<GP
set terminal pngcairo size 900,420 font "sans,10"
set output "$out"
set title "echo server CPU per request (lower is better), median of runs, loopback, 1 core"
set ylabel "server CPU us / request"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set xtics rotate by -30
set key top right
set grid ytics
plot "$data" using 2:xtic(1) title "urt-echo", "" using 3 title "epoll-echo"
GP
echo "bench-chart: wrote $out"
