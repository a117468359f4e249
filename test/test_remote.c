/* Frees by threads that do not own the block (remote frees): correctness
 * against a shadow model, the bounds on what a thread may hold for other
 * threads (bins, docs/design.md), heap destroy while other threads hold
 * blocks of the heap, and memory that stays bounded when one thread
 * allocates and another only frees. RSS bounds here are generous limits
 * that the unbounded growth this guards against (hundreds of MiB) breaks,
 * not performance targets: speed is measured in bench/. */
#include "test_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- a bounded single-producer/single-consumer queue -------------------------- */
#define QCAP 1024u

typedef struct {
  _Alignas(64) _Atomic size_t head;
  _Alignas(64) _Atomic size_t tail;
  _Alignas(64) void *slot[QCAP];
} queue_t;

static void q_init(queue_t *q) {
  atomic_init(&q->head, 0);
  atomic_init(&q->tail, 0);
}

static void q_push(queue_t *q, void *p) {
  size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
  while (t - atomic_load_explicit(&q->head, memory_order_acquire) >= QCAP) sched_yield();
  q->slot[t % QCAP] = p;
  atomic_store_explicit(&q->tail, t + 1, memory_order_release);
}

/* NULL when empty. */
static void *q_pop(queue_t *q) {
  size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
  if (h == atomic_load_explicit(&q->tail, memory_order_acquire)) return NULL;
  void *p = q->slot[h % QCAP];
  atomic_store_explicit(&q->head, h + 1, memory_order_release);
  return p;
}

/* ---- producer/consumer against a shadow model -------------------------------- */
/* Producers allocate blocks of many sizes from several heaps and send them
 * to consumers, which also allocate and free blocks of their own (so they
 * reuse others' blocks) and keep some received blocks a while before
 * freeing them. Every block carries a header naming its producer and
 * sequence number and an address-derived pattern; the shadow model is one
 * bit per (producer, sequence): set once when the block is freed, never
 * twice, and all set at the end. */
#define PC_PRODUCERS 2
#define PC_CONSUMERS 2
#define PC_HEAPS 3

typedef struct {
  uint64_t size;
  uint32_t producer, heap;
  uint64_t seq;
} pc_header_t;

typedef struct {
  hk_heap_t *heap[PC_HEAPS];
  queue_t q[PC_PRODUCERS][PC_CONSUMERS];
  uint64_t per_producer;
  _Atomic uint64_t *seen[PC_PRODUCERS]; /* bit per sequence number */
  _Atomic int producers_done;
  _Atomic int errors;
} pc_t;

static void pc_fail(pc_t *pc, const char *what, const void *p) {
  fprintf(stderr, "prodcons: %s %p\n", what, p);
  atomic_fetch_add(&pc->errors, 1);
}

static void *pc_make(pc_t *pc, hkt_rng_t *r, uint32_t producer, uint64_t seq) {
  uint32_t h = (uint32_t)(hkt_rng_next(r) % PC_HEAPS);
  /* Mostly small and medium sizes, a few above the 64 KiB SuperSlab limit. */
  uint64_t pick = hkt_rng_next(r) % 100;
  size_t size = pick < 70 ? hkt_rng_range(r, sizeof(pc_header_t), 1024)
                : pick < 97 ? hkt_rng_range(r, 1025, 65536)
                            : hkt_rng_range(r, 65537, 300000);
  pc_header_t *b = hk_heap_malloc(pc->heap[h], size);
  if (b == NULL) return NULL;
  hkt_fill(b + 1, size - sizeof *b, hkt_addr_seed(b));
  *b = (pc_header_t){.size = size, .producer = producer, .heap = h, .seq = seq};
  return b;
}

