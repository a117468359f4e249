/* The pointer map: from any address to the slab record of the SuperSlab
 * granule it falls in, with a copy of that slab's owner. free() reads it
 * for every pointer; so do the slow paths, realloc, hk_usable_size and
 * hk_heap_of. It is the only structure that says "hakmem has a block
 * here".
 *
 * Two levels. The top (hk__map_top, 64 KiB) has an entry per 32 GiB of a
 * 48-bit address space; each points at a chunk, 8 MiB of address space
 * reserved the first time a SuperSlab or large block lands in its range:
 * an owner array and a slab array, an 8-byte word each per 64 KiB granule,
 * then a page of counts. Every top entry that has no chunk points at one
 * shared zero chunk, reserved read-only and left out of core files, so
 * every address finds a readable entry: owner 0, slab NULL, "nothing
 * here". free() computes
 *     g = (uint32_t)(p >> 16);  e = hk__map_top[g >> 19] + 8 * g
 * with no range check and no branch (each top entry is stored minus its
 * chunk's first granule, so g indexes it as it is), and compares the word
 * at e with its token before it reads anything else. Bits 48..63 of p are
 * dropped: such an address is no user address on x86-64 (non-canonical
 * or kernel) nor on arm64 with 48-bit VA, and the block tests that follow
 * and the first access to it fault rather than corrupt.
 *
 * Before the library is initialised (constructors, or the first
 * allocation) top entry 0 points at a zero word, so free(NULL) reads it
 * and returns; an address hakmem never returned is undefined only then.
 *
 * Cost: 16 bytes per 64 KiB mapped (256 KiB per GiB), in whole pages: one
 * page of owners and one of slabs cover 32 MiB. The count page of a chunk
 * tracks how many SuperSlabs each owner page covers; hk__map_trim (run by
 * hk_heap_trim) gives back the two pages of every count at zero
 * (MADV_DONTNEED), so a burst leaves no map memory behind, and a heap
 * whose SuperSlabs come and go in one place makes no call for the map.
 * Address space: the 64 KiB top, the zero chunk and a chunk per 32 GiB
 * range in use. Core files: a chunk is MADV_DONTDUMP but for the pages
 * that have held entries since the last trim.
 *
 * Invariants:
 *   - entries are written under map_lock only by insert/update/remove,
 *     while their SuperSlab holds no block (its pool lock held), and by
 *     hk__slab_set_owner for owners (the slab's owner at the time);
 *   - an entry's owner equals its slab's owner whenever the slab's owner
 *     could use it, plus HK_MAP_BIN while that thread keeps the slab's
 *     class in bin mode (tiny/bin.c): its fast path then misses, and its
 *     frees go to the bin;
 *   - a chunk, once published, stays for the life of the process.
 * Ordering (C11, so it holds on arm64's weak ordering as on x86-64):
 *   - a chunk's top entry is stored with release after the chunk is
 *     mapped and linked; every reader loads top entries with acquire
 *     (hk__map_pos), so it sees the chunk's words from then on;
 *   - a slab word is stored with release after its SuperSlab's records are
 *     written; the slow paths load it with acquire (hk__map_slab_at) and
 *     read the record they get. free's fast path loads it relaxed: it acts
 *     only when the owner word is its own token, which this thread stored
 *     after it took the slab (under the pool lock, or by the acquire CAS
 *     of a detached slab), so the record's writes already happened before;
 *   - an owner word is stored with release by hk__slab_set_owner; any value
 *     a thread reads other than its own token sends it to the slow path.
 *   - a page of entries is given back only when no SuperSlab has entries
 *     in it, so no block is ever found through a page being zeroed.
 * Lock order: pool lock, then map_lock. */
#include "internal.h"

#include <string.h>

#define CHUNK_GRANULES ((size_t)1 << HK_MAP_CHUNK_SHIFT)
/* Entry pages are counted by HK_PAGE; dump and trim act on whole OS pages
 * (a group of them: one with 4 KiB pages, 16 with 64 KiB). */
#define PAGE_GRANULES (HK_PAGE / sizeof(uintptr_t))  /* 512 granules: 32 MiB per owner page */
#define COUNTS_OFF (2 * HK_MAP_SLABS)                /* after the owners and the slabs */
#define NEXT_OFF (COUNTS_OFF + 2048)                 /* in the count page: the next chunk */
#define CHUNK_BYTES (COUNTS_OFF + HK_PAGE)
/* A count byte: SuperSlabs with entries in the page (at most 16: one per
 * 2 MiB), and DUMPED once the page has been made part of core files. */
