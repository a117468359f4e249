/* Heaps: configuration defaults and validation, independence of heaps, arena
 * destroy (no leak across create/alloc/destroy cycles), budgets, OS hooks,
 * trim, and the statistics interface. */
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>

/* ---- configuration ---------------------------------------------------------- */

/* Names the field and both values: a documented default that drifts shows
 * up as one readable line. */
#define EXPECT_FIELD(cfg, field, want)                                   \
  do {                                                                    \
    unsigned long long got_ = (unsigned long long)(cfg).field;            \
    unsigned long long want_ = (unsigned long long)(want);                \
    if (got_ != want_)                                                    \
      fail_msg("%s: got %llu, documented %llu", #field, got_, want_);     \
  } while (0)

static void test_config_defaults(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  memset(&cfg, 0x5A, sizeof cfg); /* init must overwrite every field */
  hk_heap_config_init(&cfg);
  EXPECT_FIELD(cfg, struct_size, sizeof(hk_heap_config_t));
  EXPECT_FIELD(cfg, version, HK_HEAP_CONFIG_VERSION);
  assert_non_null(cfg.name);
  assert_string_equal(cfg.name, "heap");
  EXPECT_FIELD(cfg, profile, HK_PROFILE_SPEED);
  EXPECT_FIELD(cfg, prewarm_bytes, HK_SUPERSLAB_SIZE);
  EXPECT_FIELD(cfg, prewarm_touch, 0);
  EXPECT_FIELD(cfg, decommit, HK_DECOMMIT_DONTNEED);
  EXPECT_FIELD(cfg, decommit_delay_ms, 1000);
  EXPECT_FIELD(cfg, retain_superslabs, 32);
  EXPECT_FIELD(cfg, region_cache_slots, 16);
  EXPECT_FIELD(cfg, region_cache_max_bytes, (size_t)512 << 20);
  EXPECT_FIELD(cfg, large_decay_ms, 1000);
  EXPECT_FIELD(cfg, max_bytes, 0);
  assert_null(cfg.os_hooks);
  assert_null(hk_heap_config_check(&cfg));
}

static void test_config_presets(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  assert_int_equal(hk_heap_config_preset(&cfg, HK_PROFILE_SPEED), 0);
  EXPECT_FIELD(cfg, profile, HK_PROFILE_SPEED);
  EXPECT_FIELD(cfg, retain_superslabs, 32);
  assert_null(hk_heap_config_check(&cfg));

  assert_int_equal(hk_heap_config_preset(&cfg, HK_PROFILE_BALANCED), 0);
  EXPECT_FIELD(cfg, profile, HK_PROFILE_BALANCED);
  EXPECT_FIELD(cfg, retain_superslabs, 2);
  EXPECT_FIELD(cfg, prewarm_bytes, 0);
  EXPECT_FIELD(cfg, decommit, HK_DECOMMIT_OFF);
  assert_null(hk_heap_config_check(&cfg));

  assert_int_equal(hk_heap_config_preset(&cfg, HK_PROFILE_LEAN), 0);
  EXPECT_FIELD(cfg, profile, HK_PROFILE_LEAN);
  EXPECT_FIELD(cfg, retain_superslabs, 1);
  EXPECT_FIELD(cfg, decommit, HK_DECOMMIT_DONTNEED);
  EXPECT_FIELD(cfg, prewarm_bytes, 0);
  EXPECT_FIELD(cfg, struct_size, sizeof(hk_heap_config_t));
  assert_null(hk_heap_config_check(&cfg));

  assert_int_equal(hk_heap_config_preset(&cfg, (hk_profile_t)99), EINVAL);
}

/* A config the library must reject: check names a field, create fails with
 * EINVAL. */
static void expect_rejected(const hk_heap_config_t *cfg, const char *what) {
  const char *msg = hk_heap_config_check(cfg);
  if (!msg) fail_msg("config with %s accepted by hk_heap_config_check", what);
  assert_true(strlen(msg) > 0);
  errno = 0;
  hk_heap_t *h = hk_heap_create(cfg);
  if (h) fail_msg("hk_heap_create accepted a config with %s", what);
  assert_int_equal(errno, EINVAL);
}

static void test_config_invalid(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;

  hk_heap_config_init(&cfg);
  cfg.max_bytes = 1000; /* must be 0 or >= 2 MiB */
  expect_rejected(&cfg, "max_bytes = 1000");

  hk_heap_config_init(&cfg);
  cfg.max_bytes = HK_SUPERSLAB_SIZE - 1;
  expect_rejected(&cfg, "max_bytes = 2 MiB - 1");

  hk_heap_config_init(&cfg);
  cfg.decommit = (hk_decommit_t)7;
  expect_rejected(&cfg, "decommit = 7");

  hk_heap_config_init(&cfg);
  cfg.profile = (hk_profile_t)42;
  expect_rejected(&cfg, "profile = 42");

  hk_heap_config_init(&cfg);
  cfg.struct_size = 3;
  expect_rejected(&cfg, "struct_size = 3");

  hk_heap_config_init(&cfg);
  cfg.struct_size = 0;
  expect_rejected(&cfg, "struct_size = 0");

  hk_heap_config_init(&cfg);
  cfg.version = 0;
  expect_rejected(&cfg, "version = 0");

  /* NULL is the defaults, as for hk_heap_create(NULL). */
  assert_null(hk_heap_config_check(NULL));

  /* The boundary value itself is fine. */
  hk_heap_config_init(&cfg);
  cfg.max_bytes = HK_SUPERSLAB_SIZE;
  assert_null(hk_heap_config_check(&cfg));
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  hk_heap_destroy(h);
}

/* ---- independence and destroy --------------------------------------------- */

#define NBLK 3000

static size_t blk_size(size_t i) {
  /* Mostly small, every 97th mid, every 997th large. */
  if (i % 997 == 0) return 300000 + i;
  if (i % 97 == 0) return 9000 + i * 3;
  return 1 + (i * 37) % 700;
}

static void fill_heap(hk_heap_t *h, void **blk) {
  for (size_t i = 0; i < NBLK; i++) {
    blk[i] = hk_heap_malloc(h, blk_size(i));
    assert_non_null(blk[i]);
    assert_ptr_equal(hk_heap_of(blk[i]), h);
    hkt_fill(blk[i], blk_size(i), hkt_addr_seed(blk[i]));
  }
}

static void check_blocks(void **blk) {
  for (size_t i = 0; i < NBLK; i++)
    if (!hkt_check(blk[i], blk_size(i), hkt_addr_seed(blk[i])))
      fail_msg("block %zu (%p, %zu B) corrupted", i, blk[i], blk_size(i));
}

static void test_heaps_independent(void **state) {
  HKT_UNUSED(state);
  void **a = calloc(NBLK, sizeof *a), **b = calloc(NBLK, sizeof *b);
  assert_non_null(a);
  assert_non_null(b);
  hk_heap_t *ha = hk_heap_create(NULL), *hb = hk_heap_create(NULL);
  assert_non_null(ha);
  assert_non_null(hb);
  assert_ptr_not_equal(ha, hb);
  /* Interleave so the two heaps' mappings are neighbours in memory. */
  for (size_t i = 0; i < NBLK; i++) {
    a[i] = hk_heap_malloc(ha, blk_size(i));
    b[i] = hk_heap_malloc(hb, blk_size(i));
    assert_non_null(a[i]);
    assert_non_null(b[i]);
    hkt_fill(a[i], blk_size(i), hkt_addr_seed(a[i]));
    hkt_fill(b[i], blk_size(i), hkt_addr_seed(b[i]));
  }
  hk_stats_t sa = hkt_stats(ha), sb = hkt_stats(hb);
  assert_int_equal(sa.live_bytes, sb.live_bytes);
  assert_true(sa.live_bytes > 0);

  /* Destroying A (with all its blocks live) leaves B and the default heap
   * untouched and usable. */
  void *d = hk_malloc(1000);
  assert_non_null(d);
  hkt_fill(d, 1000, 99);
  hk_heap_destroy(ha);
  check_blocks(b);
  assert_true(hkt_check(d, 1000, 99));
  sb = hkt_stats(hb);
  assert_int_equal(sb.live_bytes, sa.live_bytes);
  /* B keeps allocating after A is gone, including into the freed space. */
  for (size_t i = 0; i < NBLK; i += 2) {
    hk_free(b[i]);
    b[i] = hk_heap_malloc(hb, blk_size(i));
    assert_non_null(b[i]);
    hkt_fill(b[i], blk_size(i), hkt_addr_seed(b[i]));
  }
  check_blocks(b);
  for (size_t i = 0; i < NBLK; i++) hk_free(b[i]);
  sb = hkt_stats(hb);
  assert_int_equal(sb.live_bytes, 0);
  hk_heap_destroy(hb);
  hk_free(d);
  free(a);
  free(b);
}

/* hk_heap_malloc caches the thread's last heap: every mix of default, NULL
 * and user heaps must land in the heap asked for, also once the cached
 * heap is destroyed and on a thread's very first call. */
static void *heap_cache_mix(void *arg) {
  hk_heap_t *user = arg;
  hk_heap_t *seq[] = {NULL, hk_heap_default(), user, NULL, user, hk_heap_default(), user};
  for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
    void *p = hk_heap_malloc(seq[i], 48 + 16 * i);
    assert_non_null(p);
    assert_ptr_equal(hk_heap_of(p), seq[i] ? seq[i] : hk_heap_default());
    hk_free(p);
  }
  return NULL;
}