/* Checks a block and marks it freed in the shadow model, then frees it. */
static void pc_retire(pc_t *pc, pc_header_t *b) {
  if (b->producer >= PC_PRODUCERS || b->seq >= pc->per_producer || b->heap >= PC_HEAPS) {
    pc_fail(pc, "corrupt header in", b);
    return;
  }
  if (hk_heap_of(b) != pc->heap[b->heap]) pc_fail(pc, "wrong heap for", b);
  if (hk_usable_size(b) < b->size) pc_fail(pc, "usable size below the request for", b);
  if (!hkt_check(b + 1, b->size - sizeof *b, hkt_addr_seed(b))) pc_fail(pc, "pattern broken in", b);
  uint64_t bit = (uint64_t)1 << (b->seq % 64);
  if (atomic_fetch_or(&pc->seen[b->producer][b->seq / 64], bit) & bit)
    pc_fail(pc, "block freed twice (shadow model):", b);
  memset(b, 0, sizeof *b);
  hk_free(b);
}

typedef struct {
  pc_t *pc;
  uint32_t id;
} pc_arg_t;

static void *pc_producer(void *argp) {
  pc_arg_t *a = argp;
  pc_t *pc = a->pc;
  hkt_rng_t r;
  hkt_rng_seed(&r, 1000 + a->id);
  pc_header_t *kept[64] = {0}; /* the producer frees some of its own blocks too */
  for (uint64_t seq = 0; seq < pc->per_producer; seq++) {
    pc_header_t *b = pc_make(pc, &r, a->id, seq);
    if (b == NULL) {
      pc_fail(pc, "allocation failed", NULL);
      break;
    }
    if (hkt_rng_next(&r) % 100 < 5) {
      pc_header_t **slot = &kept[hkt_rng_next(&r) % 64];
      if (*slot) pc_retire(pc, *slot);
      *slot = b;
      continue;
    }
    q_push(&pc->q[a->id][hkt_rng_next(&r) % PC_CONSUMERS], b);
  }
  for (int i = 0; i < 64; i++)
    if (kept[i]) pc_retire(pc, kept[i]);
  atomic_fetch_add(&pc->producers_done, 1);
  return NULL;
}

static void *pc_consumer(void *argp) {
  pc_arg_t *a = argp;
  pc_t *pc = a->pc;
  hkt_rng_t r;
  hkt_rng_seed(&r, 2000 + a->id);
  pc_header_t *held[32] = {0};
  void *own[16] = {0};
  for (;;) {
    bool got = false;
    for (int p = 0; p < PC_PRODUCERS; p++) {
      pc_header_t *b = q_pop(&pc->q[p][a->id]);
      if (b == NULL) continue;
      got = true;
      if (hkt_rng_next(&r) % 4 == 0) { /* keep it a while */
        pc_header_t **slot = &held[hkt_rng_next(&r) % 32];
        if (*slot) pc_retire(pc, *slot);
        *slot = b;
      } else {
        pc_retire(pc, b);
      }
      /* Blocks of its own, in the same heaps and sizes, so the consumer
       * reuses the blocks it frees for others. */
      void **o = &own[hkt_rng_next(&r) % 16];
      if (*o) {
        if (!hkt_block_check(*o)) pc_fail(pc, "own block broken", *o);
        hk_free(*o);
      }
      size_t n = hkt_rng_range(&r, 16, 1024);
      *o = hk_heap_malloc(pc->heap[hkt_rng_next(&r) % PC_HEAPS], n);
      if (*o) hkt_block_fill(*o, n);
    }
    if (!got) {
      if (atomic_load(&pc->producers_done) == PC_PRODUCERS) {
        bool empty = true;
        for (int p = 0; p < PC_PRODUCERS; p++)
          empty &= atomic_load(&pc->q[p][a->id].head) == atomic_load(&pc->q[p][a->id].tail);
        if (empty) break;
      }
      sched_yield();
    }
  }
  for (int i = 0; i < 32; i++)
    if (held[i]) pc_retire(pc, held[i]);
  for (int i = 0; i < 16; i++) hk_free(own[i]);
  return NULL;
}

