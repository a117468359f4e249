#!/usr/bin/env bash
# Compare hakmem with glibc, mimalloc, jemalloc, tcmalloc and a floor
# allocator on the bench/ workloads; print the tables and write
# benchmarks.md + benchmarks.png into BUILD_DIR/report/ (docs/ with
# --update-docs: the committed figures come from a --full run).
#
#   bash bench/compare.sh --quick        # 3 reps, small runs (README: how long)
#   bash bench/compare.sh --full --update-docs   # 7 reps, standard sizes, + callgrind and micro
#   options: --callgrind / --no-callgrind, --micro / --no-micro (Google
#            Benchmark microbenchmarks per allocator), --reps N, --update-docs,
#            --build-dir DIR --out DIR (default BUILD_DIR/report) --no-install --no-build
#
# Raw results stay in BUILD_DIR/bench-results/. Benchmarks never fail on
# performance: the exit status is nonzero only if nothing could be measured.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE=quick
REPS=""
CALLGRIND=""
MICRO=""
BUILD_DIR="$ROOT/build-bench"
OUT_DIR=""
INSTALL=1
BUILD=1

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --callgrind) CALLGRIND=1 ;;
    --no-callgrind) CALLGRIND=0 ;;
    --micro) MICRO=1 ;;
    --no-micro) MICRO=0 ;;
    --reps) REPS="$2"; shift ;;
    --build-dir) BUILD_DIR="$2"; shift ;;
    --out) OUT_DIR="$2"; shift ;;
    --update-docs) OUT_DIR="$ROOT/docs" ;;
    --no-install) INSTALL=0 ;;
    --no-build) BUILD=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

[ -n "$OUT_DIR" ] || OUT_DIR="$BUILD_DIR/report"
log() { printf '[compare] %s\n' "$*" >&2; }
START_TIME=$(date +%s)
LIBDIR=/usr/lib/x86_64-linux-gnu