static void test_heap_malloc_cache(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *h = hk_heap_create(NULL);
  assert_non_null(h);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, heap_cache_mix, h), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  heap_cache_mix(h);
  void *p = hk_heap_malloc(h, 100); /* h is now this thread's cached heap */
  assert_non_null(p);
  hk_heap_destroy(h);
  void *q = hk_heap_malloc(NULL, 100);
  void *r = hk_heap_malloc(hk_heap_default(), 100);
  assert_non_null(q);
  assert_non_null(r);
  assert_ptr_equal(hk_heap_of(q), hk_heap_default());
  assert_ptr_equal(hk_heap_of(r), hk_heap_default());
  hk_free(q);
  hk_free(r);
}

/* A burst of blocks, all freed by their own thread: every slab but the
 * pinned head of each class goes back to the pool as it empties, so the
 * SuperSlabs still in use afterwards are few, not the burst's. (The full
 * slabs of the burst are detached; the frees adopt them one by one, each
 * displacing the class's pinned head.) */
static void test_burst_gives_slabs_back(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *h = hk_heap_create(NULL); /* SPEED: pins queue heads */
  assert_non_null(h);
  enum { N = 200000 }; /* ~100 MiB of 64..1024 B blocks: ~50 SuperSlabs */
  void **v = malloc(N * sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < N; i++) {
    v[i] = hk_heap_malloc(h, 64 + (hkt_mix64(i) % 961));
    assert_non_null(v[i]);
  }
  for (size_t i = 0; i < N; i++) hk_free(v[i]);
  hk_stats_t st = hkt_stats(h);
  assert_int_equal(st.live_bytes, 0);
  /* What may stay: one pinned (empty) head slab per class, at worst each in
   * its own SuperSlab: 29 classes cover 64..1024 B. The burst took ~50. */
  assert_true(st.superslabs - st.superslabs_empty <= 29);
  free(v);
  hk_heap_destroy(h);
}

