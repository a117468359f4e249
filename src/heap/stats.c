/* Statistics. Nothing is counted on the fast paths: live figures come from
 * walking the heap's slabs (each slab's `used` count) under the pool lock,
 * event counters are bumped on slow paths only. */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

static void walk_slabs(const hk__pool_t *pool, hk_stats_t *out) {
  for (const hk__ss_t *ss = pool->in_use.head; ss != NULL; ss = ss->next) {
    for (unsigned i = 0; i < ss->nslabs; i++) {
      const hk__slab_t *s = hk__ss_slab(ss, i);
      if (s->state == HK_SLAB_FREE) continue;
      /* Racy by design for slabs owned by running threads: exact when quiet. */
      uint32_t used = __atomic_load_n(&s->used, __ATOMIC_RELAXED);
      uint32_t pending = (uint32_t)(atomic_load_explicit(&s->xfree, memory_order_relaxed) >>
                                    HK_XFREE_COUNT_SHIFT);
      pending += __atomic_load_n(&s->pinned, __ATOMIC_RELAXED); /* not a block */
      used = used > pending ? used - pending : 0;
      out->class_live_blocks[s->cls] += used;
      out->live_bytes += (size_t)used * s->block_size;
    }
  }
}

static void not_live(hk_stats_t *out, unsigned c, size_t held) {
  size_t n = held < out->class_live_blocks[c] ? held : out->class_live_blocks[c];
  out->class_live_blocks[c] -= n;
  out->live_bytes -= n * hk__class_size[c];
}

/* Blocks in the fronts' bins and the depot are free, though their slabs
 * count them as out; frees into bins are counted by each front until its
 * flush (the ones since its bins' last check in the bins). Global lock
 * held (the front list). */
static void walk_fronts(const hk__heap_t *heap, hk_stats_t *out) {
  for (const hk__front_t *f = heap->fronts; f != NULL; f = f->hnext) {
    /* Large blocks in fronts' caches: retained, not live. */
    out->large_blocks -= atomic_load_explicit(&f->lc_n, memory_order_relaxed);
    size_t b = atomic_load_explicit(&f->lc_bytes, memory_order_relaxed);
    out->large_bytes -= b;
    out->large_retained_bytes += b;
  }
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++)
    not_live(out, c, hk__depot_blocks((hk__pool_t *)&heap->pool, c));
  for (const hk__front_t *f = heap->fronts; f != NULL; f = f->hnext) {
    out->remote_frees += atomic_load_explicit(&f->remote_frees, memory_order_relaxed);
    if (f->bins == NULL) continue;
    for (unsigned c = 0; c < HK_NUM_CLASSES; c++) {
      out->remote_frees += __atomic_load_n(&f->bins[c].bin_foreign, __ATOMIC_RELAXED);
      not_live(out, c, 0u - __atomic_load_n(&f->bins[c].used, __ATOMIC_RELAXED));
    }
  }
}

static void fill(hk__heap_t *heap, hk_stats_t *out) {
  hk__pool_t *pool = &heap->pool;
  memset(out, 0, sizeof *out);
  out->struct_size = (uint32_t)sizeof *out;
  out->version = HK_STATS_VERSION;
  out->profile = pool->policy.profile;
  out->max_bytes = pool->policy.max_bytes;
  out->num_classes = HK_NUM_CLASSES;
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) out->class_block_size[c] = hk__class_size[c];
  hk__global_lock();
  pthread_mutex_lock(&pool->lock);
  walk_slabs(pool, out);
  out->large_blocks = pool->n_large - pool->n_parked;
  out->large_bytes = pool->large_bytes - pool->parked_bytes;
  out->large_retained_bytes = pool->area_retained + pool->cache_bytes + pool->parked_bytes;
  walk_fronts(heap, out);
  out->live_bytes += out->large_bytes;
  out->peak_live_bytes = pool->peak_active > out->live_bytes ? pool->peak_active : out->live_bytes;
  out->mapped_bytes = pool->mapped;
  out->peak_mapped_bytes = pool->peak_mapped;
  out->committed_bytes = pool->committed;
  out->superslabs = pool->n_superslabs;
  out->superslabs_empty = pool->empty.n + pool->decommitted.n;
  out->superslabs_decommitted = pool->decommitted.n;

  out->region_cache_entries = pool->cache_n;
  out->region_cache_bytes = pool->cache_bytes;
  out->large_released_bytes = pool->large_released;
  pthread_mutex_unlock(&pool->lock);
  hk__global_unlock();
  out->remote_frees += atomic_load_explicit(&pool->remote_frees, memory_order_relaxed);
  out->os_mmap = atomic_load(&pool->os.n_mmap);
  out->os_munmap = atomic_load(&pool->os.n_munmap);
  out->os_madvise = atomic_load(&pool->os.n_madvise);
  out->os_mmap_failed = atomic_load(&pool->os.n_mmap_failed);
  out->os_munmap_failed = atomic_load(&pool->os.n_munmap_failed);
  out->os_madvise_failed = atomic_load(&pool->os.n_madvise_failed);
}

