/* The granule map: free()'s lookup from any pointer to its slab.
 *
 * One 16-byte entry per 64 KiB granule of the 47-bit user address space:
 * 2^31 entries, a 32 GiB reservation of readable zero pages, of which only
 * the pages that cover SuperSlabs are ever written (one 4 KiB page covers
 * 16 MiB, 8 SuperSlabs). An entry holds the granule's slab (for a MID slab
 * its first granule's record) and a copy of the slab's owner. free()
 * computes
 *     e = base + ((p >> 12) & mask)
 * with no range check and no branch, and compares e->owner with its own
 * token before it reads anything else: every pointer finds a readable
 * entry, owner 0 wherever no SMALL/MID SuperSlab is, so only a pointer
 * into a slab the caller owns gets to the fast path's block tests, and
 * anything else (foreign, LARGE, stale, remote) goes to the slow path,
 * which validates through the segment map.
 *
 * Without the map (the reservation refused: RLIMIT_AS below 128 GiB, or a
 * tool that caps address space) mask stays 0 and base points at a static
 * zero entry, so every lookup reads that entry: all frees are slow frees,
 * none is wrong.
 *
 * Publication: base is stored before mask, and free() loads mask before
 * base, so a racing free() sees the zero entry, the map's first entry
 * (address 0: zero) or the map, never the new mask with the old base.
 * Both are set once, before the first SuperSlab exists.
 *
 * Invariants:
 *   - an entry's slab is written only while its SuperSlab holds no block,
 *     under its pool's lock (set on lay-out, cleared before unmap);
 *   - an entry's owner equals its slab's owner whenever the slab's owner
 *     could use it: both are written by hk__slab_set_owner, by the thread
 *     that takes or gives up the slab, before it frees into it; plus
 *     HK_GMAP_BIN while that thread keeps the slab's class in bin mode
 *     (tiny/bin.c), so that its fast path misses and its frees go to the
 *     bin;
 *   - pages of entries, once writable, stay so. */
#include "internal.h"

#define GMAP_BYTES (HK_GMAP_ENTRIES * sizeof(hk__gmap_entry_t)) /* 32 GiB */
#define GMAP_PAGES (GMAP_BYTES / HK_PAGE)

_Static_assert(sizeof(hk__gmap_entry_t) == (size_t)1 << (HK_GRANULE_SHIFT - HK_GMAP_SHIFT),
               "free's shift turns a granule number into an entry offset");
_Static_assert(HK_SEG_GRANULES * sizeof(hk__gmap_entry_t) <= HK_PAGE,
               "a SuperSlab's entries sit in one page of the map");

static const hk__gmap_entry_t zero_entry;

hk__gmap_view_t hk__gmap = {.mask = 0, .base = (uint8_t *)(uintptr_t)&zero_entry};

static pthread_once_t gmap_once = PTHREAD_ONCE_INIT;
static hk__os_t gmap_os;                           /* the map's own mmap/mprotect */
static _Atomic uint64_t writable[GMAP_PAGES / 64]; /* pages made read-write (1 MiB .bss) */

/* The reservation counts against RLIMIT_AS in full: under a limit, only if
 * it is at most a quarter of it (the arena takes up to another eighth). */
static void gmap_init_once(void) {
  if (GMAP_BYTES > hk__os_address_space_limit() / 4) return;
  uint8_t *map = hk__os_reserve(&gmap_os, GMAP_BYTES, HK_PAGE, true);
  if (map == NULL) return;
  hk__gmap.base = map;
  __atomic_store_n(&hk__gmap.mask, (HK_GMAP_ENTRIES - 1) * sizeof(hk__gmap_entry_t),
                   __ATOMIC_RELEASE);
}

void hk__gmap_init(void) { pthread_once(&gmap_once, gmap_init_once); }

/* Early, while the process is single-threaded in practice, so no free()
 * races with publication. Code that allocates before constructors run
 * gets the map from the arena's reservation or hk__gmap_set, whichever
 * comes first (the map is reserved before the arena: under a tool that
 * caps address space, it is worth more). */
__attribute__((constructor)) static void gmap_ctor(void) { hk__gmap_init(); }

/* The entries of seg, NULL if the map does not cover it. */
static hk__gmap_entry_t *entries_of(const hk__seg_t *seg) {
  uintptr_t first = (uintptr_t)seg >> HK_GRANULE_SHIFT;
  if (hk__gmap.mask == 0 || first + HK_SEG_GRANULES > HK_GMAP_ENTRIES) return NULL;
  return (hk__gmap_entry_t *)hk__gmap.base + first;
}

/* Two pools may race to open the same page: mprotect is idempotent. */
static bool make_writable(const hk__gmap_entry_t *e) {
  size_t page = (size_t)((const uint8_t *)e - hk__gmap.base) / HK_PAGE;
  _Atomic uint64_t *word = &writable[page / 64];
  uint64_t bit = (uint64_t)1 << (page % 64);
  if (atomic_load_explicit(word, memory_order_acquire) & bit) return true;
  if (!hk__os_commit_fixed(&gmap_os, hk__gmap.base + page * HK_PAGE, HK_PAGE)) return false;
  atomic_fetch_or_explicit(word, bit, memory_order_release);
  return true;
}

void hk__gmap_set(hk__seg_t *seg) {
  hk__gmap_init();
  hk__gmap_entry_t *e = entries_of(seg);
  seg->in_gmap = e != NULL && make_writable(e);
  if (!seg->in_gmap) return;
  unsigned lead = ~((1u << (seg->slab_shift - HK_GRANULE_SHIFT)) - 1u);
  for (unsigned g = 0; g < HK_SEG_GRANULES; g++) {
    atomic_store_explicit(&e[g].owner, 0, memory_order_relaxed);
    __atomic_store_n(&e[g].slab, &seg->slabs[g & lead], __ATOMIC_RELEASE);
  }
}

void hk__gmap_clear(hk__seg_t *seg) {
  if (!seg->in_gmap) return;
  seg->in_gmap = 0;
  hk__gmap_entry_t *e = entries_of(seg);
  for (unsigned g = 0; g < HK_SEG_GRANULES; g++) {
    atomic_store_explicit(&e[g].owner, 0, memory_order_relaxed);
    __atomic_store_n(&e[g].slab, NULL, __ATOMIC_RELEASE);
  }
}

/* Release: a thread that sees itself as the owner sees what the previous
 * owner did to the slab before it let go. */
void hk__slab_set_owner(hk__slab_t *s, uintptr_t owner, bool bin) {
  atomic_store_explicit(&s->owner, owner, memory_order_release);
  hk__seg_t *seg = s->seg;
  if (!seg->in_gmap) return;
  hk__gmap_entry_t *e = entries_of(seg);
  unsigned per_slab = 1u << (seg->slab_shift - HK_GRANULE_SHIFT);
  e += (size_t)hk__slab_index(s) * per_slab;
  uintptr_t mapped = owner != 0 && bin ? owner | HK_GMAP_BIN : owner;
  for (unsigned g = 0; g < per_slab; g++)
    atomic_store_explicit(&e[g].owner, mapped, memory_order_release);
}