static void test_destroy_cycles_no_growth(void **state) {
  HKT_UNUSED(state);
  enum { CYCLES = 20 };
  void **blk = calloc(NBLK, sizeof *blk);
  assert_non_null(blk);
  size_t first_mapped = 0, rss_after_first = 0;
  hk_stats_t def0 = hkt_stats(hk_heap_default());
  for (int c = 0; c < CYCLES; c++) {
    hk_heap_t *h = hk_heap_create(NULL);
    assert_non_null(h);
    hk_stats_t fresh = hkt_stats(h);
    assert_int_equal(fresh.live_bytes, 0);
    fill_heap(h, blk); /* fills every byte: RSS sees all of it */
    /* Free a third so destroy meets partially used slabs too. */
    for (size_t i = 0; i < NBLK; i += 3) hk_free(blk[i]);
    hk_stats_t st = hkt_stats(h);
    assert_true(st.mapped_bytes > 0);
    if (c == 0) first_mapped = st.mapped_bytes;
    /* A new heap doing the same work needs the same memory every time. */
    if (st.mapped_bytes > first_mapped + HK_SUPERSLAB_SIZE)
      fail_msg("cycle %d: heap maps %zu bytes, first cycle %zu", c, st.mapped_bytes, first_mapped);
    hk_heap_destroy(h); /* two thirds of the blocks still live */
    if (c == 0) rss_after_first = hkt_rss_bytes();
  }
  size_t rss = hkt_rss_bytes();
  print_message("destroy cycles: heap mapped %zu B, rss after 1st %zu, after %d: %zu\n",
                first_mapped, rss_after_first, CYCLES, rss);
  /* Each cycle touches ~first_mapped bytes; a leak of even one cycle's memory
   * would exceed this slack. */
  if (HK_TEST_EMULATED) print_message("RSS not checked under emulation (the emulator's own)\n");
  else if (rss_after_first && rss > rss_after_first + 4 * HKT_MIB)
    fail_msg("RSS grew from %zu to %zu over %d create/destroy cycles", rss_after_first, rss, CYCLES);
  /* Heaps do not borrow from the default heap. */
  hk_stats_t def1 = hkt_stats(hk_heap_default());
  assert_int_equal(def1.mapped_bytes, def0.mapped_bytes);
  free(blk);
}

