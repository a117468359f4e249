/* libfloor_malloc.so: the cheapest possible allocator, as a floor for the
 * random_mixed lane (sizes <= 1039). LD_PRELOAD it; never use it for real.
 *
 * Every request up to FLOOR_BLOCK bytes (alignment <= 64) gets a fixed
 * 1088-byte block from a per-thread LIFO list; free pushes the block back on
 * the calling thread's list. Fresh blocks are bump-allocated from one huge
 * MAP_NORESERVE region, so "is this a small block" is a range check. Bigger
 * requests (the benchmark's slot array, stdio buffers) get their own mapping
 * with a 16-byte header. Nothing is ever returned to the OS. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define FLOOR_BLOCK 1088u                      /* 17 * 64: keeps 64-byte alignment */
#define FLOOR_REGION_MAX ((size_t)64 << 30)    /* address space, not memory */
#define FLOOR_REGION_MIN ((size_t)256 << 20)
#define FLOOR_CHUNK ((size_t)1 << 20)          /* per-thread bump refill */
#define FLOOR_API __attribute__((visibility("default")))

typedef struct large_hdr {
  void *base;
  size_t len;
} large_hdr_t;

static _Atomic(uintptr_t) g_base;
static size_t g_region; /* written before g_base is published */
static atomic_flag g_init_lock = ATOMIC_FLAG_INIT;
static _Atomic size_t g_used;

/* initial-exec: a preloaded library has static TLS, and the general model
 * would put a __tls_get_addr call on every malloc. */
#define FLOOR_TLS __thread __attribute__((tls_model("initial-exec")))
static FLOOR_TLS void *t_free_list;
static FLOOR_TLS char *t_bump;
static FLOOR_TLS char *t_bump_end;

static uintptr_t region_base(void) {
  uintptr_t b = atomic_load_explicit(&g_base, memory_order_acquire);
  if (b) return b;
  /* malloc can run before any constructor (the dynamic loader calls it), so
   * the region is set up lazily, under a spin lock taken once per thread at
   * most. */
  while (atomic_flag_test_and_set_explicit(&g_init_lock, memory_order_acquire)) {
  }
  b = atomic_load_explicit(&g_base, memory_order_relaxed);
  if (!b) {
    /* Valgrind (the callgrind lane) refuses huge reservations: shrink. */
    for (size_t len = FLOOR_REGION_MAX; len >= FLOOR_REGION_MIN; len /= 4) {
      void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m != MAP_FAILED) {
        g_region = len;
        b = (uintptr_t)m;
        atomic_store_explicit(&g_base, b, memory_order_release);
        break;
      }
    }
  }
  atomic_flag_clear_explicit(&g_init_lock, memory_order_release);
  return b;
}

/* g_region is 0 until the region exists, so the range test needs no
 * separate "initialised?" check (and catches NULL too). Relaxed loads: a
 * pointer into the region can only come from this thread or one that
 * synchronised with it through the program's own hand-off. */
static int is_small(const void *p) {
  uintptr_t b = atomic_load_explicit(&g_base, memory_order_relaxed);
  return (uintptr_t)p - b < g_region;
}

/* Out of line, so the fast paths below compile to a handful of
 * instructions with no stack frame: the floor must stay a floor. */
__attribute__((noinline)) static void *small_refill(void) {
  if (t_bump == t_bump_end) {
    uintptr_t b = region_base();
    if (!b) return NULL;
    size_t off = atomic_fetch_add_explicit(&g_used, FLOOR_CHUNK, memory_order_relaxed);
    if (off + FLOOR_CHUNK > g_region) return NULL;
    t_bump = (char *)(b + off);
    /* Whole blocks only: the chunk tail that does not fit is wasted. */
    t_bump_end = t_bump + (FLOOR_CHUNK / FLOOR_BLOCK) * FLOOR_BLOCK;
  }
  void *p = t_bump;
  t_bump += FLOOR_BLOCK;
  return p;
}

static void *large_alloc(size_t size, size_t align) {
  if (align < 16) align = 16;
  size_t len = size + align + sizeof(large_hdr_t);
  if (len < size) return NULL;
  char *m = (char *)mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == (char *)MAP_FAILED) return NULL;
  uintptr_t u = ((uintptr_t)m + sizeof(large_hdr_t) + align - 1) & ~(uintptr_t)(align - 1);
  large_hdr_t *h = (large_hdr_t *)u - 1;
  h->base = m;
  h->len = len;
  return (void *)u;
}

static size_t usable(const void *p) {
  if (is_small(p)) return FLOOR_BLOCK;
  const large_hdr_t *h = (const large_hdr_t *)p - 1;
  return h->len - (size_t)((const char *)p - (const char *)h->base);
}

__attribute__((noinline)) static void *floor_alloc_slow(size_t size, size_t align) {
  void *p = (size <= FLOOR_BLOCK && align <= 64) ? small_refill() : large_alloc(size, align);
  if (!p) errno = ENOMEM;
  return p;
}

static inline void *floor_alloc(size_t size, size_t align) {
  if (__builtin_expect(size <= FLOOR_BLOCK && align <= 64, 1)) {
    void *p = t_free_list;
    if (__builtin_expect(p != NULL, 1)) {
      t_free_list = *(void **)p;
      return p;
    }
  }
  return floor_alloc_slow(size, align);
}

FLOOR_API void *malloc(size_t size) { return floor_alloc(size, 16); }

__attribute__((noinline)) static void free_large(void *p) {
  if (!p) return;
  large_hdr_t *h = (large_hdr_t *)p - 1;
  munmap(h->base, h->len);
}

FLOOR_API void free(void *p) {
  if (__builtin_expect(is_small(p), 1)) {
    *(void **)p = t_free_list;
    t_free_list = p;
    return;
  }
  free_large(p);
}

FLOOR_API void *calloc(size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = malloc(n * size);
  if (p) memset(p, 0, n * size);
  return p;
}

FLOOR_API void *realloc(void *p, size_t size) {
  if (!p) return malloc(size);
  if (size == 0) {
    free(p);
    return NULL;
  }
  size_t have = usable(p);
  if (size <= have && (size > FLOOR_BLOCK || is_small(p))) return p;
  void *q = malloc(size);
  if (!q) return NULL;
  memcpy(q, p, have < size ? have : size);
  free(p);
  return q;
}

FLOOR_API void *reallocarray(void *p, size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, n * size);
}

FLOOR_API int posix_memalign(void **out, size_t align, size_t size) {
  if (align < sizeof(void *) || (align & (align - 1))) return EINVAL;
  void *p = floor_alloc(size, align);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

FLOOR_API void *aligned_alloc(size_t align, size_t size) {
  if (align == 0 || (align & (align - 1))) {
    errno = EINVAL;
    return NULL;
  }
  return floor_alloc(size, align);
}

FLOOR_API void *memalign(size_t align, size_t size) { return aligned_alloc(align, size); }
FLOOR_API void *valloc(size_t size) { return floor_alloc(size, 4096); }
FLOOR_API void *pvalloc(size_t size) { return floor_alloc((size + 4095) & ~(size_t)4095, 4096); }
FLOOR_API size_t malloc_usable_size(void *p) { return p ? usable(p) : 0; }
