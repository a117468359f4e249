/* Cross-file internal interface (hk__ prefix), grouped by the file that
 * defines each name, lowest layer first. Layers point one way:
 *   os  <-  policy  <-  superslab  <-  tiny (fronts, threads)  <-  heap (API)  <-  override
 * A file calls only into its own layer and the ones below it.
 */
#ifndef HK_INTERNAL_H
#define HK_INTERNAL_H

#include "types.h"

/* Everything declared below is internal to the library: hidden, so the
 * compiler addresses it directly (no GOT load, no PLT call). */
#pragma GCC visibility push(hidden)

/* ---- os/os.c ------------------------------------------------------------------
 * Contract: every mapping is anonymous, private, read-write and zero-filled.
 * hk__os_map_aligned returns `size` bytes starting at a multiple of `align`
 * (a power of two; below the OS page it means the page), `size` rounded up
 * to whole OS pages. unmap may be called on any page-aligned sub-range of a
 * mapping. decommit keeps the range mapped and acts on the whole OS pages
 * inside it only: contents become zero (DONTNEED) or
 * undefined-then-zero-on-reclaim (FREE); touching it again recommits. Each
 * call made is counted in the context; failures too.
 * Pages: HK_PAGE (4 KiB) is the smallest page hakmem supports and the unit
 * of its own layouts; the OS page (hk__os_page: 4, 16 or 64 KiB on arm64)
 * is what every mapping, unmapping and decommit is rounded to. */
size_t hk__os_page(void);          /* sysconf(_SC_PAGESIZE), read once */
size_t hk__os_page_up(size_t n);   /* n rounded up to whole OS pages */
void hk__os_init(hk__os_t *os, const hk_os_hooks_t *hooks);
void *hk__os_map_aligned(hk__os_t *os, size_t size, size_t align);
/* ... starting `phase` bytes (a page multiple < align) before a multiple of align. */
void *hk__os_map_aligned_at(hk__os_t *os, size_t size, size_t align, size_t phase);
bool hk__os_unmap(hk__os_t *os, void *p, size_t size);
bool hk__os_decommit(hk__os_t *os, void *p, size_t size, hk_decommit_t how);
uint64_t hk__os_now_ms(const hk__os_t *os); /* monotonic ms: the hooks' clock, or the real one */
/* Address space only: size bytes aligned to align, inaccessible (or
 * readable zeros with readable), no commit charge. NULL if refused. */
void *hk__os_reserve(hk__os_t *os, size_t size, size_t align, bool readable);
/* Resizes a mapping (real OS only) without copying its pages: in place, or
 * moved to an align-aligned range that prepare(to) accepted first. The new
 * address, or NULL (unchanged). */
void *hk__os_remap(hk__os_t *os, void *p, size_t old_size, size_t new_size, size_t align,
                   bool (*prepare)(const void *to));
bool hk__os_dontdump(void *p, size_t size); /* left out of core files (best effort) */
bool hk__os_dump(void *p, size_t size);     /* back in them */
/* Every thread of the process that is running has passed a full memory
 * barrier when this returns true. With it a hot path may order its store
 * before a later load by a compiler barrier alone, and the rare other side
 * pays (tiny/large.c). false: the kernel has no such call (Linux < 4.14,
 * or a seccomp filter refuses it). */
bool hk__os_fence_threads(void);

/* ---- os/diag.c: "hakmem: <call>(): <what> <p>" on stderr, then abort. ------- */
_Noreturn __attribute__((noreturn)) void hk__fatal_invalid(const char *call, const void *p,
                                                           const char *what);
#ifdef HK_CHECKED
/* Checked build: the bytes of a free block past its link and key get a
 * poison fill; malloc verifies it ("write after free to block"). */
