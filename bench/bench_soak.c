/* Soak mode of bench_random_mixed:
 *
 *   bench_random_mixed --soak SECONDS EPOCH_OPS CSV [--churn THREADS]
 *       [--sample N] [--ws WS] [--min MIN] [--max MAX] [--seed SEED]
 *
 * Runs the random_mixed workload in one process for SECONDS, in epochs of
 * EPOCH_OPS ops. Each epoch appends "epoch,elapsed_s,ops,ns_per_op,
 * throughput,rss_kb" to CSV (rss_kb is the current RSS, so drift shows).
 * One op in N (default 1024, 0 = off) is timed with clock_gettime into a
 * log-linear histogram written to CSV.lat.csv ("lower_ns,upper_ns,count");
 * the timing includes the ~20 ns of the two clock reads.
 *
 * --churn THREADS: each epoch creates THREADS threads that share the epoch's
 * ops and are joined at its end. Every thread leaves half its live blocks to
 * a thread of the next epoch, which frees them: blocks outlive the thread
 * that allocated them, the case that strands memory in per-thread caches. */
#include <pthread.h>
#include <stdatomic.h>

#include "rm_workload.h"

/* Histogram: values < 64 ns exactly, then 16 buckets per power of two. */
#define LAT_EXACT 64u
#define LAT_SUB 16u
#define LAT_MAX_LOG2 40u
#define LAT_BUCKETS (LAT_EXACT + (LAT_MAX_LOG2 - 6u + 1u) * LAT_SUB)

typedef struct soak_cfg {
  double seconds;
  uint64_t epoch_ops;
  const char *csv;
  uint32_t churn; /* threads per epoch; 0 = single-threaded seed soak */
  uint32_t sample;
  uint32_t ws, min, max, seed;
} soak_cfg_t;

static _Atomic uint64_t g_hist[LAT_BUCKETS];

static unsigned lat_bucket(uint64_t ns) {
  if (ns < LAT_EXACT) return (unsigned)ns;
  unsigned e = 63u - (unsigned)__builtin_clzll(ns);
  if (e > LAT_MAX_LOG2) return LAT_BUCKETS - 1;
  unsigned sub = (unsigned)(ns >> (e - 4)) & (LAT_SUB - 1);
  return LAT_EXACT + (e - 6u) * LAT_SUB + sub;
}

static void lat_bounds(unsigned b, uint64_t *lo, uint64_t *hi) {
  if (b < LAT_EXACT) {
    *lo = *hi = b;
    return;
  }
  unsigned e = (b - LAT_EXACT) / LAT_SUB + 6u;
  uint64_t sub = (b - LAT_EXACT) % LAT_SUB;
  *lo = (LAT_SUB + sub) << (e - 4);
  *hi = *lo + ((uint64_t)1 << (e - 4)) - 1;
}

/* Local histograms avoid an atomic per sample; merged once per run. */
typedef struct lat_local {
  uint64_t n[LAT_BUCKETS];
} lat_local_t;

static void lat_merge(const lat_local_t *l) {
  for (unsigned i = 0; i < LAT_BUCKETS; i++)
    if (l->n[i]) atomic_fetch_add_explicit(&g_hist[i], l->n[i], memory_order_relaxed);
}

/* Runs ops ops, timing one in sample. *countdown carries across calls so the
 * sampling stride is exact over the whole run. */
static int soak_ops(rm_work_t *w, uint64_t ops, uint32_t sample, uint32_t *countdown,
                    lat_local_t *lat) {
  for (uint64_t i = 0; i < ops; i++) {
    if (sample && --*countdown == 0) {
      *countdown = sample;
      uint64_t t0 = bench_now_ns();
      int rc = rm_op(w);
      uint64_t t1 = bench_now_ns();
      if (rc < 0) return -1;
      lat->n[lat_bucket(t1 - t0)]++;
    } else if (rm_op(w) < 0) {
      return -1;
    }
  }
  return 0;
}

/* ---- thread churn ---------------------------------------------------------- */

typedef struct churn_arg {
  const soak_cfg_t *cfg;
  uint32_t tid;
  uint64_t epoch;
  uint64_t ops;
  void **inherit;  /* blocks left by the previous epoch's thread: free them */
  void **bequeath; /* where this thread leaves blocks for the next epoch */
  int failed;
} churn_arg_t;

