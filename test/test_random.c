/* Randomized differential test: >= 1,000,000 operations (malloc, calloc,
 * realloc, aligned_alloc, free) checked against a shadow model.
 *
 * The model is a slot array of (ptr, size, seed). Every block carries a fill
 * pattern derived from its address, checked before it is freed or resized, so
 * overlapping blocks, double hand-outs and lost realloc contents all show up
 * as pattern mismatches. The sequence is deterministic (fixed seed) so a
 * failure replays exactly.
 */
#include "test_util.h"

#define SLOTS 4096
#define OPS HKT_SCALE(1000000)

typedef struct {
  unsigned char *p;
  size_t size;
  uint64_t seed; /* pattern seed: the address the block had when filled */
} slot_t;

typedef struct {
  hk_heap_t *heap; /* NULL: the hk_malloc family (default heap) */
  hkt_rng_t rng;
  slot_t slot[SLOTS];
  size_t live;          /* occupied slots */
  unsigned long counts[6];
} model_t;

enum { OP_MALLOC, OP_CALLOC, OP_ALIGNED, OP_REALLOC, OP_FREE, OP_REALLOC_ZERO };

/* Mostly small, some mid (to 64 KiB), rarely large (to 4 MiB). Mid and large
 * are kept rare because filling and checking them dominates the runtime. */
static size_t random_size(hkt_rng_t *r) {
  unsigned roll = (unsigned)(hkt_rng_next(r) % 10000);
  if (roll < 9000) return hkt_rng_range(r, 0, 1024);
  if (roll < 9970) return hkt_rng_range(r, 1025, HK_MID_MAX);
  return hkt_rng_range(r, HK_MID_MAX + 1, (size_t)4 << 20);
}

static void *do_malloc(model_t *m, size_t n) {
  return m->heap ? hk_heap_malloc(m->heap, n) : hk_malloc(n);
}

static void *do_calloc(model_t *m, size_t n, size_t sz) {
  return m->heap ? hk_heap_calloc(m->heap, n, sz) : hk_calloc(n, sz);
}

static void *do_aligned(model_t *m, size_t a, size_t n) {
  return m->heap ? hk_heap_aligned_alloc(m->heap, a, n) : hk_aligned_alloc(a, n);
}

static void *do_realloc(model_t *m, void *p, size_t n) {
  return m->heap ? hk_heap_realloc(m->heap, p, n) : hk_realloc(p, n);
}

static void check_slot(model_t *m, size_t i, unsigned long op) {
  slot_t *s = &m->slot[i];
  if (!hkt_check(s->p, s->size, s->seed))
    fail_msg("op %lu: block %p (%zu B, slot %zu) corrupted", op, (void *)s->p, s->size, i);
}

/* New block bookkeeping shared by every allocating operation. */
static void adopt(model_t *m, size_t i, void *p, size_t n, unsigned long op) {
  if (!p) fail_msg("op %lu: allocation of %zu bytes failed (errno %d)", op, n, errno);
  if ((uintptr_t)p % HK_MIN_ALIGN) fail_msg("op %lu: %p not 16-aligned", op, p);
  if (hk_usable_size(p) < n) fail_msg("op %lu: usable %zu < %zu", op, hk_usable_size(p), n);
  if (m->heap && hk_heap_of(p) != m->heap) fail_msg("op %lu: %p outside its heap", op, p);
  slot_t *s = &m->slot[i];
  s->p = p;
  s->size = n;
  s->seed = hkt_addr_seed(p);
  hkt_fill(p, n, s->seed);
}

static void allocate_into(model_t *m, size_t i, unsigned long op) {
  size_t n = random_size(&m->rng);
  unsigned roll = (unsigned)(hkt_rng_next(&m->rng) % 100);
  void *p;
  if (roll < 60) {
    m->counts[OP_MALLOC]++;
    p = do_malloc(m, n);
  } else if (roll < 75) {
    m->counts[OP_CALLOC]++;
    /* Split n into count * size so both arguments vary. */
    size_t elem = (size_t)1 << hkt_rng_range(&m->rng, 0, 4);
    size_t count = n / elem;
    n = count * elem;
    p = do_calloc(m, count, elem);
    if (!p) fail_msg("op %lu: calloc(%zu, %zu) failed", op, count, elem);
    for (size_t k = 0; k < n; k++)
      if (((unsigned char *)p)[k]) fail_msg("op %lu: calloc byte %zu of %zu not zero", op, k, n);
  } else if (roll < 90) {
    m->counts[OP_ALIGNED]++;
    /* Alignments up to 4 KiB usually, rarely up to 256 KiB. */
    unsigned lg = (unsigned)hkt_rng_range(&m->rng, 4, hkt_rng_next(&m->rng) % 64 ? 12 : 18);
    size_t a = (size_t)1 << lg;
    p = do_aligned(m, a, n);
    if (p && (uintptr_t)p % a) fail_msg("op %lu: %p not aligned to %zu", op, p, a);
  } else {
    m->counts[OP_REALLOC]++;
    p = do_realloc(m, NULL, n);
  }
  adopt(m, i, p, n, op);
  m->live++;
}

