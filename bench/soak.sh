#!/usr/bin/env bash
# Soak: run the random_mixed workload for a long time in one process, per
# allocator, in two variants (single thread; thread churn), then summarise
# RSS drift, throughput drift/CV and latency percentiles.
#
#   bash bench/soak.sh [--seconds 60] [--epoch-ops 2000000] [--churn-threads 2]
#                      [--allocators "hakmem-direct hakmem mimalloc glibc"]
#                      [--build-dir build-bench] [--out DIR]
#
# CSVs (and .lat.csv histograms) go to BUILD_DIR/soak/ unless --out is given.
# Informational: never fails on drift, only on a crashed run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_RUN=60
EPOCH_OPS=2000000
CHURN=2
ALLOCATORS="hakmem-direct hakmem mimalloc glibc"
BUILD_DIR="$ROOT/build-bench"
OUT=""
LIBDIR=/usr/lib/x86_64-linux-gnu

while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_PER_RUN="$2"; shift ;;
    --epoch-ops) EPOCH_OPS="$2"; shift ;;
    --churn-threads) CHURN="$2"; shift ;;
    --allocators) ALLOCATORS="$2"; shift ;;
    --build-dir) BUILD_DIR="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
OUT="${OUT:-$BUILD_DIR/soak}"

BENCH="$BUILD_DIR/bench"
if [ ! -x "$BENCH/bench_random_mixed" ] || [ ! -x "$BENCH/bench_random_mixed_hk" ]; then
  mkdir -p "$BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DHAKMEM_BUILD_TESTS=OFF >"$BUILD_DIR/configure.log"
  cmake --build "$BUILD_DIR" -j"$(nproc)" >"$BUILD_DIR/build.log" || { tail -30 "$BUILD_DIR/build.log" >&2; exit 1; }
fi
mkdir -p "$OUT"

# Prints "exe|preload" for an allocator name, or nothing if unavailable.
resolve() {
  case "$1" in
    hakmem-direct) echo "$BENCH/bench_random_mixed_hk|" ;;
    glibc) echo "$BENCH/bench_random_mixed|" ;;
    hakmem)
      local so; so="$(find "$BUILD_DIR" -name 'libhakmem_malloc.so' -print -quit 2>/dev/null || true)"
      [ -n "$so" ] && echo "$BENCH/bench_random_mixed|$so" ;;
    mimalloc) [ -e "$LIBDIR/libmimalloc.so.2" ] && echo "$BENCH/bench_random_mixed|$LIBDIR/libmimalloc.so.2" ;;
    jemalloc) [ -e "$LIBDIR/libjemalloc.so.2" ] && echo "$BENCH/bench_random_mixed|$LIBDIR/libjemalloc.so.2" ;;
    tcmalloc) [ -e "$LIBDIR/libtcmalloc_minimal.so.4" ] && echo "$BENCH/bench_random_mixed|$LIBDIR/libtcmalloc_minimal.so.4" ;;
    *) echo "soak.sh: unknown allocator $1" >&2 ;;
  esac
  return 0
}

status=0
csvs=()
for alloc in $ALLOCATORS; do
  spec="$(resolve "$alloc")"
  if [ -z "$spec" ]; then echo "soak.sh: $alloc not available, skipped" >&2; continue; fi
  exe="${spec%%|*}"; pre="${spec#*|}"
  for variant in seed churn; do
    csv="$OUT/soak_${variant}_${alloc}.csv"
    extra=()
    [ "$variant" = churn ] && extra=(--churn "$CHURN")
    echo "soak.sh: $alloc/$variant for ${SECONDS_PER_RUN}s -> $csv" >&2
    if LD_PRELOAD="$pre" "$exe" --soak "$SECONDS_PER_RUN" "$EPOCH_OPS" "$csv" "${extra[@]}" >"$csv.out"; then
      csvs+=("$csv")
    else
      echo "soak.sh: $alloc/$variant FAILED (see $csv.out)" >&2
      status=1
    fi
  done
done
[ ${#csvs[@]} -gt 0 ] && python3 "$ROOT/bench/analyze_soak.py" "${csvs[@]}"
exit "$status"
