/* Per-thread fronts: the slow half of malloc and the life cycle of owned
 * slabs. The fast half (pop from and push to the slab's free list) is in
 * tiny/front_inline.h. A front's queue for class c is a doubly linked list
 * of slabs its thread owns, head at cur[c]; an empty queue is the shared
 * const hk__slab_empty (free == NULL), so the fast path never tests for
 * "no slab". */
#include "internal.h"

#include <errno.h>
#include <string.h>

#include "tiny/front_inline.h"

const hk__slab_t hk__slab_empty;

#define EMPTY ((hk__slab_t *)&hk__slab_empty)
hk__thread_t hk__thread_empty = {.main = {.direct = {[0 ... HK_SMALL_MAX] = EMPTY},
                                          .cur = {[0 ... HK_NUM_CLASSES - 1] = EMPTY},
                                          .thread = &hk__thread_empty},
                                 .last_heap = &hk__heap_main,
                                 .last_front = &hk__thread_empty.main};
__thread hk__thread_t *hk__tls __attribute__((tls_model("initial-exec"))) = &hk__thread_empty;

/* Entries lo..hi of a size table point at s, eight per iteration (a class
 * has 16, 32 or 64 sizes, 17 for class 0): set_head runs on every change
 * of a queue head, which remote-free-heavy threads make often. */
static void fill(hk__slab_t **t, size_t lo, size_t hi, hk__slab_t *s) {
  hk__slab_t *eight[8] = {s, s, s, s, s, s, s, s};
  size_t n = lo;
  for (; n + 8 <= hi + 1; n += 8) memcpy(&t[n], eight, sizeof eight);
  for (; n <= hi; n++) t[n] = s;
}

/* The only writer of cur[] and direct[]. The sizes of class c (<= 31)
 * are (size[c-1], size[c]], and 0 is class 0's. */
static void set_head_raw(hk__front_t *f, unsigned cls, hk__slab_t *s) {
  f->cur[cls] = s;
  if (cls >= HK_NUM_SMALL_CLASSES) return;
  size_t lo = cls == 0 ? 0 : hk__class_size[cls - 1] + 1, hi = hk__class_size[cls];
  fill(f->direct, lo, hi, s);
  if (f->mirror != NULL) fill(f->mirror, lo, hi, s);
}

void hk__front_mirror(hk__front_t *f, hk__slab_t **table) {
  memcpy(table, f->direct, sizeof f->direct);
  f->mirror = table;
}

/* Under keep_one_slab the head of each class queue is pinned: it carries one
 * extra count in `used`, so it never empties and the free of its last block
 * (every free, when a program mallocs and frees one block at a time) stays
 * on the fast path instead of calling hk__slab_retire. A slab that stops
 * being the head is unpinned; if that empties it, it stays queued until
 * sweep_tail or a flush gives it back. */
static void set_head(hk__front_t *f, unsigned cls, hk__slab_t *s) {
  hk__slab_t *old = f->cur[cls];
  if (f->pin && old != s) {
    if (old != EMPTY) {
      old->used--;
      __atomic_store_n(&old->pinned, 0, __ATOMIC_RELAXED); /* stats read it */
    }
    if (s != EMPTY) {
      s->used++;
      __atomic_store_n(&s->pinned, 1, __ATOMIC_RELAXED);
    }
  }
  set_head_raw(f, cls, s);
}

/* Every queue empty. The slabs are not touched (nor unpinned): the front is
 * new, or its heap is being destroyed with them. */
void hk__front_reset(hk__front_t *f) {
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) {
    set_head_raw(f, c, EMPTY);
    f->tail[c] = NULL;
  }
}

void hk__front_init(hk__front_t *f, struct hk_heap_s *heap, hk__thread_t *t) {
  hk__front_reset(f);
  f->heap = heap;
  f->thread = t;
  f->pin = heap->pool.policy.keep_one_slab;
}