void hk__poison(void *block, size_t size);
void hk__poison_check(const void *block, size_t size);
#endif
/* The <what> of each kind of misuse, one text for every block kind. */
#define HK_MSG_INVALID "invalid pointer"    /* not a block hakmem handed out */
#define HK_MSG_DOUBLE_FREE "double free of" /* a block already free */
#define HK_MSG_FREED "freed block"          /* realloc/usable_size of a free block */
#define HK_MSG_INVALID_HEAP "invalid heap"  /* a handle that names no live heap */
#define HK_MSG_SIZE "size or alignment does not match block" /* hk_free_sized */

/* ---- os/meta.c: internal records (thread, front, heap). Zeroed. ------------ */
void *hk__meta_alloc(size_t size);
void hk__meta_free(void *p, size_t size);
void hk__meta_lock_all(void);   /* fork */
void hk__meta_unlock_all(void);

/* ---- policy/config.c: defaults and validation --------------------------------------- */
const char *hk__config_check(const hk_heap_config_t *cfg);
void hk__policy_from_config(hk__policy_t *pol, const hk_heap_config_t *cfg);

/* ---- policy/decide.c: the decisions a pool makes from its policy --------------------- */
bool hk__policy_within_budget(const hk__policy_t *p, size_t mapped, size_t more);
bool hk__policy_retains_too_many(const hk__policy_t *p, size_t retained);
bool hk__policy_decommit_due(const hk__policy_t *p, uint64_t since_ms, uint64_t now_ms);
hk_decommit_t hk__policy_trim_advice(const hk__policy_t *p);
bool hk__policy_region_cacheable(const hk__policy_t *p, size_t size);
bool hk__policy_region_room(const hk__policy_t *p, uint32_t n, size_t bytes, size_t size);
size_t hk__policy_prewarm_superslabs(const hk__policy_t *p);
bool hk__policy_large_decays(const hk__policy_t *p);
bool hk__policy_large_tick_due(const hk__policy_t *p, uint64_t last_ms, uint64_t now_ms);

/* ---- superslab/map.c: the pointer map (see map.c) ---------------------------
 * An owner word and a slab word per 64 KiB granule of a 48-bit address
 * space, in chunks of 2^HK_MAP_CHUNK_SHIFT granules reserved as they are
 * first needed; every other address reads zeros. insert enters a laid-out
 * SuperSlab (all its granules; a LARGE one its first), owner 0, reserving
 * its chunk if needed (false: the OS refused); update rewrites the slabs
 * after a new layout; remove clears them, before the SuperSlab is
 * unmapped. All three only while the SuperSlab holds no block, its pool
 * lock held. cover reserves the chunk for p without entering anything. */
#define HK_MAP_CHUNK_SHIFT 19                              /* 2^19 granules: 32 GiB */
#define HK_MAP_TOP ((size_t)1 << (32 - HK_MAP_CHUNK_SHIFT)) /* top entries: 48-bit space */
#define HK_MAP_SLABS ((uintptr_t)sizeof(uintptr_t) << HK_MAP_CHUNK_SHIFT) /* slab array offset */
#define HK_MAP_BIN ((uintptr_t)1) /* owner tag: thread pointers are aligned, bit 0 is free */
extern uint8_t *hk__map_top[HK_MAP_TOP];
void hk__map_init(void); /* idempotent; also run by a constructor */
bool hk__map_insert(hk__ss_t *ss);
void hk__map_update(hk__ss_t *ss);
void hk__map_remove(hk__ss_t *ss);
bool hk__map_cover(const void *p);
/* A large area's granules (superslab/area.c): fill enters rec for every
 * granule of [p, p + bytes) (2 MiB aligned and sized; false: the OS
 * refused a chunk), unfill clears them; set_slab points p's granule (in a
 * filled range) at rec. Pool lock held. */
bool hk__map_fill(const void *p, size_t bytes, hk__slab_t *rec);
void hk__map_unfill(const void *p, size_t bytes);
void hk__map_set_slab(const void *p, hk__slab_t *rec);
void hk__map_trim(void);   /* pages of entries no SuperSlab uses go back */
void hk__map_lock(void);   /* fork */
void hk__map_unlock(void);
/* The one writer of slab->owner: the record's and the map's copies (the
 * map's tagged with HK_MAP_BIN if bin). */
