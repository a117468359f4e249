/* Threads: cross-thread frees (producer/consumer rings), thread churn with
 * blocks outliving the threads that allocated them, and one user heap shared
 * by several threads. */
#include "test_util.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define NTHREADS 4

/* ---- (a) producer/consumer ------------------------------------------------
 * Thread i allocates blocks and pushes them into the inbox of thread i+1,
 * which checks and frees them: every block is freed by a thread that did not
 * allocate it. Inboxes are small mutex-protected rings; a thread whose target
 * inbox is full drains its own inbox meanwhile, so the cycle cannot deadlock.
 */
#define RING 256
#define HANDOFFS HKT_SCALE(200000)

typedef struct {
  pthread_mutex_t mu;
  void *item[RING];
  size_t head, count;
} inbox_t;

typedef struct {
  hk_heap_t *heap; /* NULL: hk_malloc */
  inbox_t box[NTHREADS];
  atomic_int bad;  /* blocks that failed the pattern check */
} handoff_t;

typedef struct {
  handoff_t *h;
  int id;
} handoff_arg_t;

static bool inbox_push(inbox_t *b, void *p) {
  pthread_mutex_lock(&b->mu);
  bool ok = b->count < RING;
  if (ok) {
    b->item[(b->head + b->count) % RING] = p;
    b->count++;
  }
  pthread_mutex_unlock(&b->mu);
  return ok;
}

/* Mapped bytes holding blocks: without retained empty SuperSlabs and cached
 * large regions, which the heap's policy keeps on purpose. */
static size_t in_use_mapped(hk_heap_t *h) {
  hk_stats_t st = hkt_stats(h);
  return st.mapped_bytes - st.superslabs_empty * HK_SUPERSLAB_SIZE - st.region_cache_bytes;
}

static void *inbox_pop(inbox_t *b) {
  void *p = NULL;
  pthread_mutex_lock(&b->mu);
  if (b->count) {
    p = b->item[b->head];
    b->head = (b->head + 1) % RING;
    b->count--;
  }
  pthread_mutex_unlock(&b->mu);
  return p;
}

/* Checks and frees one received block; returns false if the inbox was empty. */
static bool consume_one(handoff_t *h, int id) {
  void *p = inbox_pop(&h->box[id]);
  if (!p) return false;
  if (!hkt_block_check(p)) atomic_fetch_add(&h->bad, 1);
  if (h->heap && hk_heap_of(p) != h->heap) atomic_fetch_add(&h->bad, 1);
  hk_free(p);
  return true;
}

static void *handoff_thread(void *argp) {
  handoff_arg_t *arg = argp;
  handoff_t *h = arg->h;
  int id = arg->id, to = (arg->id + 1) % NTHREADS;
  hkt_rng_t rng;
  hkt_rng_seed(&rng, 100 + (uint64_t)id);
  long received = 0;
  for (long sent = 0; sent < HANDOFFS; sent++) {
    size_t n = hkt_rng_next(&rng) % 64 ? hkt_rng_range(&rng, 8, 512) : hkt_rng_range(&rng, 513, 100000);
    void *p = h->heap ? hk_heap_malloc(h->heap, n) : hk_malloc(n);
    if (!p) {
      atomic_fetch_add(&h->bad, 1);
      continue;
    }
    hkt_block_fill(p, n);
    while (!inbox_push(&h->box[to], p)) {
      if (consume_one(h, id)) received++;
      else sched_yield();
    }
    if (consume_one(h, id)) received++;
  }
  /* Every thread receives exactly HANDOFFS blocks from its predecessor. */
  while (received < HANDOFFS) {
    if (consume_one(h, id)) received++;
    else sched_yield();
  }
  return NULL;
}

static void run_handoff(hk_heap_t *heap) {
  handoff_t *h = calloc(1, sizeof *h);
  assert_non_null(h);
  h->heap = heap;
  for (int i = 0; i < NTHREADS; i++) pthread_mutex_init(&h->box[i].mu, NULL);
  pthread_t th[NTHREADS];
  handoff_arg_t args[NTHREADS];
  hk_stats_t before = hkt_stats(heap ? heap : hk_heap_default());
  for (int i = 0; i < NTHREADS; i++) {
    args[i].h = h;
    args[i].id = i;
    assert_int_equal(pthread_create(&th[i], NULL, handoff_thread, &args[i]), 0);
  }
  for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  assert_int_equal(atomic_load(&h->bad), 0);
  for (int i = 0; i < NTHREADS; i++) {
    assert_int_equal(h->box[i].count, 0);
    pthread_mutex_destroy(&h->box[i].mu);
  }
  hk_stats_t after = hkt_stats(heap ? heap : hk_heap_default());
  /* Nearly every block was freed by a non-owner thread. */
  assert_true(after.remote_frees - before.remote_frees >= (uint64_t)HANDOFFS);
  assert_int_equal(after.live_bytes, before.live_bytes);
  free(h);
}