static void *churn_thread(void *p) {
  churn_arg_t *a = (churn_arg_t *)p;
  const soak_cfg_t *cfg = a->cfg;
  for (uint32_t i = 0; i < cfg->ws; i++) {
    if (a->inherit[i]) {
      bench_free(a->inherit[i]);
      a->inherit[i] = NULL;
    }
  }
  rm_work_t w;
  uint32_t seed = cfg->seed + (uint32_t)a->epoch * 7919u + a->tid * 104729u;
  if (rm_init(&w, cfg->ws, cfg->min, cfg->max, seed) != 0) {
    a->failed = 1;
    return NULL;
  }
  lat_local_t *lat = (lat_local_t *)calloc(1, sizeof(*lat));
  uint32_t countdown = cfg->sample ? cfg->sample : 1;
  if (!lat || soak_ops(&w, a->ops, cfg->sample, &countdown, lat) != 0) a->failed = 1;
  for (uint32_t i = 0; i < cfg->ws; i += 2) { /* even slots outlive us */
    a->bequeath[i] = w.slots[i];
    w.slots[i] = NULL;
  }
  rm_fini(&w);
  if (lat) lat_merge(lat);
  free(lat);
  return NULL;
}

static int churn_epoch(const soak_cfg_t *cfg, uint64_t epoch, void **hand_a, void **hand_b) {
  uint32_t t = cfg->churn;
  pthread_t th[t];
  churn_arg_t args[t];
  int rc = 0;
  for (uint32_t i = 0; i < t; i++) {
    /* Thread i inherits from the previous epoch's thread i+1, so blocks
     * change threads even when the OS reuses thread ids. */
    args[i] = (churn_arg_t){cfg, i, epoch, cfg->epoch_ops / t,
                            hand_a + (size_t)((i + 1) % t) * cfg->ws, hand_b + (size_t)i * cfg->ws, 0};
    if (pthread_create(&th[i], NULL, churn_thread, &args[i]) != 0) {
      fprintf(stderr, "pthread_create failed\n");
      t = i;
      rc = -1;
      break;
    }
  }
  for (uint32_t i = 0; i < t; i++) {
    pthread_join(th[i], NULL);
    if (args[i].failed) rc = -1;
  }
  return rc;
}

