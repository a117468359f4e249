/* Heap policies (issue 5), observed through fake OS hooks: every decommit
 * mode, the decommit delay, SuperSlab retention, the region cache, the
 * max_bytes budget at its exact edge, prewarm and mmap failure.
 *
 * Most tests fill SuperSlabs with 1 KiB blocks: allocation hands out the
 * slabs of a SuperSlab in order, so the first blocks_per_superslab(1024)
 * blocks fill exactly one SuperSlab. LEAN-profile heaps are used wherever a
 * SuperSlab must empty on free alone: other profiles let a thread keep its
 * last empty slab per class (hk__slab_retire), which keeps its SuperSlab in
 * use until a trim. */
#include "policy_util.h"

static hk_heap_t *lean_heap(fixture_t *f, hk_decommit_t mode, uint32_t delay_ms,
                            uint32_t retain) {
  fx_preset(f, HK_PROFILE_LEAN);
  f->cfg.decommit = mode;
  f->cfg.decommit_delay_ms = delay_ms;
  f->cfg.retain_superslabs = retain;
  return fx_heap(f);
}

/* n blocks of 1 KiB spanning one full SuperSlab and half of a second. */
static void **fill_one_and_a_half(hk_heap_t *h, size_t *n_out, size_t *per_out) {
  size_t per = blocks_per_superslab(1024);
  size_t n = per + per / 2;
  void **blk = calloc(n, sizeof *blk);
  assert_non_null(blk);
  alloc_n(h, 1024, n, blk);
  assert_int_equal(distinct_superslabs(blk, per), 1);
  assert_int_equal(distinct_superslabs(blk, n), 2);
  *n_out = n;
  *per_out = per;
  return blk;
}

/* ---- decommit modes ---------------------------------------------------------- */

static void decommit_mode_case(hk_decommit_t mode, int advice) {
  fixture_t f;
  hk_heap_t *h = lean_heap(&f, mode, 0, 1);
  size_t n, per;
  void **blk = fill_one_and_a_half(h, &n, &per);
  assert_int_equal(f.fo.maps, 2);
  unsigned want = mode == HK_DECOMMIT_OFF ? 0 : 1;
  const size_t body = SEG - HEADER; /* the header page(s) stay committed */

  free_n(blk, per); /* the first SuperSlab empties: retained (1 allowed) */
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.superslabs, 2);
  assert_int_equal(st.superslabs_empty, 1);
  assert_int_equal(st.superslabs_decommitted, want);
  assert_int_equal(f.fo.advises, want);
  assert_int_equal(st.os_madvise, want);
  assert_int_equal(st.committed_bytes, 2 * SEG - want * body);
  if (want) {
    assert_int_equal(f.fo.advice[0], advice);
    assert_int_equal(f.fo.advice_len[0], body);
  }

  /* The second empties too: the older one is unmapped (retention 1), the
   * newer one is decommitted in its turn. */
  free_n(blk + per, n - per);
  st = stats_of(h);
  assert_int_equal(st.superslabs, 1);
  assert_int_equal(st.superslabs_empty, 1);
  assert_int_equal(st.superslabs_decommitted, want);
  assert_int_equal(st.mapped_bytes, SEG);
  assert_int_equal(st.committed_bytes, SEG - want * body);
  assert_int_equal(st.live_bytes, 0);
  assert_int_equal(f.fo.releases, 1);
  assert_int_equal(f.fo.released_bytes, SEG);
  assert_int_equal(f.fo.advises, 2 * want);
  for (unsigned i = 0; i < f.fo.n_advice; i++) assert_int_equal(f.fo.advice[i], advice);

  /* A decommitted SuperSlab is reused without a map and works. */
  void *p = hk_heap_malloc(h, 1024);
  assert_non_null(p);
  memset(p, 1, 1024);
  assert_int_equal(f.fo.maps, 2);
  st = stats_of(h);
  assert_int_equal(st.superslabs_decommitted, 0);
  assert_int_equal(st.committed_bytes, SEG);
  hk_free(p);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
  free(blk);
}

static void test_decommit_off(void **state) {
  (void)state;
  decommit_mode_case(HK_DECOMMIT_OFF, 0);
}
static void test_decommit_free(void **state) {
  (void)state;
  decommit_mode_case(HK_DECOMMIT_FREE, HK_ADVISE_FREE);
}
static void test_decommit_dontneed(void **state) {
  (void)state;
  decommit_mode_case(HK_DECOMMIT_DONTNEED, HK_ADVISE_DONTNEED);
}

