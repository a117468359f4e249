/* The pointer map (src/superslab/map.c), black-box through the public API.
 *
 * free(), realloc(), hk_usable_size() and hk_heap_of() find every block's
 * slab record through one two-level map whose chunks (32 GiB of address
 * space each) are reserved as SuperSlabs land in their range; every other
 * address reads "nothing here". All must behave the same for every block
 * kind and heap, under any address-space limit, and bad pointers must
 * abort with the documented message (docs/reliability.md). Covered here:
 *   - MID blocks whose start is in granules 1..7 of their slab: alloc,
 *     verify, free (owner and remote) on the default, a user and a hooked
 *     heap; an interior pointer there is refused;
 *   - foreign pointers of every kind: the stack, .data, a glibc mmap, an
 *     address in a map chunk that has SuperSlabs but none there (this
 *     heap's chunk, and another heap's far away), a large block's interior
 *     and a SuperSlab header: free, realloc and usable_size abort with
 *     "invalid pointer", hk_heap_of says NULL;
 *   - a stale block of a destroyed LEAN heap;
 *   - SuperSlabs near the top of the user address space (a hooked heap
 *     mapping there), and a map chunk that several threads need first at
 *     the same moment;
 *   - a workload and many SuperSlabs under small RLIMIT_AS limits, and the
 *     address space the map takes, in a re-executed copy of this binary,
 *     so hakmem starts fresh under the limit whatever ran before (skipped
 *     under sanitizers: their shadow mappings do not fit an RLIMIT_AS).
 */
#include "test_util.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <errno.h>

#if defined(HK_TEST_SANITIZED) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HKT_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define HKT_SANITIZER 1
#endif
#endif
#ifndef HKT_SANITIZER
#define HKT_SANITIZER 0
#endif

#define GRANULE ((uintptr_t)64 << 10)
#define SEG_MASK ((uintptr_t)HK_SUPERSLAB_SIZE - 1)
#define INVALID "hakmem: free(): invalid pointer 0x"

/* ---- a heap with OS hooks ------------------------------------------------------ */
static void *hook_map(size_t size, void *arg) {
  HKT_UNUSED(arg);
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}
static int hook_unmap(void *addr, size_t size, void *arg) {
  HKT_UNUSED(arg);
  return munmap(addr, size);
}
static int hook_advise(void *addr, size_t size, int advice, void *arg) {
  HKT_UNUSED(arg);
  return madvise(addr, size, advice == HK_ADVISE_FREE ? MADV_FREE : MADV_DONTNEED);
}
static const hk_os_hooks_t g_hooks = {hook_map, hook_unmap, hook_advise, NULL, NULL};

/* Heaps without a purger thread: the death tests fork, and qemu-user (the
 * arm64 CI step) cannot fork a process that runs threads. */
static hk_heap_t *plain_heap(const hk_os_hooks_t *hooks) {
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.os_hooks = hooks;
  cfg.background_purge = 0;
  return hk_heap_create(&cfg);
}
static hk_heap_t *hooked_heap(void) { return plain_heap(&g_hooks); }

