/* hakmem: an explicit-heap memory allocator.
 *
 * Every function here is thread-safe unless its comment says otherwise.
 * Blocks are aligned to at least HK_MIN_ALIGN (16) bytes. hk_free(),
 * hk_realloc() and hk_usable_size() accept a block of ANY heap, from ANY
 * thread.
 *
 * Errors a caller can handle are reported as NULL (or an error number) with
 * errno set: ENOMEM when an allocation cannot be had (its size overflows,
 * the OS refuses the mapping, or it would take a heap past its max_bytes
 * budget), EINVAL for bad alignments and bad configurations. hakmem maps
 * memory with MAP_NORESERVE and follows the kernel's overcommit policy, as
 * mimalloc and jemalloc do: under Linux's default heuristic overcommit a
 * request far beyond RAM and swap can succeed, and its pages are only
 * charged as they are touched; a heap's budget is what refuses reliably.
 *
 * Misuse a caller cannot handle prints "hakmem: <call>(): <what> 0x..." on
 * stderr and aborts: a pointer hakmem never returned reaching hk_free,
 * hk_realloc or hk_usable_size ("invalid pointer"), a block freed twice
 * ("double free of"), and a heap handle that names no live heap ("invalid
 * heap": destroyed, never created, or the default heap passed to
 * hk_heap_destroy). docs/reliability.md lists every case.
 *
 * Heap arguments: NULL means the default heap everywhere a heap is taken,
 * except hk_heap_destroy(NULL), which does nothing.
 *
 * The library never reads environment variables: policy comes only from
 * hk_heap_config_t.
 */
#ifndef HAKMEM_HAKMEM_H
#define HAKMEM_HAKMEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ------------------------------------------------------------ */
#define HK_VERSION_MAJOR 0
#define HK_VERSION_MINOR 2
#define HK_VERSION_PATCH 0
#define HK_VERSION_STRING "0.2.0"
/* Single comparable number: MAJOR*10000 + MINOR*100 + PATCH. */
#define HK_VERSION (HK_VERSION_MAJOR * 10000 + HK_VERSION_MINOR * 100 + HK_VERSION_PATCH)

/* ---- attribute macros (defined once, here) ------------------------------ */
#if defined(__GNUC__) || defined(__clang__)
#define HK_API __attribute__((visibility("default")))
#define HK_MALLOC __attribute__((malloc))
#define HK_ALLOC_SIZE(n) __attribute__((alloc_size(n)))
#define HK_ALLOC_SIZE2(n, m) __attribute__((alloc_size(n, m)))
#define HK_ALLOC_ALIGN(n) __attribute__((alloc_align(n)))
#define HK_NODISCARD __attribute__((warn_unused_result))
#else
#define HK_API
#define HK_MALLOC
#define HK_ALLOC_SIZE(n)
#define HK_ALLOC_SIZE2(n, m)
#define HK_ALLOC_ALIGN(n)
#define HK_NODISCARD
#endif

/* ---- limits --------------------------------------------------------------- */
#define HK_MIN_ALIGN 16u                 /* every block is aligned to this */
#define HK_MAX_ALIGN ((size_t)1 << 30)   /* largest alignment supported (1 GiB) */
#define HK_NUM_CLASSES 80                /* size classes 16 B .. 64 KiB */
#define HK_SMALL_MAX 1024u               /* largest "small" (tiny) size */
#define HK_MID_MAX ((size_t)64 << 10)    /* largest size served from SuperSlabs */
#define HK_SUPERSLAB_SIZE ((size_t)2 << 20)

/* Returns HK_VERSION_STRING of the library actually linked. */
HK_API const char *hk_version(void);

/* ---- process default heap ----------------------------------------------- */

/* Allocates size bytes (uninitialised) from the default heap. hk_malloc(0)
 * returns a unique, freeable pointer. NULL with errno ENOMEM on failure. */
HK_API HK_MALLOC HK_ALLOC_SIZE(1) HK_NODISCARD void *hk_malloc(size_t size);

/* Allocates n*size zeroed bytes from the default heap. NULL with ENOMEM if
 * n*size overflows or the memory cannot be had. */
HK_API HK_MALLOC HK_ALLOC_SIZE2(1, 2) HK_NODISCARD void *hk_calloc(size_t n, size_t size);