static void test_prodcons_shadow(void **state) {
  HKT_UNUSED(state);
  pc_t *pc = calloc(1, sizeof *pc);
  assert_non_null(pc);
  pc->per_producer = HKT_SCALE(60000);
  pc->heap[0] = hk_heap_default();
  hk_heap_config_t cfg;
  hk_heap_config_preset(&cfg, HK_PROFILE_SPEED);
  pc->heap[1] = hk_heap_create(&cfg);
  hk_heap_config_preset(&cfg, HK_PROFILE_LEAN);
  pc->heap[2] = hk_heap_create(&cfg);
  assert_non_null(pc->heap[1]);
  assert_non_null(pc->heap[2]);
  size_t words = (pc->per_producer + 63) / 64;
  for (int p = 0; p < PC_PRODUCERS; p++) {
    pc->seen[p] = calloc(words, sizeof(uint64_t));
    assert_non_null(pc->seen[p]);
    for (int c = 0; c < PC_CONSUMERS; c++) q_init(&pc->q[p][c]);
  }
  hk_stats_t before[PC_HEAPS];
  for (int h = 0; h < PC_HEAPS; h++) before[h] = hkt_stats(pc->heap[h]);

  pthread_t th[PC_PRODUCERS + PC_CONSUMERS];
  pc_arg_t args[PC_PRODUCERS + PC_CONSUMERS];
  for (uint32_t i = 0; i < PC_PRODUCERS + PC_CONSUMERS; i++) {
    args[i] = (pc_arg_t){.pc = pc, .id = i < PC_PRODUCERS ? i : i - PC_PRODUCERS};
    assert_int_equal(pthread_create(&th[i], NULL, i < PC_PRODUCERS ? pc_producer : pc_consumer,
                                    &args[i]), 0);
  }
  for (int i = 0; i < PC_PRODUCERS + PC_CONSUMERS; i++) pthread_join(th[i], NULL);

  assert_int_equal(atomic_load(&pc->errors), 0);
  for (int p = 0; p < PC_PRODUCERS; p++)
    for (uint64_t s = 0; s < pc->per_producer; s++)
      if (!(atomic_load(&pc->seen[p][s / 64]) & ((uint64_t)1 << (s % 64))))
        fail_msg("block %d/%llu never came back", p, (unsigned long long)s);
  /* Every thread that touched the heaps has exited (its bins went home):
   * the stats are exact again. */
  for (int h = 0; h < PC_HEAPS; h++) {
    hk_stats_t st = hkt_stats(pc->heap[h]);
    assert_int_equal(st.live_bytes, before[h].live_bytes);
    assert_true(st.remote_frees > before[h].remote_frees);
  }
  hk_heap_destroy(pc->heap[1]);
  hk_heap_destroy(pc->heap[2]);
  for (int p = 0; p < PC_PRODUCERS; p++) free(pc->seen[p]);
  free(pc);
}

/* ---- bins: what a thread holds for others ---------------------------------- */
/* A worker that allocates a class and frees many blocks of it that the
 * main thread allocated: it switches the class to bin mode and keeps them
 * for reuse. Steps are driven by the main thread. */
#define BIN_BLOCKS 600
#define BIN_SIZE 256

typedef struct {
  hk_heap_t *heap;
  void *blocks[BIN_BLOCKS];
  pthread_barrier_t step;
  void *own;
} binw_t;

static void *bin_worker(void *argp) {
  binw_t *w = argp;
  w->own = hk_heap_malloc(w->heap, BIN_SIZE); /* it allocates the class: it may reuse */
  for (int i = 0; i < BIN_BLOCKS; i++) hk_free(w->blocks[i]);
  pthread_barrier_wait(&w->step); /* 1: the main thread looks */
  pthread_barrier_wait(&w->step); /* 2: the main thread is done */
  hk_free(w->own);
  return NULL;
}

static void fill_blocks(binw_t *w) {
  for (int i = 0; i < BIN_BLOCKS; i++) {
    w->blocks[i] = hk_heap_malloc(w->heap, BIN_SIZE);
    assert_non_null(w->blocks[i]);
    memset(w->blocks[i], 0x5a, BIN_SIZE);
  }
}

/* Blocks a worker keeps in its bin at exit go home: live_bytes and, after
 * a trim, the memory are back where they started. */
