/* Contract of the allocation entry points in include/hakmem/hakmem.h:
 * edge sizes, errno values, alignment, realloc semantics, ownership queries. */
#include "test_util.h"

#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

/* Sizes the compiler cannot see: constant huge sizes passed to functions with
 * alloc_size attributes trigger -Walloc-size-larger-than at compile time. */
static volatile size_t g_opaque;
static size_t opaque(size_t v) {
  g_opaque = v;
  return g_opaque;
}

static void test_malloc_zero(void **state) {
  HKT_UNUSED(state);
  void *a = hk_malloc(0);
  void *b = hk_malloc(0);
  assert_non_null(a);
  assert_non_null(b);
  assert_ptr_not_equal(a, b);
  assert_int_equal((uintptr_t)a % HK_MIN_ALIGN, 0);
  assert_ptr_equal(hk_heap_of(a), hk_heap_default());
  hk_free(a);
  hk_free(b);
}

static void test_free_null(void **state) {
  HKT_UNUSED(state);
  hk_free(NULL);
  assert_int_equal(hk_usable_size(NULL), 0);
  assert_null(hk_heap_of(NULL));
}

static void test_calloc_zeroes(void **state) {
  HKT_UNUSED(state);
  static const size_t sizes[] = {1, 16, 100, 1000, 4096, 60000, 65536, 70000,
                                 (size_t)1 << 20, (size_t)3 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    /* Dirty a block first so the calloc is likely to reuse dirty memory
     * rather than fresh (already zero) pages. */
    unsigned char *d = hk_malloc(n);
    assert_non_null(d);
    memset(d, 0xAB, n);
    hk_free(d);
    unsigned char *z = hk_calloc(1, n);
    assert_non_null(z);
    for (size_t j = 0; j < n; j++) {
      if (z[j] != 0) fail_msg("calloc(%zu) byte %zu is 0x%02x", n, j, z[j]);
    }
    hk_free(z);
    unsigned char *z2 = hk_calloc(n, 1);
    assert_non_null(z2);
    assert_true(hk_usable_size(z2) >= n);
    hk_free(z2);
  }
}

static void test_calloc_overflow(void **state) {
  HKT_UNUSED(state);
  size_t half = opaque(SIZE_MAX / 2 + 1);
  errno = 0;
  assert_null(hk_calloc(half, 2));
  assert_int_equal(errno, ENOMEM);
  errno = 0;
  assert_null(hk_calloc(opaque(SIZE_MAX), opaque(SIZE_MAX)));
  assert_int_equal(errno, ENOMEM);
  errno = 0;
  assert_null(hk_calloc(opaque((size_t)1 << 32), opaque((size_t)1 << 32)));
  assert_int_equal(errno, ENOMEM);
  /* Zero times anything is a valid (unique) allocation. */
  void *p = hk_calloc(0, opaque(SIZE_MAX));
  assert_non_null(p);
  hk_free(p);
}

static void test_huge_sizes_enomem(void **state) {
  HKT_UNUSED(state);
  static const size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, SIZE_MAX - HK_MAX_ALIGN,
                                 SIZE_MAX / 2 + 1, SIZE_MAX / 2, (size_t)PTRDIFF_MAX + 1};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = opaque(sizes[i]);
    errno = 0;
    assert_null(hk_malloc(n));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(hk_aligned_alloc(4096, n));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(hk_aligned_alloc(HK_MAX_ALIGN, n));
    assert_int_equal(errno, ENOMEM);
    void *out = (void *)&out;
    assert_int_equal(hk_posix_memalign(&out, 64, n), ENOMEM);
    assert_ptr_equal(out, (void *)&out);
    errno = 0;
    assert_null(hk_realloc(NULL, n));
    assert_int_equal(errno, ENOMEM);
  }
}

static void test_aligned_alloc_einval(void **state) {
  HKT_UNUSED(state);
  static const size_t bad[] = {0, 3, 24, 48, 100, 4095, 4097, HK_MAX_ALIGN * 2,
                               HK_MAX_ALIGN + 16, (size_t)1 << 40, SIZE_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    assert_null(hk_aligned_alloc(opaque(bad[i]), 64));
    assert_int_equal(errno, EINVAL);
  }
  /* Powers of two below HK_MIN_ALIGN are valid for aligned_alloc. */
  for (size_t a = 1; a < HK_MIN_ALIGN; a <<= 1) {
    void *p = hk_aligned_alloc(opaque(a), 10);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % HK_MIN_ALIGN, 0);
    hk_free(p);
  }
}

