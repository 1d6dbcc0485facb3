#!/usr/bin/env bash
# deps.sh [--bench] - install the build dependencies that are missing, with
# apt-get (Debian 12). Runs apt-get update only when something is missing.
# --bench adds what the benchmarks compare against (mimalloc, jemalloc,
# redis-server, nginx-light, wrk, h2o, and the echo grid's peers: libuv1-dev,
# cargo and librust-tokio-dev, the tokio crates as a cargo directory source
# in /usr/share/cargo/registry for the offline tokio echo server).
set -euo pipefail
# curl and redis-tools (redis-cli, redis-benchmark): what the urt-http and
# urt-kv tests drive them with.
# clang and libclang-rt-14-dev (libFuzzer): the fuzz preset.
pkgs=(build-essential cmake pkg-config liburing-dev libcmocka-dev curl redis-tools clang libclang-rt-14-dev libssl-dev openssl)
[ "${1:-}" = "--bench" ] && pkgs+=(libmimalloc-dev libjemalloc-dev redis-server nginx-light wrk libuv1-dev h2o cargo librust-tokio-dev)
missing=()
for p in "${pkgs[@]}"; do
  grep -q 'install ok installed' < <(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
