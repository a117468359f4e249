/* libFuzzer harness for the public API (target hk_fuzz).
 *
 * The input is an op stream: heaps created from fuzzed configs (valid and
 * invalid ones, some with OS hooks that count mappings or fail on demand),
 * malloc/calloc/realloc/aligned_alloc/posix_memalign/free on the default heap
 * and on user heaps, trim, destroy and stats. A shadow model tracks every
 * live block with a fill pattern verified before each free/realloc, and
 * checks what the header promises: alignment, usable size >= requested,
 * hk_heap_of, EINVAL/ENOMEM rules, a heap's mapped bytes within max_bytes,
 * and (through the hooks) that a destroyed heap leaves no mapping behind.
 * Every input ends with all blocks freed and all heaps destroyed.
 *
 * Build (clang only): -DHAKMEM_BUILD_FUZZ=ON -DHAKMEM_SANITIZE=address,undefined
 * One-minute run, new inputs going to a scratch copy of the corpus:
 *   mkdir -p corpus_copy_dir && ./hk_fuzz -max_total_time=60 corpus_copy_dir test/fuzz/corpus
 * Regenerate the seed corpus: python3 test/fuzz/make_corpus.py
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS, MADV_FREE */
#include <hakmem/hakmem.h>

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MAX_LIVE 256
#define MAX_HEAPS 4
#define MAX_SIZE ((size_t)8 << 20)
#define MAX_MODEL_BYTES ((size_t)96 << 20) /* keeps RSS far below libFuzzer's limit */
#define MIB ((size_t)1 << 20)

#define CHECK(cond, ...)                                                    \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "hk_fuzz: %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                         \
      fputc('\n', stderr);                                                  \
      abort();                                                              \
    }                                                                       \
  } while (0)

/* ---- input -------------------------------------------------------------- */

typedef struct {
  const uint8_t *p;
  size_t n;
} input_t;

static uint8_t in_u8(input_t *in) {
  if (in->n == 0) return 0;
  in->n--;
  return *in->p++;
}
static uint32_t in_u16(input_t *in) { return in_u8(in) | (uint32_t)in_u8(in) << 8; }
static uint32_t in_u32(input_t *in) { return in_u16(in) | in_u16(in) << 16; }

/* Mostly small sizes, some mid and large ones up to MAX_SIZE. */
static size_t in_size(input_t *in) {
  uint8_t k = in_u8(in);
  switch (k & 7) {
  case 0: case 1: case 2: return in_u8(in);
  case 3: return in_u16(in) % 1100;
  case 4: case 5: return in_u16(in);
  case 6: return in_u32(in) % (MIB + 1);
  default: return in_u32(in) % (MAX_SIZE + 1);
  }
}

/* ---- OS hooks: count what each hooked heap has mapped; fail on demand ---- */

typedef struct {
  size_t mapped;
  uint32_t calls, fail_every; /* map/advise call n fails if n % fail_every == 0 */
} hooks_state_t;

static void *hook_map(size_t size, void *arg) {
  hooks_state_t *st = arg;
  if (st->fail_every != 0 && ++st->calls % st->fail_every == 0) return NULL;
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  st->mapped += size;
  return p;
}

static int hook_unmap(void *addr, size_t size, void *arg) {
  hooks_state_t *st = arg;
  int rc = munmap(addr, size);
  CHECK(rc == 0, "munmap(%p, %zu) failed: the core unmapped something odd", addr, size);
  CHECK(st->mapped >= size, "unmapping %zu bytes with only %zu mapped", size, st->mapped);
  st->mapped -= size;
  return rc;
}

static int hook_advise(void *addr, size_t size, int advice, void *arg) {
  hooks_state_t *st = arg;
  CHECK(advice == HK_ADVISE_FREE || advice == HK_ADVISE_DONTNEED, "advice %d", advice);
  if (st->fail_every != 0 && ++st->calls % st->fail_every == 0) return -1;
  return madvise(addr, size, advice == HK_ADVISE_FREE ? MADV_FREE : MADV_DONTNEED);
}

