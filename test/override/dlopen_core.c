/* libhakmem.so is built with the initial-exec TLS model (one pointer-sized
 * thread variable). Such a library can still be dlopen()ed because glibc
 * keeps a reserve of static TLS for it; this test proves that it works: the
 * library is loaded at run time, used from the main thread and from threads
 * created before and after the dlopen, with blocks freed across threads.
 * Usage: dlopen_core /path/to/libhakmem.so.0 */
#define _GNU_SOURCE
#include "ovr_test.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void *(*malloc_fn)(size_t);
typedef void (*free_fn)(void *);
typedef void *(*heap_of_fn)(const void *);
typedef size_t (*usable_fn)(const void *);

static malloc_fn hk_malloc_p;
static free_fn hk_free_p;
static heap_of_fn hk_heap_of_p;
static usable_fn hk_usable_p;

#define NT 4
#define NB 2000
static void *blocks[NT][NB];
static pthread_barrier_t loaded;

static void *thread_main(void *arg) {
  unsigned id = (unsigned)(uintptr_t)arg;
  if (id == 0) pthread_barrier_wait(&loaded); /* thread 0 predates the dlopen */
  uint64_t rng = id + 1;
  for (int i = 0; i < NB; i++) {
    size_t n = ovr_size(&rng);
    void *p = hk_malloc_p(n);
    if (p == NULL || hk_heap_of_p(p) == NULL || hk_usable_p(p) < n) return (void *)1;
    ovr_fill(p, n, id);
    if (!ovr_verify(p, n, id)) return (void *)2;
    if (i % 2) hk_free_p(p);
    else blocks[id][i] = p;
  }
  return NULL;
}

static void *get(void *h, const char *name) {
  void *f = dlsym(h, name);
  if (f == NULL) OVR_FAIL("dlsym(%s): %s", name, dlerror());
  return f;
}

int main(int argc, char **argv) {
  if (argc < 2) OVR_FAIL("usage: %s /path/to/libhakmem.so.0", argv[0]);
  pthread_barrier_init(&loaded, NULL, 2);
  pthread_t early;
  if (pthread_create(&early, NULL, thread_main, (void *)0) != 0) OVR_FAIL("pthread_create");

  void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) OVR_FAIL("dlopen(%s): %s", argv[1], dlerror());
  hk_malloc_p = (malloc_fn)get(h, "hk_malloc");
  hk_free_p = (free_fn)get(h, "hk_free");
  hk_heap_of_p = (heap_of_fn)get(h, "hk_heap_of");
  hk_usable_p = (usable_fn)get(h, "hk_usable_size");
  pthread_barrier_wait(&loaded);

  void *mine = hk_malloc_p(1000);
  OVR_CHECK(mine != NULL && hk_heap_of_p(mine) != NULL);
  void *libc_block = malloc(1000); /* glibc's: not a hakmem block */
  OVR_CHECK(hk_heap_of_p(libc_block) == NULL);
  free(libc_block);

  pthread_t th[NT];
  th[0] = early;
  for (uintptr_t i = 1; i < NT; i++)
    if (pthread_create(&th[i], NULL, thread_main, (void *)i) != 0) OVR_FAIL("pthread_create");
  for (int i = 0; i < NT; i++) {
    void *res;
    pthread_join(th[i], &res);
    if (res != NULL) OVR_FAIL("thread %d failed (%d)", i, (int)(uintptr_t)res);
  }
  /* The threads are gone; their blocks are freed here, by another thread. */
  for (int t = 0; t < NT; t++)
    for (int i = 0; i < NB; i += 2) hk_free_p(blocks[t][i]);
  hk_free_p(mine);

  /* fork after dlopen: the library's fork handlers run; the child allocates. */
  pid_t pid = fork();
  if (pid == 0) {
    void *p = hk_malloc_p(5000);
    _exit(p != NULL && hk_heap_of_p(p) != NULL ? 0 : 1);
  }
  int status;
  OVR_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
  OVR_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  OVR_CHECK(dlclose(h) == 0);
  puts("dlopen_core ok");
  return 0;
}