# ---- packages ----------------------------------------------------------------
# Installs only when something is missing, and only as root: a developer's
# machine without root still gets a table with the columns it can measure.
ensure_packages() {
  local missing=()
  for cmd in cmake g++ strace gnuplot pkg-config python3 node; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  for f in "$LIBDIR/libmimalloc.so.2" "$LIBDIR/libjemalloc.so.2" "$LIBDIR/libtcmalloc_minimal.so.4" \
           /usr/include/benchmark/benchmark.h /usr/include/cmocka.h /usr/bin/time; do
    [ -e "$f" ] || missing+=("$f")
  done
  if [ "$CALLGRIND" = 1 ] && ! command -v valgrind >/dev/null 2>&1; then missing+=(valgrind); fi
  [ ${#missing[@]} -eq 0 ] && return 0
  log "missing: ${missing[*]}"
  if [ "$INSTALL" != 1 ] || [ "$(id -u)" != 0 ]; then
    log "not installing (need root and no --no-install); missing allocators are skipped"
    return 0
  fi
  local pkgs=(libmimalloc-dev libjemalloc-dev libgoogle-perftools-dev gnuplot-nox strace cmake g++
              libbenchmark-dev libcmocka-dev pkg-config python3 nodejs time)
  [ "$CALLGRIND" = 1 ] && pkgs+=(valgrind)
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq "${pkgs[@]}"; } >&2; then
    log "apt-get failed; continuing"
  fi
}

# ---- mode ---------------------------------------------------------------------
if [ "$MODE" = quick ]; then
  : "${REPS:=3}"; : "${CALLGRIND:=0}"; : "${MICRO:=0}"; MICRO_MIN_TIME=0.05
  RM_ITERS=20000000; RM_WIDE_ITERS=8000000; MT_ITERS=4000000; LARSON_OPS=4000000
  HANDOFF_BLOCKS=4000000; CHURN_STEPS=300; LARGE_BLOCKS=50000
else
  : "${REPS:=7}"; : "${CALLGRIND:=1}"; : "${MICRO:=1}"; MICRO_MIN_TIME=0.2
  RM_ITERS=20000000; RM_WIDE_ITERS=20000000; MT_ITERS=10000000; LARSON_OPS=5000000
  HANDOFF_BLOCKS=10000000; CHURN_STEPS=1000; LARGE_BLOCKS=200000
fi
# Multi-thread lanes count only repetitions whose two cores ran at the same
# time: a core-to-core round trip (bench_pingpong) at most PINGPONG_MAX_NS
# before every run of the repetition. On these 2-vCPU VMs it is 110-200 ns
# when both vCPUs run and several microseconds when they time-share, and a
# cross-thread free costs something else entirely in each state. Extra
# repetitions of those lanes run until MT_MIN_QUALIFIED qualify (at most
# MT_MAX_REPS in all); the report says how many qualified.
PINGPONG_MAX_NS=${PINGPONG_MAX_NS:-400}
MT_MIN_QUALIFIED=$REPS
MT_MAX_REPS=$(( REPS * 3 ))
CG_ITERS=2000000

ensure_packages

# ---- build --------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  log "building into $BUILD_DIR (Release)"
  mkdir -p "$BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DHAKMEM_BUILD_TESTS=OFF \
    -DHAKMEM_BUILD_BENCH=ON >"$BUILD_DIR/configure.log" 2>&1 || { cat "$BUILD_DIR/configure.log" >&2; exit 1; }
  cmake --build "$BUILD_DIR" -j"$(nproc)" >"$BUILD_DIR/build.log" 2>&1 || {
    tail -40 "$BUILD_DIR/build.log" >&2
    # The override may be mid-development: keep going if the benchmarks built.
    log "build had errors; continuing with whatever was built"
  }
fi
BENCH="$BUILD_DIR/bench"
[ -x "$BENCH/bench_random_mixed" ] || { log "no benchmark binaries in $BENCH"; exit 1; }

# ---- allocators ---------------------------------------------------------------
# name -> "preload:<lib>" | "direct" (the _hk binary) | "none" (glibc)
declare -A ALLOC
ORDER=()
add_alloc() { ALLOC[$1]="$2"; ORDER+=("$1"); }
add_alloc glibc none
HK_SO="$(find "$BUILD_DIR" -name 'libhakmem_malloc.so' -print -quit 2>/dev/null || true)"
if [ -n "$HK_SO" ]; then add_alloc hakmem "preload:$HK_SO"; else log "libhakmem_malloc.so not built: skipping the hakmem column"; fi
add_alloc hakmem-direct direct
[ -e "$LIBDIR/libmimalloc.so.2" ] && add_alloc mimalloc "preload:$LIBDIR/libmimalloc.so.2"
[ -e "$LIBDIR/libjemalloc.so.2" ] && add_alloc jemalloc "preload:$LIBDIR/libjemalloc.so.2"
if [ -e "$LIBDIR/libtcmalloc_minimal.so.4" ]; then add_alloc tcmalloc "preload:$LIBDIR/libtcmalloc_minimal.so.4"
elif [ -e "$LIBDIR/libtcmalloc.so.4" ]; then add_alloc tcmalloc "preload:$LIBDIR/libtcmalloc.so.4"; fi
[ -e "$BENCH/libfloor_malloc.so" ] && add_alloc floor "preload:$BENCH/libfloor_malloc.so"

# ---- workloads ----------------------------------------------------------------
# name|binary|args|floor ok (sizes <= 1039)|multi-thread (ping-pong qualified)|description
WORKLOADS=(
  "random_mixed|bench_random_mixed|$RM_ITERS 400 1|1|0|random_mixed: 1 thread, 400 slots, sizes 16..1039, $RM_ITERS ops (an op is one malloc or one free)"
  "random_mixed_medium|bench_random_mixed|$RM_WIDE_ITERS 400 1 4096 32768|0|0|random_mixed_medium: as random_mixed with sizes 4096..32768, $RM_WIDE_ITERS ops"
  "random_mixed_wide|bench_random_mixed|$RM_WIDE_ITERS 400 1 16 32768|0|0|random_mixed_wide: as random_mixed with sizes 16..32768, $RM_WIDE_ITERS ops"
  "mt_remote_0|bench_mt_remote|2 $MT_ITERS 400 16 1039 0|0|1|mt_remote_0: 2 threads x $MT_ITERS ops of random_mixed, every free on the allocating thread"
  "mt_remote_50|bench_mt_remote|2 $MT_ITERS 400 16 1039 50|0|1|mt_remote_50: 2 threads x $MT_ITERS ops of random_mixed, 50% of frees handed to another thread through a ring"
  "mt_remote_50_t4|bench_mt_remote|4 $(( MT_ITERS / 2 )) 400 16 1039 50|0|1|mt_remote_50_t4: as mt_remote_50 with 4 threads x $(( MT_ITERS / 2 )) ops on the 2 cores (oversubscribed)"
  "mt_remote_50_t8|bench_mt_remote|8 $(( MT_ITERS / 4 )) 400 16 1039 50|0|1|mt_remote_50_t8: as mt_remote_50 with 8 threads x $(( MT_ITERS / 4 )) ops"
  "larson|bench_larson|2 $LARSON_OPS 8 1000 1000 4141|0|1|larson: 2 threads x $LARSON_OPS ops on a shared array of 2000 blocks (8..1000 B) swapped by atomic exchange; an op is one malloc + one free"
  "larson_t4|bench_larson|4 $(( LARSON_OPS / 2 )) 8 1000 1000 4141|0|1|larson_t4: as larson with 4 threads x $(( LARSON_OPS / 2 )) ops (4000 blocks)"
  "larson_t8|bench_larson|8 $(( LARSON_OPS / 4 )) 8 1000 1000 4141|0|1|larson_t8: as larson with 8 threads x $(( LARSON_OPS / 4 )) ops (8000 blocks)"
  "handoff|bench_handoff|$HANDOFF_BLOCKS 16 1024 1000 0 1|0|1|handoff: one thread only allocates ($HANDOFF_BLOCKS blocks, 16..1024 B), another only frees them; 1000 in flight through a queue; an op is one malloc + one free"
  "free_only_consumer|bench_handoff|2000000 1000 1000 1000 1 10000|0|1|free_only_consumer (memory): a producer mallocs 2000000 blocks of 1000 B, hands 99% to a thread that only frees and frees the other 1% itself from a ring of 10000; about 10000 blocks live"
  "large_churn|bench_large_churn|$CHURN_STEPS 20 64 32768 1|0|0|large_churn: 20 live buffers, each step replaces a random one with a buffer of 64 KiB..32 MiB (uniform) and writes every page; $CHURN_STEPS steps (an op is one malloc + one free)"
  "large_churn_t2|bench_large_churn|$CHURN_STEPS 20 64 32768 2|0|1|large_churn_t2: as large_churn, each replaced buffer freed by a second thread"
  "handoff_large|bench_handoff|$LARGE_BLOCKS 100000 100000 64 0 1|0|1|handoff_large: one thread mallocs $LARGE_BLOCKS blocks of 100 KB, another frees every one of them; 64 in flight"
  "node_window|node_window.sh|200000|0|0|node_window (memory): node keeping a window of the last 500 of 200000 Buffers of 1..65536 B, freed by its garbage collector (a helper thread); ops/s are Buffers per second of the whole process"
)

# Runs one benchmark; prints its stdout. $1 allocator, $2 binary, $3 args.
# Extra leading words in RUN_PREFIX (e.g. strace) wrap the process.
run_bench() {
  local alloc="$1" bin="$2" args="$3" spec="${ALLOC[$1]}" exe="$BENCH/$2"
  local -a env_args=()
  case "$spec" in
    direct) exe="$BENCH/${bin}_hk" ;;
    preload:*) env_args=("LD_PRELOAD=${spec#preload:}") ;;
  esac
  [ "$bin" = node_window.sh ] && exe="$ROOT/bench/node_window.sh" # a script: preload applies to node
  [ -x "$exe" ] || return 3
  # shellcheck disable=SC2086
  timeout 600 env "${env_args[@]}" "$exe" $args
}

