/* A pool's mappings. Every SuperSlab and large block a pool maps goes in
 * and out of the address space and the pointer map here, with what it
 * costs (mapped and committed bytes, against the budget), and here wait
 * the ones kept for reuse: retained empty SuperSlabs, committed and then
 * decommitted, and cached large regions. What to keep, how long and how
 * much is decided in policy/decide.c; this file carries it out. Every
 * function runs under pool->lock (init and destroy take it themselves).
 *
 * Retained empty SuperSlabs are in two lists, each in the order they got
 * there, newest at the head: `empty` (committed) and `decommitted`. So the
 * oldest of all is the tail of `decommitted` (else of `empty`), and the
 * next one due for decommit the tail of `empty`: every decision takes an
 * end of a list, in O(1). */
#include "internal.h"

#include <errno.h>

/* ---- lists of SuperSlabs ------------------------------------------------------ */
void hk__ss_list_push(hk__ss_list_t *l, hk__ss_t *s) {
  s->prev = NULL;
  s->next = l->head;
  if (l->head) l->head->prev = s; else l->tail = s;
  l->head = s;
  l->n++;
}
void hk__ss_list_remove(hk__ss_list_t *l, hk__ss_t *s) {
  if (s->prev) s->prev->next = s->next; else l->head = s->next;
  if (s->next) s->next->prev = s->prev; else l->tail = s->prev;
  s->next = s->prev = NULL;
  l->n--;
}

/* ---- init / destroy ----------------------------------------------------------- */
void hk__pool_init(hk__pool_t *pool, const hk__policy_t *policy, const hk_os_hooks_t *hooks,
                   struct hk__heap_s *owner_heap) {
  /* Adaptive: a thread that finds the lock held spins briefly before it
   * sleeps. The lock is held for short stretches, and when two threads
   * hand blocks to each other (a producer and a consumer of large blocks)
   * sleeping on every collision made the lock cost 6x. */
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
  pthread_mutex_init(&pool->lock, &attr);
  pthread_mutexattr_destroy(&attr);
  hk__os_init(&pool->os, hooks);
  pool->policy = *policy;
  pool->owner_heap = owner_heap;
}

void hk__pool_destroy(hk__pool_t *pool) {
  pthread_mutex_lock(&pool->lock);
  hk__ss_list_t *lists[4] = {&pool->in_use, &pool->empty, &pool->decommitted, &pool->large};
  for (int i = 0; i < 4; i++) {
    for (hk__ss_t *s = lists[i]->head, *n; s != NULL; s = n) {
      n = s->next;
      if (s->area != NULL) hk__meta_free(s, HK_AREA_RECORD); /* its run goes with the area */
      else hk__ss_unmap(pool, s);
    }
    *lists[i] = (hk__ss_list_t){0};
  }
  hk__region_cache_release(pool, 0, 0);
  hk__area_destroy_all(pool);
  pthread_mutex_unlock(&pool->lock);
  pthread_mutex_destroy(&pool->lock);
}

/* ---- in and out of the address space -------------------------------------------- */
void hk__ss_commit(hk__pool_t *pool, hk__ss_t *ss, ptrdiff_t delta) {
  ss->committed = (size_t)((ptrdiff_t)ss->committed + delta);
  pool->committed = (size_t)((ptrdiff_t)pool->committed + delta);
}

hk__ss_t *hk__ss_map(hk__pool_t *pool, size_t size) {
  return hk__ss_map_at(pool, size, HK_SS_SIZE, 0);
}

hk__ss_t *hk__ss_map_at(hk__pool_t *pool, size_t size, size_t align, size_t phase) {
  if (!hk__pool_make_room(pool, size)) { errno = ENOMEM; return NULL; }
  hk__ss_t *ss = hk__os_map_aligned_at(&pool->os, size, align, phase);
  if (ss == NULL) { errno = ENOMEM; return NULL; }
  ss->magic = HK_SS_MAGIC;
  ss->slabs = (hk__slab_t *)((uint8_t *)ss + HK_RECORDS_OFF);
  ss->pool = pool;
  ss->map_size = size;
  pool->mapped += size;
  if (pool->mapped > pool->peak_mapped) pool->peak_mapped = pool->mapped;
  return ss;
}