static void test_posix_memalign_einval(void **state) {
  HKT_UNUSED(state);
  /* 1, 2, 4 are powers of two but not multiples of sizeof(void *). */
  static const size_t bad[] = {0, 1, 2, 4, 12, 24, 100, HK_MAX_ALIGN * 2, SIZE_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    void *sentinel = (void *)(uintptr_t)0x1234;
    void *out = sentinel;
    assert_int_equal(hk_posix_memalign(&out, opaque(bad[i]), 64), EINVAL);
    assert_ptr_equal(out, sentinel);
  }
  void *out = NULL;
  assert_int_equal(hk_posix_memalign(&out, sizeof(void *), 0), 0);
  assert_non_null(out);
  hk_free(out);
}

/* Every power-of-two alignment from 16 B to HK_MAX_ALIGN (1 GiB), with sizes
 * around it (up to 1 MiB alignments; above, sizes that do not fill the
 * address space), via all three aligned entry points. */
static void check_aligned_block(void *p, size_t align, size_t size) {
  assert_non_null(p);
  if ((uintptr_t)p % align != 0) fail_msg("%p not aligned to %zu (size %zu)", p, align, size);
  size_t usable = hk_usable_size(p);
  if (usable < size) fail_msg("usable %zu < %zu (align %zu)", usable, size, align);
  hkt_fill(p, usable, hkt_addr_seed(p));
  assert_true(hkt_check(p, usable, hkt_addr_seed(p)));
}

static void test_alignments(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *heap = hk_heap_create(NULL);
  assert_non_null(heap);
  for (size_t a = 16; a <= hkt_max_align(); a <<= 1) {
    const size_t big = (size_t)3 << 20, small_a = (size_t)1 << 20;
    const size_t sizes[] = {1, 16, a <= small_a ? a - 1 : big, a <= small_a ? a : 100000,
                            a <= small_a ? a + 1 : 5000, a <= small_a ? 3 * a : 200, 1000, 70000};
    void *keep[3 * (sizeof sizes / sizeof sizes[0])];
    size_t k = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      size_t n = sizes[i];
      void *p = hk_aligned_alloc(a, n);
      check_aligned_block(p, a, n);
      keep[k++] = p;
      void *q = NULL;
      assert_int_equal(hk_posix_memalign(&q, a, n), 0);
      check_aligned_block(q, a, n);
      keep[k++] = q;
      void *h = hk_heap_aligned_alloc(heap, a, n);
      check_aligned_block(h, a, n);
      assert_ptr_equal(hk_heap_of(h), heap);
      keep[k++] = h;
    }
    /* All blocks were live at once: their patterns prove no overlap. */
    for (size_t i = 0; i < k; i++) {
      assert_true(hkt_check(keep[i], hk_usable_size(keep[i]), hkt_addr_seed(keep[i])));
      hk_free(keep[i]);
    }
  }
  hk_heap_destroy(heap);
}

static void test_realloc_preserves(void **state) {
  HKT_UNUSED(state);
  /* Walk up through small, mid and large sizes and back down; the kept prefix
   * must survive every move. */
  static const size_t seq[] = {1, 8, 17, 100, 128, 129, 1000, 1024, 1025, 8192, 8193, 40000,
                               65536, 65537, 200000, (size_t)5 << 20, (size_t)1 << 20,
                               70000, 65536, 5000, 200, 16, 1, 300000, 24};
  uint64_t seed = 42;
  unsigned char *p = hk_realloc(NULL, seq[0]);
  assert_non_null(p);
  hkt_fill(p, seq[0], seed);
  size_t cur = seq[0];
  for (size_t i = 1; i < sizeof seq / sizeof seq[0]; i++) {
    size_t n = seq[i];
    unsigned char *q = hk_realloc(p, n);
    assert_non_null(q);
    assert_true(hk_usable_size(q) >= n);
    size_t kept = cur < n ? cur : n;
    if (!hkt_check(q, kept, seed)) fail_msg("realloc %zu -> %zu lost content", cur, n);
    seed++;
    hkt_fill(q, n, seed);
    p = q;
    cur = n;
  }
  hk_free(p);
}

static void test_realloc_null_and_zero(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *heap = hk_heap_create(NULL);
  assert_non_null(heap);
  void *p = hk_heap_realloc(heap, NULL, 100);
  assert_non_null(p);
  assert_ptr_equal(hk_heap_of(p), heap);
  hk_stats_t st = hkt_stats(heap);
  assert_true(st.live_bytes >= 100);
  /* realloc(p, 0) frees p (glibc behaviour): the heap's live bytes drop. */
  assert_null(hk_realloc(p, 0));
  st = hkt_stats(heap);
  assert_int_equal(st.live_bytes, 0);

  /* A block keeps its heap when resized through the default-heap call. */
  void *q = hk_heap_malloc(heap, 50);
  assert_non_null(q);
  void *r = hk_realloc(q, 500000);
  assert_non_null(r);
  assert_ptr_equal(hk_heap_of(r), heap);
  r = hk_realloc(r, 30);
  assert_non_null(r);
  assert_ptr_equal(hk_heap_of(r), heap);
  hk_free(r);
  st = hkt_stats(heap);
  assert_int_equal(st.live_bytes, 0);
  hk_heap_destroy(heap);

  void *d = hk_realloc(NULL, 10);
  assert_non_null(d);
  assert_ptr_equal(hk_heap_of(d), hk_heap_default());
  assert_null(hk_realloc(d, 0));
}