/* ---- decommit delay ------------------------------------------------------------ */

static void test_decommit_delay(void **state) {
  (void)state;
  const unsigned delay = 300;
  fixture_t f;
  hk_heap_t *h = lean_heap(&f, HK_DECOMMIT_DONTNEED, delay, 1);
  size_t n, per;
  void **blk = fill_one_and_a_half(h, &n, &per);

  uint64_t t0 = now_ms();
  free_n(blk, per);
  /* A new class acquires a slab (from the second SuperSlab): a slow path
   * that applies due decommits, but this one is not due yet. */
  void *a = hk_heap_malloc(h, 48);
  assert_non_null(a);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.superslabs_empty, 1);
  if (now_ms() - t0 < delay - 50) { /* only meaningful if the machine kept up */
    assert_int_equal(f.fo.advises, 0);
    assert_int_equal(st.superslabs_decommitted, 0);
  } else {
    print_message("decommit_delay: machine too slow to check 'not yet'\n");
  }

  sleep_ms(delay + 100);
  assert_int_equal(stats_of(h).superslabs_decommitted, st.superslabs_decommitted);
  void *b = hk_heap_malloc(h, 96); /* the next slow path: now it is due */
  assert_non_null(b);
  st = stats_of(h);
  assert_int_equal(st.superslabs_decommitted, 1);
  assert_int_equal(f.fo.advises, 1);
  assert_int_equal(f.fo.advice[0], HK_ADVISE_DONTNEED);
  assert_int_equal(f.fo.maps, 2);

  /* trim does not wait for anything: the empty SuperSlab is unmapped. */
  size_t released = hk_heap_trim(h);
  assert_true(released >= SEG);
  st = stats_of(h);
  assert_int_equal(st.superslabs_empty, 0);
  assert_int_equal(st.superslabs, 1);
  assert_int_equal(f.fo.releases, 1);

  hk_free(a);
  hk_free(b);
  free_n(blk + per, n - per);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
  free(blk);
}

/* A delayed decommit is also applied by trim's own pass over SuperSlabs that
 * must stay mapped; with delay 0 a trim right after free has nothing left. */
static void test_decommit_delay_trim_before_due(void **state) {
  (void)state;
  fixture_t f;
  hk_heap_t *h = lean_heap(&f, HK_DECOMMIT_FREE, 3600u * 1000u, 2);
  size_t n, per;
  void **blk = fill_one_and_a_half(h, &n, &per);
  free_n(blk, n);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.superslabs_empty, 2);
  assert_int_equal(st.superslabs_decommitted, 0);
  assert_int_equal(f.fo.advises, 0);
  assert_int_equal(hk_heap_trim(h), 2 * SEG);
  st = stats_of(h);
  assert_int_equal(st.superslabs, 0);
  assert_int_equal(st.mapped_bytes, 0);
  assert_int_equal(f.fo.live, 0);
  hk_heap_destroy(h);
  free(blk);
}

/* ---- retention --------------------------------------------------------------------- */

static void retention_case(uint32_t retain) {
  fixture_t f;
  hk_heap_t *h = lean_heap(&f, HK_DECOMMIT_OFF, 0, retain);
  size_t per = blocks_per_superslab(1024);
  size_t n = 4 * per + per / 2;
  void **blk = calloc(n, sizeof *blk);
  assert_non_null(blk);
  alloc_n(h, 1024, n, blk);
  assert_int_equal(distinct_superslabs(blk, n), 5);
  assert_int_equal(f.fo.maps, 5);
  free_n(blk, n);

  size_t kept = retain < 5 ? retain : 5;
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.superslabs, kept);
  assert_int_equal(st.superslabs_empty, kept);
  assert_int_equal(st.mapped_bytes, kept * SEG);
  assert_int_equal(f.fo.releases, 5 - kept);
  assert_int_equal(f.fo.released_bytes, (5 - kept) * SEG);
  assert_int_equal(st.os_munmap, f.fo.unmaps);

  /* A retained SuperSlab serves the next allocation without a map. */
  void *p = hk_heap_malloc(h, 1024);
  assert_non_null(p);
  assert_int_equal(f.fo.maps, kept ? 5 : 6);
  hk_free(p);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
  free(blk);
}