static void test_handoff_default_heap(void **state) {
  HKT_UNUSED(state);
  run_handoff(NULL);
}

static void test_handoff_user_heap(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *heap = hk_heap_create(NULL);
  assert_non_null(heap);
  run_handoff(heap);
  hk_heap_destroy(heap);
}

/* ---- (b) thread churn -------------------------------------------------------
 * Short-lived threads allocate and free; each leaves some blocks behind in a
 * shared "left over" array that the next round's threads free after the
 * allocating thread has exited. Mapped memory must level off: slabs of dead
 * threads have to be reused, not leaked per thread.
 */
#define CHURN_ROUNDS HKT_SCALE(200)
#define CHURN_ALLOCS 3000
#define CHURN_LEFT 64

typedef struct {
  hk_heap_t *heap;
  void *left[NTHREADS][CHURN_LEFT]; /* leftovers of the previous round */
  atomic_int bad;
} churn_t;

typedef struct {
  churn_t *c;
  int id;
  uint64_t seed;
} churn_arg_t;

static void *churn_thread(void *argp) {
  churn_arg_t *arg = argp;
  churn_t *c = arg->c;
  hkt_rng_t rng;
  hkt_rng_seed(&rng, arg->seed);
  void **mine = c->left[arg->id];
  void *live[128] = {0};
  for (int i = 0; i < CHURN_ALLOCS; i++) {
    int k = (int)(hkt_rng_next(&rng) % 128);
    if (live[k]) {
      if (!hkt_block_check(live[k])) atomic_fetch_add(&c->bad, 1);
      hk_free(live[k]);
    }
    size_t n = hkt_rng_next(&rng) % 32 ? hkt_rng_range(&rng, 8, 700) : hkt_rng_range(&rng, 701, 20000);
    live[k] = c->heap ? hk_heap_malloc(c->heap, n) : hk_malloc(n);
    if (!live[k]) {
      atomic_fetch_add(&c->bad, 1);
      continue;
    }
    hkt_block_fill(live[k], n);
  }
  for (int k = 0; k < 128; k++) {
    if (!live[k]) continue;
    if (k < CHURN_LEFT) {
      mine[k] = live[k]; /* survives this thread */
    } else {
      if (!hkt_block_check(live[k])) atomic_fetch_add(&c->bad, 1);
      hk_free(live[k]);
    }
  }
  return NULL;
}

/* The hand-over of leftovers happens between rounds, on the main thread's
 * schedule, so no two threads touch the same array slot. */
static void free_leftovers(churn_t *c, int id) {
  for (int k = 0; k < CHURN_LEFT; k++) {
    void *p = c->left[id][k];
    if (!p) continue;
    if (!hkt_block_check(p)) atomic_fetch_add(&c->bad, 1);
    hk_free(p);
    c->left[id][k] = NULL;
  }
}

static void *churn_free_thread(void *argp) {
  churn_arg_t *arg = argp;
  free_leftovers(arg->c, (arg->id + 1) % NTHREADS);
  return NULL;
}