void hk__slab_set_owner(hk__slab_t *s, uintptr_t owner, bool bin);

/* Where p's entry is: its owner word at base + 8 * g, its slab word
 * HK_MAP_SLABS further on. */
typedef struct hk__map_pos_s {
  uintptr_t base; /* p's top entry: its chunk minus its first granule's offset */
  uintptr_t g;    /* p's granule, bits 16..47 of p */
} hk__map_pos_t;

/* Two shifts and one load, for any p. On x86-64 the shifts are written
 * out: compilers otherwise spend one or two more instructions on the
 * 32-bit truncation (free's fast path runs this on every call). */
hk_inline hk__map_pos_t hk__map_pos(const void *p) {
  uintptr_t g, i;
#if defined(__x86_64__) && defined(__GNUC__)
  __asm__("shr $16, %0\n\tmov %k0, %k1\n\tshr $19, %k0"
          : "=r"(i), "=&r"(g)
          : "0"((uintptr_t)p));
  _Static_assert(HK_GRANULE_SHIFT == 16 && HK_MAP_CHUNK_SHIFT == 19, "the shifts above");
#else
  g = (uint32_t)((uintptr_t)p >> HK_GRANULE_SHIFT);
  i = g >> HK_MAP_CHUNK_SHIFT;
#endif
  /* Acquire, paired with the release that publishes a chunk (map.c's
   * chunk_for): whoever reads a chunk's words through its top entry reads
   * them as they were when it was published, on weakly ordered CPUs too.
   * On x86-64 this is the plain load a relaxed one is (free's code is the
   * same, instruction for instruction); on arm64 it is one LDAR. */
  return (hk__map_pos_t){(uintptr_t)__atomic_load_n(&hk__map_top[i], __ATOMIC_ACQUIRE), g};
}
hk_inline uintptr_t hk__map_owner(hk__map_pos_t e) {
  return atomic_load_explicit((_Atomic uintptr_t *)(e.base + e.g * sizeof(uintptr_t)),
                              memory_order_relaxed);
}
/* p's slab word. The empty asm keeps g in its register: without it gcc
 * keeps 8 * g in another one for this load, one instruction more. */
hk_inline hk__slab_t **hk__map_slab_word(hk__map_pos_t e) {
#if defined(__GNUC__)
  __asm__("" : "+r"(e.g));
#endif
  return (hk__slab_t **)(e.base + HK_MAP_SLABS + e.g * sizeof(uintptr_t));
}
/* Acquire: the slab's fields as they were when its entry was written. */
hk_inline hk__slab_t *hk__map_slab_at(hk__map_pos_t e) {
  return __atomic_load_n(hk__map_slab_word(e), __ATOMIC_ACQUIRE);
}
/* The slab record of the granule p is in (a LARGE block's for its first
 * granule), or NULL where hakmem has nothing. p must not be NULL before
 * the map is initialised. */
hk_inline hk__slab_t *hk__map_slab(const void *p) { return hk__map_slab_at(hk__map_pos(p)); }

/* Slab i of a SuperSlab (i < nslabs): the record of its first granule. */
hk_inline hk__slab_t *hk__ss_slab(const hk__ss_t *ss, unsigned i) {
  return &ss->slabs[i << (ss->slab_shift - HK_GRANULE_SHIFT)];
}
/* Index of slab s in its SuperSlab. */
hk_inline unsigned hk__slab_index(const hk__slab_t *s) {
  return (unsigned)(s - s->ss->slabs) >> (s->ss->slab_shift - HK_GRANULE_SHIFT);
}
/* p, inside slab s's region and below s->end, is a block boundary among
 * the first blocks that bound (a div_limit) admits. Lemire's test, as in
 * the free fast path: no division. */
