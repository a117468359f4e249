/* Smoke test of an installed hakmem: default heap, a budgeted LEAN heap,
 * statistics and the version check. Exits 0 when every check holds. Also
 * compiled by .ci/run with only `pkg-config --cflags --libs hakmem`. */
#include <hakmem/hakmem.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
              #cond);                                                 \
      failures++;                                                     \
    }                                                                 \
  } while (0)

static void check_default_heap(void) {
  char *p = hk_malloc(100);
  CHECK(p != NULL);
  if (p) {
    memset(p, 0xab, 100);
    CHECK(hk_usable_size(p) >= 100);
    CHECK(((uintptr_t)p % HK_MIN_ALIGN) == 0);
    CHECK(hk_heap_of(p) == hk_heap_default());
  }
  p = hk_realloc(p, 100000); /* moves to a large block */
  CHECK(p != NULL);
  hk_free(p);

  void *z = hk_calloc(16, 64);
  CHECK(z != NULL);
  hk_free(z);
}

static void check_budgeted_heap(void) {
  hk_heap_config_t cfg;
  CHECK(hk_heap_config_preset(&cfg, HK_PROFILE_LEAN) == 0);
  cfg.name = "package-test";
  cfg.max_bytes = (size_t)8 << 20;
  CHECK(hk_heap_config_check(&cfg) == NULL);

  hk_heap_t *heap = hk_heap_create(&cfg);
  CHECK(heap != NULL);
  if (!heap)
    return;

  void *small = hk_heap_malloc(heap, 48);
  void *mid = hk_heap_malloc(heap, 20000);
  CHECK(small != NULL && mid != NULL);
  CHECK(hk_heap_of(small) == heap);

  /* A request beyond the budget is refused, not served. */
  errno = 0;
  void *huge = hk_heap_malloc(heap, (size_t)64 << 20);
  CHECK(huge == NULL && errno == ENOMEM);

  hk_stats_t st;
  CHECK(hk_heap_stats(heap, &st) == 0);
  CHECK(st.live_bytes >= 48 + 20000);
  CHECK(st.mapped_bytes <= cfg.max_bytes);
  CHECK(hk_heap_stats_print(heap, stdout) == 0);

  hk_free(small);
  hk_free(mid);
  hk_heap_destroy(heap);
}

int main(void) {
  printf("hakmem %s (header %s)\n", hk_version(), HK_VERSION_STRING);
  CHECK(strcmp(hk_version(), HK_VERSION_STRING) == 0);
  check_default_heap();
  check_budgeted_heap();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  puts("package test: OK");
  return 0;
}
