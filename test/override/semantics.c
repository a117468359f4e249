/* The malloc family's corner cases, as docs/override.md states them. Built
 * plainly (run under LD_PRELOAD --hakmem) and linked with the override. */
#define _GNU_SOURCE
#include "ovr_test.h"

#include <errno.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

/* Sizes and alignments pass through volatiles so the compiler neither folds
 * the calls nor warns about the deliberately absurd arguments. */
static volatile size_t huge = SIZE_MAX;
static volatile size_t half = SIZE_MAX / 2 + 2;

static size_t vz(size_t v) {
  volatile size_t x = v;
  return x;
}

static void check_aligned(void *p, size_t align, size_t size) {
  OVR_CHECK(p != NULL);
  if (((uintptr_t)p & (align - 1)) != 0) OVR_FAIL("%p not aligned to %zu", p, align);
  OVR_CHECK(malloc_usable_size(p) >= size);
  memset(p, 0xab, malloc_usable_size(p)); /* all usable bytes are writable */
  free(p);
}

static void test_malloc_free(void) {
  void *a = malloc(vz(0)), *b = malloc(vz(0));
  OVR_CHECK(a != NULL && b != NULL && a != b);
  free(a);
  free(b);
  free(NULL);
  errno = 0;
  OVR_CHECK(malloc(huge) == NULL && errno == ENOMEM);
  errno = 0;
  OVR_CHECK(malloc(half) == NULL && errno == ENOMEM);
  OVR_CHECK(malloc_usable_size(NULL) == 0);
  for (size_t n = 1; n < (4u << 20); n = n * 3 + 1) {
    void *p = malloc(n);
    OVR_CHECK(p != NULL && ((uintptr_t)p & 15) == 0 && malloc_usable_size(p) >= n);
    free(p);
  }
}

static void test_calloc(void) {
  errno = 0;
  OVR_CHECK(calloc(huge / 2, vz(4)) == NULL && errno == ENOMEM);
  /* Recycled memory must come back zeroed. */
  for (size_t n = 16; n <= (512u << 10); n *= 4) {
    unsigned char *p = malloc(n);
    OVR_CHECK(p != NULL);
    memset(p, 0xff, n);
    free(p);
    unsigned char *q = calloc(1, n);
    OVR_CHECK(q != NULL);
    for (size_t i = 0; i < n; i++)
      if (q[i]) OVR_FAIL("calloc(%zu) byte %zu not zero", n, i);
    free(q);
  }
}

static void test_realloc(void) {
  char *p = realloc(NULL, vz(100));
  OVR_CHECK(p != NULL);
  ovr_fill(p, 100, 1);
  p = realloc(p, vz(100000));
  OVR_CHECK(p != NULL && ovr_verify(p, 100, 1));
  p = realloc(p, vz(10));
  OVR_CHECK(p != NULL && ovr_verify(p, 10, 1));
  errno = 0;
  OVR_CHECK(realloc(p, huge) == NULL && errno == ENOMEM);
  OVR_CHECK(ovr_verify(p, 10, 1)); /* failed realloc leaves p alone */
  OVR_CHECK(realloc(p, vz(0)) == NULL); /* frees p, like glibc */

  char *q = malloc(64);
  OVR_CHECK(q != NULL);
  ovr_fill(q, 64, 2);
  errno = 0;
  OVR_CHECK(reallocarray(q, huge, vz(2)) == NULL && errno == ENOMEM);
  OVR_CHECK(ovr_verify(q, 64, 2));
  q = reallocarray(q, vz(100), vz(10));
  OVR_CHECK(q != NULL && ovr_verify(q, 64, 2) && malloc_usable_size(q) >= 1000);
  free(q);
}

/* The largest alignment to try: 1 GiB (HK_MAX_ALIGN), or less under an
 * address-space limit (CI runs the suite under ulimit -v 1000000), where a
 * block aligned to A needs about A of address space. */
static size_t max_align(void) {
  struct rlimit rl;
  size_t a = (size_t)1 << 30;
  if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    while (a > ((size_t)1 << 20) && a > (size_t)rl.rlim_cur / 8) a >>= 1;
  return a;
}

static void test_posix_memalign(void) {
  static const size_t bad[] = {0, 1, 2, 4, 24, 48, 1000, (size_t)2 << 30, (size_t)1 << 40};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    void *out = (void *)0x1234;
    int rc = posix_memalign(&out, vz(bad[i]), 16);
    if (rc != EINVAL || out != (void *)0x1234)
      OVR_FAIL("posix_memalign(align %zu) gave %d, out %p", bad[i], rc, out);
  }
  void *out = (void *)0x1234;
  OVR_CHECK(posix_memalign(&out, 64, huge) == ENOMEM && out == (void *)0x1234);
  for (size_t a = sizeof(void *); a <= max_align(); a *= 2) {
    for (size_t n = 0; n < 300000; n = n * 7 + 13) {
      void *p = NULL;
      OVR_CHECK(posix_memalign(&p, a, n) == 0);
      check_aligned(p, a, n);
    }
  }
}