hk_inline bool hk__slab_is_block(const hk__slab_t *s, const void *p, uint64_t bound) {
  return (uint64_t)((const uint8_t *)p - s->start) * s->div_magic < bound;
}
/* The key of the free blocks of slab s (see hk__block_t): the address of
 * its record, unique per slab, never a block, and the base register free
 * addresses the slab's fields from anyway. */
hk_inline uintptr_t hk__slab_key(const hk__slab_t *s) { return (uintptr_t)s; }

/* ---- superslab/mapping.c: what a pool maps, and keeps for reuse ------------------
 * Under pool->lock, except init and destroy. */
void hk__pool_init(hk__pool_t *pool, const hk__policy_t *policy,
                   const hk_os_hooks_t *hooks, struct hk__heap_s *owner_heap);
void hk__pool_destroy(hk__pool_t *pool);   /* every mapping goes, live blocks included */
void hk__ss_list_push(hk__ss_list_t *l, hk__ss_t *s);   /* at the head: newest */
void hk__ss_list_remove(hk__ss_list_t *l, hk__ss_t *s);
/* Committed-bytes bookkeeping goes through here only (delta may be < 0). */
void hk__ss_commit(hk__pool_t *pool, hk__ss_t *ss, ptrdiff_t delta);
/* A 2 MiB-aligned mapping of size bytes within the budget, its header's
 * common fields set and counted as mapped; the caller lays it out, then
 * enters it (hk__ss_enter: into the pointer map, else it is unmapped,
 * ENOMEM). NULL with errno ENOMEM. */
hk__ss_t *hk__ss_map(hk__pool_t *pool, size_t size);
/* ... starting phase bytes before a multiple of align (align > 2 MiB). */
hk__ss_t *hk__ss_map_at(hk__pool_t *pool, size_t size, size_t align, size_t phase);
bool hk__ss_enter(hk__pool_t *pool, hk__ss_t *ss);
void hk__ss_unmap(hk__pool_t *pool, hk__ss_t *ss);      /* out of the map, then unmapped */
bool hk__pool_make_room(hk__pool_t *pool, size_t more);    /* budget: may drop what is kept */
void hk__ss_retain(hk__pool_t *pool, hk__ss_t *ss);     /* an empty SuperSlab is kept */
void hk__pool_enforce(hk__pool_t *pool);   /* retention, then the decommits due */
hk__ss_t *hk__ss_reuse(hk__pool_t *pool); /* a kept one back in use (committed), or NULL */
size_t hk__pool_release_retained(hk__pool_t *pool); /* trim: all of it; the bytes */
/* The region cache of freed large mappings: a best fit for need bytes
 * (taken out), whether there is one, keep ss (false: the policy will
 * not), and down to keep_n regions and keep_bytes. */
hk__ss_t *hk__region_take(hk__pool_t *pool, size_t need);
bool hk__region_fits(const hk__pool_t *pool, size_t need);
bool hk__region_put(hk__pool_t *pool, hk__ss_t *ss);
void hk__region_cache_release(hk__pool_t *pool, size_t keep_n, size_t keep_bytes);

/* ---- superslab/purge.c: idle purge of a pool, and the purger's bell ---------------- */
/* One pass over pool (takes its lock): everything its delays have made due
 * goes back; returns in how many ms the next release is due (UINT64_MAX:
 * nothing pending). Deadlines are on the pool's clock (its hooks'). */
uint64_t hk__pool_purge(hk__pool_t *pool);
/* A slow path made something of pool due in in_ms: rings the bell if the
 * pool is purged in the background and the purger sleeps past it. */
void hk__purge_note(const hk__pool_t *pool, uint64_t in_ms);
uint64_t hk__purge_in(uint64_t due, uint64_t now); /* due - now, 0 if past, MAX stays */
/* The purger: sleeps for ms (UINT64_MAX: until rung); false once asked to
 * stop. stop(true) wakes it to stop, stop(false) re-arms. */
