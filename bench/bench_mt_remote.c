/* bench_mt_remote THREADS ITERS WS MIN MAX REMOTE_PCT [SEED]
 *
 * Every thread runs the random_mixed loop (ITERS ops over WS slots, sizes
 * MIN..MAX). When a full slot is freed, REMOTE_PCT% of the time the block is
 * handed to another thread through a single-producer/single-consumer ring
 * (one per ordered thread pair) and freed there: the remote-free path. A
 * thread empties its inbound rings every DRAIN_EVERY ops; a producer facing
 * a full ring drains its own inbound rings until there is room.
 *
 * Throughput = THREADS*ITERS / wall time from the start barrier to the last
 * join (rings drained, slots freed). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "bench_common.h"

BENCH_HEAP_DEFINITION;

#define RING_CAP 4096u /* power of two */
#define DRAIN_EVERY 64u

typedef struct ring {
  _Alignas(64) _Atomic size_t head; /* consumer position */
  _Alignas(64) _Atomic size_t tail; /* producer position */
  _Alignas(64) void *buf[RING_CAP];
} ring_t;

typedef struct shared {
  uint32_t threads, ws, min, span, pct;
  uint64_t iters;
  uint32_t seed;
  ring_t *rings; /* rings[from * threads + to] */
  pthread_barrier_t start;
  _Atomic uint32_t done;
} shared_t;

typedef struct worker {
  shared_t *sh;
  uint32_t tid;
  uint64_t remote, full_waits, received;
  int failed;
} worker_t;

static int ring_push(ring_t *r, void *p) {
  size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  size_t h = atomic_load_explicit(&r->head, memory_order_acquire);
  if (t - h >= RING_CAP) return 0;
  r->buf[t & (RING_CAP - 1)] = p;
  atomic_store_explicit(&r->tail, t + 1, memory_order_release);
  return 1;
}

static uint64_t ring_drain(ring_t *r) {
  size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  size_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
  for (size_t i = h; i != t; i++) bench_free(r->buf[i & (RING_CAP - 1)]);
  atomic_store_explicit(&r->head, t, memory_order_release);
  return t - h;
}

static uint64_t drain_inbound(shared_t *sh, uint32_t me) {
  uint64_t n = 0;
  for (uint32_t from = 0; from < sh->threads; from++)
    if (from != me) n += ring_drain(&sh->rings[(size_t)from * sh->threads + me]);
  return n;
}

static uint64_t drain_inbound_counted(worker_t *wk) {
  uint64_t n = drain_inbound(wk->sh, wk->tid);
  wk->received += n;
  return n;
}

