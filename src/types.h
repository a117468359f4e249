/* hakmem internal types.
 *
 * Glossary (the nouns, bottom layer first):
 *   OS context (hk__os_t, src/os): the hooks a pool maps/unmaps/advises with,
 *     plus counters of those calls. The only code that calls mmap/munmap/madvise.
 *   Meta (src/os/meta.c): a tiny internal allocator for thread records, fronts
 *     and heap records. Never returns memory to the OS; never calls malloc.
 *   SuperSlab (hk__ss_t, src/superslab): a 2 MiB-aligned mapping whose header
 *     sits at its start, so `p & ~HK_SS_MASK` finds it from any block. Kinds:
 *       SMALL: 32 slabs of 64 KiB (block sizes <= 8 KiB),
 *       MID:   4 slabs of 512 KiB (block sizes 8..64 KiB),
 *       LARGE: one block > HK_MID_MAX (or over-aligned); the mapping may be
 *              longer than 2 MiB but the block starts in its first 2 MiB.
 *   Granule: 64 KiB of a SuperSlab. Each has a slab record; a SMALL slab is
 *     one granule, a MID slab eight, whose first granule's record is the
 *     slab's (the other seven records are unused). Records sit in the
 *     SuperSlab's header (HK_SS_HEADER_SIZE).
 *   Pointer map (hk__map_top, src/superslab/map.c): from any address to its
 *     granule's slab record and a copy of that slab's owner, which free
 *     tests before it touches the slab. Two levels; the chunks of the
 *     second are reserved as SuperSlabs land in their range, and every
 *     address without one reads zeros (owner 0, slab NULL): "nothing here".
 *     The only structure that says a pointer is hakmem's.
 *   Slab (hk__slab_t): one part of a SuperSlab holding blocks of one size
 *     class. Its metadata (the slab record) is in the header.
 *   Block: what the user gets. A free block holds its list link in word 0.
 *   Pool (hk__pool_t, src/superslab/pool.c): one heap's SuperSlabs, its empty
 *     slabs, its unowned partly-used slabs, its large blocks and region cache.
 *     Guarded by pool->lock; only slow paths take it.
 *   Front (hk__front_t, src/tiny): one thread's cache for one heap: per size
 *     class, a queue of slabs that thread owns, and in bin mode a bin. Only
 *     its thread touches it (stats read its counters).
 *   Bin (src/tiny/bin.c): in bin mode, a front's list of free blocks of one
 *     class, the thread's own and other threads', for its next mallocs of
 *     the class: a record shaped like a slab's, which malloc pops from and
 *     every free of the class pushes onto. Its blocks stay counted in their
 *     own slab's `used` until they go home.
 *   Depot (src/tiny/bin.c): per heap and class, chains of free blocks that
 *     bins had no room for, which other threads' bins take whole.
 *   Thread record (hk__thread_t): per thread; embeds the default heap's front
 *     and lists the fronts of other heaps. Its token (the thread pointer, see
 *     hk__self_token) is the owner written into slabs it owns.
 *   Heap (hk__heap_t, src/heap): validated policy + pool + its fronts.
 *     The API names it by a handle (hk_heap_t *, heap/handle.c): a
 *     registry slot and generation, never its address.
 *
 * Ownership protocol of a slab (the invariant everything relies on):
 *   - owner == token of thread T: only T touches free/used/queue
 *     links. Other threads only push onto xfree (lock-free, CAS).
 *   - owner == 0: the slab is either on a pool list (under pool->lock) or
 *     "detached" (full, on no list) with HK_XFREE_DETACHED set in xfree. The
 *     first free that clears DETACHED (a remote push, or the CAS by which
 *     hk__free_slow claims the slab) makes that thread responsible for
 *     the slab: the thread that detached it adopts it back into its front,
 *     any other thread puts it on the pool's partial list. So a thread owns
 *     only slabs it took for its own mallocs: one that only frees owns none.
 *   - a block out of its slab (live, or in some front's bin) is counted in
 *     the slab's `used`, so a slab never empties while a bin holds one of
 *     its blocks.
 */
#ifndef HK_TYPES_H
#define HK_TYPES_H

#include <hakmem/hakmem.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HK_SS_SHIFT 21
#define HK_SS_SIZE ((size_t)1 << HK_SS_SHIFT)
#define HK_SS_MASK (HK_SS_SIZE - 1)

