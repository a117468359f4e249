/* 10,000 short-lived threads, each allocating and freeing, some leaving a
 * block for the next thread to free after they are gone. Memory a dead
 * thread held (its fronts' slabs, its thread record) must be reused by the
 * next ones, so resident memory at the end stays near the start. */
#define _GNU_SOURCE
#include "ovr_test.h"

#include <pthread.h>
#include <unistd.h>

#define THREADS 10000
#define BATCH 8
#define WARMUP 200
#define RSS_SLACK ((long)16 << 20)

static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static void *handoff;       /* left by one thread, freed by a later one */
static size_t handoff_size;

static void *work(void *arg) {
  uint64_t rng = (uintptr_t)arg * 2654435761u + 17;
  void *blocks[64];
  size_t sizes[64];
  for (int i = 0; i < 64; i++) {
    sizes[i] = (size_t)(ovr_rand(&rng) % 2048);
    if (i == 0) sizes[i] = 100 * 1024;  /* one large block */
    if (i == 1) sizes[i] = 20 * 1024;   /* one mid block */
    blocks[i] = malloc(sizes[i]);
    if (blocks[i] == NULL) OVR_FAIL("malloc failed");
    ovr_fill(blocks[i], sizes[i], (uint64_t)i);
  }
  for (int i = 1; i < 64; i++) {
    if (!ovr_verify(blocks[i], sizes[i], (uint64_t)i)) OVR_FAIL("pattern broken");
    free(blocks[i]);
  }
  /* Swap our large block with the one the previous thread left: the old one
   * is freed by a thread that never owned it, after its owner exited. */
  pthread_mutex_lock(&handoff_lock);
  void *old = handoff;
  size_t old_size = handoff_size;
  handoff = blocks[0];
  handoff_size = sizes[0];
  pthread_mutex_unlock(&handoff_lock);
  if (old) {
    if (!ovr_verify(old, old_size, 0)) OVR_FAIL("handoff block broken");
    free(old);
  }
  return NULL;
}

int main(int argc, char **argv) {
  ovr_expect_hakmem_if_asked(argc, argv);
  /* The warm-up fills glibc's thread-stack cache and the allocator's
   * steady-state working set, so the measurement sees only growth. */
  ovr_run_threads(0, WARMUP, BATCH, work);
  long start = ovr_rss_bytes();
  ovr_run_threads(WARMUP, WARMUP + THREADS, BATCH, work);
  long end = ovr_rss_bytes();
  free(handoff);
  printf("thread_churn: %d threads, RSS %ld KiB -> %ld KiB\n", THREADS, start >> 10, end >> 10);
  if (HK_TEST_EMULATED) printf("RSS not checked under emulation (qemu-user keeps memory per thread)\n");
  else if (end > start + RSS_SLACK)
    OVR_FAIL("RSS grew by %ld KiB (limit %ld KiB)", (end - start) >> 10, RSS_SLACK >> 10);
  return 0;
}
