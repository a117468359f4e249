/* Multi-threaded allocator stress test (after the idea of mimalloc's
 * test-stress; own code).
 *
 *   stress_hk     [THREADS [SCALE [ITERS [HEAPS]]]]   hk_* API, linked statically
 *   stress_malloc [THREADS [SCALE [ITERS]]]           plain malloc, meant to run
 *                                                     under LD_PRELOAD=libhakmem_malloc.so
 *
 * Every iteration starts THREADS fresh threads and joins them, so fronts of
 * exited threads (and the blocks they still own) are handed over all the
 * time. Threads swap blocks through a shared transfer array with atomic
 * exchanges; a block may thus be freed by a thread created iterations after
 * its allocator exited. Each block carries an address-derived pattern that
 * is verified whenever the block changes hands, is reallocated or freed: a
 * block handed out twice, overwritten by a neighbour or not moved correctly
 * by realloc aborts with a message naming the block.
 *
 * HEAPS > 0 (stress_hk only) adds user heaps: allocations go to a random
 * heap (or the default one), blocks of every heap travel to other threads,
 * and after each iteration's join one heap is destroyed (its blocks still in
 * the transfer array are either freed first or simply forgotten: arena
 * semantics) and replaced by a fresh heap with another profile.
 */
#define _GNU_SOURCE /* malloc_usable_size */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test_mix.h"
#include <time.h>

#ifdef STRESS_HK
#include <hakmem/hakmem.h>
#else
#include <malloc.h>
#endif

/* ---- allocator under test ---------------------------------------------- */

#ifdef STRESS_HK
typedef hk_heap_t heap_t;
#define S_MALLOC(h, n) hk_heap_malloc((h), (n))
#define S_CALLOC(h, c, n) hk_heap_calloc((h), (c), (n))
#define S_ALIGNED(h, a, n) hk_heap_aligned_alloc((h), (a), (n))
#define S_REALLOC(p, n) hk_realloc((p), (n))
#define S_FREE(p) hk_free(p)
#define S_USABLE(p) hk_usable_size(p)
#else
typedef void heap_t;
#define S_MALLOC(h, n) ((void)(h), malloc(n))
#define S_CALLOC(h, c, n) ((void)(h), calloc((c), (n)))
#define S_ALIGNED(h, a, n) ((void)(h), aligned_alloc((a), (n)))
#define S_REALLOC(p, n) realloc((p), (n))
#define S_FREE(p) free(p)
#define S_USABLE(p) malloc_usable_size((void *)(uintptr_t)(p)) /* glibc: non-const */
#endif

/* ---- parameters ----------------------------------------------------------- */

#define TRANSFER_SLOTS 1024
#define LOCAL_MAX 1024          /* blocks a thread holds at most */
#define MIN_BLOCK 8             /* kept blocks hold at least the header word */
#define MAX_BLOCK ((size_t)4 << 20)
#define MAX_HEAPS 8

static int g_threads = 8, g_scale = 10, g_iters = 10, g_nheaps = 0;
static _Atomic(void *) g_transfer[TRANSFER_SLOTS];
static heap_t *g_heaps[MAX_HEAPS + 1]; /* [g_nheaps] is the default heap */

static _Noreturn void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("stress: FAILED: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  abort();
}

/* ---- PRNG (per thread, deterministic per thread and iteration) ------------ */

typedef struct { uint64_t s; } rng_t;


