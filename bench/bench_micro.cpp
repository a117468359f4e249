// Google Benchmark microbenchmarks of one allocator, reached through shim.c.
// bench_micro_hk calls hakmem directly; bench_micro calls malloc, so
//   LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 ./bench_micro
// measures mimalloc. Use --benchmark_repetitions=N for medians/CV.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

#include "shim.h"

namespace {

void *must(void *p) {
  if (!p) std::abort();  // a failed allocation would make the timing meaningless
  return p;
}

// One malloc+free pair per iteration: the fast path of a size class.
void BM_MallocFree(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    void *p = must(shim_alloc(size));
    benchmark::DoNotOptimize(p);
    shim_free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MallocFree)
    ->Arg(16)->Arg(32)->Arg(48)->Arg(64)->Arg(96)->Arg(128)->Arg(192)->Arg(256)
    ->Arg(384)->Arg(512)->Arg(768)->Arg(1024)
    ->Arg(2048)->Arg(4096)->Arg(8192)->Arg(16384)->Arg(32768)->Arg(65536)
    ->Arg(131072)->Arg(262144)->Arg(1048576)->Arg(4194304);

// N allocations, then N frees in allocation order: refill and flush paths.
void BM_Batch(benchmark::State &state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const size_t size = static_cast<size_t>(state.range(1));
  std::vector<void *> v(n);
  for (auto _ : state) {
    for (size_t i = 0; i < n; i++) {
      v[i] = must(shim_alloc(size));
      *static_cast<volatile char *>(v[i]) = 1;
    }
    benchmark::ClobberMemory();
    for (size_t i = 0; i < n; i++) shim_free(v[i]);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(2 * n));
}
BENCHMARK(BM_Batch)->ArgsProduct({{100, 1000, 10000}, {64, 512, 4096}});

// realloc from 16 bytes up to range(0) bytes, growing by half each step.
void BM_ReallocChain(benchmark::State &state) {
  const size_t limit = static_cast<size_t>(state.range(0));
  int64_t steps = 0;
  for (auto _ : state) {
    size_t size = 16;
    void *p = must(shim_alloc(size));
    static_cast<char *>(p)[0] = 1;
    while (size < limit) {
      size += size / 2;
      p = must(shim_realloc(p, size));
      static_cast<char *>(p)[size - 1] = 1;
      steps++;
    }
    benchmark::DoNotOptimize(p);
    shim_free(p);
  }
  state.SetItemsProcessed(steps);
}
BENCHMARK(BM_ReallocChain)->Arg(1024)->Arg(64 << 10)->Arg(1 << 20);

// aligned_alloc(range(0), 64 rounded up to the alignment) + free.
void BM_Aligned(benchmark::State &state) {
  const size_t align = static_cast<size_t>(state.range(0));
  const size_t size = align >= 64 ? align : 64;
  for (auto _ : state) {
    void *p = must(shim_aligned_alloc(align, size));
    benchmark::DoNotOptimize(p);
    shim_free(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Aligned)->Arg(16)->Arg(64)->Arg(256)->Arg(4096)->Arg(65536);

// Heap lifecycle: create, a few allocations, destroy (hakmem build only).
void BM_HeapCreateDestroy(benchmark::State &state) {
  for (auto _ : state) {
    void *h = must(shim_heap_create());
    for (int i = 0; i < 8; i++) benchmark::DoNotOptimize(must(shim_heap_alloc(h, 64)));
    shim_heap_destroy(h);
  }
  state.SetItemsProcessed(state.iterations());
}

// Blocks allocated here are freed by a helper thread: the remote-free path.
// The ring is single-producer/single-consumer; a full ring makes the
// producer spin, which is part of what is measured.
struct Ring {
  static constexpr size_t kCap = 1024;
  alignas(64) std::atomic<size_t> head{0};
  alignas(64) std::atomic<size_t> tail{0};
  alignas(64) void *buf[kCap];
  alignas(64) std::atomic<bool> stop{false};
};

void BM_CrossThreadFree(benchmark::State &state) {
  const size_t size = static_cast<size_t>(state.range(0));
  Ring ring;
  std::thread consumer([&ring] {
    for (;;) {
      size_t h = ring.head.load(std::memory_order_relaxed);
      size_t t = ring.tail.load(std::memory_order_acquire);
      if (h == t) {
        if (ring.stop.load(std::memory_order_acquire) &&
            ring.tail.load(std::memory_order_acquire) == h)
          return;
        std::this_thread::yield();
        continue;
      }
      for (; h != t; h++) shim_free(ring.buf[h % Ring::kCap]);
      ring.head.store(h, std::memory_order_release);
    }
  });
  for (auto _ : state) {
    void *p = must(shim_alloc(size));
    *static_cast<volatile char *>(p) = 1;
    size_t t = ring.tail.load(std::memory_order_relaxed);
    while (t - ring.head.load(std::memory_order_acquire) >= Ring::kCap) std::this_thread::yield();
    ring.buf[t % Ring::kCap] = p;
    ring.tail.store(t + 1, std::memory_order_release);
  }
  ring.stop.store(true, std::memory_order_release);
  consumer.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CrossThreadFree)->Arg(64)->Arg(1024)->UseRealTime();

}  // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("allocator_build", shim_name());
  if (shim_has_heaps()) benchmark::RegisterBenchmark("BM_HeapCreateDestroy", BM_HeapCreateDestroy);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