static void shuffle(void **v, size_t n, hkt_rng_t *r) {
  for (size_t i = n; i > 1; i--) {
    size_t j = hkt_rng_range(r, 0, i - 1);
    void *t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

/* ---- MID blocks --------------------------------------------------------- */
#define NMID 192
static size_t mid_size(size_t i) { return i % 2 ? 61440 - i * 8 : 40960 - i * 16; } /* 40/60 KiB */

typedef struct { void **v; size_t from, to; } span_t;
static void *free_span(void *arg) { /* remote frees */
  span_t *s = arg;
  for (size_t i = s->from; i < s->to; i++) hk_free(s->v[i]);
  return NULL;
}

static void mid_round(hk_heap_t *h, uint64_t seed) {
  static void *v[NMID];
  size_t start = hkt_stats(h).live_bytes, stand_in = 0;
  hkt_rng_t r;
  hkt_rng_seed(&r, seed);
  for (size_t i = 0; i < NMID; i++) {
    v[i] = hk_heap_malloc(h, mid_size(i));
    assert_non_null(v[i]);
    assert_ptr_equal(hk_heap_of(v[i]), h);
    assert_true(hk_usable_size(v[i]) >= mid_size(i));
    if ((((uintptr_t)v[i] & SEG_MASK) >> 16) % 8 != 0) stand_in++; /* granule 1..7 of a slab */
    hkt_fill(v[i], mid_size(i), hkt_addr_seed(v[i]));
  }
  assert_true(stand_in > NMID / 2);
  for (size_t i = 0; i < NMID; i++) assert_true(hkt_check(v[i], mid_size(i), hkt_addr_seed(v[i])));
  /* Sizes are lost by the shuffle: keep each block's size in its first word. */
  for (size_t i = 0; i < NMID; i++) hkt_block_fill(v[i], mid_size(i));
  shuffle(v, NMID, &r);
  for (size_t i = 0; i < NMID; i++) assert_true(hkt_block_check(v[i]));
  span_t remote = {v, 0, NMID / 4};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, free_span, &remote), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  for (size_t i = NMID / 4; i < NMID; i++) {
    assert_true(hkt_block_check(v[i])); /* earlier frees touched no other block */
    hk_free(v[i]);
  }
  assert_int_equal(hkt_stats(h).live_bytes, start);
}

static void test_mid_blocks(void **state) {
  HKT_UNUSED(state);
  mid_round(hk_heap_default(), 1);
  mid_round(hk_heap_default(), 2); /* the slabs again, now reused */
  hk_heap_t *u = plain_heap(NULL), *k = hooked_heap();
  assert_non_null(u);
  assert_non_null(k);
  mid_round(u, 3);
  mid_round(k, 4);
  hk_heap_destroy(u);
  hk_heap_destroy(k);
}

/* An interior pointer of a live MID block, in another granule than its start. */
static hk_heap_t *g_heap; /* set before forking: the heap the child uses */
static void die_mid_interior(void) {
  for (int i = 0; i < 64; i++) {
    uint8_t *p = hk_heap_malloc(g_heap, 61440);
    uintptr_t next = ((uintptr_t)p | (GRANULE - 1)) + 1;
    if (next + 16 < (uintptr_t)p + 61440) hk_free((void *)(next + 16)); /* aborts */
  }
}
static void die_mid_interior_remote(void) {
  for (int i = 0; i < 64; i++) {
    uint8_t *p = hk_heap_malloc(g_heap, 40960);
    uintptr_t next = ((uintptr_t)p | (GRANULE - 1)) + 1;
    void *q[1] = {(void *)next};
    span_t s = {q, 0, 1};
    pthread_t t;
    if (next < (uintptr_t)p + 40960 && pthread_create(&t, NULL, free_span, &s) == 0)
      pthread_join(t, NULL); /* the free aborts in that thread */
  }
}

static void test_mid_interior(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *heaps[3] = {hk_heap_default(), plain_heap(NULL), hooked_heap()};
  for (int i = 0; i < 3; i++) {
    g_heap = heaps[i];
    hkt_expect_abort(die_mid_interior, INVALID);
    hkt_expect_abort(die_mid_interior_remote, INVALID);
  }
  hk_heap_destroy(heaps[1]);
  hk_heap_destroy(heaps[2]);
}

/* ---- 2. foreign pointers of every kind ---------------------------------------- */
enum { F_STACK, F_DATA, F_MMAP, F_CHUNK_NEAR, F_CHUNK_FAR, F_LARGE_START_GRANULE,
       F_LARGE_NEXT_GRANULE, F_HEADER, F_KINDS };
static const char *const kind_name[F_KINDS] = {
    "stack", ".data", "glibc mmap", "chunk of this heap, no SuperSlab there",
    "chunk of another heap far away", "large block interior, first granule",
    "large block interior, second granule", "SuperSlab header"};
static int g_kind, g_call; /* g_call: 0 free, 1 realloc, 2 usable_size */
static size_t g_size;
static char g_data[256] __attribute__((aligned(64)));
static const char *const call_msg[3] = {"hakmem: free(): invalid pointer 0x",
                                        "hakmem: realloc(): invalid pointer 0x",
                                        "hakmem: usable_size(): invalid pointer 0x"};

/* Maps SuperSlabs of its heap at fixed addresses from *arg (a cursor),
 * MAP_FIXED_NOREPLACE: never over anything else. */
static void *fixed_map(size_t size, void *arg) {
  uintptr_t *next = arg;
  for (int tries = 0; tries < 64; tries++) {
    void *want = (void *)*next;
    void *p = mmap(want, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    *next += (size + HK_SUPERSLAB_SIZE - 1) & ~SEG_MASK;
    if (p == want) return p;
    if (p != MAP_FAILED) munmap(p, size); /* a kernel that took it as a hint */
  }
  return NULL;
}
static hk_heap_t *fixed_heap(uintptr_t *cursor) {
  hk_os_hooks_t hooks = {fixed_map, hook_unmap, hook_advise, cursor, NULL}; /* copied by create */
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.background_purge = 0; /* see plain_heap */
  cfg.os_hooks = &hooks;
  return hk_heap_create(&cfg);
}

/* A 32 GiB-aligned range from 16 TiB up where nothing is mapped at the
 * offsets probed (n of them, `step` apart): far from the program, its
 * libraries and the stack, so a map chunk there is new. */
static uintptr_t free_range(uintptr_t from, unsigned n, size_t step) {
  const uintptr_t chunk = (uintptr_t)32 << 30;
  for (uintptr_t base = (from + chunk - 1) & ~(chunk - 1); base < ((uintptr_t)1 << 46); base += chunk) {
    bool ok = true;
    for (unsigned i = 0; ok && i < n; i++) {
      void *want = (void *)(base + i * step);
      void *p = mmap(want, HK_SUPERSLAB_SIZE, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      ok = p == want;
      if (p != MAP_FAILED) munmap(p, HK_SUPERSLAB_SIZE);
    }
    if (ok) return base;
  }
  return 0;
}

static uintptr_t g_far_cursor;
static hk_heap_t *g_far; /* maps at g_far_cursor: its own map chunk */

static void *foreign_ptr(int kind) {
  uint8_t local[64] __attribute__((aligned(16)));
  local[0] = 1;
  switch (kind) {
    case F_STACK: {
      void *q = (void *)((uintptr_t)local + 16);
      __asm__ __volatile__("" : : "r"(local) : "memory");
      return q;
    }
    case F_DATA: return g_data + 16;
    case F_MMAP: {
      uint8_t *m = mmap(NULL, HKT_MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      return m == MAP_FAILED ? NULL : m + 4096;
    }
    case F_CHUNK_NEAR: { /* same 32 GiB chunk as a live block, where no SuperSlab is */
      uintptr_t b = (uintptr_t)hk_heap_malloc(g_heap, g_size);
      for (uintptr_t k = 1; k < 512; k++) {
        uintptr_t q = (b & ~SEG_MASK) + k * 64 * HKT_MIB + 4096;
        if ((q >> 35) == (b >> 35) && hk_heap_of((void *)q) == NULL) return (void *)q;
        q = (b & ~SEG_MASK) - k * 64 * HKT_MIB + 4096;
        if ((q >> 35) == (b >> 35) && hk_heap_of((void *)q) == NULL) return (void *)q;
      }
      return NULL;
    }
    case F_CHUNK_FAR: { /* another heap's chunk, a GiB past its SuperSlab */
      uintptr_t b = (uintptr_t)hk_heap_malloc(g_far, 64);
      return b == 0 ? NULL : (void *)(b + ((uintptr_t)1 << 30));
    }
    case F_LARGE_START_GRANULE: return (uint8_t *)hk_heap_malloc(g_heap, 300000) + 64;
    case F_LARGE_NEXT_GRANULE: return (uint8_t *)hk_heap_malloc(g_heap, 300000) + 131072;
    case F_HEADER: return (void *)(((uintptr_t)hk_heap_malloc(g_heap, g_size) & ~SEG_MASK) + 64);
  }
  return NULL;
}

static void die_foreign(void) {
  void *q = foreign_ptr(g_kind);
  if (q == NULL) _exit(3);
  /* hk_heap_of answers for any address of a SuperSlab or a large area and
   * for the first granule of a large block with a mapping of its own;
   * everywhere else it says "none". */
  if (g_kind != F_LARGE_START_GRANULE && g_kind != F_LARGE_NEXT_GRANULE && g_kind != F_HEADER &&
      hk_heap_of(q) != NULL) {
    fprintf(stderr, "hk_heap_of(%p) is not NULL (%s)\n", q, kind_name[g_kind]);
    _exit(4);
  }
  if (g_call == 0) hk_free(q);
  if (g_call == 1) (void)!hk_realloc(q, 100);
  if (g_call == 2) (void)hk_usable_size(q);
}

static void test_foreign_pointers(void **state) {
  HKT_UNUSED(state);
  g_far_cursor = free_range((uintptr_t)16 << 40, 1, 0);
  if (g_far_cursor == 0) skip();
  g_far = fixed_heap(&g_far_cursor);
  assert_non_null(g_far);
  hk_heap_t *heaps[3] = {hk_heap_default(), plain_heap(NULL), hooked_heap()};
  const size_t sizes[] = {64, 40000};
  for (int k = 0; k < F_KINDS; k++) {
    bool per_heap = k >= F_CHUNK_NEAR && k != F_CHUNK_FAR;
    for (int h = 0; h < (per_heap ? 3 : 1); h++) {
      for (int z = 0; z < (k == F_CHUNK_NEAR || k == F_HEADER ? 2 : 1); z++) {
        g_heap = heaps[h], g_size = sizes[z], g_kind = k;
        for (g_call = 0; g_call < 3; g_call++) {
          print_message("  %s, heap %d, %zu B, call %d\n", kind_name[k], h, g_size, g_call);
          hkt_expect_abort(die_foreign, call_msg[g_call]);
        }
      }
    }
  }
  hk_heap_destroy(heaps[1]);
  hk_heap_destroy(heaps[2]);
  hk_heap_destroy(g_far);
}

/* ---- SuperSlabs near the top of the user address space ------------------------ */
static void top_round(hk_heap_t *h, uintptr_t top) {
  enum { N = 600 };
  static void *v[N];
  static const size_t sizes[] = {16, 1000, 8192, 40000, 61440, 300000};
  for (size_t i = 0; i < N; i++) {
    size_t n = sizes[i % 6];
    v[i] = hk_heap_malloc(h, n);
    assert_non_null(v[i]);
    assert_true((uintptr_t)v[i] > top - ((uintptr_t)64 << 30)); /* the last two map chunks */
    assert_ptr_equal(hk_heap_of(v[i]), h);
    assert_true(hk_usable_size(v[i]) >= n);
    hkt_block_fill(v[i], n);
  }
  v[0] = hk_realloc(v[0], 100000); /* a large block of this heap, from a small one */
  assert_non_null(v[0]);
  assert_ptr_equal(hk_heap_of(v[0]), h);
  span_t remote = {v, 0, N / 2};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, free_span, &remote), 0);
  assert_int_equal(pthread_join(t, NULL), 0);
  for (size_t i = N / 2; i < N; i++) {
    assert_true(hkt_block_check(v[i]));
    hk_free(v[i]);
  }
}

static uintptr_t g_top_cursor;
/* Maps from just below the top down, wherever the stack and libraries
 * leave room. */
static void *top_map(size_t size, void *arg) {
  HKT_UNUSED(arg);
  size = (size + HK_SUPERSLAB_SIZE - 1) & ~SEG_MASK;
  for (int tries = 0; tries < 1 << 16; tries++) {
    g_top_cursor -= size;
    void *want = (void *)g_top_cursor;
    void *p = mmap(want, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == want) return p;
    if (p != MAP_FAILED) munmap(p, size);
    if (g_top_cursor < size) break;
  }
  return NULL;
}

static void test_top_of_address_space(void **state) {
  HKT_UNUSED(state);
  /* The top of user space: the power of two above the stack. */
  uintptr_t top = 1;
  while (top <= (uintptr_t)&top) top <<= 1;
  g_top_cursor = (top - 4096) & ~SEG_MASK;
  static const hk_os_hooks_t hooks = {top_map, hook_unmap, hook_advise, NULL, NULL};
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.background_purge = 0; /* see plain_heap */
  cfg.os_hooks = &hooks;
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  top_round(h, top);
  top_round(h, top);
  print_message("  top %#lx, lowest SuperSlab %#lx\n", (unsigned long)top,
                (unsigned long)g_top_cursor);
  hk_heap_destroy(h);
}

/* ---- a map chunk that several threads need at once ------------------------------ */
#define RACERS 8
#define RACE_BLOCKS 2000
typedef struct {
  pthread_barrier_t *go;
  uintptr_t cursor;
  hk_heap_t *heap;
  void **mine;
  void **theirs; /* the next racer's blocks, freed here (remote) */
  int bad;
} racer_t;

static void *racer(void *arg) {
  racer_t *r = arg;
  static const size_t sizes[] = {16, 100, 1000, 5000, 40000, 70000};
  pthread_barrier_wait(r->go); /* every racer's first SuperSlab needs the same new chunk */
  for (int i = 0; i < RACE_BLOCKS; i++) {
    size_t n = sizes[i % 6];
    r->mine[i] = hk_heap_malloc(r->heap, n);
    if (r->mine[i] == NULL || hk_heap_of(r->mine[i]) != r->heap) r->bad++;
    else hkt_block_fill(r->mine[i], n);
  }
  pthread_barrier_wait(r->go);
  for (int i = 0; i < RACE_BLOCKS; i++) {
    if (r->theirs[i] == NULL) continue;
    if (!hkt_block_check(r->theirs[i])) r->bad++;
    if (i % 2) hk_free(r->theirs[i]);
  }
  pthread_barrier_wait(r->go);
  for (int i = 0; i < RACE_BLOCKS; i += 2) hk_free(r->mine[i]);
  return NULL;
}

static void test_chunk_race(void **state) {
  HKT_UNUSED(state);
  static void *blocks[RACERS][RACE_BLOCKS];
  uintptr_t from = (uintptr_t)16 << 40;
  for (int round = 0; round < 8; round++) {
    /* 4 GiB a racer (hooked mappings are over-sized for alignment), the 8
     * of them one map chunk. */
    uintptr_t base = free_range(from, RACERS, (size_t)4 << 30);
    if (base == 0) skip();
    from = base + ((uintptr_t)32 << 30);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, RACERS);
    racer_t r[RACERS];
    pthread_t t[RACERS];
    for (int i = 0; i < RACERS; i++) {
      r[i] = (racer_t){&go, base + (uintptr_t)i * ((uintptr_t)4 << 30), NULL, blocks[i],
                       blocks[(i + 1) % RACERS], 0};
      r[i].heap = fixed_heap(&r[i].cursor);
      assert_non_null(r[i].heap);
    }
    for (int i = 0; i < RACERS; i++) assert_int_equal(pthread_create(&t[i], NULL, racer, &r[i]), 0);
    for (int i = 0; i < RACERS; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < RACERS; i++) {
      assert_int_equal(r[i].bad, 0);
      assert_true(blocks[i][0] != NULL && ((uintptr_t)blocks[i][0] >> 35) == (base >> 35));
      assert_int_equal(hkt_stats(r[i].heap).live_bytes, 0);
      hk_heap_destroy(r[i].heap);
    }
    /* The chunk stays, and says "nothing" where nothing is. */
    assert_null(hk_heap_of((void *)(base + ((uintptr_t)20 << 30))));
    assert_null(hk_heap_of(blocks[0][1]));
    pthread_barrier_destroy(&go);
  }
}

/* ---- a block of a destroyed LEAN heap ------------------------------------------
 * docs/reliability.md: "abort: free(): invalid pointer (its SuperSlab is
 * unmapped and out of the pointer map), unless the address range was mapped
 * again since". Nothing is allocated between destroy and free here. */
static void die_destroyed_lean(void) {
  hk_heap_config_t cfg;
  hk_heap_config_preset(&cfg, HK_PROFILE_LEAN);
  cfg.background_purge = 0; /* see plain_heap */
  hk_heap_t *h = hk_heap_create(&cfg);
  void *p = hk_heap_malloc(h, g_size);
  hk_heap_destroy(h);
  hk_free(p);
}

static void test_destroyed_lean_heap(void **state) {
  HKT_UNUSED(state);
  const size_t sizes[] = {64, 5000, 40000, 61440, 300000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    g_size = sizes[i];
    hkt_expect_abort(die_destroyed_lean, INVALID);
  }
}

/* ---- under address-space limits: child modes of this binary -------------------- */
enum { C_OK = 0, C_NOMEM = 10, C_CORRUPT = 11, C_STATS = 12, C_HEAP_OF = 13, C_NOT_FULL = 14,
       C_ZERO = 15, C_VSZ = 16 };
#define CHILD_FAIL(code, ...) \
  do { fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); return code; } while (0)