# $1 floor-ok flag, $2 rotation (so no allocator always runs first), $3 binary
allocators_for() {
  local a i n=${#ORDER[@]}
  for ((i = 0; i < n; i++)); do
    a="${ORDER[$(( (i + ${2:-0}) % n ))]}"
    if [ "$a" = floor ] && [ "$1" != 1 ]; then continue; fi
    if [ "$a" = hakmem-direct ] && [ "${3:-}" = node_window.sh ]; then continue; fi # no direct build of node
    echo "$a"
  done
}

pingpong_ns() { "$BENCH/bench_pingpong" 5000 2>/dev/null | sed -n 's/.*ns_per_round=\([0-9]*\).*/\1/p'; }

RES="$BUILD_DIR/bench-results"
mkdir -p "$RES" "$OUT_DIR"
RAW="$RES/raw.csv"; VM="$RES/vm.csv"; SYS="$RES/syscalls.csv"; CG="$RES/callgrind.csv"; META="$RES/meta.txt"; NOTES="$RES/notes.txt"
STEADY="$RES/steady.csv"
echo "workload,allocator,rep,throughput,rss_kb,pingpong_ns,minflt_per_op" >"$RAW"
echo "workload,allocator,syscalls,ops" >"$SYS"
echo "allocator,calls_short,ops_short,calls_long,ops_long" >"$STEADY"
rm -f "$CG"
: >"$NOTES"
for w in "${WORKLOADS[@]}"; do IFS='|' read -r _ _ _ _ _ desc <<<"$w"; echo "$desc" >>"$NOTES"; done

# One repetition of one workload: every allocator once, back to back, with a
# ping-pong before each run of a multi-thread lane. Prints how many runs of
# the repetition had a ping-pong above PINGPONG_MAX_NS (0: it qualifies).
run_rep() { # $1 workload line, $2 rep
  local name bin args floor_ok mt pp out tp rss slow=0
  IFS='|' read -r name bin args floor_ok mt _ <<<"$1"
  for alloc in $(allocators_for "$floor_ok" "$2" "$bin"); do
    pp=""
    if [ "$mt" = 1 ]; then
      pp="$(pingpong_ns)"
      if [ -z "$pp" ] || [ "$pp" -gt "$PINGPONG_MAX_NS" ]; then slow=$((slow + 1)); fi
    fi
    out="$(run_bench "$alloc" "$bin" "$args" 2>"$RES/last.err")" || {
      log "FAILED: $name/$alloc rep $2 (exit $?): $(tail -2 "$RES/last.err" | tr '\n' ' ')"
      echo "$name,$alloc,$2,,,$pp," >>"$RAW"; continue; }
    tp="$(sed -n 's/^Throughput = \([0-9.]*\) ops\/s.*/\1/p' <<<"$out")"
    rss="$(sed -n 's/^\[RSS\] max_kb=\([0-9]*\).*/\1/p' <<<"$out")"
    flt="$(sed -n 's/^\[FAULTS\] .*per_op=\([0-9.]*\).*/\1/p' <<<"$out")"
    echo "$name,$alloc,$2,$tp,$rss,$pp,$flt" >>"$RAW"
  done
  echo "$slow"
}

# ---- throughput: interleaved repetitions --------------------------------------
log "mode=$MODE reps=$REPS allocators: ${ORDER[*]}"
declare -A QUALIFIED=()
for rep in $(seq 1 "$REPS"); do
  for w in "${WORKLOADS[@]}"; do
    name="${w%%|*}"
    slow="$(run_rep "$w" "$rep")"
    [ "$slow" = 0 ] && QUALIFIED[$name]=$(( ${QUALIFIED[$name]:-0} + 1 ))
  done
  log "rep $rep/$REPS done ($(( $(date +%s) - START_TIME )) s)"
done
# Multi-thread lanes: more repetitions until MT_MIN_QUALIFIED ran in parallel.
for w in "${WORKLOADS[@]}"; do
  IFS='|' read -r name _ _ _ mt _ <<<"$w"
  [ "$mt" = 1 ] || continue
  rep=$REPS
  while [ "${QUALIFIED[$name]:-0}" -lt "$MT_MIN_QUALIFIED" ] && [ "$rep" -lt "$MT_MAX_REPS" ]; do
    rep=$((rep + 1))
    slow="$(run_rep "$w" "$rep")"
    [ "$slow" = 0 ] && QUALIFIED[$name]=$(( ${QUALIFIED[$name]:-0} + 1 ))
  done
  log "$name: ${QUALIFIED[$name]:-0} of $rep repetitions ran with both cores in parallel (ping-pong <= $PINGPONG_MAX_NS ns)"
done

# ---- syscalls: one shorter traced run per cell --------------------------------
shorter() { # divides the op-count argument of a workload by 4
  local bin="$1"; shift
  local -a a
  read -r -a a <<<"$*"
  case "$bin" in
    bench_random_mixed|bench_handoff|bench_large_churn) a[0]=$(( a[0] / 4 )) ;;
    bench_mt_remote|bench_larson) a[1]=$(( a[1] / 4 )) ;;
  esac
  echo "${a[*]}"
}
if command -v strace >/dev/null 2>&1; then
  log "syscall counts (strace)"
  for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r name bin args floor_ok _ _ <<<"$w"
    [ "$bin" = node_window.sh ] && continue # node's own mappings would swamp the count
    sargs="$(shorter "$bin" "$args")"
    for alloc in $(allocators_for "$floor_ok" 0 "$bin"); do
      spec="${ALLOC[$alloc]}"; exe="$BENCH/$bin"; envopt=()
      case "$spec" in
        direct) exe="$BENCH/${bin}_hk" ;;
        preload:*) envopt=(-E "LD_PRELOAD=${spec#preload:}") ;;  # only the tracee gets it
      esac
      trace="$RES/strace.$name.$alloc.txt"
      # shellcheck disable=SC2086
      out="$(timeout 600 strace -f -c -e trace=mmap,munmap,madvise,brk,mprotect -o "$trace" \
             "${envopt[@]}" "$exe" $sargs 2>/dev/null)" || { log "strace run failed: $name/$alloc"; continue; }
      calls="$(awk '$NF=="total"{print $4}' "$trace")"
      ops="$(sed -n 's/^\[OPS\] .*total=\([0-9]*\).*/\1/p' <<<"$out")"
      [ -n "$calls" ] && [ -n "$ops" ] && echo "$name,$alloc,$calls,$ops" >>"$SYS"
    done
  done
  # After warm-up: the same workload traced at two lengths; what the longer
  # run makes beyond the shorter one is what the steady state costs.
  log "syscalls after warm-up (strace, random_mixed at two lengths)"
  for alloc in hakmem hakmem-direct mimalloc; do
    [ -n "${ALLOC[$alloc]:-}" ] || continue
    spec="${ALLOC[$alloc]}"; exe="$BENCH/bench_random_mixed"; envopt=()
    case "$spec" in
      direct) exe="$BENCH/bench_random_mixed_hk" ;;
      preload:*) envopt=(-E "LD_PRELOAD=${spec#preload:}") ;;
    esac
    line="$alloc"
    for n in $(( RM_ITERS / 40 )) "$RM_ITERS"; do
      trace="$RES/strace.steady.$alloc.$n.txt"
      out="$(timeout 600 strace -f -c -e trace=mmap,munmap,madvise,brk,mprotect,mremap -o "$trace" \
             "${envopt[@]}" "$exe" "$n" 400 1 2>/dev/null)" || { line=""; break; }
      line="$line,$(awk '$NF=="total"{print $4}' "$trace"),$(sed -n 's/^\[OPS\] .*total=\([0-9]*\).*/\1/p' <<<"$out")"
    done
    [ -n "$line" ] && echo "$line" >>"$STEADY"
  done