static void test_retention_0(void **state) { (void)state; retention_case(0); }
static void test_retention_1(void **state) { (void)state; retention_case(1); }
static void test_retention_3(void **state) { (void)state; retention_case(3); }

/* ---- large blocks: resident reuse, decay, cap ------------------------------------- */

/* A SPEED heap (no prewarm) whose freed large blocks decay after decay_ms,
 * retained up to cap bytes. */
static hk_heap_t *large_heap(fixture_t *f, size_t cap, uint32_t decay_ms) {
  fx_preset(f, HK_PROFILE_SPEED);
  f->cfg.prewarm_bytes = 0;
  f->cfg.region_cache_max_bytes = cap;
  f->cfg.large_decay_ms = decay_ms;
  return fx_heap(f);
}

/* Freed blocks stay resident and the next ones reuse them. A thread's own
 * frees go to its cache first: the next mallocs that fit take them back
 * (no map call, no advice); calloc of a reused block is zeroed. */
static void test_large_reuse(void **state) {
  (void)state;
  fixture_t f;
  hk_heap_t *h = large_heap(&f, 128 * MIB, UINT32_MAX); /* 4 MiB per thread cache */
  void *b[3];
  for (int i = 0; i < 3; i++) {
    b[i] = hk_heap_malloc(h, MIB);
    assert_non_null(b[i]);
    memset(b[i], 0xA5, MIB);
  }
  assert_int_equal(f.fo.maps, 1); /* the area: address space, counted as runs are used */
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.mapped_bytes, 3 * MIB);
  assert_int_equal(st.large_blocks, 3);
  for (int i = 0; i < 3; i++) hk_free(b[i]);
  st = stats_of(h);
  assert_int_equal(st.large_blocks, 0);
  assert_int_equal(st.live_bytes, 0);
  assert_int_equal(st.large_retained_bytes, 3 * MIB);
  assert_int_equal(st.mapped_bytes, 3 * MIB); /* retained blocks count, as the budget does */
  void *c = hk_heap_malloc(h, MIB);
  assert_ptr_equal(c, b[2]); /* the newest that fits */
  unsigned char *z = hk_heap_calloc(h, 1, MIB - 100);
  assert_ptr_equal(z, b[1]);
  for (size_t i = 0; i < MIB - 100; i += 4093) assert_int_equal(z[i], 0);
  assert_int_equal(f.fo.maps, 1);
  assert_int_equal(f.fo.advises, 0);
  assert_int_equal(stats_of(h).large_blocks, 2);
  /* Realloc across the 64 KiB boundary, both ways, keeps the contents. */
  memset(z, 0x3C, MIB - 100);
  unsigned char *m = hk_heap_realloc(h, z, 40000);
  assert_non_null(m);
  for (size_t i = 0; i < 40000; i += 997) assert_int_equal(m[i], 0x3C);
  unsigned char *l = hk_heap_realloc(h, m, 200000);
  assert_non_null(l);
  for (size_t i = 0; i < 40000; i += 997) assert_int_equal(l[i], 0x3C);
  hk_free(l);
  hk_free(c);
  hk_heap_destroy(h);

  /* Blocks above a thread's cache (a 32nd of the cap) go to the area:
   * freed runs merge, and a bigger block reuses them whole. */
  h = large_heap(&f, 6 * MIB, UINT32_MAX);
  for (int i = 0; i < 3; i++) {
    b[i] = hk_heap_malloc(h, MIB);
    memset(b[i], 0xA5, MIB);
  }
  for (int i = 0; i < 3; i++) hk_free(b[i]);
  assert_int_equal(stats_of(h).large_retained_bytes, 3 * MIB);
  z = hk_heap_calloc(h, 1, 3 * MIB - 100);
  assert_ptr_equal(z, b[0]);
  for (size_t i = 0; i < 3 * MIB - 100; i += 4093) assert_int_equal(z[i], 0);
  st = stats_of(h);
  assert_int_equal(st.large_retained_bytes, 0);
  assert_int_equal(st.mapped_bytes, 3 * MIB);
  assert_int_equal(f.fo.maps, 1);
  assert_int_equal(f.fo.advises, 0);
  hk_free(z);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
}

