/* Blocks above HK_MID_MAX (and over-aligned ones) get a LARGE SuperSlab of
 * their own: a 2 MiB-aligned mapping whose header is a one-slab SuperSlab
 * header, entered in the pointer map for the granule its block starts in,
 * so free()'s slow path finds its record like any other. Freed mappings
 * wait in the region cache (superslab/mapping.c; policy: slots and a byte
 * cap), so a program that frees and reallocates big buffers makes no
 * syscalls; realloc remaps instead of copying. */
#include "internal.h"

#include <errno.h>
#include <string.h>


/* Bytes to map for a block of size at offset in its SuperSlab (whole OS
 * pages), or 0 if that overflows. */
static size_t map_need(size_t offset, size_t size) {
  if (size > SIZE_MAX - offset - HK_SS_SIZE) return 0;
  return hk__os_page_up(offset + size);
}

void *hk__large_alloc(hk__pool_t *pool, size_t size, size_t align, bool zero) {
  if (align < HK_MIN_ALIGN) align = HK_MIN_ALIGN;
  size_t offset = align > HK_LARGE_OFFSET ? align : HK_LARGE_OFFSET;
  size_t need = map_need(offset, size);
  if (need == 0) { errno = ENOMEM; return NULL; }
  pthread_mutex_lock(&pool->lock);
  hk__ss_t *ss = hk__region_take(pool, need);
  bool dirty = ss != NULL; /* fresh mappings are zero-filled */
  if (ss == NULL) {
    ss = hk__ss_map(pool, need);
    if (ss != NULL) {
      ss->kind = HK_KIND_LARGE;
      ss->slab_shift = HK_SS_SHIFT; /* its one granule entry names slabs[0] */
      ss->nslabs = 1;
      ss->slabs[0].ss = ss;
      ss->slabs[0].flags = HK_SLAB_LARGE_BLOCK;
      ss->slabs[0].start = (uint8_t *)ss + offset; /* the map enters its granule */
      if (!hk__ss_enter(pool, ss)) ss = NULL;
    }
    if (ss == NULL) {
      pthread_mutex_unlock(&pool->lock);
      return NULL;
    }
    hk__ss_commit(pool, ss, (ptrdiff_t)ss->map_size);
  } else if (ss->slabs[0].start != (uint8_t *)ss + offset) {
    /* Another alignment: the block starts elsewhere in the SuperSlab's first
     * 2 MiB (HK_MAX_ALIGN), so in the same map chunk: no new reservation. */
    hk__map_remove(ss);
    ss->slabs[0].start = (uint8_t *)ss + offset;
    hk__map_insert(ss);
  }
  _Static_assert(HK_MAX_ALIGN < HK_SS_SIZE, "a large block starts in its SuperSlab's first 2 MiB");
  hk__slab_t *s = &ss->slabs[0];
  s->state = HK_SLAB_LARGE;
  s->block_size = 0;
  atomic_store_explicit(&s->owner, 0, memory_order_relaxed); /* never the fast path */
  hk__ss_list_push(&pool->large, ss);
  pool->n_large++;
  pool->large_bytes += hk__large_usable(ss);
  pool->active += hk__large_usable(ss);
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
void *hk__large_resize(hk__ss_t *ss, size_t size) {
  hk__pool_t *pool = ss->pool;
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

void hk__large_free(hk__ss_t *ss, const void *p, const char *call) {
  hk__pool_t *pool = ss->pool;
  hk__slab_t *s = &ss->slabs[0];
  pthread_mutex_lock(&pool->lock);
  if (s->state != HK_SLAB_LARGE || (const uint8_t *)p != s->start) {
    const char *what = s->state == HK_SLAB_CACHED && (const uint8_t *)p == s->start
                           ? HK_MSG_DOUBLE_FREE : HK_MSG_INVALID;
    pthread_mutex_unlock(&pool->lock);
    hk__fatal_invalid(call, p, what);
  }
  hk__ss_list_remove(&pool->large, ss);
  pool->n_large--;
  pool->large_bytes -= hk__large_usable(ss);
  pool->active -= hk__large_usable(ss);
  if (hk__region_put(pool, ss)) s->state = HK_SLAB_CACHED;
  else hk__ss_unmap(pool, ss);
  pthread_mutex_unlock(&pool->lock);
}

size_t hk__large_usable(const hk__ss_t *ss) {
  return ss->map_size - (size_t)(ss->slabs[0].start - (const uint8_t *)ss);
}
void *hk__large_block(const hk__ss_t *ss) { return ss->slabs[0].start; }