bool hk__purge_sleep(uint64_t next_ms);
void hk__purge_stop(bool stop);
void hk__purge_after_fork(void);
/* The parts of a pass, lock held, each returning its next deadline. */
uint64_t hk__pool_purge_slabs(hk__pool_t *pool, uint64_t now);   /* pool.c */
uint64_t hk__pool_purge_retained(hk__pool_t *pool);              /* mapping.c */
uint64_t hk__region_purge(hk__pool_t *pool, uint64_t now);       /* mapping.c */
uint64_t hk__area_purge(hk__pool_t *pool);                       /* area.c */
uint64_t hk__large_purge(hk__pool_t *pool);                      /* large.c */

/* ---- superslab/pool.c: slabs ------------------------------------------------------- */
bool hk__pool_prewarm(hk__pool_t *pool);
/* A slab for class cls with at least one block to give (formatted if new),
 * owner unset, state OWNED. NULL with errno ENOMEM. Takes the pool lock. */
hk__slab_t *hk__pool_acquire(hk__pool_t *pool, unsigned cls);
/* Hand back an unowned slab: FREE if used == 0, else PARTIAL. Lock taken here. */
void hk__pool_give_back(hk__pool_t *pool, hk__slab_t *slab);
void hk__pool_give_back_locked(hk__pool_t *pool, hk__slab_t *slab);
size_t hk__pool_trim(hk__pool_t *pool);
/* Carve up to slab->carve_n never-used blocks into slab->free. */
bool hk__slab_carve(hk__slab_t *slab);
/* Move remote frees into slab->free; returns how many. Owner only (or the
 * pool, lock held, for a slab with no owner, or whoever cleared its
 * DETACHED). The caller counts them (hk__pool_drain counts in the pool). */
uint32_t hk__slab_drain_xfree(hk__slab_t *slab);
void hk__pool_drain(hk__pool_t *pool, hk__slab_t *slab);

/* ---- superslab/area.c: large areas (pool lock held) --------------------------------- */
/* A run of whole granules for bytes at a multiple of align (< HK_AREA_MIN),
 * resident runs first, counted as mapped; its area in *area. NULL: no
 * area has room and no new one could be reserved, or the budget refused
 * (errno ENOMEM). dirty: whether any of it held data (else zero pages). */
uint8_t *hk__area_alloc(hk__pool_t *pool, size_t bytes, size_t align, hk__area_t **area,
                        bool *dirty);
/* aged: the block sat unused for a decay delay already (parked). */
void hk__area_free(hk__pool_t *pool, hk__area_t *a, uint8_t *p, size_t bytes, bool aged);
/* In place: to new_bytes (a shrink always; a growth if the granules after
 * are free and the budget allows). */
bool hk__area_resize(hk__pool_t *pool, hk__area_t *a, uint8_t *p, size_t old_bytes,
                     size_t new_bytes);
bool hk__area_freed_start(const hk__area_t *a, const void *p); /* a freed block's start */
size_t hk__area_release(hk__pool_t *pool, size_t keep); /* retained down to keep; bytes */
size_t hk__area_trim(hk__pool_t *pool); /* all retained back, unused areas unmapped; bytes */
void hk__area_destroy_all(hk__pool_t *pool);

/* ---- superslab/large.c: large blocks ------------------------------------------------ */
void *hk__large_alloc(hk__pool_t *pool, size_t size, size_t align, bool zero);
/* realloc of a LARGE block to size > HK_MID_MAX without a copy (see
 * large.c): the block, moved or not, or NULL with nothing changed. */
void *hk__large_resize(hk__ss_t *ss, size_t size);
/* s: the map's record for p (HK_SLAB_LARGE_BLOCK): free p, or abort with
 * the fitting message. */
void hk__large_free(hk__slab_t *s, const void *p, const char *call);
/* The usable size of live large block p, else abort (call's message; a
 * freed block's is `freed`). */
size_t hk__large_checked(const hk__slab_t *s, const void *p, const char *call,
                         const char *freed);
