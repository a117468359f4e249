/* Shared by the policy tests: a fake OS behind hk_os_hooks_t that maps real
 * memory but counts every call, can be told to fail map calls, and logs the
 * advice values, plus small heap helpers.
 *
 * The fake hands out regions that start one page past a 2 MiB boundary.
 * hakmem then always trims the same two pieces (2 MiB - 4 KiB in front,
 * 4 KiB behind), so an unmap of any other size is a region being released
 * (a SuperSlab or a large block) and can be counted apart from alignment
 * trims. */
#ifndef HK_POLICY_UTIL_H
#define HK_POLICY_UTIL_H

#include <hakmem/hakmem.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)
#define SEG HK_SUPERSLAB_SIZE
/* The OS page (4 KiB here; 64 KiB when CI runs this binary under qemu -p),
 * and what a SuperSlab keeps committed when decommitted: its 8 KiB header
 * in whole pages. */
#define PAGE ((size_t)sysconf(_SC_PAGESIZE))
#define HEADER (PAGE > 8192 ? PAGE : (size_t)8192)
#define FAKE_LOG 1024

typedef struct fake_os {
  unsigned maps, unmaps, advises; /* calls, failed ones included */
  unsigned fail_at, fail_len;     /* map calls numbered [fail_at, fail_at+fail_len) fail */
  unsigned releases;              /* unmaps of whole regions (not alignment trims) */
  size_t released_bytes;
  size_t live;                    /* bytes mapped through the hooks and not unmapped */
  unsigned n_advice;
  int advice[FAKE_LOG];
  size_t advice_len[FAKE_LOG];
  unsigned n_maps_logged;
  uintptr_t map_addr[FAKE_LOG];   /* region starts returned by map */
} fake_os_t;

/* Hooks bound to fo (fo is reset). */
hk_os_hooks_t fake_hooks(fake_os_t *fo);

/* A heap's config and the fake OS it runs on. */
typedef struct fixture {
  hk_heap_config_t cfg;
  fake_os_t fo;
  hk_os_hooks_t hooks;
} fixture_t;

/* f->cfg = the profile's preset (change fields before fx_heap). */
void fx_preset(fixture_t *f, hk_profile_t profile);
/* Creates a heap from f->cfg on f's fake OS (reset); fails the test on NULL. */
hk_heap_t *fx_heap(fixture_t *f);

hk_stats_t stats_of(const hk_heap_t *h);

/* Blocks of size bsize (<= 8 KiB, a class size) one SMALL SuperSlab holds:
 * slab 0 loses the 8 KiB header, the other 31 slabs have 64 KiB each. */
size_t blocks_per_superslab(size_t bsize);

/* Index of the class whose block size is bsize (fails the test if none). */
unsigned class_index(size_t bsize);

/* Allocates n blocks of size from h into out, failing the test on NULL. */
void alloc_n(hk_heap_t *h, size_t size, size_t n, void **out);
void free_n(void **blk, size_t n);

static inline uintptr_t superslab_base(const void *p) { return (uintptr_t)p & ~(uintptr_t)(SEG - 1); }

/* Number of distinct SuperSlabs the n blocks live in. */
size_t distinct_superslabs(void **blk, size_t n);

/* Resident pages of [p, p+len) (mincore). */
size_t resident_pages(const void *p, size_t len);

void sleep_ms(unsigned ms);
uint64_t now_ms(void);

/* Test groups, one per file; each runs its cmocka group. */
int run_policy_tests(void);
int run_policy_stats_tests(void);

#endif
