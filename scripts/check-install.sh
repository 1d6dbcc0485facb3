#!/usr/bin/env bash
# check-install.sh SRC BUILD - install BUILD into a scratch prefix, move the
# prefix (the package must be relocatable), then build and run a consumer
# every way a user links urt:
#   find_package(urt): urt::urt (liburt.so) and urt::urt_static (liburt.a);
#   pkg-config --libs urt (shared) and pkg-config --libs --static urt with
#   the archive chosen (-Wl,-Bstatic ... -Wl,-Bdynamic).
# Each program must run, and depend on liburt.so exactly when it should.
# Then liburt.so itself: its soname, what it exports (the public API, and of
# the urt__ names only those the installed headers' inline functions call),
# and no __tls_get_addr call (the thread-locals are initial-exec), and no
# OpenSSL among its NEEDED. Then liburt_tls (when built) the same way.
set -euo pipefail
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check-install: $*" >&2; exit 1; }
needs_so() { grep -q 'NEEDED.*\[liburt\.so' < <(readelf -d "$1"); }

cmake --install "$build" --prefix "$tmp/a" >/dev/null
mv "$tmp/a" "$tmp/moved"
prefix=$tmp/moved
so=$(find "$prefix" -name 'liburt.so' | head -1)
[ -n "$so" ] || fail "no liburt.so installed"
libdir=$(dirname "$so")
[ -f "$libdir/liburt.a" ] || fail "no liburt.a beside liburt.so"

# find_package: both targets (CMake gives the shared one a build rpath)
cmake -S "$src/tests/install" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cm" >/dev/null
"$tmp/cm/consumer"
needs_so "$tmp/cm/consumer" || fail "urt::urt did not link liburt.so"
"$tmp/cm/consumer_static"
needs_so "$tmp/cm/consumer_static" && fail "urt::urt_static linked liburt.so"

# pkg-config: shared by default, static with --static and the archive
pc() { PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config "$@" urt; }
cc -o "$tmp/pc-shared" "$src/tests/install/consumer.c" $(pc --cflags) $(pc --libs) \
  -Wl,-rpath,"$libdir"
"$tmp/pc-shared"
needs_so "$tmp/pc-shared" || fail "pkg-config --libs urt did not link liburt.so"
cc -o "$tmp/pc-static" "$src/tests/install/consumer.c" $(pc --cflags --static) \
  -Wl,-Bstatic $(pc --libs --static) -Wl,-Bdynamic
"$tmp/pc-static"
needs_so "$tmp/pc-static" && fail "pkg-config --libs --static urt linked liburt.so"

# the shared library itself
grep -q 'SONAME.*\[liburt\.so\.[0-9]*\.[0-9]*\]' < <(readelf -d "$so") || fail "no versioned soname"
nm -D --defined-only "$so" | awk '{ print $3 }' | sort >"$tmp/exported"
grep -v '^urt_' "$tmp/exported" && fail "liburt.so exports names outside urt_"
grep -ohw 'urt__[a-z_]*' "$prefix"/include/urt/*.h | sort -u >"$tmp/inline-calls"
nm --defined-only "$libdir/liburt.a" 2>/dev/null | awk 'NF == 3 && $2 ~ /[A-Z]/ { print $3 }' |
  sort -u >"$tmp/archive"
comm -12 "$tmp/inline-calls" "$tmp/archive" >"$tmp/must"
missing=$(comm -23 "$tmp/must" "$tmp/exported")
[ -z "$missing" ] || fail "liburt.so hides what installed headers call: $missing (cmake/liburt.map)"
leaked=$(grep '^urt__' "$tmp/exported" | comm -23 - "$tmp/must")
[ -z "$leaked" ] || fail "liburt.so exports internal names: $leaked"
[ "$(grep -c '^urt_[a-z]' "$tmp/exported")" -ge 100 ] || fail "liburt.so exports too little"
grep -q '__tls_get_addr' < <(objdump -d "$so") && fail "liburt.so calls __tls_get_addr"
grep -q 'NEEDED.*\[lib\(ssl\|crypto\)\.so' < <(readelf -d "$so") && fail "liburt.so links OpenSSL"

# liburt_tls, when it was built: pkg-config urt-tls (shared) builds and runs
# a consumer that makes a client context; liburt_tls.so exports the layer's
# API (urt_tls_*) and nothing else
tls=" (no liburt_tls built)"
tls_so=$(find "$prefix" -name 'liburt_tls.so' | head -1)
if [ -n "$tls_so" ]; then
  pct() { PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config "$@" urt-tls; }
  cc -o "$tmp/tls-shared" "$src/tests/install/tls_consumer.c" $(pct --cflags) $(pct --libs) \
    -Wl,-rpath,"$libdir"
  "$tmp/tls-shared"
  grep -q 'NEEDED.*\[liburt_tls\.so' < <(readelf -d "$tmp/tls-shared") ||
    fail "pkg-config --libs urt-tls did not link liburt_tls.so"
  grep -q 'SONAME.*\[liburt_tls\.so\.[0-9]*\.[0-9]*\]' < <(readelf -d "$tls_so") ||
    fail "liburt_tls.so has no versioned soname"
  nm -D --defined-only "$tls_so" | awk '{ print $3 }' | sort >"$tmp/tls-exported"
  grep -v '^urt_tls_' "$tmp/tls-exported" && fail "liburt_tls.so exports names outside urt_tls_"
  [ "$(wc -l <"$tmp/tls-exported")" -ge 20 ] || fail "liburt_tls.so exports too little"
  [ -x "$tmp/cm/tls_consumer" ] && [ -x "$tmp/cm/tls_consumer_static" ] ||
    fail "find_package(urt) gave no urt::urt_tls / urt::urt_tls_static"
  "$tmp/cm/tls_consumer"
  "$tmp/cm/tls_consumer_static"
  grep -q 'NEEDED.*\[liburt_tls\.so' < <(readelf -d "$tmp/cm/tls_consumer_static") &&
    fail "urt::urt_tls_static linked liburt_tls.so"
  tls="; liburt_tls: find_package (urt::urt_tls, urt::urt_tls_static) and pkg-config urt-tls link and run, exports urt_tls_* only"
fi
echo "check-install: find_package (shared, static) and pkg-config (shared, --static) link and run from a moved prefix; liburt.so exports the API only, no __tls_get_addr, no OpenSSL$tls"
