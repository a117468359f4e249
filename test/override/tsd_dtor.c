/* malloc and free from a thread-specific-data destructor that runs after
 * hakmem's own thread-exit destructor: the thread has handed its slabs back
 * and its record is gone, so its next malloc sets the thread up again
 * (libhakmem_malloc.so also re-attaches its thread-local size table), and
 * the second round of destructors gives that record back. Blocks made
 * there must be whole, blocks freed there must go back, and 3,000 such
 * threads must not grow resident memory. */
#define _GNU_SOURCE
#include "ovr_test.h"

#include <pthread.h>
#include <unistd.h>

#define THREADS 3000
#define BATCH 6
#define WARMUP 100
#define NBLK 32
#define RSS_SLACK ((long)16 << 20)

static pthread_key_t late_key;
static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static void *handoff; /* made in one thread's destructor, freed by a later one */

typedef struct {
  void *p[NBLK];
  size_t n[NBLK];
  uint64_t rng;
} held_t;

static size_t pick(uint64_t *rng, int i) {
  if (i == 0) return 100 * 1024; /* large */
  if (i == 1) return 20 * 1024;  /* mid */
  return (size_t)(ovr_rand(rng) % 1100);
}

/* Registered after hakmem's key (hakmem sets its key up on the first
 * malloc, before main), so it runs after hakmem's destructor. */
static void late_dtor(void *arg) {
  held_t *h = arg;
  for (int i = 0; i < NBLK; i++) {
    if (!ovr_verify(h->p[i], h->n[i], (uint64_t)i)) OVR_FAIL("block broken before the destructor");
    if (i % 2) {
      free(h->p[i]);
      h->n[i] = pick(&h->rng, i);
      h->p[i] = malloc(h->n[i]);
      if (h->p[i] == NULL) OVR_FAIL("malloc in a destructor failed");
      ovr_fill(h->p[i], h->n[i], (uint64_t)i);
    }
  }
  for (int i = 1; i < NBLK; i++) {
    if (!ovr_verify(h->p[i], h->n[i], (uint64_t)i)) OVR_FAIL("block broken in the destructor");
    free(h->p[i]);
  }
  pthread_mutex_lock(&handoff_lock);
  void *old = handoff;
  handoff = h->p[0];
  pthread_mutex_unlock(&handoff_lock);
  free(old);
  free(h);
}

static void *work(void *arg) {
  held_t *h = malloc(sizeof *h);
  if (h == NULL) OVR_FAIL("malloc failed");
  h->rng = (uintptr_t)arg * 2654435761u + 5;
  for (int i = 0; i < NBLK; i++) {
    h->n[i] = pick(&h->rng, i);
    h->p[i] = malloc(h->n[i]);
    if (h->p[i] == NULL) OVR_FAIL("malloc failed");
    ovr_fill(h->p[i], h->n[i], (uint64_t)i);
  }
  if (pthread_setspecific(late_key, h) != 0) OVR_FAIL("pthread_setspecific failed");
  return NULL;
}

int main(int argc, char **argv) {
  ovr_expect_hakmem_if_asked(argc, argv);
  free(malloc(1)); /* the allocator's own key first */
  if (pthread_key_create(&late_key, late_dtor) != 0) OVR_FAIL("pthread_key_create failed");
  ovr_run_threads(0, WARMUP, BATCH, work);
  long start = ovr_rss_bytes();
  ovr_run_threads(WARMUP, WARMUP + THREADS, BATCH, work);
  long end = ovr_rss_bytes();
  free(handoff);
  printf("tsd_dtor: %d threads, RSS %ld KiB -> %ld KiB\n", THREADS, start >> 10, end >> 10);
  if (HK_TEST_EMULATED) printf("RSS not checked under emulation (qemu-user keeps memory per thread)\n");
  else if (end > start + RSS_SLACK)
    OVR_FAIL("RSS grew by %ld KiB (limit %ld KiB)", (end - start) >> 10, RSS_SLACK >> 10);
  return 0;
}
