#!/usr/bin/env bash
# check-cascade.sh BIN - the harness's check after each test (test_run_group,
# tests/support/test_support.c): BIN is tests/test_cascade.c, whose three
# culprits leave a runtime bound to the thread. Each must be named and
# fail; the three tests after them must pass; no init may fail with
# -EEXIST (the cascade a failed test used to start).
set -uo pipefail
bin=$1
# the culprits' runtimes are leaked on purpose
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
out=$("$bin" 2>&1)
rc=$?
printf '%s\n' "$out"
bad=0
for t in fails_with_runtime fails_inside_poll forgets_deinit; do
	if ! grep -q "test_support: $t left a runtime bound" <<<"$out"; then
		echo "check-cascade: $t was not named" >&2
		bad=1
	fi
done
for t in passes_after_fail passes_direct_init passes_after_forgotten; do
	if ! grep -q "^\[       OK \] $t\$" <<<"$out"; then
		echo "check-cascade: $t did not pass" >&2
		bad=1
	fi
done
if grep -q "0xffffffffffffffef" <<<"$out"; then
	echo "check-cascade: an init failed with -EEXIST" >&2
	bad=1
fi
if [ "$rc" -ne 3 ]; then
	echo "check-cascade: exit status $rc, not 3 (the culprits)" >&2
	bad=1
fi
[ "$bad" -eq 0 ] && echo "check-cascade: 3 culprits named, the tests after them passed"
exit "$bad"
