/* The purger thread: gives back, on time, what the delays of heaps
 * created with background_purge release, while no thread calls hakmem.
 *
 * Life: started by the first such heap's hk_heap_create, stopped and
 * joined by the last one's hk_heap_destroy and at process exit. In a
 * fork's child it does not exist: it is started again there at the
 * child's first allocation slow path, heap creation or trim, if a heap
 * still needs it. A process that creates no such heap never has one.
 *
 * A pass (global lock held, so no heap it visits is destroyed under it):
 * for each heap that asks for it, the depot's chains once they have sat
 * untouched for the decommit delay (their blocks go home, so their slabs
 * can empty), then the pool's pass (superslab/purge.c). Then it sleeps
 * until the earliest deadline, or until a slow path rings because it made
 * something due earlier. It takes only slow-path locks (global, pool,
 * depot), owns no memory (its thread record stays the empty one) and runs
 * at the lowest priority, with every signal blocked. */
#include "internal.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_mutex_t life_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t users;   /* live heaps with background_purge (life_lock) */
static bool running;   /* (life_lock) */
static pthread_t purger;
static _Atomic bool restart; /* a fork's child: users > 0, no thread */

static uint64_t earlier(uint64_t a, uint64_t b) { return a < b ? a : b; }

uint64_t hk__purge_heap(hk__heap_t *heap) {
  hk__pool_t *pool = &heap->pool;
  uint64_t next = UINT64_MAX;
  size_t blocks = 0;
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) blocks += hk__depot_blocks(pool, c);
  if (blocks != 0) {
    uint64_t now = hk__os_now_ms(&pool->os), delay = pool->policy.decommit_delay_ms;
    if (blocks != heap->purge_depot_blocks) { /* moved since the last pass */
      heap->purge_depot_blocks = blocks;
      heap->purge_depot_since = now;
      next = delay;
    } else if (now - heap->purge_depot_since >= delay) {
      hk__depot_flush(pool, NULL);
      heap->purge_depot_blocks = 0;
    } else {
      next = heap->purge_depot_since + delay - now;
    }
  }
  /* Fronts' large caches first: what leaves them joins the pool's pass. */
  uint64_t now = hk__os_now_ms(&pool->os);
  for (hk__front_t *f = heap->fronts; f != NULL; f = f->hnext)
    next = earlier(next, hk__front_large_purge(f, now));
  return earlier(next, hk__pool_purge(pool));
}

static void *purger_main(void *arg) {
  (void)arg;
#ifdef __linux__
  pthread_setname_np(pthread_self(), "hakmem-purge");
  setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19); /* best effort */
#endif
  uint64_t next;
  bool lingered = false;
  do {
    next = UINT64_MAX;
    uint64_t linger = UINT64_MAX;
    hk__global_lock();
    for (hk__heap_t *h = hk__heaps(); h != NULL; h = h->next) {
      if (!h->pool.policy.background_purge) continue;
      next = earlier(next, hk__purge_heap(h));
      linger = earlier(linger, h->pool.policy.decommit_delay_ms);
    }
    hk__global_unlock();
    /* Nothing pending: a pass that found something to wait for, or was
     * rung, is followed by one more a delay later before the thread
     * sleeps until rung. A program whose slabs empty and refill all the
     * time would otherwise ring at every emptying (the purger's pass
     * finds them refilled), a futex wake each; lingering, its emptyings
     * fall before the purger's plan and ring nothing. */
    if (next == UINT64_MAX) {
      hk__map_trim(); /* the map's idle pages too */
      if (!lingered) next = linger;
      lingered = !lingered;
    } else {
      lingered = false;
    }
  } while (hk__purge_sleep(next));
  return NULL;
}

/* life_lock held. If the thread cannot be made, the delays still apply on
 * slow paths and hk_heap_trim, as with background_purge 0. */
static void start(void) {
  hk__purge_stop(false);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread inherits the mask */
  /* A small stack: a pass needs a few KiB, and under a tight RLIMIT_AS the
   * default 8 MiB would be address space the heaps could not have. */
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, (size_t)128 << 10);
  running = pthread_create(&purger, &attr, purger_main, NULL) == 0;
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void stop(void) {
  hk__purge_stop(true);
  pthread_join(purger, NULL);
  running = false;
}

void hk__purger_join(hk__heap_t *heap) {
  if (!heap->pool.policy.background_purge) return;
  pthread_mutex_lock(&life_lock);
  if (users++ == 0 || !running) start();
  pthread_mutex_unlock(&life_lock);
}

void hk__purger_leave(hk__heap_t *heap) {
  if (!heap->pool.policy.background_purge) return;
  pthread_mutex_lock(&life_lock);
  if (--users == 0 && running) stop();
  pthread_mutex_unlock(&life_lock);
}

bool hk__purger_running(void) {
  pthread_mutex_lock(&life_lock);
  bool r = running;
  pthread_mutex_unlock(&life_lock);
  return r;
}

void hk__purger_poll(void) {
  if (hk_likely(!atomic_load_explicit(&restart, memory_order_relaxed))) return;
  /* Cleared first: pthread_create may allocate, which comes back here. */
  if (!atomic_exchange(&restart, false)) return;
  pthread_mutex_lock(&life_lock);
  if (users > 0 && !running) start();
  pthread_mutex_unlock(&life_lock);
}

void hk__purger_after_fork(void) {
  pthread_mutex_init(&life_lock, NULL);
  hk__purge_after_fork();
  atomic_store(&restart, running && users > 0);
  running = false;
}

/* Process exit: the thread stops before the library's data goes away. */
__attribute__((destructor)) static void purger_exit(void) {
  pthread_mutex_lock(&life_lock);
  if (running) stop();
  pthread_mutex_unlock(&life_lock);
}