#define HK_SMALL_SLAB_SHIFT 16 /* 64 KiB */
#define HK_MID_SLAB_SHIFT 19   /* 512 KiB */
#define HK_SMALL_BLOCK_MAX 8192u
#define HK_MAX_SLABS (HK_SS_SIZE >> HK_SMALL_SLAB_SHIFT) /* 32 */
#define HK_SS_HEADER_SIZE 8192u /* header and slab records, page aligned */
#define HK_GRANULE_SHIFT 16      /* a slab record per 64 KiB */
#define HK_SS_GRANULES (HK_SS_SIZE >> HK_GRANULE_SHIFT) /* 32 records per SuperSlab */
#define HK_GRANULE ((size_t)1 << HK_GRANULE_SHIFT)
/* Large areas (superslab/area.c): a pool's first is HK_AREA_FIRST bytes of
 * address space, each next one twice the last, up to HK_AREA_MAX. Blocks
 * up to HK_AREA_BLOCK_MAX that fit the area being made (and alignments
 * below HK_AREA_MIN) live there; bigger ones get a mapping of their own. */
#define HK_AREA_FIRST ((size_t)128 << 20)
#define HK_AREA_MIN ((size_t)128 << 20)
#define HK_AREA_MAX ((size_t)1 << 30)
#define HK_AREA_BLOCK_MAX ((size_t)64 << 20)
#define HK_AREA_WORDS ((HK_AREA_MAX >> HK_GRANULE_SHIFT) / 64)
#define HK_LCACHE_N 16 /* freed large blocks a front keeps (tiny/large.c) */
#define HK_LCACHE_BLOCK_MAX ((size_t)4 << 20) /* ...each at most this big */
#define HK_PARKED_N 32 /* ...and its pool, for every thread (superslab/large.c) */
#define HK_RECORDS_OFF 128u      /* records in the header: after hk__ss_t */
#define HK_LARGE_OFFSET 512u     /* block offset in a LARGE SuperSlab (align <= 512) */
#define HK_LARGE_ALIGN_MAX ((size_t)1 << 20) /* above: a phased mapping (superslab/large.c) */
#define HK_REMAP_COPY_MAX ((size_t)1 << 20) /* large realloc: copy into a cached region up to this */
#define HK_PAGE 4096u
#define HK_CARVE_BYTES 4096u     /* blocks carved per refill: about one page */
#define HK_CARVE_MAX_BYTES 16384u /* ... or up to 4 blocks within this */

#define HK_SS_MAGIC 0x484b5353u /* "HKSS" */

/* A slab's xfree word packs its remote-free list: the head block (bits
 * 4..47: blocks are 16-byte aligned and below 2^48, see superslab/map.c), HK_XFREE_DETACHED
 * (bit 0) and the number of blocks on the list (bits 48..63; a slab holds
 * at most 4096). One CAS pushes a block and counts it. */
#define HK_XFREE_DETACHED ((uintptr_t)1)
#define HK_XFREE_COUNT_SHIFT 48
#define HK_XFREE_ONE ((uintptr_t)1 << HK_XFREE_COUNT_SHIFT)
#define HK_XFREE_LIST_MASK ((HK_XFREE_ONE - 1) & ~(uintptr_t)(HK_MIN_ALIGN - 1))

#if defined(__GNUC__)
#define hk_likely(x) __builtin_expect(!!(x), 1)
#define hk_unlikely(x) __builtin_expect(!!(x), 0)
#define hk_noinline __attribute__((noinline))
#define hk_cold __attribute__((cold))
#define hk_inline static inline __attribute__((always_inline))
#else
#define hk_likely(x) (x)
#define hk_unlikely(x) (x)
#define hk_noinline
#define hk_cold
#define hk_inline static inline
#endif

/* A free block: list link, then its key, which makes a double free cheap
 * to spot. A block in a slab's free or xfree list (carved, freed or freed
 * remotely) has key == hk__slab_key(slab), the address of the slab's
 * record, which free has in a register anyway and users never see; malloc
 * clears it to 0. The key does not depend on the owner, so a slab changes
 * hands without re-keying. */
typedef struct hk__block_s {
  struct hk__block_s *next;
  uintptr_t key;
} hk__block_t;

