/* bench_policy: what the heap presets cost and what they give back.
 * A measurement, not a test: it prints markdown tables and never fails on a
 * figure. See docs/policies.md for how to read them.
 *
 *   (a) the seed workload (random mixed: WS=400 slots, xorshift32, slot r%WS
 *       freed if full, else hk_heap_malloc(heap, 16 + (r & 0x3FF))) on one
 *       heap per preset. Each run is a forked child, so its peak RSS
 *       (ru_maxrss) is its own; presets are interleaved rep by rep and the
 *       median is reported. Syscalls are the heap's own counters
 *       (os_mmap + os_munmap + os_madvise): over the whole run, and in the
 *       steady state (after the untimed prefault of ITERS/10 ops).
 *   (b) 256 MB of mixed small blocks (16..1024 B) allocated, all freed, then
 *       hk_heap_trim: VmRSS at each step, per preset, each in its own child.
 *
 *   (c) large-block churn (20 live buffers of 64 KiB..32 MiB, every page
 *       written), then all freed, then hk_heap_trim: time and VmRSS.
 *
 *   with --prewarm-scaling: heap creation and the first malloc with
 *       prewarm_bytes of 1, 4, 16 and 64 GiB (mapped, not touched), to show
 *       that what a policy costs grows linearly with the config.
 *
 * usage: bench_policy [--iters N] [--reps R] [--mb M] [--lean-delay MS] [--smoke]
 *                     [--prewarm-scaling]
 */
#include <hakmem/hakmem.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The three presets, and optionally LEAN with a decommit delay
 * (--lean-delay MS), to show what the delay does to LEAN's syscalls. */
#define MAXVAR 4
static const char *const preset_name[MAXVAR] = {"SPEED", "BALANCED", "LEAN", "LEAN+delay"};
static int NPRESET = 3;
static uint32_t g_lean_delay_ms;

