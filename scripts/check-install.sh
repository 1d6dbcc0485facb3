#!/usr/bin/env bash
# check-install.sh SRC BUILD - install BUILD into a scratch prefix, move the
# prefix (the package must be relocatable), then build and run a consumer
# through find_package(urt) and through pkg-config.
set -euo pipefail
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/a" >/dev/null
mv "$tmp/a" "$tmp/moved"
prefix=$tmp/moved
cmake -S "$src/tests/install" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
"$tmp/cm/consumer"
pcdir=$(dirname "$(find "$prefix" -name urt.pc | head -1)")
cc -o "$tmp/pc-consumer" "$src/tests/install/consumer.c" \
  $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags urt) \
  $(PKG_CONFIG_PATH=$pcdir pkg-config --libs --static urt)
"$tmp/pc-consumer"
echo "check-install: find_package and pkg-config both work from a moved prefix"