/* ---- model ---------------------------------------------------------------- */

typedef struct {
  hk_heap_t *h;        /* NULL: slot unused */
  size_t max_bytes;
  bool hooked, may_fail; /* may_fail: NULL+ENOMEM is a legal answer */
  hooks_state_t hs;
  hk_os_hooks_t hooks;
} fheap_t;

typedef struct {
  uint8_t *p;
  size_t size;
  int heap; /* slot, or -1 for the default heap */
  uint8_t seed;
} block_t;

static fheap_t heaps[MAX_HEAPS];
static block_t live[MAX_LIVE];
static size_t n_live, model_bytes;
static uint8_t next_seed;

static hk_heap_t *heap_ptr(int k) { return k < 0 ? hk_heap_default() : heaps[k].h; }
static bool heap_may_fail(int k) { return k >= 0 && heaps[k].may_fail; }

/* A heap slot chosen by the input; unused slots mean the default heap. */
static int in_heap(input_t *in) {
  int k = in_u8(in) % (MAX_HEAPS + 1);
  return k == MAX_HEAPS || heaps[k].h == NULL ? -1 : k;
}

/* Patterned bytes: whole block up to 64 KiB, else head, tail and one byte
 * per 64 KiB (enough to catch a moved or shared block without faulting in
 * every page of an 8 MiB block). */
static size_t next_pos(size_t i, size_t n) {
  size_t j = i + 1;
  if (n <= 65536 || j < 4096 || j >= n - 4096) return j;
  size_t s = (j + 65535) & ~(size_t)65535;
  return s < n - 4096 ? s : n - 4096;
}
static uint8_t pat(uint8_t seed, size_t i) { return (uint8_t)(seed + i * 7 + (i >> 9)); }

static void fill(block_t *b) {
  for (size_t i = 0; i < b->size; i = next_pos(i, b->size)) b->p[i] = pat(b->seed, i);
}

/* Verifies b's pattern over its first `limit` bytes, at address `at`. */
static void verify_at(const block_t *b, const uint8_t *at, size_t limit) {
  for (size_t i = 0; i < b->size && i < limit; i = next_pos(i, b->size))
    CHECK(at[i] == pat(b->seed, i), "block %p (size %zu, heap %d) byte %zu is %#x, want %#x",
          (void *)b->p, b->size, b->heap, i, at[i], pat(b->seed, i));
}

static void check_budget(int k) {
  if (k < 0) return;
  hk_stats_t st;
  CHECK(hk_heap_stats(heaps[k].h, &st) == 0, "stats");
  if (heaps[k].max_bytes != 0)
    CHECK(st.mapped_bytes <= heaps[k].max_bytes, "heap %d maps %zu bytes, budget %zu", k,
          st.mapped_bytes, heaps[k].max_bytes);
  /* The hooks also see large areas' reservations, which mapped_bytes
   * counts only as their runs are used. */
  if (heaps[k].hooked)
    CHECK(st.mapped_bytes <= heaps[k].hs.mapped, "heap %d: stats say %zu mapped, hooks %zu", k,
          st.mapped_bytes, heaps[k].hs.mapped);
}

/* Records a fresh block after checking what the API promises about it. */
static void adopt(uint8_t *p, size_t size, size_t align, int k, const char *what) {
  CHECK(((uintptr_t)p & (HK_MIN_ALIGN - 1)) == 0, "%s: %p below minimum alignment", what, p);
  CHECK(((uintptr_t)p & (align - 1)) == 0, "%s: %p not aligned to %zu", what, (void *)p, align);
  CHECK(hk_usable_size(p) >= size, "%s(%zu): usable size %zu", what, size, hk_usable_size(p));
  CHECK(hk_heap_of(p) == heap_ptr(k), "%s: hk_heap_of(%p) is not heap %d", what, (void *)p, k);
  size_t span = size ? size : 1;
  for (size_t i = 0; i < n_live; i++) {
    size_t ospan = live[i].size ? live[i].size : 1;
    CHECK(p + span <= live[i].p || live[i].p + ospan <= p,
          "%s: new block %p+%zu overlaps live block %p+%zu", what, (void *)p, size,
          (void *)live[i].p, live[i].size);
  }
  block_t *b = &live[n_live++];
  *b = (block_t){p, size, k, next_seed++};
  model_bytes += size;
  fill(b);
  check_budget(k);
}

