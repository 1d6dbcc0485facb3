#!/usr/bin/env bash
# extract-c-blocks.sh DOC OUT - write every ```c fenced block of DOC, in
# order, to OUT (with #line directives pointing back into DOC, so compiler
# errors name the document's lines).
set -euo pipefail
awk -v doc="$1" '
  /^```c[[:space:]]*$/ { inblk = 1; printf "#line %d \"%s\"\n", NR + 1, doc; next }
  /^```/ && inblk      { inblk = 0; next }
  inblk                { print }
' "$1" > "$2.tmp"
mv "$2.tmp" "$2"