static void test_realloc_failure_keeps_block(void **state) {
  HKT_UNUSED(state);
  static const size_t sizes[] = {40, 5000, 100000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *p = hk_malloc(sizes[i]);
    assert_non_null(p);
    hkt_fill(p, sizes[i], 7);
    errno = 0;
    assert_null(hk_realloc(p, opaque(SIZE_MAX - 64)));
    assert_int_equal(errno, ENOMEM);
    assert_true(hkt_check(p, sizes[i], 7));
    hk_free(p);
  }
}

/* Large blocks grow and shrink by remapping (no copy): two blocks grown in
 * turn, so that at least some steps cannot grow in place and move. Content,
 * usable size, the heap's accounting and its budget must all hold. */
static void test_realloc_large_remap(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.max_bytes = (size_t)64 << 20;
  hk_heap_t *heap = hk_heap_create(&cfg);
  assert_non_null(heap);
  unsigned char *b[2];
  size_t cur[2] = {70000, 90000};
  for (int k = 0; k < 2; k++) {
    b[k] = hk_heap_malloc(heap, cur[k]);
    assert_non_null(b[k]);
    hkt_fill(b[k], cur[k], 100 + (uint64_t)k);
  }
  for (int step = 0; step < 20; step++) {
    int k = step & 1;
    size_t n = cur[k] + cur[k] / 2;
    unsigned char *q = hk_realloc(b[k], n);
    assert_non_null(q);
    if (!hkt_check(q, cur[k], 100 + (uint64_t)k)) fail_msg("grow %zu -> %zu lost content", cur[k], n);
    assert_true(hk_usable_size(q) >= n);
    assert_ptr_equal(hk_heap_of(q), heap);
    hkt_fill(q, n, 100 + (uint64_t)k);
    b[k] = q;
    cur[k] = n;
    hk_stats_t st = hkt_stats(heap);
    assert_int_equal(st.large_blocks, 2);
    assert_int_equal(st.large_bytes, hk_usable_size(b[0]) + hk_usable_size(b[1]));
    assert_true(st.mapped_bytes <= cfg.max_bytes);
  }
  /* Past the budget: NULL, ENOMEM, the block as it was. */
  errno = 0;
  assert_null(hk_realloc(b[0], (size_t)80 << 20));
  assert_int_equal(errno, ENOMEM);
  assert_true(hkt_check(b[0], cur[0], 100));
  /* A shrink to less than half frees the tail (an area block's as a run
   * retained for reuse, a mapping's back to the OS) and keeps the prefix. */
  hk_stats_t before = hkt_stats(heap);
  unsigned char *q = hk_realloc(b[1], 100000);
  assert_non_null(q);
  assert_true(hkt_check(q, 100000, 101));
  hk_stats_t after = hkt_stats(heap);
  assert_true(after.large_bytes < before.large_bytes);
  assert_true(after.mapped_bytes < before.mapped_bytes ||
              after.large_retained_bytes + after.large_released_bytes >
                  before.large_retained_bytes + before.large_released_bytes);
  assert_true(hk_usable_size(q) >= 100000 && hk_usable_size(q) < cur[1] / 2);
  hk_free(q);
  hk_free(b[0]);
  assert_int_equal(hkt_stats(heap).live_bytes, 0);
  hk_heap_destroy(heap);
}

static void test_version(void **state) {
  HKT_UNUSED(state);
  assert_string_equal(hk_version(), HK_VERSION_STRING);
  assert_int_equal(HK_VERSION, HK_VERSION_MAJOR * 10000 + HK_VERSION_MINOR * 100 + HK_VERSION_PATCH);
}

static void test_heap_of(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *def = hk_heap_default();
  assert_non_null(def);
  assert_ptr_equal(hk_heap_default(), def);

  void *s = hk_malloc(24), *m = hk_malloc(20000), *l = hk_malloc((size_t)2 << 20);
  assert_non_null(s);
  assert_non_null(m);
  assert_non_null(l);
  assert_ptr_equal(hk_heap_of(s), def);
  assert_ptr_equal(hk_heap_of(m), def);
  assert_ptr_equal(hk_heap_of(l), def);

  hk_heap_t *heap = hk_heap_create(NULL);
  assert_non_null(heap);
  assert_ptr_not_equal(heap, def);
  void *hs = hk_heap_malloc(heap, 24), *hl = hk_heap_calloc(heap, 1, (size_t)3 << 20);
  assert_non_null(hs);
  assert_non_null(hl);
  assert_ptr_equal(hk_heap_of(hs), heap);
  assert_ptr_equal(hk_heap_of(hl), heap);

  /* Memory hakmem never handed out. */
  int on_stack = 0;
  static char in_data[64];
  assert_null(hk_heap_of(&on_stack));
  assert_null(hk_heap_of(in_data));
  assert_null(hk_heap_of((void *)(uintptr_t)0x1000));

  hk_free(hs);
  hk_free(hl);
  hk_heap_destroy(heap);
  hk_free(s);
  hk_free(m);
  hk_free(l);
  /* Destroying NULL does nothing (the default heap aborts: test_badinput). */
  hk_heap_destroy(NULL);
  void *again = hk_malloc(10);
  assert_non_null(again);
  hk_free(again);
}

