/* Configuration (presets, validation), trim, and statistics: per-class live
 * blocks, remote frees, committed-byte accounting and the two report
 * formats. */
#include "policy_util.h"

#include <pthread.h>

/* ---- presets and validation ---------------------------------------------------- */

static void test_presets(void **state) {
  (void)state;
  hk_heap_config_t c;
  assert_int_equal(hk_heap_config_preset(&c, HK_PROFILE_SPEED), 0);
  assert_int_equal(c.struct_size, sizeof c);
  assert_int_equal(c.version, HK_HEAP_CONFIG_VERSION);
  assert_int_equal(c.profile, HK_PROFILE_SPEED);
  assert_int_equal(c.prewarm_bytes, 2 * MIB);
  assert_int_equal(c.prewarm_touch, 0);
  assert_int_equal(c.decommit, HK_DECOMMIT_DONTNEED);
  assert_int_equal(c.decommit_delay_ms, 1000);
  assert_int_equal(c.retain_superslabs, 32);
  assert_int_equal(c.region_cache_slots, 16);
  assert_int_equal(c.region_cache_max_bytes, 512 * MIB);
  assert_int_equal(c.large_decay_ms, 1000);
  assert_int_equal(c.max_bytes, 0);
  assert_null(c.os_hooks);
  assert_null(hk_heap_config_check(&c));

  hk_heap_config_t d;
  hk_heap_config_init(&d); /* init is the SPEED preset */
  assert_memory_equal(&c, &d, sizeof c);

  assert_int_equal(hk_heap_config_preset(&c, HK_PROFILE_BALANCED), 0);
  assert_int_equal(c.profile, HK_PROFILE_BALANCED);
  assert_int_equal(c.prewarm_bytes, 0);
  assert_int_equal(c.decommit, HK_DECOMMIT_OFF);
  assert_int_equal(c.retain_superslabs, 2);
  assert_int_equal(c.region_cache_slots, 4);
  assert_int_equal(c.region_cache_max_bytes, 64 * MIB);
  assert_int_equal(c.large_decay_ms, 300);
  assert_int_equal(c.max_bytes, 0);
  assert_null(hk_heap_config_check(&c));

  assert_int_equal(hk_heap_config_preset(&c, HK_PROFILE_LEAN), 0);
  assert_int_equal(c.profile, HK_PROFILE_LEAN);
  assert_int_equal(c.prewarm_bytes, 0);
  assert_int_equal(c.decommit, HK_DECOMMIT_DONTNEED);
  assert_int_equal(c.decommit_delay_ms, 100);
  assert_int_equal(c.retain_superslabs, 1);
  assert_int_equal(c.region_cache_slots, 0);
  assert_int_equal(c.region_cache_max_bytes, 8 * MIB);
  assert_int_equal(c.large_decay_ms, 100);
  assert_null(hk_heap_config_check(&c));

  assert_int_equal(hk_heap_config_preset(&c, (hk_profile_t)3), EINVAL);
  assert_int_equal(hk_heap_config_preset(&c, (hk_profile_t)-1), EINVAL);
  assert_int_equal(hk_heap_config_preset(NULL, HK_PROFILE_SPEED), EINVAL);

  /* Each preset creates a working heap. */
  for (int p = HK_PROFILE_SPEED; p <= HK_PROFILE_LEAN; p++) {
    assert_int_equal(hk_heap_config_preset(&c, (hk_profile_t)p), 0);
    hk_heap_t *h = hk_heap_create(&c);
    assert_non_null(h);
    void *b = hk_heap_malloc(h, 100);
    assert_non_null(b);
    hk_free(b);
    hk_heap_destroy(h);
  }
}

static int noop_advise(void *a, size_t s, int adv, void *arg) {
  (void)a, (void)s, (void)adv, (void)arg;
  return 0;
}

/* One bad field: check names it, create refuses it with EINVAL. */
static void expect_bad(const hk_heap_config_t *cfg, const char *field) {
  const char *msg = hk_heap_config_check(cfg);
  if (msg == NULL) fail_msg("config with bad %s accepted", field);
  if (strstr(msg, field) == NULL) fail_msg("message \"%s\" does not name %s", msg, field);
  errno = 0;
  assert_null(hk_heap_create(cfg));
  assert_int_equal(errno, EINVAL);
}

