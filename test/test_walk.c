/* The introspection API: hk_heap_visit against a shadow set (alone and
 * with other threads allocating and freeing meanwhile), hk_free_sized and
 * hk_free_aligned_sized (accepted sizes, and aborts on wrong ones),
 * hk_good_size against what allocations get, and hk_heaps. */
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- heap walk -------------------------------------------------------------------- */

/* A shadow set: the blocks a test holds, sorted, with a seen-count each. */
typedef struct {
  void **p;
  size_t *usable;
  unsigned *seen;
  size_t n;
  size_t foreign; /* visited but not in the set */
} shadow_t;

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
  return x < y ? -1 : x > y;
}

static long find(const shadow_t *s, const void *p) {
  size_t lo = 0, hi = s->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if ((uintptr_t)s->p[mid] < (uintptr_t)p) lo = mid + 1;
    else hi = mid;
  }
  return lo < s->n && s->p[lo] == p ? (long)lo : -1;
}

static int record(void *block, size_t usable, void *arg) {
  shadow_t *s = arg;
  long i = find(s, block);
  if (i < 0) {
    s->foreign++;
    return 0;
  }
  s->seen[i]++;
  if (usable != s->usable[i]) return 99;
  return 0;
}

/* Every kind of block, a few big ones (the suite also runs under ulimit -v
 * 1 GB): about 60 MiB for 3000 blocks. */
static size_t sizes(size_t i) {
  static const size_t tab[] = {1, 16, 24, 100, 1000, 1024, 5000, 40000, 65536, 70000, 200000};
  if (i % 500 == 7) return (size_t)3 << 20;
  return tab[i % (sizeof tab / sizeof tab[0])];
}

static void shadow_fill(shadow_t *s, hk_heap_t *h, size_t n) {
  s->p = calloc(n, sizeof *s->p);
  s->usable = calloc(n, sizeof *s->usable);
  s->seen = calloc(n, sizeof *s->seen);
  assert_non_null(s->p);
  s->n = n;
  s->foreign = 0;
  for (size_t i = 0; i < n; i++) {
    s->p[i] = hk_heap_malloc(h, sizes(i));
    assert_non_null(s->p[i]);
  }
  qsort(s->p, n, sizeof *s->p, cmp_ptr);
  for (size_t i = 0; i < n; i++) s->usable[i] = hk_usable_size(s->p[i]);
}

static void shadow_free(shadow_t *s) {
  for (size_t i = 0; i < s->n; i++) hk_free(s->p[i]);
  free(s->p);
  free(s->usable);
  free(s->seen);
}

static void test_visit_matches_shadow(void **state) {
  (void)state;
  hk_heap_t *h = hk_heap_create(NULL);
  assert_non_null(h);
  /* Freed blocks (in free lists, large caches) must not be visited. */
  void *gone[300];
  for (int i = 0; i < 300; i++) gone[i] = hk_heap_malloc(h, sizes((size_t)i));
  shadow_t s;
  shadow_fill(&s, h, 3000);
  for (int i = 0; i < 300; i++) hk_free(gone[i]);
  assert_int_equal(hk_heap_visit(h, record, &s), 0);
  assert_int_equal(s.foreign, 0);
  for (size_t i = 0; i < s.n; i++) assert_int_equal(s.seen[i], 1);
  shadow_free(&s);
  assert_int_equal(hk_heap_visit(h, record, &s), 0); /* empty heap: no call at all */
  assert_int_equal(hk_heap_visit(h, NULL, NULL), EINVAL);
  hk_heap_destroy(h);
}

static int stop_at_third(void *block, size_t usable, void *arg) {
  (void)block, (void)usable;
  return ++*(int *)arg == 3 ? 42 : 0;
}

static void test_visit_stops(void **state) {
  (void)state;
  hk_heap_t *h = hk_heap_create(NULL);
  void *p[10];
  for (int i = 0; i < 10; i++) p[i] = hk_heap_malloc(h, 64);
  int calls = 0;
  assert_int_equal(hk_heap_visit(h, stop_at_third, &calls), 42);
  assert_int_equal(calls, 3);
  for (int i = 0; i < 10; i++) hk_free(p[i]);
  hk_heap_destroy(h);
}

/* Other threads churn their own blocks in the heap during walks: every
 * block live throughout is still visited exactly once. */
typedef struct {
  hk_heap_t *h;
  _Atomic int stop;
} churn_t;

static void *churn(void *arg) {
  churn_t *c = arg;
  void *ring[64] = {0};
  for (unsigned i = 0; !atomic_load(&c->stop); i++) {
    unsigned k = i % 64;
    hk_free(ring[k]);
    ring[k] = hk_heap_malloc(c->h, sizes(i * 7));
  }
  for (unsigned k = 0; k < 64; k++) hk_free(ring[k]);
  return NULL;
}

