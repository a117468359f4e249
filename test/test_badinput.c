/* One test per row of the bad-input table in docs/reliability.md. Rows whose
 * answer is an abort run in a forked child (hkt_expect_abort); rows whose
 * answer is an error value check the value, errno and that the heap still
 * works afterwards. */
#include "test_util.h"

#include <pthread.h>
#include <stdatomic.h>

/* ---- double free -------------------------------------------------------------- */
static void die_double_free_same_thread(void) {
  void *p = hk_malloc(64);
  hk_free(p);
  hk_free(p);
}

static void *free_in_thread(void *p) {
  hk_free(p);
  return NULL;
}
static void die_double_free_other_thread(void) {
  void *p = hk_malloc(200);
  hk_free(p);
  pthread_t t;
  pthread_create(&t, NULL, free_in_thread, p); /* the second free: remote */
  pthread_join(t, NULL);
}
/* The owner frees a block another thread already freed (waiting in the
 * slab's remote list): caught on that list. */
static void die_double_free_remote_then_owner(void) {
  void *p = hk_malloc(200);
  pthread_t t;
  pthread_create(&t, NULL, free_in_thread, p);
  pthread_join(t, NULL);
  hk_free(p);
}
/* A block boundary that was carved but never handed out is already free. */
static void die_free_carved_block(void) {
  hk_heap_t *h = hk_heap_create(NULL);
  char *p = hk_heap_malloc(h, 112);
  hk_free(p + 112); /* the next block of the fresh slab: on its free list */
}
static void die_double_free_large(void) {
  void *p = hk_malloc(HKT_MIB);
  hk_free(p);
  hk_free(p);
}

/* A thread that allocates a class and frees many of another thread's
 * blocks of it keeps them in its bin (tiny/bin.c); a block freed a second
 * time, while it waits there, is a double free whoever frees it again. */
#define BIN_N 64
static void *bin_victims[BIN_N];
static void *free_into_bin(void *twice) {
  void *own = hk_malloc(200); /* this thread allocates the class too */
  for (int i = 0; i < BIN_N; i++) hk_free(bin_victims[i]);
  if (twice) hk_free(bin_victims[BIN_N - 1]);
  hk_free(own);
  return NULL;
}
static void fill_victims(void) {
  for (int i = 0; i < BIN_N; i++) bin_victims[i] = hk_malloc(200);
}
static void die_double_free_in_bin(void) {
  fill_victims();
  pthread_t t;
  pthread_create(&t, NULL, free_into_bin, (void *)1);
  pthread_join(t, NULL);
}
static void die_double_free_bin_then_owner(void) {
  fill_victims();
  pthread_t t;
  pthread_create(&t, NULL, free_into_bin, NULL);
  pthread_join(t, NULL); /* its bins went home at exit: free lists now */
  hk_free(bin_victims[BIN_N / 2]);
}
static void *bin_then_wait(void *arg) {
  pthread_barrier_t *b = arg;
  void *own = hk_malloc(200);
  for (int i = 0; i < BIN_N; i++) hk_free(bin_victims[i]);
  pthread_barrier_wait(b); /* the blocks wait in this thread's bin */
  pthread_barrier_wait(b);
  hk_free(own);
  return NULL;
}
static void die_double_free_while_in_bin(void) {
  fill_victims();
  pthread_barrier_t b;
  pthread_barrier_init(&b, NULL, 2);
  pthread_t t;
  pthread_create(&t, NULL, bin_then_wait, &b);
  pthread_barrier_wait(&b);
  hk_free(bin_victims[BIN_N - 1]); /* the owner frees a block another thread's bin holds */
}

static void test_double_free(void **state) {
  HKT_UNUSED(state);
  hkt_expect_abort(die_double_free_in_bin, "hakmem: free(): double free of 0x");
  hkt_expect_abort(die_double_free_bin_then_owner, "hakmem: free(): double free of 0x");
  hkt_expect_abort(die_double_free_while_in_bin, "hakmem: free(): double free of 0x");
  hkt_expect_abort(die_double_free_same_thread, "hakmem: free(): double free of 0x");
  hkt_expect_abort(die_double_free_other_thread, "hakmem: free(): double free of 0x");
  hkt_expect_abort(die_double_free_remote_then_owner, "hakmem: free(): double free of 0x");
  hkt_expect_abort(die_free_carved_block, "hakmem: free(): double free of 0x");
  /* A large block goes to the default heap's region cache: the second free
   * finds it there, with the message of every other block kind. */
  hkt_expect_abort(die_double_free_large, "hakmem: free(): double free of 0x");
}