static void test_invalid_configs(void **state) {
  (void)state;
  hk_heap_config_t c;
#define BAD(field, stmt)         \
  do {                           \
    hk_heap_config_init(&c);     \
    stmt;                        \
    expect_bad(&c, field);       \
  } while (0)
  BAD("struct_size", c.struct_size = 8);
  BAD("struct_size", c.struct_size = sizeof c + 8);
  BAD("version", c.version = HK_HEAP_CONFIG_VERSION + 1);
  BAD("profile", c.profile = (hk_profile_t)7);
  BAD("decommit", c.decommit = (hk_decommit_t)3);
  BAD("region_cache_slots", c.region_cache_slots = 65);
  BAD("max_bytes", c.max_bytes = 2 * MIB - 1);
  BAD("max_bytes", c.max_bytes = 1);
  BAD("prewarm_bytes", (c.max_bytes = 4 * MIB, c.prewarm_bytes = 4 * MIB + 1));
  BAD("prewarm_bytes", c.prewarm_bytes = ((size_t)1 << 40) + 1);
  BAD("decommit_delay_ms", c.decommit_delay_ms = 3600u * 1000u + 1);
  static hk_os_hooks_t advise_only = {NULL, NULL, noop_advise, NULL, NULL};
  static fake_os_t fo;
  static hk_os_hooks_t half;
  half = fake_hooks(&fo);
  half.unmap = NULL; /* map without unmap */
  BAD("os_hooks", c.os_hooks = &half);
#undef BAD
  assert_null(hk_heap_config_check(NULL)); /* the defaults, as hk_heap_create(NULL) */

  /* The edges themselves are valid. */
  hk_heap_config_init(&c);
  c.max_bytes = 2 * MIB;
  c.prewarm_bytes = 2 * MIB;
  c.region_cache_slots = 64;
  c.decommit_delay_ms = 3600u * 1000u;
  c.os_hooks = &advise_only; /* advise alone: real mmap, fake advice */
  assert_null(hk_heap_config_check(&c));
  hk_heap_t *h = hk_heap_create(&c);
  assert_non_null(h);
  hk_heap_destroy(h);
}

/* ---- trim ------------------------------------------------------------------------------ */

static void test_trim_releases_everything(void **state) {
  (void)state;
  fixture_t f;
  fx_preset(&f, HK_PROFILE_BALANCED);
  hk_heap_t *h = fx_heap(&f);
  enum { N = 20000 };
  void **blk = calloc(N, sizeof *blk);
  assert_non_null(blk);
  for (size_t i = 0; i < N; i++) {
    blk[i] = hk_heap_malloc(h, 16 + (i * 37) % 2033);
    assert_non_null(blk[i]);
  }
  void *large[3];
  for (int i = 0; i < 3; i++) {
    large[i] = hk_heap_malloc(h, MIB);
    assert_non_null(large[i]);
  }
  free_n(blk, N);
  free_n(large, 3);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.live_bytes, 0);
  assert_true(st.superslabs > 0);             /* slabs kept by the front */
  assert_int_equal(st.large_retained_bytes, 3 * MIB);

  size_t before = st.mapped_bytes;
  size_t released = hk_heap_trim(h);
  st = stats_of(h);
  assert_int_equal(st.mapped_bytes, 0);
  assert_int_equal(st.committed_bytes, 0);
  assert_int_equal(st.superslabs, 0);
  assert_int_equal(st.large_retained_bytes, 0);
  assert_int_equal(released, before);
  assert_int_equal(f.fo.live, 0);

  /* Usable after a trim. */
  void *p = hk_heap_malloc(h, 64);
  assert_non_null(p);
  hk_free(p);
  hk_heap_destroy(h);
  free(blk);
}

/* A trim decommits the free slabs of a SuperSlab that stays mapped (with
 * DONTNEED when the policy itself never decommits); when that SuperSlab
 * later empties and goes, committed_bytes must come back to exactly 0. */
