/* A heap's SuperSlab pool, its slabs: formats SuperSlabs into slabs for
 * size classes, keeps FREE slabs and unowned PARTIAL slabs, hands slabs to
 * fronts and takes them back, carves and drains their blocks. SuperSlabs
 * come from and go back to superslab/mapping.c. Every function that
 * touches pool lists runs under pool->lock; fronts call in only on slow
 * paths. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#ifdef HK_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* ---- intrusive lists ------------------------------------------------------- */
static void slab_push(hk__slab_t **head, hk__slab_t *s) {
  s->prev = NULL;
  s->next = *head;
  if (*head) (*head)->prev = s;
  *head = s;
}
static void slab_remove(hk__slab_t **head, hk__slab_t *s) {
  if (s->prev) s->prev->next = s->next; else *head = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
}

/* PARTIAL slabs queue oldest first, so every one of them is reused in turn
 * (a LIFO would leave the oldest, often emptied by remote frees, parked). */
static void partial_append(hk__pool_t *pool, hk__slab_t *s) {
  hk__slab_t **tail = &pool->partial_tail[s->cls];
  s->next = NULL;
  s->prev = *tail;
  if (*tail) (*tail)->next = s; else pool->partial[s->cls] = s;
  *tail = s;
  pool->n_partial++;
}
static void partial_remove(hk__pool_t *pool, hk__slab_t *s) {
  if (s->prev) s->prev->next = s->next; else pool->partial[s->cls] = s->next;
  if (s->next) s->next->prev = s->prev; else pool->partial_tail[s->cls] = s->prev;
  s->next = s->prev = NULL;
  pool->n_partial--;
}

static unsigned kind_of_class(unsigned cls) {
  return hk__class_size[cls] <= HK_SMALL_BLOCK_MAX ? HK_KIND_SMALL : HK_KIND_MID;
}
static size_t slab_bytes(const hk__slab_t *s) { return (size_t)s->capacity * s->block_size; }

/* A slab's region: from its base (after the header for slab 0) to the
 * next slab. Its blocks start a colour offset past the base. */
static uint8_t *slab_base(const hk__slab_t *s, uint8_t **end) {
  hk__ss_t *ss = s->ss;
  unsigned idx = hk__slab_index(s);
  *end = (uint8_t *)ss + ((size_t)(idx + 1) << ss->slab_shift);
  return (uint8_t *)ss + (idx == 0 ? HK_SS_HEADER_SIZE : (size_t)idx << ss->slab_shift);
}

/* The whole OS pages of a slab's region: what a per-slab decommit covers
 * (with pages above 8 KiB, slab 0's first page holds the header and
 * stays). The end is a slab boundary, 64 KiB aligned, so a page one. */
static uint8_t *slab_pages(const hk__slab_t *s, size_t *len) {
  uint8_t *end;
  uint8_t *lo = (uint8_t *)hk__os_page_up((uintptr_t)slab_base(s, &end));
  *len = end > lo ? (size_t)(end - lo) : 0;
  return lo;
}

/* Cache colouring. Slab bases are 64 KiB aligned and the blocks a class
 * reuses most are its first ones, so without an offset the first blocks of
 * every slab fall into the same few L1 sets. The offset varies with class
 * and slab, comes out of the bytes the region leaves over after its last
 * whole block (so it costs no block), and is a multiple of 64 and of the
 * block size's lowest set bit, so blocks keep the alignment aligned_alloc
 * relies on. */
static size_t slab_colour(const hk__slab_t *s, unsigned cls, uint32_t bsize, size_t region) {
  size_t unit = bsize & (~bsize + 1u);
  if (unit < 64) unit = 64;
  size_t spare = region % bsize;
  if (spare < unit) return 0;
  size_t steps = spare / unit + 1; /* offsets 0, unit, ..., <= spare */
  size_t pick = ((size_t)cls * 37u + (size_t)hk__slab_index(s) * 11u +
                 (((uintptr_t)s->ss >> HK_SS_SHIFT) * 5u)) % steps;
  return pick * unit;
}

