/* The arena (src/superslab/arena.c) and the granule map (gmap.c),
 * black-box through the public API.
 *
 * SMALL and MID SuperSlabs of heaps without OS hooks are cut from one
 * address-space reservation whose slab records sit in a flat META array;
 * SuperSlabs outside the arena (OS hooks, LARGE, arena full or unavailable)
 * keep their records in their header. free() finds either through the
 * granule map, an entry per 64 KiB (all eight granules of a 512 KiB MID
 * slab name its record), or, without the map (a small RLIMIT_AS), through
 * the slow path. All must behave the same, and bad frees must abort with
 * the documented message (docs/reliability.md) on every path. Covered here:
 *   - MID blocks whose start is in granules 1..7 of their slab: alloc,
 *     verify, free (owner and remote) on the default, a user and a hooked
 *     heap; an interior pointer there is refused;
 *   - foreign pointers inside the arena's range (never-used slots) and into
 *     a SuperSlab header are refused with "invalid pointer";
 *   - a stale block of a destroyed LEAN heap (slot back in the arena);
 *   - no arena (RLIMIT_AS 512 MiB) and a full arena (RLIMIT_AS 12 GiB: the
 *     arena takes at most an eighth of the limit, so 1 GiB = 512 slots),
 *     both without the granule map (it needs a limit of 128 GiB), in
 *     a re-executed copy of this binary, so
 *     hakmem starts fresh under the limit whatever ran before (skipped
 *     under sanitizers: their shadow mappings do not fit an RLIMIT_AS).
 */
#include "test_util.h"

#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>

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

/* ---- a heap with OS hooks: its SuperSlabs are never in the arena ---------- */
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
static const hk_os_hooks_t g_hooks = {hook_map, hook_unmap, hook_advise, NULL};

static hk_heap_t *hooked_heap(void) {
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.os_hooks = &g_hooks;
  return hk_heap_create(&cfg);
}

static void shuffle(void **v, size_t n, hkt_rng_t *r) {
  for (size_t i = n; i > 1; i--) {
    size_t j = hkt_rng_range(r, 0, i - 1);
    void *t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

/* ---- 1. MID blocks --------------------------------------------------------- */
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
  hk_heap_t *u = hk_heap_create(NULL), *k = hooked_heap();
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
  hk_heap_t *heaps[3] = {hk_heap_default(), hk_heap_create(NULL), hooked_heap()};
  for (int i = 0; i < 3; i++) {
    g_heap = heaps[i];
    hkt_expect_abort(die_mid_interior, INVALID);
    hkt_expect_abort(die_mid_interior_remote, INVALID);
  }
  hk_heap_destroy(heaps[1]);
  hk_heap_destroy(heaps[2]);
}

/* ---- 2. foreign pointers inside the arena's range ---------------------------- */
static uintptr_t g_off; /* 0: the SuperSlab header of the block, else an offset */
static size_t g_size;
static void die_foreign(void) {
  uintptr_t b = (uintptr_t)hk_heap_malloc(g_heap, g_size);
  uintptr_t q = g_off ? b + g_off : (b & ~SEG_MASK) + 64;
  /* hakmem never returned q (no SuperSlab there, or its header): whatever is
   * there, the answer is the invalid-pointer abort. */
  if (g_off && hk_heap_of((void *)q) != NULL) { /* a live SuperSlab there: bad test */
    fprintf(stderr, "%p is in a live SuperSlab\n", (void *)q);
    _exit(3);
  }
  hk_free((void *)q);
}

static void test_foreign_in_arena(void **state) {
  HKT_UNUSED(state);
  const uintptr_t offs[] = {16 * HKT_MIB, 64 * HKT_MIB, 1024 * HKT_MIB, 0};
  hk_heap_t *heaps[3] = {hk_heap_default(), hk_heap_create(NULL), hooked_heap()};
  const size_t sizes[] = {64, 40000};
  for (int h = 0; h < 3; h++) {
    g_heap = heaps[h];
    for (int s = 0; s < 2; s++) {
      g_size = sizes[s];
      for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        g_off = offs[i];
        hkt_expect_abort(die_foreign, INVALID);
      }
    }
  }
  g_heap = hk_heap_default(), g_size = 300000, g_off = 0; /* a LARGE block's header */
  hkt_expect_abort(die_foreign, INVALID);
  hk_heap_destroy(heaps[1]);
  hk_heap_destroy(heaps[2]);
}

/* ---- 3. a block of a destroyed LEAN heap ------------------------------------------
 * docs/reliability.md: "abort: free(): invalid pointer (its SuperSlab is
 * unmapped and out of the segment map), unless the address range was mapped
 * again since". Nothing is allocated between destroy and free here. */
static void die_destroyed_lean(void) {
  hk_heap_config_t cfg;
  hk_heap_config_preset(&cfg, HK_PROFILE_LEAN);
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

/* ---- 4. no arena / full arena: child modes of this binary ------------------------- */
enum { C_OK = 0, C_NOMEM = 10, C_CORRUPT = 11, C_STATS = 12, C_HEAP_OF = 13, C_NOT_FULL = 14,
       C_ZERO = 15 };
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
  hk_heap_destroy(heaps[1]);
  return C_OK;
}

/* Fills the arena (<= 512 slots under the limit) and maps SuperSlabs past it. */
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
  if (hk_heap_stats(h, &st) != 0 || st.superslabs <= 512) /* then some are outside the arena */
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
  if (strcmp(mode, "full") == 0) return child_full();
  if (strcmp(mode, "foreign") == 0) { /* aborts */
    static const uintptr_t offs[] = {16 * HKT_MIB, 64 * HKT_MIB, 1024 * HKT_MIB, 0};
    g_heap = hk_heap_default(), g_size = 64, g_off = offs[atoi(arg) & 3];
    die_foreign();
    return 1;
  }
  return 2;
}

/* In a forked child: limit the address space, then run this binary afresh
 * (hakmem initialises lazily, so it meets the limit on its first call). */
static size_t g_limit;
static const char *g_mode, *g_arg;
static void exec_child(void) {
  struct rlimit rl = {g_limit, g_limit};
  if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(4);
  execl("/proc/self/exe", "test_arena", "--child", g_mode, g_arg, (char *)NULL);
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

static void test_no_arena(void **state) {
  HKT_UNUSED(state);
  if (HKT_SANITIZER) skip();
  run_child(512 * HKT_MIB, "workload", "100000");
  /* Without the arena the segment map alone turns foreign pointers away. */
  g_limit = 512 * HKT_MIB, g_mode = "foreign";
  const char *which[] = {"0", "1", "2", "3"}; /* +16 MiB, +64 MiB, +1 GiB, header */
  for (int i = 0; i < 4; i++) g_arg = which[i], hkt_expect_abort(exec_child, INVALID);
}

static void test_arena_full(void **state) {
  HKT_UNUSED(state);
  if (HKT_SANITIZER) skip();
  run_child(12288 * HKT_MIB, "full", "");
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--child") == 0) return child_main(argv[2], argv[3]);
  /* The foreign-pointer test first: the fewer SuperSlabs exist, the surer
   * its offsets land in never-used arena slots. */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_foreign_in_arena),  cmocka_unit_test(test_mid_blocks),
      cmocka_unit_test(test_mid_interior),      cmocka_unit_test(test_destroyed_lean_heap),
      cmocka_unit_test(test_no_arena),          cmocka_unit_test(test_arena_full),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
