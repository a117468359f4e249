/* Bins: reuse of other threads' blocks by the thread that frees them.
 *
 * A free by a thread that does not own the block's slab is a remote free.
 * Pushed onto the slab's xfree list (one CAS on a line the owner also
 * writes), the block then waits for the owner to drain it, and both the
 * push and the owner's next read of the block cross between cores. Where
 * the freeing thread also allocates the class, it keeps the block instead:
 * its front switches the class to bin mode (front.c), malloc pops from the
 * class's bin (a record shaped like a slab's, so the fast path is the
 * same), and such frees push onto the bin (hk__bin_push) with no atomic,
 * touching only the bin's first line and the block. Blocks the thread
 * frees into its own slabs still go home on the fast path; a refill moves
 * a slab's whole free list into the bin (O(1): the list's length is
 * carved + pinned - used).
 *
 * Invariants:
 *   - a bin holds blocks of its front's heap and class only, each keyed
 *     with its own slab's key (a second free of it is a double free,
 *     whoever makes it), and each still counted in its slab's `used`: a
 *     slab cannot empty, or be given back, while a bin holds its blocks;
 *   - -bin->used is how many blocks the bin holds (pops count up, pushes
 *     down). The bin is LIFO and only a refill of an empty bin puts the
 *     thread's own blocks in it, so the blocks below bin_low (the fewest it
 *     held since that refill: between two pushes a bin only shrinks) are
 *     the refill's, and the held - bin_low above are other threads':
 *     never more than bin_max (a trim sends the older ones home);
 *   - a trim's surplus goes to the heap's depot as one chain (one lock),
 *     for the next bin of the class that runs dry; with the depot full it
 *     goes home, in chains per slab: one CAS onto xfree per chain, or
 *     straight onto the free list of a slab the thread owns by then.
 * A flush (thread exit, hk_heap_trim) sends every bin home, and
 * hk_heap_trim the depot too; a destroyed heap's bins are emptied
 * (hk__front_reset) and its depot dropped without touching their blocks. */
#include "internal.h"

#include "tiny/front_inline.h"

/* Other threads' blocks a bin of class cls may hold: HK_BIN_BYTES worth,
 * at least HK_BIN_MIN and at most HK_BIN_MAX. */
static uint32_t bin_limit(unsigned cls) {
  uint32_t n = HK_BIN_BYTES / hk__class_size[cls];
  return n < HK_BIN_MIN ? HK_BIN_MIN : n > HK_BIN_MAX ? HK_BIN_MAX : n;
}

void hk__bins_reset(hk__front_t *f) {
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) {
    hk__slab_t *bin = &f->bins[c];
    bin->free = NULL;
    bin->used = 0;
    bin->cls = (uint8_t)c;
    bin->state = HK_SLAB_BIN;
    bin->block_size = hk__class_size[c];
    bin->front = f;
    bin->bin_low = 0;
    bin->bin_max = bin_limit(c);
    bin->bin_until_check = HK_BIN_CHECK;
    bin->bin_foreign = 0;
  }
}

/* ---- blocks going home ------------------------------------------------------ */
/* A chain of n blocks of slab s, first..last. */
typedef struct chain_s {
  hk__slab_t *s;
  hk__block_t *first, *last;
  uint32_t n;
} chain_t;

/* Remote frees counted twice unless taken back: once when freed into a
 * bin, again when the owner drains them. f may be NULL (a trim's depot). */
static void uncount(hk__front_t *f, hk__slab_t *s, uint32_t n) {
  if (f != NULL) hk__front_add_remote(f, -(int64_t)n);
  else atomic_fetch_sub_explicit(&s->ss->pool->remote_frees, n, memory_order_relaxed);
}

static void send(hk__front_t *f, const chain_t *c) {
  hk__slab_t *s = c->s;
  if (atomic_load_explicit(&s->owner, memory_order_relaxed) == hk__self_token()) {
    /* The thread took the slab since: an owner free of n blocks. */
    c->last->next = s->free;
    s->free = c->first;
    s->used -= c->n;
    if (s->used == 0) hk__slab_retire(s);
    return;
  }
  uncount(f, s, c->n);
  /* Ordering as remote_push (tiny/free.c): release publishes the chain's
   * links to the drain; the fence pairs with the detacher's CAS. */
  uintptr_t old = atomic_load_explicit(&s->xfree, memory_order_relaxed);
  do {
    c->last->next = (hk__block_t *)(old & HK_XFREE_LIST_MASK);
  } while (!atomic_compare_exchange_weak_explicit(
      &s->xfree, &old,
      (uintptr_t)c->first + (old & ~HK_XFREE_LIST_MASK & ~HK_XFREE_DETACHED) +
          (uintptr_t)c->n * HK_XFREE_ONE,
      memory_order_release, memory_order_relaxed));
  if (hk_unlikely(old & HK_XFREE_DETACHED)) {
    atomic_thread_fence(memory_order_acquire);
    hk__slab_place(s, f);
  }
}

