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

/* The calling thread's front for heap if it has one at hand (the default
 * heap's, or the user heap it used last), else NULL. Before the thread is
 * set up that is the empty record's front, which has no heap. */
hk_inline hk__front_t *hk__front_at_hand(hk__heap_t *heap) {
  hk__thread_t *t = hk__tls;
  if (heap == &hk__heap_main) return &t->main;
  return atomic_load_explicit(&t->last_heap, memory_order_relaxed) == heap->handle ? t->last_front
                                                                                   : NULL;
}

/* A thread's use of its front's large-block cache (tiny/large.c): lc_busy
 * set, then lc_claim read, ordered for the CPU by the claiming thread's
 * fence. hk__lc_use waits out a claim; hk__lc_try, for the hits below,
 * gives up at once (the caller's slow path waits). */
hk_inline bool hk__lc_try(hk__front_t *f) {
  atomic_store_explicit(&f->lc_busy, true, memory_order_relaxed);
  atomic_signal_fence(memory_order_seq_cst);
  if (hk_unlikely(atomic_load_explicit(&f->lc_claim, memory_order_acquire))) {
    atomic_store_explicit(&f->lc_busy, false, memory_order_release);
    return false;
  }
  f->lc_ops++;
  return true;
}
hk_inline void hk__lc_use(hk__front_t *f) {
  atomic_store_explicit(&f->lc_busy, true, memory_order_relaxed);
  atomic_signal_fence(memory_order_seq_cst);
  if (hk_unlikely(atomic_load_explicit(&f->lc_claim, memory_order_acquire))) hk__lc_wait(f);
  f->lc_ops++;
}
hk_inline void hk__lc_done(hk__front_t *f) {
  atomic_store_explicit(&f->lc_busy, false, memory_order_release);
}

/* The large malloc's hit: f's newest cached block if it serves size, else
 * NULL (hk__front_large_alloc looks further). The empty thread's front,
 * with nothing cached, is only read. */
hk_inline void *hk__front_large_pop(hk__front_t *f, size_t size) {
  if (atomic_load_explicit(&f->lc_n, memory_order_relaxed) == 0 || !hk__lc_try(f)) return NULL;
  void *p = NULL;
  uint32_t n = atomic_load_explicit(&f->lc_n, memory_order_relaxed);
  if (hk_likely(n > 0)) {
    hk__ss_t *ss = f->lcache[n - 1];
    size_t usable = ss->map_size; /* an area block's run */
    if (hk_likely(hk__large_fits(usable, size))) {
      atomic_store_explicit(&f->lc_n, n - 1, memory_order_relaxed);
      atomic_store_explicit(&f->lc_bytes,
                            atomic_load_explicit(&f->lc_bytes, memory_order_relaxed) - usable,
                            memory_order_relaxed);
      ss->slabs[0].state = HK_SLAB_LARGE;
      p = ss->slabs[0].start;
    }
  }
  hk__lc_done(f);
  return p;
}

/* The large free's hit: live area block s joins f's cache if it has room;
 * false otherwise (hk__front_large_free makes room). lc_block_max is 0 in
 * a front without a heap or a cache. */
hk_inline bool hk__front_large_push(hk__front_t *f, hk__slab_t *s) {
  hk__ss_t *ss = s->ss;
  size_t usable = ss->map_size;
  if (usable > f->lc_block_max || !hk__lc_try(f)) return false;
  uint32_t n = atomic_load_explicit(&f->lc_n, memory_order_relaxed);
  size_t bytes = atomic_load_explicit(&f->lc_bytes, memory_order_relaxed) + usable;
  bool room = n < HK_LCACHE_N && bytes <= f->lc_cap;
  if (hk_likely(room)) {
    s->state = HK_SLAB_CACHED;
    f->lcache[n] = ss;
    atomic_store_explicit(&f->lc_n, n + 1, memory_order_relaxed);
    atomic_store_explicit(&f->lc_bytes, bytes, memory_order_relaxed);
  }
  hk__lc_done(f);
  return room;
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
