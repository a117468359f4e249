/* free()/realloc() of pointers hakmem never returned must abort with a
 * message naming the call, not corrupt the heap. Each case runs in a forked
 * child whose stderr goes to a pipe; the parent checks for SIGABRT and the
 * message. */
#define _GNU_SOURCE
#include "ovr_test.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char global_buf[64];

/* The pointer goes through a volatile so the compiler neither warns about
 * nor optimises away a free of a non-heap object: the call must happen. */
static void *launder(void *p) {
  void *volatile v = p;
  return v;
}

static void case_free_stack(void) {
  char buf[64];
  free(launder(buf));
}
static void case_free_global(void) { free(launder(global_buf)); }
static void case_realloc_stack(void) {
  char buf[64];
  void *r = realloc(launder(buf), 128);
  (void)r;
}
/* A foreign mapping whose whole 2 MiB window is foreign. */
static void case_free_mmap(void) {
  size_t win = (size_t)2 << 20;
  char *m = mmap(NULL, 2 * win, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) _exit(3);
  char *aligned = (char *)(((uintptr_t)m + win - 1) & ~(uintptr_t)(win - 1));
  free(launder(aligned + 64));
}

/* A large block's mapping is shorter than the 2 MiB window its header is
 * found by, so the kernel may place someone else's mapping in the rest of
 * the window. A pointer into that mapping must be rejected, whether the
 * large block is live or parked in the region cache. */
static char *foreign_in_window_of(const void *block) {
  size_t win = (size_t)2 << 20;
  char *base = (char *)((uintptr_t)block & ~(uintptr_t)(win - 1));
  char *want = base + win / 2;
  char *m = mmap(want, 4096, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (m != want) _exit(77); /* window not free here: case not applicable */
  return m;
}

static void case_free_next_to_live_large(void) {
  void *big = malloc(200000);
  free(launder(foreign_in_window_of(big) + 64));
}

static void case_free_next_to_cached_large(void) {
  void *big = malloc(200000);
  char *m = foreign_in_window_of(big);
  free(big);
  free(launder(m + 64));
}

static void case_double_free_large(void) {
  void *big = malloc(200000);
  volatile uintptr_t again = (uintptr_t)big; /* hides the reuse from -Wuse-after-free */
  free(big);
  free((void *)again);
}

typedef struct {
  const char *name;
  void (*fn)(void);
  const char *expect;
} case_t;

static const case_t cases[] = {
    {"free(stack)", case_free_stack, "hakmem: free(): invalid pointer"},
    {"free(global)", case_free_global, "hakmem: free(): invalid pointer"},
    {"realloc(stack)", case_realloc_stack, "hakmem: realloc(): invalid pointer"},
    {"free(foreign mmap)", case_free_mmap, "hakmem: free(): invalid pointer"},
    {"free(mmap by live large)", case_free_next_to_live_large, "hakmem: free(): invalid pointer"},
    {"free(mmap by cached large)", case_free_next_to_cached_large,
     "hakmem: free(): invalid pointer"},
    /* Reported as a double free while the block sits in the region cache,
     * as an invalid pointer once it is unmapped: either way, an abort. */
    {"double free(large)", case_double_free_large, "hakmem: free(): "},
};

static int run_case(const case_t *c) {
  int fds[2];
  if (pipe(fds) != 0) OVR_FAIL("pipe");
  pid_t pid = fork();
  if (pid < 0) OVR_FAIL("fork");
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* an expected abort needs no core file */
    dup2(fds[1], 2);
    close(fds[0]);
    c->fn();
    _exit(0); /* reached only if the bad pointer was accepted */
  }
  close(fds[1]);
  char out[4096];
  size_t len = 0;
  ssize_t r;
  while ((r = read(fds[0], out + len, sizeof out - 1 - len)) > 0) len += (size_t)r;
  out[len] = '\0';
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    printf("%-28s skipped: could not place a mapping there\n", c->name);
    return 1;
  }
  int ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(out, c->expect) != NULL;
  printf("%-28s %s", c->name, ok ? "aborted as expected: " : "WRONG: ");
  if (WIFSIGNALED(status)) printf("signal %d, ", WTERMSIG(status));
  else printf("exit %d, ", WEXITSTATUS(status));
  printf("stderr \"%.*s\"\n", (int)strcspn(out, "\n"), out);
  return ok;
}

int main(int argc, char **argv) {
  ovr_expect_hakmem_if_asked(argc, argv);
  int failed = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) failed += !run_case(&cases[i]);
  if (failed) OVR_FAIL("%d case(s) did not abort with the hakmem message", failed);
  return 0;
}