/* ---- OS layer -------------------------------------------------------------- */
typedef struct hk__os_s {
  hk_os_hooks_t hooks;      /* all NULL: real OS */
  uintptr_t hint;           /* where the next aligned mapping is tried */
  _Atomic uint64_t n_mmap, n_munmap, n_madvise;
  _Atomic uint64_t n_mmap_failed, n_munmap_failed, n_madvise_failed;
} hk__os_t;

/* ---- policy (validated copy of hk_heap_config_t) --------------------------- */
typedef struct hk__policy_s {
  char name[32];
  hk_profile_t profile;
  size_t prewarm_bytes;
  bool prewarm_touch;
  hk_decommit_t decommit;
  uint32_t decommit_delay_ms;
  uint32_t retain_superslabs;
  uint32_t region_cache_slots;
  size_t region_cache_max_bytes;
  uint32_t large_decay_ms;
  size_t max_bytes;
  bool background_purge; /* the purger thread gives back what the delays release */
  bool keep_one_slab; /* a front keeps its last empty slab per class (not LEAN) */
} hk__policy_t;

/* ---- SuperSlabs and slabs ---------------------------------------------------- */
enum { HK_KIND_SMALL = 0, HK_KIND_MID = 1, HK_KIND_LARGE = 2 };
enum { HK_SLAB_DEFAULT_HEAP = 1, HK_SLAB_LARGE_BLOCK = 2 }; /* hk__slab_t flags */
/* slab->state changes only under the pool lock, so the pool may read it
 * while owners run. Owned vs detached is told by owner/xfree, not here. */
enum {
  HK_SLAB_FREE = 0,    /* on the pool's free list, no class */
  HK_SLAB_OWNED = 1,   /* taken by a front: owned, or detached (full) */
  HK_SLAB_PARTIAL = 2, /* on the pool's partial list for its class */
  HK_SLAB_LARGE = 4,   /* the block of a LARGE SuperSlab, live */
  HK_SLAB_CACHED = 5,  /* a LARGE SuperSlab parked in the region cache */
  HK_SLAB_BIN = 6,     /* not a slab: a front's bin (tiny/bin.c), in no SuperSlab */
  HK_SLAB_AREA = 7     /* not a slab: a large area's record, for its granules
                        * that start no live block (superslab/area.c) */
};

struct hk__front_s;
struct hk__pool_s;
struct hk__heap_s;

typedef struct hk__slab_s {
  /* First line: the owner's. Its fast paths read and write only this line
   * (and the block); no other thread reads it, so the owner keeps it in its
   * cache while other threads free into the slab. */
  hk__block_t *free;        /* owner: malloc pops, free pushes (LIFO: hot blocks first) */
  uint32_t used;            /* owner: blocks out (incl. undrained remote frees) + pinned */
  uint8_t pinned;                /* 1: head of its front's class queue, counted in used */
  uint8_t state;
  uint8_t dirty;                 /* touched since last decommit */
  union {
    /* A slab: the owner's copies of start, div_magic and div_limit
     * (second line), for its fast free: written with them, by the owner
     * or under the pool lock while the slab has no owner. */
    struct {
      uint8_t *fstart;
      uint64_t fmagic;
      uint64_t flimit;
    };
    /* A bin (state HK_SLAB_BIN, tiny/bin.c): what a free into it needs,
     * in the line it writes anyway. */
    struct {
      uint32_t bin_low;     /* fewest blocks held since the last refill */
      uint32_t bin_max;     /* blocks it may hold above those */
      uint32_t bin_until_check; /* frees into it until the next check */
      uint32_t bin_foreign; /* of those, of other threads' blocks */
    };
  };
  struct hk__front_s *front;     /* valid while owned */
  struct hk__slab_s *next, *prev;/* front queue or pool list */
  /* Second line: what other threads read and write (remote frees, their
   * realloc and usable_size checks), so a remote free moves this line and
   * the block, and never the owner's. */
  _Alignas(64) _Atomic uintptr_t xfree; /* remote frees: list, count, DETACHED (above) */
  _Atomic uintptr_t owner;  /* owner token (thread pointer) or 0 */
  uint8_t *start;           /* first block */
  /* p is a block of this slab iff (p - start) * div_magic < div_limit (mod
   * 2^64): Lemire's divisibility test with the bound folded in, so free
   * rejects interior pointers with one multiply and one compare.
   * div_magic = 2^64 / block_size rounded up (plus one for powers of two);
   * div_limit = carved * e with e = div_magic * block_size mod 2^64, which
   * is what a block boundary k maps to (k * e): only blocks carved so far
   * pass; a FREE slab has div_limit 0. Only the owner (or the pool, for
   * an unowned slab) writes it, with relaxed atomic stores, and it only
   * grows while the slab is in use, so other threads read it too (relaxed
   * atomic loads): a block they were handed was carved before, so they see
   * a bound that admits it. */
  uint64_t div_magic;
  uint64_t div_limit;
  uint8_t *end;             /* end of the last whole block */
  struct hk__ss_s *ss;         /* the SuperSlab of the slab */
  uint32_t block_size;
  uint16_t capacity;        /* blocks (at most 4096: 64 KiB of 16 B blocks) */
  uint8_t cls;              /* here, not in the first line: remote frees read it */
  /* HK_SLAB_DEFAULT_HEAP: a slab of the default heap, so a free by another
   * thread finds its bin with no load of the pool (set when the slab is
   * laid out); HK_SLAB_LARGE_BLOCK: the record of a LARGE block (live or
   * cached), which free hands to superslab/large.c. */
  uint8_t flags;
  /* Third line: the owner's slow paths. */
  _Alignas(64) uint8_t *bump; /* next never-carved block */
  uint32_t carve_n;         /* blocks per carve (pool.c: carve_blocks) */
  uint32_t carved;          /* blocks carved so far: |free| = carved + pinned - used */
  /* Serial (hk__thread_t) of the thread that detached the slab: only that
   * thread adopts it back when it frees into it (see tiny/free.c). */
  _Atomic uint64_t detached_by;
  uint64_t free_since_ms;   /* state FREE: when it went there (pool lock) */
} __attribute__((aligned(64))) hk__slab_t;