/* ---- SuperSlab creation and formatting ------------------------------------------ */
/* (Re)lays out an all-FREE SuperSlab for a kind: its slabs' records. The
 * caller enters them in the pointer map (new: insert; else: update). */
static void ss_layout(hk__ss_t *ss, unsigned kind) {
  unsigned shift = kind == HK_KIND_SMALL ? HK_SMALL_SLAB_SHIFT : HK_MID_SLAB_SHIFT;
  ss->kind = (uint8_t)kind;
  ss->slab_shift = (uint8_t)shift;
  ss->nslabs = (uint16_t)(HK_SS_SIZE >> shift);
  ss->used_slabs = 0;
  memset(ss->slabs, 0, HK_SS_GRANULES * sizeof(hk__slab_t));
  for (unsigned i = 0; i < ss->nslabs; i++) {
    hk__slab_t *s = hk__ss_slab(ss, i);
    uint8_t *end;
    s->ss = ss;
    s->flags = ss->pool->default_heap ? HK_SLAB_DEFAULT_HEAP : 0;
    s->start = s->fstart = slab_base(s, &end);
    s->end = s->start; /* no blocks until formatted */
    s->state = HK_SLAB_FREE;
    s->dirty = 1;
  }
}

static void ss_slabs_to_free_list(hk__pool_t *pool, hk__ss_t *ss) {
  for (unsigned i = ss->nslabs; i-- > 0;) slab_push(&pool->free_slabs[ss->kind], hk__ss_slab(ss, i));
}

static hk__ss_t *ss_new(hk__pool_t *pool, unsigned kind) {
  hk__ss_t *ss = hk__ss_map(pool, HK_SS_SIZE);
  if (ss == NULL) return NULL;
  ss_layout(ss, kind);
  if (!hk__ss_enter(pool, ss)) return NULL;
  pool->n_superslabs++;
  hk__ss_commit(pool, ss, (ptrdiff_t)HK_SS_SIZE);
  return ss;
}

/* Blocks per carve: a page's worth, and for blocks of 1-8 KiB up to 4 of
 * them (at most HK_CARVE_MAX_BYTES), so a run of 4 KiB mallocs takes the
 * slow path once per 4 blocks, not per block, while small classes still
 * touch one page at a time (65 classes * 3 more pages would cost
 * random_mixed about 0.8 MiB). */
static uint32_t carve_blocks(uint32_t bsize) {
  uint32_t n = HK_CARVE_BYTES / bsize, more = HK_CARVE_MAX_BYTES / bsize;
  if (more > 4) more = 4;
  if (n < more) n = more;
  return n > 0 ? n : 1;
}

/* div_limit and the owner's copy of it change together (see hk__slab_t). */
static void slab_set_limit(hk__slab_t *s, uint64_t limit) {
  s->flimit = limit;
  __atomic_store_n(&s->div_limit, limit, __ATOMIC_RELAXED);
}

static void slab_format(hk__slab_t *s, unsigned cls) {
  uint8_t *region_end;
  uint8_t *base = slab_base(s, &region_end);
#ifdef HK_ASAN
  /* Blocks of the slab's former class may still be poisoned. */
  ASAN_UNPOISON_MEMORY_REGION(base, (size_t)(region_end - base));
#endif
  uint32_t bsize = hk__class_size[cls];
  s->start = s->fstart = base + slab_colour(s, cls, bsize, (size_t)(region_end - base));
  s->cls = (uint8_t)cls;
  s->block_size = bsize;
  s->capacity = (uint16_t)((size_t)(region_end - s->start) / bsize);
  s->bump = s->start;
  s->carved = 0;
  s->end = s->start + (size_t)s->capacity * bsize;
  s->carve_n = carve_blocks(bsize);
  /* e = magic * bsize mod 2^64 is in [1, bsize]; for a power of two the
   * rounded-up magic is exact (e = 0), so one more keeps the test exact and
   * the bound (k * e < carved * e) meaningful. */
  uint64_t magic = UINT64_MAX / bsize + 1;
  if (magic * bsize == 0) magic++;
  s->div_magic = s->fmagic = magic;
  slab_set_limit(s, 0); /* grows as blocks are carved */
  s->free = NULL;
  s->used = 0;
  atomic_store_explicit(&s->xfree, 0, memory_order_relaxed);
  atomic_store_explicit(&s->owner, 0, memory_order_relaxed);
  s->dirty = 1;
}

