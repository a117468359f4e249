/* The thread life cycle, in one place: each thread's record (its default
 * heap front and its fronts of user heaps), from the thread's first
 * allocation to its exit, and the lists that let heaps find every front.
 *
 * Threads start on hk__thread_empty, a const-like record whose fronts hold
 * no slab, so the fast paths never ask "initialised?": a thread's first
 * allocation misses, and the allocation slow path of the API layer sets
 * the process up, then calls hk__thread_init. Thread exit (a pthread key's
 * destructor) gives every owned slab and every bin back. Nothing here
 * calls malloc, so the override can sit on top.
 *
 * The default heap's record lives here too: every thread record embeds a
 * front of it. The API layer initialises it (heap/init.c) before the
 * first thread record is made.
 *
 * The global lock guards the front lists (each heap's, each thread's); the
 * API layer takes it for the heap list and the handle registry as well.
 * Lock order: global, then pool, then map, then meta; a depot lock alone. */
#include "internal.h"

#include <errno.h>

hk__heap_t hk__heap_main;

#define EMPTY ((hk__slab_t *)&hk__slab_empty)
hk__thread_t hk__thread_empty = {.main = {.direct = {[0 ... HK_SMALL_MAX] = EMPTY},
                                          .cur = {[0 ... HK_NUM_CLASSES - 1] = EMPTY},
                                          .head = {[0 ... HK_NUM_CLASSES - 1] = EMPTY},
                                          .thread = &hk__thread_empty},
                                 .last_heap = HK_NO_HEAP,
                                 .last_front = &hk__thread_empty.main};
__thread hk__thread_t *hk__tls __attribute__((tls_model("initial-exec"))) = &hk__thread_empty;

_Static_assert(sizeof(hk__thread_t) <= 16384 && sizeof(hk__front_t) <= 16384,
               "thread records and fronts are meta blocks (16 KiB at most)");

static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;

void hk__global_lock(void) { pthread_mutex_lock(&global_lock); }
void hk__global_unlock(void) { pthread_mutex_unlock(&global_lock); }

static void thread_done(void *arg);
static void key_create(void) { pthread_key_create(&thread_key, thread_done); }

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
  pthread_once(&key_once, key_create);
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

/* hk_heap_destroy: every thread's front of heap dies (global lock held).
 * They must never touch its slabs again, about to be unmapped, nor their
 * bins' blocks; their records are freed by their own threads. */
void hk__fronts_orphan(hk__heap_t *heap) {
  for (hk__front_t *f = heap->fronts; f != NULL; f = f->hnext) {
    hk__front_reset(f);
    f->heap = NULL;
    f->handle = NULL;
    f->lc_block_max = 0; /* frees of other heaps' blocks never land here */
    /* Not NULL: hk_heap_malloc(NULL, n) would hit the cache. */
    hk_heap_t *expect = heap->handle;
    atomic_compare_exchange_strong_explicit(&f->thread->last_heap, &expect, HK_NO_HEAP,
                                            memory_order_relaxed, memory_order_relaxed);
  }
  heap->fronts = NULL;
}
