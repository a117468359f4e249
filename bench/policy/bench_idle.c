/* Idle memory: how much of a burst a heap still holds while its threads
 * sleep, with and without background_purge, and what hk_heap_trim from one
 * thread gets back from eight idle ones. RSS from /proc/self/statm; each
 * scenario runs in a fresh child process. Table (d) of docs/policies.md.
 *
 * usage: bench_idle [--mb M] [--smoke]
 *   burst: M MiB (default 256) of blocks of random sizes from 16 B to
 *   32 KiB, plus a tenth of it in blocks of 64 KiB to 1 MiB, written,
 *   allocated by 2 threads, all freed; then every thread sleeps. */
#include <hakmem/hakmem.h>

#include "../bench_common.h" /* xorshift32, bench_cur_rss_kb */

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)
static size_t g_burst = 256 * MIB;

static size_t rss_now(void) {
  long kb = bench_cur_rss_kb();
  return kb < 0 ? 0 : (size_t)kb << 10;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* ---- a burst, then sleep ------------------------------------------------------ */
typedef struct {
  hk_heap_t *h;
  size_t bytes;
  uint32_t seed;
  pthread_barrier_t *after_free, *wake;
} burst_arg_t;

static void *burst_thread(void *argp) {
  burst_arg_t *a = argp;
  size_t cap = a->bytes / 16 + 1024, n = 0, got = 0;
  void **v = malloc(cap * sizeof *v);
  uint32_t s = a->seed;
  while (got < a->bytes && n < cap) {
    uint32_t r = xorshift32(&s);
    size_t sz = r % 10 == 0 ? 65536 + r % (960 * 1024) : 16 + r % (32 * 1024);
    v[n] = hk_heap_malloc(a->h, sz);
    if (v[n] == NULL) break;
    memset(v[n], (int)r, sz);
    got += sz;
    n++;
  }
  for (size_t i = 0; i < n; i++) hk_free(v[i]);
  free(v);
  pthread_barrier_wait(a->after_free);
  pthread_barrier_wait(a->wake); /* idle: no hakmem call until then */
  return NULL;
}

typedef struct {
  size_t start, peak_after_free, end;
  size_t committed_end;
} burst_result_t;

static void burst_child(hk_profile_t p, int background, unsigned sleep_for, int fd) {
  hk_heap_config_t c;
  hk_heap_config_preset(&c, p);
  c.background_purge = background;
  hk_heap_t *h = hk_heap_create(&c);
  pthread_barrier_t after_free, wake;
  pthread_barrier_init(&after_free, NULL, 3);
  pthread_barrier_init(&wake, NULL, 3);
  burst_arg_t a[2];
  pthread_t t[2];
  burst_result_t r = {0};
  r.start = rss_now();
  for (int i = 0; i < 2; i++) {
    a[i] = (burst_arg_t){h, g_burst / 2, 0x9e3779b9u * (uint32_t)(i + 1), &after_free, &wake};
    pthread_create(&t[i], NULL, burst_thread, &a[i]);
  }
  pthread_barrier_wait(&after_free);
  r.peak_after_free = rss_now();
  sleep_ms(sleep_for);
  r.end = rss_now();
  hk_stats_t st;
  hk_heap_stats(h, &st);
  r.committed_end = st.committed_bytes;
  pthread_barrier_wait(&wake);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) _exit(3);
  _exit(0);
}

/* ---- eight idle threads, one trim ------------------------------------------------- */
typedef struct {
  hk_heap_t *h;
  pthread_barrier_t *cached, *trimmed, *called, *done;
} cache_arg_t;

static void *cache_thread(void *argp) {
  cache_arg_t *a = argp;
  enum { N = 2048 };
  void *v[N];
  uint32_t s = (uint32_t)(uintptr_t)&v;
  /* Blocks of many classes, then all freed: the front keeps its slabs. */
  for (int i = 0; i < N; i++) {
    size_t sz = 16 + xorshift32(&s) % 4096;
    v[i] = hk_heap_malloc(a->h, sz);
    memset(v[i], 1, sz);
  }
  for (int i = 0; i < N; i++) hk_free(v[i]);
  void *big = hk_heap_malloc(a->h, 512 * 1024); /* and a large block in its cache */
  memset(big, 1, 512 * 1024);
  hk_free(big);
  pthread_barrier_wait(a->cached);
  pthread_barrier_wait(a->trimmed); /* idle while the other thread trims */
  hk_free(hk_heap_malloc(a->h, 24));   /* its next call: a slow path honours the trim */
  pthread_barrier_wait(a->called);
  pthread_barrier_wait(a->done);
  return NULL;
}