static void test_thread_exit_with_full_bin(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  hk_heap_config_preset(&cfg, HK_PROFILE_LEAN);
  binw_t w = {.heap = hk_heap_create(&cfg)};
  assert_non_null(w.heap);
  hk_stats_t start = hkt_stats(w.heap);
  size_t rss0 = hkt_rss_bytes();
  fill_blocks(&w);
  pthread_barrier_init(&w.step, NULL, 2);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, bin_worker, &w), 0);
  pthread_barrier_wait(&w.step);
  /* The worker's bin holds the main thread's blocks: free, not live. */
  hk_stats_t mid = hkt_stats(w.heap);
  assert_int_equal(mid.live_bytes, BIN_SIZE);
  assert_true(mid.remote_frees >= BIN_BLOCKS - 8);
  pthread_barrier_wait(&w.step);
  pthread_join(t, NULL);
  hk_stats_t end = hkt_stats(w.heap);
  assert_int_equal(end.live_bytes, start.live_bytes);
  hk_heap_trim(w.heap);
  end = hkt_stats(w.heap);
  assert_int_equal(end.superslabs, 0);
  assert_int_equal(end.mapped_bytes, 0);
  size_t rss1 = hkt_rss_bytes();
  if (!HK_TEST_EMULATED) assert_true(rss1 <= rss0 + 2 * HKT_MIB); /* else qemu's RSS too */
  pthread_barrier_destroy(&w.step);
  hk_heap_destroy(w.heap);
}

/* A heap destroyed while another thread's bin holds its blocks: the blocks
 * are forgotten, never touched again (ASan and TSan run this too). */
static void *destroy_worker(void *argp) {
  binw_t *w = argp;
  w->own = hk_heap_malloc(w->heap, BIN_SIZE);
  for (int i = 0; i < BIN_BLOCKS; i++) hk_free(w->blocks[i]);
  pthread_barrier_wait(&w->step); /* the heap is destroyed meanwhile */
  pthread_barrier_wait(&w->step);
  /* Life goes on in other heaps, in the same size class, and the thread
   * exits (its dead front is released without its bins being sent home). */
  hk_heap_t *other = hk_heap_create(NULL);
  void *p[64];
  for (int round = 0; round < 8; round++) {
    for (int i = 0; i < 64; i++) p[i] = round % 2 ? hk_heap_malloc(other, BIN_SIZE) : hk_malloc(BIN_SIZE);
    for (int i = 0; i < 64; i++) hk_free(p[i]);
  }
  hk_heap_trim(other);
  hk_trim();
  hk_heap_destroy(other);
  return NULL;
}

static void test_destroy_with_blocks_in_bins(void **state) {
  HKT_UNUSED(state);
  binw_t w = {.heap = hk_heap_create(NULL)};
  assert_non_null(w.heap);
  fill_blocks(&w);
  pthread_barrier_init(&w.step, NULL, 2);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, destroy_worker, &w), 0);
  pthread_barrier_wait(&w.step);
  hk_heap_destroy(w.heap); /* w.own too: arena semantics */
  pthread_barrier_wait(&w.step);
  pthread_join(t, NULL);
  pthread_barrier_destroy(&w.step);
}

/* A thread that frees one block of another thread's and then sleeps holds
 * nothing: the block reaches its slab at once, so the slab and its
 * SuperSlab can go back while the thread still sleeps. */
typedef struct {
  void *block;
  hk_heap_t *heap;
  pthread_barrier_t step;
} once_t;

static void *free_once_and_sleep(void *argp) {
  once_t *o = argp;
  void *mine = hk_heap_malloc(o->heap, 128); /* it even allocates the class */
  hk_free(o->block);
  pthread_barrier_wait(&o->step); /* freed */
  pthread_barrier_wait(&o->step); /* sleeps until the main thread is done */
  hk_free(mine);
  return NULL;
}

