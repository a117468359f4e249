/* The fake OS of policy_util.h and the shared helpers. Hooks run under the
 * heap's pool lock, so a fake bound to one heap needs no lock of its own. */
#include "policy_util.h"

#include <sys/mman.h>
#include <time.h>

static void *fake_map(size_t size, void *arg) {
  fake_os_t *fo = arg;
  unsigned n = ++fo->maps;
  if (fo->fail_at != 0 && n >= fo->fail_at && n < fo->fail_at + fo->fail_len) return NULL;
  size_t len = size + SEG;
  uint8_t *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  uint8_t *aligned = (uint8_t *)(((uintptr_t)raw + SEG - 1) & ~(uintptr_t)(SEG - 1));
  uint8_t *p = aligned + PAGE; /* one page past a boundary: see policy_util.h */
  if (p > raw) munmap(raw, (size_t)(p - raw));
  if (raw + len > p + size) munmap(p + size, (size_t)(raw + len - (p + size)));
  /* Residency is checked page by page: no transparent huge pages here. */
  madvise(p, size, MADV_NOHUGEPAGE);
  fo->live += size;
  if (fo->n_maps_logged < FAKE_LOG) fo->map_addr[fo->n_maps_logged++] = (uintptr_t)p;
  return p;
}

static int fake_unmap(void *addr, size_t size, void *arg) {
  fake_os_t *fo = arg;
  fo->unmaps++;
  int rc = munmap(addr, size);
  if (rc == 0) {
    fo->live -= size;
    if (size != PAGE && size != SEG - PAGE) {
      fo->releases++;
      fo->released_bytes += size;
    }
  }
  return rc;
}

static int fake_advise(void *addr, size_t size, int advice, void *arg) {
  fake_os_t *fo = arg;
  fo->advises++;
  if (fo->n_advice < FAKE_LOG) {
    fo->advice[fo->n_advice] = advice;
    fo->advice_len[fo->n_advice] = size;
    fo->n_advice++;
  }
  return madvise(addr, size, advice == HK_ADVISE_FREE ? MADV_FREE : MADV_DONTNEED);
}

hk_os_hooks_t fake_hooks(fake_os_t *fo) {
  memset(fo, 0, sizeof *fo);
  hk_os_hooks_t h = {fake_map, fake_unmap, fake_advise, fo, NULL};
  return h;
}

/* The policy tests check what slow paths and trim do, call by call: no
 * purger thread acts meanwhile (test_purge.c tests that one). */
void fx_preset(fixture_t *f, hk_profile_t profile) {
  assert_int_equal(hk_heap_config_preset(&f->cfg, profile), 0);
  f->cfg.background_purge = 0;
}

hk_heap_t *fx_heap(fixture_t *f) {
  f->hooks = fake_hooks(&f->fo);
  f->cfg.os_hooks = &f->hooks;
  hk_heap_t *h = hk_heap_create(&f->cfg);
  if (h == NULL) fail_msg("hk_heap_create failed (errno %d)", errno);
  return h;
}

hk_stats_t stats_of(const hk_heap_t *h) {
  hk_stats_t st;
  assert_int_equal(hk_heap_stats(h, &st), 0);
  return st;
}

size_t blocks_per_superslab(size_t bsize) {
  return (64 * 1024 - 8192) / bsize + 31 * (64 * 1024 / bsize);
}

unsigned class_index(size_t bsize) {
  hk_stats_t st;
  assert_int_equal(hk_heap_stats(hk_heap_default(), &st), 0);
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++)
    if (st.class_block_size[c] == bsize) return c;
  fail_msg("no class of %zu bytes", bsize);
  return 0;
}

void alloc_n(hk_heap_t *h, size_t size, size_t n, void **out) {
  for (size_t i = 0; i < n; i++) {
    out[i] = hk_heap_malloc(h, size);
    if (out[i] == NULL) fail_msg("allocation %zu of %zu bytes failed (errno %d)", i, size, errno);
    memset(out[i], 0xA5, size < 64 ? size : 64);
  }
}

void free_n(void **blk, size_t n) {
  for (size_t i = 0; i < n; i++) hk_free(blk[i]);
}

size_t distinct_superslabs(void **blk, size_t n) {
  uintptr_t seen[256];
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uintptr_t s = superslab_base(blk[i]);
    size_t j = 0;
    while (j < k && seen[j] != s) j++;
    if (j == k) {
      assert_true(k < 256);
      seen[k++] = s;
    }
  }
  return k;
}

size_t resident_pages(const void *p, size_t len) {
  size_t n = len / PAGE;
  unsigned char *vec = calloc(len / 4096, 1); /* room for the smallest pages */
  assert_non_null(vec);
  assert_int_equal(mincore((void *)p, len, vec), 0);
  size_t r = 0;
  for (size_t i = 0; i < n; i++) r += vec[i] & 1;
  free(vec);
  return r;
}

void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
