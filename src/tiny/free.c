/* The slow half of free: NULL, foreign pointers, large blocks, frees by a
 * thread that does not own the slab (remote frees), and, in the checked
 * build, every free (with its consistency checks). */
#include "internal.h"

#include "tiny/front_inline.h"

/* p (a block boundary of slab s) is free: for free (double free) and
 * realloc, which must not resize a block that is not live. A free block,
 * wherever it waits (its slab's free or xfree list, or a bin of any
 * thread), carries its slab's key, and malloc clears it: the key is the
 * address of the slab's record, which no program is ever handed, so a live
 * block holds it only if the program wrote that very value there. */
bool hk__block_is_free(const hk__slab_t *s, const void *p) {
  return ((const hk__block_t *)p)->key == hk__slab_key(s);
}

/* One CAS links the block and counts it (the count lives in the same word,
 * see HK_XFREE_COUNT_SHIFT), and clears DETACHED if it was set: then the
 * slab is the freer's to place. f: the freer's front for the slab's heap,
 * or NULL. */
/* Ordering: the release CAS publishes b->next (and whatever the freer
 * wrote to the block) to the owner's acquire exchange that drains the list
 * (hk__slab_drain_xfree). Seeing DETACHED, the acquire fence pairs with the
 * detacher's acq_rel CAS (tiny/front.c detach): the freer then sees the
 * slab's free list and counts as the detacher left them. */
static void remote_push(hk__slab_t *s, hk__block_t *b, hk__front_t *f) {
  HK_TRACK_FREE(s, b);
  uintptr_t old = atomic_load_explicit(&s->xfree, memory_order_relaxed);
  do {
    b->next = (hk__block_t *)(old & HK_XFREE_LIST_MASK);
  } while (!atomic_compare_exchange_weak_explicit(
      &s->xfree, &old, (uintptr_t)b + (old & ~HK_XFREE_LIST_MASK & ~HK_XFREE_DETACHED) + HK_XFREE_ONE,
      memory_order_release, memory_order_relaxed));
  if (hk_unlikely(old & HK_XFREE_DETACHED)) {
    atomic_thread_fence(memory_order_acquire);
    hk__slab_place(s, f);
  }
}

/* The calling thread's front for s's heap if it has one at hand (the
 * default heap's, or the user heap it used last), else NULL: a thread that
 * has never allocated has none, and needs none to free. */
hk_inline hk__front_t *front_for(hk__thread_t *t, const hk__slab_t *s) {
  if (!t->live) return NULL;
  if (s->flags & HK_SLAB_DEFAULT_HEAP) return &t->main;
  hk__heap_t *heap = s->ss->pool->owner_heap;
  return atomic_load_explicit(&t->last_heap, memory_order_relaxed) == heap->handle ? t->last_front
                                                                                 : NULL;
}

/* A free by a thread that does not own s, whose class is not in bin mode
 * in its front f (NULL: none). */
static hk_noinline void free_foreign(hk__slab_t *s, hk__block_t *b, hk__front_t *f,
                                     uintptr_t owner) {
  if (f != NULL) {
    /* A slab this thread detached (full) is claimed back by its first
     * free with one CAS, which keeps the block on the slab's own list:
     * cheaper than a remote push and a drain, and the common case when a
     * thread frees blocks of its own slabs after they filled up. Only its
     * detacher adopts a slab; others' frees go to a bin or to xfree. */
    uintptr_t expect = HK_XFREE_DETACHED;
    if (owner == 0 &&
        atomic_load_explicit(&s->detached_by, memory_order_relaxed) == f->thread->serial &&
        atomic_compare_exchange_strong_explicit(&s->xfree, &expect, 0, memory_order_acquire,
                                                memory_order_relaxed)) {
      HK_TRACK_FREE(s, b);
      b->next = s->free;
      s->free = b;
      s->used--;
      hk__front_add_remote(f, 1);
      hk__slab_place(s, f);
      return;
    }
    /* A thread that allocates the class and keeps freeing other threads'
     * blocks of it switches to bin mode: it reuses them. */
    unsigned cls = s->cls;
    if (f->head[cls] != &hk__slab_empty && ++f->nforeign[cls] >= HK_BIN_ENTER &&
        hk__front_bin_on(f, cls)) {
      hk__bin_push(f->cur[cls], s, b, 1);
      return;
    }
  }
  remote_push(s, b, f);
}

/* p, a pointer into slab s, is a block of it that is carved: Lemire's
 * test with the carved count folded into div_limit. Alone it is complete:
 * an address below start or past the carved blocks, or off a block
 * boundary, maps to at least 2^48 (a boundary k maps to k * e, e <= the
 * block size), far above any div_limit (carved * e < 2^28). */
hk_inline bool is_block(const hk__slab_t *s, const void *p) {
  return hk__slab_is_block(s, p, __atomic_load_n(&s->div_limit, __ATOMIC_RELAXED));
}

/* A large block: a live one of an area goes to the freeing thread's cache
 * for the heap, if it has one at hand; the pool takes the rest (and
 * diagnoses). The hit is a leaf that needs no callee-saved register; the
 * rest are tail calls. */
