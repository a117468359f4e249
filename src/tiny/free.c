/* The slow half of free: NULL, foreign pointers, large blocks, frees by a
 * thread that does not own the slab (remote frees), and, in the checked
 * build, every free (with its consistency checks). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
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

/* Written once by hk__free_key_init (process start-up, before any block
 * exists); the key of blocks waiting in a slab's xfree list. */
uintptr_t hk__free_key = 0x9e3779b97f4a7c15u;

void hk__free_key_init(void) {
  uintptr_t k = 0;
  const uint8_t *r = (const uint8_t *)getauxval(AT_RANDOM); /* 16 bytes from exec */
  if (r != NULL) memcpy(&k, r + 8, sizeof k);
  k ^= (uintptr_t)&k ^ hk__free_key; /* never 0: malloc clears the word to 0 */
  hk__free_key = k != 0 ? k : 1;
}

/* The owner's free list holds p: a double free (the key alone may, very
 * rarely, be user data). */
static bool is_listed(const hk__slab_t *s, const void *p) {
  uint32_t n = 0;
  for (const hk__block_t *b = s->free; b != NULL && n <= s->capacity; b = b->next, n++)
    if (b == p) return true;
  return false;
}

/* p (a block boundary of slab s) is free: for realloc, which must not
 * resize a block that is not live. */
bool hk__block_is_free(const hk__slab_t *s, const void *p) {
  uintptr_t key = ((const hk__block_t *)p)->key;
  uintptr_t owner = atomic_load_explicit(&s->owner, memory_order_relaxed);
  if (owner == hk__self_token()) return key == owner && is_listed(s, p);
  /* Another thread's list cannot be walked safely: there the key decides. */
  return key == hk__free_key || (key != 0 && key == owner);
}

#ifdef HK_CHECKED
/* Checked build: besides its key, a freed block is filled with HK_POISON
 * past its first two words; malloc verifies the fill (write after free). */
#define HK_POISON 0xDFu

static void poison_block(hk__slab_t *s, void *p) {
  if (s->block_size > sizeof(hk__block_t))
    memset((uint8_t *)p + sizeof(hk__block_t), HK_POISON, s->block_size - sizeof(hk__block_t));
}

void hk__check_alloc(hk__slab_t *s, hk__block_t *b) {
  if (b->key == 0) return; /* fresh: carve clears the key in this build */
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
  uintptr_t me = hk__self_token();
  bool mine = atomic_load_explicit(&s->owner, memory_order_relaxed) == me;
  if (hk__block_is_free(s, p)) hk__fatal_invalid(call, p, "double free of");
#ifdef HK_CHECKED
  poison_block(s, p);
#endif
  b->key = mine ? me : hk__free_key;
  if (mine) {
    b->next = s->free;
    s->free = b;
    HK_TRACK_FREE(s, b);
    if (--s->used == 0) hk__slab_retire(s);
    return;
  }
  remote_push(s, b);
}
