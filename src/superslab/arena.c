/* The arena: one address-space reservation, made the first time a heap
 * without OS hooks needs a SuperSlab, that SMALL and MID SuperSlabs are cut
 * from as 2 MiB slots, plus META, the flat array of their slab records.
 *
 * Why: free() no longer needs it (the granule map, gmap.c, finds any
 * SuperSlab's records); it keeps SuperSlabs packed in one reservation
 * whose slots are reused (few mappings, few pages of map entries), with
 * records in META that are zeroed, never unmapped, when a slot is given
 * back. Outside the arena (OS hooks, or an arena that is full or could not
 * be reserved) SuperSlabs keep their records in their header.
 *
 * Invariants:
 *   - a slot's META page is writable once the slot has been handed out
 *     (slots below next_slot) and stays so; when the slot is given back
 *     the page is decommitted (MADV_DONTNEED: zero, and no longer
 *     resident), so stale pointers into a free slot find owner 0, and the
 *     records of a burst do not outlive it;
 *   - a free slot's data is PROT_NONE, fresh anonymous memory, so a slot
 *     made accessible again is zero-filled;
 *   - a slot whose release failed is never reused (the kernel may have
 *     unmapped it, and something else may live there now).
 * The arena lock is taken inside pool locks. */
#include "internal.h"

#include <string.h>

#define ARENA_MAX_SHIFT 38 /* 256 GiB of SuperSlabs: 131072 slots */
#define ARENA_MIN_SHIFT 30 /* smaller than 1 GiB: not worth a reservation */
#define SLOT_META_BYTES (HK_SEG_SIZE >> HK_META_SHIFT) /* 8 KiB: 32 records and a gap */
#define META_COMMIT_SLOTS 16u /* META becomes writable 128 KiB at a time */

_Static_assert(SLOT_META_BYTES >= HK_SEG_GRANULES * sizeof(hk__slab_t) && SLOT_META_BYTES % HK_PAGE == 0,
               "a slot's records fit in whole pages of META");

static struct {
  uintptr_t base; /* first slot (2 MiB aligned) */
  uint8_t *meta;  /* records of slot k at meta + k * SLOT_META_BYTES */
} arena;

static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
static int arena_state;         /* 0: not tried yet, 1: reserved, -1: not available */
static size_t nslots;
static size_t next_slot;        /* slots below it have been handed out once */
static size_t meta_writable;    /* slots below it have a writable META page */
static uint32_t *free_slots;    /* stack of given-back slots (nslots entries) */
static size_t n_free;
static hk__os_t arena_os;       /* the process's own calls (META, the stack) */

void hk__arena_lock(void) { pthread_mutex_lock(&arena_lock); }
void hk__arena_unlock(void) { pthread_mutex_unlock(&arena_lock); }

static uint8_t *slot_addr(size_t k) { return (uint8_t *)arena.base + (k << HK_SEG_SHIFT); }
static hk__slab_t *slot_records(size_t k) {
  return (hk__slab_t *)(arena.meta + k * SLOT_META_BYTES);
}

/* The largest reservation the kernel accepts, halving from 256 GiB
 * (valgrind refuses the big ones). Under an RLIMIT_AS, at most an eighth of
 * the limit: the reservation counts against it in full, and the rest must
 * stay for large blocks and everything else the program maps. Lock held. */
static void reserve(void) {
  hk__gmap_init(); /* first: with the map every SuperSlab's frees are fast, in the arena or not */
  arena_state = -1;
  size_t cap = hk__os_address_space_limit() / 8;
  for (unsigned shift = ARENA_MAX_SHIFT; shift >= ARENA_MIN_SHIFT; shift--) {
    size_t size = (size_t)1 << shift;
    if (size + (size >> HK_META_SHIFT) > cap) continue;
    uint8_t *meta = hk__os_reserve(&arena_os, size >> HK_META_SHIFT, HK_PAGE, false);
    if (meta == NULL) continue;
    uint8_t *base = hk__os_reserve(&arena_os, size, HK_SEG_SIZE, false);
    size_t stack_bytes = (size >> HK_SEG_SHIFT) * sizeof(uint32_t);
    uint32_t *stack = base != NULL ? hk__os_map_aligned(&arena_os, stack_bytes, HK_PAGE) : NULL;
    if (stack == NULL || (((uintptr_t)base + size - 1) >> HK_SEG_SHIFT) >= HK_SEGMAP_SIZE) {
      if (stack != NULL) hk__os_unmap(&arena_os, stack, stack_bytes);
      if (base != NULL) hk__os_unmap(&arena_os, base, size);
      hk__os_unmap(&arena_os, meta, size >> HK_META_SHIFT);
      continue;
    }
    free_slots = stack;
    nslots = size >> HK_SEG_SHIFT;
    arena.base = (uintptr_t)base;
    arena.meta = meta;
    arena_state = 1;
    return;
  }
}

/* A slot index, its META page writable, or SIZE_MAX. Lock held. */
static size_t slot_alloc(void) {
  if (n_free > 0) return free_slots[--n_free];
  if (next_slot == nslots) return SIZE_MAX;
  if (next_slot == meta_writable) {
    size_t n = nslots - meta_writable < META_COMMIT_SLOTS ? nslots - meta_writable : META_COMMIT_SLOTS;
    if (!hk__os_commit_fixed(&arena_os, slot_records(meta_writable), n * SLOT_META_BYTES))
      return SIZE_MAX;
    meta_writable += n;
  }
  return next_slot++;
}

void *hk__arena_take(hk__os_t *os, hk__slab_t **records) {
  void *seg = NULL;
  pthread_mutex_lock(&arena_lock);
  if (arena_state == 0) reserve();
  size_t k = arena_state > 0 ? slot_alloc() : SIZE_MAX;
  if (k != SIZE_MAX) {
    if (hk__os_commit_fixed(os, slot_addr(k), HK_SEG_SIZE)) {
      seg = slot_addr(k);
      *records = slot_records(k);
    } else { /* still PROT_NONE: the slot can be tried again later */
      free_slots[n_free++] = (uint32_t)k;
    }
  }
  pthread_mutex_unlock(&arena_lock);
  return seg;
}

bool hk__arena_give(hk__os_t *os, void *seg) {
  size_t k = ((uintptr_t)seg - arena.base) >> HK_SEG_SHIFT;
  hk__slab_t *r = slot_records(k);
  /* Zero, resident no more; stale pointers into the slot then find owner 0. */
  if (!hk__os_decommit(os, r, SLOT_META_BYTES, HK_DECOMMIT_DONTNEED)) memset(r, 0, SLOT_META_BYTES);
  if (!hk__os_release_fixed(os, seg, HK_SEG_SIZE)) return false; /* lost: never reused */
  pthread_mutex_lock(&arena_lock);
  free_slots[n_free++] = (uint32_t)k;
  pthread_mutex_unlock(&arena_lock);
  return true;
}
