/* Helpers shared by the override tests. The programs are built without the
 * hakmem headers on purpose (they are ordinary malloc users); whether hakmem
 * really serves malloc is asked at run time through dlsym, which finds
 * hk_heap_of only if libhakmem_malloc.so is in the process. */
#ifndef OVR_TEST_H
#define OVR_TEST_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OVR_FAIL(...)                                        \
  do {                                                       \
    fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);     \
    fprintf(stderr, __VA_ARGS__);                            \
    fputc('\n', stderr);                                     \
    exit(1);                                                 \
  } while (0)

#define OVR_CHECK(cond)                                      \
  do {                                                       \
    if (!(cond)) OVR_FAIL("check failed: %s", #cond);        \
  } while (0)

/* Under an emulator (the arm64 CI step runs these in qemu-user) RSS is the
 * emulator's as much as the program's, and qemu-user 7.2 aborts in a child
 * forked while other guest threads run (glibc's malloc too): such checks
 * are skipped, with the reason printed; exit code 77 tells ctest. */
#ifndef HK_TEST_EMULATED
#define HK_TEST_EMULATED 0
#endif
#define OVR_SKIP_EMULATED(why)                                               \
  do {                                                                       \
    if (HK_TEST_EMULATED) {                                                  \
      printf("skipped under emulation: %s\n", why);                          \
      exit(77);                                                              \
    }                                                                        \
  } while (0)

/* With "--hakmem" among the arguments, exit with an error unless malloc's
 * blocks belong to hakmem (catches an LD_PRELOAD that silently did nothing). */
static inline void ovr_expect_hakmem_if_asked(int argc, char **argv) {
  int asked = 0;
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--hakmem") == 0) asked = 1;
  if (!asked) return;
  void *(*heap_of)(const void *) = (void *(*)(const void *))dlsym(RTLD_DEFAULT, "hk_heap_of");
  if (heap_of == NULL) OVR_FAIL("hk_heap_of not found: hakmem is not loaded");
  void *p = malloc(40);
  void *q = malloc(200000);
  if (heap_of(p) == NULL || heap_of(q) == NULL)
    OVR_FAIL("malloc is not served by hakmem");
  free(p);
  free(q);
}

/* Deterministic generator (splitmix64): the tests must not depend on rand()'s
 * hidden state or locking. */
static inline uint64_t ovr_rand(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Fill / verify a block with a pattern derived from a tag. Big blocks get
 * their head, tail and one byte per 256 written: enough to catch overlap or
 * a wrong copy, without the tests spending their time in memset. */
#define OVR_EDGE 1024u

static inline unsigned char ovr_byte(uint64_t tag, size_t i) {
  return (unsigned char)(tag + i * 31u);
}

/* Runs body for every index to touch: all of a small block; head, tail and
 * one byte per 256 of a big one. */
#define OVR_FOR_TOUCHED(n, i, body)                                   \
  do {                                                                \
    size_t n_ = (n);                                                  \
    if (n_ <= 4 * OVR_EDGE) {                                         \
      for (size_t i = 0; i < n_; i++) body;                           \
    } else {                                                          \
      for (size_t i = 0; i < OVR_EDGE; i++) body;                     \
      for (size_t i = OVR_EDGE; i < n_ - OVR_EDGE; i += 256) body;    \
      for (size_t i = n_ - OVR_EDGE; i < n_; i++) body;               \
    }                                                                 \
  } while (0)

static inline void ovr_fill(void *p, size_t n, uint64_t tag) {
  unsigned char *b = p;
  OVR_FOR_TOUCHED(n, i, { b[i] = ovr_byte(tag, i); });
}

static inline int ovr_verify(const void *p, size_t n, uint64_t tag) {
  const unsigned char *b = p;
  OVR_FOR_TOUCHED(n, i, { if (b[i] != ovr_byte(tag, i)) return 0; });
  return 1;
}

/* Verify the first `keep` bytes of a block filled with size n (after a
 * realloc that kept only a prefix). */
static inline int ovr_verify_prefix(const void *p, size_t n, size_t keep, uint64_t tag) {
  const unsigned char *b = p;
  OVR_FOR_TOUCHED(n, i, { if (i < keep && b[i] != ovr_byte(tag, i)) return 0; });
  return 1;
}

/* Size mix: mostly small, some mid (SuperSlab 512 KiB slabs), a few large
 * (direct mappings behind the region cache). */
static inline size_t ovr_size(uint64_t *s) {
  uint64_t r = ovr_rand(s);
  unsigned pick = (unsigned)(r % 100);
  r >>= 8;
  if (pick < 70) return (size_t)(r % 1024);
  if (pick < 92) return 1024 + (size_t)(r % (64 * 1024 - 1024));
  return 64 * 1024 + (size_t)(r % (960 * 1024));
}

/* Resident memory now (not the peak), in bytes. */
static inline long ovr_rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (f == NULL) OVR_FAIL("cannot open /proc/self/statm");
  if (fscanf(f, "%ld %ld", &size, &resident) != 2) OVR_FAIL("cannot parse statm");
  fclose(f);
  return resident * sysconf(_SC_PAGESIZE);
}

/* Threads from..to-1 run fn((void *)i), at most 16 at a time: each batch
 * is joined before the next starts (thread churn). */
static inline void ovr_run_threads(unsigned from, unsigned to, unsigned batch,
                                   void *(*fn)(void *)) {
  pthread_t th[16];
  if (batch > 16) batch = 16;
  for (unsigned i = from; i < to; i += batch) {
    unsigned n = to - i < batch ? to - i : batch;
    for (unsigned k = 0; k < n; k++)
      if (pthread_create(&th[k], NULL, fn, (void *)(uintptr_t)(i + k)) != 0)
        OVR_FAIL("pthread_create failed at thread %u", i + k);
    for (unsigned k = 0; k < n; k++) pthread_join(th[k], NULL);
  }
}

#endif