static void test_free_once_then_sleep_pins_nothing(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  hk_heap_config_preset(&cfg, HK_PROFILE_LEAN);
  once_t o = {.heap = hk_heap_create(&cfg)};
  assert_non_null(o.heap);
  enum { N = 2000 };
  void **p = calloc(N, sizeof *p);
  assert_non_null(p);
  for (int i = 0; i < N; i++) p[i] = hk_heap_malloc(o.heap, 128);
  o.block = p[N / 2];
  p[N / 2] = NULL;
  pthread_barrier_init(&o.step, NULL, 2);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, free_once_and_sleep, &o), 0);
  pthread_barrier_wait(&o.step);
  for (int i = 0; i < N; i++) hk_free(p[i]);
  hk_heap_trim(o.heap);
  /* Only the sleeper's own block is left: one SuperSlab, no other thread's
   * block held anywhere. */
  hk_stats_t st = hkt_stats(o.heap);
  assert_int_equal(st.live_bytes, 128);
  assert_int_equal(st.superslabs, 1);
  pthread_barrier_wait(&o.step);
  pthread_join(t, NULL);
  hk_heap_trim(o.heap);
  st = hkt_stats(o.heap);
  assert_int_equal(st.live_bytes, 0);
  assert_int_equal(st.superslabs, 0);
  pthread_barrier_destroy(&o.step);
  free(p);
  hk_heap_destroy(o.heap);
}

/* ---- memory stays bounded when a thread only frees --------------------------- */
/* Runs fn in a forked child and returns the child's peak RSS in bytes: a
 * clean peak, whatever the tests before it used. */
static size_t child_peak_rss(void (*fn)(void)) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    fn();
    _exit(0);
  }
  int status = 0;
  struct rusage ru;
  assert_int_equal(wait4(pid, &status, 0, &ru), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return (size_t)ru.ru_maxrss * 1024;
}

typedef struct {
  queue_t q;
  _Atomic int done;
} sink_t;

/* Frees whatever arrives and never allocates. */
static void *free_only(void *argp) {
  sink_t *s = argp;
  for (;;) {
    void *p = q_pop(&s->q);
    if (p != NULL) {
      hk_free(p);
      continue;
    }
    if (atomic_load(&s->done) && atomic_load(&s->q.head) == atomic_load(&s->q.tail)) break;
    sched_yield();
  }
  return NULL;
}

/* The producer mallocs 1000-byte blocks, hands 90 % of them to a thread
 * that only frees and frees the other 10 % itself from a ring of 10,000.
 * About 10,000 blocks live at a time: memory must plateau. When the
 * freeing thread took over full slabs, the producer's own frees into them
 * waited for it for ever (it never allocates): 130 MB at this length,
 * growing with it, against 13 MB now (bench_handoff reproduces both). */
static void free_only_consumer(void) {
  sink_t *s = calloc(1, sizeof *s);
  if (s == NULL) _exit(1);
  q_init(&s->q);
  pthread_t t;
  if (pthread_create(&t, NULL, free_only, s) != 0) _exit(1);
  enum { RING = 10000 };
  void **ring = calloc(RING, sizeof *ring);
  if (ring == NULL) _exit(1);
  hkt_rng_t r;
  hkt_rng_seed(&r, 42);
  size_t n = HKT_SCALE(1000000), kept = 0;
  for (size_t i = 0; i < n; i++) {
    char *p = hk_malloc(1000);
    if (p == NULL) _exit(1);
    p[0] = (char)i;
    p[999] = (char)i;
    if (hkt_rng_next(&r) % 100 < 10) {
      void **slot = &ring[kept++ % RING];
      hk_free(*slot);
      *slot = p;
    } else {
      q_push(&s->q, p);
    }
  }
  atomic_store(&s->done, 1);
  pthread_join(t, NULL);
  for (int i = 0; i < RING; i++) hk_free(ring[i]);
  free(ring);
  free(s);
}

static void test_free_only_consumer_rss(void **state) {
  HKT_UNUSED(state);
  size_t peak = child_peak_rss(free_only_consumer);
  print_message("free-only consumer: peak RSS %zu MiB\n", peak >> 20);
#ifndef HK_TEST_SANITIZED /* sanitizers add their own memory */
  if (HK_TEST_EMULATED) print_message("peak RSS not checked under emulation (qemu's own)\n");
  else assert_true(peak < 48 * HKT_MIB);
#endif
}