typedef struct { uint8_t *p; size_t size; uint64_t seed; hk_heap_t *heap; } slot_t;

/* No cmocka in the children: plain calls, failures become exit codes. */
static size_t live(const hk_heap_t *h) {
  hk_stats_t st;
  return hk_heap_stats(h, &st) == 0 ? st.live_bytes : SIZE_MAX;
}
static size_t vm_mib(void) {
  unsigned long pages = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f != NULL) {
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
  }
  return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE) >> 20;
}
/* The peak virtual size (VmPeak), in MiB. */
static size_t vm_peak_mib(void) {
  char line[128];
  size_t kb = 0;
  FILE *f = fopen("/proc/self/status", "r");
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmPeak: %zu kB", &kb) == 1) break;
  if (f != NULL) fclose(f);
  return kb >> 10;
}

static size_t rand_size(hkt_rng_t *r) {
  unsigned b = (unsigned)hkt_rng_range(r, 0, 15);
  return b < 8 ? hkt_rng_range(r, 1, 1024) : b < 12 ? hkt_rng_range(r, 1025, 8192)
       : b < 15 ? hkt_rng_range(r, 8193, 65536) : hkt_rng_range(r, 65537, 70000);
}

/* Random malloc/calloc/realloc/free over the default heap and a user heap. */
static int child_workload(int ops) {
  static slot_t s[1024];
  hk_heap_t *heaps[2] = {hk_heap_default(), hk_heap_create(NULL)};
  if (heaps[1] == NULL) CHILD_FAIL(C_NOMEM, "hk_heap_create failed");
  size_t start0 = live(heaps[0]);
  hkt_rng_t r;
  hkt_rng_seed(&r, 42);
  for (int op = 0; op < ops; op++) {
    slot_t *x = &s[hkt_rng_range(&r, 0, 1023)];
    unsigned what = (unsigned)hkt_rng_range(&r, 0, 3);
    if (x->p != NULL && !hkt_check(x->p, x->size, x->seed))
      CHILD_FAIL(C_CORRUPT, "op %d: block %p (%zu B) corrupt", op, (void *)x->p, x->size);
    if (x->p != NULL && what == 0) { /* realloc: keeps the prefix and the heap */
      size_t n = rand_size(&r);
      uint8_t *q = hk_realloc(x->p, n);
      if (q == NULL) CHILD_FAIL(C_NOMEM, "op %d: realloc(%zu) failed", op, n);
      if (!hkt_check(q, n < x->size ? n : x->size, x->seed))
        CHILD_FAIL(C_CORRUPT, "op %d: realloc lost data", op);
      x->p = q, x->size = n;
    } else if (x->p != NULL) {
      hk_free(x->p), x->p = NULL;
      continue;
    } else {
      x->size = rand_size(&r);
      x->heap = heaps[hkt_rng_range(&r, 0, 1)];
      x->p = what == 1 ? hk_heap_calloc(x->heap, 1, x->size) : hk_heap_malloc(x->heap, x->size);
      if (x->p == NULL) CHILD_FAIL(C_NOMEM, "op %d: alloc(%zu) failed", op, x->size);
      for (size_t i = 0; what == 1 && i < x->size; i++)
        if (x->p[i] != 0) CHILD_FAIL(C_ZERO, "op %d: calloc block not zeroed", op);
    }
    if (hk_heap_of(x->p) != x->heap) CHILD_FAIL(C_HEAP_OF, "op %d: hk_heap_of wrong", op);
    x->seed = hkt_addr_seed(x->p);
    hkt_fill(x->p, x->size, x->seed);
  }
  for (size_t i = 0; i < 1024; i++) {
    if (s[i].p != NULL && !hkt_check(s[i].p, s[i].size, s[i].seed))
      CHILD_FAIL(C_CORRUPT, "final check: block %p corrupt", (void *)s[i].p);
    hk_free(s[i].p);
  }
  if (live(heaps[0]) != start0 || live(heaps[1]) != 0)
    CHILD_FAIL(C_STATS, "live bytes not back to the start");
  /* Address space grows with use: the program, the map's top and chunks,
   * and what the heaps mapped (the goal is 2 x mapped + 1 GiB at most). */
  hk_stats_t a, b;
  hk_heap_stats(heaps[0], &a);
  hk_heap_stats(heaps[1], &b);
  size_t mapped_mib = (a.peak_mapped_bytes + b.peak_mapped_bytes) >> 20;
  if (vm_peak_mib() > 2 * mapped_mib + 1024)
    CHILD_FAIL(C_VSZ, "VmPeak %zu MiB, %zu MiB mapped", vm_peak_mib(), mapped_mib);
  hk_heap_destroy(heaps[1]);
  return C_OK;
}

