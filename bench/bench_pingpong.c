/* bench_pingpong [ROUNDS]
 *
 * Core-to-core latency: two threads bounce one atomic word ROUNDS times
 * (default 20000) and the median round trip is printed as
 *   [PINGPONG] ns_per_round=<median> min=<min> max=<max>
 * bench/compare.sh runs it beside each repetition of a multi-thread lane:
 * on a VM whose two vCPUs really run at the same time a round trip takes
 * a few hundred ns at most, when they time-share it takes microseconds
 * (each hand-over waits for a reschedule), and cross-thread allocator
 * costs differ completely between the two states. No allocation is made. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SAMPLES 21 /* the rounds are timed in this many slices; the median slice is reported */

static _Alignas(64) _Atomic uint64_t word;
static uint64_t rounds = 20000;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Waits for the word to become `want`, yielding after a while so a
 * time-shared vCPU lets the other thread run. */
static void wait_for(uint64_t want) {
  unsigned spins = 0;
  while (atomic_load_explicit(&word, memory_order_acquire) != want)
    if (++spins > 4096) sched_yield();
}

static void *echo(void *arg) {
  (void)arg;
  for (uint64_t i = 0; i < rounds * SAMPLES; i++) {
    wait_for(2 * i + 1);
    atomic_store_explicit(&word, 2 * i + 2, memory_order_release);
  }
  return NULL;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc > 1) rounds = strtoull(argv[1], NULL, 10);
  if (rounds == 0) rounds = 1;
  pthread_t th;
  if (pthread_create(&th, NULL, echo, NULL) != 0) return 1;
  double ns[SAMPLES];
  uint64_t i = 0;
  for (int s = 0; s < SAMPLES; s++) {
    uint64_t t0 = now_ns();
    for (uint64_t k = 0; k < rounds; k++, i++) {
      atomic_store_explicit(&word, 2 * i + 1, memory_order_release);
      wait_for(2 * i + 2);
    }
    ns[s] = (double)(now_ns() - t0) / (double)rounds;
  }
  pthread_join(th, NULL);
  qsort(ns, SAMPLES, sizeof ns[0], cmp);
  printf("[PINGPONG] ns_per_round=%.0f min=%.0f max=%.0f\n", ns[SAMPLES / 2], ns[0],
         ns[SAMPLES - 1]);
  return 0;
}