/* ---- budgets and OS hooks --------------------------------------------------- */

static void test_max_bytes_budget(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.max_bytes = (size_t)8 << 20;
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  void *blk[64];
  size_t n = 0;
  errno = 0;
  for (; n < 64; n++) {
    blk[n] = hk_heap_malloc(h, HKT_MIB);
    if (!blk[n]) break;
    memset(blk[n], 1, HKT_MIB);
  }
  assert_true(n > 0 && n < 64);
  assert_int_equal(errno, ENOMEM);
  hk_stats_t st = hkt_stats(h);
  assert_true(st.mapped_bytes <= cfg.max_bytes);
  /* Small allocations hit the same budget eventually. */
  size_t small = 0;
  void **s = calloc(200000, sizeof *s);
  assert_non_null(s);
  errno = 0;
  for (; small < 200000; small++) {
    s[small] = hk_heap_malloc(h, 1024);
    if (!s[small]) break;
  }
  assert_true(small < 200000);
  assert_int_equal(errno, ENOMEM);
  st = hkt_stats(h);
  assert_true(st.mapped_bytes <= cfg.max_bytes);
  /* Freeing makes room again. */
  for (size_t i = 0; i < n; i++) hk_free(blk[i]);
  for (size_t i = 0; i < small; i++) hk_free(s[i]);
  void *again = hk_heap_malloc(h, HKT_MIB);
  assert_non_null(again);
  hk_free(again);
  free(s);
  hk_heap_destroy(h);
}

/* Counting hooks over the real calls: what a heap maps, destroy must unmap. */
typedef struct {
  atomic_size_t mapped, unmapped, maps, unmaps, advises;
  atomic_int fail_maps; /* nonzero: map reports failure */
} hook_counts_t;

static void *hook_map(size_t size, void *arg) {
  hook_counts_t *c = arg;
  if (atomic_load(&c->fail_maps)) return NULL;
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  atomic_fetch_add(&c->mapped, size);
  atomic_fetch_add(&c->maps, 1);
  return p;
}

