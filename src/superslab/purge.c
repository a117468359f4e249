/* Idle purge, the pool's half: one pass gives back what a pool's delays
 * have released (empty SuperSlabs and free slabs past decommit_delay_ms,
 * large runs, parked blocks and cached mappings past large_decay_ms) and
 * says when the next release is due; and the bell by which a pool's slow
 * paths tell the purger thread (heap/purge.c) of a deadline earlier than
 * the one it sleeps until. Deadlines are on each pool's clock (its hooks');
 * the purger's plan is on the real one, so the two meet as durations.
 *
 * Bell protocol. `planned` is the time (real monotonic ms) the purger will next wake:
 * UINT64_MAX when it sleeps with nothing due, 0 while it is awake (a pass
 * runs or is about to). A slow path that makes something due at `due`
 * reads it after making the change, and rings if due is earlier. The
 * purger publishes 0 before each pass and its plan after it. A change made
 * under the pool lock is ordered by that lock: either the pass takes it
 * after the change and sees it, or the pass took it first, so its 0 (or a
 * later plan) is what the slow path reads, and it rings; a change made
 * outside it (a depot put) fences first. A ring makes the next sleep
 * return at once. The bell's mutex is taken by slow paths only, never with
 * another lock held inside it. */
#include "internal.h"

#include <errno.h>
#include <time.h>

static pthread_mutex_t bell_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bell_cond;
static pthread_once_t bell_once = PTHREAD_ONCE_INIT;
static bool rung, stopping;
static _Atomic uint64_t planned;

static void bell_init(void) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(&bell_cond, &a);
  pthread_condattr_destroy(&a);
}

static uint64_t real_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void ring(void) {
  pthread_once(&bell_once, bell_init);
  pthread_mutex_lock(&bell_lock);
  rung = true;
  pthread_cond_signal(&bell_cond);
  pthread_mutex_unlock(&bell_lock);
}

void hk__purge_note(const hk__pool_t *pool, uint64_t in_ms) {
  if (!pool->policy.background_purge) return;
  uint64_t plan = atomic_load(&planned);
  if (plan == 0 || plan == UINT64_MAX || real_now_ms() + in_ms < plan) ring();
}

bool hk__purge_sleep(uint64_t ms) {
  pthread_once(&bell_once, bell_init);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
  atomic_store(&planned, ms == UINT64_MAX ? UINT64_MAX : now + (ms > 10 ? ms : 10));
  pthread_mutex_lock(&bell_lock);
  if (!rung && !stopping) {
    if (ms == UINT64_MAX) {
      pthread_cond_wait(&bell_cond, &bell_lock);
    } else {
      if (ms > 3600u * 1000u) ms = 3600u * 1000u;
      if (ms < 10) ms = 10; /* a release the OS refused is not retried in a spin */
      ts.tv_sec += (time_t)(ms / 1000u);
      ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&bell_cond, &bell_lock, &ts);
    }
  }
  rung = false;
  bool go_on = !stopping;
  pthread_mutex_unlock(&bell_lock);
  atomic_store(&planned, 0);
  return go_on;
}

void hk__purge_stop(bool stop) {
  pthread_once(&bell_once, bell_init);
  pthread_mutex_lock(&bell_lock);
  stopping = stop;
  rung = false;
  pthread_cond_signal(&bell_cond);
  pthread_mutex_unlock(&bell_lock);
}

/* In a fork's child: the purger is gone, and may have held the mutex. */
void hk__purge_after_fork(void) {
  pthread_once(&bell_once, bell_init);
  pthread_mutex_init(&bell_lock, NULL);
  bell_init();
  rung = false;
  stopping = false;
  atomic_store(&planned, 0);
}

static uint64_t earlier(uint64_t a, uint64_t b) { return a < b ? a : b; }

uint64_t hk__purge_in(uint64_t due, uint64_t now) {
  return due == UINT64_MAX ? UINT64_MAX : due > now ? due - now : 0;
}

uint64_t hk__pool_purge(hk__pool_t *pool) {
  pthread_mutex_lock(&pool->lock);
  uint64_t now = hk__os_now_ms(&pool->os);
  uint64_t next = hk__pool_purge_slabs(pool, now);
  next = earlier(next, hk__pool_purge_retained(pool));
  /* Parked blocks that leave join their areas' retained runs before the
   * decay tick, so they go back at the next one. */
  next = earlier(next, hk__large_purge(pool));
  next = earlier(next, hk__area_purge(pool));
  next = earlier(next, hk__region_purge(pool, now));
  pthread_mutex_unlock(&pool->lock);
  return hk__purge_in(next, now);
}
