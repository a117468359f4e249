#!/usr/bin/env bash
# node_window.sh [BUFFERS]: the node window lane of bench/compare.sh.
#
# node keeps a window of the last 500 Buffers of sizes 1..65536 (default
# 200000 Buffers allocated); its garbage collector frees most of them on a
# helper thread, so the allocator sees one thread allocating and another
# freeing. Run under LD_PRELOAD of the allocator to measure; prints the
# benchmark lines compare.sh reads: Buffers per second of wall time and the
# process's peak RSS (GNU time). Exit 3 if node or GNU time is missing.
set -euo pipefail
n=${1:-200000}
command -v node >/dev/null 2>&1 || { echo "node_window: node not found" >&2; exit 3; }
[ -x /usr/bin/time ] || { echo "node_window: /usr/bin/time not found" >&2; exit 3; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# shellcheck disable=SC2016 # the JavaScript is node's, not the shell's
/usr/bin/time -f '%e %M' -o "$out" node -e '
  const n = Number(process.argv[1]);
  let b = [];
  for (let i = 0; i < n; i++) {
    b.push(Buffer.alloc(1 + (i * 7919) % 65536, i & 255));
    if (b.length > 500) b.shift();
  }' "$n"
read -r secs kb <"$out"
awk -v n="$n" -v s="$secs" -v kb="$kb" 'BEGIN {
  printf "Throughput = %.0f ops/s\n", (s > 0 ? n / s : 0)
  printf "[OPS] timed=%d total=%d\n", n, n
  printf "[RSS] max_kb=%d\n", kb
}'
