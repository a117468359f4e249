/* A thread's cache of freed large blocks, per heap (in its front): the
 * common large malloc and free take no lock. A free of a live area block
 * by a thread with a front for its heap parks the block in that front
 * (state CACHED, the block and its record as they are: no bitmap, no map,
 * no lock); the thread's next large mallocs that it serves without much
 * waste take it back. Whoever frees keeps the block, as tcmalloc's and
 * jemalloc's thread caches do, so a thread that frees another's blocks
 * (a consumer) passes them on: when its cache is full, the older half goes
 * to the pool's parked list in one lock, and a thread whose cache has no
 * fit takes up to half a cache of fitting blocks from there in one lock.
 *
 * Bounds: HK_LCACHE_N blocks of at most HK_LCACHE_BLOCK_MAX (bigger ones
 * go to their area: a churn of big buffers is served best there) and an
 * 32nd of the heap's retained cap (region_cache_max_bytes) per front,
 * none in a heap with a budget; the pool's parked list holds
 * HK_PARKED_N blocks and a 16th of the cap, and gives back what sits
 * there past the decay delay. A
 * cache is emptied by its thread's flush (exit, hk_heap_trim) and dropped
 * with its heap. Blocks in caches count as retained, not live. */
#include "internal.h"
#include "tiny/front_inline.h"

#include <sched.h>
#include <string.h>

/* A heap with a budget keeps no per-thread cache: what its threads hold
 * could not be given back when the budget needs the room. */
size_t hk__front_large_cap(const hk__policy_t *pol) {
  return pol->max_bytes != 0 ? 0 : pol->region_cache_max_bytes / 32;
}

static void set_counts(hk__front_t *f, uint32_t n, size_t bytes) {
  atomic_store_explicit(&f->lc_n, n, memory_order_relaxed);
  atomic_store_explicit(&f->lc_bytes, bytes, memory_order_relaxed);
}

/* The oldest `n` cached blocks go to the pool. */
static void park_oldest(hk__front_t *f, uint32_t n) {
  uint32_t have = atomic_load_explicit(&f->lc_n, memory_order_relaxed);
  size_t bytes = atomic_load_explicit(&f->lc_bytes, memory_order_relaxed);
  for (uint32_t i = 0; i < n; i++) bytes -= hk__large_usable(f->lcache[i]);
  hk__large_park(&f->heap->pool, f->lcache, n);
  memmove(&f->lcache[0], &f->lcache[n], (have - n) * sizeof f->lcache[0]);
  set_counts(f, have - n, bytes);
}

/* The owner's side of the protocol is in tiny/front_inline.h
 * (hk__lc_use): a store and a load, no atomic read-modify-write. Another
 * thread (the purger, or hk_heap_trim; one at a time, under the global
 * lock) claims the cache by a store, hk__os_fence_threads, and a load.
 * That is Dekker's protocol with both barriers on the claiming side:
 * either the claimer sees lc_busy set, and backs off, or the thread sees
 * lc_claim set, and waits here for the claimer to finish (a few parks). */
hk_noinline void hk__lc_wait(hk__front_t *f) {
  do {
    atomic_store_explicit(&f->lc_busy, false, memory_order_release);
    while (atomic_load_explicit(&f->lc_claim, memory_order_acquire)) sched_yield();
    atomic_store_explicit(&f->lc_busy, true, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst); /* the claimer's fence orders it for the CPU */
  } while (atomic_load_explicit(&f->lc_claim, memory_order_acquire));
}

/* Another thread's hold on f's cache (global lock held). false: f's
 * thread is using it, or the kernel has no fence (then only f's thread
 * empties it: at its flush, which hk_heap_trim asks for). */
static bool claim(hk__front_t *f) {
  atomic_store_explicit(&f->lc_claim, true, memory_order_relaxed);
  if (hk__os_fence_threads() && !atomic_load_explicit(&f->lc_busy, memory_order_acquire))
    return true;
  atomic_store_explicit(&f->lc_claim, false, memory_order_release);
  return false;
}
static void unclaim(hk__front_t *f) {
  atomic_store_explicit(&f->lc_claim, false, memory_order_release);
}

bool hk__front_large_free(hk__front_t *f, hk__slab_t *s) {
  hk__ss_t *ss = s->ss;
  size_t usable = ss->map_size;
  if (usable > f->lc_block_max) return false;
  hk__lc_use(f);
  uint32_t n = atomic_load_explicit(&f->lc_n, memory_order_relaxed);
  if (n == HK_LCACHE_N || atomic_load_explicit(&f->lc_bytes, memory_order_relaxed) + usable >
                              f->lc_cap) {
    park_oldest(f, n == HK_LCACHE_N ? HK_LCACHE_N / 2 : n);
    n = atomic_load_explicit(&f->lc_n, memory_order_relaxed);
  }
  s->state = HK_SLAB_CACHED;
  f->lcache[n] = ss;
  set_counts(f, n + 1, atomic_load_explicit(&f->lc_bytes, memory_order_relaxed) + usable);
  hk__lc_done(f);
  return true;
}