/* ---- queue ------------------------------------------------------------------ */
static void q_push_head(hk__front_t *f, hk__slab_t *s) {
  hk__slab_t *head = f->cur[s->cls];
  s->prev = NULL;
  s->next = head == EMPTY ? NULL : head;
  if (s->next) s->next->prev = s; else f->tail[s->cls] = s;
  set_head(f, s->cls, s);
}
static void q_remove(hk__front_t *f, hk__slab_t *s) {
  if (s->prev) s->prev->next = s->next;
  else set_head(f, s->cls, s->next ? s->next : EMPTY);
  if (s->next) s->next->prev = s->prev; else f->tail[s->cls] = s->prev;
  s->next = s->prev = NULL;
}
static void q_insert_second(hk__front_t *f, hk__slab_t *s) {
  hk__slab_t *head = f->cur[s->cls];
  s->prev = head;
  s->next = head->next;
  if (s->next) s->next->prev = s; else f->tail[s->cls] = s;
  head->next = s;
}

static void own(hk__front_t *f, hk__slab_t *s) {
  s->front = f;
  hk__slab_set_owner(s, f->thread->token);
}

static void drain_counted(hk__front_t *f, hk__slab_t *s) {
  uint32_t n = hk__slab_drain_xfree(s);
  if (n) atomic_fetch_add_explicit(&f->heap->pool.remote_frees, n, memory_order_relaxed);
}

/* A full slab leaves the queue and belongs to nobody until a block of it is
 * freed; that free's CAS clears DETACHED and makes the freer adopt it.
 * Returns false if a remote free raced in: the slab stays ours. */
static bool detach(hk__front_t *f, hk__slab_t *s) {
  s->front = NULL;
  hk__slab_set_owner(s, 0);
  uintptr_t expect = 0;
  if (atomic_compare_exchange_strong_explicit(&s->xfree, &expect, HK_XFREE_DETACHED,
                                              memory_order_acq_rel, memory_order_relaxed))
    return true;
  own(f, s);
  return false;
}

/* Remote frees reach a slab's free list only when its owner drains it, and
 * the owner visits the slabs behind the head only when the head runs dry. So
 * each slow path also looks at the queue's tail: empty once drained, it goes
 * back to the pool; else it moves up behind the head, so successive slow
 * paths go round the whole queue and no slab emptied by other threads is
 * held for ever. */
static void sweep_tail(hk__front_t *f, unsigned cls) {
  hk__slab_t *s = f->tail[cls];
  if (s == NULL || s == f->cur[cls]) return;
  drain_counted(f, s);
  q_remove(f, s);
  if (s->used == 0) {
    s->front = NULL;
    hk__slab_set_owner(s, 0);
    hk__pool_give_back(&f->heap->pool, s);
  } else {
    q_insert_second(f, s);
  }
}

/* s has free blocks: it becomes the head, and malloc pops from it. */
static void *alloc_from(hk__front_t *f, hk__slab_t *s) {
  if (f->cur[s->cls] != s) {
    q_remove(f, s);
    q_push_head(f, s);
  }
#ifdef HK_CHECKED
  hk__check_slab(s);
#endif
  return hk__front_alloc(f, s->cls);
}

/* The head ran dry. Blocks already freed come first, so memory already
 * touched is reused before fresh blocks are carved: each queued slab, in
 * order, gets its remote frees drained; the first with free blocks serves,
 * a full one leaves the queue (detach). Then the first slab that can carve
 * serves; then the pool gives one (a PARTIAL slab first). */