static uint64_t rnd(rng_t *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static bool chance(rng_t *r, unsigned percent) { return rnd(r) % 100 < percent; }

/* Mostly small sizes with a geometric tail: each step multiplies by about 4
 * with probability 1/3, so ~1 block in 2000 lands in the MiB range. */
static size_t pick_size(rng_t *r) {
  size_t size = MIN_BLOCK + rnd(r) % 120;
  while (size < MAX_BLOCK / 4 && rnd(r) % 3 == 0) size = size * 4 + rnd(r) % size;
  return size > MAX_BLOCK ? MAX_BLOCK : size;
}

/* ---- block patterns --------------------------------------------------------
 * Word 0 holds key^size, so the freeing side learns the size from the block
 * itself. Small blocks are patterned entirely; big ones at their head, tail
 * and one word per 4 KiB page (which also touches every page). */

#define FULL_WORDS 128
#define EDGE_WORDS 32
#define PAGE_WORDS 512

static uint64_t key_of(const void *p) { return hkt_mix64((uintptr_t)p) | 1; }
static uint64_t word_val(uint64_t key, size_t i) { return key + i * 0x9E3779B97F4A7C15ULL; }

/* Next sampled word index after i in a block of n words. */
static size_t next_pos(size_t i, size_t n) {
  size_t j = i + 1;
  if (n <= FULL_WORDS || j < EDGE_WORDS || j >= n - EDGE_WORDS) return j;
  size_t page = (j + PAGE_WORDS - 1) / PAGE_WORDS * PAGE_WORDS;
  return page < n - EDGE_WORDS ? page : n - EDGE_WORDS;
}

static uint64_t *words_of(void *p) { return (uint64_t *)p; }

static void fill(void *p, size_t size) {
  uint64_t key = key_of(p), *w = words_of(p);
  size_t n = size / 8;
  w[0] = key ^ size;
  for (size_t i = 1; i < n; i = next_pos(i, n)) w[i] = word_val(key, i);
  unsigned char *b = (unsigned char *)p;
  for (size_t j = n * 8; j < size; j++) b[j] = (unsigned char)(key >> (8 * (j % 8)));
}

/* Verifies the pattern of a block of `size` bytes with `key`, but only the
 * parts below `limit` bytes (a realloc preserves just the common prefix). */
static void check_layout(const void *p, uint64_t key, size_t size, size_t limit,
                         const char *when) {
  const uint64_t *w = (const uint64_t *)p;
  size_t n = size / 8;
  if (w[0] != (key ^ size))
    fail("%s: block %p: header word %#llx does not match size %zu", when, p,
         (unsigned long long)w[0], size);
  for (size_t i = 1; i < n && (i + 1) * 8 <= limit; i = next_pos(i, n))
    if (w[i] != word_val(key, i))
      fail("%s: block %p (size %zu): word %zu is %#llx, expected %#llx", when, p, size, i,
           (unsigned long long)w[i], (unsigned long long)word_val(key, i));
  const unsigned char *b = (const unsigned char *)p;
  for (size_t j = n * 8; j < size && j < limit; j++)
    if (b[j] != (unsigned char)(key >> (8 * (j % 8))))
      fail("%s: block %p (size %zu): tail byte %zu is %#x", when, p, size, j, b[j]);
}

/* Checks a block and returns its size (learned from the header word). */
static size_t check(const void *p, const char *when) {
  uint64_t key = key_of(p);
  size_t size = (size_t)(*(const uint64_t *)p ^ key);
  if (size < MIN_BLOCK || size > MAX_BLOCK)
    fail("%s: block %p: header word %#llx decodes to impossible size %zu", when, p,
         (unsigned long long)*(const uint64_t *)p, size);
  check_layout(p, key, size, size, when);
  size_t usable = S_USABLE((void *)(uintptr_t)p); /* malloc_usable_size takes void * */
  if (usable < size) fail("%s: block %p: usable size %zu < size %zu", when, p, usable, size);
  return size;
}

static void check_zero(const void *p, size_t size) {
  const uint64_t *w = (const uint64_t *)p;
  size_t n = size / 8;
  for (size_t i = 0; i < n; i = next_pos(i, n))
    if (w[i] != 0) fail("calloc: block %p (size %zu): word %zu is %#llx, not zero", p, size, i,
                        (unsigned long long)w[i]);
  const unsigned char *b = (const unsigned char *)p;
  for (size_t j = n * 8; j < size; j++)
    if (b[j] != 0) fail("calloc: block %p (size %zu): byte %zu not zero", p, size, j);
}

static void release(void *p, const char *when) {
  check(p, when);
  S_FREE(p);
}

/* ---- operations ----------------------------------------------------------- */

static heap_t *pick_heap(rng_t *r) { return g_heaps[rnd(r) % (unsigned)(g_nheaps + 1)]; }

static void check_new(void *p, heap_t *h, size_t size, size_t align, const char *what) {
  if (p == NULL) fail("%s(%zu) returned NULL (errno %d)", what, size, errno);
  if ((uintptr_t)p % align != 0) fail("%s(%zu): %p not aligned to %zu", what, size, p, align);
  if (S_USABLE(p) < size) fail("%s(%zu): usable size %zu too small", what, size, S_USABLE(p));
#ifdef STRESS_HK
  if (hk_heap_of(p) != h) fail("%s(%zu): hk_heap_of(%p) is not the heap allocated from", what,
                               size, p);
#else
  (void)h;
#endif
}

static void *alloc_block(rng_t *r) {
  heap_t *h = pick_heap(r);
  size_t size = pick_size(r);
  unsigned kind = (unsigned)(rnd(r) % 100);
  void *p;
  if (kind < 8) { /* calloc, split as count * element size */
    size_t elem = 1 + rnd(r) % 16, count = (size + elem - 1) / elem;
    size = count * elem;
    if (size > MAX_BLOCK) size = (count = MAX_BLOCK / elem) * elem;
    p = S_CALLOC(h, count, elem);
    check_new(p, h, size, 16, "calloc");
    check_zero(p, size);
  } else if (kind < 16) { /* over-aligned; now and then up to 1 MiB */
    size_t align = (size_t)16 << (rnd(r) % 8);
    if (rnd(r) % 64 == 0) align = (size_t)64 << 10 << (rnd(r) % 5);
    p = S_ALIGNED(h, align, size);
    check_new(p, h, size, align, "aligned_alloc");
  } else {
    p = S_MALLOC(h, size);
    check_new(p, h, size, 16, "malloc");
  }
  fill(p, size);
  return p;
}

/* A block too small for the header: written fully and freed at once. */
static void tiny_roundtrip(rng_t *r) {
  heap_t *h = pick_heap(r);
  size_t size = rnd(r) % MIN_BLOCK;
  unsigned char *p = S_MALLOC(h, size);
  check_new(p, h, size, 16, "malloc");
  memset(p, 0xa5, size);
  S_FREE(p);
}

static void *realloc_block(rng_t *r, void *p) {
  uint64_t key = key_of(p);
  size_t old = check(p, "before realloc");
#ifdef STRESS_HK
  hk_heap_t *h = hk_heap_of(p);
#else
  heap_t *h = NULL;
#endif
  size_t size = chance(r, 50) ? pick_size(r) : old + rnd(r) % (old / 2 + 64);
  if (size > MAX_BLOCK) size = MAX_BLOCK;
  if (chance(r, 20) && old / 2 >= MIN_BLOCK) size = MIN_BLOCK + rnd(r) % (old / 2); /* shrink */
  void *q = S_REALLOC(p, size);
  check_new(q, h, size, 16, "realloc"); /* the block stays in its heap */
  check_layout(q, key, old, old < size ? old : size, "after realloc");
  fill(q, size);
  return q;
}

/* ---- threads -------------------------------------------------------------- */

typedef struct {
  int tid, iter;
  void *local[LOCAL_MAX];
} worker_t;

/* Puts p into a random transfer slot and returns what was there (checked). */
static void *swap_transfer(rng_t *r, void *p) {
  void *old = atomic_exchange(&g_transfer[rnd(r) % TRANSFER_SLOTS], p);
  if (old != NULL) check(old, "taken from transfer");
  return old;
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  rng_t r = {hkt_mix64(((uint64_t)w->iter << 32) ^ (uint64_t)w->tid ^ 0x5eed) | 1};
  size_t n = 0;
  /* Threads differ in how much they do, so some exit while others run. */
  size_t ops = (size_t)g_scale * 200 * (size_t)(w->tid % 4 + 1);
  size_t target = (size_t)g_scale * 20 < LOCAL_MAX ? (size_t)g_scale * 20 : LOCAL_MAX;
  for (size_t op = 0; op < ops; op++) {
    unsigned c = (unsigned)(rnd(&r) % 100);
    unsigned alloc_pct = n < target ? 55 : 35;
    if (n == 0 || c < alloc_pct) {
      if (rnd(&r) % 20 == 0) { tiny_roundtrip(&r); continue; }
      if (n == LOCAL_MAX) { /* full: make room */
        size_t i = rnd(&r) % n;
        release(w->local[i], "free");
        w->local[i] = w->local[--n];
      }
      w->local[n++] = alloc_block(&r);
    } else if (c < 80) {
      size_t i = rnd(&r) % n;
      release(w->local[i], "free");
      w->local[i] = w->local[--n];
    } else if (c < 88) {
      size_t i = rnd(&r) % n;
      w->local[i] = realloc_block(&r, w->local[i]);
    } else {
      size_t i = rnd(&r) % n;
      void *got = swap_transfer(&r, w->local[i]);
      if (got != NULL) w->local[i] = got;
      else w->local[i] = w->local[--n];
    }
  }
  /* Leave some blocks behind for threads of later iterations. */
  for (size_t i = 0; i < n; i++) {
    void *p = w->local[i];
    if (chance(&r, 25)) p = swap_transfer(&r, p);
    if (p != NULL) release(p, "free at thread exit");
  }
  return NULL;
}

/* ---- user heaps ------------------------------------------------------------- */

#ifdef STRESS_HK
static hk_heap_t *make_heap(int n) {
  hk_heap_config_t cfg;
  if (hk_heap_config_preset(&cfg, (hk_profile_t)(n % 3)) != 0) fail("hk_heap_config_preset");
  cfg.name = "stress";
  hk_heap_t *h = hk_heap_create(&cfg);
  if (h == NULL) fail("hk_heap_create(profile %d): errno %d", n % 3, errno);
  return h;
}

/* After all threads joined: retire heap `k`. Its blocks still in the
 * transfer array are checked, then freed one by one (every other
 * iteration) or just dropped when the heap goes (arena semantics). */
static void recycle_heap(int k, int iter) {
  hk_heap_t *h = g_heaps[k];
  bool free_first = iter % 2 == 0;
  size_t dropped = 0;
  for (size_t i = 0; i < TRANSFER_SLOTS; i++) {
    void *p = atomic_load(&g_transfer[i]);
    if (p == NULL || hk_heap_of(p) != h) continue;
    check(p, "before heap destroy");
    if (free_first) hk_free(p);
    atomic_store(&g_transfer[i], NULL);
    dropped++;
  }
  if (free_first) {
    hk_stats_t st;
    if (hk_heap_stats(h, &st) != 0) fail("hk_heap_stats");
    if (st.live_bytes != 0 || st.large_blocks != 0)
      fail("heap %d: %zu live bytes, %zu large blocks after all %zu blocks were freed", k,
           st.live_bytes, st.large_blocks, dropped);
  }
  hk_heap_destroy(h);
  g_heaps[k] = make_heap(iter + k + 1);
}
#endif

/* ---- main ------------------------------------------------------------------- */

static int arg_int(int argc, char **argv, int i, int def, int lo, int hi) {
  if (argc <= i) return def;
  char *end;
  long v = strtol(argv[i], &end, 10);
  if (*end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "usage: %s [THREADS [SCALE [ITERS [HEAPS]]]]\n"
                    "  argument %d must be an integer in [%d, %d]\n", argv[0], i, lo, hi);
    exit(2);
  }
  return (int)v;
}