else
  log "strace not found: no syscall column"
fi

# ---- address space: hakmem-direct's peak virtual size beside what it mapped ----
log "address space (hakmem-direct: VmPeak and the heap's peak mapped bytes)"
echo "workload,vm_peak_kb,peak_mapped_kb" >"$VM"
for w in "${WORKLOADS[@]}"; do
  IFS='|' read -r name bin args _ _ _ <<<"$w"
  [ -x "$BENCH/${bin}_hk" ] || continue
  out="$(run_bench hakmem-direct "$bin" "$args" 2>/dev/null)" || { log "vm run failed: $name"; continue; }
  vm="$(sed -n 's/^\[VM\] peak_kb=\([0-9]*\).*/\1/p' <<<"$out")"
  mapped="$(sed -n 's/^\[HK\] .*peak_mapped_kb=\([0-9]*\).*/\1/p' <<<"$out")"
  [ -n "$vm" ] && [ -n "$mapped" ] && echo "$name,$vm,$mapped" >>"$VM"
done

# ---- callgrind lane -----------------------------------------------------------
if [ "$CALLGRIND" = 1 ]; then
  if command -v valgrind >/dev/null 2>&1; then
    log "callgrind: random_mixed $CG_ITERS 400 1"
    echo "allocator,ir,ops" >"$CG"
    for alloc in floor glibc mimalloc jemalloc tcmalloc hakmem hakmem-direct; do
      [ -n "${ALLOC[$alloc]:-}" ] || continue
      spec="${ALLOC[$alloc]}"; exe="$BENCH/bench_random_mixed"; pre=""
      case "$spec" in
        direct) exe="$BENCH/bench_random_mixed_hk" ;;
        preload:*) pre="${spec#preload:}" ;;
      esac
      cgout="$RES/callgrind.$alloc.out"
      out="$(LD_PRELOAD="$pre" timeout 1200 valgrind --tool=callgrind --callgrind-out-file="$cgout" \
             "$exe" "$CG_ITERS" 400 1 2>/dev/null)" || { log "callgrind failed: $alloc"; echo "$alloc,," >>"$CG"; continue; }
      ir="$(awk '/^(summary|totals):/{print $2; exit}' "$cgout")"
      ops="$(sed -n 's/^\[OPS\] .*total=\([0-9]*\).*/\1/p' <<<"$out")"
      echo "$alloc,$ir,$ops" >>"$CG"
    done
  else
    log "valgrind not found: no callgrind lane"
  fi