/* A caller built against an older, shorter hk_stats_t gets the prefix it
 * knows: struct_size says how much was written. */
int hk_heap_stats_sized(const hk_heap_t *handle, hk_stats_t *out, size_t out_size) {
  if (out == NULL || out_size < offsetof(hk_stats_t, profile)) return EINVAL;
  hk__process_init();
  hk__heap_t *heap = hk__heap_lookup(handle);
  if (heap == NULL) return EINVAL;
  hk_stats_t st;
  fill(heap, &st);
  size_t n = out_size < sizeof st ? out_size : sizeof st;
  st.struct_size = (uint32_t)n;
  memcpy(out, &st, n);
  return 0;
}

static const char *profile_name(hk_profile_t p) {
  return p == HK_PROFILE_SPEED ? "speed" : p == HK_PROFILE_BALANCED ? "balanced" : "lean";
}

/* Field table shared by the text and JSON writers. */
#define HK_STATS_FIELDS(X)                                                                 \
  X(live_bytes) X(peak_live_bytes) X(mapped_bytes) X(peak_mapped_bytes) X(committed_bytes)   \
  X(superslabs) X(superslabs_empty) X(superslabs_decommitted) X(large_blocks) X(large_bytes) \
  X(region_cache_entries) X(region_cache_bytes) X(remote_frees) X(os_mmap) X(os_munmap)      \
  X(os_madvise) X(os_mmap_failed) X(os_munmap_failed) X(os_madvise_failed)                  \
  X(large_retained_bytes) X(large_released_bytes)

int hk_heap_stats_print(const hk_heap_t *handle, FILE *out) {
  hk_stats_t st;
  hk__heap_t *heap = hk__heap_lookup(handle);
  if (out == NULL || heap == NULL || hk_heap_stats(handle, &st) != 0) return EINVAL;
  fprintf(out, "hakmem heap \"%s\" (hakmem %s)\n", heap->pool.policy.name, HK_VERSION_STRING);
  fprintf(out, "  %-24s %s\n", "profile", profile_name(st.profile));
  fprintf(out, "  %-24s %zu\n", "max_bytes", st.max_bytes);
#define X(f) fprintf(out, "  %-24s %" PRIu64 "\n", #f, (uint64_t)st.f);
  HK_STATS_FIELDS(X)
#undef X
  fprintf(out, "  %-10s %12s %12s\n", "class", "block_size", "live_blocks");
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) {
    if (st.class_live_blocks[c] == 0) continue;
    fprintf(out, "  %-10u %12zu %12zu\n", c, st.class_block_size[c], st.class_live_blocks[c]);
  }
  return ferror(out) ? EIO : 0;
}

static void json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(out, "\\%c", ch);
    else if (ch < 0x20) fprintf(out, "\\u%04x", ch);
    else fputc(ch, out);
  }
  fputc('"', out);
}

int hk_heap_stats_print_json(const hk_heap_t *handle, FILE *out) {
  hk_stats_t st;
  hk__heap_t *heap = hk__heap_lookup(handle);
  if (out == NULL || heap == NULL || hk_heap_stats(handle, &st) != 0) return EINVAL;
  fputs("{\"name\":", out);
  json_string(out, heap->pool.policy.name);
  fprintf(out, ",\"version\":\"%s\"", HK_VERSION_STRING);
  fprintf(out, ",\"profile\":\"%s\",\"max_bytes\":%zu", profile_name(st.profile), st.max_bytes);
#define X(f) fprintf(out, ",\"" #f "\":%" PRIu64, (uint64_t)st.f);
  HK_STATS_FIELDS(X)
#undef X
  fputs(",\"classes\":[", out);
  bool first = true;
  for (unsigned c = 0; c < HK_NUM_CLASSES; c++) {
    if (st.class_live_blocks[c] == 0) continue;
    fprintf(out, "%s{\"class\":%u,\"block_size\":%zu,\"live_blocks\":%zu}", first ? "" : ",", c,
            st.class_block_size[c], st.class_live_blocks[c]);
    first = false;
  }
  fputs("]}\n", out);
  return ferror(out) ? EIO : 0;
}