static void run_churn(hk_heap_t *heap) {
  churn_t *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->heap = heap;
  hk_heap_t *stat_heap = heap ? heap : hk_heap_default();
  size_t mapped_early = 0, rss_early = 0;
  int early = CHURN_ROUNDS / 10 > 0 ? CHURN_ROUNDS / 10 : 1;
  for (int round = 1; round <= CHURN_ROUNDS; round++) {
    pthread_t th[NTHREADS];
    churn_arg_t args[NTHREADS];
    /* Phase 1: fresh threads free the previous round's leftovers (allocated
     * by threads that have exited), then exit themselves. */
    for (int i = 0; i < NTHREADS; i++) {
      args[i] = (churn_arg_t){c, i, (uint64_t)round * 16 + (uint64_t)i};
      assert_int_equal(pthread_create(&th[i], NULL, churn_free_thread, &args[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    /* Phase 2: fresh threads churn and leave new leftovers behind. */
    for (int i = 0; i < NTHREADS; i++)
      assert_int_equal(pthread_create(&th[i], NULL, churn_thread, &args[i]), 0);
    for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
    if (round == early) {
      mapped_early = in_use_mapped(stat_heap);
      rss_early = hkt_rss_bytes();
    }
  }
  size_t mapped_late = in_use_mapped(stat_heap), rss_late = hkt_rss_bytes();
  print_message("churn (%s): mapped %zu -> %zu, rss %zu -> %zu after %d rounds\n",
                heap ? "user heap" : "default heap", mapped_early, mapped_late, rss_early, rss_late,
                CHURN_ROUNDS);
  assert_int_equal(atomic_load(&c->bad), 0);
  /* Retained empty SuperSlabs and cached regions are left out (policy, not
   * growth); the slack covers partly used SuperSlabs, whose number varies
   * with thread timing. A leak is
   * far larger: 4 * (CHURN_ROUNDS - early) dead threads leaking even one
   * 64 KiB slab each would come to ~45 MiB. */
  if (mapped_late > mapped_early + 8 * HK_SUPERSLAB_SIZE)
    fail_msg("mapped bytes grew from %zu to %zu under thread churn", mapped_early, mapped_late);
#ifndef HK_TEST_SANITIZED
  /* Sanitizer runtimes (and qemu-user) keep per-thread state of their own,
   * so RSS is only meaningful without them; mapped_bytes above is checked
   * everywhere. */
  if (HK_TEST_EMULATED) print_message("RSS not checked under emulation\n");
  else if (rss_early && rss_late > rss_early + 8 * HKT_MIB)
    fail_msg("RSS grew from %zu to %zu under thread churn", rss_early, rss_late);
#endif
  for (int i = 0; i < NTHREADS; i++) free_leftovers(c, i);
  free(c);
}

static void test_churn_default_heap(void **state) {
  HKT_UNUSED(state);
  hk_stats_t before = hkt_stats(hk_heap_default());
  run_churn(NULL);
  hk_stats_t after = hkt_stats(hk_heap_default());
  assert_int_equal(after.live_bytes, before.live_bytes);
}

static void test_churn_user_heap(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *heap = hk_heap_create(NULL);
  assert_non_null(heap);
  run_churn(heap);
  hk_stats_t st = hkt_stats(heap);
  assert_int_equal(st.live_bytes, 0);
  hk_heap_destroy(heap);
}

/* ---- (c) one user heap, four threads ------------------------------------------
 * All threads allocate from the same heap and swap blocks through a shared
 * array of atomic slots, so any block may be freed by any thread while others
 * allocate. Then the heap is destroyed with nothing in use.
 */
#define SHARED_SLOTS 1024
#define SHARED_OPS HKT_SCALE(300000)

typedef struct {
  hk_heap_t *heap;
  _Atomic(void *) slot[SHARED_SLOTS];
  atomic_int bad;
} shared_t;

typedef struct {
  shared_t *s;
  int id;
} shared_arg_t;

static void *shared_thread(void *argp) {
  shared_arg_t *arg = argp;
  shared_t *s = arg->s;
  hkt_rng_t rng;
  hkt_rng_seed(&rng, 7000 + (uint64_t)arg->id);
  for (long op = 0; op < SHARED_OPS; op++) {
    size_t i = hkt_rng_next(&rng) % SHARED_SLOTS;
    void *p = NULL;
    if (hkt_rng_next(&rng) % 4) {
      unsigned kind = (unsigned)(hkt_rng_next(&rng) % 100);
      size_t n = kind < 90 ? hkt_rng_range(&rng, 8, 1024)
                 : kind < 99 ? hkt_rng_range(&rng, 1025, 65536)
                             : hkt_rng_range(&rng, 65537, 600000);
      p = kind % 8 == 0 ? hk_heap_aligned_alloc(s->heap, 256, n) : hk_heap_malloc(s->heap, n);
      if (!p || hk_heap_of(p) != s->heap) {
        atomic_fetch_add(&s->bad, 1);
        continue;
      }
      hkt_block_fill(p, n);
    }
    void *old = atomic_exchange(&s->slot[i], p);
    if (old) {
      if (!hkt_block_check(old)) atomic_fetch_add(&s->bad, 1);
      hk_free(old);
    }
  }
  return NULL;
}

static void test_shared_user_heap(void **state) {
  HKT_UNUSED(state);
  shared_t *s = calloc(1, sizeof *s);
  assert_non_null(s);
  s->heap = hk_heap_create(NULL);
  assert_non_null(s->heap);
  pthread_t th[NTHREADS];
  shared_arg_t args[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    args[i] = (shared_arg_t){s, i};
    assert_int_equal(pthread_create(&th[i], NULL, shared_thread, &args[i]), 0);
  }
  for (int i = 0; i < NTHREADS; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
  assert_int_equal(atomic_load(&s->bad), 0);
  size_t remaining = 0;
  for (size_t i = 0; i < SHARED_SLOTS; i++) {
    void *p = atomic_load(&s->slot[i]);
    if (!p) continue;
    assert_true(hkt_block_check(p));
    hk_free(p);
    remaining++;
  }
  hk_stats_t st = hkt_stats(s->heap);
  print_message("shared heap: %zu blocks left at the end, %llu remote frees\n", remaining,
                (unsigned long long)st.remote_frees);
  assert_int_equal(st.live_bytes, 0);
  assert_true(st.remote_frees > 0);
  hk_heap_destroy(s->heap);
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handoff_default_heap),
      cmocka_unit_test(test_handoff_user_heap),
      cmocka_unit_test(test_churn_default_heap),
      cmocka_unit_test(test_churn_user_heap),
      cmocka_unit_test(test_shared_user_heap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