typedef struct hk__ss_s {
  uint32_t magic;
  uint8_t kind;
  uint8_t slab_shift;
  uint16_t nslabs;
  uint32_t used_slabs;      /* slabs not FREE (pool lock) */
  uint8_t decommitted;      /* empty and decommitted */
  struct hk__pool_s *pool;
  size_t map_size;          /* bytes mapped from the SuperSlab start */
  struct hk__ss_s *next, *prev;
  uint64_t empty_since_ms;
  size_t committed;         /* bytes of this SuperSlab counted in pool->committed */
  /* A LARGE block in a large area: its area (the block's record is a meta
   * block, not in the mapping; map_size is its run). NULL otherwise. */
  struct hk__area_s *area;
  /* HK_SS_GRANULES records at ss + HK_RECORDS_OFF; a LARGE SuperSlab has
   * only record 0 (its block starts at HK_LARGE_OFFSET). */
  hk__slab_t *slabs;
} hk__ss_t;

_Static_assert(sizeof(hk__slab_t) == 192, "a slab record is three cache lines");
_Static_assert(offsetof(hk__slab_t, xfree) == 64 && offsetof(hk__slab_t, bump) == 128 &&
                   offsetof(hk__slab_t, cls) < 128,
               "the owner's line, the shared line, the slow line");
_Static_assert(sizeof(hk__ss_t) <= HK_RECORDS_OFF, "SuperSlab header fields fit before the records");
_Static_assert(HK_RECORDS_OFF + HK_SS_GRANULES * sizeof(hk__slab_t) <= HK_SS_HEADER_SIZE,
               "header fits");
_Static_assert(HK_RECORDS_OFF + sizeof(hk__slab_t) <= HK_LARGE_OFFSET,
               "a LARGE record ends before its block");

/* One class of a heap's depot (tiny/bin.c): chains of free blocks that
 * bins had no room for, for other threads' bins to take whole. */
#define HK_DEPOT_BATCHES 4
typedef struct hk__depot_s {
  pthread_mutex_t lock;
  _Atomic uint32_t n;       /* chains held (read unlocked as a hint) */
  _Atomic uint32_t blocks;  /* blocks held, for stats */
  struct {
    hk__block_t *head;
    uint32_t count;
  } chain[HK_DEPOT_BATCHES];
} hk__depot_t;

/* A large area (superslab/area.c). Its own SuperSlab header and record
 * answer the map for every granule of it that starts no live block; the
 * bitmaps have a bit per granule. A meta block (16 KiB). */
