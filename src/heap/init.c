/* Process start-up: the default heap (its pool and handle), the list of
 * heaps and the fork handlers, set up once; and the allocation slow paths
 * that come here first, so a thread's first allocation sets the process
 * and the thread up (tiny/thread.c keeps the thread records). Nothing here
 * calls malloc, so the override can sit on top. */
#include "internal.h"
#include "heap/alloc_inline.h"

#include <errno.h>
#include <string.h>

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static hk__heap_t *heaps; /* all heaps (global lock) */

hk__heap_t *hk__heaps(void) { return heaps; }

void hk__heap_register(hk__heap_t *heap, bool on) {
  if (on) {
    heap->prev = NULL;
    heap->next = heaps;
    if (heaps) heaps->prev = heap;
    heaps = heap;
  } else {
    if (heap->prev) heap->prev->next = heap->next; else heaps = heap->next;
    if (heap->next) heap->next->prev = heap->prev;
  }
}

/* ---- fork: hold every lock across fork so the child sees consistent lists.
 * Slabs owned by threads that do not exist in the child stay owned by them:
 * their blocks remain valid and can be freed (as remote frees), they are just
 * not reused by the child. */
static void fork_prepare(void) {
  hk__global_lock();
  for (hk__heap_t *h = heaps; h; h = h->next) pthread_mutex_lock(&h->pool.lock);
  hk__map_lock();
  hk__meta_lock_all();
}
static void fork_parent(void) {
  hk__meta_unlock_all();
  hk__map_unlock();
  for (hk__heap_t *h = heaps; h; h = h->next) pthread_mutex_unlock(&h->pool.lock);
  hk__global_unlock();
}
/* The depots' locks are not held across fork (80 per heap): they are leaf
 * locks whose holders leave a consistent depot after every store, so the
 * child starts them afresh (bin.c). */
static void fork_child(void) {
  for (hk__heap_t *h = heaps; h; h = h->next) hk__depot_after_fork(&h->pool);
  hk__purger_after_fork();
  fork_parent();
}

static void process_init_once(void) {
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.name = "default";
  cfg.background_purge = 0; /* a library starts no thread the program did not ask for */
  hk__policy_t pol;
  hk__policy_from_config(&pol, &cfg);
  hk__pool_init(&hk__heap_main.pool, &pol, NULL, &hk__heap_main);
  hk__heap_main.pool.default_heap = true;
  hk__global_lock();
  /* The first handle ever made: slot 0, generation 1 (HK_DEFAULT_HEAP). */
  hk__handle_open(&hk__heap_main);
  hk__heap_register(&hk__heap_main, true);
  hk__global_unlock();
  hk__pool_prewarm(&hk__heap_main.pool);
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void hk__process_init(void) { pthread_once(&process_once, process_init_once); }

/* A thread's first allocation finds the empty front (hk__thread_empty's,
 * which stands for the default heap): the process, then the thread, are
 * set up, and the thread's own front serves. */
hk_noinline void *hk__malloc_slow(hk__front_t *f, unsigned cls) {
  hk__purger_poll();
  if (hk_unlikely(!f->thread->live)) {
    hk__process_init();
    hk__thread_t *t = hk__thread_init();
    if (t == NULL) {
      errno = ENOMEM;
      return NULL;
    }
    f = &t->main;
  }
  return hk__front_alloc_slow(f, cls);
}

/* A large block not in the thread's newest cache entry. */
static hk_noinline void *alloc_large_slow(hk__heap_t *heap, size_t size, size_t align, bool zero) {
  bool cacheable = align <= HK_GRANULE && size <= HK_AREA_BLOCK_MAX;
  hk__front_t *f = cacheable ? hk__front_at_hand(heap) : NULL;
  if (f != NULL && f->heap != NULL) {
    void *p = hk__front_large_alloc(f, size, zero);
    if (p != NULL) return p;
  } else {
    f = NULL;
  }
  hk__process_init();
  hk__purger_poll();
  /* No front at hand: set the thread up if this is its first allocation
   * (NULL: no memory for it; the pool then). */
  if (cacheable && f == NULL && (hk__tls->live || hk__thread_init() != NULL)) {
    f = hk__front_of(heap);
    void *p = f != NULL ? hk__front_large_alloc(f, size, zero) : NULL;
    if (p != NULL) return p;
  }
  return hk__large_alloc(&heap->pool, size, align, zero);
}

void *hk__alloc_large(hk__heap_t *heap, size_t size, size_t align, bool zero) {
  hk__front_t *f = hk__front_at_hand(heap);
  if (align <= HK_GRANULE && f != NULL) {
    void *p = hk__front_large_pop(f, size);
    if (p != NULL) return zero ? memset(p, 0, size) : p;
  }
  return alloc_large_slow(heap, size, align, zero);
}

/* malloc's large path: f (heap's front of the calling thread, maybe the
 * empty record's) first, before any set-up call; a front with a block
 * cached belongs to a thread set up already. */
hk_noinline void *hk__malloc_large(hk__front_t *f, hk__heap_t *heap, size_t size) {
  void *p = hk__front_large_pop(f, size);
  if (hk_likely(p != NULL)) return p;
  return alloc_large_slow(heap, size, 0, false);
}
