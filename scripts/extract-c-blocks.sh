#!/usr/bin/env bash
# extract-c-blocks.sh DOC OUT [TAG] - write every ```c fenced block of DOC,
# in order, to OUT (with #line directives pointing back into DOC, so
# compiler errors name the document's lines). With TAG, only the blocks
# fenced ```c TAG: a second program in the same guide (a section of its
# own, with its own main); without it, only the plain ```c blocks.
set -euo pipefail
awk -v doc="$1" -v tag="${3:-}" '
  /^```c([[:space:]].*)?$/ && !inblk {
    t = $0; sub(/^```c[[:space:]]*/, "", t); sub(/[[:space:]]+$/, "", t)
    if (t == tag) { inblk = 1; printf "#line %d \"%s\"\n", NR + 1, doc; next }
    skip = 1; next
  }
  /^```/ && (inblk || skip) { inblk = 0; skip = 0; next }
  inblk                     { print }
' "$1" > "$2.tmp"
mv "$2.tmp" "$2"
