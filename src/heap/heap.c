/* Heaps as objects: create (validated policy + pool, a handle),
 * destroy (arena semantics: every mapping goes, live blocks included),
 * trim. */
#include "internal.h"

#include <errno.h>

const char *hk_version(void) { return HK_VERSION_STRING; }

hk_heap_t *hk_heap_default(void) {
  hk__process_init();
  return HK_DEFAULT_HEAP;
}

hk_heap_t *hk_heap_create(const hk_heap_config_t *cfg) {
  hk__process_init();
  hk__purger_poll();
  hk_heap_config_t defaults;
  if (cfg == NULL) {
    hk_heap_config_init(&defaults);
    cfg = &defaults;
  }
  if (hk__config_check(cfg) != NULL) {
    errno = EINVAL;
    return NULL;
  }
  hk__heap_t *heap = hk__meta_alloc(sizeof *heap);
  if (heap == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  hk__policy_t pol;
  hk__policy_from_config(&pol, cfg);
  hk__pool_init(&heap->pool, &pol, cfg->os_hooks, heap);
  if (!hk__pool_prewarm(&heap->pool)) {
    hk__pool_destroy(&heap->pool);
    hk__meta_free(heap, sizeof *heap);
    errno = ENOMEM;
    return NULL;
  }
  hk__global_lock();
  bool named = hk__handle_open(heap);
  if (named) hk__heap_register(heap, true);
  hk__global_unlock();
  if (!named) { /* 4 M heaps alive at once */
    hk__pool_destroy(&heap->pool);
    hk__meta_free(heap, sizeof *heap);
    errno = ENOMEM;
    return NULL;
  }
  hk__purger_join(heap);
  return heap->handle;
}

void hk_heap_destroy(hk_heap_t *handle) {
  if (handle == NULL) return;
  hk__global_lock();
  /* Resolved under the lock: of two racing destroys of one heap, the
   * second finds the handle closed and reports it. */
  hk__heap_t *heap = hk__heap_lookup(handle);
  if (heap == NULL || heap == &hk__heap_main) {
    hk__global_unlock();
    hk__fatal_invalid("heap_destroy", handle, HK_MSG_INVALID_HEAP);
  }
  hk__handle_close(heap);
  hk__fronts_orphan(heap);
  hk__heap_register(heap, false);
  hk__global_unlock();
  hk__purger_leave(heap);
  hk__pool_destroy(&heap->pool);
  hk__depot_destroy(&heap->pool);
  hk__meta_free(heap, sizeof *heap);
}

/* Any address the pointer map knows: every granule of a SuperSlab, the
 * first of a large block. */
hk_heap_t *hk_heap_of(const void *p) {
  if (p == NULL) return NULL;
  hk__map_init();
  hk__slab_t *s = hk__map_slab(p);
  return s != NULL ? s->ss->pool->owner_heap->handle : NULL;
}

size_t hk_heap_trim(hk_heap_t *handle) {
  hk__heap_t *heap = hk__heap_resolve(handle, "heap_trim");
  hk__purger_poll();
  /* Flushing may already unmap SuperSlabs (retention): count those too. */
  pthread_mutex_lock(&heap->pool.lock);
  size_t mapped_before = heap->pool.mapped;
  pthread_mutex_unlock(&heap->pool.lock);
  /* The depot first: its blocks may go to slabs that the flush gives
   * back (a detached slab claimed by the depot's free is adopted by the
   * caller if it detached it). */
  hk__thread_t *t = hk__tls;
  hk__depot_flush(&heap->pool, heap == &hk__heap_main && t->live ? &t->main : NULL);
  if (t->live && heap == &hk__heap_main) hk__front_flush(&t->main);
  /* Every front of the heap: the caller's is flushed; other threads'
   * large caches are taken now (the cache is the one part of a front
   * another thread may empty, tiny/large.c), and their bins and slabs
   * go back at each one's next allocation slow path. */
  hk__global_lock(); /* the front lists are shared with hk_heap_destroy and thread exit */
  for (hk__front_t *f = heap->fronts; f != NULL; f = f->hnext) {
    if (f->thread == t) {
      if (heap != &hk__heap_main) hk__front_flush(f);
    } else {
      hk__front_large_flush_other(f);
      atomic_store_explicit(&f->flush_req, true, memory_order_relaxed);
    }
  }
  hk__global_unlock();
  pthread_mutex_lock(&heap->pool.lock);
  size_t mapped_after = heap->pool.mapped;
  pthread_mutex_unlock(&heap->pool.lock);
  size_t flushed = mapped_before > mapped_after ? mapped_before - mapped_after : 0;
  /* Parked large blocks join their areas' retained runs, which the pool's
   * trim gives back (and counts). */
  hk__large_trim(&heap->pool);
  size_t released = flushed + hk__pool_trim(&heap->pool);
  hk__map_trim(); /* process-wide, after the pool gave back what it could */
  return released;
}

size_t hk_heaps(hk_heap_t **out, size_t max) {
  hk__process_init();
  size_t n = 0;
  hk__global_lock();
  for (hk__heap_t *h = hk__heaps(); h != NULL; h = h->next, n++)
    if (out != NULL && n < max) out[n] = h->handle;
  hk__global_unlock();
  return n;
}

size_t hk_trim(void) { return hk_heap_trim(NULL); }