/* Resizes p, a block of any heap (it stays in its heap): the contents up to
 * the smaller size are kept, the block may move. hk_realloc(NULL, n) is
 * hk_malloc(n). hk_realloc(p, 0) frees p and returns NULL, as glibc does.
 * On failure returns NULL with ENOMEM and p is untouched. A p hakmem never
 * returned, or already freed, aborts (invalid pointer / freed block). */
HK_API HK_ALLOC_SIZE(2) HK_NODISCARD void *hk_realloc(void *p, size_t size);

/* Frees a block of any heap, from any thread. hk_free(NULL) does nothing.
 * A pointer hakmem never returned, an interior pointer, or a block freed
 * twice aborts (see the top of this file). */
HK_API void hk_free(void *p);

/* C11 aligned_alloc from the default heap: alignment must be a power of two
 * up to HK_MAX_ALIGN (else NULL with EINVAL). Any size is accepted (no
 * multiple-of rule). NULL with ENOMEM on failure. */
HK_API HK_MALLOC HK_ALLOC_SIZE(2) HK_ALLOC_ALIGN(1) HK_NODISCARD
void *hk_aligned_alloc(size_t alignment, size_t size);

/* POSIX posix_memalign from the default heap: returns 0 and sets *out,
 * EINVAL (out NULL, or alignment not a power of two, not a multiple of
 * sizeof(void*), or above HK_MAX_ALIGN) or ENOMEM; *out and errno are left
 * untouched on failure. */
HK_API HK_NODISCARD int hk_posix_memalign(void **out, size_t alignment, size_t size);

/* Usable bytes of block p (>= the size requested); 0 for NULL. A pointer
 * that is no live hakmem block aborts. */
HK_API size_t hk_usable_size(const void *p);

/* C23's free_sized and free_aligned_sized: hk_free(p), where size (and
 * alignment) are what p was allocated with (malloc/calloc/realloc size;
 * aligned_alloc alignment and size). NULL does nothing. A size the block
 * cannot have been allocated with (above its usable size, or not above
 * half of it for blocks above 128 bytes and above the alignment), a p not
 * aligned to alignment, or a bad alignment aborts: "hakmem:
 * free_sized(): size or alignment does not match block 0x...". The
 * pointer itself is checked first, as hk_free checks it. Sized free costs
 * what hk_free costs plus one compare on the fast path (the size cannot
 * stand in for the pointer map: the map names the slab); it is a check,
 * not a shortcut (docs/reliability.md). */
HK_API void hk_free_sized(void *p, size_t size);
HK_API void hk_free_aligned_sized(void *p, size_t alignment, size_t size);

/* The usable size hk_malloc(size) gets, like jemalloc's nallocx; 0 if
 * size is above PTRDIFF_MAX. Exact up to HK_MID_MAX (16 B steps up to
 * 128 B, then 8 classes per power of two up to 64 KiB); above, the least
 * a large block gets (whole OS pages): one placed in a large area gets
 * whole 64 KiB granules, a reused one may be bigger still. */
HK_API size_t hk_good_size(size_t size);

/* ---- heaps ---------------------------------------------------------------- */

/* A heap handle. Opaque: not a pointer to anything the caller may read; it
 * names one heap for as long as that heap lives, and no other heap ever. */
typedef struct hk_heap_s hk_heap_t;

/* Profiles fill a config with a consistent set of policies. */
typedef enum hk_profile_e {
  HK_PROFILE_SPEED = 0,    /* default: retain empty memory, decommit it after 1 s idle */
  HK_PROFILE_BALANCED = 1, /* no prewarm, decommit nothing, small retention */
  HK_PROFILE_LEAN = 2      /* hand empty SuperSlabs back to the OS at once */
} hk_profile_t;

/* How empty memory is handed back while staying mapped. */
typedef enum hk_decommit_e {
  HK_DECOMMIT_OFF = 0,     /* keep it committed */
  HK_DECOMMIT_FREE = 1,    /* madvise(MADV_FREE): lazy, cheap */
  HK_DECOMMIT_DONTNEED = 2 /* madvise(MADV_DONTNEED): RSS drops at once */
} hk_decommit_t;

/* Advice values passed to hk_os_hooks_t.advise. */
#define HK_ADVISE_FREE 1
#define HK_ADVISE_DONTNEED 2

/* Optional OS hooks (per heap), for tests and embedders. Each hook reports
 * failure as the real call does (map: NULL; unmap/advise: -1). NULL hooks in
 * the config mean the real mmap/munmap/madvise; a NULL now_ms means the
 * real monotonic clock. now_ms is the clock every delay of the heap's
 * policy is measured on (it must never go back); the purger thread still
 * sleeps on the real clock, for the difference it computes. */
