/* Internal records (thread records, fronts, heaps) come from here, never
 * from malloc: the allocator must not recurse into itself. Records are
 * power-of-two sized (256 B .. 16 KiB), carved from 64 KiB mappings and kept
 * on free lists for reuse; the number alive is bounded by live threads and
 * heaps, so the memory is never returned. A record never handed out is
 * still the mapping's zeros but for its two list words (its key says so),
 * so only a reused one is cleared whole. */
#include "internal.h"

#include <string.h>

#define META_MIN_SHIFT 8
#define META_MAX_SHIFT 14
#define META_CHUNK ((size_t)64 << 10)
#define META_NBINS (META_MAX_SHIFT - META_MIN_SHIFT + 1)

static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static hk__block_t *meta_bins[META_NBINS];
static hk__os_t meta_os;

static unsigned bin_of(size_t size) {
  unsigned b = 0;
  while (((size_t)1 << (META_MIN_SHIFT + b)) < size) b++;
  return b;
}

void *hk__meta_alloc(size_t size) {
  unsigned b = bin_of(size);
  if (b >= META_NBINS) return NULL;
  size_t rsize = (size_t)1 << (META_MIN_SHIFT + b);
  pthread_mutex_lock(&meta_lock);
  hk__block_t *blk = meta_bins[b];
  if (blk == NULL) {
    uint8_t *chunk = hk__os_map_aligned(&meta_os, META_CHUNK, HK_PAGE);
    if (chunk != NULL) {
      for (size_t off = META_CHUNK; off >= rsize; off -= rsize) {
        hk__block_t *nb = (hk__block_t *)(chunk + off - rsize);
        nb->next = meta_bins[b];
        nb->key = 1; /* fresh: zero past the list words */
        meta_bins[b] = nb;
      }
      blk = meta_bins[b];
    }
  }
  if (blk != NULL) meta_bins[b] = blk->next;
  pthread_mutex_unlock(&meta_lock);
  if (blk != NULL) {
    if (blk->key == 1) memset(blk, 0, sizeof *blk);
    else memset(blk, 0, rsize);
  }
  return blk;
}

void hk__meta_free(void *p, size_t size) {
  if (p == NULL) return;
  unsigned b = bin_of(size);
  pthread_mutex_lock(&meta_lock);
  hk__block_t *blk = p;
  blk->key = 0; /* used: cleared whole when handed out again */
  blk->next = meta_bins[b];
  meta_bins[b] = blk;
  pthread_mutex_unlock(&meta_lock);
}

void hk__meta_lock_all(void) { pthread_mutex_lock(&meta_lock); }
void hk__meta_unlock_all(void) { pthread_mutex_unlock(&meta_lock); }
