/* Process and thread life cycle: one-time process setup (default heap,
 * thread-exit key, fork handlers), thread records, and the lookup of a
 * thread's front for a user heap.
 *
 * Threads start on hk__thread_empty, whose fronts hold no slab, so the
 * first allocation falls into the slow path, which calls hk__thread_init.
 * Nothing here calls malloc, so the override can sit on top. */
#include "internal.h"

#include <errno.h>
#include <string.h>

hk__heap_t hk__heap_main;

_Static_assert(sizeof(hk__thread_t) <= 16384 && sizeof(hk__front_t) <= 16384,
               "thread records and fronts are meta blocks (16 KiB at most)");

static pthread_once_t process_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER; /* heaps, fronts lists */
static hk__heap_t *heaps;                                       /* all heaps */

void hk__global_lock(void) { pthread_mutex_lock(&global_lock); }
void hk__global_unlock(void) { pthread_mutex_unlock(&global_lock); }

/* Lock order: global -> pool -> map -> meta; a depot lock is taken alone. */
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
  pthread_mutex_lock(&global_lock);
  for (hk__heap_t *h = heaps; h; h = h->next) pthread_mutex_lock(&h->pool.lock);
  hk__map_lock();
  hk__meta_lock_all();
}
static void fork_parent(void) {
  hk__meta_unlock_all();
  hk__map_unlock();
  for (hk__heap_t *h = heaps; h; h = h->next) pthread_mutex_unlock(&h->pool.lock);
  pthread_mutex_unlock(&global_lock);
}
/* The depots' locks are not held across fork (80 per heap): they are leaf
 * locks whose holders leave a consistent depot after every store, so the
 * child starts them afresh (bin.c). */
static void fork_child(void) {
  for (hk__heap_t *h = heaps; h; h = h->next) hk__depot_after_fork(&h->pool);
  fork_parent();
}

static void thread_done(void *arg);

static void process_init_once(void) {
  hk_heap_config_t cfg;
  hk_heap_config_init(&cfg);
  cfg.name = "default";
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
  pthread_key_create(&thread_key, thread_done);
  pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void hk__process_init(void) { pthread_once(&process_once, process_init_once); }

/* Links f into heap's front list (global lock held). */
static void front_link(hk__heap_t *heap, hk__front_t *f) {
  f->hprev = NULL;
  f->hnext = heap->fronts;
  if (heap->fronts) heap->fronts->hprev = f;
  heap->fronts = f;
}
static void front_unlink(hk__heap_t *heap, hk__front_t *f) {
  if (f->hprev) f->hprev->hnext = f->hnext; else heap->fronts = f->hnext;
  if (f->hnext) f->hnext->hprev = f->hprev;
}

hk__thread_t *hk__thread_init(void) {
  static _Atomic uint64_t serials;
  hk__thread_t *t = hk__tls;
  if (t->live) return t;
  hk__process_init();
  t = hk__meta_alloc(sizeof *t);
  if (t == NULL) return NULL;
  hk__front_init(&t->main, &hk__heap_main, t);
  t->token = hk__self_token();
  t->serial = atomic_fetch_add_explicit(&serials, 1, memory_order_relaxed) + 1;
  t->last_front = &t->main;
  atomic_store_explicit(&t->last_heap, HK_DEFAULT_HEAP, memory_order_relaxed);
  t->live = 1;
  /* On the default heap's front list, so its stats see every thread's bins. */
  hk__global_lock();
  front_link(&hk__heap_main, &t->main);
  hk__global_unlock();
  hk__tls = t;
  /* May allocate (glibc, keys >= 32): t is already installed, so that works. */
  pthread_setspecific(thread_key, t);
  return t;
}

/* Thread exit: every owned slab goes back to its heap's pool. Frees that
 * arrive later for those slabs are remote frees, drained by the next owner. */
static void thread_done(void *arg) {
  hk__thread_t *t = arg;
  hk__front_flush(&t->main);
  hk__global_lock();
  front_unlink(&hk__heap_main, &t->main);
  hk__front_release(&t->main);
  for (hk__front_t *f = t->fronts, *n; f != NULL; f = n) {
    n = f->tnext;
    if (f->heap != NULL) {
      hk__front_flush(f);
      front_unlink(f->heap, f);
    }
    hk__front_release(f);
    hk__meta_free(f, sizeof *f);
  }
  t->fronts = NULL;
  hk__global_unlock();
  hk__tls = &hk__thread_empty;
  hk__meta_free(t, sizeof *t);
}

/* This thread's front for a user heap, created on first use. Dead fronts
 * (their heap destroyed) are dropped on the way. */
hk__front_t *hk__front_lookup(hk__heap_t *heap) {
  hk__thread_t *t = hk__thread_init();
  if (t == NULL) return NULL;
  if (heap == &hk__heap_main) return &t->main;
  hk__front_t *found = NULL;
  hk__global_lock();
  for (hk__front_t **pp = &t->fronts; *pp != NULL;) {
    hk__front_t *f = *pp;
    if (f->heap == NULL) {
      *pp = f->tnext;
      hk__front_release(f);
      hk__meta_free(f, sizeof *f);
      continue;
    }
    if (f->heap == heap) found = f;
    pp = &f->tnext;
  }
  if (found == NULL) {
    found = hk__meta_alloc(sizeof *found);
    if (found != NULL) {
      hk__front_init(found, heap, t);
      found->tnext = t->fronts;
      t->fronts = found;
      front_link(heap, found);
    }
  }
  hk__global_unlock();
  if (found != NULL) {
    t->last_front = found;
    atomic_store_explicit(&t->last_heap, heap->handle, memory_order_relaxed);
  } else {
    errno = ENOMEM;
  }
  return found;
}
