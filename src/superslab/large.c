/* Blocks above HK_MID_MAX (and over-aligned ones). Up to HK_AREA_BLOCK_MAX
 * they are runs of a large area (superslab/area.c), with a record of their
 * own in a meta block: a one-slab LARGE SuperSlab header that is no
 * mapping (ss->area set), entered in the pointer map for the granule the
 * block starts in. A freed run stays resident for the next blocks that
 * fit, as the heap's policy allows; realloc grows and shrinks it in place
 * where it can. Bigger blocks (or alignments of HK_AREA_MIN and more, or
 * any block when no area can be reserved) get a LARGE SuperSlab mapping
 * of their own, its header in the mapping; those freed wait in the region
 * cache (superslab/mapping.c), and realloc remaps them instead of copying. */
#include "internal.h"

#include <errno.h>
#include <string.h>


/* Bytes to map for a block of size at offset in its SuperSlab (whole OS
 * pages), or 0 if that overflows. */
static size_t map_need(size_t offset, size_t size) {
  if (size > SIZE_MAX - offset - HK_SS_SIZE) return 0;
  return hk__os_page_up(offset + size);
}

/* The bookkeeping of a new live block (pool lock held). */
static void *go_live(hk__pool_t *pool, hk__ss_t *ss) {
  hk__slab_t *s = &ss->slabs[0];
  s->state = HK_SLAB_LARGE;
  s->block_size = 0;
  atomic_store_explicit(&s->owner, 0, memory_order_relaxed); /* never the fast path */
  hk__ss_list_push(&pool->large, ss);
  pool->n_large++;
  pool->large_bytes += hk__large_usable(ss);
  pool->active += hk__large_usable(ss);
  if (pool->active > pool->peak_active) pool->peak_active = pool->active;
  return s->start;
}

/* A run of an area and its record, or NULL (no room, no area). */
static hk__ss_t *area_block(hk__pool_t *pool, size_t size, size_t align, bool *dirty) {
  if (size == 0) size = 1; /* an aligned request of 0 bytes still takes a granule */
  hk__ss_t *ss = hk__meta_alloc(HK_AREA_RECORD);
  if (ss == NULL) return NULL;
  hk__area_t *a;
  uint8_t *p = hk__area_alloc(pool, size, align, &a, dirty);
  if (p == NULL) {
    hk__meta_free(ss, HK_AREA_RECORD);
    return NULL;
  }
  ss->magic = HK_SS_MAGIC;
  ss->kind = HK_KIND_LARGE;
  ss->slab_shift = HK_SS_SHIFT;
  ss->nslabs = 1;
  ss->pool = pool;
  ss->area = a;
  ss->map_size = (size + HK_GRANULE - 1) & ~(HK_GRANULE - 1);
  ss->slabs = (hk__slab_t *)((uint8_t *)ss + HK_RECORDS_OFF);
  ss->slabs[0].ss = ss;
  ss->slabs[0].flags = HK_SLAB_LARGE_BLOCK;
  ss->slabs[0].start = p;
  hk__map_set_slab(p, &ss->slabs[0]);
  return ss;
}

/* A mapping of its own: the header at its start, the block at offset;
 * for an alignment above 1 MiB the mapping starts one OS page before an
 * aligned address (no cache: another alignment could not reuse it). */
static hk__ss_t *own_block(hk__pool_t *pool, size_t size, size_t align, bool *dirty) {
  size_t offset = align > HK_LARGE_OFFSET ? align : HK_LARGE_OFFSET;
  bool phased = align > HK_LARGE_ALIGN_MAX;
  if (phased) offset = hk__os_page();
  size_t need = map_need(offset, size);
  if (need == 0) { errno = ENOMEM; return NULL; }
  hk__ss_t *ss = phased ? NULL : hk__region_take(pool, need);
  *dirty = ss != NULL; /* fresh mappings are zero-filled */
  if (ss == NULL) {
    ss = phased ? hk__ss_map_at(pool, need, align, offset) : hk__ss_map(pool, need);
    if (ss == NULL) return NULL;
    ss->kind = HK_KIND_LARGE;
    ss->slab_shift = HK_SS_SHIFT; /* its one granule entry names slabs[0] */
    ss->nslabs = 1;
    ss->area = NULL;
    ss->slabs[0].ss = ss;
    ss->slabs[0].flags = HK_SLAB_LARGE_BLOCK;
    ss->slabs[0].start = (uint8_t *)ss + offset; /* the map enters its granule */
    if (!hk__ss_enter(pool, ss)) return NULL;
    hk__ss_commit(pool, ss, (ptrdiff_t)ss->map_size);
  } else if (ss->slabs[0].start != (uint8_t *)ss + offset) {
    /* Another alignment: the block starts elsewhere in the SuperSlab's first
     * 2 MiB, so in the same map chunk: no new reservation. */
    hk__map_remove(ss);
    ss->slabs[0].start = (uint8_t *)ss + offset;
    hk__map_insert(ss);
  }
  _Static_assert(HK_LARGE_ALIGN_MAX < HK_SS_SIZE, "a cached block starts in its first 2 MiB");
  return ss;
}

