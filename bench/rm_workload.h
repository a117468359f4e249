/* The random_mixed workload, shared by the throughput run and the soak.
 *
 * WS slots; each op draws r, picks slot r % WS: a full slot is freed, an
 * empty one gets a block of MIN + r % (MAX-MIN+1) bytes whose first byte is
 * written. The same r picks slot and size on purpose: it is the historical
 * definition of the benchmark and keeps the op cost to one PRNG step. */
#ifndef HAKMEM_BENCH_RM_WORKLOAD_H
#define HAKMEM_BENCH_RM_WORKLOAD_H

#include "bench_common.h"

typedef struct rm_work {
  void **slots;
  uint32_t ws;
  uint32_t min;
  uint32_t span; /* MAX - MIN + 1 */
  uint32_t mask; /* span - 1 when span is a power of two, else 0 */
  uint32_t state;
  uint64_t live;
} rm_work_t;

static inline int rm_init(rm_work_t *w, uint32_t ws, uint32_t min, uint32_t max, uint32_t seed) {
  if (ws == 0 || max < min) return -1;
  /* The slot array comes from the libc-visible calloc even in the direct
   * build: it is not part of what is measured. */
  w->slots = (void **)calloc(ws, sizeof(void *));
  if (!w->slots) return -1;
  w->ws = ws;
  w->min = min;
  w->span = max - min + 1;
  w->mask = (w->span & (w->span - 1)) == 0 ? w->span - 1 : 0;
  w->state = bench_seed(seed);
  w->live = 0;
  return 0;
}

static inline size_t rm_size(const rm_work_t *w, uint32_t r) {
  /* A power-of-two span avoids a division the allocator would be billed for
   * (default 16..1039 is 16 + (r & 0x3FF)). */
  return (size_t)w->min + (w->mask ? (r & w->mask) : (r % w->span));
}

/* One op. Returns 1 if it allocated, 0 if it freed, -1 on allocation failure. */
static inline int rm_op(rm_work_t *w) {
  uint32_t r = xorshift32(&w->state);
  uint32_t idx = r % w->ws;
  void *p = w->slots[idx];
  if (p) {
    bench_free(p);
    w->slots[idx] = NULL;
    w->live--;
    return 0;
  }
  p = bench_malloc(rm_size(w, r));
  if (!p) return -1;
  *(volatile unsigned char *)p = (unsigned char)r;
  bench_escape(p);
  w->slots[idx] = p;
  w->live++;
  return 1;
}

static inline void rm_drain(rm_work_t *w) {
  for (uint32_t i = 0; i < w->ws; i++) {
    if (w->slots[i]) {
      bench_free(w->slots[i]);
      w->slots[i] = NULL;
    }
  }
  w->live = 0;
}

static inline void rm_fini(rm_work_t *w) {
  rm_drain(w);
  free(w->slots);
  w->slots = NULL;
}

#endif /* HAKMEM_BENCH_RM_WORKLOAD_H */
