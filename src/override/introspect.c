/* glibc's introspection calls under the preload: programs call them to log
 * their memory use, and without these they would reach glibc's and report
 * its empty arena. They describe the process, so they cover every heap,
 * through the public API only (hk_heaps, hk_heap_stats): the default heap
 * is "arena 0" and the others follow. docs/override.md maps each field.
 *
 * free_sized and free_aligned_sized (C23) are hk_free_sized and
 * hk_free_aligned_sized. mallopt accepts every parameter and changes
 * nothing (hakmem's policy lives in heap configs), returning 1 as glibc
 * does for a parameter it does not know. */
#define _GNU_SOURCE
#include <hakmem/hakmem.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <malloc.h>
#include <stdio.h>

#define OVR_API __attribute__((visibility("default")))

/* Not in Debian 12's glibc headers yet (C23). */
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t alignment, size_t size);

OVR_API void free_sized(void *p, size_t size) { hk_free_sized(p, size); }
OVR_API void free_aligned_sized(void *p, size_t alignment, size_t size) {
  hk_free_aligned_sized(p, alignment, size);
}

/* The stats of heap i (the default heap first); false past the last one. */
#define MAX_HEAPS 256
typedef struct {
  hk_heap_t *h[MAX_HEAPS];
  size_t n;
} heaps_t;

static void heaps_list(heaps_t *l) {
  hk_heap_t *def = hk_heap_default();
  l->h[0] = def;
  l->n = 1;
  hk_heap_t *all[MAX_HEAPS];
  size_t n = hk_heaps(all, MAX_HEAPS);
  for (size_t i = 0; i < n && i < MAX_HEAPS; i++)
    if (all[i] != def && l->n < MAX_HEAPS) l->h[l->n++] = all[i];
}

static bool stats_at(const heaps_t *l, size_t i, hk_stats_t *st) {
  return hk_heap_stats(l->h[i], st) == 0; /* a heap destroyed meanwhile is skipped */
}

typedef struct {
  size_t arena, ordblks, hblks, hblkhd, uordblks, fordblks, keepcost, peak;
} sums_t;

static void add(sums_t *s, const hk_stats_t *st) {
  s->arena += st->mapped_bytes - st->large_bytes;
  s->ordblks += st->superslabs_empty + st->region_cache_entries;
  s->hblks += st->large_blocks;
  s->hblkhd += st->large_bytes;
  s->uordblks += st->live_bytes;
  s->fordblks += st->mapped_bytes > st->live_bytes ? st->mapped_bytes - st->live_bytes : 0;
  s->keepcost += st->large_retained_bytes +
                 (st->superslabs_empty - st->superslabs_decommitted) * HK_SUPERSLAB_SIZE;
  s->peak += st->peak_mapped_bytes;
}

static sums_t process_sums(void) {
  heaps_t l;
  heaps_list(&l);
  sums_t s = {0};
  hk_stats_t st;
  for (size_t i = 0; i < l.n; i++)
    if (stats_at(&l, i, &st)) add(&s, &st);
  return s;
}

OVR_API struct mallinfo2 mallinfo2(void) {
  sums_t s = process_sums();
  struct mallinfo2 m = {0};
  m.arena = s.arena;
  m.ordblks = s.ordblks;
  m.hblks = s.hblks;
  m.hblkhd = s.hblkhd;
  m.uordblks = s.uordblks;
  m.fordblks = s.fordblks;
  m.keepcost = s.keepcost;
  return m;
}

static int clamp(size_t v) { return v > INT_MAX ? INT_MAX : (int)v; }

/* Deprecated in glibc for its int fields; they saturate at INT_MAX here
 * rather than wrap. */
OVR_API struct mallinfo mallinfo(void) {
  struct mallinfo2 m2 = mallinfo2();
  struct mallinfo m = {0};
  m.arena = clamp(m2.arena);
  m.ordblks = clamp(m2.ordblks);
  m.hblks = clamp(m2.hblks);
  m.hblkhd = clamp(m2.hblkhd);
  m.uordblks = clamp(m2.uordblks);
  m.fordblks = clamp(m2.fordblks);
  m.keepcost = clamp(m2.keepcost);
  return m;
}

/* glibc's layout, so log parsers keep working: one "Arena" per heap. */
OVR_API void malloc_stats(void) {
  heaps_t l;
  heaps_list(&l);
  sums_t s = {0};
  hk_stats_t st;
  for (size_t i = 0; i < l.n; i++) {
    if (!stats_at(&l, i, &st)) continue;
    add(&s, &st);
    fprintf(stderr, "Arena %zu:\nsystem bytes     = %10zu\nin use bytes     = %10zu\n", i,
            st.mapped_bytes, st.live_bytes);
  }
  fprintf(stderr,
          "Total (incl. mmap):\nsystem bytes     = %10zu\nin use bytes     = %10zu\n"
          "max mmap regions = %10zu\nmax mmap bytes   = %10zu\n",
          s.arena + s.hblkhd, s.uordblks, s.hblks, s.peak);
}

/* glibc's XML shape; <sizes> lists each class's live blocks (hakmem keeps
 * no per-size list of free chunks). */
OVR_API int malloc_info(int options, FILE *fp) {
  if (options != 0) return EINVAL;
  if (fp == NULL) return EINVAL;
  heaps_t l;
  heaps_list(&l);
  sums_t s = {0};
  hk_stats_t st;
  fputs("<malloc version=\"1\">\n", fp);
  for (size_t i = 0; i < l.n; i++) {
    if (!stats_at(&l, i, &st)) continue;
    add(&s, &st);
    fprintf(fp, "<heap nr=\"%zu\">\n<sizes>\n", i);
    for (uint32_t c = 0; c < st.num_classes && c < HK_STATS_CLASSES; c++)
      if (st.class_live_blocks[c] != 0)
        fprintf(fp, "  <size from=\"%zu\" to=\"%zu\" total=\"%zu\" count=\"%zu\"/>\n",
                st.class_block_size[c], st.class_block_size[c],
                st.class_block_size[c] * st.class_live_blocks[c], st.class_live_blocks[c]);
    fprintf(fp,
            "</sizes>\n<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
            "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
            "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
            "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n"
            "</heap>\n",
            st.superslabs_empty + st.region_cache_entries,
            st.mapped_bytes > st.live_bytes ? st.mapped_bytes - st.live_bytes : 0,
            st.mapped_bytes, st.peak_mapped_bytes, st.mapped_bytes, st.committed_bytes);
  }
  fprintf(fp,
          "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
          "<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
          "<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n"
          "<system type=\"current\" size=\"%zu\"/>\n<system type=\"max\" size=\"%zu\"/>\n"
          "<aspace type=\"total\" size=\"%zu\"/>\n<aspace type=\"mprotect\" size=\"%zu\"/>\n"
          "</malloc>\n",
          s.ordblks, s.fordblks, s.hblks, s.hblkhd, s.arena + s.hblkhd, s.peak, s.arena + s.hblkhd,
          s.arena + s.hblkhd);
  return ferror(fp) ? EIO : 0;
}

OVR_API int mallopt(int param, int value) {
  (void)param, (void)value;
  return 1;
}