typedef struct hk__area_s {
  hk__ss_t hdr;                 /* kind LARGE, pool; slabs = &rec */
  hk__slab_t rec;               /* state HK_SLAB_AREA, flags HK_SLAB_LARGE_BLOCK */
  struct hk__area_s *next;      /* the pool's areas, oldest first */
  uint8_t *base;
  size_t size;
  size_t dirty_n;               /* granules set in dirty */
  uint64_t used[HK_AREA_WORDS];  /* in a block */
  uint64_t dirty[HK_AREA_WORDS]; /* free and resident (retained) */
  uint64_t old[HK_AREA_WORDS];   /* dirty already at the last decay tick */
  uint64_t freed[HK_AREA_WORDS]; /* the first granule of a freed block, not reused
                                 * since: a free of it is a double free */
} hk__area_t;

/* The meta block of an area block's record: header fields, then slabs[0]. */
#define HK_AREA_RECORD (HK_RECORDS_OFF + sizeof(hk__slab_t))

/* Region cache entry: a LARGE SuperSlab kept mapped for reuse. */
typedef struct hk__region_s {
  hk__ss_t *ss;
  size_t size;
  uint64_t since_ms; /* when it was cached */
} hk__region_t;

#define HK_REGION_CACHE_MAX 64

/* A list of SuperSlabs in the order they joined it (newest at head). */
typedef struct hk__ss_list_s {
  hk__ss_t *head, *tail;
  size_t n;
} hk__ss_list_t;

typedef struct hk__pool_s {
  pthread_mutex_t lock;
  hk__os_t os;
  hk__policy_t policy;
  struct hk__heap_s *owner_heap;         /* the heap this pool belongs to */
  bool default_heap;                     /* the process default heap's pool */
  hk__ss_list_t in_use;   /* SMALL/MID SuperSlabs with slabs in use */
  /* Retained empty SuperSlabs, committed and decommitted, each list in the
   * order they got there (superslab/mapping.c). */
  hk__ss_list_t empty, decommitted;
  hk__ss_list_t large;                  /* live LARGE SuperSlabs */
  hk__slab_t *free_slabs[2];             /* FREE slabs of `in_use`, by kind */
  hk__slab_t *partial[HK_NUM_CLASSES];   /* unowned slabs with blocks out: FIFO */
  hk__slab_t *partial_tail[HK_NUM_CLASSES];
  unsigned sweep_cls;                    /* next class whose oldest partial is checked */
  size_t n_partial;
  hk__region_t cache[HK_REGION_CACHE_MAX];
  uint32_t cache_n;
  size_t cache_bytes;
  size_t n_superslabs;
  size_t mapped, peak_mapped, committed;
  size_t active, peak_active;            /* carved block bytes + large bytes */
  size_t large_bytes, n_large;
  hk__area_t *areas;                     /* large areas, oldest first */
  size_t n_areas;
  size_t area_retained;                  /* free resident bytes of the areas */
  uint64_t area_tick_ms;                 /* the last decay tick */
  size_t large_released;                 /* bytes of freed large memory given back */
  /* Freed area blocks parked by fronts for any thread to take (whole, no
   * bitmap or map change), newest last, with the time each was parked. */
  hk__ss_t *parked[HK_PARKED_N];
  uint64_t parked_ms[HK_PARKED_N];
  uint32_t n_parked;
  size_t parked_bytes;
  _Atomic uint64_t remote_frees;
  /* NULL, or HK_NUM_CLASSES depot classes (one meta block), made by the
   * first bin that overflows. */
  hk__depot_t *_Atomic depot;
} hk__pool_t;