hk_inline size_t hk__large_usable(const hk__ss_t *ss) {
  if (ss->area != NULL) return ss->map_size; /* the run */
  return ss->map_size - (size_t)(ss->slabs[0].start - (const uint8_t *)ss);
}
/* Does a block of `usable` bytes serve size without wasting much of it? */
hk_inline bool hk__large_fits(size_t usable, size_t size) {
  return usable >= size && usable - size <= size / 4 + HK_GRANULE;
}
/* Parked blocks (see tiny/large.c): park v[0..n) (state CACHED); unpark up
 * to max that serve size into out (state still CACHED); trim releases them
 * all. */
void hk__large_park(hk__pool_t *pool, hk__ss_t *const *v, unsigned n);
unsigned hk__large_unpark(hk__pool_t *pool, size_t size, hk__ss_t **out, unsigned max);
void hk__large_trim(hk__pool_t *pool);
/* v[0..n) (state CACHED), unused for a decay delay, go back to their areas. */
void hk__large_release_aged(hk__pool_t *pool, hk__ss_t *const *v, unsigned n);

/* ---- tiny/large.c: a thread's freed large blocks, per front ----------------------- */
/* The owner's use and the fast hits are in tiny/front_inline.h. */
void hk__lc_wait(hk__front_t *f);          /* another thread claims the cache: wait */
/* free of live area block s (its start) into f's cache, room made (the
 * older half to the pool); false: f keeps no block that big. */
bool hk__front_large_free(hk__front_t *f, hk__slab_t *s);
void *hk__front_large_alloc(hk__front_t *f, size_t size, bool zero); /* NULL: no fit */
void hk__front_large_flush(hk__front_t *f); /* every cached block to the pool */
void hk__front_large_flush_other(hk__front_t *f); /* same, by another thread (global lock) */
void hk__front_large_drop(hk__front_t *f);  /* forgotten: the heap is being destroyed */
size_t hk__front_large_cap(const hk__policy_t *pol); /* a front's cache bytes (f->lc_cap) */
/* The purger (global lock): f's cache, if unused for the decay delay, goes
 * back; ms to when it may be due (UINT64_MAX: empty). */
uint64_t hk__front_large_purge(hk__front_t *f, uint64_t now);

/* ---- tiny/size_class.c ----------------------------------------------------------- */
#define HK_NUM_SMALL_CLASSES 32 /* classes of sizes <= HK_SMALL_MAX */
extern const uint8_t hk__small_class[HK_SMALL_MAX / 16 + 1];
extern const uint32_t hk__class_size[HK_NUM_CLASSES];

/* Class of HK_SMALL_MAX < size <= HK_MID_MAX: 8 classes per power of two. */
hk_inline unsigned hk__mid_class(size_t size) {
  size_t s = size - 1;
  unsigned b = 63u - (unsigned)__builtin_clzll(s);
  return (b - 7u) * 8u + (unsigned)(s >> (b - 3u));
}
/* Class of size (<= HK_MID_MAX): 16 B steps to 128, then 8 per power of two. */
hk_inline unsigned hk__size_class(size_t size) {
  if (hk_likely(size <= HK_SMALL_MAX)) return hk__small_class[(size + 15) >> 4];
  return hk__mid_class(size);
}
unsigned hk__class_for_aligned(size_t size, size_t align); /* HK_NUM_CLASSES: none */

/* ---- tiny/thread.c: thread records, from first allocation to exit ---------------- */
extern hk__thread_t hk__thread_empty;  /* every thread's record until its first allocation */
extern __thread hk__thread_t *hk__tls __attribute__((tls_model("initial-exec")));
extern hk__heap_t hk__heap_main;       /* the default heap (set up by heap/init.c) */
/* The default heap's handle (slot 0, generation 1, see heap/handle.c), and
 * what a thread's one-entry cache holds once its heap is gone: no handle. */
#define HK_HANDLE_GEN_SHIFT 27
#define HK_DEFAULT_HEAP ((hk_heap_t *)(uintptr_t)(((uint64_t)1 << HK_HANDLE_GEN_SHIFT) | (1u << 4)))
#define HK_NO_HEAP ((hk_heap_t *)(uintptr_t)8)
/* The calling thread's record, made on first call; the process must be
 * set up (hk__process_init). NULL: out of memory. */