static void test_aligned_alloc(void) {
  static const size_t bad[] = {0, 3, 24, 1000, (size_t)2 << 30};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    errno = 0;
    void *p = aligned_alloc(vz(bad[i]), 64);
    if (p != NULL || errno != EINVAL) OVR_FAIL("aligned_alloc(%zu) accepted", bad[i]);
  }
  for (size_t a = 1; a <= max_align(); a *= 2) {
    check_aligned(aligned_alloc(a, vz(a * 3)), a, a * 3);
    check_aligned(aligned_alloc(a, vz(5)), a, 5); /* size need not be a multiple */
  }
}

static void test_memalign_valloc(void) {
  size_t ps = (size_t)sysconf(_SC_PAGESIZE);
  check_aligned(memalign(vz(1), 10), 16, 10);
  check_aligned(memalign(vz(8), 10), 8, 10);
  check_aligned(memalign(vz(24), 10), 32, 10);  /* rounded up to a power of two */
  check_aligned(memalign(vz(3000), 10), 4096, 10);
  check_aligned(memalign(vz((size_t)1 << 20), 100), (size_t)1 << 20, 100);
  check_aligned(memalign(vz((size_t)2 << 20), 100), (size_t)2 << 20, 100); /* huge pages */
  check_aligned(memalign(vz(max_align()), 100), max_align(), 100);
  errno = 0;
  OVR_CHECK(memalign(vz((size_t)2 << 30), 10) == NULL && errno == EINVAL);
  check_aligned(valloc(vz(1)), ps, 1);
  check_aligned(valloc(vz(3 * ps + 1)), ps, 3 * ps + 1);
  void *p = pvalloc(vz(1));
  OVR_CHECK(malloc_usable_size(p) >= ps);
  check_aligned(p, ps, ps);
  p = pvalloc(vz(ps + 1));
  OVR_CHECK(malloc_usable_size(p) >= 2 * ps);
  check_aligned(p, ps, 2 * ps);
  p = pvalloc(vz(0));
  check_aligned(p, ps, ps);
  errno = 0;
  OVR_CHECK(pvalloc(huge) == NULL && errno == ENOMEM);
}

/* The glibc-internal names and malloc_trim must reach the same allocator. */
static void test_aliases(int want_hakmem) {
  void *(*libc_malloc)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__libc_malloc");
  void (*libc_free)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "__libc_free");
  OVR_CHECK(libc_malloc != NULL && libc_free != NULL);
  void *p = libc_malloc(77);
  OVR_CHECK(p != NULL);
  if (want_hakmem) {
    void *(*heap_of)(const void *) = (void *(*)(const void *))dlsym(RTLD_DEFAULT, "hk_heap_of");
    OVR_CHECK(heap_of != NULL && heap_of(p) != NULL);
  }
  free(p);
  p = malloc(77);
  libc_free(p);
  int r = malloc_trim(0);
  OVR_CHECK(r == 0 || r == 1);
}

/* C23's sized frees: Debian 12's glibc has none, hakmem exports both. */
void free_sized(void *p, size_t size) __attribute__((weak));
void free_aligned_sized(void *p, size_t alignment, size_t size) __attribute__((weak));

/* glibc's introspection calls report hakmem's heaps under the preload. */
static void test_introspection(int want_hakmem) {
  OVR_CHECK(mallopt(M_MXFAST, 0) == 1 || !want_hakmem);
  if (!want_hakmem) return;
  OVR_CHECK(mallopt(12345, 1) == 1); /* unknown: accepted, as glibc does */
  struct mallinfo2 before = mallinfo2();
  enum { N = 1000 };
  static void *p[N];
  for (int i = 0; i < N; i++) OVR_CHECK((p[i] = malloc(10000)) != NULL);
  struct mallinfo2 during = mallinfo2();
  OVR_CHECK(during.uordblks >= before.uordblks + N * 10000);
  OVR_CHECK(during.arena + during.hblkhd >= during.uordblks);
  void *big = malloc((size_t)100 << 20);
  OVR_CHECK(big != NULL);
  OVR_CHECK(mallinfo2().hblkhd >= ((size_t)100 << 20) && mallinfo2().hblks >= 1);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  OVR_CHECK(mallinfo().uordblks > 0); /* glibc deprecates it; programs still call it */
#pragma GCC diagnostic pop
  free(big);
  for (int i = 0; i < N; i++) free_sized(p[i], 10000);
  OVR_CHECK(mallinfo2().uordblks < during.uordblks);
  char *q = aligned_alloc(4096, 5000);
  free_aligned_sized(q, 4096, 5000);
  FILE *f = tmpfile();
  OVR_CHECK(f != NULL);
  OVR_CHECK(malloc_info(0, f) == 0);
  OVR_CHECK(malloc_info(1, f) == EINVAL);
  rewind(f);
  char buf[4096];
  size_t got = fread(buf, 1, sizeof buf - 1, f);
  buf[got] = 0;
  OVR_CHECK(strncmp(buf, "<malloc version=\"1\">\n<heap nr=\"0\">", 30) == 0);
  fclose(f);
  malloc_stats(); /* glibc's format, on stderr */
}

int main(int argc, char **argv) {
  ovr_expect_hakmem_if_asked(argc, argv);
  int want_hakmem = argc > 1 && strcmp(argv[1], "--hakmem") == 0;
  test_malloc_free();
  test_calloc();
  test_realloc();
  test_posix_memalign();
  test_aligned_alloc();
  test_memalign_valloc();
  test_aliases(want_hakmem);
  test_introspection(want_hakmem);
  puts("semantics ok");
  return 0;
}
