/* Policy decisions: every choice a pool makes from its heap's policy, one
 * function each, named after the decision. They read the policy and the
 * figures they are given, nothing else; superslab/ carries them out. The
 * defaults and what each field means are in policy/config.c and
 * docs/policies.md. */
#include "internal.h"

/* Budget: may the heap map `more` bytes beside the `mapped` it has? */
bool hk__policy_within_budget(const hk__policy_t *p, size_t mapped, size_t more) {
  return p->max_bytes == 0 || (more <= p->max_bytes && mapped <= p->max_bytes - more);
}

/* Retention: is a pool that keeps `retained` empty SuperSlabs over its
 * allowance (then the oldest goes)? */
bool hk__policy_retains_too_many(const hk__policy_t *p, size_t retained) {
  return retained > p->retain_superslabs;
}

/* Decommit: is an empty SuperSlab empty since `since_ms` due now? Never
 * under HK_DECOMMIT_OFF; at once with no delay. */
bool hk__policy_decommit_due(const hk__policy_t *p, uint64_t since_ms, uint64_t now_ms) {
  if (p->decommit == HK_DECOMMIT_OFF) return false;
  return p->decommit_delay_ms == 0 || now_ms - since_ms >= p->decommit_delay_ms;
}

/* How hk_heap_trim gives pages back: the heap's way, DONTNEED if it has none. */
hk_decommit_t hk__policy_trim_advice(const hk__policy_t *p) {
  return p->decommit == HK_DECOMMIT_OFF ? HK_DECOMMIT_DONTNEED : p->decommit;
}

/* Region cache: may a freed large region of `size` bytes be kept? */
bool hk__policy_region_cacheable(const hk__policy_t *p, size_t size) {
  return p->region_cache_slots > 0 && size <= p->region_cache_max_bytes;
}

/* ...and is there room for it beside n regions of `bytes` in all (else
 * the oldest go first)? */
bool hk__policy_region_room(const hk__policy_t *p, uint32_t n, size_t bytes, size_t size) {
  return n < p->region_cache_slots && bytes + size <= p->region_cache_max_bytes;
}

/* Prewarm: how many SuperSlabs a new heap maps up front. */
size_t hk__policy_prewarm_superslabs(const hk__policy_t *p) {
  return (p->prewarm_bytes + HK_SS_SIZE - 1) / HK_SS_SIZE;
}

/* Large areas: do freed runs go back by age at all... */
bool hk__policy_large_decays(const hk__policy_t *p) { return p->large_decay_ms != UINT32_MAX; }

/* ...and is a decay tick due, the last one at last_ms? (A run goes back
 * at the second tick after its free: between one and two delays.) */
bool hk__policy_large_tick_due(const hk__policy_t *p, uint64_t last_ms, uint64_t now_ms) {
  return now_ms - last_ms >= p->large_decay_ms;
}