int main(int argc, char **argv) {
  g_threads = arg_int(argc, argv, 1, g_threads, 1, 256);
  g_scale = arg_int(argc, argv, 2, g_scale, 1, 1000);
  g_iters = arg_int(argc, argv, 3, g_iters, 1, 100000);
#ifdef STRESS_HK
  g_nheaps = arg_int(argc, argv, 4, 0, 0, MAX_HEAPS);
  for (int k = 0; k < g_nheaps; k++) g_heaps[k] = make_heap(k);
  g_heaps[g_nheaps] = hk_heap_default();
#endif
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);

  pthread_t *tids = calloc((size_t)g_threads, sizeof *tids);
  worker_t *ws = calloc((size_t)g_threads, sizeof *ws);
  if (tids == NULL || ws == NULL) fail("out of memory for %d threads", g_threads);
  for (int iter = 0; iter < g_iters; iter++) {
    for (int t = 0; t < g_threads; t++) {
      ws[t].tid = t;
      ws[t].iter = iter;
      int rc = pthread_create(&tids[t], NULL, worker_main, &ws[t]);
      if (rc != 0) fail("pthread_create: %s", strerror(rc));
    }
    for (int t = 0; t < g_threads; t++) pthread_join(tids[t], NULL);
#ifdef STRESS_HK
    if (g_nheaps > 0) recycle_heap(iter % g_nheaps, iter);
#endif
  }
  for (size_t i = 0; i < TRANSFER_SLOTS; i++) {
    void *p = atomic_exchange(&g_transfer[i], NULL);
    if (p != NULL) release(p, "final free");
  }
  free(tids);
  free(ws);

#ifdef STRESS_HK
  /* Everything was freed: the default heap must account for no block. */
  hk_stats_t st;
  if (hk_heap_stats(hk_heap_default(), &st) != 0) fail("hk_heap_stats");
  if (st.live_bytes != 0 || st.large_blocks != 0)
    fail("default heap: %zu live bytes, %zu large blocks left after freeing everything",
         st.live_bytes, st.large_blocks);
  for (int k = 0; k < g_nheaps; k++) hk_heap_destroy(g_heaps[k]);
#endif
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("stress: %d threads, scale %d, %d iterations, %d heaps: ok (%.2f s)\n", g_threads,
         g_scale, g_iters, g_nheaps,
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
  return 0;
}
