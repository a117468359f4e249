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

#ifdef HK_CHECKED
/* Checked build: a freed block carries a cookie in word 1 (derived from its
 * address and block size, so a stale cookie of another class never matches)
 * and the rest of it is filled with HK_POISON. */
#define HK_POISON 0xDFu
#define HK_COOKIE 0x9e3779b97f4a7c15ull

static uintptr_t cookie_of(const void *p, uint32_t bsize) {
  return ((uintptr_t)p ^ (uintptr_t)HK_COOKIE) + bsize;
}

static void poison_block(hk__slab_t *s, void *p) {
  uintptr_t *w = p;
  if (s->block_size > 2 * sizeof(uintptr_t))
    memset(w + 2, HK_POISON, s->block_size - 2 * sizeof(uintptr_t));
  w[1] = cookie_of(p, s->block_size);
}

void hk__check_alloc(hk__slab_t *s, hk__block_t *b) {
  uintptr_t *w = (uintptr_t *)b;
  if (w[1] != cookie_of(b, s->block_size)) return; /* fresh, never freed */
  const uint8_t *q = (const uint8_t *)(w + 2);
  for (size_t i = 0; i + 2 * sizeof(uintptr_t) < s->block_size; i++) {
    if (q[i] != HK_POISON) hk__fatal_invalid("malloc", b, "write after free to block");
  }
  w[1] = 0;
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
  if (s->used > s->capacity) hk__fatal_invalid("malloc", s, "slab use count corrupt in");
}

/* A block whose cookie is set is probably free: confirm on the owner's lists. */
static bool is_listed(hk__slab_t *s, const void *p) {
  for (hk__block_t *b = s->free; b; b = b->next) if (b == p) return true;
  return false;
}
#endif

static void remote_push(hk__slab_t *s, hk__block_t *b) {
  atomic_fetch_add_explicit(&s->xpending, 1, memory_order_relaxed);
  HK_TRACK_FREE(s, b);
  uintptr_t old = atomic_load_explicit(&s->xfree, memory_order_relaxed);
  do {
    b->next = (hk__block_t *)(old & ~HK_XFREE_DETACHED);
  } while (!atomic_compare_exchange_weak_explicit(&s->xfree, &old, (uintptr_t)b,
                                                  memory_order_release, memory_order_relaxed));
  if (hk_unlikely(old & HK_XFREE_DETACHED)) {
    atomic_thread_fence(memory_order_acquire);
    hk__slab_adopt(s);
  }
}

hk_noinline void hk__free_slow(void *p, const char *call) {
  if (p == NULL) return;
  hk__seg_t *seg = hk__seg_of(p);
  if (seg == NULL || seg->magic != HK_SEG_MAGIC) hk__fatal_invalid(call, p, "invalid pointer");
  if (seg->kind == HK_KIND_LARGE) {
    hk__large_free(seg, p, call);
    return;
  }
  hk__slab_t *s = hk__slab_of(seg, p);
  uint8_t *bp = p;
  /* Cheap here, off the fast path: a block boundary inside a slab in use
   * (a FREE slab has end == start). */
  if (bp < s->start || bp >= s->end ||
      (size_t)(bp - s->start) % s->block_size != 0)
    hk__fatal_invalid(call, p, "invalid pointer");
  hk__block_t *b = p;
  uintptr_t me = (uintptr_t)hk__tls;
#ifdef HK_CHECKED
  uintptr_t *w = p;
  if (w[1] == cookie_of(p, s->block_size) &&
      (atomic_load_explicit(&s->owner, memory_order_relaxed) != me || is_listed(s, p)))
    hk__fatal_invalid(call, p, "double free of");
  poison_block(s, p);
#endif
  if (atomic_load_explicit(&s->owner, memory_order_relaxed) == me) {
    b->next = s->free;
    s->free = b;
    HK_TRACK_FREE(s, b);
    if (--s->used == 0) hk__slab_retire(s);
    return;
  }
  remote_push(s, b);
}