/* ---- empty SuperSlabs ----------------------------------------------------------- */
/* Its last slab went FREE: out of the slab lists, kept for reuse
 * (superslab/mapping.c), and the policy applied. */
static void ss_became_empty(hk__pool_t *pool, hk__ss_t *ss) {
  for (unsigned i = 0; i < ss->nslabs; i++) slab_remove(&pool->free_slabs[ss->kind], hk__ss_slab(ss, i));
  hk__ss_list_remove(&pool->in_use, ss);
  hk__ss_retain(pool, ss);
  hk__pool_enforce(pool);
}

/* A retained SuperSlab laid out for kind, or NULL if none is kept. */
static hk__ss_t *take_empty_ss(hk__pool_t *pool, unsigned kind) {
  hk__ss_t *ss = hk__ss_reuse(pool);
  if (ss != NULL && ss->kind != kind) {
    ss_layout(ss, kind);
    hk__map_update(ss);
  }
  return ss;
}

/* ---- acquire / give back ------------------------------------------------------------ */
/* Remote frees into a PARTIAL slab wait in its xfree list until someone
 * drains it. Each acquire drains the oldest partial slab of one class, round
 * robin, and frees it if that emptied it: slabs of classes nobody allocates
 * any more do not hold memory for ever. Lock held. */
static void sweep_partial(hk__pool_t *pool) {
  for (unsigned i = 0; pool->n_partial > 0 && i < HK_NUM_CLASSES; i++) {
    unsigned c = pool->sweep_cls;
    pool->sweep_cls = (c + 1) % HK_NUM_CLASSES;
    hk__slab_t *s = pool->partial[c];
    if (s == NULL) continue;
    hk__pool_drain(pool, s);
    if (s->used == 0) {
      partial_remove(pool, s);
      hk__pool_give_back_locked(pool, s);
    }
    return;
  }
}

hk__slab_t *hk__pool_acquire(hk__pool_t *pool, unsigned cls) {
  pthread_mutex_lock(&pool->lock);
  sweep_partial(pool);
  hk__slab_t *s = pool->partial[cls];
  if (s != NULL) {
    partial_remove(pool, s);
    s->state = HK_SLAB_OWNED;
    pthread_mutex_unlock(&pool->lock);
    return s;
  }
  unsigned kind = kind_of_class(cls);
  if (pool->free_slabs[kind] == NULL) {
    hk__ss_t *ss = take_empty_ss(pool, kind);
    if (ss == NULL) ss = ss_new(pool, kind);
    if (ss == NULL) {
      pthread_mutex_unlock(&pool->lock);
      return NULL;
    }
    hk__ss_list_push(&pool->in_use, ss);
    ss_slabs_to_free_list(pool, ss);
  }
  s = pool->free_slabs[kind];
  slab_remove(&pool->free_slabs[kind], s);
  s->ss->used_slabs++;
  if (!s->dirty) { /* decommitted alone by a trim: it commits again as it is touched */
    size_t len;
    slab_pages(s, &len);
    hk__ss_commit(pool, s->ss, (ptrdiff_t)len);
  }
  slab_format(s, cls);
  s->state = HK_SLAB_OWNED;
  pool->active += slab_bytes(s);
  if (pool->active > pool->peak_active) pool->peak_active = pool->active;
  if (pool->empty.n > 0) hk__pool_enforce(pool); /* delayed decommits come due here */
  pthread_mutex_unlock(&pool->lock);
  return s;
}

