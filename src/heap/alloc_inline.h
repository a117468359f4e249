/* Allocation entry points shared by the API (heap/api.c) and the malloc
 * override: size -> class -> front pop, all inline. */
#ifndef HK_ALLOC_INLINE_H
#define HK_ALLOC_INLINE_H

#include "internal.h"
#include "tiny/front_inline.h"


/* The calling thread's front for heap (the default heap's may still be the
 * empty one: its slow path initialises the thread). NULL: out of memory. */
hk_inline hk__front_t *hk__front_of(hk__heap_t *heap) {
  hk__thread_t *t = hk__tls;
  if (heap == &hk__heap_main) return &t->main;
  if (hk_likely(atomic_load_explicit(&t->last_heap, memory_order_relaxed) == heap->handle))
    return t->last_front;
  return hk__front_lookup(heap);
}

/* A block of class cls: a pop from the front, else the slow path, which
 * sets the thread up on its first allocation (heap/init.c). */
hk_inline void *hk__malloc_cls(hk__front_t *f, unsigned cls) {
  hk__block_t *b = hk__slab_pop(f->cur[cls]);
  if (hk_likely(b != NULL)) return b;
  return hk__malloc_slow(f, cls);
}

/* A small size indexes the class's slab (or bin) directly: the class is
 * looked up only on the slow path. */
hk_inline void *hk__malloc_in(hk__front_t *f, hk__heap_t *heap, size_t size) {
  if (hk_likely(size <= HK_SMALL_MAX)) {
    hk__block_t *b = hk__slab_pop(f->direct[size]);
    if (hk_likely(b != NULL)) return b;
    return hk__malloc_slow(f, hk__small_class[(size + 15) >> 4]);
  }
  if (size <= HK_MID_MAX) return hk__malloc_cls(f, hk__mid_class(size));
  return hk__malloc_large(f, heap, size);
}

/* hk_malloc: the default heap's front is embedded in the thread record. */
hk_inline void *hk__malloc_default(size_t size) {
  return hk__malloc_in(&hk__tls->main, &hk__heap_main, size);
}

#endif
