#!/usr/bin/env bash
# check-layers.sh ROOT - fail if a layer includes a public header owned by a
# layer above it. Order: alloc < slab < runtime. Headers are mapped to their
# owning layer below; a header missing from the map is an error, so a new
# header must be placed in a layer.
set -euo pipefail
root=${1:-.}
declare -A owner=(
  [allocator.h]=alloc [arena.h]=alloc [pool.h]=alloc [scope.h]=alloc
  [slab.h]=slab [slab_table.h]=slab
  [urt.h]=umbrella
)
for h in runtime.h task.h channel.h io.h net.h time.h fault.h; do owner[$h]=runtime; done
declare -A rank=([alloc]=1 [slab]=2 [runtime]=3 [umbrella]=4)
fail=0
for layer in alloc slab runtime; do
  [ -d "$root/$layer" ] || continue
  while IFS=: read -r file _ hdr; do
    h=${hdr#urt/}
    o=${owner[$h]:-}
    if [ -z "$o" ]; then
      echo "check-layers: $file includes urt/$h, which no layer owns (add it to the map)"; fail=1
    elif [ "${rank[$o]}" -gt "${rank[$layer]}" ]; then
      echo "check-layers: $file ($layer) includes urt/$h from $o, a layer above"; fail=1
    fi
  done < <(grep -rHoE '#include\s*"urt/[a-z_]+\.h"' --include='*.c' --include='*.h' "$root/$layer" \
           | sed -E 's/#include\s*"(urt\/[a-z_]+\.h)"/\1/' | awk -F: '{print $1":x:"$2}')
done
[ $fail -eq 0 ] && echo "check-layers: ok (alloc < slab < runtime)"
exit $fail
