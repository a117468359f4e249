/* Per-thread fronts: the slow half of malloc and the life cycle of owned
 * slabs. The fast half (pop from and push to the slab's free list) is in
 * tiny/front_inline.h. A front's queue for class c is a doubly linked list
 * of slabs its thread owns, head at head[c]; an empty queue is the shared
 * const hk__slab_empty (free == NULL), so the fast path never tests for
 * "no slab". malloc pops from cur[c] (and direct[] for small sizes): the
 * queue head in slab mode, the class's bin in bin mode (tiny/bin.c). */
#include "internal.h"

#include <errno.h>
#include <string.h>

#include "tiny/front_inline.h"

const hk__slab_t hk__slab_empty;

#define EMPTY ((hk__slab_t *)&hk__slab_empty)

/* Entries lo..hi of a size table point at s, eight per iteration (a class
 * has 16, 32 or 64 sizes, 17 for class 0): set_pop runs on every change
 * of a queue head in slab mode, which remote-free-heavy threads make often. */
static void fill(hk__slab_t **t, size_t lo, size_t hi, hk__slab_t *s) {
  hk__slab_t *eight[8] = {s, s, s, s, s, s, s, s};
  size_t n = lo;
  for (; n + 8 <= hi + 1; n += 8) memcpy(&t[n], eight, sizeof eight);
  for (; n <= hi; n++) t[n] = s;
}

/* The only writer of cur[] and direct[]: what malloc pops from. The sizes
 * of class c (<= 31) are (size[c-1], size[c]], and 0 is class 0's. */
static void set_pop(hk__front_t *f, unsigned cls, hk__slab_t *s) {
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

static bool bin_mode(const hk__front_t *f, unsigned cls) {
  return f->cur[cls]->state == HK_SLAB_BIN;
}

/* Under keep_one_slab the head of each class queue is pinned: it carries one
 * extra count in `used`, so it never empties and the free of its last block
 * (every free, when a program mallocs and frees one block at a time) stays
 * on the fast path instead of calling hk__slab_retire. A slab that stops
 * being the head is unpinned; if that empties it, it stays queued until
 * sweep_tail or a flush gives it back. The only writer of head[]. */
static void set_head(hk__front_t *f, unsigned cls, hk__slab_t *s) {
  hk__slab_t *old = f->head[cls];
  if (f->pin && old != s) {
    if (old != EMPTY && old->pinned) { /* retire may have unpinned it */
      old->used--;
      __atomic_store_n(&old->pinned, 0, __ATOMIC_RELAXED); /* stats read it */
    }
    if (s != EMPTY && !f->unpinned[cls]) {
      s->used++;
      __atomic_store_n(&s->pinned, 1, __ATOMIC_RELAXED);
    }
  }
  f->head[cls] = s;
  if (!bin_mode(f, cls)) set_pop(f, cls, s);
}

/* Every queue and bin empty. The slabs are not touched (nor unpinned): the
 * front is new, or its heap is being destroyed with them, and its bins'
 * blocks with it. */
void hk__front_reset(hk__front_t *f) {
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) {
    set_pop(f, c, EMPTY);
    f->head[c] = EMPTY;
    f->tail[c] = NULL;
    f->nforeign[c] = 0;
    f->bin_idle[c] = 0;
  }
  if (f->bins != NULL) hk__bins_reset(f);
  hk__front_large_drop(f);
}

void hk__front_init(hk__front_t *f, hk__heap_t *heap, hk__thread_t *t) {
  hk__front_reset(f);
  f->heap = heap;
  f->handle = heap->handle;
  f->thread = t;
  f->pin = heap->pool.policy.keep_one_slab;
  f->lc_cap = hk__front_large_cap(&heap->pool.policy);
  f->lc_block_max = f->lc_cap < HK_LCACHE_BLOCK_MAX ? f->lc_cap : HK_LCACHE_BLOCK_MAX;
}

/* The front's memory besides the record itself (its bins). */
void hk__front_release(hk__front_t *f) {
  hk__meta_free(f->bins, HK_NUM_CLASSES * sizeof(hk__slab_t));
  f->bins = NULL;
}

/* ---- queue ------------------------------------------------------------------ */
static void q_push_head(hk__front_t *f, hk__slab_t *s) {
  hk__slab_t *head = f->head[s->cls];
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
  hk__slab_t *head = f->head[s->cls];
  s->prev = head;
  s->next = head->next;
  if (s->next) s->next->prev = s; else f->tail[s->cls] = s;
  head->next = s;
}

static void own(hk__front_t *f, hk__slab_t *s) {
  s->front = f;
  hk__slab_set_owner(s, f->thread->token, bin_mode(f, s->cls));
}

static void drain(hk__front_t *f, hk__slab_t *s) {
  uint32_t n = hk__slab_drain_xfree(s);
  if (n) hk__front_add_remote(f, n);
}

/* A full slab leaves the queue and belongs to nobody until a block of it is
 * freed; that free's CAS clears DETACHED, and the freer adopts the slab if
 * it is this thread, else hands it to the pool (tiny/bin.c). Returns false
 * if a remote free raced in: the slab stays ours. */