/* A NULL result: legal only as ENOMEM from a heap that may run out. */
static void null_result(int k, size_t size, const char *what) {
  CHECK(errno == ENOMEM, "%s(%zu) on heap %d: NULL with errno %d", what, size, k, errno);
  CHECK(heap_may_fail(k), "%s(%zu) on heap %d failed with ENOMEM", what, size, k);
  check_budget(k);
}

static bool room_for(size_t size) {
  return n_live < MAX_LIVE && size <= MAX_SIZE && model_bytes + size <= MAX_MODEL_BYTES;
}

static void forget(size_t i) {
  model_bytes -= live[i].size;
  live[i] = live[--n_live];
}

static void free_block(size_t i) {
  verify_at(&live[i], live[i].p, SIZE_MAX);
  int k = live[i].heap;
  hk_free(live[i].p);
  forget(i);
  check_budget(k);
}

/* ---- heap configs --------------------------------------------------------- */

enum { CFG_VALID, CFG_INVALID, CFG_UNKNOWN };

/* Builds a config from the input. Returns what the documented rules say
 * about it: fields are either within documented ranges (VALID), break a
 * documented rule (INVALID), or stray where only the implementation decides
 * (UNKNOWN: only check/create consistency is checked then). */
static int in_config(input_t *in, hk_heap_config_t *cfg, fheap_t *slot) {
  static const size_t max_choices[] = {0, 2 * MIB, 3 * MIB, 4 * MIB, 8 * MIB, 64 * MIB,
                                       1, MIB, 2 * MIB - 1};
  static const size_t prewarm_choices[] = {0, 2 * MIB, 4 * MIB, 12345, 2 * MIB + 1};
  int verdict = CFG_VALID;
  uint8_t prof = in_u8(in) % 4;
  if (prof == 3) hk_heap_config_init(cfg);
  else CHECK(hk_heap_config_preset(cfg, (hk_profile_t)prof) == 0, "preset %u", prof);
  uint8_t f = in_u8(in), g = in_u8(in);
  if (f & 1) cfg->prewarm_bytes = prewarm_choices[in_u8(in) % 5];
  if (f & 2) cfg->prewarm_touch = 1;
  if (f & 4) {
    uint8_t d = in_u8(in) % 4;
    cfg->decommit = (hk_decommit_t)d;
    if (d > HK_DECOMMIT_DONTNEED) verdict = CFG_INVALID;
  }
  if (f & 8) {
    uint32_t ms = in_u16(in);
    cfg->decommit_delay_ms = (g & 1) ? ms * 100u : ms % 50u; /* large: beyond documented use */
    if (g & 1) verdict = verdict == CFG_VALID ? CFG_UNKNOWN : verdict;
  }
  if (f & 16) {
    cfg->retain_superslabs = in_u8(in) % 20;
    cfg->region_cache_slots = in_u8(in) % 72;
    cfg->region_cache_max_bytes = (size_t)(in_u8(in) % 40) * MIB;
    if (cfg->region_cache_slots > 64 && verdict == CFG_VALID) verdict = CFG_UNKNOWN;
  }
  if (f & 32) {
    size_t m = max_choices[in_u8(in) % 9];
    cfg->max_bytes = m;
    if (m != 0 && m < HK_SUPERSLAB_SIZE) verdict = CFG_INVALID;
    /* Prewarm beyond the budget: the implementation rejects it; undocumented. */
    if (m != 0 && cfg->prewarm_bytes > m && verdict == CFG_VALID) verdict = CFG_UNKNOWN;
  }
  if (f & 64) {
    slot->hooks = (hk_os_hooks_t){hook_map, hook_unmap, hook_advise, &slot->hs};
    slot->hs = (hooks_state_t){0, 0, (g & 2) ? 2u + in_u8(in) % 6 : 0};
    switch (in_u8(in) % 4) {
    case 0: slot->hooks.advise = NULL; break;
    case 1: /* map without unmap: undocumented combination */
      slot->hooks.unmap = NULL;
      if (verdict == CFG_VALID) verdict = CFG_UNKNOWN;
      break;
    case 2: slot->hooks = (hk_os_hooks_t){0}; break; /* all NULL: the real OS */
    default: break;
    }
    cfg->os_hooks = &slot->hooks;
  }
  if (f & 128) {
    switch (in_u8(in) % 5) {
    case 0: cfg->struct_size -= 8; verdict = CFG_INVALID; break;
    case 1: cfg->struct_size = 0; verdict = CFG_INVALID; break;
    case 2: cfg->version = HK_HEAP_CONFIG_VERSION + 1; verdict = CFG_INVALID; break;
    case 3: cfg->profile = (hk_profile_t)(3 + in_u8(in) % 100); verdict = CFG_INVALID; break;
    default: cfg->name = (g & 4) ? NULL : "a-rather-long-heap-name-that-will-not-fit-anywhere-"
                                          "in-a-small-internal-buffer-so-it-gets-cut";
    }
  }
  return verdict;
}

