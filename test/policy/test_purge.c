/* Idle purge: the purger thread gives back what a heap's delays release
 * while no thread calls hakmem.
 *
 * The policy logic runs on a fake clock (hk_os_hooks_t.now_ms) over the
 * fake OS: nothing is given back before its deadline however long the
 * test really waits, and it is given back once the clock passes it (the
 * purger sleeps on the real clock for the difference, so the test waits
 * for a bounded real time). One test reads real RSS with generous bounds.
 * The thread's life (none without such a heap, started and stopped with
 * them, re-created after fork) is checked in a fresh process each, by
 * counting /proc/self/task. */
#include "policy_util.h"

#include "../test_util.h"

#include <dirent.h>
#include <stdatomic.h>
#include <sys/wait.h>

static _Atomic uint64_t fake_now = 1000;
static uint64_t fake_clock(void *arg) {
  (void)arg;
  return atomic_load(&fake_now);
}

/* f->cfg on f's fake OS and the fake clock, purged in the background. */
static hk_heap_t *purged_heap(fixture_t *f) {
  f->cfg.background_purge = 1;
  f->hooks = fake_hooks(&f->fo);
  f->hooks.now_ms = fake_clock;
  f->cfg.os_hooks = &f->hooks;
  hk_heap_t *h = hk_heap_create(&f->cfg);
  if (h == NULL) fail_msg("hk_heap_create failed (errno %d)", errno);
  return h;
}

/* Waits up to ms of real time for the heap's figure to reach want. */
#define WAIT_FOR(h, field, cmp, want, ms)                                      \
  do {                                                                         \
    for (unsigned waited_ = 0; !(stats_of(h).field cmp(want)) && waited_ < (ms); \
         waited_ += 20)                                                        \
      sleep_ms(20);                                                            \
  } while (0)

static size_t tasks(void) {
  DIR *d = opendir("/proc/self/task");
  if (d == NULL) return 0;
  size_t n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static size_t rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, res = 0;
  if (f != NULL) {
    if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
    fclose(f);
  }
  return (size_t)res * PAGE;
}

/* ---- deadlines on the fake clock ------------------------------------------------- */

static void test_empty_superslab_decommitted_on_time(void **state) {
  (void)state;
  fixture_t f;
  fx_preset(&f, HK_PROFILE_LEAN);
  f.cfg.decommit_delay_ms = 300;
  f.cfg.retain_superslabs = 4;
  atomic_store(&fake_now, 1000);
  hk_heap_t *h = purged_heap(&f);
  size_t per = blocks_per_superslab(1024), n = 2 * per;
  void **blk = calloc(n, sizeof *blk);
  assert_non_null(blk);
  alloc_n(h, 1024, n, blk);
  free_n(blk, n);
  assert_int_equal(stats_of(h).superslabs_empty, 2);

  sleep_ms(400); /* real time passes, the heap's clock does not */
  assert_int_equal(stats_of(h).superslabs_decommitted, 0);
  assert_int_equal(f.fo.advises, 0);

  atomic_store(&fake_now, 1299); /* one ms before the deadline */
  sleep_ms(400);
  assert_int_equal(stats_of(h).superslabs_decommitted, 0);

  atomic_store(&fake_now, 1300);
  WAIT_FOR(h, superslabs_decommitted, ==, 2, 10000);
  hk_stats_t st = stats_of(h);
  assert_int_equal(st.superslabs_decommitted, 2);
  assert_true(f.fo.n_advice >= 2);
  assert_int_equal(f.fo.advice[0], HK_ADVISE_DONTNEED);
  assert_true(st.committed_bytes <= 2 * HEADER);
  free(blk);
  hk_heap_destroy(h);
}