void hk__pool_give_back_locked(hk__pool_t *pool, hk__slab_t *s) {
  if (s->used != 0) {
    s->state = HK_SLAB_PARTIAL;
    partial_append(pool, s);
    return;
  }
  hk__ss_t *ss = s->ss;
  pool->active -= slab_bytes(s);
  s->state = HK_SLAB_FREE;
  s->free_since_ms = hk__os_now_ms(&pool->os) | 1; /* 0: never used */
  hk__purge_note(pool, pool->policy.decommit_delay_ms);
  s->free = NULL;
  s->end = s->start;
  slab_set_limit(s, 0);
  slab_push(&pool->free_slabs[ss->kind], s);
  if (--ss->used_slabs == 0) ss_became_empty(pool, ss);
}

void hk__pool_give_back(hk__pool_t *pool, hk__slab_t *s) {
  pthread_mutex_lock(&pool->lock);
  hk__pool_give_back_locked(pool, s);
  pthread_mutex_unlock(&pool->lock);
}

/* ---- prewarm and trim ------------------------------------------------------------------ */
bool hk__pool_prewarm(hk__pool_t *pool) {
  size_t n = hk__policy_prewarm_superslabs(&pool->policy);
  bool ok = true;
  pthread_mutex_lock(&pool->lock);
  for (size_t i = 0; i < n; i++) {
    hk__ss_t *ss = ss_new(pool, HK_KIND_SMALL);
    if (ss == NULL) { ok = false; break; }
    if (pool->policy.prewarm_touch) {
      for (size_t off = HK_SS_HEADER_SIZE; off < HK_SS_SIZE; off += HK_PAGE)
        ((volatile uint8_t *)ss)[off] = 0;
    }
    hk__ss_retain(pool, ss);
  }
  pthread_mutex_unlock(&pool->lock);
  return ok;
}

/* Unowned partial slabs that remote frees emptied go back. Lock held. */
static void drain_partials(hk__pool_t *pool) {
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) {
    for (hk__slab_t *s = pool->partial[c], *n; s != NULL; s = n) {
      n = s->next;
      hk__pool_drain(pool, s);
      if (s->used == 0) {
        partial_remove(pool, s);
        hk__pool_give_back_locked(pool, s);
      }
    }
  }
}

/* FREE slabs inside SuperSlabs still in use whose pages were touched and
 * that have been free since before `before` (UINT64_MAX: all of them;
 * else only slabs used since their layout, free_since_ms set) are
 * decommitted; the bytes, and in *next when the first of the others is
 * due (UINT64_MAX: none). Lock held. */
static size_t decommit_free_slabs(hk__pool_t *pool, hk_decommit_t how, uint64_t before,
                                  uint64_t delay, uint64_t *next) {
  size_t released = 0;
  *next = UINT64_MAX;
  for (hk__ss_t *ss = pool->in_use.head; ss != NULL; ss = ss->next) {
    for (unsigned i = 0; i < ss->nslabs; i++) {
      hk__slab_t *s = hk__ss_slab(ss, i);
      if (s->state != HK_SLAB_FREE || !s->dirty) continue;
      if (before != UINT64_MAX) {
        if (s->free_since_ms == 0) continue; /* never used since its layout: untouched */
        if (s->free_since_ms > before) {
          if (s->free_since_ms + delay < *next) *next = s->free_since_ms + delay;
          continue;
        }
      }
      size_t len;
      uint8_t *lo = slab_pages(s, &len);
      if (hk__os_decommit(&pool->os, lo, len, how)) {
        s->dirty = 0;
        hk__ss_commit(pool, ss, -(ptrdiff_t)len);
        released += len;
      }
    }
  }
  return released;
}