/* A freed run goes back once unused for the decay delay: not at once, and
 * within two delays (checked by the heap's next large-block call). */
static void test_large_decay(void **state) {
  (void)state;
  fixture_t f;
  const uint32_t delay = 50;
  hk_heap_t *h = large_heap(&f, 8 * MIB, delay); /* 2 MiB: above a thread's cache */
  void *p = hk_heap_malloc(h, 2 * MIB);
  assert_non_null(p);
  memset(p, 1, 2 * MIB);
  void *spacer = hk_heap_malloc(h, 2 * MIB); /* so p's run stays a 2 MiB hole */
  assert_non_null(spacer);
  uint64_t t0 = now_ms();
  hk_free(p);
  /* Large calls (above the thread cache) tick the decay clock. */
  void *q = hk_heap_malloc(h, 3 * MIB); /* at once: nothing is due */
  assert_non_null(q);
  if (now_ms() - t0 < delay) { /* (a slow machine may already be past it) */
    assert_int_equal(f.fo.advises, 0);
    assert_int_equal(stats_of(h).large_retained_bytes, 2 * MIB);
  }
  sleep_ms(2 * delay + 20);
  void *r = hk_heap_malloc(h, 3 * MIB);
  assert_non_null(r);
  hk_stats_t st = stats_of(h);
  assert_true(f.fo.advises >= 1);
  assert_int_equal(f.fo.advice[0], HK_ADVISE_DONTNEED);
  assert_int_equal(st.large_released_bytes, 2 * MIB);
  assert_int_equal(st.large_retained_bytes, 0);
  assert_int_equal(f.fo.releases, 0); /* pages given back, the area stays */
  hk_free(q);
  hk_free(spacer);
  hk_free(r);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
}

/* Past the retained cap the oldest runs go back; the cap always holds. */
static void test_large_cap(void **state) {
  (void)state;
  fixture_t f;
  hk_heap_t *h = large_heap(&f, 2 * MIB, UINT32_MAX);
  void *b[4];
  for (int i = 0; i < 4; i++) {
    b[i] = hk_heap_malloc(h, MIB);
    assert_non_null(b[i]);
    memset(b[i], 2, MIB);
  }
  for (int i = 0; i < 4; i++) {
    hk_free(b[i]);
    assert_true(stats_of(h).large_retained_bytes <= 2 * MIB);
  }
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.large_retained_bytes, 2 * MIB);
  assert_int_equal(st.large_released_bytes, 2 * MIB);
  assert_int_equal(st.mapped_bytes, 2 * MIB);
  assert_true(f.fo.advises >= 1);
  /* A cap of 0 (nothing kept) gives every freed run back at once. */
  hk_heap_destroy(h);
  h = large_heap(&f, 0, UINT32_MAX);
  void *p = hk_heap_malloc(h, 3 * MIB);
  assert_non_null(p);
  hk_free(p);
  st = stats_of(h);
  assert_int_equal(st.large_retained_bytes, 0);
  assert_int_equal(st.mapped_bytes, 0);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
}

/* Trim gives every retained run back and unmaps the areas no block uses. */
static void test_large_trim(void **state) {
  (void)state;
  fixture_t f;
  hk_heap_t *h = large_heap(&f, 64 * MIB, UINT32_MAX);
  void *b[3];
  for (int i = 0; i < 3; i++) {
    b[i] = hk_heap_malloc(h, 5 * MIB);
    assert_non_null(b[i]);
    memset(b[i], 3, 5 * MIB);
  }
  for (int i = 0; i < 3; i++) hk_free(b[i]);
  assert_int_equal(stats_of(h).large_retained_bytes, 15 * MIB);
  size_t released = hk_heap_trim(h);
  hk_stats_t st = stats_of(h);
  assert_true(released >= 15 * MIB);
  assert_int_equal(st.large_retained_bytes, 0);
  assert_int_equal(st.mapped_bytes, 0);
  assert_int_equal(f.fo.live, 0); /* the area is unmapped too */
  /* And the heap works on: a new area. */
  void *p = hk_heap_malloc(h, MIB);
  assert_non_null(p);
  hk_free(p);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
}

/* Blocks above 64 MiB get a mapping of their own; freed, they wait in the
 * region cache (its slots), else they are unmapped. */
