/* The fast paths. Same-thread malloc and free of a block touch only the
 * thread's own front and slab (free also reads the pointer map): no lock,
 * no atomic read-modify-write, no call, one unlikely branch each (plus
 * free's boundary and key checks). */
#ifndef HK_FRONT_INLINE_H
#define HK_FRONT_INLINE_H

#include "internal.h"

#ifdef HK_CHECKED
/* A keyed free block still holds its poison fill (os/diag.c). */
#define HK_CHECK_ALLOC(s, b) ((b)->key != 0 ? hk__poison_check((b), (s)->block_size) : (void)0)
#else
#define HK_CHECK_ALLOC(s, b) ((void)0)
#endif


/* Optional annotations so users can find their own bugs with hakmem linked
 * in: a free block is inaccessible except its link word. */
#if defined(HK_ASAN)
#include <sanitizer/asan_interface.h>
#define HK_TRACK_ALLOC(s, b) ASAN_UNPOISON_MEMORY_REGION((b), (s)->block_size)
#define HK_TRACK_FREE(s, b)                                                   \
  ASAN_POISON_MEMORY_REGION((uint8_t *)(b) + sizeof(hk__block_t),            \
                            (s)->block_size - sizeof(hk__block_t))
#elif defined(HK_VALGRIND)
#include <valgrind/memcheck.h>
#define HK_TRACK_ALLOC(s, b) VALGRIND_MALLOCLIKE_BLOCK((b), (s)->block_size, 0, 0)
#define HK_TRACK_FREE(s, b)                                                   \
  do {                                                                        \
    VALGRIND_FREELIKE_BLOCK((b), 0);                                          \
    VALGRIND_MAKE_MEM_DEFINED((b), sizeof(hk__block_t));                      \
  } while (0)
#else
#define HK_TRACK_ALLOC(s, b) ((void)0)
#define HK_TRACK_FREE(s, b) ((void)0)
#endif

/* Pop a block from slab s, or NULL if its free list is empty. */
hk_inline hk__block_t *hk__slab_pop(hk__slab_t *s) {
  hk__block_t *b = s->free;
  if (hk_unlikely(b == NULL)) return NULL;
  s->free = b->next;
  s->used++;
  HK_TRACK_ALLOC(s, b);
  HK_CHECK_ALLOC(s, b);
  b->key = 0;
  return b;
}

/* A block of class cls from the front (of a live thread) or its slow path. */
hk_inline void *hk__front_alloc(hk__front_t *f, unsigned cls) {
  hk__block_t *b = hk__slab_pop(f->cur[cls]);
  if (hk_likely(b != NULL)) return b;
  return hk__front_alloc_slow(f, cls);
}

/* b, a validated and keyed block of slab s, freed into bin (tiny/bin.c):
 * no atomic, only the bin's first line and the block are written. foreign:
 * 1 if another thread owns s. */
hk_inline void hk__bin_push(hk__slab_t *bin, hk__slab_t *s, hk__block_t *b, uint32_t foreign) {
  uint32_t held = 0u - bin->used;
  if (held < bin->bin_low) bin->bin_low = held;
  (void)s;
  HK_TRACK_FREE(s, b);
  b->next = bin->free;
  bin->free = b;
  bin->used--;
  bin->bin_foreign += foreign;
  if (hk_unlikely(held + 1 - bin->bin_low > bin->bin_max)) hk__bin_trim(bin);
  if (hk_unlikely(--bin->bin_until_check == 0)) hk__bin_check(bin);
}

/* Could a block of `usable` bytes hold an allocation of size bytes aligned
 * to align? No allocation path wastes half a block above 128 bytes or its
 * alignment (size classes are 8 per power of two, large blocks whole
 * granules or pages, realloc keeps a block only down to half of it), so a
 * size it could not hold, or that small, was not its size. */
hk_inline bool hk__size_matches(size_t usable, size_t size, size_t align) {
  return size <= usable && (size > usable / 2 || usable <= 128 || usable <= align);
}

/* Free of any pointer: owner fast path, everything else (NULL, foreign,
 * interior, remote, large, detached, unmapped, a block already carrying its
 * slab's key, i.e. probably a double free) in hk__free_slow. The pointer
 * map (see superslab/map.c) gives an owner word for any pointer, with no
 * range check and no branch; it is this thread's token only for a pointer
 * into a slab this thread owns, and only then is the slab read. sized: the
 * caller says the block's size (hk_free_sized), checked against the
 * slab's block size; else size is unused (and the test compiled out). */
hk_inline void hk__free_any(void *p, size_t size, bool sized, const char *call) {
#ifndef HK_CHECKED
  uintptr_t a = (uintptr_t)p;
  hk__map_pos_t e = hk__map_pos(p);
  if (hk_likely(hk__map_owner(e) == hk__self_token())) {
    /* Relaxed: this thread owns the slab, so it has seen its record. */
    hk__slab_t *s = __atomic_load_n(hk__map_slab_word(e), __ATOMIC_RELAXED);
    hk__block_t *b = (hk__block_t *)p;
    if (hk_unlikely((uint64_t)(a - (uintptr_t)s->fstart) * s->fmagic >= s->flimit))
      goto slow; /* not a block boundary: an interior or stray pointer */
    if (hk_unlikely(b->key == hk__slab_key(s))) goto slow; /* probably a double free */
    if (sized && hk_unlikely(!hk__size_matches(s->block_size, size, HK_MIN_ALIGN))) goto slow;
    b->key = hk__slab_key(s);
    b->next = s->free;
    s->free = b;
    HK_TRACK_FREE(s, b);
    if (hk_unlikely(--s->used == 0)) hk__slab_retire(s);
    return;
  }
slow:
#endif
  if (sized) hk__free_sized_slow(p, size, HK_MIN_ALIGN, call);
  else hk__free_slow(p, call);
}

hk_inline void hk__free_fast(void *p, const char *call) { hk__free_any(p, 0, false, call); }

#endif
