/* A library the early_init program depends on. Under LD_PRELOAD the loader
 * runs this library's constructors before those of libhakmem_malloc.so
 * (preloaded objects are initialised after the program's own dependencies),
 * so the mallocs below can be the very first calls hakmem sees, from a
 * constructor and from a thread started inside one. */
#define _GNU_SOURCE
#include "ovr_test.h"

#include <pthread.h>

void *ovr_early_lib_block;
void *ovr_early_lib_thread_block;

static void *lib_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) free(malloc((size_t)i * 7));
  void *p = malloc(3000);
  if (p) ovr_fill(p, 3000, 11);
  return p;
}

__attribute__((constructor(101))) static void early_lib_ctor(void) {
  ovr_early_lib_block = malloc(100);
  if (ovr_early_lib_block == NULL) abort();
  ovr_fill(ovr_early_lib_block, 100, 7);
  pthread_t t;
  if (pthread_create(&t, NULL, lib_thread, NULL) != 0) abort();
  if (pthread_join(t, &ovr_early_lib_thread_block) != 0) abort();
  if (ovr_early_lib_thread_block == NULL) abort();
}
