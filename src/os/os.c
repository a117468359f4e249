/* The only file that calls mmap, munmap, madvise and membarrier (see the contract in
 * internal.h). Each heap's pool owns an hk__os_t, so every OS call is
 * counted for the heap that made it, and tests can inject hooks. */
#include "internal.h"

#include <errno.h>
#ifdef HK_ASAN
#include <sanitizer/asan_interface.h>
#endif
#include <linux/membarrier.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* 0 until first asked. sysconf reads the kernel's AT_PAGESZ (no
 * allocation, no syscall); a value that is no power of two >= HK_PAGE
 * cannot come from Linux and is taken as HK_PAGE. */
static _Atomic size_t page_size;

size_t hk__os_page(void) {
  size_t p = atomic_load_explicit(&page_size, memory_order_relaxed);
  if (hk_likely(p != 0)) return p;
  long v = sysconf(_SC_PAGESIZE);
  p = v >= (long)HK_PAGE && (v & (v - 1)) == 0 ? (size_t)v : HK_PAGE;
  atomic_store_explicit(&page_size, p, memory_order_relaxed); /* every thread computes the same */
  return p;
}

size_t hk__os_page_up(size_t n) {
  size_t p = hk__os_page();
  return (n + p - 1) & ~(p - 1);
}

void hk__os_init(hk__os_t *os, const hk_os_hooks_t *hooks) {
  if (hooks != NULL) os->hooks = *hooks;
  os->hint = 0;
}

/* Under HAKMEM_ASAN free blocks are poisoned, and ASan's shadow of a range
 * outlives its unmapping: whatever is mapped there next starts clean. */
static void *fresh(void *p, size_t size) {
#ifdef HK_ASAN
  if (p != NULL) ASAN_UNPOISON_MEMORY_REGION(p, size);
#else
  (void)size;
#endif
  return p;
}

static void *raw_map(hk__os_t *os, void *hint, size_t size) {
  void *p;
  if (os->hooks.map != NULL) {
    p = os->hooks.map(size, os->hooks.arg);
  } else {
    p = mmap(hint, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
             -1, 0);
    if (p == MAP_FAILED) p = NULL;
  }
  atomic_fetch_add_explicit(&os->n_mmap, 1, memory_order_relaxed);
  if (p == NULL) {
    atomic_fetch_add_explicit(&os->n_mmap_failed, 1, memory_order_relaxed);
    errno = ENOMEM;
  }
  return fresh(p, size);
}

bool hk__os_unmap(hk__os_t *os, void *p, size_t size) {
  if (size == 0) return true;
  int rc = os->hooks.unmap != NULL ? os->hooks.unmap(p, size, os->hooks.arg) : munmap(p, size);
  atomic_fetch_add_explicit(&os->n_munmap, 1, memory_order_relaxed);
  if (rc != 0) atomic_fetch_add_explicit(&os->n_munmap_failed, 1, memory_order_relaxed);
  return rc == 0;
}

void *hk__os_map_aligned_at(hk__os_t *os, size_t size, size_t align, size_t phase) {
  if (phase == 0) return hk__os_map_aligned(os, size, align);
  size = hk__os_page_up(size);
  size_t over = size + align;
  if (over < size) { errno = ENOMEM; return NULL; }
  uint8_t *raw = raw_map(os, NULL, over);
  if (raw == NULL) return NULL;
  uint8_t *p = (uint8_t *)((((uintptr_t)raw + phase + align - 1) & ~(uintptr_t)(align - 1)) - phase);
  size_t head = (size_t)(p - raw), tail = over - head - size;
  if (head) hk__os_unmap(os, raw, head);
  if (tail) hk__os_unmap(os, p + size, tail);
  return p;
}

void *hk__os_map_aligned(hk__os_t *os, size_t size, size_t align) {
  if (align < hk__os_page()) align = hk__os_page();
  size = hk__os_page_up(size); /* so the trims below are whole pages */
  /* Fast try: ask for the address right after the last aligned mapping. The
   * kernel usually honours the hint, giving an aligned block in one call. */
  if (os->hooks.map == NULL && os->hint != 0) {
    void *p = raw_map(os, (void *)os->hint, size);
    if (p == NULL) return NULL;
    if (((uintptr_t)p & (align - 1)) == 0) {
      os->hint = (uintptr_t)p + ((size + align - 1) & ~(align - 1));
      return p;
    }
    hk__os_unmap(os, p, size);
  }
  size_t over = size + align;
  if (over < size) { errno = ENOMEM; return NULL; }
  uint8_t *raw = raw_map(os, NULL, over);
  if (raw == NULL) return NULL;
  uint8_t *p = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
  size_t head = (size_t)(p - raw), tail = over - head - size;
  if (head) hk__os_unmap(os, raw, head);
  if (tail) hk__os_unmap(os, p + size, tail);
  if (os->hooks.map == NULL)
    os->hint = (uintptr_t)p + ((size + align - 1) & ~(align - 1));
  return p;
}

