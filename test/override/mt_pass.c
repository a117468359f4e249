/* Blocks passed between threads: thread i allocates (malloc, calloc,
 * posix_memalign, aligned_alloc), fills and sends each block to thread i+1,
 * which checks the pattern, sometimes reallocs it (so realloc runs on a block
 * another thread owns) and frees it. Every free is therefore a remote free.
 * Built twice: plainly (run under LD_PRELOAD) and linked with
 * libhakmem_malloc.so (link-time interposition). */
#define _GNU_SOURCE
#include "ovr_test.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define NTHREADS 4
#define PER_THREAD 60000
#define QCAP 512

typedef struct msg_s {
  void *p;
  size_t size;
  uint64_t tag;
  size_t align; /* 0: no alignment promise to check beyond 16 */
} msg_t;

typedef struct queue_s {
  pthread_mutex_t lock;
  msg_t items[QCAP];
  unsigned head, count;
} queue_t;

static queue_t queues[NTHREADS];
static atomic_ulong consumed;
static atomic_ullong bytes_total;

static int q_push(queue_t *q, msg_t m) {
  int ok = 0;
  pthread_mutex_lock(&q->lock);
  if (q->count < QCAP) {
    q->items[(q->head + q->count) % QCAP] = m;
    q->count++;
    ok = 1;
  }
  pthread_mutex_unlock(&q->lock);
  return ok;
}

static int q_pop(queue_t *q, msg_t *m) {
  int ok = 0;
  pthread_mutex_lock(&q->lock);
  if (q->count > 0) {
    *m = q->items[q->head];
    q->head = (q->head + 1) % QCAP;
    q->count--;
    ok = 1;
  }
  pthread_mutex_unlock(&q->lock);
  return ok;
}

static void consume(msg_t m, uint64_t *rng) {
  if (m.align && ((uintptr_t)m.p & (m.align - 1)) != 0)
    OVR_FAIL("block %p not aligned to %zu", m.p, m.align);
  if ((uintptr_t)m.p & 15) OVR_FAIL("block %p not 16-byte aligned", m.p);
  if (!ovr_verify(m.p, m.size, m.tag)) OVR_FAIL("pattern broken in %zu-byte block", m.size);
  if (malloc_usable_size(m.p) < m.size) OVR_FAIL("usable size below request");
  if (ovr_rand(rng) % 4 == 0) {
    size_t nsize = ovr_size(rng);
    void *q = realloc(m.p, nsize);
    if (q == NULL && nsize != 0) OVR_FAIL("realloc(%zu) failed", nsize);
    size_t keep = m.size < nsize ? m.size : nsize;
    if (keep && !ovr_verify_prefix(q, m.size, keep, m.tag)) OVR_FAIL("realloc lost the contents");
    m.p = q;
  }
  free(m.p);
  atomic_fetch_add_explicit(&consumed, 1, memory_order_relaxed);
}

static msg_t produce(uint64_t *rng, uint64_t tag) {
  msg_t m = {NULL, ovr_size(rng), tag, 0};
  switch (ovr_rand(rng) % 8) {
  case 0:
    m.p = calloc(1, m.size);
    if (m.p) {
      const unsigned char *b = m.p;
      for (size_t i = 0; i < m.size; i++)
        if (b[i]) OVR_FAIL("calloc block not zeroed");
    }
    break;
  case 1:
    m.align = (size_t)64 << (ovr_rand(rng) % 11); /* 64 B .. 64 KiB */
    if (posix_memalign(&m.p, m.align, m.size) != 0) m.p = NULL;
    break;
  case 2:
    m.align = (size_t)32 << (ovr_rand(rng) % 6);
    m.p = aligned_alloc(m.align, m.size);
    break;
  default:
    m.p = malloc(m.size);
  }
  if (m.p == NULL) OVR_FAIL("allocation of %zu bytes failed (errno %d)", m.size, errno);
  ovr_fill(m.p, m.size, tag);
  atomic_fetch_add_explicit(&bytes_total, m.size, memory_order_relaxed);
  return m;
}

static void *worker(void *arg) {
  unsigned id = (unsigned)(uintptr_t)arg;
  uint64_t rng = 0x1234567ull * (id + 1);
  queue_t *in = &queues[id], *out = &queues[(id + 1) % NTHREADS];
  msg_t m;
  for (unsigned i = 0; i < PER_THREAD; i++) {
    msg_t nm = produce(&rng, ((uint64_t)id << 32) | i);
    /* When the next queue is full, work on our own instead of waiting: with
     * every thread waiting on a full queue the ring would deadlock. */
    while (!q_push(out, nm)) {
      if (q_pop(in, &m)) consume(m, &rng);
      else sched_yield();
    }
    if (q_pop(in, &m)) consume(m, &rng);
  }
  while (atomic_load(&consumed) < (unsigned long)NTHREADS * PER_THREAD) {
    if (q_pop(in, &m)) consume(m, &rng);
    else sched_yield();
  }
  return NULL;
}

int main(int argc, char **argv) {
  ovr_expect_hakmem_if_asked(argc, argv);
  pthread_t th[NTHREADS];
  for (unsigned i = 0; i < NTHREADS; i++) pthread_mutex_init(&queues[i].lock, NULL);
  for (unsigned i = 0; i < NTHREADS; i++)
    if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i) != 0)
      OVR_FAIL("pthread_create");
  for (unsigned i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  printf("mt_pass ok: %lu blocks, %llu bytes\n", (unsigned long)atomic_load(&consumed),
         (unsigned long long)atomic_load(&bytes_total));
  return 0;
}
