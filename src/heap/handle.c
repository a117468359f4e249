/* Heap handles. An hk_heap_t * the API hands out is not the heap's address
 * but a handle: a slot of this registry and the slot's generation,
 *
 *     handle = generation << GEN_SHIFT | (slot + 1) << 4
 *
 * (bits 0-3 zero, so it looks like any aligned pointer and is never NULL).
 * A slot's generation grows each time its heap is destroyed, so a handle
 * of a destroyed heap never names the heap that later takes its slot, and
 * a value that was never a handle names no slot, or a slot of another
 * generation: resolving a handle reads only this registry, never memory
 * the caller points at. The default heap is slot 0, generation 1.
 *
 * Slots come in chunks allocated once and never freed (meta memory), so a
 * reader resolves a handle without a lock while other heaps are created
 * and destroyed; slots are handed out and taken back under the global
 * lock. A handle used while its own heap is being destroyed is a caller's
 * error (hakmem.h: no thread may use a heap during hk_heap_destroy). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CHUNK_SLOTS 512u     /* 12 KiB: one meta block */
#define MAX_CHUNKS 8192u     /* 4 M heaps alive at once */
#define SLOT_BITS (HK_HANDLE_GEN_SHIFT - 4) /* slot + 1 < 2^23 */
#define GEN_SHIFT HK_HANDLE_GEN_SHIFT          /* generations: 2^37 per slot */

_Static_assert((uint64_t)CHUNK_SLOTS * MAX_CHUNKS < ((uint64_t)1 << SLOT_BITS),
               "every slot fits the handle's slot field");

typedef struct slot_s {
  hk__heap_t *_Atomic heap;  /* NULL: free */
  _Atomic uint64_t gen;
  uint32_t next_free;        /* free list, global lock held */
} slot_t;

static slot_t *_Atomic chunks[MAX_CHUNKS];
static uint32_t n_slots;       /* slots ever made (global lock) */
static uint32_t free_head;     /* free list: slot + 1, 0 = empty (global lock) */

static slot_t *slot_at(uint32_t i) {
  slot_t *c = atomic_load_explicit(&chunks[i / CHUNK_SLOTS], memory_order_acquire);
  return c != NULL ? &c[i % CHUNK_SLOTS] : NULL;
}

static hk_heap_t *encode(uint32_t slot, uint64_t gen) {
  return (hk_heap_t *)(uintptr_t)(gen << GEN_SHIFT | (uint64_t)(slot + 1) << 4);
}

/* The heap handle names, or NULL. Ordering: the acquire of the slot's heap
 * pairs with hk__handle_open's release, which follows the generation's
 * store and the heap's set-up, so a handle decoded as live names a heap
 * fully made (on weakly ordered CPUs too). A handle used while its heap
 * is being destroyed is the caller's race (hk_heap_destroy's contract). */
static hk__heap_t *decode(const hk_heap_t *handle) {
  uintptr_t v = (uintptr_t)handle;
  uint32_t field = (uint32_t)((v >> 4) & (((uintptr_t)1 << SLOT_BITS) - 1));
  if ((v & 15) != 0 || field == 0 || field - 1 >= (uint32_t)CHUNK_SLOTS * MAX_CHUNKS) return NULL;
  slot_t *s = slot_at(field - 1);
  if (s == NULL) return NULL;
  hk__heap_t *heap = atomic_load_explicit(&s->heap, memory_order_acquire);
  if (heap == NULL || atomic_load_explicit(&s->gen, memory_order_relaxed) != v >> GEN_SHIFT)
    return NULL;
  return heap;
}

hk__heap_t *hk__heap_resolve(const hk_heap_t *handle, const char *call) {
  if (handle == NULL) return &hk__heap_main;
  hk__heap_t *heap = decode(handle);
  if (hk_unlikely(heap == NULL)) hk__fatal_invalid(call, handle, HK_MSG_INVALID_HEAP);
  return heap;
}

hk__heap_t *hk__heap_lookup(const hk_heap_t *handle) {
  return handle == NULL ? &hk__heap_main : decode(handle);
}

bool hk__handle_open(hk__heap_t *heap) {
  uint32_t i;
  if (free_head != 0) {
    i = free_head - 1;
    free_head = slot_at(i)->next_free;
  } else {
    if (n_slots == CHUNK_SLOTS * MAX_CHUNKS) return false;
    i = n_slots;
    if (i % CHUNK_SLOTS == 0) {
      slot_t *c = hk__meta_alloc(CHUNK_SLOTS * sizeof *c); /* zeroed: generation 0 */
      if (c == NULL) return false;
      atomic_store_explicit(&chunks[i / CHUNK_SLOTS], c, memory_order_release);
    }
    n_slots++;
  }
  slot_t *s = slot_at(i);
  uint64_t gen = atomic_load_explicit(&s->gen, memory_order_relaxed) + 1;
  atomic_store_explicit(&s->gen, gen, memory_order_relaxed);
  heap->handle = encode(i, gen);
  atomic_store_explicit(&s->heap, heap, memory_order_release);
  return true;
}

void hk__handle_close(hk__heap_t *heap) {
  uint32_t i = (uint32_t)(((uintptr_t)heap->handle >> 4) & (((uintptr_t)1 << SLOT_BITS) - 1)) - 1;
  slot_t *s = slot_at(i);
  atomic_store_explicit(&s->heap, NULL, memory_order_release);
  /* A new generation at once: the old handle names nothing from now on. */
  atomic_store_explicit(&s->gen, atomic_load_explicit(&s->gen, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  s->next_free = free_head;
  free_head = i + 1;
}