static unsigned unpark_locked(hk__pool_t *pool, size_t size, hk__ss_t **out, unsigned max);

void *hk__large_alloc(hk__pool_t *pool, size_t size, size_t align, bool zero) {
  if (align < HK_MIN_ALIGN) align = HK_MIN_ALIGN;
  bool dirty = false;
  pthread_mutex_lock(&pool->lock);
  hk__ss_t *ss = NULL;
  if (align <= HK_GRANULE && unpark_locked(pool, size, &ss, 1) == 1) {
    dirty = true; /* a parked block: still counted live, so no go_live */
    ss->slabs[0].state = HK_SLAB_LARGE;
    pthread_mutex_unlock(&pool->lock);
    if (zero) memset(ss->slabs[0].start, 0, size);
    return ss->slabs[0].start;
  }
  if (size <= HK_AREA_BLOCK_MAX && align < HK_AREA_MIN) ss = area_block(pool, size, align, &dirty);
  if (ss == NULL) ss = own_block(pool, size, align, &dirty);
  void *p = ss != NULL ? go_live(pool, ss) : NULL;
  pthread_mutex_unlock(&pool->lock);
  if (p == NULL) errno = ENOMEM;
  else if (zero && dirty) memset(p, 0, size);
  return p;
}

/* realloc without a copy: the kernel moves page-table entries, not bytes
 * (mremap), so growing a big buffer costs a syscall or two whatever its
 * size. In place when the pages after the mapping are free, else to a
 * fresh 2 MiB-aligned range (the block keeps its offset, so its alignment
 * too). A shrink gives the tail back. The header moves with the mapping,
 * so everything that points at it is redone: list links, the map entry,
 * the records pointer. Under the pool lock, like every mapping change
 * (and the budget is checked first). NULL: nothing changed.
 * Up to HK_REMAP_COPY_MAX, a cached region that fits wins instead (the
 * caller copies into it): its pages are resident, remapped-to ones are new,
 * and a 1.5x growth chain to 1 MiB took 132 us copying, 178 remapping. */