static void test_visit_concurrent(void **state) {
  (void)state;
  hk_heap_t *h = hk_heap_create(NULL);
  shadow_t s;
  shadow_fill(&s, h, 2000);
  churn_t c = {h, 0};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, churn, &c), 0);
  for (int round = 0; round < 20; round++) {
    memset(s.seen, 0, s.n * sizeof *s.seen);
    assert_int_equal(hk_heap_visit(h, record, &s), 0);
    for (size_t i = 0; i < s.n; i++) assert_int_equal(s.seen[i], 1);
  }
  atomic_store(&c.stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  shadow_free(&s);
  hk_heap_destroy(h);
}

/* ---- sized free --------------------------------------------------------------------- */

static void test_free_sized_accepts(void **state) {
  (void)state;
  for (size_t n = 0; n < 200000; n = n < 256 ? n + 1 : n * 5 / 4) {
    void *p = hk_malloc(n);
    assert_non_null(p);
    hk_free_sized(p, n);
    p = hk_malloc(n + 1);
    void *q = hk_realloc(p, n / 2 + 1); /* in place or moved: either way its size now */
    hk_free_sized(q, n / 2 + 1);
  }
  hk_free_sized(NULL, 10);
  size_t aligns[] = {16, 64, 4096, 65536, (size_t)2 << 20};
  for (size_t a = 0; a < sizeof aligns / sizeof aligns[0]; a++) {
    size_t sz[] = {1, 100, 5000, 100000};
    for (size_t i = 0; i < 4; i++) {
      void *p = hk_aligned_alloc(aligns[a], sz[i]);
      assert_non_null(p);
      hk_free_aligned_sized(p, aligns[a], sz[i]);
    }
  }
  hk_free_aligned_sized(NULL, 3, 10); /* NULL: nothing, whatever the rest */
}

static void die_sized_too_big(void) {
  void *p = hk_malloc(100);
  hk_free_sized(p, 1000);
}
static void die_sized_too_small(void) {
  void *p = hk_malloc(4000);
  hk_free_sized(p, 100);
}
static void die_sized_large(void) {
  void *p = hk_malloc(1 << 20);
  hk_free_sized(p, 100000);
}
static void die_sized_misaligned(void) {
  char *p;
  do p = hk_aligned_alloc(64, 150); /* 192-byte blocks: every other one is not 128-aligned */
  while (((uintptr_t)p & 127) == 0);
  hk_free_aligned_sized(p, 128, 150);
}
static void die_sized_bad_align(void) {
  void *p = hk_malloc(64);
  hk_free_aligned_sized(p, 48, 64);
}
static void die_sized_double(void) {
  void *p = hk_malloc(64);
  hk_free_sized(p, 64);
  hk_free_sized(p, 64);
}

static void test_free_sized_rejects(void **state) {
  (void)state;
  const char *m = "hakmem: free_sized(): size or alignment does not match block 0x";
  hkt_expect_abort(die_sized_too_big, m);
  hkt_expect_abort(die_sized_too_small, m);
  hkt_expect_abort(die_sized_large, m);
  hkt_expect_abort(die_sized_misaligned,
                   "hakmem: free_aligned_sized(): size or alignment does not match block 0x");
  hkt_expect_abort(die_sized_bad_align,
                   "hakmem: free_aligned_sized(): size or alignment does not match block 0x");
  hkt_expect_abort(die_sized_double, "hakmem: free_sized(): double free of 0x");
}

/* ---- hk_good_size, hk_heaps ----------------------------------------------------------- */

static void test_good_size(void **state) {
  (void)state;
  for (size_t n = 0; n < ((size_t)80 << 20); n = n < 300 ? n + 1 : n * 9 / 8) {
    size_t g = hk_good_size(n);
    assert_true(g >= n);
    assert_true(g >= 16);
    assert_int_equal(hk_good_size(g), g); /* a good size is its own */
    void *p = hk_malloc(n);
    assert_non_null(p);
    assert_true(hk_usable_size(p) >= g);
    if (n <= HK_MID_MAX) assert_int_equal(hk_usable_size(p), g);
    hk_free(p);
  }
  assert_int_equal(hk_good_size(SIZE_MAX), 0);
}

static void test_heaps_list(void **state) {
  (void)state;
  size_t before = hk_heaps(NULL, 0);
  assert_true(before >= 1);
  hk_heap_t *a = hk_heap_create(NULL), *b = hk_heap_create(NULL);
  hk_heap_t *all[64];
  size_t n = hk_heaps(all, 64);
  assert_int_equal(n, before + 2);
  int found = 0;
  for (size_t i = 0; i < n; i++) found += (all[i] == a) + (all[i] == b) * 2 + (all[i] == hk_heap_default()) * 4;
  assert_int_equal(found, 7);
  assert_int_equal(hk_heaps(all, 1), n); /* counts past max */
  hk_heap_destroy(a);
  hk_heap_destroy(b);
  assert_int_equal(hk_heaps(NULL, 0), before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_visit_matches_shadow),
      cmocka_unit_test(test_visit_stops),
      cmocka_unit_test(test_visit_concurrent),
      cmocka_unit_test(test_free_sized_accepts),
      cmocka_unit_test(test_free_sized_rejects),
      cmocka_unit_test(test_good_size),
      cmocka_unit_test(test_heaps_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