fi

# ---- Google Benchmark microbenchmarks ----------------------------------------
MICRO_DIR="$RES/micro"
rm -rf "$MICRO_DIR"
if [ "$MICRO" = 1 ]; then
  if [ -x "$BENCH/bench_micro" ]; then
    # Interleaved like the other lanes: each round runs every allocator
    # once, so drift in machine load hits all of them alike; the report
    # takes the median over the rounds.
    log "microbenchmarks (Google Benchmark, $REPS interleaved rounds)"
    mkdir -p "$MICRO_DIR"
    for rep in $(seq 1 "$REPS"); do
      for alloc in "${ORDER[@]}"; do
        [ "$alloc" = floor ] && continue  # sizes above 1088 B and realloc chains: not its lane
        spec="${ALLOC[$alloc]}"; exe="$BENCH/bench_micro"; pre=""
        case "$spec" in
          direct) exe="$BENCH/bench_micro_hk" ;;
          preload:*) pre="${spec#preload:}" ;;
        esac
        [ -x "$exe" ] || continue
        LD_PRELOAD="$pre" timeout 900 "$exe" --benchmark_min_time="$MICRO_MIN_TIME" \
          --benchmark_format=json --benchmark_out="$MICRO_DIR/$alloc.r$rep.json" \
          --benchmark_out_format=json >/dev/null 2>>"$MICRO_DIR/$alloc.err" \
          || log "microbenchmarks failed: $alloc (round $rep)"
      done
    done
  else
    log "bench_micro not built (libbenchmark-dev missing?): no micro lane"
  fi
