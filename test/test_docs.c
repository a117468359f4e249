/* The docs state what the code does: docs/policies.md's table of defaults
 * per preset, parsed and compared cell by cell with hk_heap_config_preset()
 * (and, for the row the config does not hold, with the heap's behaviour). */
#include "test_util.h"

#ifndef HK_DOCS_DIR
#error "HK_DOCS_DIR: the docs/ directory of the source tree"
#endif

static char *read_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  if (buf != NULL) buf[n] = 0;
  fclose(f);
  return buf;
}

/* "2 MiB", "32", "0", "DONTNEED", "yes": the number a cell says. */
static long long cell_value(const char *cell) {
  while (*cell == ' ') cell++;
  if (strncmp(cell, "OFF", 3) == 0) return HK_DECOMMIT_OFF;
  if (strncmp(cell, "FREE", 4) == 0) return HK_DECOMMIT_FREE;
  if (strncmp(cell, "DONTNEED", 8) == 0) return HK_DECOMMIT_DONTNEED;
  if (strncmp(cell, "yes", 3) == 0) return 1;
  if (strncmp(cell, "no", 2) == 0) return 0;
  char *end;
  long long v = strtoll(cell, &end, 10);
  while (*end == ' ') end++;
  if (strncmp(end, "MiB", 3) == 0) v <<= 20;
  else if (strncmp(end, "KiB", 3) == 0) v <<= 10;
  return v;
}

/* Does a heap of this config keep a class's last slab when its last block
 * is freed? Observed: its SuperSlab stays non-empty. */
static int keeps_last_slab(const hk_heap_config_t *cfg) {
  hk_heap_config_t c = *cfg;
  c.prewarm_bytes = 0;
  hk_heap_t *h = hk_heap_create(&c);
  assert_non_null(h);
  void *p = hk_heap_malloc(h, 64);
  hk_free(p);
  hk_stats_t st = hkt_stats(h);
  hk_heap_destroy(h);
  return st.superslabs_empty == 0;
}

static long long config_value(const hk_heap_config_t *cfg, const char *field) {
  if (strcmp(field, "prewarm_bytes") == 0) return (long long)cfg->prewarm_bytes;
  if (strcmp(field, "prewarm_touch") == 0) return cfg->prewarm_touch;
  if (strcmp(field, "decommit") == 0) return cfg->decommit;
  if (strcmp(field, "decommit_delay_ms") == 0) return cfg->decommit_delay_ms;
  if (strcmp(field, "retain_superslabs") == 0) return cfg->retain_superslabs;
  if (strcmp(field, "region_cache_slots") == 0) return cfg->region_cache_slots;
  if (strcmp(field, "region_cache_max_bytes") == 0) return (long long)cfg->region_cache_max_bytes;
  if (strcmp(field, "large_decay_ms") == 0) return cfg->large_decay_ms;
  if (strcmp(field, "max_bytes") == 0) return (long long)cfg->max_bytes;
  if (strcmp(field, "background_purge") == 0) return cfg->background_purge;
  if (strncmp(field, "fronts keep last empty slab", 27) == 0) return keeps_last_slab(cfg);
  fail_msg("docs/policies.md: the defaults table has a row the test does not know: %s", field);
  return -1;
}

static void test_policy_defaults_table(void **state) {
  HKT_UNUSED(state);
  char *doc = read_file(HK_DOCS_DIR "/policies.md");
  assert_non_null(doc);
  char *table = strstr(doc, "| field | SPEED");
  if (table == NULL) fail_msg("docs/policies.md: no defaults table (\"| field | SPEED\")");
  const hk_profile_t profiles[3] = {HK_PROFILE_SPEED, HK_PROFILE_BALANCED, HK_PROFILE_LEAN};
  hk_heap_config_t cfg[3];
  for (int i = 0; i < 3; i++) assert_int_equal(hk_heap_config_preset(&cfg[i], profiles[i]), 0);
  int rows = 0;
  char *line = strchr(table, '\n') + 1; /* past the header */
  line = strchr(line, '\n') + 1;         /* past |---| */
  while (*line == '|') {
    char *next = strchr(line, '\n');
    if (next) *next = 0;
    /* | `field` | speed | balanced | lean | */
    char *cells[5] = {0};
    int n = 0;
    for (char *c = line + 1; n < 5 && (c = strchr(c, '|')) != NULL; c++) cells[n++] = c + 1;
    if (n < 4) fail_msg("docs/policies.md: short row: %s", line);
    char field[64] = {0};
    const char *f = line + 1;
    while (*f == ' ' || *f == '`') f++;
    size_t len = 0;
    while (f[len] && f[len] != '`' && f[len] != '|' && len + 1 < sizeof field) len++;
    memcpy(field, f, len);
    while (len > 0 && field[len - 1] == ' ') field[--len] = 0;
    for (int p = 0; p < 3; p++) {
      long long doc_v = cell_value(cells[p]), code_v = config_value(&cfg[p], field);
      if (doc_v != code_v)
        fail_msg("docs/policies.md: %s for profile %d says %lld, the code %lld", field, p, doc_v,
                 code_v);
    }
    rows++;
    if (!next) break;
    line = next + 1;
  }
  assert_true(rows >= 9);
  free(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_policy_defaults_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