static void test_region_cache_slots(void **state) {
  (void)state;
  fixture_t f;
  fx_preset(&f, HK_PROFILE_SPEED);
  f.cfg.prewarm_bytes = 0;
  f.cfg.region_cache_slots = 1;
  hk_heap_t *h = fx_heap(&f);
  const size_t sz = 65 * MIB;
  void *a = hk_heap_malloc(h, sz), *b = hk_heap_malloc(h, sz);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(f.fo.maps, 2);
  hk_free(a);
  hk_free(b);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.region_cache_entries, 1);
  assert_int_equal(f.fo.releases, 1);
  void *c = hk_heap_malloc(h, sz - 4096); /* from the cache */
  assert_non_null(c);
  assert_int_equal(f.fo.maps, 2);
  hk_free(c);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
}

/* LEAN keeps little (8 MiB) for a short while: a block above the cap goes
 * back as it is freed. */
static void test_large_lean(void **state) {
  (void)state;
  fixture_t f;
  hk_heap_t *h = lean_heap(&f, HK_DECOMMIT_DONTNEED, 0, 1);
  void *p = hk_heap_malloc(h, 16 * MIB);
  assert_non_null(p);
  memset(p, 4, 16 * MIB);
  hk_free(p);
  hk_stats_t st = stats_of(h);
  assert_true(st.large_retained_bytes <= f.cfg.region_cache_max_bytes);
  assert_int_equal(st.mapped_bytes, st.large_retained_bytes);
  assert_int_equal(st.region_cache_entries, 0);
  hk_heap_destroy(h);
}

/* ---- max_bytes budget ------------------------------------------------------------- */

/* SPEED with a 4 MiB budget and nothing mapped yet. */
static hk_heap_t *budget_heap(fixture_t *f) {
  fx_preset(f, HK_PROFILE_SPEED);
  f->cfg.prewarm_bytes = 0;
  f->cfg.max_bytes = 4 * MIB;
  return fx_heap(f);
}

static void test_budget_small_edge(void **state) {
  (void)state;
  fixture_t f;
  hk_heap_t *h = budget_heap(&f);
  hk_heap_t *other = hk_heap_create(NULL);
  assert_non_null(other);

  /* Exactly two SuperSlabs of 1 KiB blocks fit in 4 MiB. */
  const size_t edge = 2 * blocks_per_superslab(1024);
  void **blk = calloc(edge + 1, sizeof *blk);
  assert_non_null(blk);
  for (int round = 0; round < 2; round++) {
    alloc_n(h, 1024, edge, blk);
    errno = 0;
    assert_null(hk_heap_malloc(h, 1024));
    assert_int_equal(errno, ENOMEM);
    errno = 0;
    assert_null(hk_heap_malloc(h, 16)); /* a new class needs a slab: none */
    assert_int_equal(errno, ENOMEM);
    hk_stats_t st = stats_of(h);
    assert_int_equal(st.mapped_bytes, 4 * MIB);
    assert_true(st.peak_mapped_bytes <= f.cfg.max_bytes);
    assert_int_equal(st.os_mmap_failed, 0); /* refused before asking the OS */
    assert_int_equal(f.fo.maps, 2);

    /* Other heaps are not affected by this one's budget. */
    void *o = hk_heap_malloc(other, 8 * MIB);
    assert_non_null(o);
    void *o2 = hk_heap_malloc(other, 1024);
    assert_non_null(o2);
    hk_free(o);
    hk_free(o2);

    /* Freeing everything gives the same room back (second round). */
    free_n(blk, edge);
  }
  hk_heap_destroy(other);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
  free(blk);
}

