/* The allocator seen by the Google Benchmark microbenchmarks. shim.c is
 * compiled twice: against hakmem (BENCH_HK, linked to hakmem_static) and
 * against plain malloc (so any allocator can be LD_PRELOADed). Keeping the
 * calls behind a C function in its own file makes every allocator pay the
 * same call overhead. */
#ifndef HAKMEM_BENCH_SHIM_H
#define HAKMEM_BENCH_SHIM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

const char *shim_name(void);
void *shim_alloc(size_t size);
void shim_free(void *p);
void *shim_realloc(void *p, size_t size);
void *shim_aligned_alloc(size_t alignment, size_t size);

/* Separate heaps exist only in the hakmem build (shim_has_heaps() != 0). */
int shim_has_heaps(void);
void *shim_heap_create(void);
void *shim_heap_alloc(void *heap, size_t size);
void shim_heap_destroy(void *heap);

#ifdef __cplusplus
}
#endif
#endif /* HAKMEM_BENCH_SHIM_H */