bool hk__ss_enter(hk__pool_t *pool, hk__ss_t *ss) {
  if (hk__map_insert(ss)) return true;
  if (hk__os_unmap(&pool->os, ss, ss->map_size)) pool->mapped -= ss->map_size;
  errno = ENOMEM; /* no map chunk for its range */
  return false;
}

void hk__ss_unmap(hk__pool_t *pool, hk__ss_t *ss) {
  size_t size = ss->map_size; /* the header goes with the mapping */
  hk__map_remove(ss);
  hk__ss_commit(pool, ss, -(ptrdiff_t)ss->committed);
  if (hk__os_unmap(&pool->os, ss, size)) pool->mapped -= size;
}

/* ---- retained empty SuperSlabs --------------------------------------------------- */
void hk__ss_retain(hk__pool_t *pool, hk__ss_t *ss) {
  hk__ss_list_push(&pool->empty, ss);
  ss->empty_since_ms = hk__os_now_ms(&pool->os);
  hk__purge_note(pool, pool->policy.decommit_delay_ms);
}

/* Eviction: the oldest retained empty SuperSlab is unmapped (the oldest
 * decommitted one, else the oldest committed one). False if none. */
static bool evict_oldest_empty(hk__pool_t *pool) {
  hk__ss_list_t *l = pool->decommitted.tail != NULL ? &pool->decommitted : &pool->empty;
  hk__ss_t *s = l->tail;
  if (s == NULL) return false;
  hk__ss_list_remove(l, s);
  pool->n_superslabs--;
  hk__ss_unmap(pool, s);
  return true;
}

/* Decommit: the committed empty SuperSlabs that are due, the oldest first;
 * the first one not due yet ends the pass. */
static void decommit_due(hk__pool_t *pool) {
  const hk__policy_t *pol = &pool->policy;
  if (pol->decommit == HK_DECOMMIT_OFF || pool->empty.tail == NULL) return;
  uint64_t now = pol->decommit_delay_ms ? hk__os_now_ms(&pool->os) : 0; /* no clock for no delay */
  for (hk__ss_t *s; (s = pool->empty.tail) != NULL;) {
    if (!hk__policy_decommit_due(pol, s->empty_since_ms, now)) return;
    size_t keep = hk__os_page_up(HK_SS_HEADER_SIZE); /* the header's pages stay */
    if (!hk__os_decommit(&pool->os, (uint8_t *)s + keep, s->map_size - keep, pol->decommit))
      return; /* the kernel refused: try again on a later pass */
    hk__ss_list_remove(&pool->empty, s);
    hk__ss_list_push(&pool->decommitted, s);
    s->decommitted = 1;
    hk__ss_commit(pool, s, (ptrdiff_t)keep - (ptrdiff_t)s->committed);
    for (unsigned i = 0; i < s->nslabs; i++) hk__ss_slab(s, i)->dirty = 0;
  }
}

/* Retention, then decommit. Each evicted or decommitted SuperSlab costs
 * O(1), so a pass costs what it changes. */
void hk__pool_enforce(hk__pool_t *pool) {
  while (hk__policy_retains_too_many(&pool->policy, pool->empty.n + pool->decommitted.n))
    evict_oldest_empty(pool);
  decommit_due(pool);
}

/* Reuse: the most recently emptied committed SuperSlab (its pages are the
 * likeliest still resident), else the most recently decommitted one. */
hk__ss_t *hk__ss_reuse(hk__pool_t *pool) {
  hk__ss_list_t *l = pool->empty.head != NULL ? &pool->empty : &pool->decommitted;
  hk__ss_t *ss = l->head;
  if (ss == NULL) return NULL;
  hk__ss_list_remove(l, ss);
  ss->decommitted = 0;
  /* Counted as committed again as a whole (pages come back as touched);
   * this also covers slabs a trim decommitted one by one. */
  hk__ss_commit(pool, ss, (ptrdiff_t)ss->map_size - (ptrdiff_t)ss->committed);
  for (unsigned i = 0; i < ss->nslabs; i++) hk__ss_slab(ss, i)->dirty = 1;
  return ss;
}