typedef struct hk_os_hooks_s {
  void *(*map)(size_t size, void *arg);            /* anonymous RW, zeroed */
  int (*unmap)(void *addr, size_t size, void *arg);
  int (*advise)(void *addr, size_t size, int advice, void *arg);
  void *arg;
  uint64_t (*now_ms)(void *arg);                   /* milliseconds, monotonic */
} hk_os_hooks_t;

#define HK_HEAP_CONFIG_VERSION 1u

/* Heap configuration. Always start from hk_heap_config_init() (or
 * hk_heap_config_preset()), then change fields: new fields get defaults. */
typedef struct hk_heap_config_s {
  uint32_t struct_size;          /* = sizeof(hk_heap_config_t); set by init */
  uint32_t version;              /* = HK_HEAP_CONFIG_VERSION; set by init */
  const char *name;              /* label for stats reports; copied. Default "heap" */
  hk_profile_t profile;          /* preset this config came from. Default SPEED */
  /* prewarm: bytes of SuperSlabs mapped at creation (rounded up to 2 MiB).
   * The first allocations of every class, up to that many bytes in all,
   * make no syscall. They are retained: retain_superslabs is raised to
   * cover them. Default 2 MiB (SPEED), 0 (BALANCED, LEAN). */
  size_t prewarm_bytes;
  int prewarm_touch;             /* nonzero: also fault the pages in. Default 0 */
  hk_decommit_t decommit;        /* Default DONTNEED (SPEED, LEAN), OFF (BALANCED) */
  /* An empty SuperSlab is decommitted once it has been empty this long
   * (checked on slow paths and by trim). Default 1000 (SPEED), 100 (LEAN). */
  uint32_t decommit_delay_ms;
  /* Empty SuperSlabs kept mapped for reuse; beyond this they are unmapped.
   * Default 32 (SPEED), 2 (BALANCED), 1 (LEAN). */
  uint32_t retain_superslabs;
  /* Freed large blocks (> HK_MID_MAX) stay resident for reuse by the next
   * ones that fit, with no syscall and no page fault, up to
   * region_cache_max_bytes in all (beyond it the oldest go back to the
   * OS); a freed block unused for large_decay_ms goes back too (within
   * twice that; UINT32_MAX: never by age). region_cache_slots bounds the
   * freed blocks above 64 MiB kept as whole mappings. Defaults: SPEED 16
   * slots, 512 MiB, 1000 ms; BALANCED 4, 64 MiB, 300 ms; LEAN 0, 8 MiB,
   * 100 ms (docs/policies.md). */
  uint32_t region_cache_slots;
  size_t region_cache_max_bytes;
  uint32_t large_decay_ms;
  /* Hard budget for this heap's mapped bytes (0 = none). An allocation that
   * would exceed it returns NULL with ENOMEM. Must be 0 or >= 2 MiB. It
   * counts whole SuperSlabs: a request may be refused while live_bytes is
   * well below it, when no SuperSlab has a free slab for its size class
   * (docs/policies.md, "Budget"). */
  size_t max_bytes;
  const hk_os_hooks_t *os_hooks; /* NULL = the real OS. Copied at create. */
  /* 1: what decommit_delay_ms and large_decay_ms release goes back on
   * time even while no thread calls hakmem: a purger thread, started by
   * the first heap created with 1 and stopped with the last one, wakes at
   * the heap's deadlines and gives back its due empty SuperSlabs and free
   * slabs, its retained large runs and parked large blocks, and the free
   * blocks its shared depot has held through a delay. Memory held in
   * threads' own fronts goes back at their next call or exit (see
   * hk_heap_trim). 0: only slow paths and hk_heap_trim apply the delays.
   * Default 1 (SPEED, LEAN), 0 (BALANCED); the process default heap is
   * made with 0, so a program that creates no such heap has no thread. */
  int background_purge;
} hk_heap_config_t;

/* Fills *cfg with the documented defaults (the SPEED profile). Does
 * nothing if cfg is NULL. */
HK_API void hk_heap_config_init(hk_heap_config_t *cfg);

/* Fills *cfg with a profile's settings (docs/policies.md has the table).
 * Returns 0, or EINVAL for cfg NULL or an unknown profile. */