static int hook_unmap(void *addr, size_t size, void *arg) {
  hook_counts_t *c = arg;
  int r = munmap(addr, size);
  if (r == 0) {
    atomic_fetch_add(&c->unmapped, size);
    atomic_fetch_add(&c->unmaps, 1);
  }
  return r;
}

static int hook_advise(void *addr, size_t size, int advice, void *arg) {
  hook_counts_t *c = arg;
  atomic_fetch_add(&c->advises, 1);
  return madvise(addr, size, advice == HK_ADVISE_DONTNEED ? MADV_DONTNEED : MADV_FREE);
}

/* A heap whose OS calls go through the counting hooks. No prewarm: every
 * mapping then happens on demand, where the tests can watch it. */
static hk_heap_t *create_hooked(hook_counts_t *counts) {
  hk_os_hooks_t hooks = {hook_map, hook_unmap, hook_advise, counts, NULL};
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.os_hooks = &hooks;
  cfg.prewarm_bytes = 0;
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  /* The hooks are copied at create: clobbering ours must not matter. */
  memset(&hooks, 0, sizeof hooks);
  return h;
}

static void test_os_hooks_balance(void **state) {
  HKT_UNUSED(state);
  static hook_counts_t counts;
  hk_heap_t *h = create_hooked(&counts);
  void **blk = calloc(NBLK, sizeof *blk);
  assert_non_null(blk);
  fill_heap(h, blk);
  assert_true(atomic_load(&counts.maps) > 0);
  hk_stats_t st = hkt_stats(h);
  assert_true(st.os_mmap > 0);
  assert_true(st.mapped_bytes > 0);
  assert_true(st.mapped_bytes <= atomic_load(&counts.mapped) - atomic_load(&counts.unmapped));
  check_blocks(blk);
  hk_heap_destroy(h);
  /* Arena semantics: every byte mapped through the hooks went back. */
  assert_int_equal(atomic_load(&counts.unmapped), atomic_load(&counts.mapped));
  free(blk);
}

static void test_os_map_failure(void **state) {
  HKT_UNUSED(state);
  static hook_counts_t counts;
  hk_heap_t *h = create_hooked(&counts);
  atomic_store(&counts.fail_maps, 1);
  errno = 0;
  assert_null(hk_heap_malloc(h, 100));
  assert_int_equal(errno, ENOMEM);
  errno = 0;
  assert_null(hk_heap_malloc(h, (size_t)3 << 20));
  assert_int_equal(errno, ENOMEM);
  hk_stats_t st = hkt_stats(h);
  assert_true(st.os_mmap_failed >= 2);
  /* The heap recovers once the OS does. */
  atomic_store(&counts.fail_maps, 0);
  void *p = hk_heap_malloc(h, 100);
  assert_non_null(p);
  hk_free(p);
  hk_heap_destroy(h);
  assert_int_equal(atomic_load(&counts.unmapped), atomic_load(&counts.mapped));
}

/* ---- trim ---------------------------------------------------------------------- */

static void test_trim_releases(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *h = hk_heap_create(NULL);
  assert_non_null(h);
  void **blk = calloc(NBLK, sizeof *blk);
  assert_non_null(blk);
  fill_heap(h, blk);
  for (size_t i = 0; i < NBLK; i++) hk_free(blk[i]);
  hk_stats_t before = hkt_stats(h);
  assert_int_equal(before.live_bytes, 0);
  size_t released = hk_heap_trim(h);
  hk_stats_t after = hkt_stats(h);
  print_message("trim: mapped %zu -> %zu, released %zu\n", before.mapped_bytes,
                after.mapped_bytes, released);
  assert_true(released > 0);
  assert_true(after.committed_bytes < before.committed_bytes);
  assert_true(after.mapped_bytes <= before.mapped_bytes);
  assert_int_equal(after.region_cache_entries, 0);
  /* Still usable after a trim. */
  fill_heap(h, blk);
  check_blocks(blk);
  for (size_t i = 0; i < NBLK; i++) hk_free(blk[i]);
  hk_heap_destroy(h);
  free(blk);
}