/* Maps 625 SuperSlabs (1.2 GiB) under a limit that leaves little room. */
#define NFULL 20000 /* 61440-byte blocks, 32 per SuperSlab: 625 SuperSlabs */
#ifdef HK_TEST_CHECKED /* carving poisons whole blocks: 1.2 GiB resident per round */
#define FULL_ROUNDS 1
#else
#define FULL_ROUNDS 3
#endif
static int full_round(hk_heap_t *h, uint64_t seed) {
  static void *v[NFULL];
  hkt_rng_t r;
  hkt_rng_seed(&r, seed);
  size_t start = live(h);
  for (size_t i = 0; i < NFULL; i++) {
    uint8_t *p = v[i] = hk_heap_malloc(h, 60000);
    if (p == NULL) CHILD_FAIL(C_NOMEM, "block %zu: malloc failed (VM %zu MiB)", i, vm_mib());
    uint64_t m = hkt_mix64(hkt_addr_seed(p));
    p[m % 60000] = (uint8_t)(m >> 56); /* one page per block */
  }
  hk_stats_t st;
  if (hk_heap_stats(h, &st) != 0 || st.superslabs < 600)
    CHILD_FAIL(C_NOT_FULL, "only %zu SuperSlabs (VM %zu MiB)", st.superslabs, vm_mib());
  shuffle(v, NFULL, &r);
  for (size_t i = 0; i < NFULL; i++) {
    uint8_t *p = v[i];
    uint64_t m = hkt_mix64(hkt_addr_seed(p));
    if (p[m % 60000] != (uint8_t)(m >> 56)) CHILD_FAIL(C_CORRUPT, "block %p corrupt", v[i]);
    if (hk_heap_of(p) != h) CHILD_FAIL(C_HEAP_OF, "hk_heap_of(%p) wrong", v[i]);
    hk_free(p);
  }
  if (live(h) != start) CHILD_FAIL(C_STATS, "live bytes not back to the start");
  return C_OK;
}