/* ---- pointers hakmem never returned ------------------------------------------------ */
static char g_global[128];
static void die_free_stack(void) {
  char on_stack[32];
  hk_free(on_stack);
}
static void die_free_global(void) { hk_free(g_global); }
static void die_free_libc_block(void) { hk_free(malloc(48)); } /* glibc's block */

static void test_foreign_pointer(void **state) {
  HKT_UNUSED(state);
  hkt_expect_abort(die_free_stack, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_free_global, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_free_libc_block, "hakmem: free(): invalid pointer 0x");
}

/* ---- interior pointers ----------------------------------------------------------------
 * Caught on every path: the owner's fast path tests the block boundary with
 * one multiply (Lemire's divisibility test), the others in the slow path. */
static void *free_interior_in_thread(void *p) {
  hk_free((char *)p + 16);
  return NULL;
}
static void die_interior_remote(void) {
  char *p = hk_malloc(96);
  pthread_t t;
  pthread_create(&t, NULL, free_interior_in_thread, p);
  pthread_join(t, NULL);
}
static void die_interior_large(void) {
  char *p = hk_malloc(300000);
  hk_free(p + 64);
}
static void die_interior_realloc(void) {
  char *p = hk_malloc(96);
  void *q = hk_realloc(p + 16, 200);
  HKT_UNUSED(q);
}
static void die_interior_owner(void) {
  char *p = hk_malloc(96);
  hk_free(p + 16);
}
static void die_interior_owner_pow2(void) {
  char *p = hk_malloc(256);
  hk_free(p + 128); /* a multiple of 16 and half the block size */
}
/* A block boundary of the slab past what has been carved: not a block yet. */
static void die_free_uncarved_block(void) {
  hk_heap_t *h = hk_heap_create(NULL);
  char *p = hk_heap_malloc(h, 112);
  hk_free(p + 112 * 500); /* a 64 KiB slab holds 585 such blocks; ~36 are carved */
}
/* The same from another thread: a remote free of it would list it twice
 * (the owner's carving lists it too), and realloc must not resize it. */
static void *free_uncarved_in_thread(void *p) {
  hk_free((char *)p + 112 * 500);
  return NULL;
}
static void die_free_uncarved_remote(void) {
  hk_heap_t *h = hk_heap_create(NULL);
  char *p = hk_heap_malloc(h, 112);
  pthread_t t;
  pthread_create(&t, NULL, free_uncarved_in_thread, p);
  pthread_join(t, NULL);
}
static void die_realloc_uncarved(void) {
  hk_heap_t *h = hk_heap_create(NULL);
  char *p = hk_heap_malloc(h, 112);
  void *q = hk_realloc(p + 112 * 500, 100);
  HKT_UNUSED(q);
}

static void test_interior_pointer(void **state) {
  HKT_UNUSED(state);
  hkt_expect_abort(die_interior_remote, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_interior_large, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_interior_realloc, "hakmem: realloc(): invalid pointer 0x");
  hkt_expect_abort(die_interior_owner, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_interior_owner_pow2, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_free_uncarved_block, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_free_uncarved_remote, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_realloc_uncarved, "hakmem: realloc(): invalid pointer 0x");
}

/* ---- realloc of a freed pointer ---------------------------------------------------------- */
static void die_realloc_freed_grow(void) {
  void *p = hk_malloc(64);
  hk_free(p);
  void *q = hk_realloc(p, 4000);
  HKT_UNUSED(q);
}
static void die_realloc_freed_in_place(void) {
  void *p = hk_malloc(64);
  hk_free(p);
  void *q = hk_realloc(p, 60); /* would fit in place: must still be refused */
  HKT_UNUSED(q);
}

static void test_realloc_freed(void **state) {
  HKT_UNUSED(state);
  hkt_expect_abort(die_realloc_freed_grow, "hakmem: realloc(): freed block 0x");
  hkt_expect_abort(die_realloc_freed_in_place, "hakmem: realloc(): freed block 0x");
}