static void test_trim_partial_superslab(void **state) {
  (void)state;
  fixture_t f;
  fx_preset(&f, HK_PROFILE_BALANCED);
  hk_heap_t *h = fx_heap(&f);
  void *keep[10], *gone[200];
  alloc_n(h, 64, 10, keep);
  alloc_n(h, 2000, 200, gone);
  assert_int_equal(superslab_base(keep[0]), superslab_base(gone[199]));
  free_n(gone, 200);
  hk_heap_trim(h);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.superslabs, 1);
  assert_int_equal(st.mapped_bytes, SEG);
  assert_true(f.fo.advises > 0);
  size_t advised = 0;
  for (unsigned i = 0; i < f.fo.n_advice; i++) {
    assert_int_equal(f.fo.advice[i], HK_ADVISE_DONTNEED);
    advised += f.fo.advice_len[i];
  }
  assert_int_equal(st.committed_bytes, SEG - advised);
  assert_int_equal(st.class_live_blocks[class_index(64)], 10);

  free_n(keep, 10);
  hk_heap_trim(h);
  st = stats_of(h);
  assert_int_equal(st.superslabs, 0);
  assert_int_equal(st.mapped_bytes, 0);
  assert_int_equal(st.committed_bytes, 0);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
}

/* committed_bytes after a decommitted SuperSlab is unmapped (by retention,
 * by trim or by the budget): only live mappings may count. */
static void test_committed_after_decommit_and_unmap(void **state) {
  (void)state;
  fixture_t f;
  fx_preset(&f, HK_PROFILE_LEAN);
  f.cfg.retain_superslabs = 2;
  f.cfg.decommit_delay_ms = 0; /* decommit as each SuperSlab empties */
  hk_heap_t *h = fx_heap(&f);
  size_t per = blocks_per_superslab(1024);
  void **blk = calloc(2 * per, sizeof *blk);
  assert_non_null(blk);
  alloc_n(h, 1024, 2 * per, blk);
  free_n(blk, 2 * per);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.superslabs_decommitted, 2);
  assert_int_equal(st.committed_bytes, 2 * HEADER); /* the two headers */
  hk_heap_trim(h);
  st = stats_of(h);
  assert_int_equal(st.mapped_bytes, 0);
  assert_int_equal(st.committed_bytes, 0);
  hk_heap_destroy(h);
  free(blk);
}

/* ---- statistics ---------------------------------------------------------------------- */

static void test_stats_per_class(void **state) {
  (void)state;
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.name = "per-class";
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  void *a[7], *b[3], *c[2];
  alloc_n(h, 32, 7, a);
  alloc_n(h, 1000, 3, b);   /* class of 1024 */
  alloc_n(h, 20000, 2, c);  /* a mid class */
  void *big = hk_heap_malloc(h, 200 * 1024);
  assert_non_null(big);
  hk_stats_t st = stats_of(h);
  unsigned c32 = class_index(32), c1k = class_index(1024);
  assert_int_equal(st.class_live_blocks[c32], 7);
  assert_int_equal(st.class_live_blocks[c1k], 3);
  size_t total = 0, bytes = 0;
  for (unsigned k = 0; k < HK_NUM_CLASSES; k++) {
    total += st.class_live_blocks[k];
    bytes += st.class_live_blocks[k] * st.class_block_size[k];
  }
  assert_int_equal(total, 12);
  assert_int_equal(st.large_blocks, 1);
  assert_true(st.large_bytes >= 200 * 1024);
  assert_int_equal(st.live_bytes, bytes + st.large_bytes);
  assert_true(st.peak_live_bytes >= st.live_bytes);
  assert_true(st.mapped_bytes >= st.committed_bytes);
  assert_true(st.peak_mapped_bytes >= st.mapped_bytes);
  free_n(a, 7);
  free_n(b, 3);
  free_n(c, 2);
  hk_free(big);
  st = stats_of(h);
  assert_int_equal(st.live_bytes, 0);
  assert_int_equal(st.large_blocks, 0);
  for (unsigned k = 0; k < HK_NUM_CLASSES; k++) assert_int_equal(st.class_live_blocks[k], 0);
  assert_int_equal(st.num_classes, HK_NUM_CLASSES);
  assert_int_equal(hk_heap_stats(h, NULL), EINVAL);
  hk_heap_destroy(h);
}