static void test_budget_large_edge(void **state) {
  (void)state;
  fixture_t f;
  hk_heap_t *h = budget_heap(&f);
  const size_t fits = 4 * MIB; /* a run of exactly 64 granules */
  errno = 0;
  assert_null(hk_heap_malloc(h, fits + 1));
  assert_int_equal(errno, ENOMEM);
  assert_int_equal(f.fo.maps, 1); /* the area's address space only */
  void *p = hk_heap_malloc(h, fits);
  assert_non_null(p);
  memset(p, 1, fits);
  assert_int_equal(stats_of(h).mapped_bytes, 4 * MIB);
  errno = 0;
  assert_null(hk_heap_malloc(h, 16));
  assert_int_equal(errno, ENOMEM);
  /* Freed, the run is retained and still counts against the budget; when
   * a SuperSlab needs the room, the retained run goes back first. */
  hk_free(p);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.large_retained_bytes, 4 * MIB);
  assert_int_equal(st.mapped_bytes, 4 * MIB);
  void *q = hk_heap_malloc(h, 16);
  assert_non_null(q);
  st = stats_of(h);
  assert_int_equal(st.large_retained_bytes, 0);
  assert_int_equal(st.mapped_bytes, SEG);
  /* A large block now fits only in what the SuperSlab leaves. */
  void *r = hk_heap_malloc(h, 2 * MIB);
  assert_non_null(r);
  errno = 0;
  assert_null(hk_heap_malloc(h, 100000));
  assert_int_equal(errno, ENOMEM);
  hk_free(r);
  hk_free(q);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
}

/* ---- prewarm ----------------------------------------------------------------------- */

static void test_prewarm_no_syscalls(void **state) {
  (void)state;
  fixture_t f;
  fx_preset(&f, HK_PROFILE_SPEED);
  f.cfg.prewarm_bytes = 4 * MIB;
  hk_heap_t *h = fx_heap(&f);
  assert_int_equal(f.fo.maps, 2);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.superslabs, 2);
  assert_int_equal(st.superslabs_empty, 2);
  assert_int_equal(st.mapped_bytes, 4 * MIB);
  unsigned unmaps = f.fo.unmaps;

  /* One block of every small class (<= 8 KiB): 56 slabs, within 64. */
  void *blk[HK_NUM_CLASSES];
  unsigned n = 0;
  for (unsigned c = 0; c < HK_NUM_CLASSES && st.class_block_size[c] <= 8192; c++) {
    blk[n] = hk_heap_malloc(h, st.class_block_size[c]);
    assert_non_null(blk[n]);
    memset(blk[n], 3, st.class_block_size[c]);
    n++;
  }
  assert_int_equal(n, 56);
  assert_int_equal(f.fo.maps, 2);
  assert_int_equal(f.fo.unmaps, unmaps);
  assert_int_equal(f.fo.advises, 0);
  st = stats_of(h);
  assert_int_equal(st.os_mmap, 2);
  assert_int_equal(st.superslabs_empty, 0);
  /* Beyond the prewarmed bytes the heap maps as usual. */
  blk[n] = hk_heap_malloc(h, 16 * 1024);
  assert_non_null(blk[n]);
  assert_int_equal(f.fo.maps, 3);
  free_n(blk, n + 1);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
}

/* prewarm_touch faults every page of the prewarmed SuperSlabs in; without it
 * only the header is written. (The fake disables THP, which would otherwise
 * fault whole 2 MiB pages on the first header write.) */
static void prewarm_touch_case(int touch) {
  fixture_t f;
  fx_preset(&f, HK_PROFILE_SPEED);
  f.cfg.prewarm_bytes = SEG + 1; /* rounds up to two SuperSlabs */
  f.cfg.prewarm_touch = touch;
  hk_heap_t *h = fx_heap(&f);
  assert_int_equal(f.fo.maps, 2);
#if defined(HK_TEST_EMULATED) && HK_TEST_EMULATED
  if (PAGE != 4096) { /* qemu -p: mincore still answers per host page */
    print_message("residency not checked under emulation with %zu-byte pages\n", PAGE);
    f.fo.n_maps_logged = 0;
  }
#endif
  for (unsigned i = 0; i < f.fo.n_maps_logged; i++) {
    const uint8_t *seg = (const uint8_t *)((f.fo.map_addr[i] + SEG - 1) & ~(uintptr_t)(SEG - 1));
    size_t res = resident_pages(seg, SEG);
    if (touch) assert_int_equal(res, SEG / PAGE);
    else assert_true(res <= HEADER / PAGE);
  }
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
}

static void test_prewarm_touch(void **state) { (void)state; prewarm_touch_case(1); }
static void test_prewarm_untouched(void **state) { (void)state; prewarm_touch_case(0); }

/* ---- OS failure ------------------------------------------------------------------------ */