/* The budget counts mapped SuperSlabs, not live bytes: the example of
 * docs/policies.md ("Budget"), figure by figure. */
static void test_budget_fragmentation(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.max_bytes = 4 * HKT_MIB;
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  enum { MAX = 100000 };
  void **v = calloc(MAX, sizeof *v);
  assert_non_null(v);
  size_t n = 0;
  while (n < MAX && (v[n] = hk_heap_malloc(h, 64)) != NULL) n++;
  assert_int_equal(errno, ENOMEM);
  assert_int_equal(n, 65280);
  for (size_t i = 0; i < n; i += 2) hk_free(v[i]);
  hk_stats_t st = hkt_stats(h);
  assert_int_equal(st.live_bytes, 2088960);
  assert_int_equal(st.mapped_bytes, 4 * HKT_MIB);
  assert_int_equal(st.superslabs, 2);
  assert_int_equal(st.superslabs_empty, 0);
  unsigned c64 = 0;
  while (st.class_block_size[c64] != 64) c64++;
  assert_int_equal(st.class_live_blocks[c64], 32640);
  errno = 0;
  assert_null(hk_heap_malloc(h, 1000));
  assert_int_equal(errno, ENOMEM);
  void *again = hk_heap_malloc(h, 64); /* its own class still has room */
  assert_non_null(again);
  free(v);
  hk_heap_destroy(h);
}

/* ---- statistics -------------------------------------------------------------- */

static void test_stats_basic(void **state) {
  HKT_UNUSED(state);
  hk_stats_t st;
  /* NULL is the default heap. */
  assert_int_equal(hk_heap_stats(NULL, &st), 0);
  assert_int_equal(st.struct_size, sizeof st);
  assert_int_equal(st.version, HK_STATS_VERSION);
  assert_int_equal(hk_heap_stats(hk_heap_default(), NULL), EINVAL);

  hk_heap_t *h = hk_heap_create(NULL);
  assert_non_null(h);
  st = hkt_stats(h);
  assert_int_equal(st.live_bytes, 0);
  assert_int_equal(st.large_blocks, 0);

  enum { N = 1000 };
  void *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = hk_heap_malloc(h, 100); /* class of 112 bytes */
    assert_non_null(p[i]);
  }
  void *big = hk_heap_malloc(h, (size_t)3 << 20);
  assert_non_null(big);
  st = hkt_stats(h);
  assert_true(st.live_bytes >= (size_t)N * 112 + ((size_t)3 << 20));
  assert_true(st.mapped_bytes >= st.live_bytes);
  assert_true(st.peak_mapped_bytes >= st.mapped_bytes);
  assert_true(st.committed_bytes <= st.mapped_bytes);
  assert_true(st.superslabs >= 1);
  assert_int_equal(st.large_blocks, 1);
  assert_true(st.large_bytes >= ((size_t)3 << 20));
  assert_true(st.os_mmap > 0);
  size_t c112 = HK_NUM_CLASSES;
  for (size_t c = 0; c < HK_NUM_CLASSES; c++)
    if (st.class_block_size[c] == 112) c112 = c;
  assert_true(c112 < HK_NUM_CLASSES);
  assert_int_equal(st.class_live_blocks[c112], N);

  /* live_bytes counts block sizes exactly (single thread). */
  hk_free(big);
  st = hkt_stats(h);
  assert_int_equal(st.large_blocks, 0);
  assert_int_equal(st.live_bytes, (size_t)N * 112);
  for (int i = 0; i < N; i++) hk_free(p[i]);
  st = hkt_stats(h);
  assert_int_equal(st.live_bytes, 0);
  assert_int_equal(st.class_live_blocks[c112], 0);
  assert_int_equal(st.large_blocks, 0);
  assert_true(st.peak_live_bytes >= (size_t)N * 112);
  assert_true(st.peak_mapped_bytes >= st.mapped_bytes);
  hk_heap_destroy(h);
}