/* ---- fronts, threads, heaps ------------------------------------------------- */
typedef struct hk__front_s {
  /* The heap's handle; NULL in hk__thread_empty. First: hk_heap_malloc
   * compares it with the handle it is given. */
  hk_heap_t *handle;
  struct hk__heap_s *heap;         /* NULL once the heap is destroyed */
  /* direct[size] == cur[class of size] for size <= HK_SMALL_MAX (kept in
   * step by set_pop): malloc of a small size indexes it with the size
   * itself, no class lookup and no rounding (8 KiB a front, which is why
   * thread records and fronts are 16 KiB meta blocks). */
  hk__slab_t *direct[HK_SMALL_MAX + 1];
  /* NULL, or a copy of direct[] that set_pop keeps in step: the malloc
   * override's thread-local table, for its thread's main front. */
  hk__slab_t **mirror;
  /* What malloc pops from, per class: the queue head (slab mode), or the
   * class's bin (bin mode, tiny/bin.c); &hk__slab_empty if neither. */
  hk__slab_t *cur[HK_NUM_CLASSES];
  hk__slab_t *head[HK_NUM_CLASSES];/* queue head per class; &hk__slab_empty if none */
  hk__slab_t *tail[HK_NUM_CLASSES];/* queue tail per class; NULL if none */
  /* NULL, or HK_NUM_CLASSES bin records (one meta block), made on the
   * first switch to bin mode. */
  hk__slab_t *bins;
  /* In slab mode, frees of other threads' blocks of the class since its
   * last slow path (counted while the front has a queue for the class: it
   * allocates it); in bin mode, checks in a row that found none: they
   * switch bin mode on and off. */
  uint16_t nforeign[HK_NUM_CLASSES];
  uint8_t bin_idle[HK_NUM_CLASSES];
  /* 1: a slab of the class emptied while not the head, so the thread is
   * freeing the class down: no head is pinned until its next allocation
   * slow path of the class (tiny/front.c, hk__slab_retire). */
  uint8_t unpinned[HK_NUM_CLASSES];
  /* Remote frees not yet counted in the pool's remote_frees: frees into
   * bins (added at each bin check; until then in bin_foreign), and remote
   * frees this front drained. Written by its thread only (stats read it);
   * added to the pool's at a flush. */
  _Atomic uint64_t remote_frees;
  struct hk__thread_s *thread;
  struct hk__front_s *tnext;       /* the thread's other fronts */
  bool pin;                        /* heap policy keep_one_slab: queue heads are pinned */
  struct hk__front_s *hnext, *hprev; /* the heap's fronts (every thread's, for stats) */
  /* Freed large blocks of the heap's areas this thread keeps for its next
   * large allocations (tiny/large.c), oldest first; written by its thread
   * only (the counts relaxed, for stats). */
  hk__ss_t *lcache[HK_LCACHE_N];
  _Atomic uint32_t lc_n;
  _Atomic size_t lc_bytes;
  size_t lc_cap;                   /* its byte bound, from the heap's policy */
  size_t lc_block_max;             /* the biggest block it keeps (0: none) */
  /* The cache is its thread's, which sets lc_busy for each use, except
   * while another thread holds lc_claim (tiny/large.c). lc_ops counts
   * uses; the purger's view: the count it saw last and when it changed
   * (global lock). */
  _Atomic bool lc_busy;
  _Atomic bool lc_claim;
  /* Set by hk_heap_trim in another thread: this thread flushes the front
   * (bins home, slabs back) at its next allocation slow path. */
  _Atomic bool flush_req;
  uint64_t lc_ops;
  uint64_t lc_seen_ops, lc_seen_ms;
} hk__front_t;

typedef struct hk__thread_s {
  hk__front_t main;                /* front of the default heap */
  /* One-entry cache for hk_heap_malloc: the handle of the user heap the
   * thread used last. Never NULL (hk_heap_malloc(NULL, n) must miss): the
   * default heap's (tested before the cache) until a user heap is used;
   * HK_NO_HEAP once that heap is destroyed. */
  hk_heap_t *_Atomic last_heap;
  hk__front_t *last_front;
  hk__front_t *fronts;             /* fronts of user heaps */
  uintptr_t token;                 /* hk__self_token() of its thread: owner of its slabs */
  /* Unique for the life of the process (a thread pointer is reused by
   * later threads, a serial never): names the thread that detached a slab. */
  uint64_t serial;
  int live;                        /* 0 only for hk__thread_empty */
} hk__thread_t;

/* A heap. The API never hands out its address: hk_heap_t * values are
 * handles (heap/handle.c), resolved to this record at each entry point. */
typedef struct hk__heap_s {
  hk__pool_t pool;
  hk__front_t *fronts;             /* fronts of all threads */
  struct hk__heap_s *next, *prev;  /* process list (atfork, lifetime) */
  hk_heap_t *handle;               /* what the API calls it */
  /* The purger's view of the depot (heap/purge.c, global lock): the blocks
   * it held at the last pass that changed them, and since when. */
  size_t purge_depot_blocks;
  uint64_t purge_depot_since;
} hk__heap_t;

#endif /* HK_TYPES_H */