static int child_full(void) {
  int rc = full_round(hk_heap_default(), 7);
  if (rc != C_OK || FULL_ROUNDS == 1) return rc;
  hk_trim(); /* the retained SuperSlabs would not fit the limit beside the next round */
  hk_heap_t *u = hk_heap_create(NULL);
  if (u == NULL) CHILD_FAIL(C_NOMEM, "hk_heap_create failed");
  if ((rc = full_round(u, 8)) != C_OK) return rc;
  hk_heap_destroy(u);
  return full_round(hk_heap_default(), 9);
}

static int child_main(const char *mode, const char *arg) {
  if (strcmp(mode, "workload") == 0) return child_workload(atoi(arg));
  if (strcmp(mode, "many") == 0) return child_full();
  if (strcmp(mode, "foreign") == 0) { /* aborts */
    g_heap = hk_heap_default(), g_size = 64, g_kind = atoi(arg), g_call = 0;
    die_foreign();
    return 1;
  }
  if (strcmp(mode, "quickstart") == 0) { /* a few blocks of every kind: little address space */
    void *p[4] = {hk_malloc(16), hk_malloc(5000), hk_malloc(40000), hk_malloc(300000)};
    hk_heap_t *h = hk_heap_create(NULL);
    void *q = hk_heap_malloc(h, 48);
    size_t vm = vm_peak_mib();
    for (int i = 0; i < 4; i++) hk_free(p[i]);
    hk_free(q);
    hk_heap_destroy(h);
    if (vm > 1024) CHILD_FAIL(C_VSZ, "VmPeak %zu MiB after a few blocks", vm);
    return C_OK;
  }
  return 2;
}

