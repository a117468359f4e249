/* C++ operator new/delete for libhakmem_malloc.so, written in C with the
 * Itanium-ABI (LP64) mangled names so the library does not depend on
 * libstdc++: a C program preloading it must not pull in the C++ runtime.
 *
 * Why bother, since libstdc++'s operators call malloc/free anyway: that
 * route is new@plt -> libstdc++ -> malloc@plt -> malloc -> hk_malloc (and one
 * hop more for sized delete). A new/delete pair of 32 bytes measured about
 * 11 ns that way against 7 ns with the operators here (docs/override.md).
 *
 * Failure follows the standard where it can without C++: the new_handler
 * loop and std::bad_alloc come from libstdc++ through weak references
 * (resolved when the process has libstdc++, which every program calling
 * these operators through libstdc++'s ABI does). Without them a failed
 * throwing new prints a message and aborts. The nothrow forms return NULL at
 * once and do not consult the new_handler: a handler that throws would have
 * to be caught here, which C cannot do.
 *
 * Compiled with -fexceptions: a handler or std::__throw_bad_alloc throws
 * through these frames. */
#define _GNU_SOURCE
#include <hakmem/hakmem.h>

#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#define OVR_API __attribute__((visibility("default")))

typedef void (*ovr_new_handler_t)(void);

/* std::get_new_handler() and std::__throw_bad_alloc() (libstdc++). */
extern ovr_new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

__attribute__((cold, noinline)) static void *new_failed(size_t size, size_t align) {
  for (;;) {
    ovr_new_handler_t h = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
    if (h == NULL) break;
    h(); /* frees memory, throws, or aborts */
    void *p = align ? hk_aligned_alloc(align, size) : hk_malloc(size);
    if (p != NULL) return p;
  }
  if (_ZSt17__throw_bad_allocv) _ZSt17__throw_bad_allocv();
  static const char msg[] = "hakmem: operator new: out of memory and no std::bad_alloc\n";
  ssize_t r = write(2, msg, sizeof msg - 1);
  (void)r;
  abort();
}

static inline void *new_throw(size_t size) {
  void *p = hk_malloc(size);
  return __builtin_expect(p != NULL, 1) ? p : new_failed(size, 0);
}

static inline void *new_throw_aligned(size_t size, size_t align) {
  void *p = hk_aligned_alloc(align, size);
  return __builtin_expect(p != NULL, 1) ? p : new_failed(size, align);
}

/* Declarations keep -Wmissing-prototypes quiet; the names are the ABI. */
void *_Znwm(size_t);
void *_Znam(size_t);
void *_ZnwmRKSt9nothrow_t(size_t, const void *);
void *_ZnamRKSt9nothrow_t(size_t, const void *);
void *_ZnwmSt11align_val_t(size_t, size_t);
void *_ZnamSt11align_val_t(size_t, size_t);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t, size_t, const void *);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t, size_t, const void *);
void _ZdlPv(void *);
void _ZdaPv(void *);
void _ZdlPvm(void *, size_t);
void _ZdaPvm(void *, size_t);
void _ZdlPvRKSt9nothrow_t(void *, const void *);
void _ZdaPvRKSt9nothrow_t(void *, const void *);
void _ZdlPvSt11align_val_t(void *, size_t);
void _ZdaPvSt11align_val_t(void *, size_t);
void _ZdlPvmSt11align_val_t(void *, size_t, size_t);
void _ZdaPvmSt11align_val_t(void *, size_t, size_t);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *, size_t, const void *);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *, size_t, const void *);

/* new / new[] */
OVR_API void *_Znwm(size_t n) { return new_throw(n); }
OVR_API void *_Znam(size_t n) { return new_throw(n); }
OVR_API void *_ZnwmRKSt9nothrow_t(size_t n, const void *t) { (void)t; return hk_malloc(n); }
OVR_API void *_ZnamRKSt9nothrow_t(size_t n, const void *t) { (void)t; return hk_malloc(n); }

/* C++17 aligned new: the alignment is a power of two (the language ensures
 * it); above HK_MAX_ALIGN the allocation fails like any other. */
OVR_API void *_ZnwmSt11align_val_t(size_t n, size_t a) { return new_throw_aligned(n, a); }
OVR_API void *_ZnamSt11align_val_t(size_t n, size_t a) { return new_throw_aligned(n, a); }
OVR_API void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t) {
  (void)t;
  return hk_aligned_alloc(a, n);
}
OVR_API void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t) {
  (void)t;
  return hk_aligned_alloc(a, n);
}

/* delete / delete[]: every form is hk_free (sizes and alignments are known
 * to the allocator already). */
OVR_API void _ZdlPv(void *p) { hk_free(p); }
OVR_API void _ZdaPv(void *p) { hk_free(p); }
OVR_API void _ZdlPvm(void *p, size_t n) { (void)n; hk_free(p); }
OVR_API void _ZdaPvm(void *p, size_t n) { (void)n; hk_free(p); }
OVR_API void _ZdlPvRKSt9nothrow_t(void *p, const void *t) { (void)t; hk_free(p); }
OVR_API void _ZdaPvRKSt9nothrow_t(void *p, const void *t) { (void)t; hk_free(p); }
OVR_API void _ZdlPvSt11align_val_t(void *p, size_t a) { (void)a; hk_free(p); }
OVR_API void _ZdaPvSt11align_val_t(void *p, size_t a) { (void)a; hk_free(p); }
OVR_API void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; (void)a; hk_free(p); }
OVR_API void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; (void)a; hk_free(p); }
OVR_API void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t) {
  (void)a;
  (void)t;
  hk_free(p);
}
OVR_API void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t) {
  (void)a;
  (void)t;
  hk_free(p);
}