fi

# ---- report -------------------------------------------------------------------
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "n/a"; }
{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "mode=$MODE"
  echo "reps=$REPS"
  echo "machine=$(uname -m)"
  echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "nproc=$(nproc)"
  echo "kernel=$(uname -r)"
  echo "commit=$(git -C "$ROOT" describe --always --dirty --abbrev=7 2>/dev/null || echo unknown)"
  echo "version.hakmem=$(sed -n 's/^#define HK_VERSION_STRING "\(.*\)"/\1/p' "$ROOT/include/hakmem/hakmem.h")"
  echo "version.glibc=$(ver "libc6:$(dpkg --print-architecture 2>/dev/null)")"
  echo "version.mimalloc=$(ver libmimalloc2.0)"
  echo "version.jemalloc=$(ver libjemalloc2)"
  echo "version.tcmalloc=$(ver libgoogle-perftools4)"
} >"$META"

CHART="$OUT_DIR/benchmarks.png"
command -v gnuplot >/dev/null 2>&1 || CHART=""
echo "pingpong_max_ns=$PINGPONG_MAX_NS" >>"$META"
python3 "$ROOT/bench/report.py" --raw "$RAW" --vm "$VM" --syscalls "$SYS" --steady "$STEADY" --callgrind "$CG" --meta "$META" \
  --notes "$NOTES" --micro-dir "$MICRO_DIR" --md "$OUT_DIR/benchmarks.md" ${CHART:+--chart "$CHART"} --workdir "$RES"
log "total time $(( $(date +%s) - START_TIME )) s; raw data in $RES"
