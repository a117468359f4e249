/* Helpers shared by the unit tests: address-derived fill patterns, a small
 * deterministic PRNG, process RSS, and stats shortcuts.
 *
 * Patterns are derived from a seed (normally the block's own address) so a
 * block overwritten by another block's data, or handed out twice, is caught
 * even when both contain "valid looking" bytes.
 */
#ifndef HAKMEM_TEST_UTIL_H
#define HAKMEM_TEST_UTIL_H

#include <hakmem/hakmem.h>

/* cmocka.h needs these first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Under sanitizers every access is instrumented: scale iteration counts down
 * (HK_TEST_SANITIZED is the divisor) so the tests stay tolerable while
 * exercising the same code paths. */
#ifdef HK_TEST_SANITIZED
#define HKT_SCALE(n) ((n) / HK_TEST_SANITIZED > 0 ? (n) / HK_TEST_SANITIZED : 1)
#else
#define HKT_SCALE(n) (n)
#endif

#define HKT_UNUSED(x) ((void)(x))

/* The largest alignment worth asking for here: HK_MAX_ALIGN, or less under
 * an address-space limit (the CI step lowvm runs the suite under ulimit -v
 * 1000000), where a block aligned to A needs about A of address space. */
#include <sys/resource.h>
static inline size_t hkt_max_align(void) {
  struct rlimit rl;
  size_t a = HK_MAX_ALIGN;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    while (a > ((size_t)1 << 20) && a > (size_t)rl.rlim_cur / 128) a >>= 1;
  return a;
}

/* Under an emulator (the arm64 CI step runs the tests in qemu-user), the
 * process's RSS and address space are the emulator's as much as the
 * test's, RLIMIT_AS is not applied to the guest, and a child cannot exec
 * the test binary again: checks that need these are skipped, with the
 * reason printed (HKT_EMULATED_SKIP). */
#ifndef HK_TEST_EMULATED
#define HK_TEST_EMULATED 0
#endif
#define HKT_EMULATED_SKIP(what)                                                          \
  do {                                                                                \
    if (HK_TEST_EMULATED) {                                                           \
      print_message("skipped under emulation: %s\n", what);                           \
      skip();                                                                         \
    }                                                                                 \
  } while (0)

#include "test_mix.h"

/* Word i of a pattern: a different odd stride per seed keeps neighbouring
 * words distinct while the loop stays cheap enough to vectorise. */
static inline uint64_t hkt_word(uint64_t seed, size_t i) {
  return seed + (uint64_t)i * 0x9E3779B97F4A7C15ULL;
}

static inline void hkt_fill(void *p, size_t n, uint64_t seed) {
  unsigned char *b = (unsigned char *)p;
  size_t words = n / 8;
  seed = hkt_mix64(seed);
  for (size_t i = 0; i < words; i++) {
    uint64_t w = hkt_word(seed, i);
    memcpy(b + i * 8, &w, 8);
  }
  if (n % 8) {
    uint64_t w = hkt_word(seed, words);
    memcpy(b + words * 8, &w, n % 8);
  }
}

/* True if the first n bytes of p hold the pattern of seed. */
static inline bool hkt_check(const void *p, size_t n, uint64_t seed) {
  const unsigned char *b = (const unsigned char *)p;
  size_t words = n / 8;
  uint64_t diff = 0;
  seed = hkt_mix64(seed);
  /* No early exit: an OR-accumulated difference lets the compiler vectorise. */
  for (size_t i = 0; i < words; i++) {
    uint64_t w;
    memcpy(&w, b + i * 8, 8);
    diff |= w ^ hkt_word(seed, i);
  }
  if (n % 8) {
    uint64_t w = hkt_word(seed, words), got = 0;
    memcpy(&got, b + words * 8, n % 8);
    diff |= (got ^ w) & (((uint64_t)1 << (8 * (n % 8))) - 1);
  }
  return diff == 0;
}

static inline uint64_t hkt_addr_seed(const void *p) { return (uint64_t)(uintptr_t)p; }

/* Self-describing blocks for tests where the freeing side does not know the
 * size (cross-thread hand-offs): the first 8 bytes hold the size, the rest
 * the address pattern. size must be >= 8. */
static inline void hkt_block_fill(void *p, size_t size) {
  uint64_t s = size;
  memcpy(p, &s, 8);
  hkt_fill((char *)p + 8, size - 8, hkt_addr_seed(p));
}

static inline bool hkt_block_check(const void *p) {
  uint64_t s;
  memcpy(&s, p, 8);
  if (s < 8 || s > hk_usable_size(p)) return false;
  return hkt_check((const char *)p + 8, (size_t)s - 8, hkt_addr_seed(p));
}

/* xorshift64*: deterministic across runs so a failure can be replayed. */
typedef struct { uint64_t s; } hkt_rng_t;

static inline void hkt_rng_seed(hkt_rng_t *r, uint64_t seed) {
  r->s = hkt_mix64(seed) | 1;
}

static inline uint64_t hkt_rng_next(hkt_rng_t *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform-enough integer in [lo, hi]. */
static inline size_t hkt_rng_range(hkt_rng_t *r, size_t lo, size_t hi) {
  return lo + (size_t)(hkt_rng_next(r) % (uint64_t)(hi - lo + 1));
}

/* Resident set size of this process in bytes (0 if /proc is unavailable). */
static inline size_t hkt_rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (!f) return 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
  fclose(f);
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Stats of a heap by value (fails the current test if the call fails). */
static inline hk_stats_t hkt_stats(const hk_heap_t *heap) {
  hk_stats_t st;
  memset(&st, 0, sizeof st);
  assert_int_equal(hk_heap_stats(heap, &st), 0);
  return st;
}

#define HKT_MIB ((size_t)1 << 20)

/* Runs fn in a forked child with stderr captured: the child must die of
 * SIGABRT and its stderr must contain message. */
static inline void hkt_expect_abort(void (*fn)(void), const char *message) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    fn();
    _exit(0); /* not reached if hakmem aborts */
  }
  close(fds[1]);
  char buf[512];
  size_t len = 0;
  ssize_t r;
  while (len < sizeof buf - 1 && (r = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
    len += (size_t)r;
  buf[len] = 0;
  close(fds[0]);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    fail_msg("expected an abort with \"%s\", child exited with status %#x, stderr: %s", message,
             status, buf);
  if (!strstr(buf, message)) fail_msg("expected \"%s\" on stderr, got: %s", message, buf);
}

#endif /* HAKMEM_TEST_UTIL_H */
