/* bench_larson THREADS DURATION [MIN MAX SLOTS_PER_THREAD SEED]
 *
 * Larson-style server simulation: THREADS threads share one array of
 * THREADS*SLOTS_PER_THREAD blocks. Each op allocates a block of MIN..MAX
 * bytes (default 8..1000, as in the original larson runs), swaps it into a
 * random slot with an atomic exchange and frees whatever was there, so most
 * blocks die on a thread other than the one that allocated them.
 *
 * DURATION is either seconds with an "s" suffix ("5s", "0.5s") or a plain
 * count of ops per thread ("1000000"). The array is filled before the clock
 * starts and emptied after it stops. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bench_common.h"

BENCH_HEAP_DEFINITION;

#define STOP_CHECK_EVERY 256u

typedef _Atomic(void *) slot_t;

typedef struct shared {
  slot_t *slots;
  uint32_t threads, min, span;
  uint64_t nslots, slots_per_thread;
  uint64_t ops_per_thread; /* 0: run until stop */
  uint32_t seed;
  pthread_barrier_t start;
  _Atomic int stop;
} shared_t;

typedef struct worker {
  shared_t *sh;
  uint32_t tid;
  uint64_t ops;
  int failed;
} worker_t;

static void *alloc_block(const shared_t *sh, uint32_t r) {
  void *p = bench_malloc((size_t)sh->min + r % sh->span);
  if (p) {
    *(volatile unsigned char *)p = (unsigned char)r;
    bench_escape(p);
  }
  return p;
}

static void *worker_main(void *arg) {
  worker_t *wk = (worker_t *)arg;
  shared_t *sh = wk->sh;
  uint32_t state = bench_seed(sh->seed * 2654435761u + wk->tid * 0x9E3779B9u);
  /* Each thread fills its own share first, so the timed phase starts with
   * every slot owned by some thread. */
  uint64_t first = (uint64_t)wk->tid * sh->slots_per_thread;
  for (uint64_t i = first; i < first + sh->slots_per_thread; i++) {
    void *p = alloc_block(sh, xorshift32(&state));
    if (!p) wk->failed = 1;
    atomic_store_explicit(&sh->slots[i], p, memory_order_relaxed);
  }
  pthread_barrier_wait(&sh->start);
  if (wk->failed) return NULL;

  uint64_t ops = 0;
  for (;;) {
    if (sh->ops_per_thread) {
      if (ops == sh->ops_per_thread) break;
    } else if ((ops & (STOP_CHECK_EVERY - 1)) == 0 &&
               atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
      break;
    }
    uint32_t r = xorshift32(&state);
    void *p = alloc_block(sh, r);
    if (!p) {
      wk->failed = 1;
      break;
    }
    /* acq_rel: the block we take may have been written by its allocator. */
    void *old = atomic_exchange_explicit(&sh->slots[(r >> 7) % sh->nslots], p, memory_order_acq_rel);
    bench_free(old);
    ops++;
  }
  wk->ops = ops;
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 7) {
    fprintf(stderr, "usage: %s THREADS DURATION(Ns | OPS_PER_THREAD) [MIN MAX SLOTS_PER_THREAD SEED]\n",
            argv[0]);
    return 2;
  }
  uint64_t threads = bench_parse_u64(argv[1], "THREADS");
  double seconds = 0;
  uint64_t ops_per_thread = 0;
  size_t dlen = strlen(argv[2]);
  if (dlen > 1 && argv[2][dlen - 1] == 's') {
    char *end = NULL;
    seconds = strtod(argv[2], &end);
    if (end != argv[2] + dlen - 1 || !(seconds > 0)) {
      fprintf(stderr, "invalid DURATION '%s'\n", argv[2]);
      return 2;
    }
  } else {
    ops_per_thread = bench_parse_u64(argv[2], "OPS_PER_THREAD");
    if (!ops_per_thread) {
      fprintf(stderr, "OPS_PER_THREAD must be >= 1\n");
      return 2;
    }
  }
  uint64_t min = 8, max = 1000, per = 1000, seed = 4141;
  if (argc == 7) {
    min = bench_parse_u64(argv[3], "MIN");
    max = bench_parse_u64(argv[4], "MAX");
    per = bench_parse_u64(argv[5], "SLOTS_PER_THREAD");
    seed = bench_parse_u64(argv[6], "SEED");
  }
  if (threads == 0 || threads > 1024 || per == 0 || per > (1u << 24) || max < min ||
      max > UINT32_MAX - 1 || seed > UINT32_MAX) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  bench_init_allocator();

  shared_t sh = {.threads = (uint32_t)threads, .min = (uint32_t)min, .span = (uint32_t)(max - min + 1),
                 .nslots = threads * per, .slots_per_thread = per, .ops_per_thread = ops_per_thread,
                 .seed = (uint32_t)seed};
  atomic_init(&sh.stop, 0);
  sh.slots = (slot_t *)calloc(sh.nslots, sizeof(slot_t));
  worker_t *wk = (worker_t *)calloc(threads, sizeof(worker_t));
  pthread_t *th = (pthread_t *)calloc(threads, sizeof(pthread_t));
  if (!sh.slots || !wk || !th) {
    fprintf(stderr, "setup failed\n");
    return 1;
  }
  pthread_barrier_init(&sh.start, NULL, (unsigned)threads + 1);
  for (uint32_t i = 0; i < threads; i++) wk[i] = (worker_t){.sh = &sh, .tid = i};
  bench_start_threads(th, (uint32_t)threads, worker_main, wk, sizeof(worker_t));
  pthread_barrier_wait(&sh.start);
  double t0 = bench_now();
  if (seconds > 0) {
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    atomic_store_explicit(&sh.stop, 1, memory_order_relaxed);
  }
  uint64_t total = 0;
  int failed = 0;
  for (uint32_t i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    total += wk[i].ops;
    failed |= wk[i].failed;
  }
  double t1 = bench_now();
  for (uint64_t i = 0; i < sh.nslots; i++) bench_free(atomic_load_explicit(&sh.slots[i], memory_order_relaxed));
  pthread_barrier_destroy(&sh.start);
  if (failed) {
    fprintf(stderr, "allocation failed\n");
    return 1;
  }
  printf("[CONFIG] allocator=%s threads=%llu slots=%llu min=%llu max=%llu seed=%llu mode=%s\n",
         BENCH_ALLOCATOR_NAME, (unsigned long long)threads, (unsigned long long)sh.nslots,
         (unsigned long long)min, (unsigned long long)max, (unsigned long long)seed,
         seconds > 0 ? "timed" : "ops");
  /* Each op is one malloc and one free; prefill allocations are not counted. */
  printf("[OPS] timed=%llu total=%llu\n", (unsigned long long)total,
         (unsigned long long)(total + sh.nslots));
  bench_print_result((double)total, t1 - t0);
  free(sh.slots);
  free(wk);
  free(th);
  return 0;
}