static void *worker_main(void *arg) {
  worker_t *wk = (worker_t *)arg;
  shared_t *sh = wk->sh;
  const uint32_t me = wk->tid, nt = sh->threads, ws = sh->ws;
  void **slots = (void **)calloc(ws, sizeof(void *));
  uint32_t state = bench_seed(sh->seed + me * 0x9E3779B9u);
  uint32_t state2 = bench_seed(~state); /* remote decisions: independent of slot/size */
  const uint32_t mask = (sh->span & (sh->span - 1)) == 0 ? sh->span - 1 : 0;
  if (!slots) wk->failed = 1;
  pthread_barrier_wait(&sh->start);
  if (wk->failed) goto finish;

  for (uint64_t i = 0; i < sh->iters; i++) {
    uint32_t r = xorshift32(&state);
    uint32_t idx = r % ws;
    void *p = slots[idx];
    if (p) {
      slots[idx] = NULL;
      if (nt > 1 && sh->pct) {
        uint32_t r2 = xorshift32(&state2);
        if (r2 % 100u < sh->pct) {
          uint32_t to = (me + 1u + (r2 >> 8) % (nt - 1u)) % nt;
          ring_t *ring = &sh->rings[(size_t)me * nt + to];
          /* A full ring waits instead of freeing locally: otherwise a slow
           * allocator would do fewer remote frees than a fast one. Draining
           * our own inbound rings meanwhile means two threads waiting on
           * each other both make progress. */
          while (!ring_push(ring, p)) {
            wk->full_waits++;
            if (!drain_inbound_counted(wk)) sched_yield();
          }
          wk->remote++;
          goto next;
        }
      }
      bench_free(p);
    } else {
      size_t sz = (size_t)sh->min + (mask ? (r & mask) : (r % sh->span));
      p = bench_malloc(sz);
      if (!p) {
        wk->failed = 1;
        break;
      }
      *(volatile unsigned char *)p = (unsigned char)r;
      bench_escape(p);
      slots[idx] = p;
    }
  next:
    if ((i & (DRAIN_EVERY - 1)) == DRAIN_EVERY - 1) drain_inbound_counted(wk);
  }
  for (uint32_t i = 0; i < ws; i++) bench_free(slots[i]);

finish:
  free(slots);
  atomic_fetch_add_explicit(&sh->done, 1, memory_order_acq_rel);
  /* Peers may still push until they finish; only after all are done is one
   * last drain guaranteed to see every block sent to us. */
  while (atomic_load_explicit(&sh->done, memory_order_acquire) < nt)
    if (!drain_inbound_counted(wk)) sched_yield();
  drain_inbound_counted(wk);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 7 && argc != 8) {
    fprintf(stderr, "usage: %s THREADS ITERS WS MIN MAX REMOTE_PCT [SEED]\n", argv[0]);
    return 2;
  }
  uint64_t threads = bench_parse_u64(argv[1], "THREADS");
  uint64_t iters = bench_parse_u64(argv[2], "ITERS");
  uint64_t ws = bench_parse_u64(argv[3], "WS");
  uint64_t min = bench_parse_u64(argv[4], "MIN");
  uint64_t max = bench_parse_u64(argv[5], "MAX");
  uint64_t pct = bench_parse_u64(argv[6], "REMOTE_PCT");
  uint64_t seed = argc == 8 ? bench_parse_u64(argv[7], "SEED") : 1;
  if (threads == 0 || threads > 256 || ws == 0 || ws > UINT32_MAX || max < min ||
      max > UINT32_MAX - 1 || pct > 100 || seed > UINT32_MAX) {
    fprintf(stderr, "bad arguments: THREADS 1..256, WS >= 1, MIN <= MAX, REMOTE_PCT 0..100\n");
    return 2;
  }
  bench_init_allocator();

  shared_t sh = {.threads = (uint32_t)threads, .ws = (uint32_t)ws, .min = (uint32_t)min,
                 .span = (uint32_t)(max - min + 1), .pct = (uint32_t)pct, .iters = iters,
                 .seed = (uint32_t)seed};
  atomic_init(&sh.done, 0);
  size_t nrings = (size_t)threads * threads;
  sh.rings = (ring_t *)aligned_alloc(64, nrings * sizeof(ring_t));
  worker_t *wk = (worker_t *)calloc(threads, sizeof(worker_t));
  pthread_t *th = (pthread_t *)calloc(threads, sizeof(pthread_t));
  if (!sh.rings || !wk || !th) {
    fprintf(stderr, "setup failed\n");
    free(sh.rings);
    free(wk);
    free(th);
    return 1;
  }
  for (size_t i = 0; i < nrings; i++) {
    atomic_init(&sh.rings[i].head, 0);
    atomic_init(&sh.rings[i].tail, 0);
  }
  pthread_barrier_init(&sh.start, NULL, (unsigned)threads + 1);
  for (uint32_t i = 0; i < threads; i++) wk[i] = (worker_t){.sh = &sh, .tid = i};
  bench_start_threads(th, (uint32_t)threads, worker_main, wk, sizeof(worker_t));
  pthread_barrier_wait(&sh.start);
  double t0 = bench_now();
  uint64_t remote = 0, full_waits = 0, received = 0;
  int failed = 0;
  for (uint32_t i = 0; i < threads; i++) {
    pthread_join(th[i], NULL);
    remote += wk[i].remote;
    full_waits += wk[i].full_waits;
    received += wk[i].received;
    failed |= wk[i].failed;
  }
  double t1 = bench_now();
  pthread_barrier_destroy(&sh.start);
  if (failed) {
    fprintf(stderr, "allocation failed\n");
    return 1;
  }
  if (received != remote) {
    fprintf(stderr, "ring accounting mismatch: sent %llu received %llu\n",
            (unsigned long long)remote, (unsigned long long)received);
    return 1;
  }
  printf("[CONFIG] allocator=%s threads=%llu iters=%llu ws=%llu min=%llu max=%llu remote_pct=%llu\n",
         BENCH_ALLOCATOR_NAME, (unsigned long long)threads, (unsigned long long)iters,
         (unsigned long long)ws, (unsigned long long)min, (unsigned long long)max,
         (unsigned long long)pct);
  printf("[REMOTE] remote_frees=%llu ring_full_waits=%llu\n", (unsigned long long)remote,
         (unsigned long long)full_waits);
  printf("[OPS] timed=%llu total=%llu\n", (unsigned long long)(threads * iters),
         (unsigned long long)(threads * iters));
  bench_print_result((double)(threads * iters), t1 - t0);
  free(sh.rings);
  free(wk);
  free(th);
  return 0;
}