size_t hk__pool_release_retained(hk__pool_t *pool) {
  size_t released = 0;
  while (pool->empty.tail != NULL || pool->decommitted.tail != NULL) {
    hk__ss_list_t *l = pool->decommitted.tail != NULL ? &pool->decommitted : &pool->empty;
    released += l->tail->map_size;
    evict_oldest_empty(pool);
  }
  released += pool->cache_bytes;
  hk__region_cache_release(pool, 0, 0);
  released += hk__area_trim(pool);
  return released;
}

/* Budget: room is made from what is only kept for reuse before a mapping
 * is refused. */
bool hk__pool_make_room(hk__pool_t *pool, size_t more) {
  const hk__policy_t *pol = &pool->policy;
  if (hk__policy_within_budget(pol, pool->mapped, more)) return true;
  hk__region_cache_release(pool, 0, 0);
  hk__area_release(pool, 0);
  while (!hk__policy_within_budget(pol, pool->mapped, more) && evict_oldest_empty(pool)) {
  }
  return hk__policy_within_budget(pol, pool->mapped, more);
}

/* ---- the region cache: freed large mappings, oldest first -------------------------- */
static void cache_remove_at(hk__pool_t *pool, uint32_t i) {
  pool->cache_bytes -= pool->cache[i].size;
  pool->cache_n--;
  for (; i < pool->cache_n; i++) pool->cache[i] = pool->cache[i + 1];
}

static void cache_evict_oldest(hk__pool_t *pool) {
  hk__ss_t *ss = pool->cache[0].ss;
  pool->large_released += pool->cache[0].size;
  cache_remove_at(pool, 0);
  hk__ss_unmap(pool, ss);
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

bool hk__region_fits(const hk__pool_t *pool, size_t need) {
  return cache_fit(pool, need) != UINT32_MAX;
}

hk__ss_t *hk__region_take(hk__pool_t *pool, size_t need) {
  uint32_t best = cache_fit(pool, need);
  if (best == UINT32_MAX) return NULL;
  hk__ss_t *ss = pool->cache[best].ss;
  cache_remove_at(pool, best);
  return ss;
}

/* The newest region stays; the oldest ones make room, so the sizes in
 * use now are the cached ones. */
bool hk__region_put(hk__pool_t *pool, hk__ss_t *ss) {
  const hk__policy_t *pol = &pool->policy;
  if (!hk__policy_region_cacheable(pol, ss->map_size)) return false;
  while (!hk__policy_region_room(pol, pool->cache_n, pool->cache_bytes, ss->map_size))
    cache_evict_oldest(pool);
  pool->cache[pool->cache_n].ss = ss;
  pool->cache[pool->cache_n].size = ss->map_size;
  pool->cache[pool->cache_n].since_ms = hk__os_now_ms(&pool->os);
  hk__purge_note(pool, pol->large_decay_ms);
  pool->cache_n++;
  pool->cache_bytes += ss->map_size;
  return true;
}

void hk__region_cache_release(hk__pool_t *pool, size_t keep_n, size_t keep_bytes) {
  while (pool->cache_n > keep_n || (pool->cache_n > 0 && pool->cache_bytes > keep_bytes))
    cache_evict_oldest(pool);
}

uint64_t hk__region_purge(hk__pool_t *pool, uint64_t now) {
  const hk__policy_t *pol = &pool->policy;
  if (!hk__policy_large_decays(pol)) return UINT64_MAX;
  while (pool->cache_n > 0 && hk__policy_large_tick_due(pol, pool->cache[0].since_ms, now))
    cache_evict_oldest(pool);
  return pool->cache_n > 0 ? pool->cache[0].since_ms + pol->large_decay_ms : UINT64_MAX;
}

/* Every decommit due, then when the next is: the oldest committed empty
 * SuperSlab is the first due (the list is in the order they emptied). */
uint64_t hk__pool_purge_retained(hk__pool_t *pool) {
  hk__pool_enforce(pool);
  const hk__policy_t *pol = &pool->policy;
  if (pol->decommit == HK_DECOMMIT_OFF || pool->empty.tail == NULL) return UINT64_MAX;
  return pool->empty.tail->empty_since_ms + pol->decommit_delay_ms;
}