static char *read_all(FILE *f) {
  long n = ftell(f);
  assert_true(n > 0);
  rewind(f);
  char *s = calloc((size_t)n + 1, 1);
  assert_non_null(s);
  assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
  return s;
}

static void test_stats_print(void **state) {
  HKT_UNUSED(state);
  /* The name is copied at create: reusing our buffer must not change it. */
  char name[32];
  strcpy(name, "unit-heap-7");
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.name = name;
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  strcpy(name, "clobbered");
  void *p = hk_heap_malloc(h, 1000);
  assert_non_null(p);

  FILE *f = tmpfile();
  assert_non_null(f);
  assert_int_equal(hk_heap_stats_print(h, f), 0);
  char *text = read_all(f);
  assert_non_null(strstr(text, "unit-heap-7"));
  assert_null(strstr(text, "clobbered"));
  free(text);
  fclose(f);

  f = tmpfile();
  assert_non_null(f);
  assert_int_equal(hk_heap_stats_print_json(h, f), 0);
  char *json = read_all(f);
  const char *b = json;
  while (*b == ' ' || *b == '\n' || *b == '\t' || *b == '\r') b++;
  size_t len = strlen(json);
  while (len > 0 && strchr(" \n\t\r", json[len - 1])) len--;
  assert_true(len > 2);
  assert_int_equal(*b, '{');
  assert_int_equal(json[len - 1], '}');
  assert_non_null(strstr(json, "\"unit-heap-7\""));
  assert_non_null(strstr(json, "live_bytes"));
  /* Balanced braces and brackets outside strings: a cheap well-formedness
   * check without a JSON parser. */
  int depth = 0, in_str = 0;
  for (const char *c = b; c < json + len; c++) {
    if (in_str) {
      if (*c == '\\') c++;
      else if (*c == '"') in_str = 0;
      continue;
    }
    if (*c == '"') in_str = 1;
    else if (*c == '{' || *c == '[') depth++;
    else if (*c == '}' || *c == ']') {
      depth--;
      assert_true(depth >= 0);
    }
  }
  assert_int_equal(depth, 0);
  assert_int_equal(in_str, 0);
  free(json);
  fclose(f);

  /* The default heap reports too. */
  f = tmpfile();
  assert_non_null(f);
  assert_int_equal(hk_heap_stats_print(hk_heap_default(), f), 0);
  assert_true(ftell(f) > 0);
  fclose(f);

  hk_free(p);
  hk_heap_destroy(h);
}

static void test_prewarm(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.prewarm_bytes = 1; /* rounded up to one SuperSlab */
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  hk_stats_t st = hkt_stats(h);
  assert_true(st.mapped_bytes >= HK_SUPERSLAB_SIZE);
  assert_true(st.superslabs >= 1);
  uint64_t maps = st.os_mmap;
  /* The first small allocation makes no syscall. */
  void *p = hk_heap_malloc(h, 64);
  assert_non_null(p);
  st = hkt_stats(h);
  assert_int_equal(st.os_mmap, maps);
  hk_free(p);
  hk_heap_destroy(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_defaults),
      cmocka_unit_test(test_config_presets),
      cmocka_unit_test(test_config_invalid),
      cmocka_unit_test(test_heaps_independent),
      cmocka_unit_test(test_heap_malloc_cache),
      cmocka_unit_test(test_burst_gives_slabs_back),
      cmocka_unit_test(test_destroy_cycles_no_growth),
      cmocka_unit_test(test_max_bytes_budget),
      cmocka_unit_test(test_budget_fragmentation),
      cmocka_unit_test(test_os_hooks_balance),
      cmocka_unit_test(test_os_map_failure),
      cmocka_unit_test(test_trim_releases),
      cmocka_unit_test(test_stats_basic),
      cmocka_unit_test(test_stats_print),
      cmocka_unit_test(test_prewarm),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
