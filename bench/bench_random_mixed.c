/* bench_random_mixed ITERS WS SEED [MIN MAX]
 * bench_random_mixed --soak SECONDS EPOCH_OPS CSV [options]   (see bench_soak.c)
 *
 * Single-threaded malloc/free mix over WS slots (see rm_workload.h). An
 * untimed prefault of ITERS/10 ops with a different seed warms the
 * allocator's caches first; the timed part is the ITERS ops plus the final
 * drain. Standard run: 20000000 400 1 (sizes 16..1039). */
#include "rm_workload.h"

BENCH_HEAP_DEFINITION;

int bench_soak_main(int argc, char **argv); /* bench_soak.c */

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s ITERS WS SEED [MIN MAX]\n"
          "       %s --soak SECONDS EPOCH_OPS CSV [--churn THREADS] [--sample N]\n"
          "                 [--ws WS] [--min MIN] [--max MAX] [--seed SEED]\n",
          prog, prog);
}

static int run_loop(rm_work_t *w, uint64_t iters) {
  for (uint64_t i = 0; i < iters; i++) {
    if (rm_op(w) < 0) {
      fprintf(stderr, "allocation failed at op %llu\n", (unsigned long long)i);
      return -1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "--soak") == 0) return bench_soak_main(argc, argv);
  if (argc != 4 && argc != 6) {
    usage(argv[0]);
    return 2;
  }
  uint64_t iters = bench_parse_u64(argv[1], "ITERS");
  uint64_t ws = bench_parse_u64(argv[2], "WS");
  uint64_t seed = bench_parse_u64(argv[3], "SEED");
  uint64_t min = 16, max = 1039;
  if (argc == 6) {
    min = bench_parse_u64(argv[4], "MIN");
    max = bench_parse_u64(argv[5], "MAX");
  }
  if (ws == 0 || ws > UINT32_MAX || max < min || max > UINT32_MAX - 1 || seed > UINT32_MAX) {
    fprintf(stderr, "bad arguments: need WS >= 1, MIN <= MAX < 2^32-1, SEED < 2^32\n");
    return 2;
  }
  bench_init_allocator();

  rm_work_t w;
  /* Prefault with an unrelated seed so the timed part does not replay it. */
  if (rm_init(&w, (uint32_t)ws, (uint32_t)min, (uint32_t)max, (uint32_t)seed ^ 0x5bd1e995u) != 0) {
    fprintf(stderr, "setup failed\n");
    return 1;
  }
  uint64_t prefault = iters / 10;
  if (run_loop(&w, prefault) != 0) return 1;
  rm_drain(&w);
  w.state = bench_seed((uint32_t)seed);

  double t0 = bench_now();
  if (run_loop(&w, iters) != 0) return 1;
  rm_drain(&w);
  double t1 = bench_now();

  printf("[CONFIG] allocator=%s iters=%llu ws=%llu seed=%llu min=%llu max=%llu\n",
         BENCH_ALLOCATOR_NAME, (unsigned long long)iters, (unsigned long long)ws,
         (unsigned long long)seed, (unsigned long long)min, (unsigned long long)max);
  /* total counts the prefault too: it is what a syscall tracer sees. */
  printf("[OPS] timed=%llu total=%llu\n", (unsigned long long)iters,
         (unsigned long long)(iters + prefault));
  bench_print_result((double)iters, t1 - t0);
  rm_fini(&w);
  return 0;
}