size_t hk__pool_trim(hk__pool_t *pool) {
  hk_decommit_t how = hk__policy_trim_advice(&pool->policy);
  pthread_mutex_lock(&pool->lock);
  drain_partials(pool);
  size_t released = hk__pool_release_retained(pool);
  uint64_t next;
  released += decommit_free_slabs(pool, how, UINT64_MAX, 0, &next);
  pthread_mutex_unlock(&pool->lock);
  return released;
}

/* The idle purge of slabs (lock held): what remote frees emptied goes
 * back, free slabs free for the decommit delay are decommitted; when the
 * next one is due. */
uint64_t hk__pool_purge_slabs(hk__pool_t *pool, uint64_t now) {
  const hk__policy_t *pol = &pool->policy;
  drain_partials(pool);
  if (pol->decommit == HK_DECOMMIT_OFF) return UINT64_MAX;
  uint64_t next, delay = pol->decommit_delay_ms;
  decommit_free_slabs(pool, pol->decommit, now >= delay ? now - delay : 0, delay, &next);
  return next;
}

/* ---- slab block lists (owner, or pool lock for unowned slabs) ------------------------ */
bool hk__slab_carve(hk__slab_t *s) {
  uint8_t *p = s->bump;
  if (p >= s->end) return false;
  size_t bsize = s->block_size, n = s->carve_n;
  /* No division but at a slab's last carve: three divisions per carve
   * were half its cost when 4 KiB blocks were carved one at a time. */
  if ((size_t)(s->end - p) < n * bsize) n = (size_t)(s->end - p) / bsize;
  hk__block_t *head = s->free;
  /* Link back to front so the list hands out ascending addresses. Keyed
   * like freed blocks, so a free of a carved block is a double free. */
  for (size_t i = n; i-- > 0;) {
    hk__block_t *b = (hk__block_t *)(p + i * bsize);
    b->next = head;
    b->key = hk__slab_key(s);
#ifdef HK_CHECKED
    hk__poison(b, bsize); /* malloc checks every keyed block's fill */
#endif
    head = b;
  }
  s->free = head;
  s->bump = p + n * bsize;
  s->carved += (uint32_t)n;
  /* Only carved blocks pass free's boundary test: a never-carved address
   * is not a block yet, and freeing it would list it twice. The bound is
   * carved * e (mod 2^64; see hk__slab_t), so it grows by n * e. */
  slab_set_limit(s, s->flimit + n * (s->div_magic * bsize));
  return true;
}

/* Ordering: the acquire exchange pairs with the release CASes that pushed
 * the blocks (tiny/free.c remote_push, tiny/bin.c), so their links and
 * contents are read as the freers left them. The relaxed test before it
 * only saves the exchange when the word is 0. */
uint32_t hk__slab_drain_xfree(hk__slab_t *s) {
  if (atomic_load_explicit(&s->xfree, memory_order_relaxed) == 0) return 0;
  uintptr_t word = atomic_exchange_explicit(&s->xfree, 0, memory_order_acquire);
  hk__block_t *b = (hk__block_t *)(word & HK_XFREE_LIST_MASK);
  if (b == NULL) return 0;
  /* Remote frees keyed the blocks already (the key is the slab's). The
   * word counts them, so only a non-empty free list needs the list's tail. */
  uint32_t n = (uint32_t)(word >> HK_XFREE_COUNT_SHIFT);
  if (s->free != NULL) {
    hk__block_t *tail = b;
    while (tail->next != NULL) tail = tail->next;
    tail->next = s->free;
  }
  s->free = b;
  s->used -= n;
  return n;
}

void hk__pool_drain(hk__pool_t *pool, hk__slab_t *s) {
  uint32_t n = hk__slab_drain_xfree(s);
  if (n) atomic_fetch_add_explicit(&pool->remote_frees, n, memory_order_relaxed);
}