static void test_large_runs_decay_on_time(void **state) {
  (void)state;
  fixture_t f;
  fx_preset(&f, HK_PROFILE_LEAN);
  f.cfg.large_decay_ms = 100;
  f.cfg.region_cache_max_bytes = 64 * MIB;
  atomic_store(&fake_now, 5000);
  hk_heap_t *h = purged_heap(&f);
  void *p[8];
  for (int i = 0; i < 8; i++) {
    p[i] = hk_heap_malloc(h, MIB);
    assert_non_null(p[i]);
    memset(p[i], 1, MIB);
  }
  for (int i = 0; i < 8; i++) hk_free(p[i]);
  size_t kept = stats_of(h).large_retained_bytes;
  assert_true(kept >= 4 * MIB);
  sleep_ms(300);
  assert_int_equal(stats_of(h).large_retained_bytes, kept); /* the clock stood still */

  /* A run goes back at the second decay tick after its free: within two
   * delays of the heap's clock. */
  atomic_store(&fake_now, 5100);
  sleep_ms(300);
  atomic_store(&fake_now, 5200);
  WAIT_FOR(h, large_retained_bytes, ==, 0, 10000);
  hk_stats_t st = stats_of(h);
  print_message("retained %zu of %zu\n", st.large_retained_bytes, kept);
  assert_int_equal(st.large_retained_bytes, 0);
  assert_true(st.large_released_bytes >= kept);
  hk_heap_destroy(h);
}

/* Free slabs of a SuperSlab that stays in use (one block keeps it) are
 * decommitted one by one once free for the delay. */
static void test_free_slabs_decommitted_on_time(void **state) {
  (void)state;
  fixture_t f;
  fx_preset(&f, HK_PROFILE_LEAN);
  f.cfg.decommit_delay_ms = 200;
  atomic_store(&fake_now, 9000);
  hk_heap_t *h = purged_heap(&f);
  size_t per = blocks_per_superslab(1024);
  void **blk = calloc(per, sizeof *blk);
  assert_non_null(blk);
  alloc_n(h, 1024, per, blk);
  free_n(blk + 1, per - 1); /* blk[0] keeps the SuperSlab in use */
  size_t committed = stats_of(h).committed_bytes;
  atomic_store(&fake_now, 9200);
  WAIT_FOR(h, committed_bytes, <, committed - 16 * MIB, 10000);
  assert_true(stats_of(h).committed_bytes < committed - 16 * MIB);
  hk_free(blk[0]);
  free(blk);
  hk_heap_destroy(h);
}

/* ---- real memory ----------------------------------------------------------------- */

/* A SPEED heap (its defaults: retain 32 SuperSlabs, decommit after 1 s):
 * a burst, everything freed, then no call for 3 s. */
static void test_speed_burst_rss_returns(void **state) {
  (void)state;
  hk_heap_t *h = hk_heap_create(NULL);
  assert_non_null(h);
  size_t start = rss_bytes();
  enum { N = 48 * 1024 };
  void **blk = malloc(N * sizeof *blk);
  assert_non_null(blk);
  for (size_t i = 0; i < N; i++) {
    blk[i] = hk_heap_malloc(h, 1000 + (i % 4) * 16);
    assert_non_null(blk[i]);
    memset(blk[i], 7, 1000);
  }
  for (size_t i = 0; i < N; i++) hk_free(blk[i]);
  sleep_ms(3000);
  hk_stats_t st = stats_of(h);
  /* The thread's front keeps its one pinned slab per class: 4 here. */
  assert_true(st.committed_bytes <= st.superslabs * 16384 + 4 * 65536 + 2 * MIB);
  if (!HK_TEST_EMULATED) {
    size_t end = rss_bytes();
    if (end > start + 8 * MIB)
      fail_msg("RSS %zu KiB after the idle delay, %zu KiB before the burst", end >> 10,
               start >> 10);
  }
  free(blk);
  hk_heap_destroy(h);
}

/* ---- the thread's life, each in a fresh process ---------------------------------- */

#define CHECK(cond, code)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "child: %s failed (tasks %zu)\n", #cond, tasks());       \
      return code;                                                             \
    }                                                                          \
  } while (0)

