#!/usr/bin/env bash
# perf-classes.sh PERF_DATA REQUESTS - a server's CPU a request, by where
# its samples' stacks were: each sample of `perf record -e cpu-clock -g -p
# PID` goes in the first class its stack matches, in this order:
#   send       anything under tcp_sendmsg (on loopback that includes
#              delivering into the peer's socket and waking the peer)
#   recv       under tcp_recvmsg
#   scheduler  under __schedule
#   ring/poll  io_uring's issue, task-work and wait paths, epoll, and
#              system-call entry and exit
#   user       a sample whose leaf is in user space
#   other      the rest of the kernel
# Prints each class's samples, its share, and microseconds a request
# (samples / frequency / REQUESTS). A tool for reading a profile by hand
# (docs/benchmarks.md's floors), not part of any test.
#   FREQ=HZ   perf's sampling frequency (default: perf's own, 4000)
set -euo pipefail
data=${1:?usage: perf-classes.sh PERF_DATA REQUESTS}
reqs=${2:?usage: perf-classes.sh PERF_DATA REQUESTS}
freq=${FREQ:-4000}
perf script -i "$data" -F ip,sym,dso 2>/dev/null | awk -v freq="$freq" -v reqs="$reqs" '
function flush() {
	if (!n)
		return
	c = "other"
	if (s ~ / tcp_sendmsg/) c = "send"
	else if (s ~ / tcp_recvmsg/) c = "recv"
	else if (s ~ / __schedule/) c = "scheduler"
	else if (s ~ / (io_uring|io_|__io_|__x64_sys_io_uring|ep_|do_epoll|__x64_sys_epoll|entry_SYSCALL|do_syscall|syscall_exit|syscall_enter)/) c = "ring/poll"
	else if (leaf !~ /kernel\.kallsyms|\[kernel/) c = "user"
	count[c]++
	total++
	n = 0
	s = ""
}
/^[[:space:]]*$/ { flush(); next }
{
	if (!n) leaf = $0
	n++
	s = s " " $2
}
END {
	flush()
	split("send recv ring/poll scheduler other user", order, " ")
	printf "%-10s %8s %7s %10s\n", "class", "samples", "share", "us/req"
	for (i = 1; i <= 6; i++) {
		k = order[i]
		printf "%-10s %8d %6.1f%% %10.2f\n", k, count[k], 100 * count[k] / total, count[k] / freq / reqs * 1e6
	}
	printf "%-10s %8d %6.1f%% %10.2f\n", "total", total, 100, total / freq / reqs * 1e6
}'
