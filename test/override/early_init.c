/* First allocations from constructors (priority 101, in a library this
 * program depends on and in the program itself) and from threads started in
 * a constructor; one of those threads is still running when main starts.
 * main checks every block and frees it on a different thread than the one
 * that allocated it. */
#define _GNU_SOURCE
#include "ovr_test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

extern void *ovr_early_lib_block;
extern void *ovr_early_lib_thread_block;

static void *ctor_block;
static pthread_t ctor_thread;
static atomic_int ctor_thread_go;

static void *long_thread(void *arg) {
  (void)arg;
  void *p = malloc(500);
  if (p == NULL) return NULL;
  ovr_fill(p, 500, 13);
  while (!ctor_thread_go) sched_yield(); /* outlives the constructors */
  void *q = realloc(p, 70000);
  if (q && !ovr_verify(q, 500, 13)) return NULL;
  return q;
}

__attribute__((constructor(101))) static void early_exe_ctor(void) {
  ctor_block = calloc(10, 10);
  if (ctor_block == NULL) abort();
  if (pthread_create(&ctor_thread, NULL, long_thread, NULL) != 0) abort();
}

int main(int argc, char **argv) {
  ovr_expect_hakmem_if_asked(argc, argv);
  OVR_CHECK(ovr_verify(ovr_early_lib_block, 100, 7));
  OVR_CHECK(ovr_verify(ovr_early_lib_thread_block, 3000, 11));
  const unsigned char *z = ctor_block;
  for (int i = 0; i < 100; i++) OVR_CHECK(z[i] == 0);
  ctor_thread_go = 1;
  void *res = NULL;
  OVR_CHECK(pthread_join(ctor_thread, &res) == 0);
  OVR_CHECK(res != NULL);
  free(ovr_early_lib_block);
  free(ovr_early_lib_thread_block);
  free(ctor_block);
  free(res);
  puts("early_init ok");
  return 0;
}