typedef struct {
  size_t start, cached, after_trim, after_calls;
} trim_result_t;

static void trim_child(int fd) {
  hk_heap_t *h = hk_heap_create(NULL); /* SPEED: fronts keep one slab per class */
  enum { T = 8 };
  pthread_barrier_t cached, trimmed, called, done;
  pthread_barrier_init(&cached, NULL, T + 1);
  pthread_barrier_init(&trimmed, NULL, T + 1);
  pthread_barrier_init(&called, NULL, T + 1);
  pthread_barrier_init(&done, NULL, T + 1);
  trim_result_t r = {0};
  r.start = rss_now();
  pthread_t t[T];
  cache_arg_t a = {h, &cached, &trimmed, &called, &done};
  for (int i = 0; i < T; i++) pthread_create(&t[i], NULL, cache_thread, &a);
  pthread_barrier_wait(&cached);
  r.cached = rss_now();
  hk_heap_trim(h);
  r.after_trim = rss_now();
  pthread_barrier_wait(&trimmed);
  pthread_barrier_wait(&called);
  hk_heap_trim(h);
  r.after_calls = rss_now();
  pthread_barrier_wait(&done);
  for (int i = 0; i < T; i++) pthread_join(t[i], NULL);
  if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) _exit(3);
  _exit(0);
}

/* ---- driver ---------------------------------------------------------------------- */
static int in_child(void (*body)(int fd, void *ctx), void *ctx, void *out, size_t len) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    body(fds[1], ctx);
    _exit(0);
  }
  close(fds[1]);
  ssize_t got = read(fds[0], out, len);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return got == (ssize_t)len && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

typedef struct {
  hk_profile_t p;
  int background;
  unsigned sleep_for;
} burst_case_t;
static void burst_body(int fd, void *ctx) {
  burst_case_t *c = ctx;
  burst_child(c->p, c->background, c->sleep_for, fd);
}
static void trim_body(int fd, void *ctx) {
  (void)ctx;
  trim_child(fd);
}

static double mib(size_t b) { return (double)b / (double)MIB; }

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc) {
      g_burst = (size_t)atol(argv[++i]) * MIB;
    } else if (strcmp(argv[i], "--smoke") == 0) {
      g_burst = 16 * MIB;
    } else {
      fprintf(stderr, "usage: %s [--mb M] [--smoke]\n", argv[0]);
      return 2;
    }
  }
  printf("burst %.0f MiB by 2 threads, all freed, then every thread sleeps (RSS, MiB)\n\n",
         mib(g_burst));
  printf("| heap | background_purge | sleep | RSS start | after free | end of sleep | end - start | heap's committed_bytes at the end | target |\n");
  printf("|---|---|---|---|---|---|---|---|---|\n");
  const burst_case_t cases[] = {
      {HK_PROFILE_SPEED, 0, 3000}, {HK_PROFILE_SPEED, 1, 3000},
      {HK_PROFILE_LEAN, 0, 500},   {HK_PROFILE_LEAN, 1, 500},
  };
  int bad = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    burst_result_t r;
    burst_case_t c = cases[i];
    if (in_child(burst_body, &c, &r, sizeof r) != 0) {
      bad = 1;
      continue;
    }
    double d = mib(r.end) - mib(r.start);
    printf("| %s | %d | %.1f s | %.1f | %.1f | %.1f | %+.1f | %.2f | %s |\n",
           c.p == HK_PROFILE_SPEED ? "SPEED" : "LEAN", c.background, c.sleep_for / 1000.0,
           mib(r.start), mib(r.peak_after_free), mib(r.end), d, mib(r.committed_end),
           c.background ? (d <= 2.0 ? "<= +2 MiB: met" : "<= +2 MiB: missed") : "(before)");
  }
  trim_result_t t;
  if (in_child(trim_body, NULL, &t, sizeof t) == 0) {
    printf("\n8 threads cache empty slabs and a large block each (SPEED heap), one thread trims\n\n");
    printf("| RSS start | cached | after hk_heap_trim, threads idle | after each made one call, trim again | target |\n");
    printf("|---|---|---|---|---|\n");
    double d = mib(t.after_trim) - mib(t.start);
    printf("| %.1f | %.1f | %.1f (%+.1f) | %.1f (%+.1f) | <= +2 MiB: %s idle, %s after a call |\n",
           mib(t.start), mib(t.cached), mib(t.after_trim), d, mib(t.after_calls),
           mib(t.after_calls) - mib(t.start), d <= 2.0 ? "met" : "missed",
           mib(t.after_calls) - mib(t.start) <= 2.0 ? "met" : "missed");
  } else {
    bad = 1;
  }
  return bad;
}
