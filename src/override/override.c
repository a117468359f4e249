/* libhakmem_malloc.so: the C malloc family on top of the hakmem default heap.
 *
 * malloc and free inline the core's fast paths (heap/alloc_inline.h); the
 * other functions are thin shims over hk_ entry points. The library is linked
 * with -Bsymbolic-functions, so those reach the core by a direct jump inside
 * this object (no PLT) even though the hk_ names are exported too; and
 * since the hk_ symbols are exported from the same object, a program that
 * calls hk_malloc/hk_free directly shares the one allocator with malloc.
 *
 * Nothing here may allocate or call dlsym: these functions can run before
 * libc has finished initialising (ld.so and libc call malloc during start-up)
 * and inside fork handlers. Lazy initialisation, fork safety and thread exit
 * are the core's job.
 *
 * Compiled with -fno-builtin: the compiler must not treat the definitions
 * below as the builtins they implement (it could, for instance, turn an
 * allocate-then-clear sequence into a call to calloc, i.e. into recursion).
 */
#define _GNU_SOURCE
#include <hakmem/hakmem.h>

#include "heap/alloc_inline.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define OVR_API __attribute__((visibility("default")))

/* Not declared by glibc's headers (cfree left them in 2.26; the __libc_
 * names are exported by glibc but never declared). */
void cfree(void *p);
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);
void *__libc_memalign(size_t alignment, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);

/* sysconf does not allocate; the value is cached because valloc/pvalloc may
 * be hot in some programs. A racing first call stores the same value twice. */
static size_t page_size(void) {
  static _Atomic size_t cached;
  size_t ps = atomic_load_explicit(&cached, memory_order_relaxed);
  if (__builtin_expect(ps == 0, 0)) {
    long v = sysconf(_SC_PAGESIZE);
    ps = v > 0 ? (size_t)v : 4096u;
    atomic_store_explicit(&cached, ps, memory_order_relaxed);
  }
  return ps;
}

/* glibc memalign rules: alignments up to the natural one are plain malloc,
 * other non-powers of two are rounded up to the next power of two. Beyond
 * HK_MAX_ALIGN hakmem cannot help: hk_aligned_alloc reports EINVAL. */
static void *ovr_memalign(size_t alignment, size_t size) {
  if (alignment <= HK_MIN_ALIGN) return hk_malloc(size);
  if ((alignment & (alignment - 1)) != 0) {
    if (alignment > HK_MAX_ALIGN) {
      errno = EINVAL;
      return NULL;
    }
    alignment = (size_t)1 << (64 - __builtin_clzll((unsigned long long)alignment));
  }
  return hk_aligned_alloc(alignment, size);
}

/* pvalloc(0) gets one page (a whole-page block is what pvalloc promises). */
static void *ovr_pvalloc(size_t size) {
  size_t ps = page_size();
  size_t rounded;
  if (__builtin_add_overflow(size, ps - 1, &rounded)) {
    errno = ENOMEM;
    return NULL;
  }
  rounded &= ~(ps - 1);
  return ovr_memalign(ps, rounded == 0 ? ps : rounded);
}

/* ---- the malloc family ---------------------------------------------------- */

/* malloc and free carry the core's inline fast paths themselves: no call,
 * not even a jump, between the program and the thread's front.
 *
 * malloc of a small size reads the slab to pop from out of ovr_direct, a
 * thread-local copy of the main front's direct table (hk__front_mirror):
 * indexed off the thread pointer, it saves the load of the thread record.
 * That is the one place the override reaches into a front, and it is
 * measured to be worth it: random_mixed (2000000 400 1, preloaded) runs
 * 51.76 instructions per op with the copy and 52.24 through
 * hk__malloc_default, and 11 paired runs of 20M ops gave a median time
 * ratio of 0.977 (0.94 to 1.02). The cost is the copy's upkeep: the front
 * writes both tables when a class's head slab changes (tiny/front.c,
 * set_pop). 8 KiB of static TLS is fine here: this library is loaded at
 * start-up, never dlopen()ed (docs/override.md). A thread starts with
 * every entry on the empty slab, so its first mallocs miss and
 * ovr_malloc_slow attaches the table once the thread is set up; at thread
 * exit the flush of its front empties the table again. */
#define OVR_EMPTY ((hk__slab_t *)&hk__slab_empty)
static __thread hk__slab_t *ovr_direct[HK_SMALL_MAX + 1] __attribute__((tls_model("initial-exec"))) =
    {[0 ... HK_SMALL_MAX] = OVR_EMPTY};

static hk_noinline void *ovr_malloc_slow(size_t size) {
  void *p = hk__malloc_default(size);
  hk__thread_t *t = hk__tls;
  if (t->live && t->main.mirror != ovr_direct) hk__front_mirror(&t->main, ovr_direct);
  return p;
}

OVR_API void *malloc(size_t size) {
  if (hk_likely(size <= HK_SMALL_MAX)) {
    hk__block_t *b = hk__slab_pop(ovr_direct[size]);
    if (hk_likely(b != NULL)) return b;
    return ovr_malloc_slow(size);
  }
  return hk__malloc_default(size);
}

OVR_API void free(void *p) { hk__free_fast(p, "free"); }

OVR_API void *calloc(size_t n, size_t size) { return hk_calloc(n, size); }

/* realloc(p, 0) frees p and returns NULL, as glibc does (see docs). */
OVR_API void *realloc(void *p, size_t size) { return hk_realloc(p, size); }

OVR_API void *reallocarray(void *p, size_t n, size_t size) {
  size_t bytes;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return NULL;
  }
  return hk_realloc(p, bytes);
}

OVR_API int posix_memalign(void **memptr, size_t alignment, size_t size) {
  return hk_posix_memalign(memptr, alignment, size);
}

OVR_API void *aligned_alloc(size_t alignment, size_t size) {
  return hk_aligned_alloc(alignment, size);
}

OVR_API void *memalign(size_t alignment, size_t size) {
  return ovr_memalign(alignment, size);
}

OVR_API void *valloc(size_t size) { return ovr_memalign(page_size(), size); }

OVR_API void *pvalloc(size_t size) { return ovr_pvalloc(size); }

OVR_API size_t malloc_usable_size(void *p) { return hk_usable_size(p); }

/* Left to glibc this would trim glibc's (unused) arena and return 0. */
OVR_API int malloc_trim(size_t pad) {
  (void)pad;
  return hk_trim() > 0 ? 1 : 0;
}

/* Old binaries still bind cfree@GLIBC_2.2.5; an unversioned definition
 * satisfies that reference. */
OVR_API void cfree(void *p) { hk_free(p); }

/* Some programs and libraries call glibc's internal entry points to bypass an
 * interposed malloc, then release the block with plain free(). Routing the
 * __libc_ names here too keeps every block in one allocator. */
OVR_API void *__libc_malloc(size_t size) { return hk_malloc(size); }
OVR_API void *__libc_calloc(size_t n, size_t size) { return hk_calloc(n, size); }
OVR_API void *__libc_realloc(void *p, size_t size) { return hk_realloc(p, size); }
OVR_API void __libc_free(void *p) { hk_free(p); }
OVR_API void *__libc_memalign(size_t alignment, size_t size) {
  return ovr_memalign(alignment, size);
}
OVR_API void *__libc_valloc(size_t size) { return ovr_memalign(page_size(), size); }
OVR_API void *__libc_pvalloc(size_t size) { return ovr_pvalloc(size); }