/* The node window (`node -e` keeping the last 500 Buffers of sizes up to
 * 64 KiB; its garbage collector frees most of them on another thread):
 * the main thread allocates and frees 10 % of what leaves the window
 * itself, a thread that only frees releases the rest. Live data is about
 * 16 MiB: 118 MB when the freeing thread took over full slabs, 22 MB now. */
static void window_freed_elsewhere(void) {
  sink_t *s = calloc(1, sizeof *s);
  if (s == NULL) _exit(1);
  q_init(&s->q);
  pthread_t t;
  if (pthread_create(&t, NULL, free_only, s) != 0) _exit(1);
  enum { WINDOW = 500 };
  void *win[WINDOW] = {0};
  size_t n = HKT_SCALE(200000);
  for (size_t i = 0; i < n; i++) {
    size_t size = 1 + (i * 7919) % 65536;
    unsigned char *p = hk_malloc(size);
    if (p == NULL) _exit(1);
    memset(p, (int)(i & 255), size);
    void **slot = &win[i % WINDOW];
    if (*slot != NULL && i % 10 == 0) hk_free(*slot);
    else if (*slot != NULL) q_push(&s->q, *slot);
    *slot = p;
  }
  atomic_store(&s->done, 1);
  pthread_join(t, NULL);
  for (int i = 0; i < WINDOW; i++) hk_free(win[i]);
  free(s);
}

static void test_window_freed_elsewhere_rss(void **state) {
  HKT_UNUSED(state);
  size_t peak = child_peak_rss(window_freed_elsewhere);
  print_message("window freed elsewhere: peak RSS %zu MiB\n", peak >> 20);
#ifndef HK_TEST_SANITIZED
  if (HK_TEST_EMULATED) print_message("peak RSS not checked under emulation (qemu's own)\n");
  else assert_true(peak < 64 * HKT_MIB);
#endif
}

/* Large blocks freed by another thread: a producer allocates blocks of
 * 64 KiB .. 5 MiB (pattern-filled) on a user heap and hands them over; the
 * consumer checks and frees every one (its frees keep the blocks in its
 * cache, passing them on through the heap's parked list). No block may be
 * handed out twice while live, and the heap ends empty. */
enum { LARGE_N = 3000, LARGE_Q = 32 };
typedef struct {
  hk_heap_t *heap;
  void *_Atomic slot[LARGE_Q];
  _Atomic unsigned put, got;
} lq_t;

static size_t large_size(unsigned i) { return 65536 + (size_t)(i * 2654435761u % (5u << 20)); }

static void *large_consumer(void *arg) {
  lq_t *q = arg;
  for (unsigned i = 0; i < LARGE_N; i++) {
    while (atomic_load(&q->put) == i) sched_yield();
    void *p = atomic_load(&q->slot[i % LARGE_Q]);
    size_t n = large_size(i);
    if (!hkt_check(p, 64, i) || !hkt_check((char *)p + n - 64, 64, i + 1)) abort();
    hk_free(p);
    atomic_store(&q->got, i + 1);
  }
  return NULL;
}

static void test_large_freed_elsewhere(void **state) {
  HKT_UNUSED(state);
  lq_t *q = calloc(1, sizeof *q);
  assert_non_null(q);
  q->heap = hk_heap_create(NULL);
  assert_non_null(q->heap);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, large_consumer, q), 0);
  for (unsigned i = 0; i < LARGE_N; i++) {
    while (i - atomic_load(&q->got) >= LARGE_Q) sched_yield();
    size_t n = large_size(i);
    unsigned char *p = hk_heap_malloc(q->heap, n);
    assert_non_null(p);
    hkt_fill(p, 64, i);
    hkt_fill(p + n - 64, 64, i + 1);
    atomic_store(&q->slot[i % LARGE_Q], p);
    atomic_store(&q->put, i + 1);
  }
  pthread_join(t, NULL);
  hk_stats_t st = hkt_stats(q->heap);
  assert_int_equal(st.large_blocks, 0);
  assert_int_equal(st.live_bytes, 0);
  /* What is kept for reuse stays within the policy's cap. */
  assert_true(st.large_retained_bytes <= (size_t)512 << 20);
  hk_heap_trim(q->heap);
  hk_heap_destroy(q->heap);
  free(q);
}

