/* Blocks above HK_MID_MAX (and over-aligned ones) get a LARGE segment of
 * their own: a 2 MiB-aligned mapping whose header is a one-slab SuperSlab
 * header, entered in the pointer map for its first granule (where the
 * block starts), so free()'s slow path finds its record like any other. Freed mappings wait in a small region cache
 * (policy: slots and a byte cap) so a program that frees and reallocates
 * big buffers makes no syscalls; realloc remaps instead of copying. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#ifdef HK_ASAN
#include <sanitizer/asan_interface.h>
#endif


static void large_list_push(hk__pool_t *pool, hk__seg_t *s) {
  s->prev = NULL;
  s->next = pool->large;
  if (pool->large) pool->large->prev = s;
  pool->large = s;
}
static void large_list_remove(hk__pool_t *pool, hk__seg_t *s) {
  if (s->prev) s->prev->next = s->next; else pool->large = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = NULL;
}

static void cache_remove_at(hk__pool_t *pool, uint32_t i) {
  pool->cache_bytes -= pool->cache[i].size;
  pool->cache_n--;
  for (; i < pool->cache_n; i++) pool->cache[i] = pool->cache[i + 1];
}

static void cache_evict_oldest(hk__pool_t *pool) {
  hk__seg_t *seg = pool->cache[0].seg;
  cache_remove_at(pool, 0);
  hk__pool_unmap_seg(pool, seg);
}

/* Best fit among cached regions: big enough, and wasting at most half. */
static uint32_t cache_fit(const hk__pool_t *pool, size_t need) {
  uint32_t best = UINT32_MAX;
  for (uint32_t i = 0; i < pool->cache_n; i++) {
    size_t sz = pool->cache[i].size;
    if (sz >= need && sz - need <= need / 2 && (best == UINT32_MAX || sz < pool->cache[best].size))
      best = i;
  }
  return best;
}

static hk__seg_t *cache_take(hk__pool_t *pool, size_t need) {
  uint32_t best = cache_fit(pool, need);
  if (best == UINT32_MAX) return NULL;
  hk__seg_t *seg = pool->cache[best].seg;
  cache_remove_at(pool, best);
  return seg;
}

void hk__region_cache_release(hk__pool_t *pool, size_t keep_n, size_t keep_bytes) {
  while (pool->cache_n > keep_n || (pool->cache_n > 0 && pool->cache_bytes > keep_bytes))
    cache_evict_oldest(pool);
}

/* Bytes to map for a block of size at offset in its segment (page
 * multiple), or 0 if that overflows. */
static size_t map_need(size_t offset, size_t size) {
  if (size > SIZE_MAX - offset - HK_SEG_SIZE) return 0;
  return (offset + size + HK_PAGE - 1) & ~(size_t)(HK_PAGE - 1);
}

