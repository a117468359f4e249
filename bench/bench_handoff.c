/* bench_handoff TOTAL MIN MAX INFLIGHT KEEP_PCT KEEP_RING [SEED]
 *
 * Producer/consumer: the producer thread only allocates, the consumer thread
 * only frees. The producer mallocs TOTAL blocks of MIN..MAX bytes (writing
 * their first and last byte) and hands them to the consumer through a
 * single-producer/single-consumer queue of INFLIGHT pointers; the consumer
 * reads each block's first byte and frees it, and never mallocs.
 *
 * KEEP_PCT% of the blocks the producer keeps instead: it puts them in a
 * ring of KEEP_RING slots and frees the block the ring slot held before, so
 * the producer also frees its own (older) blocks. The live set is at most
 * INFLIGHT + KEEP_RING blocks, so memory should plateau:
 *
 *   handoff lane:   bench_handoff 10000000 16 1024 1000 0 1
 *   RSS workload:   bench_handoff 2000000 1000 1000 1000 1 10000
 *
 * Throughput = TOTAL / wall time (an op is one malloc and one free). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "bench_common.h"

BENCH_HEAP_DEFINITION;

typedef struct queue {
  _Alignas(64) _Atomic size_t head; /* consumer position */
  _Alignas(64) _Atomic size_t tail; /* producer position */
  _Alignas(64) size_t cap;          /* power of two */
  void **buf;
} queue_t;

typedef struct shared {
  queue_t q;
  uint64_t total;
  uint32_t min, span, keep_pct, seed;
  uint64_t ring_n;
  _Atomic int done;
  pthread_barrier_t start;
  int failed;
} shared_t;

static void *consumer_main(void *arg) {
  shared_t *sh = (shared_t *)arg;
  queue_t *q = &sh->q;
  unsigned sum = 0;
  pthread_barrier_wait(&sh->start);
  size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
  for (;;) {
    size_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (t == h) {
      if (atomic_load_explicit(&sh->done, memory_order_acquire) &&
          atomic_load_explicit(&q->tail, memory_order_acquire) == h)
        break;
      sched_yield();
      continue;
    }
    for (; h != t; h++) {
      void *p = q->buf[h & (q->cap - 1)];
      sum += *(volatile unsigned char *)p;
      bench_free(p);
    }
    atomic_store_explicit(&q->head, h, memory_order_release);
  }
  bench_escape(&sum);
  return NULL;
}

static void *producer_main(void *arg) {
  shared_t *sh = (shared_t *)arg;
  queue_t *q = &sh->q;
  uint32_t state = bench_seed(sh->seed);
  void **ring = sh->ring_n ? (void **)calloc(sh->ring_n, sizeof(void *)) : NULL;
  uint64_t ring_pos = 0;
  if (sh->ring_n && !ring) sh->failed = 1;
  pthread_barrier_wait(&sh->start);
  size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
  size_t h = atomic_load_explicit(&q->head, memory_order_acquire);
  for (uint64_t i = 0; i < sh->total && !sh->failed; i++) {
    uint32_t r = xorshift32(&state);
    size_t sz = (size_t)sh->min + r % sh->span;
    unsigned char *p = (unsigned char *)bench_malloc(sz);
    if (!p) {
      sh->failed = 1;
      break;
    }
    p[0] = (unsigned char)r;
    p[sz - 1] = (unsigned char)i;
    bench_escape(p);
    if (ring && (r >> 8) % 100u < sh->keep_pct) {
      void **slot = &ring[ring_pos++ % sh->ring_n];
      bench_free(*slot);
      *slot = p;
      continue;
    }
    while (t - h >= q->cap) { /* full: wait for the consumer */
      h = atomic_load_explicit(&q->head, memory_order_acquire);
      if (t - h >= q->cap) sched_yield();
    }
    q->buf[t & (q->cap - 1)] = p;
    t++;
    /* Publish in small batches: one shared-line write per 8 blocks, so the
     * queue costs less than what it measures. */
    if ((t & 7) == 0) atomic_store_explicit(&q->tail, t, memory_order_release);
  }
  atomic_store_explicit(&q->tail, t, memory_order_release);
  atomic_store_explicit(&sh->done, 1, memory_order_release);
  if (ring) {
    for (uint64_t i = 0; i < sh->ring_n; i++) bench_free(ring[i]);
    free(ring);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 7 && argc != 8) {
    fprintf(stderr, "usage: %s TOTAL MIN MAX INFLIGHT KEEP_PCT KEEP_RING [SEED]\n", argv[0]);
    return 2;
  }
  uint64_t total = bench_parse_u64(argv[1], "TOTAL");
  uint64_t min = bench_parse_u64(argv[2], "MIN");
  uint64_t max = bench_parse_u64(argv[3], "MAX");
  uint64_t inflight = bench_parse_u64(argv[4], "INFLIGHT");
  uint64_t keep = bench_parse_u64(argv[5], "KEEP_PCT");
  uint64_t ring_n = bench_parse_u64(argv[6], "KEEP_RING");
  uint64_t seed = argc == 8 ? bench_parse_u64(argv[7], "SEED") : 1;
  if (min == 0 || max < min || max > UINT32_MAX - 1 || inflight == 0 || inflight > (1u << 24) ||
      keep > 100 || ring_n > (1u << 24) || (keep && !ring_n) || seed > UINT32_MAX) {
    fprintf(stderr, "bad arguments: 1 <= MIN <= MAX, INFLIGHT >= 1, KEEP_PCT 0..100 (needs a ring)\n");
    return 2;
  }
  bench_init_allocator();
  shared_t sh = {.total = total, .min = (uint32_t)min, .span = (uint32_t)(max - min + 1),
                 .keep_pct = (uint32_t)keep, .seed = (uint32_t)seed, .ring_n = ring_n};
  size_t cap = 8;
  while (cap < inflight) cap <<= 1;
  sh.q.cap = cap;
  sh.q.buf = (void **)calloc(cap, sizeof(void *));
  atomic_init(&sh.q.head, 0);
  atomic_init(&sh.q.tail, 0);
  atomic_init(&sh.done, 0);
  if (!sh.q.buf) {
    fprintf(stderr, "setup failed\n");
    return 1;
  }
  pthread_barrier_init(&sh.start, NULL, 3);
  pthread_t prod, cons;
  if (pthread_create(&cons, NULL, consumer_main, &sh) != 0 ||
      pthread_create(&prod, NULL, producer_main, &sh) != 0) {
    fprintf(stderr, "pthread_create failed\n");
    return 1;
  }
  pthread_barrier_wait(&sh.start);
  double t0 = bench_now();
  pthread_join(prod, NULL);
  pthread_join(cons, NULL);
  double t1 = bench_now();
  pthread_barrier_destroy(&sh.start);
  free(sh.q.buf);
  if (sh.failed) {
    fprintf(stderr, "allocation failed\n");
    return 1;
  }
  printf("[CONFIG] allocator=%s total=%llu min=%llu max=%llu inflight=%zu keep_pct=%llu ring=%llu\n",
         BENCH_ALLOCATOR_NAME, (unsigned long long)total, (unsigned long long)min,
         (unsigned long long)max, cap, (unsigned long long)keep, (unsigned long long)ring_n);
  printf("[OPS] timed=%llu total=%llu\n", (unsigned long long)total, (unsigned long long)total);
  bench_print_result((double)total, t1 - t0);
  return 0;
}