/* In a forked child: limit the address space (never above a limit already
 * set: CI runs the suite under ulimit -v too), then run this binary afresh
 * (hakmem initialises lazily, so it meets the limit on its first call). */
static size_t g_limit;
static const char *g_mode, *g_arg;
static void exec_child(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) != 0) _exit(4);
  if (g_limit != (size_t)RLIM_INFINITY && (rl.rlim_max == RLIM_INFINITY || g_limit < rl.rlim_max))
    rl.rlim_cur = rl.rlim_max = g_limit;
  if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(4);
  execl("/proc/self/exe", "test_map", "--child", g_mode, g_arg, (char *)NULL);
  _exit(5);
}

static void run_child(size_t limit, const char *mode, const char *arg) {
  g_limit = limit, g_mode = mode, g_arg = arg;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) exec_child();
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child %s %s under RLIMIT_AS %zu MiB: status %#x", mode, arg, limit >> 20, status);
}

/* The same code under a limit of 64 MiB as without one: the map takes
 * address space as it is used, nothing up front. */
static void test_small_address_space(void **state) {
  HKT_UNUSED(state);
  if (HKT_SANITIZER) skip();
  HKT_EMULATED_SKIP("qemu-user neither applies RLIMIT_AS nor execs the test again");
  run_child(64 * HKT_MIB, "workload", "100000");
  run_child((size_t)RLIM_INFINITY, "workload", "100000");
  run_child((size_t)RLIM_INFINITY, "quickstart", "-");
  run_child(48 * HKT_MIB, "quickstart", "-");
  g_limit = 64 * HKT_MIB, g_mode = "foreign";
  static const char *const which[] = {"0", "1", "2", "3", "4", "5", "6", "7"};
  for (int k = 0; k < F_KINDS; k++) {
    if (k == F_CHUNK_FAR) continue; /* needs the parent's far heap */
    g_arg = which[k];
    hkt_expect_abort(exec_child, INVALID);
  }
}

static void test_many_superslabs_under_limit(void **state) {
  HKT_UNUSED(state);
  struct rlimit rl;
  /* 1.2 GiB of blocks: not under a limit someone else set lower. */
  if (HKT_SANITIZER || getrlimit(RLIMIT_AS, &rl) != 0 ||
      (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 2048 * HKT_MIB))
    skip();
  HKT_EMULATED_SKIP("qemu-user neither applies RLIMIT_AS nor execs the test again");
  run_child(2048 * HKT_MIB, "many", "-");
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--child") == 0) return child_main(argv[2], argv[3]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_foreign_pointers),
      cmocka_unit_test(test_mid_blocks),
      cmocka_unit_test(test_mid_interior),
      cmocka_unit_test(test_destroyed_lean_heap),
      cmocka_unit_test(test_top_of_address_space),
      cmocka_unit_test(test_chunk_race),
      cmocka_unit_test(test_small_address_space),
      cmocka_unit_test(test_many_superslabs_under_limit),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