#define COUNT_MASK 0x3fu
#define DUMPED 0x80u

_Static_assert(CHUNK_GRANULES / PAGE_GRANULES <= 2048, "a chunk's counts fit before its link");
_Static_assert(HK_SS_GRANULES <= PAGE_GRANULES && PAGE_GRANULES % HK_SS_GRANULES == 0,
               "a SuperSlab's entries sit in one page of each array");
_Static_assert((size_t)HK_MAP_TOP << (HK_MAP_CHUNK_SHIFT + HK_GRANULE_SHIFT) == (size_t)1 << 48,
               "the top covers 48 bits of address");

static const uintptr_t early_owner; /* before initialisation: free(NULL)'s entry */

uint8_t *hk__map_top[HK_MAP_TOP] = {[0] = (uint8_t *)&early_owner};

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t map_once = PTHREAD_ONCE_INIT;
static uint8_t *zero_chunk; /* NULL: the map could not be set up */
static uint8_t *chunks;     /* every chunk reserved, linked through NEXT_OFF */
static hk__os_t map_os;     /* the map's own calls */

/* What top entry i holds for a chunk at c: c minus its first granule's offset. */
static uint8_t *top_value(uint8_t *c, size_t i) {
  return (uint8_t *)((uintptr_t)c - ((uintptr_t)i << HK_MAP_CHUNK_SHIFT) * sizeof(uintptr_t));
}

static void map_init_once(void) {
  uint8_t *z = hk__os_reserve(&map_os, CHUNK_BYTES, HK_PAGE, true);
  if (z == NULL) return; /* every SuperSlab insert fails: allocations report ENOMEM */
  hk__os_dontdump(z, CHUNK_BYTES);
  /* Plain stores, eight entries at a time (the top is an arithmetic
   * sequence), published by the release fence: nothing reads the top
   * entries before the map is set up (free of a non-NULL pointer comes
   * after an allocation, which runs this first, or after this library's
   * constructor). Every process pays this loop once. */
  typedef uintptr_t eight_t __attribute__((vector_size(8 * sizeof(uintptr_t))));
  const uintptr_t step = (uintptr_t)1 << HK_MAP_CHUNK_SHIFT << 3; /* top_value(z, i) - top_value(z, i + 1) */
  const uintptr_t b = (uintptr_t)z;
  eight_t v = {b, b - step, b - 2 * step, b - 3 * step, b - 4 * step, b - 5 * step, b - 6 * step,
               b - 7 * step};
  const eight_t by8 = {8 * step, 8 * step, 8 * step, 8 * step, 8 * step, 8 * step, 8 * step, 8 * step};
  _Static_assert(HK_MAP_TOP % 8 == 0, "whole groups of eight");
  for (size_t i = 0; i < HK_MAP_TOP; i += 8, v -= by8) memcpy(&hk__map_top[i], &v, sizeof v);
  atomic_thread_fence(memory_order_release);
  zero_chunk = z;
}

void hk__map_init(void) { pthread_once(&map_once, map_init_once); }

/* Early: constructors of other libraries may free before they allocate. */
__attribute__((constructor)) static void map_ctor(void) { hk__map_init(); }

void hk__map_lock(void) { pthread_mutex_lock(&map_lock); }
void hk__map_unlock(void) { pthread_mutex_unlock(&map_lock); }

static size_t granule_of(const void *p) { return (size_t)((uintptr_t)p >> HK_GRANULE_SHIFT); }

/* The chunk of granule g, reserved if it has none yet; NULL if the OS
 * refused (or g is beyond 48 bits). map_lock held. */
static uint8_t *chunk_for(size_t g) {
  size_t i = g >> HK_MAP_CHUNK_SHIFT;
  if (zero_chunk == NULL || i >= HK_MAP_TOP) return NULL;
  uint8_t *v = hk__map_top[i];
  if (v != top_value(zero_chunk, i)) return v + ((uintptr_t)i << HK_MAP_CHUNK_SHIFT) * sizeof(uintptr_t);
  uint8_t *c = hk__os_map_aligned(&map_os, CHUNK_BYTES, HK_PAGE);
  if (c == NULL) return NULL;
  hk__os_dontdump(c, COUNTS_OFF); /* pages join core files as they get entries */
  memcpy(c + NEXT_OFF, &chunks, sizeof chunks);
  chunks = c;
  __atomic_store_n(&hk__map_top[i], top_value(c, i), __ATOMIC_RELEASE);
  return c;
}