hk_noinline void *hk__front_alloc_slow(hk__front_t *f, unsigned cls) {
  if (hk_unlikely(!f->thread->live)) {
    /* First allocation of this thread: it still runs on hk__thread_empty. */
    hk__thread_t *t = hk__thread_init();
    if (t == NULL) { errno = ENOMEM; return NULL; }
    return hk__front_alloc(&t->main, cls);
  }
  sweep_tail(f, cls);
  for (;;) {
    for (hk__slab_t *s = f->cur[cls], *next; s != EMPTY; s = next) {
      next = s->next ? s->next : EMPTY;
      drain_counted(f, s);
      if (s->free != NULL) return alloc_from(f, s);
      if (s->bump < s->end) continue; /* fresh blocks left: second round */
      q_remove(f, s);
      if (!detach(f, s)) { /* a remote free raced in: s has blocks again */
        q_push_head(f, s);
        drain_counted(f, s);
        return alloc_from(f, s);
      }
    }
    for (hk__slab_t *s = f->cur[cls]; s != EMPTY; s = s->next ? s->next : EMPTY)
      if (hk__slab_carve(s)) return alloc_from(f, s);
    hk__slab_t *s = hk__pool_acquire(&f->heap->pool, cls);
    if (s == NULL) return NULL; /* errno set */
    own(f, s);
    q_push_head(f, s);
    /* A PARTIAL slab may turn out full; the first round then detaches it. */
  }
}

/* The owner freed the last block of s, so s is no pinned head (a pinned
 * head never empties; see set_head): hand it to the pool, where it can
 * serve any class. */
hk_noinline void hk__slab_retire(hk__slab_t *s) {
  hk__front_t *f = s->front;
  hk__pool_t *pool = &f->heap->pool;
  q_remove(f, s);
  s->front = NULL;
  hk__slab_set_owner(s, 0);
  hk__pool_give_back(pool, s);
}

/* Hand every owned slab back to the pool (thread exit, trim). */
void hk__front_flush(hk__front_t *f) {
  if (f->heap == NULL) return;
  hk__pool_t *pool = &f->heap->pool;
  pthread_mutex_lock(&pool->lock);
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) {
    while (f->cur[c] != EMPTY) {
      hk__slab_t *s = f->cur[c];
      q_remove(f, s);
      s->front = NULL;
      hk__slab_set_owner(s, 0);
      drain_counted(f, s);
      hk__pool_give_back_locked(pool, s);
    }
  }
  pthread_mutex_unlock(&pool->lock);
}

/* The freer cleared DETACHED on s: it is ours to place. Adopt it into this
 * thread's front for the slab's heap, or park it on the pool's partial list
 * if this thread can have no front (out of memory). A thread that only
 * frees (a consumer) gets its record here: its later frees into s are then
 * owner frees on the fast path, and s goes back to the pool when they
 * empty it, instead of every one being a remote push into a parked slab
 * (BM_CrossThreadFree/64, direct build: 123 -> 51 ns). */
void hk__slab_adopt(hk__slab_t *s) {
  hk__pool_t *pool = s->seg->pool;
  struct hk_heap_s *heap = hk__heap_of_pool(pool);
  hk__thread_t *t = hk__thread_init();
  hk__front_t *f = NULL;
  if (t != NULL) f = heap == &hk__heap_main ? &t->main : hk__front_lookup(heap);
  if (f == NULL) {
    pthread_mutex_lock(&pool->lock);
    hk__slab_drain_xfree(s);
    hk__pool_give_back_locked(pool, s);
    pthread_mutex_unlock(&pool->lock);
    return;
  }
  own(f, s);
  drain_counted(f, s);
  if (s->used == 0) {
    s->front = NULL;
    hk__slab_set_owner(s, 0);
    hk__pool_give_back(pool, s);
    return;
  }
  /* Behind the head while the head still has free blocks: the head keeps
   * serving while s collects the frees that follow (now owner frees, on
   * the fast path), and a slow path finds s before it carves. Made the
   * head, s would run dry after its one block and be detached again: a
   * detach/adopt cycle per block when one class's blocks are freed at
   * random (bench_random_mixed 400 slots, 1000 B: 61 instead of 88 Ir/op).
   * A head with no free block would send the next malloc to the slow path
   * anyway, so s, nearly full, serves first: filling the fullest slabs
   * first lets the others empty (random_mixed_medium peak RSS 6.0 MiB,
   * 6.3 always behind the head, 5.4 always first but with the cycles). */
  hk__slab_t *head = f->cur[s->cls];
  if (head == EMPTY || head->free == NULL) q_push_head(f, s);
  else q_insert_second(f, s);
}
