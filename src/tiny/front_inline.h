/* The fast paths. Same-thread malloc and free of a block touch only the
 * thread's own front and slab: no lock, no atomic read-modify-write, no
 * call, one unlikely branch each (plus free's segment-map check). */
#ifndef HK_FRONT_INLINE_H
#define HK_FRONT_INLINE_H

#include "internal.h"

#ifdef HK_CHECKED
void hk__check_alloc(hk__slab_t *s, hk__block_t *b);
void hk__check_slab(hk__slab_t *s);
#define HK_CHECK_ALLOC(s, b) hk__check_alloc(s, b)
#else
#define HK_CHECK_ALLOC(s, b) ((void)0)
#endif

void hk__slab_adopt(hk__slab_t *s);

/* Pop a block of class cls from the front's current slab. */
hk_inline void *hk__front_alloc(hk__front_t *f, unsigned cls) {
  hk__slab_t *s = f->cur[cls];
  hk__block_t *b = s->free;
  if (hk_unlikely(b == NULL)) return hk__front_alloc_slow(f, cls);
  s->free = b->next;
  s->used++;
  HK_CHECK_ALLOC(s, b);
  return b;
}

/* Free of any pointer: owner fast path, everything else (NULL, foreign,
 * remote, large, detached) in hk__free_slow. */
hk_inline void hk__free_fast(void *p, const char *call) {
#ifndef HK_CHECKED
  uintptr_t a = (uintptr_t)p;
  uintptr_t idx = a >> HK_SEG_SHIFT;
  if (hk_likely(idx < HK_SEGMAP_SIZE &&
                atomic_load_explicit(&hk__segmap[idx], memory_order_relaxed) != 0)) {
    hk__seg_t *seg = (hk__seg_t *)(a & ~(uintptr_t)HK_SEG_MASK);
    hk__slab_t *s = &seg->slabs[(a & HK_SEG_MASK) >> seg->slab_shift];
    if (hk_likely(atomic_load_explicit(&s->owner, memory_order_relaxed) == (uintptr_t)hk__tls)) {
      hk__block_t *b = (hk__block_t *)p;
      b->next = s->local_free;
      s->local_free = b;
      if (hk_unlikely(--s->used == 0)) hk__slab_retire(s);
      return;
    }
  }
#endif
  hk__free_slow(p, call);
}

#endif