/* Byte offset, in either array, of the page that holds g's entry. */
static size_t page_off(size_t g) {
  return (g & (CHUNK_GRANULES - 1)) / PAGE_GRANULES * HK_PAGE;
}

/* ss's first granule with an entry, and how many it has: every granule
 * of a SMALL or MID SuperSlab; of a LARGE one the one its block
 * starts in (an over-aligned block starts past the first). */
static size_t first_granule(const hk__ss_t *ss) {
  return granule_of(ss->kind == HK_KIND_LARGE ? (const void *)ss->slabs[0].start : (const void *)ss);
}
static size_t ss_granules(const hk__ss_t *ss) {
  return ss->kind == HK_KIND_LARGE ? 1 : HK_SS_GRANULES;
}
/* The count of the page of owners (and of slabs) that holds g's entry. */
static uint8_t *page_count(uint8_t *c, size_t g) {
  return c + COUNTS_OFF + page_off(g) / HK_PAGE;
}

/* One more SuperSlab (or 2 MiB of an area) has entries in g's page: the
 * page joins core files first (best effort: the entries work either way),
 * with every count page of its OS page. */
static void count_in(uint8_t *c, size_t g) {
  uint8_t *n = page_count(c, g);
  if (!(*n & DUMPED)) {
    size_t group = hk__os_page() / HK_PAGE, first = page_off(g) / HK_PAGE / group * group;
    (void)hk__os_dump(c + first * HK_PAGE, group * HK_PAGE);
    (void)hk__os_dump(c + HK_MAP_SLABS + first * HK_PAGE, group * HK_PAGE);
    for (size_t k = first; k < first + group; k++) c[COUNTS_OFF + k] |= DUMPED;
  }
  ++*n;
}

/* ss's entries: owner 0 and each granule's slab (a MID slab's eight
 * granules all name its first granule's record), or all zero. */
static void write_entries(uint8_t *c, const hk__ss_t *ss, bool clear) {
  size_t g0 = first_granule(ss) & (CHUNK_GRANULES - 1);
  _Atomic uintptr_t *owner = (_Atomic uintptr_t *)(c + g0 * sizeof(uintptr_t));
  hk__slab_t **slab = (hk__slab_t **)(c + HK_MAP_SLABS + g0 * sizeof(uintptr_t));
  unsigned lead = ~((1u << (ss->slab_shift - HK_GRANULE_SHIFT)) - 1u);
  for (size_t g = 0; g < ss_granules(ss); g++) {
    atomic_store_explicit(&owner[g], 0, memory_order_relaxed);
    __atomic_store_n(&slab[g], clear ? NULL : &ss->slabs[g & lead], __ATOMIC_RELEASE);
  }
}

bool hk__map_insert(hk__ss_t *ss) {
  hk__map_init();
  size_t g = first_granule(ss);
  pthread_mutex_lock(&map_lock);
  uint8_t *c = chunk_for(g);
  if (c != NULL) {
    count_in(c, g);
    write_entries(c, ss, false);
  }
  pthread_mutex_unlock(&map_lock);
  return c != NULL;
}

/* The 2 MiB of entries from granule g: owner 0, slab rec (NULL: cleared). */
static void piece_entries(uint8_t *c, size_t g, hk__slab_t *rec) {
  size_t g0 = g & (CHUNK_GRANULES - 1);
  _Atomic uintptr_t *owner = (_Atomic uintptr_t *)(c + g0 * sizeof(uintptr_t));
  hk__slab_t **slab = (hk__slab_t **)(c + HK_MAP_SLABS + g0 * sizeof(uintptr_t));
  for (size_t k = 0; k < HK_SS_GRANULES; k++) {
    atomic_store_explicit(&owner[k], 0, memory_order_relaxed);
    __atomic_store_n(&slab[k], rec, __ATOMIC_RELEASE);
  }
}

/* A large area: each 2 MiB of it counts in its page like a SuperSlab. */
static bool fill_piece(const uint8_t *p, hk__slab_t *rec) {
  size_t g = granule_of(p);
  uint8_t *c = chunk_for(g);
  if (c == NULL) return false;
  count_in(c, g);
  piece_entries(c, g, rec);
  return true;
}