hk__thread_t *hk__thread_init(void);
/* The calling thread's front of a live user heap (or of the default heap),
 * made on first use. NULL with errno ENOMEM. */
hk__front_t *hk__front_lookup(hk__heap_t *heap);
void hk__fronts_orphan(hk__heap_t *heap); /* destroy: every front of heap dies (global lock) */
void hk__global_lock(void);   /* the front lists; the heap list and handles too */
void hk__global_unlock(void);

/* The calling thread's owner token: its thread pointer, which the TLS ABI
 * keeps where one instruction reads it (%fs:0 on x86-64), so free compares
 * a slab's owner with it without loading hk__tls. Unique among live
 * threads, and never 0; a thread disowns its slabs before it exits, so a
 * later thread that gets the same thread pointer owns nothing by it. */
#if defined(__has_builtin)
#if __has_builtin(__builtin_thread_pointer) && (defined(__x86_64__) || defined(__aarch64__))
#define HK_HAVE_THREAD_POINTER 1
#endif
#endif
hk_inline uintptr_t hk__self_token(void) {
#ifdef HK_HAVE_THREAD_POINTER
  return (uintptr_t)__builtin_thread_pointer(); /* gcc >= 11, clang: %fs:0 */
#else
  return (uintptr_t)&hk__tls;
#endif
}

/* ---- tiny/front.c ------------------------------------------------------------------ */
extern const hk__slab_t hk__slab_empty;
void hk__front_init(hk__front_t *f, struct hk__heap_s *heap, hk__thread_t *t);
void hk__front_reset(hk__front_t *f);       /* every queue empty (no slab touched) */
/* From now on table (HK_SMALL_MAX + 1 entries) is a copy of f->direct. */
void hk__front_mirror(hk__front_t *f, hk__slab_t **table);
/* What malloc pops from ran dry (the thread is set up). */
void *hk__front_alloc_slow(hk__front_t *f, unsigned cls);
void hk__slab_retire(hk__slab_t *slab);
void hk__front_flush(hk__front_t *f);       /* bins home, every owned slab back */
void hk__front_release(hk__front_t *f);     /* before the record is freed */
bool hk__front_bin_on(hk__front_t *f, unsigned cls); /* bin mode (false: no memory) */
/* Every HK_BIN_CHECK frees into a bin: back to slab mode after HK_BIN_IDLE
 * checks in a row with no free of another thread's block. */
void hk__bin_check(hk__slab_t *bin);
/* Counts n remote frees (n may be < 0) in f, for stats and the next flush. */
hk_inline void hk__front_add_remote(hk__front_t *f, int64_t n) {
  uint64_t v = atomic_load_explicit(&f->remote_frees, memory_order_relaxed);
  atomic_store_explicit(&f->remote_frees, v + (uint64_t)n, memory_order_relaxed);
}
/* s (no owner, on no list, DETACHED cleared by this thread) joins f's queue. */
void hk__slab_adopt(hk__front_t *f, hk__slab_t *s);