bool hk__os_decommit(hk__os_t *os, void *p, size_t size, hk_decommit_t how) {
  /* Inward to whole pages: the kernel would round the length up, and
   * DONTNEED past the end zeroes a neighbour's bytes. */
  uintptr_t lo = hk__os_page_up((uintptr_t)p), hi = ((uintptr_t)p + size) & ~(hk__os_page() - 1);
  if (how == HK_DECOMMIT_OFF || hi <= lo) return true;
  p = (void *)lo, size = hi - lo;
  int rc;
  if (os->hooks.advise != NULL) {
    rc = os->hooks.advise(p, size, how == HK_DECOMMIT_FREE ? HK_ADVISE_FREE : HK_ADVISE_DONTNEED,
                          os->hooks.arg);
  } else {
#ifdef MADV_FREE
    int advice = how == HK_DECOMMIT_FREE ? MADV_FREE : MADV_DONTNEED;
#else
    int advice = MADV_DONTNEED;
#endif
    rc = madvise(p, size, advice);
  }
  atomic_fetch_add_explicit(&os->n_madvise, 1, memory_order_relaxed);
  if (rc != 0) atomic_fetch_add_explicit(&os->n_madvise_failed, 1, memory_order_relaxed);
  return rc == 0;
}

void *hk__os_reserve(hk__os_t *os, size_t size, size_t align, bool readable) {
  if (align < hk__os_page()) align = hk__os_page();
  size = hk__os_page_up(size);
  size_t over = size + align;
  if (over < size) return NULL;
  uint8_t *raw = mmap(NULL, over, readable ? PROT_READ : PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  atomic_fetch_add_explicit(&os->n_mmap, 1, memory_order_relaxed);
  if (raw == MAP_FAILED) {
    atomic_fetch_add_explicit(&os->n_mmap_failed, 1, memory_order_relaxed);
    return NULL;
  }
  uint8_t *p = (uint8_t *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
  if (p > raw) hk__os_unmap(os, raw, (size_t)(p - raw));
  if (raw + over > p + size) hk__os_unmap(os, p + size, (size_t)(raw + over - (p + size)));
  return fresh(p, size);
}

/* No hooks may be in use (they have no remap). In place first: a shrink
 * always is, a growth when the pages after the mapping are free. Else the
 * pages move, without a copy, to a fresh range aligned to align, once
 * prepare accepts it. */
void *hk__os_remap(hk__os_t *os, void *p, size_t old_size, size_t new_size, size_t align,
                   bool (*prepare)(const void *to)) {
  void *q = mremap(p, old_size, new_size, 0);
  atomic_fetch_add_explicit(&os->n_mmap, 1, memory_order_relaxed);
  if (q != MAP_FAILED) return fresh(q, new_size);
  void *to = new_size > old_size ? hk__os_reserve(os, new_size, align, false) : NULL;
  if (to == NULL) return NULL;
  if (!prepare(to)) {
    hk__os_unmap(os, to, new_size);
    return NULL;
  }
  q = mremap(p, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  atomic_fetch_add_explicit(&os->n_mmap, 1, memory_order_relaxed);
  if (q == MAP_FAILED) {
    /* The reservation at `to` is left as it is: Linux unmaps the target
     * before it can fail late (ENOMEM, the map count), and another thread
     * may have mapped into that hole since, so unmapping it here could
     * remove someone else's memory. At worst this leaks address space
     * (PROT_NONE, no memory), once per refused remap. */
    atomic_fetch_add_explicit(&os->n_mmap_failed, 1, memory_order_relaxed);
    return NULL;
  }
  return fresh(q, new_size);
}

/* Out of core files (address space reserved for reads of zeros, pages
 * not in use), and back in. */
bool hk__os_dontdump(void *p, size_t size) {
#ifdef MADV_DONTDUMP
  return madvise(p, size, MADV_DONTDUMP) == 0;
#else
  (void)p, (void)size;
  return false;
#endif
}
bool hk__os_dump(void *p, size_t size) {
#ifdef MADV_DODUMP
  return madvise(p, size, MADV_DODUMP) == 0;
#else
  (void)p, (void)size;
  return false;
#endif
}

uint64_t hk__os_now_ms(const hk__os_t *os) {
  if (hk_unlikely(os->hooks.now_ms != NULL)) return os->hooks.now_ms(os->hooks.arg);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts); /* vDSO: no syscall */
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* membarrier's private expedited command: the kernel interrupts every CPU
 * that runs a thread of the process, so each of them has passed a full
 * barrier when the call returns. The first use registers the process (a
 * fork child inherits it; EPERM, should it not, registers again). */
static _Atomic int fence_state; /* 0: not asked yet, 1: registered, -1: unavailable */

static bool fence_register(void) {
  bool ok = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
  atomic_store_explicit(&fence_state, ok ? 1 : -1, memory_order_relaxed);
  return ok;
}

bool hk__os_fence_threads(void) {
  int st = atomic_load_explicit(&fence_state, memory_order_relaxed);
  if (st < 0 || (st == 0 && !fence_register())) return false;
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) return true;
  return errno == EPERM && fence_register() &&
         syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}
