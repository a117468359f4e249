/* hk_heap_visit: every live block of a heap, for leak reports per
 * subsystem.
 *
 * The walk holds the heap's pool lock, so no SuperSlab, slab state or
 * large block list changes under it. Threads keep allocating and freeing
 * without that lock meanwhile (their fast paths take none), so the walk
 * reads what they write: a block's key (free blocks carry their slab's,
 * see hk__block_t), a slab's carved bound, a large block's state. Each of
 * those reads is of a word its writer stores whole; a block that is live
 * for the whole walk has a key other than its slab's and its slab cannot
 * leave the pool's lists, so it is visited exactly once. A block
 * allocated or freed during the walk may or may not be. */
#include "internal.h"

#include <errno.h>

/* A word another thread may be writing: read it whole, without telling
 * ThreadSanitizer (the race is the documented contract above). */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HK_RACY __attribute__((no_sanitize("thread")))
#endif
#endif
#if !defined(HK_RACY) && defined(__SANITIZE_THREAD__)
#define HK_RACY __attribute__((no_sanitize("thread")))
#endif
#ifndef HK_RACY
#define HK_RACY
#endif

HK_RACY static uintptr_t racy_word(const void *p) {
  return __atomic_load_n((const uintptr_t *)p, __ATOMIC_RELAXED);
}
HK_RACY static uint8_t racy_byte(const uint8_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

/* The live blocks of slab s: the carved ones (those its bound admits)
 * whose key is not the slab's. */
static int visit_slab(hk__slab_t *s, hk_visit_fn fn, void *arg) {
  uint64_t bound = __atomic_load_n(&s->div_limit, __ATOMIC_RELAXED);
  size_t bsize = s->block_size;
  for (uint8_t *b = s->start; b + bsize <= s->end && hk__slab_is_block(s, b, bound); b += bsize) {
    if (racy_word(&((hk__block_t *)b)->key) == hk__slab_key(s)) continue;
    int r = fn(b, bsize, arg);
    if (r != 0) return r;
  }
  return 0;
}

int hk_heap_visit(hk_heap_t *handle, hk_visit_fn fn, void *arg) {
  hk__heap_t *heap = hk__heap_resolve(handle, "heap_visit");
  if (fn == NULL) return EINVAL;
  hk__pool_t *pool = &heap->pool;
  int r = 0;
  pthread_mutex_lock(&pool->lock);
  for (hk__ss_t *ss = pool->in_use.head; ss != NULL && r == 0; ss = ss->next) {
    for (unsigned i = 0; i < ss->nslabs && r == 0; i++) {
      hk__slab_t *s = hk__ss_slab(ss, i);
      if (s->state == HK_SLAB_OWNED || s->state == HK_SLAB_PARTIAL) r = visit_slab(s, fn, arg);
    }
  }
  for (hk__ss_t *ss = pool->large.head; ss != NULL && r == 0; ss = ss->next) {
    hk__slab_t *s = &ss->slabs[0];
    if (racy_byte(&s->state) == HK_SLAB_LARGE) r = fn(s->start, hk__large_usable(ss), arg);
  }
  pthread_mutex_unlock(&pool->lock);
  return r;
}