HK_API int hk_heap_config_preset(hk_heap_config_t *cfg, hk_profile_t profile);

/* NULL if hk_heap_create(cfg) would accept cfg (cfg NULL: the defaults, so
 * NULL), else a static message naming the bad field. */
HK_API const char *hk_heap_config_check(const hk_heap_config_t *cfg);

/* Creates a heap. cfg NULL means the defaults; the config is copied. A
 * config it can't honour gives NULL with errno EINVAL (see
 * hk_heap_config_check); no memory (or the prewarm refused) gives NULL with
 * ENOMEM. */
HK_API HK_NODISCARD hk_heap_t *hk_heap_create(const hk_heap_config_t *cfg);

/* Releases ALL the heap's memory to the OS, live blocks included (arena
 * semantics): they must not be used or freed afterwards. No thread may use
 * the heap or its blocks during the call. hk_heap_destroy(NULL) does
 * nothing; the default heap, or a handle of a heap already destroyed (or of
 * none), aborts: "hakmem: heap_destroy(): invalid heap 0x...". */
HK_API void hk_heap_destroy(hk_heap_t *heap);

/* The process default heap (the one hk_malloc uses). Never NULL. */
HK_API hk_heap_t *hk_heap_default(void);

/* As hk_malloc, hk_calloc, hk_realloc and hk_aligned_alloc, in heap (NULL:
 * the default heap). A handle that names no live heap aborts ("invalid
 * heap"). Errors: NULL with ENOMEM (including heap's max_bytes budget), or
 * EINVAL for a bad alignment. */
HK_API HK_MALLOC HK_ALLOC_SIZE(2) HK_NODISCARD void *hk_heap_malloc(hk_heap_t *heap, size_t size);
HK_API HK_MALLOC HK_ALLOC_SIZE2(2, 3) HK_NODISCARD
void *hk_heap_calloc(hk_heap_t *heap, size_t n, size_t size);
/* hk_heap_realloc(heap, NULL, n) allocates in heap; otherwise the block
 * stays in the heap it came from, whatever heap says. */
HK_API HK_ALLOC_SIZE(3) HK_NODISCARD void *hk_heap_realloc(hk_heap_t *heap, void *p, size_t size);
HK_API HK_MALLOC HK_ALLOC_SIZE(3) HK_ALLOC_ALIGN(2) HK_NODISCARD
void *hk_heap_aligned_alloc(hk_heap_t *heap, size_t alignment, size_t size);

/* The heap that owns block p, or NULL if p is not in hakmem's memory.
 * Only the pointer map is asked: any address inside a small or medium
 * block's SuperSlab or inside one of the heap's large areas (where large
 * blocks up to 64 MiB live), or in the 64 KiB granule a bigger block
 * starts in, names its heap, live block or not; the call never aborts. */
HK_API hk_heap_t *hk_heap_of(const void *p);

/* Fills out[0 .. max) with handles of the live heaps, the default heap
 * included, in no set order; returns how many heaps there are (possibly
 * more than max; out may be NULL with max 0 to count). */
HK_API size_t hk_heaps(hk_heap_t **out, size_t max);

/* Heap walk. fn is called once for every block of heap (NULL: the
 * default heap) that is live throughout the walk, with its address and
 * usable size; blocks allocated or freed while it runs may or may not be
 * seen. Blocks a thread keeps for reuse (freed, cached) are not live. A
 * nonzero return from fn stops the walk and is returned; 0 when every
 * block was visited, EINVAL if fn is NULL. The walk holds the heap's
 * lock: fn must not allocate from, free into, trim, or ask the stats of
 * the walked heap (it would deadlock); other heaps are fine. Other
 * threads' allocations in the heap that need its lock wait for the walk.
 * A block holding, as its second word, the address hakmem uses to mark
 * free blocks of its slab (never handed to the program) is taken as free.
 * A handle that names no live heap aborts ("invalid heap"). */
typedef int (*hk_visit_fn)(void *block, size_t usable, void *arg);
HK_API int hk_heap_visit(hk_heap_t *heap, hk_visit_fn fn, void *arg);

/* ---- memory back to the OS ---------------------------------------------- */