bool hk__map_fill(const void *p, size_t bytes, hk__slab_t *rec) {
  hk__map_init();
  const uint8_t *b = p;
  pthread_mutex_lock(&map_lock);
  size_t done = 0;
  while (done < bytes && fill_piece(b + done, rec)) done += HK_SS_SIZE;
  pthread_mutex_unlock(&map_lock);
  if (done < bytes) hk__map_unfill(p, done);
  return done == bytes;
}

void hk__map_unfill(const void *p, size_t bytes) {
  const uint8_t *b = p;
  pthread_mutex_lock(&map_lock);
  for (size_t off = 0; off < bytes; off += HK_SS_SIZE) {
    size_t g = granule_of(b + off);
    uint8_t *c = chunk_for(g);
    piece_entries(c, g, NULL);
    --*page_count(c, g);
  }
  pthread_mutex_unlock(&map_lock);
}

/* Release, as every slab word: whoever finds rec reads it as written. No
 * lock: the granule's page holds the filled area's entries, so it stays. */
void hk__map_set_slab(const void *p, hk__slab_t *rec) {
  hk__map_pos_t e = hk__map_pos(p);
  __atomic_store_n(hk__map_slab_word(e), rec, __ATOMIC_RELEASE);
}

void hk__map_update(hk__ss_t *ss) {
  pthread_mutex_lock(&map_lock);
  write_entries(chunk_for(first_granule(ss)), ss, false);
  pthread_mutex_unlock(&map_lock);
}

void hk__map_remove(hk__ss_t *ss) {
  size_t g = first_granule(ss);
  pthread_mutex_lock(&map_lock);
  uint8_t *c = chunk_for(g);
  write_entries(c, ss, true);
  --*page_count(c, g);
  pthread_mutex_unlock(&map_lock);
}

void hk__map_trim(void) {
  pthread_mutex_lock(&map_lock);
  for (uint8_t *c = chunks, *next; c != NULL; c = next) {
    memcpy(&next, c + NEXT_OFF, sizeof next);
    /* By OS page: a group of count pages, given back only when none of
     * them has entries (the decommit would zero them all). */
    size_t group = hk__os_page() / HK_PAGE;
    for (size_t page = 0; page < CHUNK_GRANULES / PAGE_GRANULES; page += group) {
      uint8_t *n = c + COUNTS_OFF + page, any = 0;
      for (size_t k = 0; k < group; k++) any |= n[k];
      if (any != DUMPED) continue; /* entries in it, or given back already */
      uint8_t *owners = c + page * HK_PAGE, *slabs = c + HK_MAP_SLABS + page * HK_PAGE;
      size_t len = group * HK_PAGE;
      hk__os_decommit(&map_os, owners, len, HK_DECOMMIT_DONTNEED); /* zero either way */
      hk__os_decommit(&map_os, slabs, len, HK_DECOMMIT_DONTNEED);
      hk__os_dontdump(owners, len);
      hk__os_dontdump(slabs, len);
      memset(n, 0, group);
    }
  }
  pthread_mutex_unlock(&map_lock);
}

bool hk__map_cover(const void *p) {
  hk__map_init();
  pthread_mutex_lock(&map_lock);
  bool ok = chunk_for(granule_of(p)) != NULL;
  pthread_mutex_unlock(&map_lock);
  return ok;
}

/* Release: a thread that sees itself as the owner sees what the previous
 * owner did to the slab before it let go (paired with the acquire of
 * whoever handed the slab over: the pool lock, or the CAS on xfree). No
 * lock: the slab's SuperSlab has entries (it is laid out), so their page
 * stays. */
void hk__slab_set_owner(hk__slab_t *s, uintptr_t owner, bool bin) {
  atomic_store_explicit(&s->owner, owner, memory_order_release);
  const hk__ss_t *ss = s->ss;
  uint8_t *first = (uint8_t *)ss + ((size_t)hk__slab_index(s) << ss->slab_shift);
  hk__map_pos_t pos = hk__map_pos(first);
  _Atomic uintptr_t *e = (_Atomic uintptr_t *)(pos.base + pos.g * sizeof(uintptr_t));
  uintptr_t mapped = owner != 0 && bin ? owner | HK_MAP_BIN : owner;
  for (unsigned g = 0; g < 1u << (ss->slab_shift - HK_GRANULE_SHIFT); g++)
    atomic_store_explicit(&e[g], mapped, memory_order_release);
}