static void op_create(input_t *in) {
  int k = in_u8(in) % MAX_HEAPS;
  if (heaps[k].h != NULL) return; /* destroy is its own op */
  fheap_t *slot = &heaps[k];
  memset(slot, 0, sizeof *slot);
  hk_heap_config_t cfg;
  int verdict = in_config(in, &cfg, slot);
  const char *msg = hk_heap_config_check(&cfg);
  if (verdict == CFG_VALID) CHECK(msg == NULL, "valid config rejected: %s", msg);
  if (verdict == CFG_INVALID) CHECK(msg != NULL, "invalid config accepted");
  bool hooked = cfg.os_hooks != NULL && slot->hooks.map != NULL;
  errno = 0;
  hk_heap_t *h = hk_heap_create(&cfg);
  if (msg != NULL) {
    CHECK(h == NULL && errno == EINVAL, "rejected config (%s): heap %p errno %d", msg, (void *)h,
          errno);
    return;
  }
  if (h == NULL) { /* only a failing hook may refuse the prewarm mapping */
    CHECK(errno == ENOMEM && hooked && slot->hs.fail_every != 0, "create failed, errno %d",
          errno);
    CHECK(slot->hs.mapped == 0, "failed create leaked %zu mapped bytes", slot->hs.mapped);
    return;
  }
  slot->h = h;
  slot->max_bytes = cfg.max_bytes;
  slot->hooked = hooked;
  slot->may_fail = cfg.max_bytes != 0 || (hooked && slot->hs.fail_every != 0);
  check_budget(k);
}

static void op_destroy(input_t *in) {
  int k = in_heap(in);
  if (k < 0) {
    hk_heap_destroy(NULL); /* a documented no-op (the default heap aborts) */
    return;
  }
  for (size_t i = n_live; i-- > 0;)
    if (live[i].heap == k) forget(i); /* arena semantics: no free needed */
  hk_heap_destroy(heaps[k].h);
  if (heaps[k].hooked)
    CHECK(heaps[k].hs.mapped == 0, "destroyed heap %d left %zu bytes mapped", k, heaps[k].hs.mapped);
  heaps[k].h = NULL;
}

/* ---- allocation ops ------------------------------------------------------- */

