/* hk_heap_config_t: documented defaults, presets and validation. The heap
 * keeps a validated copy (hk__policy_t); nothing reads the environment. */
#include "internal.h"

#include <errno.h>
#include <string.h>

#define MIB ((size_t)1 << 20)

void hk_heap_config_init(hk_heap_config_t *cfg) {
  if (cfg == NULL) return;
  memset(cfg, 0, sizeof *cfg);
  cfg->struct_size = (uint32_t)sizeof *cfg;
  cfg->version = HK_HEAP_CONFIG_VERSION;
  cfg->name = "heap";
  cfg->profile = HK_PROFILE_SPEED;
  cfg->prewarm_bytes = HK_SUPERSLAB_SIZE; /* one SuperSlab, mapped, not touched */
  cfg->prewarm_touch = 0;
  /* SPEED keeps up to 64 MiB of empty SuperSlabs mapped, so a program that
   * frees and rebuilds a large working set neither maps again nor faults its
   * pages in again; what stays empty for a second is decommitted, so idle
   * memory does not stay resident (the seed system's speed mode kept 16x
   * mimalloc's RSS). */
  cfg->decommit = HK_DECOMMIT_DONTNEED;
  cfg->decommit_delay_ms = 1000;
  cfg->retain_superslabs = 32;
  /* Freed large blocks: a churn of big buffers reuses resident memory
   * instead of faulting fresh pages in (large_churn in docs/benchmarks.md);
   * what sits unused for a second goes back, like empty SuperSlabs. */
  cfg->region_cache_slots = 16;
  cfg->region_cache_max_bytes = 512 * MIB;
  cfg->large_decay_ms = 1000;
  cfg->max_bytes = 0;
  cfg->os_hooks = NULL;
  /* What the delays above give back goes back while the program sleeps,
   * too: a heap a program made and then left idle should not keep its
   * peak. The process default heap is made with 0 (heap/init.c). */
  cfg->background_purge = 1;
}

int hk_heap_config_preset(hk_heap_config_t *cfg, hk_profile_t profile) {
  if (cfg == NULL) return EINVAL;
  switch (profile) {
  case HK_PROFILE_SPEED:
    hk_heap_config_init(cfg);
    return 0;
  case HK_PROFILE_BALANCED:
    hk_heap_config_init(cfg);
    cfg->profile = HK_PROFILE_BALANCED;
    cfg->prewarm_bytes = 0;
    cfg->decommit = HK_DECOMMIT_OFF;
    cfg->decommit_delay_ms = 0;
    cfg->retain_superslabs = 2;
    cfg->region_cache_slots = 4;
    cfg->region_cache_max_bytes = 64 * MIB;
    cfg->large_decay_ms = 300;
    /* It decommits nothing and retains little: no thread for the large
     * runs alone, which a slow path decays. */
    cfg->background_purge = 0;
    return 0;
  case HK_PROFILE_LEAN:
    hk_heap_config_init(cfg);
    cfg->profile = HK_PROFILE_LEAN;
    cfg->prewarm_bytes = 0;
    cfg->decommit = HK_DECOMMIT_DONTNEED;
    /* A short delay stops a SuperSlab that empties and refills at once from
     * paying an madvise each time (2e-4 madvise/op on the seed workload at
     * 0 ms, none at 100 ms) and still ends within 2 MiB of the start. */
    cfg->decommit_delay_ms = 100;
    cfg->retain_superslabs = 1;
    cfg->region_cache_slots = 0;
    cfg->region_cache_max_bytes = 8 * MIB;
    cfg->large_decay_ms = 100;
    return 0;
  }
  return EINVAL;
}

const char *hk__config_check(const hk_heap_config_t *cfg) {
  if (cfg->struct_size != sizeof *cfg)
    return "struct_size: not sizeof(hk_heap_config_t); start from hk_heap_config_init()";
  if (cfg->version != HK_HEAP_CONFIG_VERSION) return "version: unknown config version";
  if ((unsigned)cfg->profile > HK_PROFILE_LEAN) return "profile: not an hk_profile_t";
  if ((unsigned)cfg->decommit > HK_DECOMMIT_DONTNEED) return "decommit: not an hk_decommit_t";
  if (cfg->region_cache_slots > HK_REGION_CACHE_MAX) return "region_cache_slots: above 64";
  if (cfg->max_bytes != 0 && cfg->max_bytes < HK_SS_SIZE)
    return "max_bytes: nonzero but below one SuperSlab (2 MiB)";
  if (cfg->max_bytes != 0 && cfg->prewarm_bytes > cfg->max_bytes)
    return "prewarm_bytes: above max_bytes";
  if (cfg->prewarm_bytes > ((size_t)1 << 40)) return "prewarm_bytes: above 1 TiB";
  if (cfg->decommit_delay_ms > 3600u * 1000u) return "decommit_delay_ms: above one hour";
  if (cfg->large_decay_ms > 3600u * 1000u && cfg->large_decay_ms != UINT32_MAX)
    return "large_decay_ms: above one hour (UINT32_MAX: never)";
  if (cfg->background_purge != 0 && cfg->background_purge != 1)
    return "background_purge: not 0 or 1";
  const hk_os_hooks_t *h = cfg->os_hooks;
  if (h != NULL && (h->map == NULL) != (h->unmap == NULL))
    return "os_hooks: map and unmap must be given together";
  return NULL;
}

/* NULL is the defaults, as for hk_heap_create(NULL): valid. */
const char *hk_heap_config_check(const hk_heap_config_t *cfg) {
  if (cfg == NULL) return NULL;
  return hk__config_check(cfg);
}

void hk__policy_from_config(hk__policy_t *pol, const hk_heap_config_t *cfg) {
  memset(pol, 0, sizeof *pol);
  const char *name = cfg->name ? cfg->name : "heap";
  strncpy(pol->name, name, sizeof pol->name - 1);
  pol->profile = cfg->profile;
  pol->prewarm_bytes = cfg->prewarm_bytes;
  pol->prewarm_touch = cfg->prewarm_touch != 0;
  pol->decommit = cfg->decommit;
  pol->decommit_delay_ms = cfg->decommit_delay_ms;
  /* The prewarmed SuperSlabs are retained: mapping more than retention
   * keeps would only have them unmapped at the first malloc. */
  size_t prewarmed = (cfg->prewarm_bytes + HK_SS_SIZE - 1) / HK_SS_SIZE;
  pol->retain_superslabs = cfg->retain_superslabs > prewarmed ? cfg->retain_superslabs
                                                              : (uint32_t)prewarmed;
  pol->region_cache_slots = cfg->region_cache_slots;
  pol->region_cache_max_bytes = cfg->region_cache_max_bytes;
  pol->large_decay_ms = cfg->large_decay_ms;
  pol->max_bytes = cfg->max_bytes;
  pol->background_purge = cfg->background_purge != 0;
  /* SPEED pins the head slab of each class queue in each front, empty or
   * not (no pool round trip when a class drops to zero blocks and comes
   * back); the others give every empty slab back so SuperSlabs can empty
   * out. */
  pol->keep_one_slab = cfg->profile == HK_PROFILE_SPEED;
}
