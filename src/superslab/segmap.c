/* The segment map: one byte per 2 MiB of the 47-bit user address space
 * (64 MiB of zero-filled .bss, only the touched pages ever become resident:
 * one 4 KiB page covers 8 GiB of address space). free() reads it before it
 * dereferences a SuperSlab header, so a pointer hakmem never returned is
 * reported instead of crashing or corrupting. */
#include "internal.h"

_Atomic uint8_t hk__segmap[HK_SEGMAP_SIZE];

void hk__segmap_set(const void *seg, bool on) {
  uintptr_t idx = (uintptr_t)seg >> HK_SEG_SHIFT;
  if (idx < HK_SEGMAP_SIZE)
    atomic_store_explicit(&hk__segmap[idx], on ? 1 : 0, memory_order_release);
}