#define HOME_WAYS 16 /* chains collected at once: a direct-mapped table by slab */

/* Sends a NULL-terminated list of blocks (of f's heap) home, gathered into
 * one chain per slab as far as HOME_WAYS entries allow. */
static void blocks_home(hk__front_t *f, hk__block_t *list) {
  chain_t way[HOME_WAYS] = {{0}};
  while (list != NULL) {
    hk__block_t *b = list;
    list = b->next;
    hk__slab_t *s = hk__map_slab(b);
    chain_t *c = &way[((uintptr_t)s / sizeof(hk__slab_t)) % HOME_WAYS];
    if (c->s != s) {
      if (c->s != NULL) send(f, c);
      *c = (chain_t){.s = s, .last = b};
    }
    b->next = c->first;
    c->first = b;
    c->n++;
  }
  for (unsigned i = 0; i < HOME_WAYS; i++)
    if (way[i].s != NULL) send(f, &way[i]);
}

/* ---- the depot ---------------------------------------------------------------- */
_Static_assert(HK_NUM_CLASSES * sizeof(hk__depot_t) <= 16384, "a heap's depot is one meta block");

static hk__depot_t *depot_of(hk__pool_t *pool) {
  hk__depot_t *d = atomic_load_explicit(&pool->depot, memory_order_acquire);
  if (d != NULL) return d;
  d = hk__meta_alloc(HK_NUM_CLASSES * sizeof *d);
  if (d == NULL) return NULL;
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) pthread_mutex_init(&d[c].lock, NULL);
  hk__depot_t *none = NULL;
  if (!atomic_compare_exchange_strong_explicit(&pool->depot, &none, d, memory_order_acq_rel,
                                               memory_order_acquire)) {
    hk__meta_free(d, HK_NUM_CLASSES * sizeof *d); /* another thread made it first */
    d = none;
  }
  return d;
}

static bool depot_put(hk__pool_t *pool, unsigned cls, hk__block_t *head, uint32_t n) {
  hk__depot_t *d = depot_of(pool);
  if (d == NULL) return false;
  d += cls;
  if (atomic_load_explicit(&d->n, memory_order_relaxed) == HK_DEPOT_BATCHES) return false;
  bool ok = false;
  pthread_mutex_lock(&d->lock);
  uint32_t i = atomic_load_explicit(&d->n, memory_order_relaxed);
  if (i < HK_DEPOT_BATCHES) {
    d->chain[i].head = head;
    d->chain[i].count = n;
    atomic_store_explicit(&d->n, i + 1, memory_order_release);
    atomic_fetch_add_explicit(&d->blocks, n, memory_order_relaxed);
    ok = true;
  }
  pthread_mutex_unlock(&d->lock);
  if (ok && pool->policy.background_purge) {
    /* Not under the pool lock: the fence orders the put before the read
     * of the purger's plan (superslab/purge.c). */
    atomic_thread_fence(memory_order_seq_cst);
    hk__purge_note(pool, pool->policy.decommit_delay_ms);
  }
  return ok;
}

hk__block_t *hk__depot_take(hk__pool_t *pool, unsigned cls, uint32_t *n) {
  hk__depot_t *d = atomic_load_explicit(&pool->depot, memory_order_acquire);
  if (d == NULL) return NULL;
  d += cls;
  if (atomic_load_explicit(&d->n, memory_order_relaxed) == 0) return NULL;
  hk__block_t *head = NULL;
  pthread_mutex_lock(&d->lock);
  uint32_t i = atomic_load_explicit(&d->n, memory_order_relaxed);
  if (i > 0) {
    head = d->chain[i - 1].head;
    *n = d->chain[i - 1].count;
    atomic_store_explicit(&d->n, i - 1, memory_order_release);
    atomic_fetch_sub_explicit(&d->blocks, *n, memory_order_relaxed);
  }
  pthread_mutex_unlock(&d->lock);
  return head;
}

void hk__depot_flush(hk__pool_t *pool, hk__front_t *f) {
  hk__depot_t *d = atomic_load_explicit(&pool->depot, memory_order_acquire);
  if (d == NULL) return;
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) {
    uint32_t n;
    hk__block_t *list;
    while ((list = hk__depot_take(pool, c, &n)) != NULL) blocks_home(f, list);
  }
}

