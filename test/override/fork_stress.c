/* fork() while other threads are inside malloc/free. The child inherits the
 * allocator in whatever state the parent's threads left it; it must be able
 * to allocate, free blocks the parent allocated (their owner threads do not
 * exist in the child), start a thread, and exit. A lock left held across
 * fork shows up as a child that never exits: a watchdog alarm turns that
 * into a SIGALRM death the parent reports. */
#define _GNU_SOURCE
#include "ovr_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#define HAMMERS 3
#define FORKS 200
#define SLOTS 64

static atomic_int stop;

/* Blocks the main thread keeps across forks; the child checks and frees its
 * copies. */
static void *kept[SLOTS];
static size_t kept_size[SLOTS];

static void *hammer(void *arg) {
  uint64_t rng = (uintptr_t)arg * 7919u + 1;
  void *slot[SLOTS] = {0};
  size_t size[SLOTS] = {0};
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    unsigned i = (unsigned)(ovr_rand(&rng) % SLOTS);
    if (slot[i]) {
      if (!ovr_verify(slot[i], size[i], i)) OVR_FAIL("hammer: pattern broken");
      free(slot[i]);
    }
    size[i] = ovr_size(&rng);
    slot[i] = (ovr_rand(&rng) & 1) ? malloc(size[i]) : realloc(NULL, size[i]);
    if (slot[i] == NULL) OVR_FAIL("hammer: malloc failed");
    ovr_fill(slot[i], size[i], i);
  }
  for (unsigned i = 0; i < SLOTS; i++) free(slot[i]);
  return NULL;
}

static void *child_thread(void *arg) {
  uint64_t rng = (uintptr_t)arg;
  for (int i = 0; i < 1000; i++) {
    size_t n = ovr_size(&rng);
    void *p = malloc(n);
    if (p == NULL) return (void *)1;
    ovr_fill(p, n, 3);
    free(p);
  }
  return NULL;
}

static void child(int round) {
  alarm(60);
  uint64_t rng = (uint64_t)round + 99;
  for (unsigned i = 0; i < SLOTS; i++) {
    if (!ovr_verify(kept[i], kept_size[i], i + 1000)) _exit(2);
    free(kept[i]);
  }
  void *blocks[256];
  for (int rep = 0; rep < 4; rep++) {
    for (int i = 0; i < 256; i++) {
      /* One large block per pass; the rest small or mid, so a child costs
       * little more than the fork itself. */
      size_t n = i == 0 ? 300000 : ovr_size(&rng) % 65536;
      blocks[i] = malloc(n);
      if (blocks[i] == NULL) _exit(3);
      ovr_fill(blocks[i], n, 5);
    }
    for (int i = 0; i < 256; i++) free(blocks[i]);
  }
  if (round % 10 == 0) {
    pthread_t t;
    void *res = NULL;
    if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)round) != 0) _exit(4);
    pthread_join(t, &res);
    if (res != NULL) _exit(5);
  }
  _exit(0);
}

int main(int argc, char **argv) {
  ovr_expect_hakmem_if_asked(argc, argv);
  OVR_SKIP_EMULATED("qemu-user aborts in a child forked while guest threads run");
  pthread_t th[HAMMERS];
  for (uintptr_t i = 0; i < HAMMERS; i++)
    if (pthread_create(&th[i], NULL, hammer, (void *)i) != 0) OVR_FAIL("pthread_create");

  uint64_t rng = 42;
  int failures = 0;
  for (int round = 0; round < FORKS; round++) {
    for (unsigned i = 0; i < SLOTS; i++) {
      kept_size[i] = ovr_size(&rng);
      kept[i] = malloc(kept_size[i]);
      if (kept[i] == NULL) OVR_FAIL("malloc failed");
      ovr_fill(kept[i], kept_size[i], i + 1000);
    }
    pid_t pid = fork();
    if (pid < 0) OVR_FAIL("fork failed");
    if (pid == 0) child(round);
    int status;
    if (waitpid(pid, &status, 0) != pid) OVR_FAIL("waitpid failed");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      if (WIFSIGNALED(status))
        fprintf(stderr, "round %d: child killed by signal %d%s\n", round, WTERMSIG(status),
                WTERMSIG(status) == SIGALRM ? " (hung: lock held across fork?)" : "");
      else
        fprintf(stderr, "round %d: child exit status %d\n", round, WEXITSTATUS(status));
      failures++;
    }
    for (unsigned i = 0; i < SLOTS; i++) free(kept[i]);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < HAMMERS; i++) pthread_join(th[i], NULL);
  if (failures) OVR_FAIL("%d of %d children failed", failures, FORKS);
  printf("fork_stress ok: %d forks\n", FORKS);
  return 0;
}