/* ---- size overflows, SIZE_MAX, alignment ---------------------------------------------------- */
static void test_size_overflow(void **state) {
  HKT_UNUSED(state);
  /* volatile: the compiler would otherwise reject the sizes at compile time */
  volatile size_t max = SIZE_MAX, half = SIZE_MAX / 2;
  errno = 0;
  assert_null(hk_calloc(half, 3));
  assert_int_equal(errno, ENOMEM);
  errno = 0;
  assert_null(hk_malloc(max));
  assert_int_equal(errno, ENOMEM);
  errno = 0;
  assert_null(hk_malloc(max - 4096));
  assert_int_equal(errno, ENOMEM);
  void *p = hk_malloc(32);
  errno = 0;
  assert_null(hk_realloc(p, max));
  assert_int_equal(errno, ENOMEM);
  hk_free(p); /* untouched by the failed realloc */
  errno = 0;
  assert_null(hk_aligned_alloc(64, max - 10));
  assert_int_equal(errno, ENOMEM);
}

static void test_bad_alignment(void **state) {
  HKT_UNUSED(state);
  /* volatile: clang 14 at -O3 crashes (GVN) when a constant that is not a
   * power of two reaches an alloc_align argument after unrolling. */
  volatile size_t bad[] = {0, 3, 24, 48, 1000, (size_t)HK_MAX_ALIGN * 2, SIZE_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    assert_null(hk_aligned_alloc(bad[i], 64));
    assert_int_equal(errno, EINVAL);
    void *out = (void *)&errno; /* any sentinel */
    assert_int_equal(hk_posix_memalign(&out, bad[i], 64), EINVAL);
    assert_ptr_equal(out, (void *)&errno); /* *out untouched */
  }
  void *out = NULL;
  assert_int_equal(hk_posix_memalign(&out, 4, 64), EINVAL); /* < sizeof(void *) */
  assert_null(out);
}

/* ---- malloc(0) and realloc(p, 0) ------------------------------------------------------------ */
static void test_zero_sizes(void **state) {
  HKT_UNUSED(state);
  void *a = hk_malloc(0), *b = hk_malloc(0);
  assert_non_null(a);
  assert_non_null(b);
  assert_ptr_not_equal(a, b);
  hk_free(a);
  void *p = hk_malloc(100);
  assert_null(hk_realloc(p, 0)); /* frees p, as glibc does */
  hk_free(b);
  hk_stats_t st;
  assert_int_equal(hk_heap_stats(hk_heap_default(), &st), 0);
}

/* ---- destroyed heaps ---------------------------------------------------------------------------- */
static void die_free_after_destroy(void) {
  hk_heap_t *h = hk_heap_create(NULL);
  void *p = hk_heap_malloc(h, 64);
  hk_heap_destroy(h); /* arena semantics: p is gone with the heap */
  hk_free(p);
}
static void *free_after_destroy_thread(void *p) {
  hk_free(p);
  return NULL;
}
static void die_free_after_destroy_other_thread(void) {
  hk_heap_t *h = hk_heap_create(NULL);
  void *p = hk_heap_malloc(h, 5000);
  hk_heap_destroy(h);
  pthread_t t;
  pthread_create(&t, NULL, free_after_destroy_thread, p);
  pthread_join(t, NULL);
}

static void test_destroyed_heap_blocks(void **state) {
  HKT_UNUSED(state);
  hkt_expect_abort(die_free_after_destroy, "hakmem: free(): invalid pointer 0x");
  hkt_expect_abort(die_free_after_destroy_other_thread, "hakmem: free(): invalid pointer 0x");
  /* Destroy with live blocks, then the same amount again: nothing leaks. */
  hk_heap_t *h = hk_heap_create(NULL);
  for (int i = 0; i < 1000; i++) assert_non_null(hk_heap_malloc(h, 100 + (size_t)i));
  hk_heap_destroy(h);
  h = hk_heap_create(NULL);
  for (int i = 0; i < 1000; i++) assert_non_null(hk_heap_malloc(h, 100 + (size_t)i));
  hk_stats_t st;
  assert_int_equal(hk_heap_stats(h, &st), 0);
  assert_true(st.mapped_bytes <= 2 * HK_SUPERSLAB_SIZE);
  hk_heap_destroy(h);
}

