/* Size classes: 16-byte steps up to 128 B, then 8 classes per power of two
 * up to 64 KiB, so internal waste above 128 B stays <= 12.5%. Class c has
 * block size (c+1)*16 for c < 8, else (9 + c%8) << (3 + c/8). Every power of
 * two is a class, which the aligned path relies on. */
#include "internal.h"

#define CS(c) ((c) < 8 ? ((c) + 1u) * 16u : (9u + (c) % 8u) << (3u + (c) / 8u))
#define CS8(c) CS(c), CS(c + 1), CS(c + 2), CS(c + 3), CS(c + 4), CS(c + 5), CS(c + 6), CS(c + 7)

const uint32_t hk__class_size[HK_NUM_CLASSES] = {
    CS8(0), CS8(8), CS8(16), CS8(24), CS8(32), CS8(40), CS8(48), CS8(56), CS8(64), CS8(72)};

/* hk__small_class[(size + 15) / 16] for size <= 1024 (generated from the rule above). */
const uint8_t hk__small_class[HK_SMALL_MAX / 16 + 1] = {
    0,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 16, 17, 17, 18,
    18, 19, 19, 20, 20, 21, 21, 22, 22, 23, 23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26,
    26, 27, 27, 27, 27, 28, 28, 28, 28, 29, 29, 29, 29, 30, 30, 30, 30, 31, 31, 31, 31};

_Static_assert(CS(79) == 65536, "last class is HK_MID_MAX");
_Static_assert(CS(31) == 1024, "class 31 is HK_SMALL_MAX");

/* Smallest class holding `size` whose block size is a multiple of `align`
 * (align <= HK_PAGE). A slab's first block is aligned to the lowest set bit
 * of its block size (page-aligned base plus a colour offset that keeps that
 * alignment, pool.c), so every block of such a class is aligned.
 * Terminates at the next power of two at the latest. */
unsigned hk__class_for_aligned(size_t size, size_t align) {
  if (size < align) size = align;
  if (size > HK_MID_MAX) return HK_NUM_CLASSES;
  unsigned c = hk__size_class(size);
  while (c < HK_NUM_CLASSES && (hk__class_size[c] & (align - 1)) != 0) c++;
  return c;
}