static void release(model_t *m, size_t i, unsigned long op) {
  check_slot(m, i, op);
  hk_free(m->slot[i].p);
  m->slot[i].p = NULL;
  m->live--;
}

static void resize(model_t *m, size_t i, unsigned long op) {
  slot_t *s = &m->slot[i];
  check_slot(m, i, op);
  /* Half the resizes stay near the old size (in-place paths), half jump. */
  size_t n = hkt_rng_next(&m->rng) % 2
                 ? random_size(&m->rng)
                 : s->size + hkt_rng_range(&m->rng, 0, 64) - (s->size > 32 ? 32 : s->size);
  if (n == 0) n = 1; /* realloc(p, 0) is a free, exercised separately */
  unsigned char *q = hk_realloc(s->p, n);
  if (!q) fail_msg("op %lu: realloc(%p, %zu) failed", op, (void *)s->p, n);
  size_t kept = s->size < n ? s->size : n;
  /* The kept prefix still holds the pattern of the old address. */
  if (!hkt_check(q, kept, s->seed))
    fail_msg("op %lu: realloc %zu -> %zu lost the kept prefix", op, s->size, n);
  adopt(m, i, q, n, op);
}

static void run_model(hk_heap_t *heap, uint64_t seed, unsigned long ops) {
  model_t *m = calloc(1, sizeof *m);
  assert_non_null(m);
  m->heap = heap;
  hkt_rng_seed(&m->rng, seed);
  print_message("random: seed %llu, %lu ops, %s\n", (unsigned long long)seed, ops,
                heap ? "user heap" : "default heap");

  for (unsigned long op = 0; op < ops; op++) {
    /* Mostly churn in the low slots so reuse is frequent; the whole array is
     * used as well so the live set also grows large at times. */
    size_t i = hkt_rng_next(&m->rng) % 4 ? hkt_rng_range(&m->rng, 0, SLOTS / 8 - 1)
                                         : hkt_rng_range(&m->rng, 0, SLOTS - 1);
    if (!m->slot[i].p) {
      allocate_into(m, i, op);
      continue;
    }
    unsigned roll = (unsigned)(hkt_rng_next(&m->rng) % 100);
    if (roll < 60) {
      m->counts[OP_FREE]++;
      release(m, i, op);
    } else if (roll < 98) {
      m->counts[OP_REALLOC]++;
      resize(m, i, op);
    } else {
      /* realloc(p, 0) frees the block and returns NULL. */
      m->counts[OP_REALLOC_ZERO]++;
      check_slot(m, i, op);
      if (hk_realloc(m->slot[i].p, 0) != NULL) fail_msg("op %lu: realloc(p, 0) returned a block", op);
      m->slot[i].p = NULL;
      m->live--;
    }
  }

  /* Each kind of operation happened a meaningful number of times. */
  for (int k = 0; k < 6; k++) assert_true(m->counts[k] > ops / 1000);
  print_message("random: malloc %lu calloc %lu aligned %lu realloc %lu free %lu realloc0 %lu, "
                "%zu live at end\n",
                m->counts[0], m->counts[1], m->counts[2], m->counts[3], m->counts[4], m->counts[5],
                m->live);

  for (size_t i = 0; i < SLOTS; i++)
    if (m->slot[i].p) release(m, i, ops);
  assert_int_equal(m->live, 0);
  free(m);
}

static void test_random_default_heap(void **state) {
  HKT_UNUSED(state);
  hk_stats_t before = hkt_stats(hk_heap_default());
  run_model(NULL, 0x5EED0001, OPS);
  /* Single-threaded, so live_bytes is exact: everything allocated was freed. */
  hk_stats_t after = hkt_stats(hk_heap_default());
  assert_int_equal(after.live_bytes, before.live_bytes);
}

static void test_random_user_heap(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *heap = hk_heap_create(NULL);
  assert_non_null(heap);
  run_model(heap, 0x5EED0002, OPS);
  hk_stats_t st = hkt_stats(heap);
  assert_int_equal(st.live_bytes, 0);
  assert_int_equal(st.large_blocks, 0);
  for (size_t c = 0; c < HK_NUM_CLASSES; c++) assert_int_equal(st.class_live_blocks[c], 0);
  hk_heap_destroy(heap);
}

/* Same model over a LEAN heap (shorter: the point is the paths, not volume):
 * empty SuperSlabs go back to the OS at once, so the map/unmap/reuse paths
 * run constantly instead of the retained cache. */
static void test_random_lean_heap(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  assert_int_equal(hk_heap_config_preset(&cfg, HK_PROFILE_LEAN), 0);
  hk_heap_t *heap = hk_heap_create(&cfg);
  assert_non_null(heap);
  run_model(heap, 0x5EED0003, OPS / 4);
  hk_stats_t st = hkt_stats(heap);
  assert_int_equal(st.live_bytes, 0);
  hk_heap_destroy(heap);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_default_heap),
      cmocka_unit_test(test_random_user_heap),
      cmocka_unit_test(test_random_lean_heap),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
