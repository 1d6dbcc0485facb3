#!/usr/bin/env bash
# kv-transcript.sh PORT COMMANDS - send each request of COMMANDS (one per
# line, redis-cli arguments) to the server on 127.0.0.1:PORT with redis-cli
# and print "> request" followed by the reply as redis-cli prints it
# without a terminal (KEYS replies sorted). A line "RAW FORMAT" sends
# printf FORMAT's bytes and then QUIT on a connection of its own, and prints
# every reply byte (cat -v) until the server closes it: inline requests,
# which redis-cli never sends. tests/kv/expected.txt is this script's output
# against redis-server 7.0.15; test-kv.sh compares urt-kv's with it.
set -euo pipefail
set -f # the requests hold glob patterns (KEYS f*): no pathname expansion
port=${1:?usage: kv-transcript.sh PORT COMMANDS}
file=${2:?usage: kv-transcript.sh PORT COMMANDS}
while IFS= read -r line; do
	case $line in '' | '#'*) continue ;; esac
	echo "> $line"
	case $line in
	RAW\ *)
		exec {fd}<>"/dev/tcp/127.0.0.1/$port"
		# coreutils' printf, not the builtin: the builtin writes line by
		# line, and a server that closes after a protocol error in the
		# first line made the next write fail (SIGPIPE, the script ended)
		# or reset the connection before its error reply was read. One
		# write (stdout to a socket is fully buffered) sends all at once.
		# shellcheck disable=SC2059 # the format is the point
		env printf "${line#RAW }"'QUIT\r\n' >&"$fd" || true
		timeout 5 cat <&"$fd" | cat -v || true
		exec {fd}>&-
		;;
	KEYS*) eval "redis-cli -p $port $line" 2>&1 | sort || true ;; # hash order is no one's contract
	*) eval "redis-cli -p $port $line" 2>&1 || true ;;
	esac
done < "$file"
