/* The public allocation API. Each entry is the inline fast path from
 * heap/alloc_inline.h plus the argument checks C and POSIX ask for. */
#include "heap/alloc_inline.h"

#include <errno.h>
#include <string.h>

/* ---- default heap ------------------------------------------------------------ */
void *hk_malloc(size_t size) { return hk__malloc_default(size); }

void hk_free(void *p) { hk__free_fast(p, "free"); }

static bool pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

static void *calloc_in(hk__heap_t *heap, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  if (total > HK_MID_MAX) return hk__alloc_large(heap, total, 0, true);
  hk__front_t *f = hk__front_of(heap);
  if (f == NULL) return NULL;
  void *p = hk__malloc_in(f, heap, total);
  if (p != NULL) memset(p, 0, total);
  return p;
}

void *hk_calloc(size_t n, size_t size) { return calloc_in(&hk__heap_main, n, size); }

size_t hk_usable_size(const void *p) {
  if (p == NULL) return 0;
  hk__slab_t *s;
  return hk__block_usable(p, "usable_size", &s, HK_MSG_FREED);
}

void hk_free_sized(void *p, size_t size) { hk__free_any(p, size, true, "free_sized"); }

void hk_free_aligned_sized(void *p, size_t alignment, size_t size) {
  if (p != NULL && (!pow2(alignment) || alignment > HK_MAX_ALIGN))
    hk__fatal_invalid("free_aligned_sized", p, HK_MSG_SIZE);
  hk__free_sized_slow(p, size, alignment < HK_MIN_ALIGN ? HK_MIN_ALIGN : alignment,
                      "free_aligned_sized");
}

size_t hk_good_size(size_t size) {
  if (size <= HK_MID_MAX) return hk__class_size[hk__size_class(size == 0 ? 1 : size)];
  if (size > (size_t)PTRDIFF_MAX) return 0;
  /* What a mapping of its own gives: the least a large block gets (one in
   * a large area gets whole granules, more). */
  return hk__os_page_up(HK_LARGE_OFFSET + size) - HK_LARGE_OFFSET;
}

static void *realloc_in(hk__heap_t *heap, void *p, size_t size) {
  if (p == NULL) {
    hk__front_t *f = hk__front_of(heap);
    return f != NULL ? hk__malloc_in(f, heap, size) : NULL;
  }
  hk__slab_t *s;
  size_t usable = hk__block_usable(p, "realloc", &s, HK_MSG_FREED);
  if (size == 0) { /* glibc: free and return NULL */
    hk__free_fast(p, "realloc");
    return NULL;
  }
  /* In place while it fits and does not waste more than half the block. */
  if (size <= usable && (size > usable / 2 || usable <= 128)) return p;
  hk__ss_t *ss = s->ss;
  if ((s->flags & HK_SLAB_LARGE_BLOCK) && size > HK_MID_MAX) {
    void *q = hk__large_resize(ss, size);
    if (q != NULL) return q;
  }
  hk__heap_t *owner = ss->pool->owner_heap;
  hk__front_t *f = hk__front_of(owner);
  void *q = f != NULL ? hk__malloc_in(f, owner, size) : NULL;
  if (q == NULL) return NULL; /* p untouched */
  memcpy(q, p, size < usable ? size : usable);
  hk__free_fast(p, "realloc");
  return q;
}

void *hk_realloc(void *p, size_t size) { return realloc_in(&hk__heap_main, p, size); }

static void *aligned_in(hk__heap_t *heap, size_t align, size_t size) {
  if (!pow2(align) || align > HK_MAX_ALIGN) {
    errno = EINVAL;
    return NULL;
  }
  hk__front_t *f = hk__front_of(heap);
  if (f == NULL) return NULL;
  if (align <= HK_MIN_ALIGN) return hk__malloc_in(f, heap, size);
  if (align <= HK_PAGE && size <= HK_MID_MAX) {
    unsigned cls = hk__class_for_aligned(size, align);
    if (cls < HK_NUM_CLASSES) return hk__malloc_cls(f, cls);
  }
  return hk__alloc_large(heap, size, align, false);
}

void *hk_aligned_alloc(size_t alignment, size_t size) {
  return aligned_in(&hk__heap_main, alignment, size);
}

int hk_posix_memalign(void **out, size_t alignment, size_t size) {
  if (out == NULL || !pow2(alignment) || alignment % sizeof(void *) != 0 ||
      alignment > HK_MAX_ALIGN)
    return EINVAL;
  int saved = errno;
  void *p = aligned_in(&hk__heap_main, alignment, size);
  if (p == NULL) {
    int err = errno == EINVAL ? EINVAL : ENOMEM;
    errno = saved;
    return err;
  }
  *out = p;
  return 0;
}

/* ---- explicit heaps ------------------------------------------------------------- */
/* NULL means the default heap; any other handle is not the thread's last:
 * it is resolved (an invalid one aborts) and its front looked up. */
static hk_noinline void *heap_malloc_miss(hk_heap_t *handle, size_t size) {
  if (handle == NULL) return hk__malloc_default(size);
  hk__heap_t *heap = hk__heap_resolve(handle, "heap_malloc");
  hk__front_t *f = hk__front_lookup(heap);
  return f != NULL ? hk__malloc_in(f, heap, size) : NULL;
}

/* The default heap's front is embedded in the thread record, so it is
 * tested first, against the front's own handle field (no address to form):
 * going through the cache would add a dependent load (last_front) to every
 * allocation, which measured 3-6% slower. A thread still on
 * hk__thread_empty has main.handle NULL, so the default heap misses there
 * and hk_heap_malloc(NULL, n) allocates from the empty front, whose slow
 * path sets the thread up: both right. A user heap then hits the one-entry
 * cache of handles, which never holds a destroyed heap's. Every path ends
 * in a tail call. */
void *hk_heap_malloc(hk_heap_t *heap, size_t size) {
  hk__thread_t *t = hk__tls;
  if (heap == t->main.handle) return hk__malloc_in(&t->main, &hk__heap_main, size);
  if (hk_likely(atomic_load_explicit(&t->last_heap, memory_order_relaxed) == heap))
    return hk__malloc_in(t->last_front, t->last_front->heap, size);
  return heap_malloc_miss(heap, size);
}

void *hk_heap_calloc(hk_heap_t *heap, size_t n, size_t size) {
  return calloc_in(hk__heap_resolve(heap, "heap_calloc"), n, size);
}

void *hk_heap_realloc(hk_heap_t *heap, void *p, size_t size) {
  return realloc_in(hk__heap_resolve(heap, "heap_realloc"), p, size);
}

void *hk_heap_aligned_alloc(hk_heap_t *heap, size_t alignment, size_t size) {
  return aligned_in(hk__heap_resolve(heap, "heap_aligned_alloc"), alignment, size);
}
