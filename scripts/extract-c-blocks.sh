#!/usr/bin/env bash
# extract-c-blocks.sh DOC OUT [TAG] - write every ```c fenced block of DOC,
# in order, to OUT (with #line directives pointing back into DOC, so
# compiler errors name the document's lines). With TAG, the blocks fenced
# ```c TAG instead: a section of a guide that is a program of its own.
set -euo pipefail
awk -v doc="$1" -v tag="${3:-}" '
  (tag == "" && /^```c[[:space:]]*$/) || (tag != "" && $0 == "```c " tag) {
    inblk = 1; printf "#line %d \"%s\"\n", NR + 1, doc; next }
  /^```/ && inblk      { inblk = 0; next }
  inblk                { print }
' "$1" > "$2.tmp"
mv "$2.tmp" "$2"