/* ---- tiny/bin.c: reuse of other threads' blocks by the freeing thread ------ */
#define HK_BIN_ENTER 8      /* such frees since the class's last slow path: bin mode */
#define HK_BIN_CHECK 1024u  /* frees into a bin between two checks... */
#define HK_BIN_IDLE 4       /* ...checks in a row without one of them: slab mode again */
#define HK_BIN_BYTES 65536u /* a bin holds this many bytes above its refill... */
#define HK_BIN_MIN 2u       /* ...but at least this many blocks */
#define HK_BIN_MAX 512u     /* ...and at most this many blocks */
void hk__bins_reset(hk__front_t *f);        /* every bin of f->bins empty */
void hk__bin_trim(hk__slab_t *bin);         /* over bin_max: the older ones home */
void hk__bin_fill(hk__slab_t *bin, hk__slab_t *s); /* s's free list into the (empty) bin */
void hk__bin_fill_chain(hk__slab_t *bin, hk__block_t *head, uint32_t n); /* a depot chain */
/* The heap's depot: a chain of n free blocks of class cls, or NULL. */
hk__block_t *hk__depot_take(hk__pool_t *pool, unsigned cls, uint32_t *n);
void hk__depot_flush(hk__pool_t *pool, hk__front_t *f); /* every chain home (f: the caller's, or NULL) */
void hk__depot_destroy(hk__pool_t *pool);   /* its blocks go with the heap */
void hk__depot_after_fork(hk__pool_t *pool); /* the child's locks afresh */
size_t hk__depot_blocks(hk__pool_t *pool, unsigned cls);
/* Other threads' blocks freed into bin since the last call, added to its
 * front's remote frees; the counters start again. */
uint32_t hk__bin_count(hk__slab_t *bin);
void hk__bin_empty(hk__slab_t *bin);        /* its blocks home */
void hk__bin_flush(hk__front_t *f);         /* every bin's blocks home */
/* s, whose DETACHED the caller cleared: back to its detacher (f, if f is
 * that thread's front) or to the pool. */
void hk__slab_place(hk__slab_t *s, hk__front_t *f);

/* ---- tiny/free.c ------------------------------------------------------------------- */
bool hk__block_is_free(const hk__slab_t *s, const void *p);
void hk__free_slow(void *p, const char *call);
/* The usable size of live block p (not NULL) and its record in *slab;
 * aborts (call's message) on a pointer that is no live block, `freed` for
 * a freed one. */
size_t hk__block_usable(const void *p, const char *call, hk__slab_t **slab, const char *freed);
/* hk_free_sized's and hk_free_aligned_sized's checks, then the free: a size
 * (or alignment) the block cannot have been allocated with aborts. */
void hk__free_sized_slow(void *p, size_t size, size_t align, const char *call);

/* ---- heap/init.c: process start-up, the allocation slow paths -------------------- */
void hk__process_init(void);
void hk__heap_register(hk__heap_t *heap, bool on); /* the heap list (global lock) */
hk__heap_t *hk__heaps(void);                       /* its head (global lock) */
/* The slow path of every small/mid allocation of the API (and override):
 * sets up the process and the thread on a thread's first allocation. */
void *hk__malloc_slow(hk__front_t *f, unsigned cls);
void *hk__alloc_large(hk__heap_t *heap, size_t size, size_t align, bool zero);
/* The same for malloc (align 0, not zeroed), f the thread's front for heap. */
void *hk__malloc_large(hk__front_t *f, hk__heap_t *heap, size_t size);

/* ---- heap/purge.c: the purger thread ----------------------------------------------- */
/* create/destroy of a heap with background_purge: the thread starts with
 * the first and stops with the last (no lock held by the caller). */
void hk__purger_join(hk__heap_t *heap);
void hk__purger_leave(hk__heap_t *heap);
uint64_t hk__purge_heap(hk__heap_t *heap); /* one pass (global lock): ms to the next deadline */
bool hk__purger_running(void);
void hk__purger_after_fork(void);
/* In a fork's child that needs it: started again (slow paths call poll). */
void hk__purger_poll(void);

/* ---- heap/handle.c: heap handles -------------------------------------------------- */
/* The heap a handle names (NULL: the default heap); a handle of no live
 * heap aborts with "hakmem: <call>(): invalid heap 0x...". */
hk__heap_t *hk__heap_resolve(const hk_heap_t *handle, const char *call);
hk__heap_t *hk__heap_lookup(const hk_heap_t *handle); /* the same, NULL instead of aborting */
bool hk__handle_open(hk__heap_t *heap);     /* a new handle in heap->handle (global lock) */
void hk__handle_close(hk__heap_t *heap);    /* it names nothing from now on (global lock) */


#pragma GCC visibility pop

#endif /* HK_INTERNAL_H */