static void test_usable_size_writable(void **state) {
  HKT_UNUSED(state);
  /* Writing all usable bytes of one block must not disturb its neighbour. */
  for (size_t n = 1; n <= 2048; n += 7) {
    unsigned char *a = hk_malloc(n), *b = hk_malloc(n);
    assert_non_null(a);
    assert_non_null(b);
    size_t ua = hk_usable_size(a), ub = hk_usable_size(b);
    assert_true(ua >= n && ub >= n);
    hkt_fill(b, ub, 2);
    hkt_fill(a, ua, 1);
    assert_true(hkt_check(b, ub, 2));
    assert_true(hkt_check(a, ua, 1));
    hk_free(a);
    hk_free(b);
  }
}

/* ---- invalid pointers ----------------------------------------------------------
 * hakmem aborts with a fixed message when a pointer it never returned reaches
 * free/realloc. Each case runs in a forked child whose stderr is captured. */
static char g_static_block[64];

static void die_free_stack(void) {
  int on_stack = 0;
  hk_free(&on_stack);
}
static void die_free_static(void) { hk_free(g_static_block + 16); }
static void die_free_large_interior(void) {
  char *l = hk_malloc(HKT_MIB);
  hk_free(l + 4096);
}
static void die_realloc_stack(void) {
  int on_stack = 0;
  void *r = hk_realloc(&on_stack, 100);
  HKT_UNUSED(r);
}
#ifdef HK_TEST_CHECKED
/* Only the checked build validates these on the owner's fast path. */
static void die_free_interior(void) {
  char *p = hk_malloc(64);
  hk_free(p + 16);
}
static void die_double_free(void) {
  void *p = hk_malloc(64);
  hk_free(p);
  hk_free(p);
}
#endif

static void test_invalid_pointers_abort(void **state) {
  HKT_UNUSED(state);
  hkt_expect_abort(die_free_stack, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_free_static, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_free_large_interior, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_realloc_stack, "hakmem: realloc(): invalid pointer 0x");
#ifdef HK_TEST_CHECKED
  hkt_expect_abort(die_free_interior, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_double_free, "hakmem: free(): double free of 0x");
#endif
}

/* The fill/check helpers every other test relies on must actually notice a
 * single changed byte anywhere, including the unaligned tail. */
static void test_pattern_helpers_detect_damage(void **state) {
  HKT_UNUSED(state);
  unsigned char buf[203];
  for (size_t n = 1; n <= sizeof buf; n += 13) {
    hkt_fill(buf, n, 5);
    assert_true(hkt_check(buf, n, 5));
    assert_false(hkt_check(buf, n, 6));
    for (size_t i = 0; i < n; i++) {
      buf[i] ^= 0x40;
      if (hkt_check(buf, n, 5)) fail_msg("damage at %zu of %zu not seen", i, n);
      buf[i] ^= 0x40;
    }
  }
  void *p = hk_malloc(64);
  assert_non_null(p);
  hkt_block_fill(p, 64);
  assert_true(hkt_block_check(p));
  ((unsigned char *)p)[63] ^= 1;
  assert_false(hkt_block_check(p));
  hk_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pattern_helpers_detect_damage),
      cmocka_unit_test(test_malloc_zero),
      cmocka_unit_test(test_free_null),
      cmocka_unit_test(test_calloc_zeroes),
      cmocka_unit_test(test_calloc_overflow),
      cmocka_unit_test(test_huge_sizes_enomem),
      cmocka_unit_test(test_aligned_alloc_einval),
      cmocka_unit_test(test_posix_memalign_einval),
      cmocka_unit_test(test_alignments),
      cmocka_unit_test(test_realloc_preserves),
      cmocka_unit_test(test_realloc_null_and_zero),
      cmocka_unit_test(test_realloc_failure_keeps_block),
      cmocka_unit_test(test_realloc_large_remap),
      cmocka_unit_test(test_version),
      cmocka_unit_test(test_heap_of),
      cmocka_unit_test(test_usable_size_writable),
      cmocka_unit_test(test_invalid_pointers_abort),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