static hk_noinline void free_cached_slow(hk__front_t *f, hk__slab_t *s) {
  if (!hk__front_large_free(f, s)) hk__large_free(s, s->start, "free");
}

static hk_noinline void free_large(void *p, const char *call, hk__slab_t *s) {
  hk__front_t *f;
  if (p != s->start || s->state != HK_SLAB_LARGE || s->ss->area == NULL ||
      (f = hk__front_at_hand(s->ss->pool->owner_heap)) == NULL) {
    hk__large_free(s, p, call);
    return;
  }
  if (!hk__front_large_push(f, s)) free_cached_slow(f, s);
}

/* Everything but the owner fast path's push, general case: the caller
 * found no bin of the default heap for s, p's slab record in the map
 * (NULL: hakmem has nothing at p; never a large block's). */
static hk_noinline void free_general(void *p, const char *call, hk__slab_t *s) {
  if (s == NULL) hk__fatal_invalid(call, p, HK_MSG_INVALID);
  uintptr_t owner = atomic_load_explicit(&s->owner, memory_order_relaxed);
  if (!is_block(s, p)) hk__fatal_invalid(call, p, HK_MSG_INVALID);
  hk__block_t *b = p;
  if (hk__block_is_free(s, p)) hk__fatal_invalid(call, p, HK_MSG_DOUBLE_FREE);
#ifdef HK_CHECKED
  hk__poison(p, s->block_size);
#endif
  b->key = hk__slab_key(s);
  uintptr_t me = hk__self_token();
  hk__front_t *f = front_for(hk__tls, s);
  if (f != NULL) {
    hk__slab_t *bin = f->cur[s->cls];
    if (bin->state == HK_SLAB_BIN) {
      hk__bin_push(bin, s, b, owner != me);
      return;
    }
  }
  if (owner == me) {
    b->next = s->free;
    s->free = b;
    HK_TRACK_FREE(s, b);
    if (--s->used == 0) hk__slab_retire(s);
    return;
  }
  free_foreign(s, b, f, owner);
}

/* Everything but an owner's free in slab mode, for all but large blocks.
 * The common case first: a class of the default heap in bin mode, whose
 * every free (the thread's own blocks and others') joins the bin, with
 * the slab found in the pointer map, one test of the block and no call. */
static hk_noinline void free_small(void *p, const char *call, hk__slab_t *s) {
  if (hk_likely(s != NULL)) {
    hk__slab_t *bin = hk__tls->main.cur[s->cls];
    if (hk_likely(bin->state == HK_SLAB_BIN) && hk_likely(s->flags & HK_SLAB_DEFAULT_HEAP)) {
      if (hk_unlikely(!is_block(s, p))) hk__fatal_invalid(call, p, HK_MSG_INVALID);
      hk__block_t *b = p;
      if (hk_unlikely(hk__block_is_free(s, p))) hk__fatal_invalid(call, p, HK_MSG_DOUBLE_FREE);
#ifdef HK_CHECKED
      hk__poison(p, s->block_size);
#endif
      b->key = hk__slab_key(s);
      hk__bin_push(bin, s, b,
                   atomic_load_explicit(&s->owner, memory_order_relaxed) != hk__self_token());
      return;
    }
  }
  free_general(p, call, s);
}

/* A dispatch with no frame of its own: large blocks, then the rest. */
hk_noinline void hk__free_slow(void *p, const char *call) {
  if (p == NULL) return; /* first: before initialisation only NULL's entry is readable */
  hk__slab_t *s = hk__map_slab(p);
  if (s != NULL && (s->flags & HK_SLAB_LARGE_BLOCK)) free_large(p, call, s);
  else free_small(p, call, s);
}

size_t hk__block_usable(const void *p, const char *call, hk__slab_t **slab, const char *freed) {
  hk__slab_t *s = *slab = hk__map_slab(p);
  if (s == NULL) hk__fatal_invalid(call, p, HK_MSG_INVALID);
  if (s->flags & HK_SLAB_LARGE_BLOCK) return hk__large_checked(s, p, call, freed);
  const uint8_t *bp = p;
  if (bp < s->start || bp >= s->end || !is_block(s, p)) hk__fatal_invalid(call, p, HK_MSG_INVALID);
  if (hk__block_is_free(s, p)) hk__fatal_invalid(call, p, freed);
  return s->block_size;
}

/* Sized free: NULL and the size of a live block free it; anything else is
 * misuse (the pointer is checked first, so an invalid or freed pointer is
 * reported as such). */
hk_noinline void hk__free_sized_slow(void *p, size_t size, size_t align, const char *call) {
  if (p == NULL) return;
  hk__slab_t *s;
  size_t usable = hk__block_usable(p, call, &s, HK_MSG_DOUBLE_FREE);
  if (((uintptr_t)p & (align - 1)) != 0 || !hk__size_matches(usable, size, align))
    hk__fatal_invalid(call, p, HK_MSG_SIZE);
  hk__free_slow(p, call);
}