void *hk__large_alloc(hk__pool_t *pool, size_t size, size_t align, bool zero) {
  if (align < HK_MIN_ALIGN) align = HK_MIN_ALIGN;
  size_t offset = align > HK_LARGE_OFFSET ? align : HK_LARGE_OFFSET;
  size_t need = map_need(offset, size);
  if (need == 0) { errno = ENOMEM; return NULL; }
  pthread_mutex_lock(&pool->lock);
  hk__seg_t *seg = cache_take(pool, need);
  bool dirty = seg != NULL; /* fresh mappings are zero-filled */
  if (seg == NULL) {
    seg = hk__pool_map_seg(pool, need);
    if (seg != NULL) {
      seg->kind = HK_KIND_LARGE;
      seg->slab_shift = HK_SEG_SHIFT; /* its one granule entry names slabs[0] */
      seg->nslabs = 1;
      seg->slabs[0].seg = seg;
      seg->slabs[0].flags = HK_SLAB_LARGE_BLOCK;
      seg->slabs[0].start = (uint8_t *)seg + offset; /* the map enters its granule */
      if (!hk__pool_enter_seg(pool, seg)) seg = NULL;
    }
    if (seg == NULL) {
      pthread_mutex_unlock(&pool->lock);
      return NULL;
    }
    hk__seg_commit(pool, seg, (ptrdiff_t)seg->map_size);
  } else if (seg->slabs[0].start != (uint8_t *)seg + offset) {
    /* Another alignment: the block starts elsewhere in the segment's first
     * 2 MiB (HK_MAX_ALIGN), so in the same map chunk: no new reservation. */
    hk__map_remove(seg);
    seg->slabs[0].start = (uint8_t *)seg + offset;
    hk__map_insert(seg);
  }
  _Static_assert(HK_MAX_ALIGN < HK_SEG_SIZE, "a large block starts in its segment's first 2 MiB");
  hk__slab_t *s = &seg->slabs[0];
  s->state = HK_SLAB_LARGE;
  s->block_size = 0;
  atomic_store_explicit(&s->owner, 0, memory_order_relaxed); /* never the fast path */
  large_list_push(pool, seg);
  pool->n_large++;
  pool->large_bytes += hk__large_usable(seg);
  pool->active += hk__large_usable(seg);
  if (pool->active > pool->peak_active) pool->peak_active = pool->active;
  pthread_mutex_unlock(&pool->lock);
  if (zero && dirty) memset(s->start, 0, size);
  return s->start;
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
void *hk__large_resize(hk__seg_t *seg, size_t size) {
  hk__pool_t *pool = seg->pool;
  if (pool->os.hooks.map != NULL) return NULL; /* injected OS: no remap */
  size_t offset = (size_t)(seg->slabs[0].start - (uint8_t *)seg);
  size_t need = map_need(offset, size);
  if (need == 0) return NULL;
  size_t old = seg->map_size;
  pthread_mutex_lock(&pool->lock);
  if (hk__large_usable(seg) <= HK_REMAP_COPY_MAX && need > old &&
      cache_fit(pool, map_need(HK_LARGE_OFFSET, size)) != UINT32_MAX) {
    pthread_mutex_unlock(&pool->lock);
    return NULL;
  }
  if (need > old && !hk__pool_budget(pool, need - old)) {
    pthread_mutex_unlock(&pool->lock);
    return NULL;
  }
  /* The old range's map entry goes before the mapping may move: once
   * mremap has vacated it, another pool (its own lock) may map there and
   * set the entry, which a later clear would wipe. The new range's chunk
   * is reserved first (hk__os_remap calls back), so entering it cannot
   * fail after the move. */
  large_list_remove(pool, seg);
  hk__map_remove(seg);
  hk__seg_t *nseg = hk__os_remap(&pool->os, seg, old, need, HK_SEG_SIZE, hk__map_cover);
  if (nseg != seg && nseg != NULL) {
    nseg->slabs = (hk__slab_t *)((uint8_t *)nseg + HK_RECORDS_OFF);
    nseg->slabs[0].seg = nseg;
    nseg->slabs[0].start = (uint8_t *)nseg + offset;
  }
  hk__map_insert(nseg != NULL ? nseg : seg); /* its chunk exists: cannot fail */
  if (nseg == NULL) {
    large_list_push(pool, seg);
    pthread_mutex_unlock(&pool->lock);
    return NULL;
  }
#ifdef HK_ASAN
  ASAN_UNPOISON_MEMORY_REGION(nseg, need); /* shadow outlives an earlier unmap there */
#endif
  ptrdiff_t delta = (ptrdiff_t)need - (ptrdiff_t)old;
  nseg->map_size = need;
  pool->mapped = (size_t)((ptrdiff_t)pool->mapped + delta);
  if (pool->mapped > pool->peak_mapped) pool->peak_mapped = pool->mapped;
  hk__seg_commit(pool, nseg, delta);
  pool->large_bytes = (size_t)((ptrdiff_t)pool->large_bytes + delta);
  pool->active = (size_t)((ptrdiff_t)pool->active + delta);
  if (pool->active > pool->peak_active) pool->peak_active = pool->active;
  large_list_push(pool, nseg);
  pthread_mutex_unlock(&pool->lock);
  return nseg->slabs[0].start;
}

void hk__large_free(hk__seg_t *seg, const void *p, const char *call) {
  hk__pool_t *pool = seg->pool;
  hk__slab_t *s = &seg->slabs[0];
  pthread_mutex_lock(&pool->lock);
  if (s->state != HK_SLAB_LARGE || (const uint8_t *)p != s->start) {
    const char *what = s->state == HK_SLAB_CACHED && (const uint8_t *)p == s->start
                           ? HK_MSG_DOUBLE_FREE : HK_MSG_INVALID;
    pthread_mutex_unlock(&pool->lock);
    hk__fatal_invalid(call, p, what);
  }
  large_list_remove(pool, seg);
  pool->n_large--;
  pool->large_bytes -= hk__large_usable(seg);
  pool->active -= hk__large_usable(seg);
  const hk__policy_t *pol = &pool->policy;
  if (pol->region_cache_slots > 0 && seg->map_size <= pol->region_cache_max_bytes) {
    /* The newest region stays; the oldest ones make room (the cache is kept
     * in age order, oldest first), so the sizes in use now are the cached ones. */
    while (pool->cache_n >= pol->region_cache_slots ||
           pool->cache_bytes + seg->map_size > pol->region_cache_max_bytes)
      cache_evict_oldest(pool);
    s->state = HK_SLAB_CACHED;
    pool->cache[pool->cache_n].seg = seg;
    pool->cache[pool->cache_n].size = seg->map_size;
    pool->cache_n++;
    pool->cache_bytes += seg->map_size;
  } else {
    hk__pool_unmap_seg(pool, seg);
  }
  pthread_mutex_unlock(&pool->lock);
}

size_t hk__large_usable(const hk__seg_t *seg) {
  return seg->map_size - (size_t)(seg->slabs[0].start - (const uint8_t *)seg);
}
void *hk__large_block(const hk__seg_t *seg) { return seg->slabs[0].start; }
