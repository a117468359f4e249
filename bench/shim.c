/* See shim.h. */
#include "shim.h"

#include <stdlib.h>

#ifdef BENCH_HK
#include <hakmem/hakmem.h>

const char *shim_name(void) { return "hakmem-direct"; }
void *shim_alloc(size_t size) { return hk_malloc(size); }
void shim_free(void *p) { hk_free(p); }
void *shim_realloc(void *p, size_t size) { return hk_realloc(p, size); }
void *shim_aligned_alloc(size_t alignment, size_t size) { return hk_aligned_alloc(alignment, size); }
int shim_has_heaps(void) { return 1; }
void *shim_heap_create(void) { return hk_heap_create(NULL); }
void *shim_heap_alloc(void *heap, size_t size) { return hk_heap_malloc((hk_heap_t *)heap, size); }
void shim_heap_destroy(void *heap) { hk_heap_destroy((hk_heap_t *)heap); }

#else

const char *shim_name(void) { return "malloc"; }
void *shim_alloc(size_t size) { return malloc(size); }
void shim_free(void *p) { free(p); }
void *shim_realloc(void *p, size_t size) { return realloc(p, size); }
/* Callers pass a size that is a multiple of alignment (C11's rule, which
 * some libcs enforce), so both builds do the same work. */
void *shim_aligned_alloc(size_t alignment, size_t size) { return aligned_alloc(alignment, size); }
int shim_has_heaps(void) { return 0; }
void *shim_heap_create(void) { return NULL; }
void *shim_heap_alloc(void *heap, size_t size) {
  (void)heap;
  return malloc(size);
}
void shim_heap_destroy(void *heap) { (void)heap; }
#endif