/* ---- cross-heap and cross-thread frees ------------------------------------------------------------- */
typedef struct {
  void *blocks[256];
  size_t sizes[256];
} batch_t;

static void *check_and_free(void *arg) {
  batch_t *b = arg;
  for (int i = 0; i < 256; i++) {
    if (!hkt_check(b->blocks[i], b->sizes[i], hkt_addr_seed(b->blocks[i]))) return arg;
    hk_free(b->blocks[i]);
  }
  return NULL;
}

static void test_cross_heap_cross_thread(void **state) {
  HKT_UNUSED(state);
  hk_heap_t *h1 = hk_heap_create(NULL), *h2 = hk_heap_create(NULL);
  batch_t b;
  for (int i = 0; i < 256; i++) {
    hk_heap_t *h = i % 3 == 0 ? h1 : i % 3 == 1 ? h2 : hk_heap_default();
    b.sizes[i] = 16 + (size_t)i * 37;
    b.blocks[i] = hk_heap_malloc(h, b.sizes[i]);
    assert_ptr_equal(hk_heap_of(b.blocks[i]), h);
    hkt_fill(b.blocks[i], b.sizes[i], hkt_addr_seed(b.blocks[i]));
  }
  pthread_t t;
  void *bad = &b;
  assert_int_equal(pthread_create(&t, NULL, check_and_free, &b), 0);
  assert_int_equal(pthread_join(t, &bad), 0);
  assert_null(bad);
  hk_stats_t st;
  assert_int_equal(hk_heap_stats(h1, &st), 0);
  assert_int_equal(st.live_bytes, 0);
  hk_heap_destroy(h1);
  hk_heap_destroy(h2);
}

/* ---- fork while other threads allocate ------------------------------------------------------------- */
static atomic_int g_stop;
static void *churn(void *arg) {
  HKT_UNUSED(arg);
  while (!atomic_load(&g_stop)) {
    void *p[32];
    for (int i = 0; i < 32; i++) p[i] = hk_malloc(16 + (size_t)i * 100);
    for (int i = 0; i < 32; i++) hk_free(p[i]);
  }
  return NULL;
}

static void test_fork_while_allocating(void **state) {
  HKT_UNUSED(state);
  pthread_t th[2];
  atomic_store(&g_stop, 0);
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, churn, NULL), 0);
  for (int round = 0; round < HKT_SCALE(50); round++) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      for (int i = 0; i < 1000; i++) {
        void *p = hk_malloc((size_t)i * 7 + 1);
        if (p == NULL) _exit(2);
        hk_free(p);
      }
      _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(th[i], NULL), 0);
}

/* ---- thread exit with cached blocks ------------------------------------------------------------------ */
static void *cache_and_exit(void *arg) {
  hk_heap_t *h = arg;
  void *keep[64];
  for (int i = 0; i < 64; i++) keep[i] = hk_heap_malloc(h, 48); /* slabs owned by this thread */
  for (int i = 0; i < 63; i++) hk_free(keep[i]);
  return keep[63]; /* one block outlives the thread */
}

static void test_thread_exit_returns_cache(void **state) {
  HKT_UNUSED(state);
  hk_heap_config_t cfg;
  hk_heap_config_preset(&cfg, HK_PROFILE_LEAN);
  hk_heap_t *h = hk_heap_create(&cfg);
  assert_non_null(h);
  for (int round = 0; round < 20; round++) {
    pthread_t t;
    void *left = NULL;
    assert_int_equal(pthread_create(&t, NULL, cache_and_exit, h), 0);
    assert_int_equal(pthread_join(t, &left), 0);
    hk_free(left);
  }
  hk_stats_t st;
  assert_int_equal(hk_heap_stats(h, &st), 0);
  assert_int_equal(st.live_bytes, 0);
  hk_heap_trim(h);
  assert_int_equal(hk_heap_stats(h, &st), 0);
  assert_int_equal(st.superslabs - st.superslabs_empty, 0); /* no slab stuck with a dead thread */
  hk_heap_destroy(h);
}

