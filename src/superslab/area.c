/* Large areas: where large blocks up to HK_AREA_BLOCK_MAX live. An area is
 * one reservation (128 MiB for a pool's first, doubling up to 1 GiB, less
 * under an address-space limit),
 * carved into runs of 64 KiB granules, one run per block, found address
 * ordered, first fit. A freed run stays resident and is reused by the
 * next blocks that fit (no syscall, no page fault); it goes back to the
 * OS (MADV_DONTNEED through hk__os_decommit) only as the heap's policy
 * says: once unused for the decay delay, or oldest first while the
 * retained bytes exceed their cap (policy/decide.c). Freed runs merge with
 * their free neighbours by construction: a run is only bits in a bitmap.
 *
 * The map: every granule of an area names the area's own record (state
 * HK_SLAB_AREA) but the first granule of each live block, which names the
 * block's record (a meta block, superslab/large.c). So a pointer into an
 * area that starts no live block finds the area, and a second free of a
 * block is told from a stray pointer (the `freed` bitmap).
 *
 * Bitmaps per area, a bit per granule:
 *   used   in a block;
 *   dirty  free and resident: counted in the pool's mapped and committed
 *          bytes (so the budget counts retained runs, like any retained
 *          memory) until given back;
 *   old    the dirty granules that were already dirty at the last decay
 *          tick. A tick (on any area call, at most once per decay delay)
 *          gives back the old ones, then marks every dirty one old: a run
 *          goes back between one and two delays after it was freed;
 *   freed  the first granule of a block freed since, not reused.
 * Invariants: dirty & used == 0, old is a subset of dirty; a granule
 * neither used nor dirty is zero pages (never touched, or given back).
 * Everything here runs under the pool lock. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#define WORD 64u

static bool bit(const uint64_t *b, size_t i) { return (b[i / WORD] >> (i % WORD)) & 1u; }

/* Bits [i, i + n) of b set to v. */
static void bits_fill(uint64_t *b, size_t i, size_t n, bool v) {
  while (n > 0) {
    size_t w = i / WORD, o = i % WORD, k = WORD - o < n ? WORD - o : n;
    uint64_t m = (k == WORD ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << o;
    b[w] = v ? b[w] | m : b[w] & ~m;
    i += k, n -= k;
  }
}

/* Set bits of [i, i + n) in b. */
static size_t bits_count(const uint64_t *b, size_t i, size_t n) {
  size_t c = 0;
  while (n > 0) {
    size_t w = i / WORD, o = i % WORD, k = WORD - o < n ? WORD - o : n;
    uint64_t m = (k == WORD ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << o;
    c += (size_t)__builtin_popcountll(b[w] & m);
    i += k, n -= k;
  }
  return c;
}

/* The first i >= from, i < n, whose bit in b is v; n if none. with
 * `invert`, b's bits are read inverted (the free granules: ~used). */
static size_t next_bit(const uint64_t *b, size_t from, size_t n, bool v, bool invert) {
  while (from < n) {
    size_t w = from / WORD;
    uint64_t x = invert ? ~b[w] : b[w];
    if (!v) x = ~x;
    x &= ~(uint64_t)0 << (from % WORD);
    if (x != 0) {
      size_t i = w * WORD + (size_t)__builtin_ctzll(x);
      return i < n ? i : n;
    }
    from = (w + 1) * WORD;
  }
  return n;
}

/* First run of n granules whose bits are set in b (inverted with
 * `invert`), starting where granule g0 + i (g0: the area's first, as an
 * address) is a multiple of step; SIZE_MAX if none. */
static size_t find_run(const uint64_t *b, size_t nbits, size_t n, size_t step, size_t g0,
                       bool invert) {
  size_t i = 0;
  while (i + n <= nbits) {
    i = next_bit(b, i, nbits, true, invert);
    if ((g0 + i) % step != 0) i += step - (g0 + i) % step;
    if (i + n > nbits) break;
    if (!(invert ? !bit(b, i) : bit(b, i))) continue; /* rounded onto a clear bit */
    size_t end = next_bit(b, i, nbits, false, invert);
    if (end - i >= n) return i;
    i = end;
  }
  return SIZE_MAX;
}

static size_t granules(const hk__area_t *a) { return a->size >> HK_GRANULE_SHIFT; }
static size_t first_granule(const hk__area_t *a) { return (uintptr_t)a->base >> HK_GRANULE_SHIFT; }

/* Gives back the runs of mask (dirty granules) of a, lowest first, until
 * at least `want` bytes went back (SIZE_MAX: all); returns the bytes. */
static size_t give_back(hk__pool_t *pool, hk__area_t *a, const uint64_t *mask, size_t want) {
  size_t n = granules(a), released = 0;
  for (size_t i = next_bit(mask, 0, n, true, false); i < n && released < want;) {
    size_t end = next_bit(mask, i, n, false, false);
    size_t left = (want - released + HK_GRANULE - 1) >> HK_GRANULE_SHIFT;
    if (want != SIZE_MAX && end - i > left) end = i + left;
    size_t bytes = (end - i) << HK_GRANULE_SHIFT;
    /* DONTNEED whatever the heap's decommit mode: a granule neither used
     * nor dirty must read zeros (calloc relies on it). A refused decommit
     * keeps the run dirty: tried again later. */
    if (hk__os_decommit(&pool->os, a->base + (i << HK_GRANULE_SHIFT), bytes,
                        HK_DECOMMIT_DONTNEED)) {
      bits_fill(a->dirty, i, end - i, false);
      bits_fill(a->old, i, end - i, false);
      released += bytes;
    }
    i = next_bit(mask, end, n, true, false);
  }
  a->dirty_n -= released >> HK_GRANULE_SHIFT;
  pool->area_retained -= released;
  pool->mapped -= released;
  pool->committed -= released;
  pool->large_released += released;
  return released;
}

/* Decay: give back what was already dirty at the last tick, at most once
 * per delay (no clock read when the policy keeps runs forever). */
static void tick(hk__pool_t *pool) {
  const hk__policy_t *pol = &pool->policy;
  if (pool->area_retained == 0 || !hk__policy_large_decays(pol)) return;
  uint64_t now = hk__os_now_ms(&pool->os);
  if (!hk__policy_large_tick_due(pol, pool->area_tick_ms, now)) return;
  pool->area_tick_ms = now;
  for (hk__area_t *a = pool->areas; a != NULL; a = a->next) {
    uint64_t copy[HK_AREA_WORDS];
    memcpy(copy, a->old, sizeof copy);
    give_back(pool, a, copy, SIZE_MAX);
    memcpy(a->old, a->dirty, sizeof a->old);
  }
}

uint64_t hk__area_purge(hk__pool_t *pool) {
  tick(pool);
  if (pool->area_retained == 0 || !hk__policy_large_decays(&pool->policy)) return UINT64_MAX;
  return pool->area_tick_ms + pool->policy.large_decay_ms;
}

/* Over the cap: the old runs first, then the newer ones, lowest first. */
static void enforce_cap(hk__pool_t *pool, size_t cap) {
  for (int pass = 0; pass < 2 && pool->area_retained > cap; pass++) {
    for (hk__area_t *a = pool->areas; a != NULL && pool->area_retained > cap; a = a->next) {
      uint64_t copy[HK_AREA_WORDS];
      memcpy(copy, pass == 0 ? a->old : a->dirty, sizeof copy);
      give_back(pool, a, copy, pool->area_retained - cap);
    }
  }
}

size_t hk__area_release(hk__pool_t *pool, size_t keep) {
  size_t before = pool->area_retained;
  enforce_cap(pool, keep);
  return before - pool->area_retained;
}

/* The size of a pool's next area: twice the last, from HK_AREA_FIRST to
 * HK_AREA_MAX, and under an address-space limit (RLIMIT_AS) at most a 16th
 * of it, so that areas never crowd out SuperSlabs there. */
static size_t next_size(const hk__pool_t *pool) {
  size_t size = HK_AREA_FIRST;
  for (size_t i = 0; i < pool->n_areas && size < HK_AREA_MAX; i++) size <<= 1;
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    while (size > HK_SS_SIZE && size > (size_t)rl.rlim_cur / 16) size >>= 1;
  return size;
}

/* A new area, the next size, big enough for n granules (else NULL: the
 * block gets a mapping of its own). Its address space is reserved, not
 * committed: only runs handed out are counted. */
static hk__area_t *area_new(hk__pool_t *pool, size_t n) {
  size_t size = next_size(pool);
  if ((n << HK_GRANULE_SHIFT) > size || size < ((size_t)16 << 20)) return NULL;
  hk__area_t *a = hk__meta_alloc(sizeof *a);
  if (a == NULL) return NULL;
  a->base = hk__os_map_aligned(&pool->os, size, HK_SS_SIZE);
  if (a->base == NULL) { /* no address space: large blocks get their own mappings */
    hk__meta_free(a, sizeof *a);
    return NULL;
  }
  a->size = size;
  a->hdr.magic = HK_SS_MAGIC;
  a->hdr.kind = HK_KIND_LARGE;
  a->hdr.slab_shift = HK_SS_SHIFT;
  a->hdr.nslabs = 1;
  a->hdr.pool = pool;
  a->hdr.area = a;
  a->hdr.slabs = &a->rec;
  a->rec.ss = &a->hdr;
  a->rec.state = HK_SLAB_AREA;
  a->rec.flags = HK_SLAB_LARGE_BLOCK;
  a->rec.start = a->base;
  if (!hk__map_fill(a->base, size, &a->rec)) {
    hk__os_unmap(&pool->os, a->base, size);
    hk__meta_free(a, sizeof *a);
    return NULL;
  }
  a->next = NULL;
  hk__area_t **tail = &pool->areas;
  while (*tail != NULL) tail = &(*tail)->next;
  *tail = a; /* address order of creation: older areas are tried first */
  pool->n_areas++;
  return a;
}

uint8_t *hk__area_alloc(hk__pool_t *pool, size_t bytes, size_t align, hk__area_t **area,
                        bool *dirty) {
  tick(pool);
  size_t n = bytes > 0 ? (bytes + HK_GRANULE - 1) >> HK_GRANULE_SHIFT : 1;
  size_t step = align > HK_GRANULE ? align >> HK_GRANULE_SHIFT : 1;
  if (step >= (HK_AREA_MIN >> HK_GRANULE_SHIFT)) return NULL;
  hk__area_t *a = NULL;
  size_t at = SIZE_MAX;
  /* Resident runs first: no fault, no accounting. Then any free run. */
  for (hk__area_t *x = pool->areas; x != NULL && at == SIZE_MAX; x = x->next)
    if (x->dirty_n >= n && (at = find_run(x->dirty, granules(x), n, step, first_granule(x), false)) != SIZE_MAX)
      a = x;
  for (hk__area_t *x = pool->areas; x != NULL && at == SIZE_MAX; x = x->next)
    if ((at = find_run(x->used, granules(x), n, step, first_granule(x), true)) != SIZE_MAX) a = x;
  if (at == SIZE_MAX) {
    a = area_new(pool, n + step - 1);
    if (a == NULL) return NULL;
    at = find_run(a->used, granules(a), n, step, first_granule(a), true);
    if (at == SIZE_MAX) return NULL;
  }
  size_t was_dirty = bits_count(a->dirty, at, n);
  size_t fresh = (n - was_dirty) << HK_GRANULE_SHIFT;
  if (fresh > 0 && !hk__pool_make_room(pool, fresh)) {
    errno = ENOMEM;
    return NULL;
  }
  /* make_room may have given back dirty granules of this very run. */
  was_dirty = bits_count(a->dirty, at, n);
  fresh = (n - was_dirty) << HK_GRANULE_SHIFT;
  if (fresh > 0 && !hk__policy_within_budget(&pool->policy, pool->mapped, fresh)) {
    errno = ENOMEM;
    return NULL;
  }
  bits_fill(a->used, at, n, true);
  bits_fill(a->dirty, at, n, false);
  bits_fill(a->old, at, n, false);
  bits_fill(a->freed, at, n, false);
  a->dirty_n -= was_dirty;
  pool->area_retained -= was_dirty << HK_GRANULE_SHIFT;
  pool->mapped += fresh;
  pool->committed += fresh;
  if (pool->mapped > pool->peak_mapped) pool->peak_mapped = pool->mapped;
  *area = a;
  *dirty = was_dirty > 0;
  return a->base + (at << HK_GRANULE_SHIFT);
}

/* Granules [at, at + n) of a become free, resident, retained (aged: as
 * if they had been at the last tick already). */
static void run_free(hk__pool_t *pool, hk__area_t *a, size_t at, size_t n, bool aged) {
  bits_fill(a->used, at, n, false);
  bits_fill(a->dirty, at, n, true);
  if (aged) bits_fill(a->old, at, n, true);
  a->dirty_n += n;
  pool->area_retained += n << HK_GRANULE_SHIFT;
  if (pool->area_retained > pool->policy.region_cache_max_bytes)
    enforce_cap(pool, pool->policy.region_cache_max_bytes);
  tick(pool);
  if (hk__policy_large_decays(&pool->policy)) hk__purge_note(pool, pool->policy.large_decay_ms);
}

void hk__area_free(hk__pool_t *pool, hk__area_t *a, uint8_t *p, size_t bytes, bool aged) {
  size_t at = (size_t)(p - a->base) >> HK_GRANULE_SHIFT;
  bits_fill(a->freed, at, 1, true);
  run_free(pool, a, at, bytes >> HK_GRANULE_SHIFT, aged);
}

bool hk__area_resize(hk__pool_t *pool, hk__area_t *a, uint8_t *p, size_t old_bytes,
                     size_t new_bytes) {
  size_t at = (size_t)(p - a->base) >> HK_GRANULE_SHIFT;
  size_t n0 = old_bytes >> HK_GRANULE_SHIFT, n1 = (new_bytes + HK_GRANULE - 1) >> HK_GRANULE_SHIFT;
  if (n1 <= n0) { /* the tail is freed like a block */
    if (n1 < n0) run_free(pool, a, at + n1, n0 - n1, false);
    return true;
  }
  if (at + n1 > granules(a) || next_bit(a->used, at + n0, at + n1, true, false) != at + n1)
    return false;
  size_t was_dirty = bits_count(a->dirty, at + n0, n1 - n0);
  size_t fresh = (n1 - n0 - was_dirty) << HK_GRANULE_SHIFT;
  if (fresh > 0 && !hk__policy_within_budget(&pool->policy, pool->mapped, fresh)) return false;
  bits_fill(a->used, at + n0, n1 - n0, true);
  bits_fill(a->dirty, at + n0, n1 - n0, false);
  bits_fill(a->old, at + n0, n1 - n0, false);
  a->dirty_n -= was_dirty;
  pool->area_retained -= was_dirty << HK_GRANULE_SHIFT;
  pool->mapped += fresh;
  pool->committed += fresh;
  if (pool->mapped > pool->peak_mapped) pool->peak_mapped = pool->mapped;
  return true;
}

size_t hk__area_trim(hk__pool_t *pool) {
  size_t released = hk__area_release(pool, 0);
  for (hk__area_t **link = &pool->areas, *a; (a = *link) != NULL;) {
    if (next_bit(a->used, 0, granules(a), true, false) < granules(a)) {
      link = &a->next;
      continue;
    }
    *link = a->next; /* no block in it: its address space goes back too */
    size_t dirty = a->dirty_n << HK_GRANULE_SHIFT; /* runs a refused decommit kept */
    pool->area_retained -= dirty;
    pool->mapped -= dirty;
    pool->committed -= dirty;
    pool->large_released += dirty;
    released += dirty;
    hk__map_unfill(a->base, a->size);
    hk__os_unmap(&pool->os, a->base, a->size);
    hk__meta_free(a, sizeof *a);
    pool->n_areas--;
  }
  return released;
}

bool hk__area_freed_start(const hk__area_t *a, const void *p) {
  size_t off = (size_t)((const uint8_t *)p - a->base);
  return off < a->size && off % HK_GRANULE == 0 && bit(a->freed, off >> HK_GRANULE_SHIFT);
}

void hk__area_destroy_all(hk__pool_t *pool) {
  for (hk__area_t *a = pool->areas, *n; a != NULL; a = n) {
    n = a->next;
    hk__map_unfill(a->base, a->size);
    hk__os_unmap(&pool->os, a->base, a->size);
    hk__meta_free(a, sizeof *a);
  }
  pool->areas = NULL;
  pool->n_areas = 0;
}