void *hk__large_resize(hk__ss_t *ss, size_t size) {
  hk__pool_t *pool = ss->pool;
  if (ss->area != NULL) { /* in place, or the caller copies */
    if (size > HK_AREA_BLOCK_MAX) return NULL;
    size_t need = (size + HK_GRANULE - 1) & ~(HK_GRANULE - 1);
    pthread_mutex_lock(&pool->lock);
    bool ok = hk__area_resize(pool, ss->area, ss->slabs[0].start, ss->map_size, need);
    if (ok) {
      ptrdiff_t delta = (ptrdiff_t)need - (ptrdiff_t)ss->map_size;
      ss->map_size = need;
      pool->large_bytes = (size_t)((ptrdiff_t)pool->large_bytes + delta);
      pool->active = (size_t)((ptrdiff_t)pool->active + delta);
      if (pool->active > pool->peak_active) pool->peak_active = pool->active;
    }
    pthread_mutex_unlock(&pool->lock);
    return ok ? ss->slabs[0].start : NULL;
  }
  if (pool->os.hooks.map != NULL) return NULL; /* injected OS: no remap */
  size_t offset = (size_t)(ss->slabs[0].start - (uint8_t *)ss);
  size_t need = map_need(offset, size);
  if (need == 0) return NULL;
  size_t old = ss->map_size;
  pthread_mutex_lock(&pool->lock);
  if (hk__large_usable(ss) <= HK_REMAP_COPY_MAX && need > old &&
      hk__region_fits(pool, map_need(HK_LARGE_OFFSET, size))) {
    pthread_mutex_unlock(&pool->lock);
    return NULL;
  }
  if (need > old && !hk__pool_make_room(pool, need - old)) {
    pthread_mutex_unlock(&pool->lock);
    return NULL;
  }
  /* The old range's map entry goes before the mapping may move: once
   * mremap has vacated it, another pool (its own lock) may map there and
   * set the entry, which a later clear would wipe. The new range's chunk
   * is reserved first (hk__os_remap calls back), so entering it cannot
   * fail after the move. */
  hk__ss_list_remove(&pool->large, ss);
  hk__map_remove(ss);
  hk__ss_t *nss = hk__os_remap(&pool->os, ss, old, need, HK_SS_SIZE, hk__map_cover);
  if (nss != ss && nss != NULL) {
    nss->slabs = (hk__slab_t *)((uint8_t *)nss + HK_RECORDS_OFF);
    nss->slabs[0].ss = nss;
    nss->slabs[0].start = (uint8_t *)nss + offset;
  }
  hk__map_insert(nss != NULL ? nss : ss); /* its chunk exists: cannot fail */
  if (nss == NULL) {
    hk__ss_list_push(&pool->large, ss);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
  }
  ptrdiff_t delta = (ptrdiff_t)need - (ptrdiff_t)old;
  nss->map_size = need;
  pool->mapped = (size_t)((ptrdiff_t)pool->mapped + delta);
  if (pool->mapped > pool->peak_mapped) pool->peak_mapped = pool->mapped;
  hk__ss_commit(pool, nss, delta);
  pool->large_bytes = (size_t)((ptrdiff_t)pool->large_bytes + delta);
  pool->active = (size_t)((ptrdiff_t)pool->active + delta);
  if (pool->active > pool->peak_active) pool->peak_active = pool->active;
  hk__ss_list_push(&pool->large, nss);
  pthread_mutex_unlock(&pool->lock);
  return nss->slabs[0].start;
}


/* Why p, with record s, is no live large block: a second free (or use)
 * of a freed one, or a pointer hakmem never returned. Pool lock held. */
static const char *not_live(const hk__slab_t *s, const void *p, const char *freed) {
  if (s->state == HK_SLAB_AREA) return hk__area_freed_start(s->ss->area, p) ? freed : HK_MSG_INVALID;
  if (s->state == HK_SLAB_LARGE && p == s->start) return NULL;
  return s->state == HK_SLAB_CACHED && p == s->start ? freed : HK_MSG_INVALID;
}

size_t hk__large_checked(const hk__slab_t *s, const void *p, const char *call,
                         const char *freed) {
  hk__pool_t *pool = s->ss->pool;
  pthread_mutex_lock(&pool->lock);
  const char *what = not_live(s, p, freed);
  size_t usable = what == NULL ? hk__large_usable(s->ss) : 0;
  pthread_mutex_unlock(&pool->lock);
  if (what != NULL) hk__fatal_invalid(call, p, what);
  return usable;
}

/* The block of ss leaves: its run back to its area (and its record to
 * meta), or its mapping to the region cache or the OS. aged: it has sat
 * unused for a decay delay already (the run goes back at the next tick).
 * Pool lock held. */
static void release_locked(hk__pool_t *pool, hk__ss_t *ss, bool aged) {
  hk__slab_t *s = &ss->slabs[0];
  hk__ss_list_remove(&pool->large, ss);
  pool->n_large--;
  pool->large_bytes -= hk__large_usable(ss);
  pool->active -= hk__large_usable(ss);
  if (ss->area != NULL) {
    hk__map_set_slab(s->start, &ss->area->rec);
    hk__area_free(pool, ss->area, s->start, ss->map_size, aged);
    hk__meta_free(ss, HK_AREA_RECORD);
    return;
  }
  /* A phased mapping (not 2 MiB aligned) is not cached: see own_block. */
  if ((((uintptr_t)ss & HK_SS_MASK) == 0) && hk__region_put(pool, ss)) s->state = HK_SLAB_CACHED;
  else hk__ss_unmap(pool, ss);
}

void hk__large_free(hk__slab_t *s, const void *p, const char *call) {
  hk__pool_t *pool = s->ss->pool;
  pthread_mutex_lock(&pool->lock);
  const char *what = not_live(s, p, HK_MSG_DOUBLE_FREE);
  if (what != NULL) {
    pthread_mutex_unlock(&pool->lock);
    hk__fatal_invalid(call, p, what);
  }
  release_locked(pool, s->ss, false);
  pthread_mutex_unlock(&pool->lock);
}

