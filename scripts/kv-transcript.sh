#!/usr/bin/env bash
# kv-transcript.sh PORT COMMANDS - send each request of COMMANDS (one per
# line, redis-cli arguments) to the server on 127.0.0.1:PORT with redis-cli
# and print "> request" followed by the reply as redis-cli prints it
# without a terminal (KEYS replies sorted). tests/kv/expected.txt is this script's output against
# redis-server 7.0.15; test-kv.sh compares urt-kv's with it.
set -euo pipefail
set -f # the requests hold glob patterns (KEYS f*): no pathname expansion
port=${1:?usage: kv-transcript.sh PORT COMMANDS}
file=${2:?usage: kv-transcript.sh PORT COMMANDS}
while IFS= read -r line; do
	case $line in '' | '#'*) continue ;; esac
	echo "> $line"
	case $line in
	KEYS*) eval "redis-cli -p $port $line" 2>&1 | sort || true ;; # hash order is no one's contract
	*) eval "redis-cli -p $port $line" 2>&1 || true ;;
	esac
done < "$file"
