#!/usr/bin/env bash
# kv-transcript.sh PORT COMMANDS - send each request of COMMANDS (one per
# line, redis-cli arguments) to the server on 127.0.0.1:PORT, each on a
# connection of its own, and print "> request" followed by the reply as
# redis-cli prints it without a terminal (KEYS replies sorted). A line "RAW
# FORMAT" sends printf FORMAT's bytes and then QUIT on a connection of its
# own, and prints every reply byte (cat -v) until the server closes it:
# inline requests, which redis-cli never sends. tests/kv/expected.txt is
# this script's output against redis-server 7.0.15; test-kv.sh compares
# urt-kv's with it.
#
# The requests are sent and the replies read by the shell itself, not by a
# redis-cli per line (~15 ms of exec and dynamic linking each, most of
# test_kv's time): the shell splits a line into arguments as it did for
# redis-cli, and prints a reply as redis-cli 7 prints it to a pipe
# (cliFormatReplyRaw, then a newline): a status, an integer or a bulk as
# its bytes, an error as its text and a newline, nil as nothing, an array
# as its elements joined by newlines; INFO's reply without the newline
# (redis-cli prints it verbatim; also CLIENT LIST and CLIENT INFO). A
# reply that is not whole RESP2 within 10 s prints an "Error:" line.
set -euo pipefail
set -f # the requests hold glob patterns (KEYS f*): no pathname expansion
export LC_ALL=C # lengths and read -n count bytes
port=${1:?usage: kv-transcript.sh PORT COMMANDS}
file=${2:?usage: kv-transcript.sh PORT COMMANDS}

# bulk FD N: copy N bytes of FD to stdout. The shell's variables cannot
# hold a NUL: read stops at each (-d '') and it is printed apart.
bulk() {
	local fd=$1 n=$2 c
	while ((n > 0)); do
		IFS= read -r -d '' -n "$n" -t 10 c <&"$fd" || return 1
		printf '%s' "$c"
		if ((${#c} < n)); then # stopped at a NUL, which it consumed
			printf '\0'
			n=$((n - 1))
		fi
		n=$((n - ${#c}))
	done
}

# reply FD: read one RESP2 reply from FD and print its raw form.
# Return: 1 if the connection ended or sent something else.
reply() {
	local fd=$1 line n i crlf
	IFS= read -r -t 10 line <&"$fd" || return 1
	[ "${line: -1}" = $'\r' ] || return 1
	line=${line%$'\r'}
	case $line in
	+* | :*) printf '%s' "${line:1}" ;;
	-*) printf '%s\n' "${line:1}" ;;
	'$-1' | '*-1') ;;
	'$'[0-9]*)
		bulk "$fd" "${line:1}" || return 1
		IFS= read -r -t 10 -N 2 crlf <&"$fd" && [ "$crlf" = $'\r\n' ] || return 1
		;;
	'*'[0-9]*)
		n=${line:1}
		for ((i = 0; i < n; i++)); do
			((i == 0)) || printf '\n'
			reply "$fd" || return 1
		done
		;;
	*) return 1 ;;
	esac
}

# request ARGS...: send ARGS as one RESP request on a new connection and
# print the reply as redis-cli does
request() {
	local fd req="*$#"$'\r\n' a verbatim=false
	for a in "$@"; do
		req+="\$${#a}"$'\r\n'"$a"$'\r\n'
	done
	case ${1,,} in
	info) verbatim=true ;;
	client) case ${2:-} in [lL][iI][sS][tT] | [iI][nN][fF][oO]) verbatim=true ;; esac ;;
	esac
	exec {fd}<>"/dev/tcp/127.0.0.1/$port"
	printf '%s' "$req" >&"$fd"
	if ! reply "$fd"; then
		printf '\nError: no whole RESP2 reply within 10 s\n'
	elif ! $verbatim; then
		printf '\n'
	fi
	exec {fd}>&-
}

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
	KEYS*) eval "request $line" | sort ;; # hash order is no one's contract
	*) eval "request $line" ;;
	esac
done < "$file"