/* Returns everything it can of heap (NULL: the default heap) to the OS
 * now: the calling thread's cached slabs and blocks go back to the heap,
 * every other thread's cache of freed large blocks of the heap too, the
 * heap's shared cache of freed blocks goes home, empty SuperSlabs and
 * cached large mappings are unmapped, retained large runs are given back
 * and large areas with no block unmapped, free slabs that stay mapped are
 * decommitted; and the pages of hakmem's pointer map that no longer
 * describe any SuperSlab (of any heap) are given back too. Other threads'
 * slabs and bins of the heap are only theirs to touch: each of them hands
 * them back at its next allocation slow path (or exit), so what an idle
 * thread holds stays until then (at most one empty slab per size class it
 * used, in SPEED heaps). Returns the bytes of heap released (unmapped or
 * decommitted). A handle that names no live heap aborts ("invalid heap"). */
HK_API size_t hk_heap_trim(hk_heap_t *heap);
HK_API size_t hk_trim(void); /* hk_heap_trim(hk_heap_default()) */

/* ---- statistics ----------------------------------------------------------- */

#define HK_STATS_VERSION 1u
#define HK_STATS_CLASSES 128 /* room in the per-class arrays; num_classes are used */

/* A heap's statistics, filled by hk_heap_stats. The caller's struct may be
 * smaller than the library's (a program built against an older header):
 * the library fills only the first struct_size bytes it was given. */
typedef struct hk_stats_s {
  uint32_t struct_size;     /* bytes filled: min(caller's sizeof, the library's) */
  uint32_t version;         /* HK_STATS_VERSION of the library */
  /* the heap */
  hk_profile_t profile;     /* the profile of its config */
  size_t max_bytes;         /* its budget, 0 = none */
  /* bytes */
  size_t live_bytes;        /* block bytes allocated and not freed (block sizes) */
  /* High-water mark of the bytes of slabs held by threads plus large blocks,
   * updated on slow paths only: an upper bound of the peak of live_bytes
   * (never below live_bytes). */
  size_t peak_live_bytes;
  /* Mapped from the OS for this heap and in use or kept: SuperSlabs, large
   * blocks, retained large runs. Large areas' address space counts only as
   * their runs are used (a reservation is not memory). */
  size_t mapped_bytes;
  size_t peak_mapped_bytes;
  size_t committed_bytes;   /* mapped minus decommitted */
  /* SuperSlabs */
  size_t superslabs;             /* mapped SuperSlabs (small/mid) */
  size_t superslabs_empty;       /* of those, holding no block */
  size_t superslabs_decommitted; /* of the empty ones, decommitted */
  /* large blocks */
  size_t large_blocks;
  size_t large_bytes;
  size_t region_cache_entries;
  size_t region_cache_bytes;
  /* events */
  /* Blocks freed by a thread other than the slab's owner: when drained
   * from the slab's remote list, or when they join the freeing thread's
   * bin for reuse; also the first free into a full slab its thread had set
   * aside. Exact when no thread frees concurrently. */
  uint64_t remote_frees;
  uint64_t os_mmap, os_munmap, os_madvise;
  uint64_t os_mmap_failed, os_munmap_failed, os_madvise_failed;
  /* per size class: entries 0 .. num_classes - 1 */
  uint32_t num_classes;
  size_t class_block_size[HK_STATS_CLASSES];
  size_t class_live_blocks[HK_STATS_CLASSES];
  /* Freed large blocks kept resident for reuse (large areas and cached
   * mappings), and all the freed large bytes given back so far (decay,
   * the retained cap, the budget, trim). */
  size_t large_retained_bytes;
  uint64_t large_released_bytes;
} hk_stats_t;

/* Fills out_size bytes of *out (use hk_heap_stats, which passes the size).
 * Returns 0, or EINVAL if out is NULL, out_size is too small for the first
 * two fields, or heap (NULL: the default heap) names no live heap. The
 * figures are exact when no thread allocates or frees in the heap
 * concurrently. */
HK_API int hk_heap_stats_sized(const hk_heap_t *heap, hk_stats_t *out, size_t out_size);
static inline int hk_heap_stats(const hk_heap_t *heap, hk_stats_t *out) {
  return hk_heap_stats_sized(heap, out, sizeof *out);
}

/* Writes a readable report, or the same figures as one JSON object, to out
 * (heap NULL: the default heap). Returns 0, EINVAL (out NULL, or heap names
 * no live heap) or EIO (a write failed). */
HK_API int hk_heap_stats_print(const hk_heap_t *heap, FILE *out);
HK_API int hk_heap_stats_print_json(const hk_heap_t *heap, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* HAKMEM_HAKMEM_H */