void hk__depot_destroy(hk__pool_t *pool) {
  hk__depot_t *d = atomic_load_explicit(&pool->depot, memory_order_acquire);
  if (d == NULL) return;
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) pthread_mutex_destroy(&d[c].lock);
  hk__meta_free(d, HK_NUM_CLASSES * sizeof *d);
  atomic_store_explicit(&pool->depot, NULL, memory_order_relaxed);
}

/* In the child of a fork, where a thread that no longer exists may have
 * held a depot lock. Its holder left the depot consistent after every
 * store: a put writes its chain before the count that publishes it, a take
 * reads its chain before the count that drops it (in the child that chain
 * is the depot's again: the taker is gone). */
void hk__depot_after_fork(hk__pool_t *pool) {
  hk__depot_t *d = atomic_load_explicit(&pool->depot, memory_order_acquire);
  if (d == NULL) return;
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) pthread_mutex_init(&d[c].lock, NULL);
}

size_t hk__depot_blocks(hk__pool_t *pool, unsigned cls) {
  hk__depot_t *d = atomic_load_explicit(&pool->depot, memory_order_acquire);
  return d != NULL ? atomic_load_explicit(&d[cls].blocks, memory_order_relaxed) : 0;
}

/* ---- the entry points ---------------------------------------------------------- */
/* The bin holds more than bin_max blocks above its refill's: the newest
 * bin_max / 2 stay (they are the ones in cache), the older ones go to the
 * depot as one chain, or home if it is full. */
hk_noinline void hk__bin_trim(hk__slab_t *bin) {
  uint32_t above = (0u - bin->used) - bin->bin_low, keep = bin->bin_max / 2;
  hk__block_t *cut = bin->free;
  for (uint32_t i = 1; i < keep; i++) cut = cut->next;
  hk__block_t *rest = cut->next;
  if (bin->bin_low == 0) { /* all of the rest: no walk over the older, colder blocks */
    cut->next = NULL;
  } else {
    hk__block_t *last = rest;
    for (uint32_t i = keep + 1; i < above; i++) last = last->next;
    cut->next = last->next;
    last->next = NULL;
  }
  bin->used += above - keep;
  hk__front_t *f = bin->front;
  if (!depot_put(&f->heap->pool, bin->cls, rest, above - keep)) blocks_home(f, rest);
}

/* A chain from the depot into the (empty) bin: none of it is the refill's. */
void hk__bin_fill_chain(hk__slab_t *bin, hk__block_t *head, uint32_t n) {
  bin->free = head;
  bin->used -= n;
  bin->bin_low = 0;
}

void hk__bin_fill(hk__slab_t *bin, hk__slab_t *s) {
  uint32_t n = s->carved + s->pinned - s->used;
  bin->free = s->free;
  bin->used -= n;
  bin->bin_low = n;
  s->free = NULL;
  s->used += n;
}

uint32_t hk__bin_count(hk__slab_t *bin) {
  uint32_t n = bin->bin_foreign;
  bin->bin_foreign = 0;
  bin->bin_until_check = HK_BIN_CHECK;
  if (n) hk__front_add_remote(bin->front, n);
  return n;
}

void hk__bin_empty(hk__slab_t *bin) {
  hk__bin_count(bin);
  hk__block_t *list = bin->free;
  bin->free = NULL;
  bin->used = 0;
  bin->bin_low = 0;
  if (list != NULL) blocks_home(bin->front, list);
}

void hk__bin_flush(hk__front_t *f) {
  if (f->bins == NULL) return;
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) hk__bin_empty(&f->bins[c]);
}

/* The caller cleared DETACHED on s (its free went onto xfree): adopted back
 * by the thread that detached it, else handed to the pool, where whoever
 * allocates the class next takes it. A thread that only frees thus never
 * owns a slab, and remote frees into s are never left with a thread that
 * would not drain them. */
void hk__slab_place(hk__slab_t *s, hk__front_t *f) {
  if (f != NULL && f->thread->serial ==
                       atomic_load_explicit(&s->detached_by, memory_order_relaxed)) {
    hk__slab_adopt(f, s);
    return;
  }
  hk__pool_t *pool = s->ss->pool;
  pthread_mutex_lock(&pool->lock);
  hk__pool_drain(pool, s);
  hk__pool_give_back_locked(pool, s);
  pthread_mutex_unlock(&pool->lock);
}
