/* The 64-bit finaliser (splitmix/murmur3) the tests and the stress program
 * derive fill patterns and random streams from. No cmocka here, so programs
 * that are not cmocka tests can share it. */
#ifndef HAKMEM_TEST_MIX_H
#define HAKMEM_TEST_MIX_H

#include <stdint.h>

static inline uint64_t hkt_mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

#endif