/* ---- driver -------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, soak_cfg_t *c) {
  if (argc < 5) return -1;
  char *end = NULL;
  c->seconds = strtod(argv[2], &end);
  if (end == argv[2] || *end || !(c->seconds > 0)) return -1;
  c->epoch_ops = bench_parse_u64(argv[3], "EPOCH_OPS");
  c->csv = argv[4];
  c->churn = 0;
  c->sample = 1024;
  c->ws = 400;
  c->min = 16;
  c->max = 1039;
  c->seed = 1;
  for (int i = 5; i < argc; i += 2) {
    if (i + 1 >= argc) return -1;
    unsigned long long v = bench_parse_u64(argv[i + 1], argv[i]);
    if (v > UINT32_MAX - 1) return -1;
    if (!strcmp(argv[i], "--churn")) c->churn = (uint32_t)v;
    else if (!strcmp(argv[i], "--sample")) c->sample = (uint32_t)v;
    else if (!strcmp(argv[i], "--ws")) c->ws = (uint32_t)v;
    else if (!strcmp(argv[i], "--min")) c->min = (uint32_t)v;
    else if (!strcmp(argv[i], "--max")) c->max = (uint32_t)v;
    else if (!strcmp(argv[i], "--seed")) c->seed = (uint32_t)v;
    else return -1;
  }
  if (c->epoch_ops == 0 || c->ws == 0 || c->max < c->min || c->churn > 256) return -1;
  if (c->churn && c->epoch_ops < c->churn) return -1;
  return 0;
}

static uint64_t hist_percentile(const uint64_t *h, uint64_t total, double q) {
  if (!total) return 0;
  uint64_t rank = (uint64_t)(q * (double)(total - 1)) + 1, seen = 0, lo, hi;
  for (unsigned b = 0; b < LAT_BUCKETS; b++) {
    seen += h[b];
    if (seen >= rank) {
      lat_bounds(b, &lo, &hi);
      return (lo + hi) / 2;
    }
  }
  return 0;
}

static int write_histogram(const char *csv, uint64_t *h, uint64_t *total) {
  size_t n = strlen(csv);
  char *path = (char *)malloc(n + sizeof(".lat.csv"));
  if (!path) return -1;
  memcpy(path, csv, n);
  memcpy(path + n, ".lat.csv", sizeof(".lat.csv"));
  FILE *f = fopen(path, "w");
  free(path);
  if (!f) return -1;
  fprintf(f, "lower_ns,upper_ns,count\n");
  *total = 0;
  for (unsigned b = 0; b < LAT_BUCKETS; b++) {
    h[b] = atomic_load_explicit(&g_hist[b], memory_order_relaxed);
    *total += h[b];
    if (!h[b]) continue;
    uint64_t lo, hi;
    lat_bounds(b, &lo, &hi);
    fprintf(f, "%llu,%llu,%llu\n", (unsigned long long)lo, (unsigned long long)hi,
            (unsigned long long)h[b]);
  }
  return fclose(f) == 0 ? 0 : -1;
}

int bench_soak_main(int argc, char **argv) {
  soak_cfg_t cfg;
  if (parse_args(argc, argv, &cfg) != 0) {
    fprintf(stderr,
            "usage: %s --soak SECONDS EPOCH_OPS CSV [--churn THREADS(<=256)] [--sample N]\n"
            "       [--ws WS] [--min MIN] [--max MAX] [--seed SEED]\n",
            argv[0]);
    return 2;
  }
  bench_init_allocator();
  rm_work_t w = {0};
  lat_local_t *lat = (lat_local_t *)calloc(1, sizeof(*lat));
  void **hand_a = NULL, **hand_b = NULL;
  uint32_t countdown = cfg.sample ? cfg.sample : 1;
  int setup_ok = lat != NULL;
  if (setup_ok && cfg.churn) {
    hand_a = (void **)calloc((size_t)cfg.churn * cfg.ws, sizeof(void *));
    hand_b = (void **)calloc((size_t)cfg.churn * cfg.ws, sizeof(void *));
    setup_ok = hand_a && hand_b;
  } else if (setup_ok) {
    setup_ok = rm_init(&w, cfg.ws, cfg.min, cfg.max, cfg.seed) == 0;
  }
  FILE *out = setup_ok ? fopen(cfg.csv, "w") : NULL;
  if (!out) {
    if (setup_ok) perror(cfg.csv);
    else fprintf(stderr, "soak: setup failed\n");
    free(lat);
    free(hand_a);
    free(hand_b);
    free(w.slots);
    return 1;
  }
  fprintf(out, "epoch,elapsed_s,ops,ns_per_op,throughput,rss_kb\n");

  double start = bench_now(), now = start;
  uint64_t epoch = 0, total_ops = 0;
  int rc = 0;
  while (now - start < cfg.seconds) {
    double e0 = bench_now();
    uint64_t ops = cfg.epoch_ops;
    if (cfg.churn) {
      ops = cfg.epoch_ops / cfg.churn * cfg.churn;
      rc = churn_epoch(&cfg, epoch, hand_a, hand_b);
      void **tmp = hand_a; /* this epoch's bequests feed the next epoch */
      hand_a = hand_b;
      hand_b = tmp;
    } else {
      rc = soak_ops(&w, ops, cfg.sample, &countdown, lat);
    }
    if (rc != 0) {
      fprintf(stderr, "soak: allocation failed in epoch %llu\n", (unsigned long long)epoch);
      break;
    }
    now = bench_now();
    double dt = now - e0;
    fprintf(out, "%llu,%.6f,%llu,%.3f,%.0f,%ld\n", (unsigned long long)epoch, now - start,
            (unsigned long long)ops, dt * 1e9 / (double)ops, (double)ops / dt, bench_cur_rss_kb());
    fflush(out); /* a soak killed early keeps its epochs */
    total_ops += ops;
    epoch++;
  }
  if (cfg.churn) {
    for (size_t i = 0; i < (size_t)cfg.churn * cfg.ws; i++) bench_free(hand_a[i]);
    free(hand_a);
    free(hand_b);
  } else {
    rm_fini(&w);
    lat_merge(lat);
  }
  free(lat);
  fclose(out);

  static uint64_t h[LAT_BUCKETS];
  uint64_t samples = 0;
  if (write_histogram(cfg.csv, h, &samples) != 0) fprintf(stderr, "soak: cannot write histogram\n");
  double secs = now - start;
  printf("[SOAK] allocator=%s mode=%s epochs=%llu ops=%llu seconds=%.3f\n", BENCH_ALLOCATOR_NAME,
         cfg.churn ? "churn" : "seed", (unsigned long long)epoch, (unsigned long long)total_ops, secs);
  printf("[LAT] samples=%llu p50_ns=%llu p99_ns=%llu p99.9_ns=%llu\n", (unsigned long long)samples,
         (unsigned long long)hist_percentile(h, samples, 0.50),
         (unsigned long long)hist_percentile(h, samples, 0.99),
         (unsigned long long)hist_percentile(h, samples, 0.999));
  bench_print_result((double)total_ops, secs);
  return rc == 0 ? 0 : 1;
}
