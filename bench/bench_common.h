/* Helpers shared by the C benchmarks: the allocator under test, the PRNG,
 * clocks, RSS, argument parsing.
 *
 * Every benchmark source is compiled twice: with BENCH_HK defined it calls
 * hakmem directly (hk_heap_malloc on the default heap, hk_free) and is linked
 * statically; without it it calls malloc/free so any allocator can be
 * LD_PRELOADed underneath. */
#ifndef HAKMEM_BENCH_COMMON_H
#define HAKMEM_BENCH_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef BENCH_HK
#include <hakmem/hakmem.h>
#define BENCH_ALLOCATOR_NAME "hakmem-direct"
/* Resolved once: hk_heap_default() is cheap, but the benchmark should
 * measure the allocation path, not the lookup. */
extern hk_heap_t *bench_heap;
static inline void bench_init_allocator(void) { bench_heap = hk_heap_default(); }
static inline void *bench_malloc(size_t n) { return hk_heap_malloc(bench_heap, n); }
static inline void bench_free(void *p) { hk_free(p); }
#define BENCH_HEAP_DEFINITION hk_heap_t *bench_heap
/* The heap's own view, to tell RSS growth from mapping growth. */
static inline void bench_report_allocator(void) {
  hk_stats_t st;
  if (hk_heap_stats(bench_heap, &st) != 0) return;
  printf("[HK] mapped_kb=%zu peak_mapped_kb=%zu live_kb=%zu superslabs=%zu empty=%zu "
         "remote_frees=%llu mmap=%llu munmap=%llu madvise=%llu\n",
         st.mapped_bytes >> 10, st.peak_mapped_bytes >> 10, st.live_bytes >> 10, st.superslabs,
         st.superslabs_empty, (unsigned long long)st.remote_frees, (unsigned long long)st.os_mmap,
         (unsigned long long)st.os_munmap, (unsigned long long)st.os_madvise);
}
#else
#define BENCH_ALLOCATOR_NAME "malloc"
static inline void bench_init_allocator(void) {}
static inline void *bench_malloc(size_t n) { return malloc(n); }
static inline void bench_free(void *p) { free(p); }
static inline void bench_report_allocator(void) {}
#define BENCH_HEAP_DEFINITION int bench_heap_unused
#endif

/* Tells the compiler the block escapes, so neither the allocation nor the
 * store into it can be optimised away (clang elides malloc/free pairs). */
static inline void bench_escape(void *p) { __asm__ __volatile__("" : : "r"(p) : "memory"); }

static inline uint32_t xorshift32(uint32_t *state) {
  uint32_t x = *state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *state = x;
  return x;
}

/* xorshift32 is stuck at 0; any other seed is fine. */
static inline uint32_t bench_seed(uint32_t seed) { return seed ? seed : 0x9E3779B9u; }

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline long bench_max_rss_kb(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
  return ru.ru_maxrss; /* kilobytes on Linux */
}

/* Peak virtual size (VmPeak): the address space the process ever held. */
static inline long bench_vm_peak_kb(void) {
  char line[128];
  long kb = -1;
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmPeak: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

/* Current resident set (not the peak), for drift measurements. */
static inline long bench_cur_rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = -1;
  fclose(f);
  return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Strict unsigned parse: a typo must not silently become 0. */
static inline unsigned long long bench_parse_u64(const char *s, const char *what) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end != '\0' || s[0] == '-') {
    fprintf(stderr, "invalid %s: '%s'\n", what, s);
    exit(2);
  }
  return v;
}

/* Starts n threads fn(args + i*stride); exits on failure (a benchmark with
 * fewer threads than asked for would report a wrong number). */
static inline void bench_start_threads(pthread_t *th, uint32_t n, void *(*fn)(void *), void *args,
                                       size_t stride) {
  for (uint32_t i = 0; i < n; i++) {
    if (pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * stride) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      exit(1);
    }
  }
}

static inline void bench_print_result(double ops, double seconds) {
  double tput = seconds > 0 ? ops / seconds : 0.0;
  printf("Throughput = %.0f ops/s\n", tput);
  printf("[TIME] seconds=%.6f ns_per_op=%.3f\n", seconds, ops > 0 ? seconds * 1e9 / ops : 0.0);
  printf("[RSS] max_kb=%ld\n", bench_max_rss_kb());
  printf("[VM] peak_kb=%ld\n", bench_vm_peak_kb());
  bench_report_allocator();
}

#endif /* HAKMEM_BENCH_COMMON_H */
