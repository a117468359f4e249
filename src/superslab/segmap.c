/* The segment map: one byte per 2 MiB of the 47-bit user address space
 * The byte is the SuperSlab's slab shift (16, 19 or 21), 0 where there is
 * none, so free() learns both facts from one load.
 * (64 MiB of zero-filled .bss, only the touched pages ever become resident:
 * one 4 KiB page covers 8 GiB of address space). free() reads it before it
 * dereferences a SuperSlab header, so a pointer hakmem never returned is
 * reported instead of crashing or corrupting. */
#include "internal.h"

_Atomic uint8_t hk__segmap[HK_SEGMAP_SIZE];

void hk__segmap_set(const void *seg, unsigned slab_shift) {
  uintptr_t idx = (uintptr_t)seg >> HK_SEG_SHIFT;
  if (idx < HK_SEGMAP_SIZE)
    atomic_store_explicit(&hk__segmap[idx], (uint8_t)slab_shift, memory_order_release);
}