/* Ordering: the CAS releases this thread's writes to the slab to the freer
 * that clears DETACHED (its acquire: the fence in remote_push, or the
 * claim-back CAS); failing, it acquires the remote frees that raced in. */
static bool detach(hk__front_t *f, hk__slab_t *s) {
  s->front = NULL;
  atomic_store_explicit(&s->detached_by, f->thread->serial, memory_order_relaxed);
  hk__slab_set_owner(s, 0, false);
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
  if (s == NULL || s == f->head[cls]) return;
  drain(f, s);
  q_remove(f, s);
  if (s->used == 0) {
    s->front = NULL;
    hk__slab_set_owner(s, 0, false);
    hk__pool_give_back(&f->heap->pool, s);
  } else {
    q_insert_second(f, s);
  }
}

#ifdef HK_CHECKED
/* Checked build: s's free list is made of carved blocks of s, without a
 * cycle, and its use count is in range. */
static void check_slab(const hk__slab_t *s) {
  uint32_t n = 0;
  for (const hk__block_t *b = s->free; b != NULL; b = b->next) {
    const uint8_t *p = (const uint8_t *)b;
    if (p < s->start || p >= s->bump || (size_t)(p - s->start) % s->block_size != 0)
      hk__fatal_invalid("malloc", b, "corrupt free list at");
    if (++n > s->capacity) hk__fatal_invalid("malloc", b, "free list cycle at");
  }
  if (s->used > s->capacity + s->pinned) hk__fatal_invalid("malloc", s, "slab use count corrupt in");
}
#endif

/* s has free blocks: it becomes the head, and malloc pops from it, or in
 * bin mode from the bin, which gets all of them. */
static void *serve(hk__front_t *f, hk__slab_t *s) {
  unsigned cls = s->cls;
  if (f->head[cls] != s) {
    q_remove(f, s);
    q_push_head(f, s);
  }
#ifdef HK_CHECKED
  check_slab(s);
#endif
  if (bin_mode(f, cls)) hk__bin_fill(f->cur[cls], s);
  return hk__front_alloc(f, cls);
}

/* Bin mode for a class: on when the thread has freed HK_BIN_ENTER blocks
 * of it that other threads own since the class's last slow path (counted
 * only while the front has a queue for the class: it allocates it too;
 * tiny/free.c); off after HK_BIN_IDLE bin checks in a row found no such
 * free. In bin mode malloc pops from the bin and every free of the class
 * goes to it, the thread's own blocks too: the pointer map tags the
 * class's slabs (HK_MAP_BIN), so the owner fast path misses for all of
 * them alike, and free does not branch on whose block it has (an
 * unpredictable branch when the two kinds come mixed). */
static void retag(hk__front_t *f, unsigned cls, bool bin) {
  for (hk__slab_t *s = f->head[cls]; s != EMPTY; s = s->next ? s->next : EMPTY)
    hk__slab_set_owner(s, f->thread->token, bin);
}

/* The bin is empty when it is switched on: the head keeps its blocks. */
bool hk__front_bin_on(hk__front_t *f, unsigned cls) {
  if (f->bins == NULL) {
    f->bins = hk__meta_alloc(HK_NUM_CLASSES * sizeof(hk__slab_t));
    if (f->bins == NULL) return false; /* out of memory: slab mode still works */
    hk__bins_reset(f);
  }
  f->bin_idle[cls] = 0;
  f->bins[cls].bin_low = 0;
  set_pop(f, cls, &f->bins[cls]);
  retag(f, cls, true);
  return true;
}

static void bin_off(hk__front_t *f, unsigned cls) {
  hk__bin_empty(&f->bins[cls]); /* first: it may give back slabs of the queue */
  retag(f, cls, false);
  set_pop(f, cls, f->head[cls]);
}

/* Every HK_BIN_CHECK frees into the bin: a window of frees (not of time,
 * nor of refills, which can come a few mallocs apart) decides. */
void hk__bin_check(hk__slab_t *bin) {
  hk__front_t *f = bin->front;
  unsigned cls = bin->cls;
  if (hk__bin_count(bin) > 0) {
    f->bin_idle[cls] = 0;
  } else if (++f->bin_idle[cls] >= HK_BIN_IDLE) {
    f->bin_idle[cls] = 0;
    bin_off(f, cls);
  }
}

/* At a slow path of the class (in bin mode, a refill: the bin is dry). */
static void bin_switch(hk__front_t *f, unsigned cls) {
  f->nforeign[cls] = 0;
}

/* Leave bin mode in every class (its bins are empty): a flush, which
 * gives back every slab (untagged) too. */
static void bins_off(hk__front_t *f) {
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++)
    if (bin_mode(f, c)) set_pop(f, c, f->head[c]);
}

/* What malloc pops from ran dry. Blocks already freed come first, so memory
 * already touched is reused before fresh blocks are carved: each queued
 * slab, in order, gets its remote frees drained; the first with free
 * blocks serves, a full one leaves the queue (detach). Then the first slab
 * that can carve serves; then the pool gives one (a PARTIAL slab first). */
