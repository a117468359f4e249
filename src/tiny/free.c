/* The slow half of free: NULL, foreign pointers, large blocks, frees by a
 * thread that does not own the slab (remote frees), and, in the checked
 * build, every free (with its consistency checks). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tiny/front_inline.h"

_Noreturn hk_cold void hk__fatal_invalid(const char *call, const void *p, const char *what) {
  char msg[160];
  int n = snprintf(msg, sizeof msg, "hakmem: %s(): %s %p\n", call, what, p);
  if (n > 0) {
    ssize_t w = write(STDERR_FILENO, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    (void)w;
  }
  abort();
}

static bool on_list(const hk__block_t *b, const void *p, uint32_t max) {
  for (uint32_t n = 0; b != NULL && n <= max; b = b->next, n++)
    if (b == p) return true;
  return false;
}

/* p (a block boundary of slab s) is free: for free (double free) and
 * realloc, which must not resize a block that is not live. The key alone
 * could, very rarely, be user data: the owner confirms on its lists (its
 * free list, and xfree, from which only it removes blocks, so a snapshot
 * of the head is safe to walk while others push). */
bool hk__block_is_free(const hk__slab_t *s, const void *p) {
  if (((const hk__block_t *)p)->key != hk__slab_key(s)) return false;
  if (atomic_load_explicit(&s->owner, memory_order_relaxed) != hk__self_token())
    return true; /* another thread's lists cannot be walked safely */
  const hk__block_t *x = (const hk__block_t *)(atomic_load_explicit(&s->xfree,
      memory_order_acquire) & HK_XFREE_LIST_MASK);
  return on_list(s->free, p, s->capacity) || on_list(x, p, s->capacity);
}

#ifdef HK_CHECKED
/* Checked build: besides its key, a freed block is filled with HK_POISON
 * past its first two words; malloc verifies the fill (write after free). */
#define HK_POISON 0xDFu

void hk__poison_block(hk__slab_t *s, void *p) {
  if (s->block_size > sizeof(hk__block_t))
    memset((uint8_t *)p + sizeof(hk__block_t), HK_POISON, s->block_size - sizeof(hk__block_t));
}

void hk__check_alloc(hk__slab_t *s, hk__block_t *b) {
  if (b->key == 0) return; /* not a keyed free block: nothing to verify */
  const uint8_t *q = (const uint8_t *)b + sizeof(hk__block_t);
  for (size_t i = 0; i + sizeof(hk__block_t) < s->block_size; i++) {
    if (q[i] != HK_POISON) hk__fatal_invalid("malloc", b, "write after free to block");
  }
}

static void check_list(hk__slab_t *s, hk__block_t *b, uint32_t *n) {
  for (; b != NULL; b = b->next) {
    uint8_t *p = (uint8_t *)b;
    if (p < s->start || p >= s->bump || (size_t)(p - s->start) % s->block_size != 0)
      hk__fatal_invalid("malloc", b, "corrupt free list at");
    if (++*n > s->capacity) hk__fatal_invalid("malloc", b, "free list cycle at");
  }
}

void hk__check_slab(hk__slab_t *s) {
  uint32_t n = 0;
  check_list(s, s->free, &n);
  if (s->used > s->capacity + s->pinned) hk__fatal_invalid("malloc", s, "slab use count corrupt in");
}
#endif

/* One CAS links the block and counts it (the count lives in the same word,
 * see HK_XFREE_COUNT_SHIFT), and clears DETACHED if it was set. */
static void remote_push(hk__slab_t *s, hk__block_t *b) {
  HK_TRACK_FREE(s, b);
  uintptr_t old = atomic_load_explicit(&s->xfree, memory_order_relaxed);
  do {
    b->next = (hk__block_t *)(old & HK_XFREE_LIST_MASK);
  } while (!atomic_compare_exchange_weak_explicit(
      &s->xfree, &old, (uintptr_t)b + (old & ~HK_XFREE_LIST_MASK & ~HK_XFREE_DETACHED) + HK_XFREE_ONE,
      memory_order_release, memory_order_relaxed));
  if (hk_unlikely(old & HK_XFREE_DETACHED)) {
    atomic_thread_fence(memory_order_acquire);
    hk__slab_adopt(s);
  }
}

hk_noinline void hk__free_slow(void *p, const char *call) {
  if (p == NULL) return;
  /* A remote free (the common case here) finds its slab in the granule
   * map; the segment map and the SuperSlab header are for the rest. */
  hk__slab_t *s = hk__gmap_slab(p);
  if (s == NULL) {
    hk__seg_t *seg = hk__seg_of(p);
    if (seg == NULL || seg->magic != HK_SEG_MAGIC) hk__fatal_invalid(call, p, "invalid pointer");
    if (seg->kind == HK_KIND_LARGE) {
      hk__large_free(seg, p, call);
      return;
    }
    s = hk__slab_of(seg, p);
  }
  uint8_t *bp = p;
  bool mine = atomic_load_explicit(&s->owner, memory_order_relaxed) == hk__self_token();
  /* A carved block boundary inside a slab in use (a FREE slab has end ==
   * start and div_limit 0): an address not carved yet is no block, from
   * any thread, or a remote free would list it twice (carving lists it too). */
  if (bp < s->start || bp >= s->end ||
      !hk__slab_is_block(s, bp, __atomic_load_n(&s->div_limit, __ATOMIC_RELAXED)))
    hk__fatal_invalid(call, p, "invalid pointer");
  hk__block_t *b = p;
  if (hk__block_is_free(s, p)) hk__fatal_invalid(call, p, "double free of");
#ifdef HK_CHECKED
  hk__poison_block(s, p);
#endif
  b->key = hk__slab_key(s);
  if (mine) {
    b->next = s->free;
    s->free = b;
    HK_TRACK_FREE(s, b);
    if (--s->used == 0) hk__slab_retire(s);
    return;
  }
  /* A detached slab (full, owned by nobody) is claimed by the first free
   * with one CAS, which keeps the block on the slab's own list: cheaper
   * than a remote push and a drain, and the common case when a thread frees
   * blocks of its own slabs after they filled up. */
  uintptr_t expect = HK_XFREE_DETACHED;
  if (atomic_load_explicit(&s->owner, memory_order_relaxed) == 0 &&
      atomic_compare_exchange_strong_explicit(&s->xfree, &expect, 0, memory_order_acquire,
                                              memory_order_relaxed)) {
    HK_TRACK_FREE(s, b);
    b->next = s->free;
    s->free = b;
    s->used--;
    atomic_fetch_add_explicit(&s->seg->pool->remote_frees, 1, memory_order_relaxed);
    hk__slab_adopt(s);
    return;
  }
  remote_push(s, b);
}