/* ---- write after free ------------------------------------------------------------------------------------ */
#ifdef HK_TEST_CHECKED
static void die_write_after_free(void) {
  char *p = hk_malloc(64);
  hk_free(p);
  p[40] = 1;                /* past the link and key words: poisoned bytes */
  void *q = hk_malloc(64);  /* LIFO: the same block comes back, and is checked */
  HKT_UNUSED(q);
}
#endif

static void test_write_after_free(void **state) {
  HKT_UNUSED(state);
#ifdef HK_TEST_CHECKED
  hkt_expect_abort(die_write_after_free, "hakmem: malloc(): write after free to block 0x");
#else
  skip(); /* the default build does not poison free blocks (documented) */
#endif
}

/* ---- heap handles ------------------------------------------------------------------ */
#define INVALID_HEAP(call) "hakmem: " call "(): invalid heap 0x"
static void *volatile g_sink; /* keeps calls that must abort from being dropped */
static hk_heap_t *destroyed_heap(void) {
  hk_heap_t *h = hk_heap_create(NULL);
  void *p = hk_heap_malloc(h, 100); /* this thread's cache now holds h */
  (void)p;
  hk_heap_destroy(h);
  return h;
}
static void die_double_destroy(void) { hk_heap_destroy(destroyed_heap()); }
/* A handle whose heap's slot went to a new heap: the old handle names
 * nothing; the new heap is untouched. */
static void die_stale_destroy_after_reuse(void) {
  hk_heap_t *a = destroyed_heap();
  hk_heap_t *b = hk_heap_create(NULL);
  char *p = hk_heap_malloc(b, 64);
  if (a == b || p == NULL) _exit(3);
  hk_heap_destroy(a);
}
static void die_malloc_destroyed(void) { g_sink = hk_heap_malloc(destroyed_heap(), 32); }
static void die_calloc_destroyed(void) { g_sink = hk_heap_calloc(destroyed_heap(), 2, 32); }
static void die_realloc_destroyed(void) { g_sink = hk_heap_realloc(destroyed_heap(), NULL, 32); }
static void die_aligned_destroyed(void) { g_sink = hk_heap_aligned_alloc(destroyed_heap(), 64, 32); }
static void die_trim_destroyed(void) { (void)hk_heap_trim(destroyed_heap()); }
static void die_destroy_default(void) { hk_heap_destroy(hk_heap_default()); }
static int not_a_heap;
static void die_malloc_never_a_heap(void) { g_sink = hk_heap_malloc((hk_heap_t *)(void *)&not_a_heap, 32); }
static void die_malloc_wild_handle(void) { g_sink = hk_heap_malloc((hk_heap_t *)(uintptr_t)0x1230, 32); }
static void die_destroy_never_a_heap(void) { hk_heap_destroy((hk_heap_t *)(void *)&not_a_heap); }
/* Another thread used the heap last: its cache must not hand it out. */
static void *malloc_in(void *h) { return hk_heap_malloc(h, 48); }
static void die_malloc_destroyed_other_thread(void) {
  hk_heap_t *h = hk_heap_create(NULL);
  pthread_t t;
  pthread_create(&t, NULL, malloc_in, h);
  pthread_join(t, NULL);
  hk_heap_destroy(h);
  pthread_create(&t, NULL, malloc_in, h); /* aborts in that thread */
  pthread_join(t, NULL);
}