/* Sizes no allocator can serve: must be NULL + ENOMEM on any heap. */
static void op_huge(input_t *in) {
  static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 15, SIZE_MAX / 2 + 1, (size_t)1 << 48};
  int k = in_heap(in);
  size_t size = huge[in_u8(in) % 4];
  hk_heap_t *h = heap_ptr(k);
  void *p = (void *)1;
  errno = 0;
  switch (in_u8(in) % 4) {
  case 0: p = hk_heap_malloc(h, size); break;
  case 1: p = hk_heap_calloc(h, 2, size / 2 + 1); break; /* n*size overflows */
  case 2: p = hk_heap_aligned_alloc(h, 64, size); break;
  default: p = hk_heap_calloc(h, size, size); break;
  }
  CHECK(p == NULL && errno == ENOMEM, "huge request %zu: %p errno %d", size, p, errno);
}

static void op_malloc(input_t *in) {
  int k = in_heap(in);
  size_t size = in_size(in);
  if (!room_for(size)) return;
  errno = 0;
  uint8_t *p = k < 0 && (size & 1) ? hk_malloc(size) : hk_heap_malloc(heap_ptr(k), size);
  if (p == NULL) null_result(k, size, "malloc");
  else adopt(p, size, HK_MIN_ALIGN, k, "malloc");
}

static void op_calloc(input_t *in) {
  int k = in_heap(in);
  size_t n = in_u8(in), size = in_size(in) / (n ? n : 1);
  if (!room_for(n * size)) return;
  errno = 0;
  uint8_t *p = k < 0 && (n & 1) ? hk_calloc(n, size) : hk_heap_calloc(heap_ptr(k), n, size);
  if (p == NULL) { null_result(k, n * size, "calloc"); return; }
  for (size_t i = 0; i < n * size; i = next_pos(i, n * size))
    CHECK(p[i] == 0, "calloc(%zu, %zu) byte %zu is %#x", n, size, i, p[i]);
  adopt(p, n * size, HK_MIN_ALIGN, k, "calloc");
}

/* Alignments: every power of two up to 2 MiB (above HK_MAX_ALIGN is
 * invalid), zero, and non-powers. */
static size_t in_align(input_t *in, bool *valid) {
  uint8_t a = in_u8(in);
  size_t align;
  if (a < 200) align = (size_t)1 << (a % 22);
  else if (a < 220) align = 0;
  else align = (size_t)(a % 17 + 1) * 24; /* never a power of two */
  *valid = align != 0 && (align & (align - 1)) == 0 && align <= HK_MAX_ALIGN;
  return align;
}

static void op_aligned(input_t *in, bool posix) {
  int k = in_heap(in);
  bool valid;
  size_t align = in_align(in, &valid), size = in_size(in);
  if (posix && align < sizeof(void *)) valid = false;
  if (!room_for(size)) return;
  hk_heap_t *h = heap_ptr(k);
  uint8_t *p;
  errno = 0;
  if (posix) {
    if (k >= 0) return; /* posix_memalign exists for the default heap only */
    void *out = (void *)&p; /* a marker: must stay untouched on failure */
    int rc = hk_posix_memalign(&out, align, size);
    if (!valid) {
      CHECK(rc == EINVAL && out == (void *)&p, "posix_memalign(%zu): rc %d", align, rc);
      return;
    }
    CHECK(rc == 0 || (rc == ENOMEM && out == (void *)&p), "posix_memalign: rc %d", rc);
    CHECK(rc == 0, "posix_memalign(%zu, %zu) failed on the default heap", align, size);
    p = out;
  } else {
    p = k < 0 && (size & 1) ? hk_aligned_alloc(align, size) : hk_heap_aligned_alloc(h, align, size);
    if (!valid) {
      CHECK(p == NULL && errno == EINVAL, "aligned_alloc(%zu): %p errno %d", align, (void *)p,
            errno);
      return;
    }
    if (p == NULL) { null_result(k, size, "aligned_alloc"); return; }
  }
  adopt(p, size, align < HK_MIN_ALIGN ? HK_MIN_ALIGN : align, k, posix ? "posix_memalign" : "aligned_alloc");
}