static uint32_t xorshift32(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident bytes of this process now (VmRSS, from /proc/self/statm). */
static size_t rss_now(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, res = 0;
  if (f == NULL) return 0;
  if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
  fclose(f);
  return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static hk_heap_t *preset_heap(int p) {
  hk_heap_config_t cfg;
  if (hk_heap_config_preset(&cfg, (hk_profile_t)(p < 3 ? p : HK_PROFILE_LEAN)) != 0) return NULL;
  cfg.name = preset_name[p];
  if (p == 3) cfg.decommit_delay_ms = g_lean_delay_ms;
  return hk_heap_create(&cfg);
}

/* Each child writes one fixed-size record into a pipe; the parent waits. */
static int run_child(void (*body)(int p, void *out), int p, void *out, size_t len,
                     long *maxrss_kb) {
  int fd[2];
  if (pipe(fd) != 0) return -1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(fd[0]);
    body(p, out);
    ssize_t w = write(fd[1], out, len);
    _exit(w == (ssize_t)len ? 0 : 1);
  }
  close(fd[1]);
  ssize_t got = 0;
  while (got < (ssize_t)len) {
    ssize_t r = read(fd[0], (char *)out + got, len - (size_t)got);
    if (r <= 0) break;
    got += r;
  }
  close(fd[0]);
  int status = 0;
  struct rusage ru;
  if (wait4(pid, &status, 0, &ru) != pid) return -1;
  if (maxrss_kb) *maxrss_kb = ru.ru_maxrss;
  return got == (ssize_t)len && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- (a) the seed workload ------------------------------------------------------ */

enum { WS = 400 };
static uint64_t g_iters = 20000000;

typedef struct {
  double secs;               /* timed ops + final drain */
  uint64_t sys_total, sys_steady, ops_total, ops_steady;
  uint64_t mmap_s, munmap_s, madvise_s; /* steady-state breakdown */
  size_t rss_start, peak_mapped, committed_end;
  int failed;
} mixed_result_t;

static int run_ops(hk_heap_t *h, void **slots, uint32_t *state, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) {
    uint32_t r = xorshift32(state);
    uint32_t idx = r % WS;
    if (slots[idx] != NULL) {
      hk_free(slots[idx]);
      slots[idx] = NULL;
    } else {
      unsigned char *q = hk_heap_malloc(h, 16 + (r & 0x3FF));
      if (q == NULL) return -1;
      *(volatile unsigned char *)q = (unsigned char)r;
      slots[idx] = q;
    }
  }
  return 0;
}

static void drain(void **slots) {
  for (int i = 0; i < WS; i++) {
    hk_free(slots[i]);
    slots[i] = NULL;
  }
}

static void mixed_child(int p, void *out) {
  mixed_result_t *res = out;
  memset(res, 0, sizeof *res);
  res->rss_start = rss_now();
  hk_heap_t *h = preset_heap(p);
  void *slots[WS] = {0};
  if (h == NULL) { res->failed = 1; return; }
  uint64_t prefault = g_iters / 10;
  uint32_t state = 1u ^ 0x5bd1e995u; /* prefault: unrelated seed, as the seed bench */
  if (run_ops(h, slots, &state, prefault) != 0) { res->failed = 1; return; }
  drain(slots);
  hk_stats_t s0;
  hk_heap_stats(h, &s0);
  state = 1;
  double t0 = now_s();
  if (run_ops(h, slots, &state, g_iters) != 0) { res->failed = 1; return; }
  drain(slots);
  res->secs = now_s() - t0;
  hk_stats_t s1;
  hk_heap_stats(h, &s1);
  res->sys_total = s1.os_mmap + s1.os_munmap + s1.os_madvise;
  res->sys_steady = res->sys_total - (s0.os_mmap + s0.os_munmap + s0.os_madvise);
  res->mmap_s = s1.os_mmap - s0.os_mmap;
  res->munmap_s = s1.os_munmap - s0.os_munmap;
  res->madvise_s = s1.os_madvise - s0.os_madvise;
  res->ops_total = prefault + g_iters + 2 * WS;
  res->ops_steady = g_iters + WS;
  res->peak_mapped = s1.peak_mapped_bytes;
  res->committed_end = s1.committed_bytes;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int bench_mixed(int reps) {
  enum { MAXREP = 32 };
  if (reps > MAXREP) reps = MAXREP;
  mixed_result_t r[MAXVAR][MAXREP];
  long maxrss[MAXVAR][MAXREP];
  for (int rep = 0; rep < reps; rep++) {
    for (int p = 0; p < NPRESET; p++) {
      if (run_child(mixed_child, p, &r[p][rep], sizeof r[p][rep], &maxrss[p][rep]) != 0 ||
          r[p][rep].failed) {
        fprintf(stderr, "bench_policy: %s rep %d failed\n", preset_name[p], rep);
        return 1;
      }
    }
  }
  printf("### (a) random mixed: WS=%d, sizes 16..1039, %llu timed ops, %d reps (median)\n\n",
         WS, (unsigned long long)g_iters, reps);
  printf("| preset | Mops/s (median) | min..max | peak RSS KiB (ru_maxrss) | RSS at start KiB "
         "| peak mapped KiB | syscalls/op (whole run) | syscalls/op (steady) "
         "| steady mmap/munmap/madvise |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int p = 0; p < NPRESET; p++) {
    double tput[MAXREP], rss[MAXREP], sysw[MAXREP], syss[MAXREP];
    double lo = 1e300, hi = 0;
    uint64_t mm = 0, mu = 0, ma = 0;
    for (int i = 0; i < reps; i++) {
      const mixed_result_t *x = &r[p][i];
      tput[i] = (double)g_iters / x->secs / 1e6;
      if (tput[i] < lo) lo = tput[i];
      if (tput[i] > hi) hi = tput[i];
      rss[i] = (double)maxrss[p][i];
      sysw[i] = (double)x->sys_total / (double)x->ops_total;
      syss[i] = (double)x->sys_steady / (double)x->ops_steady;
      mm += x->mmap_s;
      mu += x->munmap_s;
      ma += x->madvise_s;
    }
    double start = (double)r[p][0].rss_start / 1024.0;
    printf("| %s | %.1f | %.1f..%.1f | %.0f | %.0f | %zu | %.2e | %.2e | %llu/%llu/%llu (all reps) |\n",
           preset_name[p], median(tput, reps), lo, hi, median(rss, reps), start,
           r[p][0].peak_mapped / 1024, median(sysw, reps), median(syss, reps),
           (unsigned long long)mm, (unsigned long long)mu, (unsigned long long)ma);
  }
  printf("\n");
  return 0;
}

/* ---- (b) RSS after a burst ----------------------------------------------------------- */

static size_t g_burst_bytes = (size_t)256 << 20;

typedef struct {
  size_t rss[4];       /* start, peak, after free, after trim */
  size_t mapped[4], committed[4], segs[4], segs_empty[4];
  size_t blocks, trim_released;
  int failed;
} burst_result_t;

static void note(burst_result_t *res, int i, const hk_heap_t *h) {
  hk_stats_t st;
  hk_heap_stats(h, &st);
  res->rss[i] = rss_now();
  res->mapped[i] = st.mapped_bytes;
  res->committed[i] = st.committed_bytes;
  res->segs[i] = st.superslabs;
  res->segs_empty[i] = st.superslabs_empty;
}

static void burst_child(int p, void *out) {
  burst_result_t *res = out;
  memset(res, 0, sizeof *res);
  hk_heap_t *h = preset_heap(p);
  if (h == NULL) { res->failed = 1; return; }
  /* Worst case 16-byte blocks: the pointer array is mmapped so that it can
   * be unmapped before the "after free" reading. */
  size_t cap = g_burst_bytes / 16 + 1;
  void **blk = mmap(NULL, cap * sizeof *blk, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (blk == MAP_FAILED) { res->failed = 1; return; }
  note(res, 0, h); /* the untouched array costs no RSS yet */
  uint32_t state = 12345;
  size_t bytes = 0, n = 0;
  while (bytes < g_burst_bytes && n < cap) {
    size_t sz = 16 + xorshift32(&state) % 1009; /* 16..1024 */
    unsigned char *q = hk_heap_malloc(h, sz);
    if (q == NULL) { res->failed = 1; return; }
    memset(q, (int)n, sz); /* resident, as a program's data would be */
    blk[n++] = q;
    bytes += sz;
  }
  res->blocks = n;
  note(res, 1, h);
  for (size_t i = 0; i < n; i++) hk_free(blk[i]);
  munmap(blk, cap * sizeof *blk);
  note(res, 2, h);
  res->trim_released = hk_heap_trim(h);
  note(res, 3, h);
}

static int bench_burst(void) {
  burst_result_t r[MAXVAR];
  for (int p = 0; p < NPRESET; p++) {
    if (run_child(burst_child, p, &r[p], sizeof r[p], NULL) != 0 || r[p].failed) {
      fprintf(stderr, "bench_policy: burst %s failed\n", preset_name[p]);
      return 1;
    }
  }
  const double M = 1024.0 * 1024.0;
  printf("### (b) %zu MB of mixed 16..1024 B blocks: allocate, free all, trim "
         "(VmRSS MiB; mapped/committed = the heap's stats, MiB)\n\n", g_burst_bytes >> 20);
  printf("| preset | blocks | RSS start | RSS peak | RSS after free | RSS after trim "
         "| after free - start | mapped/committed after free | SuperSlabs (empty) after free "
         "| mapped/committed after trim | trim returned MiB |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int p = 0; p < NPRESET; p++) {
    const burst_result_t *x = &r[p];
    printf("| %s | %zu | %.1f | %.1f | %.1f | %.1f | %+.1f | %.1f / %.1f | %zu (%zu) "
           "| %.1f / %.1f | %.1f |\n",
           preset_name[p], x->blocks, x->rss[0] / M, x->rss[1] / M, x->rss[2] / M,
           x->rss[3] / M, ((double)x->rss[2] - (double)x->rss[0]) / M, x->mapped[2] / M,
           x->committed[2] / M, x->segs[2], x->segs_empty[2], x->mapped[3] / M, x->committed[3] / M,
           x->trim_released / M);
  }
  printf("\n");
  return 0;
}

/* (c): each size in its own child, so each starts from an empty process. */
static int bench_prewarm_scaling(void) {
  printf("### (c) Prewarm: creation and first malloc\n\n");
  printf("| prewarm_bytes | SuperSlabs | create s | first malloc s | unmapped at first malloc |\n");
  printf("|---|---|---|---|---|\n");
  static const unsigned gib[] = {1, 4, 16, 64};
  for (unsigned i = 0; i < sizeof gib / sizeof gib[0]; i++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      hk_heap_config_t cfg;
      hk_heap_config_init(&cfg);
      cfg.prewarm_bytes = (size_t)gib[i] << 30;
      double t0 = now_s();
      hk_heap_t *h = hk_heap_create(&cfg);
      double t1 = now_s();
      if (h == NULL) {
        printf("| %u GiB | - | refused (%s) | - | - |\n", gib[i], strerror(errno));
        fflush(stdout);
        _exit(0);
      }
      void *p = hk_heap_malloc(h, 100);
      double t2 = now_s();
      hk_stats_t st;
      hk_heap_stats(h, &st);
      printf("| %u GiB | %zu | %.3f | %.6f | %llu |\n", gib[i], st.superslabs, t1 - t0, t2 - t1,
             (unsigned long long)st.os_munmap);
      hk_free(p);
      fflush(stdout);
      _exit(0);
    }
    int status;
    waitpid(pid, &status, 0);
  }
  printf("\n");
  return 0;
}

/* ---- (c) large-block churn, then trim ---------------------------------------------- */

static uint64_t g_churn_steps = 1000;

typedef struct {
  size_t rss[4]; /* start, peak (after the churn, blocks live), after free, after trim */
  size_t retained_free, released_free, mapped_trim;
  double seconds;
  int failed;
} churn_result_t;

/* 20 live buffers of 64 KiB..32 MiB, every page written, STEPS replacements. */
static void churn_child(int p, void *out) {
  churn_result_t *res = out;
  memset(res, 0, sizeof *res);
  hk_heap_t *h = preset_heap(p);
  if (h == NULL) { res->failed = 1; return; }
  enum { LIVE = 20 };
  void *buf[LIVE] = {0};
  uint32_t state = 777;
  res->rss[0] = rss_now();
  double t0 = now_s();
  for (uint64_t i = 0; i < g_churn_steps + LIVE; i++) {
    size_t k = i < LIVE ? (size_t)i : xorshift32(&state) % LIVE;
    size_t sz = ((size_t)64 << 10) + xorshift32(&state) % ((size_t)32 << 20);
    unsigned char *q = hk_heap_malloc(h, sz);
    if (q == NULL) { res->failed = 1; return; }
    for (size_t off = 0; off < sz; off += 4096) q[off] = (unsigned char)i;
    hk_free(buf[k]);
    buf[k] = q;
  }
  res->seconds = now_s() - t0;
  res->rss[1] = rss_now();
  for (int k = 0; k < LIVE; k++) hk_free(buf[k]);
  hk_stats_t st;
  hk_heap_stats(h, &st);
  res->retained_free = st.large_retained_bytes;
  res->released_free = (size_t)st.large_released_bytes;
  res->rss[2] = rss_now();
  hk_heap_trim(h);
  hk_heap_stats(h, &st);
  res->mapped_trim = st.mapped_bytes;
  res->rss[3] = rss_now();
}

static int bench_churn(void) {
  churn_result_t r[MAXVAR];
  for (int p = 0; p < NPRESET; p++) {
    if (run_child(churn_child, p, &r[p], sizeof r[p], NULL) != 0 || r[p].failed) {
      fprintf(stderr, "bench_policy: churn %s failed\n", preset_name[p]);
      return 1;
    }
  }
  const double M = 1024.0 * 1024.0;
  printf("### (c) large-block churn: 20 live buffers of 64 KiB..32 MiB, %llu replacements, "
         "every page written; then all freed, then trim (VmRSS MiB)\n\n",
         (unsigned long long)g_churn_steps);
  printf("| preset | seconds | RSS start | RSS with 20 live | RSS after free | retained after "
         "free MiB | given back by then MiB | RSS after trim | after trim - start | mapped after "
         "trim |\n");
  printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (int p = 0; p < NPRESET; p++) {
    const churn_result_t *x = &r[p];
    printf("| %s | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %+.1f | %.1f |\n",
           preset_name[p], x->seconds, x->rss[0] / M, x->rss[1] / M, x->rss[2] / M,
           x->retained_free / M, x->released_free / M, x->rss[3] / M,
           ((double)x->rss[3] - (double)x->rss[0]) / M, x->mapped_trim / M);
  }
  printf("\n");
  return 0;
}

int main(int argc, char **argv) {
  int reps = 5;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--prewarm-scaling") == 0) {
      return bench_prewarm_scaling();
    } else if (strcmp(argv[i], "--smoke") == 0) {
      g_iters = 200000;
      reps = 1;
      g_burst_bytes = (size_t)8 << 20;
      g_churn_steps = 20;
    } else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
      g_iters = strtoull(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--lean-delay") == 0 && i + 1 < argc) {
      g_lean_delay_ms = (uint32_t)strtoul(argv[++i], NULL, 10);
      NPRESET = 4;
    } else if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc) {
      g_burst_bytes = (size_t)strtoull(argv[++i], NULL, 10) << 20;
    } else {
      fprintf(stderr,
              "usage: %s [--iters N] [--reps R] [--mb M] [--lean-delay MS] [--smoke] "
              "[--prewarm-scaling]\n", argv[0]);
      return 2;
    }
  }
  if (reps < 1 || g_iters == 0 || g_burst_bytes == 0) {
    fprintf(stderr, "bench_policy: need reps >= 1, iters >= 1, mb >= 1\n");
    return 2;
  }
  printf("## bench_policy (hakmem %s)\n\n", hk_version());
  if (bench_mixed(reps) != 0) return 1;
  if (bench_burst() != 0) return 1;
  return bench_churn();
}
