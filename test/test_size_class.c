/* Size classes: every class boundary +-1, the small/mid/large transitions,
 * the 12.5% waste bound, 16-byte alignment, and that live blocks never
 * overlap. The expected class sizes are recomputed here from the documented
 * rule, independently of the core's tables. */
#include "test_util.h"

/* Block size of the class serving a request of s bytes (1 <= s <= 64 KiB):
 * 16-byte steps up to 128, then 8 classes per power of two. */
static size_t expected_class_size(size_t s) {
  if (s <= 128) return s <= 16 ? 16 : (s + 15) & ~(size_t)15;
  unsigned b = 63u - (unsigned)__builtin_clzll((unsigned long long)(s - 1));
  unsigned shift = b - 3;
  return (((s - 1) >> shift) + 1) << shift;
}

/* All distinct class sizes, ascending; returns the count. */
static size_t class_table(size_t *out, size_t cap) {
  size_t n = 0, last = 0;
  for (size_t s = 1; s <= HK_MID_MAX; s++) {
    size_t c = expected_class_size(s);
    if (c != last) {
      assert_true(n < cap);
      out[n++] = c;
      last = c;
      s = c; /* every size up to c maps to c */
    }
  }
  return n;
}

static void check_block(void *p, size_t req) {
  assert_non_null(p);
  if ((uintptr_t)p % HK_MIN_ALIGN != 0) fail_msg("block %p for %zu not 16-aligned", p, req);
  size_t usable = hk_usable_size(p);
  if (usable < req) fail_msg("usable %zu < request %zu", usable, req);
  if (req > 128 && req <= HK_MID_MAX && (double)usable > (double)req * 1.125 + 16.0)
    fail_msg("usable %zu wastes more than 12.5%% of %zu", usable, req);
  if (req <= 128 && usable > req + 15 && usable > 16)
    fail_msg("usable %zu too large for small request %zu", usable, req);
  /* Writing the whole usable size is allowed. */
  hkt_fill(p, usable, hkt_addr_seed(p));
}

static void test_class_rule_itself(void **state) {
  HKT_UNUSED(state);
  size_t tab[128];
  size_t n = class_table(tab, 128);
  /* The header promises HK_NUM_CLASSES classes from 16 B to 64 KiB. */
  assert_int_equal(n, HK_NUM_CLASSES);
  assert_int_equal(tab[0], 16);
  assert_int_equal(tab[n - 1], HK_MID_MAX);
  for (size_t i = 1; i < n; i++) assert_true(tab[i] > tab[i - 1] && tab[i] % 16 == 0);
}

static void test_stats_class_sizes(void **state) {
  HKT_UNUSED(state);
  size_t tab[HK_NUM_CLASSES];
  class_table(tab, HK_NUM_CLASSES);
  hk_heap_t *heap = hk_heap_create(NULL);
  assert_non_null(heap);
  hk_stats_t st = hkt_stats(heap);
  for (size_t i = 0; i < HK_NUM_CLASSES; i++) {
    if (st.class_block_size[i] != tab[i])
      fail_msg("class %zu: stats say %zu, rule says %zu", i, st.class_block_size[i], tab[i]);
  }
  /* One block of each class size lands in exactly that class. */
  void *blocks[HK_NUM_CLASSES];
  for (size_t i = 0; i < HK_NUM_CLASSES; i++) {
    blocks[i] = hk_heap_malloc(heap, tab[i]);
    check_block(blocks[i], tab[i]);
  }
  st = hkt_stats(heap);
  size_t total = 0;
  for (size_t i = 0; i < HK_NUM_CLASSES; i++) {
    if (st.class_live_blocks[i] != 1)
      fail_msg("class %zu (%zu B): %zu live blocks, expected 1", i, tab[i], st.class_live_blocks[i]);
    total += tab[i];
  }
  assert_int_equal(st.live_bytes, total);
  for (size_t i = 0; i < HK_NUM_CLASSES; i++) hk_free(blocks[i]);
  st = hkt_stats(heap);
  assert_int_equal(st.live_bytes, 0);
  for (size_t i = 0; i < HK_NUM_CLASSES; i++) assert_int_equal(st.class_live_blocks[i], 0);
  hk_heap_destroy(heap);
}

static void test_boundaries(void **state) {
  HKT_UNUSED(state);
  size_t tab[HK_NUM_CLASSES];
  class_table(tab, HK_NUM_CLASSES);
  for (size_t i = 0; i < HK_NUM_CLASSES; i++) {
    for (int d = -1; d <= 1; d++) {
      size_t req = tab[i] + (size_t)(ptrdiff_t)d;
      void *p = hk_malloc(req);
      check_block(p, req);
      if (req <= HK_MID_MAX) {
        size_t u = hk_usable_size(p);
        if (u < expected_class_size(req))
          fail_msg("request %zu: usable %zu below its class %zu", req, u, expected_class_size(req));
      }
      hk_free(p);
    }
  }
}