hk_noinline void *hk__front_alloc_slow(hk__front_t *f, unsigned cls) {
  if (hk_unlikely(atomic_load_explicit(&f->flush_req, memory_order_relaxed))) {
    atomic_store_explicit(&f->flush_req, false, memory_order_relaxed);
    hk__front_flush(f);
  }
  if (hk_unlikely(f->unpinned[cls])) { /* allocating the class again: pin its head */
    f->unpinned[cls] = 0;
    hk__slab_t *h = f->head[cls];
    if (f->pin && h != EMPTY && !h->pinned) {
      h->used++;
      __atomic_store_n(&h->pinned, 1, __ATOMIC_RELAXED);
    }
  }
  bin_switch(f, cls);
  sweep_tail(f, cls);
  for (;;) {
    for (hk__slab_t *s = f->head[cls], *next; s != EMPTY; s = next) {
      next = s->next ? s->next : EMPTY;
      drain(f, s);
      if (s->free != NULL) return serve(f, s);
      if (s->bump < s->end) continue; /* fresh blocks left: second round */
      q_remove(f, s);
      if (!detach(f, s)) { /* a remote free raced in: s has blocks again */
        q_push_head(f, s);
        drain(f, s);
        return serve(f, s);
      }
    }
    if (bin_mode(f, cls)) { /* before fresh blocks: a chain another bin had no room for */
      uint32_t n;
      hk__block_t *chain = hk__depot_take(&f->heap->pool, cls, &n);
      if (chain != NULL) {
        hk__bin_fill_chain(f->cur[cls], chain, n);
        return hk__front_alloc(f, cls);
      }
    }
    for (hk__slab_t *s = f->head[cls]; s != EMPTY; s = s->next ? s->next : EMPTY)
      if (hk__slab_carve(s)) return serve(f, s);
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
  hk__slab_t *head = f->head[s->cls];
  q_remove(f, s);
  s->front = NULL;
  hk__slab_set_owner(s, 0, false);
  hk__pool_give_back(pool, s);
  /* Another slab of the class emptied: the thread is freeing more than it
   * allocates (the end of a burst), not toggling one block, so the head
   * loses its pin and goes back too once it empties, and so does any head
   * after it until the thread allocates the class again. Else it would
   * keep a whole slab of free blocks, its pages resident, for as long as
   * the thread lives, out of reach of trim and purge by other threads. */
  if (head == s || !f->pin) return;
  f->unpinned[s->cls] = 1;
  if (head->pinned) {
    __atomic_store_n(&head->pinned, 0, __ATOMIC_RELAXED);
    if (--head->used == 0) hk__slab_retire(head);
  }
}

/* Hand every bin's blocks home and every owned slab back to the pool
 * (thread exit, trim). */
void hk__front_flush(hk__front_t *f) {
  if (f->heap == NULL) return;
  hk__front_large_flush(f);
  hk__pool_t *pool = &f->heap->pool;
  hk__bin_flush(f); /* first: its blocks may go to this front's own slabs */
  bins_off(f);
  pthread_mutex_lock(&pool->lock);
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) {
    while (f->head[c] != EMPTY) {
      hk__slab_t *s = f->head[c];
      q_remove(f, s);
      s->front = NULL;
      hk__slab_set_owner(s, 0, false);
      drain(f, s);
      hk__pool_give_back_locked(pool, s);
    }
    f->nforeign[c] = 0;
  }
  pthread_mutex_unlock(&pool->lock);
  uint64_t n = atomic_load_explicit(&f->remote_frees, memory_order_relaxed);
  if (n != 0) {
    atomic_fetch_add_explicit(&pool->remote_frees, n, memory_order_relaxed);
    atomic_store_explicit(&f->remote_frees, 0, memory_order_relaxed);
  }
}

/* s, claimed by clearing DETACHED, is adopted into f, the front of the
 * thread that detached it: it has no owner and is on no list. Behind the
 * head while the head still has free blocks: the head keeps serving while
 * s collects the frees that follow (now owner frees, on the fast path), and
 * a slow path finds s before it carves. Made the head, s would run dry
 * after its one block and be detached again: a detach/adopt cycle per
 * block when one class's blocks are freed at random (bench_random_mixed
 * 400 slots, 1000 B: 61 instead of 88 Ir/op). A head with no free block
 * would send the next malloc to the slow path anyway, so s, nearly full,
 * serves first: filling the fullest slabs first lets the others empty
 * (random_mixed_medium peak RSS 6.0 MiB, 6.3 always behind the head, 5.4
 * always first but with the cycles). */
void hk__slab_adopt(hk__front_t *f, hk__slab_t *s) {
  own(f, s);
  drain(f, s);
  if (s->used == 0) {
    s->front = NULL;
    hk__slab_set_owner(s, 0, false);
    hk__pool_give_back(&f->heap->pool, s);
    return;
  }
  hk__slab_t *head = f->head[s->cls];
  if (head == EMPTY || head->free == NULL) q_push_head(f, s);
  else q_insert_second(f, s);
}
