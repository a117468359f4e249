/* The segment map: one byte per 2 MiB of the 47-bit user address space,
 * nonzero (the SuperSlab's slab shift: 16, 19 or 21) where a SuperSlab
 * starts. (64 MiB of zero-filled .bss, only the touched pages ever become
 * resident: one 4 KiB page covers 8 GiB of address space.) The slow paths
 * (free, realloc, usable_size, hk_heap_of) read it before they dereference
 * a SuperSlab header, so a pointer hakmem never returned is reported
 * instead of crashing or corrupting. free's fast path does not need it:
 * the granule map answers (see gmap.c), and so does its slow path for the
 * SuperSlabs the map holds. */
#include "internal.h"

_Atomic uint8_t hk__segmap[HK_SEGMAP_SIZE];

void hk__segmap_set(const void *seg, unsigned slab_shift) {
  uintptr_t idx = (uintptr_t)seg >> HK_SEG_SHIFT;
  if (idx < HK_SEGMAP_SIZE)
    atomic_store_explicit(&hk__segmap[idx], (uint8_t)slab_shift, memory_order_release);
}