static void test_bad_heap_handle(void **state) {
  HKT_UNUSED(state);
  hkt_expect_abort(die_double_destroy, INVALID_HEAP("heap_destroy"));
  hkt_expect_abort(die_stale_destroy_after_reuse, INVALID_HEAP("heap_destroy"));
  hkt_expect_abort(die_malloc_destroyed, INVALID_HEAP("heap_malloc"));
  hkt_expect_abort(die_calloc_destroyed, INVALID_HEAP("heap_calloc"));
  hkt_expect_abort(die_realloc_destroyed, INVALID_HEAP("heap_realloc"));
  hkt_expect_abort(die_aligned_destroyed, INVALID_HEAP("heap_aligned_alloc"));
  hkt_expect_abort(die_trim_destroyed, INVALID_HEAP("heap_trim"));
  hkt_expect_abort(die_destroy_default, INVALID_HEAP("heap_destroy"));
  hkt_expect_abort(die_malloc_never_a_heap, INVALID_HEAP("heap_malloc"));
  hkt_expect_abort(die_malloc_wild_handle, INVALID_HEAP("heap_malloc"));
  hkt_expect_abort(die_destroy_never_a_heap, INVALID_HEAP("heap_destroy"));
  hkt_expect_abort(die_malloc_destroyed_other_thread, INVALID_HEAP("heap_malloc"));
  /* Where a return is possible, EINVAL, and nothing is written. */
  hk_heap_t *gone = destroyed_heap();
  hk_stats_t st;
  memset(&st, 0x55, sizeof st);
  assert_int_equal(hk_heap_stats(gone, &st), EINVAL);
  assert_int_equal(st.live_bytes, (size_t)0x5555555555555555ULL);
  assert_int_equal(hk_heap_stats((hk_heap_t *)(void *)&not_a_heap, &st), EINVAL);
  assert_int_equal(hk_heap_stats_print(gone, stdout), EINVAL);
  assert_int_equal(hk_heap_stats_print_json(gone, stdout), EINVAL);
  /* A new heap does not answer to the old handle, and works. */
  hk_heap_t *fresh = hk_heap_create(NULL);
  assert_true(fresh != gone);
  void *p = hk_heap_malloc(fresh, 64);
  assert_ptr_equal(hk_heap_of(p), fresh);
  hk_free(p);
  hk_heap_destroy(fresh);
}

/* NULL for a heap is the default heap; hk_heap_destroy(NULL) does nothing;
 * a NULL config is the defaults, for hk_heap_config_check as for create. */
static void test_null_heap(void **state) {
  HKT_UNUSED(state);
  void *p = hk_heap_malloc(NULL, 40);
  assert_ptr_equal(hk_heap_of(p), hk_heap_default());
  void *q = hk_heap_calloc(NULL, 4, 10);
  assert_ptr_equal(hk_heap_of(q), hk_heap_default());
  q = hk_heap_realloc(NULL, q, 200);
  assert_ptr_equal(hk_heap_of(q), hk_heap_default());
  void *r = hk_heap_aligned_alloc(NULL, 256, 100);
  assert_ptr_equal(hk_heap_of(r), hk_heap_default());
  hk_free(p);
  hk_free(q);
  hk_free(r);
  hk_stats_t a, b;
  assert_int_equal(hk_heap_stats(NULL, &a), 0);
  assert_int_equal(hk_heap_stats(hk_heap_default(), &b), 0);
  assert_int_equal(a.mapped_bytes, b.mapped_bytes);
  (void)hk_heap_trim(NULL);
  hk_heap_destroy(NULL);
  assert_null(hk_heap_config_check(NULL));
  hk_heap_t *h = hk_heap_create(NULL);
  assert_non_null(h);
  hk_heap_destroy(h);
}

/* An older caller's shorter hk_stats_t gets just its prefix. */
static void test_stats_older_struct(void **state) {
  HKT_UNUSED(state);
  union {
    hk_stats_t st;
    unsigned char bytes[sizeof(hk_stats_t)];
  } u;
  memset(&u, 0xAB, sizeof u);
  size_t prefix = offsetof(hk_stats_t, remote_frees);
  assert_int_equal(hk_heap_stats_sized(NULL, &u.st, prefix), 0);
  assert_int_equal(u.st.struct_size, prefix);
  assert_int_equal(u.st.version, HK_STATS_VERSION);
  for (size_t i = prefix; i < sizeof u; i++) assert_int_equal(u.bytes[i], 0xAB);
  assert_int_equal(hk_heap_stats_sized(NULL, &u.st, 4), EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_double_free),
      cmocka_unit_test(test_bad_heap_handle),
      cmocka_unit_test(test_null_heap),
      cmocka_unit_test(test_stats_older_struct),
      cmocka_unit_test(test_foreign_pointer),
      cmocka_unit_test(test_interior_pointer),
      cmocka_unit_test(test_realloc_freed),
      cmocka_unit_test(test_size_overflow),
      cmocka_unit_test(test_bad_alignment),
      cmocka_unit_test(test_zero_sizes),
      cmocka_unit_test(test_destroyed_heap_blocks),
      cmocka_unit_test(test_cross_heap_cross_thread),
      cmocka_unit_test(test_fork_while_allocating),
      cmocka_unit_test(test_thread_exit_returns_cache),
      cmocka_unit_test(test_write_after_free),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
