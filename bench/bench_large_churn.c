/* bench_large_churn STEPS LIVE MIN_KB MAX_KB THREADS [SEED]
 *
 * Large-buffer churn, as decoders, compressors and growing vectors do it:
 * LIVE buffers; each step replaces a random one with a buffer of a random
 * size in MIN_KB..MAX_KB (uniform), and writes every 4 KiB page of it.
 * With THREADS = 2 the replaced buffer is freed by a second thread (handed
 * over through a ring), so every free is a cross-thread free.
 *
 *   large_churn:    bench_large_churn 4000 20 64 32768 1
 *   large_churn_t2: bench_large_churn 4000 20 64 32768 2
 *
 * Prints [OPS] (an op is one malloc and one free), [TIME], [RSS] and
 * [FAULTS] minor=N per_op=X (getrusage ru_minflt over the timed steps). */
#include <sched.h>
#include <stdatomic.h>

#include "bench_common.h"

BENCH_HEAP_DEFINITION;

#define RING 64 /* power of two */

typedef struct ring {
  _Alignas(64) _Atomic size_t put;
  _Alignas(64) _Atomic size_t got;
  _Alignas(64) void *slot[RING];
  _Atomic int done;
} ring_t;

static void *freer(void *arg) {
  ring_t *r = arg;
  size_t got = 0;
  for (;;) {
    size_t put = atomic_load_explicit(&r->put, memory_order_acquire);
    if (got == put) {
      if (atomic_load_explicit(&r->done, memory_order_acquire) &&
          got == atomic_load_explicit(&r->put, memory_order_acquire))
        return NULL;
      sched_yield();
      continue;
    }
    bench_free(r->slot[got % RING]);
    atomic_store_explicit(&r->got, ++got, memory_order_release);
  }
}

static void hand_over(ring_t *r, void *p) {
  size_t put = atomic_load_explicit(&r->put, memory_order_relaxed);
  while (put - atomic_load_explicit(&r->got, memory_order_acquire) == RING) sched_yield();
  r->slot[put % RING] = p;
  atomic_store_explicit(&r->put, put + 1, memory_order_release);
}

static long minor_faults(void) {
  struct rusage ru;
  return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s STEPS LIVE MIN_KB MAX_KB THREADS [SEED]\n", argv[0]);
    return 2;
  }
  uint64_t steps = bench_parse_u64(argv[1], "STEPS");
  size_t live = (size_t)bench_parse_u64(argv[2], "LIVE");
  size_t min = (size_t)bench_parse_u64(argv[3], "MIN_KB") << 10;
  size_t max = (size_t)bench_parse_u64(argv[4], "MAX_KB") << 10;
  unsigned threads = (unsigned)bench_parse_u64(argv[5], "THREADS");
  uint32_t seed = bench_seed(argc > 6 ? (uint32_t)bench_parse_u64(argv[6], "SEED") : 1);
  if (live == 0 || max < min || threads < 1 || threads > 2) {
    fprintf(stderr, "bench_large_churn: LIVE >= 1, MIN_KB <= MAX_KB, THREADS 1 or 2\n");
    return 2;
  }
  bench_init_allocator();
  void **buf = calloc(live, sizeof *buf);
  ring_t *r = calloc(1, sizeof *r);
  if (buf == NULL || r == NULL) return 1;
  pthread_t th;
  if (threads == 2 && pthread_create(&th, NULL, freer, r) != 0) return 1;
  /* Fill the live set first (untimed), then churn. */
  uint64_t total = steps + live;
  long faults0 = 0;
  double t0 = 0;
  for (uint64_t i = 0; i < total; i++) {
    if (i == live) {
      faults0 = minor_faults();
      t0 = bench_now();
    }
    size_t k = i < live ? (size_t)i : xorshift32(&seed) % live;
    size_t size = min + (size_t)(((uint64_t)xorshift32(&seed) * (max - min + 1)) >> 32);
    unsigned char *p = bench_malloc(size);
    if (p == NULL) {
      fprintf(stderr, "bench_large_churn: malloc(%zu) failed\n", size);
      return 1;
    }
    for (size_t off = 0; off < size; off += 4096) p[off] = (unsigned char)i;
    p[size - 1] = (unsigned char)i;
    bench_escape(p);
    if (buf[k] != NULL) {
      if (threads == 2) hand_over(r, buf[k]);
      else bench_free(buf[k]);
    }
    buf[k] = p;
  }
  double seconds = bench_now() - t0;
  long faults = minor_faults() - faults0;
  if (threads == 2) {
    atomic_store_explicit(&r->done, 1, memory_order_release);
    pthread_join(th, NULL);
  }
  printf("[OPS] timed=%llu total=%llu\n", (unsigned long long)steps, (unsigned long long)total);
  bench_print_result((double)steps, seconds);
  printf("[FAULTS] minor=%ld per_op=%.2f\n", faults, steps ? (double)faults / (double)steps : 0.0);
  for (size_t k = 0; k < live; k++) bench_free(buf[k]);
  free(buf);
  free(r);
  return 0;
}