static void test_around_mid_max_and_large(void **state) {
  HKT_UNUSED(state);
  static const size_t sizes[] = {8191, 8192, 8193, 65535, 65536, 65537, 65536 + 4096,
                                 (size_t)128 << 10, ((size_t)128 << 10) + 1, HKT_MIB - 1,
                                 HKT_MIB, HKT_MIB + 1, (size_t)2 << 20, ((size_t)2 << 20) + 1,
                                 (size_t)5 << 20, ((size_t)5 << 20) + 3};
  void *keep[sizeof sizes / sizeof sizes[0]];
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    keep[i] = hk_malloc(sizes[i]);
    check_block(keep[i], sizes[i]);
  }
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    assert_true(hkt_check(keep[i], hk_usable_size(keep[i]), hkt_addr_seed(keep[i])));
    hk_free(keep[i]);
  }
}

typedef struct {
  uintptr_t start;
  size_t len;
} range_t;

static int range_cmp(const void *a, const void *b) {
  uintptr_t x = ((const range_t *)a)->start, y = ((const range_t *)b)->start;
  return x < y ? -1 : x > y;
}

/* Many blocks of every boundary size live at once, in a default-heap and a
 * user-heap flavour: sorted by address, [p, p + usable) ranges must be
 * disjoint, and each block still holds its own pattern after all the others
 * were written. */
static void overlap_run(hk_heap_t *heap) {
  enum { COPIES = 6 };
  size_t tab[HK_NUM_CLASSES];
  class_table(tab, HK_NUM_CLASSES);
  static const size_t large[] = {65537, 100000, HKT_MIB, (size_t)5 << 20};
  size_t cap = (HK_NUM_CLASSES * 3 + 4) * COPIES;
  range_t *r = calloc(cap, sizeof *r);
  assert_non_null(r);
  size_t n = 0;
  for (int c = 0; c < COPIES; c++) {
    for (size_t i = 0; i < HK_NUM_CLASSES; i++) {
      for (int d = -1; d <= 1; d++) {
        size_t req = tab[i] + (size_t)(ptrdiff_t)d;
        void *p = heap ? hk_heap_malloc(heap, req) : hk_malloc(req);
        check_block(p, req);
        r[n].start = (uintptr_t)p;
        r[n].len = hk_usable_size(p);
        n++;
      }
    }
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
      void *p = heap ? hk_heap_malloc(heap, large[i]) : hk_malloc(large[i]);
      check_block(p, large[i]);
      r[n].start = (uintptr_t)p;
      r[n].len = hk_usable_size(p);
      n++;
    }
  }
  assert_int_equal(n, cap);
  qsort(r, n, sizeof *r, range_cmp);
  for (size_t i = 0; i < n; i++) {
    if (i + 1 < n && r[i].start + r[i].len > r[i + 1].start)
      fail_msg("blocks overlap: [%#lx,+%zu) and %#lx", (unsigned long)r[i].start, r[i].len,
               (unsigned long)r[i + 1].start);
    if (!hkt_check((void *)r[i].start, r[i].len, r[i].start))
      fail_msg("block %#lx (%zu B) overwritten", (unsigned long)r[i].start, r[i].len);
  }
  for (size_t i = 0; i < n; i++) hk_free((void *)r[i].start);
  free(r);
}

static void test_no_overlap_default(void **state) {
  HKT_UNUSED(state);
  overlap_run(NULL);
}

static void test_no_overlap_user_heap(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *heap = hk_heap_create(NULL);
  assert_non_null(heap);
  overlap_run(heap);
  hk_stats_t st = hkt_stats(heap);
  assert_int_equal(st.live_bytes, 0);
  hk_heap_destroy(heap);
}

/* Every request size from 1 to 4 KiB, one at a time: the class mapping has no
 * holes in the table-driven small range. */
static void test_every_small_size(void **state) {
  HKT_UNUSED(state);
  for (size_t req = 1; req <= 4096; req++) {
    void *p = hk_malloc(req);
    check_block(p, req);
    if (hk_usable_size(p) < expected_class_size(req))
      fail_msg("request %zu: usable %zu, class %zu", req, hk_usable_size(p), expected_class_size(req));
    hk_free(p);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_class_rule_itself),
      cmocka_unit_test(test_stats_class_sizes),
      cmocka_unit_test(test_boundaries),
      cmocka_unit_test(test_around_mid_max_and_large),
      cmocka_unit_test(test_no_overlap_default),
      cmocka_unit_test(test_no_overlap_user_heap),
      cmocka_unit_test(test_every_small_size),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