static int child_default_only(void) {
  void *p[2000];
  for (int r = 0; r < 20; r++) {
    for (int i = 0; i < 2000; i++) p[i] = hk_malloc((size_t)(i * 37 % 70000) + 1);
    for (int i = 0; i < 2000; i++) hk_free(p[i]);
  }
  hk_trim();
  sleep_ms(50);
  CHECK(tasks() == 1, 10);
  hk_heap_config_t c;
  hk_heap_config_preset(&c, HK_PROFILE_BALANCED);
  hk_heap_t *b = hk_heap_create(&c);
  CHECK(b != NULL && tasks() == 1, 11); /* BALANCED: no background purge */
  hk_heap_t *s1 = hk_heap_create(NULL), *s2 = hk_heap_create(NULL);
  CHECK(s1 != NULL && s2 != NULL && tasks() == 2, 12);
  hk_heap_destroy(s1);
  CHECK(tasks() == 2, 13);
  hk_heap_destroy(s2);
  CHECK(tasks() == 1, 14); /* joined with the last heap that needed it */
  hk_heap_destroy(b);
  return 0;
}

/* A heap purged in the background, fork, and in the child: the thread is
 * gone, comes back with the child's first allocation, and purges there. */
static int child_fork(void) {
  hk_heap_config_t c;
  hk_heap_config_preset(&c, HK_PROFILE_LEAN);
  c.decommit_delay_ms = 100;
  c.retain_superslabs = 8;
  hk_heap_t *h = hk_heap_create(&c);
  CHECK(h != NULL && tasks() == 2, 20);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return 21;
  if (pid == 0) {
    if (tasks() != 1) _exit(22);
    enum { N = 8192 };
    static void *blk[N];
    for (int i = 0; i < N; i++) {
      blk[i] = hk_heap_malloc(h, 1024);
      if (blk[i] == NULL) _exit(23);
      memset(blk[i], 3, 1024);
    }
    if (tasks() != 2) _exit(24);
    for (int i = 0; i < N; i++) hk_free(blk[i]);
    hk_stats_t st;
    for (int i = 0; i < 100; i++) {
      sleep_ms(20);
      hk_heap_stats(h, &st);
      if (st.superslabs_empty > 0 && st.superslabs_decommitted == st.superslabs_empty) break;
    }
    if (st.superslabs_empty == 0 || st.superslabs_decommitted != st.superslabs_empty) _exit(25);
    _exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 26;
  if (!WIFEXITED(status)) return 27;
  if (WEXITSTATUS(status) != 0) return WEXITSTATUS(status);
  CHECK(tasks() == 2, 28); /* the parent's thread lives on */
  hk_heap_destroy(h);
  CHECK(tasks() == 1, 29);
  return 0;
}

static void run_child(const char *mode) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    execl("/proc/self/exe", "test_purge", "--child", mode, (char *)NULL);
    _exit(5);
  }
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("child %s: status %#x", mode, status);
}

static void test_no_thread_without_such_heap(void **state) {
  (void)state;
  HKT_EMULATED_SKIP("a child cannot exec the test binary again");
  run_child("default");
}

static void test_fork_with_running_purger(void **state) {
  (void)state;
  HKT_EMULATED_SKIP("a child cannot exec the test binary again; fork while threads run");
  run_child("fork");
}

static void test_config_field(void **state) {
  (void)state;
  hk_heap_config_t c;
  for (int p = HK_PROFILE_SPEED; p <= HK_PROFILE_LEAN; p++) {
    assert_int_equal(hk_heap_config_preset(&c, (hk_profile_t)p), 0);
    assert_int_equal(c.background_purge, p == HK_PROFILE_BALANCED ? 0 : 1);
  }
  c.background_purge = 2;
  assert_non_null(hk_heap_config_check(&c));
  errno = 0;
  assert_null(hk_heap_create(&c));
  assert_int_equal(errno, EINVAL);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--child") == 0) {
    if (strcmp(argv[2], "default") == 0) return child_default_only();
    if (strcmp(argv[2], "fork") == 0) return child_fork();
    return 2;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_config_field),
      cmocka_unit_test(test_no_thread_without_such_heap),
      cmocka_unit_test(test_fork_with_running_purger),
      cmocka_unit_test(test_empty_superslab_decommitted_on_time),
      cmocka_unit_test(test_free_slabs_decommitted_on_time),
      cmocka_unit_test(test_large_runs_decay_on_time),
      cmocka_unit_test(test_speed_burst_rss_returns),
  };
  return cmocka_run_group_tests_name("purge", tests, NULL, NULL);
}