static void op_realloc(input_t *in) {
  if (n_live == 0) return;
  size_t i = in_u16(in) % n_live;
  size_t size = in_size(in);
  uint8_t how = in_u8(in);
  if (size > live[i].size && !room_for(size - live[i].size)) return;
  block_t old = live[i];
  verify_at(&old, old.p, SIZE_MAX);
  errno = 0;
  /* The heap argument of hk_heap_realloc is ignored for a non-NULL block. */
  uint8_t *q = (how & 1) ? hk_realloc(old.p, size)
                         : hk_heap_realloc(heap_ptr(in_heap(in)), old.p, size);
  if (how & 1 && size == 0)
    CHECK(q == NULL, "hk_realloc(p, 0) returned %p instead of freeing", (void *)q);
  if (size == 0 && q == NULL) { /* freed, as glibc does */
    forget(i);
    check_budget(old.heap);
    return;
  }
  if (q == NULL) {
    null_result(old.heap, size, "realloc");
    verify_at(&old, old.p, SIZE_MAX); /* untouched on failure */
    return;
  }
  verify_at(&old, q, size); /* common prefix moved */
  forget(i);
  adopt(q, size, HK_MIN_ALIGN, old.heap, "realloc");
}

/* hk_heap_realloc(heap, NULL, n) allocates in heap. */
static void op_realloc_null(input_t *in) {
  int k = in_heap(in);
  size_t size = in_size(in);
  if (size == 0 || !room_for(size)) return;
  errno = 0;
  uint8_t *p = k < 0 && (size & 1) ? hk_realloc(NULL, size) : hk_heap_realloc(heap_ptr(k), NULL, size);
  if (p == NULL) null_result(k, size, "realloc(NULL)");
  else adopt(p, size, HK_MIN_ALIGN, k, "realloc(NULL)");
}

static void op_free(input_t *in) {
  if (n_live == 0) {
    hk_free(NULL);
    return;
  }
  free_block(in_u16(in) % n_live);
}

/* Frees every block of one heap, which then must account for none. */
static void op_free_heap(input_t *in) {
  int k = in_heap(in);
  for (size_t i = n_live; i-- > 0;)
    if (live[i].heap == k) free_block(i);
  if (k < 0) return; /* the default heap is checked at the end of the input */
  hk_stats_t st;
  CHECK(hk_heap_stats(heaps[k].h, &st) == 0, "stats");
  CHECK(st.live_bytes == 0 && st.large_blocks == 0, "heap %d empty but live %zu large %zu", k,
        st.live_bytes, st.large_blocks);
}

/* ---- other API ------------------------------------------------------------- */

static void op_trim(input_t *in) {
  int k = in_heap(in);
  if (k < 0 && (in_u8(in) & 1)) (void)hk_trim();
  else (void)hk_heap_trim(heap_ptr(k));
  (void)hk_heap_trim(NULL); /* NULL: the default heap */
  CHECK(hk_heap_trim(NULL) == 0, "a second trim of the default heap released bytes");
  check_budget(k);
  if (n_live) verify_at(&live[n_live - 1], live[n_live - 1].p, SIZE_MAX);
}

static FILE *devnull(void) {
  static FILE *f;
  if (f == NULL) f = fopen("/dev/null", "w");
  return f;
}