/* ---- another thread empties a thread's large cache while it is in use ---------- */
/* Workers churn large blocks of a heap in bursts with short pauses, each
 * block filled with its owner's pattern and checked before its free; the
 * main thread trims the heap over and over (taking the workers' caches)
 * while the purger takes the caches it finds idle for the heap's short
 * decay delay. A block handed out twice, or reused while cached, breaks a
 * pattern; at the end the stats are exact. */
#define CLAIM_WORKERS 2
#define CLAIM_ROUNDS 300

typedef struct {
  hk_heap_t *heap;
  unsigned id;
  _Atomic unsigned *finished;
} claim_arg_t;

static void *claim_worker(void *arg) {
  claim_arg_t *a = arg;
  void *held[4] = {0};
  size_t held_n[4] = {0};
  uint64_t seed[4] = {0}, next = (uint64_t)a->id << 32;
  for (unsigned r = 0; r < CLAIM_ROUNDS; r++) {
    for (unsigned i = 0; i < 64; i++) {
      unsigned k = i % 4;
      if (held[k] != NULL) {
        if (!hkt_check(held[k], 64, seed[k]) ||
            !hkt_check((char *)held[k] + held_n[k] - 64, 64, ~seed[k]))
          abort();
        hk_free(held[k]);
      }
      size_t n = (size_t)(65 + (i * 37 + r * 11) % 400) << 10; /* 65 KiB .. 464 KiB */
      unsigned char *p = hk_heap_malloc(a->heap, n);
      if (p == NULL) abort();
      seed[k] = next++;
      hkt_fill(p, 64, seed[k]);
      hkt_fill(p + n - 64, 64, ~seed[k]);
      held[k] = p;
      held_n[k] = n;
    }
    if (r % 16 == 0) usleep(3000); /* idle past the decay delay now and then */
  }
  for (unsigned k = 0; k < 4; k++) hk_free(held[k]);
  atomic_fetch_add(a->finished, 1);
  return NULL;
}

static void test_large_cache_claimed_while_in_use(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  hk_heap_config_preset(&cfg, HK_PROFILE_BALANCED);
  cfg.background_purge = 1;
  cfg.large_decay_ms = 1;
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  _Atomic unsigned finished = 0;
  pthread_t t[CLAIM_WORKERS];
  claim_arg_t a[CLAIM_WORKERS];
  for (unsigned i = 0; i < CLAIM_WORKERS; i++) {
    a[i] = (claim_arg_t){h, i + 1, &finished};
    assert_int_equal(pthread_create(&t[i], NULL, claim_worker, &a[i]), 0);
  }
  unsigned trims = 0;
  while (atomic_load(&finished) < CLAIM_WORKERS) {
    hk_heap_trim(h);
    trims++;
  }
  for (unsigned i = 0; i < CLAIM_WORKERS; i++) pthread_join(t[i], NULL);
  print_message("%u trims\n", trims);
  assert_true(trims > 0);
  hk_stats_t st = hkt_stats(h);
  assert_int_equal(st.large_blocks, 0);
  assert_int_equal(st.live_bytes, 0);
  hk_heap_trim(h);
  assert_int_equal(hkt_stats(h).large_retained_bytes, 0);
  hk_heap_destroy(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_prodcons_shadow),
      cmocka_unit_test(test_thread_exit_with_full_bin),
      cmocka_unit_test(test_destroy_with_blocks_in_bins),
      cmocka_unit_test(test_free_once_then_sleep_pins_nothing),
      cmocka_unit_test(test_free_only_consumer_rss),
      cmocka_unit_test(test_window_freed_elsewhere_rss),
      cmocka_unit_test(test_large_freed_elsewhere),
      cmocka_unit_test(test_large_cache_claimed_while_in_use),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