/* The newest cached block that serves size, taken out; NULL if none. */
static hk__ss_t *take(hk__front_t *f, size_t size) {
  uint32_t n = atomic_load_explicit(&f->lc_n, memory_order_relaxed);
  for (uint32_t i = n; i-- > 0;) {
    hk__ss_t *ss = f->lcache[i];
    if (!hk__large_fits(hk__large_usable(ss), size)) continue;
    for (uint32_t j = i; j + 1 < n; j++) f->lcache[j] = f->lcache[j + 1];
    set_counts(f, n - 1, atomic_load_explicit(&f->lc_bytes, memory_order_relaxed) -
                             hk__large_usable(ss));
    return ss;
  }
  return NULL;
}

static void *cache_alloc(hk__front_t *f, size_t size, bool zero);

void *hk__front_large_alloc(hk__front_t *f, size_t size, bool zero) {
  if (f->heap == NULL) return NULL;
  hk__lc_use(f);
  void *p = cache_alloc(f, size, zero);
  hk__lc_done(f);
  return p;
}

static void *cache_alloc(hk__front_t *f, size_t size, bool zero) {
  hk__ss_t *ss = take(f, size);
  if (ss == NULL) {
    /* Refill from the parked blocks: up to half a cache that fit. */
    uint32_t n = atomic_load_explicit(&f->lc_n, memory_order_relaxed);
    if (n > HK_LCACHE_N / 2) park_oldest(f, n - HK_LCACHE_N / 2);
    n = atomic_load_explicit(&f->lc_n, memory_order_relaxed);
    unsigned got = hk__large_unpark(&f->heap->pool, size, &f->lcache[n], HK_LCACHE_N / 2);
    size_t bytes = atomic_load_explicit(&f->lc_bytes, memory_order_relaxed);
    for (unsigned i = 0; i < got; i++) bytes += hk__large_usable(f->lcache[n + i]);
    set_counts(f, n + got, bytes);
    if (got == 0) return NULL;
    ss = take(f, size);
  }
  ss->slabs[0].state = HK_SLAB_LARGE;
  void *p = ss->slabs[0].start;
  if (zero) memset(p, 0, size);
  return p;
}

static void flush(hk__front_t *f) {
  uint32_t n = atomic_load_explicit(&f->lc_n, memory_order_relaxed);
  if (n > 0 && f->heap != NULL) park_oldest(f, n);
  set_counts(f, 0, 0);
}

void hk__front_large_flush(hk__front_t *f) {
  hk__lc_use(f);
  flush(f);
  hk__lc_done(f);
}

/* Its thread holds the cache only for one malloc or free: a few tries. */
void hk__front_large_flush_other(hk__front_t *f) {
  for (int i = 0; i < 100; i++) {
    if (claim(f)) {
      flush(f);
      unclaim(f);
      return;
    }
    if (!hk__os_fence_threads()) return;
    sched_yield();
  }
}

/* The purger (global lock held, so f and its heap live): a cache its
 * thread has not used for the decay delay goes to the pool, as blocks
 * that have aged already. Never waits for the thread. */
uint64_t hk__front_large_purge(hk__front_t *f, uint64_t now) {
  const hk__policy_t *pol = &f->heap->pool.policy;
  if (atomic_load_explicit(&f->lc_n, memory_order_relaxed) == 0 || !hk__policy_large_decays(pol))
    return UINT64_MAX;
  bool idle = false;
  if (!claim(f)) return hk__os_fence_threads() ? 10 : UINT64_MAX; /* in use: soon again */
  uint32_t n = atomic_load_explicit(&f->lc_n, memory_order_relaxed);
  if (f->lc_ops != f->lc_seen_ops) {
    f->lc_seen_ops = f->lc_ops;
    f->lc_seen_ms = now;
  } else if (n > 0 && hk__policy_large_tick_due(pol, f->lc_seen_ms, now)) {
    hk__large_release_aged(&f->heap->pool, f->lcache, n);
    set_counts(f, 0, 0);
    idle = true;
  }
  unclaim(f);
  return idle || n == 0 ? UINT64_MAX : hk__purge_in(f->lc_seen_ms + pol->large_decay_ms, now);
}

void hk__front_large_drop(hk__front_t *f) { set_counts(f, 0, 0); }
