// The installed header used from C++: names must link unmangled.
#include <hakmem/hakmem.h>

#include <cstring>

int main() {
  void *p = hk_malloc(32);
  bool ok = p != nullptr && std::strcmp(hk_version(), HK_VERSION_STRING) == 0;
  hk_free(p);
  return ok ? 0 : 1;
}
