// C++ operator new/delete under the override: every form must reach hakmem
// (when --hakmem is given), aligned new must honour the alignment, and the
// failure paths must behave as the standard says: new_handler loop, then
// std::bad_alloc; nothrow new returns nullptr.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#define CHECK(c)                                                       \
  do {                                                                 \
    if (!(c)) {                                                        \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #c); \
      std::exit(1);                                                    \
    }                                                                  \
  } while (0)

using heap_of_fn = void *(*)(const void *);
static heap_of_fn heap_of;

static void owned(const void *p) {
  if (heap_of) CHECK(heap_of(p) != nullptr);
}

struct alignas(64) A64 { char c[100]; };
struct alignas(4096) A4K { char c[10]; };

static int handler_calls;
static void handler_then_give_up() {
  handler_calls++;
  std::set_new_handler(nullptr); // next failure throws std::bad_alloc
}

// Sizes pass through a volatile so the compiler cannot fold the calls.
static volatile std::size_t huge = SIZE_MAX / 4;

int main(int argc, char **argv) {
  if (argc > 1 && std::strcmp(argv[1], "--hakmem") == 0) {
    heap_of = reinterpret_cast<heap_of_fn>(dlsym(RTLD_DEFAULT, "hk_heap_of"));
    CHECK(heap_of != nullptr);
  }

  int *i = new int(7);
  owned(i);
  delete i;
  char *arr = new char[1000];
  owned(arr);
  delete[] arr;
  char *zero = new char[0];
  CHECK(zero != nullptr);
  delete[] zero;

  A64 *a = new A64;
  CHECK(reinterpret_cast<std::uintptr_t>(a) % 64 == 0);
  owned(a);
  delete a;
  A4K *b = new A4K[3];
  CHECK(reinterpret_cast<std::uintptr_t>(b) % 4096 == 0);
  owned(b);
  delete[] b;
  A4K *c = new (std::nothrow) A4K;
  CHECK(c != nullptr && reinterpret_cast<std::uintptr_t>(c) % 4096 == 0);
  delete c;

  // Containers: many sized deletes of many sizes.
  std::map<int, std::string> m;
  std::vector<std::unique_ptr<std::vector<int>>> v;
  for (int k = 0; k < 100000; k++) {
    m[k * 7 % 100003] = std::string(static_cast<std::size_t>(k % 300), 'x');
    if (k % 100 == 0) v.emplace_back(new std::vector<int>(static_cast<std::size_t>(k)));
    if (k % 3 == 0) m.erase(k / 2);
  }
  std::size_t total = 0;
  for (auto &kv : m) total += kv.second.size();
  CHECK(total > 0 && v.size() == 1000);
  owned(v.data());

  // Failure paths.
  CHECK(::operator new(huge, std::nothrow) == nullptr);
  CHECK(::operator new[](huge, std::nothrow) == nullptr);
  bool thrown = false;
  try {
    void *p = ::operator new(huge);
    (void)p;
  } catch (const std::bad_alloc &) {
    thrown = true;
  }
  CHECK(thrown);
  std::set_new_handler(handler_then_give_up);
  thrown = false;
  try {
    void *p = ::operator new[](huge, std::align_val_t(256));
    (void)p;
  } catch (const std::bad_alloc &) {
    thrown = true;
  }
  CHECK(thrown && handler_calls == 1);

  std::puts("cxx_new ok");
  return 0;
}