static void test_map_failure(void **state) {
  (void)state;
  fixture_t f;
  fx_preset(&f, HK_PROFILE_SPEED);
  f.cfg.prewarm_bytes = 0;
  hk_heap_t *h = fx_heap(&f);
  /* The SuperSlab; then the area and the block's own mapping it falls
   * back to. */
  f.fo.fail_at = 1;
  f.fo.fail_len = 3;
  errno = 0;
  assert_null(hk_heap_malloc(h, 64));
  assert_int_equal(errno, ENOMEM);
  errno = 0;
  assert_null(hk_heap_malloc(h, 3 * MIB));
  assert_int_equal(errno, ENOMEM);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.os_mmap_failed, 3);
  assert_int_equal(st.mapped_bytes, 0);
  /* The OS recovers: so does the heap, for small and large blocks. */
  void *p = hk_heap_malloc(h, 64);
  void *q = hk_heap_malloc(h, 3 * MIB);
  assert_non_null(p);
  assert_non_null(q);
  memset(q, 7, 3 * MIB);
  /* A failure once the heap is in use: every block handed out before the
   * failing map stays intact, and the next map works again. */
  size_t cap = 4 * blocks_per_superslab(1024);
  void **blk = calloc(cap, sizeof *blk);
  assert_non_null(blk);
  f.fo.fail_at = f.fo.maps + 2; /* the second SuperSlab from here */
  f.fo.fail_len = 1;
  size_t got = 0;
  errno = 0;
  while (got < cap && (blk[got] = hk_heap_malloc(h, 1024)) != NULL) {
    memset(blk[got], (int)(got & 0x7F), 1024);
    got++;
  }
  assert_true(got > 0 && got < cap);
  assert_int_equal(errno, ENOMEM);
  for (size_t i = 0; i < got; i++) {
    unsigned char *b = blk[i];
    assert_int_equal(b[0], i & 0x7F);
    assert_int_equal(b[1023], i & 0x7F);
  }
  void *later = hk_heap_malloc(h, 1024); /* the next map succeeds */
  assert_non_null(later);
  assert_int_equal(stats_of(h).os_mmap_failed, 4);
  hk_free(later);
  free_n(blk, got);
  hk_free(p);
  hk_free(q);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
  free(blk);
}

static void test_create_map_failure(void **state) {
  (void)state;
  fixture_t f;
  fx_preset(&f, HK_PROFILE_SPEED);
  f.cfg.prewarm_bytes = 3 * SEG;
  f.hooks = fake_hooks(&f.fo);
  f.fo.fail_at = 2; /* the second prewarm SuperSlab */
  f.fo.fail_len = 1;
  f.cfg.os_hooks = &f.hooks;
  errno = 0;
  assert_null(hk_heap_create(&f.cfg));
  assert_int_equal(errno, ENOMEM);
  assert_int_equal(f.fo.live, 0); /* the first SuperSlab went back */
  hk_heap_t *h = hk_heap_create(&f.cfg); /* fail_at passed: it works now */
  assert_non_null(h);
  assert_int_equal(stats_of(h).superslabs, 3);
  hk_heap_destroy(h);
  assert_int_equal(f.fo.live, 0);
}

int run_policy_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decommit_off),
      cmocka_unit_test(test_decommit_free),
      cmocka_unit_test(test_decommit_dontneed),
      cmocka_unit_test(test_decommit_delay),
      cmocka_unit_test(test_decommit_delay_trim_before_due),
      cmocka_unit_test(test_retention_0),
      cmocka_unit_test(test_retention_1),
      cmocka_unit_test(test_retention_3),
      cmocka_unit_test(test_large_reuse),
      cmocka_unit_test(test_large_decay),
      cmocka_unit_test(test_large_cap),
      cmocka_unit_test(test_large_trim),
      cmocka_unit_test(test_large_lean),
      cmocka_unit_test(test_region_cache_slots),
      cmocka_unit_test(test_budget_small_edge),
      cmocka_unit_test(test_budget_large_edge),
      cmocka_unit_test(test_prewarm_no_syscalls),
      cmocka_unit_test(test_prewarm_touch),
      cmocka_unit_test(test_prewarm_untouched),
      cmocka_unit_test(test_map_failure),
      cmocka_unit_test(test_create_map_failure),
  };
  return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}

int main(void) {
  int failed = run_policy_tests();
  failed += run_policy_stats_tests();
  return failed != 0;
}