struct remote_arg {
  void **blk;
  size_t n;
};

static void *remote_free_thread(void *p) {
  struct remote_arg *ra = p;
  free_n(ra->blk, ra->n);
  return NULL;
}

static void test_stats_remote_frees(void **state) {
  (void)state;
  hk_heap_t *h = hk_heap_create(NULL);
  assert_non_null(h);
  void *blk[100];
  alloc_n(h, 32, 100, blk);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.remote_frees, 0);

  struct remote_arg ra = {blk, 10};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, remote_free_thread, &ra), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  /* Live counts already exclude blocks waiting to be drained... */
  st = stats_of(h);
  assert_int_equal(st.class_live_blocks[class_index(32)], 90);
  /* ...remote_frees counts them when the owner drains (here: trim). */
  hk_heap_trim(h);
  st = stats_of(h);
  assert_int_equal(st.remote_frees, 10);
  assert_int_equal(st.class_live_blocks[class_index(32)], 90);
  free_n(blk + 10, 90);
  st = stats_of(h);
  assert_int_equal(st.class_live_blocks[class_index(32)], 0);
  hk_heap_destroy(h);
}

/* Reads everything f wrote into a malloc'd string (f is closed). */
static char *slurp(FILE *f) {
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long len = ftell(f);
  assert_true(len > 0);
  rewind(f);
  char *s = calloc((size_t)len + 1, 1);
  assert_non_null(s);
  assert_int_equal(fread(s, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  return s;
}

static const char *const field_names[] = {
    "profile", "max_bytes", "live_bytes", "peak_live_bytes", "mapped_bytes", "peak_mapped_bytes", "committed_bytes",
    "superslabs", "superslabs_empty", "superslabs_decommitted", "large_blocks", "large_bytes",
    "region_cache_entries", "region_cache_bytes", "remote_frees", "os_mmap", "os_munmap",
    "os_madvise", "os_mmap_failed", "os_munmap_failed", "os_madvise_failed"};

static void test_stats_reports(void **state) {
  (void)state;
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.name = "pol\"json";
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  void *b[5];
  alloc_n(h, 48, 5, b);

  FILE *f = tmpfile();
  assert_non_null(f);
  assert_int_equal(hk_heap_stats_print(h, f), 0);
  char *text = slurp(f);
  assert_non_null(strstr(text, "pol\"json"));
  for (size_t i = 0; i < sizeof field_names / sizeof *field_names; i++)
    if (strstr(text, field_names[i]) == NULL) fail_msg("text report lacks %s", field_names[i]);
  assert_non_null(strstr(text, "live_blocks"));
  free(text);

  f = tmpfile();
  assert_non_null(f);
  assert_int_equal(hk_heap_stats_print_json(h, f), 0);
  char *json = slurp(f);
  assert_int_equal(json[0], '{');
  assert_non_null(strstr(json, "\"name\":\"pol\\\"json\""));
  char key[64];
  for (size_t i = 0; i < sizeof field_names / sizeof *field_names; i++) {
    snprintf(key, sizeof key, "\"%s\":", field_names[i]);
    if (strstr(json, key) == NULL) fail_msg("JSON lacks %s", key);
  }
  snprintf(key, sizeof key, "{\"class\":%u,\"block_size\":48,\"live_blocks\":5}", class_index(48));
  assert_non_null(strstr(json, key));
  free(json);

  assert_int_equal(hk_heap_stats_print(h, NULL), EINVAL);
  assert_int_equal(hk_heap_stats_print_json(h, NULL), EINVAL);
  free_n(b, 5);
  hk_heap_destroy(h);
}

int run_policy_stats_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_presets),
      cmocka_unit_test(test_invalid_configs),
      cmocka_unit_test(test_trim_releases_everything),
      cmocka_unit_test(test_trim_partial_superslab),
      cmocka_unit_test(test_committed_after_decommit_and_unmap),
      cmocka_unit_test(test_stats_per_class),
      cmocka_unit_test(test_stats_remote_frees),
      cmocka_unit_test(test_stats_reports),
  };
  return cmocka_run_group_tests_name("policy_stats", tests, NULL, NULL);
}