static void op_stats(input_t *in) {
  int k = in_heap(in);
  hk_stats_t st;
  CHECK(hk_heap_stats(heap_ptr(k), &st) == 0, "stats");
  hk_stats_t dflt;
  CHECK(hk_heap_stats(NULL, &dflt) == 0 && hk_heap_stats(heap_ptr(k), NULL) == EINVAL,
        "stats with NULL (NULL heap: the default heap; NULL out: EINVAL)");
  size_t sum = 0;
  for (size_t i = 0; i < n_live; i++)
    if (live[i].heap == k) sum += live[i].size;
  CHECK(st.live_bytes >= sum, "heap %d live_bytes %zu < %zu requested", k, st.live_bytes, sum);
  CHECK(st.committed_bytes <= st.mapped_bytes && st.mapped_bytes <= st.peak_mapped_bytes,
        "committed %zu mapped %zu peak %zu", st.committed_bytes, st.mapped_bytes,
        st.peak_mapped_bytes);
  CHECK(st.superslabs_decommitted <= st.superslabs_empty && st.superslabs_empty <= st.superslabs,
        "superslab counts");
  check_budget(k);
  if (in_u8(in) & 1 && devnull() != NULL) {
    CHECK(hk_heap_stats_print(heap_ptr(k), devnull()) == 0, "stats_print");
    CHECK(hk_heap_stats_print_json(heap_ptr(k), devnull()) == 0, "stats_print_json");
  }
}

static void op_misc(input_t *in) {
  int local = 0;
  CHECK(hk_usable_size(NULL) == 0, "usable_size(NULL)");
  CHECK(hk_heap_of(NULL) == NULL && hk_heap_of(&local) == NULL, "heap_of foreign");
  CHECK(strcmp(hk_version(), HK_VERSION_STRING) == 0, "version");
  hk_heap_config_t cfg;
  CHECK(hk_heap_config_preset(&cfg, (hk_profile_t)(3 + in_u8(in))) == EINVAL, "bad preset");
  CHECK(hk_heap_config_preset(NULL, HK_PROFILE_SPEED) == EINVAL, "preset NULL");
  CHECK(hk_heap_config_check(NULL) == NULL, "check NULL (the defaults) rejected");
  CHECK(hk_heap_default() == hk_heap_default(), "default heap");
  if (n_live) {
    block_t *b = &live[in_u16(in) % n_live];
    CHECK(hk_heap_of(b->p) == heap_ptr(b->heap), "heap_of live block");
    CHECK(hk_usable_size(b->p) >= b->size, "usable size");
    verify_at(b, b->p, SIZE_MAX);
  }
}

/* ---- driver ---------------------------------------------------------------- */

static void teardown(void) {
  while (n_live) free_block(n_live - 1);
  for (int k = 0; k < MAX_HEAPS; k++) {
    if (heaps[k].h == NULL) continue;
    hk_stats_t st;
    CHECK(hk_heap_stats(heaps[k].h, &st) == 0 && st.live_bytes == 0, "heap %d not empty", k);
    hk_heap_destroy(heaps[k].h);
    if (heaps[k].hooked)
      CHECK(heaps[k].hs.mapped == 0, "heap %d left %zu bytes mapped", k, heaps[k].hs.mapped);
    heaps[k].h = NULL;
  }
  hk_stats_t st;
  CHECK(hk_heap_stats(hk_heap_default(), &st) == 0, "stats");
  CHECK(st.live_bytes == 0 && st.large_blocks == 0,
        "default heap: live %zu, large %zu after freeing everything", st.live_bytes,
        st.large_blocks);
  model_bytes = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  input_t in = {data, size};
  next_seed = 0;
  while (in.n > 0) {
    switch (in_u8(&in) % 16) {
    case 0: op_create(&in); break;
    case 1: op_destroy(&in); break;
    case 2: case 3: op_malloc(&in); break;
    case 4: op_calloc(&in); break;
    case 5: case 6: op_realloc(&in); break;
    case 7: op_aligned(&in, false); break;
    case 8: op_aligned(&in, true); break;
    case 9: case 10: op_free(&in); break;
    case 11: op_trim(&in); break;
    case 12: op_stats(&in); break;
    case 13: op_misc(&in); break;
    case 14: op_huge(&in); break;
    default: (in_u8(&in) & 1) ? op_free_heap(&in) : op_realloc_null(&in); break;
    }
  }
  teardown();
  return 0;
}