/* ---- parked blocks: freed area blocks any thread of the heap may take whole ---- */
/* Parked blocks unused for the decay delay leave for good. Lock held. */
static void parked_decay(hk__pool_t *pool) {
  if (pool->n_parked == 0 || !hk__policy_large_decays(&pool->policy)) return;
  uint64_t now = hk__os_now_ms(&pool->os);
  uint32_t keep = 0;
  for (uint32_t i = 0; i < pool->n_parked; i++) {
    hk__ss_t *ss = pool->parked[i];
    if (hk__policy_large_tick_due(&pool->policy, pool->parked_ms[i], now)) {
      pool->parked_bytes -= hk__large_usable(ss);
      release_locked(pool, ss, true);
    } else {
      pool->parked[keep] = ss;
      pool->parked_ms[keep++] = pool->parked_ms[i];
    }
  }
  pool->n_parked = keep;
}

uint64_t hk__large_purge(hk__pool_t *pool) {
  parked_decay(pool);
  if (pool->n_parked == 0 || !hk__policy_large_decays(&pool->policy)) return UINT64_MAX;
  return pool->parked_ms[0] + pool->policy.large_decay_ms;
}

/* Blocks v[0..n) (state CACHED, still counted live) are parked; beyond
 * HK_PARKED_N blocks or a 16th of the retained cap the oldest parked
 * ones leave. */
void hk__large_park(hk__pool_t *pool, hk__ss_t *const *v, unsigned n) {
  pthread_mutex_lock(&pool->lock);
  parked_decay(pool);
  uint64_t now = hk__os_now_ms(&pool->os);
  for (unsigned i = 0; i < n; i++) {
    while (pool->n_parked == HK_PARKED_N ||
           (pool->n_parked > 0 && pool->parked_bytes + hk__large_usable(v[i]) >
                                      pool->policy.region_cache_max_bytes / 16)) {
      hk__ss_t *old = pool->parked[0];
      pool->parked_bytes -= hk__large_usable(old);
      release_locked(pool, old, false);
      pool->n_parked--;
      memmove(&pool->parked[0], &pool->parked[1], pool->n_parked * sizeof pool->parked[0]);
      memmove(&pool->parked_ms[0], &pool->parked_ms[1], pool->n_parked * sizeof pool->parked_ms[0]);
    }
    pool->parked[pool->n_parked] = v[i];
    pool->parked_ms[pool->n_parked++] = now;
    hk__purge_note(pool, pool->policy.large_decay_ms);
    pool->parked_bytes += hk__large_usable(v[i]);
  }
  pthread_mutex_unlock(&pool->lock);
}

/* Takes out up to max parked blocks that serve size, newest first. Lock held. */
static unsigned unpark_locked(hk__pool_t *pool, size_t size, hk__ss_t **out, unsigned max) {
  unsigned got = 0;
  for (uint32_t i = pool->n_parked; i-- > 0 && got < max;) {
    hk__ss_t *ss = pool->parked[i];
    if (!hk__large_fits(hk__large_usable(ss), size)) continue;
    out[got++] = ss;
    pool->parked_bytes -= hk__large_usable(ss);
    pool->n_parked--;
    memmove(&pool->parked[i], &pool->parked[i + 1], (pool->n_parked - i) * sizeof pool->parked[0]);
    memmove(&pool->parked_ms[i], &pool->parked_ms[i + 1],
            (pool->n_parked - i) * sizeof pool->parked_ms[0]);
  }
  return got;
}

unsigned hk__large_unpark(hk__pool_t *pool, size_t size, hk__ss_t **out, unsigned max) {
  pthread_mutex_lock(&pool->lock);
  parked_decay(pool);
  unsigned got = unpark_locked(pool, size, out, max);
  pthread_mutex_unlock(&pool->lock);
  return got;
}

void hk__large_release_aged(hk__pool_t *pool, hk__ss_t *const *v, unsigned n) {
  pthread_mutex_lock(&pool->lock);
  for (unsigned i = 0; i < n; i++) release_locked(pool, v[i], true);
  pthread_mutex_unlock(&pool->lock);
}

void hk__large_trim(hk__pool_t *pool) {
  pthread_mutex_lock(&pool->lock);
  while (pool->n_parked > 0) release_locked(pool, pool->parked[--pool->n_parked], false);
  pool->parked_bytes = 0;
  pthread_mutex_unlock(&pool->lock);
}


